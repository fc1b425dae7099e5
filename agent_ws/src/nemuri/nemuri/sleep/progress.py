"""Progress of a night, as the sleep reports it and as `nemuri sleep` draws it.

consolidate() calls its `progress` callback with a NightProgress at every phase change and
every training step; the Sleep action turns these into feedback, and ProgressBar draws
them on a terminal. tqdm would do the drawing too, but one line of text is all we need.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

PHASES: tuple[str, ...] = (
    "reading",  # the day logs and the replay store
    "dreaming",  # the pre-sleep brain dreams of earlier days (night >= 2)
    "validating",  # held-out losses before the night
    "training",
    "judging",  # held-out losses after, and the promotion decision
    "telling",  # the new brain's dream report
    "saving",  # the new version, the night's record, the replay store
    "done",
)


@dataclass(frozen=True)
class NightProgress:
    """Where a night is."""

    phase: str  # one of PHASES
    step: int  # training steps done
    steps: int  # training steps planned (0 before training is planned)
    loss: float | None  # the last training step's total loss
    elapsed_s: float

    @property
    def fraction(self) -> float:
        """0..1 over the whole night; training is most of it."""
        if self.phase == "done":
            return 1.0
        if self.phase == "training" and self.steps:
            return 0.05 + 0.85 * self.step / self.steps
        before = ("reading", "dreaming", "validating")
        return 0.0 if self.phase in before else 0.9


class ProgressBar:
    """Draws NightProgress as one self-overwriting line: bar, phase, step, loss, time left."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, every_s: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, p: NightProgress) -> None:
        now = time.monotonic()
        if p.phase == "training" and 0 < p.step < p.steps and now - self._last < self.every_s:
            return  # a terminal needs a few frames a second, not one per step
        self._last = now
        self.stream.write("\r" + self.line(p) + ("\n" if p.phase == "done" else ""))
        self.stream.flush()

    def line(self, p: NightProgress) -> str:
        filled = round(self.width * p.fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"[{bar}] {100 * p.fraction:3.0f}% {p.phase}"
        if p.phase == "training":
            text += f" step {p.step}/{p.steps}"
            if p.loss is not None:
                text += f" loss {p.loss:.4f}"
            if 0 < p.step < p.steps:
                left = p.elapsed_s / p.fraction * (1.0 - p.fraction)
                text += f" ~{_clock(left)} left"
        return f"{text}  {_clock(p.elapsed_s)}".ljust(78)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"
