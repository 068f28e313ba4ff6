"""What every exmy unit component shares: parameters, port formats, latency, naming."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from amaranth.lib import wiring

from exmy.golden.params import plain_scalar

from .timing import Probe, check_fmax, check_target, delay_model, plan_placed, plan_placement
from .util import check_bool, check_latency

__all__ = ["Unit", "UnitInfo", "unit_builder"]


@dataclass(frozen=True)
class UnitInfo:
    """One row of the unit table (``exmy.hdl.units.UNIT_TABLE``): CLI name, the builder
    ``fn(**options) -> Unit``, the options it takes, a one-line summary."""

    name: str
    build: Callable[..., Unit]
    options: tuple[str, ...]
    summary: str


def unit_builder(name: str, options: tuple[str, ...], summary: str):
    """Decorator: mark ``fn(**options) -> Unit`` as the builder of unit ``name`` (its
    ``unit_info``). Nothing is registered: ``exmy.hdl.units.UNIT_TABLE`` lists every builder."""

    def deco(fn):
        fn.unit_info = UnitInfo(name, fn, tuple(options), summary)
        return fn

    return deco


class Unit(wiring.Component):
    """Base of the exmy units.

    Subclasses set ``unit`` (the CLI name), fill ``self.params`` (JSON-able, canonical, in a
    fixed order: they name the Verilog module and key the synthesis cache) and
    ``self.port_formats`` (port -> format) before calling ``super().__init__(ports)``.
    """

    unit: str = "unit"
    latency: int = 0
    #: fmax mode (SPEC 6): the FPGA family and clock the registers are placed for, and the
    #: placement (an ``exmy.hdl.timing.Plan``; a ``Probe`` while it is being chosen)
    target: str | None = None
    fmax: float | None = None
    plan = None
    #: fmax mode: placed for a synthesis flow that maps a ``*`` to DSP blocks (the delay
    #: model charges such a ``*`` as the DSP: ``DelayModel.with_dsp``)
    dsp: bool = False

    def __init_subclass__(cls, **kwargs):
        """Each unit's constructor takes numpy scalars (``latency=np.int64(2)``,
        ``fmax=np.float32(200)``) as the Python values they hold, as ``registry.build`` and
        the sweeps do (``plain_scalar``): the checks behind it see one kind of number."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_plain_scalars", False):
            return

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            init(self, *map(plain_scalar, args), **{k: plain_scalar(v) for k, v in kw.items()})

        __init__._plain_scalars = True
        cls.__init__ = __init__

    def __init__(self, signature=None, *, src_loc_at=0):
        super().__init__(signature, src_loc_at=src_loc_at + 1)
        if self.fmax is not None:
            self._place_registers()

    #: fmax mode: the unit's size, the delay model's measure of how far the placer spreads it
    #: (``DelayModel.sized``): on a ``size_placed`` family (ice40) the register bits of the
    #: placement itself (``timing.placed_size``), else the register bits of all its cut
    #: points; 0 on a family without a size term
    size_bits: int = 0

    @property
    def dm(self):
        """The delay model the unit annotates its cut points with (``exmy.hdl.timing``): the
        fmax target's for a unit of this size, ecp5's when the latency is explicit (then
        delays are not used)."""
        dm = delay_model(self.target or "ecp5").sized(self.size_bits)
        return dm.with_dsp() if self.dsp else dm

    def set_timing(self, latency, target=None, fmax=None, *, minimum: int = 0,
                   what: str = "Latency", why: str | None = None, dsp: bool = False) -> int:
        """The one latency/fmax check of a unit's constructor: an explicit ``latency``
        (default ``minimum``), or ``fmax`` (MHz) on ``target`` (FPGA family, default ecp5)
        and exmy places the registers (after ``__init__``; :attr:`plan` records how), with
        ``dsp`` for a flow that maps a ``*`` to DSP blocks."""
        dsp = check_bool(dsp, "dsp")
        if dsp and fmax is None:
            raise ValueError("dsp places the registers for a flow with DSP blocks: it needs "
                             "fmax (an explicit latency places no registers by delay)")
        if fmax is None:
            if target is not None:
                raise ValueError(f"Timing target {target!r} needs fmax (the clock to place the "
                                 f"registers for); without fmax give latency")
            return check_latency(minimum if latency is None else latency, minimum=minimum,
                                 what=what, why=why)
        if latency is not None:
            raise ValueError(f"Give latency ({latency}) or fmax ({fmax}), not both: with fmax "
                             f"exmy chooses the latency")
        self.fmax = check_fmax(fmax)
        self.target = check_target("ecp5" if target is None else target)
        if dsp:
            delay_model(self.target).with_dsp()  # (a family without a measured DSP: refused)
        self.dsp = dsp
        self._min_latency = minimum
        return minimum

    def _sized(self) -> None:
        """fmax mode on a family with a size term, once :attr:`size_bits` is known: remake
        the structural choices the constructor made from the unsized model (a MAC's
        accumulator chunks) with :attr:`dm`. Default: none."""

    def _place_registers(self) -> None:
        """Probe-elaborate, choose the placement, record it (fmax mode)."""
        from amaranth.hdl import Fragment

        probe = self.plan = Probe()
        Fragment.get(self, None)
        if delay_model(self.target).size_placed:
            self._place_sized(probe)
            return
        if delay_model(self.target).size_slope:
            # the unit's size scales its stages' delays: probe again, so that the choices the
            # unit makes from the model (a `*` or a tree, ...) see the scaled delays too
            self.size_bits = sum(s.bits for s in probe.segments if not s.loop)
            self._sized()
            probe = self.plan = Probe()
            Fragment.get(self, None)
        plan = plan_placement(probe.segments, probe.final_delay, self.target, self.fmax,
                              unit=self.unit, size_bits=self.size_bits)
        self._record(plan)

    def io_bits(self) -> int:
        """The bits the synthesis flow registers around the unit: its ports, and ``rst``
        with them (``timing.placed_size``'s ``io_bits``)."""
        from amaranth.hdl import Shape

        return 1 + sum(Shape.cast(member.shape).width
                       for _path, member in self.signature.members.flatten())

    def _place_sized(self, probe) -> None:
        """A family whose size term is the placement's own register bits
        (``timing.plan_placed``): the unit re-probed at each size it is placed at."""
        from amaranth.hdl import Fragment

        def probe_at(size):
            nonlocal probe
            if size:  # 0: the first probe, already made
                self.size_bits = size
                self._sized()
                probe = self.plan = Probe()
                Fragment.get(self, None)
            return probe.segments, probe.final_delay

        self._record(plan_placed(probe_at, self.target, self.fmax, unit=self.unit,
                                 io_bits=self.io_bits()))

    def _record(self, plan) -> None:
        """Adopt ``plan``: the unit's latency, and ``target``/``fmax`` in its parameters."""
        self.plan = plan
        self.latency = plan.latency
        if self.latency < self._min_latency:  # pragma: no cover - units force their registers
            raise ValueError(f"{self.unit}: placement below the minimum latency")
        params = {}
        for k, v in self.params.items():
            if k == "latency":
                params["target"], params["fmax"] = self.target, self.fmax
            else:
                params[k] = v
        params.setdefault("target", self.target)
        params.setdefault("fmax", self.fmax)
        if self.dsp:
            params["dsp"] = True
        self.params = params

    @property
    def module_name(self) -> str:
        parts = [self.unit.replace("-", "_")]
        for k, v in self.params.items():
            if v is None or v is False:
                continue
            if k in ("a", "b", "c", "out", "acc_format"):
                parts.append(str(v).replace("-", "_"))
            elif k == "rounding":
                if v != "rne":
                    parts.append(str(v))
            elif k == "rand_bits":
                parts.append(f"r{v}")
            elif v is True:
                parts.append({"saturate": "sat"}.get(k, k.replace("_", "")))
            elif k == "latency":
                parts.append(f"l{v}")
            elif k == "target":
                parts.append(str(v))
            elif k == "fmax":
                parts.append(f"f{v:g}".replace(".", "p"))
            else:
                parts.append(f"{k.replace('_', '')}{v}")
        name = "_".join(parts)
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    @property
    def has_clock(self) -> bool:
        return self.latency > 0
