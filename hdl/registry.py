"""The unit registry: CLI unit name -> hardware component builder, with one options
vocabulary shared by ``exmy generate``, ``exmy simulate``, ``exmy synth`` and sweeps.

Options are CLI-style names with underscores (``a``, ``b``, ``c``, ``out``, ``rounding``,
``rand_bits``, ``saturate``, ``latency``, ...). A unit registers the options it accepts; an
option it does not accept is an error naming the ones it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .base import Unit
from .verilog import port_table, to_verilog

__all__ = ["UnitInfo", "UNITS", "register", "build", "build_verilog", "sidecar", "unit_names"]


@dataclass(frozen=True)
class UnitInfo:
    name: str
    build: Callable[..., Unit]
    options: tuple[str, ...]
    summary: str


UNITS: dict[str, UnitInfo] = {}


def register(name: str, options: tuple[str, ...], summary: str):
    """Decorator: register ``fn(**options) -> Unit`` as the builder of unit ``name``."""

    def deco(fn):
        UNITS[name] = UnitInfo(name, fn, tuple(options), summary)
        return fn

    return deco


def unit_names() -> list[str]:
    """Registered unit names in a fixed order (the order of ``UNIT_MODULES``, then of
    registration), whatever order the unit modules happened to be imported in."""
    _load_units()
    names = list(UNITS)

    def key(n):
        mod = UNITS[n].build.__module__
        rank = UNIT_MODULES.index(mod) if mod in UNIT_MODULES else len(UNIT_MODULES)
        return (rank, names.index(n))

    return sorted(names, key=key)


#: modules whose import registers units (each calls ``register``); later units add a line
UNIT_MODULES = [
    "exmy.hdl.units",
    "exmy.hdl.mac",
    "exmy.hdl.fma",
    "exmy.hdl.lmul",
    "exmy.hdl.dot",
]


def _load_units() -> None:
    import importlib

    for name in UNIT_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise


def build(unit: str, **options) -> Unit:
    """Build the component of ``unit`` from CLI-style options (None means "not given")."""
    _load_units()
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
    extra = getattr(comp, "extra_metadata", None)
    if callable(extra):
        meta.update(extra())
    return meta
