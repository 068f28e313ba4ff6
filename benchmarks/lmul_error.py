"""L-Mul precision vs RNE multiplication: the paper comparison (SPEC 3.4), measured in one run.

Prints, for products of N(0,1) (or Laplace) samples:

- the comparison table: mean / max relative error and mean |error| in ulps, against the exact
  product of the quantized inputs (the multiplier's own error) and against the full-precision
  product (end to end), next to SPEC 3.4's recorded numbers, and each row's mean error as a
  ratio of the RNE float8_e4m3fn baseline;
- the same statistics over every pair of normal operands (exhaustive, no overflow/underflow:
  the output keeps the mantissa and widens the exponent), where the error depends on the
  mantissas only;
- the verdict on the paper's claim: "L-Mul with 4 mantissa bits is as precise as float8_e4m3
  multiplication and with 3 bits better than float8_e5m2".

Run: ``python benchmarks/lmul_error.py [--n 1000000] [--seed 0] [--dist normal|laplace]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from _report import positive_int, run_main  # benchmarks/_report.py

from exmy.golden import FloatFormat, parse_format
from exmy.golden.stats import (
    compare_methods,
    exact_product,
    exhaustive_pairs,
    product_error,
    run_method,
    sample,
    sqnr_db,
)


def _pct(v: float) -> str:
    return f"{100 * v:6.2f}%"


def comparison(n: int, seed: int, dist: str) -> list[dict]:
    rows = compare_methods(np.random.default_rng(seed), n, dist)
    base = next(r for r in rows if r["method"] == "rne" and r["format"] == "float8_e4m3fn")
    b_m, b_e = base["multiplier"]["mean_rel"], base["end_to_end"]["mean_rel"]
    print(f"## {n} products of {dist} samples (seed {seed})")
    print()
    print(
        "| method | operands | own: mean rel | max rel | mean ulp | x e4m3fn "
        "| end to end: mean rel | max rel | mean ulp | x e4m3fn | SPEC 3.4 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, e = r["multiplier"], r["end_to_end"]
        paper = _pct(r["paper"]) if r["paper"] is not None else ""
        print(
            f"| {r['label']} | {r['format']} | {_pct(m['mean_rel'])} | {_pct(m['max_rel'])} "
            f"| {m['mean_abs_ulp']:.3f} | {m['mean_rel'] / b_m:.2f} | {_pct(e['mean_rel'])} "
            f"| {_pct(e['max_rel'])} | {e['mean_abs_ulp']:.3f} | {e['mean_rel'] / b_e:.2f} "
            f"| {paper} |"
        )
    print()
    print(
        "own = against the exact product of the quantized inputs; end to end = against the "
        "float64 product of the samples. ulps are the output format's at the exact product. "
        "Max rel of 100% = a product flushed to zero (fp8 subnormal range)."
    )
    print()
    return rows


def _wide_out(f: FloatFormat) -> FloatFormat:
    # fields of a normal x normal product run from 1 - 2B + Bo to 2*emax_field - 2B + Bo + 1:
    # bias 2B - 1 and two more exponent bits hold them all
    return FloatFormat(f.exp_bits + 2, f.man_bits, bias=2 * f.bias - 1, special="none")


def exhaustive() -> None:
    print("## every pair of normal operands (exhaustive; output exponent widened)")
    print()
    print("| operands | method | mean rel | max rel | mean ulp | max ulp | pairs |")
    print("|---|---|---|---|---|---|---|")
    for name in ("float8_e5m2", "float8_e4m3fn", "float8_e3m4"):
        f = parse_format(name)
        out = _wide_out(f)
        a, b = exhaustive_pairs(f, subnormals=False, zeros=False)
        exact = exact_product(a, b, f)
        for method in ("lmul", "lmul-formula", "pam", "rne"):
            r = product_error(run_method(method, a, b, f, out), out, exact)
            print(
                f"| {name} (M={f.man_bits}) | {method} | {_pct(r['mean_rel'])} "
                f"| {_pct(r['max_rel'])} | {r['mean_abs_ulp']:.3f} | {r['max_abs_ulp']:.3f} "
                f"| {r['n']} |"
            )
    print()


def sqnr(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = {d: sample(rng, 200_000, d) for d in ("normal", "laplace")}
    names = ("e8m3", "e8m4", "float8_e4m3fn", "float8_e5m2", "float8_e3m4")
    print("## quantization SQNR (dB, RNE, saturating; 200000 samples)")
    print()
    print("| format | " + " | ".join(data) + " |")
    print("|---|" + "---|" * len(data))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{sqnr_db(name, x):.2f}" for x in data.values()) + " |")
    print()


def verdict(rows: list[dict]) -> None:
    def get(method, fmt, measure):
        r = next(r for r in rows if r["method"] == method and r["format"] == fmt)
        return r[measure]["mean_rel"]

    print("## the paper's claim")
    print()
    for measure in ("end_to_end", "multiplier"):
        m3, m4 = get("lmul", "e8m3", measure), get("lmul", "e8m4", measure)
        e4, e5 = get("rne", "float8_e4m3fn", measure), get("rne", "float8_e5m2", measure)
        c3 = "holds" if m3 < e5 else "does not hold"
        c4 = "holds" if m4 <= e4 * 1.05 else "does not hold"
        print(
            f"- {measure.replace('_', ' ')}: L-Mul M=3 {_pct(m3)} vs RNE float8_e5m2 {_pct(e5)}: "
            f"'better than e5m2' {c3}; L-Mul M=4 {_pct(m4)} vs RNE float8_e4m3fn {_pct(e4)}: "
            f"'as precise as e4m3' {c4} (within 5%)."
        )
    print()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=positive_int, default=1_000_000, help="number of products")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dist", choices=("normal", "laplace"), default="normal")
    args = p.parse_args(argv)
    rows = comparison(args.n, args.seed, args.dist)
    exhaustive()
    sqnr(args.seed)
    verdict(rows)


if __name__ == "__main__":
    run_main("lmul_error", main, interrupted="nothing was written")
