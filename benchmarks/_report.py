"""What the synthesis benchmarks (qor.py, fmax.py, fma_area.py, mac_as_fma.py) share around
``run_sweep``: the failed points on stderr, the median over seeds of a design's records, table
cells, and the markdown report's last line, printed and written."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import time
from pathlib import Path


def print_failures(records: list[dict]) -> None:
    """One ``FAILED unit params target: error`` line on stderr per record that failed."""
    for r in records:
        if r["status"] != "ok":
            print(f"FAILED {r['unit']} {r['params']} {r['target']}: {r.get('error')}",
                  file=sys.stderr)


def sweep_parser(doc: str, targets: tuple[str, ...], db: str = "exmy-results.sqlite"
                 ) -> argparse.ArgumentParser:
    """The options every seed-median synthesis benchmark takes: ``-j``, ``--db``, ``--quick``
    (seed 1 only) and ``--targets``; the description is ``doc``'s first line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("-j", "--jobs", type=positive_int, default=2)
    ap.add_argument("--db", default=db)
    ap.add_argument("--quick", action="store_true", help="seed 1 only")
    ap.add_argument("--targets", default=",".join(targets))
    return ap


def measurement_parser(doc: str, *, seeds: str, db: Path, out: Path
                       ) -> argparse.ArgumentParser:
    """The options of a benchmark that measures a delay-model term and writes its report
    with the measurements beside it as .json (loop_scale.py, calibrate_dsp.py,
    star_vs_tree.py): ``--seeds``,
    ``--db``, ``--out``, ``-j`` (default 1); the description is ``doc``'s first line."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=seeds)
    ap.add_argument("--db", default=str(db))
    ap.add_argument("--out", default=str(out),
                    help="the report; its measurements go beside it as .json")
    ap.add_argument("-j", "--jobs", type=positive_int, default=1)
    return ap


@contextlib.contextmanager
def delay_model_replaced(family: str, **changes):
    """exmy's delay model of ``family`` with the fields ``changes`` replaced while the block
    runs (a unit consults it when it is built and again when it is elaborated): the one place
    the benchmarks that try other constants or rules (calibrate_delay.py, model_forms.py,
    star_vs_tree.py) swap it."""
    from exmy.hdl import timing

    old = timing._MODELS[family]
    timing._MODELS[family] = dataclasses.replace(old, **changes)
    try:
        yield timing._MODELS[family]
    finally:
        timing._MODELS[family] = old


def measurement_args(doc: str, argv: list[str] | None, *, seeds: str, db: Path,
                     out: Path) -> argparse.Namespace:
    """:func:`measurement_parser`'s options parsed from ``argv``, with ``--out`` checked
    writable before anything runs (:func:`check_out`)."""
    args = measurement_parser(doc, seeds=seeds, db=db, out=out).parse_args(argv)
    check_out(args.out)
    return args


def sweep(points: list[dict], args, make_design=None) -> dict:
    """``run_sweep`` of ``points`` into ``args.db`` with ``args.jobs`` workers and a progress
    bar, the failed points printed (:func:`print_failures`); returns its result."""
    from exmy.synth.sweep import run_sweep

    res = run_sweep(points, args.db, jobs=args.jobs, make_design=make_design, progress=True)
    print_failures(res["records"])
    return res


def median_record(recs: list[dict], unit: str, params: dict, target: str) -> dict | None:
    """LUT, FF, carry cells and Fmax of the design ``(unit, params)`` on ``target``: the
    median over the seeds whose run succeeded (``seeds``: how many), or None if none did."""
    sel = [r for r in recs if r["unit"] == unit and r["params"] == params
           and r["target"] == target and r["status"] == "ok"]
    if not sel:
        return None
    out = {"seeds": len(sel)}
    for k in ("lut", "ff", "carry", "fmax_mhz"):
        vals = [r[k] for r in sel if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    return out


def cell(v, nd: int = 0) -> str:
    """A table cell: ``v`` with ``nd`` decimals, ``-`` for no value."""
    return "-" if v is None else f"{v:.{nd}f}"


def ratio(a, b) -> str:
    """A table cell: ``a / b`` to two decimals, ``-`` when either is missing (or b is 0)."""
    return "-" if a is None or b in (None, 0) else f"{a / b:.2f}"


def write_report(md: list[str], res: dict, t0: float, out: str | Path) -> int:
    """Append the sweep's counts and time (since ``t0``, ``time.monotonic()``) to ``md``,
    print the report and write it to ``out``. Returns the exit status: 1 if a point failed."""
    md += ["", f"{res['total']} synthesis points ({res['ran']} run, {res['cached']} cached, "
           f"{res['failed']} failed), {time.monotonic() - t0:.0f} s.", ""]
    text = "\n".join(md)
    print(text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0 if res["failed"] == 0 else 1


def seed_list(text: str) -> list[int]:
    """argparse type of ``--seeds``: nextpnr seeds as ``exmy sweep --seeds`` takes them
    (``1,2,3`` or ``1-3``; exmy.cli.common.seed_list)."""
    from exmy.cli.common import CliError
    from exmy.cli.common import seed_list as parse

    try:
        return parse(str(text))
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    """argparse type of a count (vectors, samples, repeats): an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return n


def check_out(out: str | Path) -> Path:
    """``out`` made writable before a long run (its folder created, the file touched), or
    OSError naming it: an unwritable ``--out`` should not cost a sweep."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    except OSError as exc:
        raise OSError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    return out


def run_main(name: str, main,
             interrupted: str = "finished points are kept in the --db database") -> None:
    """``sys.exit(main())`` with the benchmarks' error contract: a bad or foreign ``--db``, an
    unwritable path (ValueError, OSError) give one ``NAME: error: ...`` line, Ctrl-C says
    what was kept (``interrupted``: by default, that the finished points are in the
    database); never a traceback."""
    try:
        sys.exit(main())
    except (ValueError, OSError) as exc:
        sys.exit(f"{name}: error: {exc}")
    except KeyboardInterrupt:
        sys.exit(f"{name}: interrupted ({interrupted})")
