"""cocotb test module for the vector-file testbench (exmy.sim.testbench).

It only drives: under Icarus it starts the testbench clock (the GPI clock, no Python per edge)
and holds ``rst_req`` for two cycles, then releases it; under Verilator the testbench makes
both itself. Then it waits for ``done``. The testbench reads and writes the vector files
itself; comparing is the caller's job.

The simulation imports it as the top-level module ``exmy_cocotb_tb``: exmy.sim.cocotb_runner
copies this file into the run folder, which cocotb puts on ``sys.path``. So it imports nothing
from exmy (importing the package would load numpy and the golden model into every simulator
launch) and takes the clock period from the ``EXMY_PERIOD_NS`` plusarg.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer


@cocotb.test()
async def run_vectors(dut) -> None:
    """Run the whole vector file set; fail on a timeout."""
    n = int(cocotb.plusargs["EXMY_N"])
    latency = int(cocotb.plusargs.get("EXMY_LATENCY", "0"))
    period = int(cocotb.plusargs["EXMY_PERIOD_NS"])
    if "verilator" not in cocotb.SIM_NAME.lower():
        dut.rst_req.value = 1
        Clock(dut.clk, period, unit="ns", impl="gpi").start()
        await ClockCycles(dut.clk, 2)
        dut.rst_req.value = 0
    limit = (n + latency + 16) * period * 2
    result = await First(RisingEdge(dut.done), Timer(limit, unit="ns"))
    if not int(dut.done.value):
        raise AssertionError(
            f"Testbench did not raise done within {limit} ns ({n} vectors, latency {latency})"
        )
    del result
