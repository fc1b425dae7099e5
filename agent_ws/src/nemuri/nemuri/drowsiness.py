"""Drowsiness, measured and never scripted (DESIGN.md, Drowsiness).

    s = max(context_fill, p95_step_latency / period, 10 * missed_tick_rate_last_minute)

Context fill is exact and only grows during a day, so it enters unsmoothed. The two
timing terms are noisy (one slow step is not sleepiness), so they pass through an
exponential moving average with time constant `smoothing_s` before the max. The result is
both published (AgentState) and fed back into the brain as features, in the order of
contracts.DROWSINESS_FEATURES.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from nemuri.contracts import DROWSY_AT, SLEEP_AT


@dataclass(frozen=True)
class DrowsinessConfig:
    tick_hz: float = 10.0
    capacity: int = 4096
    latency_window: int = 100  # steps over which the p95/p99 latency is taken
    missed_window_s: float = 60.0  # "missed tick rate over the last minute"
    smoothing_s: float = 2.0  # time constant of the timing terms' moving average
    drowsy_at: float = DROWSY_AT
    sleep_at: float = SLEEP_AT


@dataclass(frozen=True)
class DrowsinessReading:
    context_fill: float
    latency_ratio: float  # p95 step latency / tick period
    missed_rate: float  # missed ticks / ticks over the last minute
    sleepiness: float
    p95_ms: float
    p99_ms: float

    def features(self) -> np.ndarray:
        """The brain's drowsiness input (contracts.DROWSINESS_FEATURES order)."""
        return np.array(
            [self.context_fill, self.latency_ratio, 10.0 * self.missed_rate, self.sleepiness],
            dtype=np.float32,
        )


class DrowsinessMeter:
    """Keeps the recent step latencies and tick outcomes and turns them into sleepiness."""

    def __init__(self, config: DrowsinessConfig | None = None) -> None:
        self.config = config or DrowsinessConfig()
        self.period_s = 1.0 / self.config.tick_hz
        self._latencies: deque[float] = deque(maxlen=self.config.latency_window)
        n_minute = max(1, round(self.config.missed_window_s * self.config.tick_hz))
        self._minute_ticks = n_minute
        self._outcomes: deque[bool] = deque(maxlen=n_minute)  # True = missed
        self._timing_ema = 0.0
        self._alpha = 1.0 - math.exp(-self.period_s / self.config.smoothing_s)
        self.reading = DrowsinessReading(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def reset(self) -> None:
        """Waking from sleep: rested, with no recent history."""
        self.__init__(self.config)

    def record_missed(self, n: int = 1) -> None:
        """Ticks that passed with no step (the previous one was still running)."""
        self._outcomes.extend([True] * n)

    def update(self, context_length: int, step_latency_s: float, missed: bool) -> DrowsinessReading:
        """Account for one stepped tick and return the new reading."""
        self._latencies.append(step_latency_s)
        self._outcomes.append(missed)
        lat = np.asarray(self._latencies)
        p95, p99 = (float(v) for v in np.percentile(lat, [95, 99]))
        fill = min(1.0, context_length / self.config.capacity)
        ratio = p95 / self.period_s
        # Over the whole minute, as the formula says: a miss in the first seconds of the
        # day is one miss a minute, not a rate of 1 in 5.
        missed_rate = sum(self._outcomes) / self._minute_ticks
        timing = max(ratio, 10.0 * missed_rate)
        self._timing_ema += self._alpha * (timing - self._timing_ema)
        sleepiness = max(fill, self._timing_ema)
        self.reading = DrowsinessReading(fill, ratio, missed_rate, sleepiness, p95 * 1e3, p99 * 1e3)
        return self.reading

    @property
    def drowsy(self) -> bool:
        return self.reading.sleepiness >= self.config.drowsy_at

    @property
    def wants_sleep(self) -> bool:
        return self.reading.sleepiness >= self.config.sleep_at
