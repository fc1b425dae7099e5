"""A rosbag2 bag of any topics, split into several MCAP files by size or duration, no ROS.

The day log's storage (memory.storage.McapBagWriter) writes each file: same profile,
schemas, channel metadata with the offered QoS profiles, chunk CRCs, and the same
durability rule: the chunk in progress is closed and fsynced once a second (of wall time
or of message time), so a SIGKILL loses at most the last second and leaves every earlier
chunk readable. What this adds is what a recorder needs and a day log does not: topics
that appear at any moment, raw bytes of any type, and splitting, with one metadata.yaml
listing every file at close, as `ros2 bag record --max-bag-size/--max-bag-duration` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

from nemuri.memory.metadata import (
    BagSummary,
    FileSummary,
    TopicSummary,
    fsync_dir,
    write_metadata,
)
from nemuri.memory.storage import McapBagWriter

from .errors import BagError
from .types import TopicType

# An MCAP message record's bytes besides the payload (opcode, length, channel, sequence,
# two times) plus its chunk message-index entry: enough to size a split by.
MESSAGE_OVERHEAD: Final[int] = 1 + 8 + 2 + 4 + 8 + 8 + 16
_FORMAT: Final[dict[str, str]] = {"nemuri.bag_format": "1"}


class BagWriteError(BagError):
    """A write the bag refuses (closed, unknown topic, bad time) or the disk failed."""


@dataclass
class _Topic:
    name: str
    type: TopicType
    qos_profiles: Sequence[Mapping[str, Any]]
    count: int = 0


@dataclass
class _File:
    name: str
    storage: McapBagWriter
    channels: dict[str, int] = field(default_factory=dict)
    count: int = 0
    start_ns: int = 0
    end_ns: int = 0
    flushed_bytes: int = 0  # on disk after the last sync
    pending_bytes: int = 0  # in the chunk in progress, estimated

    @property
    def size(self) -> int:
        return self.flushed_bytes + self.pending_bytes


class BagWriter:
    """Writes one bag directory; `close` makes it a complete rosbag2 bag.

    One writer thread. `split_size` (bytes) and `split_duration_ns` start a new file once
    the current one has reached either, before the message that would exceed it; zero
    means never.
    """

    def __init__(
        self,
        path: Path,
        *,
        split_size: int = 0,
        split_duration_ns: int = 0,
        flush_period_s: float = 1.0,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if split_size < 0 or split_duration_ns < 0:
            raise ValueError("split size and duration are zero (never) or positive")
        if not flush_period_s > 0:
            raise ValueError(f"flush_period_s must be positive, got {flush_period_s}")
        self.path = Path(path)
        if self.path.exists():
            raise BagWriteError(f"{self.path} exists already; a recording never overwrites")
        self.path.mkdir(parents=True)
        fsync_dir(self.path.parent)
        self.split_size = split_size
        self.split_duration_ns = split_duration_ns
        self.flush_period_s = flush_period_s
        self._wall_clock = wall_clock
        self._library = f"nemuri record; mcap-python {version('mcap')}"
        self._topics: dict[str, _Topic] = {}
        self._done: list[FileSummary] = []
        self._closed = False
        self._pending_since: tuple[int, float] | None = None  # (log time, wall) of oldest
        self._file = self._open_file()

    # -- what is in the bag --------------------------------------------------------------
    @property
    def files(self) -> list[Path]:
        """The MCAP files so far, the one being written last."""
        done = [self.path / f.path for f in self._done]
        return done if self._closed else [*done, self.path / self._file.name]

    @property
    def topics(self) -> dict[str, int]:
        """Messages written per topic."""
        return {name: topic.count for name, topic in self._topics.items()}

    @property
    def closed(self) -> bool:
        return self._closed

    def add_topic(
        self, name: str, topic_type: TopicType, qos_profiles: Sequence[Mapping[str, Any]]
    ) -> None:
        """Make `name` recordable; the QoS profiles are those its publishers offer."""
        self._check_open()
        if name in self._topics:
            raise BagWriteError(f"topic {name} is in the bag already")
        self._topics[name] = _Topic(name, topic_type, [dict(p) for p in qos_profiles])
        self._register(self._file, self._topics[name])

    # -- writing -------------------------------------------------------------------------
    def write(self, topic: str, log_time_ns: int, data: bytes) -> None:
        """Add one message's serialized bytes (CDR) received at `log_time_ns`."""
        self._check_open()
        entry = self._topics.get(topic)
        if entry is None:
            raise BagWriteError(f"topic {topic} was not added to the bag")
        if isinstance(log_time_ns, bool) or not 0 <= int(log_time_ns) < 2**63:
            raise BagWriteError(f"a message's log time is ns since the epoch, got {log_time_ns}")
        log_time_ns = int(log_time_ns)
        if self._should_split(log_time_ns, len(data)):
            self._roll()
        f = self._file
        try:
            f.storage.write(f.channels[topic], log_time_ns, bytes(data))
        except OSError as exc:
            raise BagWriteError(f"writing {topic} to {self.path} failed: {exc}") from exc
        if f.count == 0:
            f.start_ns = f.end_ns = log_time_ns
        f.start_ns, f.end_ns = min(f.start_ns, log_time_ns), max(f.end_ns, log_time_ns)
        f.count += 1
        f.pending_bytes += len(data) + MESSAGE_OVERHEAD
        entry.count += 1
        now = self._wall_clock()
        if self._pending_since is None:
            self._pending_since = (log_time_ns, now)
        first_ns, first_wall = self._pending_since
        # Either clock may run ahead: sim time faster than real time, or a stalled sim.
        if (
            log_time_ns - first_ns >= self.flush_period_s * 1e9
            or now - first_wall >= self.flush_period_s
        ):
            self.flush()

    def flush(self) -> None:
        """Close the chunk in progress and fsync it: from here on it survives a crash.

        The recorder also calls this on a timer, so a quiet topic is not left in memory.
        """
        if self._closed or self._pending_since is None:
            return
        f = self._file
        try:
            f.storage.sync()
        except OSError as exc:
            raise BagWriteError(f"flushing {self.path} failed: {exc}") from exc
        f.flushed_bytes = (self.path / f.name).stat().st_size
        f.pending_bytes = 0
        self._pending_since = None

    def close(self) -> BagSummary:
        """Finish the last file and write metadata.yaml listing every file. Idempotent."""
        if self._closed:
            return self.summary()
        self._finish(self._file)
        self._done.append(self._file_summary(self._file))
        self._closed = True
        summary = self.summary()
        write_metadata(self.path, summary)
        return summary

    def summary(self) -> BagSummary:
        """What metadata.yaml says (the open file included, as it stands)."""
        files = list(self._done)
        if not self._closed:
            files.append(self._file_summary(self._file))
        return self._summary_of(files)

    def _summary_of(self, files: list[FileSummary]) -> BagSummary:
        counted = [f for f in files if f.message_count]
        return BagSummary(
            file_name=files[0].path,
            topics=[
                TopicSummary(t.name, t.type.name, t.type.type_hash, t.count, t.qos_profiles)
                for t in self._topics.values()
            ],
            start_ns=min((f.start_ns for f in counted), default=0),
            end_ns=max((f.end_ns for f in counted), default=0),
            custom_data=dict(_FORMAT),
            files=files,
        )

    # -- files ---------------------------------------------------------------------------
    def _should_split(self, log_time_ns: int, size: int) -> bool:
        f = self._file
        if f.count == 0:
            return False  # every file holds at least one message
        too_big = self.split_size and f.size + size + MESSAGE_OVERHEAD > self.split_size
        too_long = self.split_duration_ns and log_time_ns - f.start_ns >= self.split_duration_ns
        return bool(too_big or too_long)

    def _roll(self) -> None:
        """Finish the current file and continue in the next, numbered like rosbag2's."""
        self._finish(self._file)
        self._done.append(self._file_summary(self._file))
        self._file = self._open_file()

    def _open_file(self) -> _File:
        name = f"{self.path.name}_{len(self._done)}.mcap"
        storage = McapBagWriter(self.path / name, self._library)
        fsync_dir(self.path)
        f = _File(name, storage, flushed_bytes=(self.path / name).stat().st_size)
        for topic in self._topics.values():
            self._register(f, topic)
        return f

    def _register(self, f: _File, topic: _Topic) -> None:
        t = topic.type
        f.channels[topic.name] = f.storage.add_topic(
            topic.name, t.name, t.msgdef, t.type_hash, topic.qos_profiles
        )

    def _finish(self, f: _File) -> None:
        """Summary, the `rosbag2` metadata record (the bag so far) and footer; fsync."""
        try:
            f.storage.finish(self._summary_of([*self._done, self._file_summary(f)]))
        except OSError as exc:
            f.storage.abandon()
            self._closed = True
            raise BagWriteError(f"closing {self.path / f.name} failed: {exc}") from exc
        self._pending_since = None

    @staticmethod
    def _file_summary(f: _File) -> FileSummary:
        return FileSummary(f.name, f.start_ns, f.end_ns, f.count)

    def _check_open(self) -> None:
        if self._closed:
            raise BagWriteError(f"{self.path} is closed")

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
