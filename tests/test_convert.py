"""Converter: validation, golden vs Berkeley SoftFloat / ml_dtypes / exact integers, hardware
vs golden (Amaranth simulator, Icarus, Verilator).

Tiers (default-tier time budget): 1M float32 vectors into E4M3FN, E5M2, E2M1FN and E8M0FNU and
every bfloat16 input into E4M3FN in each rounding mode on both simulators run by default; the
other 8-bit formats' 1M runs and the E5M2 modes run under ``-m slow``."""

from fractions import Fraction

import numpy as np
import pytest

from exmy.golden import CATALOG, catalog_formats, convert, describe, parse_format, to_fraction
from exmy.hdl.convert import Convert

from hwtest import assert_ok
from oracles import ml_encode, ml_values, sf_f32_to_bf16, sf_f32_to_f16, sf_is_nan16

F32 = CATALOG["float32"]
EIGHT_BIT = [f for f in catalog_formats(8)]


# -- argument validation -----------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, exc, msg",
    [
        (("int8", "int16"), {}, ValueError, "Conversion int8 -> int16 is int -> int"),
        (("e4m3fn", "int8"), {"rounding": "stochastic", "rand_bits": 4}, ValueError,
         "Rounding mode must be one of rne, rtz, rna, not 'stochastic'"),
        (("float32", "e4m3fn"), {"rounding": "stochastic", "rand_bits": 0}, ValueError,
         "rand_bits must be in 1..32, not 0"),
        (("float32", "e4m3fn"), {"rounding": "stochastic", "rand_bits": "8"}, TypeError,
         "rand_bits must be an integer"),
        (("float32", None), {}, TypeError, "Output format is required"),
        (("float32", "e4m3fn"), {"latency": 17}, ValueError,
         "Latency must be at most 16 pipeline stages, not 17"),
    ],
)
def test_convert_validation(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
        Convert(*args, **kwargs)


def test_ports_and_latency():
    c = Convert("float32", "e4m3fn", rounding="stochastic", rand_bits=8, latency=2)
    assert c.latency == 2
    assert set(c.signature.members) == {"a", "y", "rand"}
    assert c.module_name == "convert_float32_e4m3fn_stochastic_r8_l2"


# -- golden vs oracles -----------------------------------------------------------------------
def _f32_stimulus(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**32, n, dtype=np.uint64)
    # half of them with exponents around float16/bfloat16's range and its edges
    e = rng.integers(127 - 30, 127 + 20, n // 2).astype(np.uint64)
    x[: n // 2] = (x[: n // 2] & np.uint64(0x807FFFFF)) | (e << np.uint64(23))
    return x


@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
def test_golden_float32_to_float16_matches_softfloat(mode):
    x = _f32_stimulus(1_000_000, 1)
    got = convert(x, F32, "float16", rounding=mode)
    ref = sf_f32_to_f16(x, mode)
    ok = (got == ref) | (sf_is_nan16(got) & sf_is_nan16(ref))
    bad = np.nonzero(~ok)[0]
    f16 = CATALOG["float16"]
    assert len(bad) == 0, [f"{describe(x[i], F32)}: exmy {describe(got[i], f16)} SoftFloat "
                           f"{describe(ref[i], f16)}" for i in bad[:5]]


@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
def test_golden_float32_to_bfloat16_matches_softfloat(mode):
    x = _f32_stimulus(1_000_000, 2)
    x[:1000] = (x[:1000] & np.uint64(0x80FFFFFF))  # bfloat16 subnormal range
    got = convert(x, F32, "bfloat16", rounding=mode)
    ref = sf_f32_to_bf16(x, mode)
    nan = lambda c: ((c >> 7) & 0xFF == 0xFF) & (c & 0x7F != 0)  # noqa: E731
    ok = (got == ref) | (nan(got) & nan(ref))
    bad = np.nonzero(~ok)[0]
    bf = CATALOG["bfloat16"]
    assert len(bad) == 0, [f"{describe(x[i], F32)}: exmy {describe(got[i], bf)} SoftFloat "
                           f"{describe(ref[i], bf)}" for i in bad[:5]]


@pytest.mark.parametrize("fin", ["float16", "bfloat16"])
@pytest.mark.parametrize("fout", [f for f in EIGHT_BIT], ids=str)
def test_golden_16bit_to_small_matches_ml_dtypes(fin, fout):
    """Every float16/bfloat16 encoding into every small catalog format (RNE), vs ml_dtypes
    (the float32 widening is exact)."""
    fi = parse_format(fin)
    codes = np.arange(1 << 16, dtype=np.uint64)
    got = convert(codes, fi, fout)
    x = ml_values(codes, fi)
    ref = ml_encode(x, fout)
    ok = (got == ref) | (np.isnan(ml_values(got, fout)) & np.isnan(ml_values(ref, fout)))
    ok |= np.isnan(x) & (not fout.has_nan) & (got == 0)  # SPEC 2.5 exemption
    if fout.name == "e8m0fnu":  # ml_dtypes' subnormal quirk (see test_format.py)
        ok |= (np.abs(x) > 2.0**-127) & (np.abs(x) < 2.0**-126)
    bad = np.nonzero(~ok)[0]
    assert len(bad) == 0, [f"{describe(codes[i], fi)}: exmy {describe(got[i], fout)} "
                           f"ml_dtypes {describe(ref[i], fout)}" for i in bad[:5]]


def _round_fraction(v: Fraction, mode: str) -> int:
    fl = v.numerator // v.denominator
    rem = v - fl
    if mode == "rtz":
        return fl if v >= 0 else -((-v.numerator) // v.denominator)
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and (mode == "rna" and v > 0 or
                                                            mode == "rne" and fl % 2)):
        return fl + 1
    if mode == "rna" and rem == Fraction(1, 2) and v < 0:
        return fl
    return fl


@pytest.mark.parametrize("fin", ["e4m3fn", "e5m2", "e2m1fn", "float16"])
@pytest.mark.parametrize("fout", ["int8", "uint4", "int16"])
@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
def test_golden_float_to_int_matches_exact_rounding(fin, fout, mode):
    """Float -> int: exact rational value, rounded by a hand-written rule, clamped."""
    fi, fo = parse_format(fin), parse_format(fout)
    codes = np.arange(1 << fi.width, dtype=np.uint64)
    if fi.width > 8:
        codes = codes[::13]  # a spread sample of float16 (the Fraction check is slow)
    got = convert(codes, fi, fo, rounding=mode)
    for c, g in zip(codes.tolist(), got.tolist(), strict=True):
        v = to_fraction(c, fi)
        if isinstance(v, float):
            exp = 0 if np.isnan(v) else (fo.max_value if v > 0 else fo.min_value)
        else:
            exp = min(max(_round_fraction(v, mode), fo.min_value), fo.max_value)
        assert g == exp & ((1 << fo.bits) - 1), (describe(c, fi), g, exp)


@pytest.mark.parametrize("fin", ["int8", "uint8", "int4", "int16"])
@pytest.mark.parametrize("fout", ["e4m3fn", "e5m2", "e2m1fn", "float16"])
def test_golden_int_to_float_matches_ml_dtypes(fin, fout):
    fi = parse_format(fin)
    fo = parse_format(fout)
    codes = np.arange(1 << fi.width, dtype=np.uint64)
    vals = codes.astype(np.int64)
    if fi.signed:
        vals = np.where(vals >= 1 << (fi.bits - 1), vals - (1 << fi.bits), vals)
    got = convert(codes, fi, fo)
    ref = ml_encode(vals.astype(np.float32), fo)  # exact in float32, one RNE cast
    same = (got == ref) | (np.isnan(ml_values(got, fo)) & np.isnan(ml_values(ref, fo)))
    assert same.all(), [(int(vals[i]), describe(got[i], fo), describe(ref[i], fo))
                        for i in np.nonzero(~same)[0][:5]]


def test_golden_stochastic_rounding_is_unbiased_and_bit_exact():
    """SPEC 2.6: round up iff rand/2^R + d_R >= 1. 1 + 3/16 into e2m1fn (grid 0.5 near 1):
    d = 0.375 -> with R = 4, d_R = 6/16: exactly 6 of the 16 rand values round up."""
    x = np.array([np.float32(1.1875)], np.float32).view(np.uint32).astype(np.uint64)
    r = np.arange(16, dtype=np.uint64)
    y = convert(np.repeat(x, 16), F32, "e2m1fn", rounding="stochastic", rand=r, rand_bits=4)
    assert sorted(set(y.tolist())) == [0x2, 0x3]  # 1.0 and 1.5
    assert int((y == 0x3).sum()) == 6 and list(np.nonzero(y == 0x3)[0]) == list(range(10, 16))


# -- hardware vs golden ----------------------------------------------------------------------

@pytest.mark.parametrize("fout", [
    pytest.param(f, id=str(f), marks=() if f.name in ("e4m3fn", "e5m2", "e2m1fn", "e8m0fnu")
                 else (pytest.mark.slow,)) for f in EIGHT_BIT])
def test_hw_float32_to_small_1m_vectors(fout, tmp_path):
    from exmy.sim.check import check

    comp = Convert("float32", fout)
    res = check(comp, "verilator", mode="random", n=1_000_000, seed=11, build_dir=tmp_path)
    assert res.vectors >= 1_000_000
    assert_ok(res)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("fout", ["e4m3fn", pytest.param("e5m2", marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "kw", [dict(rounding="rtz"), dict(rounding="rna"), dict(rounding="stochastic", rand_bits=7),
           dict(saturate=True, latency=2)], ids=str)
def test_hw_16bit_to_fp8_exhaustive_modes(fout, kw, simulator, tmp_path):
    """Every bfloat16 input (the whole input space) into E4M3FN / E5M2 in each mode."""
    from exmy.sim.check import check

    comp = Convert("bfloat16", fout, **kw)
    res = check(comp, simulator, mode="exhaustive", seed=2, build_dir=tmp_path)
    assert res.exhaustive and res.vectors == 1 << 16
    assert_ok(res)


@pytest.mark.parametrize(
    "fin, fout, kw",
    [("e4m3fn", "int8", dict(rounding="rne")), ("e5m2", "int16", dict(rounding="rtz")),
     ("e2m1fn", "uint4", dict(rounding="rna", latency=1)), ("int8", "e4m3fn", {}),
     ("uint8", "e2m1fn", dict(rounding="rtz")), ("int16", "e5m2", dict(latency=2)),
     ("e4m3fn", "e8m0fnu", {}), ("e8m0fnu", "float16", {}),
     ("e5m2", "e4m3fnuz", dict(saturate=True)), ("e3m4", "e4m3-ieee-ftz", {}),
     ("e4m3fn", "e4m3-none-u", {})],
    ids=str)
def test_hw_conversions_exhaustive_icarus(fin, fout, kw, tmp_path):
    from exmy.sim.check import check

    res = check(Convert(fin, fout, **kw), "icarus", mode="exhaustive", build_dir=tmp_path)
    assert_ok(res)


@pytest.mark.parametrize("fin, fout", [("float32", "e4m3fn"), ("e5m2", "e2m1fn"),
                                       ("int8", "e4m3fn"), ("e4m3fn", "int8")])
def test_hw_amaranth_simulator(fin, fout):
    from exmy.sim.check import check

    res = check(Convert(fin, fout), "amaranth", mode="auto", n=20_000, seed=4)
    assert_ok(res)
