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
    "gelu", "fixed_matmul", "float_acc_matmul", "float_acc_matmul_fast", "approx_fma_matmul",
    "round_int_f32",
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


# -- exact fixed point ------------------------------------------------------------------------
@numba.njit(parallel=True, cache=True)
def fixed_matmul(xc, wc, table):
    """``out[t, n] = sum_k table[xc[t, k], wc[n, k]]`` in int64 (the caller proves no
    overflow: table entries times K fit in 63 bits)."""
    T, K = xc.shape
    N = wc.shape[0]
    out = np.zeros((T, N), np.int64)
    for t in numba.prange(T):
        for n in range(N):
            s = np.int64(0)
            for k in range(K):
                s += table[xc[t, k], wc[n, k]]
            out[t, n] = s
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
def _two_sum(a, b):
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return s, err


@numba.njit(inline="always")
def _odd(s, err):
    """Round-to-odd of the exact ``s + err`` (``s = fl(s + err)``, |err| <= ulp(s)/2) to
    float64: if err != 0 and s's last bit is even, step s one ulp toward err."""
    if err == 0.0:
        return s
    bits = np.float64(s).view(np.int64)
    if bits & 1:
        return s
    if (err > 0.0) == (s > 0.0):
        return np.int64(bits + 1).view(np.float64)
    return np.int64(bits - 1).view(np.float64)


@numba.njit(inline="always")
def _round_fmt(v, man_bits, emin, max_finite, overflow):
    """RNE of float64 ``v`` to a float format with ``man_bits`` and ``emin`` (subnormals on):
    the grid quantum is 2**(max(floor(log2|v|), emin) - man_bits). Beyond ``max_finite`` the
    result is ``overflow`` (with v's sign): Inf for an ieee format."""
    if v == 0.0 or v != v:
        return v
    a = abs(v)
    e = math.frexp(a)[1] - 1
    if e < emin:
        e = emin
    q = math.ldexp(1.0, e - man_bits)
    r = np.rint(a / q) * q
    if r > max_finite:
        r = overflow
    return -r if v < 0.0 else r


@numba.njit(parallel=True, cache=True)
def float_acc_matmul(xc, wc, xval, wval, man_bits, emin, max_finite, overflow):
    """``acc = round(acc + x[t, k] * w[n, k])`` for k = 0..K-1 from acc = -0, rounding into the
    accumulator format (man_bits, emin, max_finite; RNE) after every step. Products are
    exact in float64 (the caller checks the significand widths). Returns float64 values of
    the accumulator format (Inf and NaN as IEEE)."""
    T, K = xc.shape
    N = wc.shape[0]
    out = np.empty((T, N), np.float64)
    for t in numba.prange(T):
        for n in range(N):
            acc = -0.0  # as float_acc_mac's clear: the first step is encode(a*b)
            for k in range(K):
                p = xval[xc[t, k]] * wval[wc[n, k]]
                s, err = _two_sum(acc, p)
                if s != s or math.isinf(s):
                    acc = s
                    continue
                if s == 0.0 and err == 0.0:
                    # an exact zero sum is +0 unless both addends are -0 (IEEE, rne)
                    neg = math.copysign(1.0, acc) < 0 and math.copysign(1.0, p) < 0
                    acc = -0.0 if neg else 0.0
                    continue
                acc = _round_fmt(_odd(s, err), man_bits, emin, max_finite, overflow)
            out[t, n] = acc
    return out


# -- approximate-normalization FMA chain ------------------------------------------------------
@numba.njit(inline="always")
def _floor_div(a, b):
    return a // b


@numba.njit(parallel=True, cache=True)
def approx_fma_matmul(
    xc, wc, xval, wval, xraw, wraw, man_bits, emin, bias, max_finite, overflow, G
):
    """The chain ``acc = approx_fma(x[t,k], w[n,k], acc)`` (SPEC 3.3, K = None, rne) from
    acc = -0. ``xraw``/``wraw`` give each code's raw exponent ``max(f, 1) - bias`` (step 1);
    the accumulator's raw exponent is taken from its own field. Returns float64 values of the
    accumulator format."""
    T, K = xc.shape
    N = wc.shape[0]
    out = np.empty((T, N), np.float64)
    p = man_bits + 1
    qmin = emin - man_bits
    for t in numba.prange(T):
        for n in range(N):
            acc = -0.0
            for k in range(K):
                a = xc[t, k]
                b = wc[n, k]
                prod = xval[a] * wval[b]
                s, err = _two_sum(acc, prod)
                if s != s or math.isinf(s) or math.isinf(acc):
                    acc = s
                    continue
                if s == 0.0 and err == 0.0:
                    acc = -0.0 if (math.copysign(1.0, acc) < 0
                                   and math.copysign(1.0, prod) < 0) else 0.0
                    continue
                # raw exponents: product ea + eb, addend from its exponent field
                ep = xraw[a] + wraw[b]
                if acc == 0.0:
                    ec = 1 - bias
                else:
                    ec = math.frexp(abs(acc))[1] - 1
                    if ec < emin:
                        ec = emin
                top = max(ep + 1, ec) + 1
                v = _odd(s, err)  # exact sign and magnitude class; sticky in the last bit
                av = abs(v)
                lead = math.frexp(av)[1] - 1  # floor(log2 |exact|): odd rounding keeps it
                lz = top - lead
                sh = _floor_div(lz, G) * G
                pos = top - sh
                qe = pos - p - G + 2
                if qe < qmin:
                    qe = qmin
                q = math.ldexp(1.0, qe)
                v1 = np.rint(av / q) * q  # RNE at the fixed position (av/q exact or odd)
                if v1 == 0.0:
                    r = 0.0
                else:
                    lead1 = math.frexp(v1)[1] - 1
                    te = lead1 - p + 1
                    if te < qmin:
                        te = qmin
                    tq = math.ldexp(1.0, te)
                    r = math.floor(v1 / tq) * tq  # truncate to p bits on the format grid
                    if r > max_finite:
                        r = overflow
                acc = -r if v < 0.0 else r
            out[t, n] = acc
    return out


# -- float accumulators, fast path ------------------------------------------------------------
_NB = 8  # independent accumulator chains interleaved per inner loop (instruction parallelism)
_SIGN = np.int64(-0x8000000000000000)
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_INF_BITS = np.int64(0x7FF0000000000000)


@numba.njit(inline="always")
def _step_bits(acc, p, d, half_m1, low_mask, min_normal_bits, max_bits, man_bits, emin,
               max_finite, overflow):
    """One FMA-chain step: round(acc + p) into the accumulator format (RNE), as
    ``float_acc_matmul``'s loop body, with the rounding done on float64 bit patterns for
    results in the normal range (the rest take ``_round_fmt``)."""
    s, err = _two_sum(acc, p)
    sb = np.float64(s).view(np.int64)
    mag = sb & _MAG
    if mag >= _INF_BITS:  # Inf or NaN stays (products are finite)
        return s
    if err != 0.0 and (sb & 1) == 0:  # round to odd
        if (err > 0.0) == (s > 0.0):
            sb += 1
        else:
            sb -= 1
        mag = sb & _MAG
    if mag < min_normal_bits:
        return _round_fmt(np.int64(sb).view(np.float64), man_bits, emin, max_finite, overflow)
    mag = (mag + half_m1 + ((mag >> d) & 1)) & low_mask
    if mag > max_bits:
        return overflow if sb >= 0 else -overflow
    return np.int64(mag | (sb & _SIGN)).view(np.float64)


@numba.njit(parallel=True, cache=True)
def float_acc_matmul_fast(xv, wv, man_bits, emin, max_finite, overflow):
    """``float_acc_matmul`` on operand values (float64, exact products), ``_NB`` output
    columns at a time so that independent chains overlap. Same results bit for bit."""
    T, K = xv.shape
    N = wv.shape[0]
    out = np.empty((T, N), np.float64)
    d = 52 - man_bits
    half_m1 = (np.int64(1) << (d - 1)) - 1
    low_mask = ~((np.int64(1) << d) - 1)
    min_normal_bits = np.int64(emin + 1023) << 52
    max_bits = np.float64(max_finite).view(np.int64)
    nblk = (N + _NB - 1) // _NB
    for job in numba.prange(T * nblk):
        t = job // nblk
        n0 = (job % nblk) * _NB
        acc = np.full(_NB, -0.0)
        nn = min(_NB, N - n0)
        for k in range(K):
            x = xv[t, k]
            for j in range(nn):
                acc[j] = _step_bits(acc[j], x * wv[n0 + j, k], d, half_m1, low_mask,
                                    min_normal_bits, max_bits, man_bits, emin, max_finite,
                                    overflow)
        for j in range(nn):
            out[t, n0 + j] = acc[j]
    return out

