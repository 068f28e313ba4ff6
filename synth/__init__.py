"""exmy.synth: the Yosys/nextpnr flow, the results database, sweeps and reports.

``synthesize(verilog, top, ports, target, ...)`` runs one design and returns its record;
``run_sweep(points, db_path, ...)`` runs many into an SQLite database; ``write_report(db_path,
out_dir)`` turns that into CSV tables and PNG plots.
"""

from .db import ResultsDB
from .flow import TARGETS, synthesize
from .report import write_report
from .sweep import run_sweep
from .sweepfile import load_sweep
from .tools import ToolNotFoundError

__all__ = ["ResultsDB", "TARGETS", "ToolNotFoundError", "load_sweep", "run_sweep",
           "synthesize", "write_report"]
