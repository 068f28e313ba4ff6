"""An eleventh probe of user-facing errors, on `exmy report` and `exmy demo`: a results
database with odd records (none at all, a negative or infinite count, an INT MAC of 0 LUTs), a
report folder that holds an earlier report, and `exmy demo` options and files it took or
refused only after minutes of simulation. Each test is a finding that gave a traceback, a
misleading message, or silently left garbage beside the answer. Fast: no synthesis, no
simulator.
"""

from __future__ import annotations

import sqlite3

import pytest

from exmy.cli.main import main
from exmy.synth.db import ResultsDB

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _mac(i: int, fmt: str, lut: float = 100, target: str = "generic") -> dict:
    return {"flow_key": f"k{i}", "status": "ok",
            "unit": "int-mac" if fmt.startswith("int") else "mac", "params": {"a": fmt},
            "target": target, "lut": lut, "ff": 40, "carry": 0, "widemux": 0, "dsp": 0,
            "seed": 1, "dsp_enabled": False, "register_io": True}


def _lmul(i: int = 0) -> dict:
    return {"flow_key": f"l{i}", "status": "ok", "unit": "lmul", "params": {"a": "e4m3"},
            "target": "generic", "gates": 109, "depth": 19, "ff": 24, "dsp": 0,
            "dsp_enabled": False, "register_io": True}


# -- exmy report -----------------------------------------------------------------------------
def test_report_names_the_files_an_earlier_report_left(tmp_path, capsys):
    """`exmy report -o DIR` into the folder of an earlier report of another database left that
    report's cost-model tables and plots beside the new tables without a word: the folder
    then mixes two databases, and costmodel.md looks like this database's. The report now
    names the files it did not write."""
    macs, other = tmp_path / "macs.sqlite", tmp_path / "other.sqlite"
    with ResultsDB(macs) as db:
        for i, fmt in enumerate(["int4", "int8", "e2m2-none", "e3m2-none"]):
            db.put(_mac(i, fmt))
    with ResultsDB(other) as db:
        db.put(_lmul())
    out = tmp_path / "rep"
    assert main(["report", "--db", str(macs), "-o", str(out)]) == 0
    assert (out / "costmodel.md").exists()
    capsys.readouterr()
    assert main(["report", "--db", str(other), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    left = sorted(p.name for p in out.glob("costmodel*"))
    assert "costmodel.md" in left
    assert (f"not written by this report, left in {out} by an earlier one: {', '.join(left)}"
            in printed.splitlines())


def test_report_again_into_its_own_folder_names_nothing(tmp_path, capsys):
    """Control (passes on the old code too): the same report written twice into one folder
    rewrites every file, and no file is named as left over."""
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as rdb:
        rdb.put(_lmul())
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "-o", str(out)]) == 0
    assert main(["report", "--db", str(db), "-o", str(out)]) == 0
    assert "left in" not in capsys.readouterr().out


def test_report_of_a_database_with_no_records_says_so(tmp_path, capsys):
    """`exmy report` of a results database that holds no record yet (a sweep stopped before
    its first point) printed "wrote 4 files" and exited 0 with no hint that every table is
    only its header line, while an empty file and an `exmy evaluate` database without
    records both say so. The line now says the tables are empty."""
    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "-o", str(out)]) == 0
    assert (f"wrote 4 files to {out} ({db} holds no synthesis records yet: the tables are "
            f"empty):") in capsys.readouterr().out


def _damage(db, column: str, value) -> None:
    con = sqlite3.connect(db)
    con.execute(f"UPDATE records SET {column} = ?", (value,))
    con.commit()
    con.close()


@pytest.mark.parametrize("value, why", [(float("inf"), "inf is not finite"),
                                        (-5, "-5 is negative")], ids=["inf", "negative"])
def test_report_refuses_a_count_exmy_never_writes(value, why, tmp_path, capsys):
    """A record whose LUT count is Inf (a database edited or written by another tool) made
    `exmy report` fail with matplotlib's "Data cannot be log-scaled because all values are <=
    0", naming neither the database nor the record; a negative count was drawn and fitted as
    if it were a cost, exit 0. Both are now refused as a damaged record, naming it."""
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as rdb:
        for i, fmt in enumerate(["int4", "int8", "e2m2-none", "e3m2-none"]):
            rdb.put(_mac(i, fmt))
    _damage(db, "lut", value)
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "rep")]) == 2
    assert cli_error(capsys) == (
        f"exmy report: error: Results database {db}: the lut of record 'k0' is not what exmy "
        f"writes ({why}); the file was changed by something else or damaged: give another --db")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1], ids=["nan", "inf", "neg"])
def test_results_database_refuses_to_store_such_a_count(value, tmp_path):
    """ResultsDB.put stored a NaN LUT count as NULL (a silent "no LUTs"), and an Inf or
    negative one that every later report then tripped over. It now refuses them."""
    with ResultsDB(tmp_path / "r.sqlite") as db:
        with pytest.raises(ValueError) as e:
            db.put(_mac(0, "int4", lut=value))
        assert str(e.value) == f"Record 'k0': lut must be a finite number >= 0, not {value!r}"
        assert len(db) == 0


def test_report_of_an_int_mac_of_zero_luts(tmp_path, capsys):
    """An INT MAC point of 0 LUTs (all in carry cells and flip-flops) ended `exmy report` in
    a ZeroDivisionError traceback (the minifloat's LUT ratio to it); its ratio is now "–"
    and the report is written."""
    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as rdb:
        for i, (fmt, lut) in enumerate([("int4", 0), ("int8", 300), ("e2m2-none", 80),
                                        ("e3m2-none", 120)]):
            rdb.put(_mac(i, fmt, lut=lut))
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "-o", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (out / "costmodel_pareto.csv").exists()


# -- exmy demo -------------------------------------------------------------------------------
@pytest.fixture
def quiet_demo(monkeypatch):
    """The demo with one check, which must not run (a list of what ran), and no
    evaluation."""
    import exmy.evaluate.run
    import exmy.sim.check
    from exmy.cli import cmd_demo

    ran: list[str] = []

    def check(*args, **kwargs):
        ran.append("simulation")
        raise KeyboardInterrupt("a simulation started")

    def evaluate(db):
        ran.append("evaluation")
        return []

    monkeypatch.setattr(cmd_demo, "DEMO_CHECKS", cmd_demo.DEMO_CHECKS[:1])
    monkeypatch.setattr(exmy.sim.check, "check", check)
    monkeypatch.setattr(exmy.evaluate.run, "demo_evaluate", evaluate)
    return ran


def test_demo_refuses_more_vectors_than_simulate_takes(tmp_path, capsys, quiet_demo):
    """`exmy demo --vectors 1e15` started the simulations (years of them), while `exmy
    simulate --vectors 1e15` is refused: the demo now refuses it the same way, before any
    work and before --out is made."""
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-synth", "--vectors", "1e15"]) == 2
    assert cli_error(capsys) == ("exmy demo: error: --vectors: at most 10,000,000,000 (a day "
                                 "or more of simulation: the README's verification "
                                 "throughput), not 1,000,000,000,000,000")
    assert quiet_demo == [] and not out.exists()


def _not_sqlite(path):
    path.write_text("not a database\n")


def _foreign(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()


@pytest.mark.parametrize("make, synth, message", [
    (_not_sqlite, True, "Results database {db} is not an SQLite database (file is not a "
                        "database); give another --out or delete the file"),
    (_foreign, False, "{db} is an SQLite database but not an exmy results database (its tables "
                      "are t); give another --out"),
    (lambda p: p.mkdir(), True, "--out '{out}' holds a folder exmy-results.sqlite, where the "
                                "demo keeps its results database; rename it, or give another "
                                "--out"),
], ids=["not-sqlite", "foreign-no-synth", "folder"])
def test_demo_refuses_a_bad_database_before_simulating(make, synth, message, tmp_path, capsys,
                                                        quiet_demo):
    """`exmy demo --out DIR` whose DIR/exmy-results.sqlite was not an exmy database (a
    damaged or foreign file, a folder) ran every simulation first (a minute and more) and
    failed only when the sweep or the evaluation opened the file, saying "give another --db",
    an option the demo does not have. It is now refused before any simulation, naming --out."""
    out = tmp_path / "demo"
    out.mkdir()
    db = out / "exmy-results.sqlite"
    make(db)
    argv = ["demo", "--out", str(out)] + ([] if synth else ["--no-synth"])
    assert main(argv) == 2
    assert cli_error(capsys) == "exmy demo: error: " + message.format(db=db, out=out)
    assert quiet_demo == []


def test_demo_adds_to_its_own_earlier_database(tmp_path, capsys, quiet_demo):
    """Control (passes on the old code too): an exmy database left by an earlier demo in
    --out is taken (its records are the cache), and the demo goes on to its checks."""
    out = tmp_path / "demo"
    out.mkdir()
    with ResultsDB(out / "exmy-results.sqlite") as db:
        db.put(_lmul())
    assert main(["demo", "--out", str(out), "--no-synth"]) == 130
    assert quiet_demo == ["simulation"]
