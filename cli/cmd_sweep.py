"""``exmy sweep``: synthesize many points (a TOML sweep file or flags) into the results database."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .common import DEFAULT_DB, MAX_SEEDS, CliError, count_arg, missing, seed_list
from .common import int_range as _int_range
from .common import split_list as _split


def _sweeps_dir() -> Path:
    """Built-in sweep files, usable by name (``exmy sweep costmodel``)."""
    import exmy.synth

    return Path(exmy.synth.__file__).parent / "sweeps"


def add_parser(sub):
    from exmy.synth.sweep import MAX_SEED
    from exmy.synth.sweepfile import MAX_POINTS

    p = sub.add_parser(
        "sweep",
        help="synthesize every point of a sweep (TOML file or flags) into the results database",
        description="Run every point of a sweep, in parallel (-j local processes, or a Dask "
        "cluster), with a progress bar. Each finished point is one database transaction, so an "
        "interrupted sweep resumes where it stopped, and points already in the database cost "
        "nothing. FILE is a sweep TOML file or the name of a built-in one "
        f"({', '.join(_builtin_names()) or 'none'}); without FILE the points come from "
        "--units/--formats/--ints.",
        epilog="examples:\n"
        "  exmy sweep costmodel -j 2\n"
        "  exmy sweep costmodel --scheduler tcp://127.0.0.1:8786   # after `dask scheduler` "
        "and `dask worker tcp://127.0.0.1:8786`\n"
        "  exmy sweep --units multiplier,int-multiplier --formats exmy:4-6 --ints int4..int6 "
        "--targets ecp5,ice40\n"
        "  exmy sweep --units mac --formats exmy:3-8:none --param out='$a' --targets ice40\n"
        "format ranges: exmy:LO-HI (every eXmY with LO..HI bits in all, the grammar's default "
        "specials), exmy:LO-HI:none (eXmY-none), or names; int ranges: int3..int8, 3-8, "
        f"int4,uint8. A sweep may have at most {MAX_POINTS:,} points and --seeds at most "
        f"{MAX_SEEDS:,} seeds (0 to {MAX_SEED}).",
    )
    from argparse import RawDescriptionHelpFormatter

    p.formatter_class = RawDescriptionHelpFormatter
    p.add_argument("file", nargs="?", metavar="FILE", help="sweep TOML file or built-in name")
    g = p.add_argument_group("points (without FILE)")
    g.add_argument("--units", metavar="LIST", help="comma-separated unit names")
    g.add_argument("--formats", metavar="SPEC",
                   help="float operand formats for the float units: exmy:LO-HI[:SPECIAL] "
                   "and/or names, comma-separated")
    g.add_argument("--ints", metavar="SPEC",
                   help="integer operand formats for the int-* units: int3..int8, 3-8 or "
                   "names")
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a unit option for every point (repeatable; VALUE may be '$a', the "
                   "point's operand format, or a comma list to sweep)")
    g = p.add_argument_group("flow (override the file's)")
    g.add_argument("--targets", metavar="LIST", help="comma-separated targets")
    g.add_argument("--seeds", metavar="LIST", help="seeds: 1,2,3 or 1-3")
    g.add_argument("--dsp", action="store_true", default=None, help="allow DSPs and block RAM")
    g.add_argument("--freq", type=float, metavar="MHZ", help="nextpnr target frequency")
    g.add_argument("--no-widelut", dest="widelut", action="store_false", default=None,
                   help="Yosys -nowidelut")
    g = p.add_argument_group("running")
    g.add_argument("-j", "--jobs", type=count_arg, metavar="N",
                   help="local worker processes, 1 or more (default: the file's, else 1)")
    g.add_argument("--scheduler", "--executor", dest="executor", metavar="ADDRESS",
                   help="run the points on the Dask scheduler at ADDRESS (tcp://HOST:PORT "
                   "as `dask scheduler` prints it, or dask://HOST:PORT) instead of local "
                   "processes; a worker lost mid-sweep costs only its running points")
    g.add_argument("--db", metavar="FILE", help=f"results database (default: the file's, else "
                   f"{DEFAULT_DB})")
    g.add_argument("--retry-failed", action="store_true", help="rerun points that failed")
    g.add_argument("--list", action="store_true", help="print the points and exit")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _builtin_names() -> list[str]:
    try:
        return sorted(f.stem for f in _sweeps_dir().glob("*.toml"))
    except (ImportError, OSError):  # pragma: no cover
        return []


# -- parsing the flags --------------------------------------------------------------------------

def parse_formats(spec: str) -> list[str]:
    """``exmy:3-8``, ``exmy:3-8:none`` and format names, comma-separated -> format names."""
    from exmy.golden.format import SPECIALS, FloatFormat, parse_format
    from exmy.synth.sweepfile import exmy_formats

    out: list[str] = []
    for item in _split(spec):
        if item.startswith("exmy:"):
            parts = item.split(":")
            if len(parts) not in (2, 3):
                raise CliError(f"Format range must be exmy:LO-HI or exmy:LO-HI:SPECIAL, not "
                               f"{item!r}")
            lo, hi = _int_range(parts[1], f"The bit range of {item!r}")
            special = parts[2] if len(parts) == 3 else None
            if special is not None and special not in SPECIALS:
                raise CliError(f"Special-value scheme in {item!r} must be one of "
                               f"{', '.join(SPECIALS)}, not {special!r}")
            try:
                names = exmy_formats(lo, hi, special)
            except ValueError as e:
                raise CliError(f"Format range {item!r}: {e}") from None
            if not names:
                raise CliError(f"{item!r} gives no valid format")
            out += names
        else:
            fmt = parse_format(item)  # ValueError names close matches
            if not isinstance(fmt, FloatFormat):
                raise CliError(f"--formats takes float formats, not {item!r}; use --ints")
            out.append(item)
    return list(dict.fromkeys(out))


def parse_ints(spec: str) -> list[str]:
    """``int3..int8``, ``int3-int8``, ``3-8`` and names (``int4``, ``uint8``) -> names."""
    from exmy.golden.format import MAX_INT_BITS, IntFormat, parse_format

    out: list[str] = []
    for item in _split(spec):
        m = re.match(r"^(u?)(?:int)?([0-9]+)\s*(?:-|\.\.)\s*(?:u?int)?([0-9]+)$", item)
        if m:
            lo, hi = int(m[2]), int(m[3])
            if lo > hi:
                raise CliError(f"Integer range must be LO..HI with LO <= HI, not {item!r}")
            if hi > MAX_INT_BITS:  # before listing: int3..int100000000 must not hang
                raise CliError(f"Integer range {item!r} goes past {MAX_INT_BITS} bits, the "
                               f"widest integer format")
            out += [f"{m[1]}int{n}" for n in range(lo, hi + 1)]
            continue
        name = item if not item.isdigit() else f"int{item}"
        if not isinstance(parse_format(name), IntFormat):
            raise CliError(f"--ints takes integer formats, not {item!r}; use --formats")
        out.append(name)
    for name in out:
        parse_format(name)  # validates widths
    return list(dict.fromkeys(out))


_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _value(text: str):
    """A ``--param`` value: a bool, an int, a float (``150.5``, ``1e2``), else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    # only decimal numbers: 'nan', 'inf' or '1_0.5' stay strings (and get the unit's message)
    return float(text) if _FLOAT.match(text) else text


def parse_params(items: list[str]) -> dict:
    out = {}
    given: dict[str, str] = {}  # key -> the --param that gave it
    for item in items:
        if "=" not in item:
            raise CliError(f"--param must be KEY=VALUE, not {item!r}")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if k in given:  # the last one silently won
            raise CliError(f"--param {k} is given twice ({given[k]!r}, {item!r}); give it once, "
                           f"with a comma list to sweep several values (--param "
                           f"{k}=VALUE1,VALUE2)")
        given[k] = item
        if not k:
            raise CliError(f"--param must be KEY=VALUE with a KEY (a unit option such as "
                           f"latency), not {item!r}")
        if not v.strip():
            raise CliError(f"--param {item!r} has no VALUE; give KEY=VALUE")
        vals = [_value(x) for x in _split(v)] if "," in v else _value(v.strip())
        out[k] = vals
    return out


def spec_from_flags(args) -> dict:
    """The sweep description (TOML shape) the point flags describe."""
    from exmy.hdl.registry import unit_names

    if not args.units:
        raise CliError("Give a sweep FILE or --units (with --formats/--ints); built-in sweep "
                       f"files: {', '.join(_builtin_names())}")
    units = _known_names(args.units, "--units", unit_names(), "unit", "units")
    floats = parse_formats(args.formats) if args.formats else []
    ints = parse_ints(args.ints) if args.ints else []
    params = parse_params(args.param)
    entries = []
    for u in units:
        fmts = ints if u.startswith("int-") else floats
        if not fmts:
            if "a" in params:
                fmts = None
            else:
                kind = "--ints" if u.startswith("int-") else "--formats"
                raise CliError(f"Unit {u!r} gets no operand formats; give {kind}")
        ps = dict(params)
        if fmts is not None:
            if "a" in params:
                kind = "--ints" if u.startswith("int-") else "--formats"
                raise CliError(f"--param a={params['a']!r} and {kind} both give unit {u!r} its "
                               f"operand format; give one of them")
            ps["a"] = fmts
        entries.append({"name": u, "params": ps})
    return {"targets": ["ecp5"], "seeds": [1], "unit": entries}


def _known_names(text: str, flag: str, known, what: str, plural: str) -> list[str]:
    """The comma-separated names of ``flag``, each one of ``known`` (an empty list is an
    error, never a default)."""
    names = _split(text)
    if not names:
        raise CliError(f"{flag} names no {what}: give one or more of {', '.join(known)}")
    for n in names:
        if n not in known:
            raise CliError(f"Unknown {what} {n!r}; {plural} are {', '.join(known)}")
    return names


def _apply_flow_flags(spec: dict, args) -> dict:
    from exmy.synth.flow import TARGETS

    over = {}
    if args.targets is not None:  # an empty list is an error, not the default targets
        over["targets"] = _known_names(args.targets, "--targets", TARGETS, "target",
                                       "valid targets")
    if args.seeds is not None:
        over["seeds"] = seed_list(args.seeds)
    if args.dsp is not None:
        over["dsp"] = True
    if args.freq is not None:
        over["freq_mhz"] = args.freq
    if args.widelut is not None:
        over["widelut"] = False
    spec = dict(spec)
    spec.update(over)
    units = []
    if spec.get("unit") is not None and not isinstance(spec["unit"], list):
        raise CliError(f"'unit' in the sweep file must be an array of tables ([[unit]] "
                       f"entries), not {spec['unit']!r}")
    for u in spec.get("unit") or []:
        if isinstance(u, dict):
            u = {k: v for k, v in u.items() if k not in over}
        units.append(u)
    if "unit" in spec:
        spec["unit"] = units
    return spec


def _read_file(name: str) -> tuple[dict, Path]:
    path = Path(name)
    if path.is_dir():
        raise CliError(f"Sweep file {name!r} is a directory; give a .toml file or the name of a "
                       f"built-in sweep ({', '.join(_builtin_names())})")
    if not path.exists():
        builtin = _sweeps_dir() / f"{name}.toml"
        if path.suffix == "" and builtin.exists():
            path = builtin
        else:
            raise CliError(f"Sweep file {name!r} {missing(path)}; built-in sweeps are "
                           f"{', '.join(_builtin_names())}")
    from exmy.synth.sweepfile import read_sweep_file

    try:
        return read_sweep_file(path), path  # not TOML, not UTF-8: ValueError naming the file
    except OSError as e:
        raise CliError(f"Sweep file {path} cannot be read ({e.strerror or e})") from None


def _check_points(points: list[dict]) -> None:
    """Refuse, before anything is synthesized or listed, a point whose unit is unknown, whose
    timing options (latency, fmax, target) are not valid values, or whose unit would refuse
    its parameters (a format name, an option value: ``exmy.synth.sweep.check_unit_params``).
    (An option its unit does not take, which ``--param`` gives every unit of a mixed sweep,
    fails that point alone; a clock out of reach is a result: both are recorded as failed
    points.)"""
    from exmy.hdl.registry import unit_names
    from exmy.hdl.timing import check_fmax, check_target
    from exmy.hdl.util import check_latency
    from exmy.synth.sweep import check_unit_params

    known = unit_names()
    checks = {"fmax": check_fmax, "target": check_target, "latency": check_latency}
    for p in points:
        if p["unit"] not in known:
            raise CliError(f"Unknown unit {p['unit']!r} in the sweep; units are "
                           f"{', '.join(known)}")
        params = p.get("params") or {}
        where = f"Sweep point {p['unit']} {params}"
        for key, check in checks.items():
            if params.get(key) is not None:
                try:
                    check(params[key])
                except (TypeError, ValueError) as e:
                    hint = ""
                    if key == "target" and params[key] == p.get("target"):
                        hint = (f" (with fmax the synthesis target's delay model places the "
                                f"registers, and {p['target']!r} has none: give target=FAMILY "
                                f"in the point's params, the family whose model should place "
                                f"them)")
                    raise CliError(f"{where}: {e}{hint}; nothing was synthesized") from None
    try:  # formats and option values, as the run would build them
        check_unit_params(points)
    except ValueError as e:
        raise CliError(f"{e}; nothing was synthesized") from None


def run(args) -> int:
    from exmy.synth.sweep import dask_address, jobs_problem, run_sweep
    from exmy.synth.sweepfile import expand_sweep, file_settings

    if args.file and (args.units or args.formats or args.ints or args.param):
        raise CliError("Give either a sweep FILE or --units/--formats/--ints/--param, not both")
    if args.executor is not None:
        dask_address(args.executor)  # a malformed address fails now, not after the points
    file_opts: dict = {}
    if args.file:
        spec, path = _read_file(args.file)
        file_opts = file_settings(spec, tuple(k for k in ("db", "jobs", "executor")
                                              if getattr(args, k) is not None))
        spec = _apply_flow_flags(spec, args)
        points = expand_sweep(spec)
    else:
        spec = _apply_flow_flags(spec_from_flags(args), args)
        points = expand_sweep(spec)
    _check_points(points)
    # db and jobs are checked before --list too (a sweep that lists is one that runs); an
    # empty name is an error, never the default database (`--db ""`, `db = ""`)
    db = next((d for d in (args.db, file_opts.get("db")) if d is not None), DEFAULT_DB)
    jobs = next((j for j in (args.jobs, file_opts.get("jobs")) if j is not None), 1)
    if args.jobs is not None and (why := jobs_problem(jobs, "-j")):
        raise CliError(why)
    if args.list:
        for p in points:
            params = " ".join(f"{k}={v}" for k, v in p["params"].items())
            print(f"{p['unit']:16s} {params:40s} {p['target']:10s} seed={p['seed']}")
        print(f"{len(points)} points")
        return 0
    executor = args.executor or file_opts.get("executor")
    res = run_sweep(points, db, jobs=jobs, executor=executor, progress=not args.quiet,
                    retry_failed=args.retry_failed)
    lost = (f", {res['resubmitted']} steps resubmitted after a lost worker"
            if res["resubmitted"] else "")
    lost += f", {res['lost']} points given up (not recorded)" if res["lost"] else ""
    workers = res.get("workers")
    if not executor and workers and workers < jobs:  # -j 64 for 3 points: say how many ran
        lost += f", {workers} worker{'s' if workers > 1 else ''} for {workers} point" + (
            "s" if workers > 1 else "") + f" to run (-j {jobs})"
    print(f"{res['total']} points: {res['ran']} synthesized, {res['cached']} from the database, "
          f"{res['failed']} failed{lost}, {res['seconds']:.1f} s; database {db}")
    for r in res["records"]:
        if r["status"] != "ok":
            err = (r.get("error") or "").splitlines()[:1]
            print(f"  failed: {r.get('unit')} {r.get('params')} {r.get('target')}: "
                  f"{err[0] if err else ''}", file=sys.stderr)
    return 0 if res["failed"] == 0 else 1
