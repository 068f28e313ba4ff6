"""The FMA's add_raw stage (golden twin: ``exmy.golden.add_raw``): the product and the
addend ``c`` (:class:`Addend`) aligned, X (the larger top) at the window top and Y shifted right
with a sticky bit, then added or subtracted into a :class:`SumRaw`, for the window an
:class:`AddGeometry` describes. One-piece with an explicit latency; in fmax mode with fine
cuts ("exp_diff" .. "align_shift"), through the level-by-level shifters
:func:`shift_right_levels` and :func:`shift_left_top_levels` (the normaliser,
:mod:`exmy.hdl.fma_norm`, uses them too). :mod:`exmy.hdl.fma` builds the whole FMA from
decode, mul_raw, this stage and :func:`exmy.hdl.fma_norm.normalize_round`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from exmy.golden.format import FloatFormat
from exmy.golden.params import approx_fma_datapath_width, ceil_log2

from .arith import cut
from .timing import DelayModel
from .util import Pipeline, exp_range

__all__ = ["Addend", "AddGeometry", "SumRaw", "add_raw", "shift_left_top_levels",
           "shift_right_levels"]


def _shift_cut(pipe: Pipeline, name: str, delay: float, v: Value, amount: Value, i: int,
               live: dict) -> tuple[Value, Value, dict]:
    """The cut after level ``i`` of a staged shifter: ``v``, the amount bits still to apply
    (``amount[:i]``) and the named values ``live`` go through it. Returns them after the
    cut."""
    out = cut(pipe, name, delay, {"_v": v, "_amount": amount[:i] if i else None, **live})
    v, rest = out.pop("_v"), out.pop("_amount")
    return v, rest if i else amount, out


def shift_right_levels(pipe: Pipeline, name: str, dm, v: Value, amount: Value, live: dict,
                        first: float = 0.0):
    """``v >> amount`` built one 2:1 mux level per amount bit (largest first) with a fine cut
    after each level (fmax mode); the named values ``live`` travel through the cuts
    (``first``: the delay of logic beside the first level). Returns the shifted value and
    ``live``."""
    v, amount = Value.cast(v), Value.cast(amount)
    w = len(v)
    n = min(len(amount), max(w - 1, 1).bit_length())  # levels that move bits
    d_zero = 0.0
    if len(amount) > n:  # the amount bits beyond them: one level that clears v
        v = Mux(amount[n:] != 0, 0, v)
        d_zero = dm.logic(len(amount) - n)
        amount = amount[:n]
    for i in reversed(range(len(amount))):
        step = 1 << i
        v = Mux(amount[i], v >> step, v)
        d, first, d_zero = max(d_zero + dm.lut(1), first), 0.0, 0.0
        v, amount, live = _shift_cut(pipe, name, d, v, amount, i, live)
    return v, live


def shift_left_top_levels(pipe: Pipeline, name: str, dm, v: Value, amount: Value, unit: int,
                           top: int, live: dict, first: float = 0.0):
    """The top ``top`` bits of ``v << (amount * unit)`` (``len(v)`` bits), one 2:1 mux level
    per amount bit (largest first) with a fine cut after each level (fmax mode): each level
    keeps only the bits that can still reach the top. ``live`` and ``first`` as
    :func:`shift_right_levels`. Returns the bits and ``live``."""
    v, amount = Value.cast(v), Value.cast(amount)
    n = len(amount)
    width = top + ((1 << n) - 1) * unit  # the bits that can reach the top `top`
    if width > len(v):
        v = Cat(Const(0, width - len(v)), v)
    else:
        v = v[len(v) - width :]
    for i in reversed(range(n)):
        step = unit << i
        new = width - step
        v = Mux(amount[i], v[:new], v[width - new :])
        width = new
        d, first = max(dm.lut(1), first), 0.0
        v, amount, live = _shift_cut(pipe, name, d, v, amount, i, live)
    return v, live


def _align_fine(m: Module, pipe: Pipeline, dm: DelayModel, *, W: int, wp: int, pc: int,
                s_max: int, approx: bool, lg: int, floor_out: bool, fo: FloatFormat,
                t_range: tuple[int, int], prod, t_prod, tz_p, sign_p, zero_p, sig_c, t_c, tz_c,
                sign_c, zero_c, nan, inf, inf_sign) -> dict:
    """``fma_datapath``'s alignment in fmax mode, with fine cuts: the same function as its
    one-piece form, built for short stages. Both exponent differences are computed side by
    side (the swap is one's sign, the shift a multiplexer; the FMA's window top likewise);
    the shift amount is not clamped to W - 1 (the shifter's levels beyond the window width
    are one zeroing level), so the sticky compare excludes a zero Y explicitly. Returns
    x_win, y_win, sticky, r_w, swap, the flags sign_p, sign_c, nan, inf, inf_sign, and off
    (None unless approx)."""
    # Y's lowest one sits at bit (W-1-wY) + tz(Y) of y_top, W - 1 exactly when Y is zero:
    # tz_p and tz_c come as that plus one (fma_datapath adds the constants a cut earlier)
    diff = Signal(range(-s_max, s_max + 1), name="s1_exp_diff")
    diff_n = Signal(range(-s_max, s_max + 1), name="s1_exp_diff_neg")
    m.d.comb += [diff.eq(t_c - t_prod), diff_n.eq(t_prod - t_c)]
    flags = dict(sign_p=sign_p, sign_c=sign_c, nan=nan, inf=inf, inf_sign=inf_sign)
    # FMA: the sticky compare shift > y_low as t_c > t_prod + y_low_p (Y the product) or
    # t_prod > t_c + y_low_c (Y is c), both sides a cut earlier, and the window top's two
    # candidates t + 1 (all beside the differences)
    tops = dict(t_prod=t_prod, t_c=t_c, zero_p=zero_p, zero_c=zero_c) if approx else dict(
        t_p1=t_prod + 1, t_c1=t_c + 1, u_p1=t_prod + tz_p, u_c1=t_c + tz_c)
    v = cut(pipe, "exp_diff", dm.adder(len(diff)), dict(
        diff=diff, diff_n=diff_n, y_low_p=tz_p, y_low_c=tz_c, y_zero_p=tz_p == W,
        y_zero_c=tz_c == W, prod=prod, sig_c=sig_c, **tops, **flags))
    flags = {k: v[k] for k in flags}
    swap = Signal(name="s1_swap")  # X is c
    shift = Signal(range(s_max + 1), name="s1_shift")
    m.d.comb += [swap.eq(v["diff_n"] < 0), shift.eq(Mux(swap, v["diff"], v["diff_n"]))]
    y_low = Mux(swap, v["y_low_p"], v["y_low_c"])
    y_zero = Mux(swap, v["y_zero_p"], v["y_zero_c"])
    place_p = Cat(Const(0, W - 1 - wp), v["prod"])  # top at bit W-2
    place_c = Cat(Const(0, W - 1 - pc), v["sig_c"])
    x_win = Signal(W - 1, name="s1_x")
    y_top = Signal(W - 1, name="s1_y_unshifted")
    m.d.comb += [x_win.eq(Mux(swap, place_c, place_p)), y_top.eq(Mux(swap, place_p, place_c))]
    r_w = Signal(exp_range(*t_range), name="s1_window_top")  # weight of window bit W-1
    off = None
    if approx:
        t_x = Signal(exp_range(t_range[0] - 1, t_range[1] - 1), name="s1_x_top")
        x_zero = Signal(name="s1_x_zero")
        m.d.comb += [t_x.eq(Mux(swap, v["t_c"], v["t_prod"])),
                     x_zero.eq(Mux(swap, v["zero_c"], v["zero_p"]))]
        v = cut(pipe, "exp_swap", dm.lut(1), dict(
            shift=shift, t_x=t_x, x_zero=x_zero, y_low=y_low, y_zero=y_zero, x_win=x_win,
            y_top=y_top, swap=swap, **flags))
        # the window offset R - Rw (as fma_datapath's one-piece form)
        off = Signal(range(s_max + 1), name="s1_window_offset")
        steps = v["shift"] >> lg
        d_off = dm.lut(1)
        if floor_out:
            room = Signal(range(max(t_range[1] - 1 - fo.emin, 0) + 1), name="s1_x_above_emin")
            m.d.comb += room.eq(Mux(v["t_x"] > fo.emin, v["t_x"] - fo.emin, 0))
            v = cut(pipe, "window_room", dm.chained(len(t_x)) + dm.lut(1), dict(room=room, **v))
            steps = v["shift"] >> lg
            steps = Mux(steps > (v["room"] >> lg), v["room"] >> lg, steps)
            d_off += dm.chained(len(shift)) + dm.lut(1)
        m.d.comb += off.eq(Mux(v["x_zero"], steps << lg, 0))
        v = cut(pipe, "window_offset", d_off, dict(
            off=off, **{k: v[k] for k in ("shift", "t_x", "y_low", "y_zero", "x_win", "y_top",
                                          "swap", *flags)}))
        off = v["off"]
        amount = Signal(range(s_max + 1), name="s1_y_shift")
        m.d.comb += [amount.eq(v["shift"] - off), r_w.eq(v["t_x"] + 1 - off)]
        d_amount = dm.chained(max(len(shift), len(t_x)))
    else:
        amount = shift
        m.d.comb += r_w.eq(Mux(swap, v["t_c1"], v["t_p1"]))
        # (the compare, not y_low itself)
        y_low = Mux(swap, v["t_c1"] > v["u_p1"], v["t_p1"] > v["u_c1"])
        d_amount = dm.chained(len(v["t_c1"]) + 1) + dm.lut(1)  # operands: exp_diff's sums
        v = dict(v, y_low=y_low, y_zero=y_zero, x_win=x_win, y_top=y_top, swap=swap)
    v = cut(pipe, "align_amount", d_amount, dict(
        amount=amount, **{k: v[k] for k in ("y_low", "y_zero", "x_win", "y_top")}, r_w=r_w,
        swap=v["swap"], **{k: v[k] for k in flags}, off=off))
    sticky = Signal(name="s1_sticky")
    if approx:
        m.d.comb += sticky.eq((v["amount"] >= v["y_low"]) & ~v["y_zero"])
        d_sticky = dm.lut(1) + dm.adder(len(v["amount"]))
    else:
        m.d.comb += sticky.eq(v["y_low"] & ~v["y_zero"])
        d_sticky = dm.lut(1)
    live = dict(x_win=v["x_win"], sticky=sticky, r_w=v["r_w"], swap=v["swap"],
                **{k: v[k] for k in flags}, off=v["off"])
    y_win, live = shift_right_levels(pipe, "align_shift", dm, v["y_top"], v["amount"], live,
                                      first=d_sticky)
    return dict(live, y_win=y_win)


class Addend(NamedTuple):
    """One addend of :func:`add_raw`, as the product stage leaves it: the significand ``sig``
    (its top bit at the addend's fixed width), ``top`` the weight of that top bit (the FMA
    gives a zero product a top below every c and a zero c emin_out: a zero's exponent plays
    no part), ``tz`` its trailing zeros (a zero: its full width; fmax mode: plus the window
    offset and one, as fma_datapath adds them a cut earlier), ``sign`` and ``zero``."""

    sig: Value
    top: Value
    tz: Value
    sign: Value
    zero: Value


@dataclass(frozen=True)
class AddGeometry:
    """What :func:`add_raw` builds for: the formats, the window width ``W``
    (``fma_window_bits``), the granularity ``G`` and window ``K`` (ApproxFMA), whether the
    normalization may stop near emin_out (``floor_out``) and the addends' top ranges."""

    fa: FloatFormat
    fb: FloatFormat
    fc: FloatFormat
    fo: FloatFormat
    W: int
    G: int
    approx: bool
    window: int | None
    floor_out: bool
    tp: tuple[int, int]
    tc: tuple[int, int]


@dataclass
class SumRaw:
    """The output of :func:`add_raw`, the hardware twin of golden ``add_raw``'s ``Raw``
    (tests/test_raw_stages.py checks one against the other): the exact sum is
    ``(mag + delta) * 2**(r_w - W + 1)`` with ``0 < delta < 1`` iff ``sticky`` (``r_w`` is the
    weight of window bit ``W - 1``, ``mag`` ``W`` bits); rounding it at the output's quantum,
    or any coarser one at or above ``L - precision + 1`` (``L`` its leading bit), is rounding
    the exact sum. ``sign`` (an exact zero: +0 unless both addends are -0), ``is_nan``,
    ``is_inf``; ``r_range`` bounds ``r_w``; ApproxFMA with a window: ``k_cap`` (the coarse
    count's cap, or None) and ``flush_cap`` (the sum lies wholly below the window);
    ``floor_out``: the window's geometry (``AddGeometry``) the normalizer needs."""

    mag: Value
    sticky: Value
    sign: Value
    r_w: Value
    is_nan: Value
    is_inf: Value
    r_range: tuple[int, int]
    k_cap: Value | None
    flush_cap: Value
    floor_out: bool


def add_raw(m: Module, p: Addend, c: Addend, nan: Value, inf: Value, inf_sign: Value,
            geo: AddGeometry, *, pipe: Pipeline, dm: DelayModel) -> SumRaw:
    """The FMA's addition stage, the twin of golden ``add_raw``: the product ``p`` and the
    addend ``c`` aligned (X, the larger top, at the window top; Y shifted right with a sticky
    bit) and added or subtracted, in fmax mode (``pipe.plan``) with fine cuts ("exp_diff" ..
    "align_shift", "sum"), else with the "sum" cut. ``nan``, ``inf``, ``inf_sign``: the
    sum's specials (the product's and c's, decided at the product stage)."""
    prod, t_prod, tz_p, sign_p, zero_p = p
    sig_c, t_c, tz_c, sign_c, zero_c = c
    fa, fb, fc, fo = geo.fa, geo.fb, geo.fc, geo.fo
    W, G, approx, window, floor_out = geo.W, geo.G, geo.approx, geo.window, geo.floor_out
    (tp_lo, tp_hi), (tc_lo, tc_hi) = geo.tp, geo.tc
    wp, pc, lg = fa.sig_bits + fb.sig_bits, fc.sig_bits, ceil_log2(G)
    fine = pipe.plan is not None
    # -- alignment: X (larger exponent top) on top of the window, Y shifted right -----------
    s_max = max(tp_hi - tc_lo, tc_hi - tp_lo, 1)
    keep_off = approx and window is not None  # (the group cap below needs the offset)
    if fine:
        r_lo, r_hi = min(tp_lo, tc_lo) + 1, max(tp_hi, tc_hi) + 1
        a = _align_fine(
            m, pipe, dm, W=W, wp=wp, pc=pc, s_max=s_max, approx=approx, lg=lg,
            floor_out=floor_out, fo=fo, t_range=(r_lo, r_hi), prod=prod, t_prod=t_prod,
            tz_p=tz_p, sign_p=sign_p, zero_p=zero_p, sig_c=sig_c, t_c=t_c, tz_c=tz_c,
            sign_c=sign_c, zero_c=zero_c, nan=nan, inf=inf, inf_sign=inf_sign)
        x_win, y_win, sticky, r_w, swap = (a[k] for k in ("x_win", "y_win", "sticky", "r_w",
                                                           "swap"))
        sign_p, sign_c, nan, inf, inf_sign = (a[k] for k in ("sign_p", "sign_c", "nan", "inf",
                                                              "inf_sign"))
        off = a["off"] if a["off"] is not None else Const(0, 1)
    else:
        diff = Signal(range(-s_max, s_max + 1), name="s1_exp_diff")
        m.d.comb += diff.eq(t_c - t_prod)
        swap = Signal(name="s1_swap")  # X is c
        m.d.comb += swap.eq(diff > 0)
        shift = Signal(range(s_max + 1), name="s1_shift")
        m.d.comb += shift.eq(Mux(swap, diff, -diff))
        t_x = Signal(exp_range(min(tp_lo, tc_lo), max(tp_hi, tc_hi)), name="s1_x_top")
        m.d.comb += t_x.eq(Mux(swap, t_c, t_prod))
        r_lo, r_hi = min(tp_lo, tc_lo) + 1, max(tp_hi, tc_hi) + 1
        r_w = Signal(exp_range(r_lo, r_hi), name="s1_window_top")  # weight of window bit W-1
        y_shift = Signal(range(W), name="s1_y_shift")
        if approx:
            # A zero X (SPEC 3.3's raw exponent of a zero operand sets R) must not push Y out of
            # the window: the window moves down towards Y by a multiple of G (R - Rw, so the
            # coarse groups stay aligned to R; with floor_out not below emin_out + 1, and Y's
            # shift does the subnormal alignment); the rest is Y's shift.
            x_zero = Signal(name="s1_x_zero")
            m.d.comb += x_zero.eq(Mux(swap, zero_c, zero_p))
            off = Signal(range(s_max + 1), name="s1_window_offset")  # R - Rw
            steps = shift >> lg
            if floor_out:
                room = Signal(range(max(tp_hi, tc_hi) - fo.emin + 1), name="s1_x_above_emin")
                m.d.comb += room.eq(Mux(t_x > fo.emin, t_x - fo.emin, 0))  # (> 0 but zero X)
                steps = Mux(steps > (room >> lg), room >> lg, steps)
            m.d.comb += off.eq(Mux(x_zero, steps << lg, 0))
            sh_eff = shift - off
            m.d.comb += r_w.eq(t_x + 1 - off)
        else:
            off = Const(0, 1)
            sh_eff = shift
            m.d.comb += r_w.eq(t_x + 1)
        m.d.comb += y_shift.eq(Mux(sh_eff > W - 1, W - 1, sh_eff) if s_max > W - 1 else sh_eff)

        place_p = Cat(Const(0, W - 1 - wp), prod)  # top at bit W-2
        place_c = Cat(Const(0, W - 1 - pc), sig_c)
        x_win = Signal(W - 1, name="s1_x")
        y_top = Signal(W - 1, name="s1_y_unshifted")
        m.d.comb += [x_win.eq(Mux(swap, place_c, place_p)), y_top.eq(Mux(swap, place_p, place_c))]
        y_win = Signal(W - 1, name="s1_y_aligned")
        m.d.comb += y_win.eq(y_top >> y_shift)
        # Y's lowest one sits at bit (W-1-wY) + tz(Y) of y_top: it leaves the window iff the
        # shift is larger (y_shift <= W-1, so a non-zero Y that is shifted out entirely counts)
        sticky = Signal(name="s1_sticky")
        y_low = Mux(swap, tz_p + (W - 1 - wp), tz_c + (W - 1 - pc))
        m.d.comb += sticky.eq(y_shift > y_low)

    # -- add / subtract: X - Y - sticky is X - (Y + delta) with the fraction kept as sticky ---
    sub = Signal(name="s1_sub")
    m.d.comb += sub.eq(sign_p ^ sign_c)
    y_ops = Signal(W + 1, name="s1_y_operand")
    m.d.comb += y_ops.eq(Cat(y_win, Const(0, 2)) ^ Mux(sub, (1 << (W + 1)) - 1, 0))
    total = Signal(signed(W + 1), name="s1_sum")
    m.d.comb += total.eq(Cat(x_win, Const(0, 2)) + y_ops + (sub & ~sticky))
    neg = total[W]
    mag = Signal(W, name="s1_magnitude")
    if fine:
        # the magnitude from a second adder beside the first, Y - X (a negative total needs
        # sub and no sticky: then |total| = Y - X), instead of negating the total after it
        alt = Signal(W + 1, name="s1_sum_neg")
        m.d.comb += alt.eq(Cat(y_win, Const(0, 2)) + (Cat(x_win, Const(0, 2)) ^ (
            (1 << (W + 1)) - 1)) + 1)
        m.d.comb += mag.eq(Mux(neg, alt, total)[:W])
    else:
        m.d.comb += mag.eq(((total ^ Mux(neg, (1 << (W + 1)) - 1, 0)) + neg)[:W])
    sign_x = Mux(swap, sign_c, sign_p)
    if fine:
        # the sign's zero case after the cut (the zero test beside the normalizer's count)
        sign_nz = Signal(name="s1_sign_nonzero")
        m.d.comb += sign_nz.eq(sign_x ^ neg)
        v = cut(pipe, "sum", dm.lut(1) + dm.adder(W + 1) + dm.lut(1), dict(
            mag=mag, sticky=sticky, sign_nz=sign_nz, sign_p=sign_p, sign_c=sign_c, inf=inf,
            inf_sign=inf_sign, r_w=r_w, nan=nan, off=off if keep_off else None))
        mag, sticky, sign_nz, sign_p, sign_c, inf, inf_sign, r_w, nan = (v[k] for k in (
            "mag", "sticky", "sign_nz", "sign_p", "sign_c", "inf", "inf_sign", "r_w", "nan"))
        if keep_off:
            off = v["off"]
    exact_zero = (mag == 0) & ~sticky
    sign = Signal(name="s1_sign")
    m.d.comb += sign.eq(
        Mux(inf, inf_sign, Mux(exact_zero, sign_p & sign_c, sign_nz if fine else sign_x ^ neg))
    )
    flush_cap = Const(0, 1)
    k_cap = None
    if approx and window is not None:
        # a window below R - K: the result lies wholly below the rounding position (SPEC
        # 3.3 steps 3-5 give a signed zero); else the coarse count is capped at (K - off)/G
        d_full = approx_fma_datapath_width(fa, fb, fc)
        if window < d_full - 1:
            k_cap = Signal(range(max(window // G, 1) + 1), name="s1_group_cap")
            if s_max > window:
                flush_cap = Signal(name="s1_window_flush")
                m.d.comb += flush_cap.eq(off > window)
            m.d.comb += k_cap.eq(
                Mux(off > window, 0, ((window - off) >> ceil_log2(G))[: len(k_cap)]))
    # (fmax mode: the sign and the group cap are built after the "sum" cut, beside the
    # normalizer's first levels: normalize_round's "norm_lzc" delay covers them)
    if not fine:
        names = ("mag", "sticky", "sign", "r_w", "nan", "inf", "k_cap", "flush_cap")
        v = cut(pipe, "sum", 0.0, dict(zip(names, (mag, sticky, sign, r_w, nan, inf, k_cap,
                                                   flush_cap if k_cap is not None else None),
                                           strict=True)))
        mag, sticky, sign, r_w, nan, inf, k_cap, cap_flush = (v[k] for k in names)
        if k_cap is not None:
            flush_cap = cap_flush
    return SumRaw(mag, sticky, sign, r_w, nan, inf, (r_lo, r_hi), k_cap, flush_cap,
                  floor_out)
