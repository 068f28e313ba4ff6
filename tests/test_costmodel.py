"""exmy.synth.costmodel: points, the error measures, the LUT fit, Pareto fronts and the report.

Everything here runs on synthetic records (no tools); the real runs are in
tests/test_cli_synth.py (a six-point MAC sweep and its report) and, in the slow tier, the
acceptance sweep (every minifloat with 4..8 bits and INT4..INT8 MACs on ECP5 and iCE40).
"""

from __future__ import annotations

import csv
import math
import os
import time

import numpy as np
import pytest

from exmy.golden.format import parse_format
from exmy.golden.stats import sample, sqnr_db, values
from exmy.synth import costmodel
from exmy.synth.costmodel import (
    MODELS,
    costmodel_points,
    costmodel_rows,
    crossover,
    dot_error,
    fit_luts,
    format_error,
    pareto_front,
    quantize_values,
)
from exmy.synth.report import write_costmodel_report
from exmy.synth.sweepfile import exmy_formats, expand_sweep

# -- sweep-file additions: {exmy, special} and "$param" references ----------------------------

def test_exmy_formats():
    assert exmy_formats(3, 4, "none") == ["e1m1-none", "e2m0-none", "e1m2-none", "e2m1-none",
                                          "e3m0-none"]
    # The grammar's default specials: e1mX (IEEE, no finite normals) is skipped.
    assert exmy_formats(4, 4) == ["e2m1", "e3m0"]
    assert len(exmy_formats(3, 8, "none")) == 2 + 3 + 4 + 5 + 6 + 7
    with pytest.raises(ValueError, match=r"exmy special must be one of ieee, fn, fnuz, none, "
                                         r"not 'nan'"):
        exmy_formats(3, 4, "nan")


def test_sweep_special_and_reference():
    pts = expand_sweep({"targets": ["generic"], "unit": [
        {"name": "mac", "params": {"a": {"exmy": [3, 3], "special": "none"}, "out": "$a"}}]})
    assert [p["params"] for p in pts] == [{"a": "e1m1-none", "out": "e1m1-none"},
                                          {"a": "e2m0-none", "out": "e2m0-none"}]
    with pytest.raises(ValueError, match=r"Parameter 'out' of \[\[unit\]\] entry 1 refers to "
                                         r"'\$b', but the point has no other parameter 'b'"):
        expand_sweep({"targets": ["generic"], "unit": [
            {"name": "mac", "params": {"a": "e4m3", "out": "$b"}}]})
    # a reference to a reference (a cycle among them) is an error, not a format named '$a'
    with pytest.raises(ValueError, match=r"Parameter 'a' of \[\[unit\]\] entry 1 refers to "
                                         r"'\$b', which is itself a reference \('\$a'\)"):
        expand_sweep({"targets": ["generic"], "unit": [
            {"name": "mac", "params": {"a": "$b", "b": "$a"}}]})
    # "special" is only a modifier of exmy, not a generator of its own.
    with pytest.raises(ValueError, match=r"a table must have exactly one of the keys range, "
                                         r"exmy, int"):
        expand_sweep({"targets": ["generic"], "unit": [
            {"name": "mac", "params": {"a": {"int": [3, 4], "special": "none"}}}]})


def test_costmodel_points():
    pts = costmodel_points()
    # 27 minifloats x (acc, +y) + 6 ints, on ecp5 and ice40.
    assert len(pts) == (27 * 2 + 6) * 2
    assert {p["target"] for p in pts} == {"ecp5", "ice40"}
    assert {p["unit"] for p in pts} == {"mac", "int-mac"}
    assert sum(p["params"].get("out") == p["params"]["a"] for p in pts) == 27 * 2
    assert all(not p["dsp"] for p in pts)


# -- error measures ------------------------------------------------------------------------------

def _nearest_in_table(x: np.ndarray, f) -> np.ndarray:
    """The reference: the nearest finite value of ``f`` by searching the table of its
    non-negative values (beyond max_finite saturates). A tie goes to the neighbour that is an
    even multiple of the spacing hi - lo: the even significand, and for M = 0 the upper power of
    two (or zero)."""
    table = values(np.arange(f.max_finite_code + 1, dtype=np.uint64), f)
    a = np.abs(x)
    i = np.clip(np.searchsorted(table, a), 1, len(table) - 1)
    lo, hi = table[i - 1], table[i]
    dlo, dhi = a - lo, hi - a
    odd_lo = np.fmod(lo / (hi - lo), 2.0) == 1.0
    q = np.where((dhi < dlo) | ((dhi == dlo) & odd_lo), hi, lo)
    q = np.where(a >= table[-1], table[-1], np.where(a <= 0, 0.0, q))
    return np.where(x < 0, -q, q)


@pytest.mark.parametrize("fmt", exmy_formats(3, 8, "none") + [
    "e4m3", "e5m2", "e4m3fn", "e2m1fn", "e3m2fn", "e5m2fnuz", "e3m4"])
def test_quantizer_against_a_table_search(fmt):
    f = parse_format(fmt)
    table = values(np.arange(f.max_finite_code + 1, dtype=np.uint64), f)
    mid = (table[1:] + table[:-1]) / 2  # every tie
    x = sample(np.random.default_rng(3), 4096) * float(f.max_finite) / 3
    data = np.concatenate([mid, -mid, x, x * 1e-3, x * 100, table, -table, [0.0]])
    assert np.array_equal(quantize_values(data, f), _nearest_in_table(data, f))
    # A scale is the same quantizer on x / scale.
    assert np.array_equal(quantize_values(data, f, 0.25), _nearest_in_table(data * 4, f) / 4)


def test_int_quantizer():
    x = np.array([-200.0, -128.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 126.5, 127.5, 300.0])
    assert quantize_values(x, "int8").tolist() == [-128, -128, -2, -2, 0, 0, 2, 2, 126, 128 - 1,
                                                   127]
    assert quantize_values(x, "uint4").tolist() == [0, 0, 0, 0, 0, 0, 2, 2, 15, 15, 15]


@pytest.mark.parametrize("fmt", ["e8m0fnu", "uint8"])
def test_format_error_of_unsigned_formats(fmt):
    """An unsigned format keeps no negative number: q(x) = 0 there, so at any scale the
    noise is at least the negative half's energy and the SQNR at most 10 log10(2) = 3.01 dB
    (N(0,1) and Laplace(0,1) are symmetric). e8m0fnu, which has no zero either, was NaN at
    its best scale; its unscaled figure was finite, so the two disagreed."""
    err = format_error(fmt, n=1 << 14)
    for dist in ("normal", "laplace"):
        assert 2.0 < err[f"sqnr_{dist}"] <= 10 * np.log10(2) + 0.1, (fmt, dist, err)
    x = np.array([-1.0, -0.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    want = [0.0, 0.0, 0.0, 0.5, 1.0, 2.0] if fmt == "e8m0fnu" else [0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
    got = quantize_values(x, fmt)
    assert got[:-1].tolist() == want and np.isnan(got[-1]), got


def test_format_error():
    e4 = format_error("e4m3-none")
    assert set(e4) == {f"{k}_{d}{s}" for k in ("sqnr",) for d in ("normal", "laplace")
                       for s in ("", "_unscaled")} | {"scale_normal", "scale_laplace"}
    # The best scale is at least as good as scale 1.
    assert e4["sqnr_normal"] >= e4["sqnr_normal_unscaled"] - 0.05
    x = sample(np.random.default_rng([0, 0]), 1 << 16, "normal")
    assert e4["sqnr_normal_unscaled"] == pytest.approx(sqnr_db("e4m3-none", x))
    i8, i4 = format_error("int8"), format_error("int4")
    assert i8["sqnr_normal_unscaled"] is None
    # ~6 dB per bit for uniform quantizers; Laplace's heavy tail costs integers more.
    assert 18 < i8["sqnr_normal"] - i4["sqnr_normal"] < 24
    assert i8["sqnr_laplace"] < i8["sqnr_normal"] - 3
    # More mantissa, same width: more precision on N(0,1); E1 formats are uniform grids.
    assert format_error("e2m5-none")["sqnr_normal"] > format_error("e5m2-none")["sqnr_normal"]
    assert abs(format_error("e1m6-none")["sqnr_normal"] - i8["sqnr_normal"]) < 0.5
    # Cached and independent of the caller's copy.
    e4["sqnr_normal"] = 0
    assert format_error("e4m3-none")["sqnr_normal"] > 30


def test_dot_error():
    # Two quantized operands: about 3 dB below one operand's SQNR.
    for fmt in ("int8", "e4m3-none", "e2m1fn"):
        d, s = dot_error(fmt, depth=512, dots=64), format_error(fmt)["sqnr_normal"]
        assert s - 5 < d < s - 1, (fmt, d, s)


# -- the fit -------------------------------------------------------------------------------------

def _synthetic_rows(coef, noise=0.0, seed=0, variant="acc", max_bits=8):
    rng = np.random.default_rng(seed)
    rows = []
    for bits in range(3, max_bits + 1):
        rows.append({"kind": "int", "E": 0, "M": bits - 1, "bits": bits,
                     "acc_bits": 2 * bits + 13, "label": f"INT{bits}"})
        for e in range(1, bits):
            m = bits - 1 - e
            rows.append({"kind": "float", "E": e, "M": m, "bits": bits,
                         "acc_bits": 2 ** (e + 1) + 2 * m + 12, "label": f"E{e}M{m}"})
    for r in rows:
        r["lut"] = sum(c * f(r) for c, (_, f) in zip(coef, MODELS[variant], strict=True))
        r["lut"] *= 1 + noise * rng.standard_normal()
    return rows


def test_fit_recovers_exact_model():
    coef = [20.0, 3.0, 2.5, 0.4]
    rows = _synthetic_rows(coef)
    fit = fit_luts(rows, "acc")
    assert [fit.coef[n] for n in fit.features] == pytest.approx(coef, rel=1e-9)
    assert fit.rms < 1e-9 and fit.max_abs_pct < 1e-9 and fit.r2 == pytest.approx(1.0)
    assert fit.n == len(rows) == 33
    assert fit.predict(rows[5]) == pytest.approx(rows[5]["lut"])
    assert fit.formula().startswith("LUT ≈ 20 + 3·(M+1)^2 + 2.5·acc_bits + 0.4·E*acc_bits")


def test_fit_reports_its_error():
    rows = _synthetic_rows([20.0, 3.0, 2.5, 0.4], noise=0.1, seed=1)
    fit = fit_luts(rows, "acc")
    assert 0 < fit.mean_abs_pct < fit.max_abs_pct
    assert 0.8 < fit.r2 < 1
    assert fit.rms == pytest.approx(math.sqrt(np.mean(np.square(fit.residuals))))
    out = fit_luts(_synthetic_rows([5, 3, 2.5, 0.4, 0.5], variant="out"), "out")
    assert out.coef["acc_bits*log2(acc_bits)"] == pytest.approx(0.5)


def test_fit_errors():
    with pytest.raises(ValueError, match=r"Unknown cost model 'lin'; models are acc, out"):
        fit_luts([], "lin")
    with pytest.raises(ValueError, match=r"A fit with 4 coefficients needs at least 4 points, "
                                         r"not 2"):
        fit_luts(_synthetic_rows([1, 1, 1, 1])[:2])


# -- records -> rows -----------------------------------------------------------------------------

def _rec(unit, params, target="ice40", lut=100, fmax=100.0, seed=1, **kw):
    return {"status": "ok", "unit": unit, "params": params, "target": target, "lut": lut,
            "ff": 50, "carry": 10, "widemux": 0, "dsp": 0, "fmax_mhz": fmax,
            "crit_path_ns": 10.0, "dsp_enabled": False, "register_io": True, "widelut": None,
            "seed": seed, "tool_versions": {"yosys": "Yosys 0.70"}, **kw}


def test_costmodel_rows():
    recs = [
        _rec("mac", {"a": "e4m3-none"}, lut=100, seed=1),
        _rec("mac", {"a": "e4m3-none"}, lut=120, seed=2),
        _rec("mac", {"a": "e4m3-none"}, lut=110, seed=3),
        _rec("mac", {"a": "e4m3-none", "out": "e4m3-none"}, lut=300),
        _rec("int-mac", {"a": "int8"}, lut=250),
        _rec("mac", {"a": "e4m3-none"}, lut=999, dsp_enabled=True),         # DSPs: left out
        _rec("mac", {"a": "e4m3-none", "out": "float16"}, lut=999),        # other out
        _rec("mac", {"a": "e4m3-none", "b": "e5m2"}, lut=999),             # mixed formats
        _rec("mac", {"a": "e4m3-none", "latency": 2}, lut=999),            # pipelined
        _rec("mac", {"a": "e4m3-none", "depth": 64}, lut=999),             # rarer depth
        _rec("multiplier", {"a": "e4m3"}, lut=999),                        # other family
        {**_rec("mac", {"a": "e5m2-none"}), "status": "failed"},
    ]
    rows = costmodel_rows(recs)
    # By target, variant, width; integers first.
    assert [(r["label"], r["variant"], r["lut"], r["seeds"]) for r in rows] == [
        ("INT8", "acc", 250, 1), ("E4M3", "acc", 110, 3), ("E4M3", "out", 300, 1)]
    e4 = rows[1]
    assert (e4["E"], e4["M"], e4["bits"], e4["acc_bits"], e4["depth"]) == (4, 3, 8, 49, 4608)
    i8 = rows[0]
    assert (i8["E"], i8["M"], i8["acc_bits"]) == (0, 7, 29)
    # A regenerated design (new Verilog, new record) replaces the old one, seed by seed.
    newer = _rec("int-mac", {"a": "int8"}, lut=260, created="2099-01-01T00:00:00")
    assert [r["lut"] for r in costmodel_rows(recs + [newer]) if r["label"] == "INT8"] == [260]
    mul = costmodel_rows(recs, family="mul")
    assert [(r["label"], r["acc_bits"]) for r in mul] == [("E4M3ieee", 35)]
    # Without MAC records there is no cost model (the multipliers only on request).
    assert costmodel_rows([r for r in recs if r["unit"] == "multiplier"]) == []
    with pytest.raises(ValueError, match=r"^Cost-model family must be one of mac, mul, not "
                       r"'add'"):
        costmodel_rows(recs, family="add")


def test_pareto_and_crossover():
    rows = [
        {"label": "INT4", "kind": "int", "lut": 80, "sqnr_normal": 19.0},
        {"label": "INT8", "kind": "int", "lut": 300, "sqnr_normal": 40.0},
        {"label": "E2M1", "kind": "float", "lut": 70, "sqnr_normal": 19.0},
        {"label": "E4M3", "kind": "float", "lut": 250, "sqnr_normal": 31.0},
        {"label": "E5M2", "kind": "float", "lut": 400, "sqnr_normal": 25.0},
        {"label": "E1M6", "kind": "float", "lut": 320, "sqnr_normal": 40.0},
    ]
    assert [r["label"] for r in pareto_front(rows)] == ["E2M1", "E4M3", "INT8"]
    c = crossover(rows)
    assert c["front"] == ["E2M1", "E4M3", "INT8"]
    assert c["front_ints"] == ["INT8"] and c["front_floats"] == ["E2M1", "E4M3"]
    i4, i8 = c["per_int"]
    assert (i4["match"], i4["lut_ratio"], i4["rival"]) == ("E2M1", 70 / 80, "E2M1")
    assert (i8["match"], i8["rival"], i8["sqnr_gain"]) == ("E1M6", "E4M3", -9.0)


def test_report_on_synthetic_records(tmp_path):
    recs = []
    for r in _synthetic_rows([20.0, 3.0, 2.5, 0.4], noise=0.05, max_bits=6):
        unit = "int-mac" if r["kind"] == "int" else "mac"
        fmt = f"int{r['bits']}" if r["kind"] == "int" else f"e{r['E']}m{r['M']}-none"
        for target in ("ecp5", "ice40"):
            recs.append(_rec(unit, {"a": fmt}, target, lut=round(r["lut"]), fmax=200 - r["lut"]))
            if unit == "mac":
                recs.append(_rec(unit, {"a": fmt, "out": fmt}, target, lut=round(2 * r["lut"])))
    t0 = time.monotonic()
    res = write_costmodel_report(recs, tmp_path)
    assert time.monotonic() - t0 < 60
    names = {os.path.basename(p) for p in res["tables"] + res["plots"]}
    assert names == {"costmodel_points.csv", "costmodel_by_bits.csv", "costmodel_fit.csv",
                     "costmodel_pareto.csv", "costmodel_lut.png", "costmodel_fmax.png",
                     "costmodel_pareto_ecp5.png", "costmodel_pareto_ice40.png",
                     "costmodel_fit.png"}
    assert set(res["fits"]) == {("ecp5", "acc"), ("ecp5", "out"), ("ice40", "acc"),
                                ("ice40", "out")}
    with open(tmp_path / "costmodel_points.csv") as f:
        pts = list(csv.DictReader(f))
    assert len(pts) == 2 * (18 + 14)  # (4 ints + 14 floats) + 14 with y, per target
    assert all(p["sqnr_normal"] and p["dot_sqnr"] for p in pts)
    md = (tmp_path / "costmodel.md").read_text()
    assert "| INT6 | 6 |" in md and "| E3M2 | 6 |" in md and "Pareto fronts" in md
    assert write_costmodel_report([], tmp_path / "empty")["tables"] == []
    assert not (tmp_path / "empty").exists()
    # Multipliers only: nothing written either (no "MAC not registered" files).
    muls = [_rec("multiplier", {"a": r["params"]["a"]}, r["target"], lut=r["lut"])
            for r in recs if r["unit"] == "mac"]
    assert write_costmodel_report(muls, tmp_path / "muls")["plots"] == []
    assert not (tmp_path / "muls").exists()
    with pytest.raises(ValueError, match=r"nope\.sqlite does not exist; run `exmy sweep`"):
        write_costmodel_report(str(tmp_path / "nope.sqlite"), tmp_path)


def test_costmodel_module_exports():
    for name in costmodel.__all__:
        assert hasattr(costmodel, name)
