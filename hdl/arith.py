"""Pipelinable integer arithmetic for frequency-directed pipelining (SPEC 6): a significand
multiplier built as partial products and an adder tree, a wide adder split into carry-chain
chunks, a barrel shifter built level by level, and a leading-zero count.

Every builder takes ``pipe`` (an :class:`exmy.hdl.util.Pipeline`, or None) and ``carry``: the
other values of the datapath that are still needed after it (a dict name -> value; None
entries pass through). Between its levels a builder calls :func:`cut`, a fine cut point of
the pipeline annotated with the delay of the level (``dm``, an
:class:`exmy.hdl.timing.DelayModel`); every value that is still needed later (the builder's
partial results and ``carry``) goes through every cut, so a path that skips a stage gets its
balancing register. A builder returns its result and the (possibly registered) ``carry``.

``delay_in`` is the delay of the caller's logic since its last cut (it is added to the
builder's first level); each builder returns the delay of its logic after its last cut in
``Built.delay``, for the caller's next cut.

These builders are for fmax mode: with an explicit latency (``pipe.plan is None``) the units
keep their single ``*``, ``+`` and ``>>`` (same Verilog as before fmax mode existed).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

__all__ = ["cut", "replicate", "Built", "magnitudes", "tree_multiply", "chunked_add",
           "staged_shift_right", "staged_shift_left", "staged_lzc"]


def cut(pipe, name: str, delay: float, values: dict) -> dict:
    """A fine cut point ``name`` of ``pipe`` for a dict of values (None passes through):
    the values come back registered where the placement puts a register, unchanged
    otherwise (and always unchanged without a pipe or with an explicit latency)."""
    if pipe is None:
        return dict(values)
    keys = [k for k, v in values.items() if v is not None]
    if not keys:
        pipe.stage(name, Const(0, 1), delay=delay)
        return dict(values)
    out = pipe.stage(name, *[Value.cast(values[k]) for k in keys], delay=delay)
    if len(keys) == 1:
        out = (out,)
    res = dict(values)
    res.update(zip(keys, out, strict=True))
    return res


def replicate(bit: Value, n: int) -> Value:
    """``bit`` repeated ``n`` times (a 0-bit value for ``n`` <= 0)."""
    return bit.replicate(n) if n > 0 else Const(0, 0)


@dataclass
class Built:
    """What a builder returns: its result, the carried values, and the delay (ns) of its
    logic after its last cut point."""

    value: Value
    carry: dict
    delay: float


def tree_level(m: Module, terms: list, name: str) -> tuple[list, int]:
    """One level of a partial-product tree: neighbouring terms ``(value, weight of bit 0)``
    added pairwise on carry chains (signals ``{name}_{i}``), an odd last term passed on.
    Returns the next level's terms and the widest adder's width."""
    nxt, widest = [], 0
    for i in range(0, len(terms) - 1, 2):
        (x, sx), (y, sy) = terms[i], terms[i + 1]
        k = sy - sx  # x's low k bits pass straight through
        hi_w = max(len(x) - k, len(y)) + 1
        s = Signal(k + hi_w, name=f"{name}_{i // 2}")
        m.d.comb += s.eq(Cat(x[:k], x[k:] + y))
        nxt.append((s, sx))
        widest = max(widest, hi_w)
    if len(terms) % 2:
        nxt.append(terms[-1])
    return nxt, widest


def magnitudes(m: Module, a: Value, b: Value, *, signed_a: bool, signed_b: bool, dm,
               name: str = "s0_mag") -> tuple[Signal, Signal, Value, Value, float]:
    """``|a|`` and ``|b|`` for :func:`tree_multiply`: a two's-complement operand as
    ``(x ^ s) + s`` (an unsigned one as it is), in signals ``<name>_a`` and ``<name>_b``.
    Returns them, the two sign bits and the delay the cut after them carries: the
    magnitudes' carry chains and the route from their carry out into the tree's first adder
    (without that route the pair was the critical path at fmax 200: docs/results/mac_fmax.md
    for the int-mac, docs/results/fmax.md "Out of sample" for the int-multiplier)."""
    wa, wb = len(a), len(b)
    sa = a[wa - 1] if signed_a else Const(0, 1)
    sb = b[wb - 1] if signed_b else Const(0, 1)
    ma = Signal(wa, name=f"{name}_a")
    mb = Signal(wb, name=f"{name}_b")
    m.d.comb += [ma.eq((a.as_unsigned() ^ sa.replicate(wa)) + sa),
                 mb.eq((b.as_unsigned() ^ sb.replicate(wb)) + sb)]
    delay = dm.adder(max(wa, wb)) + dm.lut(1) if (signed_a or signed_b) else 0.0
    return ma, mb, sa, sb, delay


def tree_multiply(m: Module, a: Value, b: Value, *, pipe=None, dm, carry=None,
                  delay_in: float = 0.0, name: str = "mul") -> Built:
    """Unsigned product ``a * b`` (``len(a) + len(b)`` bits) as AND partial products (one row
    per bit of the narrower operand) summed by a binary tree of carry-chain adders, with a
    fine cut ``"mul_level"`` after every tree level. The first level's AND gates pack into
    the adders' input LUTs."""
    a, b = Value.cast(a), Value.cast(b)
    if len(a) < len(b):
        a, b = b, a
    wa, wb = len(a), len(b)
    carry = dict(carry or {})
    # terms: (value, weight of its bit 0)
    terms = [(Mux(b[j], a, 0), j) for j in range(wb)]
    if wb == 1:
        return Built(Cat(terms[0][0], Const(0, 1)), carry, delay_in + dm.lut(1))
    level, delay = 0, delay_in
    while len(terms) > 1:
        terms, widest = tree_level(m, terms, f"{name}_l{level}")
        # a level after the first also pays the route from a carry chain's output into the
        # next chain's input LUT (two chained 5-bit adders: docs/results/fmax_units.md)
        delay += dm.adder(widest) + (dm.lut(1) if level else 0.0)
        level += 1
        if len(terms) > 1:
            vals = {f"t{i}": t for i, (t, _) in enumerate(terms)}
            vals.update(carry)
            vals = cut(pipe, "mul_level", delay, vals)
            terms = [(vals[f"t{i}"], s) for i, (_, s) in enumerate(terms)]
            carry = {k: vals[k] for k in carry}
            delay = 0.0
    prod, shift = terms[0]
    out = Signal(wa + wb, name=f"{name}_product")
    m.d.comb += out.eq(Cat(Const(0, shift), prod) if shift else prod)
    return Built(out, carry, delay)


def chunked_add(m: Module, a: Value, b: Value, *, chunk: int, pipe=None, dm, carry=None,
                cin: Value | None = None, delay_in: float = 0.0, name: str = "add") -> Built:
    """Unsigned ``a + b (+ cin)`` (``max(len(a), len(b)) + 1`` bits) as carry-chain chunks of
    ``chunk`` bits, least significant first, with a fine cut ``"add_chunk"`` after each
    chunk but the last: the chunk's carry out is what crosses the register (the sums of
    lower chunks and the inputs of higher ones ride along)."""
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"Chunk width must be a positive integer, not {chunk!r}")
    a, b = Value.cast(a), Value.cast(b)
    w = max(len(a), len(b))
    a, b = a.as_unsigned(), b.as_unsigned()
    a = Cat(a, Const(0, w - len(a))) if len(a) < w else a
    b = Cat(b, Const(0, w - len(b))) if len(b) < w else b
    carry = dict(carry or {})
    c = Const(0, 1) if cin is None else Value.cast(cin)
    n = -(-w // chunk)
    done: list[Value] = []
    delay = delay_in
    for i in range(n):
        lo, hi = i * chunk, min(w, (i + 1) * chunk)
        s = Signal(hi - lo + 1, name=f"{name}_c{i}")
        m.d.comb += s.eq(a[lo:hi] + b[lo:hi] + c)
        delay += dm.adder(hi - lo)
        done.append(s[: hi - lo])
        c = s[hi - lo]
        if i < n - 1:
            vals = {f"d{j}": d for j, d in enumerate(done)}
            vals.update(c=c, a=a[hi:], b=b[hi:])
            vals.update(carry)
            vals = cut(pipe, "add_chunk", delay, vals)
            done = [vals[f"d{j}"] for j in range(len(done))]
            c = vals["c"]
            rest_a, rest_b = vals["a"], vals["b"]
            a = Cat(Const(0, hi), rest_a)
            b = Cat(Const(0, hi), rest_b)
            carry = {k: vals[k] for k in carry}
            delay = 0.0
    out = Signal(w + 1, name=f"{name}_sum")
    m.d.comb += out.eq(Cat(*done, c))
    return Built(out, carry, delay)


def _staged_shift(m, v, amount, *, right, pipe, dm, carry, delay_in, name, sticky,
                  levels_per_stage):
    v, amount = Value.cast(v), Value.cast(amount)
    w = len(v)
    carry = dict(carry or {})
    lost = Const(0, 1)
    delay = delay_in
    nbits = len(amount)
    for k in range(nbits):
        sh = 1 << k
        step = amount[k]
        if right:
            moved = v >> sh if sh < w else Const(0, w)
            if sticky:
                gone = (v[: min(sh, w)] != 0) & step
                lost_k = Signal(name=f"{name}_lost{k}")
                m.d.comb += lost_k.eq(lost | gone)
                lost = lost_k
        else:
            moved = (v << sh)[:w] if sh < w else Const(0, w)
        nv = Signal(w, name=f"{name}_lv{k}")
        m.d.comb += nv.eq(Mux(step, moved, v))
        v = nv
        if sticky:
            delay += dm.logic(min(sh, w) + 2) if levels_per_stage == 1 else dm.lut(1)
        else:
            delay += dm.lut(1)
        last = k == nbits - 1
        if not last and (k + 1) % levels_per_stage == 0:
            vals = {"v": v, "amount": amount[k + 1:], "lost": lost if sticky else None}
            vals.update(carry)
            vals = cut(pipe, "shift_level", delay, vals)
            v = vals["v"]
            amount = Cat(Const(0, k + 1), vals["amount"])
            if sticky:
                lost = vals["lost"]
            carry = {kk: vals[kk] for kk in carry}
            delay = 0.0
    return v, lost, carry, delay


def staged_shift_right(m: Module, v: Value, amount: Value, *, pipe=None, dm, carry=None,
                       delay_in: float = 0.0, name: str = "shr", sticky: bool = True,
                       levels_per_stage: int = 1) -> tuple[Built, Value]:
    """``v >> amount`` (same width) as one 2:1 multiplexer level per bit of ``amount``
    (least significant first), with a fine cut ``"shift_level"`` after every
    ``levels_per_stage`` levels. With ``sticky`` also returns the OR of the bits shifted out
    (collected level by level); returns ``(Built(shifted, carry, delay), lost)``."""
    v, lost, carry, delay = _staged_shift(m, v, amount, right=True, pipe=pipe, dm=dm,
                                          carry=carry, delay_in=delay_in, name=name,
                                          sticky=sticky, levels_per_stage=levels_per_stage)
    return Built(v, carry, delay), lost


def staged_shift_left(m: Module, v: Value, amount: Value, *, pipe=None, dm, carry=None,
                      delay_in: float = 0.0, name: str = "shl",
                      levels_per_stage: int = 1) -> Built:
    """``(v << amount)[:len(v)]`` as one multiplexer level per bit of ``amount``, a fine cut
    ``"shift_level"`` after every ``levels_per_stage`` levels."""
    v, _, carry, delay = _staged_shift(m, v, amount, right=False, pipe=pipe, dm=dm,
                                       carry=carry, delay_in=delay_in, name=name, sticky=False,
                                       levels_per_stage=levels_per_stage)
    return Built(v, carry, delay)


def staged_lzc(m: Module, v: Value, *, pipe=None, dm, carry=None, delay_in: float = 0.0,
               name: str = "lzc", levels_per_stage: int = 2) -> Built:
    """Leading zeros of ``v`` (``len(v)`` when zero) as a log tree over a power-of-two
    padding, with a fine cut ``"lzc_level"`` after every ``levels_per_stage`` tree levels;
    ``value`` has ``range(len(v) + 1)``."""
    v = Value.cast(v)
    w = len(v)
    carry = dict(carry or {})
    p2 = 1
    while p2 < w:
        p2 *= 2
    padded = Cat(Const(0, p2 - w), v) if p2 > w else v
    # nodes: list of (count, all_zero), from the least significant group up
    nodes = [(Const(0, 0), ~padded[i]) for i in range(p2)]
    delay, level = delay_in, 0
    while len(nodes) > 1:
        nxt = []
        for i in range(0, len(nodes), 2):
            lo_c, lo_z = nodes[i]
            hi_c, hi_z = nodes[i + 1]
            c = Signal(len(hi_c) + 1, name=f"{name}_n{level}_{i // 2}c")
            z = Signal(name=f"{name}_n{level}_{i // 2}z")
            m.d.comb += [c.eq(Mux(hi_z, Cat(lo_c, Const(1, 1)), Cat(hi_c, Const(0, 1)))),
                         z.eq(hi_z & lo_z)]
            nxt.append((c, z))
        nodes = nxt
        level += 1
        delay += dm.lut(1)
        if len(nodes) > 1 and level % levels_per_stage == 0:
            vals = {}
            for i, (c, z) in enumerate(nodes):
                vals[f"c{i}"], vals[f"z{i}"] = c, z
            vals.update(carry)
            vals = cut(pipe, "lzc_level", delay, vals)
            nodes = [(vals[f"c{i}"], vals[f"z{i}"]) for i in range(len(nodes))]
            carry = {k: vals[k] for k in carry}
            delay = 0.0
    count, zero = nodes[0]
    out = Signal(range(w + 1), name=f"{name}_count")
    m.d.comb += out.eq(Mux(zero, w, count))
    return Built(out, carry, delay + dm.lut(1))
