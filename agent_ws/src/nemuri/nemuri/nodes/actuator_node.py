"""The actuator node: every motor command passes the safety gate before a driver sends it.

It only moves data. The latest MotorCommand, the latest joint positions and the e-stop go
into one `SafetyGate` each tick; what comes out goes to the driver. Every callback runs on
the one executor thread, so the gate needs no lock, and the gate is microseconds of numpy,
so nothing waits. The node ticks on the shared grid after the core (tick_phase 0.6 against
the core's 0.2), so each tick finds the command the core published for it. A command is
used at most once: a tick without a fresh one counts toward the gate's watchdog and is
never a repeat of the last. An e-stop acts at once, not at the next tick.

With `driver: serial` the node owns the link to the body's firmware (body/serial_driver):
the gate's velocities become position targets there, and the body's state frames come
back on the link's reader thread. That thread only queues them and wakes the executor (a
guard condition), so every publish of /joint_states and /touch, and the gate's positions,
happen on the one executor thread as before. The link's health joins /diagnostics.
"""

from __future__ import annotations

import signal
import threading
from collections import deque

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nemuri_msgs.msg import MotorCommand, Touch
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from rclpy.timer import Timer
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray

from nemuri.body.drivers import WORLD_COMMAND_TOPIC, JointDriver, TopicDriver, TopicDriverConfig
from nemuri.body.safety import Command, GateOutput, SafetyConfig, SafetyGate
from nemuri.body.serial_driver import (
    BodyReading,
    SerialDriver,
    SerialDriverConfig,
    ServoCalibration,
)
from nemuri.contracts import JOINTS, REST_POSE, TOUCH_PADS
from nemuri.nodes import convert, qos
from nemuri.nodes.tick_grid import GridTimer
from nemuri.worlds.description import joint_limits

DRIVERS: tuple[str, ...] = ("topic", "serial")
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("tick_hz", 10.0, "Tick rate of the gate and the driver, Hz (the core's tick rate)."),
    (
        "tick_phase",
        0.6,
        "Where in each period the actuator ticks, as a fraction of it: after the core "
        "(0.2), so each tick finds the command the core published for it.",
    ),
    (
        "driver",
        "topic",
        "Where safe velocities go: topic (Float64MultiArray, JOINTS order) or serial (the "
        "body's firmware, as position targets; the node then publishes /joint_states and "
        "/touch from the body's state frames).",
    ),
    (
        "driver_topic",
        WORLD_COMMAND_TOPIC,
        "The topic driver's topic: /world/joint_velocity_commands for the MuJoCo world, "
        "/forward_velocity_controller/commands for ros2_control in Gazebo.",
    ),
    ("serial_port", "/dev/ttyACM0", "The serial driver's port (the board's USB serial)."),
    ("serial_baud", 115200, "The serial driver's baud rate (the firmware's: 115200)."),
    ("serial_reconnect_s", 0.5, "Seconds between attempts to reopen a lost serial port."),
    ("command_topic", "/nemuri/motor_command", "MotorCommand input (the core's)."),
    ("watchdog_ticks", 5, "Ticks in a row without a valid command before going to rest."),
    ("max_acceleration", 10.0, "Rate limit, rad/s^2 per joint; slowing toward 0 is free."),
    ("velocity_scale", 1.0, "Fraction of the URDF velocity limits the gate allows, (0, 1]."),
    ("rest_pose", list(REST_POSE), "Rest pose, rad, in JOINTS order."),
    ("rest_speed", 0.5, "Top speed toward the rest pose, rad/s."),
    ("joint_state_timeout_s", 0.5, "Older joint positions count as unknown: the gate holds."),
    ("urdf_path", "", "Joint limits from this URDF; empty: nemuri_description's."),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


class ActuatorNode(Node):
    """Lifecycle node: configure builds the gate and driver, activate starts the tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_actuator", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.gate: SafetyGate | None = None
        self.driver: JointDriver | None = None
        self._pubs: dict[str, Publisher] = {}
        self._tick_timer: GridTimer | None = None
        self._periodic: list[Timer] = []
        self._command: Command | None = None  # the latest, used by one tick at most
        self._positions: np.ndarray | None = None
        self._positions_ns = 0
        self._joint_problem = ""
        self._output: GateOutput | None = None
        self._reported = (0, 0)  # (rejected, watchdog trips) at the last /diagnostics
        self._readings: deque[BodyReading] = deque(maxlen=50)  # from the serial reader thread
        self._readings_lock = threading.Lock()
        self._reading_wake = None  # a guard condition: the reader thread wakes the executor

    def param(self, name: str) -> object:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.gate = SafetyGate(self._safety_config())
            if self.param("driver") not in DRIVERS:
                raise ValueError(f"driver {self.param('driver')!r} is not one of {DRIVERS}")
        except (OSError, ValueError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        publisher = self.create_lifecycle_publisher
        self._pubs = {"diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)}
        if self.param("driver") == "serial":
            self._pubs["joints"] = publisher(JointState, "/joint_states", qos.SENSOR)
            self._pubs["touch"] = publisher(Touch, "/touch", qos.SENSOR)
            self._reading_wake = self.create_guard_condition(self._on_readings)
            self.driver = SerialDriver(
                SerialDriverConfig(
                    port=str(self.param("serial_port")),
                    baud=int(self.param("serial_baud")),
                    tick_hz=float(self.param("tick_hz")),
                    reconnect_s=float(self.param("serial_reconnect_s")),
                ),
                ServoCalibration.from_limits(self.gate.config.limits),
                on_reading=self._queue_reading,
            )
        else:
            topic = str(self.param("driver_topic"))
            self._pubs["driver"] = publisher(Float64MultiArray, topic, qos.COMMAND)
            self.driver = TopicDriver(TopicDriverConfig(topic), self._publish_velocities)
        command_topic = str(self.param("command_topic"))
        self.create_subscription(MotorCommand, command_topic, self._on_command, qos.COMMAND)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos.SENSOR)
        self.create_subscription(Bool, "/nemuri/estop", self._on_estop, qos.COMMAND)
        self.get_logger().info(f"safety gate in front of the {self.param('driver')} driver")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        period, phase = 1.0 / float(self.param("tick_hz")), float(self.param("tick_phase"))
        self._tick_timer = GridTimer(self, period, phase, self._on_tick)
        diagnostics_period = 1.0 / float(self.param("diagnostics_hz"))
        self._periodic = [self.create_timer(diagnostics_period, self._on_diagnostics_timer)]
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_ticking()
        if self.driver is not None:  # stop the joints before the publisher goes quiet
            self.driver.send(self.gate.halt().velocity)
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        for sub in list(self.subscriptions):
            self.destroy_subscription(sub)
        if self._reading_wake is not None:
            self.destroy_guard_condition(self._reading_wake)
            self._reading_wake = None
        self.gate, self._pubs, self._command, self._positions = None, {}, None, None
        self._output, self._reported = None, (0, 0)  # the next gate counts from zero
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Stop ticking and close the driver, which stops the joints (idempotent).

        Waits up to 0.5 s for reliable subscribers to have the driver's closing zero: the
        process may exit right after, and that message must not go down with it.
        """
        self._stop_ticking()
        driver, self.driver = self.driver, None
        if isinstance(driver, SerialDriver):
            driver.close()  # the body's own watchdog rests the joints
        elif driver is not None and self.context.ok():
            driver.close()
            self._pubs["driver"].wait_for_all_acked(Duration(seconds=0.5))

    def _stop_ticking(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.destroy()
            self._tick_timer = None
        for timer in self._periodic:
            self.destroy_timer(timer)
        self._periodic = []

    def _safety_config(self) -> SafetyConfig:
        urdf = str(self.param("urdf_path"))
        return SafetyConfig(
            tick_hz=float(self.param("tick_hz")),
            limits=joint_limits(urdf or None),
            velocity_scale=float(self.param("velocity_scale")),
            max_acceleration=float(self.param("max_acceleration")),
            watchdog_ticks=int(self.param("watchdog_ticks")),
            rest_pose=tuple(float(q) for q in self.param("rest_pose")),
            rest_speed=float(self.param("rest_speed")),
        )

    # -- inputs -------------------------------------------------------------------------
    def _on_command(self, msg: MotorCommand) -> None:
        velocity = np.frombuffer(msg.velocity, dtype=np.float64)
        self._command = Command(velocity, tuple(msg.joint_names), int(msg.mode))

    def _on_joints(self, msg: JointState) -> None:
        try:
            self._positions, _ = convert.joints_in_order(msg)
        except ValueError as err:
            self._joint_problem = str(err)
            self.get_logger().warning(self._joint_problem, throttle_duration_sec=5.0)
            return
        self._positions_ns = self.get_clock().now().nanoseconds

    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            if not self.gate.estopped:
                self.get_logger().warning("e-stop engaged: joints stopped until released")
            self.gate.engage_estop()
            if self._tick_timer is not None:  # active: stop now, not at the next tick
                self.driver.send(self.gate.halt().velocity)
        elif self.gate.estopped:
            self.gate.release_estop()
            self.get_logger().info("e-stop released")

    # -- the tick -----------------------------------------------------------------------
    def _on_tick(self) -> None:
        command, self._command = self._command, None
        rejected, trips = self.gate.stats.rejected, self.gate.stats.watchdog_trips
        self._output = self.gate.tick(command, self._fresh_positions())
        self.driver.send(self._output.velocity)
        if self.gate.stats.rejected != rejected:
            self.get_logger().warning(
                f"command rejected: {self.gate.stats.last_rejection}", throttle_duration_sec=5.0
            )
        if self.gate.stats.watchdog_trips != trips:
            ticks = self.gate.config.watchdog_ticks
            self.get_logger().warning(f"watchdog: no valid command for {ticks} ticks, resting")

    def _fresh_positions(self) -> np.ndarray | None:
        age_ns = self.get_clock().now().nanoseconds - self._positions_ns
        timeout_ns = float(self.param("joint_state_timeout_s")) * 1e9
        return self._positions if age_ns <= timeout_ns else None

    def _queue_reading(self, reading: BodyReading) -> None:
        """On the serial reader thread: hand the reading to the executor thread."""
        with self._readings_lock:
            self._readings.append(reading)
        wake = self._reading_wake
        if wake is not None:
            wake.trigger()

    def _on_readings(self) -> None:
        """The body's state frames: the gate's positions, /joint_states and /touch."""
        with self._readings_lock:
            readings, self._readings = list(self._readings), deque(maxlen=50)
        for reading in readings:
            now = self.get_clock().now()
            self._positions, self._positions_ns = reading.position, now.nanoseconds
            if self._tick_timer is None:
                continue  # inactive: the lifecycle publishers are off
            joints = JointState(
                name=list(JOINTS),
                position=convert.float64_array(reading.position),
                velocity=convert.float64_array(reading.velocity),
            )
            joints.header.stamp = now.to_msg()
            self._pubs["joints"].publish(joints)
            touch = Touch(
                pads=list(TOUCH_PADS),
                pressure=convert.float32_array(reading.touch),
                normalised=True,
            )
            touch.header.stamp = now.to_msg()
            self._pubs["touch"].publish(touch)

    def _publish_velocities(self, velocities: np.ndarray) -> None:
        """The topic driver's way out: one Float64MultiArray, JOINTS order."""
        self._pubs["driver"].publish(Float64MultiArray(data=convert.float64_array(velocities)))

    # -- health -------------------------------------------------------------------------
    def _on_diagnostics_timer(self) -> None:
        stats, out = self.gate.stats, self._output
        rejected = stats.rejected - self._reported[0]
        trips = stats.watchdog_trips - self._reported[1]
        self._reported = (stats.rejected, stats.watchdog_trips)
        known = self._fresh_positions() is not None
        if self.gate.estopped:
            warn = "e-stop latched"
        elif rejected:
            warn = f"rejected {rejected} command(s): {stats.last_rejection}"
        elif trips or self.gate.watchdog_tripped:
            warn = "watchdog: no valid command, going to the rest pose"
        else:
            warn = "" if known else "joint positions unknown: holding"
        values = {
            "state": out.state.value if out is not None else "idle",
            "reason": out.reason if out is not None else "",
            "estop": self.gate.estopped,
            "rejected_commands": stats.rejected,
            "last_rejection": stats.last_rejection,
            "watchdog_trips": stats.watchdog_trips,
            "clamped_ticks": stats.clamped,
            "ticks": stats.ticks,
            "joint_positions_known": known,
            "last_joint_state_problem": self._joint_problem,
            "driver": self._driver_name(),
        }
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        name = "nemuri_actuator: safety gate"
        msg.status = [convert.diagnostic_status(name, self.get_name(), warn, values)]
        if isinstance(self.driver, SerialDriver):
            msg.status.append(self._link_status())
        self._pubs["diag"].publish(msg)

    def _driver_name(self) -> str:
        if self.param("driver") == "serial":
            return f"serial {self.param('serial_port')}"
        return f"topic {self.param('driver_topic')}"

    def _link_status(self) -> DiagnosticStatus:
        """The serial link's health, and the body's own counters from its last state."""
        health = self.driver.health()
        age = health.last_state_age_s
        if not health.connected:
            warn = f"serial port {self.param('serial_port')} lost: {health.last_error}"
        elif age is None or age > 0.5:
            warn = "no state from the body" + ("" if age is None else f" for {age:.1f} s")
        else:
            warn = ""
        values: dict[str, object] = {
            "port": self.param("serial_port"),
            "connected": health.connected,
            "frames_ok": health.frames_ok,
            "frames_bad": health.frames_bad,
            "frames_dropped": health.frames_dropped,
            "frames_unexpected": health.frames_unexpected,
            "bytes_skipped": health.bytes_skipped,
            "sends": health.sends,
            "sends_refused": health.sends_refused,
            "reconnects": health.reconnects,
            "last_state_age_s": "" if age is None else f"{age:.3f}",
            "last_error": health.last_error,
        }
        body = health.body
        if body is not None:
            values |= {
                "body_resting": body.resting,
                "body_uptime_ms": body.uptime_ms,
                "body_rx_ok": body.rx_ok,
                "body_rx_bad": body.rx_bad,
                "body_rx_rejected": body.rx_rejected,
                "body_rx_skipped": body.rx_skipped,
                "body_watchdog_trips": body.watchdog_trips,
            }
        name = "nemuri_actuator: serial link"
        return convert.diagnostic_status(name, self.get_name(), warn, values)


def main(args: list[str] | None = None) -> None:
    # rclpy's own signal handler shuts the context down before `finally` runs, and then
    # the driver's closing zero cannot be published; a forward_command_controller would
    # keep the joints moving. So SIGINT and SIGTERM end the spin here instead, and the
    # spin wakes at least every 0.2 s to notice them even with no timer running.
    #
    # The handler only records the signal; the loop checks it between spins. It must not
    # raise: Python runs it between any two bytecodes of this thread, and that includes the
    # message classes' own Python code, which rclpy's take_message runs in the middle of
    # executor.spin_once while it converts a taken message. An exception there loses its
    # type and surfaces as pybind11's "RuntimeError: Unable to convert call argument '0'
    # to Python object", which crashed the process on a stop; it also leaves the node's
    # callback group taken, so nothing of the node runs again; and in `finally` (a second
    # signal) it would cut the closing zero short.
    stop_signals: list[int] = []

    def request_stop(signum: int, frame: object) -> None:
        stop_signals.append(signum)

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    node = ActuatorNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.param("autostart") and not stop_signals:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit("nemuri_actuator: configure failed")
            if not stop_signals:
                node.trigger_activate()
        while rclpy.ok() and not stop_signals:
            executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()  # the joints stop while the context still publishes
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
