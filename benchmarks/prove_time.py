"""Time of ``exmy prove`` at issue 13's ``--fmax`` placements, with the pipeline method's
cuts (the default) against the same proof with ``--no-cuts`` (the whole netlists compared at
once: the baseline, measured in the same run).

Each proof runs as a child process, ``exmy prove UNIT ... --target ecp5 --fmax F``; its CPU
time is user + system of the child and everything it waited for (Yosys), from ``wait4``. A
baseline run longer than ``--limit`` seconds is stopped (``--timeout``) and its row says
``> LIMIT``; the ratio is then a lower bound. Prints a markdown table: latency, the PASS
line's cut note, CPU s with cuts, CPU s without, and the speed-up (without / with).

    .venv/bin/python benchmarks/prove_time.py [--rows fma-f16,mul-f16] [--limit 300]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import run_main  # noqa: E402
from fmax import ROWS as TABLE  # noqa: E402  (issue 13's table: benchmarks/fmax.py)

EXMY = Path(sys.executable).parent / "exmy"


def _cli(unit: str, params: dict) -> list[str]:
    return [unit] + [a for k, v in params.items() for a in (f"--{k.replace('_', '-')}", str(v))]


#: name -> (exmy prove arguments without --target/--fmax, fmax MHz): issue 13's table (the
#: rows of benchmarks/fmax.py at their clocks) and the two units the issue names besides
ROWS = {name: (_cli(unit, params), goal) for name, (unit, params, goal, _afp) in TABLE.items()}
ROWS["int-mul"] = (_cli("int-multiplier", {"a": "int8"}), 250)
ROWS["afma-e4m3"] = (_cli("approx-fma", {"a": "e4m3fn", "granularity": 4}), 100)


def _prove(args: list[str], limit: int | None) -> tuple[str, float]:
    """Run ``exmy prove ARGS``: (its output line, CPU seconds of it and its children)."""
    cmd = [str(EXMY), "prove", *args] + (["--timeout", str(limit)] if limit else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with proc.stdout:
        out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = out.strip().splitlines()[-1] if out.strip() else f"(no output, exit {status})"
    if proc.returncode not in (0, 1):
        raise ValueError(f"exmy prove {' '.join(args)} failed: {line}")
    return line, usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=",".join(ROWS), help=f"subset of {', '.join(ROWS)}")
    ap.add_argument("--limit", type=int, default=300,
                    help="seconds before a --no-cuts run is stopped (default 300)")
    args = ap.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad or not rows:
        raise ValueError(f"--rows: unknown {', '.join(bad) or '(none)'}; choose from "
                         f"{', '.join(ROWS)}")
    if args.limit < 1:
        raise ValueError(f"--limit must be a positive number of seconds, not {args.limit}")
    t0 = time.monotonic()
    md = ["| unit @ MHz (ECP5) | latency | cut note | CPU s, cuts | CPU s, no cuts | no cuts / "
          "cuts |", "|---|---|---|---|---|---|"]
    failed = 0
    for key in rows:
        unit_args, fmax = ROWS[key]
        full = [*unit_args, "--target", "ecp5", "--fmax", str(fmax)]
        line, cpu = _prove(full, None)
        bline, bcpu = _prove([*full, "--no-cuts"], args.limit)
        lat = re.search(r"delayed (\d+)", line)
        note = re.search(r"equivalence \((.*)\)$", line)
        ok = line.startswith("PASS")
        failed += not ok
        if bline.startswith("PASS"):
            base, ratio = f"{bcpu:.1f}", f"{bcpu / cpu:.1f}x"
        elif "time limit" in bline:
            base, ratio = f"> {args.limit}", f"> {args.limit / cpu:.0f}x"
        else:
            base, ratio = bline.split(":")[0], "-"
            failed += 1
        md.append(f"| {' '.join(unit_args)} @ {fmax} | {lat.group(1) if lat else '?'} | "
                  f"{note.group(1) if note else '-'}{'' if ok else ' (' + line + ')'} | "
                  f"{cpu:.1f} | {base} | {ratio} |")
        print(md[-1], file=sys.stderr, flush=True)
    md += ["", f"{len(rows)} placements, {time.monotonic() - t0:.0f} s wall."]
    print("\n".join(md))
    return 1 if failed else 0


if __name__ == "__main__":
    run_main("prove_time", main,
             interrupted="the rows finished so far are above, on stderr")
