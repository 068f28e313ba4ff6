"""``exmy analyze multiplier``: error statistics of a multiplier (RNE, L-Mul, PAM) on data.

Two measures (``exmy.golden.stats``): *own*, the result against the exact product of the
quantized inputs (the multiplier's own error), and *end to end*, against the full-precision
product of the original samples (input quantization included). With no ``--a`` it prints
the paper comparison: L-Mul with 3 and 4 mantissa bits vs RNE multiplication in
float8_e4m3fn and float8_e5m2 (``compare_methods``).
"""

from __future__ import annotations

import numpy as np

from .common import CliError, count_arg

__all__ = ["add_parser", "run"]

#: ``--method`` choices (``exmy.golden.stats.METHODS``, listed here to keep --help cheap)
METHODS = ("rne", "lmul", "lmul-formula", "pam")


def add_parser(sub):
    p = sub.add_parser(
        "analyze",
        help="error statistics of multipliers (RNE, L-Mul, PAM) on random data",
        description="Multiply pairs of N(0,1) (or Laplace) samples quantized to a format and "
        "print the error statistics on two measures: own (against the exact product of the "
        "quantized inputs) and end to end (against the float64 product of the samples). "
        "Without --a: the paper comparison table (L-Mul with 3 and 4 mantissa bits vs RNE "
        "multiplication in float8_e4m3fn and float8_e5m2).",
    )
    p.add_argument("what", metavar="WHAT", choices=["multiplier"],
                   help="what to analyze: multiplier")
    p.add_argument("--a", metavar="FMT",
                   help="operand format (both operands); omit for the paper comparison")
    p.add_argument("--method", choices=METHODS,
                   help="multiplier: rne (exact product rounded to nearest even), lmul "
                   "(L-Mul, one adder), lmul-formula (the paper's formula), pam (offset 0); "
                   "default all four")
    p.add_argument("--samples", type=count_arg, default=1_000_000, metavar="N",
                   help="number of products (default 1000000)")
    p.add_argument("--seed", type=count_arg, default=0, help="random seed (default 0)")
    p.add_argument("--dist", choices=["normal", "laplace"], default="normal",
                   help="sample distribution (default normal)")
    p.set_defaults(run=run)


def _pct(v: float, sign: str = "") -> str:
    # nan: no product to measure (every exact product zero or non-finite): "–", explained
    return "–" if v != v else f"{100 * v:{sign}.2f}%"


def _stats_cells(s: dict) -> list[str]:
    return [
        _pct(s["mean_rel"]), _pct(s["max_rel"]), _pct(s["rms_rel"]),
        _pct(s["mean_signed_rel"], "+"), f"{s['mean_abs_ulp']:.3f}",
        f"{s['max_abs_ulp']:.3f}", str(s["n_flushed"]), str(s["n_nonfinite"]),
    ]


_STATS_HEAD = ["mean rel", "max rel", "rms rel", "bias", "mean ulp", "max ulp", "flushed",
               "non-finite"]


def _table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


#: (word in a column header, its explanation) in footnote order
_EXPLAIN = [
    ("own", "own: against the exact product of the quantized inputs (the multiplier's error)"),
    ("end to end", "end to end: against the float64 product of the samples (quantization "
                   "included)"),
    ("rel", "rel = |y - x| / |x|"),
    ("bias", "bias = mean (|y| - |x|) / |x|"),
    ("ulp", "ulp = the output format's ulp at x"),
    ("flushed", "flushed = non-zero products returned as zero (counted with rel 1)"),
    ("non-finite", "non-finite = overflows to Inf/NaN (left out of the statistics)"),
    ("SPEC 3.4", "SPEC 3.4 = the mean relative error the L-Mul paper reports"),
    ("–", "– = nothing to measure (every exact product of the quantized inputs is zero or "
          "non-finite: the samples lie outside the format's range)"),
]


def _footnote(head: list[str], rows: list[list[str]]) -> None:
    """Explain the words the table uses (its header and, for own / end to end, its cells),
    and nothing else."""
    text = " ".join(head + [c for r in rows for c in r[:2]]
                    + (["–"] if any("–" in r for r in rows) else []))
    used = [why for word, why in _EXPLAIN if re_word(word).search(text)]
    print()
    print("; ".join(used) + ".")


def re_word(word: str):
    import re

    return re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")


def _analyze_format(args) -> int:
    from exmy.golden.format import FloatFormat, parse_format
    from exmy.golden.stats import distribution_error, sample

    fmt = parse_format(args.a)
    if not isinstance(fmt, FloatFormat):
        raise CliError(f"--a must be a float format, not the integer format {fmt}")
    if not fmt.signed:  # its negative samples would fill the non-finite or flushed column
        signed = f" such as {args.a[:-2]}" if args.a.endswith("-u") else ""
        raise CliError(f"--a must be a signed format, not the unsigned {fmt}: half of the "
                       f"{args.dist} samples are negative, which it cannot hold (they would "
                       f"count as non-finite or flushed); give a signed format{signed}")
    methods = [args.method] if args.method else list(METHODS)
    rng = np.random.default_rng(args.seed)
    x = sample(rng, args.samples, args.dist)
    y = sample(rng, args.samples, args.dist)
    results, skipped = [], []
    for meth in methods:
        try:
            results.append((meth, distribution_error(meth, fmt, x, y)))
        except ValueError as exc:
            if args.method:  # the one method asked for: its refusal is the answer
                raise
            skipped.append(f"{meth} ({exc})")  # all methods: say which do not apply
    if not results:
        raise CliError(f"no method applies to {fmt}: {'; '.join(skipped)}")
    print(f"## {fmt}: {args.samples} products of {args.dist} samples (seed {args.seed})")
    print()
    rows = []
    for meth, r in results:
        rows.append([meth, "own"] + _stats_cells(r["multiplier"]))
        rows.append([meth, "end to end"] + _stats_cells(r["end_to_end"]))
    head = ["method", "measure"] + _STATS_HEAD
    _table(head, rows)
    _footnote(head, rows)
    for why in skipped:
        print(f"not applicable: {why}")
    return 0


def _claim(rows: list[dict]) -> None:
    def get(method, fmt, measure):
        r = next(r for r in rows if r["method"] == method and r["format"] == fmt)
        return r[measure]["mean_rel"]

    print()
    print("The paper's claim (mean relative error): L-Mul with 3 mantissa bits is more precise "
          "than float8_e5m2 multiplication, with 4 bits as precise as float8_e4m3.")
    print()
    for measure, label in (("end_to_end", "end to end"), ("multiplier", "own")):
        m3, m4 = get("lmul", "e8m3", measure), get("lmul", "e8m4", measure)
        e4, e5 = get("rne", "float8_e4m3fn", measure), get("rne", "float8_e5m2", measure)
        c3 = "holds" if m3 < e5 else "does not hold"
        c4 = "holds" if m4 <= e4 * 1.05 else "does not hold"
        print(f"- {label}: L-Mul M=3 {_pct(m3)} vs RNE float8_e5m2 {_pct(e5)}: {c3}; "
              f"L-Mul M=4 {_pct(m4)} vs RNE float8_e4m3fn {_pct(e4)}: {c4} (within 5%).")


def _comparison(args) -> int:
    from exmy.golden.stats import compare_methods

    if args.method is not None:
        raise CliError("--method selects a method for --a; the comparison (no --a) runs all "
                       "of them")
    rows = compare_methods(np.random.default_rng(args.seed), args.samples, args.dist)
    print(f"## L-Mul vs RNE multiplication: {args.samples} products of {args.dist} samples "
          f"(seed {args.seed})")
    print()
    out = []
    for r in rows:
        m, e = r["multiplier"], r["end_to_end"]
        out.append([
            r["label"], r["format"], _pct(m["mean_rel"]), _pct(m["max_rel"]),
            f"{m['mean_abs_ulp']:.3f}", _pct(e["mean_rel"]), _pct(e["max_rel"]),
            f"{e['mean_abs_ulp']:.3f}", _pct(r["paper"]) if r["paper"] is not None else "",
        ])
    head = ["method", "operands", "own: mean rel", "max rel", "mean ulp",
            "end to end: mean rel", "max rel", "mean ulp", "SPEC 3.4"]
    _table(head, out)
    _footnote(head, [])
    _claim(rows)
    return 0


#: largest --samples: the statistics hold every sample in memory (about 250 bytes each)
MAX_SAMPLES = 10_000_000


def run(args) -> int:
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise CliError(f"--samples must be in 1..{MAX_SAMPLES:,} (every sample is held in "
                       f"memory; repeat with other --seed values for more), not {args.samples}")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative integer, not {args.seed}")
    if args.a is None:
        return _comparison(args)
    return _analyze_format(args)
