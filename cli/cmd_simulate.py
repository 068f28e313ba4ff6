"""``exmy simulate``: check a unit's generated Verilog against the golden model."""

from __future__ import annotations

from pathlib import Path

from .common import CliError, add_unit_options, unit_options


def add_parser(sub):
    p = sub.add_parser(
        "simulate",
        help="simulate a unit's Verilog (cocotb) and compare every output bit with the golden "
        "model",
        description="Generate the unit, simulate it on Icarus Verilog or Verilator through "
        "cocotb (or on the Amaranth simulator), and compare every output with the golden "
        "model bit for bit. Exit code 1 on any mismatch.",
    )
    add_unit_options(p)
    p.add_argument("--simulator", choices=["icarus", "verilator", "amaranth"],
                   default="icarus", help="simulator (default icarus)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--exhaustive", action="store_true",
                   help="every input combination (default when inputs total <= 16 bits)")
    g.add_argument("--vectors", type=int, metavar="N",
                   help="number of sampled vectors: corners, biased and uniform random "
                   "(default 100000 when not exhaustive)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--build-dir", metavar="DIR", help="keep the simulator build here")
    p.set_defaults(run=run)


def run(args) -> int:
    from exmy.hdl.registry import build
    from exmy.sim.check import check

    if args.vectors is not None and args.vectors < 1:
        raise CliError(f"--vectors must be a positive integer, not {args.vectors}")
    comp = build(args.unit, **unit_options(args))
    mode = "exhaustive" if args.exhaustive else ("random" if args.vectors else "auto")
    build_dir = Path(args.build_dir) if args.build_dir else None
    if build_dir is not None:
        build_dir.mkdir(parents=True, exist_ok=True)
    res = check(comp, args.simulator, mode=mode, n=args.vectors or 100_000, seed=args.seed,
                build_dir=build_dir)
    print(res.summary())
    for line in res.mismatches[:10]:
        print("  " + line)
    return 0 if res.ok else 1
