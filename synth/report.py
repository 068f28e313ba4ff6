"""Reports from the results database: CSV tables and PNG plots (matplotlib, Agg backend).

Generic for now: every record, a per-point summary (median over seeds), the failures, and per
target LUTs and Fmax against the design's bit width, one line per unit. The cost-model plots
(ExMy vs INT MACs, fits, Pareto fronts) build on the same tables.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections import defaultdict
from pathlib import Path

from .db import ResultsDB

__all__ = ["point_bits", "summarize", "write_report"]

_METRICS = ("lut", "carry", "widemux", "ff", "dsp", "bram", "gates", "depth", "fmax_mhz",
            "crit_path_ns", "seconds")


def point_bits(rec: dict) -> int | None:
    """The x axis of the plots: the bit width of the operand format when the parameters name
    one (``a``, ``fmt`` or ``format``), else the design's total input bits."""
    params = rec.get("params") or {}
    for key in ("a", "fmt", "format"):
        name = params.get(key)
        if isinstance(name, str):
            try:
                from exmy.golden.format import parse_format

                return parse_format(name).width
            except (ImportError, ValueError, TypeError):
                pass
    return rec.get("in_bits")


def _label(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "-"


_FORMAT_KEYS = ("a", "b", "fmt", "format")


def _series(unit: str, params: dict, dsp: bool) -> str:
    # One plotted line per unit and non-format parameters; the format is the x axis.
    rest = {k: v for k, v in params.items() if k not in _FORMAT_KEYS}
    return f"{unit}{' ' + _label(rest) if rest else ''}{' (DSP)' if dsp else ''}"


def summarize(records: list[dict]) -> list[dict]:
    """One row per (unit, params, target, dsp, widelut): medians over seeds of the ok
    records, the number of seeds, and the number of failed runs."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        key = (r.get("unit") or r.get("top"), json.dumps(r.get("params") or {}, sort_keys=True),
               r.get("target"), r.get("dsp_enabled"), r.get("widelut"))
        groups[key].append(r)
    rows = []
    for (unit, params, target, dsp, widelut), recs in sorted(groups.items(),
                                                             key=lambda kv: str(kv[0])):
        ok = [r for r in recs if r.get("status") == "ok"]
        row = {"unit": unit, "params": _label(json.loads(params)), "target": target,
               "dsp_enabled": dsp, "widelut": widelut, "bits": point_bits(recs[0]),
               "seeds": len(ok), "failed": len(recs) - len(ok),
               "_series": _series(unit, json.loads(params), dsp)}
        for m in _METRICS:
            vals = [r[m] for r in ok if r.get(m) is not None]
            row[m] = round(statistics.median(vals), 3) if vals else None
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _plot(rows: list[dict], target: str, metric: str, ylabel: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        if r["target"] == target and r[metric] is not None and r["bits"] is not None:
            series[r["_series"]].append((r["bits"], r[metric]))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name, markersize=4)
    ax.set_xlabel("bit width (operand format, else total input bits)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel} vs bit width, {target}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_report(db_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Write ``records.csv``, ``records.json``, ``summary.csv``, ``failed.csv`` and, per
    target, ``lut_<target>.png`` (LUTs, or gates for ``generic``) and ``fmax_<target>.png``
    (where place and route ran) into ``out_dir``. Returns ``{"tables": [...], "plots":
    [...]}`` (file paths)."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise ValueError(f"Results database {db_path} does not exist; run a sweep first")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with ResultsDB(db_path) as db:
        records = db.records()
        db.export_csv(out / "records.csv")
        db.export_json(out / "records.json")
    rows = summarize(records)
    cols = ["unit", "params", "target", "dsp_enabled", "widelut", "bits", "seeds", "failed",
            *_METRICS]
    _write_csv(out / "summary.csv", rows, cols)
    failed = [{**r, "params": _label(r.get("params") or {}),
               "error": (r.get("error") or "").splitlines()[0] if r.get("error") else ""}
              for r in records if r.get("status") != "ok"]
    _write_csv(out / "failed.csv", failed, ["unit", "params", "target", "seed", "error",
                                             "flow_key"])
    tables = [str(out / n) for n in ("records.csv", "records.json", "summary.csv",
                                     "failed.csv")]
    plots = []
    for target in sorted({r["target"] for r in rows if r["target"]}):
        metric, label = ("gates", "gates") if target == "generic" else ("lut", "LUTs")
        p = out / f"lut_{target}.png"
        if _plot(rows, target, metric, label, p):
            plots.append(str(p))
        p = out / f"fmax_{target}.png"
        if _plot(rows, target, "fmax_mhz", "Fmax (MHz)", p):
            plots.append(str(p))
    return {"tables": tables, "plots": plots}
