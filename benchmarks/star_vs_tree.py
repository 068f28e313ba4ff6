"""One ``*`` against exmy's partial-product tree: the LUTs and the delay of a significand or
integer product as Yosys maps ``*`` without DSPs, and as ``exmy.hdl.arith.tree_multiply``
builds it (AND partial products summed by a binary tree of carry-chain adders), on each
family. It decides ``DelayModel.star_max`` (hdl/timing.py): how wide a product fmax mode may
still keep as one ``*`` where the delay model says it fits the period.

Designs, combinational between the flow's I/O registers: ``int-multiplier`` (signed and
unsigned integers) and ``multiplier`` (float, exact product) built twice:

- ``*``: the unit with an explicit latency 0 (one ``*``, the Verilog fmax mode keeps where a
  ``*`` fits the period);
- tree: the unit placed by ecp5's delay model for 10 MHz (latency 0), with ``star_max`` set
  to 0 while it is generated, so that every width is built as the tree. The same Verilog is
  synthesized for every family.

Flow: Yosys 0.70 ``synth_ecp5 -nodsp`` / ``synth_ice40`` / ``synth_gowin -nodsp``, nextpnr
LFE5U-85F / HX8K / GW1N-9C, ``--freq 100``, registered I/O; LUT and carry cells from seed 1,
Fmax the median of the seeds (none on gowin: nextpnr-gowin does not time paths through its
carry chains).

Run: ``nice -n 5 python benchmarks/star_vs_tree.py [-j 2] [--seeds 1-3]
[--db build/star_vs_tree.sqlite] [--out docs/results/star_vs_tree.md]`` (and its .json: the
measurements, which tests/test_star_vs_tree.py checks ``star_max`` against); points already
in the database cost nothing.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

from _report import (
    cell,
    delay_model_replaced,
    measurement_args,
    median_record,
    ratio,
    run_main,
    sweep,
    write_report,
)

ROOT = Path(__file__).resolve().parent.parent
DESIGNS = (
    ("int-multiplier", "int4"), ("int-multiplier", "int8"), ("int-multiplier", "uint8"),
    ("int-multiplier", "int12"), ("int-multiplier", "int16"),
    ("multiplier", "e4m3"), ("multiplier", "bfloat16"), ("multiplier", "float16"),
)
FAMILIES = ("ecp5", "ice40", "gowin")


#: placed for a clock, as exmy does (its model keeps a ``*`` that fits, on ecp5 up to
#: ``star_max`` bits) and with ``star_max`` 0 (the tree): (family, unit, options, MHz)
PLACED = (
    ("ice40", "int-multiplier", {"a": "int8"}, 100),
    ("ice40", "int-multiplier", {"a": "int16"}, 50),
    ("ice40", "multiplier", {"a": "bfloat16", "out": "bfloat16"}, 50),
    ("ice40", "int-mac", {"a": "int8"}, 100), ("ice40", "mac", {"a": "e2m5-none"}, 50),
    ("ecp5", "mac", {"a": "e4m3-none"}, 100),  # a 4-bit product, at ecp5's star_max
)


def _with_star_max(family: str, star_max: int | None, build):
    """``build()`` with ``family``'s ``star_max`` replaced (None: as committed)."""
    if star_max is None:
        return build()
    with delay_model_replaced(family, star_max=star_max):
        return build()


def make_design(point: dict) -> tuple[str, str, dict]:
    """The point's design by ``params["form"]``: "star" (explicit latency 0: one ``*``),
    "tree" (placed by ecp5's model for 10 MHz with ``star_max`` 0: the tree), "placed-star"
    / "placed-tree" (placed on the point's target for ``params["fmax"]`` as committed / with
    ``star_max`` 0)."""
    from exmy.hdl.registry import build_verilog

    unit = point["unit"]
    opts = {k: v for k, v in point["params"].items() if k != "form"}
    form = point["params"]["form"]
    if form == "star":
        return build_verilog(unit, {"a": opts["a"], "latency": 0})
    if form.startswith("placed-"):
        fam = point["target"]
        return _with_star_max(fam, 0 if form == "placed-tree" else None,
                              lambda: build_verilog(unit, {**opts, "target": fam}))
    v, top, ports = _with_star_max("ecp5", 0, lambda: build_verilog(
        unit, {"a": opts["a"], "target": "ecp5", "fmax": 10.0}))
    if "_mul_l0_0" not in v:
        raise RuntimeError(f"{unit} {opts['a']}: the tree form has no partial-product tree")
    return v, top, ports


def _fingerprint() -> str:
    from exmy.synth.sweep import default_make_design

    return "star_vs_tree/" + default_make_design.fingerprint()


make_design.fingerprint = _fingerprint


def main(argv: list[str] | None = None) -> int:
    args = measurement_args(__doc__, argv, seeds="1-3",
                            db=ROOT / "build" / "star_vs_tree.sqlite",
                            out=ROOT / "docs" / "results" / "star_vs_tree.md")
    from exmy.hdl.registry import build
    from exmy.synth.tools import tool_versions

    t0 = time.monotonic()
    points = [{"unit": u, "params": {"a": a, "form": f}, "target": fam, "seed": s}
              for u, a in DESIGNS for f in ("star", "tree") for fam in FAMILIES
              for s in args.seeds]
    placed = [{"unit": u, "params": {**o, "fmax": float(f), "form": form}, "target": fam,
               "seed": s, "freq_mhz": float(f)}
              for fam, u, o, f in PLACED for form in ("placed-star", "placed-tree")
              for s in args.seeds]
    res = sweep(points + placed, args, make_design=make_design)
    recs = res["records"]

    def fmax(m: dict | None, fam: str) -> str:
        # (none on gowin: nextpnr-gowin does not time its carry chains)
        return "-" if fam == "gowin" or m is None else cell(m["fmax_mhz"], 1)

    tv = tool_versions(["yosys", "nextpnr-ecp5", "nextpnr-ice40", "nextpnr-gowin"])
    cmd = "nice -n 5 python benchmarks/star_vs_tree.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    seeds = ", ".join(map(str, args.seeds))
    md = ["# One `*` against the partial-product tree, without DSPs", "",
          f"Generated by `{cmd.strip()}` ({time.strftime('%Y-%m-%d %H:%M')} UTC; "
          f"{', '.join(f'{k} {v}' for k, v in tv.items())}). Method: the docstring of "
          f"benchmarks/star_vs_tree.py. LUT, carry and Fmax: median of seeds {seeds} (no Fmax "
          "on gowin: nextpnr-gowin does not time paths through its carry chains, ALU cells; "
          "the trees came out with no register-to-register path or implausible figures).", "",
          "| design | family | `*` LUT | tree LUT | tree / `*` | `*` carry | tree carry | "
          "`*` Fmax | tree Fmax |",
          "|---|---|---|---|---|---|---|---|---|"]
    data = []
    for u, a in DESIGNS:
        for fam in FAMILIES:
            ms, mt = (median_record(recs, u, {"a": a, "form": f}, fam) for f in ("star", "tree"))
            ls, lt = (None if m is None else m["lut"] for m in (ms, mt))
            md.append(f"| {u} {a} | {fam} | {cell(ls)} | {cell(lt)} | {ratio(lt, ls)} | "
                      f"{cell(ms and ms['carry'])} | {cell(mt and mt['carry'])} | "
                      f"{fmax(ms, fam)} | {fmax(mt, fam)} |")
            data.append({"unit": u, "a": a, "family": fam, "star_lut": ls, "tree_lut": lt,
                         "star_fmax_mhz": fmax(ms, fam), "tree_fmax_mhz": fmax(mt, fam)})
    md += ["", "Placed for a clock (`--target T --fmax F`, nextpnr aimed at F): as exmy places "
           "it (a `*` that fits the period stays one `*`: on iCE40 at any width, on ECP5 up to "
           f"`star_max` bits) and with the tree (`star_max` 0); medians of seeds {seeds}.", "",
           "| design | target | F (MHz) | `*`: latency, LUT + FF, Fmax | "
           "tree: latency, LUT + FF, Fmax | tree / `*` LUT+FF |", "|---|---|---|---|---|---|"]
    placed_rows = []
    for fam, u, o, f in PLACED:
        cells, sizes = [], []
        for form in ("placed-star", "placed-tree"):
            m = median_record(recs, u, {**o, "fmax": float(f), "form": form, "target": fam},
                              fam)  # (a sweep adds the placement's target to fmax params)
            if m is None:
                cells.append("-")
                sizes.append(None)
                continue
            lat = _with_star_max(fam, 0 if form == "placed-tree" else None, functools.partial(
                build, u, **o, target=fam, fmax=float(f))).latency
            sizes.append(m["lut"] + m["ff"])
            cells.append(f"{lat}, {cell(m['lut'])} + {cell(m['ff'])}, {cell(m['fmax_mhz'], 1)}")
            placed_rows.append({"family": fam, "unit": u, "a": o["a"], "fmax": f,
                                "form": form[7:], "lut": m["lut"], "ff": m["ff"],
                                "fmax_mhz": round(m["fmax_mhz"], 1), "latency": lat})
        md.append(f"| {u} {o['a']} | {fam} | {f} | {cells[0]} | {cells[1]} | "
                  f"{ratio(sizes[1], sizes[0])} |")
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"seeds": args.seeds, "tools": tv, "rows": data, "placed": placed_rows},
        indent=1) + "\n")
    return write_report(md, res, t0, args.out)


if __name__ == "__main__":
    run_main("star_vs_tree.py", main)
