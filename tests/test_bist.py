"""Board self-test (``exmy.synth.bist``) and ``exmy build``: argument validation; the stimulus
generators and the signature register; the whole self-test on the Amaranth simulator (pass,
and fail under fault injection) including the UART report; offline bitstreams for ULX3S (ECP5)
and iCEBreaker (iCE40 UP5K); the too-large-design error.

Board builds take 5-30 s each once the YoWASP tools are warm (see TOOLCHAIN.md); they skip,
naming the tool, when a tool is missing (never in CI).
"""

from __future__ import annotations

import json
import os
import random
import re

import numpy as np
import pytest
from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.sim import Simulator

from exmy.cli.main import main
from exmy.hdl.registry import build
from exmy.synth import bist as B
from exmy.synth import selftest as S
from exmy.synth.bist import (
    BOARDS,
    BistTop,
    BuildError,
    build_bitstream,
    build_design,
    overflow_message,
)
from exmy.synth.selftest import (
    LFSR16_TAPS,
    LFSR64_TAPS,
    Bist,
    bist_plan,
    lfsr_sequence,
    misr_signature,
)

from hwtest import cli_error, need_synth_tools

# -- argument validation -----------------------------------------------------------------------

def _e2m1():
    return build("multiplier", a="e2m1fn")


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(vectors=0), ValueError, "Vector count must be between 1 and 16777216, not 0"),
    (dict(vectors=2.5), TypeError, "Vector count must be a positive integer, not 2.5"),
    (dict(fault=("z", 0)), ValueError,
     "Fault port must be a checked output of multiplier_e2m1fn_e2m1fn_l0 (y), not 'z'"),
    (dict(fault=("y", 7)), ValueError, "Fault bit of port 'y' must be between 0 and 6, not 7"),
    (dict(fault="y0"), TypeError, "Fault must be a (port, bit) tuple, not 'y0'"),
])
def test_bist_argument_errors(kwargs, exc, message):
    with pytest.raises(exc) as e:
        Bist(_e2m1(), **kwargs)
    assert str(e.value) == message


def test_bist_needs_a_unit():
    with pytest.raises(TypeError, match=r"^Unit must be an exmy unit component, not 3$"):
        Bist(3)
    with pytest.raises(TypeError, match=r"^BIST must be a Bist, not 3$"):
        BistTop(3)


def test_build_argument_errors(tmp_path):
    with pytest.raises(ValueError) as e:
        build_bitstream("multiplier", {"a": "e2m1fn"}, "de10-nano", tmp_path)
    assert str(e.value) == ("Unknown board 'de10-nano'; boards are ulx3s-12f, ulx3s-25f, "
                            "ulx3s-45f, ulx3s-85f, icebreaker")
    with pytest.raises(TypeError, match=r"^Board must be a string, not 5$"):
        build_bitstream("multiplier", {"a": "e2m1fn"}, 5, tmp_path)
    with pytest.raises(TypeError, match=r"^Options must be a dict of unit options, not"):
        build_bitstream("multiplier", "e2m1fn", "icebreaker", tmp_path)
    with pytest.raises(ValueError, match=r"^Seed must be an integer from 0 to 2147483647 "
                       r"\(nextpnr's --seed is a C int\), not -1$"):
        build_design(Module(), "icebreaker", tmp_path, seed=-1)


@pytest.mark.parametrize("argv, message", [
    (["build", "multiplier", "--a", "e2m1fn", "--board", "de10"],
     "exmy build: error: Unknown board 'de10'; boards are ulx3s-12f, ulx3s-25f, ulx3s-45f, "
     "ulx3s-85f, icebreaker"),
    (["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "--vectors", "0"],
     "exmy build: error: --vectors must be a positive integer, not 0"),
    (["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "--seed", "-2"],
     "exmy build: error: --seed must be an integer from 0 to 2147483647 (nextpnr's seed is a C "
     "int), not -2"),
    (["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker", "--inject-fault",
      "acc:0"],
     "exmy build: error: --inject-fault: Fault port must be a checked output of "
     "multiplier_e2m1fn_e2m1fn_l0 (y), not 'acc'"),
    (["build", "int-mac", "--a", "int8", "--board", "icebreaker", "--rounding", "rtz"],
     "exmy build: error: Unit 'int-mac' does not take --rounding; it takes --a, --b, "
     "--latency, --depth, --acc-bits, --saturate-acc, --acc-chunk, --target, --fmax, --dsp"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert cli_error(capsys) == message


def test_cli_reports_build_errors_in_one_line(monkeypatch, capsys):
    def too_large(*args, **kwargs):
        raise BuildError("Design too large for board icebreaker (iCE40UP5K-SG48): it needs "
                         "6018 logic cells (LUT4 + flip-flop) (ICESTORM_LC) of 5280")

    monkeypatch.setattr(B, "build_bitstream", too_large)
    assert main(["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker"]) == 2
    assert cli_error(capsys) == (
        "exmy build: error: Design too large for board icebreaker (iCE40UP5K-SG48): it needs "
        "6018 logic cells (LUT4 + flip-flop) (ICESTORM_LC) of 5280")


# -- stimulus and signature models ---------------------------------------------------------------

def _gf2_mulmod(a: int, b: int, poly: int, deg: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> deg & 1:
            a ^= poly
    return r


def _gf2_powmod(e: int, poly: int, deg: int) -> int:
    result, base = 1, 2  # the polynomial "x"
    while e:
        if e & 1:
            result = _gf2_mulmod(result, base, poly, deg)
        base = _gf2_mulmod(base, base, poly, deg)
        e >>= 1
    return result


def _is_prime(n: int) -> bool:  # deterministic Miller-Rabin for n < 3.3e24
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def test_lfsr64_is_maximal_length():
    """The recurrence of taps (63, 62, 60, 59) has the characteristic polynomial
    x^64 + x^4 + x^3 + x + 1; it is primitive: x has order exactly 2^64 - 1."""
    assert LFSR64_TAPS == (63, 62, 60, 59)
    poly = (1 << 64) | 0b11011
    order = (1 << 64) - 1
    factors = [3, 5, 17, 257, 641, 65537, 6700417]
    assert np.prod([float(f) for f in factors]) == float(order)
    prod = 1
    for f in factors:
        prod *= f
        assert _is_prime(f)
    assert prod == order
    assert _gf2_powmod(order, poly, 64) == 1
    for f in factors:
        assert _gf2_powmod(order // f, poly, 64) != 1


def test_lfsr16_is_maximal_length():
    assert LFSR16_TAPS == (15, 14, 12, 3)
    seq = lfsr_sequence(S.CTRL_SEED, 16, LFSR16_TAPS, (1 << 16))
    assert len(set(seq[:-1].tolist())) == (1 << 16) - 1 and 0 not in seq
    assert seq[-1] == seq[0]


def test_lfsr64_model_matches_the_recurrence():
    seq = lfsr_sequence(S._lfsr_seed(0), 64, LFSR64_TAPS, 200)
    bits = [(int(seq[0]) >> k) & 1 for k in range(64)][::-1]  # a_0 .. a_63, oldest first
    for i in range(1, 200):
        bits.append(bits[-64] ^ bits[-63] ^ bits[-61] ^ bits[-60])
        assert int(seq[i]) & 1 == bits[-1]


def test_misr_detects_every_single_bit_error():
    rng = random.Random(1)
    words = np.array([rng.getrandbits(32) for _ in range(64)], dtype=np.uint64)
    good = misr_signature(words)
    for i in range(64):
        for bit in (0, 13, 31):
            bad = words.copy()
            bad[i] ^= np.uint64(1 << bit)
            assert misr_signature(bad) != good


def test_fold32_of_wide_outputs():
    """Outputs concatenate LSB first and fold onto 32 bits; >64-bit values work too."""
    a = np.array([0x1, 0x80000000], dtype=np.uint64)         # 32 bits at offset 0
    b = np.array([0x3, 0x0], dtype=np.uint64)                 # 3 bits at offset 32
    wide = np.array([1 << 69, 0], dtype=object)               # 70 bits at offset 35
    f = S._fold32([a, b, wide], [32, 3, 70])
    # b lands on bits 0-2, bit 69 of `wide` on global bit 104 = fold bit 8
    assert f.tolist() == [0x1 ^ 0x3 ^ (1 << 8), 0x80000000]


def test_plans():
    """Exhaustive for <= 16 data bits (valid/clear excluded), LFSR otherwise; MAC control from
    the control LFSR; the outputs the golden adapter checks."""
    p = bist_plan(build("multiplier", a="e4m3fn"))
    assert (p.mode, p.vectors, p.data_bits, p.outputs) == ("exhaustive", 65536, 16, [("y", 13)])
    p = bist_plan(build("int-mac", a="int8"))
    assert (p.mode, p.vectors, p.control, p.latency) == ("exhaustive", 65536, True, 1)
    assert 0.7 < p.inputs["valid"].mean() < 0.8 and 0.01 < p.inputs["clear"].mean() < 0.02
    p = bist_plan(build("multiplier", a="e4m3fn", b="e5m2", out="bfloat16",
                        rounding="stochastic", rand_bits=6), vectors=100)
    assert (p.mode, p.vectors, p.data_bits) == ("lfsr", 100, 22)
    assert [n for n, _, _ in p.data_ports] == ["a", "b", "rand"]


# -- the self-test on the Amaranth simulator -----------------------------------------------------

def _run_bist(bist: Bist) -> dict:
    sim = Simulator(bist)
    sim.add_clock(1e-6)
    res = {}

    async def tb(ctx):
        for _ in range(bist.plan.vectors + bist.plan.latency + 4):
            await ctx.tick()
            if ctx.get(bist.done):
                break
        res.update(done=ctx.get(bist.done), passed=ctx.get(bist.passed),
                   failed=ctx.get(bist.failed), sig=ctx.get(bist.sig))

    sim.add_testbench(tb)
    sim.run()
    return res


# each point: unit, options, vectors (None: exhaustive), fault to inject
SIM_POINTS = [
    # E2M1FN x E2M1FN exact multiplier, exhaustive (256 vectors), combinational
    ("multiplier", dict(a="e2m1fn"), None, ("y", 0)),
    # INT4 MAC, exhaustive operands with random valid/clear; state carries across vectors
    ("int-mac", dict(a="int4"), None, ("acc", 0)),
    # pipelined: the checker waits `latency` cycles
    ("int-mac", dict(a="int4", latency=3), None, ("acc", 20)),
    ("multiplier", dict(a="e2m1fn", latency=2), None, ("y", 6)),
    # LFSR stimulus: asymmetric formats, stochastic rounding's rand port from the LFSR too
    ("multiplier", dict(a="e4m3fn", b="e5m2", out="bfloat16", rounding="stochastic",
                        rand_bits=6), 400, ("y", 15)),
    # float MAC with a y output (acc and y both checked)
    ("mac", dict(a="e2m1fn", out="e4m3fn"), None, ("y", 7)),
]


@pytest.mark.parametrize("unit, opts, vectors, fault", SIM_POINTS,
                         ids=[f"{u}-{'-'.join(map(str, o.values()))}" for u, o, _, _ in SIM_POINTS])
def test_bist_passes_and_fault_injection_fails(unit, opts, vectors, fault):
    good = Bist(build(unit, **opts), vectors=vectors)
    res = _run_bist(good)
    assert res == dict(done=1, passed=1, failed=0, sig=good.expected)
    bad = Bist(build(unit, **opts), vectors=vectors, fault=fault)
    assert bad.expected == good.expected
    res = _run_bist(bad)
    assert (res["done"], res["passed"], res["failed"]) == (1, 0, 1)
    assert res["sig"] != good.expected


def _uart_line(top: BistTop, max_cycles: int = 200_000) -> tuple[str, dict]:
    sim = Simulator(top)
    sim.add_clock(1e-6)
    out = {}

    async def tb(ctx):
        d, line, cycles, leds_seen = top.divisor, "", 0, set()
        while not line.endswith("\n") and cycles < max_cycles:
            await ctx.tick()
            cycles += 1
            leds_seen.add((ctx.get(top.done), ctx.get(top.passed), ctx.get(top.failed)))
            if ctx.get(top.tx) == 0:  # start bit: sample each data bit in its middle
                await ctx.tick().repeat(d // 2 + d)
                byte = 0
                for k in range(8):
                    byte |= ctx.get(top.tx) << k
                    await ctx.tick().repeat(d)
                assert ctx.get(top.tx) == 1  # stop bit
                line += chr(byte)
                cycles += 10 * d
        out.update(line=line, leds=leds_seen)

    sim.add_testbench(tb)
    sim.run()
    return out["line"], out


@pytest.mark.parametrize("fault", [None, ("y", 3)])
def test_board_top_reports_over_uart(fault):
    bist = Bist(_e2m1(), fault=fault)
    top = BistTop(bist, None, clk_freq=1e6, baud=250_000, report_period=100, heartbeat_bits=3)
    line, info = _uart_line(top)
    verdict = "FAIL" if fault else "PASS"
    sig = "[0-9a-f]{8}" if fault else f"{bist.expected:08x}"
    assert re.fullmatch(f"exmy bist multiplier_e2m1fn_e2m1fn_l0: {verdict}, 256 vectors, "
                        f"signature {sig} expected {bist.expected:08x}\r\n", line), line
    assert (0, 0, 0) in info["leds"]
    assert ((1, 0, 1) if fault else (1, 1, 0)) in info["leds"]


def test_restart_reruns_the_test():
    top = BistTop(Bist(_e2m1()), None, clk_freq=1e6, report_period=100, heartbeat_bits=3)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    seen = []

    async def tb(ctx):
        await ctx.tick().repeat(300)
        seen.append(ctx.get(top.passed))
        ctx.set(top.restart, 1)
        await ctx.tick().repeat(3)
        seen.append(ctx.get(top.done))
        ctx.set(top.restart, 0)
        await ctx.tick().repeat(100)
        seen.append(ctx.get(top.done))
        await ctx.tick().repeat(200)
        seen.append(ctx.get(top.passed))

    sim.add_testbench(tb)
    sim.run()
    assert seen == [1, 0, 0, 1]


# -- board builds --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def board_tools():
    """The tools of a board build, warmed once (hwtest.need_synth_tools)."""
    need_synth_tools(["yosys", "nextpnr-ecp5", "nextpnr-ice40"],
                     then=lambda: (B._find_packer("ecp5"), B._find_packer("ice40")))


def _check_record(r: dict, board: str, bitstream: str):
    assert r["status"] == "ok" and r["board"] == board
    assert os.path.getsize(r["bitstream"]) > 10_000 and r["bitstream"].endswith(bitstream)
    assert r["lut"] > 50 and r["ff"] > 50 and r["fmax_mhz"] > r["clock_mhz"]
    assert r["timing_met"] is True
    # the same record keys as `exmy synth`
    for k in ("flow_key", "target", "family", "device", "lut", "carry", "ff", "dsp", "bram",
              "fmax_mhz", "fmax_by_clock", "crit_path_ns", "utilization", "cells",
              "tool_versions", "seconds"):
        assert k in r, k


BUILDS = [
    # (unit, options, board, bitstream, cell type the utilisation must show)
    ("multiplier", dict(a="e4m3fn"), "icebreaker", "top.bin", "ICESTORM_LC"),
    ("int-mac", dict(a="int8"), "ulx3s-85f", "top.bit", "TRELLIS_COMB"),
    ("multiplier", dict(a="e4m3fn"), "ulx3s-85f", "top.bit", "TRELLIS_COMB"),
    ("int-mac", dict(a="int8"), "icebreaker", "top.bin", "ICESTORM_LC"),
]


@pytest.mark.parametrize("unit, opts, board, bitstream, bel", BUILDS,
                         ids=[f"{u}-{board}" for u, _, board, _, _ in BUILDS])
def test_bitstream_builds_offline(board_tools, tmp_path, unit, opts, board, bitstream, bel):
    r = build_bitstream(unit, opts, board, tmp_path / "build")
    _check_record(r, board, bitstream)
    assert r["utilization"][bel]["used"] > 100
    assert r["bist"]["mode"] == "exhaustive" and r["bist"]["vectors"] == 65536
    saved = json.loads((tmp_path / "build" / "record.json").read_text())
    assert saved["bist"] == r["bist"] and saved["fmax_mhz"] == r["fmax_mhz"]
    prog = "iceprog" if board == "icebreaker" else "openFPGALoader -b ulx3s"
    assert r["program"] == f"{prog} {tmp_path / 'build' / bitstream}"


def test_cli_build_prints_record_and_program_command(board_tools, tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative -o, as a user would type it
    assert main(["build", "multiplier", "--a", "e2m1fn", "--board", "icebreaker",
                 "-o", "out"]) == 0
    text = capsys.readouterr().out
    assert "multiplier_e2m1fn_e2m1fn_l0 on icebreaker (iCE40UP5K-SG48): exhaustive self-test, " \
           "256 vectors" in text
    assert "  program:   iceprog out/top.bin\n" in text
    assert "ICESTORM_LC" in text and "Fmax" in text
    assert (tmp_path / "out" / "top.bin").exists()


# -- too large for the board ---------------------------------------------------------------------

class _Oversize(Elaboratable):
    """6000 flip-flops in 200 chained 30-bit registers: more than the UP5K's 5280 logic
    cells, and quick to synthesize."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.button = button = io.Buffer("i", platform.request("button", 0, dir="-"))
        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        prev = button.i
        for i in range(200):
            r = Signal(30, name=f"r{i}")
            m.d.sync += r.eq(Cat(prev, r[:-1]))
            prev = r[-1]
        m.d.comb += led.o.eq(prev)
        return m


def test_too_large_design_names_the_resource(board_tools, tmp_path):
    with pytest.raises(BuildError) as e:
        build_design(_Oversize(), "icebreaker", tmp_path)
    assert str(e.value) == (
        "Design too large for board icebreaker (iCE40UP5K-SG48): it needs 6018 logic cells "
        "(LUT4 + flip-flop) (ICESTORM_LC) of 5280; choose a larger board or a smaller unit")


@pytest.mark.slow
def test_too_large_unit_names_the_resource(board_tools, tmp_path):
    """A real unit: a float32 MAC with a float32 output (a ~570-bit accumulator, its aligner
    and the normalising conversion; ~7900 logic cells, ~2 minutes) overflows the UP5K. abc9
    also exhausts YoWASP Yosys' stack on it, so this covers the classic-abc fallback."""
    with pytest.raises(BuildError) as e:
        build_bitstream("mac", {"a": "float32", "out": "float32"}, "icebreaker", tmp_path,
                        vectors=64)
    assert re.fullmatch(r"Design too large for board icebreaker \(iCE40UP5K-SG48\): it needs "
                        r"\d+ logic cells \(LUT4 \+ flip-flop\) \(ICESTORM_LC\) of 5280; choose "
                        r"a larger board or a smaller unit", str(e.value)), str(e.value)


def test_overflow_message_from_nextpnr_logs():
    ecp5 = ("Info: Device utilisation:\n"
            "Info: \t          TRELLIS_IO:    10/  197     5%\n"
            "Info: \t        TRELLIS_COMB: 30000/24288   123%\n"
            "Info: \t          MULT18X18D:    30/   28   107%\n")
    assert overflow_message(ecp5, "ulx3s-12f", "LFE5U-12F-BG381") == (
        "Design too large for board ulx3s-12f (LFE5U-12F-BG381): it needs 30000 LUT4s "
        "(TRELLIS_COMB) of 24288, 30 DSP multipliers (MULT18X18D) of 28; choose a larger board "
        "or a smaller unit")
    fits = "Info: \t         ICESTORM_LC:    3939/   5280    74%\n"
    assert overflow_message(fits, "icebreaker", "iCE40UP5K-SG48") is None


def test_boards_table():
    assert set(BOARDS) == {"ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f", "icebreaker"}
    for b in BOARDS.values():
        platform = B._platform(b)
        for res, num, _ in b.leds:
            platform.lookup(res, num)
        platform.lookup(*b.button)
        platform.lookup("uart", 0)
