"""Golden multiply-accumulate units (SPEC.md section 3.2): the FPGA cost-model MAC.

Three units over a stream of cycles ``(a, b, valid, clear)``:

``mac``
    Float operands, exact product, two's complement fixed-point (Kulisch) accumulator of
    ``acc_bits`` bits whose bit 0 weighs ``2**acc_lsb_exp``; sticky NaN/+Inf/-Inf flags; an
    optional conversion ``y`` of the accumulator to a float format through ``encode``.
``int_mac``
    The same with integer operands (signed, unsigned or mixed); bit 0 weighs 1.
``float_acc_mac``
    The accumulator is kept in a float format and rounded every step: an FMA whose output is
    fed back to ``c`` (SPEC 3.2, last paragraph).

Cycle semantics, common to all three (SPEC 3.2). The accumulator state starts at 0 (+0 for
``float_acc_mac``) with all flags clear, as after reset. In cycle ``i``::

    clear=0 valid=0:  state unchanged
    clear=0 valid=1:  acc += a*b           (flags |= the product's specials)
    clear=1 valid=0:  acc  = 0,  flags = 0
    clear=1 valid=1:  acc  = a*b, flags = the product's specials only

Every returned per-cycle array holds the state *after* cycle ``i``'s update. A hardware unit
with ``latency`` L shows entry ``i`` on its ``acc`` port L clock edges after the edge that
accepted cycle ``i``'s inputs; the golden model knows nothing of latency.

Accumulator widths (``MacParams`` / ``IntMacParams``) are computed here once, and the hardware
takes them from these objects, so model and hardware cannot disagree on a width or a binary
point. ``acc_width_table`` prints the README's table of our widths beside the seed paper's.

Integer arithmetic only: products and sums are exact Python or numpy integers; the only
rounding is ``core.encode``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from .core import (
    Raw,
    _encode_float,
    check_encodings,
    check_flag,
    check_rand,
    check_round_options,
    check_shapes,
    decode,
    encode,
)
from .format import CATALOG, FloatFormat, IntFormat, catalog_formats, parse_format
from .lmul import lmul_raw
from .ops import mul_raw

# the widths and parameter checks live in .params (shared with exmy.hdl); re-exported here
from .params import (
    DEFAULT_DEPTH,
    FLAG_NAN,
    FLAG_NEG_INF,
    FLAG_POS_INF,
    MULTIPLIER_NAMES,
    IntMacParams,
    MacParams,
    ProductGeometry,
    check_mac_operand,
    int_mac_params,
    lmul_lsb,
    lmul_mac_format,
    mac_params,
    parse_format_arg,
    product_geometry,
)

__all__ = [
    "DEFAULT_DEPTH",
    "MULTIPLIERS",
    "IntMacParams",
    "MacParams",
    "ProductGeometry",
    "ProductModel",
    "acc_width_rows",
    "acc_width_table",
    "float_acc_mac",
    "int_mac",
    "int_mac_params",
    "mac",
    "mac_params",
]


# -- the multiplier hook (the product functions; their geometry is in .params) ---------------
@dataclass(frozen=True)
class ProductModel:
    """One entry of ``MULTIPLIERS``: how a MAC's multiplier forms products.

    ``product(a, b, fmt_a, fmt_b) -> Raw`` gives each product as an exact ``Raw`` (NaN/Inf
    masks set by SPEC 3's rules) whose finite values all lie on ``geometry``'s grid, no larger
    in magnitude than it says. The accumulator adds them the same way whatever the model.
    """

    name: str
    product: Callable[..., Raw]
    geometry: Callable[[FloatFormat, FloatFormat], ProductGeometry]


def _lmul_product(a, b, fmt_a: FloatFormat, fmt_b: FloatFormat) -> Raw:
    """SPEC 3.4's L-Mul product (adder form, offset 2^-l(M)) as an exact Raw, accumulated
    exactly: subnormal operands count as zero and results below the normal range are ±0, as
    in the L-Mul unit, but a result above max_finite keeps its true value (the MAC encodes
    nothing before ``y``; the unbounded exponent costs at most one accumulator bit)."""
    fmt = lmul_mac_format(fmt_a, fmt_b)
    raw = lmul_raw(a, b, fmt)
    exp = np.where(np.asarray(raw.sig) == 0, lmul_lsb(fmt), raw.exp).astype(np.int64)
    return Raw(raw.sign, raw.sig, exp, raw.nan, raw.inf)


#: Multiplier models by name. ``"exact"`` is SPEC 3.1's exact product; ``"lmul"`` is SPEC
#: 3.4's L-Mul (same-format operands, M >= 1): its products are normal numbers of the operand
#: format's precision, so its grid is ``2**(1 - bias - M)`` (coarser than the exact one), and
#: its largest product (the adder's carry may reach the next binade) can exceed
#: ``max_finite**2``; it is accumulated unbounded, never turned into Inf.
MULTIPLIERS: dict[str, ProductModel] = {
    "exact": ProductModel("exact", mul_raw, partial(product_geometry, "exact")),
    "lmul": ProductModel("lmul", _lmul_product, partial(product_geometry, "lmul")),
}
assert tuple(MULTIPLIERS) == MULTIPLIER_NAMES


def _float_out(fmt, what: str) -> FloatFormat:
    fmt = parse_format_arg(fmt, what)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"{what} format must be a float format, not {fmt}")
    return fmt


def _streams(a, b, valid, clear, extra=None):
    """Broadcast the per-cycle inputs to one 1-D length."""
    arrs = [np.asarray(a), np.asarray(b), np.asarray(valid), np.asarray(clear)]
    names = ["a", "b", "valid", "clear"]
    if extra is not None:
        arrs.append(np.asarray(extra))
        names.append("rand")
    try:
        check_shapes(dict(zip(names, arrs, strict=True)))  # a length-1 array is no scalar
        out = np.broadcast_arrays(*arrs)
    except ValueError:
        shapes = ", ".join(f"{n} {x.shape}" for n, x in zip(names, arrs, strict=True))
        raise ValueError(
            f"MAC input streams must have one length (scalars broadcast), not {shapes}"
        ) from None
    if out[0].ndim != 1:
        raise ValueError(f"MAC input streams must be 1-D, not of shape {out[0].shape}")
    for name, x in zip(names[2:4], out[2:4], strict=True):
        if not np.all((x == 0) | (x == 1)):
            raise ValueError(f"MAC input {name} must hold only 0 and 1")
    return [np.ascontiguousarray(x) for x in out]


def _resolve_params(cls, factory, params, fmt_a, fmt_b, kwargs):
    given = {k: v for k, v in kwargs.items() if v is not None}
    if params is None:
        return factory(fmt_a, fmt_b, **given)
    if not isinstance(params, cls):
        raise TypeError(f"params must be a {cls.__name__}, not {params!r}")
    if given:
        raise ValueError(
            f"Give either params or {', '.join(given)}, not both (params already has "
            f"{', '.join(f'{k}={getattr(params, k)!r}' for k in given)})"
        )
    fa, fb = parse_format(fmt_a), parse_format(fmt_b)
    if (fa, fb) != (params.fmt_a, params.fmt_b):
        raise ValueError(
            f"params are for {params.fmt_a} x {params.fmt_b}, not the operand formats "
            f"{fa} x {fb}"
        )
    return params


# -- the fixed-point accumulator (shared by mac and int_mac) ---------------------------------
def _accumulate(prod, special, valid, clear, acc_bits: int, saturate_acc: bool):
    """Run the accumulator over Python-int products ``prod`` (in LSB units); ``special`` holds
    each product's flag bits. Returns per-cycle (signed acc values, flags)."""
    n = len(prod)
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    mod, half = 1 << acc_bits, 1 << (acc_bits - 1)
    vals = [0] * n
    flags = np.zeros(n, dtype=np.uint8)
    acc, fl = 0, 0
    for i in range(n):
        if clear[i]:
            acc, fl = 0, 0
        if valid[i]:
            if special[i]:
                fl |= int(special[i])
            else:
                acc += prod[i]
                if saturate_acc:
                    acc = lo if acc < lo else hi if acc > hi else acc
                elif not lo <= acc <= hi:
                    acc = ((acc + half) % mod) - half  # two's complement wrap
        vals[i] = acc
        flags[i] = fl
    return vals, flags


def _pack_acc(vals: list[int], acc_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(bit patterns, signed values): uint64/int64 up to 64 bits, else object arrays."""
    mask = (1 << acc_bits) - 1
    if acc_bits <= 64:
        pattern = np.array([v & mask for v in vals], dtype=np.uint64)
        value = np.array(vals, dtype=np.int64)
    else:
        pattern = np.empty(len(vals), dtype=object)
        pattern[:] = [v & mask for v in vals]
        value = np.empty(len(vals), dtype=object)
        value[:] = vals
    return pattern, value


def _acc_raw(vals: list[int], flags: np.ndarray, lsb_exp: int) -> Raw:
    """The accumulator (and its flags) as a Raw for ``encode``: NaN if the NaN flag or both
    Inf flags are set, else the one Inf, else the exact value (zero is +0)."""
    n = len(vals)
    f = flags.astype(np.int64)
    nan = ((f & FLAG_NAN) != 0) | ((f & (FLAG_POS_INF | FLAG_NEG_INF)) == 6)
    inf = ((f & (FLAG_POS_INF | FLAG_NEG_INF)) != 0) & ~nan
    neg = np.array([v < 0 for v in vals], dtype=bool)
    sign = np.where(inf, (f & FLAG_NEG_INF) != 0, neg).astype(np.uint8)
    mags = [0 if (nan[i] or inf[i]) else abs(v) for i, v in enumerate(vals)]
    if max(mags, default=0).bit_length() < 62:
        sig = np.array(mags, dtype=np.int64)
    else:  # wide accumulators: Python ints, which encode folds into sticky
        sig = np.empty(n, dtype=object)
        sig[:] = mags
    return Raw(sign, sig, np.full(n, lsb_exp, np.int64), nan, inf)


def mac(
    a,
    b,
    valid,
    clear,
    fmt_a,
    fmt_b,
    *,
    params: MacParams | None = None,
    depth: int | None = None,
    acc_bits: int | None = None,
    multiplier: str | None = None,
    fmt_out=None,
    rounding: str = "rne",
    saturate: bool = False,
    saturate_acc: bool = False,
    acc_format=None,
    rand=None,
    rand_bits: int | None = None,
) -> dict[str, np.ndarray]:
    """Float MAC with an exact fixed-point accumulator (SPEC 3.2); see the module docstring
    for the cycle semantics.

    Parameters
    ----------
    a, b : array of encodings in ``fmt_a`` / ``fmt_b``, one per cycle.
    valid, clear : arrays of 0/1 (scalars broadcast).
    params : MacParams, optional
        The widths; or give ``depth`` (default 4608), ``acc_bits`` (default: see
        ``MacParams``) and ``multiplier`` (default ``"exact"``) instead, never both.
    fmt_out : FloatFormat, optional
        Adds ``y = encode(acc, fmt_out, rounding, saturate)`` per cycle.
        ``params.out_saturates(fmt_out)`` says whether the accumulator can exceed it.
    rounding, rand, rand_bits : the rounding of ``y`` (rne, rtz, rna; stochastic with a
        per-cycle ``rand`` stream of ``rand_bits`` bits).
    saturate : bool
        ``y`` overflow gives ±max_finite instead of Inf/NaN (SPEC 2.3).
    saturate_acc : bool
        Clamp the accumulator to its range after each addition instead of wrapping. The clamp
        is per step (a saturating adder): a later product of the other sign moves it back.
    acc_format : FloatFormat, optional
        Use the float-accumulator MAC instead: returns ``float_acc_mac(...)`` (SPEC 3.2: "offer
        it as mac with acc_format"). ``params``/``depth``/``acc_bits``/``fmt_out``/
        ``saturate_acc`` do not apply to it.

    Returns
    -------
    dict with, per cycle, the state after that cycle's update:
        ``acc``: the accumulator's ``acc_bits``-bit two's complement bit pattern (uint64, or an
        object array of Python ints above 64 bits); ``acc_value``: the same as a signed
        integer (int64 or object); bit 0 weighs ``2**params.acc_lsb_exp``.
        ``flags`` (uint8): bit 0 NaN, bit 1 +Inf, bit 2 -Inf; sticky until ``clear``.
        ``y`` (uint64, only with ``fmt_out``).

    Notes
    -----
    - Products are exact and land on the grid exactly (``MacParams``); nothing is rounded
      before ``y``.
    - A NaN or ±Inf product (NaN operand, Inf x 0, Inf x finite) sets its flag and adds
      nothing to ``acc``. Formats without NaN and Inf (``none``) never set flags.
    - ``y``: NaN flag, or +Inf and -Inf flags together, give NaN (Inf - Inf); one Inf flag
      gives that Inf, converted as ``encode`` converts an Inf (SPEC 2.3: ±max_finite with
      ``saturate`` or into a ``none`` format, NaN into ``fn``/``fnuz``). NaN into a format
      without NaN gives +0 (SPEC 2.5). Otherwise ``y`` rounds the exact accumulator value
      once.
    - Deviation from IEEE: the fixed-point accumulator has no -0, so a zero accumulator gives
      ``y = +0`` even when every product was -0 (IEEE would give -0 for a sum of -0s).
    - ``acc`` wraps modulo ``2**acc_bits`` on overflow (``depth`` bounds the safe count,
      ``params.safe_depth`` gives it) unless ``saturate_acc``.
    """
    if acc_format is not None:
        bad = {
            "params": params, "depth": depth, "acc_bits": acc_bits, "fmt_out": fmt_out,
        }
        bad = [k for k, v in bad.items() if v is not None]
        if saturate_acc:
            bad.append("saturate_acc")
        if bad:
            raise ValueError(
                f"{', '.join(bad)} only apply to the fixed-point accumulator, not to "
                f"acc_format={acc_format}; the float accumulator is its own output"
            )
        if multiplier not in (None, "exact"):
            raise ValueError(
                f"The float-accumulator MAC uses the exact product (one FMA rounding), not "
                f"multiplier={multiplier!r}"
            )
        return float_acc_mac(
            a, b, valid, clear, fmt_a, fmt_b, acc_format,
            rounding=rounding, saturate=saturate, rand=rand, rand_bits=rand_bits,
        )
    p = _resolve_params(
        MacParams, mac_params, params, fmt_a, fmt_b,
        {"depth": depth, "acc_bits": acc_bits, "multiplier": multiplier},
    )
    saturate = check_flag(saturate, "saturate")
    saturate_acc = check_flag(saturate_acc, "saturate_acc")
    if fmt_out is not None:
        fmt_out = _float_out(fmt_out, "MAC output")
        rand_bits = check_round_options(rounding, rand_bits)
    elif rand is not None or rand_bits is not None:
        raise ValueError(
            "rand and rand_bits round the output y; they need an output format (fmt_out)"
        )
    a, b = check_encodings(a, p.fmt_a, "Operand a"), check_encodings(b, p.fmt_b, "Operand b")
    if fmt_out is not None:
        rand = check_rand(rand, rounding, rand_bits, None)  # its length: _streams
    a, b, valid, clear, *r = _streams(a, b, valid, clear, rand)

    # -- multiply: exact products as Raw, then onto the grid in LSB units
    raw = MULTIPLIERS[p.multiplier].product(a, b, p.fmt_a, p.fmt_b)
    shift = np.asarray(raw.exp, np.int64) - p.acc_lsb_exp
    special = np.where(raw.nan, FLAG_NAN, 0) | np.where(
        raw.inf, np.where(raw.sign == 1, FLAG_NEG_INF, FLAG_POS_INF), 0
    )
    special = np.asarray(special, np.uint8)
    sig = raw.sig
    prod = [
        0 if special[i] else (-1 if raw.sign[i] else 1) * (int(sig[i]) << int(shift[i]))
        for i in range(len(a))
    ]

    # -- accumulate
    vals, flags = _accumulate(prod, special, valid, clear, p.acc_bits, saturate_acc)
    pattern, value = _pack_acc(vals, p.acc_bits)
    out = {"acc": pattern, "acc_value": value, "flags": flags}

    # -- convert: y = encode(acc) through the one rounder
    if fmt_out is not None:
        out["y"] = encode(
            _acc_raw(vals, flags, p.acc_lsb_exp),
            fmt_out,
            rounding=rounding,
            saturate=saturate,
            rand=r[0] if r else None,
            rand_bits=rand_bits or 0,
        )
    return out


def int_mac(
    a,
    b,
    valid,
    clear,
    fmt_a,
    fmt_b,
    *,
    params: IntMacParams | None = None,
    depth: int | None = None,
    acc_bits: int | None = None,
    saturate_acc: bool = False,
) -> dict[str, np.ndarray]:
    """Integer MAC (SPEC 3.2 with IntFormat operands; signed, unsigned or mixed).

    Same cycle semantics as ``mac``; no flags and no ``y``. Returns ``acc`` (the
    ``acc_bits``-bit two's complement pattern) and ``acc_value`` (signed) per cycle, the state
    after that cycle. Widths from ``IntMacParams`` (``depth`` default 4608); overflow wraps
    unless ``saturate_acc`` clamps (per step).
    """
    p = _resolve_params(
        IntMacParams, int_mac_params, params, fmt_a, fmt_b,
        {"depth": depth, "acc_bits": acc_bits},
    )
    saturate_acc = check_flag(saturate_acc, "saturate_acc")
    a, b = check_encodings(a, p.fmt_a, "Operand a"), check_encodings(b, p.fmt_b, "Operand b")
    a, b, valid, clear = _streams(a, b, valid, clear)
    ra, rb = decode(a, p.fmt_a), decode(b, p.fmt_b)
    prod = [
        (-1 if sa ^ sb else 1) * int(x) * int(y)
        for sa, sb, x, y in zip(ra.sign, rb.sign, ra.sig, rb.sig, strict=True)
    ]
    special = np.zeros(len(prod), dtype=np.uint8)
    vals, _ = _accumulate(prod, special, valid, clear, p.acc_bits, saturate_acc)
    pattern, value = _pack_acc(vals, p.acc_bits)
    return {"acc": pattern, "acc_value": value}


# -- the float-accumulator MAC (an FMA chain) ------------------------------------------------
def _add_raw_exact(x: Raw, y: Raw) -> Raw:
    """Exact ``x + y`` per lane with SPEC 3's special rules (NaN in → NaN, Inf - Inf → NaN,
    exact zero sums +0 unless both addends are -0). Significands become Python ints."""
    n = len(x.sig)
    nan = np.asarray(x.nan | y.nan | (x.inf & y.inf & (x.sign != y.sign)), bool)
    inf = np.asarray((x.inf | y.inf) & ~nan, bool)
    sign = np.zeros(n, np.uint8)
    sig = np.empty(n, dtype=object)
    exp = np.zeros(n, np.int64)
    for i in range(n):
        if nan[i]:
            sig[i] = 0
            continue
        if inf[i]:
            sign[i] = x.sign[i] if x.inf[i] else y.sign[i]
            sig[i] = 0
            continue
        ex, ey = int(x.exp[i]), int(y.exp[i])
        e = min(ex, ey)
        vx = int(x.sig[i]) << (ex - e)
        vy = int(y.sig[i]) << (ey - e)
        s = (-vx if x.sign[i] else vx) + (-vy if y.sign[i] else vy)
        sign[i] = int(x.sign[i]) & int(y.sign[i]) if s == 0 else int(s < 0)
        sig[i] = abs(s)
        exp[i] = e
    return Raw(sign, sig, exp, nan, inf)


def _fma_raw(prod: Raw, c: Raw) -> Raw:
    """The FMA before its one rounding: the exact ``a*b + c`` (SPEC 3 'fma'). A stand-in for
    golden/fma.py's ``fma``: ``encode(_fma_raw(mul_raw(a, b), decode(c)), fmt_out)`` is
    the FMA definition, and a test can pin the two equal once that module exists."""
    return _add_raw_exact(prod, c)


def _check_acc_format(fmt) -> FloatFormat:
    fmt = _float_out(fmt, "Accumulator")
    if not fmt.zero:
        raise ValueError(
            f"Accumulator format {fmt} has no zero (a block-scale format); clear must load 0"
        )
    return fmt


def float_acc_mac(
    a,
    b,
    valid,
    clear,
    fmt_a,
    fmt_b,
    acc_format,
    *,
    rounding: str = "rne",
    saturate: bool = False,
    rand=None,
    rand_bits: int | None = None,
) -> dict[str, np.ndarray]:
    """MAC with the accumulator kept in the float format ``acc_format`` (an FMA chain).

    Each cycle with valid=1: ``acc = encode(a*b + acc, acc_format)``, one rounding (an FMA
    with its output fed back to ``c``); clear=1 with valid=1 loads ``encode(a*b)`` (the
    product rounded once, keeping a -0 product's sign); clear=1 with valid=0 loads +0; reset
    state +0. Specials live in ``acc`` itself as IEEE says: NaN stays until ``clear``,
    Inf + -Inf is NaN. Every Inf result (an Inf product or an overflow) is converted as
    ``encode`` does (SPEC 2.3): with ``saturate`` it becomes ±max_finite (SATFINITE, so the
    chain then continues from a finite value), into an ``fn``/``fnuz`` acc_format NaN, into
    ``none`` ±max_finite. Zero sums are +0 unless both
    addends are -0 (rne/rna/rtz/stochastic: never round toward -Inf). Rounding per SPEC 2:
    rne, rtz, rna, or stochastic with a per-cycle ``rand`` stream.

    Returns ``{"acc": uint64 encodings}``, per cycle, the state after that cycle.
    """
    fmt_a = check_mac_operand(fmt_a, "a")
    fmt_b = check_mac_operand(fmt_b, "b")
    acc_format = _check_acc_format(acc_format)
    rand_bits = check_round_options(rounding, rand_bits)
    saturate = check_flag(saturate, "saturate")
    a, b = check_encodings(a, fmt_a, "Operand a"), check_encodings(b, fmt_b, "Operand b")
    rand = check_rand(rand, rounding, rand_bits, None)  # its length: _streams
    a, b, valid, clear, *r = _streams(a, b, valid, clear, rand)
    rnd = r[0].astype(np.uint64) if r else None
    n = len(a)
    prod = mul_raw(a, b, fmt_a, fmt_b)
    # one cycle is encode(a*b + decode(acc)) on one lane, its arguments checked above: the
    # encode body without the per-call checks, and decode from a table of every encoding
    # when the format has at most 16 bits (the same functions, called less often)
    enc = partial(_encode_float, fmt=acc_format, rounding=rounding, saturate=saturate,
                  rand_bits=rand_bits or 0)
    if acc_format.width <= 16:
        table = decode(np.arange(1 << acc_format.width, dtype=np.uint64), acc_format)

        def dec(acc):
            k = slice(int(acc[0]), int(acc[0]) + 1)
            return Raw(table.sign[k], table.sig[k], table.exp[k], table.nan[k], table.inf[k])
    else:
        dec = partial(decode, fmt=acc_format)
    out = np.zeros(n, dtype=np.uint64)
    acc = np.zeros(1, dtype=np.uint64)  # +0 in every format with a zero
    for i in range(n):
        s = slice(i, i + 1)
        p_i = Raw(prod.sign[s], prod.sig[s], prod.exp[s], prod.nan[s], prod.inf[s])
        rs = rnd[s] if rnd is not None else None
        if clear[i]:
            acc = enc(p_i, rand=rs) if valid[i] else np.zeros(1, np.uint64)
        elif valid[i]:
            acc = enc(_fma_raw(p_i, dec(acc)), rand=rs)
        out[i] = acc[0]
    return {"acc": out}


# -- README table ----------------------------------------------------------------------------
def acc_width_rows(depth: int = DEFAULT_DEPTH, max_width: int = 16) -> list[dict]:
    """Accumulator widths, ours beside the seed paper's, for every catalog format of at most
    ``max_width`` bits squared (block-scale formats skipped), two mixed pairs, and INT4–INT8."""
    pairs: list[tuple] = [
        (f, f) for f in catalog_formats(max_width) if f.zero
    ]
    pairs += [(CATALOG["e4m3fn"], CATALOG["e5m2"]), (CATALOG["e2m1fn"], CATALOG["e4m3fn"])]
    rows = []
    for fa, fb in pairs:
        p = mac_params(fa, fb, depth=depth)
        rows.append(p.summary())
    for bits in range(4, 9):
        p = int_mac_params(IntFormat(bits), IntFormat(bits), depth)
        rows.append({**p.summary(), "product_sig_bits": None, "shift_max": None})
    return rows


def acc_width_table(depth: int = DEFAULT_DEPTH, max_width: int = 16) -> str:
    """The README's markdown table of accumulator widths at ``depth`` products."""
    lines = [
        f"| a × b | product bits | acc LSB | acc_bits (ours, depth {depth}) | paper | "
        f"ours − paper |",
        "|---|---|---|---|---|---|",
    ]
    for r in acc_width_rows(depth, max_width):
        name = r["a"] if r["a"] == r["b"] else f"{r['a']} × {r['b']}"
        lines.append(
            f"| {name} | {r['product_bits']} | 2^{r['acc_lsb_exp']} | {r['acc_bits']} | "
            f"{r['paper_acc_bits']} | {r['acc_bits'] - r['paper_acc_bits']:+d} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(acc_width_table())
