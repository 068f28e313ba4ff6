"""An eighth probe of user-facing errors, on items earlier probes noted and left: Ctrl-C
between `exmy generate`'s two files. Each test is a finding that left the user's files
inconsistent or gave a misleading message. Fast: no synthesis, no simulator.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exmy.cli.main import main

from hwtest import cli_error

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize("earlier, during", [(False, True), (True, True), (True, False)])
def test_generate_ctrl_c_before_the_sidecar_keeps_no_mismatched_pair(earlier, during, tmp_path,
                                                                     capsys, monkeypatch):
    """Ctrl-C after `exmy generate` wrote FILE.v but before FILE.json was complete left the
    new Verilog beside no sidecar or, when the name had been used before, beside the earlier
    run's sidecar, which describes other ports and another module. The pair is now removed
    and the line says so: Ctrl-C while the sidecar is written (``during``: a fragment of it
    is on disk) or just before (the earlier sidecar untouched)."""
    out = tmp_path / "m.v"
    side = tmp_path / "m.json"
    if earlier:
        out.write_text("// an earlier module\n")
        side.write_text('{"module": "an_earlier_module"}\n')
    write_text = Path.write_text

    def cut(self, data, *args, **kwargs):
        if self.suffix == ".json":
            if during:
                write_text(self, data[:10], *args, **kwargs)
            raise KeyboardInterrupt
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", cut)
    assert main(["generate", "multiplier", "--a", "e2m1", "-o", str(out)]) == 130
    assert cli_error(capsys) == (
        f"exmy generate: interrupted while writing {side}, after {out}; removed {out} and "
        f"{side}, so no Verilog is left beside a sidecar that does not describe it")
    assert not out.exists() and not side.exists()


@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_sweep_file_that_is_a_broken_link_is_named_so(kind, tmp_path, capsys):
    """`exmy sweep LINK` said the sweep file "does not exist" when it was a symbolic link
    loop, or a link whose target is missing: the user sees the file in `ls` and is told it is
    not there. The line now says what it is."""
    link = tmp_path / "s.toml"
    if kind == "loop":
        other = tmp_path / "t.toml"
        other.symlink_to(link)
        link.symlink_to(other)
    else:
        link.symlink_to(tmp_path / "gone.toml")
    assert main(["sweep", str(link), "--list"]) == 2
    assert cli_error(capsys).startswith(
        f"exmy sweep: error: Sweep file {str(link)!r} is a symbolic link to nothing (its "
        f"target is missing, or the link is a loop); built-in sweeps are ")


@pytest.mark.parametrize("setting, message", [
    ("db = 5", "'db' in the sweep file must be a file name (a string), not 5"),
    ('jobs = "many"', "'jobs' in the sweep file must be a positive integer (the number of "
                      "local worker processes; 1 runs in this process), not 'many'"),
], ids=["db", "jobs"])
def test_sweep_list_checks_the_files_settings(setting, message, tmp_path, capsys):
    """`exmy sweep FILE --list` listed the points of a file whose ``db`` or ``jobs`` the run
    then refused: the listing said the sweep was fine. Both are now checked first."""
    f = tmp_path / "s.toml"
    f.write_text(f'{setting}\n[[unit]]\nname = "multiplier"\ntargets = ["ecp5"]\n'
                 f'params = {{ a = ["e2m1"] }}\n')
    assert main(["sweep", str(f), "--list"]) == 2
    assert cli_error(capsys) == f"exmy sweep: error: {message}"
