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
from rclpy.lifecycle import Publisher, State, TransitionCallbackReturn

from nemuri.devices.audio import AudioConfig, AudioDeviceError, open_microphone
from nemuri.nodes import qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS as SENSOR_PARAMETERS
from nemuri.nodes.sensor_node import SensorNode, stamp_ns
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


class MicrophoneNode(SensorNode):
    """Lifecycle sensor node: 16 kHz mono int16 chunks -> the audio embedding each tick."""

    modality = "audio"
    input_topic = "/microphone/audio"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_microphone", **kwargs)
        for name, default, why in PARAMETERS[len(SENSOR_PARAMETERS) :]:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.microphone: Any = None
        self._audio_pub: Publisher | None = None
        self._stream_lock = threading.Lock()  # the sound card's thread feeds, the tick reads

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        source = str(self.param("source"))
        if source not in SOURCES:
            self.get_logger().error(f"source must be one of {SOURCES}, not {source!r}")
            return TransitionCallbackReturn.FAILURE
        if source != "topic":
            block = round(SAMPLE_RATE / float(self.param("tick_hz")))
            config = AudioConfig(str(self.param("device")), SAMPLE_RATE, block)
            try:
                self.microphone = open_microphone(source, config, self._on_block, self._now_ns)
            except AudioDeviceError as err:
                self.get_logger().error(f"configure failed: {err}")
                return TransitionCallbackReturn.FAILURE
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS:
            self.close()
        return result

    def subscribe(self) -> None:
        if self.microphone is None:
            self.create_subscription(AudioChunk, self.input_topic, self._on_chunk, qos.SENSOR)
        else:
            self._audio_pub = self.create_lifecycle_publisher(
                AudioChunk, self.input_topic, qos.SENSOR
            )

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        if self.microphone is not None:
            self.microphone.start()
        return result

    def close(self) -> None:
        """Close the sound card or file (blocks stop first), then the sensor node."""
        if self.microphone is not None:
            self.microphone.close()
            self.microphone = None
        if self._audio_pub is not None:
            self.destroy_lifecycle_publisher(self._audio_pub)
            self._audio_pub = None
        super().close()

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_block(self, stamp: int, samples: np.ndarray) -> None:
        """On the sound card's (or file's) thread: publish the block, then hear it."""
        self._audio_pub.publish(audio_chunk(samples, stamp, "microphone_link"))
        self._hear(stamp, samples, SAMPLE_RATE)

    def _on_chunk(self, msg: AudioChunk) -> None:
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
