"""scripts/interrupt_probe.py: the developer's check that an interrupted command stops cleanly
(it found the interrupt lost in a ``__del__`` and the YoWASP folders left in TMPDIR)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "interrupt_probe.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def _seconds(cwd: Path, *argv: str) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "exmy.cli.main", *argv], cwd=cwd, capture_output=True,
                   check=True, timeout=300)
    return time.monotonic() - t0


def test_a_command_interrupted_at_random_stops_cleanly(tmp_path):
    """`exmy generate` of an MX block dot product placed for a clock (about 2 s), interrupted
    while the command runs: exit 130, one line, nothing left behind. The window is measured
    here (from the start-up, `exmy generate --help`, to a whole run): a fixed one, 0.5-1.1 s,
    landed in the start-up on a slow machine, where "exmy: interrupted" is the right line."""
    args = ("generate", "mx-dot", "--elem", "e4m3fn", "--target", "ecp5", "--fmax", "100")
    start = _seconds(tmp_path, "generate", "--help")
    whole = _seconds(tmp_path, *args, "-o", str(tmp_path / "mx.v"))
    lo, hi = start + 0.3 * (whole - start), start + 0.7 * (whole - start)
    proc = _run("--runs", "3", "--window", f"{lo:.2f}", f"{hi:.2f}", "--", *args,
                "-o", "@/mx.v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "3 of 3 runs stopped cleanly", proc.stdout
    assert all("exit 130: exmy generate: interrupted" in line for line in lines[:-1]), (
        proc.stdout, start, whole)


@pytest.mark.parametrize("args, message", [
    ((), "give the exmy command to interrupt after --"),
    (("--runs", "0", "--", "formats"), "--runs must be at least 1, not 0"),
    (("--window", "3", "1", "--", "formats"), "--window needs 0 <= LO <= HI, not 3 1"),
])
def test_bad_options_are_one_line(args, message):
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(message), proc.stderr
