"""Golden dot products (SPEC.md section 5.1): N lanes, exact products, an exact sum, one
rounding; or the exact sums into the SPEC 3.2 fixed-point accumulator.

``dot``
    ``y = encode(sum_i a_i * b_i [+ c], fmt_out)`` over the last axis.
``dot_mac``
    The MAC of dot products: each cycle's exact dot product is added to ``acc`` with the
    cycle semantics of ``golden.mac.mac`` (``valid``/``clear``/``acc``/``flags``/``y``).
``dot_raw`` / ``sum_raw``
    The exact sum before rounding, as a ``Raw``; ``golden.mx`` builds on them.

Operands are float or integer formats (mixed allowed, and integer formats with an implied
scale such as ``mxint8``). Integer arithmetic only: products and sums are exact numpy int64 or
Python integers; the only rounding is ``core.encode``.
"""

from __future__ import annotations

import numpy as np

from .core import Raw, array_shape, check_encodings, check_flag, decode, encode
from .mac import _acc_raw, _accumulate, _pack_acc, _streams
from .ops import product_raw
from .params import (  # the dot parameters live in .params (shared with exmy.hdl)
    DOT_ROUNDING_MODES,
    FLAG_NAN,
    FLAG_NEG_INF,
    FLAG_POS_INF,
    DotParams,
    check_dot_rounding,
    check_float,
    check_operand,
    dot_params,
    format_range,
    product_range,
)

__all__ = [
    "DOT_ROUNDING_MODES",
    "DotParams",
    "dot",
    "dot_mac",
    "dot_params",
    "dot_raw",
    "format_range",
    "sum_raw",
]

# -- the exact sum ---------------------------------------------------------------------------
def _specials(raw: Raw, axis: int = -1):
    """NaN / Inf / sign of the sum of the terms along ``axis`` (SPEC 3: NaN in -> NaN,
    +Inf and -Inf together -> NaN)."""
    pos = np.any(raw.inf & (raw.sign == 0), axis=axis)
    neg = np.any(raw.inf & (raw.sign == 1), axis=axis)
    nan = np.any(raw.nan, axis=axis) | (pos & neg)
    inf = (pos | neg) & ~nan
    return nan, inf, neg


def sum_raw(terms: Raw, lsb: int, max_bits: int) -> Raw:
    """The exact sum of ``terms`` along the last axis as a Raw with exponent ``lsb``.

    Every finite term must be an integer multiple of ``2**lsb``; ``max_bits`` bounds the
    magnitude of every partial sum (in units of ``2**lsb``), which picks int64 or Python
    integers. Zero sums are +0 unless every term is -0 (SPEC 5.1).
    """
    nan, inf, neg_inf = _specials(terms)
    special = terms.nan | terms.inf
    shift = np.where(special, 0, np.asarray(terms.exp, np.int64) - lsb)
    if np.any(shift < 0):
        raise RuntimeError("A dot-product term lies below the accumulation grid")
    sig = np.where(special, 0, terms.sig)
    if max_bits <= 62:
        mag = np.asarray(sig, np.int64) << shift
        s = np.sum(np.where(terms.sign == 1, -mag, mag), axis=-1)
        sig_out = np.abs(s)
    else:
        mag = np.asarray(sig).astype(object) << shift.astype(object)
        s = np.sum(np.where(terms.sign == 1, -mag, mag), axis=-1)
        s = np.asarray(s, dtype=object)
        # (a ufunc on a 0-d array gives a scalar: keep one result an object array, or
        # np.where below would squeeze a Python integer wider than 64 bits into int64)
        sig_out = np.asarray(np.abs(s), dtype=object)
    all_neg_zero = np.all((terms.sign == 1) & (sig == 0) & ~special, axis=-1)
    neg = np.asarray(s < 0, bool) | all_neg_zero
    sign = np.where(inf, neg_inf, neg).astype(np.uint8)
    sig_out = np.where(nan | inf, 0, sig_out)
    if sig_out.dtype == object and sig_out.ndim and max_bits <= 62:
        sig_out = sig_out.astype(np.int64)
    exp = np.full(np.shape(sign), lsb, np.int64)
    return Raw(sign, sig_out, exp, np.asarray(nan), np.asarray(inf))


def _products(a, b, fmt_a, fmt_b) -> Raw:
    """Exact products a_i * b_i as a Raw (IEEE specials: Inf x 0 = NaN), any formats."""
    return product_raw(a, b, fmt_a, fmt_b)


def _operands(a, b, fmt_a, fmt_b):
    """The shapes (..., N) of a and b, then their encodings (``check_encodings``, naming the
    operand) before any conversion."""
    sa, sb = array_shape(a, "Operand a"), array_shape(b, "Operand b")
    if sa != sb or len(sa) < 1:
        raise ValueError(
            f"Dot operands a and b must have one shape (..., N) with N lanes, not {sa} "
            f"and {sb}"
        )
    if sa[-1] < 1:
        raise ValueError("Lane count must be a positive integer, not 0")
    return check_encodings(a, fmt_a, "Operand a"), check_encodings(b, fmt_b, "Operand b")


def dot_raw(a, b, fmt_a, fmt_b, *, c=None, fmt_c=None) -> Raw:
    """The exact ``sum_i a_i*b_i [+ c]`` over the last axis, before rounding (a Raw)."""
    fmt_a = check_operand(fmt_a, "a")
    fmt_b = check_operand(fmt_b, "b")
    a, b = _operands(a, b, fmt_a, fmt_b)
    n = a.shape[-1]
    prod = _products(a, b, fmt_a, fmt_b)
    lsb, lo, hi = product_range(fmt_a, fmt_b)
    top = max(hi, -lo) * n
    if (c is None) != (fmt_c is None):
        raise ValueError("Give both c and fmt_c, or neither")
    if c is not None:
        fmt_c = check_float(fmt_c, "Dot addend c")
        if array_shape(c, "Dot addend c") != a.shape[:-1]:
            raise ValueError(
                f"Dot addend c must have the shape {a.shape[:-1]} of one result, not "
                f"{np.shape(c)}"
            )
        c = check_encodings(c, fmt_c, "Dot addend c")
        rc = decode(c, fmt_c)
        qc, _, hc = format_range(fmt_c)
        new = min(lsb, qc)
        top = (top << (lsb - new)) + (hc << (qc - new))
        lsb = new
        pairs = zip(prod[:5], rc[:5], strict=True)
        prod = Raw(*(np.concatenate([x, y[..., None]], axis=-1) for x, y in pairs))
    return sum_raw(prod, lsb, top.bit_length() + 1)


def dot(a, b, fmt_a, fmt_b, *, c=None, fmt_c=None, fmt_out="float32", rounding="rne"):
    """N-lane dot product with one rounding (SPEC 5.1).

    Parameters
    ----------
    a, b : integer arrays of shape (..., N)
        Encodings in ``fmt_a`` / ``fmt_b`` (float formats with a zero, or integer formats,
        mixed allowed); the dot product runs over the last axis.
    c : integer array of shape (...), optional
        An addend in the float format ``fmt_c``, added exactly before the rounding.
    fmt_out : FloatFormat or name
        Output format (default float32).
    rounding : {"rne", "rtz", "rna"}

    Returns
    -------
    uint64 array of shape (...): ``encode(sum_i a_i*b_i [+ c], fmt_out, rounding)``.

    Notes
    -----
    Products and the sum are exact; NaN in any lane, Inf x 0, or +Inf and -Inf together give
    NaN; an exact zero sum is +0 unless every term (c included) is -0, as IEEE says for
    rne/rtz/rna.
    """
    fmt_out = check_float(fmt_out, "Dot output")
    check_dot_rounding(rounding)
    return encode(dot_raw(a, b, fmt_a, fmt_b, c=c, fmt_c=fmt_c), fmt_out, rounding=rounding)


# -- the accumulating dot product --------------------------------------------------------------
def accumulate_raw(
    block: Raw, valid, clear, acc_bits: int, lsb: int, *, saturate_acc: bool, fmt_out, rounding
) -> dict[str, np.ndarray]:
    """Run SPEC 3.2's accumulator over one exact Raw value per cycle (``block``, 1-D, every
    finite value a multiple of ``2**lsb``): golden.mac's accumulator, flags and ``y``."""
    special = np.where(block.nan, FLAG_NAN, 0) | np.where(
        block.inf, np.where(block.sign == 1, FLAG_NEG_INF, FLAG_POS_INF), 0
    )
    special = np.asarray(special, np.uint8)
    shift = np.asarray(block.exp, np.int64) - lsb
    prod = [
        0 if special[i] else (-1 if block.sign[i] else 1) * (int(block.sig[i]) << int(shift[i]))
        for i in range(len(special))
    ]
    vals, flags = _accumulate(prod, special, valid, clear, acc_bits, saturate_acc)
    pattern, value = _pack_acc(vals, acc_bits)
    out = {"acc": pattern, "acc_value": value, "flags": flags}
    if fmt_out is not None:
        out["y"] = encode(_acc_raw(vals, flags, lsb), fmt_out, rounding=rounding)
    return out


def dot_mac(
    a,
    b,
    valid,
    clear,
    fmt_a,
    fmt_b,
    *,
    params: DotParams | None = None,
    depth: int | None = None,
    acc_bits: int | None = None,
    fmt_out=None,
    rounding: str = "rne",
    saturate_acc: bool = False,
) -> dict[str, np.ndarray]:
    """A MAC of dot products (SPEC 5.1 ``accumulate=True``): cycle ``i`` adds the exact
    ``sum_j a[i, j] * b[i, j]`` to the fixed-point accumulator with ``golden.mac.mac``'s cycle
    semantics (``valid``/``clear``, sticky NaN/+Inf/-Inf ``flags``, wrap or ``saturate_acc``,
    ``y = encode(acc, fmt_out)``). ``a``, ``b``: shape (cycles, lanes).

    Returns ``acc`` (bit patterns), ``acc_value``, ``flags`` and (with ``fmt_out``) ``y``.
    """
    fmt_a = check_operand(fmt_a, "a")
    fmt_b = check_operand(fmt_b, "b")
    a, b = _operands(a, b, fmt_a, fmt_b)
    if a.ndim != 2:
        raise ValueError(f"Dot MAC operands must have shape (cycles, lanes), not {a.shape}")
    given = {k: v for k, v in {"depth": depth, "acc_bits": acc_bits}.items() if v is not None}
    if params is None:
        params = dot_params(fmt_a, fmt_b, a.shape[1], **given)
    elif not isinstance(params, DotParams):
        raise TypeError(f"params must be a DotParams, not {params!r}")
    elif given:
        raise ValueError(f"Give either params or {', '.join(given)}, not both")
    if (params.fmt_a, params.fmt_b, params.lanes) != (fmt_a, fmt_b, a.shape[1]):
        raise ValueError(
            f"params are for {params.fmt_a} x {params.fmt_b} with {params.lanes} lanes, not "
            f"{fmt_a} x {fmt_b} with {a.shape[1]}"
        )
    saturate_acc = check_flag(saturate_acc, "saturate_acc")
    if fmt_out is not None:
        fmt_out = check_float(fmt_out, "Dot output")
        check_dot_rounding(rounding)
    valid, clear = _streams(np.zeros(len(a)), np.zeros(len(a)), valid, clear)[2:4]
    raw = dot_raw(a, b, fmt_a, fmt_b)
    return accumulate_raw(
        raw, valid, clear, params.acc_bits, params.acc_lsb_exp,
        saturate_acc=saturate_acc, fmt_out=fmt_out, rounding=rounding,
    )
