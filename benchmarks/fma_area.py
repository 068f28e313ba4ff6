"""FMA against the approximate-normalization FMA (SPEC 3.3): FPGA area and Fmax, in one run.

Same flow as ANCHORS.md: Yosys 0.70 ``synth_ecp5 -nodsp`` (default wide-LUT mapping) and
``synth_ice40``, nextpnr 0.11 (ECP5 LFE5U-85F, iCE40 HX8K), ``--freq 100``, inputs and
outputs registered (FFs counted), median of seeds 1-3 (``--quick``: seed 1).

1. ``fma`` vs ``approx-fma`` with G = 2, 4 and 8 (no window) and G = 4, K = 16 for bfloat16
   and E4M3FN (a, b, c and y in one format): LUT4, FF, Fmax and the ratios approx / exact.
   The seed paper (Alexandridis et al. 2024) reports ~16% area saving for bfloat16 (ASIC).
   Also the FMA with a one-level normalizer (a full-width leading-zero count and shift, the
   textbook design: ``FMA_COARSE = 1``), the baseline such savings are usually quoted against;
   exmy's ``fma`` normalises in two levels (4-bit groups, then a narrow fine shift).
2. Where the area is: the significand multiplier alone (the one ``*``) and the back end that
   approximate normalization changes (``exmy.hdl.fma_norm.normalize_round``: normalization,
   rounding, encoding, synthesized on its own from the adder's magnitude), as shares of the
   whole unit.
3. exmy's FMA against HardFloat's (ANCHORS.md numbers, measured with this flow): e4m3 (IEEE
   style), bfloat16, float16, RNE, combinational. Goal: LUT ratio <= 0.9.

Run: ``python benchmarks/fma_area.py [-j 2] [--quick] [--db exmy-results.sqlite]``. Results
are cached in the database (a rerun synthesizes only what changed).
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path

from _report import cell as _n  # benchmarks/_report.py
from _report import median_record as _median
from _report import ratio as _ratio
from _report import run_main, sweep, sweep_parser

from exmy.synth.sweep import default_make_design

TARGETS = ("ecp5", "ice40")
FORMATS = ("bfloat16", "e4m3fn")
GRANULARITIES = (2, 4, 8)
#: ApproxFMA points: (G, K) - every granularity without a window, and one windowed point
VARIANTS = [(g, None) for g in GRANULARITIES] + [(4, 16)]
#: ANCHORS.md, HardFloat FMA with this flow: (ECP5 LUT4, FF, ECP5 Fmax MHz, iCE40 LUT4)
HARDFLOAT_FMA = {
    "e4m3": (406, 32, 24, 426),
    "bfloat16": (933, 64, 20, 966),
    "float16": (1601, 64, 19, 1302),
}
PAPER_SAVING = 0.16


# --------------------------------------------------------------------------------------------
# Designs: exmy units, plus the pieces of section 2
# --------------------------------------------------------------------------------------------

def _piece(kind: str, fmt: str, granularity: int | None, coarse: int = 4):
    """The significand multiplier (``mul``) or the back end (``back``) of the FMA of ``fmt``
    (a, b, c, y in ``fmt``) as a component of its own; ``coarse``: the exact normalizer's
    group size (1: one level)."""
    from amaranth.hdl import Module, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from exmy.golden import parse_format
    from exmy.hdl.fma import FMA_CUTS, fma_window_bits
    from exmy.hdl.fma_norm import normalize_round
    from exmy.hdl.timing import delay_model
    from exmy.hdl.util import Pipeline

    f = parse_format(fmt)
    p = f.sig_bits

    class Mul(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(p), "b": In(p), "y": Out(2 * p)})

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.y.eq(self.a * self.b)
            return m

    r_lo, r_hi = 2 * f.emin + 1, 2 * f.emax + 4

    class Back(wiring.Component):
        def __init__(self):
            w = fma_window_bits(f, f, f, f, granularity or 1)
            super().__init__({
                "mag": In(w), "sticky": In(1), "sign": In(1),
                "r_w": In(signed(max(abs(r_lo), abs(r_hi)).bit_length() + 1)),
                "nan": In(1), "inf": In(1), "y": Out(f.width),
            })

        def elaborate(self, platform):
            m = Module()
            y = normalize_round(
                m, f, mag=self.mag, sticky=self.sticky, sign=self.sign, r_w=self.r_w,
                is_nan=self.nan, is_inf=self.inf, r_range=(r_lo, r_hi), floor_out=True,
                granularity=granularity, coarse=coarse,
                pipe=Pipeline(m, 0, list(FMA_CUTS)), dm=delay_model("ecp5"),
            )
            m.d.comb += self.y.eq(y)
            return m

    return Mul() if kind == "mul" else Back()


def make_design(point: dict) -> tuple[str, str, dict]:
    """Sweep generator: ``piece:mul`` / ``piece:back`` (params ``fmt``, ``granularity``),
    ``piece:back1`` / ``piece:fma1`` (the back end / the whole FMA with a one-level
    normalizer: ``FMA_COARSE = 1``, a full-width leading-zero count and shift, the textbook
    design approximate normalization is usually compared with) or an exmy unit."""
    unit = point["unit"]
    if unit.startswith("piece:"):
        from exmy.hdl import fma as hdl_fma
        from exmy.hdl.verilog import port_table, to_verilog

        class OneLevelFMA(hdl_fma.FMA):
            coarse = 1

        kind = unit[len("piece:"):]
        params = point["params"]
        if kind == "fma1":
            f = params["fmt"]
            comp = OneLevelFMA(f, f, f, f)
        else:
            comp = _piece(kind.rstrip("1"), params["fmt"], params.get("granularity"),
                          coarse=1 if kind.endswith("1") else hdl_fma.FMA_COARSE)
        top = f"{kind}_{params['fmt']}_g{params.get('granularity') or 0}"
        text = to_verilog(comp, top)
        return text, top, port_table(comp, text)
    return default_make_design(point)


@functools.cache
def _fingerprint() -> str:
    h = hashlib.sha256(default_make_design.fingerprint().encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


make_design.fingerprint = _fingerprint


def _approx_params(base: dict, g: int, k: int | None) -> dict:
    return {**base, "granularity": g} if k is None else {**base, "granularity": g, "window": k}


def _unit_designs() -> list[tuple[str, dict]]:
    out = []
    for f in FORMATS:
        base = {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}
        out.append(("fma", base))
        out += [("approx-fma", _approx_params(base, g, k)) for g, k in VARIANTS]
        out.append(("piece:fma1", {"fmt": f}))
    for f in HARDFLOAT_FMA:
        out.append(("fma", {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}))
    return out


def _piece_designs() -> list[tuple[str, dict]]:
    out = []
    for f in FORMATS:
        out.append(("piece:mul", {"fmt": f}))
        out.append(("piece:back", {"fmt": f}))
        out.append(("piece:back1", {"fmt": f}))
        out += [("piece:back", {"fmt": f, "granularity": g}) for g in GRANULARITIES]
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sweep_parser(__doc__, TARGETS).parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    seeds = [1] if args.quick else [1, 2, 3]

    t0 = time.monotonic()
    points = [{"unit": u, "params": p, "target": t, "seed": s}
              for u, p in _unit_designs() for t in targets for s in seeds]
    points += [{"unit": u, "params": p, "target": t, "seed": 1}
               for u, p in _piece_designs() for t in targets]
    res = sweep(points, args, make_design)
    recs = res["records"]

    print(f"\nFMA vs approximate-normalization FMA (median of seeds {seeds}; registered I/O; "
          f"ECP5 -nodsp, iCE40; {res['ran']} synthesized, {res['cached']} cached, "
          f"{time.monotonic() - t0:.0f} s)\n")
    rows = [["format", "target", "unit", "LUT4", "FF", "Fmax MHz", "LUT vs fma",
             "Fmax vs fma", "LUT vs one-level"]]
    savings, savings1 = {}, {}
    for f in FORMATS:
        base = {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}
        for t in targets:
            e = _median(recs, "fma", base, t)
            e1 = _median(recs, "piece:fma1", {"fmt": f}, t)
            rows.append([f, t, "fma", _n(e and e["lut"]), _n(e and e["ff"]),
                         _n(e and e["fmax_mhz"], 1), "1.00", "1.00",
                         _ratio(e and e["lut"], e1 and e1["lut"])])
            rows.append([f, t, "fma, one-level normalizer", _n(e1 and e1["lut"]),
                         _n(e1 and e1["ff"]), _n(e1 and e1["fmax_mhz"], 1),
                         _ratio(e1 and e1["lut"], e and e["lut"]),
                         _ratio(e1 and e1["fmax_mhz"], e and e["fmax_mhz"]), "1.00"])
            for g, kw in VARIANTS:
                a = _median(recs, "approx-fma", _approx_params(base, g, kw), t)
                label = f"approx-fma G={g}" + (f" K={kw}" if kw else "")
                rows.append([f, t, label, _n(a and a["lut"]), _n(a and a["ff"]),
                             _n(a and a["fmax_mhz"], 1), _ratio(a and a["lut"], e and e["lut"]),
                             _ratio(a and a["fmax_mhz"], e and e["fmax_mhz"]),
                             _ratio(a and a["lut"], e1 and e1["lut"])])
                if a and e and a["lut"] and e["lut"]:
                    savings[(f, t, g, kw)] = 1 - a["lut"] / e["lut"]
                if a and e1 and a["lut"] and e1["lut"]:
                    savings1[(f, t, g, kw)] = 1 - a["lut"] / e1["lut"]
    print(_table(rows))
    if "bfloat16" in FORMATS and savings:
        best = max((v for (f, *_), v in savings.items() if f == "bfloat16"), default=None)
        best1 = max((v for (f, *_), v in savings1.items() if f == "bfloat16"), default=None)
        if best is not None:
            print(f"\nbfloat16: best approximate-normalization LUT saving against exmy's fma "
                  f"{best:+.1%}, against an FMA with a one-level normalizer "
                  f"{'-' if best1 is None else f'{best1:+.1%}'} (the seed paper: "
                  f"{PAPER_SAVING:.0%}, ASIC area).")

    print("\nWhere the area is (seed 1; pieces synthesized on their own with registered I/O; "
          "their LUTs as a share of the whole unit's; Fmax of the piece alone):\n")
    rows = [["format", "target", "piece", "LUT4", "share of unit", "Fmax MHz"]]
    for f in FORMATS:
        base = {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}
        for t in targets:
            whole = _median(recs, "fma", base, t)
            for label, unit, params, ref in (
                ("significand multiplier", "piece:mul", {"fmt": f}, whole),
                ("fma back end (normalize, round, encode)", "piece:back", {"fmt": f}, whole),
                ("fma back end, one-level normalizer", "piece:back1", {"fmt": f},
                 _median(recs, "piece:fma1", {"fmt": f}, t)),
            ) + tuple(
                (f"approx G={g} back end", "piece:back", {"fmt": f, "granularity": g},
                 _median(recs, "approx-fma", _approx_params(base, g, None), t))
                for g in GRANULARITIES
            ):
                r = _median(recs, unit, params, t)
                rows.append([f, t, label, _n(r and r["lut"]),
                             _ratio(r and r["lut"], ref and ref["lut"]),
                             _n(r and r["fmax_mhz"], 1)])
    print(_table(rows))

    print("\nexmy FMA vs HardFloat's FMA (ANCHORS.md; combinational, RNE; goal LUT ratio <= "
          "0.9):\n")
    rows = [["format", "exmy ECP5 LUT", "HF ECP5 LUT", "ratio", "exmy Fmax", "HF Fmax",
             "ratio", "exmy iCE40 LUT", "HF iCE40 LUT", "ratio"]]
    for f, (hl, _hff, hfm, hil) in HARDFLOAT_FMA.items():
        p = {"a": f, "b": f, "c": f, "out": f, "rounding": "rne"}
        e = _median(recs, "fma", p, "ecp5") if "ecp5" in targets else None
        i = _median(recs, "fma", p, "ice40") if "ice40" in targets else None
        rows.append([f, _n(e and e["lut"]), str(hl), _ratio(e and e["lut"], hl),
                     _n(e and e["fmax_mhz"], 1), str(hfm), _ratio(e and e["fmax_mhz"], hfm),
                     _n(i and i["lut"]), str(hil), _ratio(i and i["lut"], hil)])
    print(_table(rows))
    return 0 if res["failed"] == 0 else 1


if __name__ == "__main__":
    run_main("fma_area", main)
