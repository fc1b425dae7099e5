"""The speech node: the agent's words, spoken by espeak-ng into the world or a loudspeaker.

`/nemuri/speech` carries text; this node voices it (senses/voice.py, the caretaker's voice
engine, so a word sounds the same whoever says it) and sends the sound to one output:

- `world`: the samples go out as AudioChunk blocks of one tick on `/speaker/audio`, one per
  tick, the way a sound card streams; the world node mixes them into its microphone, so
  the robot hears itself exactly as it hears the caretaker.
- `speaker`: played on a sound card through `sounddevice` (devices/audio.py), the output
  `device` ("" the default; "pulse" for PulseAudio's default sink).

One mouth: a sentence that comes while the last one still sounds is not spoken over it.
By default it is dropped and counted (`while_speaking: drop`), because the core asks to
speak from its prediction of the moment; a word kept waiting would be said after the
moment it was meant for, and a brain that predicts the same word on successive ticks would
otherwise queue a stammer. `queue` keeps up to `queue_size` sentences for one after another.
Synthesis (an espeak-ng process) runs on a worker thread, never on the executor.
"""

from __future__ import annotations

import array
import subprocess
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.msg import AudioChunk
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from std_msgs.msg import String

from nemuri.devices.audio import AudioDeviceError, SoundDeviceSpeaker
from nemuri.nodes import convert, qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.tick_grid import GridTimer
from nemuri.senses.voice import SAMPLE_RATE, VoiceError, espeak_available, synthesize

OUTPUTS = ("world", "speaker")
POLICIES = ("drop", "queue")
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("tick_hz", 10.0, "Rate of the audio blocks sent to the world, Hz: one tick of sound each."),
    (
        "output",
        "world",
        "Where the voice goes: world (AudioChunk blocks on /speaker/audio, mixed into the "
        "world's microphone) or speaker (the sound card, through the sounddevice package).",
    ),
    (
        "device",
        "",
        "With output=speaker: the sound output ('' the default, an index or a name such as "
        "'pulse'; `python -m sounddevice` lists them).",
    ),
    ("voice", "en-us", "espeak-ng voice."),
    ("speed", 150, "espeak-ng speed, words per minute."),
    (
        "while_speaking",
        "drop",
        "A sentence that comes while the last still sounds: drop (counted) or queue.",
    ),
    (
        "queue_size",
        4,
        "With while_speaking=queue, sentences kept waiting behind the one being said; "
        "more are dropped.",
    ),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


def audio_chunk(samples: np.ndarray, stamp_ns: int, frame_id: str) -> AudioChunk:
    """A 16 kHz mono AudioChunk stamped with its first sample's time, filled from bytes."""
    msg = AudioChunk()
    msg.header.stamp = convert.to_stamp(stamp_ns)
    msg.header.frame_id = frame_id
    msg.sample_rate = SAMPLE_RATE
    msg.channels = 1
    msg.samples = array.array("h", np.ascontiguousarray(samples, dtype=np.int16).tobytes())
    return msg


def chunk_samples(msg: AudioChunk) -> np.ndarray:
    """An AudioChunk's samples as int16, viewed without an element-wise copy."""
    return np.frombuffer(msg.samples, dtype=np.int16)


def blocks(audio: np.ndarray, block_samples: int) -> list[np.ndarray]:
    """Audio cut into consecutive blocks of one tick; the last one may be shorter."""
    return [audio[i : i + block_samples] for i in range(0, len(audio), block_samples)]


class Output(Protocol):
    """Where spoken audio goes; `tick` is called once per tick to let it stream."""

    def start(self, audio: np.ndarray) -> None: ...

    def busy(self) -> bool: ...

    def tick(self, now_ns: int) -> None: ...


class WorldOutput:
    """Streams audio as one block per tick through `send` (the /speaker/audio publisher)."""

    def __init__(self, send: Callable[[np.ndarray, int], None], block_samples: int) -> None:
        self._send, self._n = send, block_samples
        self._blocks: deque[np.ndarray] = deque()

    def start(self, audio: np.ndarray) -> None:
        self._blocks.extend(blocks(audio, self._n))

    def busy(self) -> bool:
        return bool(self._blocks)

    def tick(self, now_ns: int) -> None:
        if self._blocks:
            self._send(self._blocks.popleft(), now_ns)


class SpeechNode(Node):
    """Lifecycle node: configure picks the output, activate starts the tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_speech", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.output: Output | None = None
        self._pubs: dict[str, Publisher] = {}
        self._inputs: list[Subscription] = []
        self._waiting: deque[str] = deque()  # sentences accepted, not yet being voiced
        self._voicing: Future | None = None  # synthesis in progress on the worker
        self._worker: ThreadPoolExecutor | None = None
        self._tick_timer: GridTimer | None = None
        self._periodic: list[Timer] = []
        self.spoken = 0
        self.dropped = 0
        self.failed = 0

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        problem = self._configuration_problem()
        if problem:
            self.get_logger().error(problem)
            return TransitionCallbackReturn.FAILURE
        output = str(self.param("output"))
        self.period_s = 1.0 / float(self.param("tick_hz"))
        publisher = self.create_lifecycle_publisher
        self._pubs = {
            "audio": publisher(AudioChunk, "/speaker/audio", qos.RELIABLE),
            "diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS),
        }
        if output == "world":
            block = round(SAMPLE_RATE * self.period_s)
            self.output = WorldOutput(self._send_block, block)
        else:
            self.output = SoundDeviceSpeaker(str(self.param("device")))
        self._inputs = [
            self.create_subscription(String, "/nemuri/speech", self._on_speech, qos.SPEECH)
        ]
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemuri-voice")
        return super().on_configure(state)

    def _configuration_problem(self) -> str:
        """Why this node cannot speak as configured; empty when it can."""
        output, policy = str(self.param("output")), str(self.param("while_speaking"))
        if output not in OUTPUTS:
            return f"output must be one of {OUTPUTS}, not {output!r}"
        if policy not in POLICIES:
            return f"while_speaking must be one of {POLICIES}, not {policy!r}"
        if not espeak_available():
            return "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)"
        if output == "speaker":
            try:
                SoundDeviceSpeaker(str(self.param("device")))
            except AudioDeviceError as err:
                return f"output=speaker: {err}; or use output=world"
        return ""

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._tick_timer = GridTimer(self, self.period_s, 0.0, self._on_tick)
        self._periodic = [
            self.create_timer(1.0 / float(self.param("diagnostics_hz")), self._on_diagnostics)
        ]
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_ticking()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        for sub in self._inputs:  # ours only: use_sim_time's /clock subscription stays
            self.destroy_subscription(sub)
        self._inputs = []
        self._pubs, self.output = {}, None
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Stop the tick and the worker (idempotent); what was still to be said is dropped."""
        self._stop_ticking()
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None
        self._voicing = None
        self._waiting.clear()

    def _stop_ticking(self) -> None:
        if self._tick_timer is not None:
            self._tick_timer.destroy()
            self._tick_timer = None
        for timer in self._periodic:
            self.destroy_timer(timer)
        self._periodic = []

    # -- speaking -----------------------------------------------------------------------
    @property
    def speaking(self) -> bool:
        """Voicing, sounding or with sentences waiting: a new one would speak over them."""
        sounding = self.output is not None and self.output.busy()
        return bool(self._waiting) or self._voicing is not None or sounding

    def _on_speech(self, msg: String) -> None:
        text = msg.data.strip()
        if not text:
            return
        full = (
            self.speaking
            if self.param("while_speaking") == "drop"
            else len(self._waiting) >= int(self.param("queue_size"))
        )
        if full:
            self.dropped += 1
            self.get_logger().info(f"still speaking: dropped {text!r}", throttle_duration_sec=5.0)
            return
        self._waiting.append(text)

    def _on_tick(self) -> None:
        """Start what is ready, begin voicing the next sentence, stream one block."""
        if self._voicing is not None and self._voicing.done():
            voicing, self._voicing = self._voicing, None
            try:
                self.output.start(voicing.result())
                self.spoken += 1
            # One sentence that cannot be said must not take the node down with it.
            except (VoiceError, AudioDeviceError, OSError, subprocess.SubprocessError) as err:
                self.failed += 1
                self.get_logger().error(f"cannot speak: {err}", throttle_duration_sec=5.0)
        if self._voicing is None and self._waiting and not self.output.busy():
            text = self._waiting.popleft()
            voice, speed = str(self.param("voice")), int(self.param("speed"))
            self._voicing = self._worker.submit(synthesize, text, voice, speed)
        self.output.tick(self.get_clock().now().nanoseconds)

    def _send_block(self, samples: np.ndarray, now_ns: int) -> None:
        self._pubs["audio"].publish(audio_chunk(samples, now_ns, "speaker_link"))

    def _on_diagnostics(self) -> None:
        values = {
            "output": self.param("output"),
            "spoken": self.spoken,
            "dropped_while_speaking": self.dropped,
            "failed": self.failed,
            "speaking": self.speaking,
        }
        warn = "espeak-ng failed; see the log" if self.failed else ""
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [convert.diagnostic_status("nemuri_speech", self.get_name(), warn, values)]
        self._pubs["diag"].publish(msg)


def main(args: list[str] | None = None) -> None:
    run(SpeechNode, args)


if __name__ == "__main__":
    main()
