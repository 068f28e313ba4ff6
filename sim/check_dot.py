"""Simulation check of the dot-product units (``exmy.hdl.dot``: ``dot``, ``mx-dot``) against
``exmy.golden.dot`` / ``exmy.golden.mx``.

Stimulus (encodings only; the golden model gives every expected value):

- ``dot`` whose inputs total at most 16 bits (2-lane e2m1fn): every input combination;
  with ``mode='exhaustive'`` up to 24 bits, ``mx-dot`` included (k = 1: every scale
  pair with every element pair);
- otherwise rows of random blocks in these classes: uniform and biased lanes with NaN/Inf
  codes replaced by zero (so that sums are finite and the tree and rounding are exercised),
  biased lanes as they are (NaN, Inf, Inf x 0, +Inf with -Inf), blocks with one corner lane
  among tame ones, massive cancellation (the second half of the lanes the negation of the
  first, plus a few small lanes), all-zero blocks;
- ``mx-dot`` scales: E8M0 mostly near 2^0, else uniform, with 2^-127, 2^127 and NaN; E4M3
  random (zero, NaN and max included, a few negative);
- ``accumulate``: the same rows as a stream with valid=0 cycles, clears (some back to back)
  and long runs without clear; every cycle's ``acc``, ``flags`` and ``y`` are checked.

Importing this module registers the adapters.
"""

from __future__ import annotations

import numpy as np

from exmy import golden
from exmy.golden.dot import dot, dot_mac
from exmy.golden.format import FloatFormat, IntFormat
from exmy.golden.mx import mx_dot, mx_dot_mac

from . import vectors as V
from .check import EXHAUSTIVE_BITS, Coverage, VariableOutputsAdapter, register_adapter

__all__ = ["dot_rows", "scale_codes"]

#: row classes and their shares of a random stimulus
CLASSES = (("tame uniform", 0.35), ("tame biased", 0.2), ("biased with specials", 0.1),
           ("one corner lane", 0.15), ("cancellation", 0.12), ("zero block", 0.08))


def _u64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint64)


def _tame(fmt, codes: np.ndarray) -> np.ndarray:
    """Replace NaN/Inf codes by zero (code 0 is +0 in every format with a zero)."""
    if isinstance(fmt, IntFormat):
        return codes
    r = golden.decode(codes, fmt)
    return np.where(r.nan | r.inf, np.uint64(0), codes)


def _negate(fmt, codes: np.ndarray) -> np.ndarray:
    if isinstance(fmt, IntFormat):
        return _u64((-codes.astype(np.int64)) & ((1 << fmt.bits) - 1))
    if not fmt.signed:
        return codes
    return codes ^ np.uint64(1 << fmt.sign_shift)


def _matrix(fn, fmt, rows: int, k: int, rng) -> np.ndarray:
    return _u64(fn(fmt, rows * k, rng)).reshape(rows, k)


def dot_rows(fa, fb, k: int, n: int, rng) -> tuple[np.ndarray, np.ndarray, Coverage]:
    """``n`` rows of ``k`` lanes in the classes of the module docstring."""
    counts = [int(n * share) for _, share in CLASSES]
    counts[0] += n - sum(counts)
    a_parts, b_parts = [], []
    for (label, _), m in zip(CLASSES, counts, strict=True):
        if m == 0:
            a_parts.append(np.zeros((0, k), np.uint64))
            b_parts.append(np.zeros((0, k), np.uint64))
            continue
        if label == "tame uniform":
            a = _tame(fa, _matrix(V.uniform, fa, m, k, rng))
            b = _tame(fb, _matrix(V.uniform, fb, m, k, rng))
        elif label == "tame biased":
            a = _tame(fa, _matrix(V.biased, fa, m, k, rng))
            b = _tame(fb, _matrix(V.biased, fb, m, k, rng))
        elif label == "biased with specials":
            a = _matrix(V.biased, fa, m, k, rng)
            b = _matrix(V.biased, fb, m, k, rng)
        elif label == "one corner lane":
            a = _tame(fa, _matrix(V.uniform, fa, m, k, rng))
            b = _tame(fb, _matrix(V.uniform, fb, m, k, rng))
            ca, cb = V.corners(fa), V.corners(fb)
            lane = rng.integers(0, k, m)
            a[np.arange(m), lane] = ca[rng.integers(0, len(ca), m)]
            b[np.arange(m), lane] = cb[rng.integers(0, len(cb), m)]
        elif label == "cancellation":
            a = _tame(fa, _matrix(V.biased, fa, m, k, rng))
            b = _tame(fb, _matrix(V.biased, fb, m, k, rng))
            h = k // 2
            if h:
                a[:, h: 2 * h] = a[:, :h]
                b[:, h: 2 * h] = _negate(fb, b[:, :h])
        else:  # zero block
            a = np.zeros((m, k), np.uint64)
            b = _tame(fb, _matrix(V.uniform, fb, m, k, rng))
        a_parts.append(a)
        b_parts.append(b)
    a = np.concatenate(a_parts)
    b = np.concatenate(b_parts)
    cov = Coverage(tuple((label, m) for (label, _), m in zip(CLASSES, counts, strict=True)))
    return a, b, cov


def scale_codes(fmt: FloatFormat, n: int, rng) -> np.ndarray:
    """Block scales: E8M0 near 2^0 (60%), uniform, and the extremes and NaN; E4M3 uniform
    non-negative with zero, NaN and max, a few negative."""
    if fmt.name == "e8m0fnu":
        s = np.where(rng.random(n) < 0.6, rng.integers(117, 138, n), rng.integers(0, 255, n))
        pick = rng.random(n)
        s = np.where(pick < 0.03, 0, np.where(pick < 0.06, 254, np.where(pick < 0.08, 255, s)))
        return _u64(s)
    s = rng.integers(0, 0x7F, n)
    pick = rng.random(n)
    s = np.where(pick < 0.03, 0, np.where(pick < 0.05, 0x7F, np.where(pick < 0.07, 0x7E, s)))
    s = np.where(rng.random(n) < 0.05, s | 0x80, s)
    return _u64(s)


def _is_mx(comp) -> bool:
    return comp.unit == "mx-dot"


def _formats(comp):
    return (comp.elem, comp.elem_b, comp.block) if _is_mx(comp) else (
        comp.fmt_a, comp.fmt_b, comp.lanes)


def _pack(comp, a, b, rng) -> dict:
    n, k = a.shape
    inputs = {}
    if _is_mx(comp):
        inputs["scale_a"] = scale_codes(comp.scale_fmt, n, rng)
        inputs["scale_b"] = scale_codes(comp.scale_fmt, n, rng)
    for i in range(k):
        inputs[f"a{i}"] = _u64(a[:, i])
    for i in range(k):
        inputs[f"b{i}"] = _u64(b[:, i])
    if not _is_mx(comp) and comp.fmt_c is not None:
        inputs["c"] = _u64(np.concatenate([
            V.biased(comp.fmt_c, n // 2, rng), V.uniform(comp.fmt_c, n - n // 2, rng)]))
    if comp.accumulate:
        inputs["valid"] = _u64(rng.random(n) < 0.9)
        clear = rng.random(n) < 1 / 48
        for s in rng.integers(0, max(n, 1), size=max(n // 1024, 1)):
            clear[s: s + int(rng.integers(2, 5))] = True
        inputs["clear"] = _u64(clear)
    return inputs


def _stimulus(comp, mode, n, rng):
    fa, fb, k = _formats(comp)
    mx = _is_mx(comp)
    scales = [comp.scale_fmt] * 2 if mx else []
    bits = k * (fa.width + fb.width) + sum(f.width for f in scales)
    if (mx or comp.fmt_c is None) and not comp.accumulate and (
            mode == "exhaustive" or (mode == "auto" and bits <= EXHAUSTIVE_BITS)):
        if bits > 24:
            raise ValueError(f"Exhaustive checking of {bits} input bits is too large (max 24)")
        cols = V.exhaustive(*(scales + [fa] * k + [fb] * k))
        s, cols = cols[: len(scales)], cols[len(scales):]
        a = np.stack(cols[:k], axis=1)
        b = np.stack(cols[k:], axis=1)
        inputs = _pack(comp, a, b, rng)
        if mx:  # every scale pair with every element pair
            inputs["scale_a"], inputs["scale_b"] = s
        return inputs, Coverage((("exhaustive", len(a)),), True)
    a, b, cov = dot_rows(fa, fb, k, n, rng)
    perm = rng.permutation(n)
    return _pack(comp, a[perm], b[perm], rng), cov


def _more(comp, m, rng):
    fa, fb, k = _formats(comp)
    a, b, _ = dot_rows(fa, fb, k, m, rng)
    perm = rng.permutation(m)
    return _pack(comp, a[perm], b[perm], rng)


def outputs_of(comp) -> tuple[str, ...]:
    if not comp.accumulate:
        return ("y",)
    return ("acc",) + (("flags",) if comp.has_flags else ()) + ("y",)


def expected(comp, inputs: dict) -> dict:
    _, _, k = _formats(comp)
    a = np.stack([inputs[f"a{i}"] for i in range(k)], axis=1)
    b = np.stack([inputs[f"b{i}"] for i in range(k)], axis=1)
    out_kw = {"fmt_out": comp.fmt_out, "rounding": comp.rounding}
    if _is_mx(comp):
        mx_kw = {"elem_b": comp.elem_b, "scale_fmt": comp.scale_fmt}
        if comp.accumulate:
            g = mx_dot_mac(a, b, inputs["scale_a"], inputs["scale_b"], inputs["valid"],
                           inputs["clear"], comp.elem, params=comp.params_obj,
                           saturate_acc=comp.saturate_acc, **out_kw)
            return {o: g[o] for o in outputs_of(comp)}
        return {"y": mx_dot(a, b, inputs["scale_a"], inputs["scale_b"], comp.elem, **mx_kw,
                            **out_kw)}
    if comp.accumulate:
        g = dot_mac(a, b, inputs["valid"], inputs["clear"], comp.fmt_a, comp.fmt_b,
                    params=comp.params_obj, saturate_acc=comp.saturate_acc, **out_kw)
        return {o: g[o] for o in outputs_of(comp)}
    c = inputs.get("c")
    return {"y": dot(a, b, comp.fmt_a, comp.fmt_b, c=c, fmt_c=comp.fmt_c, **out_kw)}


def _describe(comp, inputs, i):
    fa, fb, k = _formats(comp)
    parts = []
    if _is_mx(comp):
        parts += [f"scale_a={golden.describe(inputs['scale_a'][i], comp.scale_fmt)}",
                  f"scale_b={golden.describe(inputs['scale_b'][i], comp.scale_fmt)}"]
    parts.append("a=[" + ", ".join(f"0x{int(inputs[f'a{j}'][i]):x}" for j in range(k)) + "]")
    parts.append("b=[" + ", ".join(f"0x{int(inputs[f'b{j}'][i]):x}" for j in range(k)) + "]")
    if "c" in inputs:
        parts.append(f"c={golden.describe(inputs['c'][i], comp.fmt_c)}")
    if "valid" in inputs:
        parts.append(f"valid={int(inputs['valid'][i])} clear={int(inputs['clear'][i])}")
    return f"row {i}: " + " ".join(parts)


class DotAdapter(VariableOutputsAdapter):
    """One adapter for dot and mx-dot; the compared outputs depend on the component."""

    def __init__(self):
        super().__init__(_stimulus, self._expected, _describe, ("y",), more=_more)

    def _expected(self, comp, inputs):
        self._current = outputs_of(comp)
        return expected(comp, inputs)


register_adapter("dot", DotAdapter())
register_adapter("mx-dot", DotAdapter())
