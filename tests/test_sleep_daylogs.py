"""What the sleep does with the day logs it is given: refuses bad ones whole, uses crashed ones.

A refused night changes nothing anywhere: not the brains, not the replay store, and not
the day logs, which the sleep only ever reads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nemuri.brain import checkpoint
from nemuri.memory import DayLog, read_day
from nemuri.sleep import ReplayStore, SleepConfig, UnusableDayLog, consolidate
from test_sleep_world import ToyWorld, newborn, toy_row, write_toy_day

CONFIG = SleepConfig(segment_ticks=64, batch_size=4, threads=1, steps=20, dream_report=False)


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under root: size, mtime and SHA-256, to prove nothing was touched."""
    return {
        str(p.relative_to(root)): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def damage(day: Path) -> None:
    """Flip bytes in the middle of a closed day log's MCAP file (a bad disk, not a crash)."""
    mcap = next(day.glob("*.mcap"))
    data = bytearray(mcap.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    mcap.write_bytes(bytes(data))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, ReplayStore]:
    newborn(tmp_path / "brains")
    store = ReplayStore(tmp_path / "replay")
    good = write_toy_day(tmp_path / "days", ToyWorld(), lessons_each=2, seed=0)
    store.add_day("day-0000-earlier", [])  # a store with something in it to keep intact
    return tmp_path, good, store


@pytest.mark.parametrize("kind", ["garbage", "damaged", "missing", "too short"])
def test_an_unusable_day_log_is_refused_with_a_clear_error_and_nothing_is_touched(
    setup: tuple[Path, Path, ReplayStore], kind: str
) -> None:
    root, good, store = setup
    bad = root / "days" / f"bad-{kind.replace(' ', '-')}"
    if kind == "garbage":
        bad.mkdir()
        (bad / "bad_0.mcap").write_bytes(b"this is not a bag at all" * 100)
    elif kind == "damaged":
        bad = write_toy_day(root / "days", ToyWorld(), lessons_each=2, seed=5)
        damage(bad)
    elif kind == "too short":
        with DayLog.create(root / "days", clock_ns=10**18) as log:
            log.append(toy_row(0, ToyWorld().observations(1, 0)[0][1]))
        bad = log.path
    before = tree(root)
    with pytest.raises(UnusableDayLog) as refused:
        consolidate(root / "brains", [good, bad], store, CONFIG)
    assert str(bad) in str(refused.value)
    assert tree(root) == before  # brains, replay store and day logs alike
    assert checkpoint.versions(root / "brains") == [0]


def test_a_day_log_left_by_a_crash_is_slept_on_as_far_as_it_is_whole(
    setup: tuple[Path, Path, ReplayStore],
) -> None:
    root, _, store = setup
    crashed = write_toy_day(root / "days", ToyWorld(), lessons_each=3, seed=7, close=False)
    assert read_day(crashed).recovered
    before = tree(crashed)
    result = consolidate(root / "brains", [crashed], store, CONFIG)
    assert result.days[0]["recovered"] is True and result.days[0]["ticks"] == 3 * 4 * 26
    assert result.promoted, result.reason
    assert tree(crashed) == before  # read, never repaired or moved
    assert not (crashed / "metadata.yaml").exists()
