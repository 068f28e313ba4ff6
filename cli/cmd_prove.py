"""``exmy prove``: a pipelined unit equals its reference delayed by its latency (formal: a
balanced-pipeline check plus a combinational equivalence, or k-induction with SymbiYosys and
z3)."""

from __future__ import annotations

import argparse

from .common import CliError, add_unit_options, output_dir, unit_options

#: exmy.synth.prove.PROOF_METHODS (not imported here: the CLI starts without Amaranth)
METHODS = ("auto", "pipeline", "induction")


def _positive(hi: int, unit: str = ""):
    """argparse type: an integer in 1..``hi`` (``unit``: what the bound counts)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a positive integer, not {text!r}") from None
        if not 1 <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between 1 and {hi}{unit}, not {v}")
        return v

    return parse


#: the bounds of --timeout (a week) and --induction-depth
MAX_TIMEOUT = 7 * 24 * 3600
MAX_DEPTH = 10_000


def add_parser(sub):
    p = sub.add_parser(
        "prove",
        help="prove a pipelined unit equal to its combinational self, delayed (formal)",
        description="Prove that the unit at --latency L (or placed for --fmax) gives, in "
        "every cycle from reset onward, the outputs of its reference (the same unit at latency "
        "0; the MACs: at latency 1) for the inputs of L (L-1) cycles earlier. Stateless units "
        "are compared from the L-th cycle after a reset, MACs from reset on. Stateless units "
        "whose netlist is a balanced pipeline: that check plus a combinational equivalence "
        "(Yosys miter, ABC iprove, Yosys sat); otherwise k-induction (SymbiYosys, "
        "yosys-smtbmc and z3); all from PyPI. Prints one line: PASS/FAIL, time, method; on "
        "FAIL the counterexample (input values, or a VCD). Exit code 1 unless the proof "
        "passes.",
    )
    add_unit_options(p)
    p.add_argument("--induction-depth", dest="proof_depth", type=_positive(MAX_DEPTH), metavar="K",
                   help="k-induction depth (default: the delay + 2)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto (default): for a stateless unit, check that the netlist is a "
                   "balanced pipeline and prove it combinationally equal to the reference "
                   "(ABC + Yosys sat), else k-induction; pipeline, induction: only that one")
    p.add_argument("--no-cuts", dest="cuts", action="store_false",
                   help="pipeline method: compare the whole netlists at once instead of in "
                   "steps cut at the significands and the product (slower: for comparisons)")
    p.add_argument("--timeout", type=_positive(MAX_TIMEOUT, " s (a week)"), metavar="S",
                   help="give up after S seconds (verdict UNKNOWN)")
    p.add_argument("--workdir", metavar="DIR",
                   help="keep the proof's files here (default: a temporary folder, removed "
                   "after a PASS)")
    p.set_defaults(run=run)


def _check_cuts_apply(unit: str, options: dict) -> None:
    """--no-cuts on a stateful unit (a MAC: its reference has latency 1) would be silently
    dropped by k-induction, which has no cuts: refuse it up front."""
    from exmy.synth.prove import reference_unit

    try:
        ref = reference_unit(unit, options)
    except (ValueError, TypeError):
        return  # the proof's own checks report the options
    ref._MustUse__silence = True  # built only to learn its latency
    if ref.latency != 0:
        raise CliError(f"--no-cuts applies to the pipeline method, which compares with a "
                       f"combinational reference; {unit} is stateful (its reference has "
                       f"latency {ref.latency}) and is proven by k-induction, which has no "
                       f"cuts: omit --no-cuts")


def run(args) -> int:
    from exmy.synth.prove import find_prove_tools, prove_unit

    options = unit_options(args)
    if options.get("latency") is None and options.get("fmax") is None:
        raise CliError("give the pipeline to prove with --latency N (N >= 1; MACs: N >= 2) "
                       "or --fmax MHZ")
    if not args.cuts and args.method == "induction":
        raise CliError("--no-cuts applies to the pipeline method; --method induction has no "
                       "cuts")
    if args.proof_depth is not None and args.method == "pipeline":
        raise CliError("--induction-depth applies to k-induction; --method pipeline does not "
                       "run it (omit --induction-depth, or give --method induction or auto)")
    if not args.cuts:
        _check_cuts_apply(args.unit, options)
    workdir = output_dir(args.workdir, "--workdir") if args.workdir is not None else None
    find_prove_tools()  # a missing tool is an error before any work
    try:
        result = prove_unit(args.unit, options, workdir, depth=args.proof_depth,
                            timeout=args.timeout, method=args.method, cuts=args.cuts)
    except RuntimeError as exc:
        if type(exc).__name__ == "ToolNotFoundError":
            raise
        raise CliError(str(exc).splitlines()[0]) from None
    print(result.line())
    return 0 if result.passed else 1
