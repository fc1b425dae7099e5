"""The microphone node: sound -> /nemuri/embedding/audio, from a topic or a sound card.

`source: topic` takes /microphone/audio (AudioChunk) from whoever publishes it (the MuJoCo
world). `source: sounddevice` opens the sound card here (devices/audio.py), 16 kHz mono in
blocks of one tick, and `source: file` plays a WAV file in real time as if it were heard;
both publish each block on /microphone/audio themselves, for the recogniser and the day.

Every chunk goes into the audio encoder's last-second log-mel stream as it arrives (each
frame is computed once, when its last sample comes); every tick encodes the last second
as it stands, so a word is heard at the tick rate however the source blocks its audio.
The embedding is stamped with the end of the last chunk (its stamp is its first sample):
that is when the second it describes ends, and a source sending long chunks would
otherwise look stale to the core while its audio is as current as it can be.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from nemuri_msgs.msg import AudioChunk
from rcl_interfaces.msg import ParameterDescriptor

from nemuri.devices.audio import AudioConfig, AudioDeviceError, open_microphone
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS as SENSOR_PARAMETERS
from nemuri.nodes.sensor_node import DeviceSensorNode, stamp_ns
from nemuri.nodes.speech_node import audio_chunk
from nemuri.senses.preprocess import SenseInputError
from nemuri.senses.voice import SAMPLE_RATE

__all__ = ["PARAMETERS", "MicrophoneNode", "main"]
SOURCES: tuple[str, ...] = ("topic", "sounddevice", "file")
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    *SENSOR_PARAMETERS,
    (
        "source",
        "topic",
        "Where sound comes from: topic (/microphone/audio, published by a world), "
        "sounddevice (the sound card `device`) or file (the WAV file `device`, played in "
        "real time); the last two also publish /microphone/audio.",
    ),
    (
        "device",
        "",
        "With source=sounddevice: the input device ('' the default, an index or a name such "
        "as 'pulse'); with source=file: the WAV file's path.",
    ),
)


class MicrophoneNode(DeviceSensorNode):
    """Lifecycle sensor node: 16 kHz mono int16 chunks -> the audio embedding each tick."""

    modality = "audio"
    input_topic = "/microphone/audio"
    input_type = AudioChunk
    sources = SOURCES
    device_error = AudioDeviceError

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_microphone", **kwargs)
        for name, default, why in PARAMETERS[len(SENSOR_PARAMETERS) :]:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self._stream_lock = threading.Lock()  # the sound card's thread feeds, the tick reads

    def open_device(self, source: str) -> Any:
        """The sound card or the WAV file, in blocks of one tick."""
        block = round(SAMPLE_RATE / float(self.param("tick_hz")))
        config = AudioConfig(str(self.param("device")), SAMPLE_RATE, block)
        return open_microphone(source, config, self._on_block, self.now_ns)

    def _on_block(self, stamp: int, samples: np.ndarray) -> None:
        """On the sound card's (or file's) thread: publish the block, then hear it."""
        self.publish_input(audio_chunk(samples, stamp, "microphone_link"))
        self._hear(stamp, samples, SAMPLE_RATE)

    def on_input(self, msg: AudioChunk) -> None:
        if msg.channels != 1:
            self.reject(f"audio must be mono, got {msg.channels} channels")
            return
        samples = np.frombuffer(msg.samples, dtype=np.int16)
        self._hear(stamp_ns(msg.header.stamp), samples, int(msg.sample_rate))

    def _hear(self, stamp: int, samples: np.ndarray, sample_rate: int) -> None:
        try:
            with self._stream_lock:
                self.encoder.feed(samples, sample_rate)
        except SenseInputError as err:
            self.reject(str(err))
            return
        duration_ns = len(samples) * 1_000_000_000 // sample_rate
        self.sense(stamp + duration_ns, None)

    def take_input(self) -> tuple[int, Any] | None:
        """The last second heard, copied out of the stream now (the worker never reads it)."""
        latest = super().take_input()
        if latest is None:
            return None
        with self._stream_lock:
            return latest[0], self.encoder.prepare(None)


def main(args: list[str] | None = None) -> None:
    run(MicrophoneNode, args)


if __name__ == "__main__":
    main()
