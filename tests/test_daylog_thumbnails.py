"""Thumbnails in the day log: what the night's dream strip is drawn from.

A day log keeps a 32x32 camera picture once a second beside its rows (DESIGN.md, Day log):
written as sensor_msgs/Image on /nemuri/thumbnail, counted in metadata.yaml, read by
sleep.report.read_thumbnails and by any rosbag2 reader, and kept by recover_day after a
crash. The Agent keeps them through its lock; the core node takes them from the camera.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from helpers_daylog import PERIOD_NS, make_row
from nemuri.agent import Agent
from nemuri.memory import DayLog, DayLogClosed, read_day, recover_day
from nemuri.memory.daylog import THUMBNAIL_TOPIC, InvalidThumbnail
from nemuri.sleep.report import read_thumbnails

TICKS = 60


def picture(k: int, size: int = 32) -> np.ndarray:
    """A thumbnail that differs in every pixel from the next k's."""
    rng = np.random.default_rng(k)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def write_day(days: Path, close: bool = True) -> tuple[Path, list[int]]:
    """TICKS rows at 10 Hz with a thumbnail every 10 ticks (once a second)."""
    log = DayLog.create(days, clock_ns=0, wall_clock=lambda: 0.0)
    stamps = []
    for tick in range(TICKS):
        log.append(make_row(tick))
        if tick % 10 == 5:
            log.add_thumbnail(tick * PERIOD_NS, picture(tick))
            stamps.append(tick * PERIOD_NS)
    assert log.thumbnails == len(stamps) and len(log) == TICKS
    if close:
        log.close()
    else:
        log.flush()
    return log.path, stamps


def topics_in_metadata(bag: Path) -> dict[str, tuple[str, int]]:
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return {
        t["topic_metadata"]["name"]: (t["topic_metadata"]["type"], t["message_count"])
        for t in info["topics_with_message_count"]
    }


def test_thumbnails_are_kept_beside_the_rows_and_counted(tmp_path: Path) -> None:
    bag, stamps = write_day(tmp_path)
    topics = topics_in_metadata(bag)
    assert topics[THUMBNAIL_TOPIC] == ("sensor_msgs/msg/Image", len(stamps))
    assert topics["/nemuri/tick_record"][1] == TICKS
    got_stamps, pictures = read_thumbnails(next(bag.glob("*.mcap")))
    assert got_stamps.tolist() == stamps
    for stamp, pic in zip(stamps, pictures, strict=True):
        np.testing.assert_array_equal(pic, picture(stamp // PERIOD_NS))
    reader = read_day(bag)
    assert len(reader) == TICKS and reader.thumbnails == len(stamps) and not reader.recovered
    assert [r.tick for r in reader] == list(range(TICKS))  # rows are untouched by pictures


def test_a_day_without_thumbnails_lists_only_its_rows(tmp_path: Path) -> None:
    with DayLog.create(tmp_path, clock_ns=0) as log:
        log.append(make_row(0))
    assert list(topics_in_metadata(log.path)) == ["/nemuri/tick_record"]


def test_any_rosbag2_reader_sees_camera_images(tmp_path: Path) -> None:
    """Foxglove and `ros2 bag play` show the thumbnails as an ordinary Image topic."""
    bag, stamps = write_day(tmp_path)
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Reader(bag) as reader:
        [conn] = [c for c in reader.connections if c.topic == THUMBNAIL_TOPIC]
        images = [
            typestore.deserialize_cdr(raw, conn.msgtype)
            for _, _, raw in reader.messages(connections=[conn])
        ]
    assert len(images) == len(stamps)
    first = images[0]
    assert (first.encoding, first.height, first.width, first.step) == ("rgb8", 32, 32, 96)
    assert first.header.stamp.sec * 10**9 + first.header.stamp.nanosec == stamps[0]
    np.testing.assert_array_equal(first.data.reshape(32, 32, 3), picture(5))


def test_recovery_after_a_crash_keeps_the_thumbnails(tmp_path: Path) -> None:
    bag, stamps = write_day(tmp_path, close=False)  # flushed, never closed: a crash
    assert not (bag / "metadata.yaml").exists()
    assert read_day(bag).thumbnails == len(stamps)
    report = recover_day(bag)
    assert report.rewritten and (report.ticks, report.thumbnails) == (TICKS, len(stamps))
    assert topics_in_metadata(bag)[THUMBNAIL_TOPIC][1] == len(stamps)
    got_stamps, pictures = read_thumbnails(next(bag.glob("*.mcap")))
    assert got_stamps.tolist() == stamps
    np.testing.assert_array_equal(pictures[-1], picture(stamps[-1] // PERIOD_NS))
    assert not read_day(bag).recovered


def test_a_torn_tail_loses_at_most_the_last_second_of_pictures(tmp_path: Path) -> None:
    bag, stamps = write_day(tmp_path, close=False)
    mcap = next(bag.glob("*.mcap"))
    whole = mcap.stat().st_size
    with mcap.open("r+b") as f:
        f.truncate(whole - 3000)  # the last chunk is torn
    report = recover_day(bag)
    assert TICKS - 10 <= report.ticks < TICKS  # the torn chunk's rows are gone...
    assert len(stamps) - 1 <= report.thumbnails  # ...and at most its one picture
    assert read_thumbnails(mcap)[0].tolist() == stamps[: report.thumbnails]


@pytest.mark.parametrize(
    ("bad", "stamp", "why"),
    [
        (picture(0).astype(np.float32), 0, "uint8"),
        (picture(0)[..., :2], 0, "(h, w, 3)"),
        (np.zeros((0, 32, 3), np.uint8), 0, "(h, w, 3)"),
        (picture(0, size=96), 0, "at most 64"),
        ([[1, 2, 3]], 0, "numpy array"),
        (picture(0), -1, "negative"),
        (picture(0), 1.5, "integer ns"),
    ],
)
def test_a_bad_thumbnail_is_refused_and_the_log_is_as_it_was(
    tmp_path: Path, bad: object, stamp: object, why: str
) -> None:
    with DayLog.create(tmp_path, clock_ns=0) as log:
        log.append(make_row(0))
        with pytest.raises(InvalidThumbnail, match=why):
            log.add_thumbnail(stamp, bad)  # type: ignore[arg-type]
        log.append(make_row(1))
    assert log.thumbnails == 0 and len(read_day(log.path)) == 2
    with pytest.raises(DayLogClosed):
        log.add_thumbnail(0, picture(0))


# ------------------------------------------------------------------------- the Agent
def test_the_agent_keeps_thumbnails_while_awake_only(tmp_path: Path) -> None:
    log = DayLog.create(tmp_path, clock_ns=0)
    agent = Agent(object(), brain_version="v0000", day_log=log, clock=time.perf_counter)  # type: ignore[arg-type]
    agent.add_thumbnail(1.5, picture(1))
    agent.add_thumbnail(2.5, picture(2).astype(np.int16))  # refused: counted, not raised
    assert agent.day_log_errors == 1 and "uint8" in agent.last_day_log_error
    agent.fall_asleep()  # closes the day
    agent.add_thumbnail(3.5, picture(3))  # no day to keep it in: dropped quietly
    assert agent.day_log_errors == 1
    stamps, pictures = read_thumbnails(log.mcap_path)
    assert stamps.tolist() == [1_500_000_000] and len(pictures) == 1


# ------------------------------------------------------------------------- the core
def test_the_core_shrinks_a_frame_by_area_as_the_encoder_does() -> None:
    pytest.importorskip("rclpy")
    from nemuri.memory.daylog import thumbnail

    blocks = picture(7)  # every 3x3 block of the frame is one colour
    frame = blocks.repeat(3, axis=0).repeat(3, axis=1)
    np.testing.assert_array_equal(thumbnail(frame), blocks)
    wide = np.zeros((48, 128, 3), np.uint8)
    wide[:, 64:] = 200
    small = thumbnail(wide)
    assert small.shape == (32, 32, 3) and small.dtype == np.uint8
    assert (small[:, :16] == 0).all() and (small[:, 16:] == 200).all()  # squashed, not cropped


@pytest.fixture
def ros_context() -> Iterator[object]:
    rclpy = pytest.importorskip("rclpy")
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.mark.ros
def test_the_core_logs_a_camera_thumbnail_once_a_second(
    tmp_path: Path, ros_context: object
) -> None:
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from sensor_msgs.msg import Image

    from nemuri.brain import checkpoint
    from nemuri.nodes import qos
    from nemuri.nodes.core_node import CoreNode
    from ros_helpers import spinning, wait_for
    from test_sleep_world import SMALL

    checkpoint.newborn(tmp_path / "brains", config=SMALL)
    node = CoreNode(
        context=ros_context,
        parameter_overrides=[
            rclpy.Parameter("data_dir", value=str(tmp_path)),
            rclpy.Parameter("tick_hz", value=20.0),
        ],
    )
    camera = rclpy.create_node("test_camera", context=ros_context)
    pub = camera.create_publisher(Image, "/camera/image_raw", qos.SENSOR)
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[..., 0] = 255  # a red camera

    def publish() -> None:
        msg = Image(height=64, width=96, encoding="rgb8", step=96 * 3)
        msg.header.stamp = camera.get_clock().now().to_msg()
        msg.data = frame.tobytes()
        pub.publish(msg)

    camera.create_timer(0.05, publish)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        with spinning(ros_context, node, camera):
            assert wait_for(lambda: pub.get_subscription_count() > 0, 10.0)
            assert wait_for(lambda: node.agent.day_log.thumbnails >= 1, 10.0)
            started = time.monotonic()
            assert wait_for(lambda: node.agent.day_log.thumbnails >= 3, 10.0)
            seconds = time.monotonic() - started
            day = node.agent.day_log
            node.close()
    finally:
        node.destroy_node()
        camera.destroy_node()
    assert 1.5 <= seconds <= 3.5  # two more pictures: two more seconds, not two more frames
    stamps, pictures = read_thumbnails(day.mcap_path)
    assert len(pictures) == day.thumbnails >= 3
    assert np.all(np.diff(stamps) >= 900_000_000)
    assert pictures[0].shape == (32, 32, 3) and (pictures[0] == [255, 0, 0]).all()
