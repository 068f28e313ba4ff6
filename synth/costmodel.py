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

The CSV tables, PNG plots and markdown snippet for the README are written by
:func:`exmy.synth.report.write_costmodel_report` (``exmy report``) from these functions'
numbers.
"""

from __future__ import annotations

import json
import math
import os
import statistics
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
    "isofreq_ratios",
    "isofreq_rows",
    "lutless_targets",
    "pareto_front",
    "quantize_values",
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
    parsed ``spec``, expanded by :func:`exmy.synth.sweepfile.expand_sweep`."""
    from .sweepfile import expand_sweep, read_sweep_file

    if spec is None:
        # read_sweep_file's checks: an int path would be a file descriptor (1: stdout, which
        # open() then closes), a folder or bad TOML an error that does not name the file
        spec = read_sweep_file(COSTMODEL_SWEEP if path is None else path)
    elif path is not None:
        raise ValueError(f"costmodel_points takes a sweep file or a parsed spec, not both "
                         f"(path={path!r})")
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
    if set(params) - {"a", "b", "out", "depth", "latency", "target", "fmax", "acc_chunk",
                      "dsp"}:
        return None
    clock = params.get("fmax")
    if clock is not None and (isinstance(clock, bool) or not isinstance(clock, (int, float))
                              or not math.isfinite(clock) or clock <= 0):
        return None  # (not a clock exmy places for: a record another tool wrote)
    if clock is None and (params.get("target") is not None
                          or params.get("acc_chunk") is not None):
        return None
    if clock is None and params.get("latency", _DEFAULT_LATENCY[unit]) != _DEFAULT_LATENCY[unit]:
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
    try:  # (a depth exmy refuses: a record another tool wrote, not a cost-model point)
        if is_int:
            e, m = 0, fmt.bits - 1 if fmt.signed else fmt.bits
            acc = (int_mac_params(fmt, fmt, depth).acc_bits if unit == "int-mac"
                   else 2 * fmt.bits)
        else:
            assert isinstance(fmt, FloatFormat)
            e, m = fmt.exp_bits, fmt.man_bits
            mp = mac_params(fmt, fmt, depth=depth if unit == "mac" else 1)
            acc = mp.acc_bits if unit == "mac" else mp.product_bits
    except (TypeError, ValueError):
        return None
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
        "clock": clock,
    }


def _label(fmt) -> str:
    from exmy.golden.format import IntFormat

    if isinstance(fmt, IntFormat):
        return ("INT" if fmt.signed else "UINT") + str(fmt.bits)
    tail = "" if fmt.special == "none" else fmt.special
    return f"E{fmt.exp_bits}M{fmt.man_bits}{tail}"


_COST = ("lut", "ff", "carry", "widemux", "dsp", "fmax_mhz", "crit_path_ns")


def record_list(records, what: str) -> list[dict]:
    """``records`` as a list of result dicts (``ResultsDB.records()``); anything else (a
    string, one dict, a list holding other things) is a ``TypeError`` naming ``what``
    ("Cost-model records", "summarize()'s records")."""
    if isinstance(records, (str, bytes, dict)) or not isinstance(records, Iterable):
        raise TypeError(f"{what} must be a list of result dicts (ResultsDB.records()), not "
                        f"{records!r:.60}")
    records = list(records)
    bad = next((r for r in records if not isinstance(r, dict)), None)
    if bad is not None:
        raise TypeError(f"{what} must be result dicts (ResultsDB.records()), not {bad!r:.60}")
    return records


def _latest(records: Iterable[dict]) -> list[dict]:
    """The newest record per (unit, params, target, seed, flow options): when the hardware
    generator changed between sweeps, the database keeps both versions' records (different
    Verilog, different keys); the cost model uses the current one. Anything but an iterable
    of record dicts is a ``TypeError`` (the records of ``ResultsDB.records()``)."""
    records = record_list(records, "Cost-model records")
    best: dict[str, dict] = {}
    for r in records:
        key = json.dumps([r.get(k) for k in ("unit", "params", "target", "seed", "dsp_enabled",
                                             "widelut", "register_io", "freq_mhz")],
                         sort_keys=True, default=str)
        if key not in best or (r.get("created") or "") >= (best[key].get("created") or ""):
            best[key] = r
    return list(best.values())


def _candidates(records: Iterable[dict], family: str | None) -> tuple[list, list[str]]:
    """The cost-model records of ``family`` as ``(features, record)`` pairs, and the targets
    of the ones left out for want of a LUT count (``generic``: Yosys' generic synthesis
    counts gates and gives no Fmax; a record with no target, written by another tool)."""
    if family is None:
        family = "mac"
    if family not in FAMILIES:
        raise ValueError(f"Cost-model family must be one of {', '.join(FAMILIES)}, not "
                         f"{family!r}")
    cand, lutless = [], []
    for r in _latest(records):
        if r.get("status") != "ok" or r.get("dsp_enabled") or r.get("register_io") is False:
            continue
        if r.get("widelut") is False:
            continue
        feat = _design_features(r.get("unit") or "", r.get("params") or {})
        # (iso-frequency points have a clock: isofreq_rows)
        if feat is None or feat["clock"] is not None or feat["family"] != family:
            continue
        target = r.get("target")
        if r.get("lut") is None or not isinstance(target, str) or not target:
            lutless.append(target if isinstance(target, str) and target else "(no target)")
            continue
        cand.append((feat, r))
    return cand, lutless


def lutless_targets(records: Iterable[dict], family: str | None = None) -> dict[str, int]:
    """The targets whose cost-model records :func:`costmodel_rows` leaves out for want of a
    LUT count, with how many records each (``generic`` gives gates; ``"(no target)"``: a
    record another tool wrote without one)."""
    _, lutless = _candidates(records, family)
    return {t: lutless.count(t) for t in sorted(set(lutless))}


def costmodel_rows(records: Iterable[dict], family: str | None = None) -> list[dict]:
    """Cost-model rows from result records: one per (format, variant, target), medians over
    seeds of the ok records. ``family`` is ``"mac"`` (default) or ``"mul"``. Records with
    DSPs, without registered IO or with the ``-nowidelut`` mapping are left out; so are depths
    other than the most common one, and records without a LUT count (:func:`lutless_targets`
    names them)."""
    cand, _ = _candidates(records, family)
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


def isofreq_rows(records: Iterable[dict], family: str = "mac") -> list[dict]:
    """The iso-frequency cost model's rows (issue 14): points built with ``fmax`` (the clock
    the MAC's registers were placed for), one row per (format, variant, target, clock, DSPs),
    medians over seeds; ``lut_ff`` = LUT + FF, ``met`` = the median achieved Fmax reaches the
    clock. Failed points (a clock the delay model could not reach) stay as rows with
    ``status`` = the error, so the report can say which did not make it and why."""
    if family not in FAMILIES:
        raise ValueError(f"Cost-model family must be one of {', '.join(FAMILIES)}, not "
                         f"{family!r}")
    groups: dict[tuple, list] = defaultdict(list)
    for r in _latest(records):
        if r.get("register_io") is False or r.get("widelut") is False:
            continue
        feat = _design_features(r.get("unit") or "", r.get("params") or {})
        if feat is None or feat["clock"] is None or feat["family"] != family:
            continue
        if not isinstance(r.get("target"), str) or not r["target"]:
            continue  # (another tool's record: no target to group it by)
        groups[(feat["format"], feat["variant"], r["target"], feat["clock"],
                bool(r.get("dsp_enabled")))].append((feat, r))
    rows = []
    for (_, _, target, clock, dsp), items in groups.items():
        ok = [r for _, r in items if r.get("status") == "ok"]
        row = {**items[0][0], "target": target, "dsp_enabled": dsp, "seeds": len(ok)}
        for m in _COST:
            vals = [r[m] for r in ok if r.get(m) is not None]
            row[m] = statistics.median(vals) if vals else None
        row["lut_ff"] = (row["lut"] + row["ff"] if row["lut"] is not None
                         and row["ff"] is not None else None)
        row["met"] = row["fmax_mhz"] is not None and row["fmax_mhz"] >= clock
        row["status"] = "ok" if ok else next(
            (str(r.get("error") or r.get("status")) for _, r in items), "failed")
        rows.append(row)
    rows.sort(key=lambda r: (r["target"], r["dsp_enabled"], r["clock"], r["variant"],
                             r["bits"], r["kind"] == "float", r["E"]))
    return rows


def isofreq_ratios(rows: list[dict]) -> list[dict]:
    """LUT+FF of each minifloat MAC over the INT MAC of the same total width, per (target,
    clock, DSPs, variant): the benchmark's headline at equal clock."""
    ints = {(r["target"], r["clock"], r["dsp_enabled"], r["bits"]): r for r in rows
            if r["kind"] == "int" and r.get("lut_ff")}
    out = []
    for r in rows:
        i = ints.get((r["target"], r["clock"], r["dsp_enabled"], r["bits"]))
        if r["kind"] != "float" or i is None or not r.get("lut_ff"):
            continue
        out.append({"target": r["target"], "clock": r["clock"], "dsp_enabled": r["dsp_enabled"],
                    "variant": r["variant"], "format": r["label"], "int": i["label"],
                    "lut_ff": r["lut_ff"], "int_lut_ff": i["lut_ff"],
                    "ratio": r["lut_ff"] / i["lut_ff"], "met": r["met"], "int_met": i["met"]})
    return out


# --------------------------------------------------------------------------------------------
# Numerical error
# --------------------------------------------------------------------------------------------

def quantize_values(x: np.ndarray, fmt, scale: float = 1.0) -> np.ndarray:
    """``scale * q(x / scale)`` as float64: round to nearest (ties to even), saturating.

    Floats: the golden quantizer, :func:`exmy.golden.stats.quantized_values` (the shared
    ``encode``; a number the format cannot hold at all, such as a negative one in e8m0fnu,
    reads as 0). Integers: ``clip(rint(x), min, max)``.
    """
    from exmy.golden.format import IntFormat, parse_format
    from exmy.golden.stats import quantized_values

    fmt = parse_format(fmt)
    y = np.asarray(x, dtype=np.float64) / scale
    if isinstance(fmt, IntFormat):
        return np.clip(np.rint(y), fmt.min_value, fmt.max_value) * scale
    return quantized_values(y, fmt) * scale


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
    from exmy.golden.params import check_count
    from exmy.golden.stats import sample, sqnr_db

    fmt = parse_format(fmt)
    seed = check_count(seed, "Seed", 0)
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
    from exmy.golden.params import check_count

    depth = check_count(depth, "Depth")
    dots = check_count(dots, "Dot count")
    seed = check_count(seed, "Seed", 0)
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


def crossover(rows: list[dict], quality: str = "sqnr_normal", cost: str = "lut") -> dict:
    """For one target and variant: the Pareto front, and for each integer format the cheapest
    minifloat at least as accurate (``match``) and the most accurate minifloat no more
    expensive (``rival``). ``cost``: ``lut`` (default) or ``lut_ff`` (the iso-frequency
    model); the ``*_lut`` keys then hold that cost."""
    ints = [r for r in rows if r["kind"] == "int" and r.get(cost) is not None]
    floats = [r for r in rows if r["kind"] == "float" and r.get(cost) is not None]
    front = pareto_front(rows, cost, quality)
    per_int = []
    for i in sorted(ints, key=lambda r: (r.get("bits", 0), r[cost])):
        better = [f for f in floats if f[quality] >= i[quality]]
        cheaper = [f for f in floats if f[cost] <= i[cost]]
        match = min(better, key=lambda f: f[cost]) if better else None
        rival = max(cheaper, key=lambda f: f[quality]) if cheaper else None
        per_int.append({
            "int": i["label"], "int_lut": i[cost], "int_sqnr": i[quality],
            "match": match["label"] if match else None,
            "match_lut": match[cost] if match else None,
            "match_sqnr": match[quality] if match else None,
            "lut_ratio": (match[cost] / i[cost]) if match and i[cost] else None,
            "rival": rival["label"] if rival else None,
            "rival_lut": rival[cost] if rival else None,
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
