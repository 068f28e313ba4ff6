"""The hardware self-test (BIST) of one exmy unit: on-chip stimulus, the unit, a signature.

No board here (``exmy.synth.bist`` puts a ``Bist`` on a board and builds it).

``Bist(unit)`` wraps one exmy unit component:

stimulus
    An exhaustive counter over the unit's data inputs when they total at most
    :data:`EXHAUSTIVE_BITS` bits (every input combination once, in counting order, ``a`` in the
    low bits); otherwise ``vectors`` (default :data:`DEFAULT_VECTORS`) states of Fibonacci
    LFSRs, one 64-bit LFSR (x^64 + x^4 + x^3 + x + 1, maximal length) per 64 input bits, each
    stepping once per cycle from a fixed seed. Stateful units (ports ``valid`` and ``clear``:
    ``mac``, ``int-mac``) take those two from a separate 16-bit LFSR (x^16 + x^12 + x^3 + x +
    1): ``valid`` with probability 3/4, ``clear`` 1/64, so accumulations run ~64 cycles.
checker
    A 32-bit MISR (multiple-input signature register: the Galois CRC-32 register, polynomial
    0x04C11DB7, with the output word XORed into its state every cycle; one LUT per bit).
    The word is the unit's checked outputs concatenated in the order of the simulation
    adapter (``y``; ``acc, flags, y`` for a MAC), XOR-folded to 32 bits. Output ``i`` is read
    ``unit.latency`` cycles after input ``i`` is applied, the timing contract of
    ``exmy.sim.check``. Any single wrong output bit, in any one vector, changes the signature
    (the MISR's state map is invertible); several errors alias with probability ~2**-32.
expected signature
    Computed at elaboration time: a Python model of the same counter/LFSR sequence, the
    golden outputs from the unit's simulation adapter (``exmy.sim.check.ADAPTERS[unit]
    .expected``, the same expectations ``exmy simulate`` checks), and the same MISR.

Outputs: ``done`` (all vectors checked), ``passed`` (``done`` and signature == expected),
``failed`` (``done`` and not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import (
    Cat,
    Const,
    Module,
    Mux,
    Shape,
    Signal,
    Value,
)
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = [
    "Bist",
    "BistPlan",
    "DEFAULT_VECTORS",
    "EXHAUSTIVE_BITS",
    "MAX_VECTORS",
    "check_fault",
    "LFSR16_TAPS",
    "LFSR64_TAPS",
    "CTRL_SEED",
    "MISR_POLY",
    "MISR_INIT",
    "bist_plan",
    "lfsr_sequence",
    "misr_signature",
]

#: data inputs of at most this many bits are applied exhaustively (as ``exmy simulate`` does)
EXHAUSTIVE_BITS = 16
#: LFSR vectors when the inputs are wider
DEFAULT_VECTORS = 1 << 16
#: largest vector count accepted (the expected signature is computed in Python)
MAX_VECTORS = 1 << 24

#: 64-bit Fibonacci LFSR: new bit = s63 ^ s62 ^ s60 ^ s59 (x^64 + x^4 + x^3 + x + 1)
LFSR64_TAPS = (63, 62, 60, 59)
#: 16-bit control LFSR: new bit = s15 ^ s14 ^ s12 ^ s3 (x^16 + x^12 + x^3 + x + 1)
LFSR16_TAPS = (15, 14, 12, 3)
CTRL_SEED = 0xACE1
#: CRC-32 polynomial of the MISR, and its reset value
MISR_POLY = 0x04C11DB7
MISR_INIT = 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# Python models of the stimulus and the signature
# --------------------------------------------------------------------------------------------

def _lfsr_seed(j: int) -> int:
    """Seed of the ``j``-th 64-bit stimulus LFSR (fixed, nonzero, different per LFSR)."""
    return ((0x9E3779B97F4A7C15 * (j + 1)) ^ 0x5DEECE66D) & ((1 << 64) - 1) or 1


def lfsr_sequence(seed: int, width: int, taps: tuple[int, ...], n: int) -> np.ndarray:
    """The first ``n`` states of a Fibonacci LFSR: ``s' = (s << 1 | parity(s & taps)) mod
    2**width``, starting at ``seed`` (what the hardware register holds in cycles 0..n-1)."""
    mask = (1 << width) - 1
    tapmask = sum(1 << t for t in taps)
    out = np.empty(n, dtype=np.uint64)
    s = seed
    for i in range(n):
        out[i] = s
        s = ((s << 1) | ((s & tapmask).bit_count() & 1)) & mask
    return out


def misr_signature(words: np.ndarray) -> int:
    """Final state of the 32-bit MISR after absorbing ``words`` (uint32 values, in order)."""
    s = MISR_INIT
    for w in words.tolist():
        s = (((s << 1) & 0xFFFFFFFF) ^ (MISR_POLY if s >> 31 else 0)) ^ w
    return s


def _fold32(values: list[np.ndarray], widths: list[int]) -> np.ndarray:
    """XOR-fold the concatenation of ``values`` (LSB first, each ``widths[k]`` bits; uint64 or
    Python-int object arrays) to one 32-bit word per vector."""
    n = len(values[0]) if values else 0
    fold = np.zeros(n, dtype=object)
    pos = 0
    for v, w in zip(values, widths, strict=True):
        v = np.asarray(v).astype(object)
        start = pos
        while start < pos + w:
            end = min((start // 32 + 1) * 32, pos + w)
            seg = (v >> (start - pos)) & ((1 << (end - start)) - 1)
            fold = fold ^ (seg << (start % 32))
            start = end
        pos += w
    return fold.astype(np.uint64)


def _bits(x: np.ndarray, lo: int, width: int) -> np.ndarray:
    return (x >> np.uint64(lo)) & np.uint64((1 << width) - 1)


# --------------------------------------------------------------------------------------------
# The plan: which ports, which stimulus, which expected signature
# --------------------------------------------------------------------------------------------

@dataclass
class BistPlan:
    """What the self-test applies and expects (all of it known at elaboration time)."""

    mode: str                                  # "exhaustive" or "lfsr"
    vectors: int
    data_ports: list[tuple[str, int, int]]     # (name, offset, width) in the stimulus vector
    data_bits: int
    control: bool                              # valid/clear driven from the control LFSR
    outputs: list[tuple[str, int]]             # (name, width), in MISR word order
    out_bits: int
    latency: int
    expected: int                              # expected MISR signature
    inputs: dict                               # the stimulus as arrays (name -> uint64)


def _port_widths(comp) -> dict[str, tuple[str, int]]:
    return {name: (m.flow.name, Shape.cast(m.shape).width)
            for name, m in comp.signature.members.items()}


def _adapter(unit: str):
    # The golden expectations behind ``exmy simulate`` (public ADAPTERS); the adapters of later
    # units register when their modules are imported, which ``_load_adapters`` does.
    import exmy.sim.check as simcheck

    simcheck._load_adapters()
    adapter = simcheck.ADAPTERS.get(unit)
    if adapter is None:
        raise ValueError(f"No self-test is defined for unit {unit!r}: it has no golden "
                         f"expectation adapter")
    return adapter


def _check_vectors(vectors) -> int | None:
    if vectors is None:
        return None
    if not isinstance(vectors, int) or isinstance(vectors, bool):
        raise TypeError(f"Vector count must be a positive integer, not {vectors!r}")
    if not 1 <= vectors <= MAX_VECTORS:
        raise ValueError(f"Vector count must be between 1 and {MAX_VECTORS}, not {vectors}")
    return vectors


def check_fault(fault, widths: dict[str, int], module: str) -> None:
    """``fault`` (port, bit) names a bit of one of the outputs ``widths`` (port -> width) of
    ``module``: the self-test's check, and ``exmy build``'s before it touches any folder."""
    if (not isinstance(fault, tuple) or len(fault) != 2 or not isinstance(fault[0], str)
            or not isinstance(fault[1], int) or isinstance(fault[1], bool)):
        raise TypeError(f"Fault must be a (port, bit) tuple, not {fault!r}")
    if fault[0] not in widths:
        raise ValueError(f"Fault port must be a checked output of {module} "
                         f"({', '.join(widths)}), not {fault[0]!r}")
    if not 0 <= fault[1] < widths[fault[0]]:
        raise ValueError(f"Fault bit of port {fault[0]!r} must be between 0 and "
                         f"{widths[fault[0]] - 1}, not {fault[1]}")


def bist_plan(comp, vectors: int | None = None) -> BistPlan:
    """The stimulus, checked outputs and expected signature of the self-test of ``comp``.

    ``vectors=None``: exhaustive when the data inputs total at most :data:`EXHAUSTIVE_BITS`
    bits, else :data:`DEFAULT_VECTORS` LFSR vectors; a number forces LFSR stimulus of that
    length.
    """
    vectors = _check_vectors(vectors)
    ports = _port_widths(comp)
    control = ports.get("valid") == ("In", 1) and ports.get("clear") == ("In", 1)
    data_ports, off = [], 0
    for name, (flow, width) in ports.items():
        if flow != "In" or (control and name in ("valid", "clear")):
            continue
        if width > 64:
            raise ValueError(f"Input port {name!r} of {comp.module_name} is {width} bits wide; "
                             "the self-test drives ports of at most 64 bits")
        data_ports.append((name, off, width))
        off += width
    data_bits = off
    exhaustive = vectors is None and data_bits <= EXHAUSTIVE_BITS
    n = (1 << data_bits) if exhaustive else (vectors or DEFAULT_VECTORS)

    # -- stimulus model ----------------------------------------------------------------------
    inputs: dict[str, np.ndarray] = {}
    if exhaustive:
        count = np.arange(n, dtype=np.uint64)
        for name, lo, w in data_ports:
            inputs[name] = _bits(count, lo, w)
    else:
        chunks = [lfsr_sequence(_lfsr_seed(j), 64, LFSR64_TAPS, n)
                  for j in range((data_bits + 63) // 64)]
        for name, lo, w in data_ports:
            j, k = divmod(lo, 64)
            v = chunks[j] >> np.uint64(k)
            if k + w > 64:
                v = v | (chunks[j + 1] << np.uint64(64 - k))
            inputs[name] = v & np.uint64((1 << w) - 1)
    if control:
        ctrl = lfsr_sequence(CTRL_SEED, 16, LFSR16_TAPS, n)
        inputs["valid"] = (~(_bits(ctrl, 0, 1) & _bits(ctrl, 1, 1))) & np.uint64(1)
        inputs["clear"] = _bits(ctrl, 2, 6) == np.uint64(0x3F)
        inputs["clear"] = inputs["clear"].astype(np.uint64)

    # -- golden outputs and the signature ----------------------------------------------------
    adapter = _adapter(comp.unit)
    expected = adapter.expected(comp, inputs)
    names = list(adapter.outputs)  # read after expected(): the MAC adapter sets it there
    outputs = []
    for name in names:
        if ports.get(name, ("", 0))[0] != "Out":
            raise ValueError(f"Output {name!r} of the golden adapter is not an output port of "
                             f"{comp.module_name}")
        outputs.append((name, ports[name][1]))
    words = _fold32([expected[o] for o, _ in outputs], [w for _, w in outputs])
    return BistPlan(
        mode="exhaustive" if exhaustive else "lfsr", vectors=n, data_ports=data_ports,
        data_bits=data_bits, control=control, outputs=outputs,
        out_bits=sum(w for _, w in outputs), latency=comp.latency,
        expected=misr_signature(words), inputs=inputs,
    )


# --------------------------------------------------------------------------------------------
# Hardware
# --------------------------------------------------------------------------------------------

class Bist(wiring.Component):
    """Built-in self-test of one exmy unit (see the module docstring).

    Parameters
    ----------
    unit : exmy unit component
        From ``exmy.hdl.registry.build``; it becomes the submodule ``dut``.
    vectors : int, optional
        LFSR vector count; default exhaustive for at most 16 data-input bits, else 65536.
    fault : (str, int), optional
        Fault injection for tests and board demos: XOR bit ``fault[1]`` of output
        ``fault[0]`` on its way to the checker, in every vector, so the test must fail.

    Attributes
    ----------
    done : Signal, out
        Every vector has been checked; stays high until reset.
    passed, failed : Signal, out
        ``done`` and the signature equals / differs from the expected one.
    sig : Signal(32), out
        The MISR state (final once ``done``).
    """

    def __init__(self, unit, *, vectors: int | None = None,
                 fault: tuple[str, int] | None = None):
        if not isinstance(unit, wiring.Component) or not hasattr(unit, "latency"):
            raise TypeError(f"Unit must be an exmy unit component, not {unit!r}")
        self.unit = unit
        self.plan = bist_plan(unit, vectors)
        if fault is not None:
            check_fault(fault, dict(self.plan.outputs), unit.module_name)
        self.fault = fault
        super().__init__({"done": Out(1), "passed": Out(1), "failed": Out(1),
                          "sig": Out(32)})

    @property
    def expected(self) -> int:
        return self.plan.expected

    def elaborate(self, platform):
        m = Module()
        p = self.plan
        m.submodules.dut = dut = self.unit
        n = p.vectors

        # -- stimulus: vector i is on the unit's inputs in cycle i ---------------------------
        idx = Signal(range(n + 1), name="stim_index")
        running = Signal(name="stim_running")
        m.d.comb += running.eq(idx < n)
        with m.If(running):
            m.d.sync += idx.eq(idx + 1)
        if p.mode == "exhaustive":
            vec = idx[: p.data_bits] if p.data_bits else Const(0, 0)
        else:
            chunks = []
            for j in range((p.data_bits + 63) // 64):
                s = Signal(64, init=_lfsr_seed(j), name=f"stim_lfsr{j}")
                fb = s[LFSR64_TAPS[0]]
                for t in LFSR64_TAPS[1:]:
                    fb = fb ^ s[t]
                with m.If(running):
                    m.d.sync += s.eq(Cat(fb, s[:63]))
                chunks.append(s)
            vec = Cat(*chunks)
        for name, lo, w in p.data_ports:
            m.d.comb += Value.cast(getattr(dut, name)).eq(vec[lo: lo + w])
        if p.control:
            ctrl = Signal(16, init=CTRL_SEED, name="stim_ctrl")
            fb = ctrl[LFSR16_TAPS[0]]
            for t in LFSR16_TAPS[1:]:
                fb = fb ^ ctrl[t]
            with m.If(running):
                m.d.sync += ctrl.eq(Cat(fb, ctrl[:15]))
            m.d.comb += [
                dut.valid.eq(running & ~(ctrl[0] & ctrl[1])),
                dut.clear.eq(running & ctrl[2:8].all()),
            ]

        # -- checker: outputs of vector i arrive `latency` cycles later -----------------------
        check = running
        for k in range(p.latency):
            nxt = Signal(name=f"chk_pipe{k}")
            m.d.sync += nxt.eq(check)
            check = nxt
        word = []
        for name, w in p.outputs:
            v = Value.cast(getattr(dut, name)).as_unsigned()
            if self.fault is not None and self.fault[0] == name:
                v = v ^ Const(1 << self.fault[1], w)
            word.append(v)
        word = Cat(*word)
        fold = Const(0, 32)
        for lo in range(0, len(word), 32):
            fold = fold ^ word[lo: lo + 32]
        misr = Signal(32, init=MISR_INIT, name="chk_misr")
        with m.If(check):
            m.d.sync += misr.eq(Cat(Const(0, 1), misr[:31])
                                ^ Mux(misr[31], Const(MISR_POLY, 32), 0) ^ fold)

        # -- done when every vector has been issued and checked -------------------------------
        # (`check` is `running` delayed by the latency: both low means the pipeline is empty)
        done = Signal(name="chk_done")
        with m.If(~running & ~check):
            m.d.sync += done.eq(1)
        m.d.comb += [
            self.done.eq(done),
            self.sig.eq(misr),
            self.passed.eq(done & (misr == p.expected)),
            self.failed.eq(done & (misr != p.expected)),
        ]
        return m
