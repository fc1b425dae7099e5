"""Layer 3a, rosbag2 conventions: metadata.yaml (version 9), QoS profiles, channel metadata.

rosbag2 itself writes these when it records; we write the same fields the same way so that
`ros2 bag info/play`, rosbags and Foxglove take a day log for an ordinary bag. The YAML
shapes follow rosbag2_storage (metadata_io.cpp, qos.cpp) for version 9: QoS policies as
lower-case words and the "infinite" durations as RMW_DURATION_INFINITE.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from .errors import CorruptDayLog, NotADayLog

VERSION: Final[int] = 9
STORAGE_IDENTIFIER: Final[str] = "mcap"
SERIALIZATION_FORMAT: Final[str] = "cdr"
METADATA_FILE: Final[str] = "metadata.yaml"
# The name of the MCAP metadata record in which rosbag2 repeats metadata.yaml; `ros2 bag
# play` takes the version from it to parse the channels' QoS strings.
MCAP_METADATA_NAME: Final[str] = "rosbag2"

_INFINITE: Final[dict[str, int]] = {"sec": 9223372036, "nsec": 854775807}
# The profile replay offers: reliable like /nemuri/state (REP-2003; nodes/qos.py RELIABLE).
RELIABLE_QOS: Final[dict[str, Any]] = {
    "history": "keep_last",
    "depth": 10,
    "reliability": "reliable",
    "durability": "volatile",
    "deadline": _INFINITE,
    "lifespan": _INFINITE,
    "liveliness": "automatic",
    "liveliness_lease_duration": _INFINITE,
    "avoid_ros_namespace_conventions": False,
}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no &anchors for the repeated durations, which rosbag2 never writes."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _dump(data: object) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag as metadata.yaml lists it."""

    name: str
    msgtype: str
    type_hash: str  # RIHS01_...
    message_count: int
    qos_profiles: Sequence[Mapping[str, Any]] = (RELIABLE_QOS,)


@dataclass(frozen=True)
class FileSummary:
    """One MCAP file of a bag split into several, as metadata.yaml's `files` lists it."""

    path: str  # relative to the bag directory
    start_ns: int
    end_ns: int
    message_count: int


@dataclass(frozen=True)
class BagSummary:
    """What metadata.yaml says about a bag: one file (a day log), or `files` when split."""

    file_name: str  # the MCAP file, relative to the bag directory
    topics: Sequence[TopicSummary]
    start_ns: int  # earliest message log time; 0 for an empty bag
    end_ns: int  # latest message log time
    custom_data: Mapping[str, str] = field(default_factory=dict)
    files: Sequence[FileSummary] = ()  # a split bag's files in order; empty: file_name alone

    @property
    def message_count(self) -> int:
        return sum(t.message_count for t in self.topics)

    @property
    def file_summaries(self) -> Sequence[FileSummary]:
        if self.files:
            return self.files
        return [FileSummary(self.file_name, self.start_ns, self.end_ns, self.message_count)]


def qos_to_yaml(profiles: Sequence[Mapping[str, Any]]) -> str:
    """The `offered_qos_profiles` string a rosbag2 MCAP channel carries (version 9 form)."""
    return _dump([dict(p) for p in profiles]).strip()


def channel_metadata(type_hash: str, qos_profiles: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The MCAP channel metadata rosbag2 writes for a topic."""
    return {"offered_qos_profiles": qos_to_yaml(qos_profiles), "topic_type_hash": type_hash}


def bagfile_information(summary: BagSummary) -> dict[str, Any]:
    """The mapping under `rosbag2_bagfile_information`, field for field as rosbag2 writes it."""
    duration = {"nanoseconds": max(0, summary.end_ns - summary.start_ns)}
    starting_time = {"nanoseconds_since_epoch": summary.start_ns}
    return {
        "version": VERSION,
        "storage_identifier": STORAGE_IDENTIFIER,
        "duration": duration,
        "starting_time": starting_time,
        "message_count": summary.message_count,
        "topics_with_message_count": [
            {
                "topic_metadata": {
                    "name": t.name,
                    "type": t.msgtype,
                    "serialization_format": SERIALIZATION_FORMAT,
                    "offered_qos_profiles": [dict(p) for p in t.qos_profiles],
                    "type_description_hash": t.type_hash,
                },
                "message_count": t.message_count,
            }
            for t in summary.topics
        ],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": [f.path for f in summary.file_summaries],
        "files": [
            {
                "path": f.path,
                "starting_time": {"nanoseconds_since_epoch": f.start_ns},
                "duration": {"nanoseconds": max(0, f.end_ns - f.start_ns)},
                "message_count": f.message_count,
            }
            for f in summary.file_summaries
        ],
        "custom_data": dict(summary.custom_data) or None,
        # rosbag2 records the distro it ran under; a pure-Python writer has none to claim.
        "ros_distro": os.environ.get("ROS_DISTRO", ""),
    }


def serialized_metadata(summary: BagSummary) -> str:
    """The YAML rosbag2 stores in the MCAP's `rosbag2` metadata record."""
    return _dump(bagfile_information(summary))


def write_metadata(bag_dir: Path, summary: BagSummary) -> None:
    """Write metadata.yaml atomically: a crash leaves the old file or the new, never half."""
    text = _dump({"rosbag2_bagfile_information": bagfile_information(summary)})
    target = bag_dir / METADATA_FILE
    tmp = target.with_name(f".{METADATA_FILE}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    fsync_dir(bag_dir)


def read_metadata(bag_dir: Path) -> dict[str, Any] | None:
    """metadata.yaml's `rosbag2_bagfile_information`, or None when the bag has none.

    Only what a day log needs is checked: that it is an MCAP bag and which file holds it.
    """
    path = bag_dir / METADATA_FILE
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        info = doc["rosbag2_bagfile_information"]
        storage = info["storage_identifier"]
        files = info["relative_file_paths"]
    except (yaml.YAMLError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise CorruptDayLog(
            f"{path} is not a rosbag2 metadata file ({type(exc).__name__}: {exc}); "
            "recover_day rewrites it from the MCAP file"
        ) from None
    if storage != STORAGE_IDENTIFIER:
        raise NotADayLog(f"{bag_dir} is a {storage!r} bag; a day log is stored as MCAP")
    if not isinstance(files, list) or len(files) != 1 or not isinstance(files[0], str):
        raise NotADayLog(f"{path} lists files {files!r}; a day log is one MCAP file")
    return info


def fsync_dir(directory: Path) -> None:
    """Make a new or renamed entry in `directory` survive a power cut (POSIX only)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
