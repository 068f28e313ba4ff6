"""Decode and encode (SPEC.md sections 1 and 2): the one place where rounding is written.

Values travel through the golden model as exact ``Raw`` triples, never as floats::

    value = (-1)**sign * (sig + delta) * 2**exp,   0 <= delta < 1, delta > 0 iff sticky

plus ``nan`` and ``inf`` masks. ``sig`` is an int64 array (< 2**62) or, for wide
accumulators, an object array of Python ints. The stages, named as in the hardware
(``exmy.hdl.float``, ``exmy.hdl.rounding``): ``decode`` (encodings -> Raw), the unit's raw
operations (``ops.mul_raw``, ``fma.add_raw``), ``round`` (a Raw on a format's grid) and
``encode`` (round, then the fields: the golden twin of the hardware's rounder and its
``encode``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

from .format import FloatFormat, IntFormat
from .params import check_bool, parse_format_arg
from .params import check_rounding as _check_mode
from .params import check_rounding_options as _check_options

__all__ = [
    "ROUNDING_MODES",
    "Raw",
    "decode",
    "round",
    "encode",
    "bit_length",
    "array_shape",
    "check_encodings",
    "check_flag",
    "check_rand",
    "check_raw",
    "check_round_options",
    "check_rounding",
    "check_shapes",
    "to_fraction",
    "describe",
]

ROUNDING_MODES = ("rne", "rtz", "rna", "stochastic")

#: Significands handed to the numpy path stay below 2**SIG_LIMIT_BITS so shifts never wrap.
SIG_LIMIT_BITS = 62


class Raw(NamedTuple):
    """An exact (or exact-plus-sticky) value per lane; see the module docstring."""

    sign: np.ndarray  # uint8 0/1
    sig: np.ndarray  # int64 >= 0 (or object)
    exp: np.ndarray  # int64
    nan: np.ndarray  # bool
    inf: np.ndarray  # bool
    sticky: np.ndarray | None = None  # bool, or None for "exact"


def _u64(x) -> np.ndarray:
    return np.asarray(x).astype(np.uint64)


def bit_length(x: np.ndarray) -> np.ndarray:
    """Vectorised ``int.bit_length`` for non-negative int64 arrays (0 for 0)."""
    x = np.asarray(x, dtype=np.int64)
    n = np.zeros(x.shape, dtype=np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        big = (x >> (n + s)) != 0
        n = n + np.where(big, s, 0)
    return n + (x >> n != 0)


def check_rounding(rounding: str) -> None:
    """A rounding mode name (``params.check_rounding``, the one parser)."""
    _check_mode(rounding)


def _py_scalar(value):
    """A numpy integer or bool scalar as the Python ``int`` / ``bool`` the shared checks in
    ``params`` (also the hardware's) accept; anything else unchanged."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def check_flag(value, what: str) -> bool:
    """A bool option (``saturate``, ``saturate_acc``): ``params.check_bool``, which the
    hardware calls too, after taking a numpy bool as a bool."""
    return check_bool(_py_scalar(value), what)


def check_round_options(rounding, rand_bits):
    """``(rounding, rand_bits)`` of a golden public function: ``params.check_rounding_options``
    (the hardware's check: ``rand_bits`` 1..32 with stochastic rounding and only with it),
    after taking a numpy integer as an int. Returns ``rand_bits`` (an int or None)."""
    rand_bits = _py_scalar(rand_bits)
    _check_options(rounding, rand_bits)
    return rand_bits


def array_shape(x, what: str) -> tuple[int, ...]:
    """``np.shape(x)``, for a shape check that comes before the dtype check; a ragged nested
    list raises ValueError naming ``what``, not numpy's "inhomogeneous shape"."""
    try:
        return np.shape(x)
    except ValueError:
        raise ValueError(f"{what} must be a rectangular array, not a ragged nested list") \
            from None


def check_shapes(operands: dict, what: str = "Operands") -> tuple[int, ...]:
    """The one broadcasting rule of the elementwise golden functions, for the named arrays in
    ``operands``: an operand broadcasts only by gaining leading axes (a scalar against
    anything, shape (3,) against (2, 3)); a length-1 axis is never stretched, as numpy would
    silently do. Returns the result's shape; raises ValueError naming every operand's shape."""
    shapes = {k: np.shape(v) for k, v in operands.items()}
    try:
        full = tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        full = None
    if full is None or any(full[len(full) - len(s):] != s for s in shapes.values()):
        listing = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(
            f"{what} must have one shape (a scalar, or an array matching the others' trailing "
            f"axes, broadcasts), not {listing}"
        )
    return full


def check_rand(rand, rounding, rand_bits, shape) -> np.ndarray | None:
    """The stochastic ``rand`` stream (SPEC 2.1) for operands of ``shape``, after
    ``check_round_options``: given with stochastic rounding and only with it; integers in
    ``0 .. 2**rand_bits - 1``; a scalar or an array whose shape is the operands' (or their
    trailing axes, as ``check_shapes`` broadcasts; ``shape`` None: the caller checks the
    length). Returns it as uint64 (or None)."""
    if rounding != "stochastic":
        if rand is not None:
            raise ValueError(
                f"rand is only meaningful with rounding='stochastic', not "
                f"rounding={str(rounding)!r}"
            )
        return None
    if rand is None:
        raise ValueError("Stochastic rounding needs a rand array")
    top = (1 << rand_bits) - 1
    r = _check_uints(
        rand, top, "rand", "an integer", "integers",
        f"an integer in 0..{top:#x} (rand_bits={rand_bits})",
    )
    if shape is None:
        return r
    if r.ndim > len(shape) or tuple(shape[len(shape) - r.ndim:]) != r.shape:
        raise ValueError(
            f"rand must be a scalar or have the operands' shape {tuple(shape)}, not {r.shape}"
        )
    return r


def _parse_fmt(fmt) -> FloatFormat | IntFormat:
    """A format object, or a name through the one parser (``parse_format``)."""
    return parse_format_arg(fmt)


def check_encodings(bits, fmt: FloatFormat | IntFormat, what: str = "Value") -> np.ndarray:
    """``bits`` (an integer or an array-like of integers) as a uint64 array, after checking
    that every value is an encoding of ``fmt``: an integer in ``0 .. 2**fmt.width - 1``.

    Raises ``TypeError`` for a non-integer (a float, a bool, a string; for an array, its first
    element) and ``ValueError`` for the smallest or largest value when it is out of range,
    naming the value, the format and ``what`` (``"Operand a"``), or for a ragged nested list.
    An array costs one argmin and one argmax.
    """
    fmt = _parse_fmt(fmt)  # a name too, as every other golden function takes
    top = (1 << fmt.width) - 1
    return _check_uints(
        bits, top, what, f"an integer encoding of {fmt.name}", f"integer encodings of {fmt.name}",
        f"an encoding of {fmt.name} (0..{top:#x})",
    )


def _check_uints(bits, top: int, what: str, one: str, many: str, ranged: str) -> np.ndarray:
    """``check_encodings``'s body for integers in ``0 .. top``: ``one`` / ``many`` describe the
    accepted type (one value / an array), ``ranged`` the accepted values."""

    def bad_type(v):
        return TypeError(f"{what} must be {one}, not {v!r}")

    def bad_value(v, where=""):
        hexv = f" ({v:#x})" if v > 9 else ""
        return ValueError(f"{what} must be {ranged}, not {v}{hexv}{where}")

    if isinstance(bits, np.ndarray):
        arr = bits
    elif isinstance(bits, (bool, np.bool_)):
        raise bad_type(bits)
    elif isinstance(bits, (int, np.integer)):
        v = int(bits)
        if not 0 <= v <= top:
            raise bad_value(v)
        return np.asarray(v, dtype=np.uint64)
    elif bits is None or isinstance(bits, (float, complex, str, bytes, np.generic)):
        raise bad_type(bits)
    else:
        try:
            arr = np.asarray(bits)
        except ValueError:  # numpy: "inhomogeneous shape"
            raise ValueError(
                f"{what} must be {many} in a rectangular array, not a ragged nested list"
            ) from None
    if arr.size == 0:
        return arr.astype(np.uint64)
    flat = arr.ravel()
    kind = arr.dtype.kind
    if kind == "O":
        for v in flat:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise bad_type(v)
        vals = [int(v) for v in flat]
        lo_i = min(range(len(vals)), key=vals.__getitem__)
        hi_i = max(range(len(vals)), key=vals.__getitem__)
    elif kind in "iu":
        vals = flat
        lo_i, hi_i = int(np.argmin(flat)), int(np.argmax(flat))
    else:
        if kind in "fc":  # the first element that is not a whole number, else the first
            frac = ~np.isfinite(flat) | (flat != np.round(flat)) if kind == "f" else flat.imag
            first = flat[int(np.argmax(frac != 0))]
        else:
            first = flat[0]
        raise TypeError(
            f"{what} must be {many}, not a {arr.dtype} array "
            f"(holding {first.item() if isinstance(first, np.generic) else first!r})"
        )

    def at(i):
        if arr.ndim == 0:
            return ""
        idx = i if arr.ndim == 1 else tuple(int(j) for j in np.unravel_index(i, arr.shape))
        return f" at index {idx}"

    if int(vals[lo_i]) < 0:
        raise bad_value(int(vals[lo_i]), at(lo_i))
    if int(vals[hi_i]) > top:
        raise bad_value(int(vals[hi_i]), at(hi_i))
    if kind == "O":
        return np.array(vals, dtype=np.uint64).reshape(arr.shape)
    return arr.astype(np.uint64, copy=False)


# -- decode ----------------------------------------------------------------------------------
def decode(bits, fmt: FloatFormat | IntFormat | str) -> Raw:
    """Split encodings into exact ``Raw`` values. Integer formats decode to sig=|v|,
    exp=scale_exp (0 but for scaled formats such as mxint8).

    ``fmt`` may be a name (``"e4m3fn"``), parsed by ``parse_format``. ``bits`` must be integer
    encodings of ``fmt`` (``check_encodings``): a float, or a value outside
    ``0 .. 2**width - 1``, raises TypeError / ValueError instead of being masked.
    """
    fmt = _parse_fmt(fmt)
    b = check_encodings(bits, fmt)
    if isinstance(fmt, IntFormat):
        v = b.astype(np.int64)
        if fmt.signed:
            v = np.where(v >= (1 << (fmt.bits - 1)), v - (1 << fmt.bits), v)
        false = np.zeros(b.shape, dtype=bool)
        exp = np.full(b.shape, fmt.scale_exp, np.int64)
        return Raw((v < 0).astype(np.uint8), np.abs(v), exp, false, false.copy())
    M = fmt.man_bits
    man = (b & np.uint64(fmt.man_mask)).astype(np.int64)
    e = ((b >> np.uint64(M)) & np.uint64(fmt.exp_max_field)).astype(np.int64)
    if fmt.signed:
        sign = ((b >> np.uint64(fmt.sign_shift)) & np.uint64(1)).astype(np.uint8)
    else:
        sign = np.zeros(b.shape, dtype=np.uint8)
    top = e == fmt.exp_max_field
    if fmt.special == "ieee":
        nan = top & (man != 0)
        inf = top & (man == 0)
    elif fmt.special == "fn":
        nan = top & (man == fmt.man_mask)
        inf = np.zeros(b.shape, dtype=bool)
    elif fmt.special == "fnuz":
        nan = (sign == 1) & (e == 0) & (man == 0)
        inf = np.zeros(b.shape, dtype=bool)
    else:
        nan = np.zeros(b.shape, dtype=bool)
        inf = nan.copy()
    if fmt.zero:
        normal = e != 0
        if fmt.subnormals:
            sub_sig = man
        else:
            sub_sig = np.zeros_like(man)
    else:
        normal = np.ones(b.shape, dtype=bool)
        sub_sig = man
    sig = np.where(normal, man | (1 << M), sub_sig)
    exp = np.where(normal, e - fmt.bias - M, fmt.emin - M)
    special = nan | inf
    sig = np.where(special, 0, sig)
    exp = np.where(special, 0, exp)
    if fmt.special == "fnuz":
        # fnuz has no -0: with subnormals off, sign-1 exp-0 codes other than the NaN are +0
        sign = np.where(nan | (sig == 0), 0, sign).astype(np.uint8)
    return Raw(sign, sig.astype(np.int64), exp.astype(np.int64), nan, inf)


# -- encode ----------------------------------------------------------------------------------
def _reduce_wide(raw: Raw, keep_bits: int) -> Raw:
    """Bring object-dtype (Python int) significands under 2**keep_bits, folding the dropped
    bits into sticky. Exact for rne/rtz/rna whenever the rounding position is at or above the
    new LSB (true when keep_bits >= sig_bits + 2)."""
    sig = raw.sig
    if sig.dtype != object:
        return raw
    flat = sig.ravel()
    st = (
        np.zeros(flat.shape, dtype=bool) if raw.sticky is None else raw.sticky.ravel().copy()
    )
    exp = raw.exp.ravel().astype(np.int64).copy()
    out = np.empty(flat.shape, dtype=np.int64)
    for i, v in enumerate(flat):
        v = int(v)
        drop = v.bit_length() - keep_bits
        if drop > 0:
            st[i] |= (v & ((1 << drop) - 1)) != 0
            v >>= drop
            exp[i] += drop
        out[i] = v
    sh = sig.shape
    return Raw(raw.sign, out.reshape(sh), exp.reshape(sh), raw.nan, raw.inf, st.reshape(sh))


def check_raw(raw, what: str = "raw") -> Raw:
    """A ``Raw`` handed to a public stage (``encode``, ``round``): the type, then its fields
    as arrays: ``sign`` 0/1 integers (or bools), ``sig`` non-negative integers (an integer
    dtype, or an object array of Python ints), ``exp`` integers, ``nan`` / ``inf`` (and
    ``sticky`` unless None) bools, every field of one shape (``check_shapes``: a scalar
    broadcasts). Returns the Raw with numpy array fields."""
    if not isinstance(raw, Raw):
        raise TypeError(f"{what} must be a Raw (from decode or a raw stage), not {raw!r}")
    fields = {}
    for name in Raw._fields:
        v = getattr(raw, name)
        if v is None and name == "sticky":
            fields[name] = None
            continue
        try:
            arr = np.asarray(v)
        except ValueError:
            raise ValueError(f"{what}.{name} must be a rectangular array, not a ragged list") \
                from None
        kind = arr.dtype.kind
        if name in ("nan", "inf", "sticky"):
            ok = kind == "b"
        elif name == "sign":
            ok = kind in "biu"
        elif name == "sig" and kind == "O":
            ok = all(isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
                     for x in arr.flat)
        else:
            ok = kind in "iu"
        if not ok:
            want = "bools" if name in ("nan", "inf", "sticky") else "integers"
            raise TypeError(f"{what}.{name} must be an array of {want}, not {arr.dtype}")
        fields[name] = arr
    sign, sig = fields["sign"], fields["sig"]
    if sign.size and sign.dtype.kind != "b" and not np.all((sign == 0) | (sign == 1)):
        raise ValueError(f"{what}.sign must hold only 0 and 1")
    if sig.size and (min(sig.flat) if sig.dtype == object else sig.min()) < 0:
        raise ValueError(f"{what}.sig must be non-negative (the sign is in sign), not "
                         f"{min(sig.flat) if sig.dtype == object else sig.min()}")
    check_shapes({k: v for k, v in fields.items() if v is not None}, f"The fields of {what}")
    if all(fields[k] is v for k, v in zip(Raw._fields, raw, strict=True)):
        return raw
    return Raw(**fields)


def _check_round_args(raw, rounding: str, rand, rand_bits, saturate=False):
    """``encode`` / ``round``'s arguments: the Raw, ``check_round_options`` (``rand_bits`` 0,
    the old default, means none), ``check_rand`` against the Raw's shape, ``saturate``.
    Returns (raw, rand as uint64 or None, rand_bits as an int)."""
    raw = check_raw(raw)
    if isinstance(rand_bits, (int, np.integer)) and not isinstance(rand_bits, (bool, np.bool_)) \
            and rand_bits == 0:
        rand_bits = None
    rand_bits = check_round_options(rounding, rand_bits)
    shape = np.broadcast_shapes(*(np.shape(f) for f in raw if f is not None))
    rand = check_rand(rand, rounding, rand_bits, shape)
    check_flag(saturate, "saturate")
    return raw, rand, rand_bits or 0


def encode(
    raw: Raw,
    fmt: FloatFormat | IntFormat | str,
    *,
    rounding: str = "rne",
    saturate: bool = False,
    rand=None,
    rand_bits: int | None = None,
) -> np.ndarray:
    """Round exact values into ``fmt`` and return the encodings (uint64), per SPEC section 2.

    The last stage: for a float format, ``round`` (the value on ``fmt``'s grid) and then the
    packing into fields with the rules below, in one function (the packing needs to know
    whether the value before rounding was an exact zero, which ``round``'s result no longer
    says). Its hardware twin is the rounder (``exmy.hdl.rounding.round`` and its contracts, whose
    last step, ``exmy.hdl.rounding.encode``, is this packing).

    Overflow follows SPEC 2.3 with one IEEE refinement the spec is silent on: in ``rtz`` a
    finite value never rounds to Inf (IEEE 754 7.4: round-toward-zero overflow delivers the
    largest finite number). NaN into a format without NaN gives +0; Inf into a format without
    Inf overflows. For integer formats the result is rounded to an integer and clamped to the
    format's range (NaN gives 0): conversion to integers always saturates. With
    ``saturate=True`` every Inf, overflowed or given, becomes +-max_finite (SATFINITE).

    Stochastic rounding (SPEC 2.6) reads the top ``rand_bits`` discarded bits; a sticky input
    contributes nothing to them ("the rest are dropped"). ``fmt`` may be a name.

    Arguments are checked as every golden unit checks them: ``raw`` by ``check_raw``,
    ``rounding`` / ``rand_bits`` by ``check_round_options`` (``rand_bits`` 1..32 with
    stochastic rounding and only with it; 0 counts as not given), ``rand`` by ``check_rand``
    (stochastic rounding only; integers below ``2**rand_bits``, a scalar or the Raw's shape),
    ``saturate`` by ``check_flag``.
    """
    fmt = _parse_fmt(fmt)
    raw, rand, rand_bits = _check_round_args(raw, rounding, rand, rand_bits, saturate)
    saturate = bool(saturate)
    if isinstance(fmt, IntFormat):
        return _encode_int(raw, fmt, rounding, rand, rand_bits)
    return _encode_float(raw, fmt, rounding, saturate, rand, rand_bits)


def _encode_float(raw: Raw, fmt: FloatFormat, rounding: str, saturate: bool, rand,
                  rand_bits: int) -> np.ndarray:
    """``encode``'s body for a float format, its arguments already checked (``rand`` uint64
    or None, ``rand_bits`` an int, 0 for none): for a golden unit that calls it once per
    cycle with values it made itself (the float-accumulator MAC)."""
    raw = _reduce_wide(raw, SIG_LIMIT_BITS)
    rounded, nonzero_in = _round_float(raw, fmt, rounding, rand, rand_bits)
    return _pack(rounded, nonzero_in, fmt, rounding, saturate)


def round(  # (shadows the builtin here: the stage's name in both layers, issue 12)
    raw: Raw,
    fmt: FloatFormat | str,
    *,
    rounding: str = "rne",
    rand=None,
    rand_bits: int | None = None,
) -> Raw:
    """The rounding stage of ``encode``: ``raw`` rounded to ``fmt``'s precision, as an exact
    ``Raw`` (``sticky`` None) on the format's grid.

    The grid is p = M + 1 significant bits, the subnormal grid ``2**(emin - M)`` below
    (also for formats with subnormals off: ``encode`` then flushes), and no upper bound:
    overflow, the special-value and zero rules and the packing into fields are ``encode``'s.
    The result's ``sig`` is below ``2**p`` (a carry out of the top renormalises), its ``exp``
    the quantum; NaN and Inf lanes pass through (their ``sig`` is 0). Modes and ``rand`` /
    ``rand_bits`` as ``encode``; ``encode(round(raw, fmt), fmt)`` equals ``encode(raw, fmt)``
    except for values that round to zero (``encode`` also needs to know they were not exact
    zeros). ``fmt`` is a float format (integer formats: ``encode``).
    """
    fmt = _parse_fmt(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"round takes a float format, not {fmt}; integers: use encode")
    raw, rand, rand_bits = _check_round_args(raw, rounding, rand, rand_bits)
    rounded, _ = _round_float(_reduce_wide(raw, SIG_LIMIT_BITS), fmt, rounding, rand, rand_bits)
    return rounded


def _round_float(raw: Raw, fmt: FloatFormat, rounding, rand, rand_bits
                 ) -> tuple[Raw, np.ndarray]:
    """``round``'s body: the rounded Raw, and which lanes were non-zero before rounding."""
    sign = np.asarray(raw.sign).astype(np.int64)
    sig = np.asarray(raw.sig).astype(np.int64)
    exp = np.asarray(raw.exp).astype(np.int64)
    nan = np.asarray(raw.nan, dtype=bool)
    inf = np.asarray(raw.inf, dtype=bool)
    sticky = np.zeros(sig.shape, bool) if raw.sticky is None else np.asarray(raw.sticky, bool)
    M = fmt.man_bits

    # round on the format's grid (exponent unbounded above, subnormal grid below)
    msb = bit_length(sig) - 1  # -1 for zero
    q = np.maximum(exp + msb - M, fmt.emin - M)
    q = np.where(sig == 0, exp, q)
    kept, inc = _round_at(sig, exp, q, sticky, sign, rounding, rand, rand_bits)
    n = kept + inc  # value = n * 2**q (inexact part decided)
    nonzero_in = (sig != 0) | sticky
    # renormalise a carry out of the top
    carry = n >= (1 << (M + 1))
    n = np.where(carry, n >> 1, n)
    q = q + carry
    special = nan | inf
    n = np.where(special, 0, n)
    rounded = Raw(sign.astype(np.uint8), n.astype(np.int64), q.astype(np.int64), nan, inf)
    return rounded, nonzero_in


def _pack(rounded: Raw, nonzero_in: np.ndarray, fmt: FloatFormat, rounding, saturate):
    """``encode``'s last step: a value on ``fmt``'s grid (``round``'s result) -> encodings,
    with the overflow, Inf, NaN and zero rules; ``nonzero_in``: the lanes that were not an
    exact zero before rounding."""
    sign = rounded.sign.astype(np.int64)
    n, q, nan, inf = rounded.sig, rounded.exp, rounded.nan, rounded.inf
    M = fmt.man_bits

    # fields
    is_normal = n >= (1 << M)
    field = np.where(is_normal, q + M + fmt.bias, 0)
    man = np.where(is_normal, n - (1 << M), n)
    if not fmt.zero:
        # no zero: exp field 0 is 2**emin; a result below it becomes min_value
        field = np.where(n == 0, 0, field)
        man = np.where(n == 0, 0, man)
    # subnormals off: flush subnormal results to zero of the same sign
    if fmt.zero and not fmt.subnormals:
        man = np.where(is_normal, man, 0)

    mag = (field << M) | man
    over = (field > fmt.emax_field) | (
        (field == fmt.emax_field) & (man > fmt.max_man_at_emax)
    )
    if fmt.has_inf and not saturate:
        # RTZ never rounds up to Inf (np.full, not over_code[:] =, so scalars work too)
        over_code = np.full(
            n.shape, fmt.max_finite_code if rounding == "rtz" else fmt.inf_code, np.int64)
    elif fmt.special in ("fn", "fnuz") and not saturate and rounding != "rtz":
        over_code = np.full(n.shape, -1, np.int64)  # marker: NaN
    else:
        over_code = np.full(n.shape, fmt.max_finite_code, np.int64)

    # Inf values follow the overflow rule (SPEC 2.3): saturate gives max_finite (SATFINITE
    # semantics, also for Inf results of arithmetic); else Inf, or NaN / max where no Inf
    if saturate or fmt.special == "none":
        inf_code = fmt.max_finite_code
    elif fmt.has_inf:
        inf_code = fmt.inf_code
    else:
        inf_code = -1
    mag = np.where(over, over_code, mag)
    mag = np.where(inf, inf_code, mag)
    is_nan_out = nan | (mag == -1)
    mag = np.where(mag == -1, 0, mag)

    out = mag.astype(np.uint64)
    if fmt.signed:
        out = out | (sign.astype(np.uint64) << np.uint64(fmt.sign_shift))
        if fmt.special == "fnuz":
            # fnuz has no -0: a zero result is +0
            out = np.where(mag == 0, np.uint64(0), out)
    else:
        # unsigned: negative non-zero values have no encoding
        neg = (sign == 1) & (nonzero_in | inf)
        bad = np.uint64(fmt.nan_code) if fmt.has_nan else np.uint64(0)
        out = np.where(neg & ~nan, bad, out)
    if not fmt.zero:
        # zero has no encoding either: exact zero gives NaN (as ml_dtypes does)
        out = np.where(~nonzero_in & ~inf & ~nan, np.uint64(fmt.nan_code), out)
    if fmt.has_nan:
        out = np.where(is_nan_out, np.uint64(fmt.nan_code), out)
    else:
        out = np.where(is_nan_out, np.uint64(0), out)
    return out.astype(np.uint64)


def round_at(sig, exp, q, sticky, sign, rounding, rand=None, rand_bits=0):
    """Round ``(sig + sticky) * 2**exp`` to a multiple of ``2**q`` (magnitude, by mode).

    Returns ``(kept, inc)``: the truncated multiple count and the 0/1 increment. Every unit
    with its own rounding position (approx-fma) calls this rather than re-deriving it.
    Stochastic rounding reads ``rand_bits`` bits of ``rand``. ``sig`` (below 2**63), ``exp``,
    ``q`` and ``sign`` are integers or integer arrays, ``sticky`` bools, of one shape (a
    scalar broadcasts); anything else is a ValueError or TypeError naming the argument.
    """
    rounding = _check_options(rounding, rand_bits if rounding == "stochastic" else None)
    if rounding == "stochastic" and rand is None:
        raise ValueError("Stochastic rounding needs rand (the random bits), not None")
    raw = check_raw(Raw(sign, sig, exp, np.False_, np.False_, sticky), "round_at's operand")
    top = int(raw.sig.max()) if raw.sig.size else 0
    if top >> 63:
        raise ValueError(f"round_at's operand.sig must be below 2**63, not {top}")
    qa = np.asarray(q) if not isinstance(q, (bool, np.bool_)) else None
    if qa is None or qa.dtype.kind not in "iuO" or (qa.dtype.kind == "O" and not all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in qa.flat)):
        raise TypeError(f"round_at: the rounding position q must be an integer or an array "
                        f"of integers, not {q!r}")
    return _round_at(raw.sig, raw.exp, q, raw.sticky, raw.sign, rounding, rand, rand_bits)


def _round_at(sig, exp, q, sticky, sign, rounding, rand=None, rand_bits=0):
    """``round_at`` on checked arguments (``rounding`` a checked mode): the model's own calls."""
    sig = np.asarray(sig, dtype=np.int64)
    try:
        shift = np.asarray(q - np.asarray(exp, dtype=np.int64), dtype=np.int64)
    except OverflowError:
        raise ValueError(f"round_at: the rounding position q={q!r} is out of reach of the "
                         "exponents (q - exp must fit in 64 bits)") from None
    left = np.maximum(-shift, 0)
    right = np.clip(shift, 0, 63)
    kept = np.where(shift <= 0, sig << left, sig >> right)
    rbit = np.where(shift > 0, (sig >> np.maximum(right - 1, 0)) & 1, 0)
    below = np.where(shift > 1, sig & ((np.int64(1) << np.maximum(right - 1, 0)) - 1), 0)
    st = (below != 0) | np.asarray(sticky, bool)
    if rounding == "rne":
        inc = rbit & (st | (kept & 1)).astype(np.int64)
    elif rounding == "rna":
        inc = rbit
    elif rounding == "rtz":
        inc = np.zeros_like(kept)
    else:  # stochastic: round up iff rand + d_R >= 2**R
        # d_R = bits shift-1 .. shift-R of sig (the top R discarded bits), read at the true
        # shift: a shift past sig's width gives 0 (clipping it to 63 read sig's own bits)
        R = rand_bits
        lo = shift - R  # the bit of sig that lands on d_R's LSB
        dR = np.where(
            lo >= 0, sig >> np.clip(lo, 0, 63), sig << np.clip(-lo, 0, 63)
        ) & ((1 << R) - 1)
        dR = np.where(shift > 0, dR, 0)
        r = _u64(rand).astype(np.int64) & ((1 << R) - 1)
        inc = ((r + dR) >= (1 << R)).astype(np.int64)
    return kept, inc.astype(np.int64)


def _encode_int(raw: Raw, fmt: IntFormat, rounding, rand, rand_bits) -> np.ndarray:
    raw = _reduce_wide(raw, SIG_LIMIT_BITS)
    sig = np.asarray(raw.sig).astype(np.int64)
    exp = np.asarray(raw.exp).astype(np.int64)
    sticky = np.zeros(sig.shape, bool) if raw.sticky is None else np.asarray(raw.sticky, bool)
    sign = np.asarray(raw.sign).astype(np.int64)
    exp = exp - fmt.scale_exp  # count in units of the code's implied scale
    # integers never exceed 2**32: a value of 2**40 or more saturates (decided here, before
    # a left shift could wrap int64: sig << exp for sig of up to 62 bits)
    big = ((exp + bit_length(sig)) > 40) & (sig != 0)
    exp_c = np.where(big, 0, exp)
    kept, inc = _round_at(sig, exp_c, np.zeros_like(exp), sticky, sign, rounding, rand,
                          rand_bits)
    n = kept + inc
    n = np.where(big | raw.inf, np.int64(1) << 40, n)
    v = np.where(sign == 1, -n, n)
    v = np.clip(v, fmt.min_value, fmt.max_value)
    v = np.where(raw.nan, 0, v)
    return (v & ((1 << fmt.bits) - 1)).astype(np.uint64)


# -- helpers for tests and reports (exact, Python-level; not used by the model) ------------
def _one_code(bits, fmt, what: str) -> tuple[np.ndarray, FloatFormat | IntFormat]:
    fmt = _parse_fmt(fmt)
    if isinstance(bits, (list, tuple, np.ndarray)) and np.ndim(bits) != 0:
        raise TypeError(f"{what} takes one encoding of {fmt.name}, not {bits!r}")
    return check_encodings(bits, fmt, f"{what} input").reshape(1), fmt


def to_fraction(bits: int, fmt: FloatFormat | IntFormat | str) -> Fraction | float:
    """Exact value of one encoding: a Fraction, or float('nan') / ±float('inf').

    ``fmt`` may be a name; ``bits`` must be one integer encoding of it (``check_encodings``).
    """
    code, fmt = _one_code(bits, fmt, "to_fraction")
    r = decode(code, fmt)
    if r.nan[0]:
        return float("nan")
    if r.inf[0]:
        return float("-inf") if r.sign[0] else float("inf")
    v = Fraction(int(r.sig[0])) * Fraction(2) ** int(r.exp[0])
    return -v if r.sign[0] else v


def describe(bits: int, fmt: FloatFormat | IntFormat | str) -> str:
    """``0x3c (+1.5 e4m3fn)``: hex and decoded value, for mismatch reports."""
    code, fmt = _one_code(bits, fmt, "describe")
    bits = int(code[0])
    digits = max(1, (fmt.width + 3) // 4)
    v = to_fraction(bits, fmt)
    if isinstance(v, Fraction):
        r = decode(code, fmt)
        neg_zero = v == 0 and r.sign[0] == 1
        txt = "-0" if neg_zero else f"{float(v):+.9g}"
    else:
        txt = str(v)
    return f"0x{bits:0{digits}x} ({txt} {fmt.name})"
