"""The lock-step harness: an Agent against any source of observations, no ROS, no wall clock.

Time is a VirtualClock that moves only when the harness (or a deliberately slow step)
moves it, so the same inputs give the same outputs, tick for tick. Tests and benchmarks run
here; the ROS core node wraps the same Agent with a real clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nemuri.agent import Action, Agent
from nemuri.brain.runtime import BrainRuntime, StepOutput, TickInput


class VirtualClock:
    """Seconds that pass only when told to: the harness's stand-in for the wall clock."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Observation:
    """What the senses delivered for one tick (already encoded)."""

    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # modality -> fresh embedding
    heard_word: str | None = None
    joint_position: Sequence[float] | None = None
    joint_velocity: Sequence[float] | None = None
    encoder_versions: Mapping[str, str] = field(default_factory=dict)  # modality -> version

    def encoder_version(self, modality: str) -> str:
        return self.encoder_versions.get(modality, "harness")


class ObservationSource(Protocol):
    """Anything that can be sensed tick by tick and, optionally, acted upon (a world)."""

    def sense(self, tick: int, now: float) -> Observation: ...

    def act(self, action: Action) -> None: ...


class ObservationList:
    """A fixed list of observations, e.g. read back from a day log; actions go nowhere."""

    def __init__(self, observations: Sequence[Observation]) -> None:
        self.observations = list(observations)

    def sense(self, tick: int, now: float) -> Observation:
        return self.observations[tick % len(self.observations)]

    def act(self, action: Action) -> None:
        return None


class TimedRuntime:
    """Wraps a runtime so each step costs `step_cost_s` of virtual time.

    This is how a test makes the brain slow, deterministically: the Agent measures the
    latency on the same virtual clock and grows sleepy exactly as it would on a robot.
    """

    def __init__(self, runtime: BrainRuntime, clock: VirtualClock, step_cost_s: float) -> None:
        self.inner = runtime
        self.clock = clock
        self.step_cost_s = step_cost_s
        self.capacity = runtime.capacity

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    def reset(self) -> None:
        self.inner.reset()

    def step(self, x: TickInput) -> StepOutput:
        out = self.inner.step(x)
        self.clock.advance(self.step_cost_s)
        return out


def lockstep(
    agent: Agent, source: ObservationSource, n_ticks: int, clock: VirtualClock
) -> Iterator[Action]:
    """Run `n_ticks` ticks of the agent's tick period, yielding each stepped tick's Action.

    A step that overruns its period makes the following ticks pass unstepped (counted as
    missed, never queued), exactly as the core node's timer does.
    """
    period = agent.period_s
    start = clock.now
    tick = 0
    while tick < n_ticks:
        now = start + tick * period
        clock.now = max(clock.now, now)
        obs = source.sense(tick, now)
        for modality, data in obs.embeddings.items():
            agent.observe(modality, data, now, obs.encoder_version(modality))
        if obs.heard_word:
            agent.hear(obs.heard_word)
        if obs.joint_position is not None and obs.joint_velocity is not None:
            agent.sense_joints(obs.joint_position, obs.joint_velocity)
        action = agent.tick(now)
        source.act(action)
        yield action
        skipped = max(0, math.ceil(action.step_latency_s / period - 1e-9) - 1)
        skipped = min(skipped, n_ticks - tick - 1)
        if skipped:
            agent.record_missed(skipped)
        tick += 1 + skipped
