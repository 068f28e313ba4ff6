"""The delay model of frequency-directed pipelining (SPEC 6): how long the logic between two
pipeline registers takes on each FPGA family, and the placement of registers that meets a clock.

A unit adds up the terms of the logic it builds between two cut points (``dm.adder(w)``,
``dm.shifter(w, s)``, ...); :class:`~exmy.hdl.util.Pipeline` records those segments and
:func:`plan_placement` chooses which cut points hold registers, FloPoCo style: the fewest
register bits (SPEC 6) whose every stage's predicted delay fits the period, ties broken by the
fewest register stages. The constants are per family, measured against nextpnr
(``benchmarks/calibrate_delay.py``; figures and method in docs/results/delay_model.md).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = [
    "DelayModel", "FAMILIES", "Segment", "Plan", "Probe", "delay_model", "plan_placement",
    "best_text", "check_target", "check_fmax", "OutOfReach", "placed_size", "plan_placed",
]


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns of the building blocks of exmy's datapaths on one FPGA family.

    ``t_reg`` is the fixed cost of a stage (clock-to-Q, setup and the nets at both ends);
    ``t_lut`` one LUT level with its routing; an adder costs ``t_carry0 + t_carry_bit * w``
    (entering and leaving the carry chain, then per bit); ``k`` is the LUT size. ``t_stage`` is
    what a stage inside a unit costs beyond a lone circuit between I/O registers (register
    fan-out and reset, routing between the annotated terms): :meth:`period` and :meth:`fmax`
    charge ``t_reg + t_stage`` per stage. A stage whose annotated logic exceeds ``t_knee`` ns
    counts the excess at ``knee_slope`` (synthesis merges logic across the annotated terms of
    a long stage); the annotations stay additive, :meth:`period` returns the annotated budget.
    ``t_chain`` is the route into a carry chain whose operand was computed by logic earlier in
    the same stage (another chain's sum, a leading-zero count: :meth:`chained`), which a lone
    adder between registers does not show. ``t_floor`` is the least logic delay any stage inside
    a unit takes (its registers' fan-out and routing): a shorter annotation counts as
    ``t_floor``, so no clock above ``fmax(0)`` is within reach.

    The routes of a larger design are longer: a unit of ``size_bits`` has its stages' logic
    multiplied by ``1 + size_slope * log2(size_bits / size_bits0)`` when ``size_bits`` is
    above ``size_bits0``, and below it too with ``size_two_sided`` (a small unit's routes are
    shorter; never below 0.3). With ``size_placed`` (ice40) the size is the register
    bits of the placement itself, :func:`placed_size`: the ports (the synthesis flow
    registers them), forced and loop registers and the registered cuts, so a unit places,
    counts and places again until its size settles (:func:`plan_placed`,
    ``Unit._place_sized``); without it, the register bits of all the unit's cut points
    together (:meth:`sized` gives a unit's model). A feedback loop is one short
    cycle the placer keeps together: ``loop=True`` leaves it unscaled, and with
    ``knee_loops`` False it is charged as annotated above the knee too (a loop is one
    register-to-register path through all its terms; the measurements: docs/results/fmax.md,
    "Loops on ECP5"). A *logic loop* (``logic=True``: many LUT levels round the loop, the
    float-accumulator MAC's align, add, normalise and round) is charged as its annotation
    times ``loop_scale``, never past the knee, on every family (measured by
    ``benchmarks/loop_scale.py``: docs/results/loop_scale.md); ``knee_loops`` speaks for the
    others (an accumulator's carry chain with its gating).
    """

    family: str
    k: int
    t_reg: float
    t_lut: float
    t_carry0: float
    t_carry_bit: float
    t_stage: float = 0.0
    t_knee: float = math.inf
    knee_slope: float = 1.0
    t_chain: float = 0.0
    t_floor: float = 0.0
    size_slope: float = 0.0
    size_bits0: float = math.inf
    size_bits: int = 0
    knee_loops: bool = True
    loop_scale: float = 1.0
    size_two_sided: bool = False
    size_placed: bool = False
    #: a ``*`` of at most ``dsp_width`` bits per operand (and at least 2) that Yosys maps to
    #: one DSP block, combinational (its own registers unused): ``t_dsp`` ns of logic; 0: no
    #: DSP measured on the family. ``dsp``: the unit is placed for a flow that allows DSPs
    #: (:meth:`with_dsp`), so :meth:`multiplier` charges such a ``*`` as the DSP
    t_dsp: float = 0.0
    dsp_width: int = 0
    dsp: bool = False
    #: a ``*`` whose narrower operand has at most ``star_max`` bits may stay one ``*`` in LUTs
    #: where it fits the period (:meth:`keeps_star`); a wider one is always built as
    #: partial products and an adder tree (hdl/arith.py), where that tree measured smaller
    #: than Yosys' ``*`` (ecp5; the measurements and why 4: docs/results/star_vs_tree.md and
    #: docs/results/fmax.md, "wide products as the tree")
    star_max: int = 1 << 30

    @property
    def has_dsp(self) -> bool:
        """Whether the family's DSP delay is measured (:meth:`with_dsp` takes it)."""
        return self.t_dsp > 0

    def with_dsp(self) -> DelayModel:
        """This model for a flow that maps a ``*`` to DSP blocks (ValueError on a family
        whose DSP delay is not measured)."""
        if not self.has_dsp:
            raise ValueError(f"exmy has no measured DSP delay for {self.family} (measured: "
                             f"{', '.join(f for f, m in _MODELS.items() if m.has_dsp)}); "
                             f"place the registers without dsp")
        return dataclasses.replace(self, dsp=True)

    def maps_to_dsp(self, wa: int, wb: int) -> bool:
        """Whether a ``wa x wb`` ``*`` is one DSP block in a flow that allows DSPs (Yosys'
        ``mul2dsp``: each operand at least 2 bits and at most ``dsp_width``)."""
        return self.dsp and 2 <= min(wa, wb) and max(wa, wb) <= self.dsp_width

    def keeps_star(self, wa: int, wb: int) -> bool:
        """Whether a ``wa x wb`` product may stay one ``*`` where the model says it fits the
        period: one DSP block in a flow with DSPs (:meth:`maps_to_dsp`), or a narrower
        operand of at most :attr:`star_max` bits."""
        return self.maps_to_dsp(wa, wb) or min(wa, wb) <= self.star_max

    def star_fits(self, wa: int, wb: int, fmax: float, before: float = 0.0) -> bool:
        """Whether fmax mode builds a ``wa x wb`` product as one ``*`` in a stage clocked at
        ``fmax`` MHz after ``before`` ns of other logic: :meth:`keeps_star` and
        :meth:`multiplier` fits the period; else the partial-product tree."""
        return self.keeps_star(wa, wb) and before + self.multiplier(wa, wb) <= self.period(fmax)

    def sized(self, size_bits: int) -> DelayModel:
        """This model for a unit whose cut points hold ``size_bits`` register bits."""
        return dataclasses.replace(self, size_bits=int(size_bits))

    def size_factor(self, loop: bool = False) -> float:
        """What the unit's size multiplies its stages' logic by (1 for a loop)."""
        if loop or self.size_slope == 0 or self.size_bits <= 0:
            return 1.0
        if self.size_bits <= self.size_bits0 and not self.size_two_sided:
            return 1.0
        return max(0.3, 1.0 + self.size_slope * math.log2(self.size_bits / self.size_bits0))

    def levels(self, n_inputs: int) -> int:
        """LUT levels of an arbitrary function of ``n_inputs`` bits (a tree of k-LUTs)."""
        n, lv = max(int(n_inputs), 1), 1
        while n > self.k:
            n = math.ceil(n / self.k)
            lv += 1
        return lv

    def lut(self, levels: int = 1) -> float:
        return levels * self.t_lut

    def logic(self, n_inputs: int) -> float:
        return self.lut(self.levels(n_inputs))

    def adder(self, width: int) -> float:
        """Add, subtract or compare ``width`` bits on the carry chain."""
        return self.t_carry0 + self.t_carry_bit * max(int(width), 1)

    def chained(self, width: int) -> float:
        """An adder or compare of ``width`` bits whose operand is another carry chain's sum
        computed earlier in the same stage: :meth:`adder` plus the route between the chains."""
        return self.adder(width) + self.t_chain

    def mux(self, n_ways: int) -> float:
        if n_ways <= 1:
            return 0.0
        return self.logic(n_ways + math.ceil(math.log2(n_ways)))

    def shifter(self, width: int, amount_bits: int) -> float:
        """A barrel shifter: ``amount_bits`` levels of 2:1 muxes, LUT-packed (a k-LUT holds
        ``k // 2 - 1`` levels: 1 for LUT4, 2 for LUT6)."""
        if amount_bits <= 0 or width <= 1:
            return 0.0
        return self.lut(math.ceil(amount_bits / max(self.k // 2 - 1, 1)))

    def lzc(self, width: int) -> float:
        """Leading-zero count of ``width`` bits (a log tree of priority muxes)."""
        if width <= 1:
            return self.t_lut
        return self.lut(max(1, math.ceil(math.log2(width) * 2 / max(self.k // 2, 1))))

    def multiplier(self, wa: int, wb: int) -> float:
        """An unpipelined ``wa x wb`` product as Yosys maps ``*`` without DSPs: AND partial
        products, a carry-save tree (``maccmap``), one final adder; with :attr:`dsp`, a
        product one DSP block takes (:meth:`maps_to_dsp`) costs ``t_dsp``."""
        if self.maps_to_dsp(wa, wb):
            return self.t_dsp
        lo = min(wa, wb)
        if lo <= 1:
            return self.t_lut
        csa = max(0, math.ceil(math.log(lo / 2, 1.5))) if lo > 2 else 0
        return self.t_lut * (1 + csa) + self.adder(wa + wb)

    def stage_logic(self, annotated: float, loop: bool = False, logic: bool = False) -> float:
        """Predicted logic delay (ns) of a stage whose annotations add up to ``annotated``
        (``logic``: a logic loop, ``loop_scale`` times its annotation)."""
        d = annotated
        if loop and logic:
            d = annotated * self.loop_scale
        elif annotated > self.t_knee and (self.knee_loops or not loop):
            d = self.t_knee + self.knee_slope * (annotated - self.t_knee)
        return max(d * self.size_factor(loop), self.t_floor)

    def budget(self, fmax_mhz: float) -> float:
        """Predicted logic delay (ns) a stage may take at ``fmax_mhz``."""
        return 1000.0 / fmax_mhz - self.t_reg - self.t_stage

    def period(self, fmax_mhz: float, loop: bool = False, logic: bool = False) -> float:
        """Logic delay (as annotated) one stage may hold at ``fmax_mhz`` (below ``t_floor`` no
        stage meets the clock, however short: :func:`plan_placement` says so)."""
        ns = self.budget(fmax_mhz) / self.size_factor(loop)
        if loop and logic:
            return ns / self.loop_scale
        if ns <= self.t_knee or (loop and not self.knee_loops):
            return ns
        return self.t_knee + (ns - self.t_knee) / self.knee_slope

    def fmax(self, stage_delay: float, loop: bool = False, logic: bool = False) -> float:
        """Predicted Fmax (MHz) of a stage whose logic is annotated ``stage_delay`` ns."""
        return 1000.0 / (self.stage_logic(stage_delay, loop, logic) + self.t_reg
                         + self.t_stage)


#: ECP5's MULT18X18D as Yosys maps a ``*`` to it (combinational): the slowest median over
#: operand widths 2-16 of nextpnr's register-to-register logic delay, measured by
#: benchmarks/calibrate_dsp.py (docs/results/dsp_delay.md)
T_DSP_ECP5 = 5.9

#: fitted to nextpnr by benchmarks/calibrate_delay.py (the measurements and the fits:
#: docs/results/delay_model.md and .json): ecp5 and ice40 on their calibration circuits, with
#: the unit designs' tails on top (fit_tails): ecp5's knee and floor; ice40's t_stage, knee,
#: floor and size term on the placed bits, both sides (fit_size_tails); ecp5's t_chain read
#: from nextpnr's critical paths (CHAIN_ROUTES there); gowin on the circuits alone; xilinx:
#: published 7-series figures. ecp5's loops skip the knee (calibrate_delay.py's KNEE_LOOPS;
#: docs/results/fmax.md, "Loops on ECP5"); ice40's fit discounts its MACs' loops. loop_scale
#: (ecp5, ice40): the logic loops of four float-accumulator MACs, fitted (minimax) and checked
#: on four more (benchmarks/loop_scale.py, docs/results/loop_scale.md); gowin and xilinx have
#: no such measurement (1: as annotated)
_MODELS = {
    "ecp5": DelayModel("ecp5", k=4, t_reg=1.044, t_lut=0.992, t_carry0=1.428, t_carry_bit=0.038,
                       t_knee=9.0, knee_slope=0.5, t_floor=2.7, t_chain=1.44, knee_loops=False,
                       t_dsp=T_DSP_ECP5, dsp_width=18, star_max=4, loop_scale=0.79),
    "ice40": DelayModel("ice40", k=4, t_reg=0.586, t_lut=1.135, t_carry0=1.932, t_carry_bit=0.154,
                        t_stage=0.3, t_knee=2.0, knee_slope=0.8, t_floor=2.5, size_slope=0.1,
                        size_bits0=400, size_two_sided=True, size_placed=True,
                        loop_scale=0.73),
    "gowin": DelayModel("gowin", k=4, t_reg=1.081, t_lut=1.12, t_carry0=1.688, t_carry_bit=0.08),
    "xilinx": DelayModel("xilinx", k=6, t_reg=0.9, t_lut=0.55, t_carry0=0.8, t_carry_bit=0.03),
}

FAMILIES = tuple(_MODELS)


def check_target(target) -> str:
    if not isinstance(target, str):
        raise TypeError(f"Timing target must be a string, not {target!r}")
    if target not in _MODELS:
        raise ValueError(f"Timing target {target!r} has no delay model (exmy's delay models: "
                         f"{', '.join(FAMILIES)}); give a latency instead of fmax, or place "
                         f"the registers for one of those families")
    return target


#: the clocks (MHz) fmax mode takes
FMAX_RANGE = (1, 1000)


def check_fmax(fmax) -> float:
    if isinstance(fmax, bool) or not isinstance(fmax, (int, float)):
        raise TypeError(f"Fmax must be a number of MHz, not {fmax!r}")
    lo, hi = FMAX_RANGE
    if not (math.isfinite(fmax) and lo <= fmax <= hi):
        raise ValueError(f"Fmax must be between {lo} and {hi} MHz, not {fmax}")
    return float(fmax)


def delay_model(target: str = "ecp5") -> DelayModel:
    """The delay model of FPGA family ``target`` (ecp5, ice40, gowin, xilinx)."""
    return _MODELS[check_target(target)]


class OutOfReach(ValueError):
    """No placement meets the clock (:func:`plan_placement`): the message names the limiting
    stage or loop; ``target``, ``fmax`` and ``best`` (the best predicted Fmax of the unit as
    built for ``fmax``, MHz) are kept for callers that search a lower clock."""

    def __init__(self, message: str, target: str, fmax: float, best: float):
        super().__init__(message)
        self.target, self.fmax, self.best = target, fmax, best


@dataclass(frozen=True)
class Segment:
    """One cut point as the probe elaboration saw it: the logic delay since the previous cut
    (``delay``, ns), the register bits a register here would take, and whether the unit forces
    a register here (``fixed``: a MAC's accumulator) or it is a feedback loop (``loop``; a
    logic loop with ``logic``: :class:`DelayModel`)."""

    name: str
    delay: float
    bits: int = 0
    fixed: bool = False
    loop: bool = False
    logic: bool = False

    def fmax(self, dm: DelayModel) -> float:
        """This loop's predicted Fmax under ``dm``."""
        return dm.fmax(self.delay, loop=True, logic=self.logic)


@dataclass(frozen=True)
class Plan:
    """A chosen placement: the registered cut names, the predicted stage delays."""

    target: str
    fmax_target: float
    registered: frozenset
    latency: int
    stage_delays: tuple
    fmax_predicted: float
    segments: tuple
    size_bits: int = 0
    size_factor: float = 1.0

    # -- the Pipeline's questions (exmy.hdl.util.Pipeline) ---------------------------------
    def wants(self, name: str, delay: float, values) -> bool:
        return name in self.registered

    def forced(self, name: str, delay: float, values) -> None:
        pass

    def loop(self, name: str, delay: float, logic: bool = False) -> None:
        pass

    def final(self, delay: float) -> None:
        pass

    def report(self) -> dict:
        return {
            "target": self.target,
            "fmax_target": self.fmax_target,
            "fmax_predicted": round(self.fmax_predicted, 1),
            "latency": self.latency,
            "size_bits": self.size_bits,
            "size_factor": self.size_factor,
            "stages": [{"name": s.name, "delay_ns": round(s.delay, 3),
                        "registered": s.name in self.registered or s.fixed}
                       for s in self.segments if not s.loop],
            "loops": [{"name": s.name, "delay_ns": round(s.delay, 3)}
                      for s in self.segments if s.loop],
            "stage_delays_ns": [round(d, 3) for d in self.stage_delays],
        }


class Probe:
    """What the probe elaboration of a unit records: every cut point in datapath order."""

    def __init__(self):
        self.segments: list[Segment] = []
        self.final_delay = 0.0

    @staticmethod
    def _bits(values) -> int:
        from amaranth.hdl import Value

        return sum(len(Value.cast(v)) for v in values)

    def wants(self, name: str, delay: float, values) -> bool:
        self.segments.append(Segment(name, float(delay), self._bits(values)))
        return False

    def forced(self, name: str, delay: float, values) -> None:
        self.segments.append(Segment(name, float(delay), self._bits(values), fixed=True))

    def loop(self, name: str, delay: float, logic: bool = False) -> None:
        self.segments.append(Segment(name, float(delay), loop=True, logic=bool(logic)))

    def final(self, delay: float) -> None:
        self.final_delay = float(delay)


def best_text(best: float, fmax: float) -> str:
    """The best predicted Fmax ``best`` (MHz) of a refusal of ``fmax``, in whole MHz, or with
    one decimal where whole MHz would read as ``fmax`` or more (22.9, not 23, for a refused
    23; rounded down where even that would)."""
    for text in (f"{best:.0f}", f"{best:.1f}"):
        if float(text) < fmax:
            return text
    return f"{math.floor(best * 10) / 10:.1f}"


def plan_placement(segments: list[Segment], final_delay: float, target: str,
                   fmax: float, unit: str = "unit", size_bits: int = 0) -> Plan:
    """Choose registers among ``segments`` (cut points in datapath order; the logic after the
    last one takes ``final_delay``) so that every stage fits ``fmax`` on ``target``: fewest
    register bits (SPEC 6), then fewest register stages (dynamic programming over the chain).
    Inputs and outputs count as registered (the synthesis flow registers a unit's I/O). Raises
    ValueError naming the limiting stage when no placement can meet ``fmax``. ``size_bits``:
    the unit's size (:meth:`DelayModel.sized`; 0: unscaled)."""
    dm = delay_model(target).sized(size_bits)
    budget = dm.period(fmax)
    cuts = [s for s in segments if not s.loop]
    loops = [s for s in segments if s.loop]
    delays = [s.delay for s in cuts] + [final_delay]
    names = [s.name for s in cuts] + ["output"]
    worst_single = max(range(len(delays)), key=lambda i: delays[i])
    for lp in loops:
        if lp.delay > dm.period(fmax, loop=True, logic=lp.logic):
            raise OutOfReach(
                f"{unit}: {fmax:g} MHz on {target} is out of reach: the feedback loop "
                f"{lp.name!r} cannot be pipelined and takes {lp.delay:.2f} ns (best predicted "
                f"Fmax {best_text(lp.fmax(dm), fmax)} MHz)", target, fmax, lp.fmax(dm))
    if delays[worst_single] > budget:
        best = min([dm.fmax(delays[worst_single])]
                   + [lp.fmax(dm) for lp in loops])
        raise OutOfReach(
            f"{unit}: {fmax:g} MHz on {target} is out of reach: the stage ending at "
            f"{names[worst_single]!r} takes {delays[worst_single]:.2f} ns of logic that exmy "
            f"cannot cut further (best predicted Fmax {best_text(best, fmax)} MHz)", target,
            fmax, best)
    if dm.budget(fmax) < dm.t_floor:
        raise OutOfReach(
            f"{unit}: {fmax:g} MHz on {target} is out of reach: no stage inside a unit is "
            f"predicted faster than {dm.fmax(0.0):.0f} MHz on {target} (its least logic delay, "
            f"{dm.t_floor:g} ns, docs/results/delay_model.md)", target, fmax, dm.fmax(0.0))
    n = len(cuts)
    inf = (math.inf, math.inf)
    # best[i]: (bits, registers) of the cheapest valid placement of everything up to cut i
    # with a register at cut i (i = n: the flow's output register); j = -1 is the inputs
    best = [inf] * (n + 1)
    prev: list[int | None] = [None] * (n + 1)
    for i in range(n + 1):
        acc = 0.0
        for j in range(i - 1, -2, -1):
            acc += delays[j + 1]  # the stage from register j to register i
            if acc > budget + 1e-9:
                break
            base = (0, 0) if j < 0 else best[j]
            if base != inf:
                cost = base if i == n else (base[0] + cuts[i].bits, base[1] + 1)
                if cost < best[i]:
                    best[i], prev[i] = cost, j
            if j >= 0 and cuts[j].fixed:
                break  # a forced register cannot be skipped
    if best[n] == inf:  # cannot happen when every single segment fits
        raise OutOfReach(f"{unit}: no placement meets {fmax:g} MHz on {target}", target, fmax,
                         0.0)
    chosen, i = [], prev[n]
    while i is not None and i >= 0:
        chosen.append(i)
        i = prev[i]
    chosen.sort()
    stage_delays, start = [], -1
    for c in chosen + [n]:
        stage_delays.append(sum(delays[start + 1:c + 1]))
        start = c
    slowest = min([dm.fmax(max(stage_delays))]
                  + [lp.fmax(dm) for lp in loops])
    return Plan(target, fmax, frozenset(cuts[c].name for c in chosen), len(chosen),
                tuple(stage_delays), slowest, tuple(segments), dm.size_bits,
                round(dm.size_factor(), 4))


def placed_size(segments, registered, io_bits: int) -> int:
    """The register bits of a placement (a family with ``size_placed``): the ports
    (``io_bits``), forced registers, feedback loops' registers and the ``registered`` cuts."""
    return io_bits + sum(s.bits for s in segments
                         if s.loop or s.fixed or s.name in registered)


def plan_placed(probe_at, target: str, fmax: float, unit: str = "unit",
                io_bits: int = 0) -> Plan:
    """:func:`plan_placement` on a family whose size term is the placement's own register
    bits. ``probe_at(size)`` gives the unit's cut points as annotated for that size
    (``(segments, final_delay)``: a unit re-probes, since its own choices from the model, a
    ``*`` or a tree, a MAC's chunks, follow the size; fixed segments may ignore it). From the
    bits no placement avoids (``io_bits``, forced and loop registers) place, count the placed
    bits and place again at that size until it no longer grows: a larger size only tightens
    the budget, so the bits grow monotonically and this ends (the bound is a guard)."""
    segments, final_delay = probe_at(0)
    size = placed_size(segments, (), io_bits)
    for _ in range(16):
        segments, final_delay = probe_at(size)
        plan = plan_placement(segments, final_delay, target, fmax, unit=unit, size_bits=size)
        placed = placed_size(segments, plan.registered, io_bits)
        if placed <= size:
            break
        size = placed
    return plan
