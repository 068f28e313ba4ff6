"""The unit registry: CLI unit name -> hardware component builder, with one options
vocabulary shared by ``exmy generate``, ``exmy simulate``, ``exmy synth`` and sweeps.

Options are CLI-style names with underscores (``a``, ``b``, ``c``, ``out``, ``rounding``,
``rand_bits``, ``saturate``, ``latency``, ...). Each builder declares the options it accepts
(``exmy.hdl.base.unit_builder``); an option it does not accept is an error naming the ones it
does. The table itself is ``exmy.hdl.units.UNIT_TABLE``: explicit, no import side effects.
"""

from __future__ import annotations

from .base import Unit, UnitInfo
from .units import UNIT_TABLE
from .verilog import port_table, to_verilog

__all__ = ["UnitInfo", "UNITS", "build", "build_verilog", "sidecar", "unit_names"]

#: every unit by CLI name, in the order of ``exmy.hdl.units.UNIT_TABLE`` (the one table)
UNITS: dict[str, UnitInfo] = {info.name: info for info in UNIT_TABLE}


def unit_names() -> list[str]:
    """Unit names in the fixed order of ``UNIT_TABLE``."""
    return list(UNITS)


def build(unit: str, **options) -> Unit:
    """Build the component of ``unit`` from CLI-style options (None means "not given")."""
    if not isinstance(unit, str):
        raise TypeError(f"Unit name must be a string, not {unit!r}")
    if unit not in UNITS:
        raise ValueError(f"Unknown unit {unit!r}; units are {', '.join(unit_names())}")
    info = UNITS[unit]
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - set(info.options))
    if extra:
        opts = ", ".join("--" + o.replace("_", "-") for o in extra)
        valid = ", ".join("--" + o.replace("_", "-") for o in info.options)
        raise ValueError(f"Unit {unit!r} does not take {opts}; it takes {valid}")
    return info.build(**given)


def build_verilog(unit: str, params: dict, name: str | None = None) -> tuple[str, str, dict]:
    """``(verilog, top, ports)`` for a unit and its options: what synthesis needs."""
    comp = build(unit, **params)
    top = name or comp.module_name
    text = to_verilog(comp, top)
    return text, top, port_table(comp, text)


def sidecar(comp: Unit, verilog_text: str, top: str) -> dict:
    """Integration metadata written beside generated Verilog (FILE.json)."""
    ports = {}
    for pname, info in port_table(comp, verilog_text).items():
        entry = dict(info)
        fmt = comp.port_formats.get(pname)
        if fmt is not None:
            entry["format"] = getattr(fmt, "catalog_name", None) or fmt.name
        ports[pname] = entry
    meta = {
        "module": top,
        "unit": comp.unit,
        "latency": comp.latency,
        "params": {k: v for k, v in comp.params.items() if v is not None},
        "ports": ports,
    }
    if getattr(comp, "fmax", None) is not None:
        meta["timing"] = comp.plan.report()
    extra = getattr(comp, "extra_metadata", None)
    if callable(extra):
        meta.update(extra())
    return meta
