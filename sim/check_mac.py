"""Simulation check of the MAC units (``exmy.hdl.mac``: ``mac``, ``int-mac``) against
``exmy.golden.mac``.

A MAC is stateful, so its stimulus is one per-cycle stream of ``(a, b, valid, clear)``
(+ ``rand`` for stochastic rounding) and its expected outputs are the golden model's state
after each cycle. ``run_vectors`` applies vector ``i`` in cycle ``i`` and reads the outputs
``latency`` edges later: by the unit's timing contract ``acc`` (and ``flags``) then show the
state after cycle ``i``, so every cycle is checked, not only the end of a dot product. A
segmented accumulator (``acc_chunk``) changes nothing here: its carry resolution
(``acc_latency`` edges) is part of ``latency``, and the golden model, which knows no chunks,
gives the expected state of every cycle.

``y`` lags ``acc`` by ``y_latency`` further edges, and ``check`` reads every output at the
same ``latency``: at read slot ``i``, ``y`` shows the conversion of the state after cycle
``i - y_latency`` (the reset state before that), rounded with ``rand[i - y_latency]``. The
expected ``y`` is therefore the golden ``y`` of the same stream with ``y_latency`` idle
cycles (valid=0, clear=0, rand=0) put in front, cut to the stream's length.

Stream, in order (all operands are encodings from ``exmy.sim.vectors`` or format facts; the
golden model gives every value):

1. every (a, b) pair of the two formats, shuffled, with valid=1, when the pair space is at
   most 2**16 (otherwise corner x corner), clears at random (some back to back);
2. runs that reach the accumulator's designed range: for each sign, a clear and then
   ``safe_depth + 2`` worst-case products of that sign (capped at n/4 cycles), so the run
   ends two products past the safe count (wrap, or clamp with saturate_acc); then a long
   run without clear of random large products of random sign;
3. special values: corner operands (NaN, ±Inf, zeros) with clears every few cycles, so the
   sticky flags are set, combined (+Inf and -Inf give NaN) and cleared;
4. random operands (biased and uniform) with valid=0 cycles, clears with and without
   valid, and bursts of back-to-back clears, up to ``n`` cycles.

The stream is at least ``n`` cycles long (longer when segments 1-3 need more).
Importing this module registers the adapters.
"""

from __future__ import annotations

import numpy as np

from exmy import golden
from exmy.golden.format import FloatFormat

from . import vectors as V
from .check import Coverage, VariableOutputsAdapter, register_adapter

__all__ = ["mac_stream", "extreme_operands", "mac_expected"]

#: every product of the format pair is applied when the pair space has at most this many bits
PAIR_BITS = 16


def _u64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.uint64)


def _is_int(comp) -> bool:
    return comp.unit == "int-mac"


def _golden(comp, a, b, valid, clear, rand=None) -> dict:
    """The golden model's per-cycle state for ``comp``'s parameters."""
    if _is_int(comp):
        return golden.int_mac(a, b, valid, clear, comp.fmt_a, comp.fmt_b,
                              params=comp.mac_params, saturate_acc=comp.saturate_acc)
    if comp.acc_format is not None:
        return golden.mac(a, b, valid, clear, comp.fmt_a, comp.fmt_b,
                          acc_format=comp.acc_format, rounding=comp.rounding,
                          saturate=comp.saturate, rand=rand, rand_bits=comp.rand_bits)
    return golden.mac(a, b, valid, clear, comp.fmt_a, comp.fmt_b, params=comp.mac_params,
                      fmt_out=comp.fmt_out, rounding=comp.rounding, saturate=comp.saturate,
                      saturate_acc=comp.saturate_acc, rand=rand, rand_bits=comp.rand_bits)


def extreme_operands(comp) -> list[tuple[int, int]]:
    """Operand pairs giving the largest positive and the most negative product (one pair per
    sign that occurs), chosen among the formats' extreme codes by the golden model."""
    fa, fb = comp.fmt_a, comp.fmt_b

    def ends(fmt):
        c = V.named_corners(fmt)
        keys = ("max", "min") if not isinstance(fmt, FloatFormat) else (
            ("+max_finite", "-max_finite") if fmt.signed else ("max_finite",))
        return [c[k] for k in keys if k in c]

    pairs = [(x, y) for x in ends(fa) for y in ends(fb)]
    a = _u64([p[0] for p in pairs])
    b = _u64([p[1] for p in pairs])
    one = np.ones(len(pairs), np.uint8)
    if _is_int(comp):
        vals = golden.int_mac(a, b, one, one, fa, fb, params=comp.mac_params)["acc_value"]
    else:
        vals = golden.mac(a, b, one, one, fa, fb, params=comp.mac_params)["acc_value"]
    vals = [int(v) for v in vals]
    out = [pairs[vals.index(max(vals))]]
    if min(vals) < 0:
        out.append(pairs[vals.index(min(vals))])
    return out


def _clears(n: int, p: float, rng) -> np.ndarray:
    """Random clears with probability ``p`` per cycle plus bursts of 2-4 back-to-back clears."""
    c = (rng.random(n) < p).astype(np.uint8)
    for s in rng.integers(0, max(n, 1), size=max(n // 512, 1)):
        c[s : s + int(rng.integers(2, 5))] = 1
    return c


def mac_stream(comp, n: int, rng: np.random.Generator, *, pairs: bool = True
               ) -> tuple[dict, bool]:
    """The stimulus stream described in the module docstring: ``(inputs, every_pair)``.
    ``pairs=False`` uses corner x corner instead of every pair (short streams for slow
    simulators)."""
    inputs, every, _ = _mac_stream(comp, n, rng, pairs)
    return inputs, every


def _random_segment(comp, m: int, rng) -> tuple[np.ndarray, ...]:
    """Segment 4: ``m`` cycles of random operands, valid=0 cycles and clears."""
    fa, fb = comp.fmt_a, comp.fmt_b
    a = np.concatenate([V.biased(fa, m // 2, rng), V.uniform(fa, m - m // 2, rng)])
    b = np.concatenate([V.biased(fb, m // 2, rng), V.uniform(fb, m - m // 2, rng)])
    perm = rng.permutation(m)
    return (a[perm], b[perm], (rng.random(m) < 0.75).astype(np.uint8), _clears(m, 1 / 64, rng))


def _pack(comp, segs, rng) -> dict:
    inputs = {
        "a": np.concatenate([s[0] for s in segs]).astype(np.uint64),
        "b": np.concatenate([s[1] for s in segs]).astype(np.uint64),
        "valid": np.concatenate([s[2] for s in segs]).astype(np.uint64),
        "clear": np.concatenate([s[3] for s in segs]).astype(np.uint64),
    }
    if getattr(comp, "rounding", None) == "stochastic":
        inputs["rand"] = rng.integers(0, 1 << comp.rand_bits, len(inputs["a"]),
                                      dtype=np.uint64)
    return inputs


def _mac_stream(comp, n, rng, pairs) -> tuple[dict, bool, Coverage]:
    fa, fb = comp.fmt_a, comp.fmt_b
    segs: list[tuple[np.ndarray, ...]] = []

    # 1. every product once (valid=1), or corner x corner
    every = pairs and fa.width + fb.width <= PAIR_BITS
    if every:
        a, b = V.exhaustive(fa, fb)
    else:
        a, b = V.exhaustive_of([V.corners(fa), V.corners(fb)])
    perm = rng.permutation(len(a))
    a, b = a[perm], b[perm]
    segs.append((a, b, np.ones(len(a), np.uint8), _clears(len(a), 1 / 32, rng)))

    # 2. runs to the designed range (and two products past it), then a long mixed run
    p = comp.mac_params
    run = int(min(p.safe_depth + 2, max(n // 4, 64)))
    for x, y in extreme_operands(comp):
        clear = np.zeros(run, np.uint8)
        clear[0] = 1
        segs.append((_u64(np.full(run, x)), _u64(np.full(run, y)), np.ones(run, np.uint8),
                     clear))
    big = [(x, y) for x, y in extreme_operands(comp)]
    m = max(n // 8, 64)
    pick = rng.integers(0, len(big), size=m)
    ca, cb = V.corners(fa), V.corners(fb)
    a = _u64([big[k][0] for k in pick])
    b = _u64([big[k][1] for k in pick])
    mix = rng.random(m) < 0.25  # a quarter random operands in between
    a[mix] = V.biased(fa, int(mix.sum()), rng)
    b[mix] = V.biased(fb, int(mix.sum()), rng)
    clear = np.zeros(m, np.uint8)
    clear[0] = 1
    segs.append((a, b, (rng.random(m) < 0.9).astype(np.uint8), clear))

    # 3. special values: corners (NaN, Inf, zeros...) with frequent clears
    m = max(min(n // 16, 8192), 256)
    a = ca[rng.integers(0, len(ca), size=m)]
    b = cb[rng.integers(0, len(cb), size=m)]
    segs.append((a, b, (rng.random(m) < 0.8).astype(np.uint8), _clears(m, 1 / 6, rng)))

    # 4. random up to n cycles
    used = [len(x[0]) for x in segs]
    m = max(n - sum(used), 0)
    if m:
        segs.append(_random_segment(comp, m, rng))
    k = len(extreme_operands(comp))
    cov = Coverage((
        ("every product pair" if every else "corner x corner", used[0]),
        ("accumulator-range", sum(used[1 : 2 + k])),
        ("special-value", used[-1]),
        ("random", m),
    ))
    return _pack(comp, segs, rng), every, cov


def mac_more(comp, m: int, rng) -> dict:
    """``m`` further cycles of segment 4 (random), a stream of its own from reset."""
    return _pack(comp, [_random_segment(comp, m, rng)], rng)


def mac_outputs(comp) -> tuple[str, ...]:
    """The outputs of ``comp`` that are compared: acc, and flags and y where present."""
    if _is_int(comp) or comp.acc_format is not None:
        return ("acc",)
    return ("acc",) + (("flags",) if comp.has_flags else ()) + (
        ("y",) if comp.fmt_out is not None else ())


def mac_expected(comp, inputs: dict) -> dict[str, np.ndarray]:
    """Expected outputs per read slot (module docstring: ``y`` shifted by ``y_latency``)."""
    a, b, valid, clear = (inputs[k] for k in ("a", "b", "valid", "clear"))
    rand = inputs.get("rand")
    outs = mac_outputs(comp)
    lag = getattr(comp, "y_latency", 0) if "y" in outs else 0

    def pad(x):
        return None if x is None else np.concatenate([np.zeros(lag, np.uint64), _u64(x)])

    # one golden run over the stream with `lag` idle cycles in front: idle cycles leave the
    # reset state as it is, so acc and flags are that run from `lag` on, and y its start
    n = len(a)
    g = _golden(comp, pad(a), pad(b), pad(valid), pad(clear), pad(rand))
    return {o: (g[o][:n] if o == "y" else g[o][lag:]) for o in outs}


def _describe(comp, inputs, i):
    fa, fb = comp.fmt_a, comp.fmt_b
    clear = inputs["clear"]
    last = int(np.nonzero(clear[: i + 1])[0][-1]) if clear[: i + 1].any() else None
    s = (
        f"cycle {i}: a={golden.describe(inputs['a'][i], fa)} "
        f"b={golden.describe(inputs['b'][i], fb)} valid={int(inputs['valid'][i])} "
        f"clear={int(clear[i])} (last clear at cycle {last})"
    )
    if "rand" in inputs:
        s += f" rand=0x{int(inputs['rand'][i]):x}"
    return s


class MacAdapter(VariableOutputsAdapter):
    """The MAC adapter. Which outputs exist depends on the component (flags only when a
    format has NaN/Inf, y only with fmt_out), while ``check`` reads ``adapter.outputs``
    after calling ``expected(comp, inputs)``: so ``expected`` records the component's
    outputs and ``outputs`` returns them."""

    def __init__(self):
        super().__init__(self._stimulus, self._expected, _describe, ("acc",), more=mac_more)

    @staticmethod
    def _stimulus(comp, mode, n, rng):
        # "exhaustive" and "auto" both apply every product when the pair space is small;
        # a stream cannot be exhaustive over sequences, so n sets the length either way.
        inputs, _, cov = _mac_stream(comp, n, rng, True)
        return inputs, cov

    def _expected(self, comp, inputs):
        self._current = mac_outputs(comp)
        return mac_expected(comp, inputs)


register_adapter("mac", MacAdapter())
register_adapter("int-mac", MacAdapter())
