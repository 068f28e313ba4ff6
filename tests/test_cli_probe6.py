"""A sixth probe of user-facing errors, on the CLI's odd inputs and interruptions: unsigned
formats in `exmy analyze`, empty option values that were silently dropped (`--json ""`,
`--workdir ""`, `quantize --elem ""`), a results database named by a symbolic link loop or
by a name holding a newline, Ctrl-C in the middle of writing an output file or of
`exmy demo`. Each test is a finding that gave a traceback, a misleading message, or silently
did something else than asked. Fast: no synthesis, no simulator, no model weights.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest

from exmy.cli.main import build_parser, main
from exmy.synth.db import ResultsDB

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _not_reached(*args, **kwargs):
    raise AssertionError("the command ran past its argument checks")


# -- exmy analyze ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, hint", [("e5m10-u", " such as e5m10"),
                                       ("e2m1-none-u", " such as e2m1-none"),
                                       ("e8m0fnu", "")])
def test_analyze_refuses_an_unsigned_format(fmt, hint, capsys):
    """`analyze multiplier --a e5m10-u` printed a table in which 3/4 of the products were
    "non-finite" (the footer: "overflows to Inf/NaN"): the negative N(0,1) samples had become
    NaN; with e2m1-none-u they became 0 and were counted as "flushed" (865 of 1000). Half the
    samples are negative: an unsigned format is refused, naming a signed one."""
    assert main(["analyze", "multiplier", "--a", fmt, "--samples", "100"]) == 2
    assert cli_error(capsys) == (
        f"exmy analyze: error: --a must be a signed format, not the unsigned {fmt}: half of the "
        f"normal samples are negative, which it cannot hold (they would count as non-finite "
        f"or flushed); give a signed format{hint}")


# -- empty names are errors, never "not given" -------------------------------------------------
def test_evaluate_empty_json_name(tmp_path, capsys, monkeypatch):
    """`exmy evaluate --json ""` ran the evaluation and wrote no JSON, without a word (an
    empty name was read as "no --json")."""
    monkeypatch.setattr("exmy.evaluate.run.Evaluator", _not_reached)
    assert main(["evaluate", "--weights", "e4m3fn", "--no-db", "--json", ""]) == 2
    assert cli_error(capsys) == ("exmy evaluate: error: --json needs a file name, not an empty "
                                 "string")


@pytest.mark.parametrize("flag, what", [("--json", "file"), ("--workdir", "folder")])
def test_synth_empty_json_or_workdir(flag, what, tmp_path, capsys, monkeypatch):
    """`exmy synth --json ""` synthesized and wrote no record file; `--workdir ""` kept no
    tool files (and answered from the cache), both silently."""
    monkeypatch.setattr("exmy.cli.cmd_synth.synth_point", _not_reached)
    argv = ["synth", "multiplier", "--a", "e2m1", "--target", "generic",
            "--db", str(tmp_path / "r.sqlite"), flag, ""]
    assert main(argv) == 2
    assert cli_error(capsys) == (f"exmy synth: error: {flag} needs a {what} name, not an empty "
                                 f"string")


@pytest.mark.parametrize("flag, default", [
    ("--elem", "float8_e4m3fn, or float4_e2m1fn with --scale e4m3fn"),
    ("--scale", "float8_e8m0fnu")])
def test_quantize_empty_format_name(flag, default, tmp_path, capsys):
    """`exmy quantize x.npy --elem ""` (or `--scale ""`) quantized with the default format, as
    if the option had not been given."""
    src = tmp_path / "x.npy"
    np.save(src, np.ones(32, np.float32))
    out = tmp_path / "x.npz"
    assert main(["quantize", str(src), "-o", str(out), flag, ""]) == 2
    assert cli_error(capsys) == (f"exmy quantize: error: {flag} needs a format name, not an "
                                 f"empty string (omit it for {default})")
    assert not out.exists()


# -- the results database named by an odd path -------------------------------------------------
def _loop(tmp_path: Path) -> Path:
    a, b = tmp_path / "loop.sqlite", tmp_path / "loop2.sqlite"
    os.symlink(b, a)
    os.symlink(a, b)
    return a


def test_report_of_a_database_that_is_a_link_loop(tmp_path, capsys):
    """`exmy report --db LOOP` (a symbolic link loop) was a traceback: "RuntimeError: Symlink
    loop from ..." (pathlib's resolve() in the read-only connection)."""
    loop = _loop(tmp_path)
    assert main(["report", "--db", str(loop), "-o", str(tmp_path / "rep")]) == 2
    assert cli_error(capsys) == (f"exmy report: error: Results database {loop} is a symbolic "
                                 f"link loop; give another --db or remove the link")
    assert not (tmp_path / "rep").exists()


def test_writers_name_a_database_link_that_leads_nowhere(tmp_path):
    """A writer (`exmy sweep`, `exmy synth`) on a link loop, or on a link into a folder that
    does not exist, said "Cannot open results database X: unable to open database file; check
    that its folder exists and is writable": the folder exists and is writable."""
    with pytest.raises(ValueError) as e:
        ResultsDB(_loop(tmp_path))
    assert str(e.value).endswith("is a symbolic link loop; give another --db or remove the link")
    dangling = tmp_path / "d.sqlite"
    os.symlink(tmp_path / "missing" / "r.sqlite", dangling)
    with pytest.raises(ValueError) as e:
        ResultsDB(dangling)
    assert str(e.value) == (
        f"Results database {dangling} is a symbolic link to {tmp_path / 'missing' / 'r.sqlite'}, "
        f"whose folder {tmp_path / 'missing'} does not exist; give another --db or fix the link")
    # a link to a file yet to be made, in a folder that exists, is a database to create
    ok = tmp_path / "ok.sqlite"
    os.symlink(tmp_path / "target.sqlite", ok)
    ResultsDB(ok).close()
    assert (tmp_path / "target.sqlite").is_file()


def test_a_name_holding_a_newline_stays_on_one_line(tmp_path, capsys):
    """`exmy report --db $'nl\\ndir/f.sqlite'` (a folder whose name holds a newline, here with
    a text file in it) printed its error on two lines, broken inside the file name. The name
    is shown escaped, as repr shows it."""
    folder = tmp_path / "nl\ndir"
    folder.mkdir()
    (folder / "f.sqlite").write_text("not a database\n")
    assert main(["report", "--db", str(folder / "f.sqlite"), "-o", str(tmp_path / "r")]) == 2
    line = cli_error(capsys)
    assert line == (f"exmy report: error: Results database {tmp_path}/nl\\ndir/f.sqlite is not "
                    f"an SQLite database (file is not a database); give another --db or delete "
                    f"the file")


# -- Ctrl-C ------------------------------------------------------------------------------------
def test_ctrl_c_while_writing_leaves_no_fragment(tmp_path, capsys, monkeypatch):
    """Ctrl-C while `exmy quantize` wrote its output left the truncated file behind (a .npy
    or .npz that later fails to load, or that replaced a good one) and said only "exmy
    quantize: interrupted". Now the fragment is removed and the line says so; a Ctrl-C before
    the write began leaves an earlier file as it was."""
    src = tmp_path / "x.npy"
    np.save(src, np.linspace(-3, 3, 64, dtype=np.float32))
    npz = tmp_path / "x.npz"
    assert main(["quantize", str(src), "-o", str(npz)]) == 0
    out = tmp_path / "y.npy"
    out.write_bytes(b"an earlier result")
    capsys.readouterr()

    def cut(fp, *args, **kwargs):
        fp.write(b"\x93NUMPY" + b"\0" * 100)
        fp.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", cut)
    assert main(["quantize", str(npz), "-o", str(out)]) == 130
    assert cli_error(capsys) == (f"exmy quantize: interrupted while writing {out}; the partly "
                                 f"written file was removed")
    assert not out.exists()

    out.write_bytes(b"an earlier result")

    def before_the_write(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", before_the_write)
    assert main(["quantize", str(npz), "-o", str(out)]) == 130
    assert cli_error(capsys) == "exmy quantize: interrupted"
    assert out.read_bytes() == b"an earlier result"


def test_demo_ctrl_c_says_where_it_stopped_and_what_was_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C during `exmy demo` printed the interrupted check's own line, "exmy demo:
    interrupted after 0 of 65,536 vectors, 0 mismatches": not which check, not that earlier
    checks had finished, nor where their files are."""
    from exmy.cli import cmd_demo

    monkeypatch.setattr(cmd_demo, "DEMO_CHECKS", [
        ("E2M1 multiplier", "multiplier", {"a": "e2m1", "out": "e2m1"},
         ("icarus", "verilator"), "exhaustive")])
    calls = []

    def check(comp, sim, **kwargs):
        calls.append(sim)
        if len(calls) == 2:
            raise KeyboardInterrupt("interrupted after 0 of 256 vectors, 0 mismatches")
        return types.SimpleNamespace(
            ok=True, mismatches=[], mismatch_count=0, vectors_per_s=1000.0,
            summary=lambda: "256 vectors, 0 mismatches",
            coverage=types.SimpleNamespace(describe=lambda: "256 vectors"))

    monkeypatch.setattr("exmy.sim.check.check", check)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-synth"]) == 130
    assert cli_error(capsys) == (
        f"exmy demo: interrupted while checking E2M1 multiplier on verilator (after 0 of 256 "
        f"vectors, 0 mismatches); 1 check finished before it (1 passed, 0 failed, as printed "
        f"above); the files written so far are in {out}/ ({out / 'summary.md'} is written only "
        f"at the end)")
    assert (out / "verilog" / "multiplier_e2m1_e2m1_e2m1_l0.v").is_file()


def test_demo_vectors_read_exponent_notation():
    """`exmy demo --vectors 1e6` was refused ("invalid int value: '1e6'") while `exmy simulate
    --vectors 1e6` and `exmy build --vectors 1e6` take it."""
    args = build_parser().parse_args(["demo", "--vectors", "1e6"])
    assert args.vectors == 1_000_000


@pytest.mark.parametrize("key, how", [("seed", "--seeds (a sweep file: seeds = [...])"),
                                      ("dsp", "--dsp (a sweep file: dsp = true)"),
                                      ("freq", "--freq (a sweep file: freq_mhz = ...)")])
def test_sweep_param_that_is_a_synthesis_setting(key, how, capsys):
    """`exmy sweep ... --param seed=3` said "no unit takes the option 'seed'" and listed the 26
    unit options, none of which is how a seed is given."""
    argv = ["sweep", "--units", "multiplier", "--formats", "e2m1", "--targets", "ecp5",
            "--param", f"{key}=1", "--list"]
    assert main(argv) == 2
    assert cli_error(capsys) == (
        f"exmy sweep: error: Sweep point multiplier {{'a': 'e2m1', '{key}': 1}}: '{key}' is a "
        f"synthesis setting, not a unit option; give it as {how}; nothing was synthesized")


# -- a results database that is not a regular file (session 19) -------------------------------
@pytest.mark.parametrize("argv", [
    ["report", "--db", "{db}", "-o", "{tmp}/rep"],
    ["sweep", "--units", "multiplier", "--formats", "e2m1", "--targets", "generic", "--db",
     "{db}"],
    ["evaluate", "--weights", "int8", "--sentences", "3", "--db", "{db}"],
], ids=["report", "sweep", "evaluate"])
def test_a_fifo_as_the_database_is_refused_not_waited_on(argv, tmp_path):
    """`exmy report --db FIFO` hung for ever: SQLite's read-only open of a FIFO waits for a
    writer (and Ctrl-C could not stop it); writers said "disk I/O error". The 16-byte header
    check first added this session blocked on it too. Run in a subprocess with a deadline, so
    a hang fails the test instead of stalling the suite."""
    import subprocess
    import sys

    fifo = tmp_path / "db.fifo"
    os.mkfifo(fifo)
    args = [a.format(db=fifo, tmp=tmp_path) for a in argv]
    r = subprocess.run([sys.executable, "-m", "exmy.cli.main", *args], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"exmy {argv[0]}: error: Results database {fifo} is not a regular file (a FIFO, socket "
        f"or device); give a database file")


def test_evaluate_report_module_gives_one_line(tmp_path, capsys):
    """`python -m exmy.evaluate.report DB OUT` (the README's second reader) ended in a
    traceback for a database that is not SQLite, missing, or a FIFO."""
    from exmy.evaluate.report import main as report_main

    text = tmp_path / "t.sqlite"
    text.write_text("hello\n")
    assert report_main([str(text), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"python -m exmy.evaluate.report: error: Results database {text} is not an SQLite "
        f"database (file is not a database); give another --db or delete the file")
