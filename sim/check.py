"""Checking a unit's hardware against the golden model: stimulus per unit, expected values
from ``exmy.golden``, simulation through ``run_vectors``, a bit-exact comparison.

No arithmetic lives here: expected values come from the golden functions, stimulus from
``exmy.sim.vectors`` (encodings, never values). Each unit registers an ``Adapter`` that says
how to make its stimulus and which golden function gives its expected outputs.

Any number of vectors runs in bounded memory: :func:`check` makes, simulates and compares
them in batches of :data:`BATCH` (one simulator run each; a stateful unit starts each batch
from reset, in the hardware and in the golden model alike). The first batch is the unit's
stimulus for ``min(n, BATCH)`` vectors (its corner and edge sets included); later batches
are random vectors from the adapter's ``more``. A :class:`Coverage` says exactly what ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exmy import golden
from exmy.golden.format import FloatFormat
from exmy.hdl.verilog import port_table, to_verilog

from . import compare, run_vectors
from . import vectors as V

__all__ = ["Adapter", "VariableOutputsAdapter", "ADAPTERS", "register_adapter", "CheckResult",
           "check", "stimulus_for", "Coverage", "CheckInterrupted", "BATCH", "MAX_SEED"]

#: inputs of at most this many bits in total are checked exhaustively by default
EXHAUSTIVE_BITS = 16
#: vectors of exmy's own stimulus when ``check`` is given no ``n``
DEFAULT_VECTORS = 100_000

#: vectors per simulator run: one batch's stimulus, expected and observed values are all that
#: is held in memory, whatever the number of vectors
BATCH = 1 << 20


@dataclass(frozen=True)
class Coverage:
    """What a stimulus holds: ``parts``, ``(label, count)`` in stimulus order (``corner``,
    ``random``, ...), and whether it is every input combination (``bool(coverage)``)."""

    parts: tuple[tuple[str, int], ...]
    exhaustive: bool = False

    def __bool__(self) -> bool:
        return self.exhaustive

    @property
    def total(self) -> int:
        return sum(c for _, c in self.parts)

    def __add__(self, other: Coverage) -> Coverage:
        counts: dict[str, int] = dict(self.parts)
        for label, c in other.parts:
            counts[label] = counts.get(label, 0) + c
        return Coverage(tuple(counts.items()), self.exhaustive and other.exhaustive)

    def describe(self) -> str:
        """``65,536 vectors (exhaustive)`` or ``1,054,872 vectors (1,000,000 random + 54,872
        corner-cube)``."""
        count = f"{self.total:,} vector{'' if self.total == 1 else 's'}"
        if self.exhaustive:
            return f"{count} (exhaustive: every input combination)"
        parts = [(label, c) for label, c in self.parts if c]
        if len(parts) == 1:
            return f"{count} ({parts[0][0]})"
        return f"{count} ({' + '.join(f'{c:,} {lb}' for lb, c in parts)})"


def _coverage(full, n: int) -> Coverage:
    """An adapter's second return value as a Coverage (older adapters return a bool)."""
    if isinstance(full, Coverage):
        if full.total != n:
            raise RuntimeError(f"Stimulus coverage counts {full.total} vectors but the stimulus "
                               f"has {n} (a bug in the adapter)")
        return full
    return Coverage((("exhaustive" if full else "sampled", n),), bool(full))


@dataclass
class Adapter:
    """How to check one unit: ``stimulus(comp, mode, n, rng) -> (inputs, coverage)``,
    ``expected(comp, inputs) -> outputs``, ``describe(comp, inputs, i) -> str``.

    ``more(comp, m, rng) -> inputs``, optional: ``m`` further random vectors (the random part
    of ``stimulus``), for the batches after the first. ``fixed_in_n``: the stimulus's corner
    and edge sets count towards ``n`` (False: ``n`` random vectors come on top of them).
    """

    stimulus: Callable
    expected: Callable
    describe: Callable
    outputs: tuple[str, ...] = ("y",)
    more: Callable | None = None
    fixed_in_n: bool = True


class VariableOutputsAdapter(Adapter):
    """An adapter whose compared outputs depend on the component (the MAC's flags exist only
    when a format has NaN/Inf, a dot product's ``acc`` only when it accumulates). ``check``
    reads ``adapter.outputs`` after calling ``expected(comp, inputs)``: so the subclass's
    ``expected`` stores the component's outputs in ``_current`` and ``outputs`` returns them."""

    _current: tuple[str, ...] = ("y",)

    @property
    def outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._current

    @outputs.setter
    def outputs(self, value) -> None:
        self._current = tuple(value)


ADAPTERS: dict[str, Adapter] = {}


def register_adapter(unit: str, adapter: Adapter) -> None:
    ADAPTERS[unit] = adapter


@dataclass
class CheckResult:
    """What :func:`check` ran and found. ``exhaustive``: every input combination was applied;
    ``coverage`` says exactly which vectors ran; ``mismatches`` holds at most 20 lines (and a
    count line), ``mismatch_count`` counts every failing vector."""

    unit: str
    module: str
    simulator: str
    vectors: int
    mismatches: list[str] = field(default_factory=list)
    exhaustive: bool = False
    build_s: float = 0.0
    sim_s: float = 0.0
    total_s: float = 0.0
    coverage: Coverage | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def vectors_per_s(self) -> float:
        return self.vectors / self.sim_s if self.sim_s > 0 else float("nan")

    mismatch_count: int = 0

    def summary(self) -> str:
        cov = self.coverage if self.coverage is not None else Coverage(
            (("exhaustive" if self.exhaustive else "sampled", self.vectors),), self.exhaustive)
        return (
            f"{self.module} on {self.simulator}: {cov.describe()}, "
            f"{self.mismatch_count:,} mismatches, {self.vectors_per_s:,.0f} vectors/s "
            f"(simulation {self.sim_s:.2f} s, build {self.build_s:.2f} s)"
        )


class CheckInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`check`. The message says how far it got (``interrupted after
    3,145,728 of 10,000,000 vectors, 0 mismatches``); ``checked``, ``planned`` and
    ``mismatches`` hold the numbers. ``planned`` is None when the stimulus, which fixes the
    total (an exhaustive set, corner sets beside the random part), was not made yet: the
    message then says only that no vector was checked."""

    def __init__(self, checked: int, planned: int | None, mismatches: int):
        self.checked, self.planned, self.mismatches = checked, planned, mismatches
        super().__init__("interrupted before the first vector was checked" if planned is None
                         else f"interrupted after {checked:,} of {planned:,} vectors, "
                         f"{mismatches:,} mismatches")


def _rand_port(comp, n, rng):
    if getattr(comp, "rounding", None) == "stochastic":
        return rng.integers(0, 1 << comp.rand_bits, n, dtype=np.uint64)
    return None


def _random_operand(fmt, m, rng) -> np.ndarray:
    """``m`` random encodings of ``fmt``: floats half biased, half uniform; integers uniform."""
    if isinstance(fmt, FloatFormat):
        return np.concatenate([V.biased(fmt, m // 2, rng), V.uniform(fmt, m - m // 2, rng)]
                              ).astype(np.uint64)
    return V.uniform(fmt, m, rng).astype(np.uint64)


def _operands(fmts, mode, n, rng):
    """``(operand arrays, Coverage)``: exhaustive when the space is small, else every corner
    combination and random operands (biased and uniform) up to ``n`` vectors in total."""
    total_bits = sum(f.width for f in fmts)
    if mode == "exhaustive" or (mode == "auto" and total_bits <= EXHAUSTIVE_BITS):
        if total_bits > 26:
            raise ValueError(
                f"Exhaustive checking of {total_bits} input bits is too large (max 26 bits)"
            )
        cols = V.exhaustive(*fmts)
        return cols, Coverage((("exhaustive", len(cols[0])),), True)
    corner_cross = V.exhaustive_of([V.corners(f) for f in fmts])
    k = len(corner_cross[0])
    rest = max(n - k, 0)
    cols = tuple(np.concatenate([corner_cross[j], _random_operand(f, rest, rng)])
                 for j, f in enumerate(fmts))
    return cols, Coverage((("corner" if len(fmts) == 1 else "corner x corner", k),
                           ("random", rest)))


def _with_rand(comp, inputs: dict, rng) -> dict:
    r = _rand_port(comp, len(next(iter(inputs.values()))), rng)
    if r is not None:
        inputs["rand"] = r
    return inputs


# -- convert --------------------------------------------------------------------------------
def _convert_stimulus(comp, mode, n, rng):
    fi = comp.fmt_in
    if mode == "exhaustive" or (mode == "auto" and fi.width <= EXHAUSTIVE_BITS):
        (a,) = V.exhaustive(fi)
        cov = Coverage((("exhaustive", len(a)),), True)
    else:
        parts = [("corner", V.corners(fi))]
        if isinstance(fi, FloatFormat):
            parts.append(("rounding-boundary", V.boundaries(fi, comp.fmt_out)))
        rest = max(n - sum(len(x) for _, x in parts), 0)
        parts.append(("random", _random_operand(fi, rest, rng)))
        a = np.concatenate([x for _, x in parts]).astype(np.uint64)
        cov = Coverage(tuple((label, len(x)) for label, x in parts))
    return _with_rand(comp, {"a": a}, rng), cov


def _convert_more(comp, m, rng):
    return _with_rand(comp, {"a": _random_operand(comp.fmt_in, m, rng)}, rng)


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
    "convert", Adapter(_convert_stimulus, _convert_expected, _convert_describe,
                       more=_convert_more)
)


# -- multiplier -------------------------------------------------------------------------------
def _mul_stimulus(comp, mode, n, rng):
    (a, b), cov = _operands((comp.fmt_a, comp.fmt_b), mode, n, rng)
    return _with_rand(comp, {"a": a, "b": b}, rng), cov


def _mul_more(comp, m, rng):
    return _with_rand(comp, {"a": _random_operand(comp.fmt_a, m, rng),
                             "b": _random_operand(comp.fmt_b, m, rng)}, rng)


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


register_adapter("multiplier", Adapter(_mul_stimulus, _mul_expected, _two_operand_describe,
                                       more=_mul_more))


def _imul_expected(comp, inputs):
    return {"y": golden.int_multiply(inputs["a"], inputs["b"], comp.fmt_a, comp.fmt_b)}


register_adapter(
    "int-multiplier", Adapter(_mul_stimulus, _imul_expected, _two_operand_describe,
                              more=_mul_more)
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
def _check_mode_n(comp, mode, n) -> Adapter:
    _load_adapters()
    if comp.unit not in ADAPTERS:
        raise ValueError(f"No simulation check is defined for unit {comp.unit!r}")
    if mode not in ("auto", "exhaustive", "random"):
        raise ValueError(f"Stimulus mode must be auto, exhaustive or random, not {mode!r}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"Number of vectors must be a positive integer, not {n!r}")
    return ADAPTERS[comp.unit]


def _refuse_sampled(comp, mode: str, cov: Coverage) -> None:
    """``mode='exhaustive'`` where the adapter could only sample (a stream of a stateful unit
    whose product pairs are too many to apply all, a dot product with an addend or an
    accumulator): an error, not a silent sample. A MAC's "every product pair" counts as
    exhaustive (its state is a stream; every pair of operands goes in)."""
    if mode != "exhaustive" or cov.exhaustive or "every product pair" in dict(cov.parts):
        return
    raise ValueError(
        f"{comp.module_name} cannot be checked exhaustively: its stimulus would be sampled "
        f"({', '.join(label for label, _ in cov.parts)}; a stateful unit is checked on a "
        f"stream, all its product pairs only when they are few); use mode 'random' "
        f"(exmy simulate --vectors N) or 'auto'")


#: seeds are 0 .. MAX_SEED (the CLI's --seed checks the same range)
MAX_SEED = 2**63 - 1


def _check_seed(seed) -> None:
    """The one seed check of :func:`check` and :func:`stimulus_for` (numpy's generator would
    take a larger integer, but the CLI's ``--seed`` and this check agree on one range)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"Seed must be an integer, not {seed!r}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be an integer from 0 to 2**63 - 1, not {seed!r}")


def stimulus_for(comp, mode="auto", n=100_000, seed=0):
    """``(inputs, coverage)``: the stimulus :func:`check` starts with for ``comp`` (all of it
    when ``n <= BATCH``). ``bool(coverage)`` is True when it is every input combination."""
    if not isinstance(getattr(comp, "unit", None), str):
        raise TypeError(f"stimulus_for() needs an exmy unit (exmy.hdl.registry.build), not "
                        f"{comp!r}")
    _check_seed(seed)
    adapter = _check_mode_n(comp, mode, n)
    rng = np.random.default_rng(seed)
    inputs, full = adapter.stimulus(comp, mode, int(n), rng)
    cov = _coverage(full, _length(inputs))
    _refuse_sampled(comp, mode, cov)
    return inputs, cov


def _check_given(comp, inputs, simulator) -> None:
    """Given ``inputs``: one array per input port, equal lengths, values that fit, at least
    one vector (run_vectors' own checks, made before the golden model reads them)."""
    from . import _check_args

    n = _check_args("", "", port_table(comp), inputs, [], comp.latency, simulator, comp)
    if n == 0:
        raise ValueError("Inputs hold no vectors (every array is empty)")


def _length(inputs: dict) -> int:
    return len(next(iter(inputs.values())))


def _slices(inputs: dict, cov: Coverage, batch: int):
    """Cut one stimulus into batches of at most ``batch`` vectors, each with its coverage
    (the parts in stimulus order, cut where the batch ends)."""
    n = _length(inputs)
    bounds = []
    pos = 0
    for label, c in cov.parts:
        bounds.append((label, pos, pos + c))
        pos += c
    for lo in range(0, max(n, 1), batch):
        hi = min(n, lo + batch)
        parts = tuple((label, min(hi, b) - max(lo, a)) for label, a, b in bounds
                      if min(hi, b) > max(lo, a))
        yield {k: v[lo:hi] for k, v in inputs.items()}, Coverage(parts, cov.exhaustive)


def _batches(comp, adapter: Adapter, mode: str, n: int, rng, batch: int, plan: list
             ) -> Iterator[tuple[dict, Coverage]]:
    """The stimulus of :func:`check` in batches; ``plan[0]`` is kept up to date with the
    total number of vectors planned."""
    first, full = adapter.stimulus(comp, mode, min(n, batch), rng)
    cov = _coverage(full, _length(first))
    _refuse_sampled(comp, mode, cov)
    rest = 0
    if not cov.exhaustive and "random" in dict(cov.parts):
        rest = max(n - (cov.total if adapter.fixed_in_n else min(n, batch)), 0)
    plan[0] = cov.total + rest
    yield from _slices(first, cov, batch)
    del first
    while rest > 0:
        m = min(rest, batch)
        if adapter.more is not None:
            inputs, c = adapter.more(comp, m, rng), Coverage((("random", m),))
        else:  # an adapter without ``more``: its whole stimulus again, fresh random part
            inputs, full = adapter.stimulus(comp, "random", m, rng)
            c = _coverage(full, _length(inputs))
            plan[0] += c.total - m
        rest -= m
        yield inputs, c


def _diff(observed: dict, expected: dict) -> np.ndarray:
    bad = None
    for o, exp in expected.items():
        obs = observed[o]
        if obs.dtype == object or np.asarray(exp).dtype == object:
            d = np.array([int(x) != int(y) for x, y in zip(obs, exp, strict=True)], dtype=bool)
        else:
            d = obs.astype(np.uint64) != np.asarray(exp).astype(np.uint64)
        bad = d if bad is None else bad | d
    return bad


#: mismatch lines kept in a CheckResult (every mismatch is counted)
MISMATCH_LINES = 20


def check(
    comp,
    simulator: str = "icarus",
    *,
    mode: str = "auto",
    n: int | None = None,
    seed: int = 0,
    build_dir: Path | None = None,
    verilog: str | None = None,
    inputs: dict | None = None,
    batch: int = BATCH,
    progress: Callable[[int, int, int], None] | None = None,
) -> CheckResult:
    """Simulate ``comp`` (an exmy unit) and compare every output bit with the golden model.

    ``mode``: ``auto`` (exhaustive when the inputs total at most 16 bits, else ``n`` sampled
    vectors, default 100,000: corners, biased and uniform random; never fewer than the corner
    set, which an ``n`` below its size runs whole), ``exhaustive`` (every input combination:
    ``n`` is not used) or ``random``. Given ``inputs`` are the whole stimulus (no ``mode``,
    no ``n``). Mismatch lines show hex and decoded inputs and the module name (the parameter
    point).

    Vectors are made, simulated and compared ``batch`` at a time (one simulator run per
    batch; a stateful unit starts each batch from reset), so memory stays bounded for any
    ``n``. ``progress(checked, planned, mismatches)`` is called after each batch.

    Raises
    ------
    CheckInterrupted
        On Ctrl-C (KeyboardInterrupt), saying how many vectors were checked.
    """
    if not isinstance(batch, (int, np.integer)) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"Batch size must be a positive integer, not {batch!r}")
    batch = int(batch)
    if not isinstance(getattr(comp, "unit", None), str):
        raise TypeError(f"check() needs an exmy unit (exmy.hdl.registry.build), not {comp!r}")
    _check_seed(seed)
    if build_dir is not None and not isinstance(build_dir, (str, os.PathLike)):
        raise TypeError(f"Build folder (build_dir) must be a str or a path, not {build_dir!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function (checked, planned, mismatches), not "
                        f"{progress!r}")
    if inputs is None:
        n = DEFAULT_VECTORS if n is None else n
        adapter = _check_mode_n(comp, mode, n)
    else:
        if mode != "auto":  # the given inputs are the whole stimulus
            raise ValueError(f"Stimulus mode {mode!r} applies to exmy's own stimulus, not to "
                             f"given inputs; leave mode at 'auto' when passing inputs")
        if n is not None:  # every given vector is simulated
            raise ValueError(f"The number of vectors (n={n!r}) applies to exmy's own stimulus; "
                             f"given inputs are simulated whole: leave n out (or pass "
                             f"fewer inputs)")
        _load_adapters()
        adapter = ADAPTERS.get(comp.unit)
        if adapter is None:
            raise ValueError(f"No simulation check is defined for unit {comp.unit!r}")
        _check_given(comp, inputs, simulator)
    t0 = time.perf_counter()
    # exmy's own stimulus fixes the total (an exhaustive set, corner sets beside the random
    # part) when the first batch is made: until then it is not known
    state = {"checked": 0, "planned": None if inputs is None else _length(inputs), "count": 0}
    try:
        return _run_batches(comp, adapter, simulator, mode, n, seed, build_dir, verilog, inputs,
                            batch, progress, state, t0)
    except KeyboardInterrupt:
        raise CheckInterrupted(state["checked"], state["planned"], state["count"]) from None


@contextlib.contextmanager
def _scratch(build_dir):
    """The simulator's build folder: ``build_dir``, else a temporary folder, removed unless a
    build or simulation failed (its error names a log in there)."""
    from .cocotb_runner import SimulationError

    if build_dir is not None:
        yield Path(build_dir)
        return
    tmp = Path(tempfile.mkdtemp(prefix="exmy-sim-"))
    keep = False
    try:
        yield tmp
    except SimulationError:
        keep = True
        raise
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_batches(comp, adapter, simulator, mode, n, seed, build_dir, verilog, inputs, batch,
                 progress, state, t0) -> CheckResult:
    """The body of :func:`check`; ``state`` holds the counts so far (for Ctrl-C)."""
    top = comp.module_name
    if simulator == "amaranth":
        ports = port_table(comp, to_verilog(comp, top) if verilog is None else verilog)
    else:
        verilog = verilog if verilog is not None else to_verilog(comp, top)
        ports = port_table(comp, verilog)
    plan = [state["planned"]]
    if inputs is None:
        batches = _batches(comp, adapter, mode, int(n), np.random.default_rng(seed), batch, plan)
    else:
        batches = _slices(inputs, Coverage((("given", _length(inputs)),)), batch)
    checked = count = 0
    lines: list[str] = []
    cov: Coverage | None = None
    build_s = sim_s = 0.0
    with _scratch(build_dir) as bdir:
        for part, c in batches:
            state["planned"] = plan[0]
            expected = adapter.expected(comp, part)
            outputs = list(adapter.outputs)
            timings: dict = {}
            observed = run_vectors(
                verilog, top, ports, part, outputs, comp.latency, simulator, bdir,
                component=comp, timings=timings,
            )
            build_s += timings.get("build_s", 0.0)
            sim_s += timings.get("sim_s", 0.0)
            expected = {o: expected[o] for o in outputs}
            bad = _diff(observed, expected)
            if bad is not None and bad.any():
                count += int(bad.sum())
                if len(lines) < MISMATCH_LINES:
                    at = checked
                    new = compare(
                        observed, expected, limit=MISMATCH_LINES - len(lines),
                        describe=lambda i, at=at, part=part: (
                            f"[{top}] vector {at + i}: {adapter.describe(comp, part, i)}"),
                    )
                    lines += [x for x in new if not x.startswith("... ")]
            checked += _length(part)
            state.update(checked=checked, count=count)
            cov = c if cov is None else cov + c
            if progress is not None:
                progress(checked, plan[0], count)
    if count > len(lines):
        lines.append(f"... {count:,} of {checked:,} vectors mismatch")
    return CheckResult(
        comp.unit, top, simulator, checked, lines, bool(cov),
        build_s=build_s, sim_s=sim_s, total_s=time.perf_counter() - t0, coverage=cov,
        mismatch_count=count,
    )
