"""Fused multiply-add and the approximate-normalization FMA (SPEC.md sections 3 and 3.3).

``FMA`` and ``ApproxFMA`` are one datapath (``fma_datapath``) with a granularity parameter:
FMA is granularity 1 without a window. HardFloat's decomposition: decode -> exact product ->
alignment of the smaller-exponent addend with a sticky bit -> add/subtract -> normalization
-> the shared rounder/encoder ``round_encode`` (its approximate-normalization mode for
ApproxFMA).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat
from exmy.golden.params import (
    APPROX_FMA_ROUNDING_MODES,
    FMA_ROUNDING_MODES,
    MAX_GRANULARITY,
    approx_fma_datapath_width,
    ceil_log2,
    check_approx_params,
    check_bool,
    check_fma_operand,
    check_fma_output,
    check_fma_rounding,
    fma_window_bits,
)

from .base import Unit, unit_builder
from .float import (
    decode_float,
    port_shape,
    product_inf,
    product_nan,
    round_align_max,
    round_approximate,
    round_standard,
)
from .util import Pipeline, leading_zeros

__all__ = [
    "FMA",
    "ApproxFMA",
    "FMA_ROUNDING_MODES",
    "APPROX_FMA_ROUNDING_MODES",
    "MAX_GRANULARITY",
    "FMA_CUTS",
    "fma_datapath",
    "fma_window_bits",
]

#: pipeline cut points in datapath order (``latency`` registers go to evenly spaced cuts)
FMA_CUTS = ("product", "sum", "norm", "round")
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
) -> Signal:
    """Build ``y = a*b + c`` into ``m`` and return the encoding of y in ``fo``.

    ``granularity=None``: exact normalization (full leading-zero count and shift) and the
    default rounder contract (the FMA). ``granularity=G`` (with ``window`` K or None):
    SPEC 3.3's coarse normalization and the rounder's approximate mode (ApproxFMA). Pipeline
    cut points (``pipe``): ``FMA_CUTS``. ``coarse``: the FMA normalizer's group size
    (``FMA_COARSE``; 1 gives a one-level full-width shift, for comparisons).
    """
    approx = granularity is not None
    G = granularity if approx else 1
    if pipe is None:
        pipe = Pipeline(m, 0, list(FMA_CUTS))
    pa, pb, pc = fa.sig_bits, fb.sig_bits, fc.sig_bits
    wp = pa + pb
    W = fma_window_bits(fa, fb, fc, fo, G)
    lg = ceil_log2(G)
    # c's exponent range not finer than the output's (the usual case): every non-zero X has
    # its top at or above emin_out, so a zero X's window can stay at or above emin_out + 1 and
    # the normalization can stop near emin_out (HardFloat's way): the rounder needs no
    # alignment shifter (FMA) or one of at most G - 1 places (ApproxFMA).
    floor_out = fc.emin >= fo.emin

    # -- decode (raw: subnormals keep their leading zeros, zeros keep exponent emin) ----------
    da = decode_float(m, a, fa, "a", normalize_sub=False)
    db = decode_float(m, b, fb, "b", normalize_sub=False)
    dc = decode_float(m, c, fc, "c", normalize_sub=False)

    # -- exact product: one `*` (a DSP when allowed) ----------------------------------------
    prod = Signal(wp, name="s0_product")
    m.d.comb += prod.eq(da.sig * db.sig)
    tp_lo, tp_hi = fa.emin + fb.emin + 1, fa.emax + fb.emax + 3
    tc_lo, tc_hi = fc.emin, fc.emax + 1
    t_prod = Signal(_range(tp_lo, tp_hi), name="s0_prod_top")  # weight of the product's top bit
    m.d.comb += t_prod.eq(da.exp + db.exp + 1)
    # trailing zeros of the product (the sum of the operands': beside the multiplier, not
    # after it) and of c, for the alignment's sticky bit; a zero counts as its full width
    tz_p = Signal(range(wp + 1), name="s0_prod_tz")
    tz_a = _trailing_zeros(m, da.sig, "s0_a_tz")
    tz_b = _trailing_zeros(m, db.sig, "s0_b_tz")
    sign_p = Signal(name="s0_prod_sign")
    zero_p = Signal(name="s0_prod_zero")
    nan = Signal(name="s0_is_nan")
    inf = Signal(name="s0_is_inf")
    inf_sign = Signal(name="s0_inf_sign")
    nan_p = product_nan(da, db)
    inf_p = product_inf(da, db, nan_p)
    m.d.comb += [
        sign_p.eq(da.sign ^ db.sign),
        zero_p.eq(da.is_zero | db.is_zero),
        tz_p.eq(Mux(zero_p, wp, tz_a + tz_b)),
        nan.eq(nan_p | dc.is_nan | (inf_p & dc.is_inf & (sign_p ^ dc.sign))),
        inf.eq((inf_p | dc.is_inf) & ~nan),
        inf_sign.eq(Mux(inf_p, sign_p, dc.sign)),
    ]
    sig_c, t_c, sign_c, zero_c = dc.sig, dc.exp, dc.sign, dc.is_zero
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
    (prod, t_prod, tz_p, sign_p, zero_p, sig_c, t_c, tz_c, sign_c, zero_c, nan, inf,
     inf_sign) = pipe.stage(
        "product", prod, t_prod, tz_p, sign_p, zero_p, sig_c, t_c, tz_c, sign_c, zero_c, nan,
        inf, inf_sign,
    )

    # -- alignment: X (larger exponent top) on top of the window, Y shifted right -----------
    s_max = max(tp_hi - tc_lo, tc_hi - tp_lo, 1)
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
    m.d.comb += mag.eq(((total ^ Mux(neg, (1 << (W + 1)) - 1, 0)) + neg)[:W])
    sign_x = Mux(swap, sign_c, sign_p)
    exact_zero = (mag == 0) & ~sticky
    sign = Signal(name="s1_sign")
    m.d.comb += sign.eq(
        Mux(inf, inf_sign, Mux(exact_zero, sign_p & sign_c, sign_x ^ neg))
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
    vals = [mag, sticky, sign, r_w, nan, inf]
    if k_cap is not None:
        vals += [k_cap, flush_cap]
    vals = pipe.stage("sum", *vals)
    mag, sticky, sign, r_w, nan, inf = vals[:6]
    if k_cap is not None:
        k_cap, flush_cap = vals[6:8]
    return normalize_round(
        m, fo, mag=mag, sticky=sticky, sign=sign, r_w=r_w, is_nan=nan, is_inf=inf,
        r_range=(r_lo, r_hi), floor_out=floor_out, granularity=granularity, k_cap=k_cap,
        flush_cap=flush_cap, rounding=rounding, saturate=saturate, pipe=pipe, coarse=coarse,
    )


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
) -> Signal:
    """The FMA datapath's back end (cut points ``norm``, ``round``): normalise the adder's
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
    k_eff = k
    if k_cap is not None:
        k_eff = Signal(range(ng + 1), name="s2_group_count")
        m.d.comb += k_eff.eq(Mux(k > k_cap, k_cap, k))
    k_hw = k_eff
    flush_index = None
    if floor_out:
        # stop where the top weight reaches emin_out (r_w >= emin_out + 1): FMA: exactly (the
        # rounder's one-bit step then leaves a subnormal on its grid); approx: in whole
        # groups, in [emin_out, emin_out + G - 1] (the rounder aligns by at most G - 1)
        room = Signal(_range(0, r_hi - fo.emin), name="s2_shift_room")
        m.d.comb += room.eq(r_w - fo.emin)
        limit = room >> lgn
        k_hw = Signal(range(ng + 1), name="s2_group_shift")
        m.d.comb += k_hw.eq(Mux(k_eff > limit, limit, k_eff))
        if k_cap is not None:
            # SPEC 3.3 step 5's threshold 2**(P - G + 1) with SPEC's P = r_w - G k_eff, as a
            # bit index of the rounded value (quantum 2**max(P - p - G + 2, emin - M))
            flush_index = Signal(range(max(po, 2)), name="s2_flush_index")
            rel = Signal(signed(len(r_w) + len(k_eff) + lg + 4), name="s2_flush_rel")
            m.d.comb += rel.eq(r_w - (k_eff << lg) - (fo.emin + G - po))
            m.d.comb += flush_index.eq(Mux(rel < 0, 0, Mux(rel > po - 1, po - 1, rel)))
    sh = Signal(range(Wn + 1), name="s2_shift")
    coarse = Signal(Wn, name="s2_coarse")
    m.d.comb += coarse.eq(mag << (k_hw << lgn))
    if approx or Gn == 1:
        m.d.comb += sh.eq(k_hw << lgn)
        sig_r = Signal(keep, name="s2_sig")
        m.d.comb += sig_r.eq(coarse[Wn - keep :])
    else:
        # fine: the leading one is in the top Gn bits; move it to the top two
        top = coarse[Wn - keep - Gn + 1 :]
        f = leading_zeros(m, top[-(Gn - 1) :], "s2_fine_lz")
        if floor_out:
            rest = room[:lgn]  # allowance left when the coarse shift stopped at the limit
            f_eff = Signal(range(Gn), name="s2_fine_shift")
            m.d.comb += f_eff.eq(Mux((k_eff >= limit) & (f > rest), rest, f))
            f = f_eff
        m.d.comb += sh.eq((k_hw << lgn) + f)
        sig_r = Signal(keep, name="s2_sig")
        m.d.comb += sig_r.eq((top << f)[Gn - 1 :])
    top_lo = r_lo - Wn
    p_exp = Signal(_range(top_lo, r_hi), name="s2_exp")  # weight of the shifted top bit
    m.d.comb += p_exp.eq(r_w - sh)
    # the bits below the `keep` kept ones are non-zero iff the sum's lowest one lies below
    # bit Wn - keep - sh (so the wide shifter's low outputs are never built)
    tz = _trailing_zeros(m, mag, "s2_tz")
    st_r = Signal(name="s2_sticky")
    m.d.comb += st_r.eq((tz + sh < Wn - keep) | sticky)
    vals = [sig_r, st_r, p_exp, sign, nan, inf, flush_cap]
    if flush_index is not None:
        vals.append(flush_index)
    vals = pipe.stage("norm", *vals)
    sig_r, st_r, p_exp, sign, nan, inf, flush_cap = vals[:7]
    if flush_index is not None:
        flush_index = vals[7]

    # -- round and encode (the shared rounder) ----------------------------------------------
    raw = dict(sign=sign, sig=sig_r, exp=p_exp, is_nan=nan, is_inf=inf, sticky=st_r,
               rounding=rounding, saturate=saturate, pipe=pipe, name="rnd")
    if approx:
        return round_approximate(
            m, fo, granularity=granularity, capped=k_cap is not None, flush=flush_cap,
            flush_index=flush_index, align_max=G - 1 if floor_out else None, **raw)
    if floor_out:
        return round_align_max(m, fo, align_max=0, **raw)
    return round_standard(m, fo, **raw)


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
               target=None, fmax=None):
        self.fmt_a = check_fma_operand(fmt_a, "a")
        self.fmt_b = check_fma_operand(fmt_b, "b")
        self.fmt_c = check_fma_operand(fmt_c, "c")
        self.fmt_out = self.fmt_c if fmt_out is None else check_fma_output(fmt_out)
        self.saturate = check_bool(saturate, "saturate")
        self.latency = self.set_timing(latency, target, fmax)
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
            saturate=self.saturate, pipe=pipe, coarse=self.coarse,
        )
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
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
        fmax: float | None = None,
    ):
        self.rounding = check_fma_rounding(rounding, FMA_ROUNDING_MODES, "FMA")
        self._setup(fmt_a, fmt_b, fmt_c, fmt_out, rounding, saturate, latency, {},
                    target, fmax)


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
        target: str | None = None, fmax: float | None = None,
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
                    {"granularity": granularity, "window": window}, target, fmax)


# -- registry ------------------------------------------------------------------------------
_FMA_OPTS = ("a", "b", "c", "out", "rounding", "saturate", "latency", "target", "fmax")


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
                target=None, fmax=None):
    a, b, c, out = _formats("fma", a, b, c, out)
    return FMA(a, b, c, out, rounding=rounding, saturate=saturate, latency=latency,
               target=target, fmax=fmax)


@unit_builder("approx-fma", _FMA_OPTS + ("granularity", "window"),
          "y ~ a*b + c with approximate normalization (SPEC 3.3; --granularity, --window)")
def approx_fma_builder(a=None, b=None, c=None, out=None, rounding="rne", saturate=False,
                       latency=None, granularity=None, window=None, target=None, fmax=None):
    a, b, c, out = _formats("approx-fma", a, b, c, out)
    if granularity is None:
        raise ValueError("Unit 'approx-fma' needs a granularity (--granularity G)")
    return ApproxFMA(a, b, c, out, granularity=granularity, window=window, rounding=rounding,
                     saturate=saturate, latency=latency, target=target, fmax=fmax)
