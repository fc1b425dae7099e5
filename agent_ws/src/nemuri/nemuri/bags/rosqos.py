"""QoS between rclpy and a bag's metadata, and the message class of a type name (ROS side).

rosbag2 keeps, per topic, the QoS profiles its publishers offered, as YAML mappings
(metadata.yaml v9: lower-case policy names, durations as {sec, nsec}); the recorder writes
them from the graph and replay offers them again, so a best-effort camera stays
best-effort and a reliable command stays reliable through a recording.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from .types import normalise

# Depth for what we subscribe and publish: a burst of frames must not drop while the
# writer flushes a chunk, and keep-last is what rosbag2 uses too.
DEPTH: Final[int] = 100


def _duration(ns: int) -> dict[str, int]:
    sec, nsec = divmod(int(ns), 1_000_000_000)
    return {"sec": sec, "nsec": nsec}


def profile_to_yaml(qos: QoSProfile) -> dict[str, Any]:
    """One offered profile as metadata.yaml writes it (RMW's infinite is INT64_MAX ns)."""
    return {
        "history": qos.history.name.lower(),
        "depth": int(qos.depth),
        "reliability": qos.reliability.name.lower(),
        "durability": qos.durability.name.lower(),
        "deadline": _duration(qos.deadline.nanoseconds),
        "lifespan": _duration(qos.lifespan.nanoseconds),
        "liveliness": qos.liveliness.name.lower(),
        "liveliness_lease_duration": _duration(qos.liveliness_lease_duration.nanoseconds),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


def subscription_qos(offered: Sequence[QoSProfile]) -> QoSProfile:
    """What to subscribe with so every publisher matches, rosbag2's rule.

    Reliable only when every publisher is (a reliable subscription refuses a best-effort
    publisher); transient-local only when every publisher is, to get what they kept.
    """
    reliable = bool(offered) and all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
    latched = bool(offered) and all(
        q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def publisher_qos(profiles: Sequence[Mapping[str, Any]]) -> QoSProfile:
    """What replay offers: the recorded publishers' reliability and durability.

    Reliable if any recorded publisher was (a subscriber that asked for reliable then
    still matches); best-effort when none was or nothing was recorded about it.
    """
    reliable = any(p.get("reliability") == "reliable" for p in profiles)
    latched = bool(profiles) and all(p.get("durability") == "transient_local" for p in profiles)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def message_class(type_name: str) -> type:
    """The generated Python class of `pkg/msg/Type`; ImportError naming the type if absent."""
    package, _, name = normalise(type_name).partition("/msg/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError, ValueError):
        raise ImportError(
            f"message type {type_name} is not installed here (no Python module {package}.msg "
            f"with {name})"
        ) from None
