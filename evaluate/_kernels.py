"""numba kernels of exmy.evaluate: the loops numpy cannot vectorise.

Each kernel works on small integer codes and per-code tables prepared in ``units.py``, so the
arithmetic it does is spelled out here in full and proven equal to the golden units by
tests/test_evaluate_units.py (random output elements recomputed with exmy.golden).

- ``fixed_matmul``: sum of int64 table products (exact fixed point), e.g. L-Mul products.
- ``float_acc_matmul``: an accumulator kept in a float format, rounded after every product
  (the FMA chain of ``golden.mac.float_acc_mac``): TwoSum gives the exact float64 sum of the
  accumulator and the (exact) product, round-to-odd folds the error term into a sticky bit,
  then one rounding into the accumulator format (Boldo and Melquiond: round-to-odd at
  p + 2 or more bits followed by a rounding to p bits equals one direct rounding).
- ``approx_fma_matmul``: the same chain with SPEC 3.3's approximate normalization.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "gelu", "fixed_matmul", "float_acc_matmul", "approx_fma_matmul", "round_int_f32",
]


@numba.njit(parallel=True, cache=True)
def _gelu(x, out):
    flat = x.ravel()
    o = out.ravel()
    r2 = math.sqrt(2.0)
    for i in numba.prange(flat.size):
        v = np.float64(flat[i])
        o[i] = np.float32(0.5 * v * (1.0 + math.erf(v / r2)))


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's GELU x * Phi(x) (erf form), evaluated in float64, returned as float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _gelu(x, out)
    return out


# -- tiles and float64 bit helpers ----------------------------------------------------------
# Both chains below run TILE_T tokens x TILE_N outputs per parallel job: the accumulators of a
# tile stay in the L1 cache, each weight row segment is loaded once for TILE_T tokens, and the
# innermost loop runs over TILE_N independent chains with a branch-free step (selects, bit
# operations on float64 patterns) that LLVM vectorises.
TILE_T = 8
TILE_N = 64
_SIGN = np.int64(-0x8000000000000000)
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_INF_BITS = np.int64(0x7FF0000000000000)


@numba.njit(inline="always")
def _bits(x):
    return np.float64(x).view(np.int64)


@numba.njit(inline="always")
def _flt(b):
    return np.int64(b).view(np.float64)


@numba.njit(inline="always")
def _expo(b):
    """floor(log2 |v|) of a normal float64 given its bits (-1023 for zero)."""
    return ((b >> 52) & 0x7FF) - 1023


@numba.njit(inline="always")
def _pow2(e):
    """2**e for a float64-normal exponent e."""
    return _flt(np.int64(e + 1023) << 52)


# -- exact fixed point ------------------------------------------------------------------------
@numba.njit(inline="always")
def _n_tiles(T, N):
    """How many TILE_T x TILE_N tiles cover a (T, N) output: the matmuls' parallel jobs."""
    return ((T + TILE_T - 1) // TILE_T) * ((N + TILE_N - 1) // TILE_N)


@numba.njit(inline="always")
def _tile(job, T, N):
    """Tile ``job`` of a (T, N) output: its first row and column and its height and width
    (short at the edges)."""
    nn = (N + TILE_N - 1) // TILE_N
    t0 = (job // nn) * TILE_T
    n0 = (job % nn) * TILE_N
    return t0, n0, min(TILE_T, T - t0), min(TILE_N, N - n0)


@numba.njit(parallel=True, cache=True)
def fixed_matmul(xc, wc_t, table):
    """``out[t, n] = sum_k table[xc[t, k], wc_t[k, n]]`` in int64 (the caller proves no
    overflow: table entries times K fit in 63 bits). ``wc_t``: weight codes transposed (K, N).
    Tiled as the float chains below: one table row per activation code, looked up for a row
    segment of TILE_N outputs."""
    T, K = xc.shape
    N = wc_t.shape[1]
    out = np.empty((T, N), np.int64)
    for job in numba.prange(_n_tiles(T, N)):
        t0, n0, tt, nw = _tile(job, T, N)
        acc = np.zeros((TILE_T, TILE_N), np.int64)
        for k in range(K):
            for i in range(tt):
                row = table[xc[t0 + i, k]]
                for j in range(nw):
                    acc[i, j] += row[wc_t[k, n0 + j]]
        out[t0 : t0 + tt, n0 : n0 + nw] = acc[:tt, :nw]
    return out


@numba.njit(cache=True)
def _round_int_f32(v, lsb_exp):
    """RNE of the integer ``v * 2**lsb_exp`` (|v| < 2**63) to float32, as float32; float32's
    overflow gives Inf; subnormals as IEEE."""
    if v == 0:
        return np.float32(0.0)
    neg = v < 0
    m = -v if neg else v
    nb = 0
    t = m
    while t > 0:
        nb += 1
        t >>= 1
    # quantum exponent: 24 significant bits, not finer than float32's subnormal step 2**-149
    q = lsb_exp + nb - 24
    if q < -149:
        q = -149
    sh = q - lsb_exp
    if sh > 0:
        kept = m >> sh
        rem = m - (kept << sh)
        half = np.int64(1) << (sh - 1)
        if rem > half or (rem == half and (kept & 1) == 1):
            kept += 1
        val = math.ldexp(np.float64(kept), q)
    else:
        val = math.ldexp(np.float64(m), lsb_exp)
    r = np.float32(val)  # exact: kept has <= 25 bits and the exponent is in range (or Inf)
    return -r if neg else r


@numba.njit(parallel=True, cache=True)
def round_int_f32(acc, lsb_exp):
    """``_round_int_f32`` over an int64 array."""
    flat = acc.ravel()
    out = np.empty(flat.size, np.float32)
    for i in numba.prange(flat.size):
        out[i] = _round_int_f32(flat[i], lsb_exp)
    return out.reshape(acc.shape)


# -- float accumulators -----------------------------------------------------------------------
@numba.njit(inline="always")
def _sum_odd(acc, p):
    """``(s, err, v)``: TwoSum ``s + err = acc + p`` exactly (s = fl(acc + p), IEEE), and the
    bits ``v`` of the round-to-odd of the exact sum to float64: if err != 0 and s's last bit
    is even, |s| moves one ulp toward err (Boldo and Melquiond: round-to-odd at p + 2 or more
    bits followed by one rounding to p bits equals one direct rounding)."""
    s = acc + p
    bb = s - acc
    err = (acc - (s - bb)) + (p - bb)
    sb = _bits(s)
    eb = _bits(err)
    adj = np.int64(1) if (eb ^ sb) >= 0 else np.int64(-1)  # err has s's sign: |s| grows
    v = sb + adj if ((eb & _MAG) != 0 and (sb & 1) == 0) else sb
    return s, err, v


@numba.njit(inline="always")
def _fa_step(acc, p, d, half_m1, low_mask, min_normal_bits, max_bits, magic, ovf_bits):
    """One step of the FMA chain: RNE of the exact ``acc + p`` into the accumulator format
    (``man_bits = 52 - d`` fraction bits, subnormals below ``2**emin`` = min_normal_bits).
    Normal range: RNE on the float64 bit pattern of the round-to-odd sum; beyond max_bits the
    result is the overflow value (Inf). Subnormal range: adding and subtracting ``magic`` =
    1.5 * 2**52 * 2**(emin - man_bits) rounds to the subnormal quantum (RNE; magic is an even
    multiple of it). Zero sums keep IEEE's sign (s); Inf and NaN sums stay."""
    s, err, v = _sum_odd(acc, p)
    mag = v & _MAG
    rn = (mag + half_m1 + ((mag >> d) & 1)) & low_mask
    rn = ovf_bits if rn > max_bits else rn
    rs = _bits((_flt(mag) + magic) - magic)
    r = rs if mag < min_normal_bits else rn
    res = _flt(r | (v & _SIGN))
    return s if (_bits(s) & _MAG) >= _INF_BITS else res


@numba.njit(parallel=True, cache=True)
def float_acc_matmul(xv, wv_t, man_bits, emin, max_finite, overflow):
    """``acc = round(acc + x[t, k] * w[n, k])`` for k = 0..K-1 from acc = -0, rounding into the
    accumulator format (man_bits, emin, max_finite; RNE; subnormals) after every step, as
    ``golden.mac.float_acc_mac``. ``xv``: activation values (T, K) float64; ``wv_t``: weight
    values transposed, (K, N). Products are exact in float64 (the caller's operands have at
    most 24 significant bits). Returns float64 values of the accumulator format (Inf and NaN
    as IEEE)."""
    T, K = xv.shape
    N = wv_t.shape[1]
    out = np.empty((T, N), np.float64)
    d = 52 - man_bits
    half_m1 = (np.int64(1) << (d - 1)) - 1
    low_mask = ~((np.int64(1) << d) - 1)
    min_normal_bits = np.int64(emin + 1023) << 52
    max_bits = _bits(max_finite)
    magic = 1.5 * math.ldexp(1.0, 52 + emin - man_bits)
    ovf_bits = _bits(overflow)
    for job in numba.prange(_n_tiles(T, N)):
        t0, n0, tt, nw = _tile(job, T, N)
        acc = np.full((TILE_T, TILE_N), -0.0)  # as float_acc_mac's clear: step 1 is encode(a*b)
        for k in range(K):
            for i in range(tt):
                x = xv[t0 + i, k]
                for j in range(nw):
                    acc[i, j] = _fa_step(acc[i, j], x * wv_t[k, n0 + j], d, half_m1, low_mask,
                                         min_normal_bits, max_bits, magic, ovf_bits)
        out[t0 : t0 + tt, n0 : n0 + nw] = acc[:tt, :nw]
    return out


# -- approximate-normalization FMA chain ------------------------------------------------------
@numba.njit(inline="always")
def _ax_step(acc, x, w, ep, p, lg, G, emin, qmin, max_finite, overflow):
    """One ``golden.fma.approx_fma`` step (SPEC 3.3, K = None, rne) on float64 values: ``ep``
    is the product's raw exponent (step 1), the addend's is ``max(floor(log2|acc|), emin)``
    (its exponent field; emin for zero and subnormals). The exact sum's leading one sits
    ``lz`` places below ``top``; the shifter moves by ``floor(lz / G) * G`` (G = 2**lg); the
    sum is rounded (RNE) at that fixed position with a window of p + G - 1 bits, then truncated
    to p bits on the format's grid (step 6); beyond max_finite the result is ``overflow``.
    Zero, Inf and NaN sums are IEEE's (s)."""
    prod = x * w
    s, err, v = _sum_odd(acc, prod)
    ab = _bits(acc)
    ec = max(_expo(ab), emin)
    top = max(ep + 1, ec) + 1
    mag = v & _MAG
    lz = top - _expo(mag)  # the round-to-odd sum keeps the exact sum's binade
    sh = (lz >> lg) << lg  # floor(lz / G) * G
    qe = max(top - sh - p - G + 2, qmin)
    v1 = np.rint(_flt(mag) * _pow2(-qe)) * _pow2(qe)  # exact scaling by powers of two
    te = max(_expo(_bits(v1)) - p + 1, qmin)
    r = math.floor(v1 * _pow2(-te)) * _pow2(te)
    r = overflow if r > max_finite else r
    res = _flt(_bits(r) | (v & _SIGN))
    keep = ((_bits(s) & _MAG) >= _INF_BITS) or ((ab & _MAG) == _INF_BITS) or (
        s == 0.0 and err == 0.0
    )
    return s if keep else res


@numba.njit(parallel=True, cache=True)
def approx_fma_matmul(xv, xe, wv_t, we_t, man_bits, emin, max_finite, overflow, G):
    """The chain ``acc = approx_fma(x[t,k], w[n,k], acc)`` (SPEC 3.3, K = None, rne) from
    acc = -0 with an accumulator of ``man_bits`` and ``emin``. ``xv``/``xe``: activation
    values and raw exponents ``max(f, 1) - bias`` (T, K); ``wv_t``/``we_t``: the weights',
    transposed (K, N). ``G`` is a power of two. Returns float64 values of the accumulator
    format."""
    T, K = xv.shape
    N = wv_t.shape[1]
    out = np.empty((T, N), np.float64)
    p = man_bits + 1
    qmin = emin - man_bits
    lg = 0
    while (1 << lg) < G:
        lg += 1
    for job in numba.prange(_n_tiles(T, N)):
        t0, n0, tt, nw = _tile(job, T, N)
        acc = np.full((TILE_T, TILE_N), -0.0)
        for k in range(K):
            for i in range(tt):
                x = xv[t0 + i, k]
                ex = xe[t0 + i, k]
                for j in range(nw):
                    acc[i, j] = _ax_step(acc[i, j], x, wv_t[k, n0 + j], ex + we_t[k, n0 + j],
                                         p, lg, G, emin, qmin, max_finite, overflow)
        out[t0 : t0 + tt, n0 : n0 + nw] = acc[:tt, :nw]
    return out


# -- operand quantizers -----------------------------------------------------------------------
@numba.njit(parallel=True, cache=True)
def quantize_float(y, out, man_bits, emin, bias, max_finite, sign_shift, fnuz):
    """Codes of ``encode(y, fmt, rne, saturate=True)`` for a float format with subnormals and
    finite ``y`` (float32 or float64, never a float64 subnormal): the magnitude is rounded
    (RNE) on the grid ``2**(max(floor(log2|y|), emin) - man_bits)`` (exact scalings by powers
    of two around one ``rint``), saturated at max_finite, and split into fields: a normal
    result's fraction is the top ``man_bits`` of its float64 fraction, a subnormal's field
    is ``r / 2**(emin - man_bits)``. fnuz formats have no -0."""
    flat = y.ravel()
    o = out.ravel()
    frac_shift = 52 - man_bits
    frac_mask = (np.int64(1) << man_bits) - 1
    for i in numba.prange(flat.size):
        v = np.float64(flat[i])
        vb = _bits(v)
        e = max(_expo(vb & _MAG), emin)
        r = np.rint(abs(v) * _pow2(man_bits - e)) * _pow2(e - man_bits)
        r = min(r, max_finite)
        rb = _bits(r)
        er = _expo(rb)
        if er >= emin:  # normal (zero has er = -1023)
            code = ((er + bias) << man_bits) | ((rb >> frac_shift) & frac_mask)
        else:
            code = np.int64(r * _pow2(man_bits - emin))
        neg = vb < 0 and not (fnuz and r == 0.0)
        o[i] = code | (np.int64(1) << sign_shift) if neg else code


@numba.njit(parallel=True, cache=True)
def quantize_int(y, out, scale_exp, lo, hi, mask):
    """Codes of ``encode(y, int format, rne, saturate=True)``: RNE of ``y * 2**-scale_exp``,
    clipped to [lo, hi], two's complement in ``mask``."""
    flat = y.ravel()
    o = out.ravel()
    for i in numba.prange(flat.size):
        v = np.rint(math.ldexp(np.float64(flat[i]), -scale_exp))
        if v < lo:
            v = lo
        if v > hi:
            v = hi
        o[i] = np.int64(v) & mask
