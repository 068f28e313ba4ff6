"""Time of ``exmy evaluate`` per configuration family on the full sentence set.

Usage::

    .venv/bin/python benchmarks/evaluate_speed.py [--sentences N] [--out FILE.json] [KEY ...]

Runs one configuration per accumulation/scaling family (or the given configuration keys, as
``exmy evaluate --list`` prints them) on the evaluation set, serially, after loading the model,
the calibration and the float32 baseline once (their time is reported apart), and prints and
writes the wall time of each. numba kernels are compiled (or loaded from their cache) by a
warm-up on 3 sentences first, so the times are steady-state. The issue's target is under
3 minutes per configuration on 2 cores; the numbers depend on what else runs on the machine,
so the output records the load average beside each time, and the CPU time (user + system,
all threads of the process): on a shared machine the wall time measures the other jobs too,
while CPU / 2 is what two otherwise idle cores would need at full parallel efficiency (a
lower bound of the idle wall time; the serial numpy steps keep it from being reached).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _report import positive_int, run_main  # benchmarks/_report.py

FAMILIES = [
    "w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,acc=exact",
    "w=int8,a=int8,scaling=channel,product=exact,acc=exact",
    "w=e5m2,a=e5m2,scaling=channel,product=exact,acc=exact",
    "w=e2m1fn,a=e2m1fn,scaling=mx,product=exact,acc=exact",
    "w=e2m1fn,a=e2m1fn,scaling=nvfp4,product=exact,acc=exact",
    "w=e4m3fn,a=e4m3fn,scaling=channel,product=lmul,acc=exact",
    "w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,acc=bfloat16",
    "w=bfloat16,a=bfloat16,scaling=channel,product=exact,acc=approx-fma,G=4",
]


def parse_key(key: str):
    from exmy.evaluate import Config

    kv = dict(item.split("=", 1) for item in key.split(",") if "=" in item)
    missing = [k for k in ("w", "a", "scaling", "product", "acc") if k not in kv]
    if missing:
        raise ValueError(f"configuration key {key!r} lacks {', '.join(missing)}; write it as "
                         f"{FAMILIES[0]}[,G=4]")
    return Config(
        kv["w"], kv["a"], scaling=kv["scaling"], product=kv["product"], acc=kv["acc"],
        granularity=int(kv.get("G", 4)),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("keys", nargs="*", help="configuration keys (default: one per family)")
    ap.add_argument("--sentences", type=positive_int,
                    help="default: the whole evaluation set")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args()
    from exmy.evaluate.run import Evaluator

    configs = [parse_key(k) for k in (args.keys or FAMILIES)]
    t0 = time.perf_counter()
    ev = Evaluator(args.sentences)
    _ = ev.reference, ev.amax
    setup = time.perf_counter() - t0
    warm = Evaluator(3, model=ev.model)
    for c in configs:  # compile / load the numba kernels
        warm.evaluate(c)
    rows = []
    print(f"set-up (model, calibration, float32 baseline): {setup:.1f} s; "
          f"{len(ev.sentences)} sentences, {sum(len(i) for i in ev.ids)} tokens", flush=True)
    for c in configs:
        load0 = os.getloadavg()[0]
        cpu0 = time.process_time()
        rec = ev.evaluate(c)
        rec["cpu_seconds"] = round(time.process_time() - cpu0, 3)
        rec["key"] = c.key
        rec["loadavg_1min"] = round(max(load0, os.getloadavg()[0]), 2)
        rows.append(rec)
        print(f"{c.key}: {rec['seconds']:.1f} s wall, {rec['cpu_seconds']:.1f} s CPU "
              f"(load average {rec['loadavg_1min']:.1f}), cosine mean "
              f"{rec['cosine_mean']:.6f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"setup_seconds": setup, "cpus": os.cpu_count(), "rows": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    run_main("evaluate_speed", main, interrupted="nothing was written")
