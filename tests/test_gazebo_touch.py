"""The gz_touch node's folding: Gazebo's per-pad contacts into one /touch, without Gazebo.

ros_gz_interfaces is not installed here (it comes with ros_gz), so the messages are
stand-ins with the fields of ros_gz_interfaces/Contacts -> Contact -> JointWrench.
"""

from __future__ import annotations

import array
import math
from types import SimpleNamespace

import pytest

from nemuri.contracts import TOUCH_PADS
from nemuri.nodes.gz_touch_node import (
    CONTACTS_TYPE,
    PARAMETERS,
    TOUCH_TOPIC,
    TouchFolder,
    contact_topic,
    contacts_newtons,
    touch_values,
)


def wrench(fx: float, fy: float, fz: float) -> SimpleNamespace:
    force = SimpleNamespace(x=fx, y=fy, z=fz)
    return SimpleNamespace(
        body_1_wrench=SimpleNamespace(force=force),
        body_2_wrench=SimpleNamespace(force=SimpleNamespace(x=-fx, y=-fy, z=-fz)),
    )


def contact(*forces: tuple[float, float, float]) -> SimpleNamespace:
    return SimpleNamespace(wrenches=[wrench(*f) for f in forces])


def contacts(*items: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(contacts=list(items))


def test_topics_are_one_per_pad_and_the_touch_contract():
    topics = [contact_topic(pad) for pad in TOUCH_PADS]
    assert len(set(topics)) == len(TOUCH_PADS)
    assert all(
        t.startswith("/") and t.endswith(pad) for t, pad in zip(topics, TOUCH_PADS, strict=True)
    )
    assert TOUCH_TOPIC == "/touch"
    assert CONTACTS_TYPE == "ros_gz_interfaces/msg/Contacts"
    with pytest.raises(ValueError, match="unknown touch pad"):
        contact_topic("elbow")


def test_points_of_one_contact_add_as_vectors_and_objects_add_up():
    # one object pressing with two points: 3 N + 4 N along z = 7 N
    assert contacts_newtons(contacts(contact((0, 0, 3.0), (0, 0, 4.0))), 1.0) == 7.0
    # orthogonal points of one object: the net push, |(3, 4, 0)| = 5 N
    assert contacts_newtons(contacts(contact((3.0, 0, 0), (0, 4.0, 0))), 1.0) == 5.0
    # two objects, whichever body the pad is in each: magnitudes add
    two = contacts(contact((0, 0, 2.0)), contact((0, 0, -6.0)))
    assert contacts_newtons(two, 1.0) == 8.0
    assert contacts_newtons(contacts(), 1.0) == 0.0


def test_an_engine_without_forces_counts_each_object_as_the_fallback():
    msg = contacts(SimpleNamespace(wrenches=[]), SimpleNamespace(wrenches=[]))
    assert contacts_newtons(msg, 1.5) == 3.0


def test_non_finite_forces_never_reach_the_brain():
    msg = contacts(contact((0, 0, math.nan), (0, 0, 2.0), (math.inf, 0, 0)))
    assert contacts_newtons(msg, 1.0) == 2.0


def test_fold_is_the_mean_since_the_last_fold_in_pad_order():
    folder = TouchFolder(TOUCH_PADS, hold_s=0.1)
    folder.add("head", 1.000, 4.0)
    folder.add("head", 1.002, 6.0)
    folder.add("gripper", 1.004, 2.0)
    values = folder.fold(1.01)
    assert values == (2.0, 5.0, 0.0, 0.0)
    assert len(values) == len(TOUCH_PADS) and folder.pads == TOUCH_PADS


def test_a_short_silence_holds_the_last_value_then_reads_zero():
    """Gazebo publishes contacts only while touched: silence means 0 N, after hold_s."""
    folder = TouchFolder(TOUCH_PADS, hold_s=0.1)
    folder.add("body_left", 2.00, 9.0)
    assert folder.fold(2.02)[2] == 9.0
    assert folder.fold(2.06)[2] == 9.0  # nothing new, 60 ms after the last contact: held
    assert folder.fold(2.15)[2] == 0.0  # 150 ms of silence: released
    assert folder.fold(2.16)[2] == 0.0
    folder.add("body_left", 2.17, 1.0)
    assert folder.fold(2.18)[2] == 1.0


def test_hold_zero_releases_at_once_and_bad_input_is_refused():
    folder = TouchFolder(TOUCH_PADS, hold_s=0.0)
    folder.add("gripper", 1.0, 3.0)
    assert folder.fold(1.0)[0] == 3.0
    assert folder.fold(1.001)[0] == 0.0
    with pytest.raises(KeyError):
        folder.add("elbow", 1.0, 1.0)
    with pytest.raises(ValueError):
        TouchFolder(TOUCH_PADS, hold_s=-1.0)


def test_touch_fields_are_filled_from_bytes():
    pads, pressure = touch_values(TOUCH_PADS, (1.0, 0.0, 2.5, 0.0))
    assert pads == list(TOUCH_PADS)
    assert isinstance(pressure, array.array) and pressure.typecode == "f"
    assert list(pressure) == [1.0, 0.0, 2.5, 0.0]


def test_parameters_have_documented_positive_defaults():
    names = [name for name, _, _ in PARAMETERS]
    assert names == ["rate_hz", "hold_s", "fallback_newtons"]
    for name, default, why in PARAMETERS:
        assert isinstance(default, float) and default > 0 and why, name


@pytest.mark.ros
def test_the_node_publishes_a_checked_touch_message(monkeypatch):
    """The node over real rclpy, its Contacts type stood in by a real message type.

    ros_gz_interfaces is not installed here; any ROS message type lets the node make its
    subscriptions, and the callback is then fed stand-in Contacts directly. What is checked
    is the /touch it builds, with ROS_PYTHON_CHECK_FIELDS=1 (conftest) checking each field.
    """
    import sys
    import types

    import rclpy
    from std_msgs.msg import String

    from nemuri.nodes.gz_touch_node import GzTouchNode

    stand_in = types.ModuleType("ros_gz_interfaces.msg")
    stand_in.Contacts = String
    monkeypatch.setitem(sys.modules, "ros_gz_interfaces", types.ModuleType("ros_gz_interfaces"))
    monkeypatch.setitem(sys.modules, "ros_gz_interfaces.msg", stand_in)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = GzTouchNode(context=context)
        published = []
        monkeypatch.setattr(node._pub, "publish", published.append)
        names = {s.topic_name for s in node.subscriptions}
        assert names == {contact_topic(pad) for pad in TOUCH_PADS}
        assert node._pub.topic_name == TOUCH_TOPIC
        node._on_contacts("head", contacts(contact((0.0, 0.0, 6.0))))
        node._on_timer()
        [msg] = published
        assert list(msg.pads) == list(TOUCH_PADS)
        assert list(msg.pressure) == [0.0, 6.0, 0.0, 0.0]
        assert msg.normalised is False
        assert msg.header.frame_id == "base_link"
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
