"""Golden block-scaled dot products and the MX quantizer (SPEC.md section 5.2).

``mx_dot``
    ``Dot(A, B) = X_a * X_b * sum_i a_i * b_i`` per block (OCP MX v1.0 section 6.1), exact,
    rounded once into ``fmt_out``.
``mx_dot_mac``
    Each cycle's exact block Dot into SPEC 3.2's fixed-point accumulator (OCP section 6.2's
    general dot product over many blocks, exact with one final rounding).
``mx_quantize`` / ``mx_dequantize``
    float32 <-> (scales, elements): the OCP shared-exponent rule, or the NVFP4 scale rule for
    ``float8_e4m3fn`` scales.

Integer arithmetic only (the float32 input is decoded to exact integers); the only rounding
is ``core.encode``.
"""

from __future__ import annotations

import numpy as np

from .core import Raw, array_shape, bit_length, check_encodings, check_flag, decode, encode
from .dot import (
    _products,
    accumulate_raw,
    check_dot_rounding,
    check_float,
    format_range,
    product_range,
    sum_raw,
)
from .format import CATALOG
from .mac import _streams
from .params import (  # the MX parameters live in .params (shared with exmy.hdl)
    MX_ELEMENTS,
    MX_SCALES,
    MxDotParams,
    check_block,
    check_mx_element,
    check_scale_format,
    default_block,
    elem_emax,
    mx_dot_params,
)

__all__ = [
    "MX_ELEMENTS",
    "MX_SCALES",
    "MxDotParams",
    "check_block",
    "check_mx_element",
    "check_scale_format",
    "default_block",
    "mx_dequantize",
    "mx_dot",
    "mx_dot_mac",
    "mx_dot_params",
    "mx_dot_raw",
    "mx_quantize",
]

# -- the block dot product ---------------------------------------------------------------------
def _scale_times(s: Raw, sa: Raw, sb: Raw, lsb: int | None = None) -> Raw:
    """``X_a * X_b * S`` exactly: NaN scale -> NaN, Inf times a zero scale -> NaN."""
    zero_scale = (sa.sig == 0) | (sb.sig == 0)
    nan = s.nan | sa.nan | sb.nan | (s.inf & zero_scale)
    inf = s.inf & ~nan
    ss = np.asarray(sa.sig, np.int64) * np.asarray(sb.sig, np.int64)
    if s.sig.dtype == object:  # (kept an array for one block: see sum_raw)
        sig = np.asarray(s.sig * ss, dtype=object)
    else:
        sig = np.asarray(s.sig, np.int64) * ss
    sig = np.where(nan | inf, 0, sig)
    exp = np.asarray(s.exp, np.int64) + sa.exp + sb.exp
    return Raw((s.sign ^ sa.sign ^ sb.sign).astype(np.uint8), sig, exp, nan, inf)


def mx_dot_raw(a, b, scale_a, scale_b, elem, *, elem_b=None, scale_fmt="float8_e8m0fnu") -> Raw:
    """The exact ``X_a * X_b * sum_i a_i*b_i`` per block (last axis), before rounding."""
    fa = check_mx_element(elem, "element")
    fb = fa if elem_b is None else check_mx_element(elem_b, "element b")
    sf = check_scale_format(scale_fmt)
    shape, shape_b = array_shape(a, "Operand a"), array_shape(b, "Operand b")
    if shape != shape_b or len(shape) < 1 or shape[-1] < 1:
        raise ValueError(
            f"MX operands a and b must have one shape (..., k) with k >= 1, not {shape} and "
            f"{shape_b}"
        )
    for name, s in (("scale_a", scale_a), ("scale_b", scale_b)):
        if array_shape(s, f"Block scale {name}") != shape[:-1]:
            raise ValueError(f"MX {name} must have the shape {shape[:-1]}, not {np.shape(s)}")
    # shapes first, then the encodings, each checked before any conversion
    a, b = check_encodings(a, fa, "Operand a"), check_encodings(b, fb, "Operand b")
    sa_ = check_encodings(scale_a, sf, "Block scale scale_a")
    sb_ = check_encodings(scale_b, sf, "Block scale scale_b")
    lsb, lo, hi = product_range(fa, fb)
    prod = _products(a, b, fa, fb)
    s = sum_raw(prod, lsb, (max(hi, -lo) * a.shape[-1]).bit_length() + 1)
    sa = decode(sa_, sf)
    sb = decode(sb_, sf)
    return _scale_times(s, sa, sb)


def mx_dot(
    a, b, scale_a, scale_b, elem, *, elem_b=None, scale_fmt="float8_e8m0fnu",
    fmt_out="float32", rounding="rne",
):
    """Block-scaled dot product (SPEC 5.2), one rounding.

    Parameters
    ----------
    a, b : integer arrays of shape (..., k)
        Element encodings in ``elem`` (``elem_b`` for b, default ``elem``): an OCP element
        format (``MX_ELEMENTS``), any float format with a zero, or an integer format.
    scale_a, scale_b : integer arrays of shape (...)
        Block-scale encodings in ``scale_fmt`` (``float8_e8m0fnu`` or ``float8_e4m3fn``).
    fmt_out, rounding : output float format (default float32) and rne/rtz/rna.

    Returns
    -------
    uint64 array of shape (...): ``encode(X_a * X_b * sum_i a_i*b_i, fmt_out)``.

    Notes
    -----
    Exact products and sums; a NaN scale, a NaN element, Inf x 0 or +Inf with -Inf give NaN;
    Inf elements times a zero (E4M3) scale give NaN; a zero block is +0 unless every product
    is -0 (the sign then follows the scales' signs).
    """
    fmt_out = check_float(fmt_out, "MX dot output")
    check_dot_rounding(rounding)
    raw = mx_dot_raw(a, b, scale_a, scale_b, elem, elem_b=elem_b, scale_fmt=scale_fmt)
    return encode(raw, fmt_out, rounding=rounding)


def mx_dot_mac(
    a, b, scale_a, scale_b, valid, clear, elem, *, elem_b=None, scale_fmt="float8_e8m0fnu",
    params: MxDotParams | None = None, depth=None, acc_bits=None, fmt_out=None,
    rounding="rne", saturate_acc=False,
) -> dict[str, np.ndarray]:
    """Accumulating block dot product (SPEC 5.2 ``accumulate=True``): cycle ``i`` adds the
    exact ``X_a[i] * X_b[i] * sum_j a[i, j] * b[i, j]`` to the fixed-point accumulator with
    ``golden.mac.mac``'s cycle semantics (a NaN scale sets the NaN flag). ``a``, ``b``:
    shape (cycles, k); scales, ``valid``, ``clear``: shape (cycles,).

    Returns ``acc``, ``acc_value``, ``flags`` and (with ``fmt_out``) ``y``.
    """
    shape = array_shape(a, "Operand a")
    if len(shape) != 2:
        raise ValueError(f"MX MAC operands must have shape (cycles, k), not {shape}")
    given = {k: v for k, v in {"depth": depth, "acc_bits": acc_bits}.items() if v is not None}
    if params is None:
        params = mx_dot_params(
            elem, elem_b=elem_b, block=shape[1], scale_fmt=scale_fmt, **given
        )
    elif not isinstance(params, MxDotParams):
        raise TypeError(f"params must be a MxDotParams, not {params!r}")
    elif given:
        raise ValueError(f"Give either params or {', '.join(given)}, not both")
    saturate_acc = check_flag(saturate_acc, "saturate_acc")
    if fmt_out is not None:
        fmt_out = check_float(fmt_out, "MX dot output")
        check_dot_rounding(rounding)
    valid, clear = _streams(np.zeros(shape[0]), np.zeros(shape[0]), valid, clear)[2:4]
    raw = mx_dot_raw(
        a, b, scale_a, scale_b, params.elem, elem_b=params.elem_b, scale_fmt=params.scale_fmt
    )
    return accumulate_raw(
        raw, valid, clear, params.acc_bits, params.acc_lsb_exp,
        saturate_acc=saturate_acc, fmt_out=fmt_out, rounding=rounding,
    )


# -- the quantizer -----------------------------------------------------------------------------
def _blocks(x, block: int) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"mx_quantize needs a float32 array, not {x.dtype}")
    if x.ndim < 1 or x.shape[-1] % block:
        raise ValueError(
            f"The last axis ({x.shape[-1] if x.ndim else 'scalar'}) must be a multiple of the "
            f"block size {block}"
        )
    return x.view(np.uint32).reshape(*x.shape[:-1], x.shape[-1] // block, block)


def mx_quantize(x, elem, block=32, scale_fmt="float8_e8m0fnu"):
    """Quantize float32 ``x`` (..., n) into MX blocks along the last axis (SPEC 5.2).

    OCP rule (E8M0 scale): shared exponent ``E = floor(log2(max|x|)) - emax(elem)``, clamped
    to [-127, 127] (a block of zeros gets 2^-127); elements ``encode(x / 2^E, elem, rne,
    saturate=True)``. NVFP4 rule (``float8_e4m3fn`` scale, block 16 by convention): scale
    ``S = encode(max|x| / 6 ... / emax_value(elem), e4m3fn, rne, saturate=True)`` (``/ 6`` for
    e2m1fn: the element's max_finite), elements ``encode(x / S, elem, rne, saturate=True)``
    (the exact quotient, rounded once); a scale that rounds to 0 (a zero block, or max|x|
    below E4M3's range) gives zero elements. A block holding NaN or Inf gets a NaN scale and
    zero elements (its dequantized values are all NaN).

    Returns
    -------
    (scales, elems): uint64 encodings of shape (..., n / block) and (..., n).
    """
    fe = check_mx_element(elem, "element")
    sf = check_scale_format(scale_fmt)
    check_block(block)
    bits = _blocks(x, block)
    r = decode(bits, CATALOG["float32"])
    special = np.any(r.nan | r.inf, axis=-1)
    nonzero = r.sig != 0
    lg = np.where(nonzero, bit_length(r.sig) - 1 + r.exp, np.iinfo(np.int64).min // 2)
    top = np.max(lg, axis=-1)  # floor(log2 max|x|) per block
    empty = ~np.any(nonzero, axis=-1)
    if sf == CATALOG["float8_e8m0fnu"]:
        e = np.clip(top - elem_emax(fe), -127, 127)
        e = np.where(empty, -127, e)
        scales = (e + 127).astype(np.uint64)
        scaled = Raw(r.sign, r.sig, r.exp - e[..., None], r.nan, r.inf)
        elems = encode(scaled, fe, rounding="rne", saturate=True)
        zero_scale = np.zeros(special.shape, bool)
    else:
        q, _, hi = format_range(fe)
        if hi < 1:
            raise ValueError(
                f"Element format {fe} has no positive value; the NVFP4 scale rule max|x| / "
                f"max(elem) needs one (use at least 2 bits)"
            )
        # max_elem = hi * 2**q with hi odd: a short integer (a float element's max_finite has
        # at most 24 significant bits, an integer element's max_value at most 31)
        tz = (hi & -hi).bit_length() - 1
        hi, q = hi >> tz, q + tz
        # max|x| exactly: the element with the largest magnitude
        idx = _argmax_mag(r, nonzero)
        msig = np.take_along_axis(r.sig, idx[..., None], axis=-1)[..., 0]
        mexp = np.take_along_axis(r.exp, idx[..., None], axis=-1)[..., 0]
        # max|x| / max_elem, with max_elem = hi * 2**q: divide exactly with sticky
        scales = encode(_divide(msig, mexp, hi, q), sf, rounding="rne", saturate=True)
        rs = decode(scales, sf)
        zero_scale = rs.sig == 0
        safe = np.where(zero_scale, 1, rs.sig)
        quot = _divide(r.sig, r.exp, safe[..., None], rs.exp[..., None], sign=r.sign)
        elems = encode(quot, fe, rounding="rne", saturate=True)
        elems = np.where(zero_scale[..., None], np.uint64(0), elems)
    scales = np.where(special, np.uint64(sf.nan_code), scales).astype(np.uint64)
    elems = np.where((special | zero_scale)[..., None], np.uint64(0), elems)
    shape = np.asarray(x).shape
    return scales, elems.reshape(shape).astype(np.uint64)


def _argmax_mag(r: Raw, nonzero) -> np.ndarray:
    """Index of the largest magnitude per block (float32 decodes: sig < 2**24)."""
    lg = np.where(nonzero, bit_length(r.sig) - 1 + r.exp, -(1 << 20))
    # sig * 2**exp compared via (floor log2, then the significand aligned to 24 bits)
    frac = np.where(nonzero, r.sig << np.clip(23 - (bit_length(r.sig) - 1), 0, 63), 0)
    key = lg * (1 << 25) + frac
    return np.argmax(key, axis=-1)


def _divide(num_sig, num_exp, den_sig, den_exp, sign=None, extra: int = 36) -> Raw:
    """``num / den`` (integer significands, num < 2**24, den < 2**32) as a Raw with a sticky
    remainder: num is first aligned to 24 bits and shifted left by ``extra``, so a non-zero
    quotient keeps at least ``extra + 24 - bit_length(den)`` bits (>= 28) and any later
    rounding to fewer bits is exact."""
    num = np.asarray(num_sig, np.int64)
    align = np.where(num != 0, 24 - bit_length(num), 0)
    n = num << (extra + align)
    d = np.asarray(den_sig, np.int64)
    quo, rem = np.divmod(n, d)
    exp = np.asarray(num_exp, np.int64) - np.asarray(den_exp, np.int64) - extra - align
    if sign is None:
        sign = np.zeros(quo.shape, np.uint8)
    f = np.zeros(quo.shape, bool)
    return Raw(np.asarray(sign, np.uint8), quo, exp, f, f.copy(), rem != 0)


def mx_dequantize(scales, elems, elem, block=32, scale_fmt="float8_e8m0fnu") -> np.ndarray:
    """Inverse of ``mx_quantize``: ``X * e`` per element, rounded (rne) into float32 (exact
    unless it over- or underflows float32). A NaN scale gives NaN for its block."""
    fe = check_mx_element(elem, "element")
    sf = check_scale_format(scale_fmt)
    check_block(block)
    es, ss = array_shape(elems, "Elements elems"), array_shape(scales, "Block scales scales")
    ok = (
        len(es) >= 1
        and len(ss) == len(es)
        and es[:-1] == ss[:-1]
        and es[-1] == ss[-1] * block
    )
    if not ok:
        raise ValueError(
            f"Elements of shape {es} do not match scales of shape {ss} with blocks of {block}"
        )
    # shapes first, then the encodings, checked before any conversion
    elems = check_encodings(elems, fe, "Elements elems")
    scales = check_encodings(scales, sf, "Block scales scales")
    e = decode(elems.reshape(*scales.shape, block), fe)
    s = Raw(*(x[..., None] for x in decode(scales, sf)[:5]))
    one = Raw(
        np.zeros_like(s.sign), np.ones_like(s.sig), np.zeros_like(s.exp),
        np.zeros_like(s.nan), np.zeros_like(s.inf),
    )
    v = _scale_times(e, s, one)
    out = encode(v, CATALOG["float32"], rounding="rne")
    return out.astype(np.uint32).reshape(elems.shape).view(np.float32)
