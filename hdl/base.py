"""What every exmy unit component shares: parameters, port formats, latency, naming."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

__all__ = ["Unit", "UnitInfo", "unit_builder"]


@dataclass(frozen=True)
class UnitInfo:
    """One row of the unit table (``exmy.hdl.units.UNIT_TABLE``): CLI name, the builder
    ``fn(**options) -> Unit``, the options it takes, a one-line summary."""

    name: str
    build: Callable[..., Unit]
    options: tuple[str, ...]
    summary: str


def unit_builder(name: str, options: tuple[str, ...], summary: str):
    """Decorator: mark ``fn(**options) -> Unit`` as the builder of unit ``name`` (its
    ``unit_info``). Nothing is registered: ``exmy.hdl.units.UNIT_TABLE`` lists every builder."""

    def deco(fn):
        fn.unit_info = UnitInfo(name, fn, tuple(options), summary)
        return fn

    return deco


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
