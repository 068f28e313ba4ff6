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
5. one rounding into ``fmt_out`` through the shared rounder (``hdl.float.round_encode``), or
   with ``accumulate=True`` the exact block value into SPEC 3.2's fixed-point accumulator
   (``hdl.mac``'s accumulator register and its acc -> y conversion) with the MAC contract.

Specials: NaN in any lane, Inf x 0, or +Inf and -Inf products together give NaN; an Inf
product gives that Inf. An exact zero sum is +0 unless every term is -0 (SPEC 5.1).

Pipeline cut points (``latency`` registers, evenly spaced over): products ``|`` sum ``|``
the rounder's alignment (``round``), extra registers at the output. With ``accumulate``,
``latency`` >= 1 counts edges until ``acc`` shows the state after a cycle; its ``latency -
1`` further registers go to the cuts products ``|`` sum (at most 3 in all).
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

from .base import Unit, unit_builder
from .float import decode_float, decode_int, normalize, port_shape, round_encode
from .mac import _acc_to_float, _accumulate
from .util import Pipeline, check_latency

__all__ = ["Dot", "MXDot"]


# -- datapath pieces ---------------------------------------------------------------------------
class _Term:
    """A decoded operand: value = (-1)**sign * sig * 2**(q + off)."""

    def __init__(self, sign, sig, off, nan, inf, zero):
        self.sign, self.sig, self.off = sign, sig, off
        self.nan, self.inf, self.zero = nan, inf, zero


def _decode(m: Module, bits: Value, fmt, name: str) -> _Term:
    if isinstance(fmt, IntFormat):
        d = decode_int(m, bits, fmt, name)
        return _Term(d.sign, d.sig, Const(0, 1), Const(0, 1), Const(0, 1), d.is_zero)
    d = decode_float(m, bits, fmt, name, normalize_sub=False)
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
    latency = check_latency(
        latency, minimum=1, what="Accumulating dot latency",
        why="the accumulator is a register, so acc shows a block one clock edge after "
            "accepting it at the earliest",
    )
    if latency > 3:
        raise ValueError(
            f"Accumulating dot latency must be at most 3 (registers after the products and "
            f"after the sum, then the accumulator), not {latency}"
        )
    return latency


class _DotBase(Unit):
    """What Dot and MXDot share: the output side (rounding or accumulation)."""

    def _setup_out(self, fmt_out, rounding, accumulate, latency, saturate_acc):
        self.accumulate = check_bool(accumulate, "accumulate")
        self.saturate_acc = check_bool(saturate_acc, "saturate_acc")
        if self.saturate_acc and not self.accumulate:
            raise ValueError("saturate_acc applies only with accumulate=True")
        self.rounding = check_dot_rounding(rounding)
        self.fmt_out = check_float("float32" if fmt_out is None else fmt_out,
                                   f"{self.unit} output")
        if latency is None:
            latency = 1 if self.accumulate else 0
        self.latency = _acc_latency(latency) if self.accumulate else check_latency(latency)

    def _out_ports(self, ports: dict, acc_bits: int | None, has_flags: bool) -> None:
        ports["y"] = Out(port_shape(self.fmt_out))
        if self.accumulate:
            ports.update({"valid": In(1), "clear": In(1), "acc": Out(acc_bits)})
            if has_flags:
                ports["flags"] = Out(3)
        self.port_formats["y"] = self.fmt_out

    @property
    def cut_points(self) -> list[str]:
        """Registered cuts before the accumulator (accumulate mode)."""
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
        vals = pipe.stage("product", *terms, *v.values())
        return ([t.as_signed() for t in vals[: len(terms)]],
                dict(zip(v, vals[len(terms):], strict=True)))

    def _cut_sum(self, pipe, st, s: Value, v: dict) -> tuple[Value, dict]:
        """The cut after the adder tree."""
        if self.accumulate:
            if "sum" not in self.cut_points:
                return s, v
            regs = st.register({**v, "s": s}, "s_")
            return regs["s"].as_signed(), {k: regs[k] for k in v}
        vals = pipe.stage("sum", s, *v.values())
        return vals[0].as_signed(), dict(zip(v, vals[1:], strict=True))

    def _accumulate_out(self, m, addend: Value, nan, inf, isg, valid, clear, acc_bits: int,
                        lsb_exp: int, has_flags: bool) -> None:
        acc = Signal(acc_bits, name="acc_reg")
        ext = Signal(acc_bits, name="acc_addend")
        m.d.comb += ext.eq(addend)  # sign-extended
        _accumulate(m, acc, ext, Const(0, 1), valid, clear, self.saturate_acc)
        m.d.comb += self.acc.eq(acc)
        flags = None
        if has_flags:
            flags = Signal(3, name="flags_reg")
            special = Cat(nan, inf & ~isg, inf & isg)
            m.d.sync += flags.eq(Mux(clear, 0, flags) | Mux(valid, special, 0))
            m.d.comb += self.flags.eq(flags)
        y = _acc_to_float(
            m, acc, flags, lsb_exp, self.fmt_out, rounding=self.rounding, saturate=False,
            rand=None, y_latency=0, stages=None,
        )
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
                 latency: int | None = None):
        self.fmt_a = check_operand(fmt_a, "a")
        self.fmt_b = self.fmt_a if fmt_b is None else check_operand(fmt_b, "b")
        self.lanes = check_lanes(lanes)
        self.fmt_c = None if fmt_c is None else check_float(fmt_c, "Dot addend c")
        self._setup_out(fmt_out, rounding, accumulate, latency, saturate_acc)
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

    def extra_metadata(self) -> dict:
        meta = {"lanes": self.lanes, "sum_bits": self.sum_bits, "sum_lsb_exp": self.lsb_exp}
        if self.params_obj is not None:
            meta.update(self.params_obj.summary())
            meta["cut_points"] = self.cut_points
        return meta

    def elaborate(self, platform):
        m = Module()
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
                 latency: int | None = None):
        self.elem = check_mx_element(elem, "element")
        self.elem_b = self.elem if elem_b is None else check_mx_element(elem_b, "element b")
        self.scale_fmt = check_scale_format(scale_fmt)
        self.block = default_block(self.scale_fmt) if block is None else check_block(block)
        self._setup_out(fmt_out, rounding, accumulate, latency, saturate_acc)
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

    def extra_metadata(self) -> dict:
        p = self.params_obj
        meta = {"block": self.block, "elem": str(self.elem), "elem_b": str(self.elem_b),
                "scale": str(self.scale_fmt), "sum_bits": self.sum_bits,
                "sum_lsb_exp": self.lsb_exp}
        if self.accumulate:
            meta.update(p.summary())
            meta["cut_points"] = self.cut_points
        return meta

    def elaborate(self, platform):
        m = Module()
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


# -- registry ----------------------------------------------------------------------------------
_ACC = ("accumulate", "depth", "acc_bits", "saturate_acc", "latency")


@unit_builder(
    "dot", ("a", "b", "lanes", "c", "out", "rounding") + _ACC,
    "N-lane dot product, exact, one rounding into --out (default float32); --accumulate: "
    "into a fixed-point accumulator (MAC contract)",
)
def dot_builder(a=None, b=None, lanes=None, c=None, out=None, rounding="rne", accumulate=False,
                depth=None, acc_bits=None, saturate_acc=False, latency=None):
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
               latency=latency)


@unit_builder(
    "mx-dot", ("elem", "elem_b", "block", "scale", "out", "rounding") + _ACC,
    "OCP MX / NVFP4 block-scaled dot product (k elements, shared scales), exact, one "
    "rounding; --accumulate: exact across blocks",
)
def mx_dot_builder(elem=None, elem_b=None, block=None, scale=None, out=None, rounding="rne",
                   accumulate=False, depth=None, acc_bits=None, saturate_acc=False,
                   latency=None):
    if elem is None:
        raise ValueError("Unit 'mx-dot' needs an element format (--elem)")
    return MXDot(elem, elem_b, block, scale_fmt="float8_e8m0fnu" if scale is None else scale,
                 fmt_out=out, rounding=rounding, accumulate=accumulate, depth=depth,
                 acc_bits=acc_bits, saturate_acc=saturate_acc,
                 latency=latency)
