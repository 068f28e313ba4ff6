"""Float building blocks: ``FloatLayout``, the decoder, the product rule and the raw layout.

Structure follows HardFloat: decode -> raw datapath -> round -> encode. The stages carry the
names of their golden twins (``exmy.golden``): :func:`decode` (golden ``decode``),
:func:`mul_raw` (golden ``mul_raw``), the unit's datapath (the FMA's aligned add,
``exmy.hdl.fma_add.add_raw``, is golden ``add_raw``), then the rounder in
:mod:`exmy.hdl.rounding` (golden ``encode``: its ``round`` and then the packing into fields).
Every float unit decodes its operands with :func:`decode`, so the class and exponent rules of
a format are written once (here), and hands its raw result to one of the rounder's contracts.

Inside the datapaths a raw value is ``(sign, sig, exp, sticky, is_nan, is_inf)`` with ``exp``
the weight of sig's top bit (the rounder's contract, :mod:`exmy.hdl.rounding`);
:class:`RawLayout` is the typed form in golden's convention (``exp`` the weight of sig's LSB)
that a stage's output is tested in against its golden twin (:func:`as_raw`).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data

from exmy.golden.format import FloatFormat, IntFormat
from exmy.golden.params import Special

from .arith import cut
from .timing import delay_model
from .util import Pipeline, fine_mode, leading_zeros

__all__ = [
    "FloatLayout",
    "Unpacked",
    "decode",
    "decode_float",
    "decode_floats",
    "decode_delay",
    "decode_int",
    "normalize",
    "product_inf",
    "product_nan",
    "mul_raw",
    "as_raw",
    "RawLayout",
    "port_shape",
]

class FloatLayout(data.StructLayout):
    """Encoding of ``fmt`` as a struct: fields man (absent when M = 0), exp, sign (LSB to
    MSB). Remembers the format, because ``wiring.connect`` only compares widths."""

    def __init__(self, fmt: FloatFormat):
        if not isinstance(fmt, FloatFormat):
            raise TypeError(f"FloatLayout needs a FloatFormat, not {fmt!r}")
        # (no zero-width "man" field for M = 0 formats: it would be a [-1:0] wire in Verilog)
        fields = {"man": unsigned(fmt.man_bits)} if fmt.man_bits else {}
        fields["exp"] = unsigned(fmt.exp_bits)
        if fmt.signed:
            fields["sign"] = unsigned(1)
        super().__init__(fields)
        self.float_format = fmt

    def __eq__(self, other):
        return isinstance(other, FloatLayout) and other.float_format == self.float_format

    def __hash__(self):
        return hash(("FloatLayout", self.float_format))

    def __repr__(self):
        return f"FloatLayout({self.float_format.name})"


def port_shape(fmt: FloatFormat | IntFormat):
    """The port shape for a value in ``fmt`` (a FloatLayout or a plain width)."""
    if isinstance(fmt, FloatFormat):
        return FloatLayout(fmt)
    return unsigned(fmt.width)


@dataclass
class Unpacked:
    """A decoded operand or an exact raw value in the datapath's convention: value =
    (-1)**sign * sig * 2**(exp - (len(sig)-1)) (``exp`` the weight of sig's *top* bit;
    :func:`as_raw` gives the :class:`RawLayout` form, golden's convention)."""

    sign: Value
    sig: Value
    exp: Value
    is_nan: Value
    is_inf: Value
    is_zero: Value


def product_nan(a: Unpacked, b: Unpacked, *, a_zero: Value | None = None,
                b_zero: Value | None = None) -> Value:
    """SPEC 3's product rule, the one place it is written: ``a*b`` is NaN when either operand
    is NaN or it is Inf x 0 (``a_zero``/``b_zero`` override the zero flags: L-Mul counts
    subnormals as zero). The golden twin is ``exmy.golden.mul_raw``'s ``nan``."""
    az = a.is_zero if a_zero is None else a_zero
    bz = b.is_zero if b_zero is None else b_zero
    return a.is_nan | b.is_nan | (a.is_inf & bz) | (az & b.is_inf)


def product_inf(a: Unpacked, b: Unpacked, nan: Value) -> Value:
    """The other half of the product rule: Inf when either operand is Inf and ``nan`` (the
    product's NaN flag, from :func:`product_nan`) is not set."""
    return (a.is_inf | b.is_inf) & ~nan


def _exp_signal(lo: int, hi: int, name: str) -> Signal:
    return Signal(range(min(lo, -1), max(hi, 1) + 1), name=name)


def decode(m: Module, bits: Value, fmt: FloatFormat, name: str, *, normalize_sub=True,
           flags: dict | None = None) -> Unpacked:
    """The decode stage (golden twin: ``exmy.golden.decode``): split an encoding into sign,
    significand (p = M+1 bits), exponent (the weight of sig's top bit) and class flags.

    Without ``normalize_sub`` the fields are golden's, field for field, in the other exponent
    convention (:func:`as_raw`): golden's ``exp`` is this ``exp - M``; zero has sig 0 (and
    exp emin); a NaN's sign is 0 (golden keeps the sign bit; both are NaN), and the sig and
    exp of NaN and Inf are don't-cares (golden: 0).

    With ``normalize_sub`` subnormal significands are shifted so their leading one is at the
    top (HardFloat's recoded form): the product of two such significands then has its leading
    one at bit W-1 or W-2, which is the rounder's contract.

    ``flags`` (fmax mode, :func:`decode_floats`): precomputed field tests ``top`` (exponent
    field all ones), ``sub`` (exponent field 0), ``man_nz`` (mantissa field non-zero),
    ``man_ones`` (mantissa field all ones) and ``ebias`` (exponent field - bias), so the
    decoder after a cut is only the class logic.
    """
    bits = Value.cast(bits)
    M, E = fmt.man_bits, fmt.exp_bits
    p = M + 1
    man = bits[:M]
    e = bits[M : M + E]
    sign = bits[M + E] if fmt.signed else Const(0, 1)
    fl = flags or {}
    top = fl["top"] if flags else e == fmt.exp_max_field
    nan = Signal(name=f"{name}_is_nan")
    inf = Signal(name=f"{name}_is_inf")
    zero = Signal(name=f"{name}_is_zero")
    if fmt.special == Special.IEEE:
        if flags:
            m.d.comb += [nan.eq(top & fl["man_nz"]), inf.eq(top & ~fl["man_nz"])]
        else:
            m.d.comb += [nan.eq(top & (man != 0)), inf.eq(top & (man == 0))]
    elif fmt.special == Special.FN:
        m.d.comb += nan.eq(top & (fl["man_ones"] if flags else man == fmt.man_mask))
    elif fmt.special == Special.FNUZ:
        if flags:
            m.d.comb += nan.eq(sign & fl["sub"] & ~fl["man_nz"])
        else:
            m.d.comb += nan.eq(sign & (e == 0) & (man == 0))
    sig = Signal(p, name=f"{name}_sig")
    exp = _exp_signal(fmt.emin - M - 1, fmt.emax, f"{name}_exp")
    sgn = Signal(name=f"{name}_sign")
    if fmt.special == Special.FNUZ and not fmt.subnormals:
        # fnuz has no -0: sign-1 exp-0 codes other than the NaN are +0 (SPEC 1.1)
        m.d.comb += sgn.eq(sign & ~nan & ~zero)
    else:
        m.d.comb += sgn.eq(sign & ~nan)
    ebias = fl["ebias"] if flags else e - fmt.bias
    if not fmt.zero:
        m.d.comb += [sig.eq(Cat(man, Const(1, 1))), exp.eq(ebias)]
        m.d.comb += zero.eq(0)
        return Unpacked(sgn, sig, exp, nan, inf, zero)
    sub = fl["sub"] if flags else e == 0
    if fmt.subnormals:
        m.d.comb += zero.eq(sub & (~fl["man_nz"] if flags else man == 0) & ~nan)
    else:
        m.d.comb += zero.eq(sub & ~nan)
    if flags and fmt.subnormals and not normalize_sub:
        # (fmax mode) zero and an fnuz NaN have man = 0: no multiplexer on the class flags
        m.d.comb += [sig.eq(Cat(man, ~sub)), exp.eq(Mux(sub, fmt.emin, ebias))]
        return Unpacked(sgn, sig, exp, nan, inf, zero)
    with m.If(~sub):
        m.d.comb += [sig.eq(Cat(man, Const(1, 1))), exp.eq(ebias)]
    with m.Elif(zero | nan | ~Const(int(fmt.subnormals), 1)):
        m.d.comb += [sig.eq(0), exp.eq(fmt.emin)]
    with m.Else():
        if normalize_sub and M > 0:
            lz = leading_zeros(m, man, f"{name}_sub_lz")
            m.d.comb += [
                sig.eq((man << (lz + 1))[:p]),
                exp.eq(fmt.emin - 1 - lz),
            ]
        else:
            m.d.comb += [sig.eq(Cat(man, Const(0, 1))), exp.eq(fmt.emin)]
    return Unpacked(sgn, sig, exp, nan, inf, zero)


#: :func:`decode`'s earlier name
decode_float = decode


def mul_raw(m: Module, a: Unpacked, b: Unpacked, *, exp_shape, sig: Value | None = None,
            names: dict[str, str] | None = None, stmts: list | None = None) -> Unpacked:
    """The exact product of two decoded operands (:func:`decode`): the stage after decode
    (golden twin: ``exmy.golden.mul_raw``), in the datapath's convention.

    ``sig`` = ``a.sig * b.sig`` (one ``*``, ``len(a.sig) + len(b.sig)`` bits; or ``sig``,
    the same product built by the caller, e.g. a partial-product tree), ``exp`` =
    ``a.exp + b.exp + 1`` (the weight of the product's top bit, a ``exp_shape`` signal),
    ``sign`` the xor, ``is_nan`` / ``is_inf`` the product rule (:func:`product_nan`,
    :func:`product_inf`), ``is_zero`` either operand zero. Fed with ``decode(...,
    normalize_sub=False)`` its :func:`as_raw` equals golden ``mul_raw`` field for field (NaN
    and Inf lanes: the flags). ``names``: a Signal name per field (``sig``, ``exp``, ``sign``,
    ``is_nan``, ``is_inf``, ``is_zero``); the default names the multiplier's ``s0_product``,
    ``s0_exp``, ``s0_sign``, ``s0_is_nan`` and ``s0_is_inf`` and leaves ``is_zero`` an
    expression; a field missing from ``names`` stays an expression (no signal). ``stmts``: a
    list that takes the flag signals' assignments instead of ``m`` (the caller adds them
    with its own, keeping its statement order and so its Verilog)."""
    if names is None:
        names = {"sig": "s0_product", "exp": "s0_exp", "sign": "s0_sign",
                 "is_nan": "s0_is_nan", "is_inf": "s0_is_inf"}
    if sig is None:
        sig = a.sig * b.sig
        if "sig" in names:
            prod = Signal(len(a.sig) + len(b.sig), name=names["sig"])
            m.d.comb += prod.eq(sig)
            sig = prod
    exp = Signal(exp_shape, name=names.get("exp", "s0_exp"))
    m.d.comb += exp.eq(a.exp + b.exp + 1)
    flags = {}
    for f in ("sign", "is_nan", "is_inf", "is_zero"):
        flags[f] = Signal(name=names[f]) if f in names else None
    nan = product_nan(a, b)
    exprs = {"sign": a.sign ^ b.sign, "is_nan": nan, "is_zero": a.is_zero | b.is_zero}
    exprs["is_inf"] = product_inf(a, b, flags["is_nan"] if flags["is_nan"] is not None else nan)
    out = {}
    flag_stmts = []
    for f in ("sign", "is_nan", "is_inf", "is_zero"):
        if flags[f] is not None:
            flag_stmts.append(flags[f].eq(exprs[f]))
            out[f] = flags[f]
        else:
            out[f] = exprs[f]
    if stmts is not None:
        stmts += flag_stmts
    elif flag_stmts:
        m.d.comb += flag_stmts
    return Unpacked(sig=sig, exp=exp, **out)


class RawLayout(data.StructLayout):
    """The raw intermediate as a typed struct, in golden's convention (``exmy.golden.Raw``,
    same field meanings)::

        value = (-1)**sign * (sig + delta) * 2**exp      exp: the weight of sig's LSB
        sticky  = (0 < delta < 1)                         bits dropped below sig
        is_nan, is_inf override the value; is_zero = the value is an exact zero
                                                          (sig == 0, not sticky, not special)

    ``sig`` is ``sig_width`` bits, ``exp`` a signed ``exp_width``-bit integer. A stage that
    hands a ``RawLayout`` value to the rounder (``Rounder``) is tested against golden's
    ``encode`` of the same ``Raw``, field for field (tests/test_raw_stages.py). Inside the
    datapaths the exponent is the weight of the *top* bit (``exp + sig_width - 1``), which is
    what :func:`round_standard` takes.
    """

    def __init__(self, sig_width: int, exp_width: int):
        if not isinstance(sig_width, int) or sig_width < 1:
            raise ValueError(f"RawLayout sig_width must be a positive integer, not {sig_width!r}")
        if not isinstance(exp_width, int) or exp_width < 2:
            raise ValueError(f"RawLayout exp_width must be an integer >= 2, not {exp_width!r}")
        super().__init__({
            "sign": unsigned(1), "exp": signed(exp_width), "sig": unsigned(sig_width),
            "sticky": unsigned(1), "is_nan": unsigned(1), "is_inf": unsigned(1),
            "is_zero": unsigned(1),
        })
        self.sig_width, self.exp_width = sig_width, exp_width


def as_raw(m: Module, up: Unpacked, layout: RawLayout, name: str, *,
           sticky: Value | int = 0) -> data.View:
    """``up`` (the datapath's convention: ``exp`` the weight of sig's top bit) as a
    :class:`RawLayout` value (golden's convention, ``exmy.golden.Raw``: ``exp`` the weight of
    sig's LSB), a new signal ``name``: the typed form of a stage's output, what a stage is
    tested against its golden twin with. ``layout.sig_width`` must hold ``up.sig``."""
    W = len(Value.cast(up.sig))
    if layout.sig_width < W:
        raise ValueError(f"RawLayout sig_width {layout.sig_width} cannot hold a {W}-bit "
                         f"significand")
    raw = Signal(layout, name=name)
    m.d.comb += [raw.sign.eq(up.sign), raw.sig.eq(up.sig), raw.exp.eq(up.exp - (W - 1)),
                 raw.sticky.eq(sticky), raw.is_nan.eq(up.is_nan), raw.is_inf.eq(up.is_inf),
                 raw.is_zero.eq(up.is_zero)]
    return raw


def decode_delay(dm, fmt: FloatFormat) -> float:
    """Delay (ns, delay model ``dm``) of :func:`decode` without subnormal normalisation:
    the class flags (a function of the exponent and mantissa fields) and the unbiased
    exponent (an adder, then the zero/subnormal multiplexer)."""
    E, M = fmt.exp_bits, fmt.man_bits
    return max(dm.logic(E + M + 1), dm.adder(E + 1) + dm.lut(1))


def decode_floats(m: Module, operands, *, pipe: Pipeline | None = None, dm=None,
                  carry: dict | None = None, delay_in: float = 0.0,
                  normalize_sub: bool = True):
    """:func:`decode` of several operands side by side (``operands``: a list of
    ``(bits, fmt, name)``), with a fine cut point in fmax mode: ``"dec_class"`` after the
    field tests (exponent all ones / zero, mantissa non-zero / all ones in groups, exponent
    minus bias) and, beside them, the subnormal shift amounts (leading-zero counts); the
    classes and the normalising shift follow (their delay is returned for the caller's next
    cut). ``carry``: other values still
    needed later. Returns ``(unpacked list, carry, delay)``: ``delay`` (ns) is the logic
    after the last cut. With an explicit latency (or no pipe) this is exactly
    :func:`decode` per operand."""
    dm = dm or delay_model("ecp5")
    carry = dict(carry or {})
    if not fine_mode(pipe):
        ups = [decode(m, bits, fmt, name, normalize_sub=normalize_sub)
               for bits, fmt, name in operands]
        return ups, carry, delay_in
    # -- field tests (wide ORs in groups of k*k bits, finished after the cut) -----------
    g = dm.k * dm.k
    vals, d0 = {}, 0.0
    for i, (bits, fmt, _name) in enumerate(operands):
        bits = Value.cast(bits)
        M, E = fmt.man_bits, fmt.exp_bits
        man, e = bits[:M], bits[M : M + E]
        vals[f"{i}bits"] = bits
        vals[f"{i}top"] = e == fmt.exp_max_field
        vals[f"{i}sub"] = e == 0
        vals[f"{i}ebias"] = e - fmt.bias
        for n, lo in enumerate(range(0, M, g)):
            vals[f"{i}nz{n}"] = man[lo : lo + g] != 0
            vals[f"{i}ones{n}"] = man[lo : lo + g] == (1 << len(man[lo : lo + g])) - 1
        d0 = max(d0, dm.logic(min(max(E, M, 1), g)), dm.adder(E + 1))
        if normalize_sub and fmt.zero and fmt.subnormals and M + 1 > dm.k:
            # the subnormal shift amount (leading zeros of the mantissa field + 1) beside
            # the field tests
            lz = leading_zeros(m, Cat(man, Const(0, 1)), f"{_name}_sub_lz")  # lz(man) + 1
            sa = Signal(range(M + 1), name=f"{_name}_sub_shift")
            m.d.comb += sa.eq(Mux((e == 0) & (man != 0), lz, 0))
            vals[f"{i}sa"] = sa
            d0 = max(d0, dm.lzc(M) + dm.lut(1), dm.logic(E + M) + dm.lut(1))
    vals.update(carry)
    vals = cut(pipe, "dec_class", delay_in + d0, vals)
    carry = {k: vals[k] for k in carry}
    # -- classes, unbiased exponent; the subnormal shift amount ------------------------
    ups, lzs, small, d1 = [], [], True, 0.0
    for i, (_, fmt, name) in enumerate(operands):
        M, E = fmt.man_bits, fmt.exp_bits
        bits = vals[f"{i}bits"]
        parts = range(-(-M // g))
        nz, ones = Const(0, 1), Const(1, 1)
        for n in parts:
            nz, ones = nz | vals[f"{i}nz{n}"], ones & vals[f"{i}ones{n}"]
        flags = {"top": vals[f"{i}top"], "sub": vals[f"{i}sub"], "ebias": vals[f"{i}ebias"],
                 "man_nz": nz, "man_ones": ones}
        up = decode(m, bits, fmt, name, normalize_sub=False, flags=flags)
        ups.append(up)
        d1 = max(d1, dm.lut(2) + (dm.lut(1) if len(parts) > 3 else 0.0))
        if f"{i}sa" in vals:  # computed before the cut
            lzs.append(vals[f"{i}sa"])
            small = False
        elif normalize_sub and fmt.zero and fmt.subnormals and M > 0:
            # narrow (p <= k): the normalised significand is a function of p + 1 bits
            man = bits[:M]
            lz = leading_zeros(m, Cat(man, Const(0, 1)), f"{name}_sub_lz")  # lz(man) + 1
            sa = Signal(range(M + 1), name=f"{name}_sub_shift")
            m.d.comb += sa.eq(Mux(flags["sub"] & nz, lz, 0))
            lzs.append(sa)
            d1 = max(d1, dm.logic(M + 2))
        else:
            lzs.append(None)
    if not any(sa is not None for sa in lzs):
        return ups, carry, d1
    if small:
        out = []
        for (_, _fmt, name), up, sa in zip(operands, ups, lzs, strict=True):
            if sa is not None:
                p = len(up.sig)
                sig = Signal(p, name=f"{name}_norm_sig")
                exp = Signal(up.exp.shape(), name=f"{name}_norm_exp")
                m.d.comb += [sig.eq((up.sig << sa)[:p]), exp.eq(up.exp - sa)]
                up = Unpacked(up.sign, sig, exp, up.is_nan, up.is_inf, up.is_zero)
            out.append(up)
        return out, carry, d1
    # wide: the normalising shift of every operand level by level (after the significand's
    # multiplexer), a fine cut "dec_shift" after every two levels; the exponents subtract
    # the shift amounts beside the first levels
    v = {}
    for i, (up, sa) in enumerate(zip(ups, lzs, strict=True)):
        exp = up.exp
        if sa is not None:
            exp = Signal(up.exp.shape(), name=f"{operands[i][2]}_norm_exp")
            m.d.comb += exp.eq(up.exp - sa)
        v.update({f"{i}sign": up.sign, f"{i}sig": up.sig, f"{i}exp": exp,
                  f"{i}is_nan": up.is_nan, f"{i}is_inf": up.is_inf,
                  f"{i}is_zero": up.is_zero, f"{i}sa": sa})
    nlev = max(len(sa) for sa in lzs if sa is not None)
    delay = dm.lut(1)
    for k in range(nlev):
        for i, sa in enumerate(lzs):
            if sa is None or k >= len(sa):
                continue
            sig = v[f"{i}sig"]
            nv = Signal(len(sig), name=f"{operands[i][2]}_norm_l{k}")
            m.d.comb += nv.eq(Mux(v[f"{i}sa"][k], (sig << (1 << k))[: len(sig)], sig))
            v[f"{i}sig"] = nv
        delay += dm.lut(1)
        if k % 2 == 1 and k < nlev - 1:
            v.update(carry)
            v = cut(pipe, "dec_shift", max(delay, d1, dm.lut(1) + dm.adder(len(exp))), v)
            carry = {kk: v[kk] for kk in carry}
            delay, d1 = 0.0, 0.0
    out = [Unpacked(*(v[f"{i}{f}"] for f in ("sign", "sig", "exp", "is_nan", "is_inf",
                                              "is_zero"))) for i in range(len(ups))]
    return out, carry, max(delay, d1)


def decode_int(m: Module, bits: Value, fmt: IntFormat, name: str) -> Unpacked:
    """Integer operand as sign and magnitude; sig = |v| (not normalised), exp = bits - 1."""
    bits = Value.cast(bits)
    w = fmt.bits
    sign = Signal(name=f"{name}_sign")
    mag = Signal(w, name=f"{name}_mag")
    if fmt.signed:
        m.d.comb += [sign.eq(bits[w - 1]), mag.eq(Mux(bits[w - 1], -bits.as_signed(), bits))]
    else:
        m.d.comb += mag.eq(bits)
    exp = _exp_signal(w - 1, w - 1, f"{name}_exp")
    m.d.comb += exp.eq(w - 1)
    zero = Signal(name=f"{name}_is_zero")
    m.d.comb += zero.eq(mag == 0)
    return Unpacked(sign, mag, exp, Const(0, 1), Const(0, 1), zero)


def normalize(m: Module, sig: Value, exp: Value, name: str) -> tuple[Signal, Signal]:
    """Full leading-zero normalisation: shift ``sig`` so its leading one is at the top."""
    w = len(sig)
    lz = leading_zeros(m, sig, f"{name}_lz")
    s = Signal(w, name=f"{name}_sig")
    e = Signal(signed(len(exp) + max(w, 1).bit_length() + 1), name=f"{name}_exp")
    m.d.comb += [s.eq((sig << lz)[:w]), e.eq(exp - lz)]
    return s, e
