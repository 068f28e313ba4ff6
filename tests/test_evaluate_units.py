"""exmy.evaluate's unit configurations compute exactly what the golden units compute.

Each configuration family draws >= 10k random output elements of a layer computed by the fast
path (float64 BLAS with an error bound, numba kernels) and recomputes them with the golden
functions (``dot``, ``mx_dot_mac``, ``mac``, ``fma``, ``approx_fma``, ``float_acc_mac``), bit
for bit; the quantizers are checked against golden ``encode`` / ``mx_quantize``.
"""

from __future__ import annotations

import numpy as np
import pytest

from exmy.evaluate.units import (
    Config,
    LinearUnit,
    codec,
    exact_dot_f32,
    exact_matmul_f32,
    mx_quantize_fast,
)
from exmy.golden import CATALOG, approx_fma, convert, encode, fma, mac
from exmy.golden.dot import dot
from exmy.golden.mac import float_acc_mac
from exmy.golden.mx import mx_dot_mac, mx_quantize

SAMPLES = 10_000
F32 = CATALOG["float32"]


def _layer_data(rng, T, N, K, outliers=True):
    """Activations and weights shaped like a transformer's: Gaussian weights, Laplace-ish
    activations with a few large outlier channels, some exact zeros."""
    w = (rng.standard_normal((N, K)) * 0.05).astype(np.float32)
    x = rng.laplace(size=(T, K)).astype(np.float32)
    if outliers:
        x[:, rng.choice(K, 3, replace=False)] *= 30
    x[rng.random((T, K)) < 0.02] = 0
    w[rng.random((N, K)) < 0.01] = 0
    return x, w


def _unit(cfg, rng, T=110, N=100, K=128, outliers=True, amax_factor=1.0):
    x, w = _layer_data(rng, T, N, K, outliers)
    b = np.zeros(N, np.float32)
    u = LinearUnit(cfg, w, b, float(np.abs(x).max()) * amax_factor)
    y, codes, xscale = u.unit_output(x)
    t = rng.integers(0, T, SAMPLES)
    n = rng.integers(0, N, SAMPLES)
    return u, y, codes, xscale, t, n


def _pairs(xc, wc):
    """Every (row of xc, row of wc) pair, shaped (T, N, K) for golden dot."""
    shape = (len(xc), len(wc), xc.shape[1])
    return (np.broadcast_to(xc[:, None, :], shape).astype(np.uint64),
            np.broadcast_to(wc[None, :, :], shape).astype(np.uint64))


def _bits(y):
    return np.asarray(y, np.float32).view(np.uint32)


# -- configuration validation ---------------------------------------------------------------
@pytest.mark.parametrize("kw,msg", [
    # int1's codes are -1 and 0: max|x| / 0 was a division by zero and NaN measures
    ({"weights": "int1", "acts": "int8"},
     "Weight format int1 has no positive value (its codes are -1 and 0); the scaling maps the "
     "data's max|x| onto the largest positive value, so a signed integer format needs at "
     "least 2 bits"),
    ({"weights": "int8", "acts": "int1", "scaling": "mx"},
     "Activation format int1 has no positive value"),
    # an integer format's range past float32 (the scale max|x| / R was 0 in float32)
    ({"weights": "int8-s150", "acts": "int8"},
     "Weight format int8-s150 has a range beyond 2**100; scaling the data onto it would "
     "leave float32's range (use a smaller scale exponent)"),
    # the bottom of the range: products below float32's normal range (e4m3-b100 gave a
    # cosine of 0.21 and no warning)
    ({"weights": "e4m3-b100", "acts": "e4m3-b100"},
     "Unsupported configuration w=e4m3-b100,a=e4m3-b100,scaling=channel,product=exact,"
     "acc=exact: the weight format e4m3-b100 reaches down to 2**-102; scaled per channel, its "
     "products fall below float32's normal range (2**-126) and the unit's float32 output "
     "silently loses them; use a smallest value of at least 2**-63 (here a bias of at most "
     "61) or --scaling mx"),
    ({"weights": "e4m3fn", "acts": "e4m3-b62", "scaling": "tensor"},
     "Unsupported configuration w=e4m3fn,a=e4m3-b62,scaling=tensor,product=exact,acc=exact: "
     "the activation format e4m3-b62 reaches down to 2**-64; scaled per tensor"),
    ({"weights": "int8-s-64", "acts": "int8"},
     "the weight format int8-s-64 reaches down to 2**-64; scaled per channel, its products "
     "fall below float32's normal range (2**-126) and the unit's float32 output silently "
     "loses them; use a smallest value of at least 2**-63 (here a scale exponent of at least "
     "-63) or --scaling mx"),
    # unscaled 16-bit floats whose range misses 1.0 (both gave a cosine of 0.21, silently)
    ({"weights": "e5m10-b40", "acts": "float16"},
     "Weight format e5m10-b40 is used unscaled (16-bit float formats are: their own range "
     "holds the data), so its normal range must hold 1.0, and it spans 2**-39 .. 2**-10"),
    ({"weights": "float16", "acts": "e5m10-b-10"},
     "Activation format e5m10-b-10 is used unscaled"),
])
def test_config_refuses_formats_scaling_cannot_use(kw, msg):
    with pytest.raises(ValueError) as e:
        Config(**kw)
    assert msg in str(e.value), str(e.value)


@pytest.mark.parametrize("kw", [
    {"weights": "e4m3-b61", "acts": "int8-s-63"},  # the smallest values the bound allows
    {"weights": "e4m3-b100", "acts": "e4m3-b100", "scaling": "mx"},  # block scales: any bias
    {"weights": "bfloat16", "acts": "float16"},  # 16-bit floats run unscaled
])
def test_config_accepts_formats_inside_the_bounds(kw):
    Config(**kw)


@pytest.mark.parametrize("a,b", [("e4m3", "e4m3-b61"), ("int8", "int8-s-63")])
def test_bias_inside_the_bound_changes_nothing(a, b):
    """Scaled per channel, a format and its copy shifted down to the bound compute the same
    layer output bit for bit: the products stay in float32's normal range (the reason for
    the bound)."""
    rng = np.random.default_rng(11)
    x, w = _layer_data(rng, 20, 30, 64)
    bias = rng.standard_normal(30).astype(np.float32)
    amax = float(np.abs(x).max())
    ua = LinearUnit(Config(a, a), w, bias, amax)
    ub = LinearUnit(Config(b, b), w, bias, amax)
    np.testing.assert_array_equal(ua.w_codes, ub.w_codes)
    np.testing.assert_array_equal(_bits(ua(x)), _bits(ub(x)))


# -- quantizers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt",
    ["e4m3fn", "e5m2", "e2m1fn", "e3m2fn", "e2m3fn", "e4m3fnuz", "e1m1-none", "e3m0-none",
     "e4m3-none", "bfloat16", "float16", "int3", "int4", "int8", "mxint8"],
)
def test_quantizer_matches_golden_encode(fmt):
    c = codec(fmt)
    rng = np.random.default_rng(1)
    finite = c.values[np.isfinite(c.values)]
    mids = (np.unique(finite)[1:] + np.unique(finite)[:-1]) / 2  # exact ties
    with np.errstate(over="ignore"):  # bfloat16's range is float32's: beyond it, +-inf
        x = np.concatenate([
            rng.standard_normal(20000) * c.range / 3,
            np.clip(rng.standard_normal(5000) * c.range * 10, -3e38, 3e38),  # saturation
            rng.standard_normal(5000) * float(np.min(np.abs(finite[finite != 0]))) * 3,  # tiny
            mids, -mids, finite, [0.0, -0.0],
        ]).astype(np.float32)
    got = c.quantize(x)
    want = convert(x.view(np.uint32), F32, c.fmt, rounding="rne", saturate=True)
    np.testing.assert_array_equal(got.astype(np.uint64), want)


@pytest.mark.parametrize("elem,block,nv", [
    ("e4m3fn", 32, False), ("e2m1fn", 32, False), ("e3m2fn", 32, False), ("mxint8", 32, False),
    ("e5m2", 32, False), ("e2m1fn", 16, True),
])
def test_mx_quantizer_matches_golden(elem, block, nv):
    rng = np.random.default_rng(2)
    x = (rng.laplace(size=(200, 128)) * np.exp(rng.normal(0, 3, (200, 1)))).astype(np.float32)
    x[:3, :block] = 0  # zero blocks
    x[5, :block] = 1e-30  # tiny blocks (NVFP4: the scale rounds to zero)
    scale, codes = mx_quantize_fast(x, codec(elem), block, nv)
    sf = "float8_e4m3fn" if nv else "float8_e8m0fnu"
    gs, ge = mx_quantize(x, elem, block=block, scale_fmt=sf)
    np.testing.assert_array_equal(codes.astype(np.uint64), ge)
    sc = codec(sf) if nv else None
    want_scale = sc.values[gs.astype(np.int64)] if nv else np.ldexp(1.0, gs.astype(np.int64) - 127)
    np.testing.assert_array_equal(scale, want_scale)


# -- exact accumulation: golden dot ----------------------------------------------------------
@pytest.mark.parametrize("w,a,scaling", [
    ("e4m3fn", "e4m3fn", "channel"),
    ("e5m2", "e5m2", "tensor"),
    ("e2m1fn", "e2m1fn", "channel"),
    ("int8", "int8", "channel"),
    ("int4", "e4m3fn", "tensor"),
    ("e3m0-none", "e1m2-none", "channel"),
    ("bfloat16", "float16", "channel"),
])
def test_exact_dot_matches_golden_dot(w, a, scaling):
    rng = np.random.default_rng(3)
    u, y, codes, _, t, n = _unit(Config(w, a, scaling=scaling), rng)
    want = dot(codes[t].astype(np.uint64), u.w_codes[n].astype(np.uint64), a, w,
               fmt_out="float32")
    np.testing.assert_array_equal(_bits(y[t, n]), want.astype(np.uint32))


def test_exact_matmul_slow_path_matches_golden_dot():
    """The exact recomputation (Python integers) on every element, against golden dot: wide
    e5m2 ranges so that the float64 sums are not exact, ties included."""
    rng = np.random.default_rng(4)
    c = codec("e5m2")
    xc = rng.integers(0, 256, (300, 64))
    wc = rng.integers(0, 256, (300, 64))
    ok = np.isfinite(c.values)
    xc = np.where(ok[xc], xc, 0)
    wc = np.where(ok[wc], wc, 0)
    # rows whose exact sum 2**24 + 1 + 2**-32 lies just above a float32 midpoint, which a
    # float64 sum (2**24 + 1, the midpoint itself) would round the wrong way
    code = {float(v): i for i, v in enumerate(c.values) if np.isfinite(v) and v >= 0}
    for r, sign in ((0, 0), (1, 0x80)):
        xc[r] = 0
        wc[r] = 0
        xc[r, :3] = [code[2.0**12] | sign, code[1.0] | sign, code[2.0**-16] | sign]
        wc[r, :3] = [code[2.0**12], code[1.0], code[2.0**-16]]
    got = exact_dot_f32(c.values[xc], c.values[wc])
    want = dot(xc.astype(np.uint64), wc.astype(np.uint64), "e5m2", "e5m2", fmt_out="float32")
    np.testing.assert_array_equal(_bits(got), want.astype(np.uint32))
    # and the filtered matmul, which sends some of them to that path
    stats: dict = {}
    full = exact_matmul_f32(c.values[xc], c.values[wc], stats)
    want = dot(*_pairs(xc, wc), "e5m2", "e5m2", fmt_out="float32")
    np.testing.assert_array_equal(_bits(full), want.astype(np.uint32))
    assert stats["exact_recomputed"] > 0


def test_exact_zero_sums_keep_golden_sign():
    """Sums of zero products: -0 only when every term is -0 (golden.dot's rule)."""
    c = codec("e4m3fn")
    neg0 = 0x80
    one = int(np.flatnonzero(c.values == 1.0)[0])
    xc = np.array([[neg0, neg0], [0, neg0], [neg0, neg0]])
    wc = np.array([[one, one], [one, one], [0, 0]])
    got = exact_matmul_f32(c.values[xc], c.values[wc])
    want = dot(*_pairs(xc, wc), "e4m3fn", "e4m3fn", fmt_out="float32")
    np.testing.assert_array_equal(_bits(got), want.astype(np.uint32))


# -- MX and NVFP4: golden mx_dot_mac over the blocks -------------------------------------------
@pytest.mark.parametrize("w,a,scaling", [
    ("e4m3fn", "e4m3fn", "mx"), ("e2m1fn", "e2m1fn", "mx"), ("mxint8", "mxint8", "mx"),
    ("e3m2fn", "e2m3fn", "mx"), ("e2m1fn", "e2m1fn", "nvfp4"),
])
def test_mx_matches_golden_mx_dot_mac(w, a, scaling):
    rng = np.random.default_rng(5)
    u, y, codes, xscale, t, n = _unit(Config(w, a, scaling=scaling), rng)
    blk = 16 if scaling == "nvfp4" else 32
    nb = u.K // blk
    sf = "float8_e4m3fn" if scaling == "nvfp4" else "float8_e8m0fnu"
    scodec = codec("float8_e4m3fn") if scaling == "nvfp4" else None

    def scale_codes(v):
        if scodec is not None:
            return scodec.quantize(v).astype(np.uint64)
        return (np.frexp(v)[1] - 1 + 127).astype(np.uint64)

    ae = codes[t].reshape(SAMPLES * nb, blk).astype(np.uint64)
    be = u.w_codes[n].reshape(SAMPLES * nb, blk).astype(np.uint64)
    sa = scale_codes(xscale[t].reshape(-1))
    sb = scale_codes(u.w_scale[n].reshape(-1))
    clear = np.tile(np.eye(1, nb, 0, dtype=np.int64)[0], SAMPLES)
    out = mx_dot_mac(ae, be, sa, sb, 1, clear, a, elem_b=w, scale_fmt=sf, fmt_out="float32")
    want = out["y"].reshape(SAMPLES, nb)[:, -1]
    np.testing.assert_array_equal(_bits(y[t, n]), want.astype(np.uint32))


# -- L-Mul: golden mac(multiplier="lmul") -----------------------------------------------------
@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2", "e3m2fn"])
def test_lmul_matches_golden_mac(fmt):
    rng = np.random.default_rng(6)
    u, y, codes, _, t, n = _unit(Config(fmt, fmt, product="lmul"), rng, K=32)
    K = u.K
    a = codes[t].reshape(-1).astype(np.uint64)
    b = u.w_codes[n].reshape(-1).astype(np.uint64)
    clear = np.tile(np.eye(1, K, 0, dtype=np.int64)[0], SAMPLES)
    out = mac(a, b, 1, clear, fmt, fmt, multiplier="lmul", fmt_out="float32")
    want = out["y"].reshape(SAMPLES, K)[:, -1]
    np.testing.assert_array_equal(_bits(y[t, n]), want.astype(np.uint32))


# -- float accumulators: a golden fma chain (= float_acc_mac) ----------------------------------
def _fma_chain(a_codes, b_codes, fa, fb, facc, step):
    acc = np.full(len(a_codes), CATALOG[facc].nan_code * 0 + (1 << (CATALOG[facc].width - 1)),
                  np.uint64)  # -0
    for k in range(a_codes.shape[1]):
        acc = step(a_codes[:, k].astype(np.uint64), b_codes[:, k].astype(np.uint64), acc)
    return acc


@pytest.mark.parametrize("w,a,acc,amax", [
    ("e4m3fn", "e4m3fn", "bfloat16", 1.0),
    ("e4m3fn", "e4m3fn", "float16", 1.0),  # sums of full-range products overflow float16
    ("e5m2", "e5m2", "float16", 1.0),
    ("bfloat16", "bfloat16", "bfloat16", 1.0),
    ("float16", "float16", "float16", 1.0),
    ("e2m1fn", "e2m3fn", "bfloat16", 1.0),
])
def test_float_acc_matches_golden_fma_chain(w, a, acc, amax):
    rng = np.random.default_rng(7)
    u, y, codes, _, t, n = _unit(Config(w, a, acc=acc), rng, K=48, amax_factor=amax)
    facc = CATALOG[acc]

    def step(x, wb, c):
        return fma(x, wb, c, a, w, facc, facc)

    got = _fma_chain(codes[t], u.w_codes[n], a, w, acc, step)
    want = convert(got, facc, F32)
    np.testing.assert_array_equal(_bits(y[t, n]), want.astype(np.uint32))
    if acc == "float16" and w == "e4m3fn":
        assert np.isinf(y).any()  # the overflow path is exercised
    # the chain from -0 is the float-accumulator MAC (clear on the first cycle)
    few = slice(0, 40)
    K = u.K
    a_s = codes[t[few]].reshape(-1).astype(np.uint64)
    b_s = u.w_codes[n[few]].reshape(-1).astype(np.uint64)
    clear = np.tile(np.eye(1, K, 0, dtype=np.int64)[0], 40)
    m = float_acc_mac(a_s, b_s, 1, clear, a, w, facc)["acc"].reshape(40, K)[:, -1]
    np.testing.assert_array_equal(m, got[few])


# -- the approximate-normalization FMA chain -------------------------------------------------
@pytest.mark.parametrize("w,a,G", [
    ("e4m3fn", "e4m3fn", 4), ("e4m3fn", "e4m3fn", 2), ("bfloat16", "bfloat16", 4),
    ("e5m2", "e5m2", 8), ("e4m3fn", "e4m3fn", 1),
])
def test_approx_fma_matches_golden_chain(w, a, G):
    rng = np.random.default_rng(8)
    u, y, codes, _, t, n = _unit(Config(w, a, acc="approx-fma", granularity=G), rng, K=48)
    facc = CATALOG["bfloat16"]

    def step(x, wb, c):
        return approx_fma(x, wb, c, a, w, facc, facc, granularity=G)

    got = _fma_chain(codes[t], u.w_codes[n], a, w, "bfloat16", step)
    want = convert(got, facc, F32)
    np.testing.assert_array_equal(_bits(y[t, n]), want.astype(np.uint32))
    if G == 1:  # G = 1 is the exact FMA chain (SPEC 3.3)
        ref = _fma_chain(codes[t[:500]], u.w_codes[n[:500]], a, w, "bfloat16",
                         lambda x, wb, c: fma(x, wb, c, a, w, facc, facc))
        np.testing.assert_array_equal(got[:500], ref)


def test_linear_applies_scales_outside_the_unit():
    rng = np.random.default_rng(9)
    x, w = _layer_data(rng, 20, 30, 64)
    b = rng.standard_normal(30).astype(np.float32)
    u = LinearUnit(Config("int8", "int8", scaling="channel"), w, b, float(np.abs(x).max()))
    y, _, _ = u.unit_output(x)
    out = u(x)
    np.testing.assert_array_equal(out, (y * np.float32(u.s_x)) * u.s_w + b)
    # and the quantized layer is close to the float32 one
    rel = np.abs(out - (x @ w.T + b)).max() / np.abs(x @ w.T + b).max()
    assert rel < 0.05
    encode  # noqa: B018 - imported for the docstring's claim; kept to pin the API


def test_many_exact_zero_sums_keep_golden_sign():
    """The matmul path of the zero-sign rule (more than 4096 zero sums)."""
    rng = np.random.default_rng(10)
    c = codec("e2m1fn")
    xc = rng.choice([0, 0x8], size=(100, 8))  # +0 and -0 activations
    xc[:50, 0] = 0x8
    xc[:50, 1:] = 0x8  # rows of -0 only
    wc = rng.choice([0, 0x8, 0x2, 0xA], size=(100, 8))  # zeros and +-1
    wc[::3] = 0x2  # rows of +1 only: -0 x +1 = -0 everywhere
    got = exact_matmul_f32(c.values[xc], c.values[wc], grid=-2)
    want = dot(*_pairs(xc, wc), "e2m1fn", "e2m1fn", fmt_out="float32")
    np.testing.assert_array_equal(_bits(got), want.astype(np.uint32))
    assert (_bits(got) == 0x80000000).sum() > 100  # both signs occur
    assert (_bits(got) == 0).sum() > 100
