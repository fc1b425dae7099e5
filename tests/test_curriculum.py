"""The course of lessons: the shipped YAML, its checks, and each day's tick schedule."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
import yaml

from nemuri.contracts import JOINTS
from nemuri.vocabulary import load_vocabulary
from nemuri.worlds.curriculum import (
    GUIDE,
    HOLD,
    IDLE,
    PROBE,
    SHOW,
    WORD,
    CurriculumError,
    course_from_dict,
    day_schedule,
    load_course,
    load_curriculum,
    probe_schedule,
)
from nemuri.worlds.description import joint_limits
from nemuri.worlds.objects import object_catalogue


@pytest.fixture(scope="module")
def raw() -> dict:
    text = resources.files("nemuri").joinpath("worlds/lessons/default.yaml").read_text()
    return yaml.safe_load(text)


def course_with(raw: dict, **changes):
    """The shipped course with keys changed (`lesson__word_at` reaches into a section)."""
    data = copy.deepcopy(raw)
    for key, value in changes.items():
        *path, last = key.split("__")
        node = data
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return course_from_dict(data)


# ------------------------------------------------------------------ the shipped course


def test_shipped_course_has_day_one_and_five_more_days_of_new_lessons():
    course = load_course()
    assert len(course.days) == 6
    days = [course.day(n) for n in range(1, 7)]
    assert all(day.k == 8 for day in days)
    objects = [o.object for day in days for o in day.objects]
    words = [w for day in days for w in day.words]
    assert len(set(objects)) == 48 and len(set(words)) == 48  # other objects, other words
    vocabulary = load_vocabulary()
    assert all(w in vocabulary for w in words)
    # every object is one the built-in world can show
    assert set(objects) <= {spec.name for spec in object_catalogue(48)}
    # day 1 is the world's default set of 8
    assert set(days[0].words) == {
        "ball",
        "cube",
        "cylinder",
        "capsule",
        "egg",
        "brick",
        "cone",
        "plate",
    }
    assert {o.object for o in days[0].objects} == {s.name for s in object_catalogue(8)}


def test_shipped_gestures_are_reachable_and_distinct():
    limits = joint_limits()
    lower = np.array([limits[j].lower for j in JOINTS])
    upper = np.array([limits[j].upper for j in JOINTS])
    course = load_course()
    poses = np.array([o.pose for o in course.pool])
    assert poses.shape == (48, len(JOINTS))
    assert (poses > lower + 0.05).all() and (poses < upper - 0.05).all()
    distance = np.linalg.norm(poses[:, None] - poses[None], axis=-1) + np.eye(48) * 9
    assert distance.min() >= 0.4  # no two objects of the whole course share a gesture
    for n in range(1, 7):  # within a day, much further: the gesture score compares these
        day = course.day(n).poses
        assert (np.linalg.norm(day[:, None] - day[None], axis=-1) + np.eye(8) * 9).min() >= 0.7


def test_day_one_follows_design_defaults():
    day = load_curriculum()
    assert (day.day, day.k, day.repetitions, day.day_ticks, day.tick_hz) == (1, 8, 12, 3000, 10.0)
    assert (day.lesson.word_at, day.lesson.guide_at) == (1.0, 1.5)
    assert (day.probe.duration, day.probe.gesture_at) == (3.0, 2.0)
    assert day.poses.shape == (8, len(JOINTS))
    assert load_curriculum(day=1, k=3).words == day.words[:3]


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lesson__word_at": 1.05}, r"lesson\.word_at: 1\.05 s is not a whole number of ticks"),
        ({"lesson__word_at": 2.0}, r"lesson\.word_at: the word .* before the hand"),
        ({"lesson__approach": 0.0}, r"lesson\.approach: must be > 0"),
        ({"lesson__pause": 1.0}, r"lesson\.pause: unknown key"),
        ({"probe__gesture_at": 3.0}, r"probe\.gesture_at: 3\.0 s is not within the probe"),
        ({"touch__pad": "tail"}, r"touch\.pad: 'tail' is not one of gripper"),
        ({"touch__duration": 1.0}, r"touch\.duration: a pat .* must end while the hand holds"),
        ({"repetitions": 13}, r"day_ticks: 8 objects x 13 repetitions .* do not fit in 3000"),
        ({"repetitions": "many"}, r"repetitions: expected a number"),
        ({"tick_hz": 0}, r"tick_hz: must be > 0"),
        ({"min_pose_separation": 0.8}, r"days\[0\]: objects: the poses of .* under min_pose"),
        ({"colour": "red"}, r"colour: unknown key"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(raw, changes, message):
    with pytest.raises(CurriculumError, match=message):
        course_with(raw, **changes)


def test_bad_objects_and_days_are_refused_naming_the_key(raw):
    data = copy.deepcopy(raw)
    data["objects"][2]["word"] = "xylophone"
    with pytest.raises(CurriculumError, match=r"days\[0\]: objects: the word 'xylophone'"):
        course_from_dict(data)

    data = copy.deepcopy(raw)
    data["objects"][2]["pose"] = [0.1, 0.2]
    with pytest.raises(CurriculumError, match=r"objects\[2\]\.pose: expected 5 joint positions"):
        course_from_dict(data)

    data = copy.deepcopy(raw)
    del data["objects"][0]["word"]
    with pytest.raises(CurriculumError, match=r"objects\[0\]\.word: missing"):
        course_from_dict(data)

    data = copy.deepcopy(raw)
    data["days"][1][3] = "golden_unicorn"
    with pytest.raises(CurriculumError, match=r"days\[1\]: 'golden_unicorn' is not in objects"):
        course_from_dict(data)

    data = copy.deepcopy(raw)
    data["objects"][9]["word"] = data["objects"][8]["word"]
    with pytest.raises(CurriculumError, match=r"days\[1\]: .* names two objects"):
        course_from_dict(data)

    data = copy.deepcopy(raw)
    data["objects"].append(dict(data["objects"][0]))
    with pytest.raises(CurriculumError, match=r"objects: 'red_ball' is listed twice"):
        course_from_dict(data)


def test_a_bad_file_is_named_in_the_error(tmp_path, raw):
    path = tmp_path / "lessons.yaml"
    data = copy.deepcopy(raw)
    data["lesson"]["guide_at"] = "soon"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CurriculumError, match=r"lessons\.yaml: lesson\.guide_at: expected a num"):
        load_course(path)
    with pytest.raises(CurriculumError, match=r"missing\.yaml: cannot read"):
        load_course(tmp_path / "missing.yaml")
    with pytest.raises(CurriculumError, match=r"there is no day 7"):
        load_course().day(7)
    with pytest.raises(CurriculumError, match=r"not k=9"):
        load_course().day(1, k=9)


def test_the_world_must_know_every_object():
    day = load_curriculum()
    day.check_world_objects([s.name for s in object_catalogue(8)])
    with pytest.raises(CurriculumError, match=r"no object named 'white_plate'"):
        day.check_world_objects([s.name for s in object_catalogue(7)])


# ------------------------------------------------------------------ the day's schedule


def test_each_object_twelve_times_in_shuffled_order_with_design_timing():
    day = load_curriculum()
    lessons = day_schedule(day)
    assert len(lessons) == 8 * 12
    assert Counter(s.object.object for s in lessons) == {o.object: 12 for o in day.objects}
    order = [day.index(s.object.object) for s in lessons]
    assert order != sorted(order) and order != list(np.tile(np.arange(8), 12))
    unnamed = [s for s in lessons if s.word_tick is None]
    assert 0.1 < len(unnamed) / len(lessons) < 0.4  # lesson.unnamed: 0.25 of them, drawn
    for s in lessons:
        if s.word_tick is not None:
            assert s.word_tick - s.start == 10  # the word exactly 1.0 s after the object
        assert s.guide_tick - s.start == 15  # the hand at 1.5 s
        # then the hand's approach and hold, as long as the file says, in whole ticks
        approach, hold = day.ticks(day.lesson.approach), day.ticks(day.lesson.hold)
        assert s.hold_tick - s.guide_tick == approach and s.end - s.hold_tick == hold
        assert s.object.word == day.objects[day.index(s.object.object)].word
        if s.touch_ticks is not None:
            assert s.hold_tick <= s.touch_ticks[0] < s.touch_ticks[1] <= s.end
    starts = [s.start for s in lessons]
    assert all(b.start >= a.next_start for a, b in itertools.pairwise(lessons))
    assert starts[0] == 10 and lessons[-1].next_start <= day.day_ticks
    assert 0 < sum(s.touch_ticks is not None for s in lessons) < len(lessons)


def test_phases_follow_the_lesson():
    day = load_curriculum()
    schedule = day_schedule(day)
    guide, hold, gap = (day.ticks(t) for t in (day.lesson.approach, day.lesson.hold, 0.2))
    s = next(s for s in schedule if s.word_tick is not None)
    phases = [s.phase(t) for t in range(s.start - 1, s.next_start + 1)]
    lesson = [SHOW] * 10 + [WORD] * 5 + [GUIDE] * guide + [HOLD] * hold
    assert phases == [IDLE, *lesson, *[IDLE] * (gap + 1)]
    # An unnamed lesson shows the object until the hand comes, and nothing is said.
    s = next(s for s in schedule if s.word_tick is None)
    phases = [s.phase(t) for t in range(s.start - 1, s.next_start + 1)]
    lesson = [SHOW] * 15 + [GUIDE] * guide + [HOLD] * hold
    assert phases == [IDLE, *lesson, *[IDLE] * (gap + 1)]


def test_the_same_seed_gives_the_same_day_and_another_seed_another():
    day = load_curriculum()
    assert day_schedule(day) == day_schedule(day)
    assert day_schedule(day, seed=day.seed) == day_schedule(day)
    assert day_schedule(day, seed=2) != day_schedule(day)
    assert day_schedule(replace(day, seed=2)) == day_schedule(day, seed=2)
    # another day of the same course is another order, even over the same objects
    assert day_schedule(replace(day, day=2)) != day_schedule(day)


def test_timing_holds_at_fifty_hertz():
    ten = load_curriculum()
    day = ten.at_rate(50.0)
    assert (day.tick_hz, day.day_ticks, day.day_s) == (50.0, 15_000, ten.day_s)
    s = day_schedule(day)[0]
    assert (s.start, s.word_tick - s.start, s.guide_tick - s.start) == (50, 50, 75)
    with pytest.raises(CurriculumError, match=r"lesson\.approach: 0\.91 s"):
        replace(day, lesson=replace(day.lesson, approach=0.91))


@pytest.mark.parametrize("tick_hz", [20.0, 50.0, 100.0])
def test_the_same_day_at_another_rate_is_the_same_day_in_seconds(tick_hz):
    """Same order, same pats, every instant the same number of seconds into the day."""
    ten = load_curriculum()
    fast = ten.at_rate(tick_hz)
    assert fast.at_rate(ten.tick_hz) == ten
    scale = tick_hz / ten.tick_hz
    for slow, quick in zip(day_schedule(ten), day_schedule(fast), strict=True):
        assert quick.object == slow.object
        for name in ("start", "end", "next_start", "word_tick", "guide_tick", "hold_tick"):
            if getattr(slow, name) is None:  # an unnamed lesson is unnamed at any rate
                assert getattr(quick, name) is None, name
            else:
                assert getattr(quick, name) == round(getattr(slow, name) * scale), name
        if slow.touch_ticks is None:
            assert quick.touch_ticks is None
        else:
            assert quick.touch_ticks == tuple(round(t * scale) for t in slow.touch_ticks)
    assert day_schedule(fast)[-1].next_start <= fast.day_ticks


def test_a_rate_the_lessons_do_not_divide_into_is_refused_saying_why():
    with pytest.raises(CurriculumError, match=r"is not a whole number of ticks at tick_hz = 7"):
        load_curriculum().at_rate(7.0)
    with pytest.raises(CurriculumError, match="tick_hz: must be > 0"):
        load_curriculum().at_rate(0.0)


def test_probes_show_each_object_alone_for_three_seconds():
    day = load_curriculum()
    probes = probe_schedule(day, repeats=2, start=100)
    assert len(probes) == 16
    assert Counter(p.object.object for p in probes) == {o.object: 2 for o in day.objects}
    for p in probes:
        assert p.kind == PROBE and p.word_tick is None and p.guide_tick is None
        assert p.end - p.start == 30 and p.gesture_tick - p.start == 20
        assert p.phase(p.start) == PROBE and p.phase(p.end) == IDLE
    assert probes[0].start == 100
    assert probe_schedule(day) == probe_schedule(day)
    assert probe_schedule(day, seed=5) != probe_schedule(day)
    with pytest.raises(CurriculumError, match="repeats"):
        probe_schedule(day, repeats=0)
