"""Raw sensor data -> the fixed-size float arrays the encoders take (DESIGN.md Contracts).

One function or class per modality, all numpy, no ROS and no torch, so a sensor node, the
training script and the tests prepare inputs the same way:

- vision: any (H, W, 3) uint8 RGB frame -> (3, 96, 96) float32 in [0, 1] (area resize);
- audio: 16 kHz mono int16 -> log-mel (64 mels, 25 ms window, 10 ms hop); `LogMelStream`
  keeps the last second (100 frames) in a ring and computes only the frames each new block
  completes, because the microphone node recomputes "the last 1 s" every tick;
- touch: pressures on the four pads -> [0, 1] (newtons in sim over a 10 N full scale);
- proprio: 5 joint positions + 5 velocities -> about [-1, 1] over the joints' ranges and
  speed limits (the limits travel in the encoder manifest, so a model and the scaling it
  was trained with cannot part).

Bad input raises `SenseInputError` naming what was expected, because a wrong dtype or shape
silently encoded would poison a day log with embeddings nobody can trace back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np

from nemuri.contracts import JOINTS, TOUCH_PADS

# ------------------------------------------------------------------------------ contracts
IMAGE_SIZE: Final[int] = 96  # the encoder's input is IMAGE_SIZE x IMAGE_SIZE RGB

SAMPLE_RATE: Final[int] = 16_000
WINDOW: Final[int] = 400  # 25 ms
HOP: Final[int] = 160  # 10 ms
N_FFT: Final[int] = 512  # the window zero-padded to a power of two
N_MELS: Final[int] = 64
N_FRAMES: Final[int] = 100  # 1 s of hops: the audio encoder's time axis
F_MIN: Final[float] = 60.0  # Hz; below this a small speaker gives nothing but hum
F_MAX: Final[float] = 7_800.0  # Hz; just under Nyquist
# Mel power is floored before the log so digital silence (all zeros) is a finite value:
# 1e-10 of full scale is -100 dB, below int16's quantisation noise.
LOG_FLOOR: Final[float] = 1e-10
# log10 mel power -> encoder input: espeak speech at its normal level spans about
# [-1.7, 1.7] and digital silence sits at LOG_SILENCE = -2. Fixed constants, not
# per-utterance statistics, so loudness is kept: a shout and a whisper of a word differ.
LOG_CENTRE: Final[float] = -6.0
LOG_SCALE: Final[float] = 2.0
LOG_SILENCE: Final[float] = float((np.log10(LOG_FLOOR) - LOG_CENTRE) / LOG_SCALE)

TOUCH_FULL_SCALE_N: Final[float] = 10.0  # sim newtons read as 1.0 (the 5 N wake-up -> 0.5)
PROPRIO_DIM: Final[int] = 2 * len(JOINTS)


class SenseInputError(ValueError):
    """Raw input an encoder cannot take (wrong dtype, shape, rate, or non-finite values)."""


def _require_finite(name: str, values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise SenseInputError(f"{name} contains NaN or inf")


# ------------------------------------------------------------------------------ vision
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging the input pixels each output pixel covers.

    Output pixel i spans [i, i + 1) * n_in / n_out of the input; each input pixel weighs by
    how much of it falls inside, so the rows sum to 1 (what OpenCV's INTER_AREA does when
    shrinking; when enlarging it becomes nearest-neighbour with blended edges).
    """
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    pixel = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0.0, None)
    return (overlap / scale).astype(np.float32)


@lru_cache(maxsize=8)
def _resize_matrices(height: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    return _area_weights(height, size), _area_weights(width, size).T.copy()


def _resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) float32 -> (size, size, 3) float32 by area averaging."""
    try:
        import cv2  # optional: faster for big frames, same INTER_AREA arithmetic
    except ImportError:
        rows, cols = _resize_matrices(image.shape[0], image.shape[1], size)
        # (size, H) @ (H, W*3) then the columns: (3, size, W) @ (W, size)
        tall = (rows @ image.reshape(image.shape[0], -1)).reshape(size, image.shape[1], 3)
        return np.ascontiguousarray((tall.transpose(2, 0, 1) @ cols).transpose(1, 2, 0))
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def prepare_image(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """An RGB frame of any size, (H, W, 3) uint8 -> (3, size, size) float32 in [0, 1].

    Frames are squashed to a square, not cropped, so nothing at the edge of a wide
    camera's view is lost (the encoder learns the aspect on the camera it lives with).
    """
    if not isinstance(image, np.ndarray):
        raise SenseInputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise SenseInputError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise SenseInputError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    pixels = image.astype(np.float32) * (1.0 / 255.0)
    if image.shape[:2] != (size, size):
        pixels = _resize_area(pixels, size)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


# ------------------------------------------------------------------------------ audio
def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)  # HTK's formula


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters, equal area, on the HTK mel scale.

    Equal area (each row sums to the same) so a band's value does not grow with its width:
    the high bands are wide in Hz and would otherwise dominate every frame.
    """
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    bank /= bank.sum(axis=1, keepdims=True)
    return bank


@lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    # (bins, mels), contiguous: power @ bank.T on a transposed view is 6x slower.
    return np.ascontiguousarray(mel_filterbank().T, dtype=np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # Periodic Hann; scaled so a full-scale sine's bin has power ~0.25 whatever the length.
    window = np.hanning(WINDOW + 1)[:WINDOW]
    return (window / window.sum()).astype(np.float32)


def _frames_to_log_mel(signal: np.ndarray, n_frames: int) -> np.ndarray:
    """log10 mel power of the first `n_frames` frames of float32 signals along the last
    axis: (..., n) -> (..., n_frames, N_MELS).

    float32 throughout: training computes ~10^5 clips and the pass is memory-bound; the
    log-mel differs from a float64 one by ~1e-6, far below what the encoder resolves.
    """
    frames = np.lib.stride_tricks.sliding_window_view(signal, WINDOW, axis=-1)
    frames = frames[..., ::HOP, :][..., :n_frames, :]
    power = np.abs(np.fft.rfft(frames * _window(), n=N_FFT, axis=-1))
    power *= power
    return np.log10(np.maximum(power @ _mel_matrix(), LOG_FLOOR))


def _check_samples(samples: np.ndarray, sample_rate: int, batch: bool = False) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise SenseInputError(f"audio must be {SAMPLE_RATE} Hz, got {sample_rate} Hz")
    if not isinstance(samples, np.ndarray) or samples.dtype != np.int16:
        dtype = getattr(samples, "dtype", type(samples).__name__)
        raise SenseInputError(f"audio must be int16 samples, got {dtype}")
    if samples.ndim != 1 and not (batch and samples.ndim == 2):
        expected = "1-D samples (or a (B, n) batch of clips)" if batch else "1-D samples"
        raise SenseInputError(f"audio must be mono, {expected}, got shape {samples.shape}")
    return samples.astype(np.float32) * np.float32(1.0 / 32768.0)


def n_complete_frames(n_samples: int) -> int:
    """How many whole 25 ms frames, 10 ms apart, fit in n_samples."""
    return 0 if n_samples < WINDOW else 1 + (n_samples - WINDOW) // HOP


def log_mel(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Scaled log-mel of a whole int16 recording: (N_MELS, frames) float32.

    Frame k covers samples [k * HOP, k * HOP + WINDOW); no padding, so the streaming
    front end, fed the same samples in any blocks, produces exactly these frames. A (B, n)
    batch of equal-length clips gives (B, N_MELS, frames) in one pass (training makes
    hundreds of clips per step).
    """
    signal = _check_samples(samples, sample_rate, batch=True)
    n = n_complete_frames(signal.shape[-1])
    if n == 0:
        return np.zeros((*signal.shape[:-1], N_MELS, 0), dtype=np.float32)
    scaled = (_frames_to_log_mel(signal, n) - LOG_CENTRE) / LOG_SCALE
    return np.ascontiguousarray(np.swapaxes(scaled, -1, -2), dtype=np.float32)


def last_second(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The encoder's view of a recording: its last N_FRAMES frames, (N_MELS, N_FRAMES)
    (or (B, N_MELS, N_FRAMES) for a (B, n) batch of clips).

    Shorter recordings are preceded by digital silence, as a stream that just started is.
    """
    mel = log_mel(samples, sample_rate)[..., -N_FRAMES:]
    out = np.full((*mel.shape[:-2], N_MELS, N_FRAMES), LOG_SILENCE, dtype=np.float32)
    out[..., N_FRAMES - mel.shape[-1] :] = mel
    return out


class LogMelStream:
    """The last second of log-mel, kept current as microphone blocks arrive.

    `push` takes blocks of any size (AudioChunk-sized); each sample is windowed once and
    each frame computed once, when its last sample arrives. `current` returns the last
    N_FRAMES frames oldest first: a 6,400-float copy out of a ring, cheap at any tick rate.
    Until a second has been heard the older frames read as digital silence.

    A node pushes from its subscription callback and reads on its tick, possibly on
    another thread, so both hold a lock: a tick never sees half a block's frames.
    """

    def __init__(self, n_frames: int = N_FRAMES) -> None:
        self.n_frames = n_frames
        self._lock = threading.Lock()
        self._ring = np.full((n_frames, N_MELS), LOG_SILENCE, dtype=np.float32)
        self._next = 0  # ring row the next frame goes to
        self._pending = np.zeros(0, dtype=np.float32)  # samples not yet past a frame's end
        self.frames_seen = 0

    def reset(self) -> None:
        """Forget everything heard (back to a second of silence)."""
        with self._lock:
            self._ring.fill(LOG_SILENCE)
            self._next = 0
            self._pending = np.zeros(0, dtype=np.float32)
            self.frames_seen = 0

    def push(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> int:
        """Add a block of 16 kHz mono int16 samples; returns how many frames it completed."""
        block = _check_samples(samples, sample_rate)
        with self._lock:
            signal = np.concatenate([self._pending, block])
            n_new = n_complete_frames(len(signal))
            if n_new == 0:
                self._pending = signal
                return 0
            # A block longer than the ring only needs its last n_frames frames computed.
            skip = max(n_new - self.n_frames, 0)
            frames = _frames_to_log_mel(signal[skip * HOP :], n_new - skip)
            rows = (self._next + skip + np.arange(n_new - skip)) % self.n_frames
            self._next = (self._next + n_new) % self.n_frames
            self._ring[rows] = (frames - LOG_CENTRE) / LOG_SCALE
            self._pending = signal[n_new * HOP :]  # the overlap the next frame still needs
            self.frames_seen += n_new
            return n_new

    def current(self) -> np.ndarray:
        """The last second as (N_MELS, n_frames) float32, oldest frame first."""
        with self._lock:
            ordered = np.concatenate([self._ring[self._next :], self._ring[: self._next]])
        return np.ascontiguousarray(ordered.T)


# ------------------------------------------------------------------------------ touch
@dataclass(frozen=True)
class TouchReading:
    """Pressures as nemuri_msgs/Touch carries them: per named pad, newtons or normalised."""

    pressure: np.ndarray | Sequence[float]
    pads: tuple[str, ...] = TOUCH_PADS
    normalised: bool = False  # True: hardware 0..1; False: simulated newtons


def prepare_touch(
    reading: TouchReading | np.ndarray | Sequence[float],
    full_scale_n: float = TOUCH_FULL_SCALE_N,
) -> np.ndarray:
    """Pad pressures -> (4,) float32 in [0, 1], in contracts.TOUCH_PADS order.

    A bare array is newtons in TOUCH_PADS order (what the MuJoCo world returns). Pads the
    reading does not name read 0 (a robot without a head pad still has the others).
    """
    if not isinstance(reading, TouchReading):
        reading = TouchReading(pressure=np.asarray(reading))
    pressure = np.asarray(reading.pressure, dtype=np.float64)
    if pressure.shape != (len(reading.pads),):
        raise SenseInputError(
            f"touch needs one pressure per pad {reading.pads}, got shape {pressure.shape}"
        )
    unknown = set(reading.pads) - set(TOUCH_PADS)
    if unknown:
        raise SenseInputError(f"unknown touch pads {sorted(unknown)}; expected {TOUCH_PADS}")
    _require_finite("touch pressure", pressure)
    scale = 1.0 if reading.normalised else 1.0 / full_scale_n
    out = np.zeros(len(TOUCH_PADS), dtype=np.float32)
    for pad, value in zip(reading.pads, pressure, strict=True):
        out[TOUCH_PADS.index(pad)] = value * scale
    return np.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------------------ proprio
@dataclass(frozen=True)
class JointReading:
    """Joint positions (rad) and velocities (rad/s) as sensor_msgs/JointState carries them."""

    position: np.ndarray | Sequence[float]
    velocity: np.ndarray | Sequence[float]
    names: tuple[str, ...] = JOINTS


@dataclass(frozen=True)
class ProprioScaling:
    """Per-joint centre and half-range of positions, and speed limits, in JOINTS order.

    Trained models record theirs in the manifest; `from_limits` builds it from the URDF.
    """

    centre: tuple[float, ...]
    half_range: tuple[float, ...]
    max_speed: tuple[float, ...]

    @classmethod
    def from_limits(
        cls, lower: Sequence[float], upper: Sequence[float], speed: Sequence[float]
    ) -> ProprioScaling:
        lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        return cls(
            centre=tuple(((lo + hi) / 2).tolist()),
            half_range=tuple(((hi - lo) / 2).tolist()),
            max_speed=tuple(float(s) for s in speed),
        )


def prepare_proprio(
    reading: JointReading | np.ndarray | Sequence[float], scaling: ProprioScaling
) -> np.ndarray:
    """Joint state -> (10,) float32: positions to [-1, 1] over their ranges, then velocities
    over their speed limits, both in contracts.JOINTS order.

    A bare array is the 10 values, positions then velocities, in JOINTS order. Values past
    a limit are kept (clipped at 1.5) rather than cut at 1: a joint pushed past its range is
    worth telling apart from one at the end stop.
    """
    if not isinstance(reading, JointReading):
        flat = np.asarray(reading, dtype=np.float64)
        if flat.shape != (PROPRIO_DIM,):
            raise SenseInputError(
                f"proprio needs {PROPRIO_DIM} values (positions then velocities of {JOINTS}), "
                f"got shape {flat.shape}"
            )
        reading = JointReading(position=flat[: len(JOINTS)], velocity=flat[len(JOINTS) :])
    position = np.asarray(reading.position, dtype=np.float64)
    velocity = np.asarray(reading.velocity, dtype=np.float64)
    n = len(reading.names)
    if position.shape != (n,) or velocity.shape != (n,):
        raise SenseInputError(
            f"joint state for {n} names needs {n} positions and {n} velocities, got "
            f"{position.shape} and {velocity.shape}"
        )
    missing = [name for name in JOINTS if name not in reading.names]
    if missing:
        raise SenseInputError(f"joint state lacks joints {missing}")
    _require_finite("joint position", position)
    _require_finite("joint velocity", velocity)
    order = [reading.names.index(name) for name in JOINTS]
    pos = (position[order] - np.asarray(scaling.centre)) / np.asarray(scaling.half_range)
    vel = velocity[order] / np.asarray(scaling.max_speed)
    return np.clip(np.concatenate([pos, vel]), -1.5, 1.5).astype(np.float32)
