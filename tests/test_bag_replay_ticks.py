"""A day's TickRecords replayed through the brain that lived them give its motor commands
and its words exactly (bags.reproduce), over a real day log: the Agent in the built-in
world, in lock-step, woken from a data directory as the core wakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemuri.agent import AgentConfig
from nemuri.bags import BagError
from nemuri.bags.reproduce import reproduce_day, reproduce_rows
from nemuri.brain import checkpoint
from nemuri.brain.model import BrainConfig
from nemuri.harness import VirtualClock, lockstep
from nemuri.memory import read_day
from nemuri.wakeup import load_brain, wake_agent
from nemuri.worlds.curriculum import load_curriculum
from nemuri.worlds.simulated_day import SimulatedDay, SimulatedDayConfig  # sets MUJOCO_GL

SMALL = BrainConfig(d_model=64, n_layer=2, n_head=2, capacity=512)
# Threshold 0: the agent voices its best word whenever it may, so the day holds speech,
# refractory pauses and words withheld while the caretaker talks.
CONFIG = AgentConfig(speech_threshold=0.0)
TICKS = 200


@pytest.fixture(scope="module")
def lived(tmp_path_factory) -> tuple[Path, Path, list]:
    """A data directory whose v0000 lived TICKS ticks of day 1; (data_dir, day, actions)."""
    data = tmp_path_factory.mktemp("data")
    checkpoint.newborn(data / "brains", seed=3, config=SMALL)
    clock = VirtualClock()
    agent = wake_agent(data, CONFIG, clock, "onnx")
    world = SimulatedDay(load_curriculum(day=1), SimulatedDayConfig(seed=0))
    actions = list(lockstep(agent, world, TICKS, clock))
    day = agent.day_log.path
    agent.close()
    return data, day, actions


def test_a_day_reproduces_exactly_through_its_brain(lived) -> None:
    data, day, actions = lived
    result = reproduce_day(day, data / "brains", "onnx", CONFIG)
    assert result.ticks == TICKS and result.exact, result.mismatches
    spoken = sum(a.spoken_word is not None for a in actions)
    assert result.spoken == spoken > 5  # speech really was exercised
    heard = [r.heard_word for r in read_day(day) if r.heard_word != "silence"]
    assert heard, "the caretaker spoke: ticks where the agent had to stay quiet"


def test_another_brain_or_other_settings_do_not_reproduce(lived, tmp_path) -> None:
    data, day, _ = lived
    checkpoint.newborn(tmp_path / "brains", seed=4, config=SMALL)  # also named v0000
    other = reproduce_day(day, tmp_path / "brains", "onnx", CONFIG)
    assert other.motor_equal == 0 and other.mismatches[0].output == "motor"
    # the same brain with another speech threshold takes other speech decisions
    brain = load_brain(data / "brains", "onnx", "v0000")
    stricter = reproduce_rows(read_day(day), brain.runtime, AgentConfig(speech_threshold=0.99))
    assert stricter.motor_equal == TICKS and stricter.speech_equal < TICKS
    assert {m.output for m in stricter.mismatches} == {"speech"}


def test_a_missing_brain_is_a_clear_error(lived, tmp_path) -> None:
    _, day, _ = lived
    with pytest.raises(BagError, match="v0000"):
        reproduce_day(day, tmp_path / "no-brains", "onnx", CONFIG)
