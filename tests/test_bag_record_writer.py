"""The recorder's bag writer, no ROS: splitting by size and by duration into files that one
metadata.yaml lists, bytes kept exactly, QoS in the metadata, flushing, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader

from nemuri.bags import BagWriteError, BagWriter, TypeCatalog
from nemuri.memory.metadata import RELIABLE_QOS
from nemuri.memory.storage import McapStream

BEST_EFFORT = {**RELIABLE_QOS, "reliability": "best_effort", "depth": 5}


@pytest.fixture(scope="module")
def catalog() -> TypeCatalog:
    return TypeCatalog()


def payloads(n: int, size: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(n)]


def read_files(bag) -> list[list[tuple[str, int, bytes]]]:
    """Each listed file's messages (topic, log time, bytes), through the mcap library."""
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    out = []
    for name in info["relative_file_paths"]:
        with (bag / name).open("rb") as f:
            reader = make_reader(f)
            out.append([(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages()])
    return out


def test_split_by_size_keeps_every_message_in_order(tmp_path, catalog) -> None:
    bag = tmp_path / "bag"
    data = payloads(60, 10_000)
    with BagWriter(bag, split_size=50_000) as writer:
        writer.add_topic("/camera/image_raw", catalog.get("sensor_msgs/msg/Image"), [BEST_EFFORT])
        for i, d in enumerate(data):
            writer.write("/camera/image_raw", 1_000_000_000 + i * 100_000_000, d)
    files = read_files(bag)
    assert len(files) >= 10  # 600 kB in 50 kB files
    assert [m[2] for f in files for m in f] == data  # every byte, in order, across files
    for name in sorted(bag.glob("*.mcap"))[:-1]:
        assert name.stat().st_size <= 50_000 + 4_000  # + summary, footer
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["relative_file_paths"] == [f"bag_{i}.mcap" for i in range(len(files))]
    assert writer.files == [bag / name for name in info["relative_file_paths"]]
    assert [f["message_count"] for f in info["files"]] == [len(f) for f in files]
    assert info["message_count"] == 60
    assert info["starting_time"]["nanoseconds_since_epoch"] == 1_000_000_000
    assert info["duration"]["nanoseconds"] == 59 * 100_000_000
    topic = info["topics_with_message_count"][0]
    assert topic["message_count"] == 60
    assert topic["topic_metadata"]["offered_qos_profiles"] == [BEST_EFFORT]
    assert topic["topic_metadata"]["type"] == "sensor_msgs/msg/Image"


def test_split_by_duration(tmp_path, catalog) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, split_duration_ns=1_000_000_000) as writer:
        writer.add_topic("/touch", catalog.get("nemuri_msgs/msg/Touch"), [BEST_EFFORT])
        for i in range(35):  # 3.5 s at 10 Hz
            writer.write("/touch", i * 100_000_000, payloads(1, 40, i)[0])
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    files = info["files"]
    assert [f["message_count"] for f in files] == [10, 10, 10, 5]
    for f, first_tick in zip(files, (0, 10, 20, 30), strict=True):
        assert f["starting_time"]["nanoseconds_since_epoch"] == first_tick * 100_000_000
        assert f["duration"]["nanoseconds"] < 1_000_000_000
    assert sum(len(f) for f in read_files(bag)) == 35


def test_a_topic_added_later_is_in_every_later_file(tmp_path, catalog) -> None:
    bag = tmp_path / "bag"
    with BagWriter(bag, split_duration_ns=1_000_000_000) as writer:
        writer.add_topic("/a", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
        for i in range(15):
            writer.write("/a", i * 100_000_000, b"a%d" % i)
        writer.add_topic("/b", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
        for i in range(15, 30):
            writer.write("/a", i * 100_000_000, b"a%d" % i)
            writer.write("/b", i * 100_000_000, b"b%d" % i)
    topics = [{m[0] for m in f} for f in read_files(bag)]
    assert topics == [{"/a"}, {"/a", "/b"}, {"/a", "/b"}]
    assert writer.topics == {"/a": 30, "/b": 15}


def test_whole_seconds_are_on_disk_before_close(tmp_path, catalog) -> None:
    """What a SIGKILL leaves: every message flushed a second ago or earlier is readable."""
    wall = [0.0]
    writer = BagWriter(tmp_path / "bag", wall_clock=lambda: wall[0])
    writer.add_topic("/a", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
    for i in range(25):
        wall[0] = i * 0.125
        writer.write("/a", 5, b"%d" % i)  # same stamp: the wall clock alone must flush
    stream = McapStream(writer.files[0])
    seen = [m.data for _, m in stream.messages()]
    # flushed by the message a second after the oldest unflushed one: at 1.0 s and 2.125 s
    assert seen == [b"%d" % i for i in range(18)]
    assert not stream.complete
    writer.flush()
    assert len([m for _, m in McapStream(writer.files[0]).messages()]) == 25
    writer.close()


def test_refusals_leave_the_bag_as_it_was(tmp_path, catalog) -> None:
    bag = tmp_path / "bag"
    writer = BagWriter(bag)
    with pytest.raises(BagWriteError, match="not added"):
        writer.write("/nope", 0, b"x")
    writer.add_topic("/a", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
    with pytest.raises(BagWriteError, match="already"):
        writer.add_topic("/a", catalog.get("std_msgs/msg/String"), [RELIABLE_QOS])
    with pytest.raises(BagWriteError, match="log time"):
        writer.write("/a", -1, b"x")
    writer.write("/a", 1, b"kept")
    writer.close()
    with pytest.raises(BagWriteError, match="closed"):
        writer.write("/a", 2, b"x")
    assert read_files(bag) == [[("/a", 1, b"kept")]]
    with pytest.raises(BagWriteError, match="exists"):
        BagWriter(bag)
