"""The serial protocol: the Python frames against firmware/src/protocol.c built for the host.

The fuzz test makes one stream of >= 100,000 frames, a fixed seed deciding each one's fate
(kept whole, bits flipped, cut short, bytes inserted, or replaced by random garbage) and
feeds it to the C parser (firmware/host/proto_filter) and to `FrameParser` in random
chunk sizes. Both must accept exactly the frames that went in whole, nothing else, in
order, with the same counters, and finish well inside the test's timeout.
"""

from __future__ import annotations

import random
import re
import subprocess
import time
from pathlib import Path

import pytest

from nemuri.body import protocol
from nemuri.body.firmware_process import FIRMWARE_DIR, build
from nemuri.body.protocol import BodyState, Frame, FrameParser, ProtocolError
from nemuri.body.serial_driver import ServoCalibration
from nemuri.contracts import REST_POSE

FUZZ_FRAMES = 100_000


@pytest.fixture(scope="module")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.getbasetemp() / "firmware-build", ("host",))


def run_c_parser(build_dir: Path, stream: bytes) -> list[str]:
    result = subprocess.run(
        [str(build_dir / "proto_filter")], input=stream, capture_output=True, timeout=60, check=True
    )
    return result.stdout.decode().splitlines()


def python_lines(parser: FrameParser, frames: list[Frame]) -> list[str]:
    lines = [f"{f.type} {f.seq} {f.payload.hex()}" for f in frames]
    return [*lines, f"counters {parser.frames_ok} {parser.frames_bad} {parser.bytes_skipped}"]


def a_state(**changes: object) -> BodyState:
    values = dict(
        ack_seq=7,
        flags=protocol.FLAG_RESTING,
        feedback_mask=0b0101,
        uptime_ms=123_456,
        pulse_us=(1500, 1806, 1161, 1192, 1000),
        feedback=(10, 0, 1023, 0, 0),
        touch=(0, 511, 1023, 3),
        rx_ok=1,
        rx_bad=2,
        rx_rejected=3,
        rx_skipped=4,
        watchdog_trips=5,
    )
    return BodyState(**{**values, **changes})


def test_the_crc_is_ieee_crc32():
    assert protocol.crc32(b"123456789") == 0xCBF43926


def test_frames_round_trip_and_the_c_parser_reads_python_frames(firmware_build):
    state = a_state()
    frames = [
        protocol.encode_targets(200, [1000, 1250, 1500, 1750, 2000]),
        protocol.encode_state(255, state),
    ]
    parser = FrameParser()
    got = parser.feed(b"".join(frames))
    assert protocol.decode_targets(got[0]) == (1000, 1250, 1500, 1750, 2000)
    assert got[0].seq == 200
    assert protocol.decode_state(got[1]) == state and state.resting
    assert run_c_parser(firmware_build, b"".join(frames)) == python_lines(parser, got)


def test_out_of_range_targets_are_refused_on_both_sides():
    with pytest.raises(ProtocolError, match=r"outside 1000\.\.2000"):
        protocol.encode_targets(0, [1500, 1500, 999, 1500, 1500])
    with pytest.raises(ProtocolError, match="expected 5"):
        protocol.encode_targets(0, [1500] * 4)
    # a well-formed frame carrying 2001 us: the CRC is good, the payload is not
    payload = (1500).to_bytes(2, "little") * 4 + (2001).to_bytes(2, "little")
    (frame,) = FrameParser().feed(protocol.encode(protocol.MSG_TARGETS, 1, payload))
    with pytest.raises(ProtocolError, match="outside"):
        protocol.decode_targets(frame)
    with pytest.raises(ProtocolError, match="not a STATE frame"):
        protocol.decode_state(frame)


def test_the_firmware_rest_pose_is_contracts_rest_pose_through_the_calibration():
    header = (FIRMWARE_DIR / "src" / "controller.h").read_text()
    match = re.search(r"#define REST_PULSE_US \{([^}]*)\}", header)
    firmware_rest = tuple(int(v.strip().rstrip("u")) for v in match.group(1).split(","))
    assert firmware_rest == ServoCalibration.from_limits().to_pulse(REST_POSE)


def fuzz_stream(seed: int, count: int) -> tuple[bytes, list[str]]:
    """The stream, and the frames in it that went in whole (as the parsers print them)."""
    rng = random.Random(seed)
    chunks: list[bytes] = []
    originals: list[tuple[int, int, bytes, str]] = []  # (offset, size, frame, as printed)
    offset = 0
    for n in range(count):
        payload = n.to_bytes(4, "little") + rng.randbytes(rng.randint(0, 60))
        msg_type, seq = rng.randrange(256), rng.randrange(256)
        original = protocol.encode(msg_type, seq, payload)
        frame = bytearray(original)
        fate = rng.random()
        if fate < 0.4:
            pass
        elif fate < 0.55:  # bit flips, each of a different bit
            for bit in rng.sample(range(8 * len(frame)), rng.randint(1, 3)):
                frame[bit // 8] ^= 1 << (bit % 8)
        elif fate < 0.7:  # truncation
            frame = frame[: rng.randrange(1, len(frame))]
        elif fate < 0.85:  # insertion inside the frame
            at = rng.randrange(1, len(frame))
            frame[at:at] = rng.randbytes(rng.randint(1, 3))
        else:  # garbage, often holding start bytes and plausible headers
            frame = bytearray(rng.randbytes(rng.randint(1, 80)))
            for _ in range(rng.randint(0, 3)):
                at = rng.randrange(len(frame))
                frame[at : at + 3] = bytes((protocol.START, rng.randrange(70), protocol.VERSION))
        originals.append((offset, len(frame), original, f"{msg_type} {seq} {payload.hex()}"))
        chunks.append(bytes(frame))
        offset += len(frame)
    stream = b"".join(chunks)
    # Whole: the frame's bytes are in the stream, in its own stretch of it and after the
    # last whole frame's. That is every frame kept whole, and the odd broken one mended by
    # chance: bytes inserted that repeat its end, or that hold a start byte right after its
    # own (junk before a whole frame), or a frame cut short before bytes that happen to be
    # the ones it lost (then it takes them, and a frame starting there is lost, rightly).
    whole, taken = [], 0
    for at, size, frame, line in originals:
        found = stream.find(frame, max(at, taken), at + size + len(frame))
        if found >= 0:
            whole.append(line)
            taken = found + len(frame)
    return stream, whole


@pytest.mark.slow
def test_fuzz_both_parsers_accept_exactly_the_whole_frames(firmware_build):
    stream, whole = fuzz_stream(seed=6, count=FUZZ_FRAMES)
    assert len(whole) > 0.35 * FUZZ_FRAMES

    started = time.monotonic()
    c_lines = run_c_parser(firmware_build, stream)
    assert c_lines[:-1] == whole  # nothing corrupt accepted, nothing whole lost

    parser, frames = FrameParser(), []
    rng, at = random.Random(7), 0
    while at < len(stream):
        size = rng.choice((1, 2, 7, 64, 4096))
        frames += parser.feed(stream[at : at + size])
        at += size
    assert python_lines(parser, frames) == c_lines  # same frames, same counters
    assert parser.frames_bad > 0.4 * FUZZ_FRAMES and parser.bytes_skipped > 0
    assert time.monotonic() - started < 60.0  # no input makes either one crawl
