"""Synthesis and proof tools leave nothing in the user's temporary folder, even when a run is
interrupted (``exmy.synth.tools.run_tool``): a YoWASP tool keeps its scratch files in a
``yowasp_*`` folder of ``TMPDIR``, and a tool killed on Ctrl-C or SIGTERM cannot remove it.
Found by sending SIGINT/SIGTERM at random times to ``exmy synth``, ``exmy prove`` and
``exmy sweep`` (scripts/interrupt_probe.py; the counts: docs/results/interrupts.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exmy.synth.tools import run_tool

from hwtest import need_synth_tools

# a tool that writes a scratch file into its TMPDIR, says where, and runs on
_TOOL = ("import os, sys, tempfile, time\n"
         "d = tempfile.mkdtemp(prefix='yowasp_')\n"
         "open(os.path.join(d, 'scratch'), 'w').write('x')\n"
         "print(os.getpid(), d, flush=True)\n"
         "time.sleep(60)\n")


def _sigint_default():
    """(preexec_fn) SIGINT as in a terminal, even if pytest was started with it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _started(out: Path, timeout: float = 30.0) -> tuple[int, Path]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        text = out.read_text() if out.exists() else ""
        if text.endswith("\n"):
            pid, folder = text.split()
            return int(pid), Path(folder)
        time.sleep(0.05)
    raise AssertionError("the tool did not start")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie until reaped would still answer; run_tool reaps it
    return False


def test_run_tool_gives_the_tool_its_own_temporary_folder(tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        proc = run_tool([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                        cwd=tmp_path, stdout=f)
    assert proc.returncode == 0
    folder = Path(out.read_text().strip())
    assert folder.name.startswith("exmy-tool-")
    assert not folder.exists()  # removed when the tool ended


@pytest.mark.parametrize("how", ["interrupt", "timeout"])
def test_interrupted_tool_is_stopped_and_its_folder_removed(tmp_path, how):
    """Ctrl-C (here a KeyboardInterrupt raised by a timer signal while run_tool waits) or a
    timeout: the tool is killed and waited for, and its scratch folder goes with it."""
    out = tmp_path / "out.txt"
    previous = signal.getsignal(signal.SIGALRM)

    def ctrl_c(signum, frame):
        raise KeyboardInterrupt

    expected = KeyboardInterrupt if how == "interrupt" else subprocess.TimeoutExpired
    try:
        if how == "interrupt":
            signal.signal(signal.SIGALRM, ctrl_c)
            signal.setitimer(signal.ITIMER_REAL, 2.0)
        with open(out, "w") as f, pytest.raises(expected):
            run_tool([sys.executable, "-c", _TOOL], cwd=tmp_path, stdout=f,
                     timeout=None if how == "interrupt" else 2.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid, folder = _started(out, timeout=1.0)
    assert _gone(pid), "the tool still runs"
    assert not folder.exists() and not folder.parent.exists(), folder


def _in_abc(tmp_path: Path, *argv: str, **kw) -> tuple[subprocess.Popen, Path]:
    """``exmy ARGV`` started with TMPDIR ``tmp_path/tmp`` (a terminal's SIGINT), returned once
    Yosys' ABC step runs in it (its scratch folder has appeared), with that TMPDIR."""
    need_synth_tools(["yosys", "nextpnr-ecp5"])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp))
    proc = subprocess.Popen([sys.executable, "-m", "exmy.cli.main", *argv, "--db",
                             str(tmp_path / "r.sqlite")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default, **kw)
    t0 = time.monotonic()
    while not any(p.name.startswith("yosys-abc-") for p in tmp.rglob("*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "no synthesis started"
        time.sleep(0.02)
    return proc, tmp


def _stopped_cleanly(proc: subprocess.Popen, tmp: Path, command: str) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith(f"exmy {command}: interrupted"), err
    assert list(tmp.rglob("*")) == [], (list(tmp.rglob("*"))[:10], err)


def test_synth_interrupted_while_yosys_runs_leaves_no_temporary_files(tmp_path):
    """SIGTERM to ``exmy synth`` while Yosys runs: the command stops with its one line and the
    temporary folder it was given is empty again (it kept a ``yowasp_*`` folder before)."""
    proc, tmp = _in_abc(tmp_path, "synth", "multiplier", "--a", "bfloat16", "--target", "ecp5",
                        "--no-cache")
    proc.send_signal(signal.SIGTERM)
    _stopped_cleanly(proc, tmp, "synth")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_sweep_stopped_while_its_workers_synthesize_leaves_no_temporary_files(tmp_path, sig):
    """Ctrl-C in a terminal (SIGINT to the whole process group) or SIGTERM to the sweep
    alone while its two workers synthesize: the command stops with its one line and
    ``TMPDIR`` is empty again. Ctrl-C killed the workers at once (SIG_DFL), so their
    ``exmy-synth-*`` folders and their tools' ``yowasp_*`` folders stayed behind; SIGTERM left
    the workers synthesizing while the command waited for them at exit."""
    proc, tmp = _in_abc(tmp_path, "sweep", "--units", "multiplier", "--formats",
                        "bfloat16,float16", "--targets", "ecp5", "-j", "2",
                        start_new_session=True)
    t_signal = time.monotonic()
    if sig == "SIGINT":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    _stopped_cleanly(proc, tmp, "sweep")
    # the syntheses in progress were stopped, not waited for (docs/results/interrupts.md)
    assert time.monotonic() - t_signal < 6


def test_a_second_interrupt_does_not_stop_the_clean_up(tmp_path, monkeypatch):
    """Ctrl-C on a sweep reaches a worker, and the sweep's own SIGTERM to it follows at once:
    the worker raises on the first only, and a tool's folder is removed whole even if an
    interrupt lands inside the removal (it is raised again afterwards). A random-interrupt
    probe of `exmy sweep -j 2` left an ``exmy-tool-*`` folder so (docs/results/interrupts.md)."""
    import shutil

    from exmy.synth import sweep
    from exmy.synth.tools import _remove

    folder = tmp_path / "exmy-tool-x"
    (folder / "yowasp_y").mkdir(parents=True)
    real, calls = shutil.rmtree, []

    def interrupted_once(path, ignore_errors=False):
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(shutil, "rmtree", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        _remove(str(folder))
    assert not folder.exists() and len(calls) == 2

    monkeypatch.setattr(sweep, "_busy", True)
    monkeypatch.setattr(sweep, "_stopping", False)
    with pytest.raises(KeyboardInterrupt):
        sweep._worker_stop(signal.SIGINT, None)
    assert sweep._worker_stop(signal.SIGTERM, None) is None  # (the clean-up goes on)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_worker_interrupt_inside_a_finalizer_still_stops_its_step(tmp_path, sig):
    """A sweep worker's Ctrl-C or SIGTERM that lands while the garbage collector runs a
    ``__del__`` (Amaranth checks every freed component in one) still stops the step in
    progress. Python ignores an exception raised in a finalizer: the worker went on
    synthesizing, and since it had taken note of the stop, the sweep's SIGTERM after it was
    ignored too, so the step ran to its end (the command's own handler already sent such a
    signal again; the worker's did not)."""
    (tmp_path / "worker_del.py").write_text(
        "import os, signal, time\n"
        "from exmy.synth import sweep\n"
        "sweep._init_worker()\n"
        "class Freed:\n"
        "    def __del__(self):\n"
        f"        os.kill(os.getpid(), signal.{sig})\n"
        "        time.sleep(0.5)  # (the handler runs in here)\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        "    with sweep._step():\n"
        "        Freed()\n"
        "        time.sleep(30)\n"
        "    print('step finished')\n"
        "except KeyboardInterrupt:\n"
        "    print('step stopped after %.1f s' % (time.monotonic() - t0))\n")
    proc = subprocess.run([sys.executable, "worker_del.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, preexec_fn=_sigint_default)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("step stopped after "), (proc.stdout, proc.stderr)
    assert float(proc.stdout.split()[3]) < 10, proc.stdout
