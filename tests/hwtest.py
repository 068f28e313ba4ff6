"""Helpers shared by the test files: simulator availability, check results, messages as
regular expressions, and the one-line CLI error."""

from __future__ import annotations

import os
import re

import pytest

from exmy.sim import have_simulator

__all__ = ["need", "need_synth_tools", "assert_ok", "esc", "cli_error"]


def need(simulator: str) -> None:
    """Skip (naming the tool) when a simulator is missing, except in CI (``CI`` set), where it
    fails: the set-up provides every tool there."""
    if simulator != "amaranth" and not have_simulator(simulator):
        msg = f"simulator {simulator!r} is not installed (run `make setup`)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def need_synth_tools(keys=None, then=None) -> None:
    """Warm the synthesis tools ``keys`` (default: every one) once, serially (YoWASP compiles
    WebAssembly on first use), then call ``then``; skip naming a missing tool, except in CI
    (``CI`` set), where nothing may skip."""
    from exmy.synth.tools import ToolNotFoundError, warm_up

    try:
        warm_up(keys)
        if then is not None:
            then()
    except ToolNotFoundError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))


def assert_ok(res) -> None:
    """Fail with the check's summary and every mismatch line (hex, decoded, parameter point)."""
    assert res.ok, "\n".join([res.summary()] + res.mismatches)


def assert_acc_stream(comp, inputs: dict, expected: dict, build_dir, label: str) -> None:
    """Run a MAC's input stream on Icarus and Verilator and compare its ``acc`` with
    ``expected`` (the golden model's, cycle by cycle); ``label`` names the point in the
    mismatch lines."""
    from exmy.hdl.verilog import port_table, to_verilog
    from exmy.sim import compare, run_vectors

    text = to_verilog(comp, comp.module_name)
    ports = port_table(comp, text)
    for simulator in ("icarus", "verilator"):
        got = run_vectors(text, comp.module_name, ports, inputs, ["acc"], comp.latency,
                          simulator, build_dir / re.sub(r"\W+", "_", f"{simulator}_{label}"))
        where = f"{comp.module_name} ({label}) on {simulator}"
        lines = compare(got, expected, describe=lambda i, w=where: f"[{w}] cycle {i}")
        assert not lines, "\n".join(lines)


def esc(msg: str) -> str:
    """``msg`` as a regular expression that matches it literally."""
    return re.escape(msg)


def cli_error(capsys) -> str:
    """The CLI's error output so far: exactly one non-empty line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


def no_room_to_write() -> None:
    """``preexec_fn`` for a command that finds the disk full: a file-size limit of 0 bytes
    (every write that would grow a file fails, as on a full disk; SIGXFSZ ignored so that the
    write returns an error instead of killing the process)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
