"""Learning rate by age: high while the brain is young, falling with nights and ticks.

A newborn network is trained hard and a mature one gently (IDEA.md, 3): a young brain
has little to lose and everything to learn; an old one keeps what many nights put in its
weights and should move only a little for one more day. The rate of a night depends on the
age of the brain that goes to sleep (its manifest's nights slept and ticks seen):

    lr(nights, ticks) = max(lr_min, lr_max * (1 + nights / n0) ** -a * (1 + ticks / t0) ** -b)

Within a night the rate warms up linearly over the first `warmup_fraction` of the steps
(Adam's moment estimates are noisy at first), then follows a cosine down to
`final_fraction` of it, so the night ends on small steps that settle the weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AgeSchedule:
    """The learning rate as a function of age, and its shape within one night."""

    lr_max: float = 2e-3  # a newborn's rate (nights = ticks = 0)
    lr_min: float = 2e-5  # the floor, however old
    nights_scale: float = 1.0  # n0: nights at which the night factor has fallen to 2 ** -a
    nights_power: float = 0.5  # a
    ticks_scale: float = 100_000.0  # t0: ticks (~2.8 h at 10 Hz) for the tick factor 2 ** -b
    ticks_power: float = 0.25  # b
    warmup_fraction: float = 0.05  # of a night's steps, linear warmup from 0
    final_fraction: float = 0.1  # the cosine ends at this fraction of the night's rate

    def __post_init__(self) -> None:
        if not 0 < self.lr_min <= self.lr_max:
            raise ValueError(f"need 0 < lr_min <= lr_max, got {self.lr_min}, {self.lr_max}")
        if self.nights_scale <= 0 or self.ticks_scale <= 0:
            raise ValueError("nights_scale and ticks_scale must be positive")
        if self.nights_power < 0 or self.ticks_power < 0:
            raise ValueError("the powers must be >= 0: the rate never rises with age")
        if not (0 <= self.warmup_fraction < 1 and 0 <= self.final_fraction <= 1):
            raise ValueError("warmup_fraction must be in [0, 1) and final_fraction in [0, 1]")

    def lr(self, nights: int, ticks_seen: int) -> float:
        """The night's peak rate for a brain of this age."""
        if nights < 0 or ticks_seen < 0:
            raise ValueError(f"an age is never negative: {nights} nights, {ticks_seen} ticks")
        night_factor = (1.0 + nights / self.nights_scale) ** -self.nights_power
        tick_factor = (1.0 + ticks_seen / self.ticks_scale) ** -self.ticks_power
        return max(self.lr_min, self.lr_max * night_factor * tick_factor)

    def factor(self, step: int, steps: int) -> float:
        """Multiplier of the night's rate at `step` of `steps` (warmup, then cosine)."""
        warmup = math.ceil(self.warmup_fraction * steps)
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.final_fraction + (1.0 - self.final_fraction) * cosine

    def to_dict(self) -> dict[str, Any]:
        """The parameters, with the formula, as every manifest records them."""
        return {
            "formula": "max(lr_min, lr_max * (1 + nights/nights_scale)^-nights_power"
            " * (1 + ticks/ticks_scale)^-ticks_power)",
            **asdict(self),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgeSchedule:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
