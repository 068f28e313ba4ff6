"""The documentation is true and self-contained.

- The README's "Composing units in Amaranth" example is extracted from README.md and run (so
  the README and this test cannot drift); its printed output must be the one the README shows,
  and its circuit must agree with the golden model and with ml_dtypes. The Python synthesis
  example ("Synthesize and sweep") runs too and prints what the README shows.
- README.md and docs/ link nothing outside the repository (no ``../shared``), every relative
  link in README.md and docs/*.md resolves to a file (and heading), and every "SPEC n.m" that
  the README, the docs or the package sources cite is a section of docs/contract.md.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from exmy.golden import CATALOG, convert, exact_product_format, multiply

from oracles import ml_encode, ml_values

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONTRACT = ROOT / "docs" / "contract.md"
EXAMPLE_HEADING = "### Composing units in Amaranth"

E4M3FN = CATALOG["e4m3fn"]


def code_block(text: str, heading: str) -> str:
    """The first ```python block of the section that starts at ``heading``."""
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise AssertionError(f"README.md has no heading {heading!r}") from None
    block: list[str] | None = None
    for line in lines[start + 1:]:
        if block is None:
            if line.startswith("#"):
                break  # the next section began before any code block
            if line.strip() == "```python":
                block = []
        elif line.strip() == "```":
            return "\n".join(block) + "\n"
        else:
            block.append(line)
    raise AssertionError(f"no complete ```python block under {heading!r} in README.md")


@pytest.fixture(scope="module")
def example() -> tuple[dict, str, str]:
    """Run the README example: (its namespace, what it printed, the output the README shows
    in the comment line after its ``print``)."""
    code = code_block(README.read_text(encoding="utf-8"), EXAMPLE_HEADING)
    stated = code.rstrip().splitlines()[-1]
    assert stated.startswith("# "), f"the example must end with its output as a comment: {stated}"
    ns: dict = {"__name__": "readme_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (Composing units in Amaranth)", "exec"), ns)
    return ns, out.getvalue().strip(), stated[2:].strip()


def test_code_block_extraction():
    text = "intro\n### A\ntext\n```python\nx = 1\n```\n### B\n```python\ny = 2\n```\n"
    assert code_block(text, "### A") == "x = 1\n"
    with pytest.raises(AssertionError, match="no complete"):
        code_block("### A\ntext\n### B\n```python\ny = 2\n```\n", "### A")
    with pytest.raises(AssertionError, match="has no heading"):
        code_block(text, "### C")


def test_example_prints_what_the_readme_says(example):
    _, printed, stated = example
    assert ast.literal_eval(printed) == ast.literal_eval(stated)


def test_example_agrees_with_golden_and_ml_dtypes(example):
    ns, _, _ = example
    assert str(exact_product_format(E4M3FN, E4M3FN)) == "e5m7-fn-b12"  # as the README says
    rng = np.random.default_rng(11)
    special = [0x00, 0x80, 0x01, 0x81, 0x07, 0x08, 0x38, 0xB8, 0x7E, 0xFE, 0x7F, 0xFF]
    a = np.concatenate([np.repeat(special, len(special)), rng.integers(0, 256, 1500)])
    b = np.concatenate([np.tile(special, len(special)), rng.integers(0, 256, 1500)])
    got = np.array(ns["run"](list(zip(a.tolist(), b.tolist(), strict=True))), dtype=np.uint64)
    # the golden model: one rounding of the exact product, and the same as two stages
    want = multiply(a, b, E4M3FN, E4M3FN, E4M3FN)
    exact = multiply(a, b, E4M3FN, E4M3FN)
    staged = convert(exact, exact_product_format(E4M3FN, E4M3FN), E4M3FN)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [(hex(a[i]), hex(b[i]), hex(got[i]), hex(want[i])) for i in bad[:5]]
    assert np.array_equal(want, staged)
    # an oracle exmy did not write: the float32 product (exact for 4-bit significands) cast to
    # float8_e4m3fn by ml_dtypes (RNE; overflow and NaN give NaN, 0x7f or 0xff)
    with np.errstate(all="ignore"):
        ref = ml_encode(ml_values(a, E4M3FN) * ml_values(b, E4M3FN), E4M3FN)
    nan = (ref & 0x7F) == 0x7F
    assert np.array_equal(got[nan], np.full(nan.sum(), 0x7F, np.uint64))  # canonical NaN
    assert np.array_equal(got[~nan], ref[~nan])


def test_synthesis_example_prints_what_the_readme_says(tmp_path, monkeypatch):
    """The README's Python synthesis example ("Synthesize and sweep") runs and prints the
    module, LUT, FF and Fmax its comment line shows (the pinned Yosys and nextpnr are
    deterministic for a seed)."""
    from hwtest import need_synth_tools

    need_synth_tools(["yosys", "nextpnr-ecp5"])
    monkeypatch.chdir(tmp_path)
    code = code_block(README.read_text(encoding="utf-8"), "### Synthesize and sweep")
    stated = code.rstrip().splitlines()[-1]
    assert stated.startswith("# ")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (Synthesize and sweep)", "exec"), {"__name__": "ex"})
    assert out.getvalue().strip() == stated[2:].strip()


# -- links and citations -------------------------------------------------------------------
LINK = re.compile(r"\]\(([^)\s]+)\)")


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def test_no_link_outside_the_repository():
    bad = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        if "../shared" in text:
            bad.append(f"{path.relative_to(ROOT)}: mentions ../shared")
        for target in LINK.findall(text):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT):
                bad.append(f"{path.relative_to(ROOT)}: {target} leaves the repository")
    assert not bad, "\n".join(bad)


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # no headings inside code
    return {slug(h) for h in re.findall(r"^#{1,6} .*$", text, flags=re.M)}


def test_slug():
    assert slug("## 3. Units") == "3-units"
    assert slug("### 5.2 `mx-dot`: OCP MX v1.0") == "52-mx-dot-ocp-mx-v10"
    assert slug("## Decisions where the spec was silent") == "decisions-where-the-spec-was-silent"


@pytest.mark.parametrize("path", [README, *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    bad = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        file, _, frag = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif frag and dest.suffix == ".md" and frag not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{frag} in {dest.name}")
    assert not bad, f"{path.relative_to(ROOT)}:\n" + "\n".join(bad)


CITE = re.compile(r"SPEC(?:\.md)?(?: section)? (\d+(?:\.\d+)?)")


def test_spec_citations_name_contract_sections():
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", CONTRACT.read_text("utf-8"), re.M))
    assert {"1.1", "2.3", "2.6", "3.2", "3.3", "3.4", "5.2", "7"} <= sections
    files = doc_files() + [
        p for d in ("golden", "hdl", "sim", "synth", "cli", "evaluate")
        for p in sorted((ROOT / d).rglob("*.py"))
    ]
    bad = [
        f"{p.relative_to(ROOT)}: SPEC {n}"
        for p in files
        for n in CITE.findall(p.read_text(encoding="utf-8"))
        if n not in sections
    ]
    assert not bad, "citations of sections docs/contract.md does not have:\n" + "\n".join(bad)
