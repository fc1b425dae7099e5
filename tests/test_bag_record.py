"""`nemuri record` over real rclpy: the recorded bytes are the published ones, topics that
appear later are picked up, the offered QoS lands in the metadata, Ctrl-C leaves a
complete split bag and SIGKILL a readable one."""

from __future__ import annotations

import array
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader

from nemuri.bags import open_bag
from nemuri.memory.storage import McapStream
from ros_helpers import spinning, stop_process, wait_for

rclpy = pytest.importorskip("rclpy")
from nemuri_msgs.msg import Embedding  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from nemuri.nodes import qos  # noqa: E402


def start_recorder(bag: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nemuri.cli", "record", "-o", str(bag), *args],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def node(ctx):
    node = rclpy.create_node("bag_record_test", context=ctx)
    yield node
    node.destroy_node()


def image(i: int) -> Image:
    msg = Image(height=4, width=6, encoding="rgb8", step=18)
    msg.header.stamp.sec, msg.header.frame_id = i, "camera"
    msg.data = bytes((i * 7 + k) % 256 for k in range(72))
    return msg


def embedding(i: int) -> Embedding:
    msg = Embedding(modality=0, tick=i, encoder_version="enc")
    msg.data = array.array("f", [i + k / 128 for k in range(128)])
    return msg


def listed_messages(bag: Path) -> dict[str, list[bytes]]:
    """Every topic's messages through the mcap library, over the files metadata.yaml lists."""
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    out: dict[str, list[bytes]] = {}
    for name in info["relative_file_paths"]:
        with (bag / name).open("rb") as f:
            for _, channel, message in make_reader(f).iter_messages():
                out.setdefault(channel.topic, []).append(message.data)
    return out


def raw_collector(node, msg_type, topic: str) -> list[bytes]:
    """What DDS delivers on `topic`, as bytes: the reference a recording must equal."""
    got: list[bytes] = []
    node.create_subscription(msg_type, topic, got.append, qos.RELIABLE, raw=True)
    return got


def same_cdr(recorded: list[bytes], delivered: list[bytes]) -> bool:
    """Equal bytes, but for the zero padding to 4 bytes that a DDS transport between
    processes appends and a delivery inside one process does not."""
    if len(recorded) != len(delivered):
        return False
    for a, b in zip(recorded, delivered, strict=True):
        short, long = sorted((a, b), key=len)
        if long[: len(short)] != short or long[len(short) :] != bytes(len(long) - len(short)):
            return False
        if len(long) - len(short) >= 4:
            return False
    return True


def test_record_keeps_the_published_bytes_and_closes_on_sigint(tmp_path, node) -> None:
    bag = tmp_path / "session"
    words = node.create_publisher(String, "/hearing/words", qos.RELIABLE)
    frames = node.create_publisher(Image, "/camera/image_raw", qos.RELIABLE)
    wire_words = raw_collector(node, String, "/hearing/words")
    wire_frames = raw_collector(node, Image, "/camera/image_raw")
    recorder = start_recorder(
        bag, "--topics", "/hearing/words", "/camera/image_raw", "/nemuri/embedding/vision",
        "--split-duration", "1",
    )  # fmt: skip
    sent_words, sent_frames, sent_vision = [], [], []
    try:
        with spinning(node.context, node):
            assert wait_for(lambda: words.get_subscription_count() > 1, 30), "recorder not up"
            assert wait_for(lambda: frames.get_subscription_count() > 1, 10)
            # a topic that appears after the recorder started
            vision = node.create_publisher(Embedding, "/nemuri/embedding/vision", qos.EMBEDDING)
            assert wait_for(lambda: vision.get_subscription_count() > 0, 15), "late topic missed"
            for i in range(40):  # 2 s at 20 Hz: several 1 s files
                sent_words.append(String(data=f"word {i}"))
                sent_frames.append(image(i))
                sent_vision.append(embedding(i))
                words.publish(sent_words[-1])
                frames.publish(sent_frames[-1])
                vision.publish(sent_vision[-1])
                time.sleep(0.05)
            assert wait_for(lambda: len(wire_frames) == 40 and len(wire_words) == 40, 10)
            time.sleep(1.0)
    finally:
        out = stop_process(recorder, signal.SIGINT, timeout=30)
    assert recorder.returncode == 0, out
    got = listed_messages(bag)
    # reliable: every message, byte for byte what DDS delivered, and what was published
    assert same_cdr(got["/hearing/words"], wire_words)
    assert same_cdr(got["/camera/image_raw"], wire_frames)
    assert [deserialize_message(d, Image) for d in got["/camera/image_raw"]] == sent_frames
    assert [deserialize_message(d, String) for d in got["/hearing/words"]] == sent_words
    # best effort may drop on a loaded machine, but never alters or reorders
    vision_got = [deserialize_message(d, Embedding) for d in got["/nemuri/embedding/vision"]]
    assert vision_got and all(m in sent_vision for m in vision_got)
    ticks = [m.tick for m in vision_got]
    assert ticks == sorted(ticks)

    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert len(info["relative_file_paths"]) >= 2  # split by duration
    for name in info["relative_file_paths"]:
        stream = McapStream(bag / name)
        list(stream.messages())
        assert stream.complete, f"{name}: {stream.damage}"
    topics = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    offered = topics["/nemuri/embedding/vision"]["topic_metadata"]["offered_qos_profiles"]
    assert [p["reliability"] for p in offered] == ["best_effort"]
    words_meta = topics["/hearing/words"]["topic_metadata"]
    assert words_meta["offered_qos_profiles"][0]["reliability"] == "reliable"
    assert words_meta["type"] == "std_msgs/msg/String"
    # the hash rosidl generated for the type, as `ros2 bag play` checks it
    graph_hash = node.get_publishers_info_by_topic("/hearing/words")[0].topic_type_hash
    assert words_meta["type_description_hash"] == str(graph_hash)
    vision_hash = node.get_publishers_info_by_topic("/nemuri/embedding/vision")[0].topic_type_hash
    vision_meta = topics["/nemuri/embedding/vision"]["topic_metadata"]
    assert vision_meta["type_description_hash"] == str(vision_hash)
    assert topics["/camera/image_raw"]["message_count"] == 40


def test_sigkill_leaves_a_readable_bag(tmp_path, node) -> None:
    bag = tmp_path / "killed"
    words = node.create_publisher(String, "/hearing/words", qos.RELIABLE)
    recorder = start_recorder(bag, "--topics", "/hearing/words")
    sent: list[tuple[float, bytes]] = []
    try:
        assert wait_for(lambda: words.get_subscription_count() > 0, 30), "recorder not up"
        for i in range(80):  # 4 s at 20 Hz
            msg = String(data=f"word {i}")
            words.publish(msg)
            sent.append((time.monotonic(), msg))
            time.sleep(0.05)
        killed_at = time.monotonic()
    finally:
        stop_process(recorder, signal.SIGKILL)
    assert not (bag / "metadata.yaml").exists()
    stream = McapStream(next(bag.glob("*.mcap")))
    recorded = [m.data for _, m in stream.messages()]
    assert not stream.complete  # no footer: a kill, not a close
    # a prefix of what was sent, intact
    assert [deserialize_message(d, String) for d in recorded] == [m for _, m in sent][
        : len(recorded)
    ]
    older = sum(1 for at, _ in sent if at < killed_at - 2.5)
    assert len(recorded) >= older  # flushed at least every second
    # and the bag plays: its topics and messages are found without metadata.yaml
    source = open_bag(bag)
    assert source.topics["/hearing/words"].msgtype == "std_msgs/msg/String"
    assert len(list(source.messages())) == len(recorded)


def test_sim_time_log_times_when_asked(tmp_path, node) -> None:
    from rosgraph_msgs.msg import Clock

    bag = tmp_path / "sim"
    clock = node.create_publisher(Clock, "/clock", qos.RELIABLE)
    words = node.create_publisher(String, "/hearing/words", qos.RELIABLE)
    recorder = start_recorder(bag, "--topics", "/hearing/words", "--use-sim-time")
    sim_s = 4242
    try:
        assert wait_for(lambda: words.get_subscription_count() > 0, 30), "recorder not up"
        assert wait_for(lambda: clock.get_subscription_count() > 0, 10)
        for i in range(20):  # the recorder's clock follows /clock: 4242.0 s, 4242.1 s, ...
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = sim_s, i * 50_000_000
            clock.publish(msg)
            time.sleep(0.05)
        words.publish(String(data="at sim time"))
        time.sleep(1.0)
    finally:
        out = stop_process(recorder, signal.SIGINT, timeout=30)
    assert recorder.returncode == 0, out
    [(log_time, data)] = [(m.log_time_ns, m.data) for m in open_bag(bag).messages()]
    assert deserialize_message(data, String).data == "at sim time"
    assert sim_s * 10**9 <= log_time < (sim_s + 1) * 10**9  # sim time, not the wall clock


def test_an_existing_bag_is_never_overwritten(tmp_path) -> None:
    bag = tmp_path / "taken"
    bag.mkdir()
    (bag / "keep.txt").write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "nemuri.cli", "record", "-o", str(bag), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "exists already" in proc.stderr, proc.stderr
    assert [p.name for p in bag.iterdir()] == ["keep.txt"]
