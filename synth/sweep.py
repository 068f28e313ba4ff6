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

Sharing and lost workers: a sweep claims each point in the database before running it
(:meth:`exmy.synth.db.ResultsDB.claim`), so two sweeps on one database split the work instead
of both doing all of it. A point runs as two steps, design then synthesis, whose arguments
carry everything they need (nothing is scattered to or cached on workers): a step lost with its
worker (a killed Dask worker, a crashed local process) is submitted again.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import functools
import hashlib
import inspect
import json
import os
import re
import socket
import sqlite3
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from exmy.golden.params import check_bool, plain_scalar

from . import flow
from .db import HEARTBEAT_SECONDS, DatabaseLocked, ResultsDB
from .tools import resend_if_in_finalizer, tool_version

__all__ = [
    "MAX_JOBS",
    "MAX_SEED",
    "POINT_KEYS",
    "check_seed",
    "check_unit_params",
    "connect_dask",
    "dask_address",
    "default_make_design",
    "design_fingerprint",
    "jobs_problem",
    "max_jobs",
    "normalize_point",
    "point_key",
    "run_sweep",
]

POINT_KEYS = ("unit", "params", "target", "seed", "dsp", "freq_mhz", "widelut", "register_io",
              "io")
_POINT_DEFAULTS = {"params": {}, "seed": 1, "dsp": False, "freq_mhz": 100.0, "widelut": True,
                   "register_io": True, "io": "auto"}
#: The largest placer seed: nextpnr reads ``--seed`` into a C ``int``.
MAX_SEED = flow.MAX_SEED
check_seed = flow.check_seed


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
    bad = next((k for k in p["params"] if not isinstance(k, str)), None)
    if bad is not None:
        raise TypeError(f"Point params must be keyed by option names (strings), not {bad!r}")
    try:  # what the results database stores of the point: a failed point's record too
        json.dumps(p["params"], sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Point params must be JSON data (strings, numbers, bools, lists), "
                        f"not {p['params']!r} ({exc})") from None
    check_seed(p["seed"])  # every target: a seed nextpnr would refuse is a typo everywhere
    if point.get("freq_mhz") is None and p["params"].get("fmax") is not None:
        from exmy.hdl.timing import check_fmax

        try:  # nextpnr aims at the clock of the design (an invalid fmax: the unit says why)
            p["freq_mhz"] = check_fmax(p["params"]["fmax"])
        except (TypeError, ValueError):
            pass
    s = flow.flow_settings(p["target"], dsp=p["dsp"], freq_mhz=p["freq_mhz"], seed=p["seed"],
                           register_io=p["register_io"], widelut=p["widelut"], io=p["io"])
    params = dict(p["params"])
    if params.get("fmax") is not None and params.get("target") is None:
        # fmax mode: the registers are placed by the delay model of the synthesis target
        params["target"] = p["target"]
    if params.get("fmax") is not None and s["dsp"] and params.get("dsp") is None \
            and _takes_dsp(p["unit"], params["target"]):
        # ... for a flow that maps the product to a DSP block, where the unit can be placed
        # for one (exmy.hdl.timing.DelayModel.with_dsp)
        params["dsp"] = True
    return {"unit": p["unit"], "params": params, **s}


def _takes_dsp(unit: str, target) -> bool:
    """Whether ``unit`` can place its registers for a DSP flow on ``target`` (it takes the
    ``dsp`` option and the family's DSP delay is measured)."""
    from exmy.hdl.registry import UNITS
    from exmy.hdl.timing import FAMILIES, delay_model

    return (unit in UNITS and "dsp" in UNITS[unit].options and target in FAMILIES
            and delay_model(target).has_dsp)


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


#: Synthesis settings a user may mistake for unit options (``--param seed=3``): how to give
#: each (the ``exmy sweep`` flag, the sweep file's key).
_FLOW_SETTINGS = {
    "seed": "--seeds (a sweep file: seeds = [...])",
    "seeds": "--seeds (a sweep file: seeds = [...])",
    "dsp": "--dsp (a sweep file: dsp = true)",  # (which also places units with fmax for DSPs)
    "freq": "--freq (a sweep file: freq_mhz = ...)",
    "freq_mhz": "--freq (a sweep file: freq_mhz = ...)",
    "widelut": "--no-widelut (a sweep file: widelut = false)",
    "targets": "--targets (a sweep file: targets = [...])",
}


def check_unit_params(points: Iterable[dict]) -> None:
    """Refuse, before anything runs, a point :func:`default_make_design` would refuse for its
    parameters: ``ValueError`` naming the point (unit, params) and the reason.

    Each distinct unit and parameter set is built once (an Amaranth component, not its
    Verilog: about a millisecond) the way the worker builds it, except in fmax mode, where the
    clock and its family are left out (placing the registers is what takes time, and a clock
    out of reach is a result the sweep records, not a mistake). Not refused here, as before:
    an option the point's unit does not take that another unit does (``--param`` gives every
    unit of a mixed sweep the same options), which fails that point alone when it runs; an
    option no unit takes is a typo and is refused."""
    import warnings

    from exmy.hdl.registry import UNITS, build, unit_names

    taken = {o for info in UNITS.values() for o in info.options}
    seen: set[str] = set()
    for p in points:
        unit, params = p["unit"], p.get("params") or {}
        where = f"Sweep point {unit} {params}"
        if unit not in UNITS:
            raise ValueError(f"Unknown unit {unit!r} in the sweep; units are "
                             f"{', '.join(unit_names())}")
        unknown = sorted(set(params) - taken)
        if "dsp" in params and not (params["dsp"] is True and p.get("dsp")
                                    and params.get("fmax") is not None):
            # (a unit's dsp comes from the point's flow: normalize_point; given by hand it
            # would place the unit for DSPs the flow may not have)
            unknown = ["dsp"] + unknown
        flow_key = next((k for k in unknown if k in _FLOW_SETTINGS), None)
        if flow_key is not None:
            raise ValueError(f"{where}: {flow_key!r} is a synthesis setting, not a unit option; "
                             f"give it as {_FLOW_SETTINGS[flow_key]}")
        if unknown:
            raise ValueError(f"{where}: no unit takes the option {unknown[0]!r}; unit options "
                             f"are {', '.join(sorted(taken))}")
        info = UNITS[unit]
        trial = {k: v for k, v in params.items() if k in info.options and v is not None}
        if trial.get("fmax") is not None and trial.get("latency") is None:
            del trial["fmax"]
            trial.pop("target", None)
            trial.pop("dsp", None)
        blob = json.dumps([unit, trial], sort_keys=True, default=repr)
        if blob in seen:
            continue
        seen.add(blob)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comp = build(unit, **trial)
            comp._MustUse__silence = True  # built to be checked, never elaborated
        except Exception as e:  # noqa: BLE001 - the worker would record it as failed
            why = str(e) if isinstance(e, (TypeError, ValueError)) else f"{type(e).__name__}: {e}"
            raise ValueError(f"{where}: {why}") from None


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

#: True while a local pool worker runs a step, and once it was told to stop one
#: (:func:`_worker_stop` reads them)
_busy = False
_stopping = False


@contextlib.contextmanager
def _step():
    global _busy
    _busy = True
    try:
        yield
    finally:
        _busy = False


def _worker_stop(signum, frame):
    """A local worker's Ctrl-C (it reaches the whole process group) and SIGTERM (how an
    interrupted sweep stops its workers): a step in progress stops by KeyboardInterrupt, so
    that its tool is killed and its temporary folder removed (``exmy.synth.tools.run_tool``),
    and the signals that follow (a Ctrl-C is followed by the sweep's SIGTERM) leave that
    clean-up alone; an idle worker just ends (one waiting for work printed a
    KeyboardInterrupt traceback). One that lands in a ``__del__``, where Python would ignore
    the exception, comes again a moment later instead."""
    global _stopping
    if not _busy:
        os._exit(1)
    if not _stopping and not resend_if_in_finalizer(signum, frame):
        _stopping = True
        raise KeyboardInterrupt


def _init_worker() -> None:
    import signal
    import threading

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # (a background job's stays)
        signal.signal(signal.SIGINT, _worker_stop)
    signal.signal(signal.SIGTERM, _worker_stop)
    # If the sweep's parent is killed (SIGKILL: no cleanup), exit instead of lingering.
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


def _flow_opts(point: dict) -> dict:
    opts = {k: point[k] for k in ("dsp", "register_io")}
    opts.update({k: point[k] for k in ("seed", "freq_mhz", "widelut", "io")
                 if point[k] is not None})
    return opts


def _design(point: dict, pkey: str, make_design: Callable) -> dict:
    with _step():
        return _design_step(point, pkey, make_design)


def _design_step(point: dict, pkey: str, make_design: Callable) -> dict:
    """Worker step 1: generate the design and its flow key. Returns ``{"flow_key", "verilog",
    "top", "ports"}``, or ``{"failed": record}`` when the generator or the flow settings
    refuse the point. Everything a step needs travels in its arguments (no state on workers),
    so a step lost with its worker is simply run again."""
    t0 = time.monotonic()
    try:
        verilog, top, ports = make_design(point)
    except Exception as e:  # noqa: BLE001 - any generator error is this point's failure
        return {"failed": _failed_record(point, pkey, f"make_design raised "
                                         f"{type(e).__name__}: {e}", traceback.format_exc(),
                                         t0)}
    try:
        t = flow.TARGETS[point["target"]]
        versions = {k: tool_version(k) for k in flow._tools_for(t)}
        settings = flow.flow_settings(point["target"], **_flow_opts(point))
        key = flow.flow_key(verilog, top, flow._check_ports(ports), settings, versions)
    except (TypeError, ValueError) as e:
        return {"failed": _failed_record(point, pkey, f"{type(e).__name__}: {e}",
                                         traceback.format_exc(), t0)}
    return {"flow_key": key, "verilog": verilog, "top": top, "ports": ports}


def _synthesize(point: dict, pkey: str, design: dict) -> dict:
    with _step():
        return _synthesize_step(point, pkey, design)


def _synthesize_step(point: dict, pkey: str, design: dict) -> dict:
    """Worker step 2: synthesize the design of step 1; the point's record."""
    t0 = time.monotonic()
    try:
        rec = flow.synthesize(design["verilog"], design["top"], design["ports"],
                              point["target"], **_flow_opts(point))
    except (TypeError, ValueError) as e:
        return _failed_record(point, pkey, f"{type(e).__name__}: {e}", traceback.format_exc(),
                              t0)
    rec.update(unit=point["unit"], params=point["params"], point_key=pkey)
    return rec


def _versions_for(targets: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for name in targets:
        t = flow.TARGETS[name]
        out[name] = {k: tool_version(k) for k in flow._tools_for(t)}
    return out


# --------------------------------------------------------------------------------------------
# Executors: in this process, local processes, Dask
# --------------------------------------------------------------------------------------------

class _Inline:
    """``jobs=1``: each step runs in this process when submitted."""

    cap = 1

    def submit(self, fn, *args):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001 - re-raised by fut.result()
            fut.set_exception(e)
        return fut

    def wait(self, futs, timeout):
        return [f for f in futs if f.done()]

    def lost(self, fut, exc) -> bool:
        return False

    def close(self, wait: bool = True) -> None:
        pass


class _Pool:
    """Local worker processes. A worker that dies (killed, out of memory) breaks the pool:
    the pool is replaced and the lost steps are resubmitted."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.cap = 2 * jobs
        self._new()

    def _new(self):
        self.ex = cf.ProcessPoolExecutor(max_workers=self.jobs, initializer=_init_worker)
        self._pool_of: dict = {}

    def submit(self, fn, *args):
        fut = self.ex.submit(fn, *args)
        self._pool_of[fut] = self.ex
        return fut

    def wait(self, futs, timeout):
        return cf.wait(futs, timeout, cf.FIRST_COMPLETED).done

    def lost(self, fut, exc) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        if not isinstance(exc, BrokenProcessPool):
            return False
        if self._pool_of.pop(fut, None) is self.ex:
            self.ex.shutdown(wait=False, cancel_futures=True)
            self._new()
        return True

    def close(self, wait: bool = True) -> None:
        # (the executor forgets its processes in shutdown)
        workers = list((getattr(self.ex, "_processes", None) or {}).values())
        self.ex.shutdown(wait=wait, cancel_futures=True)
        if not wait:
            # interrupted: stop the steps in progress too. A SIGTERM to the sweep alone (kill,
            # `timeout`, a job scheduler) left its workers synthesizing, and the command, its
            # interrupt reported, waited for them at exit
            for proc in workers:
                proc.terminate()


class _Dask:
    """A ``dask.distributed`` client. Steps lost with a worker (cancelled futures,
    ``KilledWorker`` after the scheduler's own retries) are resubmitted."""

    def __init__(self, client):
        self.client = client
        self.cap = max(4, 2 * sum(client.nthreads().values()))

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futs, timeout):
        from distributed import wait

        try:
            with self.client.as_current():
                return wait(futs, timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return []

    def lost(self, fut, exc) -> bool:
        from distributed.scheduler import KilledWorker

        return (isinstance(exc, (KilledWorker, cf.CancelledError))
                or fut.status in ("cancelled", "lost"))

    def close(self, wait: bool = True) -> None:
        pass  # the client's close (run_sweep) releases whatever is still running


class _Heartbeat(threading.Thread):
    """Refreshes this sweep's claims every :data:`~exmy.synth.db.HEARTBEAT_SECONDS` on its own
    connection, so a long point never looks abandoned to another sweep."""

    def __init__(self, db_path, owner: str):
        super().__init__(daemon=True, name="exmy-sweep-heartbeat")
        self.db_path, self.owner = db_path, owner
        self._stop_event = threading.Event()

    def run(self) -> None:
        db = None
        try:
            while not self._stop_event.wait(HEARTBEAT_SECONDS):
                try:
                    db = db or ResultsDB(self.db_path)
                    db.heartbeat(self.owner)
                except (sqlite3.Error, ValueError):  # locked for long: try again next time
                    pass
        finally:
            if db is not None:
                db.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


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

    def note(self, message: str) -> None:
        """A line for the user (shown even without the bar), below the bar on a terminal."""
        lead = "\n" if self.enabled and self.tty and self._shown is not None else ""
        print(f"{lead}{message}", file=self.stream, flush=True)


# --------------------------------------------------------------------------------------------
# run_sweep
# --------------------------------------------------------------------------------------------

#: The most local worker processes a sweep may ask for (or the CPU count, if larger): more is
#: a typo (``-j 100000``), not a plan. A sweep never starts more workers than it has points
#: to run.
MAX_JOBS = 256


def max_jobs() -> int:
    """The largest ``jobs`` :func:`run_sweep` takes: :data:`MAX_JOBS`, or this machine's CPU
    count if that is larger."""
    return max(MAX_JOBS, os.cpu_count() or 1)


def jobs_problem(jobs, flag: str) -> str | None:
    """Why ``jobs`` (named ``flag`` in the message) is not a number of local worker processes
    :func:`run_sweep` takes, or None."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        return (f"{flag} must be a positive integer (the number of local worker processes; 1 "
                f"runs in this process), not {jobs!r}")
    if jobs > max_jobs():
        return (f"{flag} must be at most {max_jobs()} local worker processes (this machine has "
                f"{os.cpu_count() or 1} CPUs, and a sweep never starts more workers than it has "
                f"points to run), not {jobs:,}")
    return None


#: Seconds to wait for a Dask scheduler to answer before giving up.
DASK_CONNECT_SECONDS = 5
#: How often a step lost with its worker is resubmitted before the point is given up (for this
#: run only: nothing is recorded, so the next run tries again).
MAX_RESUBMITS = 3
_POLL_SECONDS = 1.0


#: schemes of a Dask scheduler address HOST:PORT (``dask://`` is ``tcp://``)
_DASK_SCHEMES = ("tcp", "tls", "ws", "wss")
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")
# distributed's in-process address, usable only in the process that runs the scheduler
_INPROC = re.compile(r"^[^/\s]+/[0-9]+/[0-9]+$")


def dask_address(executor) -> str:
    """The Dask scheduler address ``executor`` names, checked before any connection (a
    half-built ``distributed.Client`` prints a traceback at exit): ``dask://HOST:PORT`` (as
    ``tcp://HOST:PORT``), ``tcp://``, ``tls://``, ``ws://`` or ``wss://HOST:PORT`` (HOST a name,
    an IPv4 address or a bracketed IPv6 address; PORT 1..65535) or an ``inproc://`` address as
    ``distributed`` prints it."""
    if not isinstance(executor, str):
        raise TypeError(f"Executor must be a string 'dask://HOST:PORT', not {executor!r}")
    scheme, sep, rest = executor.partition("://")
    if sep and scheme == "inproc" and _INPROC.match(rest):
        return executor
    m = _HOST_PORT.match(rest) if sep and scheme in ("dask",) + _DASK_SCHEMES else None
    if m is None or not 1 <= int(m[1]) <= 65535:
        raise ValueError(f"Dask scheduler address must be tcp://HOST:PORT as `dask scheduler` "
                         f"prints it (or dask://, tls://, ws://, wss://HOST:PORT; PORT from 1 to "
                         f"65535), not {executor!r}")
    return "tcp://" + rest if scheme == "dask" else executor


def _probe_scheduler(address: str, timeout: float) -> dict:
    """Connect to ``address``, do Dask's handshake and ask for its identity, all within
    ``timeout`` + 1 seconds (``distributed`` bounds only the TCP connection: a server that
    accepts and never answers, an HTTP server, would hang its handshake for ever). Runs its
    own event loop in a thread, so it works whether or not the caller has one running.
    Returns the server's identity; raises ``OSError`` when nothing accepts the connection and
    ``_NotDask`` for anything else."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def probe():
        comm = await connect(address, timeout=timeout,
                             **Security().get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded():
        # connect() gives up on its own (OSError) when nothing accepts within ``timeout``; a
        # deadline one second later can only be a server that accepted and then kept quiet
        try:
            return await asyncio.wait_for(probe(), timeout + 1)
        except TimeoutError:
            raise _NotDask(f"it accepts connections but sent no Dask handshake within "
                           f"{timeout:g} s") from None

    with cf.ThreadPoolExecutor(1, thread_name_prefix="exmy-dask-probe") as pool:
        try:
            ident = pool.submit(asyncio.run, bounded()).result()
        except (_NotDask, OSError):
            raise
        except Exception as e:  # noqa: BLE001 - whatever the server sent, say it in one line
            raise _NotDask(f"it answered, but not in Dask's protocol: {type(e).__name__} "
                           f"reading its reply") from None
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        kind = ident.get("type") if isinstance(ident, dict) else None
        raise _NotDask(f"it is a Dask {kind}, not the scheduler" if isinstance(kind, str)
                       else "it did not say it is a Dask scheduler")
    return ident


class _NotDask(Exception):
    """The server at a scheduler address is not a Dask scheduler (the reason)."""


def connect_dask(address: str, timeout: float = DASK_CONNECT_SECONDS):
    """A ``dask.distributed.Client`` for the scheduler at ``address``; ``ValueError`` naming
    the address when no scheduler answers within ``timeout`` seconds, or what answers is not a
    Dask scheduler (an SSH or HTTP server, a server that accepts and says nothing)."""
    import logging

    from dask.distributed import Client

    hint = ("start one with `dask scheduler` and at least one `dask worker ADDRESS`, then give "
            "the address it prints")
    # The client logs each failed attempt; the error below says it once.
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        if not address.startswith("inproc://"):  # in this process: nothing foreign to meet
            _probe_scheduler(address, timeout)
        return Client(address, timeout=timeout, set_as_default=False)
    except _NotDask as e:
        raise ValueError(f"{address} is not answering as a Dask scheduler ({e}); check the "
                         f"address, or {hint}") from None
    except (OSError, TimeoutError) as e:
        raise ValueError(f"Cannot reach the Dask scheduler at {address} (no answer within "
                         f"{timeout:g} s: {e}); {hint}") from None
    except Exception as e:  # noqa: BLE001 - a client that fails to start: one line, no traceback
        raise ValueError(f"{address} is not answering as a Dask scheduler ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'no message'}); check the "
                         f"address, or {hint}") from None
    finally:
        log.setLevel(level)


def run_sweep(points: Iterable[dict], db_path: str | os.PathLike = "exmy-results.sqlite", *,
              jobs: int = 1, executor: str | None = None,
              make_design: Callable[[dict], tuple[str, str, dict]] | None = None,
              progress: bool = True, retry_failed: bool = False) -> dict:
    """Run every point not yet in the database at ``db_path``.

    A point whose design cannot be made (an unknown format, an option its unit refuses) is
    recorded as failed, alone; :func:`check_unit_params` refuses such points before anything
    runs (``exmy sweep`` calls it first).

    Several sweeps may share one database at the same time (other processes, other hosts on a
    shared file system that supports SQLite locking): each point is claimed in the database
    before it runs, a point another live sweep has claimed is left to it, and its record is
    used when it lands.

    Parameters
    ----------
    points : iterable of dict
        Sweep points (see the module docstring); duplicates are run once.
    db_path : path
        SQLite results database (created if missing; an existing file must be one).
    jobs : int
        Local worker processes (``1``: run in this process), at most :func:`max_jobs`; no
        more are started than there are points to run (after those in the database).
    executor : str, optional
        ``"dask://HOST:PORT"`` (or a scheduler address such as ``"tcp://HOST:PORT"``) to run
        on a ``dask.distributed`` scheduler instead; the workers need the tools installed. A
        worker lost mid-sweep costs only its running points, which are resubmitted.
    make_design : callable, optional
        Picklable ``point -> (verilog, top, ports)``; default :func:`default_make_design`.
    progress : bool
        Print a text progress bar to stderr.
    retry_failed : bool
        Rerun points whose record says ``failed``.

    Returns
    -------
    dict
        ``{"records": [record per unique point, in order, with the point's unit and params],
        "total", "cached", "ran",
        "failed", "resubmitted", "lost", "seconds", "workers"}``: ``workers`` is the number
        of local worker processes that ran (1: this process, 0: none, every point was in the
        database; None with Dask), ``cached`` counts points answered from
        the database (including points another sweep ran meanwhile), ``resubmitted`` the
        steps run again after their worker was lost, ``lost`` the points given up after
        :data:`MAX_RESUBMITS` resubmissions (reported failed, not recorded).
    """
    jobs = plain_scalar(jobs)  # a numpy integer counts as the int it holds
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise TypeError(f"Jobs must be an integer, not {jobs!r}")
    if not isinstance(points, Iterable):
        raise TypeError(f"Sweep points must be a list of point dicts, not {points!r}")
    if jobs < 1:
        raise ValueError(f"Jobs must be a positive integer, not {jobs}")
    if jobs > max_jobs():
        raise ValueError(f"Jobs must be at most {max_jobs()} local worker processes (this machine "
                         f"has {os.cpu_count() or 1} CPUs), not {jobs:,}")
    progress = check_bool(plain_scalar(progress), "progress")
    retry_failed = check_bool(plain_scalar(retry_failed), "retry_failed")
    address = None if executor is None else dask_address(executor)
    if make_design is not None and not callable(make_design):
        raise TypeError(f"make_design must be a function point -> (verilog, top, ports), not "
                        f"{make_design!r}")
    t0 = time.monotonic()

    norm = []
    seen = set()
    for p in points:
        n = normalize_point(p)
        blob = json.dumps(n, sort_keys=True, default=str)
        if blob not in seen:
            seen.add(blob)
            norm.append(n)
    make_design = make_design or default_make_design

    # An unreachable scheduler or a bad database fails here, before any work.
    client = None if address is None else connect_dask(address)
    bar = _Progress(len(norm), progress)
    try:
        with ResultsDB(db_path, on_wait=bar.note) as db:
            return _sweep(norm, db, jobs, client, make_design, bar, retry_failed, t0)
    finally:
        if client is not None:
            client.close()


def _sweep(norm, db, jobs, client, make_design, bar, retry_failed, t0) -> dict:
    targets = sorted({p["target"] for p in norm})
    if client is not None:
        versions = client.submit(_versions_for, targets, pure=False).result()
    else:
        versions = _versions_for(targets)
    fingerprint = design_fingerprint(make_design)
    keys = [point_key(p, fingerprint, versions[p["target"]]) for p in norm]

    results: dict[str, dict] = {}
    pending: collections.deque = collections.deque()
    for p, k in zip(norm, keys, strict=True):
        rec = db.get_point(k)
        if rec is not None and (rec["status"] == "ok" or not retry_failed):
            results[k] = rec
            bar.update(cached=True, failed=rec["status"] != "ok")
        else:
            pending.append((p, k))
    stats = {"ran": 0, "resubmitted": 0, "lost": 0}
    # never more processes than points to run: -j 64 for one point starts none
    workers = None if client is not None else min(jobs, len(pending))
    if pending:
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        ex = (_Dask(client) if client is not None else _Pool(workers) if workers > 1
              else _Inline())
        beat = _Heartbeat(db.path, owner)
        beat.start()
        interrupted = locked = False
        try:
            _run_points(db, ex, pending, owner, make_design, retry_failed, results, bar, stats)
        except DatabaseLocked as e:
            locked = True
            bar.update(final=True)
            raise DatabaseLocked(f"{e}; {stats['ran']} points were synthesized and recorded "
                                 f"this run, the same command resumes") from None
        except KeyboardInterrupt:
            interrupted = True
            bar.update(final=True)
            raise KeyboardInterrupt(
                f"interrupted: {stats['ran']} points synthesized and recorded in {db.path} this "
                f"run, {len(results)} of {len(norm)} done; the same command resumes") from None
        finally:
            beat.stop()
            ex.close(wait=not (interrupted or locked))
            if not locked:  # else our claims go stale when this process ends
                db.release(owner)
    bar.update(final=True)

    # each point's own unit and params: the database keys a record by its design and flow, so
    # a point whose Verilog an earlier point (other params, the same design) synthesized maps
    # to that record, which names the earlier point
    recs = [{**results[k], "unit": p["unit"], "params": p["params"]}
            for p, k in zip(norm, keys, strict=True)]
    return {
        "records": recs,
        "total": len(norm),
        "cached": len(norm) - stats["ran"] - stats["lost"],
        "ran": stats["ran"],
        "failed": sum(r["status"] != "ok" for r in recs),
        "resubmitted": stats["resubmitted"],
        "lost": stats["lost"],
        "seconds": round(time.monotonic() - t0, 3),
        "workers": workers,
    }


def _run_points(db, ex, pending, owner, make_design, retry_failed, results, bar, stats) -> None:
    """Claim, design, synthesize and record ``pending`` points, at most ``ex.cap`` steps in
    flight; points another sweep holds are checked again every second until they land or
    their claim goes stale."""
    inflight: dict = {}  # future -> (fn, args, tries)
    waiting: list = []  # (point, key) claimed by another sweep

    def usable(rec):
        return rec is not None and (rec["status"] == "ok" or not retry_failed)

    def done_from_db(k, rec):
        results[k] = rec
        bar.update(cached=True, failed=rec["status"] != "ok")

    def record(k, rec):
        db.put(rec, point_key=k)
        results[k] = db.get(rec["flow_key"])  # the stored form: every column present
        stats["ran"] += 1
        bar.update(failed=rec["status"] != "ok")

    while pending or inflight or waiting:
        while pending and len(inflight) < ex.cap:
            p, k = pending.popleft()
            state, rec = db.claim(k, owner, retry_failed=retry_failed)
            if state == "done":
                done_from_db(k, rec)
            elif state == "busy":
                waiting.append((p, k))
            else:
                args = (p, k, make_design)
                inflight[ex.submit(_design, *args)] = (_design, args, 0)
        if not inflight:
            if waiting:  # only other sweeps' points are left: wait for them
                time.sleep(_POLL_SECONDS)
                pending.extend(waiting)
                waiting.clear()
            continue
        done = ex.wait(list(inflight), _POLL_SECONDS if waiting else None)
        if waiting and not done:
            pending.extend(waiting)
            waiting.clear()
        for fut in done:
            fn, args, tries = inflight.pop(fut)
            p, k = args[0], args[1]
            try:
                out = fut.result()
            except Exception as e:
                if not ex.lost(fut, e):
                    raise
                if tries >= MAX_RESUBMITS:
                    stats["lost"] += 1
                    results[k] = _db_form(_failed_record(
                        p, k, f"lost with its worker {tries + 1} times ({type(e).__name__}: "
                        f"{e}); not recorded, a rerun tries again", "", time.monotonic()))
                    bar.update(failed=True)
                    continue
                stats["resubmitted"] += 1
                inflight[ex.submit(fn, *args)] = (fn, args, tries + 1)
                continue
            if fn is _synthesize:
                record(k, out)
            elif "failed" in out:
                record(k, out["failed"])
            else:
                rec = db.get(out["flow_key"])
                if usable(rec):  # the same Verilog and flow were synthesized before
                    db.link(k, out["flow_key"])
                    done_from_db(k, rec)
                else:
                    args = (p, k, out)
                    inflight[ex.submit(_synthesize, *args)] = (_synthesize, args, 0)


def _db_form(rec: dict) -> dict:
    """``rec`` with every database column present (as :meth:`ResultsDB.get` returns it)."""
    from .db import COLUMNS

    out = {c: None for c in COLUMNS if c != "extra"}
    out.update(rec)
    return out
