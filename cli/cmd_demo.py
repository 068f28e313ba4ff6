"""``exmy demo``: the main job end to end on embedded defaults — generate, simulate (cocotb,
exhaustive where possible), synthesize a small sweep, report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .common import CliError, count_arg, output_dir, writing_into

#: (title, unit, options, simulators, mode) — checked in this order when the unit exists
DEMO_CHECKS = [
    ("E4M3FN multiplier, RNE", "multiplier",
     {"a": "e4m3fn", "out": "e4m3fn"}, ("icarus", "verilator"), "exhaustive"),
    ("E4M3FN x E4M3FN exact product", "multiplier", {"a": "e4m3fn"}, ("icarus",), "exhaustive"),
    ("float32 -> E4M3FN converter, stochastic rounding", "convert",
     {"a": "float32", "out": "e4m3fn", "rounding": "stochastic", "rand_bits": 8},
     ("verilator",), "random"),
    ("E4M3FN MAC, exact accumulator, y in float16", "mac",
     {"a": "e4m3fn", "out": "float16", "latency": 2}, ("icarus", "verilator"), "random"),
    ("INT8 MAC", "int-mac", {"a": "int8", "latency": 1}, ("icarus", "verilator"), "random"),
    ("E4M3FN FMA", "fma", {"a": "e4m3fn", "c": "e4m3fn", "out": "e4m3fn"}, ("verilator",),
     "random"),
    ("approx-normalization FMA, bfloat16, G=4", "approx-fma",
     {"a": "bfloat16", "c": "bfloat16", "out": "bfloat16", "granularity": 4}, ("verilator",),
     "random"),
    ("L-Mul, float8_e4m3fn operands", "lmul", {"a": "e4m3fn"}, ("icarus",), "exhaustive"),
    ("E4M3 multiplier, registers placed for 200 MHz on ECP5 (--fmax)", "multiplier",
     {"a": "e4m3", "out": "e4m3", "target": "ecp5", "fmax": 200}, ("verilator",),
     "exhaustive"),
    ("E4M3FN MAC placed for 200 MHz on ECP5 (segmented accumulator)", "mac",
     {"a": "e4m3fn", "target": "ecp5", "fmax": 200}, ("verilator",), "random"),
]


def add_parser(sub):
    p = sub.add_parser(
        "demo",
        help="run the main job end to end: generate, simulate, synthesize, report",
        description="Generate Verilog for a set of units, check each against the golden model "
        "in cocotb (Icarus and Verilator; exhaustive where the input space allows), run a small "
        "synthesis sweep (ECP5 and iCE40) and write tables and plots. Everything lands in "
        "--out.",
    )
    p.add_argument("--out", default="demo-out", metavar="DIR",
                   help="output folder (default demo-out)")
    p.add_argument("--vectors", type=count_arg, default=100_000, metavar="N",
                   help="sampled vectors for units too large for exhaustive checks")
    p.add_argument("--no-synth", action="store_true", help="skip the synthesis sweep")
    p.add_argument("-j", "--jobs", type=count_arg, default=2, help="parallel synthesis jobs")
    p.set_defaults(run=run)


class _Progress:
    """Where the demo is, for Ctrl-C's one line: the step, the checks finished, the folder."""

    def __init__(self):
        self.out: Path | None = None
        self.step = "starting"
        self.passed = self.failed = 0

    def interrupted(self, exc: KeyboardInterrupt) -> str:
        inner = str(exc).removeprefix("interrupted").lstrip(":; ")
        line = f"interrupted while {self.step}" + (f" ({inner})" if inner else "")
        if self.out is None:
            return f"{line}; nothing was written"
        done = self.passed + self.failed
        if done:
            line += (f"; {done} check{'s' if done > 1 else ''} finished before it ("
                     f"{self.passed} passed, {self.failed} failed, as printed above)")
        return (f"{line}; the files written so far are in {self.out}/ ({self.out / 'summary.md'} "
                f"is written only at the end)")


def run(args) -> int:
    progress = _Progress()
    with writing_into(args.out, "the demo"):
        try:
            return _run(args, progress)
        except KeyboardInterrupt as exc:
            raise KeyboardInterrupt(progress.interrupted(exc)) from None


def _run(args, progress: _Progress) -> int:
    from exmy.hdl.registry import build, sidecar, unit_names
    from exmy.hdl.verilog import to_verilog
    from exmy.sim.check import check
    from exmy.synth.tools import make_dir

    from .cmd_simulate import check_vectors

    check_vectors(args.vectors)  # (as exmy simulate: refused now, not after days)
    if args.jobs < 1:
        raise CliError(f"-j/--jobs must be a positive integer, not {args.jobs}")
    from exmy.synth.sweep import max_jobs

    if args.jobs > max_jobs():  # refused now, not after the simulation step's minutes
        raise CliError(f"-j/--jobs must be at most {max_jobs()} local worker processes, not "
                       f"{args.jobs:,}")
    out = output_dir(args.out, "--out")
    _check_db(out / "exmy-results.sqlite", args.no_synth)
    _check_layout(out, args.no_synth)
    progress.out = out
    make_dir(out / "verilog", "Verilog folder")
    units = set(unit_names())
    t_start = time.perf_counter()
    lines = ["# exmy demo", "", "| unit | module | simulator | vectors | mismatches | "
             "vectors/s |", "|---|---|---|---|---|---|"]
    failures = 0
    print(f"exmy demo -> {out}/")
    print("1. generate and simulate (golden model vs generated Verilog, bit for bit)")
    for title, unit, opts, sims, mode in DEMO_CHECKS:
        if unit not in units:
            continue
        progress.step = f"generating {title}"
        comp = build(unit, **opts)
        top = comp.module_name
        text = to_verilog(comp, top)
        (out / "verilog" / f"{top}.v").write_text(text)
        (out / "verilog" / f"{top}.json").write_text(
            json.dumps(sidecar(comp, text, top), indent=2) + "\n")
        for sim in sims:
            bdir = out / "build" / f"{top}_{sim}"
            make_dir(bdir, "Simulation build folder")
            progress.step = f"checking {title} on {sim}"
            res = check(comp, sim, mode=mode, n=args.vectors, seed=1, build_dir=bdir,
                        verilog=text)
            status = "PASS" if res.ok else "FAIL"
            failures += not res.ok
            progress.passed += res.ok
            progress.failed += not res.ok
            print(f"   [{status}] {title}: {res.summary()}")
            for m in res.mismatches[:5]:
                print(f"          {m}")
            lines.append(f"| {title} | `{top}` | {sim} | {res.coverage.describe()} | "
                         f"{res.mismatch_count} | {res.vectors_per_s:,.0f} |")
    report_dir = None
    if not args.no_synth:
        print("2. synthesize a small sweep (Yosys + nextpnr, ECP5 and iCE40, registered I/O)")
        from exmy.synth.report import write_report
        from exmy.synth.sweep import run_sweep
        from exmy.synth.sweepfile import expand_sweep

        spec = {
            "targets": ["ecp5", "ice40"],
            "seeds": [1],
            "unit": [
                {"name": "multiplier", "params": {"a": ["e2m1fn", "e4m3fn", "e5m2"],
                                                  "out": "$a"}},
            ],
        }
        if "mac" in units:
            spec["unit"].append({"name": "mac", "params": {"a": ["e2m1fn", "e4m3fn"],
                                                           "latency": 1}})
        if "int-mac" in units:
            spec["unit"].append({"name": "int-mac", "params": {"a": ["int4", "int8"],
                                                               "latency": 1}})
        points = expand_sweep(spec)
        db = out / "exmy-results.sqlite"
        progress.step = "running the synthesis sweep"
        res = run_sweep(points, db, jobs=args.jobs, progress=True)
        print(f"   {res['total']} points: {res['ran']} synthesized, {res['cached']} cached, "
              f"{res['failed']} failed, {res['seconds']:.0f} s")
        failures += res["failed"]
        report_dir = out / "report"
        progress.step = "writing the synthesis report"
        written = write_report(db, report_dir)
        lines += ["", "## Synthesis", ""]
        summary = report_dir / "summary.csv"
        if summary.exists():
            lines.append(_csv_to_md(summary))
        print(f"3. report: {report_dir}/ ({len(written.get('tables', []))} tables, "
              f"{len(written.get('plots', []))} plots)")
    print("4. evaluate a few unit configurations on all-MiniLM-L6-v2 (20 sentences)")
    from exmy.evaluate.run import demo_evaluate

    progress.step = "evaluating on all-MiniLM-L6-v2"

    lines += ["", "## Accuracy on all-MiniLM-L6-v2", ""]
    lines += demo_evaluate(out / "exmy-results.sqlite")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    took = time.perf_counter() - t_start
    verdict = "all checks passed" if not failures else f"{failures} FAILED"
    print(f"done in {took:.0f} s: {verdict}; summary in {out / 'summary.md'}")
    return 0 if not failures else 1


def _check_layout(out: Path, no_synth: bool) -> None:
    """The folders and the summary the demo writes in --out, checked before the simulations'
    minutes: a file where a folder goes (or the reverse) is refused now, not halfway."""
    folders = [("verilog", "its Verilog"), ("build", "its simulation builds")]
    if not no_synth:
        folders.append(("report", "its synthesis report"))
    for name, what in folders:
        p = out / name
        if (p.exists() or p.is_symlink()) and not p.is_dir():
            kind = "a link to nothing" if not p.exists() else "a file"
            raise CliError(f"--out {str(out)!r} holds {kind} {name}, where the demo writes "
                           f"{what} (a folder); rename it, or give another --out")
    if (out / "summary.md").is_dir():
        raise CliError(f"--out {str(out)!r} holds a folder summary.md, where the demo writes "
                       f"its summary; rename it, or give another --out")


def _check_db(db: Path, no_synth: bool) -> None:
    """The results database the sweep and the evaluation add to, opened now (made if missing):
    a damaged, foreign or misnamed file in --out is refused before the simulations' minutes,
    not after them."""
    from exmy.evaluate.db import EvaluateDB
    from exmy.synth.db import ResultsDB

    if db.is_dir():
        raise CliError(f"--out {str(db.parent)!r} holds a folder {db.name}, where the demo keeps "
                       f"its results database; rename it, or give another --out")
    try:
        if not no_synth:
            ResultsDB(db).close()
        EvaluateDB(db).close()
    except ValueError as exc:  # (the demo has no --db: the file is the one in --out)
        raise CliError(str(exc).replace("give another --db", "give another --out")) from None


def _csv_to_md(path: Path, keep=("unit", "params", "target", "lut", "ff", "carry",
                                 "fmax_mhz")) -> str:
    import csv

    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return "(no results)"
    cols = [c for c in keep if c in rows[0]] or list(rows[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(md)
