"""`nemuri bag info`: what `ros2 bag info` says, plus a day log's own numbers, and --plot.

The numbers are checked against values computed here from the rows themselves (read back
with memory.read_day, or known from helpers_daylog.make_row), never against the info
code's own arithmetic. One day is lived by the Agent in the lock-step harness with a
small brain whose context fills up, so it really grows drowsy at the end of the day.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from helpers_daylog import WORDS
from nemuri.agent import Agent, AgentConfig
from nemuri.bags import open_bag, summarize
from nemuri.bags.info import format_info
from nemuri.bags.timeline import HEIGHT, WIDTH
from nemuri.brain.model import Brain
from nemuri.brain.runtime import TorchRuntime
from nemuri.cli import main
from nemuri.contracts import DROWSY_AT, JOINTS
from nemuri.drowsiness import DrowsinessConfig
from nemuri.harness import ObservationList, VirtualClock, lockstep
from nemuri.memory import DayLog, read_day
from nemuri.vocabulary import load_vocabulary
from test_bag_read import N, stamp, write_day, write_rosbags_bag
from test_sleep_world import SMALL, ToyWorld


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """make_row's day: N ticks, brain versions v0..v2, thumbnails once a second."""
    return write_day(tmp_path_factory.mktemp("days"))


def agent_day(
    days: Path, brain: Brain, version: str, seed: int, lessons_each: int = 2, clock_ns: int = 0
) -> Path:
    """A day log the Agent writes in the lock-step harness, living through the toy world.

    Its context counts as full at the brain's own capacity, as the core's does by default.
    """
    clock = VirtualClock()
    log = DayLog.create(days, clock_ns=clock_ns)
    drowsiness = DrowsinessConfig(capacity=brain.config.capacity)
    agent = Agent(
        TorchRuntime(brain),
        brain_version=version,
        config=AgentConfig(drowsiness=drowsiness),
        day_log=log,
        clock=clock,
    )
    observations = [obs for _, obs in ToyWorld().observations(lessons_each, seed)]
    for _ in lockstep(agent, ObservationList(observations), len(observations), clock):
        pass
    agent.close()
    return log.path


@pytest.fixture(scope="module")
def lived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """208 ticks into a 256-tick context: context fill passes 0.8, the agent is drowsy."""
    torch.manual_seed(0)
    brain = Brain(SMALL).eval()
    with torch.no_grad():  # a loud brain, so it speaks and moves and both get logged
        brain.head_motor.bias.copy_(torch.linspace(-1.0, 1.0, len(JOINTS)))
        brain.head_word.bias[load_vocabulary().id("ball")] = 8.0
    return agent_day(tmp_path_factory.mktemp("lived"), brain, "v0007", seed=4)


def test_the_general_part_is_what_ros2_bag_info_says(day: Path) -> None:
    text = format_info(summarize(open_bag(day)))
    lines = text.splitlines()
    (mcap,) = day.glob("*.mcap")
    assert lines[0] == f"Files:             {mcap.name}"
    assert lines[1].startswith("Bag size:          ") and lines[1].endswith(" KiB")
    assert lines[2] == "Storage id:        mcap"
    assert lines[4] == f"Duration:          {(N - 1) / 10:.9f}s"
    assert (
        lines[5] == "Start:             Sep 21 2026 14:13:20.000000000 UTC (1790000000.000000000)"
    )
    assert lines[6].endswith(f"({(stamp(N - 1)) // 10**9}.{stamp(N - 1) % 10**9:09d})")
    assert lines[7] == f"Messages:          {N + N // 10}"
    assert lines[8] == (
        "Topic information: Topic: /nemuri/thumbnail | Type: sensor_msgs/msg/Image | "
        f"Count: {N // 10} | Rate: 1.00 Hz | Serialization Format: cdr"
    )
    assert lines[9] == (
        "                   Topic: /nemuri/tick_record | Type: nemuri_msgs/msg/TickRecord | "
        f"Count: {N} | Rate: 10.00 Hz | Serialization Format: cdr"
    )
    assert "Recovered:" not in text


def test_a_day_logs_own_numbers_match_its_rows(day: Path) -> None:
    rows = list(read_day(day))
    info = summarize(open_bag(day))
    summary = info.day
    assert summary is not None
    assert (summary.ticks, summary.first_tick, summary.last_tick) == (N, 0, N - 1)
    assert summary.missed == sum(r.missed for r in rows) == len(range(0, N, 11))
    assert (
        [(v, n) for v, n, _, _ in summary.brain_versions]
        == [(v, n) for v, n in Counter(r.brain_version for r in rows).items()]
        == [("v0", 50), ("v1", 50), ("v2", 50)]
    )
    for i, modality in enumerate(("vision", "audio", "touch", "proprio")):
        want = Counter(r.encoder_versions[i] for r in rows if r.embeddings[i] is not None)
        assert dict(summary.encoder_versions[modality]) == dict(want)
    sleepiness = np.array([r.drowsiness[3] for r in rows], np.float64)
    s = summary.sleepiness
    assert s is not None
    assert (s.minimum, s.maximum) == (
        pytest.approx(sleepiness.min()),
        pytest.approx(sleepiness.max()),
    )
    assert s.mean == pytest.approx(sleepiness.mean(), rel=1e-5)
    assert s.drowsy_ticks == int((sleepiness >= DROWSY_AT).sum()) > 0
    assert s.first_drowsy == int(np.argmax(sleepiness >= DROWSY_AT))
    heard = Counter(r.heard_word for r in rows if r.heard_word not in ("", "silence"))
    assert summary.heard == heard and set(heard) == set(WORDS) - {"", "silence"}
    assert summary.spoken == Counter(
        r.spoken_word for r in rows if r.spoken_word not in ("", "silence")
    )
    assert summary.thumbnails == N // 10

    text = format_info(info)
    first = s.first_drowsy
    ticks = f"Ticks:             {N} (ticks 0..{N - 1}, {summary.missed} overran their period)"
    assert ticks in text
    assert "Brain versions:    v0: 50 ticks, tick 0 (+0:00.0) .. tick 49 (+0:04.9)" in text
    assert f"min {sleepiness.min():.3f}, mean {sleepiness.mean():.3f}" in text
    assert f"first tick {first} (+0:{first / 10:04.1f})" in text
    total = sum(heard.values())
    assert f"Words heard:       {total} ({len(heard)} different): " in text
    assert f"Thumbnails:        {N // 10}" in text


def test_a_day_the_agent_lived_shows_when_it_grew_drowsy(lived: Path) -> None:
    rows = list(read_day(lived))
    summary = summarize(open_bag(lived)).day
    assert summary is not None and summary.ticks == len(rows) == 208
    assert [v for v, *_ in summary.brain_versions] == ["v0007"]
    fill = np.array([r.drowsiness[0] for r in rows])  # the context fill the brain was given
    s = summary.sleepiness
    assert s is not None and s.drowsy_ticks > 0
    assert s.first_drowsy == int(np.argmax(fill >= DROWSY_AT))  # drowsy as the context filled
    assert s.maximum == pytest.approx(max(r.drowsiness[3] for r in rows))
    assert summary.heard == Counter(r.heard_word for r in rows if r.heard_word != "silence")
    assert sum(summary.heard.values()) == 8  # two lessons of each of four words
    assert summary.spoken["ball"] > 0  # the loud brain spoke
    assert summary.encoder_versions["vision"] == [("harness", 208)]
    assert summary.encoder_versions["touch"] == []  # the toy world has no touch


def test_non_day_bags_get_the_general_part_only(tmp_path: Path) -> None:
    write_rosbags_bag(tmp_path / "theirs", 0, 5)
    info = summarize(open_bag(tmp_path / "theirs"))
    assert info.day is None and info.arrays is None
    text = format_info(info)
    assert "Topic: /chatter | Type: std_msgs/msg/String | Count: 5 | Rate: 1.00 Hz" in text
    assert "nemuri day log:" not in text


# -- the command and --plot ---------------------------------------------------------------
def test_the_command_prints_the_info_and_draws_the_timeline(
    lived: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "day.png"
    assert main(["bag", "info", str(lived), "--plot", str(png)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Files:") and "nemuri day log:" in out and "drowsy (>= 0.8)" in out
    assert out.rstrip().endswith(f"Timeline:          {png}") and err == ""
    assert png.read_bytes().startswith(b"\x89PNG")
    pixels = imread(png)
    assert pixels.shape[:2] == (HEIGHT, WIDTH) == (700, 1200)
    rgb = (pixels[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    colours = {tuple(c) for c in rgb[::7].tolist()}
    assert len(colours) > 50  # lines, markers, text: not a blank canvas
    white = np.all(rgb == 255, axis=1).mean()
    assert 0.3 < white < 0.98
    blue = np.all(np.abs(rgb.astype(int) - (31, 119, 180)) < 8, axis=1)  # the sleepiness line
    assert blue.sum() > 200


def test_plot_needs_a_day_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_rosbags_bag(tmp_path / "theirs", 0, 5)
    png = tmp_path / "x.png"
    assert main(["bag", "info", str(tmp_path / "theirs"), "--plot", str(png)]) == 1
    out, err = capsys.readouterr()
    assert "Topic: /chatter" in out and not png.exists()
    assert err.strip().endswith("has none") and "--plot draws a day log" in err
