"""Helpers shared by the test files: simulator availability, check results, messages as
regular expressions, and the one-line CLI error."""

from __future__ import annotations

import os
import re

import pytest

from exmy.sim import have_simulator

__all__ = ["need", "assert_ok", "esc", "cli_error"]


def need(simulator: str) -> None:
    """Skip (naming the tool) when a simulator is missing, except in CI (``CI`` set), where it
    fails: the set-up provides every tool there."""
    if simulator != "amaranth" and not have_simulator(simulator):
        msg = f"simulator {simulator!r} is not installed (run `make setup`)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def assert_ok(res) -> None:
    """Fail with the check's summary and every mismatch line (hex, decoded, parameter point)."""
    assert res.ok, "\n".join([res.summary()] + res.mismatches)


def esc(msg: str) -> str:
    """``msg`` as a regular expression that matches it literally."""
    return re.escape(msg)


def cli_error(capsys) -> str:
    """The CLI's error output so far: exactly one non-empty line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]
