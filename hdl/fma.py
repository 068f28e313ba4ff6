"""Fused multiply-add and the approximate-normalization FMA (SPEC.md sections 3 and 3.3).

``FMA`` and ``ApproxFMA`` are one datapath (``fma_datapath``) with a granularity parameter:
FMA is granularity 1 without a window. HardFloat's decomposition, stage by stage named as
golden's twins: decode -> the exact product (``mul_raw``) -> alignment of the
smaller-exponent addend with a sticky bit and add/subtract (``add_raw``, returning a
``SumRaw``; ``fma_sum`` is these three) -> normalization and the rounder's contracts
(``normalize_round``: ``round_align_max`` or ``round_standard`` for the FMA,
``round_approximate`` for ApproxFMA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat
from exmy.golden.params import (
    APPROX_FMA_ROUNDING_MODES,
    FMA_ROUNDING_MODES,
    MAX_GRANULARITY,
    Rounding,
    approx_fma_datapath_width,
    ceil_log2,
    check_approx_params,
    check_bool,
    check_fma_operand,
    check_fma_output,
    check_fma_rounding,
    fma_window_bits,
)

from .arith import cut, tree_multiply
from .base import Unit, unit_builder
from .float import Unpacked, decode, mul_raw, port_shape
from .rounding import encode, flush_inputs, round_align_max, round_approximate, round_standard
from .timing import DelayModel, delay_model
from .util import Pipeline, leading_zeros

__all__ = [
    "FMA",
    "ApproxFMA",
    "FMA_ROUNDING_MODES",
    "APPROX_FMA_ROUNDING_MODES",
    "MAX_GRANULARITY",
    "FMA_CUTS",
    "FMA_FINE_CUTS",
    "fma_datapath",
    "fma_sum",
    "add_raw",
    "Addend",
    "SumRaw",
    "fma_window_bits",
]

#: pipeline cut points in datapath order (``latency`` registers go to evenly spaced cuts)
FMA_CUTS = ("product", "sum", "norm", "round")

#: fmax mode keeps one `*` for the significand product only up to this precision (4: the 8-bit
#: formats); wider products use hdl/arith.py's tree, whose levels are cut points
_STAR_MAX_P = 4
#: the datapath's further candidate cuts in fmax mode (with an explicit latency the one-piece
#: datapath is built), in datapath order: "decode" before one `*`, or "mul_level" between
#: the product tree's levels (hdl/arith.py) when `*` does not fit; "align_shift" and
#: "norm_shift" once per shifter level; "exp_swap", "window_room", "window_offset" and
#: "norm_cap" (a window) only in ApproxFMA, "norm_fine" only in the FMA. The rounders add
#: theirs (hdl/rounding.py; ApproxFMA's: _round_approx_fine)
FMA_FINE_CUTS = ("decode", "mul_level", "exp_diff", "exp_swap", "window_room", "window_offset",
                 "align_amount", "align_shift", "norm_lzc", "norm_cap", "norm_limit",
                 "norm_shift", "norm_fine")
#: FMA normalization: coarse shift in groups of this many bits, then a narrow fine shift
#: (chosen by measurement: docs/results/fma_area.md, "Design parameters")
FMA_COARSE = 4
#: which cuts hold the registers at latency 1-3 (chosen by measuring every placement with
#: ``benchmarks/fma_placement.py``; the numbers: docs/results/fma_area.md)
FMA_PLACEMENT: dict[int, tuple[str, ...]] = {
    1: ("sum",),
    2: ("product", "sum"),
    3: ("product", "sum", "norm"),
}


# -- the datapath ------------------------------------------------------------------------------
def _range(lo: int, hi: int):
    return range(min(lo, -1), max(hi, 1) + 1)


_UNPACKED = ("sign", "sig", "exp", "is_nan", "is_inf", "is_zero")


def _decode_delay(dm: DelayModel, f: FloatFormat) -> float:
    """``decode`` without subnormal normalization: class flags from the fields, the
    unbiased exponent (a constant subtraction) and the hidden-bit multiplexer."""
    return max(dm.adder(f.exp_bits), dm.logic(f.exp_bits + f.man_bits)) + dm.lut(1)


def _shift_cut(pipe: Pipeline, name: str, delay: float, v: Value, amount: Value, i: int,
               live: dict) -> tuple[Value, Value, dict]:
    """The cut after level ``i`` of a staged shifter: ``v``, the amount bits still to apply
    (``amount[:i]``) and the named values ``live`` go through it. Returns them after the
    cut."""
    out = cut(pipe, name, delay, {"_v": v, "_amount": amount[:i] if i else None, **live})
    v, rest = out.pop("_v"), out.pop("_amount")
    return v, rest if i else amount, out


def _staged_shift_right(pipe: Pipeline, name: str, dm, v: Value, amount: Value, live: dict,
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


def _staged_shift_left_top(pipe: Pipeline, name: str, dm, v: Value, amount: Value, unit: int,
                           top: int, live: dict, first: float = 0.0):
    """The top ``top`` bits of ``v << (amount * unit)`` (``len(v)`` bits), one 2:1 mux level
    per amount bit (largest first) with a fine cut after each level (fmax mode): each level
    keeps only the bits that can still reach the top. ``live`` and ``first`` as
    :func:`_staged_shift_right`. Returns the bits and ``live``."""
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
    r_w = Signal(_range(*t_range), name="s1_window_top")  # weight of window bit W-1
    off = None
    if approx:
        t_x = Signal(_range(t_range[0] - 1, t_range[1] - 1), name="s1_x_top")
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
    y_win, live = _staged_shift_right(pipe, "align_shift", dm, v["y_top"], v["amount"], live,
                                      first=d_sticky)
    return dict(live, y_win=y_win)


def fma_datapath(
    m: Module,
    a: Value,
    b: Value,
    c: Value,
    fa: FloatFormat,
    fb: FloatFormat,
    fc: FloatFormat,
    fo: FloatFormat,
    *,
    granularity: int | None = None,
    window: int | None = None,
    rounding: str = "rne",
    saturate: bool = False,
    pipe: Pipeline | None = None,
    coarse: int = FMA_COARSE,
    dm: DelayModel | None = None,
    fmax: float | None = None,
) -> Signal:
    """Build ``y = a*b + c`` into ``m`` and return the encoding of y in ``fo``: the raw
    stages :func:`fma_sum` (decode, mul_raw, add_raw) then :func:`normalize_round`.

    ``granularity=None``: exact normalization (full leading-zero count and shift) and the
    default rounder contract (the FMA). ``granularity=G`` (with ``window`` K or None):
    SPEC 3.3's coarse normalization and the rounder's approximate mode (ApproxFMA). Pipeline
    cut points (``pipe``): ``FMA_CUTS``, and in fmax mode (``pipe.plan``) the fine cuts
    ``FMA_FINE_CUTS`` (every shifter level a candidate; delays from ``dm``, the unit's delay
    model, default ecp5's; ``fmax``, MHz: the product is a tree of adders when one ``*``
    does not fit its period). ``coarse``: the FMA normalizer's group size (``FMA_COARSE``; 1
    gives a one-level full-width shift, for comparisons).
    """
    if pipe is None:
        pipe = Pipeline(m, 0, list(FMA_CUTS))
    if dm is None:
        dm = delay_model("ecp5")
    total = fma_sum(m, a, b, c, fa, fb, fc, fo, granularity=granularity, window=window,
                    pipe=pipe, dm=dm, fmax=fmax)
    return normalize_round(
        m, fo, mag=total.mag, sticky=total.sticky, sign=total.sign, r_w=total.r_w,
        is_nan=total.is_nan, is_inf=total.is_inf, r_range=total.r_range,
        floor_out=total.floor_out, granularity=granularity, k_cap=total.k_cap,
        flush_cap=total.flush_cap, rounding=rounding, saturate=saturate, pipe=pipe,
        coarse=coarse, dm=dm,
    )


def fma_sum(m: Module, a: Value, b: Value, c: Value, fa: FloatFormat, fb: FloatFormat,
            fc: FloatFormat, fo: FloatFormat, *, granularity: int | None, window: int | None,
            pipe: Pipeline, dm: DelayModel, fmax: float | None = None) -> SumRaw:
    """The raw stages of ``a*b + c`` up to the rounder: decode, mul_raw (the product, one
    ``*`` or hdl/arith.py's tree in fmax mode), the "product" cut, then :func:`add_raw`.
    Arguments as :func:`fma_datapath`'s (``fo``: the output the window is built for)."""
    approx = granularity is not None
    G = granularity if approx else 1
    fine = pipe.plan is not None  # fmax mode: the fine structure (shifters level by level)
    pa, pb, pc = fa.sig_bits, fb.sig_bits, fc.sig_bits
    wp = pa + pb
    W = fma_window_bits(fa, fb, fc, fo, G)
    # c's exponent range not finer than the output's (the usual case): every non-zero X has
    # its top at or above emin_out, so a zero X's window can stay at or above emin_out + 1 and
    # the normalization can stop near emin_out (HardFloat's way): the rounder needs no
    # alignment shifter (FMA) or one of at most G - 1 places (ApproxFMA).
    floor_out = fc.emin >= fo.emin

    # -- decode (raw: subnormals keep their leading zeros, zeros keep exponent emin) ----------
    da = decode(m, a, fa, "a", normalize_sub=False)
    db = decode(m, b, fb, "b", normalize_sub=False)
    dc = decode(m, c, fc, "c", normalize_sub=False)
    if not fine:
        prod = None  # (mul_raw below builds the product: one `*`, a DSP when allowed)
    else:
        # the operands' trailing zeros beside the decoder (for the alignment's sticky bit),
        # then the product: one `*` if the model says it fits the period of ``fmax``, else a
        # tree of adders whose levels are fine cuts (hdl/arith.py)
        tz_a = _trailing_zeros(m, da.sig, "s0_a_tz")
        tz_b = _trailing_zeros(m, db.sig, "s0_b_tz")
        tz_c = _trailing_zeros(m, dc.sig, "s0_c_tz")
        d_dec = max(max(_decode_delay(dm, f) for f in (fa, fb, fc)),
                    dm.lut(1) + max(dm.lzc(p) for p in (pa, pb, pc)))
        flat = {f"{n}{f}": getattr(d, f) for n, d in zip("abc", (da, db, dc), strict=True)
                for f in _UNPACKED}
        flat.update(tz_a=tz_a, tz_b=tz_b, tz_c=tz_c)
        if fmax is None or ((min(pa, pb) <= _STAR_MAX_P or dm.maps_to_dsp(pa, pb))
                            and dm.star_fits(pa, pb, fmax)):
            # one `*` fits a stage: a cut after the decoder, then the product (also keeps
            # the equivalence proof easy: the reference has the same `*`). Only for narrow
            # significands: an 8x8 `*` measured slower and larger than the model and the tree
            # (docs/results/fmax_fma.md has the figures), or one DSP in a flow with DSPs
            # (dm.dsp: docs/results/dsp_delay.md)
            flat = cut(pipe, "decode", d_dec, flat)
            prod = Signal(wp, name="s0_product")
            m.d.comb += prod.eq(flat.pop("asig") * flat.pop("bsig"))
            d_mul, d_side0 = dm.multiplier(pa, pb), 0.0
        else:
            # (the significands are the fields and a hidden bit: one LUT level; the
            # decoder's other outputs ride beside the tree's first level, len + 1 bits)
            sig_a, sig_b = flat.pop("asig"), flat.pop("bsig")
            tree_cuts = ceil_log2(min(pa, pb)) - 1
            d_in = dm.lut(1)
            if tree_cuts > 0:
                d_in = max(d_in, d_dec - dm.adder(max(pa, pb) + 1))
            built = tree_multiply(m, sig_a, sig_b, pipe=pipe, dm=dm, carry=flat,
                                  delay_in=d_in, name="s0_mul")
            prod, flat = built.value, built.carry
            d_mul, d_side0 = built.delay, (d_dec if tree_cuts <= 0 else 0.0)
        da, db, dc = (Unpacked(**{f: flat.get(f"{n}{f}") for f in _UNPACKED}) for n in "abc")
        tz_a, tz_b, tz_c = flat["tz_a"], flat["tz_b"], flat["tz_c"]
    tp_lo, tp_hi = fa.emin + fb.emin + 1, fa.emax + fb.emax + 3
    tc_lo, tc_hi = fc.emin, fc.emax + 1
    # -- mul_raw: the exact product (the golden twin's mul_raw), the sum's first addend ------
    flag_stmts = []
    pr = mul_raw(m, da, db, sig=prod, exp_shape=_range(tp_lo, tp_hi),
                 names={"sig": "s0_product", "exp": "s0_prod_top", "sign": "s0_prod_sign",
                        "is_zero": "s0_prod_zero"}, stmts=flag_stmts)
    prod, t_prod, sign_p, zero_p = pr.sig, pr.exp, pr.sign, pr.is_zero  # t: top bit's weight
    # trailing zeros of the product (the sum of the operands': beside the multiplier, not
    # after it) and of c, for the alignment's sticky bit; a zero counts as its full width
    tz_p = Signal(range(wp + 1), name="s0_prod_tz")
    if not fine:
        tz_a = _trailing_zeros(m, da.sig, "s0_a_tz")
        tz_b = _trailing_zeros(m, db.sig, "s0_b_tz")
    nan = Signal(name="s0_is_nan")
    inf = Signal(name="s0_is_inf")
    inf_sign = Signal(name="s0_inf_sign")
    nan_p, inf_p = pr.is_nan, pr.is_inf
    m.d.comb += [
        *flag_stmts,
        tz_p.eq(Mux(zero_p, wp, tz_a + tz_b)),
        nan.eq(nan_p | dc.is_nan | (inf_p & dc.is_inf & (sign_p ^ dc.sign))),
        inf.eq((inf_p | dc.is_inf) & ~nan),
        inf_sign.eq(Mux(inf_p, sign_p, dc.sign)),
    ]
    sig_c, t_c, sign_c, zero_c = dc.sig, dc.exp, dc.sign, dc.is_zero
    if not fine:
        tz_c = _trailing_zeros(m, sig_c, "s0_c_tz")
    if not approx:
        # FMA: a zero operand's exponent plays no part in the result, so give a zero product
        # an exponent below every c (c is then X, at the window top) and a zero c emin_out
        # (it is X only for products below emin_out, which Y's shift aligns to the subnormal
        # grid): no window moves are needed (ApproxFMA's R uses the raw exponents)
        t_prod_raw, t_c_raw = t_prod, t_c
        tp_lo = min(tp_lo, tc_lo - 1)
        t_prod = Signal(_range(tp_lo, tp_hi), name="s0_prod_top_eff")
        m.d.comb += t_prod.eq(Mux(zero_p, tc_lo - 1, t_prod_raw))
        if fc.emin != fo.emin:
            tc_lo = min(tc_lo, fo.emin)
            t_c = Signal(_range(tc_lo, tc_hi), name="s0_c_top_eff")
            m.d.comb += t_c.eq(Mux(zero_c, fo.emin, t_c_raw))
    d_product = max(
        dm.adder(len(t_prod)) + dm.lut(2),
        (0.0 if fine else max(dm.lzc(pa), dm.lzc(pb))) + dm.adder(len(tz_p)) + dm.lut(1),
        dm.lut(3),
    )
    d_product = max(d_mul, d_side0 + d_product) if fine else max(
        dm.multiplier(pa, pb), d_product)
    if fine:
        # the alignment's sticky compare needs tz + the window offsets + 1: added here
        tz_p1 = Signal(range(W + 1), name="s0_prod_low")
        tz_c1 = Signal(range(W + 1), name="s0_c_low")
        m.d.comb += [tz_p1.eq(tz_p + (W - wp)), tz_c1.eq(tz_c + (W - pc))]
        tz_p, tz_c = tz_p1, tz_c1
        d_product = max(d_product, dm.adder(len(tz_p)) + dm.lut(1) + dm.adder(len(tz_p1)))
    # the product cut: both addends by field name, then the special flags
    addends = {"p": Addend(prod, t_prod, tz_p, sign_p, zero_p),
               "c": Addend(sig_c, t_c, tz_c, sign_c, zero_c)}
    v = cut(pipe, "product", d_product, {
        **{f"{x}_{f}": val for x, a in addends.items() for f, val in a._asdict().items()},
        "nan": nan, "inf": inf, "inf_sign": inf_sign})
    add_p, add_c = (Addend(*(v[f"{x}_{f}"] for f in Addend._fields)) for x in addends)

    return add_raw(
        m, add_p, add_c, v["nan"], v["inf"], v["inf_sign"],
        _Geometry(fa, fb, fc, fo, W=W, G=G, approx=approx, window=window, floor_out=floor_out,
                  tp=(tp_lo, tp_hi), tc=(tc_lo, tc_hi)),
        pipe=pipe, dm=dm)


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
class _Geometry:
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
    ``floor_out``: the window's geometry (``_Geometry``) the normalizer needs."""

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
            geo: _Geometry, *, pipe: Pipeline, dm: DelayModel) -> SumRaw:
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
        t_x = Signal(_range(min(tp_lo, tc_lo), max(tp_hi, tc_hi)), name="s1_x_top")
        m.d.comb += t_x.eq(Mux(swap, t_c, t_prod))
        r_lo, r_hi = min(tp_lo, tc_lo) + 1, max(tp_hi, tc_hi) + 1
        r_w = Signal(_range(r_lo, r_hi), name="s1_window_top")  # weight of window bit W-1
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
    pipe: Pipeline | None = None,
    coarse: int = FMA_COARSE,
    dm: DelayModel | None = None,
) -> Signal:
    """The FMA datapath's back end (cut points ``norm``, ``round``; in fmax mode the fine
    cuts ``norm_lzc``, ``norm_shift`` per shifter level, ``norm_fine``): normalise the adder's
    magnitude ``mag`` (window top weight ``r_w``, in ``r_range``; ``sticky`` below it) and
    round and encode it with ``round_encode``. ``floor_out``: ``r_w >= emin_out + 1`` always
    (the normalization stops near emin_out). ApproxFMA (``granularity``): ``k_cap`` caps the
    group count, ``flush_cap`` forces a signed zero. Separate so that benchmarks can
    synthesize the part that approximate normalization changes on its own."""
    approx = granularity is not None
    G = granularity if approx else 1
    lg = ceil_log2(G)
    po = fo.sig_bits
    W = len(mag)
    r_lo, r_hi = r_range
    nan, inf = is_nan, is_inf
    if pipe is None:
        pipe = Pipeline(m, 0, list(FMA_CUTS))
    if dm is None:
        dm = delay_model("ecp5")
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
    keep = po + Gn if approx else po + 2  # approx: p + G - 1 and the round bit
    Wn = -(-W // Gn) * Gn
    mag = Cat(Const(0, Wn - W), mag)
    ng = Wn // Gn
    groups = Cat(*(mag[i * Gn : (i + 1) * Gn] != 0 for i in range(ng)))
    k = leading_zeros(m, groups, "s2_group_lz")
    flags = dict(sign=sign, nan=nan, inf=inf, flush_cap=flush_cap if k_cap is not None else None)
    if fine:
        # beside the count: the magnitude's trailing zeros (for the sticky bit below) and the
        # room above emin_out
        tz = _trailing_zeros(m, mag, "s2_tz")
        room = None
        if floor_out:
            room = Signal(_range(0, r_hi - fo.emin), name="s2_shift_room")
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
            room = Signal(_range(0, r_hi - fo.emin), name="s2_shift_room")
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
        coarse_top, live = _staged_shift_left_top(
            pipe, "norm_shift", dm, mag, live["k_hw"], Gn, top_w, live)
        k_hw, r_w, tz, sticky, flush_index = (live[x] for x in (
            "k_hw", "r_w", "tz", "sticky", "flush_index"))
        flags = {x: live[x] for x in flags}
        at_limit, room_lo = live.get("at_limit"), live.get("room_lo")
        r_k = Signal(_range(r_lo - Wn, r_hi), name="s2_exp_coarse")
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
    p_exp = Signal(_range(top_lo, r_hi), name="s2_exp")  # weight of the shifted top bit
    # the bits below the `keep` kept ones are non-zero iff the sum's lowest one lies below
    # bit Wn - keep - sh (so the wide shifter's low outputs are never built)
    st_r = Signal(name="s2_sticky")
    if fine:
        f_sh = f if not (approx or Gn == 1) else 0
        m.d.comb += [p_exp.eq(r_k - f_sh), st_r.eq((tz_k + f_sh < Wn - keep) | sticky)]
    else:
        m.d.comb += p_exp.eq(r_w - sh)
        tz = _trailing_zeros(m, mag, "s2_tz")
        m.d.comb += st_r.eq((tz + sh < Wn - keep) | sticky)
    names = ("sig_r", "st_r", "p_exp", "sign", "nan", "inf", "flush_cap", "flush_index")
    v = cut(pipe, "norm", d_norm, dict(zip(names, (sig_r, st_r, p_exp, sign, nan, inf, flush_cap,
                                                   flush_index), strict=True)))
    sig_r, st_r, p_exp, sign, nan, inf, flush_cap, flush_index = (v[k] for k in names)

    # -- round and encode (the shared rounder) ----------------------------------------------
    raw = dict(sign=sign, sig=sig_r, exp=p_exp, is_nan=nan, is_inf=inf, sticky=st_r,
               rounding=rounding, saturate=saturate, pipe=pipe, name="rnd", dm=dm)
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
    s3, v = _staged_shift_right(
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


def _trailing_zeros(m: Module, v: Value, name: str) -> Signal:
    """Trailing zeros of ``v`` (``len(v)`` for 0): the leading-zero tree on the reversed bits."""
    v = Value.cast(v)
    return leading_zeros(m, Cat(*(v[i] for i in reversed(range(len(v))))), name)


# -- the units ------------------------------------------------------------------------------
class _FmaUnit(Unit):
    #: the exact normalizer's group size and the register placement (a subclass may change
    #: them for comparisons: benchmarks/fma_area.py, benchmarks/fma_placement.py)
    coarse = FMA_COARSE
    placement = FMA_PLACEMENT

    def _setup(self, fmt_a, fmt_b, fmt_c, fmt_out, rounding, saturate, latency, extra,
               target=None, fmax=None, dsp=False):
        self.fmt_a = check_fma_operand(fmt_a, "a")
        self.fmt_b = check_fma_operand(fmt_b, "b")
        self.fmt_c = check_fma_operand(fmt_c, "c")
        self.fmt_out = self.fmt_c if fmt_out is None else check_fma_output(fmt_out)
        self.saturate = check_bool(saturate, "saturate")
        self.latency = self.set_timing(latency, target, fmax, dsp=dsp)
        self.params = {
            "a": self.fmt_a.name, "b": self.fmt_b.name, "c": self.fmt_c.name,
            "out": self.fmt_out.name, "rounding": self.rounding, "saturate": self.saturate,
            "latency": self.latency, **extra,
        }
        self.port_formats = {
            "a": self.fmt_a, "b": self.fmt_b, "c": self.fmt_c, "y": self.fmt_out,
        }
        super().__init__({
            "a": In(port_shape(self.fmt_a)),
            "b": In(port_shape(self.fmt_b)),
            "c": In(port_shape(self.fmt_c)),
            "y": Out(port_shape(self.fmt_out)),
        })

    @property
    def window_bits(self) -> int:
        """Width of the adder window (carry bit included)."""
        return fma_window_bits(self.fmt_a, self.fmt_b, self.fmt_c, self.fmt_out,
                               self.granularity or 1)

    def extra_metadata(self) -> dict:
        return {"datapath": {"window_bits": self.window_bits, "cuts": list(FMA_CUTS)}}

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, self.latency, list(FMA_CUTS), self.placement, plan=self.plan)
        y = fma_datapath(
            m, self.a.as_value(), self.b.as_value(), self.c.as_value(),
            self.fmt_a, self.fmt_b, self.fmt_c, self.fmt_out,
            granularity=self.granularity, window=self.window, rounding=self.rounding,
            saturate=self.saturate, pipe=pipe, coarse=self.coarse, dm=self.dm, fmax=self.fmax,
        )
        # (the rounder's last cut, rnd_out, is at its encoding: nothing follows it)
        m.d.comb += self.y.as_value().eq(pipe.finish(y, delay=0.0))
        return m


class FMA(_FmaUnit):
    """Fused multiply-add ``y = encode(a*b + c, fmt_out)`` with one rounding (SPEC 3),
    bit-exact to ``exmy.golden.fma``.

    Any float formats with a zero for a, b, c (they may all differ); any float format for y
    (default: c's). Rounding ``rne``, ``rtz`` or ``rna``; overflow per SPEC 2 (``saturate``
    gives ±max_finite, also for Inf results: SATFINITE); in rtz overflow gives max_finite
    (IEEE 7.4). Special values as IEEE: NaN in -> canonical NaN; Inf x 0 and Inf - Inf -> NaN;
    Inf x finite -> Inf with the xor sign. An exact zero sum is +0 unless both addends are
    -0; a non-zero sum that rounds to zero keeps its sign (fnuz and unsigned outputs write
    +0). Subnormal inputs and outputs are exact.

    Datapath (one description with ``ApproxFMA``; HardFloat's decode -> raw datapath -> one
    rounder -> encode):

    1. decode without normalising subnormals (exponents are raw: ``max(field, 1) - bias``);
       the product of the significands is one ``*`` of pa x pb bits (``wp = pa + pb``), its
       top bit of weight ``ea + eb + 1``; c's top bit has weight ``ec``. A zero product gets
       an exponent below every c, a zero c ``emin_out``. Trailing-zero counts of the
       operands are taken beside the multiplier (for the sticky bit).
    2. the addend with the larger top, X, goes to the top of a W-bit window below one carry
       bit, the other, Y, is shifted right by the exponent difference; Y's bits below the
       window are ORed into a sticky bit (from the trailing-zero count, not by shifting them)
       and the subtraction computes ``X - Y - sticky``, so the window holds ``(sig + delta)
       * 2**lsb`` with ``0 < delta < 1`` iff sticky (the golden ``fma_raw`` contract), then
       the magnitude.
    3. normalization: a coarse leading-zero count over 4-bit groups and a shift by whole
       groups (the wide stages), an exact count over the top 3 bits and a fine shift of the
       p + 2 bits the rounder keeps (the narrow stages); the bits below are a sticky bit
       computed from the magnitude's trailing zeros, so the wide shifter's low outputs are
       never built. When c's exponent range is not finer than the output's (every same-
       format FMA) the shift stops at ``emin_out`` (HardFloat's way), so the rounder needs no
       subnormal alignment shifter (``round_align_max(align_max=0)``); else the rounder aligns.
    4. ``round_encode`` (its one-bit normalization step finishes), encode.

    Window width (``fma_window_bits``): ``W = max(wp + pc + 1, max(wp, pc) + po + 2)``.
    Why it is exact: X's lowest bit has weight ``>= Rw - wX`` (``Rw`` = the window top), so
    ``|X| >= 2**(Rw - wX)`` even for unnormalised subnormal X. Y loses bits only if its lowest
    bit is below the window, i.e. ``|Y| < 2**(Rw - W + wY)``; ``W >= wX + wY + 1`` makes that
    ``|Y| <= |X|/2``, so the sum's leading bit L is at least ``Rw - wX - 1`` and the rounding
    position ``q >= L - po + 1`` lies at least one bit above the window's LSB: round bit and
    sticky are those of the exact sum (``W >= wX + po + 2``). Sticky also implies ``|Y| <
    |X|``, so a negative difference is exact. A zero X (c = 0 at emin_out, products below
    it) is a subnormal result: its rounding position ``emin_out - M`` lies ``W - po - 2 >=
    wY`` bits above the window LSB, so the borrow of a sticky subtraction cannot reach the
    round bit. Widths: e4m3fn 14 bits, e5m2 11, bfloat16 26, float16 35 (HardFloat's FMA
    about 3p + 2).

    Area and Fmax against HardFloat: docs/results/fma_area.md (``benchmarks/fma_area.py``).

    Latency (``latency`` registers at the cut points decode + product ``|product|``
    alignment + add ``|sum|`` normalization ``|norm|`` the rounder's subnormal alignment (if
    any) ``|round|`` rounding + encode): 1 at sum, 2 at product and sum, 3 at product, sum
    and norm (``FMA_PLACEMENT``, chosen by measuring every placement), 4 at all four, more
    at the output.

    Ports: ``a``, ``b``, ``c``, ``y``; ``clk``, ``rst`` when latency > 0.
    """

    unit = "fma"
    granularity = None
    window = None

    def __init__(
        self, fmt_a, fmt_b, fmt_c, fmt_out=None, *, rounding: str = "rne",
        saturate: bool = False, latency: int | None = None, target: str | None = None,
        fmax: float | None = None, dsp: bool = False,
    ):
        self.rounding = check_fma_rounding(rounding, FMA_ROUNDING_MODES, "FMA")
        self._setup(fmt_a, fmt_b, fmt_c, fmt_out, rounding, saturate, latency, {},
                    target, fmax, dsp)


class ApproxFMA(_FmaUnit):
    """Approximate-normalization FMA (SPEC 3.3), bit-exact to ``exmy.golden.approx_fma``.

    Source: the idea of "Floating-Point Multiply-Add with Approximate Normalization for
    Low-Cost Matrix Engines" (Alexandridis et al., 2024): normalise the sum only coarsely and
    round at a fixed position. The paper's exact scheme is not public; this definition is
    exmy's own. With p, emin, M of ``fmt_out``, granularity G and window K:

    1. raw exponents ``e = max(field, 1) - bias`` (zeros and subnormals not normalised);
       adder top ``R = max(ea + eb + 1, ec) + 1``;
    2. ``v = |a*b + c|``; ``lz = R - floor(log2 v)``;
    3. coarse shift ``sh = G * floor(lz / G)``, at most K; ``P = R - sh``;
    4. round v at ``2**max(P - p - G + 2, emin - M)`` (rne or rtz);
    5. a result below ``2**(P - G + 1)`` (only when K capped the shift) is ±0, the sign of
       ``a*b + c``;
    6. truncate to p bits (not finer than ``2**(emin - M)``) and encode (overflow per SPEC 2).

    Specials, zero signs, ``saturate`` as ``FMA``. G = 1 without a window is ``FMA`` bit for
    bit (a test).

    Hardware: the FMA datapath (see ``FMA``) with a window ``W = max(wp + pc + 1, max(wp, pc)
    + po + G + 1)`` bits (the rounding position now lies up to G - 1 bits lower; a zero X
    moves the window down by a multiple of G so the G-bit groups stay aligned to R), then a
    leading-zero count over ``ceil(W/G)`` group-OR bits, a left shift in steps of G (log2(W/G)
    stages instead of log2(W)), rounding at the fixed position p + G - 1 bits below the top
    and a (G+1)-way fine shift that truncates (``round_approximate``). With K the
    group count is capped at ``(K - (R - Rw))/G``; a window entirely below R - K gives ±0.

    Where it departs from the paper: the paper's own grouping, rounding point and window are
    unknown; here the sum is rounded once at a position that depends only on the coarse
    shift, then truncated, so results are faithful (K = None): error below 1 ulp of the exact
    ``a*b + c`` (``benchmarks/approx_fma_error.py`` measures it; the tests check < 1 ulp). A
    window K adds flushes to zero of results more than K bits below R.

    Area against ``FMA`` and a one-level normalizer: docs/results/fma_area.md.

    Latency and ports as ``FMA``.
    """

    unit = "approx-fma"

    def __init__(
        self, fmt_a, fmt_b, fmt_c, fmt_out=None, *, granularity: int, window: int | None = None,
        rounding: str = "rne", saturate: bool = False, latency: int | None = None,
        target: str | None = None, fmax: float | None = None, dsp: bool = False,
    ):
        fa, fb, fc = (check_fma_operand(f, w) for f, w in ((fmt_a, "a"), (fmt_b, "b"),
                                                            (fmt_c, "c")))
        if fmt_out is not None:
            check_fma_output(fmt_out)
        check_approx_params(granularity, window, fa, fb, fc)
        self.rounding = check_fma_rounding(rounding, APPROX_FMA_ROUNDING_MODES,
                                           "Approximate FMA")
        self.granularity = granularity
        self.window = window
        self._setup(fa, fb, fc, fmt_out, rounding, saturate, latency,
                    {"granularity": granularity, "window": window}, target, fmax, dsp)


# -- registry ------------------------------------------------------------------------------
_FMA_OPTS = ("a", "b", "c", "out", "rounding", "saturate", "latency", "target", "fmax", "dsp")


def _formats(unit, a, b, c, out):
    """--b defaults to --a; --c to --out, else --a; --out to --c."""
    if a is None:
        raise ValueError(f"Unit {unit!r} needs an operand format (--a)")
    if out is not None:
        check_fma_output(out)  # before c defaults to it: the message names --out, not c
    b = a if b is None else b
    c = (out if out is not None else a) if c is None else c
    return a, b, c, out


@unit_builder("fma", _FMA_OPTS, "y = a*b + c with one rounding (b defaults to a, c to out or a)")
def fma_builder(a=None, b=None, c=None, out=None, rounding="rne", saturate=False, latency=None,
                target=None, fmax=None, dsp=False):
    a, b, c, out = _formats("fma", a, b, c, out)
    return FMA(a, b, c, out, rounding=rounding, saturate=saturate, latency=latency,
               target=target, fmax=fmax, dsp=dsp)


@unit_builder("approx-fma", _FMA_OPTS + ("granularity", "window"),
          "y ~ a*b + c with approximate normalization (SPEC 3.3; --granularity, --window)")
def approx_fma_builder(a=None, b=None, c=None, out=None, rounding="rne", saturate=False,
                       latency=None, granularity=None, window=None, target=None, fmax=None,
                       dsp=False):
    a, b, c, out = _formats("approx-fma", a, b, c, out)
    if granularity is None:
        raise ValueError("Unit 'approx-fma' needs a granularity (--granularity G)")
    return ApproxFMA(a, b, c, out, granularity=granularity, window=window, rounding=rounding,
                     saturate=saturate, latency=latency, target=target, fmax=fmax, dsp=dsp)
