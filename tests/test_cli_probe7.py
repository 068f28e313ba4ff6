"""A seventh probe of user-facing errors, in `exmy prove`, `exmy evaluate` (and `python -m
exmy.evaluate.report`), `exmy quantize`: unsigned MX elements given negative data, inputs
that are FIFOs or link loops, a results database whose evaluate records something else wrote,
a cost-model table that is not one, `--json` naming the results database, options a proof
silently ignored, and a --workdir whose `proof` folder the proof deleted. Each test is a
finding that gave a traceback, a misleading message, or silently did something else than
asked. Fast: no synthesis, no simulator, no model weights (one 8-bit k-induction proof).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from exmy.cli.main import main

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _not_reached(*args, **kwargs):
    raise AssertionError("the command ran past its argument checks")


# -- exmy quantize -----------------------------------------------------------------------------
@pytest.fixture
def signed_npy(tmp_path) -> Path:
    x = np.linspace(-4, 4, 64, dtype=np.float32).reshape(2, 32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path


@pytest.mark.parametrize("elem, hint", [("uint8", "int8"), ("e4m3-u", "e4m3"),
                                        ("e2m1-none-u", "e2m1-none")])
def test_quantize_unsigned_elements_refuse_negative_data(elem, hint, signed_npy, capsys):
    """`quantize x.npy --elem uint8` (or e2m1-none-u) turned every negative value into 0, and
    --elem e4m3-u into NaN, and reported success. An unsigned element format is fine for
    data without negative values (below); with them it is refused, naming a signed one."""
    out = signed_npy.with_suffix(".npz")
    assert main(["quantize", str(signed_npy), "-o", str(out), "--elem", elem]) == 2
    assert cli_error(capsys) == (
        f"exmy quantize: error: input {str(signed_npy)!r} holds 32 negative values, which the "
        f"unsigned element format {elem} cannot hold; give a signed --elem such as {hint}")
    assert not out.exists()


def test_quantize_unsigned_elements_take_non_negative_data(tmp_path, capsys):
    src = tmp_path / "relu.npy"
    np.save(src, np.concatenate([np.linspace(0, 4, 31, dtype=np.float32),
                                 np.float32([-0.0])]))
    assert main(["quantize", str(src), "-o", str(tmp_path / "q.npz"), "--elem", "uint8"]) == 0
    assert main(["quantize", str(tmp_path / "q.npz"), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.all(np.load(tmp_path / "y.npy") >= 0)


def test_quantize_nvfp4_scale_by_any_name_takes_nvfp4_elements(signed_npy, capsys):
    """`--scale e4m3-fn` (float8_e4m3fn by the grammar) got NVFP4's block of 16 but E4M3FN
    elements, where the help promises e2m1fn elements with an E4M3 scale."""
    out = signed_npy.with_suffix(".npz")
    assert main(["quantize", str(signed_npy), "-o", str(out), "--scale", "e4m3-fn"]) == 0
    with np.load(out) as z:
        assert str(z["elem"]) == "float4_e2m1fn"
        assert int(z["block"]) == 16


def test_quantize_input_fifo_is_refused_not_waited_on(tmp_path):
    """A FIFO as the input blocked for ever (its open waits for a writer; np.load must seek
    anyway). Run in a subprocess with a deadline, so a hang fails the test instead of
    stalling the suite."""
    import subprocess
    import sys

    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    try:
        r = subprocess.run([sys.executable, "-m", "exmy.cli.main", "quantize", str(fifo), "-o",
                            str(tmp_path / "q.npz")], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("exmy quantize waited for a writer of the FIFO")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        f"exmy quantize: error: input {str(fifo)!r} is not a regular file (a FIFO, socket or "
        f"device); give a .npy file")


def test_quantize_input_link_loop_is_named(tmp_path, capsys):
    """An input that is a symbolic link loop "does not exist"."""
    loop = tmp_path / "x.npy"
    loop.symlink_to(loop)
    assert main(["quantize", str(loop), "-o", str(tmp_path / "q.npz")]) == 2
    assert cli_error(capsys) == (
        f"exmy quantize: error: input {str(loop)!r} is a symbolic link to nothing (its target "
        f"is missing, or the link is a loop)")


# -- exmy evaluate -----------------------------------------------------------------------------
@pytest.fixture
def no_model(monkeypatch):
    """Every test below must fail before the model loads."""
    from exmy.evaluate.run import Evaluator

    monkeypatch.setattr(Evaluator, "__init__", _not_reached)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "{name!r} is a directory, not a TOML file"),
    (os.mkfifo, "{name!r} is not a regular file (a FIFO, socket or device); give a TOML file"),
    (lambda p: p.symlink_to(p), "{name!r} is a symbolic link to nothing (its target is "
     "missing, or the link is a loop)"),
])
def test_evaluate_file_that_is_no_regular_file(make, message, tmp_path, capsys, no_model):
    """A folder (or FIFO) given as the TOML FILE was "no such file 'x.toml'", though it
    exists; a link loop without .toml was looked up as a built-in table."""
    for name in ("cfg.toml", "cfg"):
        path = tmp_path / name
        make(path)
        assert main(["evaluate", str(path), "--no-db"]) == 2
        assert cli_error(capsys) == "exmy evaluate: error: " + message.format(name=str(path))


def test_evaluate_database_named_by_the_file_is_not_called_db_option(tmp_path, capsys,
                                                                     no_model):
    """`[evaluate] db = "sub/x.sqlite"` in the TOML file, its folder missing, was reported as
    "--db 'sub/x.sqlite': ...", an option the user never gave."""
    toml = tmp_path / "t.toml"
    toml.write_text('[evaluate]\ndb = "sub/x.sqlite"\n[[config]]\nweights = "e4m3fn"\n')
    assert main(["evaluate", str(toml)]) == 2
    sub = tmp_path / "sub"
    assert cli_error(capsys) == (
        f"exmy evaluate: error: {toml}: [evaluate] db {str(sub / 'x.sqlite')!r}: folder "
        f"{str(sub)!r} does not exist; create it first (mkdir -p {str(sub)!r}) or choose "
        f"another path")


@pytest.mark.parametrize("json_name", ["r.sqlite", "./r.sqlite", "link.json"])
def test_evaluate_json_naming_the_database_is_refused(json_name, tmp_path, capsys,
                                                      monkeypatch, no_model):
    """`--json` naming the results database (directly, or through a link) replaced the
    database, every stored record with it, by the JSON of this run."""
    monkeypatch.chdir(tmp_path)
    db = _evaluate_db(tmp_path / "r.sqlite")
    (tmp_path / "link.json").symlink_to("r.sqlite")
    before = db.read_bytes()
    assert main(["evaluate", "--weights", "e4m3fn", "--db", "r.sqlite", "--json",
                 json_name]) == 2
    assert cli_error(capsys) == (
        f"exmy evaluate: error: --json {json_name!r} names the results database 'r.sqlite'; "
        f"the JSON would overwrite its records: give --json another file")
    assert db.read_bytes() == before


@pytest.mark.parametrize("extra, named", [
    (["--scaling", "mx"], "--scaling"), (["--product", "lmul"], "--product"),
    (["--acc", "bfloat16"], "--acc"), (["--granularity", "8"], "--granularity"),
    (["--weights", "int8", "--acc", "float16"], "--weights, --acc"),
])
def test_evaluate_file_refuses_configuration_options(extra, named, capsys, no_model):
    """`exmy evaluate report --scaling mx` (or --product, --acc, --granularity) listed and
    ran the file's configurations with the option silently ignored; only --weights and
    --acts were refused beside a FILE."""
    assert main(["evaluate", "report", "--list", *extra]) == 2
    assert cli_error(capsys) == f"exmy evaluate: error: give either FILE or {named}, not both"


def test_evaluate_flags_keep_their_defaults(capsys, no_model):
    assert main(["evaluate", "--weights", "e4m3fn", "--list"]) == 0
    assert capsys.readouterr().out == ("w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,"
                                       "acc=exact\n")


def test_evaluate_json_naming_the_configuration_file_is_refused(tmp_path, capsys, no_model):
    """`exmy evaluate cfg.toml --json cfg.toml` replaced the configuration file by the JSON
    of its results (the built-in table's file in the package too)."""
    toml = tmp_path / "cfg.toml"
    text = '[[config]]\nweights = "e4m3fn"\n'
    toml.write_text(text)
    assert main(["evaluate", str(toml), "--no-db", "--json", str(toml)]) == 2
    assert cli_error(capsys) == (
        f"exmy evaluate: error: --json {str(toml)!r} names the configuration file "
        f"{str(toml)!r}; the JSON would overwrite it: give --json another file")
    assert toml.read_text() == text


def test_evaluate_row_says_when_embeddings_are_not_finite(capsys):
    """A configuration whose sums overflow (E7M0: the float32 output; E4M3FN per tensor with a
    float16 accumulator) printed "cosine mean nan ..." without a word, and one where only some
    sentences overflowed printed measures over the others as if over all."""
    from exmy.cli.cmd_evaluate import _print_row
    from exmy.evaluate import Config

    cfg = Config("e7m0", "e7m0")
    rec = {**_RECORD, "key": cfg.key, "sentences": 40, "nonfinite": 2}
    _print_row(cfg, rec, cached=False)
    assert capsys.readouterr().out.strip().endswith(
        "0.5 s; 2 of 40 embeddings are not finite (Inf or NaN: a sum overflowed) and are left "
        "out of the measures")
    _print_row(cfg, {**rec, "nonfinite": 0}, cached=True)
    assert capsys.readouterr().out.strip().endswith("0.5 s (cached)")


# -- the evaluate records of a results database ------------------------------------------------
_RECORD = {"key": "w=e4m3fn,a=e4m3fn,scaling=channel,product=exact,acc=exact",
           "weights": "e4m3fn", "acts": "e4m3fn", "scaling": "channel", "product": "exact",
           "acc": "exact", "sentences": 3, "cosine_mean": 0.99, "cosine_min": 0.98,
           "nn_agreement": 1.0, "spearman": 1.0, "seconds": 0.5}


def _evaluate_db(path: Path, record: dict | None = None) -> Path:
    from exmy.evaluate.db import EvaluateDB

    db = EvaluateDB(path)
    rec = _RECORD if record is None else record
    db.put(_RECORD["key"], {"weights": "e4m3fn"}, "m", rec)
    db.close()
    return path


def _set_record(path: Path, text: str) -> None:
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE evaluate_results SET record = ?", (text,))
    con.close()


_DAMAGED = ("Results database {db}: an evaluate record is not what exmy writes ({why}); the "
            "file was changed by something else or damaged: give another --db")


@pytest.mark.parametrize("text, why", [
    (json.dumps({"x": 1}), "no key, weights, acts, scaling, product, acc, sentences, "
     "cosine_mean, cosine_min, nn_agreement, spearman, seconds"),
    (json.dumps({**_RECORD, "cosine_mean": "high"}), "its cosine_mean 'high' is not a number"),
    ("[1]", "not a JSON object"),
    ("not json", "not JSON: Expecting value: line 1 column 1 (char 0)"),
])
def test_evaluate_records_something_else_wrote(text, why, tmp_path, capsys):
    """A record without the measures was a KeyError traceback in both reports (and in
    `exmy evaluate`'s cached row); one that is not JSON was json's "Expecting value: line 1
    column 1 (char 0)", naming no file."""
    from exmy.evaluate.db import EvaluateDB
    from exmy.evaluate.report import main as report_main

    db = _evaluate_db(tmp_path / "r.sqlite")
    _set_record(db, text)
    expected = _DAMAGED.format(db=db, why=why)
    assert report_main([str(db), str(tmp_path / "out"), "--costmodel", str(tmp_path)]) == 2
    assert cli_error(capsys) == f"python -m exmy.evaluate.report: error: {expected}"
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "rep")]) == 2
    assert cli_error(capsys) == f"exmy report: error: {expected}"
    con = EvaluateDB(db)
    with pytest.raises(ValueError) as info:
        con.get(_RECORD["key"], 3, "m")
    con.close()
    assert str(info.value) == expected


def test_evaluate_table_of_other_columns(tmp_path, capsys):
    """An evaluate_results table of other columns was "no such column: record" (and `exmy
    report`/`exmy evaluate` called it a database that failed mid-command)."""
    db = tmp_path / "r.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE evaluate_schema (version INTEGER)")
    con.execute("CREATE TABLE evaluate_results (key TEXT, value REAL)")
    con.commit()
    con.close()
    expected = (f"Results database {db}: its evaluate_results table is not the one exmy writes "
                f"(no column config, cosine_mean, cosine_min, created, model, nn_agreement, "
                f"record, seconds, sentences, spearman); the file was changed by something "
                f"else or damaged: give another --db")
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "rep")]) == 2
    assert cli_error(capsys) == f"exmy report: error: {expected}"
    from exmy.evaluate.db import EvaluateDB

    with pytest.raises(ValueError, match="its evaluate_results table is not the one"):
        EvaluateDB(db)


# -- python -m exmy.evaluate.report: the cost-model table --------------------------------------
_HEADER = "target,variant,format,label,kind,bits,lut,ff,fmax_mhz,sqnr_normal,sqnr_laplace\n"


@pytest.mark.parametrize("data, why", [
    (b"a,b\n1,2\n", "{csv} is not a cost-model points table (no column target, variant, "
     "format, label, kind, bits, lut, ff, fmax_mhz, sqnr_normal, sqnr_laplace); give "
     "--costmodel the folder `exmy report` wrote for a cost-model sweep"),
    (b"\xff\xfe\x00\x01", "{csv} is not a text file (not UTF-8)"),
    ((_HEADER + "ecp5,acc,e4m3fn,E4M3,float,8,x,3,100,1,1\n").encode(),
     "{csv}, line 2: lut must be a number, not 'x'"),
    ((_HEADER + "ecp5,acc,e4m3fn,E4M3,float,8,1,3,100,1\n").encode(),
     "{csv}, line 2: sqnr_laplace must be a number, not nothing (the line has fewer fields "
     "than the header)"),
    ((_HEADER + "ecp5,acc,e9m9x,E9,float,8,1,3,100,1,1\n").encode(),
     "{csv}, line 2: Unknown format 'e9m9x'"),
])
def test_report_module_names_a_bad_costmodel_table(data, why, tmp_path, capsys):
    """A table without the columns was a KeyError ('target') traceback; a value that is no
    number, a format exmy does not know or bytes that are not UTF-8 were one line that named
    no file ("could not convert string to float: 'x'")."""
    from exmy.evaluate.report import main as report_main

    db = _evaluate_db(tmp_path / "r.sqlite")
    cm = tmp_path / "cm"
    cm.mkdir()
    (cm / "costmodel_points.csv").write_bytes(data)
    assert report_main([str(db), str(tmp_path / "out"), "--costmodel", str(cm)]) == 2
    line = cli_error(capsys)
    assert line.startswith("python -m exmy.evaluate.report: error: "
                           + why.format(csv=cm / "costmodel_points.csv")), line


@pytest.mark.parametrize("n", ["0", "-1"])
def test_report_module_sentences_must_be_positive(n, tmp_path, capsys):
    """`--sentences 0` reported every sentence count (0 read as "not given"); a negative one
    said only that there were no records "for -1 sentences"."""
    from exmy.evaluate.report import main as report_main

    db = _evaluate_db(tmp_path / "r.sqlite")
    with pytest.raises(SystemExit) as info:
        report_main([str(db), str(tmp_path / "out"), "--sentences", n])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().endswith(
        f"error: --sentences must be a positive integer, not {n}")
    assert not (tmp_path / "out").exists()


# -- exmy prove --------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["multiplier", "--a", "e4m3fn", "--latency", "1", "--method", "pipeline",
      "--induction-depth", "5"],
     "--induction-depth applies to k-induction; --method pipeline does not run it (omit "
     "--induction-depth, or give --method induction or auto)"),
    (["mac", "--a", "e4m3fn", "--latency", "2", "--no-cuts"],
     "--no-cuts applies to the pipeline method, which compares with a combinational "
     "reference; mac is stateful (its reference has latency 1) and is proven by k-induction, "
     "which has no cuts: omit --no-cuts"),
    (["int-mac", "--a", "int8", "--latency", "3", "--no-cuts"],
     "--no-cuts applies to the pipeline method, which compares with a combinational "
     "reference; int-mac is stateful (its reference has latency 1) and is proven by "
     "k-induction, which has no cuts: omit --no-cuts"),
])
def test_prove_refuses_options_its_method_ignores(argv, message, capsys, monkeypatch):
    """These proofs ran and passed with the option silently ignored (the pipeline method has
    no induction depth; a MAC is proven by k-induction, which has no cuts)."""
    import exmy.synth.prove as prove

    monkeypatch.setattr(prove, "prove_unit", _not_reached)
    assert main(["prove", *argv]) == 2
    assert cli_error(capsys) == f"exmy prove: error: {message}"


def test_prove_workdir_keeps_a_proof_folder_it_did_not_make(tmp_path, capsys):
    """`--workdir DIR` whose DIR/proof was the user's own folder: k-induction deleted it (its
    SymbiYosys run replaces DIR/proof) without a word. A folder an earlier proof made is
    still replaced (a rerun in the same --workdir)."""
    work = tmp_path / "w"
    (work / "proof").mkdir(parents=True)
    (work / "proof" / "notes.txt").write_text("mine\n")
    argv = ["prove", "mac", "--a", "e4m3fn", "--latency", "2", "--workdir", str(work)]
    assert main(argv) == 2
    assert cli_error(capsys) == (
        f"exmy prove: error: Work folder {work} holds a 'proof' that no earlier proof made "
        f"(the proof replaces its own 'proof' folder); give an empty or new folder")
    assert (work / "proof" / "notes.txt").read_text() == "mine\n"


def test_prove_reruns_in_its_own_workdir(tmp_path, capsys):
    """The other side of the check above: an earlier proof's 'proof' folder is replaced."""
    argv = ["prove", "mac", "--a", "e4m3fn", "--latency", "2", "--workdir",
            str(tmp_path / "w")]
    assert main(argv) == 0
    assert main(argv) == 0
    assert capsys.readouterr().out.count("PASS mac_e4m3fn_e4m3fn_accbits49_l2") == 2


def test_report_module_missing_database_is_named(tmp_path, capsys, monkeypatch):
    """A database that does not exist was "not usable: unable to open database file" (`exmy
    report` says that it does not exist); a name holding a newline broke the line in two."""
    from exmy.evaluate.report import main as report_main

    monkeypatch.chdir(tmp_path)
    for name, shown in (("none.sqlite", "none.sqlite"), ("nl\nx.sqlite", "nl\\nx.sqlite")):
        assert report_main([name, "out"]) == 2
        assert cli_error(capsys) == (
            f"python -m exmy.evaluate.report: error: Results database {shown} does not exist; "
            f"run `exmy evaluate` first, or give another database")


# -- exmy simulate -----------------------------------------------------------------------------
def test_simulate_build_dir_with_the_amaranth_simulator(tmp_path, capsys, monkeypatch):
    """`--simulator amaranth --build-dir DIR` made an empty DIR and kept nothing there (the
    Amaranth simulator has no build), and a Ctrl-C said "simulator build kept in DIR"."""
    import exmy.sim.check as check

    monkeypatch.setattr(check, "check", _not_reached)
    out = tmp_path / "bd"
    assert main(["simulate", "multiplier", "--a", "e4m3fn", "--simulator", "amaranth",
                 "--build-dir", str(out)]) == 2
    assert cli_error(capsys) == (
        "exmy simulate: error: --build-dir keeps the build of --simulator icarus or verilator; "
        "the Amaranth simulator builds nothing to keep (omit --build-dir)")
    assert not out.exists()


@pytest.mark.parametrize("simulator, name, what", [
    ("icarus", "nl\nx", "a newline"),
    ("icarus", 'q"x', "the character '\"'"),
    ("icarus", "c\x01x", "the control character '\\x01'"),
    ("verilator", "nl\nx", "a newline"),
    ("verilator", "a;b", "the character ';'"),
    ("verilator", "a#b", "the character '#'"),
    ("verilator", "a:b", "the character ':'"),
    ("verilator", "a*b", "the character '*'"),
])
def test_simulate_build_dir_the_tools_cannot_take(simulator, name, what, tmp_path, capsys):
    """A --build-dir holding these failed only after the tools had run, with their output
    (make's "missing separator", "multiple target patterns"; vvp's "syntax error"; a
    control character: a traceback, cocotb's results XML unreadable); Verilator's check for
    spaces called a newline "spaces". Now one line before any build; the other printable
    characters build (measured on both simulators)."""
    odd = tmp_path / name
    assert main(["simulate", "multiplier", "--a", "e4m3fn", "--vectors", "100",
                 "--simulator", simulator, "--build-dir", str(odd)]) == 2
    tool = ("Verilator", "GNU Make") if simulator == "verilator" else (
        "Icarus Verilog", "its build (command file, vvp)")
    assert cli_error(capsys) == (
        f"exmy simulate: error: {tool[0]} cannot build in {str(odd)!r}: {tool[1]} does not "
        f"allow {what} in the build path; choose a folder without it")
    assert not (odd / f"sim_{simulator}").exists()


def test_report_module_compares_one_sentence_count(tmp_path, capsys):
    """Records of different sentence counts (INT8 on 3 and on 5 sentences) were joined side by
    side: the same format twice in accuracy_cost.csv, its Pareto front and its rank
    correlation, without a word. Now the count most records share, as `exmy report` does,
    and a note on the others."""
    from exmy.evaluate.report import main as report_main

    db = tmp_path / "r.sqlite"
    from exmy.evaluate.db import EvaluateDB

    con = EvaluateDB(db)
    for n, w in ((3, "int8"), (5, "int8"), (5, "int4")):
        key = f"w={w},a={w},scaling=channel,product=exact,acc=exact"
        con.put(key, {}, "m", {**_RECORD, "key": key, "weights": w, "acts": w, "sentences": n})
    con.close()
    cm = tmp_path / "cm"
    cm.mkdir()
    (cm / "costmodel_points.csv").write_text(
        _HEADER + "ecp5,acc,int8,INT8,int,8,300,80,95,40,34\n"
        "ecp5,acc,int4,INT4,int,4,100,30,120,22,18\n")
    assert report_main([str(db), str(tmp_path / "out"), "--costmodel", str(cm)]) == 0
    out = capsys.readouterr()
    assert out.err.strip() == ("note: 1 record(s) with other sentence counts than 5 left out "
                               "(give --sentences N to choose)")
    assert json.loads(out.out)["sentences"] == [5]
    lines = (tmp_path / "out" / "accuracy_cost.csv").read_text().splitlines()
    assert [x.split(",")[0] for x in lines[1:]] == ["INT4", "INT8"]
