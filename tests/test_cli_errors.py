"""Clean CLI errors (one line ``exmy CMD: error: ...``, exit code 2, never a traceback) for
generate, simulate, analyze, build and the top level; what ``exmy simulate`` says it ran;
bounded-memory batches and Ctrl-C.

The exit-code and one-line checks run ``main()`` in-process (``cli_error``); the Ctrl-C
tests start ``exmy`` as a real process and send it SIGINT.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exmy.cli import cmd_build
from exmy.cli.main import COMMANDS, build_parser, main
from exmy.hdl.registry import UNITS, build, unit_names
from exmy.sim import check as C
from exmy.sim.check import CheckInterrupted, Coverage, check, stimulus_for

from hwtest import cli_error, need

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

E2M1 = ["--a", "e2m1fn", "--out", "e2m1fn"]


# -- output paths ----------------------------------------------------------------------------
def test_generate_unwritable_output(capsys):
    assert main(["generate", "multiplier", *E2M1, "-o", "/proc/x.v"]) == 2
    assert re.fullmatch(r"exmy generate: error: -o '/proc/x\.v' cannot be written \(.+\); "
                        r"choose a writable place", cli_error(capsys))
    assert not Path("/proc/x.v").exists()


@pytest.mark.parametrize("unit, opts, target, fmax", [
    ("mac", ["--a", "e4m3"], "ice40", 300),  # the loop fits at 300; the chunks built for 300
    ("mac", ["--a", "e8m0"], "ecp5", 250),  # do not fit lower: the answer is not the best
    ("fma", ["--a", "e4m3"], "ecp5", 400),  # predicted Fmax of the refusal
    ("lmul", ["--a", "e4m3fn"], "gowin", 900),
])
def test_out_of_reach_names_the_highest_clock(unit, opts, target, fmax, tmp_path, capsys):
    """A clock out of reach: the refusal names the limiting stage and the highest whole-MHz
    clock exmy places the unit for, which builds, while one MHz more does not (or is the
    clock refused)."""
    out = tmp_path / "x.v"
    assert main(["generate", unit, *opts, "--target", target, "--fmax", str(fmax),
                 "-o", str(out)]) == 2
    err = cli_error(capsys)
    m = re.fullmatch(rf"exmy generate: error: {unit}: {fmax} MHz on {target} is out of reach: "
                     rf".* \(best predicted Fmax ([0-9]+) MHz\); exmy can place this {unit} "
                     rf"for up to ([0-9]+) MHz on {target} \(--fmax \2\)", err)
    assert m, err
    best = int(m.group(2))
    options = dict(zip([o.lstrip("-") for o in opts[::2]], opts[1::2], strict=True))
    assert build(unit, **options, target=target, fmax=best).plan.fmax_target == best
    if best + 1 < fmax:
        with pytest.raises(ValueError, match="out of reach"):
            build(unit, **options, target=target, fmax=best + 1)
    assert not out.exists()


def test_out_of_reach_search_is_bounded():
    """The search for a lower clock stops at its time limit and says it did not settle."""
    from exmy.hdl import registry

    e4m3, e8m0 = {"a": "e4m3", "target": "ice40"}, {"a": "e8m0", "target": "ecp5"}
    with pytest.raises(ValueError) as e:
        build("mac", **e4m3, fmax=300)  # its best predicted (its loop's) does not place
    assert registry.highest_fmax("mac", e4m3, e.value, 0.0) == (None, False)
    best, done = registry.highest_fmax("mac", e4m3, e.value)
    assert done and best < e.value.best
    assert build("mac", **e4m3, fmax=best).plan.fmax_target == best
    with pytest.raises(ValueError):
        build("mac", **e4m3, fmax=best + 1)
    with pytest.raises(ValueError) as e:
        build("mac", **e8m0, fmax=250)  # its best predicted (156) places
    best, done = registry.highest_fmax("mac", e8m0, e.value, 0.0)
    assert (best, done) == (int(e.value.best), False)
    assert build("mac", **e8m0, fmax=best).plan.fmax_target == best
    assert registry.highest_fmax("mac", e8m0, e.value) == (199, True)


def test_out_of_reach_search_interrupted(monkeypatch, tmp_path, capsys):
    """Ctrl-C during the search for a lower clock: the refusal is still printed, exit 2."""
    from exmy.hdl import registry

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "highest_fmax", interrupted)
    assert main(["generate", "mac", "--a", "e4m3", "--target", "ice40", "--fmax", "300",
                 "-o", str(tmp_path / "x.v")]) == 2
    err = cli_error(capsys)
    assert err.startswith("exmy generate: error: mac: 300 MHz on ice40 is out of reach: ")
    assert err.endswith("; the search for a lower clock was interrupted")
    assert not (tmp_path / "x.v").exists()


@pytest.mark.parametrize("opts, says", [
    (["--a", "e8m0", "--target", "ecp5", "--fmax", "250"],
     r"exmy can place this mac for 15[56] MHz on ecp5 \(--fmax 15[56]; 10 s of search did not "
     r"settle whether a faster clock places\)"),
    (["--a", "e4m3", "--target", "ice40", "--fmax", "300"],
     r"exmy found no clock it can place this mac for on ice40 in 10 s of search"),
])
def test_out_of_reach_search_cut_short(opts, says, monkeypatch, tmp_path, capsys):
    from exmy.hdl import registry

    quick = registry.highest_fmax
    monkeypatch.setattr(registry, "highest_fmax", lambda u, o, e: quick(u, o, e, 0.0))
    assert main(["generate", "mac", *opts, "-o", str(tmp_path / "x.v")]) == 2
    assert re.search("; " + says + "$", cli_error(capsys))


def test_generate_output_is_a_directory(tmp_path, capsys):
    assert main(["generate", "multiplier", *E2M1, "-o", str(tmp_path)]) == 2
    assert cli_error(capsys) == (f"exmy generate: error: -o '{tmp_path}' is a directory; give a "
                                 f"file name inside it, e.g. '{tmp_path / 'out.v'}'")


@pytest.mark.parametrize("name, message", [
    ("missing/x.v", "exmy generate: error: -o '{d}/missing/x.v': folder '{d}/missing' does not "
                    "exist; create it first (mkdir -p '{d}/missing') or choose another path"),
    ("x.txt", "exmy generate: error: -o file must end in .v, not '{d}/x.txt'"),
    ("afile/x.v", "exmy generate: error: -o '{d}/afile/x.v': '{d}/afile' is a file, not a "
                  "folder"),
])
def test_generate_bad_output_paths(name, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main(["generate", "multiplier", *E2M1, "-o", str(tmp_path / name)]) == 2
    assert cli_error(capsys) == message.format(d=tmp_path)


def test_generate_empty_output(capsys):
    assert main(["generate", "multiplier", *E2M1, "-o", ""]) == 2
    assert cli_error(capsys) == "exmy generate: error: -o needs a file name, not an empty string"


@pytest.mark.parametrize("name, message", [
    ("", "exmy generate: error: --name needs a Verilog module name, not an empty string (omit "
         "it for the name derived from the parameters)"),
    ("1bad", "exmy generate: error: Module name must be a Verilog identifier of letters, "
             "digits and _ (not starting with a digit), not '1bad'"),
    ("a$b", "exmy generate: error: Module name must be a Verilog identifier of letters, "
            "digits and _ (not starting with a digit), not 'a$b'"),  # Yosys escapes a '$'
    # keywords (Yosys escapes them: ``module \wire``, a traceback before this check)
    ("wire", "exmy generate: error: Module name 'wire' is a Verilog/SystemVerilog keyword; "
             "choose another name"),
    ("logic", "exmy generate: error: Module name 'logic' is a Verilog/SystemVerilog keyword; "
              "choose another name"),
])
def test_generate_bad_module_name(name, message, tmp_path, capsys):
    assert main(["generate", "multiplier", *E2M1, "--name", name, "-o", str(tmp_path / "m.v")]) == 2
    assert cli_error(capsys) == message
    assert not list(tmp_path.iterdir())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["int-multiplier", "--a", "int17"],
     "The exact product of int17 x int17 needs 34 bits; integer formats have at most 32, so "
     "the operands may total at most 32 bits"),
    (["multiplier", "--a", "e4m3-b999999999999"], "Format 'e4m3-b999999999999' is not "
     "valid: Bias must be in -65536..65536, not "
     "999999999999"),  # it hung: 2**-bias as an exact rational
])
def test_generate_names_the_users_format(argv, message, tmp_path, capsys):
    assert main(["generate", *argv, "-o", str(tmp_path / "x.v")]) == 2
    assert cli_error(capsys) == f"exmy generate: error: {message}"


def test_full_disk_names_the_file(tmp_path, capsys):
    """A write that fails for lack of space (here /dev/full) names the file it did not write:
    ENOSPC comes from write(), whose error carries no file name."""
    full = tmp_path / "full.v"
    full.symlink_to("/dev/full")
    assert main(["generate", "multiplier", *E2M1, "-o", str(full)]) == 2
    assert cli_error(capsys) == f"exmy generate: error: No space left on device: {full}"


def test_generate_paths_with_spaces_and_unicode(tmp_path, capsys):
    d = tmp_path / "a dir ünï"
    d.mkdir()
    assert main(["generate", "multiplier", *E2M1, "-o", str(d / "m ü.v")]) == 0
    assert "module multiplier_e2m1fn_e2m1fn_e2m1fn_l0" in (d / "m ü.v").read_text()
    assert sorted(p.name for p in d.iterdir()) == ["m ü.json", "m ü.v"]


def test_generate_checks_the_sidecar_path(tmp_path, capsys):
    (tmp_path / "m.json").mkdir()
    assert main(["generate", "multiplier", *E2M1, "-o", str(tmp_path / "m.v")]) == 2
    # its name follows -o, so the fix is another -o (a file inside it was suggested)
    assert cli_error(capsys) == (
        f"exmy generate: error: -o '{tmp_path / 'm.v'}': its JSON sidecar "
        f"'{tmp_path / 'm.json'}' would overwrite a directory; choose another -o name or move "
        f"that directory")
    assert not (tmp_path / "m.v").exists()  # nothing written when the sidecar cannot be


@pytest.mark.parametrize("name, message", [
    ("no/such/dir", "exmy simulate: error: --build-dir '{d}/no/such/dir': parent folder "
                    "'{d}/no/such' does not exist; create it first (mkdir -p '{d}/no/such') or "
                    "choose another path"),
    ("afile", "exmy simulate: error: --build-dir '{d}/afile' is a file, not a folder; give a "
              "folder name"),
])
def test_simulate_bad_build_dir(name, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    argv = ["simulate", "multiplier", *E2M1, "--build-dir", str(tmp_path / name)]
    assert main(argv) == 2
    assert cli_error(capsys) == message.format(d=tmp_path)
    assert not (tmp_path / "no").exists()


def test_simulate_unwritable_build_dir(capsys):
    assert main(["simulate", "multiplier", *E2M1, "--build-dir", "/proc/exmy-sim"]) == 2
    assert re.fullmatch(r"exmy simulate: error: --build-dir '/proc/exmy-sim' cannot be created "
                        r"\(.+\); choose a writable place", cli_error(capsys))


def test_main_turns_os_errors_into_one_line(monkeypatch, capsys):
    from exmy.cli import cmd_formats

    def boom(args):
        raise PermissionError(13, "Permission denied", "/somewhere/file")

    monkeypatch.setattr(cmd_formats, "run", boom)
    assert main(["formats"]) == 2
    assert cli_error(capsys) == "exmy formats: error: Permission denied: /somewhere/file"


@pytest.mark.parametrize("cmd, opts, said", [
    ("generate", ["multiplier", "--a", "e4m3", "--rand-bits", "3"],
     "--rand-bits 3 is only meaningful with --rounding stochastic, not --rounding rne"),
    ("simulate", ["multiplier", "--a", "e4m3", "--rounding", "rtz"],
     "The exact multiplier does not round; --rounding rtz needs an output format (--out)"),
    ("synth", ["int-mac", "--a", "int8", "--acc-bits", "8"],
     "Accumulator width 8 is smaller than one int8 x int8 product (16 bits); use --acc-bits "
     ">= 16, or leave it unset for the default 29"),
    ("generate", ["mx-dot", "--elem", "e4m3fn", "--acc-bits", "600"],
     "--depth and --acc-bits apply only with --accumulate"),
    ("generate", ["mac", "--a", "e4m3", "--saturate"],
     "--saturate applies to the output y (or a float accumulator); give --out, or use "
     "--saturate-acc to clamp the fixed-point accumulator"),
    ("generate", ["mac", "--a", "e4m3", "--saturate-acc", "--acc-format", "bfloat16"],
     "--saturate-acc applies only to the fixed-point accumulator, not to --acc-format "
     "bfloat16; the float accumulator is its own output"),
    ("generate", ["int-mac", "--a", "int8", "--saturate-acc", "--fmax", "1000"],
     "--saturate-acc needs the unsegmented accumulator, whose 29-bit loop takes {ns} ns on "
     "ecp5 (best predicted Fmax {mhz} MHz), too slow for --fmax 1000; drop --saturate-acc "
     "(wrap) or lower --fmax"),
    ("prove", ["fma", "--a", "e4m3", "--dsp", "--target", "ice40", "--fmax", "100"],
     "exmy has no measured DSP delay for ice40 (measured: ecp5); place the registers "
     "without --dsp"),
    ("build", ["convert", "--a", "e4m3", "--out", "e5m2", "--target", "gowin"],
     "Timing target 'gowin' needs --fmax (the clock to place the registers for); without "
     "--fmax give --latency"),
    ("generate", ["int-mac", "--a", "mxint8"],
     "Integer MAC operand a format mxint8 has an implied scale 2^-6, which int-mac does not "
     "apply; use int8 and apply the scale outside, or dot / mx-dot"),
])
def test_a_units_refusal_names_the_command_lines_options(cmd, opts, said, tmp_path, capsys):
    """A unit refuses its options in the Python API's words (``rand_bits=3``, ``fmt_out``,
    ``saturate_acc``); on the command line the same refusal names the options as typed.
    ``{ns}`` and ``{mhz}`` stand for the delay model's figures, which this test does not pin."""
    out = ["-o", str(tmp_path / "x.v")] if cmd == "generate" else []
    if cmd == "build":
        out = ["--board", "ulx3s-85f", "-o", str(tmp_path / "b")]
    assert main([cmd, *opts, *out]) == 2
    err = cli_error(capsys)
    pattern = re.escape(f"exmy {cmd}: error: {said}")
    pattern = pattern.replace(r"\{ns\}", r"[0-9]+\.[0-9]{2}").replace(r"\{mhz\}", r"[0-9]+")
    assert re.fullmatch(pattern, err), err


def test_only_a_units_refusal_is_reworded(tmp_path, capsys):
    """Other errors keep their words: a file name the user gave that holds an option's Python
    name (``fmax/acc_bits/x.sqlite``) is shown as typed, not as ``--fmax/--acc-bits``."""
    (tmp_path / "fmax").mkdir()
    (tmp_path / "fmax" / "acc_bits").write_text("a file, not a folder")
    db = tmp_path / "fmax" / "acc_bits" / "x.sqlite"
    assert main(["synth", "multiplier", "--a", "e4m3", "--target", "ecp5", "--db", str(db)]) == 2
    err = cli_error(capsys)
    assert str(db) in err and "--fmax" not in err and "--acc-bits" not in err, err


def test_a_units_refusal_in_python_keeps_the_parameter_names():
    """The Python API's refusal is unchanged: it names the constructor's parameters."""
    from exmy.hdl.multiplier import Multiplier

    with pytest.raises(ValueError, match=r"^rand_bits=3 is only meaningful with "
                       r"rounding='stochastic', not rounding='rne'$"):
        Multiplier("e4m3", "e4m3", rand_bits=3)


# -- simulate arguments ----------------------------------------------------------------------
def _code(argv) -> int:
    """main's exit code, also when argparse exits."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("extra, message", [
    (["--vectors", "0"], "exmy simulate: error: --vectors must be a positive integer, not 0"),
    (["--vectors", "-5"], "exmy simulate: error: --vectors must be a positive integer, not -5"),
    (["--seed", "-1"], "exmy simulate: error: --seed must be a non-negative integer, not -1"),
    (["--vectors", "1.5"], "exmy simulate: error: argument --vectors: must be an integer, not "
                           "'1.5' (see `exmy simulate --help`)"),
    (["--vectors", ""], "exmy simulate: error: argument --vectors: must be an integer, not '' "
                        "(see `exmy simulate --help`)"),
    (["--simulator", "modelsim"], "exmy simulate: error: argument --simulator: invalid choice: "
                                  "'modelsim' (choose from "),
    (["--exhaustive", "--vectors", "5"], "exmy simulate: error: argument --vectors: not allowed "
                                         "with argument --exhaustive"),
])
def test_simulate_argument_errors(extra, message, capsys):
    assert _code(["simulate", "multiplier", *E2M1, *extra]) == 2
    assert cli_error(capsys).startswith(message)


@pytest.mark.parametrize("argv", [
    ["mac", "--a", "float16"],  # 2**32 product pairs: only corners and samples go in
    ["dot", "--a", "e2m1fn", "--lanes", "2", "--accumulate"],  # a stream: no exhaustive set
])
def test_simulate_exhaustive_where_it_cannot_be(argv, capsys):
    """--exhaustive on a unit the check can only sample is refused, not silently sampled."""
    assert _code(["simulate", *argv, "--exhaustive", "--simulator", "amaranth"]) == 2
    assert re.fullmatch(r"exmy simulate: error: \S+ cannot be checked exhaustively: its "
                        r"stimulus would be sampled \(.+\); use mode 'random' \(exmy simulate "
                        r"--vectors N\) or 'auto'", cli_error(capsys))


def test_exhaustive_mac_applies_every_product_pair():
    """A MAC's stream counts as exhaustive when every product pair goes in."""
    _inputs, cov = C.stimulus_for(build("mac", a="e2m1fn"), "exhaustive", 1000)
    assert dict(cov.parts)["every product pair"] == 16 * 16


def test_vectors_accepts_exponent_notation():
    p = build_parser()
    assert p.parse_args(["simulate", "multiplier", "--vectors", "1e7"]).vectors == 10_000_000
    assert p.parse_args(["simulate", "multiplier", "--vectors", "1_000"]).vectors == 1000


# -- build ------------------------------------------------------------------------------------
def test_build_without_amaranth_boards(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "amaranth_boards", None)  # import fails
    monkeypatch.chdir(tmp_path)
    assert main(["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker"]) == 2
    assert cli_error(capsys) == f"exmy build: error: {cmd_build.BOARDS_HINT}"
    assert "pip install amaranth-boards==" in cmd_build.BOARDS_HINT
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("out, message", [
    ("afile", "exmy build: error: -o '{d}/afile' is a file, not a folder; give a folder name"),
    ("no/dir", "exmy build: error: -o '{d}/no/dir': parent folder '{d}/no' does not exist; "
               "create it first (mkdir -p '{d}/no') or choose another path"),
    ("", "exmy build: error: -o needs a folder name, not an empty string"),
])
def test_build_bad_output(out, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    o = str(tmp_path / out) if out else ""
    assert main(["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "-o", o]) == 2
    assert cli_error(capsys) == message.format(d=tmp_path)


def test_build_unwritable_output(capsys):
    argv = ["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "-o", "/proc/b"]
    assert main(argv) == 2
    assert re.fullmatch(r"exmy build: error: -o '/proc/b' cannot be created \(.+\); choose a "
                        r"writable place", cli_error(capsys))


def _fake_build(seen):
    """A build_bitstream stand-in recording the folder's contents when it is called."""

    def fake(unit, options, board, out_dir, **kw):
        out = Path(out_dir)
        assert {"top.bin", "top.bit", "record.json"} <= set(kw["stale"])
        for name in kw["stale"]:  # as the real one does once the self-test is built
            (out / name).unlink(missing_ok=True)
        seen.append((board, out, sorted(p.name for p in out.iterdir())))
        name = "top.bin" if board == "icebreaker" else "top.bit"
        (out / name).write_text("new")
        return {"bist": {"mode": "exhaustive", "vectors": 16, "expected_signature": "0"},
                "fmax_mhz": 50.0, "utilization": {}, "module": "m", "board": board,
                "device": "d", "lut": 1, "carry": 0, "ff": 1, "dsp": 0, "bram": 0,
                "clock_mhz": 12.0, "timing_met": True, "bitstream": str(out / name),
                "program": "prog", "leds": ""}

    return fake


def test_build_output_is_per_board_and_clean(monkeypatch, tmp_path, capsys):
    from exmy.synth import bist

    seen: list = []
    monkeypatch.setattr(bist, "build_bitstream", _fake_build(seen))
    monkeypatch.chdir(tmp_path)
    # default: build/BOARD, one folder per board
    for board in ("ulx3s-85f", "icebreaker"):
        assert main(["build", "multiplier", "--a", "e2m1fn", "--board", board]) == 0
    assert [(b, o) for b, o, _ in seen] == [("ulx3s-85f", Path("build/ulx3s-85f")),
                                            ("icebreaker", Path("build/icebreaker"))]
    assert "bitstream: build/icebreaker/top.bin  (record: build/icebreaker/record.json)" in (
        capsys.readouterr().out)
    # one -o for two boards: the other board's stale bitstream is gone before the build
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "top.bit").write_text("stale ulx3s")
    (shared / "record.json").write_text("{}")
    (shared / "keep.txt").write_text("")
    argv = ["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "-o", str(shared)]
    assert main(argv) == 0
    assert seen[-1][2] == ["keep.txt"]
    assert sorted(p.name for p in shared.iterdir()) == ["keep.txt", "top.bin"]


def test_build_fmax_places_by_the_boards_fpga(monkeypatch, tmp_path, capsys):
    """With --fmax the board's FPGA names the delay model (an iCE40 board was placed by the
    ECP5 model without a word); a board without a model, or a --target that contradicts the
    board, is refused before anything is built."""
    from exmy.synth import bist

    seen: list = []
    options: list = []
    fake = _fake_build(seen)
    monkeypatch.setattr(bist, "build_bitstream",
                        lambda unit, opts, *a, **kw: options.append(opts) or fake(unit, opts,
                                                                                  *a, **kw))
    monkeypatch.chdir(tmp_path)
    argv = ["build", "lmul", "--a", "e2m1fn", "--fmax", "100", "--board"]
    assert main([*argv, "ulx3s-85f"]) == 0
    assert options == [{"a": "e2m1fn", "fmax": 100.0, "target": "ecp5"}]
    capsys.readouterr()
    assert main([*argv, "icebreaker"]) == 2
    assert cli_error(capsys) == (
        "exmy build: error: --fmax: board icebreaker's FPGA (ice40-up5k) has no delay model "
        "(exmy's: ecp5, ice40, gowin, xilinx); give --latency N instead")
    assert main([*argv, "ulx3s-85f", "--target", "ice40"]) == 2
    assert cli_error(capsys) == (
        "exmy build: error: --target ice40 does not match board ulx3s-85f (ecp5); omit "
        "--target: with --fmax the board's FPGA names the delay model")
    assert len(seen) == 1 and not (tmp_path / "build" / "icebreaker").exists()


@pytest.mark.parametrize("extra, message", [
    (["--vectors", "99999999999999999999999"],
     "exmy build: error: --vectors: Vector count must be between 1 and 16777216, not "
     "99999999999999999999999"),
    (["--inject-fault", "y:99"],
     "exmy build: error: --inject-fault: Fault bit of port 'y' must be between 0 and 3, not 99"),
    (["--inject-fault", "q:0"],
     "exmy build: error: --inject-fault: Fault port must be a checked output of "
     "multiplier_e2m1fn_e2m1fn_e2m1fn_l0 (y), not 'q'"),
])
def test_build_option_errors_keep_the_last_build(extra, message, tmp_path, capsys):
    """A bad --vectors or --inject-fault is refused before the earlier build's bitstream and
    record are removed (and before a new folder is made)."""
    old = tmp_path / "o"
    old.mkdir()
    (old / "top.bin").write_text("earlier")
    (old / "record.json").write_text("{}")
    for out in (old, tmp_path / "new"):
        argv = ["build", "multiplier", "--a", "e2m1fn", "--out", "e2m1fn", "--board",
                "icebreaker", "-o", str(out), *extra]
        assert main(argv) == 2
        assert cli_error(capsys) == message
    assert sorted(p.name for p in old.iterdir()) == ["record.json", "top.bin"]
    assert not (tmp_path / "new").exists()


def test_build_bitstream_removes_stale_files_only_once_the_test_is_built(tmp_path):
    from exmy.synth.bist import build_bitstream

    (tmp_path / "top.bit").write_text("earlier")
    with pytest.raises(ValueError, match="Fault bit of port 'y' must be between 0 and 3"):
        build_bitstream("multiplier", {"a": "e2m1fn", "out": "e2m1fn"}, "icebreaker", tmp_path,
                        fault=("y", 7), stale=["top.bit"])
    assert (tmp_path / "top.bit").exists()


@pytest.mark.parametrize("make, what", [
    (lambda p: p.write_text(""), "not a folder"),
    (lambda p: p.symlink_to("nowhere"), "a broken symbolic link"),
])
def test_build_default_folder_unusable(make, what, tmp_path, capsys, monkeypatch):
    """No -o and ./build is a file or a dangling link: the message says so (it named an -o
    that was not given, or said only 'File exists')."""
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "build")
    assert main(["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker"]) == 2
    assert cli_error(capsys) == (f"exmy build: error: the default build folder 'build' (no -o "
                                 f"given) is {what}; give -o DIR")


def test_build_option_errors_touch_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "multiplier", "--a", "e4m3zz", "--board", "icebreaker"]) == 2
    assert cli_error(capsys).startswith("exmy build: error: ")
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("var", ["HOME", "XDG_CACHE_HOME"])
def test_unusable_tool_cache_is_one_line(var, tmp_path, monkeypatch, capsys):
    """wasmtime (the YoWASP tools, Amaranth's Verilog back end) cannot create its cache: one
    line naming the folder and the variable, not wasmtime's traceback."""
    afile = tmp_path / "afile"
    afile.write_text("")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv(var, str(afile))
    assert main(["generate", "multiplier", *E2M1, "-o", str(tmp_path / "x.v")]) == 2
    sub = ".cache/wasmtime" if var == "HOME" else "wasmtime"
    assert cli_error(capsys) == (
        f"exmy generate: error: Yosys and nextpnr (YoWASP, run by wasmtime) keep a cache in "
        f"{afile}/{sub}, which cannot be created (Not a directory; from {var}); set "
        "XDG_CACHE_HOME to a writable folder")
    assert not (tmp_path / "x.v").exists()


# -- top level --------------------------------------------------------------------------------
def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"exmy {version('exmy')}\n"


def test_commands_are_one_plain_list():
    import exmy.cli.main as M

    assert not hasattr(M, "OPTIONAL_COMMANDS")
    for name in COMMANDS:
        __import__(name)  # every listed command exists


def test_unknown_option_is_one_line(capsys):
    assert _code(["generate", "multiplier", "--frobnicate", "-o", "x.v"]) == 2
    assert cli_error(capsys) == ("exmy generate: error: unrecognized arguments: --frobnicate "
                                 "(see `exmy generate --help`)")


@pytest.mark.parametrize("command", ["generate", "simulate", "synth", "build"])
def test_only_options_of_existing_units_are_offered(command):
    """Every unit option in --help is taken by a registered unit (no --lanes without dot)."""
    p = build_parser()
    sub = next(a for a in p._actions if a.dest == "command").choices[command]
    offered = {a.dest for a in sub._actions}
    taken = {o for n in unit_names() for o in UNITS[n].options}
    from exmy.cli.common import UNIT_OPTIONS

    for _, dest, _ in UNIT_OPTIONS:
        assert (dest in offered) == (dest in taken), dest
    if "dot" not in unit_names():
        assert "lanes" not in offered


@pytest.mark.parametrize("extra, message", [
    (["--samples", "10000000000000"], "exmy analyze: error: --samples must be in 1..10,000,000 "
     "(every sample is held in memory; repeat with other --seed values for more), not "
     "10000000000000"),
    (["--samples", "0"], "exmy analyze: error: --samples must be in 1..10,000,000 (every sample "
     "is held in memory; repeat with other --seed values for more), not 0"),
    (["--seed", "-1"], "exmy analyze: error: --seed must be a non-negative integer, not -1"),
    (["--a", "int8"], "exmy analyze: error: --a must be a float format, not the integer format "
     "int8"),
])
def test_analyze_argument_errors(extra, message, capsys):
    assert _code(["analyze", "multiplier", *extra]) == 2
    assert cli_error(capsys) == message


# -- analyze footer ---------------------------------------------------------------------------
def _footer(out: str) -> str:
    lines = out.splitlines()
    i = max(k for k, line in enumerate(lines) if line.startswith("|"))
    return lines[i + 2]


def test_analyze_comparison_footer_explains_only_its_columns(capsys):
    assert main(["analyze", "multiplier", "--samples", "2000"]) == 0
    foot = _footer(capsys.readouterr().out)
    for word in ("own:", "end to end:", "rel =", "ulp =", "SPEC 3.4 ="):
        assert word in foot
    for word in ("bias", "flushed", "non-finite"):
        assert word not in foot


def test_analyze_format_footer_explains_every_column(capsys):
    assert main(["analyze", "multiplier", "--a", "e4m3fn", "--method", "rne",
                 "--samples", "2000"]) == 0
    foot = _footer(capsys.readouterr().out)
    for word in ("own:", "end to end:", "rel =", "bias =", "ulp =", "flushed =",
                 "non-finite ="):
        assert word in foot
    assert "SPEC 3.4" not in foot


# -- what ran ---------------------------------------------------------------------------------
def test_coverage_describes_exactly():
    c = Coverage((("corner-cube", 54_872), ("random", 1_000_000)))
    assert c.describe() == "1,054,872 vectors (54,872 corner-cube + 1,000,000 random)"
    assert not c and c.total == 1_054_872
    e = Coverage((("exhaustive", 65_536),), True)
    assert e and e.describe() == "65,536 vectors (exhaustive: every input combination)"
    assert (c + Coverage((("random", 5),))).describe() == (
        "1,054,877 vectors (54,872 corner-cube + 1,000,005 random)")


def test_random_mac_run_is_not_called_exhaustive():
    comp = build("mac", a="e4m3fn", out="float16")
    inputs, cov = stimulus_for(comp, "random", 300_000)
    assert not cov and len(inputs["a"]) == cov.total == 300_000
    assert [label for label, _ in cov.parts] == ["every product pair", "accumulator-range",
                                                 "special-value", "random"]
    assert cov.parts[0][1] == 65_536
    assert "exhaustive" not in cov.describe()


def test_fma_vectors_are_n_random_plus_the_corner_cube():
    comp = build("fma", a="bfloat16", c="bfloat16", out="bfloat16")
    inputs, cov = stimulus_for(comp, "random", 1_000_000)
    assert len(inputs["a"]) == 1_054_872
    assert cov.describe() == "1,054,872 vectors (54,872 corner-cube + 1,000,000 random)"


def test_sampled_multiplier_counts_corners_in_n():
    comp = build("multiplier", a="bfloat16", out="bfloat16")
    inputs, cov = stimulus_for(comp, "random", 5000)
    assert len(inputs["a"]) == 5000
    assert cov.describe() == "5,000 vectors (1,444 corner x corner + 3,556 random)"


# -- batches: bounded memory, exact counts, Ctrl-C ----------------------------------------------
def _fake_run(calls, interrupt_after=None):
    """A run_vectors stand-in: the golden outputs themselves (so every vector passes), and
    the batch sizes it was given."""

    def run(verilog, top, ports, inputs, outputs, latency, simulator, build_dir, component=None,
            timings=None):
        if interrupt_after is not None and len(calls) == interrupt_after:
            raise KeyboardInterrupt
        calls.append(len(next(iter(inputs.values()))))
        exp = C.ADAPTERS[component.unit].expected(component, inputs)
        return {o: exp[o] for o in outputs}

    return run


@pytest.mark.parametrize("unit, opts, n, total", [
    ("multiplier", dict(a="bfloat16", out="bfloat16"), 5000, 5000),
    ("convert", dict(a="float32", out="e4m3fn"), 5000, 5000),
    ("fma", dict(a="e4m3fn", c="e4m3fn", out="e4m3fn"), 5000, 5000 + 32_768),
    ("lmul", dict(a="bfloat16"), 5000, 5000),
    ("mac", dict(a="bfloat16", out="bfloat16"), 30_000, 30_000),
])
def test_batches_cover_exactly_n(unit, opts, n, total, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(C, "run_vectors", _fake_run(calls))
    comp = build(unit, **opts)
    res = check(comp, "icarus", mode="random", n=n, batch=1024)
    assert res.ok and res.vectors == sum(calls) == res.coverage.total == total
    assert max(calls) <= 1024  # the corner set's batch is cut too
    assert dict(res.coverage.parts)["random"] >= n // 2


def test_ctrl_c_before_the_stimulus_states_no_total(monkeypatch, capsys):
    """Ctrl-C before the first batch's stimulus: no vector was checked, and the total is not
    known yet (it said "0 of 100,000 vectors" where the exhaustive check plans 65,536)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(C, "to_verilog", interrupted)
    comp = build("multiplier", a="e4m3")
    with pytest.raises(CheckInterrupted) as e:
        check(comp, "icarus")
    assert str(e.value) == "interrupted before the first vector was checked"
    assert (e.value.checked, e.value.planned, e.value.mismatches) == (0, None, 0)
    assert main(["simulate", "multiplier", "--a", "e4m3", "--simulator", "icarus"]) == 130
    assert cli_error(capsys) == ("exmy simulate: interrupted before the first vector was "
                                 "checked; nothing saved")


def test_huge_vector_count_allocates_one_batch(monkeypatch):
    """--vectors 10**13: only one batch exists at a time; Ctrl-C says how far it got."""
    calls: list[int] = []
    monkeypatch.setattr(C, "run_vectors", _fake_run(calls, interrupt_after=3))
    comp = build("convert", a="float32", out="e4m3fn")
    with pytest.raises(CheckInterrupted) as e:
        check(comp, "icarus", mode="random", n=10**13, batch=4096)
    assert calls == [4096] * 3
    assert str(e.value) == "interrupted after 12,288 of 10,000,000,000,000 vectors, 0 mismatches"
    assert (e.value.checked, e.value.planned, e.value.mismatches) == (12_288, 10**13, 0)
    assert isinstance(e.value, KeyboardInterrupt)


def test_mismatches_are_counted_across_batches(monkeypatch):
    calls: list[int] = []
    good = _fake_run(calls)

    def broken(*args, **kw):  # flip bit 0 of y in every 100th vector of each batch
        out = good(*args, **kw)
        y = out["y"].copy()
        y[::100] ^= np.uint64(1)
        return {"y": y}

    monkeypatch.setattr(C, "run_vectors", broken)
    comp = build("multiplier", a="bfloat16", out="bfloat16")
    res = check(comp, "icarus", mode="random", n=3500, batch=2000)
    assert calls == [2000, 1500]
    assert res.mismatch_count == 20 + 15
    assert res.mismatches[0].startswith("[multiplier_bfloat16_bfloat16_bfloat16_l0] vector 0: ")
    assert res.mismatches[19].startswith("[multiplier_bfloat16_bfloat16_bfloat16_l0] vector "
                                         "1900: ")
    assert res.mismatches[-1] == "... 35 of 3,500 vectors mismatch"
    assert len(res.mismatches) == C.MISMATCH_LINES + 1


def test_batched_run_on_a_simulator(tmp_path):
    """Three real simulator runs of one unit (E2M1 multiplier, exhaustive 256 vectors cut
    into batches of 100) agree with the golden model; the build is reused."""
    need("icarus")
    comp = build("multiplier", a="e2m1fn", out="e2m1fn")
    res = check(comp, "icarus", mode="exhaustive", batch=100, build_dir=tmp_path)
    assert res.ok and res.exhaustive and res.vectors == 256
    assert res.summary().startswith("multiplier_e2m1fn_e2m1fn_e2m1fn_l0 on icarus: 256 vectors "
                                    "(exhaustive: every input combination), 0 mismatches")


def test_check_rejects_bad_batch():
    comp = build("multiplier", a="e2m1fn", out="e2m1fn")
    with pytest.raises(ValueError, match=r"^Batch size must be a positive integer, not 0$"):
        check(comp, batch=0)


def _sigint_default():
    """(preexec_fn) SIGINT handled as in a terminal, even if pytest itself was started with it
    ignored (a background job of a script: exmy then leaves it ignored, as it should)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "exmy.cli.main", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_sigint_default, **kw)


SIGINT_ARGV = ["simulate", "convert", "--a", "float32", "--out", "e4m3fn", "--simulator",
               "verilator", "--vectors", "10000000000"]


def _interrupt(proc, wait_for: str, timeout: float) -> tuple[int, str]:
    """Read stderr until a line containing ``wait_for``, send SIGINT, return (code, stderr)."""
    seen = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if wait_for in line:
            break
    else:
        proc.kill()
        pytest.fail(f"no {wait_for!r} within {timeout} s: {''.join(seen)}")
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    return proc.returncode, "".join(seen) + rest


def test_sigint_says_what_was_checked(tmp_path):
    """Ctrl-C (a real SIGINT to a real process) during a 10**10-vector simulate: one line, exit
    130, nothing allocated up front."""
    need("verilator")
    proc = _start(SIGINT_ARGV, cwd=tmp_path)
    code, err = _interrupt(proc, "Ctrl-C stops", 120)
    last = err.strip().splitlines()[-1]
    assert code == 130, err
    assert "Traceback" not in err
    # before the first batch's stimulus exists no total is known (test below)
    assert re.fullmatch(r"exmy simulate: interrupted (after [\d,]+ of 10,000,000,000 vectors, "
                        r"0 mismatches|before the first vector was checked); nothing saved",
                        last), err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_takes_ctrl_c_path(tmp_path):
    """SIGTERM (kill, `timeout`, a job scheduler) stops a run as Ctrl-C does: one line, and
    the simulator's temporary folder is removed (it was left behind)."""
    need("icarus")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp))
    argv = [*SIGINT_ARGV[:-3], "icarus", "--vectors", "10000000000"]
    proc = subprocess.Popen([sys.executable, "-m", "exmy.cli.main", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "Ctrl-C stops" in line:
            break
    t0 = time.monotonic()  # into the first batch: the simulator's build folder exists
    while not any(tmp.iterdir()) and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert re.fullmatch(r"exmy simulate: interrupted (after [\d,]+ of 10,000,000,000 "
                        r"vectors, 0 mismatches|before the first vector was checked); nothing "
                        r"saved", err.strip().splitlines()[-1]), err
    assert list(tmp.iterdir()) == [], (list(tmp.rglob("*"))[:20], err)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_inside_exec_of_a_string_exits_130(tmp_path, sig):
    """A Ctrl-C or SIGTERM that lands while Python runs code through ``exec`` of a string (as
    ``dataclasses`` and ``namedtuple`` do, e.g. while a command imports a module) still ends
    ``python -m exmy.cli.main`` with status 130. With a plain KeyboardInterrupt CPython
    killed the process with SIGINT at exit instead (status -2: how test_sigterm_takes_ctrl_c_path
    failed on a loaded machine; docs/results/interrupts.md)."""
    (tmp_path / "exec_interrupted.py").write_text(
        "import sys\n"
        "import exmy.cli.main as cli\n"
        "def command(argv):\n"
        f"    exec('import os, signal; os.kill(os.getpid(), signal.{sig})')\n"
        "    return 0\n"
        "cli._main = command\n"
        "sys.exit(cli.main(['formats']))\n")
    proc = subprocess.run([sys.executable, "-m", "exec_interrupted"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, preexec_fn=_sigint_default)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "exmy: interrupted", proc.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_inside_a_finalizer_still_stops(tmp_path, sig):
    """A Ctrl-C or SIGTERM that lands while the garbage collector runs a ``__del__`` (Amaranth
    checks every freed component in one) still stops the command. Python ignores an exception
    raised in a finalizer: `exmy simulate` of 10**10 vectors went on running after a SIGTERM
    (found by repeating test_sigterm_takes_ctrl_c_path on a loaded machine)."""
    (tmp_path / "del_interrupted.py").write_text(
        "import os, signal, sys, time\n"
        "import exmy.cli.main as cli\n"
        "class Freed:\n"
        "    def __del__(self):\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "        time.sleep(0.5)  # (the handler runs in here)\n"
        "def command(argv):\n"
        "    Freed()\n"
        "    time.sleep(30)\n"
        "    return 0\n"
        "cli._main = command\n"
        "sys.exit(cli.main(['formats']))\n")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "del_interrupted"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, preexec_fn=_sigint_default)
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.strip() == "exmy: interrupted", proc.stderr
    assert time.monotonic() - t0 < 20


@pytest.mark.slow
def test_sigint_after_batches_reports_them(tmp_path):
    """As above, interrupted after the progress line: the count is whole batches."""
    need("verilator")
    proc = _start([*SIGINT_ARGV, "--build-dir", str(tmp_path / "b")], cwd=tmp_path)
    code, err = _interrupt(proc, "  checked ", 600)
    last = err.strip().splitlines()[-1]
    assert code == 130, err
    m = re.fullmatch(r"exmy simulate: interrupted after ([\d,]+) of 10,000,000,000 vectors, "
                     r"0 mismatches; simulator build kept in '.*/b'", last)
    assert m, err
    assert int(m.group(1).replace(",", "")) % C.BATCH == 0
    assert int(m.group(1).replace(",", "")) >= C.BATCH


# -- hardware size limits and the generate summary -------------------------------------------
@pytest.mark.parametrize("argv, what", [
    (["dot", "--a", "e4m3", "--lanes", "100000"], "Lane count 100000"),
    (["mx-dot", "--elem", "e2m1fn", "--block", "5000"], "Block size 5000"),
])
def test_hardware_lane_limit(argv, what, tmp_path, capsys):
    """A dot product too long to elaborate in reasonable time and memory is refused at once
    (100,000 lanes had not finished after 2 minutes), with what to do instead; the golden
    model takes any length (exmy evaluate's rows are 1,536 long)."""
    t0 = time.monotonic()
    assert main(["generate", *argv, "-o", str(tmp_path / "x.v")]) == 2
    assert time.monotonic() - t0 < 10
    assert re.fullmatch(rf"exmy generate: error: {what} is more than exmy builds in hardware "
                        r"\(at most 1024: .*\); for a longer dot product accumulate shorter "
                        r"ones \(--accumulate\) or give a smaller --(lanes|block)",
                        cli_error(capsys))
    assert not list(tmp_path.iterdir())
    from exmy.golden.dot import dot

    a = np.full((1, 1536), 0x38, dtype=np.uint64)  # 1.0 in E4M3 (0 0111 000)
    assert int(dot(a, a, "e4m3", "e4m3", fmt_out="float32")[0]) == int(
        np.array(1536.0, np.float32).view(np.uint32))


def test_generate_summary_groups_lane_ports(tmp_path, capsys):
    from exmy.cli.cmd_generate import port_summary

    assert main(["generate", "dot", "--a", "e4m3", "--lanes", "16", "--latency", "1", "-o",
                 str(tmp_path / "d.v")]) == 0
    assert capsys.readouterr().out.rstrip().endswith(
        "latency 1, ports clk[1], rst[1], a0..a15[8] float8_e4m3, b0..b15[8] float8_e4m3, "
        "y[32] float32")
    # a run breaks where the index or the shape does
    ports = {"a0": {"width": 4}, "a1": {"width": 4}, "a3": {"width": 4}, "b0": {"width": 4},
             "b1": {"width": 5}, "y": {"width": 8, "format": "e4m3"}}
    assert port_summary(ports) == "a0..a1[4], a3[4], b0[4], b1[5], y[8] e4m3"


def test_deleted_current_folder_is_named(tmp_path, monkeypatch, capsys):
    """A command run from a folder that was deleted under it: the error says so (it printed
    "No such file or directory" and nothing else)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert main(["simulate", "lmul", "--a", "e2m1fn"]) == 2
    assert cli_error(capsys) == ("exmy simulate: error: No such file or directory (the current "
                                 "folder no longer exists: cd to an existing folder)")


def test_readers_open_the_results_database_read_only(tmp_path):
    """`exmy report` and the other readers change nothing: their connection is read-only (so
    a database on a read-only disk reads; it was "unable to open database file")."""
    import sqlite3

    from exmy.synth.db import ResultsDB

    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()  # a writer makes the schema
    before = path.read_bytes()
    with ResultsDB(path, create=False) as db:
        assert db.records() == []
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db._con.execute("DELETE FROM points")
    assert path.read_bytes() == before


def test_damaged_results_database_is_called_damaged(tmp_path, capsys):
    from exmy.synth.db import ResultsDB

    path = tmp_path / "r.sqlite"
    ResultsDB(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # the first page's b-tree, past the header
    path.write_bytes(bytes(data))
    assert main(["report", "--db", str(path), "-o", str(tmp_path / "out")]) == 2
    msg = cli_error(capsys)
    assert "is a damaged SQLite database (" in msg and "`.recover`" in msg, msg
    assert "delete the file" not in msg


def test_simulate_vectors_beyond_the_input_space(capsys):
    """More --vectors than the unit has input combinations checks each once (it sampled
    toward 10^17 vectors, about 25,000 years, for a 256-combination unit); beyond a day's
    worth is refused."""
    assert main(["simulate", "lmul", "--a", "e2m1fn", "--vectors", "99999999999999999"]) == 2
    assert cli_error(capsys) == (
        "exmy simulate: error: --vectors: at most 10,000,000,000 (a day or more of simulation: "
        "the README's verification throughput), not 99,999,999,999,999,999; split a longer run "
        "over --seed values")
    assert main(["simulate", "lmul", "--a", "e2m1fn", "--vectors", "1000"]) == 0
    out = capsys.readouterr()
    assert "its inputs total 8 bits, 256 combinations, fewer than --vectors 1,000" in out.err
    assert "256 vectors (exhaustive: every input combination), 0 mismatches" in out.out


def test_tmpdir_that_is_no_folder_is_named(tmp_path, monkeypatch, capsys):
    """Python falls back to /tmp quietly, Icarus does not: TMPDIR naming no folder is said
    before a tool fails on it."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "nonexistent"))
    assert main(["simulate", "lmul", "--a", "e2m1fn"]) == 2
    assert cli_error(capsys) == (
        f"exmy simulate: error: TMPDIR={tmp_path / 'nonexistent'} is not a folder (the "
        f"simulators and the synthesis tools write temporary files there); point it at a "
        f"writable folder or unset it")


def test_build_interrupted_says_what_was_kept(monkeypatch, tmp_path, capsys):
    from exmy.synth import bist

    def interrupted(unit, options, board, out_dir, **kw):
        (Path(out_dir) / "build.log").write_text("yosys ...")
        raise KeyboardInterrupt

    monkeypatch.setattr(bist, "build_bitstream", interrupted)
    out = tmp_path / "b"
    assert main(["build", "lmul", "--a", "e2m1fn", "--board", "ulx3s-85f", "-o", str(out)]) == 130
    assert capsys.readouterr().err.strip() == (
        f"exmy build: interrupted; no bitstream was made: {out} holds the unfinished build's "
        f"files (build.log); a rerun starts over")


def test_generate_refuses_a_module_name_too_long(tmp_path, capsys):
    assert main(["generate", "lmul", "--a", "e2m1fn", "-o", str(tmp_path / "z.v"), "--name",
                 "a" * 1025]) == 2
    assert cli_error(capsys) == (
        "exmy generate: error: Module name must be at most 1024 characters (Verilog tools need "
        "not take longer identifiers), not 1025")
    assert not (tmp_path / "z.v").exists()


def test_empty_db_name(tmp_path, capsys):
    assert main(["report", "--db", "", "-o", str(tmp_path / "r")]) == 2
    assert cli_error(capsys) == ("exmy report: error: Results database needs a file name "
                                 "(--db FILE), not an empty string")


def test_demo_refuses_a_huge_jobs_count_first(tmp_path, capsys, monkeypatch):
    from exmy.synth.sweep import max_jobs

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "-j", "100000"]) == 2
    assert cli_error(capsys) == (f"exmy demo: error: -j/--jobs must be at most {max_jobs()} "
                                 f"local worker processes, not 100,000")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("unit, opts", [
    ("fma", ["--a", "e4m3"]),
    ("mac", ["--a", "e4m3"]),
])
def test_generate_fmax_prints_the_prediction(unit, opts, tmp_path, capsys):
    """In fmax mode the summary says the clock is the delay model's prediction (as the sidecar
    records it) and how to check it; a latency-mode summary (whose MAC sidecar's ``timing`` is
    the contract text) has no such line."""
    import json

    out = tmp_path / "u.v"
    assert main(["generate", unit, *opts, "--target", "ice40", "--fmax", "40", "-o",
                 str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    t = json.loads(out.with_suffix(".json").read_text())["timing"]
    assert len(lines) == 2 and lines[1] == (
        f"registers placed for 40 MHz: predicted {t['fmax_predicted']:g} MHz by the ice40 "
        f"delay model (`exmy synth {unit} ... --target ice40 --fmax 40 --meet` checks it "
        "with nextpnr-ice40)")
    assert t["fmax_predicted"] >= 40
    assert main(["generate", unit, *opts, "--latency", "2", "-o", str(out)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


@pytest.mark.parametrize("target, hint", [
    ("xilinx", "(no open place and route times xilinx here: `exmy synth` counts its LUTs, "
               "nothing checks the clock)"),
    ("gowin", "(`exmy synth fma ... --target gowin --fmax 40 --meet` runs nextpnr-gowin, "
              "which does not time carry chains)"),
])
def test_generate_fmax_hint_per_target(target, hint, tmp_path, capsys):
    """The check named beside the prediction is one that exists for the target: `--meet` is
    refused for xilinx (no place and route), and nextpnr-gowin leaves carry chains untimed."""
    assert main(["generate", "fma", "--a", "e4m3", "--target", target, "--fmax", "40", "-o",
                 str(tmp_path / "u.v")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1].endswith(hint)
