"""The defaults every part of nemuri agrees on (DESIGN.md, Contracts).

Kept in one place so that the brain, the senses, the day log and the nodes cannot drift:
a change here is a change of contract, and README and DESIGN.md change with it.
"""

from __future__ import annotations

from typing import Final

# Order matters: it is the enum order of nemuri_msgs/Embedding and the order of the
# brain's input slices and of the day log's per-modality rows.
MODALITIES: Final[tuple[str, ...]] = ("vision", "audio", "touch", "proprio")
EMBEDDING_DIMS: Final[dict[str, int]] = {"vision": 128, "audio": 64, "touch": 16, "proprio": 16}

JOINTS: Final[tuple[str, ...]] = ("head_pan", "head_tilt", "shoulder", "elbow", "gripper")
TOUCH_PADS: Final[tuple[str, ...]] = ("gripper", "head", "body_left", "body_right")
# Where the body goes before sleep, on the watchdog, and at a world's reset (rad, JOINTS order):
# the head looks down at the table in front, the arm hangs at the side, the gripper closed.
REST_POSE: Final[tuple[float, ...]] = (0.0, 0.85, 0.0, 0.3, 0.0)

TICK_HZ: Final[float] = 10.0
STALE_PERIODS: Final[float] = 1.5  # an embedding older than this many tick periods is masked
CONTEXT_CAPACITY: Final[int] = 4096

# Drowsiness features fed to the brain every tick, in this order.
DROWSINESS_FEATURES: Final[tuple[str, ...]] = (
    "context_fill",
    "latency_ratio",
    "missed_rate_x10",
    "sleepiness",
)
DROWSY_AT: Final[float] = 0.8
SLEEP_AT: Final[float] = 1.0


def modality_index(name: str) -> int:
    """Index of a modality in MODALITIES (= its nemuri_msgs/Embedding enum value)."""
    try:
        return MODALITIES.index(name)
    except ValueError:
        raise ValueError(f"unknown modality {name!r}; expected one of {MODALITIES}") from None
