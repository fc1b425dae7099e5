"""The microphone node: /microphone/audio (AudioChunk) -> /nemuri/embedding/audio.

Every chunk goes into the audio encoder's last-second log-mel stream as it arrives (each
frame is computed once, when its last sample comes); every tick encodes the last second
as it stands, so a word is heard at the tick rate however the source blocks its audio.
The embedding is stamped with the end of the last chunk (its stamp is its first sample):
that is when the second it describes ends, and a source sending long chunks would
otherwise look stale to the core while its audio is as current as it can be.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nemuri_msgs.msg import AudioChunk

from nemuri.nodes import qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS, SensorNode, stamp_ns
from nemuri.senses.preprocess import SenseInputError

__all__ = ["PARAMETERS", "MicrophoneNode", "main"]


class MicrophoneNode(SensorNode):
    """Lifecycle sensor node: 16 kHz mono int16 chunks -> the audio embedding each tick."""

    modality = "audio"
    input_topic = "/microphone/audio"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_microphone", **kwargs)

    def subscribe(self) -> None:
        self.create_subscription(AudioChunk, self.input_topic, self._on_chunk, qos.SENSOR)

    def _on_chunk(self, msg: AudioChunk) -> None:
        if msg.channels != 1:
            self.reject(f"audio must be mono, got {msg.channels} channels")
            return
        samples = np.frombuffer(msg.samples, dtype=np.int16)
        try:
            self.encoder.feed(samples, int(msg.sample_rate))
        except SenseInputError as err:
            self.reject(str(err))
            return
        duration_ns = len(samples) * 1_000_000_000 // int(msg.sample_rate)
        self.sense(stamp_ns(msg.header.stamp) + duration_ns, None)

    def take_input(self) -> tuple[int, Any] | None:
        """The last second heard, copied out of the stream now (the worker never reads it)."""
        latest = super().take_input()
        return None if latest is None else (latest[0], self.encoder.prepare(None))


def main(args: list[str] | None = None) -> None:
    run(MicrophoneNode, args)


if __name__ == "__main__":
    main()
