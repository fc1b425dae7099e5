"""The live status line of `nemuri up`: what the core is doing, read off its topics.

The line is built from /nemuri/state and /nemuri/speech as any outside observer sees them,
not from the core's internals, so it works the same whether the core runs in our process
or in a child, and the tick rate it shows is the rate that actually reaches the graph.
`StatusBoard` holds the numbers and formats the line (plain Python, tested without ROS);
`StatusListener` is the small node that feeds it; `StatusPrinter` writes it to a terminal
(one line rewritten in place) or to a pipe (a plain line every few seconds, log-friendly).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol, TextIO

from nemuri_msgs.msg import AgentState
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

PHASES = {AgentState.AWAKE: "awake", AgentState.DROWSY: "drowsy", AgentState.ASLEEP: "asleep"}
RATE_WINDOW_S = 3.0  # long enough to average timer jitter, short enough to show a stall

# Best effort matches a publisher of either reliability: the status line must never be
# the reason a QoS mismatch hides the core's state from us.
WATCH_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=20,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)


class StateLike(Protocol):
    """The AgentState fields the status line reads."""

    phase: int
    tick: int
    sleepiness: float
    context_length: int
    context_fill: float
    step_latency_p99_ms: float
    missed_ticks: int
    model_version: str
    last_spoken: str
    note: str


class StatusBoard:
    """The latest state, a measured tick rate and the last words; thread-safe."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._ticks: deque[tuple[float, int]] = deque()
        self._state: StateLike | None = None
        self._spoken: tuple[float, str] | None = None

    def on_state(self, msg: StateLike, now: float) -> None:
        """Record a state message received at `now` (monotonic seconds)."""
        with self._lock:
            if self._ticks and msg.tick < self._ticks[-1][1]:
                self._ticks.clear()  # a new brain or a restarted core: a new count
            self._ticks.append((now, int(msg.tick)))
            while self._ticks and now - self._ticks[0][0] > self._window_s:
                self._ticks.popleft()
            self._state = msg

    def on_speech(self, text: str, now: float) -> None:
        with self._lock:
            self._spoken = (now, text)

    def tick_hz(self, now: float) -> float | None:
        """Ticks per second over the window, from the core's own tick counter.

        The counter, not the message count: a state message lost on the way does not
        lower the rate; a tick the core missed does. None until the window holds enough.
        """
        with self._lock:
            recent = [(t, k) for t, k in self._ticks if now - t <= self._window_s]
        if len(recent) < 2 or recent[-1][0] - recent[0][0] < 0.5:
            return None
        (t0, k0), (t1, k1) = recent[0], recent[-1]
        return (k1 - k0) / (t1 - t0)

    def line(self, now: float) -> str:
        """One status line, e.g. `awake | tick 120 @ 10.0 Hz | p99 2.1 ms | ...`."""
        hz = self.tick_hz(now)
        with self._lock:
            state, spoken = self._state, self._spoken
        if state is None:
            return "waiting for /nemuri/state ..."
        rate = f"{hz:.1f} Hz" if hz is not None else "-- Hz"
        parts = [
            PHASES.get(state.phase, f"phase {state.phase}"),
            f"tick {state.tick} @ {rate}",
            f"p99 {state.step_latency_p99_ms:.1f} ms",
            f"sleepy {state.sleepiness:.2f}",
            f"ctx {state.context_length} ({100 * state.context_fill:.0f}%)",
            f"missed {state.missed_ticks}",
            f"brain {state.model_version or '?'}",
        ]
        if spoken is not None:
            parts.append(f'said "{spoken[1]}" {now - spoken[0]:.0f}s ago')
        elif state.last_spoken:
            parts.append(f'said "{state.last_spoken}"')
        if state.note:
            parts.append(state.note)
        return " | ".join(parts)


class StatusListener(Node):
    """Subscribes to the core's state and speech and hands them to a StatusBoard."""

    def __init__(self, board: StatusBoard, name: str = "nemuri_status") -> None:
        super().__init__(name)
        self._board = board
        self.create_subscription(AgentState, "/nemuri/state", self._on_state, WATCH_QOS)
        self.create_subscription(String, "/nemuri/speech", self._on_speech, WATCH_QOS)

    def _on_state(self, msg: AgentState) -> None:
        self._board.on_state(msg, time.monotonic())

    def _on_speech(self, msg: String) -> None:
        self._board.on_speech(msg.data, time.monotonic())


class StatusPrinter:
    """Writes status lines: rewritten in place on a terminal, appended every few s elsewhere."""

    def __init__(self, out: TextIO, tty: bool, every_s: float = 2.0) -> None:
        self._out = out
        self._tty = tty
        self._every_s = 0.25 if tty else every_s
        self._last = -float("inf")

    def show(self, line: str, now: float) -> None:
        if now - self._last < self._every_s:
            return
        self._last = now
        if self._tty:
            self._out.write(f"\r{line}\x1b[K")
        else:
            self._out.write(f"{line}\n")
        self._out.flush()

    def finish(self) -> None:
        """End the rewritten line so what follows starts on a line of its own."""
        if self._tty and self._last > -float("inf"):
            self._out.write("\n")
            self._out.flush()
        self._last = -float("inf")
