"""Golden converter and multipliers (SPEC.md sections 3 and 3.1)."""

from __future__ import annotations

import functools

import numpy as np

from .core import (
    Raw,
    check_encodings,
    check_flag,
    check_rand,
    check_round_options,
    check_shapes,
    decode,
    encode,
)
from .format import FloatFormat, IntFormat, _check_mul_input, exact_product_format, parse_format
from .params import check_int_product, check_unscaled

__all__ = [
    "convert",
    "multiply",
    "mul_raw",
    "multiply_raw",
    "int_multiply",
    "exact_product_format",
    "check_rounding_options",
]


def check_rounding_options(rounding: str, rand_bits: int | None) -> None:
    """Validate a (rounding, rand_bits) pair the way every unit does
    (``core.check_round_options``, which calls the hardware's ``params`` check)."""
    check_round_options(rounding, rand_bits)


def convert(
    a,
    fmt_in: FloatFormat | IntFormat,
    fmt_out: FloatFormat | IntFormat,
    *,
    rounding: str = "rne",
    saturate: bool = False,
    rand=None,
    rand_bits: int | None = None,
) -> np.ndarray:
    """``y = encode(decode(a), fmt_out)``: float->float, int->float and float->int.

    ``a``: integer encodings of ``fmt_in`` (anything else raises, naming the value)."""
    fmt_in, fmt_out = parse_format(fmt_in), parse_format(fmt_out)
    rand_bits = check_round_options(rounding, rand_bits)
    saturate = check_flag(saturate, "saturate")
    a = check_encodings(a, fmt_in, "Operand a")
    rand = check_rand(rand, rounding, rand_bits, a.shape)
    return encode(
        decode(a, fmt_in),
        fmt_out,
        rounding=rounding,
        saturate=saturate,
        rand=rand,
        rand_bits=rand_bits or 0,
    )


def mul_raw(a, b, fmt_a: FloatFormat, fmt_b: FloatFormat) -> Raw:
    """The exact product of the encodings ``a`` and ``b`` as a Raw value: the stage after
    ``decode`` (IEEE special-value rules, sign xor).

    ``sig`` is the product of the decoded significands (not normalised: a subnormal operand
    keeps its leading zeros), ``exp`` the sum of their exponents; NaN for a NaN operand or
    Inf x 0, else Inf for an Inf operand (``sig`` 0 for both). The hardware twin is
    ``exmy.hdl.float.mul_raw`` (tests/test_raw_stages.py)."""
    fmt_a, fmt_b = parse_format(fmt_a), parse_format(fmt_b)
    a, b = check_encodings(a, fmt_a, "Operand a"), check_encodings(b, fmt_b, "Operand b")
    check_shapes({"a": a, "b": b})
    return product_raw(a, b, fmt_a, fmt_b)


def product_raw(a, b, fmt_a, fmt_b) -> Raw:
    """:func:`mul_raw` of encodings its caller has checked (parsed formats, valid codes,
    shapes that broadcast): the product rule itself, IEEE specials (Inf x 0 = NaN), written
    once for every golden unit."""
    ra, rb = decode(a, fmt_a), decode(b, fmt_b)
    zero_a = (ra.sig == 0) & ~ra.nan & ~ra.inf
    zero_b = (rb.sig == 0) & ~rb.nan & ~rb.inf
    nan = ra.nan | rb.nan | (ra.inf & zero_b) | (zero_a & rb.inf)
    inf = (ra.inf | rb.inf) & ~nan
    return Raw(ra.sign ^ rb.sign, ra.sig * rb.sig, ra.exp + rb.exp, nan, inf)


#: the stage's earlier name (kept: public API)
multiply_raw = mul_raw


def multiply(
    a,
    b,
    fmt_a,
    fmt_b,
    fmt_out=None,
    *,
    rounding: str = "rne",
    saturate: bool = False,
    rand=None,
    rand_bits: int | None = None,
) -> np.ndarray:
    """``y = encode(a*b, fmt_out)``; with no ``fmt_out`` the exact product in
    ``exact_product_format(fmt_a, fmt_b)``. One rounding; IEEE specials (SPEC 3)."""
    fmt_a = _check_mul_input(fmt_a, "a")
    fmt_b = _check_mul_input(fmt_b, "b")
    rand_bits = check_round_options(rounding, rand_bits)
    saturate = check_flag(saturate, "saturate")
    if fmt_out is None:
        fmt_out = exact_product_format(fmt_a, fmt_b)
    else:
        fmt_out = parse_format(fmt_out)
        if not isinstance(fmt_out, FloatFormat):
            raise ValueError(f"Multiplier output format must be a float format, not {fmt_out}")
    a = check_encodings(a, fmt_a, "Operand a")
    b = check_encodings(b, fmt_b, "Operand b")
    rand = check_rand(rand, rounding, rand_bits, check_shapes({"a": a, "b": b}))
    if (
        rounding != "stochastic"
        and fmt_a.width + fmt_b.width <= TABLE_BITS
        and a.size >= (1 << (fmt_a.width + fmt_b.width)) // 8
    ):
        # Every product of two small formats, computed once by the path below, then looked
        # up: the same bits, 10-50x faster for exhaustive and large random runs.
        table = _product_table(fmt_a, fmt_b, fmt_out, rounding, saturate)
        ma = np.uint64((1 << fmt_a.width) - 1)
        mb = np.uint64((1 << fmt_b.width) - 1)
        return table[((a & ma) << np.uint64(fmt_b.width)) | (b & mb)]
    return _multiply_direct(a, b, fmt_a, fmt_b, fmt_out, rounding, saturate, rand, rand_bits)


#: operand pairs of at most this many bits in total use a memoised product table
TABLE_BITS = 16


@functools.lru_cache(maxsize=64)
def _product_table(fmt_a, fmt_b, fmt_out, rounding, saturate) -> np.ndarray:
    codes = np.arange(1 << (fmt_a.width + fmt_b.width), dtype=np.uint64)
    a = codes >> np.uint64(fmt_b.width)
    b = codes & np.uint64((1 << fmt_b.width) - 1)
    table = _multiply_direct(a, b, fmt_a, fmt_b, fmt_out, rounding, saturate, None, None)
    table.setflags(write=False)
    return table


def _multiply_direct(a, b, fmt_a, fmt_b, fmt_out, rounding, saturate, rand, rand_bits):
    return encode(
        mul_raw(a, b, fmt_a, fmt_b),
        fmt_out,
        rounding=rounding,
        saturate=saturate,
        rand=rand,
        rand_bits=rand_bits or 0,
    )


def int_multiply(a, b, fmt_a: IntFormat, fmt_b: IntFormat) -> np.ndarray:
    """Exact integer product in ``bits_a + bits_b`` bits (two's complement when either input
    is signed); the operands total at most 32 bits, as in the hardware
    (``params.check_int_product``)."""
    fmt_a, fmt_b = parse_format(fmt_a), parse_format(fmt_b)
    for f, w in ((fmt_a, "a"), (fmt_b, "b")):
        if not isinstance(f, IntFormat):
            raise ValueError(f"Integer multiplier operand {w} must be an integer format, not {f}")
        check_unscaled(f, f"Integer multiplier operand {w}", "int_multiply")
    bits = check_int_product(fmt_a, fmt_b)  # the hardware's limit and message
    a, b = check_encodings(a, fmt_a, "Operand a"), check_encodings(b, fmt_b, "Operand b")
    check_shapes({"a": a, "b": b})
    ra, rb = decode(a, fmt_a), decode(b, fmt_b)
    p = ra.sig * rb.sig
    p = np.where(ra.sign ^ rb.sign, -p, p)
    return (p & ((1 << bits) - 1)).astype(np.uint64)
