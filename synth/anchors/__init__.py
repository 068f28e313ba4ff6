"""Plain behavioural Verilog reference designs (ANCHORS.md) measured in the same flow as exmy's
units: ``load(name) -> (verilog, top, ports)`` feeds :func:`exmy.synth.flow.synthesize`."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ANCHOR_DESIGNS", "load"]

_HERE = Path(__file__).parent

#: name -> (file, top module, ports). MACs have no reset (as ANCHORS.md measured them).
ANCHOR_DESIGNS: dict[str, tuple[str, str, dict[str, dict]]] = {
    "int8_mac": ("int8_mac.v", "int8_mac", {
        "clk": {"dir": "in", "width": 1}, "a": {"dir": "in", "width": 8},
        "b": {"dir": "in", "width": 8}, "acc": {"dir": "out", "width": 24}}),
    "int4_mac": ("int4_mac.v", "int4_mac", {
        "clk": {"dir": "in", "width": 1}, "a": {"dir": "in", "width": 4},
        "b": {"dir": "in", "width": 4}, "acc": {"dir": "out", "width": 16}}),
    "e2m1_mul_table": ("e2m1_mul_table.v", "e2m1_mul_table", {
        "a": {"dir": "in", "width": 4}, "b": {"dir": "in", "width": 4},
        "p": {"dir": "out", "width": 9}}),
}


def load(name: str) -> tuple[str, str, dict[str, dict]]:
    """Return ``(verilog, top, ports)`` of the anchor design ``name``."""
    if name not in ANCHOR_DESIGNS:
        raise ValueError(f"Unknown anchor design {name!r}; valid names are "
                         f"{', '.join(ANCHOR_DESIGNS)}")
    file, top, ports = ANCHOR_DESIGNS[name]
    return (_HERE / file).read_text(), top, {k: dict(v) for k, v in ports.items()}
