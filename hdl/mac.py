"""Multiply-accumulate units (SPEC 3.2): the FPGA cost-model MAC.

``MAC``
    Float operands (any two formats), exact product, two's complement fixed-point (Kulisch)
    accumulator ``acc`` of ``acc_bits`` bits whose bit 0 weighs ``2**acc_lsb_exp``; sticky
    NaN/+Inf/-Inf ``flags``; optional ``y``: ``acc`` converted to ``fmt_out`` through the
    shared rounder. With ``acc_format`` it is the float-accumulator MAC instead (an FMA whose
    output is fed back to its addend, one rounding per step).
``IntMAC``
    Integer operands (signed, unsigned or mixed), one ``*``, the same accumulator.

Widths come from ``exmy.golden.params.mac_params`` / ``int_mac_params`` (parameter
computations, not arithmetic), so model and hardware cannot disagree on a width or a binary point.

Timing contract (also in the sidecar, ``extra_metadata``)::

    latency      clock edges from the edge that accepts (a, b, valid, clear) until acc (and
                 flags) show the state after that cycle's update; >= 1, since acc is a
                 register (>= 1 + acc_latency with acc_chunk)
    acc_latency  how many of those edges resolve the carries of a segmented accumulator
                 (acc_chunk set): 2 (fmax mode: 3 when the delay model needs them); 0
                 without acc_chunk
    y_latency    further edges from acc to y (0: y is a combinational function of acc)

So with ``acc_chunk`` the accumulator state after cycle i appears on ``acc`` and ``flags`` at
edge i + ``latency`` and on ``y`` at edge i + ``latency`` + ``y_latency``, exactly as without
it; only the least legal ``latency`` grows by ``acc_latency`` (the default ``latency`` is
that least value). Every cycle is still a full update: ``valid`` and ``clear`` may change in
every cycle (back-to-back clears, a clear with valid loading the product), and the outputs are
the state after every cycle, never an intermediate.

Latency 0 is illegal for these stateful units: ``acc`` is the accumulator register itself (or
the resolution's last register), so the earliest it can show a product is one edge after
accepting it. Pipeline cut points before the accumulator register, in datapath order
(``latency - 1 - acc_latency`` of them hold registers):

- fixed-point ``MAC``: decode + significand product ``|`` shift onto the accumulator grid
  ``|`` add into ``acc``. Latency 1: all in one cycle; 2: register after the product; 3:
  after the product and after the shift; each further stage registers the inputs.
- float-accumulator ``MAC``: decode + product ``|`` align, add, normalise, round into
  ``acc`` (this loop cannot be cut: the acc feeds itself). Latency 2: register after the
  product; each further stage registers the inputs. These are the FMA's stages (hdl/fma.py:
  ``fma_product``, ``fma_add_round`` with ``acc`` as ``c``; ``MAC._elaborate_float_acc``),
  in fmax mode too (the plan chooses latency 1 or 2).
- ``IntMAC``: product ``|`` add. Latency 2: register after the product; further stages
  register the inputs.

``y_latency`` 1 places a register inside the conversion of ``acc`` to ``y`` (after the
leading-zero count and normalising shift, before the shared rounder).

Segmented accumulator (``acc_chunk=C``, fixed-point MAC and IntMAC; FloPoCo's long
accumulator): ``hdl.accumulator`` builds it, its carry resolution and the acc -> y conversion
(shared with ``hdl.dot``). ``acc_chunk=None`` (default) is the unsegmented accumulator (the
Verilog of every unit without acc_chunk is unchanged). The float-accumulator MAC has no
acc_chunk (its loop is an FMA).
"""

from __future__ import annotations

from dataclasses import replace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib.wiring import In, Out

from exmy.golden.format import FloatFormat, IntFormat, parse_format
from exmy.golden.params import (
    DEFAULT_DEPTH,
    FLAG_NAN,
    FLAG_NEG_INF,
    FLAG_POS_INF,
    Rounding,
    check_bool,
    check_rounding_options,
    int_mac_params,
    lmul_offset,
    mac_params,
    stochastic_bits,
)

from .accumulator import (
    acc_to_float,
    acc_to_float_fine,
    accumulate_register,
    accumulate_segmented,
    accumulator_timing,
    check_acc_chunk,
    chunk_metadata,
    loop_delay,
    pick_chunk,
    resolve_stages,
    segmented_latency,
)
from .arith import (
    cut,
    magnitudes,
    replicate,
    staged_shift_left,
    tree_multiply,
)
from .base import Unit, unit_builder
from .float import decode, port_shape, product_inf, product_nan
from .fma import fma_add_round, fma_add_round_delay, fma_product, fma_product_delay
from .timing import Plan, best_text, check_fmax, check_target, delay_model
from .util import Pipeline, delayed

__all__ = ["MAC", "IntMAC"]

#: flags bits (SPEC 3.2; the golden model's FLAG_* values)
FLAG_BITS = {name: flag.bit_length() - 1 for name, flag in
             (("nan", FLAG_NAN), ("pos_inf", FLAG_POS_INF), ("neg_inf", FLAG_NEG_INF))}


#: the timing contract as the sidecar states it
_TIMING = (
    "latency: clock edges from the edge that accepts (a, b, valid, clear) until acc (and "
    "flags) show the state after that cycle; acc_latency of them resolve a segmented "
    "accumulator's carries (0 without acc_chunk); y_latency: further edges from acc to y"
)


def _timing_text(fmax, text: str) -> dict:
    """The sidecar's timing contract: ``timing_contract`` always; in latency mode also under
    ``timing`` (its key before fmax mode existed), which in fmax mode is the placement
    (exmy.hdl.registry.sidecar)."""
    return {"timing_contract": text, **({"timing": text} if fmax is None else {})}


# -- argument checks -------------------------------------------------------------------------
def _operand(value, what: str, kind, unit: str | None = None, other: str | None = None):
    if not isinstance(value, (str, FloatFormat, IntFormat)):
        raise TypeError(f"{what} format must be a format name or object, not {value!r}")
    fmt = parse_format(value)
    if not isinstance(fmt, kind):
        want = "a float" if kind is FloatFormat else "an integer"
        if unit is None:
            raise ValueError(f"{what} format must be {want} format, not {fmt}")
        raise ValueError(
            f"{what} format of unit '{unit}' must be {want} format, not {fmt}; use unit "
            f"'{other}' for {'integer' if kind is FloatFormat else 'float'} formats"
        )
    return fmt


def _y_latency(y_latency) -> int:
    if not isinstance(y_latency, int) or isinstance(y_latency, bool):
        raise TypeError(f"MAC y_latency must be 0 or 1, not {y_latency!r}")
    if y_latency not in (0, 1):
        raise ValueError(f"MAC y_latency must be 0 or 1, not {y_latency}")
    return y_latency


def _settle_timing(unit, latency, target, fmax, acc_chunk, acc_bits: int | None,
                   saturate_acc: bool, dsp: bool = False) -> None:
    """Set ``unit.acc_chunk``, ``acc_latency`` and ``latency`` (``Unit.set_timing``: an
    explicit latency, or fmax mode, where ``acc_chunk`` defaults to the delay model's choice;
    ``acc_bits`` None: no fixed-point accumulator)."""
    unit._auto_acc_bits = None
    if fmax is not None and acc_chunk is None and acc_bits is not None and latency is None:
        dm = delay_model(check_target("ecp5" if target is None else target))
        acc_chunk = pick_chunk(dm, check_fmax(fmax), acc_bits)
        unit._auto_acc_bits = None if saturate_acc else acc_bits
        if acc_chunk is not None and saturate_acc:
            d = loop_delay(dm, acc_bits)
            best = best_text(dm.fmax(d), fmax)
            raise ValueError(
                f"saturate_acc needs the unsegmented accumulator, whose {acc_bits}-bit loop "
                f"takes {d:.2f} ns on {dm.family} (best predicted Fmax {best} MHz), "
                f"too slow for fmax {fmax:g}; drop saturate_acc (wrap) or lower fmax")
    unit.acc_chunk = None if acc_bits is None else check_acc_chunk(acc_chunk, acc_bits,
                                                                   saturate_acc)
    unit.acc_latency = segmented_latency(unit.acc_chunk)
    if fmax is not None and latency is None and unit.acc_chunk is not None:
        dm = delay_model(check_target("ecp5" if target is None else target))
        unit.acc_latency = resolve_stages(dm, check_fmax(fmax), acc_bits, unit.acc_chunk)
    if unit.acc_chunk is None:
        why = ("the accumulator is a register, so acc shows a product one clock edge after "
               "accepting it at the earliest")
    else:
        why = (f"with acc_chunk={unit.acc_chunk} the accumulator register takes one clock "
               f"edge and the carry resolution {unit.acc_latency} more before acc shows a "
               f"product")
    unit.latency = unit.set_timing(latency, target, fmax, minimum=1 + unit.acc_latency,
                                   what="MAC latency", why=why, dsp=dsp)


def _resize_chunk(unit) -> None:
    """``Unit._sized`` of the MACs: the chunk and resolution stages chosen again with the
    unit's sized delay model. The loop is not scaled, but the stages into the accumulator and
    the resolution's registers hold the same chains and are, so a chunk chosen from the
    unsized model could leave them out of reach; a chunk that fits both is chosen unchanged
    (the widest chunk whose stage fits, evened out over the chunks it needs, is the same)."""
    acc_bits = getattr(unit, "_auto_acc_bits", None)
    if acc_bits is None:
        return
    dm = unit.dm
    chunk = pick_chunk(dm, unit.fmax, acc_bits)
    stages = (segmented_latency(chunk) if chunk is None
              else resolve_stages(dm, unit.fmax, acc_bits, chunk))
    if (chunk, stages) == (unit.acc_chunk, unit.acc_latency):
        return
    unit._min_latency += stages - unit.acc_latency
    unit.acc_chunk, unit.acc_latency = chunk, stages
    params = {}
    for k, v in unit.params.items():
        if k != "acc_chunk":
            params[k] = v
        if k == "acc_bits" and chunk is not None:
            params["acc_chunk"] = chunk
    unit.params = params


def _planned_cuts(plan) -> list[str]:
    """fmax mode: the fine cuts before the accumulator that the plan registers (none while
    probing)."""
    if not isinstance(plan, Plan):
        return []
    segs = [s for s in plan.segments if not s.loop]
    first = min(i for i, s in enumerate(segs) if s.fixed)
    return [s.name for s in segs[:first] if s.name in plan.registered]


def _fmax_outputs(unit) -> None:
    """fmax mode, after the placement: a register the plan put in the acc -> y conversion
    is ``y_latency`` (acc's ``latency`` does not include it)."""
    if unit.fmax is None:
        return
    segs = [s for s in unit.plan.segments if not s.loop]
    last = max(i for i, s in enumerate(segs) if s.fixed)
    ny = sum(1 for s in segs[last + 1:] if s.name in unit.plan.registered)
    unit.y_latency = ny
    unit.latency -= ny


def _register(m: Module, values: dict, prefix: str) -> dict:
    """A register for each value of a dict (None stays None): a forced stage's registers."""
    out = {}
    for k, v in values.items():
        if v is None:
            out[k] = None
            continue
        r = Signal(Value.cast(v).shape(), name=f"{prefix}{k}")
        m.d.sync += r.eq(v)
        out[k] = r
    return out


# -- the float MAC ---------------------------------------------------------------------------
class MAC(Unit):
    """Float multiply-accumulate (SPEC 3.2), fixed-point or float accumulator.

    Fixed-point accumulator (default). Each cycle with ``valid=1`` the exact product ``a*b``
    is shifted onto the accumulator's grid and added to ``acc`` (``clear=1`` loads it instead;
    ``clear=1`` with ``valid=0`` loads 0); reset state 0. The significand product (one ``*``,
    ``Ma+Mb+2`` bits, subnormals not normalised) is shifted left by
    ``(ea - emin_a) + (eb - emin_b)`` places (0..``shift_max``), so no product is ever rounded.
    A NaN or +-Inf product (NaN operand, Inf x 0, Inf x finite) sets its bit of the sticky
    ``flags`` (bit 0 NaN, bit 1 +Inf, bit 2 -Inf; ``clear`` resets them; absent when both
    formats are ``none``) and adds nothing. ``acc`` wraps modulo ``2**acc_bits`` on overflow
    (``depth`` bounds the safe count: ``safe_depth`` worst-case products of one sign fit) or,
    with ``saturate_acc``, clamps per step.

    ``fmt_out`` adds ``y = encode(acc, fmt_out, rounding, saturate)`` through the shared
    rounder; NaN flag or both Inf flags give NaN, one Inf flag that Inf (converted as SPEC 2.3
    says). Deviation from IEEE: the fixed-point accumulator has no -0, so ``y`` is +0 for a
    zero acc even after -0 products. An ``fmt_out`` narrower than acc's range is allowed; the
    sidecar says so (``out_saturates``).

    Float accumulator (``acc_format``). ``acc`` holds an encoding of ``acc_format``; each
    cycle with ``valid=1``: ``acc = encode(a*b + acc, acc_format)`` with one rounding (an FMA
    with its output fed back); ``clear=1, valid=1`` loads ``encode(a*b)`` (a -0 product stays
    -0); ``clear=1, valid=0`` loads +0. Specials live in acc as IEEE says (NaN stays until
    clear, Inf - Inf is NaN; Inf results follow SPEC 2.3, so with ``saturate`` the chain goes
    on from max_finite). Zero sums are +0 unless both addends are -0. The datapath is the
    FMA's (SPEC 3.2's "FMA fed back"; ``_elaborate_float_acc``; for stochastic rounding its
    window keeps the R bits below the rounding position), with an explicit latency and in
    fmax mode alike: the loop acc -> add -> round -> acc cannot be cut, so it bounds fmax.

    See the module docstring for ``latency``, ``acc_latency``, ``y_latency``, the cut points
    and ``acc_chunk`` (the segmented accumulator: one product per cycle at a high clock
    whatever ``acc_bits``). ``dsp`` (with ``fmax``): the registers are placed for a synthesis
    flow that maps the product to a DSP block (``exmy.hdl.timing.DelayModel.with_dsp``): one
    ``*`` where the DSP fits the period, else the partial-product tree.

    Ports: ``clk``, ``rst``, ``a``, ``b``, ``valid``, ``clear``, ``acc`` (+ ``flags``, ``y``
    where they apply; ``rand`` for stochastic rounding).
    """

    unit = "mac"

    def __init__(
        self, fmt_a, fmt_b=None, *, depth: int | None = None, acc_bits: int | None = None,
        fmt_out=None, rounding: str = "rne", saturate: bool = False,
        saturate_acc: bool = False, acc_format=None, multiplier: str = "exact",
        rand_bits: int | None = None, latency: int | None = None, y_latency: int = 0,
        acc_chunk: int | None = None, target: str | None = None, fmax: float | None = None,
        dsp: bool = False,
    ):
        self.fmt_a = _operand(fmt_a, "Operand a", FloatFormat, "mac", "int-mac")
        self.fmt_b = _operand(self.fmt_a if fmt_b is None else fmt_b, "Operand b",
                              FloatFormat, "mac", "int-mac")
        self.saturate = check_bool(saturate, "saturate")
        self.saturate_acc = check_bool(saturate_acc, "saturate_acc")
        if acc_chunk is None and fmax is None:  # (checked again below, against acc_bits)
            _settle_timing(self, latency, target, fmax, None, None, False, dsp)
        self.y_latency = _y_latency(y_latency)
        if fmax is not None and y_latency:
            raise ValueError(f"Give y_latency ({y_latency}) or fmax ({fmax}), not both: with "
                             f"fmax exmy places the y register")
        self.acc_format = None
        if acc_format is not None:
            self.acc_format = _operand(acc_format, "Accumulator", FloatFormat)
            bad = {"depth": depth, "acc_bits": acc_bits, "fmt_out": fmt_out}
            bad = [k for k, v in bad.items() if v is not None]
            if saturate_acc:
                bad.append("saturate_acc")
            if y_latency:
                bad.append("y_latency")
            if acc_chunk is not None:
                bad.append("acc_chunk")
            if bad:
                raise ValueError(
                    f"{', '.join(bad)} {'applies' if len(bad) == 1 else 'apply'} only to the "
                    f"fixed-point accumulator, not to acc_format={self.acc_format}; the float "
                    f"accumulator is its own output"
                )
            if multiplier != "exact":
                raise ValueError(
                    f"The float-accumulator MAC uses the exact product (one FMA rounding), "
                    f"not multiplier={multiplier!r}"
                )
            if not self.acc_format.zero:
                raise ValueError(
                    f"Accumulator format {self.acc_format} has no zero (a block-scale format); "
                    f"clear must load 0"
                )
        # golden's parameter computation validates depth, acc_bits, multiplier, operands
        self.mac_params = mac_params(
            self.fmt_a, self.fmt_b, depth=DEFAULT_DEPTH if depth is None else depth,
            acc_bits=acc_bits, multiplier=multiplier,
        )
        self.multiplier = multiplier
        _settle_timing(self, latency, target, fmax, acc_chunk,
                       None if self.acc_format is not None else self.mac_params.acc_bits,
                       self.saturate_acc, dsp)
        latency = self.latency
        self.fmt_out = None
        if fmt_out is not None:
            self.fmt_out = _operand(fmt_out, "Output", FloatFormat)
        if self.fmt_out is not None or self.acc_format is not None:
            rounding = check_rounding_options(rounding, rand_bits)
        elif rounding != "rne" or rand_bits is not None:
            raise ValueError(
                f"The fixed-point MAC rounds only its output y; rounding={rounding!r} needs an "
                f"output format (fmt_out)"
            )
        if saturate and self.fmt_out is None and self.acc_format is None:
            raise ValueError(
                "saturate applies to the output y (or a float accumulator); give fmt_out, or "
                "use saturate_acc to clamp the fixed-point accumulator"
            )
        self.rounding = rounding
        self.rand_bits = rand_bits
        p = self.mac_params
        fa, fb = self.fmt_a, self.fmt_b
        self.has_flags = self.acc_format is None and p.has_flags

        if self.acc_format is not None:
            self.params = {
                "a": fa.name, "b": fb.name, "acc_format": self.acc_format.name,
                "rounding": rounding, "rand_bits": rand_bits, "saturate": saturate,
                "latency": latency,
            }
            self.port_formats = {"a": fa, "b": fb, "acc": self.acc_format}
            ports = {
                "a": In(port_shape(fa)), "b": In(port_shape(fb)),
                "valid": In(1), "clear": In(1),
                "acc": Out(port_shape(self.acc_format)),
            }
        else:
            out = self.fmt_out
            self.params = {
                "a": fa.name, "b": fb.name, "acc_bits": p.acc_bits,
                **({} if self.acc_chunk is None else {"acc_chunk": self.acc_chunk}),
                "out": None if out is None else out.name,
                "rounding": None if out is None else rounding, "rand_bits": rand_bits,
                "saturate": saturate, "saturate_acc": saturate_acc, "latency": latency,
                "y_latency": y_latency or None,
                "multiplier": None if multiplier == "exact" else multiplier,
            }
            # acc is a plain two's complement vector (acc_bits, acc_lsb_exp in the metadata)
            self.port_formats = {"a": fa, "b": fb}
            ports = {
                "a": In(port_shape(fa)), "b": In(port_shape(fb)),
                "valid": In(1), "clear": In(1), "acc": Out(p.acc_bits),
            }
            if self.has_flags:
                ports["flags"] = Out(3)
            if out is not None:
                ports["y"] = Out(port_shape(out))
                self.port_formats["y"] = out
        if rounding == Rounding.STOCHASTIC:
            ports["rand"] = In(rand_bits)
        super().__init__(ports)
        _fmax_outputs(self)

    # -- metadata ---------------------------------------------------------------------------
    def _sized(self) -> None:
        _resize_chunk(self)

    @property
    def cut_points(self) -> list[str]:
        """The pipeline registers before the accumulator, in datapath order."""
        if self.fmax is not None:
            return _planned_cuts(self.plan)
        pre = ["product", "align"] if self.acc_format is None else ["product"]
        n = self.latency - 1 - self.acc_latency
        used = pre[:n]
        return ["input"] * (n - len(used)) + used

    def extra_metadata(self) -> dict:
        p = self.mac_params
        meta = {
            "latency": self.latency,
            **_timing_text(self.fmax, _TIMING),
            "cut_points": self.cut_points,
        }
        if self.acc_format is not None:
            meta.update({"acc_format": self.acc_format.name, "rounding": self.rounding})
            return meta
        meta.update({
            "acc_latency": self.acc_latency,
            "y_latency": self.y_latency if self.fmt_out is not None else None,
            **chunk_metadata(self.acc_chunk, p.acc_bits),
            "multiplier": p.multiplier,
            "depth": p.depth,
            "acc_bits": p.acc_bits,
            "acc_lsb_exp": p.acc_lsb_exp,
            "min_acc_bits": p.min_acc_bits,
            "paper_acc_bits": p.paper_acc_bits,
            "product_bits": p.product_bits,
            "shift_max": p.shift_max,
            "safe_depth": p.safe_depth,
            "acc_overflow": "saturate" if self.saturate_acc else "wrap",
            "flags": dict(FLAG_BITS) if self.has_flags else None,
        })
        if self.fmt_out is not None:
            meta["out_saturates"] = p.out_saturates(self.fmt_out)
        return meta

    # -- hardware ---------------------------------------------------------------------------
    def _inputs(self, m: Module, st: Pipeline) -> dict[str, Value]:
        rand = getattr(self, "rand", None)
        v = {"a": self.a.as_value(), "b": self.b.as_value(), "valid": self.valid,
             "clear": self.clear, "rand": None if rand is None else Value.cast(rand)}
        for _ in range(self.cut_points.count("input")):
            v = st.register(v, "in_")
        return v

    def elaborate(self, platform):
        if self.acc_format is not None:
            return self._elaborate_float_acc()
        m = Module()
        st = Pipeline(m, plan=self.plan)
        x, drop = self._product(m, st, self._inputs(m, st))
        y, fast = self._align(m, st, x, drop)
        acc, flags = self._accumulate(m, st, y, fast)
        if self.fmt_out is not None:
            self._convert(m, st, acc, flags, y["rand"])
        elif self.plan is not None:
            st.finish(delay=0.0)  # acc is a register
        return m

    def _product(self, m: Module, st: Pipeline, v: dict) -> tuple[dict, int]:
        """Decode and the exact product, up to the cut ``product``: returns the product's
        values (``prod``, ``shift``, ``neg``, ``special``, ``valid``, ``clear``, ``rand``) and
        how many low bits of ``prod`` the alignment drops."""
        fm = self.plan is not None  # fmax mode: fine cuts, forced registers, the loop
        dm = self.dm
        p = self.mac_params
        fa, fb = self.fmt_a, self.fmt_b
        cuts = self.cut_points

        # -- decode: class flags; significand with the hidden bit; exponent field ----------
        da = decode(m, v["a"], fa, "a", normalize_sub=False)
        db = decode(m, v["b"], fb, "b", normalize_sub=False)
        wmax = max(fa.width, fb.width)
        if fm and self.multiplier != "lmul" and p.has_flags:
            # fmax mode: a fine cut after each operand's class flags (the special-value test
            # of two wide operands is one LUT level deeper than a cut can take at once)
            c = cut(st, "classify", dm.logic(wmax), {
                **v, **{f"{o}{f}": getattr(d, f) for o, d in (("a_", da), ("b_", db))
                        for f in ("sign", "is_nan", "is_inf", "is_zero")}})
            v = {k: c[k] for k in v}
            da, db = (replace(d, **{f: c[f"{o}_{f}"] for f in
                                    ("sign", "is_nan", "is_inf", "is_zero")})
                      for o, d in (("a", da), ("b", db)))
        special = Signal(3, name="s0_special")  # the product's flags bits
        z_a, z_b = da.is_zero, db.is_zero
        if self.multiplier == "lmul":  # denormals-are-zero (SPEC 3.4): subnormal x Inf is NaN
            z_a = v["a"][fa.man_bits : fa.man_bits + fa.exp_bits] == 0
            z_b = v["b"][fb.man_bits : fb.man_bits + fb.exp_bits] == 0
        nan = product_nan(da, db, a_zero=z_a, b_zero=z_b)
        inf = product_inf(da, db, nan)
        sign = da.sign ^ db.sign
        m.d.comb += special.eq(Cat(nan, inf & ~sign, inf & sign) if p.has_flags else 0)
        # en: this product goes into acc. Without specials acc's clock enable does the job
        # of valid; with them the product is gated anyway, and valid joins that gate.
        en = Signal(name="s0_add_en")
        m.d.comb += en.eq(v["valid"] & (special == 0))

        def field_sig(bits: Value, fmt: FloatFormat, gate: Value | None):
            man = bits[: fmt.man_bits]
            fld = bits[fmt.man_bits : fmt.man_bits + fmt.exp_bits]
            nz = fld != 0
            # max(field, 1): a subnormal sits on the grid of exponent field 1
            f1 = Cat(fld[0] | ~nz, fld[1:])
            if fmt.subnormals:
                sig = Cat(man, nz)
            else:
                sig = Cat(man & replicate(nz, fmt.man_bits), nz)  # subnormal codes are zeros
            if gate is not None:
                sig = sig & replicate(gate, len(sig))
            return sig, f1

        # gate the narrower significand with en: a skipped product is 0 (one AND per bit)
        gate = en if p.has_flags else None
        gate_a = fa.sig_bits < fb.sig_bits
        sig_a, f_a = field_sig(v["a"], fa, gate if gate_a else None)
        sig_b, f_b = field_sig(v["b"], fb, None if gate_a else gate)

        if fm and self.multiplier != "lmul":
            # fmax mode: a cut after decode, the special-value test and the exponent sum;
            # then the gate and one `*`, or (too slow for the period) partial products and
            # an adder tree cut between its levels (exmy.hdl.arith)
            shift = Signal(max(fa.exp_bits, fb.exp_bits) + 1, name="s0_shift")
            m.d.comb += shift.eq(f_a + f_b)  # = (ea - emin_a) + (eb - emin_b) + 2
            raw_a, _ = field_sig(v["a"], fa, None)
            raw_b, _ = field_sig(v["b"], fb, None)
            # each operand's classes (the cut "classify"), then their combination with valid:
            # one function of both operands' bits
            c = cut(st, "decode", dm.logic(2 * wmax) + dm.lut(1)
                    - (dm.logic(wmax) if p.has_flags else 0.0),
                    {"sig_a": raw_a, "sig_b": raw_b, "shift": shift, "sign": sign, "en": en,
                     "special": special, "valid": v["valid"], "clear": v["clear"],
                     "rand": v["rand"]})
            # the gate: a skipped or special product is 0 (narrower significand & en)
            en = c["en"]
            ga = c["sig_a"] & replicate(en, fa.sig_bits) if (p.has_flags and gate_a) else c["sig_a"]
            gb = (c["sig_b"] & replicate(en, fb.sig_bits) if (p.has_flags and not gate_a)
                  else c["sig_b"])
            neg = Signal(name="s0_neg")
            m.d.comb += neg.eq(c["sign"] & en if p.has_flags else c["sign"])
            d = {"sig_a": ga, "sig_b": gb, "shift": c["shift"], "neg": neg,
                 "special": c["special"], "valid": c["valid"], "clear": c["clear"],
                 "rand": c["rand"]}
            sa, sb = d.pop("sig_a"), d.pop("sig_b")
            prod = Signal(fa.sig_bits + fb.sig_bits, name="s0_product")
            if not dm.star_fits(fa.sig_bits, fb.sig_bits, self.fmax, before=dm.lut(1)):
                built = tree_multiply(m, sa, sb, pipe=st, dm=dm, carry=d, name="s0_mul",
                                      delay_in=dm.lut(1))
                m.d.comb += prod.eq(built.value)
                x = {"prod": prod, **built.carry}
                delay = built.delay
            else:
                m.d.comb += prod.eq(sa * sb)
                x = {"prod": prod, **d}
                delay = dm.lut(1) + dm.multiplier(fa.sig_bits, fb.sig_bits)
            x = cut(st, "product", delay, x)
            drop = 2
        else:
            if self.multiplier == "lmul" and fm:
                carry = {"neg": sign & en if p.has_flags else sign, "special": special,
                         "valid": v["valid"], "clear": v["clear"], "rand": v["rand"]}
                prod, shift, drop, carry = self._lmul_product(m, v, nan, inf, en, st, carry)
                sign, special = carry["neg"], carry["special"]
                v = {**v, **{k: carry[k] for k in ("valid", "clear", "rand")}}
                en = Const(1, 1)  # (already in neg)
            elif self.multiplier == "lmul":
                prod, shift, drop = self._lmul_product(m, v, nan, inf, en)
            else:
                # -- significand product: one `*` (Yosys may map it to a DSP) -------------
                prod = Signal(fa.sig_bits + fb.sig_bits, name="s0_product")
                m.d.comb += prod.eq(sig_a * sig_b)
                shift = Signal(max(fa.exp_bits, fb.exp_bits) + 1, name="s0_shift")
                m.d.comb += shift.eq(f_a + f_b)  # = (ea - emin_a) + (eb - emin_b) + 2
                drop = 2
            neg = Signal(name="s0_neg")
            m.d.comb += neg.eq(sign & en if p.has_flags else sign)
            x = {"prod": prod, "shift": shift, "neg": neg, "special": special,
                 "valid": v["valid"], "clear": v["clear"], "rand": v["rand"]}
            if fm:  # lmul: the test of t and the product mux after the cut "lmul_sum"
                x = cut(st, "product", dm.logic(fa.exp_bits + 4) + dm.lut(1), x)
            elif "product" in cuts:
                x = st.register(x, "p_")
        return x, drop

    def _align(self, m: Module, st: Pipeline, x: dict, drop: int) -> tuple[dict, dict | None]:
        """The product shifted onto the accumulator grid, up to the cut ``align``: returns the
        aligned values and (fmax mode, segmented) the loop's ``fast`` form's inputs."""
        fm = self.plan is not None
        dm = self.dm
        p = self.mac_params
        cuts = self.cut_points
        fast = None

        # -- align: shift onto the accumulator grid ----------------------------------------
        mag_w = p.max_product.bit_length()  # every product magnitude < 2**mag_w
        mag = Signal(mag_w, name="s1_aligned")
        rest = {k: x[k] for k in ("neg", "special", "valid", "clear", "rand")}
        if fm:
            # a shifter level by level, cut between levels (exmy.hdl.arith)
            wide = Cat(x["prod"], Const(0, drop + mag_w))[: drop + mag_w]
            built = staged_shift_left(m, wide, x["shift"], pipe=st, dm=dm, carry=rest,
                                      name="s1_align")
            m.d.comb += mag.eq(built.value[drop : drop + mag_w])
            pre = {"mag": mag, **built.carry}
            if self.acc_chunk is None:
                y = cut(st, "align", built.delay, pre)
            else:
                # a register the unit builds (forced): the addend itself (sign applied, 0
                # without valid), so the loop needs neither valid nor the sign
                W = p.acc_bits
                pre["addend"] = Cat(mag ^ replicate(pre["neg"], mag_w),
                                    replicate(pre["neg"], W - mag_w))
                del pre["mag"]
                st.forced("align", built.delay + dm.lut(1),
                          [v for v in pre.values() if v is not None])
                gated = {k: pre.pop(k) for k in ("addend", "neg")}
                y = _register(m, pre, "a_")
                for k, v in gated.items():  # 0 without valid: an idle cycle adds 0
                    r = Signal(Value.cast(v).shape(), name=f"a_{k}")
                    d = Mux(pre["valid"], v, 0)
                    if k == "neg":
                        # chunk 0's carry-in: loaded only when it changes (the same value),
                        # so Yosys does not merge it with the top chunk's sign bits, which
                        # would pull one flip-flop to both ends of the accumulator
                        with m.If(r != d):
                            m.d.sync += r.eq(d)
                    else:
                        m.d.sync += r.eq(d)
                    y[k] = r
                fast = {"clear_next": pre["clear"]}
        else:
            m.d.comb += mag.eq((x["prod"] << x["shift"])[drop : drop + mag_w])
            y = {"mag": mag, **rest}
        if not fm and "align" in cuts:
            y = st.register(y, "a_")
        return y, fast

    def _accumulate(self, m: Module, st: Pipeline, y: dict, fast: dict | None):
        """The accumulator (``acc``) and the sticky flags: returns both (flags None without
        specials)."""
        fm = self.plan is not None
        dm = self.dm
        p = self.mac_params
        mag_w = p.max_product.bit_length()

        # -- accumulate: acc += (neg ? ~mag + 1 : mag) -------------------------------------
        W = p.acc_bits
        if fm and self.acc_chunk is not None:
            addend = y["addend"]
        else:
            addend = Cat(y["mag"] ^ replicate(y["neg"], mag_w), replicate(y["neg"], W - mag_w))
        if self.acc_chunk is None:
            acc = Signal(W, name="acc_reg")
            accumulate_register(m, acc, addend, y["neg"], y["valid"], y["clear"], self.saturate_acc)
        else:
            acc = accumulate_segmented(m, addend, y["neg"], y["valid"], y["clear"], W,
                                       self.acc_chunk, self.acc_latency,
                                       fast=fast)
        accumulator_timing(st, dm, W, self.acc_chunk, self.acc_latency)
        m.d.comb += self.acc.eq(acc)
        flags = None
        if self.has_flags:
            flags = Signal(3, name="flags_reg")
            m.d.sync += flags.eq(Mux(y["clear"], 0, flags) | Mux(y["valid"], y["special"], 0))
            flags = delayed(m, flags, self.acc_latency, "flags")  # meet the resolved acc
            m.d.comb += self.flags.eq(flags)
        return acc, flags

    def _convert(self, m: Module, st: Pipeline, acc: Value, flags, rand_in) -> None:
        """``y = encode(acc, fmt_out)`` through the shared rounder."""
        fm = self.plan is not None
        dm = self.dm
        p = self.mac_params
        rand = None
        if rand_in is not None:  # rand[i] meets acc after cycle i
            if fm or self.acc_latency:
                rand = delayed(m, rand_in, 1 + self.acc_latency, "acc_rand")
            else:
                rand = st.register({"rand": rand_in}, "acc_")["rand"]
        if fm:
            yv = acc_to_float_fine(
                m, acc, flags, p.acc_lsb_exp, self.fmt_out, rounding=self.rounding,
                saturate=self.saturate, rand=rand, st=st, dm=dm, fmax=self.fmax,
                neg_lut=True,
            )
        else:
            yv = acc_to_float(
                m, acc, flags, p.acc_lsb_exp, self.fmt_out, rounding=self.rounding,
                saturate=self.saturate, rand=rand, y_latency=self.y_latency, stages=st,
            )
        m.d.comb += self.y.as_value().eq(yv)

    def _lmul_product(self, m: Module, v, nan, inf, en, st=None, carry=None):
        """SPEC 3.4's L-Mul in place of the significand product: one (E+M)-bit addition
        ``t = |a| + |b| - (B << M) + 2^(M - l(M))`` of the magnitude fields; the product is
        ``1.t_man * 2**(t_field - B)``, i.e. ``1.t_man`` shifted left by ``t_field - 1`` onto
        the grid ``2**(1 - B - M)`` (returned as shift ``t_field`` with one bit dropped).
        Subnormal operands (exponent field 0) count as zero and ``t_field <= 0`` gives 0, as
        in ``LMul``; a ``t`` beyond max_finite is accumulated at its true value."""
        f = self.fmt_a
        E, M = f.exp_bits, f.man_bits
        p = self.mac_params
        mag_a = v["a"][: E + M]
        mag_b = v["b"][: E + M]
        zero = (mag_a[M:] == 0) | (mag_b[M:] == 0)
        k = lmul_offset(M) - (f.bias << M)
        t = Signal(signed(E + M + 3), name="s0_lmul_t")
        m.d.comb += t.eq(mag_a.as_unsigned() + mag_b.as_unsigned() + Const(k, signed(E + M + 3)))
        if st is not None:  # fmax mode: a fine cut after the addition (``carry`` rides along)
            carry = cut(st, "lmul_sum", self.dm.lut(1) + self.dm.adder(E + M + 3),
                        {"t": t, "zero": zero, "nan": nan, "inf": inf, "en": en, **carry})
            t, zero, nan, inf, en = (carry.pop(n) for n in ("t", "zero", "nan", "inf", "en"))
        live = ~zero & (t >= (1 << M)) & ~nan & ~inf
        if p.has_flags:
            live = live & en
        prod = Signal(M + 1, name="s0_product")
        m.d.comb += prod.eq(Mux(live, Cat(t[:M], Const(1, 1)), 0))
        shift = Signal(max(p.shift_max + 1, 1).bit_length(), name="s0_shift")
        m.d.comb += shift.eq(t[M:])
        if st is not None:
            return prod, shift, 1, carry
        return prod, shift, 1

    def _elaborate_float_acc(self):
        """The float accumulator as SPEC 3.2 says it: the FMA's datapath (hdl/fma.py's stages:
        decode, mul_raw, add_raw, normalize_round) with ``acc`` as its addend ``c``, every
        rounding mode (stochastic: ``rand`` rides with the product). The "product" cut
        registers the product stage only: acc -> add -> round -> acc is the loop, built as
        with an explicit latency in fmax mode too (no register can cut it; the plan's
        ``accumulate`` loop, ``fma_add_round_delay``). ``clear`` gives ``c = -0`` (so
        ``-0 + p = p`` for every product, -0 too, and the product is rounded once) in a format
        with a negative zero, else +0 (where a -0 product encodes as +0 anyway); ``clear``
        without ``valid`` loads +0."""
        m = Module()
        st = Pipeline(m, plan=self.plan)
        fa, fb, fc = self.fmt_a, self.fmt_b, self.acc_format
        v = self._inputs(m, st)
        # (explicit latency: no plan reads the stages' delays)
        dm = self.dm if self.plan is not None else delay_model("ecp5")
        p = fma_product(m, v["a"], v["b"], fa, fb, fc, fc)
        x = {**p.fields, "valid": v["valid"], "clear": v["clear"], "rand": v["rand"]}
        if self.plan is not None:
            x = cut(st, "product", fma_product_delay(dm, fa, fb), x)
        elif "product" in self.cut_points:
            x = st.register(x, "p_")
        acc = Signal(fc.width, name="acc_reg")
        c = Signal(fc.width, name="acc_addend")
        neg_zero = 1 << (fc.width - 1) if fc.has_neg_zero else 0
        m.d.comb += c.eq(Mux(x["clear"], neg_zero, acc))
        # the loop: a pipe without a plan, so none of the FMA's cuts in it holds a register
        loop = st if self.plan is None else Pipeline(m)
        y = fma_add_round(m, p.with_fields(x), c, rounding=self.rounding,
                          saturate=self.saturate, rand=x["rand"], pipe=loop, dm=dm)
        with m.If(x["valid"]):
            m.d.sync += acc.eq(y)
        with m.Elif(x["clear"]):
            m.d.sync += acc.eq(0)
        if self.plan is not None:
            d = fma_add_round_delay(dm, p, stochastic_bits(self.rounding, self.rand_bits))
            st.loop("accumulate", d, logic=True)
            st.forced("accumulate", d, [acc])
            st.finish(delay=0.0)
        m.d.comb += self.acc.as_value().eq(acc)
        return m


# -- the integer MAC -------------------------------------------------------------------------
class IntMAC(Unit):
    """Integer multiply-accumulate (SPEC 3.2 with IntFormat operands).

    ``acc <= (clear ? 0 : acc) + (valid ? a*b : 0)``, one ``*`` of the operands as they are
    (signed, unsigned or mixed), two's complement acc of ``acc_bits`` bits (default from
    ``int_mac_params``: ``bits_a + bits_b + ceil(log2 depth)``, one more for unsigned x
    unsigned), wrapping on overflow or clamping per step with ``saturate_acc``. Reset state 0.
    Timing: ``latency`` edges from accepting (a, b, valid, clear) to acc (>= 1; 2 registers
    the product; more register the inputs); ``acc_chunk`` segments the accumulator as in
    ``MAC`` (``latency`` >= 3 then, ``acc_latency`` 2; module docstring); ``target``/``fmax``
    (and ``dsp``) place the registers and choose ``acc_chunk`` as in ``MAC``. Ports:
    ``clk``, ``rst``, ``a``, ``b``, ``valid``, ``clear``, ``acc``.
    """

    unit = "int-mac"

    def __init__(self, fmt_a, fmt_b=None, *, depth: int | None = None,
                 acc_bits: int | None = None, saturate_acc: bool = False,
                 latency: int | None = None, acc_chunk: int | None = None,
                 target: str | None = None, fmax: float | None = None, dsp: bool = False):
        self.fmt_a = _operand(fmt_a, "Operand a", IntFormat, "int-mac", "mac")
        self.fmt_b = _operand(self.fmt_a if fmt_b is None else fmt_b, "Operand b", IntFormat,
                              "int-mac", "mac")
        self.saturate_acc = check_bool(saturate_acc, "saturate_acc")
        if acc_chunk is None and fmax is None:  # (checked again below, against acc_bits)
            _settle_timing(self, latency, target, fmax, None, None, False, dsp)
        self.mac_params = int_mac_params(
            self.fmt_a, self.fmt_b, DEFAULT_DEPTH if depth is None else depth, acc_bits
        )
        p = self.mac_params
        _settle_timing(self, latency, target, fmax, acc_chunk, p.acc_bits, self.saturate_acc,
                       dsp)
        self.params = {
            "a": self.fmt_a.name, "b": self.fmt_b.name, "acc_bits": p.acc_bits,
            **({} if self.acc_chunk is None else {"acc_chunk": self.acc_chunk}),
            "saturate_acc": saturate_acc, "latency": self.latency,
        }
        self.port_formats = {"a": self.fmt_a, "b": self.fmt_b}
        super().__init__({
            "a": In(self.fmt_a.bits), "b": In(self.fmt_b.bits), "valid": In(1),
            "clear": In(1), "acc": Out(p.acc_bits),
        })

    def _sized(self) -> None:
        _resize_chunk(self)

    @property
    def cut_points(self) -> list[str]:
        if self.fmax is not None:
            return _planned_cuts(self.plan)
        n = self.latency - 1 - self.acc_latency
        return ["input"] * max(n - 1, 0) + (["product"] if n else [])

    def extra_metadata(self) -> dict:
        p = self.mac_params
        return {
            "latency": self.latency,
            **_timing_text(self.fmax, (
                "latency: clock edges from the edge that accepts (a, b, valid, clear) until acc "
                "shows the state after that cycle; acc_latency of them resolve a segmented "
                "accumulator's carries (0 without acc_chunk)"
            )),
            "cut_points": self.cut_points,
            "acc_latency": self.acc_latency,
            **chunk_metadata(self.acc_chunk, p.acc_bits),
            "depth": p.depth,
            "acc_bits": p.acc_bits,
            "acc_lsb_exp": 0,
            "min_acc_bits": p.min_acc_bits,
            "paper_acc_bits": p.paper_acc_bits,
            "product_bits": p.product_bits,
            "safe_depth": p.safe_depth,
            "acc_overflow": "saturate" if self.saturate_acc else "wrap",
        }

    def elaborate(self, platform):
        m = Module()
        st = Pipeline(m, plan=self.plan)
        fa, fb = self.fmt_a, self.fmt_b
        v = {"a": Value.cast(self.a), "b": Value.cast(self.b), "valid": self.valid,
             "clear": self.clear}
        for _ in range(self.cut_points.count("input")):
            v = st.register(v, "in_")
        a, b = v["a"], v["b"]  # no valid gating: acc's enable ignores skipped products
        a = a.as_signed() if fa.signed else a
        b = b.as_signed() if fb.signed else b
        w = fa.bits + fb.bits
        sgn = fa.signed or fb.signed
        W = self.mac_params.acc_bits
        dm = self.dm
        cin = Const(0, 1)
        ext = Signal(W, name="acc_addend")
        if self.plan is not None and not dm.star_fits(fa.bits, fb.bits, self.fmax):
            # fmax mode, a `*` too slow for the period: magnitudes, an adder tree cut between
            # its levels (exmy.hdl.arith); the sign joins the accumulator's add as
            # -p = ~p + 1 (the + 1 its carry-in)
            ma, mb, sa, sb, d = magnitudes(m, a, b, signed_a=fa.signed, signed_b=fb.signed,
                                           dm=dm)
            x = cut(st, "mag", d, {"a": ma, "b": mb, "neg": sa ^ sb, "clear": v["clear"],
                                   "valid": v["valid"]})
            rest = {k: x[k] for k in ("neg", "clear", "valid")}
            built = tree_multiply(m, x["a"], x["b"], pipe=st, dm=dm, carry=rest,
                                  name="s0_mul")
            mag = Signal(w, name="s0_product_mag")
            m.d.comb += mag.eq(built.value)
            x = cut(st, "product", built.delay, {"mag": mag, **built.carry})
            m.d.comb += ext.eq(Cat(x["mag"] ^ replicate(x["neg"], w), replicate(x["neg"], W - w)))
            cin = x["neg"]
        else:
            prod = Signal(signed(w) if sgn else unsigned(w), name="s0_product")
            m.d.comb += prod.eq(a * b)  # one `*` so Yosys may map it to a DSP
            x = {"prod": prod, "clear": v["clear"], "valid": v["valid"]}
            if self.plan is not None:
                x = cut(st, "product", dm.multiplier(fa.bits, fb.bits), x)
            elif "product" in self.cut_points:
                x = st.register(x, "p_")
            pr = x["prod"]
            addend = pr.as_signed() if sgn else pr
            m.d.comb += ext.eq(addend)  # sign- or zero-extended
        if self.acc_chunk is None:
            acc = Signal(W, name="acc_reg")
            accumulate_register(m, acc, ext, cin, x["valid"], x["clear"], self.saturate_acc)
        else:
            acc = accumulate_segmented(m, ext, cin, x["valid"], x["clear"], W,
                                       self.acc_chunk, self.acc_latency)
        accumulator_timing(st, dm, W, self.acc_chunk, self.acc_latency)
        if self.plan is not None:
            st.finish(delay=0.0)  # acc is a register
        m.d.comb += self.acc.eq(acc)
        return m


# -- registry ----------------------------------------------------------------------------------
@unit_builder(
    "mac",
    ("a", "b", "out", "rounding", "rand_bits", "saturate", "latency", "depth", "acc_bits",
     "acc_format", "saturate_acc", "multiplier", "acc_chunk", "target", "fmax", "dsp"),
    "exact fixed-point multiply-accumulate (or --acc-format: float accumulator); y = acc "
    "rounded into --out (an --out narrower than acc's range saturates; the sidecar says "
    "out_saturates)",
)
def mac_builder(a=None, b=None, out=None, rounding="rne", rand_bits=None, saturate=False,
                latency=None, depth=None, acc_bits=None, acc_format=None, saturate_acc=False,
                multiplier="exact", acc_chunk=None, target=None, fmax=None, dsp=False):
    if a is None:
        raise ValueError("Unit 'mac' needs an operand format (--a)")
    return MAC(a, b, depth=depth, acc_bits=acc_bits, fmt_out=out, rounding=rounding,
               saturate=saturate, saturate_acc=saturate_acc, acc_format=acc_format,
               multiplier=multiplier, rand_bits=rand_bits, latency=latency,
               acc_chunk=acc_chunk, target=target, fmax=fmax, dsp=dsp)


@unit_builder("int-mac",
              ("a", "b", "latency", "depth", "acc_bits", "saturate_acc", "acc_chunk", "target",
               "fmax", "dsp"),
              "integer multiply-accumulate (signed/unsigned), two's complement acc")
def int_mac_builder(a=None, b=None, latency=None, depth=None, acc_bits=None,
                    saturate_acc=False, acc_chunk=None, target=None, fmax=None, dsp=False):
    if a is None:
        raise ValueError("Unit 'int-mac' needs an operand format (--a)")
    return IntMAC(a, b, depth=depth, acc_bits=acc_bits, saturate_acc=saturate_acc,
                  latency=latency, acc_chunk=acc_chunk, target=target, fmax=fmax, dsp=dsp)
