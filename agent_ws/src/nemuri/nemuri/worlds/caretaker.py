"""The caretaker: a scripted person who shows the robot things, names them, and guides its arm.

Driven by the tick index alone, so a day is a pure function of (curriculum, seed) and a
benchmark can replay it: `Caretaker.tick(t)` works out what the person is doing at tick t
(which object is in view, where the hand holds the arm, which pad is being patted), applies
only the changes to the world, and returns what a listener gets — the word, at the onset
of its utterance (so the robot must predict it from sight, not from its first syllable), and
the utterance's audio to mix into the simulated microphone.

No ROS and no MuJoCo here: the world is anything with the few methods of `CaretakerWorld`,
so the script is tested against a recording fake as well as the real MuJoCo world.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from nemuri.contracts import JOINTS
from nemuri.listener import words_of
from nemuri.senses.voice import SAMPLE_RATE
from nemuri.vocabulary import load_vocabulary
from nemuri.worlds.curriculum import (
    IDLE,
    LESSON,
    Curriculum,
    Segment,
    check_world_objects,
    day_schedule,
    probe_schedule,
)

WHAT_IS_THIS: Final[str] = "what is this?"
WHAT_DID_YOU_DREAM: Final[str] = "what did you dream?"

# Without a voice (tests, a silent run) a word still takes time to say: this many seconds.
_SILENT_WORD_S: Final[float] = 0.3

Speaker = Callable[[str], np.ndarray]  # text -> 16 kHz mono int16, e.g. senses.voice.Voice()


class NamedObject(Protocol):
    """What the caretaker needs of an object the world can show: its name."""

    @property
    def name(self) -> str: ...


class CaretakerWorld(Protocol):
    """The part of a world the caretaker touches (MujocoWorld has all of it)."""

    def show(self, object_name: str, position: Sequence[float] | None = None) -> None: ...

    def hide(self, object_name: str) -> None: ...

    def set_joint_targets(self, positions: np.ndarray) -> None: ...

    def release(self) -> None: ...

    def press(self, pad: str, newtons: float) -> None: ...

    def objects(self) -> Sequence[NamedObject]: ...

    def joint_state(self) -> tuple[Sequence[str], np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class CaretakerEvents:
    """What happened at one tick, as a listener (microphone, /hearing/words, a log) sees it."""

    tick: int
    phase: str  # one of curriculum.PHASES
    object: str | None  # the object in view
    word: str | None  # said this tick: publish on /hearing/words now, at the onset
    audio: np.ndarray | None  # the utterance of `word`, 16 kHz int16, starting this tick
    speaking: bool  # the caretaker's voice is sounding this tick
    hand: np.ndarray | None  # joint targets the hand holds the arm at (JOINTS order)
    segment: Segment | None  # the lesson or probe this tick belongs to


class Caretaker:
    """Teaches one curriculum to one world, tick by tick (see the module docstring)."""

    def __init__(
        self,
        curriculum: Curriculum,
        world: CaretakerWorld,
        voice: Speaker | None = None,
        schedule: Sequence[Segment] | None = None,
        seed: int | None = None,
    ) -> None:
        self.curriculum = curriculum
        self.world = world
        self.voice = voice
        self.schedule: tuple[Segment, ...] = tuple(
            day_schedule(curriculum, seed) if schedule is None else schedule
        )
        # Checked up front: a missing object otherwise fails minutes into a day.
        needed = [o.object for o in curriculum.objects] + [s.object.object for s in self.schedule]
        check_world_objects(needed, [o.name for o in world.objects()])
        self._samples_per_tick = SAMPLE_RATE / curriculum.tick_hz
        self._starts = [s.start for s in self.schedule]
        self._said: dict[int, str] = {}  # tick -> word, everything scheduled to be said
        self._busy: list[tuple[int, int]] = []  # [start, end) ticks of scheduled speech
        for s in self.schedule:
            if s.word_tick is not None:
                self._plan_speech(s.word_tick, [s.object.word])
        self._speech_until = 0
        self._last_tick = -1
        self._in_view: str | None = None
        self._hand_segment: Segment | None = None
        self._hand_from = np.zeros(len(JOINTS))
        self._hand_target: np.ndarray | None = None
        self._pressing: str | None = None

    @classmethod
    def for_probes(
        cls,
        curriculum: Curriculum,
        world: CaretakerWorld,
        voice: Speaker | None = None,
        seed: int | None = None,
        repeats: int = 1,
        start: int = 0,
    ) -> Caretaker:
        """A caretaker that only probes: each object alone, no word, no hand."""
        schedule = probe_schedule(curriculum, seed=seed, repeats=repeats, start=start)
        return cls(curriculum, world, voice=voice, schedule=schedule)

    @property
    def end_tick(self) -> int:
        """The first tick after the last lesson or probe (and its gap)."""
        return self.schedule[-1].next_start if self.schedule else 0

    def segment_at(self, tick: int) -> Segment | None:
        """The lesson or probe `tick` falls in (its gap included), if any."""
        i = bisect_right(self._starts, tick) - 1
        if i < 0 or tick >= self.schedule[i].next_start:
            return None
        return self.schedule[i]

    def ask(self, question: str, at_tick: int | None = None) -> tuple[tuple[int, str], ...]:
        """Say `question` word by word from `at_tick` (default and earliest: the next tick),
        or as soon after as the caretaker is not already speaking. Returns (tick, word) for
        each word.

        Words go out one per utterance over successive ticks, each when the previous has
        been said, so /hearing/words hears a question the way it hears a lesson word.
        """
        words = words_of(question)
        vocabulary = load_vocabulary()
        unknown = [w for w in words if w not in vocabulary]
        if not words or unknown:
            raise ValueError(
                f"cannot ask {question!r}: {', '.join(unknown) or 'no words'} not in the vocabulary"
            )
        start = self._last_tick + 1 if at_tick is None else max(at_tick, self._last_tick + 1)
        return self._plan_speech(start, words)

    def tick(self, tick: int) -> CaretakerEvents:
        """Do what the caretaker does at `tick` to the world; return what is heard and seen."""
        self._last_tick = tick
        segment = self.segment_at(tick)
        phase = segment.phase(tick) if segment is not None else IDLE
        self._set_in_view(segment.object.object if segment is not None and phase != IDLE else None)
        self._set_hand(segment, tick)
        self._set_touch(segment, tick)

        word = self._said.get(tick)
        audio = None
        if word is not None:
            audio = self.voice(word) if self.voice is not None else None
            self._speech_until = max(self._speech_until, tick + self._speech_ticks(audio))
        return CaretakerEvents(
            tick=tick,
            phase=phase,
            object=self._in_view,
            word=word,
            audio=audio,
            speaking=tick < self._speech_until,
            hand=None if self._hand_target is None else self._hand_target.copy(),
            segment=segment,
        )

    # ------------------------------------------------------------------ the world

    def _set_in_view(self, name: str | None) -> None:
        if name == self._in_view:
            return
        if self._in_view is not None:
            self.world.hide(self._in_view)
        if name is not None:
            self.world.show(name)
        self._in_view = name

    def _set_hand(self, segment: Segment | None, tick: int) -> None:
        """Hold the arm over [guide_tick, end) of a lesson, moving it smoothly to the pose."""
        guiding = (
            segment is not None
            and segment.kind == LESSON
            and segment.guide_tick is not None
            and segment.hold_tick is not None
            and segment.guide_tick <= tick < segment.end
        )
        if not guiding:
            if self._hand_segment is not None:
                self.world.release()
                self._hand_segment = None
                self._hand_target = None
            return
        assert segment is not None and segment.guide_tick is not None
        assert segment.hold_tick is not None
        if self._hand_segment is not segment:
            # The hand takes the arm where it is: the robot may have moved it anywhere.
            self._hand_from = self._arm_position()
            self._hand_target = self._hand_from.copy()
            self._hand_segment = segment
        assert self._hand_target is not None
        pose = np.asarray(segment.object.pose, dtype=np.float64)
        span = segment.hold_tick - segment.guide_tick
        s = _min_jerk(min((tick - segment.guide_tick + 1) / span, 1.0))
        wanted = self._hand_from + s * (pose - self._hand_from)
        # A person's hand, like the servos, has a top speed: never step faster than that.
        step = self.curriculum.hand.max_speed / self.curriculum.tick_hz
        self._hand_target = self._hand_target + np.clip(wanted - self._hand_target, -step, step)
        self.world.set_joint_targets(self._hand_target.copy())

    def _set_touch(self, segment: Segment | None, tick: int) -> None:
        """Press the pad over a lesson's pat, and let go after it."""
        span = segment.touch_ticks if segment is not None else None
        if span is not None and span[0] <= tick < span[1]:
            if self._pressing is None:
                self._pressing = self.curriculum.touch.pad
                self.world.press(self._pressing, self.curriculum.touch.newtons)
        elif self._pressing is not None:
            self.world.press(self._pressing, 0.0)
            self._pressing = None

    def _arm_position(self) -> np.ndarray:
        """Joint positions in JOINTS order, whatever order the world lists them in."""
        names, position, _velocity = self.world.joint_state()
        index = {name: i for i, name in enumerate(names)}
        return np.array([float(position[index[j]]) for j in JOINTS], dtype=np.float64)

    # ------------------------------------------------------------------ speech

    def _speech_ticks(self, audio: np.ndarray | None) -> int:
        """How many ticks an utterance sounds for (at least one)."""
        if audio is None:
            return max(1, round(_SILENT_WORD_S * self.curriculum.tick_hz))
        return max(1, math.ceil(len(audio) / self._samples_per_tick))

    def _word_ticks(self, word: str) -> int:
        return self._speech_ticks(self.voice(word) if self.voice is not None else None)

    def _plan_speech(self, start: int, words: Sequence[str]) -> tuple[tuple[int, str], ...]:
        """Book `words` back to back from the first tick >= start where nothing else is said."""
        lengths = [self._word_ticks(w) for w in words]
        total = sum(lengths)
        while any(a < start + total and start < b for a, b in self._busy):
            start = max(b for a, b in self._busy if a < start + total and start < b)
        self._busy.append((start, start + total))
        planned = []
        for word, length in zip(words, lengths, strict=True):
            self._said[start] = word
            planned.append((start, word))
            start += length
        return tuple(planned)


def _min_jerk(s: float) -> float:
    """0 -> 1 with zero velocity and acceleration at both ends: how people move a limb."""
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)
