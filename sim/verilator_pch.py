"""One precompiled header of Verilator's run-time headers, shared by every Verilator build.

A Verilator build compiles the model's C++ (``Vtop__ALL.cpp``, or its parts for a large design)
and cocotb's ``verilator.cpp``; most of each compile is parsing ``verilated.h`` and the timing
coroutines' headers (measured in docs/results/sim_clock.md). The object cache (ccache) cannot
help there: each model is new C++. So the headers are precompiled once per machine, into a
folder under the user's cache (``$XDG_CACHE_HOME/exmy`` or ``~/.cache/exmy``), named by a hash
of the compiler, the headers and the flags, and each build's model includes them with ``-include``.

GCC uses a precompiled header only when it was made with the same flags as the compile that
includes it, and otherwise reads the headers as before: a mismatch costs time, never
correctness. ``-Winvalid-pch`` makes such a mismatch visible in the build log (a test checks
that none occurs). When the header cannot be made (no GCC, an unwritable or odd cache folder, a
failed compile), builds go on without it. ``EXMY_VERILATOR_PCH=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["make_overrides", "HEADER"]

#: the header each build includes: Verilator's run-time headers that the model, its DPI/VPI
#: glue and cocotb's main file include
HEADER = "exmy_verilated.h"
_INCLUDES = ("verilated.h", "verilated_dpi.h", "verilated_vpi.h", "verilated_timing.h")
#: verilated.mk's preprocessor flags for exmy's builds (cocotb_runner's --timing, no coverage,
#: SystemC or tracing) and cocotb_runner's -CFLAGS -fcoroutines
_FLAGS = ("-DVERILATOR=1", "-DVM_COVERAGE=0", "-DVM_SC=0", "-DVM_TIMING=1", "-DVM_TRACE=0",
          "-DVM_TRACE_FST=0", "-DVM_TRACE_VCD=0", "-DVM_TRACE_SAIF=0", "-fcoroutines")
#: verilated.mk's optimisation levels: OPT_FAST and OPT_GLOBAL (-Os), OPT_SLOW (none); GCC
#: picks the variant that matches from the .gch folder
_LEVELS = {"Os": ("-Os",), "O0": ()}
#: characters the header's path may not hold. Stricter than cocotb_runner's build-folder
#: check: the path goes through MAKEFLAGS (spaces split it, ``$`` expands, ``\`` escapes)
#: into a recipe's shell command (quotes); a path holding one just means no shared header
_BAD = " \t\n\r\"'#;:*?$\\"

_made: dict[str, Path | None] = {}


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exmy" / "verilator-pch"


def _key(root: Path, cxx: str) -> str:
    """The compiler (its path and version), every header under Verilator's include folder and
    the flags: a change in any of them makes a new folder."""
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    h.update(f"{Path(cxx).resolve()}\0{version.stdout}\0{_FLAGS}\0{_LEVELS}\0".encode())
    for sub in ("include", "include/vltstd"):
        for f in sorted((root / sub).glob("*.h")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:20]


def _build(root: Path, cxx: str, dest: Path) -> None:
    """Make ``dest`` (the header and its .gch folder) in a temporary folder beside it, check
    that GCC uses it, and move it into place; a process that got there first wins."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        header = tmp / HEADER
        header.write_text("".join(f'#include "{name}"\n' for name in _INCLUDES))
        gch = tmp / f"{HEADER}.gch"
        gch.mkdir()
        base = [f"-I{root / 'include'}", f"-I{root / 'include' / 'vltstd'}", *_FLAGS]
        procs = []
        try:
            for name, opt in _LEVELS.items():
                procs.append(subprocess.Popen(
                    [cxx, *opt, *base, "-x", "c++-header", str(header), "-o", str(gch / name)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            errors = [p.communicate(timeout=600)[1] for p in procs]
        finally:  # Ctrl-C or a timeout: no compiler left writing into the folder removed below
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        if any(p.returncode for p in procs):
            raise RuntimeError("; ".join(e.strip() for e in errors if e.strip())[:400])
        # the header must be used, not read: an invalid one is an error here
        probe = subprocess.run(
            [cxx, "-Os", *base, "-Winvalid-pch", "-Werror", "-include", str(header),
             "-fsyntax-only", "-x", "c++", os.devnull],
            capture_output=True, text=True, timeout=600,
        )
        if probe.returncode:
            raise RuntimeError(probe.stderr.strip()[:400])
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / f"{HEADER}.gch").is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_overrides(root: str | Path | None = None) -> str:
    """``make`` variable overrides (MAKEFLAGS syntax) that make a build's model and main file
    include the shared precompiled header (made on first use, once per process at most), or
    ``""`` when it is off or unavailable.

    Only verilated.mk's ``OPT_FAST`` and ``OPT_SLOW`` compiles get it, not the run-time
    library's (``OPT_GLOBAL``): those are the same in every build and come from the object
    cache, which would otherwise hash the large precompiled header into every lookup (size
    in docs/results/sim_clock.md). ``root`` is
    Verilator's root folder (``VERILATOR_ROOT``)."""
    if os.environ.get("EXMY_VERILATOR_PCH", "1") == "0":
        return ""
    root = Path(root or os.environ.get("VERILATOR_ROOT", ""))
    cxx = shutil.which("c++")  # verilated.mk's CXX
    if cxx is None or not (root / "include" / "verilated.h").is_file():
        return ""
    memo = f"{root}\0{cxx}"
    dest = _made.get(memo, False)
    if dest is False or (dest is not None and not (dest / f"{HEADER}.gch").is_dir()):
        dest = None
        try:
            candidate = _cache_root() / _key(root, cxx)
            if not any(c in _BAD for c in str(candidate)) and str(candidate).isprintable():
                if not (candidate / f"{HEADER}.gch").is_dir():
                    _build(root, cxx, candidate)
                dest = candidate
        except (OSError, RuntimeError, subprocess.SubprocessError):
            dest = None  # builds go on without it
        _made[memo] = dest
    if dest is None:
        return ""
    # in MAKEFLAGS a backslash escapes a space; -fpch-preprocess lets ccache's preprocessor
    # run keep the header precompiled (ccache's documented use with sloppiness pch_defines,
    # time_macros, which verilated.mk exports)
    use = f"-Winvalid-pch\\ -fpch-preprocess\\ -include{dest / HEADER}"
    return f"OPT_FAST=-Os\\ {use} OPT_SLOW={use}"
