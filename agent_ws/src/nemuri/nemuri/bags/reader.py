"""Any rosbag2 MCAP bag, read as far as it is whole: nemuri's day logs, `nemuri record`
bags, and bags from `ros2 bag record -s mcap` (split in several files, chunks compressed
or not, with or without metadata.yaml).

Built on the day log's reader, not beside it: each file is read with memory.storage's
McapStream, which needs no footer or index and stops, without raising, at the first
record that does not parse or check. So a bag cut short by a crash or a copy (a
truncated file, no metadata.yaml) opens with every message of its whole chunks, and says
how much that is; a file that is not MCAP at all is refused with NotABag. A file its
writer finished (it has a footer) but that is damaged inside is not a crash: CorruptBag,
as read_day does. A day log's rows are still read by read_day (`tick_rows`), so the
TickRecord schema check and decoding stay in one place.

Opening reads every file once to count messages per topic; `messages` reads them again,
stopping at those counts, so what a bag says it holds and what it yields agree even while
a recorder is still appending.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from nemuri.memory import DayLogError, read_day
from nemuri.memory.daylog import TOPIC as TICK_TOPIC
from nemuri.memory.errors import NotADayLog
from nemuri.memory.metadata import METADATA_FILE, STORAGE_IDENTIFIER
from nemuri.memory.storage import McapStream
from nemuri.memory.tickrow import TickRow

from .errors import CorruptBag, NotABag, NoTickRecords

__all__ = ["TICK_TOPIC", "Bag", "BagFile", "BagMessage", "TopicInfo", "open_bag"]

# rosbag2 names a bag's files <bag>_<index>.mcap; the index orders them in time.
_FILE_INDEX: Final[re.Pattern[str]] = re.compile(r"_(\d+)\.mcap$")


@dataclass(frozen=True)
class BagFile:
    """One storage file of a bag and how far it could be read."""

    path: Path
    size: int  # bytes on disk
    messages: int  # whole messages read
    complete: bool  # read through its footer
    good_end: int  # bytes from the start that parsed as whole records
    damage: str | None  # why the read stopped early; None when complete
    listed: bool  # named in metadata.yaml

    @property
    def bytes_dropped(self) -> int:
        return 0 if self.complete else self.size - self.good_end


@dataclass(frozen=True)
class TopicInfo:
    """One topic as `ros2 bag info` lists it, from the channels and the messages read."""

    name: str
    msgtype: str  # pkg/msg/Type, from the channel's schema
    serialization_format: str  # the channel's message encoding, "cdr" for ROS 2
    count: int
    first_ns: int  # log time of its first and last message; 0 without messages
    last_ns: int
    offered_qos_profiles: str  # YAML, as the MCAP channel carries it; "" when absent
    type_hash: str  # RIHS01_..., "" when the writer recorded none

    @property
    def rate_hz(self) -> float | None:
        """Messages per second between the first and the last; None under two messages."""
        span = self.last_ns - self.first_ns
        return (self.count - 1) / (span / 1e9) if self.count > 1 and span > 0 else None


@dataclass(frozen=True)
class BagMessage:
    """One message, its bytes untouched (CDR for ROS 2 bags)."""

    topic: str
    msgtype: str
    log_time_ns: int  # when it was recorded
    publish_time_ns: int  # when it was sent, as the recorder saw it
    data: bytes


@dataclass
class _Tally:
    msgtype: str
    encoding: str
    qos: str
    type_hash: str
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0

    def add(self, log_time: int) -> None:
        self.first_ns = log_time if self.count == 0 else min(self.first_ns, log_time)
        self.last_ns = max(self.last_ns, log_time)
        self.count += 1


class Bag:
    """A rosbag2 MCAP bag opened for reading (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        self.path, files, self.metadata = _locate(path)
        if self.metadata is None and path.is_file():
            self.path = path  # a lone file: the bag is that file, not its folder
        tallies: dict[str, _Tally] = {}
        self.files: tuple[BagFile, ...] = tuple(
            _scan(file_path, listed, tallies) for file_path, listed in files
        )
        self.topics: dict[str, TopicInfo] = {
            name: TopicInfo(
                name, t.msgtype, t.encoding, t.count, t.first_ns, t.last_ns, t.qos, t.type_hash
            )
            for name, t in sorted(tallies.items())
        }

    # -- what it holds ----------------------------------------------------------------
    @property
    def message_count(self) -> int:
        return sum(f.messages for f in self.files)

    @property
    def size(self) -> int:
        """Bytes of its storage files, as `ros2 bag info` counts the bag's size."""
        return sum(f.size for f in self.files)

    @property
    def start_ns(self) -> int:
        """Log time of the earliest message; 0 for a bag without any."""
        return min((t.first_ns for t in self.topics.values() if t.count), default=0)

    @property
    def end_ns(self) -> int:
        return max((t.last_ns for t in self.topics.values() if t.count), default=0)

    @property
    def storage_identifier(self) -> str:
        return STORAGE_IDENTIFIER

    @property
    def ros_distro(self) -> str:
        return str((self.metadata or {}).get("ros_distro") or "")

    @property
    def is_day_log(self) -> bool:
        """It carries nemuri's TickRecords (a day log, or a bag holding one's topic)."""
        return TICK_TOPIC in self.topics

    # -- a bag cut short --------------------------------------------------------------
    @property
    def recovered(self) -> bool:
        """Read from what a crash or a cut left: no metadata.yaml, or a file ends early."""
        return self.metadata is None or any(not f.complete or not f.listed for f in self.files)

    def recovery_note(self) -> str | None:
        """How much of a bag cut short was read, in lines, the first a summary; None when whole."""
        if not self.recovered:
            return None
        span = (self.end_ns - self.start_ns) / 1e9
        lines = [
            f"recovered {self.message_count} messages covering {span:.1f} s, up to the last "
            "complete chunk"
        ]
        if self.metadata is None:
            lines.append(f"no {METADATA_FILE}: read from the MCAP data alone")
        expected = _listed_counts(self.metadata)
        for f in self.files:
            if not f.listed and self.metadata is not None:
                lines.append(f"{f.path.name} is not listed in {METADATA_FILE}: read as well")
            if f.complete:
                continue
            of = f" of {expected[f.path.name]}" if f.path.name in expected else ""
            lines.append(
                f"{f.path.name}: {f.messages}{of} messages kept from its first {f.good_end} of "
                f"{f.size} bytes; {f.bytes_dropped} bytes dropped ({f.damage})"
            )
        return "\n".join(lines)

    # -- reading ----------------------------------------------------------------------
    def messages(self, topics: Collection[str] | None = None) -> Iterator[BagMessage]:
        """Every message (of `topics`, when given) in file order, bytes untouched."""
        for f in self.files:
            if f.messages == 0:
                continue
            stream = McapStream(f.path)
            for n, (channel, message) in enumerate(_messages(stream), start=1):
                if topics is None or channel.topic in topics:
                    schema = stream.schemas.get(channel.schema_id)
                    yield BagMessage(
                        channel.topic,
                        "" if schema is None else schema.name,
                        message.log_time,
                        message.publish_time,
                        bytes(message.data),
                    )
                if n == f.messages:
                    break

    def tick_rows(self) -> Iterator[TickRow]:
        """The day log's rows, in tick order, read (and checked) by memory.read_day."""
        if not self.is_day_log:
            topics = ", ".join(self.topics) or "none"
            raise NoTickRecords(
                f"{self.path} is not a day log: it has no {TICK_TOPIC} topic (topics: {topics})"
            )
        try:
            yield from read_day(self.files[0].path if len(self.files) == 1 else self.path)
        except NotADayLog as exc:
            raise NoTickRecords(str(exc)) from None
        except DayLogError as exc:
            raise CorruptBag(str(exc)) from None


def open_bag(path: Path) -> Bag:
    """Open a bag (its folder, or one of its .mcap files); raise a BagError saying why not."""
    return Bag(Path(path))


# -- finding the files ----------------------------------------------------------------
def _locate(path: Path) -> tuple[Path, list[tuple[Path, bool]], dict[str, Any] | None]:
    """(bag folder, [(file, listed in metadata.yaml)], metadata) for a folder or a file."""
    if not path.exists():
        raise NotABag(f"{path} does not exist")
    if path.is_file():
        info = _read_metadata(path.parent)
        listed = info is not None and path.name in _listed_files(info, path.parent)
        return path.parent, [(path, listed)], info if listed else None
    info = _read_metadata(path)
    found = sorted(path.glob("*.mcap"), key=_file_order)
    if info is None:
        if not found:
            raise NotABag(f"{path} holds no {METADATA_FILE} and no .mcap file: not a bag")
        return path, [(p, False) for p in found], None
    listed = _listed_files(info, path)
    for name in listed:
        if not (path / name).is_file():
            raise CorruptBag(f"{path}/{METADATA_FILE} lists {name}, which is missing")
    extra = [p for p in found if p.name not in listed]  # split after the last metadata write
    return path, [(path / n, True) for n in listed] + [(p, False) for p in extra], info


def _file_order(path: Path) -> tuple[int, str]:
    match = _FILE_INDEX.search(path.name)
    return (int(match.group(1)) if match else -1, path.name)


def _read_metadata(bag_dir: Path) -> dict[str, Any] | None:
    """metadata.yaml's `rosbag2_bagfile_information`, checked for what reading needs."""
    path = bag_dir / METADATA_FILE
    if not path.is_file():
        return None
    try:
        info = yaml.safe_load(path.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
        storage = info["storage_identifier"]
        files = info["relative_file_paths"]
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise CorruptBag(
            f"{path} is not a rosbag2 metadata file ({type(exc).__name__}: {exc})"
        ) from None
    if storage != STORAGE_IDENTIFIER:
        raise NotABag(
            f"{bag_dir} is a {storage!r} bag; nemuri reads MCAP bags "
            f"(ros2 bag convert can make one)"
        )
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise CorruptBag(f"{path}: relative_file_paths is {files!r}, not a list of names")
    if info.get("compression_mode") == "file":
        raise NotABag(
            f"{bag_dir} is compressed file by file ({info.get('compression_format')}); "
            "decompress it first (ros2 bag convert)"
        )
    return info


def _listed_files(info: dict[str, Any], bag_dir: Path) -> list[str]:
    """The storage files metadata.yaml names, relative to the bag folder."""
    names = []
    for name in info["relative_file_paths"]:
        # Old rosbag2 versions wrote paths that start with the bag folder's own name.
        candidate = Path(name)
        if not (bag_dir / candidate).is_file() and candidate.parts[:1] == (bag_dir.name,):
            candidate = Path(*candidate.parts[1:])
        names.append(str(candidate))
    return names


def _listed_counts(info: dict[str, Any] | None) -> dict[str, int]:
    """Messages per file as metadata.yaml records them (version >= 5), by file name."""
    counts = {}
    for entry in (info or {}).get("files") or []:
        try:
            counts[Path(entry["path"]).name] = int(entry["message_count"])
        except (TypeError, KeyError, ValueError):
            continue  # a count we cannot read only makes the note less precise
    return counts


# -- reading one file -----------------------------------------------------------------
def _messages(stream: McapStream) -> Iterator[tuple[Any, Any]]:
    try:
        yield from stream.messages()
    except NotADayLog as exc:  # McapStream's word for "does not start like MCAP"
        raise NotABag(str(exc)) from None


def _tally(stream: McapStream, channel: Any) -> _Tally:
    """A new topic's tally, typed from its channel and schema as rosbag2 wrote them."""
    schema = stream.schemas.get(channel.schema_id)
    return _Tally(
        msgtype="" if schema is None else schema.name,
        encoding=channel.message_encoding,
        qos=channel.metadata.get("offered_qos_profiles", ""),
        type_hash=channel.metadata.get("topic_type_hash", ""),
    )


def _scan(path: Path, listed: bool, tallies: dict[str, _Tally]) -> BagFile:
    """Count one file's whole messages into `tallies`, per topic; how the file ends."""
    stream = McapStream(path)
    count = 0
    for channel, message in _messages(stream):
        if channel.topic not in tallies:
            tallies[channel.topic] = _tally(stream, channel)
        tallies[channel.topic].add(message.log_time)
        count += 1
    for channel in stream.channels.values():  # topics registered but never written
        if channel.topic not in tallies:
            tallies[channel.topic] = _tally(stream, channel)
    if not stream.complete and stream.closed_by_writer:
        raise CorruptBag(
            f"{path} was closed by its writer but is damaged at byte {stream.good_end} of "
            f"{stream.size} ({stream.damage}); {count} messages before the damage are whole"
        )
    return BagFile(
        path=path,
        size=stream.size,
        messages=count,
        complete=stream.complete,
        good_end=stream.good_end,
        damage=stream.damage,
        listed=listed,
    )
