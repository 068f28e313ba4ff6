"""Unit configurations for the linear layers: what one exmy unit computes, fast and bit-exact.

A ``Config`` names operand formats for weights and activations, a scaling, a product and an
accumulation. ``LinearUnit`` quantizes a layer's weights once (round to nearest even,
saturating) and then, per call, the activations, and computes every output element exactly as
the golden unit does on those encodings:

=======================  ====================================================================
accumulation             golden unit (SPEC) and the fast path used here
=======================  ====================================================================
exact (dot)              ``golden.dot.dot``: exact sum, one rounding into float32. Fast path:
                         a float64 matmul with a rigorous error bound; elements whose bound
                         straddles a float32 rounding boundary are recomputed exactly with
                         Python integers.
exact, MX / NVFP4        ``golden.mx.mx_dot_mac`` over the K/k blocks: exact across blocks,
                         one rounding. Same fast path on the dequantized values (exact in
                         float64: power-of-two or E4M3 scales times short elements).
exact, L-Mul products    ``golden.mac.mac(multiplier="lmul")``: products from a table of the
                         golden ``lmul_raw`` over every code pair, summed in int64 fixed
                         point (numba), rounded once into float32.
bfloat16 / float16       ``golden.mac.float_acc_mac`` (an ``fma`` chain from -0): numba,
                         TwoSum + round-to-odd + one rounding per step.
approx-fma               a chain of ``golden.fma.approx_fma`` (G, no window, rne) with a
                         bfloat16 accumulator, from -0: numba.
=======================  ====================================================================

The scaling lives outside the unit (except MX/NVFP4 block scales, which are the unit's): the
unit output ``y`` (float32) becomes ``y * s_x * s_w + bias`` in float32. Scales: per tensor
``s = amax / R`` (R = max_finite of a float format, max_value of an integer format; the
activation amax is calibrated on held-out sentences), per channel one ``s_w`` per output row;
16-bit float formats are used unscaled. A scaled format's values must lie within
2**MIN_QUANTUM_EXP .. 2**MAX_RANGE_EXP (per tensor and per channel; MX block scales move
each block instead), so that the data scaled onto it and the products stay inside float32.
tests/test_evaluate_units.py recomputes >= 10k random output elements of every family with
the golden functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from exmy.golden import CATALOG, FloatFormat, IntFormat, decode, encode, parse_format
from exmy.golden.core import Raw
from exmy.golden.lmul import lmul_raw
from exmy.golden.params import plain_scalar

__all__ = [
    "ACCUMULATIONS",
    "PRODUCTS",
    "SCALINGS",
    "Config",
    "LinearUnit",
    "Codec",
    "codec",
    "exact_matmul_f32",
    "exact_dot_f32",
]

SCALINGS = ("tensor", "channel", "mx", "nvfp4")
PRODUCTS = ("exact", "lmul")
ACCUMULATIONS = ("exact", "bfloat16", "float16", "approx-fma")
#: the approx-fma accumulation's normalization granularity when none is given
DEFAULT_GRANULARITY = 4
GRANULARITIES = (1, 2, 4, 8, 16, 32)
#: The approximate-normalization chain's accumulator format.
APPROX_ACC_FORMAT = "bfloat16"
#: Widest linear layer input of the model (the FFN output layer): bounds the int64 sums.
MAX_K = 1536
#: A scaled operand format's largest value may be at most 2**MAX_RANGE_EXP: the data, scaled
#: onto it, stays inside float32's range.
MAX_RANGE_EXP = 100
#: ... and its smallest positive value at least 2**MIN_QUANTUM_EXP (per-tensor and per-channel
#: scaling): every product of a weight and an activation is then a multiple of 2**-126,
#: float32's smallest normal number, so the unit's float32 output rounds every non-zero exact
#: sum with float32's full precision, and a format's bias moves every value by one power of
#: two without changing what the network computes. Below it the products underflow the output
#: (e4m3 with bias 100: every product below 2**-168, the embeddings garbage) and nothing
#: flags it, unlike an overflow, which turns the embeddings NaN and is reported.
MIN_QUANTUM_EXP = -63
_F32 = CATALOG["float32"]


# -- operand codecs --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Codec:
    """Values and a fast RNE-saturating quantizer for one operand format (<= 16 bits).

    ``values[code]`` is the exact value of every encoding (float64); ``quantize`` equals
    ``golden.encode(value, fmt, rounding="rne", saturate=True)`` on float32 or float64 inputs
    (a test pins that); ``raw_exp[code]`` is SPEC 3.3's raw exponent ``max(f, 1) - bias``.
    """

    fmt: FloatFormat | IntFormat
    values: np.ndarray
    raw_exp: np.ndarray
    pos_values: np.ndarray = field(repr=False)
    pos_codes: np.ndarray = field(repr=False)

    @property
    def range(self) -> float:
        """R: the largest finite magnitude (the scale maps the data's amax onto it)."""
        if isinstance(self.fmt, IntFormat):
            return float(self.fmt.max_value) * 2.0**self.fmt.scale_exp
        return float(self.fmt.max_finite)

    @property
    def sig_bits(self) -> int:
        if isinstance(self.fmt, IntFormat):
            return self.fmt.bits
        return self.fmt.sig_bits

    def quantize(self, y: np.ndarray) -> np.ndarray:
        """Codes (int32) of ``encode(y, fmt, rne, saturate=True)``; y finite (float32 or
        float64); numba kernels (``_kernels.quantize_float`` / ``quantize_int``)."""
        from . import _kernels as kern

        y = np.ascontiguousarray(y)
        if y.dtype not in (np.float32, np.float64):
            y = y.astype(np.float64)
        out = np.empty(y.shape, np.int32)
        fmt = self.fmt
        if isinstance(fmt, IntFormat):
            kern.quantize_int(y, out, int(fmt.scale_exp), float(fmt.min_value),
                              float(fmt.max_value), (1 << fmt.bits) - 1)
        else:
            kern.quantize_float(y, out, int(fmt.man_bits), int(fmt.emin), int(fmt.bias),
                                float(fmt.max_finite), int(fmt.sign_shift),
                                fmt.special == "fnuz")
        return out


_CODECS: dict = {}

#: The widest codec format (2**16 codes); Config takes operand formats of at most 16 bits.
MAX_CODEC_BITS = 16


def codec(fmt) -> Codec:
    """The (cached) codec of an operand format (at most ``MAX_CODEC_BITS`` wide)."""
    fmt = parse_format(fmt)
    if fmt in _CODECS:
        return _CODECS[fmt]
    if fmt.width > MAX_CODEC_BITS:
        raise ValueError(f"A codec tabulates every code of its format: formats of at most "
                         f"{MAX_CODEC_BITS} bits, not {fmt} ({fmt.width} bits)")
    n = 1 << fmt.width
    codes = np.arange(n, dtype=np.uint64)
    r = decode(codes, fmt)
    sig = np.asarray(r.sig, np.float64)
    vals = np.where(r.sign == 1, -1.0, 1.0) * np.ldexp(sig, np.asarray(r.exp))
    vals = np.where(r.nan, np.nan, np.where(r.inf, np.where(r.sign == 1, -np.inf, np.inf), vals))
    if isinstance(fmt, FloatFormat):
        field_ = (codes.astype(np.int64) >> fmt.man_bits) & ((1 << fmt.exp_bits) - 1)
        raw_exp = np.maximum(field_, 1) - fmt.bias
        finite_pos = (r.sign == 0) & ~r.nan & ~r.inf
    else:
        raw_exp = np.zeros(n, np.int64)
        finite_pos = vals >= 0
    order = np.argsort(vals[finite_pos], kind="stable")
    pos_values = vals[finite_pos][order]
    pos_codes = codes[finite_pos][order].astype(np.int64)
    # several codes may share a value (+0 and -0 never both positive); keep the first
    keep = np.concatenate([[True], np.diff(pos_values) > 0])
    c = Codec(fmt, vals, raw_exp.astype(np.int64), pos_values[keep], pos_codes[keep])
    _CODECS[fmt] = c
    return c


# -- configurations --------------------------------------------------------------------------
def _choice(value, choices, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {value!r}")
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _operand_format(name, what: str) -> FloatFormat | IntFormat:
    if not isinstance(name, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{what} format must be a format name, not {name!r}")
    fmt = parse_format(name)  # unknown names raise ValueError with a suggestion
    if isinstance(fmt, IntFormat):
        if not fmt.signed:
            raise ValueError(
                f"{what} format {fmt} is unsigned; weights and activations need a signed "
                f"format"
            )
        if fmt.bits > 16:
            raise ValueError(f"{what} format {fmt} is wider than 16 bits; use int16 at most")
        if fmt.max_value < 1:
            raise ValueError(
                f"{what} format {fmt} has no positive value (its codes are -1 and 0); the "
                f"scaling maps the data's max|x| onto the largest positive value, so a signed "
                f"integer format needs at least 2 bits"
            )
        if fmt.max_value * 2.0**fmt.scale_exp > 2.0**MAX_RANGE_EXP:
            raise ValueError(
                f"{what} format {fmt} has a range beyond 2**{MAX_RANGE_EXP}; scaling the data "
                f"onto it would leave float32's range (use a smaller scale exponent)"
            )
        return fmt
    if not fmt.zero:
        raise ValueError(
            f"{what} format {fmt} is a block-scale format (it has no zero), not an operand "
            f"format"
        )
    if not fmt.signed:
        raise ValueError(f"{what} format {fmt} is unsigned; weights and activations are signed")
    if not fmt.subnormals:
        raise ValueError(
            f"{what} format {fmt} flushes subnormals; exmy evaluate supports formats with "
            f"subnormals only"
        )
    if fmt.width > 16:
        raise ValueError(
            f"{what} format {fmt} is wider than 16 bits; the float32 forward pass is the "
            f"float32 baseline"
        )
    if fmt.width == 16 and not fmt.emin <= 0 <= fmt.emax:
        raise ValueError(
            f"{what} format {fmt} is used unscaled (16-bit float formats are: their own range "
            f"holds the data), so its normal range must hold 1.0, and it spans "
            f"2**{fmt.emin} .. 2**{fmt.emax}; use a bias that puts 1.0 inside (the default "
            f"does)"
        )
    if fmt.width < 16 and fmt.max_finite > 2**MAX_RANGE_EXP:
        raise ValueError(
            f"{what} format {fmt} has a range beyond 2**{MAX_RANGE_EXP}; scaling the data onto "
            f"it would leave float32's range (use at most 7 exponent bits below 16 bits)"
        )
    return fmt


def _scaled(fmt: FloatFormat | IntFormat) -> bool:
    """Per-tensor and per-channel scaling map the data onto the format's range (16-bit float
    formats are used unscaled: their own range holds the data)."""
    return isinstance(fmt, IntFormat) or fmt.width < 16


def _quantum_exp(fmt: FloatFormat | IntFormat) -> int:
    """Every value of ``fmt`` is a multiple of 2**result (its smallest positive value)."""
    return fmt.scale_exp if isinstance(fmt, IntFormat) else fmt.quantum_exp


@dataclass(frozen=True)
class Config:
    """One unit configuration for every linear layer (see the module docstring)."""

    weights: str
    acts: str
    scaling: str = "channel"
    product: str = "exact"
    acc: str = "exact"
    granularity: int = DEFAULT_GRANULARITY

    def __post_init__(self) -> None:
        fw = _operand_format(self.weights, "Weight")
        fa = _operand_format(self.acts, "Activation")
        object.__setattr__(self, "weights", str(fw))
        object.__setattr__(self, "acts", str(fa))
        _choice(self.scaling, SCALINGS, "Scaling")
        _choice(self.product, PRODUCTS, "Product")
        _choice(self.acc, ACCUMULATIONS, "Accumulation")
        g = plain_scalar(self.granularity)  # a numpy integer counts as the int it holds
        if not isinstance(g, int) or isinstance(g, bool):
            raise TypeError(f"Granularity must be an integer, not {g!r}")
        object.__setattr__(self, "granularity", g)
        if g not in GRANULARITIES:
            raise ValueError(
                f"Granularity must be a power of two in 1..32, not {g}"
            )
        if g != DEFAULT_GRANULARITY and self.acc != "approx-fma":
            raise ValueError(
                f"Granularity {g} applies to acc='approx-fma' only (the approximate-"
                f"normalization FMA's), not acc={self.acc!r}"
            )
        self._check_supported(fw, fa)

    @property
    def fmt_w(self):
        return parse_format(self.weights)

    @property
    def fmt_a(self):
        return parse_format(self.acts)

    def _unsupported(self, why: str):
        return ValueError(f"Unsupported configuration {self.key}: {why}")

    def _check_supported(self, fw, fa) -> None:
        if self.scaling in ("tensor", "channel"):
            for what, fmt in (("weight", fw), ("activation", fa)):
                q = _quantum_exp(fmt)
                if _scaled(fmt) and q < MIN_QUANTUM_EXP:
                    fix = (f"a bias of at most {fmt.bias + q - MIN_QUANTUM_EXP}"
                           if isinstance(fmt, FloatFormat) else
                           f"a scale exponent of at least {MIN_QUANTUM_EXP}")
                    raise self._unsupported(
                        f"the {what} format {fmt} reaches down to 2**{q}; scaled per "
                        f"{self.scaling}, its products fall below float32's normal range "
                        f"(2**-126) and the unit's float32 output silently loses them; use a "
                        f"smallest value of at least 2**{MIN_QUANTUM_EXP} (here {fix}) or "
                        f"--scaling mx"
                    )
        if self.scaling in ("mx", "nvfp4"):
            if self.product != "exact" or self.acc != "exact":
                raise self._unsupported(
                    "the block-scaled dot product (mx-dot) has exact products and exact "
                    "accumulation only; use --product exact --acc exact"
                )
            if self.scaling == "nvfp4" and (
                fw != CATALOG["float4_e2m1fn"] or fa != CATALOG["float4_e2m1fn"]
            ):
                raise self._unsupported("NVFP4 has float4_e2m1fn weights and activations")
            return
        if self.product == "lmul":
            if fw != fa or not isinstance(fw, FloatFormat):
                raise self._unsupported(
                    "the L-Mul MAC multiplies two operands of one float format"
                )
            if fw.man_bits < 1:
                raise self._unsupported("L-Mul needs at least one mantissa bit")
            if fw.width > 8:
                raise self._unsupported(
                    "exmy evaluate runs L-Mul for formats of at most 8 bits"
                )
            if self.acc != "exact":
                raise self._unsupported(
                    "L-Mul products are accumulated in the MAC's exact fixed-point "
                    "accumulator; use --acc exact"
                )
            return
        if self.acc != "exact":
            if isinstance(fw, IntFormat) or isinstance(fa, IntFormat):
                raise self._unsupported(
                    "a float accumulator (an FMA chain) takes float operands, not integers"
                )

    @property
    def key(self) -> str:
        """Canonical text of the configuration (the database key, with the sentence count)."""
        k = (
            f"w={self.weights},a={self.acts},scaling={self.scaling},product={self.product},"
            f"acc={self.acc}"
        )
        if self.acc == "approx-fma":
            k += f",G={self.granularity}"
        return k

    def as_dict(self) -> dict:
        d = {
            "weights": self.weights, "acts": self.acts, "scaling": self.scaling,
            "product": self.product, "acc": self.acc,
        }
        if self.acc == "approx-fma":
            d["granularity"] = self.granularity
        return d


# -- the exact dot product (dot / mx-dot) ------------------------------------------------------
def _exact_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact ``sum_k x[i, k] * w[i, k]`` per row, rounded once (rne) into float32: Python
    integers for the sum, golden ``encode`` for the rounding. Zero sums are +0 unless every
    term is -0 (golden.dot's rule)."""
    mx, ex = np.frexp(x)
    mw, ew = np.frexp(w)
    ix = np.ldexp(mx, 53).astype(np.int64)
    iw = np.ldexp(mw, 53).astype(np.int64)
    e = (ex.astype(np.int64) - 53) + (ew.astype(np.int64) - 53)
    nz = (ix != 0) & (iw != 0)
    e = np.where(nz, e, np.iinfo(np.int64).max)
    e0 = e.min(axis=1)
    e0 = np.where(e0 == np.iinfo(np.int64).max, 0, e0)
    prod = ix.astype(object) * iw.astype(object)
    shift = np.where(nz, e - e0[:, None], 0).astype(object)
    total = (prod << shift).sum(axis=1)
    n = len(total)
    sig = np.empty(n, dtype=object)
    sig[:] = [abs(int(t)) for t in total]
    neg_zero = np.all(np.signbit(x) ^ np.signbit(w), axis=1)
    sign = np.array([int(t) < 0 for t in total], bool) | (
        np.array([int(t) == 0 for t in total], bool) & neg_zero
    )
    f = np.zeros(n, bool)
    raw = Raw(sign.astype(np.uint8), sig, e0.astype(np.int64), f, f.copy())
    bits = encode(raw, _F32, rounding="rne").astype(np.uint32)
    return bits.view(np.float32)


def _min_lsb(v: np.ndarray) -> np.ndarray:
    """Per row, the exponent of the lowest set bit of any non-zero entry (float64 entries):
    every entry is a multiple of 2**result. Rows of zeros give a large value."""
    m, e = np.frexp(v)
    mi = np.ldexp(m, 53).astype(np.int64)
    low = mi & -mi  # lowest set bit (0 for zero)
    tz = np.where(low != 0, np.frexp(low.astype(np.float64))[1] - 1, 0)
    lsb = np.where(mi != 0, e.astype(np.int64) - 53 + tz, 1 << 20)
    return lsb.min(axis=1)


def exact_dot_f32(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``_exact_rows`` for rows of x and w (the slow, obviously exact path; for tests)."""
    return _exact_rows(np.asarray(x, np.float64), np.asarray(w, np.float64))


def _zero_signs(x, w, s, out) -> None:
    """Where the exact sum is zero, golden.dot gives -0 iff every term is -0 (all products
    zero, each with sign(x) xor sign(w) = 1); float64 sums give +0 there. Fix ``out``."""
    zero = s == 0
    count = int(zero.sum())
    if count == 0:
        return
    if count > 4096:  # many: count the terms that are not -0 with matmuls
        sx = np.signbit(x).astype(np.float64)
        sw = np.signbit(w).astype(np.float64)
        nzx = (x != 0).astype(np.float64)
        nzw = (w != 0).astype(np.float64)
        # a term is -0 iff its product is zero and sign(x) xor sign(w) = 1
        nonzero_terms = nzx @ nzw.T
        plus = (1 - sx) @ (1 - sw).T + sx @ sw.T  # terms with sign(x) xor sign(w) = 0
        neg = zero & (nonzero_terms == 0) & (plus == 0)
        out[neg] = np.float32(-0.0)
        return
    t, n = np.nonzero(zero)
    xs, ws = x[t], w[n]
    neg = np.all(((xs == 0) | (ws == 0)) & (np.signbit(xs) ^ np.signbit(ws)), axis=1)
    out[t[neg], n[neg]] = np.float32(-0.0)


def exact_matmul_f32(
    x: np.ndarray,
    w: np.ndarray,
    stats: dict | None = None,
    w_lsb: np.ndarray | None = None,
    grid: int | None = None,
) -> np.ndarray:
    """float32 of the exact ``x @ w.T`` per element (one RNE rounding), for float64 ``x``
    (T, K) and ``w`` (N, K) whose entrywise products are exact in float64.

    A float64 matmul ``S`` differs from the exact sum by at most ``(K-1) u sum|p|`` in any
    summation order (u = 2**-53), and ``B = |x| @ |w|.T`` bounds ``sum|p|`` within a factor
    ``1 + K u``. With ``grid`` (every entry of x times every entry of w is a multiple of
    ``2**grid``) and ``K max|x| max|w| < 2**(53 + grid)`` the float64 matmul is exact and that
    is all. Otherwise, where the float32 roundings of ``S - err`` and ``S + err`` (err = 2 (K+4) u B
    + 2u |S|) are the same encoding, rounding is monotone, so the exact sum rounds to it too;
    the other elements (and sums of zero products, for their sign) are recomputed exactly.
    """
    K = x.shape[1]
    s = x @ w.T
    if grid is not None:
        # every product is a multiple of 2**grid and K * max|x| * max|w| < 2**(53 + grid):
        # every partial sum is exact in float64, in any order
        bound = K * float(np.abs(x).max(initial=0.0)) * float(np.abs(w).max(initial=0.0))
        if bound < 2.0 ** min(53 + grid, 1000):
            out = s.astype(np.float32)
            _zero_signs(x, w, s, out)
            if stats is not None:
                stats["elements"] = stats.get("elements", 0) + out.size
                stats.setdefault("exact_recomputed", 0)
            return out
    b = np.abs(x) @ np.abs(w).T
    err = b * ((K + 4) * 2.0**-52) + np.abs(s) * 2.0**-52
    lo = (s - err).astype(np.float32).view(np.uint32)
    hi = (s + err).astype(np.float32).view(np.uint32)
    out = s.astype(np.float32)
    bad = lo != hi
    if bad.any():
        # s is the exact sum where every product is a multiple of 2**(gx + gw) and every
        # partial sum stays below 2**(53 + gx + gw): then no float64 operation rounded
        w_lsb = _min_lsb(w) if w_lsb is None else w_lsb
        g = _min_lsb(x)[:, None] + w_lsb[None, :]
        exact = b * (1.0 + (K + 4) * 2.0**-52) < np.ldexp(1.0, np.minimum(53 + g, 1000))
        bad &= ~exact
    zero = b == 0
    if zero.any():
        # every product is zero: -0 iff every term is -0 (sign of x xor sign of w)
        sx = np.signbit(x).astype(np.float64)
        sw = np.signbit(w).astype(np.float64)
        plus = (1 - sx) @ (1 - sw).T + sx @ sw.T
        out = np.where(zero, np.where(plus == 0, np.float32(-0.0), np.float32(0.0)), out)
        bad &= ~zero
    t, n = np.nonzero(bad)
    if len(t):
        for i in range(0, len(t), 4096):
            sl = slice(i, i + 4096)
            out[t[sl], n[sl]] = _exact_rows(x[t[sl]], w[n[sl]])
    if stats is not None:
        stats["exact_recomputed"] = stats.get("exact_recomputed", 0) + len(t)
        stats["elements"] = stats.get("elements", 0) + out.size
    return out


# -- MX / NVFP4 quantization ------------------------------------------------------------------
def mx_quantize_fast(y: np.ndarray, c: Codec, block: int, nvfp4: bool):
    """``golden.mx.mx_quantize`` for finite float32 ``y`` (..., K): returns (scale values
    (..., K/block) as float64, element codes (..., K)). OCP rule: scale 2**E with E =
    floor(log2 amax) - emax_elem clamped to [-127, 127] (2**-127 for a zero block); NVFP4:
    scale = encode(amax / max_elem, e4m3fn, rne, saturate); a zero scale zeroes the block."""
    y = np.asarray(y, np.float32)
    shp = y.shape
    yb = y.astype(np.float64).reshape(*shp[:-1], shp[-1] // block, block)
    amax = np.abs(yb).max(axis=-1)
    if not nvfp4:
        fe = c.fmt
        emax = (fe.max_value.bit_length() - 1 + fe.scale_exp) if isinstance(fe, IntFormat) \
            else fe.emax
        _, e = np.frexp(amax)
        e = np.clip(e - 1 - emax, -127, 127)
        e = np.where(amax == 0, -127, e)
        scale = np.ldexp(1.0, e)
        codes = c.quantize(np.ldexp(yb, -e[..., None]))
    else:
        sc = codec("float8_e4m3fn")
        scale = sc.values[sc.quantize(amax / c.range)]
        safe = np.where(scale == 0, 1.0, scale)
        codes = c.quantize(yb / safe[..., None])
        codes = np.where(scale[..., None] == 0, 0, codes)
    return scale, codes.reshape(shp).astype(np.int32)


# -- the linear unit ---------------------------------------------------------------------------
def _po2_block(cfg: Config) -> int:
    return 16 if cfg.scaling == "nvfp4" else 32


def real_array(x, what: str, *, ndim: int | None = None, allow_inf: bool = False) -> np.ndarray:
    """``x`` as an array of real numbers (floats or integers; ``ndim`` axes if given) without
    NaN, and without Inf unless ``allow_inf`` (activations: the quantizer saturates it):
    TypeError or ValueError naming ``what``, not an error from inside the quantizer or a
    silent NaN."""
    arr = np.asarray(x) if x is not None else np.asarray(np.nan, dtype=object)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be an array of real numbers, not {x!r:.60}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} ax{'is' if ndim == 1 else 'es'}, not shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "f":
        bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
        if bad.any():
            kind = "NaN" if allow_inf else "NaN or Inf"
            raise ValueError(f"{what} must not hold {kind}, not "
                             f"{arr.flat[int(np.argmax(bad))]}")
    return arr


class LinearUnit:
    """One configuration applied to one linear layer (W: (N, K) float32, b: (N,) float32).

    ``act_amax``: the calibrated max|x| of the layer's input (per-tensor and NVFP4 scaling).
    ``__call__(x)`` returns float32 ``y`` (T, N). ``unit_output(x)`` returns what the unit
    computes and what it computed it from (codes), for the golden tests.
    """

    def __init__(self, cfg: Config, w: np.ndarray, b: np.ndarray, act_amax: float):
        if not isinstance(cfg, Config):
            raise TypeError(f"cfg must be an exmy.evaluate.Config, not {cfg!r}")
        w = real_array(w, "Weights w", ndim=2)
        b = real_array(b, "Bias b", ndim=1)
        if b.shape != w.shape[:1]:
            raise ValueError(f"Bias b must have one entry per output (shape ({w.shape[0]},), "
                             f"as w {w.shape} has), not shape {b.shape}")
        if w.size == 0:
            raise ValueError(f"Weights w must not be empty, not shape {w.shape}")
        amax = plain_scalar(act_amax)
        if isinstance(amax, bool) or not isinstance(amax, (int, float)):
            raise TypeError(f"act_amax must be a real number (the input's calibrated max|x|), "
                            f"not {act_amax!r}")
        if not 0 <= amax < math.inf:
            raise ValueError(f"act_amax must be a finite number >= 0 (the input's calibrated "
                             f"max|x|), not {amax!r}")
        self.cfg = cfg
        self.cw = codec(cfg.fmt_w)
        self.ca = codec(cfg.fmt_a)
        self.b = np.asarray(b, np.float32)
        w = np.asarray(w, np.float32)
        self.K = w.shape[1]
        self.stats: dict = {}
        self._w_lsb = None
        sc = cfg.scaling
        if sc in ("mx", "nvfp4"):
            blk = _po2_block(cfg)
            if self.K % blk:
                raise cfg._unsupported(f"K = {self.K} is not a multiple of the block {blk}")
            if sc == "nvfp4":
                self.s_w = np.float32(np.abs(w).max() / np.float32(448.0 * 6.0))
                self.s_x = np.float32(act_amax / np.float32(448.0 * 6.0))
                w = (w / self.s_w).astype(np.float32)
            else:
                self.s_w = self.s_x = None
            self.w_scale, self.w_codes = mx_quantize_fast(w, self.cw, blk, sc == "nvfp4")
            self.w_val = self._deq(self.w_scale, self.w_codes, self.cw, blk)
            return
        self.s_x = self._scale(np.float32(act_amax), self.ca)
        if sc == "tensor":
            self.s_w = self._scale(np.abs(w).max(), self.cw)
        else:
            self.s_w = self._scale(np.abs(w).max(axis=1), self.cw)
        sw = np.broadcast_to(np.asarray(self.s_w, np.float32), (w.shape[0],))
        self.w_codes = self.cw.quantize((w / sw[:, None]).astype(np.float32))
        self.w_val = self.cw.values[self.w_codes]
        if cfg.product == "lmul":
            self._lmul_table()

    @staticmethod
    def _scale(amax, c: Codec):
        if isinstance(c.fmt, FloatFormat) and c.fmt.width >= 16:
            return np.ones_like(np.asarray(amax, np.float32))
        amax = np.asarray(amax, np.float32)
        s = (amax / np.float32(c.range)).astype(np.float32)
        return np.where(s > 0, s, np.float32(1.0)).astype(np.float32)

    def _grid(self, xscale) -> int:
        """Every product of a quantized activation and weight is a multiple of 2**grid."""

        def q(c: Codec) -> int:
            f = c.fmt
            return f.scale_exp if isinstance(f, IntFormat) else f.quantum_exp

        g = q(self.ca) + q(self.cw)
        if self.cfg.scaling == "mx":
            g += int(np.frexp(xscale.min())[1] - 1) + int(np.frexp(self.w_scale.min())[1] - 1)
        elif self.cfg.scaling == "nvfp4":
            g += 2 * CATALOG["float8_e4m3fn"].quantum_exp
        return g

    @staticmethod
    def _deq(scale, codes, c: Codec, blk: int) -> np.ndarray:
        v = c.values[codes]
        return (v.reshape(*v.shape[:-1], -1, blk) * scale[..., None]).reshape(v.shape)

    def _lmul_table(self) -> None:
        fmt = self.cw.fmt
        n = 1 << fmt.width
        a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        raw = lmul_raw(a.ravel().astype(np.uint64), b.ravel().astype(np.uint64), fmt)
        lsb = 1 - fmt.bias - fmt.man_bits
        sig = np.asarray(raw.sig, np.int64)
        exp = np.asarray(raw.exp, np.int64)
        shift = np.where(sig == 0, 0, exp - lsb)
        if np.any(shift < 0):  # pragma: no cover - the L-Mul grid is 2**lsb
            raise RuntimeError("L-Mul product below its grid")
        mag = sig << shift
        if mag.max() * MAX_K >= 2**62:
            raise self.cfg._unsupported("L-Mul sums of this format do not fit 62 bits")
        special = raw.nan | raw.inf
        if np.any(special & (sig != 0)):  # pragma: no cover
            raise RuntimeError("L-Mul special with a significand")
        self.lmul_lsb = lsb
        self.lmul_table = np.where(raw.sign == 1, -mag, mag).reshape(n, n).astype(np.int64)
        # the quantizer never emits NaN/Inf codes (saturating), so specials never reach it
        vals = self.cw.values
        self.lmul_ok = np.isfinite(vals)

    # -- activations
    def quantize_acts(self, x: np.ndarray):
        cfg = self.cfg
        x = real_array(x, "Activations x", allow_inf=True)
        if x.ndim != 2 or x.shape[1] != self.K:
            raise ValueError(f"Activations x must be a (T, K) array with w's K = {self.K}, not "
                             f"shape {x.shape}")
        x = np.asarray(x, np.float32)
        if cfg.scaling in ("mx", "nvfp4"):
            blk = _po2_block(cfg)
            if cfg.scaling == "nvfp4":
                x = (x / self.s_x).astype(np.float32)
            scale, codes = mx_quantize_fast(x, self.ca, blk, cfg.scaling == "nvfp4")
            return codes, self._deq(scale, codes, self.ca, blk), scale
        codes = self.ca.quantize((x / self.s_x).astype(np.float32))
        return codes, self.ca.values[codes], None

    def _w_t(self, what: str) -> np.ndarray:
        """Weight values (``w_val``), codes (``w_codes``) or raw exponents (``w_raw_exp``)
        transposed to (K, N), C-contiguous, computed once (the tiled kernels' layout)."""
        cache = self.__dict__.setdefault("_transposed", {})
        if what not in cache:
            a = self.cw.raw_exp[self.w_codes] if what == "w_raw_exp" else getattr(self, what)
            cache[what] = np.ascontiguousarray(a.T)
        return cache[what]

    @property
    def act_key(self) -> tuple:
        """Two units with equal act_key quantize one input identically."""
        return (self.cfg.acts, self.cfg.scaling, None if self.s_x is None else float(self.s_x))

    def unit_output(self, x: np.ndarray, quantized=None):
        """(y float32 (T, N) as the unit computes it, activation codes, activation scales).
        ``quantized``: ``quantize_acts(x)`` if already known (Q, K and V share an input)."""
        from . import _kernels as kern

        cfg = self.cfg
        codes, xval, xscale = quantized if quantized is not None else self.quantize_acts(x)
        if cfg.product == "lmul":
            acc = kern.fixed_matmul(
                np.ascontiguousarray(codes), self._w_t("w_codes"), self.lmul_table
            )
            y = kern.round_int_f32(acc, self.lmul_lsb)
        elif cfg.acc == "exact":
            if self._w_lsb is None:
                self._w_lsb = _min_lsb(self.w_val)
            y = exact_matmul_f32(
                xval, self.w_val, self.stats, w_lsb=self._w_lsb, grid=self._grid(xscale)
            )
        else:
            facc = CATALOG[APPROX_ACC_FORMAT] if cfg.acc == "approx-fma" else CATALOG[cfg.acc]
            args = (int(facc.man_bits), int(facc.emin), float(facc.max_finite), math.inf)
            if cfg.acc == "approx-fma":
                y = kern.approx_fma_matmul(
                    np.ascontiguousarray(xval), np.ascontiguousarray(self.ca.raw_exp[codes]),
                    self._w_t("w_val"), self._w_t("w_raw_exp"), *args, cfg.granularity,
                )
            else:
                y = kern.float_acc_matmul(np.ascontiguousarray(xval), self._w_t("w_val"), *args)
            y = y.astype(np.float32)  # exact: the accumulator format is inside float32
        return y, codes, xscale

    def __call__(self, x: np.ndarray, quantized=None) -> np.ndarray:
        y, _, _ = self.unit_output(x, quantized)
        if self.s_x is None:
            out = y + self.b
        else:
            sw = np.asarray(self.s_w, np.float32)
            out = (y * np.float32(self.s_x)) * sw + self.b
        return out.astype(np.float32)
