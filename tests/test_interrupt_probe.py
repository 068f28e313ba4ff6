"""scripts/interrupt_probe.py: the developer's check that an interrupted command stops cleanly
(it found the interrupt lost in a ``__del__`` and the YoWASP folders left in TMPDIR)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "interrupt_probe.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def test_a_command_interrupted_at_random_stops_cleanly():
    """`exmy generate` of an MX block dot product placed for a clock (about 2 s), interrupted
    between 0.5 and 1.1 s after its start: exit 130, one line, nothing left behind."""
    proc = _run("--runs", "3", "--window", "0.5", "1.1", "--", "generate", "mx-dot", "--elem",
                "e4m3fn", "--target", "ecp5", "--fmax", "100", "-o", "@/mx.v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "3 of 3 runs stopped cleanly", proc.stdout
    assert all("exit 130: exmy generate: interrupted" in line for line in lines[:-1]), proc.stdout


@pytest.mark.parametrize("args, message", [
    ((), "give the exmy command to interrupt after --"),
    (("--runs", "0", "--", "formats"), "--runs must be at least 1, not 0"),
    (("--window", "3", "1", "--", "formats"), "--window needs 0 <= LO <= HI, not 3 1"),
])
def test_bad_options_are_one_line(args, message):
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(message), proc.stderr
