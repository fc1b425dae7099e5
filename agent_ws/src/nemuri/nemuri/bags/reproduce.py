"""A day replayed through its brain, no ROS: does the brain that acted still act the same?

A TickRecord keeps everything a tick's brain input was made of (DESIGN.md, Day log): the
raw embeddings and their masks, the heard word, the agent's own previous outputs (the
previous row's), the drowsiness features it was fed. So each row's input is rebuilt with
the one fusion rule the Agent uses (brain.fusion.fuse_tick), stepped through the same
brain version from an empty context, and its motor command and speech decision (the
Agent's own SpeechGate, on the row's ns stamp) compared with what the row says the agent
did. With the same brain version and runtime they are equal bit for bit; a difference
means the brain, the runtime or the fusion changed since the day was lived.

What the row does not hold is taken as arguments: the runtime kind (onnx or torch, whose
floats differ in the last bits) and the AgentConfig (speech threshold and refractory time,
motor clip), which are the core's parameters of that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nemuri.agent import AgentConfig, SpeechGate
from nemuri.brain.checkpoint import CheckpointError
from nemuri.brain.fusion import fuse_tick
from nemuri.brain.runtime import BrainRuntime, TickInput
from nemuri.memory import TickRow, read_day
from nemuri.vocabulary import SILENCE, Vocabulary, load_vocabulary

from .errors import BagError


@dataclass(frozen=True)
class Mismatch:
    """One tick whose reproduced output differs from the recorded one."""

    tick: int
    output: str  # "motor" or "speech"
    recorded: str
    reproduced: str


@dataclass
class Reproduction:
    """How a day's rows compared with their replay."""

    ticks: int = 0
    motor_equal: int = 0  # ticks whose motor command is equal bit for bit
    speech_equal: int = 0  # ticks whose speech decision (a word or silence) is the same
    spoken: int = 0  # ticks the agent spoke on, as recorded
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.ticks > 0 and self.motor_equal == self.speech_equal == self.ticks


def tick_input(row: TickRow, prev: TickRow | None, vocab: Vocabulary) -> TickInput:
    """The brain input of `row`'s tick, from the row and the row before it (the agent's
    own previous outputs; none on the first tick of a day)."""
    embeddings = [
        data if present else None for data, present in zip(row.embeddings, row.present, strict=True)
    ]
    # Copies: rows read from a bag hold read-only views, which torch refuses to wrap.
    return fuse_tick(
        embeddings,
        vocab.id(row.heard_word),
        np.array(prev.motor_velocity) if prev is not None else None,
        vocab.id(prev.spoken_word) if prev is not None else vocab.silence_id,
        np.array(row.drowsiness),
    )


def reproduce_rows(
    rows: Iterable[TickRow],
    runtime: BrainRuntime,
    config: AgentConfig | None = None,
    max_mismatches: int = 20,
) -> Reproduction:
    """Step `runtime` (emptied first) through the rows' inputs; compare each tick's output.

    The previous outputs fed back are the recorded ones, so one differing tick is counted
    once and does not change the inputs of the ticks after it.
    """
    config = config or AgentConfig()
    vocab = load_vocabulary()
    gate = SpeechGate(config, vocab)
    runtime.reset()
    result = Reproduction()
    prev: TickRow | None = None
    for row in rows:
        out = runtime.step(tick_input(row, prev, vocab))
        limit = config.max_motor_velocity
        motor = np.clip(out.motor, -limit, limit).astype(np.float32)
        spoken = gate.decide(out.word_logits, row.heard_word, row.stamp_ns) or SILENCE
        result.ticks += 1
        result.spoken += row.spoken_word != SILENCE
        if np.array_equal(motor, row.motor_velocity):
            result.motor_equal += 1
        elif len(result.mismatches) < max_mismatches:
            result.mismatches.append(
                Mismatch(row.tick, "motor", str(row.motor_velocity), str(motor))
            )
        if spoken == row.spoken_word:
            result.speech_equal += 1
        elif len(result.mismatches) < max_mismatches:
            result.mismatches.append(Mismatch(row.tick, "speech", row.spoken_word, spoken))
        prev = row
    return result


def brain_version_of(day: Path) -> str:
    """The one brain version that acted in a day log (a day has one: a night starts a new one)."""
    versions = {row.brain_version for row in read_day(day)}
    if len(versions) != 1:
        found = ", ".join(sorted(versions)) or "none (no ticks)"
        raise BagError(f"{day}: a reproduction needs one brain version, the day has {found}")
    return versions.pop()


def reproduce_day(
    day: Path,
    brains_dir: Path,
    runtime: str = "onnx",
    config: AgentConfig | None = None,
) -> Reproduction:
    """Replay a day log through the brain version that lived it, loaded from `brains_dir`."""
    from nemuri.wakeup import load_brain

    version = brain_version_of(day)
    try:
        brain = load_brain(Path(brains_dir), runtime, version)
    except (CheckpointError, ValueError, OSError) as err:
        raise BagError(f"brain {version} of {day} does not load from {brains_dir}: {err}") from err
    return reproduce_rows(read_day(day), brain.runtime, config)
