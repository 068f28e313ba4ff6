"""Fused multiply-add and the approximate-normalization FMA (SPEC.md sections 3 and 3.3).

``FMA`` and ``ApproxFMA`` are one datapath (``fma_datapath``) with a granularity parameter:
FMA is granularity 1 without a window. HardFloat's decomposition, stage by stage named as
golden's twins: decode -> the exact product (``mul_raw``) -> alignment of the
smaller-exponent addend with a sticky bit and add/subtract (``add_raw``, returning a
``SumRaw``; ``fma_sum`` is these three) -> normalization and the rounder's contracts
(``normalize_round``: ``round_align_max`` or ``round_standard`` for the FMA,
``round_approximate`` for ApproxFMA). The add stage lives in :mod:`exmy.hdl.fma_add`, the
normalization and rounding in :mod:`exmy.hdl.fma_norm`; this module builds the product, wires
the stages together (``fma_datapath``) and holds the two components.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat
from exmy.golden.params import (
    APPROX_FMA_ROUNDING_MODES,
    FMA_ROUNDING_MODES,
    MAX_GRANULARITY,
    Rounding,
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
from .fma_add import Addend, AddGeometry, SumRaw, add_raw
from .fma_norm import normalize_round
from .timing import DelayModel, delay_model
from .util import Pipeline, exp_range, trailing_zeros

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
    "fma_product",
    "fma_add_round",
    "fma_product_delay",
    "fma_add_round_delay",
    "FmaProduct",
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
_UNPACKED = ("sign", "sig", "exp", "is_nan", "is_inf", "is_zero")
#: the product's signal names (mul_raw's ``names``)
_PRODUCT_NAMES = {"sig": "s0_product", "exp": "s0_prod_top", "sign": "s0_prod_sign",
                  "is_zero": "s0_prod_zero"}


def _sum_specials(nan_p: Value, inf_p: Value, sign_p: Value, dc: Unpacked) -> tuple:
    """The sum's NaN, Inf and Inf sign from the product's flags and the decoded ``c``: three
    new signals and their assignments, which the caller adds where its statement order (and
    so its Verilog) wants them."""
    nan = Signal(name="s0_is_nan")
    inf = Signal(name="s0_is_inf")
    inf_sign = Signal(name="s0_inf_sign")
    return nan, inf, inf_sign, [
        nan.eq(nan_p | dc.is_nan | (inf_p & dc.is_inf & (sign_p ^ dc.sign))),
        inf.eq((inf_p | dc.is_inf) & ~nan),
        inf_sign.eq(Mux(inf_p, sign_p, dc.sign)),
    ]


def _product_top_eff(m: Module, zero: Value, top: Value, tp: tuple[int, int],
                     fc: FloatFormat) -> tuple[Signal, tuple[int, int]]:
    """The FMA's zero product: its top below every ``c`` (c is then X, at the window top).
    Returns the effective top and its range."""
    lo = min(tp[0], fc.emin - 1)
    eff = Signal(exp_range(lo, tp[1]), name="s0_prod_top_eff")
    m.d.comb += eff.eq(Mux(zero, fc.emin - 1, top))
    return eff, (lo, tp[1])


def _c_top_eff(m: Module, zero: Value, top: Value, tc: tuple[int, int], fc: FloatFormat,
               fo: FloatFormat) -> tuple[Value, tuple[int, int]]:
    """The FMA's zero ``c``: its top at emin_out where c's range is finer than the output's
    (it is X only for products below emin_out, which Y's shift aligns to the subnormal grid).
    Returns the effective top and its range."""
    if fc.emin == fo.emin:
        return top, tc
    lo = min(tc[0], fo.emin)
    eff = Signal(exp_range(lo, tc[1]), name="s0_c_top_eff")
    m.d.comb += eff.eq(Mux(zero, fo.emin, top))
    return eff, (lo, tc[1])


def _decode_delay(dm: DelayModel, f: FloatFormat) -> float:
    """``decode`` without subnormal normalization: class flags from the fields, the
    unbiased exponent (a constant subtraction) and the hidden-bit multiplexer."""
    return max(dm.adder(f.exp_bits), dm.logic(f.exp_bits + f.man_bits)) + dm.lut(1)


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
    return _round_sum(m, fo, total, granularity=granularity, rounding=rounding,
                      saturate=saturate, pipe=pipe, coarse=coarse, dm=dm)


def _round_sum(m: Module, fo: FloatFormat, total: SumRaw, *, granularity: int | None,
               rounding: str, saturate: bool, pipe: Pipeline, coarse: int,
               dm: DelayModel, rand: Value | None = None) -> Value:
    """:func:`normalize_round` of ``add_raw``'s output: the encoding in ``fo``."""
    return normalize_round(
        m, fo, mag=total.mag, sticky=total.sticky, sign=total.sign, r_w=total.r_w,
        is_nan=total.is_nan, is_inf=total.is_inf, r_range=total.r_range,
        floor_out=total.floor_out, granularity=granularity, k_cap=total.k_cap,
        flush_cap=total.flush_cap, rounding=rounding, saturate=saturate, rand=rand,
        pipe=pipe, coarse=coarse, dm=dm,
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
        tz_a = trailing_zeros(m, da.sig, "s0_a_tz")
        tz_b = trailing_zeros(m, db.sig, "s0_b_tz")
        tz_c = trailing_zeros(m, dc.sig, "s0_c_tz")
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
    pr = mul_raw(m, da, db, sig=prod, exp_shape=exp_range(tp_lo, tp_hi), names=_PRODUCT_NAMES,
                 stmts=flag_stmts)
    prod, t_prod, sign_p, zero_p = pr.sig, pr.exp, pr.sign, pr.is_zero  # t: top bit's weight
    # trailing zeros of the product (the sum of the operands': beside the multiplier, not
    # after it) and of c, for the alignment's sticky bit; a zero counts as its full width
    tz_p = Signal(range(wp + 1), name="s0_prod_tz")
    if not fine:
        tz_a = trailing_zeros(m, da.sig, "s0_a_tz")
        tz_b = trailing_zeros(m, db.sig, "s0_b_tz")
    nan, inf, inf_sign, specials = _sum_specials(pr.is_nan, pr.is_inf, sign_p, dc)
    m.d.comb += [*flag_stmts, tz_p.eq(Mux(zero_p, wp, tz_a + tz_b)), *specials]
    sig_c, t_c, sign_c, zero_c = dc.sig, dc.exp, dc.sign, dc.is_zero
    if not fine:
        tz_c = trailing_zeros(m, sig_c, "s0_c_tz")
    if not approx:
        # FMA: a zero operand's exponent plays no part in the result, so give a zero product
        # an exponent below every c (c is then X, at the window top) and a zero c emin_out
        # (it is X only for products below emin_out, which Y's shift aligns to the subnormal
        # grid): no window moves are needed (ApproxFMA's R uses the raw exponents)
        t_prod, (tp_lo, tp_hi) = _product_top_eff(m, zero_p, t_prod, (tp_lo, tp_hi), fc)
        t_c, (tc_lo, tc_hi) = _c_top_eff(m, zero_c, t_c, (tc_lo, tc_hi), fc, fo)
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
        AddGeometry(fa, fb, fc, fo, W=W, G=G, approx=approx, window=window, floor_out=floor_out,
                  tp=(tp_lo, tp_hi), tc=(tc_lo, tc_hi)),
        pipe=pipe, dm=dm)




@dataclass(frozen=True)
class FmaProduct:
    """The product stage of ``a*b + c`` alone (:func:`fma_product`), for a datapath that
    takes ``c`` later: the float-accumulator MAC, whose ``c`` is its own register. ``fields``
    (``sig``, ``top``, ``tz``, ``sign``, ``zero``, ``nan``, ``inf``: an :class:`Addend` and the
    product's special flags, as :func:`fma_sum` leaves them at its "product" cut) may be
    registered and put back with :meth:`with_fields`; ``tp`` bounds ``top``."""

    fields: dict
    formats: tuple[FloatFormat, FloatFormat, FloatFormat, FloatFormat]
    tp: tuple[int, int]

    def with_fields(self, values: dict) -> FmaProduct:
        """This product with its fields taken from ``values`` (e.g. their registers)."""
        return replace(self, fields={k: values[k] for k in self.fields})


def fma_product(m: Module, a: Value, b: Value, fa: FloatFormat, fb: FloatFormat,
                fc: FloatFormat, fo: FloatFormat) -> FmaProduct:
    """decode and mul_raw of :func:`fma_sum` (explicit latency: one ``*``) without ``c``:
    the exact product, its trailing zeros (the alignment's sticky bit) and a zero product's
    top below every ``c`` in ``fc``; ``fo``: the output the window is built for."""
    wp = fa.sig_bits + fb.sig_bits
    da = decode(m, a, fa, "a", normalize_sub=False)
    db = decode(m, b, fb, "b", normalize_sub=False)
    tp_lo, tp_hi = fa.emin + fb.emin + 1, fa.emax + fb.emax + 3
    flag_stmts = []
    pr = mul_raw(m, da, db, exp_shape=exp_range(tp_lo, tp_hi), names=_PRODUCT_NAMES,
                 stmts=flag_stmts)
    tz_a = trailing_zeros(m, da.sig, "s0_a_tz")
    tz_b = trailing_zeros(m, db.sig, "s0_b_tz")
    tz_p = Signal(range(wp + 1), name="s0_prod_tz")
    m.d.comb += [*flag_stmts, tz_p.eq(Mux(pr.is_zero, wp, tz_a + tz_b))]
    top, tp = _product_top_eff(m, pr.is_zero, pr.exp, (tp_lo, tp_hi), fc)
    fields = {"sig": pr.sig, "top": top, "tz": tz_p, "sign": pr.sign, "zero": pr.is_zero,
              "nan": pr.is_nan, "inf": pr.is_inf}
    return FmaProduct(fields, (fa, fb, fc, fo), tp)


def fma_add_round(m: Module, prod: FmaProduct, c: Value, *, rounding: str = "rne",
                  saturate: bool = False, rand: Value | None = None, pipe: Pipeline,
                  dm: DelayModel) -> Value:
    """The rest of the FMA after :func:`fma_product`: decode ``c``, add_raw, then
    normalize_round into ``fo``, as :func:`fma_datapath` builds them (exact normalization;
    ``pipe``'s cuts as there). Returns the encoding of ``prod + c`` in ``fo``. Stochastic
    rounding (``rand``, R bits; explicit latency only): the window holds R - 1 more bits, so
    the R bits below the rounding position are those of the exact sum."""
    fa, fb, fc, fo = prod.formats
    R = len(rand) if rounding == Rounding.STOCHASTIC and rand is not None else 0
    f = prod.fields
    dc = decode(m, c, fc, "c", normalize_sub=False)
    tz_c = trailing_zeros(m, dc.sig, "s0_c_tz")
    t_c, (tc_lo, tc_hi) = _c_top_eff(m, dc.is_zero, dc.exp, (fc.emin, fc.emax + 1), fc, fo)
    nan, inf, inf_sign, specials = _sum_specials(f["nan"], f["inf"], f["sign"], dc)
    m.d.comb += specials
    total = add_raw(
        m, Addend(f["sig"], f["top"], f["tz"], f["sign"], f["zero"]),
        Addend(dc.sig, t_c, tz_c, dc.sign, dc.is_zero), nan, inf, inf_sign,
        AddGeometry(fa, fb, fc, fo, W=fma_window_bits(fa, fb, fc, fo, 1, R), G=1,
                    approx=False, window=None, floor_out=fc.emin >= fo.emin, tp=prod.tp,
                    tc=(tc_lo, tc_hi)),
        pipe=pipe, dm=dm)
    return _round_sum(m, fo, total, granularity=None, rounding=rounding, saturate=saturate,
                      pipe=pipe, coarse=FMA_COARSE, dm=dm, rand=rand)


def fma_product_delay(dm: DelayModel, fa: FloatFormat, fb: FloatFormat) -> float:
    """The delay (ns) of :func:`fma_product` (decode, one ``*``, the product's top and
    trailing zeros beside it), for a plan that places a register after it."""
    pa, pb = fa.sig_bits, fb.sig_bits
    side = max(dm.adder(max(fa.exp_bits, fb.exp_bits) + 2) + dm.lut(2),
               max(dm.lzc(pa), dm.lzc(pb)) + dm.adder(ceil_log2(pa + pb + 1)) + dm.lut(1))
    return max(_decode_delay(dm, fa), _decode_delay(dm, fb)) + max(dm.multiplier(pa, pb), side)


def fma_add_round_delay(dm: DelayModel, prod: FmaProduct, rand_bits: int = 0) -> float:
    """The delay (ns) of :func:`fma_add_round` as built with an explicit latency (no cut in
    it), ``c`` through one multiplexer first: the float-accumulator MAC's loop, which no
    register can cut. Every step in series: decode c, c's top, the exponent difference, its
    magnitude and cap, the alignment shifter (the sticky compare beside it), the add and
    the magnitude, the normalizer (group count, its limit, the coarse shift, the fine count
    and shift, the exponent) and the rounder (round decision, increment, exponent,
    encoding). ``rand_bits``: stochastic rounding's R (the window's R - 1 more bits)."""
    fa, fb, fc, fo = prod.formats
    W = fma_window_bits(fa, fb, fc, fo, 1, rand_bits)
    po = fo.sig_bits
    tc = (min(fc.emin, fo.emin), fc.emax + 1)
    s_max = max(prod.tp[1] - tc[0], tc[1] - prod.tp[0], 1)
    n = s_max.bit_length() + 1  # the signed difference
    d = dm.lut(1) + _decode_delay(dm, fc) + dm.lut(1)  # clear's mux, decode, c's top
    d += dm.adder(n) + dm.chained(n) + dm.lut(1)  # t_c - t_p, its magnitude
    if s_max > W - 1:
        d += dm.chained(n) + dm.lut(1)  # the cap at W - 1
    d += max(dm.shifter(W - 1, ceil_log2(W)), dm.chained(ceil_log2(W) + 1) + dm.lut(1))
    d += dm.lut(1) + dm.adder(W + 1) + dm.chained(W + 1) + dm.lut(1)  # add, magnitude
    Gn = FMA_COARSE
    ng = -(-W // Gn)
    keep = po + 1 + max(rand_bits, 1)
    d += dm.logic(Gn) + dm.lzc(ng) + dm.chained(ceil_log2(ng + 1) + 1) + dm.lut(1)
    d += dm.shifter(ng * Gn, ceil_log2(ng + 1))  # the coarse shift by whole groups
    d += dm.lzc(Gn - 1) + dm.lut(2)  # the fine count, stopped at emin_out
    d += max(dm.shifter(keep, ceil_log2(Gn)), dm.adder((ng * Gn).bit_length() + 2) + dm.lut(1))
    ew = max(n, (abs(fo.emin) + po + 2).bit_length()) + 2
    return d + dm.lut(2) + dm.adder(po + 1) + dm.adder(ew) + dm.lut(3)


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
