"""`nemuri replay`: the replay node, a bag published back into the graph as raw bytes.

Each topic gets a publisher of its recorded type offering its recorded QoS, and every
message goes out as the very bytes that were recorded (rclpy's `publish()` takes
serialized bytes), at its log time laid onto the wall clock at a rate. Time, one of three:
- as recorded: a /clock topic in the bag is replayed like any other (the world's sim
  time, exactly as the graph saw it);
- `clock_hz` > 0: /clock generated from the messages' log times, as `ros2 bag play --clock`
  does (a recorded /clock is then not replayed);
- `restamp`: every message that starts with a std_msgs/Header gets its stamp moved to now,
  so nodes on wall time take a recorded session for a live one.
Publishing needs no executor: this node never spins, its loop is the schedule.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock

from .errors import BagError
from .playback import Schedule, header_stamp_ns, parse_remaps, qos_profiles, restamp
from .reader import BagMessage, open_bag
from .rosqos import message_class, publisher_qos
from .types import TypeCatalog

if TYPE_CHECKING:
    from nemuri.cli import StopFlag

CLOCK_TOPIC: Final[str] = "/clock"
CLOCK_QOS: Final[QoSProfile] = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
_SLICE_S: Final[float] = 0.05  # the longest a wait goes without looking at the stop flag
_SETTLE_S: Final[float] = 0.5  # after every publisher is matched, before the first message
_DELIVERY_S: Final[float] = 2.0  # at the end, at most this long for subscribers to ack
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("bag", "", "Bag directory (or one .mcap file) to play."),
    ("rate", 1.0, "Bag seconds played per wall second."),
    ("clock_hz", 0.0, "Publish /clock from the log times at this wall rate; 0: off."),
    ("restamp", False, "Move each Header stamp to now (wall time), keeping the spacing."),
    ("remap", [""], "Topic remappings, /from:=/to."),
    ("topics", [""], "Play only these topics; empty: all."),
    ("loop", False, "Play the bag again and again until stopped."),
    ("wait_s", 2.0, "Before playing, wait this long at most for every topic's subscribers."),
)


class ReplayNode(Node):
    """Publishers for a bag's topics, and the loop that plays it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_replay", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.bag = open_bag(Path(str(self.param("bag"))).expanduser())
        self.rate = float(self.param("rate"))
        self.clock_hz = float(self.param("clock_hz"))
        self.restamp = bool(self.param("restamp"))
        if self.clock_hz and self.restamp:
            raise ValueError("--clock and --restamp exclude each other: sim time or wall time")
        if not self.rate > 0 or self.clock_hz < 0:
            raise ValueError("rate must be positive and clock_hz zero or positive")
        remaps = parse_remaps([r for r in self.param("remap") if r])
        chosen = [t for t in self.param("topics") if t] or list(self.bag.topics)
        if unknown := [t for t in chosen if t not in self.bag.topics]:
            raise ValueError(f"not in the bag: {', '.join(unknown)}")
        if self.clock_hz or self.restamp:
            chosen = [t for t in chosen if t != CLOCK_TOPIC]  # time is made here instead
        catalog = TypeCatalog()
        self.pubs: dict[str, Publisher] = {}
        self.header_first: set[str] = set()
        for name in chosen:
            topic = self.bag.topics[name]
            msg_class = message_class(topic.msgtype)
            qos = publisher_qos(qos_profiles(topic.offered_qos_profiles))
            self.pubs[name] = self.create_publisher(msg_class, remaps.get(name, name), qos)
            if catalog.get(topic.msgtype).header_first:
                self.header_first.add(name)
        self.clock_pub = (
            self.create_publisher(Clock, CLOCK_TOPIC, CLOCK_QOS) if self.clock_hz else None
        )
        self.published: dict[str, int] = dict.fromkeys(chosen, 0)

    def param(self, name: str) -> object:
        return self.get_parameter(name).value

    def wait_for_subscribers(self, timeout_s: float, stop: StopFlag) -> None:
        """Give discovery time: until every publisher is matched or `timeout_s` passed."""
        end = time.monotonic() + timeout_s
        pubs = list(self.pubs.values()) + ([self.clock_pub] if self.clock_pub else [])
        while time.monotonic() < end and not stop.is_set():
            if all(p.get_subscription_count() > 0 for p in pubs):
                # Matching is two-sided: a publisher can see its subscriber a moment before
                # the subscriber has matched it back, and a reliable but volatile message
                # sent in that moment is lost. A short settle closes the gap.
                time.sleep(_SETTLE_S)
                return
            time.sleep(_SLICE_S)

    def wait_for_delivery(self, timeout_s: float) -> None:
        """Before the process ends: a reliable message still in flight dies with it."""
        pubs = list(self.pubs.values()) + ([self.clock_pub] if self.clock_pub else [])
        for pub in pubs:
            pub.wait_for_all_acked(Duration(seconds=timeout_s))

    def play(self, stop: StopFlag) -> bool:
        """Play the bag once; False when stopped before the end."""
        schedule: Schedule | None = None
        wall_start_ns = 0  # the ROS clock at the start, for re-stamping
        next_clock = 0.0
        for msg in self.bag.messages(self.pubs):
            if schedule is None:
                schedule = Schedule(msg.log_time_ns, time.monotonic(), self.rate)
                wall_start_ns = self.get_clock().now().nanoseconds
                next_clock = schedule.wall_start_s
            due = schedule.due(msg.log_time_ns)
            if self.clock_pub is not None:
                while next_clock <= due:
                    if not _sleep_until(next_clock, stop):
                        return False
                    self._publish_clock(schedule.bag_time(next_clock))
                    next_clock += 1.0 / self.clock_hz
            if not _sleep_until(due, stop):
                return False
            self._publish(msg, schedule, wall_start_ns)
        return True

    def _publish(self, msg: BagMessage, schedule: Schedule, wall_start_ns: int) -> None:
        data = msg.data
        if self.restamp and msg.topic in self.header_first:
            offset_ns = header_stamp_ns(data) - schedule.first_ns
            data = restamp(data, wall_start_ns + round(offset_ns / self.rate))
        self.pubs[msg.topic].publish(bytes(data))
        self.published[msg.topic] += 1

    def _publish_clock(self, bag_ns: int) -> None:
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = divmod(bag_ns, 1_000_000_000)
        self.clock_pub.publish(clock)


def _sleep_until(when: float, stop: StopFlag) -> bool:
    """Sleep until time.monotonic() reaches `when`; False if stopped first."""
    while not stop.is_set():
        left = when - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(left, _SLICE_S))
    return False


def replay(
    bag: Path,
    *,
    rate: float,
    clock_hz: float,
    restamp_stamps: bool,
    remaps: Sequence[str],
    topics: Sequence[str],
    loop: bool,
    wait_s: float,
    stop: StopFlag,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> int:
    """Play `bag` into the graph until it ends (or forever with `loop`) or `stop` is set."""
    overrides = [
        Parameter("bag", value=str(bag)),
        Parameter("rate", value=float(rate)),
        Parameter("clock_hz", value=float(clock_hz)),
        Parameter("restamp", value=bool(restamp_stamps)),
        Parameter("remap", value=list(remaps) or [""]),
        Parameter("topics", value=list(topics) or [""]),
        Parameter("loop", value=bool(loop)),
        Parameter("wait_s", value=float(wait_s)),
    ]
    rclpy.init(args=["nemuri-replay"], signal_handler_options=SignalHandlerOptions.NO)
    node: ReplayNode | None = None
    try:
        node = ReplayNode(parameter_overrides=overrides)
        report(
            f"nemuri replay: {bag}: {', '.join(node.pubs)} at {rate}x"
            + (f", /clock at {clock_hz} Hz" if clock_hz else "")
            + (", re-stamped to now" if restamp_stamps else "")
        )
        node.wait_for_subscribers(float(node.param("wait_s")), stop)
        while node.play(stop) and node.param("loop") and not stop.is_set():
            pass
        node.wait_for_delivery(_DELIVERY_S)
        report(f"nemuri replay: published {sum(node.published.values())} messages")
        for topic, n in node.published.items():
            report(f"  {topic}: {n}")
        return 0
    except (BagError, ValueError, ImportError) as err:
        report(f"nemuri replay: {err}")
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
