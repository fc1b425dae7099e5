"""Live a day of lessons, and probe what the agent knows, in the built-in world without ROS.

The retention benchmark (DESIGN.md, Lessons) asks one question many times: shown an object
alone, no word and no hand, does the agent name it and make its gesture? `live_day` runs a
curriculum day through the lock-step loop (world -> encoders -> Agent -> world), keeping a
thumbnail a second in the agent's day log as the core node does, so the night after it has
pictures to dream from. `probe` shows each object alone and scores the agent's word logits
over the probe and its arm at the gesture tick (worlds.scoring).

Both drive the Agent they are given and leave it as it is: its context goes on from
whatever it held, so the same call measures a brain with an empty context (a fresh Agent)
or with the day's context (the Agent that lived the day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nemuri.agent import Action, Agent
from nemuri.harness import Observation, VirtualClock, lockstep
from nemuri.memory.daylog import thumbnail
from nemuri.senses.runtime import EncoderRuntime
from nemuri.vocabulary import load_vocabulary
from nemuri.worlds.caretaker import Caretaker
from nemuri.worlds.curriculum import PROBE, Curriculum, Segment
from nemuri.worlds.scoring import ProbeScores, score_probes, vocabulary_candidates
from nemuri.worlds.simulated_day import SimulatedDay, SimulatedDayConfig


class _Watched:
    """A SimulatedDay that remembers what the caretaker and the agent did at each tick."""

    def __init__(
        self,
        day: SimulatedDay,
        thumbnail_every: int,
        agent: Agent,
        before: Callable[[int], None] | None = None,
    ) -> None:
        self.day = day
        self.before = before
        self.agent = agent
        self.thumbnail_every = thumbnail_every
        self.observation: Observation | None = None

    def sense(self, tick: int, now: float) -> Observation:
        if self.before is not None:
            self.before(tick)
        obs = self.observation = self.day.sense(tick, now)
        if self.thumbnail_every and tick % self.thumbnail_every == 0:
            self.agent.add_thumbnail(now, thumbnail(self.day.last_frame))
        return obs

    def act(self, action: Action) -> None:
        self.day.act(action)


def live_day(
    agent: Agent,
    curriculum: Curriculum,
    clock: VirtualClock,
    *,
    seed: int = 0,
    senses: dict[str, EncoderRuntime] | None = None,
    ticks: int | None = None,
) -> int:
    """Live `ticks` ticks (the curriculum's day by default) of lessons; returns ticks lived.

    A thumbnail a second of sim time goes into the agent's day log, if it keeps one.
    """
    day = SimulatedDay(
        curriculum, SimulatedDayConfig(tick_hz=curriculum.tick_hz, seed=seed), senses
    )
    try:
        every = max(1, round(curriculum.tick_hz))
        n = curriculum.day_ticks if ticks is None else ticks
        return sum(1 for _ in lockstep(agent, _Watched(day, every, agent), n, clock))
    finally:
        day.world.close()


@dataclass
class ProbeRun:
    """What one probe session saw: per probe, the object, the word logits, the arm."""

    targets: list[int] = field(default_factory=list)  # index among the curriculum's K
    word_logits: list[np.ndarray] = field(default_factory=list)  # (T, V) per probe
    positions: list[np.ndarray] = field(default_factory=list)  # (J,) at the gesture tick

    def scores(self, curriculum: Curriculum) -> ProbeScores:
        vocabulary = load_vocabulary()
        return score_probes(
            self.word_logits,
            np.array(self.positions),
            self.targets,
            [vocabulary.id(w) for w in curriculum.words],
            curriculum.poses,
            vocabulary_candidates(vocabulary),
        )


def probe(
    agent: Agent,
    curriculum: Curriculum,
    clock: VirtualClock,
    *,
    seed: int = 0,
    repeats: int = 1,
    senses: dict[str, EncoderRuntime] | None = None,
) -> ProbeRun:
    """Show each of the curriculum's objects alone `repeats` times; record the answers.

    Before each probe, in the gap, the caretaker's hand puts the arm (and the head that
    carries the camera) at another of the day's gesture poses and lets go: every probe then
    starts where a lesson does, at the pose the lesson before left, whatever the robot did
    in the probe before, so no probe's answer depends on the last one's.
    """
    config = SimulatedDayConfig(tick_hz=curriculum.tick_hz, seed=seed)
    day = SimulatedDay(curriculum, config, senses)
    gap = curriculum.ticks(curriculum.probe.gap)
    caretaker = Caretaker.for_probes(
        curriculum, day.world, voice=None, seed=seed, repeats=repeats, start=gap
    )
    day.caretaker = caretaker
    settle = _Settling(caretaker, curriculum, gap, np.random.default_rng([seed, 2]))
    run = ProbeRun()
    try:
        for segment, logits, position in _probes(agent, day, caretaker, clock, settle):
            run.targets.append(curriculum.index(segment.object.object))
            run.word_logits.append(logits)
            run.positions.append(position)
    finally:
        day.world.close()
    return run


class _Settling:
    """The hand that sets the arm at another object's pose in the gap before each probe."""

    def __init__(
        self, caretaker: Caretaker, curriculum: Curriculum, gap: int, rng: np.random.Generator
    ) -> None:
        self.poses = curriculum.poses
        self.starts: dict[int, np.ndarray] = {}
        for segment in caretaker.schedule:
            others = [
                i for i in range(curriculum.k) if i != curriculum.index(segment.object.object)
            ]
            pose = self.poses[rng.choice(others) if others else 0]
            # Held for the gap but its last two ticks, so the arm is still when the object shows.
            for tick in range(segment.start - gap, segment.start - 2):
                self.starts[tick] = pose
        self.holding = False

    def __call__(self, world: object, tick: int) -> None:
        pose = self.starts.get(tick)
        if pose is not None:
            world.set_joint_targets(pose)  # type: ignore[attr-defined]
            self.holding = True
        elif self.holding:
            world.release()  # type: ignore[attr-defined]
            self.holding = False


def _probes(
    agent: Agent,
    day: SimulatedDay,
    caretaker: Caretaker,
    clock: VirtualClock,
    settle: _Settling,
) -> Iterator[tuple[Segment, np.ndarray, np.ndarray]]:
    """(segment, (T, V) logits, (J,) arm at the gesture tick) for each probe, in order."""
    source = _Watched(day, 0, agent, before=lambda tick: settle(day.world, tick))
    logits: list[np.ndarray] = []
    position: np.ndarray | None = None
    for tick, action in enumerate(lockstep(agent, source, caretaker.end_tick, clock)):
        segment = caretaker.segment_at(tick)
        if segment is None or segment.kind != PROBE or not segment.start <= tick < segment.end:
            continue
        logits.append(action.output.word_logits.astype(np.float32))
        if tick == segment.gesture_tick:
            assert source.observation is not None
            position = np.asarray(source.observation.joint_position, dtype=np.float64)
        if tick == segment.end - 1:
            assert position is not None
            yield segment, np.stack(logits), position
            logits, position = [], None
