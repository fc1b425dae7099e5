"""Day log durability and recovery: flushing by time, truncated and damaged files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import Stores, get_typestore

from helpers_daylog import PERIOD_NS, make_row, mcap_of, truncated_copy
from nemuri.memory import (
    TOPIC,
    CorruptDayLog,
    DayLog,
    DayLogClosed,
    DayLogWriteError,
    NotADayLog,
    read_day,
    recover_day,
)
from nemuri.memory.metadata import RELIABLE_QOS, BagSummary
from nemuri.memory.msgtypes import TICK_RECORD, tick_record_types
from nemuri.memory.serde import serialize_row
from nemuri.memory.storage import McapBagWriter

N = 200


class FakeWallClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def closed_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N rows at 10 Hz with a 1 s flush period: about one chunk per 11 rows."""
    clock = FakeWallClock()  # frozen: chunks close on row stamps only, deterministically
    with DayLog.create(tmp_path_factory.mktemp("days"), clock_ns=0, wall_clock=clock) as log:
        for tick in range(N):
            log.append(make_row(tick))
    return log.path


def chunk_ends(mcap_path: Path) -> list[tuple[int, int]]:
    """(end offset of each chunk record, ticks in the file up to that chunk's end)."""
    with mcap_path.open("rb") as f:
        indexes = make_reader(f).get_summary().chunk_indexes
    ends = []
    for index in sorted(indexes, key=lambda i: i.chunk_start_offset):
        last_tick = index.message_end_time // PERIOD_NS
        ends.append((index.chunk_start_offset + index.chunk_length, last_tick + 1))
    return ends


# -- flushing ---------------------------------------------------------------------------


def test_rows_reach_the_file_once_a_second_of_stamps_gathers(tmp_path: Path) -> None:
    clock = FakeWallClock()
    with DayLog.create(tmp_path, wall_clock=clock) as log:
        for tick in range(10):  # stamps 0.0 .. 0.9 s: less than a second pending
            log.append(make_row(tick))
        live = read_day(log.path)
        assert live.recovered and len(live) == 0
        log.append(make_row(10))  # stamp 1.0 s: the pending second is flushed
        live = read_day(log.path)
        assert live.recovered
        assert list(live) == [make_row(t) for t in range(11)]


def test_rows_reach_the_file_once_a_second_of_wall_time_passes(tmp_path: Path) -> None:
    """A paused simulation (stamps standing still) still flushes every wall second."""
    clock = FakeWallClock()
    with DayLog.create(tmp_path, wall_clock=clock) as log:
        for tick in range(4):
            log.append(make_row(tick, stamp_ns=5 * 10**9))
            clock.now += 0.3
        assert len(read_day(log.path)) == 0  # 0.9 s of wall time since the first row
        log.append(make_row(4, stamp_ns=5 * 10**9))  # appended at 1.2 s
        assert len(read_day(log.path)) == 5


def test_flush_writes_pending_rows_now(tmp_path: Path) -> None:
    with DayLog.create(tmp_path, wall_clock=FakeWallClock()) as log:
        log.append(make_row(0))
        log.flush()
        assert list(read_day(log.path)) == [make_row(0)]


def test_write_error_stops_the_log_and_keeps_what_was_flushed(tmp_path: Path) -> None:
    log = DayLog.create(tmp_path, wall_clock=FakeWallClock())
    for tick in range(11):
        log.append(make_row(tick))  # the 11th row flushes rows 0..10

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    log._storage.sync = disk_full  # the next flush fails as a full disk would
    for tick in range(11, 21):
        log.append(make_row(tick))
    with pytest.raises(DayLogWriteError, match="No space left"):
        log.append(make_row(21))
    with pytest.raises(DayLogClosed):
        log.append(make_row(22))
    log.close()  # nothing left to close, and no exception
    reader = read_day(log.path)
    assert reader.recovered and len(reader) == 11


# -- crashes and truncation -------------------------------------------------------------


def test_truncation_anywhere_keeps_every_whole_chunk(closed_day: Path, tmp_path: Path) -> None:
    source = mcap_of(closed_day)
    size = source.stat().st_size
    ends = chunk_ends(source)
    assert len(ends) >= 15  # the fixture really has a chunk per second of ticks
    rng = np.random.default_rng(7)
    offsets = sorted(
        {0, 3, 8, 20, ends[0][0] - 1, ends[0][0], ends[-1][0], size - 1, size - 8}
        | {int(x) for x in rng.integers(0, size, 20)}
    )
    for k, offset in enumerate(offsets):
        expected = max([ticks for end, ticks in ends if end <= offset], default=0)
        bag = truncated_copy(closed_day, tmp_path / f"cut{k}", offset, with_metadata=k % 2 == 0)
        reader = read_day(bag)
        assert reader.recovered, offset
        assert len(reader) == expected, offset
        rows = list(reader)
        assert [r.tick for r in rows] == list(range(expected))
        assert rows == [make_row(t) for t in range(expected)]

        report = recover_day(bag)
        assert (report.ticks, report.rewritten) == (expected, True)
        last_whole_chunk = max([end for end, _ in ends if end <= offset], default=0)
        assert 0 <= report.bytes_dropped <= offset - last_whole_chunk
        assert (report.damaged_copy is not None) == (report.bytes_dropped > 0)
        again = read_day(bag)
        assert not again.recovered and len(again) == expected
        with Reader(bag) as standard:  # a normal bag for standard tools now
            assert standard.message_count == expected
            assert len(list(standard.messages())) == expected


def test_recovered_bag_keeps_rows_and_needs_no_second_recovery(
    closed_day: Path, tmp_path: Path
) -> None:
    ends = chunk_ends(mcap_of(closed_day))
    bag = truncated_copy(closed_day, tmp_path / "cut", ends[5][0] + 100, with_metadata=False)
    report = recover_day(bag)
    assert report.ticks == ends[5][1] and report.damaged_copy is not None
    assert report.damaged_copy.stat().st_size == ends[5][0] + 100  # the original, untouched
    assert list(read_day(bag)) == [make_row(t) for t in range(ends[5][1])]
    again = recover_day(bag)
    assert (again.rewritten, again.ticks, again.bytes_dropped) == (False, ends[5][1], 0)


def test_footer_without_metadata_yaml_only_needs_metadata(closed_day: Path, tmp_path: Path) -> None:
    """A crash between finishing the MCAP and writing metadata.yaml."""
    bag = tmp_path / "bag"
    shutil.copytree(closed_day, bag)
    (bag / "metadata.yaml").unlink()
    before = mcap_of(bag).read_bytes()
    reader = read_day(bag)
    assert reader.recovered and len(reader) == N
    report = recover_day(bag)
    assert (report.rewritten, report.ticks) == (False, N)
    assert mcap_of(bag).read_bytes() == before
    assert not read_day(bag).recovered


def test_crash_before_the_first_flush_is_an_empty_day(tmp_path: Path) -> None:
    log = DayLog.create(tmp_path, wall_clock=FakeWallClock())
    log.append(make_row(0))  # never flushed, then the process "dies"
    reader = read_day(log.path)
    assert reader.recovered and len(reader) == 0
    assert recover_day(log.path).ticks == 0
    assert not read_day(log.path).recovered


def test_zero_byte_file_is_an_empty_recovered_day(tmp_path: Path) -> None:
    (tmp_path / "day-0001-x_0.mcap").write_bytes(b"")
    reader = read_day(tmp_path)
    assert reader.recovered and len(reader) == 0


def test_damage_inside_a_closed_bag_is_corruption_and_recoverable(
    closed_day: Path, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(closed_day, bag)
    ends = chunk_ends(mcap_of(bag))
    data = bytearray(mcap_of(bag).read_bytes())
    data[ends[3][0] - 50] ^= 0xFF  # a flipped byte inside the 4th chunk
    mcap_of(bag).write_bytes(bytes(data))
    with pytest.raises(CorruptDayLog, match=r"damaged at byte .*recover_day"):
        read_day(bag)
    report = recover_day(bag)
    assert report.ticks == ends[2][1] and "crc" in (report.damage or "").lower()
    assert list(read_day(bag)) == [make_row(t) for t in range(ends[2][1])]


# -- not a day log ----------------------------------------------------------------------


def test_garbage_file_is_not_a_day_log(tmp_path: Path) -> None:
    (tmp_path / "day.mcap").write_bytes(os.urandom(4096))
    with pytest.raises(NotADayLog, match="is not an MCAP file"):
        read_day(tmp_path)
    with pytest.raises(NotADayLog, match="is not an MCAP file"):
        recover_day(tmp_path)
    with pytest.raises(NotADayLog, match="is not an MCAP file"):
        read_day(tmp_path / "day.mcap")


def test_missing_or_empty_paths_are_not_day_logs(tmp_path: Path) -> None:
    with pytest.raises(NotADayLog, match="does not exist"):
        read_day(tmp_path / "nothing")
    with pytest.raises(NotADayLog, match=r"no metadata\.yaml and no \.mcap"):
        read_day(tmp_path)


def test_garbage_metadata_yaml_is_refused_but_recoverable(closed_day: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(closed_day, bag)
    (bag / "metadata.yaml").write_text("{{{ not yaml")
    with pytest.raises(CorruptDayLog, match=r"metadata\.yaml"):
        read_day(bag)
    report = recover_day(bag)
    assert (report.rewritten, report.ticks) == (False, N)
    assert not read_day(bag).recovered


def write_rosbags_bag(path: Path, topic: str) -> None:
    store = get_typestore(Stores.ROS2_KILTED)
    string = store.types["std_msgs/msg/String"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(topic, "std_msgs/msg/String", typestore=store)
        writer.write(conn, 1, store.serialize_cdr(string(data="hi"), "std_msgs/msg/String"))


def test_bag_without_the_topic_is_not_a_day_log(tmp_path: Path) -> None:
    write_rosbags_bag(tmp_path / "chatter", "/chatter")
    with pytest.raises(NotADayLog, match=r"no /nemuri/tick_record topic \(topics: \['/chatter'\]"):
        read_day(tmp_path / "chatter")


def test_topic_of_another_type_is_not_a_day_log(tmp_path: Path) -> None:
    write_rosbags_bag(tmp_path / "strings", "/nemuri/tick_record")
    with pytest.raises(NotADayLog, match="carries std_msgs/msg/String"):
        read_day(tmp_path / "strings")


def test_tick_record_of_another_definition_is_not_a_day_log(tmp_path: Path) -> None:
    """A bag from a nemuri whose TickRecord had other fields: refused, not misread."""
    types = tick_record_types()
    other = types.msgdef.replace("string heard_word\n", "string heard_wort\n")
    assert other != types.msgdef
    (tmp_path / "bag").mkdir()
    writer = McapBagWriter(tmp_path / "bag" / "bag_0.mcap", "test")
    channel = writer.add_topic(TOPIC, TICK_RECORD, other, types.rihs01, [RELIABLE_QOS])
    writer.write(channel, 0, serialize_row(make_row(0), types))
    writer.finish(BagSummary("bag_0.mcap", [], 0, 0))
    with pytest.raises(NotADayLog, match="another TickRecord definition"):
        read_day(tmp_path / "bag")
