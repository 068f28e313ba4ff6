"""Registration of every unit with the registry (one entry per CLI unit name).

Each later unit (mac, int-mac, fma, approx-fma, lmul, dot) adds its entry here.
"""

from __future__ import annotations

from .convert import Convert
from .multiplier import IntMultiplier, Multiplier
from .registry import register

_ROUND = ("rounding", "rand_bits", "saturate", "latency")


@register("convert", ("a", "out") + _ROUND, "y = encode(decode(a), out): float/int conversions")
def _convert(a=None, out=None, rounding="rne", rand_bits=None, saturate=False, latency=0):
    if a is None or out is None:
        raise ValueError("Unit 'convert' needs an input format (--a) and an output format (--out)")
    return Convert(a, out, rounding=rounding, rand_bits=rand_bits, saturate=saturate,
                   latency=latency)


@register("multiplier", ("a", "b", "out") + _ROUND,
          "y = a*b, exact (no --out) or rounded into --out")
def _multiplier(a=None, b=None, out=None, rounding="rne", rand_bits=None, saturate=False,
                latency=0):
    if a is None:
        raise ValueError("Unit 'multiplier' needs an operand format (--a)")
    return Multiplier(a, b if b is not None else a, out, rounding=rounding,
                      rand_bits=rand_bits, saturate=saturate, latency=latency)


@register("int-multiplier", ("a", "b", "latency"), "y = a*b for integer formats, exact")
def _int_multiplier(a=None, b=None, latency=0):
    if a is None:
        raise ValueError("Unit 'int-multiplier' needs an operand format (--a)")
    return IntMultiplier(a, b if b is not None else a, latency=latency)
