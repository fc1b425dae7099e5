"""Sound in and out: a sounddevice microphone, a WAV file microphone, a sounddevice speaker.

Both microphones hand 16 kHz mono int16 blocks of one tick (1600 samples at 10 Hz) to a
callback with the wall-clock time of the block's first sample, in ns, as AudioChunk
stamps it. The sounddevice one runs PortAudio's callback thread; the file one reads a WAV
on a thread of its own at real-time pace, so a test or a replay hears a recording the way
the robot would hear the room. The speaker plays whole utterances on a sounddevice output.

`device` is what sounddevice takes: "" (the default device), an index ("3") or a name
substring ("pulse", "USB Audio"). On a machine with PulseAudio, "pulse" goes through its
ALSA plugin to the default sink and source. PortAudio lists devices once, when it starts;
`refresh_devices()` makes it look again (a sound server started after the first import).
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nemuri.senses.voice import SAMPLE_RATE, resample

BlockCallback = Callable[[int, np.ndarray], None]  # (stamp ns of the first sample, int16)


class AudioDeviceError(RuntimeError):
    """A sound device or file could not be opened as asked; the message says how to fix it."""


@dataclass(frozen=True)
class AudioConfig:
    """Where sound comes from or goes, and in what blocks."""

    device: str = ""  # sounddevice device ("" default, index or name); a WAV path for files
    sample_rate: int = SAMPLE_RATE
    block_samples: int = SAMPLE_RATE // 10  # one tick at 10 Hz


def sounddevice_module() -> Any:
    """The sounddevice module, or AudioDeviceError saying how to get it and PortAudio."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:  # OSError: the package is there, PortAudio is not
        raise AudioDeviceError(
            f"sound needs the sounddevice package and PortAudio ({err}); install them "
            "(pip install sounddevice; apt-get install libportaudio2)"
        ) from err
    return sounddevice


def refresh_devices() -> None:
    """Make PortAudio list the devices again (its list is made once, at import)."""
    sd = sounddevice_module()
    sd._terminate()  # sounddevice's own way to re-scan; no public API does it
    sd._initialize()


def device_argument(device: str) -> int | str | None:
    """A config string as sounddevice wants it: None (default), an index or a name."""
    device = device.strip()
    if not device:
        return None
    return int(device) if device.isdigit() else device


class _Microphone:
    """What every microphone shares: blocks go to `on_block`, stamped by `clock`."""

    def __init__(
        self,
        config: AudioConfig,
        on_block: BlockCallback,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self._on_block = on_block
        self._clock = clock
        self.blocks = 0
        self._open()

    def _open(self) -> None:
        """Open the source of `self.config`; raises AudioDeviceError naming what is wrong."""
        raise NotImplementedError

    def _deliver(self, block: np.ndarray, frames: int) -> None:
        """A block of `frames` samples, whole now: its first sample was heard that long ago."""
        self.blocks += 1
        stamp = self._clock() - frames * 1_000_000_000 // self.config.sample_rate
        self._on_block(stamp, block)


class SoundDeviceMicrophone(_Microphone):
    """An input stream of 16 kHz mono int16, one block per callback (see module doc)."""

    def _open(self) -> None:
        sd = sounddevice_module()
        config = self.config
        self.overflows = 0
        try:
            self._stream = sd.InputStream(
                device=device_argument(config.device),
                samplerate=config.sample_rate,
                channels=1,
                dtype="int16",
                blocksize=config.block_samples,
                callback=self._callback,
            )
        except (sd.PortAudioError, ValueError) as err:
            raise AudioDeviceError(
                f"cannot open microphone {config.device or '(default)'!r} at "
                f"{config.sample_rate} Hz mono: {err}; list devices with "
                "`python -m sounddevice`, and on PulseAudio try device 'pulse'"
            ) from err
        self._block_ns = config.block_samples * 1_000_000_000 // config.sample_rate

    def _callback(self, indata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        self._deliver(indata[:, 0].copy(), frames)

    def start(self) -> None:
        self._stream.start()

    @property
    def running(self) -> bool:
        return bool(self._stream.active)

    @property
    def problem(self) -> str:
        return f"{self.overflows} input overflow(s)" if self.overflows else ""

    def close(self) -> None:
        self._stream.close(ignore_errors=True)


def read_wav(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A 16-bit PCM WAV as mono int16 at `sample_rate` (channels averaged, resampled)."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise AudioDeviceError(f"{path}: {8 * wav.getsampwidth()}-bit audio, expected 16")
            rate, channels = wav.getframerate(), wav.getnchannels()
            data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (OSError, EOFError, wave.Error) as err:
        raise AudioDeviceError(f"cannot read WAV file {path}: {err}") from err
    mono = data.reshape(-1, channels).mean(axis=1)
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    return np.clip(np.rint(mono), -32768, 32767).astype(np.int16)


class WavFileMicrophone(_Microphone):
    """A WAV file heard as a microphone: one block per block-time, on a thread of its own."""

    def _open(self) -> None:
        self.samples = read_wav(Path(self.config.device), self.config.sample_rate)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.problem = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nemuri-wav-mic", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        n, rate = self.config.block_samples, self.config.sample_rate
        started = time.monotonic()
        for k, first in enumerate(range(0, len(self.samples), n)):
            # Block k is whole once its last sample has "sounded", as from a sound card.
            if self._stop.wait(max(0.0, started + (k + 1) * n / rate - time.monotonic())):
                return
            self._deliver(self.samples[first : first + n].copy(), n)
        self.problem = "end of WAV file"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None


def open_microphone(
    kind: str, config: AudioConfig, on_block: BlockCallback, clock: Callable[[], int] = time.time_ns
) -> SoundDeviceMicrophone | WavFileMicrophone:
    """The microphone for a node's `source` parameter: `sounddevice` or `file`."""
    if kind == "sounddevice":
        return SoundDeviceMicrophone(config, on_block, clock)
    if kind == "file":
        return WavFileMicrophone(config, on_block, clock)
    raise AudioDeviceError(f"no microphone kind {kind!r}: sounddevice or file")


class SoundDeviceSpeaker:
    """Plays whole utterances on a sounddevice output; busy until each has had time to end.

    16 kHz goes to the device as it is when the device takes it; otherwise the utterance is
    resampled to the device's own rate first (a USB card at 48 kHz only), so the voice
    never fails for want of a rate.
    """

    def __init__(self, device: str = "") -> None:
        self._sd = sounddevice_module()
        self._device = device_argument(device)
        try:
            self._sd.check_output_settings(
                device=self._device, samplerate=SAMPLE_RATE, channels=1, dtype="int16"
            )
            self.rate = SAMPLE_RATE
        except (self._sd.PortAudioError, ValueError):
            try:
                info = self._sd.query_devices(self._device, "output")
            except (self._sd.PortAudioError, ValueError) as err:
                raise AudioDeviceError(
                    f"no sound output {device or '(default)'!r}: {err}; list devices with "
                    "`python -m sounddevice`, and on PulseAudio try device 'pulse'"
                ) from err
            self.rate = int(info["default_samplerate"])
        self._until = 0.0
        self.played = 0

    def start(self, audio: np.ndarray) -> None:
        samples = np.asarray(audio, dtype=np.int16)
        if self.rate != SAMPLE_RATE:
            resampled = resample(samples.astype(np.float64), SAMPLE_RATE, self.rate)
            samples = np.clip(np.rint(resampled), -32768, 32767).astype(np.int16)
        try:
            self._sd.play(samples, self.rate, device=self._device)  # returns at once
        except self._sd.PortAudioError as err:
            raise AudioDeviceError(
                f"cannot play on {self._device or '(default)'!r}: {err}"
            ) from err
        self._until = time.monotonic() + len(samples) / self.rate
        self.played += 1

    def busy(self) -> bool:
        return time.monotonic() < self._until

    def tick(self, now_ns: int) -> None:
        return None

    def close(self) -> None:
        self._sd.stop()
