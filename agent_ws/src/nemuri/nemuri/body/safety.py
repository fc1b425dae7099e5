"""The safety gate: the last word on every joint velocity before a driver sends it.

Pure and deterministic (no ROS, no clock, no threads): the actuator node calls
`SafetyGate.tick` once per actuator tick with that tick's command (or None when none came)
and the measured joint positions, and sends exactly what comes out. Everything the brain,
a bad message or a lost link can do to the robot passes through this one function, so it
is tested here, exhaustively, without DDS.

What it guarantees, per joint (contracts.JOINTS order, rad and rad/s)::

    |v| <= velocity limit (URDF, times velocity_scale)
    q + v * dt stays inside [lower, upper] (URDF); past a limit, only motion back inside
    |v - v_last| <= max_acceleration * dt, except that slowing toward 0 is never limited

Braking is exempt from the rate limit for two reasons: the gate must always be able to
stop (hold, e-stop), and since every one of the three intervals then contains 0 their
intersection is never empty, so position and velocity limits always win.

A command is rejected as a whole (counted, with the reason) when a velocity is NaN or
infinite, a joint is missing or unknown, or the mode is unknown: the joints then hold
(velocity 0) rather than repeat the last command, which was meant for a moment that has
passed. A tick without a valid command holds too; `watchdog_ticks` of them in a row and
the gate drives the joints to the rest pose until a valid velocity command comes. A REST
command asks for the rest pose directly (the core sends it before sleeping). The e-stop
latches: while engaged every output is 0, whatever comes in, until `release_estop()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np

from nemuri.contracts import JOINTS, REST_POSE, TICK_HZ
from nemuri.worlds.description import JointLimit, joint_limits


class Mode(IntEnum):
    """What a command asks for; the values are nemuri_msgs/MotorCommand's mode constants."""

    VELOCITY = 0
    REST = 1


class GateState(Enum):
    """What the gate did with a tick."""

    TRACK = "track"  # followed the command, within the limits
    HOLD = "hold"  # velocity 0: no valid command yet (watchdog counting) or positions unknown
    REST = "rest"  # approaching (or at) the rest pose: asked for, or the watchdog tripped
    ESTOP = "estop"  # velocity 0 while the e-stop is latched


class RejectedCommand(ValueError):
    """A command the gate refuses as a whole; the message says why."""


@dataclass(frozen=True, eq=False)
class Command:
    """One tick's request, MotorCommand without the ROS: velocities or the rest pose.

    `joint_names` empty means contracts.JOINTS order; otherwise velocities are matched by
    name, and the names must be exactly our joints (no guessing at a missing one).
    """

    velocity: Sequence[float] | np.ndarray = ()
    joint_names: Sequence[str] = ()
    mode: int = Mode.VELOCITY

    @classmethod
    def rest(cls) -> Command:
        """The request to go to the rest pose."""
        return cls(mode=Mode.REST)


@dataclass(frozen=True, eq=False)
class GateOutput:
    """One tick's safe joint velocities (rad/s, JOINTS order) and why they are what they are."""

    velocity: np.ndarray
    state: GateState
    reason: str = ""  # empty when the command went through untouched


@dataclass
class GateStats:
    """Counters since the gate was made, for /diagnostics."""

    ticks: int = 0
    clamped: int = 0  # ticks where a limit changed the command
    rejected: int = 0
    last_rejection: str = ""
    watchdog_trips: int = 0
    estops: int = 0  # times the e-stop was engaged (not counting repeats while latched)


@dataclass(frozen=True)
class SafetyConfig:
    """The gate's limits and timing. Joint limits default to the robot's URDF."""

    tick_hz: float = TICK_HZ  # the actuator tick: one output holds for 1 / tick_hz s
    limits: Mapping[str, JointLimit] = field(default_factory=joint_limits)
    velocity_scale: float = 1.0  # fraction of the URDF velocity limits the gate allows
    max_acceleration: float = 10.0  # rad/s^2, the rate limit on every joint
    watchdog_ticks: int = 5  # this many ticks in a row without a valid command: rest pose
    rest_pose: tuple[float, ...] = REST_POSE  # rad
    rest_speed: float = 0.5  # rad/s, top speed while going to the rest pose
    rest_tolerance: float = 0.01  # rad: a joint this close to its rest position stops

    def __post_init__(self) -> None:
        missing = [name for name in JOINTS if name not in self.limits]
        problems = [f"no limits for joints {missing}"] if missing else []
        for name in JOINTS:
            lim = self.limits.get(name)
            if lim is not None and not (lim.lower < lim.upper and lim.velocity > 0):
                problems.append(f"{name}: limits {lim} need lower < upper and velocity > 0")
        if len(self.rest_pose) != len(JOINTS):
            problems.append(f"rest_pose needs {len(JOINTS)} values, got {len(self.rest_pose)}")
        elif not missing:
            outside = [
                name
                for name, q in zip(JOINTS, self.rest_pose, strict=True)
                if not self.limits[name].lower <= q <= self.limits[name].upper
            ]
            if outside:
                problems.append(f"rest_pose is outside the joint limits for {outside}")
        checks = (
            (self.tick_hz > 0, f"tick_hz must be > 0, got {self.tick_hz}"),
            (0 < self.velocity_scale <= 1, f"velocity_scale in (0, 1], got {self.velocity_scale}"),
            (self.max_acceleration > 0, f"max_acceleration > 0, got {self.max_acceleration}"),
            (self.watchdog_ticks >= 1, f"watchdog_ticks >= 1, got {self.watchdog_ticks}"),
            (self.rest_speed > 0, f"rest_speed > 0, got {self.rest_speed}"),
            (self.rest_tolerance >= 0, f"rest_tolerance >= 0, got {self.rest_tolerance}"),
        )
        problems += [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("bad SafetyConfig: " + "; ".join(problems))


def command_velocity(command: Command) -> np.ndarray:
    """A VELOCITY command's velocities in JOINTS order; RejectedCommand says what is wrong."""
    values = np.asarray(command.velocity, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] != len(JOINTS):
        raise RejectedCommand(f"expected {len(JOINTS)} velocities, got shape {values.shape}")
    names = tuple(command.joint_names) or JOINTS
    if len(names) != len(JOINTS) or sorted(names) != sorted(JOINTS):
        raise RejectedCommand(f"joint names {list(names)} are not {list(JOINTS)}")
    values = values[[names.index(name) for name in JOINTS]]
    bad = [name for name, v in zip(JOINTS, values, strict=True) if not np.isfinite(v)]
    if bad:
        raise RejectedCommand(f"non-finite velocity for {bad}")
    return values


class SafetyGate:
    """Turns each tick's command into velocities that are safe to send (module docstring)."""

    def __init__(self, config: SafetyConfig | None = None) -> None:
        self.config = config or SafetyConfig()
        c = self.config
        limits = [c.limits[name] for name in JOINTS]
        self._lower = np.array([lim.lower for lim in limits])
        self._upper = np.array([lim.upper for lim in limits])
        self._vmax = np.array([lim.velocity for lim in limits]) * c.velocity_scale
        self._rest = np.array(c.rest_pose, dtype=np.float64)
        self._dt = 1.0 / c.tick_hz
        self._dv = c.max_acceleration * self._dt  # the most a velocity may change per tick
        self.stats = GateStats()
        self._last = np.zeros(len(JOINTS))  # the previous output: the rate limit's reference
        self._missed = 0  # ticks in a row without a valid command
        self._resting = False  # REST asked for or the watchdog tripped; ends on a velocity
        self._rest_reason = ""
        self._tripped = False  # the rest was the watchdog's doing
        self._estop = False

    @property
    def estopped(self) -> bool:
        """True while the e-stop is latched."""
        return self._estop

    @property
    def watchdog_tripped(self) -> bool:
        """True while resting because commands stopped coming (not because REST was asked)."""
        return self._resting and self._tripped

    @property
    def limits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower, upper, max velocity) per joint, as the gate enforces them."""
        return self._lower.copy(), self._upper.copy(), self._vmax.copy()

    def engage_estop(self) -> None:
        """Latch the e-stop: every output is 0 from now until release_estop()."""
        if not self._estop:
            self.stats.estops += 1
        self._estop = True
        self._last = np.zeros(len(JOINTS))

    def release_estop(self) -> None:
        """Unlatch: start again from standstill, the watchdog counting afresh."""
        self._estop = False
        self._missed = 0
        self._resting = False

    def halt(self) -> GateOutput:
        """Velocity 0 now, outside the tick (e-stop, deactivate): the driver sends it at once.

        The rate limit's reference becomes standstill too, so the next tick accelerates
        from where the joints really are.
        """
        if self._estop:
            return self._emit(np.zeros(len(JOINTS)), GateState.ESTOP, "e-stop latched")
        return self._emit(np.zeros(len(JOINTS)), GateState.HOLD, "halted")

    def tick(
        self, command: Command | None, positions: np.ndarray | Sequence[float] | None
    ) -> GateOutput:
        """This tick's safe velocities, from its command (None: none came) and positions.

        `positions` are the measured joint positions (rad, JOINTS order); None or any
        non-finite value means unknown, and then the gate only ever holds: it cannot keep
        a joint inside its range, or find the rest pose, without knowing where it is.
        """
        self.stats.ticks += 1
        velocity, rejection = None, ""
        if command is not None:
            try:
                velocity = self._accept(command)
            except RejectedCommand as err:
                rejection = str(err)
                self.stats.rejected += 1
                self.stats.last_rejection = rejection
        if self._estop:
            return self._emit(np.zeros(len(JOINTS)), GateState.ESTOP, "e-stop latched")
        if command is not None and not rejection:
            self._missed = 0
            self._resting = command.mode == Mode.REST
            if self._resting:
                self._rest_reason, self._tripped = "rest requested", False
        else:
            self._missed += 1
            if not self._resting and self._missed >= self.config.watchdog_ticks:
                self._resting = True
                self._rest_reason = f"watchdog: no valid command for {self._missed} ticks"
                self._tripped = True
                self.stats.watchdog_trips += 1
        q = self._known(positions)
        if q is None:
            return self._emit(np.zeros(len(JOINTS)), GateState.HOLD, "joint positions unknown")
        if self._resting:
            return self._approach_rest(q)
        if velocity is None:
            why = rejection or f"no command ({self._missed} of {self.config.watchdog_ticks})"
            return self._emit(np.zeros(len(JOINTS)), GateState.HOLD, why)
        safe = self._limit(velocity, q)
        limited = [name for name, a, b in zip(JOINTS, safe, velocity, strict=True) if a != b]
        if limited:
            self.stats.clamped += 1
        return self._emit(safe, GateState.TRACK, f"limited {limited}" if limited else "")

    # -- helpers ------------------------------------------------------------------------
    def _accept(self, command: Command) -> np.ndarray | None:
        """The command's velocities (None for REST), or RejectedCommand."""
        if command.mode == Mode.REST:
            return None
        if command.mode != Mode.VELOCITY:
            raise RejectedCommand(f"unknown mode {command.mode}")
        return command_velocity(command)

    def _known(self, positions: np.ndarray | Sequence[float] | None) -> np.ndarray | None:
        if positions is None:
            return None
        q = np.asarray(positions, dtype=np.float64)
        if q.shape != (len(JOINTS),):
            raise ValueError(f"expected {len(JOINTS)} joint positions, got shape {q.shape}")
        return q if np.isfinite(q).all() else None

    def _approach_rest(self, q: np.ndarray) -> GateOutput:
        """Toward the rest pose at up to rest_speed, arriving without overshoot."""
        gap = self._rest - q
        there = np.abs(gap) <= self.config.rest_tolerance
        speed = self.config.rest_speed
        wanted = np.where(there, 0.0, np.clip(gap / self._dt, -speed, speed))
        reason = self._rest_reason + ("; at rest" if there.all() else "")
        return self._emit(self._limit(wanted, q), GateState.REST, reason)

    def _limit(self, wanted: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Clip to the velocity, position and rate limits (each interval contains 0)."""
        last, dv = self._last, self._dv
        low = np.maximum.reduce(
            [
                -self._vmax,
                np.minimum(0.0, (self._lower - q) / self._dt),
                np.minimum(last - dv, np.minimum(0.0, last)),
            ]
        )
        high = np.minimum.reduce(
            [
                self._vmax,
                np.maximum(0.0, (self._upper - q) / self._dt),
                np.maximum(last + dv, np.maximum(0.0, last)),
            ]
        )
        return np.clip(wanted, low, high)

    def _emit(self, velocity: np.ndarray, state: GateState, reason: str) -> GateOutput:
        self._last = velocity
        return GateOutput(velocity=velocity.copy(), state=state, reason=reason)
