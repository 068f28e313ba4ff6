"""Frequency-directed pipelining (SPEC 6): the placement search, the fmax/latency options, the
sidecar's timing record, and the errors."""

import json
import math
import subprocess
import sys

import pytest

from exmy.hdl.registry import build, sidecar
from exmy.hdl.timing import DelayModel, Segment, delay_model, plan_placement
from exmy.hdl.verilog import to_verilog


def _brute(segs, final, budget, floor=0.0):
    """Every subset of cuts, by hand: the fewest register bits, then the fewest registers
    (none below the model's floor: no stage is shorter)."""
    from itertools import combinations

    if budget < floor:
        return None
    n = len(segs)
    delays = [s.delay for s in segs] + [final]
    best = None
    for k in range(n + 1):
        for chosen in combinations(range(n), k):
            if any(s.fixed for i, s in enumerate(segs) if i not in chosen):
                continue
            edges = [-1, *chosen, n]
            if all(sum(delays[a + 1:b + 1]) <= budget
                   for a, b in zip(edges, edges[1:], strict=False)):
                cost = (sum(segs[i].bits for i in chosen), k)
                if best is None or cost < best[0]:
                    best = (cost, chosen)
    return None if best is None else {segs[i].name for i in best[1]}


@pytest.mark.parametrize("seed", range(40))
def test_placement_is_the_cheapest(seed):
    import random

    rng = random.Random(seed)
    n = rng.randint(1, 7)
    segs = [Segment(f"c{i}", rng.uniform(0.2, 3.0), rng.randint(1, 40),
                    fixed=rng.random() < 0.1) for i in range(n)]
    final = rng.uniform(0.2, 3.0)
    dm = delay_model("ecp5")
    fmax = rng.choice([120, 180, 250, 330])
    budget = dm.period(fmax)
    want = _brute(segs, final, budget, dm.t_floor)
    if want is None:
        with pytest.raises(ValueError, match="out of reach"):
            plan_placement(segs, final, "ecp5", fmax)
        return
    plan = plan_placement(segs, final, "ecp5", fmax)
    got = set(plan.registered)
    assert sum(s.bits for s in segs if s.name in got) == sum(
        s.bits for s in segs if s.name in want)
    assert len(got) == len(want)
    assert max(plan.stage_delays) <= budget + 1e-9
    assert plan.latency == len(got)


def test_floor_bounds_the_clock():
    """A stage inside a unit takes at least ``t_floor`` (docs/results/delay_model.md): however
    short the annotations, the predicted Fmax stops at ``fmax(0)``, and a clock above it is an
    error that says so."""
    import dataclasses

    dm = dataclasses.replace(delay_model("ecp5"), t_floor=2.0, t_knee=9.0, knee_slope=0.5,
                             t_stage=0.0)
    assert dm.fmax(0.5) == dm.fmax(2.0) == pytest.approx(1000 / (dm.t_reg + 2.0))
    assert dm.fmax(3.0) == pytest.approx(1000 / (dm.t_reg + 3.0))
    assert dm.fmax(13.0) == pytest.approx(1000 / (dm.t_reg + 9.0 + 0.5 * 4.0))
    ecp5 = delay_model("ecp5")
    top = ecp5.fmax(0.0)
    assert top == pytest.approx(1000 / (ecp5.t_reg + ecp5.t_stage + ecp5.t_floor))
    segs = [Segment("a", 0.3, 4), Segment("b", 0.3, 4)]
    assert plan_placement(segs, 0.3, "ecp5", top - 1).fmax_predicted == pytest.approx(top)
    with pytest.raises(ValueError, match=rf"^unit: {top + 5:g} MHz on ecp5 is out of reach: no "
                       rf"stage inside a unit is predicted faster than {top:.0f} MHz on ecp5 "
                       r"\(its least logic delay, [0-9.]+ ns, docs/results/delay_model.md\)$"):
        plan_placement(segs, 0.3, "ecp5", top + 5)


def test_chained_adder_pays_the_route():
    dm = delay_model("ecp5")
    assert dm.t_chain > 0
    assert dm.chained(8) == pytest.approx(dm.adder(8) + dm.t_chain)
    assert delay_model("gowin").chained(8) == delay_model("gowin").adder(8)


def test_unreachable_names_the_stage_and_best_fmax():
    segs = [Segment("decode", 1.0, 8), Segment("product", 9.0, 16)]
    best = f"{delay_model('ecp5').fmax(9.0):.0f}"
    with pytest.raises(ValueError, match=r"stage ending at 'product' takes 9\.00 ns.*best "
                       rf"predicted Fmax {best} MHz"):
        plan_placement(segs, 1.0, "ecp5", 200)
    with pytest.raises(ValueError, match=r"feedback loop 'accumulate'.*best predicted Fmax"):
        plan_placement([Segment("accumulate", 6.0, loop=True)], 0.5, "ecp5", 200)


@pytest.mark.parametrize("knee", [None, (6.0, 0.6)])
def test_period_and_fmax_invert_each_other(knee):
    """``period(f)`` is the annotated logic a stage may hold at f MHz and ``fmax(d)`` the
    clock of a stage annotated d ns: one inverts the other, each stage pays
    ``t_reg + t_stage``, and beyond ``t_knee`` the annotation counts at ``knee_slope``."""
    import dataclasses

    dm = DelayModel("ecp5", k=4, t_reg=1.0, t_lut=1.0, t_carry0=1.0, t_carry_bit=0.1,
                    t_stage=0.5)
    if knee:
        dm = dataclasses.replace(dm, t_knee=knee[0], knee_slope=knee[1])
    for d in (0.5, 3.0, 6.0, 9.0, 20.0):
        assert dm.period(dm.fmax(d)) == pytest.approx(d)
    assert dm.fmax(3.0) == pytest.approx(1000 / 4.5)
    assert dm.fmax(10.0) == pytest.approx(1000 / (1.5 + (6.0 + 0.6 * 4.0 if knee else 10.0)))


def test_logic_loop_is_charged_times_loop_scale():
    """A logic loop (``logic=True``) costs ``loop_scale`` times its annotation, never the knee's
    discount, on every family; another loop follows ``knee_loops``; a stage ignores ``logic``.
    plan_placement bounds the clock by it and names it with that figure."""
    import dataclasses

    dm = DelayModel("ice40", k=4, t_reg=1.0, t_lut=1.0, t_carry0=1.0, t_carry_bit=0.1,
                    t_stage=0.5, t_knee=3.0, knee_slope=0.5, loop_scale=0.8)
    assert dm.fmax(40.0, loop=True, logic=True) == pytest.approx(1000 / (1.5 + 32.0))
    assert dm.fmax(40.0, loop=True) == pytest.approx(1000 / (1.5 + 3.0 + 0.5 * 37.0))
    assert dm.fmax(40.0, logic=True) == dm.fmax(40.0)  # logic speaks for loops only
    for d in (0.5, 3.0, 40.0):
        assert dm.period(dm.fmax(d, loop=True, logic=True), loop=True, logic=True) == \
            pytest.approx(d)
    nokl = dataclasses.replace(dm, knee_loops=False)
    assert nokl.fmax(40.0, loop=True) == pytest.approx(1000 / 41.5)
    assert nokl.fmax(40.0, loop=True, logic=True) == dm.fmax(40.0, loop=True, logic=True)
    # plan_placement: the shipped ice40 model, a 60 ns logic loop
    ice = delay_model("ice40")
    lp = Segment("accumulate", 60.0, loop=True, logic=True)
    best = 1000 / (ice.loop_scale * 60.0 + ice.t_reg + ice.t_stage)
    assert ice.loop_scale < 1 and lp.fmax(ice) == pytest.approx(best)
    plan = plan_placement([Segment("product", 2.0), lp], 0.0, "ice40", math.floor(best))
    assert plan.fmax_predicted == pytest.approx(best)
    with pytest.raises(ValueError, match=rf"loop 'accumulate'.*best predicted Fmax "
                                         rf"{best:.0f} MHz"):
        plan_placement([Segment("product", 2.0), lp], 0.0, "ice40", math.ceil(best) + 1)


def test_loop_scale_is_the_committed_fit():
    """hdl/timing.py's loop_scale against benchmarks/loop_scale.py's nextpnr measurements
    (docs/results/loop_scale.json): the loops as the code annotates them today (the FMA fed
    back); each family's scale is the minimax fit to the fit set, and with it every measured
    MAC's predicted Fmax is within +-20% of nextpnr's (without the scale, or charged past the
    knee, they were not: docs/results/loop_scale.md)."""
    from pathlib import Path

    from exmy.hdl.mac import MAC

    path = Path(__file__).resolve().parent.parent / "docs" / "results" / "loop_scale.json"
    data = json.loads(path.read_text())
    for fam, d in data["families"].items():
        dm = delay_model(fam)
        ratios = {}
        assert len(d["rows"]) == 8
        for r in d["rows"]:
            a, acc = r["mac"].split(" -> ")
            comp = MAC(a, acc_format=acc, target=fam, fmax=data["clock_mhz"])
            loop = next(s for s in comp.plan.segments if s.loop)
            assert loop.logic and loop.delay == pytest.approx(r["loop_ns"], abs=1e-3), r
            assert comp.latency == r["latency"]
            ratios[r["mac"]] = (1000 / r["fmax_mhz"] - dm.t_reg - dm.t_stage) / loop.delay
            assert 0.8 <= loop.fmax(dm) / r["fmax_mhz"] <= 1.2, (fam, r)
        fit = [ratios[r["mac"]] for r in d["rows"] if r["set"] == "fit"]
        assert math.sqrt(min(fit) * max(fit)) == pytest.approx(d["fitted"], abs=1e-3)
        assert dm.loop_scale == round(d["fitted"], 2)


def test_latency_and_fmax_are_exclusive():
    with pytest.raises(ValueError, match=r"Give latency \(2\) or fmax \(200\), not both"):
        build("multiplier", a="e4m3", out="e4m3", latency=2, fmax=200)
    with pytest.raises(ValueError, match="Timing target 'ecp5' needs fmax"):
        build("multiplier", a="e4m3", out="e4m3", target="ecp5")
    with pytest.raises(ValueError, match="Timing target 'virtex' has no delay model"):
        build("multiplier", a="e4m3", out="e4m3", target="virtex", fmax=100)
    with pytest.raises(ValueError, match="Fmax must be between 1 and 1000 MHz, not 0"):
        build("multiplier", a="e4m3", out="e4m3", fmax=0)
    with pytest.raises(TypeError, match="Fmax must be a number of MHz"):
        build("multiplier", a="e4m3", out="e4m3", fmax="fast")


@pytest.mark.parametrize("unit, opts", [
    ("multiplier", dict(a="e4m3", out="e4m3")),
    ("convert", dict(a="float32", out="e4m3fn")),
    ("lmul", dict(a="e4m3fn")),
    ("fma", dict(a="e4m3")),
    ("int-multiplier", dict(a="int8")),
])
def test_fmax_mode_records_the_plan(unit, opts):
    lo = build(unit, **opts, target="ecp5", fmax=50)
    hi = build(unit, **opts, target="ecp5", fmax=400) if _reachable(unit, opts, 400) else None
    meta = sidecar(lo, to_verilog(lo, lo.module_name), lo.module_name)
    t = meta["timing"]
    assert t["target"] == "ecp5" and t["fmax_target"] == 50.0
    assert t["latency"] == lo.latency == meta["latency"]
    assert t["fmax_predicted"] >= 50.0
    assert lo.module_name.endswith("_ecp5_f50")
    assert sum(s["registered"] for s in t["stages"]) == lo.latency
    if hi is not None:
        assert hi.latency >= lo.latency
        assert hi.plan.fmax_predicted >= 400


def _reachable(unit, opts, fmax):
    try:
        build(unit, **opts, fmax=fmax)
    except ValueError:
        return False
    return True


def test_fmax_generate_is_deterministic(tmp_path):
    a = to_verilog(build("fma", a="e4m3", fmax=150), "u")
    b = to_verilog(build("fma", a="e4m3", fmax=150), "u")
    assert a == b


def test_cli_generate_fmax(tmp_path):
    out = tmp_path / "m.v"
    r = subprocess.run([sys.executable, "-m", "exmy.cli.main", "generate", "multiplier",
                        "--a", "e4m3", "--out", "e4m3", "--target", "ice40", "--fmax", "60",
                        "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["timing"]["target"] == "ice40" and meta["params"]["fmax"] == 60.0
    r = subprocess.run([sys.executable, "-m", "exmy.cli.main", "generate", "multiplier",
                        "--a", "e4m3", "--fmax", "60", "--latency", "2", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == ("exmy generate: error: give --latency or --fmax, not both: with --fmax "
                        "exmy chooses the latency\n")
    assert "Traceback" not in r.stderr


# -- exmy synth prints the delay model's prediction beside the achieved Fmax ---------------------

def _fake_record(params, fmax_mhz=150.0):
    return {"unit": "multiplier", "params": params, "top": "m", "target": "ecp5",
            "device": "LFE5U-85F", "status": "ok", "register_io": True, "io_bits": 24,
            "io_mode": "parallel", "lut": 100, "carry": 4, "widemux": 0, "ff": 40, "dsp": 0,
            "bram": 0, "fmax_mhz": fmax_mhz, "freq_mhz": 100.0, "seed": 1,
            "crit_path_ns": 6.0, "tool_versions": {}, "seconds": 1.0}


def test_synth_report_prints_predicted_beside_achieved():
    from exmy.cli.cmd_synth import format_record

    params = {"a": "e4m3", "out": "e4m3", "rounding": "rne", "target": "ecp5", "fmax": 100.0}
    plan = build("multiplier", **params).plan
    text = format_record(_fake_record(params, 150.0))
    line = next(x for x in text.splitlines() if x.startswith("predicted"))
    assert f"{plan.fmax_predicted:.1f} MHz by the ecp5 delay model" in line
    assert f"latency {plan.latency}" in line and "fmax 100 MHz" in line
    assert f"achieved/predicted {150.0 / plan.fmax_predicted:.2f}" in line
    assert "NOT met" not in text
    # a run that misses the clock says so, by how much, and what to do
    text = format_record(_fake_record(params, 80.0))
    assert "100 MHz NOT met (this seed: 20% short); --meet re-places" in text
    # without fmax (explicit latency) there is no plan and no prediction
    text = format_record(_fake_record({"a": "e4m3", "out": "e4m3", "latency": 1}))
    assert "predicted" not in text and "Fmax      150.0 MHz" in text


# -- the committed delay model against the committed calibration measurements ----------------

def _calibration():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "results" / "delay_model.json"
    return json.loads(path.read_text())


def _predicted_period(dm, kind, args):
    term = {"adder": lambda: dm.adder(*args), "xor": lambda: dm.logic(*args),
            "shifter": lambda: dm.shifter(*args), "lzc": lambda: dm.lzc(*args),
            "mul": lambda: dm.multiplier(*args)}[kind]()
    return dm.t_reg + term


def test_delay_model_is_the_committed_fit():
    cal = _calibration()
    for fam, consts in cal["fits"].items():
        dm = delay_model(fam)
        assert {k: getattr(dm, k) for k in consts} == consts, fam


@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_delay_model_error_on_calibration_points(family):
    """docs/results/delay_model.md: predicted / achieved Fmax of the calibration circuits, median
    within +-10%; adders (the carry-chain term) within +-15%; every point within the worst error
    that file states."""
    import statistics

    cal = _calibration()
    dm = delay_model(family)
    rows = [r for r in cal["measurements"] if r["family"] == family]
    assert len(rows) >= 25
    err = {(r["kind"], tuple(r["args"])): r["period_ns"] / _predicted_period(dm, r["kind"],
                                                                             r["args"])
           for r in rows}
    assert abs(statistics.median(err.values()) - 1) <= 0.10
    for (kind, args), e in err.items():
        if kind == "adder":
            assert abs(e - 1) <= 0.15, (kind, args, e)
        lo, hi = cal["bounds"][family]
        assert lo <= e <= hi, (kind, args, e)


def _calibrate_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "calibrate_delay.py"
    spec = importlib.util.spec_from_file_location("calibrate_delay", path)
    cal_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cal_mod)
    return cal_mod


def test_ecp5_tails_are_the_fit_of_the_committed_units():
    """The ECP5 knee and floor in hdl/timing.py are what benchmarks/calibrate_delay.py's
    ``fit_tails`` gives over the committed unit designs (docs/results/delay_model.json), and
    they improve those designs' error over the circuit-only constants."""
    import math

    cal_mod = _calibrate_module()
    cal = _calibration()
    units = [u for u in cal["units"] if u["family"] == "ecp5"]
    bare = {**cal["circuit_fits"]["ecp5"], "t_stage": 0.0}
    tails = cal_mod.fit_tails("ecp5", bare, units)
    dm = delay_model("ecp5")
    assert (dm.t_knee, dm.knee_slope, dm.t_floor, dm.knee_loops) == (
        tails["t_knee"], tails["knee_slope"], tails["t_floor"], tails["knee_loops"])
    assert cal["fits"]["ecp5"]["knee_loops"] is False is dm.knee_loops
    assert delay_model("ice40").knee_loops and "knee_loops" not in cal["fits"]["ice40"]
    # a loop past the knee: as annotated on ecp5, discounted like a stage on ice40
    assert dm.fmax(40.0, loop=True) == pytest.approx(1000 / (40.0 + dm.t_reg + dm.t_stage))
    assert dm.fmax(40.0) > dm.fmax(40.0, loop=True)
    ice = delay_model("ice40")
    assert ice.fmax(40.0, loop=True) == pytest.approx(ice.fmax(40.0))
    # the knee starts above the stage logic of 100 MHz: no placement at or above it moves
    assert dm.t_knee >= 1000 / 100 - dm.t_reg

    def sse(c):
        return sum(math.log(e) ** 2 for e in cal_mod.unit_errors(c, units))

    assert sse(tails) < sse(bare)


def test_ice40_tails_are_the_fit_of_the_committed_units():
    """iCE40 keeps its circuit-only constants; its t_stage, knee, floor and size term (on the
    placed bits, both sides) in hdl/timing.py are what benchmarks/calibrate_delay.py's
    ``fit_tails`` gives over the committed unit designs (docs/results/delay_model.json),
    which they describe within +-20% (the circuit-only constants alone predict the 16-bit
    units far too fast)."""
    cal_mod = _calibrate_module()
    cal = _calibration()
    units = [u for u in cal["units"] if u["family"] == "ice40"]
    assert {u["row"] for u in units} >= {"mul-f16", "fma-bf16", "fma-f16", "afma-bf16"}
    assert all(u["placed_bits"] > 0 for u in units)
    bare = {**cal["circuit_fits"]["ice40"], "t_stage": 0.0}
    tails = cal_mod.fit_tails("ice40", bare, units)
    dm = delay_model("ice40")
    for k in ("t_reg", "t_lut", "t_carry0", "t_carry_bit"):
        assert getattr(dm, k) == bare[k], k
    for k in ("t_stage", "t_knee", "knee_slope", "t_floor", "size_slope", "size_bits0",
              "size_two_sided", "size_placed"):
        assert getattr(dm, k) == tails[k], k
    errs = cal_mod.unit_errors(tails, units)
    assert all(abs(e - 1) <= 0.2 for e in errs), errs
    assert max(cal_mod.unit_errors(bare, units)) > 1.2 or min(
        cal_mod.unit_errors(bare, units)) < 0.8


def test_training_designs_are_the_committed_ones():
    """benchmarks/calibrate_delay.py's unit training set builds on both families: on ecp5 the
    table rows of benchmarks/fmax.py at their clocks (not the MACs, which have no table
    clock); on both exactly the committed designs (docs/results/delay_model.json: same
    placements, sizes and stage counts), so the committed fits describe the code as it is
    (a datapath change that moves a training design needs the calibration run again)."""
    cal_mod = _calibrate_module()
    cal = _calibration()
    for fam in ("ecp5", "ice40"):
        cal_mod._PLACE[fam] = cal["circuit_fits"][fam]
    ecp5 = cal_mod.training_designs(["ecp5"])
    table = {u["row"] for u in ecp5 if u["table"]}
    assert table == set(cal_mod._fmax_rows())
    assert not any(u["unit"] in ("mac", "int-mac") for u in ecp5)
    ice40 = cal_mod.training_designs(["ice40"])
    assert {u["unit"] for u in ice40} >= {"mac", "int-mac"}

    def key(u):
        return (u["row"], u["params"].get("fmax"), tuple(u["registered"]), u["size_bits"],
                u["placed_bits"], json.dumps(u["stages"]), json.dumps(u["loops"]))

    for fam, designs in (("ecp5", ecp5), ("ice40", ice40)):
        assert sorted(map(key, designs)) == sorted(
            key(u) for u in cal["units"] if u["family"] == fam), fam


def test_size_term_scales_stages_not_loops():
    """``DelayModel.sized``: a unit's stages are slower by ``1 + size_slope *
    log2(size_bits / size_bits0)`` above ``size_bits0`` (longer routes), a feedback loop is
    not, and with ``size_two_sided`` a unit below ``size_bits0`` is faster; ``period`` still
    inverts ``fmax``."""
    import dataclasses

    dm = DelayModel("ice40", k=4, t_reg=1.0, t_lut=1.0, t_carry0=1.0, t_carry_bit=0.1,
                    size_slope=0.2, size_bits0=100)
    assert dm.size_factor() == 1.0 and dm.sized(100).size_factor() == 1.0
    big = dm.sized(400)
    assert big.size_factor() == pytest.approx(1.4)
    assert big.stage_logic(5.0) == pytest.approx(7.0)
    assert big.stage_logic(5.0, loop=True) == pytest.approx(5.0)
    assert big.fmax(5.0) == pytest.approx(1000 / 8.0)
    assert big.fmax(5.0, loop=True) == pytest.approx(1000 / 6.0)
    for d in (0.5, 3.0, 9.0):
        assert big.period(big.fmax(d)) == pytest.approx(d)
        assert big.period(big.fmax(d, loop=True), loop=True) == pytest.approx(d)
    # both sides: a unit smaller than size_bits0 is faster, never below 0.3
    two = dataclasses.replace(dm, size_two_sided=True)
    assert two.sized(25).size_factor() == pytest.approx(0.6)
    assert two.sized(1).size_factor() == 0.3 and two.sized(0).size_factor() == 1.0
    assert two.sized(25).stage_logic(5.0, loop=True) == pytest.approx(5.0)
    assert delay_model("ice40").size_placed and not delay_model("ecp5").size_slope


def test_fmax_mode_sizes_the_unit_by_its_placement():
    """A unit is placed at the size of its own placement (``placed_size``: its ports, rst
    with them, and the cuts it registers), which the sidecar records: a deeper placement is
    a larger unit, and a combinational one is small (its factor below 1). iCE40's model
    reads it; on ECP5 (no size term) a unit is not sized."""
    from exmy.hdl.timing import placed_size

    family = "ice40"

    sizes = []
    for fmax in (20.0, 80.0, 120.0):
        comp = build("multiplier", a="bfloat16", out="bfloat16", target=family, fmax=fmax)
        io = comp.io_bits()
        placed = placed_size(comp.plan.segments, comp.plan.registered, io)
        assert comp.size_bits >= placed and comp.plan.size_bits == comp.size_bits
        assert comp.plan.size_factor == pytest.approx(delay_model(family).sized(
            comp.size_bits).size_factor(), abs=1e-4)
        top = comp.module_name
        t = sidecar(comp, to_verilog(comp, top), top).get("timing")
        assert t is not None and t["size_bits"] == comp.size_bits
        sizes.append((comp.latency, comp.size_bits, comp.plan.size_factor))
    assert sizes[0][0] == 0 and sizes[0][1] == io and sizes[0][2] < 1
    assert sizes[0][1] < sizes[1][1] < sizes[2][1] and sizes[0][0] < sizes[1][0] < sizes[2][0]
    e = build("multiplier", a="bfloat16", out="bfloat16", target="ecp5", fmax=80.0)
    assert e.size_bits == 0 and e.plan.size_factor == 1.0


def test_calibration_refit_refuses_units_without_what_the_fit_reads():
    """``calibrate_delay.py --from-json`` / ``--units`` on a foreign or older
    delay_model.json: a unit design without what its placed bits are rebuilt from (the size
    term reads them) or without stages is a clear error naming it, not a KeyError from inside
    the fit; a family measured again is not read."""
    cal_mod = _calibrate_module()
    ok = {"row": "lmul", "family": "ice40", "stages": [[1, 0, 0]], "period_ns": 5.0,
          "unit": "lmul", "params": {"a": "e4m3fn"}, "registered": []}
    cal_mod._check_units([ok, {**ok, "family": "ecp5", "registered": ["x"]}])
    bare = {k: v for k, v in ok.items() if k != "registered"}
    with pytest.raises(ValueError, match=r"lmul \(ice40\) has no registered"):
        cal_mod._check_units([bare])
    cal_mod._check_units([bare], refitted=("ice40",))
    with pytest.raises(ValueError, match="has no stages"):
        cal_mod._check_units([{k: v for k, v in ok.items() if k != "stages"}])


@pytest.mark.parametrize("best, fmax, text", [
    (22.88, 30, "23"), (22.88, 23, "22.9"), (22.97, 23, "22.9"), (149.6, 150, "149.6"),
    (0.4, 1, "0"), (99.2, 100, "99")])
def test_refusal_never_names_the_refused_clock_as_reachable(best, fmax, text):
    """A refusal of ``fmax`` gives the best predicted Fmax below it: "23 MHz is out of reach
    (best predicted Fmax 23 MHz)" was what whole-MHz rounding printed for 22.88."""
    from exmy.hdl.timing import best_text

    assert best_text(best, fmax) == text
    assert float(best_text(best, fmax)) < fmax
