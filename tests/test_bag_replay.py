"""`nemuri replay` over real rclpy: the recorded bytes go out unchanged, at a rate, under
remapped names, with /clock from the log times or header stamps moved to now."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemuri.bags import BagWriter, TypeCatalog
from nemuri.bags.playback import header_stamp_ns, parse_remaps, restamp
from nemuri.memory.metadata import RELIABLE_QOS
from ros_helpers import Collector, spinning, wait_for
from test_bag_record import same_cdr

rclpy = pytest.importorskip("rclpy")
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from nemuri.nodes import qos  # noqa: E402

T0 = 1_000 * 10**9  # the recorded session's first log time, ns
N = 20
PERIOD = 100_000_000  # 10 Hz


def write_bag(path: Path) -> dict[str, list[bytes]]:
    """A two-topic bag, 2 s at 10 Hz, written without ROS; the bytes of each message."""
    catalog = TypeCatalog()
    sent: dict[str, list[bytes]] = {"/hearing/words": [], "/joint_states": []}
    with BagWriter(path) as writer:
        writer.add_topic("/hearing/words", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
        writer.add_topic("/joint_states", catalog.get("sensor_msgs/msg/JointState"), [RELIABLE_QOS])
        for i in range(N):
            log_ns = T0 + i * PERIOD
            joints = JointState(name=["a", "b"], position=[0.1 * i, -0.1 * i])
            joints.header.stamp.sec, joints.header.stamp.nanosec = divmod(log_ns - 7, 10**9)
            for topic, msg in (("/hearing/words", String(data=f"w{i}")), ("/joint_states", joints)):
                data = serialize_message(msg)
                writer.write(topic, log_ns, data)
                sent[topic].append(data)
    return sent


@pytest.fixture
def node(ctx):
    node = rclpy.create_node("bag_replay_test", context=ctx)
    yield node
    node.destroy_node()


def replay(bag: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nemuri.cli", "replay", str(bag), "--wait", "15", *args],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finish(proc: subprocess.Popen, timeout: float = 60) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out.decode()
    return out.decode()


def test_replay_at_a_rate_under_a_remapped_name(tmp_path, node) -> None:
    sent = write_bag(tmp_path / "bag")
    heard: list[bytes] = []
    arrivals: list[float] = []

    def on_heard(data: bytes) -> None:
        heard.append(data)
        arrivals.append(time.monotonic())

    node.create_subscription(String, "/heard", on_heard, qos.RELIABLE, raw=True)
    with spinning(node.context, node):
        proc = replay(
            tmp_path / "bag", "--rate", "4", "--remap", "/hearing/words:=/heard",
            "--topics", "/hearing/words",
        )  # fmt: skip
        try:
            assert wait_for(lambda: node.count_publishers("/heard") > 0, 30)
            assert node.count_publishers("/hearing/words") == 0  # renamed, not doubled
            assert wait_for(lambda: len(heard) == N, 30)
        finally:
            out = finish(proc)
    assert same_cdr(heard, sent["/hearing/words"])  # the recorded bytes, in order
    span = arrivals[-1] - arrivals[0]
    bag_span = (N - 1) * PERIOD / 1e9  # 1.9 s of bag time
    assert span >= 0.9 * bag_span / 4  # never ahead of the schedule...
    assert span < bag_span  # ...and faster than real time
    assert "/joint_states" not in out.split("published")[1]  # only the chosen topic


def test_clock_from_the_log_times(tmp_path, node) -> None:
    write_bag(tmp_path / "bag")
    clocks = Collector(node, Clock, "/clock", qos.RELIABLE)
    joints = Collector(node, JointState, "/joint_states", qos.RELIABLE)
    with spinning(node.context, node):
        proc = replay(tmp_path / "bag", "--clock", "50", "--rate", "2")
        out = finish(proc)
        assert wait_for(lambda: len(joints.snapshot()) == N, 10), (len(joints.snapshot()), out)
    times = [m.clock.sec * 10**9 + m.clock.nanosec for m in clocks.snapshot()]
    assert len(times) >= 20  # ~1 s of wall time at 50 Hz
    assert times == sorted(times)
    assert T0 <= times[0] and times[-1] <= T0 + (N - 1) * PERIOD
    # each 1/50 s of wall time is 2/50 s of bag time at rate 2
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(step - 40_000_000) <= 1_000 for step in steps)


def test_restamp_moves_headers_to_now(tmp_path, node) -> None:
    sent = write_bag(tmp_path / "bag")
    got = Collector(node, JointState, "/joint_states", qos.RELIABLE)
    with spinning(node.context, node):
        started_ns = time.time_ns()
        out = finish(
            replay(tmp_path / "bag", "--restamp", "--rate", "2", "--topics", "/joint_states")
        )
        assert wait_for(lambda: len(got.snapshot()) == N, 10), (len(got.snapshot()), out)
    msgs = got.snapshot()
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
    assert started_ns <= stamps[0] <= time.time_ns()  # now, not the recorded 1970 + 1000 s
    # spacing kept, at the rate: 100 ms of bag time is 50 ms of wall time
    assert [s - stamps[0] for s in stamps] == [i * PERIOD // 2 for i in range(N)]
    originals = [deserialize_message(d, JointState) for d in sent["/joint_states"]]
    assert [list(m.position) for m in msgs] == [list(m.position) for m in originals]


def test_bad_requests_are_refused_clearly(tmp_path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.mcap").write_bytes(b"not an mcap at all")
    for args, message in (
        ([str(tmp_path / "missing")], "does not exist"),
        ([str(tmp_path / "junk")], "not an MCAP"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "nemuri.cli", "replay", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    write_bag(tmp_path / "bag")
    proc = subprocess.run(
        [sys.executable, "-m", "nemuri.cli", "replay", str(tmp_path / "bag"), "--topics", "/nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not in the bag: /nope" in proc.stderr


def test_restamp_and_remaps_without_ros() -> None:
    msg = JointState(name=["a"])
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
    data = serialize_message(msg)
    assert header_stamp_ns(data) == 12 * 10**9 + 345
    moved = restamp(data, 1_790_000_000 * 10**9 + 5)
    back = deserialize_message(moved, JointState)
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (1_790_000_000, 5)
    assert back.name == ["a"] and len(moved) == len(data)
    assert parse_remaps(["/a:=/b"]) == {"/a": "/b"}
    with pytest.raises(ValueError, match="/from:=/to"):
        parse_remaps(["/a=/b"])
