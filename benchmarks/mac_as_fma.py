"""The float-accumulator MAC against the FMA fed back: is SPEC 3.2's literal reading cheaper?

SPEC 3.2 describes the float-accumulator MAC as "an FMA with its output fed back", and issue 12
asks for it to be built that way. exmy's ``mac --acc-format`` has its own align-add-normalise
loop instead (hdl/mac.py; README, Architecture). This script builds the literal reading, exmy's
``fma`` unit (combinational) with ``acc`` fed back to ``c`` and a register, checks that it
computes what the ``mac`` unit computes (``exmy.golden.float_acc_mac``, bit for bit, on
Verilator, with the stimulus ``exmy simulate`` gives ``mac``), and synthesizes both at latency
1 (the loop is the whole design) in the flow of ANCHORS.md: Yosys 0.70 ``synth_ecp5 -nodsp`` /
``synth_ice40``, nextpnr 0.11 (LFE5U-85F, HX8K), ``--freq 100``, registered I/O, median of
seeds 1-3 (``--quick``: seed 1).

The fed-back FMA takes ``c = -0`` on a ``clear`` cycle (``-0 + x = x`` for every x, -0 too,
so the product is rounded once and a -0 product stays -0, as the MAC's contract says) and
loads +0 on ``clear`` without ``valid``. RNE only: the FMA has no stochastic rounding.

Run: ``python benchmarks/mac_as_fma.py [-j 2] [--quick] [--db exmy-results.sqlite]
[--vectors N]``. Results are cached in the database.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from pathlib import Path

import numpy as np
from _report import cell as _n  # benchmarks/_report.py
from _report import median_record as _median
from _report import positive_int, run_main, sweep, sweep_parser
from _report import ratio as _ratio

from exmy.synth.sweep import default_make_design

TARGETS = ("ecp5", "ice40")
#: (product operand format, accumulator format): FP8 and FP4 products into 16-bit
#: accumulators, as the cost model's float-accumulator MACs (docs/results/isofreq.md).
POINTS = (("e4m3fn", "bfloat16"), ("e4m3fn", "float16"), ("e5m2", "float16"),
          ("e2m1fn", "bfloat16"))


def _fed_back(a: str, acc: str):
    """``exmy.hdl.fma.FMA(a, a, acc, acc)`` (combinational) with ``y`` registered into
    ``acc`` and fed back to ``c``: the ``mac`` unit's ports and cycle contract."""
    from amaranth.hdl import Module, Mux, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from exmy.golden import parse_format
    from exmy.hdl.fma import FMA

    fa, facc = parse_format(a), parse_format(acc)

    class FedBackFMA(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(fa.width), "b": In(fa.width), "valid": In(1),
                              "clear": In(1), "acc": Out(facc.width)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.fma = fma = FMA(fa, fa, facc, facc, rounding="rne", latency=0)
            state = Signal(facc.width)
            neg_zero = 1 << (facc.width - 1)
            m.d.comb += [fma.a.eq(self.a), fma.b.eq(self.b),
                         fma.c.eq(Mux(self.clear, neg_zero, state)), self.acc.eq(state)]
            with m.If(self.valid):
                m.d.sync += state.eq(fma.y)
            with m.Elif(self.clear):
                m.d.sync += state.eq(0)
            return m

    return FedBackFMA()


def make_design(point: dict) -> tuple[str, str, dict]:
    """Sweep generator: ``fedback-fma`` (params ``a``, ``acc_format``) or an exmy unit."""
    if point["unit"] != "fedback-fma":
        return default_make_design(point)
    from exmy.hdl.verilog import port_table, to_verilog

    p = point["params"]
    comp = _fed_back(p["a"], p["acc_format"])
    top = f"fedback_fma_{p['a']}_{p['acc_format']}"
    text = to_verilog(comp, top)
    return text, top, port_table(comp, text)


@functools.cache
def _fingerprint() -> str:
    """exmy's hdl and golden, and this file's design code (not its report code)."""
    h = hashlib.sha256(default_make_design.fingerprint().encode())
    for fn in (_fed_back, make_design):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()


make_design.fingerprint = _fingerprint


def check_equal(a: str, acc: str, n: int, seed: int = 0,
                simulator: str = "verilator") -> str:
    """Simulate the fed-back FMA's Verilog (``exmy.sim.run_vectors``) on the stimulus
    ``exmy simulate`` gives ``mac --acc-format`` (``exmy.sim.check.stimulus_for``: its every
    product pair, accumulator-range and special-value segments, then random vectors up to
    ``n``) and compare ``acc`` with ``exmy.golden.float_acc_mac`` every cycle; raise on a
    mismatch. Returns the stimulus' description."""
    import tempfile
    import warnings

    from amaranth.hdl import UnusedElaboratable

    from exmy.golden import describe, float_acc_mac
    from exmy.hdl.mac import MAC
    from exmy.sim import run_vectors
    from exmy.sim.check import stimulus_for

    warnings.filterwarnings("ignore", category=UnusedElaboratable)  # the MAC: stimulus only
    inputs, cov = stimulus_for(MAC(a, a, acc_format=acc, latency=1), n=n, seed=seed)
    want = float_acc_mac(inputs["a"], inputs["b"], inputs["valid"], inputs["clear"], a, a,
                         acc)["acc"]
    text, top, ports = make_design({"unit": "fedback-fma", "params": {"a": a, "acc_format": acc}})
    with tempfile.TemporaryDirectory() as tmp:
        got = run_vectors(text, top, ports, inputs, ["acc"], 1, simulator, Path(tmp))["acc"]
    bad = np.nonzero(np.asarray(got, np.uint64) != np.asarray(want, np.uint64))[0]
    if bad.size:
        i = int(bad[0])
        g, w = int(got[i]), int(want[i])
        raise AssertionError(
            f"fed-back FMA {a} -> {acc} on {simulator}: {bad.size} mismatches; first at cycle "
            f"{i} (a={int(inputs['a'][i]):#x}, b={int(inputs['b'][i]):#x}, "
            f"valid={int(inputs['valid'][i])}, clear={int(inputs['clear'][i])}): acc {g:#x} "
            f"({describe(g, acc)}), golden mac {w:#x} ({describe(w, acc)})")
    return cov.describe()


def main(argv: list[str] | None = None) -> int:
    ap = sweep_parser(__doc__, TARGETS)
    ap.add_argument("--vectors", type=positive_int, default=100_000,
                    help="cycles of the equivalence check per point, corner segments "
                         "included (default 100000)")
    args = ap.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    seeds = [1] if args.quick else [1, 2, 3]

    t0 = time.monotonic()
    for a, acc in POINTS:
        t1 = time.monotonic()
        what = check_equal(a, acc, args.vectors)
        print(f"fed-back FMA {a} -> {acc}: acc equal to golden float_acc_mac on {what}, "
              f"Verilator ({time.monotonic() - t1:.0f} s)")

    designs = []
    for a, acc in POINTS:
        designs.append(("mac", {"a": a, "b": a, "acc_format": acc, "rounding": "rne",
                                "latency": 1}))
        designs.append(("fedback-fma", {"a": a, "acc_format": acc}))
    points = [{"unit": u, "params": p, "target": t, "seed": s}
              for u, p in designs for t in targets for s in seeds]
    res = sweep(points, args, make_design)
    recs = res["records"]

    print(f"\nFloat-accumulator MAC (exmy's loop) against the FMA fed back, latency 1, RNE "
          f"(median of seeds {seeds}; registered I/O; ECP5 -nodsp, iCE40; {res['ran']} "
          f"synthesized, {res['cached']} cached, {time.monotonic() - t0:.0f} s)\n")
    print("| a = b | acc | target | mac LUT | FF | Fmax | fed-back FMA LUT | FF | Fmax | "
          "LUT ratio | Fmax ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for a, acc in POINTS:
        for t in targets:
            m = _median(recs, "mac", designs[2 * POINTS.index((a, acc))][1], t)
            f = _median(recs, "fedback-fma", {"a": a, "acc_format": acc}, t)
            print(f"| {a} | {acc} | {t} | {_n(m and m['lut'])} | {_n(m and m['ff'])} | "
                  f"{_n(m and m['fmax_mhz'], 1)} | {_n(f and f['lut'])} | {_n(f and f['ff'])} | "
                  f"{_n(f and f['fmax_mhz'], 1)} | {_ratio(f and f['lut'], m and m['lut'])} | "
                  f"{_ratio(f and f['fmax_mhz'], m and m['fmax_mhz'])} |")
    return 0 if res["failed"] == 0 else 1


if __name__ == "__main__":
    run_main("mac_as_fma", main)
