"""The benchmark scripts' error contract (benchmarks/_report.py): a bad argument is one clear
line and exit status 2 (argparse) or 1, before any synthesis, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

CASES = [
    ("fmax.py", ["--sweep-points", "1"], "--sweep-points must be 2 or more"),
    ("fmax.py", ["--families", "xilinx"], "unknown family 'xilinx'"),
    ("fmax.py", ["--sweep-rows", "nope"], "unknown row 'nope'"),
    ("fmax.py", ["--seeds", "1,x"], "--seeds must be integers or ranges such as 1-3, not 'x'"),
    ("loop_scale.py", ["--seeds=-1"], "--seeds must be integers or ranges such as 1-3, not '-1'"),
    ("mx_dot_cost.py", ["--rows", "nope"], "unknown row 'nope'; rows are e4m3"),
    ("calibrate_delay.py", ["--seeds", ""], "--seeds names no seed"),
    ("calibrate_dsp.py", ["-j", "0"], "-j/--jobs: must be a positive integer, not '0'"),
    ("star_vs_tree.py", ["--seeds", "2-1"], "--seeds must be a range LO-HI (LO <= HI), not '2-1'"),
    ("lmul_error.py", ["--n", "0"], "--n: must be a positive integer, not '0'"),
    ("approx_fma_error.py", ["--n", "-2"], "--n: must be a positive integer, not '-2'"),
    ("sim_throughput.py", ["--repeat", "0"], "--repeat: must be a positive integer"),
    ("fma_placement.py", ["--formats", "e4m3,nope"], "Unknown format 'nope'"),
    ("mac_as_fma.py", ["--vectors", "0"], "--vectors: must be a positive integer, not '0'"),
    ("evaluate_speed.py", ["foo=bar", "--sentences", "3"],
     "configuration key 'foo=bar' lacks w, a, scaling, product, acc"),
]


@pytest.mark.parametrize("script, args, message", CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}" for c in CASES])
def test_bad_argument_is_one_line(script, args, message, tmp_path):
    out = ["--out", str(tmp_path / "out.md"), "--db", str(tmp_path / "db.sqlite")] if (
        script in ("fmax.py", "loop_scale.py", "mx_dot_cost.py", "calibrate_dsp.py",
                   "star_vs_tree.py")) else []
    r = subprocess.run([sys.executable, str(BENCH / script), *args, *out],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode in (1, 2), r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr.strip().splitlines()[-1], r.stderr
    assert not (tmp_path / "db.sqlite").exists()  # refused before the sweep opened it


SCRIPTS = sorted(p for p in [*BENCH.glob("*.py"), *(BENCH.parent / "scripts").glob("*.py")]
                 if not p.name.startswith("_"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[f"{p.parent.name}/{p.name}" for p in SCRIPTS])
def test_every_script_answers_help(path, tmp_path):
    """Every benchmark and script says how to run it: ``--help`` exits 0 with its usage.
    (model_forms.py's help had a bare ``%`` that argparse read as a format: an error instead
    of the help; make_reference_embeddings.py, which needs a venv of its own, answered every
    run in exmy's with a traceback.)"""
    r = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and "Traceback" not in r.stderr, (r.stdout, r.stderr)


def test_reference_embeddings_script_outside_its_venv_is_one_line(tmp_path):
    """Run in exmy's venv (no torch, no sentence-transformers) the script says what is missing
    and where it runs, in one line."""
    import importlib.util

    # (with them installed the script would run and rewrite the committed embeddings)
    assert importlib.util.find_spec("torch") is None, "exmy's venv must stay without torch"
    r = subprocess.run([sys.executable, str(BENCH.parent / "scripts" /
                                            "make_reference_embeddings.py")],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    line, = r.stderr.strip().splitlines()
    assert "is not installed here" in line and "--help" in line, line
