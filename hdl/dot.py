"""Dot-product units (SPEC 5.1 and 5.2): ``Dot`` (N lanes) and ``MXDot`` (OCP MX / NVFP4
block-scaled dot products).

Both share one datapath, written once here:

1. decode every operand without normalising subnormals: a float is ``sig * 2**(q + off)``
   with its format's finest quantum ``q = emin - M``, ``sig = hidden.man`` and
   ``off = max(field, 1) - 1``; an integer format is ``|v| * 2**scale_exp`` (off 0);
2. per lane the exact significand product (one ``*``) shifted left by ``off_a + off_b``: the
   product on the block's common grid ``2**(q_a + q_b)``, never rounded;
3. an adder tree over the signed aligned products, exact: its width (``sum_bits``) holds
   ``lanes`` worst-case products (``exmy.golden.params.DotParams`` / ``MxDotParams``);
4. ``MXDot``: the block scale applied once, to the sum, not per lane: an E8M0 scale pair adds
   ``off_a + off_b`` to the exponent; E4M3 scales multiply the sum by their 4 x 4-bit
   significand product (exact); a NaN scale gives NaN, an Inf sum times a zero scale NaN;
5. one rounding into ``fmt_out`` through the shared rounder (``hdl.rounding.round_encode``), or
   with ``accumulate=True`` the exact block value into SPEC 3.2's fixed-point accumulator
   (``hdl.mac``'s accumulator register and its acc -> y conversion) with the MAC contract.

Specials: NaN in any lane, Inf x 0, or +Inf and -Inf products together give NaN; an Inf
product gives that Inf. An exact zero sum is +0 unless every term is -0 (SPEC 5.1).

Pipeline cut points (``latency`` registers, evenly spaced over): products ``|`` sum ``|``
the rounder's alignment (``round``), extra registers at the output. With ``accumulate``,
``latency`` >= 1 counts edges until ``acc`` shows the state after a cycle; its ``latency -
1`` further registers go to the cuts products ``|`` sum (at most 3 in all).

Frequency-directed pipelining (``target``/``fmax`` instead of ``latency``, SPEC 6): the same
function built with fine cut points, every lane side by side so that one cut serves all of
them, each annotated with the delay model's estimate of the logic before it: ``dec`` (class
flags, significands, ``max(field, 1)`` in place of the offset), ``mul_level`` (partial-product
trees, only when one ``*`` per lane does not fit the period; the E4M3 scale product of NVFP4
rides along), ``product`` (beside it the exponent sums, the block scale's included, and the
specials of the sum), ``shift_level`` / ``aligned`` (the alignment shifter one multiplexer
level at a time), ``term`` (the sign applied), ``sum_level`` / ``sum`` (the adder tree's
levels), ``sum_mag``, ``scaled`` / ``mul_level`` (the E4M3 scale's significand), the
normaliser (``lzc_level``, ``nrm_lz``, ``shift_level``, ``nrm``), then the shared rounder's
cuts into ``fmt_out``. With ``accumulate`` the block value goes to the accumulator after
``blk_term`` (``mx-dot``: shifted by the scale exponent level by level, the sign applied in
carry-chain chunks ``add_chunk``); the accumulator (the feedback loop ``accumulate``, a forced
register) is one add when that loop fits the period, else the MAC's segmented accumulator
(``hdl.mac``: chunks whose loop fits, 2 or 3 forced carry-resolution stages; ``acc_chunk`` in
the sidecar); with ``saturate_acc`` always one add, and an fmax that loop cannot meet is an
error naming it. The acc -> y conversion has the MAC's fine cuts, and ``acc`` and ``flags``
get as many registers as it does, so all three outputs show the state after a cycle
``latency`` edges later. An explicit latency builds the datapath above, unchanged.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat, IntFormat
from exmy.golden.params import (
    DEFAULT_DEPTH,
    check_block,
    check_bool,
    check_dot_rounding,
    check_float,
    check_lanes,
    check_mx_element,
    check_operand,
    check_scale_format,
    default_block,
    dot_params,
    format_range,
    mx_dot_params,
    product_range,
)

from .accumulator import (
    acc_to_float,
    acc_to_float_fine,
    accumulate_register,
    accumulate_segmented,
    accumulator_timing,
    adder_chunk,
    pick_chunk,
    resolve_stages,
)
from .arith import chunked_add, cut, staged_lzc, staged_shift_left, tree_multiply
from .base import Unit, unit_builder
from .dot_fine import (
    aligned,
    chunked_many,
    decode_fine,
    decode_fine_delay,
    products,
    shift_left_many,
    sum_fine,
    unaligned,
)
from .float import decode, decode_int, normalize, port_shape
from .rounding import round_encode
from .timing import Plan
from .util import Pipeline, delayed

__all__ = ["Dot", "MXDot"]


# -- datapath pieces ---------------------------------------------------------------------------

#: the most lanes (dot) or block elements (mx-dot) exmy builds in hardware: generation time and
#: memory grow with the lane count (measured: docs/results/mx_dot.md, "Lane limit"); the
#: golden model takes any length
MAX_LANES = 1024


def _check_hw_lanes(n: int, what: str, option: str) -> int:
    if n > MAX_LANES:
        raise ValueError(
            f"{what} {n} is more than exmy builds in hardware (at most {MAX_LANES}: generating "
            f"takes time and memory in proportion, and {MAX_LANES} E4M3 lanes already need "
            f"more LUTs than the largest ECP5); for a longer dot product accumulate shorter "
            f"ones (accumulate=True) or give a smaller {option}")
    return n


class _Term:
    """A decoded operand: value = (-1)**sign * sig * 2**(q + off)."""

    def __init__(self, sign, sig, off, nan, inf, zero):
        self.sign, self.sig, self.off = sign, sig, off
        self.nan, self.inf, self.zero = nan, inf, zero


def _decode(m: Module, bits: Value, fmt, name: str) -> _Term:
    if isinstance(fmt, IntFormat):
        d = decode_int(m, bits, fmt, name)
        return _Term(d.sign, d.sig, Const(0, 1), Const(0, 1), Const(0, 1), d.is_zero)
    d = decode(m, bits, fmt, name, normalize_sub=False)
    span = fmt.emax - fmt.emin
    off = Signal(range(max(span, 1) + 1), name=f"{name}_off")
    m.d.comb += off.eq(d.exp - fmt.emin)
    return _Term(d.sign, d.sig, off, d.is_nan, d.is_inf, d.is_zero)


def _any(bits: list[Value]) -> Value:
    return Cat(*bits).any() if bits else Const(0, 1)


def _all(bits: list[Value]) -> Value:
    return Cat(*bits).all() if bits else Const(1, 1)


def _dot_terms(m: Module, a_ports, b_ports, fa, fb, mag_w: int, extra_shift: int, name="l"):
    """Per lane: (signed aligned product, nan, inf, sign, neg_zero)."""
    lanes = []
    for i, (pa, pb) in enumerate(zip(a_ports, b_ports, strict=True)):
        a = _decode(m, Value.cast(pa), fa, f"a{i}")
        b = _decode(m, Value.cast(pb), fb, f"b{i}")
        prod = Signal(len(a.sig) + len(b.sig), name=f"{name}{i}_prod")
        m.d.comb += prod.eq(a.sig * b.sig)
        nan = Signal(name=f"{name}{i}_nan")
        inf = Signal(name=f"{name}{i}_inf")
        sign = Signal(name=f"{name}{i}_sign")
        m.d.comb += [
            nan.eq(a.nan | b.nan | (a.inf & b.zero) | (a.zero & b.inf)),
            inf.eq((a.inf | b.inf) & ~nan),
            sign.eq(a.sign ^ b.sign),
        ]
        mag = Signal(mag_w, name=f"{name}{i}_aligned")
        shifted = (prod << (a.off + b.off)) << extra_shift
        m.d.comb += mag.eq(Mux(nan | inf, 0, shifted[:mag_w]))
        lanes.append((mag, nan, inf, sign, (a.zero | b.zero) & sign & ~nan & ~inf))
    return lanes


def _signed_terms(m: Module, mags, signs, width: int, name: str) -> list[Signal]:
    out = []
    for i, (mag, sgn) in enumerate(zip(mags, signs, strict=True)):
        t = Signal(signed(width), name=f"{name}{i}_term")
        m.d.comb += t.eq(Mux(sgn, -mag, mag))
        out.append(t)
    return out


def _adder_tree(m: Module, terms: list[Value], width: int, name: str = "tree") -> Signal:
    """Balanced tree of exact additions (every partial sum fits ``width`` bits)."""
    level = 0
    while len(terms) > 1:
        nxt = []
        for j in range(0, len(terms) - 1, 2):
            s = Signal(signed(width), name=f"{name}{level}_{j // 2}")
            m.d.comb += s.eq(terms[j] + terms[j + 1])
            nxt.append(s)
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
        level += 1
    out = Signal(signed(width), name=f"{name}_sum")
    m.d.comb += out.eq(terms[0])
    return out


def _specials(m: Module, nans, infs, signs, name: str):
    """(nan, inf, inf_sign) of a sum of terms."""
    pinf = _any([i & ~s for i, s in zip(infs, signs, strict=True)])
    ninf = _any([i & s for i, s in zip(infs, signs, strict=True)])
    nan = Signal(name=f"{name}_nan")
    inf = Signal(name=f"{name}_inf")
    isg = Signal(name=f"{name}_inf_sign")
    m.d.comb += [nan.eq(_any(nans) | (pinf & ninf)), inf.eq((pinf | ninf) & ~nan), isg.eq(ninf)]
    return nan, inf, isg


def _magnitude(m: Module, s: Value, name: str) -> tuple[Signal, Value]:
    """|s| of a two's complement value (same width, unsigned) and its sign bit."""
    W = len(s)
    mag = Signal(W, name=f"{name}_mag")
    neg = Value.cast(s)[W - 1]
    m.d.comb += mag.eq(Mux(neg, -Value.cast(s), s)[:W])
    return mag, neg


def _round_out(m: Module, mag: Value, top_exp: Value, sign, nan, inf, fmt_out, rounding,
               pipe, name: str) -> Value:
    """Round ``mag * 2**(top_exp - (len(mag) - 1))`` into ``fmt_out``: normalise, keep p + 2
    bits and a sticky bit, the shared rounder."""
    W = len(mag)
    nsig, nexp = normalize(m, mag, top_exp, f"{name}_nrm")
    k = min(W, fmt_out.sig_bits + 2)
    sticky = Signal(name=f"{name}_sticky")
    m.d.comb += sticky.eq(nsig[: W - k] != 0 if W > k else 0)
    return round_encode(
        m, fmt_out, sign=sign, sig=nsig[W - k:], exp=nexp, sticky=sticky, is_nan=nan,
        is_inf=inf, rounding=rounding, pipe=pipe, name=name,
    )


def _acc_latency(latency) -> int:
    if latency > 3:
        raise ValueError(
            f"Accumulating dot latency must be at most 3 (registers after the products and "
            f"after the sum, then the accumulator), not {latency}"
        )
    return latency


class _DotBase(Unit):
    """What Dot and MXDot share: the output side (rounding or accumulation)."""

    def _setup_out(self, fmt_out, rounding, accumulate, latency, saturate_acc, target, fmax,
                   dsp=False):
        self.accumulate = check_bool(accumulate, "accumulate")
        self.saturate_acc = check_bool(saturate_acc, "saturate_acc")
        if self.saturate_acc and not self.accumulate:
            raise ValueError("saturate_acc applies only with accumulate=True")
        self.rounding = check_dot_rounding(rounding)
        self.fmt_out = check_float("float32" if fmt_out is None else fmt_out,
                                   f"{self.unit} output")
        if not self.accumulate:
            self.latency = self.set_timing(latency, target, fmax, dsp=dsp)
            return
        self.latency = self.set_timing(
            latency, target, fmax, minimum=1, what="Accumulating dot latency", dsp=dsp,
            why="the accumulator is a register, so acc shows a block one clock edge after "
                "accepting it at the earliest")
        if self.fmax is None:
            _acc_latency(self.latency)

    def extra_metadata(self) -> dict:
        """The unit's shape (:meth:`_shape_metadata`), its sum's width and LSB weight; with
        ``accumulate``, the accumulator's parameters, cut points and (fmax mode) the carry
        chunk it chose (None: one add)."""
        meta = {**self._shape_metadata(), "sum_bits": self.sum_bits,
                "sum_lsb_exp": self.lsb_exp}
        if self.accumulate:
            meta.update(self.params_obj.summary())
            meta["cut_points"] = self.cut_points
            if self.fmax is not None:
                meta["acc_chunk"] = self.acc_chunk
        return meta

    def _out_ports(self, ports: dict, acc_bits: int | None, has_flags: bool) -> None:
        ports["y"] = Out(port_shape(self.fmt_out))
        if self.accumulate:
            ports.update({"valid": In(1), "clear": In(1), "acc": Out(acc_bits)})
            if has_flags:
                ports["flags"] = Out(3)
        self.port_formats["y"] = self.fmt_out

    @property
    def cut_points(self) -> list[str]:
        """Registered cuts before the accumulator (accumulate mode); in fmax mode every
        registered cut, the accumulator's included, in datapath order."""
        if isinstance(self.plan, Plan):
            return [g.name for g in self.plan.segments
                    if not g.loop and (g.name in self.plan.registered or g.fixed)]
        n = self.latency - 1
        return ["product", "sum"][2 - n:] if n else []

    def _lane_ports(self, ports: dict, k: int, fa, fb) -> None:
        """Ports ``a0..a{k-1}`` in ``fa``, then ``b0..b{k-1}`` in ``fb``."""
        for ab, fmt in (("a", fa), ("b", fb)):
            for i in range(k):
                ports[f"{ab}{i}"] = In(port_shape(fmt))
                self.port_formats[f"{ab}{i}"] = fmt

    def _pipes(self, m: Module, k: int):
        """(the cut pipeline, the accumulate-mode register pipeline, a ports, b ports)."""
        pipe = Pipeline(m, 0 if self.accumulate else self.latency, ["product", "sum", "round"])
        return (pipe, Pipeline(m), [getattr(self, f"a{i}") for i in range(k)],
                [getattr(self, f"b{i}") for i in range(k)])

    def _cut_products(self, pipe, st, terms: list, v: dict) -> tuple[list, dict]:
        """The cut after the products: ``terms`` (signed) and the named values ``v`` (with
        ``valid`` and ``clear`` in accumulate mode), registered or not."""
        if self.accumulate:
            v = {**v, "valid": self.valid, "clear": self.clear}
            if "product" not in self.cut_points:
                return terms, v
            regs = st.register({**v, **{f"t{i}": t for i, t in enumerate(terms)}}, "p_")
            return [regs[f"t{i}"].as_signed() for i in range(len(terms))], {k: regs[k] for k in v}
        d = cut(pipe, "product", 0.0, {**{f"term{i}": t for i, t in enumerate(terms)}, **v})
        return [d[f"term{i}"].as_signed() for i in range(len(terms))], {k: d[k] for k in v}

    def _cut_sum(self, pipe, st, s: Value, v: dict) -> tuple[Value, dict]:
        """The cut after the adder tree."""
        if self.accumulate:
            if "sum" not in self.cut_points:
                return s, v
            regs = st.register({**v, "s": s}, "s_")
            return regs["s"].as_signed(), {k: regs[k] for k in v}
        d = cut(pipe, "sum", 0.0, {"sum": s, **v})
        return d["sum"].as_signed(), {k: d[k] for k in v}

    def _accumulate_out(self, m, addend: Value, nan, inf, isg, valid, clear, acc_bits: int,
                        lsb_exp: int, has_flags: bool) -> None:
        acc = Signal(acc_bits, name="acc_reg")
        ext = Signal(acc_bits, name="acc_addend")
        m.d.comb += ext.eq(addend)  # sign-extended
        accumulate_register(m, acc, ext, Const(0, 1), valid, clear, self.saturate_acc)
        m.d.comb += self.acc.eq(acc)
        flags = None
        if has_flags:
            flags = Signal(3, name="flags_reg")
            special = Cat(nan, inf & ~isg, inf & isg)
            m.d.sync += flags.eq(Mux(clear, 0, flags) | Mux(valid, special, 0))
            m.d.comb += self.flags.eq(flags)
        y = acc_to_float(
            m, acc, flags, lsb_exp, self.fmt_out, rounding=self.rounding, saturate=False,
            rand=None, y_latency=0, stages=None,
        )
        m.d.comb += self.y.as_value().eq(y)

    # -- fmax mode ---------------------------------------------------------------------------
    def _fine_front(self, m: Module, pipe, fa, fb, k: int, W: int, mag_w: int, *,
                    extra: int = 0, c: dict | None = None, scale: dict | None = None):
        """fmax mode (SPEC 6): decode (cut ``dec``), the products (``mul_level`` cuts when a
        ``*`` is too slow, then ``product``), the alignment shifter level by level
        (``shift_level``), the signed terms (``term``) and the adder tree (``sum_level``,
        ``sum``), every lane side by side. ``c``: the Dot addend (``bits``, ``fmt``, ``shift``,
        ``bits_out``); ``scale``: the MX scale pair (``a``, ``b``, ``fmt``). Returns ``(sum,
        v)``: ``v`` holds ``nan``, ``inf``, ``isg``, ``negz`` (and ``valid``, ``clear``,
        the scale's ``s_*`` values)."""
        dm = self.dm
        v = {"valid": self.valid, "clear": self.clear} if self.accumulate else {}
        d, delays = {}, [decode_fine_delay(dm, fa), decode_fine_delay(dm, fb)]
        for i in range(k):
            sa, siga, f1a, nana, infa, za = decode_fine(m, getattr(self, f"a{i}"), fa, f"a{i}")
            sb, sigb, f1b, nanb, infb, zb = decode_fine(m, getattr(self, f"b{i}"), fb, f"b{i}")
            nan = Signal(name=f"l{i}_nan")
            inf = Signal(name=f"l{i}_inf")
            sign = Signal(name=f"l{i}_sign")
            m.d.comb += [nan.eq(nana | nanb | (infa & zb) | (za & infb)),
                         inf.eq((infa | infb) & ~nan), sign.eq(sa ^ sb)]
            d.update({f"sa{i}": siga, f"sb{i}": sigb, f"fa{i}": f1a, f"fb{i}": f1b,
                      f"nan{i}": nan, f"inf{i}": inf, f"sg{i}": sign,
                      f"nz{i}": (za | zb) & sign & ~nan & ~inf})
        if c is not None:
            sc, sigc, f1c, nanc, infc, zc = decode_fine(m, c["bits"], c["fmt"], "c")
            d.update({"sigc": sigc, "f1c": f1c, "nanc": nanc, "infc": infc, "sgc": sc,
                      "nzc": zc & sc})
            delays.append(decode_fine_delay(dm, c["fmt"]))
        if scale is not None:
            sf = scale["fmt"]
            ta = decode_fine(m, scale["a"], sf, "sa")
            tb = decode_fine(m, scale["b"], sf, "sb")
            d.update({"s_nan": ta[3] | tb[3], "s_zero": ta[5] | tb[5], "s_sign": ta[0] ^ tb[0],
                      "s_siga": ta[1], "s_sigb": tb[1], "s_offa": ta[2], "s_offb": tb[2]})
            delays.append(decode_fine_delay(dm, sf))
        v = cut(pipe, "dec", max(delays) + dm.lut(1), {**d, **v})
        # -- products, shift amounts, the specials of the sum, the scale pair -------------
        floats = [isinstance(f, FloatFormat) for f in (fa, fb)]
        drop = sum(floats)
        amounts = []
        for i in range(k):
            f1a, f1b = v.pop(f"fa{i}"), v.pop(f"fb{i}")
            if all(floats):
                s = Signal(max(len(f1a), len(f1b)) + 1, name=f"l{i}_shift")
                m.d.comb += s.eq(f1a + f1b)  # = off_a + off_b + 2
                amounts.append(s)
            else:
                amounts.append(f1a if floats[0] else f1b)  # None for int x int
        par = dm.adder(max(fa.exp_bits if floats[0] else 1, fb.exp_bits if floats[1] else 1)
                       + 1) if any(floats) else 0.0
        nans = [v.pop(f"nan{i}") for i in range(k)]
        infs = [v.pop(f"inf{i}") for i in range(k)]
        signs = [v[f"sg{i}"] for i in range(k)]
        nzs = [v.pop(f"nz{i}") for i in range(k)]
        kills = [n | f for n, f in zip(nans, infs, strict=True)]
        if c is not None:
            nans.append(v.pop("nanc"))
            infs.append(v.pop("infc"))
            signs.append(v["sgc"])
            nzs.append(v.pop("nzc"))
            kills.append(nans[-1] | infs[-1])
        nan, inf, isg = _specials(m, nans, infs, signs, "sum")
        negz = Signal(name="all_neg_zero")
        m.d.comb += negz.eq(_all(nzs))
        kill = Signal(len(kills), name="lane_kill")
        m.d.comb += kill.eq(Cat(*kills))
        par = max(par, dm.logic(2 * len(nans)) + dm.lut(1))
        pairs = [(v.pop(f"sa{i}"), v.pop(f"sb{i}")) for i in range(k)]
        s_extra = {}
        if scale is not None:
            s_off = Signal(len(v["s_offa"]) + 1, name="scale_off")
            m.d.comb += s_off.eq(v.pop("s_offa") + v.pop("s_offb"))
            par = max(par, dm.adder(len(s_off)))
            s_siga, s_sigb = v.pop("s_siga"), v.pop("s_sigb")
            if scale["fmt"].man_bits:  # E4M3: the 4 x 4-bit significand product, exact
                pairs.append((s_siga, s_sigb))
            s_extra = {"s_off": s_off}
        sig_c = v.pop("sigc") if c is not None else None
        amount_c = v.pop("f1c") if c is not None else None
        v = {**v, **s_extra, "nan": nan, "inf": inf, "isg": isg, "negz": negz, "kill": kill,
             "amount_c": amount_c, **{f"amt{i}": a for i, a in enumerate(amounts)}}
        prods, v, delay = products(m, pairs, pipe=pipe, dm=dm, fmax=self.fmax, v=v, par=par)
        if scale is not None and scale["fmt"].man_bits:
            v["s_sig"] = prods.pop()
        v = cut(pipe, "product", delay, {**{f"p{i}": p for i, p in enumerate(prods)},
                                         "sigc": sig_c, **v})
        # -- alignment onto the block's grid, level by level ------------------------------
        xs = [aligned(v.pop(f"p{i}"), drop, extra, mag_w) for i in range(k)]
        amts = [v.pop(f"amt{i}") for i in range(k)]
        sig_c, amount_c = v.pop("sigc"), v.pop("amount_c")
        if c is not None:
            xs.append(aligned(sig_c, 1, c["shift"], c["bits_out"]))
            amts.append(amount_c)
        xs, v, delay = shift_left_many(m, xs, amts, pipe=pipe, dm=dm, v=v)
        if delay:
            d = cut(pipe, "aligned", delay, {**{f"x{i}": x for i, x in enumerate(xs)}, **v})
            xs = [d[f"x{i}"] for i in range(len(xs))]
            v = {kk: d[kk] for kk in v}
            delay = 0.0
        mags = [unaligned(x, drop, extra) for x in xs[:k]]
        if c is not None:
            mags.append(unaligned(xs[k], 1, c["shift"]))
        # -- signed terms (NaN / Inf lanes add nothing), the adder tree -------------------
        kill = v.pop("kill")
        signs = [v.pop(f"sg{i}") for i in range(k)] + ([v.pop("sgc")] if c is not None else [])
        chunk = adder_chunk(dm, self.fmax, W, dm.lut(1))
        terms = []
        if chunk < W:  # (mag xor s) + s in carry-chain chunks, s = the sign of a live lane
            ops = []
            for i, (mag, sg) in enumerate(zip(mags, signs, strict=True)):
                neg = Signal(name=f"t{i}_neg")
                m.d.comb += neg.eq(sg & ~kill[i])
                x = Signal(W, name=f"t{i}_ones")
                m.d.comb += x.eq(Mux(kill[i], 0, mag) ^ neg.replicate(W))
                ops.append((x, None, neg))
            sums, v, delay = chunked_many(m, ops, W, chunk, pipe=pipe, dm=dm, v=v,
                                           delay_in=delay + dm.lut(1), name="t")
        else:
            sums = [Mux(kill[i], 0, Mux(sg, -mag, mag))
                    for i, (mag, sg) in enumerate(zip(mags, signs, strict=True))]
            delay += dm.adder(W)
        for i, x in enumerate(sums):
            t = Signal(signed(W), name=f"t{i}_term")
            m.d.comb += t.eq(x)
            terms.append(t)
        d = cut(pipe, "term", delay + dm.lut(1),
                {**{f"t{i}": t for i, t in enumerate(terms)}, **v})
        terms = [d[f"t{i}"].as_signed() for i in range(len(terms))]
        v = {kk: d[kk] for kk in v}
        return sum_fine(m, terms, W, pipe=pipe, dm=dm, v=v, delay_in=0.0, chunk=chunk)

    def _fine_magnitude(self, m: Module, pipe, s: Value, v: dict):
        """fmax mode: ``|s|`` (``len(s)`` bits) and its sign, one carry chain or, when that
        does not fit the period, ``(s xor neg) + neg`` in chunks (``add_chunk``); the delay
        after the last cut (the route out of the chain included)."""
        dm = self.dm
        W = len(s)
        chunk = adder_chunk(dm, self.fmax, W, dm.lut(1))
        if chunk >= W:
            mag, neg = _magnitude(m, s, "sum")
            return mag, neg, v, dm.adder(W) + dm.lut(1)
        neg = Signal(name="sum_neg")
        m.d.comb += neg.eq(Value.cast(s)[W - 1])
        x = Signal(W, name="sum_ones")
        m.d.comb += x.eq(Value.cast(s) ^ neg.replicate(W))
        (mag,), v, delay = chunked_many(m, [(x, None, neg)], W, chunk, pipe=pipe, dm=dm,
                                         v={"neg": neg, **v}, delay_in=dm.lut(1),
                                         name="sum_mag")
        neg = v.pop("neg")
        return mag, neg, v, delay + dm.lut(1)

    def _fine_round(self, m: Module, pipe, mag: Value, top, v: dict, delay_in: float) -> Value:
        """fmax mode: round ``mag * 2**(top - (len(mag) - 1))`` into ``fmt_out``: the
        leading-zero count (``lzc_level``, ``nrm_lz``), the normalising shifter
        (``shift_level``), the sticky OR, then the shared rounder's fine cuts (it ends with
        a cut). ``top``: an int or a signed value; ``v``: ``sign``, ``nan``, ``inf``."""
        dm = self.dm
        W = len(mag)
        const_top = isinstance(top, int)
        carry = {"mag": mag, **v} if const_top else {"mag": mag, "top": top, **v}
        built = staged_lzc(m, mag, pipe=pipe, dm=dm, carry=carry, delay_in=delay_in,
                           name="nrm_lzc")
        d = cut(pipe, "nrm_lz", built.delay, {"lz": built.value, **built.carry})
        lz, mag = d.pop("lz"), d.pop("mag")
        built = staged_shift_left(m, mag, lz, pipe=pipe, dm=dm, carry={"lz": lz, **d},
                                  name="nrm_shl")
        d = dict(built.carry)
        lz = d.pop("lz")
        top = top if const_top else d.pop("top")
        tw = max(abs(top) + W + 2, 4).bit_length() + 2 if const_top else len(top) + 2
        ew = tw + max(W, 1).bit_length() + 1
        e = Signal(signed(ew), name="y_nrm_exp")
        m.d.comb += e.eq(top - lz)
        nsig = built.value
        p = self.fmt_out.sig_bits + 2
        kk = min(W, p)
        sticky = Signal(name="y_rnd_sticky")
        m.d.comb += sticky.eq(nsig[: W - kk] != 0 if W > kk else 0)
        d = cut(pipe, "nrm", max(built.delay + dm.logic(max(W - kk, 1)), dm.adder(ew)),
                {"sig": nsig[W - kk:], "exp": e, "sticky": sticky, **d})
        return round_encode(
            m, self.fmt_out, sign=d["sign"], sig=d["sig"], exp=d["exp"].as_signed(),
            sticky=d["sticky"], is_nan=d["nan"], is_inf=d["inf"], rounding=self.rounding,
            pipe=pipe, dm=dm, name="y_rnd")

    def _fine_accumulate(self, m: Module, pipe, addend: Value, v: dict, nan, inf, isg,
                         acc_bits: int, lsb_exp: int, has_flags: bool, delay: float) -> None:
        """fmax mode's accumulator: one ``acc_bits``-bit add when that loop fits the period
        (and always with ``saturate_acc``: an fmax it cannot meet is an error naming the loop
        ``accumulate``), else the MAC's segmented accumulator (``hdl.mac``: chunks whose
        loop fits, ``acc_chunk`` in the sidecar, and 2 or 3 forced carry-resolution stages);
        then the acc -> y conversion with the MAC's fine cuts. ``acc`` and ``flags`` get as
        many registers as the placement puts into that conversion, so ``acc``, ``flags`` and
        ``y`` all show the state after a cycle ``latency`` edges later (those balancing
        registers are not in the placement's register count)."""
        dm = self.dm
        ext = Signal(acc_bits, name="acc_addend")
        m.d.comb += ext.eq(addend)  # sign-extended
        chunk = None if self.saturate_acc else pick_chunk(dm, self.fmax, acc_bits)
        self.acc_chunk, stages = chunk, 0
        if chunk is None:
            loop = dm.lut(1) + dm.adder(acc_bits + 1) + (dm.lut(1) if self.saturate_acc
                                                          else 0.0)
            pipe.loop("accumulate", loop)
            if pipe.plan is not None:
                pipe.plan.forced("accumulate", delay + loop, [Const(0, acc_bits)])
            acc = Signal(acc_bits, name="acc_reg")
            accumulate_register(m, acc, ext, Const(0, 1), v["valid"], v["clear"], self.saturate_acc)
        else:
            stages = resolve_stages(dm, self.fmax, acc_bits, chunk)
            acc = accumulate_segmented(m, ext, Const(0, 1), v["valid"], v["clear"], acc_bits,
                                       chunk, stages)
            accumulator_timing(pipe, dm, acc_bits, chunk, stages)
        flags = None
        if has_flags:
            flags = Signal(3, name="flags_reg")
            special = Cat(nan, inf & ~isg, inf & isg)
            m.d.sync += flags.eq(Mux(v["clear"], 0, flags) | Mux(v["valid"], special, 0))
            flags = delayed(m, flags, stages, "flags")  # meet the resolved acc
        ny = 0
        if isinstance(pipe.plan, Plan):
            segs = [g for g in pipe.plan.segments if not g.loop]
            last = max(i for i, g in enumerate(segs) if g.fixed)
            ny = sum(1 for g in segs[last + 1:] if g.name in pipe.plan.registered)
        m.d.comb += self.acc.eq(delayed(m, acc, ny, "acc_out"))
        if has_flags:
            m.d.comb += self.flags.eq(delayed(m, flags, ny, "flags_out"))
        y = acc_to_float_fine(m, acc, flags, lsb_exp, self.fmt_out, rounding=self.rounding,
                              saturate=False, rand=None, st=pipe, dm=dm, fmax=self.fmax)
        m.d.comb += self.y.as_value().eq(y)


# -- Dot ---------------------------------------------------------------------------------------
class Dot(_DotBase):
    """N-lane dot product ``y = encode(sum_i a_i * b_i [+ c], fmt_out)`` (SPEC 5.1).

    Exact products and an exact adder tree, one rounding (rne, rtz or rna) into ``fmt_out``
    (default float32). ``fmt_a`` / ``fmt_b``: float formats with a zero or integer formats
    (mixed allowed); ``fmt_c``: an optional float addend, placed on the common grid
    ``min(q_a + q_b, q_c)``. With ``accumulate=True`` each cycle's exact sum goes into a
    fixed-point accumulator (SPEC 3.2: ``valid``, ``clear``, ``acc``, ``flags``, ``y``;
    widths from ``golden.params.DotParams``, ``depth`` counting dot products); no addend then.

    Ports ``a0..a{N-1}``, ``b0..b{N-1}`` (``c``), ``y`` (+ MAC ports). See the module
    docstring for the datapath and ``latency``.
    """

    unit = "dot"

    def __init__(self, fmt_a, fmt_b=None, lanes: int = 2, *, fmt_c=None, fmt_out=None,
                 rounding: str = "rne", accumulate: bool = False, depth: int | None = None,
                 acc_bits: int | None = None, saturate_acc: bool = False,
                 latency: int | None = None, target: str | None = None,
                 fmax: float | None = None, dsp: bool = False):
        self.fmt_a = check_operand(fmt_a, "a")
        self.fmt_b = self.fmt_a if fmt_b is None else check_operand(fmt_b, "b")
        self.lanes = _check_hw_lanes(check_lanes(lanes), "Lane count", "lanes")
        self.fmt_c = None if fmt_c is None else check_float(fmt_c, "Dot addend c")
        self._setup_out(fmt_out, rounding, accumulate, latency, saturate_acc, target, fmax,
                        dsp)
        if self.accumulate and self.fmt_c is not None:
            raise ValueError(
                "An accumulating dot product has no addend c: the accumulator is the addend "
                "(drop c, or accumulate=False)"
            )
        if not self.accumulate and (depth is not None or acc_bits is not None):
            raise ValueError("depth and acc_bits apply only with accumulate=True")
        self.params_obj = None
        if self.accumulate:
            self.params_obj = dot_params(
                self.fmt_a, self.fmt_b, self.lanes,
                depth=DEFAULT_DEPTH if depth is None else depth, acc_bits=acc_bits,
            )
        lsb, lo, hi = product_range(self.fmt_a, self.fmt_b)
        self.mag_bits = max(hi, -lo).bit_length()
        top = max(hi, -lo) * self.lanes
        self.lsb_exp = lsb
        self.c_shift = 0
        if self.fmt_c is not None:
            qc, _, hc = format_range(self.fmt_c)
            new = min(lsb, qc)
            top = (top << (lsb - new)) + (hc << (qc - new))
            self.prod_shift, self.c_shift, self.lsb_exp = lsb - new, qc - new, new
            self.mag_bits = (max(hi, -lo) << (lsb - new)).bit_length()
            self.c_bits = (hc << (qc - new)).bit_length()
        else:
            self.prod_shift = 0
        self.sum_bits = top.bit_length() + 1
        p = self.params_obj
        self.params = {
            "a": self.fmt_a.name, "b": self.fmt_b.name, "lanes": self.lanes,
            "c": None if self.fmt_c is None else self.fmt_c.name, "out": self.fmt_out.name,
            "rounding": rounding, "accumulate": self.accumulate,
            "acc_bits": None if p is None else p.acc_bits,
            "saturate_acc": self.saturate_acc, "latency": self.latency,
        }
        self.port_formats = {}
        ports = {}
        self._lane_ports(ports, self.lanes, self.fmt_a, self.fmt_b)
        if self.fmt_c is not None:
            ports["c"] = In(port_shape(self.fmt_c))
            self.port_formats["c"] = self.fmt_c
        self.has_flags = any(
            isinstance(f, FloatFormat) and f.special != "none" for f in (self.fmt_a, self.fmt_b)
        )
        self._out_ports(ports, None if p is None else p.acc_bits, self.has_flags)
        super().__init__(ports)

    def _shape_metadata(self) -> dict:
        return {"lanes": self.lanes}

    def elaborate(self, platform):
        m = Module()
        if self.plan is not None:
            return self._elaborate_fmax(m)
        pipe, st, a_ports, b_ports = self._pipes(m, self.lanes)
        lanes = _dot_terms(m, a_ports, b_ports, self.fmt_a, self.fmt_b, self.mag_bits,
                           self.prod_shift)
        mags = [x[0] for x in lanes]
        nans = [x[1] for x in lanes]
        infs = [x[2] for x in lanes]
        signs = [x[3] for x in lanes]
        nzs = [x[4] for x in lanes]
        if self.fmt_c is not None:
            c = _decode(m, Value.cast(self.c), self.fmt_c, "c")
            cm = Signal(self.c_bits, name="c_aligned")
            m.d.comb += cm.eq(Mux(c.nan | c.inf, 0, ((c.sig << c.off) << self.c_shift)[
                : self.c_bits]))
            mags.append(cm)
            nans.append(c.nan)
            infs.append(c.inf)
            signs.append(c.sign)
            nzs.append(c.zero & c.sign)
        W = self.sum_bits
        terms = _signed_terms(m, mags, signs, W, "t")
        nan, inf, isg = _specials(m, nans, infs, signs, "sum")
        negz = Signal(name="all_neg_zero")
        m.d.comb += negz.eq(_all(nzs))
        terms, v = self._cut_products(pipe, st, terms,
                                      {"nan": nan, "inf": inf, "isg": isg, "negz": negz})
        s, v = self._cut_sum(pipe, st, _adder_tree(m, terms, W), v)
        if self.accumulate:
            blk = Signal(signed(W), name="blk_term")  # a NaN/Inf block adds nothing
            m.d.comb += blk.eq(Mux(v["nan"] | v["inf"], 0, s))
            self._accumulate_out(m, blk, v["nan"], v["inf"], v["isg"], v["valid"], v["clear"],
                                 self.params_obj.acc_bits, self.lsb_exp, self.has_flags)
            return m
        mag, neg = _magnitude(m, s, "sum")
        sign = Signal(name="y_sign")
        m.d.comb += sign.eq(Mux(v["inf"], v["isg"], neg | v["negz"]))
        top = Const(self.lsb_exp + W - 1, signed(max(abs(self.lsb_exp) + W, 2).bit_length() + 2))
        y = _round_out(m, mag, top, sign, v["nan"], v["inf"], self.fmt_out, self.rounding,
                       pipe, "y_rnd")
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m

    def _elaborate_fmax(self, m: Module) -> Module:
        """fmax mode (SPEC 6): :meth:`_fine_front`, then the magnitude (cut ``sum_mag``) and
        :meth:`_fine_round`, or the accumulator (:meth:`_fine_accumulate`)."""
        pipe = Pipeline(m, plan=self.plan)
        dm = self.dm
        W = self.sum_bits
        c = None
        if self.fmt_c is not None:
            c = {"bits": Value.cast(self.c), "fmt": self.fmt_c, "shift": self.c_shift,
                 "bits_out": self.c_bits}
        s, v = self._fine_front(m, pipe, self.fmt_a, self.fmt_b, self.lanes, W, self.mag_bits,
                                extra=self.prod_shift, c=c)
        if self.accumulate:
            blk = Signal(signed(W), name="blk_term")  # a NaN/Inf block adds nothing
            m.d.comb += blk.eq(Mux(v["nan"] | v["inf"], 0, s))
            v = cut(pipe, "blk_term", dm.lut(1), {"blk": blk, **v})
            self._fine_accumulate(m, pipe, v["blk"].as_signed(), v, v["nan"], v["inf"],
                                  v["isg"], self.params_obj.acc_bits, self.lsb_exp,
                                  self.has_flags, 0.0)
            return m
        mag, neg, v, delay = self._fine_magnitude(m, pipe, s, v)
        sign = Signal(name="y_sign")
        m.d.comb += sign.eq(Mux(v["inf"], v["isg"], neg | v["negz"]))
        d = cut(pipe, "sum_mag", delay,
                {"mag": mag, "sign": sign, "nan": v["nan"], "inf": v["inf"]})
        y = self._fine_round(m, pipe, d.pop("mag"), self.lsb_exp + W - 1, d, 0.0)
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m


# -- MXDot -------------------------------------------------------------------------------------
class MXDot(_DotBase):
    """Block-scaled dot product ``y = encode(X_a * X_b * sum_i a_i * b_i, fmt_out)``
    (SPEC 5.2, OCP MX v1.0 section 6.1; NVFP4 with ``scale_fmt='float8_e4m3fn'``, block 16).

    One block per cycle: ``block`` elements of A and B in ``elem`` / ``elem_b`` (the OCP
    element formats, any float format with a zero, or ``mxint8``), scales ``scale_a``,
    ``scale_b`` in ``float8_e8m0fnu`` (default) or ``float8_e4m3fn``. Exact products and sum
    on the elements' grid, the scale applied once, one rounding; or ``accumulate=True``: the
    exact block value into a fixed-point accumulator on the grid ``2**(q_a + q_b + 2 q_s)``
    (``golden.params.MxDotParams``; E8M0 scales make it span 2^-254..2^254 times the element
    range: exact across blocks) with the MAC contract (``valid``, ``clear``, ``acc``,
    ``flags``, ``y``). Ports ``scale_a``, ``scale_b``, ``a0..a{k-1}``, ``b0..b{k-1}``, ``y``.
    """

    unit = "mx-dot"

    def __init__(self, elem, elem_b=None, block: int | None = None, *,
                 scale_fmt="float8_e8m0fnu", fmt_out=None, rounding: str = "rne",
                 accumulate: bool = False, depth: int | None = None,
                 acc_bits: int | None = None, saturate_acc: bool = False,
                 latency: int | None = None, target: str | None = None,
                 fmax: float | None = None, dsp: bool = False):
        self.elem = check_mx_element(elem, "element")
        self.elem_b = self.elem if elem_b is None else check_mx_element(elem_b, "element b")
        self.scale_fmt = check_scale_format(scale_fmt)
        self.block = default_block(self.scale_fmt) if block is None else _check_hw_lanes(
            check_block(block), "Block size", "block")
        self._setup_out(fmt_out, rounding, accumulate, latency, saturate_acc, target, fmax,
                        dsp)
        if not self.accumulate and (depth is not None or acc_bits is not None):
            raise ValueError("depth and acc_bits apply only with accumulate=True")
        self.params_obj = mx_dot_params(
            self.elem, elem_b=self.elem_b, block=self.block, scale_fmt=self.scale_fmt,
            depth=DEFAULT_DEPTH if depth is None else depth,
            acc_bits=acc_bits if self.accumulate else None,
        )
        lsb, lo, hi = product_range(self.elem, self.elem_b)
        self.lsb_exp = lsb
        self.mag_bits = max(hi, -lo).bit_length()
        self.sum_bits = self.params_obj.sum_bits
        p = self.params_obj
        self.params = {
            "a": self.elem.name, "b": self.elem_b.name, "block": self.block,
            "scale": self.scale_fmt.name, "out": self.fmt_out.name, "rounding": rounding,
            "accumulate": self.accumulate, "acc_bits": p.acc_bits if self.accumulate else None,
            "saturate_acc": self.saturate_acc, "latency": self.latency,
        }
        self.port_formats = {"scale_a": self.scale_fmt, "scale_b": self.scale_fmt}
        ports = {"scale_a": In(port_shape(self.scale_fmt)),
                 "scale_b": In(port_shape(self.scale_fmt))}
        self._lane_ports(ports, self.block, self.elem, self.elem_b)
        self.has_flags = True  # a NaN scale is always possible
        self._out_ports(ports, p.acc_bits if self.accumulate else None, True)
        super().__init__(ports)

    def _shape_metadata(self) -> dict:
        return {"block": self.block, "elem": str(self.elem), "elem_b": str(self.elem_b),
                "scale": str(self.scale_fmt)}

    def elaborate(self, platform):
        m = Module()
        if self.plan is not None:
            return self._elaborate_fmax(m)
        acc = self.accumulate
        pipe, st, a_ports, b_ports = self._pipes(m, self.block)
        lanes = _dot_terms(m, a_ports, b_ports, self.elem, self.elem_b, self.mag_bits, 0)
        W = self.sum_bits
        terms = _signed_terms(m, [x[0] for x in lanes], [x[3] for x in lanes], W, "t")
        nan, inf, isg = _specials(m, [x[1] for x in lanes], [x[2] for x in lanes],
                                  [x[3] for x in lanes], "sum")
        negz = Signal(name="all_neg_zero")
        m.d.comb += negz.eq(_all([x[4] for x in lanes]))
        sf = self.scale_fmt
        sa = _decode(m, Value.cast(self.scale_a), sf, "sa")
        sb = _decode(m, Value.cast(self.scale_b), sf, "sb")
        # the scale pair, applied once: nan, sign, significand product, exponent offset
        s_nan = Signal(name="scale_nan")
        s_zero = Signal(name="scale_zero")
        s_sign = Signal(name="scale_sign")
        s_sig = Signal(len(sa.sig) + len(sb.sig), name="scale_sig")
        s_off = Signal(len(sa.off) + 1, name="scale_off")
        m.d.comb += [
            s_nan.eq(sa.nan | sb.nan), s_zero.eq(sa.zero | sb.zero), s_sign.eq(sa.sign ^ sb.sign),
            s_sig.eq(sa.sig * sb.sig), s_off.eq(sa.off + sb.off),
        ]
        terms, v = self._cut_products(pipe, st, terms, {
            "nan": nan, "inf": inf, "isg": isg, "negz": negz, "s_nan": s_nan,
            "s_zero": s_zero, "s_sign": s_sign, "s_sig": s_sig, "s_off": s_off})
        s, v = self._cut_sum(pipe, st, _adder_tree(m, terms, W), v)
        mag, neg = _magnitude(m, s, "sum")
        bnan = Signal(name="blk_nan")
        binf = Signal(name="blk_inf")
        m.d.comb += [
            bnan.eq(v["nan"] | v["s_nan"] | (v["inf"] & v["s_zero"])),
            binf.eq(v["inf"] & ~bnan),
        ]
        isg = v["isg"] ^ v["s_sign"]
        scaled = Signal(W + len(s_sig), name="blk_scaled")
        m.d.comb += scaled.eq(mag * v["s_sig"])
        if acc:
            p = self.params_obj
            mw = p.block_bits - 1
            big = Signal(mw, name="blk_aligned")
            m.d.comb += big.eq(Mux(bnan | binf, 0, (scaled << v["s_off"])[:mw]))
            bneg = neg ^ v["s_sign"]
            addend = Signal(signed(mw + 1), name="blk_term")
            m.d.comb += addend.eq(Mux(bneg, -big, big))
            self._accumulate_out(m, addend, bnan, binf, isg, v["valid"], v["clear"],
                                 p.acc_bits, p.acc_lsb_exp, True)
            return m
        sign = Signal(name="y_sign")
        m.d.comb += sign.eq(Mux(binf, isg, (neg | v["negz"]) ^ v["s_sign"]))
        q2 = 2 * format_range(sf)[0]
        Wm = len(scaled)
        hi = abs(self.lsb_exp) + abs(q2) + Wm + (1 << len(s_off))
        top = Signal(signed(hi.bit_length() + 2), name="blk_top_exp")
        m.d.comb += top.eq(self.lsb_exp + q2 + Wm - 1 + v["s_off"])
        y = _round_out(m, scaled, top, sign, bnan, binf, self.fmt_out, self.rounding, pipe,
                       "y_rnd")
        m.d.comb += self.y.as_value().eq(pipe.finish(y))
        return m

    def _elaborate_fmax(self, m: Module) -> Module:
        """fmax mode (SPEC 6): :meth:`_fine_front` (the scale pair decoded beside the
        lanes, its exponent sum and, for E4M3 scales, its significand product beside the
        products), the magnitude (cut ``sum_mag``), the scale's significand applied once
        (``scaled``: a ``*`` or a partial-product tree), then :meth:`_fine_round`; or, with
        ``accumulate``, the block value shifted by the scale exponent level by level onto
        the accumulator's grid (``shift_level``), signed (``blk_term``), accumulated."""
        pipe = Pipeline(m, plan=self.plan)
        dm = self.dm
        W = self.sum_bits
        sf = self.scale_fmt
        s, v = self._fine_front(
            m, pipe, self.elem, self.elem_b, self.block, W, self.mag_bits,
            scale={"a": Value.cast(self.scale_a), "b": Value.cast(self.scale_b), "fmt": sf})
        mag, neg, v, d_mag = self._fine_magnitude(m, pipe, s, v)
        bnan = Signal(name="blk_nan")
        binf = Signal(name="blk_inf")
        isg = Signal(name="blk_inf_sign")
        m.d.comb += [
            bnan.eq(v["nan"] | v["s_nan"] | (v["inf"] & v["s_zero"])),
            binf.eq(v["inf"] & ~bnan), isg.eq(v["isg"] ^ v["s_sign"]),
        ]
        has_sig = bool(sf.man_bits)  # E4M3 scales: a significand product; E8M0: none
        Wm = W + (len(v["s_sig"]) if has_sig else 0)
        s_off = v["s_off"]
        q2 = 2 * format_range(sf)[0]
        hi = abs(self.lsb_exp) + abs(q2) + Wm + (1 << len(s_off))
        top = Signal(signed(hi.bit_length() + 2), name="blk_top_exp")
        s_drop = 2 if sf.zero else 0  # s_off is the offsets' sum + 2 for E4M3 (f1 = off + 1)
        m.d.comb += top.eq(self.lsb_exp + q2 + Wm - 1 - s_drop + s_off)
        d = {"mag": mag, "nan": bnan, "inf": binf, "isg": isg, "s_sig": v.get("s_sig")}
        if self.accumulate:
            d.update(bneg=neg ^ v["s_sign"], s_off=s_off, valid=v["valid"], clear=v["clear"])
        else:
            sign = Signal(name="y_sign")
            m.d.comb += sign.eq(Mux(binf, isg, (neg | v["negz"]) ^ v["s_sign"]))
            d.update(sign=sign, top=top)
        d = cut(pipe, "sum_mag", max(d_mag, dm.adder(len(top)) + dm.lut(1)), d)
        mag, ssig = d.pop("mag"), d.pop("s_sig")
        if has_sig:  # the scale's significand product, applied once, exact
            if dm.star_fits(W, len(ssig), self.fmax):
                scaled = Signal(Wm, name="blk_scaled")
                m.d.comb += scaled.eq(mag * ssig)
                delay = dm.multiplier(W, len(ssig))
            else:
                built = tree_multiply(m, mag, ssig, pipe=pipe, dm=dm, carry=d, name="blk_mul")
                scaled, d, delay = built.value, built.carry, built.delay
            d = cut(pipe, "scaled", delay, {"scaled": scaled, **d})
            scaled = d.pop("scaled")
        else:
            scaled = mag
        if not self.accumulate:
            top = d.pop("top")
            y = self._fine_round(m, pipe, scaled, top, d, 0.0)
            m.d.comb += self.y.as_value().eq(pipe.finish(y))
            return m
        p = self.params_obj
        mw = p.block_bits - 1
        x = Cat(scaled, Const(0, max(mw + s_drop - len(scaled), 0)))[: mw + s_drop]
        s_off = d.pop("s_off")
        built = staged_shift_left(m, x, s_off, pipe=pipe, dm=dm, carry=d, name="blk_align")
        d = built.carry
        # the sign: (big xor neg) + neg (a NaN/Inf block adds nothing), in carry-chain chunks
        # that fit the period
        big = Signal(mw + 1, name="blk_aligned")
        m.d.comb += big.eq(Mux(d["nan"] | d["inf"], 0, built.value[s_drop:])
                           ^ d["bneg"].replicate(mw + 1))
        neg = built.carry["bneg"]
        built = chunked_add(m, big, Const(0, 1), cin=neg,
                            chunk=adder_chunk(dm, self.fmax, mw + 1, built.delay + dm.lut(1)),
                            pipe=pipe,
                            dm=dm, carry=d, delay_in=built.delay + dm.lut(1), name="blk_neg")
        d = cut(pipe, "blk_term", built.delay, {"addend": built.value[: mw + 1],
                                                **built.carry})
        self._fine_accumulate(m, pipe, d["addend"].as_signed(), d, d["nan"], d["inf"],
                              d["isg"], p.acc_bits, p.acc_lsb_exp, True, 0.0)
        return m


# -- registry ----------------------------------------------------------------------------------
_ACC = ("accumulate", "depth", "acc_bits", "saturate_acc", "latency", "target", "fmax",
        "dsp")


@unit_builder(
    "dot", ("a", "b", "lanes", "c", "out", "rounding") + _ACC,
    "N-lane dot product, exact, one rounding into --out (default float32); --accumulate: "
    "into a fixed-point accumulator (MAC contract)",
)
def dot_builder(a=None, b=None, lanes=None, c=None, out=None, rounding="rne", accumulate=False,
                depth=None, acc_bits=None, saturate_acc=False, latency=None, target=None,
                fmax=None, dsp=False):
    if a is None:
        raise ValueError("Unit 'dot' needs an operand format (--a)")
    if lanes is None:
        raise ValueError("Unit 'dot' needs a lane count (--lanes N)")
    if accumulate and c is not None:
        raise ValueError(
            "Unit 'dot' takes --c or --accumulate, not both: the accumulator is the addend"
        )
    return Dot(a, b, lanes, fmt_c=c, fmt_out=out, rounding=rounding, accumulate=accumulate,
               depth=depth, acc_bits=acc_bits, saturate_acc=saturate_acc,
               latency=latency, target=target, fmax=fmax, dsp=dsp)


@unit_builder(
    "mx-dot", ("elem", "elem_b", "block", "scale", "out", "rounding") + _ACC,
    "OCP MX / NVFP4 block-scaled dot product (k elements, shared scales), exact, one "
    "rounding; --accumulate: exact across blocks",
)
def mx_dot_builder(elem=None, elem_b=None, block=None, scale=None, out=None, rounding="rne",
                   accumulate=False, depth=None, acc_bits=None, saturate_acc=False,
                   latency=None, target=None, fmax=None, dsp=False):
    if elem is None:
        raise ValueError("Unit 'mx-dot' needs an element format (--elem)")
    return MXDot(elem, elem_b, block, scale_fmt="float8_e8m0fnu" if scale is None else scale,
                 fmt_out=out, rounding=rounding, accumulate=accumulate, depth=depth,
                 acc_bits=acc_bits, saturate_acc=saturate_acc,
                 latency=latency, target=target, fmax=fmax, dsp=dsp)
