"""Error statistics of multipliers against the exact product (analysis, not a bit-exact unit).

The multipliers themselves are integer-exact golden functions; only this analysis uses
floats (float64 holds every product of two formats with M <= 23 and |exponent| < 1000
exactly; ``exact_product`` falls back to ``Fraction`` objects beyond that).

Two measures for data drawn from a distribution (``distribution_error``):

``multiplier``
    the result against the exact product of the quantized inputs: the multiplier's own error.
``end_to_end``
    the result against the full-precision product of the original samples (float64 ``x*y``):
    quantization of the inputs included.

Methods (``METHODS``): ``rne`` (``exmy.golden.multiply`` rounding to nearest even into the
operand format), ``lmul`` (L-Mul, adder form), ``lmul-formula`` (L-Mul, the paper's formula),
``pam`` (adder form, offset 0).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .core import Raw, check_encodings, check_flag, check_shapes, decode, encode
from .format import FloatFormat, parse_format
from .lmul import lmul
from .ops import multiply

__all__ = [
    "METHODS",
    "PAPER_CLAIMS",
    "compare_methods",
    "distribution_error",
    "exact_product",
    "exhaustive_pairs",
    "quantize",
    "quantized_values",
    "run_method",
    "sample",
    "product_error",
    "sqnr_db",
    "values",
]

METHODS = ("rne", "lmul", "lmul-formula", "pam")

#: Mean relative errors SPEC 3.4 records (end to end, N(0,1) operands), by comparison-row key.
PAPER_CLAIMS = {
    ("lmul", "e8m3"): 0.057,
    ("lmul-formula", "e8m3"): 0.067,
    ("pam", "e8m3"): 0.048,
    ("rne", "float8_e4m3fn"): 0.046,
    ("rne", "float8_e5m2"): 0.072,
}

DISTRIBUTIONS = ("normal", "laplace")

#: The widest format ``exhaustive_pairs`` enumerates: 2**26 pairs (e8m4), two 512 MiB arrays.
MAX_PAIR_BITS = 13


def _float_format(fmt, what: str = "Format") -> FloatFormat:
    if not isinstance(fmt, (str, FloatFormat)):
        raise TypeError(f"{what} must be a FloatFormat or a format name, not {fmt!r}")
    fmt = parse_format(fmt)
    if not isinstance(fmt, FloatFormat):
        raise ValueError(f"{what} must be a float format, not the integer format {fmt}")
    return fmt


def _real_data(x, what: str) -> np.ndarray:
    """Data ``x`` (real floats or integers: a scalar or an array) as float64; complex, bool,
    object (None, Fraction) and string data are refused, not silently converted."""
    try:
        arr = np.asarray(x)
    except ValueError:  # numpy: "inhomogeneous shape"
        raise ValueError(f"{what} must be a rectangular array, not a ragged nested list") \
            from None
    if arr.dtype.kind not in "fiu":
        first = arr.flat[0] if arr.size else None
        first = first.item() if isinstance(first, np.generic) else first
        raise TypeError(
            f"{what} must be real numbers (floats or integers), not {arr.dtype} data"
            + (f" (holding {first!r})" if arr.size else "")
        )
    return arr.astype(np.float64)


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {rng!r}")


# -- values --------------------------------------------------------------------------------
def values(bits, fmt) -> np.ndarray:
    """float64 values of encodings (NaN and ±Inf included); exact for every format whose
    values lie in float64's range."""
    fmt = _float_format(fmt)
    r = decode(bits, fmt)
    v = np.ldexp(r.sig.astype(np.float64), r.exp.astype(np.int64))
    v = np.where(r.sign == 1, -v, v)
    v = np.where(r.inf, np.where(r.sign == 1, -np.inf, np.inf), v)
    return np.where(r.nan, np.nan, v)


def exact_product(a, b, fmt_a, fmt_b=None) -> np.ndarray:
    """Exact products of finite encodings: float64 when every product is representable
    exactly (the usual case), else an object array of ``Fraction``. NaN/Inf lanes are NaN."""
    fmt_a = _float_format(fmt_a)
    fmt_b = fmt_a if fmt_b is None else _float_format(fmt_b)
    a, b = check_encodings(a, fmt_a, "Operand a"), check_encodings(b, fmt_b, "Operand b")
    check_shapes({"a": a, "b": b})
    ra, rb = decode(a, fmt_a), decode(b, fmt_b)
    sig = ra.sig * rb.sig  # < 2**48
    exp = ra.exp + rb.exp
    special = ra.nan | rb.nan | ra.inf | rb.inf
    sign = ra.sign ^ rb.sign
    lo = 2 * min(fmt_a.quantum_exp, fmt_b.quantum_exp)
    hi = fmt_a.emax + fmt_b.emax + 2
    if lo >= -1074 and hi <= 1023:
        v = np.ldexp(sig.astype(np.float64), exp)
        v = np.where(sign == 1, -v, v)
        return np.where(special, np.nan, v)
    out = np.empty(sig.shape, dtype=object)
    for i in np.ndindex(sig.shape):
        if special[i]:
            out[i] = float("nan")
        else:
            v = Fraction(int(sig[i])) * Fraction(2) ** int(exp[i])
            out[i] = -v if sign[i] else v
    return out


def exhaustive_pairs(fmt, *, subnormals: bool = True, zeros: bool = True):
    """Every ordered pair ``(a, b)`` of finite encodings of ``fmt`` (uint64 arrays).

    ``subnormals=False`` / ``zeros=False`` leave out subnormal / zero operands (L-Mul treats
    subnormals as zero, so its statistics are usually quoted over normal operands).
    """
    fmt = _float_format(fmt)
    subnormals = check_flag(subnormals, "subnormals")
    zeros = check_flag(zeros, "zeros")
    if fmt.width > MAX_PAIR_BITS:
        raise ValueError(
            f"exhaustive_pairs lists (2**width)**2 pairs: formats of at most {MAX_PAIR_BITS} "
            f"bits (2**{2 * MAX_PAIR_BITS} pairs), not {fmt} ({fmt.width} bits, "
            f"2**{2 * fmt.width} pairs); sample operands instead (stats.sample, quantize)"
        )
    codes = np.arange(1 << fmt.width, dtype=np.uint64)
    r = decode(codes, fmt)
    keep = ~r.nan & ~r.inf
    field = (codes >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max_field)
    is_zero = r.sig == 0
    if not subnormals and fmt.zero:
        keep &= (field != 0) | is_zero
    if not zeros:
        keep &= ~is_zero
    c = codes[keep]
    a, b = np.meshgrid(c, c, indexing="ij")
    return a.ravel(), b.ravel()


# -- error of results against exact values -------------------------------------------------
def _floor_log2(x: np.ndarray) -> np.ndarray:
    """floor(log2 |x|) of non-zero finite float64 values (exact, via frexp)."""
    _, e = np.frexp(x)
    return e.astype(np.int64) - 1


def product_error(y_bits, fmt_out, exact, *, where=None) -> dict:
    """Error statistics of results ``y_bits`` (encodings in ``fmt_out``) against ``exact``.

    Parameters
    ----------
    y_bits : array_like of unsigned int
        The multiplier's results.
    fmt_out : FloatFormat or str
        Their format (also fixes the ulp).
    exact : float64 array or object array of Fraction
        The reference values (finite).
    where : bool array, optional
        Only these lanes count (for example products inside the format's normal range).

    Returns
    -------
    dict
        ``n`` lanes counted; ``n_nonfinite`` of them with a NaN/Inf result (overflow), left
        out of every mean and maximum; ``n_exact_zero`` with an exact zero, left out of the
        relative statistics; ``n_flushed`` with a zero result for a non-zero exact value
        (relative error 1, included). Over the rest: ``mean_rel``, ``max_rel``, ``rms_rel``
        (of |y - x| / |x|), ``mean_signed_rel`` (the magnitude bias, (|y| - |x|) / |x|),
        ``mean_abs_ulp`` and ``max_abs_ulp`` (|y - x| in ulps of x in ``fmt_out``:
        2^(max(floor(log2|x|), emin) - M), unbounded above).
    """
    fmt_out = _float_format(fmt_out, "Output format")
    y_bits = check_encodings(y_bits, fmt_out, "y_bits")
    exact = np.asarray(exact)
    if exact.dtype.kind not in "fiuO":
        raise TypeError(f"exact must be a float array or an object array of Fraction, not a "
                        f"{exact.dtype} array")
    named = {"y_bits": y_bits, "exact": exact}
    if where is not None:
        named["where"] = np.asarray(where)
    check_shapes(named)
    y = values(y_bits, fmt_out)
    y, exact = np.broadcast_arrays(y, exact)
    mask = np.ones(y.shape, bool) if where is None else np.broadcast_to(named["where"], y.shape)
    if mask.dtype != bool:
        raise TypeError(f"where must be a bool array, not an array of {mask.dtype}")
    y, exact = y[mask], exact[mask]
    finite = np.isfinite(y)
    if exact.dtype.kind == "f":
        # a NaN/Inf reference for a finite result would make every statistic NaN (a NaN
        # reference with a NaN result, exact_product's special lanes, is counted as non-finite)
        bad = finite & ~np.isfinite(exact)
        if bad.any():
            raise ValueError(f"exact must be finite where the result is, not "
                             f"{exact[int(np.argmax(bad))]} (every statistic would be NaN)")
    if exact.dtype == object:
        # exact differences in Fraction, then to float (the statistics are float anyway)
        err = np.array(
            [
                float(Fraction(yy) - xx) if f else np.nan
                for yy, xx, f in zip(y, exact, finite, strict=True)
            ],
            dtype=np.float64,
        )
        x = np.array([float(v) for v in exact], dtype=np.float64)
    else:
        x = exact.astype(np.float64)
        with np.errstate(invalid="ignore"):
            err = y - x
    n = int(y.size)
    ok = finite
    nz = ok & (x != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(err[nz]) / np.abs(x[nz])
        srel = (np.abs(y[nz]) - np.abs(x[nz])) / np.abs(x[nz])
    e = np.where(x[ok] != 0, _floor_log2(np.where(x[ok] != 0, x[ok], 1.0)), fmt_out.emin)
    ulp = np.ldexp(1.0, np.maximum(e, fmt_out.emin) - fmt_out.man_bits)
    ulps = np.abs(err[ok]) / ulp

    def _mean(v):
        return float(np.mean(v)) if v.size else float("nan")

    def _max(v):
        return float(np.max(v)) if v.size else float("nan")

    return {
        "n": n,
        "n_nonfinite": int(np.count_nonzero(~finite)),
        "n_exact_zero": int(np.count_nonzero(ok & (x == 0))),
        "n_flushed": int(np.count_nonzero(nz & (y == 0))),
        "mean_rel": _mean(rel),
        "max_rel": _max(rel),
        "rms_rel": float(np.sqrt(np.mean(rel**2))) if rel.size else float("nan"),
        "mean_signed_rel": _mean(srel),
        "mean_abs_ulp": _mean(ulps),
        "max_abs_ulp": _max(ulps),
    }


# -- methods -------------------------------------------------------------------------------
def _check_method(method) -> None:
    if not isinstance(method, str):
        raise TypeError(f"Method must be a string, not {method!r}")
    if method not in METHODS:
        raise ValueError(f"Method must be one of {', '.join(METHODS)}, not {method!r}")


def run_method(method: str, a, b, fmt, fmt_out=None, *, saturate: bool = False) -> np.ndarray:
    """Multiply encodings ``a`` x ``b`` (both in ``fmt``) with one of ``METHODS`` into
    ``fmt_out`` (default ``fmt``)."""
    _check_method(method)
    fmt = _float_format(fmt)
    out = fmt if fmt_out is None else _float_format(fmt_out, "Output format")
    if method == "rne":
        return multiply(a, b, fmt, fmt, out, rounding="rne", saturate=saturate)
    form = "formula" if method == "lmul-formula" else "adder"
    offset = "pam" if method == "pam" else "lmul"
    return lmul(a, b, fmt, out, form=form, offset=offset, saturate=saturate)


# -- distributions -------------------------------------------------------------------------
def quantize(x, fmt, *, saturate: bool = True) -> np.ndarray:
    """Encode float64 data into ``fmt`` with round-to-nearest-even (the shared ``encode``).

    Saturating by default, as quantizers for ML data are. The float64 values are split
    exactly into integer significand and exponent first: no float rounding happens here.
    """
    fmt = _float_format(fmt)
    saturate = check_flag(saturate, "saturate")
    x = _real_data(x, "Data x")
    nan, inf = np.isnan(x), np.isinf(x)
    m, e = np.frexp(np.where(nan | inf, 0.0, x))
    sig = np.abs(np.ldexp(m, 53)).astype(np.int64)  # exact: 53-bit integer significand
    raw = Raw(np.signbit(x).astype(np.uint8), sig, e.astype(np.int64) - 53, nan, inf)
    return encode(raw, fmt, rounding="rne", saturate=saturate)


def quantized_values(x, fmt) -> np.ndarray:
    """``q(x)`` as float64: :func:`quantize` (saturating RNE), then decoded. A number the
    format cannot hold at all reads as 0, not NaN: zero in a format without one (e8m0fnu
    writes its NaN code) and a negative number in an unsigned format, so such samples count
    their whole value as error. NaN data stays NaN."""
    x = _real_data(x, "Data x")
    q = values(quantize(x, fmt), fmt)
    return np.where(np.isnan(q) & ~np.isnan(x), 0.0, q)


def sample(rng, n: int, dist: str = "normal") -> np.ndarray:
    """``n`` float64 samples of N(0, 1) or Laplace(0, 1) from the given generator."""
    _check_rng(rng)
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"Sample count must be an integer, not {n!r}")
    if n < 1:
        raise ValueError(f"Sample count must be >= 1, not {n}")
    if not isinstance(dist, str):
        raise TypeError(f"Distribution must be a string, not {dist!r}")
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"Distribution must be one of {', '.join(DISTRIBUTIONS)}, not {dist!r}")
    if dist == "normal":
        return rng.standard_normal(n)
    return rng.laplace(0.0, 1.0, n)


def sqnr_db(fmt, data) -> float:
    """Quantization signal-to-noise ratio of ``fmt`` on ``data`` in dB:
    ``10 log10(sum x^2 / sum (x - q(x))^2)`` with saturating RNE quantization (``quantize``).
    Infinite when every sample is representable."""
    fmt = _float_format(fmt)
    x = _real_data(data, "SQNR data")
    if x.size == 0:
        raise ValueError("SQNR needs at least one sample, not an empty array")
    if not np.all(np.isfinite(x)):
        raise ValueError("SQNR needs finite data, not data with NaN or Inf")
    q = quantized_values(x, fmt)
    noise = float(np.sum((x - q) ** 2))
    signal = float(np.sum(x**2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(signal / noise)


def distribution_error(method: str, fmt, x, y, fmt_out=None, *, saturate: bool = False) -> dict:
    """Both error measures of ``method`` on the data pairs ``x * y`` (float64 arrays).

    The inputs are quantized into ``fmt`` (RNE, saturating), multiplied with ``method`` into
    ``fmt_out`` (default ``fmt``), and measured against the exact product of the quantized
    inputs (``"multiplier"``) and against ``x * y`` (``"end_to_end"``). Returns
    ``{"multiplier": product_error(...), "end_to_end": product_error(...)}``.
    """
    _check_method(method)
    fmt = _float_format(fmt)
    out = fmt if fmt_out is None else _float_format(fmt_out, "Output format")
    x, y = _real_data(x, "Data x"), _real_data(y, "Data y")
    check_shapes({"x": x, "y": y})
    for what, d in (("x", x), ("y", y)):
        if not np.all(np.isfinite(d)):
            raise ValueError(f"Data {what} must be finite (its exact product is the end-to-end "
                             f"reference), not data with NaN or Inf")
    a, b = quantize(x, fmt), quantize(y, fmt)
    res = run_method(method, a, b, fmt, out, saturate=saturate)
    full = x * y
    return {
        "multiplier": product_error(res, out, exact_product(a, b, fmt)),
        "end_to_end": product_error(res, out, full),
    }


#: The paper-comparison rows: (label, method, operand format). L-Mul operands keep 8
#: exponent bits (bias 127), as SPEC 3.4 measures them.
COMPARISON_ROWS = (
    ("L-Mul M=3 (adder)", "lmul", "e8m3"),
    ("L-Mul M=3 (formula)", "lmul-formula", "e8m3"),
    ("PAM M=3", "pam", "e8m3"),
    ("L-Mul M=4 (adder)", "lmul", "e8m4"),
    ("L-Mul M=4 (formula)", "lmul-formula", "e8m4"),
    ("PAM M=4", "pam", "e8m4"),
    ("RNE e8m3", "rne", "e8m3"),
    ("RNE e8m4", "rne", "e8m4"),
    ("RNE float8_e4m3fn", "rne", "float8_e4m3fn"),
    ("RNE float8_e5m2", "rne", "float8_e5m2"),
    # L-Mul on the fp8 formats themselves: same operand range as the RNE rows
    ("L-Mul float8_e4m3fn", "lmul", "float8_e4m3fn"),
    ("L-Mul float8_e5m2", "lmul", "float8_e5m2"),
)


def compare_methods(rng, n: int = 1_000_000, dist: str = "normal") -> list[dict]:
    """The paper comparison: L-Mul (M = 3 and 4, both forms, and PAM) on e8mM operands vs RNE
    multiplication, on ``n`` products of ``dist`` samples drawn from ``rng``.

    Every row sees the same samples. Returns one dict per row of ``COMPARISON_ROWS``:
    ``label``, ``method``, ``format``, ``multiplier`` and ``end_to_end`` (``product_error``
    dicts) and ``paper`` (the mean relative error SPEC 3.4 records, or None).
    """
    x = sample(rng, n, dist)
    y = sample(rng, n, dist)
    rows = []
    for label, method, name in COMPARISON_ROWS:
        fmt = parse_format(name)
        r = distribution_error(method, fmt, x, y)
        rows.append(
            {
                "label": label,
                "method": method,
                "format": fmt.catalog_name or fmt.name,
                **r,
                "paper": PAPER_CLAIMS.get((method, fmt.catalog_name or fmt.name)),
            }
        )
    return rows
