"""What replay needs besides reading the bag (bags.reader), no ROS: when each message is due
on the wall clock at a rate, topic remapping, and re-stamping headers in the CDR bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import yaml

_ENCAPSULATIONS: Final[dict[bytes, str]] = {
    b"\x00\x00": "big",  # CDR_BE
    b"\x00\x01": "little",  # CDR_LE
}


class Schedule:
    """Bag time laid onto the wall clock: bag time `first_ns` plays at `wall_start_s`, and
    `rate` bag seconds pass per wall second."""

    def __init__(self, first_ns: int, wall_start_s: float, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.first_ns = first_ns
        self.wall_start_s = wall_start_s
        self.rate = rate

    def due(self, log_time_ns: int) -> float:
        """The wall time (same clock as wall_start_s) a message logged then goes out."""
        return self.wall_start_s + (log_time_ns - self.first_ns) * 1e-9 / self.rate

    def bag_time(self, wall_s: float) -> int:
        """The bag time playing at wall time `wall_s` (what --clock publishes)."""
        return self.first_ns + round((wall_s - self.wall_start_s) * self.rate * 1e9)


def qos_profiles(text: str) -> list[Mapping[str, Any]]:
    """A channel's `offered_qos_profiles` YAML as a list of mappings; [] when absent or bad."""
    try:
        profiles = yaml.safe_load(text) if text else []
    except yaml.YAMLError:
        return []
    return [p for p in profiles if isinstance(p, dict)] if isinstance(profiles, list) else []


def parse_remaps(pairs: Sequence[str]) -> dict[str, str]:
    """`FROM:=TO` pairs (ros2 bag play's --remap form) as a mapping; ValueError if malformed."""
    remaps = {}
    for pair in pairs:
        source, sep, target = pair.partition(":=")
        if not sep or not source.startswith("/") or not target.startswith("/"):
            raise ValueError(f"a remap is /from:=/to, got {pair!r}")
        remaps[source] = target
    return remaps


def header_stamp_ns(data: bytes) -> int:
    """The std_msgs/Header stamp at the start of a CDR message, in ns."""
    order = _byte_order(data)
    sec = int.from_bytes(data[4:8], order, signed=True)
    nanosec = int.from_bytes(data[8:12], order)
    return sec * 1_000_000_000 + nanosec


def restamp(data: bytes, stamp_ns: int) -> bytes:
    """The same message with its header stamp set to `stamp_ns`, every other byte kept.

    The Header is the first field, so its stamp (int32 sec, uint32 nanosec) sits right
    after the 4-byte encapsulation header, aligned: patching 8 bytes re-stamps the message.
    """
    order = _byte_order(data)
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    if not -(2**31) <= sec < 2**31:
        raise ValueError(f"stamp {stamp_ns} ns does not fit builtin_interfaces/Time")
    stamp = sec.to_bytes(4, order, signed=True) + nanosec.to_bytes(4, order)
    return data[:4] + stamp + data[12:]


def _byte_order(data: bytes) -> str:
    order = _ENCAPSULATIONS.get(bytes(data[:2]))
    if order is None or len(data) < 12:
        raise ValueError("not a CDR message with a header (encapsulation or length)")
    return order
