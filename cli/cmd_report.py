"""``exmy report``: CSV tables and PNG plots from the results database, and the cost model."""

from __future__ import annotations

from pathlib import Path

from .common import DEFAULT_DB, output_dir, writing_into


def add_parser(sub):
    p = sub.add_parser(
        "report",
        help="write CSV tables and PNG plots of the results database (and the cost model)",
        description="Write every record (records.csv/json), a per-point summary (median over "
        "seeds), the failures, and LUT/Fmax plots per target into DIR. When the database holds "
        "cost-model points (MACs or multipliers over minifloat and integer formats) it also "
        "writes the cost model: LUTs and Fmax against bit width, the fitted LUT model and its "
        "error, Pareto plots of LUTs against quantization SQNR, and costmodel.md, a markdown "
        "snippet for the README. When it also holds exmy evaluate records (accuracy on "
        "all-MiniLM-L6-v2) it joins accuracy to cost: accuracy.csv/.md, accuracy_cost.csv "
        "(per-channel exact configurations beside the exact MAC's LUT+FF and SQNR proxy), "
        "summary.json (rank correlation, Pareto front) and accuracy_cost.png.",
    )
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE",
                   help=f"results database (default {DEFAULT_DB})")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--no-costmodel", dest="costmodel", action="store_false",
                   help="skip the cost-model tables and plots")
    p.set_defaults(run=run)


def run(args) -> int:
    before = _mtimes(Path(args.out))
    with writing_into(args.out, "the report"):
        try:
            return _run(args)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(_interrupted(Path(args.out), before)) from None


def _mtimes(out: Path) -> dict[str, int]:
    try:
        return {f.name: f.stat().st_mtime_ns for f in out.iterdir() if f.is_file()}
    except OSError:
        return {}


def _interrupted(out: Path, before: dict[str, int]) -> str:
    """What an interrupted report kept: the files it had written (the database is only read)."""
    made = [n for n, t in _mtimes(out).items() if before.get(n) != t]
    kept = (f"{len(made)} file(s) written to {out} before it are kept, an incomplete report: "
            f"run `exmy report` again" if made else "no report file was written")
    return f"interrupted; {kept}; the database is unchanged (a report only reads it)"


def _run(args) -> int:
    from exmy.synth.db import ResultsDB, evaluate_only
    from exmy.synth.report import write_report

    # The database first (it must exist and be exmy's; nothing is created or added to it),
    # then the output folder.
    try:
        with ResultsDB(args.db, create=False) as db:
            count = len(db)
    except ValueError:
        if not evaluate_only(args.db):
            raise
        # a file only `exmy evaluate` wrote: its accuracy tables, with no cost to join
        out = output_dir(args.out, "-o")
        before = _report_files(out)
        files = _accuracy(args.db, out, [])
        none = "" if files else " and no accuracy records yet"
        print(f"wrote {len(files)} files to {out} ({args.db} holds no synthesis records{none})"
              + (":" if files else ""))
        for f in files:
            print(f"  {Path(f).name}")
        _stale(before, files, out)
        return 0
    out = output_dir(args.out, "-o")
    before = _report_files(out)
    res = write_report(args.db, out)
    files = res["tables"] + res["plots"]
    cm: dict = {}
    if args.costmodel:
        from exmy.synth.report import write_costmodel_report

        cm = write_costmodel_report(args.db, out)
        files += cm["tables"] + cm["plots"] + ([cm["markdown"]] if cm["markdown"] else [])
        for (target, variant), fit in sorted(cm["fits"].items()):
            print(f"cost model {target} {variant}: {fit.formula()}  (RMS {fit.rms:.0f} LUT, "
                  f"max {fit.max_abs_pct:.0f}%, {fit.n} points)")
        from exmy.synth.report import lutless_note

        if not cm["tables"]:
            print(f"no cost model: {args.db} has no MAC cost-model points (ok mac/int-mac "
                  "records with LUT counts, one operand format, no DSPs); `exmy sweep "
                  "costmodel` makes them")
        if cm["left_out"]:
            print(f"cost model: {lutless_note(cm['left_out'])}")
        from exmy.synth.isofreq import write_isofreq_report

        iso = write_isofreq_report(args.db, out)
        files += iso["tables"] + iso["plots"] + ([iso["markdown"]] if iso["markdown"] else [])
        if iso["rows"]:
            missed = [r for r in iso["rows"] if r["status"] != "ok" or not r["met"]]
            print(f"cost model at equal clock: {len(iso['rows'])} points, "
                  f"{len(missed)} not meeting their clock (isofreq.md says which and why)")
    files += _accuracy(args.db, out, cm["rows"] if args.costmodel and cm.get("rows") else [])
    empty = f" ({args.db} holds no synthesis records yet: the tables are empty)" if not count \
        else ""
    print(f"wrote {len(files)} files to {out}{empty}:")
    for f in files:
        print(f"  {Path(f).name}")
    _stale(before, files, out)
    return 0


def _stale(before: set[str], files: list[str], out: Path) -> None:
    """Name the files of an earlier report in ``out`` that this one did not write (another
    database's plots, say), so that they are not taken for this report's."""
    stale = sorted(before - {Path(f).name for f in files})
    if stale:
        print(f"not written by this report, left in {out} by an earlier one: {', '.join(stale)}")


#: the names of the files a report writes (its plots per target among them)
_REPORT_NAMES = ("records.csv", "records.json", "summary.csv", "failed.csv", "lut_*.png",
                 "fmax_*.png", "costmodel*.csv", "costmodel*.png", "costmodel.md",
                 "isofreq*.csv", "isofreq*.png", "isofreq.md", "accuracy.csv", "accuracy.md",
                 "accuracy_cost.csv", "accuracy_cost.png", "summary.json")


def _report_files(out: Path) -> set[str]:
    """The files in ``out`` that bear a report's names (an earlier report's, before this one
    writes)."""
    import fnmatch

    return {p.name for p in out.iterdir() if p.is_file()
            and any(fnmatch.fnmatchcase(p.name, n) for n in _REPORT_NAMES)}


def _accuracy(db: str, out: Path, cost_rows: list[dict]) -> list[str]:
    """The accuracy-vs-cost join (exmy.evaluate.report) when the database holds evaluate
    records; prints what it joined. Returns the files written."""
    from exmy.evaluate.report import accuracy_cost_report, evaluate_rows, most_common_sentences

    rows = evaluate_rows(db)
    if not rows:
        return []
    n = most_common_sentences(rows)
    sel = [r for r in rows if r["sentences"] == n]
    other = len(rows) - len(sel)
    mac = [r for r in cost_rows if r["variant"] == "acc"]
    targets = sorted({r["target"] for r in mac})
    target = "ecp5" if "ecp5" in targets else (targets[0] if targets else None)
    summary = accuracy_cost_report(sel, [r for r in mac if r["target"] == target], out,
                                   target or "none")
    left = f"; {other} record(s) with other sentence counts left out" if other else ""
    if target is None:
        print(f"accuracy: {len(sel)} evaluate configuration(s) on {n} sentences{left}; no "
              f"exact-MAC cost-model points to join them to (`exmy sweep costmodel` makes "
              f"them)")
    else:
        rho = summary.get("spearman_sqnr_normal_vs_cosine_mean")
        rank = f"; Spearman(SQNR N(0,1), cosine mean) {rho:.2f}" if rho is not None else ""
        front = summary.get("pareto_lut_ff_vs_cosine")
        pareto = f"; LUT+FF-vs-accuracy Pareto front: {', '.join(front)}" if front else ""
        print(f"accuracy vs cost: joined {summary['joined']} of {len(sel)} evaluate "
              f"configuration(s) on {n} sentences (per-channel, exact products and "
              f"accumulation, weights = activations) to the exact MAC's LUT+FF and SQNR proxy "
              f"on {target}{left}{rank}{pareto}")
    names = ["accuracy.csv", "accuracy.md", "accuracy_cost.csv", "summary.json",
             "accuracy_cost.png"]
    return [str(out / f) for f in names if (out / f).exists()]
