"""The caretaker's script, against a recording fake world and once against MuJoCo."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest

from nemuri.contracts import JOINTS
from nemuri.senses import voice as voice_module
from nemuri.senses.voice import SAMPLE_RATE, Voice
from nemuri.worlds.caretaker import WHAT_DID_YOU_DREAM, WHAT_IS_THIS, Caretaker
from nemuri.worlds.curriculum import (
    GUIDE,
    HOLD,
    IDLE,
    PROBE,
    CurriculumError,
    load_curriculum,
)
from nemuri.worlds.objects import object_catalogue


@dataclass(frozen=True)
class Thing:
    name: str


class FakeWorld:
    """Records every call; the arm follows the hand at once, as an ideal servo would."""

    def __init__(self, names: Sequence[str], position: Sequence[float] | None = None) -> None:
        self.names = list(names)
        self.calls: list[tuple[int, str, tuple]] = []
        self.now = 0
        self.position = np.array(position if position is not None else [0, 0.75, 0, 0.3, 0.0])

    def _log(self, name: str, *args: object) -> None:
        self.calls.append((self.now, name, args))

    def show(self, object_name: str, position: Sequence[float] | None = None) -> None:
        self._log("show", object_name)

    def hide(self, object_name: str) -> None:
        self._log("hide", object_name)

    def set_joint_targets(self, positions: np.ndarray) -> None:
        self._log("set_joint_targets", np.array(positions))
        self.position = np.array(positions, dtype=float)

    def release(self) -> None:
        self._log("release")

    def press(self, pad: str, newtons: float) -> None:
        self._log("press", pad, newtons)

    def objects(self) -> list[Thing]:
        return [Thing(n) for n in self.names]

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        # listed in another order than JOINTS: the caretaker must reorder by name
        order = list(reversed(JOINTS))
        return tuple(order), self.position[[JOINTS.index(j) for j in order]], np.zeros(5)

    def of(self, name: str) -> list[tuple[int, tuple]]:
        return [(t, args) for t, n, args in self.calls if n == name]


def run(caretaker: Caretaker, world: FakeWorld, ticks: int) -> list:
    events = []
    for t in range(ticks):
        world.now = t
        events.append(caretaker.tick(t))
    return events


@pytest.fixture
def espeak() -> None:
    """Skip without espeak-ng, unless the run demands that everything be checked."""
    if voice_module.espeak_available():
        return
    if os.environ.get("NEMURI_REQUIRE_ALL") == "1":
        pytest.fail("espeak-ng is not installed and NEMURI_REQUIRE_ALL=1")
    pytest.skip("espeak-ng is not installed")


DAY = load_curriculum()
WORLD_OBJECTS = [s.name for s in object_catalogue(8)]


def test_a_whole_day_drives_the_world_as_scheduled():
    world = FakeWorld(WORLD_OBJECTS)
    caretaker = Caretaker(DAY, world)
    events = run(caretaker, world, DAY.day_ticks)
    lessons = caretaker.schedule
    assert caretaker.end_tick <= DAY.day_ticks

    # every object appears when its lesson starts and leaves when the hand lets go
    assert [(t, a[0]) for t, a in world.of("show")] == [(s.start, s.object.object) for s in lessons]
    assert [(t, a[0]) for t, a in world.of("hide")] == [(s.end, s.object.object) for s in lessons]
    assert [t for t, _ in world.of("release")] == [s.end for s in lessons]

    # the word, exactly at its onset, once per named lesson
    said = [(e.tick, e.word) for e in events if e.word is not None]
    named = [s for s in lessons if s.word_tick is not None]
    assert said == [(s.word_tick, s.object.word) for s in named]
    assert 0 < len(lessons) - len(named) < len(lessons) / 2  # some lessons go unnamed
    assert Counter(w for _, w in said) == Counter(s.object.word for s in named)
    assert all(e.audio is None for e in events)  # no voice given: words without sound

    # the hand holds the arm from 1.5 s until the object leaves, and only then
    held = {t for t, _ in world.of("set_joint_targets")}
    assert held == {t for s in lessons for t in range(s.guide_tick, s.end)}
    for e in events:
        assert (e.hand is not None) == (e.phase in (GUIDE, HOLD))
        if e.segment is not None and e.phase != IDLE:
            assert e.object == e.segment.object.object
        else:
            assert e.object is None

    # pats: a press and a lift per patted lesson, on the configured pad
    pats = [s for s in lessons if s.touch_ticks is not None]
    presses = world.of("press")
    assert presses == [
        p
        for s in pats
        for p in ((s.touch_ticks[0], ("head", 2.0)), (s.touch_ticks[1], ("head", 0.0)))
    ]


def test_the_hand_moves_smoothly_to_the_pose_and_holds_it():
    world = FakeWorld(WORLD_OBJECTS)
    caretaker = Caretaker(DAY, world)
    s = caretaker.schedule[0]
    run(caretaker, world, s.next_start)
    pose = np.array(s.object.pose)
    targets = {t: a[0] for t, a in world.of("set_joint_targets")}
    start = np.array([0, 0.75, 0, 0.3, 0.0])
    progress = [
        np.dot(targets[t] - start, pose - start) / np.dot(pose - start, pose - start)
        for t in range(s.guide_tick, s.end)
    ]
    assert 0 < progress[0] < 0.1  # the hand starts gently where the arm was
    assert all(b >= a for a, b in itertools.pairwise(progress))
    for t in range(s.hold_tick - 1, s.end):  # there at the end of the approach, held
        np.testing.assert_allclose(targets[t], pose, atol=1e-9)
    steps = np.abs(np.diff([targets[t] for t in range(s.guide_tick, s.end)], axis=0))
    assert steps.max() <= DAY.hand.max_speed / DAY.tick_hz + 1e-9


def test_the_hand_never_moves_the_arm_faster_than_a_hand_can():
    slow = replace(DAY, hand=replace(DAY.hand, max_speed=1.0))
    world = FakeWorld(WORLD_OBJECTS, position=[1.5, -0.5, 2.5, -0.2, 1.0])  # far from any pose
    caretaker = Caretaker(slow, world)
    s = caretaker.schedule[0]
    run(caretaker, world, s.end)
    targets = np.array([a[0] for _, a in world.of("set_joint_targets")])
    assert np.abs(np.diff(targets, axis=0)).max() <= 0.1 + 1e-9
    assert np.abs(targets[0] - [1.5, -0.5, 2.5, -0.2, 1.0]).max() <= 0.1 + 1e-9


def test_probes_show_the_object_alone():
    world = FakeWorld(WORLD_OBJECTS)
    caretaker = Caretaker.for_probes(DAY, world, repeats=1)
    events = run(caretaker, world, caretaker.end_tick + 5)
    assert [a[0] for _, a in world.of("show")] == [s.object.object for s in caretaker.schedule]
    assert sorted(a[0] for _, a in world.of("show")) == sorted(WORLD_OBJECTS)
    assert not world.of("set_joint_targets") and not world.of("press")
    assert all(e.word is None and e.hand is None for e in events)
    for s in caretaker.schedule:
        assert [e.phase for e in events[s.start : s.end]] == [PROBE] * 30
        assert events[s.end].object is None


def test_the_same_seed_drives_the_same_day():
    def calls(seed: int) -> list:
        world = FakeWorld(WORLD_OBJECTS)
        run(Caretaker(DAY, world, seed=seed), world, 400)
        return [(t, n, str(a)) for t, n, a in world.calls]

    assert calls(3) == calls(3)
    assert calls(3) != calls(4)


def test_a_world_without_the_days_objects_is_refused():
    with pytest.raises(CurriculumError, match="no object named"):
        Caretaker(DAY, FakeWorld(WORLD_OBJECTS[:-1]))


def test_questions_are_said_word_by_word_between_lesson_words():
    world = FakeWorld(WORLD_OBJECTS)
    caretaker = Caretaker(DAY, world)
    first = caretaker.schedule[0]
    # asked to start right on a lesson word: it waits until that word has been said
    planned = caretaker.ask(WHAT_IS_THIS, at_tick=first.word_tick)
    assert [w for _, w in planned] == ["what", "is", "this"]
    ticks = [t for t, _ in planned]
    assert ticks[0] >= first.word_tick + 1 and ticks == sorted(set(ticks))
    events = run(caretaker, world, 200)
    heard = [(e.tick, e.word) for e in events if e.word is not None]
    assert (first.word_tick, first.object.word) in heard
    assert all(pair in heard for pair in planned)
    assert len({t for t, _ in heard}) == len(heard)  # one word per tick, never two

    later = caretaker.ask(WHAT_DID_YOU_DREAM)  # default: from the next tick
    assert [w for _, w in later] == ["what", "did", "you", "dream"] and later[0][0] >= 200
    assert caretaker.ask("hello", at_tick=5)[0][0] >= 200  # never in the past
    with pytest.raises(ValueError, match="xylophone"):
        caretaker.ask("what is a xylophone?")


@pytest.mark.usefixtures("espeak")
def test_with_a_voice_each_word_brings_its_audio_at_its_onset():
    world = FakeWorld(WORLD_OBJECTS)
    caretaker = Caretaker(DAY, world, voice=Voice())
    s = caretaker.schedule[0]
    planned = caretaker.ask(WHAT_IS_THIS, at_tick=s.next_start + 2)
    events = run(caretaker, world, planned[-1][0] + 20)
    e = events[s.word_tick]
    assert e.word == s.object.word and e.audio is not None
    assert e.audio.dtype == np.int16 and len(e.audio) > SAMPLE_RATE // 10
    sounding = -(-len(e.audio) // (SAMPLE_RATE // 10))  # ticks its sound lasts
    assert all(events[t].speaking for t in range(s.word_tick, s.word_tick + sounding))
    assert not events[s.word_tick - 1].speaking and not events[s.word_tick + sounding].speaking
    # each word of a question starts after the previous one has been said
    for (t0, w0), (t1, _) in itertools.pairwise(planned):
        assert events[t0].word == w0 and events[t0].audio is not None
        assert t1 - t0 == -(-len(events[t0].audio) // (SAMPLE_RATE // 10))


def test_a_day_in_mujoco_guides_the_arm_to_every_gesture_pose():
    mujoco_world = pytest.importorskip("nemuri.worlds.mujoco_world")
    world = mujoco_world.MujocoWorld()
    caretaker = Caretaker(DAY, world)
    last_held = {s.end - 1: s for s in caretaker.schedule}
    errors, head_touch = [], []
    for t in range(caretaker.end_tick):
        events = caretaker.tick(t)
        world.step(None)  # the robot does nothing of its own: only the hand moves it
        if events.segment is not None and events.phase != IDLE:
            assert world.shown() == [events.segment.object.object]
        if t in last_held:  # the hand's last tick: the arm should be at the pose
            pose = np.array(last_held[t].object.pose)
            errors.append(np.abs(world.joint_state()[1] - pose).max())
            assert world.guided
        head_touch.append(world.touch()[1][1])
    assert len(errors) == 96 and max(errors) < 0.05  # rad, every lesson
    assert world.shown() == [] and not world.guided
    pats = sum(s.touch_ticks is not None for s in caretaker.schedule)
    assert sum(np.diff((np.array(head_touch) > 1.0).astype(int)) == 1) == pats  # each pat felt once
