"""A fifth probe, of the public Python API (the four before it probed the ``exmy`` command
line): each test is a finding that gave a traceback from deep inside the library (IndexError,
AttributeError, FileExistsError, numpy's errors, a closed standard output) or silently
computed something else than asked (NaN results, truthy strings read as True, ``inf`` dB).
Fast: no synthesis, no simulator, no model weights.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import exmy.golden as g
from exmy.golden import stats
from exmy.golden.dot import dot, format_range

from hwtest import need_synth_tools

E4 = "e4m3fn"


def _exact(msg: str) -> str:
    return f"^{re.escape(msg)}$"


# -- golden -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda a, b: g.multiply(a, b, "e5m2", "e5m2", rounding="rtz"),
    lambda a, b: g.multiply(a, b, "e5m2", "e5m2", "e5m2", rounding="rtz"),
    lambda a, b: g.convert(a, "e5m2", "e4m3", rounding="rtz"),
    lambda a, b: g.encode(g.decode(a, "e5m2"), "e5m2", rounding="rtz"),
], ids=["multiply", "multiply-out", "convert", "encode"])
def test_rtz_into_a_format_with_inf_takes_scalars(call):
    """Round-toward-zero into a format with Inf raised IndexError ("array is 0-dimensional")
    for a scalar operand (encode's overflow code was filled with ``over_code[:] = ...``); the
    scalar result is now the one-element array's, overflow included (0x7b: e5m2's largest)."""
    for a, b in ((0x3C, 0x3C), (0x7B, 0x7B), (0x7B, 0x3C)):
        want = call(np.array([a]), np.array([b]))
        got = call(a, b)
        assert got.shape == () and int(got) == int(want[0])


def test_rtz_scalar_overflow_is_ieee():
    """The scalar path against IEEE 754, not only against the array path: 57344 * 57344
    overflows e5m2; RTZ never rounds a finite result to Inf (the largest finite, 0x7b), RNE
    does (+Inf, 0x7c)."""
    assert int(g.multiply(0x7B, 0x7B, "e5m2", "e5m2", "e5m2", rounding="rtz")) == 0x7B
    assert int(g.multiply(0x7B, 0x7B, "e5m2", "e5m2", "e5m2", rounding="rne")) == 0x7C


def test_dot_rtz_of_one_dot_product():
    """``dot(a, b, ..., rounding="rtz")`` on 1-D operands (one dot product, a scalar result)
    raised IndexError from inside encode; it now equals the batched result."""
    a, b = np.array([0x38, 0x39]), np.array([0x38, 0x40])
    assert int(dot(a, b, E4, E4, rounding="rtz")) == int(dot(a[None], b[None], E4, E4,
                                                             rounding="rtz")[0])


def test_check_encodings_and_format_range_take_format_names():
    """``check_encodings(bits, "e4m3fn")`` and ``format_range("e4m3fn")`` raised
    AttributeError ('str' object has no attribute 'width' / 'quantum_exp'), though every other
    golden function takes a format name; a non-format is a TypeError naming what is
    accepted."""
    assert g.check_encodings([56, 57], E4).tolist() == [56, 57]
    assert format_range(E4) == format_range(g.parse_format(E4))
    assert format_range("int8") == (0, -128, 127)
    msg = "Format must be a FloatFormat, IntFormat or a name, not 1"
    with pytest.raises(TypeError, match=_exact(msg)):
        g.check_encodings([56], 1)
    with pytest.raises(TypeError, match=_exact(msg)):
        format_range(1)
    with pytest.raises(ValueError, match="^Unknown format 'e4m3x'"):
        format_range("e4m3x")


def test_exhaustive_pairs_checks_its_flags():
    """``subnormals`` / ``zeros`` were read for their truth value: ``subnormals="no"`` kept
    the subnormal operands (and ``None`` dropped them). They are bools, as ``saturate`` is."""
    assert stats.exhaustive_pairs("e2m1fn", subnormals=np.False_)[0].size == 14 * 14
    for kw in ({"subnormals": "no"}, {"zeros": None}, {"zeros": 1}):
        (name, value), = kw.items()
        with pytest.raises(TypeError, match=_exact(f"{name} must be a bool, not {value!r}")):
            stats.exhaustive_pairs("e2m1fn", **kw)


def test_exhaustive_pairs_width_limit():
    """``exhaustive_pairs("float32")`` raised MemoryError (32 GiB for 2**32 codes, before the
    2**64 pairs); the limit is named, with what to do instead."""
    msg = ("exhaustive_pairs lists (2**width)**2 pairs: formats of at most 13 bits (2**26 "
           "pairs), not float32 (32 bits, 2**64 pairs); sample operands instead (stats.sample, "
           "quantize)")
    with pytest.raises(ValueError, match=_exact(msg)):
        stats.exhaustive_pairs("float32")
    with pytest.raises(ValueError, match="not bfloat16 \\(16 bits, 2\\*\\*32 pairs\\)"):
        stats.exhaustive_pairs("bfloat16")


def test_product_error_refuses_a_non_finite_reference():
    """A NaN or Inf in ``exact`` where the result is finite made every statistic NaN
    (mean_rel, max_rel, rms_rel ...) without a word. exact_product's own NaN lanes (a NaN
    operand, whose result is NaN too) are still counted in n_nonfinite."""
    y = np.array([0x38, 0x39])
    for bad in (np.nan, np.inf):
        msg = f"exact must be finite where the result is, not {bad} (every statistic would be NaN)"
        with pytest.raises(ValueError, match=_exact(msg)):
            stats.product_error(y, E4, np.array([bad, 1.125]))
    r = stats.product_error(np.array([0x7F, 0x39]), E4, np.array([np.nan, 1.125]))
    assert r["n_nonfinite"] == 1 and r["mean_rel"] == 0.0


def test_distribution_error_refuses_non_finite_data():
    """Inf or NaN data made the end-to-end reference (x * y) non-finite and its statistics
    NaN; the data are refused up front, as sqnr_db refuses them."""
    msg = ("Data x must be finite (its exact product is the end-to-end reference), not data "
           "with NaN or Inf")
    with pytest.raises(ValueError, match=_exact(msg)):
        stats.distribution_error("rne", E4, np.array([np.inf, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="^Data y must be finite"):
        stats.distribution_error("rne", E4, np.array([1.0]), np.array([np.nan]))


@pytest.mark.parametrize("w", [0, -1])
def test_catalog_formats_max_width(w):
    """``catalog_formats(0)`` / ``(-1)`` returned [] (and ``acc_width_table(max_width=-1)``
    an empty table): a width must be positive."""
    msg = f"max_width must be a positive integer (a width in bits) or None, not {w}"
    with pytest.raises(ValueError, match=_exact(msg)):
        g.catalog_formats(w)
    with pytest.raises(ValueError, match=_exact(msg)):
        g.acc_width_table(max_width=w)


_ONE = (np.array([5]), np.array([0]))  # 5 * 2**0, rounded below at 2**q
_ROUND_AT_BAD = [
    # an unknown mode rounded stochastically, then failed on rand=None: int(None)
    ((1, "foo", None, 0), ValueError,
     "Rounding mode must be one of rne, rtz, rna, stochastic, not 'foo'"),
    ((1, "stochastic", None, 4), ValueError,
     "Stochastic rounding needs rand (the random bits), not None"),
    # rand_bits=0 read no random bits: never rounded up
    ((1, "stochastic", np.array([3]), 0), ValueError, "rand_bits must be in 1..32, not 0"),
    # OverflowError: Python int too large to convert to C long
    ((2**70, "rne", None, 0), ValueError,
     f"round_at: the rounding position q={2**70} is out of reach of the exponents (q - exp "
     "must fit in 64 bits)"),
]


@pytest.mark.parametrize("args, exc, msg", _ROUND_AT_BAD, ids=["mode", "rand", "bits", "q"])
def test_round_at_checks_its_options(args, exc, msg):
    q, rounding, rand, rand_bits = args
    with pytest.raises(exc, match=_exact(msg)):
        g.round_at(*_ONE, q, np.array([False]), np.array([0]), rounding, rand, rand_bits)


_ROUND_AT_BAD_OPERANDS = [
    # each was a numpy TypeError/OverflowError from inside the model
    ({"sig": None}, TypeError, "round_at's operand.sig must be an array of integers, not object"),
    ({"sig": [2**70]}, ValueError, f"round_at's operand.sig must be below 2**63, not {2**70}"),
    ({"sig": np.array([1.5])}, TypeError,
     "round_at's operand.sig must be an array of integers, not float64"),
    ({"exp": None}, TypeError, "round_at's operand.exp must be an array of integers, not object"),
    ({"q": None}, TypeError,
     "round_at: the rounding position q must be an integer or an array of integers, not None"),
    ({"q": "3"}, TypeError,
     "round_at: the rounding position q must be an integer or an array of integers, not '3'"),
    ({"sign": np.array([2])}, ValueError, "round_at's operand.sign must hold only 0 and 1"),
]


@pytest.mark.parametrize("bad, exc, msg", _ROUND_AT_BAD_OPERANDS,
                         ids=["sig-none", "sig-huge", "sig-float", "exp-none", "q-none",
                              "q-string", "sign-2"])
def test_round_at_checks_its_operands(bad, exc, msg):
    args = {"sig": _ONE[0], "exp": _ONE[1], "q": 1, "sticky": np.array([False]),
            "sign": np.array([0])} | bad
    with pytest.raises(exc, match=_exact(msg)):
        g.round_at(args["sig"], args["exp"], args["q"], args["sticky"], args["sign"], "rne")


def test_round_at_rounds():
    """5 = 0b101 at q=1: kept 0b10, the round bit 1, sticky 0 below it (a tie)."""
    at = [g.round_at(*_ONE, 1, np.array([False]), np.array([0]), m, r, rb)
          for m, r, rb in [("rne", None, 0), ("rna", None, 0), ("rtz", None, 0),
                           ("stochastic", np.array([1]), 1), ("stochastic", np.array([0]), 1)]]
    assert [(int(k[0]), int(i[0])) for k, i in at] == [(2, 0), (2, 1), (2, 0), (2, 1), (2, 0)]


# -- evaluate -----------------------------------------------------------------------------------
def _unit_args():
    from exmy.evaluate import Config

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 32)).astype(np.float32)
    x = rng.standard_normal((3, 32)).astype(np.float32)
    return Config(E4, E4), w, np.zeros(4, np.float32), x


@pytest.mark.parametrize("amax, exc, msg", [
    # NaN and None ran (the scale became 1), Inf made every output NaN, '1' and True ran
    (float("nan"), ValueError,
     "act_amax must be a finite number >= 0 (the input's calibrated max|x|), not nan"),
    (float("inf"), ValueError,
     "act_amax must be a finite number >= 0 (the input's calibrated max|x|), not inf"),
    (-1.0, ValueError,
     "act_amax must be a finite number >= 0 (the input's calibrated max|x|), not -1.0"),
    (None, TypeError,
     "act_amax must be a real number (the input's calibrated max|x|), not None"),
    ("1", TypeError, "act_amax must be a real number (the input's calibrated max|x|), not '1'"),
    (True, TypeError,
     "act_amax must be a real number (the input's calibrated max|x|), not True"),
])
def test_linear_unit_act_amax(amax, exc, msg):
    from exmy.evaluate import LinearUnit

    cfg, w, b, _ = _unit_args()
    with pytest.raises(exc, match=_exact(msg)):
        LinearUnit(cfg, w, b, amax)


def test_linear_unit_weights_and_bias():
    """A None bias made every output NaN (np.asarray(None, float32)); NaN or Inf weights
    raised IndexError from the quantizer's table lookup; a 1-D w IndexError; a bias of the
    wrong length numpy's broadcasting error at the first call; a non-Config AttributeError."""
    from exmy.evaluate import LinearUnit

    cfg, w, b, _ = _unit_args()
    cases = [
        ((cfg, w, None, 1.0), TypeError, "Bias b must be an array of real numbers, not None"),
        ((cfg, w, np.zeros(5), 1.0), ValueError,
         "Bias b must have one entry per output (shape (4,), as w (4, 32) has), not shape (5,)"),
        ((cfg, w, np.zeros((4, 1)), 1.0), ValueError,
         "Bias b must have 1 axis, not shape (4, 1)"),
        ((cfg, np.where(w > 1, np.nan, w), b, 1.0), ValueError,
         "Weights w must not hold NaN or Inf, not nan"),
        ((cfg, np.full((4, 32), np.inf, np.float32), b, 1.0), ValueError,
         "Weights w must not hold NaN or Inf, not inf"),
        ((cfg, w[0], b, 1.0), ValueError, "Weights w must have 2 axes, not shape (32,)"),
        ((E4, w, b, 1.0), TypeError, "cfg must be an exmy.evaluate.Config, not 'e4m3fn'"),
    ]
    for args, exc, msg in cases:
        with pytest.raises(exc, match=_exact(msg)):
            LinearUnit(*args)


def test_linear_unit_activations():
    """NaN activations raised IndexError (index 8252 out of bounds for the 256 codes) for a
    float format; a 1-D x IndexError; a 3-D x ran. Inf still saturates, as before."""
    from exmy.evaluate import LinearUnit

    cfg, w, b, x = _unit_args()
    u = LinearUnit(cfg, w, b, 3.0)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=_exact("Activations x must not hold NaN, not nan")):
        u(bad)
    for shape in ((32,), (1, 3, 32), (3, 31)):
        msg = f"Activations x must be a (T, K) array with w's K = 32, not shape {shape}"
        with pytest.raises(ValueError, match=_exact(msg)):
            u(np.zeros(shape, np.float32))
    big = x.copy()
    big[0, 0] = np.inf
    sat = x.copy()
    sat[0, 0] = 1e30
    assert np.array_equal(u(big), u(sat))


def test_evaluator_model_type():
    """``Evaluator(4, model="x")`` raised AttributeError ('str' object has no attribute
    'tokenize')."""
    from exmy.evaluate.run import Evaluator

    msg = "model must be an exmy.evaluate.MiniLM (load_model()) or None, not 'x'"
    with pytest.raises(TypeError, match=_exact(msg)):
        Evaluator(4, model="x")


def test_codec_width_limit():
    """``codec("float32")`` raised MemoryError (it tabulates every code: 2**32 of them, 32
    GiB); the limit is Config's 16 bits."""
    from exmy.evaluate.units import codec

    msg = ("A codec tabulates every code of its format: formats of at most 16 bits, not float32 "
           "(32 bits)")
    with pytest.raises(ValueError, match=_exact(msg)):
        codec("float32")
    assert codec("bfloat16").values.size == 1 << 16


@pytest.mark.parametrize("a, exc, msg", [
    # None: IndexError (0-dimensional); a length mismatch: numpy's broadcasting error; NaN was
    # ranked last (-0.5 here) and a (3, 1) array ranked along the wrong axis
    (None, TypeError, "spearman's a must be an array of real numbers, not None"),
    (np.array([1.0, 2.0]), ValueError, "spearman's a and b must have one length, not 2 and 3"),
    (np.array([np.nan, 1.0, 2.0]), ValueError, "spearman's a must not hold NaN, not nan"),
    (np.ones((3, 1)), ValueError, "spearman's a must have 1 axis, not shape (3, 1)"),
])
def test_spearman_arguments(a, exc, msg):
    from exmy.evaluate.run import spearman

    with pytest.raises(exc, match=_exact(msg)):
        spearman(a, np.array([1.0, 2.0, 3.0]))
    assert spearman([3, 1, 2], np.array([1.0, 2.0, 3.0])) == -0.5


# -- synth --------------------------------------------------------------------------------------
def test_costmodel_points_reads_through_the_sweep_file_checks(tmp_path):
    """``costmodel_points(path)`` opened ``path`` itself: an int was taken as a file
    descriptor (``costmodel_points(1)`` read and then closed standard output), a folder gave
    IsADirectoryError, bad TOML a TOMLDecodeError that does not name the file. It now reads
    through read_sweep_file, as load_sweep does; a path and a spec together are refused (the
    path was ignored)."""
    from exmy.synth.costmodel import costmodel_points

    with pytest.raises(TypeError, match=_exact("Sweep file must be a file name (a str or a "
                                               "path), not 987654")):
        costmodel_points(987654)
    with pytest.raises(ValueError, match=_exact(f"Sweep file {tmp_path} is a folder; give a "
                                                f"TOML file")):
        costmodel_points(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[[")
    with pytest.raises(ValueError, match=f"^Sweep file {re.escape(str(bad))} is not valid TOML"):
        costmodel_points(bad)
    with pytest.raises(ValueError, match="^costmodel_points takes a sweep file or a parsed spec, "
                                         "not both"):
        costmodel_points(bad, spec={})


@pytest.mark.parametrize("kw", [{"progress": "no"}, {"progress": None},
                                {"retry_failed": "no"}, {"retry_failed": 1}])
def test_run_sweep_bool_options(tmp_path, kw):
    """``run_sweep(..., progress="no")`` printed the progress bar and ``retry_failed="no"``
    reran the failed points: both were read for their truth value."""
    from exmy.synth import run_sweep

    (name, value), = kw.items()
    with pytest.raises(TypeError, match=_exact(f"{name} must be a bool, not {value!r}")):
        run_sweep([], tmp_path / "r.sqlite", **{"progress": False, **kw})


@pytest.mark.parametrize("kw, exc, msg", [
    # depth=0 / dots=0 returned inf dB; -1 numpy's "negative dimensions are not allowed";
    # seed=-1 numpy's "expected non-negative integer"; seed=True ran as seed 1
    ({"depth": 0}, ValueError, "Depth must be an integer >= 1, not 0"),
    ({"dots": 0}, ValueError, "Dot count must be an integer >= 1, not 0"),
    ({"dots": -1}, ValueError, "Dot count must be an integer >= 1, not -1"),
    ({"depth": 1.5}, TypeError, "Depth must be an integer, not 1.5"),
    ({"seed": -1}, ValueError, "Seed must be an integer >= 0, not -1"),
    ({"seed": True}, TypeError, "Seed must be an integer, not True"),
])
def test_dot_error_options(kw, exc, msg):
    from exmy.synth.costmodel import dot_error

    with pytest.raises(exc, match=_exact(msg)):
        dot_error(E4, **{"depth": 16, "dots": 2, **kw})


def test_format_error_seed():
    from exmy.synth.costmodel import format_error

    with pytest.raises(ValueError, match=_exact("Seed must be an integer >= 0, not -1")):
        format_error(E4, n=100, seed=-1)


def test_report_folder(tmp_path):
    """``write_report(db, out_dir)`` with a file for ``out_dir`` raised FileExistsError from
    pathlib, ``None`` pathlib's TypeError, and ``""`` wrote the report into the current
    folder."""
    from exmy.synth import ResultsDB, write_report

    db = tmp_path / "r.sqlite"
    ResultsDB(db).close()
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match=_exact(f"Report folder {f} is a file, not a folder; "
                                                f"give a folder name")):
        write_report(db, f)
    with pytest.raises(ValueError, match=_exact("Report folder needs a folder name, not an "
                                                "empty string")):
        write_report(db, "")
    with pytest.raises(TypeError, match=_exact("Report folder must be a folder name (a str or "
                                               "a path), not None")):
        write_report(db, None)
    assert write_report(db, tmp_path / "rep")["tables"][0] == str(tmp_path / "rep" /
                                                                  "records.csv")


def test_synthesize_work_folder(tmp_path):
    """``synthesize(..., workdir=<a file>)`` raised FileExistsError from pathlib; ``workdir=""``
    put the tool files in the current folder."""
    from exmy.synth import synthesize

    need_synth_tools(["yosys"])
    ports = {"a": {"dir": "in", "width": 2}, "y": {"dir": "out", "width": 2}}
    v = "module m(input [1:0] a, output [1:0] y); assign y = a; endmodule"
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ValueError, match=_exact(f"Work folder {f} is a file, not a folder; give "
                                                f"a folder name")):
        synthesize(v, "m", ports, "generic", workdir=f)
    with pytest.raises(ValueError, match=_exact("Work folder needs a folder name, not an empty "
                                                "string")):
        synthesize(v, "m", ports, "generic", workdir="")


@pytest.mark.parametrize("a, exc, msg", [
    # before: "object of type 'int' has no len()" and "len() of unsized object" from the
    # length check, and a 2-D array was "not <class 'numpy.ndarray'>"
    (5, TypeError, "Input 'a' must be a 1-D numpy array, not <class 'int'>"),
    (np.array(3, np.uint8), ValueError,
     "Input 'a' must be a 1-D numpy array, not an array of shape ()"),
    (np.zeros((2, 2), np.uint8), ValueError,
     "Input 'a' must be a 1-D numpy array, not an array of shape (2, 2)"),
])
def test_run_vectors_input_shapes(a, exc, msg, tmp_path):
    from exmy.hdl.registry import build_verilog
    from exmy.sim import run_vectors

    v, top, ports = build_verilog("multiplier", {"a": "e2m1fn"})
    with pytest.raises(exc, match=_exact(msg)):
        run_vectors(v, top, ports, {"a": a, "b": np.zeros(2, np.uint8)}, ["y"], 0, "icarus",
                    tmp_path)


def test_compare_limit_type():
    """``compare(..., limit=True)`` was a ValueError; a wrong type is a TypeError."""
    from exmy.sim import compare

    y = {"y": np.zeros(2, np.uint8)}
    with pytest.raises(TypeError, match=_exact("Limit must be a non-negative integer, not True")):
        compare(y, y, limit=True)


def test_accuracy_report_folder(tmp_path):
    """``accuracy_cost_report(rows, points, <a file>)`` raised FileExistsError from pathlib, and
    ``""`` wrote the report into the current folder."""
    from exmy.evaluate.report import accuracy_cost_report

    f = tmp_path / "a_file"
    f.write_text("")
    with pytest.raises(ValueError, match=_exact(f"Report folder {f} is a file, not a folder; "
                                                f"give a folder name")):
        accuracy_cost_report([], [], f)
    with pytest.raises(ValueError, match=_exact("Report folder needs a folder name, not an empty "
                                                "string")):
        accuracy_cost_report([], [], "")
