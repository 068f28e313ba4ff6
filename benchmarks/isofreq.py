"""The MAC cost model at equal clock (issue 14): LUT+FF of each minifloat MAC over the INT MAC
of the same width, at every clock, in one run.

Runs the built-in sweep ``costmodel_fmax`` (synth/sweeps/costmodel_fmax.toml: every cost-model
MAC built with ``fmax`` = 100/150/200 MHz on ECP5, median of seeds 1-3, and 50/100 MHz on
iCE40, seed 1; nextpnr aims at the same clock) and, with ``--dsp``, the same ECP5 points with
DSPs allowed (docs/results/isofreq/iso_dsp.toml, seed 1). Prints, per target, clock and DSP
setting: the ratio of every minifloat MAC to the INT MAC of the same total width, whether each
met its clock (median achieved Fmax), and the points that did not. The baseline of every
ratio, the INT MAC, is measured in the same run. ``exmy report --db DB -o DIR`` writes the full
report (Pareto fronts, fitted models, plots) from the same database.

Run: ``python benchmarks/isofreq.py [-j 2] [--db exmy-iso.sqlite] [--dsp] [--out FILE.md]``.
Points already in the database cost nothing (a warm rerun takes seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _report import check_out, run_main  # benchmarks/_report.py

from exmy.synth.costmodel import isofreq_ratios, isofreq_rows
from exmy.synth.sweep import run_sweep
from exmy.synth.sweepfile import load_sweep

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "synth" / "sweeps" / "costmodel_fmax.toml"
DSP_SWEEP = ROOT / "docs" / "results" / "isofreq" / "iso_dsp.toml"


def _group(r: dict) -> tuple:
    return (r["target"], r["clock"], r["dsp_enabled"])


def _name(g: tuple) -> str:
    return f"{g[0]} @ {g[1]:g} MHz" + (", DSPs allowed" if g[2] else "")


def tables(records: list[dict]) -> list[str]:
    """Markdown: per (target, clock, DSPs) the minifloat / INT ratios and the missed clocks."""
    rows = isofreq_rows(records)
    built = [r for r in rows if r["status"] == "ok"]
    ratios = isofreq_ratios(built)
    md = []
    for g in sorted({_group(r) for r in rows}):
        sel = [r for r in ratios if _group(r) == g and r["variant"] == "acc"]
        md += [f"## {_name(g)}", "", "| minifloat | LUT+FF | met | INT | LUT+FF | met | ratio |",
               "|---|---|---|---|---|---|---|"]
        for r in sorted(sel, key=lambda r: (r["int"], r["ratio"])):
            md.append(f"| {r['format']} | {r['lut_ff']:.0f} | {'yes' if r['met'] else 'NO'} | "
                      f"{r['int']} | {r['int_lut_ff']:.0f} | {'yes' if r['int_met'] else 'NO'} | "
                      f"{r['ratio']:.2f}x |")
        grp = [r for r in rows if _group(r) == g]
        missed = [f"{r['label']} ({r['fmax_mhz']:.1f} MHz)" for r in grp
                  if r["status"] == "ok" and not r["met"]]
        failed = [f"{r['label']}: {r['status']}" for r in grp if r["status"] != "ok"]
        met = sum(1 for r in grp if r["status"] == "ok" and r["met"])
        md += ["", f"{met} of {len(grp)} MACs met {g[1]:g} MHz."
               + (f" Missed (median achieved Fmax): {', '.join(missed)}." if missed else "")
               + (f" Not built: {'; '.join(failed)}." if failed else ""), ""]
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--db", default="exmy-iso.sqlite")
    ap.add_argument("--dsp", action="store_true", help="also the ECP5 points with DSPs allowed")
    ap.add_argument("--out", default=str(ROOT / "build" / "isofreq_ratios.md"))
    args = ap.parse_args(argv)
    if args.jobs < 1:
        raise ValueError(f"-j must be a positive integer, not {args.jobs}")
    out = check_out(args.out)
    t0 = time.monotonic()
    points = load_sweep(SWEEP)["points"] + (load_sweep(DSP_SWEEP)["points"] if args.dsp else [])
    res = run_sweep(points, args.db, jobs=args.jobs, progress=True)
    md = ["# MAC cost at equal clock: minifloat / INT MAC of the same width (LUT+FF)", "",
          f"`python benchmarks/isofreq.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
          f": {res['total']} points ({res['ran']} synthesized, {res['cached']} from the "
          f"database, {res['failed']} failed), {time.monotonic() - t0:.0f} s. Medians over "
          "seeds; met = the median achieved Fmax reaches the clock.", "",
          *tables(res["records"])]
    text = "\n".join(md)
    print(text)
    out.write_text(text)
    return 0


if __name__ == "__main__":
    run_main("isofreq", main)
