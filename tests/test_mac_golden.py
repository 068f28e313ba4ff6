"""Golden MAC units (SPEC 3.2): mac, int_mac, float_acc_mac and their width parameters.

The oracles here share nothing with exmy's decode/encode: operand values come from ml_dtypes
(converted to float64, then Fraction), sums are Fractions, rounding into an output format is
a brute-force nearest search over that format's value table, and float32 accumulation is
Berkeley SoftFloat's ``f32_add``.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction
from functools import cache

import ml_dtypes
import numpy as np
import pytest
import softfloatpy as sf

from exmy.golden import CATALOG, FloatFormat, IntFormat, catalog_formats
from exmy.golden.mac import (
    MULTIPLIERS,
    acc_width_rows,
    acc_width_table,
    float_acc_mac,
    int_mac,
    int_mac_params,
    mac,
    mac_params,
)

E4M3FN, E5M2, E2M1FN = CATALOG["e4m3fn"], CATALOG["e5m2"], CATALOG["e2m1fn"]
INT8, UINT8 = IntFormat(8), IntFormat(8, signed=False)

# Every catalog format of <= 8 bits that a multiplier accepts (e8m0fnu is a block scale,
# rejected with a pinned message below).
SMALL = [f for f in catalog_formats(8) if f.zero]
# Format pairs for the random-stream comparison: every small format squared, plus the two
# asymmetric pairs the issue names (wide x narrow exponent; none x fn specials).
PAIRS = [(f, f) for f in SMALL] + [(E4M3FN, E5M2), (E2M1FN, E4M3FN)]
# Integer pairs: INT2..INT8 signed and unsigned, and mixed signedness / width.
INT_PAIRS = (
    [(IntFormat(n), IntFormat(n)) for n in range(2, 9)]
    + [(IntFormat(n, signed=False), IntFormat(n, signed=False)) for n in range(2, 9)]
    + [(INT8, UINT8), (IntFormat(4, signed=False), IntFormat(8)), (IntFormat(2), IntFormat(7))]
)


def _pair_id(p):
    return f"{p[0]}x{p[1]}"


# -- independent oracle ----------------------------------------------------------------------
_ML = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    **{alias: getattr(ml_dtypes, CATALOG[alias].catalog_name) for alias in
       [f.name for f in SMALL]},
}
# Canonical NaN per SPEC 1.1, written out by hand.
_CANON_NAN = {
    "e4m3fn": 0x7F, "e5m2": 0x7E, "e4m3": 0x7C, "e4m3fnuz": 0x80, "e5m2fnuz": 0x80,
    "float8_e4m3b11fnuz": 0x80, "e3m4": 0x78, "float16": 0x7E00, "bfloat16": 0x7FC0,
    "float32": 0x7FC00000,
}


@cache
def floats(fmt: FloatFormat) -> np.ndarray:
    """float64 value of every code of ``fmt``, via ml_dtypes (exact for <= 16-bit formats)."""
    n = 1 << fmt.width
    dt = np.uint8 if fmt.width <= 8 else np.uint16
    with np.errstate(invalid="ignore"):
        return np.arange(n, dtype=dt).view(_ML[fmt.name]).astype(np.float64)


@cache
def grid(fmt: FloatFormat):
    """Non-negative finite values (ascending Fractions), their codes, and SPEC details."""
    f = floats(fmt)
    half = 1 << (fmt.width - 1)
    vals, codes = [], []
    for c in range(half):
        if math.isfinite(f[c]):
            vals.append(Fraction(float(f[c])))
            codes.append(c)
    assert vals == sorted(vals)
    return vals, codes


def special_of(fmt: FloatFormat) -> str:
    f = floats(fmt)
    if np.isinf(f).any():
        return "ieee"
    if not np.isnan(f).any():
        return "none"
    return "fnuz" if np.isnan(f[1 << (fmt.width - 1)]) else "fn"


def oracle_round(v: Fraction, neg: bool, fmt: FloatFormat, mode="rne", saturate=False):
    """Code of the real (-1)^neg * v (v >= 0) rounded into ``fmt`` by brute force."""
    vals, codes = grid(fmt)
    special = special_of(fmt)
    ulp = vals[-1] - vals[-2]
    ext_vals, ext_codes = vals + [vals[-1] + ulp], codes + [codes[-1] + 1]
    over = False
    if v >= ext_vals[-1]:
        over = True
    else:
        i = bisect.bisect_right(ext_vals, v) - 1
        if ext_vals[i] == v:
            k = i
        else:
            lo, hi = ext_vals[i], ext_vals[i + 1]
            if mode == "rtz":
                k = i
            elif v - lo != hi - v:
                k = i if v - lo < hi - v else i + 1
            elif mode == "rna":
                k = i + 1
            else:
                k = i if ext_codes[i] % 2 == 0 else i + 1
        over = k == len(vals)
        mag = ext_codes[k] if not over else None
    if over:
        if saturate or special == "none" or mode == "rtz":
            mag = codes[-1]
        elif special == "ieee":
            mag = _inf_code(fmt)
        else:
            return _CANON_NAN[fmt.name]
    if neg and not (mag == 0 and special == "fnuz"):
        return mag | (1 << (fmt.width - 1))
    return mag


def _inf_code(fmt: FloatFormat) -> int:
    f = floats(fmt)
    return int(np.flatnonzero(np.isposinf(f))[0])


def oracle_special_out(nan: bool, inf_neg: bool | None, fmt: FloatFormat, saturate=False):
    """Code of NaN / ±Inf into ``fmt`` (SPEC 2.3, 2.5)."""
    special = special_of(fmt)
    if nan:
        return _CANON_NAN[fmt.name] if special != "none" else 0
    sign = (1 << (fmt.width - 1)) if inf_neg else 0
    # SPEC 2.3: "Inf inputs to a conversion follow the same rule": saturate gives ±max_finite
    if special == "ieee" and not saturate:
        return _inf_code(fmt) | sign
    if special == "none" or saturate:
        return grid(fmt)[1][-1] | sign
    return _CANON_NAN[fmt.name]


def min_quantum(fmt: FloatFormat) -> Fraction:
    return grid(fmt)[0][1]  # smallest positive value (all SMALL formats have subnormals)


def max_code(fmt: FloatFormat) -> int:
    return grid(fmt)[1][-1]


def oracle_mac(a, b, valid, clear, fa, fb, acc_bits, saturate_acc=False):
    """Per-cycle (acc integer in LSB units, flags) from Fractions and float64 products."""
    lsb = min_quantum(fa) * min_quantum(fb)
    va, vb = floats(fa)[a], floats(fb)[b]
    half = 1 << (acc_bits - 1)
    acc, fl, accs, flags = Fraction(0), 0, [], []
    for i in range(len(a)):
        if clear[i]:
            acc, fl = Fraction(0), 0
        if valid[i]:
            with np.errstate(invalid="ignore"):
                p = va[i] * vb[i]  # exact in float64 for these formats; IEEE specials
            if math.isnan(p):
                fl |= 1
            elif math.isinf(p):
                fl |= 2 if p > 0 else 4
            else:
                acc += Fraction(p)
                n = acc / lsb
                assert n.denominator == 1
                if saturate_acc:
                    n = min(max(n, -half), half - 1)
                else:
                    n = (n + half) % (2 * half) - half
                acc = n * lsb
        accs.append(int(acc / lsb))
        flags.append(fl)
    return accs, flags, lsb


def oracle_y(acc_units: int, fl: int, lsb: Fraction, fmt_out, mode="rne", saturate=False):
    if fl & 1 or (fl & 6) == 6:
        return oracle_special_out(True, None, fmt_out, saturate)
    if fl & 6:
        return oracle_special_out(False, bool(fl & 4), fmt_out, saturate)
    v = acc_units * lsb
    if v == 0:
        return 0
    return oracle_round(abs(v), v < 0, fmt_out, mode, saturate)


def random_stream(rng, n, fa, fb, p_clear=0.02):
    """Uniform codes, with runs of same-sign maximal products (to reach the designed range),
    back-to-back clears and idle cycles."""
    a = rng.integers(0, 1 << fa.width, n)
    b = rng.integers(0, 1 << fb.width, n)
    clear_runs = []
    for _ in range(3):
        s = int(rng.integers(0, n - 200))
        sgn = int(rng.integers(0, 2)) << (fa.width - 1)
        a[s:s + 200] = max_code(fa) | sgn
        b[s:s + 200] = max_code(fb)
        clear_runs.append(s)
    valid = (rng.random(n) < 0.85).astype(np.uint8)
    clear = (rng.random(n) < p_clear).astype(np.uint8)
    for s in clear_runs:
        clear[s + 1:s + 200] = 0
    clear[:1] = 1
    clear[10:13] = 1  # back-to-back clears
    return a, b, valid, clear


# -- argument validation ---------------------------------------------------------------------
def test_acc_bits_smaller_than_product():
    with pytest.raises(ValueError, match=r"^Accumulator width 20 is smaller than one e4m3fn x "
                       r"e4m3fn product \(37 bits\); use acc_bits >= 37, or leave it unset for "
                       r"the default 49$"):
        mac_params(E4M3FN, E4M3FN, acc_bits=20)
    with pytest.raises(ValueError, match=r"^Accumulator width 15 is smaller than one int8 x int8 "
                       r"product \(16 bits\); use acc_bits >= 16, or leave it unset for the "
                       r"default 29$"):
        int_mac_params(INT8, INT8, acc_bits=15)
    with pytest.raises(TypeError, match=r"^Accumulator width must be an integer, not 20\.0$"):
        mac_params(E4M3FN, E4M3FN, acc_bits=20.0)


@pytest.mark.parametrize("depth", [0, -3])
def test_depth_not_positive(depth):
    with pytest.raises(ValueError, match=rf"^MAC depth must be a positive integer, not {depth}$"):
        mac_params(E4M3FN, E4M3FN, depth=depth)
    with pytest.raises(ValueError, match=rf"^MAC depth must be a positive integer, not {depth}$"):
        int_mac_params(INT8, INT8, depth)
    with pytest.raises(TypeError, match=r"^MAC depth must be a positive integer, not '8'$"):
        mac_params(E4M3FN, E4M3FN, depth="8")


def test_integer_formats_to_mac():
    with pytest.raises(ValueError, match=r"^MAC operand b must be a float format, not int8; use "
                       r"int_mac for integer formats$"):
        mac_params("e4m3fn", "int8")
    with pytest.raises(ValueError, match=r"^MAC operand a must be a float format, not uint4"):
        mac([0], [0], 1, 0, "uint4", "e4m3fn")


def test_float_formats_to_int_mac():
    with pytest.raises(ValueError, match=r"^Integer MAC operand a must be an integer format, not "
                       r"e4m3fn; use mac for float formats$"):
        int_mac([0], [0], 1, 0, "e4m3fn", "int8")


def test_block_scale_operand():
    with pytest.raises(ValueError, match=r"^MAC operand a format e8m0fnu has no zero \(a "
                       r"block-scale format\); a MAC multiplies values, not scales$"):
        mac_params("e8m0fnu", "e4m3fn")
    with pytest.raises(ValueError, match=r"^Accumulator format e8m0fnu has no zero"):
        float_acc_mac([0], [0], 1, 0, E4M3FN, E4M3FN, "e8m0fnu")


def test_unknown_multiplier():
    with pytest.raises(ValueError,
                       match=r"^Multiplier must be one of 'exact', 'lmul', not 'booth'$"):
        mac_params(E4M3FN, E4M3FN, multiplier="booth")
    with pytest.raises(ValueError, match=r"^The L-Mul MAC multiplies operands of one format "
                       r"\(SPEC 3.4\), not e4m3fn x e5m2; use multiplier='exact'"):
        mac_params(E4M3FN, E5M2, multiplier="lmul")
    with pytest.raises(TypeError, match=r"^Multiplier must be a string, not 3$"):
        mac_params(E4M3FN, E4M3FN, multiplier=3)


def test_fmt_out_must_be_float():
    with pytest.raises(ValueError, match=r"^MAC output format must be a float format, not int8$"):
        mac([0], [0], 1, 0, E4M3FN, E4M3FN, fmt_out="int8")


def test_params_conflicts():
    p = mac_params(E4M3FN, E4M3FN)
    with pytest.raises(ValueError, match=r"^Give either params or acc_bits, not both \(params "
                       r"already has acc_bits=49\)$"):
        mac([0], [0], 1, 0, E4M3FN, E4M3FN, params=p, acc_bits=60)
    with pytest.raises(ValueError, match=r"^params are for e4m3fn x e4m3fn, not the operand "
                       r"formats e5m2 x e4m3fn$"):
        mac([0], [0], 1, 0, E5M2, E4M3FN, params=p)
    with pytest.raises(TypeError, match=r"^params must be a MacParams, not 3$"):
        mac([0], [0], 1, 0, E4M3FN, E4M3FN, params=3)
    with pytest.raises(ValueError, match=r"^acc_bits, saturate_acc only apply to the fixed-point "
                       r"accumulator, not to acc_format=float32; the float accumulator is its "
                       r"own output$"):
        mac([0], [0], 1, 0, E4M3FN, E4M3FN, acc_format="float32", acc_bits=60, saturate_acc=True)


def test_stream_shapes():
    with pytest.raises(ValueError, match=r"^MAC input streams must have one length \(scalars "
                       r"broadcast\), not a \(3,\), b \(2,\), valid \(\), clear \(\)$"):
        mac([0, 0, 0], [0, 0], 1, 0, E4M3FN, E4M3FN)
    with pytest.raises(ValueError, match=r"^MAC input valid must hold only 0 and 1$"):
        mac([0, 0], [0, 0], [1, 2], 0, E4M3FN, E4M3FN)


def test_bool_options():
    with pytest.raises(TypeError, match=r"^saturate_acc must be a bool, not 1$"):
        int_mac([0], [0], 1, 0, INT8, INT8, saturate_acc=1)


# -- properties ------------------------------------------------------------------------------
def test_e4m3fn_widths_by_hand():
    p = mac_params("e4m3fn", "e4m3fn")
    # quantum 2^(emin - M) = 2^(-6 - 3) for each operand
    assert p.acc_lsb_exp == -18
    # 448 * 448 = 200704 = 0b110001 << 12, in units of 2^-18: 200704 * 2^18 (36 bits)
    assert p.max_product == 200704 << 18
    assert p.product_bits == 37
    assert p.guard_bits == 13  # 4096 < 4608 <= 8192
    assert p.acc_bits == 49  # (4608 * 200704 << 18).bit_length() = 48, plus the sign
    assert p.paper_acc_bits == 16 + 3 + 16 + 3 + 13 - 1
    assert p.product_sig_bits == 8 and p.shift_max == 28
    assert p.safe_depth >= 4608 and p.has_flags
    assert p.ident == "mac_e4m3fn_e4m3fn_acc49"
    assert p.summary()["acc_lsb_exp"] == -18


def test_int_widths():
    p = int_mac_params("int8", "int8")
    assert (p.acc_bits, p.paper_acc_bits, p.product_bits, p.acc_lsb_exp) == (29, 30, 16, 0)
    assert p.min_acc_bits == 28  # 4608 * 2^14 needs 27 bits plus the sign
    # signed x signed, power-of-two depth: the formula is exactly tight
    assert int_mac_params("int8", "int8", 8).min_acc_bits == 19 == 8 + 8 + 3
    # unsigned x unsigned: the formula bits_a + bits_b + ceil(log2 depth) is one bit short in
    # two's complement, so the default widens
    q = int_mac_params("uint8", "uint8")
    assert q.formula_acc_bits == 29 and q.acc_bits == 30
    assert 4608 * 255 * 255 > (1 << 28) - 1
    assert int_mac_params("int8", "uint8").acc_bits == 29
    assert p.ident == "int_mac_int8_int8_acc29"


def test_none_formats_have_no_flags():
    assert not mac_params(E2M1FN, E2M1FN).has_flags
    assert mac_params(E2M1FN, E4M3FN).has_flags


def test_out_saturates():
    p = mac_params(E4M3FN, E4M3FN)
    assert p.out_saturates(E4M3FN)  # 2^30 > 448
    assert not p.out_saturates(CATALOG["float32"])
    assert not p.out_saturates(CATALOG["bfloat16"])
    assert p.out_saturates(CATALOG["float16"])  # 2^30 > 65504
    small = mac_params(E2M1FN, E2M1FN, acc_bits=9)  # max |acc| = 256 * 2^-2 = 64
    assert small.out_saturates(E4M3FN) is False


def test_multiplier_registry_hook():
    # the L-Mul engineer adds an entry; the exact one is there with a geometry function
    assert set(MULTIPLIERS) == {"exact", "lmul"}
    g = MULTIPLIERS["exact"].geometry(E4M3FN, E5M2)
    assert g.lsb_exp == -9 - 16 and g.max_pos == -g.max_neg


def test_width_table():
    table = acc_width_table()
    assert "| e4m3fn | 37 | 2^-18 | 49 | 50 | -1 |" in table
    assert "| int8 | 16 | 2^0 | 29 | 30 | -1 |" in table
    rows = acc_width_rows()
    names = {(r["a"], r["b"]) for r in rows}
    for f in catalog_formats(16):
        assert (f.name, f.name) in names or not f.zero
    assert {("int4", "int4"), ("int8", "int8")} <= names
    for r in rows:  # ours never exceeds the paper's on these rows
        assert r["acc_bits"] <= r["paper_acc_bits"]


# -- golden vs the independent oracle --------------------------------------------------------
def _check_stream(out, exp_acc, exp_flags, acc_bits):
    mask = (1 << acc_bits) - 1
    got = [int(v) for v in out["acc_value"]]
    bad = [i for i, (g, e) in enumerate(zip(got, exp_acc, strict=True)) if g != e]
    assert not bad, f"cycle {bad[0]}: acc {got[bad[0]]} != {exp_acc[bad[0]]}"
    assert [int(x) for x in out["acc"]] == [e & mask for e in exp_acc]
    if exp_flags is not None:
        assert out["flags"].tolist() == exp_flags


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_mac_random_vs_oracle(pair):
    fa, fb = pair
    rng = np.random.default_rng(sum(map(ord, _pair_id(pair))))
    a, b, valid, clear = random_stream(rng, 3000, fa, fb)
    p = mac_params(fa, fb)
    assert Fraction(2) ** p.acc_lsb_exp == min_quantum(fa) * min_quantum(fb)
    exp_acc, exp_flags, lsb = oracle_mac(a, b, valid, clear, fa, fb, p.acc_bits)
    for fmt_out in [fa, CATALOG["float16"], CATALOG["bfloat16"]]:
        out = mac(a, b, valid, clear, fa, fb, fmt_out=fmt_out)
        _check_stream(out, exp_acc, exp_flags, p.acc_bits)
        exp_y = [oracle_y(x, f, lsb, fmt_out) for x, f in zip(exp_acc, exp_flags, strict=True)]
        bad = [i for i in range(len(a)) if int(out["y"][i]) != exp_y[i]]
        assert not bad, (
            f"{fmt_out} cycle {bad[0]}: y 0x{int(out['y'][bad[0]]):x} != 0x{exp_y[bad[0]]:x}"
        )
    assert max(abs(x) for x in exp_acc) > p.max_product * 100  # long runs reached range


# y rounding modes and saturation, on pairs whose accumulator exceeds fmt_out's range
@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
@pytest.mark.parametrize("saturate", [False, True])
@pytest.mark.parametrize("fmt_out", ["e4m3fn", "e5m2", "e2m1fn", "e4m3fnuz"])
def test_mac_y_modes(mode, saturate, fmt_out):
    fo = CATALOG[fmt_out]
    rng = np.random.default_rng(7)
    fa, fb = E4M3FN, E5M2
    a, b, valid, clear = random_stream(rng, 1500, fa, fb, p_clear=0.05)
    out = mac(a, b, valid, clear, fa, fb, fmt_out=fo, rounding=mode, saturate=saturate)
    p = mac_params(fa, fb)
    exp_acc, exp_flags, lsb = oracle_mac(a, b, valid, clear, fa, fb, p.acc_bits)
    exp_y = [oracle_y(x, f, lsb, fo, mode, saturate) for x, f in zip(exp_acc, exp_flags,
                                                                     strict=True)]
    assert out["y"].tolist() == exp_y


def test_mac_y_stochastic_rand_zero_is_rtz():
    rng = np.random.default_rng(3)
    a, b, valid, clear = random_stream(rng, 800, E4M3FN, E4M3FN)
    kw = {"fmt_out": E2M1FN}
    rtz = mac(a, b, valid, clear, E4M3FN, E4M3FN, rounding="rtz", **kw)["y"]
    st = mac(a, b, valid, clear, E4M3FN, E4M3FN, rounding="stochastic", rand=0, rand_bits=4,
             **kw)["y"]
    assert st.tolist() == rtz.tolist()


# 16-bit operand formats: accumulators above 64 bits come back as Python ints
@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_mac_wide_vs_oracle(name):
    f = CATALOG[name]
    rng = np.random.default_rng(11)
    n = 600
    a = rng.integers(0, 1 << 16, n)
    b = rng.integers(0, 1 << 16, n)
    a[100:150], b[100:150] = max_code(f), max_code(f)
    valid, clear = np.ones(n, np.uint8), (rng.random(n) < 0.05).astype(np.uint8)
    p = mac_params(f, f)
    out = mac(a, b, valid, clear, f, f, fmt_out=f)
    assert out["acc"].dtype == object and p.acc_bits > 64
    exp_acc, exp_flags, lsb = oracle_mac(a, b, valid, clear, f, f, p.acc_bits)
    _check_stream(out, exp_acc, exp_flags, p.acc_bits)
    exp_y = [oracle_y(x, fl, lsb, f) for x, fl in zip(exp_acc, exp_flags, strict=True)]
    assert out["y"].tolist() == exp_y


def _int_value(codes, fmt: IntFormat):
    v = [int(c) & ((1 << fmt.bits) - 1) for c in codes]
    if fmt.signed:
        v = [x - (1 << fmt.bits) if x >> (fmt.bits - 1) else x for x in v]
    return v


def oracle_int_mac(a, b, valid, clear, fa, fb, acc_bits, saturate_acc=False):
    va, vb = _int_value(a, fa), _int_value(b, fb)
    half = 1 << (acc_bits - 1)
    acc, out = 0, []
    for i in range(len(a)):
        if clear[i]:
            acc = 0
        if valid[i]:
            acc += va[i] * vb[i]
            if saturate_acc:
                acc = min(max(acc, -half), half - 1)
            else:
                acc = (acc + half) % (2 * half) - half
        out.append(acc)
    return out


@pytest.mark.parametrize("pair", INT_PAIRS, ids=_pair_id)
def test_int_mac_random_vs_oracle(pair):
    fa, fb = pair
    rng = np.random.default_rng(sum(map(ord, _pair_id(pair))))
    n = 3000
    a, b = rng.integers(0, 1 << fa.bits, n), rng.integers(0, 1 << fb.bits, n)
    valid = (rng.random(n) < 0.85).astype(np.uint8)
    clear = (rng.random(n) < 0.02).astype(np.uint8)
    p = int_mac_params(fa, fb)
    out = int_mac(a, b, valid, clear, fa, fb)
    _check_stream(out, oracle_int_mac(a, b, valid, clear, fa, fb, p.acc_bits), None, p.acc_bits)
    # narrow accumulator: wrap and clamp on a random stream too
    for sat in (False, True):
        out = int_mac(a, b, valid, clear, fa, fb, acc_bits=p.product_bits + 1, saturate_acc=sat)
        exp = oracle_int_mac(a, b, valid, clear, fa, fb, p.product_bits + 1, sat)
        _check_stream(out, exp, None, p.product_bits + 1)


# -- accumulator width: depth worst-case products fit, one more than the safe count does not --
def _worst(fa, fb, neg):
    """Codes of the largest product (and its magnitude, in Fractions) of one sign."""
    if isinstance(fa, IntFormat):
        cands = [(x * y, x, y) for x in (fa.min_value, fa.max_value)
                 for y in (fb.min_value, fb.max_value)]
        v, x, y = min(cands) if neg else max(cands)
        return x & ((1 << fa.bits) - 1), y & ((1 << fb.bits) - 1), v
    ca, cb = max_code(fa), max_code(fb)
    if neg:
        ca |= 1 << (fa.width - 1)
    va, vb = floats(fa)[ca], floats(fb)[cb]
    return ca, cb, Fraction(va) * Fraction(vb) / (min_quantum(fa) * min_quantum(fb))


def _run(fa, fb, params, ca, cb, count, saturate_acc=False):
    a, b = np.full(count, ca), np.full(count, cb)
    if isinstance(fa, IntFormat):
        out = int_mac(a, b, 1, 0, fa, fb, params=params, saturate_acc=saturate_acc)
    else:
        out = mac(a, b, 1, 0, fa, fb, params=params, saturate_acc=saturate_acc)
    return int(out["acc_value"][-1])


WIDTH_POINTS = PAIRS + INT_PAIRS


@pytest.mark.parametrize("depth", [1, 3, 8, 4608])
@pytest.mark.parametrize("pair", WIDTH_POINTS, ids=_pair_id)
def test_default_acc_bits_sufficient_and_tight(pair, depth):
    fa, fb = pair
    is_int = isinstance(fa, IntFormat)
    p = int_mac_params(fa, fb, depth) if is_int else mac_params(fa, fb, depth=depth)
    W = p.acc_bits
    half = 1 << (W - 1)
    for neg in (False, True):
        ca, cb, v = _worst(fa, fb, neg)
        if v == 0:
            continue  # unsigned x unsigned has no negative products
        assert _run(fa, fb, p, ca, cb, depth) == depth * v  # no overflow
        # the largest count that fits, independently; one more wraps (or clamps)
        safe = (half - 1) // v if v > 0 else half // -v
        assert safe >= depth
        assert _run(fa, fb, p, ca, cb, safe) == safe * v
        over = (safe + 1) * v
        assert _run(fa, fb, p, ca, cb, safe + 1) == (over + half) % (2 * half) - half != over
        assert _run(fa, fb, p, ca, cb, safe + 1, saturate_acc=True) == (
            half - 1 if v > 0 else -half
        )
    # tight (floats: smallest width; ints: SPEC's formula unless it is too short)
    ca, cb, v = _worst(fa, fb, False)
    if not is_int:
        assert depth * v > (1 << (W - 2)) - 1  # W - 1 bits would overflow
    else:
        assert W == max(fa.bits + fb.bits + (depth - 1).bit_length(), p.min_acc_bits)
    assert p.safe_depth >= depth


# -- flags and specials -----------------------------------------------------------------------
E5 = {"nan": 0x7E, "inf": 0x7C, "ninf": 0xFC, "one": 0x3C, "zero": 0x00, "two": 0x40}


def _e5(*names):
    return [E5[n] for n in names]


def test_flags_sequence():
    # cycle:     0      1      2     3      4      5     6      7      8      9
    a = _e5("one", "inf", "one", "ninf", "one", "one", "nan", "one", "inf", "one")
    b = _e5("two", "one", "one", "two", "one", "one", "one", "one", "zero", "one")
    valid = [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    clear = [0, 0, 0, 0, 0, 1, 0, 1, 0, 1]
    out = mac(a, b, valid, clear, E5M2, E5M2, fmt_out=E5M2)
    assert out["flags"].tolist() == [0, 2, 2, 6, 6, 0, 1, 0, 1, 0]
    lsb = 2 ** -32
    assert [int(v) * lsb for v in out["acc_value"]] == [2, 2, 3, 3, 3, 1, 1, 1, 1, 1]
    y = out["y"].tolist()
    assert y[0] == 0x40 and y[1] == 0x7C and y[3] == 0x7E and y[6] == 0x7E and y[8] == 0x7E
    assert y[9] == 0x3C  # clear with valid=1 resets the flags, then adds this product


def test_flags_negative_inf_and_clear_without_valid():
    a = _e5("ninf", "one", "one")
    b = _e5("one", "one", "one")
    out = mac(a, b, [1, 1, 0], [0, 0, 1], E5M2, E5M2, fmt_out=E5M2)
    assert out["flags"].tolist() == [4, 4, 0]
    assert out["y"].tolist() == [0xFC, 0xFC, 0x00]
    assert out["acc_value"].tolist() == [0, 1 << 32, 0]
    # clear with valid loading a special product: flags = that product only
    out = mac(a, b, [1, 1, 1], [0, 0, 1], E5M2, E5M2)
    assert out["flags"].tolist() == [4, 4, 0]
    out = mac(_e5("nan", "inf"), _e5("one", "one"), 1, [0, 1], E5M2, E5M2)
    assert out["flags"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("fmt_out", "saturate", "pos", "neg", "nan"),
    [
        # a format without Inf: Inf follows the overflow rule (NaN, or max with saturate)
        ("e4m3fn", False, 0x7F, 0x7F, 0x7F),
        ("e4m3fn", True, 0x7E, 0xFE, 0x7F),
        ("e4m3fnuz", False, 0x80, 0x80, 0x80),
        # a format without NaN or Inf: Inf saturates, NaN gives +0 (SPEC 2.5)
        ("e2m1fn", False, 0x07, 0x0F, 0x00),
        # saturate maps Inf to ±max_finite even in a format with Inf (SPEC 2.3)
        ("e5m2", True, 0x7B, 0xFB, 0x7E),
        ("e5m2", False, 0x7C, 0xFC, 0x7E),
    ],
)
def test_flags_into_formats_without_inf(fmt_out, saturate, pos, neg, nan):
    a, b = _e5("inf", "ninf", "inf"), _e5("one", "one", "one")
    out = mac(a, b, 1, [1, 1, 0], E5M2, E5M2, fmt_out=fmt_out, saturate=saturate)
    assert out["y"].tolist() == [pos, neg, nan]  # last: +Inf and -Inf together


def test_none_formats_never_flag():
    rng = np.random.default_rng(5)
    a, b, valid, clear = random_stream(rng, 500, E2M1FN, E2M1FN)
    assert not mac(a, b, valid, clear, E2M1FN, E2M1FN)["flags"].any()


def test_fn_nan_only():
    out = mac([0x7F, 0xFF, 0x38], [0x38, 0x38, 0x38], 1, [0, 1, 1], E4M3FN, E4M3FN)
    assert out["flags"].tolist() == [1, 1, 0]


def test_zero_accumulator_gives_plus_zero():
    # documented deviation: the fixed-point accumulator has no -0
    out = mac([0x80], [0x38], 1, 1, E4M3FN, E4M3FN, fmt_out=E4M3FN)  # -0 * 1
    assert out["y"].tolist() == [0x00]


def test_scalar_broadcast_and_params_path():
    p = mac_params(E4M3FN, E4M3FN, acc_bits=60)
    a = np.array([0x38, 0x40, 0x48])
    o1 = mac(a, 0x38, 1, 0, E4M3FN, E4M3FN, params=p)
    o2 = mac(a, [0x38] * 3, [1] * 3, [0] * 3, "e4m3fn", "e4m3fn", acc_bits=60)
    assert o1["acc"].tolist() == o2["acc"].tolist()
    assert o1["acc_value"].tolist() == [x << 18 for x in (1, 3, 7)]


# -- float-accumulator MAC ---------------------------------------------------------------------
def _f32_bits(x: sf.Float32) -> int:
    return int.from_bytes(x.to_bytes(), "big")


FLOAT_ACC_PAIRS = [(E4M3FN, E4M3FN), (E5M2, E5M2), (CATALOG["e4m3"], CATALOG["e4m3"]),
                   (E2M1FN, E2M1FN), (CATALOG["e4m3fnuz"], CATALOG["e3m4"]), (E4M3FN, E5M2)]


@pytest.mark.parametrize("pair", FLOAT_ACC_PAIRS, ids=_pair_id)
def test_float32_acc_vs_softfloat(pair):
    fa, fb = pair
    rng = np.random.default_rng(sum(map(ord, _pair_id(pair))) + 1)
    n = 1500
    a, b, valid, clear = random_stream(rng, n, fa, fb, p_clear=0.03)
    out = float_acc_mac(a, b, valid, clear, fa, fb, "float32")["acc"]
    same = mac(a, b, valid, clear, fa, fb, acc_format="float32")["acc"]
    assert out.tolist() == same.tolist()
    va, vb = floats(fa)[a], floats(fb)[b]
    sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)
    acc = sf.Float32.from_float(0.0)
    for i in range(n):
        with np.errstate(invalid="ignore"):
            p = sf.Float32.from_float(float(va[i] * vb[i]))  # exact in float64 and float32
        if clear[i]:
            acc = p if valid[i] else sf.Float32.from_float(0.0)
        elif valid[i]:
            acc = sf.f32_add(acc, p)
        exp = _f32_bits(acc)
        got = int(out[i])
        if sf.f32_is_nan(acc):
            assert got == _CANON_NAN["float32"], f"cycle {i}"
        else:
            assert got == exp, f"cycle {i}: 0x{got:08x} != 0x{exp:08x}"


def _decode_oracle(code: int, fmt):
    """(kind, value, negative) from the ml_dtypes table."""
    x = floats(fmt)[code]
    if math.isnan(x):
        return "nan", None, False
    if math.isinf(x):
        return "inf", None, x < 0
    return "num", Fraction(float(x)), math.copysign(1.0, x) < 0


@pytest.mark.parametrize("mode", ["rne", "rtz"])
@pytest.mark.parametrize("acc_name", ["bfloat16", "float16"])
@pytest.mark.parametrize("pair", [(E4M3FN, E4M3FN), (E5M2, E5M2), (E4M3FN, E5M2)],
                         ids=_pair_id)
def test_float16_acc_vs_exact(pair, acc_name, mode):
    fa, fb = pair
    fo = CATALOG[acc_name]
    rng = np.random.default_rng(sum(map(ord, _pair_id(pair) + acc_name + mode)))
    n = 1200
    a, b, valid, clear = random_stream(rng, n, fa, fb, p_clear=0.03)
    # cancellation to exact zero, -0 products, and tiny values that round away
    a[50:54], b[50:54] = [0x38, 0xB8, 0x80, 0x80], [0x3C, 0x3C, 0x3C, 0x3C]
    valid[50:54], clear[50:54] = 1, [1, 0, 1, 0]
    out = float_acc_mac(a, b, valid, clear, fa, fb, fo, rounding=mode)["acc"]
    va, vb = floats(fa)[a], floats(fb)[b]
    code = 0
    for i in range(n):
        with np.errstate(invalid="ignore"):
            p = float(va[i] * vb[i])  # exact; IEEE specials and zero signs
        if clear[i] and not valid[i]:
            code = 0
        elif valid[i]:
            kind, c, cneg = ("num", Fraction(0), False) if clear[i] else _decode_oracle(code, fo)
            if math.isnan(p) or kind == "nan" or (math.isinf(p) and kind == "inf"
                                                 and (p < 0) != cneg):
                code = _CANON_NAN[acc_name]
            elif math.isinf(p) or kind == "inf":
                neg = p < 0 if math.isinf(p) else cneg
                code = oracle_special_out(False, neg, fo)
            else:
                s = Fraction(p) + c
                pneg = math.copysign(1.0, p) < 0
                if s == 0:
                    neg = pneg and (cneg or clear[i])  # -0 only from -0 + -0 (or a -0 load)
                    code = (1 << 15) if neg else 0
                else:
                    code = oracle_round(abs(s), s < 0, fo, mode)
        assert int(out[i]) == code, f"cycle {i}: 0x{int(out[i]):04x} != 0x{code:04x}"


def test_float_acc_specials():
    # e5m2: Inf + -Inf = NaN; NaN sticks until clear; clear with valid=0 loads +0
    a = _e5("inf", "ninf", "one", "one", "one")
    b = _e5("one", "one", "one", "one", "one")
    out = float_acc_mac(a, b, [1, 1, 1, 0, 1], [1, 0, 0, 1, 0], E5M2, E5M2, "float16")["acc"]
    assert out.tolist() == [0x7C00, 0x7E00, 0x7E00, 0x0000, 0x3C00]
    # overflow into an fn accumulator: NaN, or max_finite with saturate
    big = [0x7E] * 3
    out = float_acc_mac(big, big, 1, 0, E4M3FN, E4M3FN, E4M3FN)["acc"]
    assert out.tolist() == [0x7F] * 3
    out = float_acc_mac(big, big, 1, 0, E4M3FN, E4M3FN, E4M3FN, saturate=True)["acc"]
    assert out.tolist() == [0x7E] * 3



@pytest.mark.parametrize("mode", ["rne", "rtz", "rna"])
@pytest.mark.parametrize(
    ("pair", "acc_name"),
    [((E5M2, E5M2), "bfloat16"), ((E4M3FN, E5M2), "float16"), ((E2M1FN, E4M3FN), "float32")],
)
def test_float_acc_equals_fma_chain(pair, acc_name, mode):
    """float_acc_mac is golden/fma.py's ``fma`` with its output fed back to c."""
    fma_mod = pytest.importorskip("exmy.golden.fma")
    fa, fb = pair
    fo = CATALOG[acc_name]
    rng = np.random.default_rng(sum(map(ord, acc_name + mode)))
    n = 400
    a, b, valid, clear = random_stream(rng, n, fa, fb, p_clear=0.05)
    out = float_acc_mac(a, b, valid, clear, fa, fb, fo, rounding=mode)["acc"]
    neg_zero = 1 << (fo.width - 1)  # a clear loads round(a*b) = fma(a, b, -0)
    acc = 0
    for i in range(n):
        if clear[i]:
            c = neg_zero if valid[i] else None
        else:
            c = acc if valid[i] else None
        if c is None:
            acc = 0 if clear[i] else acc
        else:
            acc = int(fma_mod.fma([a[i]], [b[i]], [c], fa, fb, fo, fo, rounding=mode)[0])
        assert int(out[i]) == acc, f"cycle {i}"


def test_float_acc_saturate_inf_product():
    # SATFINITE: with saturate an Inf product becomes max_finite and the chain goes on
    a, b = _e5("inf", "ninf"), _e5("one", "one")
    out = float_acc_mac(a, b, 1, [1, 0], E5M2, E5M2, "float16", saturate=True)["acc"]
    assert out.tolist() == [0x7BFF, 0xFBFF]  # -Inf + 65504 = -Inf -> -max_finite


# -- multiplier="lmul" (SPEC 3.2 with SPEC 3.4 products) -------------------------------------
def test_lmul_geometry_e4m3fn():
    p = mac_params(E4M3FN, E4M3FN, multiplier="lmul")
    # grid 2^(1 - 7 - 3); largest t = 2*0x7E - (7 << 3) + 1 = 197: 1.101b * 2^(24 - 7)
    assert p.acc_lsb_exp == -9
    assert p.max_product == 0b1101 << 23
    assert p.max_product * 2.0**-9 > 448.0**2  # the adder's carry exceeds max_finite^2
    assert p.ident.endswith("_lmul") and p.summary()["multiplier"] == "lmul"


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2", "e4m3fnuz", "e3m2fn", "e2m3fn"])
def test_lmul_mac_vs_independent_reference(fmt):
    """Per-cycle Python ints: the L-Mul unit's products, encoded into a format with a wide
    exponent (same M) so that none overflows, decoded exactly onto the acc grid."""
    from exmy.golden import decode, parse_format
    from exmy.golden.lmul import lmul

    f = parse_format(fmt)
    wide = FloatFormat(f.exp_bits + 3, f.man_bits, f.bias, "ieee")  # same underflow point
    p = mac_params(f, f, multiplier="lmul", depth=64)
    rng = np.random.default_rng(5)
    n = 120_000
    a = rng.integers(0, 1 << f.width, n, dtype=np.uint64)
    b = rng.integers(0, 1 << f.width, n, dtype=np.uint64)
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.02).astype(np.uint8)
    w = decode(lmul(a, b, f, wide), wide)
    got = mac(a, b, valid, clear, f, f, params=p)
    acc, fl = 0, 0
    lo, hi = -(1 << (p.acc_bits - 1)), (1 << (p.acc_bits - 1))
    for i in range(n):
        if clear[i]:
            acc, fl = 0, 0
        if valid[i]:
            if w.nan[i]:
                fl |= 1
            elif w.inf[i]:
                fl |= 4 if w.sign[i] else 2
            else:
                q = Fraction(int(w.sig[i])) * Fraction(2) ** int(w.exp[i])
                q /= Fraction(2) ** p.acc_lsb_exp
                assert q.denominator == 1 and abs(q) <= p.max_product
                acc += -int(q) if w.sign[i] else int(q)
                acc = (acc - lo) % (hi - lo) + lo
        assert got["acc_value"][i] == acc and got["flags"][i] == fl, (fmt, i)


def test_lmul_mac_no_inf_on_overflow():
    big = np.array([0x7E], np.uint64)  # e4m3fn max_finite: L-Mul square beyond 448
    out = mac(big, big, 1, 0, E4M3FN, E4M3FN, multiplier="lmul", fmt_out=CATALOG["float32"])
    assert out["flags"][0] == 0
    assert int(out["acc_value"][0]) == 0b1101 << 23
