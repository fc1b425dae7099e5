"""The body's firmware without the board: build it, and run its host build or its real
AVR image in simavr as a child process on a pty.

Both programs print the same lines (firmware/host/host_body.c, firmware/sim/sim_body.c):
"ready <pty>" once, then "pulse <servo> <width_us> <t_us> <since_rx_us>" whenever a
servo output changes; and both take "adc <channel> <raw>" on stdin. `BodyProcess` reads
those lines on a thread, so tests and the bench can watch the servo pins while a
`SerialLink` or the actuator node talks to the pty like to /dev/ttyACM0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nemuri.body.protocol import SERVOS

FIRMWARE_DIR = Path(__file__).resolve().parents[5] / "firmware"  # the source checkout


class FirmwareBuildError(RuntimeError):
    """make failed; the message holds its output."""


def build(build_dir: Path, targets: tuple[str, ...] = ("all-targets",)) -> Path:
    """`make -C firmware BUILD=build_dir targets` (idempotent); returns build_dir."""
    if not (FIRMWARE_DIR / "Makefile").is_file():
        raise FirmwareBuildError(f"no firmware sources at {FIRMWARE_DIR} (a source checkout?)")
    build_dir = Path(build_dir).resolve()
    result = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE_DIR), f"BUILD={build_dir}", *targets],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FirmwareBuildError(
            f"make {' '.join(targets)} failed:\n{result.stdout}{result.stderr}"
        )
    return build_dir


@dataclass(frozen=True)
class Pulse:
    """One observed change of a servo output."""

    servo: int
    width_us: float
    t_us: int  # the body's clock (simulated time under simavr)
    since_rx_us: int  # since the last good TARGETS frame reached the body


class BodyProcess:
    """host_body or sim_body as a child process (module docstring). A context manager."""

    def __init__(self, argv: list[str], link: Path | None = None, start_timeout: float = 20.0):
        self.argv = [*argv, *(["--link", str(link)] if link else [])]
        self.link = link
        self._pulses: list[Pulse] = []
        self._stderr: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # a Ctrl-C at the terminal is the parent's to handle
        )
        self.pty = self._wait_ready(start_timeout)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    @classmethod
    def host(cls, build_dir: Path, link: Path | None = None, *extra: str) -> BodyProcess:
        return cls([str(Path(build_dir) / "host_body"), *extra], link)

    @classmethod
    def sim(cls, build_dir: Path, link: Path | None = None) -> BodyProcess:
        build_dir = Path(build_dir)
        return cls([str(build_dir / "sim_body"), str(build_dir / "nemuri_body.elf")], link)

    @property
    def port(self) -> str:
        """What pyserial opens: the stable link when there is one, else the pty itself."""
        return str(self.link) if self.link else self.pty

    def _wait_ready(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        line = result[0] if result else ""
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError(f"{self.argv[0]} did not start: {line!r} {self.stderr()}")
        return line.split()[1]

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            fields = line.split()
            if len(fields) == 5 and fields[0] == "pulse":
                pulse = Pulse(int(fields[1]), float(fields[2]), int(fields[3]), int(fields[4]))
                with self._lock:
                    self._pulses.append(pulse)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            with self._lock:
                self._stderr.append(line.rstrip())

    def pulses(self) -> list[Pulse]:
        with self._lock:
            return list(self._pulses)

    def widths(self) -> list[float | None]:
        """Each servo's latest observed pulse width, us (None before its first pulse)."""
        latest: list[float | None] = [None] * SERVOS
        for pulse in self.pulses():
            latest[pulse.servo] = pulse.width_us
        return latest

    def stderr(self) -> str:
        with self._lock:
            return "\n".join(self._stderr)

    def set_adc(self, channel: int, raw: int) -> None:
        """What ADC `channel` reads (pads 0..3, pots 4..7), raw 0..1023."""
        self.proc.stdin.write(f"adc {channel} {raw}\n")
        self.proc.stdin.flush()

    def wait_widths(self, expected: list[float], tolerance: float, timeout: float) -> bool:
        """True once every servo's latest width is within tolerance of `expected`."""
        deadline = time.monotonic() + timeout
        while True:
            pairs = zip(self.widths(), expected, strict=True)
            if all(w is not None and abs(w - e) <= tolerance for w, e in pairs):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL): the pty disappears with it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass

    def __enter__(self) -> BodyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
