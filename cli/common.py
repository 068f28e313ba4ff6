"""Option vocabulary shared by the unit-taking subcommands (generate, simulate, synth, ...)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import tempfile
from pathlib import Path

from exmy.golden.params import LMUL_FORMS, LMUL_OFFSETS, MULTIPLIER_NAMES, ROUNDING_MODES
from exmy.hdl.timing import FAMILIES as TIMING_TARGETS

__all__ = ["add_unit_options", "unit_options", "UNIT_OPTIONS", "CliError", "DEFAULT_DB",
           "output_file", "output_dir", "split_list", "int_range", "seed_list", "MAX_SEEDS",
           "check_seed", "writing", "writing_into", "count_arg"]

#: the results database of synth, sweep, report and evaluate when --db is not given
DEFAULT_DB = "exmy-results.sqlite"


class CliError(Exception):
    """A user error the CLI reports in one line with exit code 2."""


@contextlib.contextmanager
def writing(path):
    """Around the writing of ``path``: an OSError that names no file (a full disk, ENOSPC, is
    reported by ``write``, not ``open``) comes out naming ``path``, so the one-line error says
    which file was not written. A write that failed part way (full disk or quota, I/O error)
    leaves no truncated file behind: the partial ``path`` is removed, and the error says so.
    So does a Ctrl-C during the write (once the file was created or changed)."""
    before = _identity(path)
    try:
        yield
    except KeyboardInterrupt:
        if not os.path.isfile(path) or _identity(path) == before:
            raise  # nothing written yet: the file (if any) is as it was
        with contextlib.suppress(OSError):  # through a link: its file, not the link
            os.unlink(os.path.realpath(path))
        raise KeyboardInterrupt(f"interrupted while writing {path}; the partly written file "
                                f"was removed") from None
    except OSError as exc:
        partial = exc.errno in _PARTIAL_WRITE_ERRNOS and os.path.isfile(path)
        if partial:
            with contextlib.suppress(OSError):
                os.unlink(os.path.realpath(path))
        why = exc.strerror or str(exc)
        if partial:
            why += " (the partly written file was removed)"
        if exc.filename and not partial:
            raise
        raise OSError(exc.errno, why, str(path)) from None


def _identity(path) -> tuple | None:
    """What tells whether ``path`` was created or rewritten: inode, size, modification time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def writing_into(folder, what: str):
    """Around a command that writes many files into ``folder``: an OSError that names no
    file (a full disk: ENOSPC comes from ``write``, not ``open``) comes out naming ``folder``
    and saying that ``what`` there is incomplete."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, f"{exc.strerror or exc} ({what} written there is incomplete)",
                      str(folder)) from None


#: errors of a write that got part way (the file was opened and may hold a fragment)
_PARTIAL_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def split_list(text: str) -> list[str]:
    """A comma-separated option value, items stripped, empty ones dropped."""
    return [x.strip() for x in text.split(",") if x.strip()]


_INT_RANGE = re.compile(r"^([0-9]+)\s*(?:-|\.\.)\s*([0-9]+)$")


def int_range(text: str, what: str) -> tuple[int, int]:
    """``LO-HI`` (or ``LO..HI``) with LO <= HI; ``what`` names the option in the error."""
    m = _INT_RANGE.match(text)
    if not m or int(m[1]) > int(m[2]):
        raise CliError(f"{what} must be a range LO-HI (LO <= HI), not {text!r}")
    return int(m[1]), int(m[2])


#: the most seeds a seed list may name (each is a place and route per point)
MAX_SEEDS = 1000


def check_seed(seed: int, flag: str = "--seed") -> int:
    """``seed`` if nextpnr takes it (0..exmy.synth.flow.MAX_SEED: its ``--seed`` is a C
    ``int``), else :class:`CliError` naming ``flag``."""
    from exmy.synth.flow import MAX_SEED

    if not 0 <= seed <= MAX_SEED:
        raise CliError(f"{flag} must be an integer from 0 to {MAX_SEED} (nextpnr's seed is a C "
                       f"int), not {seed}")
    return seed


def seed_list(text: str, flag: str = "--seeds") -> list[int]:
    """nextpnr placer seeds: comma-separated integers or ranges (``1,2,3``, ``1-3``), each
    0..exmy.synth.flow.MAX_SEED, at most :data:`MAX_SEEDS` of them (counted before any range
    is listed)."""
    from exmy.synth.flow import MAX_SEED

    spans: list[tuple[int, int]] = []
    for item in split_list(text):
        if _INT_RANGE.match(item):
            lo, hi = int_range(item, flag)
        elif re.fullmatch(r"[0-9]+", item):
            lo = hi = int(item)
        else:
            raise CliError(f"{flag} must be integers or ranges such as 1-3, not {item!r}")
        if hi > MAX_SEED:
            raise CliError(f"{flag} must be seeds from 0 to {MAX_SEED} (nextpnr's seed is a C "
                           f"int), not {item!r}")
        spans.append((lo, hi))
    if not spans:
        raise CliError(f"{flag} names no seed: give integers or ranges such as 1-3")
    count = sum(hi - lo + 1 for lo, hi in spans)
    if count > MAX_SEEDS:
        raise CliError(f"{flag} {text!r} names {count:,} seeds; give at most {MAX_SEEDS:,} (each "
                       f"is one place and route per point)")
    return [s for lo, hi in spans for s in range(lo, hi + 1)]


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def output_file(path, flag: str = "-o", suffix: str | None = None) -> Path:
    """Check, before any work starts, that ``path`` can be written as a file; return it.

    Raises :class:`CliError` naming ``flag``, the path and the fix when ``path`` is empty, is
    ``-`` (exmy writes no standard output), is a directory, lacks ``suffix`` (or is only the
    suffix, ``.v``), its folder does not exist (or is not a folder) or the file cannot be
    created there (``/proc/x.v``, a read-only folder). Creates nothing: a probe file that did
    not exist before is removed again. An existing FIFO or device is not opened (a FIFO would
    block, and its reader see an early end of file): it only has to be writable.
    """
    text = os.fspath(path)
    if not text.strip():
        raise CliError(f"{flag} needs a file name, not an empty string")
    if text == "-":  # not standard output: it would be a file named "-"
        raise CliError(f"{flag} names a file, and exmy does not write to standard output; give "
                       f"a file name" + (f", e.g. 'out{suffix}'" if suffix else ""))
    path = Path(text)
    if path.is_dir():
        raise CliError(f"{flag} {text!r} is a directory; give a file name inside it, e.g. "
                       f"{str(path / ('out' + (suffix or '')))!r}")
    if suffix is not None and path.name == suffix:  # Path(".v").suffix is "" (a dot file)
        raise CliError(f"{flag} {text!r} has no name before {suffix}; give e.g. "
                       f"{str(path.with_name('out' + suffix))!r}")
    if suffix is not None and path.suffix != suffix:
        raise CliError(f"{flag} file must end in {suffix}, not {text!r}")
    parent = path.parent
    if not parent.exists():
        raise CliError(f"{flag} {text!r}: folder {str(parent)!r} does not exist; create it "
                       f"first (mkdir -p {str(parent)!r}) or choose another path")
    if not parent.is_dir():
        raise CliError(f"{flag} {text!r}: {str(parent)!r} is a file, not a folder")
    existed = path.exists()
    if existed and not path.is_file():
        # a FIFO or a device (/dev/null): opening it here would block until a reader comes
        # (a FIFO's reader would then see the end of file before any output), so ask only
        if not os.access(path, os.W_OK):
            raise CliError(f"{flag} {text!r} cannot be written (Permission denied); choose a "
                           f"writable place")
        return path
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise CliError(f"{flag} {text!r} cannot be written ({_why(exc)}); choose a writable "
                       f"place") from None
    if not existed:
        # what the probe created: through a link to a missing file, that file (the link
        # stays, and the output goes where it points)
        Path(os.path.realpath(path)).unlink(missing_ok=True)
    return path


def missing(path) -> str:
    """Why an input ``path`` that does not exist cannot be read, for a message: "is a symbolic
    link to nothing (...)" when it is a dangling link or a link loop (``exists()`` is False
    for both), else "does not exist"."""
    if os.path.islink(path):
        return "is a symbolic link to nothing (its target is missing, or the link is a loop)"
    return "does not exist"


def output_dir(path, flag: str = "-o") -> Path:
    """Check that ``path`` is (or can be made) a writable folder, make it, return it.

    Its parent must exist (a typo does not silently create a tree of folders). Raises
    :class:`CliError` naming ``flag``, the path and the fix otherwise.
    """
    text = os.fspath(path)
    if not text.strip():
        raise CliError(f"{flag} needs a folder name, not an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {text!r} is a file, not a folder; give a folder name")
    if path.is_symlink() and not path.exists():
        raise CliError(f"{flag} {text!r} {missing(path)}; give a folder name")
    if not path.exists():
        parent = path.parent
        if not parent.exists():
            raise CliError(f"{flag} {text!r}: parent folder {str(parent)!r} does not exist; "
                           f"create it first (mkdir -p {str(parent)!r}) or choose another "
                           f"path")
        if not parent.is_dir():
            raise CliError(f"{flag} {text!r}: {str(parent)!r} is a file, not a folder")
        try:
            path.mkdir()
        except OSError as exc:
            raise CliError(f"{flag} {text!r} cannot be created ({_why(exc)}); choose a "
                           f"writable place") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise CliError(f"{flag} {text!r} is not writable ({_why(exc)}); choose a writable "
                       f"place") from None
    return path


def count_arg(text: str) -> int:
    """Every integer option's argparse type: ``1000000``, ``1_000_000`` or ``1e6`` (counts,
    seeds, jobs, latencies and widths read the same in every command)."""
    from decimal import Decimal, InvalidOperation

    try:  # exactly (a float would read 1e23 as 99999999999999991611392)
        v = Decimal(text)
    except InvalidOperation:
        v = None
    if v is None or not v.is_finite() or v != v.to_integral_value():
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}")
    if v.adjusted() > 30:  # (int() of 1e999999999 would take minutes and gigabytes)
        raise argparse.ArgumentTypeError(f"must be an integer of at most 31 digits, not "
                                         f"{text!r}")
    return int(v)


def _pos_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None


def _latency_arg(text: str) -> int:
    """``--latency``: the units' own check (:func:`exmy.hdl.util.check_latency`), refused in
    the option's name."""
    from exmy.hdl.util import MAX_LATENCY, check_latency

    v = count_arg(text)
    try:
        return check_latency(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of pipeline stages from 0 to "
                                         f"{MAX_LATENCY}, not {text!r}") from None


def _fmax_arg(text: str) -> float:
    """``--fmax``: fmax mode's own check (:func:`exmy.hdl.timing.check_fmax`), refused in the
    option's name."""
    from exmy.hdl.timing import FMAX_RANGE, check_fmax

    try:
        return check_fmax(_pos_float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a clock from {FMAX_RANGE[0]} to "
                                         f"{FMAX_RANGE[1]} MHz, not {text!r}") from None


def _values(choices) -> list[str]:
    """CLI choices from a params enum tuple (plain strings: argparse quotes them with repr)."""
    return [str(c) for c in choices]


#: (flag, dest, kwargs) — every unit option; the registry rejects options a unit lacks.
UNIT_OPTIONS = [
    ("--a", "a", dict(metavar="FMT", help="format of operand a (catalog name, alias, "
                      "e<E>m<M>[-special][-b<bias>][-ftz][-u], or int<N>/uint<N>)")),
    ("--b", "b", dict(metavar="FMT", help="format of operand b (default: same as --a)")),
    ("--c", "c", dict(metavar="FMT", help="format of addend c (fma, approx-fma)")),
    ("--out", "out", dict(metavar="FMT", help="output format y (multiplier: omit for the "
                          "exact product format)")),
    ("--rounding", "rounding", dict(choices=_values(ROUNDING_MODES),
                                    help="rounding mode (default rne)")),
    ("--rand-bits", "rand_bits", dict(type=count_arg, metavar="R",
                                      help="width of the rand port for stochastic rounding")),
    ("--saturate", "saturate", dict(action="store_true", default=None,
                                    help="overflow gives +-max_finite instead of Inf/NaN")),
    ("--latency", "latency", dict(type=_latency_arg, metavar="N",
                                  help="pipeline registers from inputs to outputs (default 0)")),
    ("--target", "target", dict(choices=list(TIMING_TARGETS),
                                help="with --fmax: the FPGA family whose delay model places "
                                "the registers (default ecp5)")),
    ("--fmax", "fmax", dict(type=_fmax_arg, metavar="MHZ",
                            help="place pipeline registers to meet this clock (MHz) by exmy's "
                            "delay model; the alternative to --latency")),
    ("--dsp", "dsp", dict(action="store_true", default=None,
                          help="with --fmax: place the registers for a synthesis flow that "
                          "maps each product to a DSP block (ecp5; exmy synth --dsp implies "
                          "it)")),
    ("--depth", "depth", dict(type=count_arg, metavar="N",
                              help="mac: products per dot product the accumulator must hold "
                              "exactly (default 4608)")),
    ("--acc-bits", "acc_bits", dict(type=count_arg, metavar="W",
                                    help="mac: accumulator width (default from --depth)")),
    ("--acc-format", "acc_format", dict(metavar="FMT",
                                        help="mac: keep the accumulator in this float format "
                                        "(an FMA chain) instead of exact fixed point")),
    ("--saturate-acc", "saturate_acc", dict(action="store_true", default=None,
                                            help="mac: clamp the accumulator instead of "
                                            "wrapping")),
    ("--multiplier", "multiplier", dict(choices=_values(MULTIPLIER_NAMES),
                                        help="mac: product kind (default exact)")),
    ("--acc-chunk", "acc_chunk", dict(type=count_arg, metavar="C",
                                      help="mac, int-mac: segmented accumulator of C-bit "
                                      "chunks, carries resolved in 2 more cycles (default: "
                                      "one chunk)")),
    ("--granularity", "granularity", dict(type=count_arg, metavar="G",
                                          help="approx-fma: normalization step (power of 2)")),
    ("--window", "window", dict(type=count_arg, metavar="K",
                                help="approx-fma: cap on the normalization shift")),
    ("--form", "form", dict(choices=_values(LMUL_FORMS), help="lmul: adder or formula")),
    ("--offset", "offset", dict(choices=_values(LMUL_OFFSETS), help="lmul: offset kind")),
    ("--lanes", "lanes", dict(type=count_arg, metavar="N", help="dot: number of lanes")),
    ("--elem", "elem", dict(metavar="FMT", help="mx-dot: element format of A (e4m3fn, e5m2, "
                            "e2m3fn, e3m2fn, e2m1fn, mxint8, ...)")),
    ("--elem-b", "elem_b", dict(metavar="FMT", help="mx-dot: element format of B (default: "
                                "--elem)")),
    ("--block", "block", dict(type=count_arg, metavar="K", help="mx-dot: block size k "
                              "(default 32; 16 with --scale e4m3fn)")),
    ("--scale", "scale", dict(metavar="FMT", help="mx-dot: block-scale format, e8m0fnu "
                              "(OCP MX, default) or e4m3fn (NVFP4)")),
    ("--accumulate", "accumulate", dict(action="store_true", default=None,
                                        help="dot, mx-dot: add each result into a fixed-point "
                                        "accumulator (MAC ports valid/clear/acc/flags/y)")),
]


def add_unit_options(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """The ``UNIT`` argument and the options of :data:`UNIT_OPTIONS` that at least one
    registered unit takes (an option of a unit that does not exist is not offered); ``skip``:
    dests the command defines itself (``exmy synth --target`` names the synthesis target,
    which is then also the delay model's)."""
    from exmy.hdl.registry import UNITS, unit_names

    names = unit_names()
    taken = {o for n in names for o in UNITS[n].options}
    lines = "\n".join(f"  {n:16s} {UNITS[n].summary}" for n in names)
    p.add_argument("unit", metavar="UNIT", help=f"one of: {', '.join(names)}")
    p.epilog = (p.epilog or "") + f"\nunits:\n{lines}\n"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    g = p.add_argument_group("unit options (each unit takes a subset)")
    for flag, dest, kw in UNIT_OPTIONS:
        if dest in taken and dest not in skip:
            g.add_argument(flag, dest=dest, **kw)


#: the components' parameter names (Python API) that differ from the option's dest
_PARAM_DESTS = {"fmt_a": "a", "fmt_b": "b", "fmt_c": "c", "fmt_out": "out", "scale_fmt": "scale"}
_PARAM_FLAGS = {**{dest: flag for flag, dest, _ in UNIT_OPTIONS},
                **{p: f"--{d}" for p, d in _PARAM_DESTS.items()}}
_ANY_PARAM = "|".join(sorted(_PARAM_FLAGS, key=len, reverse=True))
#: ``rounding='rtz'``, ``acc_chunk=4``, ``accumulate=True``
_PARAM_VALUE = re.compile(rf"(?<![\w.-])({_ANY_PARAM})=('([^']*)'|[^\s,;:)]+)")
#: names no English word spells: ``acc_bits``, ``fmt_out``, and ``fmax``, ``dsp`` (measured
#: figures say "Fmax" and "DSP")
_SNAKE = "|".join(sorted([p for p in _PARAM_FLAGS if "_" in p] + ["fmax", "dsp"], key=len,
                         reverse=True))
_PARAM_NAME = re.compile(rf"(?<![\w.'-])({_SNAKE})(?![\w'])")
#: a plain word that is the subject of a rule about options: "depth and --acc-bits apply",
#: "saturate applies"
_PARAM_SUBJECT = re.compile(rf"(?<![\w.'-])({_ANY_PARAM})(?= (?:and --[a-z]|applies\b|apply\b))")
#: ... or its object: "give a smaller lanes"
_PARAM_OBJECT = re.compile(rf"\b(a (?:smaller|larger|lower|higher)) ({_ANY_PARAM})(?![\w'-])")


def option_words(text: str) -> str:
    """A unit's error, which names the Python API's parameters (``rand_bits=4``,
    ``rounding='rne'``, ``fmt_out``, ``fmax``), in the command line's words (``--rand-bits 4``,
    ``--rounding rne``, ``--out``, ``--fmax``). Words that are also plain English (latency,
    target, window, ...) are left alone but as the subject of a rule ("saturate applies",
    "depth and --acc-bits apply"), in "give a smaller lanes" and in "give latency"."""
    def value(m: re.Match) -> str:
        flag, v = _PARAM_FLAGS[m[1]], m[3] if m[3] is not None else m[2]
        if v == "True":
            return flag
        return f"no {flag}" if v in ("False", "None") else f"{flag} {v}"

    text = _PARAM_VALUE.sub(value, text)
    text = _PARAM_NAME.sub(lambda m: _PARAM_FLAGS[m[1]], text)
    text = _PARAM_SUBJECT.sub(lambda m: _PARAM_FLAGS[m[1]], text)
    text = _PARAM_OBJECT.sub(lambda m: f"{m[1]} {_PARAM_FLAGS[m[2]]}", text)
    text = re.sub(r"\b([Gg]ive) latency\b", r"\1 --latency", text)
    return text


def unit_options(args: argparse.Namespace) -> dict:
    options = {dest: getattr(args, dest) for _, dest, _ in UNIT_OPTIONS
               if getattr(args, dest, None) is not None}
    if "latency" in options and "fmax" in options:
        raise CliError("give --latency or --fmax, not both: with --fmax exmy chooses the "
                       "latency")
    return options
