"""The hardware's raw stages against their golden twins (issue 12), stage by stage, in the
Amaranth simulator: the product rule (``product_nan`` / ``product_inf`` vs golden
``multiply_raw``'s flags) and the rounder's contracts (``round_standard``,
``round_align_max``, ``round_approximate`` with G = 1 vs golden ``encode`` of the same exact
value). Random raw values cover normal, subnormal, overflowing, zero and special inputs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from exmy.golden import Raw, decode, encode, multiply_raw
from exmy.golden.format import parse_format
from exmy.hdl.float import (
    RawLayout,
    Rounder,
    decode_float,
    product_inf,
    product_nan,
    round_align_max,
    round_approximate,
    round_standard,
)

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
                got[o].append(ctx.get(getattr(dut, o)))

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
        a = decode_float(m, self.a, self.fa, "a")
        b = decode_float(m, self.b, self.fb, "b")
        nan = product_nan(a, b)
        m.d.comb += [self.nan.eq(nan), self.inf.eq(product_inf(a, b, nan))]
        return m


@pytest.mark.parametrize("fa, fb", [("e5m2", "e4m3fn"), ("e4m3fnuz", "e3m2"),
                                    ("e2m1fn", "e5m2")])
def test_product_rule_matches_golden_multiply_raw(fa, fb):
    fa, fb = parse_format(fa), parse_format(fb)
    a, b = np.meshgrid(np.arange(1 << fa.width), np.arange(1 << fb.width))
    a, b = a.ravel(), b.ravel()
    keep = np.random.default_rng(0).permutation(len(a))[:N]
    # every special/zero code of each operand against every code of the other, plus a sample
    special = lambda x, f: decode(x, f).nan | decode(x, f).inf | (decode(x, f).sig == 0)  # noqa: E731
    sel = np.union1d(keep, np.flatnonzero(special(a, fa) | special(b, fb)))
    a, b = a[sel], b[sel]
    got = _simulate(_ProductFlags(fa, fb), {"a": a, "b": b}, ["nan", "inf"])
    want = multiply_raw(a, b, fa, fb)
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
