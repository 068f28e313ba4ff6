"""exmy.sim: stimulus, and simulation runners that know nothing about arithmetic.

:func:`run_vectors` applies N input vectors to a design, one per clock cycle, on Icarus,
Verilator (generated Verilog, vector files, started by cocotb) or the Amaranth simulator, and
returns what the outputs showed; :func:`compare` lists the mismatches against expected values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from exmy.golden.params import plain_scalar

from .tools import SIMULATORS, ToolNotFoundError, have_simulator, lint_verilog, require_simulator

__all__ = [
    "run_vectors",
    "compare",
    "lint_verilog",
    "ToolNotFoundError",
    "SIMULATORS",
    "have_simulator",
    "require_simulator",
]


def _check_args(verilog, top, ports, inputs, outputs, latency, simulator, component) -> int:
    if simulator not in SIMULATORS:
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if simulator == "amaranth":
        from amaranth.lib import wiring

        if not isinstance(component, wiring.Component) and not callable(component):
            raise TypeError(
                f"Simulator 'amaranth' needs the Amaranth component (or a factory making one), "
                f"not {component!r}"
            )
    else:
        if not isinstance(verilog, str):
            raise TypeError(f"Verilog must be a string, not {verilog!r}")
        if not isinstance(top, str):
            raise TypeError(f"Top module name must be a string, not {top!r}")
    if not isinstance(ports, dict):
        raise TypeError(f"Ports must be a dict from port_table(), not {ports!r}")
    if not isinstance(latency, int) or isinstance(latency, bool):
        raise TypeError(f"Latency must be an integer, not {latency!r}")
    if latency < 0:
        raise ValueError(f"Latency must be >= 0, not {latency}")
    if latency > 0 and "clk" not in ports:
        raise ValueError(f"Latency {latency} needs a clocked design, but the ports have no clk")
    if not isinstance(inputs, dict):
        raise TypeError(f"Inputs must be a dict of arrays, not {inputs!r}")
    want = [p for p, d in ports.items() if d["dir"] == "in" and p not in ("clk", "rst")]
    if sorted(inputs) != sorted(want):
        raise ValueError(f"Inputs must have one array per input port {want}, not {sorted(inputs)}")
    if isinstance(outputs, str) or not isinstance(outputs, (list, tuple)):
        raise TypeError(f"Outputs must be a list of port names, not {outputs!r}")
    for o in outputs:
        if o not in ports or ports[o]["dir"] != "out":
            outs = [p for p, d in ports.items() if d["dir"] == "out"]
            raise ValueError(f"Output {o!r} is not an output port; output ports are {outs}")
    if len(set(outputs)) != len(outputs):
        raise ValueError(f"Outputs must not repeat a port, not {list(outputs)}")
    for name, values in inputs.items():  # (a 0-d array or a scalar has no length)
        if not isinstance(values, np.ndarray):
            raise TypeError(f"Input {name!r} must be a 1-D numpy array, not {type(values)}")
        if values.ndim != 1:
            raise ValueError(f"Input {name!r} must be a 1-D numpy array, not an array of shape "
                             f"{values.shape}")
    lengths = {name: len(v) for name, v in inputs.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Input arrays must all have the same length, not {lengths}")
    for name, values in inputs.items():
        width = ports[name]["width"]
        if values.dtype == object:
            bad = [v for v in values if not isinstance(v, (int, np.integer)) or v < 0 or v >> width]
            if bad:
                raise ValueError(
                    f"Input {name!r} values must be integers in 0..2**{width}-1, not {bad[0]!r}"
                )
        elif values.dtype.kind in "ui":
            if len(values) and values.dtype.kind == "i" and values.min() < 0:
                raise ValueError(
                    f"Input {name!r} values must be in 0..2**{width}-1, not {int(values.min())}"
                )
            if len(values) and width < 64 and int(values.max()) >> width:
                raise ValueError(
                    f"Input {name!r} values must be in 0..2**{width}-1, not {int(values.max())}"
                )
        else:
            raise TypeError(
                f"Input {name!r} must be an unsigned integer or object array, not {values.dtype}"
            )
    return next(iter(lengths.values())) if lengths else 0


def run_vectors(
    verilog: str | None,
    top: str | None,
    ports: dict[str, dict],
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    latency: int,
    simulator: str,
    build_dir: Path,
    component=None,
    *,
    timings: dict | None = None,
    lanes: int | None = None,
) -> dict[str, np.ndarray]:
    """Apply N input vectors, one per clock cycle, and return the outputs each one produced.

    Vector ``i`` is applied in cycle ``i``: for a clocked design, after reset, inputs change
    right after rising edge ``i`` and the outputs are read ``latency`` edges later (just before
    edge ``i + 1 + latency``), so the same call checks pipelined units and stateful ones (a MAC
    fed a stream, checked every cycle; with latency 0 its outputs are read before the next
    edge). A design without ``clk`` is combinational: apply, settle, read.

    Parameters
    ----------
    verilog, top : str
        The DUT's Verilog and top module name (``exmy.hdl.verilog.to_verilog``); unused by the
        ``amaranth`` simulator.
    ports : dict
        ``exmy.hdl.verilog.port_table`` of the design.
    inputs : dict of numpy arrays
        One array of N values per input port except ``clk``/``rst``: unsigned integers, or
        Python-int object arrays for ports wider than 64 bits.
    outputs : list of str
        Output ports to record.
    latency : int
        Clock edges from applying a vector until the outputs show its result.
    simulator : {"icarus", "verilator", "amaranth"}
    build_dir : path
        One folder per DUT (a pytest ``tmp_path`` is fine); builds are reused within it.
    component : amaranth.lib.wiring.Component or callable, optional
        Needed for ``simulator="amaranth"``: the component, or a factory returning a fresh
        one each call (which enables ``lanes``).
    timings : dict, optional
        Filled with the seconds spent per phase (``build_s``, ``sim_s``...).
    lanes : int, optional
        Amaranth simulator with a factory only: run this many copies side by side, each fed
        every lanes-th vector (vectors must be independent: combinational or pipelined units,
        not stateful ones). Default: 64 for a design without ``clk`` given a factory, else 1.

    Returns
    -------
    dict of numpy arrays
        ``observed[o][i]`` is output ``o`` for vector ``i``: uint64, or Python ints (object)
        for outputs wider than 64 bits.

    Raises
    ------
    ToolNotFoundError
        If the simulator is not installed.
    exmy.sim.cocotb_runner.SimulationError
        If the build or the simulation fails.
    """
    latency, lanes = plain_scalar(latency), plain_scalar(lanes)  # numpy scalars count
    n = _check_args(verilog, top, ports, inputs, outputs, latency, simulator, component)
    if timings is not None and not isinstance(timings, dict):
        raise TypeError(f"Timings must be a dict (filled with the seconds per phase) or None, "
                        f"not {timings!r}")
    if n == 0:
        return {
            o: np.zeros(0, dtype=np.uint64 if ports[o]["width"] <= 64 else object) for o in outputs
        }
    if simulator == "amaranth":
        from .amaranth_runner import run_amaranth

        return run_amaranth(
            component, ports, inputs, list(outputs), latency, lanes=lanes, timings=timings
        )
    if lanes is not None:
        raise ValueError(f"Lanes are an Amaranth-simulator option, not for {simulator!r}")
    if not isinstance(build_dir, (str, os.PathLike)):
        raise TypeError(f"The {simulator} simulator needs a build folder (build_dir: a str or a "
                        f"path), not {build_dir!r}")
    from .cocotb_runner import run_cocotb

    return run_cocotb(
        verilog,
        top,
        ports,
        inputs,
        list(outputs),
        latency,
        simulator,
        Path(build_dir),
        timings=timings,
    )


def _bit_patterns(values, what: str) -> np.ndarray:
    """``values`` as an array of bit patterns: unsigned or non-negative integers (Python ints
    in an object array for ports over 64 bits); a float or a negative value is refused, not
    truncated or wrapped."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"The {what} values must be a 1-D array, not {arr.ndim}-D")
    if arr.dtype == object:
        bad = [v for v in arr if isinstance(v, bool) or not isinstance(v, (int, np.integer))
               or v < 0]
        if bad:
            raise ValueError(f"The {what} values must be non-negative integers (bit patterns), "
                             f"not {bad[0]!r}")
    elif arr.dtype.kind == "i":
        if len(arr) and arr.min() < 0:
            raise ValueError(f"The {what} values must be non-negative integers (bit patterns), "
                             f"not {int(arr.min())}")
    elif arr.dtype.kind != "u":
        raise TypeError(f"The {what} values must be integers (bit patterns), not {arr.dtype}")
    return arr


def compare(
    observed: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    describe: Callable[[int], str] | None = None,
    limit: int = 20,
) -> list[str]:
    """Mismatches between observed and expected outputs, one line per failing vector.

    Every port in ``expected`` is compared (bit patterns, as integers). ``describe(i)`` is the
    caller's description of vector ``i`` (hex and decoded operands, parameter point); at most
    ``limit`` lines are made, plus a final count line when more vectors fail.
    """
    if not isinstance(expected, dict) or not isinstance(observed, dict):
        raise TypeError("Observed and expected must be dicts of arrays")
    limit = plain_scalar(limit)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"Limit must be a non-negative integer, not {limit!r}")
    if describe is not None and not callable(describe):
        raise TypeError(f"describe must be a function of the vector index (i -> str) or None, "
                        f"not {describe!r}")
    if limit < 0:
        raise ValueError(f"Limit must be a non-negative integer, not {limit!r}")
    missing = sorted(set(expected) - set(observed))
    if missing:
        raise ValueError(f"Observed outputs lack {missing}; observed has {sorted(observed)}")
    observed = {k: _bit_patterns(observed[k], f"observed {k!r}") for k in expected}
    expected = {k: _bit_patterns(v, f"expected {k!r}") for k, v in expected.items()}
    bad = None
    n = None
    for name, exp in expected.items():
        obs = observed[name]
        if len(obs) != len(exp):
            raise ValueError(f"Output {name!r}: {len(obs)} observed values but {len(exp)} expected")
        n = len(exp)
        if obs.dtype == object or np.asarray(exp).dtype == object:
            diff = np.array([int(a) != int(b) for a, b in zip(obs, exp, strict=True)], dtype=bool)
        else:
            diff = obs.astype(np.uint64) != np.asarray(exp).astype(np.uint64)
        bad = diff if bad is None else (bad | diff)
    if bad is None or not bad.any():
        return []
    idx = np.nonzero(bad)[0]
    lines = []
    for i in idx[:limit]:
        i = int(i)
        got = ", ".join(
            f"{name}=0x{int(observed[name][i]):x} (expected 0x{int(expected[name][i]):x})"
            for name in expected
            if int(observed[name][i]) != int(expected[name][i])
        )
        where = describe(i) if describe is not None else f"vector {i}"
        lines.append(f"{where}: {got}")
    if len(idx) > limit:
        lines.append(f"... {len(idx)} of {n} vectors mismatch")
    return lines
