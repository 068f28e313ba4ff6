"""Checking a unit's hardware against the golden model: stimulus per unit, expected values
from ``exmy.golden``, simulation through ``run_vectors``, a bit-exact comparison.

No arithmetic lives here: expected values come from the golden functions, stimulus from
``exmy.sim.vectors`` (encodings, never values). Each unit registers an ``Adapter`` that says
how to make its stimulus and which golden function gives its expected outputs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exmy import golden
from exmy.golden.format import FloatFormat
from exmy.hdl.verilog import port_table, to_verilog

from . import compare, run_vectors
from . import vectors as V

__all__ = ["Adapter", "ADAPTERS", "register_adapter", "CheckResult", "check", "stimulus_for"]

#: inputs of at most this many bits in total are checked exhaustively by default
EXHAUSTIVE_BITS = 16


@dataclass
class Adapter:
    """How to check one unit: ``stimulus(comp, mode, n, rng) -> inputs``,
    ``expected(comp, inputs) -> outputs``, ``describe(comp, inputs, i) -> str``."""

    stimulus: Callable
    expected: Callable
    describe: Callable
    outputs: tuple[str, ...] = ("y",)


ADAPTERS: dict[str, Adapter] = {}


def register_adapter(unit: str, adapter: Adapter) -> None:
    ADAPTERS[unit] = adapter


@dataclass
class CheckResult:
    unit: str
    module: str
    simulator: str
    vectors: int
    mismatches: list[str] = field(default_factory=list)
    exhaustive: bool = False
    build_s: float = 0.0
    sim_s: float = 0.0
    total_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def vectors_per_s(self) -> float:
        return self.vectors / self.sim_s if self.sim_s > 0 else float("nan")

    mismatch_count: int = 0

    def summary(self) -> str:
        kind = "exhaustive" if self.exhaustive else "sampled"
        return (
            f"{self.module} on {self.simulator}: {self.vectors} vectors ({kind}), "
            f"{self.mismatch_count} mismatches, {self.vectors_per_s:,.0f} vectors/s "
            f"(simulation {self.sim_s:.2f} s, build {self.build_s:.2f} s)"
        )


def _rand_port(comp, n, rng):
    if getattr(comp, "rounding", None) == "stochastic":
        return rng.integers(0, 1 << comp.rand_bits, n, dtype=np.uint64)
    return None


def _float_operand_pool(fmt, n, rng, around=None) -> np.ndarray:
    """Encodings of ``fmt`` for sampled checks: corners, biased and uniform random, and (for
    a conversion into ``around``) the codes at and next to every rounding boundary."""
    parts = [V.corners(fmt)]
    if around is not None:
        parts.append(V.boundaries(fmt, around))
    rest = max(n - sum(len(p) for p in parts), 0)
    parts.append(V.biased(fmt, rest // 2, rng))
    parts.append(V.uniform(fmt, rest - rest // 2, rng))
    return np.concatenate(parts).astype(np.uint64)


def _operands(fmts, mode, n, rng):
    """Tuple of operand arrays: exhaustive when the space is small, else corner crosses plus
    biased and uniform random."""
    total_bits = sum(f.width for f in fmts)
    if mode == "exhaustive" or (mode == "auto" and total_bits <= EXHAUSTIVE_BITS):
        if total_bits > 26:
            raise ValueError(
                f"Exhaustive checking of {total_bits} input bits is too large (max 26 bits)"
            )
        return V.exhaustive(*fmts), True
    cols = []
    corner_cross = V.exhaustive_of([V.corners(f) for f in fmts])
    k = len(corner_cross[0])
    for j, f in enumerate(fmts):
        rest = max(n - k, 0)
        parts = [corner_cross[j]]
        if isinstance(f, FloatFormat):
            parts.append(V.biased(f, rest // 2, rng))
            parts.append(V.uniform(f, rest - rest // 2, rng))
        else:
            parts.append(V.uniform(f, rest, rng))
        cols.append(np.concatenate(parts).astype(np.uint64))
    return tuple(cols), False


# -- convert --------------------------------------------------------------------------------
def _convert_stimulus(comp, mode, n, rng):
    fi = comp.fmt_in
    if mode == "exhaustive" or (mode == "auto" and fi.width <= EXHAUSTIVE_BITS):
        (a,), full = V.exhaustive(fi), True
    else:
        around = comp.fmt_out if isinstance(fi, FloatFormat) else None
        if isinstance(fi, FloatFormat):
            a = _float_operand_pool(fi, n, rng, around=around)
        else:
            a = np.concatenate([V.corners(fi), V.uniform(fi, n, rng)]).astype(np.uint64)
        full = False
    inputs = {"a": a}
    r = _rand_port(comp, len(a), rng)
    if r is not None:
        inputs["rand"] = r
    return inputs, full


def _convert_expected(comp, inputs):
    return {
        "y": golden.convert(
            inputs["a"], comp.fmt_in, comp.fmt_out, rounding=comp.rounding,
            saturate=comp.saturate, rand=inputs.get("rand"), rand_bits=comp.rand_bits,
        )
    }


def _convert_describe(comp, inputs, i):
    s = f"a={golden.describe(inputs['a'][i], comp.fmt_in)}"
    if "rand" in inputs:
        s += f" rand=0x{int(inputs['rand'][i]):x}"
    return s


register_adapter(
    "convert", Adapter(_convert_stimulus, _convert_expected, _convert_describe)
)


# -- multiplier -------------------------------------------------------------------------------
def _mul_stimulus(comp, mode, n, rng):
    (a, b), full = _operands((comp.fmt_a, comp.fmt_b), mode, n, rng)
    inputs = {"a": a, "b": b}
    r = _rand_port(comp, len(a), rng)
    if r is not None:
        inputs["rand"] = r
    return inputs, full


def _mul_expected(comp, inputs):
    return {
        "y": golden.multiply(
            inputs["a"], inputs["b"], comp.fmt_a, comp.fmt_b,
            None if comp.exact else comp.fmt_out, rounding=comp.rounding,
            saturate=comp.saturate, rand=inputs.get("rand"), rand_bits=comp.rand_bits,
        )
    }


def _two_operand_describe(comp, inputs, i):
    s = (
        f"a={golden.describe(inputs['a'][i], comp.fmt_a)} "
        f"b={golden.describe(inputs['b'][i], comp.fmt_b)}"
    )
    if "rand" in inputs:
        s += f" rand=0x{int(inputs['rand'][i]):x}"
    return s


register_adapter("multiplier", Adapter(_mul_stimulus, _mul_expected, _two_operand_describe))


def _imul_expected(comp, inputs):
    return {"y": golden.int_multiply(inputs["a"], inputs["b"], comp.fmt_a, comp.fmt_b)}


register_adapter(
    "int-multiplier", Adapter(_mul_stimulus, _imul_expected, _two_operand_describe)
)


#: modules whose import registers adapters for later units (each calls ``register_adapter``)
ADAPTER_MODULES = ["exmy.sim.check_mac", "exmy.sim.check_fma", "exmy.sim.check_lmul",
                   "exmy.sim.check_dot"]


def _load_adapters() -> None:
    import importlib

    for name in ADAPTER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


# -- the check ------------------------------------------------------------------------------
def stimulus_for(comp, mode="auto", n=100_000, seed=0):
    """``(inputs, exhaustive)`` the check would use for ``comp``."""
    _load_adapters()
    if comp.unit not in ADAPTERS:
        raise ValueError(f"No simulation check is defined for unit {comp.unit!r}")
    if mode not in ("auto", "exhaustive", "random"):
        raise ValueError(f"Stimulus mode must be auto, exhaustive or random, not {mode!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Number of vectors must be a positive integer, not {n!r}")
    rng = np.random.default_rng(seed)
    return ADAPTERS[comp.unit].stimulus(comp, mode, n, rng)


def check(
    comp,
    simulator: str = "icarus",
    *,
    mode: str = "auto",
    n: int = 100_000,
    seed: int = 0,
    build_dir: Path | None = None,
    verilog: str | None = None,
    inputs: dict | None = None,
) -> CheckResult:
    """Simulate ``comp`` (an exmy unit) and compare every output bit with the golden model.

    ``mode``: ``auto`` (exhaustive when the inputs total at most 16 bits, else ``n`` sampled
    vectors: corners, biased and uniform random), ``exhaustive`` or ``random``. Mismatch lines
    show hex and decoded inputs and the module name (the parameter point).
    """
    _load_adapters()
    adapter = ADAPTERS.get(comp.unit)
    if adapter is None:
        raise ValueError(f"No simulation check is defined for unit {comp.unit!r}")
    t0 = time.perf_counter()
    top = comp.module_name
    if inputs is None:
        inputs, full = stimulus_for(comp, mode, n, seed)
    else:
        full = False
    expected = adapter.expected(comp, inputs)
    outputs = list(adapter.outputs)
    if simulator == "amaranth":
        ports = port_table(comp, to_verilog(comp, top) if verilog is None else verilog)
    else:
        verilog = verilog if verilog is not None else to_verilog(comp, top)
        ports = port_table(comp, verilog)
    timings: dict = {}
    with tempfile.TemporaryDirectory(prefix="exmy-sim-") as tmp:
        bdir = Path(build_dir) if build_dir is not None else Path(tmp)
        observed = run_vectors(
            verilog, top, ports, inputs, outputs, comp.latency, simulator, bdir,
            component=comp, timings=timings,
        )
    lines = compare(
        observed, {o: expected[o] for o in outputs},
        describe=lambda i: f"[{top}] vector {i}: {adapter.describe(comp, inputs, i)}",
    )
    count = 0
    if lines:
        diff = np.zeros(len(next(iter(inputs.values()))), dtype=bool)
        for o in outputs:
            diff |= np.array([int(x) != int(y) for x, y in zip(observed[o], expected[o],
                                                                strict=True)])
        count = int(diff.sum())
    n_vec = len(next(iter(inputs.values())))
    res = CheckResult(
        comp.unit, top, simulator, n_vec, lines, full,
        build_s=timings.get("build_s", 0.0), sim_s=timings.get("sim_s", 0.0),
        total_s=time.perf_counter() - t0,
    )
    res.mismatch_count = count
    return res
