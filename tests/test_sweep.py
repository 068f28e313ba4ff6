"""exmy.synth.sweep / db / report: sweep files, caching, failures, SIGKILL and resume, Dask.

Designs are n x n multipliers with n <= 4 on the ``generic`` and ``ice40`` targets (well under
a second of tool time each), produced by a generator module written into a temp folder, so
that worker processes and a killed-and-restarted sweep see the same code (same fingerprint).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from exmy.synth import sweep, sweepfile
from exmy.synth.db import ResultsDB
from exmy.synth.report import write_report
from exmy.synth.sweep import normalize_point, run_sweep
from exmy.synth.sweepfile import expand_sweep, load_sweep

from hwtest import need_synth_tools

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
    need_synth_tools(["yosys", "nextpnr-ice40"])


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
    # a step of 0 (was Python's "range() arg 3 must not be zero")
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"n": {"range": [0, 3, 0]}}}]},
     r"^Parameter 'n': the step of range = \[0, 3, 0\] must be non-zero$"),
    # seeds nextpnr cannot take (was an OverflowError from SQLite after the synthesis)
    ({"targets": ["ice40"], "seeds": [2**63 - 1], "unit": [{"name": "u"}]},
     r"^'seeds' of \[\[unit\]\] entry 1 \(u\): Seed must be an integer from 0 to 2147483647 "
     r"\(nextpnr's --seed is a C int\), not 9223372036854775807$"),
    ({"targets": ["ice40"], "seeds": [-1], "unit": [{"name": "u"}]},
     r"^'seeds' of \[\[unit\]\] entry 1 \(u\): Seed must be an integer from 0 to 2147483647"),
    # an empty list of seeds (was 0 points and exit 0)
    ({"targets": ["ice40"], "seeds": [], "unit": [{"name": "u"}]},
     r"^'seeds' of \[\[unit\]\] entry 1 \(u\) is an empty list: the entry would have no "
     r"points$"),
    # bit ranges past what formats allow (exmy=[3,100000] parsed ~5e9 names)
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"a": {"exmy": [3, 100000]}}}]},
     r"^Parameter 'a': exmy = \[3, 100000\]: the bit range of eXmY formats must be LO..HI with "
     r"2 <= LO <= HI <= 35 \(a sign, 1 to 11 exponent and 0 to 23 mantissa bits\), not "
     r"3..100000$"),
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"a": {"int": [3, 10**12]}}}]},
     r"^Parameter 'a': int = \[3, 1000000000000\]: the widths of intN formats must be LO..HI "
     r"with 1 <= LO <= HI <= 32, not 3..1000000000000$"),
    # too many points, counted before any is built (range=[0, 1e9] was a MemoryError)
    ({"targets": ["ecp5", "ice40"], "unit": [
        {"name": "u", "params": {"latency": {"range": [0, 1_000_000_000]}}}]},
     r"^The sweep would make 2,000,000,002 points \(counted up to \[\[unit\]\] entry 1, u\); "
     r"a sweep may have at most 100,000: narrow its ranges or split it$"),
    ({"targets": ["ecp5"], "unit": [{"name": "u", "params": {"x": list(range(1000)),
                                                              "y": list(range(101))}},
                                    {"name": "v"}]},
     r"^The sweep would make 101,000 points or more \(counted up to \[\[unit\]\] entry 1"),
])
def test_sweep_schema_errors(spec, message):
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=message):
        expand_sweep(spec)
    assert time.monotonic() - t0 < 2


def test_sweep_limits_are_inclusive():
    """The point limit counts points (100,000 is allowed), a range counts down with a negative
    step (both ends inclusive) and the bit ranges reach the widest formats."""
    pts = expand_sweep({"targets": ["generic"], "unit": [
        {"name": "u", "params": {"n": {"range": [0, sweepfile.MAX_POINTS - 1]}}}]})
    assert len(pts) == sweepfile.MAX_POINTS
    pts = expand_sweep({"targets": ["generic"], "unit": [
        {"name": "u", "params": {"n": {"range": [3, 0, -1]}}}]})
    assert [p["params"]["n"] for p in pts] == [3, 2, 1, 0]
    assert sweepfile.exmy_formats(35, 35) == ["e11m23"]
    assert sweepfile.exmy_formats(3, 8) == [f for f in sweepfile.exmy_formats(2, 8) if f != "e1m0"]


def test_seed_range():
    """nextpnr's --seed is a C int: 0 and 2**31 - 1 are seeds, 2**31 and -1 are not (a seed
    SQLite cannot store was an OverflowError after the synthesis)."""
    for seed in (0, 2**31 - 1):
        assert normalize_point({"unit": "u", "target": "ice40", "seed": seed})["seed"] == seed
    for seed in (-1, 2**31, 2**63):
        with pytest.raises(ValueError, match=rf"^Seed must be an integer from 0 to 2147483647 "
                           rf"\(nextpnr's --seed is a C int\), not {seed}$"):
            normalize_point({"unit": "u", "target": "ice40", "seed": seed})
    with pytest.raises(ValueError, match=r"^Seed must be an integer from 0 to 2147483647"):
        normalize_point({"unit": "u", "target": "generic", "seed": 2**63})  # a typo anywhere
    with pytest.raises(TypeError, match=r"^Seed must be an integer, not '1'$"):
        normalize_point({"unit": "u", "target": "ice40", "seed": "1"})


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
    f.write_bytes('targets = ["ecp5"]  # caf\u00e9\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^Sweep file {f} is not UTF-8 text \(byte 0xe9 at "
                       r"offset 25\); save it as UTF-8$"):
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
    with pytest.raises(ValueError, match=r"^Dask scheduler address must be tcp://HOST:PORT as "
                       r"`dask scheduler` prints it \(or dask://, tls://, ws://, wss://HOST:PORT; "
                       r"PORT from 1 to 65535\), not 'spark://x:1'$"):
        run_sweep([], tmp_path / "r.sqlite", executor="spark://x:1")
    with pytest.raises(TypeError, match=r"^Executor must be a string 'dask://HOST:PORT', not 3"):
        run_sweep([], tmp_path / "r.sqlite", executor=3)


@pytest.mark.parametrize("address", [
    "tcp://127.0.0.1:notaport", "tcp://", "dask://", "inproc://x", "tcp://127.0.0.1",
    "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://:8786", "tcp://a b:1",
    "tcp://[::1]8786", "127.0.0.1:8786", "ucx://h:1",
])
def test_dask_bad_addresses(address, tmp_path, monkeypatch):
    """A malformed scheduler address is refused before a client exists (a half-built
    ``distributed.Client`` waited 10 s and printed a traceback at exit) and before the
    database is opened."""
    def no_client(*a, **k):
        raise AssertionError("a client was built for a malformed address")

    monkeypatch.setattr(sweep, "connect_dask", no_client)
    with pytest.raises(ValueError, match=r"^Dask scheduler address must be tcp://HOST:PORT"):
        run_sweep(_points([2]), tmp_path / "r.sqlite", executor=address, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("address, expected", [
    ("dask://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    ("tcp://scheduler-1.example.org:8786", "tcp://scheduler-1.example.org:8786"),
    ("tcp://[::1]:1", "tcp://[::1]:1"),
    ("tls://10.0.0.1:65535", "tls://10.0.0.1:65535"),
    ("inproc://10.0.0.1/4321/1", "inproc://10.0.0.1/4321/1"),  # distributed's in-process form
])
def test_dask_addresses(address, expected):
    assert sweep.dask_address(address) == expected


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
        proc.wait()
        proc.stdout.close()
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
    # the scheduler's HTTP server binds a free port (dashboard_address=None still binds
    # 8787, and under xdist another test's scheduler may hold it: distributed then warns,
    # which this suite turns into an error)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", dashboard_address=":0") as cluster:
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


# -- opening the database: clean errors, never touching someone else's file -------------------

def _foreign(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()


def test_db_refuses_bad_files(tmp_path):
    # (a text file, a folder, a damaged file: tests/test_cli_probe3.py, for both openers)
    with pytest.raises(ValueError, match=r"^Cannot open results database /proc/nonexistent/r"
                       r"\.sqlite: unable to open database file; check that its folder"):
        ResultsDB("/proc/nonexistent/r.sqlite")
    with pytest.raises(ValueError, match=r"^Cannot open results database .*/no/such/dir/r\.sq"):
        ResultsDB(tmp_path / "no" / "such" / "dir" / "r.sqlite")
    # A read-only file (even root cannot write /proc/version) that is not SQLite: its first
    # bytes say so before SQLite is asked to write it.
    with pytest.raises(ValueError, match=r"^Results database /proc/version is not an SQLite "
                       r"database \(file is not a database\); give another --db"):
        ResultsDB("/proc/version")
    # Someone else's SQLite file: refused, and left byte for byte as it was.
    _foreign(tmp_path / "f.sqlite")
    before = (tmp_path / "f.sqlite").read_bytes()
    for create in (True, False):
        with pytest.raises(ValueError, match=r"f\.sqlite is an SQLite database but not an exmy "
                           r"results database \(its tables are songs\); give another --db"):
            ResultsDB(tmp_path / "f.sqlite", create=create)
    assert (tmp_path / "f.sqlite").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.sqlite"]
    con = sqlite3.connect(tmp_path / "f.sqlite")
    con.execute("CREATE TABLE records (flow_key TEXT)")
    con.execute("CREATE TABLE points (point_key TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match=r"has a 'records' table that is not exmy's \(no column "
                       r"'status'\)"):
        ResultsDB(tmp_path / "f.sqlite")


def test_db_readers_create_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"^Results database .*new\.sqlite does not exist; run "
                       r"`exmy sweep` or `exmy synth` first"):
        ResultsDB(tmp_path / "new.sqlite", create=False)
    (tmp_path / "empty.sqlite").touch()
    with pytest.raises(ValueError, match=r"^Results database .*empty\.sqlite is empty"):
        ResultsDB(tmp_path / "empty.sqlite", create=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite"]
    assert (tmp_path / "empty.sqlite").stat().st_size == 0
    with ResultsDB(tmp_path / "empty.sqlite") as db:  # a writer makes an empty file a database
        assert len(db) == 0
    with ResultsDB(tmp_path / "empty.sqlite", create=False) as db:
        assert db.records() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any file")
def test_db_without_permission(tmp_path):
    f = tmp_path / "r.sqlite"
    ResultsDB(f).close()
    f.chmod(0)
    with pytest.raises(ValueError, match=r"r\.sqlite"):
        ResultsDB(f)


def test_db_claims(tmp_path):
    import socket

    from exmy.synth import db as dbmod

    with ResultsDB(tmp_path / "r.sqlite") as db:
        assert db.claim("p1", "A") == ("claimed", None)
        assert db.claim("p1", "A") == ("claimed", None)  # its own claim
        assert db.claim("p1", "B") == ("busy", None)
        db.put({"flow_key": "k1", "status": "failed"}, point_key="p1")  # drops the claim
        state, rec = db.claim("p1", "B")
        assert state == "done" and rec["flow_key"] == "k1"
        assert db.claim("p1", "B", retry_failed=True) == ("claimed", None)
        # An abandoned claim: its process on this host is gone, or its heartbeat is old.
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        db._con.execute("INSERT INTO claims VALUES ('p2', 'C', ?, ?, ?)",
                        (socket.gethostname(), int(dead), time.time()))
        db._con.execute("INSERT INTO claims VALUES ('p3', 'D', 'elsewhere', 1, ?)",
                        (time.time() - dbmod.CLAIM_STALE_SECONDS - 1,))
        db._con.execute("INSERT INTO claims VALUES ('p4', 'E', 'elsewhere', 1, ?)",
                        (time.time(),))
        assert db.claim("p2", "A")[0] == "claimed"
        assert db.claim("p3", "A")[0] == "claimed"
        assert db.claim("p4", "A")[0] == "busy"
        db.release("A")
        assert db._con.execute("SELECT point_key, owner FROM claims ORDER BY point_key"
                               ).fetchall() == [("p1", "B"), ("p4", "E")]


# -- a database another process keeps locked ------------------------------------------------

@pytest.fixture
def short_locks(monkeypatch):
    """Lock waits of 0.6 s (notes after 0.2 s) instead of 30 s."""
    from exmy.synth import db as dbmod

    monkeypatch.setattr(dbmod, "LOCK_WAIT_SECONDS", 0.6)
    monkeypatch.setattr(dbmod, "LOCK_NOTE_SECONDS", 0.2)


def _hold_lock(path):
    """Another connection in ``BEGIN EXCLUSIVE`` (as an sqlite3 shell would hold it)."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("BEGIN EXCLUSIVE")
    return con


def test_db_locked_by_another_process(tmp_path, short_locks, monkeypatch):
    """A writer opening a database another connection keeps locked gets a clear error naming
    the file once the wait is over (before: a sqlite3.OperationalError traceback at the first
    write, after the synthesis), with a note on the way; a reader still reads."""
    from exmy.synth import flow
    from exmy.synth.db import DatabaseLocked

    f = tmp_path / "r.sqlite"
    with ResultsDB(f) as db:
        db.put({"flow_key": "k", "status": "ok"})
    holder = _hold_lock(f)
    try:
        notes = []
        with pytest.raises(DatabaseLocked, match=rf"^Results database {f} is locked by another "
                           r"process \(waited 1 s\); wait until it is done, stop it, or give "
                           r"another --db$"):
            ResultsDB(f, on_wait=notes.append)
        assert notes == [f"waiting for results database {f}: another process holds its lock "
                         "(giving up after 0.6 s)"]
        with ResultsDB(f, create=False) as db:
            assert len(db) == 1
        # a sweep on it stops before any work, the same way
        monkeypatch.setattr(flow, "synthesize", lambda *a, **k: pytest.fail("synthesized"))
        with pytest.raises(DatabaseLocked, match=rf"^Results database {f} is locked"):
            run_sweep(_points([2], ("generic",)), f, progress=False)
    finally:
        holder.close()
    with ResultsDB(f) as db:  # released: usable again
        db.put({"flow_key": "k2", "status": "ok"})
        assert len(db) == 2


def test_sweep_locked_midway(tmp_path, short_locks, capsys):
    """A lock taken while a sweep runs: a note, then an error that says what was kept, and no
    traceback from the heartbeat thread or the claims' release."""
    from exmy.synth.db import DatabaseLocked

    f = tmp_path / "r.sqlite"
    held = []

    def make(point):  # the lock is taken while the first point is designed
        if not held:
            held.append(_hold_lock(f))
        raise ValueError("no design")

    try:
        with pytest.raises(DatabaseLocked, match=rf"^Results database {f} is locked by another "
                           r"process \(waited 1 s\); wait until it is done, stop it, or give "
                           r"another --db; 0 points were synthesized and recorded this run, the "
                           r"same command resumes$"):
            run_sweep(_points([2, 3], ("generic",)), f, make_design=make, progress=False)
    finally:
        held[0].close()
    err = capsys.readouterr().err
    assert err == (f"waiting for results database {f}: another process holds its lock (giving "
                   "up after 0.6 s)\n")


def test_db_waits_out_short_locks(tmp_path, short_locks):
    """A lock held briefly (another sweep writing a record) is waited for, not an error."""
    import threading

    f = tmp_path / "r.sqlite"
    ResultsDB(f).close()
    holder = _hold_lock(f)
    threading.Timer(0.3, holder.close).start()
    notes = []
    with ResultsDB(f, on_wait=notes.append) as db:
        db.put({"flow_key": "k", "status": "ok"})
        assert len(db) == 1
    assert len(notes) == 1


# -- two sweeps on one database share the work ------------------------------------------------

SHARED_RUNNER = """
import json, sys, time
sys.path.insert(0, {gen!r})
from sweepgen import make
from exmy.synth.sweep import run_sweep

def slow(point):
    time.sleep(0.5)
    return make(point)

pts = [{{"unit": "mul", "params": {{"n": n}}, "target": "generic"}} for n in range(2, 10)]
res = run_sweep(pts, {db!r}, jobs=1, make_design=slow, progress=False)
print(json.dumps({{k: res[k] for k in ("total", "ran", "cached", "failed")}}))
"""


def test_two_sweeps_share_one_database(synth_tools, gen, tmp_path):
    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()  # both start on an existing database
    script = tmp_path / "shared.py"
    script.write_text(SHARED_RUNNER.format(gen=str(tmp_path / "gen"), db=str(db)))
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert all(p.returncode == 0 for p in procs), outs
    a, b = (json.loads(o.strip().splitlines()[-1]) for o, _ in outs)
    assert a["total"] == b["total"] == 8 and a["failed"] == b["failed"] == 0
    assert a["ran"] + b["ran"] == 8  # every point synthesized once, by one of them
    assert a["ran"] >= 1 and b["ran"] >= 1  # and both did some of it
    with ResultsDB(db) as d:
        assert len(d) == 8
        assert d._con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


# -- Dask: an unreachable scheduler, a lost worker ---------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_unreachable_scheduler(tmp_path):
    pytest.importorskip("dask.distributed")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=rf"^Cannot reach the Dask scheduler at {addr} \(no "
                       r"answer within 5 s: .*\); start one with `dask scheduler`"):
        run_sweep(_points([2]), tmp_path / "r.sqlite", executor=addr, progress=False)
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "r.sqlite").exists()


LOSS_GEN = textwrap.dedent('''
    import os, time
    from sweepgen import make as _make

    def make(point):
        with open(os.environ["SWEEPGEN_LOG"], "a") as f:
            f.write(f"{point['params']['n']} {os.getpid()}\\n")
        time.sleep(1.0)
        return _make(point)
''')


def test_dask_sweep_survives_a_killed_worker(synth_tools, gen, tmp_path):
    """A real `dask scheduler` and a `dask worker` (with its nanny) on 127.0.0.1; the worker
    process is SIGKILLed while it runs points; the nanny restarts it and every point completes
    (before the fix the sweep died with FutureCancelledError: lost scattered data)."""
    import threading
    from pathlib import Path

    distributed = pytest.importorskip("dask.distributed")
    (tmp_path / "gen" / "lossgen.py").write_text(LOSS_GEN)
    import lossgen

    dask = Path(sys.executable).with_name("dask")
    log = tmp_path / "calls.log"
    log.touch()
    env = {**os.environ, "SWEEPGEN_LOG": str(log), "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "gen"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    os.environ["SWEEPGEN_LOG"] = str(log)
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    procs = []
    result: dict = {}
    t0 = time.monotonic()
    logs = [open(tmp_path / "scheduler.log", "w"), open(tmp_path / "worker.log", "w")]
    try:
        procs.append(subprocess.Popen(
            [str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--no-dashboard", "--dashboard-address", "127.0.0.1:0"],  # not 8787: see above
            start_new_session=True, env=env,
            stdout=subprocess.DEVNULL, stderr=logs[0]))
        procs.append(subprocess.Popen(
            [str(dask), "worker", addr, "--host", "127.0.0.1", "--nworkers", "1",
             "--nthreads", "2", "--no-dashboard", "--death-timeout", "60"],
            start_new_session=True, env=env, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=logs[1]))
        with distributed.Client(addr, timeout=30, set_as_default=False) as watcher:
            watcher.wait_for_workers(1, timeout=60)
            pts = [{"unit": "mul", "params": {"n": n}, "target": "generic"}
                   for n in range(2, 14)]

            def sweep():
                try:
                    result.update(run_sweep(pts, tmp_path / "r.sqlite", executor=addr,
                                            make_design=lossgen.make, progress=False))
                except BaseException as e:  # noqa: BLE001 - reported by the test below
                    result["error"] = e

            th = threading.Thread(target=sweep, daemon=True)
            th.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(log.read_text().splitlines()) < 5:
                time.sleep(0.1)
            lines = log.read_text().splitlines()
            assert len(lines) >= 5, (lines, result)
            victim = int(lines[-1].split()[1])
            in_flight = sum(len(v) for v in watcher.processing().values())
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic() - t0
            th.join(timeout=120)
            assert not th.is_alive(), "the sweep did not finish within 120 s of the kill"
    finally:
        os.environ.pop("SWEEPGEN_LOG", None)
        sys.modules.pop("lossgen", None)
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
        for f in logs:
            f.close()
    assert "error" not in result, result.get("error")
    calls = [line.split() for line in log.read_text().splitlines()]
    pids = {pid for _, pid in calls}
    assert str(victim) in pids and len(pids) >= 2  # the nanny's new worker ran points too
    assert result["total"] == 12 and result["ran"] == 12
    assert result["failed"] == 0 and result["lost"] == 0
    assert all(r["status"] == "ok" and r["gates"] > 0 for r in result["records"])
    with ResultsDB(tmp_path / "r.sqlite") as d:
        assert len(d) == 12
    print(f"dask worker loss: {result['total']} points in {result['seconds']:.1f} s, worker "
          f"killed at {killed_at:.1f} s with {in_flight} steps in flight, design steps run "
          f"{len(calls)} times for 12 points, {result['resubmitted']} resubmitted by the sweep")


class _LosingExecutor:
    """Runs steps in this process, but the first ``lose`` submissions of ``fn_name`` come back
    as lost (as a killed Dask worker's do)."""

    cap = 1

    def __init__(self, lose: int, fn_name: str):
        self.lose, self.fn_name, self.submitted = lose, fn_name, 0

    def submit(self, fn, *args):
        import concurrent.futures as cf

        fut = cf.Future()
        if fn.__name__ == self.fn_name and self.lose > 0:
            self.lose -= 1
            fut.set_exception(cf.CancelledError("lost with its worker"))
        else:
            fut.set_result(fn(*args))
        self.submitted += 1
        return fut

    def wait(self, futs, timeout):
        return list(futs)

    def lost(self, fut, exc):
        import concurrent.futures as cf

        return isinstance(exc, cf.CancelledError)


@pytest.mark.parametrize("fn_name", ["_design", "_synthesize"])
def test_lost_steps_are_resubmitted(gen, tmp_path, fn_name, monkeypatch):
    from exmy.synth import flow

    def fake_synth(verilog, top, ports, target, **kw):  # no tools needed
        return {"flow_key": "f" + top, "status": "ok", "target": target}

    monkeypatch.setattr(flow, "synthesize", fake_synth)
    pts = [normalize_point(p) for p in _points([2, 3, 4], ("generic",))]
    keys = [f"k{i}" for i in range(3)]
    results, stats = {}, {"ran": 0, "resubmitted": 0, "lost": 0}
    ex = _LosingExecutor(4, fn_name)
    with ResultsDB(tmp_path / "r.sqlite") as db:
        import collections

        sweep._run_points(db, ex, collections.deque(zip(pts, keys, strict=True)), "me",
                          gen.make, False, results, sweep._Progress(3, False), stats)
        assert len(db) == 2  # the point lost 4 times is not recorded
    # Point 1 was lost MAX_RESUBMITS + 1 = 4 times and given up; the others ran once each.
    assert stats == {"ran": 2, "resubmitted": 3, "lost": 1}
    lost = [r for r in results.values() if r["status"] == "failed"]
    assert len(lost) == 1 and lost[0]["error"].startswith(
        "lost with its worker 4 times (CancelledError: lost with its worker); not recorded")


# -- the generic report's plots ------------------------------------------------------------------

def test_report_plots_group_by_family(tmp_path, monkeypatch):
    """A real sweep's shape (MACs with and without y over many formats, integer MACs): one
    panel per unit family and option set, a line per exponent width, labelled points, and the
    legend outside the axes (it covered the data when every format was its own line)."""
    from exmy.synth import report

    with ResultsDB(tmp_path / "r.sqlite") as db:
        i = 0
        for fmt in sweepfile.exmy_formats(3, 6, "none") + ["int3", "int4", "int5", "int6"]:
            unit = "int-mac" if fmt.startswith("int") else "mac"
            variants = [{"a": fmt}] + ([{"a": fmt, "out": fmt}] if unit == "mac" else [])
            for params in variants:
                i += 1
                db.put({"flow_key": f"k{i}", "status": "ok", "unit": unit, "params": params,
                        "target": "ice40", "lut": 10 * i, "fmax_mhz": 200.0 - i, "seed": 1,
                        "dsp_enabled": False})
        rows = report.summarize(db.records())
    panels = report._panels(rows, "ice40", "lut")
    assert sorted(panels) == ["mac", "mac out=a's format"]
    assert {s for s, *_ in panels["mac"]} == {"INT", "E=1", "E=2", "E=3", "E=4", "E=5"}
    assert {s for s, *_ in panels["mac out=a's format"]} == {"E=1", "E=2", "E=3", "E=4", "E=5"}
    assert [(s, b, lab) for s, b, _, lab in panels["mac"] if lab == "e4m1-none"] == [
        ("E=4", 6, "e4m1-none")]

    import matplotlib.figure

    legends, labels = [], []
    orig = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        fig.canvas.draw()
        for ax in fig.axes:
            leg = ax.get_legend()
            legends.append((ax.get_window_extent(), leg.get_window_extent()))
            labels.extend(t.get_text() for t in ax.texts)
        return orig(fig, *a, **k)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    out = write_report(tmp_path / "r.sqlite", tmp_path / "rep")
    assert sorted(os.path.basename(p) for p in out["plots"]) == ["fmax_ice40.png",
                                                                 "lut_ice40.png"]
    assert len(legends) == 4  # two panels per plot
    for ax_box, leg_box in legends:
        assert leg_box.x0 >= ax_box.x1  # beside the axes, never over the data
    assert "e4m1" in labels and "int5" in labels  # points labelled ("-none" said in the title)


def test_ctrl_c_says_what_was_saved(synth_tools, gen, tmp_path):
    """Ctrl-C in a sweep: one message with what is recorded; no claims left behind; a rerun
    does only the rest."""
    calls = []

    def make(point):
        calls.append(point["params"]["n"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return gen.make(point)

    db = tmp_path / "r.sqlite"
    pts = _points([2, 3, 4, 5], ("generic",))
    with pytest.raises(KeyboardInterrupt) as info:
        run_sweep(pts, db, make_design=make, progress=False)
    assert str(info.value) == (f"interrupted: 2 points synthesized and recorded in {db} this "
                               "run, 2 of 4 done; the same command resumes")
    with ResultsDB(db) as d:
        assert len(d) == 2
        assert d._con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    res = run_sweep(pts, db, make_design=make, progress=False)
    assert (res["ran"], res["cached"], res["failed"]) == (2, 2, 0)


# -- bad input to `exmy sweep`: -j, a foreign server as scheduler, --param, the file's params -----

def _cli(argv, capsys):
    from exmy.cli.main import main

    from hwtest import cli_error

    code = main(argv)
    return code, (cli_error(capsys) if code == 2 else capsys.readouterr().out)


class _CountingPool(sweep._Inline):
    """Stands in for the process pool: records the workers asked for, runs steps here."""

    started: list = []

    def __init__(self, jobs):
        self.started.append(jobs)


def test_jobs_never_more_workers_than_points(gen, tmp_path, monkeypatch):
    """-j 100 for one point started 100 processes (-j 100000: about 2000, then a hang); now
    no more workers than points to run, and those already in the database need none."""
    from exmy.synth import flow

    monkeypatch.setattr(flow, "synthesize", lambda v, top, ports, target, **kw: {
        "flow_key": "f" + top, "status": "ok", "target": target})
    monkeypatch.setattr(sweep, "_versions_for", lambda targets: {t: {} for t in targets})
    monkeypatch.setattr(sweep, "_Pool", _CountingPool)
    monkeypatch.setattr(_CountingPool, "started", [])
    db = tmp_path / "r.sqlite"
    one = run_sweep(_points([2], ("generic",)), db, jobs=100, make_design=gen.make,
                    progress=False)
    assert _CountingPool.started == [] and one["workers"] == 1  # one point: this process
    three = run_sweep(_points([2, 3, 4, 5], ("generic",)), db, jobs=100, make_design=gen.make,
                      progress=False)
    assert _CountingPool.started == [3] and three["workers"] == 3  # n=2 is in the database
    again = run_sweep(_points([2, 3, 4, 5], ("generic",)), db, jobs=100, make_design=gen.make,
                      progress=False)
    assert _CountingPool.started == [3] and again["workers"] == 0 and again["cached"] == 4


def test_points_of_one_design_keep_their_own_params(gen, tmp_path, monkeypatch):
    """Two points whose params differ but whose design is the same (the generator reads only
    ``n``) share one record in the database; each returned record names its own point's
    params, also in a second sweep that finds both there (it named the first point's for both,
    so a caller that looked its results up by params found nothing for the second)."""
    from exmy.synth import flow

    calls = []

    def fake_synth(v, top, ports, target, **kw):
        calls.append(top)
        return {"flow_key": "f" + top, "status": "ok", "target": target}

    monkeypatch.setattr(flow, "synthesize", fake_synth)
    monkeypatch.setattr(sweep, "_versions_for", lambda targets: {t: {} for t in targets})
    pts = [{"unit": "mul", "params": {"n": 2}, "target": "generic"},
           {"unit": "mul", "params": {"n": 2, "label": "same design"}, "target": "generic"}]
    db = tmp_path / "r.sqlite"
    for run in range(2):
        res = run_sweep(pts, db, jobs=1, make_design=gen.make, progress=False)
        assert [r["params"] for r in res["records"]] == [p["params"] for p in pts]
        assert {r["flow_key"] for r in res["records"]} == {"fmul2"}
        if run == 0:
            n_first = len(calls)
    assert len(calls) == n_first  # the second sweep synthesized nothing
    with ResultsDB(db) as d:
        assert len(d) == 1


def test_jobs_limit(tmp_path, capsys):
    cpus = os.cpu_count() or 1
    top = sweep.max_jobs()
    assert top == max(256, cpus)
    with pytest.raises(ValueError, match=rf"^Jobs must be at most {top} local worker processes "):
        run_sweep([], tmp_path / "r.sqlite", jobs=100_000)
    f = tmp_path / "s.toml"
    f.write_text('targets = ["generic"]\njobs = 100000\n[[unit]]\nname = "lmul"\n'
                 'params = { a = "e4m3" }\n')
    db = str(tmp_path / "r.sqlite")
    tail = (f"must be at most {top} local worker processes (this machine has {cpus} CPUs, and a "
            f"sweep never starts more workers than it has points to run), not 100,000")
    assert _cli(["sweep", str(f), "--db", db], capsys) == (
        2, f"exmy sweep: error: 'jobs' in the sweep file {tail}")
    assert _cli(["sweep", str(f), "-j", "100000", "--db", db], capsys) == (
        2, f"exmy sweep: error: -j {tail}")
    assert not (tmp_path / "r.sqlite").exists()


def _foreign_server(kind: str):
    """A local TCP server that is not a Dask scheduler: ``garbage`` sends an SSH banner and
    keeps the connection open, ``silent`` accepts and never answers. Returns (port, stop)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.2)
    done = threading.Event()
    conns = []

    def serve():
        while not done.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            conns.append(c)
            if kind == "garbage":
                c.sendall(b"SSH-2.0-OpenSSH_8.9\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def stop():
        done.set()
        t.join()
        for c in conns:
            c.close()
        srv.close()

    return srv.getsockname()[1], stop


@pytest.mark.parametrize("kind, why", [
    ("garbage", r"it answered, but not in Dask's protocol: \w+ reading its reply"),
    ("silent", r"it accepts connections but sent no Dask handshake within 5 s"),
])
def test_dask_scheduler_address_of_another_server(kind, why, tmp_path):
    """--scheduler pointing at a server that is not a Dask scheduler: an SSH-like banner gave
    a traceback (numpy could not allocate 3 EiB for the 'frame'), a server that never answers
    (an HTTP server) hung for ever; now one line naming the address, exit code 2, in bounded
    time, and no database."""
    pytest.importorskip("dask.distributed")
    from pathlib import Path

    port, stop = _foreign_server(kind)
    addr = f"tcp://127.0.0.1:{port}"
    exmy = Path(sys.executable).with_name("exmy")
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(exmy), "sweep", "--units", "lmul", "--formats", "e4m3",
                            "--targets", "generic", "--scheduler", addr, "--db",
                            str(tmp_path / "r.sqlite")], capture_output=True, text=True,
                           timeout=60)
    finally:
        stop()
    assert time.monotonic() - t0 < 30
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    import re

    assert re.fullmatch(rf"exmy sweep: error: {addr} is not answering as a Dask scheduler "
                        rf"\({why}\); check the address, or start one with `dask scheduler` "
                        r"and at least one `dask worker ADDRESS`, then give the address it "
                        r"prints", lines[0]), lines[0]
    assert not (tmp_path / "r.sqlite").exists()


def test_sweep_param_given_twice(capsys):
    """--param latency=1 --param latency=2 silently kept latency=2."""
    base = ["sweep", "--units", "lmul", "--formats", "e4m3", "--targets", "generic", "--list"]
    assert _cli(base + ["--param", "latency=1", "--param", "latency=2"], capsys) == (
        2, "exmy sweep: error: --param latency is given twice ('latency=1', 'latency=2'); give "
           "it once, with a comma list to sweep several values (--param "
           "latency=VALUE1,VALUE2)")
    code, err = _cli(base + ["--param", "saturate=true", "--param", "saturate=false"], capsys)
    assert code == 2 and "--param saturate is given twice" in err
    code, out = _cli(base + ["--param", "latency=1,2"], capsys)  # the way to sweep it
    assert code == 0 and out.splitlines()[-1] == "2 points"


@pytest.mark.parametrize("params, message", [
    ('{ a = ["e2m1fx"] }', "Sweep point lmul {'a': 'e2m1fx'}: Unknown format 'e2m1fx'; did you "
                           "mean"),
    ('{ a = "e4m3", form = "xx" }', "Sweep point lmul {'a': 'e4m3', 'form': 'xx'}: L-Mul form "
                                    "must be one of adder, formula, not 'xx'; nothing was "
                                    "synthesized"),
    ('{ a = "int4" }', "Sweep point lmul {'a': 'int4'}: L-Mul input format must be a float "
                       "format"),
    ('{ a = "e4m3", latncy = 1 }', "Sweep point lmul {'a': 'e4m3', 'latncy': 1}: no unit takes "
                                   "the option 'latncy'; unit options are a, acc_bits"),
])
def test_sweep_file_bad_params_refused_before_anything_runs(params, message, tmp_path, capsys):
    """A typo in a sweep file's format name was listed as a valid point and, run, recorded as
    a FAILED point ('make_design raised ValueError: Unknown format'): now refused by --list
    and by the run, before the database is created."""
    f = tmp_path / "s.toml"
    f.write_text(f'targets = ["generic"]\nseeds = [1]\n[[unit]]\nname = "lmul"\n'
                 f'params = {params}\n')
    db = tmp_path / "r.sqlite"
    for extra in (["--list"], ["--db", str(db)]):
        code, err = _cli(["sweep", str(f), *extra], capsys)
        assert code == 2 and err.startswith(f"exmy sweep: error: {message}"), err
        assert err.endswith("; nothing was synthesized")
    assert not db.exists()


def test_sweep_param_checks_keep_run_time_results(capsys):
    """What the run records as a result stays so: a clock out of reach (fmax mode is checked
    without placing the registers) and an option the point's unit does not take that another
    unit of the sweep does (--param gives every unit the same options)."""
    code, out = _cli(["sweep", "--units", "mac", "--formats", "e4m3", "--param", "fmax=1000",
                      "--list"], capsys)
    assert code == 0 and out.splitlines()[-1] == "1 points"
    code, out = _cli(["sweep", "--units", "multiplier,lmul", "--formats", "e4m3", "--param",
                      "form=formula", "--targets", "generic", "--list"], capsys)
    assert code == 0 and out.splitlines()[-1] == "2 points"
    code, err = _cli(["sweep", "--units", "multiplier", "--formats", "e4m3", "--param",
                      "fmax=100", "--param", "latency=1", "--list"], capsys)
    assert code == 2 and "Give latency (1) or fmax (100), not both" in err


def test_sweep_param_checks_are_fast():
    """Every built-in sweep file's points pass the parameter check quickly (each distinct
    unit and parameter set is built once, fmax mode without placing)."""
    from pathlib import Path

    root = Path(__file__).parents[1]
    files = [root / "synth" / "demo_sweep.toml", *sorted((root / "synth" / "sweeps").glob(
        "*.toml"))]
    t0 = time.monotonic()
    n = 0
    for f in files:
        pts = load_sweep(f)["points"]
        sweep.check_unit_params(pts)
        n += len(pts)
    assert n > 400 and time.monotonic() - t0 < 10


def test_db_put_refuses_what_it_cannot_read_back(tmp_path):
    """put() checks what _decode checks on reading: a text LUT count was stored, and then
    every read of the database failed, blaming some other program."""
    db = ResultsDB(tmp_path / "r.sqlite")
    for record, message in (
        ({"flow_key": "k", "lut": "many"}, "Record 'k': lut must be a number or None, not 'many'"),
        ({"flow_key": "k", "lut": True}, "Record 'k': lut must be a number or None, not True"),
        ({"flow_key": "k", "register_io": "yes"}, "register_io must be True, False or None"),
        ({"flow_key": "k", "params": [1]}, "Record 'k': params must be a dict, not [1]"),
        ({"flow_key": "k", "note": object()}, "Record 'k': note is not JSON data"),
        ({"flow_key": 5}, "Record's flow_key must be a non-empty string, not 5"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            db.put(record)
    with pytest.raises(TypeError, match="Record must be a dict of column -> value, not list"):
        db.put([1, 2])
    with pytest.raises(ValueError, match="owner must be a non-empty string, not None"):
        db.claim("p", None)
    with pytest.raises(ValueError, match=r"records\(unit=\.\.\.\) filters by one value"):
        db.records(unit=["a"])
    db.put({"flow_key": "k", "lut": 5, "params": {"a": "e4m3"}, "note": [1, "x"]})
    assert db.records()[0]["note"] == [1, "x"] and len(db) == 1
    db.close()


def test_db_path_and_create_types():
    with pytest.raises(TypeError, match=r"must be a file name \(a str or a path\), not b'x'"):
        ResultsDB(b"x")
    with pytest.raises(ValueError, match="holds a NUL character"):
        ResultsDB("a\0b")
    with pytest.raises(TypeError, match="create must be True or False, not 'no'"):
        ResultsDB("x.sqlite", create="no")


def test_run_sweep_refuses_a_make_design_that_is_no_function(tmp_path):
    with pytest.raises(TypeError, match="make_design must be a function point -> "):
        run_sweep([{"unit": "lmul", "params": {"a": "e4m3"}, "target": "generic"}],
                  tmp_path / "r.sqlite", make_design=5, progress=False)
    assert not (tmp_path / "r.sqlite").exists()


def test_database_that_cannot_be_written_leaves_no_file(tmp_path):
    """A new results database that cannot be written (a full disk; here a file-size limit of
    0 bytes, which fails SQLite's writes the same way) is one clear error and leaves no
    file behind: a 0-byte file stayed, one the user never got a database from."""
    from hwtest import no_room_to_write

    db = tmp_path / "new.sqlite"
    link = tmp_path / "link.sqlite"  # a link to a database not made yet: the link stays
    link.symlink_to(tmp_path / "target.sqlite")
    for path in (db, link):
        r = subprocess.run([sys.executable, "-m", "exmy.cli.main", "sweep", "--units",
                            "multiplier", "--formats", "e4m3", "--targets", "ecp5", "--db",
                            str(path)], preexec_fn=no_room_to_write, capture_output=True,
                           text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip() == (f"exmy sweep: error: Cannot use {path} as a results "
                                    f"database (disk I/O error); check that the file and its "
                                    f"folder are writable"), r.stderr
    assert list(tmp_path.iterdir()) == [link] and link.is_symlink()
