"""Accuracy on all-MiniLM-L6-v2 beside the cost model's MAC cost and SQNR proxy.

    python -m exmy.evaluate.report DB.sqlite OUT_DIR [--costmodel docs/results/costmodel]
        [--sentences N] [--target ecp5]

reads the ``evaluate_results`` rows of DB (as ``exmy evaluate`` writes them) and the cost
model's points (docs/results/costmodel/costmodel_points.csv: the exact MAC, latency 1, 4608
products, nextpnr at a 100 MHz target), and writes to OUT_DIR:

- ``accuracy.csv``: every configuration with its four measures and its time;
- ``accuracy_cost.csv``: the per-channel exact configurations whose format the cost-model sweep
  has (its eXmY-none minifloats and INT3-INT8), with LUT, FF, LUT+FF and the SQNR proxy;
- ``summary.json``: the Spearman rank correlation between the SQNR proxy and the measured
  accuracy, and the LUT+FF-vs-accuracy Pareto front (does it contain an INT format?);
- ``accuracy_cost.png``: 1 - mean cosine against LUT+FF.

``exmy report --db DB -o DIR`` writes the same files (``accuracy_cost_report``) when DB holds
both evaluate records and exact-MAC synthesis records, taking the cost points from those
records instead of a CSV.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import sys
from pathlib import Path

import numpy as np

from exmy.golden import parse_format
from exmy.synth.db import check_db_path
from exmy.synth.tools import make_dir

from .db import EvaluateDB
from .run import spearman

__all__ = [
    "accuracy_cost_report", "build_report", "costmodel_csv_points", "evaluate_rows", "main",
    "most_common_sentences",
]

_MEASURES = ("cosine_mean", "cosine_min", "nn_agreement", "spearman", "seconds")


def _pareto(points: list[tuple[float, float, str]]) -> list[str]:
    """Labels of the points no other point beats on both cost (lower) and error (lower)."""
    front = []
    for c, e, lab in points:
        if not any((c2 <= c and e2 <= e) and (c2 < c or e2 < e) for c2, e2, _ in points):
            front.append(lab)
    return front


def evaluate_rows(db_path) -> list[dict]:
    """The ``evaluate_results`` records of a results database, read only: [] when the file
    has no such table (a database of synthesis records only is not changed)."""
    from exmy.synth.db import connect_read_only

    con = connect_read_only(db_path)
    try:
        has = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evaluate_results'"
        ).fetchone()
    finally:
        con.close()
    if not has:
        return []
    db = EvaluateDB(db_path, read_only=True)
    try:
        return db.rows()
    finally:
        db.close()


def most_common_sentences(rows: list[dict]) -> int | None:
    """The sentence count most evaluate records share (the larger one on a tie): the rows a
    report puts side by side."""
    counts: dict[int, int] = {}
    for r in rows:
        counts[r["sentences"]] = counts.get(r["sentences"], 0) + 1
    return max(counts, key=lambda n: (counts[n], n)) if counts else None


#: the columns of costmodel_points.csv a report reads; the numbers among them
_CSV_COLUMNS = ("target", "variant", "format", "label", "kind", "bits", "lut", "ff",
                "fmax_mhz", "sqnr_normal", "sqnr_laplace")
_CSV_NUMBERS = ("bits", "lut", "ff", "fmax_mhz", "sqnr_normal", "sqnr_laplace")


def costmodel_csv_points(costmodel_dir, target: str = "ecp5") -> list[dict]:
    """The exact-MAC points (variant ``acc``) of one target from a cost-model report folder's
    costmodel_points.csv (``exmy report`` writes it). A file that is not such a table (a
    column missing, a value that is no number or format) is a ``ValueError`` naming it."""
    if not isinstance(costmodel_dir, (str, os.PathLike)) or not isinstance(
            os.fspath(costmodel_dir), str):
        raise TypeError(f"Cost-model folder must be a folder name (a str or a path), not "
                        f"{costmodel_dir!r}")
    if not isinstance(target, str):
        raise TypeError(f"Target must be a string such as 'ecp5', not {target!r}")
    path = Path(costmodel_dir) / "costmodel_points.csv"
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path} is not a cost-model points table (no column "
                                 f"{', '.join(missing)}); give --costmodel the folder `exmy "
                                 f"report` wrote for a cost-model sweep")
            points = [(reader.line_num, p) for p in reader
                      if p["target"] == target and p["variant"] == "acc"]
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file (not UTF-8)") from None
    except csv.Error as exc:
        raise ValueError(f"{path} is not a CSV table ({exc})") from None
    for line, p in points:
        if p["lut"] in (None, "") or p["ff"] in (None, ""):
            continue  # a point without a synthesis result: left out of the join
        for c in _CSV_NUMBERS:
            try:
                float(p[c])
            except (TypeError, ValueError):
                got = ("nothing (the line has fewer fields than the header)" if p[c] is None
                       else repr(p[c]))
                raise ValueError(f"{path}, line {line}: {c} must be a number, not "
                                 f"{got}") from None
        try:
            parse_format(p["format"])
        except ValueError as exc:
            raise ValueError(f"{path}, line {line}: {exc}") from None
    return [p for _, p in points]


def build_report(db_path, out_dir, costmodel_dir, sentences: int | None = None,
                 target: str = "ecp5") -> dict:
    """``accuracy_cost_report`` of the evaluate records in ``db_path`` against the cost-model
    points in ``costmodel_dir``/costmodel_points.csv: those of ``sentences`` sentences, by
    default of the count most records share (as ``exmy report`` does: measures on different
    sentence sets are not comparable); the summary's ``left_out`` counts the others."""
    check_db_path(db_path)  # a non-path: TypeError naming the database, not pathlib's
    if sentences is not None and (isinstance(sentences, bool) or not isinstance(sentences, int)):
        raise TypeError(f"sentences must be a positive integer or None, not {sentences!r}")
    if sentences is not None and sentences < 1:
        raise ValueError(f"sentences must be a positive integer, not {sentences}")
    if not Path(db_path).exists() and not Path(db_path).is_symlink():
        raise ValueError(f"Results database {db_path} does not exist; run `exmy evaluate` "
                         f"first, or give another database")
    db = EvaluateDB(db_path, read_only=True)
    try:
        rows = db.rows()
    finally:
        db.close()
    given = sentences is not None
    if not given:
        sentences = most_common_sentences(rows)
    selected = [r for r in rows if r["sentences"] == sentences]
    if not selected:
        raise ValueError(f"No evaluate results in {db_path}" +
                         (f" for {sentences} sentences" if given else ""))
    summary = accuracy_cost_report(selected, costmodel_csv_points(costmodel_dir, target),
                                   out_dir, target)
    summary["left_out"] = len(rows) - len(selected)
    return summary


def accuracy_cost_report(rows: list[dict], cost_points: list[dict], out_dir,
                         target: str = "ecp5") -> dict:
    """Write accuracy.csv, accuracy.md, accuracy_cost.csv, summary.json and accuracy_cost.png
    (see the module docstring) into ``out_dir`` from evaluate records ``rows`` and cost-model
    rows ``cost_points`` (dicts with format, label, kind, bits, lut, ff, fmax_mhz,
    sqnr_normal, sqnr_laplace: ``synth.costmodel`` rows or costmodel_points.csv lines of one
    target's exact MAC). Returns the summary (``joined``: how many configurations found a
    cost point)."""
    out = make_dir(out_dir, "Report folder")
    (out / "accuracy_cost.png").unlink(missing_ok=True)  # written again only with >= 3 points
    with open(out / "accuracy.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "sentences", *_MEASURES])
        for r in rows:
            w.writerow([r["key"], r["sentences"], *(r[m] for m in _MEASURES)])

    points = {parse_format(p["format"]): p for p in cost_points
              if p.get("lut") not in (None, "") and p.get("ff") not in (None, "")}
    joined = []
    for r in rows:
        if (r["scaling"], r["product"], r["acc"]) != ("channel", "exact", "exact"):
            continue
        if r["weights"] != r["acts"]:
            continue
        p = points.get(parse_format(r["weights"]))
        if p is None:
            continue
        lut, ff = round(float(p["lut"])), round(float(p["ff"]))
        joined.append({
            "format": p["label"], "kind": p["kind"], "bits": int(p["bits"]),
            "lut": lut, "ff": ff, "lut_ff": lut + ff,
            "fmax_mhz": float(p["fmax_mhz"]), "sqnr_normal": float(p["sqnr_normal"]),
            "sqnr_laplace": float(p["sqnr_laplace"]),
            **{m: r[m] for m in _MEASURES},
        })
    joined.sort(key=lambda j: (j["bits"], j["lut_ff"]))
    with open(out / "accuracy_cost.csv", "w", newline="") as f:
        if joined:
            w = csv.DictWriter(f, fieldnames=list(joined[0]))
            w.writeheader()
            w.writerows(joined)
    summary: dict = {"target": target, "configurations": len(rows), "joined": len(joined),
                     "sentences": sorted({r["sentences"] for r in rows})}
    nonfinite = [j["format"] for j in joined if not np.isfinite(j["cosine_mean"])]
    summary["nonfinite"] = nonfinite  # e.g. a float32 output overflow: left out below
    joined_all, joined = joined, [j for j in joined if np.isfinite(j["cosine_mean"])]
    if len(joined) >= 3:
        cos = np.array([j["cosine_mean"] for j in joined])
        for proxy in ("sqnr_normal", "sqnr_laplace"):
            summary[f"spearman_{proxy}_vs_cosine_mean"] = spearman(
                np.array([j[proxy] for j in joined]), cos
            )
        front = _pareto([(j["lut_ff"], 1 - j["cosine_mean"], j["format"]) for j in joined])
        summary["pareto_lut_ff_vs_cosine"] = front
        summary["pareto_has_int"] = any(f.startswith("INT") for f in front)
        lut_front = _pareto([(j["lut"], 1 - j["cosine_mean"], j["format"]) for j in joined])
        summary["pareto_lut_vs_cosine"] = lut_front
        # per width: the best INT and the best minifloat at <= its LUT+FF
        per_bits = []
        for b in sorted({j["bits"] for j in joined}):
            ints = [j for j in joined if j["bits"] == b and j["kind"] == "int"]
            for i in ints:
                rivals = [j for j in joined if j["kind"] == "float" and j["lut_ff"] <= i["lut_ff"]]
                best = max(rivals, key=lambda j: j["cosine_mean"], default=None)
                per_bits.append({
                    "int": i["format"], "int_lut_ff": i["lut_ff"],
                    "int_cosine_mean": i["cosine_mean"],
                    "best_float_at_most_that_cost": best and best["format"],
                    "float_lut_ff": best and best["lut_ff"],
                    "float_cosine_mean": best and best["cosine_mean"],
                })
        summary["int_vs_float_at_equal_cost"] = per_bits
        _plot(joined, out / "accuracy_cost.png", target)
    joined = joined_all
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    cost = {j["format"]: j for j in joined}
    lines = [
        "| configuration | sentences | cosine mean | cosine min | nn agreement | Spearman | "
        f"MAC LUT+FF ({target}) | SQNR N(0,1) dB | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        j = None
        if (r["scaling"], r["product"], r["acc"]) == ("channel", "exact", "exact") and \
                r["weights"] == r["acts"]:
            p = points.get(parse_format(r["weights"]))
            j = cost.get(p["label"]) if p else None
        lines.append(
            f"| `{r['key']}` | {r['sentences']} | {_f(r['cosine_mean'])} | "
            f"{_f(r['cosine_min'])} | {_f(r['nn_agreement'], 3)} | {_f(r['spearman'])} | "
            f"{j['lut_ff'] if j else ''} | {j['sqnr_normal'] if j else ''} | "
            f"{r['seconds']:.0f} |"
        )
    (out / "accuracy.md").write_text("\n".join(lines) + "\n")
    return summary


def _f(v, digits: int = 5) -> str:
    return "NaN" if v is None or v != v else f"{v:.{digits}f}"


def _plot(joined, path, target) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is pinned
        return
    from matplotlib.ticker import LogLocator

    from exmy.synth.report import log_axis, place_labels

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    labels = []
    for kind, mk, col in (("int", "s", "tab:red"), ("float", "o", "tab:blue")):
        js = [j for j in joined if j["kind"] == kind]
        ax.scatter([j["lut_ff"] for j in js], [max(1 - j["cosine_mean"], 1e-7) for j in js],
                   marker=mk, color=col, label="INT" if kind == "int" else "minifloat")
        labels += [(j["lut_ff"], max(1 - j["cosine_mean"], 1e-7), j["format"]) for j in js]
    log_axis(ax.xaxis, ax.set_xscale)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.set_yscale("log")
    ax.set_xlabel(f"exact MAC LUT+FF ({target}, 100 MHz target, cost-model sweep)")
    ax.set_ylabel("1 - mean cosine vs float32 (all-MiniLM-L6-v2)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    place_labels(ax, labels)  # INT first, then the minifloats; none over another
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    """``python -m exmy.evaluate.report DB OUT``: a bad database, folder or option is one
    ``... error:`` line and exit status 2, Ctrl-C one line and 130, never a traceback."""
    ap = argparse.ArgumentParser(prog="python -m exmy.evaluate.report",
                                 description="accuracy beside MAC cost")
    ap.add_argument("db")
    ap.add_argument("out")
    ap.add_argument("--costmodel", default="docs/results/costmodel")
    ap.add_argument("--sentences", type=int)
    ap.add_argument("--target", default="ecp5", choices=("ecp5", "ice40"))
    a = ap.parse_args(argv)
    if a.sentences is not None and a.sentences < 1:
        ap.error(f"--sentences must be a positive integer, not {a.sentences}")
    try:
        s = build_report(a.db, a.out, a.costmodel, a.sentences, a.target)
    except (ValueError, TypeError, OSError, sqlite3.Error) as exc:
        where = f": {exc.filename}" if isinstance(exc, OSError) and exc.filename else ""
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        text = f"{text}{where}"
        for name in sorted((a.db, a.out, a.costmodel), key=len, reverse=True):
            if not name.isprintable():  # a name holding a newline: one line all the same
                text = text.replace(name, repr(name)[1:-1])
        print(f"{ap.prog}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{ap.prog}: interrupted; files already written to {a.out} are kept",
              file=sys.stderr)
        return 130
    if s["left_out"] and a.sentences is None:
        print(f"note: {s['left_out']} record(s) with other sentence counts than "
              f"{s['sentences'][0]} left out (give --sentences N to choose)", file=sys.stderr)
    print(json.dumps(s, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
