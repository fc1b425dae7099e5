"""Layer 3b, MCAP storage: a writer whose every flush leaves a readable file, and a reader
that reads what a crash left.

Why the `mcap` library's Writer and not rosbags' rosbag2 Writer: rosbags closes a chunk
only when it passes 1 MiB (about 80 s of ticks) and has no public way to close one on
demand, while mcap's `Writer.flush()` closes the chunk in progress and writes it out. A
chunk is MCAP's unit of durability (a reader skips a chunk it cannot read whole), so a
chunk closed and fsynced every second is what bounds a crash's loss to a second. The file
is still the one rosbag2 writes: profile `ros2`, schema `ros2msg`, channel metadata with
the QoS profiles and type hash, the `rosbag2` metadata record, no compression, chunk CRCs.

The reader walks the file front to back with mcap's StreamReader (it needs no footer or
index) and stops at the first record that does not parse or check, remembering where the
last whole record ended, which is what recovery keeps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, BinaryIO, Final

from mcap.exceptions import RecordLengthLimitExceeded
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from .errors import NotADayLog
from .metadata import MCAP_METADATA_NAME, BagSummary, channel_metadata, serialized_metadata

MAGIC: Final[bytes] = b"\x89MCAP0\r\n"
PROFILE: Final[str] = "ros2"
SCHEMA_ENCODING: Final[str] = "ros2msg"
MESSAGE_ENCODING: Final[str] = "cdr"
# A chunk also closes on size: ~80 s of ticks at 10 Hz, long after the time-based flush.
CHUNK_SIZE: Final[int] = 1024 * 1024
# footer record (opcode, length, summary_start, summary_offset_start, summary_crc) + magic
_FOOTER_TAIL: Final[int] = 1 + 8 + 8 + 8 + 4 + len(MAGIC)
_FOOTER_OPCODE: Final[int] = 0x02

_sync = getattr(os, "fdatasync", os.fsync)  # data + size is all a reader needs back


class McapBagWriter:
    """Writes one rosbag2-style MCAP file; nothing reaches the file between flushes."""

    def __init__(self, path: Path, library: str) -> None:
        self._file: BinaryIO = path.open("xb")
        self._writer = Writer(
            self._file,
            chunk_size=CHUNK_SIZE,
            compression=CompressionType.NONE,
            enable_crcs=True,  # chunk CRCs tell a torn chunk from a whole one
        )
        self._writer.start(profile=PROFILE, library=library)
        self.sync()  # the header is on disk before the first tick: a crash leaves an MCAP

    def add_topic(
        self,
        topic: str,
        msgtype: str,
        msgdef: str,
        type_hash: str,
        qos_profiles: Sequence[Mapping[str, Any]],
    ) -> int:
        """Register a schema and a channel as rosbag2's create_topic does; the channel id."""
        schema_id = self._writer.register_schema(msgtype, SCHEMA_ENCODING, msgdef.encode())
        return self._writer.register_channel(
            topic, MESSAGE_ENCODING, schema_id, channel_metadata(type_hash, qos_profiles)
        )

    def write(self, channel_id: int, log_time_ns: int, data: bytes) -> None:
        """Add a message to the chunk in progress (in memory until the next flush)."""
        self._writer.add_message(channel_id, log_time_ns, data, log_time_ns)

    def sync(self) -> None:
        """Close the chunk in progress, write it and fsync: from here on it survives a crash."""
        self._writer.flush()
        _sync(self._file.fileno())

    def finish(self, summary: BagSummary) -> None:
        """Write the rosbag2 metadata record, summary and footer; fsync and close."""
        self._writer.flush()
        self._writer.add_metadata(
            MCAP_METADATA_NAME, {"serialized_metadata": serialized_metadata(summary)}
        )
        self._writer.finish()
        self._file.flush()
        _sync(self._file.fileno())
        self._file.close()

    def abandon(self) -> None:
        """Close the file as it is (after a write error): what was flushed stays readable."""
        try:
            self._file.close()
        except OSError:
            pass  # the error that brought us here is the one worth reporting


def mcap_library() -> str:
    """The MCAP header's library field: who wrote the file, for someone debugging it."""
    return f"nemuri day log; mcap-python {version('mcap')}"


@dataclass
class McapStream:
    """A front-to-back read of an MCAP file that stops, without raising, at damage.

    Iterate `messages()`; afterwards the fields say how far it got. A file that ends early
    (a crash, a truncated copy) simply stops at the last whole record; only a file that
    does not start like an MCAP at all is refused.
    """

    path: Path
    size: int = 0
    good_end: int = 0  # bytes from the start that parsed as whole, checked records
    complete: bool = False  # read through the footer and the closing magic
    damage: str | None = None  # why the read stopped early; None when complete
    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)

    @property
    def closed_by_writer(self) -> bool:
        """The file ends with a footer: its writer finished it, so damage is not a crash."""
        if self.size < len(MAGIC) + _FOOTER_TAIL:
            return False
        with self.path.open("rb") as f:
            f.seek(self.size - _FOOTER_TAIL)
            tail = f.read(_FOOTER_TAIL)
        return (
            tail[0] == _FOOTER_OPCODE
            and int.from_bytes(tail[1:9], "little") == _FOOTER_TAIL - 9 - len(MAGIC)
            and tail[-len(MAGIC) :] == MAGIC
        )

    def messages(self) -> Iterator[tuple[Channel, Message]]:
        """Every message of every whole chunk, in file order, with its channel."""
        self.size = self.path.stat().st_size
        with self.path.open("rb") as f:
            head = f.read(len(MAGIC))
            if head != MAGIC[: len(head)]:
                raise NotADayLog(f"{self.path} is not an MCAP file (it starts with {head!r})")
            if len(head) < len(MAGIC):
                self.damage = f"the file ends after {len(head)} bytes, inside the MCAP magic"
                return
            f.seek(0)
            self.good_end = len(MAGIC)
            # No record can be longer than the file: a wild length is damage, not a 4 GiB read.
            reader = StreamReader(f, validate_crcs=True, record_size_limit=self.size)
            yield from self._records(reader, f)

    def _describe(self, exc: Exception, position: int) -> str:
        """Why the read stopped, in words: a crash's end of file or a damaged record."""
        if position >= self.size and self.good_end == self.size:
            return f"the file ends without a footer after {self.size} bytes"
        if position >= self.size or isinstance(exc, RecordLengthLimitExceeded):
            return f"the record at byte {self.good_end} runs past the end of the file ({self.size})"
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return f"the record at byte {self.good_end} is damaged ({reason})"

    def _records(self, reader: StreamReader, f: BinaryIO) -> Iterator[tuple[Channel, Message]]:
        records = iter(reader.records)
        while True:
            try:
                record = next(records)
            except StopIteration:
                self.complete = True
                self.good_end = f.tell()
                return
            except OSError:
                raise  # the disk, not the bytes: not something to recover from silently
            except Exception as exc:  # any parse error on untrusted bytes is damage
                self.damage = self._describe(exc, f.tell())
                return
            # Records come out whole: a chunk's messages only after the chunk was read and
            # its CRC checked, so the position now is the end of a whole record.
            self.good_end = f.tell()
            if isinstance(record, Schema):
                self.schemas[record.id] = record
            elif isinstance(record, Channel):
                self.channels[record.id] = record
            elif isinstance(record, Message):
                channel = self.channels.get(record.channel_id)
                if channel is None:
                    self.damage = f"a message on unknown channel {record.channel_id}"
                    return
                yield channel, record
