"""``exmy simulate``: check a unit's generated Verilog against the golden model."""

from __future__ import annotations

import sys
import time

from .common import CliError, add_unit_options, count_arg, output_dir, unit_options


def add_parser(sub):
    p = sub.add_parser(
        "simulate",
        help="simulate a unit's Verilog (cocotb) and compare every output bit with the golden "
        "model",
        description="Generate the unit, simulate it on Icarus Verilog or Verilator through "
        "cocotb (or on the Amaranth simulator), and compare every output with the golden "
        "model bit for bit. Exit code 1 on any mismatch. Any number of vectors runs in "
        "bounded memory (batches of about a million, one simulator run each); the summary says "
        "exactly which vectors ran; Ctrl-C stops with the count checked so far (exit 130).",
    )
    add_unit_options(p)
    p.add_argument("--simulator", choices=["icarus", "verilator", "amaranth"],
                   default="icarus", help="simulator (default icarus)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--exhaustive", action="store_true",
                   help="every input combination (default when inputs total <= 16 bits)")
    g.add_argument("--vectors", type=count_arg, metavar="N",
                   help="number of sampled vectors: the unit's corner and edge sets, then "
                   "biased and uniform random (FMA units: N random on top of the corner cube; "
                   "default 100000 when not exhaustive)")
    p.add_argument("--seed", type=count_arg, default=0, metavar="S",
                   help="random seed, a non-negative integer (default 0)")
    p.add_argument("--build-dir", metavar="DIR", help="keep the simulator build here (DIR is "
                   "created; its parent must exist)")
    p.set_defaults(run=run)


#: the most vectors one ``exmy simulate`` run (or one check of ``exmy demo``) takes
MAX_VECTORS = 10**10


def check_vectors(n: int, hint: str = "") -> None:
    """``--vectors N`` of simulate and demo: a positive integer up to :data:`MAX_VECTORS`
    (CliError otherwise; ``hint`` ends the message of too many)."""
    if n < 1:
        raise CliError(f"--vectors must be a positive integer, not {n}")
    if n > MAX_VECTORS:
        raise CliError(f"--vectors: at most {MAX_VECTORS:,} (a day or more of simulation: the "
                       f"README's verification throughput), not {n:,}{hint}")


def _input_bits(comp) -> int:
    """The unit's data inputs in bits (clock and reset are not ports of the signature)."""
    from amaranth.hdl import Shape

    return sum(Shape.cast(m.shape).width for m in comp.signature.members.values()
               if m.flow.name == "In")


class _Progress:
    """One stderr line every 10 s while a long check runs."""

    def __init__(self):
        self.t0 = self.last = time.monotonic()

    def __call__(self, checked: int, planned: int, mismatches: int) -> None:
        now = time.monotonic()
        if checked < planned and now - self.last >= 10:
            self.last = now
            print(f"  checked {checked:,} of {planned:,} vectors, {mismatches:,} mismatches "
                  f"({now - self.t0:.0f} s)", file=sys.stderr, flush=True)


def run(args) -> int:
    from exmy.hdl.registry import build
    from exmy.sim.check import (
        BATCH,
        DEFAULT_VECTORS,
        EXHAUSTIVE_BITS,
        MAX_SEED,
        CheckInterrupted,
        check,
    )

    if args.vectors is not None:
        check_vectors(args.vectors, "; split a longer run over --seed values")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative integer, not {args.seed}")
    if args.seed > MAX_SEED:  # exmy.sim.check's range
        raise CliError(f"--seed must be at most 2**63 - 1 = {MAX_SEED:,}, not {args.seed:,}")
    if args.build_dir is not None and args.simulator == "amaranth":
        raise CliError("--build-dir keeps the build of --simulator icarus or verilator; the "
                       "Amaranth simulator builds nothing to keep (omit --build-dir)")
    build_dir = output_dir(args.build_dir, "--build-dir") if args.build_dir is not None else None
    comp = build(args.unit, **unit_options(args))
    mode = "exhaustive" if args.exhaustive else ("random" if args.vectors else "auto")
    bits = _input_bits(comp)
    if args.vectors is not None and bits <= EXHAUSTIVE_BITS and args.vectors >= 1 << bits:
        print(f"  {comp.module_name}: its inputs total {bits} bits, {1 << bits:,} "
              f"combinations, fewer than --vectors {args.vectors:,}: checking every one "
              f"(--exhaustive)", file=sys.stderr, flush=True)
        mode = "exhaustive"
    n = args.vectors or DEFAULT_VECTORS
    kept = (f"simulator build kept in {str(build_dir)!r}" if build_dir is not None
            else "nothing saved")
    try:
        if args.vectors is not None and args.vectors > BATCH:
            print(f"  {comp.module_name} on {args.simulator}: {args.vectors:,} vectors in "
                  f"batches of {BATCH:,}; Ctrl-C stops and says what was checked",
                  file=sys.stderr, flush=True)
        res = check(comp, args.simulator, mode=mode, n=n, seed=args.seed, build_dir=build_dir,
                    progress=_Progress())
    except CheckInterrupted as exc:
        raise KeyboardInterrupt(f"{exc}; {kept}") from None
    except KeyboardInterrupt:  # before check() started
        raise KeyboardInterrupt(f"{CheckInterrupted(0, None, 0)}; {kept}") from None
    print(res.summary())
    for line in res.mismatches[:10]:
        print("  " + line)
    return 0 if res.ok else 1
