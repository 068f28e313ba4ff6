"""golden.mx.mx_quantize / mx_dequantize against an independent re-implementation of the OCP
MX v1.0 rule (section 6.3) and the NVFP4 scale rule, with ml_dtypes doing the element
rounding.

The reference works in float64: x / 2^E is exact there; for NVFP4, max/6 and x/S are
float64 quotients whose rounding error (2^-53 relative) cannot move a 4-bit (E4M3) or 2-bit
(E2M1) significand across a rounding boundary unless the exact quotient lies on one, and then
float64 holds it exactly.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from exmy.golden.mx import mx_dequantize, mx_quantize

ELEM = {
    "float8_e4m3fn": (ml_dtypes.float8_e4m3fn, 8, 448.0),
    "float8_e5m2": (ml_dtypes.float8_e5m2, 15, 57344.0),
    "float6_e2m3fn": (ml_dtypes.float6_e2m3fn, 2, 7.5),
    "float6_e3m2fn": (ml_dtypes.float6_e3m2fn, 4, 28.0),
    "float4_e2m1fn": (ml_dtypes.float4_e2m1fn, 2, 6.0),
}


def ref_quantize(x: np.ndarray, elem: str, block: int, nvfp4: bool = False):
    """OCP: E = floor(log2 max|x|) - emax_elem, clamped to [-127, 127], zero block 2^-127;
    elements = saturating RNE of x / 2^E. NVFP4: S = e4m3fn(max|x| / 6)."""
    xb = x.astype(np.float64).reshape(*x.shape[:-1], -1, block)
    bad = ~np.all(np.isfinite(xb), axis=-1)
    amax = np.max(np.abs(np.where(np.isfinite(xb), xb, 0)), axis=-1)
    if nvfp4:
        s = np.minimum(amax / 6.0, 448.0).astype(ml_dtypes.float8_e4m3fn)
        scales = s.view(np.uint8).astype(np.uint64)
        sv = s.astype(np.float64)[..., None]
        q = np.divide(xb, sv, out=np.zeros_like(xb), where=sv != 0)
        q = np.clip(q, -6.0, 6.0).astype(ml_dtypes.float4_e2m1fn).view(np.uint8)
        q = np.where(sv == 0, 0, q)
        nan_code = 0x7F
    else:
        _, e = np.frexp(amax)
        emax = 0 if elem == "mxint8" else ELEM[elem][1]
        shared = np.clip(e - 1 - emax, -127, 127)
        shared = np.where(amax == 0, -127, shared)
        scales = (shared + 127).astype(np.uint64)
        y = np.ldexp(xb, -shared[..., None])
        if elem == "mxint8":
            q = np.clip(np.round(y * 64), -128, 127).astype(np.int64) & 0xFF
        else:
            dt, _, mx = ELEM[elem]
            q = np.clip(y, -mx, mx).astype(dt).view(np.uint8)
        nan_code = 0xFF
    scales = np.where(bad, nan_code, scales).astype(np.uint64)
    q = np.where(bad[..., None], 0, q).astype(np.uint64)
    return scales, q.reshape(x.shape)


def make_blocks(rng, n_blocks: int, block: int, elem: str) -> np.ndarray:
    """Random blocks over a wide exponent range plus ties, zero blocks, overflowing maxima
    (the block maximum rounding above the element's max), tiny and huge blocks, NaN/Inf."""
    scale = np.ldexp(1.0, rng.integers(-140, 120, (n_blocks, 1)))
    x = (rng.standard_normal((n_blocks, block)) * scale).astype(np.float32)
    k = n_blocks // 8
    x[:k] = 0  # zero blocks
    # ties: values exactly halfway between element grid points after the shared scale
    t = rng.integers(0, 64, (k, block)).astype(np.float64) + 0.5
    x[k:2 * k] = (t * np.ldexp(1.0, rng.integers(-10, 10, (k, 1)))).astype(np.float32)
    # overflowing maxima: the largest element rounds past max_finite (saturates)
    x[2 * k:3 * k, 0] = np.float32(1.99999) * np.ldexp(1.0, rng.integers(-20, 20, k))
    x[3 * k:3 * k + 4, 1] = [np.nan, np.inf, -np.inf, np.float32(3e38)]
    x[3 * k + 4:3 * k + 8] *= np.float32(1e-38)  # subnormal-range blocks
    return x


CASES = [(e, 32, False) for e in ELEM] + [("mxint8", 32, False), ("float4_e2m1fn", 16, True)]


def _run(elem, block, nvfp4, n_blocks, seed):
    rng = np.random.default_rng(seed)
    x = make_blocks(rng, n_blocks, block, elem)
    sf = "float8_e4m3fn" if nvfp4 else "float8_e8m0fnu"
    with np.errstate(invalid="ignore", over="ignore"):
        ws, we = ref_quantize(x, elem, block, nvfp4)
    gs, ge = mx_quantize(x, elem, block, sf)
    bad_s = np.flatnonzero(gs.ravel() != ws.ravel())
    assert bad_s.size == 0, f"scale mismatch in block {bad_s[0]}: {gs.ravel()[bad_s[0]]} != " \
                            f"{ws.ravel()[bad_s[0]]}"
    bad = np.flatnonzero(ge.ravel() != we.ravel())
    assert bad.size == 0, f"{bad.size} element mismatches, first {bad[0]}: x = " \
                          f"{x.ravel()[bad[0]]!r}, {ge.ravel()[bad[0]]} != {we.ravel()[bad[0]]}"
    return x, gs, ge, sf


@pytest.mark.parametrize("elem,block,nvfp4", CASES)
def test_quantize_vs_reference(elem, block, nvfp4):
    _run(elem, block, nvfp4, 20_000, 11)


@pytest.mark.slow
@pytest.mark.parametrize("elem,block,nvfp4", CASES)
def test_quantize_vs_reference_1m(elem, block, nvfp4):
    for seed in range(4):
        _run(elem, block, nvfp4, 250_000, 100 + seed)


@pytest.mark.parametrize("elem,block,nvfp4", CASES)
def test_dequantize(elem, block, nvfp4):
    x, gs, ge, sf = _run(elem, block, nvfp4, 2000, 12)
    y = mx_dequantize(gs, ge, elem, block, sf).astype(np.float64)
    # reference: scale value times element value, in float64 (exact), then float32
    if sf == "float8_e8m0fnu":
        sv = np.where(gs == 255, np.nan, np.ldexp(1.0, gs.astype(np.int64) - 127))
    else:
        sv = gs.astype(np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64)
    if elem == "mxint8":
        ev = ge.astype(np.uint8).view(np.int8).astype(np.float64) / 64
    else:
        ev = ge.astype(np.uint8).view(ELEM[elem][0]).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        want = (np.repeat(sv, block, axis=-1) * ev).astype(np.float32).astype(np.float64)
    assert np.array_equal(y, want, equal_nan=True)
    assert y.dtype == np.float64 and x.shape == y.shape


def test_quantize_shapes():
    x = np.ones((2, 3, 64), np.float32)
    s, e = mx_quantize(x, "e4m3fn")
    assert s.shape == (2, 3, 2) and e.shape == (2, 3, 64)
    assert np.all(s == 127 - 8) and np.all(e == 0x38 + (8 << 3))  # 1.0 = 2^8 * 2^-8


def test_quantize_errors():
    x = np.zeros((2, 32), np.float32)
    with pytest.raises(TypeError, match="mx_quantize needs a float32 array, not float64"):
        mx_quantize(x.astype(np.float64), "e4m3fn")
    with pytest.raises(ValueError, match=r"last axis \(32\) must be a multiple of the block "
                                         r"size 64"):
        mx_quantize(x, "e4m3fn", 64)
    with pytest.raises(ValueError, match="Block size must be a positive integer, not -1"):
        mx_quantize(x, "e4m3fn", -1)
    with pytest.raises(ValueError, match="e8m0fnu is a block-scale format"):
        mx_quantize(x, "e8m0fnu")
    with pytest.raises(ValueError, match="Block-scale format must be float8_e8m0fnu"):
        mx_quantize(x, "e4m3fn", scale_fmt="bfloat16")
    with pytest.raises(ValueError, match=r"Elements of shape \(2, 32\) do not match scales"):
        mx_dequantize(np.zeros((2, 2)), np.zeros((2, 32)), "e4m3fn", 32)
