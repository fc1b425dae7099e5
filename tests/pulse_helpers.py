"""A private PulseAudio server with one null sink, for tests of real sound I/O.

The test starts `pulseaudio` as its own child: user mode (`--system=false`, which also
works as root, with a warning), no autospawn, no config files (`-n`), only the null sink
and the local UNIX socket (no network modules), its runtime dir and socket in a temporary
folder, and `--exit-idle-time` so that even a test killed outright leaves no daemon behind
for long. The null sink plays into nothing, and its monitor source records exactly what
was played: sounddevice reaches both through ALSA's PulseAudio plugin (device "pulse",
which Debian's pulseaudio brings with libasound2-plugins). Stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ros_helpers import wait_for

SINK = "nemuri_test"
ENV_KEYS = ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_SINK", "PULSE_SOURCE")


@dataclass
class PulseServer:
    """A running private PulseAudio server (see module doc)."""

    process: subprocess.Popen
    folder: Path
    socket: Path

    def play(self, samples: np.ndarray, rate: int = 16_000) -> None:
        """Play mono int16 samples into the null sink with paplay, waiting until played."""
        path = self.folder / "play.wav"
        write_wav(path, samples, rate)
        subprocess.run(["paplay", str(path)], check=True, timeout=60, env=os.environ.copy())

    def log(self) -> str:
        return (self.folder / "pulseaudio.log").read_text(errors="replace")


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    """int16 samples (frames x channels, or mono) as a 16-bit PCM WAV."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path


def aligned_correlation(recorded: np.ndarray, played: np.ndarray) -> tuple[float, int]:
    """Where `played` sits in `recorded` (lag in samples) and the correlation there."""
    rec = recorded.astype(np.float64)
    ref = played.astype(np.float64)
    if len(rec) < len(ref):
        return 0.0, 0
    n = 1 << (len(rec) + len(ref)).bit_length()
    cross = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(cross[: len(rec) - len(ref) + 1]))
    segment = rec[lag : lag + len(ref)]
    return float(np.corrcoef(segment, ref)[0, 1]), lag


@contextmanager
def pulse_null_sink(rate: int = 16_000) -> Iterator[PulseServer]:
    """Start the server, point this process (and its children) at it, stop it after."""
    exe = shutil.which("pulseaudio")
    if exe is None or shutil.which("paplay") is None:
        pytest.skip("pulseaudio and pulseaudio-utils are not installed")
    folder = Path(tempfile.mkdtemp(prefix="nemuri-pulse-"))
    runtime = folder / "pulse"
    runtime.mkdir()
    socket = runtime / "native"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(folder), "HOME": str(folder)}
    env["PULSE_RUNTIME_PATH"] = str(runtime)
    log = (folder / "pulseaudio.log").open("wb")
    process = subprocess.Popen(
        [
            exe,
            "--daemonize=no",
            "--system=false",
            "-n",  # no default.pa: only the modules below
            "--use-pid-file=no",
            "--exit-idle-time=60",
            "--log-target=stderr",
            f"--load=module-null-sink sink_name={SINK} rate={rate} channels=1",
            f"--load=module-native-protocol-unix socket={socket}",
        ],
        env=env,
        stdout=log,
        stderr=log,
    )
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    try:
        if not wait_for(lambda: socket.exists() or process.poll() is not None, 20.0):
            pytest.fail("pulseaudio did not start in 20 s")
        if process.poll() is not None:
            pytest.fail(f"pulseaudio exited: {(folder / 'pulseaudio.log').read_text()}")
        os.environ.update(
            PULSE_SERVER=f"unix:{socket}",
            PULSE_RUNTIME_PATH=str(runtime),
            PULSE_SINK=SINK,
            PULSE_SOURCE=f"{SINK}.monitor",
        )
        from nemuri.devices.audio import refresh_devices

        refresh_devices()  # PortAudio lists devices once: now the "pulse" one can open
        yield PulseServer(process, folder, socket)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
