"""``exmy synth``: synthesize (and place and route) one unit, print its cost, cache the record."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

from .common import (
    DEFAULT_DB,
    CliError,
    add_unit_options,
    check_seed,
    count_arg,
    output_dir,
    output_file,
    seed_list,
    unit_options,
    writing,
)


def add_parser(sub):
    from exmy.synth.flow import TARGETS

    p = sub.add_parser(
        "synth",
        help="synthesize a unit with Yosys/nextpnr and report LUTs, FFs, DSPs and Fmax",
        description="Generate the unit, synthesize it with Yosys (and place and route it with "
        "nextpnr where the target has it), print a one-screen report and store the record in "
        "the results database. Inputs and outputs are registered (those flip-flops are "
        "counted), so a combinational unit has a register-to-register Fmax. A rerun with the "
        "same Verilog and flow settings is answered from the database.",
    )
    add_unit_options(p, skip=("target", "dsp"))
    g = p.add_argument_group("flow")
    g.add_argument("--target", default="ecp5", metavar="TARGET",
                   help=f"one of {', '.join(TARGETS)} (default ecp5); with --fmax also the "
                   "delay model that places the unit's registers")
    g.add_argument("--dsp", action="store_true",
                   help="allow DSP blocks and block RAM (default off: LUTs compare like with "
                   "like); with --fmax the unit's registers are placed for the DSPs (ecp5)")
    g.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="nextpnr target frequency (default: the --fmax clock, else 100)")
    g.add_argument("--meet", action="store_true",
                   help="with --fmax: synthesize the placement the delay model chooses, then "
                   "re-place it for a clock faster by the shortfall while nextpnr misses, or "
                   "slower by the slack while it meets, and bisect between the two (at most "
                   f"{MEET_RUNS} runs): the cheapest design that met the clock; prints each run "
                   "and the --fmax that generates it")
    g.add_argument("--seed", type=count_arg, default=None, metavar="N",
                   help="nextpnr placer seed (default 1)")
    g.add_argument("--meet-seeds", metavar="S,S,...",
                   help="with --meet: judge each run at the median Fmax over these placer "
                   "seeds (e.g. 1,2,3; default: --seed alone)")
    g.add_argument("--no-widelut", dest="widelut", action="store_false",
                   help="Yosys -nowidelut (ECP5, Gowin, Xilinx): LUT4s only, no wide-mux "
                   "cells")
    g.add_argument("--no-register-io", dest="register_io", action="store_false",
                   help="do not register inputs and outputs (no Fmax for combinational units)")
    g.add_argument("--json", metavar="FILE", help="write the record as JSON")
    g.add_argument("--db", default=DEFAULT_DB, metavar="FILE",
                   help=f"results database (default {DEFAULT_DB})")
    g.add_argument("--no-cache", dest="cache", action="store_false",
                   help="synthesize even if the database has this record (and replace it)")
    g.add_argument("--workdir", metavar="DIR", help="keep the tool files (scripts, logs, "
                   "netlist, nextpnr report) in DIR; the tools then run even when the "
                   "database has the record (a cached record has no files to keep)")
    p.set_defaults(run=run)


#: the most syntheses ``--meet`` runs
MEET_RUNS = 4

_FLOW_DEFAULTS = {"params": {}, "dsp": False, "freq_mhz": 100.0, "seed": 1, "widelut": True,
                  "register_io": True, "io": "auto"}


def synth_point(point: dict, db_path, *, cache: bool = True, workdir=None) -> tuple[dict, bool]:
    """Synthesize one sweep point (``unit``, ``params``, ``target`` and flow options) and store
    its record in the database at ``db_path``, as a sweep would (same point and flow keys, so
    sweeps and ``exmy synth`` share cached results). Returns ``(record, cached)``. Unit and
    option errors raise ``ValueError``/``TypeError`` before any tool runs."""
    from exmy.hdl.registry import build_verilog
    from exmy.synth import flow, sweep
    from exmy.synth.db import ResultsDB
    from exmy.synth.tools import tool_version

    opts = {**_FLOW_DEFAULTS, **point}
    norm = sweep.normalize_point(opts)
    t = flow.TARGETS[norm["target"]]
    versions = {k: tool_version(k) for k in ["yosys"] + ([t.nextpnr] if t.nextpnr else [])}
    pkey = sweep.point_key(norm, sweep.design_fingerprint(sweep.default_make_design), versions)

    def note(message):  # another process holds the database's lock
        print(f"exmy synth: {message}", file=sys.stderr, flush=True)

    if cache and Path(db_path).exists():
        with ResultsDB(db_path, on_wait=note) as db:
            rec = db.get_point(pkey)
            if rec is not None and rec["status"] == "ok":
                return rec, True
    # Bad unit options raise here, before the database is created.
    verilog, top, ports = build_verilog(norm["unit"], norm["params"])
    with ResultsDB(db_path, on_wait=note) as db:
        fkey = flow.flow_key(verilog, top, flow._check_ports(ports), {k: norm[k] for k in (
            "target", "dsp", "widelut", "seed", "freq_mhz", "register_io", "io")}, versions)
        if cache:
            rec = db.get(fkey)
            if rec is not None and rec["status"] == "ok":
                db.link(pkey, fkey)
                return rec, True
        rec = flow.synthesize(verilog, top, ports, norm["target"], dsp=opts["dsp"],
                              freq_mhz=opts["freq_mhz"], seed=opts["seed"],
                              register_io=opts["register_io"], widelut=opts["widelut"],
                              io=opts["io"], workdir=workdir)
        rec.update(unit=norm["unit"], params=norm["params"], point_key=pkey)
        db.put(rec, point_key=pkey)
        return db.get(rec["flow_key"]), False


def _n(v, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}{unit}"
    return f"{v}{unit}"


def _plan(rec: dict):
    """The register placement of an fmax-mode record (its params have ``fmax``), rebuilt from
    the params (the delay model's choice is deterministic); None otherwise or if the unit no
    longer builds with those params."""
    params = rec.get("params") or {}
    if params.get("fmax") is None:
        return None
    from exmy.hdl.registry import build

    try:
        return build(rec["unit"], **params).plan
    except (TypeError, ValueError, KeyError):
        return None


def format_record(rec: dict, cached: bool = False, db: str | None = None,
                  judge: bool = True) -> str:
    """The one-screen report of a record (``judge``: say whether an fmax-mode record met its
    clock; ``--meet`` judges against its goal itself)."""
    # (as the command line takes them: a true switch is the flag alone, a false one absent)
    params = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                      for k, v in (rec.get("params") or {}).items()
                      if v is not None and v is not False)
    flags = " ".join(rec.get("yosys_flags") or [])
    lines = [f"{rec.get('unit')} {params}".rstrip() + f"  ->  {rec.get('top')}",
             f"target    {rec['target']} ({rec.get('device')}); yosys flags: {flags or 'none'}"]
    if rec.get("register_io"):
        lines.append(f"IO        {rec.get('io_bits')} bits registered "
                     f"({rec.get('io_mode') or 'no pins'}), counted in FF")
    if rec["status"] != "ok":
        lines.append(f"status    FAILED: {rec.get('error')}")
        log = (rec.get("log") or "").splitlines()[-15:]
        lines += ["          " + x for x in log]
        return "\n".join(lines)
    if rec["target"] == "generic":
        lines += [f"gates     {_n(rec.get('gates'))}", f"depth     {_n(rec.get('depth'))}",
                  f"FF        {_n(rec.get('ff'))}"]
    else:
        lines += [f"LUT       {_n(rec.get('lut'))}", f"carry     {_n(rec.get('carry'))}",
                  f"wide-mux  {_n(rec.get('widemux'))}", f"FF        {_n(rec.get('ff'))}",
                  f"DSP       {_n(rec.get('dsp'))}" + ("" if rec.get("dsp_enabled")
                                                         else "  (DSPs off)"),
                  f"BRAM      {_n(rec.get('bram'))}"]
    if rec.get("fmax_mhz") is not None:
        lines.append(f"Fmax      {rec['fmax_mhz']:.1f} MHz (target {rec.get('freq_mhz'):g} MHz,"
                     f" seed {rec.get('seed')}; critical path "
                     f"{_n(rec.get('crit_path_ns'), ' ns')})")
        if rec.get("fmax_note"):
            lines.append(f"          {rec['fmax_note']}")
        plan = _plan(rec)
        if plan is not None:
            lines.append(f"predicted {plan.fmax_predicted:.1f} MHz by the {plan.target} delay "
                         f"model (fmax {plan.fmax_target:g} MHz, latency {plan.latency}); "
                         f"achieved/predicted {rec['fmax_mhz'] / plan.fmax_predicted:.2f}")
            if judge and rec["fmax_mhz"] < plan.fmax_target:
                short = 1 - rec["fmax_mhz"] / plan.fmax_target
                lines.append(f"          {plan.fmax_target:g} MHz NOT met (this seed: "
                             f"{100 * short:.0f}% short); --meet re-places the registers "
                             f"until nextpnr meets it")
    elif rec["target"] not in ("xilinx", "generic"):
        lines.append(f"Fmax      - ({rec.get('fmax_note') or 'no timing'})")
    tv = ", ".join(f"{k} {v}" for k, v in sorted((rec.get("tool_versions") or {}).items()))
    lines.append(f"tools     {tv}")
    t = f"time      {_n(rec.get('seconds'), ' s')} (synth {_n(rec.get('synth_seconds'), ' s')}"
    t += f", pnr {_n(rec.get('pnr_seconds'), ' s')})" if rec.get("pnr_seconds") else ")"
    lines.append(t + ("  [cached]" if cached else ""))
    if db:
        lines.append(f"database  {db}")
    return "\n".join(lines)


def meet_point(point: dict, db_path, *, cache: bool = True, workdir=None,
               runs: int = MEET_RUNS, say=print, seeds=None) -> tuple[dict, bool, float, int]:
    """Synthesize an fmax-mode point until nextpnr meets its ``fmax``, in at most ``runs``
    syntheses (``say`` gets one line per run). While runs miss, the registers are placed for a
    clock faster by the shortfall (asked x goal / achieved, plus 2%), at most the highest clock
    exmy can place the unit for (the first run too: a clock the model refuses is tried at
    the placement for the highest it can place, nextpnr being the judge). While every run
    meets, the next is placed for a clock slower by the slack (asked x goal / achieved), for
    fewer registers. Once there are both, the runs left bisect between the fastest ask that
    missed and the slowest that met (asks that build the same design as either end cost no
    run). Returns the record of the cheapest design that met (LUT + FF; else the fastest
    run), whether it came from the database, the ``fmax`` it was placed for and its run number
    k (with ``workdir``, each run keeps its tool files in ``workdir/run<k>``). ``seeds``: each
    run is judged at the (lower) median Fmax over these placer seeds, and its record is that
    seed's (default: the point's seed alone)."""
    from exmy.hdl.registry import build, highest_fmax
    from exmy.hdl.timing import OutOfReach

    goal = float(point["params"]["fmax"])
    unit, params = point["unit"], point["params"]

    def design(f):  # what the delay model builds for f: its registered cuts
        try:
            plan = build(unit, **{**params, "fmax": f}).plan
        except OutOfReach:
            return None
        return plan.latency, plan.registered

    seeds = list(seeds) if seeds else [point.get("seed", 1)]

    def run_at(f, wd):  # synthesize the placement for f with every seed: the median's record
        out = []
        for sd in seeds:
            wds = wd if wd is None or len(seeds) == 1 else wd / f"seed{sd}"
            out.append(synth_point({**point, "seed": sd, "params": {**params, "fmax": f}},
                                   db_path, cache=cache, workdir=wds))
            if out[-1][0]["status"] != "ok" or out[-1][0].get("fmax_mhz") is None:
                return out[-1], []
        fs = [x[0]["fmax_mhz"] for x in out]
        return next(x for x in out if x[0]["fmax_mhz"] == statistics.median_low(fs)), fs

    done: list[tuple[dict, bool, float, int]] = []  # (record, cached, ask, k) of every run
    lo = hi = None  # the fastest ask that missed, the slowest that met
    ask: float | None = goal
    for k in range(1, runs + 1):
        wd = None if workdir is None else Path(workdir) / f"run{k}"
        try:
            (r, c), fs = run_at(ask, wd)
        except OutOfReach as e:
            best, _ = highest_fmax(*e.request, e)
            if not done:  # the model refuses the clock: let nextpnr judge its best placement
                if best is None:
                    raise
                say(f"run {k}: {ask:g} MHz is beyond the delay model's reach; the placement "
                    f"for the highest clock it can place, {best} MHz, goes to nextpnr")
            elif best is None or best <= lo:
                say(f"run {k}: {ask:g} MHz is out of reach of exmy's placement (the highest "
                    f"it can place: {f'{best} MHz' if best else 'none found'}) and no clock "
                    f"faster than {lo:g} MHz is left to try; stopping")
                break
            ask = float(best)
            (r, c), fs = run_at(ask, wd)
        done.append((r, c, ask, k))
        if r["status"] != "ok" or r.get("fmax_mhz") is None:
            break
        got, plan = r["fmax_mhz"], _plan(r)
        each = "" if len(fs) < 2 else (f" (median of seeds {', '.join(map(str, seeds))}: "
                                        f"{' / '.join(f'{f:.1f}' for f in fs)})")
        say(f"run {k}: registers placed for {ask:g} MHz: latency {plan.latency}, predicted "
            f"{plan.fmax_predicted:.1f} MHz, achieved {got:.1f} MHz{each}, {r['lut']} LUT + "
            f"{r['ff']} FF" + ("  [cached]" if c else "") + ("  met" if got >= goal else ""))
        if got >= goal:
            hi = ask
        else:
            lo = ask
        if hi is None:
            # (1000 MHz: fmax's limit, out of reach of every unit, so the step above)
            ask = min(max(math.ceil(ask * goal / got * 1.02 * 10) / 10, ask + 0.1), 1000.0)
            continue
        if lo is None:  # every run met: a placement for a slower clock may too, cheaper
            ask, d_hi = hi, design(hi)
            for _ in range(40):  # down by the slack (at least 5% a step) past asks that
                ask = math.floor(min(ask * goal / got, ask * 0.95) * 10) / 10  # build hi's
                d = design(ask) if ask >= 1 else None
                if d is None:
                    ask = None
                    break
                if d != d_hi:
                    break
            else:
                ask = None
            if ask is None:
                break
            continue
        ask = None  # bisect for a design between the two ends
        a, b = lo, hi
        ends = (design(lo), design(hi))
        while ask is None:
            mid = math.floor((a + b) / 2 * 10) / 10
            if not a < mid < b:
                break
            d = design(mid)
            if d == ends[1] or d is None:
                b = mid
            elif d == ends[0]:
                a = mid
            else:
                ask = mid
        if ask is None:
            break
    met = [x for x in done if x[0]["status"] == "ok" and x[0]["fmax_mhz"] >= goal]
    if met:
        return min(met, key=lambda x: (x[0]["lut"] + x[0]["ff"], x[2]))
    return max(done, key=lambda x: x[0].get("fmax_mhz") or 0.0)


def _check_flow_options(args, target) -> None:
    """Flow options the synthesis target would ignore (``flow_settings`` drops them so that a
    sweep's points share cache entries) are an error when given to one ``exmy synth`` run."""
    from exmy.synth.flow import TARGETS, ignored_options

    given = [("freq_mhz", "--freq", "nextpnr's target clock", args.freq is not None),
             ("seed", "--seed", "nextpnr's placer seed", args.seed is not None),
             ("dsp", "--dsp", "DSP blocks and block RAM", args.dsp),
             ("widelut", "--no-widelut", "Yosys -nowidelut", not args.widelut)]
    ignored = ignored_options(target)
    for option, flag, what, set_ in given:
        if set_ and option in ignored:
            where = ", ".join(n for n, t in TARGETS.items() if option not in ignored_options(t))
            raise CliError(f"{flag} ({what}) does nothing on target {target.name!r}; it applies "
                           f"to {where} only: leave it out or choose one of those targets")


def run(args) -> int:
    from exmy.synth.flow import TARGETS

    if args.target not in TARGETS:
        raise CliError(f"Unknown target {args.target!r}; valid targets are "
                       f"{', '.join(TARGETS)}")
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    if args.freq is not None and not 0 < args.freq < math.inf:
        raise CliError(f"--freq must be a positive number of MHz, not {args.freq:g}")
    _check_flow_options(args, TARGETS[args.target])
    seed = 1 if args.seed is None else args.seed
    # Output paths are checked before anything runs (not after minutes of synthesis).
    json_path = output_file(args.json, "--json") if args.json is not None else None
    workdir = output_dir(args.workdir, "--workdir") if args.workdir is not None else None
    params = unit_options(args)
    # --target is the synthesis target; the unit takes it (its delay model) only with --fmax
    params.pop("target", None)
    # --dsp is the flow's (DSPs allowed); with --fmax a unit with a product takes it for its
    # placement too (exmy.synth.sweep.normalize_point)
    params.pop("dsp", None)
    if params.get("fmax") is not None:
        params["target"] = args.target
    meet_seeds = None
    if args.meet_seeds is not None:
        if not args.meet:
            raise CliError("--meet-seeds applies to --meet only")
        meet_seeds = seed_list(args.meet_seeds, "--meet-seeds")
        if len(set(meet_seeds)) != len(meet_seeds):
            raise CliError(f"--meet-seeds names a seed twice: {args.meet_seeds!r}")
    if args.meet:
        if params.get("fmax") is None:
            raise CliError("--meet needs --fmax (the clock to meet)")
        if TARGETS[args.target].nextpnr is None or not args.register_io:
            raise CliError(f"--meet needs a clock nextpnr times: a target with place and route "
                           f"({', '.join(t for t, v in TARGETS.items() if v.nextpnr)}) and "
                           "registered I/O")
    # nextpnr aims at the unit's clock in fmax mode (as in a sweep), at 100 MHz otherwise
    freq = args.freq if args.freq is not None else params.get("fmax") or 100.0
    point = {"unit": args.unit, "params": params, "target": args.target,
             "dsp": args.dsp, "freq_mhz": freq, "seed": seed,
             "widelut": args.widelut, "register_io": args.register_io}
    if args.dsp and params.get("fmax") is not None:
        from exmy.hdl.registry import UNITS
        from exmy.synth.sweep import normalize_point

        norm = normalize_point(point)  # (the flow's dsp, passed on where the unit can take it)
        if norm["dsp"] and not norm["params"].get("dsp") and args.unit in UNITS \
                and "dsp" in UNITS[args.unit].options:
            from exmy.synth.flow import TARGETS

            why = (f"the {TARGETS[args.target].device} has no DSP blocks (--dsp allows its "
                   f"block RAM)" if not TARGETS[args.target].dsp_blocks else
                   f"exmy has no measured DSP delay on {args.target}")
            print(f"note: {why}, so the registers are placed as without DSPs "
                  f"(docs/results/dsp_delay.md)", flush=True)
    # --workdir asks for the tool files, which only a run makes: it implies --no-cache.
    cache = args.cache and workdir is None
    runs: list[str] = []

    def say(line: str) -> None:
        runs.append(line)
        print(line, flush=True)

    try:
        if args.meet:
            rec, cached, placed, k = meet_point(point, args.db, cache=cache, workdir=workdir,
                                                say=say, seeds=meet_seeds)
            if workdir is not None:
                workdir = workdir / f"run{k}"  # the chosen design's tool files
        else:
            rec, cached = synth_point(point, args.db, cache=cache, workdir=workdir)
    except KeyboardInterrupt:
        kept = (f"the {len(runs)} finished run(s) of --meet are in {args.db}; a rerun answers "
                "them from it" if runs else "nothing was stored: the database holds finished "
                "syntheses only")
        raise KeyboardInterrupt(f"interrupted; {kept}") from None
    print(format_record(rec, cached, args.db, judge=not args.meet))
    if workdir is not None:
        print(f"tool files in {workdir}")
    if json_path is not None:
        with writing(json_path):
            json_path.write_text(json.dumps(rec, indent=1, sort_keys=True, default=str) + "\n")
    if args.meet and rec["status"] == "ok":
        goal = params["fmax"]
        if rec["fmax_mhz"] < goal:
            print(f"exmy synth: {goal:g} MHz not met: {rec['fmax_mhz']:.1f} MHz at best "
                  f"(registers placed for {placed:g} MHz)", file=sys.stderr)
            return 1
        how = "" if not meet_seeds or len(meet_seeds) < 2 else (
            f" (median of seeds {','.join(map(str, meet_seeds))})")
        if placed != goal:
            print(f"met {goal:g} MHz{how} with the registers placed for {placed:g} MHz: "
                  f"generate this design with --fmax {placed:g}")
    return 0 if rec["status"] == "ok" else 1
