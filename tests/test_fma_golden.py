"""Golden FMA and approximate-normalization FMA (SPEC 3, 3.3) against independent oracles:
Berkeley SoftFloat ``f16_mul_add`` (softfloatpy), an exact ``fractions.Fraction`` model and a
Fraction re-implementation of SPEC 3.3's six steps, both written here from SPEC alone."""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from exmy.golden import CATALOG, describe
from exmy.golden.fma import (
    approx_fma,
    approx_fma_datapath_width,
    approx_fma_error,
    fma,
    fma_raw,
)

F16 = CATALOG["float16"]
BF16 = CATALOG["bfloat16"]
E4M3 = CATALOG["e4m3fn"]
E5M2 = CATALOG["e5m2"]
E2M1 = CATALOG["e2m1fn"]

# (fmt_a, fmt_b, fmt_c, fmt_out) points for the exact-rational comparison
FORMAT_POINTS = [
    pytest.param((BF16,) * 4, id="bfloat16"),  # wide exponent: far-apart addends, sticky
    pytest.param((E4M3,) * 4, id="e4m3fn"),  # fn: overflow to NaN, no Inf
    pytest.param((E5M2,) * 4, id="e5m2"),  # ieee with a 2-bit mantissa
    pytest.param((E2M1,) * 4, id="e2m1fn"),  # degenerate 'none' format (exhaustive)
    pytest.param((E4M3, E4M3, F16, F16), id="e4m3fn*e4m3fn+f16"),  # common ML accumulation
    pytest.param((E5M2, E4M3, BF16, E4M3), id="e5m2*e4m3fn+bf16->e4m3fn"),  # all different
]
GK_POINTS = [(g, k) for g in (1, 2, 4, 8) for k in (None, 8, 16)]


# ---------------------------------------------------------------------------------------------
# Independent reference, one element at a time, from SPEC 1.1, 2 and 3 (Fractions). It calls
# nothing in exmy.golden except the formats' plain fields.
# ---------------------------------------------------------------------------------------------
def _fields(code, f):
    E, M = f.exp_bits, f.man_bits
    return (
        (code >> (E + M)) & 1 if f.signed else 0,
        (code >> M) & ((1 << E) - 1),
        code & ((1 << M) - 1),
    )


def ref_decode(code, f):
    """('nan',) | ('inf', sign) | ('num', sign, Fraction magnitude)."""
    s, e, m = _fields(code, f)
    E, M = f.exp_bits, f.man_bits
    ones = (1 << E) - 1
    if f.special == "ieee" and e == ones:
        return ("nan",) if m else ("inf", s)
    if f.special == "fn" and e == ones and m == (1 << M) - 1:
        return ("nan",)
    if f.special == "fnuz" and s == 1 and e == 0 and m == 0:
        return ("nan",)
    if e == 0:
        mag = Fraction(m, 1 << M) * Fraction(2) ** (1 - f.bias) if f.subnormals else Fraction(0)
        if mag == 0 and f.special == "fnuz":
            s = 0  # SPEC 1.1: fnuz has no -0 (its flushed sign-1 codes are +0)
    else:
        mag = (1 + Fraction(m, 1 << M)) * Fraction(2) ** (e - f.bias)
    return ("num", s, mag)


@functools.cache
def _table(f):
    """magnitude -> magnitude code (the first code wins, so 0 -> +0), max finite, emin."""
    tab = {}
    for code in range(1 << (f.exp_bits + f.man_bits)):
        d = ref_decode(code, f)
        if d[0] == "num" and d[2] not in tab:
            tab[d[2]] = code
    return tab, max(tab), 1 - f.bias


def _nan_code(f):
    E, M = f.exp_bits, f.man_bits
    if f.special == "ieee":
        return ((1 << E) - 1) << M | 1 << (M - 1)
    if f.special == "fn":
        return (1 << (E + M)) - 1
    if f.special == "fnuz":
        return 1 << (E + M)
    return None


def _floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e if Fraction(2) ** e <= x else e - 1


def _round_int(x: Fraction, mode: str) -> int:
    n = x.numerator // x.denominator
    frac = x - n
    if mode == "rne":
        return n + (frac > Fraction(1, 2) or (frac == Fraction(1, 2) and n % 2 == 1))
    if mode == "rna":
        return n + (frac >= Fraction(1, 2))
    if mode == "up":  # away from zero (the other neighbour, for the faithfulness check)
        return n + (frac > 0)
    return n  # rtz


def ref_grid_round(mag: Fraction, f, mode: str) -> Fraction:
    """Round a magnitude to f's grid, exponent unbounded above (SPEC 2 step 1)."""
    if mag == 0:
        return mag
    emin = 1 - f.bias
    qe = max(_floor_log2(mag) - f.man_bits, emin - f.man_bits)
    r = _round_int(mag / Fraction(2) ** qe, mode) * Fraction(2) ** qe
    if not f.subnormals and r < Fraction(2) ** emin:
        r = Fraction(0)
    return r


def ref_encode(x, f, mode: str, saturate: bool) -> int:
    """SPEC 2, with encode's documented IEEE refinement: rtz overflow gives max_finite."""
    tab, max_finite, _ = _table(f)
    nan = _nan_code(f)
    E, M = f.exp_bits, f.man_bits

    def pack(s, magcode):
        if s and magcode == 0 and f.special == "fnuz":
            return 0
        return (s << (E + M)) | magcode if f.signed else magcode

    def overflow(s, is_inf):
        # saturate: every Inf, overflowed or exact, becomes max_finite (SATFINITE, SPEC 2.3);
        # rtz: a finite value never overflows (IEEE 7.4)
        if saturate or f.special == "none" or (mode == "rtz" and not is_inf):
            return pack(s, tab[max_finite])
        if f.special == "ieee":
            return pack(s, ((1 << E) - 1) << M)
        return nan

    if x[0] == "nan":
        return nan if nan is not None else 0
    if x[0] == "inf":
        return overflow(x[1], True)
    _, s, mag = x
    r = ref_grid_round(mag, f, mode)
    if r > max_finite:
        return overflow(s, False)
    return pack(s, tab[r])


def _ref_sum(a, b, c, fa, fb, fc):
    """('nan',) | ('inf', s) | ('num', s, |v|) for a*b + c with IEEE special/zero rules."""
    A, B, C = ref_decode(a, fa), ref_decode(b, fb), ref_decode(c, fc)
    if "nan" in (A[0], B[0], C[0]):
        return ("nan",)
    if "inf" in (A[0], B[0]):
        other = B if A[0] == "inf" else A
        if other[0] == "num" and other[2] == 0:
            return ("nan",)
        ps = A[1] ^ B[1]
        if C[0] == "inf" and C[1] != ps:
            return ("nan",)
        return ("inf", ps)
    if C[0] == "inf":
        return ("inf", C[1])
    ps = A[1] ^ B[1]
    v = (-1) ** ps * A[2] * B[2] + (-1) ** C[1] * C[2]
    if v == 0:
        return ("num", 1 if (ps == 1 and C[1] == 1 and A[2] * B[2] == 0 and C[2] == 0) else 0, v)
    return ("num", int(v < 0), abs(v))


def ref_fma(a, b, c, fa, fb, fc, fo, mode, saturate=False):
    return ref_encode(_ref_sum(a, b, c, fa, fb, fc), fo, mode, saturate)


def ref_approx(a, b, c, fa, fb, fc, fo, G, K, mode, saturate=False, encode=None):
    """SPEC 3.3 steps 1-6, literally. ``encode(x, fo, mode, saturate)`` is the last step
    (default ``ref_encode``; tests/test_golden_properties.py gives its own, which knows every
    format of the grammar)."""
    ref_encode_ = ref_encode if encode is None else encode
    x = _ref_sum(a, b, c, fa, fb, fc)
    if x[0] != "num" or x[2] == 0:
        return ref_encode_(x, fo, mode, saturate)
    _, s, v = x
    # 1. raw exponents, adder top
    ea, eb, ec = (max(_fields(code, f)[1], 1) - f.bias for code, f in ((a, fa), (b, fb), (c, fc)))
    R = max(ea + eb + 1, ec) + 1
    # 2. leading one
    L = _floor_log2(v)
    lz = R - L
    # 3. coarse shift
    sh = G * (lz // G)
    if K is not None:
        sh = min(sh, K)
    P = R - sh
    # 4. round at the fixed position
    p, emin, M = fo.man_bits + 1, 1 - fo.bias, fo.man_bits
    q = Fraction(2) ** max(P - p - G + 2, emin - M)
    v1 = _round_int(v / q, mode) * q
    # 5. below the window
    if v1 < Fraction(2) ** (P - G + 1):
        return ref_encode_(("num", s, Fraction(0)), fo, mode, saturate)
    # 6. truncate to p significant bits, not finer than the subnormal quantum
    t = Fraction(2) ** max(_floor_log2(v1) - p + 1, emin - M)
    v2 = (v1 / t).numerator // (v1 / t).denominator * t
    return ref_encode_(("num", s, v2), fo, mode, saturate)


# ---------------------------------------------------------------------------------------------
# Stimulus
# ---------------------------------------------------------------------------------------------
def _np_dtype(f):
    if f == F16:
        return np.float16
    if f == CATALOG["float32"]:
        return np.float32
    return np.dtype(getattr(ml_dtypes, f.catalog_name))


def _to_float(codes, f):
    dt = np.dtype(_np_dtype(f))
    return codes.astype(np.dtype(f"u{dt.itemsize}")).view(dt).astype(np.float64)


def _from_float(x, f):
    dt = np.dtype(_np_dtype(f))
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dt).view(np.dtype(f"u{dt.itemsize}")).astype(np.uint64)


def _codes(f, sign, field, man):
    E, M = f.exp_bits, f.man_bits
    field = np.clip(field, 0, (1 << E) - 1).astype(np.uint64)
    out = (field << np.uint64(M)) | man.astype(np.uint64)
    if f.signed:
        out |= sign.astype(np.uint64) << np.uint64(E + M)
    return out


def _specials(f):
    """Named corner encodings: ±0, ±min subnormal, ±min normal, ±1, ±max, ±Inf, NaN."""
    tab, max_finite, emin = _table(f)
    mags = {Fraction(0), min(m for m in tab if m > 0), Fraction(2) ** emin, Fraction(1), max_finite}
    codes = [tab[m] for m in mags if m in tab]
    if f.signed:
        codes += [c | 1 << (f.exp_bits + f.man_bits) for c in codes]
    if f.special == "ieee":
        codes.append(((1 << f.exp_bits) - 1) << f.man_bits)
        codes.append(codes[-1] | 1 << (f.exp_bits + f.man_bits))
    if _nan_code(f) is not None:
        codes.append(_nan_code(f))
    return sorted(set(codes))


def stimulus(fa, fb, fc, n, rng, corners=None):
    """Seeded uniform random (n) plus biased cases: product and addend exponents close,
    massive cancellation, overflow and underflow edges, subnormal addends, specials (all
    corner triples, or ``corners`` of them drawn at random)."""

    def uni(f, k):
        return rng.integers(0, 1 << f.width, k, dtype=np.uint64)

    def fields(f, k, lo, hi):
        return _codes(
            f,
            rng.integers(0, 2, k),
            rng.integers(lo, np.asarray(hi) + 1, k),
            rng.integers(0, 1 << f.man_bits, k),
        )

    def pair(k, lo, hi):
        """a, b whose unbiased exponent sum lies in lo..hi where the formats allow it."""
        ea = rng.integers(0, 1 << fa.exp_bits, k)
        eb = rng.integers(lo, hi + 1, k) - (np.maximum(ea, 1) - fa.bias) + fb.bias
        return fields(fa, k, ea, ea), fields(fb, k, np.maximum(eb, 0), np.maximum(eb, 0))

    parts = [(uni(fa, n), uni(fb, n), uni(fc, n))]
    k = max(n // 4, 64)
    # product and addend exponents close (within 3 binades)
    a, b = uni(fa, k), uni(fb, k)
    ea = (a >> np.uint64(fa.man_bits)).astype(np.int64) & ((1 << fa.exp_bits) - 1)
    eb = (b >> np.uint64(fb.man_bits)).astype(np.int64) & ((1 << fb.exp_bits) - 1)
    ec = ea - fa.bias + eb - fb.bias + fc.bias + rng.integers(-3, 4, k)
    c = _codes(fc, rng.integers(0, 2, k), ec, rng.integers(0, 1 << fc.man_bits, k))
    parts.append((a, b, c))
    # massive cancellation: c = -(a*b rounded to fmt_c), nudged by a few codes
    a, b = uni(fa, k), uni(fb, k)
    with np.errstate(all="ignore"):
        prod = _to_float(a, fa) * _to_float(b, fb)
    c = _from_float(-prod, fc)
    mag_mask = np.uint64((1 << (fc.exp_bits + fc.man_bits)) - 1)
    mag = (c & mag_mask).astype(np.int64) + rng.integers(-3, 4, k)
    c = (c & ~mag_mask) | np.clip(mag, 0, int(mag_mask)).astype(np.uint64)
    parts.append((a, b, c))
    # overflow edge: product and addend near max_finite
    top_c = (1 << fc.exp_bits) - 1
    emax_c = top_c - fc.bias
    parts.append((*pair(k, emax_c - 3, emax_c + 1), fields(fc, k, top_c - 3, top_c)))
    # underflow edge: products around the addend's subnormal range, subnormal addends
    emin_c = 1 - fc.bias
    parts.append((*pair(k, emin_c - fc.man_bits - 3, emin_c + 1), fields(fc, k, 0, 2)))
    # specials and corners against each other
    sa, sb, sc = _specials(fa), _specials(fb), _specials(fc)
    grid = np.array(list(itertools.product(sa, sb, sc)), dtype=np.uint64)
    if corners is not None and corners < len(grid):
        grid = grid[rng.choice(len(grid), corners, replace=False)]
    parts.append((grid[:, 0], grid[:, 1], grid[:, 2]))
    # corners against random
    parts.append((rng.choice(sa, k).astype(np.uint64), uni(fb, k), uni(fc, k)))
    parts.append((uni(fa, k), uni(fb, k), rng.choice(sc, k).astype(np.uint64)))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _mismatch(what, idx, a, b, c, got, want, fmts, **point):
    fa, fb, fc, fo = fmts
    i = idx[0]
    pt = ", ".join(f"{k}={v}" for k, v in point.items())
    return (
        f"{what}: {len(idx)} mismatches ({pt}, {fa} x {fb} + {fc} -> {fo}); first: "
        f"a={describe(a[i], fa)} b={describe(b[i], fb)} c={describe(c[i], fc)}: "
        f"got {describe(got[i], fo)}, want {describe(want[i], fo)}"
    )


def _is_nan(codes, f):
    return np.array([ref_decode(int(x), f)[0] == "nan" for x in codes], dtype=bool)


def _check(what, got, want, a, b, c, fmts, **point):
    fo = fmts[3]
    bad = got != want
    if bad.any():
        # any NaN encoding is a NaN (the golden model writes the canonical one)
        idx = np.nonzero(bad)[0]
        both = _is_nan(got[idx], fo) & _is_nan(want[idx], fo)
        bad[idx[both]] = False
    idx = np.nonzero(bad)[0]
    assert not len(idx), _mismatch(what, idx, a, b, c, got, want, fmts, **point)


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------
def _call_approx(**kw):
    args = dict(a=0, b=0, c=0, fmt_a=E4M3, fmt_b=E4M3, fmt_c=E4M3, fmt_out=E4M3, granularity=2)
    args.update(kw)
    return approx_fma(**args)


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        (dict(granularity=3), ValueError, "Granularity must be a power of two >= 1, not 3"),
        (dict(granularity=0), ValueError, "Granularity must be a power of two >= 1, not 0"),
        (dict(granularity=-4), ValueError, "Granularity must be a power of two >= 1, not -4"),
        (dict(granularity=64), ValueError, "Granularity must be at most 32, not 64"),
        (dict(granularity=2.0), TypeError, "Granularity must be an integer, not 2.0"),
        (dict(granularity=True), TypeError, "Granularity must be an integer, not True"),
        (dict(window="8"), TypeError, "Window must be an integer or None, not '8'"),
        (dict(window=-2), ValueError, "Window must be a non-negative integer or None, not -2"),
        (
            dict(granularity=4, window=6),
            ValueError,
            "Window 6 is not a multiple of granularity 4; use 4 or 8",
        ),
        (
            dict(granularity=4, window=2),
            ValueError,
            "Window 2 is not a multiple of granularity 4; use 4",
        ),
        (
            dict(window=38),
            ValueError,
            "Window 38 is larger than the datapath (37 bits for e4m3fn x e4m3fn + e4m3fn); "
            "use a window <= 37, or window=None for no cap",
        ),
        (
            dict(fmt_a=E2M1, fmt_b=E2M1, fmt_c=E2M1, window=16),
            ValueError,
            "Window 16 is larger than the datapath (9 bits for e2m1fn x e2m1fn + e2m1fn); "
            "use a window <= 9, or window=None for no cap",
        ),
        (
            dict(rounding="rna"),
            ValueError,
            "Approximate FMA supports rounding modes rne, rtz, not 'rna'",
        ),
        (
            dict(rounding="stochastic"),
            ValueError,
            "Approximate FMA supports rounding modes rne, rtz, not 'stochastic'",
        ),
        (
            dict(rounding="up"),
            ValueError,
            "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'",
        ),
        (dict(rounding=1), TypeError, "Rounding mode must be a string, not 1"),
        (dict(saturate=1), TypeError, "saturate must be a bool, not 1"),
        (dict(fmt_b="int8"), ValueError, "FMA operand b must be a float format, not int8"),
        (
            dict(fmt_c="e8m0fnu"),
            ValueError,
            "FMA operand c format e8m0fnu has no zero (a block-scale format); apply scales by "
            "exponent addition, not in an FMA",
        ),
        (dict(fmt_out="int8"), ValueError, "FMA output format must be a float format, not int8"),
        (dict(fmt_a=3), TypeError, "FMA operand a format must be a format name or object, not 3"),
    ],
)
def test_approx_fma_arguments(kw, exc, msg):
    with pytest.raises(exc) as info:
        _call_approx(**kw)
    assert str(info.value) == msg


@pytest.mark.parametrize(
    "kw, exc, msg",
    [
        (
            dict(rounding="stochastic"),
            ValueError,
            "FMA supports rounding modes rne, rtz, rna, not 'stochastic'",
        ),
        (
            dict(rounding="rnd"),
            ValueError,
            "Rounding mode must be one of rne, rtz, rna, stochastic, not 'rnd'",
        ),
        (dict(saturate="yes"), TypeError, "saturate must be a bool, not 'yes'"),
        (dict(fmt_a="uint8"), ValueError, "FMA operand a must be a float format, not uint8"),
        (dict(fmt_out="int4"), ValueError, "FMA output format must be a float format, not int4"),
        (dict(fmt_c="e4x3"), ValueError, "Unknown format 'e4x3'"),
    ],
)
def test_fma_arguments(kw, exc, msg):
    args = dict(fmt_a=E4M3, fmt_b=E4M3, fmt_c=E4M3, fmt_out=E4M3)
    args.update(kw)
    with pytest.raises(exc) as info:
        fma(0, 0, 0, **args)
    assert str(info.value).startswith(msg)


def test_fma_raw_arguments():
    with pytest.raises(ValueError) as info:
        fma_raw(0, 0, 0, E4M3, E4M3, E4M3, precision=56)
    assert str(info.value) == "Precision must be in 1..55, not 56"
    with pytest.raises(TypeError) as info:
        fma_raw(0, 0, 0, E4M3, E4M3, E4M3, precision=4.0)
    assert str(info.value) == "Precision must be an integer, not 4.0"


def test_datapath_width_values():
    # D = max(emax_a + emax_b + 1, emax_c) + 2 - min(qa + qb, qc), q = emin - M
    assert approx_fma_datapath_width(E4M3, E4M3, E4M3) == 37
    assert approx_fma_datapath_width(BF16, BF16, BF16) == 523
    assert approx_fma_datapath_width(F16, F16, F16) == 81
    assert approx_fma_datapath_width(E2M1, E2M1, E2M1) == 9
    assert approx_fma_datapath_width(E4M3, E4M3, F16) == 43
    assert approx_fma_datapath_width(E5M2, E5M2, E5M2) == 65
    with pytest.raises(ValueError, match="FMA operand c must be a float format, not int8"):
        approx_fma_datapath_width(E4M3, E4M3, "int8")


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
def test_broadcast_and_shape():
    one = 0x3C00
    y = fma(np.full((2, 3), one), one, [0, 0x3C00, 0xBC00], F16, F16, F16, F16)
    assert y.shape == (2, 3) and y.dtype == np.uint64
    assert y[1].tolist() == [0x3C00, 0x4000, 0x0000]
    assert fma(one, one, one, F16, F16, F16, F16).shape == ()


# float16 (a, b, c) -> y: an exact zero sum is +0 unless both addends are -0; x - x = +0;
# a non-zero sum that rounds to zero keeps its sign
ZERO_CASES = {
    (0x0000, 0x3C00, 0x0000): 0x0000,  # +0 + +0
    (0x8000, 0x3C00, 0x0000): 0x0000,  # -0 + +0
    (0x0000, 0x3C00, 0x8000): 0x0000,  # +0 + -0
    (0x8000, 0x3C00, 0x8000): 0x8000,  # -0 + -0
    (0x8000, 0xBC00, 0x8000): 0x0000,  # (-0)(-1) = +0, + -0
    (0x0000, 0xBC00, 0x8000): 0x8000,  # (+0)(-1) = -0, + -0
    (0x3C00, 0x3C00, 0xBC00): 0x0000,  # 1 - 1
    (0xBC00, 0x3C00, 0x3C00): 0x0000,  # -1 + 1
    (0x0001, 0x0001, 0x8000): 0x0000,  # +2^-48 rounds to +0
    (0x8001, 0x0001, 0x0000): 0x8000,  # -2^-48 rounds to -0
}


@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
def test_zero_signs(rounding):
    a, b, c = (np.array(x, dtype=np.uint64) for x in zip(*ZERO_CASES, strict=True))
    want = list(ZERO_CASES.values())
    assert fma(a, b, c, F16, F16, F16, F16, rounding=rounding).tolist() == want
    if rounding != "rna":
        for g, k in ((1, None), (4, None), (8, 8)):
            y = approx_fma(a, b, c, F16, F16, F16, F16, granularity=g, window=k, rounding=rounding)
            assert y.tolist() == want


def test_fma_raw_contract():
    rng = np.random.default_rng(7)
    a, b, c = stimulus(BF16, BF16, BF16, 2000, rng)
    raw = fma_raw(a, b, c, BF16, BF16, BF16, precision=8)
    live = ~raw.nan & ~raw.inf
    assert (raw.sig[live] < (1 << 59)).all()
    for i in np.nonzero(live)[0][:3000]:
        x = _ref_sum(int(a[i]), int(b[i]), int(c[i]), BF16, BF16, BF16)
        v, sig, e = x[2], int(raw.sig[i]), int(raw.exp[i])
        lo, hi = Fraction(sig) * Fraction(2) ** e, Fraction(sig + 1) * Fraction(2) ** e
        if raw.sticky[i]:
            assert lo < v < hi
        else:
            assert v == lo
            if v == 0:
                assert raw.sign[i] == x[1]
        if v:
            assert raw.sign[i] == x[1]
            assert _floor_log2(v) == e + sig.bit_length() - 1


@pytest.mark.parametrize("g", [2, 4, 8, 16])
def test_approx_rtz_unwindowed_equals_fma(g):
    # truncating at q then at the p-bit grid (nested grids) is one truncation
    rng = np.random.default_rng(g)
    for fmts in ((BF16,) * 4, (E4M3,) * 4, (E4M3, E4M3, F16, F16)):
        a, b, c = stimulus(*fmts[:3], 20000, rng)
        want = fma(a, b, c, *fmts, rounding="rtz")
        got = approx_fma(a, b, c, *fmts, granularity=g, rounding="rtz")
        _check("approx rtz vs fma rtz", got, want, a, b, c, fmts, G=g)


@pytest.mark.parametrize("g", [1, 2, 4, 8])
def test_window_at_datapath_is_no_window(g):
    rng = np.random.default_rng(3)
    fmts = (E4M3,) * 4
    d = approx_fma_datapath_width(*fmts[:3])
    a, b, c = stimulus(*fmts[:3], 50000, rng)
    want = approx_fma(a, b, c, *fmts, granularity=g)
    k = (d - 1 + g - 1) // g * g  # smallest multiple of G >= D - 1
    if k <= d:
        got = approx_fma(a, b, c, *fmts, granularity=g, window=k)
        _check("window D-1 vs none", got, want, a, b, c, fmts, G=g, K=k)


def test_saturate():
    big = 0x7BFF  # float16 max
    y = fma([big, big], [big, 0x3C00], [0, 0], F16, F16, F16, F16, saturate=True)
    assert y.tolist() == [0x7BFF, 0x7BFF]
    y = fma(big, big, 0, F16, F16, F16, E4M3)
    assert int(y) == 0x7F  # fn overflow: NaN
    y = approx_fma(big, big, 0, F16, F16, F16, E4M3, granularity=4, saturate=True)
    assert int(y) == 0x7E


# ---------------------------------------------------------------------------------------------
# float16 against Berkeley SoftFloat f16_mul_add
# ---------------------------------------------------------------------------------------------
def _softfloat_f16(a, b, c, rounding):
    sf = pytest.importorskip("softfloatpy")
    mode = {
        "rne": sf.RoundingMode.NEAR_EVEN,
        "rtz": sf.RoundingMode.MIN_MAG,
        "rna": sf.RoundingMode.NEAR_MAX_MAG,
    }[rounding]
    tab = _softfloat_table()
    old = sf.get_rounding_mode()
    sf.set_rounding_mode(mode)
    try:
        f = sf.f16_mul_add
        out = [
            int.from_bytes(f(tab[i], tab[j], tab[k]).to_bytes(), "big")
            for i, j, k in zip(a.tolist(), b.tolist(), c.tolist(), strict=True)
        ]
    finally:
        sf.set_rounding_mode(old)
    return np.array(out, dtype=np.uint64)


@functools.cache
def _softfloat_table():
    import softfloatpy as sf

    return [sf.Float16.from_bytes(i.to_bytes(2, "big")) for i in range(1 << 16)]


def _f16_nan(x):
    return ((x & 0x7C00) == 0x7C00) & ((x & 0x3FF) != 0)


def _softfloat_compare(n, seed, rounding):
    rng = np.random.default_rng(seed)
    a, b, c = stimulus(F16, F16, F16, n, rng)
    fmts = (F16,) * 4
    want = _softfloat_f16(a, b, c, rounding)
    got = fma(a, b, c, *fmts, rounding=rounding)
    bad = (got != want) & ~(_f16_nan(got) & _f16_nan(want))
    idx = np.nonzero(bad)[0]
    assert not len(idx), _mismatch(
        "fma vs SoftFloat", idx, a, b, c, got, want, fmts, rounding=rounding
    )
    if rounding != "rna":
        for g in (1,):
            ap = approx_fma(a, b, c, *fmts, granularity=g, rounding=rounding)
            _check("approx G=1 vs fma", ap, got, a, b, c, fmts, rounding=rounding)
    return len(a)


@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
def test_fma_f16_vs_softfloat(rounding):
    """Default tier (time budget): 400k seeded uniform triples + 600k biased (close exponents,
    cancellation, overflow and underflow edges) + 2.4k corner/special triples, per mode; the
    slow tier runs 2M + 3M of them on this seed and three more seeds."""
    assert _softfloat_compare(400_000, 16, rounding) >= 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
def test_fma_f16_vs_softfloat_slow(rounding):
    # 4 x (2M uniform + 3M biased) per mode
    for seed in (16, 100, 101, 102):
        assert _softfloat_compare(2_000_000, seed, rounding) >= 5_000_000


# ---------------------------------------------------------------------------------------------
# Exact rational model: fma, approx_fma (six steps), faithfulness
# ---------------------------------------------------------------------------------------------
def _inputs(fmts, n, seed, corners=None):
    fa, fb, fc, _ = fmts
    if fa.width + fb.width + fc.width <= 12:  # e2m1fn: all 4096 triples
        g = np.array(
            list(
                itertools.product(range(1 << fa.width), range(1 << fb.width), range(1 << fc.width))
            ),
            dtype=np.uint64,
        )
        return g[:, 0], g[:, 1], g[:, 2]
    return stimulus(fa, fb, fc, n, np.random.default_rng(seed), corners)


@pytest.mark.parametrize("fmts", FORMAT_POINTS)
@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
def test_fma_vs_fraction(fmts, rounding):
    a, b, c = _inputs(fmts, 3000, 1)
    got = fma(a, b, c, *fmts, rounding=rounding)
    want = np.array(
        [ref_fma(int(x), int(y), int(z), *fmts, rounding) for x, y, z in zip(a, b, c, strict=True)],
        dtype=np.uint64,
    )
    _check("fma vs Fraction", got, want, a, b, c, fmts, rounding=rounding)
    if rounding != "rna":
        ap = approx_fma(a, b, c, *fmts, granularity=1, rounding=rounding)
        _check("approx G=1 vs fma", ap, got, a, b, c, fmts, rounding=rounding)
    sat = fma(a, b, c, *fmts, rounding=rounding, saturate=True)
    want = np.array(
        [
            ref_fma(int(x), int(y), int(z), *fmts, rounding, True)
            for x, y, z in zip(a[:2000], b[:2000], c[:2000], strict=True)
        ],
        dtype=np.uint64,
    )
    _check("fma saturate vs Fraction", sat[:2000], want, a, b, c, fmts, rounding=rounding)


def _approx_points(gk_points):
    """(fmts, G, K) points whose window fits the datapath (e2m1fn's is 9 bits: no K = 16)."""
    return [
        pytest.param(p.values[0], g, k, id=f"{p.id}-G{g}-K{k}")
        for p in FORMAT_POINTS
        for g, k in gk_points
        if k is None or k <= approx_fma_datapath_width(*p.values[0][:3])
    ]


def _approx_vs_fraction(fmts, g, k, rounding, n, seed, corners=None):
    a, b, c = _inputs(fmts, n, seed, corners)
    got = approx_fma(a, b, c, *fmts, granularity=g, window=k, rounding=rounding)
    want = np.array(
        [
            ref_approx(int(x), int(y), int(z), *fmts, g, k, rounding)
            for x, y, z in zip(a, b, c, strict=True)
        ],
        dtype=np.uint64,
    )
    _check(
        "approx_fma vs SPEC 3.3 Fraction model",
        got,
        want,
        a,
        b,
        c,
        fmts,
        G=g,
        K=k,
        rounding=rounding,
    )


@pytest.mark.parametrize("fmts, g, k", _approx_points(GK_POINTS))
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_approx_fma_vs_fraction(fmts, g, k, rounding):
    _approx_vs_fraction(fmts, g, k, rounding, 600, 10 * g + (k or 0), corners=400)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fmts, g, k", _approx_points(GK_POINTS + [(2, 4), (4, 4), (8, 24), (16, 32), (32, 0)])
)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_approx_fma_vs_fraction_slow(fmts, g, k, rounding):
    _approx_vs_fraction(fmts, g, k, rounding, 20000, 1000 + g + (k or 0))


def _neighbours(x, fo):
    """Faithful results of an exact sum: its two grid neighbours (one if exact)."""
    if x[0] != "num" or x[2] == 0:
        return None
    _, s, v = x
    lo, hi = ref_grid_round(v, fo, "rtz"), ref_grid_round(v, fo, "up")
    if hi > _table(fo)[1]:
        return None  # overflow region: not a faithfulness question
    return {
        ref_encode(("num", s, lo), fo, "rtz", False),
        ref_encode(("num", s, hi), fo, "rtz", False),
    }


@pytest.mark.parametrize("fmts", FORMAT_POINTS)
@pytest.mark.parametrize("g", [2, 4, 8])
def test_approx_fma_faithful(fmts, g):
    a, b, c = _inputs(fmts, 3000, 77 + g)
    y = approx_fma(a, b, c, *fmts, granularity=g)
    bad = []
    for i, (x, yy, zz) in enumerate(zip(a.tolist(), b.tolist(), c.tolist(), strict=True)):
        nb = _neighbours(_ref_sum(x, yy, zz, *fmts[:3]), fmts[3])
        if nb is not None and int(y[i]) not in nb:
            bad.append(i)
    if bad:
        want = y.copy()
        for i in bad:
            want[i] = min(
                _neighbours(_ref_sum(int(a[i]), int(b[i]), int(c[i]), *fmts[:3]), fmts[3])
            )
        raise AssertionError(_mismatch("approx_fma not faithful", bad, a, b, c, y, want, fmts, G=g))


# ---------------------------------------------------------------------------------------------
# Error analysis
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmts", [(BF16,) * 4, (E4M3,) * 4, (E5M2,) * 4])
@pytest.mark.parametrize("g", [2, 4, 8])
def test_error_below_one_ulp(fmts, g):
    a, b, c = _inputs(fmts, 20000, 5 + g)
    err = approx_fma_error(a, b, c, *fmts, granularity=g)
    s = err.summary()
    assert s["lanes"] > 20000
    # faithful: < 1 ulp of the result, and never more than 1 - 2**-G (SPEC 3.3's analysis)
    assert s["max_vs_exact"] <= 1 - 2.0**-g, s
    assert s["max_vs_fma"] <= 1, s
    # one grid step at most: 1 ulp, or 1/2 ulp when y is a power of two and fma below it
    assert set(np.unique(err.vs_fma[~np.isnan(err.vs_fma)]).tolist()) <= {0.0, 0.5, 1.0}
    exact = approx_fma_error(a, b, c, *fmts, granularity=1)
    assert exact.summary()["max_vs_exact"] <= 0.5
    assert exact.summary()["max_vs_fma"] == 0


def test_error_values_against_fraction():
    rng = np.random.default_rng(11)
    fmts = (BF16,) * 4
    a, b, c = stimulus(*fmts[:3], 300, rng)
    err = approx_fma_error(a, b, c, *fmts, granularity=8, window=16)
    assert (err.fma == fma(a, b, c, *fmts)).all()
    assert (err.approx == approx_fma(a, b, c, *fmts, granularity=8, window=16)).all()
    for i in range(len(a)):
        x = _ref_sum(int(a[i]), int(b[i]), int(c[i]), *fmts[:3])
        y, f = ref_decode(int(err.approx[i]), BF16), ref_decode(int(err.fma[i]), BF16)
        if y[0] != "num" or f[0] != "num":
            assert np.isnan(err.vs_exact[i]) and np.isnan(err.vs_fma[i])
            continue
        yv, fv = (-1) ** y[1] * y[2], (-1) ** f[1] * f[2]
        ulp = Fraction(2) ** max(_floor_log2(f[2]) - 7 if f[2] else -133, -133)
        assert err.vs_fma[i] == float(abs(yv - fv) / ulp)
        if x[0] != "num":
            assert np.isnan(err.vs_exact[i])
        else:
            assert err.vs_exact[i] == float(abs(yv - (-1) ** x[1] * x[2]) / ulp)


@pytest.mark.slow
def test_e4m3fn_exhaustive_slow():
    """All 2^24 e4m3fn triples: fma (rne) against float64 arithmetic, which is exact here
    (a*b + c spans at most 37 bits), rounded to the e4m3fn grid in numpy; approx_fma G=1 and
    rtz equal fma; approx_fma G in {2, 4, 8} faithful."""
    fmts = (E4M3,) * 4
    codes = np.arange(256, dtype=np.uint64)
    vals = _to_float(codes, E4M3)
    b = np.repeat(codes, 256)
    c = np.tile(codes, 256)
    for ai in range(256):
        a = np.full(b.shape, ai, dtype=np.uint64)
        with np.errstate(invalid="ignore"):
            v = vals[ai] * vals[b.astype(np.int64)] + vals[c.astype(np.int64)]
        mag = np.abs(v)
        fin = np.isfinite(v) & (mag > 0)
        e = np.floor(np.log2(np.where(fin, mag, 1.0)))
        ulp = np.exp2(np.maximum(e - 3, -9))
        rd = np.floor(mag / ulp) * ulp
        ru = np.where(rd == mag, rd, rd + ulp)
        half = mag - rd
        up = (half > ulp / 2) | ((half == ulp / 2) & (np.mod(rd / ulp, 2) == 1))
        want = np.where(up, ru, rd)
        want = np.where(want > 448, np.nan, want)
        want = np.where(fin, np.copysign(want, v), v)  # zeros and NaN as float64 gives them
        got = fma(a, b, c, *fmts)
        gv = _to_float(got, E4M3)
        ok = (gv == want) & (np.signbit(gv) == np.signbit(want)) | (np.isnan(gv) & np.isnan(want))
        idx = np.nonzero(~ok)[0]
        assert not len(idx), _mismatch(
            "fma vs float64", idx, a, b, c, got, _from_float(want, E4M3), fmts
        )
        for mode in ("rne", "rtz"):
            ref = fma(a, b, c, *fmts, rounding=mode) if mode == "rtz" else got
            for g in (1, 2, 4, 8) if mode == "rtz" else (1,):
                ap = approx_fma(a, b, c, *fmts, granularity=g, rounding=mode)
                _check("approx vs fma", ap, ref, a, b, c, fmts, G=g, rounding=mode)
        sel = fin & (ru <= 448)
        for g in (2, 4, 8):
            ap = approx_fma(a, b, c, *fmts, granularity=g)
            av = np.abs(_to_float(ap, E4M3))
            bad = sel & ~((av == rd) | (av == ru))
            idx = np.nonzero(bad)[0]
            assert not len(idx), _mismatch(
                "approx_fma not faithful", idx, a, b, c, ap, _from_float(rd, E4M3), fmts, G=g
            )


def test_fnuz_flushed_sign_codes_are_plus_zero():
    """SPEC 1.1: an fnuz format without subnormals has no -0, so its sign-1 codes with a zero
    exponent field (other than NaN) are +0. This file's reference read them as -0, which the
    grammar-wide property test (long profile) caught: (+0 read as -0) x +0 + -0 gave -0 where
    golden gives +0."""
    from exmy.golden import FloatFormat

    f = FloatFormat(1, 6, bias=0, special="fnuz", subnormals=False, signed=True)
    assert ref_decode(0x81, f) == ("num", 0, 0)
    a, b, c = (np.array([x], np.uint64) for x in (0x81, 0x00, 0x80))
    assert int(fma(a, b, c, f, E4M3, E4M3, E4M3)[0]) == ref_fma(0x81, 0, 0x80, f, E4M3, E4M3,
                                                                   E4M3, "rne") == 0
    assert int(approx_fma(a, b, c, f, E4M3, E4M3, E4M3, granularity=1)[0]) == 0
