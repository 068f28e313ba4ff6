"""Bad input to the golden model's public functions: a clear TypeError / ValueError naming the
parameter, never an exception from inside numpy and never silent garbage.

One check per kind of argument, shared by every function that takes it (``core.check_*``,
``params.check_*``); these tests pin that each public function reaches it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import exmy.golden as g
from exmy.golden import Raw, stats
from exmy.golden.dot import dot, dot_mac
from exmy.golden.mac import float_acc_mac, mac
from exmy.golden.mx import mx_dequantize, mx_dot

E4 = "e4m3fn"
ONE = 0x38  # +1.0 in e4m3fn
F32_ONE = 0x3F800000
SHAPES = r"must have one shape \(a scalar, or an array matching the others' trailing axes"


def _raw(n=2):
    return g.decode(np.full(n, 0x39), E4)  # 1.125: rounds differently per rand


# -- finding 1: dot / mx check encodings before converting them ---------------------------------
@pytest.mark.parametrize("a, exc, msg", [
    # floats were truncated to codes, bools read as code 1, -1 wrapped to 2**64 - 1
    (np.array([56.9, 56.2]), TypeError,
     "Operand a must be integer encodings of e4m3fn, not a float64 array (holding 56.9)"),
    (np.array([True, True]), TypeError,
     "Operand a must be integer encodings of e4m3fn, not a bool array (holding True)"),
    (np.array([-1, 56]), ValueError,
     "Operand a must be an encoding of e4m3fn (0..0xff), not -1 at index 0"),
])
def test_dot_checks_operand_encodings(a, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        dot(a, np.array([56, 56]), E4, E4)
    with pytest.raises(exc, match=f"^{re.escape(msg.replace('index 0', 'index (0, 0)'))}$"):
        dot_mac(a[None], np.array([[56, 56]]), 1, 0, E4, E4)


def test_dot_checks_b_and_addend():
    with pytest.raises(TypeError, match="^Operand b must be integer encodings of e4m3fn"):
        dot(np.array([56, 56]), np.array([56.5, 56]), E4, E4)
    with pytest.raises(TypeError, match="^Dot addend c must be an integer encoding of e4m3fn"):
        dot(np.array([56, 56]), np.array([56, 56]), E4, E4, c=np.float64(1.5), fmt_c=E4)


def test_mx_checks_encodings():
    a = np.full((1, 32), ONE)
    s = np.array([127])
    with pytest.raises(TypeError, match="^Operand b must be integer encodings of e4m3fn"):
        mx_dot(a, a + 0.5, s, s, E4)
    with pytest.raises(TypeError, match="^Block scale scale_a must be integer encodings of "
                                        "e8m0fnu"):
        mx_dot(a, a, s + 0.5, s, E4)
    with pytest.raises(ValueError, match="^Block scale scale_b must be an encoding of "
                                         r"e8m0fnu \(0..0xff\), not -1 at index 0$"):
        mx_dot(a, a, s, -s // 127, E4)
    with pytest.raises(TypeError, match=r"^Block scales scales must be integer encodings of "
                                        r"e8m0fnu, not a float64 array \(holding 127.5\)$"):
        mx_dequantize(np.array([127.5]), np.full(32, 56), E4)
    with pytest.raises(TypeError, match=r"^Elements elems must be integer encodings of e4m3fn, "
                                        r"not a float64 array \(holding 56.7\)$"):
        mx_dequantize(np.array([127]), np.full(32, 56.7), E4)


# -- finding 2: the integer multiplier's width limit, one check for golden and hardware --------
@pytest.mark.parametrize("fa, fb, w", [("int32", "int32", 64), ("uint32", "uint32", 64),
                                       ("int32", "int16", 48), ("int17", "uint16", 33)])
def test_int_multiply_width_limit_matches_hardware(fa, fb, w):
    from exmy.hdl.multiplier import IntMultiplier

    msg = (f"The exact product of {fa} x {fb} needs {w} bits; integer formats have at most 32, "
           f"so the operands may total at most 32 bits")
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        g.int_multiply(1, 1, fa, fb)
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        IntMultiplier(fa, fb)


def test_int_multiply_at_the_limit():
    assert int(g.int_multiply(0xFFFF, 0xFFFF, "uint16", "uint16")) == 0xFFFF * 0xFFFF
    assert int(g.int_multiply(0x8000, 0x8000, "int16", "int16")) == 1 << 30


# -- finding 3: encode / round check (rounding, rand_bits) as convert does ---------------------
@pytest.mark.parametrize("kw, exc, msg", [
    (dict(rounding="stochastic", rand_bits=40), ValueError, "rand_bits must be in 1..32, not 40"),
    (dict(rounding="stochastic", rand_bits=64), ValueError, "rand_bits must be in 1..32, not 64"),
    (dict(rounding="stochastic", rand_bits=True), TypeError,
     "rand_bits must be an integer, not True"),
    (dict(rounding="stochastic", rand_bits=np.bool_(True)), TypeError,
     "rand_bits must be an integer, not True"),
    (dict(rounding="stochastic", rand_bits=2.0), TypeError,
     "rand_bits must be an integer, not 2.0"),
    (dict(rounding="rne", rand_bits=4), ValueError,
     "rand_bits=4 is only meaningful with rounding='stochastic', not rounding='rne'"),
    (dict(rounding="rne!"), ValueError,
     "Rounding mode must be one of rne, rtz, rna, stochastic, not 'rne!'"),
])
@pytest.mark.parametrize("unit", ["encode", "round", "convert"])
def test_rounding_options_checked_alike(unit, kw, exc, msg):
    rand = np.array([1, 2]) if kw.get("rounding") == "stochastic" else None
    call = {
        "encode": lambda: g.encode(_raw(), E4, rand=rand, **kw),
        "round": lambda: g.round(_raw(), E4, rand=rand, **kw),
        "convert": lambda: g.convert(np.array([F32_ONE] * 2), "float32", E4, rand=rand, **kw),
    }[unit]
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        call()


def test_rand_bits_numpy_integer_accepted():
    rand = np.array([3, 12])
    want = g.encode(_raw(), "e2m1fn", rounding="stochastic", rand=rand, rand_bits=4)
    for rb in (np.int64(4), np.uint8(4)):
        assert np.array_equal(
            g.encode(_raw(), "e2m1fn", rounding="stochastic", rand=rand, rand_bits=rb), want)
    a = np.array([0x39, 0x39])
    want = g.multiply(a, ONE, E4, E4, "e2m1fn", rounding="stochastic", rand=rand, rand_bits=4)
    got = g.multiply(a, ONE, E4, E4, "e2m1fn", rounding="stochastic", rand=rand,
                     rand_bits=np.int32(4))
    assert np.array_equal(got, want)


def test_encode_rand_bits_zero_means_none():
    # encode's old default: internal callers and users pass 0 for "no rand port"
    assert np.array_equal(g.encode(_raw(), E4, rand_bits=0), g.encode(_raw(), E4))


# -- finding 4: the rand stream ------------------------------------------------------------------
BAD_RAND = [
    (np.array([-1, 2]), ValueError,
     "rand must be an integer in 0..0xf (rand_bits=4), not -1 at index 0"),
    (np.array([1, 16]), ValueError,
     "rand must be an integer in 0..0xf (rand_bits=4), not 16 (0x10) at index 1"),
    (np.array([1.5, 2.0]), TypeError,
     "rand must be integers, not a float64 array (holding 1.5)"),
    (np.array([True, False]), TypeError,
     "rand must be integers, not a bool array (holding True)"),
    ("ab", TypeError, "rand must be an integer, not 'ab'"),
    (2.0, TypeError, "rand must be an integer, not 2.0"),
]


@pytest.mark.parametrize("rand, exc, msg", BAD_RAND)
@pytest.mark.parametrize("unit", ["encode", "round", "convert", "multiply", "mac",
                                  "float_acc_mac"])
def test_rand_values_checked(unit, rand, exc, msg):
    kw = dict(rounding="stochastic", rand=rand, rand_bits=4)
    a = np.array([0x39, 0x39])
    call = {
        "encode": lambda: g.encode(_raw(), "e2m1fn", **kw),
        "round": lambda: g.round(_raw(), "e2m1fn", **kw),
        "convert": lambda: g.convert(a, E4, "e2m1fn", **kw),
        "multiply": lambda: g.multiply(a, ONE, E4, E4, "e2m1fn", **kw),
        "mac": lambda: mac(a, ONE, 1, 0, E4, E4, fmt_out="e2m1fn", **kw),
        "float_acc_mac": lambda: float_acc_mac(a, ONE, 1, 0, E4, E4, "e2m1fn", **kw),
    }[unit]
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        call()


@pytest.mark.parametrize("rand", [np.array([1, 2, 3]), np.array([1]), np.zeros((2, 2), int)])
@pytest.mark.parametrize("unit", ["encode", "convert", "multiply"])
def test_rand_shape_checked(unit, rand):
    kw = dict(rounding="stochastic", rand=rand, rand_bits=4)
    a = np.array([0x39, 0x39])
    call = {
        "encode": lambda: g.encode(_raw(), "e2m1fn", **kw),
        "convert": lambda: g.convert(a, E4, "e2m1fn", **kw),
        "multiply": lambda: g.multiply(a, ONE, E4, E4, "e2m1fn", **kw),
    }[unit]
    msg = f"rand must be a scalar or have the operands' shape (2,), not {rand.shape}"
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        call()


def test_mac_rand_length_checked():
    with pytest.raises(ValueError, match=r"^MAC input streams must have one length .* rand \(3,\)"):
        mac(np.array([ONE, ONE]), ONE, 1, 0, E4, E4, fmt_out="e2m1fn", rounding="stochastic",
            rand=np.array([1, 2, 3]), rand_bits=4)


@pytest.mark.parametrize("unit", ["encode", "round", "convert", "multiply", "multiply_table",
                                  "mac", "float_acc_mac"])
def test_rand_without_stochastic_refused(unit):
    a = np.array([0x39, 0x39])
    rand = np.array([1, 2])
    call = {
        "encode": lambda: g.encode(_raw(), E4, rand=rand),
        "round": lambda: g.round(_raw(), E4, rand=rand),
        "convert": lambda: g.convert(a, E4, "e2m1fn", rand=rand),
        "multiply": lambda: g.multiply(a, ONE, E4, E4, "e2m1fn", rand=rand),
        # enough operands for the product table, which never read rand
        "multiply_table": lambda: g.multiply(np.full(9000, ONE), ONE, E4, E4, "e2m1fn",
                                             rand=np.zeros(9000, int)),
        "mac": lambda: mac(a, ONE, 1, 0, E4, E4, fmt_out="e2m1fn", rand=rand),
        "float_acc_mac": lambda: float_acc_mac(a, ONE, 1, 0, E4, E4, "e2m1fn", rand=rand),
    }[unit]
    with pytest.raises(ValueError, match=r"^rand is only meaningful with "
                                         r"rounding='stochastic', not rounding='rne'$"):
        call()


def test_mac_rand_without_output_refused():
    with pytest.raises(ValueError, match=r"^rand and rand_bits round the output y; they need an "
                                         r"output format \(fmt_out\)$"):
        mac(np.array([ONE]), ONE, 1, 0, E4, E4, rand=np.array([1]))


def test_stochastic_needs_rand():
    with pytest.raises(ValueError, match="^Stochastic rounding needs a rand array$"):
        g.multiply(np.array([0x39]), ONE, E4, E4, "e2m1fn", rounding="stochastic", rand_bits=4)


def test_scalar_rand_broadcasts():
    a = np.array([0x39, 0x39, 0x39])
    kw = dict(rounding="stochastic", rand_bits=4)
    assert np.array_equal(g.convert(a, E4, "e2m1fn", rand=7, **kw),
                          g.convert(a, E4, "e2m1fn", rand=np.full(3, 7), **kw))


# -- finding 5: saturate is a bool everywhere -------------------------------------------------
@pytest.mark.parametrize("unit", ["convert", "encode", "multiply", "quantize", "lmul", "fma",
                                  "mac", "float_acc_mac"])
def test_saturate_must_be_bool(unit):
    call = {
        "convert": lambda s: g.convert(0x7F800000, "float32", E4, saturate=s),
        "encode": lambda s: g.encode(g.decode(0x7F800000, "float32"), E4, saturate=s),
        "multiply": lambda s: g.multiply(0x7E, 0x7E, E4, E4, E4, saturate=s),
        "quantize": lambda s: stats.quantize(np.array([1e9]), E4, saturate=s),
        "lmul": lambda s: g.lmul(0x7E, 0x7E, E4, saturate=s),
        "fma": lambda s: g.fma(0x7E, 0x7E, 0, E4, E4, E4, E4, saturate=s),
        "mac": lambda s: mac([0x7E], 0x7E, 1, 0, E4, E4, fmt_out=E4, saturate=s),
        "float_acc_mac": lambda s: float_acc_mac([0x7E], 0x7E, 1, 0, E4, E4, E4, saturate=s),
    }[unit]
    for bad in ("no", 1, None):
        msg = f"saturate must be a bool, not {bad!r}"
        with pytest.raises(TypeError, match=f"^{re.escape(msg)}$"):
            call(bad)
    for flag in (False, True):  # a numpy bool is a bool
        got, want = call(np.bool_(flag)), call(flag)
        if isinstance(want, dict):
            got, want = got["y" if "y" in want else "acc"], want["y" if "y" in want else "acc"]
        assert np.array_equal(got, want)


# -- finding 6: encode / round take a Raw --------------------------------------------------------
def _fields(**kw):
    f = dict(sign=np.array([0, 0], np.uint8), sig=np.array([8, 9]), exp=np.array([-3, -3]),
             nan=np.array([False, False]), inf=np.array([False, False]))
    f.update(kw)
    return Raw(**f)


@pytest.mark.parametrize("raw, exc, msg", [
    ((1, 2, 3), TypeError, "raw must be a Raw (from decode or a raw stage), not (1, 2, 3)"),
    (np.array([1]), TypeError, "raw must be a Raw (from decode or a raw stage), not array([1])"),
    (_fields(sig=np.array([8, -9])), ValueError,
     "raw.sig must be non-negative (the sign is in sign), not -9"),
    (_fields(sig=np.array([8.0, 9.0])), TypeError,
     "raw.sig must be an array of integers, not float64"),
    (_fields(exp=np.array([-3.0, -3.0])), TypeError,
     "raw.exp must be an array of integers, not float64"),
    (_fields(nan=np.array([0, 0])), TypeError, "raw.nan must be an array of bools, not int64"),
    (_fields(sign=np.array([0, 2])), ValueError, "raw.sign must hold only 0 and 1"),
    (_fields(sig=np.array([8, 9, 10])), ValueError,
     "The fields of raw must have one shape (a scalar, or an array matching the others' "
     "trailing axes, broadcasts), not sign (2,), sig (3,), exp (2,), nan (2,), inf (2,)"),
])
@pytest.mark.parametrize("stage", [g.encode, g.round])
def test_raw_checked(stage, raw, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        stage(raw, E4)


def test_raw_of_lists_accepted():
    lists = Raw([0, 1], [8, 9], [-3, -3], [False, False], [False, False])
    assert g.encode(lists, E4).tolist() == g.encode(_fields(sign=np.array([0, 1])), E4).tolist()
    wide = _fields(sig=np.array([8, 1 << 70], dtype=object))  # Python ints are a Raw's wide form
    assert g.encode(wide, E4).tolist() == [ONE, 0x7F]


# -- finding 7: one broadcasting rule for operands ---------------------------------------------
@pytest.mark.parametrize("a, b", [
    (np.array([ONE, ONE]), np.array([ONE, ONE, ONE])),
    (np.array([ONE, ONE]), np.array([ONE])),  # numpy would repeat the one element
    (np.full((2, 1), ONE), np.full((1, 3), ONE)),  # ... or build an outer product
])
@pytest.mark.parametrize("unit", ["multiply", "mul_raw", "lmul", "fma", "exact_product",
                                  "int_multiply"])
def test_operand_shapes_must_match(unit, a, b):
    call = {
        "multiply": lambda: g.multiply(a, b, E4, E4),
        "mul_raw": lambda: g.mul_raw(a, b, E4, E4),
        "lmul": lambda: g.lmul(a, b, E4),
        "fma": lambda: g.fma(a, b, 0, E4, E4, E4, E4),
        "exact_product": lambda: stats.exact_product(a, b, E4),
        "int_multiply": lambda: g.int_multiply(a, b, "int8", "int8"),
    }[unit]
    want = f"^Operands {SHAPES}.*, not a {re.escape(str(a.shape))}, b {re.escape(str(b.shape))}"
    with pytest.raises(ValueError, match=want):
        call()


def test_stats_shapes_must_match():
    with pytest.raises(ValueError, match=rf"^Operands {SHAPES}.*y_bits \(2,\), exact \(1,\)$"):
        stats.product_error(np.array([ONE, ONE]), E4, np.array([1.0]))
    with pytest.raises(ValueError, match=rf"^Operands {SHAPES}.*where \(3,\)$"):
        stats.product_error(np.array([ONE, ONE]), E4, np.ones(2), where=np.ones(3, bool))
    with pytest.raises(ValueError, match=rf"^Operands {SHAPES}.*x \(2,\), y \(3,\)$"):
        stats.distribution_error("rne", E4, np.ones(2), np.ones(3))


def test_mac_length_one_stream_is_not_a_scalar():
    with pytest.raises(ValueError, match=r"^MAC input streams must have one length \(scalars "
                                         r"broadcast\), not a \(2,\), b \(1,\)"):
        mac(np.array([ONE, ONE]), np.array([ONE]), 1, 0, E4, E4)


def test_scalars_and_leading_axes_still_broadcast():
    a = np.array([ONE, 0x40, 0x48])
    assert g.multiply(a, ONE, E4, E4, E4).tolist() == a.tolist()
    assert g.multiply(np.full((2, 3), ONE), a, E4, E4, E4).shape == (2, 3)
    assert g.lmul(np.full((4, 1), ONE), np.uint64(ONE), E4).shape == (4, 1)
    assert stats.product_error(a, E4, 1.0)["n"] == 3


# -- finding 8: stats data are real numbers ----------------------------------------------------
@pytest.mark.parametrize("data, msg", [
    (np.array([1 + 2j]), "not complex128 data (holding (1+2j))"),
    (np.array([1.0, None]), "not object data (holding 1.0)"),
    (["a", "b"], "not <U1 data (holding 'a')"),
    (np.array([True]), "not bool data (holding True)"),
])
def test_stats_data_must_be_real(data, msg):
    with pytest.raises(TypeError, match=rf"^Data x must be real numbers \(floats or integers\), "
                                        rf"{re.escape(msg)}$"):
        stats.quantize(data, E4)
    with pytest.raises(TypeError, match=rf"^SQNR data must be real numbers .*{re.escape(msg)}$"):
        stats.sqnr_db(E4, data)


def test_stats_integer_data_accepted():
    assert np.array_equal(stats.quantize(np.array([1, 2]), E4), stats.quantize([1.0, 2.0], E4))


# -- finding 9: ragged lists and non-integer widths ---------------------------------------------
def test_ragged_list_refused():
    with pytest.raises(ValueError, match=r"^Value must be integer encodings of e4m3fn in a "
                                         r"rectangular array, not a ragged nested list$"):
        g.decode([[1, 2], [3]], E4)
    with pytest.raises(ValueError, match=r"^Operand a must be a rectangular array, not a ragged "
                                         r"nested list$"):
        dot([[1, 2], [3]], [[1, 2], [3, 4]], E4, E4)
    with pytest.raises(ValueError, match=r"^Data x must be a rectangular array"):
        stats.quantize([[1.0], [2.0, 3.0]], E4)


@pytest.mark.parametrize("max_width", ["8", 8.0, True])
def test_acc_width_table_max_width(max_width):
    with pytest.raises(TypeError, match=rf"^max_width must be an integer \(a width in bits\) or "
                                        rf"None, not {re.escape(repr(max_width))}$"):
        g.acc_width_table(max_width=max_width)
