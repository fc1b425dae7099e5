"""`nemuri up` for real: a subprocess ticks, shows its status, and on SIGINT closes its day.

The whole default graph (the built-in world on sim time) runs once, composed, stopped by
SIGINT as a terminal's Ctrl-C does. The other mode and signal cases run the core alone
(every other node disabled with --set, on wall time): processes mode with SIGINT, and
SIGTERM, as a service manager sends it. Each expects exit code 0 and a complete day log
(metadata.yaml written, nothing to recover) under the fresh data_dir given with --set,
which also shows the parameters reached the core.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nemuri.memory.daylog import read_day
from nemuri.processes import stop_with_children

pytestmark = [pytest.mark.ros, pytest.mark.slow]

STATUS = re.compile(r"^awake \| tick (\d+) @ (\d+\.\d) Hz")
START_TIMEOUT_S = 90.0  # first run: the core creates and exports a fresh brain
# The default graph less every node but the core, on wall time: nothing publishes /clock.
OTHER_NODES = ("world", "camera", "microphone", "touch", "proprio", "actuator", "speech", "sleep")
CORE_ALONE = [
    *(arg for key in OTHER_NODES for arg in ("--set", f"nodes.{key}.enabled=false")),
    *("--set", "use_sim_time=false"),
]


def run_until_stopped(
    tmp_path: Path, mode: str, stop_signal: int, min_ticks: int, graph_args: list[str]
) -> tuple[Path, list[float], tuple[int, int]]:
    """`nemuri up` until the core has ticked `min_ticks` times, then the signal.

    Checks the clean stop (exit 0, "stopped"), and returns the data_dir, the tick rates the
    status line showed, and the wall-clock interval of the run in ns.
    """
    data_dir = tmp_path / "nemuri"
    started_ns = time.time_ns()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nemuri.cli",
            "up",
            "--mode",
            mode,
            *("--set", f"core.data_dir={data_dir}", "--set", f"sleep.data_dir={data_dir}"),
            *graph_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()
    rates = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if match := STATUS.match(line):
                rates.append(float(match[2]))
                if int(match[1]) >= min_ticks:  # a few seconds of ticking
                    break
        assert rates, f"no status line with a tick rate; stderr:\n{''.join(stderr)}"
        proc.send_signal(stop_signal)
        code = proc.wait(timeout=40)
    finally:
        stop_with_children(proc, 20)  # after a failed test: the CLI and its nodes
    assert code == 0, "".join(stderr)
    assert "nemuri up: stopped\n" in stderr, "".join(stderr)
    return data_dir, rates, (started_ns, time.time_ns())


def complete_day(data_dir: Path, min_ticks: int) -> list:
    """The one day log of the run: closed by the core (metadata.yaml), nothing recovered."""
    [day] = sorted((data_dir / "days").iterdir())
    assert (day / "metadata.yaml").is_file()
    reader = read_day(day)
    assert not reader.recovered  # closed by the core, not rebuilt from a crashed file
    assert len(reader) >= min_ticks
    return list(reader)


def test_the_default_graph_stops_cleanly_on_sigint_with_a_complete_day_log(tmp_path):
    """The whole default graph, composed: the world drives /clock in real time, the senses
    and the core tick on it, and Ctrl-C closes the day."""
    min_ticks = 30
    data_dir, rates, (started_ns, stopped_ns) = run_until_stopped(
        tmp_path, "composed", signal.SIGINT, min_ticks, []
    )
    assert any(8.0 <= rate <= 12.0 for rate in rates), rates  # 10 Hz of sim time, real time
    rows = complete_day(data_dir, min_ticks)
    # Sim time: the world's clock starts at one tick when the world starts, and in real
    # time it cannot run ahead of the wall clock of the whole run.
    assert all(0 < row.stamp_ns <= stopped_ns - started_ns for row in rows), rows[-1].stamp_ns


@pytest.mark.parametrize(
    ("mode", "stop_signal", "min_ticks"),
    [
        ("processes", signal.SIGINT, 30),
        ("composed", signal.SIGTERM, 10),
    ],
    ids=["processes-SIGINT", "composed-SIGTERM"],
)
def test_a_signal_stops_the_core_cleanly_with_a_complete_day_log(
    tmp_path, mode, stop_signal, min_ticks
):
    """The core alone, on wall time (no world: nothing publishes /clock), in each mode."""
    data_dir, rates, (started_ns, stopped_ns) = run_until_stopped(
        tmp_path, mode, stop_signal, min_ticks, CORE_ALONE
    )
    assert any(8.0 <= rate <= 12.0 for rate in rates), rates  # configured: 10 Hz
    rows = complete_day(data_dir, min_ticks)
    assert all(started_ns <= row.stamp_ns <= stopped_ns for row in rows)  # wall time


def test_a_node_that_cannot_configure_fails_the_run(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nemuri.cli",
            "up",
            "--no-status",
            *("--set", f"core.data_dir={tmp_path}", "--set", f"sleep.data_dir={tmp_path}"),
            "--set",
            "core.runtime=no_such_runtime",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "nemuri up: /nemuri_core: configure failed\n" in proc.stderr
    assert proc.stderr.endswith("nemuri up: stopped with errors\n")
