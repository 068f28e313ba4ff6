"""The vector runner on the Amaranth simulator (same schedule as the Verilog testbench).

Clocked designs: vector ``i`` is set right after edge ``i`` (the simulator starts in the reset
state, as the Verilog testbench's DUT is at edge 0) and the outputs for it are sampled at edge
``i + 1 + latency``, before the edge updates anything. Designs without a clock: set, settle,
read.

Many-lanes mode: with a factory (a callable returning a fresh component) and ``lanes=K``, K
copies run side by side, each fed every K-th vector, for K times fewer simulator steps. Only
for units whose vectors are independent (combinational or pipelined, not stateful).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

__all__ = ["run_amaranth", "DEFAULT_LANES"]

#: Lanes used for designs without a clock when a factory is given.
DEFAULT_LANES = 64


def _port_value(component: wiring.Component, name: str):
    for path, _member, value in component.signature.flatten(component):
        if "__".join(map(str, path)) == name:
            return value.as_value() if hasattr(value, "as_value") else value
    raise ValueError(f"Component has no port {name!r}")


def _to_ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values] if values.dtype == object else values.tolist()


def run_amaranth(
    component: wiring.Component | Callable[[], wiring.Component],
    ports: dict[str, dict],
    inputs: dict[str, np.ndarray],
    outputs: list[str],
    latency: int,
    *,
    lanes: int | None = None,
    timings: dict | None = None,
) -> dict[str, np.ndarray]:
    """The ``amaranth`` half of :func:`exmy.sim.run_vectors` (arguments checked there)."""
    t0 = time.perf_counter()
    clocked = "clk" in ports
    factory = None if isinstance(component, wiring.Component) else component
    if lanes is None:
        lanes = DEFAULT_LANES if (factory is not None and not clocked) else 1
    if not isinstance(lanes, int) or isinstance(lanes, bool):
        raise TypeError(f"Lanes must be an integer, not {lanes!r}")
    if lanes < 1:
        raise ValueError(f"Lanes must be >= 1, not {lanes}")
    if lanes > 1 and factory is None:
        raise ValueError(
            f"Lanes={lanes} needs a factory (a callable returning a fresh component), "
            f"not one component instance"
        )
    copies = [factory() for _ in range(lanes)] if factory is not None else [component]
    for c in copies:
        if not isinstance(c, wiring.Component):
            raise TypeError(f"The factory must return a wiring.Component, not {c!r}")

    in_names = [p for p, d in ports.items() if d["dir"] == "in" and p not in ("clk", "rst")]
    n = len(inputs[in_names[0]]) if in_names else 0
    steps = (n + lanes - 1) // lanes

    # All lanes' inputs sit on one wide bus and all outputs on another: one ctx.set and one
    # sample per step. (Per-signal ctx.set calls cost ~10 us each; slicing a bus is compiled.)
    top = Module()
    in_parts, out_parts = [], []
    for k, c in enumerate(copies):
        top.submodules[f"lane{k}"] = c
        in_parts += [_port_value(c, p) for p in in_names]
        out_parts += [_port_value(c, o) for o in outputs]
    in_widths = [ports[p]["width"] for p in in_names]
    out_widths = [ports[o]["width"] for o in outputs]
    in_bus = Signal(max(1, lanes * sum(in_widths)), name="exmy_in_bus")
    out_bus = Signal(max(1, lanes * sum(out_widths)), name="exmy_out_bus")
    offset = 0
    for part in in_parts:
        top.d.comb += part.eq(in_bus[offset : offset + len(part)])
        offset += len(part)
    if out_parts:
        top.d.comb += out_bus.eq(Cat(*out_parts))

    # Step s drives vector s*lanes + k into lane k (a short last step repeats vector 0).
    columns = [_to_ints(inputs[p]) for p in in_names]
    packed_in = []
    for s in range(steps):
        word, shift = 0, 0
        for k in range(lanes):
            i = s * lanes + k
            if i >= n:
                i = 0
            for col, w in zip(columns, in_widths, strict=True):
                word |= col[i] << shift
                shift += w
        packed_in.append(word)
    raw_out = [0] * steps

    # A process, not a testbench: its ctx.set() takes effect like a nonblocking assignment
    # (after the edge it follows), and nothing settles the design between calls.
    sim = Simulator(top)
    if clocked:
        sim.add_clock(1e-6)

        async def bench(ctx):
            for t in range(steps + latency):
                if t < steps:
                    ctx.set(in_bus, packed_in[t])
                _, _, value = await ctx.tick().sample(out_bus)
                if t >= latency:
                    raw_out[t - latency] = value
    else:

        async def bench(ctx):
            for t in range(steps):
                ctx.set(in_bus, packed_in[t])
                _, value = await ctx.delay(1e-9).sample(out_bus)
                raw_out[t] = value

    finished = []

    async def process(ctx):
        await bench(ctx)
        finished.append(True)

    # Processes are background tasks for sim.run(), and run_until() spins forever once nothing
    # is scheduled: a testbench that only waits past the last step bounds the run.
    period = 1e-6 if clocked else 1e-9

    async def timekeeper(ctx):
        await ctx.delay((steps + latency + 2) * period)

    sim.add_process(process)
    sim.add_testbench(timekeeper)
    t1 = time.perf_counter()
    sim.run()
    t2 = time.perf_counter()
    if not finished:
        raise RuntimeError("Amaranth simulation stopped before the last vector (a bug in exmy)")

    # -- unpack: vector s*lanes + k was lane k's part of step s ------------------------------
    lists: dict[str, list[int]] = {o: [0] * (steps * lanes) for o in outputs}
    masks = [(1 << w) - 1 for w in out_widths]
    for s, word in enumerate(raw_out):
        for k in range(lanes):
            for o, w, mask in zip(outputs, out_widths, masks, strict=True):
                lists[o][s * lanes + k] = word & mask
                word >>= w
    observed = {}
    for o, w in zip(outputs, out_widths, strict=True):
        if w <= 64:
            observed[o] = np.array(lists[o][:n], dtype=np.uint64)
        else:
            arr = np.empty(n, dtype=object)
            arr[:] = lists[o][:n]
            observed[o] = arr
    if timings is not None:
        timings.update(
            build_s=t1 - t0, sim_s=t2 - t1, loop_s=t2 - t1, read_s=time.perf_counter() - t2
        )
    return observed
