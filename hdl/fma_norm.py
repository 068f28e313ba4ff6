"""The FMA datapath's back end (golden twin: ``exmy.golden.encode`` of the sum, through
SPEC 3.3's coarse normalization for ApproxFMA): :func:`normalize_round` normalises the
adder's magnitude (a :class:`exmy.hdl.fma_add.SumRaw`) and hands it to one of the rounder's
contracts (:mod:`exmy.hdl.rounding`); in fmax mode ApproxFMA's rounder is
:func:`_round_approx_fine`, the approximate contract with fine cuts.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from exmy.golden.format import FloatFormat
from exmy.golden.params import Rounding, ceil_log2

from .arith import cut
from .fma_add import shift_left_top_levels, shift_right_levels
from .rounding import encode, flush_inputs, round_align_max, round_approximate, round_standard
from .timing import DelayModel
from .util import Pipeline, exp_range, leading_zeros, trailing_zeros

__all__ = ["normalize_round"]


def normalize_round(
    m: Module,
    fo: FloatFormat,
    *,
    mag: Value,
    sticky: Value,
    sign: Value,
    r_w: Value,
    is_nan: Value,
    is_inf: Value,
    r_range: tuple[int, int],
    floor_out: bool,
    granularity: int | None = None,
    k_cap: Value | None = None,
    flush_cap: Value | None = None,
    rounding: str = "rne",
    saturate: bool = False,
    rand: Value | None = None,
    pipe: Pipeline,
    coarse: int,
    dm: DelayModel,
) -> Signal:
    """The FMA datapath's back end (cut points ``norm``, ``round``; in fmax mode the fine
    cuts ``norm_lzc``, ``norm_shift`` per shifter level, ``norm_fine``): normalise the adder's
    magnitude ``mag`` (window top weight ``r_w``, in ``r_range``; ``sticky`` below it) and
    round and encode it with ``round_encode``. ``floor_out``: ``r_w >= emin_out + 1`` always
    (the normalization stops near emin_out). ApproxFMA (``granularity``): ``k_cap`` caps the
    group count, ``flush_cap`` forces a signed zero. ``rand``: stochastic rounding's random
    bits (R of them; the float-accumulator MAC, explicit latency only): the rounder keeps the R
    bits below the rounding position, which the window must hold exactly
    (``fma_window_bits(..., rand_bits=R)``). Separate so that benchmarks can synthesize the
    part that approximate normalization changes on its own."""
    approx = granularity is not None
    R = len(rand) if rounding == Rounding.STOCHASTIC and rand is not None else 0
    if R and (approx or pipe.plan is not None):
        raise ValueError("Stochastic rounding in the FMA datapath needs the exact "
                         "normalization and an explicit latency")
    G = granularity if approx else 1
    lg = ceil_log2(G)
    po = fo.sig_bits
    W = len(mag)
    r_lo, r_hi = r_range
    nan, inf = is_nan, is_inf
    fine = pipe.plan is not None
    if flush_cap is None:
        flush_cap = Const(0, 1)

    # -- normalization: count all-zero groups of Gn bits from the top and shift by whole ---
    # groups (big shifter stages on the wide window). ApproxFMA: Gn = G, SPEC 3.3's coarse
    # shift, capped by the window; the rounder rounds at a fixed position, then fine-shifts.
    # FMA: Gn = FMA_COARSE, then an exact fine count over the top Gn - 1 bits and a fine
    # shift of the few bits the rounder keeps (the small stages on narrow data); the
    # rounder's one-bit step finishes (HardFloat normalises to within one bit).
    if not isinstance(coarse, int) or coarse < 1 or coarse & (coarse - 1):
        raise ValueError(f"Normalizer group size must be a power of two >= 1, not {coarse!r}")
    Gn = G if approx else coarse
    lgn = ceil_log2(Gn)
    # approx: p + G - 1 and the round bit; stochastic: the R bits below the p kept
    keep = po + Gn if approx else po + 1 + max(R, 1)
    Wn = -(-W // Gn) * Gn
    mag = Cat(Const(0, Wn - W), mag)
    ng = Wn // Gn
    groups = Cat(*(mag[i * Gn : (i + 1) * Gn] != 0 for i in range(ng)))
    k = leading_zeros(m, groups, "s2_group_lz")
    flags = dict(sign=sign, nan=nan, inf=inf, flush_cap=flush_cap if k_cap is not None else None)
    if fine:
        # beside the count: the magnitude's trailing zeros (for the sticky bit below) and the
        # room above emin_out
        tz = trailing_zeros(m, mag, "s2_tz")
        room = None
        if floor_out:
            room = Signal(exp_range(0, r_hi - fo.emin), name="s2_shift_room")
            m.d.comb += room.eq(r_w - fo.emin)
        v = cut(pipe, "norm_lzc", max(dm.logic(Gn) + dm.lzc(ng), dm.lzc(Wn)), dict(
            k=k, tz=tz, mag=mag, sticky=sticky, r_w=r_w, **flags, k_cap=k_cap, room=room))
        k, tz, mag, sticky, r_w, k_cap, room = (v[x] for x in (
            "k", "tz", "mag", "sticky", "r_w", "k_cap", "room"))
        flags = {x: v[x] for x in flags}
    k_eff = k
    d_limit = 0.0
    if k_cap is not None:
        k_eff = Signal(range(ng + 1), name="s2_group_count")
        m.d.comb += k_eff.eq(Mux(k > k_cap, k_cap, k))
        if fine:  # (the window's cap on the count, then the limit and the flush threshold)
            v = cut(pipe, "norm_cap", dm.chained(len(k) + 1) + dm.lut(1), dict(
                k_eff=k_eff, mag=mag, tz=tz, sticky=sticky, r_w=r_w, **flags, room=room))
            k_eff, mag, tz, sticky, r_w, room = (v[x] for x in (
                "k_eff", "mag", "tz", "sticky", "r_w", "room"))
            flags = {x: v[x] for x in flags}
        else:
            d_limit = dm.chained(len(k) + 1) + dm.lut(1)
    k_hw = k_eff
    flush_index = None
    d_flush = 0.0
    if floor_out:
        # stop where the top weight reaches emin_out (r_w >= emin_out + 1): FMA: exactly (the
        # rounder's one-bit step then leaves a subnormal on its grid); approx: in whole
        # groups, in [emin_out, emin_out + G - 1] (the rounder aligns by at most G - 1)
        if not fine:
            room = Signal(exp_range(0, r_hi - fo.emin), name="s2_shift_room")
            m.d.comb += room.eq(r_w - fo.emin)
        limit = room >> lgn
        k_hw = Signal(range(ng + 1), name="s2_group_shift")
        m.d.comb += k_hw.eq(Mux(k_eff > limit, limit, k_eff))
        d_flush = d_limit
        d_limit += dm.chained(len(k_hw) + 1) + dm.lut(1)  # k: the count's LUT tree
        if k_cap is not None:
            # SPEC 3.3 step 5's threshold 2**(P - G + 1) with SPEC's P = r_w - G k_eff, as a
            # bit index of the rounded value (quantum 2**max(P - p - G + 2, emin - M))
            flush_index = Signal(range(max(po, 2)), name="s2_flush_index")
            rel = Signal(signed(len(r_w) + len(k_eff) + lg + 4), name="s2_flush_rel")
            m.d.comb += rel.eq(r_w - (k_eff << lg) - (fo.emin + G - po))
            m.d.comb += flush_index.eq(Mux(rel < 0, 0, Mux(rel > po - 1, po - 1, rel)))
            d_flush += 2 * dm.adder(len(rel)) + dm.lut(1)
    if fine:
        # the coarse shift level by level, only the bits that can reach the kept top; the
        # exponent and the sticky compare take the coarse amount after it
        top_w = keep if (approx or Gn == 1) else keep + Gn - 1
        live = dict(k_hw=k_hw, r_w=r_w, tz=tz, sticky=sticky, **flags, flush_index=flush_index)
        if not (approx or Gn == 1) and floor_out:
            at_limit = Signal(name="s2_at_limit")
            m.d.comb += at_limit.eq(k_eff >= limit)
            live.update(at_limit=at_limit, room_lo=room[:lgn])
        live = cut(pipe, "norm_limit", max(d_limit, d_flush), dict(mag=mag, **live))
        mag = live.pop("mag")
        coarse_top, live = shift_left_top_levels(
            pipe, "norm_shift", dm, mag, live["k_hw"], Gn, top_w, live)
        k_hw, r_w, tz, sticky, flush_index = (live[x] for x in (
            "k_hw", "r_w", "tz", "sticky", "flush_index"))
        flags = {x: live[x] for x in flags}
        at_limit, room_lo = live.get("at_limit"), live.get("room_lo")
        r_k = Signal(exp_range(r_lo - Wn, r_hi), name="s2_exp_coarse")
        tz_k = Signal(range(Wn + Wn + 1), name="s2_tz_coarse")
        m.d.comb += [r_k.eq(r_w - (k_hw << lgn)), tz_k.eq(tz + (k_hw << lgn))]
        sign, nan, inf = flags["sign"], flags["nan"], flags["inf"]
        if k_cap is not None:
            flush_cap = flags["flush_cap"]
    else:
        sh = Signal(range(Wn + 1), name="s2_shift")
        coarse = Signal(Wn, name="s2_coarse")
        m.d.comb += coarse.eq(mag << (k_hw << lgn))
        coarse_top = coarse[Wn - (keep if (approx or Gn == 1) else keep + Gn - 1):]
    if approx or Gn == 1:
        if not fine:
            m.d.comb += sh.eq(k_hw << lgn)
        sig_r = Signal(keep, name="s2_sig")
        m.d.comb += sig_r.eq(coarse_top)
        d_norm = 2 * dm.adder(Wn.bit_length() + 2) + dm.lut(1)
    else:
        # fine: the leading one is in the top Gn bits; move it to the top two
        top = coarse_top
        f = leading_zeros(m, top[-(Gn - 1) :], "s2_fine_lz")
        if floor_out:
            rest = room_lo if fine else room[:lgn]  # allowance left when the coarse shift
            stopped = at_limit if fine else k_eff >= limit  # stopped at the limit
            f_eff = Signal(range(Gn), name="s2_fine_shift")
            m.d.comb += f_eff.eq(Mux(stopped & (f > rest), rest, f))
            f = f_eff
        if not fine:
            m.d.comb += sh.eq((k_hw << lgn) + f)
        else:
            v = cut(pipe, "norm_fine", max(dm.lzc(Gn - 1) + (dm.lut(2) if floor_out else 0.0),
                                           dm.adder(len(r_k))),
                    dict(f=f, top=top, r_k=r_k, tz_k=tz_k, sticky=sticky, **flags))
            f, top, r_k, tz_k, sticky = (v[x] for x in ("f", "top", "r_k", "tz_k", "sticky"))
            sign, nan, inf = v["sign"], v["nan"], v["inf"]
            if k_cap is not None:
                flush_cap = v["flush_cap"]
        sig_r = Signal(keep, name="s2_sig")
        m.d.comb += sig_r.eq((top << f)[Gn - 1 :])
        d_norm = max(dm.shifter(keep, lgn), dm.adder(Wn.bit_length() + 2) + dm.lut(1))
    top_lo = r_lo - Wn
    p_exp = Signal(exp_range(top_lo, r_hi), name="s2_exp")  # weight of the shifted top bit
    # the bits below the `keep` kept ones are non-zero iff the sum's lowest one lies below
    # bit Wn - keep - sh (so the wide shifter's low outputs are never built)
    st_r = Signal(name="s2_sticky")
    if fine:
        f_sh = f if not (approx or Gn == 1) else 0
        m.d.comb += [p_exp.eq(r_k - f_sh), st_r.eq((tz_k + f_sh < Wn - keep) | sticky)]
    else:
        m.d.comb += p_exp.eq(r_w - sh)
        tz = trailing_zeros(m, mag, "s2_tz")
        m.d.comb += st_r.eq((tz + sh < Wn - keep) | sticky)
    names = ("sig_r", "st_r", "p_exp", "sign", "nan", "inf", "flush_cap", "flush_index")
    v = cut(pipe, "norm", d_norm, dict(zip(names, (sig_r, st_r, p_exp, sign, nan, inf, flush_cap,
                                                   flush_index), strict=True)))
    sig_r, st_r, p_exp, sign, nan, inf, flush_cap, flush_index = (v[k] for k in names)

    # -- round and encode (the shared rounder) ----------------------------------------------
    raw = dict(sign=sign, sig=sig_r, exp=p_exp, is_nan=nan, is_inf=inf, sticky=st_r,
               rounding=rounding, saturate=saturate, pipe=pipe, name="rnd", dm=dm)
    if R:
        raw["rand"] = rand
    if approx and fine:
        del raw["pipe"], raw["dm"], raw["name"]
        return _round_approx_fine(
            m, fo, pipe, dm, granularity=granularity, capped=k_cap is not None,
            flush=flush_cap if k_cap is not None else None, flush_index=flush_index,
            align_max=G - 1 if floor_out else None, **raw)
    if approx:
        return round_approximate(
            m, fo, granularity=granularity, capped=k_cap is not None, flush=flush_cap,
            flush_index=flush_index, align_max=G - 1 if floor_out else None, **raw)
    if floor_out:
        return round_align_max(m, fo, align_max=0, **raw)
    return round_standard(m, fo, **raw)


def _round_approx_fine(m: Module, fmt: FloatFormat, pipe: Pipeline, dm: DelayModel, *,
                       granularity: int, capped: bool, flush, flush_index, align_max,
                       sign, sig, exp, is_nan, is_inf, sticky, rounding: str, saturate: bool,
                       name: str = "rnd") -> Signal:
    """The approximate-normalization rounder (``round_approximate``'s contract, SPEC 3.3
    steps 4-6) in fmax mode, with fine cuts: ``rnd_dist`` (distance to the subnormal grid,
    the flush threshold), ``round`` after each alignment shifter level,
    ``rnd_inc`` (the increment decision), ``rnd_add`` (rounded), ``rnd_lzc`` (the flush test
    and the fine count), ``rnd_fine`` (the fine shift and the exponent), then
    ``encode``'s cuts and ``rnd_out``. The same function as ``round_encode``'s
    approximate branch, which stays the one description with an explicit latency."""
    G = granularity
    M = fmt.man_bits
    p = M + 1
    pk = p + G - 1
    e_align = fmt.emin + G - 1
    sig = Value.cast(sig)
    W = len(sig)
    ew = max(len(exp), (abs(fmt.emin) + p + 2).bit_length(), (abs(fmt.emax) + 2).bit_length())
    ew = max(ew + 2, (abs(fmt.emin) + pk + 2).bit_length() + 2)
    # -- distance to the subnormal grid, the flush threshold -------------------------------
    zero_in = Signal(name=f"{name}_zero_in")
    m.d.comb += zero_in.eq((sig == 0) & ~sticky)
    Wx = max(W, pk + 2) + 1
    dmax = pk + 2
    if align_max is not None:
        dmax = min(dmax, align_max)
    e1 = Signal(signed(ew), name=f"{name}_s1_exp")
    m.d.comb += e1.eq(exp)
    below = Signal(name=f"{name}_below_emin")
    m.d.comb += below.eq(Const(0, 1) if dmax == 0 else e1 < e_align)
    diff = Signal(signed(ew + 1), name=f"{name}_sub_diff")
    m.d.comb += diff.eq(e_align - e1)
    d = Signal(range(max(dmax, 1) + 1), name=f"{name}_sub_shift")
    if align_max is None:
        m.d.comb += d.eq(Mux(below, Mux(diff > dmax, dmax, diff[: len(d)]), 0))
    else:  # the caller guarantees diff <= dmax
        m.d.comb += d.eq(Mux(below, diff[: len(d)], 0))
    e3 = Signal(signed(ew), name=f"{name}_aligned_exp")
    m.d.comb += e3.eq(Mux(below, e_align, e1))
    thr, fl = flush_inputs(m, p, d, flush_index=flush_index, capped=capped, flush=flush,
                           name=name)
    # the values every cut below carries on (the result's sign and class, the flush inputs)
    cls = ("zero_in", "thr", "fl", "sign", "is_nan", "is_inf")
    v = cut(pipe, "rnd_dist", max(2 * dm.adder(ew + 1) + dm.lut(2), dm.logic(W + 1)), dict(
        sig=sig, d=d, e3=e3, sticky=sticky, zero_in=zero_in, thr=thr, fl=fl, sign=sign,
        is_nan=is_nan, is_inf=is_inf))
    sig, d, sticky = v["sig"], v["d"], v["sticky"]
    # -- align: right shift by d, the bits shifted out into sticky --------------------------
    s2 = Cat(Const(0, Wx - W), sig)
    lost = Signal(name=f"{name}_lost")
    m.d.comb += lost.eq((s2 & ((Const(1, Wx + 1) << d) - 1)[:Wx]) != 0)
    st3 = Signal(name=f"{name}_sticky")
    m.d.comb += st3.eq(sticky | lost)
    s3, v = shift_right_levels(
        pipe, "round", dm, s2, d, dict(e3=v["e3"], st3=st3, **{k: v[k] for k in cls}),
        first=dm.logic(min(Wx, dmax) + len(d)) + dm.lut(1))
    st3 = v["st3"]
    # -- round: keep pk bits, increment by mode ----------------------------------------------
    kept = s3[Wx - pk : Wx]
    rbit = s3[Wx - pk - 1]
    rest = (s3[: Wx - pk - 1] != 0) | st3
    inc = Signal(name=f"{name}_inc")
    m.d.comb += inc.eq(0 if rounding == Rounding.RTZ else rbit & (rest | kept[0]))
    v = cut(pipe, "rnd_inc", dm.logic(Wx - pk + 1) + dm.lut(1), dict(
        kept=kept, inc=inc, e3=v["e3"], **{k: v[k] for k in cls}))
    r = Signal(pk + 1, name=f"{name}_rounded")
    m.d.comb += r.eq(v["kept"] + v["inc"])
    v = cut(pipe, "rnd_add", dm.adder(pk + 1), dict(r=r, e3=v["e3"], **{k: v[k] for k in cls}))
    r, thr, fl = v["r"], v["thr"], v["fl"]
    # -- SPEC 3.3 step 5: below 2**(P - G + 1) -> signed zero; step 6: the fine shift ------
    flushed = Signal(name=f"{name}_flush")
    m.d.comb += flushed.eq(fl | ((r >> thr) == 0))
    f = leading_zeros(m, r[p : pk + 1], f"{name}_fine_shift")
    v = cut(pipe, "rnd_lzc", max(dm.shifter(pk + 1, len(thr)) + dm.logic(pk + 1), dm.lzc(G)),
            dict(r=r, f=f, flushed=flushed, e3=v["e3"], **{k: v[k] for k in (
                "zero_in", "sign", "is_nan", "is_inf")}))
    r, f, flushed, e3, zero_in = (v[k] for k in ("r", "f", "flushed", "e3", "zero_in"))
    rr = Signal(p, name=f"{name}_truncated")
    m.d.comb += rr.eq((r << f)[G : G + p])
    normal = Signal(name=f"{name}_normal")
    man = Signal(max(M, 1), name=f"{name}_man")
    e4 = Signal(signed(ew + 1), name=f"{name}_rounded_exp")
    m.d.comb += [
        normal.eq(rr[p - 1] & ~flushed),
        man.eq(Mux(flushed, 0, rr[:M]) if M else 0),
        e4.eq(e3 + 1 - f),
    ]
    zero = Signal(name=f"{name}_zero")
    m.d.comb += zero.eq(zero_in | flushed)
    v = cut(pipe, "rnd_fine", max(dm.shifter(pk + 1, ceil_log2(G + 1)) + dm.lut(1),
                                  dm.adder(ew + 1)), dict(
        normal=normal, man=man, exp=e4, zero=zero, sign=v["sign"], is_nan=v["is_nan"],
        is_inf=v["is_inf"]))
    y = encode(m, fmt, **v, rounding=rounding, saturate=saturate, name=name, pipe=pipe, dm=dm)
    return cut(pipe, "rnd_out", dm.lut(3), {"y": y})["y"]
