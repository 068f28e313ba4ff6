"""Reports from the results database: CSV tables and PNG plots (matplotlib, Agg backend).

Every record, a per-point summary (median over seeds), the failures, and per target LUTs and
Fmax against the design's bit width: a panel per unit family (``mac`` with ``int-mac``) and
options, a line per exponent width, each point labelled with its format. The cost-model plots
(ExMy vs INT MACs, fits, Pareto fronts) are :mod:`exmy.synth.costmodel`'s.
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
               "_params": json.loads(params)}
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


def _family(unit: str) -> str:
    """Integer and float versions of a unit share a panel (``int-mac`` with ``mac``)."""
    return unit[len("int-"):] if unit.startswith("int-") else unit


def _fmt_of(params: dict):
    from exmy.golden.format import parse_format

    for key in ("a", "fmt", "format"):
        name = params.get(key)
        if isinstance(name, str):
            try:
                return key, parse_format(name)
            except (ValueError, TypeError):
                return None
    return None


def _panels(rows: list[dict], target: str, metric: str) -> dict[str, list[tuple]]:
    """Plot panels: one per unit family and non-format options (an option equal to the
    operand format, such as ``out = "$a"``, reads ``out=a``); in each, ``(series, bits, value,
    label)`` points, a series per exponent width (``INT`` for integers)."""
    from exmy.golden.format import IntFormat

    panels: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        if r["target"] != target or r[metric] is None or r["bits"] is None:
            continue
        params = r["_params"]
        fk = _fmt_of(params)
        rest = {}
        for k, v in sorted(params.items()):
            if fk is not None and k == fk[0]:
                continue
            if fk is not None and v == params[fk[0]]:
                if k != "b":  # b = a (squaring) goes without saying
                    rest[k] = f"{fk[0]}'s format"
                continue
            rest[k] = v
        # Points without an operand format: one panel per unit family, options as labels.
        panel = _family(r["unit"]) + (" " + _label(rest) if rest and fk is not None else "")
        panel += " (DSP)" if r["dsp_enabled"] else ""
        if fk is None:
            series, label = r["unit"], _label(params)[:14]
        elif isinstance(fk[1], IntFormat):
            series, label = "INT" if fk[1].signed else "UINT", params[fk[0]]
        else:
            series, label = f"E={fk[1].exp_bits}", params[fk[0]]
        panels[panel].append((series, r["bits"], r[metric], label))
    return panels


def _plot(rows: list[dict], target: str, metric: str, ylabel: str, path: Path) -> bool:
    """``metric`` against bit width on ``target``: a panel per unit family (and options), a
    line per exponent width through its formats (integers in black), every point labelled
    with its format, the legend beside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

    panels = _panels(rows, target, metric)
    if not panels:
        return False
    names = sorted(panels)
    fig, axes = plt.subplots(len(names), 1, squeeze=False, dpi=110,
                             figsize=(8.4, 0.6 + 3.9 * len(names)))
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes[:, 0], names, strict=True):
        pts = panels[name]
        # Labels: a common suffix (every format "-none") is said once, in the title.
        labels = [p[3] for p in pts]
        tails = {x.rsplit("-", 1)[1] for x in labels if "-" in x}
        strip = next(iter(tails)) if len(tails) == 1 and all("-" in x for x in labels
                                                              if x[:1] == "e") else None
        series: dict[str, list] = defaultdict(list)
        for s_, x, y, lab in pts:
            if strip and lab.endswith("-" + strip):
                lab = lab[: -len(strip) - 1]
            series[s_].append((x, y, lab))
        order = sorted(series, key=lambda n: (not n.endswith("INT"), len(n), n))
        for sname in order:
            sp = sorted(series[sname])
            xs = [p[0] for p in sp]
            if sname.endswith("INT"):
                style = dict(color="black", marker="s", markersize=5, linewidth=2)
            elif sname.startswith("E="):
                style = dict(color=cmap((int(sname[2:]) - 1) / 7), marker="o", markersize=4,
                             linewidth=1.2)
            else:
                style = dict(marker="o", markersize=4, linewidth=1.2)
            # One line per exponent width; formats sharing a width would zigzag: dots only.
            ls = "-" if len(set(xs)) == len(xs) else "none"
            ax.plot(xs, [p[1] for p in sp], linestyle=ls, label=sname, **style)
            for x, y, lab in sp:
                ax.annotate(lab, (x, y), fontsize=6, xytext=(4, -2),
                            textcoords="offset points", color="0.25")
        xs_all = [p[1] for p in pts]
        lo, hi = min(xs_all), max(xs_all)
        if hi - lo <= 12:
            ax.set_xticks(range(lo, hi + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(lo - 0.3, hi + 0.3 + 0.07 * (hi - lo + 5))  # room for the labels
        ys = [p[2] for p in pts if p[2] > 0]
        if metric in ("lut", "gates") and ys and max(ys) > 8 * min(ys):
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{name}" + (f" (formats eXmY-{strip})" if strip else ""), fontsize=9)
        ax.set_xlabel("bit width (operand format, else total input bits)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  title="exponent bits" if any(n.startswith("E=") for n in order) else None,
                  title_fontsize=7)
    fig.suptitle(f"{ylabel} vs bit width, {target}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return True


def write_report(db_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Write ``records.csv``, ``records.json``, ``summary.csv``, ``failed.csv`` and, per
    target, ``lut_<target>.png`` (LUTs, or gates for ``generic``) and ``fmax_<target>.png``
    (where place and route ran) into ``out_dir``. Returns ``{"tables": [...], "plots":
    [...]}`` (file paths)."""
    # The database is read only: it must exist and be exmy's (ResultsDB checks).
    with ResultsDB(db_path, create=False) as db:
        records = db.records()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
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
