"""A ninth probe, of the public Python API of exmy.sim, exmy.synth and exmy.evaluate: bad
arguments that gave an error from deep inside (sqlite3, pathlib, numpy, an AttributeError),
were read for their truth value, or were silently accepted with a wrong result (a filter that
matched nothing, a record stored that made every later read of the database fail). Each test
says what happened before; each fails on the code before the probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from exmy.evaluate.db import EvaluateDB
from exmy.evaluate.report import build_report, costmodel_csv_points
from exmy.evaluate.run import metrics, split_sentences
from exmy.synth.db import ResultsDB
from exmy.synth.report import summarize


@pytest.fixture
def rdb(tmp_path):
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.put({"flow_key": "k1", "status": "ok", "unit": "multiplier", "target": "ecp5",
                "lut": None, "dsp_enabled": True})
        db.put({"flow_key": "k2", "status": "failed", "unit": "multiplier", "target": "ecp5",
                "lut": 5, "error": "boom"})
        yield db


# -- exmy.synth.db.ResultsDB ------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda db: db.get(["k1"]),
    lambda db: db.get_point(["p"]),
    lambda db: db.link(["p"], "k1"),
    lambda db: db.link("p", None),
    lambda db: db.heartbeat(["owner"]),
    lambda db: db.release({"owner": 1}),
    lambda db: db.flow_keys(["ok"]),
], ids=["get", "get_point", "link-point", "link-flow", "heartbeat", "release", "flow_keys"])
def test_results_db_keys_are_strings(rdb, call):
    """A key that is no string was an sqlite3 error from inside the query
    (ProgrammingError "Error binding parameter 1: type 'list' is not supported", or
    IntegrityError "NOT NULL constraint failed: points.flow_key" for ``link(p, None)``)."""
    with pytest.raises(ValueError, match="must be a non-empty string"):
        call(rdb)


def test_results_db_records_filter_by_none(rdb):
    """``records(lut=None)`` returned [] although a record's lut is None (SQL's ``= NULL``
    matches nothing): silent garbage. It is refused, saying how to filter instead."""
    with pytest.raises(ValueError, match=r"lut=None\) would match no record"):
        rdb.records(lut=None)
    assert [r["flow_key"] for r in rdb.records(lut=5)] == ["k2"]  # a value still filters


@pytest.mark.parametrize("kw, msg", [
    ({"lut": "5"}, "takes a number"),
    ({"unit": 5}, "takes a string"),
    ({"dsp_enabled": 1}, "takes a bool"),
])
def test_results_db_records_filter_type(rdb, kw, msg):
    """A filter of the wrong type for its column (``lut="5"``, ``unit=5``) silently matched
    no record; a bool column is filtered by a bool."""
    with pytest.raises(TypeError, match=msg):
        rdb.records(**kw)
    assert [r["flow_key"] for r in rdb.records(dsp_enabled=True)] == ["k1"]


def test_results_db_put_text_columns(rdb):
    """``put({"flow_key": ..., "unit": [1]})`` was an sqlite3 ProgrammingError from inside the
    INSERT, and ``status=5`` was stored; the text columns take strings (or None)."""
    for bad in ({"unit": [1]}, {"status": 5}):
        with pytest.raises(ValueError, match="must be a string or None"):
            rdb.put({"flow_key": "k3", **bad})
    assert len(rdb) == 2


def test_results_db_claim_and_on_wait_types(rdb, tmp_path):
    """``claim(..., retry_failed="no")`` was read for its truth value (a failed record's point
    was claimed to run again), and ``on_wait="x"`` was accepted, to fail with "'str' object
    is not callable" only once a lock was waited for."""
    rdb.put({"flow_key": "k2", "status": "failed"}, point_key="p2")
    with pytest.raises(TypeError, match="retry_failed must be True or False"):
        rdb.claim("p2", "owner", retry_failed="no")
    assert rdb.claim("p2", "owner")[0] == "done"
    with pytest.raises(TypeError, match="on_wait must be a function"):
        ResultsDB(tmp_path / "r.sqlite", on_wait="x")


# -- exmy.evaluate.db.EvaluateDB --------------------------------------------------------------

def _eval_record(**kw):
    rec = {"key": "k", "weights": "e4m3", "acts": "e4m3", "scaling": "channel",
           "product": "exact", "acc": "exact", "sentences": 4, "cosine_mean": 1.0,
           "cosine_min": 1.0, "nn_agreement": 1.0, "spearman": 1.0, "seconds": 0.1}
    return {**rec, **kw}


@pytest.mark.parametrize("record, msg", [
    ({"sentences": 4}, "no key, weights"),
    (_eval_record(weights=None), "its weights None is not a string"),
    (_eval_record(key="other"), "is not the key 'k'"),
    (_eval_record(note=object()), "not JSON data"),
    ([], "not a JSON object"),
])
def test_evaluate_db_put_refuses_what_rows_refuses(tmp_path, record, msg):
    """``put`` stored a record ``rows()`` refuses (no formats, a None format): from then on
    every read of the database said it "was changed by something else or damaged". Other bad
    records were a KeyError ('sentences'), a TypeError from json, or stored under a key that
    is not their own. Now a ValueError, and nothing is stored."""
    db = EvaluateDB(tmp_path / "e.sqlite")
    try:
        with pytest.raises(ValueError, match=msg):
            db.put("k", {}, "m", record)
        assert db.rows() == []
        db.put("k", {}, "m", _eval_record())
        assert db.get("k", 4, "m")["key"] == "k"
    finally:
        db.close()


def test_evaluate_db_argument_types(tmp_path):
    """``EvaluateDB(path, read_only="no")`` was read for its truth value (a reader: "not
    usable: unable to open database file" for a new file); ``get(["k"], ...)`` an sqlite3
    ProgrammingError; ``put(..., model=None)`` "NOT NULL constraint failed"."""
    with pytest.raises(TypeError, match="read_only must be True or False"):
        EvaluateDB(tmp_path / "e.sqlite", read_only="no")
    db = EvaluateDB(tmp_path / "e.sqlite")
    try:
        with pytest.raises(TypeError, match="key must be a non-empty string"):
            db.get(["k"], 4, "m")
        with pytest.raises(TypeError, match="sentences must be an integer"):
            db.get("k", "4", "m")
        with pytest.raises(TypeError, match="model must be a non-empty string"):
            db.put("k", {}, None, _eval_record())
        with pytest.raises(TypeError, match="config must be a dict"):
            db.put("k", "cfg", "m", _eval_record())
    finally:
        db.close()


# -- exmy.evaluate.run / report ---------------------------------------------------------------

def test_metrics_shapes():
    """Embeddings of different shapes were numpy's "operands could not be broadcast"; 1-D ones
    an AxisError; a (1, 4) emb against a (3, 4) ref broadcast silently into numbers."""
    ref = np.eye(3, 4)
    for emb in (np.zeros((2, 4)), np.zeros(4), np.ones((1, 4))):
        with pytest.raises(ValueError, match="2-D arrays of one shape"):
            metrics(emb, ref if emb.ndim == 2 else np.zeros(4))
    with pytest.raises(TypeError, match="array of real numbers"):
        metrics([["a"]], ref)
    assert metrics(ref, ref)["cosine_mean"] == pytest.approx(1.0)


def test_split_sentences_takes_a_list_of_strings():
    """``split_sentences("abc")`` split the string into its characters, silently."""
    with pytest.raises(TypeError, match="list of strings"):
        split_sentences("abc")
    with pytest.raises(TypeError, match="list of strings"):
        split_sentences([1, 2])
    assert split_sentences(["a", "b"]) == (["a", "b"], [])


def test_build_report_arguments(tmp_path):
    """``build_report(5, ...)`` raised pathlib's "expected str, bytes or os.PathLike object";
    ``sentences="4"`` was compared with the records' counts and said "No evaluate results ...
    for 4 sentences"; ``costmodel_csv_points(5)`` pathlib's TypeError again."""
    with pytest.raises(TypeError, match="Results database must be a file name"):
        build_report(5, tmp_path / "out", tmp_path)
    db = EvaluateDB(tmp_path / "e.sqlite")
    db.put("k", {}, "m", _eval_record())
    db.close()
    with pytest.raises(TypeError, match="sentences must be a positive integer"):
        build_report(tmp_path / "e.sqlite", tmp_path / "out", tmp_path, sentences="4")
    with pytest.raises(ValueError, match="sentences must be a positive integer"):
        build_report(tmp_path / "e.sqlite", tmp_path / "out", tmp_path, sentences=0)
    with pytest.raises(TypeError, match="Cost-model folder must be a folder name"):
        costmodel_csv_points(5)
    with pytest.raises(TypeError, match="Target must be a string"):
        costmodel_csv_points(tmp_path, target=5)


# -- exmy.synth.report.summarize --------------------------------------------------------------

@pytest.mark.parametrize("records", ["abc", {"unit": "x"}, ["x"], None])
def test_summarize_takes_records(records):
    """A string, a dict or a list of strings was an AttributeError ('str' object has no
    attribute 'get'); None "'NoneType' object is not iterable"."""
    with pytest.raises(TypeError, match="summarize\\(\\)'s records must be"):
        summarize(records)
    assert summarize([]) == []


# -- exmy.sim.check.stimulus_for --------------------------------------------------------------

def test_stimulus_for_needs_a_unit():
    """``stimulus_for("multiplier")`` raised AttributeError ('str' object has no attribute
    'unit'); ``check()`` already said what it needs."""
    from exmy.sim.check import stimulus_for

    with pytest.raises(TypeError, match=r"stimulus_for\(\) needs an exmy unit"):
        stimulus_for("multiplier")


# -- exmy.synth.prove -------------------------------------------------------------------------

def _pair():
    from exmy.hdl.multiplier import Multiplier

    p, r = Multiplier("e2m1", "e2m1", "e2m1", latency=1), Multiplier("e2m1", "e2m1", "e2m1")
    p._MustUse__silence = r._MustUse__silence = True
    return p, r


def test_prove_cuts_is_a_bool(tmp_path):
    """``prove(..., cuts="no")`` was read for its truth value: the cuts were used."""
    from exmy.synth.prove import prove

    p, r = _pair()
    with pytest.raises(TypeError, match="cuts must be True or False"):
        prove(p, r, tmp_path / "w", cuts="no")


@pytest.mark.parametrize("kw, exc, msg", [
    ({"keep": "no"}, TypeError, "keep must be True or False"),
    ({"workdir": 5}, TypeError, "Work folder must be a folder name"),
    ({"workdir": ""}, ValueError, "Work folder needs a folder name"),
])
def test_prove_unit_arguments(kw, exc, msg, monkeypatch, tmp_path):
    """``prove_unit(..., workdir=5)`` raised pathlib's "expected str, bytes or os.PathLike
    object, not int"; ``workdir=""`` wrote the proof's files into the current folder (prove()
    itself refuses ""); ``keep="no"`` was read for its truth value (the folder was kept)."""
    from exmy.synth import prove as prove_mod

    def no_proof(*a, **k):  # the check comes before any tool runs
        raise AssertionError("prove ran")

    monkeypatch.setattr(prove_mod, "prove", no_proof)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(exc, match=msg):
        prove_mod.prove_unit("multiplier", {"a": "e2m1", "latency": 1}, **kw)
    assert not (tmp_path / "miter.v").exists()


def test_results_db_json_export_still_works(rdb, tmp_path):
    """A control: the checks leave valid use alone."""
    rdb.export_json(tmp_path / "r.json")
    assert {r["flow_key"] for r in json.loads((tmp_path / "r.json").read_text())} == {"k1", "k2"}
    assert rdb.flow_keys("ok") == {"k1"}


# -- exmy.synth.sweep.normalize_point / exmy.synth.flow.ignored_options -----------------------

@pytest.mark.parametrize("params, msg", [
    ({"a": object()}, "must be JSON data"),
    ({1: "e4m3"}, "keyed by option names"),
])
def test_normalize_point_params_are_json(params, msg):
    """A point whose params are no JSON data (an object, a non-string key) was accepted;
    ``run_sweep`` then designed it, recorded it failed and stopped the whole sweep there with
    "Record 'gen:97a1...': params is not JSON data" (the database cannot store it)."""
    from exmy.synth.sweep import normalize_point

    with pytest.raises(TypeError, match=msg):
        normalize_point({"unit": "multiplier", "target": "ecp5", "params": params})
    assert normalize_point({"unit": "multiplier", "target": "ecp5",
                            "params": {"a": "e4m3"}})["params"] == {"a": "e4m3"}


def test_ignored_options_target_type():
    """``ignored_options(5)`` raised AttributeError ('int' object has no attribute
    'nextpnr')."""
    from exmy.synth.flow import ignored_options

    with pytest.raises(TypeError, match="Target must be a string"):
        ignored_options(5)
    assert "widelut" in ignored_options("ice40")


# -- exmy.sim.run_vectors / compare -----------------------------------------------------------

def test_run_vectors_timings_is_a_dict(tmp_path):
    """``run_vectors(..., timings=[])`` simulated every vector, then raised AttributeError
    ('list' object has no attribute 'update')."""
    from exmy.hdl.multiplier import Multiplier
    from exmy.hdl.verilog import port_table, to_verilog
    from exmy.sim import run_vectors

    m = Multiplier("e2m1", "e2m1", "e2m1")
    v = to_verilog(m, m.module_name)
    inputs = {"a": np.array([1, 2], np.uint8), "b": np.array([3, 4], np.uint8)}
    with pytest.raises(TypeError, match="Timings must be a dict"):
        run_vectors(v, m.module_name, port_table(m, v), inputs, ["y"], 0, "amaranth",
                    tmp_path, m, timings=[])


def test_compare_describe_is_a_function():
    """``compare(..., describe="x")`` raised "'str' object is not callable" at the first
    mismatch (and nothing at all when every vector matched)."""
    from exmy.sim import compare

    with pytest.raises(TypeError, match="describe must be a function"):
        compare({"y": np.array([1])}, {"y": np.array([1])}, describe="x")
    assert len(compare({"y": np.array([1])}, {"y": np.array([2])}, describe=str)) == 1


# -- exmy.synth.costmodel.costmodel_rows / isofreq_rows ---------------------------------------

@pytest.mark.parametrize("records", ["abc", {"unit": "x"}, ["x"], None])
def test_costmodel_rows_take_records(records):
    """``costmodel_rows("abc")`` and ``isofreq_rows(["a"])`` raised AttributeError ('str'
    object has no attribute 'get'); None "'NoneType' object is not iterable"."""
    from exmy.synth.costmodel import costmodel_rows, isofreq_rows

    for fn in (costmodel_rows, isofreq_rows):
        with pytest.raises(TypeError, match="Cost-model records must be"):
            fn(records)
        assert fn([]) == []


def test_prove_takes_units(tmp_path):
    """``prove("x", "y", dir)`` raised AttributeError ('str' object has no attribute
    'latency'); ``name=5`` was accepted into the result."""
    from exmy.synth.prove import prove

    p, r = _pair()
    with pytest.raises(TypeError, match="prove\\(\\)'s pipelined must be an exmy unit"):
        prove("x", r, tmp_path / "w")
    with pytest.raises(TypeError, match="prove\\(\\)'s reference must be an exmy unit"):
        prove(p, "y", tmp_path / "w")
    with pytest.raises(TypeError, match="Proof name must be a string"):
        prove(p, r, tmp_path / "w", name=5)


def test_miter_port_mismatch_names_the_widths():
    """Two units whose ports share names but not widths (e2m1 against e4m3) were refused with
    "ports ['a', 'b', 'y'] differ from the reference's ['a', 'b', 'y']": the same list twice.
    The widths are shown."""
    from exmy.synth.prove import miter_verilog

    four = {n: {"dir": d, "width": 4} for n, d in (("a", "in"), ("b", "in"), ("y", "out"))}
    eight = {n: {"dir": d, "width": 8} for n, d in (("a", "in"), ("b", "in"), ("y", "out"))}
    with pytest.raises(ValueError, match=r"a \(in, 4 bits\).*a \(in, 8 bits\)"):
        miter_verilog(four, eight, 1, 1)
