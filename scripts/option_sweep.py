"""Run exmy commands with random unit options and report every run that goes wrong.

    python scripts/option_sweep.py simulate --runs 250 --seed 11
    python scripts/option_sweep.py simulate --runs 250 --seed 77 --formats unusual
    python scripts/option_sweep.py errors --runs 400 --seed 5
    python scripts/option_sweep.py prove --runs 25 --seed 2907 --pipelined --formats unusual

Each run picks a unit, then a random subset of the options that unit takes, with values drawn
from pools of formats and settings (``errors``: any option, valid or not, and values that are
out of range). It runs ``exmy MODE UNIT OPTIONS`` and checks what a user would see:

- ``errors`` (``exmy generate``): exit status 0, or 2 with one line ``exmy generate: error:
  ...`` that names no Python parameter (``rand_bits``, ``fmt_out``, ``=True``);
- ``simulate``: exit status 0 (hardware = golden on ``--vectors``), or 2 (a refusal); 1 is a
  mismatch;
- ``prove``: 0 (PASS) or 2 (a refusal: no registers to prove, a clock out of reach);
- ``synth``: 0 or 2.

Never a traceback. One line per run; exit status 1 if any run was odd. Found this way
(2026-12-07): mantissa-less formats (e4m0, e3m0) came out X on Icarus (the testbench's time-0
inputs), and unit refusals on the command line named the Python API's parameters.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOATS = ["e4m3", "e4m3fn", "e5m2", "bfloat16", "float16", "e2m1fn", "e3m2fn", "e2m3fn",
          "e3m4-ftz", "e4m3-b9", "e2m1-u", "e5m2-ftz", "e4m3fnuz", "e3m3", "e2m2", "e5m3"]
UNUSUAL = ["e3m2-fnuz", "e4m3-b3-ftz", "e2m2-u", "e5m2-fn", "e3m3-b1", "e6m1", "e2m5-ftz",
           "e4m2-fnuz-b5", "e3m2-fn-u", "e4m0", "e5m1-b20", "e3m0", "e2m0-fn", "e3m1-fnuz",
           "e4m1-ftz-u", "e1m2-none", "e2m4-b0"]
WIDE = ["float32", "e8m7", "e6m9", "e5m10"]
INTS = ["int8", "uint8", "int4", "uint4", "int2", "int6", "uint3", "int12"]
ELEMS = ["e4m3fn", "e5m2", "e2m3fn", "e3m2fn", "e2m1fn", "mxint8"]
SETTINGS = {
    "rounding": ["rne", "rtz", "rna", "stochastic"], "rand_bits": ["2", "4", "8"],
    "latency": ["0", "1", "2", "3", "5"], "target": ["ecp5", "ice40", "gowin", "xilinx"],
    "fmax": ["60", "100", "150", "200", "250"], "depth": ["2", "16", "300"],
    "acc_bits": ["12", "16", "24", "40"], "acc_format": ["bfloat16", "float16", "e5m3"],
    "multiplier": ["exact", "lmul"], "acc_chunk": ["4", "8", "16"],
    "granularity": ["1", "2", "4", "8"], "window": ["2", "4", "8", "16"],
    "form": ["adder", "formula"], "offset": ["lmul", "pam"], "lanes": ["1", "2", "3", "4"],
    "elem": ELEMS, "elem_b": ELEMS, "block": ["2", "4", "8", "16", "32"],
    "scale": ["e8m0fnu", "e4m3fn"],
}
#: values no unit takes (errors mode)
BAD = {"latency": ["30", "-1"], "fmax": ["0.5", "5000"], "rand_bits": ["0", "40"],
       "granularity": ["3", "0"], "lanes": ["0", "100000"], "block": ["7", "5000"],
       "a": ["e1m2", "e0m3", "E4M3", "float8"], "depth": ["0"], "acc_bits": ["8", "5000"]}
FLAGS = ("saturate", "dsp", "saturate_acc", "accumulate")
#: what a refusal on the command line must not say (the Python API's words)
PYTHON_WORDS = re.compile(r"\b(rand_bits|acc_bits|saturate_acc|acc_chunk|fmt_[a-z]+)\b|"
                          r"\b[a-z_]+=(True|False|'[a-z]+')")


def _value(rng: random.Random, unit: str, opt: str, pool: list[str], errors: bool):
    if opt in FLAGS:
        return None
    if errors and opt in BAD and rng.random() < 0.3:
        return rng.choice(BAD[opt])
    if opt in ("a", "b"):
        return rng.choice(INTS if unit.startswith("int-") else pool)
    if opt in ("c", "out"):
        return rng.choice(pool + (INTS if unit == "convert" else []))
    return rng.choice(SETTINGS[opt])


def _options(rng: random.Random, unit: str, takes: list[str], pool: list[str],
             errors: bool) -> list[str]:
    must = {"mx-dot": ["elem"], "convert": ["a", "out"], "approx-fma": ["a", "granularity"],
            "dot": ["a", "lanes"]}.get(unit, ["a"])
    chosen = must + [o for o in rng.sample(takes, rng.randint(0, min(4, len(takes))))
                     if o not in must]
    if not errors and "latency" in chosen and "fmax" in chosen:
        chosen.remove("latency")
    if not errors and "target" in chosen and "fmax" not in chosen:
        chosen.append("fmax")
    args = []
    for opt in chosen:
        args.append("--" + opt.replace("_", "-"))
        v = _value(rng, unit, opt, pool, errors)
        if v is not None:
            args.append(v)
    return args


def _odd(mode: str, r: subprocess.CompletedProcess) -> str | None:
    err = r.stderr.strip()
    if "Traceback" in r.stderr or "Exception ignored" in r.stderr:
        return "traceback"
    if r.returncode == 2:
        lines = err.splitlines()
        if len(lines) != 1 or not lines[0].startswith(f"exmy {mode}: error: "):
            return "not one error line"
        if PYTHON_WORDS.search(lines[0]):
            return "names a Python parameter"
        return None
    if r.returncode != 0:
        return {"simulate": "mismatch", "prove": "proof failed"}.get(mode, "failed")
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["errors", "simulate", "prove", "synth"])
    p.add_argument("--runs", type=int, default=100, help="number of runs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--formats", choices=["standard", "unusual"], default="standard",
                   help="float format pool (unusual: biases, special-value schemes, M = 0)")
    p.add_argument("--vectors", type=int, default=3000, help="simulate: vectors per run")
    p.add_argument("--timeout", type=float, default=900, help="seconds per run (default 900)")
    p.add_argument("--pipelined", action="store_true",
                   help="prove: a run whose options drew neither --latency nor --fmax gets "
                        "--latency 1-3 (MACs 2-4), so that it proves something instead of "
                        "being refused (off by default: the seeds of earlier runs draw as "
                        "they did)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.vectors < 1 or args.timeout <= 0:
        p.error("--runs, --vectors and --timeout must be positive")
    rng = random.Random(args.seed)
    pool = (UNUSUAL if args.formats == "unusual" else FLOATS) + WIDE[: rng.randint(0, 1)]
    exe = [sys.executable, "-m", "exmy.cli.main"]
    try:
        work = Path(tempfile.mkdtemp(prefix="exmy-option-sweep-"))
    except OSError as exc:
        p.error(f"cannot make a temporary folder ({exc}); set TMPDIR to a writable folder")
    try:
        odd, counts = _sweep(args, rng, pool, exe, work)
    except KeyboardInterrupt:
        print("option_sweep: interrupted; the runs so far are printed above", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.runs} runs: {', '.join(f'{n} exit {c}' for c, n in sorted(counts.items()))}; "
          f"{odd} odd")
    return 1 if odd else 0


def _sweep(args, rng, pool, exe, work: Path) -> tuple[int, dict]:
    from exmy.hdl.registry import UNITS

    odd, counts = 0, {}
    for i in range(args.runs):
        unit = rng.choice(list(UNITS))
        takes = [o for o in UNITS[unit].options if o in SETTINGS or o in FLAGS
                 or o in ("a", "b", "c", "out")]
        cmd = {"errors": "generate"}.get(args.mode, args.mode)
        opts = _options(rng, unit, takes, pool, args.mode == "errors")
        if args.mode == "prove" and args.pipelined and not {"--latency", "--fmax"} & set(opts):
            lo = 2 if unit.endswith("mac") else 1
            opts += ["--latency", str(rng.randint(lo, lo + 2))]
        extra = {"generate": ["-o", str(work / "x.v")],
                 "simulate": ["--vectors", str(args.vectors), "--seed", str(i), "--simulator",
                              rng.choice(["icarus", "verilator"])],
                 "prove": ["--timeout", "240"],
                 "synth": ["--db", str(work / "r.sqlite")]}[cmd]
        t0 = time.monotonic()
        try:
            r = subprocess.run(exe + [cmd, unit, *opts, *extra], capture_output=True,
                               text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            odd += 1
            print(f"TIMEOUT exmy {cmd} {unit} {' '.join(opts)}", flush=True)
            continue
        why = _odd(cmd, r)
        counts[r.returncode] = counts.get(r.returncode, 0) + 1
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [""]
        print(f"{'ODD ' + why if why else 'ok'} [{r.returncode}] {time.monotonic() - t0:.0f}s "
              f"exmy {cmd} {unit} {' '.join(opts)} | {last[0][:160]}", flush=True)
        if why:
            odd += 1
            print(r.stderr[-2000:], flush=True)
    return odd, counts


if __name__ == "__main__":
    sys.exit(main())
