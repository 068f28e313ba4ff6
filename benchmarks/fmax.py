"""Frequency-directed pipelining (issue 13, SPEC 6): every unit generated with ``fmax``, its
achieved Fmax and area on ECP5, the Fmax/area frontier over latency on ECP5 and iCE40, and the
delay model's error.

Flow (the QoR table's, ANCHORS.md): Yosys 0.70 ``synth_ecp5 -nodsp`` / ``synth_ice40``,
nextpnr 0.11 LFE5U-85F / HX8K, ``--freq 100`` (``--freq``), registered I/O (those FFs
counted), median of seeds 1-3 for the table. Subnormals and IEEE specials kept, RNE.

1. The table: per row, ``exmy generate UNIT ... --target ecp5 --fmax F``: the latency the
   delay model chose, LUT, FF, LUT+FF, carry cells, achieved Fmax, the model's predicted
   Fmax, and LUT+FF over amaranth-fp's (ANCHORS.md, quoted in benchmarks/qor.py).
2. The frontier: per unit and family (ecp5, ice40), for each latency 0..L (L: the table's
   latency), the placement the delay model chooses at the highest clock it predicts for that
   latency (found by scanning ``fmax``), synthesized (seed 1 unless ``--sweep-seeds``).
3. The model's error: predicted / achieved Fmax over every synthesized design above (median
   over its seeds): median and worst.

Run: ``nice -n 5 python benchmarks/fmax.py [--rows mul-e4m3,convert] [--seeds 1,2,3]
[--quick] [--no-sweep] [--families ecp5,ice40] [--db build/fmax.sqlite] [--out
docs/results/fmax.md]``. ``--quick``: seed 1 only, and the frontier at 3 latencies (0, L/2,
L; default ``--sweep-points 4``).
Results are cached in the database (a rerun only synthesizes designs whose Verilog changed).
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (  # noqa: E402
    check_out,
    print_failures,
    run_main,
    seed_list,
    write_report,
)
from qor import AMARANTH_FP  # noqa: E402  (benchmarks/qor.py: ANCHORS.md's numbers)

ROOT = Path(__file__).resolve().parent.parent


def _fmt3(f):
    return {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}


#: name -> (unit, params, ECP5 Fmax the issue asks for, amaranth-fp key or None)
ROWS = {
    "mul-e4m3": ("multiplier", {"a": "e4m3", "out": "e4m3", "rounding": "rne"}, 205,
                 ("multiplier", "e4m3")),
    "mul-bf16": ("multiplier", {"a": "bfloat16", "out": "bfloat16", "rounding": "rne"}, 150,
                 ("multiplier", "bfloat16")),
    "mul-f16": ("multiplier", {"a": "float16", "out": "float16", "rounding": "rne"}, 150, None),
    "fma-e4m3": ("fma", _fmt3("e4m3"), 150, ("fma", "e4m3")),
    "fma-bf16": ("fma", _fmt3("bfloat16"), 100, ("fma", "bfloat16")),
    "fma-f16": ("fma", _fmt3("float16"), 100, None),
    "afma-bf16": ("approx-fma", {**_fmt3("bfloat16"), "granularity": 4}, 100, None),
    "convert": ("convert", {"a": "float32", "out": "e4m3fn", "rounding": "rne"}, 250, None),
    "lmul": ("lmul", {"a": "e4m3fn"}, 250, None),
}

FAMILIES = ("ecp5", "ice40")


# --------------------------------------------------------------------------------------------
# The delay model's side: plans, predicted Fmax, the latency frontier
# --------------------------------------------------------------------------------------------

@functools.cache
def _build(unit: str, params_items: tuple):
    from exmy.hdl.registry import build

    return build(unit, **dict(params_items))


def built(unit: str, params: dict):
    return _build(unit, tuple(sorted(params.items())))


def segments(unit: str, params: dict, family: str):
    """The unit's cut points as its probe elaboration annotates them for ``family``, and the
    delay after the last one."""
    from exmy.hdl.timing import delay_model

    dm = delay_model(family)
    # the lowest clock any unit reaches: a placement with no registers, every cut recorded
    comp = built(unit, {**params, "target": family, "fmax": _lowest(unit, params, family)})
    plan = comp.plan
    cut = sum(s.delay for s in plan.segments if not s.loop)
    final = max(0.0, sum(plan.stage_delays) - cut)
    return list(plan.segments), final, dm, comp.size_bits


def _lowest(unit, params, family) -> float:
    for f in (5.0, 10.0, 20.0, 40.0):
        try:
            built(unit, {**params, "target": family, "fmax": f})
            return f
        except ValueError:
            continue
    raise ValueError(f"{unit} {params}: no placement at 40 MHz on {family}")


def frontier(unit: str, params: dict, family: str, max_latency: int) -> dict[int, float]:
    """{latency: the highest fmax (0.1 MHz grid) whose plan has that latency}, for latencies
    0..max_latency the delay model reaches."""
    from exmy.hdl.timing import plan_placed, plan_placement

    segs, final, dm, size = segments(unit, params, family)
    comp = built(unit, {**params, "target": family, "fmax": _lowest(unit, params, family)})
    best: dict[int, float] = {}
    f = 2.0
    while f < 1000:
        try:
            if dm.size_placed:  # the cut points as probed once, placed at their own size
                lat = plan_placed(lambda _size: (segs, final), family, f,
                                  io_bits=comp.io_bits()).latency
            else:
                lat = plan_placement(segs, final, family, f, size_bits=size).latency
        except ValueError:
            break
        if lat <= max_latency:
            best[lat] = f
        f = math.floor(f * 1.01 * 10 + 1) / 10
    return dict(sorted(best.items()))


# --------------------------------------------------------------------------------------------
# Synthesis records
# --------------------------------------------------------------------------------------------

def _point(unit, params, target, seed, freq):
    return {"unit": unit, "params": params, "target": target, "seed": seed, "dsp": False,
            "freq_mhz": freq}


def _median(by_point, unit, params, target) -> dict | None:
    """Median over the seeds of one design's records (``by_point``: the records of this run's
    points, keyed by unit, params and target)."""
    sel = [r for r in by_point.get(_key(unit, params, target), []) if r["status"] == "ok"]
    if not sel:
        return None
    out = {"seeds": len(sel), "sha": sel[0].get("verilog_sha256")}
    for k in ("lut", "ff", "carry", "fmax_mhz"):
        vals = [r[k] for r in sel if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    return out


def _key(unit, params, target) -> tuple:
    import json

    return unit, json.dumps(params, sort_keys=True), target


def _placement(unit, params, family, registered) -> tuple:
    import json

    rest = {k: v for k, v in params.items() if k not in ("fmax", "target")}
    return unit, json.dumps(rest, sort_keys=True), family, tuple(sorted(registered))


def _training() -> set:
    """Placements of the delay model's unit training designs (docs/results/delay_model.json,
    benchmarks/calibrate_delay.py) in the families whose constants were fitted to them: a
    design here with one of those placements (the same logic) is not an out-of-sample test."""
    import json

    path = ROOT / "docs" / "results" / "delay_model.json"
    if not path.exists():
        return set()
    cal = json.loads(path.read_text())
    fitted = set(cal.get("unit_fitted", []))
    return {_placement(u["unit"], u["params"], u["family"], u["registered"])
            for u in cal.get("units", []) if u["family"] in fitted}


def _n(v, nd=0) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help=f"subset of {', '.join(ROWS)}")
    ap.add_argument("--seeds", type=seed_list, default="1,2,3")
    ap.add_argument("--sweep-seeds", type=seed_list, default="1")
    ap.add_argument("--families", default=",".join(FAMILIES),
                    help="families of the latency frontier")
    ap.add_argument("--quick", action="store_true",
                    help="seed 1 only; frontier at latencies 0, L/2, L")
    ap.add_argument("--no-sweep", action="store_true", help="the table only")
    ap.add_argument("--sweep-rows", default=None,
                    help="rows that get the frontier (default: every row)")
    ap.add_argument("--sweep-points", type=int, default=4,
                    help="latencies per unit and family in the frontier (0 and L included)")
    ap.add_argument("--freq", type=float, default=100.0, help="nextpnr --freq (MHz)")
    ap.add_argument("--db", default=str(ROOT / "build" / "fmax.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "fmax.md"))
    ap.add_argument("-j", "--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    check_out(args.out)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    sweep_rows = rows if args.sweep_rows is None else [
        r.strip() for r in args.sweep_rows.split(",") if r.strip()]
    for r in rows + sweep_rows:
        if r not in ROWS:
            ap.error(f"unknown row {r!r}; rows are {', '.join(ROWS)}")
    seeds = [1] if args.quick else args.seeds
    sweep_seeds = [1] if args.quick else args.sweep_seeds
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in families:
        if f not in FAMILIES:
            ap.error(f"unknown family {f!r}; the frontier is measured on {', '.join(FAMILIES)}")
    if args.sweep_points < 2:
        ap.error(f"--sweep-points must be 2 or more (latency 0 and the table's), not "
                 f"{args.sweep_points}")

    from exmy.hdl.timing import OutOfReach
    from exmy.synth.sweep import run_sweep
    from exmy.synth.tools import tool_versions

    t0 = time.monotonic()
    # 1. the table's designs -----------------------------------------------------------------
    table, points = [], []
    for name in rows:
        unit, params, goal, afp = ROWS[name]
        p = {**params, "fmax": float(goal)}
        try:
            comp = built(unit, {**p, "target": "ecp5"})
        except ValueError as e:
            table.append((name, unit, p, goal, afp, None, str(e)))
            continue
        table.append((name, unit, p, goal, afp, comp, None))
        points += [_point(unit, p, "ecp5", s, args.freq) for s in seeds]
    # 2. the frontier --------------------------------------------------------------------------
    sweep = []  # (name, family, latency, params, predicted)
    if not args.no_sweep:
        for name, unit, p, _goal, _afp, comp, _err in table:
            if comp is None or name not in sweep_rows:
                continue
            params = {k: v for k, v in p.items() if k != "fmax"}
            for fam in families:
                fr = frontier(unit, params, fam, comp.latency)
                lats = sorted(fr)
                n = 3 if args.quick else args.sweep_points
                if len(lats) > n:  # evenly spread, 0 and L included
                    lats = sorted({lats[round(i * (len(lats) - 1) / (n - 1))]
                                   for i in range(n)})
                for lat in lats:
                    q = {**params, "fmax": fr[lat]}
                    while True:  # the unit re-probed at its own size may need a lower clock
                        try:
                            c = built(unit, {**q, "target": fam})
                            break
                        except OutOfReach:
                            q["fmax"] = math.floor(q["fmax"] * 0.99 * 10) / 10
                            if q["fmax"] < fr[lat] * 0.8:
                                raise
                    sweep.append((name, unit, fam, c.latency, q, c.plan.fmax_predicted,
                                  c.plan.registered))
                    points += [_point(unit, q, fam, s, args.freq) for s in sweep_seeds]
    print(f"{len(points)} synthesis points", file=sys.stderr)
    res = run_sweep(points, args.db, jobs=args.jobs, progress=True)
    recs = res["records"]
    by_point: dict = {}
    for pt, r in zip(points, recs, strict=True):
        by_point.setdefault(_key(pt["unit"], pt["params"], pt["target"]), []).append(r)
    train = _training()
    print_failures(recs)

    tv = tool_versions(["yosys", "nextpnr-ecp5", "nextpnr-ice40"])
    cmd = "nice -n 5 python benchmarks/fmax.py" + ("" if argv is None else " " + " ".join(argv))
    if argv is None:
        cmd = "nice -n 5 python benchmarks/fmax.py " + " ".join(sys.argv[1:])
    md = [
        "# Frequency-directed pipelining: Fmax and area (issue 13)",
        "",
        f"Generated by `{cmd.strip()}` ({time.strftime('%Y-%m-%d %H:%M')} UTC; "
        f"{', '.join(f'{k} {v}' for k, v in tv.items())}). Flow: `synth_ecp5 -nodsp` / "
        f"`synth_ice40`, nextpnr LFE5U-85F / HX8K, `--freq {args.freq:g}`, inputs and outputs "
        f"registered (FFs counted), table: median of seeds {', '.join(map(str, seeds))}. "
        "Every design is `exmy generate UNIT ... --target FAMILY --fmax F`: exmy's delay model "
        "places the registers. LUT = logic LUT4s (ECP5 wide-mux cells not counted). "
        "Subnormals and IEEE specials kept, RNE. amaranth-fp (ANCHORS.md) flushes subnormals.",
        "",
        "## 1. Each unit at the clock the issue asks for (ECP5)",
        "",
        "| unit | fmax asked | latency | LUT | FF | LUT+FF | carry | achieved Fmax | "
        "predicted Fmax | Fmax met | amaranth-fp LUT+FF @ Fmax | LUT+FF ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    errs = []  # (label, predicted, achieved)
    for name, unit, p, goal, afp, comp, err in table:
        label = f"{unit} {' '.join(str(v) for k, v in p.items() if k in ('a', 'out'))}"
        if name == "afma-bf16":
            label += " G=4"
        if comp is None:
            md.append(f"| {label} | {goal} | unreachable: {err} | | | | | | | **no** | | |")
            continue
        e = _median(by_point, unit, p, "ecp5")
        pred = comp.plan.fmax_predicted
        if e is None:
            md.append(f"| {label} | {goal} | {comp.latency} | – | – | – | – | – | {pred:.0f} "
                      "| – | | |")
            continue
        tot = e["lut"] + e["ff"]
        ref = AMARANTH_FP.get(afp) if afp else None
        refs = f"{ref[0] + ref[1]} @ {ref[2]} MHz" if ref else "–"
        ratio = f"{tot / (ref[0] + ref[1]):.2f}x" if ref else "–"
        met = "yes" if e["fmax_mhz"] >= goal else f"**no** ({e['fmax_mhz'] / goal - 1:+.0%})"
        mark = " †" if _placement(unit, p, "ecp5", comp.plan.registered) in train else ""
        md.append(f"| {label} | {goal} | {comp.latency} | {_n(e['lut'])} | {_n(e['ff'])} | "
                  f"{tot:.0f} | {_n(e['carry'])} | {_n(e['fmax_mhz'], 1)} | {pred:.0f}{mark} | "
                  f"{met} | {refs} | {ratio} |")
        errs.append((f"{label} @ {goal} (ecp5)", pred, e["fmax_mhz"], bool(mark)))

    if sweep:
        md += ["", "## 2. Fmax/area frontier over latency",
               "",
               "Per latency, the placement the delay model chooses at the highest clock it "
               f"predicts for that latency; seed{'s' if len(sweep_seeds) > 1 else ''} "
               f"{', '.join(map(str, sweep_seeds))}.", "",
               "| unit | family | latency | fmax asked | LUT | FF | LUT+FF | achieved Fmax | "
               "predicted Fmax | predicted/achieved |", "|---|---|---|---|---|---|---|---|---|---|"]
        seen = set()
        for _name, unit, fam, lat, q, pred, regs in sweep:
            e = _median(by_point, unit, q, fam)
            label = f"{unit} {' '.join(str(v) for k, v in q.items() if k in ('a', 'out'))}"
            if e is None or e["fmax_mhz"] is None:
                md.append(f"| {label} | {fam} | {lat} | {q['fmax']:g} | – | – | – | – | "
                          f"{pred:.0f} | – |")
                continue
            mark = " †" if _placement(unit, q, fam, regs) in train else ""
            md.append(f"| {label} | {fam} | {lat} | {q['fmax']:g} | {_n(e['lut'])} | "
                      f"{_n(e['ff'])} | {e['lut'] + e['ff']:.0f} | {e['fmax_mhz']:.1f} | "
                      f"{pred:.0f} | {pred / e['fmax_mhz']:.2f}{mark} |")
            key = (unit, fam, tuple(sorted(q.items())))
            if key not in seen:
                seen.add(key)
                errs.append((f"{label} latency {lat} ({fam})", pred, e["fmax_mhz"], bool(mark)))

    if errs:
        md += ["", "## 3. The delay model's error (predicted / achieved Fmax)", "",
               "Over the table's designs (median over seeds) and the frontier's. † marks a "
               "design whose placement is one of the unit designs the family's constants were "
               "fitted to (docs/results/delay_model.md); the others test the model out of "
               "sample. Goal: median "
               "within ±10%, every point within ±20%.", ""]
        for title, sel in (("all designs", errs),
                           ("out of sample (without †)", [x for x in errs if not x[3]])):
            if not sel:
                continue
            ratios = [x[1] / x[2] for x in sel]
            worst = max(range(len(sel)), key=lambda i: abs(math.log(ratios[i])))
            md.append(f"- {title}: {len(sel)} designs, median **{statistics.median(ratios):.2f}**"
                      f", worst **{ratios[worst]:.2f}** ({sel[worst][0]}); "
                      f"{sum(abs(r - 1) <= 0.2 for r in ratios)} of {len(sel)} within ±20%")
            for fam in sorted({x[0].rsplit('(', 1)[1].rstrip(')') for x in sel}):
                fr = [x[1] / x[2] for x in sel if x[0].endswith(f"({fam})")]
                md.append(f"  - {fam}: {len(fr)} designs, median {statistics.median(fr):.2f}, "
                          f"range {min(fr):.2f} .. {max(fr):.2f}, "
                          f"{sum(abs(r - 1) <= 0.2 for r in fr)} within ±20%")
    return write_report(md, res, t0, args.out)


if __name__ == "__main__":
    run_main("fmax", main)
