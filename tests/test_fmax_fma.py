"""Frequency-directed pipelining of the FMA and the approximate-normalization FMA (SPEC 6,
issue 13): their fine cut points (hdl/fma.py: the product tree; hdl/fma_add.py: the exponent
differences, the alignment shifter level by level, the two adders; hdl/fma_norm.py: the
normalizer's count and shifter levels, the rounders' cuts) place the registers exmy's delay
model asks for; the hardware equals the golden model at two fmax settings per format (Icarus
and Verilator), the placements are proven equal to the combinational units (``exmy prove``),
and an explicit latency keeps the Verilog it had before fmax mode.

Tiers: the default tier simulates the issue's rows at both clocks on Verilator (e4m3
exhaustive, every (a, b, c); 1M random vectors and the corner cube for the 16-bit formats) and
at the slower clock on Icarus (5k-10k). ``-m slow``: more Icarus runs (e4m3: every (a, b)
pair against the addend set, 4.2M vectors), the approx-FMA's e4m3 points, the mode points,
and the proofs (the issue's rows are proven in tests/test_prove.py's default tier too)."""

import hashlib

import pytest

from exmy.hdl.fma import FMA_CUTS, FMA_FINE_CUTS, ApproxFMA
from exmy.hdl.registry import build, build_verilog

from hwtest import assert_ok, need

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

#: (unit, options, fmax pair): the issue's rows (first fmax) and a slower clock
UNITS = {
    "fma_e4m3": ("fma", {"a": "e4m3"}, (150, 80)),
    "fma_bf16": ("fma", {"a": "bfloat16"}, (100, 60)),
    "fma_fp16": ("fma", {"a": "float16"}, (100, 60)),
    "afma_bf16": ("approx-fma", {"a": "bfloat16", "granularity": 4}, (100, 60)),
    "afma_e4m3": ("approx-fma", {"a": "e4m3", "granularity": 4, "window": 8}, (150, 80)),
    "afma_e4m3fn_g2": ("approx-fma", {"a": "e4m3fn", "granularity": 2}, (120, 70)),
}


def _unit(key, which=0):
    unit, opts, fmaxes = UNITS[key]
    return build(unit, **opts, fmax=fmaxes[which])


# -- the placements ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(UNITS))
@pytest.mark.parametrize("which", [0, 1])
def test_placement_meets_the_model(key, which):
    """Every stage of the chosen placement fits the period by the model; the fine cuts are
    candidates (many more than the four coarse ones); a faster clock never gets fewer
    registers than a slower one."""
    comp = _unit(key, which)
    plan = comp.plan
    fmax = UNITS[key][2][which]
    assert max(plan.stage_delays) <= comp.dm.period(fmax) + 1e-9  # sized for the unit
    assert plan.fmax_predicted >= fmax
    assert comp.latency == plan.latency >= 1
    names = [s.name for s in plan.segments if not s.loop]
    assert len(names) > 3 * len(FMA_CUTS)
    assert {n.split("_")[0] for n in names} >= {"product", "sum", "norm", "align"}
    assert all(s.delay > 0 for s in plan.segments)  # every cut is annotated
    if which == 0:
        assert comp.latency >= _unit(key, 1).latency


@pytest.mark.parametrize("key, absent", [
    ("fma_e4m3", {"mul_level", "exp_swap", "window_room", "window_offset", "norm_cap"}),
    ("afma_e4m3", {"mul_level", "norm_fine"}),
])
def test_fine_cut_names_documented(key, absent):
    """FMA_FINE_CUTS names the datapath's fine cuts (the rounders add theirs)."""
    names = {s.name.rstrip("_0123456789") for s in _unit(key).plan.segments}
    assert set(FMA_FINE_CUTS) - absent <= names
    assert not absent & names
    assert {"product", "sum", "norm"} <= names


def test_out_of_reach_names_the_stage():
    with pytest.raises(ValueError, match=r"fma: 900 MHz on ecp5 is out of reach: the stage "
                       r"ending at '[a-z_0-9]+' takes [0-9.]+ ns of logic .*best predicted "
                       r"Fmax [0-9]+ MHz"):
        build("fma", a="e4m3", fmax=900)


def test_latency_and_fmax_exclusive():
    with pytest.raises(ValueError, match=r"Give latency \(2\) or fmax \(150\), not both"):
        ApproxFMA("e4m3", "e4m3", "e4m3", granularity=4, latency=2, fmax=150)


#: latency-mode Verilog of the FMA before fmax mode existed (sha256 prefixes, measured at
#: a894871): fine cuts are pass-throughs and the one-piece datapath stays
LATENCY_DIGESTS = [
    ("fma", {"a": "e4m3", "latency": 3}, "3650b34524c4"),
    ("fma", {"a": "bfloat16", "latency": 1}, "ad6ee4214d23"),
    ("fma", {"a": "float16", "latency": 2}, "22417c5e7371"),
    ("fma", {"a": "e5m2", "b": "e4m3", "c": "bfloat16", "out": "e4m3", "latency": 3},
     "4818b7397f7e"),
    ("approx-fma", {"a": "bfloat16", "granularity": 4, "latency": 2}, "28f35790e0b5"),
    ("approx-fma", {"a": "e4m3", "granularity": 2, "window": 6, "latency": 4}, "2852f94800a0"),
]


@pytest.mark.parametrize("unit, opts, digest", LATENCY_DIGESTS, ids=str)
def test_latency_mode_verilog_unchanged(unit, opts, digest):
    v, _, _ = build_verilog(unit, opts)
    assert hashlib.sha256(v.encode()).hexdigest()[:12] == digest


# -- hardware = golden ------------------------------------------------------------------------

def _check(comp, simulator, tmp_path, mode, n):
    from exmy.sim.check import check

    need(simulator)
    res = check(comp, simulator, mode=mode, n=n, build_dir=tmp_path, seed=13)
    assert_ok(res)
    return res


#: (key, which fmax, simulator, mode, vectors) in the default tier: the issue's rows at both
#: clocks on Verilator (e4m3 exhaustive: every (a, b, c), 2**24 vectors; the 16-bit formats
#: 1M random vectors on top of the corner cube) and on Icarus at the slower clock
HW_DEFAULT = [
    ("fma_e4m3", 0, "verilator", "exhaustive", 1 << 24),
    ("fma_e4m3", 1, "verilator", "exhaustive", 1 << 24),
    ("fma_e4m3", 1, "icarus", "random", 10_000),
    ("fma_bf16", 0, "verilator", "random", 1_000_000),
    ("fma_bf16", 1, "verilator", "random", 1_000_000),
    ("fma_bf16", 1, "icarus", "random", 5_000),
    ("fma_fp16", 0, "verilator", "random", 1_000_000),
    ("fma_fp16", 1, "verilator", "random", 1_000_000),
    ("fma_fp16", 1, "icarus", "random", 5_000),
    ("afma_bf16", 0, "verilator", "random", 1_000_000),
    ("afma_bf16", 1, "verilator", "random", 1_000_000),
    ("afma_bf16", 1, "icarus", "random", 5_000),
]
#: more Icarus runs, and the approx-FMA's other format points
HW_SLOW = [
    ("fma_e4m3", 0, "icarus", "auto", 1),
    ("fma_bf16", 0, "icarus", "random", 1_000_000),
    ("fma_fp16", 0, "icarus", "random", 200_000),
    ("afma_bf16", 0, "icarus", "random", 200_000),
    ("afma_e4m3", 0, "verilator", "auto", 1),
    ("afma_e4m3", 1, "verilator", "auto", 1),
    ("afma_e4m3fn_g2", 0, "verilator", "auto", 1),
    ("afma_e4m3fn_g2", 1, "icarus", "auto", 1),
]


def _hw_id(case):
    key, which, sim, mode, n = case
    return f"{key}-f{UNITS[key][2][which]}-{sim}-{n if mode == 'random' else mode}"


@pytest.mark.parametrize(
    "case", HW_DEFAULT + [pytest.param(c, marks=pytest.mark.slow) for c in HW_SLOW], ids=_hw_id)
def test_hw_equals_golden(case, tmp_path):
    key, which, simulator, mode, n = case
    res = _check(_unit(key, which), simulator, tmp_path, mode, n)
    assert res.vectors >= (64 << 16 if mode == "auto" else n)
    assert res.exhaustive == (mode == "exhaustive")


@pytest.mark.slow
@pytest.mark.parametrize("unit, opts", [
    ("fma", {"a": "e4m3fn", "rounding": "rtz", "fmax": 150}),
    ("fma", {"a": "e4m3fn", "rounding": "rna", "saturate": True, "fmax": 150}),
    ("fma", {"a": "e5m2", "b": "e4m3fn", "c": "bfloat16", "out": "e4m3fn", "fmax": 120}),
    ("fma", {"a": "e4m3fn", "c": "float16", "out": "e4m3fn", "fmax": 120}),
    ("approx-fma", {"a": "e4m3fn", "c": "float16", "granularity": 8, "fmax": 120}),
    ("approx-fma", {"a": "e5m2", "granularity": 2, "window": 6, "rounding": "rtz",
                    "fmax": 120}),
], ids=str)
def test_hw_modes_at_fmax(unit, opts, tmp_path):
    """Rounding modes, saturation, mixed formats (c finer than the output: the rounder's
    alignment), windows."""
    res = _check(build(unit, **opts), "verilator", tmp_path, "random", 200_000)
    assert res.vectors >= 200_000


# -- proofs -----------------------------------------------------------------------------------

def _prove(key, tmp_path):
    from exmy.synth.prove import prove_unit

    unit, opts, fmaxes = UNITS[key]
    res = prove_unit(unit, {**opts, "fmax": fmaxes[0]}, tmp_path / "proof", timeout=600)
    assert res.status == "PASS", res.line()
    assert res.delay == _unit(key).latency


@pytest.mark.slow
@pytest.mark.parametrize("key", ["fma_e4m3", "afma_e4m3", "fma_bf16", "fma_fp16", "afma_bf16"])
def test_fmax_placement_proven_slow(prove_tools, key, tmp_path):
    """The placement of the issue's clock equals the combinational unit, delayed (the
    8-bit ones are also in tests/test_prove.py's default tier; the 16-bit FMAs here)."""
    _prove(key, tmp_path)
