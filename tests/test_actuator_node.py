"""The actuator node over real rclpy and DDS on loopback.

The node runs in-process on a SingleThreadedExecutor in a thread, beside a probe node that
plays the rest of the graph: it streams MotorCommands (faster than the node ticks, so every
tick finds a fresh one) and joint states, sends the e-stop, and collects what the driver
publishes and /diagnostics. One test runs the node as its own process, to see that a
SIGTERM stops the joints before the process goes.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import AbstractContextManager

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nemuri_msgs.msg import MotorCommand
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray

from nemuri.body.drivers import WORLD_COMMAND_TOPIC
from nemuri.contracts import JOINTS, REST_POSE
from nemuri.nodes import convert, qos
from nemuri.nodes.actuator_node import ActuatorNode
from nemuri.worlds.description import joint_limits
from ros_helpers import PYTHON, Collector, active_node, spinning, stop_process, wait_for

pytestmark = pytest.mark.ros
SUCCESS = TransitionCallbackReturn.SUCCESS
TICK_HZ = 20.0
DV = 10.0 * (1.0 / TICK_HZ)  # default max_acceleration 10 rad/s^2: 0.5 rad/s per tick
LIMITS = joint_limits()
VMAX = np.array([LIMITS[j].velocity for j in JOINTS])
MIDDLE = np.array([(LIMITS[j].lower + LIMITS[j].upper) / 2 for j in JOINTS])


def actuator_node(ctx: object, **params: object) -> AbstractContextManager[ActuatorNode]:
    """A configured, active ActuatorNode at TICK_HZ; closed and destroyed on exit."""
    params = {"tick_hz": TICK_HZ, "diagnostics_hz": 10.0, **params}
    return active_node(ActuatorNode, ctx, **params)


class Body:
    """The graph around the actuator: the core's commands, the world's joints, an e-stop."""

    def __init__(self, ctx: object, positions: np.ndarray) -> None:
        self.node = rclpy.create_node("body_probe", context=ctx)
        self.positions = positions
        self.velocity: np.ndarray | None = None  # streamed at 2.5x the tick; None: silent
        self._lock = threading.Lock()
        self._commands = self.node.create_publisher(
            MotorCommand, "/nemuri/motor_command", qos.COMMAND
        )
        self._joints = self.node.create_publisher(JointState, "/joint_states", qos.SENSOR)
        self._estop = self.node.create_publisher(Bool, "/nemuri/estop", qos.COMMAND)
        self.out = Collector(self.node, Float64MultiArray, WORLD_COMMAND_TOPIC, qos.COMMAND)
        self.diag = Collector(self.node, DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.node.create_timer(1.0 / (2.5 * TICK_HZ), self._publish)

    def command(self, velocity: np.ndarray | None) -> None:
        with self._lock:
            self.velocity = velocity

    def estop(self, engaged: bool) -> None:
        self._estop.publish(Bool(data=engaged))

    def _publish(self) -> None:
        now = self.node.get_clock().now().nanoseconds
        joints = JointState(name=list(JOINTS), position=convert.float64_array(self.positions))
        joints.header.stamp = convert.to_stamp(now)
        self._joints.publish(joints)
        with self._lock:
            velocity = self.velocity
        if velocity is not None:
            self._commands.publish(convert.motor_command(0, now, velocity, "test"))

    def linked(self) -> bool:
        """Every link the node needs is discovered (waiting costs up to ~3 s)."""
        pubs = (self._commands, self._joints, self._estop)
        return all(p.get_subscription_count() > 0 for p in pubs) and self.received() > 0

    def received(self) -> int:
        return len(self.out.snapshot())

    def outputs(self, since: int = 0) -> list[np.ndarray]:
        return [np.array(m.data) for m in self.out.snapshot()[since:]]

    def last(self) -> np.ndarray | None:
        msg = self.out.last()
        return None if msg is None else np.array(msg.data)

    def gate_status(self) -> DiagnosticStatus | None:
        for msg in reversed(self.diag.snapshot()):
            for status in msg.status:
                if status.name.startswith("nemuri_actuator"):
                    return status
        return None

    def gate_values(self) -> dict[str, str]:
        status = self.gate_status()
        return {} if status is None else {kv.key: kv.value for kv in status.values}


def is_zero(v: np.ndarray | None) -> bool:
    return v is not None and not v.any()


def near(v: np.ndarray | None, expected: float | np.ndarray) -> bool:
    return v is not None and bool(np.allclose(v, expected))


def assert_within_limits(outputs: list[np.ndarray]) -> None:
    """Each output within the velocity limits, and within the rate limit of the one before."""
    last = outputs[0]
    for v in outputs:
        assert v.shape == (len(JOINTS),) and np.all(np.abs(v) <= VMAX + 1e-12)
        braking = (np.abs(v) <= np.abs(last)) & (v * last >= 0.0)
        assert np.all((np.abs(v - last) <= DV + 1e-9) | braking)
        last = v


def test_a_command_comes_out_on_the_driver_topic_within_limits(ctx):
    body = Body(ctx, MIDDLE)
    wanted = np.array([100.0, -100.0, 1.0, 0.5, 0.2])  # the head's two beyond 4 rad/s
    with actuator_node(ctx) as node, spinning(ctx, node, body.node):
        assert wait_for(body.linked, 8.0)
        body.command(wanted)
        expected = np.array([4.0, -4.0, 1.0, 0.5, 0.2])
        assert wait_for(lambda: near(body.last(), expected), 3.0), body.last()
        assert_within_limits(body.outputs())
        assert wait_for(lambda: int(body.gate_values().get("clamped_ticks", 0)) > 0, 2.0)
        assert body.gate_values()["state"] == "track"
        assert node.trigger_deactivate() == SUCCESS  # an inactive actuator leaves joints still
        assert wait_for(lambda: is_zero(body.last()), 2.0)


def test_a_nan_command_is_rejected_with_a_diagnostic_and_the_joints_hold(ctx):
    body = Body(ctx, MIDDLE)
    with actuator_node(ctx, watchdog_ticks=1000) as node, spinning(ctx, node, body.node):
        assert wait_for(body.linked, 8.0)
        body.command(np.full(len(JOINTS), 0.3))
        assert wait_for(lambda: near(body.last(), 0.3), 3.0)
        bad = np.full(len(JOINTS), 0.3)
        bad[JOINTS.index("shoulder")] = math.nan
        body.command(bad)
        assert wait_for(lambda: is_zero(body.last()), 2.0)
        held = body.received()
        assert wait_for(lambda: body.gate_values().get("state") == "hold", 2.0)
        values, status = body.gate_values(), body.gate_status()
        assert int(values["rejected_commands"]) > 0
        assert values["last_rejection"] == "non-finite velocity for ['shoulder']"
        assert status.level == DiagnosticStatus.WARN and "rejected" in status.message
        time.sleep(0.3)
        assert all(is_zero(v) for v in body.outputs(held))  # held, never the last command


def test_estop_stops_the_joints_until_released(ctx):
    body = Body(ctx, MIDDLE)
    with actuator_node(ctx) as node, spinning(ctx, node, body.node):
        assert wait_for(body.linked, 8.0)
        body.command(np.full(len(JOINTS), 0.4))
        assert wait_for(lambda: near(body.last(), 0.4), 3.0)
        body.estop(True)
        assert wait_for(lambda: node.gate.estopped and is_zero(body.last()), 2.0)
        stopped = body.received()
        time.sleep(0.4)  # commands keep coming: 8 ticks
        assert body.received() - stopped >= 4
        assert all(is_zero(v) for v in body.outputs(stopped))
        assert wait_for(lambda: body.gate_values().get("estop") == "True", 2.0)
        assert body.gate_status().message == "e-stop latched"
        body.estop(False)
        assert wait_for(lambda: near(body.last(), 0.4), 3.0)
        assert not node.gate.estopped


def test_without_commands_the_watchdog_drives_to_the_rest_pose_after_n_ticks(ctx):
    rest = np.array(REST_POSE)
    away = rest + np.array([0.5, -0.4, 0.6, 0.5, 0.3])
    body = Body(ctx, away)
    n = 5
    with actuator_node(ctx, watchdog_ticks=n) as node, spinning(ctx, node, body.node):
        assert wait_for(body.linked, 8.0)
        body.command(np.full(len(JOINTS), 0.3))
        assert wait_for(lambda: near(body.last(), 0.3), 3.0)
        start = body.received()
        body.command(None)
        assert wait_for(lambda: body.received() - start >= 10 * n, 10 * n / TICK_HZ + 2.0)
        outputs = body.outputs(start)
        first_hold = next(i for i, v in enumerate(outputs) if is_zero(v))
        assert all(np.allclose(v, 0.3) for v in outputs[:first_hold])
        holds = outputs[first_hold : first_hold + n - 1]
        assert len(holds) == n - 1 and all(is_zero(v) for v in holds)  # N-1 held ticks
        resting = outputs[first_hold + n - 1 :]
        toward = np.sign(rest - away)
        assert all(np.array_equal(np.sign(v), toward) for v in resting)  # then toward rest
        assert np.allclose(resting[-1], toward * 0.5)  # at the default rest_speed
        assert wait_for(lambda: body.gate_values().get("watchdog_trips") == "1", 2.0)
        assert body.gate_status().message.startswith("watchdog")


def test_an_unknown_driver_fails_configure(ctx):
    node = ActuatorNode(context=ctx, parameter_overrides=[rclpy.Parameter("driver", value="can")])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_sigterm_stops_the_joints_before_the_process_goes(ctx):
    import os
    import subprocess

    body = Body(ctx, MIDDLE)
    args = [PYTHON, "-m", "nemuri.nodes.actuator_node", "--ros-args", "-p", f"tick_hz:={TICK_HZ}"]
    proc = subprocess.Popen(
        args, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with spinning(ctx, body.node):
            body.command(np.full(len(JOINTS), 0.6))
            assert wait_for(lambda: near(body.last(), 0.6), 12.0), body.last()
            out = stop_process(proc, signal.SIGTERM)
            assert proc.returncode == 0, out
            assert wait_for(lambda: is_zero(body.last()), 1.0), out
    finally:
        stop_process(proc, signal.SIGKILL)
