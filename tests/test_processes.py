"""nemuri.processes: a child is interrupted, killed when it hangs, and its orphans too."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from nemuri.processes import children_of, interrupt, stop_with_children
from ros_helpers import wait_for

IGNORES_SIGINT = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(60)"
)


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's, whatever this test runner inherited (a job
    started in the background by a non-interactive shell has it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def gone(pid: int) -> bool:
    """No such process, or only its zombie entry (reaped by whoever adopted it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_a_child_that_ignores_sigint_is_killed_after_the_timeout():
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_SIGINT], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ready\n"
        interrupt(proc, timeout=0.5)
        assert proc.returncode == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_child_that_obeys_sigint_stops_by_it():
    proc = subprocess.Popen(["sleep", "60"], preexec_fn=default_sigint)
    try:
        interrupt(proc, timeout=30.0)
        assert proc.returncode == -signal.SIGINT  # not SIGKILL
    finally:
        proc.kill()
        proc.wait()


def test_children_that_outlive_their_parent_are_killed_by_pid():
    # A non-interactive shell starts its background job with SIGINT ignored: the shell
    # dies of the SIGINT, the sleep lives on, orphaned, until killed by its PID.
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], preexec_fn=default_sigint)
    try:
        assert wait_for(lambda: len(children_of(proc.pid)) == 1, 10.0)
        (child,) = children_of(proc.pid)
        stop_with_children(proc, timeout=30.0)
        assert proc.returncode == -signal.SIGINT
        assert wait_for(lambda: gone(child), 10.0)
    finally:
        proc.kill()
        proc.wait()
    assert children_of(proc.pid) == []
