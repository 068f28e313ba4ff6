"""The dot products' fmax-mode pieces (frequency-directed pipelining, SPEC 6): every lane's
decode, product, alignment and sum built side by side, so that one fine cut point serves all
lanes (``exmy.hdl.dot``'s ``_DotBase`` builds the datapath from them; its docstring names the
cuts). :func:`aligned` is latency mode's alignment too.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from exmy.golden.format import IntFormat

from .arith import cut, tree_level
from .float import decode, decode_int

__all__ = ["aligned", "chunked_many", "decode_fine", "decode_fine_delay", "products",
           "shift_left_many", "sum_fine", "unaligned"]


def decode_fine(m: Module, bits: Value, fmt, name: str):
    """fmax mode's operand decode: ``(sign, sig, f1, nan, inf, zero)`` with ``f1 = max(field,
    1)`` (the offset plus one, LUT logic instead of an adder; None for an integer format,
    whose offset is 0; the exponent field itself, which is the offset, for a format without
    a zero: the E8M0 scale). The class flags and sign are :func:`exmy.hdl.dot._decode`'s."""
    bits = Value.cast(bits)
    if isinstance(fmt, IntFormat):
        d = decode_int(m, bits, fmt, name)
        zero = Signal(name=f"{name}_zero")
        m.d.comb += zero.eq(bits == 0)
        return d.sign, d.sig, None, Const(0, 1), Const(0, 1), zero
    d = decode(m, bits, fmt, name, normalize_sub=False)
    M, E = fmt.man_bits, fmt.exp_bits
    man, fld = bits[:M], bits[M : M + E]
    if not fmt.zero:  # a scale such as E8M0 (no zero, min_exp_field 0): f1 is the offset
        return d.sign, Cat(man, Const(1, 1)), fld, d.is_nan, d.is_inf, d.is_zero
    nz = Signal(name=f"{name}_normal")
    m.d.comb += nz.eq(fld != 0)
    f1 = Cat(fld[0] | ~nz, fld[1:])
    if not M:
        sig = nz
    elif fmt.subnormals:
        sig = Cat(man, nz)
    else:  # subnormal codes are zeros
        sig = Cat(man & nz.replicate(M), nz)
    return d.sign, sig, f1, d.is_nan, d.is_inf, d.is_zero


def decode_fine_delay(dm, fmt) -> float:
    """Delay of :func:`decode_fine`: an integer's negation, a float's class flags (a
    function of all its bits)."""
    if isinstance(fmt, IntFormat):
        return max(dm.adder(fmt.bits), dm.logic(fmt.bits))
    return dm.logic(fmt.width)


def products(m: Module, pairs, *, pipe, dm, fmax: float, v: dict, par: float = 0.0):
    """The unsigned products of ``pairs`` side by side: one ``*`` each when the delay model
    says the widest fits the period, else AND partial products summed by carry-chain adder
    trees built level by level for every pair at once (``exmy.hdl.arith.tree_multiply``'s
    structure), with one fine cut ``mul_level`` between levels for all of them. ``v``: the
    values carried through the cuts; ``par``: delay of logic beside the first level.
    Returns ``(products, v, delay after the last cut)``."""
    dims = [(len(Value.cast(a)), len(Value.cast(b))) for a, b in pairs]
    worst = max(dm.multiplier(wa, wb) for wa, wb in dims)
    if all(dm.star_fits(wa, wb, fmax) for wa, wb in dims):
        out = []
        for i, (a, b) in enumerate(pairs):
            p = Signal(len(Value.cast(a)) + len(Value.cast(b)), name=f"mul{i}_product")
            m.d.comb += p.eq(a * b)
            out.append(p)
        return out, v, max(worst, par)
    states, widths = [], []
    for a, b in pairs:
        a, b = Value.cast(a), Value.cast(b)
        widths.append(len(a) + len(b))
        if len(a) < len(b):
            a, b = b, a
        states.append([(Mux(b[j], a, 0), j) for j in range(len(b))])
    level, delay = 0, dm.lut(1)
    while any(len(t) > 1 for t in states):
        if level == 0:
            delay = 0.0  # the AND gates pack into the first adders' input LUTs
        widest = 0
        for p, terms in enumerate(states):
            if len(terms) > 1:
                states[p], w = tree_level(m, terms, f"mul{p}_l{level}")
                widest = max(widest, w)
        # a level after the first also pays the route from one carry chain into the next
        delay += dm.adder(widest) + (dm.lut(1) if level else 0.0)
        if level == 0:
            delay = max(delay, par)
        level += 1
        if any(len(t) > 1 for t in states):
            vals = {f"m{p}_{i}": t for p, terms in enumerate(states)
                    for i, (t, _) in enumerate(terms)}
            vals = cut(pipe, "mul_level", delay, {**vals, **v})
            states = [[(vals[f"m{p}_{i}"], s) for i, (_, s) in enumerate(terms)]
                      for p, terms in enumerate(states)]
            v = {k: vals[k] for k in v}
            delay = 0.0
    out = []
    for p, terms in enumerate(states):
        val, shift = terms[0]
        o = Signal(widths[p], name=f"mul{p}_product")
        m.d.comb += o.eq(Cat(Const(0, shift), val) if shift else val)
        out.append(o)
    return out, v, max(delay, par)


def shift_left_many(m: Module, vals: list, amounts: list, *, pipe, dm, v: dict,
                     name: str = "align"):
    """``(vals[i] << amounts[i])[:len(vals[i])]`` for every value at once (None: no shift),
    one 2:1 multiplexer level per amount bit, a fine cut ``shift_level`` after every level
    but the last (one cut for all values). Returns ``(shifted, v, delay after the last
    cut)``."""
    vals = [Value.cast(x) for x in vals]
    amounts = [None if a is None else Value.cast(a) for a in amounts]
    n = max((len(a) for a in amounts if a is not None), default=0)
    delay = 0.0
    for k in range(n):
        for i, (x, a) in enumerate(zip(vals, amounts, strict=True)):
            if a is None or k >= len(a):
                continue
            w = len(x)
            moved = (x << (1 << k))[:w] if (1 << k) < w else Const(0, w)
            nx = Signal(w, name=f"{name}{i}_lv{k}")
            m.d.comb += nx.eq(Mux(a[k], moved, x))
            vals[i] = nx
        delay += dm.lut(1)
        if k < n - 1:
            d = {f"x{i}": x for i, x in enumerate(vals)}
            d.update({f"a{i}": a[k + 1:] for i, a in enumerate(amounts)
                      if a is not None and k + 1 < len(a)})
            d = cut(pipe, "shift_level", delay, {**d, **v})
            vals = [d[f"x{i}"] for i in range(len(vals))]
            amounts = [Cat(Const(0, k + 1), d[f"a{i}"]) if f"a{i}" in d else None
                       for i in range(len(amounts))]
            v = {kk: d[kk] for kk in v}
            delay = 0.0
    return vals, v, delay


def aligned(x: Value, drop: int, extra: int, mag_w: int):
    """What :func:`shift_left_many` shifts so that ``Cat(0 * extra, shifted[drop:])`` is
    ``((x << (amount - drop)) << extra)[:mag_w]`` (latency mode's alignment)."""
    wide = mag_w - extra + drop
    x = Value.cast(x)
    return Cat(x, Const(0, max(wide - len(x), 0)))[:wide]


def unaligned(shifted: Value, drop: int, extra: int) -> Value:
    return Cat(Const(0, extra), Value.cast(shifted)[drop:]) if extra else (
        Value.cast(shifted)[drop:])


def chunked_many(m: Module, ops: list, W: int, chunk: int, *, pipe, dm, v: dict,
                  delay_in: float = 0.0, name: str = "add"):
    """``(a + b + cin) mod 2**W`` for every ``(a, b, cin)`` of ``ops`` at once (unsigned,
    ``W`` bits; ``cin`` may be None) as carry-chain chunks of ``chunk`` bits, least
    significant first, with one fine cut ``add_chunk`` between chunks for all of them
    (``exmy.hdl.arith.chunked_add``'s structure, side by side): a chunk's carry out, the sums
    below and the operands' bits above cross the register. Returns ``(sums, v, delay after
    the last cut)``."""
    n = -(-W // chunk)
    ext = [Const(0, 1)] * len(ops)

    def wide(x):
        x = Value.cast(x).as_unsigned()
        return Cat(x, Const(0, W - len(x))) if len(x) < W else x[:W]

    As = [wide(a) for a, _, _ in ops]
    Bs = [Const(0, W) if b is None else wide(b) for _, b, _ in ops]
    cs = [ext[i] if c is None else Value.cast(c) for i, (_, _, c) in enumerate(ops)]
    done: list[list] = [[] for _ in ops]
    delay = delay_in
    for i in range(n):
        lo, hi = i * chunk, min(W, (i + 1) * chunk)
        for p in range(len(ops)):
            s = Signal(hi - lo + 1, name=f"{name}{p}_c{i}")
            m.d.comb += s.eq(As[p][lo:hi] + Bs[p][lo:hi] + cs[p])
            done[p].append(s[: hi - lo])
            cs[p] = s[hi - lo]
        delay += dm.adder(hi - lo)
        if i < n - 1:
            vals = {f"d{p}_{j}": x for p, xs in enumerate(done) for j, x in enumerate(xs)}
            for p in range(len(ops)):
                vals.update({f"c{p}": cs[p], f"a{p}": As[p][hi:], f"b{p}": Bs[p][hi:]})
            vals = cut(pipe, "add_chunk", delay, {**vals, **v})
            done = [[vals[f"d{p}_{j}"] for j in range(len(xs))] for p, xs in enumerate(done)]
            cs = [vals[f"c{p}"] for p in range(len(ops))]
            As = [Cat(Const(0, hi), vals[f"a{p}"]) for p in range(len(ops))]
            Bs = [Cat(Const(0, hi), vals[f"b{p}"]) for p in range(len(ops))]
            v = {k: vals[k] for k in v}
            delay = 0.0
    return [Cat(*xs) for xs in done], v, delay


def sum_fine(m: Module, terms: list, W: int, *, pipe, dm, v: dict, delay_in: float,
              chunk: int):
    """The exact adder tree of fmax mode: a fine cut ``sum_level`` between its levels and
    ``sum`` after the last (each level one ``W``-bit carry chain and the route into the
    next; chunks of ``chunk`` bits cut by ``add_chunk`` when ``chunk < W``). Returns
    ``(sum, v)``."""
    level, delay = 0, delay_in
    while True:
        if len(terms) > 1:
            pairs = [(terms[j], terms[j + 1]) for j in range(0, len(terms) - 1, 2)]
            odd = terms[-1] if len(terms) % 2 else None
            if chunk < W:
                sums, vv, delay = chunked_many(
                    m, [(a, b, None) for a, b in pairs], W, chunk, pipe=pipe, dm=dm,
                    v={"odd": odd, **v}, delay_in=delay, name=f"tree{level}_")
                odd, v = vv.pop("odd"), vv
            else:
                sums = [a + b for a, b in pairs]
                delay += dm.adder(W)
            nxt = []
            for j, x in enumerate(sums):
                s = Signal(signed(W), name=f"tree{level}_{j}")
                m.d.comb += s.eq(x)
                nxt.append(s)
            if odd is not None:
                nxt.append(odd)
            terms = nxt
            delay += dm.lut(1)
            level += 1
        d = cut(pipe, "sum_level" if len(terms) > 1 else "sum", delay,
                {**{f"t{i}": t for i, t in enumerate(terms)}, **v})
        terms = [d[f"t{i}"].as_signed() for i in range(len(terms))]
        v = {k: d[k] for k in v}
        delay = 0.0
        if len(terms) == 1:
            return terms[0], v
