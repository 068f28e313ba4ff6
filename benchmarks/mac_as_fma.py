"""The float-accumulator MAC as the FMA fed back against its own loop: SPEC 3.2's literal reading.

SPEC 3.2 describes the float-accumulator MAC as "an FMA with its output fed back", and issue 12
asks for it to be built that way. Since 2026-12-07 ``mac --acc-format`` is the FMA's stages
(hdl/fma.py: ``fma_product``, then ``fma_add_round`` with ``acc`` as ``c``): first with an
explicit latency, then in fmax mode too. Until then it had its own align-add-normalise loop,
which lives on here (``_own_loop``) as the baseline. This script synthesizes both, RNE and
stochastic (R = 8), at latency 1 (the loop is the whole design) and 2 (a register after the
product: the loop alone sets the clock) in the flow of ANCHORS.md: Yosys 0.70 ``synth_ecp5
-nodsp`` / ``synth_ice40``, nextpnr 0.11 (LFE5U-85F, HX8K), ``--freq 100``, registered I/O,
median of seeds 1-3 (``--quick``: seed 1). First it checks that the own loop, built with an
explicit latency (which the ``mac`` unit no longer builds), computes what the ``mac`` unit
computes: ``exmy.golden.float_acc_mac``, bit for bit, on Verilator, with the stimulus ``exmy
simulate`` gives ``mac`` (the ``mac`` unit itself is checked so by the test suite).

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
    """``mac --a A --acc-format ACC --latency L`` built with the MAC's own loop: the design
    the ``mac`` unit was until 2026-12-07."""
    from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed

    from exmy.golden.params import stochastic_bits
    from exmy.hdl.float import decode, normalize, product_inf, product_nan
    from exmy.hdl.mac import MAC
    from exmy.hdl.rounding import round_standard
    from exmy.hdl.util import Pipeline

    class OwnLoopMAC(MAC):
        """The MAC's own loop (hdl/mac.py until 2026-12-07): exact product (subnormals
        normalised), the larger-exponent addend placed in an ``S+G+2``-bit window
        (``S = max(product bits, p_acc)``, ``G = max(2, p_acc + 2 + R - S)`` guard bits,
        R = 1, or rand_bits for stochastic rounding), the other shifted right with the bits
        below the window ORed into a sticky bit at the window's bottom; then a full
        leading-zero normalisation and the shared rounder."""

        def elaborate(self, platform):
            m = Module()
            st = Pipeline(m)
            fa, fb, fc = self.fmt_a, self.fmt_b, self.acc_format
            v = self._inputs(m, st)

            # -- decode (subnormals normalised) and the exact product --------------------------
            da = decode(m, v["a"], fa, "a")
            db = decode(m, v["b"], fb, "b")
            pw = fa.sig_bits + fb.sig_bits
            prod = Signal(pw, name="s0_product")  # leading one at pw-1 or pw-2 (or 0)
            m.d.comb += prod.eq(da.sig * db.sig)
            lo = fa.emin - fa.man_bits + fb.emin - fb.man_bits - 2
            hi = fa.emax + fb.emax + 2
            pexp = Signal(range(lo, hi + 1), name="s0_exp")  # weight of prod's top bit
            m.d.comb += pexp.eq(da.exp + db.exp + 1)
            pnan = Signal(name="s0_is_nan")
            pinf = Signal(name="s0_is_inf")
            pzero = Signal(name="s0_is_zero")
            m.d.comb += [
                pnan.eq(product_nan(da, db)),
                pinf.eq(product_inf(da, db, pnan)),
                pzero.eq((da.is_zero | db.is_zero) & ~pnan & ~pinf),
            ]
            x = {"prod": prod, "exp": pexp, "sign": da.sign ^ db.sign, "nan": pnan, "inf": pinf,
                 "zero": pzero, "valid": v["valid"], "clear": v["clear"], "rand": v["rand"]}
            if "product" in self.cut_points:
                x = st.register(x, "p_")

            # -- the loop: acc decoded, the product as the other addend ------------------------
            acc = Signal(fc.width, name="acc_reg")
            dc = decode(m, acc, fc, "c")
            valid, clear = x["valid"], x["clear"]
            # valid=0 makes the product +0; clear makes acc "absent" (a zero whose sign is the
            # product's, so a -0 product loads -0 and clear with valid=0 loads +0)
            ps = Signal(name="p_sign")
            pz = Signal(name="p_zero")
            pn = Signal(name="p_nan")
            pi = Signal(name="p_inf")
            m.d.comb += [ps.eq(x["sign"] & valid), pz.eq(x["zero"] | ~valid),
                         pn.eq(x["nan"] & valid), pi.eq(x["inf"] & valid)]
            cs = Signal(name="c_sign")
            cz = Signal(name="c_zero")
            cn = Signal(name="c_nan")
            ci = Signal(name="c_inf")
            m.d.comb += [cs.eq(Mux(clear, ps, dc.sign)), cz.eq(dc.is_zero | clear),
                         cn.eq(dc.is_nan & ~clear), ci.eq(dc.is_inf & ~clear)]

            # -- align: larger-exponent addend on top of the window, the other shifted right ---
            pc = fc.sig_bits
            S = max(pw, pc)
            R = stochastic_bits(self.rounding, self.rand_bits)
            G = max(2, pc + 2 + max(R, 1) - S)
            N = S + G + 2  # carry | S bits | G guard bits | sticky
            xp = Signal(S, name="al_p_sig")
            xc = Signal(S, name="al_c_sig")
            m.d.comb += [
                xp.eq(Mux(pz, 0, x["prod"] << (S - pw))),
                xc.eq(Mux(cz, 0, dc.sig << (S - pc))),
            ]
            ec = dc.exp
            swap = Signal(name="al_swap")  # acc is the larger addend
            m.d.comb += swap.eq(pz | (~cz & (ec > x["exp"])))
            clo = fc.emin - fc.man_bits - 1
            span = max(hi - clo, fc.emax - lo) + 1
            d = Signal(range(-span, span + 1), name="al_diff")
            m.d.comb += d.eq(Mux(swap, ec - x["exp"], x["exp"] - ec))
            dcap = S + G
            dd = Signal(range(dcap + 1), name="al_shift")
            m.d.comb += dd.eq(Mux(d > dcap, dcap, d[: len(dd)]))
            big = Mux(swap, xc, xp)
            small = Signal(S, name="al_small")
            m.d.comb += small.eq(Mux(swap, xp, xc))
            sig_big = Mux(swap, cs, ps)
            sub = Signal(name="al_sub")
            m.d.comb += sub.eq(ps ^ cs)
            kept = Signal(S + G, name="al_small_kept")
            m.d.comb += kept.eq(Cat(Const(0, G), small) >> dd)
            # bits shifted below window position 1 (positions < dd of the unshifted vector)
            lost = Signal(name="al_sticky")
            below = ~(Const((1 << (S + G)) - 1, S + G) << dd)[: S + G]
            m.d.comb += lost.eq((Cat(Const(0, G), small) & below) != 0)
            bigw = Cat(Const(0, G + 1), big)  # positions 0..N-2
            smallw = Cat(lost, kept)
            s = Signal(signed(N + 1), name="add_sum")
            m.d.comb += s.eq(Mux(sub, bigw - smallw, bigw + smallw))
            sneg = s[N]
            mag = Signal(N, name="add_mag")
            m.d.comb += mag.eq(Mux(sneg, -s, s)[:N])
            ew = max(abs(lo), abs(hi), abs(fc.emin - fc.man_bits - 1),
                     abs(fc.emax)).bit_length() + 3
            top = Signal(signed(ew), name="add_top_exp")  # weight of window bit N-1
            m.d.comb += top.eq(Mux(swap, ec, x["exp"]) + 1)

            # -- normalise and round into acc_format (the shared rounder) ----------------------
            nsig, nexp = normalize(m, mag, top, "nrm")
            nan = Signal(name="res_nan")
            inf = Signal(name="res_inf")
            m.d.comb += [
                nan.eq(pn | cn | (pi & ci & (ps != cs))),
                inf.eq((pi | ci) & ~nan),
            ]
            sign = Signal(name="res_sign")
            with m.If(inf):
                m.d.comb += sign.eq(Mux(pi, ps, cs))
            with m.Elif(mag == 0):  # exact zero: +0 unless both addends are -0
                m.d.comb += sign.eq(pz & cz & ps & cs)
            with m.Else():
                m.d.comb += sign.eq(sig_big ^ sneg)
            res = round_standard(
                m, fc, sign=sign, sig=nsig, exp=nexp, is_nan=nan, is_inf=inf, rand=x["rand"],
                rounding=self.rounding, saturate=self.saturate, name="acc_rnd",
            )
            with m.If(valid | clear):
                m.d.sync += acc.eq(res)
            m.d.comb += self.acc.as_value().eq(acc)
            return m

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
