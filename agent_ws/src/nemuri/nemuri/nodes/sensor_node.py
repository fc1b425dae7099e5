"""What the four sensor nodes share: latest raw input in, one embedding per tick out.

A sensor node keeps only the latest input its subscription brought (checked on arrival,
so a malformed message is refused and counted, never encoded) and, on every tick of the
shared grid (phase 0: before the core's 0.2), encodes it and publishes a
nemuri_msgs/Embedding on /nemuri/embedding/<modality>. The embedding carries the input's
own stamp, so the core's staleness check measures how old the sensing is, not how recently
the sensor node ran. An input older than `stale_periods` ticks is not encoded at all: a
stopped camera yields no embeddings and the core masks vision, instead of being fed the
last frame forever.

Encoding runs on one worker thread, as the core's brain step does: the executor thread,
which in composed mode also runs the world and the core, only moves data. A shipped
encoder takes well under a millisecond, but preparing a large camera frame does not; a
tick that comes while the worker is still busy is a missed tick (counted, never queued).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.msg import Embedding
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.timer import Timer

from nemuri.contracts import modality_index
from nemuri.nodes import convert, qos
from nemuri.nodes.tick_grid import GridTimer, TicksOnWorker
from nemuri.senses.preprocess import SenseInputError
from nemuri.senses.runtime import EncoderModelError, EncoderRuntime

PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("tick_hz", 10.0, "Embeddings per second, Hz (the core's tick rate)."),
    (
        "tick_phase",
        0.0,
        "Where in each period the sensor ticks, as a fraction of it: on the grid's instants "
        "(0), so the core, ticking at 0.2, finds an embedding a few milliseconds old.",
    ),
    (
        "stale_periods",
        1.5,
        "An input older than this many tick periods is not encoded: no embedding goes out, "
        "and the core masks the modality.",
    ),
    ("models_dir", "", "Encoder ONNX files and manifest; empty: the shipped ones."),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


def stamp_ns(stamp: TimeMsg) -> int:
    """A header stamp as integer nanoseconds, exact (float seconds would lose the ns)."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@dataclass
class SensorStats:
    """What /diagnostics reports over one window."""

    since: float = field(default_factory=time.monotonic)
    inputs: int = 0
    published: int = 0
    stale: int = 0
    missed: int = 0
    rejected: int = 0
    last_problem: str = ""
    encode_s: list[float] = field(default_factory=list)


class SensorNode(TicksOnWorker, Node):
    """Lifecycle node around one EncoderRuntime; subclasses subscribe and call `sense`.

    Subclass hooks: `subscribe()` creates the input subscription (at configure); its
    callback calls `sense(stamp_ns, input)` or `reject(reason)`. `take_input()` and
    `encode_input()` may be overridden where an input is not simply the latest message.
    """

    modality: ClassVar[str]
    input_topic: ClassVar[str]

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.encoder: EncoderRuntime | None = None
        self.tick_count = 0
        self._latest: tuple[int, Any] | None = None  # (stamp ns, input for encode_input)
        self._pubs: dict[str, Publisher] = {}
        self._tick_timer: GridTimer | None = None
        self._periodic: list[Timer] = []
        self._worker: ThreadPoolExecutor | None = None
        self._running: Future | None = None
        self._stats_lock = threading.Lock()  # the worker and the executor both count
        self._stats = SensorStats()
        self._last_stamp_ns: int | None = None

    def param(self, name: str) -> object:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        models_dir = str(self.param("models_dir"))
        try:
            self.encoder = EncoderRuntime(self.modality, Path(models_dir) if models_dir else None)
        except (EncoderModelError, OSError, ValueError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        self.period_s = 1.0 / float(self.param("tick_hz"))
        self._stale_ns = round(float(self.param("stale_periods")) * self.period_s * 1e9)
        publisher = self.create_lifecycle_publisher
        self._pubs = {
            "embedding": publisher(Embedding, f"/nemuri/embedding/{self.modality}", qos.EMBEDDING),
            "diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS),
        }
        self.subscribe()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.get_name())
        self.get_logger().info(f"{self.input_topic} -> {self.encoder.version}")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._start_ticking(self._on_tick)
        return super().on_activate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        self._destroy_endpoints()
        self.encoder, self._pubs, self._latest = None, {}, None
        return super().on_cleanup(state)

    # -- subclass hooks -----------------------------------------------------------------
    def subscribe(self) -> None:
        raise NotImplementedError

    def take_input(self) -> tuple[int, Any] | None:
        """(stamp ns, input) for this tick, on the executor thread: the latest by default."""
        return self._latest

    def encode_input(self, data: Any) -> np.ndarray:
        """The embedding of a taken input, on the worker: inputs are prepared on arrival."""
        return self.encoder.encode_prepared(data[None])[0]

    # -- inputs (executor thread) -------------------------------------------------------
    def sense(self, stamp_ns: int, data: Any) -> None:
        """Keep a checked input as the latest; the next tick encodes it."""
        self._latest = (stamp_ns, data)
        with self._stats_lock:
            self._stats.inputs += 1

    def reject(self, reason: str) -> None:
        """Refuse a malformed input: counted and reported; the latest good one stays."""
        with self._stats_lock:
            self._stats.rejected += 1
            self._stats.last_problem = reason
        self.get_logger().warning(f"rejected: {reason}", throttle_duration_sec=5.0)

    # -- the tick: the timer hands over, the worker encodes -----------------------------
    def _on_tick(self) -> None:
        tick, self.tick_count = self.tick_count, self.tick_count + 1
        taken = self.take_input()
        if taken is None:
            return  # nothing heard yet: /diagnostics says so
        stamp_ns, data = taken
        self._last_stamp_ns = stamp_ns
        if self.get_clock().now().nanoseconds - stamp_ns > self._stale_ns:
            with self._stats_lock:
                self._stats.stale += 1
            return
        if self._running is not None and not self._running.done():
            with self._stats_lock:
                self._stats.missed += 1
            return
        self._running = self._worker.submit(self._encode_and_publish, tick, stamp_ns, data)

    def _encode_and_publish(self, tick: int, stamp_ns: int, data: Any) -> None:
        start = time.perf_counter()
        try:
            values = self.encode_input(data)
        except SenseInputError as err:
            self.reject(str(err))
            return
        seconds = time.perf_counter() - start
        if not np.isfinite(values).all():
            self.reject(f"{self.encoder.version} gave a non-finite embedding")
            return
        msg = Embedding()
        msg.header.stamp = convert.to_stamp(stamp_ns)
        msg.modality = modality_index(self.modality)
        msg.tick = tick
        msg.encoder_version = self.encoder.version
        msg.data = convert.float32_array(values)
        self._pubs["embedding"].publish(msg)
        with self._stats_lock:
            self._stats.published += 1
            self._stats.encode_s.append(seconds)

    # -- health -------------------------------------------------------------------------
    def _on_diagnostics_timer(self) -> None:
        with self._stats_lock:
            stats, self._stats = self._stats, SensorStats()
        window = max(1e-9, time.monotonic() - stats.since)
        encode_ms = np.array(stats.encode_s or [0.0]) * 1e3
        age = (
            f"{(self.get_clock().now().nanoseconds - self._last_stamp_ns) * 1e-9:.3f}"
            if self._last_stamp_ns is not None
            else "never"
        )
        values = {
            "embedding_hz": f"{stats.published / window:.2f}",
            "input_hz": f"{stats.inputs / window:.2f}",
            "input_age_s": age,
            "stale_ticks": stats.stale,
            "missed_ticks": stats.missed,
            "rejected_inputs": stats.rejected,
            "last_input_problem": stats.last_problem,
            "encode_ms_mean": f"{encode_ms.mean():.3f}",
            "encode_ms_max": f"{encode_ms.max():.3f}",
            "encoder_version": self.encoder.version,
        }
        if stats.rejected:
            warn = f"rejected {stats.rejected} input(s): {stats.last_problem}"
        elif self._last_stamp_ns is None:
            warn = f"no input on {self.input_topic} yet"
        elif stats.missed:
            warn = f"{stats.missed} missed tick(s): encoding is slower than the tick"
        elif stats.stale:
            warn = f"input on {self.input_topic} was stale for {stats.stale} tick(s): no embeddings"
        else:
            warn = ""
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        name = f"{self.get_name()}: {self.modality} encoder"
        msg.status = [convert.diagnostic_status(name, self.get_name(), warn, values)]
        self._pubs["diag"].publish(msg)


class DeviceSensorNode(SensorNode):
    """A sensor node whose input comes from a topic, or from a device opened here.

    `source: topic` subscribes to `input_topic` like any sensor node. Any other source opens
    a device of the node's own (a camera, a sound card, a file played as if sensed), started
    at activate; the node then publishes each input on `input_topic` itself, so the
    recogniser, the day log and any viewer get what the encoder got.

    Subclass hooks: `input_type` (the topic's message type), `sources` ("topic" and the
    device sources), `device_error` (what `open_device` raises for a device that cannot be
    opened: configure fails, naming it), `open_device(source)` (a device with start() and
    close(), whose inputs call `publish_input` and `sense`) and `on_input(msg)` (the
    subscription's callback).
    """

    input_type: ClassVar[type]
    sources: ClassVar[tuple[str, ...]]
    device_error: ClassVar[type[Exception]]

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.device: Any = None
        self._input_pub: Publisher | None = None

    def open_device(self, source: str) -> Any:
        raise NotImplementedError

    def on_input(self, msg: Any) -> None:
        raise NotImplementedError

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        source = str(self.param("source"))
        if source not in self.sources:
            self.get_logger().error(f"source must be one of {self.sources}, not {source!r}")
            return TransitionCallbackReturn.FAILURE
        if source != "topic":
            try:
                self.device = self.open_device(source)
            except self.device_error as err:
                self.get_logger().error(f"configure failed: {err}")
                return TransitionCallbackReturn.FAILURE
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS:
            self.close()
        return result

    def subscribe(self) -> None:
        if self.device is None:
            self.create_subscription(self.input_type, self.input_topic, self.on_input, qos.SENSOR)
        else:
            self._input_pub = self.create_lifecycle_publisher(
                self.input_type, self.input_topic, qos.SENSOR
            )

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        if self.device is not None:
            self.device.start()
        return result

    def close(self) -> None:
        """Close the device (its inputs stop first), then what every sensor node closes."""
        if self.device is not None:
            self.device.close()
            self.device = None
        if self._input_pub is not None:
            self.destroy_lifecycle_publisher(self._input_pub)
            self._input_pub = None
        super().close()

    def publish_input(self, msg: Any) -> None:
        """On the device's thread: an input read here goes out on `input_topic`."""
        self._input_pub.publish(msg)

    def now_ns(self) -> int:
        """The node's clock, for stamping a device's inputs."""
        return self.get_clock().now().nanoseconds
