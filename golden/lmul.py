"""L-Mul: multiplication by one integer addition (SPEC.md section 3.4).

Source: H. Luo and W. Sun, "Addition is All You Need for Energy-efficient Language Models"
(2024). For normal x, y in one format (E, M, bias B)::

    L-Mul(x, y) = (-1)^(sx xor sy) * (1 + xm + ym + 2^-l(M)) * 2^(xe + ye)
    l(m) = m for m <= 3, 3 for m = 4, 4 for m > 4

Two forms (``form=``):

``"adder"`` (default, what one integer adder computes)
    ``t = |x|_bits + |y|_bits - (B << M) + 2^(M - l(M))`` on the E+M-bit magnitude fields. A
    carry out of the mantissa field goes into the exponent field (Mitchell's logarithmic
    approximation plus an offset): when ``xm + ym + 2^-l >= 1`` the result is
    ``(xm + ym + 2^-l) * 2^(xe + ye + 1)``.
``"formula"``
    The paper's formula literally: the significand ``1 + xm + ym + 2^-l`` (< 4) is
    renormalized by one right shift when it is >= 2, the dropped bit truncated. The exponent
    is the adder's; only the mantissa of the carry case differs.

``offset="pam"`` uses offset 0 instead of ``2^-l(M)`` (piecewise affine multiplication,
Mogami 2020 / Kosson & Jaggi 2023), in both forms.

Conventions (where SPEC 3.4 leaves room, the reading chosen here):

- Output exponent. With ``fmt_out`` (same M, any exponent width and bias) the result's
  exponent field is ``xf + yf - 2*B_in + B_out`` (+1 on a mantissa carry), i.e. the unbiased
  exponents add: ``t = |x|_bits + |y|_bits - ((2*B_in - B_out) << M) + offset``. Without
  ``fmt_out`` this is SPEC's ``- (B << M)``.
- Underflow: a result exponent field <= 0 (``t < 2^M``) gives ±0 even when ``fmt_out`` has
  subnormals (the adder has no subnormal path).
- Overflow: ``t`` above ``fmt_out``'s max_finite code (for ``fn`` landing on the NaN code
  counts) is an overflow, resolved by ``encode``: ``saturate=True`` gives ±max_finite, else
  ±Inf (``ieee``), NaN (``fn``/``fnuz``), ±max_finite (``none``).
- Operands with exponent field 0 (zeros and subnormals) are zero (denormals-are-zero, as x86
  DAZ: subnormal × Inf is therefore NaN). Specials follow SPEC 3: NaN in → NaN;
  Inf × 0 → NaN; Inf × (finite non-zero or Inf) → Inf with the xor sign. That Inf goes
  through the overflow rule like every unit's (``encode``): with ``saturate=True`` it is
  ±max_finite (SATFINITE), and into a format without Inf it is NaN (``fn``/``fnuz``) or
  ±max_finite (``none``). A zero result has the xor sign; ``fnuz`` and
  unsigned outputs give +0; a negative result into an unsigned ``fmt_out`` gives NaN
  (SPEC 2.5).

The result is always on ``fmt_out``'s grid, so ``encode`` (the one encoder) never rounds: it
only packs fields and applies the overflow, zero-sign and special-value rules.
"""

from __future__ import annotations

import numpy as np

from .core import Raw, check_encodings, check_flag, check_shapes, decode, encode

# the parameter checks and the offset live in .params (shared with exmy.hdl); re-exported here
from .params import (
    LMUL_FORMS,
    LMUL_OFFSETS,
    check_lmul_formats,
    check_lmul_options,
    lmul_l,
    lmul_offset,
)

__all__ = ["LMUL_FORMS", "LMUL_OFFSETS", "lmul", "lmul_l", "lmul_offset", "lmul_raw"]



def _check_options(form, offset, saturate) -> bool:
    """``params.check_lmul_options`` (the hardware's), ``saturate`` through ``check_flag``
    (a numpy bool is a bool). Returns ``saturate`` as a bool."""
    saturate = check_flag(saturate, "saturate")
    check_lmul_options(form, offset, saturate)
    return saturate


def lmul_raw(a, b, fmt, fmt_out=None, *, form: str = "adder", offset: str = "lmul") -> Raw:
    """The L-Mul result as an exact ``Raw`` on ``fmt_out``'s grid, before overflow handling.

    Stages mirror the hardware: decode (fields, specials), the one (E+M)-bit addition, the
    zero/underflow decision. Overflowing lanes carry their true (too large) exponent; ``encode``
    applies the overflow rule.
    """
    fmt, fmt_out = check_lmul_formats(fmt, fmt_out)
    _check_options(form, offset, False)
    a, b = check_encodings(a, fmt, "Operand a"), check_encodings(b, fmt, "Operand b")
    check_shapes({"a": a, "b": b})
    M = fmt.man_bits
    # -- decode: specials and sign from the shared decoder, the raw magnitude fields by hand
    ra, rb = decode(a, fmt), decode(b, fmt)
    mag_mask = (1 << (fmt.exp_bits + M)) - 1
    mag_a = (np.asarray(a).astype(np.uint64) & np.uint64(mag_mask)).astype(np.int64)
    mag_b = (np.asarray(b).astype(np.uint64) & np.uint64(mag_mask)).astype(np.int64)
    mag_a, mag_b = np.broadcast_arrays(mag_a, mag_b)
    zero_a = ((mag_a >> M) == 0) & ~ra.nan  # zeros and subnormals (DAZ)
    zero_b = ((mag_b >> M) == 0) & ~rb.nan
    nan = ra.nan | rb.nan | (ra.inf & zero_b) | (zero_a & rb.inf)
    inf = (ra.inf | rb.inf) & ~nan
    zero = (zero_a | zero_b) & ~nan & ~inf
    sign = (ra.sign ^ rb.sign).astype(np.uint8)

    # -- the addition: t = |x| + |y| - ((2 B_in - B_out) << M) + offset
    c = lmul_offset(M, offset)
    bias_adj = (2 * fmt.bias - fmt_out.bias) * (1 << M)
    if form == "adder":
        t = mag_a + mag_b - bias_adj + c
    else:
        man_mask = (1 << M) - 1
        s = (1 << M) + (mag_a & man_mask) + (mag_b & man_mask) + c  # 1 + xm + ym + 2^-l, < 4
        hi = s >> (M + 1)  # renormalise by one right shift, dropped bit truncated
        t = (mag_a >> M << M) + (mag_b >> M << M) - bias_adj + (hi << M) + ((s >> hi) - (1 << M))

    # -- underflow to zero (exp field <= 0); otherwise a normal number 1.man * 2^(field - B)
    under = t < (1 << M)
    field = t >> M
    sig = np.where(zero | under | nan | inf, 0, (t & ((1 << M) - 1)) | (1 << M))
    exp = np.where(sig == 0, 0, field - fmt_out.bias - M)
    return Raw(sign, sig.astype(np.int64), exp.astype(np.int64), nan, inf)


def lmul(
    a,
    b,
    fmt,
    fmt_out=None,
    *,
    form: str = "adder",
    offset: str = "lmul",
    saturate: bool = False,
) -> np.ndarray:
    """L-Mul product of encodings ``a`` and ``b`` (both in ``fmt``), bit-exact per SPEC 3.4.

    Parameters
    ----------
    a, b : array_like of unsigned int
        Encodings in ``fmt`` (broadcast together).
    fmt : FloatFormat or str
        Operand format; needs M >= 1 and a zero.
    fmt_out : FloatFormat or str, optional
        Output format with the same M (typically a wider exponent to avoid overflow); default
        ``fmt``. The result exponent is ``xe + ye`` (unbiased), see the module docstring.
    form : {"adder", "formula"}
        One-adder form (mantissa carry kept) or the paper's literal formula.
    offset : {"lmul", "pam"}
        ``2^-l(M)`` or 0 (piecewise affine multiplication).
    saturate : bool
        Overflow and Inf results give ±max_finite instead of Inf/NaN.

    Returns
    -------
    numpy.ndarray of uint64
        Encodings in ``fmt_out``.

    Notes
    -----
    Deviations from an IEEE multiply: the significand is approximated (the point of L-Mul);
    subnormal operands count as zero; results below the normal range flush to ±0. The
    approximation error against the exact product is measured by ``exmy.golden.stats``.
    """
    fmt, fmt_out = check_lmul_formats(fmt, fmt_out)
    saturate = _check_options(form, offset, saturate)
    raw = lmul_raw(a, b, fmt, fmt_out, form=form, offset=offset)
    return encode(raw, fmt_out, rounding="rne", saturate=saturate)
