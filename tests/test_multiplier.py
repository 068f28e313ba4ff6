"""Multiplier: argument validation, the exact product format, golden vs ml_dtypes and
Berkeley SoftFloat, hardware vs golden (Amaranth simulator, Icarus and Verilator)."""

import numpy as np
import pytest

from exmy.golden import (
    CATALOG,
    FloatFormat,
    catalog_formats,
    decode,
    describe,
    encode,
    exact_product_format,
    multiply,
)
from exmy.hdl.multiplier import IntMultiplier, Multiplier

from hwtest import assert_ok
from oracles import (
    ml_encode,
    ml_values,
    sf_f16_mul,
    sf_f32_mul,
    sf_f32_to_bf16,
    sf_is_nan16,
    sf_is_nan_bf16,
)

F32 = CATALOG["float32"]
SMALL = [f for f in catalog_formats(8) if f.zero]  # e8m0fnu (no zero) is a scale, not an operand


# -- argument validation -----------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, exc, msg",
    [
        (("e4m3fn", "int8"), {}, ValueError, "Operand b format must be a float format, not int8"),
        (("e4m3fn", "e4m3fn", "int8"), {}, ValueError,
         "Output format must be a float format, not int8"),
        (("e8m0fnu", "e4m3fn"), {}, ValueError,
         "Multiplier operand a format e8m0fnu has no zero"),
        (("e4m3fn", "e4m3fn", "e4m3fn"), {"rounding": "stochastic"}, ValueError,
         "Stochastic rounding needs rand_bits"),
        (("e4m3fn", "e4m3fn", "e4m3fn"), {"rounding": "rne", "rand_bits": 4}, ValueError,
         "rand_bits=4 is only meaningful with rounding='stochastic'"),
        (("e4m3fn", "e4m3fn", "e4m3fn"), {"rounding": "up"}, ValueError,
         "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'"),
        (("e4m3fn", "e4m3fn"), {"rounding": "rtz"}, ValueError,
         "The exact multiplier does not round"),
        (("e4m3fn", "e4m3fn"), {"latency": -1}, ValueError,
         "Latency must be a non-negative integer, not -1"),
        (("e4m3fn", "e4m3fn"), {"latency": 1.5}, TypeError,
         "Latency must be a non-negative integer, not 1.5"),
        (("e4m3fn", "e4m3fn"), {"saturate": "yes"}, TypeError, "saturate must be a bool"),
        ((3, "e4m3fn"), {}, TypeError, "Operand a format must be a format name or object"),
        (("e4m3q", "e4m3fn"), {}, ValueError, "Unknown format 'e4m3q'"),
    ],
)
def test_multiplier_validation(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
        Multiplier(*args, **kwargs)


def test_golden_multiply_validation():
    with pytest.raises(ValueError, match="needs more than 11 exponent or 23 mantissa bits"):
        exact_product_format(CATALOG["float32"], CATALOG["float32"])
    with pytest.raises(ValueError, match="Stochastic rounding needs rand_bits"):
        multiply([0], [0], "e4m3fn", "e4m3fn", "e4m3fn", rounding="stochastic")


def test_int_multiplier_validation():
    with pytest.raises(ValueError, match="Operand a format must be an integer format, not e4m3fn"):
        IntMultiplier("e4m3fn", "int8")


# -- properties: the exact product format ----------------------------------------------------
def _all_pairs(fa, fb):
    a, b = np.meshgrid(np.arange(1 << fa.width, dtype=np.uint64),
                       np.arange(1 << fb.width, dtype=np.uint64))
    return a.ravel(), b.ravel()


EXACT_PAIRS = [(f, f) for f in SMALL] + [
    (CATALOG["e4m3fn"], CATALOG["e5m2"]),  # asymmetric OCP pair
    (CATALOG["e2m1fn"], CATALOG["e4m3fn"]),  # FP4 weights x FP8 activations
]


@pytest.mark.parametrize("fa, fb", EXACT_PAIRS, ids=lambda f: str(f))
def test_exact_product_format_is_exact_and_smallest(fa, fb):
    fe = exact_product_format(fa, fb)
    a, b = _all_pairs(fa, fb)
    y = multiply(a, b, fa, fb)
    # no product is rounded: the float32 product (exact for these widths) equals y's value
    with np.errstate(all="ignore"):
        p = ml_values(a, fa) * ml_values(b, fb)
    yv = encode(decode(y, fe), F32).astype(np.uint32).view(np.float32)
    same = (yv == p) & (np.signbit(yv) == np.signbit(p))
    assert np.all(same | (np.isnan(yv) & np.isnan(p)))
    # one exponent bit fewer, or one mantissa bit fewer, rounds or overflows some product
    for narrower in (
        FloatFormat(fe.exp_bits - 1, fe.man_bits, bias=fe.bias, special=fe.special)
        if fe.exp_bits > 2 else None,
        FloatFormat(fe.exp_bits, fe.man_bits - 1, bias=fe.bias + 1, special=fe.special),
        FloatFormat(fe.exp_bits, fe.man_bits, bias=fe.bias - 1, special=fe.special),
    ):
        if narrower is None:
            continue
        z = multiply(a, b, fa, fb, narrower)
        zv = encode(decode(z, narrower), F32).astype(np.uint32).view(np.float32)
        assert np.any((zv != p) & ~np.isnan(p)), narrower


# -- golden vs ml_dtypes: every pair ---------------------------------------------------------
@pytest.mark.parametrize(
    "fa, fb, fo",
    [(f, f, f) for f in SMALL]
    + [(CATALOG["e4m3fn"], CATALOG["e5m2"], CATALOG["e4m3fn"]),
       (CATALOG["e4m3fn"], CATALOG["e5m2"], CATALOG["e5m2"])],
    ids=lambda f: str(f),
)
def test_golden_multiply_every_pair_matches_ml_dtypes(fa, fb, fo):
    a, b = _all_pairs(fa, fb)
    with np.errstate(all="ignore"):
        p = ml_values(a, fa) * ml_values(b, fb)  # exact in float32
    ref = ml_encode(p, fo)
    got = multiply(a, b, fa, fb, fo)
    refv, gotv = ml_values(ref, fo), ml_values(got, fo)
    ok = (got == ref) | (np.isnan(refv) & np.isnan(gotv))
    ok |= np.isnan(p) & (not fo.has_nan) & (got == 0)  # SPEC 2.5 exemption (+0 vs -0)
    bad = np.nonzero(~ok)[0]
    assert len(bad) == 0, [
        f"{describe(a[i], fa)} x {describe(b[i], fb)}: exmy {describe(got[i], fo)} "
        f"ml_dtypes {describe(ref[i], fo)}" for i in bad[:5]
    ]


# -- golden vs Berkeley SoftFloat ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
def test_golden_float16_multiply_matches_softfloat(mode):
    rng = np.random.default_rng(16)
    n = 1_000_000
    a = rng.integers(0, 1 << 16, n, dtype=np.uint64)
    # half the pairs with exponents near each other's reciprocal: products near 1, the
    # subnormal range and overflow all get hit
    b = rng.integers(0, 1 << 16, n, dtype=np.uint64)
    ea = (a >> 10) & 0x1F
    eb_near = np.clip(30 - ea.astype(np.int64) + rng.integers(-12, 13, n), 0, 31)
    b[: n // 2] = (b[: n // 2] & 0x83FF) | (eb_near[: n // 2].astype(np.uint64) << 10)
    f16 = CATALOG["float16"]
    got = multiply(a, b, f16, f16, f16, rounding=mode)
    ref = sf_f16_mul(a, b, mode)
    ok = (got == ref) | (sf_is_nan16(got) & sf_is_nan16(ref))
    bad = np.nonzero(~ok)[0]
    assert len(bad) == 0, [
        f"{mode}: {describe(a[i], f16)} x {describe(b[i], f16)}: exmy {describe(got[i], f16)} "
        f"SoftFloat {describe(ref[i], f16)}" for i in bad[:5]
    ]


@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
def test_golden_bfloat16_multiply_matches_softfloat(mode):
    """bfloat16 x bfloat16 through SoftFloat's float32 product (exact: operand exponents
    are kept so the product cannot underflow float32; overflowing products are rounded by
    f32_mul in the same mode, which gives the same answer as rounding the exact value) and
    SoftFloat's f32_to_bf16."""
    rng = np.random.default_rng(17)
    n = 1_000_000
    bf = CATALOG["bfloat16"]

    def operand():
        x = rng.integers(0, 1 << 16, n, dtype=np.uint64)
        e = rng.integers(127 - 62, 255, n).astype(np.uint64)  # up to Inf/NaN, no underflow
        return (x & 0x807F) | (e << 7)

    a, b = operand(), operand()
    a[:4] = [0x0000, 0x8000, 0x7F80, 0x7FC0]  # +0, -0, Inf, NaN
    b[:4] = [0xFF80, 0x4000, 0x0000, 0x3F80]
    p = sf_f32_mul(a << 16, b << 16, mode)
    ref = sf_f32_to_bf16(p, mode)
    got = multiply(a, b, bf, bf, bf, rounding=mode)
    ok = (got == ref) | (sf_is_nan_bf16(got) & sf_is_nan_bf16(ref))
    bad = np.nonzero(~ok)[0]
    assert len(bad) == 0, [
        f"{mode}: {describe(a[i], bf)} x {describe(b[i], bf)}: exmy {describe(got[i], bf)} "
        f"SoftFloat {describe(ref[i], bf)}" for i in bad[:5]
    ]


# -- hardware vs golden ----------------------------------------------------------------------

#: the Amaranth simulator is the slowest of the three (about 20 s a format): the default tier
#: runs one rounded and one exact format on it, the slow tier every format (Icarus and
#: Verilator run every format exhaustively in the default tier below)
_AMARANTH_DEFAULT = {("e4m3", False), ("e5m2", True)}


@pytest.mark.parametrize("fmt, exact", [
    pytest.param(f, x, id=f"{'exact' if x else 'rounded'}-{f}",
                 marks=() if (str(f), x) in _AMARANTH_DEFAULT else pytest.mark.slow)
    for x in (False, True) for f in SMALL
])
def test_hw_amaranth_exhaustive(fmt, exact):
    from exmy.sim.check import check

    comp = Multiplier(fmt, fmt, None if exact else fmt)
    res = check(comp, "amaranth", mode="exhaustive")
    assert res.exhaustive and res.vectors == 1 << (2 * fmt.width)
    assert_ok(res)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("latency", [0, 2])
@pytest.mark.parametrize("fmt", SMALL, ids=str)
@pytest.mark.parametrize("exact", [False, True], ids=["rounded", "exact"])
def test_hw_verilog_exhaustive(fmt, exact, latency, simulator, tmp_path):
    from exmy.sim.check import check

    comp = Multiplier(fmt, fmt, None if exact else fmt, latency=latency)
    assert comp.latency == latency
    res = check(comp, simulator, mode="exhaustive", build_dir=tmp_path)
    assert res.vectors == 1 << (2 * fmt.width)
    assert_ok(res)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize(
    "fa, fb, fo, kw",
    [
        ("e4m3fn", "e4m3fn", "e4m3fn", dict(rounding="rtz")),
        ("e4m3fn", "e4m3fn", "e4m3fn", dict(rounding="rna")),
        ("e4m3fn", "e4m3fn", "e4m3fn", dict(rounding="stochastic", rand_bits=6)),
        ("e5m2", "e5m2", "e5m2", dict(rounding="rtz")),
        ("e5m2", "e5m2", "e5m2", dict(rounding="rna")),
        ("e5m2", "e5m2", "e5m2", dict(rounding="stochastic", rand_bits=6)),
        ("e5m2", "e5m2", "e5m2", dict(saturate=True)),
        ("e4m3fn", "e5m2", "e4m3fn", dict(latency=1)),  # asymmetric operands
        ("e4m3fn", "e5m2", None, {}),
        ("e2m1fn", "e4m3fn", "bfloat16", {}),  # widening output
    ],
    ids=str,
)
def test_hw_verilog_modes_exhaustive(fa, fb, fo, kw, simulator, tmp_path):
    from exmy.sim.check import check

    comp = Multiplier(fa, fb, fo, **kw)
    res = check(comp, simulator, mode="exhaustive", build_dir=tmp_path, seed=3)
    assert_ok(res)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_hw_verilog_wide_random(fmt, simulator, tmp_path):
    from exmy.sim.check import check

    comp = Multiplier(fmt, fmt, fmt, latency=2)
    res = check(comp, simulator, mode="random", n=200_000, build_dir=tmp_path, seed=5)
    assert_ok(res)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("fa, fb", [("int8", "int8"), ("uint8", "int4"), ("uint4", "uint4")])
def test_hw_int_multiplier(fa, fb, simulator, tmp_path):
    from exmy.sim.check import check

    res = check(IntMultiplier(fa, fb), simulator, mode="exhaustive", build_dir=tmp_path)
    assert_ok(res)


@pytest.mark.parametrize("fa, fb, fo, rounding",
                         [("e4m3fn", "e4m3fn", "e4m3fn", "rne"), ("e5m2", "e4m3fn", None, "rne"),
                          ("e2m1fn", "e3m2fn", "e2m1fn", "rtz")], ids=str)
def test_golden_product_table_equals_direct_path(fa, fb, fo, rounding):
    """The memoised table (used for large batches of small formats) and the direct path
    give the same bits, in any order of operands."""
    from exmy.golden import parse_format
    from exmy.golden.ops import _multiply_direct

    fa, fb = parse_format(fa), parse_format(fb)
    fo_ = exact_product_format(fa, fb) if fo is None else parse_format(fo)
    rng = np.random.default_rng(9)
    a = rng.integers(0, 1 << fa.width, 200_000, dtype=np.uint64)
    b = rng.integers(0, 1 << fb.width, 200_000, dtype=np.uint64)
    table = multiply(a, b, fa, fb, fo, rounding=rounding)
    direct = _multiply_direct(a, b, fa, fb, fo_, rounding, False, None, None)
    assert np.array_equal(table, direct)
