"""Generated Verilog of every registered unit: Verilator lint clean (only the warning classes
Amaranth's back end always produces are waived), deterministic, SPEC section 3 port names;
the sidecar JSON; and the package import rules of STYLE.md."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exmy.hdl.registry import build, sidecar, unit_names
from exmy.hdl.verilog import port_table, to_verilog

ROOT = Path(__file__).resolve().parent.parent

#: one or two representative parameter points per unit (every registered unit must appear)
POINTS = {
    "convert": [dict(a="float32", out="e4m3fn", rounding="stochastic", rand_bits=8, latency=2),
                dict(a="int8", out="e2m1fn"), dict(a="e5m2", out="int16", rounding="rtz"),
                dict(a="e4m3", out="int8", fmax=200), dict(a="int8", out="e4m3", fmax=230)],
    "multiplier": [dict(a="e4m3fn", b="e5m2"), dict(a="bfloat16", out="bfloat16", latency=3)],
    "int-multiplier": [dict(a="int8", b="uint4", latency=1)],
    "mac": [dict(a="e4m3fn", out="float16", latency=2), dict(a="e5m2", latency=1),
            dict(a="e4m3fn", acc_format="bfloat16", latency=2),  # the FMA fed back
            dict(a="e4m3fn", acc_format="float16", rounding="stochastic", rand_bits=4)],
    "int-mac": [dict(a="int8", latency=1)],
    "fma": [dict(a="e4m3fn", c="e4m3fn", out="e4m3fn"),
            dict(a="bfloat16", c="bfloat16", out="bfloat16", latency=3)],
    "approx-fma": [dict(a="bfloat16", c="bfloat16", out="bfloat16", granularity=4)],
    "lmul": [dict(a="e4m3fn"), dict(a="bfloat16", latency=1)],
    "dot": [dict(a="e4m3fn", lanes=4)],
    "mx-dot": [dict(elem="e2m1fn", block=4), dict(elem="e4m3fn", block=2, accumulate=True)],
}
SPEC_PORTS = {"clk", "rst", "a", "b", "c", "y", "rand", "valid", "clear", "acc", "flags",
              "scale_a", "scale_b"}


def _points():
    for unit in unit_names():
        for p in POINTS.get(unit, [None]):
            yield pytest.param(unit, p, id=f"{unit}-{p}")


def test_every_unit_has_a_lint_point():
    missing = [u for u in unit_names() if u not in POINTS]
    assert not missing, f"add a representative parameter point for {missing}"


@pytest.mark.parametrize("unit, params", list(_points()))
def test_lint_determinism_ports(unit, params, tmp_path):
    from exmy.sim import lint_verilog

    comp = build(unit, **params)
    top = comp.module_name
    text = to_verilog(comp, top)
    # same parameters, same bytes (a fresh component, not a cached string)
    assert to_verilog(build(unit, **params), top) == text
    assert "/work/" not in text and "/tmp/" not in text  # no paths of this machine
    ports = port_table(comp, text)
    names = set(ports)
    lane_ports = {n for n in names if n.rstrip("0123456789") in ("a", "b")}
    assert names - lane_ports <= SPEC_PORTS, names
    assert ("clk" in names) == (comp.latency > 0 or unit in ("mac", "int-mac"))
    lint_verilog(text, top, tmp_path)  # raises LintError with the warnings


@pytest.mark.parametrize("unit, params", list(_points()))
def test_module_header_lists_ports_in_spec_order(unit, params):
    """Issue 11: the module header declares clk, rst, then the inputs (a, b, c, ... in
    signature order), then the outputs; port_table has the same order."""
    import re

    comp = build(unit, **params)
    top = comp.module_name
    text = to_verilog(comp, top)
    header = re.search(r"^module\s+" + top + r"\((.*?)\);", text, re.MULTILINE | re.DOTALL)
    listed = [p.strip().lstrip("\\").strip() for p in header.group(1).split(",")]
    table = port_table(comp, text)
    assert listed == list(table)
    dirs = [table[n]["dir"] for n in listed]
    assert dirs == sorted(dirs, key=("in", "out").index), listed  # inputs, then outputs
    clock = [n for n in listed if n in ("clk", "rst")]
    assert listed[: len(clock)] == clock and clock in ([], ["clk", "rst"])
    assert bool(clock) == comp.has_clock
    names = [n for n in listed if n not in clock]
    sig = [n for n, _ in comp.signature.members.items()]
    assert [n for n in names if table[n]["dir"] == "in"] == [
        n for n in sig if n in names and table[n]["dir"] == "in"]


def test_port_table_clock_comes_from_the_design_not_the_verilog():
    """clk/rst are in the table iff the elaborated design drives a clocked domain, also when
    no Verilog is given, and Verilog that disagrees is refused."""
    from exmy.hdl.verilog import uses_clock

    comb = build("multiplier", a="e4m3fn")
    piped = build("multiplier", a="e4m3fn", latency=1)
    assert not uses_clock(comb) and uses_clock(piped)
    assert list(port_table(comb)) == ["a", "b", "y"]
    assert list(port_table(piped)) == ["clk", "rst", "a", "b", "y"]
    with pytest.raises(ValueError, match=r"^The Verilog top module has clock ports \['clk', "
                       r"'rst'\], but the component's design does not use a clocked domain$"):
        port_table(comb, to_verilog(piped, "piped"))


@pytest.mark.parametrize("unit, params", list(_points())[:6])
def test_sidecar_describes_every_port(unit, params):
    comp = build(unit, **params)
    text = to_verilog(comp, comp.module_name)
    meta = sidecar(comp, text, comp.module_name)
    json.dumps(meta)  # serialisable
    assert meta["unit"] == unit and meta["latency"] == comp.latency
    assert set(meta["ports"]) == set(port_table(comp, text))
    for name, p in meta["ports"].items():
        assert p["dir"] in ("in", "out") and p["width"] > 0
        if name in ("a", "b", "c", "y"):
            assert "format" in p


# -- import rules (STYLE.md): data flows format -> golden -> hdl -> sim/synth -----------------
def _imports(folder: str) -> set[str]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {(str(path), a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
                if node.level:  # relative: resolve against the package
                    pkg = "exmy." + folder
                    mod = pkg + ("." + mod if mod else "")
                found |= {(str(path), mod + "." + a.name) for a in node.names} | {
                    (str(path), mod)}
    return found


def test_golden_imports_neither_amaranth_nor_other_exmy_packages():
    bad = [(p, m) for p, m in _imports("golden")
           if m.startswith("amaranth") or (m.startswith("exmy.") and
                                           not m.startswith("exmy.golden"))]
    assert not bad


def test_hdl_imports_only_golden_formats_and_parameters():
    """hdl may import golden's ``format`` and ``params`` modules and nothing else of exmy
    outside hdl (no operation of the model, no sim/synth/cli)."""
    for p, m in _imports("hdl"):
        if m.startswith("exmy.") and not m.startswith("exmy.hdl"):
            assert m.startswith(("exmy.golden.format", "exmy.golden.params")), (
                f"{p} imports {m}: hdl may import only exmy.golden.format and "
                f"exmy.golden.params (put a parameter check or width both layers need in "
                f"golden/params.py)")


def test_sim_and_synth_do_not_import_each_other():
    for p, m in _imports("sim"):
        assert not m.startswith("exmy.synth"), (p, m)
    for p, m in _imports("synth"):
        # only the self-test hardware reads the golden expectations behind exmy.sim.check
        # (the ones ``exmy simulate`` checks), for its expected signature
        if m.startswith("exmy.sim"):
            assert p.endswith("selftest.py") and m.startswith("exmy.sim.check"), (p, m)


def test_cli_help_is_complete():
    """`exmy --help` and every subcommand's --help work, and every option has help text."""
    import argparse

    from exmy.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"formats", "generate", "simulate"} <= set(sub.choices)
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.help, f"exmy {name} {action.option_strings[0]} has no help"
        r = subprocess.run([sys.executable, "-m", "exmy.cli.main", name, "--help"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "usage:" in r.stdout, (name, r.stderr)
