"""The body's serial protocol in Python: the same frames as firmware/src/protocol.c.

Wire format (firmware/PROTOCOL.md)::

    0xA5 | length | version | type | seq | payload (length bytes) | CRC-32 (LE)

The CRC is zlib's CRC-32 over everything between the start byte and the CRC. Two
payloads exist: TARGETS (host to body: five servo pulse widths, us) and STATE (body to
host, 50 Hz: pulse widths, pots, pads, counters).

`FrameParser` is a streaming parser that makes exactly the decisions the C parser makes,
byte for byte, so the fuzz test can hold the two to each other: a candidate frame fails as
soon as its length or version is impossible, or at its CRC; a failed candidate gives up
only its start byte, and the bytes after it are scanned again, so a good frame that came
inside a broken one's claimed length is still found.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final

START: Final[int] = 0xA5
VERSION: Final[int] = 1
HEADER: Final[int] = 5  # start, length, version, type, seq
CRC_SIZE: Final[int] = 4
MAX_PAYLOAD: Final[int] = 64

MSG_TARGETS: Final[int] = 0x01
MSG_STATE: Final[int] = 0x81

SERVOS: Final[int] = 5  # contracts.JOINTS order
PADS: Final[int] = 4  # contracts.TOUCH_PADS order
PULSE_MIN_US: Final[int] = 1000
PULSE_MAX_US: Final[int] = 2000
ADC_MAX: Final[int] = 1023
FLAG_RESTING: Final[int] = 0x01  # the body holds the rest pose (boot or its watchdog)

_TARGETS = struct.Struct(f"<{SERVOS}H")
_STATE = struct.Struct(f"<BBBBI{SERVOS}H{SERVOS}H{PADS}H5I")
TARGETS_LEN: Final[int] = _TARGETS.size
STATE_LEN: Final[int] = _STATE.size


class ProtocolError(ValueError):
    """A frame or payload that does not fit the protocol; the message says how."""


@dataclass(frozen=True)
class Frame:
    """One good frame: CRC, length and version checked, payload not yet interpreted."""

    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class BodyState:
    """One STATE payload: what the body outputs and reads now, and its counters."""

    ack_seq: int  # seq of the last TARGETS frame the body acted on
    flags: int
    feedback_mask: int  # bit i: joint i has a feedback pot
    uptime_ms: int
    pulse_us: tuple[int, ...]  # the servo outputs now
    feedback: tuple[int, ...]  # raw ADC, 0 where no pot is fitted
    touch: tuple[int, ...]  # raw ADC, pads in TOUCH_PADS order
    rx_ok: int  # frames the body took in with a good CRC
    rx_bad: int  # dropped for length, version or CRC
    rx_rejected: int  # good frames refused: wrong type, length, or a pulse out of range
    rx_skipped: int  # stray bytes outside frames
    watchdog_trips: int

    @property
    def resting(self) -> bool:
        return bool(self.flags & FLAG_RESTING)


def crc32(data: bytes | bytearray | memoryview) -> int:
    """The protocol's CRC (IEEE 802.3, as zlib); firmware/src/protocol.c computes the same."""
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(msg_type: int, seq: int, payload: bytes) -> bytes:
    """One frame on the wire."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes, at most {MAX_PAYLOAD}")
    if not (0 <= msg_type <= 0xFF and 0 <= seq <= 0xFF):
        raise ProtocolError(f"type {msg_type} and seq {seq} must be bytes")
    body = bytes((len(payload), VERSION, msg_type, seq)) + payload
    return bytes((START,)) + body + struct.pack("<I", crc32(body))


def encode_targets(seq: int, pulse_us: tuple[int, ...] | list[int]) -> bytes:
    """A TARGETS frame; refuses what the body would refuse (so it is never sent)."""
    pulses = [int(p) for p in pulse_us]
    if len(pulses) != SERVOS:
        raise ProtocolError(f"expected {SERVOS} pulse widths, got {len(pulses)}")
    bad = [p for p in pulses if not PULSE_MIN_US <= p <= PULSE_MAX_US]
    if bad:
        raise ProtocolError(f"pulse widths {bad} outside {PULSE_MIN_US}..{PULSE_MAX_US} us")
    return encode(MSG_TARGETS, seq, _TARGETS.pack(*pulses))


def decode_targets(frame: Frame) -> tuple[int, ...]:
    """A TARGETS frame's pulse widths, checked as the firmware checks them."""
    if frame.type != MSG_TARGETS or len(frame.payload) != TARGETS_LEN:
        raise ProtocolError(f"not a TARGETS frame: type {frame.type}, {len(frame.payload)} bytes")
    pulses = _TARGETS.unpack(frame.payload)
    if not all(PULSE_MIN_US <= p <= PULSE_MAX_US for p in pulses):
        raise ProtocolError(f"pulse widths {pulses} outside {PULSE_MIN_US}..{PULSE_MAX_US} us")
    return pulses


def encode_state(seq: int, state: BodyState) -> bytes:
    """A STATE frame (the firmware's job; the tests and the bench use it)."""
    payload = _STATE.pack(
        state.ack_seq,
        state.flags,
        state.feedback_mask,
        0,
        state.uptime_ms,
        *state.pulse_us,
        *state.feedback,
        *state.touch,
        state.rx_ok,
        state.rx_bad,
        state.rx_rejected,
        state.rx_skipped,
        state.watchdog_trips,
    )
    return encode(MSG_STATE, seq, payload)


def decode_state(frame: Frame) -> BodyState:
    """A STATE frame's payload."""
    if frame.type != MSG_STATE or len(frame.payload) != STATE_LEN:
        raise ProtocolError(f"not a STATE frame: type {frame.type}, {len(frame.payload)} bytes")
    v = _STATE.unpack(frame.payload)
    s, f, p = 5, 5 + SERVOS, 5 + 2 * SERVOS
    return BodyState(
        ack_seq=v[0],
        flags=v[1],
        feedback_mask=v[2],
        uptime_ms=v[4],
        pulse_us=tuple(v[s:f]),
        feedback=tuple(v[f:p]),
        touch=tuple(v[p : p + PADS]),
        rx_ok=v[p + PADS],
        rx_bad=v[p + PADS + 1],
        rx_rejected=v[p + PADS + 2],
        rx_skipped=v[p + PADS + 3],
        watchdog_trips=v[p + PADS + 4],
    )


class FrameParser:
    """Bytes in as they come, good frames out; counts what it drops (module docstring)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames_ok = 0
        self.frames_bad = 0  # candidate frames failed on length, version or CRC
        self.bytes_skipped = 0  # bytes outside any candidate frame

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """The good frames completed by `data`, in order."""
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        while True:
            start = buf.find(START)
            if start < 0:
                self.bytes_skipped += len(buf)
                buf.clear()
                return frames
            if start:
                self.bytes_skipped += start
                del buf[:start]
            if len(buf) < 2:
                return frames
            length = buf[1]
            if length > MAX_PAYLOAD or (len(buf) >= 3 and buf[2] != VERSION):
                self._fail()
                continue
            total = HEADER + length + CRC_SIZE
            if len(buf) < total:
                return frames
            end = HEADER + length
            (crc,) = struct.unpack_from("<I", buf, end)
            if crc != crc32(buf[1:end]):
                self._fail()
                continue
            self.frames_ok += 1
            frames.append(Frame(buf[3], buf[4], bytes(buf[HEADER:end])))
            del buf[:total]

    def _fail(self) -> None:
        self.frames_bad += 1
        del self._buf[:1]
