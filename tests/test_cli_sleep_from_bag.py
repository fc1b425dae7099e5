"""`nemuri sleep --from-bag BAG...`: a night over day logs recorded elsewhere.

The days are lived by the Agent in the lock-step harness with the data dir's own newborn
brain, written to a folder outside the data dir (as a day copied off a robot would be),
and slept on through the same library the sleep node serves. A bag that cannot be slept
on is refused before anything is written: brains, replay store and bags stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from nemuri.brain import checkpoint
from nemuri.cli import main
from nemuri.memory import read_day
from test_bag_info import agent_day
from test_bag_read import write_rosbags_bag
from test_sleep_daylogs import damage
from test_sleep_world import newborn

LESSONS = 3  # per word: 4 words x 3 lessons x 26 ticks = 312 ticks a day
TICKS = 4 * LESSONS * 26


@dataclass(frozen=True)
class Recorded:
    data: Path  # a data dir holding only its newborn brain
    days: list[Path]  # two day logs outside it


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("from_bag")
    data = root / "nemuri"
    brain, manifest = checkpoint.load(newborn(data / "brains").path)
    version = checkpoint.version_name(int(manifest["version"]))
    days = [
        agent_day(root / "robot", brain, version, seed=seed, lessons_each=LESSONS, clock_ns=ns)
        for seed, ns in ((1, 1_790_000_000 * 10**9), (2, 1_790_086_400 * 10**9))
    ]
    return Recorded(data, days)


@pytest.fixture
def copy(recorded: Recorded, tmp_path: Path) -> Recorded:
    """The data dir and the days copied, to sleep on and change freely."""
    shutil.copytree(recorded.data, tmp_path / "nemuri")
    days = [Path(shutil.copytree(d, tmp_path / "robot" / d.name)) for d in recorded.days]
    return Recorded(tmp_path / "nemuri", days)


def tree(root: Path) -> dict[str, tuple[int, str] | None]:
    """Every file (size, SHA-256) and folder (None) under root, to prove nothing changed."""
    return {
        str(p.relative_to(root)): (
            (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) if p.is_file() else None
        )
        for p in sorted(root.rglob("*"))
    }


def test_a_night_over_two_recorded_day_logs(
    copy: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = copy.days
    assert [len(read_day(d)) for d in copy.days] == [TICKS, TICKS]
    bags_before = tree(copy.days[0].parent)
    (second_file,) = second.glob("*.mcap")  # a bag is named by its folder or its .mcap file
    args = ["sleep", "--data-dir", str(copy.data), "--from-bag", str(first), str(second_file)]
    assert main([*args, "--steps", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    verdict, *_ = out.splitlines()
    assert verdict in ("PROMOTED: v0000 -> v0001", "NOT PROMOTED: kept v0000"), out
    days_line = next(line for line in out.splitlines() if line.startswith("  days:   "))
    assert days_line == f"  days:   {first.name} ({TICKS} ticks), {second.name} ({TICKS} ticks)"
    (night,) = (copy.data / "brains" / "nights").glob("*/night.json")
    told = json.loads(night.read_text())
    assert [d["name"] for d in told["days"]] == [first.name, second.name], told["days"]
    assert tree(copy.days[0].parent) == bags_before  # the bags are only read


@pytest.mark.parametrize("kind", ["damaged", "garbage", "not a day log"])
def test_a_corrupt_bag_is_refused_with_a_sentence_and_nothing_touched(
    copy: Recorded, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = copy.days
    if kind == "damaged":  # bytes flipped inside a finished file: a bad disk, not a crash
        damage(bad)
    elif kind == "garbage":
        (mcap,) = bad.glob("*.mcap")
        mcap.write_bytes(os.urandom(mcap.stat().st_size))
    else:
        shutil.rmtree(bad)
        write_rosbags_bag(bad, 0, 20)
    before = {"data": tree(copy.data), "bags": tree(bad.parent)}
    args = ["sleep", "--data-dir", str(copy.data), "--from-bag", str(good), str(bad), "--quiet"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()[-1:]
    assert line.startswith(f"nemuri sleep: cannot sleep on {bad}: "), captured.err
    assert "Traceback" not in captured.err
    assert {"data": tree(copy.data), "bags": tree(bad.parent)} == before
    assert checkpoint.versions(copy.data / "brains") == [0]
