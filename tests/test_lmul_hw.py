"""L-Mul hardware (``exmy.hdl.lmul.LMul``): argument validation (same messages as the golden
model), properties, and the hardware against the golden ``lmul`` on the Amaranth simulator,
Icarus and Verilator (cocotb).

Tiers (measured on 2 busy cores): the default run checks every catalog format <= 8 bits with
M >= 1 on Icarus in two complementary parameter points each (together all 16 points of
form x offset x saturate x latency 0/1), four points on Verilator, one point per format on
the Amaranth simulator, the widened/odd output formats, and 100k random vectors of bfloat16
and float16. ``-m slow`` runs the full cross product on Icarus and Verilator (320 exhaustive
builds) and 1M random vectors of bfloat16 and float16 per form.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from exmy import golden
from exmy.golden import catalog_formats
from exmy.hdl.lmul import LMul, lmul_l, lmul_offset
from exmy.hdl.registry import build
from exmy.hdl.verilog import port_table, to_verilog
from exmy.sim import lint_verilog

from hwtest import assert_ok, esc, need

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

#: every catalog format of 8 bits or fewer that L-Mul takes (M >= 1: e8m0fnu has no mantissa)
FORMATS = [f for f in catalog_formats(8) if f.man_bits >= 1]
#: the 16 parameter points (form, offset, saturate, latency); index bits 8/4/2/1
POINTS = list(itertools.product(["adder", "formula"], ["lmul", "pam"], [False, True], [0, 1]))





# -- argument validation: same messages as golden lmul --------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, exc, msg",
    [
        (("e8m0fnu",), {}, ValueError,
         "L-Mul input format must have at least 1 mantissa bit, not 0 (e8m0fnu): with M = 0 "
         "there is no mantissa to add"),
        (("e3m0-none",), {}, ValueError,
         "L-Mul input format must have at least 1 mantissa bit, not 0"),
        (("int8",), {}, ValueError,
         "L-Mul input format must be a float format, not the integer format int8"),
        ((3,), {}, TypeError, "L-Mul input format must be a FloatFormat or a format name, not 3"),
        (("e4m3q",), {}, ValueError, "Unknown format 'e4m3q'"),
        (("e4m3fn", "e5m2"), {}, ValueError,
         "L-Mul output format must have the input's mantissa width, not e5m2 (M = 2) for input "
         "e4m3fn (M = 3); only the exponent may be widened"),
        (("e4m3fn", "uint8"), {}, ValueError,
         "L-Mul output format must be a float format, not the integer format uint8"),
        (("e4m3fn", "e8m0fnu"), {}, ValueError,
         "L-Mul output format must have at least 1 mantissa bit, not 0 (e8m0fnu)"),
        (("e4m3fn",), {"form": "booth"}, ValueError,
         "L-Mul form must be one of adder, formula, not 'booth'"),
        (("e4m3fn",), {"form": 1}, TypeError, "L-Mul form must be a string, not 1"),
        (("e4m3fn",), {"offset": "mitchell"}, ValueError,
         "L-Mul offset must be one of lmul, pam, not 'mitchell'"),
        (("e4m3fn",), {"offset": None}, TypeError, "L-Mul offset must be a string, not None"),
        (("e4m3fn",), {"saturate": "yes"}, TypeError, "saturate must be a bool, not 'yes'"),
    ],
)
def test_validation_matches_golden(args, kwargs, exc, msg):
    with pytest.raises(exc, match=esc(msg)) as hw:
        LMul(*args, **kwargs)
    with pytest.raises(exc) as gold:
        golden.lmul(np.zeros(1, np.uint64), np.zeros(1, np.uint64), *args, **kwargs)
    assert str(hw.value) == str(gold.value)


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"latency": -1}, ValueError, "Latency must be a non-negative integer, not -1"),
        ({"latency": 1.5}, TypeError, "Latency must be a non-negative integer, not 1.5"),
        ({"latency": True}, TypeError, "Latency must be a non-negative integer, not True"),
    ],
)
def test_latency_validation(kwargs, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        LMul("e4m3fn", **kwargs)


def test_registry_validation():
    with pytest.raises(ValueError, match=esc("Unit 'lmul' needs an operand format (--a)")):
        build("lmul")
    with pytest.raises(ValueError, match="Unit 'lmul' does not take --b; it takes --a, --out, "
                       "--form, --offset, --saturate, --latency, --target, --fmax"):
        build("lmul", a="e4m3fn", b="e4m3fn")


# -- properties ------------------------------------------------------------------------------
def test_offset_constants():
    # SPEC 3.4: l(m) = m (m <= 3), 3 (m = 4), 4 (m > 4); offset 2^(M - l(M)) LSBs, pam 0
    assert [lmul_l(m) for m in range(1, 9)] == [1, 2, 3, 3, 4, 4, 4, 4]
    assert [lmul_offset(m) for m in (1, 3, 4, 5, 7, 10)] == [1, 1, 2, 2, 8, 64]
    assert lmul_offset(7, "pam") == 0


@pytest.mark.parametrize("latency", [0, 1, 2, 3])
def test_properties(latency):
    comp = LMul("e4m3fn", "e6m3", form="formula", offset="pam", saturate=True, latency=latency)
    assert comp.latency == latency and comp.has_clock == (latency > 0)
    assert comp.params == {"a": "e4m3fn", "out": "e6m3", "form": "formula", "offset": "pam",
                           "saturate": True, "latency": latency}
    assert comp.module_name == f"lmul_e4m3fn_e6m3_formformula_offsetpam_sat_l{latency}"
    assert [str(comp.port_formats[p]) for p in ("a", "b", "y")] == ["e4m3fn", "e4m3fn", "e6m3"]
    ports = port_table(comp, to_verilog(comp, comp.module_name))
    assert {p: d["width"] for p, d in ports.items() if p not in ("clk", "rst")} == {
        "a": 8, "b": 8, "y": 10}
    assert ("clk" in ports) == (latency > 0)


def test_default_output_is_input_and_registry_builds_same_unit():
    comp = LMul("bfloat16")
    assert comp.fmt_out == comp.fmt and comp.params["out"] is None
    # giving the input format as output is the same unit (canonical params)
    assert LMul("bfloat16", "bfloat16").module_name == comp.module_name
    via = build("lmul", a="bfloat16", saturate=True, latency=2, form="formula")
    assert via.module_name == LMul("bfloat16", form="formula", saturate=True,
                                   latency=2).module_name


@pytest.mark.parametrize("kw", [{}, {"form": "formula", "latency": 2, "fmt_out": "e6m3"}])
def test_verilog_lints_clean(kw, tmp_path):
    need("verilator")
    comp = LMul("e4m3fn", **kw)
    lint_verilog(to_verilog(comp, comp.module_name), comp.module_name, tmp_path)


def test_sampled_stimulus_hits_both_exponent_edges():
    from exmy.sim.check import stimulus_for

    comp = LMul("bfloat16")
    inputs, full = stimulus_for(comp, "auto", 30_000, seed=1)
    assert not full and len(inputs["a"]) == 30_000
    a, b = inputs["a"], inputs["b"]
    y = golden.lmul(a, b, comp.fmt)
    field = lambda c: (c >> np.uint64(7)) & np.uint64(0xFF)  # noqa: E731
    normal = (field(a) > 0) & (field(a) < 255) & (field(b) > 0) & (field(b) < 255)
    flushed = normal & ((y & np.uint64(0x7FFF)) == 0)
    overflow = normal & ((y & np.uint64(0x7FFF)) == 0x7F80)
    # near each edge, both outcomes occur: the carry decides
    assert flushed.sum() > 1000 and overflow.sum() > 1000
    assert (normal & ~flushed & (field(y) <= 2)).sum() > 500
    assert (normal & ~overflow & (field(y) >= 253)).sum() > 500


# -- hardware vs golden: Amaranth simulator ------------------------------------------------
def _point_params():
    """One parameter point per format on the Amaranth simulator, rotating through POINTS."""
    out = []
    for k, f in enumerate(FORMATS):
        pt = POINTS[(5 * k) % 16]
        out.append(pytest.param(f, *pt, id=f"{f}-{'-'.join(map(str, pt))}"))
    return out


@pytest.mark.parametrize("fmt, form, offset, saturate, latency", _point_params())
def test_hw_amaranth(fmt, form, offset, saturate, latency):
    from exmy.sim.check import check

    comp = LMul(fmt, form=form, offset=offset, saturate=saturate, latency=latency)
    # <= 6-bit formats exhaustively; 8-bit ones sampled (the Amaranth simulator manages a
    # few thousand vectors a second here; the Verilog simulators take the exhaustive runs)
    res = check(comp, "amaranth", mode="auto" if fmt.width <= 6 else "random", n=4096, seed=7)
    assert res.exhaustive == (fmt.width <= 6)
    assert_ok(res)


# -- hardware vs golden: cocotb, Icarus and Verilator, exhaustive --------------------------
def _cocotb_params():
    """The full cross product; default tier: on Icarus the points k and 15-k of the k-th
    format (complements: every point of POINTS at least once, every format in both forms,
    offsets, saturation modes and latencies), on Verilator points 0, 3, 6, 9 of formats
    0, 3, 6, 9."""
    out = []
    for k, f in enumerate(FORMATS):
        for i, pt in enumerate(POINTS):
            for sim in ("icarus", "verilator"):
                if sim == "icarus":
                    default = i in (k % 16, 15 - k % 16)
                else:
                    default = k % 3 == 0 and i == k
                marks = () if default else (pytest.mark.slow,)
                pid = f"{sim}-{f}-{'-'.join(map(str, pt))}"
                out.append(pytest.param(sim, f, *pt, marks=marks, id=pid))
    return out


@pytest.mark.parametrize("simulator, fmt, form, offset, saturate, latency", _cocotb_params())
def test_hw_verilog_exhaustive(simulator, fmt, form, offset, saturate, latency, tmp_path):
    from exmy.sim.check import check

    need(simulator)
    comp = LMul(fmt, form=form, offset=offset, saturate=saturate, latency=latency)
    res = check(comp, simulator, mode="exhaustive", build_dir=tmp_path)
    assert res.exhaustive and res.vectors == 1 << (2 * fmt.width)
    assert_ok(res)


#: output formats other than the input: widened exponent (no overflow), other specials and
#: biases, flush-to-zero and unsigned outputs, an unsigned input, a narrower exponent
OUT_POINTS = [
    ("e4m3fn", "e6m3", dict(latency=2)),  # widened: every product in range
    ("e5m2", "e8m2-fnuz", dict(saturate=True, latency=3)),  # fnuz out, latency > cuts
    ("e2m1fn", "e4m1-none-b3", {}),  # 'none' out with another bias
    ("e3m4", "e5m4-u", dict(form="formula")),  # unsigned out: negative -> NaN
    ("e3m3-u", "e4m3fn", {}),  # unsigned in
    ("e4m3", "e5m3-ftz", dict(offset="pam")),  # ftz out: flush path as before
    ("e4m3fn", "e3m3-fnuz-b2", dict(form="formula", offset="pam")),  # narrower exponent
]


@pytest.mark.parametrize(
    "simulator, fa, fo, kw",
    [pytest.param("icarus", *p, id=f"icarus-{p[0]}-{p[1]}") for p in OUT_POINTS]
    + [pytest.param("verilator", *p, id=f"verilator-{p[0]}-{p[1]}",
                    marks=() if i == 0 else (pytest.mark.slow,))
       for i, p in enumerate(OUT_POINTS)],
)
def test_hw_verilog_output_formats(simulator, fa, fo, kw, tmp_path):
    from exmy.sim.check import check

    need(simulator)
    res = check(LMul(fa, fo, **kw), simulator, mode="exhaustive", build_dir=tmp_path)
    assert_ok(res)


# -- hardware vs golden: wide formats, random ----------------------------------------------
WIDE = [
    ("bfloat16", dict(latency=1)),
    ("float16", dict(form="formula", offset="pam", saturate=True)),
]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("fmt, kw", WIDE, ids=[w[0] for w in WIDE])
def test_hw_verilog_wide_random(fmt, kw, simulator, tmp_path):
    from exmy.sim.check import check

    need(simulator)
    res = check(LMul(fmt, **kw), simulator, mode="random", n=100_000, build_dir=tmp_path,
                seed=11)
    assert_ok(res)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("form", ["adder", "formula"])
@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_hw_verilog_wide_random_1m(fmt, form, simulator, tmp_path):
    from exmy.sim.check import check

    need(simulator)
    comp = LMul(fmt, form=form, saturate=form == "formula", latency=1 if form == "adder" else 0)
    res = check(comp, simulator, mode="random", n=1_000_000, build_dir=tmp_path, seed=12)
    assert res.vectors == 1_000_000
    assert_ok(res)
