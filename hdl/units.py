"""The unit table: every unit builder, one row per CLI unit name, in a fixed order.

A new unit writes its component and a builder decorated with ``unit_builder`` (options in
the registry's vocabulary) and adds one row here; nothing registers itself on import.
"""

from __future__ import annotations

from .base import UnitInfo, unit_builder
from .convert import Convert
from .dot import dot_builder, mx_dot_builder
from .fma import approx_fma_builder, fma_builder
from .lmul import lmul_builder
from .mac import int_mac_builder, mac_builder
from .multiplier import IntMultiplier, Multiplier

__all__ = ["UNIT_TABLE"]

_ROUND = ("rounding", "rand_bits", "saturate", "latency", "target", "fmax")


@unit_builder("convert", ("a", "out") + _ROUND,
              "y = encode(decode(a), out): float/int conversions")
def convert_builder(a=None, out=None, rounding="rne", rand_bits=None, saturate=False, latency=None,
                    target=None, fmax=None):
    if a is None or out is None:
        raise ValueError("Unit 'convert' needs an input format (--a) and an output format (--out)")
    return Convert(a, out, rounding=rounding, rand_bits=rand_bits, saturate=saturate,
                   latency=latency, target=target, fmax=fmax)


@unit_builder("multiplier", ("a", "b", "out") + _ROUND + ("dsp",),
              "y = a*b, exact (no --out) or rounded into --out")
def multiplier_builder(a=None, b=None, out=None, rounding="rne", rand_bits=None, saturate=False,
                       latency=None, target=None, fmax=None, dsp=False):
    if a is None:
        raise ValueError("Unit 'multiplier' needs an operand format (--a)")
    return Multiplier(a, b if b is not None else a, out, rounding=rounding,
                      rand_bits=rand_bits, saturate=saturate, latency=latency, target=target,
                      fmax=fmax, dsp=dsp)


@unit_builder("int-multiplier", ("a", "b", "latency", "target", "fmax", "dsp"),
              "y = a*b for integer formats, exact")
def int_multiplier_builder(a=None, b=None, latency=None, target=None, fmax=None, dsp=False):
    if a is None:
        raise ValueError("Unit 'int-multiplier' needs an operand format (--a)")
    return IntMultiplier(a, b if b is not None else a, latency=latency, target=target, fmax=fmax,
                         dsp=dsp)


#: every unit, in the order the CLI lists them
UNIT_TABLE: tuple[UnitInfo, ...] = tuple(fn.unit_info for fn in (
    convert_builder,
    multiplier_builder,
    int_multiplier_builder,
    mac_builder,
    int_mac_builder,
    fma_builder,
    approx_fma_builder,
    lmul_builder,
    dot_builder,
    mx_dot_builder,
))
