"""One synthesis (and place-and-route) run: Verilog in, a flat record of its FPGA cost out.

Flow per target (Yosys 0.70 and nextpnr 0.11 from YoWASP):

=============  =====================================================  =========================
target         Yosys                                                  nextpnr
=============  =====================================================  =========================
``ecp5``       ``synth_ecp5 [-nodsp -nobram] [-nowidelut]``           ``--85k --package CABGA756``
``ice40``      ``synth_ice40 [-nobram]`` (no DSP blocks on the HX8K)  ``--hx8k --package ct256``
``ice40-up5k`` ``synth_ice40 [-dsp | -nobram]``                       ``--up5k --package sg48``
``gowin``      ``synth_gowin [-nodsp -nobram] [-nowidelut]``          himbaechel, GW1N-LV9LQ144C6/I5
                                                                      (``family=GW1N-9C``), pins
                                                                      from apycula's chip database
``xilinx``     ``synth_xilinx -flatten -nosrl [-nodsp -nobram]``      none (cell counts only)
``generic``    ``synth -flatten; abc -g AND,NAND,...,MUX``; ``ltp``    none (gates and depth)
=============  =====================================================  =========================

Hard blocks: ``dsp=False`` (the default) turns off DSPs *and* block RAM, so that LUT counts
compare like with like (a case-statement table would otherwise become a block-RAM ROM with no
LUTs); ``dsp=True`` allows both. ``-nosrl`` on Xilinx keeps the input registers flip-flops.
``widelut=False`` adds ``-nowidelut`` (ECP5, Gowin, Xilinx).

Registered I/O (``register_io=True``, the default): the design is wrapped in a generated
Verilog module ``exmy_wrap`` that puts a flip-flop on every input and output bit, so a
combinational unit gets a register-to-register path for Fmax, as ANCHORS.md measures. Those
flip-flops are counted in ``ff``. Two wrapper shapes, recorded as ``io_mode``:

``parallel``
    every port bit gets its own pin and its own register (ANCHORS.md's method). Used when the
    bits fit the package (and always for ``xilinx``/``generic``, which have no pins).
``serial``
    for designs with more IO bits than the package has pins (UP5K sg48 has 39 IOs): the input
    registers form one shift register fed from a single pin ``sin`` (still one flip-flop per
    input bit, no extra logic), and the output registers carry a ``(* keep *)`` attribute so
    neither Yosys nor nextpnr removes them; one output bit drives the pin ``sout``. So the
    serial wrapper costs exactly the same cells as the parallel one (checked: an 8x8 multiplier
    gives identical LUT/FF counts both ways), unlike an XOR-reduce output, which adds LUTs.

A clock port is a 1-bit input called ``clk`` (Amaranth's default domain); every other input,
``rst`` included, is registered like data.

YoWASP tools cannot see absolute paths under ``/tmp`` (WASI sandbox): every tool runs with its
cwd in the work directory and gets relative file names only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from exmy.golden.params import plain_scalar

from .tools import find_tool, make_dir, run_tool, tool_version

__all__ = [
    "ignored_options",
    "FLOW_VERSION",
    "MAX_SEED",
    "TARGETS",
    "Target",
    "check_seed",
    "flow_key",
    "flow_settings",
    "make_wrapper",
    "synthesize",
]

#: Bumped whenever the flow changes what a record means (scripts, wrapper, parsing), so that
#: old cached records are not reused for new settings.
FLOW_VERSION = 1

_YOSYS_TIMEOUT = 3600
_NEXTPNR_TIMEOUT = 3600


@dataclass(frozen=True)
class Target:
    """A synthesis target: the Yosys command, the nextpnr tool and arguments, the package's
    usable IO count, and the cell classification."""

    name: str
    family: str
    device: str
    synth: str
    nextpnr: str | None = None
    nextpnr_args: tuple[str, ...] = ()
    #: Pins usable for data bits (the clock takes one more).
    io_pins: int | None = None
    #: Which flags apply: "nodsp" (DSPs on unless -nodsp), "dsp" (off unless -dsp), None.
    dsp_flag: str | None = None
    #: Whether the device has DSP blocks. The iCE40 HX8K has none: ``synth_ice40 -dsp`` would
    #: infer SB_MAC16 cells that nextpnr cannot place, so there ``dsp`` allows block RAM only.
    dsp_blocks: bool = True
    widelut: bool = False
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Cells that are not hardware cost (IO buffers, hierarchy markers, constants).
    ignore: tuple[str, ...] = ("$scopeinfo",)
    #: What the target's nextpnr leaves out of its timing ("" when it times everything).
    timing_gap: str = ""


_ECP5 = {
    "lut": ("LUT4",),
    "carry": ("CCU2C",),
    "widemux": ("PFUMX", "L6MUX21"),
    "ff": ("TRELLIS_FF",),
    "dsp": ("MULT18X18D", "ALU54B", "ALU24B", "MULT9X9D"),
    "bram": ("DP16KD", "PDPW16KD"),
    "lutram": ("TRELLIS_DPR16X4",),
}
_ICE40 = {
    "lut": ("SB_LUT4",),
    "carry": ("SB_CARRY",),
    "widemux": (),
    "ff": ("SB_DFF*",),
    "dsp": ("SB_MAC16",),
    "bram": ("SB_RAM40_4K*", "SB_SPRAM256KA"),
    "lutram": (),
}
_GOWIN = {
    "lut": ("LUT1", "LUT2", "LUT3", "LUT4"),
    "carry": ("ALU",),
    "widemux": ("MUX2_LUT5", "MUX2_LUT6", "MUX2_LUT7", "MUX2_LUT8"),
    "ff": ("DFF*",),
    "dsp": ("MULT9X9", "MULT18X18", "MULT36X36", "MULTALU*", "MULTADDALU*", "ALU54D",
            "PADD9", "PADD18"),
    "bram": ("SP", "SPX9", "DP", "DPX9", "DPB", "DPX9B", "SDP", "SDPX9", "SDPB", "SDPX9B",
             "pROM", "pROMX9"),
    "lutram": ("RAM16S*", "RAM16SDP*"),
}
_XILINX = {
    "lut": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "carry": ("CARRY4", "CARRY8"),
    "widemux": ("MUXF7", "MUXF8", "MUXF9"),
    "ff": ("FD*",),
    "dsp": ("DSP48*",),
    "bram": ("RAMB*",),
    "lutram": ("RAM32*", "RAM64*", "RAM128*", "RAM256*", "RAM16*", "SRL*"),
}
_GENERIC = {
    "gate": ("$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_XOR_", "$_XNOR_", "$_ANDNOT_",
             "$_ORNOT_", "$_MUX_", "$_NOT_"),
    "ff": ("$_DFF*", "$_SDFF*", "$_DFFE*", "$_SDFFE*", "$_SDFFCE*", "$_ALDFF*", "$_DLATCH*"),
}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("ecp5", "ecp5", "LFE5U-85F-CABGA756", "synth_ecp5", "nextpnr-ecp5",
               ("--85k", "--package", "CABGA756"), io_pins=364, dsp_flag="nodsp",
               widelut=True, classes=_ECP5),
        Target("ice40", "ice40", "iCE40HX8K-CT256", "synth_ice40", "nextpnr-ice40",
               ("--hx8k", "--package", "ct256"), io_pins=205, dsp_flag="dsp", dsp_blocks=False,
               classes=_ICE40),
        Target("ice40-up5k", "ice40", "iCE40UP5K-SG48", "synth_ice40", "nextpnr-ice40",
               ("--up5k", "--package", "sg48"), io_pins=38, dsp_flag="dsp", classes=_ICE40),
        Target("gowin", "gowin", "GW1N-LV9LQ144C6/I5", "synth_gowin", "nextpnr-gowin",
               ("--device", "GW1N-LV9LQ144C6/I5", "--vopt", "family=GW1N-9C"), io_pins=80,
               dsp_flag="nodsp", widelut=True, classes=_GOWIN,
               ignore=("$scopeinfo", "IBUF", "OBUF", "TBUF", "IOBUF", "GND", "VCC"),
               timing_gap="does not time carry chains"),
        Target("xilinx", "xilinx", "xc7 (synth_xilinx, no PnR)", "synth_xilinx", None,
               dsp_flag="nodsp", widelut=True, classes=_XILINX,
               ignore=("$scopeinfo", "IBUF", "OBUF", "BUFG", "IOBUF", "OBUFT", "GND", "VCC")),
        Target("generic", "generic", "abc -g gates", "synth", None, classes=_GENERIC),
    )
}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")  # fullmatch: no trailing newline
_WRAP_TOP = "exmy_wrap"


# --------------------------------------------------------------------------------------------
# Argument checks and the cache key
# --------------------------------------------------------------------------------------------

def _check_ports(ports: dict) -> dict[str, dict]:
    if not isinstance(ports, dict):
        raise TypeError(f"Ports must be a dict of {{name: {{'dir', 'width'}}}}, not {ports!r}")
    out = {}
    for name, spec in ports.items():
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            raise ValueError(f"Port name must be a plain Verilog identifier, not {name!r}")
        if not isinstance(spec, dict) or set(spec) - {"dir", "width"}:
            raise ValueError(
                f"Port {name!r} must be described as {{'dir': 'in'|'out', 'width': int}}, "
                f"not {spec!r}")
        direction, width = spec.get("dir"), spec.get("width")
        if direction not in ("in", "out"):
            raise ValueError(f"Port {name!r} direction must be 'in' or 'out', not {direction!r}")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"Port {name!r} width must be a positive integer, not {width!r}")
        out[name] = {"dir": direction, "width": width}
    return out


def _has_clock(ports: dict[str, dict]) -> bool:
    return ports.get("clk") == {"dir": "in", "width": 1}


def _check_target(target: str) -> Target:
    if not isinstance(target, str):
        raise TypeError(f"Target must be a string, not {target!r}")
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; valid targets are {', '.join(TARGETS)}")
    return TARGETS[target]


#: the largest nextpnr placer seed (its ``--seed`` is a C int)
MAX_SEED = 2**31 - 1


def check_seed(seed) -> int:
    """``seed`` if it is a valid nextpnr placer seed (an integer, 0..:data:`MAX_SEED`)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"Seed must be an integer, not {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be an integer from 0 to {MAX_SEED} (nextpnr's --seed is a "
                         f"C int), not {seed}")
    return seed


def ignored_options(target) -> set[str]:
    """The flow options a target ignores (:func:`flow_settings` normalises them away): ``seed``
    and ``freq_mhz`` without place and route, ``dsp`` without a DSP switch, ``widelut`` where
    Yosys has no -nowidelut."""
    t = target if isinstance(target, Target) else _check_target(target)
    out = set()
    if t.nextpnr is None:
        out |= {"seed", "freq_mhz"}
    if not t.dsp_flag:
        out.add("dsp")
    if not t.widelut:
        out.add("widelut")
    return out


def flow_settings(target: str, *, dsp: bool = False, freq_mhz: float = 100.0, seed: int = 1,
                  register_io: bool = True, widelut: bool = True, io: str = "auto") -> dict:
    """Validate flow options and return them normalised: options a target ignores become
    ``None`` (seed and frequency without place and route, ``widelut`` on iCE40 and generic, DSPs
    on generic), so that points differing only there share one cache entry."""
    t = _check_target(target)
    # a numpy scalar counts as the Python value it holds (as in every unit's constructor)
    dsp, freq_mhz, seed, register_io, widelut = map(
        plain_scalar, (dsp, freq_mhz, seed, register_io, widelut))
    for name, value in (("dsp", dsp), ("register_io", register_io), ("widelut", widelut)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, not {value!r}")
    check_seed(seed)
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, int | float):
        raise TypeError(f"Frequency must be a number in MHz, not {freq_mhz!r}")
    if not 0 < freq_mhz < math.inf:
        raise ValueError(f"Frequency must be a positive number of MHz, not {freq_mhz!r}")
    if io not in ("auto", "parallel", "serial"):
        raise ValueError(f"IO wrapper must be 'auto', 'parallel' or 'serial', not {io!r}")
    pnr = t.nextpnr is not None
    ignored = ignored_options(t)
    return {
        "target": t.name,
        "dsp": False if "dsp" in ignored else dsp,
        "widelut": None if "widelut" in ignored else widelut,
        "seed": None if "seed" in ignored else seed,
        "freq_mhz": None if "freq_mhz" in ignored else float(freq_mhz),
        "register_io": register_io,
        "io": io if (register_io and pnr) else None,
    }


def flow_key(verilog: str, top: str, ports: dict[str, dict], settings: dict,
             tool_versions: dict[str, str]) -> str:
    """sha256 over the Verilog text, top, ports, normalised settings, tool versions and
    :data:`FLOW_VERSION`: equal keys mean equal results (up to tool nondeterminism)."""
    h = hashlib.sha256()
    h.update(verilog.encode())
    h.update(b"\0")
    key = {"top": top, "ports": ports, "settings": settings, "tools": tool_versions,
           "flow": FLOW_VERSION}
    t = TARGETS.get(settings.get("target"))
    if settings.get("dsp") and t is not None and not t.dsp_blocks:
        # (until 2026-12-06 such a run asked Yosys for DSPs the device lacks: a new key, so
        # that no record of it is reused)
        key["dsp_blocks"] = False
    h.update(json.dumps(key, sort_keys=True).encode())
    return h.hexdigest()


def _tools_for(t: Target) -> list[str]:
    return ["yosys"] + ([t.nextpnr] if t.nextpnr else [])


# --------------------------------------------------------------------------------------------
# The IO wrapper and pin constraints
# --------------------------------------------------------------------------------------------

def _decl(direction: str, name: str, width: int) -> str:
    rng = f" [{width - 1}:0]" if width > 1 else ""
    return f"{'input' if direction == 'in' else 'output'} wire{rng} {name}"


def _rng(width: int) -> str:
    return f" [{width - 1}:0]" if width > 1 else ""


def make_wrapper(top: str, ports: dict[str, dict], mode: str = "parallel") -> tuple[str, dict]:
    """Return ``(verilog, wrapper_ports)`` of module ``exmy_wrap`` that registers every input
    and output bit of module ``top``. ``mode`` is ``"parallel"`` or ``"serial"`` (see the
    module docstring)."""
    ports = _check_ports(ports)
    if mode not in ("parallel", "serial"):
        raise ValueError(f"Wrapper mode must be 'parallel' or 'serial', not {mode!r}")
    if not _IDENT.fullmatch(top):
        raise ValueError(f"Top module name must be a plain Verilog identifier, not {top!r}")
    clocked = _has_clock(ports)
    ins = [(n, p["width"]) for n, p in ports.items() if p["dir"] == "in"
           and not (clocked and n == "clk")]
    outs = [(n, p["width"]) for n, p in ports.items() if p["dir"] == "out"]
    lines = ["// Generated by exmy.synth.flow: registers every input and output bit of "
             f"{top} ({mode} IO).", "`default_nettype none"]
    body = []
    conns = [".clk(clk)"] if clocked else []
    if mode == "parallel":
        wports = {"clk": {"dir": "in", "width": 1}}
        wports.update({n: {"dir": "in", "width": w} for n, w in ins})
        wports.update({n: {"dir": "out", "width": w} for n, w in outs})
        for n, w in ins:
            body.append(f"  reg{_rng(w)} exmy_i_{n};")
            body.append(f"  always @(posedge clk) exmy_i_{n} <= {n};")
            conns.append(f".{n}(exmy_i_{n})")
        for n, w in outs:
            body.append(f"  wire{_rng(w)} exmy_d_{n};")
            body.append(f"  reg{_rng(w)} exmy_o_{n};")
            body.append(f"  always @(posedge clk) exmy_o_{n} <= exmy_d_{n};")
            body.append(f"  assign {n} = exmy_o_{n};")
            conns.append(f".{n}(exmy_d_{n})")
    else:
        n_in = sum(w for _, w in ins)
        n_out = sum(w for _, w in outs)
        wports = {"clk": {"dir": "in", "width": 1}}
        if n_in:
            wports["sin"] = {"dir": "in", "width": 1}
            body.append(f"  reg [{n_in - 1}:0] exmy_sr;")
            shift = "{exmy_sr[" + f"{n_in - 2}:0], sin}}" if n_in > 1 else "sin"
            body.append(f"  always @(posedge clk) exmy_sr <= {shift};")
            lo = 0
            for n, w in ins:
                conns.append(f".{n}(exmy_sr[{lo + w - 1}:{lo}])")
                lo += w
        if n_out:
            wports["sout"] = {"dir": "out", "width": 1}
            body.append(f"  wire [{n_out - 1}:0] exmy_d;")
            body.append(f"  (* keep *) reg [{n_out - 1}:0] exmy_q;")
            body.append("  always @(posedge clk) exmy_q <= exmy_d;")
            body.append(f"  assign sout = exmy_q[{n_out - 1}];")
            lo = 0
            for n, w in outs:
                conns.append(f".{n}(exmy_d[{lo + w - 1}:{lo}])")
                lo += w
    decls = ",\n".join(f"  {_decl(p['dir'], n, p['width'])}" for n, p in wports.items())
    lines.append(f"module {_WRAP_TOP} (\n{decls}\n);")
    lines.extend(body)
    lines.append(f"  {top} exmy_dut (\n    " + ",\n    ".join(conns) + "\n  );")
    lines.append("endmodule")
    lines.append("`default_nettype wire")
    return "\n".join(lines) + "\n", wports


def _io_bits(ports: dict[str, dict]) -> int:
    return sum(p["width"] for n, p in ports.items() if not (n == "clk" and _has_clock(ports)))


@functools.cache
def _gowin_pins() -> tuple[str, tuple[str, ...]]:
    """(clock pin, data pins) of GW1N-9C LQFP144 from apycula's chip database: the clock on a
    global-clock input, data on pins that have no configuration/JTAG function."""
    try:
        from apycula import chipdb
    except ImportError as e:
        from .tools import ToolNotFoundError
        raise ToolNotFoundError(
            "apycula (Gowin chip database, needed for the Gowin pin file) is not installed; "
            "install it with `pip install apycula` (or `make setup`)") from e
    path = Path(chipdb.__file__).parent / "GW1N-9C.msgpack.xz"
    db = chipdb.load_chipdb(str(path))
    pins = db.pinout["GW1N-9C"]["LQFP144"]
    clock = next(p for p, (_, funcs) in pins.items() if "GCLKT_7" in funcs)
    data = tuple(p for p, (_, funcs) in pins.items() if not funcs)
    return clock, data


def _gowin_cst(ports: dict[str, dict]) -> str:
    clock, data = _gowin_pins()
    lines = []
    free = iter(data)
    for name, p in ports.items():
        if name == "clk" and _has_clock(ports):
            lines.append(f'IO_LOC "clk" {clock};')
            continue
        bits = [name] if p["width"] == 1 else [f"{name}[{i}]" for i in range(p["width"])]
        for bit in bits:
            pin = next(free, None)
            if pin is None:
                raise ValueError(f"Design needs more than {len(data)} data pins on Gowin "
                                 "LQFP144; use register_io=True (serial IO wrapper)")
            lines.append(f'IO_LOC "{bit}" {pin};')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Running the tools and reading their reports
# --------------------------------------------------------------------------------------------

def _run(argv: list[str], cwd: Path, log: Path, timeout: float) -> int:
    with open(log, "w") as f:
        try:
            proc = run_tool(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            f.write(f"\nexmy: timed out after {timeout} s\n")
            return -1
    return proc.returncode


def _match(cell: str, patterns: tuple[str, ...]) -> bool:
    return any(cell.startswith(p[:-1]) if p.endswith("*") else cell == p for p in patterns)


def _classify(t: Target, cells: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    counts = {k: 0 for k in ("lut", "carry", "widemux", "ff", "dsp", "bram", "lutram", "gate")}
    other = {}
    for cell, n in cells.items():
        if cell in t.ignore:
            continue
        for cls, pats in t.classes.items():
            if _match(cell, pats):
                counts[cls] += n
                break
        else:
            other[cell] = n
    return counts, other


def _parse_report(path: Path) -> dict:
    rep = json.loads(path.read_text())
    fmax = {clk: v.get("achieved") for clk, v in rep.get("fmax", {}).items()}
    crit = None
    for cp in rep.get("critical_paths", []):
        if cp.get("from") == "<async>" or cp.get("to") == "<async>":
            continue
        delay = sum(seg.get("delay", 0.0) for seg in cp.get("path", []))
        crit = delay if crit is None else max(crit, delay)
    util = {bel: v for bel, v in rep.get("utilization", {}).items() if v.get("used")}
    return {
        "fmax_mhz": min(fmax.values()) if fmax else None,
        "fmax_by_clock": fmax,
        "crit_path_ns": crit,
        "utilization": util,
    }


#: nextpnr's device-utilisation lines (``Info:   ICESTORM_LC:  9431/  7680   122%``)
_UTIL_LINE = re.compile(r"^Info:\s+([A-Za-z0-9_]+):\s+(\d+)\s*/\s*(\d+)\s+\d+%", re.M)


def overflow(log: str) -> dict[str, tuple[int, int]]:
    """The resources a nextpnr log's device utilisation overflows: ``{bel: (used,
    available)}`` (empty when the design fits)."""
    return {bel: (int(u), int(a)) for bel, u, a in _UTIL_LINE.findall(log) if int(u) > int(a)}


def _tail(paths: list[Path], lines: int = 60) -> str:
    out = []
    for p in paths:
        if p.exists():
            text = p.read_text(errors="replace").splitlines()
            out.append(f"==> {p.name} <==")
            out.extend(text[-lines:])
    return "\n".join(out)


def synthesize(verilog: str, top: str, ports: dict[str, dict], target: str, *,
               dsp: bool = False, freq_mhz: float = 100.0, seed: int = 1,
               register_io: bool = True, widelut: bool = True, io: str = "auto",
               workdir: str | os.PathLike | None = None) -> dict:
    """Synthesize (and place and route, where the target has it) one design; return its record.

    Parameters
    ----------
    verilog : str
        Verilog source text of the design (any number of modules).
    top : str
        Name of the design's top module.
    ports : dict
        ``{name: {"dir": "in"|"out", "width": int}}`` of ``top``; a clocked design includes
        its 1-bit ``clk`` (and ``rst``) input.
    target : str
        One of :data:`TARGETS`.
    dsp : bool
        Allow hard blocks, DSPs and block RAM (off by default, so LUT counts compare like with
        like).
    freq_mhz, seed : float, int
        nextpnr's target frequency and placer seed.
    register_io : bool
        Wrap the design so that every input and output bit is registered (counted in ``ff``).
    widelut : bool
        Yosys' wide-LUT mapping (PFUMX/L6MUX21 on ECP5, MUX2_LUT5+ on Gowin, MUXF7+ on
        Xilinx); ``False`` passes ``-nowidelut``.
    io : str
        Wrapper shape, ``"auto"`` (parallel if the IO bits fit the package, else serial),
        ``"parallel"`` or ``"serial"``.
    workdir : path, optional
        Where to keep the files; default a temporary directory, removed afterwards.

    Returns
    -------
    dict
        The record: ``status`` is ``"ok"`` or ``"failed"`` (with ``log``, the tails of the tool
        logs). A tool failure does not raise; bad arguments raise ``TypeError``/``ValueError``
        and a missing tool :class:`~exmy.synth.tools.ToolNotFoundError`.
    """
    if not isinstance(verilog, str):
        raise TypeError(f"Verilog must be a string, not {type(verilog).__name__}")
    if not isinstance(top, str) or not _IDENT.fullmatch(top):
        raise ValueError(f"Top module name must be a plain Verilog identifier, not {top!r}")
    ports = _check_ports(ports)
    t = _check_target(target)
    register_io = plain_scalar(register_io)  # (the record holds it: a Python bool)
    settings = flow_settings(target, dsp=dsp, freq_mhz=freq_mhz, seed=seed,
                             register_io=register_io, widelut=widelut, io=io)
    versions = {k: tool_version(k) for k in _tools_for(t)}
    key = flow_key(verilog, top, ports, settings, versions)

    record = {
        "flow_key": key,
        "status": "failed",
        "top": top,
        "target": t.name,
        "family": t.family,
        "device": t.device,
        "dsp_enabled": settings["dsp"],
        "widelut": settings["widelut"],
        "seed": settings["seed"],
        "freq_mhz": settings["freq_mhz"],
        "register_io": register_io,
        "io_mode": None,
        "io_bits": _io_bits(ports),
        "in_bits": sum(p["width"] for n, p in ports.items()
                       if p["dir"] == "in" and not (n == "clk" and _has_clock(ports))),
        "out_bits": sum(p["width"] for p in ports.values() if p["dir"] == "out"),
        "tool_versions": versions,
        "flow_version": FLOW_VERSION,
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "lut": None, "carry": None, "widemux": None, "ff": None, "dsp": None, "bram": None,
        "lutram": None, "gates": None, "depth": None, "cells": {}, "other_cells": {},
        "fmax_mhz": None, "fmax_by_clock": {}, "crit_path_ns": None, "utilization": {},
        "seconds": None, "synth_seconds": None, "pnr_seconds": None, "log": "",
    }

    t0 = time.monotonic()
    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="exmy-synth-")
        wd = Path(tmp)
    else:
        wd = make_dir(workdir, "Work folder")
    try:
        _synthesize_in(wd, t, verilog, top, ports, settings, record)
    finally:
        record["seconds"] = round(time.monotonic() - t0, 3)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return record


def _synthesize_in(wd: Path, t: Target, verilog: str, top: str, ports: dict[str, dict],
                   settings: dict, record: dict) -> None:
    # All paths below are relative to wd, the tools' cwd (YoWASP's sandbox, see TOOLCHAIN.md).
    (wd / "design.v").write_text(verilog)
    sources = ["design.v"]
    pnr_ports, pnr_top = ports, top
    if settings["register_io"]:
        mode = "parallel"
        if t.nextpnr is not None:
            mode = settings["io"]
            if mode == "auto":
                mode = "parallel" if _io_bits(ports) <= t.io_pins else "serial"
        wrapper, pnr_ports = make_wrapper(top, ports, mode)
        (wd / "wrap.v").write_text(wrapper)
        sources.append("wrap.v")
        pnr_top = _WRAP_TOP
        record["io_mode"] = mode

    # Yosys -----------------------------------------------------------------------------------
    flags = []
    if t.dsp_flag == "nodsp" and not settings["dsp"]:
        flags.append("-nodsp")
    if t.dsp_flag == "dsp" and settings["dsp"] and t.dsp_blocks:
        flags.append("-dsp")
    if t.dsp_flag and not settings["dsp"]:
        # No hard blocks at all: a case-statement table would otherwise become a block-RAM
        # ROM and vanish from the LUT count.
        flags.append("-nobram")
    if t.widelut and not settings["widelut"]:
        flags.append("-nowidelut")
    reads = "; ".join(f"read_verilog {s}" for s in sources)
    if t.name == "generic":
        script = (f"{reads}; synth -flatten -top {pnr_top}; "
                  "abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; opt_clean; "
                  "tee -q -o stat.json stat -json; tee -q -o ltp.txt ltp -noff")
    elif t.name == "xilinx":
        script = (f"{reads}; synth_xilinx -flatten -nosrl -top {pnr_top} {' '.join(flags)}; "
                  "tee -q -o stat.json stat -json")
    else:
        script = (f"{reads}; {t.synth} -top {pnr_top} {' '.join(flags)} -json netlist.json; "
                  "tee -q -o stat.json stat -json")
    (wd / "synth.ys").write_text(script.replace("; ", "\n") + "\n")
    record["yosys_flags"] = flags
    t1 = time.monotonic()
    rc = _run([find_tool("yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], wd,
              wd / "yosys.out", _YOSYS_TIMEOUT)
    record["synth_seconds"] = round(time.monotonic() - t1, 3)
    if rc != 0 or not (wd / "stat.json").exists():
        record["log"] = _tail([wd / "yosys.log", wd / "yosys.out"])
        record["error"] = f"yosys exited with code {rc}"
        return
    stat = json.loads((wd / "stat.json").read_text())
    cells = {k: v for k, v in stat["design"].get("num_cells_by_type", {}).items()
             if k != "$scopeinfo"}
    counts, other = _classify(t, cells)
    record["cells"] = cells
    record["other_cells"] = other
    if t.name == "generic":
        record["gates"] = counts["gate"]
        record["ff"] = counts["ff"]
        m = re.search(r"\(length=(\d+)\)", (wd / "ltp.txt").read_text())
        record["depth"] = int(m.group(1)) if m else 0
        record["dsp"] = record["bram"] = 0
    else:
        for k in ("lut", "carry", "widemux", "ff", "dsp", "bram", "lutram"):
            record[k] = counts[k]

    # nextpnr ---------------------------------------------------------------------------------
    if t.nextpnr is None:
        record["status"] = "ok"
        return
    argv = [find_tool(t.nextpnr), *t.nextpnr_args, "--json", "netlist.json",
            "--report", "report.json", "--timing-allow-fail",
            "--seed", str(settings["seed"]), "--freq", f"{settings['freq_mhz']:g}"]
    if t.family == "gowin":
        (wd / "pins.cst").write_text(_gowin_cst(pnr_ports))
        argv += ["--vopt", "cst=pins.cst"]
    t2 = time.monotonic()
    rc = _run(argv, wd, wd / "nextpnr.log", _NEXTPNR_TIMEOUT)
    record["pnr_seconds"] = round(time.monotonic() - t2, 3)
    if rc != 0 or not (wd / "report.json").exists():
        record["log"] = _tail([wd / "nextpnr.log"])
        record["error"] = f"nextpnr exited with code {rc}"
        log = wd / "nextpnr.log"
        over = overflow(log.read_text(errors="replace")) if log.exists() else {}
        if over:  # say what overflowed, not only that nextpnr stopped
            record["error"] += ": the design does not fit the " + t.device + " (" + ", ".join(
                f"{u:,} of {a:,} {bel}" for bel, (u, a) in over.items()) + ")"
        return
    record.update(_parse_report(wd / "report.json"))
    if record["fmax_mhz"] is None:
        # nextpnr-himbaechel (Gowin) sometimes finds "no interior timing paths" after routing
        # when every path is FF -> one LUT -> FF (seen on a 20-bit XOR); its pre-route
        # estimate is still in the log. Use it, and say so.
        found = re.findall(r"Max frequency for clock '([^']+)': ([0-9.]+) MHz",
                           (wd / "nextpnr.log").read_text(errors="replace"))
        if found:
            record["fmax_mhz"] = float(found[-1][1])
            record["fmax_by_clock"] = {found[-1][0]: record["fmax_mhz"]}
            record["fmax_note"] = "pre-route estimate: nextpnr reported no post-route paths"
        else:
            record["fmax_note"] = "nextpnr found no register-to-register path"
    record["status"] = "ok"
