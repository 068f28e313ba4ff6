"""The float-accumulator MAC as the FMA fed back against its own loop: SPEC 3.2's literal reading.

SPEC 3.2 describes the float-accumulator MAC as "an FMA with its output fed back", and issue 12
asks for it to be built that way. Since 2026-12-07 ``mac --acc-format`` with an explicit
latency is: the FMA's stages (hdl/fma.py: ``fma_product``, then ``fma_add_round`` with ``acc``
as ``c``); fmax mode keeps the MAC's own align-add-normalise loop (hdl/mac.py,
``_elaborate_float_acc``). This script synthesizes both, RNE and stochastic (R = 8), at
latency 1 (the loop is the whole design) and 2 (a register after the product: the loop alone
sets the clock) in the flow of ANCHORS.md: Yosys 0.70 ``synth_ecp5 -nodsp`` / ``synth_ice40``,
nextpnr 0.11 (LFE5U-85F, HX8K), ``--freq 100``, registered I/O, median of seeds 1-3
(``--quick``: seed 1). First it checks that the own loop, built with an explicit latency
(which the ``mac`` unit no longer builds), computes what the ``mac`` unit computes:
``exmy.golden.float_acc_mac``, bit for bit, on Verilator, with the stimulus ``exmy simulate``
gives ``mac`` (the ``mac`` unit itself is checked so by the test suite).

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


LATENCIES = (1, 2)
#: stochastic rounding: (operand format, accumulator format), rand_bits
STOCHASTIC = ((("e4m3fn", "bfloat16"), ("e2m1fn", "bfloat16")), 8)


def _own_loop(a: str, acc: str, latency: int, rounding: str = "rne",
              rand_bits: int | None = None):
    """``mac --a A --acc-format ACC --latency L`` built with the MAC's own loop, the datapath
    it keeps for fmax mode: the design the ``mac`` unit was until 2026-12-07."""
    from exmy.hdl.mac import MAC

    class OwnLoopMAC(MAC):
        def elaborate(self, platform):
            return self._elaborate_float_acc()

    return OwnLoopMAC(a, a, acc_format=acc, latency=latency, rounding=rounding,
                      rand_bits=rand_bits)


def make_design(point: dict) -> tuple[str, str, dict]:
    """Sweep generator: ``mac-own-loop`` (params as the ``mac`` unit's) or an exmy unit."""
    if point["unit"] != "mac-own-loop":
        return default_make_design(point)
    from exmy.hdl.verilog import port_table, to_verilog

    p = point["params"]
    rounding, r = p.get("rounding", "rne"), p.get("rand_bits")
    comp = _own_loop(p["a"], p["acc_format"], p["latency"], rounding, r)
    top = (f"mac_own_loop_{p['a']}_{p['acc_format']}"
           f"{'' if r is None else f'_{rounding}_r{r}'}_l{p['latency']}")
    text = to_verilog(comp, top)
    return text, top, port_table(comp, text)


@functools.cache
def _fingerprint() -> str:
    """exmy's hdl and golden, and this file's design code (not its report code)."""
    h = hashlib.sha256(default_make_design.fingerprint().encode())
    for fn in (_own_loop, make_design):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()


make_design.fingerprint = _fingerprint


def check_equal(a: str, acc: str, n: int, seed: int = 0, simulator: str = "verilator",
                rounding: str = "rne", rand_bits: int | None = None) -> str:
    """Simulate the own loop's Verilog (``exmy.sim.run_vectors``) on the stimulus
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
    kw = {"rounding": rounding, "rand_bits": rand_bits}
    inputs, cov = stimulus_for(MAC(a, a, acc_format=acc, latency=1, **kw), n=n, seed=seed)
    want = float_acc_mac(inputs["a"], inputs["b"], inputs["valid"], inputs["clear"], a, a,
                         acc, rand=inputs.get("rand"), **kw)["acc"]
    params = {"a": a, "acc_format": acc, "latency": 1,
              **({} if rand_bits is None else kw)}
    text, top, ports = make_design({"unit": "mac-own-loop", "params": params})
    with tempfile.TemporaryDirectory() as tmp:
        got = run_vectors(text, top, ports, inputs, ["acc"], 1, simulator, Path(tmp))["acc"]
    bad = np.nonzero(np.asarray(got, np.uint64) != np.asarray(want, np.uint64))[0]
    if bad.size:
        i = int(bad[0])
        g, w = int(got[i]), int(want[i])
        raise AssertionError(
            f"own loop {a} -> {acc} {rounding} on {simulator}: {bad.size} mismatches; first at "
            f"cycle "
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
    (st_points, rand_bits) = STOCHASTIC
    cases = [(a, acc, "rne", None) for a, acc in POINTS] + [
        (a, acc, "stochastic", rand_bits) for a, acc in st_points]
    for a, acc, rounding, r in cases:
        t1 = time.monotonic()
        what = check_equal(a, acc, args.vectors, rounding=rounding, rand_bits=r)
        print(f"own loop {a} -> {acc} {rounding}: acc equal to golden float_acc_mac on {what}, "
              f"Verilator ({time.monotonic() - t1:.0f} s)")

    def params(a, acc, lat, rounding, r):
        return {"a": a, "b": a, "acc_format": acc, "rounding": rounding, "latency": lat,
                **({} if r is None else {"rand_bits": r})}

    points = [{"unit": u, "params": params(a, acc, lat, rounding, r), "target": t, "seed": s}
              for a, acc, rounding, r in cases for lat in LATENCIES
              for u in ("mac-own-loop", "mac") for t in targets for s in seeds]
    res = sweep(points, args, make_design)
    recs = res["records"]

    print(f"\nFloat-accumulator MAC: its own loop against the FMA fed back (the mac unit) "
          f"(median of seeds {seeds}; registered I/O; ECP5 -nodsp, iCE40; {res['ran']} "
          f"synthesized, {res['cached']} cached, {time.monotonic() - t0:.0f} s)\n")
    print("| a = b | acc | rounding | latency | target | own loop LUT | FF | Fmax | "
          "FMA fed back LUT | FF | Fmax | LUT ratio | Fmax ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for a, acc, rounding, r in cases:
        for lat in LATENCIES:
            for t in targets:
                o = _median(recs, "mac-own-loop", params(a, acc, lat, rounding, r), t)
                f = _median(recs, "mac", params(a, acc, lat, rounding, r), t)
                rnd = rounding if r is None else f"{rounding} R={r}"
                print(f"| {a} | {acc} | {rnd} | {lat} | {t} | {_n(o and o['lut'])} | "
                      f"{_n(o and o['ff'])} | {_n(o and o['fmax_mhz'], 1)} | "
                      f"{_n(f and f['lut'])} | {_n(f and f['ff'])} | "
                      f"{_n(f and f['fmax_mhz'], 1)} | {_ratio(f and f['lut'], o and o['lut'])} | "
                      f"{_ratio(f and f['fmax_mhz'], o and o['fmax_mhz'])} |")
    return 0 if res["failed"] == 0 else 1


if __name__ == "__main__":
    run_main("mac_as_fma", main)
