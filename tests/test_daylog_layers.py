"""Day log layers on their own: TickRow, CDR serialisation, metadata.yaml, MCAP reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2.metadata import parse_qos

from helpers_daylog import make_row
from nemuri.memory import CorruptDayLog, NotADayLog, TickRow
from nemuri.memory.metadata import (
    RELIABLE_QOS,
    BagSummary,
    TopicSummary,
    qos_to_yaml,
    read_metadata,
    write_metadata,
)
from nemuri.memory.msgtypes import schema_hash, tick_record_types
from nemuri.memory.serde import deserialize_row, serialize_row
from nemuri.memory.storage import McapStream


def test_tick_row_normalises_lists_to_tuples_and_float32() -> None:
    row = TickRow(
        tick=1,
        stamp_ns=2,
        embeddings=[[1, 2], None, None, None],
        present=np.array([1, 0, 0, 0]),
        joint_position=[0.5] * 5,
    )
    assert isinstance(row.embeddings, tuple) and row.embeddings[0].dtype == np.float32
    assert row.present == (True, False, False, False)
    assert row.joint_position.dtype == np.float32 and row.motor_velocity.shape == (0,)
    assert row == TickRow(
        1,
        2,
        [np.float32([1, 2]), None, None, None],
        [True] + [False] * 3,
        joint_position=np.full(5, 0.5, np.float32),
    )
    assert row != TickRow(1, 2, [np.float32([1, 3]), None, None, None], [True] + [False] * 3)
    with pytest.raises(TypeError):
        hash(row)


def test_serde_round_trip_without_a_bag() -> None:
    types = tick_record_types()
    for tick in range(8):
        row = make_row(tick)
        assert deserialize_row(serialize_row(row, types), types) == row


def test_rclpy_reads_our_bytes_and_we_read_rclpys() -> None:
    """What `ros2 bag play` publishes is our bytes: the real generated type must agree."""
    serialization = pytest.importorskip("rclpy.serialization")
    tick_record = pytest.importorskip("nemuri_msgs.msg").TickRecord
    types = tick_record_types()
    row = make_row(6)
    msg = serialization.deserialize_message(serialize_row(row, types), tick_record)
    assert (msg.tick, msg.heard_word, list(msg.present)) == (6, row.heard_word, list(row.present))
    assert np.array_equal(np.asarray(msg.embeddings[1].data, np.float32), row.embeddings[1])
    # Fast-CDR leaves padding bytes uninitialised, so compare decoded rows, not bytes.
    assert deserialize_row(serialization.serialize_message(msg), types) == row


def test_garbage_cdr_is_a_corrupt_day_log() -> None:
    with pytest.raises(CorruptDayLog, match="cannot be decoded"):
        deserialize_row(b"\x00\x01\x00\x00" + b"\xff" * 40, tick_record_types())


def test_schema_hash_tells_definitions_apart() -> None:
    types = tick_record_types()
    assert schema_hash("nemuri_msgs/msg/TickRecord", types.msgdef) == types.rihs01
    renamed = types.msgdef.replace("bool missed", "bool skipped")
    assert schema_hash("nemuri_msgs/msg/TickRecord", renamed) != types.rihs01
    with pytest.raises(NotADayLog, match="cannot be parsed"):
        schema_hash("nemuri_msgs/msg/TickRecord", "garbage ### [[")


def test_qos_string_is_what_rosbags_parses_as_version_9() -> None:
    (qos,) = parse_qos(qos_to_yaml([RELIABLE_QOS]))
    assert (qos.history.name, qos.depth, qos.reliability.name) == ("KEEP_LAST", 10, "RELIABLE")
    assert "&" not in qos_to_yaml([RELIABLE_QOS, RELIABLE_QOS])  # no YAML anchors


def test_metadata_round_trip_and_refusals(tmp_path: Path) -> None:
    summary = BagSummary("b_0.mcap", [TopicSummary("/t", "a/msg/B", "RIHS01_x", 3)], 10, 40)
    write_metadata(tmp_path, summary)
    info = read_metadata(tmp_path)
    assert info is not None
    assert (info["message_count"], info["duration"]) == (3, {"nanoseconds": 30})
    assert "&" not in (tmp_path / "metadata.yaml").read_text()
    assert read_metadata(tmp_path / "nowhere") is None

    doc = yaml.safe_load((tmp_path / "metadata.yaml").read_text())
    doc["rosbag2_bagfile_information"]["storage_identifier"] = "sqlite3"
    (tmp_path / "metadata.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(NotADayLog, match="sqlite3"):
        read_metadata(tmp_path)


def test_mcap_stream_stops_at_the_end_of_the_last_whole_record(tmp_path: Path) -> None:
    path = tmp_path / "x.mcap"
    path.write_bytes(b"\x89MCAP0\r\n" + b"\x01" + (100).to_bytes(8, "little") + b"short")
    stream = McapStream(path)
    assert list(stream.messages()) == []
    assert (stream.complete, stream.good_end, stream.size) == (False, 8, 22)
    assert stream.damage is not None and "runs past the end of the file" in stream.damage
