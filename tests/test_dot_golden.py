"""golden.dot / golden.mx dot products against an exact Fraction model written here.

The oracle decodes encodings through ml_dtypes (mxint8 and the E8M0 scale by their
definitions), sums with ``fractions.Fraction`` and rounds the exact sum into float32 with its
own round-to-nearest-even / toward-zero / ties-away code: nothing from exmy.golden.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from exmy.golden.dot import dot, dot_mac, dot_params
from exmy.golden.mx import mx_dot, mx_dot_mac, mx_dot_params

DT = {
    "float8_e4m3fn": ml_dtypes.float8_e4m3fn,
    "float8_e5m2": ml_dtypes.float8_e5m2,
    "float6_e2m3fn": ml_dtypes.float6_e2m3fn,
    "float6_e3m2fn": ml_dtypes.float6_e3m2fn,
    "float4_e2m1fn": ml_dtypes.float4_e2m1fn,
    "bfloat16": ml_dtypes.bfloat16,
    "float16": np.float16,
}
WIDTH = {
    "float8_e4m3fn": 8, "float8_e5m2": 8, "float6_e2m3fn": 6, "float6_e3m2fn": 6,
    "float4_e2m1fn": 4, "mxint8": 8, "bfloat16": 16, "float16": 16, "int8": 8, "uint4": 4,
}
ELEMS = ["float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
         "mxint8"]
NAN = "nan"


def value(code: int, fmt: str):
    """Exact value of one encoding: a Fraction, or NAN, or +-math.inf."""
    code = int(code)
    if fmt == "mxint8":
        return Fraction(code - 256 if code >= 128 else code, 64)
    if fmt == "int8":
        return Fraction(code - 256 if code >= 128 else code)
    if fmt == "uint4":
        return Fraction(code)
    if fmt == "float8_e8m0fnu":
        return NAN if code == 255 else Fraction(2) ** (code - 127)
    bits = np.array([code], dtype=np.uint16 if WIDTH[fmt] == 16 else np.uint8)
    with np.errstate(invalid="ignore"):
        v = float(bits.view(DT[fmt]).astype(np.float64)[0])
    if math.isnan(v):
        return NAN
    if math.isinf(v):
        return v
    return Fraction(v)


def _neg_zero(code: int, fmt: str) -> bool:
    if fmt in ("mxint8", "int8", "uint4"):
        return False
    return int(code) == 1 << (WIDTH[fmt] - 1)


def round_f32(v, rounding: str = "rne") -> int:
    """Round an exact Fraction into float32 bits (IEEE binary32, subnormals, overflow)."""
    if v == 0:
        return 0
    neg = v < 0
    a = -v if neg else v
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)
    q = Fraction(2) ** (e - 23)
    n, rem = divmod(a, q)
    n = int(n)
    if rounding == "rne":
        n += rem * 2 > q or (rem * 2 == q and n & 1)
    elif rounding == "rna":
        n += rem * 2 >= q
    r = Fraction(n) * q
    biggest = Fraction(2**24 - 1) * Fraction(2) ** 104
    if r > biggest:
        bits = 0x7F7FFFFF if rounding == "rtz" else 0x7F800000
    else:
        bits = int(np.float32(math.ldexp(n, e - 23)).view(np.uint32))
    return bits | (0x80000000 if neg else 0)


def oracle_sum(terms):
    """terms: list of (value, is_neg_zero). Returns a Fraction, NAN, +-inf, or '-0'."""
    if any(t is NAN for t, _ in terms):
        return NAN
    infs = {t for t, _ in terms if isinstance(t, float)}
    if len(infs) == 2:
        return NAN
    if infs:
        return infs.pop()
    s = sum((t for t, _ in terms), Fraction(0))
    if s == 0 and all(nz for _, nz in terms):
        return "-0"
    return s


def oracle_product(x, y):
    if x is NAN or y is NAN:
        return NAN
    if isinstance(x, float) or isinstance(y, float):
        if x == 0 or y == 0:
            return NAN
        return math.copysign(math.inf, float(x) * float(y))
    return x * y


def to_f32_bits(r, rounding="rne") -> int:
    if r is NAN:
        return 0x7FC00000
    if r == "-0":
        return 0x80000000
    if isinstance(r, float):
        return 0x7F800000 if r > 0 else 0xFF800000
    return round_f32(r, rounding)


def oracle_dot(a, b, fa, fb, c=None, fc=None, rounding="rne") -> int:
    terms = []
    for x, y in zip(a, b, strict=True):
        vx, vy = value(x, fa), value(y, fb)
        p = oracle_product(vx, vy)
        nz = False  # a zero product is -0 iff the operand signs differ
        if not (p is NAN or isinstance(p, float)) and p == 0:
            nz = _sign(x, fa, vx) != _sign(y, fb, vy)
        terms.append((p, nz))
    if c is not None:
        terms.append((value(c, fc), _neg_zero(c, fc)))
    return to_f32_bits(oracle_sum(terms), rounding)


def _sign(code, fmt, v) -> bool:
    if fmt in ("mxint8", "int8", "uint4"):
        return v < 0
    return bool((int(code) >> (WIDTH[fmt] - 1)) & 1)


def _check(got, want, what):
    got = [int(g) for g in np.ravel(got)]
    bad = [
        i for i, (g, w) in enumerate(zip(got, want, strict=True))
        if g != w and not (w == 0x7FC00000 and (g & 0x7F800000) == 0x7F800000 and g & 0x7FFFFF)
    ]
    assert not bad, f"{what}: {len(bad)} mismatches, first at {bad[0]}: {got[bad[0]]:#x} != " \
                    f"{want[bad[0]]:#x}"


def rand_codes(rng, fmt, shape):
    return rng.integers(0, 1 << WIDTH[fmt], shape, dtype=np.int64).astype(np.uint64)


# -- dot ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fa,fb",
    [(f, f) for f in ELEMS] + [("float8_e4m3fn", "float8_e5m2"), ("float4_e2m1fn", "int8"),
                               ("mxint8", "uint4"), ("bfloat16", "float16")],
)
def test_dot_random(fa, fb):
    rng = np.random.default_rng(hash((fa, fb)) % 2**32)
    a = rand_codes(rng, fa, (300, 8))
    b = rand_codes(rng, fb, (300, 8))
    got = dot(a, b, fa, fb)
    want = [oracle_dot(x, y, fa, fb) for x, y in zip(a, b, strict=True)]
    _check(got, want, f"dot {fa} x {fb}")


@pytest.mark.parametrize("rounding", ["rne", "rtz", "rna"])
def test_dot_with_addend_and_rounding(rounding):
    rng = np.random.default_rng(1)
    a = rand_codes(rng, "float8_e5m2", (400, 5))
    b = rand_codes(rng, "float8_e5m2", (400, 5))
    c = rand_codes(rng, "bfloat16", (400,))
    got = dot(a, b, "e5m2", "e5m2", c=c, fmt_c="bfloat16", rounding=rounding)
    want = [
        oracle_dot(x, y, "float8_e5m2", "float8_e5m2", z, "bfloat16", rounding)
        for x, y, z in zip(a, b, c, strict=True)
    ]
    _check(got, want, f"dot + c ({rounding})")


def test_dot_specials_and_zeros():
    e5 = "float8_e5m2"
    nan, inf, ninf, one, zero, nzero = 0x7F, 0x7C, 0xFC, 0x3C, 0x00, 0x80
    rows = [
        ([one, inf], [one, one]),  # +Inf
        ([inf, ninf], [one, one]),  # +Inf - Inf = NaN
        ([nan, one], [one, one]),  # NaN
        ([inf, one], [zero, one]),  # Inf x 0 = NaN
        ([nzero, nzero], [one, one]),  # -0 + -0 = -0
        ([nzero, zero], [one, one]),  # -0 + +0 = +0
        ([one, one], [one, 0xBC]),  # 1 - 1 = +0
        ([zero, zero], [zero, zero]),  # all-zero block
    ]
    a = np.array([r[0] for r in rows], np.uint64)
    b = np.array([r[1] for r in rows], np.uint64)
    got = dot(a, b, e5, e5)
    want = [oracle_dot(x, y, e5, e5) for x, y in zip(a, b, strict=True)]
    _check(got, want, "dot specials")
    assert int(got[4]) == 0x80000000 and int(got[5]) == 0 and int(got[6]) == 0


def test_dot_massive_cancellation():
    """Large terms cancel exactly and leave the tiny ones: an accumulator that rounded inside
    would lose them."""
    rng = np.random.default_rng(2)
    n = 200
    big = rng.integers(0x70, 0x7B, (n, 4)).astype(np.uint64)  # large e5m2 magnitudes
    tiny = rng.integers(1, 4, (n, 2)).astype(np.uint64)  # subnormals
    a = np.concatenate([big, big, tiny], axis=1)
    b = np.concatenate(
        [np.full((n, 4), 0x3C), np.full((n, 4), 0xBC), np.full((n, 2), 0x3C)], axis=1
    ).astype(np.uint64)
    got = dot(a, b, "e5m2", "e5m2")
    want = [oracle_dot(x, y, "float8_e5m2", "float8_e5m2") for x, y in zip(a, b, strict=True)]
    _check(got, want, "cancellation")
    assert all(int(g) != 0 for g in got)


def test_dot_shapes_and_output_format():
    rng = np.random.default_rng(3)
    a = rand_codes(rng, "float4_e2m1fn", (3, 4, 2))
    b = rand_codes(rng, "float4_e2m1fn", (3, 4, 2))
    assert dot(a, b, "e2m1fn", "e2m1fn").shape == (3, 4)
    y16 = dot(a, b, "e2m1fn", "e2m1fn", fmt_out="bfloat16")
    y32 = dot(a, b, "e2m1fn", "e2m1fn")
    # every e2m1 dot of 2 lanes is exact in bfloat16: same value
    assert np.array_equal(
        (y16.astype(np.uint32) << 16).view(np.float32), y32.astype(np.uint32).view(np.float32)
    )


def test_dot_errors():
    a = np.zeros((2, 3), np.uint64)
    with pytest.raises(ValueError, match=r"one shape \(\.\.\., N\)"):
        dot(a, np.zeros((2, 4)), "e4m3fn", "e4m3fn")
    with pytest.raises(ValueError, match="Lane count must be a positive integer, not 0"):
        dot(np.zeros((2, 0)), np.zeros((2, 0)), "e4m3fn", "e4m3fn")
    with pytest.raises(ValueError, match="has no zero"):
        dot(a, a, "e8m0fnu", "e4m3fn")
    with pytest.raises(TypeError, match="FloatFormat, IntFormat or a name, not 3"):
        dot(a, a, 3, "e4m3fn")
    with pytest.raises(ValueError, match="Dot output format must be a float format, not int8"):
        dot(a, a, "e4m3fn", "e4m3fn", fmt_out="int8")
    with pytest.raises(TypeError, match="Dot output format must be a FloatFormat"):
        dot(a, a, "e4m3fn", "e4m3fn", fmt_out=1.5)
    with pytest.raises(ValueError, match="rounding must be one of rne, rtz, rna, not 'stoch"):
        dot(a, a, "e4m3fn", "e4m3fn", rounding="stochastic")
    with pytest.raises(TypeError, match="Rounding mode must be a string, not 1"):
        dot(a, a, "e4m3fn", "e4m3fn", rounding=1)
    with pytest.raises(ValueError, match="Give both c and fmt_c"):
        dot(a, a, "e4m3fn", "e4m3fn", c=np.zeros(2))
    with pytest.raises(ValueError, match=r"addend c must have the shape \(2,\)"):
        dot(a, a, "e4m3fn", "e4m3fn", c=np.zeros(3), fmt_c="e4m3fn")
    with pytest.raises(ValueError, match="Dot addend c format must be a float format"):
        dot(a, a, "e4m3fn", "e4m3fn", c=np.zeros(2), fmt_c="int8")


# -- dot_mac ----------------------------------------------------------------------------------
def _oracle_mac(vals, valid, clear, rounding="rne"):
    """vals: per-cycle oracle_sum results. SPEC 3.2: flags sticky until clear; acc exact."""
    acc, nan, pinf, ninf = Fraction(0), False, False, False
    out = []
    for v, va, cl in zip(vals, valid, clear, strict=True):
        if cl:
            acc, nan, pinf, ninf = Fraction(0), False, False, False
        if va:
            if v is NAN:
                nan = True
            elif isinstance(v, float):
                pinf |= v > 0
                ninf |= v < 0
            else:
                acc += 0 if v == "-0" else v
        if nan or (pinf and ninf):
            out.append(0x7FC00000)
        elif pinf:
            out.append(0x7F800000)
        elif ninf:
            out.append(0xFF800000)
        else:
            out.append(round_f32(acc, rounding))
    return out


@pytest.mark.parametrize("fmt", ["float8_e5m2", "float4_e2m1fn", "mxint8"])
def test_dot_mac(fmt):
    rng = np.random.default_rng(4)
    n, lanes = 600, 4
    a = rand_codes(rng, fmt, (n, lanes))
    b = rand_codes(rng, fmt, (n, lanes))
    if fmt == "float8_e5m2":  # keep specials rare so that the accumulator is exercised
        a = np.where(rng.random((n, lanes)) < 0.01, a, a & np.uint64(0xBB))
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.05).astype(np.uint8)
    out = dot_mac(a, b, valid, clear, fmt, fmt, fmt_out="float32")
    sums = [
        oracle_sum([
            (oracle_product(value(x, fmt), value(y, fmt)), False)
            for x, y in zip(ra, rb, strict=True)
        ])
        for ra, rb in zip(a, b, strict=True)
    ]
    _check(out["y"], _oracle_mac(sums, valid, clear), f"dot_mac {fmt}")
    p = dot_params(fmt, fmt, lanes)
    assert p.acc_bits == p.min_acc_bits and out["acc"].dtype == np.uint64 or p.acc_bits > 64


def test_dot_params_widths():
    p = dot_params("e4m3fn", "e4m3fn", 32, depth=1)
    top = 32 * 448**2 * 2**18  # 32 largest products on the 2^-18 grid
    assert p.acc_lsb_exp == -18 and p.sum_bits == top.bit_length() + 1 == 42
    assert p.acc_bits == 42
    assert dot_params("e4m3fn", "e4m3fn", 32).acc_bits == (4608 * top).bit_length() + 1
    with pytest.raises(TypeError, match="Lane count must be a positive integer, not 2.0"):
        dot_params("e4m3fn", "e4m3fn", 2.0)
    with pytest.raises(ValueError, match="Lane count must be a positive integer, not 0"):
        dot_params("e4m3fn", "e4m3fn", 0)
    with pytest.raises(ValueError, match="Accumulator width 10 is smaller than one"):
        dot_params("e4m3fn", "e4m3fn", 2, acc_bits=10)


# -- mx_dot -----------------------------------------------------------------------------------
def oracle_mx(a, b, sa, sb, fa, fb, fs, rounding="rne") -> int:
    xa, xb = value(sa, fs), value(sb, fs)
    if xa is NAN or xb is NAN:
        return 0x7FC00000
    terms = []
    for x, y in zip(a, b, strict=True):
        vx, vy = value(x, fa), value(y, fb)
        p = oracle_product(vx, vy)
        nz = False
        if not (p is NAN or isinstance(p, float)) and p == 0:
            nz = _sign(x, fa, vx) != _sign(y, fb, vy)
        terms.append((p, nz))
    s = oracle_sum(terms)
    if s is NAN:
        return 0x7FC00000
    scale = xa * xb
    if isinstance(s, float):
        if scale == 0:
            return 0x7FC00000
        return to_f32_bits(math.copysign(math.inf, s * float(scale)))
    if s == "-0":
        return 0 if scale < 0 else 0x80000000
    if scale == 0:  # a finite sum times a +0 scale (the test's scales are never -0)
        return 0x80000000 if s < 0 else 0
    return round_f32(s * scale, rounding)


def _e4m3_sign(code):
    return (int(code) >> 7) & 1


def mx_cases(rng, fa, fb, fs, n, k):
    """Random blocks plus the corner classes: zero blocks, extreme and NaN scales,
    cancellation."""
    a = rand_codes(rng, fa, (n, k))
    b = rand_codes(rng, fb, (n, k))
    if fs == "float8_e8m0fnu":
        sa = rng.integers(0, 256, n).astype(np.uint64)
        sb = rng.integers(0, 256, n).astype(np.uint64)
        # around 2^0 mostly, so that results are neither all overflow nor all underflow
        mid = rng.random(n) < 0.6
        sa = np.where(mid, rng.integers(117, 138, n), sa).astype(np.uint64)
        sb = np.where(mid, rng.integers(117, 138, n), sb).astype(np.uint64)
        sa[:8] = [0, 254, 255, 127, 0, 254, 1, 253]  # 2^-127, 2^127, NaN
        sb[:8] = [0, 254, 127, 255, 254, 0, 0, 254]
    else:
        sa = rand_codes(rng, "float8_e4m3fn", (n,)) & np.uint64(0x7F)  # NVFP4 scales >= 0
        sb = rand_codes(rng, "float8_e4m3fn", (n,)) & np.uint64(0x7F)
        sa[:4] = [0x7F, 0, 0x7E, 1]  # NaN, 0, max, min subnormal
        sb[:4] = [0x38, 0x38, 0x7E, 1]
    a[8:12] = 0  # zero blocks
    b[12:16] = a[12:16]
    neg = 1 << (WIDTH[fb] - 1)
    if fb == "mxint8":  # cancellation: b = -a lane for lane on half the lanes
        pass
    else:
        half = k // 2
        a[16:24, half:] = a[16:24, :k - half]
        b[16:24, :half] = b[16:24, half: 2 * half] & np.uint64(neg - 1)
        b[16:24, half: 2 * half] = b[16:24, :half] | np.uint64(neg)
    return a, b, sa, sb


MX_CASES = [(f, f, "float8_e8m0fnu", 32) for f in ELEMS] + [
    ("float4_e2m1fn", "float4_e2m1fn", "float8_e4m3fn", 16),
    ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", 32),
]


@pytest.mark.parametrize("fa,fb,fs,k", MX_CASES)
def test_mx_dot(fa, fb, fs, k):
    rng = np.random.default_rng(WIDTH[fa] * 7 + k)
    a, b, sa, sb = mx_cases(rng, fa, fb, fs, 400, k)
    got = mx_dot(a, b, sa, sb, fa, elem_b=fb, scale_fmt=fs)
    want = [oracle_mx(*r, fa, fb, fs) for r in zip(a, b, sa, sb, strict=True)]
    _check(got, want, f"mx_dot {fa} x {fb} scale {fs}")


def test_mx_dot_specials_e5m2():
    """NaN/Inf elements in e5m2 and NaN scales."""
    rng = np.random.default_rng(5)
    n, k = 300, 32
    a = rand_codes(rng, "float8_e5m2", (n, k)) & np.uint64(0xBB)
    b = rand_codes(rng, "float8_e5m2", (n, k)) & np.uint64(0xBB)
    specials = np.array([0x7C, 0xFC, 0x7D, 0xFF], np.uint64)
    hit = rng.random((n, k)) < 0.02
    a = np.where(hit, specials[rng.integers(0, 4, (n, k))], a)
    sa = rng.integers(120, 135, n).astype(np.uint64)
    sb = rng.integers(120, 135, n).astype(np.uint64)
    sa[rng.random(n) < 0.05] = 255
    got = mx_dot(a, b, sa, sb, "e5m2")
    want = [oracle_mx(*r, "float8_e5m2", "float8_e5m2", "float8_e8m0fnu")
            for r in zip(a, b, sa, sb, strict=True)]
    _check(got, want, "mx_dot e5m2 specials")


@pytest.mark.parametrize("rounding", ["rtz", "rna"])
def test_mx_dot_rounding(rounding):
    rng = np.random.default_rng(6)
    a, b, sa, sb = mx_cases(rng, "float8_e4m3fn", "float8_e4m3fn", "float8_e8m0fnu", 300, 32)
    got = mx_dot(a, b, sa, sb, "e4m3fn", rounding=rounding, fmt_out="float32")
    want = [oracle_mx(*r, "float8_e4m3fn", "float8_e4m3fn", "float8_e8m0fnu", rounding)
            for r in zip(a, b, sa, sb, strict=True)]
    _check(got, want, f"mx_dot {rounding}")


@pytest.mark.parametrize("fa,fb", [("bfloat16", "bfloat16"), ("float16", "bfloat16"),
                                   ("bfloat16", "int8")])
def test_one_dot_product_of_wide_formats(fa, fb):
    """One dot product (a and b of shape (N,)), or one MX block, of formats whose exact sum
    needs more than 62 bits: ``dot`` and ``mx_dot`` raised OverflowError (numpy handed a
    one-result sum back as a Python integer, which ``np.where`` squeezed into int64). A batch
    of shape (M, N) worked. Each single result now equals the oracle's and the batch's."""
    rng = np.random.default_rng(11)
    a, b = rand_codes(rng, fa, (20, 6)), rand_codes(rng, fb, (20, 6))
    batch = dot(a, b, fa, fb)
    for x, y, yb in zip(a, b, batch, strict=True):
        got = dot(x, y, fa, fb)
        assert np.shape(got) == ()
        _check([got, yb], [oracle_dot(x, y, fa, fb)] * 2, f"one dot {fa} x {fb}")
    sa = rng.integers(110, 145, 20).astype(np.uint64)
    sb = rng.integers(110, 145, 20).astype(np.uint64)
    mx_batch = mx_dot(a, b, sa, sb, fa, elem_b=fb)
    for x, y, s, t, yb in zip(a, b, sa, sb, mx_batch, strict=True):
        got = mx_dot(x, y, s, t, fa, elem_b=fb)
        assert np.shape(got) == ()
        want = oracle_mx(x, y, s, t, fa, fb, "float8_e8m0fnu")
        _check([got, yb], [want] * 2, f"one MX block {fa} x {fb}")


@pytest.mark.parametrize("fa,fs,k", [("float8_e4m3fn", "float8_e8m0fnu", 32),
                                     ("float4_e2m1fn", "float8_e4m3fn", 16),
                                     ("mxint8", "float8_e8m0fnu", 32)])
def test_mx_dot_mac_exact_across_blocks(fa, fs, k):
    """Blocks with scales 2^127 and 2^-127 in one accumulation: exact, then one rounding."""
    rng = np.random.default_rng(7)
    n = 300
    a, b, sa, sb = mx_cases(rng, fa, fa, fs, n, k)
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.03).astype(np.uint8)
    out = mx_dot_mac(a, b, sa, sb, valid, clear, fa, scale_fmt=fs, fmt_out="float32")
    blocks = []
    for ra, rb, xa, xb in zip(a, b, sa, sb, strict=True):
        va, vb = value(xa, fs), value(xb, fs)
        s = oracle_sum([(oracle_product(value(x, fa), value(y, fa)), False)
                        for x, y in zip(ra, rb, strict=True)])
        if va is NAN or vb is NAN or s is NAN:
            blocks.append(NAN)
        elif isinstance(s, float):
            blocks.append(NAN if va * vb == 0 else s)
        else:
            blocks.append(0 if s == "-0" else s * va * vb)
    _check(out["y"], _oracle_mac(blocks, valid, clear), f"mx_dot_mac {fa}")


def test_mx_params():
    p = mx_dot_params("e4m3fn")
    assert p.block == 32 and p.acc_lsb_exp == -18 - 254
    assert mx_dot_params("e2m1fn", scale_fmt="e4m3fn").block == 16


def test_mx_dot_errors():
    z = np.zeros((2, 4), np.uint64)
    s = np.zeros(2, np.uint64)
    with pytest.raises(ValueError, match="MX element format e8m0fnu is a block-scale format"):
        mx_dot(z, z, s, s, "e8m0fnu")
    with pytest.raises(ValueError, match="Block-scale format must be float8_e8m0fnu .* not e5m2"):
        mx_dot(z, z, s, s, "e4m3fn", scale_fmt="e5m2")
    with pytest.raises(TypeError, match="Block-scale format must be a FloatFormat"):
        mx_dot(z, z, s, s, "e4m3fn", scale_fmt=None)
    with pytest.raises(ValueError, match=r"MX scale_b must have the shape \(2,\)"):
        mx_dot(z, z, s, np.zeros(3), "e4m3fn")
    with pytest.raises(ValueError, match="MX operands a and b must have one shape"):
        mx_dot(z, np.zeros((2, 5)), s, s, "e4m3fn")
    with pytest.raises(ValueError, match="Block size must be a positive integer, not 0"):
        mx_dot_params("e4m3fn", block=0)
    with pytest.raises(TypeError, match="Block size must be a positive integer, not 'x'"):
        mx_dot_params("e4m3fn", block="x")
    with pytest.raises(ValueError, match=r"MX MAC operands must have shape \(cycles, k\)"):
        mx_dot_mac(np.zeros(3), np.zeros(3), 0, 0, 1, 0, "e4m3fn")
