"""The built-in world in the lock-step harness: world -> encoders -> Agent -> world."""

from __future__ import annotations

import numpy as np
import torch

from nemuri.agent import Agent, AgentConfig
from nemuri.brain.model import Brain, BrainConfig
from nemuri.brain.runtime import TorchRuntime
from nemuri.drowsiness import DrowsinessConfig
from nemuri.harness import VirtualClock, lockstep
from nemuri.worlds.curriculum import load_curriculum
from nemuri.worlds.simulated_day import SimulatedDay, SimulatedDayConfig  # sets MUJOCO_GL

torch.set_num_threads(1)
SMALL = BrainConfig(d_model=32, n_layer=2, n_head=2, capacity=128)


def run_day(n_ticks: int, seed: int = 0):
    torch.manual_seed(0)
    clock = VirtualClock()
    agent = Agent(
        TorchRuntime(Brain(SMALL).eval()),
        brain_version="v-test",
        config=AgentConfig(drowsiness=DrowsinessConfig(capacity=SMALL.capacity)),
        clock=clock,
    )
    day = SimulatedDay(load_curriculum(day=1), SimulatedDayConfig(seed=seed))
    actions = list(lockstep(agent, day, n_ticks, clock))
    return day, actions


def test_the_world_is_sensed_every_tick_and_the_agent_moves_it() -> None:
    day, actions = run_day(60)
    assert len(actions) == 60
    assert all(a.present.tolist() == [1, 1, 1, 1] for a in actions)
    assert day.world.sim_time == 6.0
    # the agent's commands reached the joints: the head moved from the rest pose
    _, position, _ = day.world.joint_state()
    assert np.all(np.isfinite(position))
    assert any(np.abs(a.motor_velocity).sum() > 0 for a in actions)


def test_the_caretaker_is_heard_and_the_encoders_see_the_object() -> None:
    torch.manual_seed(0)
    clock = VirtualClock()
    agent = Agent(TorchRuntime(Brain(SMALL).eval()), brain_version="v", clock=clock)
    day = SimulatedDay(load_curriculum(day=1), SimulatedDayConfig(seed=0))
    segment = next(s for s in day.caretaker.schedule if s.word_tick is not None)
    words, vision = {}, {}
    for action in lockstep(agent, day, segment.word_tick + 2, clock):
        words[action.tick] = day.events.word
        vision[action.tick] = agent._latest[0].data
    assert words[segment.word_tick] == segment.object.word
    assert [w for t, w in words.items() if t != segment.word_tick] == [None] * (len(words) - 1)
    seen, empty = vision[segment.word_tick], vision[segment.start - 1]
    cosine = float(seen @ empty / np.linalg.norm(seen) / np.linalg.norm(empty))
    assert cosine < 0.99, "the vision encoder did not see the object appear"
    assert day.versions["vision"].startswith("vision-")


def test_same_seed_same_day() -> None:
    _, a = run_day(25, seed=3)
    _, b = run_day(25, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.motor_velocity, y.motor_velocity)
