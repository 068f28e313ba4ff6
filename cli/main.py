"""The ``exmy`` command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sqlite3
import stat
import sys
import warnings

# Nothing of exmy is imported at module level: the console script imports this module before
# main() runs, and a Ctrl-C during that import would be a traceback (main() turns one into
# "exmy: interrupted"); .common pulls in numpy and the golden model.

__all__ = ["main", "COMMANDS"]

#: subcommand modules, each with ``add_parser(subparsers)`` and ``run(args) -> int``
COMMANDS = [
    "exmy.cli.cmd_formats",
    "exmy.cli.cmd_generate",
    "exmy.cli.cmd_simulate",
    "exmy.cli.cmd_synth",
    "exmy.cli.cmd_sweep",
    "exmy.cli.cmd_report",
    "exmy.cli.cmd_analyze",
    "exmy.cli.cmd_build",
    "exmy.cli.cmd_demo",
    "exmy.cli.cmd_quantize",
    "exmy.cli.cmd_prove",
    "exmy.cli.cmd_evaluate",
]


def _modules():
    return [importlib.import_module(m) for m in COMMANDS]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("exmy")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``exmy CMD: error: ...`` and the ``--help`` to read,
    exit code 2 (argparse prints its whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def _print_message(self, message, file=None):
        # argparse drops an OSError here: `exmy --help > /dev/full` printed nothing, exit 0
        if file is not sys.stdout or not message:
            super()._print_message(message, file)
            return
        failed = None
        try:
            sys.stdout.write(message)
        except OSError as exc:
            failed = exc
        code = _stdout_error(self.prog, failed)
        if code is not None:
            self.exit(code)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="exmy",
        description="Generate, verify and cost hardware for low-precision arithmetic "
        "(ExMy minifloats, integers, L-Mul).",
    )
    p.add_argument("--version", action="version", version=f"exmy {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in _modules():
        mod.add_parser(sub)
    return p


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM during a command, raised as Ctrl-C's exception: every
    ``except KeyboardInterrupt`` handles it.

    A subclass, not ``KeyboardInterrupt`` itself: under ``python -m exmy.cli.main``, CPython
    3.11 remembers a plain ``KeyboardInterrupt`` that leaves code run by ``exec`` of a string
    (``dataclasses`` and ``namedtuple`` build methods that way) as "the program ended by
    Ctrl-C", even when an outer frame catches it, and at exit kills itself with SIGINT instead
    of returning exmy's status 130. Its check is for the exact type; a subclass is not
    remembered."""


def _interrupted(signum, frame):
    """Raise :class:`Interrupted`, unless the signal landed inside a ``__del__``, where Python
    would ignore the exception and the command would not stop: then the same signal comes
    again a moment later (``exmy.synth.tools.resend_if_in_finalizer``; imported by
    :func:`main` as soon as the handlers are in place, and no component exists before)."""
    tools = sys.modules.get("exmy.synth.tools")
    if tools is not None and tools.resend_if_in_finalizer(signum, frame):
        return
    raise Interrupted


def _take_signals() -> dict:
    """Make Ctrl-C and SIGTERM (kill, a job scheduler, `timeout`) raise :class:`Interrupted`:
    the command stops the same way for both, says what it kept and removes its temporary
    folders. A SIGINT that is ignored (a background job of a script) or has the caller's own
    handler is left alone. Returns the previous handlers, for :func:`main` to restore."""
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if sig == signal.SIGINT and signal.getsignal(sig) is not signal.default_int_handler:
                continue
            previous[sig] = signal.signal(sig, _interrupted)
    except ValueError:  # not the main thread (main() called from a worker)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        previous = {}
    return previous


def main(argv: list[str] | None = None) -> int:
    previous = _take_signals()
    try:
        import exmy.synth.tools  # noqa: F401  (for _interrupted)

        if sys.stdout is None:  # started with standard output closed (`exmy ... >&-`)
            # Python would drop every line printed without a word; Unix tools say so and stop
            if sys.stderr is not None:
                print("exmy: error: standard output is closed; exmy prints its results there "
                      "(redirect it to a file or to /dev/null)", file=sys.stderr)
            return 2
        try:
            code = _main(argv)
        except SystemExit:  # argparse's --help, --version and usage errors
            code = _stdout_error("exmy")
            if code is not None:
                raise SystemExit(code) from None
            raise
        failed = _stdout_error("exmy")
        return code if failed is None else failed
    except KeyboardInterrupt:  # Ctrl-C before a command started (imports, parsing)
        print("exmy: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            try:
                signal.signal(sig, handler)
            except KeyboardInterrupt:  # one more Ctrl-C as the command ends: it has ended
                signal.signal(sig, handler)


def _lower_clock(exc: Exception) -> str:
    """For a clock out of reach (``exmy.hdl.timing.OutOfReach`` from the registry): the
    highest clock exmy can place the unit for, searched by building it (its structure can
    follow the clock, so the refusal's best predicted Fmax is not always the answer)."""
    from exmy.hdl.timing import OutOfReach

    if not isinstance(exc, OutOfReach) or not hasattr(exc, "request"):
        return ""
    from exmy.hdl.registry import SEARCH_SECONDS, highest_fmax

    unit, options = exc.request
    try:
        best, done = highest_fmax(unit, options, exc)
    except KeyboardInterrupt:  # Ctrl-C: the refusal still stands, the search is dropped
        return "; the search for a lower clock was interrupted"
    if best is None:
        return (f"; no clock of 1 MHz or more can be placed on {exc.target}" if done else
                f"; exmy found no clock it can place this {unit} for on {exc.target} in "
                f"{SEARCH_SECONDS:g} s of search")
    if not done:
        return (f"; exmy can place this {unit} for {best} MHz on {exc.target} (--fmax {best}; "
                f"{SEARCH_SECONDS:g} s of search did not settle whether a faster clock places)")
    return f"; exmy can place this {unit} for up to {best} MHz on {exc.target} (--fmax {best})"


#: commands that run Yosys or nextpnr (YoWASP: WebAssembly under wasmtime)
_YOWASP_COMMANDS = ("generate", "simulate", "synth", "sweep", "build", "prove", "demo")


def _check_yowasp_cache() -> None:
    """wasmtime, which runs the YoWASP tools (Amaranth's Verilog back end among them), keeps
    its compiled code in ``$XDG_CACHE_HOME/wasmtime`` (else ``~/.cache/wasmtime``) and fails
    with a traceback when it cannot create that folder: say so in one line instead."""
    from .common import CliError

    xdg = os.environ.get("XDG_CACHE_HOME")
    home = os.environ.get("HOME")
    if xdg:
        cache, var = os.path.join(xdg, "wasmtime"), "XDG_CACHE_HOME"
    elif home:
        cache, var = os.path.join(home, ".cache", "wasmtime"), "HOME"
    else:
        return  # wasmtime finds the home folder itself
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"Yosys and nextpnr (YoWASP, run by wasmtime) keep a cache in {cache}, which cannot "
            f"be created ({exc.strerror or type(exc).__name__}; from {var}); set "
            f"XDG_CACHE_HOME to a writable folder") from None


def _check_tmpdir() -> None:
    """Python falls back to /tmp when ``TMPDIR`` names no folder, but Icarus, Verilator's
    compiler and the YoWASP tools do not: say so before one of them fails."""
    from .common import CliError

    tmp = os.environ.get("TMPDIR")
    if tmp and not os.path.isdir(tmp):
        raise CliError(f"TMPDIR={tmp} is not a folder (the simulators and the synthesis tools "
                       f"write temporary files there); point it at a writable folder or unset "
                       f"it")
    if tmp:
        # Python also falls back when TMPDIR cannot take a file (full, read-only); Icarus
        # then fails with "No input files given"
        probe = os.path.join(tmp, f".exmy-probe-{os.getpid()}")
        try:
            with open(probe, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise CliError(f"TMPDIR={tmp} cannot take a file ({exc.strerror or exc}); the "
                           f"simulators and the synthesis tools write temporary files there: "
                           f"free space there, or point TMPDIR at another folder") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(probe)


def _no_room_hint(exc: OSError) -> str:
    """What to do about an error that means there is no room to write, where its message
    alone does not say: Python's "No usable temporary directory" (every candidate folder
    refused a file), EFBIG ("File too large" for a small file: a file-size limit), and ENOSPC
    or EDQUOT that name no file."""
    import errno

    if str(exc.strerror or exc).startswith("No usable temporary directory"):
        return ("; the disk is full or not writable: free some space, or point TMPDIR at a "
                "folder on a disk with room")
    if exc.errno == errno.EFBIG:
        return "; a file-size limit (`ulimit -f`) or the disk's room is reached"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and not exc.filename:
        return "; the disk is full (or a quota is reached): free some space"
    return ""


def _cwd_exists() -> bool:
    try:
        os.getcwd()
    except OSError:
        return False
    return True


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _stdout_error(prog: str, exc: OSError | None = None) -> int | None:
    """Whether what was printed reached standard output: None if so, else the exit code after
    saying so (a full disk or ``> /dev/full``: 2 and one line naming standard output; a reader
    that left the pipe, ``exmy formats | head``: 141, quietly, as Unix tools do).

    Flushes it first: Python would otherwise report the loss only at exit, after a success
    code. ``exc``: an OSError that named no file, from a print when Python runs unbuffered
    (``PYTHONUNBUFFERED``; nothing is left pending to fail the flush), or from elsewhere."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as pending:
        exc = pending
    else:
        if exc is None or not (_stdout_full() or (isinstance(exc, BrokenPipeError)
                                                  and _stdout_gone())):
            return None
    quiet = isinstance(exc, BrokenPipeError) and _stdout_gone()
    # what could not be written is dropped, so that exit does not fail on it again
    with contextlib.suppress(OSError, ValueError):  # (a stdout with no file descriptor)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if quiet:
        return 141
    print(f"{prog}: error: cannot write standard output: {exc.strerror or exc}",
          file=sys.stderr)
    return 2


def _stdout_full() -> bool:
    """Whether standard output goes to a full disk or to /dev/full: an OSError that names no
    file came from a print there (Python running unbuffered, ``PYTHONUNBUFFERED``, keeps no
    pending data for :func:`_stdout_error`'s flush to find)."""
    try:
        fd = sys.stdout.fileno()
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 7)  # /dev/full
        return os.fstatvfs(fd).f_bavail == 0
    except (OSError, ValueError, AttributeError):
        return False


def _given_names(args) -> list[str]:
    """The option values (file and folder names among them) that hold a newline or another
    character that does not print."""
    out = []
    for v in vars(args).values():
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, str) and not x.isprintable():
                out.append(x)
    return sorted(out, key=len, reverse=True)


def _one_line(text: str, args) -> str:
    """An error naming a file the user gave, whose name holds a newline, would span lines:
    such a name is shown escaped, as repr shows it (``nl\\ndir/x.sqlite``)."""
    for name in _given_names(args):
        text = text.replace(name, repr(name)[1:-1])
    return text


def _shown(name) -> str:
    """A file name for an error line: escaped when it holds a newline (or any character that
    does not print)."""
    name = os.fsdecode(name) if isinstance(name, bytes | os.PathLike) else str(name)
    return name if name.isprintable() else repr(name)[1:-1]


def _main(argv: list[str] | None) -> int:
    from .common import CliError, option_words

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Components built only for metadata are never elaborated; that is fine here.
    try:
        from amaranth.hdl import UnusedElaboratable

        warnings.filterwarnings("ignore", category=UnusedElaboratable)
    except ImportError:  # pragma: no cover
        pass
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand whose options were wrong
        cmd = f"exmy {args.command}"
        print(f"{cmd}: error: unrecognized arguments: {' '.join(extra)} (see `{cmd} --help`)",
              file=sys.stderr)
        return 2
    try:
        if args.command in _YOWASP_COMMANDS:
            _check_yowasp_cache()
            _check_tmpdir()
        return int(args.run(args) or 0)
    except (CliError, ValueError, TypeError) as exc:
        text = str(exc)
        if getattr(exc, "unit_refusal", False):  # registry.build's: in the options' words
            text = option_words(text)
        print(_one_line(f"exmy {args.command}: error: {text}{_lower_clock(exc)}", args),
              file=sys.stderr)
        return 2
    except RuntimeError as exc:
        # missing tools (ToolNotFoundError) and failed tool runs: one line, no traceback
        if type(exc).__name__ in ("ToolNotFoundError", "SimulationError", "SynthError",
                                  "VerilogBackendError"):
            print(_one_line(f"exmy {args.command}: error: {exc}", args), file=sys.stderr)
            return 2
        raise
    except sqlite3.Error as exc:
        # the results database failed mid-command (a full disk, an I/O error): one line; what
        # was committed before stays (every record is its own transaction)
        print(_one_line(f"exmy {args.command}: error: the results database failed ({exc}); "
                        f"the records stored before this point are kept", args),
              file=sys.stderr)
        return 2
    except OSError as exc:
        if not exc.filename:
            # a print that failed: standard output full (`> /dev/full`) or its reader gone
            # (`exmy formats | head`: quietly, as Unix tools do)
            code = _stdout_error(f"exmy {args.command}", exc)
            if code is not None:
                return code
        # a file the command reads or writes: one line naming it, no traceback
        where = f": {_shown(exc.filename)}" if exc.filename else ""
        if not exc.filename and not _cwd_exists():
            where = " (the current folder no longer exists: cd to an existing folder)"
        print(_one_line(f"exmy {args.command}: error: {exc.strerror or exc}{where}"
                        f"{_no_room_hint(exc)}", args), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C: one line (a command may say what it had done, e.g. exmy.sim's
        # CheckInterrupted), exit code 130 like a shell
        print(_one_line(f"exmy {args.command}: {str(exc) or 'interrupted'}", args),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
