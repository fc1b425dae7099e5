"""The QoS profiles every nemuri node uses, chosen per REP-2003.

Sensors and embeddings are best-effort keep-last: a late sample is worth less than the
next one, and a reliable link would queue and retransmit stale data. Commands, state and
speech are reliable: a dropped word or a dropped motor command is a behaviour, not noise.
A best-effort subscription also matches a reliable publisher, so subscribing to sensor
topics with SENSOR reads from either kind of source.
"""

from __future__ import annotations

from typing import Final

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

SENSOR: Final[QoSProfile] = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
EMBEDDING: Final[QoSProfile] = SENSOR

RELIABLE: Final[QoSProfile] = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
COMMAND: Final[QoSProfile] = RELIABLE
STATE: Final[QoSProfile] = RELIABLE
SPEECH: Final[QoSProfile] = RELIABLE
DIAGNOSTICS: Final[QoSProfile] = RELIABLE
