"""Unit parameters: parsed once, checked once, and the geometry both layers derive from them.

Everything here is a function of formats and parameters, never of operand values: the enums
for rounding modes and special values (the CLI's choices derive from them), the one parser
for (rounding, rand_bits), the FMA, MAC and L-Mul parameter checks, and the derived geometry
that the golden model and the hardware must agree on (FMA window and datapath widths, MAC
accumulator widths, L-Mul offsets, the stochastic R). ``exmy.hdl`` imports golden's
``format`` and ``params`` modules and nothing else of it, so a model and its hardware cannot
disagree on a width, a binary point or an error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

from .format import CATALOG, MAX_INT_BITS, MAX_MAN_BITS, FloatFormat, IntFormat, parse_format

__all__ = [
    "plain_scalar",
    "Rounding",
    "Special",
    "LMulForm",
    "LMulOffset",
    "ROUNDING_MODES",
    "FMA_ROUNDING_MODES",
    "APPROX_FMA_ROUNDING_MODES",
    "INT_ROUNDING_MODES",
    "MAX_GRANULARITY",
    "MAX_PRECISION",
    "MAX_RAND_BITS",
    "DEFAULT_DEPTH",
    "FLAG_NAN",
    "FLAG_POS_INF",
    "FLAG_NEG_INF",
    "LMUL_FORMS",
    "LMUL_OFFSETS",
    "MULTIPLIER_NAMES",
    "ProductGeometry",
    "MacParams",
    "IntMacParams",
    "approx_fma_datapath_width",
    "ceil_log2",
    "check_approx_params",
    "check_bool",
    "check_fma_operand",
    "check_fma_output",
    "check_fma_rounding",
    "check_format",
    "check_int_product",
    "check_lmul_formats",
    "check_lmul_options",
    "check_rounding",
    "check_rounding_options",
    "fma_window_bits",
    "int_mac_params",
    "lmul_l",
    "lmul_offset",
    "mac_params",
    "product_geometry",
    "stochastic_bits",
]


# -- enums ------------------------------------------------------------------------------------
class Rounding(StrEnum):
    """Rounding modes (SPEC 2.2). A ``str``: ``Rounding.RNE == "rne"``."""

    RNE = "rne"
    RTZ = "rtz"
    RNA = "rna"
    STOCHASTIC = "stochastic"


class Special(StrEnum):
    """Special-value encodings of a float format (SPEC 1.1; ``FloatFormat.special``)."""

    IEEE = "ieee"
    FN = "fn"
    FNUZ = "fnuz"
    NONE = "none"


class LMulForm(StrEnum):
    """L-Mul forms (SPEC 3.4): what one adder computes, or the paper's formula literally."""

    ADDER = "adder"
    FORMULA = "formula"


class LMulOffset(StrEnum):
    """L-Mul's constant: the paper's 2^-l(M), or 0 (piecewise affine multiplication)."""

    LMUL = "lmul"
    PAM = "pam"


ROUNDING_MODES: tuple[Rounding, ...] = tuple(Rounding)
INT_ROUNDING_MODES = (Rounding.RNE, Rounding.RTZ, Rounding.RNA)
FMA_ROUNDING_MODES = (Rounding.RNE, Rounding.RTZ, Rounding.RNA)
APPROX_FMA_ROUNDING_MODES = (Rounding.RNE, Rounding.RTZ)
LMUL_FORMS: tuple[LMulForm, ...] = tuple(LMulForm)
LMUL_OFFSETS: tuple[LMulOffset, ...] = tuple(LMulOffset)
#: widest ``rand`` port for stochastic rounding
MAX_RAND_BITS = 32


def ceil_log2(n: int) -> int:
    """Smallest w with ``2**w >= n`` (0 for n <= 1): the one ceil-log2 of exmy."""
    return (n - 1).bit_length() if n > 1 else 0


# -- the one parser for formats and scalar options ---------------------------------------------
def check_format(value, what: str, *, kind=None, optional: bool = False):
    """Parse a format argument (name or object) once; ``kind`` restricts it to
    ``FloatFormat`` or ``IntFormat``. ``what`` names the argument in messages."""
    if value is None:
        if optional:
            return None
        raise TypeError(f"{what} format is required")
    if not isinstance(value, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{what} format must be a format name or object, not {value!r}")
    fmt = parse_format(value)
    if kind is FloatFormat and not isinstance(fmt, FloatFormat):
        raise ValueError(f"{what} format must be a float format, not {fmt}")
    if kind is IntFormat and not isinstance(fmt, IntFormat):
        raise ValueError(f"{what} format must be an integer format, not {fmt}")
    return fmt


def check_unscaled(fmt, what: str, unit: str):
    """Refuse an integer format with an implied scale (``mxint8``) where ``unit`` would
    silently treat its codes as plain integers; only dot and mx-dot honour the scale."""
    if isinstance(fmt, IntFormat) and getattr(fmt, "scale_exp", 0):
        raise ValueError(
            f"{what} format {fmt} has an implied scale 2^{fmt.scale_exp}, which {unit} does "
            f"not apply; use int{fmt.bits} and apply the scale outside, or dot / mx-dot"
        )
    return fmt


def check_int_product(fmt_a: IntFormat, fmt_b: IntFormat) -> int:
    """The integer multiplier's product width ``bits_a + bits_b``, at most ``MAX_INT_BITS``
    (the product is an integer format too). Golden and hardware both call this."""
    w = fmt_a.bits + fmt_b.bits
    if w > MAX_INT_BITS:
        raise ValueError(
            f"The exact product of {fmt_a} x {fmt_b} needs {w} bits; integer "
            f"formats have at most {MAX_INT_BITS}, so the operands may total at most "
            f"{MAX_INT_BITS} bits")
    return w


def check_bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {value!r}")
    return value


def check_count(value, what: str, low: int = 1) -> int:
    """An integer option ``>= low`` (a numpy integer counts as the int it holds): TypeError or
    ValueError naming ``what``."""
    v = plain_scalar(value)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    if v < low:
        raise ValueError(f"{what} must be an integer >= {low}, not {v}")
    return v


def check_rounding(rounding, *, allowed: tuple[str, ...] = ROUNDING_MODES,
                   unit: str | None = None) -> Rounding:
    """Parse a rounding mode into ``Rounding``. ``allowed`` restricts the modes; with
    ``unit`` the message says which unit refuses the mode."""
    if not isinstance(rounding, str):
        raise TypeError(f"Rounding mode must be a string, not {rounding!r}")
    if rounding not in allowed:
        if unit is not None and rounding in ROUNDING_MODES:
            raise ValueError(f"{unit} supports rounding modes {', '.join(allowed)}, "
                             f"not {str(rounding)!r}")
        modes = ", ".join(ROUNDING_MODES if unit is not None else allowed)
        raise ValueError(f"Rounding mode must be one of {modes}, not {str(rounding)!r}")
    return Rounding(rounding)


def check_rounding_options(rounding, rand_bits, *, allowed: tuple[str, ...] = ROUNDING_MODES,
                           unit: str | None = None) -> Rounding:
    """Parse a unit's (rounding, rand_bits) pair: ``rand_bits`` (1..32) goes with stochastic
    rounding and only with it. Returns the ``Rounding``."""
    mode = check_rounding(rounding, allowed=allowed, unit=unit)
    if mode is Rounding.STOCHASTIC:
        if rand_bits is None:
            raise ValueError("Stochastic rounding needs rand_bits (the width of the rand port)")
        if not isinstance(rand_bits, int) or isinstance(rand_bits, bool):
            raise TypeError(f"rand_bits must be an integer, not {rand_bits!r}")
        if not 1 <= rand_bits <= MAX_RAND_BITS:
            raise ValueError(f"rand_bits must be in 1..{MAX_RAND_BITS}, not {rand_bits}")
    elif rand_bits is not None:
        raise ValueError(
            f"rand_bits={rand_bits} is only meaningful with rounding='stochastic', "
            f"not rounding={str(rounding)!r}"
        )
    return mode


def stochastic_bits(rounding, rand_bits) -> int:
    """SPEC 2.6's R: the bits below the kept ones that a rounder reads (``rand_bits`` for
    stochastic rounding, else 1: the round bit)."""
    return rand_bits if rounding == Rounding.STOCHASTIC and rand_bits else 1


# -- FMA and approximate-normalization FMA (SPEC 3, 3.3) ---------------------------------------
#: Largest granularity G: the golden model keeps p + G + 1 + max(product, addend) bits in
#: int64, and a normalization step wider than 32 bits has no hardware use.
MAX_GRANULARITY = 32
#: Largest ``fma_raw`` precision: p_out + G - 1 for the widest output and granularity.
MAX_PRECISION = MAX_MAN_BITS + MAX_GRANULARITY


def check_fma_operand(fmt, what: str) -> FloatFormat:
    """FMA operand ``what`` (a, b or c): a float format with a zero."""
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"FMA operand {what} format must be a format name or object, not {fmt!r}")
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"FMA operand {what} must be a float format, not {fmt}")
    if not fmt.zero:
        raise ValueError(
            f"FMA operand {what} format {fmt} has no zero (a block-scale format); "
            f"apply scales by exponent addition, not in an FMA"
        )
    return fmt


def check_fma_output(fmt) -> FloatFormat:
    """FMA output format: any float format."""
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"FMA output format must be a format name or object, not {fmt!r}")
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"FMA output format must be a float format, not {fmt}")
    return fmt


def check_fma_rounding(rounding, supported: tuple[str, ...], unit: str) -> Rounding:
    """``rounding`` is a mode ``unit`` supports."""
    return check_rounding(rounding, allowed=supported, unit=unit)


def approx_fma_datapath_width(fmt_a, fmt_b, fmt_c) -> int:
    """Width D of the adder over which SPEC 3.3's leading-zero count runs: every bit position
    that an exact ``a*b + c`` of these formats can occupy, counted from the highest adder top
    to the finest quantum, both included::

        R_max = max(emax_a + emax_b + 1, emax_c) + 1        # SPEC 3.3 step 1, largest R
        L_min = min(qa + qb, qc),  q = emin - M              # finest product / addend quantum
        D     = R_max - L_min + 1

    The leading-zero count ``lz = R - L`` of a non-zero result never exceeds D - 1, so a window
    K >= D - 1 never binds (it equals ``window=None``); ``approx_fma`` rejects K > D.
    Examples: e4m3fn x e4m3fn + e4m3fn: 37; bfloat16: 523; float16: 81; e2m1fn: 9;
    e4m3fn x e4m3fn + float16: 43. The output format plays no part.
    """
    fa = check_fma_operand(fmt_a, "a")
    fb = check_fma_operand(fmt_b, "b")
    fc = check_fma_operand(fmt_c, "c")
    r_max = max(fa.emax + fb.emax + 1, fc.emax) + 1
    l_min = min(fa.quantum_exp + fb.quantum_exp, fc.quantum_exp)
    return r_max - l_min + 1


def fma_window_bits(fa: FloatFormat, fb: FloatFormat, fc: FloatFormat, fo: FloatFormat,
                    granularity: int = 1, rand_bits: int = 0) -> int:
    """Width W of the hardware FMA's adder window (carry bit included)::

        W = max(wp + pc + 1, max(wp, pc) + po + G + 1 + max(R - 1, 0)),   wp = pa + pb

    (the derivation is in ``exmy.hdl.fma.FMA``'s docstring). ``rand_bits`` R: stochastic
    rounding (the float-accumulator MAC's FMA) reads the R bits below the rounding position,
    exact: the window keeps R - 1 more bits than the round bit needs."""
    wp = fa.sig_bits + fb.sig_bits
    pc = fc.sig_bits
    return max(wp + pc + 1,
               max(wp, pc) + fo.sig_bits + granularity + 1 + max(rand_bits - 1, 0))


def check_approx_params(granularity, window, fa, fb, fc) -> None:
    """SPEC 3.3's granularity G and window K for operand formats ``fa``, ``fb``, ``fc``."""
    if not isinstance(granularity, int) or isinstance(granularity, bool):
        raise TypeError(f"Granularity must be an integer, not {granularity!r}")
    if granularity < 1 or granularity & (granularity - 1):
        raise ValueError(f"Granularity must be a power of two >= 1, not {granularity}")
    if granularity > MAX_GRANULARITY:
        raise ValueError(f"Granularity must be at most {MAX_GRANULARITY}, not {granularity}")
    if window is None:
        return
    if not isinstance(window, int) or isinstance(window, bool):
        raise TypeError(f"Window must be an integer or None, not {window!r}")
    if window < 0:
        raise ValueError(f"Window must be a non-negative integer or None, not {window}")
    if window % granularity:
        lo = window // granularity * granularity
        hi = lo + granularity
        fix = f"{hi}" if lo == 0 else f"{lo} or {hi}"
        raise ValueError(
            f"Window {window} is not a multiple of granularity {granularity}; use {fix}"
        )
    d = approx_fma_datapath_width(fa, fb, fc)
    if window > d:
        raise ValueError(
            f"Window {window} is larger than the datapath ({d} bits for {fa} x {fb} + {fc}); "
            f"use a window <= {d}, or window=None for no cap"
        )


# -- L-Mul (SPEC 3.4) --------------------------------------------------------------------------
def lmul_l(m: int) -> int:
    """The paper's l(m): m for m <= 3, 3 for m = 4, 4 for m > 4."""
    return m if m <= 3 else (3 if m == 4 else 4)


def lmul_offset(m: int, offset: str = LMulOffset.LMUL) -> int:
    """The offset added to the mantissa field, in units of its LSB: 2^(M - l(M)), or 0 (pam)."""
    return 0 if offset == LMulOffset.PAM else 1 << (m - lmul_l(m))


def _check_lmul_format(fmt, what: str) -> FloatFormat:
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"L-Mul {what} format must be a FloatFormat or a format name, not {fmt!r}")
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(
            f"L-Mul {what} format must be a float format, not the integer format {fmt}"
        )
    if fmt.man_bits < 1:
        raise ValueError(
            f"L-Mul {what} format must have at least 1 mantissa bit, not {fmt.man_bits} ({fmt}): "
            f"with M = 0 there is no mantissa to add"
        )
    if not fmt.zero:
        raise ValueError(f"L-Mul {what} format must have a zero, not {fmt} (a block-scale format)")
    return fmt


def check_lmul_formats(fmt, fmt_out=None) -> tuple[FloatFormat, FloatFormat]:
    """Validate (and parse) an L-Mul input format and optional output format."""
    fmt = _check_lmul_format(fmt, "input")
    if fmt_out is None:
        return fmt, fmt
    fmt_out = _check_lmul_format(fmt_out, "output")
    if fmt_out.man_bits != fmt.man_bits:
        raise ValueError(
            f"L-Mul output format must have the input's mantissa width, not {fmt_out} "
            f"(M = {fmt_out.man_bits}) for input {fmt} (M = {fmt.man_bits}); only the exponent "
            f"may be widened"
        )
    return fmt, fmt_out


def check_lmul_options(form, offset, saturate) -> tuple[LMulForm, LMulOffset]:
    """Parse L-Mul's ``form`` and ``offset`` into their enums (and check ``saturate``)."""
    if not isinstance(form, str):
        raise TypeError(f"L-Mul form must be a string, not {form!r}")
    if form not in LMUL_FORMS:
        raise ValueError(f"L-Mul form must be one of {', '.join(LMUL_FORMS)}, not {form!r}")
    if not isinstance(offset, str):
        raise TypeError(f"L-Mul offset must be a string, not {offset!r}")
    if offset not in LMUL_OFFSETS:
        raise ValueError(f"L-Mul offset must be one of {', '.join(LMUL_OFFSETS)}, not {offset!r}")
    check_bool(saturate, "saturate")
    return LMulForm(form), LMulOffset(offset)


# -- MAC accumulator geometry (SPEC 3.2) -------------------------------------------------------
#: Products per dot product when nothing else is said (SPEC 3.2).
DEFAULT_DEPTH = 4608
#: the MAC's sticky flag bits (SPEC 3.2)
FLAG_NAN = 1
FLAG_POS_INF = 2
FLAG_NEG_INF = 4


class ProductGeometry(NamedTuple):
    """Where one product lands on the accumulator's grid.

    ``lsb_exp``: every product is an integer multiple of ``2**lsb_exp``. ``max_pos`` /
    ``max_neg``: the largest positive and the most negative finite product, in units of
    ``2**lsb_exp`` (``max_neg <= 0``). ``sig_bits``: width of the multiplier's significand
    product. ``shift_max``: the product's significand is shifted left by 0..shift_max places
    to reach the grid.
    """

    lsb_exp: int
    max_pos: int
    max_neg: int
    sig_bits: int
    shift_max: int


def _exact_geometry(fmt_a: FloatFormat, fmt_b: FloatFormat) -> ProductGeometry:
    # decode() gives every finite operand as sig * 2**exp with
    # exp in [emin - M, emax - M] (subnormals at emin - M), sig < 2**(M+1).
    lsb = fmt_a.quantum_exp + fmt_b.quantum_exp
    top = Fraction(fmt_a.max_finite * fmt_b.max_finite) / Fraction(2) ** lsb
    if top.denominator != 1:  # cannot happen: both maxima lie on their quantum grids
        raise RuntimeError(f"Product maximum {top} of {fmt_a} x {fmt_b} is off the grid")
    mx = int(top)
    signed = fmt_a.signed or fmt_b.signed
    return ProductGeometry(
        lsb_exp=lsb,
        max_pos=mx,
        max_neg=-mx if signed else 0,
        sig_bits=fmt_a.sig_bits + fmt_b.sig_bits,
        shift_max=(fmt_a.emax - fmt_a.emin) + (fmt_b.emax - fmt_b.emin),
    )


def lmul_mac_format(fmt_a: FloatFormat, fmt_b: FloatFormat) -> FloatFormat:
    """The one operand format of an L-Mul MAC (SPEC 3.4 multiplies one format)."""
    if fmt_a != fmt_b:
        raise ValueError(
            f"The L-Mul MAC multiplies operands of one format (SPEC 3.4), not {fmt_a} x "
            f"{fmt_b}; use multiplier='exact' for mixed formats"
        )
    check_lmul_formats(fmt_a)  # M >= 1, a zero
    return fmt_a


def lmul_lsb(fmt: FloatFormat) -> int:
    """Grid of the L-Mul MAC: every non-zero L-Mul product is 1.man * 2**(field - bias) with
    field >= 1."""
    return 1 - fmt.bias - fmt.man_bits


def _lmul_geometry(fmt_a: FloatFormat, fmt_b: FloatFormat) -> ProductGeometry:
    fmt = lmul_mac_format(fmt_a, fmt_b)
    M = fmt.man_bits
    # the adder's largest sum: both magnitudes max_finite (t is monotone in the value)
    t = 2 * fmt.max_finite_code - (fmt.bias << M) + lmul_offset(M)
    field = t >> M
    mx = (((t & ((1 << M) - 1)) | (1 << M)) << (field - 1)) if field >= 1 else 0
    return ProductGeometry(
        lsb_exp=lmul_lsb(fmt),
        max_pos=mx,
        max_neg=-mx if fmt.signed else 0,
        sig_bits=M + 1,
        shift_max=max(field - 1, 0),
    )


#: Product geometry by multiplier name: ``"exact"`` is SPEC 3.1's exact product; ``"lmul"`` is
#: SPEC 3.4's L-Mul (same-format operands, M >= 1): its products are normal numbers of the
#: operand format's precision, so its grid is ``2**(1 - bias - M)`` (coarser than the exact
#: one), and its largest product (the adder's carry may reach the next binade) can exceed
#: ``max_finite**2``; it is accumulated unbounded, never turned into Inf.
_GEOMETRY = {"exact": _exact_geometry, "lmul": _lmul_geometry}
MULTIPLIER_NAMES = tuple(_GEOMETRY)
#: Multiplier names SPEC 3.2 defines but exmy may not have yet, for a helpful error.
_PLANNED_MULTIPLIERS: dict[str, str] = {}


def product_geometry(multiplier: str, fmt_a: FloatFormat, fmt_b: FloatFormat) -> ProductGeometry:
    """Where ``multiplier``'s products of ``fmt_a`` x ``fmt_b`` land on the accumulator grid."""
    return _GEOMETRY[multiplier](fmt_a, fmt_b)


def _min_width(count: int, max_pos: int, max_neg: int) -> int:
    """Smallest two's complement width holding every sum of ``count`` products in
    ``[max_neg, max_pos]``: ``count*max_pos <= 2**(W-1) - 1`` and
    ``count*max_neg >= -2**(W-1)``."""
    w_pos = (count * max_pos).bit_length() + 1
    w_neg = (count * -max_neg - 1).bit_length() + 1 if max_neg < 0 else 1
    return max(w_pos, w_neg, 2)


def _safe_count(acc_bits: int, max_pos: int, max_neg: int) -> int:
    """How many worst-case products of one sign (either sign) fit without overflow."""
    half = 1 << (acc_bits - 1)
    counts = []
    if max_pos > 0:
        counts.append((half - 1) // max_pos)
    if max_neg < 0:
        counts.append(half // -max_neg)
    return min(counts) if counts else 0


def _check_depth(depth) -> int:
    if not isinstance(depth, int) or isinstance(depth, bool):
        raise TypeError(f"MAC depth must be a positive integer, not {depth!r}")
    if depth < 1:
        raise ValueError(f"MAC depth must be a positive integer, not {depth}")
    return depth


#: the widest accumulator exmy builds: far above any catalog format's exact accumulator, far
#: below Amaranth's 65,536-bit signal limit (an adder that wide would not synthesize anyway)
MAX_ACC_BITS = 4096


def _check_acc_bits(acc_bits, product_bits: int, default: int, what: str) -> None:
    if not isinstance(acc_bits, int) or isinstance(acc_bits, bool):
        raise TypeError(f"Accumulator width must be an integer, not {acc_bits!r}")
    if acc_bits < product_bits:
        raise ValueError(
            f"Accumulator width {acc_bits} is smaller than one {what} "
            f"({product_bits} bits); use acc_bits >= {product_bits}, or leave it unset for "
            f"the default {default}"
        )
    if acc_bits > MAX_ACC_BITS:
        raise ValueError(
            f"Accumulator width {acc_bits} is larger than exmy's limit of {MAX_ACC_BITS} bits "
            f"(no catalog format needs more than 590); use a smaller acc_bits or depth"
        )


def parse_format_arg(fmt, what: str = ""):
    """A format object, or a name through the one parser (``parse_format``); ``what`` names
    the argument in the TypeError ("Operand a": "Operand a format must be ...")."""
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{f'{what} format' if what else 'Format'} must be a FloatFormat, "
                        f"IntFormat or a name, not {fmt!r}")
    return parse_format(fmt)


def check_mac_operand(fmt, what: str) -> FloatFormat:
    """MAC operand ``what``: a float format with a zero."""
    fmt = parse_format_arg(fmt, f"MAC operand {what}")
    if not isinstance(fmt, FloatFormat):
        raise ValueError(
            f"MAC operand {what} must be a float format, not {fmt}; use int_mac for integer "
            f"formats"
        )
    if not fmt.zero:
        raise ValueError(
            f"MAC operand {what} format {fmt} has no zero (a block-scale format); a MAC "
            f"multiplies values, not scales"
        )
    return fmt


def check_int_mac_operand(fmt, what: str) -> IntFormat:
    """Integer MAC operand ``what``: an integer format."""
    fmt = parse_format_arg(fmt, f"Integer MAC operand {what}")
    if not isinstance(fmt, IntFormat):
        raise ValueError(
            f"Integer MAC operand {what} must be an integer format, not {fmt}; use mac for "
            f"float formats"
        )
    return check_unscaled(fmt, f"Integer MAC operand {what}", "int-mac")


def check_multiplier(multiplier) -> str:
    """A MAC multiplier name (``MULTIPLIER_NAMES``)."""
    if not isinstance(multiplier, str):
        raise TypeError(f"Multiplier must be a string, not {multiplier!r}")
    if multiplier in _GEOMETRY:
        return multiplier
    known = ", ".join(repr(m) for m in _GEOMETRY)
    if multiplier in _PLANNED_MULTIPLIERS:
        raise ValueError(
            f"Multiplier {multiplier!r} ({_PLANNED_MULTIPLIERS[multiplier]}) is not available "
            f"in the MAC yet; use one of {known}"
        )
    raise ValueError(f"Multiplier must be one of {known}, not {multiplier!r}")


class _AccWidths:
    """What every accumulator-width object (MAC, integer MAC, dot, MX dot) derives from
    ``depth``, ``acc_bits`` and the extreme addends ``max_pos`` / ``max_neg`` (LSB units)."""

    depth: int
    acc_bits: int
    max_pos: int
    max_neg: int

    def _settle_acc_bits(self, smallest: int, what: str, default: int | None = None) -> None:
        """Check ``depth``; default ``acc_bits`` (``min_acc_bits`` unless ``default``) and
        check it holds one addend of ``smallest`` bits."""
        _check_depth(self.depth)
        default = self.min_acc_bits if default is None else default
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", default)
        _check_acc_bits(self.acc_bits, smallest, default, what)

    @property
    def guard_bits(self) -> int:
        """``ceil(log2 depth)``: the bits ``depth`` addends add above one."""
        return ceil_log2(self.depth)

    @property
    def min_acc_bits(self) -> int:
        """Smallest width holding every sum of ``depth`` addends exactly (no overflow)."""
        return _min_width(self.depth, self.max_pos, self.max_neg)

    @property
    def safe_depth(self) -> int:
        """How many worst-case addends of one sign ``acc_bits`` holds without overflow
        (>= depth for the default width; one more may wrap)."""
        return _safe_count(self.acc_bits, self.max_pos, self.max_neg)

    @property
    def acc_min(self) -> int:
        """Most negative accumulator value, in LSB units."""
        return -(1 << (self.acc_bits - 1))

    @property
    def acc_max(self) -> int:
        """Most positive accumulator value, in LSB units."""
        return (1 << (self.acc_bits - 1)) - 1


class _WidthsMixin(_AccWidths):
    """Width properties shared by ``MacParams`` and ``IntMacParams`` (their addend is one
    product, ``_geom()``)."""

    def _geom(self) -> ProductGeometry:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def max_pos(self) -> int:
        return self._geom().max_pos

    @property
    def max_neg(self) -> int:
        return self._geom().max_neg

    @property
    def acc_lsb_exp(self) -> int:
        """Bit 0 of ``acc`` weighs ``2**acc_lsb_exp``."""
        return self._geom().lsb_exp

    @property
    def max_product(self) -> int:
        """Largest product magnitude, in units of ``2**acc_lsb_exp``."""
        g = self._geom()
        return max(g.max_pos, -g.max_neg)

    @property
    def product_bits(self) -> int:
        """Two's complement width of one product on the grid: the smallest legal acc_bits."""
        g = self._geom()
        return _min_width(1, g.max_pos, g.max_neg)

    def out_saturates(self, fmt_out: FloatFormat) -> bool:
        """True if some accumulator value lies beyond ``fmt_out``'s max_finite, so that
        ``y`` overflows (saturates, or becomes Inf/NaN per SPEC 2.3) for it. Allowed; the CLI
        states it. Negative accumulator values into an unsigned ``fmt_out`` are not covered
        here (SPEC 2.5 gives NaN or +0)."""
        big = Fraction(1 << (self.acc_bits - 1)) * Fraction(2) ** self.acc_lsb_exp
        return big > fmt_out.max_finite


@dataclass(frozen=True)
class MacParams(_WidthsMixin):
    """Widths of the float MAC's fixed-point accumulator (SPEC 3.2).

    Derivation (exact multiplier). ``decode`` writes every finite operand of a format with
    quantum ``q = emin - M`` as ``sig * 2**exp`` with integer ``sig`` and ``exp >= q``, so
    every product is an integer multiple of ``2**(qa + qb)``: that is ``acc_lsb_exp``, and no
    product is ever rounded. The largest product magnitude in LSB units is
    ``P = max_finite_a * max_finite_b / 2**acc_lsb_exp`` (``max_product``); the most negative
    product is ``-P`` when either format is signed, else 0. Then

    - ``product_bits = bitlen(P) + 1``: one product as a two's complement number; the
      multiplier's significand product has ``sig_bits_a + sig_bits_b`` bits
      (``product_sig_bits``) and is shifted left by 0..``shift_max`` places,
      ``shift_max = (emax_a - emin_a) + (emax_b - emin_b)``.
    - default ``acc_bits = min_acc_bits = bitlen(depth * P) + 1``: the smallest two's
      complement width with ``depth * P <= 2**(acc_bits-1) - 1``. It never exceeds
      ``product_bits + guard_bits`` (``guard_bits = ceil(log2 depth)``) and is one less
      when ``depth * P`` stays below the next power of two.
    - ``paper_acc_bits = 2**Ea + Ma + 2**Eb + Mb + ceil(log2 depth) - 1``: the seed paper's
      minifloat formula, for comparison only.

    Example, e4m3fn x e4m3fn, depth 4608: q = -9 each, ``acc_lsb_exp = -18``,
    P = 448**2 * 2**18 (36 bits), ``product_bits`` 37, ``acc_bits`` 49, paper 50.

    ``acc_bits`` may be given explicitly (at least ``product_bits``); ``safe_depth`` then
    says how many worst-case products fit. Operands are float formats with a zero (a
    block-scale format such as e8m0fnu is not a multiplier operand, as in ``multiply``).
    ``multiplier`` names an entry of ``MULTIPLIER_NAMES``.
    """

    fmt_a: FloatFormat
    fmt_b: FloatFormat
    depth: int = DEFAULT_DEPTH
    acc_bits: int = None  # type: ignore[assignment]
    multiplier: str = "exact"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt_a", check_mac_operand(self.fmt_a, "a"))
        object.__setattr__(self, "fmt_b", check_mac_operand(self.fmt_b, "b"))
        _check_depth(self.depth)
        check_multiplier(self.multiplier)
        self._settle_acc_bits(self.product_bits, f"{self.fmt_a} x {self.fmt_b} product")

    def _geom(self) -> ProductGeometry:
        return product_geometry(self.multiplier, self.fmt_a, self.fmt_b)

    @property
    def product_sig_bits(self) -> int:
        """Width of the multiplier's significand product (Ma + Mb + 2 for ``exact``)."""
        return self._geom().sig_bits

    @property
    def shift_max(self) -> int:
        """A product's significand is shifted left by 0..shift_max places onto the grid."""
        return self._geom().shift_max

    @property
    def paper_acc_bits(self) -> int:
        """The seed paper's minifloat width ``2^Ea + Ma + 2^Eb + Mb + ceil(log2 n) - 1``."""
        a, b = self.fmt_a, self.fmt_b
        return (
            (1 << a.exp_bits) + a.man_bits + (1 << b.exp_bits) + b.man_bits
            + self.guard_bits - 1
        )

    @property
    def has_flags(self) -> bool:
        """Whether products can be NaN/Inf (False when both formats are ``none``)."""
        return self.fmt_a.special != Special.NONE or self.fmt_b.special != Special.NONE

    @property
    def ident(self) -> str:
        """Verilog module name: ``mac_e4m3fn_e4m3fn_acc49`` (plus ``_<multiplier>``)."""
        s = f"mac_{self.fmt_a.ident}_{self.fmt_b.ident}_acc{self.acc_bits}"
        return s if self.multiplier == "exact" else f"{s}_{self.multiplier}"

    def summary(self) -> dict:
        """The numbers a sidecar or report needs, as plain ints/strings."""
        return {
            "a": str(self.fmt_a),
            "b": str(self.fmt_b),
            "multiplier": self.multiplier,
            "depth": self.depth,
            "acc_bits": self.acc_bits,
            "acc_lsb_exp": self.acc_lsb_exp,
            "min_acc_bits": self.min_acc_bits,
            "paper_acc_bits": self.paper_acc_bits,
            "guard_bits": self.guard_bits,
            "product_bits": self.product_bits,
            "product_sig_bits": self.product_sig_bits,
            "shift_max": self.shift_max,
            "safe_depth": self.safe_depth,
            "has_flags": self.has_flags,
        }


@dataclass(frozen=True)
class IntMacParams(_WidthsMixin):
    """Widths of the integer MAC's accumulator (SPEC 3.2; ``acc_lsb_exp`` is 0).

    The default is SPEC's ``bits_a + bits_b + ceil(log2 depth)`` (``formula_acc_bits``),
    widened to ``min_acc_bits`` where that formula does not hold the sum. Products lie in
    ``[max_neg, max_pos]`` (the extreme corner products of the two ranges); ``min_acc_bits``
    is the smallest two's complement width with ``depth * max_pos <= 2**(W-1) - 1`` and
    ``depth * max_neg >= -2**(W-1)``. Signed x signed: ``max_pos = 2**(ba+bb-2)``, the formula
    suffices (tight when depth is a power of two). Signed x unsigned: suffices with room.
    Unsigned x unsigned: ``max_pos = (2**ba-1)(2**bb-1)`` needs ``ba + bb + g + 1`` bits in a
    two's complement register (the formula assumes a sign bit in the product), so the default
    is one bit wider than the formula there. ``paper_acc_bits = ra + rb + ceil(log2 n) + 1``.
    """

    fmt_a: IntFormat
    fmt_b: IntFormat
    depth: int = DEFAULT_DEPTH
    acc_bits: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt_a", check_int_mac_operand(self.fmt_a, "a"))
        object.__setattr__(self, "fmt_b", check_int_mac_operand(self.fmt_b, "b"))
        _check_depth(self.depth)
        self._settle_acc_bits(self.product_bits, f"{self.fmt_a} x {self.fmt_b} product",
                              max(self.formula_acc_bits, self.min_acc_bits))

    def _geom(self) -> ProductGeometry:
        a, b = self.fmt_a, self.fmt_b
        corners = [x * y for x in (a.min_value, a.max_value) for y in (b.min_value, b.max_value)]
        return ProductGeometry(0, max(max(corners), 0), min(min(corners), 0), a.bits + b.bits, 0)

    @property
    def formula_acc_bits(self) -> int:
        """SPEC 3.2's integer default ``bits_a + bits_b + ceil(log2 depth)``."""
        return self.fmt_a.bits + self.fmt_b.bits + self.guard_bits

    @property
    def paper_acc_bits(self) -> int:
        """The seed paper's integer width ``ra + rb + ceil(log2 n) + 1``."""
        return self.fmt_a.bits + self.fmt_b.bits + self.guard_bits + 1

    @property
    def ident(self) -> str:
        """Verilog module name: ``int_mac_int8_int8_acc29``."""
        return f"int_mac_{self.fmt_a.ident}_{self.fmt_b.ident}_acc{self.acc_bits}"

    def summary(self) -> dict:
        return {
            "a": str(self.fmt_a),
            "b": str(self.fmt_b),
            "depth": self.depth,
            "acc_bits": self.acc_bits,
            "acc_lsb_exp": 0,
            "min_acc_bits": self.min_acc_bits,
            "formula_acc_bits": self.formula_acc_bits,
            "paper_acc_bits": self.paper_acc_bits,
            "guard_bits": self.guard_bits,
            "product_bits": self.product_bits,
            "safe_depth": self.safe_depth,
        }


def mac_params(
    fmt_a,
    fmt_b,
    *,
    depth: int = DEFAULT_DEPTH,
    acc_bits: int | None = None,
    multiplier: str = "exact",
) -> MacParams:
    """The float MAC's widths (see ``MacParams`` for the derivation); formats may be names."""
    return MacParams(fmt_a, fmt_b, depth=depth, acc_bits=acc_bits, multiplier=multiplier)


def int_mac_params(
    fmt_a, fmt_b, depth: int = DEFAULT_DEPTH, acc_bits: int | None = None
) -> IntMacParams:
    """The integer MAC's widths (see ``IntMacParams``); formats may be names."""
    return IntMacParams(fmt_a, fmt_b, depth=depth, acc_bits=acc_bits)


# -- dot products and MX block dot products (SPEC 5.1, 5.2) ------------------------------------
#: Rounding modes of the dot units' one rounding (stochastic would need a rand port).
DOT_ROUNDING_MODES = ("rne", "rtz", "rna")


def format_range(fmt: FloatFormat | IntFormat) -> tuple[int, int, int]:
    """``(q, lo, hi)``: every finite value of ``fmt`` is an integer multiple of ``2**q`` in
    ``[lo, hi] * 2**q``."""
    fmt = parse_format_arg(fmt)
    if isinstance(fmt, IntFormat):
        return fmt.scale_exp, fmt.min_value, fmt.max_value
    q = fmt.quantum_exp
    hi = Fraction(fmt.max_finite) / Fraction(2) ** q
    if hi.denominator != 1:  # cannot happen: max_finite lies on the quantum grid
        raise RuntimeError(f"max_finite of {fmt} is off its grid")
    return q, (-int(hi) if fmt.signed else 0), int(hi)


def check_operand(fmt, what: str, unit: str = "Dot") -> FloatFormat | IntFormat:
    """A dot operand: a float format with a zero, or an integer format."""
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(
            f"{unit} operand {what} format must be a FloatFormat, IntFormat or a name, "
            f"not {fmt!r}"
        )
    fmt = parse_format(fmt)
    if isinstance(fmt, FloatFormat) and not fmt.zero:
        raise ValueError(
            f"{unit} operand {what} format {fmt} has no zero (a block-scale format); it "
            f"cannot be an operand"
        )
    return fmt


def check_float(fmt, what: str) -> FloatFormat:
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{what} format must be a FloatFormat or a name, not {fmt!r}")
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"{what} format must be a float format, not {fmt}")
    return fmt


def check_dot_rounding(rounding) -> str:
    if not isinstance(rounding, str):
        raise TypeError(f"Rounding mode must be a string, not {rounding!r}")
    if rounding not in DOT_ROUNDING_MODES:
        raise ValueError(
            f"Dot-product rounding must be one of {', '.join(DOT_ROUNDING_MODES)}, not "
            f"{rounding!r}"
        )
    return rounding


def check_lanes(lanes) -> int:
    if not isinstance(lanes, int) or isinstance(lanes, bool):
        raise TypeError(f"Lane count must be a positive integer, not {lanes!r}")
    if lanes < 1:
        raise ValueError(f"Lane count must be a positive integer, not {lanes}")
    return lanes


def product_range(fmt_a, fmt_b) -> tuple[int, int, int]:
    """``(q, max_neg, max_pos)`` of one product ``a*b``, in units of ``2**q``."""
    qa, la, ha = format_range(fmt_a)
    qb, lb, hb = format_range(fmt_b)
    corners = [x * y for x in (la, ha) for y in (lb, hb)]
    return qa + qb, min(min(corners), 0), max(max(corners), 0)


@dataclass(frozen=True)
class DotParams(_AccWidths):
    """Widths of the accumulating dot product (SPEC 5.1 with SPEC 3.2's accumulator).

    Every product is an integer multiple of ``2**acc_lsb_exp`` (the product of the operands'
    finest quanta), in ``[max_neg, max_pos]`` units; one cycle adds ``lanes`` of them, and
    ``depth`` counts dot products, so the default ``acc_bits`` is the smallest two's
    complement width that holds ``depth * lanes`` worst-case products (``min_acc_bits``).
    ``sum_bits`` is the width of one cycle's exact sum (the adder tree's output).
    """

    fmt_a: FloatFormat | IntFormat
    fmt_b: FloatFormat | IntFormat
    lanes: int
    depth: int = DEFAULT_DEPTH
    acc_bits: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fmt_a", check_operand(self.fmt_a, "a"))
        object.__setattr__(self, "fmt_b", check_operand(self.fmt_b, "b"))
        check_lanes(self.lanes)
        self._settle_acc_bits(self.sum_bits,
                              f"{self.fmt_a} x {self.fmt_b} dot product of {self.lanes} lanes")

    def _range(self):
        return product_range(self.fmt_a, self.fmt_b)

    @property
    def acc_lsb_exp(self) -> int:
        return self._range()[0]

    @property
    def max_pos(self) -> int:
        return self._range()[2] * self.lanes

    @property
    def max_neg(self) -> int:
        return self._range()[1] * self.lanes

    @property
    def product_bits(self) -> int:
        _, lo, hi = self._range()
        return _min_width(1, hi, lo)

    @property
    def sum_bits(self) -> int:
        return _min_width(1, self.max_pos, self.max_neg)

    @property
    def has_flags(self) -> bool:
        return any(
            isinstance(f, FloatFormat) and f.special != "none" for f in (self.fmt_a, self.fmt_b)
        )

    def summary(self) -> dict:
        return {
            "a": str(self.fmt_a),
            "b": str(self.fmt_b),
            "lanes": self.lanes,
            "depth": self.depth,
            "acc_bits": self.acc_bits,
            "acc_lsb_exp": self.acc_lsb_exp,
            "min_acc_bits": self.min_acc_bits,
            "product_bits": self.product_bits,
            "sum_bits": self.sum_bits,
            "safe_depth": self.safe_depth,
        }


def dot_params(fmt_a, fmt_b, lanes, *, depth=DEFAULT_DEPTH, acc_bits=None) -> DotParams:
    """The accumulating dot product's widths (see ``DotParams``)."""
    return DotParams(fmt_a, fmt_b, lanes, depth=depth, acc_bits=acc_bits)


#: OCP MX v1.0 element formats (any other float format with a zero is accepted too).
MX_ELEMENTS = (
    "float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "mxint8",
)

#: Block-scale formats exmy accepts: the OCP MX scale and the NVFP4 scale. Both have no Inf
#: (so a scale is a finite number or NaN), and the hardware multiplies them exactly: E8M0 is
#: an exponent addition, E4M3 a 4 x 4-bit significand product. Other formats are refused
#: rather than guessed at (no standard defines their quantization rule).
MX_SCALES = ("float8_e8m0fnu", "float8_e4m3fn")


def check_scale_format(fmt) -> FloatFormat:
    """The block-scale format: float8_e8m0fnu (OCP MX) or float8_e4m3fn (NVFP4)."""
    if not isinstance(fmt, (str, FloatFormat, IntFormat)):
        raise TypeError(f"Block-scale format must be a FloatFormat or a name, not {fmt!r}")
    fmt = parse_format(fmt)
    if fmt not in (CATALOG[s] for s in MX_SCALES):
        raise ValueError(
            f"Block-scale format must be float8_e8m0fnu (OCP MX) or float8_e4m3fn (NVFP4), "
            f"not {fmt}: these two are the standards' scales and the ones with an exact "
            f"scale product and a defined quantization rule"
        )
    return fmt


def check_mx_element(fmt, what: str = "element") -> FloatFormat | IntFormat:
    """An MX element: a float format with a zero (e8m0fnu is a scale), or an integer format
    such as mxint8."""
    if isinstance(fmt, (str, FloatFormat)):
        parsed = parse_format(fmt)
        if isinstance(parsed, FloatFormat) and not parsed.zero:
            raise ValueError(
                f"MX {what} format {parsed} is a block-scale format (it has no zero), not an "
                f"element format; use one of {', '.join(MX_ELEMENTS)}"
            )
    return check_operand(fmt, what, unit="MX")


def check_block(block) -> int:
    if not isinstance(block, int) or isinstance(block, bool):
        raise TypeError(f"Block size must be a positive integer, not {block!r}")
    if block < 1:
        raise ValueError(f"Block size must be a positive integer, not {block}")
    return block


def default_block(scale_fmt) -> int:
    """32 for the OCP MX scale, 16 for NVFP4's E4M3 scale."""
    return 16 if check_scale_format(scale_fmt) == CATALOG["float8_e4m3fn"] else 32


def elem_emax(fmt: FloatFormat | IntFormat) -> int:
    """Exponent of the largest power of two of the element format (OCP's emax_elem)."""
    if isinstance(fmt, IntFormat):
        return fmt.max_value.bit_length() - 1 + fmt.scale_exp
    return fmt.emax


@dataclass(frozen=True)
class MxDotParams(_AccWidths):
    """Widths of the accumulating block dot product (SPEC 5.2 with SPEC 3.2's accumulator).

    Every block Dot is an integer multiple of ``2**acc_lsb_exp`` = the product of the two
    elements' finest quanta and of the two scales' finest quanta (2^-127 each for E8M0, so
    exactness across blocks spans the scales' whole range). One block adds at most ``block``
    products of ``max_product`` times the largest scale squared; the default ``acc_bits``
    holds ``depth`` such blocks (``depth`` counts blocks).
    """

    elem: FloatFormat | IntFormat
    elem_b: FloatFormat | IntFormat
    block: int
    scale_fmt: FloatFormat
    depth: int = DEFAULT_DEPTH
    acc_bits: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "elem", check_mx_element(self.elem, "element"))
        object.__setattr__(self, "elem_b", check_mx_element(self.elem_b, "element b"))
        object.__setattr__(self, "scale_fmt", check_scale_format(self.scale_fmt))
        check_block(self.block)
        self._settle_acc_bits(self.block_bits,
                              f"block of {self.block} {self.elem} x {self.elem_b} products")

    @property
    def product_lsb_exp(self) -> int:
        return product_range(self.elem, self.elem_b)[0]

    @property
    def scale_lsb_exp(self) -> int:
        return format_range(self.scale_fmt)[0]

    @property
    def scale_max(self) -> int:
        """Largest scale magnitude in units of ``2**scale_lsb_exp``."""
        return format_range(self.scale_fmt)[2]

    @property
    def sum_bits(self) -> int:
        """Two's complement width of one block's element sum (the adder tree's output)."""
        _, lo, hi = product_range(self.elem, self.elem_b)
        return _min_width(self.block, hi, lo)

    @property
    def acc_lsb_exp(self) -> int:
        return self.product_lsb_exp + 2 * self.scale_lsb_exp

    @property
    def max_pos(self) -> int:
        _, lo, hi = product_range(self.elem, self.elem_b)
        return max(hi, -lo) * self.block * self.scale_max**2

    @property
    def max_neg(self) -> int:
        return -self.max_pos

    @property
    def block_bits(self) -> int:
        """Two's complement width of one scaled block Dot on the accumulator grid."""
        return _min_width(1, self.max_pos, self.max_neg)

    def summary(self) -> dict:
        return {
            "elem": str(self.elem),
            "elem_b": str(self.elem_b),
            "block": self.block,
            "scale": str(self.scale_fmt),
            "depth": self.depth,
            "acc_bits": self.acc_bits,
            "acc_lsb_exp": self.acc_lsb_exp,
            "min_acc_bits": self.min_acc_bits,
            "sum_bits": self.sum_bits,
            "block_bits": self.block_bits,
            "safe_depth": self.safe_depth,
        }


def mx_dot_params(
    elem, *, elem_b=None, block=None, scale_fmt="float8_e8m0fnu", depth=DEFAULT_DEPTH,
    acc_bits=None,
) -> MxDotParams:
    """The accumulating block dot product's widths (``block`` default 32, 16 for E4M3
    scales)."""
    if block is None:
        block = default_block(scale_fmt)
    return MxDotParams(
        elem, elem if elem_b is None else elem_b, block, scale_fmt, depth=depth,
        acc_bits=acc_bits,
    )


def plain_scalar(value):
    """A numpy scalar (``np.int64(32)``, ``np.True_``) as the Python value it holds, so every
    check downstream sees one kind of integer or bool; anything else unchanged. The one
    boundary for numpy scalars in parameters (``exmy.hdl.registry.build``, ``run_sweep``,
    ``evaluate.Config``, ``Evaluator``)."""
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value
