"""The golden model's public API refuses what it cannot mean (issue 11): encodings that are not
integers, or lie outside ``0 .. 2**width - 1``, raise TypeError / ValueError naming the value
and the format (they were masked, truncated or decoded as garbage); scalars and numpy arrays
alike. ``decode``, ``encode``, ``to_fraction`` and ``describe`` take format names."""

import re

import numpy as np
import pytest

from exmy.golden import (
    CATALOG,
    approx_fma,
    check_encodings,
    convert,
    decode,
    describe,
    encode,
    fma,
    fma_raw,
    int_mac,
    int_multiply,
    lmul,
    lmul_raw,
    mac,
    multiply,
    multiply_raw,
    to_fraction,
)

E4M3FN = CATALOG["e4m3fn"]


def esc(msg: str) -> str:
    return re.escape(msg)


# -- the issue's examples --------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda: multiply(300, 0x38, "e4m3fn", "e4m3fn", "e4m3fn"), ValueError,
         "Operand a must be an encoding of e4m3fn (0..0xff), not 300 (0x12c)"),
        (lambda: int_multiply(1000, 2, "int8", "int8"), ValueError,
         "Operand a must be an encoding of int8 (0..0xff), not 1000 (0x3e8)"),
        (lambda: to_fraction(1 << 40, E4M3FN), ValueError,
         "to_fraction input must be an encoding of e4m3fn (0..0xff), not 1099511627776 "
         "(0x10000000000)"),
        (lambda: multiply(1.5, 0x38, "e4m3fn", "e4m3fn"), TypeError,
         "Operand a must be an integer encoding of e4m3fn, not 1.5"),
        (lambda: decode(0x1FF, E4M3FN), ValueError,
         "Value must be an encoding of e4m3fn (0..0xff), not 511 (0x1ff)"),
    ],
)
def test_issue_examples_raise(call, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        call()


# -- check_encodings: every raise site -------------------------------------------------------
@pytest.mark.parametrize(
    "bits, exc, msg",
    [
        (256, ValueError, "Operand b must be an encoding of e4m3fn (0..0xff), not 256 (0x100)"),
        (-1, ValueError, "Operand b must be an encoding of e4m3fn (0..0xff), not -1"),
        (np.int64(-7), ValueError, "Operand b must be an encoding of e4m3fn (0..0xff), not -7"),
        (2.0, TypeError, "Operand b must be an integer encoding of e4m3fn, not 2.0"),
        (np.float32(2.5), TypeError, "Operand b must be an integer encoding of e4m3fn, not "
         "np.float32(2.5)"),
        (True, TypeError, "Operand b must be an integer encoding of e4m3fn, not True"),
        ("0x38", TypeError, "Operand b must be an integer encoding of e4m3fn, not '0x38'"),
        (None, TypeError, "Operand b must be an integer encoding of e4m3fn, not None"),
        # arrays: one argmin/argmax, the offending value and its index
        (np.array([1, 2, 300]), ValueError,
         "Operand b must be an encoding of e4m3fn (0..0xff), not 300 (0x12c) at index 2"),
        (np.array([[1, 2], [3, -4]]), ValueError,
         "Operand b must be an encoding of e4m3fn (0..0xff), not -4 at index (1, 1)"),
        (np.array([0, 1 << 63], np.uint64), ValueError,
         "Operand b must be an encoding of e4m3fn (0..0xff), not 9223372036854775808 "
         "(0x8000000000000000) at index 1"),
        ([1, 1 << 70], ValueError, "Operand b must be an encoding of e4m3fn (0..0xff), not "
         "1180591620717411303424 (0x400000000000000000) at index 1"),
        ([1, 2.5, 3], TypeError,
         "Operand b must be integer encodings of e4m3fn, not a float64 array (holding 2.5)"),
        (np.array([1.0, 2.0]), TypeError,
         "Operand b must be integer encodings of e4m3fn, not a float64 array (holding 1.0)"),
        (np.array([True, False]), TypeError,
         "Operand b must be integer encodings of e4m3fn, not a bool array (holding True)"),
        ([1, "a"], TypeError,
         "Operand b must be integer encodings of e4m3fn, not a <U21 array (holding '1')"),
        (np.array([1, 2.5], dtype=object), TypeError,
         "Operand b must be an integer encoding of e4m3fn, not 2.5"),
        (np.array([1, True], dtype=object), TypeError,
         "Operand b must be an integer encoding of e4m3fn, not True"),
    ],
)
def test_check_encodings_errors(bits, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        check_encodings(bits, E4M3FN, "Operand b")


def test_check_encodings_accepts_every_encoding():
    """Integers of any integer dtype, lists, Python and numpy scalars, object arrays of ints,
    empty arrays: all accepted, returned as uint64 of the same shape."""
    for arr in (np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.int64),
                list(range(256)), np.arange(256, dtype=np.uint64).reshape(16, 16),
                np.array(list(range(256)), dtype=object)):
        got = check_encodings(arr, E4M3FN)
        assert got.dtype == np.uint64 and got.shape == np.shape(arr)
        assert got.ravel().tolist() == list(range(256))
    assert check_encodings(np.uint8(255), E4M3FN).tolist() == 255
    assert check_encodings([], E4M3FN).shape == (0,)
    assert check_encodings((1 << 32) - 1, CATALOG["float32"]).tolist() == (1 << 32) - 1


# -- every public function checks its operands -----------------------------------------------
@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda: convert([0x38, 0x100], "e4m3fn", "float16"), ValueError,
         "Operand a must be an encoding of e4m3fn (0..0xff), not 256 (0x100) at index 1"),
        (lambda: convert(70000, "float16", "e4m3fn"), ValueError,
         "Operand a must be an encoding of float16 (0..0xffff), not 70000 (0x11170)"),
        (lambda: convert(-1, "int8", "e4m3fn"), ValueError,
         "Operand a must be an encoding of int8 (0..0xff), not -1"),
        (lambda: multiply(0x38, [0x38, 1.5], "e4m3fn", "e4m3fn"), TypeError,
         "Operand b must be integer encodings of e4m3fn, not a float64 array (holding 1.5)"),
        (lambda: multiply(np.arange(300), 0x38, "e4m3fn", "e4m3fn", "e4m3fn"), ValueError,
         "Operand a must be an encoding of e4m3fn (0..0xff), not 299 (0x12b) at index 299"),
        (lambda: multiply_raw(0x38, 16, "e4m3fn", "e2m1fn"), ValueError,
         "Operand b must be an encoding of e2m1fn (0..0xf), not 16 (0x10)"),
        (lambda: int_multiply(3, np.array([2.0]), "int8", "int8"), TypeError,
         "Operand b must be integer encodings of int8, not a float64 array (holding 2.0)"),
        (lambda: fma(0x38, 0x38, 0x10001, "e4m3fn", "e4m3fn", "bfloat16", "bfloat16"),
         ValueError, "Operand c must be an encoding of bfloat16 (0..0xffff), not 65537 "
         "(0x10001)"),
        (lambda: fma_raw(256, 0x38, 0x38, "e4m3fn", "e4m3fn", "e4m3fn", precision=4),
         ValueError, "Operand a must be an encoding of e4m3fn (0..0xff), not 256 (0x100)"),
        (lambda: approx_fma(0x38, 1.0, 0x38, "e4m3fn", "e4m3fn", "e4m3fn", "e4m3fn",
                            granularity=2), TypeError,
         "Operand b must be an integer encoding of e4m3fn, not 1.0"),
        (lambda: lmul([0x38, 0x138], 0x38, "e4m3fn"), ValueError,
         "Operand a must be an encoding of e4m3fn (0..0xff), not 312 (0x138) at index 1"),
        (lambda: lmul_raw(0x38, -2, "e4m3fn"), ValueError,
         "Operand b must be an encoding of e4m3fn (0..0xff), not -2"),
        (lambda: mac([0x38, 0x200], 0x38, 1, 0, "e4m3fn", "e4m3fn"), ValueError,
         "Operand a must be an encoding of e4m3fn (0..0xff), not 512 (0x200) at index 1"),
        (lambda: mac([0x38], [0.5], 1, 0, "e4m3fn", "e4m3fn", acc_format="bfloat16"),
         TypeError,
         "Operand b must be integer encodings of e4m3fn, not a float64 array (holding 0.5)"),
        (lambda: int_mac([1, 2], [3, 256], 1, 0, "int8", "int8"), ValueError,
         "Operand b must be an encoding of int8 (0..0xff), not 256 (0x100) at index 1"),
        (lambda: encode(decode(0x38, "e4m3fn"), 3), TypeError,
         "Format must be a FloatFormat, IntFormat or a name, not 3"),
        (lambda: decode(0x38, "e4m3x"), ValueError, "Unknown format 'e4m3x'"),
        (lambda: to_fraction([0x38, 0x39], "e4m3fn"), TypeError,
         "to_fraction takes one encoding of e4m3fn, not [56, 57]"),
        (lambda: describe(np.array([1, 2]), "e4m3fn"), TypeError,
         "describe takes one encoding of e4m3fn, not array([1, 2])"),
        (lambda: describe(2.0, "e4m3fn"), TypeError,
         "describe input must be an integer encoding of e4m3fn, not 2.0"),
    ],
)
def test_public_functions_check_encodings(call, exc, msg):
    with pytest.raises(exc, match=esc(msg)):
        call()


def test_signed_integers_are_given_as_their_bit_patterns():
    """Integer encodings are bit patterns, as the results are: -3 in int8 is 0xfd (a negative
    Python int is refused, not wrapped)."""
    assert int(int_multiply(0xFD, 2, "int8", "int8")) == (-6) & 0xFFFF
    with pytest.raises(ValueError, match=esc("not -3")):
        int_multiply(-3, 2, "int8", "int8")


# -- format names, through the one parser ----------------------------------------------------
def test_decode_encode_accept_names():
    """decode / encode / to_fraction / describe take names as multiply does; the result is the
    same as with the format object."""
    codes = np.arange(256, dtype=np.uint64)
    by_name, by_obj = decode(codes, "float8_e4m3fn"), decode(codes, E4M3FN)
    for x, y in zip(by_name, by_obj, strict=False):
        if x is not None:
            assert np.array_equal(x, y)
    f16 = CATALOG["float16"]
    assert encode(by_obj, "float16").tolist() == encode(by_obj, f16).tolist()
    assert to_fraction(0x3C, "e4m3fn") == to_fraction(0x3C, E4M3FN) == 1.5
    assert describe(0x3C, "e4m3fn") == "0x3c (+1.5 e4m3fn)"
    assert encode(decode([0x3C], "e4m3fn"), "int8").tolist() == [2]
