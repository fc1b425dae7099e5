"""Layer 2, serialisation: TickRow <-> CDR bytes of nemuri_msgs/msg/TickRecord.

The bytes are exactly what rclpy would publish for the same TickRecord, so `ros2 bag play`
of a day log puts real messages on the graph, and Foxglove decodes them from the schema.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nemuri.contracts import MODALITIES

from .errors import CorruptDayLog, InvalidTickRow
from .msgtypes import EMBEDDING, TICK_RECORD, TickRecordTypes
from .tickrow import TickRow

_EMPTY = np.zeros(0, np.float32)


def _stamp(types: TickRecordTypes, stamp_ns: int) -> Any:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def _header(types: TickRecordTypes, stamp_ns: int) -> Any:
    return types.new("std_msgs/msg/Header", stamp=_stamp(types, stamp_ns), frame_id="")


def _stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def serialize_row(row: TickRow, types: TickRecordTypes) -> bytes:
    """CDR bytes of the TickRecord for a row. The row must have passed `validate`."""
    embeddings = [
        types.new(
            EMBEDDING,
            header=_header(types, row.embedding_stamps_ns[i]),
            modality=i,
            tick=int(row.embedding_ticks[i]),
            encoder_version=row.encoder_versions[i],
            data=_EMPTY if data is None else data,
        )
        for i, data in enumerate(row.embeddings)
    ]
    msg = types.new(
        TICK_RECORD,
        header=_header(types, row.stamp_ns),
        tick=int(row.tick),
        embeddings=embeddings,
        present=np.array(row.present, dtype=np.bool_),
        heard_word=row.heard_word,
        joint_names=list(row.joint_names),
        joint_position=row.joint_position,
        joint_velocity=row.joint_velocity,
        motor_velocity=row.motor_velocity,
        spoken_word=row.spoken_word,
        drowsiness=row.drowsiness,
        step_latency_ms=float(row.step_latency_ms),
        missed=row.missed,
        brain_version=row.brain_version,
    )
    return bytes(types.typestore.serialize_cdr(msg, TICK_RECORD))


def deserialize_row(data: bytes | memoryview, types: TickRecordTypes) -> TickRow:
    """The row a TickRecord's CDR bytes hold.

    An embedding with no data reads back as None, as it was written: DayLog never writes
    an empty embedding for a modality that had one.
    """
    try:
        msg = types.typestore.deserialize_cdr(bytes(data), TICK_RECORD)
    except Exception as exc:  # rosbags raises struct/Index/Unicode errors on bad bytes
        reason = f"{type(exc).__name__}: {exc}"
        raise CorruptDayLog(f"a TickRecord cannot be decoded ({reason})") from None
    by_modality: list[Any] = [None] * len(MODALITIES)
    for emb in msg.embeddings:
        if not 0 <= emb.modality < len(MODALITIES) or by_modality[emb.modality] is not None:
            raise CorruptDayLog(f"tick {msg.tick}: embeddings are not one per modality")
        by_modality[emb.modality] = emb
    if any(emb is None for emb in by_modality):
        raise CorruptDayLog(f"tick {msg.tick}: embeddings are not one per modality")
    try:
        return _row(msg, by_modality)
    except InvalidTickRow as exc:
        raise CorruptDayLog(f"a TickRecord does not make a row: {exc}") from None


def _row(msg: Any, by_modality: list[Any]) -> TickRow:
    return TickRow(
        tick=int(msg.tick),
        stamp_ns=_stamp_ns(msg.header),
        embeddings=tuple(e.data if len(e.data) else None for e in by_modality),
        present=tuple(bool(p) for p in msg.present),
        encoder_versions=tuple(e.encoder_version for e in by_modality),
        embedding_stamps_ns=tuple(_stamp_ns(e.header) for e in by_modality),
        embedding_ticks=tuple(int(e.tick) for e in by_modality),
        heard_word=msg.heard_word,
        joint_names=tuple(msg.joint_names),
        joint_position=msg.joint_position,
        joint_velocity=msg.joint_velocity,
        motor_velocity=msg.motor_velocity,
        spoken_word=msg.spoken_word,
        drowsiness=msg.drowsiness,
        step_latency_ms=float(msg.step_latency_ms),
        missed=bool(msg.missed),
        brain_version=msg.brain_version,
    )
