"""Message definitions for any topic a bag records, without ROS: what rosbag2 puts in the
MCAP schema (the ros2msg text with its dependencies) and the RIHS01 type hash.

`ros2 bag play`, Foxglove and the `mcap` ROS 2 decoder read a message only through its
schema, so a recorder that writes raw bytes must still write the definition. rosbag2 finds
it in the ament index; we take it from a rosbags typestore: the Kilted standard messages,
every nemuri_msgs message (from the same .msg files the interface package is built from),
and, for a package neither knows, its .msg files under an install prefix's share/.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from nemuri.memory.msgtypes import PACKAGE, find_msg_dir

log = logging.getLogger(__name__)

HEADER: Final[str] = "std_msgs/msg/Header"


@dataclass(frozen=True)
class TopicType:
    """What a bag records about a message type besides the messages."""

    name: str  # pkg/msg/Type
    msgdef: str  # ros2msg text with dependencies; "" when the definition was not found
    type_hash: str  # RIHS01_...; "" when unknown
    header_first: bool  # the message starts with a std_msgs/Header (re-stampable in place)


class TypeCatalog:
    """Definitions of message types by name, found once and kept."""

    def __init__(self) -> None:
        self.typestore: Typestore = get_typestore(Stores.ROS2_KILTED)
        msg_dir = find_msg_dir()
        found = {}
        for path in sorted(msg_dir.glob("*.msg")):
            found.update(get_types_from_msg(path.read_text("utf-8"), f"{PACKAGE}/msg/{path.stem}"))
        self.typestore.register(found)
        self._known: dict[str, TopicType] = {}

    def get(self, name: str) -> TopicType:
        """The definition of `name` (pkg/msg/Type); an empty one, logged, when not found."""
        name = normalise(name)
        if name not in self._known:
            self._known[name] = self._describe(name)
        return self._known[name]

    def _describe(self, name: str) -> TopicType:
        if not self._load(name):
            log.warning("no definition found for %s: its topic is recorded without one", name)
            return TopicType(name, "", "", False)
        msgdef, _ = self.typestore.generate_msgdef(name, ros_version=2)
        fields = self.typestore.fielddefs[name][1]
        header_first = bool(fields) and fields[0][1][1] == HEADER
        return TopicType(name, msgdef, self.typestore.hash_rihs01(name), header_first)

    def _load(self, name: str, depth: int = 0) -> bool:
        """Register `name` and what it is made of from share/*/msg, if not known yet."""
        if name in self.typestore.fielddefs:
            return True
        path = _find_msg_file(name)
        if path is None or depth > 16:
            return False
        types = get_types_from_msg(path.read_text("utf-8"), name)
        for _, fields in types.values():
            if not all(self._load(dep, depth + 1) for dep in _dependencies(fields)):
                return False
        self.typestore.register(types)
        return True


def _dependencies(fields: list[tuple[str, tuple[Nodetype, object]]]) -> list[str]:
    """The message types a definition's fields are made of (through arrays too)."""
    found = []
    for _, (kind, detail) in fields:
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            kind, detail = detail[0]  # type: ignore[index]
        if kind == Nodetype.NAME:
            found.append(str(detail))
    return found


def normalise(name: str) -> str:
    """`pkg/Type` or `pkg/msg/Type` as `pkg/msg/Type`."""
    parts = name.split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return name


def _find_msg_file(name: str) -> Path | None:
    package, _, msg = name.partition("/msg/")
    if not msg:
        return None
    prefixes = [Path(sys.prefix)]
    prefixes += [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in prefixes:
        path = prefix / "share" / package / "msg" / f"{msg}.msg"
        if path.is_file():
            return path
    return None
