"""Simulation check of the FMA units (``exmy.hdl.fma``: ``fma``, ``approx-fma``) against
``exmy.golden.fma`` (``fma``, ``approx_fma``).

Stimulus (encodings from ``exmy.sim.vectors`` and field arithmetic; where a case needs a
value, here the massive-cancellation addend, the golden model computes it):

- ``mode="exhaustive"``: every (a, b, c) (at most 2**26 vectors: the slow tier's 2**24
  E4M3FN/E5M2 sets).
- ``mode="auto"`` with a and b of at most 16 bits together (E4M3FN, E5M2, ...): every (a, b)
  pair against each value of ``addend_set(c)``: corners, one code per exponent field with a
  random mantissa, topped up to at least 64 codes (E4M3FN: 65,536 x 64, E5M2 x 70). Where c
  has at most 6 bits (64 codes) that is every (a, b, c): the exhaustive stimulus, so named.
- otherwise (``mode="random"``, or wide formats): ``fma_stimulus``, ``n`` seeded vectors plus
  the corner cube.

Importing this module registers the adapters.
"""

from __future__ import annotations

import numpy as np

from exmy import golden
from exmy.golden.format import FloatFormat

from . import vectors as V
from .check import Adapter, Coverage, register_adapter

__all__ = ["addend_set", "fma_stimulus", "pairs_by_addends", "FMA_ADDENDS"]

#: smallest addend set used against every (a, b) pair
FMA_ADDENDS = 64


def _codes(f: FloatFormat, sign, field, man) -> np.ndarray:
    field = np.clip(np.asarray(field, dtype=np.int64), 0, f.exp_max_field).astype(np.uint64)
    out = (field << np.uint64(f.man_bits)) | (np.asarray(man, dtype=np.uint64) & np.uint64(
        f.man_mask))
    if f.signed:
        out |= np.asarray(sign, dtype=np.uint64) << np.uint64(f.sign_shift)
    return out.astype(np.uint64)


def addend_set(f: FloatFormat, rng: np.random.Generator, n_min: int = FMA_ADDENDS) -> np.ndarray:
    """At least ``n_min`` distinct codes of ``f``: its corners (both signs of zeros,
    subnormals, ±1, max, Inf and the NaNs), one code per exponent field with a random
    non-zero mantissa (signs alternating: every exponent), then uniform random codes up to
    ``n_min``."""
    seen: dict[int, None] = dict.fromkeys(int(x) for x in V.corners(f))
    for field in range(f.exp_max_field + 1):
        man = int(rng.integers(1, f.man_mask + 1)) if f.man_mask else 0
        seen.setdefault(int(_codes(f, field & int(f.signed), field, man)), None)
    while len(seen) < min(n_min, 1 << f.width):
        seen.setdefault(int(rng.integers(0, 1 << f.width)), None)
    return np.array(list(seen), dtype=np.uint64)


def pairs_by_addends(fa, fb, fc, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (a, b) pair against every code of ``addend_set(fc)`` (c varies slowest)."""
    cs = addend_set(fc, rng)
    c, a, b = V.exhaustive_of([cs, np.arange(1 << fa.width), np.arange(1 << fb.width)])
    return a, b, c


def fma_stimulus(fa, fb, fc, n: int, rng: np.random.Generator, *, cube: bool = True):
    """``(a, b, c)``: the corner cube (every corner triple; not with ``cube=False``) and
    ``n`` seeded vectors in six equal shares (sizes differing by at most one): uniform;
    biased operands (``vectors.biased``); product and addend exponents within 3 binades;
    massive cancellation (c = -(a*b rounded to c's format), nudged by up to 3 codes);
    overflow edge (product and addend near max_finite); underflow edge (products around c's
    subnormal range, subnormal addends)."""
    share = iter([n // 6 + (i < n % 6) for i in range(6)])

    def uni(f, m):
        return V.uniform(f, m, rng)

    def fields(f, m, lo, hi):
        return _codes(f, rng.integers(0, 2, m), rng.integers(lo, np.asarray(hi) + 1, m),
                      rng.integers(0, f.man_mask + 1, m, dtype=np.uint64))

    def exp_field(x, f):
        return ((x >> np.uint64(f.man_bits)) & np.uint64(f.exp_max_field)).astype(np.int64)

    def pair(m, lo, hi):
        """a, b whose unbiased exponents sum to lo..hi (where the formats allow it)."""
        ea = rng.integers(0, fa.exp_max_field + 1, m)
        eb = rng.integers(lo, hi + 1, m) - (np.maximum(ea, 1) - fa.bias) + fb.bias
        return fields(fa, m, ea, ea), fields(fb, m, eb, eb)

    parts = [V.exhaustive_of([V.corners(fa), V.corners(fb), V.corners(fc)])] if cube else []
    k = next(share)
    parts.append((uni(fa, k), uni(fb, k), uni(fc, k)))
    k = next(share)
    parts.append((V.biased(fa, k, rng), V.biased(fb, k, rng), V.biased(fc, k, rng)))
    # product and addend exponents close
    k = next(share)
    a, b = uni(fa, k), uni(fb, k)
    ec = (np.maximum(exp_field(a, fa), 1) - fa.bias + np.maximum(exp_field(b, fb), 1) - fb.bias
          + fc.bias + rng.integers(-3, 4, k))
    parts.append((a, b, fields(fc, k, ec, ec)))
    # massive cancellation: c = -(a*b rounded into c's format), nudged by a few codes
    k = next(share)
    a, b = uni(fa, k), uni(fb, k)
    c = golden.multiply(a, b, fa, fb, fc, saturate=True)
    mag_mask = (1 << (fc.exp_bits + fc.man_bits)) - 1
    mag = (c & np.uint64(mag_mask)).astype(np.int64) + rng.integers(-3, 4, k)
    mag = np.clip(mag, 0, fc.max_finite_code).astype(np.uint64)
    sign = (~c >> np.uint64(fc.sign_shift)) & np.uint64(1) if fc.signed else 0
    parts.append((a, b, _codes(fc, sign, mag >> np.uint64(fc.man_bits), mag)))
    # overflow edge
    k = next(share)
    top = fc.exp_max_field
    parts.append((*pair(k, fc.emax - 3, fc.emax + 1), fields(fc, k, top - 3, top)))
    # underflow edge
    k = next(share)
    parts.append((*pair(k, fc.emin - fc.man_bits - 3, fc.emin + 1), fields(fc, k, 0, 2)))
    return tuple(np.concatenate([p[i] for p in parts]).astype(np.uint64) for i in range(3))


def _fma_stimulus(comp, mode, n, rng):
    fa, fb, fc = comp.fmt_a, comp.fmt_b, comp.fmt_c
    small = fa.width + fb.width <= 16 and fc.width <= 16
    if mode == "exhaustive" or (mode == "auto" and small and 1 << fc.width <= FMA_ADDENDS):
        # (auto: an addend set of FMA_ADDENDS codes is every code of a c of 6 bits or fewer,
        # so the pairs x addends would be every input combination: say so, and apply them)
        a, b, c = V.exhaustive(fa, fb, fc)
        return {"a": a, "b": b, "c": c}, Coverage((("exhaustive", len(a)),), True)
    if mode == "auto" and small:
        a, b, c = pairs_by_addends(fa, fb, fc, rng)
        k = len(a) >> (fa.width + fb.width)
        return {"a": a, "b": b, "c": c}, Coverage(((f"every (a, b) pair x {k} addends",
                                                     len(a)),))
    a, b, c = fma_stimulus(fa, fb, fc, n, rng)
    return {"a": a, "b": b, "c": c}, Coverage((("corner-cube", len(a) - n), ("random", n)))


def _fma_more(comp, m, rng):
    a, b, c = fma_stimulus(comp.fmt_a, comp.fmt_b, comp.fmt_c, m, rng, cube=False)
    return {"a": a, "b": b, "c": c}


def _fma_expected(comp, inputs):
    args = (inputs["a"], inputs["b"], inputs["c"], comp.fmt_a, comp.fmt_b, comp.fmt_c,
            comp.fmt_out)
    kw = dict(rounding=comp.rounding, saturate=comp.saturate)
    if comp.unit == "approx-fma":
        y = golden.approx_fma(*args, granularity=comp.granularity, window=comp.window, **kw)
    else:
        y = golden.fma(*args, **kw)
    return {"y": y}


def _fma_describe(comp, inputs, i):
    s = (
        f"a={golden.describe(inputs['a'][i], comp.fmt_a)} "
        f"b={golden.describe(inputs['b'][i], comp.fmt_b)} "
        f"c={golden.describe(inputs['c'][i], comp.fmt_c)} "
        f"(rounding={comp.rounding}, saturate={comp.saturate}"
    )
    if comp.unit == "approx-fma":
        s += f", granularity={comp.granularity}, window={comp.window}"
    return s + ")"


register_adapter("fma", Adapter(_fma_stimulus, _fma_expected, _fma_describe, more=_fma_more,
                                fixed_in_n=False))
register_adapter("approx-fma", Adapter(_fma_stimulus, _fma_expected, _fma_describe,
                                       more=_fma_more, fixed_in_n=False))
