"""L-Mul: a float "multiplier" made of one integer adder (SPEC.md section 3.4)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat
from exmy.golden.params import (
    LMUL_FORMS,
    LMUL_OFFSETS,
    LMulForm,
    check_lmul_formats,
    check_lmul_options,
    lmul_l,
    lmul_offset,
)

from .arith import cut
from .base import Unit, unit_builder
from .float import Unpacked, decode, port_shape, product_inf, product_nan
from .rounding import round_standard
from .util import Pipeline

__all__ = ["LMul", "LMUL_FORMS", "LMUL_OFFSETS", "check_lmul_args", "lmul_l", "lmul_offset"]


def check_lmul_args(fmt, fmt_out=None, form="adder", offset="lmul", saturate=False):
    """Validate and parse L-Mul parameters (``exmy.golden.params``, the golden model's own
    checks); returns ``(fmt, fmt_out, form, offset)``."""
    fmt, out = check_lmul_formats(fmt, fmt_out)
    form, offset = check_lmul_options(form, offset, saturate)
    return fmt, out, form, offset


class LMul(Unit):
    """L-Mul: ``y ~ a * b`` computed by one integer addition (SPEC 3.4), bit-exact to
    ``exmy.golden.lmul``.

    Source: H. Luo and W. Sun, "Addition is All You Need for Energy-efficient Language
    Models" (2024). For normal operands (E, M, bias B) ::

        L-Mul(x, y) = (-1)^(sx xor sy) * (1 + xm + ym + 2^-l(M)) * 2^(xe + ye)
        l(m) = m for m <= 3, 3 for m = 4, 4 for m > 4

    ``form="adder"`` (default) is what one adder of the two (E+M)-bit magnitude fields
    computes, with every constant folded into it::

        t = |a|_bits + |b|_bits + (2^(M - l(M)) - ((2 B - B_out) << M))

    A mantissa carry runs into the exponent field (Mitchell's logarithmic approximation plus
    an offset). ``form="formula"`` is the paper's formula literally: an (M+2)-bit mantissa
    sum ``1 + xm + ym + 2^-l`` renormalised by one right shift (dropped bit truncated) when it
    reaches 2, and an exponent adder that takes the shift as its carry in. ``offset="pam"``
    drops the constant 2^-l (piecewise affine multiplication). ``fmt_out`` has the input's M
    and any exponent width and bias; the unbiased exponents add.

    Special values and deviations from IEEE (exactly the golden model's rules):

    - Subnormal operands are zero (denormals-are-zero; so subnormal x Inf is NaN), and a
      result whose exponent field would be <= 0 is ±0 even when ``fmt_out`` has subnormals:
      the adder has no subnormal path.
    - NaN in -> canonical NaN; Inf x 0 -> NaN; Inf x (non-zero or Inf) -> Inf with the xor
      sign, which like an overflow (``t`` above ``fmt_out``'s max_finite code; landing on
      an ``fn`` NaN code counts) follows SPEC 2: ±max_finite with ``saturate`` or for ``none``
      formats, else ±Inf (``ieee``) or NaN (``fn``/``fnuz``).
    - Zeros carry the xor sign; ``fnuz`` and unsigned outputs write +0; a negative result
      into an unsigned ``fmt_out`` is NaN (or +0 without NaN).

    Encoding: an in-range adder result ``t`` (2^M <= t <= max_finite's code) already *is*
    the output's magnitude code, so it is packed as it is (nothing to round). Every other
    case (zero, flush, overflow, Inf, NaN, negative into unsigned) is encoded by the shared
    encoder ``round_encode`` with constant datapath inputs, so the rules live in one place
    and only their logic is built (calling the rounder on the exact value instead builds its
    subnormal-alignment shifter and exponent re-biasing for nothing; the measurement is in
    docs/results/design_choices.md).

    Error: ``exmy.golden.stats`` measures it (``benchmarks/lmul_error.py``, ``exmy analyze
    multiplier``); the numbers are in docs/results/design_choices.md and the README.

    Latency and pipeline cut points (``latency`` registers, evenly spaced over the cuts, the
    last cut first; more than 2 go to the output): decode (operand classes, magnitude
    fields) ``|decode|`` the adder and the underflow test ``|sum|`` encode (overflow,
    specials, signs).

    Ports: ``a``, ``b`` (both ``fmt``), ``y`` (``fmt_out``); ``clk``, ``rst`` when
    latency > 0.
    """

    unit = "lmul"

    def __init__(
        self, fmt, fmt_out=None, *, form: str = "adder", offset: str = "lmul",
        saturate: bool = False, latency: int | None = None, target: str | None = None,
        fmax: float | None = None,
    ):
        self.fmt, self.fmt_out, self.form, self.offset = check_lmul_args(
            fmt, fmt_out, form, offset, saturate)
        self.saturate = saturate
        self.latency = self.set_timing(latency, target, fmax)
        out = None if self.fmt_out == self.fmt else self.fmt_out.name
        self.params = {
            "a": self.fmt.name, "out": out, "form": form, "offset": offset,
            "saturate": saturate, "latency": self.latency,
        }
        self.port_formats = {"a": self.fmt, "b": self.fmt, "y": self.fmt_out}
        super().__init__({
            "a": In(port_shape(self.fmt)),
            "b": In(port_shape(self.fmt)),
            "y": Out(port_shape(self.fmt_out)),
        })

    @property
    def fmt_a(self) -> FloatFormat:
        return self.fmt

    @property
    def fmt_b(self) -> FloatFormat:
        return self.fmt

    def _special(self, m, sign, nan, inf, flush, above) -> tuple[Signal, Signal]:
        """The cases the shared encoder owns (``above``: the sum is above max_finite's code):
        whether the result is one of them, and its encoding (constant datapath inputs, so
        only the rules' logic is built)."""
        fo = self.fmt_out
        over = Signal(name="s2_overflow")
        m.d.comb += over.eq(~flush & above)
        neg = Signal(name="s2_negative")
        m.d.comb += neg.eq(sign & ~flush if not fo.signed else 0)
        special = Signal(name="s2_special")
        m.d.comb += special.eq(nan | inf | flush | over | neg)
        y_special = round_standard(
            m, fo, sign=sign, sig=Const(0, self.fmt.man_bits + 1), exp=Const(fo.emin),
            is_nan=nan, is_inf=inf | over | neg, saturate=self.saturate, exact=True, name="enc",
        )
        return special, y_special

    def elaborate(self, platform):
        m = Module()
        f, fo = self.fmt, self.fmt_out
        E, M = f.exp_bits, f.man_bits
        pipe = Pipeline(m, self.latency, ["decode", "sum"], plan=self.plan)
        if self.plan is not None and self.form == LMulForm.ADDER:
            return self._elaborate_fmax(m, pipe)
        dm = self.dm

        # -- decode: classes from the shared decoder, magnitude fields as bits -------------
        a = decode(m, self.a.as_value(), f, "a", normalize_sub=False)
        b = decode(m, self.b.as_value(), f, "b", normalize_sub=False)
        mag_a = Signal(E + M, name="s0_mag_a")
        mag_b = Signal(E + M, name="s0_mag_b")
        m.d.comb += [mag_a.eq(self.a.as_value()[: E + M]), mag_b.eq(self.b.as_value()[: E + M])]
        # exponent field 0 (zero or subnormal) is zero: denormals-are-zero
        za = ~mag_a[M:].any() & ~a.is_nan
        zb = ~mag_b[M:].any() & ~b.is_nan
        nan = Signal(name="s0_is_nan")
        inf = Signal(name="s0_is_inf")
        zero = Signal(name="s0_is_zero")
        sign = Signal(name="s0_sign")
        m.d.comb += [
            nan.eq(product_nan(a, b, a_zero=za, b_zero=zb)),
            inf.eq(product_inf(a, b, nan)),
            zero.eq((za | zb) & ~nan & ~inf),
            sign.eq(a.sign ^ b.sign),
        ]
        v = cut(pipe, "decode", dm.logic(E + M + 1) + dm.lut(1),
                dict(mag_a=mag_a, mag_b=mag_b, nan=nan, inf=inf, zero=zero, sign=sign))
        mag_a, mag_b, nan, inf, zero, sign = (v[k] for k in (
            "mag_a", "mag_b", "nan", "inf", "zero", "sign"))

        # -- the addition --------------------------------------------------------------------
        c = lmul_offset(M, self.offset)
        k_exp = fo.bias - 2 * f.bias  # unbiased exponents add: field = fa + fb - 2B + B_out
        # field range over every pair of codes (zero and special lanes included: their
        # values are don't-cares, but must not wrap into the normal range)
        f_lo = k_exp
        f_hi = 2 * ((1 << E) - 1) + 1 + k_exp
        Wo = fo.exp_bits + M
        # t: the result's magnitude code (exponent field above M mantissa bits), signed
        t = Signal(range(min(f_lo, 0) << M, (max(f_hi, 1) + 1) << M), name="s1_sum")
        if self.form == LMulForm.ADDER:
            # one (E+M)-bit adder; the constant (offset in the mantissa bits, bias in the
            # exponent bits) is folded in
            m.d.comb += t.eq(mag_a + mag_b + (c + (k_exp << M)))
        else:
            # the paper's formula: mantissa sum 1 + xm + ym + 2^-l < 4, renormalised by one
            # right shift (dropped bit truncated); the shift is the exponent adder's carry in
            s = Signal(M + 2, name="s1_man_sum")
            m.d.comb += s.eq((1 << M) + mag_a[:M] + mag_b[:M] + c)
            hi_bit = s[M + 1]
            field = Signal(range(min(f_lo, 0), max(f_hi, 1) + 1), name="s1_field")
            man = Signal(M, name="s1_man")
            m.d.comb += [
                man.eq(Mux(hi_bit, s[1 : M + 1], s[:M])),
                field.eq(mag_a[M:] + mag_b[M:] + hi_bit + k_exp),
                t.eq(Cat(man, field).as_signed() if field.shape().signed else Cat(man, field)),
            ]
        # -- underflow: exponent field <= 0 flushes to zero (no subnormal path) --------------
        flush = Signal(name="s1_flush")
        m.d.comb += flush.eq(zero | (t < (1 << M)))
        v = cut(pipe, "sum", dm.adder(E + M + 1) * 2 + dm.lut(1),
                dict(t=t, flush=flush, nan=nan, inf=inf, sign=sign))
        t, flush, nan, inf, sign = (v[k] for k in ("t", "flush", "nan", "inf", "sign"))

        # -- encode --------------------------------------------------------------------------
        # An in-range t is already the output's magnitude code: packed as it is. Every other
        # case goes through the shared encoder, which owns the rules: overflow (SPEC 2; t
        # above max_finite's code, landing on an fn NaN code included) and Inf as its Inf
        # input, zero with its sign rules, NaN, and (unsigned fmt_out) negative results.
        # Its datapath inputs are constants, so only those rules' logic is built.
        special, y_special = self._special(m, sign, nan, inf, flush, t > fo.max_finite_code)
        packed = Cat(t[:Wo], sign) if fo.signed else t[:Wo]
        y = Signal(fo.width, name="s2_y")
        m.d.comb += y.eq(Mux(special, y_special, packed))
        m.d.comb += self.y.as_value().eq(pipe.finish(y, delay=dm.adder(Wo) + dm.lut(3)))
        return m

    def _elaborate_fmax(self, m, pipe):
        """fmax mode (SPEC 6), adder form: the same function with fine cut points:
        ``dec_class`` (operand classes beside the sum of the magnitude fields), ``sum`` (the
        constant added; the underflow and overflow tests compare the sum of the fields with
        constants beside it), ``enc`` (the special case and its encoding), then the final
        multiplexer."""
        dm = self.dm
        f, fo = self.fmt, self.fmt_out
        E, M = f.exp_bits, f.man_bits
        a = decode(m, self.a.as_value(), f, "a", normalize_sub=False)
        b = decode(m, self.b.as_value(), f, "b", normalize_sub=False)
        mag_a = self.a.as_value()[: E + M]
        mag_b = self.b.as_value()[: E + M]
        za = Signal(name="s0_a_zero")
        zb = Signal(name="s0_b_zero")
        m.d.comb += [za.eq(~mag_a[M:].any() & ~a.is_nan), zb.eq(~mag_b[M:].any() & ~b.is_nan)]
        s_ab = Signal(E + M + 1, name="s0_field_sum")
        m.d.comb += s_ab.eq(mag_a + mag_b)
        sign = Signal(name="s0_sign")
        m.d.comb += sign.eq(a.sign ^ b.sign)
        v = cut(pipe, "dec_class", max(dm.logic(E + M + 1), dm.adder(E + M)), {
            "s_ab": s_ab, "za": za, "zb": zb, "an": a.is_nan, "ai": a.is_inf, "bn": b.is_nan,
            "bi": b.is_inf, "sign": sign})
        c = lmul_offset(M, self.offset)
        k = c + ((fo.bias - 2 * f.bias) << M)
        nan = Signal(name="s1_is_nan")
        inf = Signal(name="s1_is_inf")
        zero = Signal(name="s1_is_zero")
        az, bz = v["za"], v["zb"]
        # the product rule on the registered class flags (only the flags are read)
        ra = Unpacked(sign=None, sig=None, exp=None, is_nan=v["an"], is_inf=v["ai"], is_zero=az)
        rb = Unpacked(sign=None, sig=None, exp=None, is_nan=v["bn"], is_inf=v["bi"], is_zero=bz)
        m.d.comb += [
            nan.eq(product_nan(ra, rb)),
            inf.eq(product_inf(ra, rb, nan)),
            zero.eq((az | bz) & ~nan & ~inf),
        ]
        f_hi = 2 * ((1 << E) - 1) + 1 + (fo.bias - 2 * f.bias)
        t = Signal(range(min(k, 0), max((max(f_hi, 1) + 1) << M, 1)), name="s1_sum")
        low = Signal(name="s1_below_normal")
        big = Signal(name="s1_above_max")
        s_ab = v["s_ab"]
        m.d.comb += [t.eq(s_ab + k), low.eq(s_ab < (1 << M) - k),
                     big.eq(s_ab > fo.max_finite_code - k)]
        v = cut(pipe, "sum", max(dm.adder(E + M + 2), dm.lut(2)), {
            "t": t, "low": low, "big": big, "nan": nan, "inf": inf, "zero": zero,
            "sign": v["sign"]})
        t, nan, inf, sign = v["t"], v["nan"], v["inf"], v["sign"]
        flush = Signal(name="s2_flush")
        m.d.comb += flush.eq(v["zero"] | v["low"])
        special, y_special = self._special(m, sign, nan, inf, flush, v["big"])
        Wo = fo.exp_bits + M
        packed = Cat(t[:Wo], sign) if fo.signed else t[:Wo]
        v = cut(pipe, "enc", dm.lut(2), {"special": special, "y_special": y_special,
                                         "packed": packed})
        y = Signal(fo.width, name="s2_y")
        m.d.comb += y.eq(Mux(v["special"], v["y_special"], v["packed"]))
        m.d.comb += self.y.as_value().eq(pipe.finish(y, delay=dm.lut(1)))
        return m


@unit_builder("lmul", ("a", "out", "form", "offset", "saturate", "latency", "target", "fmax"),
          "y ~ a*b by one integer addition (L-Mul, SPEC 3.4)")
def lmul_builder(a=None, out=None, form="adder", offset="lmul", saturate=False, latency=None,
                 target=None, fmax=None):
    if a is None:
        raise ValueError("Unit 'lmul' needs an operand format (--a)")
    return LMul(a, out, form=form, offset=offset, saturate=saturate, latency=latency,
                target=target, fmax=fmax)
