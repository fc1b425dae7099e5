"""A day log survives SIGKILL of its writer, losing at most the last second of ticks."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rosbags.rosbag2 import Reader

from helpers_daylog import PERIOD_NS, make_row
from nemuri.memory import read_day, recover_day

WALL_S = 3.0  # real time the writer runs before the kill
ROW_SLEEP_S = 0.01  # ~100 rows a wall second: simulated time runs ~10x real time
TICKS_PER_SECOND = 10**9 // PERIOD_NS


def test_sigkill_mid_day_loses_at_most_the_last_second(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("helpers_daylog.py")),
            str(tmp_path),
            str(ROW_SLEEP_S),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("path "), first
        bag = Path(first.split(" ", 1)[1].strip())
        assert child.stdout.readline().strip() == "0"  # the first row is in
        # Kill at a random phase of the flush cycle, after >= WALL_S of real time.
        deadline = time.monotonic() + WALL_S + random.uniform(0.0, 0.3)
        last_printed = 0
        while time.monotonic() < deadline:
            last_printed = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        for line in child.stdout:  # rows appended between our last read and the kill
            last_printed = int(line)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert last_printed >= 2 * TICKS_PER_SECOND  # the day ran long enough to mean something
    reader = read_day(bag)
    assert reader.recovered
    recovered = len(reader)
    # Appended ticks are 0..last_printed (and perhaps one more, unprinted). At most one
    # second of them (TICKS_PER_SECOND rows) may be lost, never more.
    assert last_printed + 1 - TICKS_PER_SECOND <= recovered <= last_printed + 2
    assert list(reader) == [make_row(t) for t in range(recovered)]

    report = recover_day(bag)
    assert report.rewritten and report.ticks == recovered
    assert (bag / "metadata.yaml").is_file()
    after = read_day(bag)
    assert not after.recovered and len(after) == recovered
    with Reader(bag) as standard:
        assert standard.message_count == recovered
        assert standard.duration == (recovered - 1) * PERIOD_NS + 1  # rosbags counts inclusive
