"""What the caretaker teaches: a course of days from YAML, and each day's tick schedule.

A `Course` (nemuri/worlds/lessons/default.yaml) holds a pool of objects, each with the word
the caretaker says for it and the gesture pose its hand moves the arm to, and the list of
which objects each day teaches. `Course.day(n)` is one day's `Curriculum`: its K objects
plus the timing of DESIGN.md's Lessons. `day_schedule` and `probe_schedule` turn a
curriculum into `Segment`s on the tick axis, a pure function of (curriculum, seed), so a
day can be replayed exactly and a benchmark can score probes against it. Times are in
seconds; `Curriculum.at_rate` teaches the same day at another tick rate (a world at 50 Hz),
scaling `day_ticks`, which is counted at the file's own `tick_hz`.

Everything is checked on load and the error names the key, because a typo in a lesson file
otherwise shows up an hour into a benchmark as a robot that learned nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml

from nemuri.contracts import JOINTS, TICK_HZ, TOUCH_PADS
from nemuri.vocabulary import SILENCE, UNKNOWN, load_vocabulary

DEFAULT_COURSE: Final[str] = "default.yaml"

# Phases of a tick, in a lesson's order; `probe` is the whole of a probe.
IDLE: Final[str] = "idle"
SHOW: Final[str] = "show"  # the object is in view, nothing said yet
WORD: Final[str] = "word"  # its word has been said
GUIDE: Final[str] = "guide"  # a hand moves the arm toward the gesture pose
HOLD: Final[str] = "hold"  # the hand holds the arm at the pose
PROBE: Final[str] = "probe"  # the object alone: no word, no hand
PHASES: Final[tuple[str, ...]] = (IDLE, SHOW, WORD, GUIDE, HOLD, PROBE)

LESSON: Final[str] = "lesson"  # a Segment's kind, beside PROBE

_WHOLE_TICK: Final[float] = 1e-6  # a time is whole ticks if within this many ticks of one


class CurriculumError(ValueError):
    """A course or curriculum the caretaker cannot teach; the message names the key."""


@dataclass(frozen=True)
class LessonObject:
    """One thing to learn: the world's object, the word for it, the gesture it asks for."""

    object: str
    word: str
    pose: tuple[float, ...]  # joint positions in JOINTS order, radians


@dataclass(frozen=True)
class LessonTiming:
    """Seconds from the object's appearance (DESIGN.md, Lessons)."""

    word_at: float = 1.0
    guide_at: float = 1.5
    approach: float = 0.9
    hold: float = 0.4
    gap: float = 0.2
    # The share of lessons in which the caretaker shows and guides but says nothing. A word
    # always said half a second before the hand is the easiest cue for the gesture, and a
    # probe says none: without unnamed lessons the robot learns to move on hearing, never on
    # seeing.
    unnamed: float = 0.0

    @property
    def period(self) -> float:
        """One lesson from appearance to the next one's: the object leaves as the hand lets go."""
        return self.guide_at + self.approach + self.hold + self.gap


@dataclass(frozen=True)
class ProbeTiming:
    """A probe: the object alone for `duration`; the gesture is read at `gesture_at`."""

    duration: float = 3.0
    gesture_at: float = 2.0
    gap: float = 1.0


@dataclass(frozen=True)
class TouchPlan:
    """A pat on a pad while the hand holds the pose, in a random `probability` of lessons."""

    pad: str = "head"
    newtons: float = 2.0
    duration: float = 0.3
    probability: float = 0.25


@dataclass(frozen=True)
class HandPlan:
    """The caretaker's hand: how fast it may move the arm (rad/s per joint)."""

    max_speed: float = 3.5


@dataclass(frozen=True)
class Curriculum:
    """One day's lessons: K objects and how they are taught. Checked when made."""

    objects: tuple[LessonObject, ...]
    day: int = 1
    seed: int = 1
    tick_hz: float = TICK_HZ
    day_ticks: int = 3000
    repetitions: int = 12
    lead_in: float = 1.0
    lesson: LessonTiming = field(default_factory=LessonTiming)
    hand: HandPlan = field(default_factory=HandPlan)
    probe: ProbeTiming = field(default_factory=ProbeTiming)
    touch: TouchPlan = field(default_factory=TouchPlan)
    min_pose_separation: float = 0.4

    def __post_init__(self) -> None:
        _check_curriculum(self)

    def ticks(self, seconds: float) -> int:
        """A duration in ticks (validated to be whole on load)."""
        return round(seconds * self.tick_hz)

    @property
    def day_s(self) -> float:
        """The day's length in seconds, whatever the tick rate."""
        return self.day_ticks / self.tick_hz

    def at_rate(self, tick_hz: float) -> Curriculum:
        """The same day taught at `tick_hz` (a world ticking at 50 Hz, say).

        Every time of a lesson is in seconds and becomes ticks at the new rate; day_ticks,
        counted at this curriculum's own rate, is scaled to keep the day's length. Checked
        like any curriculum: a time that is not whole ticks at `tick_hz` is refused.
        """
        if not (math.isfinite(tick_hz) and tick_hz > 0):
            raise CurriculumError(f"tick_hz: must be > 0, not {tick_hz}")
        day_ticks = round(self.day_ticks * tick_hz / self.tick_hz)
        return replace(self, tick_hz=float(tick_hz), day_ticks=day_ticks)

    @property
    def k(self) -> int:
        return len(self.objects)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(o.word for o in self.objects)

    @property
    def poses(self) -> np.ndarray:
        """(K, len(JOINTS)) gesture poses, in the order of `objects`."""
        return np.array([o.pose for o in self.objects], dtype=np.float64)

    def index(self, object_name: str) -> int:
        """Position of an object among this day's K."""
        for i, o in enumerate(self.objects):
            if o.object == object_name:
                return i
        raise CurriculumError(f"day {self.day} does not teach {object_name!r}")

    def check_world_objects(self, known: Iterable[str]) -> None:
        """Refuse a curriculum naming objects the world cannot show."""
        check_world_objects([o.object for o in self.objects], known)


def check_world_objects(needed: Iterable[str], known: Iterable[str]) -> None:
    """Raise CurriculumError naming every object in `needed` that is not in `known`."""
    names = sorted(set(known))
    missing = sorted(set(needed) - set(names))
    if missing:
        raise CurriculumError(
            f"objects: the world has no object named {', '.join(map(repr, missing))}; "
            f"it has {', '.join(names)}"
        )


@dataclass(frozen=True)
class Course:
    """Days of lessons over one pool of objects, sharing one day's settings (`template`)."""

    template: Curriculum
    pool: tuple[LessonObject, ...]
    days: tuple[tuple[str, ...], ...]

    def day(self, n: int, k: int | None = None) -> Curriculum:
        """Day `n` (1-based) teaching the first `k` of its objects (all of them by default)."""
        if not 1 <= n <= len(self.days):
            raise CurriculumError(f"days: there is no day {n}; the course has {len(self.days)}")
        names = self.days[n - 1]
        if k is not None and not 1 <= k <= len(names):
            raise CurriculumError(f"days[{n - 1}]: day {n} has {len(names)} objects, not k={k}")
        by_name = {o.object: o for o in self.pool}
        objects = tuple(by_name[name] for name in names[:k])
        return replace(self.template, objects=objects, day=n)


@dataclass(frozen=True)
class Segment:
    """One lesson or probe on the tick axis; ticks are absolute, `end` exclusive.

    The object is in view over [start, end); in a lesson the hand holds the arm over
    [guide_tick, end) and lets go at `end`. `next_start` is where the following segment
    may begin (end plus the gap).
    """

    kind: str  # LESSON or PROBE
    object: LessonObject
    start: int
    end: int
    next_start: int
    word_tick: int | None = None
    guide_tick: int | None = None
    hold_tick: int | None = None
    touch_ticks: tuple[int, int] | None = None  # [first, last) tick of a pat, if any
    gesture_tick: int | None = None  # probes: when the arm's position is read

    def phase(self, tick: int) -> str:
        """The phase of `tick` within this segment (IDLE outside it or in its gap)."""
        if not self.start <= tick < self.end:
            return IDLE
        if self.kind == PROBE:
            return PROBE
        assert self.guide_tick is not None and self.hold_tick is not None
        if tick < (self.guide_tick if self.word_tick is None else self.word_tick):
            return SHOW
        if tick < self.guide_tick:
            return WORD
        return GUIDE if tick < self.hold_tick else HOLD


def day_schedule(curriculum: Curriculum, seed: int | None = None) -> tuple[Segment, ...]:
    """The day's lessons: each of the K objects `repetitions` times, in shuffled order.

    The order and the pats are drawn from (seed, day), so the same day with the same seed
    is the same day, and day 2 is not day 1's order again.
    """
    c = curriculum
    rng = np.random.default_rng([c.seed if seed is None else seed, c.day])
    order = rng.permutation(np.repeat(np.arange(c.k), c.repetitions))
    pats = rng.random(len(order)) < c.touch.probability
    unnamed = rng.random(len(order)) < c.lesson.unnamed  # drawn last: older days keep theirs
    t = c.lesson
    word, guide, approach = c.ticks(t.word_at), c.ticks(t.guide_at), c.ticks(t.approach)
    visible = guide + approach + c.ticks(t.hold)
    segments = []
    start = c.ticks(c.lead_in)
    for index, pat, silent in zip(order, pats, unnamed, strict=True):
        hold = start + guide + approach
        segments.append(
            Segment(
                kind=LESSON,
                object=c.objects[index],
                start=start,
                end=start + visible,
                next_start=start + visible + c.ticks(t.gap),
                word_tick=None if silent else start + word,
                guide_tick=start + guide,
                hold_tick=hold,
                touch_ticks=(hold, hold + c.ticks(c.touch.duration)) if pat else None,
            )
        )
        start = segments[-1].next_start
    return tuple(segments)


def probe_schedule(
    curriculum: Curriculum, seed: int | None = None, repeats: int = 1, start: int = 0
) -> tuple[Segment, ...]:
    """Probes of the K objects, each `repeats` times in shuffled order, from tick `start`."""
    c = curriculum
    if repeats < 1:
        raise CurriculumError(f"probe repeats must be >= 1, not {repeats}")
    # A stream of its own (the trailing 1), so probes never mirror that day's lesson order.
    rng = np.random.default_rng([c.seed if seed is None else seed, c.day, 1])
    order = rng.permutation(np.repeat(np.arange(c.k), repeats))
    p = c.probe
    duration, gesture, gap = c.ticks(p.duration), c.ticks(p.gesture_at), c.ticks(p.gap)
    segments = []
    for index in order:
        segments.append(
            Segment(
                kind=PROBE,
                object=c.objects[index],
                start=start,
                end=start + duration,
                next_start=start + duration + gap,
                gesture_tick=start + gesture,
            )
        )
        start += duration + gap
    return tuple(segments)


# ---------------------------------------------------------------------------- loading


def load_course(path: str | Path | None = None) -> Course:
    """A course from YAML: `path`, or the one shipped with nemuri (lessons/default.yaml)."""
    if path is None:
        source = resources.files("nemuri").joinpath(f"worlds/lessons/{DEFAULT_COURSE}")
        where = f"nemuri/worlds/lessons/{DEFAULT_COURSE}"
    else:
        source, where = Path(path), str(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CurriculumError(f"{where}: cannot read the course: {exc}") from exc
    try:
        return course_from_dict(data)
    except CurriculumError as exc:
        raise CurriculumError(f"{where}: {exc}") from None


def load_curriculum(
    path: str | Path | None = None, day: int = 1, k: int | None = None
) -> Curriculum:
    """Day `day` of a course file (the shipped one by default), teaching `k` objects."""
    return load_course(path).day(day, k)


def course_from_dict(data: Any) -> Course:
    """A course from parsed YAML; every key checked, unknown keys refused (typos)."""
    data = _mapping(data, "the course")
    _no_unknown(data, [*_TEMPLATE_KEYS, "objects", "days"], "")
    pool = tuple(_lesson_object(o, f"objects[{i}]") for i, o in enumerate(_list(data, "objects")))
    names = [o.object for o in pool]
    for name in names:
        if names.count(name) > 1:
            raise CurriculumError(f"objects: {name!r} is listed twice")
    days = []
    for d, day in enumerate(_list(data, "days")):
        if not isinstance(day, list) or not day:
            raise CurriculumError(f"days[{d}]: expected a non-empty list of object names")
        for name in day:
            if name not in names:
                raise CurriculumError(f"days[{d}]: {name!r} is not in objects")
        days.append(tuple(str(n) for n in day))
    if not days:
        raise CurriculumError("days: at least one day is needed")
    by_name = dict(zip(names, pool, strict=True))
    settings = {key: _SECTION_READERS.get(key, _scalar)(data, key) for key in _TEMPLATE_KEYS}
    curricula = []
    for d, day in enumerate(days):  # every day must be teachable, so check each now
        try:
            curricula.append(
                Curriculum(objects=tuple(by_name[n] for n in day), day=d + 1, **settings)
            )
        except CurriculumError as exc:
            raise CurriculumError(f"days[{d}]: {exc}") from None
    return Course(template=curricula[0], pool=pool, days=tuple(days))


def _section(cls: type, key: str) -> Any:
    """A reader for a nested section (lesson, hand, probe, touch) into its dataclass."""

    def read(data: Mapping[str, Any], _key: str) -> Any:
        raw = _mapping(data.get(key, {}), key)
        names = [f.name for f in fields(cls)]
        _no_unknown(raw, names, f"{key}.")
        values = {}
        for f in fields(cls):
            if f.name in raw:
                value = raw[f.name]
                if f.type == "str":
                    values[f.name] = str(value)
                else:
                    values[f.name] = _number(value, f"{key}.{f.name}")
        return cls(**values)

    return read


def _scalar(data: Mapping[str, Any], key: str) -> Any:
    default = next(f.default for f in fields(Curriculum) if f.name == key)
    value = data.get(key, default)
    number = _number(value, key)
    if isinstance(default, int) and not isinstance(default, bool):
        if number != int(number):
            raise CurriculumError(f"{key}: expected a whole number, got {value!r}")
        return int(number)
    return number


_SECTION_READERS = {
    "lesson": _section(LessonTiming, "lesson"),
    "hand": _section(HandPlan, "hand"),
    "probe": _section(ProbeTiming, "probe"),
    "touch": _section(TouchPlan, "touch"),
}
_TEMPLATE_KEYS: Final[tuple[str, ...]] = tuple(
    f.name for f in fields(Curriculum) if f.name not in ("objects", "day")
)


def _lesson_object(raw: Any, where: str) -> LessonObject:
    raw = _mapping(raw, where)
    _no_unknown(raw, ["object", "word", "pose"], f"{where}.")
    for key in ("object", "word", "pose"):
        if key not in raw:
            raise CurriculumError(f"{where}.{key}: missing")
    pose = raw["pose"]
    if not isinstance(pose, list) or len(pose) != len(JOINTS):
        raise CurriculumError(
            f"{where}.pose: expected {len(JOINTS)} joint positions ({', '.join(JOINTS)})"
        )
    return LessonObject(
        object=str(raw["object"]),
        word=str(raw["word"]),
        pose=tuple(_number(v, f"{where}.pose") for v in pose),
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CurriculumError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise CurriculumError(f"{key}: expected a list")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CurriculumError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _no_unknown(raw: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise CurriculumError(
            f"{prefix}{unknown[0]}: unknown key (expected one of {', '.join(allowed)})"
        )


# ---------------------------------------------------------------------------- checks


def _check_curriculum(c: Curriculum) -> None:
    """Every rule a day must keep; raised as CurriculumError naming the key."""
    if not (math.isfinite(c.tick_hz) and c.tick_hz > 0):
        raise CurriculumError(f"tick_hz: must be > 0, not {c.tick_hz}")
    if c.day_ticks < 1:
        raise CurriculumError(f"day_ticks: must be >= 1, not {c.day_ticks}")
    if c.repetitions < 1:
        raise CurriculumError(f"repetitions: must be >= 1, not {c.repetitions}")
    _whole_ticks(c, "lead_in", c.lead_in)
    t = c.lesson
    for name in ("word_at", "guide_at", "approach", "hold", "gap"):
        _whole_ticks(c, f"lesson.{name}", getattr(t, name))
    if not 0 <= t.word_at < t.guide_at:
        raise CurriculumError(
            f"lesson.word_at: the word ({t.word_at} s) comes after the object appears and "
            f"before the hand (lesson.guide_at = {t.guide_at} s)"
        )
    if t.approach <= 0:
        raise CurriculumError(f"lesson.approach: must be > 0 s, not {t.approach}")
    if not 0.0 <= t.unnamed < 1.0:
        raise CurriculumError(f"lesson.unnamed: a share of lessons in [0, 1), not {t.unnamed}")
    p = c.probe
    for name in ("duration", "gesture_at", "gap"):
        _whole_ticks(c, f"probe.{name}", getattr(p, name))
    if not 0 <= p.gesture_at < p.duration:
        raise CurriculumError(
            f"probe.gesture_at: {p.gesture_at} s is not within the probe ({p.duration} s)"
        )
    if not c.hand.max_speed > 0:
        raise CurriculumError(f"hand.max_speed: must be > 0 rad/s, not {c.hand.max_speed}")
    _check_touch(c)
    _check_objects(c)
    needed = c.lead_in + c.k * c.repetitions * t.period
    if c.ticks(needed) > c.day_ticks:
        raise CurriculumError(
            f"day_ticks: {c.k} objects x {c.repetitions} repetitions x {t.period:g} s "
            f"(+ lead_in {c.lead_in:g} s) = {c.ticks(needed)} ticks do not fit in "
            f"{c.day_ticks} ticks"
        )


def _check_touch(c: Curriculum) -> None:
    touch = c.touch
    if touch.pad not in TOUCH_PADS:
        raise CurriculumError(f"touch.pad: {touch.pad!r} is not one of {', '.join(TOUCH_PADS)}")
    if not 0 <= touch.probability <= 1:
        raise CurriculumError(f"touch.probability: must be in [0, 1], not {touch.probability}")
    if touch.newtons < 0:
        raise CurriculumError(f"touch.newtons: must be >= 0, not {touch.newtons}")
    _whole_ticks(c, "touch.duration", touch.duration)
    if touch.duration > c.lesson.hold:
        raise CurriculumError(
            f"touch.duration: a pat ({touch.duration} s) must end while the hand holds "
            f"(lesson.hold = {c.lesson.hold} s)"
        )


def _check_objects(c: Curriculum) -> None:
    if not c.objects:
        raise CurriculumError("objects: a day teaches at least one object")
    vocabulary = load_vocabulary()
    seen_objects: set[str] = set()
    seen_words: set[str] = set()
    for o in c.objects:
        if o.word not in vocabulary or o.word in (SILENCE, UNKNOWN):
            raise CurriculumError(
                f"objects: the word {o.word!r} for {o.object!r} is not in the vocabulary "
                "(nemuri/vocabulary.txt)"
            )
        if o.object in seen_objects:
            raise CurriculumError(f"objects: {o.object!r} is taught twice in day {c.day}")
        if o.word in seen_words:
            raise CurriculumError(f"objects: the word {o.word!r} names two objects in day {c.day}")
        seen_objects.add(o.object)
        seen_words.add(o.word)
        if len(o.pose) != len(JOINTS) or not all(math.isfinite(v) for v in o.pose):
            raise CurriculumError(
                f"objects: the pose of {o.object!r} needs {len(JOINTS)} finite joint positions"
            )
    poses = c.poses
    distance = np.linalg.norm(poses[:, None] - poses[None, :], axis=-1)
    np.fill_diagonal(distance, np.inf)
    i, j = np.unravel_index(np.argmin(distance), distance.shape)
    if distance[i, j] < c.min_pose_separation:
        raise CurriculumError(
            f"objects: the poses of {c.objects[i].object!r} and {c.objects[j].object!r} are "
            f"{distance[i, j]:.3f} rad apart, under min_pose_separation "
            f"({c.min_pose_separation} rad): a gesture could not tell them apart"
        )


def _whole_ticks(c: Curriculum, key: str, seconds: float) -> None:
    if not math.isfinite(seconds) or seconds < 0:
        raise CurriculumError(f"{key}: must be a duration >= 0 s, not {seconds}")
    ticks = seconds * c.tick_hz
    if abs(ticks - round(ticks)) > _WHOLE_TICK:
        raise CurriculumError(
            f"{key}: {seconds} s is not a whole number of ticks at tick_hz = {c.tick_hz}"
        )
