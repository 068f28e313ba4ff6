"""The ``exmy`` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .common import CliError

__all__ = ["main", "COMMANDS"]

#: subcommand modules, each with ``add_parser(subparsers)`` and ``run(args) -> int``
COMMANDS = [
    "exmy.cli.cmd_formats",
    "exmy.cli.cmd_generate",
    "exmy.cli.cmd_simulate",
]
#: optional subcommands (added by later work); skipped while their module does not exist
OPTIONAL_COMMANDS = [
    "exmy.cli.cmd_synth",
    "exmy.cli.cmd_sweep",
    "exmy.cli.cmd_report",
    "exmy.cli.cmd_analyze",
    "exmy.cli.cmd_build",
    "exmy.cli.cmd_demo",
]


def _modules():
    mods = [importlib.import_module(m) for m in COMMANDS]
    for name in OPTIONAL_COMMANDS:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="exmy",
        description="Generate, verify and cost hardware for low-precision arithmetic "
        "(ExMy minifloats, integers, L-Mul).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in _modules():
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Components built only for metadata are never elaborated; that is fine here.
    try:
        from amaranth.hdl import UnusedElaboratable

        warnings.filterwarnings("ignore", category=UnusedElaboratable)
    except ImportError:  # pragma: no cover
        pass
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (CliError, ValueError, TypeError) as exc:
        print(f"exmy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        # missing tools (ToolNotFoundError) and failed tool runs: one line, no traceback
        if type(exc).__name__ in ("ToolNotFoundError", "SimulationError", "SynthError"):
            print(f"exmy {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
