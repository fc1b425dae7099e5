"""A voice: espeak-ng speech as 16 kHz mono int16, the audio format of the whole agent.

Two speakers use it: the caretaker naming objects into the simulated microphone, and the
speech node voicing the agent's own words (so the robot hears itself). Both need the same
sound for the same word, so synthesis is a pure function of (text, voice, speed), cached.

espeak-ng writes 22050 Hz; we resample to 16 kHz here with a windowed-sinc polyphase
filter in numpy, because scipy is not a dependency and linear interpolation would alias
the 8-11 kHz band of the fricatives ("sheep") down into the band the log-mel sees.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # DESIGN.md Contracts: audio is 16 kHz mono int16
ESPEAK = "espeak-ng"

# Samples quieter than this (int16 full scale 32767) count as silence when trimming, so an
# utterance starts at its first sound: its word is published at exactly that onset.
_SILENCE_LEVEL = 64
_TRIM_MARGIN_S = 0.005
_RESAMPLE_BLOCK = 4096


class VoiceError(RuntimeError):
    """espeak-ng could not speak the text (bad voice, failed run)."""


class VoiceUnavailable(VoiceError):
    """espeak-ng is not installed on this machine."""


@dataclass(frozen=True)
class VoiceConfig:
    """Which espeak-ng voice speaks, and how fast (words per minute, espeak's -s)."""

    voice: str = "en-us"
    speed: int = 150


def espeak_available() -> bool:
    """Whether espeak-ng is on PATH (tests skip, or fail under NEMURI_REQUIRE_ALL=1)."""
    return shutil.which(ESPEAK) is not None


class Voice:
    """Speaks text as 16 kHz mono int16; callable, so a caretaker takes any `str -> audio`."""

    def __init__(self, config: VoiceConfig | None = None) -> None:
        self.config = config or VoiceConfig()

    def __call__(self, text: str) -> np.ndarray:
        return synthesize(text, self.config.voice, self.config.speed)


@lru_cache(maxsize=1024)
def synthesize(text: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng: int16 samples at 16 kHz, leading and trailing silence cut.

    Cached per (text, voice, speed): a day repeats each word a dozen times and espeak-ng
    costs a process start. The returned array is read-only because the cache shares it.
    """
    text = " ".join(text.split())
    if not text:
        raise VoiceError("nothing to say: the text is empty")
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise VoiceUnavailable(
            "espeak-ng is not installed; install it (Debian/Ubuntu: apt-get install espeak-ng)"
        )
    with tempfile.TemporaryDirectory(prefix="nemuri-voice-") as tmp:
        path = Path(tmp) / "speech.wav"
        # Text goes on stdin, never argv, so a word starting with '-' is not an option.
        run = subprocess.run(
            [exe, "-v", voice, "-s", str(int(speed)), "-w", str(path), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=30,
            check=False,
        )
        if run.returncode != 0 or not path.exists():
            # espeak-ng prints some errors (an unknown voice) on stdout, not stderr
            err = (run.stderr + run.stdout).decode("utf-8", "replace").strip()
            raise VoiceError(f"espeak-ng failed for voice {voice!r}: {err or run.returncode}")
        rate, samples = _read_wav(path)
    audio = resample(samples.astype(np.float64), rate, SAMPLE_RATE)
    audio = np.clip(np.rint(_trim(audio, SAMPLE_RATE)), -32768, 32767).astype(np.int16)
    audio.flags.writeable = False
    return audio


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, mono int16 samples) of a 16-bit PCM wav."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise VoiceError(f"espeak-ng wrote {8 * wav.getsampwidth()}-bit audio, expected 16")
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return rate, samples.reshape(-1, channels).mean(axis=1)


def _trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """Cut silence at both ends, keeping a few ms so the onset is not clipped."""
    loud = np.flatnonzero(np.abs(audio) > _SILENCE_LEVEL)
    if loud.size == 0:
        return audio[:0]
    margin = int(_TRIM_MARGIN_S * rate)
    return audio[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def resample(
    samples: np.ndarray, rate_in: int, rate_out: int, zero_crossings: int = 16
) -> np.ndarray:
    """Band-limited resampling by a rational factor (polyphase windowed sinc), as float64.

    Conceptually: insert `up - 1` zeros between samples, low-pass at the lower of the two
    Nyquist frequencies, keep every `down`-th sample. Only the taps that meet a real input
    sample are computed, so each output costs about 2 * zero_crossings * down / up
    multiplies. `zero_crossings` per side sets the filter's sharpness.
    """
    x = np.asarray(samples, dtype=np.float64)
    g = gcd(int(rate_in), int(rate_out))
    up, down = int(rate_out) // g, int(rate_in) // g
    if up == down:
        return x.copy()
    stride = max(up, down)  # the prototype's zero crossings are this many upsampled samples apart
    half = zero_crossings * stride
    n = np.arange(-half, half + 1)
    taps = np.sinc(n / stride) * np.kaiser(2 * half + 1, 8.0) * (up / stride)  # gain `up`

    n_out = -(-len(x) * up // down)  # ceil
    width = -(-(2 * half + 1) // up)  # input samples under the filter, per output
    out = np.empty(n_out)
    for start in range(0, n_out, _RESAMPLE_BLOCK):  # blocks bound the (outputs, width) arrays
        m = np.arange(start, min(start + _RESAMPLE_BLOCK, n_out))[:, None]
        # Input samples i whose tap j = m*down + half - i*up falls inside the filter.
        i = (m * down + half) // up - np.arange(width)[None, :]
        j = m * down + half - i * up
        valid = (i >= 0) & (i < len(x)) & (j <= 2 * half)
        picked = taps[np.clip(j, 0, 2 * half)] * x[np.clip(i, 0, len(x) - 1)]
        out[start : start + len(m)] = np.where(valid, picked, 0.0).sum(axis=1)
    return out
