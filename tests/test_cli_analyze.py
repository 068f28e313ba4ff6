"""``exmy analyze multiplier``: the error statistics and the paper comparison table, and exit
code 2 with a one-line error on bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from exmy.cli.main import main
from exmy.golden.stats import compare_methods, distribution_error, sample


def _run(capsys, *argv):
    rc = main(["analyze", "multiplier", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _row(out: str, *first: str) -> list[str]:
    """Cells of the markdown table row whose leading cells are ``first``."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[: len(first)] == list(first):
            return cells
    raise AssertionError(f"no row {first} in:\n{out}")


def test_format_all_methods_both_measures(capsys):
    rc, out, err = _run(capsys, "--a", "e4m3fn", "--samples", "20000", "--seed", "3")
    assert rc == 0 and err == ""
    assert out.startswith("## e4m3fn: 20000 products of normal samples (seed 3)")
    for meth in ("rne", "lmul", "lmul-formula", "pam"):
        for measure in ("own", "end to end"):
            _row(out, meth, measure)
    # the numbers are golden.stats' on the same samples
    rng = np.random.default_rng(3)
    x, y = sample(rng, 20000), sample(rng, 20000)
    ref = distribution_error("lmul", "e4m3fn", x, y)
    cells = _row(out, "lmul", "own")
    assert cells[2] == f"{100 * ref['multiplier']['mean_rel']:.2f}%"
    assert cells[6] == f"{ref['multiplier']['mean_abs_ulp']:.3f}"
    assert cells[8] == str(ref["multiplier"]["n_flushed"])
    cells = _row(out, "lmul", "end to end")
    assert cells[2] == f"{100 * ref['end_to_end']['mean_rel']:.2f}%"


def test_format_one_method_laplace(capsys):
    rc, out, _ = _run(capsys, "--a", "bfloat16", "--method", "pam", "--samples", "5000",
                      "--dist", "laplace")
    assert rc == 0
    assert "laplace samples" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| pam ")]
    assert len(rows) == 2 and "| rne " not in out
    # RNE on bfloat16 is within half an ulp: its own max ulp error shows 0.500 at most
    rc, out, _ = _run(capsys, "--a", "bfloat16", "--method", "rne", "--samples", "5000")
    assert rc == 0 and float(_row(out, "rne", "own")[7]) <= 0.5


def test_comparison_table(capsys):
    rc, out, err = _run(capsys, "--samples", "20000", "--seed", "5")
    assert rc == 0 and err == ""
    rows = compare_methods(np.random.default_rng(5), 20000)
    for r in rows:
        cells = _row(out, r["label"], r["format"])
        assert cells[2] == f"{100 * r['multiplier']['mean_rel']:.2f}%"
        assert cells[5] == f"{100 * r['end_to_end']['mean_rel']:.2f}%"
        if r["paper"] is not None:
            assert cells[8] == f"{100 * r['paper']:.2f}%"
    # the paper's rows: L-Mul with 3 and 4 mantissa bits, RNE in both fp8 formats
    for label in ("L-Mul M=3 (adder)", "L-Mul M=4 (adder)", "RNE float8_e4m3fn",
                  "RNE float8_e5m2"):
        assert f"| {label} |" in out
    claims = [ln for ln in out.splitlines() if ln.startswith("- ")]
    assert len(claims) == 2
    assert all(re.search(r"M=3 .* vs RNE float8_e5m2 .*M=4 .* vs RNE float8_e4m3fn", c)
               for c in claims)


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--a", "e5m0", "--method", "lmul"],
         "L-Mul input format must have at least 1 mantissa bit, not 0 (e5m0)"),
        (["--a", "e3m0-none", "--method", "pam"], "at least 1 mantissa bit, not 0"),
        (["--a", "int8"], "--a must be a float format, not the integer format int8"),
        (["--a", "e4m3x"], "Unknown format 'e4m3x'"),
        (["--a", "e4m3fn", "--samples", "0"],
             "--samples must be in 1..10,000,000 (every sample is held in memory; "
             "repeat with other --seed values for more), not 0"),
        (["--method", "lmul"], "--method selects a method for --a"),
        (["--samples", "-5"], "--samples must be in 1..10,000,000 (every sample is held in memory; "
             "repeat with other --seed values for more), not -5"),
    ],
)
def test_bad_input_exit_2(capsys, argv, msg):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2
    assert err.startswith("exmy analyze: error: ") and msg in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, msg",
    [(["--method", "booth"], "argument --method: invalid choice: 'booth'"),
     (["--dist", "uniform"], "argument --dist: invalid choice: 'uniform'"),
     (["--samples", "many"], "argument --samples: must be an integer, not 'many'")],
)
def test_bad_choice_is_a_usage_error(capsys, argv, msg):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "multiplier", "--a", "e4m3fn", *argv])
    assert e.value.code == 2
    assert msg in capsys.readouterr().err


def test_unknown_target_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", "adder"])
    assert e.value.code == 2


def test_methods_that_do_not_apply_are_named(capsys):
    """Without --method, a format L-Mul cannot take (M = 0) gets the methods that apply and a
    line per method that does not (it was an error about the L-Mul method nobody asked for)."""
    rc, out, err = _run(capsys, "--a", "e1m0", "--samples", "1000")
    assert rc == 0, err
    assert "| rne | own |" in out
    assert "not applicable: lmul (L-Mul input format must have at least 1 mantissa bit" in out
    assert "| lmul |" not in out


def test_nothing_to_measure_is_a_dash(capsys):
    """Samples far outside the format's range quantize to zero: the own error has nothing to
    measure, shown as '–' and explained (it was nan%)."""
    rc, out, err = _run(capsys, "--a", "e4m3-b-200", "--method", "rne", "--samples", "1000")
    assert rc == 0, err
    assert "nan" not in out
    assert "| rne | own | – | – | – | – |" in out
    assert "– = nothing to measure" in out
