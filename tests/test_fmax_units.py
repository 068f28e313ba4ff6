"""Frequency-directed pipelining of the multiplier, int-multiplier, convert (float and integer
formats) and L-Mul (SPEC 6,
issue 13): their fine cut points (hdl/float.py decode, hdl/rounding.py, hdl/arith.py) place the
registers exmy's delay model asks for; the hardware equals the golden model at two fmax
settings per format (Icarus and Verilator), the placements are proven equal to the
combinational units (``exmy prove``), a placement with a value that skips its register is
caught, and an explicit latency keeps the Verilog it had before fmax mode."""

import hashlib

import pytest

from exmy.hdl.arith import (
    chunked_add,
    staged_lzc,
    staged_shift_left,
    staged_shift_right,
    tree_multiply,
)
from exmy.hdl.registry import build, build_verilog
from exmy.hdl.timing import delay_model
from exmy.hdl.util import Pipeline

from hwtest import assert_ok, need

#: (unit, options, fmax pair): the issue's rows (first fmax) and a slower clock
UNITS = {
    "mul_e4m3": ("multiplier", {"a": "e4m3", "out": "e4m3"}, (205, 100)),
    "mul_bf16": ("multiplier", {"a": "bfloat16", "out": "bfloat16"}, (150, 80)),
    "mul_fp16": ("multiplier", {"a": "float16", "out": "float16"}, (150, 80)),
    "conv_f32_e4m3fn": ("convert", {"a": "float32", "out": "e4m3fn"}, (250, 120)),
    "lmul_e4m3fn": ("lmul", {"a": "e4m3fn"}, (250, 150)),
    "imul_int8": ("int-multiplier", {"a": "int8"}, (250, 200)),
    # the integer converters (fine cuts since 2026-12-07; README, "The integer converters")
    "conv_e4m3_int8": ("convert", {"a": "e4m3", "out": "int8"}, (200, 100)),
    "conv_f32_int16": ("convert", {"a": "float32", "out": "int16"}, (190, 100)),
    "conv_int8_e4m3": ("convert", {"a": "int8", "out": "e4m3"}, (230, 120)),
    "conv_int16_bf16": ("convert", {"a": "int16", "out": "bfloat16"}, (190, 100)),
}


def _unit(key, which=0, **extra):
    unit, opts, fmaxes = UNITS[key]
    return build(unit, **opts, fmax=fmaxes[which], **extra)


# -- the placements ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", list(UNITS))
@pytest.mark.parametrize("which", [0, 1])
def test_placement_meets_the_model(key, which):
    """Every stage of the chosen placement fits the period by the model; a faster clock
    never gets fewer registers than a slower one."""
    comp = _unit(key, which)
    plan = comp.plan
    budget = comp.dm.period(UNITS[key][2][which])  # the model sized for this unit
    assert max(plan.stage_delays) <= budget + 1e-9
    assert plan.fmax_predicted >= UNITS[key][2][which]
    assert comp.latency == plan.latency >= 1
    if which == 0:  # the fine cuts are there: more candidates than the coarse cut points
        assert len([s for s in plan.segments if not s.loop]) >= 3
        assert comp.latency >= _unit(key, 1).latency


def test_out_of_reach_names_the_stage():
    with pytest.raises(ValueError, match=r"multiplier: 900 MHz on ecp5 is out of reach: the "
                       r"stage ending at '\w+' takes [0-9.]+ ns"):
        build("multiplier", a="e4m3", out="e4m3", fmax=900)


#: the Verilog of these points with an explicit latency, before fmax mode existed (sha256)
LATENCY_VERILOG = [
    ("multiplier", {"a": "e4m3", "out": "e4m3", "latency": 2}, "dd19134b53c0"),
    ("multiplier", {"a": "bfloat16", "out": "bfloat16"}, "8209f77c7a75"),
    ("convert", {"a": "float32", "out": "e4m3fn", "latency": 1}, "31e94f19589c"),
    ("lmul", {"a": "e4m3fn", "latency": 2}, "6b41100cb9eb"),
    ("int-multiplier", {"a": "int8", "latency": 1}, "4d0e42550c2d"),
]


@pytest.mark.parametrize("unit, opts, digest", LATENCY_VERILOG, ids=str)
def test_latency_mode_verilog_unchanged(unit, opts, digest):
    verilog, _, _ = build_verilog(unit, opts)
    assert hashlib.sha256(verilog.encode()).hexdigest()[:12] == digest


# -- the arithmetic builders (hdl/arith.py) ---------------------------------------------------

class _AllCuts:
    """A plan that registers every fine cut (the most registers any placement can have)."""

    def __init__(self):
        self.n = 0

    def wants(self, name, delay, values):
        self.n += 1
        return True

    def final(self, delay):
        pass


def test_arith_builders_registered_everywhere():
    """tree_multiply, chunked_add, the staged shifters and the staged LZC give the plain
    operators' results with a register at every cut point (inputs held until the deepest
    pipeline has filled; the balancing of values that skip stages is what the proofs
    check)."""
    import random

    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    dm = delay_model("ecp5")
    a, b, amt = Signal(13), Signal(13), Signal(4)
    m = Module()
    plan = _AllCuts()
    pipe = Pipeline(m, plan=plan)
    s = chunked_add(m, a, b, chunk=4, pipe=pipe, dm=dm, carry={"amt": amt})
    r, lost = staged_shift_right(m, a, s.carry["amt"], pipe=pipe, dm=dm)
    left = staged_shift_left(m, b, amt, pipe=pipe, dm=dm, levels_per_stage=2)
    z = staged_lzc(m, a, pipe=pipe, dm=dm, levels_per_stage=1)
    p = tree_multiply(m, a, b[:7], pipe=pipe, dm=dm)
    assert plan.n >= 3 + 3 + 1 + 3 + 2
    rng = random.Random(4)
    vecs = [(rng.randrange(1 << 13), rng.randrange(1 << 13), rng.randrange(16))
            for _ in range(40)] + [(0, 0, 0), (1, 8191, 15), (8191, 8191, 12)]
    sim = Simulator(m)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        for va, vb, vs in vecs:
            ctx.set(a, va)
            ctx.set(b, vb)
            ctx.set(amt, vs)
            for _ in range(plan.n + 1):
                await ctx.tick()
            seen.append((ctx.get(s.value), ctx.get(r.value), ctx.get(lost),
                         ctx.get(left.value), ctx.get(z.value), ctx.get(p.value)))

    sim.add_testbench(bench)
    sim.run()
    for (va, vb, vs), (gs, gr, gl, gleft, gz, gp) in zip(vecs, seen, strict=True):
        assert gs == va + vb
        assert gr == va >> vs and gl == int(va & ((1 << vs) - 1) != 0)
        assert gleft == (vb << vs) & 8191
        assert gz == 13 - va.bit_length()
        assert gp == va * (vb & 127)


def test_chunked_add_checks_chunk():
    from amaranth.hdl import Module, Signal

    with pytest.raises(ValueError, match=r"^Chunk width must be a positive integer, not 0$"):
        chunked_add(Module(), Signal(4), Signal(4), chunk=0, dm=delay_model("ecp5"))


# -- hardware = golden ------------------------------------------------------------------------

def _check(comp, simulator, tmp_path, n=None):
    from exmy.sim.check import check

    need(simulator)
    mode = "exhaustive" if n is None else "random"
    res = check(comp, simulator, mode=mode, n=n or 1, build_dir=tmp_path, seed=11)
    assert_ok(res)
    return res


#: (key, which fmax, simulator, vectors: None = exhaustive) in the default tier: every unit at
#: both clocks on Verilator (8-bit inputs exhaustive, wider ones 1M random vectors) and at
#: least one clock on Icarus
HW_DEFAULT = [
    ("mul_e4m3", 0, "icarus", None),
    ("mul_e4m3", 1, "icarus", None),
    ("mul_e4m3", 0, "verilator", None),
    ("mul_e4m3", 1, "verilator", None),
    ("mul_bf16", 0, "verilator", 1_000_000),
    ("mul_bf16", 1, "verilator", 1_000_000),
    ("mul_bf16", 1, "icarus", 10_000),
    ("mul_fp16", 0, "verilator", 1_000_000),
    ("mul_fp16", 1, "verilator", 1_000_000),
    ("mul_fp16", 0, "icarus", 10_000),
    ("conv_f32_e4m3fn", 0, "verilator", 1_000_000),
    ("conv_f32_e4m3fn", 1, "verilator", 1_000_000),
    ("conv_f32_e4m3fn", 0, "icarus", 10_000),
    ("lmul_e4m3fn", 0, "icarus", None),
    ("lmul_e4m3fn", 0, "verilator", None),
    ("lmul_e4m3fn", 1, "verilator", None),
    ("imul_int8", 0, "icarus", None),
    ("imul_int8", 0, "verilator", None),
    ("imul_int8", 1, "verilator", None),
    ("conv_e4m3_int8", 0, "icarus", None),
    ("conv_e4m3_int8", 0, "verilator", None),
    ("conv_e4m3_int8", 1, "verilator", None),
    ("conv_f32_int16", 0, "verilator", 1_000_000),
    ("conv_f32_int16", 1, "verilator", 1_000_000),
    ("conv_f32_int16", 0, "icarus", 10_000),
    ("conv_int8_e4m3", 0, "icarus", None),
    ("conv_int8_e4m3", 0, "verilator", None),
    ("conv_int8_e4m3", 1, "verilator", None),
    ("conv_int16_bf16", 0, "verilator", None),
    ("conv_int16_bf16", 1, "verilator", None),
    ("conv_int16_bf16", 0, "icarus", None),
]
#: more Icarus runs
HW_SLOW = [
    ("mul_bf16", 0, "icarus", 200_000),
    ("mul_fp16", 0, "icarus", 100_000),
    ("conv_f32_e4m3fn", 1, "icarus", 10_000),
    ("lmul_e4m3fn", 1, "icarus", None),
    ("imul_int8", 1, "icarus", None),
]


def _hw_id(case):
    key, which, sim, n = case
    return f"{key}-f{UNITS[key][2][which]}-{sim}-{'all' if n is None else n}"


@pytest.mark.parametrize("case", HW_DEFAULT, ids=_hw_id)
def test_hw_equals_golden(case, tmp_path):
    key, which, simulator, n = case
    comp = _unit(key, which)
    res = _check(comp, simulator, tmp_path, n)
    if n is None:
        assert res.exhaustive


@pytest.mark.slow
@pytest.mark.parametrize("case", HW_SLOW, ids=_hw_id)
def test_hw_equals_golden_slow(case, tmp_path):
    key, which, simulator, n = case
    _check(_unit(key, which), simulator, tmp_path, n)


@pytest.mark.slow
@pytest.mark.parametrize("unit, opts", [
    ("multiplier", {"a": "e4m3fn", "out": "e4m3fn", "rounding": "stochastic",
                    "rand_bits": 5, "fmax": 200}),
    ("multiplier", {"a": "e5m2", "out": "e5m2", "rounding": "rtz", "fmax": 200}),
    ("multiplier", {"a": "e4m3fn", "out": "e4m3fn", "saturate": True, "rounding": "rna",
                    "fmax": 200}),
    ("multiplier", {"a": "e2m1fn", "b": "e4m3fn", "fmax": 200}),  # exact product format
    ("multiplier", {"a": "e4m3fnuz", "out": "e5m2fnuz", "fmax": 180}),
    ("convert", {"a": "e5m2", "out": "e4m3fn", "saturate": True, "fmax": 250}),
    ("int-multiplier", {"a": "uint8", "b": "int4", "fmax": 250}),
    ("lmul", {"a": "e4m3", "fmax": 250, "offset": "pam"}),
], ids=str)
def test_hw_modes_at_fmax(unit, opts, tmp_path):
    """Rounding modes, saturation, mixed and exact formats, fnuz, unsigned x signed."""
    from exmy.sim.check import check

    need("verilator")
    res = check(build(unit, **opts), "verilator", mode="exhaustive", build_dir=tmp_path,
                seed=3)
    assert_ok(res)


@pytest.mark.slow
def test_hw_stochastic_at_fmax(tmp_path):
    """The rand port rides along every cut to the rounder's increment."""
    comp = build("multiplier", a="e4m3fn", out="e4m3fn", rounding="stochastic", rand_bits=5,
                 fmax=200)
    assert comp.latency >= 3
    _check(comp, "icarus", tmp_path)


# -- proofs -----------------------------------------------------------------------------------

# The placements of the clocks are proven equal to the combinational units in
# tests/test_prove.py (test_fmax_placement_equals_reference: every 8-bit unit and the
# bfloat16 multiplier, default tier).


@pytest.mark.parametrize("key", ["conv_e4m3_int8", "conv_f32_int16", "conv_int8_e4m3",
                                 "conv_int16_bf16"])
def test_integer_converters_proven(prove_tools, key, tmp_path):
    """The integer converters' placements at the faster clock equal the combinational units."""
    from exmy.synth.prove import prove_unit

    unit, opts, fmaxes = UNITS[key]
    res = prove_unit(unit, {**opts, "fmax": fmaxes[0]}, tmp_path / "proof", timeout=240)
    assert res.status == "PASS", res.line()
    assert res.delay >= 4, res.line()


@pytest.mark.parametrize("rounding", ["rtz", "rna"])
def test_integer_converter_rounding_at_fmax(rounding, tmp_path):
    """The fine float -> int rounder's other modes, every input (Verilator)."""
    _check(build("convert", a="e5m2", out="int8", rounding=rounding, fmax=200), "verilator",
           tmp_path)


def test_skipped_register_caught(prove_tools, tmp_path, monkeypatch):
    """A fine cut that lets one value skip its register (the rounder's aligned significand
    at cut 'round'): the proof fails with a counterexample."""
    import exmy.hdl.util as util
    from exmy.synth.prove import prove_unit

    class Skipping(util.Pipeline):
        def stage(self, cut, *values, delay=0.0):
            out = super().stage(cut, *values, delay=delay)
            if self.plan is not None and cut == "round" and self.plan.wants(
                    cut, delay, values) and len(values) > 1:
                return (values[0], *out[1:])
            return out

    import exmy.hdl.multiplier as mul

    comp = build("multiplier", a="e4m3", out="e4m3", fmax=205)
    assert "round" in comp.plan.registered
    monkeypatch.setattr(mul, "Pipeline", Skipping)
    res = prove_unit("multiplier", {"a": "e4m3", "out": "e4m3", "fmax": 205},
                     tmp_path / "proof", timeout=240)
    assert res.status == "FAIL", res.line()
    assert res.failed_ports == ("y",)


def test_fine_rounder_checks_rounding():
    """The rounder's fmax path names a bad rounding mode as the latency path does."""
    from amaranth.hdl import Const, Module

    from exmy.golden import parse_format
    from exmy.hdl.rounding import round_encode
    from exmy.hdl.timing import Probe

    m = Module()
    pipe = Pipeline(m, plan=Probe())
    with pytest.raises(ValueError, match=r"^Rounding mode must be one of .*, not 'bogus'$"):
        round_encode(m, parse_format("e4m3"), sign=Const(0, 1), sig=Const(0, 8),
                     exp=Const(0, 6), is_nan=Const(0, 1), is_inf=Const(0, 1),
                     rounding="bogus", pipe=pipe)
