"""Independent oracles for the golden model: ml_dtypes casts and Berkeley SoftFloat
(softfloatpy). Nothing here calls exmy's arithmetic."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import softfloatpy as sf

SF_MODES = {
    "rne": sf.RoundingMode.NEAR_EVEN,
    "rtz": sf.RoundingMode.MIN_MAG,
    "rna": sf.RoundingMode.NEAR_MAX_MAG,
}


def ml_dtype(fmt):
    if fmt.name == "float16":
        return np.float16
    if fmt.name == "float32":
        return np.float32
    return getattr(ml_dtypes, fmt.catalog_name)


def storage(fmt):
    return {8: np.uint8, 16: np.uint16, 32: np.uint32}.get(
        fmt.width, np.uint8 if fmt.width < 8 else np.uint16
    )


def ml_values(codes, fmt) -> np.ndarray:
    """float32 values of ``fmt`` encodings, by ml_dtypes."""
    return np.asarray(codes).astype(storage(fmt)).view(ml_dtype(fmt)).astype(np.float32)


def ml_encode(x_f32, fmt) -> np.ndarray:
    """ml_dtypes' RNE cast of float32 values into ``fmt``, as encodings."""
    with np.errstate(all="ignore"):
        return np.asarray(x_f32, np.float32).astype(ml_dtype(fmt)).view(storage(fmt)).astype(
            np.uint64
        )


def _sf_unary(fn, src, dst_bytes, values, mode):
    sf.set_rounding_mode(SF_MODES[mode])
    nbytes = {sf.Float16: 2, sf.Float32: 4, sf.BFloat16: 2}[src]
    out = np.empty(len(values), dtype=np.uint64)
    fb = src.from_bytes
    for i, v in enumerate(values.tolist()):
        out[i] = int.from_bytes(fn(fb(v.to_bytes(nbytes, "big"))).to_bytes(), "big")
    sf.set_rounding_mode(SF_MODES["rne"])
    return out


def _sf_binary(fn, cls, a, b, mode):
    sf.set_rounding_mode(SF_MODES[mode])
    n = {sf.Float16: 2, sf.Float32: 4, sf.BFloat16: 2}[cls]
    fb = cls.from_bytes
    out = np.empty(len(a), dtype=np.uint64)
    for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        out[i] = int.from_bytes(fn(fb(x.to_bytes(n, "big")), fb(y.to_bytes(n, "big"))).to_bytes(),
                                "big")
    sf.set_rounding_mode(SF_MODES["rne"])
    return out


def sf_f16_mul(a, b, mode):
    return _sf_binary(sf.f16_mul, sf.Float16, a, b, mode)


def sf_f32_mul(a, b, mode):
    return _sf_binary(sf.f32_mul, sf.Float32, a, b, mode)


def sf_f32_to_f16(x, mode):
    return _sf_unary(sf.f32_to_f16, sf.Float32, 2, x, mode)


def sf_f32_to_bf16(x, mode):
    return _sf_unary(sf.f32_to_bf16, sf.Float32, 2, x, mode)


def sf_f16_to_f32(x):
    return _sf_unary(sf.f16_to_f32, sf.Float16, 4, x, "rne")


def sf_is_nan16(codes):
    c = np.asarray(codes, dtype=np.uint64)
    return ((c >> 10) & 0x1F == 0x1F) & (c & 0x3FF != 0)


def sf_is_nan_bf16(codes):
    c = np.asarray(codes, dtype=np.uint64)
    return ((c >> 7) & 0xFF == 0xFF) & (c & 0x7F != 0)
