"""The FPGA cost model: minifloat against integer MACs, measured in the open flow.

The seed paper (Aggarwal et al., "Post-Training Quantization with Low-precision Minifloats and
Integers on FPGAs") asks whether integers are the Pareto-optimal choice once hardware cost is
counted, and where a minifloat overtakes them. This module answers it with exmy's numbers:

Points (``synth/sweeps/costmodel.toml``, :func:`costmodel_points`)
    the ``mac`` unit for every signed ``eXmY-none`` minifloat with 3..8 bits (no Inf/NaN,
    default bias ``2**(E-1) - 1``, subnormals), with and without ``y`` (the accumulator
    rounded back into the operand format), and ``int-mac`` for INT3..INT8; operands squared
    (``a x a``), depth 4608, ECP5 and iCE40, no DSPs.
Cost (:func:`costmodel_rows`)
    LUT4s, FFs, carry and wide-mux cells and Fmax from the results database (median over
    seeds), with the design features E, M and the accumulator width.
Fit (:func:`fit_luts`)
    least squares ``LUT ~ c0 + c1 (M+1)^2 + c2 acc_bits + c3 E acc_bits`` (significand
    multiplier array, accumulator adder, the shifter that places a product on the accumulator
    grid: ~E+1 stages of acc_bits muxes), plus ``c4 acc_bits log2(acc_bits)`` for the
    conversion to ``y`` (leading-zero count and normalising shift); integers are E = 0,
    M = bits - 1. Reported with its RMS and worst relative error.
Error (:func:`format_error`, :func:`dot_error`)
    quantization SQNR of each format on N(0,1) and Laplace(0,1) data (2**16 samples, fixed
    seed), at the best per-tensor scale (a grid of 1/8 octave; post-training quantization
    picks a scale, and without one an integer format cannot even represent N(0,1) data), and
    also at scale 1 for floats (``golden.stats.sqnr_db``); and the SQNR of depth-N dot
    products of N(0,1) vectors quantized that way. The accumulator is exact (Kulisch), so the
    dot product's only error is the operands' quantization.
Pareto (:func:`pareto_front`, :func:`crossover`)
    per target and distribution, the formats no other format beats on both LUTs and SQNR, and
    for each integer width the cheapest minifloat at least as accurate.

:func:`write_costmodel_report` writes the CSV tables, PNG plots and a markdown snippet for the
README; ``exmy report`` calls it when the database holds cost-model points.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "COSTMODEL_SWEEP",
    "MODELS",
    "Fit",
    "costmodel_points",
    "costmodel_rows",
    "crossover",
    "dot_error",
    "fit_luts",
    "format_error",
    "pareto_front",
    "quantize_values",
    "write_costmodel_report",
]

#: The cost-model sweep file.
COSTMODEL_SWEEP = Path(__file__).parent / "sweeps" / "costmodel.toml"

#: Unit families: (float unit, integer unit). The MAC is the cost model's subject; the
#: multipliers' model is available on request (``family="mul"``).
FAMILIES = {"mac": ("mac", "int-mac"), "mul": ("multiplier", "int-multiplier")}
_UNIT_FAMILY = {u: fam for fam, units in FAMILIES.items() for u in units}
_DEFAULT_LATENCY = {"mac": 1, "int-mac": 1, "multiplier": 0, "int-multiplier": 0}
DISTS = ("normal", "laplace")
_DIST_LABEL = {"normal": "N(0,1)", "laplace": "Laplace(0,1)"}


# --------------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------------

def costmodel_points(path: str | os.PathLike | None = None, *,
                     spec: dict | None = None) -> list[dict]:
    """The cost-model sweep's points: ``path`` (default :data:`COSTMODEL_SWEEP`) or an already
    parsed ``spec``, expanded by :func:`exmy.synth.sweep.expand_sweep`."""
    from .sweep import expand_sweep

    if spec is None:
        with open(path or COSTMODEL_SWEEP, "rb") as f:
            spec = tomllib.load(f)
    return expand_sweep(spec)


# --------------------------------------------------------------------------------------------
# Records -> rows with design features
# --------------------------------------------------------------------------------------------

def _design_features(unit: str, params: dict) -> dict | None:
    """Format facts and accumulator width of a cost-model point, or ``None`` if the point is
    not one (another unit, mixed formats, an ``out`` other than the operand format, extra
    options)."""
    from exmy.golden.format import FloatFormat, IntFormat, parse_format
    from exmy.golden.mac import DEFAULT_DEPTH, int_mac_params, mac_params

    if unit not in _UNIT_FAMILY or not isinstance(params.get("a"), str):
        return None
    if set(params) - {"a", "b", "out", "depth", "latency"}:
        return None
    if params.get("latency", _DEFAULT_LATENCY[unit]) != _DEFAULT_LATENCY[unit]:
        return None
    try:
        fmt = parse_format(params["a"])
        if params.get("b") is not None and parse_format(params["b"]) != fmt:
            return None
        if params.get("out") is not None and parse_format(params["out"]) != fmt:
            return None
    except (TypeError, ValueError):
        return None
    depth = params.get("depth", DEFAULT_DEPTH)
    is_int = unit.startswith("int-")
    if is_int != isinstance(fmt, IntFormat):
        return None
    if is_int:
        e, m = 0, fmt.bits - 1 if fmt.signed else fmt.bits
        acc = (int_mac_params(fmt, fmt, depth).acc_bits if unit == "int-mac"
               else 2 * fmt.bits)
    else:
        assert isinstance(fmt, FloatFormat)
        e, m = fmt.exp_bits, fmt.man_bits
        mp = mac_params(fmt, fmt, depth=depth if unit == "mac" else 1)
        acc = mp.acc_bits if unit == "mac" else mp.product_bits
    return {
        "family": _UNIT_FAMILY[unit],
        "kind": "int" if is_int else "float",
        "format": params["a"],
        "label": _label(fmt),
        "bits": fmt.width,
        "E": e,
        "M": m,
        "acc_bits": acc,
        "depth": depth if unit in ("mac", "int-mac") else None,
        "variant": "out" if params.get("out") is not None else "acc",
    }


def _label(fmt) -> str:
    from exmy.golden.format import IntFormat

    if isinstance(fmt, IntFormat):
        return ("INT" if fmt.signed else "UINT") + str(fmt.bits)
    tail = "" if fmt.special == "none" else fmt.special
    return f"E{fmt.exp_bits}M{fmt.man_bits}{tail}"


_COST = ("lut", "ff", "carry", "widemux", "dsp", "fmax_mhz", "crit_path_ns")


def _latest(records: Iterable[dict]) -> list[dict]:
    """The newest record per (unit, params, target, seed, flow options): when the hardware
    generator changed between sweeps, the database keeps both versions' records (different
    Verilog, different keys); the cost model uses the current one."""
    best: dict[str, dict] = {}
    for r in records:
        key = json.dumps([r.get(k) for k in ("unit", "params", "target", "seed", "dsp_enabled",
                                             "widelut", "register_io", "freq_mhz")],
                         sort_keys=True, default=str)
        if key not in best or (r.get("created") or "") >= (best[key].get("created") or ""):
            best[key] = r
    return list(best.values())


def costmodel_rows(records: Iterable[dict], family: str | None = None) -> list[dict]:
    """Cost-model rows from result records: one per (format, variant, target), medians over
    seeds of the ok records. ``family`` is ``"mac"`` (default) or ``"mul"``. Records with
    DSPs, without registered IO or with the ``-nowidelut`` mapping are left out; so are depths
    other than the most common one."""
    cand = []
    for r in _latest(records):
        if r.get("status") != "ok" or r.get("dsp_enabled") or r.get("register_io") is False:
            continue
        if r.get("widelut") is False:
            continue
        feat = _design_features(r.get("unit") or "", r.get("params") or {})
        if feat is not None:
            cand.append((feat, r))
    if family is None:
        family = "mac"
    if family not in FAMILIES:
        raise ValueError(f"Cost-model family must be one of {', '.join(FAMILIES)}, not "
                         f"{family!r}")
    cand = [(f, r) for f, r in cand if f["family"] == family]
    depths = [f["depth"] for f, _ in cand if f["depth"] is not None]
    if depths:
        depth = statistics.mode(depths)
        cand = [(f, r) for f, r in cand if f["depth"] in (None, depth)]
    groups: dict[tuple, list] = defaultdict(list)
    for f, r in cand:
        groups[(f["format"], f["variant"], r["target"])].append((f, r))
    rows = []
    for (_, _, target), items in groups.items():
        f = items[0][0]
        row = {**f, "target": target, "seeds": len(items)}
        for m in _COST:
            vals = [r[m] for _, r in items if r.get(m) is not None]
            row[m] = statistics.median(vals) if vals else None
        rows.append(row)
    rows.sort(key=lambda r: (r["target"], r["variant"], r["bits"], r["kind"] == "float",
                             r["E"]))
    return rows


# --------------------------------------------------------------------------------------------
# Numerical error
# --------------------------------------------------------------------------------------------

def quantize_values(x: np.ndarray, fmt, scale: float = 1.0) -> np.ndarray:
    """``scale * q(x / scale)``: round to nearest (ties to even), saturating, as float64.

    Floats: the nearest finite value of ``fmt`` (ties to the even encoding, as the golden
    ``quantize`` rounds; tests check they agree), found in the table of its values. Integers:
    ``clip(rint(x), min, max)``.
    """
    from exmy.golden.format import IntFormat, parse_format

    fmt = parse_format(fmt)
    y = np.asarray(x, dtype=np.float64) / scale
    if isinstance(fmt, IntFormat):
        return np.clip(np.rint(y), fmt.min_value, fmt.max_value) * scale
    table = _magnitudes(fmt)
    a = np.abs(y)
    i = np.clip(np.searchsorted(table, a), 1, len(table) - 1)
    lo, hi = table[i - 1], table[i]
    dlo, dhi = a - lo, hi - a
    # A tie goes to the candidate that is an even multiple of the spacing hi - lo (the
    # even significand; for M = 0 that is the upper power of two, or zero).
    odd = np.fmod(lo / (hi - lo), 2.0) == 1.0
    pick_hi = (dhi < dlo) | ((dhi == dlo) & odd)
    q = np.where(pick_hi, hi, lo)
    q = np.where(a >= table[-1], table[-1], np.where(a <= 0, 0.0, q))
    if fmt.signed:
        q = np.where(y < 0, -q, q)
    else:
        q = np.where(y < 0, 0.0, q)
    return q * scale


_MAG_CACHE: dict = {}


def _magnitudes(fmt) -> np.ndarray:
    """Finite non-negative values of ``fmt`` by encoding (increasing; index = code)."""
    if fmt not in _MAG_CACHE:
        from exmy.golden.stats import values

        codes = np.arange(fmt.max_finite_code + 1, dtype=np.uint64)
        _MAG_CACHE[fmt] = values(codes, fmt)
    return _MAG_CACHE[fmt]


def _sqnr(x: np.ndarray, q: np.ndarray) -> float:
    noise = float(np.sum((x - q) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(x * x)) / noise)


def _max_value(fmt) -> float:
    from exmy.golden.format import IntFormat

    return float(fmt.max_value) if isinstance(fmt, IntFormat) else float(fmt.max_finite)


def best_scale(fmt, x: np.ndarray) -> tuple[float, float]:
    """``(sqnr_db, scale)`` of the best per-tensor scale on a grid of 1/8 octave: the clipping
    point ``scale * max_value`` runs from 0.5 to 2x the largest |x|. The grid is searched on
    the first 8192 samples; the best three scales are then scored on all of ``x``."""
    from exmy.golden.format import parse_format

    fmt = parse_format(fmt)
    base = float(np.max(np.abs(x))) / _max_value(fmt)
    sub = x[:8192]
    grid = [base * 2.0 ** (k / 8) for k in range(-8, 9)]
    scored = sorted(grid, key=lambda s: -_sqnr(sub, quantize_values(sub, fmt, s)))
    return max((_sqnr(x, quantize_values(x, fmt, s)), s) for s in scored[:3])


_ERR_CACHE: dict = {}


def format_error(fmt, n: int = 1 << 16, seed: int = 0) -> dict:
    """Quantization SQNR (dB) of ``fmt`` on N(0,1) and Laplace(0,1) samples: at the best
    per-tensor scale (``sqnr_normal``, ``sqnr_laplace``, ``scale_*``) and, for floats, at scale
    1 through ``golden.stats.sqnr_db`` (``sqnr_*_unscaled``)."""
    from exmy.golden.format import FloatFormat, parse_format
    from exmy.golden.stats import sample, sqnr_db

    fmt = parse_format(fmt)
    key = (fmt, n, seed)
    if key in _ERR_CACHE:
        return dict(_ERR_CACHE[key])
    out = {}
    for i, dist in enumerate(DISTS):
        x = sample(np.random.default_rng([seed, i]), n, dist)
        out[f"sqnr_{dist}"], out[f"scale_{dist}"] = best_scale(fmt, x)
        out[f"sqnr_{dist}_unscaled"] = (float(sqnr_db(fmt, x))
                                        if isinstance(fmt, FloatFormat) else None)
    _ERR_CACHE[key] = out
    return dict(out)


def dot_error(fmt, depth: int = 4608, dots: int = 32, seed: int = 0) -> float:
    """SQNR (dB) of ``dots`` depth-``depth`` dot products of N(0,1) vectors whose operands are
    quantized to ``fmt`` at its best N(0,1) scale, against float64 dot products of the
    unquantized data. The MAC's accumulator is exact, so this is the whole MAC error before
    ``y``; float64 sums of these products are exact to far below that error."""
    scale = format_error(fmt)["scale_normal"]
    rng = np.random.default_rng([seed, 7])
    x = rng.standard_normal((dots, depth))
    w = rng.standard_normal((dots, depth))
    ref = np.einsum("ij,ij->i", x, w)
    got = np.einsum("ij,ij->i", quantize_values(x, fmt, scale), quantize_values(w, fmt, scale))
    return _sqnr(ref, got)


# --------------------------------------------------------------------------------------------
# The fitted model
# --------------------------------------------------------------------------------------------

_Feature = tuple[str, Callable[[dict], float]]
_BASE: list[_Feature] = [
    ("1", lambda r: 1.0),
    ("(M+1)^2", lambda r: (r["M"] + 1) ** 2),
    ("acc_bits", lambda r: r["acc_bits"]),
    ("E*acc_bits", lambda r: r["E"] * r["acc_bits"]),
]
#: Feature sets by variant: ``acc`` (accumulator only) and ``out`` (with the conversion to y).
MODELS: dict[str, list[_Feature]] = {
    "acc": _BASE,
    "out": _BASE + [("acc_bits*log2(acc_bits)",
                     lambda r: r["acc_bits"] * math.log2(r["acc_bits"]))],
}


@dataclass
class Fit:
    """A least-squares fit of LUTs: coefficients by feature name and the fit error."""

    features: list[str]
    coef: dict[str, float]
    n: int
    rms: float
    mean_abs_pct: float
    max_abs_pct: float
    r2: float
    residuals: list[float] = field(default_factory=list)
    _fns: list[Callable[[dict], float]] = field(default_factory=list, repr=False)

    def predict(self, row: dict) -> float:
        return sum(self.coef[n] * f(row) for n, f in zip(self.features, self._fns,
                                                             strict=True))

    def formula(self, digits: int = 3) -> str:
        terms = []
        for name in self.features:
            c = self.coef[name]
            t = f"{c:.{digits}g}" if name == "1" else f"{c:.{digits}g}·{name}"
            terms.append(t)
        return "LUT ≈ " + " + ".join(terms).replace("+ -", "− ")


def fit_luts(rows: list[dict], features: list[_Feature] | str = "acc",
             metric: str = "lut") -> Fit:
    """Least-squares fit of ``metric`` over ``rows`` (each with E, M, acc_bits). ``features``
    is a :data:`MODELS` key or a list of ``(name, fn(row))``."""
    if isinstance(features, str):
        if features not in MODELS:
            raise ValueError(f"Unknown cost model {features!r}; models are "
                             f"{', '.join(MODELS)}")
        features = MODELS[features]
    rows = [r for r in rows if r.get(metric) is not None]
    if len(rows) < len(features):
        raise ValueError(f"A fit with {len(features)} coefficients needs at least "
                         f"{len(features)} points, not {len(rows)}")
    a = np.array([[f(r) for _, f in features] for r in rows], dtype=np.float64)
    y = np.array([r[metric] for r in rows], dtype=np.float64)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    pred = a @ coef
    res = y - pred
    rel = np.abs(res) / np.maximum(y, 1.0) * 100
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return Fit(
        features=[n for n, _ in features],
        coef={n: float(c) for (n, _), c in zip(features, coef, strict=True)},
        n=len(rows),
        rms=float(np.sqrt(np.mean(res**2))),
        mean_abs_pct=float(rel.mean()),
        max_abs_pct=float(rel.max()),
        r2=1.0 - float(np.sum(res**2)) / ss_tot if ss_tot > 0 else 1.0,
        residuals=[float(v) for v in res],
        _fns=[f for _, f in features],
    )


# --------------------------------------------------------------------------------------------
# Pareto fronts and the crossover
# --------------------------------------------------------------------------------------------

def pareto_front(rows: list[dict], cost: str = "lut", quality: str = "sqnr_normal"
                 ) -> list[dict]:
    """Rows no other row beats (cost <= and quality >=, one strictly), by increasing cost."""
    pts = sorted((r for r in rows if r.get(cost) is not None and r.get(quality) is not None),
                 key=lambda r: (r[cost], -r[quality]))
    front, best = [], -math.inf
    for r in pts:
        if r[quality] > best:
            front.append(r)
            best = r[quality]
    return front


def crossover(rows: list[dict], quality: str = "sqnr_normal") -> dict:
    """For one target and variant: the Pareto front, and for each integer format the cheapest
    minifloat at least as accurate (``match``) and the most accurate minifloat no more
    expensive (``rival``)."""
    ints = [r for r in rows if r["kind"] == "int" and r.get("lut") is not None]
    floats = [r for r in rows if r["kind"] == "float" and r.get("lut") is not None]
    front = pareto_front(rows, "lut", quality)
    per_int = []
    for i in sorted(ints, key=lambda r: (r.get("bits", 0), r["lut"])):
        better = [f for f in floats if f[quality] >= i[quality]]
        cheaper = [f for f in floats if f["lut"] <= i["lut"]]
        match = min(better, key=lambda f: f["lut"]) if better else None
        rival = max(cheaper, key=lambda f: f[quality]) if cheaper else None
        per_int.append({
            "int": i["label"], "int_lut": i["lut"], "int_sqnr": i[quality],
            "match": match["label"] if match else None,
            "match_lut": match["lut"] if match else None,
            "match_sqnr": match[quality] if match else None,
            "lut_ratio": (match["lut"] / i["lut"]) if match else None,
            "rival": rival["label"] if rival else None,
            "rival_lut": rival["lut"] if rival else None,
            "rival_sqnr": rival[quality] if rival else None,
            "sqnr_gain": (rival[quality] - i[quality]) if rival else None,
        })
    return {"front": [r["label"] for r in front],
            "front_floats": [r["label"] for r in front if r["kind"] == "float"],
            "front_ints": [r["label"] for r in front if r["kind"] == "int"],
            "per_int": per_int}


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def _with_errors(rows: list[dict]) -> list[dict]:
    dots: dict[tuple, float] = {}
    out = []
    for r in rows:
        key = (r["format"], r["depth"] or 4608)
        if key not in dots:
            dots[key] = dot_error(*key)
        out.append({**r, **format_error(r["format"]), "dot_sqnr": dots[key]})
    return out


def _write_csv(path: Path, rows: list[dict], cols: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})


def _fmt(v, nd: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{nd}f}" if isinstance(v, float) or nd else str(v)


def _by_bits(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["target"], r["variant"], r["bits"])].append(r)
    out = []
    for (target, variant, bits), rs in sorted(groups.items()):
        ints = [r for r in rs if r["kind"] == "int" and r["lut"] is not None]
        fl = [r for r in rs if r["kind"] == "float" and r["lut"] is not None]
        row = {"target": target, "variant": variant, "bits": bits}
        if ints:
            row.update(int_format=ints[0]["label"], int_lut=ints[0]["lut"],
                       int_fmax=ints[0]["fmax_mhz"])
        if fl:
            lo = min(fl, key=lambda r: r["lut"])
            hi = max(fl, key=lambda r: r["lut"])
            fm = [r["fmax_mhz"] for r in fl if r["fmax_mhz"] is not None]
            row.update(float_min_lut=lo["lut"], float_min_format=lo["label"],
                       float_max_lut=hi["lut"], float_max_format=hi["label"],
                       float_median_lut=statistics.median(r["lut"] for r in fl),
                       float_fmax_min=min(fm) if fm else None,
                       float_fmax_max=max(fm) if fm else None)
        out.append(row)
    return out


def _log_axis(axis, set_scale) -> None:
    """Log scale with plain-number labels (no 3x10^1 minor-tick clutter)."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    set_scale("log")
    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())


def _plot_vs_bits(rows: list[dict], metric: str, ylabel: str, path: Path, title: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    targets = sorted({r["target"] for r in rows})
    variants = [v for v in ("acc", "out") if any(r["variant"] == v for r in rows)]
    if not targets or not variants:
        return False
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
                _log_axis(ax.yaxis, ax.set_yscale)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _plot_pareto(rows: list[dict], target: str, path: Path, variant: str = "acc") -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sel = [r for r in rows if r["target"] == target and r["variant"] == variant
           and r.get("lut") is not None]
    if not sel:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    cmap = plt.get_cmap("viridis")
    for ax, dist in zip(axes, DISTS, strict=True):
        q = f"sqnr_{dist}"
        for r in sel:
            if r["kind"] == "int":
                ax.scatter(r["lut"], r[q], marker="s", color="black", s=30, zorder=3)
            else:
                ax.scatter(r["lut"], r[q], marker="o", color=cmap(r["E"] / 8), s=22, zorder=3)
            ax.annotate(r["label"], (r["lut"], r[q]), fontsize=6, xytext=(3, 2),
                        textcoords="offset points")
        front = pareto_front(sel, "lut", q)
        xs, ys = [], []
        for r in front:
            if xs:
                xs.append(r["lut"])
                ys.append(ys[-1])
            xs.append(r["lut"])
            ys.append(r[q])
        ax.plot(xs, ys, color="tab:red", linewidth=1.2, alpha=0.8, label="Pareto front")
        _log_axis(ax.xaxis, ax.set_xscale)
        ax.set_xlabel("LUT4 (MAC, no DSP)")
        ax.set_ylabel(f"SQNR on {_DIST_LABEL[dist]} (dB, best scale)")
        ax.set_title(f"{target}: cost vs error, {_DIST_LABEL[dist]}", fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
        ax.scatter([], [], marker="s", color="black", label="INT")
        ax.scatter([], [], marker="o", color=cmap(0.4), label="minifloat (colour: E)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _plot_fit(rows: list[dict], fits: dict, path: Path) -> bool:
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
        _log_axis(ax.xaxis, ax.set_xscale)
        _log_axis(ax.yaxis, ax.set_yscale)
        ax.set_xlabel("measured LUT4")
        ax.set_ylabel("fitted LUT4")
        ax.set_title(f"{target} {variant}: RMS {fit.rms:.0f}, max {fit.max_abs_pct:.0f}%",
                     fontsize=9)
        ax.grid(True, alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _markdown(rows: list[dict], fits: dict, cross: dict, family: str, tools: str) -> str:
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
    lines += ["", "Pareto fronts (LUTs vs SQNR, MAC without y):", ""]
    for (t, dist), c in sorted(cross.items()):
        lines.append(f"- {t}, {_DIST_LABEL[dist]}: " + " → ".join(c["front"]))
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
    return "\n".join(lines) + "\n"


def write_costmodel_report(records: list[dict] | str | os.PathLike, out_dir: str | os.PathLike,
                           family: str | None = None) -> dict:
    """Write the cost-model tables (``costmodel_points.csv``, ``costmodel_by_bits.csv``,
    ``costmodel_fit.csv``, ``costmodel_pareto.csv``), plots (``costmodel_lut.png``,
    ``costmodel_fmax.png``, ``costmodel_pareto_<target>.png``, ``costmodel_fit.png``) and
    ``costmodel.md`` into ``out_dir``. ``records`` is a list of result records or a database
    path. ``family`` is ``"mac"`` (default) or ``"mul"``. Returns ``{"tables", "plots",
    "markdown", "fits", "crossover"}``; when there are no records of the family it writes
    nothing (not even ``out_dir``) and the lists are empty."""
    if not isinstance(records, list):
        from .db import ResultsDB

        with ResultsDB(records, create=False) as db:
            records = db.records()
    rows = costmodel_rows(records, family)
    result: dict = {"tables": [], "plots": [], "markdown": None, "fits": {}, "crossover": {}}
    if not rows:
        return result
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
        if _plot_vs_bits(rows, metric, label, out / name, f"{title}: {label} vs total bits"):
            plots.append(str(out / name))
    for t in sorted({r["target"] for r in rows}):
        p = out / f"costmodel_pareto_{t}.png"
        if _plot_pareto(rows, t, p):
            plots.append(str(p))
    if _plot_fit(rows, fits, out / "costmodel_fit.png"):
        plots.append(str(out / "costmodel_fit.png"))
    tv = next((r.get("tool_versions") for r in records if r.get("tool_versions")), {}) or {}
    tools = ", ".join(f"{k} {v}" for k, v in sorted(tv.items())) or "tool versions unknown"
    md = out / "costmodel.md"
    md.write_text(_markdown(rows, fits, cross, fam, tools))
    result.update(tables=[str(p) for p in tables.values()], plots=plots, markdown=str(md),
                  fits=fits, crossover=cross, rows=rows)
    return result
