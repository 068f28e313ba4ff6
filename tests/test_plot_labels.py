"""The report's plots label their points without overlap (issue 14's cost-vs-accuracy plots
had labels printed over each other at the Pareto front, where the formats a reader compares
sit closest): every label apart from every other label and from every marker, inside its
axes, and the Pareto front's and the INT MACs' labels always present.

The data are the committed measurements (docs/results), so the crowding is the real one."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest

from exmy.synth import isofreq, report

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


@pytest.fixture
def kept_figures(monkeypatch):
    """The figures the plot functions would close, kept open for inspection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    yield figs
    for f in figs:
        close(f)


def _labels(ax):
    """(text, pixel box) of every label of ``ax`` (annotations; their leader lines aside)."""
    from matplotlib.text import Annotation, Text

    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), Text.get_window_extent(t, renderer))
            for t in ax.texts if isinstance(t, Annotation)]


def _check_apart(ax, must: set[str]) -> None:
    labels = _labels(ax)
    texts = [t for t, _ in labels]
    assert must <= set(texts), f"{ax.get_title()}: unlabelled {sorted(must - set(texts))}"
    box = ax.get_window_extent()
    for (ta, a), (tb, b) in itertools.combinations(labels, 2):
        overlap = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
        assert overlap[0] <= 0.5 or overlap[1] <= 0.5, (
            f"{ax.get_title()}: labels {ta!r} and {tb!r} overlap")
    for t, a in labels:
        assert (a.x0 >= box.x0 - 0.5 and a.x1 <= box.x1 + 0.5 and a.y0 >= box.y0 - 0.5
                and a.y1 <= box.y1 + 0.5), f"{ax.get_title()}: label {t!r} outside the axes"
    # no label covers a marker
    marks = []
    for coll in ax.collections:
        marks += [tuple(p) for p in ax.transData.transform(coll.get_offsets())]
    for t, a in labels:
        for x, y in marks:
            assert not (a.x0 < x < a.x1 and a.y0 < y < a.y1), (
                f"{ax.get_title()}: label {t!r} covers the marker at {x:.0f}, {y:.0f} px")


def _iso_rows() -> list[dict]:
    out = []
    with open(RESULTS / "isofreq" / "isofreq_points.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["status"] != "ok":
                continue
            out.append({**r, "clock": float(r["clock"]), "E": int(r["E"]),
                        "dsp_enabled": r["dsp_enabled"] == "True", "met": r["met"] == "True",
                        "lut_ff": float(r["lut_ff"]), "sqnr_normal": float(r["sqnr_normal"])})
    return out


@pytest.mark.parametrize("target, dsp", [("ecp5", False), ("ice40", False)])
def test_isofreq_plot_labels_apart(target, dsp, kept_figures, tmp_path):
    from exmy.synth.costmodel import pareto_front

    rows = _iso_rows()
    assert isofreq._plot(rows, target, dsp, tmp_path / "p.png")
    (fig,) = kept_figures
    for ax in fig.axes:
        clock = float(ax.get_title().split(" at ")[1].split()[0])
        pts = [r for r in rows if r["target"] == target and r["dsp_enabled"] == dsp
               and r["variant"] == "acc" and r["clock"] == clock]
        must = {r["label"] for r in pareto_front(pts, "lut_ff", "sqnr_normal")}
        must |= {r["label"] for r in pts if r["kind"] == "int"}
        _check_apart(ax, must)


def test_costmodel_plots_labels_apart(kept_figures, tmp_path):
    """The cost model's Pareto plot (per distribution) and LUTs against bit width."""
    records = json.loads((RESULTS / "costmodel" / "records.json").read_text())
    report.write_costmodel_report(records, tmp_path / "cm")
    pareto = [f for f in kept_figures if "cost vs error" in f.axes[0].get_title()]
    assert pareto
    for fig in pareto:
        for ax in fig.axes:
            if ax.get_legend() is None:
                continue
            _check_apart(ax, {"E2M5", "INT8", "INT3"})
    kept_figures.clear()
    assert report._plot(report.summarize(records), "ecp5", "lut", "LUTs", tmp_path / "l.png")
    (fig,) = kept_figures
    for ax in fig.axes:
        if ax.get_xlabel():
            _check_apart(ax, {"e2m5", "e4m3"})


def test_evaluate_plot_labels_apart(kept_figures, tmp_path):
    """``exmy evaluate``'s accuracy-against-cost plot, from its committed join."""
    from exmy.evaluate import report as ev

    with open(RESULTS / "evaluate" / "accuracy_cost.csv", newline="") as f:
        rows = [{**r, "lut_ff": float(r["lut_ff"]), "cosine_mean": float(r["cosine_mean"])}
                for r in csv.DictReader(f)]
    ev._plot(rows, tmp_path / "a.png", "ecp5")
    (fig,) = kept_figures
    _check_apart(fig.axes[0], {r["format"] for r in rows if r["kind"] == "int"})


def test_mx_dot_plot_labels_apart(kept_figures, tmp_path, monkeypatch):
    """benchmarks/mx_dot_cost.py's LUT-per-lane plot as committed: drawn from the table of
    docs/results/mx_dot.md (``--replot``), four series at three element widths."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import mx_dot_cost

    plot = mx_dot_cost.plot_from_table((RESULTS / "mx_dot.md").read_text())
    import matplotlib.pyplot as plt

    mx_dot_cost.make_plot(plot, tmp_path / "mx.png")
    fig = kept_figures[0] if kept_figures else plt.gcf()
    _check_apart(fig.axes[0], {"MXINT8", "MXFP8 E5M2"})
    assert len(_labels(fig.axes[0])) == len(plot)  # room for every label here


def test_mx_dot_replot_reads_back_the_table(monkeypatch):
    """``--replot`` reads the points :func:`table` wrote back exactly (marks after numbers,
    thousands separators, rows without a result), and the committed table gives every point
    with a result: 14 ECP5 and 5 iCE40 (the rest do not fit an HX8K)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import mx_dot_cost

    recs = []
    for i, (label, elem, scale, block, _bits, (mu, mp)) in enumerate(mx_dot_cost.ROWS):
        recs.append({"unit": mu, "params": mp, "target": "ecp5", "status": "ok",
                     "lut": 150 + 7 * i, "ff": 40, "fmax_mhz": 90.0})
        for acc in (False, True):
            ok = not (acc and label == "MXINT8")  # one point that failed
            recs.append({"unit": "mx-dot", "target": "ecp5",
                         "params": mx_dot_cost.mx_params(elem, scale, block, acc, "ecp5"),
                         "status": "ok" if ok else "failed", "error": "does not fit",
                         "lut": 1234 * (i + 1) + 17 * acc, "ff": 300, "fmax_mhz": 20.0,
                         "merged": "/old.sqlite" if i == 2 else None})
    md, plot = mx_dot_cost.table(recs, ["ecp5"])
    assert len(plot) == 2 * len(mx_dot_cost.ROWS) - 1
    back = mx_dot_cost.plot_from_table("\n".join(md))
    assert [p[:4] for p in back] == [p[:4] for p in plot]
    # the table prints LUT per lane to 0.1
    assert all(abs(b[4] - p[4]) <= 0.05 + 1e-9 for b, p in zip(back, plot, strict=True))

    committed = mx_dot_cost.plot_from_table((RESULTS / "mx_dot.md").read_text())
    assert sorted({(t, acc) for t, _, _, acc, _ in committed}) == [
        ("ecp5", False), ("ecp5", True), ("ice40", False), ("ice40", True)]
    assert sum(t == "ecp5" for t, *_ in committed) == 14
    assert sum(t == "ice40" for t, *_ in committed) == 5


def test_mx_dot_replot_interrupted_says_what_it_left(tmp_path, monkeypatch):
    """Ctrl-C while ``--replot`` draws: one line naming the plot that may be incomplete, not
    the benchmark's usual word on a database (--replot opens none)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import mx_dot_cost

    def interrupted(plot, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(mx_dot_cost, "make_plot", interrupted)
    out = tmp_path / "mx.png"
    with pytest.raises(SystemExit) as e:
        mx_dot_cost.main(["--replot", str(RESULTS / "mx_dot.md"), "--plot", str(out)])
    assert str(e.value) == (f"mx_dot_cost: interrupted; {out} may be incomplete (--replot "
                            f"synthesizes nothing: run it again)")


def test_place_labels_leaves_out_what_cannot_fit():
    """A crowd with no room for every label: the labels placed are still apart, the count
    left out is returned, and the first (priority) labels are the ones placed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=100)
    pts = [(1 + 0.01 * i, 1 + 0.01 * (i % 3), f"P{i}") for i in range(40)]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts])
    ax.set_xlim(0, 2)
    ax.set_ylim(0, 2)
    left_out = report.place_labels(ax, pts + [(float("nan"), 1.0, "NaN point")])
    ax2 = fig.add_axes((0.1, 0.1, 0.2, 0.2), xscale="log")
    assert report.place_labels(ax2, [(0.0, 1.0, "at 0 on a log axis")]) == 0
    assert not ax2.texts
    placed = [t for t, _ in _labels(ax)]
    assert 0 < left_out < 40 and len(placed) == 40 - left_out  # NaN: not drawn, no label
    assert "P0" in placed and "P1" in placed
    _check_apart(ax, set())
    plt.close(fig)


def test_place_labels_keeps_off_lines():
    """A point on a horizontal line: its label goes above or below the line, not along it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
    ax.plot([0, 2], [1, 1], marker="o", linewidth=2)
    ax.set_xlim(-1, 3)
    ax.set_ylim(0, 2)
    assert report.place_labels(ax, [(1.0, 1.0, "on the line")]) == 0
    ((_, bb),) = _labels(ax)
    y_line = ax.transData.transform((1.0, 1.0))[1]
    assert bb.y0 > y_line or bb.y1 < y_line
    plt.close(fig)

