"""Reports from the results database: CSV tables and PNG plots (matplotlib, Agg backend).

Every record, a per-point summary (median over seeds), the failures, and per target LUTs and
Fmax against the design's bit width: a panel per unit family (``mac`` with ``int-mac``) and
options, a line per exponent width, each point labelled with its format. The cost-model plots
(ExMy vs INT MACs, fits, Pareto fronts) and its markdown table, from the numbers of
:mod:`exmy.synth.costmodel`: :func:`write_costmodel_report`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path

from .costmodel import (
    _DIST_LABEL,
    DISTS,
    MODELS,
    _by_bits,
    _with_errors,
    costmodel_rows,
    crossover,
    fit_luts,
    lutless_targets,
    pareto_front,
    record_list,
)
from .db import ResultsDB
from .tools import make_dir

__all__ = ["front_first", "log_axis", "place_labels", "point_bits", "summarize",
           "write_costmodel_report", "write_report"]

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
    records = record_list(records, "summarize()'s records")
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
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})


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


def _layout_below_title(fig) -> None:
    """Lay the panels out below the figure's suptitle (matplotlib's constrained layout:
    ``tight_layout`` let a tall figure's first panel title run into the suptitle)."""
    fig.set_layout_engine("constrained")


def _plot(rows: list[dict], target: str, metric: str, ylabel: str, path: Path) -> bool:
    """``metric`` against bit width on ``target``: a panel per unit family (and options), a
    line per exponent width through its formats (integers in black), the points labelled
    with their formats where there is room (place_labels), the legend beside the axes."""
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
    labelled = []
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
        to_label: list[tuple] = []  # INT first (``order``), labelled once the layout is set
        labelled.append((ax, to_label))
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
            to_label.extend(sp)
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
    _layout_below_title(fig)
    for ax, pts in labelled:
        place_labels(ax, pts, color="0.25")
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
        out = make_dir(out_dir, "Report folder")
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


# --------------------------------------------------------------------------------------------
# The cost model's report (the numbers are exmy.synth.costmodel's)
# --------------------------------------------------------------------------------------------

def _fmt(v, nd: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{nd}f}" if isinstance(v, float) or nd else str(v)


# Offsets (points) tried around a point, nearest first: beside, above and below, then farther
# out with a leader line. (dx, dy, horizontal alignment, vertical alignment)
_LABEL_SPOTS = [(4, 0, "left", "center"), (3, 3, "left", "bottom"), (3, -3, "left", "top"),
                (-4, 0, "right", "center"), (-3, 3, "right", "bottom"),
                (-3, -3, "right", "top"), (0, 5, "center", "bottom"), (0, -5, "center", "top")]
_LABEL_FAR = [(dx * k, dy * k, ha, va) for k in (3, 5) for dx, dy, ha, va in _LABEL_SPOTS]


def front_first(rows: list[dict], front: list[dict]) -> list[dict]:
    """``rows`` with the Pareto ``front``'s and the INT rows first (stable otherwise): the
    order in which a cost-vs-accuracy plot places its labels."""
    first = {id(r) for r in front} | {id(r) for r in rows if r["kind"] == "int"}
    return sorted(rows, key=lambda r: id(r) not in first)


def _line_boxes(ax, step: float = 2.0) -> list[tuple]:
    """Small pixel boxes along every drawn line of ``ax`` (its segments sampled every ``step``
    pixels, as wide as the line): what a label had better not cover."""
    import numpy as np

    boxes = []
    for line in ax.lines:
        if not line.get_visible() or line.get_linestyle() in ("None", "none", "", " "):
            continue
        path = line.get_transform().transform_path(line.get_path())  # steps included
        v = np.asarray(path.vertices, dtype=float)
        v = v[np.all(np.isfinite(v), axis=1)]
        h = max(line.get_linewidth() * ax.figure.dpi / 72 / 2, 0.5)
        for (x0, y0), (x1, y1) in zip(v[:-1], v[1:], strict=True):
            n = max(int(math.hypot(x1 - x0, y1 - y0) / step), 1)
            for t in np.linspace(0.0, 1.0, n + 1):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                boxes.append((x - h, y - h, x + h, y + h))
    return boxes


def place_labels(ax, points: list[tuple], fontsize: float = 6, color: str = "0.2") -> int:
    """Label ``points`` (``(x, y, text)`` in data coordinates, in priority order) so that no
    two labels overlap, no label covers a point's marker and every label stays inside the axes:
    each label goes to the first free spot around its point (farther spots get a leader line),
    one off the axes' lines where there is one; a label with no free spot is left out, and a
    point not drawn inside the axes (NaN, at or below 0 on a log axis, beyond the limits) gets
    none and is not counted. The figure's layout and the
    axes' limits must be final (the figure is drawn once here to measure). Returns how many
    were left out."""
    import numpy as np
    from matplotlib.text import Text

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    r = 2.8 * fig.dpi / 72  # a marker's half size, pixels
    # the points drawn inside the axes only (not NaN, not at or below 0 on a log axis)
    with np.errstate(all="ignore"):
        xy = ax.transData.transform(np.array([(p[0], p[1]) for p in points], dtype=float)
                                    .reshape(-1, 2))
        keep = (np.all(np.isfinite(xy), axis=1) & (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1)
                & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1))
    points = [p for p, k in zip(points, keep, strict=True) if k]
    xy = xy[keep]
    taken = [(x - r, y - r, x + r, y + r) for x, y in xy]
    if ax.get_legend() is not None:
        lb = ax.get_legend().get_window_extent(renderer)
        taken.append((lb.x0, lb.y0, lb.x1, lb.y1))
    lines = np.array(_line_boxes(ax)).reshape(-1, 4)

    def hits(bb, boxes) -> bool:
        b = np.asarray(boxes, dtype=float).reshape(-1, 4)
        return bool(np.any((bb.x0 < b[:, 2]) & (b[:, 0] < bb.x1) & (bb.y0 < b[:, 3])
                           & (b[:, 1] < bb.y1)))

    def inside(bb) -> bool:
        return box.x0 <= bb.x0 and bb.x1 <= box.x1 and box.y0 <= bb.y0 and bb.y1 <= box.y1

    spots = list(enumerate(_LABEL_SPOTS + _LABEL_FAR))
    left_out = 0
    for x, y, text in points:
        placed = False
        for off_lines in (True, False):  # off the lines if possible, else over them
            for i, (dx, dy, ha, va) in spots:
                far = i >= len(_LABEL_SPOTS)
                ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                  ha=ha, va=va, fontsize=fontsize, color=color,
                                  arrowprops=dict(arrowstyle="-", lw=0.4, color="0.55",
                                                  shrinkA=0, shrinkB=2) if far else None)
                ann.set_in_layout(False)
                ann.update_positions(renderer)
                bb = Text.get_window_extent(ann, renderer)  # the text alone, not its leader
                if inside(bb) and not hits(bb, taken) and not (off_lines and hits(bb, lines)):
                    taken.append((bb.x0, bb.y0, bb.x1, bb.y1))
                    placed = True
                    break
                ann.remove()
            if placed:
                break
        left_out += not placed
    return left_out


def log_axis(axis, set_scale) -> None:
    """Log scale with plain-number labels (no 3x10^1 minor-tick clutter)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    set_scale("log")
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())


def _plot_costmodel_vs_bits(rows: list[dict], metric: str, ylabel: str, path: Path,
                            title: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    targets = sorted({r["target"] for r in rows})
    variants = [v for v in ("acc", "out") if any(r["variant"] == v for r in rows)]
    if not targets or not variants or all(r.get(metric) is None for r in rows):
        return False  # nothing to draw (no Fmax without place and route): no empty plot
    fig, axes = plt.subplots(len(targets), len(variants), squeeze=False,
                             figsize=(5.2 * len(variants), 3.8 * len(targets)), dpi=110)
    for ti, target in enumerate(targets):
        for vi, variant in enumerate(variants):
            ax = axes[ti][vi]
            sel = [r for r in rows if r["target"] == target and r["variant"] == variant
                   and r.get(metric) is not None]
            series: dict[str, list] = defaultdict(list)
            for r in sel:
                series["INT" if r["kind"] == "int" else f"E={r['E']}"].append(
                    (r["bits"], r[metric]))
            if variant == "out" and "INT" not in series:
                # Integer MACs have no y; their accumulator-only cost, for reference.
                series["INT (no y)"] = [(r["bits"], r[metric]) for r in rows
                                        if r["target"] == target and r["variant"] == "acc"
                                        and r["kind"] == "int" and r.get(metric) is not None]
            for name in sorted(series, key=lambda s: (not s.startswith("INT"), s)):
                pts = sorted(series[name])
                if not pts:
                    continue
                style = dict(marker="o", markersize=4)
                if name.startswith("INT"):
                    style = dict(color="black", linewidth=2.2, marker="s",
                                 linestyle="-" if name == "INT" else "--")
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, **style)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{target}, {'MAC + conversion to y' if variant == 'out' else 'MAC'}",
                         fontsize=10)
            ax.set_xlabel("total bits")
            ax.set_ylabel(ylabel)
            if metric == "lut":
                log_axis(ax.yaxis, ax.set_yscale)
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:  # a panel without data has no legend
                ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    _layout_below_title(fig)
    fig.savefig(path)
    plt.close(fig)
    return True


def _plot_costmodel_pareto(rows: list[dict], target: str, path: Path, variant: str = "acc") -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [r for r in rows if r["target"] == target and r["variant"] == variant
           and r.get("lut") is not None]
    if not sel:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    cmap = plt.get_cmap("viridis")
    labelled = []
    for ax, dist in zip(axes, DISTS, strict=True):
        q = f"sqnr_{dist}"
        for r in sel:
            if r["kind"] == "int":
                ax.scatter(r["lut"], r[q], marker="s", color="black", s=30, zorder=3)
            else:
                ax.scatter(r["lut"], r[q], marker="o", color=cmap(r["E"] / 8), s=22, zorder=3)
        front = pareto_front(sel, "lut", q)
        xs, ys = [], []
        for r in front:
            if xs:
                xs.append(r["lut"])
                ys.append(ys[-1])
            xs.append(r["lut"])
            ys.append(r[q])
        ax.plot(xs, ys, color="tab:red", linewidth=1.2, alpha=0.8, label="Pareto front")
        log_axis(ax.xaxis, ax.set_xscale)
        ax.set_xlabel("LUT4 (MAC, no DSP)")
        ax.set_ylabel(f"SQNR on {_DIST_LABEL[dist]} (dB, best scale)")
        ax.set_title(f"{target}: cost vs error, {_DIST_LABEL[dist]}", fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
        ax.scatter([], [], marker="s", color="black", label="INT")
        ax.scatter([], [], marker="o", color=cmap(0.4), label="minifloat (colour: E)")
        ax.legend(fontsize=7, loc="best")  # clear of the points (their labels come after)
        labelled.append((ax, [(r["lut"], r[q], r["label"]) for r in front_first(sel, front)]))
    fig.tight_layout()
    for ax, pts in labelled:
        place_labels(ax, pts)
    fig.savefig(path)
    plt.close(fig)
    return True


def _plot_costmodel_fit(rows: list[dict], fits: dict, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not fits:
        return False
    keys = sorted(fits)
    fig, axes = plt.subplots(1, len(keys), squeeze=False, figsize=(4.2 * len(keys), 4),
                             dpi=110)
    for ax, key in zip(axes[0], keys, strict=True):
        target, variant = key
        fit = fits[key]
        sel = [r for r in rows if r["target"] == target and r["variant"] == variant
               and r.get("lut") is not None]
        xs = [r["lut"] for r in sel]
        ys = [fit.predict(r) for r in sel]
        colors = ["black" if r["kind"] == "int" else "tab:blue" for r in sel]
        ax.scatter(xs, ys, c=colors, s=14)
        lim = [min(xs + ys) * 0.9, max(xs + ys) * 1.1]
        ax.plot(lim, lim, color="gray", linewidth=0.8)
        log_axis(ax.xaxis, ax.set_xscale)
        log_axis(ax.yaxis, ax.set_yscale)
        ax.set_xlabel("measured LUT4")
        ax.set_ylabel("fitted LUT4")
        ax.set_title(f"{target} {variant}: RMS {fit.rms:.0f}, max {fit.max_abs_pct:.0f}%",
                     fontsize=9)
        ax.grid(True, alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def lutless_note(lutless: dict[str, int]) -> str:
    """The sentence naming the records a cost model left out for want of a LUT count
    (:func:`exmy.synth.costmodel.lutless_targets`), or "" when none was."""
    if not lutless:
        return ""
    parts = ", ".join(f"{n} record{'s' if n != 1 else ''} " + (
        f"of target {t}" if t != "(no target)" else "with no target")
        for t, n in lutless.items())
    why = []
    if any(t == "generic" for t in lutless):
        why.append("Yosys' generic synthesis counts gates, not LUT4s, and gives no Fmax: "
                   "synthesize for ecp5, ice40, gowin or xilinx")
    if any(t != "generic" for t in lutless):
        why.append("a record without a target or a LUT count was not written by exmy's flow")
    return f"Left out for want of a LUT count: {parts} ({'; '.join(why)})."


def _costmodel_markdown(rows: list[dict], fits: dict, cross: dict, family: str, tools: str,
                        lutless: dict[str, int] | None = None) -> str:
    targets = sorted({r["target"] for r in rows})
    depth = next((r["depth"] for r in rows if r["depth"]), None)
    unit = (f"exact MAC (`mac`/`int-mac`), depth {depth}, a × a" if family == "mac" else
            "multiplier (`multiplier`/`int-multiplier`), a × a")
    lines = [
        f"Cost model: {unit}; registered IO, no DSPs, Yosys default mapping "
        f"(ECP5 wide-LUT on), {tools}. LUT = logic LUT4s; Fmax in MHz (nextpnr, seed median). "
        "Minifloats are `eXmY-none` (no Inf/NaN, bias 2^(E-1)-1, subnormals). SQNR in dB at "
        "the best per-tensor scale; dot = depth-N dot products of N(0,1) vectors.",
        "",
    ]
    if lutless:
        lines += [lutless_note(lutless), ""]
    idx = {(r["format"], r["variant"], r["target"]): r for r in rows}
    formats = sorted({(r["bits"], r["kind"] == "float", r["E"], r["format"], r["label"])
                      for r in rows})
    has_out = any(r["variant"] == "out" for r in rows)
    head = ["format", "bits", "acc bits"]
    for t in targets:
        head += [f"{t} LUT", f"{t} Fmax"]
        if has_out:
            head += [f"{t} LUT +y"]
    head += ["SQNR N(0,1)", "SQNR Laplace", "dot SQNR"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for bits, _, _, name, label in formats:
        any_row = next(idx[k] for k in idx if k[0] == name)
        cells = [label, str(bits), str(any_row["acc_bits"])]
        for t in targets:
            r = idx.get((name, "acc", t))
            cells += [_fmt(r and r["lut"]), _fmt(r and r["fmax_mhz"], 0)]
            if has_out:
                ro = idx.get((name, "out", t))
                cells += [_fmt(ro and ro["lut"])]
        cells += [_fmt(any_row["sqnr_normal"], 1), _fmt(any_row["sqnr_laplace"], 1),
                  _fmt(any_row["dot_sqnr"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Fitted LUT model (least squares, integers as E = 0, M = bits − 1):", ""]
    lines.append("| target | variant | model | points | RMS | mean err | max err | R² |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for (t, v), fit in sorted(fits.items()):
        lines.append(f"| {t} | {'MAC + y' if v == 'out' else 'MAC'} | {fit.formula()} | "
                     f"{fit.n} | {fit.rms:.0f} | {fit.mean_abs_pct:.0f}% | "
                     f"{fit.max_abs_pct:.0f}% | {fit.r2:.3f} |")
    if not fits:
        need = min(len(m) for m in MODELS.values()) + 2
        lines.append(f"| (none: a fit needs at least {need} points of one target and variant) "
                     f"| | | | | | | |")
    lines += ["", "Pareto fronts (LUTs vs SQNR, MAC without y):", ""]
    for (t, dist), c in sorted(cross.items()):
        lines.append(f"- {t}, {_DIST_LABEL[dist]}: " + " → ".join(c["front"]))
    if not cross:
        lines.append("- none: a front compares INT and minifloat MACs of one target, and the "
                     "records do not hold both")
    lines += ["", "Per integer width, the cheapest minifloat at least as accurate, and the "
              "most accurate minifloat no larger (MAC without y):", ""]
    lines.append("| target | data | INT | LUT | SQNR | cheapest float ≥ SQNR | LUT ratio | "
                 "best float ≤ LUT | SQNR gain |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for (t, dist), c in sorted(cross.items()):
        for p in c["per_int"]:
            lines.append(
                f"| {t} | {_DIST_LABEL[dist]} | {p['int']} | {_fmt(p['int_lut'])} | "
                f"{_fmt(p['int_sqnr'], 1)} | {p['match'] or '–'} ({_fmt(p['match_lut'])}) | "
                f"{_fmt(p['lut_ratio'], 2)} | {p['rival'] or '–'} ({_fmt(p['rival_sqnr'], 1)}"
                f" dB) | {_fmt(p['sqnr_gain'], 1)} |")
    if not cross:
        lines.append("| (none: see the Pareto fronts) | | | | | | | | |")
    return "\n".join(lines) + "\n"


def write_costmodel_report(records: list[dict] | str | os.PathLike, out_dir: str | os.PathLike,
                           family: str | None = None) -> dict:
    """Write the cost-model tables (``costmodel_points.csv``, ``costmodel_by_bits.csv``,
    ``costmodel_fit.csv``, ``costmodel_pareto.csv``), plots (``costmodel_lut.png``,
    ``costmodel_fmax.png``, ``costmodel_pareto_<target>.png``, ``costmodel_fit.png``) and
    ``costmodel.md`` into ``out_dir``. ``records`` is a list of result records or a database
    path. ``family`` is ``"mac"`` (default) or ``"mul"``. Returns ``{"tables", "plots",
    "markdown", "fits", "crossover", "left_out"}`` (``left_out``: the targets whose records
    have no LUT count, :func:`exmy.synth.costmodel.lutless_targets`); when there are no records
    of the family it writes nothing (not even ``out_dir``) and the lists are empty."""
    if not isinstance(records, list):
        from .db import ResultsDB

        with ResultsDB(records, create=False) as db:
            records = db.records()
    bad = next((r for r in records if not isinstance(r, dict)), None)
    if bad is not None:
        raise TypeError(f"Cost-model records must be result dicts (ResultsDB.records()), not "
                        f"{bad!r}")
    rows = costmodel_rows(records, family)
    lutless = lutless_targets(records, family)
    result: dict = {"tables": [], "plots": [], "markdown": None, "fits": {}, "crossover": {},
                    "left_out": lutless}
    if not rows:
        return result
    out = make_dir(out_dir, "Report folder")
    fam = rows[0]["family"]
    rows = _with_errors(rows)
    fits = {}
    for t in sorted({r["target"] for r in rows}):
        for v in ("acc", "out"):
            sel = [r for r in rows if r["target"] == t and r["variant"] == v]
            if len(sel) >= len(MODELS[v]) + 2:
                fit = fit_luts(sel, v)
                fits[(t, v)] = fit
                for r in sel:
                    r["lut_fit"] = fit.predict(r)
    cross = {}
    for t in sorted({r["target"] for r in rows}):
        sel = [r for r in rows if r["target"] == t and r["variant"] == "acc"]
        if any(r["kind"] == "int" for r in sel) and any(r["kind"] == "float" for r in sel):
            for dist in DISTS:
                cross[(t, dist)] = crossover(sel, f"sqnr_{dist}")
    cols = ["target", "variant", "format", "label", "kind", "bits", "E", "M", "acc_bits",
            "depth", "seeds", "lut", "lut_fit", "ff", "carry", "widemux", "dsp", "fmax_mhz",
            "crit_path_ns", "sqnr_normal", "sqnr_laplace", "sqnr_normal_unscaled",
            "sqnr_laplace_unscaled", "scale_normal", "scale_laplace", "dot_sqnr"]
    tables = {n: out / n for n in ("costmodel_points.csv", "costmodel_by_bits.csv",
                                   "costmodel_fit.csv", "costmodel_pareto.csv")}
    _write_csv(tables["costmodel_points.csv"], rows, cols)
    _write_csv(tables["costmodel_by_bits.csv"], _by_bits(rows),
               ["target", "variant", "bits", "int_format", "int_lut", "int_fmax",
                "float_min_format", "float_min_lut", "float_median_lut", "float_max_format",
                "float_max_lut", "float_fmax_min", "float_fmax_max"])
    fit_rows = [{"target": t, "variant": v, "points": f.n, "rms": f.rms,
                 "mean_abs_pct": f.mean_abs_pct, "max_abs_pct": f.max_abs_pct, "r2": f.r2,
                 "formula": f.formula(), **{f"c[{k}]": c for k, c in f.coef.items()}}
                for (t, v), f in sorted(fits.items())]
    fcols = ["target", "variant", "points", "rms", "mean_abs_pct", "max_abs_pct", "r2",
             "formula"] + [f"c[{n}]" for n, _ in MODELS["out"]]
    _write_csv(tables["costmodel_fit.csv"], fit_rows, fcols)
    prow = [{"target": t, "data": dist, **p, "front": " ".join(c["front"])}
            for (t, dist), c in sorted(cross.items()) for p in c["per_int"]]
    _write_csv(tables["costmodel_pareto.csv"], prow,
               ["target", "data", "int", "int_lut", "int_sqnr", "match", "match_lut",
                "match_sqnr", "lut_ratio", "rival", "rival_lut", "rival_sqnr", "sqnr_gain",
                "front"])
    plots = []
    title = "exmy MAC" if fam == "mac" else "exmy multiplier"
    for metric, label, name in (("lut", "LUT4", "costmodel_lut.png"),
                                ("fmax_mhz", "Fmax (MHz)", "costmodel_fmax.png")):
        if _plot_costmodel_vs_bits(rows, metric, label, out / name,
                                   f"{title}: {label} vs total bits"):
            plots.append(str(out / name))
    for t in sorted({r["target"] for r in rows}):
        p = out / f"costmodel_pareto_{t}.png"
        if _plot_costmodel_pareto(rows, t, p):
            plots.append(str(p))
    if _plot_costmodel_fit(rows, fits, out / "costmodel_fit.png"):
        plots.append(str(out / "costmodel_fit.png"))
    tv = next((r.get("tool_versions") for r in records if r.get("tool_versions")), {}) or {}
    tools = ", ".join(f"{k} {v}" for k, v in sorted(tv.items())) or "tool versions unknown"
    md = out / "costmodel.md"
    md.write_text(_costmodel_markdown(rows, fits, cross, fam, tools, lutless))
    result.update(tables=[str(p) for p in tables.values()], plots=plots, markdown=str(md),
                  fits=fits, crossover=cross, rows=rows)
    return result
