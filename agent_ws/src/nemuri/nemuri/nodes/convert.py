"""Messages <-> numpy and plain values, so that nodes stay a few lines of data moving.

Float arrays go in and out of messages as bytes (array.array / np.frombuffer): rclpy
checks and converts element by element otherwise, about 15x slower. Scalars are cast to
plain int/float because ROS_PYTHON_CHECK_FIELDS refuses numpy scalars.
"""

from __future__ import annotations

import array
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from nemuri_msgs.msg import AgentState, Embedding, MotorCommand
from sensor_msgs.msg import JointState

from nemuri.contracts import JOINTS, MODALITIES

if TYPE_CHECKING:  # the Agent pulls in torch; fake sensors import this module without it
    from nemuri.agent import Agent


def to_seconds(stamp: TimeMsg) -> float:
    """A header stamp as float seconds on the same clock as the node's `now`."""
    return stamp.sec + stamp.nanosec * 1e-9


def to_stamp(nanoseconds: int) -> TimeMsg:
    """Integer nanoseconds (rclpy Time.nanoseconds) as a header stamp."""
    sec, nanosec = divmod(int(nanoseconds), 1_000_000_000)
    return TimeMsg(sec=sec, nanosec=nanosec)


def modality_name(msg: Embedding) -> str | None:
    """The message's modality enum as a contracts.MODALITIES name; None when out of range."""
    return MODALITIES[msg.modality] if msg.modality < len(MODALITIES) else None


def embedding_data(msg: Embedding) -> np.ndarray:
    """The embedding's float32 values, viewed without an element-wise copy."""
    return np.frombuffer(msg.data, dtype=np.float32)


def float32_array(values: np.ndarray) -> array.array:
    """A float32[] field's value, filled from bytes."""
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def float64_array(values: np.ndarray) -> array.array:
    """A float64[] field's value, filled from bytes."""
    return array.array("d", np.ascontiguousarray(values, dtype=np.float64).tobytes())


def joints_in_order(
    msg: JointState, order: Sequence[str] = JOINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities reordered by name into `order`; velocity may be absent (zeros).

    Drivers publish joints in their own order and often more joints than ours, so the
    match is by name. A joint of ours missing from the message is an error: guessing it
    would feed the brain a body that is not there.
    """
    index = {name: i for i, name in enumerate(msg.name)}
    missing = [name for name in order if name not in index]
    if missing:
        raise ValueError(f"joint_states lacks {missing}")
    picks = [index[name] for name in order]
    n = len(msg.name)
    position = np.asarray(msg.position, dtype=np.float32)
    velocity = np.asarray(msg.velocity, dtype=np.float32)
    if velocity.shape[0] == 0:
        velocity = np.zeros(n, np.float32)
    if position.shape[0] != n or velocity.shape[0] != n:
        raise ValueError(
            f"joint_states has {n} names, {position.shape[0]} positions, "
            f"{velocity.shape[0]} velocities"
        )
    return position[picks], velocity[picks]


def motor_command(
    tick: int, stamp_ns: int, velocity: np.ndarray | None, brain_version: str
) -> MotorCommand:
    """A VELOCITY command for one tick, or the REST command when `velocity` is None."""
    msg = MotorCommand()
    msg.header.stamp = to_stamp(stamp_ns)
    msg.tick = int(tick)
    msg.joint_names = list(JOINTS)
    if velocity is None:
        msg.mode = MotorCommand.REST
        msg.velocity = float64_array(np.zeros(len(JOINTS)))
    else:
        msg.mode = MotorCommand.VELOCITY
        msg.velocity = float64_array(velocity)
    msg.brain_version = brain_version
    return msg


def agent_state(
    agent: Agent, tick: int, stamp_ns: int, step_latency_s: float, note: str
) -> AgentState:
    """The agent as the AgentState message publishes it (read without its lock: a snapshot)."""
    reading = agent.meter.reading
    msg = AgentState()
    msg.header.stamp = to_stamp(stamp_ns)
    msg.phase = int(agent.phase)
    msg.tick = int(tick)
    msg.sleepiness = float(reading.sleepiness)
    msg.context_fill = float(reading.context_fill)
    msg.context_length = int(agent.runtime.context_length)
    msg.step_latency_ms = float(step_latency_s * 1e3)
    msg.step_latency_p95_ms = float(reading.p95_ms)
    msg.step_latency_p99_ms = float(reading.p99_ms)
    msg.missed_ticks = int(agent.missed_ticks)
    msg.missed_tick_rate = float(reading.missed_rate)
    msg.age_ticks = int(agent.age_ticks)
    msg.nights = int(agent.nights)
    msg.model_version = agent.brain_version
    msg.last_spoken = agent.last_spoken
    msg.note = note
    return msg


def diagnostic_status(
    name: str, hardware_id: str, warn: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """One DiagnosticStatus: OK with message "ticking", or WARN with `warn` as the message."""
    msg = DiagnosticStatus()
    msg.name = name
    msg.hardware_id = hardware_id
    msg.level = DiagnosticStatus.WARN if warn else DiagnosticStatus.OK
    msg.message = warn or "ticking"
    msg.values = [KeyValue(key=key, value=str(value)) for key, value in values.items()]
    return msg


@dataclass
class TickStats:
    """What /diagnostics reports over one window: ticks, fresh modalities, input problems."""

    since: float = field(default_factory=time.monotonic)
    ticks: int = 0
    fresh: list[float] = field(default_factory=lambda: [0.0] * len(MODALITIES))
    rejected: int = 0
    stale: int = 0
    last_problem: str = ""

    def ticked(self, present: np.ndarray) -> None:
        self.ticks += 1
        self.fresh = [f + float(p) for f, p in zip(self.fresh, present, strict=True)]

    def input_problem(self, reason: str, rejected: bool) -> None:
        """A refused input (rejected) or an accepted one the brain will see as missing (stale)."""
        if rejected:
            self.rejected += 1
        else:
            self.stale += 1
        self.last_problem = reason


def core_status(agent: Agent, stats: TickStats, note: str, hardware_id: str) -> DiagnosticStatus:
    """The core's health: WARN with the note, or with the last rejected input, else OK."""
    reading = agent.meter.reading
    ticks = max(1, stats.ticks)
    values = {
        "tick_hz_measured": f"{stats.ticks / max(1e-9, time.monotonic() - stats.since):.2f}",
        "step_p99_ms": f"{reading.p99_ms:.2f}",
        "missed_ticks": agent.missed_ticks,
        "sleepiness": f"{reading.sleepiness:.3f}",
        "rejected_inputs": stats.rejected,
        "stale_inputs": stats.stale,
        "last_input_problem": stats.last_problem,
        **{f"fresh_{m}": f"{f / ticks:.3f}" for m, f in zip(MODALITIES, stats.fresh, strict=True)},
        "phase": agent.phase.name.lower(),
        "brain_version": agent.brain_version,
    }
    warn = note or (stats.last_problem if stats.rejected else "")
    return diagnostic_status("nemuri_core: tick", hardware_id, warn, values)
