"""The serial link to the body's firmware: pyserial, a reader thread, reconnection, health.

One thread owns reading: it opens the port, parses STATE frames as they come and hands
each to a callback, and when the port fails (a USB cable pulled, the device node gone, a
pty whose other side closed) it closes it and tries again every `reconnect_s`, for as long
as the link lives. Sending happens on the caller's thread: pyserial allows one reader and
one writer at once, and a send while the port is down is refused (returns False), never
queued, because a target that arrives late is worse than none (the body's watchdog rests).

Health counts what a person debugging a cable wants to see: frames good and bad, frames
dropped (gaps in the body's sequence numbers), reconnects, the last error and how old the
last state is; the body's own counters come in every STATE frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from nemuri.body.protocol import (
    MSG_STATE,
    BodyState,
    FrameParser,
    decode_state,
    encode_targets,
)


@dataclass(frozen=True)
class SerialLinkConfig:
    """Where the body is and how patiently to look for it."""

    port: str = "/dev/ttyACM0"
    baud: int = 115200
    reconnect_s: float = 0.5  # between attempts to open the port
    read_timeout_s: float = 0.02  # how long a read waits: bounds how fast close() returns

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("SerialLinkConfig needs a port")
        if self.baud <= 0 or self.reconnect_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError(f"bad SerialLinkConfig: {self}")


@dataclass(frozen=True)
class LinkHealth:
    """A snapshot of the link for /diagnostics."""

    connected: bool
    frames_ok: int  # STATE frames taken in
    frames_bad: int  # candidate frames that failed length, version or CRC
    frames_dropped: int  # STATE frames lost, from gaps in the body's sequence numbers
    frames_unexpected: int  # good frames of another type or size than STATE
    bytes_skipped: int
    sends: int
    sends_refused: int  # while disconnected, or the write failed or timed out
    reconnects: int  # times the port came back after it was lost
    last_state_age_s: float | None  # None: no state since the link started
    last_error: str
    body: BodyState | None  # the body's own counters, from its last STATE frame


StateCallback = Callable[[BodyState, float], None]  # (state, time.monotonic() it arrived)


class SerialLink:
    """A running link to one port (module docstring). `close()` ends it."""

    def __init__(self, config: SerialLinkConfig, on_state: StateCallback | None = None) -> None:
        self.config = config
        self._on_state = on_state
        self._lock = threading.Lock()  # guards the port handle and the counters
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._seq = 0
        self._parser = FrameParser()
        self._counts = {
            "frames_ok": 0,
            "frames_dropped": 0,
            "frames_unexpected": 0,
            "sends": 0,
            "sends_refused": 0,
            "reconnects": 0,
        }
        self._parsed = (0, 0)  # (bad, skipped) of parsers of earlier connections
        self._ever_connected = False
        self._last_seq: int | None = None
        self._last_state: BodyState | None = None
        self._last_state_at: float | None = None
        self._last_error = ""
        self._thread = threading.Thread(target=self._run, name="serial-link", daemon=True)
        self._thread.start()

    # -- the caller's side --------------------------------------------------------------
    def send_targets(self, pulse_us: tuple[int, ...] | list[int]) -> int | None:
        """Send one TARGETS frame; its sequence number, or None when it could not go out.

        Pulses outside the protocol's range raise ProtocolError before anything is sent.
        """
        with self._lock:
            port, seq = self._port, self._seq
            frame = encode_targets(seq, pulse_us)
            if port is None:
                self._counts["sends_refused"] += 1
                return None
            self._seq = (seq + 1) & 0xFF
        try:
            port.write(frame)
        except (serial.SerialException, OSError) as err:  # SerialTimeoutException included
            with self._lock:
                self._counts["sends_refused"] += 1
                self._last_error = f"write: {err}"
            return None
        with self._lock:
            self._counts["sends"] += 1
        return seq

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._port is not None

    def latest(self) -> BodyState | None:
        """The last STATE the body sent (across reconnects), or None."""
        with self._lock:
            return self._last_state

    def health(self) -> LinkHealth:
        with self._lock:
            age = None if self._last_state_at is None else time.monotonic() - self._last_state_at
            return LinkHealth(
                connected=self._port is not None,
                frames_bad=self._parsed[0] + self._parser.frames_bad,
                bytes_skipped=self._parsed[1] + self._parser.bytes_skipped,
                last_state_age_s=age,
                last_error=self._last_error,
                body=self._last_state,
                **self._counts,
            )

    def close(self) -> None:
        """Stop the reader and let go of the port (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._drop_port("")

    # -- the reader thread --------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._port
            if port is None:
                if not self._open():
                    self._stop.wait(self.config.reconnect_s)
                continue
            try:
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError) as err:
                # TypeError: pyserial reading a port closed under it by close()
                self._drop_port(f"read: {err}")
                continue
            if data:
                self._take(data)

    def _open(self) -> bool:
        try:
            port = serial.Serial(
                self.config.port,
                self.config.baud,
                timeout=self.config.read_timeout_s,
                write_timeout=0.1,
                exclusive=True,
            )
            port.reset_input_buffer()  # what queued while nobody read is stale
        except (serial.SerialException, OSError, ValueError) as err:
            with self._lock:
                self._last_error = f"open {self.config.port}: {err}"
            return False
        with self._lock:
            if self._ever_connected:
                self._counts["reconnects"] += 1
            self._ever_connected = True
            self._port = port
            p = self._parser
            self._parsed = (self._parsed[0] + p.frames_bad, self._parsed[1] + p.bytes_skipped)
            self._parser = FrameParser()  # a frame cut by the disconnect is not resumed
            self._last_seq = None  # the body may have restarted: no gap to count
        return True

    def _drop_port(self, error: str) -> None:
        with self._lock:
            port, self._port = self._port, None
            if error:
                self._last_error = error
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _take(self, data: bytes) -> None:
        arrived = time.monotonic()
        for frame in self._parser.feed(data):
            if frame.type != MSG_STATE:
                with self._lock:
                    self._counts["frames_unexpected"] += 1
                continue
            try:
                state = decode_state(frame)
            except ValueError:
                with self._lock:
                    self._counts["frames_unexpected"] += 1
                continue
            with self._lock:
                if self._last_seq is not None:
                    self._counts["frames_dropped"] += (frame.seq - self._last_seq - 1) & 0xFF
                self._last_seq = frame.seq
                self._counts["frames_ok"] += 1
                self._last_state, self._last_state_at = state, arrived
            if self._on_state is not None:
                self._on_state(state, arrived)
