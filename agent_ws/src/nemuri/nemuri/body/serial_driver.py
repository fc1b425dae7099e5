"""The serial driver: the safety gate's joint velocities to the body's firmware as targets.

The firmware takes position targets (servo pulse widths), the gate gives velocities, so
the driver integrates: each tick's target is the last one plus velocity * tick period,
kept inside the joint's URDF range. The integration starts from where the body says its
servos are, and starts again from there whenever the body rested on its own (at boot, or
its watchdog tripped: its `watchdog_trips` counter moved), so a target never jumps back to
where the host last left it.

The other way, every STATE frame becomes a `BodyReading`: joint positions (the feedback
pot where fitted, else the commanded pulse), velocities by difference over the body's own
clock across two ticks (targets move once a tick, state comes at 50 Hz: frame to frame
the difference is a staircase), and pad pressures normalised 0..1. The actuator node
publishes it as /joint_states and /touch, which the proprio and touch nodes read as from
any other body.

Calibration is linear per joint: the URDF's [lower, upper] onto 1000..2000 us (and a pot's
0..1023 onto the same range). The firmware's rest pulses (firmware/src/controller.h) are
contracts.REST_POSE through this same default calibration; a test holds them together.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from nemuri.body.drivers import DriverClosed
from nemuri.body.protocol import ADC_MAX, PULSE_MAX_US, PULSE_MIN_US, BodyState
from nemuri.body.serial_link import LinkHealth, SerialLink, SerialLinkConfig
from nemuri.contracts import JOINTS
from nemuri.worlds.description import JointLimit, joint_limits


@dataclass(frozen=True)
class ServoCalibration:
    """Joint angle (rad) <-> servo pulse width (us), linear per joint."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    min_us: int = PULSE_MIN_US
    max_us: int = PULSE_MAX_US

    @classmethod
    def from_limits(cls, limits: Mapping[str, JointLimit] | None = None) -> ServoCalibration:
        """Each joint's URDF range onto the whole pulse range (the default wiring)."""
        limits = limits or joint_limits()
        return cls(
            lower=tuple(limits[name].lower for name in JOINTS),
            upper=tuple(limits[name].upper for name in JOINTS),
        )

    def to_pulse(self, radians: np.ndarray) -> tuple[int, ...]:
        """Pulse widths for these angles, clamped to the joint ranges."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        q = np.clip(np.asarray(radians, dtype=np.float64), lower, upper)
        span = self.max_us - self.min_us
        pulses = self.min_us + (q - lower) / (upper - lower) * span
        return tuple(int(p) for p in np.rint(pulses))

    def to_radians(self, pulse_us: tuple[int, ...] | np.ndarray) -> np.ndarray:
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        fraction = (np.asarray(pulse_us, dtype=np.float64) - self.min_us) / (
            self.max_us - self.min_us
        )
        return lower + fraction * (upper - lower)

    def pot_to_radians(self, raw: tuple[int, ...] | np.ndarray) -> np.ndarray:
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        return lower + np.asarray(raw, dtype=np.float64) / ADC_MAX * (upper - lower)


@dataclass(frozen=True, eq=False)
class BodyReading:
    """One STATE frame in the units of the rest of nemuri (contracts order)."""

    position: np.ndarray  # rad, JOINTS order
    velocity: np.ndarray  # rad/s, by difference over two ticks (0 at first)
    touch: np.ndarray  # 0..1, TOUCH_PADS order
    arrived: float  # time.monotonic() when the frame arrived
    state: BodyState


ReadingCallback = Callable[[BodyReading], None]


@dataclass(frozen=True)
class SerialDriverConfig:
    """The port and the tick the velocities are integrated over."""

    port: str = "/dev/ttyACM0"
    baud: int = 115200
    tick_hz: float = 10.0
    reconnect_s: float = 0.5

    def link(self) -> SerialLinkConfig:
        return SerialLinkConfig(port=self.port, baud=self.baud, reconnect_s=self.reconnect_s)


class SerialDriver:
    """A JointDriver for the firmware (module docstring); readings go to `on_reading`."""

    def __init__(
        self,
        config: SerialDriverConfig,
        calibration: ServoCalibration | None = None,
        on_reading: ReadingCallback | None = None,
    ) -> None:
        if config.tick_hz <= 0:
            raise ValueError(f"tick_hz must be > 0, got {config.tick_hz}")
        self.config = config
        self.calibration = calibration or ServoCalibration.from_limits()
        self._on_reading = on_reading
        # (uptime_ms, position) over the last two ticks; only the reader thread touches it
        self._recent: deque[tuple[int, np.ndarray]] = deque()
        self._target: np.ndarray | None = None  # only the sending thread touches these
        self._synced_trips: int | None = None
        self._closed = False
        self.link = SerialLink(config.link(), self._on_state)

    def send(self, velocities: np.ndarray) -> None:
        """Integrate one tick of velocities into targets and send them.

        Nothing is sent until the body has reported where it is: the firmware keeps its
        rest pose (and the gate holds) until then.
        """
        if self._closed:
            raise DriverClosed(f"serial driver on {self.config.port} is closed")
        v = np.asarray(velocities, dtype=np.float64)
        if v.shape != (len(JOINTS),):
            raise ValueError(f"expected {len(JOINTS)} joint velocities, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise ValueError(f"refusing non-finite joint velocities {v}")
        state = self.link.latest()
        if state is None:
            return
        if self._target is None or state.watchdog_trips != self._synced_trips:
            self._target = self.calibration.to_radians(state.pulse_us)
            self._synced_trips = state.watchdog_trips
        lower, upper = np.asarray(self.calibration.lower), np.asarray(self.calibration.upper)
        self._target = np.clip(self._target + v / self.config.tick_hz, lower, upper)
        self.link.send_targets(self.calibration.to_pulse(self._target))

    def health(self) -> LinkHealth:
        return self.link.health()

    def close(self) -> None:
        """Stop the link. The body's watchdog then takes it to the rest pose in 250 ms."""
        if not self._closed:
            self._closed = True
            self.link.close()

    def _on_state(self, state: BodyState, arrived: float) -> None:
        cal = self.calibration
        position = cal.to_radians(state.pulse_us)
        fitted = np.array([(state.feedback_mask >> i) & 1 for i in range(len(JOINTS))], bool)
        if fitted.any():
            position = np.where(fitted, cal.pot_to_radians(state.feedback), position)
        window_ms = 2000.0 / self.config.tick_hz
        recent = self._recent
        if recent and not 0 < (state.uptime_ms - recent[-1][0]) & 0xFFFFFFFF < 1000:
            recent.clear()  # the body restarted, or a long gap: a difference means nothing
        recent.append((state.uptime_ms, position))
        while len(recent) > 2 and (state.uptime_ms - recent[1][0]) & 0xFFFFFFFF >= window_ms:
            recent.popleft()
        velocity = np.zeros(len(JOINTS))
        dt = ((state.uptime_ms - recent[0][0]) & 0xFFFFFFFF) / 1000.0
        if dt > 0:
            velocity = (position - recent[0][1]) / dt
        touch = np.asarray(state.touch, dtype=np.float64) / ADC_MAX
        reading = BodyReading(position, velocity, touch, arrived, state)
        if self._on_reading is not None:
            self._on_reading(reading)
