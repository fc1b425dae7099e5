"""The actuator node with `driver: serial`, over real rclpy, against the firmware's code.

The body is host_body (firmware/src/protocol.c and controller.c built for the host) on a
pty; the node opens it as it would open /dev/ttyACM0. A probe node plays the core: it
streams MotorCommands and reads what the node publishes from the body's state frames on
/joint_states and /touch (the proprio and touch nodes' inputs) and on /diagnostics.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.msg import MotorCommand, Touch
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import JointState

from nemuri.body.firmware_process import BodyProcess, build
from nemuri.body.serial_driver import ServoCalibration
from nemuri.contracts import JOINTS, REST_POSE, TOUCH_PADS
from nemuri.nodes import convert, qos
from nemuri.nodes.actuator_node import ActuatorNode
from ros_helpers import Collector, spinning, wait_for

pytestmark = pytest.mark.ros
SUCCESS = TransitionCallbackReturn.SUCCESS
PAN = JOINTS.index("head_pan")


@pytest.fixture(scope="module")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.getbasetemp() / "firmware-build", ("host",))


def link_values(msg: DiagnosticArray) -> dict[str, str]:
    for status in msg.status:
        if status.name == "nemuri_actuator: serial link":
            return {kv.key: kv.value for kv in status.values}
    return {}


def test_commands_become_targets_and_state_comes_back_as_joints_and_touch(
    ctx, firmware_build, tmp_path
):
    body = BodyProcess.host(firmware_build, tmp_path / "ttyBODY")
    params = {
        "driver": "serial",
        "serial_port": body.port,
        "tick_hz": 20.0,
        "diagnostics_hz": 5.0,
        "serial_reconnect_s": 0.1,
    }
    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    node = ActuatorNode(context=ctx, parameter_overrides=overrides)
    probe = rclpy.create_node("serial_probe", context=ctx)
    commands = probe.create_publisher(MotorCommand, "/nemuri/motor_command", qos.COMMAND)
    joints = Collector(probe, JointState, "/joint_states", qos.SENSOR)
    touch = Collector(probe, Touch, "/touch", qos.SENSOR)
    diag = Collector(probe, DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
    velocity = np.zeros(len(JOINTS))
    lock = threading.Lock()

    def publish() -> None:
        with lock:
            v = velocity.copy()
        now = probe.get_clock().now().nanoseconds
        commands.publish(convert.motor_command(0, now, v, "test"))

    probe.create_timer(1.0 / 50.0, publish)
    try:
        assert node.trigger_configure() == SUCCESS
        assert node.trigger_activate() == SUCCESS
        with spinning(ctx, node, probe):
            assert wait_for(lambda: joints.last() is not None and touch.last() is not None, 10.0)
            rest = np.array(REST_POSE)
            q = np.array(joints.last().position)
            assert q == pytest.approx(rest, abs=2e-3)  # the body booted at rest
            assert list(joints.last().name) == list(JOINTS)

            body.set_adc(TOUCH_PADS.index("body_left"), 1023)
            assert wait_for(lambda: touch.last().pressure[2] == 1.0, 5.0)
            msg = touch.last()
            assert list(msg.pads) == list(TOUCH_PADS) and msg.normalised
            assert list(msg.pressure) == [0.0, 0.0, 1.0, 0.0]

            with lock:
                velocity[PAN] = 0.8  # pan right at 0.8 rad/s
            assert wait_for(lambda: joints.last().position[PAN] > 0.5, 5.0)
            assert joints.last().velocity[PAN] == pytest.approx(0.8, abs=0.3)
            half_way = ServoCalibration.from_limits().to_pulse(rest + np.eye(len(JOINTS))[PAN] / 2)
            assert body.widths()[PAN] > half_way[PAN]  # the pin moved, not only the report
            others = np.delete(np.array(joints.last().position), PAN)
            assert others == pytest.approx(np.delete(rest, PAN), abs=2e-3)

            def link_ok() -> bool:
                values = link_values(diag.last()) if diag.last() else {}
                return values.get("connected") == "True" and int(values["body_rx_ok"]) > 10

            assert wait_for(link_ok, 5.0)
            values = link_values(diag.last())
            assert int(values["frames_ok"]) > 10 and values["frames_bad"] == "0"
            assert values["reconnects"] == "0" and float(values["last_state_age_s"]) < 0.5
            assert values["body_rx_rejected"] == "0"

            body.stop()  # the cable is pulled: /diagnostics says so
            assert wait_for(lambda: link_values(diag.last()).get("connected") == "False", 5.0)
            status = next(s for s in diag.last().status if s.name.endswith("serial link"))
            assert "lost" in status.message
            node.trigger_deactivate()
    finally:
        node.close()
        node.destroy_node()
        probe.destroy_node()
        body.stop()
