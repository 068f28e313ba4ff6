"""The cost model at equal clock (issue 14): MACs built with ``fmax`` (registers placed by the
delay model for that clock) compared by LUT + FF at each clock, so "fewer LUTs" no longer
partly means "slower".

Points: ``synth/sweeps/costmodel_fmax.toml`` (``exmy sweep costmodel_fmax``). Rows:
:func:`exmy.synth.costmodel.isofreq_rows`. :func:`write_isofreq_report` writes, per target,
clock and DSP setting: the points (with whether the achieved Fmax met the clock, and the error
of points the delay model could not place), the LUT+FF ratio of each minifloat MAC to the INT
MAC of the same width, the LUT+FF-vs-SQNR Pareto front and the INT-vs-minifloat crossover, the
fitted LUT model per clock, a plot per target, and isofreq.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from .costmodel import (
    MODELS,
    _with_errors,
    crossover,
    fit_luts,
    isofreq_ratios,
    isofreq_rows,
    pareto_front,
)
from .db import ResultsDB
from .report import _layout_below_title, _write_csv, front_first, log_axis, place_labels
from .tools import make_dir

__all__ = ["write_isofreq_report"]


def _group_name(r: dict) -> str:
    return f"{r['target']}@{r['clock']:g}MHz" + ("+dsp" if r["dsp_enabled"] else "")


def _plot(rows: list[dict], target: str, dsp: bool, path: Path) -> bool:
    """LUT+FF (log scale) against SQNR per clock on ``target``: INT MACs as black squares,
    minifloats coloured by E, hollow where the clock was not met, the Pareto front in red;
    labels placed without overlap (the front's and the INTs' first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator

    sel = [r for r in rows if r["target"] == target and r["dsp_enabled"] == dsp
           and r["variant"] == "acc" and r.get("lut_ff") is not None]
    clocks = sorted({r["clock"] for r in sel})
    if not sel:
        return False
    fig, axes = plt.subplots(1, len(clocks), figsize=(4.8 * len(clocks), 4.6), dpi=110,
                             squeeze=False)
    cmap = plt.get_cmap("viridis")
    labelled = []
    for ax, clock in zip(axes[0], clocks, strict=True):
        pts = [r for r in sel if r["clock"] == clock]
        for r in pts:
            style = dict(marker="s", color="black") if r["kind"] == "int" else dict(
                marker="o", color=cmap(r["E"] / 8))
            ax.scatter(r["lut_ff"], r["sqnr_normal"], s=22, zorder=3,
                       facecolors="none" if not r["met"] else None, **style)
        front = pareto_front(pts, "lut_ff", "sqnr_normal")
        ax.step([r["lut_ff"] for r in front], [r["sqnr_normal"] for r in front],
                where="post", color="tab:red", lw=1, label="Pareto front")
        log_axis(ax.xaxis, ax.set_xscale)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.margins(x=0.08, y=0.06)
        ax.set_title(f"{target} at {clock:g} MHz" + (" (DSP)" if dsp else ""), fontsize=9)
        ax.set_xlabel("LUT + FF")
        ax.set_ylabel("SQNR N(0,1), dB")
        ax.grid(alpha=0.3, which="both")
        ax.scatter([], [], marker="s", color="black", label="INT")
        ax.scatter([], [], marker="o", color=cmap(0.4), label="minifloat (colour: E)")
        ax.legend(fontsize=7, loc="best")  # clear of the points (their labels come after)
        labelled.append((ax, [(r["lut_ff"], r["sqnr_normal"], r["label"])
                              for r in front_first(pts, front)]))
    fig.suptitle("exmy MAC at equal clock: cost vs accuracy (hollow: clock not met)",
                 fontsize=10)
    _layout_below_title(fig)
    for ax, pts in labelled:
        place_labels(ax, pts)
    fig.savefig(path)
    plt.close(fig)
    return True


def _markdown(rows: list[dict], ratios: list[dict], cross: dict, fits: dict) -> str:
    lines = ["# The MAC cost model at equal clock", "",
             "Every MAC built for each clock with `fmax` (exmy places its registers by the "
             "delay model; the accumulator is segmented to keep its loop short), synthesized "
             "with the clock as nextpnr's target. LUT+FF is the cost; SQNR on N(0,1) data at the "
             "best per-tensor scale the accuracy (see costmodel.md).", ""]
    for g in sorted({_group_name(r) for r in rows}):
        sel = [r for r in rows if _group_name(r) == g]
        dsp = any(r["dsp_enabled"] for r in sel)  # the DSP count is a column of its own
        lines += [f"## {g}", "",
                  "| format | variant | LUT | FF | LUT+FF | carry | " + ("DSP | " if dsp else "")
                  + "Fmax (MHz) | met |", "|---|---|---|---|---|---|---|---|" + "---|" * dsp]
        for r in sel:
            if r["status"] != "ok":
                lines.append(f"| {r['label']} | {r['variant']} | - | - | - | - | - | "
                             + "- | " * dsp + f"not built: {r['status']} |")
                continue
            fm = f"{r['fmax_mhz']:.0f}" if r["fmax_mhz"] is not None else "-"
            lines.append(f"| {r['label']} | {r['variant']} | {r['lut']:.0f} | {r['ff']:.0f} | "
                         f"{r['lut_ff']:.0f} | {r['carry'] or 0:.0f} | "
                         + (f"{r['dsp'] or 0:.0f} | " if dsp else "")
                         + f"{fm} | {'yes' if r['met'] else 'NO'} |")
        missed = [r["label"] for r in sel if r["status"] == "ok" and not r["met"]]
        if missed:
            lines += ["", f"Clock not met (median of seeds): {', '.join(missed)}."]
        c = cross.get(g)
        if c:
            lines += ["", f"Pareto front (LUT+FF vs SQNR N(0,1)): {' '.join(c['front'])}."]
            for p in c["per_int"]:
                if p["match"]:
                    lines.append(f"- {p['int']} ({p['int_lut']:.0f} LUT+FF, "
                                 f"{p['int_sqnr']:.1f} dB): cheapest minifloat at least as "
                                 f"accurate {p['match']} at {p['lut_ratio']:.2f}x")
                else:
                    lines.append(f"- {p['int']}: no minifloat of the sweep is as accurate")
        f = fits.get(g)
        if f is not None:
            lines += ["", f"Fitted LUT model: {f.formula()} (RMS {f.rms:.0f} LUT)."]
        rs = [x for x in ratios if _group_name(x) == g and x["variant"] == "acc"]
        if rs:
            lines += ["", "LUT+FF / INT MAC of the same width: " + ", ".join(
                f"{x['format']}/{x['int']} {x['ratio']:.2f}x" for x in rs) + "."]
        lines.append("")
    return "\n".join(lines)


def write_isofreq_report(records: list[dict] | str | os.PathLike,
                         out_dir: str | os.PathLike) -> dict:
    """Tables, plots and ``isofreq.md`` of the iso-frequency cost model into ``out_dir``.
    Returns ``{"tables", "plots", "markdown", "rows"}`` (empty when there are no fmax MAC
    records)."""
    if not isinstance(records, list):
        with ResultsDB(records, create=False) as db:
            records = db.records()
    rows = isofreq_rows(records)
    result: dict = {"tables": [], "plots": [], "markdown": None, "rows": []}
    if not rows:
        return result
    out = make_dir(out_dir, "Report folder")
    built = _with_errors([r for r in rows if r["status"] == "ok"])
    failed = [r for r in rows if r["status"] != "ok"]
    rows = built + failed
    ratios = isofreq_ratios(built)
    cross, fits = {}, {}
    for g in sorted({_group_name(r) for r in built}):
        sel = [r for r in built if _group_name(r) == g and r["variant"] == "acc"]
        if any(r["kind"] == "int" for r in sel) and any(r["kind"] == "float" for r in sel):
            cross[g] = crossover(sel, "sqnr_normal", cost="lut_ff")
        if len(sel) >= len(MODELS["acc"]) + 2:
            fits[g] = fit_luts(sel, "acc")
    cols = ["target", "clock", "dsp_enabled", "variant", "format", "label", "kind", "bits",
            "E", "M", "acc_bits", "seeds", "status", "lut", "ff", "lut_ff", "carry", "dsp",
            "fmax_mhz", "met", "sqnr_normal", "sqnr_laplace", "dot_sqnr"]
    tables = [out / "isofreq_points.csv", out / "isofreq_ratios.csv"]
    _write_csv(tables[0], rows, cols)
    _write_csv(tables[1], ratios, ["target", "clock", "dsp_enabled", "variant", "format",
                                   "int", "lut_ff", "int_lut_ff", "ratio", "met", "int_met"])
    plots = []
    for target, dsp in sorted({(r["target"], r["dsp_enabled"]) for r in built}):
        p = out / f"isofreq_{target}{'_dsp' if dsp else ''}.png"
        if _plot(built, target, dsp, p):
            plots.append(str(p))
    md = out / "isofreq.md"
    md.write_text(_markdown(rows, ratios, cross, fits))
    result.update(tables=[str(t) for t in tables], plots=plots, markdown=str(md), rows=rows)
    return result
