"""The cost model at equal clock (issue 14): rows, ratios and report from MAC records built
with fmax. The records here are made up (the report's logic is under test, not the hardware);
the sweep file is checked for the clocks the issue names."""

import csv
from pathlib import Path

from exmy.synth.costmodel import costmodel_points, costmodel_rows, isofreq_ratios, isofreq_rows
from exmy.synth.isofreq import write_isofreq_report

_BASE = {"status": "ok", "register_io": True, "widelut": True, "dsp_enabled": False,
         "carry": 10, "widemux": 0, "dsp": 0, "crit_path_ns": 4.0, "created": "2026-12-03"}


def _rec(unit, a, clock, seed, lut, ff, fmax, target="ecp5", **kw):
    return {**_BASE, "unit": unit, "params": {"a": a, "fmax": clock, "target": target},
            "target": target, "seed": seed, "lut": lut, "ff": ff, "fmax_mhz": fmax, **kw}


def _records():
    recs = []
    for seed, jitter in ((1, 0), (2, 5), (3, -5)):
        recs += [
            _rec("int-mac", "int8", 200, seed, 300, 200, 210 + jitter),
            _rec("mac", "e4m3-none", 200, seed, 250, 190, 190 + jitter),
            _rec("mac", "e2m5-none", 200, seed, 320, 230, 220 + jitter),
            _rec("int-mac", "int8", 100, seed, 260, 120, 150 + jitter),
            _rec("mac", "e4m3-none", 100, seed, 200, 100, 140 + jitter),
        ]
    recs.append({**_BASE, "unit": "mac", "params": {"a": "e7m0-none", "fmax": 200,
                 "target": "ecp5"}, "target": "ecp5", "seed": 1, "status": "error",
                 "error": "mac: 200 MHz on ecp5 is out of reach", "lut": None, "ff": None,
                 "fmax_mhz": None})
    # a latency-1 record of the old cost model: not an iso-frequency row
    recs.append({**_BASE, "unit": "mac", "params": {"a": "e4m3-none"}, "target": "ecp5",
                 "seed": 1, "lut": 180, "ff": 90, "fmax_mhz": 81})
    return recs


def test_rows_medians_met_and_failures():
    rows = isofreq_rows(_records())
    by = {(r["label"], r["clock"]): r for r in rows}
    assert by[("INT8", 200)]["lut_ff"] == 500 and by[("INT8", 200)]["met"]
    assert by[("E4M3", 200)]["fmax_mhz"] == 190 and not by[("E4M3", 200)]["met"]
    assert by[("E4M3", 200)]["seeds"] == 3
    assert by[("E7M0", 200)]["status"] == "mac: 200 MHz on ecp5 is out of reach"
    assert ("E4M3", None) not in by
    # the old cost model does not see the fmax points
    assert [r["fmax_mhz"] for r in costmodel_rows(_records())] == [81]
    ratios = {(x["format"], x["clock"]): x["ratio"] for x in isofreq_ratios(rows)}
    assert ratios[("E4M3", 200)] == 440 / 500
    assert ratios[("E4M3", 100)] == 300 / 380


def test_report_files(tmp_path):
    res = write_isofreq_report(_records(), tmp_path)
    md = (tmp_path / "isofreq.md").read_text()
    assert "## ecp5@200MHz" in md and "## ecp5@100MHz" in md
    assert "Clock not met (median of seeds): E4M3." in md
    assert "not built: mac: 200 MHz on ecp5 is out of reach" in md
    assert "E4M3/INT8 0.88x" in md
    with open(tmp_path / "isofreq_ratios.csv") as f:
        assert len(list(csv.DictReader(f))) == 3  # E4M3 at 100 and 200, E2M5 at 200
    assert res["plots"] and all(p.endswith(".png") for p in res["plots"])
    assert write_isofreq_report([], tmp_path / "none")["markdown"] is None


def test_sweep_file_clocks():
    sweeps = Path(__file__).parents[1] / "synth" / "sweeps"
    pts = costmodel_points(sweeps / "costmodel_fmax.toml")
    clocks = {(p["target"], p["params"]["fmax"]) for p in pts}
    assert clocks == {("ecp5", 100), ("ecp5", 150), ("ecp5", 200), ("ice40", 50),
                      ("ice40", 100)}
    assert all(p["freq_mhz"] == p["params"]["fmax"] for p in pts)
    assert {p["seed"] for p in pts if p["target"] == "ecp5"} == {1, 2, 3}
    assert all(p["params"]["target"] == p["target"] for p in pts)


def test_report_dsp_column(tmp_path):
    """With DSPs allowed the group gets its own section and a DSP column (the issue's "same
    table with DSP counts"); the no-DSP sections keep theirs without it."""
    dsp = [{**r, "dsp_enabled": True, "dsp": 1 if r["unit"] == "mac" else 2}
           for r in _records() if r["params"].get("fmax") == 200 and r["status"] == "ok"]
    write_isofreq_report(_records() + dsp, tmp_path)
    md = (tmp_path / "isofreq.md").read_text()
    plain, with_dsp = md.split("## ecp5@200MHz+dsp")
    assert "| carry | DSP | Fmax (MHz) |" in with_dsp and "| DSP |" not in plain
    assert "| INT8 | acc | 300 | 200 | 500 | 10 | 2 | 210 | yes |" in with_dsp
    assert "| E4M3 | acc | 250 | 190 | 440 | 10 | 1 | 190 | NO |" in with_dsp
    dsp_sweep = Path(__file__).parents[1] / "docs" / "results" / "isofreq" / "iso_dsp.toml"
    pts = costmodel_points(dsp_sweep)
    assert {p["params"]["fmax"] for p in pts} == {100, 150, 200}
    assert all(p["dsp"] and p["target"] == "ecp5" for p in pts)
