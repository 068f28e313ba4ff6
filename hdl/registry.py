"""The unit registry: CLI unit name -> hardware component builder, with one options
vocabulary shared by ``exmy generate``, ``exmy simulate``, ``exmy synth`` and sweeps.

Options are CLI-style names with underscores (``a``, ``b``, ``c``, ``out``, ``rounding``,
``rand_bits``, ``saturate``, ``latency``, ...). Each builder declares the options it accepts
(``exmy.hdl.base.unit_builder``); an option it does not accept is an error naming the ones it
does. The table itself is ``exmy.hdl.units.UNIT_TABLE``: explicit, no import side effects.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from exmy.golden.params import plain_scalar

from .base import Unit, UnitInfo
from .timing import OutOfReach
from .units import UNIT_TABLE
from .verilog import port_table, to_verilog

__all__ = ["UnitInfo", "UNITS", "build", "build_verilog", "highest_fmax", "sidecar",
           "unit_names"]

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
    given = {k: plain_scalar(v) for k, v in options.items() if v is not None}
    extra = sorted(set(given) - set(info.options))
    if extra:
        opts = ", ".join("--" + o.replace("_", "-") for o in extra)
        valid = ", ".join("--" + o.replace("_", "-") for o in info.options)
        raise ValueError(f"Unit {unit!r} does not take {opts}; it takes {valid}")
    try:
        return info.build(**given)
    except (ValueError, TypeError) as e:
        # the unit refused its options (in the Python API's words; the CLI rewords them)
        e.unit_refusal = True
        if isinstance(e, OutOfReach):
            e.request = (unit, given)  # for highest_fmax (the CLI says which clock would do)
        raise


#: how long ``highest_fmax`` searches by default (s)
SEARCH_SECONDS = 10.0


def highest_fmax(unit: str, options: dict, refused: OutOfReach,
                 seconds: float = SEARCH_SECONDS) -> tuple[int | None, bool]:
    """The highest whole-MHz clock below the refused one that ``unit`` with ``options`` can be
    placed for, and whether the search finished within ``seconds`` (else the clock is one that
    builds, not necessarily the highest); None: none found. A unit's structure can follow its
    clock (a MAC's accumulator chunks, an FMA's product tree), so the refusal's best predicted
    Fmax, that of the unit as built for the refused clock, is where the search starts, not its
    answer: a galloping search from it, then a bisection, each step a build."""
    deadline = time.monotonic() + seconds

    hints: dict[int, float] = {}

    def fits(f: int) -> bool:
        try:
            build(unit, **{**options, "fmax": f})
        except OutOfReach as e:
            hints[f] = e.best  # the best predicted Fmax of the structure built for f
            return False
        return True

    top = min(math.ceil(refused.fmax) - 1, 1000)
    if top < 1:
        return None, True
    start = min(max(int(refused.best), 1), top)
    # lo: a clock that builds (0: none yet); hi: no clock above it was found to build
    lo, hi, step = 0, top, 1
    if fits(start):
        lo = start
        while lo + step <= top and time.monotonic() < deadline:
            if not fits(lo + step):
                hi = lo + step - 1
                break
            lo, step = lo + step, step * 2
    else:
        # down: to the refused structure's own best predicted Fmax when it is lower (a narrower
        # chunk's stages are the limit there), else in doubling steps
        hi, f = start - 1, start
        while hi >= 1 and time.monotonic() < deadline:
            hint = int(hints.get(f, hi))
            f = max(min(hint, hi - step + 1), 1)
            if fits(f):
                lo = f
                break
            hi, step = f - 1, step * 2
    while lo < hi and time.monotonic() < deadline:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo or None, lo == hi or (lo == 0 and hi < 1)


def build_verilog(unit: str, params: dict, name: str | None = None) -> tuple[str, str, dict]:
    """``(verilog, top, ports)`` for a unit and its options: what synthesis needs."""
    if not isinstance(params, Mapping):
        raise TypeError(f"Unit options must be a dict of option names to values, not {params!r}")
    comp = build(unit, **params)
    # an empty name is to_verilog's error, not the default name
    top = comp.module_name if name is None else name
    text = to_verilog(comp, top)
    return text, top, port_table(comp, text)


def sidecar(comp: Unit, verilog_text: str, top: str) -> dict:
    """Integration metadata written beside generated Verilog (FILE.json)."""
    if not isinstance(comp, Unit):
        raise TypeError(f"sidecar() needs an exmy unit (exmy.hdl.registry.build), not {comp!r}")
    if not isinstance(top, str):
        raise TypeError(f"Module name must be a string, not {top!r}")
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
