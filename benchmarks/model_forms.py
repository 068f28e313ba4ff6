"""The delay model's form, tried on the designs benchmarks/fmax.py measured (issue 13's
"every point within +-20%"): no synthesis, only the committed measurements.

The designs are the ones docs/results/fmax.md reports (the table and the frontier, their
achieved Fmax the median of seeds 1-3), rebuilt here with the committed delay model, so
every design keeps the placement that was measured. For each register-to-register stage the
script counts what the model charges (LUT levels, carry-chain entries, carry bits, chained
routes: the delay's change when one constant grows a little, as
benchmarks/calibrate_delay.py counts its training designs). A model form then predicts every
design's period from those counts, so forms can be compared without placing anything again:

1. the committed model (the counts reproduce each plan's predicted Fmax: checked);
2. per family, the form "knee + size term" with its knee, floor and ``t_stage`` free and the
   size term on or off, one-sided or two-sided (units smaller than ``size_bits0`` get a
   factor below 1), its size either the register bits at every cut (one number per unit)
   or the register bits as placed (``placed_bits``: the ports and the registered cuts, what
   the committed model reads), fitted to the training designs alone
   (docs/results/delay_model.json) by least squared log error or by the most designs within
   +-20% then the smallest worst error: what a refit would do, then judged on the fmax.md
   designs. calibrate_delay.py's own fit of the committed form searches a finer grid and
   keeps every table clock within reach, so its constants may differ from this row's;
3. the same forms fitted to the fmax.md designs themselves: in sample, an upper bound on what
   the form can do, not a result;
4. ``--arrival``: for the designs outside +-20%, the longest path at value level (each value
   a cut point registers charged its segment's delay only when it is computed there, not
   passed through; Yosys reads the dependencies off the design with a register at every cut)
   against the model's sum of the segments.

Run: ``python benchmarks/model_forms.py [--arrival] [--out docs/results/model_forms.md]``
(``--arrival`` runs Yosys; the report's last line says how long it took).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import check_out, delay_model_replaced, run_main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FMAX_MD = ROOT / "docs" / "results" / "fmax.md"
MODEL_JSON = ROOT / "docs" / "results" / "delay_model.json"
KEYS = ("t_lut", "t_carry0", "t_carry_bit", "t_chain")
FAMILIES = ("ecp5", "ice40")


# --------------------------------------------------------------------------------------------
# The designs fmax.md reports, rebuilt with their measured placements
# --------------------------------------------------------------------------------------------

def _labels() -> dict[str, str]:
    """fmax.md's row labels -> benchmarks/fmax.py's row names."""
    import fmax

    out = {}
    for name, (unit, params, _goal, _afp) in fmax.ROWS.items():
        label = f"{unit} {params['a']} {params.get('out', params['a'])}"
        out[label] = name
        out[label + " G=4"] = name
    out["lmul e4m3fn"] = "lmul"
    return out


def read_designs(path: Path = FMAX_MD) -> list[dict]:
    """(row, family, fmax asked, latency, achieved MHz, table?) of every design fmax.md's
    table and frontier report with an achieved Fmax."""
    labels = _labels()
    out, sec = [], 0
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            sec = int(line[3]) if line[3].isdigit() else 0
        if sec not in (1, 2) or not line.startswith("| ") or line.startswith("| unit"):
            continue
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if c[0] not in labels:
            raise ValueError(f"{path}: unknown row {c[0]!r}")
        try:
            if sec == 1:
                d = dict(row=labels[c[0]], family="ecp5", fmax=float(c[1]), latency=int(c[2]),
                         achieved=float(c[7]), table=True)
            else:
                d = dict(row=labels[c[0]], family=c[1], fmax=float(c[3]), latency=int(c[2]),
                         achieved=float(c[7]), table=False)
        except (ValueError, IndexError):
            continue  # a design without a measurement ("–")
        out.append(d)
    if not out:
        raise ValueError(f"{path} reports no measured design")
    return out


def _segment_delays(comp) -> tuple[list[str], list[float]]:
    plan = comp.plan
    cuts = [s for s in plan.segments if not s.loop]
    final = sum(plan.stage_delays) - sum(s.delay for s in cuts)
    return [s.name for s in cuts], [s.delay for s in cuts] + [final]


def stage_counts(d: dict, eps: float = 1e-4) -> dict:
    """``d`` rebuilt with the committed model: its registered cuts, per segment and per stage
    the counts of KEYS, its size (the register bits of all its cuts) and predicted Fmax."""
    import fmax

    from exmy.hdl import timing
    from exmy.hdl.registry import build

    unit, params, *_ = fmax.ROWS[d["row"]]
    kw = {**params, "target": d["family"], "fmax": d["fmax"]}
    comp = build(unit, **kw)
    if comp.plan.latency != d["latency"]:
        raise ValueError(f"{d['row']} {d['family']} at {d['fmax']:g} MHz: placed at latency "
                         f"{comp.plan.latency}, fmax.md measured latency {d['latency']} "
                         "(fmax.md is out of date: rerun benchmarks/fmax.py)")
    names, d0 = _segment_delays(comp)
    old = timing.delay_model(d["family"])
    cols = []
    for k in KEYS:
        with delay_model_replaced(d["family"], **{k: getattr(old, k) + eps}):
            n1, d1 = _segment_delays(build(unit, **kw))
        if n1 != names:
            raise RuntimeError(f"{d['row']}: cut points move when {k} grows by {eps}")
        cols.append([(b - a) / eps for a, b in zip(d0, d1, strict=True)])
    seg_counts = np.array(cols).T  # segment x KEYS
    regs = set(comp.plan.registered) | {s.name for s in comp.plan.segments if s.fixed}
    stages, cur = [], np.zeros(len(KEYS))
    for i, row in enumerate(seg_counts):
        cur = cur + row
        if i == len(names) or names[i] in regs:
            stages.append(cur)
            cur = np.zeros(len(KEYS))
    bits = sum(s.bits for s in comp.plan.segments if not s.loop)
    return {**d, "names": names, "delays": d0, "registered": sorted(regs),
            "stages": [list(map(float, s)) for s in stages], "bits": bits,
            "placed": placed_bits(comp), "predicted": comp.plan.fmax_predicted, "comp": comp}


def placed_bits(comp) -> int:
    """The register bits of ``comp`` as placed (calibrate_delay.py's and hdl.timing's
    ``placed_size``): its ports, forced and loop registers and its registered cuts."""
    import calibrate_delay

    return calibrate_delay._placed(comp)


# --------------------------------------------------------------------------------------------
# Model forms
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Form:
    """A stage's logic is its annotated sum ``x`` (the counts times the constants), past
    ``t_knee`` at ``knee_slope``, times the size factor ``1 + size_slope *
    log2(bits / size_bits0)`` (above ``size_bits0`` only unless ``two_sided``), at least
    ``t_floor``; a period adds ``t_reg + t_stage``."""

    t_knee: float = math.inf
    knee_slope: float = 1.0
    size_slope: float = 0.0
    size_bits0: float = math.inf
    two_sided: bool = False
    t_floor: float = 0.0
    t_stage: float = 0.0

    @classmethod
    def of(cls, dm) -> Form:
        return cls(dm.t_knee, dm.knee_slope, dm.size_slope, dm.size_bits0, dm.size_two_sided,
                   dm.t_floor, dm.t_stage)

    def size(self, bits: float) -> float:
        if not self.size_slope or (bits <= self.size_bits0 and not self.two_sided):
            return 1.0
        return max(0.3, 1.0 + self.size_slope * math.log2(bits / self.size_bits0))

    def knee(self, x: float) -> float:
        return x if x <= self.t_knee else self.t_knee + self.knee_slope * (x - self.t_knee)

    def period(self, dm, stages, bits, loops=(), knee_loops=True) -> float:
        d = max(self.knee(x) for x in stages) * self.size(bits)
        for x in loops:
            d = max(d, self.knee(x) if knee_loops else x)
        return dm.t_reg + self.t_stage + max(d, self.t_floor)

    def text(self) -> str:
        size = "none" if not self.size_slope else (
            f"{self.size_slope:g} x log2(bits / {self.size_bits0:g})"
            + (", both sides" if self.two_sided else ", above only"))
        knee = ("none" if math.isinf(self.t_knee)
                else f"{self.t_knee:g} ns, slope {self.knee_slope:g}")
        return f"knee {knee}; size {size}; floor {self.t_floor:g} ns; t_stage {self.t_stage:g}"


def _grid():
    for tk in (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0):
        for sl in (0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0):
            for a in (0.0, 0.05, 0.1, 0.125, 0.15, 0.2, 0.3):
                for b0 in ((math.inf,) if a == 0 else (50, 100, 200, 300, 400, 600, 800, 1200)):
                    for two in ((False,) if a == 0 else (False, True)):
                        for fl in (0.0, 2.7):
                            for ts in (0.0, 0.1, 0.3):
                                yield Form(tk, sl, a, b0, two, fl, ts)


def errors(form: Form, dm, designs: list[tuple]) -> np.ndarray:
    """Predicted / achieved Fmax (achieved / predicted period) of ``designs``: (stage sums,
    loop sums, bits, achieved period)."""
    return np.array([per / form.period(dm, st, bits, lp, dm.knee_loops)
                     for st, lp, bits, per in designs])


def summary(e: np.ndarray) -> str:
    inside = int(np.sum((e >= 0.8) & (e <= 1.2)))
    return (f"{inside} of {len(e)} within ±20%, median {np.median(e):.2f}, "
            f"range {e.min():.2f} .. {e.max():.2f}")


def fit(dm, designs, by="sse") -> Form:
    best = None
    for form in _grid():
        e = errors(form, dm, designs)
        if by == "sse":
            key = (float(np.sum(np.log(e) ** 2)),)
        else:  # most within +-20%, then the smallest worst error
            key = (-int(np.sum((e >= 0.8) & (e <= 1.2))), float(max(e.max(), 1 / e.min())))
        if best is None or key < best[0]:
            best = (key, form)
    return best[1]


# --------------------------------------------------------------------------------------------
# Value-level arrival (--arrival)
# --------------------------------------------------------------------------------------------

def value_graph(comp) -> tuple[list[str], dict, dict]:
    """The unit with a register at every cut, read back by Yosys: per registered value
    ``(stage k, net)`` the values of earlier cuts (or inputs, stage 0) its logic reads and
    whether any logic lies between (False: passed through); the same for the outputs."""
    from exmy.hdl.verilog import to_verilog
    from exmy.synth.tools import find_tool  # the flow's Yosys, or one line naming its package

    plan = comp.plan
    cuts = [s for s in plan.segments if not s.loop]
    comp.plan = dataclasses.replace(plan, registered=frozenset(s.name for s in cuts))
    try:
        text = to_verilog(comp, "top")
    finally:
        comp.plan = plan
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "t.v").write_text(text)
        try:
            subprocess.run([find_tool("yosys"), "-q", "-p", "read_verilog t.v; hierarchy -top "
                            "top; proc; flatten; opt_clean; opt_dff -nodffe; opt_clean; "
                            "write_json t.json"], check=True, cwd=tmp, capture_output=True,
                           text=True)
        except subprocess.CalledProcessError as exc:  # one line, as run_main reports errors
            last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or ["no output"]
            raise ValueError(f"yosys failed reading {comp.module_name}: {last[0]}") from None
        except RuntimeError as exc:  # ToolNotFoundError: names the package to install
            raise ValueError(str(exc)) from None
        mod = json.loads(Path(tmp, "t.json").read_text())["modules"]["top"]
    driver, qd = {}, {}
    for name, c in mod["cells"].items():
        for p, bits in c["connections"].items():
            if c["port_directions"][p] == "output":
                driver.update({b: name for b in bits if isinstance(b, int)})
        if "dff" in c["type"]:
            qd.update(zip(c["connections"]["Q"], c["connections"]["D"], strict=True))
    inputs, outputs = {}, {}
    for pn, p in mod["ports"].items():
        for b in p["bits"]:
            if isinstance(b, int):
                if p["direction"] == "input":
                    inputs[b] = pn
                else:
                    outputs.setdefault(pn, []).append(b)
    named, value_of = {}, {}
    for nn, n in mod["netnames"].items():
        m = re.match(r"s(\d+)_", nn)
        bits = [b for b in n["bits"] if isinstance(b, int)]
        if m and bits and all(b in qd for b in bits):
            named[(int(m.group(1)), nn)] = bits
            value_of.update({b: (int(m.group(1)), nn) for b in bits})
    memo: dict = {}

    def cone(b):
        if not isinstance(b, int):
            return frozenset(), False
        if b in value_of:
            return frozenset([value_of[b]]), False
        if b in inputs:
            return frozenset([(0, inputs[b])]), False
        if b in memo:
            return memo[b]
        memo[b] = (frozenset(), True)
        c = mod["cells"].get(driver.get(b))
        if c is None:
            return frozenset(), False
        srcs = set()
        for p, bits in c["connections"].items():
            if c["port_directions"][p] == "input":
                for x in bits:
                    srcs |= cone(x)[0]
        memo[b] = (frozenset(srcs), True)
        return memo[b]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))

    def node(bits):
        srcs, logic = set(), False
        for b in bits:
            s, lg = cone(b)
            srcs |= s
            logic |= lg
        return frozenset(x for x in srcs if x[1] not in ("rst", "clk")), logic

    nodes = {k: node([qd[q] for q in bits]) for k, bits in named.items()}
    outs = {pn: node(bits) for pn, bits in outputs.items()}
    return [s.name for s in cuts], nodes, outs


def arrival(d: dict) -> tuple[float, float]:
    """(the model's longest stage as the sum of its segments, the longest at value level) of
    ``d``'s placement, both as annotated (ns)."""
    names, nodes, outs = value_graph(d["comp"])
    regs, delays = set(d["registered"]), d["delays"]
    at: dict = {}

    def start(s):  # a value's arrival where the next segment reads it
        return 0.0 if s[0] == 0 or names[s[0] - 1] in regs else at.get(s, 0.0)

    stage: dict[str, float] = {}
    for key in sorted(nodes):
        srcs, logic = nodes[key]
        at[key] = (delays[key[0] - 1] if logic else 0.0) + max(map(start, srcs), default=0.0)
        cut = names[key[0] - 1]
        if cut in regs:
            stage[cut] = max(stage.get(cut, 0.0), at[key])
    stage["output"] = max((delays[-1] if logic else 0.0) + max(map(start, srcs), default=0.0)
                          for srcs, logic in outs.values())
    chain, acc = [], 0.0
    for n, x in zip(names + ["output"], delays, strict=True):
        acc += x
        if n in regs or n == "output":
            chain.append(acc)
            acc = 0.0
    return max(chain), max(stage.values())


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrival", action="store_true",
                    help="value-level longest paths of the designs outside +-20%% (Yosys)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "model_forms.md"))
    args = ap.parse_args(argv)
    check_out(args.out)
    from exmy.hdl import timing

    t0 = time.monotonic()
    cal = json.loads(MODEL_JSON.read_text())
    designs = [stage_counts(d) for d in read_designs()]
    placed = {i: u["placed_bits"] for i, u in enumerate(cal["units"])}
    md = ["# The delay model's form, tried on fmax.md's designs (issue 13)", "",
          f"Generated by `python benchmarks/model_forms.py{' --arrival' if args.arrival else ''}`"
          f" ({time.strftime('%Y-%m-%d %H:%M')} UTC) from the committed docs/results/fmax.md "
          "(designs, placements, achieved Fmax: median of seeds 1-3) and "
          "docs/results/delay_model.json (the training designs). No synthesis: every design "
          "keeps the placement that was measured; a form that changed the model would also "
          "move placements, so its figures here say where it starts, not where it ends.", ""]
    md += ["| family | form | fitted to | training designs | fmax.md designs | fmax.md designs "
           "outside ±20% |", "|---|---|---|---|---|---|"]
    outside = []
    for fam in FAMILIES:
        dm = timing.delay_model(fam)
        coef = np.array([getattr(dm, k) for k in KEYS])
        test = [([float(np.dot(coef, s)) for s in d["stages"]], [], d["bits"],
                 1000.0 / d["achieved"]) for d in designs if d["family"] == fam]
        train = [([float(np.dot(coef[:3], s)) for s in u["stages"]],
                  [float(np.dot(coef[:3], s)) for s in (u.get("loops") or [])],
                  u["size_bits"], u["period_ns"]) for u in cal["units"] if u["family"] == fam]
        mine = [d for d in designs if d["family"] == fam]
        # the same stages with the size measured on the placement (placed_bits)
        test_p = [(st, lp, d["placed"], per) for (st, lp, _b, per), d
                  in zip(test, mine, strict=True)]
        train_p = [(st, lp, placed[i], per) for i, (st, lp, _b, per)
                   in zip([i for i, u in enumerate(cal["units"]) if u["family"] == fam], train,
                          strict=True)]
        now = Form.of(dm)
        now_train, now_test = (train_p, test_p) if dm.size_placed else (train, test)
        for d, (st, lp, bits, _per) in zip(mine, now_test, strict=True):
            got = 1000.0 / now.period(dm, st, bits, lp, dm.knee_loops)
            if abs(got / d["predicted"] - 1) > 1e-3:
                raise RuntimeError(f"{d['row']} {fam}: the counts predict {got:.1f} MHz, the "
                                   f"plan {d['predicted']:.1f}")
        e_now = errors(now, dm, now_test)
        outside += [d for d, x in zip(mine, e_now, strict=True) if not 0.8 <= x <= 1.2]
        cut, plc = "size: register bits at every cut", "size: register bits as placed"
        rows = [("committed" + (f" ({plc})" if dm.size_placed else ""), now, "(committed)",
                 now_train, now_test),
                (f"knee free + size term ({cut})", fit(dm, train), "training designs",
                 train, test),
                (f"knee free + size term ({cut})", fit(dm, train, by="count"),
                 "training designs, most within ±20%", train, test),
                (f"knee free + size term ({plc})", fit(dm, train_p), "training designs",
                 train_p, test_p),
                (f"knee free + size term ({plc})", fit(dm, train_p, by="count"),
                 "training designs, most within ±20%", train_p, test_p),
                (f"knee free + size term ({cut})", fit(dm, test, by="count"),
                 "fmax.md's designs (in sample)", train, test),
                (f"knee free + size term ({plc})", fit(dm, test_p, by="count"),
                 "fmax.md's designs (in sample)", train_p, test_p)]
        for what, form, by, tr, te in rows:
            e = errors(form, dm, te)
            out = ", ".join(f"{d['row']} latency {d['latency']} ({x:.2f})"
                            for d, x in zip(mine, e, strict=True) if not 0.8 <= x <= 1.2)
            md.append(f"| {fam} | {what}: {form.text()} | {by} | "
                      f"{summary(errors(form, dm, tr))} | {summary(e)} | {out or '–'} |")
    md += ["", "The designs outside ±20% with the committed model:", "",
           "| design | predicted / achieved |" + (
               " longest stage, sum of segments (ns) | longest at value level (ns) |"
               if args.arrival else ""),
           "|---|---|" + ("---|---|" if args.arrival else "")]
    for d in outside:
        line = (f"| {d['row']} {d['family']} latency {d['latency']} @ {d['fmax']:g} MHz | "
                f"{d['predicted'] / d['achieved']:.2f} |")
        if args.arrival:
            chain, value = arrival(d)
            line += f" {chain:.2f} | {value:.2f} |"
        md.append(line)
    md += ["", f"{len(designs)} designs, {time.monotonic() - t0:.0f} s.", ""]
    text = "\n".join(md)
    print(text)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main("model_forms", main, interrupted="nothing written")
