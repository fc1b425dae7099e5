"""`nemuri sleep`, `nemuri dream`, `nemuri history`: a night and a look back, without ROS.

Each test sleeps a small brain (test_sleep_world.SMALL) on a short toy day written with
DayLog, so a night takes a few seconds; the night itself is tested in test_sleep_night.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from nemuri.brain import checkpoint
from nemuri.cli import main, unslept_days
from test_sleep_world import ToyWorld, newborn, write_toy_day

STEPS = "100"  # enough for the toy brain to dream of what it saw (about 15 s here)


@dataclass(frozen=True)
class Slept:
    data: Path
    day: Path
    out: str  # what `nemuri sleep` printed
    err: str


@pytest.fixture(scope="module")
def slept(tmp_path_factory: pytest.TempPathFactory) -> Slept:
    """A data dir after one `nemuri sleep` (made once: a night costs seconds)."""
    data = tmp_path_factory.mktemp("slept") / "nemuri"
    newborn(data / "brains")
    day = write_toy_day(data / "days", ToyWorld(), lessons_each=2, seed=0, thumbnails=True)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["sleep", "--data-dir", str(data), "--steps", STEPS])
    assert code == 0, err.getvalue()
    return Slept(data, day, out.getvalue(), err.getvalue())


@pytest.fixture
def data_dir(slept: Slept, tmp_path: Path) -> Path:
    """A copy of the slept data dir to change freely."""
    shutil.copytree(slept.data, tmp_path / "nemuri")
    return tmp_path / "nemuri"


def test_sleep_promotes_a_new_version_and_says_why(slept: Slept) -> None:
    lines = slept.out.splitlines()
    assert lines[0] == "PROMOTED: v0000 -> v0001", slept.out
    assert "today's held-out loss" in lines[1] and slept.day.name in lines[2]
    assert f"{STEPS}/{STEPS} steps" in slept.out and "today:  held-out loss" in slept.out
    assert "dream:  I dreamt of " in slept.out and "loss:   " in slept.out
    strip = next(s for s in lines if s.startswith("  strip:  ")).removeprefix("  strip:  ")
    assert Path(strip).read_bytes().startswith(b"\x89PNG")
    assert "[" in slept.err and "done" in slept.err  # the progress bar, drawn on stderr
    assert checkpoint.versions(slept.data / "brains") == [0, 1]


def test_after_a_night_every_day_is_slept_and_nothing_is_redone(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert unslept_days(data_dir) == ([], [])
    assert main(["sleep", "--data-dir", str(data_dir), "--quiet"]) == 0
    assert "nothing to sleep on" in capsys.readouterr().err
    assert checkpoint.versions(data_dir / "brains") == [0, 1]


def test_dream_prints_the_last_dream_and_its_strip(
    slept: Slept, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dream", "--data-dir", str(slept.data)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("v0001: I dreamt of ")
    assert out[1].startswith("  objects: ") and out[2].startswith("  words:   ")
    strip = out[3].removeprefix("  strip:   ")
    assert Path(strip).is_file() and Path(strip).read_bytes().startswith(b"\x89PNG")


def test_history_lists_versions_with_age_days_lr_and_losses(
    slept: Slept, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--data-dir", str(slept.data)]) == 0
    header, newborn_row, first = capsys.readouterr().out.splitlines()
    assert header.split()[:6] == ["version", "parent", "nights", "ticks", "lr", "today"]
    assert newborn_row.startswith("v0000") and "newborn" not in first
    fields = first.split()
    assert fields[:3] == ["v0001", "v0000", "1"] and int(fields[3]) > 100
    assert "e-03" in fields[4] and "->" in fields[5] and fields[-1] == slept.day.name


def test_nothing_yet_is_said_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = str(tmp_path / "none")
    assert main(["dream", "--data-dir", empty]) == 1
    assert "no dream yet" in capsys.readouterr().err
    assert main(["history", "--data-dir", empty]) == 1
    assert "no brain yet" in capsys.readouterr().err
    newborn(tmp_path / "none" / "brains")
    assert main(["dream", "--data-dir", empty]) == 1  # the newborn never dreamt


def test_from_bag_sleeps_on_the_bags_given(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later day, from outside the data dir, as after `nemuri record`; the next version."""
    bag = write_toy_day(tmp_path / "elsewhere", ToyWorld(), lessons_each=2, seed=5)
    args = ["sleep", "--data-dir", str(data_dir), "--from-bag", str(bag), "--quiet"]
    assert main([*args, "--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert bag.name in out and ("v0001 -> v0002" in out or "NOT PROMOTED" in out)


def test_a_bad_bag_is_refused_with_a_sentence_and_nothing_changes(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not a day log")
    before = sorted(p.name for p in (data_dir / "brains").iterdir())
    assert main(["sleep", "--data-dir", str(data_dir), "--from-bag", str(junk), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "nemuri sleep: cannot sleep on" in err and "Traceback" not in err
    assert sorted(p.name for p in (data_dir / "brains").iterdir()) == before


def test_a_day_still_being_written_is_skipped(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    growing = write_toy_day(data_dir / "days", ToyWorld(), lessons_each=1, seed=6, close=False)
    assert unslept_days(data_dir) == ([], [growing])
    assert main(["sleep", "--data-dir", str(data_dir), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"skipping {growing}" in err and "nothing to sleep on" in err


@pytest.mark.slow
def test_ctrl_c_wakes_the_sleeper_with_the_last_good_version(data_dir: Path) -> None:
    """As a cancelled goal: the night ends at its next step, having written nothing."""
    write_toy_day(data_dir / "days", ToyWorld(), lessons_each=2, seed=7)
    before = sorted(p.name for p in (data_dir / "brains").iterdir())
    command = [sys.executable, "-m", "nemuri.cli", "sleep", "--data-dir", str(data_dir)]
    child = subprocess.Popen(
        [*command, "--steps", "99999"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        seen = b""
        deadline = time.monotonic() + 120.0
        while b"training step" not in seen and time.monotonic() < deadline:
            chunk = os.read(child.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        assert b"training step" in seen, seen.decode(errors="replace")
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=60.0)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, out
    text = out.decode()
    assert text.startswith("WOKEN EARLY: kept v0001") and "woken early in training" in text
    assert sorted(p.name for p in (data_dir / "brains").iterdir()) == before
