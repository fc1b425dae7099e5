"""Rows for day log tests, and a child process that writes a day log until it is killed.

`make_row(tick)` is a pure function of the tick, so a test (or the parent of a killed
writer) can say exactly which row every recovered tick must equal.

Run as a script: `python helpers_daylog.py DAYS_DIR SLEEP_S` creates a day log, prints its
path, then appends a row every SLEEP_S of wall time with stamps 0.1 s apart (10 Hz of
simulated time, running faster than real time) and prints each tick once it is appended.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.memory import DayLog, TickRow

PERIOD_NS = 100_000_000  # 10 Hz
WORDS = ("silence", "ball", "cup", "ねこ", "")


def make_row(tick: int, stamp_ns: int | None = None) -> TickRow:
    """A varied, valid row: absent, stale and present modalities, optional motor command."""
    rng = np.random.default_rng(tick)
    embeddings: list[np.ndarray | None] = []
    present: list[bool] = []
    for i, name in enumerate(MODALITIES):
        kind = (tick + i) % 4  # 0 absent, 1 stale (data kept, masked), else present
        data = rng.standard_normal(EMBEDDING_DIMS[name]).astype(np.float32)
        embeddings.append(None if kind == 0 else data)
        present.append(kind >= 2)
    n = len(JOINTS)
    return TickRow(
        tick=tick,
        stamp_ns=tick * PERIOD_NS if stamp_ns is None else stamp_ns,
        embeddings=embeddings,
        present=present,
        encoder_versions=[f"{name}-enc-{tick % 3}" for name in MODALITIES],
        embedding_stamps_ns=[int(x) for x in rng.integers(0, 2**40, len(MODALITIES))],
        embedding_ticks=[int(x) for x in rng.integers(0, 2**62, len(MODALITIES))],
        heard_word=WORDS[tick % len(WORDS)],
        joint_names=JOINTS,
        joint_position=rng.uniform(-1, 1, n).astype(np.float32),
        joint_velocity=rng.uniform(-2, 2, n).astype(np.float32),
        motor_velocity=(
            np.zeros(0, np.float32) if tick % 7 == 0 else rng.uniform(-2, 2, n).astype(np.float32)
        ),
        spoken_word=WORDS[(tick * 3) % len(WORDS)],
        drowsiness=rng.uniform(0, 1, len(DROWSINESS_FEATURES)).astype(np.float32),
        step_latency_ms=float(np.float32(rng.uniform(0, 20))),
        missed=tick % 11 == 0,
        brain_version=f"v{tick // 50}",
    )


def assert_same_as_row(msg: Any, row: TickRow) -> None:
    """A TickRecord decoded by another library (mcap_ros2, rosbags) from the bag's own
    schema holds exactly the row's values."""
    assert msg.tick == row.tick
    assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == row.stamp_ns
    assert [e.modality for e in msg.embeddings] == list(range(len(MODALITIES)))
    for i, emb in enumerate(msg.embeddings):
        want = row.embeddings[i]
        got = np.asarray(emb.data, dtype=np.float32)
        assert got.size == 0 if want is None else np.array_equal(got, want)
        assert emb.encoder_version == row.encoder_versions[i]
        assert emb.tick == row.embedding_ticks[i]
        assert (
            emb.header.stamp.sec * 10**9 + emb.header.stamp.nanosec == (row.embedding_stamps_ns[i])
        )
    assert [bool(p) for p in msg.present] == list(row.present)
    assert (msg.heard_word, msg.spoken_word, msg.brain_version) == (
        row.heard_word,
        row.spoken_word,
        row.brain_version,
    )
    assert list(msg.joint_names) == list(row.joint_names)
    for name in ("joint_position", "joint_velocity", "motor_velocity", "drowsiness"):
        assert np.array_equal(np.asarray(getattr(msg, name), np.float32), getattr(row, name))
    assert np.float32(msg.step_latency_ms) == np.float32(row.step_latency_ms)
    assert bool(msg.missed) == row.missed


def mcap_of(bag: Path) -> Path:
    """A single-file bag's .mcap file."""
    (path,) = bag.glob("*.mcap")
    return path


def truncated_copy(bag: Path, dest: Path, size: int, *, with_metadata: bool) -> Path:
    """A copy of `bag` in `dest` cut to its first `size` bytes, as a crash would leave it
    (metadata.yaml too, or not, as a crash before closing leaves none)."""
    dest.mkdir()
    source = mcap_of(bag)
    (dest / source.name).write_bytes(source.read_bytes()[:size])
    if with_metadata:
        shutil.copy(bag / "metadata.yaml", dest / "metadata.yaml")
    return dest


def write_until_killed(days_dir: Path, sleep_s: float) -> None:
    log = DayLog.create(days_dir, clock_ns=1_790_000_000 * 10**9)
    print(f"path {log.path}", flush=True)
    tick = 0
    while True:
        log.append(make_row(tick))
        print(tick, flush=True)
        tick += 1
        time.sleep(sleep_s)


if __name__ == "__main__":
    write_until_killed(Path(sys.argv[1]), float(sys.argv[2]))
