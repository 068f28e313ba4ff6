"""The rounder: a raw value to an encoding, in three contracts, then :func:`encode`.

Golden twin: ``exmy.golden.core.encode`` (its ``round``, then the packing into fields), which
this module mirrors line for line, so rounding, overflow, subnormal and special-value rules
are written once. (This module's ``round`` is the stage: the builtin is not used here.)

The raw-value contract handed to the rounder::

    value = (-1)**sign * (sig + delta) * 2**(exp - (W-1)),   W = len(sig)

``exp`` is the weight of sig's top bit; the leading one sits at bit W-1 or W-2 (or sig is 0);
``sticky`` says 0 < delta < 1 (bits dropped below sig). ``is_nan``/``is_inf`` override.

The contracts: :func:`round_standard` (that value), :func:`round_align_max` (HardFloat's
shortcut near emin) and :func:`round_approximate` (SPEC 3.3, the approximate-normalization
FMA): same value contract, but ``exp`` is P, the coarse leading position of a sum normalised
in steps of G, and the leading one sits anywhere in sig's top G bits (lower, or nowhere, only
when a window capped the normalization). The rounder rounds at the fixed position
``2**max(P - p - G + 2, emin - M)`` (p + G - 1 bits kept), flushes a result below
``2**(P - G + 1)`` to a signed zero, and finishes with a (G+1)-way fine shift that truncates
the rounded value to p bits. G = 1 (leading one at W-1, no window) rounds exactly as the
default contract does. :func:`round` takes the typed :class:`exmy.hdl.float.RawLayout`;
:class:`Rounder` is that stage as a component; :func:`round_to_int` rounds to an integer
format (the converter).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat, IntFormat
from exmy.golden.params import (
    APPROX_FMA_ROUNDING_MODES,
    INT_ROUNDING_MODES,
    ROUNDING_MODES,
    Rounding,
    Special,
    check_rounding_options,
)

from .arith import chunked_add, cut, staged_shift_left, staged_shift_right
from .float import RawLayout
from .timing import delay_model
from .util import Pipeline, check_latency, fine_mode, leading_zeros

__all__ = [
    "encode",
    "encode_fields",
    "flush_inputs",
    "round_align_max",
    "round_approximate",
    "round",
    "round_encode",
    "round_standard",
    "round_to_int",
    "Rounder",
]


#: round_encode's arguments that select the align_max or approximate contract
_CONTRACT_ARGS = ("align_max", "granularity", "capped", "flush", "flush_index")


def round_standard(m: Module, fmt: FloatFormat, **raw) -> Signal:
    """Rounder contract 1, **standard** (golden twin: ``exmy.golden.encode`` of the same
    value). Arguments (keywords): ``sign``, ``sig``, ``exp``, ``is_nan``, ``is_inf``,
    optional ``sticky``, ``rand``, ``rounding``, ``saturate``, ``exact``, ``pipe``, ``name``.

    Value: ``(-1)**sign * (sig + delta) * 2**(exp - (W-1))`` with the leading one at bit W-1
    or W-2 (or sig = 0), ``sticky`` iff 0 < delta < 1, ``is_nan`` / ``is_inf`` overriding.
    One rounding per ``rounding`` (stochastic reads ``rand``), then :func:`encode`.
    ``exact=True`` (the value is known to be representable) drops the increment logic.
    ``pipe``'s cut ``"round"`` registers after the subnormal alignment."""
    other = [k for k in _CONTRACT_ARGS if k in raw]
    if other:
        raise TypeError(f"round_standard takes no {', '.join(other)}; use round_align_max or "
                        f"round_approximate")
    return round_encode(m, fmt, **raw)


def round_align_max(m: Module, fmt: FloatFormat, *, align_max: int, **raw) -> Signal:
    """Rounder contract 2, **align_max** (HardFloat's shortcut; golden twin: ``encode``): the
    arguments of :func:`round_standard` (``rand`` and ``exact`` excepted), and the caller
    stopped its normalization near emin, guaranteeing ``exp >= emin - align_max``: a value
    with ``exp <= emin`` is not pre-normalised (a subnormal on its grid, leading one
    anywhere), the alignment shifter is built for at most ``align_max`` places (none for 0)."""
    return round_encode(m, fmt, align_max=align_max, **raw)


def round_approximate(m: Module, fmt: FloatFormat, *, granularity: int, capped: bool = True,
                      flush: Value | None = None, flush_index: Value | None = None,
                      align_max: int | None = None, **raw) -> Signal:
    """Rounder contract 3, **approximate** normalization (SPEC 3.3 steps 4-6; golden twin:
    ``exmy.golden.approx_fma``'s ``round_at`` at the coarse position, then ``encode``), with
    the arguments of :func:`round_standard` (``rand`` and ``exact`` excepted): ``exp`` is P,
    the coarse leading position; the leading one sits in sig's top G bits (or lower only when
    a window ``capped`` the shift); rounds at the fixed position p + G - 1 bits below the top,
    flushes results below ``2**(P - G + 1)`` (``flush`` forces it, ``flush_index`` gives the
    threshold as a bit index), then truncates to p bits. Rounding rne or rtz
    (``APPROX_FMA_ROUNDING_MODES``)."""
    return round_encode(m, fmt, granularity=granularity, capped=capped, flush=flush,
                        flush_index=flush_index, align_max=align_max, **raw)


def flush_inputs(m: Module, p: int, d: Value, *, flush_index, capped: bool, flush,
                 name: str) -> tuple[Signal, Signal]:
    """The approximate contract's flush inputs (SPEC 3.3 step 5): the threshold as a bit
    index of the rounded value (``flush_index``, else ``p - 1 - d`` for a ``capped`` window
    after an alignment shift by ``d``, else 0) and the forced ``flush``. Returns
    ``(threshold, flush)`` signals."""
    thr = Signal(range(max(p, 2)), name=f"{name}_flush_index")
    if flush_index is not None:
        m.d.comb += thr.eq(flush_index)
    elif capped and p > 1:
        m.d.comb += thr.eq(Mux(d >= p - 1, 0, (p - 1 - d)[: len(thr)]))
    else:
        m.d.comb += thr.eq(0)
    fl = Signal(name=f"{name}_flush_in")
    m.d.comb += fl.eq(Const(0, 1) if flush is None else Value.cast(flush))
    return thr, fl


def _increment(m: Module, s3: Value, st3: Value, rand, *, Wx: int, pk: int, p: int, R: int,
               rounding: str, exact: bool, name: str) -> tuple[Value, Signal]:
    """The rounding decision on the aligned significand ``s3``: its top ``pk`` bits (kept),
    and the increment by mode from the round bit below them, the bits below that and the
    sticky bit ``st3`` (stochastic: the ``R`` bits below the ``p``-bit quantum plus ``rand``
    carry into it). ``s3`` is ``Wx`` bits wide. Returns ``(kept, inc)``."""
    kept = s3[Wx - pk : Wx]
    rbit = s3[Wx - pk - 1]
    rest = Signal(name=f"{name}_rest")
    m.d.comb += rest.eq((s3[: Wx - pk - 1] != 0) | st3)
    inc = Signal(name=f"{name}_inc")
    if exact or rounding == Rounding.RTZ:
        m.d.comb += inc.eq(0)
    elif rounding == Rounding.RNE:
        m.d.comb += inc.eq(rbit & (rest | kept[0]))
    elif rounding == Rounding.RNA:
        m.d.comb += inc.eq(rbit)
    elif rounding == Rounding.STOCHASTIC:
        dR = s3[Wx - p - R : Wx - p]
        m.d.comb += inc.eq((Value.cast(rand)[:R] + dR)[R])
    else:
        raise ValueError(f"Rounding mode must be one of {', '.join(ROUNDING_MODES)}, "
                         f"not {str(rounding)!r}")
    return kept, inc


def round_encode(
    m: Module,
    fmt: FloatFormat,
    *,
    sign: Value,
    sig: Value,
    exp: Value,
    is_nan: Value,
    is_inf: Value,
    sticky: Value | None = None,
    rand: Value | None = None,
    rounding: str = Rounding.RNE,
    saturate: bool = False,
    exact: bool = False,
    pipe: Pipeline | None = None,
    name: str = "rnd",
    granularity: int | None = None,
    capped: bool = True,
    flush: Value | None = None,
    flush_index: Value | None = None,
    align_max: int | None = None,
    dm=None,
    delay_in: float = 0.0,
    add_chunk: int | None = None,
) -> Signal:
    """The shared rounder behind the three contracts (:func:`round_standard`,
    :func:`round_align_max`, :func:`round_approximate`; new callers use those): raw value
    (module docstring contract) -> encoding in ``fmt``.

    Rounds as if the exponent range were unbounded above, on the subnormal grid below (also
    with subnormals off, then flushes), overflow per SPEC 2 with IEEE's rtz rule (rtz never
    overflows to Inf), canonical NaN, fnuz/unsigned zero and negative rules, e8m0-style
    formats without zero. ``exact=True`` drops the increment logic for datapaths whose result
    is known to be representable (the exact multiplier). If ``pipe`` has a cut named
    ``"round"`` a register stage is placed after the subnormal alignment shift.

    ``granularity=G`` selects the approximate-normalization contract (module docstring,
    SPEC 3.3 steps 4-6): no pre-normalization, p + G - 1 bits kept (the alignment to the
    subnormal grid keeps the rounding quantum at or above ``emin - M``), the rounded value
    ``n`` (p + G bits) is flushed to a signed zero when it is below ``2**(P - G + 1)``, else
    a (G+1)-way fine shift puts its leading one on top and truncates it to p bits (never
    finer than the subnormal quantum: the subnormal case is the largest shift). A flushed
    result counts as an exact zero for the zero rules (SPEC 3.3 step 5: unsigned formats give
    +0, formats without zero NaN). ``capped=False`` says no window capped the normalization
    (the leading one is in the top G bits), so only ``n = 0`` can flush; ``flush`` forces the
    flush (a window so small that the result lies wholly below the rounding position);
    ``flush_index`` gives the threshold as a bit index of n (for callers whose ``exp`` is not
    SPEC's P, see ``align_max``).

    ``align_max=k`` is HardFloat's shortcut for datapaths that stop their normalization shift
    near emin: the caller guarantees ``exp >= e_align - k`` (``e_align`` = emin, or emin + G - 1
    with ``granularity``), so the alignment shifter is built for at most k places (none for
    0). In the default contract a value with ``exp <= emin`` is then not pre-normalised (its
    leading one may sit anywhere: a subnormal on its grid); with ``granularity`` the
    caller's ``exp`` may lie above SPEC's P (a coarse shift stopped early), so a capped caller
    passes ``flush_index``.

    Frequency-directed pipelining (``pipe`` in fmax mode, SPEC 6): the standard and align_max
    contracts are built with fine cut points (:func:`_round_fine`): ``rnd_norm`` (one-bit
    normalisation, sticky of the bits that can never be kept), ``rnd_dist`` (distance to the
    subnormal grid), ``shift_level`` (one per alignment shifter level), ``round`` (aligned),
    ``rnd_inc`` (the increment decision), ``add_chunk`` (the increment's adder in chunks of
    ``add_chunk`` bits, if given), ``rnd_add`` (rounded), ``encode`` (:func:`encode`)
    and ``rnd_out`` (the encoding, so the caller's logic after the rounder starts from 0 ns).
    ``dm`` is the delay model the cuts are annotated with (default ecp5's), ``delay_in`` the
    delay (ns) of the caller's logic since its last cut. With an explicit latency the rounder
    is built as before (same Verilog).
    """
    dm = dm or delay_model("ecp5")
    if fine_mode(pipe) and granularity is None:
        return _round_fine(
            m, fmt, pipe, dm, sign=sign, sig=sig, exp=exp, is_nan=is_nan, is_inf=is_inf,
            sticky=sticky, rand=rand, rounding=rounding, saturate=saturate, exact=exact,
            name=name, align_max=align_max, delay_in=delay_in, add_chunk=add_chunk)
    M = fmt.man_bits
    p = M + 1
    approx = granularity is not None
    if approx:
        if not isinstance(granularity, int) or granularity < 1 or granularity & (granularity - 1):
            raise ValueError(f"Granularity must be a power of two >= 1, not {granularity!r}")
        if rounding not in APPROX_FMA_ROUNDING_MODES or exact:
            raise ValueError(
                f"The approximate-normalization rounder supports rounding modes "
                f"{', '.join(APPROX_FMA_ROUNDING_MODES)}, not {str(rounding)!r}"
                f"{' (exact)' if exact else ''}"
            )

    G = granularity if approx else 1
    pk = p + G - 1  # bits kept by the rounding step
    # exponent (weight of the top kept bit) below which the rounding quantum would drop
    # under emin - M: there the value is aligned to the subnormal grid first
    e_align = fmt.emin + G - 1 if approx else fmt.emin
    sig = Value.cast(sig)
    W = max(len(sig), 2)
    if len(sig) < 2:
        sig = Cat(Const(0, 2 - len(sig)), sig)
    sticky = Const(0, 1) if sticky is None else Value.cast(sticky)
    R = len(rand) if (rounding == Rounding.STOCHASTIC and rand is not None) else 0
    ew = max(len(exp), (abs(fmt.emin) + p + 2).bit_length(), (abs(fmt.emax) + 2).bit_length())
    ew += 2
    if approx:
        ew = max(ew, (abs(fmt.emin) + pk + 2).bit_length() + 2)

    zero_in = Signal(name=f"{name}_zero_in")
    m.d.comb += zero_in.eq((sig == 0) & ~sticky)
    s1 = Signal(W, name=f"{name}_s1_sig")
    e1 = Signal(signed(ew), name=f"{name}_s1_exp")
    if approx:
        # -- approximate normalization: the caller's coarse shift is all there is -----------
        m.d.comb += [s1.eq(sig), e1.eq(exp)]
    elif align_max is not None:
        # -- one more bit of normalization unless at or below emin (then a subnormal) ------
        shl = Signal(name=f"{name}_s1_shift")
        m.d.comb += shl.eq(~sig[W - 1] & (Value.cast(exp) > fmt.emin))
        m.d.comb += [s1.eq(Mux(shl, (sig << 1)[:W], sig)), e1.eq(exp - shl)]
    else:
        # -- normalise by at most one bit (contract: leading one at W-1 or W-2) -----------
        top = sig[W - 1]
        m.d.comb += [s1.eq(Mux(top, sig, (sig << 1)[:W])), e1.eq(Mux(top, exp, exp - 1))]

    # -- align to the subnormal grid: right shift by e_align - e, sticky collects ---------
    Wx = max(W, pk + 2) + R + 1
    s2 = Cat(Const(0, Wx - W), s1)
    dmax = pk + 1 + R + 1  # shifting further only moves bits into sticky
    if align_max is not None:
        dmax = min(dmax, align_max)
    d = Signal(range(dmax + 1), name=f"{name}_sub_shift") if dmax else Const(0, 1)
    below = Signal(name=f"{name}_below_emin")
    m.d.comb += below.eq(Const(0, 1) if dmax == 0 else e1 < e_align)
    diff = Signal(signed(ew + 1), name=f"{name}_sub_diff")
    m.d.comb += diff.eq(e_align - e1)
    if align_max is None:
        m.d.comb += d.eq(Mux(below, Mux(diff > dmax, dmax, diff[: len(d)]), 0))
    elif dmax:  # the caller guarantees diff <= dmax
        m.d.comb += d.eq(Mux(below, diff[: len(d)], 0))
    s3 = Signal(Wx, name=f"{name}_aligned")
    lost = Signal(name=f"{name}_lost")
    m.d.comb += [
        s3.eq(s2 >> d),
        lost.eq((s2 & ((Const(1, Wx + 1) << d) - 1)[:Wx]) != 0),
    ]
    e3 = Signal(signed(ew), name=f"{name}_aligned_exp")
    m.d.comb += e3.eq(Mux(below, e_align, e1))
    st3 = Signal(name=f"{name}_sticky")
    m.d.comb += st3.eq(sticky | lost)

    extra: list[Value] = []
    if approx:
        # SPEC 3.3 step 5 threshold 2**(P - G + 1) as a bit index of the rounded value n:
        # p - 1 before the alignment shift, d places lower after it (0: only n = 0 flushes)
        extra = list(flush_inputs(m, p, d, flush_index=flush_index, capped=capped,
                                  flush=flush, name=name))

    if pipe is not None and "round" in pipe.cuts:
        names = ("s3", "e3", "st3", "zero_in", "sign", "is_nan", "is_inf")
        v = cut(pipe, "round", delay_in + dm.adder(ew) + dm.lut(2) + dm.shifter(Wx, len(d)), {
            **dict(zip(names, (s3, e3, st3, zero_in, sign, is_nan, is_inf), strict=True)),
            **{f"extra{i}": x for i, x in enumerate(extra)}, "rand": rand if R else None})
        s3, e3, st3, zero_in, sign, is_nan, is_inf = (v[k] for k in names)
        extra = [v[f"extra{i}"] for i in range(len(extra))]
        if R:
            rand = v["rand"]

    # -- round: keep pk bits, increment by mode -------------------------------------------
    kept, inc = _increment(m, s3, st3, rand, Wx=Wx, pk=pk, p=p, R=R, rounding=rounding,
                           exact=exact, name=name)
    r = Signal(pk + 1, name=f"{name}_rounded")
    m.d.comb += r.eq(kept + inc)
    normal = Signal(name=f"{name}_normal")
    man = Signal(max(M, 1), name=f"{name}_man")
    e4 = Signal(signed(ew + 1), name=f"{name}_rounded_exp")
    if approx:
        # -- SPEC 3.3 step 5: below 2**(P - G + 1) -> signed zero -------------------------
        thr, fl = extra
        flushed = Signal(name=f"{name}_flush")
        m.d.comb += flushed.eq(fl | ((r >> thr) == 0))
        # -- step 6: fine shift by f in 0..G (leading one of n's top G bits; G: none, the
        # subnormal case), truncating the G - f bits below the p kept -------------------
        f = leading_zeros(m, r[p : pk + 1], f"{name}_fine_shift")
        rr = Signal(p, name=f"{name}_truncated")
        m.d.comb += rr.eq((r << f)[G : G + p])
        m.d.comb += [
            normal.eq(rr[p - 1] & ~flushed),
            man.eq(Mux(flushed, 0, rr[:M]) if M else 0),
            e4.eq(e3 + 1 - f),
        ]
        zero_in = zero_in | flushed
    else:
        carry = r[p]
        m.d.comb += normal.eq(r[p - 1] | carry)
        m.d.comb += man.eq(r[:M] if M else 0)
        m.d.comb += e4.eq(e3 + carry)

    # -- encode: fields, overflow, specials, signs -----------------------------------------
    y = encode(
        m, fmt, sign=sign, normal=normal, man=man, exp=e4, zero=zero_in, is_nan=is_nan,
        is_inf=is_inf, rounding=rounding, saturate=saturate, name=name,
    )
    if fine_mode(pipe):  # (the approximate contract: one coarse cut, then to the encoding)
        tail = dm.logic(len(sig)) + dm.adder(pk + 1) + dm.lzc(G + 1) + dm.shifter(p, 2)
        y = cut(pipe, "rnd_out", tail + dm.adder(ew) + dm.lut(3), {"y": y})["y"]
    return y


def _round_fine(m, fmt, pipe, dm, *, sign, sig, exp, is_nan, is_inf, sticky, rand, rounding,
                saturate, exact, name, align_max, delay_in, add_chunk):
    """:func:`round_encode`'s standard and align_max contracts with fine cut points (fmax
    mode): the same function, built for a short clock period. Bits of the normalised
    significand below the kept bits, the round bit and the stochastic bits only ever reach
    the sticky bit, so they are ORed into it before the alignment shifter, which then is
    only p + 1 (+ rand bits) wide."""
    M = fmt.man_bits
    p = pk = M + 1
    e_align = fmt.emin
    sig = Value.cast(sig)
    W = max(len(sig), 2)
    if len(sig) < 2:
        sig = Cat(Const(0, 2 - len(sig)), sig)
    W_in = W
    sticky = Const(0, 1) if sticky is None else Value.cast(sticky)
    stoch = rounding == Rounding.STOCHASTIC
    R = len(rand) if (stoch and rand is not None) else 0
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"Rounding mode must be one of {', '.join(ROUNDING_MODES)}, "
                         f"not {str(rounding)!r}")
    ew = max(len(exp), (abs(fmt.emin) + p + 2).bit_length(), (abs(fmt.emax) + 2).bit_length())
    ew += 2
    exp = Value.cast(exp)
    # -- one-bit normalisation; the bits that can only reach sticky; exponent tests -------
    T = pk + max(R, 1)  # bits of s1 that can reach kept, round or stochastic positions
    Wx = max(min(W, T), pk + 2) + R + 1
    dmax = pk + 1 + R + 1  # shifting further only moves bits into sticky
    if align_max is not None:
        dmax = min(dmax, align_max)
    s1 = Signal(W, name=f"{name}_s1_sig")
    e1 = Signal(signed(ew), name=f"{name}_s1_exp")
    d1 = dm.adder(ew) + dm.lut(1)  # the exponent tests: carry chains, then the route out
    if align_max is not None:
        shl = Signal(name=f"{name}_s1_shift")
        m.d.comb += shl.eq(~sig[W - 1] & (exp > fmt.emin))
        d1 += dm.adder(ew)
    else:
        shl = ~sig[W - 1]
    # (exp - 1 from the register, then the multiplexer: no carry chain behind shl's LUT)
    exp_m1 = Signal(signed(ew), name=f"{name}_s1_exp_m1")
    m.d.comb += [s1.eq(Mux(shl, (sig << 1)[:W], sig)), exp_m1.eq(exp - 1),
                 e1.eq(Mux(shl, exp_m1, exp))]
    # below the subnormal grid / beyond the shifter, for either value of shl
    flags = {}
    for lim, tag in [(e_align, "b"), (e_align - dmax, "c")]:
        if dmax == 0:
            break
        for j in (0, 1):
            f = Signal(name=f"{name}_exp_{tag}{j}")
            m.d.comb += f.eq(exp < lim + j)
            flags[f"{tag}{j}"] = f
    # the low bits of the distance e_align - e1 for either value of shl (no adder after e1)
    if dmax:
        nd = max(dmax, 1).bit_length()
        for j in (0, 1):
            f = Signal(nd, name=f"{name}_sub_diff{j}")
            m.d.comb += f.eq((e_align + j - exp)[:nd])
            flags[f"diff{j}"] = f
    # wide ORs in groups of k*k bits (two LUT levels), finished after the cut
    g = dm.k * dm.k
    top = sig[max(W - T - 1, 0):]
    low = sig[: max(W - T - 1, 0)]
    def groups(v, tag):
        out = {}
        for n, lo in enumerate(range(0, len(v), g)):
            o = Signal(name=f"{name}_{tag}{n}")
            m.d.comb += o.eq(v[lo : lo + g] != 0)
            out[f"{tag}{n}"] = o
        return out
    zparts, lparts = groups(top, "or_top"), groups(low, "or_low")
    if W > T:
        s1 = s1[W - T:]
        W = T
    d1 = max(d1, dm.logic(min(len(sig), g)), dm.lut(1))
    v = cut(pipe, "rnd_norm", delay_in + d1, {
        "s1": s1, "e1": e1, "shl": shl, "sticky": sticky, "sig_b": sig[W_in - T - 1]
        if W_in > T else None, **flags, **zparts, **lparts, "sign": sign, "is_nan": is_nan,
        "is_inf": is_inf, "rand": rand if R else None})
    # -- zero, sticky, distance to the subnormal grid -----------------------------------
    lo_or = Const(0, 1)
    for k in lparts:
        lo_or = lo_or | v.pop(k)
    hi_or = Const(0, 1)
    for k in zparts:
        hi_or = hi_or | v.pop(k)
    zero_in = Signal(name=f"{name}_zero_in")
    m.d.comb += zero_in.eq(~(lo_or | hi_or) & ~v["sticky"])
    st = Signal(name=f"{name}_sticky_in")
    sig_b = v.pop("sig_b")
    if sig_b is not None:
        m.d.comb += st.eq(v.pop("sticky") | lo_or | (~v["shl"] & sig_b))
    else:
        m.d.comb += st.eq(v.pop("sticky"))
    shl = v.pop("shl")
    e1 = v.pop("e1")
    d2 = dm.logic(len(lparts) + len(zparts) + 3)
    if dmax:
        below = Signal(name=f"{name}_below_emin")
        clamp = Signal(name=f"{name}_beyond_shifter")
        m.d.comb += [below.eq(Mux(shl, v.pop("b1"), v.pop("b0"))),
                     clamp.eq(Mux(shl, v.pop("c1"), v.pop("c0")))]
        d = Signal(range(dmax + 1), name=f"{name}_sub_shift")
        diff = Signal(len(d), name=f"{name}_sub_diff")
        m.d.comb += diff.eq(Mux(shl, v.pop("diff1"), v.pop("diff0")))
        if align_max is None:
            m.d.comb += d.eq(Mux(below, Mux(clamp, dmax, diff), 0))
        else:
            m.d.comb += d.eq(Mux(below, diff, 0))
        e3 = Signal(signed(ew), name=f"{name}_aligned_exp")
        m.d.comb += e3.eq(Mux(below, e_align, e1))
        d2 = max(d2, dm.lut(2))
        v = cut(pipe, "rnd_dist", d2, {"s1": v.pop("s1"), "d": d, "e3": e3, "st": st,
                                         "zero_in": zero_in, **v})
        s2 = Cat(Const(0, Wx - W), v.pop("s1"))
        d = v.pop("d")
        built, lost = staged_shift_right(m, s2, d, pipe=pipe, dm=dm, carry=v,
                                         name=f"{name}_align")
        v, s3, delay = built.carry, built.value, max(built.delay, dm.lut(1))
        st3 = Signal(name=f"{name}_sticky")
        m.d.comb += st3.eq(v.pop("st") | lost)
        e3 = v.pop("e3")
    else:
        s3 = Cat(Const(0, Wx - W), v.pop("s1"))
        e3, st3 = e1, st
        v["zero_in"] = zero_in
        delay = d2
    v = cut(pipe, "round", delay, {"s3": s3, "e3": e3, "st3": st3, **v})
    s3, e3, st3 = v.pop("s3"), v.pop("e3"), v.pop("st3")
    # -- the increment decision -----------------------------------------------------------
    kept, inc = _increment(m, s3, st3, v["rand"], Wx=Wx, pk=pk, p=p, R=R,
                           rounding=rounding, exact=exact, name=name)
    e3p1 = Signal(signed(ew + 1), name=f"{name}_aligned_exp_p1")
    m.d.comb += e3p1.eq(e3 + 1)
    d_inc = dm.logic(Wx - pk + 1) + dm.lut(1)
    if stoch and R:
        d_inc = max(d_inc, dm.adder(R))
    v.pop("rand", None)
    v = cut(pipe, "rnd_inc", max(d_inc, dm.adder(ew + 1)),
            {"kept": kept, "inc": inc, "e3": e3, "e3p1": e3p1, **v})
    kept, inc, e3, e3p1 = v.pop("kept"), v.pop("inc"), v.pop("e3"), v.pop("e3p1")
    # -- the rounded significand ---------------------------------------------------------
    if add_chunk and add_chunk < pk + 1:
        built = chunked_add(m, kept, Const(0, 1), cin=inc, chunk=add_chunk, pipe=pipe, dm=dm,
                            carry={"e3": e3, "e3p1": e3p1, **v}, name=f"{name}_inc_add")
        r, delay = built.value, built.delay
        v = built.carry
        e3, e3p1 = v.pop("e3"), v.pop("e3p1")
    else:
        r = Signal(pk + 1, name=f"{name}_rounded")
        m.d.comb += r.eq(kept + inc)
        delay = dm.adder(pk + 1)
    carry_out = r[p]
    normal = Signal(name=f"{name}_normal")
    man = Signal(max(M, 1), name=f"{name}_man")
    e4 = Signal(signed(ew + 1), name=f"{name}_rounded_exp")
    m.d.comb += [normal.eq(r[p - 1] | carry_out), man.eq(r[:M] if M else 0),
                 e4.eq(Mux(carry_out, e3p1, e3))]
    v = cut(pipe, "rnd_add", delay + dm.lut(1),
            {"normal": normal, "man": man, "e4": e4, **v})
    y = encode(
        m, fmt, sign=v["sign"], normal=v["normal"], man=v["man"], exp=v["e4"],
        zero=v["zero_in"], is_nan=v["is_nan"], is_inf=v["is_inf"], rounding=rounding,
        saturate=saturate, name=name, pipe=pipe, dm=dm,
    )
    return cut(pipe, "rnd_out", dm.logic(5), {"y": y})["y"]


def encode(
    m: Module,
    fmt: FloatFormat,
    *,
    sign: Value,
    normal: Value,
    man: Value,
    exp: Value,
    zero: Value,
    is_nan: Value,
    is_inf: Value,
    rounding: str = Rounding.RNE,
    saturate: bool = False,
    name: str = "rnd",
    pipe: Pipeline | None = None,
    dm=None,
    delay_in: float = 0.0,
) -> Signal:
    """The encode stage, the rounder's last step (golden twin: ``exmy.golden.encode`` of a
    value already on the format's grid, i.e. its packing after ``round``): a rounded value ->
    its encoding in ``fmt``, with the overflow rule (SPEC 2; rtz never overflows to Inf), the
    Inf and NaN rules, canonical NaN, fnuz/unsigned zero and negative rules and formats
    without zero.

    Input contract: ``normal`` says the value ``1.man * 2**exp`` is normal (else it is the
    subnormal ``0.man * 2**emin``, or zero); ``exp`` may exceed emax (overflow); ``zero`` says
    the value is an exact zero (for the zero rules); ``is_nan`` / ``is_inf`` override.

    In fmax mode (``pipe`` placing registers by frequency) a fine cut ``"encode"`` follows
    the biased exponent field, the overflow test and the magnitude (``dm``: delay model,
    ``delay_in``: the caller's logic since its last cut).
    """
    M = fmt.man_bits
    e4, zero_in = exp, zero
    E = fmt.exp_bits
    field = Signal(E, name=f"{name}_field")
    over = Signal(name=f"{name}_overflow")
    if fine_mode(pipe):
        # fmax mode: the biased exponent and the exponent comparisons, then a cut
        dm = dm or delay_model("ecp5")
        biased = Signal(E, name=f"{name}_biased_exp")
        e_over = Signal(name=f"{name}_exp_over")
        e_max = Signal(name=f"{name}_exp_at_max")
        m.d.comb += [biased.eq((e4 + fmt.bias)[:E]), e_over.eq(e4 > fmt.emax),
                     e_max.eq(e4 == fmt.emax)]
        v = cut(pipe, "enc_exp", delay_in + dm.adder(len(Value.cast(e4))), {
            "biased": biased, "e_over": e_over, "e_max": e_max, "normal": normal, "man": man,
            "sign": sign, "zero": zero, "is_nan": is_nan, "is_inf": is_inf})
        normal, man, sign, zero_in, is_nan, is_inf = (
            v["normal"], v["man"], v["sign"], v["zero"], v["is_nan"], v["is_inf"])
        m.d.comb += field.eq(Mux(normal, v["biased"], 0))
        over_expr = v["e_over"]
        if M and fmt.max_man_at_emax < fmt.man_mask:
            over_expr = over_expr | (v["e_max"] & (man > fmt.max_man_at_emax))
    else:
        m.d.comb += field.eq(Mux(normal, (e4 + fmt.bias)[:E], 0))
        over_expr = e4 > fmt.emax
        if M and fmt.max_man_at_emax < fmt.man_mask:  # (an all-ones bound is never exceeded)
            over_expr = over_expr | ((e4 == fmt.emax) & (man > fmt.max_man_at_emax))
    m.d.comb += over.eq(normal & over_expr)
    mag_w = E + M
    mag = Signal(mag_w, name=f"{name}_mag")
    man_part = man[:M] if M else Const(0, 0)
    if fmt.zero and not fmt.subnormals:
        m.d.comb += mag.eq(Mux(normal, Cat(man_part, field), 0))
    else:
        m.d.comb += mag.eq(Cat(man_part, field))
    if fine_mode(pipe):
        dm = dm or delay_model("ecp5")
        v = cut(pipe, "encode", dm.logic(M + 2), {
            "mag": mag, "over": over, "sign": sign, "zero": zero_in, "is_nan": is_nan,
            "is_inf": is_inf})
        mag, over, sign, zero_in, is_nan, is_inf = (
            v["mag"], v["over"], v["sign"], v["zero"], v["is_nan"], v["is_inf"])

    maxf = fmt.max_finite_code
    NAN = -1
    if fmt.has_inf and not saturate:
        over_code = maxf if rounding == Rounding.RTZ else fmt.inf_code
    elif fmt.special in (Special.FN, Special.FNUZ) and not saturate and rounding != Rounding.RTZ:
        over_code = NAN
    else:
        over_code = maxf
    if saturate or fmt.special == Special.NONE:
        inf_code = maxf
    elif fmt.has_inf:
        inf_code = fmt.inf_code
    else:
        inf_code = NAN

    nan_out = Signal(name=f"{name}_nan_out")
    mag2 = Signal(mag_w, name=f"{name}_mag_final")
    nan_terms = Value.cast(is_nan)
    if over_code == NAN:
        nan_terms = nan_terms | (over & ~is_inf)
    if inf_code == NAN:
        nan_terms = nan_terms | is_inf
    m.d.comb += mag2.eq(mag)
    if over_code != NAN:
        with m.If(over):
            m.d.comb += mag2.eq(over_code)
    if inf_code != NAN:
        with m.If(is_inf):
            m.d.comb += mag2.eq(inf_code)
    sgn = Signal(name=f"{name}_sign_out")
    m.d.comb += sgn.eq(sign)
    if not fmt.signed:
        # negative non-zero values have no encoding
        bad = Signal(name=f"{name}_neg_unsigned")
        m.d.comb += bad.eq(Value.cast(sign) & (~zero_in | is_inf) & ~is_nan)
        if fmt.has_nan:
            nan_terms = nan_terms | bad
        else:
            with m.If(bad):
                m.d.comb += mag2.eq(0)
    if not fmt.zero:
        nan_terms = nan_terms | (zero_in & ~is_inf)
    m.d.comb += nan_out.eq(nan_terms)

    y = Signal(fmt.width, name=f"{name}_y")
    if fmt.signed:
        if fmt.special == Special.FNUZ:
            m.d.comb += y.eq(Cat(mag2, sgn & (mag2 != 0)))
        else:
            m.d.comb += y.eq(Cat(mag2, sgn))
    else:
        m.d.comb += y.eq(mag2)
    with m.If(nan_out):
        m.d.comb += y.eq(fmt.nan_code if fmt.has_nan else 0)
    return y


#: :func:`encode`'s earlier name
encode_fields = encode


def round_to_int(
    m: Module,
    fmt: IntFormat,
    *,
    sign: Value,
    sig: Value,
    exp: Value,
    is_nan: Value,
    is_inf: Value,
    rounding: str = Rounding.RNE,
    name: str = "rint",
    pipe: Pipeline | None = None,
    dm=None,
) -> Signal:
    """Round a raw value (same contract as ``round_encode``, leading one anywhere) to an
    integer and clamp it to ``fmt``'s range; NaN gives 0 (conversion to integers saturates,
    as ``exmy.golden.encode`` does). In fmax mode (``pipe`` with a plan) the same function
    with fine cuts (:func:`_round_to_int_fine`); the caller's last segment, from ``rint_add``
    to ``y``, is :func:`round_to_int_tail_delay`."""
    if fine_mode(pipe):
        return _round_to_int_fine(m, fmt, pipe, dm, sign=sign, sig=sig, exp=exp,
                                  is_nan=is_nan, is_inf=is_inf, rounding=rounding, name=name)
    sig = Value.cast(sig)
    W = len(sig)
    B = fmt.bits
    # value = sig * 2**(exp - (W-1)); integer part needs a right shift by (W-1) - exp
    Wx = W + 2
    s = Cat(Const(0, 2), sig)  # two extra bits below: round bit and sticky room
    ew = len(exp) + 2
    sh = Signal(signed(ew + 1), name=f"{name}_shift")
    m.d.comb += sh.eq((W - 1) - exp)
    big = Signal(name=f"{name}_big")  # |value| >= 2**B: certainly out of range
    m.d.comb += big.eq((exp >= B + 1) & (sig != 0))
    dmax = Wx + 1
    d = Signal(range(dmax + 1), name=f"{name}_d")
    m.d.comb += d.eq(Mux(sh < 0, 0, Mux(sh > dmax, dmax, sh[: len(d)])))
    lsh = Signal(range(B + 2), name=f"{name}_lsh")
    m.d.comb += lsh.eq(Mux(sh < 0, Mux(-sh > B + 1, B + 1, (-sh)[: len(lsh)]), 0))
    shifted = Signal(Wx, name=f"{name}_aligned")
    lost = Signal(name=f"{name}_lost")
    m.d.comb += [
        shifted.eq(s >> d),
        lost.eq((s & ((Const(1, Wx + 1) << d) - 1)[:Wx]) != 0),
    ]
    ipart = Signal(W + B + 3, name=f"{name}_ipart")
    m.d.comb += ipart.eq(shifted[2:] << lsh)
    rbit = shifted[1]
    rest = shifted[0] | lost
    inc = Signal(name=f"{name}_inc")
    m.d.comb += inc.eq(_int_increment(rounding, rbit, rest, ipart[0]))
    n = Signal(W + B + 4, name=f"{name}_n")
    m.d.comb += n.eq(ipart + inc)
    lim_pos = fmt.max_value
    lim_neg = -fmt.min_value  # magnitude limit for negative values
    y = Signal(B, name=f"{name}_y")
    sign = Value.cast(sign)
    with m.If(is_nan):
        m.d.comb += y.eq(0)
    with m.Elif(sign):
        with m.If(is_inf | big | (n > lim_neg)):
            m.d.comb += y.eq(fmt.min_value & ((1 << B) - 1))
        with m.Else():
            m.d.comb += y.eq(-n)
    with m.Else():
        with m.If(is_inf | big | (n > lim_pos)):
            m.d.comb += y.eq(lim_pos)
        with m.Else():
            m.d.comb += y.eq(n)
    return y


def _int_increment(rounding, rbit: Value, rest: Value, lsb: Value) -> Value:
    """The round-to-integer increment: RNE ties to the even ``lsb``, RNA away, RTZ never."""
    if rounding == Rounding.RNE:
        return rbit & (rest | lsb)
    if rounding == Rounding.RNA:
        return rbit
    if rounding == Rounding.RTZ:
        return Const(0, 1)
    raise ValueError(
        f"Rounding mode {str(rounding)!r} is not supported for integer outputs; "
        f"use {', '.join(INT_ROUNDING_MODES)}"
    )


def round_to_int_tail_delay(dm) -> float:
    """The segment after :func:`_round_to_int_fine`'s last cut: the result's multiplexer."""
    return dm.lut(2)


def _round_to_int_fine(m: Module, fmt: IntFormat, pipe: Pipeline, dm, *, sign, sig, exp,
                       is_nan, is_inf, rounding, name: str) -> Signal:
    """:func:`round_to_int` with fine cuts: ``rint_exp`` (the shift, the out-of-range test),
    ``rint_dist`` (the shift distances, capped), the right shift's levels, ``rint_aligned``,
    ``rint_inc`` (the increment), the left shift's levels (a value at or above 2^(W-1) moves
    up instead; the two shifts never both move), ``rint_add``, ``rint_sat`` (the range tests
    and the negation)."""
    sig = Value.cast(sig)
    W = len(sig)
    B = fmt.bits
    Wx = W + 2
    s = Cat(Const(0, 2), sig)  # the round bit and sticky room below
    ew = len(exp) + 2
    sh = Signal(signed(ew + 1), name=f"{name}_shift")
    m.d.comb += sh.eq((W - 1) - exp)
    big = Signal(name=f"{name}_big")  # |value| >= 2**B: certainly out of range
    m.d.comb += big.eq((exp >= B + 1) & (sig != 0))
    nsh = Signal(signed(ew + 1), name=f"{name}_shift_up")  # -sh, beside it
    m.d.comb += nsh.eq(exp - (W - 1))
    dmax = Wx + 1
    # the tests of sh against its caps, as tests of exp against constants (beside the
    # subtractions, not after them)
    up = Signal(name=f"{name}_up_shift")  # sh < 0
    dcap = Signal(name=f"{name}_d_cap")  # sh > dmax
    ucap = Signal(name=f"{name}_up_cap")  # -sh > B + 1
    m.d.comb += [up.eq(exp > W - 1), dcap.eq(exp < W - 1 - dmax), ucap.eq(exp > W + B)]
    v = cut(pipe, f"{name}_exp", max(dm.adder(ew + 1), dm.logic(W)) + dm.lut(1),
            dict(s=s, sh=sh, nsh=nsh, up=up, dcap=dcap, ucap=ucap, big=big, sign=sign,
                 nan=is_nan, inf=is_inf))
    d = Signal(range(dmax + 1), name=f"{name}_d")
    m.d.comb += d.eq(Mux(v["up"], 0, Mux(v["dcap"], dmax, v["sh"][: len(d)])))
    lsh = Signal(range(B + 2), name=f"{name}_lsh")
    m.d.comb += lsh.eq(Mux(v["up"], Mux(v["ucap"], B + 1, v["nsh"][: len(lsh)]), 0))
    cls = dict(lsh=lsh, big=v["big"], sign=v["sign"], nan=v["nan"], inf=v["inf"])
    v = cut(pipe, f"{name}_dist", dm.lut(2), dict(s=v["s"], d=d, **cls))
    built, lost = staged_shift_right(m, v["s"], v["d"], pipe=pipe, dm=dm,
                                     carry={k: v[k] for k in cls}, name=f"{name}_align")
    v = cut(pipe, f"{name}_aligned", built.delay, dict(shifted=built.value, lost=lost,
                                                       **built.carry))
    shifted, c = v["shifted"], {k: v[k] for k in cls}
    # a left shift comes with d = 0, so its round bit is 0 and the increment too: the lsb
    # that decides a tie is the right shift's
    inc = Signal(name=f"{name}_inc")
    m.d.comb += inc.eq(_int_increment(rounding, shifted[1], shifted[0] | v["lost"],
                                      shifted[2]))
    v = cut(pipe, f"{name}_inc", dm.logic(3) + dm.lut(1),
            dict(ipart=Cat(shifted[2:], Const(0, B + 1)), inc=inc, **c))
    up = staged_shift_left(m, v["ipart"], v["lsh"], pipe=pipe, dm=dm,
                           carry={k: v[k] for k in ("inc", "big", "sign", "nan", "inf")},
                           name=f"{name}_up")
    c = up.carry
    # only the low B + 1 bits are added: a bit above them set is out of range either way
    ip = up.value
    n = Signal(B + 2, name=f"{name}_n")
    m.d.comb += n.eq(ip[: B + 1] + c["inc"])
    high = Signal(name=f"{name}_high")
    m.d.comb += high.eq(ip[B + 1:] != 0)
    v = cut(pipe, f"{name}_add", up.delay + max(dm.adder(B + 2), dm.logic(W)),
            dict(n=n, high=high, big=c["big"], sign=c["sign"], nan=c["nan"], inf=c["inf"]))
    # the range tests (both signs' limits) and the negation side by side, then the
    # result's multiplexer
    n, sign = v["n"], v["sign"]
    over = Signal(name=f"{name}_over")
    m.d.comb += over.eq(v["inf"] | v["big"] | v["high"]
                        | Mux(sign, n > -fmt.min_value, n > fmt.max_value))
    neg = Signal(B, name=f"{name}_neg")
    m.d.comb += neg.eq(-n)
    v = cut(pipe, f"{name}_sat", dm.adder(B + 2) + dm.lut(1),
            dict(n=n[:B], neg=neg, over=over, sign=sign, nan=v["nan"]))
    y = Signal(fmt.bits, name=f"{name}_y")
    lim = Mux(v["sign"], fmt.min_value & ((1 << fmt.bits) - 1), fmt.max_value)
    m.d.comb += y.eq(Mux(v["nan"], 0, Mux(v["over"], lim, Mux(v["sign"], v["neg"], v["n"]))))
    return y


def round(m: Module, fmt: FloatFormat, raw: data.View, *, align_max: int | None = None,
          name: str = "rnd", **options) -> Signal:
    """The round stage on the typed raw value (golden twin: ``exmy.golden.encode`` of the
    same ``Raw``, i.e. golden ``round`` and then :func:`encode`'s packing): ``raw`` is a
    :class:`RawLayout` value (golden's convention, ``exp`` the weight of sig's LSB), rounded
    and encoded in ``fmt`` by the standard contract (:func:`round_standard`: the leading one
    of ``sig`` at its top bit or the one below, or sig = 0), or with ``align_max`` by
    :func:`round_align_max`. ``options``: ``rounding``, ``saturate``, ``rand``, ``pipe`` (the
    contract's). The approximate contract (:func:`round_approximate`) takes SPEC 3.3's
    coarse position, not a raw value. Returns the encoding."""
    W = len(raw.sig)
    top = Signal(signed(len(raw.exp) + 1), name=f"{name}_top_exp")  # weight of sig's top bit
    m.d.comb += top.eq(raw.exp + (W - 1))
    fields = dict(sign=raw.sign, sig=raw.sig, exp=top, is_nan=raw.is_nan, is_inf=raw.is_inf,
                  sticky=raw.sticky, name=name, **options)
    if align_max is None:
        return round_standard(m, fmt, **fields)
    return round_align_max(m, fmt, align_max=align_max, **fields)


class Rounder(wiring.Component):
    """The round stage (:func:`round`, the standard contract) as a stand-alone component:
    ``raw`` (a :class:`RawLayout` value, golden's convention) -> ``y``, the encoding in
    ``fmt``; the golden twin is ``exmy.golden.encode`` of the same ``Raw``. The leading one
    of ``sig`` must be at its top bit or the one below (or sig = 0). Ports: ``raw``,
    [``rand``], ``y``. Latency 0 or 1 (a register after the alignment shift)."""

    def __init__(
        self, fmt: FloatFormat, sig_width: int, exp_width: int, *, rounding="rne",
        saturate=False, rand_bits=None, latency=0,
    ):
        self.rounding = check_rounding_options(rounding, rand_bits)
        self.fmt = fmt
        self.saturate = saturate
        self.rand_bits = rand_bits
        self.latency = check_latency(latency)
        ports = {"raw": In(RawLayout(sig_width, exp_width)), "y": Out(fmt.width)}
        if self.rounding == Rounding.STOCHASTIC:
            ports["rand"] = In(rand_bits)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        pipe = Pipeline(m, self.latency, ["round"])
        y = round(m, self.fmt, self.raw, rand=getattr(self, "rand", None),
                  rounding=self.rounding, saturate=self.saturate, pipe=pipe)
        m.d.comb += self.y.eq(pipe.finish(y))
        return m
