"""Microphone sources: a WAV file heard in real time, and sounddevice on a real PulseAudio.

The sounddevice test runs against a PulseAudio server of its own (pulse_helpers): a WAV is
played into a null sink with paplay, and the microphone, opened on that sink's monitor
through PortAudio, must hear it back sample for sample (correlation). The microphone node
is then run over real rclpy with the file source: the AudioChunks it publishes on
/microphone/audio are the file, and audio embeddings come out.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from nemuri_msgs.msg import AudioChunk, Embedding
from rclpy.lifecycle import TransitionCallbackReturn

from nemuri.devices.audio import (
    AudioConfig,
    AudioDeviceError,
    SoundDeviceMicrophone,
    WavFileMicrophone,
    open_microphone,
    read_wav,
)
from nemuri.nodes import qos
from nemuri.nodes.microphone_node import MicrophoneNode
from nemuri.senses.voice import resample
from pulse_helpers import aligned_correlation, pulse_null_sink, write_wav
from ros_helpers import Collector, configure_result, spinning, wait_for

SUCCESS = TransitionCallbackReturn.SUCCESS


class Blocks:
    """Collects (stamp, samples) from a microphone callback, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[int, np.ndarray]] = []

    def __call__(self, stamp: int, samples: np.ndarray) -> None:
        with self.lock:
            self.items.append((stamp, samples))

    def samples(self) -> np.ndarray:
        with self.lock:
            return np.concatenate([s for _, s in self.items]) if self.items else np.zeros(0)

    def count(self) -> int:
        with self.lock:
            return len(self.items)


def probe_signal(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Band-limited noise under a sweep: every lag is told apart by correlation."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    sweep = np.sin(2 * np.pi * (200 * t + 900 * t**2))
    noise = np.convolve(rng.standard_normal(len(t)), np.ones(4) / 4, mode="same")
    return np.clip(np.rint(6000 * sweep + 4000 * noise), -32768, 32767).astype(np.int16)


def test_a_wav_file_is_heard_in_real_time_blocks_of_one_tick(tmp_path: Path):
    stereo_44k = np.stack([probe_signal(1.0, 44_100), probe_signal(1.0, 44_100, seed=1)], axis=1)
    path = write_wav(tmp_path / "room.wav", stereo_44k, 44_100, channels=2)
    expected = read_wav(path)  # mono at 16 kHz
    mono = stereo_44k.astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(expected, resample(mono, 44_100, 16_000), atol=1.0)
    blocks = Blocks()
    mic = WavFileMicrophone(AudioConfig(str(path), 16_000, 1600), blocks)
    start = time.monotonic()
    mic.start()
    assert wait_for(lambda: not mic.running, 15.0)
    took = time.monotonic() - start
    mic.close()
    assert [len(s) for _, s in blocks.items] == [1600] * 10
    np.testing.assert_array_equal(blocks.samples(), expected)
    assert took >= 0.9  # paced as it would sound, not read in a blink
    stamps = np.array([stamp for stamp, _ in blocks.items])
    assert np.all(np.diff(stamps) > 0)
    assert mic.problem == "end of WAV file"


def test_bad_sources_are_refused_with_the_reason(tmp_path: Path):
    with pytest.raises(AudioDeviceError, match="cannot read WAV"):
        WavFileMicrophone(AudioConfig(str(tmp_path / "missing.wav")), Blocks())
    (tmp_path / "text.wav").write_text("not a wav")
    with pytest.raises(AudioDeviceError, match="cannot read WAV"):
        WavFileMicrophone(AudioConfig(str(tmp_path / "text.wav")), Blocks())
    with pytest.raises(AudioDeviceError, match="no microphone kind"):
        open_microphone("telepathy", AudioConfig(), Blocks())
    with pytest.raises(AudioDeviceError, match="cannot open microphone"):
        SoundDeviceMicrophone(AudioConfig("no such sound card"), Blocks())


def test_sounddevice_hears_what_is_played_into_a_pulseaudio_null_sink(tmp_path: Path):
    played = probe_signal(1.5)
    with pulse_null_sink() as pulse:
        blocks = Blocks()
        mic = SoundDeviceMicrophone(AudioConfig("pulse", 16_000, 1600), blocks)
        mic.start()
        try:
            assert wait_for(lambda: blocks.count() >= 3, 15.0), pulse.log()
            pulse.play(played)
            heard_until = blocks.count() + 8  # 0.8 s more: the end has surely arrived
            assert wait_for(lambda: blocks.count() >= heard_until, 15.0)
        finally:
            mic.close()
    assert {len(s) for _, s in blocks.items} == {1600}  # one tick per block
    recorded = blocks.samples()
    # The sink may wake a block late: what matters is that the sound arrives intact.
    middle = played[1600:-1600]
    correlation, lag = aligned_correlation(recorded, middle)
    print(f"null sink -> monitor -> sounddevice: correlation {correlation:.4f} at {lag}")
    assert correlation > 0.99
    assert np.abs(recorded[lag : lag + len(middle)].astype(int) - middle).max() <= 2


@pytest.mark.ros
def test_the_microphone_node_publishes_its_file_source_and_embeddings(ctx, tmp_path: Path):
    played = probe_signal(2.0)
    path = write_wav(tmp_path / "heard.wav", played, 16_000)
    node = MicrophoneNode(
        context=ctx,
        parameter_overrides=[
            rclpy.Parameter("source", value="file"),
            rclpy.Parameter("device", value=str(path)),
        ],
    )
    probe = rclpy.create_node("microphone_probe", context=ctx)
    chunks = Collector(probe, AudioChunk, "/microphone/audio", qos.SENSOR)
    embeddings = Collector(probe, Embedding, "/nemuri/embedding/audio", qos.EMBEDDING)
    try:
        with spinning(ctx, node, probe):
            assert node.trigger_configure() == SUCCESS
            assert wait_for(lambda: node.count_subscribers("/microphone/audio") > 0, 10.0)
            assert node.trigger_activate() == SUCCESS
            assert wait_for(lambda: node.device is not None and not node.device.running, 15)
            assert wait_for(lambda: len(embeddings.snapshot()) >= 5, 10.0)
            node.close()
    finally:
        node.destroy_node()
        probe.destroy_node()
    received = chunks.snapshot()
    assert received and {len(m.samples) for m in received} == {1600}
    assert all((m.sample_rate, m.channels) == (16_000, 1) for m in received)
    heard = np.concatenate([np.frombuffer(m.samples, dtype=np.int16) for m in received])
    correlation, lag = aligned_correlation(played, heard)  # best effort: a chunk may be lost
    assert correlation > 0.999 and lag % 1600 == 0
    assert all(len(m.data) == 64 for m in embeddings.snapshot())


@pytest.mark.ros
def test_the_microphone_node_refuses_a_source_it_cannot_open(ctx, tmp_path: Path):
    for params in ({"source": "file", "device": str(tmp_path / "none.wav")}, {"source": "ear"}):
        assert configure_result(MicrophoneNode, ctx, **params) == TransitionCallbackReturn.FAILURE
