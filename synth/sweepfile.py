"""Sweep files (TOML) and sweep descriptions: which points a sweep runs.

A sweep file names targets, seeds and flow options at the top level and one ``[[unit]]``
table per unit, whose ``params`` lists are swept (a table is a generator: ``range`` or
``exmy``); :func:`expand_sweep` turns such a description into points
(:func:`exmy.synth.sweep.normalize_point`'s form) for :func:`exmy.synth.sweep.run_sweep`,
:func:`load_sweep` reads, checks and expands a file, :func:`file_settings` returns the run
settings it sets (``db``, ``jobs``, ``executor``).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tomllib

from . import flow
from .sweep import check_seed, dask_address, jobs_problem, normalize_point

__all__ = ["MAX_POINTS", "SWEEP_KEYS", "UNIT_KEYS", "expand_sweep", "exmy_formats",
           "file_settings", "load_sweep", "read_sweep_file"]

#: Top-level keys of a sweep file.
SWEEP_KEYS = ("db", "jobs", "executor", "targets", "seeds", "dsp", "freq_mhz", "widelut",
              "register_io", "io", "unit")
#: Keys of one ``[[unit]]`` entry; ``targets``, ``seeds``, ``dsp``... override the top level.
UNIT_KEYS = ("name", "params", "targets", "seeds", "dsp", "freq_mhz", "widelut",
             "register_io", "io")

_EXAMPLE = """\
targets = ["ecp5", "ice40"]      # any of: {targets}
seeds = [1]                      # a list or one integer
dsp = false                      # a bool or a list of bools
[[unit]]
name = "multiplier"
params = {{ a = ["e4m3", "e5m2"], latency = 0 }}   # lists are swept
"""


def _check_keys(table: dict, valid: tuple[str, ...], where: str) -> None:
    for k in table:
        if k not in valid:
            raise ValueError(f"Unknown key {k!r} in {where}; valid keys are {', '.join(valid)}")


#: The most points a sweep description may expand to (before points that differ only in
#: options their target ignores collapse into one).
MAX_POINTS = 100_000


def _as_list(value, what: str) -> list:
    return list(value) if isinstance(value, list) else [value]


def _expand_value(name: str, value) -> list | range:
    """A parameter's values: a list is swept, a scalar is fixed, and a table is a generator:
    ``{range = [lo, hi]}`` or ``{range = [lo, hi, step]}`` (integers, inclusive),
    ``{exmy = [lo, hi]}`` (every valid ``eXmY`` float format with lo..hi bits, as names;
    ``special = "none"`` adds a special-value suffix, ``eXmY-none``) and ``{int = [lo, hi]}``
    (``intN`` names). A range is returned as a ``range`` (its length is known before it is
    listed)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return [value]
    gens = ("range", "exmy", "int")
    value = dict(value)
    special = value.pop("special", None) if "exmy" in value else None
    if len(value) != 1 or next(iter(value)) not in gens:
        raise ValueError(f"Parameter {name!r}: a table must have exactly one of the keys "
                         f"{', '.join(gens)}, not {sorted(value)}")
    kind, spec = next(iter(value.items()))
    if (not isinstance(spec, list) or len(spec) not in (2, 3)
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in spec)
            or (kind != "range" and len(spec) != 2)):
        raise ValueError(f"Parameter {name!r}: {kind} must be [lo, hi]"
                         f"{' or [lo, hi, step]' if kind == 'range' else ''} integers, "
                         f"not {spec!r}")
    lo, hi = spec[0], spec[1]
    if kind == "range":
        step = spec[2] if len(spec) == 3 else 1
        if step == 0:
            raise ValueError(f"Parameter {name!r}: the step of range = {spec!r} must be "
                             f"non-zero")
        return range(lo, hi + (1 if step > 0 else -1), step)
    try:
        if kind == "int":
            from exmy.golden.format import MAX_INT_BITS

            if not 1 <= lo <= hi <= MAX_INT_BITS:
                raise ValueError(f"the widths of intN formats must be LO..HI with 1 <= LO <= HI "
                                 f"<= {MAX_INT_BITS}, not {lo}..{hi}")
            return [f"int{n}" for n in range(lo, hi + 1)]
        return exmy_formats(lo, hi, special)
    except ValueError as e:
        raise ValueError(f"Parameter {name!r}: {kind} = {spec!r}: {e}") from None


def exmy_formats(lo: int, hi: int, special: str | None = None) -> list[str]:
    """Names of every valid signed ``eXmY`` float format with ``lo``..``hi`` bits in all, by
    width then exponent width: ``eXmY`` (the grammar's default special values, so formats that
    need ``none`` are skipped) or ``eXmY-<special>``."""
    from exmy.golden.format import MAX_EXP_BITS, MAX_MAN_BITS, SPECIALS, parse_format

    if special is not None and special not in SPECIALS:
        raise ValueError(f"exmy special must be one of {', '.join(SPECIALS)}, not {special!r}")
    top = 1 + MAX_EXP_BITS + MAX_MAN_BITS
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"Bit counts of eXmY formats must be integers, not {v!r}")
    if not 2 <= lo <= hi <= top:
        raise ValueError(f"the bit range of eXmY formats must be LO..HI with 2 <= LO <= HI <= "
                         f"{top} (a sign, 1 to {MAX_EXP_BITS} exponent and 0 to {MAX_MAN_BITS} "
                         f"mantissa bits), not {lo}..{hi}")
    suffix = f"-{special}" if special else ""
    out = []
    for bits in range(lo, hi + 1):
        for e in range(max(1, bits - 1 - MAX_MAN_BITS), min(bits - 1, MAX_EXP_BITS) + 1):
            name = f"e{e}m{bits - 1 - e}{suffix}"
            try:
                parse_format(name)
            except ValueError:
                continue
            out.append(name)
    return out


def _same_design(point: dict) -> dict:
    """``point`` with every format-valued parameter by its catalog name (``float8_e4m3`` and
    ``e4m3`` are one format): equal for two points that build the same design."""
    from exmy.golden.format import parse_format

    params = {}
    for k, v in point["params"].items():
        if isinstance(v, str):
            try:
                v = "format:" + str(parse_format(v))
            except (TypeError, ValueError):
                pass
        params[k] = v
    return {**point, "params": params}


def _resolve_refs(params: dict, where: str) -> dict:
    """Replace a string value ``"$name"`` by the value of parameter ``name`` of the same point
    (``out = "$a"``: the output format follows the swept operand format)."""
    out = dict(params)
    for k, v in params.items():
        if isinstance(v, str) and v.startswith("$"):
            ref = v[1:]
            if ref not in params or ref == k:
                raise ValueError(f"Parameter {k!r} of {where} refers to {v!r}, but the point "
                                 f"has no other parameter {ref!r}; parameters are "
                                 f"{', '.join(sorted(params))}")
            target = params[ref]
            if isinstance(target, str) and target.startswith("$"):
                raise ValueError(f"Parameter {k!r} of {where} refers to {v!r}, which is itself "
                                 f"a reference ({target!r}); refer to a parameter with a value")
            out[k] = target
    return out


def expand_sweep(spec: dict) -> list[dict]:
    """Expand a sweep description (the parsed TOML) into points, validating its schema: an
    unknown key raises ``ValueError`` naming it and the valid keys. A description of more than
    :data:`MAX_POINTS` points raises ``ValueError`` saying how many, counted before any point
    is built."""
    if not isinstance(spec, dict):
        raise TypeError(f"Sweep description must be a table, not {spec!r}")
    _check_keys(spec, SWEEP_KEYS, "the sweep file")
    units = spec.get("unit")
    if not units:
        raise ValueError("Sweep file has no [[unit]] entries; for example:\n"
                         + _EXAMPLE.format(targets=", ".join(flow.TARGETS)))
    if not isinstance(units, list):
        raise ValueError("'unit' must be an array of tables ([[unit]])")
    points = []
    seen = set()
    total = 0  # points the entries make, counted before any is built
    for i, u in enumerate(units):
        if not isinstance(u, dict):
            raise ValueError(f"[[unit]] entry {i + 1} must be a table, not {u!r}")
        _check_keys(u, UNIT_KEYS, f"[[unit]] entry {i + 1}")
        if "name" not in u:
            raise ValueError(f"[[unit]] entry {i + 1} has no 'name'")
        merged = {k: u.get(k, spec.get(k)) for k in ("targets", "seeds", "dsp", "freq_mhz",
                                                     "widelut", "register_io", "io")}
        if not merged["targets"]:
            raise ValueError(f"[[unit]] entry {i + 1} ({u['name']}) has no targets; valid "
                             f"targets are {', '.join(flow.TARGETS)}")
        params = u.get("params", {})
        if not isinstance(params, dict):
            raise ValueError(f"'params' of [[unit]] entry {i + 1} must be a table")
        names = sorted(params)
        choices = [_expand_value(n, params[n]) for n in names]
        for n, c in zip(names, choices, strict=True):
            if not c:
                raise ValueError(f"Parameter {n!r} of [[unit]] entry {i + 1} ({u['name']}) is "
                                 f"an empty list: the entry would have no points")
        axes = {k: _as_list(merged[k], k) for k in merged if merged[k] is not None}
        for k, v in axes.items():
            if not v:
                raise ValueError(f"{k!r} of [[unit]] entry {i + 1} ({u['name']}) is an empty "
                                 f"list: the entry would have no points")
        for sd in axes.get("seeds", []):
            try:
                check_seed(sd)
            except (TypeError, ValueError) as e:
                raise type(e)(f"'seeds' of [[unit]] entry {i + 1} ({u['name']}): {e}") from None
        axes["target"] = axes.pop("targets")
        if "seeds" in axes:
            axes["seed"] = axes.pop("seeds")
        akeys = sorted(axes)
        total += math.prod(map(len, choices)) * math.prod(len(axes[k]) for k in akeys)
        if total > MAX_POINTS:
            more = " or more" if i + 1 < len(units) else ""
            raise ValueError(f"The sweep would make {total:,} points{more} (counted up to "
                             f"[[unit]] entry {i + 1}, {u['name']}); a sweep may have at most "
                             f"{MAX_POINTS:,}: narrow its ranges or split it")
        for combo in itertools.product(*choices):
            for flow_combo in itertools.product(*(axes[k] for k in akeys)):
                pt = {"unit": u["name"], "params": _resolve_refs(
                    dict(zip(names, combo, strict=True)), f"[[unit]] entry {i + 1}")}
                pt.update(zip(akeys, flow_combo, strict=True))
                pt = normalize_point(pt)
                blob = json.dumps(_same_design(pt), sort_keys=True, default=str)
                # options a target ignores, and two spellings of one format, collapse into
                # one point (the first spelling is kept: its point key is unchanged)
                if blob not in seen:
                    seen.add(blob)
                    points.append(pt)
    return points


def read_sweep_file(path: str | os.PathLike) -> dict:
    """The parsed TOML of the sweep file at ``path``; ``ValueError`` naming the file when it is
    not UTF-8 text or not valid TOML."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Sweep file must be a file name (a str or a path), not {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"Sweep file {path} is a folder; give a TOML file")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except UnicodeDecodeError as e:
            raise ValueError(f"Sweep file {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} "
                             f"at offset {e.start}); save it as UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"Sweep file {path} is not valid TOML: {e}") from None




def file_settings(spec: dict, overridden: tuple[str, ...] = ()) -> dict:
    """The run settings a sweep file sets, checked (ValueError): ``{"db", "jobs",
    "executor"}``, each None when the file does not set it or the run ``overridden`` it (the
    command line's ``--db``, ``-j``, ``--executor``: the file's value is not used, and not
    checked). A file that lists its points is one that runs, so these are checked before any
    point is."""
    db, jobs, executor = (None if k in overridden else spec.get(k)
                          for k in ("db", "jobs", "executor"))
    if db is not None and not (isinstance(db, str) and db.strip()):
        raise ValueError(f"'db' in the sweep file must be a file name (a string), not {db!r}")
    if jobs is not None and (why := jobs_problem(jobs, "'jobs' in the sweep file")):
        raise ValueError(why)
    if executor is not None:
        dask_address(executor)  # a malformed address fails now, not after the points
    return {"db": db, "jobs": jobs, "executor": executor}


def load_sweep(path: str | os.PathLike) -> dict:
    """Read a sweep TOML file: ``{"points": [...], "db", "jobs", "executor"}`` (the last three
    ``None`` when the file does not set them; checked as ``exmy sweep`` checks them)."""
    spec = read_sweep_file(path)
    try:
        settings = file_settings(spec)
    except ValueError as e:
        raise ValueError(f"Sweep file {path}: {e}") from None
    return {"points": expand_sweep(spec), **settings}
