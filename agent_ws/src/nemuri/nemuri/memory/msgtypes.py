"""Layer 1, message types: nemuri_msgs/TickRecord as a rosbags typestore knows it.

The day log must stay readable by ROS tools without importing ROS, so the types come from
the same .msg files the interface package is built from, parsed by rosbags, on top of the
std_msgs/builtin_interfaces definitions rosbags ships. The RIHS01 hash computed here equals
the one rosidl generates, which is what `ros2 bag play` checks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from .errors import MessageDefinitionsNotFound, NotADayLog

PACKAGE: Final[str] = "nemuri_msgs"
TICK_RECORD: Final[str] = "nemuri_msgs/msg/TickRecord"
EMBEDDING: Final[str] = "nemuri_msgs/msg/Embedding"
# TickRecord first: the others are what it is made of.
_MSG_NAMES: Final[tuple[str, ...]] = ("TickRecord", "Embedding")


def msg_search_dirs() -> list[Path]:
    """Where nemuri_msgs/msg may live, most authoritative first.

    The installed copy (the venv's prefix, or an ament prefix on a robot) is what the ROS
    nodes were built against; the source tree serves an editable install with no build.
    """
    prefixes = [Path(sys.prefix)]
    prefixes += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs = [prefix / "share" / PACKAGE / "msg" for prefix in prefixes]
    # memory/ -> nemuri/ -> agent_ws/src/nemuri/ -> agent_ws/src/
    dirs.append(Path(__file__).resolve().parents[3] / PACKAGE / "msg")
    return dirs


def find_msg_dir(candidates: Sequence[Path] | None = None) -> Path:
    """The first directory holding every .msg the day log needs."""
    candidates = msg_search_dirs() if candidates is None else candidates
    for directory in candidates:
        if all((directory / f"{name}.msg").is_file() for name in _MSG_NAMES):
            return directory
    searched = "\n  ".join(str(d) for d in candidates)
    raise MessageDefinitionsNotFound(
        f"cannot find {PACKAGE}'s TickRecord.msg and Embedding.msg; searched:\n  {searched}\n"
        f"build {PACKAGE} into the venv (make) or run from the source tree"
    )


@dataclass(frozen=True)
class TickRecordTypes:
    """A typestore holding TickRecord, with what a rosbag2 writer records about the type."""

    typestore: Typestore
    msgdef: str  # ros2msg text with its dependencies, as the MCAP schema carries it
    rihs01: str  # type description hash, as metadata.yaml and the channel carry it
    source: Path  # the directory the .msg files came from

    def new(self, name: str, **fields: Any) -> Any:
        """A message object of a registered type."""
        return self.typestore.types[name](**fields)


def load_types(msg_dir: Path) -> TickRecordTypes:
    """Register TickRecord and Embedding from `msg_dir` into a fresh Kilted typestore."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types: dict[str, Any] = {}
    for name in _MSG_NAMES:
        text = (msg_dir / f"{name}.msg").read_text(encoding="utf-8")
        types.update(get_types_from_msg(text, f"{PACKAGE}/msg/{name}"))
    typestore.register(types)
    msgdef, _ = typestore.generate_msgdef(TICK_RECORD, ros_version=2)
    return TickRecordTypes(typestore, msgdef, typestore.hash_rihs01(TICK_RECORD), msg_dir)


@lru_cache(maxsize=1)
def tick_record_types() -> TickRecordTypes:
    """The process-wide TickRecord types, loaded once from the first directory found."""
    return load_types(find_msg_dir())


def schema_hash(schema_name: str, schema_text: str) -> str:
    """RIHS01 of a ros2msg schema as stored in a bag, to compare with ours.

    Comparing hashes rather than text ignores comments and formatting but catches any
    change of a field, which is exactly when our CDR decoder would misread the bytes.
    """
    try:
        typestore = get_typestore(Stores.EMPTY)
        typestore.register(get_types_from_msg(schema_text, schema_name))
        return typestore.hash_rihs01(schema_name)
    except Exception as exc:  # rosbags raises several kinds on a malformed definition
        raise NotADayLog(f"the bag's definition of {schema_name} cannot be parsed: {exc}") from None
