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
    # wider than 8 bits ("any other float format", SPEC 5.2); numpy rounds float64 ->
    # float16/float32 once, and bfloat16 only ever sees float32 values (x / 2^E is exact)
    "float16": (np.float16, 15, 65504.0),
    "bfloat16": (ml_dtypes.bfloat16, 127, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)),
    "float32": (np.float32, 127, float(np.finfo(np.float32).max)),
}


def _uint(dt) -> type:
    """The unsigned integer type of ``dt``'s width (a float type's encodings)."""
    return {1: np.uint8, 2: np.uint16, 4: np.uint32}[np.dtype(dt).itemsize]


def ref_quantize(x: np.ndarray, elem: str, block: int, nvfp4: bool = False):
    """OCP: E = floor(log2 max|x|) - emax_elem, clamped to [-127, 127], zero block 2^-127;
    elements = saturating RNE of x / 2^E. NVFP4: S = e4m3fn(max|x| / 6)."""
    xb = x.astype(np.float64).reshape(*x.shape[:-1], -1, block)
    bad = ~np.all(np.isfinite(xb), axis=-1)
    amax = np.max(np.abs(np.where(np.isfinite(xb), xb, 0)), axis=-1)
    if nvfp4:
        dt, _, mx = ELEM[elem]
        s = np.minimum(amax / mx, 448.0).astype(ml_dtypes.float8_e4m3fn)
        scales = s.view(np.uint8).astype(np.uint64)
        sv = s.astype(np.float64)[..., None]
        q = np.divide(xb, sv, out=np.zeros_like(xb), where=sv != 0)
        q = np.clip(q, -mx, mx).astype(dt).view(_uint(dt))
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
            q = np.clip(y, -mx, mx).astype(dt).view(_uint(dt))
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
# NVFP4's scale rule with wide elements: max|x| / max_finite (float32's is 2^104 times a
# 24-bit integer: the quotient used to overflow int64)
CASES += [("float16", 16, True), ("float32", 16, True)]


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
        dt = ELEM[elem][0]
        ev = ge.astype(_uint(dt)).view(dt).astype(np.float64)
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
    with pytest.raises(ValueError, match=r"Element format int1 has no positive value; the "
                                         r"NVFP4 scale rule max\|x\| / max\(elem\) needs one"):
        mx_quantize(x, "int1", 16, "e4m3fn")


# -- exmy quantize: wide elements and bad files -------------------------------------------------
# (the basic round trip and the argument errors are in tests/test_dot_hw.py)
@pytest.mark.parametrize("elem,dtype", [
    ("float8_e4m3fn", np.uint8),   # an OCP element: one byte, as before
    ("float16", np.uint16),        # 16 bits: used to be cut to their low byte
    ("bfloat16", np.uint16),
    ("int16", np.uint16),          # an integer element
    ("e9m20", np.uint32),          # 30 bits
    ("float32", np.uint32),
    ("e11m23", np.uint64),         # 35 bits: past uint32
])
@pytest.mark.parametrize("scale", ["e8m0fnu", "e4m3fn"])
def test_cli_quantize_wide_elements_round_trip(elem, dtype, scale, tmp_path, capsys):
    from exmy.cli.main import main

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 64)) * 1e3).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    q, y = tmp_path / "q.npz", tmp_path / "y.npy"
    assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(q), "--elem", elem,
                 "--scale", scale]) == 0
    block = 16 if scale == "e4m3fn" else 32
    s, e = mx_quantize(x, elem, block, scale)
    z = np.load(q)
    assert z["elems"].dtype == dtype and np.array_equal(z["elems"], e)
    assert main(["quantize", str(q), "-o", str(y)]) == 0
    back = np.load(y)
    assert np.array_equal(back, mx_dequantize(s, e, elem, block, scale))
    if scale == "e8m0fnu" and elem in ("float32", "e11m23"):
        assert np.array_equal(back, x)  # x / 2^E is exact in a 24-bit significand


def test_cli_quantize_big_endian_float32(tmp_path, capsys):
    """A big-endian float32 .npy (>f4) is float32: quantized as the little-endian one."""
    from exmy.cli.main import main

    x = np.random.default_rng(3).standard_normal((4, 64)).astype(np.float32)
    np.save(tmp_path / "le.npy", x)
    np.save(tmp_path / "be.npy", x.astype(">f4"))
    for n in ("le", "be"):
        assert main(["quantize", str(tmp_path / f"{n}.npy"), "-o",
                     str(tmp_path / f"{n}.npz")]) == 0
    with np.load(tmp_path / "le.npz") as a, np.load(tmp_path / "be.npz") as b:
        for k in ("scales", "elems"):
            assert np.array_equal(a[k], b[k])


def test_cli_quantize_notes_zero_scales(tmp_path, capsys):
    """NVFP4's scale max|x| / max(elem) underflows E4M3 for a wide element format: said on
    stderr, not silent zeros."""
    from exmy.cli.main import main

    x = np.ones((1, 32), np.float32)
    x[0, 16:] = 1e4  # the second block's scale 1e4 / 65504 is an E4M3 value, the first's not
    np.save(tmp_path / "x.npy", x)
    assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(tmp_path / "q.npz"),
                 "--elem", "float16", "--scale", "e4m3fn"]) == 0
    assert capsys.readouterr().err == (
        "note: 1 of 2 blocks hold non-zero values but got a zero E4M3 scale (max|x| / "
        "max(float16) is below E4M3's smallest value 2**-9), so all their elements are 0\n")


def _npz(**fields):
    """A quantize .npz of two e4m3fn blocks with ``fields`` replaced."""
    z = {"scales": np.full((2, 1), 127, np.uint8), "elems": np.zeros((2, 32), np.uint8),
         "elem": np.array("float8_e4m3fn"), "block": np.array(32),
         "scale": np.array("float8_e8m0fnu")}
    return lambda p: np.savez(p / "z.npz", **{**z, **fields})


def _write(name: str, data: bytes):
    return lambda p: (p / name).write_bytes(data)


def _pickle_npy(p):
    np.save(p / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)


NOT_NPY = "input 'x.npy' is not a valid .npy file of float32 values"
NOT_NPZ = "input 'z.npz' is not a valid .npz file written by exmy quantize"


@pytest.mark.parametrize("setup,msg", [
    # files that are no .npy / .npz (an empty file used to give an EOFError traceback, a text
    # file numpy's advice to unpickle it)
    (_write("x.npy", b""), f"{NOT_NPY} (the file is empty)"),
    (_write("x.npy", b"hello world\n"), f"{NOT_NPY} (it does not start with the .npy header)"),
    (_pickle_npy, f"{NOT_NPY} (it holds Python objects)"),
    (_write("x.npy", b"\x93NUMPY\x01\x00v\x00{'descr"),
     f"{NOT_NPY} (EOF: reading array header, expected 118 bytes got 7)"),
    (_write("z.npz", b""), f"{NOT_NPZ} (the file is empty)"),
    (_write("z.npz", b"1,2,3\n"), f"{NOT_NPZ} (it does not start with a zip archive's header)"),
    # hand-made fields, each named (block=[32, 16] used to give "only 0-dimensional arrays
    # can be converted", 'abc' "invalid literal for int()", elems=-1 "not 1844...615")
    (_npz(block=np.array([32, 16])),
     "input 'z.npz': field 'block' must be a positive integer, not an array of shape (2,)"),
    (_npz(block=np.array("abc")),
     "input 'z.npz': field 'block' must be a positive integer, not 'abc'"),
    (_npz(block=np.array(0)), "input 'z.npz': field 'block' must be a positive integer, not 0"),
    (_npz(block=np.array(32.0)),
     "input 'z.npz': field 'block' must be a positive integer, not 32.0"),
    (_npz(elems=np.full((2, 32), -1)),
     "input 'z.npz': field 'elems' holds -1, not an encoding of e4m3fn (0..255)"),
    (_npz(elems=np.full((2, 32), 256)),
     "input 'z.npz': field 'elems' holds 256, not an encoding of e4m3fn (0..255)"),
    (_npz(elems=np.zeros((2, 32))),
     "input 'z.npz': field 'elems' must hold unsigned integer encodings, not float64"),
    (_npz(elems=np.zeros((2, 32), bool)),
     "input 'z.npz': field 'elems' must hold unsigned integer encodings, not bool"),
    (_npz(elems=np.array([{"a": 1}], object)),
     "input 'z.npz': field 'elems' cannot be read (it holds Python objects)"),
    (_npz(elems=np.zeros((2, 30), np.uint8)),
     "input 'z.npz': field 'elems' must have a last axis that is a multiple of the block size "
     "32, not shape (2, 30)"),
    (_npz(scales=np.zeros(3, np.uint8)),
     "input 'z.npz': field 'scales' has shape (3,), but elems of shape (2, 32) in blocks of 32 "
     "need (2, 1)"),
    (_npz(scales=np.array([[-1], [0]])),
     "input 'z.npz': field 'scales' holds -1, not an encoding of e8m0fnu (0..255)"),
    (_npz(elem=np.array(5)),
     "input 'z.npz': field 'elem' must be a format name (a string), not 5"),
    (_npz(elem=np.array("e4m3foo")), "input 'z.npz': field 'elem': Unknown format 'e4m3foo'"),
    (_npz(scale=np.array("bfloat16")),
     "input 'z.npz': field 'scale': Block-scale format must be float8_e8m0fnu"),
    # a float32-element file as exmy wrote it before (encodings cut to one byte)
    (_npz(elem=np.array("float32")),
     "input 'z.npz': field 'elems' holds uint8, too narrow for 32-bit float32 encodings "
     "(exmy quantize stores them as uint32; a file from an older exmy lost their high bits): "
     "quantize the .npy again"),
])
def test_cli_quantize_bad_files(setup, msg, tmp_path, capsys, monkeypatch):
    from exmy.cli.main import main

    from hwtest import cli_error

    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    src = "x.npy" if (tmp_path / "x.npy").exists() else "z.npz"
    out = "q.npz" if src == "x.npy" else "y.npy"
    assert main(["quantize", src, "-o", out]) == 2
    line = cli_error(capsys)
    assert line.startswith(f"exmy quantize: error: {msg}"), line
    assert not (tmp_path / out).exists()


@pytest.mark.parametrize("shape, said", [((32,), "32 values in 1 block of 32"),
                                         ((2, 64), "128 values in 4 blocks of 32")])
def test_cli_quantize_counts_its_blocks(shape, said, tmp_path, capsys):
    from exmy.cli.main import main

    np.save(tmp_path / "x.npy", np.ones(shape, np.float32))
    assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(tmp_path / "q.npz")]) == 0
    out = capsys.readouterr().out
    assert f"q.npz: {said} (float8_e4m3fn elements, float8_e8m0fnu scales)" in out, out
