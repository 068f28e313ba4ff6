"""A fourth probe of user-facing errors: the Python API used from Amaranth (exmy.hdl.registry,
exmy.hdl.verilog, exmy.sim.check), odd `-o` paths and module names of `exmy generate`, and
`exmy synth` flow options a target ignores. Each test is a finding that gave a traceback, a
misleading message or silently did something else than asked. Fast: no synthesis, no HDL
simulator (two runs of the Amaranth simulator on 256 vectors).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from exmy.cli.main import main
from exmy.hdl.registry import build, build_verilog, sidecar
from exmy.hdl.verilog import to_verilog
from exmy.sim.check import check, stimulus_for
from exmy.sim.tools import lint_verilog
from exmy.synth.flow import make_wrapper

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

E2M1 = ["multiplier", "--a", "e2m1fn"]


# -- module names -----------------------------------------------------------------------------
def test_module_name_with_a_trailing_newline(tmp_path, capsys):
    """`--name $'abc\\n'` passed the identifier check (a regex ``$`` matches before a final
    newline) and ended in a RuntimeError traceback ("No module header for 'abc\\n'")."""
    assert main(["generate", *E2M1, "--name", "abc\n", "-o", str(tmp_path / "m.v")]) == 2
    assert cli_error(capsys) == (
        "exmy generate: error: Module name must be a Verilog identifier of letters, digits and "
        "_ (not starting with a digit), not 'abc\\n'")
    assert not list(tmp_path.iterdir())


def test_top_name_checks_of_synthesis_and_lint_refuse_a_newline():
    """The same ``$`` let a top module name ending in a newline into the synthesis wrapper and
    the Verilator lint (where it became a tool error far from the cause)."""
    with pytest.raises(ValueError, match=r"^Top module name must be a plain Verilog identifier, "
                                         r"not 'abc\\n'$"):
        make_wrapper("abc\n", {"a": {"dir": "in", "width": 1}})
    with pytest.raises(ValueError, match=r"^Port name must be a plain Verilog identifier, "
                                         r"not 'a\\n'$"):
        make_wrapper("abc", {"a\n": {"dir": "in", "width": 1}})
    with pytest.raises(ValueError, match=r"^Top module name must be a Verilog identifier, "
                                         r"not 'abc\\n'$"):
        lint_verilog("module abc; endmodule", "abc\n", "unused")


def test_build_verilog_empty_name_is_not_the_default():
    """`build_verilog(unit, params, "")` quietly used the derived name; an empty name is an
    error, as `exmy generate --name ""` is."""
    with pytest.raises(ValueError, match=r"^Module name must be a Verilog identifier .* not ''$"):
        build_verilog("multiplier", {"a": "e2m1fn"}, "")
    with pytest.raises(TypeError, match=r"^Unit options must be a dict of option names to "
                                        r"values, not \['a'\]$"):
        build_verilog("multiplier", ["a"])


def test_sidecar_needs_an_exmy_unit():
    """`sidecar()` of a plain Amaranth component was an AttributeError ('port_formats'), and a
    module name of None went into the metadata as null."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Plain(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(4), "y": Out(4)})

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.y.eq(self.a)
            return m

    plain = Plain()
    with pytest.raises(TypeError, match=r"^sidecar\(\) needs an exmy unit "
                                        r"\(exmy.hdl.registry.build\), not <"):
        sidecar(plain, to_verilog(plain, "plain"), "plain")
    comp = build("multiplier", a="e2m1fn")
    with pytest.raises(TypeError, match=r"^Module name must be a string, not None$"):
        sidecar(comp, to_verilog(comp, "m"), None)


# -- -o paths ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, message", [
    ("-", "-o names a file, and exmy does not write to standard output; give a file name, "
          "e.g. 'out.v'"),
    # Path(".v").suffix is "": this said "-o file must end in .v, not '.v'"
    (".v", "-o '.v' has no name before .v; give e.g. 'out.v'"),
    ("sub/.v", "-o 'sub/.v' has no name before .v; give e.g. 'sub/out.v'"),
])
def test_generate_output_names(name, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", *E2M1, "-o", name]) == 2
    assert cli_error(capsys) == f"exmy generate: error: {message}"
    assert not list(tmp_path.iterdir())


def test_synth_json_dash_is_not_a_file(tmp_path, monkeypatch, capsys):
    """`exmy synth --json -` wrote the record to a file named "-" after the synthesis."""
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "int-multiplier", "--a", "int3", "--json", "-"]) == 2
    assert cli_error(capsys) == ("exmy synth: error: --json names a file, and exmy does not "
                                 "write to standard output; give a file name")
    assert not list(tmp_path.iterdir())


def test_generate_into_a_fifo(tmp_path, capsys):
    """The writability probe opened an existing FIFO: it blocked until a reader came, and that
    reader then saw the end of file before any Verilog. A FIFO (or a device) is now only
    checked for permission, and its reader gets the whole file."""
    fifo = tmp_path / "m.v"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    assert main(["generate", *E2M1, "-o", str(fifo)]) == 0
    reader.join(5)
    assert got and got[0].rstrip().endswith("endmodule")
    assert "module multiplier_e2m1fn_e2m1fn_l0" in got[0]


# -- exmy simulate and exmy.sim.check -----------------------------------------------------------
def test_simulate_seed_beyond_the_generator(capsys):
    """`--seed 1e30` was refused with the Python API's message, not naming --seed and calling
    a non-negative integer not one."""
    assert main(["simulate", *E2M1, "--simulator", "amaranth", "--seed", "1e30"]) == 2
    assert cli_error(capsys) == (
        "exmy simulate: error: --seed must be at most 2**63 - 1 = 9,223,372,036,854,775,807, "
        "not 1,000,000,000,000,000,000,000,000,000,000")  # (read exactly, probe 10)


@pytest.mark.parametrize("seed, exc, message", [
    (-1, ValueError, r"Seed must be an integer from 0 to 2\*\*63 - 1, not -1"),
    (2**63, ValueError, r"Seed must be an integer from 0 to 2\*\*63 - 1, not 9223372036854775808"),
    (1.0, TypeError, r"Seed must be an integer, not 1.0"),
    ("x", TypeError, r"Seed must be an integer, not 'x'"),
])
def test_seed_checks_of_check_and_stimulus_for(seed, exc, message):
    """`stimulus_for(seed=-1)` was numpy's "expected non-negative integer" and `seed="x"` its
    SeedSequence message; check() and stimulus_for() now share one check."""
    comp = build("multiplier", a="e2m1fn")
    with pytest.raises(exc, match=f"^{message}$"):
        stimulus_for(comp, "random", 5, seed=seed)
    with pytest.raises(exc, match=f"^{message}$"):
        check(comp, "amaranth", seed=seed)


@pytest.mark.parametrize("kwargs, exc, message", [
    # a bare int deep in os.fspath: "expected str, bytes or os.PathLike object, not int"
    (dict(build_dir=5), TypeError, r"Build folder \(build_dir\) must be a str or a path, not 5"),
    # after the first batch had run: "'int' object is not callable"
    (dict(progress=5), TypeError,
     r"progress must be a function \(checked, planned, mismatches\), not 5"),
])
def test_check_argument_types(kwargs, exc, message):
    comp = build("multiplier", a="e2m1fn")
    with pytest.raises(exc, match=f"^{message}$"):
        check(comp, "amaranth", **kwargs)


def test_check_given_inputs_refuse_a_stimulus_mode():
    """`check(comp, inputs=..., mode="exhaustive")` ran the one given vector and reported
    success: the mode was silently ignored."""
    comp = build("multiplier", a="e2m1fn")
    inputs = {"a": np.array([1], dtype=np.uint8), "b": np.array([1], dtype=np.uint8)}
    with pytest.raises(ValueError, match=r"^Stimulus mode 'exhaustive' applies to exmy's own "
                                         r"stimulus, not to given inputs; leave mode at 'auto' "
                                         r"when passing inputs$"):
        check(comp, "amaranth", mode="exhaustive", inputs=inputs)


def test_check_given_inputs_refuse_a_vector_count():
    """`check(comp, inputs=<1 vector>, n=5)` ran the one vector and ignored n."""
    comp = build("multiplier", a="e2m1fn")
    inputs = {"a": np.array([1], dtype=np.uint8), "b": np.array([1], dtype=np.uint8)}
    with pytest.raises(ValueError, match=r"^The number of vectors \(n=5\) applies to exmy's "
                                         r"own stimulus; given inputs are simulated whole"):
        check(comp, "amaranth", n=5, inputs=inputs)


def test_check_one_given_vector_is_singular():
    """One given vector was reported as "1 vectors (given)"."""
    comp = build("multiplier", a="e2m1fn")
    inputs = {"a": np.array([0x2], dtype=np.uint8), "b": np.array([0x3], dtype=np.uint8)}
    res = check(comp, "amaranth", inputs=inputs)
    assert res.ok and res.coverage.describe() == "1 vector (given)"


def test_check_batch_takes_a_numpy_integer():
    """`batch=np.int64(100)` was refused as not a positive integer, while n and seed took
    numpy integers (README: numpy integers count as Python ones)."""
    comp = build("multiplier", a="e2m1fn")
    res = check(comp, "amaranth", batch=np.int64(100))
    assert res.ok and res.vectors == 256


# -- exmy synth: flow options a target ignores ------------------------------------------------
PNR = "ecp5, ice40, ice40-up5k, gowin"


@pytest.mark.parametrize("target, extra, message", [
    ("generic", ["--freq", "300"], f"--freq (nextpnr's target clock) does nothing on target "
     f"'generic'; it applies to {PNR} only"),
    ("xilinx", ["--seed", "7"], f"--seed (nextpnr's placer seed) does nothing on target "
     f"'xilinx'; it applies to {PNR} only"),
    ("generic", ["--dsp"], "--dsp (DSP blocks and block RAM) does nothing on target 'generic'; "
     "it applies to ecp5, ice40, ice40-up5k, gowin, xilinx only"),
    ("ice40", ["--no-widelut"], "--no-widelut (Yosys -nowidelut) does nothing on target "
     "'ice40'; it applies to ecp5, gowin, xilinx only"),
])
def test_synth_refuses_flow_options_the_target_ignores(target, extra, message, tmp_path, capsys):
    """These were dropped without a word (flow_settings normalises them away so that sweep
    points share cache entries): `--target generic --freq 300` reported no Fmax and no
    reason."""
    db = tmp_path / "r.sqlite"
    argv = ["synth", "int-multiplier", "--a", "int3", "--target", target, "--db", str(db)]
    assert main(argv + extra) == 2
    assert cli_error(capsys) == (f"exmy synth: error: {message}: leave it out or choose one of "
                                 f"those targets")
    assert not db.exists()
