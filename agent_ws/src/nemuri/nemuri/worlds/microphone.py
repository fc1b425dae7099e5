"""The simulated microphone: everything that sounds near the robot, one tick's block at a time.

The built-in world has no air, so its microphone is a mixer. Sounds are scheduled on the
microphone's own sample counter — the caretaker's utterances (`play`), the robot's own
voice arriving chunk by chunk from its speaker (`feed`) — and `block()` hands out the next
tick's samples (1600 at 16 kHz and 10 Hz): their sum over a low noise floor, rounded and
clipped to int16 like an ADC. Counting samples rather than reading a clock keeps block k
exactly the sim-time span [k, k + 1) / tick_hz, so a word said at tick k starts on that
block's first sample, whatever the wall clock did.

The noise floor is white and drawn from a generator seeded by `reset(seed)`: the same seed
and the same sounds give the same samples. It is there because a real microphone is never
digitally silent; set `noise_dbfs` to -inf for digital silence. No ROS, no MuJoCo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nemuri.contracts import TICK_HZ
from nemuri.senses.voice import SAMPLE_RATE

FULL_SCALE = 32768.0  # int16 full scale: 0 dBFS


@dataclass(frozen=True)
class MicrophoneConfig:
    """The microphone's format and noise (defaults: DESIGN.md Contracts, 16 kHz mono int16)."""

    tick_hz: float = TICK_HZ
    sample_rate: int = SAMPLE_RATE
    noise_dbfs: float = -60.0  # RMS of the white noise floor; -inf: digital silence
    # How far ahead of the block being heard one source may queue audio: a speaker that
    # feeds faster than it plays is dropped past this, not buffered without bound.
    max_backlog_s: float = 10.0

    @property
    def block_samples(self) -> int:
        """Samples per tick; the tick must be a whole number of samples."""
        n = self.sample_rate / self.tick_hz
        if n < 1 or abs(n - round(n)) > 1e-9:
            raise ValueError(
                f"{self.sample_rate} Hz audio does not divide into whole blocks at "
                f"{self.tick_hz} Hz ticks"
            )
        return round(n)


@dataclass
class _Sound:
    start: int  # sample index of its first sample on the microphone's counter
    samples: np.ndarray  # float64, int16 scale, gain applied

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


class Microphone:
    """A mono microphone hearing scheduled sounds over a noise floor (see module docstring)."""

    def __init__(self, config: MicrophoneConfig | None = None, seed: int = 0) -> None:
        self.config = config or MicrophoneConfig()
        self._n = self.config.block_samples
        self._noise_rms = FULL_SCALE * 10.0 ** (self.config.noise_dbfs / 20.0)
        if not math.isfinite(self._noise_rms):
            raise ValueError(f"noise_dbfs must be finite or -inf, got {self.config.noise_dbfs}")
        self.reset(seed)

    @property
    def block_samples(self) -> int:
        """Samples in one block, i.e. one tick."""
        return self._n

    @property
    def position(self) -> int:
        """Sample index of the next block's first sample (= blocks handed out x block size)."""
        return self._position

    @property
    def sounding(self) -> bool:
        """Whether some scheduled sound has samples not yet handed out."""
        return any(s.end > self._position for s in self._sounds)

    def reset(self, seed: int = 0) -> None:
        """Nothing scheduled, sample 0, noise generator seeded; `dropped` back to 0."""
        self._sounds: list[_Sound] = []
        self._stream_end: dict[str, int] = {}
        self._position = 0
        self._rng = np.random.default_rng(seed)
        self.dropped = 0  # chunks refused by feed() for running too far ahead

    def play(self, audio: np.ndarray, gain: float = 1.0) -> int:
        """Start `audio` (int16 samples, or floats on the int16 scale) with the next block.

        Mixed over whatever else is sounding, as two voices in one room are. Returns the
        sample index it starts at.
        """
        return self._schedule(self._position, audio, gain)

    def feed(self, source: str, audio: np.ndarray, gain: float = 1.0) -> int | None:
        """Add a chunk of a continuous stream: it starts where `source`'s last chunk ends.

        A speaker delivers its sound in chunks whose arrival jitters against our ticks; two
        chunks arriving within one tick must play one after the other, not on top of each
        other. A chunk arriving after the stream ran dry starts with the next block. Returns
        its start sample, or None when it would start more than `max_backlog_s` ahead
        (dropped and counted in `dropped`).
        """
        start = max(self._position, self._stream_end.get(source, 0))
        if start - self._position > self.config.max_backlog_s * self.config.sample_rate:
            self.dropped += 1
            return None
        start = self._schedule(start, audio, gain)
        self._stream_end[source] = start + len(audio)
        return start

    def block(self) -> np.ndarray:
        """The next tick's samples, int16 (block_samples,): sounds + noise, clipped."""
        lo, hi = self._position, self._position + self._n
        if self._noise_rms > 0.0:
            mix = self._rng.normal(0.0, self._noise_rms, self._n)
        else:
            mix = np.zeros(self._n)
        for sound in self._sounds:
            a, b = max(sound.start, lo), min(sound.end, hi)
            if b > a:
                mix[a - lo : b - lo] += sound.samples[a - sound.start : b - sound.start]
        self._sounds = [s for s in self._sounds if s.end > hi]
        self._position = hi
        return np.clip(np.rint(mix), -FULL_SCALE, FULL_SCALE - 1).astype(np.int16)

    def _schedule(self, start: int, audio: np.ndarray, gain: float) -> int:
        samples = np.asarray(audio, dtype=np.float64)
        if samples.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
        if not np.isfinite(samples).all() or not math.isfinite(gain):
            raise ValueError("audio samples and gain must be finite")
        if len(samples):
            self._sounds.append(_Sound(start, samples * gain))
        return start


def rms_dbfs(samples: np.ndarray) -> float:
    """Loudness of int16 samples as RMS in dBFS (-inf for digital silence)."""
    power = float(np.mean(np.square(np.asarray(samples, dtype=np.float64)))) if len(samples) else 0
    return 10.0 * math.log10(power / FULL_SCALE**2) if power > 0 else -math.inf
