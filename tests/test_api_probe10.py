"""A tenth probe, of the Python API items probe 9 left: a sweep file's run settings that
``load_sweep`` handed back unchecked, and ``ResultsDB.link`` to a record that does not
exist. Each test says what happened before; each fails on the code before the probe."""

from __future__ import annotations

import pytest

from exmy.synth.db import ResultsDB
from exmy.synth.sweep import max_jobs
from exmy.synth.sweepfile import load_sweep

_POINTS = '[[unit]]\nname = "lmul"\nparams = { a = "e4m3" }\n'


@pytest.mark.parametrize("setting, message", [
    ('db = ""', "'db' in the sweep file must be a file name (a string), not ''"),
    ("db = 5", "'db' in the sweep file must be a file name (a string), not 5"),
    ("jobs = 0", "'jobs' in the sweep file must be a positive integer"),
    ('jobs = "2"', "'jobs' in the sweep file must be a positive integer"),
    ("jobs = 100000", f"'jobs' in the sweep file must be at most {max_jobs()} local worker"),
    ('executor = "dask://nohost"', "Dask scheduler address must be"),
], ids=["db-empty", "db-number", "jobs-0", "jobs-string", "jobs-huge", "executor-no-port"])
def test_load_sweep_checks_the_run_settings(setting, message, tmp_path):
    """``load_sweep`` returned ``db = ""``, ``jobs = 0`` or a malformed executor address as
    they were; ``exmy sweep`` refused the same file (before listing or running it), so a
    script that read a file with the API and passed the settings on got an error later, or
    (``db = ""``) a database in the current folder. It now refuses them as the command does,
    naming the file."""
    f = tmp_path / "s.toml"
    f.write_text(f'targets = ["generic"]\n{setting}\n{_POINTS}')
    with pytest.raises(ValueError) as e:
        load_sweep(f)
    assert str(e.value).startswith(f"Sweep file {f}: ")
    assert message in str(e.value)


def test_load_sweep_returns_good_settings(tmp_path):
    """Control: good settings come back as the file gives them."""
    f = tmp_path / "s.toml"
    f.write_text(f'targets = ["generic"]\ndb = "r.sqlite"\njobs = 2\n{_POINTS}')
    got = load_sweep(f)
    assert (got["db"], got["jobs"], got["executor"]) == ("r.sqlite", 2, None)
    assert len(got["points"]) == 1


def test_link_to_a_missing_record_is_refused(tmp_path):
    """``ResultsDB.link("p", "no-such-key")`` returned as if done: it stored a mapping to
    nothing (``get_point("p")`` answered None) and dropped the point's claim, so a sweep
    running the point lost its claim to it. It is now refused, and nothing is changed."""
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.put({"flow_key": "k1", "status": "ok", "unit": "lmul", "target": "generic"})
        with pytest.raises(ValueError, match="No record has flow_key 'no-such-key'"):
            db.link("p", "no-such-key")
        assert db.get_point("p") is None
        assert db.claim("p", "sweep-1") == ("claimed", None)
        with pytest.raises(ValueError, match="No record has flow_key 'no-such-key'"):
            db.link("p", "no-such-key")
        assert db.claim("p", "sweep-2") == ("busy", None)  # sweep-1's claim stands
        db.link("p", "k1")  # control: an existing record links
        assert db.get_point("p")["flow_key"] == "k1"
