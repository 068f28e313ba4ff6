"""Multipliers: exact or rounded float products (any mix of formats) and integer products."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat, IntFormat, exact_product_format
from exmy.golden.params import (
    Rounding,
    check_bool,
    check_format,
    check_int_product,
    check_rounding_options,
    check_unscaled,
)

from .arith import chunked_add, cut, magnitudes, tree_multiply
from .base import Unit
from .float import decode, decode_floats, mul_raw, port_shape, product_inf, product_nan
from .rounding import round_standard
from .util import Pipeline

__all__ = ["Multiplier", "IntMultiplier"]


def _product_flags(m: Module, a, b) -> tuple[Signal, Signal, Signal]:
    """The product's sign, NaN and Inf flags (SPEC 3's product rule) as ``s0_`` signals (fmax
    mode, where they go through a cut before the product; :func:`mul_raw` builds the same)."""
    sign = Signal(name="s0_sign")
    nan = Signal(name="s0_is_nan")
    inf = Signal(name="s0_is_inf")
    m.d.comb += [
        sign.eq(a.sign ^ b.sign),
        nan.eq(product_nan(a, b)),
        inf.eq(product_inf(a, b, nan)),
    ]
    return sign, nan, inf


class Multiplier(Unit):
    """``y = encode(a * b, fmt_out)``, one rounding (SPEC 3, 3.1).

    Without ``fmt_out`` the output format is ``exact_product_format(fmt_a, fmt_b)``, the
    smallest format that holds every product, and no rounding logic is built. Specials follow
    IEEE: NaN in -> canonical NaN; Inf x 0 -> NaN; Inf x finite -> Inf (xor sign); zero signs
    xor (fnuz outputs write +0). Subnormal inputs and outputs are exact (inputs are normalised
    HardFloat-style before the one significand product). Overflow per SPEC 2 (``saturate``);
    in ``rtz`` overflow gives max_finite as IEEE requires.

    Datapath and pipeline cut points (``latency`` registers, evenly spaced; more than 2 go to
    the output): decode + significand product ``|`` align to the output's subnormal grid
    ``|`` round + encode.

    Ports: ``a``, ``b``, ``y`` (+ ``rand`` for stochastic rounding; ``clk``, ``rst`` when
    latency > 0).
    """

    unit = "multiplier"

    def __init__(
        self, fmt_a, fmt_b, fmt_out=None, *, rounding: str = "rne", saturate: bool = False,
        rand_bits: int | None = None, latency: int | None = None, target: str | None = None,
        fmax: float | None = None, dsp: bool = False,
    ):
        self.fmt_a = check_format(fmt_a, "Operand a", kind=FloatFormat)
        self.fmt_b = check_format(fmt_b, "Operand b", kind=FloatFormat)
        out = check_format(fmt_out, "Output", kind=FloatFormat, optional=True)
        self.exact = out is None
        self.fmt_out = exact_product_format(self.fmt_a, self.fmt_b) if out is None else out
        mode = check_rounding_options(rounding, rand_bits)
        if self.exact and mode != Rounding.RNE:
            raise ValueError(
                f"The exact multiplier does not round; rounding={rounding!r} needs an output "
                f"format (fmt_out)"
            )
        self.rounding = mode
        self.saturate = check_bool(saturate, "saturate")
        self.rand_bits = rand_bits
        self.latency = self.set_timing(latency, target, fmax, dsp=dsp)
        self.params = {
            "a": self.fmt_a.name, "b": self.fmt_b.name,
            "out": None if self.exact else self.fmt_out.name,
            "rounding": None if self.exact else rounding,
            "rand_bits": rand_bits, "saturate": saturate, "latency": self.latency,
        }
        self.port_formats = {"a": self.fmt_a, "b": self.fmt_b, "y": self.fmt_out}
        ports = {
            "a": In(port_shape(self.fmt_a)),
            "b": In(port_shape(self.fmt_b)),
            "y": Out(port_shape(self.fmt_out)),
        }
        if self.rounding == Rounding.STOCHASTIC:
            ports["rand"] = In(rand_bits)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, self.latency, ["product", "round"], plan=self.plan)
        if self.plan is not None:
            return self._elaborate_fmax(m, pipe)
        # -- decode (subnormals normalised) ------------------------------------------------
        a = decode(m, self.a.as_value(), self.fmt_a, "a")
        b = decode(m, self.b.as_value(), self.fmt_b, "b")
        # -- mul_raw: the significand product as one `*` (so Yosys may map it to a DSP), the
        # exponent (weight of the product's top bit) and the product rule --------------------
        lo = self.fmt_a.emin - self.fmt_a.man_bits + self.fmt_b.emin - self.fmt_b.man_bits - 2
        hi = self.fmt_a.emax + self.fmt_b.emax + 2
        p = mul_raw(m, a, b, exp_shape=range(lo, hi + 1))
        v = cut(pipe, "product", 0.0, {"prod": p.sig, "exp": p.exp, "sign": p.sign,
                                       "nan": p.is_nan, "inf": p.is_inf,
                                       "rand": getattr(self, "rand", None)})
        prod, exp, sign, nan, inf, rand = (v[k] for k in ("prod", "exp", "sign", "nan", "inf",
                                                          "rand"))
        # -- round and encode (the shared rounder) -----------------------------------------
        y = round_standard(
            m, self.fmt_out, sign=sign, sig=prod, exp=exp, is_nan=nan, is_inf=inf,
            rand=rand, rounding=self.rounding, saturate=self.saturate, exact=self.exact,
            pipe=pipe,
        )
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m

    def _elaborate_fmax(self, m, pipe):
        """fmax mode (SPEC 6): the same datapath with fine cut points: decode (``dec_lzc``
        between the subnormal leading-zero count and the normalising shift), the significand
        product (one ``*`` when the delay model says it fits the period, else a
        partial-product tree cut between levels, ``mul_level``), ``product``, then the
        rounder's cuts (``round_standard``)."""
        dm = self.dm
        rand = getattr(self, "rand", None)
        (a, b), carry, delay = decode_floats(
            m, [(self.a.as_value(), self.fmt_a, "a"), (self.b.as_value(), self.fmt_b, "b")],
            pipe=pipe, dm=dm, carry={"rand": rand})
        sign, nan, inf = _product_flags(m, a, b)
        carry = {"sign": sign, "nan": nan, "inf": inf, **carry}
        carry = cut(pipe, "dec", delay + dm.lut(1), {
            "a_sig": a.sig, "b_sig": b.sig, "a_exp": a.exp, "b_exp": b.exp, **carry})
        a_sig, b_sig = carry.pop("a_sig"), carry.pop("b_sig")
        # the exponent: a + b + 1 as one carry chain, (2a + 1) + (2b + 1) = 2 (a + b + 1)
        lo = self.fmt_a.emin - self.fmt_a.man_bits + self.fmt_b.emin - self.fmt_b.man_bits - 2
        hi = self.fmt_a.emax + self.fmt_b.emax + 2
        exp = Signal(range(lo, hi + 1), name="s0_exp")
        ea = Cat(Const(1, 1), carry.pop("a_exp")).as_signed()
        eb = Cat(Const(1, 1), carry.pop("b_exp")).as_signed()
        m.d.comb += exp.eq((ea + eb)[1:].as_signed())  # weight of the product's top bit
        carry["exp"] = exp
        delay = 0.0
        wa, wb = len(a.sig), len(b.sig)
        if dm.star_fits(wa, wb, self.fmax, before=delay):
            prod = Signal(wa + wb, name="s0_product")
            m.d.comb += prod.eq(a_sig * b_sig)
            delay += dm.multiplier(wa, wb)
        else:
            built = tree_multiply(m, a_sig, b_sig, pipe=pipe, dm=dm, carry=carry,
                                  delay_in=delay, name="s0_mul")
            prod, carry, delay = built.value, built.carry, built.delay
        v = cut(pipe, "product", delay, {"prod": prod, **carry})
        y = round_standard(
            m, self.fmt_out, sign=v["sign"], sig=v["prod"], exp=v["exp"], is_nan=v["nan"],
            is_inf=v["inf"], rand=v["rand"], rounding=self.rounding, saturate=self.saturate,
            exact=self.exact, pipe=pipe, dm=dm,
        )
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m


class IntMultiplier(Unit):
    """Exact integer product ``y = a * b`` in ``bits_a + bits_b`` bits (two's complement when
    either operand is signed). Ports ``a``, ``b``, ``y``."""

    unit = "int-multiplier"

    def __init__(self, fmt_a, fmt_b, *, latency: int | None = None, target: str | None = None,
                 fmax: float | None = None, dsp: bool = False):
        self.fmt_a = check_format(fmt_a, "Operand a", kind=IntFormat)
        self.fmt_b = check_format(fmt_b, "Operand b", kind=IntFormat)
        check_unscaled(self.fmt_a, "Operand a", "int-multiplier")
        check_unscaled(self.fmt_b, "Operand b", "int-multiplier")
        self.latency = self.set_timing(latency, target, fmax, dsp=dsp)
        w = check_int_product(self.fmt_a, self.fmt_b)
        self.fmt_out = IntFormat(w, signed=self.fmt_a.signed or self.fmt_b.signed)
        self.params = {"a": self.fmt_a.name, "b": self.fmt_b.name, "latency": self.latency}
        self.port_formats = {"a": self.fmt_a, "b": self.fmt_b, "y": self.fmt_out}
        super().__init__({"a": In(self.fmt_a.bits), "b": In(self.fmt_b.bits), "y": Out(w)})

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, self.latency, ["product"], plan=self.plan)
        a = Value.cast(self.a)
        b = Value.cast(self.b)
        a = a.as_signed() if self.fmt_a.signed else a
        b = b.as_signed() if self.fmt_b.signed else b
        if self.plan is not None:
            return self._elaborate_fmax(m, pipe, a, b)
        prod = Signal(len(self.y), name="s0_product")
        m.d.comb += prod.eq(a * b)
        m.d.comb += self.y.eq(pipe.finish(pipe.stage("product", prod)))
        return m

    def _elaborate_fmax(self, m, pipe, a, b):
        """fmax mode (SPEC 6): one ``*`` when the delay model says it fits the period, else
        magnitudes (``mag``), a partial-product tree cut between levels (``mul_level``) and
        the sign applied at the end (``product``)."""
        dm = self.dm
        w = len(self.y)
        wa, wb = len(a), len(b)
        if dm.star_fits(wa, wb, self.fmax):
            prod = Signal(w, name="s0_product")
            m.d.comb += prod.eq(a * b)
            y = pipe.stage("product", prod, delay=dm.multiplier(wa, wb))
            m.d.comb += self.y.eq(pipe.finish(y))
            return m
        ma, mb, sa, sb, d = magnitudes(m, a, b, signed_a=self.fmt_a.signed,
                                       signed_b=self.fmt_b.signed, dm=dm)
        neg = Signal(name="s0_negative")
        m.d.comb += neg.eq(sa ^ sb)
        v = cut(pipe, "mag", d, {"a": ma, "b": mb, "neg": neg})
        built = tree_multiply(m, v["a"], v["b"], pipe=pipe, dm=dm, carry={"neg": v["neg"]},
                              name="s0_mul")
        v = cut(pipe, "product", built.delay, {"p": built.value, **built.carry})
        if not (self.fmt_a.signed or self.fmt_b.signed):
            m.d.comb += self.y.eq(pipe.finish(v["p"][:w]))
            return m
        # the sign: (p xor neg) + neg, in carry-chain chunks that fit the period
        neg = v["neg"]
        chunk = w
        while chunk > 2 and dm.adder(chunk) > dm.period(self.fmax):
            chunk = (chunk + 1) // 2
        built = chunked_add(m, v["p"][:w] ^ neg.replicate(w), Const(0, 1), cin=neg,
                            chunk=chunk, pipe=pipe, dm=dm, name="s1_negate")
        m.d.comb += self.y.eq(pipe.finish(built.value[:w], delay=built.delay))
        return m
