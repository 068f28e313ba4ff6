"""An eleventh probe, of the Python API: each unit's constructor with numpy scalars for its
parameters (``latency=np.int64(2)``, as from ``np.arange``). ``registry.build`` and the
sweeps took them (``plain_scalar``), the constructors refused them: "Latency must be a
non-negative integer, not np.int64(2)". The constructors' tests fail on the code before the
probe; so do those of synthesize, run_vectors, compare and prove. Also here: the report plot
whose figure title ran into its first panel's title."""

from __future__ import annotations

import numpy as np
import pytest

from exmy.hdl.convert import Convert
from exmy.hdl.dot import Dot, MXDot
from exmy.hdl.fma import FMA, ApproxFMA
from exmy.hdl.lmul import LMul
from exmy.hdl.mac import MAC, IntMAC
from exmy.hdl.multiplier import IntMultiplier, Multiplier
from exmy.hdl.verilog import to_verilog

# (constructor, positional arguments, keyword arguments): the numbers are numpy scalars
_POINTS = [
    (Convert, ("bfloat16", "e4m3fn"), {"latency": np.int64(1), "saturate": np.True_}),
    (Multiplier, ("e4m3fn", "e4m3fn", "e4m3fn"), {"target": "ecp5", "fmax": np.float64(150)}),
    (IntMultiplier, ("int4", "int4"), {"latency": np.uint8(1)}),
    (FMA, ("e4m3fn", "e4m3fn", "e4m3fn"), {"latency": np.int32(2)}),
    (ApproxFMA, ("e4m3fn", "e4m3fn", "e4m3fn"), {"granularity": np.int64(2)}),
    (LMul, ("e4m3fn",), {"latency": np.int16(1)}),
    (MAC, ("e2m1fn",), {"depth": np.int64(64), "latency": np.int64(1)}),
    (IntMAC, ("int4",), {"acc_bits": np.int64(12)}),
    (Dot, ("e2m1fn", None, np.int64(4)), {}),
    (MXDot, ("e2m1fn", None, np.int64(16)), {"depth": np.int64(8), "accumulate": np.True_}),
]


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


@pytest.mark.parametrize("ctor, args, kw", _POINTS, ids=[p[0].__name__ for p in _POINTS])
def test_numpy_scalars_build_what_python_values_build(ctor, args, kw):
    """The unit made from numpy scalars is the unit made from the Python values they hold:
    the same module name, latency and Verilog, byte for byte."""
    u = ctor(*args, **kw)
    p = ctor(*map(_plain, args), **{k: _plain(v) for k, v in kw.items()})
    assert (u.module_name, u.latency, u.params) == (p.module_name, p.latency, p.params)
    assert to_verilog(u, u.module_name) == to_verilog(p, p.module_name)


@pytest.mark.parametrize("bad, msg", [
    ({"latency": np.True_}, "Latency must be a non-negative integer, not True"),
    ({"latency": np.float64(2.0)}, "Latency must be a non-negative integer, not 2.0"),
    ({"latency": np.array([2])}, "Latency must be a non-negative integer, not array([2])"),
], ids=["bool", "float", "array"])
def test_numpy_values_that_are_no_latency_are_still_refused(bad, msg):
    """Control: a numpy bool, float or array is no latency, as their Python twins are not."""
    with pytest.raises(TypeError) as e:
        Multiplier("e4m3fn", "e4m3fn", "e4m3fn", **bad)
    assert str(e.value) == msg


def test_synthesize_takes_numpy_scalars(tmp_path):
    """``synthesize(..., seed=np.int64(2))`` was "Seed must be an integer, not np.int64(2)"
    (and ``freq_mhz=np.float32(...)``, ``dsp=np.False_`` the same). It now runs the design
    the Python values run: the same flow key, and a record that JSON can write."""
    import json

    from exmy.hdl.registry import build_verilog
    from exmy.synth import synthesize
    from exmy.synth.flow import flow_settings

    kw = {"freq_mhz": np.float32(120), "seed": np.int64(2), "dsp": np.False_,
          "register_io": np.True_, "widelut": np.True_}
    assert flow_settings("ice40", **kw) == flow_settings("ice40", **{
        k: v.item() for k, v in kw.items()})
    verilog, top, ports = build_verilog("lmul", {"a": "e2m1fn"})
    rec = synthesize(verilog, top, ports, "ice40", **kw)
    want = synthesize(verilog, top, ports, "ice40", **{k: v.item() for k, v in kw.items()})
    assert rec["status"] == "ok" and rec["flow_key"] == want["flow_key"]
    assert (rec["seed"], rec["freq_mhz"], rec["register_io"]) == (2, 120.0, True)
    json.dumps(rec)


def test_simulation_and_proof_take_numpy_scalars(prove_tools, tmp_path):
    """``run_vectors(..., latency=np.int64(1), ...)`` was "Latency must be an integer",
    ``compare(..., limit=np.int64(3))`` "Limit must be a non-negative integer" and
    ``prove(..., depth=np.int64(4))`` "Proof depth must be a positive integer". They now run
    as with the Python values: the simulation gives the golden model's outputs, the proof
    passes."""
    from exmy.golden import lmul
    from exmy.hdl.verilog import port_table
    from exmy.sim import compare, run_vectors
    from exmy.synth.prove import prove

    u = LMul("e2m1fn", latency=1)
    verilog = to_verilog(u, u.module_name)
    a, b = (x.ravel().astype(np.uint64) for x in np.meshgrid(np.arange(16), np.arange(16)))
    got = run_vectors(verilog, u.module_name, port_table(u, verilog), {"a": a, "b": b}, ["y"],
                      np.int64(1), "icarus", tmp_path / "sim")
    want = {"y": lmul(a, b, "e2m1fn")}
    assert compare(got, want, limit=np.int64(3)) == []
    assert len(compare({"y": got["y"] ^ np.uint64(1)}, want, limit=np.int64(3))) == 4
    res = prove(u, LMul("e2m1fn"), tmp_path / "proof", depth=np.int64(4),
                timeout=np.float64(120))
    assert res.status == "PASS", res.line()


@pytest.mark.parametrize("panels", [1, 2, 5])
def test_report_plot_title_clears_the_first_panel(panels, tmp_path, monkeypatch):
    """``exmy report``'s plot of five panels (five units in the database) drew the figure's
    title ("LUTs vs bit width, ecp5") over the first panel's title: ``tight_layout`` left no
    room for the suptitle in a tall figure. The two boxes are now apart at every height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exmy.synth import report

    rows = [{"unit": u, "target": "ecp5", "lut": 100 + i, "bits": 8, "dsp_enabled": False,
             "_params": {"a": "e4m3"}}
            for i, u in enumerate(["lmul", "fma", "mac", "multiplier", "dot"][:panels])]
    figs = []
    monkeypatch.setattr(plt, "close", figs.append)
    assert report._plot(rows, "ecp5", "lut", "LUTs", tmp_path / "lut.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    sup = fig._suptitle.get_window_extent(renderer)
    first = fig.axes[0].title.get_window_extent(renderer)
    assert sup.y0 >= first.y1, (sup, first)
