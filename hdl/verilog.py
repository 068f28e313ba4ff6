"""Verilog generation for exmy components, and the flat port table the simulators use.

The builtin Yosys of ``amaranth[builtin-yosys]`` does the conversion, so no environment
variable is needed. The output is deterministic: the same component parameters give the same
bytes, wherever the checkout lives (no ``src`` attributes, which would carry absolute paths).
"""

from __future__ import annotations

import re

from amaranth.back import verilog as _verilog
from amaranth.hdl import Shape, ValueCastable
from amaranth.hdl._ir import PortDirection
from amaranth.lib import wiring

__all__ = ["to_verilog", "port_table", "module_ports"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _check_component(component) -> None:
    if not isinstance(component, wiring.Component):
        raise TypeError(f"Component must be an amaranth.lib.wiring.Component, not {component!r}")


def _flat_ports(component: wiring.Component):
    """(name, member, value) for each flat port, in signature order."""
    for path, member, value in component.signature.flatten(component):
        yield "__".join(map(str, path)), member, value


def to_verilog(component: wiring.Component, name: str) -> str:
    """Convert ``component`` to Verilog with top module ``name``.

    Ports are the component's signature members, flattened with ``__`` between path elements;
    a sync domain adds ``clk`` and ``rst`` (synchronous, active high).

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
    if not _IDENT.match(name):
        raise ValueError(f"Module name must be a Verilog identifier, not {name!r}")
    ports = {}
    for port_name, member, value in _flat_ports(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if len(value) == 0:
            continue  # zero-width members have no Verilog port
        direction = PortDirection.Input if member.flow == wiring.In else PortDirection.Output
        ports[port_name] = (value, direction)
    text = _verilog.convert(component, name=name, ports=ports, emit_src=False)
    # Belt and braces: no attribute may name a file on this machine.
    text = re.sub(r"\(\*\s*src\s*=\s*\"[^\"]*\"\s*\*\)\s*", "", text)
    return text


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

    Order: ``clk`` and ``rst`` first when the design has a sync domain (detected from the
    generated Verilog's top module ports), then the signature members in declaration order
    (nested members flattened with ``__``).

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
    verilog_text : str, optional
        The output of :func:`to_verilog` for this component; generated when omitted.

    Raises
    ------
    ValueError
        If the Verilog has no module whose ports match the component's signature.
    """
    _check_component(component)
    table: dict[str, dict] = {}
    for port_name, member, _ in _flat_ports(component):
        width = Shape.cast(member.shape).width
        if width == 0:
            continue  # no Verilog port
        table[port_name] = {"dir": "in" if member.flow == wiring.In else "out", "width": width}
    if verilog_text is None:
        verilog_text = to_verilog(component, "exmy_port_probe")
    modules = module_ports(verilog_text)
    top = None
    for ports in modules.values():
        if set(table) <= set(ports):
            top = ports
    if top is None:
        raise ValueError(
            f"No module in the Verilog has all of the component's ports {sorted(table)}; "
            f"modules found: {sorted(modules)}"
        )
    extra = {n: p for n, p in top.items() if n not in table}
    unknown = sorted(set(extra) - {"clk", "rst"})
    if unknown:
        raise ValueError(
            f"The Verilog top module has ports {unknown} that the component's signature lacks "
            f"(only clk and rst are expected); domains other than sync are not supported"
        )
    clocked = {n: {"dir": "in", "width": 1} for n in ("clk", "rst") if n in extra}
    return {**clocked, **table}
