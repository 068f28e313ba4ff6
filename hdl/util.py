"""Small building blocks shared by every unit: leading-zero count, the pipeline, the latency
check."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value

from exmy.golden.params import ceil_log2, check_bool

__all__ = ["leading_zeros", "trailing_zeros", "exp_range", "Pipeline", "check_latency",
           "check_bool", "delayed", "fine_mode", "MAX_LATENCY"]

#: most pipeline stages a unit takes
MAX_LATENCY = 16


def check_latency(latency, *, minimum: int = 0, what: str = "Latency",
                  why: str | None = None) -> int:
    """The one latency check: an integer in ``minimum..MAX_LATENCY``. ``what`` names it in
    messages (``"MAC latency"``); ``why`` explains the minimum when it is not 0."""
    kind = "a non-negative" if minimum == 0 else "a positive"
    if not isinstance(latency, int) or isinstance(latency, bool):
        raise TypeError(f"{what} must be {kind} integer, not {latency!r}")
    if latency < minimum:
        if minimum == 0:
            raise ValueError(f"{what} must be {kind} integer, not {latency}")
        raise ValueError(f"{what} must be at least {minimum}, not {latency}" +
                         (f": {why}" if why else ""))
    if latency > MAX_LATENCY:
        raise ValueError(f"{what} must be at most {MAX_LATENCY} pipeline stages, not {latency}")
    return latency


def _lzc(v: Value) -> tuple[Value, Value]:
    """(count, all_zero) of a value whose width is a power of two; log-depth tree."""
    w = len(v)
    if w == 1:
        return Const(0, 0), ~v[0]
    half = w // 2
    hi_c, hi_z = _lzc(v[half:])
    lo_c, lo_z = _lzc(v[:half])
    # count has ceil_log2(w)+1 bits' worth of range (w when all zero)
    count = Mux(hi_z, Cat(lo_c, Const(1, 1)), Cat(hi_c, Const(0, 1)))
    return count, hi_z & lo_z


def leading_zeros(m: Module, v: Value, name: str) -> Signal:
    """Number of leading zeros of ``v`` (``len(v)`` when ``v`` is 0), as a named signal."""
    w = len(v)
    p2 = 1 << ceil_log2(max(w, 1))
    padded = Cat(Const(0, p2 - w), v) if p2 > w else v
    count, zero = _lzc(padded)
    out = Signal(range(w + 1), name=name)
    m.d.comb += out.eq(Mux(zero, w, count))
    return out


def trailing_zeros(m: Module, v: Value, name: str) -> Signal:
    """Trailing zeros of ``v`` (``len(v)`` for 0): the leading-zero tree on the reversed bits."""
    v = Value.cast(v)
    return leading_zeros(m, Cat(*(v[i] for i in reversed(range(len(v))))), name)


def exp_range(lo: int, hi: int) -> range:
    """The shape of a signed exponent signal for values ``lo..hi``, always holding -1..1."""
    return range(min(lo, -1), max(hi, 1) + 1)


def fine_mode(pipe) -> bool:
    """True when ``pipe`` places registers by frequency (fmax mode): the fine structures
    (staged shifters, partial-product trees) are built only then, so a unit with an explicit
    latency keeps its Verilog."""
    return pipe is not None and pipe.plan is not None


class Pipeline:
    """Places ``latency`` register stages at a unit's documented cut points: the one pipeline
    of exmy (every unit, the MACs included).

    A unit declares its cut points in datapath order (``cuts``, names) and calls
    ``stage(name, *values)`` at each one; the values come back registered (in ``sync``) when
    that cut holds a register and unchanged otherwise. With ``latency`` <= number of cuts the
    registers go to evenly spaced cuts; any latency beyond that adds registers at the output
    (``finish``). ``placement`` overrides the spacing for some latencies: ``{k: (cut, ...)}``
    (a unit whose stages are uneven names the cuts that balance them, measured). Register
    names are ``s<k>_<signal>``. Values may be plain values or layout views (a view comes
    back as a registered view of the same layout).

    ``register(values, tag)`` registers a dict of named values unconditionally (a unit that
    decides its cuts itself, such as the MACs, whose accumulator loop sets the structure);
    its registers share the stage counter: ``s<k>_<tag><name>``.
    """

    def __init__(
        self, m: Module, latency: int = 0, cuts: list[str] | tuple[str, ...] = (),
        placement: dict[int, tuple[str, ...]] | None = None, plan=None,
    ):
        self.m = m
        self.latency = latency
        self.cuts = list(cuts)
        # fmax mode (exmy.hdl.timing): ``plan`` is a Probe (record every cut) or a Plan
        self.plan = plan
        self._seen: dict[str, int] = {}
        n = len(self.cuts)
        k = min(latency, n)
        if plan is not None:
            k = n = 0  # the plan names the registered cuts itself
        if k == 0:
            chosen: set[int] = set()
        elif placement and k in placement:
            names = placement[k]
            if len(set(names)) != k or not set(names) <= set(self.cuts):
                raise ValueError(f"Placement for latency {k} must name {k} of {self.cuts}, "
                                 f"not {names}")
            chosen = {self.cuts.index(c) for c in names}
        else:
            # evenly spaced, always including the last cut
            chosen = {n - 1 - round(i * n / k) for i in range(k)}
            chosen = {c for c in chosen if 0 <= c < n}
            i = n - 1
            while len(chosen) < k:
                if i not in chosen:
                    chosen.add(i)
                i -= 1
        self.registered = {self.cuts[i] for i in chosen}
        self.extra = latency - k
        self.stage_no = 0

    def _unique(self, cut: str) -> str:
        k = self._seen.get(cut, 0) + 1
        self._seen[cut] = k
        return cut if k == 1 else f"{cut}_{k}"

    def stage(self, cut: str, *values: Value, delay: float = 0.0):
        """The cut point ``cut``; ``delay`` (ns, from ``exmy.hdl.timing``) is the logic since
        the previous cut. A name outside ``cuts`` is a fine cut: a candidate in fmax mode,
        a pass-through with an explicit latency."""
        passthrough = values if len(values) != 1 else values[0]
        if self.plan is None:
            if cut not in self.cuts:
                return passthrough
            if cut not in self.registered:
                return passthrough
        else:
            name = self._unique(cut)
            if not self.plan.wants(name, delay, values):
                return passthrough
        self.stage_no += 1
        out = []
        for v in values:
            name = getattr(v, "name", None) or "v"
            r = Signal.like(v, name=f"s{self.stage_no}_{name}") if isinstance(
                v, Signal
            ) else Signal(v.shape(), name=f"s{self.stage_no}_{name}")
            self.m.d.sync += r.eq(v)
            out.append(r)
        return tuple(out) if len(out) != 1 else out[0]

    def register(self, values: dict[str, Value | None], tag: str = "",
                 delay: float = 0.0) -> dict:
        """Register every value of ``values`` (None passes through) as ``s<k>_<tag><name>``
        (a forced register: fmax mode cannot move it)."""
        if self.plan is not None:
            self.plan.forced(self._unique(tag or "register"), delay,
                             [v for v in values.values() if v is not None])
        self.stage_no += 1
        out = {}
        for name, v in values.items():
            if v is None:
                out[name] = None
                continue
            v = Value.cast(v)
            r = Signal(v.shape(), name=f"s{self.stage_no}_{tag}{name}")
            self.m.d.sync += r.eq(v)
            out[name] = r
        return out

    def forced(self, name: str, delay: float, values) -> None:
        """fmax mode: record a register the unit builds itself (an accumulator, a carry
        resolution) as a forced cut ``name`` of ``delay`` ns; latency mode: nothing."""
        if self.plan is not None:
            self.plan.forced(name, delay, values)

    def loop(self, name: str, delay: float, logic: bool = False) -> None:
        """Declare a feedback loop of ``delay`` ns (an accumulator): no register placement can
        shorten it, so it bounds the Fmax of fmax mode. ``logic``: many LUT levels round the
        loop, not one carry chain (``exmy.hdl.timing.DelayModel``'s logic loops)."""
        if self.plan is not None:
            self.plan.loop(name, delay, logic)

    def finish(self, *values: Value, delay: float = 0.0):
        """Register the outputs ``extra`` more times (latency beyond the cut points); in fmax
        mode ``delay`` is the logic after the last cut."""
        if self.plan is not None:
            self.plan.final(delay)
            return values if len(values) != 1 else values[0]
        vals = list(values)
        for j in range(self.extra):
            nxt = []
            for v in vals:
                r = Signal(v.shape(), name=f"out{j + 1}_{getattr(v, 'name', 'v')}")
                self.m.d.sync += r.eq(v)
                nxt.append(r)
            vals = nxt
        return tuple(vals) if len(vals) != 1 else vals[0]


def delayed(m: Module, value: Value, n: int, name: str) -> Value:
    """``value`` through ``n`` plain registers ``<name>_d1`` .. ``<name>_d<n>`` (beside a forced
    stage: not recorded in a plan)."""
    for k in range(n):
        r = Signal(Value.cast(value).shape(), name=f"{name}_d{k + 1}")
        m.d.sync += r.eq(value)
        value = r
    return value
