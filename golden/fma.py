"""Golden fused multiply-add and approximate-normalization FMA (SPEC.md sections 3 and 3.3).

Stages, named as in the hardware: ``decode`` and the exact product (``ops.mul_raw``),
alignment and addition with a sticky bit (``add_raw``; ``fma_raw`` is the two), then either
the one shared rounder (``encode``, for ``fma``) or the coarse normalization of SPEC 3.3
followed by ``round_at`` and ``encode`` (for ``approx_fma``). Integer arithmetic only;
``approx_fma_error`` (an analysis function, not part of the model) measures the
approximation against ``fma`` and the exact value.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .core import (
    Raw,
    bit_length,
    check_encodings,
    check_flag,
    check_shapes,
    decode,
    encode,
    round_at,
)
from .format import FloatFormat, parse_format
from .ops import mul_raw

# the parameter checks and geometry live in .params (shared with exmy.hdl); re-exported here
from .params import (  # noqa: F401
    APPROX_FMA_ROUNDING_MODES,
    FMA_ROUNDING_MODES,
    MAX_GRANULARITY,
    MAX_PRECISION,
    approx_fma_datapath_width,
    check_approx_params,
    check_fma_operand,
    check_fma_output,
    check_fma_rounding,
)

__all__ = [
    "FMA_ROUNDING_MODES",
    "APPROX_FMA_ROUNDING_MODES",
    "MAX_GRANULARITY",
    "ApproxFmaError",
    "fma",
    "add_raw",
    "fma_raw",
    "approx_fma",
    "approx_fma_datapath_width",
    "approx_fma_error",
    "check_fma_operand",
    "check_fma_output",
    "check_fma_rounding",
    "check_approx_params",
]

_ZERO_TOP = -(1 << 40)  # leading-bit position given to a zero addend: below everything


def _operands(a, b, c, fa, fb, fc):
    a, b, c = (
        check_encodings(x, f, f"Operand {w}")
        for x, f, w in ((a, fa, "a"), (b, fb, "b"), (c, fc, "c"))
    )
    check_shapes({"a": a, "b": b, "c": c})
    a, b, c = np.broadcast_arrays(a, b, c)
    return a.shape, a.ravel(), b.ravel(), c.ravel()


# -- raw datapath: exact product, alignment, addition with a sticky bit ----------------------
#: the widest addend significand ``add_raw`` takes (bits): its sum then stays below 2**59
ADD_RAW_MAX_BITS = MAX_PRECISION + 2


def _check_precision(precision) -> None:
    if not isinstance(precision, int) or isinstance(precision, bool):
        raise TypeError(f"Precision must be an integer, not {precision!r}")
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"Precision must be in 1..{MAX_PRECISION}, not {precision}")


def _addend(r, what: str, width) -> tuple[list[np.ndarray], int | np.ndarray]:
    """An ``add_raw`` addend's fields (sign, sig as int64, exp, nan, inf) after the checks,
    and its significand width (``width``, or each lane's own bit length)."""
    if not isinstance(r, Raw):
        raise TypeError(f"add_raw addend {what} must be a Raw, not {r!r}")
    if r.sticky is not None and np.any(r.sticky):
        raise ValueError(f"add_raw takes exact addends; addend {what} has sticky lanes")
    sig = np.asarray(r.sig)
    if sig.dtype.kind not in "iuO":
        raise TypeError(f"add_raw addend {what} must have integer significands, not {sig.dtype}")
    if not sig.size:
        lo = hi = 0
    elif sig.dtype.kind == "O":
        vals = [int(v) for v in sig.ravel()]
        lo, hi = min(vals), max(vals)
    else:
        lo, hi = int(sig.min()), int(sig.max())
    if lo < 0:
        raise ValueError(f"add_raw addend {what} has a negative significand, {lo}")
    longest = hi.bit_length()
    if width is not None:
        if not isinstance(width, int) or isinstance(width, bool):
            raise TypeError(f"add_raw width of addend {what} must be an integer, not {width!r}")
        if not 1 <= width <= ADD_RAW_MAX_BITS:
            raise ValueError(
                f"add_raw width of addend {what} must be in 1..{ADD_RAW_MAX_BITS}, not {width}"
            )
        if longest > width:
            raise ValueError(
                f"add_raw addend {what} has a {longest}-bit significand, wider than its width "
                f"{width}"
            )
    elif longest > ADD_RAW_MAX_BITS:
        raise ValueError(
            f"add_raw addend {what} has a {longest}-bit significand; at most {ADD_RAW_MAX_BITS}"
        )
    fields = [np.asarray(r.sign), sig.astype(np.int64), np.asarray(r.exp).astype(np.int64),
              np.asarray(r.nan, bool), np.asarray(r.inf, bool)]
    return fields, width


def add_raw(x: Raw, y: Raw, *, precision: int, widths: tuple[int, int] | None = None) -> Raw:
    """The sum ``x + y`` of two exact ``Raw`` values before rounding: the FMA's addition stage
    (``fma_raw`` is ``add_raw(mul_raw(a, b), decode(c))``), IEEE specials and zero signs.

    Contract (the twin of the hardware's adder output): ``value = (sig + delta) * 2**exp``
    with ``0 < delta < 1`` iff ``sticky``; ``sig < 2**59`` (int64); the leading bit of the
    exact sum is at ``L = exp + bit_length(sig) - 1`` exactly. Rounding this value at any
    quantum ``2**q`` with ``q >= L - precision + 1`` (rne, rtz or rna) gives the same result
    as rounding the exact sum: the adder window keeps the larger addend exactly and at least
    ``precision + 1`` bits below its leading bit, and at least the smaller addend's width
    below it; the smaller addend's bits below the window are the sticky.

    Specials: NaN if either addend is NaN or it is Inf - Inf, else Inf (with its sign) if
    either is Inf. An exact zero sum is +0 unless both addends are -0 (rne, rtz, rna).

    Parameters
    ----------
    x, y : Raw
        Exact addends (no sticky lanes), broadcast against each other; significands of at
        most ``ADD_RAW_MAX_BITS`` bits.
    precision : int
        1..``MAX_PRECISION``: the precision the result may be rounded to (``fma``: p_out).
    widths : (int, int) or None
        Bounds on the addends' significand widths, as the hardware's adder is built for
        (``fma_raw``: the product's and c's); they place the window, not the value. None:
        each lane's own significand lengths.
    """
    _check_precision(precision)
    if widths is not None and (not isinstance(widths, tuple) or len(widths) != 2):
        raise TypeError(f"add_raw widths must be a pair of integers or None, not {widths!r}")
    wx, wy = (None, None) if widths is None else widths
    fx, w_x = _addend(x, "x", wx)
    fy, w_y = _addend(y, "y", wy)
    shape = np.broadcast_shapes(*(f.shape for f in fx + fy))
    fx = [np.broadcast_to(f, shape).ravel() for f in fx]
    fy = [np.broadcast_to(f, shape).ravel() for f in fy]
    if widths is None:
        w_x, w_y = bit_length(fx[1]), bit_length(fy[1])
    raw = _add(Raw(*fx), Raw(*fy), precision, w_x, w_y)
    return Raw(*(f.reshape(shape) for f in raw))


def _add(pr: Raw, rc: Raw, precision: int, w_prod, w_c) -> Raw:
    """``add_raw``'s body on flat int64 fields (``pr``, ``rc``: the product and c in the
    FMA; ``w_prod``, ``w_c``: their significand widths)."""
    sp, ep = pr.sig.astype(np.int64), pr.exp.astype(np.int64)
    sc, ec = rc.sig.astype(np.int64), rc.exp.astype(np.int64)

    top_p = np.where(sp != 0, ep + bit_length(sp) - 1, _ZERO_TOP)
    top_c = np.where(sc != 0, ec + bit_length(sc) - 1, _ZERO_TOP)
    # X: the addend whose leading bit is higher (kept exactly); Y: the other one
    swap = top_c > top_p
    sign_x = np.where(swap, rc.sign, pr.sign).astype(np.int64)
    sign_y = np.where(swap, pr.sign, rc.sign).astype(np.int64)
    sig_x, exp_x = np.where(swap, sc, sp), np.where(swap, ec, ep)
    sig_y, exp_y = np.where(swap, sp, sc), np.where(swap, ep, ec)
    w_y = np.where(swap, w_prod, w_c)
    top_x = np.maximum(top_p, top_c)
    both_zero = top_x == _ZERO_TOP

    # LSB of the adder window. X lies in it exactly. When Y has bits below it, Y < 2**(tx-1),
    # so the result's leading bit is >= tx - 1 and every permitted rounding position
    # (>= L - precision + 1) lies at least one bit above the window LSB: the dropped bits of Y
    # may be folded into a sticky.
    lsb = np.minimum(np.minimum(exp_x, top_x - precision - 1), top_x - w_y)
    lsb = np.where(both_zero, 0, lsb)
    m_x = sig_x << np.clip(exp_x - lsb, 0, 62)
    sh_y = exp_y - lsb
    right = np.clip(-sh_y, 0, 62)
    m_y = np.where(sh_y >= 0, sig_y << np.clip(sh_y, 0, 62), sig_y >> right)
    sticky = (sh_y < 0) & ((sig_y & ((np.int64(1) << right) - 1)) != 0)

    sub = sign_x != sign_y
    d = np.where(sub, m_x - m_y, m_x + m_y)
    # inexact subtraction: X - (kY + r) = (X - kY - 1 + (1 - r)) with 0 < 1 - r < 1
    d = np.where(sticky & sub, d - 1, d)
    sign = np.where(d < 0, sign_y, sign_x)
    sig = np.abs(d)
    zero = (sig == 0) & ~sticky
    # IEEE: an exact zero sum is +0 unless both addends are -0 (rne, rtz, rna)
    sign = np.where(zero, sign_x & sign_y, sign)

    nan = pr.nan | rc.nan | (pr.inf & rc.inf & (pr.sign != rc.sign))
    inf = (pr.inf | rc.inf) & ~nan
    sign = np.where(inf, np.where(pr.inf, pr.sign, rc.sign), sign)
    special = nan | inf
    sig = np.where(special, 0, sig)
    sticky = sticky & ~special
    return Raw(sign.astype(np.uint8), sig, lsb.astype(np.int64), nan, inf, sticky)


def _sum(a, b, c, fa: FloatFormat, fb: FloatFormat, fc: FloatFormat, precision: int):
    """``fma_raw`` plus the decoded exponents of the product and of c (for SPEC 3.3's R)."""
    pr = mul_raw(a, b, fa, fb)
    rc = decode(c, fc)
    raw = _add(pr, rc, precision, fa.sig_bits + fb.sig_bits, fc.sig_bits)
    return raw, pr.exp.astype(np.int64), rc.exp.astype(np.int64)


def fma_raw(a, b, c, fmt_a, fmt_b, fmt_c, *, precision: int) -> Raw:
    """The sum ``a*b + c`` before rounding, as a ``Raw`` (IEEE specials and zero signs):
    ``add_raw(mul_raw(a, b), decode(c), precision=precision, widths=(p_a + p_b, p_c))``.

    Contract (``add_raw``'s, the twin of the hardware's adder output): ``value = (sig +
    delta) * 2**exp`` with ``0 < delta < 1`` iff ``sticky``; ``sig < 2**59`` (int64); the
    leading bit of the exact sum is at ``L = exp + bit_length(sig) - 1`` exactly. Rounding
    this value at any quantum ``2**q`` with ``q >= L - precision + 1`` (rne, rtz or rna)
    gives the same result as rounding the exact sum: the window keeps the larger addend
    exactly and at least ``precision + 1`` bits below its leading bit; addend bits below that
    are the sticky. ``fma`` uses ``precision = p_out``; ``approx_fma`` ``p_out + G - 1``.
    """
    fa = check_fma_operand(fmt_a, "a")
    fb = check_fma_operand(fmt_b, "b")
    fc = check_fma_operand(fmt_c, "c")
    _check_precision(precision)
    shape, a, b, c = _operands(a, b, c, fa, fb, fc)
    raw, _, _ = _sum(a, b, c, fa, fb, fc, precision)
    return Raw(*(x.reshape(shape) for x in raw))


# -- fma -------------------------------------------------------------------------------------
def fma(
    a,
    b,
    c,
    fmt_a,
    fmt_b,
    fmt_c,
    fmt_out,
    *,
    rounding: str = "rne",
    saturate: bool = False,
) -> np.ndarray:
    """Fused multiply-add ``y = encode(a*b + c, fmt_out)`` with one rounding (SPEC 3).

    Parameters
    ----------
    a, b, c : array_like of unsigned int
        Encodings in ``fmt_a``, ``fmt_b``, ``fmt_c`` (broadcast against each other).
    fmt_a, fmt_b, fmt_c, fmt_out : FloatFormat or str
        Any float formats with a zero (the operands); any float format (the result).
    rounding : {"rne", "rtz", "rna"}
    saturate : bool
        Overflow and Inf results give ±max_finite instead of Inf/NaN (SPEC 2.3, SATFINITE as
        ``encode``: Inf operands too).

    Returns
    -------
    numpy.ndarray of uint64: the encodings of y.

    Notes
    -----
    IEEE 754 semantics throughout: NaN in gives NaN; Inf x 0 and Inf - Inf give NaN;
    Inf x finite is Inf with the xor sign. An exact zero sum is +0 unless both addends are
    -0 (this unit has no round-toward-negative mode); a non-zero sum that rounds to zero
    keeps its sign. Overflow follows ``encode`` (rtz gives max_finite, as IEEE 7.4). Results
    are then mapped into ``fmt_out`` as ``encode`` does (no -0 in fnuz, Inf into a format
    without Inf per SPEC 2.3).
    """
    fa = check_fma_operand(fmt_a, "a")
    fb = check_fma_operand(fmt_b, "b")
    fc = check_fma_operand(fmt_c, "c")
    fo = check_fma_output(fmt_out)
    check_fma_rounding(rounding, FMA_ROUNDING_MODES, "FMA")
    saturate = check_flag(saturate, "saturate")
    shape, a, b, c = _operands(a, b, c, fa, fb, fc)
    raw, _, _ = _sum(a, b, c, fa, fb, fc, fo.sig_bits)
    return encode(raw, fo, rounding=rounding, saturate=saturate).reshape(shape)


# -- approximate-normalization fma -----------------------------------------------------------
def approx_fma(
    a,
    b,
    c,
    fmt_a,
    fmt_b,
    fmt_c,
    fmt_out,
    *,
    granularity: int,
    window: int | None = None,
    rounding: str = "rne",
    saturate: bool = False,
) -> np.ndarray:
    """Approximate-normalization FMA, SPEC 3.3 bit for bit (exmy's own definition).

    Source: the idea of "Floating-Point Multiply-Add with Approximate Normalization for
    Low-Cost Matrix Engines" (Alexandridis et al., 2024); that paper's exact scheme is not
    public, so this definition is ours. With p = p_out, emin and M of ``fmt_out``:

    1. raw exponents ``e = max(f, 1) - bias`` (zero and subnormal operands included, not
       pre-normalized); adder top ``R = max(ea + eb + 1, ec) + 1``;
    2. ``v = |a*b + c|`` exactly; ``v = 0`` gives the IEEE zero (as ``fma``);
       ``L = floor(log2 v)``, ``lz = R - L``;
    3. ``sh = G * floor(lz / G)``, capped at ``window`` K if given; ``P = R - sh``;
    4. ``q = 2**max(P - p - G + 2, emin - M)``, ``v1 = round(v / q) * q`` (rne or rtz);
    5. ``v1 < 2**(P - G + 1)`` (only when K capped the shift) gives zero with the sign of
       ``a*b + c`` (our reading of SPEC's "±0": IEEE's sign of an underflowed result);
    6. truncate v1 to p significant bits (not finer than ``2**(emin - M)``) and ``encode`` it:
       it is on the grid, so only the overflow rule of ``encode`` applies (rne: Inf, or NaN
       for fn/fnuz; rtz: max_finite; ``saturate``: max_finite).

    Specials and zero signs are as in ``fma``. With ``granularity=1, window=None`` the
    result equals ``fma``; with ``rounding="rtz", window=None`` it also equals ``fma`` for
    every G (truncation twice on nested grids). With ``window=None`` the result is faithful:
    error < 1 ulp, at most ``1 - 2**-G`` ulp of the exact value (tests check both).

    Parameters
    ----------
    granularity : int
        G, a power of two in 1..32: the normalization shifter moves in steps of G bits.
    window : int or None
        K, a multiple of G in ``0..approx_fma_datapath_width(fmt_a, fmt_b, fmt_c)``: the
        largest normalization shift; None for no cap. The datapath width D counts every bit
        position an exact ``a*b + c`` can occupy: ``D = max(emax_a + emax_b + 1, emax_c)
        + 2 - min(qa + qb, qc)`` with ``q = emin - M``; K > D is an error and K >= D - 1 is
        the same as None.
    rounding : {"rne", "rtz"}
        Step 4's mode (rna and stochastic are not supported).
    """
    fa = check_fma_operand(fmt_a, "a")
    fb = check_fma_operand(fmt_b, "b")
    fc = check_fma_operand(fmt_c, "c")
    fo = check_fma_output(fmt_out)
    check_approx_params(granularity, window, fa, fb, fc)
    check_fma_rounding(rounding, APPROX_FMA_ROUNDING_MODES, "Approximate FMA")
    saturate = check_flag(saturate, "saturate")
    G = granularity
    p, qmin = fo.sig_bits, fo.quantum_exp
    shape, a, b, c = _operands(a, b, c, fa, fb, fc)

    # 1.-2. exact sum, leading bit, adder top
    raw, ep, ec = _sum(a, b, c, fa, fb, fc, p + G - 1)
    sig, lsb, sticky, sign = raw.sig, raw.exp, raw.sticky, raw.sign
    live = (sig != 0) & ~raw.nan & ~raw.inf  # sticky implies sig != 0
    lead = lsb + bit_length(sig) - 1
    top = np.maximum(ep + fa.man_bits + fb.man_bits + 1, ec + fc.man_bits) + 1
    lz = np.where(live, top - lead, 0)
    # 3. coarse shift in steps of G, capped by the window
    sh = lz // G * G
    if window is not None:
        sh = np.minimum(sh, window)
    pos = top - sh
    # 4. round at the fixed position below the coarse leading position. Where the quantum is
    # finer than the adder LSB the sum is exact there (fma_raw's contract), so rounding at the
    # LSB instead changes nothing and keeps the shift small.
    q = np.maximum(np.maximum(pos - p - G + 2, qmin), lsb)
    kept, inc = round_at(sig, lsb, q, sticky, sign, rounding)
    n = kept + inc
    lead1 = q + bit_length(n) - 1
    # 5. below the window: zero
    flush = (n == 0) | (lead1 < pos - G + 1)
    # 6. truncate to p bits on the format's grid, then encode (exact but for overflow)
    t = np.maximum(lead1 - p + 1, qmin)
    n2, _ = round_at(n, q, t, False, sign, "rtz")
    n2 = np.where(live & ~flush, n2, 0)
    out = Raw(sign, n2, t, raw.nan, raw.inf)
    return encode(out, fo, rounding=rounding, saturate=saturate).reshape(shape)


# -- error analysis (exact rationals; not part of the model) ---------------------------------
class ApproxFmaError(NamedTuple):
    """Per-lane results and errors of ``approx_fma``, in ulps of the correctly rounded result.

    ``vs_exact`` is ``|y - (a*b + c)| / ulp(f)`` and ``vs_fma`` is ``|y - f| / ulp(f)``, where
    y is ``approx_fma``'s result, f is ``fma``'s (same rounding mode) and
    ``ulp(f) = 2**max(floor(log2|f|) - M, emin - M)`` (``2**(emin - M)`` for f = 0). The ulp
    of the correctly rounded result, not of y: a result flushed to zero by a window then
    counts as the ~2**p ulps it lost, not as a multiple of the subnormal quantum. Faithful
    results have ``vs_exact < 1`` (ulp(f) >= ulp(a*b + c)). Lanes where y, f or a*b + c is
    NaN or infinite are NaN (not comparable).
    """

    approx: np.ndarray
    fma: np.ndarray
    vs_exact: np.ndarray
    vs_fma: np.ndarray

    def summary(self) -> dict:
        """Max and mean of both errors over the comparable lanes, and their count."""
        ok = ~np.isnan(self.vs_exact)
        okf = ~np.isnan(self.vs_fma)
        return {
            "max_vs_exact": float(self.vs_exact[ok].max()) if ok.any() else float("nan"),
            "mean_vs_exact": float(self.vs_exact[ok].mean()) if ok.any() else float("nan"),
            "max_vs_fma": float(self.vs_fma[okf].max()) if okf.any() else float("nan"),
            "mean_vs_fma": float(self.vs_fma[okf].mean()) if okf.any() else float("nan"),
            "lanes": int(ok.sum()),
        }


def _ratio(num: int, den_exp: int) -> float:
    """``num / 2**den_exp`` correctly rounded to a float."""
    return num / (1 << den_exp) if den_exp >= 0 else float(num * (1 << -den_exp))


def approx_fma_error(
    a,
    b,
    c,
    fmt_a,
    fmt_b,
    fmt_c,
    fmt_out,
    *,
    granularity: int,
    window: int | None = None,
    rounding: str = "rne",
    saturate: bool = False,
) -> ApproxFmaError:
    """Run ``approx_fma`` and ``fma`` (same mode) and measure the approximation's error
    against both ``fma`` and the exact ``a*b + c``, in ulps of ``fma``'s result (see
    ``ApproxFmaError``). Exact Python-integer arithmetic per lane; an analysis aid."""
    kw = dict(rounding=rounding, saturate=saturate)
    y = approx_fma(
        a, b, c, fmt_a, fmt_b, fmt_c, fmt_out, granularity=granularity, window=window, **kw
    )
    f = fma(a, b, c, fmt_a, fmt_b, fmt_c, fmt_out, **kw)
    fa, fb, fc, fo = (parse_format(x) for x in (fmt_a, fmt_b, fmt_c, fmt_out))
    shape, a, b, c = _operands(a, b, c, fa, fb, fc)
    pr = mul_raw(a, b, fa, fb)
    rc = decode(c, fc)
    ry, rf = decode(y.ravel(), fo), decode(f.ravel(), fo)
    cols = [
        x.tolist()
        for x in (
            pr.sign,
            pr.sig,
            pr.exp,
            rc.sign,
            rc.sig,
            rc.exp,
            ry.sign,
            ry.sig,
            ry.exp,
            rf.sign,
            rf.sig,
            rf.exp,
        )
    ]
    bad_in = (pr.nan | pr.inf | rc.nan | rc.inf).tolist()
    bad_y = (ry.nan | ry.inf).tolist()
    bad_f = (rf.nan | rf.inf).tolist()
    n = len(bad_in)
    e_exact = np.full(n, np.nan)
    e_fma = np.full(n, np.nan)
    for i, (ps, pm, pe, cs, cm, ce, ys, ym, ye, fs, fm, fe) in enumerate(zip(*cols, strict=True)):
        if bad_y[i] or bad_f[i]:
            continue
        # decode's exponent is the quantum of f's binade: its ulp, also for zero/subnormals
        base = min(pe, ce, ye, fe)
        yv = (-ym if ys else ym) << (ye - base)
        fv = (-fm if fs else fm) << (fe - base)
        e_fma[i] = _ratio(abs(yv - fv), fe - base)
        if not bad_in[i]:
            v = ((-pm if ps else pm) << (pe - base)) + ((-cm if cs else cm) << (ce - base))
            e_exact[i] = _ratio(abs(yv - v), fe - base)
    return ApproxFmaError(y, f, e_exact.reshape(shape), e_fma.reshape(shape))
