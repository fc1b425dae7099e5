"""`nemuri record`: the recorder node, raw CDR bytes from the graph into a BagWriter.

Like `ros2 bag record`: every chosen topic is subscribed with `raw=True`, so rclpy hands
over the serialized bytes without deserializing (nothing is decoded or re-encoded on the
way to the file), with a QoS that matches all its publishers; the QoS profiles they offer
go into the metadata. The graph is polled, so a topic whose publisher appears after the
start is picked up. The bag logic (files, splitting, flushing) is bags.writer, no ROS.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from nemuri.contracts import MODALITIES

from .rosqos import message_class, profile_to_yaml, subscription_qos
from .types import TypeCatalog, normalise
from .writer import BagWriteError, BagWriter

if TYPE_CHECKING:
    from nemuri.cli import StopFlag

# Every topic nemuri's graph uses (README, Topics), raw senses first.
NEMURI_TOPICS: Final[tuple[str, ...]] = (
    "/camera/image_raw",
    "/microphone/audio",
    "/touch",
    "/joint_states",
    *(f"/nemuri/embedding/{m}" for m in MODALITIES),
    "/hearing/words",
    "/nemuri/motor_command",
    "/nemuri/speech",
    "/nemuri/state",
    "/nemuri/estop",
    "/world/joint_velocity_commands",
    "/speaker/audio",
    "/world/caretaker/ask",
    "/diagnostics",
    "/clock",
)
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("output", "", "Bag directory to create; empty: rosbag2_<date>-<time> here."),
    ("topics", list(NEMURI_TOPICS), "Topics to record (empty list: nemuri's)."),
    ("split_size_mb", 0.0, "Start a new MCAP file past this many MB; 0: never."),
    ("split_duration_s", 0.0, "Start a new MCAP file past this many seconds; 0: never."),
    ("poll_s", 0.5, "How often the graph is searched for the topics' publishers."),
    ("flush_period_s", 1.0, "Chunks are closed and fsynced at least this often (wall time)."),
)


class RecorderNode(Node):
    """Subscribes to the chosen topics as their publishers appear; writes their bytes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_record", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.wanted = [t for t in self.param("topics") if t] or list(NEMURI_TOPICS)
        output = str(self.param("output")) or datetime.now().strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
        self.writer = BagWriter(
            Path(output).expanduser(),
            split_size=round(float(self.param("split_size_mb")) * 1e6),
            split_duration_ns=round(float(self.param("split_duration_s")) * 1e9),
            flush_period_s=float(self.param("flush_period_s")),
        )
        self.catalog = TypeCatalog()
        self.failure: str | None = None
        self._recording: dict[str, str] = {}  # topic -> type
        steady = Clock(clock_type=ClockType.STEADY_TIME)  # flush on a stalled sim clock too
        self.create_timer(float(self.param("poll_s")), self._discover, clock=steady)
        self.create_timer(float(self.param("flush_period_s")), self._flush, clock=steady)
        self._discover()

    def param(self, name: str) -> object:
        return self.get_parameter(name).value

    def _discover(self) -> None:
        """Subscribe to each wanted topic that has a publisher now and no subscription yet."""
        types = dict(self.get_topic_names_and_types())
        for topic in self.wanted:
            if topic in self._recording or topic not in types:
                continue
            publishers = self.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            type_name = normalise(types[topic][0])
            try:
                msg_class = message_class(type_name)
            except ImportError as err:
                self.get_logger().warning(f"{topic} not recorded: {err}", once=True)
                continue
            offered = [p.qos_profile for p in publishers]
            self.writer.add_topic(
                topic, self.catalog.get(type_name), [profile_to_yaml(q) for q in offered]
            )
            self.create_subscription(
                msg_class,
                topic,
                partial(self._on_message, topic),
                subscription_qos(offered),
                raw=True,
            )
            self._recording[topic] = type_name
            print(f"nemuri record: + {topic} ({type_name})", file=sys.stderr, flush=True)

    def _on_message(self, topic: str, data: bytes) -> None:
        if self.failure is not None:
            return
        try:
            self.writer.write(topic, self.get_clock().now().nanoseconds, data)
        except BagWriteError as err:
            self.failure = str(err)

    def _flush(self) -> None:
        if self.failure is not None:
            return
        try:
            self.writer.flush()
        except BagWriteError as err:
            self.failure = str(err)

    def close(self) -> None:
        """Finish the last file and write metadata.yaml (what Ctrl-C and SIGTERM end with)."""
        if not self.writer.closed:
            self.writer.close()


def record(
    output: Path | None,
    topics: Sequence[str],
    *,
    split_size_mb: float,
    split_duration_s: float,
    use_sim_time: bool,
    duration_s: float | None,
    stop: StopFlag,
) -> int:
    """Record until `stop` is set (the caller's signal handlers) or `duration_s` passed."""
    overrides = [
        Parameter("output", value=str(output or "")),
        Parameter("topics", value=list(topics) or list(NEMURI_TOPICS)),
        Parameter("split_size_mb", value=float(split_size_mb)),
        Parameter("split_duration_s", value=float(split_duration_s)),
        Parameter("use_sim_time", value=use_sim_time),
    ]
    rclpy.init(args=["nemuri-record"], signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor()
    node: RecorderNode | None = None
    code = 0
    try:
        node = RecorderNode(parameter_overrides=overrides)
        executor.add_node(node)
        print(
            f"nemuri record: {node.writer.path}, ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')}, "
            f"topics {', '.join(node.wanted)}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        end = None if duration_s is None else time.monotonic() + duration_s
        while not stop.is_set() and node.failure is None:
            executor.spin_once(timeout_sec=0.05)
            if end is not None and time.monotonic() >= end:
                break
        if node.failure is not None:
            print(f"nemuri record: {node.failure}", file=sys.stderr)
            code = 1
    except BagWriteError as err:
        print(f"nemuri record: {err}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            executor.remove_node(node)
            try:
                node.close()
            except BagWriteError as err:
                print(f"nemuri record: {err}", file=sys.stderr)
                code = 1
            _report(node)
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()
    return code


def _report(node: RecorderNode) -> None:
    counts = node.writer.topics
    files = node.writer.files
    print(
        f"nemuri record: {sum(counts.values())} messages on {len(counts)} topics in "
        f"{len(files)} file(s), {node.writer.path}",
        file=sys.stderr,
    )
    for topic, n in counts.items():
        print(f"  {topic}: {n}", file=sys.stderr)
