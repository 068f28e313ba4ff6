"""A tenth probe of user-facing errors, on items earlier notes left: standard output that
cannot be written, integer options that read differently from command to command, and
``--fmax``/``--latency`` errors that named neither option. Fast: no synthesis, no simulator.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from exmy.cli.main import build_parser, main

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

_FULL = "/dev/full"


def _to_dev_full(args, unbuffered: bool):
    cmd = shlex.join([sys.executable, "-m", "exmy.cli.main", *args])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(["sh", "-c", f"exec {cmd} > {_FULL}"], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.skipif(not os.path.exists(_FULL), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["--version"], ["generate", "--help"], ["formats"]],
                         ids=["version", "help", "formats"])
def test_standard_output_that_cannot_be_written_is_an_error(args, unbuffered):
    """`exmy --version > /dev/full` and `exmy generate --help > /dev/full` exited 0 and
    printed nothing (argparse drops the OSError), and `exmy formats > /dev/full` said only
    "No space left on device", naming no file. A full disk behind ``> out.txt`` is the same
    case. Each now says standard output could not be written, with exit code 2, whether
    Python buffers its output or not (``PYTHONUNBUFFERED``, which this machine sets)."""
    r = _to_dev_full(args, unbuffered)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].endswith(": error: cannot write standard output: No space left on device")
    assert lines[0].startswith("exmy")


def test_generate_into_dev_full_keeps_its_files_and_says_so(tmp_path):
    """`exmy generate ... -o m.v > /dev/full`: the files are written; the summary line is
    what could not be written, and the error says so (exit 2), not a bare strerror."""
    if not os.path.exists(_FULL):
        pytest.skip("needs Linux's /dev/full")
    out = tmp_path / "m.v"
    r = _to_dev_full(["generate", "multiplier", "--a", "e2m1", "-o", str(out)], True)
    assert r.returncode == 2
    assert r.stderr == ("exmy generate: error: cannot write standard output: No space left on "
                        "device\n")
    assert out.exists() and out.with_suffix(".json").exists()


@pytest.mark.parametrize("argv, dest", [
    (["build", "multiplier", "--a", "e4m3", "--board", "x", "--seed", "1e3"], "seed"),
    (["synth", "multiplier", "--a", "e4m3", "--seed", "1e3"], "seed"),
    (["analyze", "multiplier", "--a", "e4m3", "--seed", "1e3"], "seed"),
    (["sweep", "f.toml", "-j", "1e3"], "jobs"),
    (["quantize", "x.npy", "-o", "y.npz", "--block", "1e3"], "block"),
    (["evaluate", "--sentences", "1e3"], "sentences"),
    (["generate", "mac", "--a", "e4m3", "--depth", "1e3", "-o", "x.v"], "depth"),
], ids=["build-seed", "synth-seed", "analyze-seed", "sweep-jobs", "quantize-block",
        "evaluate-sentences", "generate-depth"])
def test_every_integer_option_reads_the_same_spellings(argv, dest):
    """`exmy simulate --seed 1e3` ran with seed 1000 while `exmy build --seed 1e3` (and synth,
    analyze) were refused with argparse's "invalid int value"; so were `-j 1e3`, `--block
    1e3`, `--depth 1e3`. One parser now reads every integer option: 1000, 1_000 or 1e3."""
    args, _ = build_parser().parse_known_args(argv)
    assert getattr(args, dest) == 1000
    args, _ = build_parser().parse_known_args([*argv[:-1], "1_000"])
    assert getattr(args, dest) == 1000


@pytest.mark.parametrize("options, message", [
    (["--fmax", "0"], "argument --fmax: must be a clock from 1 to 1000 MHz, not '0'"),
    (["--fmax", "nan"], "argument --fmax: must be a clock from 1 to 1000 MHz, not 'nan'"),
    (["--fmax", "5000"], "argument --fmax: must be a clock from 1 to 1000 MHz, not '5000'"),
    (["--latency", "-1"],
     "argument --latency: must be a number of pipeline stages from 0 to 16, not '-1'"),
    (["--latency", "17"],
     "argument --latency: must be a number of pipeline stages from 0 to 16, not '17'"),
], ids=["fmax-0", "fmax-nan", "fmax-5000", "latency-neg", "latency-17"])
def test_fmax_and_latency_errors_name_the_option(options, message, tmp_path, capsys):
    """`exmy generate ... --fmax 0` said "Fmax must be between 1 and 1000 MHz, not 0.0" and
    `--latency -1` "Latency must be a non-negative integer, not -1": the Python API's words,
    naming no option (and 0.0 for the 0 the user typed). They now name the option and quote
    what was typed, as every other bad option value does."""
    out = tmp_path / "m.v"
    with pytest.raises(SystemExit) as e:
        main(["generate", "multiplier", "--a", "e4m3", *options, "-o", str(out)])
    assert e.value.code == 2
    assert cli_error(capsys) == (f"exmy generate: error: {message} (see `exmy generate "
                                 f"--help`)")
    assert not out.exists()


def test_latency_and_fmax_together_names_both_options(tmp_path, capsys):
    """`--latency 2 --fmax 100` said "Give latency (2) or fmax (100.0), not both" (the
    Python parameters' names); the CLI now names its options."""
    out = tmp_path / "m.v"
    rc = main(["generate", "multiplier", "--a", "e4m3", "--latency", "2", "--fmax", "100",
               "-o", str(out)])
    assert rc == 2
    assert cli_error(capsys) == ("exmy generate: error: give --latency or --fmax, not both: "
                                 "with --fmax exmy chooses the latency")
    assert not out.exists()


def test_the_edges_of_the_ranges_are_taken(tmp_path, capsys):
    """Control: --latency 16 and --latency 0 build (the range's ends)."""
    for n in ("0", "16"):
        out = tmp_path / f"m{n}.v"
        assert main(["generate", "multiplier", "--a", "e2m1", "--latency", n,
                     "-o", str(out)]) == 0
        assert out.exists()


def test_a_reader_leaves_no_wal_files_beside_the_database(tmp_path, capsys):
    """`exmy report` (every reader of the results database) left an empty r.sqlite-wal and a
    32 kB r.sqlite-shm beside the database: SQLite makes them for a reader of a WAL database,
    and a read-only connection cannot remove them. A reader now opens read-write where the
    user could write, every write refused (``PRAGMA query_only``), and removes them on close as
    a writer does."""
    import sqlite3

    from exmy.synth.db import ResultsDB

    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as w:
        w.put({"flow_key": "k1", "status": "ok", "unit": "lmul", "target": "generic"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite"]
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "rep")]) == 0
    with ResultsDB(db, create=False) as r:
        assert len(r.records()) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            r._con.execute("DELETE FROM records")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.sqlite", "rep"]


def test_integer_options_read_exactly(capsys):
    """`exmy analyze --seed 1e23` ran with seed 99999999999999991611392: the `1e6` spelling of
    counts was read through a float. It is now read exactly, and a number of more than 31
    digits (`1e400` was "not an integer"; `1e999999999` would take minutes to make) is
    refused as such."""
    args, _ = build_parser().parse_known_args(["analyze", "multiplier", "--a", "e4m3",
                                               "--seed", "1e23"])
    assert args.seed == 10**23
    with pytest.raises(SystemExit):
        build_parser().parse_known_args(["simulate", "lmul", "--vectors", "1e999999999"])
    assert "argument --vectors: must be an integer of at most 31 digits, not '1e999999999'" in (
        capsys.readouterr().err)
