"""The recogniser node: /microphone/audio -> the words heard, on /hearing/words.

What the MuJoCo world's caretaker publishes from its script, this node hears on the real
robot: it cuts the microphone's stream into utterances and decodes each, offline, with
pocketsphinx and a grammar over nemuri's vocabulary (senses/hearing.py), one word an
utterance, then publishes the word as a std_msgs/String, as the caretaker does. The
caretaker publishes a word at its utterance's onset; a recogniser can only name a word
once it has heard all of it, so here each word goes out when its utterance ends and is
decoded (`latency_s` in /diagnostics: from the onset to the word going out).

Decoding (~0.1 s a word) runs on one worker thread; the executor only moves audio. An
utterance that ends while the last is still being decoded waits its turn, in order.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.msg import AudioChunk
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from std_msgs.msg import String

from nemuri.nodes import convert, qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import stamp_ns
from nemuri.senses.hearing import (
    HearingConfig,
    HearingError,
    Utterance,
    UtteranceSegmenter,
    WordDecoder,
)
from nemuri.senses.voice import SAMPLE_RATE

PARAMETERS: tuple[tuple[str, object, str], ...] = (
    (
        "vad_mode",
        1,
        "Voice activity detector's strictness, 0 (loose) to 3 (strict): stricter misses "
        "soft speech, looser takes noise for it.",
    ),
    ("max_utterance_s", 5.0, "Longer speech is cut and decoded in pieces of this length, s."),
    (
        "noise_floor_dbfs",
        -60.0,
        "White noise mixed into each utterance before decoding, RMS dBFS: digital silence "
        "breaks the decoder's features (-inf: none).",
    ),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


class RecogniserNode(Node):
    """Lifecycle node: audio chunks in, vocabulary words out (see module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("nemuri_recogniser", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.segmenter: UtteranceSegmenter | None = None
        self.decoder: WordDecoder | None = None
        self._pubs: dict[str, Publisher] = {}
        self._inputs: list[Subscription] = []
        self._periodic: list[Timer] = []
        self._worker: ThreadPoolExecutor | None = None
        self._chunks: deque[tuple[int, int]] = deque(maxlen=4096)  # (first sample, stamp ns)
        self._fed = 0  # samples of the stream fed to the segmenter
        self._lock = threading.Lock()  # counters: the worker and the executor both write
        self.utterances = 0
        self.words_heard = 0
        self.rejected = 0
        self.last_problem = ""
        self.last_words: list[str] = []
        self.latency_s: float | None = None

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        config = HearingConfig(
            vad_mode=int(self.param("vad_mode")),
            max_utterance_s=float(self.param("max_utterance_s")),
            noise_floor_dbfs=float(self.param("noise_floor_dbfs")),
        )
        try:
            self.segmenter = UtteranceSegmenter(config)
            self.decoder = WordDecoder(config)
        except (HearingError, ValueError, RuntimeError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        publisher = self.create_lifecycle_publisher
        self._pubs = {
            "words": publisher(String, "/hearing/words", qos.RELIABLE),
            "diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS),
        }
        self._inputs = [
            self.create_subscription(AudioChunk, "/microphone/audio", self._on_chunk, qos.SENSOR)
        ]
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemuri-hearing")
        self.get_logger().info(f"hearing {len(self.decoder.words)} words on /microphone/audio")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        period = 1.0 / float(self.param("diagnostics_hz"))
        self._periodic = [self.create_timer(period, self._on_diagnostics)]
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_timers()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        for sub in self._inputs:
            self.destroy_subscription(sub)
        self._pubs, self._inputs = {}, []
        self.segmenter = self.decoder = None
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Stop the timers and let the decoding in progress finish (idempotent)."""
        self._stop_timers()
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def _stop_timers(self) -> None:
        for timer in self._periodic:
            self.destroy_timer(timer)
        self._periodic = []

    # -- hearing ------------------------------------------------------------------------
    def _on_chunk(self, msg: AudioChunk) -> None:
        if msg.channels != 1 or msg.sample_rate != SAMPLE_RATE:
            with self._lock:
                self.rejected += 1
                self.last_problem = (
                    f"audio must be {SAMPLE_RATE} Hz mono, got {msg.sample_rate} Hz "
                    f"x {msg.channels} channels"
                )
            return
        samples = np.frombuffer(msg.samples, dtype=np.int16)
        self._chunks.append((self._fed, stamp_ns(msg.header.stamp)))
        self._fed += len(samples)
        for utterance in self.segmenter.feed(samples):
            if self._worker is not None:
                self._worker.submit(self._decode_and_publish, utterance)

    def onset_ns(self, start_sample: int) -> int | None:
        """The stamp of a stream sample, from the chunk that carried it."""
        for first, stamp in reversed(self._chunks):
            if first <= start_sample:
                return stamp + (start_sample - first) * 1_000_000_000 // SAMPLE_RATE
        return None

    def _decode_and_publish(self, utterance: Utterance) -> None:
        onset = self.onset_ns(utterance.start_sample)
        words = self.decoder.decode(utterance.samples)
        for word in words:
            self._pubs["words"].publish(String(data=word))
        now = self.get_clock().now().nanoseconds
        with self._lock:
            self.utterances += 1
            self.words_heard += len(words)
            if words:
                self.last_words = words
                self.latency_s = None if onset is None else (now - onset) * 1e-9
        if words:
            self.get_logger().info(f"heard {' '.join(words)}")

    def _on_diagnostics(self) -> None:
        with self._lock:
            values = {
                "utterances": self.utterances,
                "words_heard": self.words_heard,
                "last_words": " ".join(self.last_words),
                "latency_s": "none" if self.latency_s is None else f"{self.latency_s:.3f}",
                "rejected_chunks": self.rejected,
                "last_problem": self.last_problem,
                "in_speech": bool(self.segmenter and self.segmenter.in_speech),
            }
            warn = (
                f"rejected {self.rejected} chunk(s): {self.last_problem}" if self.rejected else ""
            )
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [convert.diagnostic_status("nemuri_recogniser", self.get_name(), warn, values)]
        self._pubs["diag"].publish(msg)


def main(args: list[str] | None = None) -> None:
    run(RecogniserNode, args)


if __name__ == "__main__":
    main()
