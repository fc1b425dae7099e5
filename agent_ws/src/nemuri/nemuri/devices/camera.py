"""A camera source through OpenCV: a device index, a device path, a stream URL or a video file.

One thread reads frames as fast as the source gives them (a device paces itself; a file
is paced at its own frame rate, else at `fps`) and hands each to a callback as RGB uint8
(H, W, 3) with the wall-clock time it was read, in ns. A camera that stops delivering ends
the thread and says why in `problem`; nothing retries behind the caller's back, because a
node that stops publishing is exactly what the core's staleness check is there to see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FrameCallback = Callable[[int, np.ndarray], None]  # (stamp ns, RGB frame)


class CameraError(RuntimeError):
    """The camera could not be opened or configured; the message says which and how."""


@dataclass(frozen=True)
class CameraConfig:
    """What to open and how: `device` "0" is /dev/video0, else a path or a URL."""

    device: str = "0"
    width: int = 0  # requested capture size; 0 keeps the source's own
    height: int = 0
    fps: float = 0.0  # requested rate (devices) or playback rate (files); 0: the source's


def _is_file(device: str) -> bool:
    return "://" not in device and not device.startswith("/dev/") and Path(device).is_file()


class OpenCVCamera:
    """Reads frames on a thread of its own and hands them to `on_frame` (see module doc)."""

    def __init__(
        self,
        config: CameraConfig,
        on_frame: FrameCallback,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        import cv2  # opencv-python-headless: only a camera source needs it

        self.config = config
        self._cv2 = cv2
        self._on_frame = on_frame
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0
        self.problem = ""
        device = config.device.strip()
        if not device:
            raise CameraError("no camera device given (an index such as 0, a path or a URL)")
        self.is_file = _is_file(device)
        self._capture = cv2.VideoCapture(int(device) if device.isdigit() else device)
        if not self._capture.isOpened():
            raise CameraError(f"cannot open camera {device!r} (is it connected and readable?)")
        if config.width > 0 and config.height > 0 and not self.is_file:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        if config.fps > 0 and not self.is_file:
            self._capture.set(cv2.CAP_PROP_FPS, config.fps)
        source_fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        # A file has no clock of its own: without pacing it would be read in a blink.
        rate = config.fps if config.fps > 0 else source_fps
        self._file_period = 1.0 / rate if self.is_file and rate > 0 else 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nemuri-camera", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the thread and release the device (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._capture.release()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            ok, frame = self._capture.read()
            if not ok or frame is None:
                self.problem = (
                    "end of the video file" if self.is_file else "camera stopped giving frames"
                )
                return
            stamp = self._clock()
            rgb = self._rgb(frame)
            self.frames += 1
            self._on_frame(stamp, rgb)
            if self._file_period:
                next_at += self._file_period
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _rgb(self, frame: np.ndarray) -> np.ndarray:
        """OpenCV's BGR (or grey) as contiguous RGB uint8."""
        cv2 = self._cv2
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
