"""FMA and approximate-normalization FMA hardware (``exmy.hdl.fma``): argument validation (the
golden model's messages), properties, the shared rounder's approximate mode, and the hardware
against the golden ``fma``/``approx_fma`` on the Amaranth simulator, Icarus and Verilator
(cocotb, vector-file testbench).

Stimulus (``exmy.sim.check_fma``): for E4M3FN and E5M2 every (a, b) pair against an addend
set of >= 64 codes (every exponent, the specials): 4.2M vectors per run; bfloat16 and float16
1M seeded vectors (corner cube, uniform, biased, exponents close, massive cancellation,
overflow and underflow edges) at latency 0 and 3.

Tiers (the default tier has a time budget; everything it leaves out runs under ``-m slow``).
Default: the FMA on E4M3FN pairs x addends (Verilator), 1M wide random vectors on Verilator
(bfloat16 at latency 0, float16 at latency 3), every rounding / saturation / mixed-format point
on both simulators (Icarus: the corner cube and 25k random vectors each); ApproxFMA on
E4M3FN pairs x addends for one (G, K) = (4, 8), every G with and without small windows on
exhaustive 6-bit formats (two of the four sets), a float16 sample on each simulator.
``-m slow``: the FMA and the whole (G, K) grid on every set on both simulators (1M wide vectors
on Icarus, 100k per mode point), and the full 2**24 E4M3FN and E5M2 inputs (FMA and one
ApproxFMA point).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from exmy import golden
from exmy.golden import CATALOG
from exmy.hdl.fma import FMA, FMA_CUTS, ApproxFMA, fma_window_bits
from exmy.hdl.registry import build
from exmy.hdl.verilog import port_table, to_verilog
from exmy.sim import lint_verilog

from hwtest import assert_ok, cli_error, esc, need

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

E4M3 = CATALOG["e4m3fn"]
E5M2 = CATALOG["e5m2"]
BF16 = CATALOG["bfloat16"]
F16 = CATALOG["float16"]
GK_GRID = [(g, k) for g in (2, 4, 8) for k in (None, 8, 16)]





def _unit(fmts, **kw):
    fs = fmts if isinstance(fmts, tuple) else (fmts,) * 4
    if "granularity" in kw:
        return ApproxFMA(*fs, **kw)
    return FMA(*fs, **kw)


# -- argument validation: the golden model's messages ------------------------------------------
_ARGS = dict(fmt_a="e4m3fn", fmt_b="e4m3fn", fmt_c="e4m3fn", fmt_out="e4m3fn")


def _golden_call(unit, kw):
    args = dict(_ARGS)
    args.update({k: v for k, v in kw.items() if k.startswith("fmt_")})
    rest = {k: v for k, v in kw.items() if not k.startswith("fmt_") and k != "latency"}
    z = np.zeros(1, np.uint64)
    if unit is ApproxFMA:
        rest.setdefault("granularity", 1)
        return golden.approx_fma(z, z, z, **args, **rest)
    return golden.fma(z, z, z, **args, **rest)


@pytest.mark.parametrize(
    "unit, kw, exc, msg",
    [
        (ApproxFMA, dict(granularity=3), ValueError,
         "Granularity must be a power of two >= 1, not 3"),
        (ApproxFMA, dict(granularity=0), ValueError,
         "Granularity must be a power of two >= 1, not 0"),
        (ApproxFMA, dict(granularity=64), ValueError, "Granularity must be at most 32, not 64"),
        (ApproxFMA, dict(granularity=2.0), TypeError, "Granularity must be an integer, not 2.0"),
        (ApproxFMA, dict(granularity=4, window=6), ValueError,
         "Window 6 is not a multiple of granularity 4; use 4 or 8"),
        (ApproxFMA, dict(granularity=4, window=2), ValueError,
         "Window 2 is not a multiple of granularity 4; use 4"),
        (ApproxFMA, dict(granularity=2, window=38), ValueError,
         "Window 38 is larger than the datapath (37 bits for e4m3fn x e4m3fn + e4m3fn); "
         "use a window <= 37, or window=None for no cap"),
        (ApproxFMA, dict(granularity=2, window=-2), ValueError,
         "Window must be a non-negative integer or None, not -2"),
        (ApproxFMA, dict(granularity=2, window="8"), TypeError,
         "Window must be an integer or None, not '8'"),
        (ApproxFMA, dict(granularity=2, rounding="rna"), ValueError,
         "Approximate FMA supports rounding modes rne, rtz, not 'rna'"),
        (ApproxFMA, dict(granularity=2, rounding="stochastic"), ValueError,
         "Approximate FMA supports rounding modes rne, rtz, not 'stochastic'"),
        (FMA, dict(rounding="stochastic"), ValueError,
         "FMA supports rounding modes rne, rtz, rna, not 'stochastic'"),
        (FMA, dict(rounding="up"), ValueError,
         "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'"),
        (FMA, dict(rounding=1), TypeError, "Rounding mode must be a string, not 1"),
        (FMA, dict(saturate="yes"), TypeError, "saturate must be a bool, not 'yes'"),
        (FMA, dict(fmt_b="int8"), ValueError, "FMA operand b must be a float format, not int8"),
        (FMA, dict(fmt_c="e8m0fnu"), ValueError,
         "FMA operand c format e8m0fnu has no zero (a block-scale format); apply scales by "
         "exponent addition, not in an FMA"),
        (FMA, dict(fmt_out="int8"), ValueError,
         "FMA output format must be a float format, not int8"),
        (FMA, dict(fmt_c="e4x3"), ValueError, "Unknown format 'e4x3'"),
    ],
)
def test_validation_matches_golden(unit, kw, exc, msg):
    args = dict(_ARGS)
    args.update(kw)
    with pytest.raises(exc) as hw:
        unit(**args)
    assert str(hw.value).startswith(msg)
    with pytest.raises(exc) as gold:
        _golden_call(unit, kw)
    assert str(gold.value) == str(hw.value)


@pytest.mark.parametrize(
    "unit, kw, exc, msg",
    [
        (FMA, dict(fmt_a=3), TypeError, "FMA operand a format must be a format name or object, "
         "not 3"),
        (FMA, dict(fmt_out=2.5), TypeError,
         "FMA output format must be a format name or object, not 2.5"),
        (FMA, dict(latency=-1), ValueError, "Latency must be a non-negative integer, not -1"),
        (ApproxFMA, dict(granularity=2, latency=True), TypeError,
         "Latency must be a non-negative integer, not True"),
    ],
)
def test_validation_hw_only(unit, kw, exc, msg):
    args = dict(_ARGS)
    args.update(kw)
    with pytest.raises(exc, match=esc(msg)):
        unit(**args)


def test_registry_defaults_and_errors():
    with pytest.raises(ValueError, match=esc("Unit 'fma' needs an operand format (--a)")):
        build("fma")
    with pytest.raises(ValueError,
                       match=esc("Unit 'approx-fma' needs a granularity (--granularity G)")):
        build("approx-fma", a="bfloat16")
    with pytest.raises(ValueError, match="Unit 'fma' does not take --granularity"):
        build("fma", a="bfloat16", granularity=4)
    # b defaults to a; c to out, else a; out to c
    assert build("fma", a="e4m3fn").params == build("fma", a="e4m3fn", b="e4m3fn",
                                                    c="e4m3fn", out="e4m3fn").params
    comp = build("fma", a="e4m3fn", out="float16")
    assert (str(comp.fmt_b), str(comp.fmt_c), str(comp.fmt_out)) == ("e4m3fn", "float16",
                                                                     "float16")
    comp = build("approx-fma", a="e5m2", c="bfloat16", granularity=8, window=16, latency=2)
    assert (str(comp.fmt_b), str(comp.fmt_out)) == ("e5m2", "bfloat16")
    assert (comp.granularity, comp.window, comp.latency) == (8, 16, 2)


# -- properties ------------------------------------------------------------------------------
@pytest.mark.parametrize("latency", [0, 1, 3, 5])
def test_properties(latency):
    comp = ApproxFMA("e4m3fn", "e5m2", "float16", "bfloat16", granularity=4, window=8,
                     rounding="rtz", saturate=True, latency=latency)
    assert comp.latency == latency and comp.has_clock == (latency > 0)
    assert comp.params == {"a": "e4m3fn", "b": "e5m2", "c": "float16", "out": "bfloat16",
                           "rounding": "rtz", "saturate": True, "latency": latency,
                           "granularity": 4, "window": 8}
    assert comp.module_name == (f"approx_fma_e4m3fn_e5m2_float16_bfloat16_rtz_sat_l{latency}"
                                f"_granularity4_window8")
    ports = port_table(comp, to_verilog(comp, comp.module_name))
    assert {p: d["width"] for p, d in ports.items() if p not in ("clk", "rst")} == {
        "a": 8, "b": 8, "c": 16, "y": 16}
    assert ("clk" in ports) == (latency > 0)
    assert comp.extra_metadata() == {"datapath": {"window_bits": comp.window_bits,
                                                  "cuts": list(FMA_CUTS)}}
    fma = FMA("bfloat16", "bfloat16", "bfloat16")
    assert fma.module_name == "fma_bfloat16_bfloat16_bfloat16_bfloat16_l0"
    assert fma.fmt_out == BF16 and fma.granularity is None and fma.window is None


def test_pipeline_placement():
    """``Pipeline(placement=...)`` puts the registers at the named cuts for the latencies it
    lists and spaces them evenly (the last cut first) for the others; FMAs use it."""
    from amaranth.hdl import Module

    from exmy.hdl.fma import FMA_PLACEMENT
    from exmy.hdl.util import Pipeline

    m = Module()
    cuts = ["a", "b", "c", "d"]
    place = {1: ("b",), 2: ("a", "b")}
    got = [Pipeline(m, k, cuts, place).registered for k in range(6)]
    assert got == [set(), {"b"}, {"a", "b"}, {"a", "c", "d"}, set(cuts), set(cuts)]
    assert Pipeline(m, 5, cuts, place).extra == 1
    assert Pipeline(m, 1, cuts).registered == {"d"}
    with pytest.raises(ValueError, match="Placement for latency 2 must name 2 of"):
        Pipeline(m, 2, ["a", "b", "c"], {2: ("a", "x")})
    with pytest.raises(ValueError, match="Placement for latency 2 must name 2 of"):
        Pipeline(m, 2, ["a", "b", "c"], {2: ("a", "a")})
    for k, names in FMA_PLACEMENT.items():  # a placement for FMA_CUTS, one cut per register
        assert len(set(names)) == k and set(names) <= set(FMA_CUTS)


def test_window_widths():
    # W = max(wp + pc + 1, max(wp, pc) + po + G + 1) (the FMA docstring's derivation)
    assert [fma_window_bits(f, f, f, f) for f in (E4M3, E5M2, BF16, F16)] == [14, 11, 26, 35]
    assert fma_window_bits(BF16, BF16, BF16, BF16, 8) == 33
    assert FMA("e4m3fn", "e4m3fn", "float16").window_bits == 11 + 11 + 2  # y in float16


@pytest.mark.parametrize("fmts, kw", [
    ("e4m3fn", dict(latency=3)),
    ("bfloat16", dict(granularity=8, window=16)),
    (("e3m2fn",) * 3 + ("e2m3fn",), dict(granularity=2, window=0)),  # no normalization floor
], ids=["fma", "approx", "approx-k0"])
def test_verilog_lints_clean(fmts, kw, tmp_path):
    need("verilator")
    comp = _unit(fmts, **kw)
    lint_verilog(to_verilog(comp, comp.module_name), comp.module_name, tmp_path)


def test_single_multiplier():
    """The significand product stays one `*` (a DSP when allowed): one $mul cell."""
    from amaranth.back import rtlil

    for comp in (FMA("bfloat16", "bfloat16", "bfloat16"),
                 ApproxFMA("float16", "float16", "float16", granularity=4)):
        text = rtlil.convert(comp)
        assert text.count("cell $mul ") == 1


def test_addend_set_covers_exponents_and_specials():
    from exmy.sim.check_fma import addend_set

    for f in (E4M3, E5M2):
        cs = addend_set(f, np.random.default_rng(0))
        assert len(cs) >= 64 and len(set(cs.tolist())) == len(cs)
        fields = (cs >> np.uint64(f.man_bits)) & np.uint64(f.exp_max_field)
        assert set(fields.tolist()) == set(range(f.exp_max_field + 1))
        r = golden.decode(cs, f)
        assert r.nan.any() and (r.sig == 0).sum() >= 2  # NaN, +0 and -0
        if f.has_inf:
            assert r.inf.sum() == 2


@pytest.mark.parametrize("unit, opts, n", [
    ("fma", {"a": "e2m1fn"}, 1 << 12),
    ("approx-fma", {"a": "e2m1fn", "granularity": 2}, 1 << 12),
    ("fma", {"a": "e3m2fn"}, 1 << 18),
    ("fma", {"a": "e4m3fn", "c": "e2m3fn"}, 1 << 22),
], ids=["fma-e2m1fn", "approx-e2m1fn", "fma-e3m2fn", "fma-e4m3fn-c6"])
def test_auto_stimulus_of_a_small_addend_is_exhaustive(unit, opts, n):
    """With c of at most 6 bits the addend set is every c code, so the (a, b) pairs x addends
    were every input combination, yet ``exmy simulate`` called them "every (a, b) pair x 16
    addends", not exhaustive. The auto stimulus is now the exhaustive one, named so; an 8-bit
    c keeps the pairs x addends."""
    from exmy.sim.check import stimulus_for

    inputs, cov = stimulus_for(build(unit, **opts), "auto", 1000)
    assert bool(cov) and cov.describe() == f"{n:,} vectors (exhaustive: every input combination)"
    combos = set(zip(*(inputs[k].tolist() for k in ("a", "b", "c")), strict=True))
    assert len(combos) == len(inputs["a"]) == n
    _, cov8 = stimulus_for(build("fma", a="e4m3fn"), "auto", 1000)
    assert not cov8 and cov8.describe().endswith("(every (a, b) pair x 64 addends)")


# -- the shared rounder's approximate mode ---------------------------------------------------
def test_rounder_approx_mode_arguments():
    from amaranth.hdl import Module, Signal

    from exmy.hdl.rounding import round_encode

    m = Module()
    kw = dict(sign=Signal(), sig=Signal(8), exp=Signal(range(-20, 20)), is_nan=Signal(),
              is_inf=Signal())
    with pytest.raises(ValueError, match="Granularity must be a power of two >= 1, not 3"):
        round_encode(m, E4M3, granularity=3, **kw)
    with pytest.raises(ValueError, match="^The approximate-normalization rounder supports "
                       "rounding modes rne, rtz, not 'stochastic'$"):
        round_encode(m, E4M3, granularity=2, rounding="stochastic", **kw)
    # golden's approx_fma refuses rna, and so does the rounder's approximate mode (issue 12)
    with pytest.raises(ValueError, match="^The approximate-normalization rounder supports "
                       "rounding modes rne, rtz, not 'rna'$"):
        round_encode(m, E4M3, granularity=2, rounding="rna", **kw)


# -- hardware vs golden: Amaranth simulator (smoke) ------------------------------------------
@pytest.mark.parametrize("fmts, kw", [
    pytest.param("e2m1fn", {}, id="fma-e2m1fn"),  # degenerate 'none' format, every input
    pytest.param("e2m1fn", dict(granularity=2, window=2, latency=2), id="approx-e2m1fn"),
    pytest.param((E4M3, E4M3, F16, F16), dict(latency=3), id="fma-e4m3fn-f16-lat3",
                 marks=pytest.mark.slow),
])
def test_hw_amaranth(fmts, kw):
    from exmy.sim.check import check, stimulus_for

    comp = _unit(fmts, **kw)
    if comp.fmt_a.width <= 4:
        inputs, _ = stimulus_for(comp, "auto", seed=11)
    else:  # the Amaranth simulator is slow: 3000 of the random set (corners included)
        inputs, _ = stimulus_for(comp, "random", 3000, seed=11)
        pick = np.random.default_rng(11).choice(len(inputs["a"]), 3000, replace=False)
        inputs = {k: v[pick] for k, v in inputs.items()}
    res = check(comp, "amaranth", inputs=inputs)
    assert_ok(res)


# -- hardware vs golden: cocotb (Icarus, Verilator) ------------------------------------------
@functools.lru_cache(maxsize=2)
def _stimulus(comp_key, mode, n, seed):
    """Inputs and expected outputs, shared by the Icarus and Verilator runs of one unit."""
    from exmy.sim.check import ADAPTERS, stimulus_for

    comp = _COMPS[comp_key]
    inputs, full = stimulus_for(comp, mode, n, seed)
    return inputs, full, ADAPTERS[comp.unit].expected(comp, inputs)


_COMPS: dict = {}


def _check(comp, simulator, tmp_path, mode="auto", n=100_000, seed=1):
    from exmy.sim.check import check

    need(simulator)
    key = (comp.module_name, comp.latency)
    _COMPS.setdefault(key, comp)
    inputs, full, _ = _stimulus(key, mode, n, seed)
    res = check(comp, simulator, inputs=inputs, build_dir=tmp_path)
    assert_ok(res)
    return res, full


SIMS = ["icarus", "verilator"]


# every (a, b) x the addend set: E4M3FN on Verilator in the default tier; E5M2, and Icarus (4x
# slower here) for both, in the slow tier
@pytest.mark.parametrize("fmt, simulator", [
    pytest.param(fmt, sim, id=f"{fmt}-{sim}",
                 marks=() if (fmt, sim) == (E4M3, "verilator") else (pytest.mark.slow,))
    for fmt in (E4M3, E5M2) for sim in SIMS])
def test_hw_fma_pairs_by_addends(fmt, simulator, tmp_path):
    """Every (a, b) x >= 64 addends (E4M3FN 4.2M, E5M2 4.3M vectors)."""
    comp = FMA(fmt, fmt, fmt)
    res, _ = _check(comp, simulator, tmp_path)
    assert res.vectors >= 64 << 16


def _wide_params():
    """Icarus runs 1M float16 FMA vectors in about 4 minutes, Verilator in seconds. Default
    tier: 1M on Verilator for bfloat16 at latency 0 and float16 at latency 3 (the wide formats
    run on Icarus in the default tier through test_hw_fma_modes, corner cube included); slow
    tier: 1M on both simulators for both formats at both latencies."""
    default = {("bfloat16", 0, "verilator"), ("float16", 3, "verilator")}
    return [pytest.param(fmt, latency, sim, 1_000_000, id=f"{fmt}-{latency}-{sim}-1M",
                         marks=() if (str(fmt), latency, sim) in default else (pytest.mark.slow,))
            for fmt in (BF16, F16) for latency in (0, 3) for sim in ("verilator", "icarus")]


@pytest.mark.parametrize("fmt, latency, simulator, n", _wide_params())
def test_hw_fma_wide_random(fmt, latency, simulator, n, tmp_path):
    comp = FMA(fmt, fmt, fmt, latency=latency)
    res, _ = _check(comp, simulator, tmp_path, mode="random", n=n, seed=latency + 5)
    assert res.vectors >= n


# rounding modes, saturation, mixed formats (sampled; the formats' edges are in the stimulus)
MODE_POINTS = [
    pytest.param((E4M3,) * 4, dict(rounding="rtz"), id="e4m3fn-rtz"),
    pytest.param((E5M2,) * 4, dict(rounding="rna", saturate=True), id="e5m2-rna-sat"),
    pytest.param((BF16,) * 4, dict(rounding="rtz", saturate=True, latency=1), id="bf16-rtz-sat"),
    pytest.param((F16,) * 4, dict(rounding="rna", latency=2), id="f16-rna"),
    pytest.param((E4M3, E4M3, F16, F16), {}, id="e4m3fn*e4m3fn+f16->f16"),
    pytest.param((E5M2, E4M3, BF16, E4M3), {}, id="e5m2*e4m3fn+bf16->e4m3fn"),  # c finer
    pytest.param(("e4m3fnuz", "e5m2fnuz", "e4m3fnuz", "e5m2fnuz"), dict(rounding="rna"),
                 id="fnuz"),
    pytest.param((E4M3, E5M2, F16, "e8m0fnu"), {}, id="out-e8m0fnu"),
    pytest.param(("e3m2fn", "e2m3fn", "e4m3-ftz", "e3m2fn"), {}, id="ftz-addend"),
]


# 100k vectors per point on both simulators; the default tier runs 25k of them on Icarus
@pytest.mark.parametrize("simulator, n", [
    pytest.param("icarus", 25_000, id="icarus-25k"),
    pytest.param("icarus", 100_000, id="icarus", marks=pytest.mark.slow),
    pytest.param("verilator", 100_000, id="verilator"),
])
@pytest.mark.parametrize("fmts, kw", MODE_POINTS)
def test_hw_fma_modes(fmts, kw, simulator, n, tmp_path):
    _check(_unit(fmts, **kw), simulator, tmp_path, mode="random", n=n, seed=3)


def test_hw_fma_small_exhaustive(tmp_path):
    """Every input of 6-bit formats, both ways round (c's exponent range finer and coarser
    than the output's: both normalization floors)."""
    for fmts in (("e2m3fn",) * 3 + ("e3m2fn",), ("e3m2fn",) * 3 + ("e2m3fn",)):
        res, full = _check(_unit(fmts), "verilator", tmp_path / fmts[3], mode="exhaustive")
        assert full and res.vectors == 1 << 18


# -- ApproxFMA --------------------------------------------------------------------------------
def _approx_params(sets, default):
    out = []
    for fmt in sets:
        for g, k in GK_GRID:
            for sim in SIMS:
                marks = () if (str(fmt), g, k, sim) in default else (pytest.mark.slow,)
                out.append(pytest.param(fmt, g, k, sim, marks=marks,
                                        id=f"{fmt}-g{g}-k{k}-{sim}"))
    return out


@pytest.mark.parametrize("fmt, g, k, simulator", _approx_params(
    [E4M3, E5M2],
    # default tier: one G and one window on E4M3FN (every G, with and without windows, runs
    # exhaustively on 6-bit formats below); the rest of the (G, K) grid runs in the slow tier
    {("e4m3fn", 4, 8, "verilator")}))
def test_hw_approx_pairs_by_addends(fmt, g, k, simulator, tmp_path):
    comp = ApproxFMA(fmt, fmt, fmt, granularity=g, window=k)
    res, _ = _check(comp, simulator, tmp_path)
    assert res.vectors >= 64 << 16


@pytest.mark.parametrize("fmt, g, k, simulator", _approx_params(
    [BF16, F16],
    # default tier: one sampled point per simulator (bfloat16 runs in test_hw_approx_points)
    {("float16", 2, 16, "verilator"), ("float16", 8, None, "icarus")}))
def test_hw_approx_wide_random(fmt, g, k, simulator, tmp_path):
    comp = ApproxFMA(fmt, fmt, fmt, granularity=g, window=k, latency=3 if g == 8 else 0)
    n = 200_000 if simulator == "verilator" else 100_000
    _check(comp, simulator, tmp_path, mode="random", n=n, seed=g + (k or 0))


@pytest.mark.parametrize("fmts, kw", [
    pytest.param((E4M3,) * 4, dict(granularity=1), id="g1-equals-fma"),
    pytest.param((E4M3,) * 4, dict(granularity=4, window=0, rounding="rtz"), id="k0-rtz"),
    pytest.param((E4M3, E4M3, F16, F16), dict(granularity=4, window=8), id="e4m3fn+f16"),
    pytest.param((BF16, BF16, BF16, E4M3), dict(granularity=8, window=16), id="bf16->e4m3fn"),
    pytest.param((E4M3, E4M3, E4M3, "e8m0fnu"), dict(granularity=2, window=4), id="to-e8m0"),
])
def test_hw_approx_points(fmts, kw, tmp_path):
    comp = _unit(fmts, **kw)
    _check(comp, "verilator", tmp_path, mode="random", n=100_000, seed=9)
    if kw == dict(granularity=1):  # SPEC 3.3: G = 1 without a window is the FMA
        inputs, _, expected = _stimulus((comp.module_name, comp.latency), "random", 100_000, 9)
        want = golden.fma(inputs["a"], inputs["b"], inputs["c"], *fmts)
        assert np.array_equal(expected["y"], want)


@pytest.mark.parametrize("fmts, g, k", [
    pytest.param(("e3m2fn",) * 4, 2, 2, id="e3m2fn-g2-k2"),
    pytest.param(("e2m3fn",) * 4, 4, 4, id="e2m3fn-g4-k4", marks=pytest.mark.slow),
    pytest.param(("e3m2fn",) * 3 + ("e2m3fn",), 8, 0, id="to-e2m3fn-g8-k0"),
    pytest.param(("e2m3fn",) * 3 + ("e3m2fn",), 2, None, id="to-e3m2fn-g2-kNone",
                 marks=pytest.mark.slow),
])
def test_hw_approx_small_exhaustive(fmts, g, k, tmp_path):
    """Every input of 6-bit formats for G = 2, 4, 8 with and without small windows (two of
    the four sets in the default tier)."""
    comp = _unit(fmts, granularity=g, window=k)
    res, full = _check(comp, "verilator", tmp_path, mode="exhaustive")
    assert full and res.vectors == 1 << 18


# -- slow tier: every input ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMS)
@pytest.mark.parametrize("fmt, kw", [
    pytest.param(E4M3, {}, id="e4m3fn-fma"),
    pytest.param(E5M2, {}, id="e5m2-fma"),
    pytest.param(E4M3, dict(granularity=4, window=8), id="e4m3fn-approx-g4-k8"),
])
def test_hw_exhaustive_slow(fmt, kw, simulator, tmp_path):
    comp = _unit(fmt, **kw)
    res, full = _check(comp, simulator, tmp_path, mode="exhaustive")
    assert full and res.vectors == 1 << 24


# -- the command line -------------------------------------------------------------------------
@pytest.mark.parametrize("args, msg", [
    (["approx-fma", "--a", "e4m3fn", "--granularity", "3"],
     "Granularity must be a power of two >= 1, not 3"),
    (["approx-fma", "--a", "e4m3fn", "--granularity", "4", "--window", "6"],
     "Window 6 is not a multiple of granularity 4; use 4 or 8"),
    (["approx-fma", "--a", "e4m3fn", "--granularity", "4", "--window", "64"],
     "Window 64 is larger than the datapath (37 bits for e4m3fn x e4m3fn + e4m3fn)"),
    (["approx-fma", "--a", "e4m3fn", "--granularity", "4", "--rounding", "rna"],
     "Approximate FMA supports rounding modes rne, rtz, not 'rna'"),
    (["fma", "--a", "e4m3fn", "--rounding", "stochastic"],
     "FMA supports rounding modes rne, rtz, rna, not 'stochastic'"),
    (["approx-fma", "--a", "e4m3fn"], "Unit 'approx-fma' needs a granularity (--granularity G)"),
    (["fma", "--a", "e4m3fn", "--granularity", "4"], "Unit 'fma' does not take --granularity"),
    (["fma", "--a", "e4m3fn", "--c", "e4x3"], "Unknown format 'e4x3'"),
    (["fma", "--a", "e4m3fn", "--out", "uint8"],
     "FMA output format must be a float format, not uint8"),
], ids=["g3", "k6", "k64", "rna", "stochastic", "no-g", "fma-g", "bad-format", "int-out"])
def test_cli_bad_input(args, msg, tmp_path, capsys):
    from exmy.cli.main import main

    for cmd in (["generate", *args, "-o", str(tmp_path / "x.v")], ["simulate", *args]):
        assert main(cmd) == 2
        assert msg in cli_error(capsys)
    assert not (tmp_path / "x.v").exists()


def test_cli_generate_and_simulate(tmp_path, capsys):
    import json

    from exmy.cli.main import main

    need("icarus")
    need("verilator")
    out = tmp_path / "fma.v"
    assert main(["generate", "fma", "--a", "e4m3fn", "--c", "float16", "--rounding", "rtz",
                 "--latency", "3", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["module"] == "fma_e4m3fn_e4m3fn_float16_float16_rtz_l3"
    assert {p: d["width"] for p, d in side["ports"].items()} == {
        "clk": 1, "rst": 1, "a": 8, "b": 8, "c": 16, "y": 16}
    assert f"module {side['module']}" in out.read_text()
    out = tmp_path / "approx.v"
    assert main(["generate", "approx-fma", "--a", "bfloat16", "--granularity", "4",
                 "--window", "16", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["params"]["granularity"] == 4 and side["params"]["window"] == 16
    capsys.readouterr()
    # every (a, b) x every addend of a 4-bit format; and sampled float16 vectors
    assert main(["simulate", "approx-fma", "--a", "e2m1fn", "--granularity", "2",
                 "--simulator", "icarus"]) == 0
    assert "0 mismatches" in capsys.readouterr().out
    assert main(["simulate", "fma", "--a", "float16", "--latency", "3", "--vectors", "20000",
                 "--simulator", "verilator"]) == 0
    assert "0 mismatches" in capsys.readouterr().out
