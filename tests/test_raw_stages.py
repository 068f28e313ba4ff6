"""The raw stages, each hardware stage against its golden twin (issue 12), in the Amaranth
simulator: ``decode`` (every encoding of the 8-bit and smaller formats), ``mul_raw`` (every
operand pair, 8-bit formats included),
the round stage (``round`` / ``Rounder`` on golden's ``Raw``, and the rounder's contracts
``round_standard``, ``round_align_max``, ``round_approximate`` with G = 1, on random raw
values: normal, subnormal, overflowing, zero and special) against golden ``encode`` of the
same exact value, and ``encode`` (every on-grid value) against golden ``encode``'s packing.
Golden's own stages (``add_raw``, ``round``) are checked against exact rationals. The FMA's
``add_raw`` (hdl/fma_add.py: alignment and addition, one-piece and fmax mode's fine structure,
reached through ``fma_sum``: decode, mul_raw, add_raw) against golden ``add_raw`` of the same
product and addend, at the output's round bit, on the FMA's own stimulus (sim/check_fma.py)."""

from __future__ import annotations

import zlib
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Const, Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from exmy.golden import (
    Raw,
    add_raw,
    decode,
    encode,
    fma_raw,
    mul_raw,
    multiply_raw,
)
from exmy.golden import round as golden_round
from exmy.golden.format import parse_format
from exmy.golden.params import fma_window_bits
from exmy.hdl.float import RawLayout, product_inf, product_nan
from exmy.hdl.float import as_raw as hw_as_raw
from exmy.hdl.float import decode as hw_decode
from exmy.hdl.float import mul_raw as hw_mul_raw
from exmy.hdl.fma import FMA_CUTS, fma_sum
from exmy.hdl.rounding import Rounder, round_align_max, round_approximate, round_standard
from exmy.hdl.rounding import encode as hw_encode
from exmy.hdl.rounding import round as hw_round
from exmy.hdl.timing import Probe, delay_model
from exmy.hdl.util import Pipeline
from exmy.sim.check_fma import fma_stimulus

N = 1500  # random raw values per configuration


def _simulate(dut, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, list[int]]:
    """Drive a combinational component with one vector per step; read ``outputs``."""
    got: dict[str, list[int]] = {o: [] for o in outputs}
    n = len(next(iter(inputs.values())))

    async def bench(ctx):
        for i in range(n):
            for name, vals in inputs.items():
                port = getattr(dut, name)
                port = port.as_value() if isinstance(port, data.View) else port
                ctx.set(port, int(vals[i]))
            for o in outputs:
                port = getattr(dut, o)
                port = port.as_value() if isinstance(port, data.View) else port
                got[o].append(ctx.get(port))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


# -- the product rule ---------------------------------------------------------------------
class _ProductFlags(wiring.Component):
    def __init__(self, fa, fb):
        self.fa, self.fb = fa, fb
        super().__init__({"a": In(fa.width), "b": In(fb.width), "nan": Out(1), "inf": Out(1)})

    def elaborate(self, platform):
        m = Module()
        a = hw_decode(m, self.a, self.fa, "a")
        b = hw_decode(m, self.b, self.fb, "b")
        nan = product_nan(a, b)
        m.d.comb += [self.nan.eq(nan), self.inf.eq(product_inf(a, b, nan))]
        return m


@pytest.mark.parametrize("fa, fb", [("e5m2", "e4m3fn"), ("e4m3fnuz", "e3m2"),
                                    ("e2m1fn", "e5m2")])
def test_product_rule_matches_golden_mul_raw(fa, fb):
    fa, fb = parse_format(fa), parse_format(fb)
    a, b = np.meshgrid(np.arange(1 << fa.width), np.arange(1 << fb.width))
    a, b = a.ravel(), b.ravel()
    keep = np.random.default_rng(0).permutation(len(a))[:N]
    # every special/zero code of each operand against every code of the other, plus a sample
    special = lambda x, f: decode(x, f).nan | decode(x, f).inf | (decode(x, f).sig == 0)  # noqa: E731
    sel = np.union1d(keep, np.flatnonzero(special(a, fa) | special(b, fb)))
    a, b = a[sel], b[sel]
    got = _simulate(_ProductFlags(fa, fb), {"a": a, "b": b}, ["nan", "inf"])
    want = mul_raw(a, b, fa, fb)
    assert np.array_equal(got["nan"], want.nan.astype(int))
    assert np.array_equal(got["inf"], want.inf.astype(int))


# -- the rounder's contracts --------------------------------------------------------------
class _RawToEncoding(wiring.Component):
    """Ports sign, sig (W bits), exp (signed), sticky, is_nan, is_inf, [rand] -> y, through
    one of the rounder contracts."""

    def __init__(self, contract, fmt, W, EW, *, rand_bits=0, **kw):
        self.contract, self.fmt, self.kw = contract, fmt, kw
        ports = {"sign": In(1), "sig": In(W), "exp": In(signed(EW)), "sticky": In(1),
                 "is_nan": In(1), "is_inf": In(1), "y": Out(fmt.width)}
        if rand_bits:
            ports["rand"] = In(rand_bits)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        rand = {"rand": self.rand} if hasattr(self, "rand") else {}
        y = self.contract(m, self.fmt, sign=self.sign, sig=self.sig, exp=self.exp,
                          sticky=self.sticky, is_nan=self.is_nan, is_inf=self.is_inf,
                          **rand, **self.kw)
        m.d.comb += self.y.eq(y)
        return m


def _raw_values(fmt, W, rng, *, top_free_below=None):
    """Random raw values under the standard contract (leading one at W-1 or W-2, or zero),
    exponents (weight of bit W-1) from below the subnormal range to above emax; with
    ``top_free_below``, values with exp <= that bound have their leading one anywhere."""
    p = fmt.sig_bits
    exp = rng.integers(fmt.emin - p - 4, fmt.emax + 3, N)
    sig = rng.integers(1 << (W - 2), 1 << W, N)
    if top_free_below is not None:
        free = exp <= top_free_below
        sig = np.where(free, rng.integers(0, 1 << W, N), sig)
    sig = np.where(rng.random(N) < 0.03, 0, sig)
    sticky = rng.random(N) < 0.3
    nan = rng.random(N) < 0.03
    inf = ~nan & (rng.random(N) < 0.03)
    sign = rng.integers(0, 2, N)
    if not fmt.signed:
        sign = np.where(rng.random(N) < 0.8, 0, sign)
    return dict(sign=sign, sig=sig, exp=exp, sticky=sticky.astype(int), is_nan=nan.astype(int),
                is_inf=inf.astype(int))


def _golden(v, fmt, W, **kw):
    raw = Raw(v["sign"].astype(np.uint8), v["sig"].astype(np.int64),
              (v["exp"] - (W - 1)).astype(np.int64), v["is_nan"].astype(bool),
              v["is_inf"].astype(bool), v["sticky"].astype(bool))
    return encode(raw, fmt, **kw)


CASES = [
    ("float8_e4m3fn", "rne", False, 0),
    ("float8_e4m3fn", "rna", True, 0),
    ("float8_e5m2", "rtz", False, 0),
    ("float8_e5m2", "stochastic", False, 3),
    ("e3m2-fnuz", "rne", False, 0),
    ("bfloat16", "rne", True, 0),
    ("e4m3-u", "rne", False, 0),
]


@pytest.mark.parametrize("fmt, rounding, saturate, R", CASES)
def test_round_standard_matches_golden_encode(fmt, rounding, saturate, R):
    fmt = parse_format(fmt)
    W, EW = fmt.sig_bits + 6, 10
    rng = np.random.default_rng(zlib.crc32(f"{fmt.name} {rounding}".encode()))
    v = _raw_values(fmt, W, rng)
    ins = dict(v)
    kw = {}
    if R:
        ins["rand"] = rng.integers(0, 1 << R, N)
        kw = dict(rand=ins["rand"], rand_bits=R)
    dut = _RawToEncoding(round_standard, fmt, W, EW, rand_bits=R, rounding=rounding,
                         saturate=saturate)
    got = np.array(_simulate(dut, ins, ["y"])["y"])
    want = _golden(v, fmt, W, rounding=rounding, saturate=saturate, **kw)
    bad = np.flatnonzero(got != want)
    assert not len(bad), [(int(v["sig"][i]), int(v["exp"][i]), hex(got[i]), hex(want[i]))
                          for i in bad[:5]]


@pytest.mark.parametrize("fmt, rounding, k", [("float8_e4m3fn", "rne", 0),
                                               ("float8_e5m2", "rtz", 0),
                                               ("bfloat16", "rna", 2)])
def test_round_align_max_matches_golden_encode(fmt, rounding, k):
    """align_max=k: the caller keeps exp >= emin - k and leaves values at or below emin
    unnormalised (a subnormal on its grid)."""
    fmt = parse_format(fmt)
    W, EW = fmt.sig_bits + 6, 10
    rng = np.random.default_rng(7 + k)
    v = _raw_values(fmt, W, rng, top_free_below=fmt.emin)
    v["exp"] = np.maximum(v["exp"], fmt.emin - k)
    dut = _RawToEncoding(round_align_max, fmt, W, EW, align_max=k, rounding=rounding)
    got = np.array(_simulate(dut, v, ["y"])["y"])
    want = _golden(v, fmt, W, rounding=rounding)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("fmt, rounding", [("float8_e4m3fn", "rne"), ("bfloat16", "rtz")])
def test_round_approximate_g1_matches_golden_encode(fmt, rounding):
    """granularity 1 without a window (leading one at the top bit, nothing capped) is the
    standard rounding, bit for bit."""
    fmt = parse_format(fmt)
    W, EW = fmt.sig_bits + 6, 10
    rng = np.random.default_rng(11)
    v = _raw_values(fmt, W, rng)
    v["sig"] = np.where(v["sig"] == 0, 0, v["sig"] | (1 << (W - 1)))  # leading one on top
    dut = _RawToEncoding(round_approximate, fmt, W, EW, granularity=1, capped=False,
                         rounding=rounding)
    got = np.array(_simulate(dut, v, ["y"])["y"])
    want = _golden(v, fmt, W, rounding=rounding)
    assert np.array_equal(got, want)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_round_standard_refuses_other_contracts_arguments():
    m = Module()
    with pytest.raises(TypeError, match=r"^round_standard takes no align_max, granularity; use "
                       r"round_align_max or round_approximate$"):
        round_standard(m, parse_format("e4m3fn"), align_max=0, granularity=2)


@pytest.mark.parametrize("fmt, rounding, R", [("float8_e4m3fn", "rne", 0),
                                              ("float8_e5m2", "stochastic", 4),
                                              ("bfloat16", "rtz", 0)])
def test_rounder_takes_golden_raw_field_for_field(fmt, rounding, R):
    """The typed raw intermediate (RawLayout, golden's exponent convention) into the Rounder
    component against golden encode of the same Raw, no conversion in the test."""
    fmt = parse_format(fmt)
    W = fmt.sig_bits + 6
    rng = np.random.default_rng(zlib.crc32(f"rounder {fmt.name} {rounding}".encode()))
    v = _raw_values(fmt, W, rng)
    lsb = v["exp"] - (W - 1)  # golden's convention: the weight of sig's LSB
    zero = (v["sig"] == 0) & (v["sticky"] == 0) & (v["is_nan"] == 0) & (v["is_inf"] == 0)
    layout = RawLayout(W, 10)
    fields = {"sign": v["sign"], "exp": lsb, "sig": v["sig"], "sticky": v["sticky"],
              "is_nan": v["is_nan"], "is_inf": v["is_inf"], "is_zero": zero}
    packed = [layout.const({k: int(x[i]) for k, x in fields.items()}).as_value().value
              for i in range(N)]
    ins = {"raw": np.array(packed, dtype=object)}
    kw = {}
    if R:
        ins["rand"] = rng.integers(0, 1 << R, N)
        kw = dict(rand=ins["rand"], rand_bits=R)
    dut = Rounder(fmt, W, 10, rounding=rounding, rand_bits=R or None)
    got = np.array(_simulate(dut, ins, ["y"])["y"])
    raw = Raw(v["sign"].astype(np.uint8), v["sig"].astype(np.int64), lsb.astype(np.int64),
              v["is_nan"].astype(bool), v["is_inf"].astype(bool), v["sticky"].astype(bool))
    assert np.array_equal(got, encode(raw, fmt, rounding=rounding, **kw))


def test_raw_layout_arguments():
    assert list(dict(RawLayout(8, 6).members)) == ["sign", "exp", "sig", "sticky", "is_nan",
                                                   "is_inf", "is_zero"]
    with pytest.raises(ValueError, match=r"^RawLayout sig_width must be a positive integer, "
                       r"not 0$"):
        RawLayout(0, 6)
    with pytest.raises(ValueError, match=r"^RawLayout exp_width must be an integer >= 2, "
                       r"not 1$"):
        RawLayout(8, 1)


# -- the stages, one by one: hardware against its golden twin -------------------------------
#: formats the stage tests run exhaustively over (every encoding; all at most 9 bits): every
#: special-value scheme, subnormals off (-ftz), unsigned (-u), no zero (e8m0fnu)
STAGE_FORMATS = ["e4m3", "e5m2", "e4m3fn", "e4m3fnuz", "e5m2fnuz", "e3m4", "e2m3fn",
                 "e3m2fn", "e2m1fn", "e4m3-ftz", "e4m3-u", "e8m0fnu"]
EW = 12  # RawLayout exponent width for the stage outputs (holds every exponent below)


def _raw_fields(layout: RawLayout, packed) -> dict[str, np.ndarray]:
    """A RawLayout port's values, unpacked into arrays per field (exp as a signed int)."""
    out = {}
    for name, field in layout:
        vals = np.array([(int(v) >> field.offset) & ((1 << field.width) - 1) for v in packed],
                        dtype=object)
        if field.shape.signed:
            vals = np.array([v - (1 << field.width) if v >> (field.width - 1) else v
                             for v in vals], dtype=object)
        out[name] = vals.astype(np.int64)
    return out


class _Decode(wiring.Component):
    """``bits`` -> decode -> as_raw -> ``raw`` (golden's convention)."""

    def __init__(self, fmt, normalize_sub):
        self.fmt, self.normalize_sub = fmt, normalize_sub
        self.layout = RawLayout(fmt.sig_bits, EW)
        super().__init__({"bits": In(fmt.width), "raw": Out(self.layout)})

    def elaborate(self, platform):
        m = Module()
        up = hw_decode(m, self.bits, self.fmt, "a", normalize_sub=self.normalize_sub)
        m.d.comb += self.raw.eq(hw_as_raw(m, up, self.layout, "a_raw"))
        return m


def _check_raw(got: dict, want: Raw, *, exact_fields: bool):
    """A hardware stage's RawLayout output against golden's Raw: the flags always; for the
    finite lanes the sign, the zero flag and the value (``exact_fields``: sig and exp too);
    the sign of a NaN is not compared (hardware's is 0, golden keeps the code's)."""
    nan, inf = want.nan.astype(bool), want.inf.astype(bool)
    assert np.array_equal(got["is_nan"].astype(bool), nan)
    assert np.array_equal(got["is_inf"].astype(bool), inf)
    fin = ~nan & ~inf
    assert np.array_equal(got["sign"][~nan], want.sign[~nan].astype(np.int64))
    assert np.array_equal(got["is_zero"][fin].astype(bool), (want.sig == 0)[fin])
    assert not got["sticky"].any()
    if exact_fields:
        assert np.array_equal(got["sig"][fin], want.sig[fin])
        assert np.array_equal(got["exp"][fin], want.exp[fin])
    else:  # the same value: sig * 2**exp (as exact integers above the lowest exponent)
        lo = int(min(got["exp"][fin].min(), want.exp[fin].min()))
        hv = [int(s) << int(e - lo) for s, e in zip(got["sig"][fin], got["exp"][fin],
                                                   strict=True)]
        gv = [int(s) << int(e - lo) for s, e in zip(want.sig[fin], want.exp[fin], strict=True)]
        assert hv == gv


@pytest.mark.parametrize("normalize_sub", [False, True])
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
def test_decode_matches_golden_decode(fmt, normalize_sub):
    """Every encoding: without subnormal normalisation golden's fields exactly; with it (the
    multiplier's form, leading one on top) the same value."""
    fmt = parse_format(fmt)
    codes = np.arange(1 << fmt.width)
    dut = _Decode(fmt, normalize_sub)
    got = _raw_fields(dut.layout, _simulate(dut, {"bits": codes}, ["raw"])["raw"])
    _check_raw(got, decode(codes, fmt), exact_fields=not normalize_sub)


class _MulRaw(wiring.Component):
    """``a``, ``b`` -> decode -> mul_raw -> as_raw -> ``raw``."""

    def __init__(self, fa, fb, normalize_sub=False):
        self.fa, self.fb, self.normalize_sub = fa, fb, normalize_sub
        self.layout = RawLayout(fa.sig_bits + fb.sig_bits, EW)
        super().__init__({"a": In(fa.width), "b": In(fb.width), "raw": Out(self.layout)})

    def elaborate(self, platform):
        m = Module()
        a = hw_decode(m, self.a, self.fa, "a", normalize_sub=self.normalize_sub)
        b = hw_decode(m, self.b, self.fb, "b", normalize_sub=self.normalize_sub)
        lo = self.fa.emin - self.fa.man_bits + self.fb.emin - self.fb.man_bits - 2
        hi = self.fa.emax + self.fb.emax + 3
        p = hw_mul_raw(m, a, b, exp_shape=range(lo, hi + 1))
        m.d.comb += self.raw.eq(hw_as_raw(m, p, self.layout, "p_raw"))
        return m


#: operand pairs of mul_raw, every pair of codes (more 8-bit pairs in the slow tier)
MUL_PAIRS = [("e2m1fn", "e4m3"), ("e3m2fn", "e2m3fn"), ("e2m1fn", "e4m3fnuz"),
             ("e4m3-ftz", "e2m1fn"), ("e4m3-u", "e2m1fn")]
MUL_PAIRS_8BIT = [("e4m3", "e5m2"), ("e4m3fn", "e4m3fnuz"), ("e5m2fnuz", "e3m4")]


def _mul_raw_check(fa, fb, normalize_sub=False):
    fa, fb = parse_format(fa), parse_format(fb)
    a, b = np.meshgrid(np.arange(1 << fa.width), np.arange(1 << fb.width))
    a, b = a.ravel(), b.ravel()
    dut = _MulRaw(fa, fb, normalize_sub)
    got = _raw_fields(dut.layout, _simulate(dut, {"a": a, "b": b}, ["raw"])["raw"])
    _check_raw(got, mul_raw(a, b, fa, fb), exact_fields=not normalize_sub)


@pytest.mark.parametrize("fa, fb", MUL_PAIRS + MUL_PAIRS_8BIT)
def test_mul_raw_matches_golden_mul_raw(fa, fb):
    """Every operand pair (8-bit x 8-bit: 65536): the product's fields, golden's exactly
    (specials: the flags)."""
    _mul_raw_check(fa, fb)


@pytest.mark.parametrize("fa, fb", MUL_PAIRS)
def test_mul_raw_of_normalised_operands_matches_golden_mul_raw(fa, fb):
    """The Multiplier's form (subnormal operands normalised by decode): the same value."""
    _mul_raw_check(fa, fb, normalize_sub=True)


@pytest.mark.slow
@pytest.mark.parametrize("normalize_sub", [False, True])
@pytest.mark.parametrize("fa, fb", [("e5m2", "e5m2"), ("e4m3", "e4m3fn"), ("e3m4", "e3m4"),
                                    ("e4m3-u", "e5m2fnuz")])
def test_mul_raw_matches_golden_mul_raw_more_pairs(fa, fb, normalize_sub):
    _mul_raw_check(fa, fb, normalize_sub)


class _Encode(wiring.Component):
    """The encode stage alone: ports sign, normal, man, exp, zero, is_nan, is_inf -> y."""

    def __init__(self, fmt, **kw):
        self.fmt, self.kw = fmt, kw
        super().__init__({"sign": In(1), "normal": In(1), "man": In(max(fmt.man_bits, 1)),
                          "exp": In(signed(EW)), "zero": In(1), "is_nan": In(1),
                          "is_inf": In(1), "y": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        y = hw_encode(m, self.fmt, sign=self.sign, normal=self.normal, man=self.man, exp=self.exp,
                   zero=self.zero, is_nan=self.is_nan, is_inf=self.is_inf, **self.kw)
        m.d.comb += self.y.eq(y)
        return m


def _on_grid_values(fmt):
    """Every rounded value encode can be handed, as its inputs and as golden's Raw: each
    sign with every normal significand at every exponent from emin to emax + 2 (overflow),
    every subnormal one, an exact zero, a non-zero value rounded to zero, NaN and Inf."""
    M = fmt.man_bits
    rows = []  # (sign, normal, man, exp, zero, nan, inf)
    for s in (0, 1):
        for e in range(fmt.emin, fmt.emax + 3):
            rows += [(s, 1, man, e, 0, 0, 0) for man in range(1 << M)]
        rows += [(s, 0, man, fmt.emin, 0, 0, 0) for man in range(1, 1 << M)]
        rows += [(s, 0, 0, fmt.emin, 1, 0, 0), (s, 0, 0, fmt.emin, 0, 0, 0),
                 (s, 0, 0, fmt.emin, 0, 1, 0), (s, 0, 0, fmt.emin, 0, 0, 1)]
    v = {k: np.array(c) for k, c in zip(("sign", "normal", "man", "exp", "zero", "is_nan",
                                         "is_inf"), zip(*rows, strict=True), strict=True)}
    sig = np.where(v["normal"] == 1, v["man"] | (1 << M), v["man"])
    sig = np.where(v["is_nan"] | v["is_inf"], 0, sig)
    rounded_to_zero = (v["normal"] == 0) & (v["man"] == 0) & (v["zero"] == 0)
    raw = Raw(v["sign"].astype(np.uint8), sig.astype(np.int64),
              np.where(v["normal"] == 1, v["exp"], fmt.emin).astype(np.int64) - M,
              v["is_nan"].astype(bool), v["is_inf"].astype(bool),
              (rounded_to_zero & ~v["is_nan"].astype(bool) & ~v["is_inf"].astype(bool)))
    return v, raw


ENCODE_CASES = [("e4m3", "rne", False), ("e4m3", "rtz", False), ("e5m2", "rne", True),
                ("e4m3fn", "rne", False), ("e4m3fn", "rtz", False), ("e4m3fnuz", "rne", False),
                ("e5m2fnuz", "rna", True), ("e2m1fn", "rne", False), ("e4m3-ftz", "rne", False),
                ("e4m3-u", "rne", False), ("e8m0fnu", "rne", False), ("e3m2fn", "rtz", True)]


@pytest.mark.parametrize("fmt, rounding, saturate", ENCODE_CASES)
def test_encode_matches_golden_encode(fmt, rounding, saturate):
    """Every value on the format's grid (what the rounder hands encode) against golden
    ``encode`` of the same exact value, which has nothing left to round: its packing."""
    fmt = parse_format(fmt)
    v, raw = _on_grid_values(fmt)
    want = encode(raw, fmt, rounding=rounding, saturate=saturate)
    # (golden round keeps an on-grid value: encode's packing is all that acts)
    r = golden_round(raw, fmt, rounding=rounding)
    live = ~raw.nan & ~raw.inf
    assert np.array_equal(r.sig[live] << (r.exp[live] - raw.exp[live]).clip(0),
                          raw.sig[live] << (raw.exp[live] - r.exp[live]).clip(0))
    dut = _Encode(fmt, rounding=rounding, saturate=saturate)
    got = np.array(_simulate(dut, v, ["y"])["y"])
    bad = np.flatnonzero(got != want)
    assert not len(bad), [({k: int(x[i]) for k, x in v.items()}, hex(got[i]), hex(want[i]))
                          for i in bad[:4]]


# -- golden's raw stages against exact rationals (the oracle: Fractions written here) -----------
def _frac(sign, sig, exp) -> Fraction:
    v = Fraction(int(sig)) * Fraction(2) ** int(exp)
    return -v if sign else v


def _half(rem: Fraction, q: Fraction) -> int:
    """Where a remainder lies against half the quantum: -1 below, 0 on it, 1 above."""
    return (rem > q / 2) - (rem < q / 2)


def _random_raws(rng, n, max_bits):
    """Exact Raw addends: random signs, significands of 0..max_bits bits (some zero), exponents
    close together or far apart, a few NaN and Inf lanes (sig 0, as golden's stages give)."""
    bits = rng.integers(0, max_bits + 1, n)
    sig = np.array([int(rng.integers(0, 1 << int(b))) if b else 0 for b in bits], dtype=np.int64)
    exp = rng.integers(-40, 40, n) + np.where(rng.random(n) < 0.5, 0, rng.integers(-3, 4, n))
    nan = rng.random(n) < 0.03
    inf = ~nan & (rng.random(n) < 0.04)
    sig = np.where(nan | inf, 0, sig)
    return Raw(rng.integers(0, 2, n).astype(np.uint8), sig, exp.astype(np.int64), nan, inf)


@pytest.mark.parametrize("precision, widths", [(4, (12, 6)), (11, None), (24, (48, 24)),
                                               (2, (3, 3))])
def test_golden_add_raw_is_the_exact_sum(precision, widths):
    """add_raw's contract against the exact rational sum: the value up to the sticky, the
    sign, the leading bit, and rounding at every permitted quantum equals rounding the sum."""
    rng = np.random.default_rng(precision)
    n = 3000
    wx, wy = widths or (20, 20)
    x, y = _random_raws(rng, n, wx), _random_raws(rng, n, wy)
    r = add_raw(x, y, precision=precision, widths=widths)
    assert (r.sig < (1 << 59)).all()
    for i in range(n):
        if x.nan[i] or y.nan[i] or (x.inf[i] and y.inf[i] and x.sign[i] != y.sign[i]):
            assert r.nan[i] and not r.inf[i]
            continue
        if x.inf[i] or y.inf[i]:
            assert r.inf[i] and not r.nan[i]
            assert r.sign[i] == (x.sign[i] if x.inf[i] else y.sign[i])
            continue
        assert not (r.nan[i] or r.inf[i])
        s = _frac(x.sign[i], x.sig[i], x.exp[i]) + _frac(y.sign[i], y.sig[i], y.exp[i])
        sig, e = int(r.sig[i]), int(r.exp[i])
        lo, hi = Fraction(sig) * Fraction(2) ** e, Fraction(sig + 1) * Fraction(2) ** e
        if r.sticky[i]:
            assert lo < abs(s) < hi
        else:
            assert abs(s) == lo
        if s:
            assert r.sign[i] == (s < 0)
            lead = e + sig.bit_length() - 1
            assert Fraction(2) ** lead <= abs(s) < Fraction(2) ** (lead + 1)
            # rounding (rtz, and to nearest: the half-way test) at the finest permitted quantum
            q = Fraction(2) ** (lead - precision + 1)
            # (q >= 2 * 2**e when sticky: any value in (lo, hi) rounds alike; take the middle)
            mine = lo + (Fraction(2) ** e / 2 if r.sticky[i] else 0)
            assert abs(s) // q == mine // q
            assert _half(abs(s) % q, q) == _half(mine % q, q)
        else:  # an exact zero: +0 unless both addends are -0
            assert r.sign[i] == (x.sign[i] & y.sign[i])


def test_golden_fma_raw_is_add_raw_of_mul_raw_and_decode():
    rng = np.random.default_rng(5)
    for fa, fc, p in (("e4m3", "e4m3", 4), ("bfloat16", "e5m2", 8), ("e2m1fn", "float16", 30)):
        fa, fc = parse_format(fa), parse_format(fc)
        a, b = rng.integers(0, 1 << fa.width, (2, 4000))
        c = rng.integers(0, 1 << fc.width, 4000)
        want = fma_raw(a, b, c, fa, fa, fc, precision=p)
        got = add_raw(mul_raw(a, b, fa, fa), decode(c, fc), precision=p,
                      widths=(2 * fa.sig_bits, fc.sig_bits))
        for f in Raw._fields:
            assert np.array_equal(getattr(got, f), getattr(want, f)), f


def test_golden_add_raw_arguments():
    one = Raw(np.uint8(0), np.int64(1), np.int64(0), np.False_, np.False_)
    cases = [
        ((1, one), {}, TypeError, "add_raw addend x must be a Raw, not 1"),
        ((one, one._replace(sticky=np.True_)), {}, ValueError,
         "add_raw takes exact addends; addend y has sticky lanes"),
        ((one._replace(sig=np.float64(1)), one), {}, TypeError,
         "add_raw addend x must have integer significands, not float64"),
        ((one._replace(sig=np.int64(-3)), one), {}, ValueError,
         "add_raw addend x has a negative significand, -3"),
        ((one, one._replace(sig=np.array([1 << 57], dtype=object))), {}, ValueError,
         "add_raw addend y has a 58-bit significand; at most 57"),
        ((one, one), {"widths": 8}, TypeError,
         "add_raw widths must be a pair of integers or None, not 8"),
        ((one, one), {"widths": (8, 2.0)}, TypeError,
         "add_raw width of addend y must be an integer, not 2.0"),
        ((one, one), {"widths": (0, 8)}, ValueError,
         "add_raw width of addend x must be in 1..57, not 0"),
        ((one._replace(sig=np.int64(9)), one), {"widths": (3, 8)}, ValueError,
         "add_raw addend x has a 4-bit significand, wider than its width 3"),
        ((one, one), {"precision": 0}, ValueError, "Precision must be in 1..55, not 0"),
    ]
    for args, kw, exc, msg in cases:
        kw = {"precision": 4, **kw}
        with pytest.raises(exc) as info:
            add_raw(*args, **kw)
        assert str(info.value) == msg


def _round_oracle(v: Fraction, fmt, rounding) -> Fraction:
    """``v`` rounded to p bits on fmt's grid (subnormal quantum below emin, no upper bound)."""
    if v == 0:
        return Fraction(0)
    a = abs(v)
    lead = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** lead > a:
        lead -= 1
    q = Fraction(2) ** max(lead - fmt.man_bits, fmt.emin - fmt.man_bits)
    k, rem = divmod(a, q)
    if rounding == "rne":
        k += rem > q / 2 or (rem == q / 2 and k % 2 == 1)
    elif rounding == "rna":
        k += rem >= q / 2
    return k * q if v > 0 else -k * q


@pytest.mark.parametrize("fmt, rounding", [("e4m3", "rne"), ("e5m2", "rtz"), ("e2m1fn", "rna"),
                                           ("bfloat16", "rne"), ("e4m3-ftz", "rtz")])
def test_golden_round_is_rounding_on_the_grid(fmt, rounding):
    """round against rounding the exact value with Fractions; encode of round's result equals
    encode of the raw value except where it rounded a non-zero value to zero."""
    fmt = parse_format(fmt)
    rng = np.random.default_rng(zlib.crc32(f"{fmt.name} {rounding}".encode()))
    n = 3000
    sig = rng.integers(0, 1 << 30, n) >> rng.integers(0, 31, n)
    exp = rng.integers(fmt.emin - 40, fmt.emax + 2, n)
    # sticky only where the quantum lies above sig's LSB (there any delta rounds alike)
    sticky = (rng.random(n) < 0.4) & (sig >= (1 << (fmt.man_bits + 2)))
    nan = rng.random(n) < 0.02
    inf = ~nan & (rng.random(n) < 0.02)
    raw = Raw(rng.integers(0, 2, n).astype(np.uint8), sig, exp, nan, inf, sticky)
    r = golden_round(raw, fmt, rounding=rounding)
    assert r.sticky is None and (r.sig < (1 << fmt.sig_bits)).all()
    assert np.array_equal(r.nan, nan) and np.array_equal(r.inf, inf)
    for i in np.flatnonzero(~nan & ~inf):
        v = _frac(raw.sign[i], raw.sig[i], raw.exp[i])
        if sticky[i]:
            v += Fraction(1, 3) * Fraction(2) ** int(exp[i]) * (-1 if raw.sign[i] else 1)
        want = _round_oracle(v, fmt, rounding)
        assert _frac(r.sign[i], r.sig[i], r.exp[i]) == want, (int(sig[i]), int(exp[i]))
        assert r.sign[i] == raw.sign[i]
    kept = ~((r.sig == 0) & ((sig != 0) | sticky))
    assert np.array_equal(encode(r, fmt, rounding=rounding)[kept],
                          encode(raw, fmt, rounding=rounding)[kept])


def test_golden_round_arguments():
    raw = Raw(np.uint8(0), np.int64(3), np.int64(0), np.False_, np.False_)
    with pytest.raises(ValueError) as info:
        golden_round(raw, "int8")
    assert str(info.value) == "round takes a float format, not int8; integers: use encode"
    with pytest.raises(ValueError) as info:
        golden_round(raw, "e4m3", rounding="stochastic", rand_bits=2)
    assert str(info.value) == "Stochastic rounding needs a rand array"
    with pytest.raises(ValueError, match=r"^Rounding mode must be one of rne, rtz, rna, "):
        golden_round(raw, "e4m3", rounding="up")


class _Round(wiring.Component):
    """``raw`` (RawLayout, golden's convention) -> the round stage -> ``y``."""

    def __init__(self, fmt, W, **kw):
        self.fmt, self.kw = fmt, kw
        super().__init__({"raw": In(RawLayout(W, EW)), "y": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(hw_round(m, self.fmt, self.raw, **self.kw))
        return m


@pytest.mark.parametrize("fmt, rounding, align_max", [("e4m3", "rne", None),
                                                      ("e5m2fnuz", "rna", 0),
                                                      ("bfloat16", "rtz", 2)])
def test_round_matches_golden_encode(fmt, rounding, align_max):
    """The round stage on golden's Raw, field for field (standard contract; align_max: values
    at or below emin on their grid, not normalised)."""
    fmt = parse_format(fmt)
    W = fmt.sig_bits + 5
    rng = np.random.default_rng(zlib.crc32(f"round {fmt.name} {align_max}".encode()))
    v = _raw_values(fmt, W, rng, top_free_below=None if align_max is None else fmt.emin)
    if align_max is not None:
        v["exp"] = np.maximum(v["exp"], fmt.emin - align_max)
    lsb = v["exp"] - (W - 1)
    zero = (v["sig"] == 0) & (v["sticky"] == 0) & (v["is_nan"] == 0) & (v["is_inf"] == 0)
    layout = RawLayout(W, EW)
    fields = {"sign": v["sign"], "exp": lsb, "sig": v["sig"], "sticky": v["sticky"],
              "is_nan": v["is_nan"], "is_inf": v["is_inf"], "is_zero": zero}
    packed = [layout.const({k: int(x[i]) for k, x in fields.items()}).as_value().value
              for i in range(N)]
    dut = _Round(fmt, W, rounding=rounding, align_max=align_max)
    got = np.array(_simulate(dut, {"raw": np.array(packed, dtype=object)}, ["y"])["y"])
    raw = Raw(v["sign"].astype(np.uint8), v["sig"].astype(np.int64), lsb.astype(np.int64),
              v["is_nan"].astype(bool), v["is_inf"].astype(bool), v["sticky"].astype(bool))
    assert np.array_equal(got, encode(raw, fmt, rounding=rounding))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_as_raw_refuses_a_narrow_layout():
    m = Module()
    up = hw_decode(m, Const(0, 8), parse_format("e4m3"), "a")
    with pytest.raises(ValueError) as info:
        hw_as_raw(m, up, RawLayout(3, 6), "r")
    assert str(info.value) == "RawLayout sig_width 3 cannot hold a 4-bit significand"


def test_earlier_stage_names_are_aliases():
    from exmy.hdl import float as hw
    from exmy.hdl import rounding

    assert hw.decode_float is hw_decode and rounding.encode_fields is hw_encode
    assert multiply_raw is mul_raw


# -- add_raw: the FMA's alignment and addition ------------------------------------------------
class _FmaSum(wiring.Component):
    """hdl/fma.py's raw stages up to the rounder (``fma_sum``: decode, mul_raw, add_raw),
    one-piece or with fmax mode's fine structure (every cut a candidate, none registered: a
    Probe; ``fmax`` high enough for the product tree), the sum's fields out."""

    def __init__(self, fa, fb, fc, fo, granularity=None, window=None, fine=False):
        self.f = (fa, fb, fc, fo)
        self.granularity, self.window, self.fine = granularity, window, fine
        self.W = fma_window_bits(fa, fb, fc, fo, granularity or 1)
        super().__init__({"a": In(fa.width), "b": In(fb.width), "c": In(fc.width),
                          "mag": Out(self.W), "sticky": Out(1), "sign": Out(1),
                          "r_w": Out(signed(16)), "nan": Out(1), "inf": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, plan=Probe()) if self.fine else Pipeline(m, 0, list(FMA_CUTS))
        s = fma_sum(m, self.a, self.b, self.c, *self.f, granularity=self.granularity,
                    window=self.window, pipe=pipe, dm=delay_model("ecp5"),
                    fmax=1000.0 if self.fine else None)
        m.d.comb += [self.mag.eq(s.mag), self.sticky.eq(s.sticky), self.sign.eq(s.sign),
                     self.r_w.eq(s.r_w), self.nan.eq(s.is_nan), self.inf.eq(s.is_inf)]
        return m


def _sum_check(fa, fb, fc, fo, *, n=2500, granularity=None, window=None, fine=False,
               exhaustive=False):
    fa, fb, fc, fo = (parse_format(f) for f in (fa, fb, fc, fo))
    if exhaustive:
        a, b, c = (x.ravel() for x in np.meshgrid(
            np.arange(1 << fa.width), np.arange(1 << fb.width), np.arange(1 << fc.width)))
    else:
        # the FMA's own stimulus (sim/check_fma.py): uniform, biased, close exponents, massive
        # cancellation, overflow and underflow edges (not the corner cube: 38^3 triples)
        rng = np.random.default_rng(zlib.crc32(f"{fa}{fb}{fc}{fo}".encode()))
        a, b, c = fma_stimulus(fa, fb, fc, n, rng, cube=False)
    dut = _FmaSum(fa, fb, fc, fo, granularity, window, fine)
    got = _simulate(dut, {"a": a, "b": b, "c": c}, ["mag", "sticky", "sign", "r_w", "nan", "inf"])
    prec = fo.sig_bits + (granularity or 1) - 1  # as golden's fma / approx_fma call add_raw
    want = add_raw(mul_raw(a, b, fa, fb), decode(c, fc), precision=prec,
                   widths=(fa.sig_bits + fb.sig_bits, fc.sig_bits))
    where = f"{fa.name} x {fb.name} + {fc.name} -> {fo.name} G={granularity} K={window} " \
            f"fine={fine}"
    ops = [(x, decode(x, f)) for x, f in ((a, fa), (b, fb), (c, fc))]

    def show(x, r, i):  # an operand's code and decoded value
        v = "nan" if r.nan[i] else ("-" if r.sign[i] else "") + (
            "inf" if r.inf[i] else repr(float(_frac(0, r.sig[i], r.exp[i]))))
        return f"{int(x[i]):#x} ({v})"

    for i in range(len(a)):
        lane = where + ": " + " ".join(f"{n}={show(x, r, i)}"
                                       for n, (x, r) in zip("abc", ops, strict=True))
        assert bool(got["nan"][i]) == bool(want.nan[i]), lane
        if want.nan[i]:
            continue
        assert bool(got["inf"][i]) == bool(want.inf[i]), lane
        r_w = int(got["r_w"][i])  # (a signed port reads as a signed integer)
        hw = (int(got["mag"][i]), r_w - dut.W + 1, bool(got["sticky"][i]))
        gd = (int(want.sig[i]), int(want.exp[i]), bool(want.sticky[i]))
        if want.inf[i] or (gd[0] == 0 and not gd[2]):  # Inf, or an exact zero: the sign rule
            assert (hw[0], hw[2]) == (0, False) or want.inf[i], lane
            assert got["sign"][i] == want.sign[i], lane
            continue
        assert got["sign"][i] == want.sign[i], lane
        lead = [s.bit_length() - 1 + e for s, e, _ in (hw, gd)]
        assert lead[0] == lead[1], f"{lane}: leading bit {lead[0]}, golden {lead[1]}"
        # the round bit of the output's rounding (or of any coarser quantum down to
        # L - precision + 1) and everything below it: kept bits and inexactness equal
        q = max(lead[1] - prec, fo.quantum_exp - 1)
        seen = []
        for s, e, st in (hw, gd):
            if e > q:  # coarser than the round bit: only an exact sum may be
                assert not st, f"{lane}: sum {s:#x} * 2**{e} + sticky, no round bit at 2**{q}"
                seen.append((s << (e - q), False))
            else:
                seen.append((s >> (q - e), bool(s & ((1 << (q - e)) - 1)) or st))
        assert seen[0] == seen[1], f"{lane}: at 2**{q} (kept, inexact) {seen[0]}, golden {seen[1]}"


SUM_CASES = [("e4m3", "e4m3", "e4m3", "e4m3"), ("e5m2", "e4m3", "bfloat16", "e4m3"),
             ("e4m3", "e4m3", "float16", "bfloat16"), ("e2m1fn", "e3m2fn", "e5m2", "e2m3fn")]


@pytest.mark.parametrize("fine", [False, True])
@pytest.mark.parametrize("fa, fb, fc, fo", SUM_CASES)
def test_fma_add_raw_matches_golden_add_raw(fa, fb, fc, fo, fine):
    """The FMA's add stage (hdl add_raw, one-piece and fine) against golden add_raw of the
    same product and addend: flags, sign, leading bit, and at the output's round bit the kept
    bits and the inexactness (what every rounding mode reads)."""
    _sum_check(fa, fb, fc, fo, fine=fine)


@pytest.mark.parametrize("fine", [False, True])
def test_fma_add_raw_every_e2m1_triple(fine):
    _sum_check("e2m1fn", "e2m1fn", "e2m1fn", "e2m1fn", fine=fine, exhaustive=True)


@pytest.mark.parametrize("fine", [False, True])
@pytest.mark.parametrize("granularity, window", [(4, None), (2, 8), (1, None)])
def test_approx_fma_add_raw_matches_golden_add_raw(granularity, window, fine):
    _sum_check("e4m3", "e4m3", "e4m3", "e4m3", granularity=granularity, window=window,
               fine=fine)
