"""Stimulus: encodings of number formats, as uint64 bit patterns. No arithmetic.

Everything here works on encoding fields (sign, exponent field, mantissa field) and never
computes a value: the golden model owns values. Random generators are passed in
(``np.random.Generator``), so every set is reproducible.

- :func:`exhaustive` — every combination of encodings of one or more formats.
- :func:`exhaustive_of` — the cartesian product of given encoding arrays (corners x corners).
- :func:`corners`, :func:`named_corners` — named corner encodings of one format.
- :func:`boundaries` — encodings at and next to the rounding boundaries of a conversion.
- :func:`uniform`, :func:`biased` — seeded random encodings.
"""

from __future__ import annotations

import numpy as np

from exmy.golden.format import FloatFormat, IntFormat

__all__ = [
    "MAX_EXHAUSTIVE_BITS",
    "exhaustive",
    "exhaustive_of",
    "corners",
    "named_corners",
    "boundaries",
    "uniform",
    "biased",
]

#: Largest total input width :func:`exhaustive` enumerates (2**28 vectors, 2 GiB per operand).
MAX_EXHAUSTIVE_BITS = 28


def _check_fmt(fmt) -> None:
    if not isinstance(fmt, (FloatFormat, IntFormat)):
        raise TypeError(f"Format must be a FloatFormat or IntFormat, not {fmt!r}")


def _check_float(fmt) -> None:
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"Format must be a FloatFormat, not {fmt!r}")


def _check_n_rng(n, rng) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"Vector count must be an integer, not {n!r}")
    if n < 0:
        raise ValueError(f"Vector count must be >= 0, not {n}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"Random generator must be a numpy.random.Generator, not {rng!r}")


# -- exhaustive -----------------------------------------------------------------------------
def exhaustive_of(arrays) -> tuple[np.ndarray, ...]:
    """Cartesian product of encoding arrays, the first varying slowest.

    ``exhaustive_of([x, y])`` gives ``(X, Y)`` with ``X[i * len(y) + j] = x[i]`` and
    ``Y[i * len(y) + j] = y[j]``.
    """
    arrays = [np.asarray(a, dtype=np.uint64).ravel() for a in arrays]
    if not arrays:
        raise ValueError("Exhaustive product needs at least one array")
    grids = np.meshgrid(*arrays, indexing="ij")
    return tuple(g.ravel() for g in grids)


def exhaustive(*fmts: FloatFormat | IntFormat) -> tuple[np.ndarray, ...]:
    """Every combination of encodings of ``fmts``, one uint64 array per format.

    Order: the first format varies slowest; each format's codes count up from 0. At most
    :data:`MAX_EXHAUSTIVE_BITS` input bits in total.
    """
    if not fmts:
        raise ValueError("Exhaustive stimulus needs at least one format")
    for f in fmts:
        _check_fmt(f)
    bits = sum(f.width for f in fmts)
    if bits > MAX_EXHAUSTIVE_BITS:
        names = " x ".join(str(f) for f in fmts)
        raise ValueError(
            f"Exhaustive stimulus over {names} is 2**{bits} vectors; at most "
            f"2**{MAX_EXHAUSTIVE_BITS}: use corners, biased and uniform instead"
        )
    return exhaustive_of([np.arange(1 << f.width, dtype=np.uint64) for f in fmts])


# -- corners --------------------------------------------------------------------------------
def _int_corners(fmt: IntFormat) -> dict[str, int]:
    mask = (1 << fmt.bits) - 1
    c: dict[str, int] = {"zero": 0, "one": 1 & mask, "two": 2 & mask}
    if fmt.signed:
        top = 1 << (fmt.bits - 1)
        c.update(
            {
                "max": top - 1,
                "max-1": (top - 2) & mask,
                "min": top,
                "min+1": (top + 1) & mask,
                "-1": mask,
                "-2": (mask - 1) & mask,
            }
        )
        for s in range(fmt.bits - 1):
            c[f"2^{s}"] = 1 << s
            c[f"-2^{s}"] = (mask + 1 - (1 << s)) & mask
    else:
        c.update({"max": mask, "max-1": (mask - 1) & mask})
        for s in range(fmt.bits):
            c[f"2^{s}"] = 1 << s
    return c


def named_corners(fmt: FloatFormat | IntFormat) -> dict[str, int]:
    """Named corner encodings of ``fmt``, in a fixed order (names are unique, codes may repeat).

    Floats: ±0, ±min/max subnormal (and the exponent-0 codes of flush-to-zero formats), ±min
    normal and its neighbour, ±1 and its neighbours, ±2, ±0.5, ±max finite and its
    predecessor, ±Inf, the NaNs (every NaN code of fn/fnuz formats; for IEEE formats the
    canonical quiet NaN, the smallest and the all-ones payload), and the smallest and largest
    codes of each exponent field next to the subnormal/normal boundary.
    Integers: 0, 1, 2, ±max/min and neighbours, -1, -2 and every power of two.
    """
    _check_fmt(fmt)
    if isinstance(fmt, IntFormat):
        return _int_corners(fmt)
    M = fmt.man_bits
    mask = fmt.man_mask
    sign = (1 << fmt.sign_shift) if fmt.signed else 0

    def code(field: int, man: int) -> int:
        return (field << M) | man

    pos: dict[str, int] = {}
    if fmt.zero:
        pos["0"] = 0
        if M >= 1:  # exp field 0 with a mantissa: subnormals, or flushed codes when ftz
            pos["min_subnormal"] = 1
            pos["max_subnormal"] = mask
            if M >= 2:
                pos["max_subnormal-1"] = mask - 1
    lo = fmt.min_exp_field
    pos["min_normal"] = code(lo, 0)
    if M >= 1:
        pos["min_normal+1"] = code(lo, 1)
        pos["min_normal_binade_max"] = code(lo, mask)
    if lo + 1 <= fmt.emax_field:
        pos["second_binade_min"] = code(lo + 1, 0)
    bias_field = fmt.bias  # exponent field of 1.0
    for name, field in (("1", bias_field), ("2", bias_field + 1), ("0.5", bias_field - 1)):
        if lo <= field <= fmt.emax_field:
            pos[name] = code(field, 0)
    if lo <= bias_field <= fmt.emax_field:
        if M >= 1:
            pos["1+ulp"] = code(bias_field, 1)
        if bias_field - 1 >= lo:
            pos["1-ulp"] = code(bias_field - 1, mask)
        elif fmt.zero and M >= 1 and bias_field == lo:
            pos["1-ulp"] = code(0, mask)
    pos["max_finite"] = fmt.max_finite_code
    if fmt.max_finite_code - 1 >= 0:
        pos["max_finite-1"] = fmt.max_finite_code - 1
    if fmt.has_inf:
        pos["inf"] = fmt.inf_code
    nan: dict[str, int] = {}
    if fmt.special == "ieee":
        top = fmt.exp_max_field
        nan["nan"] = fmt.nan_code
        nan["nan_min_payload"] = code(top, 1)
        nan["nan_all_ones"] = code(top, mask)
    elif fmt.special == "fn":
        if M >= 1:
            nan["nan"] = code(fmt.exp_max_field, mask)
        else:  # the whole top binade (one code when M = 0)
            nan["nan"] = code(fmt.exp_max_field, 0)
    elif fmt.special == "fnuz":
        nan["nan"] = fmt.nan_code  # -0's code, the only NaN

    out: dict[str, int] = {}
    for name, c in pos.items():
        out[f"+{name}" if fmt.signed else name] = c
        if fmt.signed and not (fmt.special == "fnuz" and c == 0):
            out[f"-{name}"] = c | sign
    for name, c in nan.items():
        out[f"+{name}" if fmt.signed and fmt.special != "fnuz" else name] = c
        if fmt.signed and fmt.special != "fnuz":
            out[f"-{name}"] = c | sign
    return out


def corners(fmt: FloatFormat | IntFormat) -> np.ndarray:
    """The distinct codes of :func:`named_corners`, first occurrence order, as uint64."""
    seen: dict[int, None] = {}
    for c in named_corners(fmt).values():
        seen.setdefault(c, None)
    return np.array(list(seen), dtype=np.uint64)


# -- boundaries of a conversion -------------------------------------------------------------
def _grid(around: FloatFormat | IntFormat, e: int) -> int | None:
    """Exponent of ``around``'s grid step in binade 2**e, or None above its range."""
    if isinstance(around, IntFormat):
        return 0 if e <= around.bits else None
    if e > around.emax + 1:
        return None
    return max(e - around.man_bits, around.quantum_exp)


def _kept_patterns(k: int):
    """Retained-bit patterns to try: all of them up to 8, else the ends and the middle (both
    parities, for round-to-nearest-even)."""
    if k <= 3:
        return range(1 << k)
    half = 1 << (k - 1)
    return sorted({0, 1, 2, half - 1, half, (1 << k) - 2, (1 << k) - 1})


def boundaries(fmt: FloatFormat, around: FloatFormat | IntFormat) -> np.ndarray:
    """Encodings of ``fmt`` at and next to the rounding boundaries of ``around``.

    For a conversion ``fmt -> around``: in each binade of ``fmt`` (subnormal binades
    included), the codes whose dropped significand bits are exactly one half (ties) and their
    neighbours (±1 code), for a few retained patterns (all of them when there are at most 8;
    else the smallest, the largest and the middle ones, with both parities for
    round-to-nearest-even), and the codes just around ``around``'s overflow threshold. Both
    signs when ``fmt`` is signed. Field arithmetic only: the binade exponent picks how many
    significand bits ``around`` keeps there.
    """
    _check_float(fmt)
    _check_fmt(around)
    M = fmt.man_bits
    codes: dict[int, None] = {}

    def add(c: int) -> None:
        if 0 <= c <= fmt.max_finite_code:
            codes.setdefault(c, None)

    def binade(base: int, p: int, e: int) -> bool:
        """Ties in the binade 2**e whose codes are ``base | bits`` with the leading significand
        bit at position ``p`` (``base`` holds it, or the exponent field for normals). False
        once above ``around``'s range."""
        q = _grid(around, e)
        if q is None:
            add(base)  # the first binade wholly above the range: overflows
            add(base - 1)
            return False
        k = e - q  # fraction bits ``around`` keeps in this binade
        if k == -1:  # the binade's first value is half a grid step: a tie
            for c in (base - 1, base, base + 1):
                add(c)
            return True
        d = p - k  # dropped bits
        if k < 0 or d < 1:
            return True
        for u in _kept_patterns(k):
            tie = base | (u << d) | (1 << (d - 1))
            for c in (tie - 1, tie, tie + 1):
                add(c)
        return True

    if fmt.zero and fmt.subnormals:
        for p in range(M):  # subnormal m with its leading one at bit p
            binade(1 << p, p, fmt.quantum_exp + p)
    for field in range(fmt.min_exp_field, fmt.emax_field + 1):
        if not binade(field << M, M, field - fmt.bias):
            break
    out = list(codes)
    if fmt.signed:
        sign = 1 << fmt.sign_shift
        out += [c | sign for c in out]
    return np.array(out, dtype=np.uint64)


# -- random ---------------------------------------------------------------------------------
def uniform(fmt: FloatFormat | IntFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` encodings drawn uniformly from all ``2**width`` codes of ``fmt``."""
    _check_fmt(fmt)
    _check_n_rng(n, rng)
    return rng.integers(0, 1 << fmt.width, size=int(n), dtype=np.uint64)


def biased(fmt: FloatFormat | IntFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` encodings concentrated where formats break.

    Floats: the exponent field is near 0 (subnormals, min normal), near the top (max finite,
    Inf/NaN) or near the bias (values around 1) in equal shares, else uniform; the mantissa is
    uniform, all zeros, all ones, or one step from either end; the sign is uniform. Integers:
    values near 0, near the extremes and powers of two (two's complement encodings).
    """
    _check_fmt(fmt)
    _check_n_rng(n, rng)
    n = int(n)
    if isinstance(fmt, IntFormat):
        return _biased_int(fmt, n, rng)
    M = fmt.man_bits
    top = fmt.exp_max_field
    which = rng.integers(0, 4, size=n)
    near = rng.integers(0, 3, size=n).astype(np.int64)
    exp = np.where(
        which == 0,
        near,
        np.where(
            which == 1,
            top - near,
            np.where(which == 2, fmt.bias + near - 1, rng.integers(0, top + 1, size=n)),
        ),
    )
    exp = np.clip(exp, 0, top).astype(np.uint64)
    mmask = fmt.man_mask
    mkind = rng.integers(0, 6, size=n)
    rand_man = rng.integers(0, mmask + 1, size=n, dtype=np.uint64)
    ends = np.array([0, mmask, min(1, mmask), max(mmask - 1, 0)], dtype=np.uint64)
    man = np.where(mkind < 2, rand_man, ends[np.minimum(mkind - 2, 3).clip(0)])
    code = (exp << np.uint64(M)) | man
    if fmt.signed:
        sgn = rng.integers(0, 2, size=n, dtype=np.uint64)
        code |= sgn << np.uint64(fmt.sign_shift)
    return code.astype(np.uint64)


def _biased_int(fmt: IntFormat, n: int, rng: np.random.Generator) -> np.ndarray:
    bits = fmt.bits
    mask = (1 << bits) - 1
    which = rng.integers(0, 4, size=n)
    small = rng.integers(-4, 5, size=n)
    lo, hi = fmt.min_value, fmt.max_value
    near_min = lo + rng.integers(0, 4, size=n)
    near_max = hi - rng.integers(0, 4, size=n)
    shift = rng.integers(0, bits, size=n)
    pow2 = np.left_shift(np.ones(n, dtype=np.int64), shift)
    if fmt.signed:
        pow2 = np.where(rng.integers(0, 2, size=n) == 1, -pow2, pow2)
        pow2 = np.clip(pow2, lo, hi)
    else:
        small = np.abs(small)
        pow2 = np.clip(pow2, lo, hi)
    val = np.where(
        which == 0, small, np.where(which == 1, near_min, np.where(which == 2, near_max, pow2))
    )
    val = np.clip(val, lo, hi).astype(np.int64)
    return (val.astype(np.uint64) & np.uint64(mask)).astype(np.uint64)
