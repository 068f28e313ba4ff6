"""``exmy generate``: Verilog and its JSON sidecar for a unit."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .common import CliError, add_unit_options, output_file, unit_options, writing


def add_parser(sub):
    p = sub.add_parser(
        "generate",
        help="write Verilog (FILE.v) and integration metadata (FILE.json) for a unit",
        description="Generate synthesizable Verilog for a unit. Beside FILE.v it writes "
        "FILE.json: module name, unit, latency, parameters and every port's direction, width "
        "and number format.",
    )
    add_unit_options(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.v", help="Verilog file")
    p.add_argument("--name", metavar="MODULE", help="top module name (default: derived "
                   "from the parameters, e.g. multiplier_e4m3fn_e4m3fn_l0)")
    p.set_defaults(run=run)


def generate(unit: str, options: dict, output: str | Path, name: str | None = None) -> dict:
    """Write FILE.v and FILE.json; return the sidecar dict."""
    from exmy.hdl.registry import build, sidecar
    from exmy.hdl.verilog import to_verilog

    if name is not None and not name.strip():
        raise CliError("--name needs a Verilog module name, not an empty string (omit it for "
                       "the name derived from the parameters)")
    output = output_file(output, "-o", suffix=".v")
    side = output.with_suffix(".json")
    if side.is_dir():  # its name follows -o: a file inside it is no fix
        raise CliError(f"-o {str(output)!r}: its JSON sidecar {str(side)!r} would overwrite a "
                       f"directory; choose another -o name or move that directory")
    output_file(side, "-o (its .json sidecar)")
    comp = build(unit, **options)
    top = name or comp.module_name
    text = to_verilog(comp, top)
    meta = sidecar(comp, text, top)
    with writing(output):
        output.write_text(text)
    try:
        with writing(side):
            side.write_text(json.dumps(meta, indent=2) + "\n")
    except KeyboardInterrupt as exc:
        # FILE.v is new; the sidecar beside it is partial (``writing`` removed it and says
        # so), absent or an earlier run's: remove the pair, so no .v is left with a sidecar
        # that does not describe it
        removed = [str(output)] if output.is_file() and _removed(output) else []
        if (side.is_file() and _removed(side)) or (str(exc) and not side.exists()):
            removed.append(str(side))
        raise KeyboardInterrupt(
            f"interrupted while writing {side}, after {output}; removed "
            f"{' and '.join(removed) or 'nothing'}, so no Verilog is left beside a sidecar "
            f"that does not describe it") from None
    return meta


def _removed(path: Path) -> bool:
    try:
        os.unlink(os.path.realpath(path))  # through a link: its file (the link stays)
    except OSError:
        return False
    return True


def port_summary(ports: dict) -> str:
    """``a[8] float8_e4m3, ...``; a run of lane ports of one shape (``a0`` .. ``a31``) is one
    entry, ``a0..a31[8] float8_e4m3``."""
    groups: list[list] = []  # [stem, first, last, shape] or [name, None, None, shape]
    for name, p in ports.items():
        shape = f"[{p['width']}]" + (f" {p['format']}" if "format" in p else "")
        m = re.fullmatch(r"([a-z_]+?)(0|[1-9][0-9]*)", name)
        last = groups[-1] if groups else None
        if (m and last and last[1] is not None and last[0] == m.group(1)
                and last[2] + 1 == int(m.group(2)) and last[3] == shape):
            last[2] += 1
        elif m:
            groups.append([m.group(1), int(m.group(2)), int(m.group(2)), shape])
        else:
            groups.append([name, None, None, shape])
    return ", ".join(
        f"{stem}{shape}" if first is None else
        f"{stem}{first}{shape}" if first == last else
        f"{stem}{first}..{stem}{last}{shape}"
        for stem, first, last, shape in groups)


def run(args) -> int:
    meta = generate(args.unit, unit_options(args), args.output, args.name)
    ports = port_summary(meta["ports"])
    print(f"wrote {args.output} and {Path(args.output).with_suffix('.json')}: module "
          f"{meta['module']}, latency {meta['latency']}, ports {ports}")
    timing = meta.get("timing")
    if isinstance(timing, dict) and "fmax_predicted" in timing:  # fmax mode: a prediction
        print(f"registers placed for {timing['fmax_target']:g} MHz: predicted "
              f"{timing['fmax_predicted']:g} MHz by the {timing['target']} delay model "
              f"({_check_hint(args.unit, timing['target'], timing['fmax_target'])})")
    return 0


def _check_hint(unit: str, target: str, fmax: float) -> str:
    """How the user checks a predicted clock on ``target``: ``exmy synth --meet`` where nextpnr
    times the design; what is missing where it cannot."""
    from exmy.synth.flow import TARGETS

    t = TARGETS.get(target)
    if t is None or t.nextpnr is None:
        return (f"no open place and route times {target} here: `exmy synth` counts its LUTs, "
                "nothing checks the clock")
    meet = f"`exmy synth {unit} ... --target {target} --fmax {fmax:g} --meet`"
    if t.timing_gap:
        return f"{meet} runs {t.nextpnr}, which {t.timing_gap}"
    return f"{meet} checks it with {t.nextpnr}"
