"""FloatFormat / IntFormat: validation, derived properties, names, and decode/encode of every
catalog format against ml_dtypes (an oracle exmy did not write)."""

import re
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from exmy.golden import (
    CATALOG,
    FloatFormat,
    IntFormat,
    catalog_formats,
    decode,
    describe,
    encode,
    parse_format,
    to_fraction,
)

F32 = CATALOG["float32"]


# -- argument validation -----------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(exp_bits=0, man_bits=3), ValueError, "Exponent width must be in 1..11, not 0"),
        (dict(exp_bits=12, man_bits=3), ValueError, "Exponent width must be in 1..11, not 12"),
        (dict(exp_bits="4", man_bits=3), TypeError, "Exponent width must be an integer, not '4'"),
        (dict(exp_bits=4, man_bits=-1), ValueError, "Mantissa width must be in 0..23, not -1"),
        (dict(exp_bits=4, man_bits=24), ValueError, "Mantissa width must be in 0..23, not 24"),
        (dict(exp_bits=4, man_bits=3, bias=1.5), TypeError, "Bias must be an integer, not 1.5"),
        (dict(exp_bits=4, man_bits=3, bias=2**16 + 1), ValueError,
         "Bias must be in -65536..65536, not 65537"),
        (dict(exp_bits=4, man_bits=3, bias=-(10**12)), ValueError,
         "Bias must be in -65536..65536, not -1000000000000"),
        (dict(exp_bits=4, man_bits=3, special="inf"), ValueError,
         "Special-value scheme must be one of ieee, fn, fnuz, none, not 'inf'"),
        (dict(exp_bits=4, man_bits=0, special="ieee"), ValueError,
         "Special-value scheme 'ieee' needs at least 1 mantissa bit"),
        (dict(exp_bits=4, man_bits=3, special="fnuz", signed=False), ValueError,
         "Special-value scheme 'fnuz' needs a sign bit"),
        (dict(exp_bits=4, man_bits=3, zero=False), ValueError,
         "A format without zero needs man_bits=0 and subnormals=False"),
        (dict(exp_bits=1, man_bits=1, special="ieee"), ValueError,
         "has no finite normal numbers"),
        (dict(exp_bits=4, man_bits=3, signed=1), TypeError, "signed must be a bool, not 1"),
        # SPEC 1.1: a format without zero must have a NaN (issue 11: encode crashed on these)
        (dict(exp_bits=4, man_bits=0, special="none", subnormals=False, zero=False), ValueError,
         "A format without zero needs special 'fn' (values it cannot encode, such as zero, "
         "encode to its NaN), not 'none'"),
        (dict(exp_bits=8, man_bits=0, bias=127, signed=False, subnormals=False, zero=False),
         ValueError, "A format without zero needs special 'fn'"),
    ],
)
def test_float_format_validation(kwargs, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        FloatFormat(**kwargs)


@pytest.mark.parametrize(
    "bits, exc, msg",
    [(0, ValueError, "Integer width must be in 1..32, not 0"),
     (33, ValueError, "Integer width must be in 1..32, not 33"),
     (8.0, TypeError, "Integer width must be an integer, not 8.0")],
)
def test_int_format_validation(bits, exc, msg):
    with pytest.raises(exc, match=msg.replace(".", r"\.")):
        IntFormat(bits)


@pytest.mark.parametrize(
    "name, msg",
    [
        ("e4m3x", "Unknown format 'e4m3x'; did you mean 'e4m3'"),
        ("fp8", "Unknown format 'fp8'"),
        # digits are ASCII: int() reads an Arabic-Indic four as 4, the name did not say e4m3
        ("e\u0664m3", "Unknown format 'e\u0664m3'; did you mean 'e4m3'"),
        ("int\u0668", "Unknown format 'int\u0668'; did you mean 'int8'"),
        ("e0m3", "Format 'e0m3' is not valid: Exponent width must be in 1..11, not 0"),
        ("e4m0-ieee", "Format 'e4m0-ieee' is not valid: Special-value scheme 'ieee' needs"),
        ("int0", "Integer width must be in 1..32, not 0"),
        ("e4m0-nz", "Format 'e4m0-nz' is not valid: A format without zero needs special 'fn' "
         "(values it cannot encode, such as zero, encode to its NaN), not 'none'; did you mean "
         "'e4m0-fn-nz'?"),
        ("e8m0-none-u-nz", "Format 'e8m0-none-u-nz' is not valid: A format without zero needs "
         "special 'fn' (values it cannot encode, such as zero, encode to its NaN), not 'none'; "
         "did you mean 'e8m0fnu'?"),
    ],
)
def test_parse_errors(name, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        parse_format(name)


@pytest.mark.parametrize("name, bits, must", [
    ("float8", 8, ["e4m3fn", "e5m2"]), ("FP6", 6, ["e2m3fn", "e3m2fn"]),
    ("mxfp4", 4, ["e2m1fn"]), ("fp16", 16, ["bfloat16", "float16"]),
    ("float5", 5, []), ("fp12", 12, []),
])
def test_a_bare_width_names_formats_of_that_width(name, bits, must):
    """'float8' is a width, not a format: the error names formats of that width (or, with none
    in the catalog, a grammar example), and every name it offers parses to that width."""
    with pytest.raises(ValueError, match=f"^Unknown format '{name}'") as info:
        parse_format(name)
    offered = re.findall(r"'([^']+)'", str(info.value))[1:]
    assert offered, str(info.value)
    assert set(must) <= set(offered), str(info.value)
    for n in offered:
        assert parse_format(n).width == bits, (n, str(info.value))


def test_parse_type_error():
    with pytest.raises(TypeError, match="Format name must be a string, not 3"):
        parse_format(3)


# -- properties ------------------------------------------------------------------------------
# (name, max_finite, min_normal, min_subnormal): the SPEC 1.2 table / ml_dtypes.finfo
@pytest.mark.parametrize(
    "name, max_finite, min_normal, min_sub",
    [
        ("float8_e4m3fn", 448, Fraction(1, 64), Fraction(1, 512)),
        ("float8_e5m2", 57344, Fraction(1, 2**14), Fraction(1, 2**16)),
        ("float8_e4m3", 240, Fraction(1, 64), Fraction(1, 512)),
        ("float8_e4m3fnuz", 240, Fraction(1, 128), Fraction(1, 1024)),
        ("float8_e5m2fnuz", 57344, Fraction(1, 2**15), Fraction(1, 2**17)),
        ("float8_e4m3b11fnuz", 30, Fraction(1, 2**10), Fraction(1, 2**13)),
        ("float8_e3m4", Fraction(31, 2), Fraction(1, 4), Fraction(1, 64)),
        ("float6_e2m3fn", Fraction(15, 2), 1, Fraction(1, 8)),
        ("float6_e3m2fn", 28, Fraction(1, 4), Fraction(1, 16)),
        ("float4_e2m1fn", 6, 1, Fraction(1, 2)),
        ("float8_e8m0fnu", 2**127, Fraction(1, 2**127), Fraction(1, 2**127)),
        ("float16", 65504, Fraction(1, 2**14), Fraction(1, 2**24)),
    ],
)
def test_catalog_ranges(name, max_finite, min_normal, min_sub):
    f = CATALOG[name]
    assert f.max_finite == max_finite
    assert f.min_normal == min_normal
    assert f.min_subnormal == min_sub


@pytest.mark.parametrize("fmt", catalog_formats(), ids=str)
def test_catalog_matches_ml_dtypes_finfo(fmt):
    if fmt.name == "float16":
        fi = np.finfo(np.float16)
    elif fmt.name == "float32":
        fi = np.finfo(np.float32)
    else:
        fi = ml_dtypes.finfo(getattr(ml_dtypes, fmt.catalog_name))
    assert float(fmt.max_finite) == float(fi.max)
    assert float(fmt.min_normal) == float(fi.smallest_normal)
    assert float(fmt.min_subnormal) == float(fi.smallest_subnormal)


@pytest.mark.parametrize("fmt", catalog_formats(), ids=str)
def test_names_round_trip(fmt):
    assert parse_format(str(fmt)) == fmt
    assert parse_format(fmt.generic_name) == fmt
    assert parse_format(fmt.catalog_name) == fmt


def test_generic_grammar():
    f = parse_format("e5m2-fnuz-b16")
    assert f == CATALOG["float8_e5m2fnuz"] and str(f) == "e5m2fnuz"
    assert parse_format("e4m3") == CATALOG["float8_e4m3"]  # bare means -ieee
    g = parse_format("e3m4-ieee-ftz")
    assert not g.subnormals and g.min_subnormal == g.min_normal and str(g) == "e3m4-ftz"
    u = parse_format("e4m3-none-u")
    assert not u.signed and u.width == 7 and not u.has_neg_zero
    assert parse_format("uint8") == IntFormat(8, signed=False)
    assert str(parse_format("int4")) == "int4"


def test_special_properties():
    assert CATALOG["e5m2"].has_inf and CATALOG["e5m2"].has_nan
    assert not CATALOG["e4m3fn"].has_inf and CATALOG["e4m3fn"].nan_code == 0x7F
    assert CATALOG["e4m3fnuz"].nan_code == 0x80 and not CATALOG["e4m3fnuz"].has_neg_zero
    assert CATALOG["e5m2"].nan_code == 0x7E  # sign 0, exp all ones, man MSB 1
    assert not CATALOG["e2m1fn"].has_nan and CATALOG["e2m1fn"].nan_code is None
    assert CATALOG["e8m0fnu"].nan_code == 0xFF


# -- golden decode/encode vs ml_dtypes -------------------------------------------------------
def _dtype(fmt):
    return np.float16 if fmt.name == "float16" else getattr(ml_dtypes, fmt.catalog_name)


ML_FORMATS = [f for f in catalog_formats() if f.name != "float32"]


def _storage(fmt):
    return np.uint8 if fmt.width <= 8 else np.uint16


@pytest.mark.parametrize("fmt", ML_FORMATS, ids=str)
def test_decode_every_encoding_matches_ml_dtypes(fmt):
    codes = np.arange(1 << fmt.width, dtype=np.uint64)
    with np.errstate(invalid="ignore"):  # widening the signalling-NaN codes sets 'invalid'
        ref = codes.astype(_storage(fmt)).view(_dtype(fmt)).astype(np.float64)
    for code, r in zip(codes, ref, strict=True):
        v = to_fraction(int(code), fmt)
        if np.isnan(r):
            assert isinstance(v, float) and np.isnan(v), describe(code, fmt)
        elif np.isinf(r):
            assert v == r, describe(code, fmt)
        else:
            assert v == Fraction(float(r)), describe(code, fmt)
            if r == 0:  # the sign of zero too
                assert bool(decode(np.array([code]), fmt).sign[0]) == bool(np.signbit(r))


def _f32_boundary_values(fmt):
    """float32 inputs at every boundary class of ``fmt``: each representable value, the
    halfway points between neighbours and one float32 ulp either side of them, the overflow
    threshold region, zeros, Inf and NaN."""
    codes = np.arange(1 << fmt.width, dtype=np.uint64)
    vals = codes.astype(_storage(fmt)).view(_dtype(fmt)).astype(np.float32)
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[:-1].astype(np.float64) + vals[1:].astype(np.float64)) / 2
    mids = mids.astype(np.float32)  # exact for formats of <= 16 bits
    pts = np.concatenate([vals, mids, float(fmt.max_finite) * np.array([1, 1.0625, 1.125, 2])])
    with np.errstate(over="ignore"):
        pts = pts.astype(np.float32)
    up = np.nextafter(pts, np.float32(np.inf))
    down = np.nextafter(pts, np.float32(-np.inf))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38], np.float32)
    return np.concatenate([pts, up, down, -pts, -up, -down, special])


@pytest.mark.parametrize("fmt", ML_FORMATS, ids=str)
def test_convert_from_float32_matches_ml_dtypes(fmt):
    rng = np.random.default_rng(1234)
    rand_bits = rng.integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([_f32_boundary_values(fmt), rand_bits.view(np.float32)])
    xb = x.view(np.uint32).astype(np.uint64)
    got = encode(decode(xb, F32), fmt)
    with np.errstate(invalid="ignore", over="ignore"):
        ref = x.astype(_dtype(fmt)).view(_storage(fmt)).astype(np.uint64)
    ref_v = ref.astype(_storage(fmt)).view(_dtype(fmt))
    # exempt: NaN into a format without NaN (SPEC 2.5: +0 here, ml_dtypes writes -0)
    exempt = np.isnan(x) & (not fmt.has_nan) & (got == 0)
    # exempt: NaN payloads (any NaN matches any NaN)
    got_v = got.astype(_storage(fmt)).view(_dtype(fmt))
    both_nan = np.isnan(got_v.astype(np.float32)) & np.isnan(ref_v.astype(np.float32))
    # exempt: ml_dtypes rounds float32 subnormals in (2**-127, 2**-126) up to 2**-126 for
    # float8_e8m0fnu, which is not round-to-nearest; exmy rounds them to nearest (pinned
    # separately below)
    quirk = np.zeros_like(exempt)
    if fmt.name == "e8m0fnu":
        with np.errstate(invalid="ignore"):
            ax = np.abs(x.astype(np.float64))
        quirk = (ax > 2.0**-127) & (ax < 1.5 * 2.0**-127)
    bad = np.nonzero((got != ref) & ~exempt & ~both_nan & ~quirk)[0]
    assert len(bad) == 0, [
        f"{x[i]!r}: exmy {describe(got[i], fmt)} ml_dtypes {describe(ref[i], fmt)}"
        for i in bad[:5]
    ]


def test_e8m0fnu_float32_subnormal_rounding_differs_from_ml_dtypes_on_purpose():
    """1.25 * 2**-127 is nearer 2**-127 (code 0) than 2**-126 (code 1): exmy gives 0 (RNE);
    ml_dtypes 0.6 gives 1. If ml_dtypes changes, this test says so."""
    x = np.array([1.25 * 2.0**-127], np.float32)
    got = encode(decode(x.view(np.uint32).astype(np.uint64), F32), CATALOG["e8m0fnu"])
    assert int(got[0]) == 0
    assert int(x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)[0]) == 1


@pytest.mark.parametrize("fmt", [CATALOG["e4m3fn"], CATALOG["e5m2"], CATALOG["e2m1fn"]],
                         ids=str)
def test_saturate_and_overflow_rules(fmt):
    big = np.array([1e6, -1e6, np.inf, -np.inf], np.float32).view(np.uint32).astype(np.uint64)
    sat = encode(decode(big, F32), fmt, saturate=True)
    mf = fmt.max_finite_code
    sign = 1 << fmt.sign_shift
    assert list(sat) == [mf, mf | sign, mf, mf | sign]
    non = encode(decode(big, F32), fmt)
    if fmt.has_inf:
        assert list(non) == [fmt.inf_code, fmt.inf_code | sign] * 2
    elif fmt.has_nan:
        assert all(v == fmt.nan_code for v in non)
    else:  # none formats always saturate
        assert list(non) == list(sat)
    # rtz never overflows a finite value to Inf (IEEE 754 7.4)
    rtz = encode(decode(big[:2], F32), fmt, rounding="rtz")
    assert list(rtz) == [mf, mf | sign]


# -- fnuz with subnormals off (SPEC 1.1: no -0) -------------------------------------------
FNUZ_FTZ = FloatFormat(4, 3, bias=8, special="fnuz", subnormals=False)


def test_fnuz_ftz_sign_one_exp_zero_decodes_to_plus_zero():
    """Every sign-1, exp-0 code but the NaN (0x80) is +0; sign-0 exp-0 codes are +0 too."""
    codes = np.arange(0x80, 0x88, dtype=np.uint64)
    r = decode(codes, FNUZ_FTZ)
    assert r.nan.tolist() == [True] + [False] * 7
    assert r.sign.tolist() == [0] * 8 and r.sig.tolist() == [0] * 8
    assert [describe(c, FNUZ_FTZ) for c in (0x81, 0x87)] == [
        "0x81 (+0 e4m3-fnuz-b8-ftz)", "0x87 (+0 e4m3-fnuz-b8-ftz)"]
    # and they convert as +0: into float16 (which has -0) they give 0x0000, not 0x8000
    from exmy.golden import convert

    assert convert(codes[1:], FNUZ_FTZ, "float16").tolist() == [0] * 7


def test_hw_fnuz_ftz_zero_operands_are_plus_zero():
    """The hardware decoder agrees (it gave -0 too): Convert into float16 and a multiplier
    into float16, on the Amaranth simulator, equal golden on every exp-0 code."""
    from exmy.golden import convert, multiply
    from exmy.hdl.convert import Convert
    from exmy.hdl.multiplier import Multiplier
    from exmy.hdl.verilog import port_table
    from exmy.sim import run_vectors

    a = np.array([0x00, 0x01, 0x07, 0x80, 0x81, 0x85, 0x87, 0x8F], np.uint64)
    b = np.full(len(a), 0x38, np.uint64)  # +1.0 in e4m3fn

    def conv():
        return Convert(FNUZ_FTZ, "float16")

    def mul():
        return Multiplier(FNUZ_FTZ, "e4m3fn", "float16")

    got = run_vectors(None, None, port_table(conv()), {"a": a}, ["y"], 0, "amaranth", None,
                      component=conv)["y"]
    want = convert(a, FNUZ_FTZ, "float16")
    assert got.tolist() == want.tolist() == [0, 0, 0, 0x7E00, 0, 0, 0, 0xA380]
    got = run_vectors(None, None, port_table(mul()), {"a": a, "b": b}, ["y"], 0, "amaranth",
                      None, component=mul)["y"]
    assert got.tolist() == multiply(a, b, FNUZ_FTZ, "e4m3fn", "float16").tolist() == want.tolist()
