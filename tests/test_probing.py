"""Living a day and probing it in the built-in world (worlds.probing), no ROS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nemuri.agent import Agent
from nemuri.brain.model import Brain, BrainConfig
from nemuri.brain.runtime import TorchRuntime
from nemuri.harness import VirtualClock
from nemuri.memory import DayLog, read_day
from nemuri.sleep.report import read_thumbnails
from nemuri.vocabulary import load_vocabulary
from nemuri.worlds.curriculum import load_curriculum
from nemuri.worlds.probing import live_day, probe  # sets MUJOCO_GL

torch.set_num_threads(1)
SMALL = BrainConfig(d_model=32, n_layer=2, n_head=2, capacity=512)


def agent(day_log: DayLog | None = None) -> Agent:
    torch.manual_seed(0)
    return Agent(
        TorchRuntime(Brain(SMALL).eval()),
        brain_version="v-test",
        clock=VirtualClock(),
        day_log=day_log,
    )


def test_a_lived_day_keeps_every_tick_and_a_thumbnail_a_second(tmp_path: Path) -> None:
    day = load_curriculum(day=1, k=2)
    log = DayLog.create(tmp_path / "days")
    a = agent(log)
    assert live_day(a, day, a.clock, seed=1, ticks=45) == 45
    log.close()
    rows = list(read_day(log.path))
    assert [r.tick for r in rows] == list(range(45))
    stamps, pictures = read_thumbnails(next(log.path.glob("*.mcap")))
    assert len(pictures) == 5  # ticks 0, 10, 20, 30, 40 of sim time
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in pictures)
    assert np.diff(stamps).min() > 0


def test_probes_show_each_object_alone_from_another_objects_pose() -> None:
    day = load_curriculum(day=1, k=3)
    a = agent()
    run = probe(a, day, a.clock, seed=4, repeats=2)
    # each object twice, in a shuffled order, each probe its whole 3 s of logits
    assert sorted(run.targets) == [0, 0, 1, 1, 2, 2]
    ticks = day.ticks(day.probe.duration)
    assert all(lg.shape == (ticks, len(load_vocabulary())) for lg in run.word_logits)
    # A newborn barely moves, so the arm 2 s in is still where the hand set it before the
    # probe: one of the day's poses, never the probed object's own.
    poses = day.poses
    for target, position in zip(run.targets, run.positions, strict=True):
        nearest = int(np.argmin(np.linalg.norm(poses - position, axis=1)))
        assert np.linalg.norm(poses[nearest] - position) < 0.15
        assert nearest != target
    scores = run.scores(day)
    assert scores.probes == 6 and scores.gesture == 0.0
    assert scores.chance_among_k == 1 / 3
