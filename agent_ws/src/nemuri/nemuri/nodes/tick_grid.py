"""Timers on one shared grid of tick instants, so a sense is fresh when the core ticks.

Sensors and the core run their own fixed-rate timers (DESIGN.md, Contracts). Started at
arbitrary moments, the two would sit at an arbitrary phase and an embedding would wait up
to a whole period for the tick that uses it. Instead every nemuri timer fires at
`k * period + phase * period` on its node's clock (wall or /clock sim time): sensors at
phase 0, the core a little later (its `tick_phase`), so each tick consumes embeddings a
few milliseconds old.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rclpy.node import Node
from rclpy.timer import Timer

# A first instant later than this is not kept as the rhythm: max(2 % of a period, 1.5 ms).
LATE_TOLERANCE = 0.02
LATE_FLOOR_NS = 1_500_000


def delay_to_grid_ns(now_ns: int, period_ns: int, phase_ns: int) -> int:
    """Nanoseconds from `now_ns` to the next instant congruent to `phase_ns` mod `period_ns`."""
    return (phase_ns - now_ns) % period_ns


class GridTimer:
    """A periodic timer whose first call lands on the grid; then rcl keeps the rhythm.

    rcl timers fire at start + k * period, so it is enough to start the periodic timer
    from a one-shot timer that fires on the grid.
    """

    def __init__(
        self, node: Node, period_s: float, phase: float, callback: Callable[[], None]
    ) -> None:
        if not 0.0 <= phase < 1.0:
            raise ValueError(f"a tick phase is a fraction of the period in [0, 1), got {phase}")
        self._node, self._callback = node, callback
        self._period_s = period_s
        self._period_ns = round(period_s * 1e9)
        self._phase_ns = round(phase * self._period_ns)
        self._tolerance_ns = max(LATE_TOLERANCE * self._period_ns, LATE_FLOOR_NS)
        self.periodic: Timer | None = None
        self._start: Timer | None = None
        self._arm()

    def _arm(self) -> None:
        now_ns = self._node.get_clock().now().nanoseconds
        delay_ns = delay_to_grid_ns(now_ns, self._period_ns, self._phase_ns) or self._period_ns
        self._start = self._node.create_timer(delay_ns * 1e-9, self._on_grid)

    def _on_grid(self) -> None:
        # rcl's periodic timer counts from its creation, so it is only started from a
        # one-shot that fired on time: a late one (the executor was busy) would make its
        # lateness the phase of every tick after. A late instant still ticks, and re-arms.
        self._node.destroy_timer(self._start)
        self._start = None
        now_ns = self._node.get_clock().now().nanoseconds
        late_ns = (now_ns - self._phase_ns) % self._period_ns
        if late_ns <= self._tolerance_ns:
            self.periodic = self._node.create_timer(self._period_s, self._callback)
        else:
            self._arm()
        self._callback()

    def destroy(self) -> None:
        for timer in (self._start, self.periodic):
            if timer is not None:
                self._node.destroy_timer(timer)


class TicksOnWorker:
    """How a node that ticks on the grid and works on one worker thread stops (a mixin).

    The core and the sensor nodes each step or encode on a single worker, so the executor
    never waits for that work; stopping them is the same: the grid timer and the periodic
    timers go, the work in progress finishes, then the worker; and they start the same way.
    Mixed in before rclpy's lifecycle Node (it handles deactivate and shutdown, then calls
    the Node's), on a node with `param`, `period_s` and `_on_diagnostics_timer`.
    """

    _tick_timer: GridTimer | None
    _periodic: list[Timer]
    _worker: ThreadPoolExecutor | None
    _running: Future | None
    _pubs: dict[str, Any]

    def _start_ticking(self, on_tick: Callable[[], None]) -> None:
        """On activate: the tick at its phase of the grid, and /diagnostics at its rate."""
        phase = float(self.param("tick_phase"))  # type: ignore[attr-defined]
        self._tick_timer = GridTimer(self, self.period_s, phase, on_tick)  # type: ignore[attr-defined, arg-type]
        diagnostics_period = 1.0 / float(self.param("diagnostics_hz"))  # type: ignore[attr-defined]
        self._periodic = [
            self.create_timer(diagnostics_period, self._on_diagnostics_timer)  # type: ignore[attr-defined]
        ]

    def on_deactivate(self, state: Any) -> Any:
        self._stop_ticking()
        return super().on_deactivate(state)  # type: ignore[misc]

    def on_shutdown(self, state: Any) -> Any:
        self.close()
        return super().on_shutdown(state)  # type: ignore[misc]

    def close(self) -> None:
        """Stop ticking and let the work in progress finish (idempotent)."""
        self._stop_ticking()
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def _stop_ticking(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.destroy()
            self._tick_timer = None
        for timer in self._periodic:
            self.destroy_timer(timer)  # type: ignore[attr-defined]
        self._periodic = []
        if self._running is not None:
            self._running.exception()  # waits for the work in progress
        self._stopped_ticking()

    def _stopped_ticking(self) -> None:
        """After the last tick's work has finished: a subclass closes what it kept open."""

    def _destroy_endpoints(self) -> None:
        """The publishers and subscriptions made at configure (on cleanup)."""
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)  # type: ignore[attr-defined]
        for sub in list(self.subscriptions):  # type: ignore[attr-defined]
            self.destroy_subscription(sub)  # type: ignore[attr-defined]
