"""SIGKILL mid-night, then sleep again: the last good version stands and the night is redone.

The sleeper runs in a child process (this file run as a script) that prints each phase and
training step as it reaches it; the test kills it at a chosen phase, checks that the last
version loads, that the day log and the replay store are as they were, and sleeps again.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nemuri.brain import checkpoint
from nemuri.sleep import NightProgress, ReplayStore, SleepConfig, consolidate
from test_sleep_world import ToyWorld, newborn, write_toy_day


def config(steps: int) -> SleepConfig:
    return SleepConfig(segment_ticks=64, batch_size=4, threads=1, steps=steps, dream_report=False)


def child(brains: str, day: str, replay: str, steps: str) -> None:
    """Sleep, printing `<phase> <step>` at every report, until done or killed."""

    def progress(p: NightProgress) -> None:
        print(p.phase, p.step, flush=True)

    consolidate(
        Path(brains), [Path(day)], ReplayStore(Path(replay)), config(int(steps)), progress=progress
    )


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("phase", "at_step", "steps"), [("training", 3, 100_000), ("saving", 0, 5)]
)
def test_sigkill_mid_night_keeps_the_last_version_and_the_next_sleep_redoes_it(
    tmp_path: Path, phase: str, at_step: int, steps: int
) -> None:
    brains, replay = tmp_path / "brains", tmp_path / "replay"
    newborn(brains)
    day = write_toy_day(tmp_path / "days", ToyWorld(), lessons_each=2, seed=0)
    day_before = digest(day)
    proc = subprocess.Popen(
        [sys.executable, __file__, str(brains), str(day), str(replay), str(steps)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])},
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen, step = line.split()
            if seen == phase and int(step) >= at_step:
                break
        else:
            pytest.fail(f"the night ended (rc {proc.wait()}) before reaching {phase}")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The last good version loads; the day log is untouched; the store has no half day.
    found = checkpoint.versions(brains)
    assert found in ([0], [0, 1])  # a kill while saving may land before or after the rename
    checkpoint.load(checkpoint.latest(brains).path)  # type: ignore[union-attr]
    assert digest(day) == day_before
    store = ReplayStore(replay)  # opening deletes what a killed write left half done
    assert store.days in ([], [day.name])
    segments = replay / "segments"
    assert len(list(segments.iterdir()) if segments.is_dir() else []) == len(store)

    # Sleeping again redoes the night, or completes it if the kill came after the version.
    result = consolidate(brains, [day], store, config(30))
    assert result.promoted, result.reason
    assert checkpoint.versions(brains) == [0, 1] and result.version == 1
    assert store.days == [day.name]
    assert not list((brains / "nights").glob(".tmp-*"))
    assert digest(day) == day_before


if __name__ == "__main__":
    child(*sys.argv[1:])
