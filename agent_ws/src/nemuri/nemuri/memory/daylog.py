"""Layer 4, the day log: one rosbag2 bag (MCAP) per waking day, one TickRecord per tick.

The core appends a row every tick (DayLog), the sleep reads the day back (read_day), and a
bag a crash left behind is read as far as it is whole and can be made an ordinary bag
again (recover_day). Beside the rows the bag keeps a small picture of the camera once a
second (`add_thumbnail`, sensor_msgs/Image rgb8 on /nemuri/thumbnail): a TickRecord holds
embeddings, which no person can look at, and the night's dream is drawn from these.
Durability is by time: the chunk in progress is closed and fsynced once a second of ticks
(or of wall time) has gathered, so a SIGKILL or a power cut loses at most the last second.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import numpy as np

from nemuri.contracts import EMBEDDING_DIMS
from nemuri.senses.preprocess import prepare_image

from .errors import (
    CorruptDayLog,
    DayLogClosed,
    DayLogError,
    DayLogWriteError,
    InvalidTickRow,
    NotADayLog,
)
from .metadata import (
    RELIABLE_QOS,
    BagSummary,
    TopicSummary,
    fsync_dir,
    read_metadata,
    write_metadata,
)
from .msgtypes import TICK_RECORD, TickRecordTypes, schema_hash, tick_record_types
from .serde import deserialize_row, serialize_row
from .storage import SCHEMA_ENCODING, McapBagWriter, McapStream, mcap_library
from .tickrow import TickRow

__all__ = [
    "THUMBNAIL_TOPIC",
    "TOPIC",
    "DayLog",
    "DayReader",
    "InvalidThumbnail",
    "RecoveryReport",
    "TickRow",
    "list_days",
    "read_day",
    "recover_day",
    "thumbnail",
]

TOPIC: Final[str] = "/nemuri/tick_record"
# The camera's thumbnails: what sleep.report.read_thumbnails reads to draw a dream.
THUMBNAIL_TOPIC: Final[str] = "/nemuri/thumbnail"
IMAGE: Final[str] = "sensor_msgs/msg/Image"
THUMBNAIL_SIZE: Final[int] = 32  # the side the core logs (DESIGN.md, Day log)
# Larger pictures are refused: a full frame a second would make the day log a video.
THUMBNAIL_MAX_SIDE: Final[int] = 64


def thumbnail(frame: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame as a (size, size, 3) uint8 thumbnail.

    The same area resize as the vision encoder's input (senses.preprocess), squashed to a
    square, not cropped, so the thumbnail shows what the brain was shown.
    """
    pixels = prepare_image(frame, size).transpose(1, 2, 0)
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


_DAY_NAME: Final[re.Pattern[str]] = re.compile(r"^day-(\d+)-")
# Recorded in metadata.yaml's custom_data, so a later nemuri can tell how a bag was written.
_FORMAT: Final[dict[str, str]] = {"nemuri.day_log_format": "1"}


class InvalidThumbnail(DayLogError, ValueError):
    """A picture the day log refuses (not (h, w, 3) uint8, too large, bad stamp)."""


def list_days(days_dir: Path) -> list[Path]:
    """The day log directories under `days_dir`, oldest day first (by day number)."""
    days_dir = Path(days_dir)
    if not days_dir.is_dir():
        return []
    found = []
    for entry in days_dir.iterdir():
        match = _DAY_NAME.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), entry.name, entry))
    return [path for _, _, path in sorted(found)]


def day_number(path: Path) -> int:
    """The day counter in a day log's name (`day-0003-...` -> 3)."""
    match = _DAY_NAME.match(Path(path).name)
    if not match:
        raise NotADayLog(f"{path} is not named like a day log (day-NNNN-<date>T<time>)")
    return int(match.group(1))


class DayLog:
    """Appends TickRows to a new day log bag; `close` makes it a complete rosbag2 bag.

    Not thread-safe: one writer, the core's tick (the Agent holds its lock around append).
    Use as a context manager, or call close; until then the bag reads as a recovered one.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_period_s: float = 1.0,
        embedding_dims: Mapping[str, int] = EMBEDDING_DIMS,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the bag directory `path` (it must not exist) and its MCAP file."""
        if not flush_period_s > 0:
            raise ValueError(f"flush_period_s must be positive, got {flush_period_s}")
        self._types: TickRecordTypes = tick_record_types()  # fail before touching the disk
        self.path = Path(path)
        self.flush_period_s = flush_period_s
        self._dims = dict(embedding_dims)
        self._wall_clock = wall_clock
        self.mcap_path = self.path / f"{self.path.name}_0.mcap"  # rosbag2's file naming
        self._storage = self._create_bag()
        self._channel = self._storage.add_topic(
            TOPIC, TICK_RECORD, self._types.msgdef, self._types.rihs01, [RELIABLE_QOS]
        )
        self._closed = False
        self._count = 0
        self._thumbnails = 0
        self._thumbnail_channel: int | None = None  # registered with the first thumbnail
        self._last_tick: int | None = None
        self._start_ns = 0  # over every message, rows and thumbnails, as rosbag2 counts
        self._end_ns = 0
        self._pending = 0  # rows written since the last sync, lost by a crash now
        self._pending_stamp_ns = 0  # stamp of the oldest of them
        self._pending_wall_s = 0.0  # wall time it was appended at

    def _create_bag(self) -> McapBagWriter:
        """Make the bag directory with its MCAP header already on disk, atomically.

        The bag is built under a hidden name and renamed into place, so a crash at any
        moment leaves either no day (list_days ignores the hidden name) or a day whose
        MCAP file recovery can read, never an empty day directory.
        """
        if self.path.exists():
            raise DayLogError(f"{self.path} exists already; a day log never overwrites")
        staging = self.path.with_name(f".{self.path.name}.creating")
        shutil.rmtree(staging, ignore_errors=True)  # left by a crash in this very step
        staging.mkdir()
        storage = McapBagWriter(staging / self.mcap_path.name, mcap_library())
        fsync_dir(staging)
        try:
            staging.rename(self.path)
        except OSError as exc:
            storage.abandon()
            shutil.rmtree(staging, ignore_errors=True)
            raise DayLogError(f"cannot create {self.path}: {exc}") from None
        fsync_dir(self.path.parent)
        return storage

    @classmethod
    def create(
        cls,
        days_dir: Path,
        clock_ns: int | None = None,
        *,
        flush_period_s: float = 1.0,
        embedding_dims: Mapping[str, int] = EMBEDDING_DIMS,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> DayLog:
        """A new day log in `days_dir`, numbered one past the last day there.

        Named `day-NNNN-YYYYmmddTHHMMSS` from `clock_ns` (UTC; now when None), so that
        directory listings sort like days and a person can find "yesterday".
        """
        days_dir = Path(days_dir)
        days_dir.mkdir(parents=True, exist_ok=True)
        days = list_days(days_dir)
        number = day_number(days[-1]) + 1 if days else 1
        ns = time.time_ns() if clock_ns is None else clock_ns
        when = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y%m%dT%H%M%S")
        return cls(
            days_dir / f"day-{number:04d}-{when}",
            flush_period_s=flush_period_s,
            embedding_dims=embedding_dims,
            wall_clock=wall_clock,
        )

    def __len__(self) -> int:
        """Rows appended so far."""
        return self._count

    @property
    def thumbnails(self) -> int:
        """Thumbnails added so far."""
        return self._thumbnails

    @property
    def closed(self) -> bool:
        """True after close, or after a write error stopped the log."""
        return self._closed

    def append(self, row: TickRow) -> None:
        """Add one tick. A bad row raises InvalidTickRow and leaves the log as it was."""
        if not isinstance(row, TickRow):
            raise InvalidTickRow(f"a day log row is a TickRow, got {type(row).__name__}")
        if self._closed:
            raise DayLogClosed(f"{self.path} is closed; tick {row.tick} was not logged")
        row.validate(self._dims)
        if self._last_tick is not None and row.tick <= self._last_tick:
            raise InvalidTickRow(
                f"tick {row.tick} after tick {self._last_tick}: ticks in a day log must increase"
            )
        data = serialize_row(row, self._types)
        with self._guard(f"writing tick {row.tick}"):
            self._storage.write(self._channel, row.stamp_ns, data)
        self._count += 1
        self._last_tick = row.tick
        self._written(row.stamp_ns)

    def add_thumbnail(self, stamp_ns: int, rgb: np.ndarray) -> None:
        """Keep a small camera picture taken at `stamp_ns` (the core: 32x32, once a second).

        Written as a sensor_msgs/Image (rgb8) on THUMBNAIL_TOPIC, so `ros2 bag play` and
        Foxglove show it like any camera topic; flushed with the rows, so a crash loses at
        most the last second of pictures too. A bad picture raises InvalidThumbnail and
        leaves the log as it was.
        """
        if self._closed:
            raise DayLogClosed(f"{self.path} is closed; the thumbnail at {stamp_ns} was not kept")
        pixels = _checked_thumbnail(rgb)
        if isinstance(stamp_ns, bool) or not isinstance(stamp_ns, (int, np.integer)):
            raise InvalidThumbnail(f"a thumbnail's stamp is integer ns, got {stamp_ns!r}")
        if stamp_ns < 0:
            raise InvalidThumbnail(f"a thumbnail's stamp is never negative, got {stamp_ns}")
        stamp_ns = int(stamp_ns)
        data = _serialize_thumbnail(self._types, stamp_ns, pixels)
        with self._guard(f"writing a thumbnail at {stamp_ns} ns"):
            if self._thumbnail_channel is None:
                msgdef, type_hash = _image_type(self._types)
                self._thumbnail_channel = self._storage.add_topic(
                    THUMBNAIL_TOPIC, IMAGE, msgdef, type_hash, [RELIABLE_QOS]
                )
            self._storage.write(self._thumbnail_channel, stamp_ns, data)
        self._thumbnails += 1
        self._written(stamp_ns)

    def _written(self, stamp_ns: int) -> None:
        """Bookkeeping after a message went into the chunk: the bag's span, the flush."""
        now = self._wall_clock()
        if self._count + self._thumbnails == 1:
            self._start_ns = self._end_ns = stamp_ns
        self._start_ns = min(self._start_ns, stamp_ns)
        self._end_ns = max(self._end_ns, stamp_ns)
        if self._pending == 0:
            self._pending_stamp_ns, self._pending_wall_s = stamp_ns, now
        self._pending += 1
        # Either clock may run ahead: sim time faster than real time, or a stalled sim.
        period_ns = round(self.flush_period_s * 1e9)
        if (
            stamp_ns - self._pending_stamp_ns >= period_ns
            or now - self._pending_wall_s >= self.flush_period_s
        ):
            self.flush()

    def flush(self) -> None:
        """Close the chunk in progress and fsync it now (append does so every period)."""
        if self._closed or self._pending == 0:
            return
        with self._guard("flushing"):
            self._storage.sync()
        self._pending = 0

    def close(self) -> None:
        """Finish the MCAP file and write metadata.yaml. Closing twice does nothing."""
        if self._closed:
            return
        summary = _summary(
            self.mcap_path.name,
            self._types,
            self._count,
            self._start_ns,
            self._end_ns,
            thumbnails=self._thumbnails,
        )
        with self._guard("closing"):
            self._storage.finish(summary)
            write_metadata(self.path, summary)
        self._closed = True
        self._pending = 0

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn a disk error into DayLogWriteError and stop the log where it is.

        After a failed write the MCAP writer's state is unknown; appending more could put
        whole chunks after a torn one, where no reader would reach them.
        """
        try:
            yield
        except OSError as exc:
            self._closed = True
            self._storage.abandon()
            raise DayLogWriteError(
                f"{doing} {self.path} failed after {self._count} rows ({exc}); the log is "
                "stopped and what was flushed before can be read or recover_day'd"
            ) from exc

    def __enter__(self) -> DayLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Close even when the caller failed: the ticks logged so far are still the day.
        self.close()


@dataclass(frozen=True)
class _Located:
    bag_dir: Path
    mcap_path: Path
    has_metadata: bool


@dataclass(frozen=True)
class _Scan:
    """What one pass over a day log's MCAP file found."""

    ticks: int
    start_ns: int  # of the rows
    end_ns: int
    thumbnails: int
    span: tuple[int, int]  # (first, last) log time over rows and thumbnails
    complete: bool  # read through the footer
    closed_by_writer: bool  # has a footer, so damage before it is corruption, not a crash
    good_end: int
    size: int
    damage: str | None

    @property
    def bytes_dropped(self) -> int:
        return 0 if self.complete else self.size - self.good_end


def _locate(path: Path, *, trust_metadata: bool) -> _Located:
    """The bag directory and its MCAP file, from a bag directory or the file itself."""
    path = Path(path)
    if not path.exists():
        raise NotADayLog(f"{path} does not exist")
    if path.is_file():
        info = _metadata_or_none(path.parent, trust_metadata)
        listed = info is not None and info["relative_file_paths"] == [path.name]
        return _Located(path.parent, path, listed)
    info = _metadata_or_none(path, trust_metadata)
    if info is not None:
        mcap_path = path / info["relative_file_paths"][0]
        if not mcap_path.is_file():
            raise NotADayLog(f"{path}/metadata.yaml lists {mcap_path.name}, which is missing")
        return _Located(path, mcap_path, True)
    candidates = sorted(path.glob("*.mcap"))
    if not candidates:
        raise NotADayLog(f"{path} holds no metadata.yaml and no .mcap file: not a day log")
    if len(candidates) > 1:
        names = ", ".join(c.name for c in candidates)
        raise NotADayLog(f"{path} has no metadata.yaml and several MCAP files ({names})")
    return _Located(path, candidates[0], False)


def _metadata_or_none(bag_dir: Path, trust: bool) -> dict[str, Any] | None:
    try:
        return read_metadata(bag_dir)
    except CorruptDayLog:
        if trust:
            raise
        return None  # recovery rewrites it from the MCAP file


def _messages(stream: McapStream, types: TickRecordTypes) -> Iterator[Any]:
    """The TickRecord messages of a stream, checking each TickRecord channel once."""
    checked: set[int] = set()
    for channel, message in stream.messages():
        if channel.topic != TOPIC:
            continue  # other topics (e.g. thumbnails) are not rows
        if channel.id not in checked:
            _check_channel(stream, channel, types)
            checked.add(channel.id)
        yield message


def _check_channel(stream: McapStream, channel: Any, types: TickRecordTypes) -> None:
    """Refuse a TickRecord topic we would misread: other type, encoding or definition."""
    schema = stream.schemas.get(channel.schema_id)
    where = f"{stream.path}: {TOPIC}"
    if schema is None or schema.name != TICK_RECORD:
        found = "no schema" if schema is None else schema.name
        raise NotADayLog(f"{where} carries {found}, not {TICK_RECORD}")
    if channel.message_encoding != "cdr" or schema.encoding != SCHEMA_ENCODING:
        raise NotADayLog(
            f"{where} is encoded {channel.message_encoding!r} with a {schema.encoding!r} "
            f"schema; a day log is cdr with a {SCHEMA_ENCODING!r} schema"
        )
    try:
        text = schema.data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotADayLog(f"{where}: its schema is not text") from None
    found_hash = schema_hash(schema.name, text)
    if found_hash != types.rihs01:
        raise NotADayLog(
            f"{where} was written with another TickRecord definition ({found_hash}); this "
            f"nemuri reads {types.rihs01} (from {types.source})"
        )


def _is_thumbnail(stream: McapStream, channel: Any) -> bool:
    """A channel of our thumbnails: the topic and the type; anything else is not copied."""
    if channel.topic != THUMBNAIL_TOPIC:
        return False
    schema = stream.schemas.get(channel.schema_id)
    return schema is not None and schema.name == IMAGE and channel.message_encoding == "cdr"


def _scan(mcap_path: Path, types: TickRecordTypes) -> _Scan:
    """Count the whole TickRecords and thumbnails and see how the file ends, decoding nothing."""
    stream = McapStream(mcap_path)
    ticks, start_ns, end_ns = 0, 0, 0
    thumbnails, first, last = 0, 0, 0
    checked: set[int] = set()
    for channel, message in stream.messages():
        if channel.topic == TOPIC:
            if channel.id not in checked:
                _check_channel(stream, channel, types)
                checked.add(channel.id)
            start_ns = message.log_time if ticks == 0 else min(start_ns, message.log_time)
            end_ns = max(end_ns, message.log_time)
            ticks += 1
        elif _is_thumbnail(stream, channel):
            thumbnails += 1
        else:
            continue
        first = message.log_time if ticks + thumbnails == 1 else min(first, message.log_time)
        last = max(last, message.log_time)
    others = sorted({c.topic for c in stream.channels.values()} - {TOPIC})
    if TOPIC not in {c.topic for c in stream.channels.values()} and (stream.complete or others):
        raise NotADayLog(f"{mcap_path} has no {TOPIC} topic (topics: {others or 'none'})")
    return _Scan(
        ticks=ticks,
        start_ns=start_ns,
        end_ns=end_ns,
        thumbnails=thumbnails,
        span=(first, last),
        complete=stream.complete,
        closed_by_writer=stream.complete or stream.closed_by_writer,
        good_end=stream.good_end,
        size=stream.size,
        damage=stream.damage,
    )


class DayReader:
    """A day log opened for reading: `len()`, iteration over TickRows in tick order.

    `recovered` is True for a bag a crash left (no metadata.yaml, or an MCAP file that
    ends early): its rows are every whole chunk's, up to the first damaged byte. Each
    iteration reads the file again, so a reader can serve several epochs of a sleep.
    """

    def __init__(self, path: Path) -> None:
        self._types = tick_record_types()
        located = _locate(Path(path), trust_metadata=True)
        self.path = located.bag_dir
        self.mcap_path = located.mcap_path
        scan = _scan(self.mcap_path, self._types)
        if not scan.complete and scan.closed_by_writer:
            raise CorruptDayLog(
                f"{self.mcap_path} was closed by its writer but is damaged at byte "
                f"{scan.good_end} of {scan.size} ({scan.damage}); recover_day({self.path}) "
                f"keeps the {scan.ticks} ticks before the damage"
            )
        self.recovered: bool = not (scan.complete and located.has_metadata)
        self.damage: str | None = scan.damage
        self.bytes_dropped: int = scan.bytes_dropped
        self.start_ns: int = scan.start_ns
        self.end_ns: int = scan.end_ns
        self.thumbnails: int = scan.thumbnails  # pictures on THUMBNAIL_TOPIC
        self._ticks = scan.ticks

    def __len__(self) -> int:
        return self._ticks

    def __iter__(self) -> Iterator[TickRow]:
        # Stop at the count found on opening, so len() and iteration agree even when the
        # file is still growing under a live DayLog.
        if self._ticks == 0:
            return
        for i, message in enumerate(_messages(McapStream(self.mcap_path), self._types)):
            try:
                yield deserialize_row(message.data, self._types)
            except CorruptDayLog as exc:
                raise CorruptDayLog(f"{self.mcap_path}, row {i}: {exc}") from None
            if i + 1 == self._ticks:
                return


def read_day(path: Path) -> DayReader:
    """Open a day log (its directory, or its .mcap file) for reading; crashed ones too."""
    return DayReader(Path(path))


@dataclass(frozen=True)
class RecoveryReport:
    """What recover_day did to a day log."""

    path: Path  # the bag directory
    ticks: int  # rows in the bag now
    thumbnails: int  # thumbnails in the bag now
    bytes_dropped: int  # bytes past the last whole chunk that could not be kept
    rewritten: bool  # the MCAP file was rewritten (False: only metadata.yaml, or nothing)
    damaged_copy: Path | None  # the original file, kept when bytes were dropped
    damage: str | None  # why the original read stopped early, if it did


def recover_day(path: Path, *, keep_damaged: bool = True) -> RecoveryReport:
    """Make a day log a complete rosbag2 bag again, keeping every whole chunk.

    A file that ends without a footer (a crash) is rewritten from its whole chunks (rows
    and thumbnails), with summary and footer, and given a metadata.yaml; the original is
    kept beside it as `<name>.damaged` when bytes had to be dropped, unless `keep_damaged`
    is False. The replacement is atomic: at every moment the bag's MCAP file is the old
    one or the new.
    """
    types = tick_record_types()
    located = _locate(Path(path), trust_metadata=False)
    bag_dir, mcap_path = located.bag_dir, located.mcap_path
    scan = _scan(mcap_path, types)
    if scan.complete:
        if not located.has_metadata:  # crashed between the footer and metadata.yaml
            summary = _summary(
                mcap_path.name, types, scan.ticks, *scan.span, thumbnails=scan.thumbnails
            )
            write_metadata(bag_dir, summary)
        return RecoveryReport(bag_dir, scan.ticks, scan.thumbnails, 0, False, None, None)

    summary = _summary(
        mcap_path.name,
        types,
        scan.ticks,
        *scan.span,
        thumbnails=scan.thumbnails,
        recovery=f"{scan.bytes_dropped} bytes dropped ({scan.damage})",
    )
    tmp = mcap_path.with_name(f".{mcap_path.name}.recovering")
    tmp.unlink(missing_ok=True)  # left by a recovery that was itself interrupted
    writer = McapBagWriter(tmp, f"{mcap_library()}; recovered")
    channel = writer.add_topic(TOPIC, TICK_RECORD, types.msgdef, types.rihs01, [RELIABLE_QOS])
    _copy_whole(McapStream(mcap_path), writer, channel, types, scan)
    writer.finish(summary)

    damaged_copy = None
    if scan.bytes_dropped and keep_damaged:
        damaged_copy = mcap_path.with_name(f"{mcap_path.name}.damaged")
        damaged_copy.unlink(missing_ok=True)
        try:
            os.link(mcap_path, damaged_copy)  # no copy of the bytes where links work
        except OSError:
            shutil.copyfile(mcap_path, damaged_copy)
    os.replace(tmp, mcap_path)
    write_metadata(bag_dir, summary)
    return RecoveryReport(
        bag_dir, scan.ticks, scan.thumbnails, scan.bytes_dropped, True, damaged_copy, scan.damage
    )


def _copy_whole(
    stream: McapStream, writer: McapBagWriter, channel: int, types: TickRecordTypes, scan: _Scan
) -> None:
    """The rows and thumbnails the scan counted, bytes unchanged, into a new file."""
    ticks, thumbnails = 0, 0
    thumbnail_channel: int | None = None
    checked: set[int] = set()
    for source, message in stream.messages():
        if ticks == scan.ticks and thumbnails == scan.thumbnails:
            break
        if source.topic == TOPIC and ticks < scan.ticks:
            if source.id not in checked:
                _check_channel(stream, source, types)
                checked.add(source.id)
            writer.write(channel, message.log_time, message.data)
            ticks += 1
        elif _is_thumbnail(stream, source) and thumbnails < scan.thumbnails:
            if thumbnail_channel is None:
                msgdef, type_hash = _image_type(types)
                thumbnail_channel = writer.add_topic(
                    THUMBNAIL_TOPIC, IMAGE, msgdef, type_hash, [RELIABLE_QOS]
                )
            writer.write(thumbnail_channel, message.log_time, message.data)
            thumbnails += 1


def _summary(
    file_name: str,
    types: TickRecordTypes,
    ticks: int,
    start_ns: int,
    end_ns: int,
    *,
    thumbnails: int = 0,
    recovery: str | None = None,
) -> BagSummary:
    custom = dict(_FORMAT)
    if recovery is not None:
        custom["nemuri.recovered"] = recovery
    topics = [TopicSummary(TOPIC, TICK_RECORD, types.rihs01, ticks)]
    if thumbnails:
        topics.append(TopicSummary(THUMBNAIL_TOPIC, IMAGE, _image_type(types)[1], thumbnails))
    return BagSummary(
        file_name=file_name,
        topics=topics,
        start_ns=start_ns,
        end_ns=end_ns,
        custom_data=custom,
    )


# -- thumbnails --------------------------------------------------------------------------
def _checked_thumbnail(rgb: object) -> np.ndarray:
    """The picture as contiguous (h, w, 3) uint8, or InvalidThumbnail saying what is wrong."""
    if not isinstance(rgb, np.ndarray):
        raise InvalidThumbnail(f"a thumbnail is a numpy array, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise InvalidThumbnail(f"a thumbnail is uint8 RGB, got dtype {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape[:2]:
        raise InvalidThumbnail(f"a thumbnail is (h, w, 3) RGB, got shape {rgb.shape}")
    if max(rgb.shape[:2]) > THUMBNAIL_MAX_SIDE:
        raise InvalidThumbnail(
            f"a thumbnail is at most {THUMBNAIL_MAX_SIDE} pixels a side, got {rgb.shape[:2]}; "
            "shrink the frame first"
        )
    return np.ascontiguousarray(rgb)


def _image_type(types: TickRecordTypes) -> tuple[str, str]:
    """sensor_msgs/Image's definition and RIHS01 hash, from the day log's typestore."""
    msgdef, _ = types.typestore.generate_msgdef(IMAGE, ros_version=2)
    return msgdef, types.typestore.hash_rihs01(IMAGE)


def _serialize_thumbnail(types: TickRecordTypes, stamp_ns: int, rgb: np.ndarray) -> bytes:
    """CDR bytes of the sensor_msgs/Image (rgb8, frame "camera") rclpy would publish."""
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    header = types.new(
        "std_msgs/msg/Header",
        stamp=types.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec),
        frame_id="camera",
    )
    height, width, _ = rgb.shape
    msg = types.new(
        IMAGE,
        header=header,
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=3 * width,
        data=rgb.reshape(-1),
    )
    return bytes(types.typestore.serialize_cdr(msg, IMAGE))
