"""Number formats: ``FloatFormat`` (ExMy minifloats, IEEE-style and OCP/ml_dtypes-style),
``IntFormat``, the catalog and the name grammar (SPEC.md section 1).

One parameter object serves the golden model and the hardware: only what changes bits is a
field, everything else is a derived property.
"""

from __future__ import annotations

import difflib
import numbers
import re
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = [
    "SPECIALS",
    "FloatFormat",
    "IntFormat",
    "CATALOG",
    "ALIASES",
    "parse_format",
    "parse_float_format",
    "catalog_formats",
    "MAX_EXP_BITS",
    "MAX_MAN_BITS",
    "MAX_INT_BITS",
    "MAX_BIAS",
    "exact_product_format",
]

SPECIALS = ("ieee", "fn", "fnuz", "none")

#: Largest exponent / mantissa width a FloatFormat may have (float32 is the widest catalog
#: format; the golden model keeps significands in 64-bit integers).
MAX_EXP_BITS = 11
MAX_MAN_BITS = 23
MAX_INT_BITS = 32
#: the largest exponent bias either way: a format's exponents then stay within +-2**16 and
#: what golden computes from them (2**emin as an exact rational) stays fast
MAX_BIAS = 2**16


def _check_int(value, what: str, lo: int, hi: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{what} must be {rng}, not {value}")


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format with E exponent and M mantissa bits.

    Parameters
    ----------
    exp_bits : int
        E >= 1.
    man_bits : int
        M >= 0 (explicit fraction bits; the significand has M + 1 bits).
    bias : int, optional
        Exponent bias, default ``2**(E-1) - 1``.
    special : {"ieee", "fn", "fnuz", "none"}, optional
        Which encodings are not numbers (SPEC 1.1). Default ``"ieee"`` when M >= 1, else
        ``"none"`` (an M = 0 format has no spare encodings to give to Inf).
    subnormals : bool
        Exp field 0 encodes subnormals (True) or zero only (False: flush to zero).
    signed : bool
        Has a sign bit.
    zero : bool
        False only for M = 0 scale formats such as float8_e8m0fnu, where exp field 0 is an
        ordinary exponent.
    """

    exp_bits: int
    man_bits: int
    bias: int = None  # type: ignore[assignment]
    special: str = None  # type: ignore[assignment]
    subnormals: bool = True
    signed: bool = True
    zero: bool = True

    def __post_init__(self) -> None:
        _check_int(self.exp_bits, "Exponent width", 1, MAX_EXP_BITS)
        _check_int(self.man_bits, "Mantissa width", 0, MAX_MAN_BITS)
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exp_bits - 1) - 1)
        else:
            _check_int(self.bias, "Bias", -MAX_BIAS, MAX_BIAS)
        if self.special is None:
            object.__setattr__(self, "special", "ieee" if self.man_bits >= 1 else "none")
        if not isinstance(self.special, str):
            raise TypeError(f"Special-value scheme must be a string, not {self.special!r}")
        if self.special not in SPECIALS:
            raise ValueError(
                f"Special-value scheme must be one of {', '.join(SPECIALS)}, not {self.special!r}"
            )
        for name in ("subnormals", "signed", "zero"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {getattr(self, name)!r}")
        if self.special == "ieee" and self.man_bits < 1:
            raise ValueError(
                f"Special-value scheme 'ieee' needs at least 1 mantissa bit (Inf and NaN "
                f"differ in the mantissa), not {self.man_bits}; use 'fn' or 'none'"
            )
        if self.special == "fnuz" and not self.signed:
            raise ValueError("Special-value scheme 'fnuz' needs a sign bit (NaN is -0's code)")
        if not self.zero and (self.man_bits != 0 or self.subnormals):
            raise ValueError(
                f"A format without zero needs man_bits=0 and subnormals=False, not "
                f"man_bits={self.man_bits}, subnormals={self.subnormals}"
            )
        if not self.zero and self.special == "fnuz":
            raise ValueError("A format without zero cannot use 'fnuz' (its NaN is the zero code)")
        if not self.zero and self.special != "fn":
            raise ValueError(
                f"A format without zero needs special 'fn' (values it cannot encode, such as "
                f"zero, encode to its NaN), not {self.special!r}"
            )
        if self.emax_field < self.min_exp_field:
            raise ValueError(f"Format {self.generic_name} has no finite normal numbers")

    # -- encoding geometry ---------------------------------------------------------------
    @property
    def width(self) -> int:
        return self.exp_bits + self.man_bits + (1 if self.signed else 0)

    @property
    def sig_bits(self) -> int:
        """Significand precision p = M + 1 (hidden bit included)."""
        return self.man_bits + 1

    @property
    def exp_max_field(self) -> int:
        """All-ones exponent field."""
        return (1 << self.exp_bits) - 1

    @property
    def man_mask(self) -> int:
        return (1 << self.man_bits) - 1

    @property
    def sign_shift(self) -> int:
        return self.exp_bits + self.man_bits

    @property
    def min_exp_field(self) -> int:
        """Smallest exponent field of a normal number (0 when the format has no zero)."""
        return 1 if self.zero else 0

    @property
    def emax_field(self) -> int:
        """Exponent field of the largest finite number."""
        top = self.exp_max_field
        if self.special == "ieee":
            return top - 1
        if self.special == "fn" and self.man_bits == 0:
            return top - 1  # the whole top binade is the NaN code
        return top

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number."""
        return self.min_exp_field - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite number."""
        return self.emax_field - self.bias

    @property
    def max_man_at_emax(self) -> int:
        if self.special == "fn" and self.man_bits >= 1:
            return self.man_mask - 1
        return self.man_mask

    @property
    def max_finite_code(self) -> int:
        """Unsigned magnitude code (exp and man fields) of the largest finite number."""
        return (self.emax_field << self.man_bits) | self.max_man_at_emax

    @property
    def max_finite_sig(self) -> int:
        """Integer significand of max_finite, on the grid 2**(emax - M)."""
        return (1 << self.man_bits) | self.max_man_at_emax

    @property
    def max_finite(self) -> Fraction:
        return Fraction(self.max_finite_sig) * Fraction(2) ** (self.emax - self.man_bits)

    @property
    def min_normal(self) -> Fraction:
        return Fraction(2) ** self.emin

    @property
    def min_subnormal(self) -> Fraction:
        """Smallest positive number (min_normal when subnormals are off)."""
        if self.subnormals:
            return Fraction(2) ** (self.emin - self.man_bits)
        return self.min_normal

    @property
    def quantum_exp(self) -> int:
        """Exponent of the finest grid step: emin - M (the subnormal quantum)."""
        return self.emin - self.man_bits

    @property
    def has_inf(self) -> bool:
        return self.special == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.special != "none"

    @property
    def has_neg_zero(self) -> bool:
        return self.signed and self.zero and self.special != "fnuz"

    @property
    def nan_code(self) -> int | None:
        """The canonical NaN encoding written by every unit (None if the format has no NaN)."""
        if self.special == "ieee":
            return (self.exp_max_field << self.man_bits) | (1 << (self.man_bits - 1))
        if self.special == "fn":
            return (1 << (self.exp_bits + self.man_bits)) - 1
        if self.special == "fnuz":
            return 1 << self.sign_shift
        return None

    @property
    def inf_code(self) -> int | None:
        """+Inf encoding (None if the format has no Inf)."""
        if self.special == "ieee":
            return self.exp_max_field << self.man_bits
        return None

    # -- names ---------------------------------------------------------------------------
    @property
    def generic_name(self) -> str:
        s = f"e{self.exp_bits}m{self.man_bits}"
        default_special = "ieee" if self.man_bits >= 1 else "none"
        if self.special != default_special:
            s += f"-{self.special}"
        if self.bias != 2 ** (self.exp_bits - 1) - 1:
            s += f"-b{self.bias}"
        if not self.subnormals and self.zero:
            s += "-ftz"
        if not self.signed:
            s += "-u"
        if not self.zero:
            s += "-nz"
        return s

    @property
    def name(self) -> str:
        """Short name: the catalog alias when one matches, else the generic name."""
        return _REVERSE.get(self, self.generic_name)

    @property
    def catalog_name(self) -> str | None:
        """The long (ml_dtypes) catalog name, or None."""
        return _REVERSE_LONG.get(self)

    @property
    def ident(self) -> str:
        """The name as a Verilog/Python identifier fragment."""
        return re.sub(r"[^0-9a-zA-Z_]", "_", self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"FloatFormat({self.name!r})"


@dataclass(frozen=True)
class IntFormat:
    """Two's complement (``signed=True``) or unsigned integer of ``bits`` bits.

    ``scale_exp`` (default 0) gives every code an implied scale: value = code * 2**scale_exp.
    The one named case is the OCP MX element ``mxint8`` = ``IntFormat(8, scale_exp=-6)``
    (SPEC 5.2); other scaled formats are named ``int<N>-s<E>``.
    """

    bits: int
    signed: bool = field(default=True)
    scale_exp: int = field(default=0)

    def __post_init__(self) -> None:
        _check_int(self.bits, "Integer width", 1, MAX_INT_BITS)
        if not isinstance(self.signed, bool):
            raise TypeError(f"signed must be a bool, not {self.signed!r}")
        if not isinstance(self.scale_exp, int) or isinstance(self.scale_exp, bool):
            raise TypeError(f"scale_exp must be an integer, not {self.scale_exp!r}")

    @property
    def width(self) -> int:
        return self.bits

    @property
    def min_value(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_value(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def name(self) -> str:
        base = f"{'' if self.signed else 'u'}int{self.bits}"
        if self.scale_exp == 0:
            return base
        if (self.bits, self.signed, self.scale_exp) == (8, True, -6):
            return "mxint8"
        return f"{base}-s{self.scale_exp}"

    @property
    def ident(self) -> str:
        return self.name.replace("-", "_")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"IntFormat({self.name!r})"


# -- catalog -------------------------------------------------------------------------------
def _f(e, m, bias, special, **kw) -> FloatFormat:
    return FloatFormat(e, m, bias=bias, special=special, **kw)


#: long name -> (alias or None, format)
_CATALOG_ROWS: list[tuple[str, str | None, FloatFormat]] = [
    ("float8_e4m3fn", "e4m3fn", _f(4, 3, 7, "fn")),
    ("float8_e5m2", "e5m2", _f(5, 2, 15, "ieee")),
    ("float8_e4m3", "e4m3", _f(4, 3, 7, "ieee")),
    ("float8_e4m3fnuz", "e4m3fnuz", _f(4, 3, 8, "fnuz")),
    ("float8_e5m2fnuz", "e5m2fnuz", _f(5, 2, 16, "fnuz")),
    ("float8_e4m3b11fnuz", None, _f(4, 3, 11, "fnuz")),
    ("float8_e3m4", "e3m4", _f(3, 4, 3, "ieee")),
    ("float6_e2m3fn", "e2m3fn", _f(2, 3, 1, "none")),
    ("float6_e3m2fn", "e3m2fn", _f(3, 2, 3, "none")),
    ("float4_e2m1fn", "e2m1fn", _f(2, 1, 1, "none")),
    (
        "float8_e8m0fnu",
        "e8m0fnu",
        _f(8, 0, 127, "fn", signed=False, subnormals=False, zero=False),
    ),
    ("bfloat16", None, _f(8, 7, 127, "ieee")),
    ("float16", None, _f(5, 10, 15, "ieee")),
    ("float32", None, _f(8, 23, 127, "ieee")),
]

#: every catalog name and alias -> format
CATALOG: dict[str, FloatFormat] = {}
#: alias -> long name
ALIASES: dict[str, str] = {}
_REVERSE: dict[FloatFormat, str] = {}
_REVERSE_LONG: dict[FloatFormat, str] = {}
for _long, _alias, _fmt in _CATALOG_ROWS:
    CATALOG[_long] = _fmt
    _REVERSE_LONG[_fmt] = _long
    _REVERSE[_fmt] = _alias or _long
    if _alias:
        CATALOG[_alias] = _fmt
        ALIASES[_alias] = _long


def catalog_formats(max_width: int | None = None) -> list[FloatFormat]:
    """The catalog formats in table order, optionally only those at most ``max_width`` bits."""
    if max_width is not None and (
        not isinstance(max_width, numbers.Integral) or isinstance(max_width, bool)
    ):
        raise TypeError(f"max_width must be an integer (a width in bits) or None, not "
                        f"{max_width!r}")
    if max_width is not None and max_width < 1:
        raise ValueError(f"max_width must be a positive integer (a width in bits) or None, not "
                         f"{max_width}")
    return [f for _, _, f in _CATALOG_ROWS if max_width is None or f.width <= max_width]


_GENERIC = re.compile(
    r"^e(?P<e>\d+)m(?P<m>\d+)(?:-(?P<special>ieee|fn|fnuz|none))?(?:-b(?P<bias>-?\d+))?"
    r"(?P<ftz>-ftz)?(?P<u>-u)?(?P<nz>-nz)?$",
    re.ASCII,  # digits are 0-9: int() would read an Arabic-Indic digit too
)
_INT = re.compile(r"^(?P<u>u?)int(?P<bits>\d+)(?:-s(?P<s>-?\d+))?$", re.ASCII)


_FAMILY = re.compile(r"^(?:mx|nv)?(?:float|fp)(?P<bits>\d+)$", re.ASCII | re.IGNORECASE)


def _suggest(name: str) -> str:
    family = _FAMILY.match(name)
    if family:  # 'float8', 'FP6', 'mxfp4': a width, not a format: name that width's formats
        bits = int(family["bits"])
        names = [f.name for _, _, f in _CATALOG_ROWS if f.width == bits]
        grammar = "the grammar e<E>m<M>[-<special>][-b<bias>][-ftz][-u]"
        if names:
            listed = ", ".join(repr(n) for n in names)
            return f"; {bits}-bit formats: {listed} (or {grammar})"
        middle = min((bits - 1) // 2, 8)
        for e in sorted(range(1, min(bits, 64)), key=lambda e: abs(e - middle)):
            try:
                example = parse_format(f"e{e}m{bits - 1 - e}").name
            except ValueError:
                continue
            return (f"; no catalog format is {bits} bits wide: use {grammar} "
                    f"(a sign, then E + M = {bits - 1}: e.g. {example!r})")
    pool = list(CATALOG) + ["int8", "uint8", "e4m3-none", "e5m2-fnuz-b16"]
    close = difflib.get_close_matches(name.lower(), pool, n=3, cutoff=0.5)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; see `exmy formats` or use the grammar e<E>m<M>[-<special>][-b<bias>][-ftz][-u]"


def parse_format(name: str | FloatFormat | IntFormat) -> FloatFormat | IntFormat:
    """Parse a catalog name, an alias, the generic ExMy grammar or ``int<N>``/``uint<N>``."""
    if isinstance(name, (FloatFormat, IntFormat)):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Format name must be a string, not {name!r}")
    key = name.strip()
    if key in CATALOG:
        return CATALOG[key]
    if key == "mxint8":
        return IntFormat(8, scale_exp=-6)
    m = _INT.match(key)
    if m:
        return IntFormat(int(m["bits"]), signed=not m["u"], scale_exp=int(m["s"] or 0))
    m = _GENERIC.match(key)
    if m:
        e, mm = int(m["e"]), int(m["m"])
        kw: dict = {}
        if m["special"]:
            kw["special"] = m["special"]
        if m["bias"] is not None:
            kw["bias"] = int(m["bias"])
        if m["ftz"]:
            kw["subnormals"] = False
        if m["u"]:
            kw["signed"] = False
        if m["nz"]:
            kw["zero"] = False
            kw["subnormals"] = False
        try:
            return FloatFormat(e, mm, **kw)
        except (TypeError, ValueError) as exc:
            hint = ""
            if m["nz"] and kw.get("special") != "fn":
                try:  # the same name with -fn, when that is a valid format
                    hint = f"; did you mean {FloatFormat(e, mm, **{**kw, 'special': 'fn'}).name!r}?"
                except (TypeError, ValueError):
                    pass
            raise ValueError(f"Format {name!r} is not valid: {exc}{hint}") from None
    raise ValueError(f"Unknown format {name!r}{_suggest(key)}")


def parse_float_format(name: str | FloatFormat) -> FloatFormat:
    """Like ``parse_format`` but rejects integer formats."""
    fmt = parse_format(name)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"Format {name!r} is an integer format; a float format is needed here")
    return fmt


def _check_mul_input(fmt, what: str) -> FloatFormat:
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(
            f"Multiplier operand {what} must be a float format, not {fmt}; "
            f"use the int multiplier for integers"
        )
    if not fmt.zero:
        raise ValueError(
            f"Multiplier operand {what} format {fmt} has no zero (a block-scale format); "
            f"multiplying scales is an exponent addition, not a multiplier"
        )
    return fmt


def exact_product_format(fmt_a: FloatFormat, fmt_b: FloatFormat) -> FloatFormat:
    """The smallest format that holds every product of ``fmt_a`` x ``fmt_b`` exactly.

    Mantissa Ma + Mb + 1 (two significands of Ma+1 and Mb+1 bits give at most Ma+Mb+2 bits).
    The finest product quantum 2**(qa + qb) (q = emin - M, subnormal inputs) must lie on the
    output's subnormal grid, which fixes emin_out = qa + qb + M_out, i.e. the bias; then the
    exponent width is the smallest whose max_finite >= max_a * max_b. Specials: ``ieee`` when
    either input has Inf, ``fn`` when either has NaN, else ``none``. Signed unless both
    inputs are unsigned; subnormals on.
    """
    fmt_a = _check_mul_input(fmt_a, "a")
    fmt_b = _check_mul_input(fmt_b, "b")
    m_out = fmt_a.man_bits + fmt_b.man_bits + 1
    emin_out = fmt_a.quantum_exp + fmt_b.quantum_exp + m_out
    if fmt_a.has_inf or fmt_b.has_inf:
        special = "ieee"
    elif fmt_a.has_nan or fmt_b.has_nan:
        special = "fn"
    else:
        special = "none"
    signed = fmt_a.signed or fmt_b.signed
    need = fmt_a.max_finite * fmt_b.max_finite
    bias = 1 - emin_out
    for e in range(1, MAX_EXP_BITS + 1):
        if m_out > MAX_MAN_BITS:
            break
        if special == "ieee" and e < 2:
            continue  # an ieee format needs a binade besides the Inf/NaN one
        f = FloatFormat(e, m_out, bias=bias, special=special, signed=signed)
        if f.max_finite >= need:
            return f
    raise ValueError(
        f"The exact product of {fmt_a} x {fmt_b} needs more than {MAX_EXP_BITS} exponent or "
        f"{MAX_MAN_BITS} mantissa bits; give an output format (fmt_out)"
    )
