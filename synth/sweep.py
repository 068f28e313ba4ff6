"""Sweeps: many synthesis points, run in parallel (local processes or a Dask cluster), results
in the SQLite database (:mod:`exmy.synth.db`), written one transaction per point.

A *point* is ``{"unit", "params", "target", "seed", "dsp", "freq_mhz", "widelut",
"register_io", "io"}`` (all but ``unit`` and ``target`` optional). A picklable
``make_design(point) -> (verilog, top, ports)`` turns it into a design; by default
:func:`default_make_design`, which calls ``exmy.hdl.registry.build_verilog(unit, params)``.

Skipping work that is done, two keys:

``point_key``
    sha256 of the normalised point, the tool versions and a *fingerprint* of the design
    generator's code (for the default generator: the source of ``exmy.hdl`` and
    ``exmy.golden`` plus the Amaranth version). A point whose key is in the database is
    skipped without generating Verilog. Any change to the generator changes every point key, so
    a stale record can never be returned for regenerated hardware.
``flow_key``
    sha256 of the Verilog text and the flow settings (:func:`exmy.synth.flow.flow_key`), the
    records' primary key. A point that misses on its point key is regenerated in a worker;
    if its Verilog and settings match an existing record, the point is linked to that record
    and not synthesized again (so editing a comment in hdl/ costs a Verilog regeneration, not
    a synthesis).

Crash safety: only the parent process writes the database, one transaction per finished
point (WAL mode). A sweep killed with SIGKILL loses at most the points that were running;
rerunning it skips every recorded point and redoes the rest; the primary keys make a duplicate
impossible. A point that fails (a tool error, or ``make_design`` raising) is recorded with
``status="failed"`` and its log, and does not stop the others; reruns skip it unless
``retry_failed=True``.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import inspect
import itertools
import json
import os
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from . import flow
from .db import ResultsDB
from .tools import tool_version

__all__ = [
    "POINT_KEYS",
    "SWEEP_KEYS",
    "UNIT_KEYS",
    "default_make_design",
    "design_fingerprint",
    "expand_sweep",
    "exmy_formats",
    "load_sweep",
    "normalize_point",
    "point_key",
    "run_sweep",
]

POINT_KEYS = ("unit", "params", "target", "seed", "dsp", "freq_mhz", "widelut", "register_io",
              "io")
_POINT_DEFAULTS = {"params": {}, "seed": 1, "dsp": False, "freq_mhz": 100.0, "widelut": True,
                   "register_io": True, "io": "auto"}


# --------------------------------------------------------------------------------------------
# Points and their keys
# --------------------------------------------------------------------------------------------

def normalize_point(point: dict) -> dict:
    """Validate a point and return it with defaults filled in and target-irrelevant options
    normalised (see :func:`exmy.synth.flow.flow_settings`)."""
    if not isinstance(point, dict):
        raise TypeError(f"A sweep point must be a dict, not {point!r}")
    unknown = sorted(set(point) - set(POINT_KEYS))
    if unknown:
        raise ValueError(f"Unknown sweep point key {unknown[0]!r}; valid keys are "
                         f"{', '.join(POINT_KEYS)}")
    for req in ("unit", "target"):
        if req not in point:
            raise ValueError(f"Sweep point {point!r} has no {req!r}")
    if not isinstance(point["unit"], str):
        raise TypeError(f"Unit must be a string, not {point['unit']!r}")
    # None means "not given": a normalised point (options its target ignores are None) is
    # accepted again unchanged.
    p = {**_POINT_DEFAULTS, **{k: v for k, v in point.items() if v is not None}}
    if not isinstance(p["params"], dict):
        raise TypeError(f"Point params must be a dict, not {p['params']!r}")
    s = flow.flow_settings(p["target"], dsp=p["dsp"], freq_mhz=p["freq_mhz"], seed=p["seed"],
                           register_io=p["register_io"], widelut=p["widelut"], io=p["io"])
    return {"unit": p["unit"], "params": dict(p["params"]), **s}


def _source_digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.cache
def _package_fingerprint(*packages: str) -> str:
    import importlib
    import importlib.metadata

    h = hashlib.sha256()
    for name in packages:
        mod = importlib.import_module(name)
        for d in getattr(mod, "__path__", []):
            h.update(_source_digest(Path(d).rglob("*.py")).encode())
    h.update(importlib.metadata.version("amaranth").encode())
    return h.hexdigest()


def default_make_design(point: dict) -> tuple[str, str, dict]:
    """``exmy.hdl.registry.build_verilog(point["unit"], point["params"])``, imported lazily."""
    from exmy.hdl.registry import build_verilog

    return build_verilog(point["unit"], point["params"])


default_make_design.fingerprint = lambda: _package_fingerprint("exmy.hdl", "exmy.golden")


def design_fingerprint(make_design: Callable) -> str:
    """A hash of the code behind ``make_design``: its ``fingerprint`` attribute (a string or a
    callable returning one) if it has one, else the source file of the function's module
    (``functools.partial`` arguments included)."""
    fp = getattr(make_design, "fingerprint", None)
    if fp is not None:
        return fp() if callable(fp) else str(fp)
    extra = ""
    fn = make_design
    while isinstance(fn, functools.partial):
        extra += repr(fn.args) + repr(sorted(fn.keywords.items()))
        fn = fn.func
    try:
        src = Path(inspect.getsourcefile(fn)).read_bytes()
    except (TypeError, OSError):
        src = repr(fn).encode()
    return hashlib.sha256(src + extra.encode()).hexdigest()


def point_key(point: dict, fingerprint: str, tool_versions: dict[str, str]) -> str:
    """sha256 of a normalised point, the generator fingerprint, the tool versions and the
    flow version."""
    blob = json.dumps({"point": point, "gen": fingerprint, "tools": tool_versions,
                       "flow": flow.FLOW_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The worker side
# --------------------------------------------------------------------------------------------

_KNOWN: frozenset[str] = frozenset()


def _init_worker(known: frozenset[str]) -> None:
    global _KNOWN
    _KNOWN = known
    # If the sweep's parent is killed (SIGKILL: no cleanup), exit instead of lingering.
    import threading

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _failed_record(point: dict, pkey: str, error: str, log: str, t0: float) -> dict:
    return {
        "flow_key": "gen:" + pkey, "status": "failed", "unit": point["unit"],
        "params": point["params"], "point_key": pkey, "target": point["target"],
        "seed": point["seed"], "dsp_enabled": point["dsp"], "widelut": point["widelut"],
        "freq_mhz": point["freq_mhz"], "register_io": point["register_io"], "error": error,
        "log": log[-8000:], "seconds": round(time.monotonic() - t0, 3),
        "flow_version": flow.FLOW_VERSION,
    }


def _run_point(point: dict, pkey: str, make_design: Callable, known=None) -> dict:
    """Generate and synthesize one point. Returns a record, or ``{"hit": flow_key}`` when an
    identical design was synthesized before."""
    known = _KNOWN if known is None else known
    t0 = time.monotonic()
    try:
        verilog, top, ports = make_design(point)
    except Exception as e:  # noqa: BLE001 - any generator error is this point's failure
        return _failed_record(point, pkey, f"make_design raised {type(e).__name__}: {e}",
                              traceback.format_exc(), t0)
    opts = {k: point[k] for k in ("dsp", "register_io")}
    opts.update({k: point[k] for k in ("seed", "freq_mhz", "widelut", "io")
                 if point[k] is not None})
    try:
        t = flow.TARGETS[point["target"]]
        versions = {k: tool_version(k) for k in flow._tools_for(t)}
        settings = flow.flow_settings(point["target"], **opts)
        key = flow.flow_key(verilog, top, flow._check_ports(ports), settings, versions)
        if key in known:
            return {"hit": key}
        rec = flow.synthesize(verilog, top, ports, point["target"], **opts)
    except (TypeError, ValueError) as e:
        return _failed_record(point, pkey, f"{type(e).__name__}: {e}",
                              traceback.format_exc(), t0)
    rec.update(unit=point["unit"], params=point["params"], point_key=pkey)
    return rec


def _versions_for(targets: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for name in targets:
        t = flow.TARGETS[name]
        out[name] = {k: tool_version(k) for k in flow._tools_for(t)}
    return out


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------

class _Progress:
    def __init__(self, total: int, enabled: bool, stream=None):
        self.total, self.enabled = total, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.done = self.cached = self.failed = 0
        self._last = 0.0
        self._shown = None

    def update(self, *, cached=False, failed=False, final=False) -> None:
        if not final:
            self.done += 1
            self.cached += cached
            self.failed += failed
        if not self.enabled:
            return
        now = time.monotonic()
        state = (self.done, self.cached, self.failed)
        if final and (self.tty or state == self._shown):
            if self.tty:
                print(file=self.stream, flush=True)
            return
        if not (final or self.tty or now - self._last > 10 or self.done == self.total):
            return
        self._last, self._shown = now, state
        width = 30
        filled = width * self.done // max(self.total, 1)
        el = int(now - self.t0)
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"({self.cached} cached, {self.failed} failed) {el // 60:02d}:{el % 60:02d}")
        end = "" if self.tty else "\n"
        print(("\r" if self.tty else "") + line, end=end, file=self.stream, flush=True)


# --------------------------------------------------------------------------------------------
# run_sweep
# --------------------------------------------------------------------------------------------

def run_sweep(points: Iterable[dict], db_path: str | os.PathLike = "exmy-results.sqlite", *,
              jobs: int = 1, executor: str | None = None,
              make_design: Callable[[dict], tuple[str, str, dict]] | None = None,
              progress: bool = True, retry_failed: bool = False) -> dict:
    """Run every point not yet in the database at ``db_path``.

    Parameters
    ----------
    points : iterable of dict
        Sweep points (see the module docstring); duplicates are run once.
    db_path : path
        SQLite results database (created if missing).
    jobs : int
        Local worker processes (``1``: run in this process).
    executor : str, optional
        ``"dask://HOST:PORT"`` (or a scheduler address such as ``"tcp://HOST:PORT"``) to run
        on a ``dask.distributed`` scheduler instead; the workers need the tools installed.
    make_design : callable, optional
        Picklable ``point -> (verilog, top, ports)``; default :func:`default_make_design`.
    progress : bool
        Print a text progress bar to stderr.
    retry_failed : bool
        Rerun points whose record says ``failed``.

    Returns
    -------
    dict
        ``{"records": [record per unique point, in order], "total", "cached", "ran",
        "failed", "seconds"}``.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise TypeError(f"Jobs must be an integer, not {jobs!r}")
    if jobs < 1:
        raise ValueError(f"Jobs must be a positive integer, not {jobs}")
    client = None
    address = None
    if executor is not None:
        if not isinstance(executor, str):
            raise TypeError(f"Executor must be a string 'dask://HOST:PORT', not {executor!r}")
        if executor.startswith("dask://"):
            address = "tcp://" + executor[len("dask://"):]
        elif executor.split("://")[0] in ("tcp", "tls", "inproc", "ucx", "ws", "wss"):
            address = executor  # a scheduler address as Dask prints it
        else:
            raise ValueError(f"Executor must be 'dask://HOST:PORT' (or a Dask scheduler "
                             f"address such as 'tcp://HOST:PORT'), not {executor!r}")
    make_design = make_design or default_make_design
    t0 = time.monotonic()

    norm = []
    seen = set()
    for p in points:
        n = normalize_point(p)
        blob = json.dumps(n, sort_keys=True, default=str)
        if blob not in seen:
            seen.add(blob)
            norm.append(n)

    if address is not None:
        from dask.distributed import Client

        client = Client(address)
    try:
        return _sweep(norm, db_path, jobs, client, make_design, progress, retry_failed, t0)
    finally:
        if client is not None:
            client.close()


def _sweep(norm, db_path, jobs, client, make_design, progress, retry_failed, t0) -> dict:
    targets = sorted({p["target"] for p in norm})
    if client is not None:
        versions = client.submit(_versions_for, targets, pure=False).result()
    else:
        versions = _versions_for(targets)
    fingerprint = design_fingerprint(make_design)
    keys = [point_key(p, fingerprint, versions[p["target"]]) for p in norm]

    results: dict[str, dict] = {}
    todo = []
    bar = _Progress(len(norm), progress)
    with ResultsDB(db_path) as db:
        for p, k in zip(norm, keys, strict=True):
            rec = db.get_point(k)
            if rec is not None and (rec["status"] == "ok" or not retry_failed):
                results[k] = rec
                bar.update(cached=True, failed=rec["status"] != "ok")
            else:
                todo.append((p, k))
        known = frozenset(db.flow_keys(None if not retry_failed else "ok"))
        ran = 0

        def finish(p, k, out):
            nonlocal ran
            if "hit" in out:
                db.link(k, out["hit"])
                rec = db.get(out["hit"])
                results[k] = rec
                bar.update(cached=True, failed=rec["status"] != "ok")
                return
            db.put(out, point_key=k)
            results[k] = db.get(out["flow_key"])  # the stored form: every column present
            ran += 1
            bar.update(failed=out["status"] != "ok")

        if not todo:
            pass
        elif client is not None:
            from dask.distributed import as_completed

            # A list of one: Dask would scatter a bare set element by element.
            known_f = client.scatter([known], broadcast=True)[0]
            futs = {client.submit(_run_point, p, k, make_design, known_f, pure=False): (p, k)
                    for p, k in todo}
            for fut in as_completed(futs):
                p, k = futs[fut]
                finish(p, k, fut.result())
        elif jobs == 1:
            for p, k in todo:
                finish(p, k, _run_point(p, k, make_design, known))
        else:
            with cf.ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                                        initargs=(known,)) as ex:
                futs = {ex.submit(_run_point, p, k, make_design): (p, k) for p, k in todo}
                for fut in cf.as_completed(futs):
                    p, k = futs[fut]
                    finish(p, k, fut.result())
        bar.update(final=True)

    recs = [results[k] for k in keys]
    return {
        "records": recs,
        "total": len(norm),
        "cached": len(norm) - ran,
        "ran": ran,
        "failed": sum(r["status"] != "ok" for r in recs),
        "seconds": round(time.monotonic() - t0, 3),
    }


# --------------------------------------------------------------------------------------------
# Sweep files (TOML)
# --------------------------------------------------------------------------------------------

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


def _as_list(value, what: str) -> list:
    return list(value) if isinstance(value, list) else [value]


def _expand_value(name: str, value) -> list:
    """A parameter's values: a list is swept, a scalar is fixed, and a table is a generator:
    ``{range = [lo, hi]}`` or ``{range = [lo, hi, step]}`` (integers, inclusive),
    ``{exmy = [lo, hi]}`` (every valid ``eXmY`` float format with lo..hi bits, as names;
    ``special = "none"`` adds a special-value suffix, ``eXmY-none``) and ``{int = [lo, hi]}``
    (``intN`` names)."""
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
        return list(range(lo, hi + 1, spec[2] if len(spec) == 3 else 1))
    if kind == "int":
        return [f"int{n}" for n in range(lo, hi + 1)]
    return exmy_formats(lo, hi, special)


def exmy_formats(lo: int, hi: int, special: str | None = None) -> list[str]:
    """Names of every valid signed ``eXmY`` float format with ``lo``..``hi`` bits in all, by
    width then exponent width: ``eXmY`` (the grammar's default special values, so formats that
    need ``none`` are skipped) or ``eXmY-<special>``."""
    from exmy.golden.format import SPECIALS, parse_format

    if special is not None and special not in SPECIALS:
        raise ValueError(f"exmy special must be one of {', '.join(SPECIALS)}, not {special!r}")
    suffix = f"-{special}" if special else ""
    out = []
    for bits in range(lo, hi + 1):
        for e in range(1, bits):
            name = f"e{e}m{bits - 1 - e}{suffix}"
            try:
                parse_format(name)
            except ValueError:
                continue
            out.append(name)
    return out


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
            out[k] = params[ref]
    return out


def expand_sweep(spec: dict) -> list[dict]:
    """Expand a sweep description (the parsed TOML) into points, validating its schema: an
    unknown key raises ``ValueError`` naming it and the valid keys."""
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
        axes = {k: _as_list(merged[k], k) for k in merged if merged[k] is not None}
        axes["target"] = axes.pop("targets")
        if "seeds" in axes:
            axes["seed"] = axes.pop("seeds")
        akeys = sorted(axes)
        for combo in itertools.product(*choices):
            for flow_combo in itertools.product(*(axes[k] for k in akeys)):
                pt = {"unit": u["name"], "params": _resolve_refs(
                    dict(zip(names, combo, strict=True)), f"[[unit]] entry {i + 1}")}
                pt.update(zip(akeys, flow_combo, strict=True))
                pt = normalize_point(pt)
                blob = json.dumps(pt, sort_keys=True, default=str)
                if blob not in seen:  # options a target ignores collapse into one point
                    seen.add(blob)
                    points.append(pt)
    return points


def load_sweep(path: str | os.PathLike) -> dict:
    """Read a sweep TOML file: ``{"points": [...], "db", "jobs", "executor"}`` (the last three
    ``None`` when the file does not set them)."""
    with open(path, "rb") as f:
        try:
            spec = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"Sweep file {path} is not valid TOML: {e}") from None
    points = expand_sweep(spec)
    return {"points": points, "db": spec.get("db"), "jobs": spec.get("jobs"),
            "executor": spec.get("executor")}
