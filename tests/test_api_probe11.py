"""An eleventh probe, of the Python API: each unit's constructor with numpy scalars for its
parameters (``latency=np.int64(2)``, as from ``np.arange``). ``registry.build`` and the
sweeps took them (``plain_scalar``), the constructors refused them: "Latency must be a
non-negative integer, not np.int64(2)". The constructors' tests fail on the code before the
probe."""

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
