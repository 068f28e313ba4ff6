# amaranth: UnusedElaboratable=no
"""MAC hardware (exmy.hdl.mac): argument validation, timing contract and metadata, the
accumulator width proven in hardware, hardware = golden on per-cycle streams (Amaranth
simulator, Icarus and Verilator through cocotb).

Streams come from exmy.sim.check_mac (every product of the format pair, runs to the
accumulator's designed range, NaN/Inf injection, random valid/clear with back-to-back
clears); outputs are checked every cycle against the golden model's state after that cycle.
"""

from fractions import Fraction

import numpy as np
import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from exmy.golden import CATALOG, IntFormat, catalog_formats, parse_format
from exmy.hdl.mac import MAC, IntMAC
from exmy.hdl.registry import build, sidecar
from exmy.hdl.verilog import port_table, to_verilog

from hwtest import assert_acc_stream, assert_ok

N_CYCLES = 100_000  # per configuration and simulator (issue 3)


def _re(msg: str) -> str:
    return "".join("\\" + c if c in "()[]{}.*+?^$|\\" else c for c in msg)


# -- argument validation -----------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, exc, msg",
    [
        (("int8",), {}, ValueError,
         "Operand a format of unit 'mac' must be a float format, not int8; use unit 'int-mac' "
         "for integer formats"),
        (("e4m3fn", "uint4"), {}, ValueError,
         "Operand b format of unit 'mac' must be a float format, not uint4"),
        ((3,), {}, TypeError, "Operand a format must be a format name or object, not 3"),
        (("e4m3q",), {}, ValueError, "Unknown format 'e4m3q'"),
        (("e8m0fnu",), {}, ValueError, "MAC operand a format e8m0fnu has no zero"),
        (("e4m3fn",), {"depth": 0}, ValueError, "MAC depth must be a positive integer, not 0"),
        (("e4m3fn",), {"depth": 2.5}, TypeError,
         "MAC depth must be a positive integer, not 2.5"),
        (("e4m3fn",), {"acc_bits": 10}, ValueError,
         "Accumulator width 10 is smaller than one e4m3fn x e4m3fn product (37 bits); use "
         "acc_bits >= 37, or leave it unset for the default 49"),
        (("e4m3fn",), {"acc_bits": "49"}, TypeError, "Accumulator width must be an integer"),
        (("e4m3fn",), {"latency": 0}, ValueError,
         "MAC latency must be at least 1, not 0: the accumulator is a register, so acc shows "
         "a product one clock edge after accepting it at the earliest"),
        (("e4m3fn",), {"latency": -2}, ValueError, "MAC latency must be at least 1, not -2"),
        (("e4m3fn",), {"latency": 1.0}, TypeError,
         "MAC latency must be a positive integer, not 1.0"),
        (("e4m3fn",), {"latency": 17}, ValueError,
         "MAC latency must be at most 16 pipeline stages, not 17"),
        (("e4m3fn",), {"fmt_out": "e4m3fn", "y_latency": 2}, ValueError,
         "MAC y_latency must be 0 or 1, not 2"),
        (("e4m3fn",), {"rounding": "rtz"}, ValueError,
         "The fixed-point MAC rounds only its output y; rounding='rtz' needs an output format"),
        (("e4m3fn",), {"saturate": True}, ValueError,
         "saturate applies to the output y (or a float accumulator); give fmt_out, or use "
         "saturate_acc"),
        (("e4m3fn",), {"saturate_acc": 1}, TypeError, "saturate_acc must be a bool, not 1"),
        (("e4m3fn",), {"fmt_out": "int8"}, ValueError,
         "Output format must be a float format, not int8"),
        (("e4m3fn",), {"fmt_out": "e4m3fn", "rounding": "up"}, ValueError,
         "Rounding mode must be one of rne, rtz, rna, stochastic, not 'up'"),
        (("e4m3fn",), {"fmt_out": "e4m3fn", "rounding": "stochastic"}, ValueError,
         "Stochastic rounding needs rand_bits"),
        (("e4m3fn", "e5m2"), {"multiplier": "lmul"}, ValueError,
         "The L-Mul MAC multiplies operands of one format (SPEC 3.4), not e4m3fn x e5m2; use "
         "multiplier='exact' for mixed formats"),
        (("e4m3fn",), {"multiplier": "booth"}, ValueError,
         "Multiplier must be one of 'exact', 'lmul', not 'booth'"),
        (("e4m3fn",), {"acc_format": "bfloat16", "depth": 64}, ValueError,
         "depth applies only to the fixed-point accumulator, not to acc_format=bfloat16"),
        (("e4m3fn",), {"acc_format": "bfloat16", "acc_bits": 60, "fmt_out": "e4m3fn"},
         ValueError, "acc_bits, fmt_out apply only to the fixed-point accumulator"),
        (("e4m3fn",), {"acc_format": "bfloat16", "saturate_acc": True}, ValueError,
         "saturate_acc applies only to the fixed-point accumulator"),
        (("e4m3fn",), {"acc_format": "int16"}, ValueError,
         "Accumulator format must be a float format, not int16"),
        (("e4m3fn",), {"acc_format": "e8m0fnu"}, ValueError,
         "Accumulator format e8m0fnu has no zero (a block-scale format); clear must load 0"),
        (("e4m3fn",), {"acc_format": "bfloat16", "multiplier": "lmul"}, ValueError,
         "The float-accumulator MAC uses the exact product (one FMA rounding), not "
         "multiplier='lmul'"),
    ],
)
def test_mac_validation(args, kwargs, exc, msg):
    with pytest.raises(exc, match=_re(msg)):
        MAC(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, exc, msg",
    [
        (("e4m3fn",), {}, ValueError,
         "Operand a format of unit 'int-mac' must be an integer format, not e4m3fn; use unit "
         "'mac' for float formats"),
        (("int8", "bfloat16"), {}, ValueError,
         "Operand b format of unit 'int-mac' must be an integer format, not bfloat16"),
        (("int8",), {"depth": 0}, ValueError, "MAC depth must be a positive integer, not 0"),
        (("int8",), {"acc_bits": 12}, ValueError,
         "Accumulator width 12 is smaller than one int8 x int8 product (16 bits); use "
         "acc_bits >= 16, or leave it unset for the default 29"),
        (("int8",), {"latency": 0}, ValueError, "MAC latency must be at least 1, not 0"),
        (("int8",), {"saturate_acc": "no"}, TypeError, "saturate_acc must be a bool"),
    ],
)
def test_int_mac_validation(args, kwargs, exc, msg):
    with pytest.raises(exc, match=_re(msg)):
        IntMAC(*args, **kwargs)


def test_registry_validation():
    with pytest.raises(ValueError, match=_re("Unit 'mac' needs an operand format (--a)")):
        build("mac")
    with pytest.raises(ValueError, match=_re("Unit 'int-mac' needs an operand format (--a)")):
        build("int-mac")
    with pytest.raises(ValueError, match="Unit 'int-mac' does not take --out"):
        build("int-mac", a="int8", out="e4m3fn")


# -- properties: timing contract, widths, ports, metadata -----------------------------------
def test_metadata_e4m3fn():
    comp = build("mac", a="e4m3fn", out="e4m3fn")
    assert comp.latency == 1 and comp.y_latency == 0
    text = to_verilog(comp, comp.module_name)
    meta = sidecar(comp, text, comp.module_name)
    # SPEC 3.2 / golden MacParams: e4m3fn x e4m3fn at depth 4608
    assert meta["latency"] == 1 and meta["y_latency"] == 0
    assert (meta["acc_bits"], meta["acc_lsb_exp"], meta["paper_acc_bits"]) == (49, -18, 50)
    assert meta["depth"] == 4608 and meta["safe_depth"] >= 4608
    assert meta["out_saturates"] is True  # 2**48 * 2**-18 > 448
    assert meta["flags"] == {"nan": 0, "pos_inf": 1, "neg_inf": 2}
    assert meta["acc_overflow"] == "wrap"
    assert meta["ports"]["acc"]["width"] == 49 and meta["ports"]["flags"]["width"] == 3
    assert meta["ports"]["y"]["format"] == "float8_e4m3fn"
    assert comp.module_name == "mac_e4m3fn_e4m3fn_accbits49_e4m3fn_l1"


def test_metadata_variants():
    wide = MAC("e4m3fn", fmt_out="bfloat16", depth=16)
    assert wide.extra_metadata()["out_saturates"] is False
    assert wide.extra_metadata()["acc_bits"] == wide.mac_params.acc_bits == 41
    # no fmt_out: no y, no y_latency; none formats: no flags
    fp4 = MAC("e2m1fn", saturate_acc=True)
    meta = fp4.extra_metadata()
    assert meta["y_latency"] is None and meta["flags"] is None
    assert meta["acc_overflow"] == "saturate" and "out_saturates" not in meta
    ports = port_table(fp4, to_verilog(fp4, fp4.module_name))
    assert set(ports) == {"clk", "rst", "a", "b", "valid", "clear", "acc"}
    # float accumulator: acc is an encoding of acc_format
    fa = MAC("e4m3fn", "e5m2", acc_format="bfloat16", latency=2)
    ports = port_table(fa, to_verilog(fa, fa.module_name))
    assert set(ports) == {"clk", "rst", "a", "b", "valid", "clear", "acc"}
    assert ports["acc"]["width"] == 16
    assert fa.extra_metadata()["acc_format"] == "bfloat16"
    # integer MAC
    im = IntMAC("uint4", "int4", latency=3)
    meta = im.extra_metadata()
    assert (meta["acc_bits"], meta["acc_lsb_exp"], meta["paper_acc_bits"]) == (21, 0, 22)
    ports = port_table(im, to_verilog(im, im.module_name))
    assert ports["acc"]["width"] == 21 and ports["a"]["width"] == 4


@pytest.mark.parametrize("kwargs", [
    {"latency": 1},
    {"latency": 3, "rounding": "rtz", "saturate": True},
    {"latency": 2, "rounding": "rna"},
    {"latency": 2, "rounding": "stochastic", "rand_bits": 4},
    {"target": "ecp5", "fmax": 12},
    {"target": "ice40", "fmax": 10, "rounding": "stochastic", "rand_bits": 4},
], ids=lambda k: "-".join(f"{x}{y}" for x, y in k.items()))
def test_float_acc_loop_is_the_fma(kwargs):
    """SPEC 3.2's float accumulator is an FMA fed back: with an explicit latency and in fmax
    mode, every rounding mode, the MAC is built from the FMA's stages (the Verilog has the
    FMA's addend and window signals, not those of the MAC's own loop of before, which
    benchmarks/mac_as_fma.py keeps as its baseline)."""
    comp = MAC("e4m3fn", acc_format="bfloat16", **kwargs)
    assert "loop" not in comp.extra_metadata()
    text = to_verilog(comp, comp.module_name)
    fma_signals = ("s0_prod_top_eff", "s0_c_tz", "acc_addend", "s1_window_top")
    own_signals = ("al_swap", "add_sum", "al_small_kept")
    assert all(f" {name}" in text for name in fma_signals), comp.module_name
    assert not any(f" {name}" in text for name in own_signals), comp.module_name


@pytest.mark.parametrize(
    "comp, cuts",
    [
        (MAC("e4m3fn", latency=1), []),
        (MAC("e4m3fn", latency=2), ["product"]),
        (MAC("e4m3fn", latency=3), ["product", "align"]),
        (MAC("e4m3fn", latency=5), ["input", "input", "product", "align"]),
        (MAC("e4m3fn", acc_format="bfloat16", latency=1), []),
        (MAC("e4m3fn", acc_format="bfloat16", latency=3), ["input", "product"]),
        (IntMAC("int8", latency=1), []),
        (IntMAC("int8", latency=3), ["input", "product"]),
    ],
    ids=lambda x: getattr(x, "module_name", str(x)),
)
def test_cut_points(comp, cuts):
    assert comp.cut_points == cuts
    assert comp.extra_metadata()["cut_points"] == cuts
    assert len(cuts) == comp.latency - 1  # acc itself is the last register


# -- the conversion acc -> y against golden encode, stage by stage ----------------------------
class _AccToFloat(wiring.Component):
    """The MAC's acc -> y conversion alone (combinational), acc as an input port."""

    def __init__(self, W, lsb, fmt, rounding, saturate, R):
        self.W, self.lsb, self.fmt = W, lsb, parse_format(fmt)
        self.rounding, self.saturate, self.R = rounding, saturate, R
        ports = {"acc": In(W), "y": Out(self.fmt.width)}
        if R:
            ports["rand"] = In(R)
        super().__init__(ports)

    def elaborate(self, platform):
        from amaranth.hdl import Module

        from exmy.hdl.accumulator import acc_to_float
        from exmy.hdl.util import Pipeline

        m = Module()
        y = acc_to_float(m, self.acc, None, self.lsb, self.fmt, rounding=self.rounding,
                         saturate=self.saturate, rand=self.rand if self.R else None,
                         y_latency=0, stages=Pipeline(m))
        m.d.comb += self.y.eq(y)
        return m


@pytest.mark.parametrize(
    "W, lsb, fmt, rounding, saturate, R",
    [
        # (window = the bits between the overflow bits above and the sticky-only bits below)
        (12, -4, "e2m1fn", "rne", False, 0),  # overflow bits, window and sticky bits
        (12, -5, "e2m1fn", "stochastic", False, 2),  # R exact bits below the quantum
        (14, -8, "e3m4-ieee-ftz", "rtz", False, 0),  # subnormal grid, then flush
        (16, -18, "e4m3fn", "rne", False, 0),  # sticky bits and window only
        (14, -7, "e4m3fn", "rna", True, 0),  # window reaches the top of acc
        (12, 2, "e4m3fn", "rne", True, 0),  # every bit above emax: saturate
        (12, -40, "e4m3fn", "rne", False, 0),  # every bit below the round bit: sticky only
        (14, -16, "e4m3fn", "stochastic", False, 3),
        (14, -4, "e4m3-u", "rne", False, 0),  # negative values into an unsigned format
        (12, -8, "e8m0fnu", "rne", False, 0),  # no zero in the output
    ],
)
def test_acc_to_y_exhaustive(W, lsb, fmt, rounding, saturate, R):
    """Every acc value of W bits (two's complement, bit 0 weighs 2**lsb) converted by the
    hardware equals golden ``encode`` of the exact value: the window (overflow above, sticky
    below, negation as a window-wide increment) loses nothing."""
    from exmy.golden import Raw, encode
    from exmy.sim import run_vectors

    def make():
        return _AccToFloat(W, lsb, fmt, rounding, saturate, R)

    comp = make()
    ports = port_table(comp, to_verilog(comp, "acc_to_y"))
    acc = np.arange(1 << W, dtype=np.uint64)
    inputs = {"acc": acc}
    rng = np.random.default_rng(5)
    rand = rng.integers(0, 1 << R, len(acc), dtype=np.uint64) if R else None
    if R:
        inputs["rand"] = rand
    got = run_vectors(None, None, ports, inputs, ["y"], 0, "amaranth", None, component=make)
    val = acc.astype(np.int64) - ((acc >> np.uint64(W - 1)).astype(np.int64) << W)
    n = len(acc)
    raw = Raw((val < 0).astype(np.uint8), np.abs(val), np.full(n, lsb, np.int64),
              np.zeros(n, bool), np.zeros(n, bool))
    want = encode(raw, comp.fmt, rounding=rounding, saturate=saturate, rand=rand,
                  rand_bits=R)
    bad = np.nonzero(got["y"] != want)[0]
    assert len(bad) == 0, [(int(val[i]), hex(int(got["y"][i])), hex(int(want[i])))
                           for i in bad[:5]]


# -- the accumulator width, proven in hardware ------------------------------------------------
def _worst_products(comp) -> list[int]:
    """The largest positive and most negative single product in acc LSB units, computed
    here from the formats (not by the golden model)."""
    fa, fb = comp.fmt_a, comp.fmt_b
    if isinstance(fa, IntFormat):
        c = [x * y for x in (fa.min_value, fa.max_value) for y in (fb.min_value, fb.max_value)]
        return [v for v in (max(c), min(c)) if v != 0]
    lsb = fa.emin - fa.man_bits + fb.emin - fb.man_bits
    top = Fraction(fa.max_finite * fb.max_finite) / Fraction(2) ** lsb
    assert top.denominator == 1
    return [int(top), -int(top)] if (fa.signed or fb.signed) else [int(top)]


def _worst_stream(comp, k: int, sign: int) -> dict:
    """clear, then k worst-case products of one sign, every cycle valid."""
    from exmy.sim.check_mac import extreme_operands

    pairs = extreme_operands(comp)
    a, b = pairs[0] if sign > 0 else pairs[1]
    clear = np.zeros(k, np.uint64)
    clear[0] = 1
    return {"a": np.full(k, a, np.uint64), "b": np.full(k, b, np.uint64),
            "valid": np.ones(k, np.uint64), "clear": clear}


@pytest.mark.parametrize("saturate_acc", [False, True], ids=["wrap", "clamp"])
@pytest.mark.parametrize(
    "unit, fa, fb",
    [
        ("mac", "e4m3fn", "e4m3fn"),
        ("mac", "e5m2", "e5m2"),  # 77-bit accumulator: wider than 64 bits
        ("int-mac", "int8", "int8"),
        ("int-mac", "uint4", "int4"),
    ],
)
def test_hw_default_acc_bits_hold_depth(unit, fa, fb, saturate_acc, tmp_path):
    """Default acc_bits: ``depth`` worst-case products of one sign accumulate exactly; the
    largest count that fits (>= depth) still does; one more wraps (or clamps)."""
    from exmy.sim import run_vectors

    cls = MAC if unit == "mac" else IntMAC
    comp = cls(fa, fb, saturate_acc=saturate_acc)
    p = comp.mac_params
    W, depth = p.acc_bits, p.depth
    lo, hi = -(1 << (W - 1)), (1 << (W - 1)) - 1
    text = to_verilog(comp, comp.module_name)
    ports = port_table(comp, text)
    for P in _worst_products(comp):
        safe = hi // P if P > 0 else lo // P  # most products of this sign that fit
        assert safe >= depth, (P, safe, depth)
        k = safe + 1
        inputs = _worst_stream(comp, k, P)
        got = run_vectors(text, comp.module_name, ports, inputs, ["acc"], comp.latency,
                          "icarus", tmp_path / f"s{P > 0}")["acc"]
        acc = [int(x) - (1 << W) if int(x) >> (W - 1) else int(x) for x in got]
        assert acc[depth - 1] == depth * P  # no overflow at depth
        assert acc[safe - 1] == safe * P  # nor at the safe count
        over = (safe + 1) * P
        assert not lo <= over <= hi
        if saturate_acc:
            assert acc[safe] == (hi if P > 0 else lo)
        else:
            assert acc[safe] == ((over - lo) % (1 << W)) + lo  # two's complement wrap


# -- hardware vs golden: Amaranth simulator (short streams, option variety) -----------------
# Latencies above 3 and the rand port run here, not on Icarus: the vector-file testbench
# starts the DUT with ``reg rst = 1'b1`` and constant inputs (no event at time 0), so Yosys'
# ``always @*`` reset muxes of registers fed straight from an input port are not evaluated
# before the first edges, and Icarus shifts X from those registers into the sticky state
# (flags, y). A simulator artefact, not a design fault (Verilator and the Amaranth simulator
# are 2-state; real flip-flops reset).
def _stream(comp, n, seed=1, pairs=False):
    from exmy.sim.check_mac import mac_stream

    return mac_stream(comp, n, np.random.default_rng(seed), pairs=pairs)[0]



@pytest.mark.parametrize(
    "comp",
    [
        MAC("e4m3fn", fmt_out="e4m3fn", latency=2, y_latency=1),
        MAC("e4m3fn", fmt_out="e4m3fn", rounding="stochastic", rand_bits=5, latency=3,
            y_latency=1),
        MAC("e4m3fn", acc_format="bfloat16", rounding="stochastic", rand_bits=6, latency=2),
        MAC("e3m4-ieee-ftz", "e2m3fn", fmt_out="e3m4-ieee-ftz", rounding="rtz",
            saturate=True),
        # the float32 accumulator is slow on this simulator (docs/results/test_tier.md): the
        # slow tier; the default tier runs it on Icarus (VARIANTS)
        pytest.param(MAC("e2m1fn", "e4m3fn", acc_format="float32"), marks=pytest.mark.slow),
        # latency > 3: input registers (Amaranth simulator: see the note above)
        MAC("e4m3fnuz", "e5m2fnuz", fmt_out="e4m3fnuz", latency=5),
        MAC("e5m2", acc_format="e5m2", latency=4),
        IntMAC("uint4", "uint4", acc_bits=9, saturate_acc=True, latency=4),
    ],
    ids=lambda c: c.module_name,
)
def test_hw_amaranth(comp):
    from exmy.sim.check import check

    res = check(comp, "amaranth", inputs=_stream(comp, 1500))
    assert_ok(res)


# -- hardware vs golden: Icarus, option variety (shorter streams) ---------------------------
VARIANTS = [
    MAC("e4m3fn", fmt_out="e4m3fn", rounding="rtz"),
    MAC("e4m3fn", fmt_out="e5m2", rounding="rna", latency=2),
    MAC("e5m2", fmt_out="e2m1fn", saturate=True),  # narrow y: Inf flags to max_finite
    MAC("e4m3fnuz", "e5m2fnuz", fmt_out="e4m3fnuz", latency=2),
    MAC("e4m3", "e3m4", fmt_out="float16", y_latency=1),
    MAC("e4m3-u", "e2m1fn", fmt_out="e4m3-u"),  # unsigned operand and output
    MAC("e2m1fn", fmt_out="e2m1fn", acc_bits=9, saturate_acc=True),  # clamps often
    MAC("e2m3fn", "e3m2fn", acc_bits=17),  # wraps often
    MAC("e3m4-ieee-ftz", fmt_out="e3m4-ieee-ftz", latency=3),
    MAC("e5m2", acc_format="e5m2", latency=2),  # float acc overflowing to Inf
    MAC("e4m3fn", acc_format="e4m3fn", rounding="rtz", saturate=True),
    MAC("e2m1fn", "e4m3fn", acc_format="float16", rounding="rna"),
    MAC("e2m1fn", "e4m3fn", acc_format="float32"),
    MAC("e4m3fn", acc_format="e3m4-ieee-ftz"),
    MAC("e2m1fn", acc_format="e4m3-u", latency=3),  # unsigned acc: negative sums
    IntMAC("uint8", "uint8", latency=2),
    IntMAC("int2", "int2", acc_bits=5, saturate_acc=True),
    IntMAC("int8", "uint3", acc_bits=12),
]


@pytest.mark.parametrize("comp", VARIANTS, ids=lambda c: c.module_name)
def test_hw_icarus_variants(comp, tmp_path):
    from exmy.sim.check import check

    float_acc = getattr(comp, "acc_format", None) is not None
    n = 8000 if float_acc else 20_000  # the float-acc golden model steps one cycle at a time
    small = comp.fmt_a.width + comp.fmt_b.width <= 12  # every pair fits in the stream
    res = check(comp, "icarus", inputs=_stream(comp, n, seed=7, pairs=small),
                build_dir=tmp_path)
    assert_ok(res)


# -- hardware vs golden: the default tier, >= 100k cycles per configuration ---------------
CONFIGS = {
    "e4m3fn-out": ("mac", "e4m3fn", "e4m3fn", {"fmt_out": "e4m3fn"}),
    "e5m2-flags": ("mac", "e5m2", "e5m2", {}),
    "e4m3fn-e5m2": ("mac", "e4m3fn", "e5m2", {"fmt_out": "bfloat16"}),
    "e2m1fn-e4m3fn": ("mac", "e2m1fn", "e4m3fn", {}),
    "int8": ("int-mac", "int8", "int8", {}),
    "uint4-int4": ("int-mac", "uint4", "int4", {}),
    "e4m3fn-lmul-out": ("mac", "e4m3fn", "e4m3fn", {"multiplier": "lmul", "fmt_out": "e4m3fn"}),
    "e5m2-lmul": ("mac", "e5m2", "e5m2", {"multiplier": "lmul"}),
}


def _make(unit, fa, fb, kw, latency):
    if unit == "int-mac":
        return IntMAC(fa, fb, latency=latency, **kw)
    if latency == 3 and "fmt_out" in kw:
        kw = {**kw, "y_latency": 1}  # the y register too
    return MAC(fa, fb, latency=latency, **kw)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_hw_stream(name, latency, simulator, tmp_path):
    from exmy.sim.check import check

    comp = _make(*CONFIGS[name], latency)
    assert comp.latency == latency
    res = check(comp, simulator, n=N_CYCLES, seed=11, build_dir=tmp_path)
    assert res.vectors >= N_CYCLES
    # every product of the format pair was applied (a stream is never exhaustive)
    assert not res.exhaustive and res.coverage.parts[0][0] == "every product pair"
    assert_ok(res)


@pytest.mark.parametrize("fa, acc, rand_bits, latency", [
    ("e4m3fn", "bfloat16", 8, 2), ("e3m2fn", "e3m4-ftz", 12, 1)])
def test_hw_float_acc_stochastic(fa, acc, rand_bits, latency, tmp_path):
    """The float accumulator with stochastic rounding is the FMA fed back too: its window keeps
    the R bits below the rounding position exactly (``fma_window_bits(..., rand_bits=R)``);
    100,000 cycles on Verilator (every product pair, the accumulator-range and special-value
    segments)."""
    from exmy.sim.check import check

    comp = MAC(fa, acc_format=acc, rounding="stochastic", rand_bits=rand_bits,
               latency=latency)
    res = check(comp, "verilator", n=N_CYCLES, seed=19, build_dir=tmp_path)
    assert res.vectors >= N_CYCLES
    assert_ok(res)


def test_stochastic_window_without_the_r_bits_is_caught(tmp_path, monkeypatch):
    """The check above can fail: with the window the round bit needs and no more (the R - 1
    extra bits dropped), a 12-bit stochastic accumulator into e3m4-ftz mismatches the golden
    MAC on Verilator (the Verilog built here, with the narrow window)."""
    import exmy.hdl.fma as fma
    from exmy.hdl.verilog import port_table, to_verilog
    from exmy.sim import compare, run_vectors
    from exmy.sim.check_mac import mac_expected, mac_stream

    comp = MAC("e3m2fn", acc_format="e3m4-ftz", rounding="stochastic", rand_bits=12)
    inputs, _ = mac_stream(comp, 20_000, np.random.default_rng(19))
    expected = mac_expected(comp, inputs)
    window = fma.fma_window_bits
    monkeypatch.setattr(fma, "fma_window_bits",
                        lambda fa, fb, fc, fo, g=1, r=0: window(fa, fb, fc, fo, g))
    text = to_verilog(comp, comp.module_name)
    got = run_vectors(text, comp.module_name, port_table(comp, text), inputs, ["acc"],
                      comp.latency, "verilator", tmp_path)
    assert compare(got, expected, describe=lambda i: f"cycle {i}")


@pytest.mark.parametrize("name", ["int8", "uint4-int4", "e4m3fn-out", "e5m2-flags"])
def test_stream_runs_reach_the_designed_range(name):
    """At the default tier's stream length every same-sign run of worst-case products goes two
    products past the accumulator's designed range (``safe_depth``), INT8's 16,383 included."""
    from exmy.sim.check_mac import extreme_operands, mac_stream

    comp = _make(*CONFIGS[name], 1)
    inputs, _ = mac_stream(comp, N_CYCLES, np.random.default_rng(11))
    a, b, clear = inputs["a"], inputs["b"], inputs["clear"]
    want = comp.mac_params.safe_depth + 2
    for x, y in extreme_operands(comp):
        starts = np.flatnonzero((a == x) & (b == y) & (clear == 1))
        longest = 0
        for s0 in starts:
            later_clear = (clear[s0:] == 1) & (np.arange(len(a) - s0) > 0)
            stop = np.flatnonzero((a[s0:] != x) | (b[s0:] != y) | later_clear)
            longest = max(longest, int(stop[0]) if len(stop) else len(a) - s0)
        assert longest >= want, (name, hex(x), hex(y), longest, want)


def test_hw_stream_float_acc(tmp_path):
    """bfloat16 accumulator at latencies 1 and 3 on both simulators: one test, because the
    golden float-accumulator model steps one cycle at a time (the expected outputs do not
    depend on latency or simulator, so they are computed once)."""
    from exmy.sim.check_mac import mac_expected, mac_stream

    first = MAC("e4m3fn", acc_format="bfloat16", latency=1)
    inputs, every = mac_stream(first, N_CYCLES, np.random.default_rng(11))
    assert every and len(inputs["a"]) >= N_CYCLES
    expected = mac_expected(first, inputs)
    for latency in (1, 3):
        comp = MAC("e4m3fn", acc_format="bfloat16", latency=latency)
        assert_acc_stream(comp, inputs, expected, tmp_path, f"latency {latency}")


# -- slow tier: every catalog format of at most 8 bits, INT2-INT8 ---------------------------
SLOW = [("mac", f.name, f.name) for f in catalog_formats(8) if f.zero] + [
    ("int-mac", f"int{k}", f"int{k}") for k in range(2, 9)
]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("latency", [1, 3])
@pytest.mark.parametrize("unit, fa, fb", SLOW, ids=lambda x: str(x))
def test_hw_stream_catalog(unit, fa, fb, latency, simulator, tmp_path):
    from exmy.sim.check import check

    kw = {} if unit == "int-mac" else {"fmt_out": fa}
    comp = _make(unit, fa, fb, kw, latency)
    res = check(comp, simulator, n=N_CYCLES, seed=13, build_dir=tmp_path)
    assert_ok(res)


#: the float accumulator (the FMA fed back with rne, rtz, rna) from every catalog operand
#: format of at most 8 bits into a 16-bit accumulator and into the operand's own format
FLOAT_ACC_SLOW = [(f.name, acc, r) for f in catalog_formats(8) if f.zero
                  for acc, r in (("bfloat16", "rne"), ("float16", "rtz"), (f.name, "rna"),
                                 ("float16", "stochastic"))]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("fa, acc, rounding", FLOAT_ACC_SLOW, ids=lambda x: str(x))
def test_hw_float_acc_catalog(fa, acc, rounding, simulator, tmp_path):
    from exmy.sim.check import check

    rand_bits = 9 if rounding == "stochastic" else None
    comp = MAC(fa, acc_format=acc, rounding=rounding, rand_bits=rand_bits, latency=2)
    res = check(comp, simulator, n=N_CYCLES, seed=17, build_dir=tmp_path)
    assert_ok(res)


def test_catalog_list():
    # the slow tier covers every catalog format of at most 8 bits that can be an operand
    names = {f.name for f in catalog_formats(8)}
    assert {fa for u, fa, _ in SLOW if u == "mac"} == names - {CATALOG["e8m0fnu"].name}
