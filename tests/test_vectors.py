"""Stimulus (exmy.sim.vectors): validation, shapes and order, and the corner and boundary codes
checked against an independent decoder (ml_dtypes)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from exmy.golden.format import FloatFormat, IntFormat, catalog_formats, parse_format
from exmy.sim import vectors as V

# Formats that ml_dtypes (or numpy) can decode: the independent oracle for corner names.
ORACLE = {
    f: getattr(ml_dtypes, f.catalog_name, None) or np.dtype(f.catalog_name)
    for f in catalog_formats()
    if f.catalog_name and f.width <= 16
}


def decode(fmt: FloatFormat, codes) -> np.ndarray:
    """float64 values of ``codes`` via ml_dtypes."""
    dt = np.dtype(ORACLE[fmt])
    raw = np.asarray(codes, dtype=np.uint64).astype(np.uint8 if dt.itemsize == 1 else np.uint16)
    with np.errstate(invalid="ignore"):
        return raw.view(dt).astype(np.float64)


# -- argument validation --------------------------------------------------------------------
def test_validation_messages():
    rng = np.random.default_rng(0)
    f = parse_format("e4m3fn")
    with pytest.raises(
        TypeError,
        match=r"^Format must be a FloatFormat or IntFormat, "
        r"not 'e4m3'$",
    ):
        V.corners("e4m3")
    with pytest.raises(TypeError, match=r"^Vector count must be an integer, not 1\.5$"):
        V.uniform(f, 1.5, rng)
    with pytest.raises(ValueError, match=r"^Vector count must be >= 0, not -1$"):
        V.biased(f, -1, rng)
    with pytest.raises(
        TypeError,
        match=r"^Random generator must be a numpy\.random\."
        r"Generator, not 3$",
    ):
        V.uniform(f, 4, 3)
    with pytest.raises(
        ValueError,
        match=r"^Exhaustive stimulus over float16 x float16 is "
        r"2\*\*32 vectors; at most 2\*\*28",
    ):
        V.exhaustive(parse_format("float16"), parse_format("float16"))
    with pytest.raises(ValueError, match=r"^Exhaustive stimulus needs at least one format$"):
        V.exhaustive()
    with pytest.raises(TypeError, match=r"^Format must be a FloatFormat, not IntFormat"):
        V.boundaries(IntFormat(8), f)


# -- exhaustive -----------------------------------------------------------------------------
def test_exhaustive_order_and_size():
    a, b = V.exhaustive(parse_format("e2m1fn"), parse_format("e5m2"))
    assert a.dtype == b.dtype == np.uint64
    assert len(a) == len(b) == 16 * 256
    assert a[:257].tolist() == [0] * 256 + [1]
    assert b[:258].tolist() == list(range(256)) + [0, 1]
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    assert len(pairs) == 16 * 256
    (x,) = V.exhaustive(IntFormat(8, signed=False))
    assert x.tolist() == list(range(256))


def test_exhaustive_of_is_a_cartesian_product():
    x, y = V.exhaustive_of([np.array([5, 7]), np.array([1, 2, 3])])
    assert x.tolist() == [5, 5, 5, 7, 7, 7]
    assert y.tolist() == [1, 2, 3, 1, 2, 3]


# -- corners --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(ORACLE), ids=str)
def test_named_corners_decode_as_named(fmt):
    """Each named corner decodes (ml_dtypes) to the value its name promises."""
    names = V.named_corners(fmt)
    fi = ml_dtypes.finfo(ORACLE[fmt])
    value = {name: float(decode(fmt, [code])[0]) for name, code in names.items()}
    p = "+" if fmt.signed else ""
    assert value[f"{p}max_finite"] == float(fi.max)
    assert value[f"{p}min_normal"] == float(fi.smallest_normal)
    assert value[f"{p}1"] == 1.0
    if f"{p}1+ulp" in value:
        assert value[f"{p}1+ulp"] == 1.0 + float(fi.eps)
    if f"{p}1-ulp" in value:
        assert value[f"{p}1-ulp"] == 1.0 - float(fi.epsneg)
    if fmt.subnormals and fmt.man_bits:
        assert value[f"{p}min_subnormal"] == float(fi.smallest_subnormal)
        assert value[f"{p}max_subnormal"] == float(fi.smallest_normal) - float(
            fi.smallest_subnormal
        )
    if fmt.zero:
        assert value[f"{p}0"] == 0.0
    if fmt.has_neg_zero:
        assert value["-0"] == 0.0 and np.signbit(value["-0"])
    if fmt.has_inf:
        assert value["+inf"] == np.inf and value["-inf"] == -np.inf
    for name, v in value.items():
        is_nan_name = "nan" in name
        assert np.isnan(v) == is_nan_name, (name, v)
        if fmt.signed and name.startswith("-") and not np.isnan(v) and v != 0:
            assert v < 0, name


@pytest.mark.parametrize("fmt", [f for f in ORACLE if f.special in ("fn", "fnuz")], ids=str)
def test_corners_hold_every_nan_code_of_fn_formats(fmt):
    (every,) = V.exhaustive(fmt)
    nan_codes = set(every[np.isnan(decode(fmt, every))].tolist())
    assert nan_codes and nan_codes <= set(V.corners(fmt).tolist())


@pytest.mark.parametrize(
    "fmt",
    catalog_formats() + [parse_format(n) for n in ("e4m3-ftz", "e3m2-u", "int8", "uint4")],
    ids=str,
)
def test_corners_are_valid_and_distinct(fmt):
    c = V.corners(fmt)
    assert c.dtype == np.uint64
    assert len(set(c.tolist())) == len(c)
    assert int(c.max()) < 1 << fmt.width


def test_int_corners():
    names = V.named_corners(IntFormat(8))
    assert names["max"] == 0x7F and names["min"] == 0x80 and names["-1"] == 0xFF
    assert names["-2^6"] == 0xC0
    assert V.named_corners(IntFormat(4, signed=False))["max"] == 0xF


# -- boundaries -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "src,dst",
    [("float16", "e4m3fn"), ("float16", "e5m2"), ("bfloat16", "e4m3"), ("float16", "e2m1fn")],
)
def test_boundaries_hold_every_midpoint(src, dst):
    """Every midpoint between adjacent finite values of dst (and the overflow threshold), as a
    src code, is in boundaries(src, dst), with its two neighbours."""
    fs, fd = parse_format(src), parse_format(dst)
    (every,) = V.exhaustive(fd)
    vals = np.unique(decode(fd, every))
    vals = vals[np.isfinite(vals) & (vals >= 0)]
    mids = (vals[:-1] + vals[1:]) / 2
    top = vals[-1] + (vals[-1] - vals[-2]) / 2  # overflow threshold
    targets = np.append(mids, top)
    src_dt = np.dtype(ORACLE[fs])
    as_src = targets.astype(src_dt)
    exact = as_src.astype(np.float64) == targets  # midpoints src can represent
    codes = as_src[exact].view(np.uint16).astype(np.uint64)
    got = set(V.boundaries(fs, fd).tolist())
    missing = [hex(c) for c in codes.tolist() if c not in got]
    assert not missing, missing[:10]
    neighbours = [c + d for c in codes.tolist() for d in (-1, 1) if c + d not in got]
    assert not neighbours, [hex(c) for c in neighbours[:10]]
    assert exact.sum() > 0.9 * len(targets)


def test_boundaries_to_int_are_half_integers():
    fs = parse_format("float16")
    codes = V.boundaries(fs, IntFormat(8))
    vals = decode(fs, codes)
    halves = vals[np.abs(vals) <= 256]
    assert {0.5, 1.5, 2.5, -0.5, 127.5, -128.5} <= set(halves.tolist())


# -- random ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [V.uniform, V.biased])
@pytest.mark.parametrize("name", ["e4m3fn", "float32", "e8m0fnu", "int8", "uint4", "int32"])
def test_random_is_deterministic_and_in_range(fn, name):
    fmt = parse_format(name)
    x = fn(fmt, 5000, np.random.default_rng(42))
    y = fn(fmt, 5000, np.random.default_rng(42))
    assert x.dtype == np.uint64 and len(x) == 5000
    assert np.array_equal(x, y)
    assert int(x.max()) < 1 << fmt.width
    assert not np.array_equal(x, fn(fmt, 5000, np.random.default_rng(43)))


def test_biased_concentrates_on_extreme_and_unit_exponents():
    fmt = parse_format("float16")
    rng = np.random.default_rng(1)
    exp_b = (V.biased(fmt, 20000, rng) >> np.uint64(10)) & np.uint64(31)
    exp_u = (V.uniform(fmt, 20000, rng) >> np.uint64(10)) & np.uint64(31)
    special = lambda e: np.isin(e, [0, 1, 2, 29, 30, 31, 14, 15, 16]).mean()  # noqa: E731
    assert special(exp_b) > 0.7 > 0.4 > special(exp_u)


def test_biased_int_hits_extremes():
    x = V.biased(IntFormat(8), 4000, np.random.default_rng(5))
    s = set(x.tolist())
    assert {0x7F, 0x80, 0x00, 0xFF} <= s
