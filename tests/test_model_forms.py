"""benchmarks/model_forms.py re-predicts fmax.md's designs from counts of what the delay
model charges: those counts must give back exactly what exmy.hdl.timing predicts, or every
form it compares is judged on something else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import model_forms  # noqa: E402

from exmy.hdl.timing import delay_model  # noqa: E402


#: an iCE40 design (size term), an ECP5 one (knee) and one whose slowest stage has a chained
#: carry chain (t_chain)
@pytest.mark.parametrize("row, family, latency", [
    ("fma-bf16", "ice40", 4), ("mul-e4m3", "ecp5", 3), ("fma-e4m3", "ecp5", 6)])
def test_counts_give_back_the_committed_prediction(row, family, latency):
    d = next(d for d in model_forms.read_designs()
             if (d["row"], d["family"], d["latency"]) == (row, family, latency))
    c = model_forms.stage_counts(d)
    dm = delay_model(family)
    coef = [getattr(dm, k) for k in model_forms.KEYS]
    sums = [sum(a * b for a, b in zip(coef, s, strict=True)) for s in c["stages"]]
    period = model_forms.Form.of(dm).period(dm, sums, c["placed"] if dm.size_placed
                                            else c["bits"])
    assert 1000.0 / period == pytest.approx(c["comp"].plan.fmax_predicted, rel=1e-6)
    assert len(c["stages"]) == d["latency"] + 1


def test_a_stale_fmax_md_is_named(tmp_path):
    """A frontier row whose latency no longer matches what the model places is refused."""
    src = model_forms.FMAX_MD.read_text().splitlines()
    i = next(i for i, ln in enumerate(src) if ln.startswith("| multiplier e4m3 e4m3 | ecp5 | "))
    cells = src[i].split(" | ")
    cells[2] = str(int(cells[2]) + 1)
    src[i] = " | ".join(cells)
    (tmp_path / "fmax.md").write_text("\n".join(src))
    d = next(d for d in model_forms.read_designs(tmp_path / "fmax.md")
             if d["row"] == "mul-e4m3" and not d["table"])
    with pytest.raises(ValueError, match="fmax.md is out of date"):
        model_forms.stage_counts(d)
