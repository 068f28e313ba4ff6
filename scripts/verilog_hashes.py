"""Fingerprint the generated Verilog of a fixed grid of design points, to show that a change
of hdl/ leaves every unit's Verilog byte for byte as it was (a refactoring's check).

    python scripts/verilog_hashes.py before.json        # on the old tree
    python scripts/verilog_hashes.py after.json         # on the new tree
    python scripts/verilog_hashes.py --compare before.json after.json

Each point is ``unit {options}`` -> ``module_name sha256-prefix`` (of the Verilog and its
sidecar: ports, latency, the fmax plan's per-stage predicted delays), or the error a refused
point raises (refusals must stay the same too). The grid: every unit in latency mode at
several latencies and in fmax mode on the four targets with a delay model, the MACs' and dot
products' accumulator options (segmented, float accumulator, y), the approximate FMA's
window, 519 points (about 4 minutes on an idle core).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings

TARGETS = (("ecp5", 150), ("ice40", 100), ("gowin", 120), ("xilinx", 250))


def grid() -> list[tuple[str, dict]]:
    pts: list[tuple[str, dict]] = []

    def add(unit, **p):
        pts.append((unit, p))

    for a in ("e4m3", "e4m3fn", "e5m2", "e2m1fn", "bfloat16"):
        add("mac", a=a)
        add("mac", a=a, out="float32")
        add("mac", a=a, out="bfloat16", latency=3)
        add("mac", a=a, acc_chunk=12)
        add("mac", a=a, acc_chunk=8, out="float16", latency=4)
        for t, f in (("ecp5", 100), ("ecp5", 200), ("ice40", 150), ("gowin", 120),
                     ("xilinx", 300)):
            add("mac", a=a, target=t, fmax=f)
            add("mac", a=a, out="float32", target=t, fmax=f)
        add("mac", a=a, acc_format="bfloat16")
        add("mac", a=a, acc_format="float16", latency=3)
        add("mac", a=a, acc_format="bfloat16", target="ecp5", fmax=60)
        add("mac", a=a, acc_format="bfloat16", target="ecp5", fmax=18)
        add("mac", a=a, acc_format="float16", target="ice40", fmax=15)
        add("mac", a=a, multiplier="lmul")
        add("mac", a=a, acc_format="bfloat16", rounding="stochastic", rand_bits=8)
        add("mac", a=a, saturate_acc=True, depth=100)
    for a in ("int4", "int8", "uint8", "int12", "int16"):
        add("int-mac", a=a)
        add("int-mac", a=a, b="uint4")
        add("int-mac", a=a, latency=3)
        add("int-mac", a=a, acc_chunk=8)
        for t, f in (("ecp5", 100), ("ecp5", 250), ("ice40", 150), ("gowin", 120),
                     ("xilinx", 300)):
            add("int-mac", a=a, target=t, fmax=f)
    for e in ("e4m3", "e2m1fn", "int8"):
        add("dot", a=e, lanes=4)
        add("dot", a=e, lanes=8, out="float32")
        add("dot", a=e, lanes=4, accumulate=True)
        add("dot", a=e, lanes=4, target="ecp5", fmax=150)
        add("dot", a=e, lanes=4, accumulate=True, target="ecp5", fmax=150)
        add("dot", a=e, lanes=4, accumulate=True, target="ice40", fmax=100)
    for e in ("e4m3", "e2m1fn", "e3m2fn", "int8"):
        add("mx-dot", elem=e)
        add("mx-dot", elem=e, block=16, accumulate=True)
        add("mx-dot", elem=e, target="ecp5", fmax=150)
        add("mx-dot", elem=e, accumulate=True, target="ecp5", fmax=150)
    add("mx-dot", elem="e2m1fn", scale="e4m3", block=16)
    for u, p in (("multiplier", {"a": "e4m3"}),
                 ("multiplier", {"a": "bfloat16", "target": "ecp5", "fmax": 150}),
                 ("fma", {"a": "bfloat16", "target": "ecp5", "fmax": 100}),
                 ("fma", {"a": "e4m3", "latency": 3}),
                 ("approx-fma", {"a": "bfloat16", "granularity": 4, "target": "ecp5",
                                 "fmax": 100}),
                 ("convert", {"a": "float32", "out": "e4m3fn", "target": "ecp5", "fmax": 250}),
                 ("lmul", {"a": "e4m3fn", "target": "ecp5", "fmax": 250}),
                 ("int-multiplier", {"a": "int8", "target": "ice40", "fmax": 200})):
        add(u, **p)
    for a in ("e4m3", "e5m2", "e2m1fn", "bfloat16", "float16"):
        for lat in (0, 1, 2, 3, 5):
            add("multiplier", a=a, latency=lat)
            add("fma", a=a, latency=lat)
            add("approx-fma", a=a, granularity=4, latency=lat)
        add("multiplier", a=a, out="float32", latency=2)
        add("multiplier", a=a, rounding="stochastic", rand_bits=6, latency=2)
        add("fma", a=a, c="float32", out="float32", latency=3)
        add("approx-fma", a=a, granularity=2, window=3, latency=2)  # (refused: not k*G)
        add("approx-fma", a=a, granularity=2, window=4, latency=2)
        # fmax mode's window cap and flush (norm_cap) and a c wider than y (no floor_out)
        add("approx-fma", a=a, granularity=2, window=4, target="ecp5", fmax=150)
        add("approx-fma", a=a, granularity=4, window=8, target="ice40", fmax=100)
        add("fma", a=a, c="float32", target="ecp5", fmax=120)
        add("approx-fma", a=a, c="float32", granularity=4, target="ecp5", fmax=100)
        add("approx-fma", a=a, c="float32", granularity=2, window=4, target="gowin", fmax=90)
        for t, f in TARGETS:
            add("multiplier", a=a, target=t, fmax=f)
            add("fma", a=a, target=t, fmax=f)
            add("approx-fma", a=a, granularity=4, target=t, fmax=f)
    for a, o in (("float32", "e4m3fn"), ("bfloat16", "e2m1fn"), ("e4m3", "bfloat16"),
                 ("int8", "e4m3"), ("e4m3", "int8"), ("float16", "int16"),
                 ("int16", "bfloat16")):
        for lat in (0, 1, 2, 3):
            add("convert", a=a, out=o, latency=lat)
        add("convert", a=a, out=o, rounding="stochastic", rand_bits=8, latency=1)
        for t, f in (("ecp5", 250), ("ice40", 150)):
            add("convert", a=a, out=o, target=t, fmax=f)
    for a in ("e4m3fn", "e5m2", "e2m1fn", "bfloat16"):
        for lat in (0, 1, 2, 3):
            add("lmul", a=a, latency=lat)
            add("lmul", a=a, form="formula", offset="pam", latency=lat)
        for t, f in (("ecp5", 250), ("ice40", 200)):
            add("lmul", a=a, target=t, fmax=f)
    for e in ("e4m3", "e2m1fn", "int8"):
        for lat in (0, 1, 2, 3, 4):
            add("dot", a=e, lanes=4, latency=lat)
            add("mx-dot", elem=e, latency=lat)
    for a in ("int4", "int8", "uint8", "int16"):
        for lat in (0, 1, 2, 3):
            add("int-multiplier", a=a, latency=lat)
    return pts


def fingerprints() -> dict[str, str]:
    from amaranth.hdl import UnusedElaboratable

    from exmy.hdl.registry import build, sidecar
    from exmy.hdl.verilog import to_verilog

    warnings.simplefilter("ignore", UnusedElaboratable)  # refused points leave objects behind
    out = {}
    for unit, p in grid():
        key = f"{unit} {json.dumps(p, sort_keys=True)}"
        try:
            comp = build(unit, **p)
            top = comp.module_name
            text = to_verilog(comp, top)
            # the sidecar too: ports, latency and (fmax mode) the per-stage predicted delays
            meta = json.dumps(sidecar(comp, text, top), sort_keys=True)
            digest = hashlib.sha256(text.encode() + b"\0" + meta.encode()).hexdigest()
            out[key] = f"{top} {digest[:16]}"
        except (ValueError, TypeError) as e:  # a refusal (OutOfReach is a ValueError)
            out[key] = f"refused {type(e).__name__}: {e}"
    return out


def _load(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"verilog_hashes: cannot read {path!r}: {e}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"verilog_hashes: {path!r} is not a fingerprint file (a JSON object)")
    return data


def compare(a: str, b: str) -> int:
    old, new = _load(a), _load(b)
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    for k in diff:
        print(f"{k}\n  {a}: {old.get(k)}\n  {b}: {new.get(k)}")
    built = sum(not v.startswith("refused") for v in new.values())
    print(f"{len(new) - len(diff)} of {len(old.keys() | new.keys())} points the same "
          f"({built} built, {len(new) - built} refused in {b}); {len(diff)} differ")
    return 1 if diff else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", help="write the fingerprints to this JSON file")
    ap.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                    help="compare two fingerprint files; exit 1 when any point differs")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if not args.out:
        ap.error("give an output file or --compare OLD NEW")
    try:
        f = open(args.out, "w")  # before the minutes of work, not after
    except OSError as e:
        ap.error(f"cannot write {args.out!r}: {e.strerror}")
    try:
        with f:
            fp = fingerprints()
            json.dump(fp, f, indent=1, sort_keys=True)
    except KeyboardInterrupt:
        os.remove(args.out)
        print(f"verilog_hashes: interrupted; nothing kept ({args.out} removed)", file=sys.stderr)
        return 130
    built = sum(not v.startswith("refused") for v in fp.values())
    print(f"{len(fp)} points: {built} built, {len(fp) - built} refused -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
