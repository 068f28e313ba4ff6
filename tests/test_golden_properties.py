"""Property-based tests of the golden model (issue 11): ``decode``, ``encode``, ``convert``,
``multiply``, ``fma``, ``approx_fma``, the MACs and ``dot`` over the whole format grammar (E
1-8, M 0-10, every special, non-default biases, ftz, unsigned, no zero; integer formats) and every
rounding mode, stochastic at every R, against an exact ``fractions.Fraction`` reference written
here from SPEC sections 1-3 (it reads only a format's fields, never golden's derived properties
or functions; ``approx_fma``'s six steps of SPEC 3.3 are tests/test_fma_golden.py's reference).

Examples: the ``default`` hypothesis profile of tests/conftest.py (deterministic); the slow
tier reruns this file with ``--hypothesis-profile=long`` (100x the examples, random seed).
Also here: the issue 11 reproducers of the stochastic-rounding bug (a rounding shift past 63
bits read the wrong bits), in the golden model and in the hardware.
"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exmy.golden import (
    CATALOG,
    FloatFormat,
    IntFormat,
    Raw,
    approx_fma,
    approx_fma_datapath_width,
    catalog_formats,
    convert,
    decode,
    encode,
    float_acc_mac,
    fma,
    mac,
    mac_params,
    multiply,
    parse_format,
    to_fraction,
)
from exmy.golden.dot import dot

MODES = ("rne", "rtz", "rna", "stochastic")
#: examples per test in the loaded profile (default tier: conftest.DEFAULT_EXAMPLES)
N = settings.default.max_examples


# -- the reference ---------------------------------------------------------------------------
def _pow2(e: int) -> Fraction:
    return Fraction(2) ** e


def _floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while _pow2(e) > x:
        e -= 1
    while _pow2(e + 1) <= x:
        e += 1
    return e


class Ref:
    """SPEC 1.1 geometry of a FloatFormat, from its fields only."""

    def __init__(self, f: FloatFormat):
        self.E, self.M, self.B = f.exp_bits, f.man_bits, f.bias
        self.special, self.sub, self.signed, self.zero = f.special, f.subnormals, f.signed, f.zero
        E, M = self.E, self.M
        self.top = (1 << E) - 1
        if self.special == "ieee":
            ef, mf = self.top - 1, (1 << M) - 1
        elif self.special == "fn":
            ef, mf = (self.top - 1, 0) if M == 0 else (self.top, (1 << M) - 2)
        else:
            ef, mf = self.top, (1 << M) - 1
        self.max_code = (ef << M) | mf
        self.max_finite = _pow2(ef - self.B) * (1 + Fraction(mf, 1 << M))
        self.emax = ef - self.B
        self.emin = (1 if self.zero else 0) - self.B
        self.nan_code = {
            "ieee": (self.top << M) | (1 << (M - 1)) if M else None,
            "fn": (1 << (E + M)) - 1,
            "fnuz": 1 << (E + M),
            "none": None,
        }[self.special]
        self.inf_code = self.top << M if self.special == "ieee" else None

    def decode(self, code: int):
        """(sign, magnitude): magnitude a Fraction, "inf" or "nan"."""
        E, M = self.E, self.M
        s = (code >> (E + M)) & 1 if self.signed else 0
        e, m = (code >> M) & self.top, code & ((1 << M) - 1)
        if self.special == "ieee" and e == self.top:
            return (s, "inf") if m == 0 else (0, "nan")
        if self.special == "fn" and e == self.top and m == (1 << M) - 1:
            return (0, "nan")
        if self.special == "fnuz" and (s, e, m) == (1, 0, 0):
            return (0, "nan")
        if not self.zero:
            return (s, _pow2(e - self.B))
        if e == 0:
            mag = _pow2(1 - self.B) * Fraction(m, 1 << M) if self.sub else Fraction(0)
            if mag == 0 and self.special == "fnuz":
                s = 0  # fnuz has no -0 (SPEC 1.1, also with subnormals off)
            return (s, mag)
        return (s, _pow2(e - self.B) * (1 + Fraction(m, 1 << M)))

    def _code(self, s: int, v: Fraction) -> int:
        E, M = self.E, self.M
        if v == 0:
            mag = 0
        else:
            e = _floor_log2(v)
            if self.zero and e < self.emin:
                man = v / _pow2(self.emin - M)
                assert man.denominator == 1 and man < (1 << M)
                mag = int(man)
            else:
                man = v / _pow2(e - M) - (1 << M)
                assert man.denominator == 1 and 0 <= man < (1 << M)
                mag = ((e + self.B) << M) | int(man)
        if not self.signed or (self.special == "fnuz" and mag == 0):
            return mag
        return (s << (E + M)) | mag

    def encode(self, val, mode: str, saturate: bool, rand: int, R: int, extra=None) -> int:
        """SPEC 2 with the README's decisions (rtz never overflows to Inf/NaN; saturate also
        maps Inf to max_finite). ``extra``: the value used for the rounding decision of
        rne/rtz/rna when a sticky input lies strictly between representable neighbours."""
        s, x = val
        nan = self.nan_code if self.nan_code is not None else 0
        if x == "nan":
            return nan
        if not self.signed and s == 1 and (x == "inf" or x != 0):
            return nan  # a negative non-zero value has no encoding
        if x == "inf":
            if saturate or self.special == "none":
                return self.max_code | (s << (self.E + self.M) if self.signed else 0)
            return nan if self.inf_code is None else self.inf_code | (s << (self.E + self.M))
        if x == 0 and not self.zero:
            return nan
        v = _round(x if extra is None else extra, self.emin, self.M, mode, rand, R)
        if self.zero and not self.sub and v < _pow2(self.emin):
            v = Fraction(0)  # flush after rounding on the subnormal grid
        if not self.zero and v < _pow2(self.emin):
            v = _pow2(self.emin)
        if v > self.max_finite:
            sign = s << (self.E + self.M) if self.signed else 0
            if saturate or self.special == "none" or mode == "rtz":
                return self.max_code | sign
            return nan if self.inf_code is None else self.inf_code | sign
        return self._code(s, v)


def _round(x: Fraction, emin: int, M: int, mode: str, rand: int, R: int, q=None) -> Fraction:
    """Round the magnitude x to the grid 2**q (default: the format's at x) by mode."""
    if x == 0:
        return x
    if q is None:
        q = max(_floor_log2(x) - M, emin - M)
    t = x / _pow2(q)
    n = t.numerator // t.denominator
    frac = t - n
    if mode == "rne":
        up = frac > Fraction(1, 2) or (frac == Fraction(1, 2) and n % 2 == 1)
    elif mode == "rna":
        up = frac >= Fraction(1, 2)
    elif mode == "rtz":
        up = False
    else:  # SPEC 2.6: round up iff rand/2**R + d_R >= 1, d_R = d truncated to R bits
        d_r = (frac * (1 << R)).numerator // (frac * (1 << R)).denominator
        up = rand + d_r >= 1 << R
    return (n + up) * _pow2(q)


def ref_encode_int(f: IntFormat, val, mode: str, rand: int, R: int, extra=None) -> int:
    """Integer outputs round by mode, then clamp (NaN gives 0): README decision."""
    s, x = val
    lo, hi = (-(1 << (f.bits - 1)), (1 << (f.bits - 1)) - 1) if f.signed else (0, (1 << f.bits) - 1)
    if x == "nan":
        v = 0
    elif x == "inf":
        v = lo if s else hi
    else:
        n = _round(x if extra is None else extra, 0, 0, mode, rand, R, q=0)
        v = min(max(-n if s else n, lo), hi)
    return int(v) & ((1 << f.bits) - 1)


def ref_decode_int(f: IntFormat, code: int):
    v = code - (1 << f.bits) if f.signed and code >> (f.bits - 1) else code
    return (1 if v < 0 else 0, Fraction(abs(v)))


def ref_decode(f, code):
    return ref_decode_int(f, code) if isinstance(f, IntFormat) else Ref(f).decode(code)


def ref_encode(f, val, mode, saturate, rand, R, extra=None):
    if isinstance(f, IntFormat):
        return ref_encode_int(f, val, mode, rand, R, extra)
    return Ref(f).encode(val, mode, saturate, rand, R, extra)


def ref_multiply(va, vb):
    (sa, xa), (sb, xb) = va, vb
    if "nan" in (xa, xb) or ("inf", 0) in ((xa, xb), (xb, xa)):
        return (0, "nan")
    if "inf" in (xa, xb):
        return (sa ^ sb, "inf")
    return (sa ^ sb, xa * xb)


def raw_value(raw: Raw, i: int):
    """Lane i of a golden Raw as (sign, magnitude) (for comparing decode)."""
    if raw.nan[i]:
        return (0, "nan")
    if raw.inf[i]:
        return (int(raw.sign[i]), "inf")
    return (int(raw.sign[i]), Fraction(int(raw.sig[i])) * _pow2(int(raw.exp[i])))


# -- strategies ------------------------------------------------------------------------------
@st.composite
def generic_formats(draw, need_zero: bool = False) -> FloatFormat:
    E = draw(st.integers(1, 8))
    M = draw(st.integers(0, 10))
    zero = True if (need_zero or M > 0) else draw(st.booleans())
    signed = draw(st.booleans())
    if zero:
        specials = [s for s in ("ieee", "fn", "fnuz", "none")
                    if not (s == "ieee" and M == 0) and not (s == "fnuz" and not signed)]
        special = draw(st.sampled_from(specials))
        sub = draw(st.booleans())
    else:
        special, sub = "fn", False
    default = (1 << (E - 1)) - 1
    bias = draw(st.one_of(st.just(default), st.integers(default - (1 << E) - 4,
                                                        default + (1 << E) + 4)))
    try:
        return FloatFormat(E, M, bias=bias, special=special, subnormals=sub, signed=signed,
                           zero=zero)
    except ValueError:  # e.g. E = 1 ieee: no finite normal binade
        assume(False)


def float_formats(need_zero: bool = False):
    cat = [f for f in catalog_formats() if f.zero or not need_zero]
    return st.one_of(st.sampled_from(cat), generic_formats(need_zero))


int_formats = st.builds(IntFormat, st.integers(1, 32), st.booleans())
any_formats = st.one_of(float_formats(), int_formats)


@st.composite
def codes(draw, f, n_max: int = 24, n: int | None = None) -> list[int]:
    """Encodings of f: random, plus the edges (0, ±max, specials, the sign boundary);
    ``n`` of them, else 1 to ``n_max``."""
    top = (1 << f.width) - 1
    edge = [0, 1, top, top - 1, top >> 1, (top >> 1) + 1, (top >> 1) - 1]
    if isinstance(f, FloatFormat):
        r = Ref(f)
        edge += [r.max_code, r.max_code - 1, (1 << f.man_bits), (1 << f.man_bits) - 1]
        edge += [c for c in (r.nan_code, r.inf_code) if c is not None]
    edge = [c for c in edge if 0 <= c <= top]
    return draw(st.lists(st.one_of(st.sampled_from(edge), st.integers(0, top)),
                         min_size=n or 1, max_size=n or n_max))


def rounding_options(draw, mode: str | None = None, R: int | None = None):
    mode = draw(st.sampled_from(MODES)) if mode is None else mode
    if mode != "stochastic":
        return mode, None
    return mode, draw(st.integers(1, 32)) if R is None else R


@st.composite
def raw_values(draw, f, n_max: int = 16):
    """Exact values (sign, sig, exp, sticky, nan, inf) spread over f's whole range and far
    beyond it on both sides; significands up to 61 bits (rounding shifts past 63 bits)."""
    if isinstance(f, IntFormat):
        lo, hi = -80, f.bits + 45
    else:
        r = Ref(f)
        lo, hi = r.emin - f.man_bits - 80, r.emax + 8
    lanes = []
    for _ in range(draw(st.integers(1, n_max))):
        kind = draw(st.sampled_from(["num"] * 8 + ["zero", "nan", "inf"]))
        k = draw(st.integers(1, 61))
        sig = draw(st.integers(1 << (k - 1), (1 << k) - 1)) if kind == "num" else 0
        t = draw(st.integers(lo, hi))  # weight of the leading bit
        lanes.append((draw(st.integers(0, 1)), sig, t - k + 1 if sig else draw(
            st.integers(-100, 100)), draw(st.booleans()) and kind == "num", kind))
    return lanes


def _raw(lanes) -> Raw:
    sign = np.array([x[0] for x in lanes], np.uint8)
    sig = np.array([x[1] for x in lanes], np.int64)
    exp = np.array([x[2] for x in lanes], np.int64)
    sticky = np.array([x[3] for x in lanes], bool)
    nan = np.array([x[4] == "nan" for x in lanes], bool)
    inf = np.array([x[4] == "inf" for x in lanes], bool)
    return Raw(sign, sig, exp, nan, inf, sticky)


def _lane_value(lane):
    s, sig, exp, _, kind = lane
    if kind == "nan":
        return (0, "nan")
    if kind == "inf":
        return (s, "inf")
    return (s, Fraction(sig) * _pow2(exp))


def _rounding_shift(f, x: Fraction) -> int:
    """Exponent of the rounding quantum at x (the reference's q)."""
    if isinstance(f, IntFormat):
        return 0
    r = Ref(f)
    return max(_floor_log2(x) - f.man_bits, r.emin - f.man_bits)


def _hexs(xs) -> list[str]:
    return [hex(int(x)) for x in xs]


# -- properties ------------------------------------------------------------------------------
@settings(max_examples=N)
@given(st.data())
def test_decode_matches_reference(data):
    """decode and to_fraction of any encoding of any format equal SPEC 1.1's value."""
    f = data.draw(any_formats, "fmt")
    cs = data.draw(codes(f, 48), "codes")
    raw = decode(np.array(cs, np.uint64), f)
    for i, c in enumerate(cs):
        want = ref_decode(f, c)
        assert raw_value(raw, i) == want, (f, hex(c))
        got = to_fraction(c, f)
        if want[1] == "nan":
            assert got != got
        elif want[1] == "inf":
            assert got == (-1) ** want[0] * float("inf")
        else:
            assert got == (-1) ** want[0] * want[1]


@settings(max_examples=N)
@given(st.data())
def test_format_names_round_trip(data):
    """Every format of the grammar prints a name that parses back to it."""
    f = data.draw(any_formats, "fmt")
    assert parse_format(str(f)) == f


def _check_encode(data, mode=None, R=None):
    f = data.draw(any_formats, "fmt")
    mode, R = rounding_options(data.draw, mode, R)
    saturate = data.draw(st.booleans(), "saturate")
    lanes = data.draw(raw_values(f), "values")
    # a sticky input says "a little more than sig": only meaningful when the rounding
    # position lies above sig's LSB (the Raw contract), so drop it elsewhere
    lanes = [
        (s, sig, e, st_ and _rounding_shift(f, Fraction(sig) * _pow2(e)) > e, kind)
        for s, sig, e, st_, kind in lanes
    ]
    rand = [data.draw(st.integers(0, (1 << R) - 1)) for _ in lanes] if R else [0] * len(lanes)
    got = encode(_raw(lanes), f, rounding=mode, saturate=saturate,
                 rand=np.array(rand, np.uint64) if R else None, rand_bits=R or 0)
    for i, lane in enumerate(lanes):
        val = _lane_value(lane)
        extra = None
        if lane[3] and mode != "stochastic":  # strictly between sig and sig + 1
            extra = (Fraction(lane[1]) + Fraction(1, 2)) * _pow2(lane[2])
        want = ref_encode(f, val, mode, saturate, rand[i], R or 0, extra)
        assert int(got[i]) == want, (f, mode, R, saturate, lane, rand[i], hex(int(got[i])),
                                     hex(want))


@settings(max_examples=N)
@given(st.data())
def test_encode_matches_reference(data):
    """encode of exact values (and NaN, ±Inf, ±0, sticky values) into any format, any mode,
    saturate or not, equals SPEC 2 computed with Fractions."""
    _check_encode(data)


@pytest.mark.parametrize("R", range(1, 33))
@settings(max_examples=max(N // 12, 8))
@given(st.data())
def test_encode_stochastic_every_R(R, data):
    """Stochastic rounding at every width R of the rand port (SPEC 2.6)."""
    _check_encode(data, "stochastic", R)


@settings(max_examples=N)
@given(st.data())
def test_convert_matches_reference(data):
    """convert between any two formats (float or integer), any mode: decode then encode."""
    fi = data.draw(any_formats, "fmt_in")
    fo = data.draw(any_formats, "fmt_out")
    mode, R = rounding_options(data.draw)
    saturate = data.draw(st.booleans(), "saturate")
    cs = data.draw(codes(fi), "codes")
    rand = [data.draw(st.integers(0, (1 << R) - 1)) for _ in cs] if R else [0] * len(cs)
    got = convert(np.array(cs, np.uint64), fi, fo, rounding=mode, saturate=saturate,
                  rand=np.array(rand, np.uint64) if R else None, rand_bits=R)
    for i, c in enumerate(cs):
        want = ref_encode(fo, ref_decode(fi, c), mode, saturate, rand[i], R or 0)
        assert int(got[i]) == want, (fi, fo, mode, R, saturate, hex(c), rand[i],
                                     hex(int(got[i])), hex(want))


@settings(max_examples=N)
@given(st.data())
def test_multiply_matches_reference(data):
    """multiply of any two formats with a zero into any float format (or the exact product
    format), any mode: the exact product (IEEE specials) rounded once."""
    fa = data.draw(float_formats(need_zero=True), "fmt_a")
    fb = data.draw(float_formats(need_zero=True), "fmt_b")
    exact = data.draw(st.integers(0, 3), "exact") == 0
    fo = None if exact else data.draw(float_formats(), "fmt_out")
    mode, R = ("rne", None) if exact else rounding_options(data.draw)
    saturate = False if exact else data.draw(st.booleans(), "saturate")
    a = data.draw(codes(fa), "a")
    b = data.draw(st.lists(st.integers(0, (1 << fb.width) - 1), min_size=len(a),
                           max_size=len(a)), "b")
    rand = [data.draw(st.integers(0, (1 << R) - 1)) for _ in a] if R else [0] * len(a)
    try:
        got = multiply(np.array(a, np.uint64), np.array(b, np.uint64), fa, fb, fo,
                       rounding=mode, saturate=saturate,
                       rand=np.array(rand, np.uint64) if R else None, rand_bits=R)
    except ValueError as exc:  # no exact product format within E <= 11, M <= 23
        assert exact and "needs more than" in str(exc)
        return
    for i in range(len(a)):
        p = ref_multiply(ref_decode(fa, a[i]), ref_decode(fb, b[i]))
        if exact:  # the product is exact: decoding y gives it back (zero sign: SPEC 2.4)
            got_v = ref_decode(parse_format(str(_exact_format(fa, fb))), int(got[i]))
            assert got_v[1] == p[1] or (got_v[1] != got_v[1] and p[1] != p[1]), (
                fa, fb, hex(a[i]), hex(b[i]), hex(int(got[i])))
            if p[1] not in ("nan",):
                want_sign = p[0] if _exact_format(fa, fb).signed else 0
                assert got_v[0] == want_sign or p[1] == "nan", (fa, fb, hex(a[i]), hex(b[i]))
            continue
        want = ref_encode(fo, p, mode, saturate, rand[i], R or 0)
        assert int(got[i]) == want, (fa, fb, fo, mode, R, saturate, hex(a[i]), hex(b[i]),
                                     rand[i], hex(int(got[i])), hex(want))


def ref_add(p, c):
    """The exact sum of two values (SPEC 3, IEEE rules): NaN in, or +Inf with -Inf, gives
    NaN; an exact zero sum is +0 unless both addends are -0."""
    (sp, xp), (sc, xc) = p, c
    if "nan" in (xp, xc):
        return (0, "nan")
    if "inf" in (xp, xc):
        if xp == xc == "inf" and sp != sc:
            return (0, "nan")
        return (sp, "inf") if xp == "inf" else (sc, "inf")
    v = (-1) ** sp * xp + (-1) ** sc * xc
    if v == 0:
        return (1 if (xp == 0 and xc == 0 and sp and sc) else 0, Fraction(0))
    return (1 if v < 0 else 0, abs(v))


def _fma_operands(data):
    """Three operand formats with a zero and their encodings; each lane's c is random, the
    negated product rounded into fmt_c (cancellation), or a signed zero."""
    fa, fb, fc = (data.draw(float_formats(need_zero=True), w) for w in ("fmt_a", "fmt_b", "fmt_c"))
    a = data.draw(codes(fa), "a")
    b, c = data.draw(codes(fb, n=len(a)), "b"), data.draw(codes(fc, n=len(a)), "c")
    for i in range(len(a)):
        p = ref_multiply(ref_decode(fa, a[i]), ref_decode(fb, b[i]))
        kind = data.draw(st.sampled_from(["any", "cancel", "zero"]))
        if kind == "cancel" and p[1] not in ("nan", "inf"):
            c[i] = ref_encode(fc, (1 - p[0], p[1]), data.draw(st.sampled_from(MODES[:3])),
                              True, 0, 0)
        elif kind == "zero":  # c = ±0 (the zero signs of a zero product plus a zero)
            c[i] = ref_encode(fc, (data.draw(st.integers(0, 1)), Fraction(0)), "rne", False,
                              0, 0)
    return fa, fb, fc, a, b, c


def _u64(xs):
    return np.array(xs, np.uint64)


@settings(max_examples=N)
@given(st.data())
def test_fma_matches_reference(data):
    """fma of any three formats with a zero into any float format, rne/rtz/rna, saturate or
    not: the exact a*b + c (IEEE specials and zero signs) rounded once."""
    fa, fb, fc, a, b, c = _fma_operands(data)
    fo = data.draw(float_formats(), "fmt_out")
    mode = data.draw(st.sampled_from(MODES[:3]), "rounding")
    saturate = data.draw(st.booleans(), "saturate")
    got = fma(_u64(a), _u64(b), _u64(c), fa, fb, fc, fo, rounding=mode, saturate=saturate)
    for i in range(len(a)):
        v = ref_add(ref_multiply(ref_decode(fa, a[i]), ref_decode(fb, b[i])),
                    ref_decode(fc, c[i]))
        want = ref_encode(fo, v, mode, saturate, 0, 0)
        assert int(got[i]) == want, (str(fa), str(fb), str(fc), str(fo), mode, saturate,
                                     hex(a[i]), hex(b[i]), hex(c[i]), hex(int(got[i])),
                                     hex(want))


def _approx_encode(x, fo, mode, saturate):
    """tests/test_fma_golden.py's value tuples into this file's ``ref_encode``."""
    v = (0, "nan") if x[0] == "nan" else (x[1], "inf") if x[0] == "inf" else (x[1], x[2])
    return ref_encode(fo, v, mode, saturate, 0, 0)


@settings(max_examples=N)
@given(st.data())
def test_approx_fma_matches_reference(data):
    """approx_fma of any formats with a zero, any granularity and window, rne/rtz, saturate
    or not: SPEC 3.3's six steps (tests/test_fma_golden.py's ``ref_approx``), encoded by
    this file's reference."""
    from tests.test_fma_golden import ref_approx

    fa, fb, fc, a, b, c = _fma_operands(data)
    fo = data.draw(float_formats(need_zero=True), "fmt_out")
    mode = data.draw(st.sampled_from(MODES[:2]), "rounding")
    saturate = data.draw(st.booleans(), "saturate")
    g = data.draw(st.sampled_from([1, 2, 4, 8, 16]), "granularity")
    width = approx_fma_datapath_width(fa, fb, fc)
    k = data.draw(st.one_of(st.none(), st.integers(0, width // g).map(lambda j: j * g)),
                  "window")
    got = approx_fma(_u64(a), _u64(b), _u64(c), fa, fb, fc, fo, granularity=g, window=k,
                     rounding=mode, saturate=saturate)
    for i in range(len(a)):
        want = ref_approx(a[i], b[i], c[i], fa, fb, fc, fo, g, k, mode, saturate,
                          encode=_approx_encode)
        assert int(got[i]) == want, (str(fa), str(fb), str(fc), str(fo), g, k, mode,
                                     saturate, hex(a[i]), hex(b[i]), hex(c[i]),
                                     hex(int(got[i])), hex(want))


def _mac_stream(data):
    """Two operand formats with a zero, a stream of encodings, valid and clear."""
    fa, fb = (data.draw(float_formats(need_zero=True), w) for w in ("fmt_a", "fmt_b"))
    a = data.draw(codes(fa), "a")
    b = data.draw(codes(fb, n=len(a)), "b")
    if data.draw(st.booleans(), "large"):  # ±max_finite operands: the accumulator's edge
        for x, f in ((a, fa), (b, fb)):
            big = [Ref(f).max_code] + ([Ref(f).max_code | 1 << (f.width - 1)] if f.signed
                                       else [])
            for i in range(len(x)):
                if data.draw(st.integers(0, 3)):
                    x[i] = data.draw(st.sampled_from(big))
    valid = data.draw(st.lists(st.booleans(), min_size=len(a), max_size=len(a)), "valid")
    clear = data.draw(st.lists(st.sampled_from([False] * 4 + [True]), min_size=len(a),
                               max_size=len(a)), "clear")
    return fa, fb, a, b, valid, clear


@settings(max_examples=N)
@given(st.data())
def test_float_acc_mac_matches_reference(data):
    """float_acc_mac into any accumulator format with a zero, rne/rtz/rna, saturate or not:
    cycle by cycle the FMA fed back (SPEC 3.2), ``acc = round(a*b + acc)``; clear loads the
    product rounded once (valid) or +0."""
    fa, fb, a, b, valid, clear = _mac_stream(data)
    facc = data.draw(float_formats(need_zero=True), "acc_format")
    mode = data.draw(st.sampled_from(MODES[:3]), "rounding")
    saturate = data.draw(st.booleans(), "saturate")
    got = float_acc_mac(_u64(a), _u64(b), np.array(valid), np.array(clear), fa, fb, facc,
                        rounding=mode, saturate=saturate)["acc"]
    zero = ref_encode(facc, (0, Fraction(0)), "rne", False, 0, 0)
    acc = zero
    for i in range(len(a)):
        p = ref_multiply(ref_decode(fa, a[i]), ref_decode(fb, b[i]))
        if clear[i]:
            acc = ref_encode(facc, p, mode, saturate, 0, 0) if valid[i] else zero
        elif valid[i]:
            acc = ref_encode(facc, ref_add(p, ref_decode(facc, acc)), mode, saturate, 0, 0)
        assert int(got[i]) == acc, (str(fa), str(fb), str(facc), mode, saturate, i,
                                    hex(int(got[i])), hex(acc))


@settings(max_examples=N)
@given(st.data())
def test_mac_matches_reference(data):
    """mac (the Kulisch accumulator) at depths 1 to 4608: the exact sum of the products on
    the grid 2**acc_lsb_exp, wrapping modulo 2**acc_bits or clamped (``saturate_acc``),
    sticky NaN/+Inf/-Inf flags, and ``y`` the accumulator (or the flags' special) rounded
    once into any float format."""
    fa, fb, a, b, valid, clear = _mac_stream(data)
    fo = data.draw(st.one_of(st.none(), float_formats()), "fmt_out")
    mode = data.draw(st.sampled_from(MODES[:3]), "rounding")
    saturate, saturate_acc = data.draw(st.booleans(), "saturate"), data.draw(st.booleans())
    p = mac_params(fa, fb, depth=data.draw(st.sampled_from([1, 2, 3, 32, 4608]), "depth"))
    got = mac(_u64(a), _u64(b), np.array(valid), np.array(clear), fa, fb, params=p,
              fmt_out=fo, rounding=mode, saturate=saturate, saturate_acc=saturate_acc)
    lo, hi = -(1 << (p.acc_bits - 1)), (1 << (p.acc_bits - 1)) - 1
    acc, flags = 0, 0
    for i in range(len(a)):
        s, x = ref_multiply(ref_decode(fa, a[i]), ref_decode(fb, b[i]))
        flag = {"nan": 1, "inf": 4 if s else 2}.get(x, 0) if isinstance(x, str) else 0
        if clear[i]:
            acc, flags = 0, 0
        if valid[i]:
            flags |= flag
            if not flag:
                n = (-1) ** s * x / _pow2(p.acc_lsb_exp)
                assert n.denominator == 1  # every product lies on the accumulator's grid
                acc += int(n)
                acc = min(max(acc, lo), hi) if saturate_acc else (acc - lo) % (hi - lo + 1) + lo
        assert (int(got["acc_value"][i]), int(got["flags"][i])) == (acc, flags), (
            str(fa), str(fb), p.acc_bits, saturate_acc, i)
        if fo is None:
            continue
        if flags & 1 or flags & 6 == 6:
            v = (0, "nan")
        elif flags:
            v = (1 if flags & 4 else 0, "inf")
        else:
            v = (1 if acc < 0 else 0, abs(acc * _pow2(p.acc_lsb_exp)))
        want = ref_encode(fo, v, mode, saturate, 0, 0)
        assert int(got["y"][i]) == want, (str(fa), str(fb), str(fo), mode, saturate, i,
                                          hex(int(got["y"][i])), hex(want))


def ref_sum(terms):
    """The exact sum of values (SPEC 5.1): NaN in, or +Inf with -Inf, gives NaN; an exact
    zero sum is +0 unless every term is -0."""
    if any(x == "nan" for _, x in terms):
        return (0, "nan")
    infs = {s for s, x in terms if x == "inf"}
    if infs:
        return (0, "nan") if len(infs) == 2 else (infs.pop(), "inf")
    v = sum(((-1) ** s * x for s, x in terms), Fraction(0))
    if v == 0:
        return (1 if all(s == 1 for s, _ in terms) else 0, Fraction(0))
    return (1 if v < 0 else 0, abs(v))


def _signed_zeros(f) -> list[int]:
    if isinstance(f, IntFormat):
        return [0]
    return [0, 1 << (f.width - 1)] if f.signed and f.special != "fnuz" else [0]


def _specials(f) -> list[int]:
    if isinstance(f, IntFormat):
        return []
    r = Ref(f)
    sign = [0, 1 << (f.width - 1)] if f.signed else [0]
    return ([r.inf_code | s for s in sign] if r.inf_code is not None else []) + (
        [r.nan_code] if r.nan_code is not None else [])


@settings(max_examples=N)
@given(st.data())
def test_dot_matches_reference(data):
    """dot of any float formats with a zero or integer formats (mixed), 1-6 lanes, with or
    without an addend c, into any float format, rne/rtz/rna: the exact sum rounded once."""
    fa, fb = (data.draw(st.one_of(float_formats(need_zero=True), int_formats), w)
              for w in ("fmt_a", "fmt_b"))
    fc = data.draw(st.one_of(st.none(), float_formats(need_zero=True)), "fmt_c")
    fo = data.draw(float_formats(), "fmt_out")
    mode = data.draw(st.sampled_from(MODES[:3]), "rounding")
    lanes, rows = data.draw(st.integers(1, 6), "lanes"), data.draw(st.integers(1, 4), "rows")
    a = [data.draw(codes(fa, n=lanes)) for _ in range(rows)]
    b = [data.draw(codes(fb, n=lanes)) for _ in range(rows)]
    c = None if fc is None else data.draw(codes(fc, n=rows), "c")
    for r in range(rows):  # rows of signed zeros (the sum's sign), rows of ±Inf and NaN
        pick = _signed_zeros(fa) if data.draw(st.integers(0, 3)) == 0 else _specials(fa)
        if pick and data.draw(st.booleans()):
            a[r] = [data.draw(st.sampled_from(pick)) for _ in range(lanes)]
    got = dot(_u64(a), _u64(b), fa, fb, c=None if c is None else _u64(c), fmt_c=fc,
              fmt_out=fo, rounding=mode)
    for r in range(rows):
        terms = [ref_multiply(ref_decode(fa, x), ref_decode(fb, y)) for x, y in
                 zip(a[r], b[r], strict=True)] + ([] if c is None else [ref_decode(fc, c[r])])
        want = ref_encode(fo, ref_sum(terms), mode, False, 0, 0)
        assert int(got[r]) == want, (str(fa), str(fb), str(fc), str(fo), mode, a[r], b[r],
                                     c and c[r], hex(int(got[r])), hex(want))


def _exact_format(fa, fb):
    from exmy.golden import exact_product_format

    return exact_product_format(fa, fb)


@pytest.mark.slow
def test_golden_properties_long():
    """The slow tier: this file's properties with the ``long`` profile (100x the examples)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q",
         "-m", "not slow", "--hypothesis-profile=long", str(Path(__file__))],
        env=env, capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]


# -- issue 11 reproducers: stochastic rounding with a rounding shift past 63 bits ------------
E4M3FN = CATALOG["e4m3fn"]


def _one(sig: int, exp: int) -> Raw:
    return Raw(np.array([0], np.uint8), np.array([sig], np.int64), np.array([exp], np.int64),
               np.array([False]), np.array([False]))


@pytest.mark.parametrize("k", [0, 20, 40, 52, 61])
def test_stochastic_encode_tiny_value_never_rounds_up(k):
    """2**-40 (as sig 2**k, any k) into e4m3fn, R = 11, rand 2047: exact d_11 is 0, so
    2047/2**11 + 0 < 1 and the result is 0x00 (gave 0x01 for k = 61)."""
    y = encode(_one(1 << k, -40 - k), E4M3FN, rounding="stochastic", rand=np.array([2047]),
               rand_bits=11)
    assert _hexs(y) == ["0x0"]


@pytest.mark.parametrize("k", [0, 23, 52, 61])
def test_stochastic_float_to_int_tiny_value_never_rounds_up(k):
    """int8 of 2**-70, R = 16, rand 65535 gives 0 (gave 1 for significands of 52+ bits)."""
    y = encode(_one(1 << k, -70 - k), IntFormat(8), rounding="stochastic",
               rand=np.array([65535]), rand_bits=16)
    assert _hexs(y) == ["0x0"]


def test_stochastic_multiply_float32_tiny_product():
    """float32 0x35ffffff squared (about 2**-39) into e4m3fn, R = 16, rand 65535 gives 0x00;
    rand 0 too."""
    a = np.array([0x35FFFFFF, 0x35FFFFFF], np.uint64)
    y = multiply(a, a, "float32", "float32", "e4m3fn", rounding="stochastic",
                 rand=np.array([65535, 0]), rand_bits=16)
    assert _hexs(y) == ["0x0", "0x0"]


def _mac_y(rand):
    n = len(rand)
    return mac(np.full(n, 0xB254), np.full(n, 0x009A), 1, 1, "bfloat16", "bfloat16",
               fmt_out="bfloat16", rounding="stochastic", rand=np.array(rand), rand_bits=3)["y"]


def test_stochastic_mac_y_tiny_product_never_rounds_up():
    """A bfloat16 MAC cleared each cycle, y in bfloat16, R = 3: the product about -2**-152
    gives -0 for every rand (gave 0x8001 for rand 5, 6, 7)."""
    assert _hexs(_mac_y(range(8))) == ["0x8000"] * 8


def test_hw_stochastic_multiply_reproducer_matches_golden():
    """The multiplier reproducer on the hardware (Amaranth simulator): equal to the (fixed)
    golden model and to the exact expectation (the hardware never shared the bug: its
    alignment shift keeps the R bits below the kept ones)."""
    from exmy.hdl.multiplier import Multiplier
    from exmy.hdl.verilog import port_table
    from exmy.sim import run_vectors

    def mul():
        return Multiplier("float32", "float32", "e4m3fn", rounding="stochastic", rand_bits=16)

    a = np.array([0x35FFFFFF] * 3, np.uint64)
    rand = np.array([65535, 1, 0], np.uint64)
    got = run_vectors(None, None, port_table(mul()), {"a": a, "b": a, "rand": rand}, ["y"], 0,
                      "amaranth", None, component=mul)["y"]
    want = multiply(a, a, "float32", "float32", "e4m3fn", rounding="stochastic", rand=rand,
                    rand_bits=16)
    assert _hexs(got) == _hexs(want) == ["0x0"] * 3


def test_hw_stochastic_mac_reproducer_matches_golden():
    """The MAC reproducer on the hardware: its y path equals the (fixed) golden model."""
    from exmy.hdl.mac import MAC
    from exmy.hdl.verilog import port_table
    from exmy.sim import run_vectors

    def mac_unit():
        return MAC("bfloat16", "bfloat16", fmt_out="bfloat16", rounding="stochastic",
                   rand_bits=3, latency=1)

    comp = mac_unit()
    n = 8
    ins = {"a": np.full(n, 0xB254, np.uint64), "b": np.full(n, 0x009A, np.uint64),
           "valid": np.ones(n, np.uint64), "clear": np.ones(n, np.uint64),
           "rand": np.arange(n, dtype=np.uint64)}
    got = run_vectors(None, None, port_table(comp), ins, ["y"], comp.latency, "amaranth", None,
                      component=mac_unit)["y"]
    assert _hexs(got) == _hexs(_mac_y(range(n))) == ["0x8000"] * n
