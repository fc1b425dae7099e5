"""Bags written by nemuri are ordinary rosbag2 MCAP bags, and nemuri reads any such bag.

Two directions. Out: a day log with its camera thumbnails (nemuri's own TickRecord and
the standard sensor_msgs/Image) is read back by the independent `mcap` library with its
ROS 2 decoder, every message intact field by field, and its metadata.yaml has every field
rosbag2's reader reads (rosbag2_storage's YAML schema, version 9). In: nemuri.bags reads
bags another writer made (rosbags, with zstd-compressed chunks, split over two files) and
agrees with that writer's own reader.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from rosbags.typesys import Stores, get_typestore

from helpers_daylog import PERIOD_NS, assert_same_as_row, make_row
from nemuri.bags import TICK_TOPIC, open_bag
from nemuri.memory import DayLog, recover_day
from nemuri.memory.daylog import THUMBNAIL_TOPIC

N = 150  # ticks
START_NS = 1_790_000_000 * 10**9
THUMB_EVERY = 10  # ticks: once a second at 10 Hz
INFINITE = {"sec": 9223372036, "nsec": 854775807}


def stamp(tick: int) -> int:
    return START_NS + tick * PERIOD_NS


def picture(tick: int) -> np.ndarray:
    """A 32x32 thumbnail that differs from tick to tick and pixel to pixel."""
    rng = np.random.default_rng(tick)
    return rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def write_day(days: Path) -> Path:
    with DayLog.create(days, clock_ns=START_NS) as log:
        for tick in range(N):
            log.append(make_row(tick, stamp(tick)))
            if tick % THUMB_EVERY == 0:
                log.add_thumbnail(stamp(tick), picture(tick))
    return log.path


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("days"))


# -- rosbag2's metadata.yaml ------------------------------------------------------------
def _ns(node: Any, key: str) -> int:
    assert isinstance(node, dict) and set(node) == {key}, node
    assert isinstance(node[key], int) and node[key] >= 0, node
    return node[key]


def assert_rosbag2_metadata(bag_dir: Path) -> dict[str, Any]:
    """Every field rosbag2_storage's YAML decoder reads for version 9, typed as it reads it
    (yaml.hpp: convert<BagMetadata>, <TopicInformation>, <TopicMetadata>, <FileInformation>),
    and consistent with the MCAP files as the `mcap` library sees them. Returns the info.
    """
    doc = yaml.safe_load((bag_dir / "metadata.yaml").read_text(encoding="utf-8"))
    info = doc["rosbag2_bagfile_information"]
    assert info["version"] == 9
    assert info["storage_identifier"] == "mcap"
    duration = _ns(info["duration"], "nanoseconds")
    start = _ns(info["starting_time"], "nanoseconds_since_epoch")
    assert isinstance(info["message_count"], int)
    assert isinstance(info["compression_format"], str)
    assert isinstance(info["compression_mode"], str)
    assert isinstance(info["ros_distro"], str)  # version >= 8
    custom = info["custom_data"]  # version >= 6: a string map (rosbag2 writes ~ when empty)
    assert custom is None or all(
        isinstance(k, str) and isinstance(v, str) for k, v in custom.items()
    )
    files = info["relative_file_paths"]
    assert isinstance(files, list) and files and all(isinstance(f, str) for f in files)
    assert [f["path"] for f in info["files"]] == files  # version >= 5

    # What the files really hold, read by the mcap library.
    seen: dict[str, list[int]] = {}
    hashes: dict[str, str] = {}
    per_file = []
    for name in files:
        with (bag_dir / name).open("rb") as f:
            reader = make_reader(f)
            times = []
            for _, channel, message in reader.iter_messages():
                seen.setdefault(channel.topic, []).append(message.log_time)
                hashes[channel.topic] = channel.metadata["topic_type_hash"]
                times.append(message.log_time)
            per_file.append(times)
    for entry, times in zip(info["files"], per_file, strict=True):
        assert set(entry) == {"path", "starting_time", "duration", "message_count"}
        assert entry["message_count"] == len(times)
        if times:
            assert _ns(entry["starting_time"], "nanoseconds_since_epoch") == min(times)
            assert _ns(entry["duration"], "nanoseconds") == max(times) - min(times)
    every = [t for times in seen.values() for t in times]
    assert info["message_count"] == len(every)
    assert (start, duration) == (min(every), max(every) - min(every))

    topics = info["topics_with_message_count"]
    assert {t["topic_metadata"]["name"] for t in topics} == set(seen)
    for entry in topics:
        meta = entry["topic_metadata"]
        assert set(meta) >= {
            "name",
            "type",
            "serialization_format",
            "offered_qos_profiles",
            "type_description_hash",
        }
        assert entry["message_count"] == len(seen[meta["name"]])
        assert meta["serialization_format"] == "cdr"
        assert meta["type_description_hash"] == hashes[meta["name"]]
        assert meta["type_description_hash"].startswith("RIHS01_")
        (qos,) = meta["offered_qos_profiles"]  # version 9: a sequence of profiles
        assert set(qos) == {
            "history",
            "depth",
            "reliability",
            "durability",
            "deadline",
            "lifespan",
            "liveliness",
            "liveliness_lease_duration",
            "avoid_ros_namespace_conventions",
        }
        assert qos["deadline"] == qos["lifespan"] == INFINITE
    return info


def test_a_day_logs_metadata_has_every_field_rosbag2_reads(day: Path) -> None:
    info = assert_rosbag2_metadata(day)
    counts = {
        t["topic_metadata"]["name"]: (t["topic_metadata"]["type"], t["message_count"])
        for t in info["topics_with_message_count"]
    }
    assert counts == {
        TICK_TOPIC: ("nemuri_msgs/msg/TickRecord", N),
        THUMBNAIL_TOPIC: ("sensor_msgs/msg/Image", N // THUMB_EVERY),
    }


def test_a_recovered_bags_metadata_has_every_field_too(day: Path, tmp_path: Path) -> None:
    bag = tmp_path / day.name
    bag.mkdir()
    (mcap,) = day.glob("*.mcap")
    (bag / mcap.name).write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    report = recover_day(bag)
    assert 0 < report.ticks < N and report.thumbnails > 0
    info = assert_rosbag2_metadata(bag)
    assert info["custom_data"]["nemuri.recovered"].endswith(")")  # says what was dropped


# -- read back by the mcap library ------------------------------------------------------
def test_every_message_of_a_day_log_reads_back_intact_with_mcap_ros2(day: Path) -> None:
    (mcap,) = day.glob("*.mcap")
    ticks, thumbnails = [], []
    with mcap.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for schema, channel, message, msg in reader.iter_decoded_messages():
            assert (schema.encoding, channel.message_encoding) == ("ros2msg", "cdr")
            if channel.topic == TICK_TOPIC:
                assert schema.name == "nemuri_msgs/msg/TickRecord"
                assert message.log_time == stamp(msg.tick)
                assert_same_as_row(msg, make_row(msg.tick, stamp(msg.tick)))
                ticks.append(msg.tick)
            else:
                assert (channel.topic, schema.name) == (THUMBNAIL_TOPIC, "sensor_msgs/msg/Image")
                tick = (message.log_time - START_NS) // PERIOD_NS
                assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp(tick)
                assert (msg.height, msg.width, msg.encoding, msg.step) == (32, 32, "rgb8", 96)
                assert msg.is_bigendian == 0 and msg.header.frame_id == "camera"
                pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(32, 32, 3)
                assert np.array_equal(pixels, picture(tick))
                thumbnails.append(tick)
    assert ticks == list(range(N))
    assert thumbnails == list(range(0, N, THUMB_EVERY))


def test_nemuri_reads_its_own_bag_as_the_mcap_library_does(day: Path) -> None:
    bag = open_bag(day)
    assert not bag.recovered and bag.recovery_note() is None
    assert (bag.message_count, bag.start_ns, bag.end_ns) == (
        N + N // THUMB_EVERY,
        stamp(0),
        stamp(N - 1),
    )
    ticks = bag.topics[TICK_TOPIC]
    assert (ticks.msgtype, ticks.count, ticks.serialization_format) == (
        "nemuri_msgs/msg/TickRecord",
        N,
        "cdr",
    )
    assert ticks.rate_hz == pytest.approx(10.0)
    assert bag.topics[THUMBNAIL_TOPIC].rate_hz == pytest.approx(1.0)
    assert "reliability: reliable" in ticks.offered_qos_profiles
    (mcap,) = day.glob("*.mcap")
    with mcap.open("rb") as f:
        theirs = [
            (c.topic, m.log_time, bytes(m.data)) for _, c, m in make_reader(f).iter_messages()
        ]
    ours = [(m.topic, m.log_time_ns, m.data) for m in bag.messages()]
    assert ours == theirs
    assert [r.tick for r in bag.tick_rows()] == list(range(N))
    only = list(bag.messages(topics={THUMBNAIL_TOPIC}))
    assert len(only) == N // THUMB_EVERY and {m.msgtype for m in only} == {"sensor_msgs/msg/Image"}


# -- bags from another writer -----------------------------------------------------------
STORE = get_typestore(Stores.ROS2_KILTED)
STRING, IMAGE = "std_msgs/msg/String", "sensor_msgs/msg/Image"


def _image(i: int) -> Any:
    header = STORE.types["std_msgs/msg/Header"](
        stamp=STORE.types["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id="cam"
    )
    return STORE.types[IMAGE](
        header=header,
        height=2,
        width=2,
        encoding="rgb8",
        is_bigendian=0,
        step=6,
        data=np.full(12, i, np.uint8),
    )


def write_rosbags_bag(path: Path, first: int, n: int) -> None:
    """Messages first..first+n-1 on /chatter (String) and /camera/image_raw (Image), zstd."""
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        chatter = writer.add_connection("/chatter", STRING, typestore=STORE)
        camera = writer.add_connection("/camera/image_raw", IMAGE, typestore=STORE)
        for i in range(first, first + n):
            text = STORE.types[STRING](data=f"hello {i}")
            writer.write(chatter, i * 10**9, STORE.serialize_cdr(text, STRING))
            writer.write(camera, i * 10**9 + 1, STORE.serialize_cdr(_image(i), IMAGE))


def split_bag(root: Path) -> Path:
    """One bag in two files, as `ros2 bag record --max-bag-duration` leaves it."""
    write_rosbags_bag(root / "split", 0, 10)
    write_rosbags_bag(root / "second", 10, 7)
    with Reader(root / "second") as reader:
        second_file = {
            "path": "split_1.mcap",
            "starting_time": {"nanoseconds_since_epoch": reader.start_time},
            "duration": {"nanoseconds": reader.end_time - reader.start_time},
            "message_count": reader.message_count,
        }
    (second,) = (root / "second").glob("*.mcap")
    shutil.move(second, root / "split" / "split_1.mcap")
    meta_path = root / "split" / "metadata.yaml"
    doc = yaml.safe_load(meta_path.read_text())
    info = doc["rosbag2_bagfile_information"]
    info["relative_file_paths"].append("split_1.mcap")
    info["files"].append(second_file)
    info["message_count"] += 14
    info["duration"]["nanoseconds"] = 16 * 10**9 + 1
    for topic in info["topics_with_message_count"]:
        topic["message_count"] += 7
    meta_path.write_text(yaml.safe_dump(doc))
    return root / "split"


def test_a_bag_from_another_writer_with_compressed_chunks_reads_as_its_reader_does(
    tmp_path: Path,
) -> None:
    write_rosbags_bag(tmp_path / "theirs", 0, 12)
    bag = open_bag(tmp_path / "theirs")
    assert not bag.recovered and not bag.is_day_log
    assert {t.name: (t.msgtype, t.count) for t in bag.topics.values()} == {
        "/chatter": (STRING, 12),
        "/camera/image_raw": (IMAGE, 12),
    }
    with Reader(tmp_path / "theirs") as reader:
        theirs = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    assert [(m.topic, m.log_time_ns, m.data) for m in bag.messages()] == theirs
    decoded = STORE.deserialize_cdr(next(bag.messages(topics={"/chatter"})).data, STRING)
    assert decoded.data == "hello 0"


def test_a_split_bag_is_read_file_after_file(tmp_path: Path) -> None:
    path = split_bag(tmp_path)
    with Reader(path) as reader:  # a bag the standard reader takes as one
        assert reader.message_count == 34 and len(list(reader.messages())) == 34
    bag = open_bag(path)
    assert [f.path.name for f in bag.files] == ["split.mcap", "split_1.mcap"]
    assert not bag.recovered
    assert (bag.message_count, bag.topics["/chatter"].count) == (34, 17)
    texts = [STORE.deserialize_cdr(m.data, STRING).data for m in bag.messages({"/chatter"})]
    assert texts == [f"hello {i}" for i in range(17)]
    assert bag.topics["/chatter"].rate_hz == pytest.approx(1.0)


def test_a_recording_split_over_files_is_a_rosbag2_bag_every_reader_takes(
    tmp_path: Path,
) -> None:
    """`nemuri record`'s writer: camera images over several files, each read back intact."""
    from nemuri.bags import BagWriter, TypeCatalog
    from nemuri.memory.metadata import RELIABLE_QOS

    best_effort = {**RELIABLE_QOS, "reliability": "best_effort", "depth": 5}
    images = [STORE.serialize_cdr(_image(i), IMAGE) for i in range(40)]
    with BagWriter(tmp_path / "rec", split_size=200) as writer:
        writer.add_topic("/camera/image_raw", TypeCatalog().get(IMAGE), [best_effort])
        for i, data in enumerate(images):
            writer.write("/camera/image_raw", START_NS + i * PERIOD_NS, bytes(data))
    info = assert_rosbag2_metadata(tmp_path / "rec")
    assert len(info["relative_file_paths"]) > 1
    decoded = []
    for name in info["relative_file_paths"]:
        with (tmp_path / "rec" / name).open("rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            for _, _, message, msg in reader.iter_decoded_messages():
                decoded.append((message.log_time, msg.header.stamp.sec, bytes(msg.data)))
    assert decoded == [
        (START_NS + i * PERIOD_NS, i, bytes(np.full(12, i, np.uint8))) for i in range(40)
    ]
    bag = open_bag(tmp_path / "rec")
    assert not bag.recovered and len(bag.files) == len(info["relative_file_paths"])
    assert [m.data for m in bag.messages()] == [bytes(d) for d in images]
