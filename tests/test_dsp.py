"""Placement for a synthesis flow with DSP blocks (``dsp``, SPEC 6; docs/results/dsp_delay.md):
the delay model charges a ``*`` that Yosys maps to one ECP5 MULT18X18D as the DSP's measured
delay, the MACs choose between one ``*`` and the partial-product tree with it, and a placement
for a DSP flow computes what the golden model says. Fast: no synthesis; two short Verilator
runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exmy.cli.main import main
from exmy.hdl.registry import build
from exmy.hdl.timing import delay_model
from exmy.synth.sweep import normalize_point

from hwtest import need_synth_tools

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def test_committed_t_dsp_is_the_slowest_measured():
    """The committed ECP5 ``t_dsp`` is what benchmarks/calibrate_dsp.py measured (its .json):
    the slowest width's logic delay on a DSP, rounded up to 0.1 ns at most."""
    data = json.loads((RESULTS / "dsp_delay.json").read_text())
    on_dsp = [r["logic_ns"] for r in data["rows"] if r["dsp"]]
    assert len(on_dsp) >= 10 and data["t_dsp_measured"] == max(on_dsp)
    t = delay_model("ecp5").t_dsp
    assert max(on_dsp) <= t <= max(on_dsp) + 0.1


def test_committed_dsp_placements_are_the_models():
    """docs/results/dsp_delay.md's units placed for DSPs were measured with the model exmy has
    now: each one's predicted Fmax (and so its placement) is what building it gives today, so
    a change to the model without a new measurement fails here."""
    data = json.loads((RESULTS / "dsp_delay.json").read_text())
    assert len(data["placed"]) >= 4
    for row in data["placed"]:
        comp = build(row["unit"], **row["params"], dsp=True)
        assert comp.plan.fmax_predicted == pytest.approx(row["predicted_mhz"], abs=0.05), row
        assert row["with_dsp"]["dsp"] >= 1, row


def test_multiplier_term_with_and_without_dsp():
    dm = delay_model("ecp5")
    d = dm.with_dsp()
    assert not dm.dsp and d.dsp
    for wa, wb in ((2, 2), (4, 4), (8, 8), (18, 18), (3, 17)):
        assert dm.maps_to_dsp(wa, wb) is False
        assert d.maps_to_dsp(wa, wb) is True
        assert d.multiplier(wa, wb) == dm.t_dsp
    for wa, wb in ((1, 8), (19, 4), (24, 24)):  # one bit (AND gates) or wider than one DSP
        assert d.maps_to_dsp(wa, wb) is False
        assert d.multiplier(wa, wb) == dm.multiplier(wa, wb)


@pytest.mark.parametrize("family", ["ice40", "gowin", "xilinx"])
def test_dsp_on_a_family_without_a_measured_dsp_is_refused(family):
    with pytest.raises(ValueError, match=f"no measured DSP delay for {family}"):
        delay_model(family).with_dsp()
    with pytest.raises(ValueError, match=f"no measured DSP delay for {family}"):
        build("int-mac", a="int8", target=family, fmax=100, dsp=True)


def _levels(comp) -> int:
    return sum(1 for s in comp.plan.segments if s.name.startswith("mul_level"))


@pytest.mark.parametrize("unit, a, gate", [("int-mac", "int8", 0.0), ("mac", "e4m3", 1.0)])
def test_mac_takes_one_star_where_the_dsp_fits_the_period(unit, a, gate):
    """With ``dsp`` a MAC keeps its product as one ``*`` (one DSP) where the model says the
    DSP (behind ``gate`` LUT levels of operand gating) fits the period, else builds the
    partial-product tree (LUTs and carry chains, which Yosys leaves out of DSPs), even where
    a LUT-mapped ``*`` would fit: a flow with DSPs maps every ``*`` of 2 bits or more to one;
    the placement is named ``..._dsp``."""
    dm = delay_model("ecp5")
    fits = [f for f in (80, 100, 120, 140, 160, 200)
            if gate * dm.t_lut + dm.t_dsp <= dm.period(f)]
    assert fits and len(fits) < 6  # both cases are exercised
    for f in (80, 100, 120, 140, 160, 200):
        comp = build(unit, a=a, target="ecp5", fmax=f, dsp=True)
        assert comp.params["dsp"] is True and comp.module_name.endswith("_dsp")
        assert (_levels(comp) == 0) == (f in fits), (unit, f)
        assert "dsp" not in build(unit, a=a, target="ecp5", fmax=f).params


@pytest.mark.parametrize("unit, a, fmax", [("int-mac", "int8", 110), ("mac", "e4m3fn", 110),
                                           ("int-mac", "int8", 160)])
def test_dsp_placement_equals_golden(unit, a, fmax):
    """Hardware = golden at placements for a DSP flow (Verilator, random vectors with the
    corner segments)."""
    from exmy.sim.check import check

    comp = build(unit, a=a, target="ecp5", fmax=fmax, dsp=True)
    res = check(comp, "verilator", mode="random", n=3000, seed=3)
    assert res.ok, res.summary()
    assert res.mismatch_count == 0 and res.vectors >= 3000


def test_dsp_needs_fmax_and_a_product():
    with pytest.raises(ValueError, match="dsp places the registers for a flow with DSP blocks: "
                                         "it needs fmax"):
        build("int-mac", a="int8", dsp=True)
    for unit, opts in (("convert", {"a": "float32", "out": "e4m3"}), ("lmul", {"a": "e4m3"})):
        with pytest.raises(ValueError, match="does not take"):
            build(unit, **opts, target="ecp5", fmax=100, dsp=True)


@pytest.mark.parametrize("unit, params, target, dsp, placed", [
    ("int-mac", {"a": "int8", "fmax": 120}, "ecp5", True, True),
    ("mac", {"a": "e4m3", "fmax": 120}, "ecp5", True, True),
    ("int-mac", {"a": "int8", "fmax": 120}, "ecp5", False, False),
    ("int-mac", {"a": "int8", "fmax": 120}, "ice40", True, False),   # no DSP delay measured
    ("int-mac", {"a": "int8", "latency": 2}, "ecp5", True, False),  # no placement by delay
    ("multiplier", {"a": "e4m3", "fmax": 120}, "ecp5", True, True),
    ("lmul", {"a": "e4m3", "fmax": 120}, "ecp5", True, False),  # no product: takes no dsp
])
def test_sweep_point_with_dsps_places_for_them(unit, params, target, dsp, placed):
    """A sweep point (and `exmy synth --dsp --fmax`) whose flow allows DSPs places a unit with
    a product for them; other units and families keep their placement."""
    p = normalize_point({"unit": unit, "params": params, "target": target, "dsp": dsp})
    assert p["params"].get("dsp") is (True if placed else None)


def test_cli_generate_dsp(tmp_path, capsys):
    out = tmp_path / "m.v"
    assert main(["generate", "int-mac", "--a", "int8", "--fmax", "120", "--dsp", "-o",
                 str(out)]) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["params"]["dsp"] is True and meta["module"].endswith("_ecp5_f120_dsp")
    assert main(["generate", "int-mac", "--a", "int8", "--dsp", "-o", str(out)]) == 2
    assert "it needs --fmax" in capsys.readouterr().err
    assert main(["generate", "lmul", "--a", "e4m3", "--fmax", "120", "--dsp", "-o",
                 str(out)]) == 2
    assert "Unit 'lmul' does not take --dsp" in capsys.readouterr().err


def test_cli_synth_dsp_places_a_mac_for_the_dsp(tmp_path):
    """`exmy synth int-mac --fmax F --dsp` (the flow's switch) places the MAC for the DSP: the
    record's design is the `_dsp` placement, and its product is on a DSP block."""
    need_synth_tools()
    js = tmp_path / "r.json"
    assert main(["synth", "int-mac", "--a", "int8", "--target", "ecp5", "--fmax", "110",
                 "--dsp", "--db", str(tmp_path / "r.sqlite"), "--json", str(js)]) == 0
    rec = json.loads(js.read_text())
    assert rec["params"]["dsp"] is True and rec["top"].endswith("_dsp")
    assert rec["dsp"] >= 1 and "-nodsp" not in rec["yosys_flags"]


def test_sweep_point_placed_for_dsps_without_them_is_refused():
    """A point that asks for a DSP placement by hand (params dsp = true) on a flow without
    DSPs would be placed for a DSP and synthesized in LUTs: refused, naming the flow's
    setting, which places the units for the DSPs itself."""
    from exmy.synth.sweep import check_unit_params

    p = normalize_point({"unit": "int-mac", "params": {"a": "int8", "fmax": 120, "dsp": True},
                         "target": "ecp5", "dsp": False})
    with pytest.raises(ValueError, match=r"'dsp' is a synthesis setting, not a unit option; "
                                         r"give it as --dsp \(a sweep file: dsp = true\)"):
        check_unit_params([p])
    ok = normalize_point({"unit": "int-mac", "params": {"a": "int8", "fmax": 120},
                          "target": "ecp5", "dsp": True})
    check_unit_params([ok])  # (the flow's own dsp, passed on: accepted)


def test_sweep_file_with_dsps_lists_mac_points_placed_for_them(capsys):
    """iso_dsp.toml (dsp = true beside the targets): its fmax points are placed for the DSP,
    checked before the sweep runs without error."""
    assert main(["sweep", str(RESULTS / "isofreq" / "iso_dsp.toml"), "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "99 points"
    assert all("dsp=True" in ln for ln in lines[:-1])


@pytest.mark.parametrize("unit, a", [("int-mac", "int8"), ("mac", "e4m3fn")])
def test_dsp_placement_proven(unit, a):
    """`exmy prove`: a placement for a DSP flow equals its combinational self delayed."""
    from exmy.synth.prove import prove_unit

    need_synth_tools()
    res = prove_unit(unit, {"a": a, "target": "ecp5", "fmax": 110, "dsp": True})
    assert res.passed, res.summary() if hasattr(res, "summary") else res


_UNITS = [("multiplier", {"a": "e4m3", "out": "e4m3"}), ("multiplier", {"a": "bfloat16"}),
          ("int-multiplier", {"a": "int8"}), ("fma", {"a": "e4m3"}), ("fma", {"a": "bfloat16"}),
          ("approx-fma", {"a": "bfloat16", "granularity": 4}),
          ("dot", {"a": "e4m3", "lanes": 4}), ("mx-dot", {"elem": "e2m1fn", "scale": "e4m3fn"})]


@pytest.mark.parametrize("unit, opts", _UNITS)
def test_every_unit_with_a_product_places_for_the_dsp(unit, opts):
    """Each unit with a ``*`` takes ``dsp``: at 80 MHz (the DSP fits a stage) its products are
    single ``*``s, at 160 MHz (6.25 ns: no DSP fits beside a register) partial-product
    trees; named ``..._dsp``."""
    slow = build(unit, **opts, target="ecp5", fmax=80, dsp=True)
    assert slow.params["dsp"] is True and slow.module_name.endswith("_dsp")
    assert _levels(slow) == 0
    if unit == "approx-fma":
        return  # (its rounder stops it below 160 MHz, where one DSP still fits a stage)
    assert _levels(build(unit, **opts, target="ecp5", fmax=160, dsp=True)) >= 1


@pytest.mark.parametrize("unit, opts, fmax, mode", [
    ("multiplier", {"a": "e4m3", "out": "e4m3"}, 160, "exhaustive"),
    ("int-multiplier", {"a": "int8"}, 100, "exhaustive"),
    ("fma", {"a": "e4m3"}, 120, "random"),
    ("dot", {"a": "e4m3", "lanes": 4}, 160, "random"),
    ("mx-dot", {"elem": "e2m1fn", "scale": "e4m3fn"}, 120, "random"),
])
def test_dsp_placements_of_the_other_units_equal_golden(unit, opts, fmax, mode):
    """Hardware = golden at a placement for a DSP flow of every kind of unit with a product
    (Verilator; exhaustive where the input space is 2^16)."""
    from exmy.sim.check import check

    comp = build(unit, **opts, target="ecp5", fmax=fmax, dsp=True)
    res = check(comp, "verilator", mode=mode, n=3000, seed=5)
    assert res.ok and res.mismatch_count == 0, res.summary()


def test_cli_synth_dsp_on_a_family_without_a_measured_dsp_says_so(monkeypatch, capsys,
                                                                  tmp_path):
    """`exmy synth --dsp --fmax` on gowin allows DSPs in the flow, but no DSP delay is
    measured there: the placement is the one without DSPs, and the command says so (before
    it said nothing). A unit without a product gets no such note."""
    import exmy.cli.cmd_synth as cmd

    def stop(*args, **kwargs):
        raise ValueError("stopped before synthesis")

    monkeypatch.setattr(cmd, "synth_point", stop)
    note = "note: exmy has no measured DSP delay on gowin, so the registers are placed as " \
           "without DSPs"
    db = str(tmp_path / "r.sqlite")
    main(["synth", "int-mac", "--a", "int4", "--target", "gowin", "--fmax", "80", "--dsp",
          "--db", db])
    assert note in capsys.readouterr().out
    main(["synth", "lmul", "--a", "e4m3", "--target", "gowin", "--fmax", "80", "--dsp",
          "--db", db])
    main(["synth", "int-mac", "--a", "int4", "--target", "ecp5", "--fmax", "80", "--dsp",
          "--db", db])
    assert "note:" not in capsys.readouterr().out


def test_synth_report_line_writes_switches_as_flags():
    """The report's first line repeats the unit's options as the command line takes them: a
    true switch is the flag alone (it printed `--dsp True`, `--saturate True`), a false or
    unset one is absent."""
    from exmy.cli.cmd_synth import format_record

    rec = {"unit": "int-mac", "top": "t", "target": "ecp5", "status": "failed", "error": "x",
           "params": {"a": "int4", "dsp": True, "saturate_acc": False, "fmax": 80.0,
                      "depth": None}}
    assert format_record(rec).splitlines()[0] == "int-mac --a int4 --dsp --fmax 80.0  ->  t"


def test_synth_dsp_on_the_hx8k_allows_block_ram_only(tmp_path, capsys):
    """The iCE40 HX8K has no DSP blocks: `exmy synth --dsp --target ice40` asked Yosys for them
    (`synth_ice40 -dsp`), which made SB_MAC16 cells nextpnr could not place, so a unit with a
    `*` failed with nextpnr's log. Now the flow leaves out `-dsp` there (block RAM stays
    allowed), the run succeeds, and its cache key differs from the old flow's."""
    from exmy.synth.flow import TARGETS, flow_key, flow_settings

    need_synth_tools()
    js = tmp_path / "r.json"
    assert main(["synth", "int-multiplier", "--a", "int8", "--target", "ice40", "--dsp",
                 "--db", str(tmp_path / "r.sqlite"), "--json", str(js)]) == 0
    rec = json.loads(js.read_text())
    assert rec["status"] == "ok" and rec["dsp"] == 0 and rec["lut"] > 0
    assert "-dsp" not in rec["yosys_flags"] and "-nobram" not in rec["yosys_flags"]
    assert not TARGETS["ice40"].dsp_blocks and TARGETS["ice40-up5k"].dsp_blocks
    on, off = (flow_key("v", "t", {}, flow_settings("ice40", dsp=d), {}) for d in (True, False))
    assert on != off
    main(["synth", "int-mac", "--a", "int4", "--target", "ice40", "--fmax", "80", "--dsp",
          "--db", str(tmp_path / "r.sqlite")])
    assert "note: the iCE40HX8K-CT256 has no DSP blocks (--dsp allows its block RAM)" in \
        capsys.readouterr().out
