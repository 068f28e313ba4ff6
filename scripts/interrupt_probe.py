"""Interrupt an exmy command at random moments and report every run that does not stop cleanly.

    python scripts/interrupt_probe.py --runs 12 --window 0.3 5 -- synth multiplier --a bfloat16 \
        --target ecp5 --db @/r.sqlite --no-cache

Each run starts ``python -m exmy.cli.main ARGS`` (``@`` in ARGS is the run's own folder) with
a private TMPDIR, sends SIGINT or SIGTERM (chosen at random) after a random delay in the
window (to the command alone, or with ``--group`` to its whole process group, as a terminal's
Ctrl-C does), and checks what a user would see: exit status 130 (or 0 if the command had finished),
no traceback, no "Exception ignored", no file left in TMPDIR, and the process gone within 40 s
(otherwise the stacks of its threads are printed: faulthandler on SIGUSR1). One line per run;
exit status 1 if any run was odd. Found this way (2026-12-06): an interrupt that landed in a
``__del__`` was ignored and the command ran on, ``python -m`` died by SIGINT (-2) instead of
returning 130, and interrupted YoWASP tools left their ``yowasp_*`` folders in TMPDIR.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SITE = "import faulthandler, signal\nfaulthandler.register(signal.SIGUSR1, all_threads=True)\n"


def _as_terminal():
    """(preexec_fn) SIGINT handled as a terminal's command has it, even if this script runs
    with it ignored (a background job: exmy leaves an ignored SIGINT alone)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def probe(args: list[str], window: tuple[float, float], rng: random.Random,
          site: Path, group: bool = False) -> tuple[bool, str]:
    """One run: (clean, its report line)."""
    base = Path(tempfile.mkdtemp(prefix="exmy-iprobe-"))
    try:
        tmp = base / "tmp"
        tmp.mkdir()
        env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp),
                   PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
        argv = [a.replace("@", str(base)) for a in args]
        proc = subprocess.Popen([sys.executable, "-m", "exmy.cli.main", *argv], cwd=base,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=group, preexec_fn=_as_terminal)
        delay = rng.uniform(*window)
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        time.sleep(delay)
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            proc.kill()
            _, err = proc.communicate()
            return False, f"{sig.name} at {delay:.2f} s: still running 40 s later\n{err[-4000:]}"
        left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
        problems = []
        if proc.returncode not in (0, 130):
            problems.append(f"exit status {proc.returncode}")
        for word in ("Traceback", "Exception ignored"):
            if word in err:
                problems.append(word)
        if left:
            problems.append(f"left in TMPDIR: {', '.join(left[:3])}"
                            + (f" and {len(left) - 3} more" if len(left) > 3 else ""))
        last = err.strip().splitlines()[-1] if err.strip() else "(finished)"
        line = f"{sig.name} at {delay:.2f} s: exit {proc.returncode}: {last[:120]}"
        if problems:
            return False, f"{line}\n  ODD: {'; '.join(problems)}\n{err[-2500:]}"
        return True, line
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--window", type=float, nargs=2, default=(0.5, 5.0), metavar=("LO", "HI"),
                    help="seconds after the start within which the signal is sent")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--group", action="store_true",
                    help="signal the command's whole process group (a terminal's Ctrl-C)")
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="the exmy command and its options, after --")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the exmy command to interrupt after --")
    lo, hi = args.window
    if not 0 <= lo <= hi:
        ap.error(f"--window needs 0 <= LO <= HI, not {lo:g} {hi:g}")
    if args.runs < 1:
        ap.error(f"--runs must be at least 1, not {args.runs}")
    rng = random.Random(args.seed)
    odd = 0
    with tempfile.TemporaryDirectory(prefix="exmy-iprobe-site-") as site:
        (Path(site) / "sitecustomize.py").write_text(_SITE)
        for i in range(args.runs):
            clean, line = probe(command, (lo, hi), rng, Path(site), args.group)
            odd += not clean
            print(f"{i + 1:3d} {line}", flush=True)
    print(f"{args.runs - odd} of {args.runs} runs stopped cleanly")
    return 1 if odd else 0


if __name__ == "__main__":
    sys.exit(main())
