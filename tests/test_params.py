"""exmy.golden.params: the one parser of unit parameters and the geometry both layers share
(issue 12). The golden and hardware tests pin the messages of each unit; these tests pin the
parser itself and that golden, hdl and the CLI use the same objects."""

from __future__ import annotations

import json

import pytest

from exmy.golden import core, params
from exmy.golden.format import SPECIALS
from exmy.golden.params import (
    Rounding,
    Special,
    check_rounding,
    check_rounding_options,
    stochastic_bits,
)


def test_enums_are_the_strings_golden_uses():
    assert tuple(Rounding) == tuple(core.ROUNDING_MODES) == ("rne", "rtz", "rna", "stochastic")
    assert tuple(Special) == tuple(SPECIALS)
    assert Rounding.RNE == "rne" and f"{Rounding.STOCHASTIC}" == "stochastic"
    assert json.dumps({"r": Rounding.RTZ}) == '{"r": "rtz"}'  # sidecars stay plain JSON
    assert params.LMUL_FORMS == ("adder", "formula") and params.LMUL_OFFSETS == ("lmul", "pam")


@pytest.mark.parametrize("value, allowed, unit, exc, msg", [
    (1, params.ROUNDING_MODES, None, TypeError, "Rounding mode must be a string, not 1"),
    ("up", params.ROUNDING_MODES, None, ValueError,
     "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'"),
    ("stochastic", params.INT_ROUNDING_MODES, None, ValueError,
     "Rounding mode must be one of rne, rtz, rna, not 'stochastic'"),
    # with a unit: a known mode the unit lacks names the unit; an unknown one lists them all
    ("rna", params.APPROX_FMA_ROUNDING_MODES, "Approximate FMA", ValueError,
     "Approximate FMA supports rounding modes rne, rtz, not 'rna'"),
    ("up", params.FMA_ROUNDING_MODES, "FMA", ValueError,
     "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'"),
])
def test_check_rounding_messages(value, allowed, unit, exc, msg):
    with pytest.raises(exc, match=f"^{msg}$"):
        check_rounding(value, allowed=allowed, unit=unit)


def test_check_rounding_returns_the_enum():
    mode = check_rounding("rtz")
    assert mode is Rounding.RTZ
    assert check_rounding(Rounding.RNA) is Rounding.RNA


@pytest.mark.parametrize("rounding, rand_bits, exc, msg", [
    ("stochastic", None, ValueError,
     "Stochastic rounding needs rand_bits (the width of the rand port)"),
    ("stochastic", 2.0, TypeError, "rand_bits must be an integer, not 2.0"),
    ("stochastic", True, TypeError, "rand_bits must be an integer, not True"),
    ("stochastic", 33, ValueError, "rand_bits must be in 1..32, not 33"),
    ("stochastic", 0, ValueError, "rand_bits must be in 1..32, not 0"),
    ("rne", 4, ValueError,
     "rand_bits=4 is only meaningful with rounding='stochastic', not rounding='rne'"),
])
def test_check_rounding_options_messages(rounding, rand_bits, exc, msg):
    with pytest.raises(exc, match="^" + msg.replace("(", r"\(").replace(")", r"\)") + "$"):
        check_rounding_options(rounding, rand_bits)


def test_stochastic_r():
    assert check_rounding_options("stochastic", 5) is Rounding.STOCHASTIC
    assert stochastic_bits("stochastic", 5) == 5
    assert stochastic_bits("rne", None) == 1 == stochastic_bits(Rounding.RTZ, None)


def test_ceil_log2():
    assert [params.ceil_log2(n) for n in (0, 1, 2, 3, 4, 5, 8, 9, 4608)] == [
        0, 0, 1, 2, 2, 3, 3, 4, 13]


def test_golden_and_hdl_share_the_objects():
    """The hardware takes its checks and widths from golden.params, and golden's unit modules
    re-export the same functions (not copies)."""
    from importlib import import_module

    # (exmy.golden's package namespace exports the functions fma, lmul, mac over the modules)
    gfma, glmul, gmac = (import_module(f"exmy.golden.{m}") for m in ("fma", "lmul", "mac"))
    hfma, hlmul = import_module("exmy.hdl.fma"), import_module("exmy.hdl.lmul")

    assert gfma.check_approx_params is params.check_approx_params is hfma.check_approx_params
    assert hfma.fma_window_bits is params.fma_window_bits
    assert glmul.lmul_offset is params.lmul_offset is hlmul.lmul_offset
    assert gmac.mac_params is params.mac_params and gmac.MacParams is params.MacParams
    assert tuple(gmac.MULTIPLIERS) == params.MULTIPLIER_NAMES


def test_cli_choices_come_from_the_enums():
    from exmy.cli.common import UNIT_OPTIONS

    choices = {dest: kw.get("choices") for _, dest, kw in UNIT_OPTIONS}
    assert list(choices["rounding"]) == list(params.ROUNDING_MODES)
    assert list(choices["form"]) == list(params.LMUL_FORMS)
    assert list(choices["offset"]) == list(params.LMUL_OFFSETS)
    assert list(choices["multiplier"]) == list(params.MULTIPLIER_NAMES)


def test_latency_check_messages():
    from exmy.hdl.util import check_latency

    with pytest.raises(TypeError, match=r"^Latency must be a non-negative integer, not 1\.0$"):
        check_latency(1.0)
    with pytest.raises(ValueError, match=r"^Latency must be a non-negative integer, not -1$"):
        check_latency(-1)
    with pytest.raises(ValueError, match=r"^Latency must be at most 16 pipeline stages, not 17$"):
        check_latency(17)
    with pytest.raises(ValueError, match=r"^X latency must be at least 2, not 1: why$"):
        check_latency(1, minimum=2, what="X latency", why="why")
    with pytest.raises(TypeError, match=r"^X latency must be a positive integer, not 'a'$"):
        check_latency("a", minimum=1, what="X latency")


def test_acc_bits_limit():
    # an accumulator past the limit was an AssertionError traceback from Amaranth (issue 11)
    with pytest.raises(ValueError, match=r"^Accumulator width 100000 is larger than exmy's "
                       r"limit of 4096 bits"):
        params.mac_params("e4m3fn", "e4m3fn", acc_bits=100000)
    with pytest.raises(ValueError, match=r"^Accumulator width \d+ is larger"):
        params.int_mac_params("int8", "int8", depth=1 << 5000)
    assert params.mac_params("e4m3fn", "e4m3fn", acc_bits=params.MAX_ACC_BITS).acc_bits == 4096
    # the widest catalog accumulators stay well inside it
    assert params.mac_params("float32", "float32").acc_bits <= 590
    assert params.mx_dot_params("e5m2").acc_bits <= 590


def test_cli_acc_bits_limit(capsys):
    from exmy.cli.main import main

    assert main(["generate", "mac", "--a", "e4m3fn", "--acc-bits", "100000",
                 "-o", "never-written.v"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "larger than exmy's limit of 4096 bits" in err


@pytest.mark.parametrize("argv, msg", [
    (["int-mac", "--a", "mxint8"], "Integer MAC operand a format mxint8 has an implied scale "
     "2^-6, which int-mac does not apply"),
    (["int-multiplier", "--a", "int8", "--b", "mxint8"], "Operand b format mxint8 has an "
     "implied scale 2^-6, which int-multiplier does not apply"),
    (["convert", "--a", "mxint8", "--out", "float32"], "Input format mxint8 has an implied "
     "scale 2^-6, which convert does not apply"),
])
def test_scaled_int_refused_where_the_scale_is_not_applied(argv, msg, capsys):
    # mxint8's codes mean code * 2^-6; these units would have treated them as plain integers
    from exmy.cli.main import main

    assert main(["generate", *argv, "-o", "never-written.v"]) == 2
    assert msg in capsys.readouterr().err
    from exmy.golden import int_mac, int_multiply

    with pytest.raises(ValueError, match="implied scale 2\\^-6, which int_multiply"):
        int_multiply(1, 2, "mxint8", "int8")
    with pytest.raises(ValueError, match="implied scale 2\\^-6, which int-mac does not apply"):
        int_mac([1], [2], [1], [0], "int8", "mxint8")


def test_build_takes_numpy_scalars_as_the_python_values_they_hold():
    """np.int64(32) as a block size was refused as 'not a positive integer'; a numpy scalar
    option now builds the same unit as its Python value (same name, same Verilog)."""
    import numpy as np

    from exmy.hdl.registry import build
    from exmy.hdl.verilog import to_verilog

    for unit, plain, numpy_opts in (
        ("mx-dot", dict(elem="e4m3fn", block=32), dict(elem="e4m3fn", block=np.int64(32))),
        ("convert", dict(a="float32", out="e4m3fn", rounding="stochastic", rand_bits=4),
         dict(a="float32", out="e4m3fn", rounding="stochastic", rand_bits=np.uint8(4))),
        ("multiplier", dict(a="e4m3fn", saturate=True, latency=2),
         dict(a="e4m3fn", saturate=np.True_, latency=np.int32(2))),
    ):
        a, b = build(unit, **plain), build(unit, **numpy_opts)
        assert a.module_name == b.module_name
        assert to_verilog(a, a.module_name) == to_verilog(b, b.module_name)
    with pytest.raises(TypeError, match="Latency must be a non-negative integer"):
        build("multiplier", a="e4m3fn", latency=np.array([1, 2]))
