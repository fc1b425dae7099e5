"""Day log: writing, reading back, and being an ordinary rosbag2 bag to other readers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from helpers_daylog import assert_same_as_row, make_row
from nemuri.memory import (
    TOPIC,
    DayLog,
    DayLogClosed,
    DayLogError,
    InvalidTickRow,
    MessageDefinitionsNotFound,
    TickRow,
    list_days,
    read_day,
)
from nemuri.memory.msgtypes import find_msg_dir, msg_search_dirs, tick_record_types

N = 120


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed day log of N varied rows."""
    with DayLog.create(tmp_path_factory.mktemp("days"), clock_ns=0) as log:
        for tick in range(N):
            log.append(make_row(tick))
    return log.path


def test_round_trip_keeps_every_field(day: Path) -> None:
    reader = read_day(day)
    assert not reader.recovered
    assert len(reader) == N
    rows = list(reader)
    assert [r.tick for r in rows] == list(range(N))
    for row in rows:
        assert row == make_row(row.tick)
    # The fixture's rows really exercise absent, stale and present modalities.
    assert any(r.embeddings[0] is None for r in rows)
    assert any(r.embeddings[0] is not None and not r.present[0] for r in rows)
    assert rows[3].heard_word == "ねこ"
    assert rows[0] != make_row(1)


def test_reader_iterates_again(day: Path) -> None:
    reader = read_day(day)
    assert [r.tick for r in reader] == [r.tick for r in reader] == list(range(N))


def test_metadata_yaml_has_what_rosbag2_reads(day: Path) -> None:
    info = yaml.safe_load((day / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    mcap_name = f"{day.name}_0.mcap"
    assert info["version"] == 9
    assert info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == [mcap_name]
    assert info["message_count"] == N
    assert info["starting_time"] == {"nanoseconds_since_epoch": 0}
    assert info["duration"] == {"nanoseconds": (N - 1) * 100_000_000}
    assert info["files"] == [
        {
            "path": mcap_name,
            "starting_time": {"nanoseconds_since_epoch": 0},
            "duration": {"nanoseconds": (N - 1) * 100_000_000},
            "message_count": N,
        }
    ]
    (topic,) = info["topics_with_message_count"]
    assert topic["message_count"] == N
    meta = topic["topic_metadata"]
    assert meta["name"] == TOPIC == "/nemuri/tick_record"
    assert meta["type"] == "nemuri_msgs/msg/TickRecord"
    assert meta["serialization_format"] == "cdr"
    assert meta["type_description_hash"].startswith("RIHS01_")
    (qos,) = meta["offered_qos_profiles"]
    assert qos["reliability"] == "reliable" and qos["history"] == "keep_last"
    assert qos["deadline"] == {"sec": 9223372036, "nsec": 854775807}
    assert (info["compression_format"], info["compression_mode"]) == ("", "")


def test_rosbags_reader_decodes_every_message_with_the_bags_own_schema(day: Path) -> None:
    with Reader(day) as reader:
        (conn,) = reader.connections
        assert (conn.topic, conn.msgtype, conn.msgcount) == (TOPIC, "nemuri_msgs/msg/TickRecord", N)
        assert conn.ext.offered_qos_profiles[0].depth == 10
        # Decode with types built from the bag alone, not from our .msg files.
        store = get_typestore(Stores.EMPTY)
        store.register(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        ticks = []
        for connection, timestamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, connection.msgtype)
            assert timestamp == msg.tick * 100_000_000
            assert_same_as_row(msg, make_row(msg.tick))
            ticks.append(msg.tick)
    assert ticks == list(range(N))


def test_mcap_ros2_decoder_reads_every_message(day: Path) -> None:
    with (day / f"{day.name}_0.mcap").open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        summary = reader.get_summary()
        assert header.profile == "ros2"
        (schema,) = summary.schemas.values()
        assert (schema.name, schema.encoding) == ("nemuri_msgs/msg/TickRecord", "ros2msg")
        (channel,) = summary.channels.values()
        assert channel.message_encoding == "cdr"
        assert channel.metadata["topic_type_hash"] == tick_record_types().rihs01
        assert "reliability: reliable" in channel.metadata["offered_qos_profiles"]
        assert summary.statistics.message_count == N
        (record,) = [m for m in reader.iter_metadata() if m.name == "rosbag2"]
        assert yaml.safe_load(record.metadata["serialized_metadata"])["version"] == 9
        ticks = []
        for _, _, message, msg in reader.iter_decoded_messages(topics=[TOPIC]):
            assert message.log_time == msg.tick * 100_000_000
            assert_same_as_row(msg, make_row(msg.tick))
            ticks.append(msg.tick)
    assert ticks == list(range(N))


def test_type_hash_is_the_one_rosidl_generated() -> None:
    """ros2 bag play checks it: it must equal rosidl's hash of the built package."""
    generated = Path(sys.prefix) / "share" / "nemuri_msgs" / "msg" / "TickRecord.json"
    if not generated.is_file():
        pytest.skip("nemuri_msgs is not built into this environment")
    hashes = json.loads(generated.read_text())["type_hashes"]
    want = next(h["hash_string"] for h in hashes if h["type_name"] == "nemuri_msgs/msg/TickRecord")
    assert tick_record_types().rihs01 == want


def test_msg_files_are_found_in_the_source_tree_too(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "agent_ws" / "src" / "nemuri_msgs" / "msg"
    assert source in msg_search_dirs()
    assert find_msg_dir([tmp_path, source]) == source


def test_missing_msg_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MessageDefinitionsNotFound, match=str(tmp_path)):
        find_msg_dir([tmp_path])


def test_memory_imports_no_ros() -> None:
    code = (
        "import sys, nemuri.memory\n"
        "ros = [m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'rosidl_runtime_py', 'nemuri_msgs', 'std_msgs', 'builtin_interfaces')]\n"
        "assert not ros, ros\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_invalid_rows_are_refused_and_earlier_rows_kept(tmp_path: Path) -> None:
    def bad(**changes: object) -> TickRow:
        fields = {**make_row(5).__dict__, **changes}
        return TickRow(**fields)

    good = make_row(2)  # vision and audio present with data
    nan = good.embeddings[0].copy()
    nan[7] = np.nan
    cases = {
        "vision embedding has nan at index 7": lambda: bad(embeddings=[nan, *good.embeddings[1:]]),
        "vision embedding has 127 values, expected 128": lambda: bad(
            embeddings=[nan[:127], *good.embeddings[1:]]
        ),
        "joint_position has inf": lambda: bad(joint_position=[0, 0, np.inf, 0, 0]),
        "present has 3 entries": lambda: bad(present=[True, True, True]),
        "embeddings has 5 entries": lambda: bad(embeddings=[*good.embeddings, None]),
        "touch is present but has no embedding": lambda: bad(
            embeddings=[*good.embeddings[:2], None, good.embeddings[3]],
            present=[True, True, True, True],
        ),
        "motor_velocity has 2 values for 5 joints": lambda: bad(motor_velocity=[1.0, 2.0]),
        "drowsiness has 3 values": lambda: bad(drowsiness=[0.1, 0.2, 0.3]),
        "step_latency_ms is nan": lambda: bad(step_latency_ms=float("nan")),
        "stamp_ns is -1": lambda: bad(stamp_ns=-1),
        "tick 3 after tick 4": lambda: make_row(3),
        "tick 4 after tick 4": lambda: make_row(4),
        "a day log row is a TickRow": lambda: {"tick": 9},
    }
    with DayLog.create(tmp_path) as log:
        for tick in range(5):
            log.append(make_row(tick))
        for message, row in cases.items():
            with pytest.raises(InvalidTickRow, match=message):
                log.append(row())
        log.append(make_row(5))
        assert len(log) == 6
    assert [r for r in read_day(log.path)] == [make_row(t) for t in range(6)]


def test_ticks_may_skip_but_never_repeat(tmp_path: Path) -> None:
    """Missed ticks leave gaps in the counter; the log keeps them as gaps."""
    with DayLog.create(tmp_path) as log:
        for tick in (0, 1, 4, 9):
            log.append(make_row(tick))
    assert [r.tick for r in read_day(log.path)] == [0, 1, 4, 9]


def test_embedding_sizes_follow_configuration(tmp_path: Path) -> None:
    row = TickRow(
        tick=0, stamp_ns=0, embeddings=[np.ones(8), None, None, None], present=[True] + [False] * 3
    )
    with DayLog.create(tmp_path) as log, pytest.raises(InvalidTickRow, match="expected 128"):
        log.append(row)
    dims = {"vision": 8, "audio": 64, "touch": 16, "proprio": 16}
    with DayLog.create(tmp_path, embedding_dims=dims) as log:
        log.append(row)
    assert list(read_day(log.path)) == [row]


def test_append_after_close_is_refused(tmp_path: Path) -> None:
    log = DayLog.create(tmp_path)
    log.append(make_row(0))
    log.close()
    log.close()  # twice is harmless: the Agent closes before sleep and at exit
    with pytest.raises(DayLogClosed, match="closed"):
        log.append(make_row(1))
    assert len(read_day(log.path)) == 1


def test_context_manager_closes_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DayLog.create(tmp_path) as log:
        log.append(make_row(0))
        raise RuntimeError("the agent failed")
    reader = read_day(log.path)
    assert not reader.recovered and len(reader) == 1


def test_empty_day_is_a_valid_bag(tmp_path: Path) -> None:
    with DayLog.create(tmp_path) as log:
        pass
    reader = read_day(log.path)
    assert (len(reader), list(reader), reader.recovered) == (0, [], False)
    with Reader(log.path) as bag:
        assert bag.message_count == 0 and bag.connections[0].topic == TOPIC


def test_days_are_numbered_and_listed_in_order(tmp_path: Path) -> None:
    assert list_days(tmp_path / "nowhere") == []
    for name in ("day-0010-20260101T000000", "day-0002-20270101T000000", "day-0001-x", "notes"):
        (tmp_path / name).mkdir()
    (tmp_path / "day-0099-a-file").write_text("not a directory")
    assert [p.name for p in list_days(tmp_path)] == [
        "day-0001-x",
        "day-0002-20270101T000000",
        "day-0010-20260101T000000",
    ]
    clock_ns = 1_795_817_580 * 10**9  # 2026-11-27T22:13:00Z
    with DayLog.create(tmp_path, clock_ns=clock_ns) as log:
        pass
    assert log.path.name == "day-0011-20261127T221300"
    assert list_days(tmp_path)[-1] == log.path
    with DayLog.create(tmp_path, clock_ns=clock_ns) as again:
        pass
    assert again.path.name == "day-0012-20261127T221300"


def test_first_day_is_day_one_and_nothing_else_is_left(tmp_path: Path) -> None:
    with DayLog.create(tmp_path / "days", clock_ns=0) as log:
        pass
    assert log.path == tmp_path / "days" / "day-0001-19700101T000000"
    assert sorted(p.name for p in (tmp_path / "days").iterdir()) == [log.path.name]
    assert sorted(p.name for p in log.path.iterdir()) == [
        "day-0001-19700101T000000_0.mcap",
        "metadata.yaml",
    ]


def test_an_existing_bag_is_never_overwritten(tmp_path: Path) -> None:
    with DayLog(tmp_path / "day-0001-x") as log:
        log.append(make_row(0))
    with pytest.raises(DayLogError, match="exists already"):
        DayLog(tmp_path / "day-0001-x")
    assert list(read_day(tmp_path / "day-0001-x")) == [make_row(0)]
