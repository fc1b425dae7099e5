"""Stopping a child process as a terminal's Ctrl-C does, and whatever it leaves behind.

`nemuri up --mode processes` runs each node in a session of its own, so when the CLI is
stuck or killed its node processes live on: whoever started it (a test, a benchmark) finds
them by parent PID before stopping it, and SIGKILLs those still there afterwards. Only PIDs
the caller started, or their children, are ever signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is `pid`, read from /proc (empty where there is no /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def interrupt(proc: subprocess.Popen, timeout: float, sig: int = signal.SIGINT) -> None:
    """Send `sig` to a running child, wait `timeout` seconds for it, SIGKILL it if stuck."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_with_children(
    proc: subprocess.Popen, timeout: float, children: list[int] | None = None
) -> None:
    """Interrupt `proc` (it stops its own children in order), then SIGKILL any of
    `children` (by default, its children now) that outlived it."""
    if children is None:
        children = children_of(proc.pid)
    interrupt(proc, timeout)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
