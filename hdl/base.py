"""What every exmy unit component shares: parameters, port formats, latency, naming."""

from __future__ import annotations

from amaranth.lib import wiring

from exmy.golden.format import FloatFormat, IntFormat, parse_format

__all__ = ["Unit", "fmt_arg"]


def fmt_arg(value, what: str, *, kind=None, optional=False):
    """Parse a format argument (name or object); ``kind`` restricts to FloatFormat/IntFormat."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{what} format is required")
    if not isinstance(value, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{what} format must be a format name or object, not {value!r}")
    fmt = parse_format(value)
    if kind is FloatFormat and not isinstance(fmt, FloatFormat):
        raise ValueError(f"{what} format must be a float format, not {fmt}")
    if kind is IntFormat and not isinstance(fmt, IntFormat):
        raise ValueError(f"{what} format must be an integer format, not {fmt}")
    return fmt


class Unit(wiring.Component):
    """Base of the exmy units.

    Subclasses set ``unit`` (the CLI name), fill ``self.params`` (JSON-able, canonical, in a
    fixed order: they name the Verilog module and key the synthesis cache) and
    ``self.port_formats`` (port -> format) before calling ``super().__init__(ports)``.
    """

    unit: str = "unit"
    latency: int = 0

    @property
    def module_name(self) -> str:
        parts = [self.unit.replace("-", "_")]
        for k, v in self.params.items():
            if v is None or v is False:
                continue
            if k in ("a", "b", "c", "out", "acc_format"):
                parts.append(str(v).replace("-", "_"))
            elif k == "rounding":
                if v != "rne":
                    parts.append(str(v))
            elif k == "rand_bits":
                parts.append(f"r{v}")
            elif v is True:
                parts.append({"saturate": "sat"}.get(k, k.replace("_", "")))
            elif k == "latency":
                parts.append(f"l{v}")
            else:
                parts.append(f"{k.replace('_', '')}{v}")
        name = "_".join(parts)
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    @property
    def has_clock(self) -> bool:
        return self.latency > 0
