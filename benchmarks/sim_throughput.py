"""Simulation and golden-model throughput for the exhaustive E4M3FN multiplier check.

Prints vectors/second on Icarus, Verilator (vector-file testbench started by cocotb) and the
Amaranth simulator (64 lanes), and golden multiplies/second. Ratios are against a baseline
measured in the same run: a plain numpy uint8 multiply-and-mask over the same 65,536 pairs
(the cheapest possible "model"), so the numbers survive a noisy machine.

    .venv/bin/python benchmarks/sim_throughput.py [--repeat N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import positive_int, run_main  # benchmarks/_report.py

from exmy.golden import CATALOG, multiply
from exmy.hdl.multiplier import Multiplier
from exmy.hdl.verilog import port_table, to_verilog
from exmy.sim import run_vectors
from exmy.sim.vectors import exhaustive


def _best(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=positive_int, default=3)
    args = ap.parse_args()
    f = CATALOG["e4m3fn"]
    a, b = exhaustive(f, f)
    n = len(a)

    # baseline: numpy's own uint8 product over the same pairs
    a8, b8 = a.astype(np.uint8), b.astype(np.uint8)
    t_base, _ = _best(lambda: (a8 * b8) & 0xFF, args.repeat * 5)

    big = 1 << 20
    rng = np.random.default_rng(0)
    ga = rng.integers(0, 256, big, dtype=np.uint64)
    gb = rng.integers(0, 256, big, dtype=np.uint64)
    t_gold, _ = _best(lambda: multiply(ga, gb, f, f, f), args.repeat)
    t_base_big, _ = _best(lambda: (ga.astype(np.uint8) * gb.astype(np.uint8)) & 0xFF,
                          args.repeat * 5)
    print(f"golden multiply: {big / t_gold / 1e6:.1f} M multiplies/s "
          f"({t_gold / t_base_big:.0f}x the time of a bare numpy uint8 multiply)")

    comp = Multiplier(f, f, f)
    top = comp.module_name
    verilog = to_verilog(comp, top)
    ports = port_table(comp, verilog)
    expected = multiply(a, b, f, f, f)
    print(f"exhaustive {n} pairs of {top}:")
    print(f"{'simulator':10s} {'sim s':>7s} {'loop s':>7s} {'build s':>8s} {'vectors/s':>12s} "
          f"{'vs numpy':>9s}")
    for sim in ("icarus", "verilator", "amaranth"):
        with tempfile.TemporaryDirectory() as tmp:
            best = None
            for _ in range(args.repeat):
                timings: dict = {}
                obs = run_vectors(verilog, top, ports, {"a": a, "b": b}, ["y"], 0, sim,
                                  Path(tmp), component=lambda: Multiplier(f, f, f),
                                  timings=timings)
                assert np.array_equal(obs["y"], expected), f"{sim}: mismatch"
                if best is None or timings["sim_s"] < best["sim_s"]:
                    best = timings
        s = best["sim_s"]
        loop = best.get("loop_s") or s
        print(f"{sim:10s} {s:7.2f} {loop:7.2f} {best.get('build_s', 0.0):8.2f} {n / s:12,.0f} "
              f"{s / t_base:8.0f}x")


if __name__ == "__main__":
    run_main("sim_throughput", main, interrupted="nothing was written")
