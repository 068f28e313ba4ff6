"""Peak memory of ``exmy simulate`` against the number of vectors (batched, bounded memory).

Runs ``exmy simulate UNIT ... --simulator verilator --vectors N`` as a child process for each
N and prints its peak memory two ways: the largest resident set of any one process of the run
(``ru_maxrss`` from ``wait4``: the exmy process or the simulator it starts) and the largest sum
over the whole process tree, sampled every 0.1 s from /proc (exmy and the simulator run at the
same time). The baseline is N = 10^5 measured in the same run; each row gives the ratio to
it. A run longer than ``--limit`` seconds is interrupted with SIGINT (Ctrl-C) and its row says
how many vectors it had checked (exmy's one-line message); its memory is the peak until then.

    .venv/bin/python benchmarks/sim_memory.py [--vectors 1e7 1e8] [--limit 900]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import run_main  # benchmarks/_report.py

#: the unit measured: a float32 -> E4M3FN converter (small, one input port)
UNIT = ["convert", "--a", "float32", "--out", "e4m3fn"]
BASELINE = 100_000


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, KiB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            status = Path(f"/proc/{d}/status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(d)] = int(line.split()[1])
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def measure(n: int, build_dir: Path, limit: float) -> dict:
    exmy = Path(sys.executable).with_name("exmy")
    cmd = [str(exmy), "simulate", *UNIT, "--simulator", "verilator", "--vectors", str(n),
           "--build-dir", str(build_dir)]
    t0 = time.monotonic()
    # SIGINT must reach exmy's handler even when this script runs in the background (where
    # the shell starts it, and so its children, with SIGINT ignored)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    peak_tree = 0
    interrupted = False
    while True:
        try:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            break
        peak_tree = max(peak_tree, _tree_rss_kib(proc.pid))
        if not interrupted and time.monotonic() - t0 > limit:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        time.sleep(0.1)
    seconds = time.monotonic() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    lines = [x for x in (out + err).splitlines() if x.strip() and not x.startswith("  ")]
    return {"n": n, "seconds": seconds, "maxrss_mib": ru.ru_maxrss / 1024,
            "tree_mib": peak_tree / 1024, "code": code,
            "said": lines[-1] if lines else "", "interrupted": interrupted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=float, nargs="+", default=[1e7, 1e8])
    ap.add_argument("--limit", type=float, default=900.0,
                    help="seconds before a run is interrupted with SIGINT (default 900)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="exmy-simmem-") as tmp:
        bdir = Path(tmp) / "build"
        measure(1000, bdir, args.limit)  # build the simulator once (not measured)
        rows = [measure(BASELINE, bdir, args.limit)]
        for n in args.vectors:
            rows.append(measure(int(n), bdir, args.limit))
    base = rows[0]
    print(f"exmy simulate {' '.join(UNIT)} --simulator verilator; baseline {BASELINE:,} "
          f"vectors in the same run")
    print()
    print("| vectors | seconds | peak RSS, one process (MiB) | x baseline | peak RSS, process "
          "tree (MiB) | x baseline | exit | exmy said |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:,} | {r['seconds']:.0f} | {r['maxrss_mib']:.0f} | "
              f"{r['maxrss_mib'] / base['maxrss_mib']:.2f} | {r['tree_mib']:.0f} | "
              f"{r['tree_mib'] / base['tree_mib']:.2f} | {r['code']} | {r['said']} |")


if __name__ == "__main__":
    run_main("sim_memory", main, interrupted="nothing was written; the simulator build "
             "folder is removed")
