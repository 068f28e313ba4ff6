"""A twelfth probe of user-facing errors, on items earlier notes left: `exmy report` of a results
database holding records without a target or without LUT counts (the generic target), `exmy
demo` with a file where it writes a folder, and a sweep naming one format in two spellings.
Each test is a finding that gave an unclear error, a table of dashes, an error after minutes of
work, or a point counted twice. Fast: no synthesis, no simulator.
"""

from __future__ import annotations

import pytest

from exmy.cli.main import main
from exmy.synth.db import ResultsDB

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

_FORMATS = ["int4", "int8", "e2m2-none", "e3m2-none"]


def _mac(key: str, fmt: str, target: str | None = "ecp5", **cost) -> dict:
    rec = {"flow_key": key, "status": "ok",
           "unit": "int-mac" if fmt.startswith("int") else "mac", "params": {"a": fmt},
           "ff": 40, "dsp": 0, "seed": 1, "dsp_enabled": False, "register_io": True,
           **({"lut": 100 + len(key), "carry": 0, "widemux": 0, "fmax_mhz": 150.0}
              if not cost else cost)}
    if target is not None:
        rec["target"] = target
    return rec


def _db(path, records) -> str:
    with ResultsDB(path) as db:
        for r in records:
            db.put(r)
    return str(path)


# -- exmy report -----------------------------------------------------------------------------
def test_report_of_records_without_a_target_names_them(tmp_path, capsys):
    """A results database that holds MAC records without a target (another tool wrote them;
    `ResultsDB.put` takes them) beside exmy's: `exmy report` stopped half-way with `exmy
    report: error: '<' not supported between instances of 'str' and 'NoneType'` (sorting the
    cost model's targets), after writing part of the report. It now writes the whole report and
    names the records it left out of the cost model."""
    db = _db(tmp_path / "r.sqlite",
             [_mac(f"n{i}", f, target=None) for i, f in enumerate(_FORMATS)]
             + [_mac(f"e{i}", f) for i, f in enumerate(_FORMATS)])
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    note = "Left out for want of a LUT count: 4 records with no target"
    assert f"cost model: {note}" in printed
    md = (out / "costmodel.md").read_text()
    assert note in md and "| ecp5 LUT | ecp5 Fmax |" in md and "None" not in md
    assert not list(out.glob("*None*"))


def test_report_of_generic_macs_says_why_there_is_no_cost_model(tmp_path, capsys):
    """Generic-target MACs (`exmy synth mac --target generic`: Yosys' generic synthesis counts
    gates, not LUTs) made a cost model whose LUT and Fmax columns were all dashes, whose Pareto
    fronts were empty lines and whose crossover table had no rows, without a word of why. They
    are now left out, and the report says so and what to synthesize for instead."""
    db = _db(tmp_path / "g.sqlite",
             [_mac(f"g{i}", f, target="generic", gates=200 + i, depth=30)
              for i, f in enumerate(_FORMATS)])
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("cost model: Left out for want of a LUT count: 4 records of target generic (Yosys' "
            "generic synthesis counts gates, not LUT4s, and gives no Fmax: synthesize for ecp5, "
            "ice40, gowin or xilinx).") in printed.splitlines()
    assert "no cost model:" in printed
    assert not (out / "costmodel.md").exists()
    assert (out / "lut_generic.png").exists()  # (the gate counts still have their plot)


def test_report_mixing_generic_and_ecp5_keeps_the_ecp5_cost_model(tmp_path, capsys):
    """Generic records beside ECP5 ones: the cost model is ECP5's alone, with no column of
    dashes for generic, and its markdown names the generic records it left out."""
    db = _db(tmp_path / "m.sqlite",
             [_mac(f"e{i}", f) for i, f in enumerate(_FORMATS)]
             + [_mac(f"g{i}", f, target="generic", gates=200, depth=30)
                for i, f in enumerate(_FORMATS[:2])])
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    md = (out / "costmodel.md").read_text()
    assert "generic LUT" not in md and "| ecp5 LUT |" in md
    assert "Left out for want of a LUT count: 2 records of target generic" in md


def test_report_of_exmy_records_only_notes_nothing(tmp_path, capsys):
    """Control (passes on the old code too): a cost model of ECP5 records alone has no note."""
    db = _db(tmp_path / "c.sqlite", [_mac(f"e{i}", f) for i, f in enumerate(_FORMATS)])
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    assert "Left out" not in capsys.readouterr().out
    assert "Left out" not in (out / "costmodel.md").read_text()


@pytest.mark.parametrize("params, before", [
    ({"a": "e4m3", "depth": "x"}, "exmy report: error: MAC depth must be a positive integer, "
                                  "not 'x'"),
    ({"a": "e4m3", "fmax": "fast", "target": "ecp5"},
     "exmy report: error: '>=' not supported between instances of 'float' and 'str'"),
])
def test_report_of_a_record_with_odd_params_is_no_cost_model_point(tmp_path, capsys, params,
                                                                   before):
    """A MAC record whose params exmy's flow never writes (a depth or a clock that is not a
    number: another tool's record, stored by `ResultsDB.put` as given) stopped the report
    with an error about an option `exmy report` does not have, or Python's words (`before`).
    Such a record is now no cost-model point, as one with an unknown format always was."""
    rec = _mac("odd", "e4m3")
    rec["params"] = params
    db = _db(tmp_path / "o.sqlite", [rec])
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert before not in captured.err
    assert "no cost model:" in captured.out and (out / "records.csv").exists()


def test_every_file_a_report_writes_bears_a_report_name(tmp_path, capsys):
    """`exmy report`'s list of the names a report writes (``_REPORT_NAMES``, by which it names
    an earlier report's leftovers) is kept by hand beside the writers: a new table or plot
    missing from it would be called nobody's. Every file of a report with a cost model, its
    fits and plots, and an iso-frequency cost model must bear one of those names."""
    import fnmatch

    from exmy.cli.cmd_report import _REPORT_NAMES

    recs = [_mac(f"e{i}{v}", f) for i, f in enumerate(_FORMATS * 2) for v in "ab"]
    recs += [{**_mac(f"y{i}", f), "params": {"a": f, "out": f}} for i, f in enumerate(_FORMATS)]
    recs += [{**_mac(f"c{i}", f), "params": {"a": f, "fmax": 100.0, "target": "ecp5"}}
             for i, f in enumerate(_FORMATS)]
    recs += [{**_mac(f"m{i}", f), "unit": "multiplier" if f[0] == "e" else "int-multiplier"}
             for i, f in enumerate(_FORMATS)]
    db = _db(tmp_path / "all.sqlite", recs)
    out = tmp_path / "rep"
    assert main(["report", "--db", db, "-o", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert {"costmodel.md", "isofreq.md", "costmodel_fit.csv", "lut_ecp5.png"} <= set(written)
    nameless = [n for n in written if not any(fnmatch.fnmatchcase(n, p) for p in _REPORT_NAMES)]
    assert not nameless, f"written but not in _REPORT_NAMES: {nameless}"


# -- exmy demo -------------------------------------------------------------------------------
@pytest.fixture
def no_simulation(monkeypatch):
    """The demo must refuse before its first simulation: a simulation is a failure here."""
    import exmy.sim.check

    def simulated(*args, **kwargs):
        raise AssertionError("the demo started simulating before refusing its --out")

    monkeypatch.setattr(exmy.sim.check, "check", simulated)


@pytest.mark.parametrize("name, what", [
    ("verilog", "a file verilog, where the demo writes its Verilog (a folder)"),
    ("report", "a file report, where the demo writes its synthesis report (a folder)"),
    ("build", "a file build, where the demo writes its simulation builds (a folder)"),
])
def test_demo_refuses_a_file_where_it_writes_a_folder(tmp_path, capsys, no_simulation, name,
                                                     what):
    """A file named `verilog` in --out gave only `exmy demo: error: File exists: OUT/verilog`;
    a file named `report` was found after every simulation and the synthesis sweep (minutes),
    as `Report folder OUT/report is a file`. Each is now refused at once, naming the file and
    what the demo writes there."""
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("mine\n")
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"exmy demo: error: --out {str(out)!r} holds {what}; rename it, or give another " \
           f"--out" in err
    assert (out / name).read_text() == "mine\n"


def test_demo_refuses_a_folder_where_it_writes_its_summary(tmp_path, capsys, no_simulation):
    """A folder `summary.md` in --out was found only at the demo's last step, writing the
    summary after every simulation, the sweep and the evaluation. It is now refused before the
    first simulation."""
    out = tmp_path / "out"
    (out / "summary.md").mkdir(parents=True)
    assert main(["demo", "--out", str(out)]) == 2
    assert "holds a folder summary.md, where the demo writes its summary" in \
        capsys.readouterr().err


# -- exmy sweep ------------------------------------------------------------------------------
def test_sweep_counts_one_format_in_two_spellings_once(capsys):
    """`--formats e4m3,float8_e4m3` (one format: the catalog name and its alias) listed and
    counted two points, though both build the same Verilog and synthesize once. They are now
    one point, under the first spelling."""
    assert main(["sweep", "--units", "multiplier", "--formats", "e4m3,float8_e4m3,e4m3-ieee",
                 "--targets", "ecp5", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 points"
    assert "a=e4m3" in lines[0]


def test_sweep_keeps_distinct_formats_apart(capsys):
    """Control (passes on the old code too): e4m3 and e4m3fn differ (Inf/NaN encodings), so
    they stay two points, as do two output formats."""
    assert main(["sweep", "--units", "multiplier", "--formats", "e4m3,e4m3fn", "--param",
                 "out=e4m3,e5m2", "--targets", "ecp5", "--list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "4 points"
