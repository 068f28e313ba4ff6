"""Dot-product hardware (``exmy.hdl.dot``: ``Dot``, ``MXDot``) against the golden model
(``exmy.golden.dot`` / ``exmy.golden.mx``) on Icarus and Verilator (cocotb), argument
validation, and the CLI (``exmy generate|simulate dot|mx-dot``, ``exmy quantize``).

Tiers. Default: the 2-lane e2m1fn dot exhaustively (2^16 inputs) on Verilator and Icarus;
``mx-dot`` MXFP4 and NVFP4 with 3,000 blocks each on Icarus, e4m3fn with 20,000 blocks on
Verilator; accumulate mode 5,000 cycles on Icarus; pipelined, addend, integer, fnuz and
mixed-format points on Icarus (durations in docs/results/mx_dot.md). ``-m slow``: 100,000
blocks per element format and NVFP4 on Verilator and on Icarus; accumulate mode 5,000 cycles
on Verilator and 100,000 cycles (dot and mx-dot) on both; every input space of at most 2^24
exhaustively on Verilator (3-lane E2M1 and 2-lane E3M2 x E2M3 dots, k = 1 MXFP4 and NVFP4
blocks under every scale pair).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from exmy.cli.main import main
from exmy.golden.mx import mx_dequantize, mx_quantize
from exmy.hdl.dot import Dot, MXDot
from exmy.hdl.registry import build
from exmy.sim.check import check, stimulus_for

from hwtest import assert_ok, cli_error, esc, need

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

ELEMS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
         "mxint8"]
SIMS = ["verilator", "icarus"]


def _mx(elem):
    if elem == "nvfp4":
        return MXDot("float4_e2m1fn", scale_fmt="float8_e4m3fn")
    return MXDot(elem)


# -- hardware = golden ---------------------------------------------------------------------
@pytest.mark.parametrize("sim", SIMS)
def test_dot_e2m1fn_2_lanes_exhaustive(sim, tmp_path):
    need(sim)
    res = check(Dot("e2m1fn", "e2m1fn", 2), sim, build_dir=tmp_path)
    assert_ok(res)
    assert res.exhaustive and res.vectors == 1 << 16


# default tier: one MX format and NVFP4 on Icarus (a k = 32 unit simulates slowly there);
# every element format runs on both simulators at 100k blocks in the slow tier (below)
@pytest.mark.parametrize("elem", ["float4_e2m1fn", "nvfp4"])
def test_mx_dot_icarus(elem, tmp_path):
    need("icarus")
    comp = _mx(elem)
    res = check(comp, "icarus", n=3000, seed=1, build_dir=tmp_path)
    assert_ok(res)
    assert res.vectors == 3000 and comp.block == (16 if elem == "nvfp4" else 32)


def test_mx_dot_verilator(tmp_path):
    need("verilator")
    assert_ok(check(MXDot("float8_e4m3fn"), "verilator", n=20_000, seed=2, build_dir=tmp_path))


@pytest.mark.parametrize("sim", [
    "icarus", pytest.param("verilator", marks=pytest.mark.slow)])
@pytest.mark.parametrize("comp", [
    lambda: Dot("e5m2", "e5m2", 4, accumulate=True, latency=3),
    lambda: MXDot("float4_e2m1fn", scale_fmt="float8_e4m3fn", accumulate=True, latency=2),
], ids=["dot-e5m2", "nvfp4"])
def test_accumulate(sim, comp, tmp_path):
    need(sim)
    assert_ok(check(comp(), sim, n=5000, seed=3, build_dir=tmp_path))


@pytest.mark.parametrize("comp", [
    lambda: Dot("e4m3fn", "e5m2", 3, fmt_c="bfloat16", latency=2),
    lambda: Dot("int8", "uint4", 3, fmt_out="bfloat16", rounding="rtz"),
    lambda: Dot("e4m3fnuz", "e3m4", 3, fmt_out="e4m3fnuz", rounding="rna", latency=1),
    lambda: MXDot("e5m2", "e3m2fn", 8, fmt_out="bfloat16", latency=3),
    lambda: MXDot("mxint8", accumulate=True, latency=2, saturate_acc=True, acc_bits=560),
], ids=["addend-pipelined", "int-rtz", "fnuz-rna", "mixed-mx-pipelined", "mxint8-acc-sat"])
def test_other_points_icarus(comp, tmp_path):
    need("icarus")
    c = comp()
    n = 500 if c.accumulate else 2000  # a 560-bit accumulator simulates slowly on Icarus
    assert_ok(check(c, "icarus", n=n, seed=4, build_dir=tmp_path))


# every input space of at most 2^24 that the acceptance names: the 2-lane dot of the 6-bit
# formats, the 3-lane E2M1 dot, and k = 1 MXFP4 / NVFP4 blocks under every scale pair
@pytest.mark.slow
@pytest.mark.parametrize("comp", [
    lambda: Dot("e2m1fn", "e2m1fn", 3),
    lambda: Dot("e3m2fn", "e2m3fn", 2),
    lambda: MXDot("e2m1fn", block=1),
    lambda: MXDot("e2m1fn", block=1, scale_fmt="e4m3fn"),
], ids=["dot-e2m1-3", "dot-e3m2-e2m3-2", "mx-e2m1-k1", "nvfp4-k1"])
def test_exhaustive_2_24(comp, tmp_path):
    need("verilator")
    res = check(comp(), "verilator", mode="exhaustive", build_dir=tmp_path)
    assert_ok(res)
    assert res.exhaustive and res.vectors == 1 << 24


def test_exhaustive_too_large():
    with pytest.raises(ValueError, match=esc(
            "Exhaustive checking of 32 input bits is too large (max 24)")):
        stimulus_for(MXDot("e4m3fn", block=1), mode="exhaustive")


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("elem", ELEMS + ["nvfp4"])
def test_mx_dot_100k(elem, sim, tmp_path):
    need(sim)
    res = check(_mx(elem), sim, n=100_000, seed=5, build_dir=tmp_path)
    assert_ok(res)
    assert res.vectors == 100_000


@pytest.mark.slow
@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("comp", [
    lambda: Dot("e4m3fn", "e4m3fn", 8, accumulate=True),
    lambda: MXDot("float8_e4m3fn", accumulate=True, latency=3),
    lambda: MXDot("float4_e2m1fn", scale_fmt="float8_e4m3fn", accumulate=True),
], ids=["dot-e4m3fn", "mx-e4m3fn", "nvfp4"])
def test_accumulate_100k(sim, comp, tmp_path):
    need(sim)
    res = check(comp(), sim, n=100_000, seed=6, build_dir=tmp_path)
    assert_ok(res)
    assert res.vectors == 100_000


# -- properties and validation ---------------------------------------------------------------
def test_ports_and_sidecar_numbers():
    d = MXDot("e4m3fn", accumulate=True)
    meta = d.extra_metadata()
    assert meta["block"] == 32 and meta["acc_lsb_exp"] == -18 - 254
    assert meta["acc_bits"] == d.params_obj.acc_bits == len(d.acc)
    assert len(d.scale_a.as_value()) == 8 and len(d.y.as_value()) == 32
    assert not hasattr(MXDot("e4m3fn"), "acc")
    dd = Dot("e2m1fn", "e2m1fn", 3)
    assert [hasattr(dd, f"a{i}") for i in range(4)] == [True, True, True, False]
    assert dd.latency == 0 and Dot("e2m1fn", "e2m1fn", 3, accumulate=True).latency == 1


@pytest.mark.parametrize("make, exc, msg", [
    (lambda: Dot("e4m3fn", "e4m3fn", 0), ValueError,
     "Lane count must be a positive integer, not 0"),
    (lambda: Dot("e4m3fn", "e4m3fn", True), TypeError,
     "Lane count must be a positive integer, not True"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, fmt_c="bfloat16", accumulate=True), ValueError,
     "An accumulating dot product has no addend c"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, depth=5), ValueError,
     "depth and acc_bits apply only with accumulate=True"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, saturate_acc=True), ValueError,
     "saturate_acc applies only with accumulate=True"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, accumulate=True, latency=0), ValueError,
     "Accumulating dot latency must be at least 1, not 0"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, accumulate=True, latency=4), ValueError,
     "Accumulating dot latency must be at most 3"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, accumulate="yes"), TypeError,
     "accumulate must be a bool, not 'yes'"),
    (lambda: Dot("e4m3fn", "e4m3fn", 2, fmt_out="int8"), ValueError,
     "dot output format must be a float format, not int8"),
    (lambda: MXDot("e8m0fnu"), ValueError,
     "MX element format e8m0fnu is a block-scale format (it has no zero)"),
    (lambda: MXDot("e4m3fn", block=0), ValueError,
     "Block size must be a positive integer, not 0"),
    (lambda: MXDot("e4m3fn", scale_fmt="e5m2"), ValueError,
     "Block-scale format must be float8_e8m0fnu (OCP MX) or float8_e4m3fn (NVFP4), not e5m2"),
    (lambda: MXDot("e4m3fn", rounding="stochastic"), ValueError,
     "Dot-product rounding must be one of rne, rtz, rna, not 'stochastic'"),
    (lambda: build("dot", a="e4m3fn"), ValueError, "Unit 'dot' needs a lane count (--lanes N)"),
    (lambda: build("dot", lanes=2), ValueError, "Unit 'dot' needs an operand format (--a)"),
    (lambda: build("mx-dot"), ValueError, "Unit 'mx-dot' needs an element format (--elem)"),
    (lambda: build("dot", a="e4m3fn", lanes=2, c="e4m3fn", accumulate=True), ValueError,
     "Unit 'dot' takes --c or --accumulate, not both"),
])
def test_validation(make, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        make()


# -- CLI -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, msg", [
    (["dot", "--a", "e4m3fn", "--lanes", "0"], "Lane count must be a positive integer, not 0"),
    (["mx-dot", "--elem", "e4m3fn", "--block", "0"],
     "Block size must be a positive integer, not 0"),
    (["mx-dot", "--elem", "e4m3fn", "--block", "-3"],
     "Block size must be a positive integer, not -3"),
    (["mx-dot", "--elem", "e8m0fnu"], "MX element format e8m0fnu is a block-scale format"),
    (["mx-dot", "--elem", "e4m3fn", "--scale", "bfloat16"],
     "Block-scale format must be float8_e8m0fnu (OCP MX) or float8_e4m3fn (NVFP4), not "
     "bfloat16: these two are the standards' scales"),
    (["dot", "--a", "e4m3fn", "--lanes", "2", "--c", "bfloat16", "--accumulate"],
     "Unit 'dot' takes --c or --accumulate, not both"),
    (["mx-dot", "--elem", "e4m3fn", "--lanes", "2"], "Unit 'mx-dot' does not take --lanes"),
])
def test_cli_errors(args, msg, capsys, tmp_path):
    assert main(["generate", *args, "-o", str(tmp_path / "x.v")]) == 2
    line = cli_error(capsys)
    assert line.startswith("exmy generate: error: ") and msg in line


def test_cli_generate_sidecar(tmp_path, capsys):
    out = tmp_path / "m.v"
    assert main(["generate", "mx-dot", "--elem", "e2m1fn", "--scale", "e4m3fn",
                 "--accumulate", "-o", str(out)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["block"] == 16 and meta["latency"] == 1 and meta["acc_lsb_exp"] == -20
    assert {"scale_a", "scale_b", "a15", "b15", "valid", "clear", "acc", "flags", "y"} <= set(
        meta["ports"])
    assert meta["ports"]["scale_a"]["format"] == "float8_e4m3fn"


def test_cli_simulate(capsys):
    need("icarus")
    assert main(["simulate", "dot", "--a", "e2m1fn", "--lanes", "2", "--b", "e2m1fn",
                 "--simulator", "icarus", "--vectors", "500"]) == 0
    assert "0 mismatches" in capsys.readouterr().out


def test_cli_quantize_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for extra, elem, block, scale in [([], "float8_e4m3fn", 32, "float8_e8m0fnu"),
                                      (["--scale", "e4m3fn"], "float4_e2m1fn", 16, "e4m3fn")]:
        q, y = tmp_path / "q.npz", tmp_path / "y.npy"
        assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(q), *extra]) == 0
        z = np.load(q)
        s, e = mx_quantize(x, elem, block, scale)
        assert np.array_equal(z["scales"], s) and np.array_equal(z["elems"], e)
        assert main(["quantize", str(q), "-o", str(y)]) == 0
        assert np.array_equal(np.load(y), mx_dequantize(s, e, elem, block, scale))


@pytest.mark.parametrize("setup, args, msg", [
    (lambda p: np.save(p / "x.npy", np.zeros((2, 32))), ["x.npy", "-o", "q.npz"],
     "holds float64, not float32"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 30), np.float32)), ["x.npy", "-o", "q.npz"],
     "The last axis (30) must be a multiple of the block size 32"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 32), np.float32)),
     ["x.npy", "-o", "q.npz", "--block", "0"], "Block size must be a positive integer, not 0"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 32), np.float32)),
     ["x.npy", "-o", "q.npz", "--elem", "e8m0fnu"], "is a block-scale format"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 32), np.float32)),
     ["x.npy", "-o", "q.npz", "--scale", "e5m2"], "Block-scale format must be float8_e8m0fnu"),
    (lambda p: None, ["nope.npy", "-o", "q.npz"], "does not exist"),
    (lambda p: (p / "x.txt").write_text("1"), ["x.txt", "-o", "q.npz"],
     "input must be a .npy (to quantize) or .npz (to dequantize)"),
    (lambda p: np.savez(p / "z.npz", a=np.zeros(3)), ["z.npz", "-o", "y.npy"],
     "is not an exmy quantize .npz (missing scales, elems"),
    (lambda p: np.savez(p / "z.npz", a=np.zeros(3)), ["z.npz", "-o", "y.npy", "--block", "16"],
     "--block applies when quantizing a .npy"),
])
def test_cli_quantize_errors(setup, args, msg, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    assert main(["quantize", *args]) == 2
    line = cli_error(capsys)
    assert line.startswith("exmy quantize: error: ") and msg in line
