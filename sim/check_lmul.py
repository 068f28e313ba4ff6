"""Simulation check of the L-Mul unit (``exmy.hdl.lmul.LMul``) against ``exmy.golden.lmul``.

Stimulus: every pair of encodings when the two operands total at most 16 bits; otherwise
corner x corner, then a third of the rest as exponent-sum edge pairs (b's exponent field
chosen so the result lands next to the flush-to-zero or the overflow boundary, where the
adder's carry decides), a third biased and a third uniform random (``exmy.sim.vectors``).
Importing this module registers the adapter.
"""

from __future__ import annotations

import numpy as np

from exmy import golden

from . import vectors as V
from .check import Adapter, Coverage, _operands, _random_operand, register_adapter

__all__ = ["edge_partners"]


def edge_partners(comp, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each operand code in ``a``, a partner ``b`` whose exponent field puts the L-Mul
    result's exponent field within 2 of the underflow edge (0/1) or of the top field.

    Pure field bookkeeping: output field = field_a + field_b + bias_out - 2 bias (+1 on a
    mantissa carry); no values are computed.
    """
    f, fo = comp.fmt, comp.fmt_out
    M = f.man_bits
    n = len(a)
    k_exp = fo.bias - 2 * f.bias
    fa = ((a >> np.uint64(M)) & np.uint64(f.exp_max_field)).astype(np.int64)
    low = rng.integers(0, 2, size=n).astype(bool)
    target = np.where(low, 1, fo.exp_max_field) - k_exp + rng.integers(-2, 3, size=n)
    fb = np.clip(target - fa, 0, f.exp_max_field).astype(np.uint64)
    man = rng.integers(0, f.man_mask + 1, size=n, dtype=np.uint64)
    b = (fb << np.uint64(M)) | man
    if f.signed:
        b |= rng.integers(0, 2, size=n, dtype=np.uint64) << np.uint64(f.sign_shift)
    return b


def _lmul_stimulus(comp, mode, n, rng):
    f = comp.fmt
    (a, b), cov = _operands((f, f), mode, n, rng)
    if not cov:
        k = len(V.corners(f)) ** 2
        m = max(len(a) - k, 0) // 3
        if m:
            b = b.copy()
            b[k : k + m] = edge_partners(comp, a[k : k + m], rng)
        cov = Coverage((("corner x corner", k), ("exponent-edge", m),
                        ("random", len(a) - k - m)))
    return {"a": a, "b": b}, cov


def _lmul_more(comp, m, rng):
    """``m`` random vectors: a third exponent-edge pairs, the rest biased and uniform."""
    f = comp.fmt
    a, b = _random_operand(f, m, rng), _random_operand(f, m, rng)
    e = m // 3
    if e:
        b[:e] = edge_partners(comp, a[:e], rng)
    return {"a": a, "b": b}


def _lmul_expected(comp, inputs):
    return {
        "y": golden.lmul(
            inputs["a"], inputs["b"], comp.fmt, comp.fmt_out, form=comp.form,
            offset=comp.offset, saturate=comp.saturate,
        )
    }


def _lmul_describe(comp, inputs, i):
    return (
        f"a={golden.describe(inputs['a'][i], comp.fmt)} "
        f"b={golden.describe(inputs['b'][i], comp.fmt)} "
        f"(form={comp.form}, offset={comp.offset}, saturate={comp.saturate}, "
        f"out={comp.fmt_out})"
    )


register_adapter("lmul", Adapter(_lmul_stimulus, _lmul_expected, _lmul_describe,
                                 more=_lmul_more))
