"""Calibrate the delay model (exmy.hdl.timing) against nextpnr: small register-to-register
circuits, their achieved Fmax, and a least-squares fit of each family's constants.

Circuits (Amaranth, combinational; the flow registers every input and output bit, so each is
one register-to-register stage): ``w``-bit adders, XOR trees of ``n`` inputs (``dm.logic(n)``:
``ceil(log4 n)`` LUT levels), barrel shifters, leading-zero counts and ``*`` of several sizes.
Each circuit's predicted period is ``t_reg`` plus the delay model's own term for it
(``dm.adder(w)``, ``dm.logic(n)``, ``dm.shifter(w, s)``, ``dm.lzc(w)``,
``dm.multiplier(wa, wb)``); every term is linear in the constants, so the fit is a linear least
squares of the relative error ``achieved / predicted period - 1`` (the benchmark's measure;
iteratively reweighted least squares), with the constants kept non-negative.

Flow: Yosys 0.70 ``synth_ecp5 -nodsp`` / ``synth_ice40`` / ``synth_gowin -nodsp``, nextpnr
LFE5U-85F / HX8K / GW1N-9C, ``--freq 100``, registered I/O (ANCHORS.md's flow). Xilinx has no
nextpnr here: its constants come from published 7-series figures (see docs/results/
delay_model.md), not from this script.

Run: ``nice -n 5 python benchmarks/calibrate_delay.py [--families ecp5,ice40,gowin]
[--seeds 1] [--db build/calibrate_delay.sqlite]``. Writes docs/results/delay_model.md and the
measurements with the fit to docs/results/delay_model.json (``tests/test_timing.py`` checks
the committed model against them without running synthesis). Results are cached in the
database, so a rerun only synthesizes what is new.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT_MD = ROOT / "docs" / "results" / "delay_model.md"
OUT_JSON = ROOT / "docs" / "results" / "delay_model.json"

FAMILIES = ("ecp5", "ice40", "gowin")
CONSTANTS = ("t_reg", "t_lut", "t_carry0", "t_carry_bit")

#: (kind, args): the calibration circuits, in run order
CIRCUITS = (
    [("adder", (w,)) for w in (4, 8, 12, 16, 24, 32, 48, 64)]
    + [("xor", (n,)) for n in (4, 8, 16, 32, 64, 128, 256)]
    + [("shifter", (w, s)) for w, s in ((8, 3), (16, 4), (24, 5), (32, 5), (64, 6))]
    + [("lzc", (w,)) for w in (8, 11, 16, 24, 32)]
    + [("mul", (w, w)) for w in (4, 6, 8, 11, 16)]
)


def circuit_name(kind: str, args: tuple) -> str:
    return f"calib_{kind}_" + "x".join(map(str, args))


# --------------------------------------------------------------------------------------------
# The circuits
# --------------------------------------------------------------------------------------------

def make_component(kind: str, args: tuple):
    """The Amaranth component of one calibration circuit (combinational)."""
    from amaranth import Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    if kind == "adder":
        (w,) = args
        sig = {"a": In(w), "b": In(w), "y": Out(w + 1)}
    elif kind == "xor":
        (n,) = args
        sig = {"a": In(n), "y": Out(1)}
    elif kind == "shifter":
        w, s = args
        sig = {"a": In(w), "s": In(s), "y": Out(w)}
    elif kind == "lzc":
        (w,) = args
        sig = {"a": In(w), "y": Out(range(w + 1))}
    elif kind == "mul":
        wa, wb = args
        sig = {"a": In(wa), "b": In(wb), "y": Out(wa + wb)}
    else:
        raise ValueError(f"Unknown calibration circuit kind {kind!r}")

    class Circuit(wiring.Component):
        def elaborate(self, platform):
            m = Module()
            if kind == "adder":
                m.d.comb += self.y.eq(self.a + self.b)
            elif kind == "xor":
                m.d.comb += self.y.eq(self.a.xor())
            elif kind == "shifter":
                m.d.comb += self.y.eq(self.a >> self.s)
            elif kind == "lzc":
                cnt = Signal(range(args[0] + 1))
                m.d.comb += cnt.eq(args[0])
                for i in range(args[0]):  # the highest set bit wins (last assignment)
                    with m.If(self.a[i]):
                        m.d.comb += cnt.eq(args[0] - 1 - i)
                m.d.comb += self.y.eq(cnt)
            else:
                m.d.comb += self.y.eq(self.a * self.b)
            return m

    return Circuit(sig)


def make_design(point: dict) -> tuple[str, str, dict]:
    """Sweep generator: ``unit`` is ``calib:<kind>``, ``params`` ``{"args": [...]}``."""
    from exmy.hdl.verilog import port_table, to_verilog

    kind = point["unit"].split(":", 1)[1]
    args = tuple(point["params"]["args"])
    comp = make_component(kind, args)
    name = circuit_name(kind, args)
    text = to_verilog(comp, name)
    return text, name, port_table(comp, text)


@functools.cache
def _fingerprint() -> str:
    import amaranth

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(amaranth.__version__.encode())
    return h.hexdigest()


make_design.fingerprint = _fingerprint


# --------------------------------------------------------------------------------------------
# The model's terms and the fit
# --------------------------------------------------------------------------------------------

def model_term(dm, kind: str, args: tuple) -> float:
    """The delay model's logic delay (ns, without ``t_reg``) of one circuit."""
    if kind == "adder":
        return dm.adder(args[0])
    if kind == "xor":
        return dm.logic(args[0])
    if kind == "shifter":
        return dm.shifter(*args)
    if kind == "lzc":
        return dm.lzc(args[0])
    if kind == "mul":
        return dm.multiplier(*args)
    raise ValueError(f"Unknown calibration circuit kind {kind!r}")


def features(family: str, kind: str, args: tuple) -> list[float]:
    """Coefficients of (t_reg, t_lut, t_carry0, t_carry_bit) in the predicted period: every
    term of the model is linear in the constants, so evaluate it with unit constants."""
    from exmy.hdl.timing import delay_model

    base = delay_model(family)
    row = [1.0]
    for c in CONSTANTS[1:]:
        unit = dataclasses.replace(base, **{k: float(k == c) for k in CONSTANTS})
        row.append(model_term(unit, kind, args))
    return row


def _delay_model(family: str):
    from exmy.hdl.timing import delay_model

    return delay_model(family)


def predicted_period(dm, kind: str, args: tuple) -> float:
    return dm.t_reg + model_term(dm, kind, args)


def nnls_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares with non-negative coefficients (active set: drop the most
    negative coefficient and refit until none is negative)."""
    active = list(range(x.shape[1]))
    coef = np.zeros(x.shape[1])
    while active:
        xa = x[:, active] * w[:, None]
        sol, *_ = np.linalg.lstsq(xa, y * w, rcond=None)
        if (sol >= 0).all():
            coef[:] = 0
            coef[active] = sol
            return coef
        active.pop(int(np.argmin(sol)))
    return coef


def fit_family(family: str, rows: list[dict]) -> dict:
    """Fit the constants of ``family`` to its measured ``rows`` (``kind``, ``args``,
    ``period_ns``); returns the constants and the per-point relative errors."""
    x = np.array([features(family, r["kind"], tuple(r["args"])) for r in rows])
    y = np.array([r["period_ns"] for r in rows])
    coef = nnls_fit(x, y, 1.0 / y)
    for _ in range(20):  # reweight by the prediction: minimise sum (y / pred - 1)^2
        pred = x @ coef
        coef = nnls_fit(x, y, 1.0 / np.maximum(pred, 1e-3))
    return {c: round(float(v), 3) for c, v in zip(CONSTANTS, coef, strict=True)}


def errors(dm, rows: list[dict]) -> list[float]:
    """Predicted / achieved Fmax per row (= achieved period / predicted period)."""
    return [r["period_ns"] / predicted_period(dm, r["kind"], tuple(r["args"])) for r in rows]


# --------------------------------------------------------------------------------------------
# The units: their stages as the delay model counts them
# --------------------------------------------------------------------------------------------

#: families whose constants are refitted on unit stages too
UNIT_FAMILIES = ("ecp5", "ice40")
#: benchmarks/fmax.py rows of the unit training set, placed at these clocks (MHz) on each of
#: UNIT_FAMILIES (clocks out of reach skipped), plus every row at its table clock on ecp5
TRAIN_ROWS = ("mul-e4m3", "mul-bf16", "fma-e4m3", "convert", "lmul")
TRAIN_CLOCKS = (50, 100, 150, 200, 250)
#: MACs of the iso-frequency cost model (synth/sweeps/costmodel_fmax.toml) in the ice40
#: training set: their accumulator is a feedback loop (counted apart, not scaled by size)
MAC_ROWS = {
    "int-mac-int4": ("int-mac", {"a": "int4"}),
    "int-mac-int8": ("int-mac", {"a": "int8"}),
    "mac-e2m1": ("mac", {"a": "e2m1-none"}),
    "mac-e2m5": ("mac", {"a": "e2m5-none"}),
    "mac-e4m3": ("mac", {"a": "e4m3-none"}),
    "mac-e5m2": ("mac", {"a": "e5m2-none"}),
}
#: and the 16-bit FMAs (slow to synthesize) at two clocks on ecp5: their long stages chain
#: several carry chains; on ice40 the 16-bit units, whose routes the size term describes, and
#: the MACs
TRAIN_EXTRA = {
    "ecp5": [(r, c) for r in ("fma-bf16", "fma-f16", "afma-bf16") for c in (60, 80)],
    "ice40": ([("mul-f16", c) for c in (50, 100, 150)]
              + [(r, c) for r in ("fma-bf16", "fma-f16", "afma-bf16") for c in (40, 60, 80)]
              + [("fma-e4m3", 20), ("fma-bf16", 15)]  # combinational: one long stage
              + [(r, c) for r in MAC_ROWS for c in (50, 100)]),
}
KEYS = CONSTANTS[1:]

#: the constants the training designs are placed with (family -> dict): the fit to the
#: circuits alone, computed by main() before the units are built
_PLACE: dict[str, dict] = {}


@functools.cache
def _fmax_rows() -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fmax

    return fmax.ROWS


def _model(family: str, consts: dict):
    """The delay model of ``family`` with its constants replaced by ``consts`` (and no tails)
    while the block runs (``_report.delay_model_replaced``)."""
    from _report import delay_model_replaced  # benchmarks/_report.py (on sys.path as a script)

    return delay_model_replaced(
        family, **{"t_stage": 0.0, "t_knee": math.inf, "knee_slope": 1.0, "size_slope": 0.0,
                   "size_two_sided": False, "size_placed": False, **consts})


def _build_with(unit: str, params: dict, family: str, consts: dict):
    """``unit`` built in fmax mode on ``family`` with the delay model's constants replaced by
    ``consts`` (the unit annotates its cuts and is placed with them)."""
    from exmy.hdl.registry import build

    with _model(family, consts):
        return build(unit, **{**params, "target": family})


def stage_counts(unit: str, params: dict, family: str, consts: dict,
                 eps: float = 1e-4) -> tuple[object, list[list[float]], list[list[float]]]:
    """The unit placed with ``consts`` and, per register-to-register stage of that placement
    and per feedback loop (a MAC's accumulator), its counts of (LUT levels, carry-chain
    entries, carry bits) as the delay model annotates them. Every annotation is linear in the
    constants, so a count is the delay's change when one constant grows by ``eps`` (the unit's
    own structural choices, which compare delays with the period, do not move for so small a
    change: the cut names are checked). Returns ``(unit, stages, loops)``."""
    base = _build_with(unit, params, family, consts)
    if any(s.logic for s in base.plan.segments if s.loop):
        # unit_period charges every training loop per the family's knee_loops
        raise ValueError(f"{unit} {params}: a logic loop (hdl.timing's loop_scale) is not a "
                         "training design of this fit")

    def delays(comp):
        cuts = [s for s in comp.plan.segments if not s.loop]
        loops = [s for s in comp.plan.segments if s.loop]
        final = sum(comp.plan.stage_delays) - sum(s.delay for s in cuts)
        return ([s.name for s in cuts + loops],
                [s.delay for s in cuts] + [final] + [s.delay for s in loops])

    names, d0 = delays(base)
    cols = []
    for k in KEYS:
        comp = _build_with(unit, params, family, {**consts, k: consts[k] + eps})
        n1, d1 = delays(comp)
        if n1 != names:
            raise RuntimeError(f"{unit} {params}: cut points move when {k} grows by {eps}")
        cols.append([round((b - a) / eps, 3) for a, b in zip(d0, d1, strict=True)])
    n_cuts = sum(1 for s in base.plan.segments if not s.loop)
    regs = {s.name for s in base.plan.segments if s.fixed} | set(base.plan.registered)
    rows = [list(f) for f in zip(*cols, strict=True)]
    stages, cur = [], [0.0] * len(KEYS)
    for i, f in enumerate(rows[:n_cuts + 1]):
        cur = [a + b for a, b in zip(cur, f, strict=True)]
        if i < n_cuts and names[i] in regs:
            stages.append(cur)
            cur = [0.0] * len(KEYS)
    stages.append(cur)
    return base, stages, [[float(v) for v in f] for f in rows[n_cuts + 1:]]


def train_make_design(point: dict) -> tuple[str, str, dict]:
    """Sweep generator of the training units: placed with the circuit-only constants."""
    from exmy.hdl.verilog import port_table, to_verilog

    with _model(point["target"], _PLACE[point["target"]]):
        comp = _build_with(point["unit"], point["params"], point["target"],
                           _PLACE[point["target"]])
        top = comp.module_name
        text = to_verilog(comp, top)
        return text, top, port_table(comp, text)


def _train_fingerprint() -> str:
    from exmy.synth.sweep import _package_fingerprint

    return hashlib.sha256((_package_fingerprint("exmy.hdl", "exmy.golden") + json.dumps(
        _PLACE, sort_keys=True)).encode()).hexdigest()


train_make_design.fingerprint = _train_fingerprint


def training_designs(families) -> list[dict]:
    """The unit training set: (row, unit, params, family, placement, stage counts), one per
    distinct placement."""
    rows = {**_fmax_rows(), **{k: (*v, None, None) for k, v in MAC_ROWS.items()}}
    out, seen = [], set()
    for fam in families:
        todo = [(r, rows[r][2], True) for r in _fmax_rows()] if fam == "ecp5" else []
        todo += [(r, c, False) for r in TRAIN_ROWS for c in TRAIN_CLOCKS]
        todo += [(r, c, False) for r, c in TRAIN_EXTRA.get(fam, [])]
        for name, clock, table in todo:
            unit, params = rows[name][0], {**rows[name][1], "fmax": float(clock)}
            try:
                comp, stages, loops = stage_counts(unit, params, fam, _PLACE[fam])
            except ValueError:
                continue  # out of reach for the circuit-only model
            key = (unit, json.dumps(rows[name][1], sort_keys=True), fam,
                   tuple(sorted(comp.plan.registered)))
            if key in seen:
                continue
            seen.add(key)
            size = sum(s.bits for s in comp.plan.segments if not s.loop)
            out.append({"row": name, "unit": unit, "params": params, "family": fam,
                        "table": table, "latency": comp.latency,
                        "registered": sorted(comp.plan.registered), "stages": stages,
                        "loops": loops, "size_bits": size, "placed_bits": _placed(comp)})
    return out


def _placed(comp) -> int:
    """A design's register bits as placed (hdl.timing's ``placed_size``: its ports, rst with
    them, forced and loop registers and its registered cuts), the size term's measure."""
    from exmy.hdl.timing import placed_size

    return placed_size(comp.plan.segments, comp.plan.registered, comp.io_bits())


def add_placed_bits(units: list[dict], circuit_fits: dict) -> None:
    """``placed_bits`` of committed training designs that lack it (measured before the size
    term read it): each rebuilt as it was placed, with its family's circuit-only constants,
    its registered cuts checked against the ones recorded."""
    for u in units:
        if "placed_bits" in u:
            continue
        comp = _build_with(u["unit"], u["params"], u["family"], circuit_fits[u["family"]])
        if sorted(comp.plan.registered) != sorted(u["registered"]):
            raise ValueError(f"the unit design {u['row']} ({u['family']}) now places at "
                             f"{sorted(comp.plan.registered)}, not {u['registered']}: measure "
                             f"it again (--units {u['family']})")
        u["placed_bits"] = _placed(comp)


def measure_units(designs: list[dict], db: str) -> list[dict]:
    """Synthesize the training units (cached in ``db``): seed 1, seeds 1-3 for the table's
    designs (as in the table); adds ``period_ns`` (median over the seeds), ``lut``, ``ff``,
    ``verilog_sha256`` to each design."""
    from exmy.synth.sweep import run_sweep

    points, owner = [], []
    for i, d in enumerate(designs):
        for s in (1, 2, 3) if d["table"] else (1,):
            points.append({"unit": d["unit"], "params": d["params"], "target": d["family"],
                           "seed": s, "dsp": False, "freq_mhz": 100.0})
            owner.append(i)
    res = run_sweep(points, db, jobs=2, make_design=train_make_design, progress=True)
    recs = res["records"]
    out = []
    for i, d in enumerate(designs):
        mine = [r for r, o in zip(recs, owner, strict=True) if o == i
                and r["status"] == "ok" and r.get("fmax_mhz")]
        if not mine:
            print(f"no result: {d['unit']} {d['params']} {d['family']}", file=sys.stderr)
            continue
        fmax = statistics.median(r["fmax_mhz"] for r in mine)
        out.append({**d, "fmax_mhz": round(fmax, 2), "period_ns": round(1000.0 / fmax, 3),
                    "lut": statistics.median(r["lut"] for r in mine),
                    "ff": statistics.median(r["ff"] for r in mine),
                    "verilog_sha256": mine[0]["verilog_sha256"], "seeds": len(mine)})
    return out


#: families that keep the circuit-only constants although unit designs were fitted, with the
#: unit designs' tails on top (fit_tails): on ecp5 a joint fit (before the 16-bit FMAs joined
#: the training set) placed benchmarks/fmax.py's 16-bit FMA rows with fewer stages and they
#: missed their clocks, and with them in the training set no joint fit stays within +-20%
#: leave-one-row-out (docs/results/fmax.md, "Where a goal is missed"); on ice40 the joint
#: fit predicted the 16-bit units too fast (their routes are longer: the size term)
KEEP_CIRCUIT_FIT = ("ecp5", "ice40")

#: weights of a unit design against a calibration circuit tried in the joint fit; the one
#: adopted has the best leave-one-row-out error among those that keep every table clock of
#: benchmarks/fmax.py within reach of the model
UNIT_WEIGHTS = (1.0, 2.0, 3.0, 5.0)


#: the knees tried: (t_knee ns, knee_slope); (inf, 1) is none
KNEES = [(math.inf, 1.0)] + [(d, b) for d in (4.0, 6.0, 8.0, 10.0) for b in (0.45, 0.6, 0.75)]


def _knee(d: float, t_knee: float, slope: float) -> float:
    return d if d <= t_knee else t_knee + slope * (d - t_knee)


def fit_joint(family: str, circ: list[dict], units: list[dict], unit_weight: float,
              knee: tuple = (math.inf, 1.0)) -> dict:
    """Constants fitted to the circuits and the unit designs together: a circuit's period is
    ``t_reg + term``, a unit's ``t_reg + t_stage`` plus its slowest stage (the stage's counts
    times the constants, the part beyond ``t_knee`` at ``knee_slope``). The slowest stage and
    the side of the knee depend on the constants: alternate between choosing them and the
    (reweighted, non-negative) least squares until they settle."""
    t_knee, slope = knee
    xc = [features(family, r["kind"], tuple(r["args"])) for r in circ]
    yc = [r["period_ns"] for r in circ]
    coef = np.append(nnls_fit(np.array(xc), np.array(yc), 1.0 / np.array(yc)), 0.0)
    for _ in range(50):
        x, y = [row + [0.0] for row in xc], list(yc)
        for u in units:
            st = max(u["stages"], key=lambda s: float(np.dot(coef[1:4], s)))
            if float(np.dot(coef[1:4], st)) > t_knee:
                x.append([1.0] + [slope * v for v in st] + [1.0])
                y.append(u["period_ns"] - (1 - slope) * t_knee)
            else:
                x.append([1.0] + list(st) + [1.0])
                y.append(u["period_ns"])
        x, y = np.array(x), np.array(y)
        w = np.array([1.0] * len(xc) + [unit_weight] * len(units))
        new = coef
        for _ in range(10):
            new = nnls_fit(x, y, w / np.maximum(x @ new if new.any() else y, 1e-3))
        done = np.allclose(new, coef, atol=1e-7)
        coef = new
        if done:
            break
    out = {c: round(float(v), 3) for c, v in zip(CONSTANTS + ("t_stage",), coef, strict=True)}
    if math.isfinite(t_knee):
        out.update(t_knee=t_knee, knee_slope=slope)
    return out


def size_factor(consts: dict, size_bits: int) -> float:
    """hdl.timing.DelayModel.size_factor with the size term of ``consts``."""
    from exmy.hdl.timing import DelayModel

    term = {k: consts[k] for k in ("size_slope", "size_bits0", "size_two_sided") if k in consts}
    return DelayModel("fit", k=4, t_reg=0.0, t_lut=0.0, t_carry0=0.0, t_carry_bit=0.0,
                      **term).sized(size_bits).size_factor()


def unit_size(consts: dict, u: dict) -> int:
    """The size ``consts`` scale a unit design by: its placed bits (``size_placed``) or the
    register bits of all its cuts."""
    return u["placed_bits"] if consts.get("size_placed") else u.get("size_bits", 0)


def unit_period(consts: dict, stages, size_bits: int = 0, loops=()) -> float:
    """The predicted period of a unit design: its slowest stage (scaled by its size) or
    feedback loop (not scaled; past the knee only with ``knee_loops``), as hdl.timing's
    ``plan_placement`` charges them."""
    coef = [consts[c] for c in CONSTANTS]
    knee = consts.get("t_knee", math.inf), consts.get("knee_slope", 1.0)
    d = _knee(max(float(np.dot(coef[1:4], s)) for s in stages), *knee)
    d *= size_factor(consts, size_bits)
    if loops:
        lp = max(float(np.dot(coef[1:4], s)) for s in loops)
        d = max(d, _knee(lp, *knee) if consts.get("knee_loops", True) else lp)
    return consts["t_reg"] + consts.get("t_stage", 0.0) + max(d, consts.get("t_floor", 0.0))


#: families whose circuit-only constants get the unit designs' tails (fit_tails); the knee
#: starts where the stage logic of the lowest clock the benchmarks and the cost model place
#: units for on that family (TAIL_FROM_MHZ) ends, so placements at and above it do not move
TAIL_FROM_MHZ = 100.0
SLOPES = [round(0.2 + 0.05 * i, 2) for i in range(17)]  # 0.2 .. 1.0
FLOORS = [round(0.1 * i, 1) for i in range(61)]  # 0 .. 6 ns

#: the route into a carry chain whose operand was computed by logic earlier in the same stage
#: (hdl.timing.DelayModel.t_chain), read from nextpnr's critical paths, not fitted:
#: ``exmy synth ... --workdir DIR`` then DIR/nextpnr.log
CHAIN_ROUTES = {"ecp5": {
    "fma e4m3 at 150 MHz: exp_diff's sums into the sticky compare (critical path 6.82 ns, "
    "annotated 4.34 + t_reg)": 1.46,
    "fma bfloat16 at 100 MHz: the leading-zero count into the shift limit's compare": 1.52,
    "mac e7m0 at 200 MHz: into the 38-bit accumulator chunk's chain": 1.34,
}}


#: families whose feedback loops are charged as annotated, past the knee too (hdl.timing's
#: ``knee_loops``): ecp5, whose training set has no loop and whose float-accumulator MACs'
#: loops nextpnr times as annotated (docs/results/fmax.md, "Loops on ECP5"); ice40's fit
#: discounts its MACs' loops (fit_size_tails)
KNEE_LOOPS = {"ecp5": False}


#: families whose tails are the size term with the knee, the floor and t_stage
#: (fit_size_tails) rather than a knee above TAIL_FROM_MHZ and a floor: ice40. The size is the
#: placement's own register bits (``placed_bits``: its ports and registered cuts, known
#: before synthesis), on both sides of ``size_bits0`` (a small unit's routes are shorter
#: too); benchmarks/model_forms.py tried it beside the register bits at every cut
#: (docs/results/model_forms.md). ecp5 keeps its knee and floor: the same form, fitted to its
#: training designs and measured, placed the iso-frequency MACs in stages that missed their
#: clocks (the figures: docs/results/fmax.md, "The same form on ECP5, tried and not adopted")
SIZE_FAMILIES = ("ice40",)
SIZE_KNEES = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0, math.inf)
SIZE_KNEE_SLOPES = (0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0)
SIZE_SLOPES = (0.0, 0.05, 0.1, 0.125, 0.15, 0.2, 0.3)
SIZE_BITS0 = (50, 100, 200, 300, 400, 600, 800, 1200)
SIZE_FLOORS = (0.0, 1.5, 2.0, 2.5, 2.7, 3.0)
T_STAGES = (0.0, 0.1, 0.2, 0.3)


def fit_size_tails(family: str, consts: dict, units: list[dict],
                   size_slopes=SIZE_SLOPES) -> dict:
    """The tails of a SIZE_FAMILIES family over its unit designs, on top of the circuit-only
    ``consts``: ``t_stage``, the knee (``t_knee``, ``knee_slope``), the floor ``t_floor`` and
    the size term (``size_slope``, ``size_bits0``, two-sided, on the placed bits), by a grid
    search (numpy over the grid: each design's stages are fixed counts). The adopted point
    puts the most designs within +-20%, then has the smallest worst error, among those that
    keep every table clock of benchmarks/fmax.py within the model's reach (as
    :func:`choose_fit` does; the floor bounds the fastest stage)."""
    coef = np.array([consts[c] for c in CONSTANTS[1:]])
    stages = [np.array(u["stages"], dtype=float) @ coef for u in units]
    loops = [np.array(u.get("loops") or [[0.0] * len(coef)], dtype=float) @ coef
             for u in units]
    has_loop = np.array([bool(u.get("loops")) for u in units])
    period = np.array([u["period_ns"] for u in units])
    size = np.array([float(u["placed_bits"]) for u in units])
    knee_loops = consts.get("knee_loops", True)
    goal = max((g for _u, _p, g, _a in _fmax_rows().values()), default=0.0) \
        if family == "ecp5" else 0.0
    cands = []
    for t_knee in SIZE_KNEES:
        for slope in (SIZE_KNEE_SLOPES if math.isfinite(t_knee) else (1.0,)):
            knee = np.array([max(_knee(float(d), t_knee, slope) for d in st) for st in stages])
            loop = np.array([max(_knee(float(d), t_knee, slope) if knee_loops else float(d)
                                 for d in lp) for lp in loops])
            loop = np.where(has_loop, loop, 0.0)
            for a in size_slopes:
                for b0 in (SIZE_BITS0 if a else (SIZE_BITS0[0],)):
                    f = np.maximum(0.3, 1.0 + a * np.log2(size / b0))
                    scaled = np.maximum(knee * f, loop)
                    for fl in SIZE_FLOORS:
                        for ts in T_STAGES:
                            if goal and consts["t_reg"] + ts + fl > 1000.0 / goal:
                                continue  # no stage could meet the table's fastest clock
                            e = period / (consts["t_reg"] + ts + np.maximum(scaled, fl))
                            key = (-int(np.sum(np.abs(e - 1) <= 0.2)),
                                   float(np.max(np.abs(np.log(e)))))
                            cands.append((key, t_knee, slope, a, b0, fl, ts))
    cands.sort(key=lambda c: c[0])
    for _key, t_knee, slope, a, b0, fl, ts in cands:
        out = {**consts, "t_stage": ts, "t_floor": fl}
        if a:
            out.update(size_slope=a, size_bits0=b0, size_two_sided=True, size_placed=True)
        if math.isfinite(t_knee):
            out.update(t_knee=t_knee, knee_slope=slope)
        if not table_reach(family, out):
            return out
    raise ValueError(f"{family}: no tail of the grid keeps the table's clocks within reach")


def fit_tails(family: str, consts: dict, units: list[dict]) -> dict:
    """The knee and floor of ``family`` over its unit designs, on top of ``consts``: the knee at
    the stage logic of TAIL_FROM_MHZ (rounded up to 0.5 ns), its slope and the floor
    ``t_floor`` (the least logic delay of a stage inside a unit) by a grid search of the
    least squared log error of the designs' predicted periods (SIZE_FAMILIES:
    :func:`fit_size_tails`); a KNEE_LOOPS family's fit records ``knee_loops``."""
    if family in KNEE_LOOPS:
        consts = {**consts, "knee_loops": KNEE_LOOPS[family]}
    if family in SIZE_FAMILIES:
        return fit_size_tails(family, consts, units)
    t_knee = math.ceil((1000.0 / TAIL_FROM_MHZ - consts["t_reg"]) * 2) / 2
    best = None
    for slope in SLOPES:
        for floor in FLOORS:
            c = {**consts, "t_knee": t_knee, "knee_slope": slope, "t_floor": floor}
            sse = sum(math.log(u["period_ns"] / unit_period(
                c, u["stages"], unit_size(c, u), u.get("loops", ()))) ** 2 for u in units)
            if best is None or sse < best[0] - 1e-12:
                best = (sse, c)
    return best[1]


def unit_errors(consts: dict, units: list[dict]) -> list[float]:
    """Predicted / achieved Fmax of each unit design (= achieved / predicted period)."""
    return [u["period_ns"] / unit_period(consts, u["stages"], unit_size(consts, u),
                                         u.get("loops", ())) for u in units]


def table_reach(family: str, consts: dict) -> list[str]:
    """benchmarks/fmax.py's table rows (ecp5) out of the model's reach with ``consts``."""
    if family != "ecp5":
        return []
    out = []
    for name, (unit, params, goal, _afp) in _fmax_rows().items():
        try:
            _build_with(unit, {**params, "fmax": float(goal)}, family, consts)
        except ValueError:
            out.append(name)
    return out


def choose_fit(family: str, circ: list[dict], units: list[dict]) -> dict:
    """Per unit weight and knee: the joint fit and its leave-one-row-out errors (each
    benchmark row's designs predicted by a fit without them). The adopted fit is the one with
    the most cross-validated points within +-20%, then the smallest worst error, among those
    that leave every table row within reach."""
    tried = []
    rows = sorted({u["row"] for u in units})
    for wgt in UNIT_WEIGHTS:
        for knee in KNEES:
            consts = fit_joint(family, circ, units, wgt, knee)
            cv = []
            for r in rows:
                c2 = fit_joint(family, circ, [u for u in units if u["row"] != r], wgt, knee)
                cv += unit_errors(c2, [u for u in units if u["row"] == r])
            tried.append({"unit_weight": wgt, "knee": list(knee), "fit": consts,
                          "cv": [round(v, 3) for v in cv]})
    tried.sort(key=lambda t: (-sum(abs(v - 1) <= 0.2 for v in t["cv"]),
                              max(abs(math.log(v)) for v in t["cv"])))
    for t in tried:
        t["unreachable"] = (table_reach(family, t["fit"])
                            + ([] if circuits_hold(family, t["fit"], circ) else ["circuits"]))
        if not t["unreachable"]:
            return {"adopted": t, "tried": tried}
    return {"adopted": tried[0], "tried": tried}


def circuits_hold(family: str, consts: dict, circ: list[dict]) -> bool:
    """The model still describes the primitives (tests/test_timing.py checks it): over the
    calibration circuits the median error within +-10%, every adder within +-15%."""
    from exmy.hdl.timing import delay_model

    dm = dataclasses.replace(delay_model(family), **consts)
    e = errors(dm, circ)
    adders = [v for v, r in zip(e, circ, strict=True) if r["kind"] == "adder"]
    return abs(statistics.median(e) - 1) <= 0.10 and all(abs(v - 1) <= 0.15 for v in adders)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def measure(families, seeds, db: str) -> list[dict]:
    from exmy.synth.sweep import run_sweep

    points = [{"unit": f"calib:{kind}", "params": {"args": list(args)}, "target": fam,
               "seed": s, "dsp": False, "freq_mhz": 100.0}
              for fam in families for kind, args in CIRCUITS for s in seeds]
    res = run_sweep(points, db, jobs=1, make_design=make_design, progress=True)
    rows = []
    for fam in families:
        for kind, args in CIRCUITS:
            recs = [r for r in res["records"] if r["target"] == fam and r["status"] == "ok"
                    and r["unit"] == f"calib:{kind}" and tuple(r["params"]["args"]) == args
                    and r.get("fmax_mhz")]
            if not recs:
                print(f"no result: {fam} {kind} {args}", file=sys.stderr)
                continue
            fmax = statistics.median(r["fmax_mhz"] for r in recs)
            rows.append({"family": fam, "kind": kind, "args": list(args),
                         "fmax_mhz": round(fmax, 2), "period_ns": round(1000.0 / fmax, 3),
                         "lut": statistics.median(r["lut"] for r in recs),
                         "carry": statistics.median(r["carry"] for r in recs),
                         "seeds": len(recs)})
    return rows


def _describe(kind: str, args: tuple) -> str:
    return {"adder": "adder {} bit", "xor": "XOR of {} bits", "shifter": "shifter {}>>{} bits",
            "lzc": "LZC {} bits", "mul": "multiplier {}x{}"}[kind].format(*args)


def _cmd(argv) -> str:
    return "nice -n 5 python benchmarks/calibrate_delay.py " + " ".join(
        sys.argv[1:] if argv is None else argv)


def _stats(e) -> str:
    return (f"{statistics.median(e):.2f} | {min(e):.2f} .. {max(e):.2f} | "
            f"{sum(abs(v - 1) <= 0.2 for v in e)} of {len(e)}")


def report(families, rows, circuit_fits, fits, units, choices, cmd, seconds) -> str:
    from exmy.hdl.timing import delay_model
    from exmy.synth.tools import tool_versions

    tv = tool_versions(["yosys"] + [f"nextpnr-{f}" for f in families])
    md = [
        "# Delay model calibration (frequency-directed pipelining, SPEC 6)",
        "",
        f"Generated by `{cmd.strip()}` ({time.strftime('%Y-%m-%d')}; "
        f"{', '.join(f'{k} {v}' for k, v in tv.items())}; {seconds:.0f} s).",
        "",
        "Two training sets, both synthesized with the flow of the benchmarks (`synth_ecp5 "
        "-nodsp` / `synth_ice40` / `synth_gowin -nodsp`, nextpnr LFE5U-85F / HX8K / GW1N-9C, "
        "`--freq 100`, registered I/O):",
        "",
        "1. **Calibration circuits**: adders, XOR trees, barrel shifters, LZCs and `*`, each "
        "combinational between the flow's I/O registers (median of the seeds column). Their "
        "predicted period is `t_reg` plus the model's term (`dm.adder(w)`, `dm.logic(n)`, "
        "`dm.shifter(w, s)`, `dm.lzc(w)`, `dm.multiplier(wa, wb)`). Fitted alone (relative "
        "least squares, iteratively reweighted, constants non-negative) they give the "
        "*circuit-only* constants.",
        f"2. **Unit designs** (ecp5, ice40): the rows {', '.join(TRAIN_ROWS)} of "
        f"benchmarks/fmax.py placed at {', '.join(map(str, TRAIN_CLOCKS))} MHz, and on ecp5 "
        "every table row at its table clock (seeds 1-3) and "
        + ", ".join(f"{r} at {c}" for r, c in TRAIN_EXTRA["ecp5"]) + " MHz (the 16-bit "
        "FMAs), on ice40 "
        + ", ".join(f"{r} at {c}" for r, c in TRAIN_EXTRA["ice40"]) + " MHz (the 16-bit "
        "units, two FMAs placed for a slow clock: one long stage, and the cost model's "
        "MACs), all placed by "
        "the circuit-only constants (one design per distinct placement, seed 1). A unit's "
        "predicted period is `t_reg + t_stage` plus its slowest stage or feedback loop (a "
        "MAC's accumulator), a stage's or loop's delay being "
        "its counts of LUT levels, carry-chain entries and carry bits (the unit's own "
        "annotations, read by elaborating it with each constant nudged) times `t_lut`, "
        "`t_carry0`, `t_carry_bit`; its *size* is the register bits of the placement "
        "(`placed_bits`: its ports, which the flow registers, and the cuts it registers; the "
        "register bits of all its cut points together, `size_bits`, are listed beside them).",
        "",
        "The adopted constants are one fit to both sets (`t_stage` only for units: what a "
        "stage inside a unit costs beyond a lone circuit, register fan-out and reset and the "
        "routing between annotated terms; the slowest stage is re-chosen as the constants "
        "move), at the unit weight (against a circuit's 1) with the best leave-one-row-out "
        "error among those that keep every table clock of benchmarks/fmax.py within the "
        "model's reach and still describe the circuits (median error within ±10%, every "
        "adder within ±15%: tests/test_timing.py). Leave-one-row-out: each row's unit "
        "designs predicted by a fit without them. The designs that measure the model's error "
        "for issue 13 are benchmarks/fmax.py's, placed by the constants in hdl/timing.py "
        "(docs/results/fmax.md); designs that coincide with a training design are marked "
        "there. Error = predicted / achieved Fmax.",
        "",
        "## Adopted constants (ns) — `_MODELS` in hdl/timing.py",
        "",
        "| family | t_reg | t_lut | t_carry0 | t_carry_bit | t_stage | t_knee, knee_slope | "
        "unit weight | circuits: median error | range | within ±20% | units (in sample): "
        "median | range | within ±20% | units, leave-one-row-out: median | range | "
        "within ±20% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fam in families:
        fr = [r for r in rows if r["family"] == fam]
        if not fr:
            continue
        f = fits[fam]
        ec = errors(dataclasses.replace(delay_model(fam), **f), fr)
        ur = [u for u in units if u["family"] == fam]
        if fam in choices and fam in KEEP_CIRCUIT_FIT:
            uin, ucv, wgt = _stats(unit_errors(f, ur)), "– | – | –", "circuit-only (kept)"
        elif fam in choices:
            ch = choices[fam]["adopted"]
            uin, ucv = _stats(unit_errors(f, ur)), _stats(ch["cv"])
            wgt = f"{ch['unit_weight']:g}"
        else:
            uin = ucv = "– | – | –"
            wgt = "–"
        knee = f"{f['t_knee']:g}, {f['knee_slope']:g}" if "t_knee" in f else "none"
        md.append(f"| {fam} | {f['t_reg']} | {f['t_lut']} | {f['t_carry0']} | "
                  f"{f['t_carry_bit']} | {f.get('t_stage', 0.0)} | {knee} | {wgt} | "
                  f"{_stats(ec)} | {uin} | {ucv} |")
    for fam in KEEP_CIRCUIT_FIT:
        if fam not in choices:
            continue
        ch = choices[fam]["adopted"]
        f = ch["fit"]
        knee = f"{f['t_knee']:g}, {f['knee_slope']:g}" if "t_knee" in f else "none"
        uin = _stats(unit_errors(f, [u for u in units if u["family"] == fam]))
        why = {
            "ecp5": "an earlier joint fit that was (before the 16-bit FMAs at 60 and 80 MHz "
                    "joined the training set) placed benchmarks/fmax.py's 16-bit FMA rows with "
                    "fewer stages and, measured, they missed their clocks: docs/results/fmax.md, "
                    "\"Where a goal is missed\"",
            "ice40": "the joint fit adopted before the 16-bit units joined the training set "
                     "predicted benchmarks/fmax.py's 16-bit units far too fast (the stage's "
                     "annotated delay matched nextpnr's critical path, the knee's discount did "
                     "not; the figures: docs/results/fmax.md, \"Where a goal is missed\"): a "
                     "larger unit's routes are longer, which the size term below describes",
        }.get(fam, "")
        md += ["", f"{fam} keeps its circuit-only constants: its best joint fit (unit weight "
               f"{ch['unit_weight']:g}: t_reg {f['t_reg']}, t_lut {f['t_lut']}, t_carry0 "
               f"{f['t_carry0']}, t_carry_bit {f['t_carry_bit']}, t_stage {f['t_stage']}, "
               f"knee {knee}; units in sample {uin.replace(' | ', ', ')}, "
               f"leave-one-row-out {_stats(ch['cv']).replace(' | ', ', ')} within ±20%) is not "
               f"within ±20% leave-one-row-out, and {why}."]
        a = fits[fam]
        if "t_floor" in a and fam not in SIZE_FAMILIES:
            ur = [u for u in units if u["family"] == fam]
            bare = {**circuit_fits[fam], "t_stage": 0.0}
            md += ["", f"On top of them, {fam} has the unit designs' tails (`fit_tails`): a "
                   f"knee at {a['t_knee']:g} ns (the stage logic of {TAIL_FROM_MHZ:g} MHz, "
                   "rounded up to 0.5 ns, so no placement at or above that clock moves) with "
                   f"slope {a['knee_slope']:g}, and a floor `t_floor` {a['t_floor']:g} ns (no "
                   "stage inside a unit is predicted shorter: the fan-out and routing of its "
                   f"registers; {fam} predicts no unit above "
                   f"{1000 / (a['t_reg'] + a['t_floor']):.0f} MHz), both by a grid search of "
                   "the least squared log error over the unit "
                   f"designs: in sample {_stats(unit_errors(a, ur)).replace(' | ', ', ')} within "
                   f"±20%, against {_stats(unit_errors(bare, ur)).replace(' | ', ', ')} without."]
        if a.get("knee_loops") is False:
            md += ["", f"{fam} charges a feedback loop as annotated, past the knee too "
                   "(`knee_loops`, KNEE_LOOPS): nextpnr times its float-accumulator MACs' loops "
                   "so (docs/results/fmax.md, \"Loops on ECP5\"); its training set has no loop."]
        if fam in SIZE_FAMILIES and "size_slope" in a:
            ur = [u for u in units if u["family"] == fam]
            bare = {**circuit_fits[fam], "t_stage": 0.0}
            if "knee_loops" in a:
                bare["knee_loops"] = a["knee_loops"]
            knee = (f"a knee at {a['t_knee']:g} ns with slope {a['knee_slope']:g}"
                    if "t_knee" in a else "no knee")
            sizes = sorted(u["placed_bits"] for u in ur)
            no_size = fit_size_tails(fam, bare, ur, (0.0,))
            md += ["", f"On top of them, {fam} has the unit designs' tails (`fit_size_tails`: "
                   "a grid search for the most designs within ±20%, then the smallest worst "
                   "error, among the tails that keep every table clock of benchmarks/fmax.py "
                   f"within reach): `t_stage` {a['t_stage']:g} ns, {knee}, a floor `t_floor` "
                   f"{a['t_floor']:g} ns (no stage inside a unit is predicted shorter) and the "
                   "size term: a unit's stage logic is multiplied by "
                   f"`1 + {a['size_slope']:g} * log2(placed_bits / {a['size_bits0']:g})` "
                   "(at least 0.3), where `placed_bits` is the register bits of the placement "
                   "itself: its ports (the flow registers them) and the cuts it registers, "
                   "known before synthesis, so the planner places, counts and places again "
                   f"until the size settles. The training units span {sizes[0]} to "
                   f"{sizes[-1]} placed bits: factor {size_factor(a, sizes[0]):.2f} at the "
                   f"smallest, {size_factor(a, sizes[-1]):.2f} at the largest; a feedback loop "
                   "is not scaled. In sample "
                   f"{_stats(unit_errors(a, ur)).replace(' | ', ', ')} within ±20%, against "
                   f"{_stats(unit_errors(bare, ur)).replace(' | ', ', ')} with the circuit-only "
                   "constants alone; the best such fit without the size term (size_slope 0): "
                   f"{_stats(unit_errors(no_size, ur)).replace(' | ', ', ')}."]
        routes = CHAIN_ROUTES.get(fam)
        if routes:
            md += ["", f"`t_chain` ({fam}: {statistics.mean(routes.values()):.2f} ns, their "
                   "mean) is not fitted: it is the route into a carry chain whose "
                   "operand was computed earlier in the same stage, read from nextpnr's "
                   "critical paths (`exmy synth ... --workdir DIR`, DIR/nextpnr.log): "
                   + "; ".join(f"{k}: {v:g} ns" for k, v in routes.items())
                   + ". The FMAs charge it where a chain follows a chain or the leading-zero "
                   "count (`dm.chained`); the unit designs above are placed with it, but "
                   "their counts, and so the fits and errors here, leave it out."]
    md += ["", "Circuit-only constants (they placed the unit training designs):", "",
           "| family | t_reg | t_lut | t_carry0 | t_carry_bit | circuits: median error | range "
           "| within ±20% | unit designs: median | range | within ±20% |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for fam in families:
        fr = [r for r in rows if r["family"] == fam]
        if not fr:
            continue
        f = circuit_fits[fam]
        ec = errors(dataclasses.replace(delay_model(fam), **f), fr)
        ur = [u for u in units if u["family"] == fam]
        uu = _stats(unit_errors(f, ur)) if ur else "– | – | –"
        md.append(f"| {fam} | {f['t_reg']} | {f['t_lut']} | {f['t_carry0']} | "
                  f"{f['t_carry_bit']} | {_stats(ec)} | {uu} |")
    if choices:
        md += ["", f"The best fits tried of {len(UNIT_WEIGHTS) * len(KNEES)} per family (unit "
               f"weights {', '.join(f'{w:g}' for w in UNIT_WEIGHTS)}; no knee or t_knee "
               "4-10 ns with slope 0.45-0.75), by leave-one-row-out error of the unit designs, "
               "and the table rows each leaves out of reach or `circuits` when it no longer "
               "describes the circuits (checked down to the adopted one):",
               "", "| family | unit weight | t_knee, slope | t_reg | t_lut | t_carry0 | "
               "t_carry_bit | t_stage | median | range | within ±20% | out of reach |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for fam, ch in choices.items():
            for t in ch["tried"][:8]:
                f = t["fit"]
                knee = (f"{t['knee'][0]:g}, {t['knee'][1]:g}" if math.isfinite(t["knee"][0])
                        else "none")
                un = t.get("unreachable")
                md.append(f"| {fam} | {t['unit_weight']:g} | {knee} | {f['t_reg']} | "
                          f"{f['t_lut']} | {f['t_carry0']} | {f['t_carry_bit']} | "
                          f"{f['t_stage']} | {_stats(t['cv'])} | "
                          f"{'not checked' if un is None else ', '.join(un) or '–'} |")
    xi = delay_model("xilinx")
    md += [
        "",
        "Gowin has no unit designs: its constants are the circuit-only fit (`t_stage` 0). "
        f"Xilinx (not measured: no nextpnr for it here): t_reg {xi.t_reg}, t_lut {xi.t_lut}, "
        f"t_carry0 {xi.t_carry0}, t_carry_bit {xi.t_carry_bit}, k = 6, from published "
        "7-series figures (Artix-7 -1 data sheet DS181 and UG474: LUT6 about 0.12 ns, CARRY4 "
        "about 0.11 ns per 4 bits, clock-to-Q about 0.5 ns, plus about 0.4 ns of routing per "
        "net, the share Vivado reports on typical paths). They are an estimate for placing "
        "registers, not a measurement; Vivado's own reports are the truth for that family.",
        "",
        "Reading it: the carry chain is modelled well on every family. The LUT-level terms are "
        "coarser: the model counts LUT levels with one constant per level, while a lone wide "
        "circuit (XOR of 256 bits, a 64-bit shifter) spreads over the die and its levels are "
        "slower, and inside a unit ABC merges logic across the annotated terms, so a unit's "
        "long stages are faster than their level count says and its short stages slower (the "
        "fixed per-stage cost: routing, fan-out of the pipeline registers). The joint fit "
        "trades these: a larger fixed cost per stage and a cheaper LUT level than the circuits "
        "alone give.",
    ]
    for fam in families:
        ur = [u for u in units if u["family"] == fam]
        if not ur:
            continue
        md += ["", f"## {fam}: unit designs (training)", "",
               "| unit | placed for MHz | latency | LUT | FF | bits at every cut | placed bits | "
               "achieved Fmax MHz | slowest stage (LUT levels, carry entries, carry bits) | "
               "predicted Fmax | error |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for u in ur:
            per = unit_period(fits[fam], u["stages"], unit_size(fits[fam], u),
                              u.get("loops", ()))
            coef = [fits[fam][c] for c in CONSTANTS]
            st = max(u["stages"], key=lambda s, c=coef: float(np.dot(c[1:4], s)))
            md.append(f"| {u['row']} | {u['params']['fmax']:g} | {u['latency']} | "
                      f"{u['lut']:.0f} | {u['ff']:.0f} | {u.get('size_bits', '–')} | "
                      f"{u.get('placed_bits', '–')} | "
                      f"{u['fmax_mhz']:.1f} | "
                      f"{', '.join(f'{v:g}' for v in st)} | {1000 / per:.1f} | "
                      f"{u['period_ns'] / per:.3f} |")
    for fam in families:
        fr = [r for r in rows if r["family"] == fam]
        if not fr:
            continue
        dm = dataclasses.replace(delay_model(fam), **fits[fam])
        md += ["", f"## {fam}: calibration circuits", "",
               "| circuit | LUT | carry | achieved Fmax MHz | period ns | predicted ns | "
               "error |", "|---|---|---|---|---|---|---|"]
        for r in fr:
            pp = predicted_period(dm, r["kind"], tuple(r["args"]))
            md.append(f"| {_describe(r['kind'], tuple(r['args']))} | {r['lut']:.0f} | "
                      f"{r['carry']:.0f} | {r['fmax_mhz']:.1f} | {r['period_ns']:.2f} | "
                      f"{pp:.2f} | {r['period_ns'] / pp:.3f} |")
    return "\n".join(md) + "\n"


def main(argv: list[str] | None = None) -> int:
    from _report import seed_list  # benchmarks/_report.py (run as a script: on sys.path)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seeds", type=seed_list, default="1")
    ap.add_argument("--db", default=str(ROOT / "build" / "calibrate_delay.sqlite"))
    ap.add_argument("--unit-db", default=str(ROOT / "build" / "fmax.sqlite"),
                    help="results database of the unit training designs (benchmarks/fmax.py's)")
    ap.add_argument("--circuits-only", action="store_true",
                    help="fit the circuits alone (no unit designs)")
    ap.add_argument("--kinds", default=None, help="only these circuit kinds (comma list)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--from-json", action="store_true",
                    help="refit from the measurements in docs/results/delay_model.json "
                         "(no synthesis)")
    ap.add_argument("--units", default=None, metavar="FAMILIES",
                    help="measure the unit training designs of these families again (comma "
                         "list); the circuits and the other families' units come from "
                         "docs/results/delay_model.json")
    args = ap.parse_args(argv)
    if args.from_json or args.units:
        ufams = [f.strip() for f in (args.units or "").split(",") if f.strip()]
        bad = [f for f in ufams if f not in UNIT_FAMILIES]
        if bad:
            ap.error(f"--units: {bad[0]!r} has no unit training designs; those that do are "
                     f"{', '.join(UNIT_FAMILIES)}")
        return _refit_from_json(argv, args.no_write, ufams, args.unit_db)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        ap.error(f"unknown family {bad[0]!r}; calibrated families are {', '.join(FAMILIES)}")
    seeds = args.seeds
    global CIRCUITS
    if args.kinds:
        kinds = set(args.kinds.split(","))
        CIRCUITS = [c for c in CIRCUITS if c[0] in kinds]
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    rows = measure(families, seeds, args.db)
    if OUT_JSON.exists() and not args.kinds:
        # keep the committed measurements of the families not measured in this run
        old = json.loads(OUT_JSON.read_text())["measurements"]
        rows = [r for r in old if r["family"] not in families] + rows
        families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    circuit_fits = {fam: fit_family(fam, [r for r in rows if r["family"] == fam])
                    for fam in families if any(r["family"] == fam for r in rows)}
    fits = {fam: {**c, "t_stage": 0.0} for fam, c in circuit_fits.items()}
    units, choices = [], {}
    if not args.circuits_only:
        ufams = [f for f in UNIT_FAMILIES if f in circuit_fits]
        _PLACE.update({f: circuit_fits[f] for f in ufams})
        units = measure_units(training_designs(ufams), args.unit_db)
        for fam in ufams:
            choices[fam] = choose_fit(fam, [r for r in rows if r["family"] == fam],
                                      [u for u in units if u["family"] == fam])
            if fam not in KEEP_CIRCUIT_FIT:
                fits[fam] = choices[fam]["adopted"]["fit"]
            else:
                fits[fam] = fit_tails(fam, fits[fam], [u for u in units if u["family"] == fam])
    _write(families, rows, circuit_fits, fits, units, choices, _cmd(argv),
           time.monotonic() - t0, args.no_write)
    return 0


def _check_units(units, refitted=()) -> None:
    """The committed unit designs have what the fits read (ValueError naming what is missing);
    the designs of the families in ``refitted`` are measured again, so theirs are not read."""
    need = ("row", "family", "stages", "period_ns")
    for u in units:
        if u.get("family") in refitted:
            continue
        # the size term reads placed_bits, rebuilt from these when missing (add_placed_bits)
        keys = need + (("unit", "params", "registered")
                       if u.get("family") in SIZE_FAMILIES and "placed_bits" not in u else ())
        missing = [k for k in keys if k not in u]
        if missing:
            raise ValueError(f"the unit design {u.get('row', '?')} ({u.get('family', '?')}) "
                             f"has no {', '.join(missing)}")


def _refit_from_json(argv, no_write: bool, unit_families=(), unit_db: str = "") -> int:
    """The fits again from the committed measurements (circuits and unit designs): the tails
    of the families that keep their circuit-only constants. The unit designs of
    ``unit_families`` are built and measured again (their training set may have changed)."""
    t0 = time.monotonic()
    try:
        old = json.loads(OUT_JSON.read_text())
        old["measurements"], old["units"], old["choices"], old["fits"]  # noqa: B018
        old["circuit_fits"]  # noqa: B018
        _check_units(old["units"], refitted=unit_families)
    except (OSError, ValueError, KeyError, TypeError) as e:
        opt = "--units" if unit_families else "--from-json"
        print(f"calibrate_delay.py: error: {opt} needs the committed measurements in {OUT_JSON} "
              f"({type(e).__name__}: {e}); run without {opt} to measure them all",
              file=sys.stderr)
        return 2
    rows, units, choices = old["measurements"], old["units"], old["choices"]
    circuit_fits, fits = old["circuit_fits"], old["fits"]
    families = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    if unit_families:
        _PLACE.update({f: circuit_fits[f] for f in unit_families})
        Path(unit_db).parent.mkdir(parents=True, exist_ok=True)
        units = [u for u in units if u["family"] not in unit_families] + measure_units(
            training_designs(unit_families), unit_db)
        for fam in unit_families:
            fits[fam] = {**circuit_fits[fam], "t_stage": 0.0}
            choices[fam] = choose_fit(fam, [r for r in rows if r["family"] == fam],
                                      [u for u in units if u["family"] == fam])
    add_placed_bits(units, circuit_fits)
    for fam in KEEP_CIRCUIT_FIT:
        if fam in circuit_fits:
            fits[fam] = fit_tails(fam, {**circuit_fits[fam], "t_stage": 0.0},
                                  [u for u in units if u["family"] == fam])
    _write(families, rows, circuit_fits, fits, units, choices, _cmd(argv),
           time.monotonic() - t0, no_write)
    return 0


def _write(families, rows, circuit_fits, fits, units, choices, cmd, seconds, no_write):
    for fam, routes in CHAIN_ROUTES.items():
        if fam in fits:
            fits[fam]["t_chain"] = round(statistics.mean(routes.values()), 2)
    text = report(families, rows, circuit_fits, fits, units, choices, cmd, seconds)
    print(text)
    print(json.dumps(fits, indent=1))
    if not no_write:
        OUT_MD.write_text(text)
        bounds = {}
        for fam, consts in fits.items():
            e = errors(dataclasses.replace(_delay_model(fam), **consts),
                       [r for r in rows if r["family"] == fam])
            bounds[fam] = [math.floor(min(e) * 100) / 100, math.ceil(max(e) * 100) / 100]
        OUT_JSON.write_text(json.dumps({
            "fits": fits, "circuit_fits": circuit_fits, "bounds": bounds,
            "unit_fitted": [f for f in choices
                            if f not in KEEP_CIRCUIT_FIT or "t_knee" in fits.get(f, {})],
            "choices": choices, "measurements": rows,
            "units": [{**u, "error": round(u["period_ns"] / unit_period(
                fits[u["family"]], u["stages"], unit_size(fits[u["family"]], u),
                u.get("loops", ())), 3)}
                      for u in units]}, indent=1) + "\n")
        print(f"wrote {OUT_MD} and {OUT_JSON}", file=sys.stderr)


if __name__ == "__main__":
    from _report import run_main  # benchmarks/_report.py: one error line, Ctrl-C kept points

    run_main("calibrate_delay", main)
