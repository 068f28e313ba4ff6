"""The fixed-point (Kulisch) accumulator of SPEC 3.2 and its conversion to a float, shared
by the MACs (``hdl.mac``) and the accumulating dot products (``hdl.dot``).

``accumulate_register``
    The unsegmented accumulator register: ``acc <= (clear ? 0 : acc) + addend + cin``.
``accumulate_segmented``
    The segmented accumulator (``acc_chunk``) and its carry resolution.
``acc_to_float`` / ``acc_to_float_fine``
    ``y = encode(acc, fmt_out)`` through the shared rounder, with an explicit latency / with
    fmax mode's fine cut points.
``check_acc_chunk``, ``pick_chunk``, ``resolve_stages``, ``resolve_delays``, ``loop_delay``,
``accumulator_timing``
    The segmentation's checks and its delay-model figures (fmax mode).

Segmented accumulator (``acc_chunk=C``; FloPoCo's long accumulator, de Dinechin et al., FPT
2008). The ``acc_bits``-bit add of the loop is the one path no register can cut; with
``acc_chunk`` it is split into ``K = ceil(acc_bits / C)`` chunks of ``C`` bits (the top one
narrower), each adding its slice of the aligned, sign extended product plus the carry-out of
the chunk below registered in the previous cycle, so the loop is a ``C``-bit add whatever
``acc_bits`` is. The carries left pending in the state are resolved by a two-stage
carry-select pipeline (``accumulate_segmented``): stage 1 adds each chunk's pending carry-in
(both with and without one more), stage 2 computes the carries between chunks with one
``K-1``-bit carry-chain add and selects; its last register is ``acc``. So the state after
cycle i shows on ``acc`` ``ACC_RESOLVE_STAGES`` edges (fmax mode: 2 or 3) later than the
unsegmented accumulator would show it. ``acc_chunk=None`` (default) is the unsegmented
accumulator. ``saturate_acc`` clamps the resolved sum in every step, which a segmented
accumulator does not have until those cycles later, so the two do not combine (a
ValueError).

fmax mode builds the segmented accumulator for the clock (latency-mode Verilog unchanged):
the float MAC registers its addend (sign applied, 0 without ``valid``) in front of the loop,
and its loop has no logic between the registers and the carry chains (``_accumulate_fast``);
the resolution takes a third stage when the delay model puts the carries' chain and select
over the period (``resolve_stages``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from exmy.golden.format import FloatFormat

from .arith import chunked_add, cut, replicate, staged_lzc, staged_shift_left
from .rounding import round_standard
from .util import Pipeline, leading_zeros

__all__ = ["ACC_RESOLVE_STAGES", "accumulate_register", "accumulate_segmented", "acc_to_float",
           "acc_to_float_fine", "accumulator_timing", "adder_chunk", "check_acc_chunk",
           "chunk_metadata", "chunk_ranges", "loop_delay", "pick_chunk", "resolve_delays",
           "resolve_stages", "segmented_latency"]

#: register stages of the segmented accumulator's carry resolution (``acc_latency``)
ACC_RESOLVE_STAGES = 2


def chunk_metadata(acc_chunk: int | None, acc_bits: int) -> dict:
    """Sidecar entries of the accumulator's segmentation."""
    if acc_chunk is None:
        return {"acc_chunk": None, "acc_chunks": 1}
    return {"acc_chunk": acc_chunk, "acc_chunks": len(chunk_ranges(acc_bits, acc_chunk))}


def accumulate_register(m: Module, acc: Signal, addend: Value, cin: Value, valid: Value,
                        clear: Value, saturate_acc: bool) -> None:
    """The accumulator register (two's complement, ``acc_bits`` wide)::

        clear & ~valid:  acc <= 0                              (the flip-flops' sync reset)
        valid:           acc <= (clear ? 0 : acc) + addend + cin  (their clock enable)

    wrapping or, with ``saturate_acc``, clamping per step (as the golden model does). Using
    the flip-flops' enable and reset for ``valid`` and ``clear & ~valid`` means the product
    needs no gating by ``valid`` (smaller: docs/results/design_choices.md)."""
    W = len(acc)
    base = Signal(W, name="acc_base")
    m.d.comb += base.eq(Mux(clear, 0, acc))
    if not saturate_acc:
        nxt = Signal(W, name="acc_sum")
        m.d.comb += nxt.eq(base + addend + cin)
    else:
        # W + 1 bits hold the exact sum: |base| <= 2**(W-1) and |addend| < 2**(W-1)
        s = Signal(signed(W + 1), name="acc_sum")
        m.d.comb += s.eq(base.as_signed() + Value.cast(addend).as_signed() + cin)
        over = Signal(name="acc_overflow")
        m.d.comb += over.eq(s[W] != s[W - 1])
        lo, hi = 1 << (W - 1), (1 << (W - 1)) - 1
        nxt = Mux(over, Mux(s[W], lo, hi), s[:W])
    with m.If(clear & ~valid):
        m.d.sync += acc.eq(0)
    with m.Elif(valid):
        m.d.sync += acc.eq(nxt)


def check_acc_chunk(acc_chunk, acc_bits: int, saturate_acc: bool) -> int | None:
    """Check ``acc_chunk``: None (one chunk: the unsegmented accumulator) or ``1 <= C <
    acc_bits``; saturate_acc needs the resolved value every step, so it is refused."""
    if acc_chunk is None:
        return None
    if not isinstance(acc_chunk, int) or isinstance(acc_chunk, bool):
        raise TypeError(f"MAC acc_chunk must be a positive integer or None, not {acc_chunk!r}")
    if acc_chunk < 1:
        raise ValueError(f"MAC acc_chunk must be a positive integer or None, not {acc_chunk}")
    if acc_chunk >= acc_bits:
        raise ValueError(
            f"MAC acc_chunk {acc_chunk} must be smaller than acc_bits {acc_bits}: one chunk is "
            f"the unsegmented accumulator (leave acc_chunk unset)")
    if saturate_acc:
        raise ValueError(
            f"saturate_acc cannot use the segmented accumulator (acc_chunk={acc_chunk}): "
            f"every step clamps the resolved sum, whose carries a segmented accumulator "
            f"resolves only {ACC_RESOLVE_STAGES} or more cycles later; leave acc_chunk unset")
    return acc_chunk


def segmented_latency(acc_chunk: int | None) -> int:
    return 0 if acc_chunk is None else ACC_RESOLVE_STAGES


def loop_delay(dm, width: int) -> float:
    """Delay of the accumulator loop of one ``width``-bit chunk: the clear/carry-in gating
    LUT, then the add on the carry chain (one bit more for the registered carry-in)."""
    return dm.lut(1) + dm.adder(width + 1)


def pick_chunk(dm, fmax: float, acc_bits: int) -> int | None:
    """The chunk width fmax mode uses: None when the whole ``acc_bits``-bit loop fits the
    period, else the widest chunk whose loop fits, evened out over the chunks it needs
    (1 when none fits: the placement then reports the loop out of reach)."""
    budget = min(dm.period(fmax), dm.period(fmax, loop=True))  # the loop and its stage
    if loop_delay(dm, acc_bits) <= budget:
        return None
    fit = [c for c in range(1, acc_bits) if loop_delay(dm, c) <= budget]
    if not fit:
        return 1
    k = -(-acc_bits // max(fit))
    return -(-acc_bits // k)


def resolve_delays(dm, width: int, chunk: int, stages: int) -> list[float]:
    """Predicted delays of the carry resolution's stages (``accumulate_segmented``).

    Two stages: the chunk adds ``t_j``, ``u_j`` (the route from the state's registers, then
    the chain); then (K >= 3 chunks) the route from the
    chunks' carry registers, spread along the accumulator, into one ``K-1``-bit carry chain,
    the LUT that extracts the carries, their fan-out to the ``C`` selects of a chunk, the
    select. Three stages (fmax mode, when that second stage is too slow): the chunk adds; the
    route and a ``2(K-2)``-bit chain whose sum bits are the carries (up to 2 carries: one LUT),
    beside each chunk's ``t + 1``; the carry's fan-out to a chunk's ``C`` selects, the
    select."""
    k = len(chunk_ranges(width, chunk))
    first = dm.lut(1) + dm.adder(chunk + 1)  # the route into the chain, the chain
    if stages == 2:
        if k < 3:  # no carries between chunks to resolve: registers only
            return [first, dm.adder(max(k - 1, 1)) + dm.mux(2)]
        return [first, dm.lut(1) + dm.adder(k - 1) + dm.lut(2) + dm.mux(2)]
    carries = dm.logic(2 * (k - 2)) if k <= 4 else dm.adder(2 * (k - 2))
    return [first, max(dm.lut(1) + carries, dm.adder(chunk)), dm.lut(2)]


def resolve_stages(dm, fmax: float, width: int, chunk: int) -> int:
    """fmax mode: the resolution's stage count, 2 (``ACC_RESOLVE_STAGES``, as in latency
    mode) when its second stage fits the period, else 3."""
    if resolve_delays(dm, width, chunk, 2)[1] <= dm.period(fmax):
        return ACC_RESOLVE_STAGES
    return ACC_RESOLVE_STAGES + 1


def accumulator_timing(st: Pipeline, dm, width: int, chunk: int | None,
                       stages: int = ACC_RESOLVE_STAGES) -> None:
    """fmax mode: declare the accumulator loop and its registers (the accumulator and, when
    segmented, the ``stages`` resolution stages) with their delays; latency mode: nothing."""
    if st.plan is None:
        return
    c = width if chunk is None else chunk
    k = 1 if chunk is None else len(chunk_ranges(width, chunk))
    st.loop("accumulate", loop_delay(dm, c))
    st.forced("accumulate", loop_delay(dm, c), [Const(0, width + k - 1)])
    if chunk is not None:
        d = resolve_delays(dm, width, chunk, stages)
        if stages == 2:
            st.forced("resolve", d[0], [Const(0, 2 * width + 2 * k)])
            st.forced("resolve_2", d[1], [Const(0, width)])
        else:
            st.forced("resolve", d[0], [Const(0, width + 2 * k)])
            st.forced("resolve_2", d[1], [Const(0, width + k)])
            st.forced("resolve_3", d[2], [Const(0, width)])


def chunk_ranges(width: int, chunk: int) -> list[tuple[int, int]]:
    """``(lo, hi)`` bit ranges of the chunks, from the bottom; the top one may be narrower."""
    return [(lo, min(lo + chunk, width)) for lo in range(0, width, chunk)]


def accumulate_segmented(m: Module, addend: Value, cin: Value, valid: Value, clear: Value,
                         width: int, chunk: int, stages: int = ACC_RESOLVE_STAGES,
                         fast: dict | None = None) -> Signal:
    """The segmented accumulator (FloPoCo's long accumulator, de Dinechin et al., FPT 2008)
    and its carry resolution; returns the resolved ``acc`` register, which shows the state
    after cycle i at the edge ``stages`` edges after the loop's (see the module docstring).

    Loop, per chunk j of ``chunk`` bits (the top chunk may be narrower), a ``chunk``-bit
    add whose carry in is the carry-out register of chunk j-1 (chunk 0: ``cin``)::

        clear & ~valid:  seg_j <= 0;  cy_j <= 0
        valid:           (cy_j, seg_j) <= (clear ? 0 : seg_j) + addend_j
                                          + (j ? (clear ? 0 : cy_{j-1}) : cin)

    The state stands for ``sum_j seg_j 2**(jC) + sum_j cy_j 2**((j+1)C)`` modulo
    ``2**width``: each step adds ``addend + cin`` to that value exactly, whatever the state;
    the top chunk's carry-out is the wrap and is dropped.

    Resolution, carry-select: stage 1 registers, per chunk j >= 1, ``t_j = seg_j + cy_{j-1}``
    and (j >= 2) ``u_j = t_j + 1`` with their carry-outs ``g_j`` (generate) and ``h_j``
    (``t_j >= 2**C - 1``: generate or propagate). Stage 2: the carries between chunks from one
    ``K-1``-bit carry-chain add ``(h + g)`` (carry into chunk j+1 = ``g_j | (h_j & x_j)``,
    ``x_1 = 0``: chunk 0 holds no pending carry), then ``acc_j = x_j ? u_j : t_j``.

    ``fast`` (fmax mode, the float MAC; ``{"clear_next": v}``, the ``clear`` the loop sees
    in the next cycle; ``addend`` and ``cin`` 0 without ``valid``): the loop with no logic
    between its registers and its carry chains, :func:`_accumulate_fast`.

    ``stages=3`` (fmax mode, when the chain, the carries' fan-out and the select miss the
    period): stage 1 registers ``t_j``, ``g_j``, ``h_j`` (no ``u_j``); stage 2 the carries
    ``x_j`` (the chain), ``t_j`` again and ``t_j + 1``; stage 3 the select ``acc_j = x_j ?
    t_j + 1 : t_j`` (a registered carry's fan-out to one chunk's selects).
    """
    parts = chunk_ranges(width, chunk)
    K = len(parts)
    seg = Signal(width, name="acc_seg")
    cy = Signal(K - 1, name="acc_carry")
    if fast is not None:
        return _accumulate_fast(m, addend, cin, fast["clear_next"], parts, stages)
    for j, (lo, hi) in enumerate(parts):
        w = hi - lo
        s = Signal(w + 1, name=f"acc_sum{j}")
        ci = cin if j == 0 else (cy[j - 1] & ~clear)
        m.d.comb += s.eq(Mux(clear, 0, seg[lo:hi]) + addend[lo:hi] + ci)
        with m.If(clear & ~valid):
            m.d.sync += seg[lo:hi].eq(0)
            if j < K - 1:
                m.d.sync += cy[j].eq(0)
        with m.Elif(valid):
            m.d.sync += seg[lo:hi].eq(s[:w])
            if j < K - 1:
                m.d.sync += cy[j].eq(s[w])

    return _resolve(m, seg, cy, parts, stages)


def _accumulate_fast(m: Module, addend: Value, cin: Value, clear_next: Value, parts,
                     stages: int) -> Signal:
    """fmax mode's segmented loop: no logic between its registers and its carry chains.

    ``addend`` and ``cin`` are 0 in a cycle without ``valid`` (the register in front gates
    them), so every cycle adds: an idle one only moves each pending carry into its chunk
    (the value is unchanged). The loop registers ``sl_j``, ``cl_j`` are zeroed one edge
    early, when the next cycle clears (the flip-flops' synchronous reset by ``clear_next``),
    so they hold ``clear ? 0 : state`` and a clear cycle adds to zero. A chunk's carry-out
    takes two registers to the next chunk (``cl_j`` beside chunk j, ``cd_j`` beside chunk
    j+1: no route between two chunks' chains in the loop), so two carries per chunk are
    pending. ``xs_j``, ``xc_j``, ``xd_j`` hold the unzeroed sums and both pending carries
    (the state after the cycle: the resolution reads them)::

        (xc_j, xs_j) <= sl_j + addend_j + (j ? cd_{j-1} : cin)
        (cl_j, sl_j) <= clear_next ? 0 : (xc_j, xs_j)'s new value
        cd_j <= clear_next ? 0 : cl_j;   xd_j <= cl_j
    """
    K = len(parts)
    width = parts[-1][1]
    sl = Signal(width, name="acc_loop_seg")
    cl = Signal(K - 1, name="acc_loop_carry")
    cd = Signal(K - 1, name="acc_loop_carry_2")
    xs = Signal(width, name="acc_seg")
    xc = Signal(K - 1, name="acc_carry")
    xd = Signal(K - 1, name="acc_carry_2")
    for j, (lo, hi) in enumerate(parts):
        w = hi - lo
        s = Signal(w + 1, name=f"acc_sum{j}")
        m.d.comb += s.eq(sl[lo:hi] + addend[lo:hi] + (cin if j == 0 else cd[j - 1]))
        m.d.sync += xs[lo:hi].eq(s[:w])
        with m.If(clear_next):
            m.d.sync += sl[lo:hi].eq(0)
        with m.Else():
            m.d.sync += sl[lo:hi].eq(s[:w])
        if j < K - 1:
            m.d.sync += xc[j].eq(s[w])
            m.d.sync += xd[j].eq(cl[j])
            with m.If(clear_next):
                m.d.sync += [cl[j].eq(0), cd[j].eq(0)]
            with m.Else():
                m.d.sync += [cl[j].eq(s[w]), cd[j].eq(cl[j])]
    return _resolve(m, xs, xc, parts, stages, xd)


def _resolve(m: Module, seg: Value, cy: Value, parts, stages: int,
             cy2: Value | None = None) -> Signal:
    """The carry resolution of ``accumulate_segmented`` (its docstring), ``stages`` 2 or 3;
    ``cy2``: a second pending carry per chunk (``_accumulate_fast``), added with ``cy`` (then
    ``t_j <= 2**C + 1``: still one carry-out)."""
    K = len(parts)
    width = parts[-1][1]
    # -- resolution stage 1: t_j, u_j and their carry-outs --------------------------------
    lo0, hi0 = parts[0]
    t = [Signal(hi0 - lo0, name="res_t0")]
    u: list[Signal | None] = [None]
    g = [None]
    h = [None]
    m.d.sync += t[0].eq(seg[lo0:hi0])
    for j in range(1, K):
        lo, hi = parts[j]
        w = hi - lo
        ts = Signal(w + 1, name=f"res_tsum{j}")
        if cy2 is None:
            m.d.comb += ts.eq(seg[lo:hi] + cy[j - 1])
        else:
            # seg + cy2 + cy on one chain: cy2 its second operand, cy its carry-in
            c2 = cy2[j - 1]
            m.d.comb += ts.eq(seg[lo:hi] + c2 + cy[j - 1])
        tj = Signal(w, name=f"res_t{j}")
        m.d.sync += tj.eq(ts[:w])
        t.append(tj)
        us = None
        if j >= 2 or j < K - 1:
            # seg_j + cy_{j-1} + 1 <= 2**w + 1: w + 1 bits. The addend is written as the
            # 2-bit value 1 + cy (not t_j + 1), so Yosys builds a carry chain beside t_j's
            # instead of after it (chained, they were the bfloat16 MAC's critical path at
            # fmax 200: docs/results/mac_fmax.md)
            us = Signal(w + 1, name=f"res_usum{j}")
            if cy2 is None:
                m.d.comb += us.eq(seg[lo:hi] + Cat(~cy[j - 1], cy[j - 1]))
            else:
                m.d.comb += us.eq(seg[lo:hi] + Cat(~c2, c2) + cy[j - 1])
        if j >= 2 and stages == 2:
            uj = Signal(w, name=f"res_u{j}")
            m.d.sync += uj.eq(us[:w])
            u.append(uj)
        else:
            u.append(None)
        if j < K - 1:
            gj = Signal(name=f"res_g{j}")
            hj = Signal(name=f"res_h{j}")
            m.d.sync += [gj.eq(ts[w]), hj.eq(us[w])]
            g.append(gj)
            h.append(hj)

    if stages == 3:
        return _resolve_late(m, t, g, h, parts)

    # -- resolution stage 2: carries between chunks (one carry-chain add), select ---------
    acc = Signal(width, name="acc_reg")
    m.d.sync += acc[lo0:hi0].eq(t[0])
    if K >= 2:
        lo, hi = parts[1]
        m.d.sync += acc[lo:hi].eq(t[1])
    if K >= 3:
        n = K - 2  # chunks 1 .. K-2 generate or propagate into chunks 2 .. K-1
        gv = Cat(*g[1 : K - 1])
        hv = Cat(*h[1 : K - 1])
        chain = Signal(n + 1, name="res_chain")
        m.d.comb += chain.eq(hv + gv)
        x = Signal(n, name="res_carry_in")  # x[i]: carry into chunk i + 2
        m.d.comb += x.eq((chain ^ Cat(hv ^ gv, Const(0, 1)))[1:])
        for j in range(2, K):
            lo, hi = parts[j]
            m.d.sync += acc[lo:hi].eq(Mux(x[j - 2], u[j], t[j]))
    return acc


def _resolve_late(m: Module, t: list, g: list, h: list, parts) -> Signal:
    """Resolution stages 2 and 3 of ``accumulate_segmented(stages=3)``: the carries between
    chunks from the chain, registered with ``t`` and (chunks 2..K-1) ``t + 1``; then each
    chunk selects one of them by its carry (one register's fan-out to a chunk's selects)."""
    K = len(parts)
    width = parts[-1][1]
    td = []
    for j, tj in enumerate(t):
        r = Signal(len(tj), name=f"res_td{j}")
        m.d.sync += r.eq(tj)
        td.append(r)
    acc = Signal(width, name="acc_reg")
    for j in range(min(K, 2)):
        lo, hi = parts[j]
        m.d.sync += acc[lo:hi].eq(td[j])
    if K >= 3:
        n = K - 2
        # x[i]: carry into chunk i + 2 (inverted for the chain: reset to "no carry", so the
        # resolved acc is 0 from reset, as without it)
        x = Signal(n, name="res_carry_in", init=0 if n <= 2 else (1 << n) - 1)
        if n <= 2:  # a LUT: x_0 = g_1, x_1 = g_2 | (h_2 & g_1)
            m.d.sync += x[0].eq(g[1])
            if n == 2:
                m.d.sync += x[1].eq(g[2] | (h[2] & g[1]))
            xv = x
        else:
            # one chain of 2n bits, (h_i, 1) + (g_i, 0) per chunk: the odd positions add
            # 1 + 0 + carry, so their sum bits are the inverted carries, straight from the
            # chain into the registers (no LUT after it)
            ha = Cat(*[Cat(h[i], Const(1, 1)) for i in range(1, K - 1)])
            gb = Cat(*[Cat(g[i], Const(0, 1)) for i in range(1, K - 1)])
            chain = Signal(2 * n, name="res_chain")
            m.d.comb += chain.eq(ha + gb)
            m.d.sync += x.eq(Cat(*[chain[2 * i + 1] for i in range(n)]))  # inverted carries
            xv = ~x
        for j in range(2, K):
            lo, hi = parts[j]
            ud = Signal(hi - lo, name=f"res_ud{j}")
            m.d.sync += ud.eq(t[j] + 1)
            m.d.sync += acc[lo:hi].eq(Mux(xv[j - 2], ud, td[j]))
    return acc


def _acc_window(acc, lsb_exp: int, fmt_out: FloatFormat, rand):
    """The window of acc's bits that can change y (see :func:`acc_to_float`): returns
    ``(W, neg, R, b_lo, b_hi, Ww)``: acc's width and sign bit, the rand width (1 without
    rand), the window's bit range ``[b_lo, b_hi)`` and its width."""
    W = len(acc)
    neg = acc[W - 1]
    R = len(rand) if rand is not None else 1
    low = fmt_out.emin - fmt_out.man_bits - max(R, 1)
    b_hi = max(min(max(fmt_out.emax - lsb_exp + 1, 0), W), 1)
    b_lo = min(max(low - lsb_exp, 0), W, b_hi - 1)
    return W, neg, R, b_lo, b_hi, b_hi - b_lo


def acc_to_float(m, acc, flags, lsb_exp, fmt_out, *, rounding, saturate, rand, y_latency,
                 stages: Pipeline) -> Signal:
    """``y = encode(acc, fmt_out)``: two's complement acc -> magnitude window -> leading-zero
    normalisation -> the shared rounder. Flags override (NaN, or +Inf and -Inf together:
    NaN; one Inf flag: that Inf, converted as SPEC 2.3 says).

    Only a window of acc's bits can change y, so only the window is negated, counted and
    shifted (specialised on fmt_out at elaboration time):

    - bits weighing more than 2**emax: any of them set in |acc| means |acc| >= 2**(emax+1),
      which overflows in every rounding mode; the rounder gets the stand-in 2**(emax+1);
    - bits weighing less than 2**(emin - M - R) (R = 1, or rand_bits for stochastic
      rounding): below the finest quantum's round bit (or its R bits), they only matter as a
      sticky bit;
    - in between, exact. |acc| = ~acc + 1 for negative acc: the +1 reaches the window only
      when every bit below it is 0 (then also no sticky), so the negation is a window-wide
      increment, not an acc-wide one.
    """
    W, neg, R, b_lo, b_hi, Ww = _acc_window(acc, lsb_exp, fmt_out, rand)
    lo_nz = Signal(name="y_low_sticky")
    m.d.comb += lo_nz.eq(acc[:b_lo] != 0 if b_lo else 0)
    ws = Signal(Ww + 1, name="y_window_sum")
    m.d.comb += ws.eq((acc[b_lo:b_hi] ^ replicate(neg, Ww)) + (neg & ~lo_nz))
    win = ws[:Ww]
    big = Signal(name="y_big")  # |acc| >= 2**(emax+1)
    hi_set = (acc[b_hi:] ^ replicate(neg, W - b_hi)) != 0 if b_hi < W else Const(0, 1)
    m.d.comb += big.eq(ws[Ww] | hi_set)
    lz = leading_zeros(m, win, "y_lz")
    top_exp = lsb_exp + b_hi - 1  # weight of the window's top bit
    # The rounder needs p bits and a round bit (stochastic: the R bits below p, which it
    # reads even after a subnormal shift); everything below is only a sticky bit.
    k = min(Ww, fmt_out.sig_bits + max(R, 1))
    sig = Signal(k, name="y_norm_sig")
    sticky = Signal(name="y_sticky")
    ew = max(abs(top_exp), abs(fmt_out.emax), W).bit_length() + 3
    exp = Signal(signed(ew), name="y_norm_exp")
    dropped = Const(0, 1)
    if Ww > k:
        # below[i] = OR of window bits 0..i-1; the dropped bits are win[0 : Ww-k-lz]
        below = Signal(Ww - k + 1, name="y_below")
        m.d.comb += below[0].eq(0)
        for i in range(1, Ww - k + 1):
            m.d.comb += below[i].eq(below[i - 1] | win[i - 1])
        dropped = (below << lz)[Ww - k]
    with m.If(big):  # a stand-in that overflows as |acc| does
        m.d.comb += [sig.eq(1 << (k - 1)), exp.eq(fmt_out.emax + 1), sticky.eq(0)]
    with m.Else():
        m.d.comb += [
            sig.eq((win << lz)[Ww - k : Ww]),
            exp.eq(top_exp - lz),
            sticky.eq(lo_nz | dropped),
        ]
    if flags is not None:
        nan = flags[0] | (flags[1] & flags[2])
        inf = (flags[1] | flags[2]) & ~nan
        sign = Mux(inf, flags[2], neg)
    else:
        nan, inf, sign = Const(0, 1), Const(0, 1), neg
    v = {"sign": sign, "sig": sig, "exp": exp, "sticky": sticky, "nan": nan, "inf": inf,
         "rand": rand}
    if y_latency:
        # reset state: sig 0, sticky 0 -> +0, what the golden model's idle accumulator gives
        v = stages.register(v, "y_")
    return round_standard(
        m, fmt_out, sign=v["sign"], sig=v["sig"], exp=v["exp"], sticky=v["sticky"],
        is_nan=v["nan"], is_inf=v["inf"], rand=v["rand"], rounding=rounding,
        saturate=saturate, name="y_rnd",
    )


def adder_chunk(dm, fmax: float, width: int, extra: float = 0.0) -> int:
    """The widest carry-chain chunk (halving from ``width``) whose add (and ``extra`` ns of
    logic after it) fits the period."""
    chunk = max(width, 1)
    while chunk > 2 and dm.adder(chunk) + extra > dm.period(fmax):
        chunk = (chunk + 1) // 2
    return chunk


def acc_to_float_fine(m, acc, flags, lsb_exp, fmt_out, *, rounding, saturate, rand,
                      st: Pipeline, dm, fmax: float, neg_lut: bool = False) -> Value:
    """fmax mode's :func:`acc_to_float`: the same function with fine cut points: ``y_low``
    (the wide ORs of the bits outside the window), the window negation in carry-chain chunks
    (``add_chunk``), ``y_window``, the leading-zero count (``lzc_level``), ``y_lz``, the
    normalising shifter (``shift_level``), then the shared rounder's own cuts. The bits below
    the kept ones after the shift are exactly the ones the shift did not lose (the window has
    ``lz`` leading zeros), so the sticky bit is their OR."""
    W, neg, R, b_lo, b_hi, Ww = _acc_window(acc, lsb_exp, fmt_out, rand)
    k = min(Ww, fmt_out.sig_bits + max(R, 1))
    top_exp = lsb_exp + b_hi - 1
    ew = max(abs(top_exp), abs(fmt_out.emax), W).bit_length() + 3
    # the ORs of the bits below and (xor sign) above the window, 16 bits per step
    lo = acc[:b_lo] if b_lo else Const(0, 1)
    hi = (acc[b_hi:] ^ replicate(neg, W - b_hi)) if b_hi < W else Const(0, 1)
    v = {"win": acc[b_lo:b_hi], "neg": neg, "flags": flags, "rand": rand}
    while max(len(lo), len(hi)) > 16:
        lo, hi = (Cat(*[x[i : i + 16] != 0 for i in range(0, len(x), 16)])
                  if len(x) > 16 else x for x in (lo, hi))
        v = cut(st, "y_or", dm.logic(17), {"lo": lo, "hi": hi, **v})
        lo, hi = v.pop("lo"), v.pop("hi")
    v = cut(st, "y_low", dm.logic(max(len(lo), len(hi)) + 1),
            {"lo_nz": lo != 0, "hi_set": hi != 0, **v})
    rest = {"neg": v["neg"], "lo_nz": v["lo_nz"], "flags": v["flags"], "rand": v["rand"]}
    # neg_lut (the MAC): the window's XOR with the sign is a LUT in front of the chain, its
    # route included (it was the E4M3FN MAC's critical path with y at fmax 200:
    # docs/results/mac_fmax.md)
    lut_in = dm.lut(1) if neg_lut else 0.0
    built = chunked_add(m, v["win"] ^ replicate(v["neg"], Ww), Const(0, 1),
                        cin=v["neg"] & ~v["lo_nz"],
                        chunk=adder_chunk(dm, fmax, Ww + 1, dm.lut(1) + lut_in),
                        pipe=st, dm=dm, carry={"hi_set": v["hi_set"], **rest}, name="y_neg",
                        delay_in=lut_in)
    ws = built.value
    v = cut(st, "y_window", built.delay + dm.lut(1),
            {"win": ws[:Ww], "big": ws[Ww] | built.carry["hi_set"],
             **{n: built.carry[n] for n in rest}})
    rest = {n: v[n] for n in ("big", "neg", "lo_nz", "flags", "rand")}
    built = staged_lzc(m, v["win"], pipe=st, dm=dm, carry={"win": v["win"], **rest},
                       name="y_lzc")
    v = cut(st, "y_lz", built.delay, {"lz": built.value, **built.carry})
    rest = {n: v[n] for n in ("big", "neg", "lo_nz", "flags", "rand", "lz")}
    built = staged_shift_left(m, v["win"], v["lz"], pipe=st, dm=dm, carry=rest,
                              name="y_norm")
    v = cut(st, "y_shifted", built.delay, {"shifted": built.value, **built.carry})
    shifted = v.pop("shifted")
    delay = 0.0
    # the sticky OR of the bits below the kept ones, 16 bits per step (two LUT4 levels),
    # down to 3 bits that share a LUT with the final multiplexer
    low = shifted[: Ww - k] if Ww > k else Const(0, 1)
    while len(low) > 3:
        low = Cat(*[low[i : i + 16] != 0 for i in range(0, len(low), 16)])
        v = cut(st, "y_sticky", delay + dm.logic(16), {"low": low, "kept": shifted[Ww - k :], **v})
        low, shifted = v.pop("low"), Cat(Const(0, Ww - k), v.pop("kept"))
        delay = 0.0
    sig = Signal(k, name="y_norm_sig")
    sticky = Signal(name="y_sticky")
    exp = Signal(signed(ew), name="y_norm_exp")
    dropped = low != 0
    with m.If(v["big"]):  # a stand-in that overflows as |acc| does
        m.d.comb += [sig.eq(1 << (k - 1)), exp.eq(fmt_out.emax + 1), sticky.eq(0)]
    with m.Else():
        m.d.comb += [sig.eq(shifted[Ww - k : Ww]), exp.eq(top_exp - v["lz"]),
                     sticky.eq(v["lo_nz"] | dropped)]
    fl = v["flags"]
    if fl is not None:
        nan = fl[0] | (fl[1] & fl[2])
        inf = (fl[1] | fl[2]) & ~nan
        sign = Mux(inf, fl[2], v["neg"])
    else:
        nan, inf, sign = Const(0, 1), Const(0, 1), v["neg"]
    v = cut(st, "y_norm", delay + max(dm.logic(len(low) + 1), dm.adder(ew)) + dm.lut(1),
            {"sign": sign, "sig": sig, "exp": exp, "sticky": sticky, "nan": nan, "inf": inf,
             "rand": v["rand"]})
    y = round_standard(
        m, fmt_out, sign=v["sign"], sig=v["sig"], exp=v["exp"], sticky=v["sticky"],
        is_nan=v["nan"], is_inf=v["inf"], rand=v["rand"], rounding=rounding,
        saturate=saturate, name="y_rnd", pipe=st, dm=dm,
    )
    st.finish(delay=0.0)  # the rounder ends with a cut
    return y
