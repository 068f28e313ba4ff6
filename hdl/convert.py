"""Converter: float -> float, int -> float, float -> int (SPEC 3, ``convert``)."""

from __future__ import annotations

import dataclasses

from amaranth.hdl import Module, Signal, signed
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat, IntFormat
from exmy.golden.params import (
    INT_ROUNDING_MODES,
    ROUNDING_MODES,
    Rounding,
    check_bool,
    check_format,
    check_rounding_options,
    check_unscaled,
)

from .arith import cut, staged_lzc, staged_shift_left
from .base import Unit
from .float import decode, decode_delay, decode_floats, decode_int, normalize, port_shape
from .rounding import round_standard, round_to_int, round_to_int_tail_delay
from .util import Pipeline

__all__ = ["Convert"]


class Convert(Unit):
    """``y = encode(decode(a), fmt_out)`` with one rounding (SPEC 2).

    float -> float: any rounding mode (stochastic with a ``rand`` port), ``saturate`` switch,
    subnormals exact, NaN -> canonical NaN (or +0 where the output has no NaN), Inf ->
    Inf or the overflow rule. int -> float: the integer is normalised by a leading-zero count,
    then rounded. float -> int: rounded (rne, rtz, rna) and clamped to the integer range; NaN
    gives 0, +-Inf the range limits (integer conversion always saturates; IEEE would signal
    invalid). int -> int is not a conversion exmy offers.

    Pipeline cut points: decode/normalise ``|`` align to the subnormal grid ``|`` round.
    Ports: ``a``, ``y`` (+ ``rand``; ``clk``, ``rst`` when latency > 0).
    """

    unit = "convert"

    def __init__(
        self, fmt_in, fmt_out, *, rounding: str = "rne", saturate: bool = False,
        rand_bits: int | None = None, latency: int | None = None, target: str | None = None,
        fmax: float | None = None,
    ):
        self.fmt_in = check_format(fmt_in, "Input")
        self.fmt_out = check_format(fmt_out, "Output")
        check_unscaled(self.fmt_in, "Input", "convert")
        check_unscaled(self.fmt_out, "Output", "convert")
        if isinstance(self.fmt_in, IntFormat) and isinstance(self.fmt_out, IntFormat):
            raise ValueError(
                f"Conversion {self.fmt_in} -> {self.fmt_out} is int -> int; convert supports "
                f"float -> float, int -> float and float -> int"
            )
        allowed = INT_ROUNDING_MODES if isinstance(self.fmt_out, IntFormat) else ROUNDING_MODES
        self.rounding = check_rounding_options(rounding, rand_bits, allowed=allowed)
        self.saturate = check_bool(saturate, "saturate")
        if saturate and isinstance(self.fmt_out, IntFormat):
            saturate = False  # integer outputs always saturate; keep the name canonical
        self.rand_bits = rand_bits
        self.latency = self.set_timing(latency, target, fmax)
        self.params = {
            "a": self.fmt_in.name, "out": self.fmt_out.name, "rounding": rounding,
            "rand_bits": rand_bits, "saturate": saturate, "latency": self.latency,
        }
        self.port_formats = {"a": self.fmt_in, "y": self.fmt_out}
        ports = {"a": In(port_shape(self.fmt_in)), "y": Out(port_shape(self.fmt_out))}
        if self.rounding == Rounding.STOCHASTIC:
            ports["rand"] = In(rand_bits)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, self.latency, ["decode", "round"], plan=self.plan)
        if self.plan is not None and isinstance(self.fmt_in, FloatFormat) and isinstance(
                self.fmt_out, FloatFormat):
            return self._elaborate_fmax(m, pipe)
        dm = self.dm
        a_bits = self.a.as_value() if isinstance(self.fmt_in, FloatFormat) else self.a
        rand = getattr(self, "rand", None)
        # -- decode ------------------------------------------------------------------------
        if isinstance(self.fmt_in, FloatFormat) and self.plan is not None:  # -> int, fmax mode
            # subnormals are not normalised: round_to_int takes the leading one anywhere
            (a,), carry, d_dec = decode_floats(m, [(a_bits, self.fmt_in, "a")], pipe=pipe, dm=dm,
                                               carry={"rand": rand}, normalize_sub=False)
            sig, exp, rand = a.sig, a.exp, carry["rand"]
        elif isinstance(self.fmt_in, FloatFormat):
            a = decode(m, a_bits, self.fmt_in, "a")
            sig, exp = a.sig, a.exp
        elif self.plan is not None:  # fmax mode: the magnitude, its count, its shift
            a, sig, exp, d_dec, rand = self._int_decode_fine(m, pipe, a_bits)
        else:
            a = decode_int(m, a_bits, self.fmt_in, "a")
            sig, exp = normalize(m, a.sig, a.exp, "a_norm")
        if isinstance(self.fmt_in, FloatFormat) and self.plan is None:
            d_dec = decode_delay(dm, self.fmt_in) + dm.lzc(self.fmt_in.man_bits) + dm.shifter(
                self.fmt_in.man_bits + 1, max(self.fmt_in.man_bits, 1).bit_length())
        elif self.plan is None:
            d_dec = dm.adder(self.fmt_in.bits) + dm.lzc(self.fmt_in.bits) + dm.shifter(
                self.fmt_in.bits, self.fmt_in.bits.bit_length())
        v = cut(pipe, "decode", d_dec, {"sig": sig, "exp": exp, "sign": a.sign, "nan": a.is_nan,
                                        "inf": a.is_inf, "rand": rand})
        sig, exp, sign, nan, inf, rand = (v[k] for k in ("sig", "exp", "sign", "nan", "inf",
                                                         "rand"))
        # -- round and encode --------------------------------------------------------------
        if isinstance(self.fmt_out, FloatFormat):
            y = round_standard(
                m, self.fmt_out, sign=sign, sig=sig, exp=exp, is_nan=nan, is_inf=inf,
                rand=rand, rounding=self.rounding, saturate=self.saturate, pipe=pipe, dm=dm,
            )
            m.d.comb += self.y.as_value().eq(pipe.finish(y))
        else:
            if "round" in pipe.registered or self.plan is not None:  # the documented latency
                v = cut(pipe, "round", dm.adder(len(exp) + 2),
                        dict(sig=sig, exp=exp, sign=sign, nan=nan, inf=inf))
                sig, exp, sign, nan, inf = (v[k] for k in ("sig", "exp", "sign", "nan", "inf"))
            y = round_to_int(
                m, self.fmt_out, sign=sign, sig=sig, exp=exp, is_nan=nan, is_inf=inf,
                rounding=self.rounding, pipe=pipe, dm=dm,
            )
            W = len(sig) + self.fmt_out.bits
            tail = (round_to_int_tail_delay(dm) if self.plan is not None
                    else dm.shifter(W, W.bit_length()) * 2 + dm.adder(W) * 2 + dm.lut(2))
            m.d.comb += self.y.eq(pipe.finish(y, delay=tail))
        return m

    def _int_decode_fine(self, m, pipe, a_bits):
        """int -> float in fmax mode: the magnitude (``dec_abs``), its leading zeros (a
        staged count), the normalising shift (staged); returns the decoded operand, the
        normalised significand and exponent, the delay left open before ``decode`` and the
        ``rand`` input carried along (None without one)."""
        dm, fi = self.dm, self.fmt_in
        a = decode_int(m, a_bits, fi, "a")
        rand = getattr(self, "rand", None)
        v = cut(pipe, "dec_abs", dm.adder(fi.bits) + dm.lut(1),
                {"sig": a.sig, "sign": a.sign, "rand": rand})
        lz = staged_lzc(m, v["sig"], pipe=pipe, dm=dm, carry={"sig": v["sig"], "sign": v["sign"],
                        "rand": v["rand"]}, name="a_norm_lz")
        c = lz.carry
        norm = staged_shift_left(m, c["sig"], lz.value, pipe=pipe, dm=dm, delay_in=lz.delay,
                                 carry={"lz": lz.value, "sign": c["sign"], "rand": c["rand"]},
                                 name="a_norm_sig")
        c = norm.carry
        exp = Signal(signed(max(fi.bits, 1).bit_length() + 2), name="a_norm_exp")
        m.d.comb += exp.eq((fi.bits - 1) - c["lz"])
        a = dataclasses.replace(a, sign=c["sign"])
        return a, norm.value, exp, norm.delay + dm.adder(exp.shape().width), c["rand"]

    def _elaborate_fmax(self, m, pipe):
        """fmax mode (SPEC 6), float -> float: decode with its fine cuts (``dec_lzc``),
        ``decode``, then the rounder's cuts. Subnormal inputs are not normalised when every
        one of them lies so far below the output's subnormal grid that the rounder's
        alignment shifter saturates either way (float32 -> float8: they all round alike);
        the result is the same function (``exmy prove`` checks it)."""
        dm = self.dm
        fi, fo = self.fmt_in, self.fmt_out
        rand = getattr(self, "rand", None)
        R = len(rand) if rand is not None else 0
        dmax = fo.man_bits + 1 + R + 2
        norm = not (fo.emin - fi.emin >= dmax)
        (a,), carry, delay = decode_floats(m, [(self.a.as_value(), fi, "a")], pipe=pipe, dm=dm,
                                           carry={"rand": rand}, normalize_sub=norm)
        v = cut(pipe, "decode", delay, {"sig": a.sig, "exp": a.exp, "sign": a.sign,
                                        "nan": a.is_nan, "inf": a.is_inf, **carry})
        y = round_standard(
            m, fo, sign=v["sign"], sig=v["sig"], exp=v["exp"], is_nan=v["nan"],
            is_inf=v["inf"], rand=v["rand"], rounding=self.rounding, saturate=self.saturate,
            pipe=pipe, dm=dm,
        )
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m
