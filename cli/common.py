"""Option vocabulary shared by the unit-taking subcommands (generate, simulate, synth, ...)."""

from __future__ import annotations

import argparse

__all__ = ["add_unit_options", "unit_options", "UNIT_OPTIONS", "CliError"]


class CliError(Exception):
    """A user error the CLI reports in one line with exit code 2."""


def _pos_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    return v


#: (flag, dest, kwargs) — every unit option; the registry rejects options a unit lacks.
UNIT_OPTIONS = [
    ("--a", "a", dict(metavar="FMT", help="format of operand a (catalog name, alias, "
                      "e<E>m<M>[-special][-b<bias>][-ftz][-u], or int<N>/uint<N>)")),
    ("--b", "b", dict(metavar="FMT", help="format of operand b (default: same as --a)")),
    ("--c", "c", dict(metavar="FMT", help="format of addend c (fma, approx-fma)")),
    ("--out", "out", dict(metavar="FMT", help="output format y (multiplier: omit for the "
                          "exact product format)")),
    ("--rounding", "rounding", dict(choices=["rne", "rtz", "rna", "stochastic"],
                                    help="rounding mode (default rne)")),
    ("--rand-bits", "rand_bits", dict(type=_pos_int, metavar="R",
                                      help="width of the rand port for stochastic rounding")),
    ("--saturate", "saturate", dict(action="store_true", default=None,
                                    help="overflow gives +-max_finite instead of Inf/NaN")),
    ("--latency", "latency", dict(type=_pos_int, metavar="N",
                                  help="pipeline registers from inputs to outputs (default 0)")),
    ("--depth", "depth", dict(type=_pos_int, metavar="N",
                              help="mac: products per dot product the accumulator must hold "
                              "exactly (default 4608)")),
    ("--acc-bits", "acc_bits", dict(type=_pos_int, metavar="W",
                                    help="mac: accumulator width (default from --depth)")),
    ("--acc-format", "acc_format", dict(metavar="FMT",
                                        help="mac: keep the accumulator in this float format "
                                        "(an FMA chain) instead of exact fixed point")),
    ("--saturate-acc", "saturate_acc", dict(action="store_true", default=None,
                                            help="mac: clamp the accumulator instead of "
                                            "wrapping")),
    ("--multiplier", "multiplier", dict(choices=["exact", "lmul"],
                                        help="mac: product kind (default exact)")),
    ("--granularity", "granularity", dict(type=_pos_int, metavar="G",
                                          help="approx-fma: normalization step (power of 2)")),
    ("--window", "window", dict(type=_pos_int, metavar="K",
                                help="approx-fma: cap on the normalization shift")),
    ("--form", "form", dict(choices=["adder", "formula"], help="lmul: adder or formula")),
    ("--offset", "offset", dict(choices=["lmul", "pam"], help="lmul: offset kind")),
    ("--lanes", "lanes", dict(type=_pos_int, metavar="N", help="dot: number of lanes")),
]


def add_unit_options(p: argparse.ArgumentParser) -> None:
    from exmy.hdl.registry import UNITS, unit_names

    names = unit_names()
    lines = "\n".join(f"  {n:16s} {UNITS[n].summary}" for n in names)
    p.add_argument("unit", metavar="UNIT", help=f"one of: {', '.join(names)}")
    p.epilog = (p.epilog or "") + f"\nunits:\n{lines}\n"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    g = p.add_argument_group("unit options (each unit takes a subset)")
    for flag, dest, kw in UNIT_OPTIONS:
        g.add_argument(flag, dest=dest, **kw)


def unit_options(args: argparse.Namespace) -> dict:
    return {dest: getattr(args, dest) for _, dest, _ in UNIT_OPTIONS
            if getattr(args, dest, None) is not None}
