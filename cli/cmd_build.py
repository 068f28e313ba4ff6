"""``exmy build``: a board bitstream of a unit wrapped in a built-in self-test."""

from __future__ import annotations

from pathlib import Path

from .common import (
    TIMING_TARGETS,
    CliError,
    add_unit_options,
    check_seed,
    count_arg,
    output_dir,
    unit_options,
)

#: what ``exmy build`` says when amaranth-boards is missing
BOARDS_HINT = ("exmy build needs the amaranth-boards package, which is not installed; install "
               "it with `pip install amaranth-boards==0.0.21` (or `pip install 'exmy[boards]'`, "
               "or `make setup` in the exmy checkout)")


def _require_boards() -> None:
    try:
        import amaranth_boards  # noqa: F401
    except ImportError:
        raise CliError(BOARDS_HINT) from None


def _fault(text: str) -> tuple[str, int]:
    import argparse

    port, sep, bit = text.partition(":")
    if not sep or not port or not bit.isdigit():
        raise argparse.ArgumentTypeError(f"must be PORT:BIT (e.g. y:0), not {text!r}")
    return port, int(bit)


def add_parser(sub):
    from exmy.synth.bist import BOARDS

    p = sub.add_parser(
        "build",
        help="build a board bitstream: the unit inside a built-in self-test (LEDs show "
        "done/pass/fail)",
        description="Wrap the unit in a built-in self-test (on-chip stimulus: every input "
        "combination for at most 16 input bits, else LFSR vectors; a 32-bit signature of every "
        "output compared with the golden model's) and build a bitstream for the board with "
        "amaranth-boards and the YoWASP tools. Nothing is programmed: the command that "
        "programs the board is printed.",
    )
    add_unit_options(p)
    p.add_argument("--board", required=True, metavar="BOARD",
                   help=f"target board (required): {', '.join(BOARDS)}")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="build directory, one per board (default build/BOARD); a bitstream "
                   "left there by an earlier build is removed first")
    p.add_argument("--vectors", type=count_arg, metavar="N",
                   help="LFSR vectors (default: exhaustive for <= 16 input bits, else 65536)")
    p.add_argument("--inject-fault", type=_fault, metavar="PORT:BIT",
                   help="flip this output bit on its way to the checker (the board must then "
                   "report FAIL)")
    p.add_argument("--seed", type=count_arg, default=1, help="nextpnr placement seed (default 1)")
    p.set_defaults(run=run)


def _check_stimulus(comp, vectors, fault) -> None:
    """``--vectors`` and ``--inject-fault`` checked (by the self-test's own checks) before any
    folder is made or file removed; the self-test checks them again when it is built."""
    from amaranth.hdl import Shape

    from exmy.synth.selftest import _check_vectors, check_fault

    try:
        _check_vectors(vectors)
        if fault is not None:
            check_fault(fault, {name: Shape.cast(m.shape).width
                                for name, m in comp.signature.members.items()
                                if m.flow.name == "Out"}, comp.module_name)
    except ValueError as exc:
        flag = "--vectors" if fault is None or "Vector" in str(exc) else "--inject-fault"
        raise CliError(f"{flag}: {exc}") from None


def run(args) -> int:
    from exmy.synth.bist import BOARDS, BuildError, build_bitstream

    if args.vectors is not None and args.vectors < 1:
        raise CliError(f"--vectors must be a positive integer, not {args.vectors}")
    check_seed(args.seed)
    if args.board not in BOARDS:
        raise CliError(f"Unknown board {args.board!r}; boards are {', '.join(BOARDS)}")
    _require_boards()
    from exmy.hdl.registry import build

    board = BOARDS[args.board]
    if args.fmax is not None:
        # the registers are placed by the delay model of the board's FPGA
        if args.target is not None and args.target != board.target:
            raise CliError(f"--target {args.target} does not match board {args.board} "
                           f"({board.target}); omit --target: with --fmax the board's FPGA "
                           f"names the delay model")
        if board.target not in TIMING_TARGETS:
            raise CliError(f"--fmax: board {args.board}'s FPGA ({board.target}) has no delay "
                           f"model (exmy's: {', '.join(TIMING_TARGETS)}); give --latency N "
                           f"instead")
        args.target = board.target
    comp = build(args.unit, **unit_options(args))  # option errors before any folder is touched
    _check_stimulus(comp, args.vectors, args.inject_fault)
    if args.output is None:
        base = Path("build")
        if not base.is_dir():
            what = ("a broken symbolic link" if base.is_symlink() and not base.exists() else
                    "not a folder" if base.exists() else None)
            if what is not None:
                raise CliError(f"the default build folder {str(base)!r} (no -o given) is {what}; "
                               f"give -o DIR")
            try:
                base.mkdir()
            except OSError as exc:
                raise CliError(f"the default build folder {str(base)!r} (no -o given) cannot be "
                               f"created ({exc.strerror}); give -o DIR") from None
        args.output = str(base / args.board)
    out = output_dir(args.output, "-o")
    # whatever an earlier build (of any board) left: a stale bitstream must not sit beside
    # the new one (build_design removes this board's own intermediate files)
    stale = sorted({b.bitstream for b in BOARDS.values()} | {"record.json"})
    try:
        r = build_bitstream(args.unit, unit_options(args), args.board, out,
                            vectors=args.vectors, fault=args.inject_fault, seed=args.seed,
                            stale=stale)
    except BuildError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        left = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        made = ("its bitstream may be incomplete" if board.bitstream in left else
                "no bitstream was made")
        raise KeyboardInterrupt(
            f"interrupted; {made}: {out} holds "
            + (f"the unfinished build's files ({', '.join(left)})" if left else "nothing")
            + "; a rerun starts over") from None
    bist = r["bist"]
    fmax = f"{r['fmax_mhz']:.1f} MHz" if r["fmax_mhz"] is not None else "n/a"
    util = ", ".join(f"{k} {v['used']}/{v['available']}" for k, v in r["utilization"].items())
    print(f"{r['module']} on {r['board']} ({r['device']}): {bist['mode']} self-test, "
          f"{bist['vectors']} vectors, expected signature {bist['expected_signature']}")
    print(f"  cells: {r['lut']} LUT4, {r['carry']} carry, {r['ff']} FF, {r['dsp']} DSP, "
          f"{r['bram']} BRAM (self-test logic included)")
    print(f"  utilisation: {util}")
    print(f"  Fmax {fmax} at a {r['clock_mhz']:g} MHz board clock"
          + ("" if r["timing_met"] else " -- TIMING NOT MET: the self-test may fail on the board"))
    print(f"  bitstream: {r['bitstream']}  (record: {out / 'record.json'})")
    print(f"  program:   {r['program']}")
    print(f"  LEDs:      {r['leds']}; UART 115200 8N1 reports PASS/FAIL once per second")
    return 0
