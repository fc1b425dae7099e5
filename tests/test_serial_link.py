"""The serial link and driver against the firmware's own code built for the host, on a pty.

host_body runs firmware/src/protocol.c and controller.c (the same code as the AVR image)
with the host's clock; pyserial opens its pty like the board's /dev/ttyACM0. Ending the
process is pulling the cable: the pty disappears, and a new process under the same link
name is plugging it back in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from nemuri.body import protocol
from nemuri.body.firmware_process import BodyProcess, build
from nemuri.body.serial_driver import BodyReading, SerialDriver, SerialDriverConfig
from nemuri.body.serial_link import SerialLink, SerialLinkConfig
from nemuri.contracts import JOINTS, REST_POSE
from ros_helpers import wait_for

REST_US = [1500, 1806, 1161, 1192, 1000]


@pytest.fixture(scope="module")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.getbasetemp() / "firmware-build", ("host",))


@pytest.fixture
def body(firmware_build: Path, tmp_path: Path) -> Iterator[BodyProcess]:
    with BodyProcess.host(firmware_build, tmp_path / "ttyBODY") as process:
        yield process


@pytest.fixture
def link(body: BodyProcess) -> Iterator[SerialLink]:
    link = SerialLink(SerialLinkConfig(port=body.port, reconnect_s=0.1))
    yield link
    link.close()


def test_targets_move_the_outputs_and_state_frames_report_them(body, link):
    assert wait_for(lambda: link.latest() is not None, 10.0), link.health()
    assert link.latest().resting and list(link.latest().pulse_us) == REST_US  # boots at rest
    assert body.wait_widths(REST_US, 0, 5.0)
    targets = [1100, 1200, 1300, 1400, 1900]
    sent: set[int | None] = set()

    def acted_on() -> bool:
        sent.add(link.send_targets(targets))  # keep the watchdog fed while waiting
        state = link.latest()
        return state.ack_seq in sent and not state.resting

    assert wait_for(acted_on, 5.0, interval=0.05)
    assert list(link.latest().pulse_us) == targets
    assert body.wait_widths(targets, 0, 2.0)
    health = link.health()
    assert health.connected and health.frames_ok > 0 and health.frames_bad == 0
    assert health.body.rx_ok >= 1 and health.body.rx_rejected == 0
    assert health.last_state_age_s is not None and health.last_state_age_s < 1.0


def test_corrupt_and_out_of_range_frames_are_counted_and_never_acted_on(body, link):
    assert wait_for(lambda: link.latest() is not None, 10.0)
    good = protocol.encode_targets(1, [1600] * 5)
    corrupt = bytearray(protocol.encode_targets(2, [1100] * 5))
    corrupt[7] ^= 0x10  # a flipped bit in the payload: the CRC fails
    payload = (1500).to_bytes(2, "little") * 4 + (2400).to_bytes(2, "little")
    out_of_range = protocol.encode(protocol.MSG_TARGETS, 3, payload)  # good CRC, bad pulse
    wrong_size = protocol.encode(protocol.MSG_TARGETS, 4, b"\x00" * 4)
    truncated = protocol.encode_targets(5, [1200] * 5)[:-3]
    with serial.Serial(body.port, 115200, timeout=0.1) as raw:
        raw.write(good)
        assert body.wait_widths([1600] * 5, 0, 2.0)
        raw.write(bytes(corrupt) + out_of_range + wrong_size + truncated + b"\x00\x13\x37")

        def counted() -> bool:
            state = link.latest()
            return state.rx_rejected == 2 and state.rx_bad >= 2 and state.rx_skipped > 0

        assert wait_for(counted, 3.0), link.latest()
    assert link.latest().ack_seq == 1
    assert body.widths() == [1600] * 5
    assert {p.width_us for p in body.pulses() if p.t_us > 0} <= {1600.0, *REST_US}


def test_a_silent_host_sends_the_servos_to_rest_within_the_watchdog_time(body, link):
    assert wait_for(lambda: link.latest() is not None, 10.0)
    assert wait_for(lambda: link.send_targets([1700] * 5) is not None, 2.0)
    assert body.wait_widths([1700] * 5, 0, 2.0)
    assert body.wait_widths(REST_US, 0, 3.0)  # no more commands
    rest = [p for p in body.pulses() if p.width_us != 1700][-len(REST_US) :]
    # the body's clock counts whole milliseconds: 249.x ms is 250 of them
    assert all(249_000 <= p.since_rx_us <= 290_000 for p in rest), rest
    assert wait_for(lambda: link.latest().resting and link.latest().watchdog_trips == 1, 2.0)


def test_the_link_survives_the_port_disappearing_and_coming_back(firmware_build, tmp_path):
    port = tmp_path / "ttyBODY"
    body = BodyProcess.host(firmware_build, port)
    link = SerialLink(SerialLinkConfig(port=str(port), reconnect_s=0.1))
    try:
        assert wait_for(lambda: link.latest() is not None, 10.0)
        body.stop()  # the cable is pulled
        assert wait_for(lambda: not link.connected, 5.0)
        assert link.send_targets([1500] * 5) is None  # refused, not queued
        assert "read" in link.health().last_error or "open" in link.health().last_error
        body = BodyProcess.host(firmware_build, port)  # plugged back in: a fresh body
        assert wait_for(lambda: link.health().reconnects == 1, 10.0)
        assert wait_for(lambda: link.health().last_state_age_s < 0.5, 5.0)
        assert wait_for(lambda: link.send_targets([1300] * 5) is not None, 2.0)
        assert body.wait_widths([1300] * 5, 0, 3.0)
        health = link.health()
        assert health.reconnects == 1 and health.sends_refused >= 1
        assert health.frames_dropped == 0  # a new body's sequence is not a gap
    finally:
        link.close()
        body.stop()


def test_the_driver_integrates_velocities_into_targets_and_reads_the_pads(body):
    readings: list[BodyReading] = []
    lock = threading.Lock()

    def keep(reading: BodyReading) -> None:
        with lock:
            readings.append(reading)

    driver = SerialDriver(SerialDriverConfig(port=body.port, tick_hz=20.0), on_reading=keep)
    try:
        assert wait_for(lambda: driver.link.latest() is not None, 10.0)
        body.set_adc(1, 1023)  # the head pad pressed hard
        body.set_adc(3, 256)
        velocity = np.array([0.5, 0.0, 0.0, 0.0, -0.5])  # pan right; the gripper already shut
        for _ in range(20):  # one second at 20 Hz
            driver.send(velocity)
            threading.Event().wait(0.05)
        cal = driver.calibration
        expected = np.array(REST_POSE) + np.array([0.5, 0, 0, 0, 0])  # gripper clamped at 0
        assert body.wait_widths(list(cal.to_pulse(expected)), 1, 2.0), body.widths()

        def latest_touch() -> np.ndarray:
            with lock:
                return readings[-1].touch

        assert wait_for(lambda: latest_touch()[1] == 1.0, 2.0)
        assert latest_touch() == pytest.approx([0.0, 1.0, 0.0, 256 / 1023])
        with lock:
            last = readings[-1]
        assert last.position == pytest.approx(expected, abs=2e-3)
        with pytest.raises(ValueError, match="non-finite"):
            driver.send(np.array([np.nan, 0, 0, 0, 0]))
        assert len(JOINTS) == last.velocity.shape[0]
    finally:
        driver.close()
