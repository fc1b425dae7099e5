"""Gazebo's touch: the four pads' contact sensors folded into nemuri's one /touch.

Gazebo has no message for "pressure on these pads". Each pad carries a contact sensor of
its own (nemuri_description/urdf/nemuri.gazebo.xacro) on a gz topic of its own, which
ros_gz_bridge turns into ros_gz_interfaces/Contacts on `/gazebo/contacts/<pad>`
(config/ros_gz_bridge.yaml). This node folds the four into the nemuri_msgs/Touch that the
touch node reads, the way the MuJoCo world publishes it: pads in contracts.TOUCH_PADS
order, pressure in newtons, `normalised` false.

Three facts of gz-sim's Contact system shape the folding:
- it publishes only while something touches a pad, so silence means 0 N; a pad keeps its
  last value for `hold_s` of silence, so a message that arrives a little late does not
  make the touch flicker to zero and back;
- while touched it publishes every physics step (500 Hz here), so /touch carries the mean
  of the messages received since the previous /touch, at `rate_hz`;
- with DART it fills a wrench per contact point; another physics engine may not, and then
  each touching object counts as `fallback_newtons`, so a touch is still felt.

The folding (`contacts_newtons`, `TouchFolder`) is plain Python, tested without ROS or
Gazebo; the node only moves messages. ros_gz_interfaces is imported when the node is
built: it exists where ros_gz is installed (the Gazebo image), not with pip-installed ROS.
"""

from __future__ import annotations

import array
import math
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any, Final

import rclpy
from nemuri_msgs.msg import Touch
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from nemuri.contracts import TOUCH_PADS
from nemuri.nodes import qos

TOUCH_TOPIC: Final[str] = "/touch"
CONTACTS_PREFIX: Final[str] = "/gazebo/contacts"
CONTACTS_TYPE: Final[str] = "ros_gz_interfaces/msg/Contacts"  # what the bridge publishes
PARAMETERS: Final[tuple[tuple[str, object, str], ...]] = (
    ("rate_hz", 50.0, "Rate of /touch, Hz: faster than the tick, so a touch is never late."),
    (
        "hold_s",
        0.1,
        "A pad silent for longer than this reads 0 N (Gazebo sends contacts only while "
        "touched); shorter silences keep its last value.",
    ),
    (
        "fallback_newtons",
        1.0,
        "Newtons counted per touching object when the physics engine reports no forces.",
    ),
)


def contact_topic(pad: str) -> str:
    """The ROS topic of one pad's contacts, as the bridge publishes it."""
    if pad not in TOUCH_PADS:
        raise ValueError(f"unknown touch pad {pad!r}; expected one of {TOUCH_PADS}")
    return f"{CONTACTS_PREFIX}/{pad}"


def contacts_newtons(msg: Any, fallback_newtons: float) -> float:
    """The force (N) on a pad from one ros_gz_interfaces/Contacts message.

    Each Contact is one other collision touching the pad, with a wrench per contact point
    (the force on body 1, the pad's on body 2 is its opposite). Points of one contact are
    summed as vectors, which gives the net push of that object whichever body the pad is;
    different objects add up. A contact without wrenches counts `fallback_newtons`;
    non-finite forces are ignored (a physics glitch must not reach the brain as NaN).
    """
    total = 0.0
    for contact in msg.contacts:
        if not contact.wrenches:
            total += fallback_newtons
            continue
        fx = fy = fz = 0.0
        for wrench in contact.wrenches:
            force = wrench.body_1_wrench.force
            if math.isfinite(force.x) and math.isfinite(force.y) and math.isfinite(force.z):
                fx, fy, fz = fx + force.x, fy + force.y, fz + force.z
        total += math.sqrt(fx * fx + fy * fy + fz * fz)
    return total


class TouchFolder:
    """Per-pad forces received at any rate, folded into one pressure vector on demand.

    `add` records a pad's force when its contacts arrive; `fold` returns one value per pad
    (in `pads` order): the mean of what arrived since the last fold, else the last value
    while the pad has been silent for at most `hold_s`, else 0.
    """

    def __init__(self, pads: Sequence[str] = TOUCH_PADS, hold_s: float = 0.1) -> None:
        if hold_s < 0:
            raise ValueError(f"hold_s must be >= 0, got {hold_s}")
        self.pads = tuple(pads)
        self.hold_s = hold_s
        self._index = {pad: i for i, pad in enumerate(self.pads)}
        self._sum = [0.0] * len(self.pads)
        self._count = [0] * len(self.pads)
        self._held = [0.0] * len(self.pads)
        self._last_s = [-math.inf] * len(self.pads)

    def add(self, pad: str, time_s: float, newtons: float) -> None:
        """Record `newtons` on `pad`, received at `time_s` (the node's clock)."""
        i = self._index[pad]
        self._sum[i] += newtons
        self._count[i] += 1
        self._last_s[i] = max(self._last_s[i], time_s)

    def fold(self, now_s: float) -> tuple[float, ...]:
        """One pressure per pad at `now_s`, and a fresh window for the next fold."""
        out = []
        for i in range(len(self.pads)):
            if self._count[i]:
                self._held[i] = self._sum[i] / self._count[i]
            elif now_s - self._last_s[i] > self.hold_s:
                self._held[i] = 0.0
            out.append(self._held[i])
            self._sum[i], self._count[i] = 0.0, 0
        return tuple(out)


def touch_values(pads: Iterable[str], pressure: Iterable[float]) -> tuple[list[str], array.array]:
    """The Touch message's `pads` and `pressure` fields (float32[] filled from bytes)."""
    return list(pads), array.array("f", pressure)


class GzTouchNode(Node):
    """Subscribes to the four pads' bridged contacts, publishes /touch at `rate_hz`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("nemuri_gz_touch", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        from ros_gz_interfaces.msg import Contacts  # only where ros_gz is installed

        self._fallback = float(self.get_parameter("fallback_newtons").value)
        self._folder = TouchFolder(TOUCH_PADS, float(self.get_parameter("hold_s").value))
        self._pub = self.create_publisher(Touch, TOUCH_TOPIC, qos.SENSOR)
        for pad in TOUCH_PADS:
            self.create_subscription(
                Contacts, contact_topic(pad), partial(self._on_contacts, pad), qos.SENSOR
            )
        self.create_timer(1.0 / float(self.get_parameter("rate_hz").value), self._on_timer)

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_contacts(self, pad: str, msg: Any) -> None:
        self._folder.add(pad, self._now_s(), contacts_newtons(msg, self._fallback))

    def _on_timer(self) -> None:
        now = self.get_clock().now()
        msg = Touch()
        msg.header.stamp = now.to_msg()
        msg.header.frame_id = "base_link"
        msg.pads, msg.pressure = touch_values(
            self._folder.pads, self._folder.fold(now.nanoseconds * 1e-9)
        )
        msg.normalised = False
        self._pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = GzTouchNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
