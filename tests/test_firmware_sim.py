"""Firmware in the loop: the real AVR image (build/nemuri_body.elf) in simavr.

firmware/sim/sim_body runs the .elf on a simulated ATmega328P at 16 MHz, bridges its UART
to a pty that the Python SerialLink opens, feeds its ADC pins, and measures every servo
pin's pulse width from the pin edges, cycle by cycle. So these tests see what a servo
would see: the widths the firmware's timer interrupts really produce, in simulated time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from nemuri.body import protocol
from nemuri.body.firmware_process import BodyProcess, build
from nemuri.body.serial_driver import ServoCalibration
from nemuri.body.serial_link import SerialLink, SerialLinkConfig
from nemuri.contracts import REST_POSE
from ros_helpers import wait_for

pytestmark = pytest.mark.slow
REST_US = list(ServoCalibration.from_limits().to_pulse(REST_POSE))
WATCHDOG_US = 250_000
SERVO_FRAME_US = 20_000


@pytest.fixture(scope="module")
def firmware_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.getbasetemp() / "firmware-build", ("firmware", "sim"))


@pytest.fixture
def sim(firmware_build: Path) -> Iterator[BodyProcess]:
    with BodyProcess.sim(firmware_build) as process:
        yield process


@pytest.fixture
def link(sim: BodyProcess) -> Iterator[SerialLink]:
    link = SerialLink(SerialLinkConfig(port=sim.port))
    yield link
    link.close()


def test_the_pins_follow_the_targets_and_state_frames_come_out(sim, link):
    assert wait_for(lambda: link.latest() is not None, 20.0), sim.stderr()
    assert sim.wait_widths(REST_US, 0.5, 10.0), sim.widths()  # the board boots at rest
    assert link.latest().resting
    sim.set_adc(0, 800)  # the gripper pad
    for targets in ([1100, 1250, 1500, 1750, 1900], [2000, 1000, 1234, 1567, 1890]):

        def feed_and_check(targets: list[int] = targets) -> bool:
            link.send_targets(targets)  # every poll, as the actuator's tick would
            return sim.wait_widths(targets, 0.5, 0.0)

        assert wait_for(feed_and_check, 10.0, interval=0.05), (targets, sim.widths())
        assert wait_for(lambda t=targets: list(link.latest().pulse_us) == t, 5.0)
    state = link.latest()
    assert not state.resting and state.rx_bad == 0 and state.rx_rejected == 0
    assert wait_for(lambda: abs(link.latest().touch[0] - 800) <= 1, 5.0), link.latest()
    assert link.health().frames_ok >= 3 and link.health().frames_bad == 0


def test_corrupt_frames_are_dropped_and_a_silent_host_gets_the_rest_pose(sim, link):
    assert wait_for(lambda: link.latest() is not None, 20.0), sim.stderr()
    targets = [1200, 1300, 1400, 1500, 1600]
    assert wait_for(lambda: link.send_targets(targets) is not None, 5.0)
    assert sim.wait_widths(targets, 0.5, 10.0), sim.widths()
    corrupt = bytearray(protocol.encode_targets(9, [1900] * 5))
    corrupt[-1] ^= 0x01
    payload = (1500).to_bytes(2, "little") * 4 + (900).to_bytes(2, "little")
    out_of_range = protocol.encode(protocol.MSG_TARGETS, 10, payload)
    with serial.Serial(sim.port, 115200) as raw:
        raw.write(bytes(corrupt) + out_of_range)
    assert wait_for(lambda: link.latest().rx_bad >= 1 and link.latest().rx_rejected == 1, 5.0)
    # Neither frame moved a pin, and neither fed the watchdog: the host has been silent
    # since the good frame, and the pins go to rest a watchdog time after it.
    assert sim.wait_widths(REST_US, 0.5, 10.0), sim.widths()
    seen = sim.pulses()
    assert not [p for p in seen if p.width_us in (1900.0, 900.0)]
    going = [p for p in seen if p.t_us > 0][-5:]  # the last change of each servo: to rest
    assert sorted(round(p.width_us) for p in going) == sorted(REST_US), going
    for change in going:  # sim time since the last good TARGETS frame went in
        # the firmware counts whole milliseconds: 249.x ms can be 250 of them
        assert WATCHDOG_US - 1_000 <= change.since_rx_us <= WATCHDOG_US + SERVO_FRAME_US + 5_000
    assert wait_for(lambda: link.latest().resting and link.latest().watchdog_trips == 1, 5.0)
