"""exmy.synth.sweep / db / report: sweep files, caching, failures, SIGKILL and resume, Dask.

Designs are n x n multipliers with n <= 4 on the ``generic`` and ``ice40`` targets (well under
a second of tool time each), produced by a generator module written into a temp folder, so
that worker processes and a killed-and-restarted sweep see the same code (same fingerprint).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from exmy.synth import sweep
from exmy.synth.db import ResultsDB
from exmy.synth.report import write_report
from exmy.synth.sweep import expand_sweep, load_sweep, normalize_point, run_sweep
from exmy.synth.tools import ToolNotFoundError, warm_up

GEN = textwrap.dedent('''
    def make(point):
        n = point["params"]["n"]
        if n == 0:
            raise ValueError("n must be positive")
        body = "assign p = a * b;" if n > 0 else "assign p = ;"  # n < 0: a syntax error
        n = abs(n)
        v = (f"module mul{n}(input wire [{n-1}:0] a, input wire [{n-1}:0] b, "
             f"output wire [{2*n-1}:0] p); {body} endmodule\\n")
        return v, f"mul{n}", {"a": {"dir": "in", "width": n}, "b": {"dir": "in", "width": n},
                              "p": {"dir": "out", "width": 2 * n}}
''')


@pytest.fixture(scope="module")
def synth_tools():
    try:
        warm_up(["yosys", "nextpnr-ice40"])
    except ToolNotFoundError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))


@pytest.fixture
def gen(tmp_path, monkeypatch):
    """The generator module, importable here, in worker processes and in subprocesses."""
    d = tmp_path / "gen"
    d.mkdir()
    (d / "sweepgen.py").write_text(GEN)
    monkeypatch.syspath_prepend(str(d))
    sys.modules.pop("sweepgen", None)
    import sweepgen

    yield sweepgen
    sys.modules.pop("sweepgen", None)


def _points(ns, targets=("generic", "ice40")):
    return [{"unit": "mul", "params": {"n": n}, "target": t} for n in ns for t in targets]


# -- sweep files -----------------------------------------------------------------------------

SWEEP_TOML = """
db = "results.sqlite"
jobs = 2
targets = ["ecp5", "ice40"]
seeds = [1, 2]

[[unit]]
name = "multiplier"
params = { a = ["e4m3", "e5m2"], latency = 0 }

[[unit]]
name = "int-multiplier"
targets = ["generic"]
params = { a = { int = [4, 6] } }
"""


def test_load_sweep(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(SWEEP_TOML)
    spec = load_sweep(f)
    assert spec["db"] == "results.sqlite" and spec["jobs"] == 2 and spec["executor"] is None
    pts = spec["points"]
    # 2 formats x 2 targets x 2 seeds, then 3 ints on generic (seed is irrelevant there, so
    # the two seeds collapse into one point).
    assert len(pts) == 8 + 3
    assert pts[0] == {"unit": "multiplier", "params": {"a": "e4m3", "latency": 0},
                      "target": "ecp5", "dsp": False, "widelut": True, "seed": 1,
                      "freq_mhz": 100.0, "register_io": True, "io": "auto"}
    assert {p["params"]["a"] for p in pts if p["unit"] == "int-multiplier"} == {
        "int4", "int5", "int6"}


def test_param_generators():
    pts = expand_sweep({"targets": ["generic"], "unit": [
        {"name": "u", "params": {"n": {"range": [2, 8, 3]}, "f": {"exmy": [4, 4]}}}]})
    assert sorted({p["params"]["n"] for p in pts}) == [2, 5, 8]
    fs = {p["params"]["f"] for p in pts}
    assert "e2m1" in fs and all(1 + int(f[1]) + int(f[3]) == 4 for f in fs)


@pytest.mark.parametrize("spec, message", [
    ({"target": ["ecp5"], "unit": [{"name": "u"}]},
     r"Unknown key 'target' in the sweep file; valid keys are db, jobs, executor, targets, "),
    ({"targets": ["ecp5"], "unit": [{"name": "u", "param": {}}]},
     r"Unknown key 'param' in \[\[unit\]\] entry 1; valid keys are name, params, targets"),
    ({"targets": ["ecp5"]}, r"Sweep file has no \[\[unit\]\] entries"),
    ({"unit": [{"name": "u"}]}, r"\[\[unit\]\] entry 1 \(u\) has no targets; valid targets "
                                r"are ecp5, ice40"),
    ({"targets": ["ecp6"], "unit": [{"name": "u"}]}, r"Unknown target 'ecp6'"),
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"n": {"rnage": [1, 2]}}}]},
     r"Parameter 'n': a table must have exactly one of the keys range, exmy, int"),
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"n": {"range": [1]}}}]},
     r"Parameter 'n': range must be \[lo, hi\] or \[lo, hi, step\] integers"),
    ({"targets": ["ecp5"], "unit": [{"params": {}}]}, r"\[\[unit\]\] entry 1 has no 'name'"),
])
def test_sweep_schema_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        expand_sweep(spec)


def test_sweep_file_typo(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(SWEEP_TOML.replace("seeds =", "sedes ="))
    with pytest.raises(ValueError, match=r"Unknown key 'sedes' in the sweep file; valid keys "
                                         r"are db, jobs, executor, targets, seeds, dsp"):
        load_sweep(f)


def test_sweep_file_not_toml(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("targets = [ecp5\n")
    with pytest.raises(ValueError, match=r"is not valid TOML"):
        load_sweep(f)


def test_point_errors():
    with pytest.raises(ValueError, match=r"Unknown sweep point key 'seeds'; valid keys are "
                                         r"unit, params, target, seed"):
        normalize_point({"unit": "u", "target": "ecp5", "seeds": [1]})
    with pytest.raises(ValueError, match=r"has no 'target'"):
        normalize_point({"unit": "u"})
    with pytest.raises(TypeError, match=r"A sweep point must be a dict"):
        normalize_point(["u"])


def test_run_sweep_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"Jobs must be a positive integer, not 0"):
        run_sweep([], tmp_path / "r.sqlite", jobs=0)
    with pytest.raises(ValueError, match=r"Executor must be 'dask://HOST:PORT'"):
        run_sweep([], tmp_path / "r.sqlite", executor="spark://x:1")


def test_fingerprint_follows_code(gen, tmp_path):
    a = sweep.design_fingerprint(gen.make)
    (tmp_path / "gen" / "sweepgen.py").write_text(GEN + "\n# changed\n")
    assert sweep.design_fingerprint(gen.make) != a
    assert sweep.design_fingerprint(sweep.default_make_design) == \
        sweep.design_fingerprint(sweep.default_make_design)


# -- the database ----------------------------------------------------------------------------

def test_db_put_get_export(tmp_path):
    rec = {"flow_key": "k1", "status": "ok", "unit": "u", "params": {"n": 3}, "lut": 7,
           "dsp_enabled": False, "tool_versions": {"yosys": "Yosys 0.70"}, "novel": [1, 2]}
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.put(rec, point_key="p1")
        db.put({**rec, "lut": 8}, point_key="p1")  # same key: replaced, not duplicated
        assert len(db) == 1
        got = db.get("k1")
        assert got["lut"] == 8 and got["params"] == {"n": 3} and got["novel"] == [1, 2]
        assert got["dsp_enabled"] is False and got["point_key"] == "p1"
        assert db.get_point("p1")["flow_key"] == "k1" and db.get("nope") is None
        db.export_csv(tmp_path / "r.csv")
        db.export_json(tmp_path / "r.json")
        with pytest.raises(ValueError, match=r"Record has no flow_key"):
            db.put({"status": "ok"})
    assert json.loads((tmp_path / "r.json").read_text())[0]["lut"] == 8
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("flow_key,status,unit")


# -- running sweeps --------------------------------------------------------------------------

def test_sweep_failures_cache_and_report(synth_tools, gen, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    # n=0: make_design raises; n=-2: Yosys fails on a syntax error; the rest are fine.
    pts = _points([2, 3, 0, -2]) + _points([2])  # a duplicate point runs once
    res = run_sweep(pts, db, jobs=2, make_design=gen.make)
    assert res["total"] == 8 and res["ran"] == 8 and res["failed"] == 4
    by = {(r["params"]["n"], r["target"]): r for r in res["records"]}
    assert by[(2, "ice40")]["status"] == "ok" and by[(2, "ice40")]["fmax_mhz"] > 0
    assert by[(3, "generic")]["gates"] > 0
    assert "n must be positive" in by[(0, "ice40")]["error"]
    assert "ValueError" in by[(0, "ice40")]["log"]
    assert by[(-2, "generic")]["status"] == "failed" and "ERROR" in by[(-2, "generic")]["log"]
    assert "8/8" in capsys.readouterr().err

    t0 = time.monotonic()
    again = run_sweep(pts, db, jobs=2, make_design=gen.make, progress=False)
    assert again["ran"] == 0 and again["cached"] == 8
    assert time.monotonic() - t0 < 5  # tool --version calls only
    assert [r["flow_key"] for r in again["records"]] == [r["flow_key"] for r in res["records"]]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 8

    # retry_failed reruns only the failed points (they fail again).
    retry = run_sweep(pts, db, jobs=1, make_design=gen.make, progress=False,
                      retry_failed=True)
    assert retry["ran"] == 4 and retry["failed"] == 4

    out = write_report(db, tmp_path / "report")
    assert {os.path.basename(p) for p in out["plots"]} == {
        "lut_generic.png", "lut_ice40.png", "fmax_ice40.png"}
    for p in out["tables"] + out["plots"]:
        assert os.path.getsize(p) > 0
    summary = (tmp_path / "report" / "summary.csv").read_text()
    assert "mul,n=3,ice40" in summary


def test_same_verilog_new_code_is_not_resynthesized(synth_tools, gen, tmp_path):
    db = tmp_path / "r.sqlite"
    run_sweep(_points([2, 3]), db, jobs=1, make_design=gen.make, progress=False)
    # Editing the generator changes every point key, but the Verilog is the same: linked.
    (tmp_path / "gen" / "sweepgen.py").write_text(GEN + "\n# a comment\n")
    res = run_sweep(_points([2, 3]), db, jobs=1, make_design=gen.make, progress=False)
    assert res["ran"] == 0 and res["cached"] == 4 and res["failed"] == 0
    with ResultsDB(db) as d:
        assert len(d) == 4


RUNNER = """
import sys
sys.path.insert(0, {gen!r})
from sweepgen import make
from exmy.synth.sweep import run_sweep
pts = [{{"unit": "mul", "params": {{"n": n}}, "target": t}}
       for n in (2, 3, 4, 5) for t in ("generic", "ice40", "ice40-up5k")]
run_sweep(pts, {db!r}, jobs=2, make_design=make, progress=False)
"""


def test_sigkill_and_resume(synth_tools, gen, tmp_path):
    db = tmp_path / "r.sqlite"
    script = tmp_path / "run.py"
    script.write_text(RUNNER.format(gen=str(tmp_path / "gen"), db=str(db)))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        n = 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=5) as con:
                        n = con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
            if n >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()
        os.kill(proc.pid, signal.SIGKILL)  # the sweep's parent, the only DB writer
        proc.wait()
    finally:
        time.sleep(1.5)  # its workers notice the parent is gone and exit
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with sqlite3.connect(db) as con:
        before = dict(con.execute("SELECT flow_key, created FROM records").fetchall())
    assert 3 <= len(before) < 12

    pts = [{"unit": "mul", "params": {"n": n}, "target": t}
           for n in (2, 3, 4, 5) for t in ("generic", "ice40", "ice40-up5k")]
    res = run_sweep(pts, db, jobs=2, make_design=gen.make, progress=False)
    assert res["failed"] == 0
    assert res["ran"] == 12 - len(before)  # the recorded points were not redone
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT flow_key, created FROM records").fetchall()
        linked = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    assert len(rows) == 12 and len({k for k, _ in rows}) == 12 and linked == 12
    after = dict(rows)
    assert all(after[k] == c for k, c in before.items())  # nothing lost or rewritten


def test_dask_local_cluster(synth_tools, gen, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://")
        db = tmp_path / "r.sqlite"
        res = run_sweep(_points([2, 3, 0]), db, executor="dask://" + addr[len("tcp://"):],
                        make_design=gen.make, progress=False)
        assert res["ran"] == 6 and res["failed"] == 2
        again = run_sweep(_points([2, 3, 0]), db, executor=addr, make_design=gen.make,
                          progress=False)
        assert again["ran"] == 0
    ok = [r for r in res["records"] if r["status"] == "ok"]
    assert len(ok) == 4 and all(r["lut"] or r["gates"] for r in ok)


def test_demo_sweep_file_parses():
    from pathlib import Path

    spec = load_sweep(Path(sweep.__file__).with_name("demo_sweep.toml"))
    assert len(spec["points"]) == 6
