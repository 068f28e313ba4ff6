"""Where an FMA's pipeline registers should go: every placement of 1-3 registers over the
cut points ``FMA_CUTS`` (product, sum, norm, round), synthesized for ECP5 (Yosys
``synth_ecp5 -nodsp``, nextpnr LFE5U-85F, ``--freq 100``, registered I/O, seed 1).

Prints LUT4, FF and Fmax per placement and, per latency, the Fmax of each placement as a
ratio of the placement evenly spaced cut points would give (``Pipeline`` without a placement),
measured in the same run. ``exmy.hdl.fma.FMA_PLACEMENT`` holds the winners.

Run: ``python benchmarks/fma_placement.py [--formats bfloat16,e4m3fn] [-j 2]``.
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor

from _report import positive_int, run_main  # benchmarks/_report.py

from exmy.golden import parse_format

CUTS = ("product", "sum", "norm", "round")


def _run(arg):
    fmt, latency, names = arg
    from exmy.hdl import fma as hdl_fma
    from exmy.hdl.verilog import port_table, to_verilog
    from exmy.synth.flow import synthesize

    class Placed(hdl_fma.FMA):
        placement = {latency: names} if names is not None else {}

    comp = Placed(fmt, fmt, fmt, fmt, latency=latency)
    text = to_verilog(comp, comp.module_name)
    r = synthesize(text, comp.module_name, port_table(comp, text), "ecp5")
    return fmt, latency, names, r["lut"], r["ff"], r["fmax_mhz"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="bfloat16,e4m3fn")
    ap.add_argument("-j", "--jobs", type=positive_int, default=2)
    args = ap.parse_args(argv)
    fmts = [f.strip() for f in args.formats.split(",") if f.strip()]
    for f in fmts:
        parse_format(f)  # an unknown format: one clear line (run_main), before any synthesis
    # names None: the evenly spaced default, the baseline of each latency
    work = [(f, k, c) for f in fmts for k in (1, 2, 3)
            for c in [None, *itertools.combinations(CUTS, k)]]
    with ProcessPoolExecutor(args.jobs) as ex:
        res = list(ex.map(_run, work))
    base = {(f, k): fmax for f, k, c, _, _, fmax in res if c is None}
    print("format    latency  registers at             LUT4  FF   Fmax MHz  vs even spacing")
    for f, k, c, lut, ff, fmax in res:
        label = "(even spacing)" if c is None else "+".join(c)
        print(f"{f:<9} {k:<8} {label:<24} {lut:<5} {ff:<4} {fmax:<9.1f} "
              f"{fmax / base[(f, k)]:.2f}")
    return 0


if __name__ == "__main__":
    run_main("fma_placement", main, interrupted="nothing was written")
