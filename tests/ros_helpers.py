"""Helpers for tests over real rclpy, and a stand-in sensor process.

Each test gets its own rclpy Context (so one test's nodes never leak into the next), its
executor spins in a thread, and every child process is stopped by PID. Run as a script,
this file is a fake sensor: it publishes embeddings from a process of its own, so a test
sees the core receive them over DDS rather than through an in-process shortcut.

    python tests/ros_helpers.py --hz 10 --modalities vision,audio --seconds 30
"""

from __future__ import annotations

import argparse
import array
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nemuri.processes import children_of as children_of  # here too: tests found it here
from nemuri.processes import interrupt

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll until `predicate()` is true; False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextmanager
def ros_context() -> Iterator[Any]:
    """An rclpy Context of its own, initialised; shut down on exit (the `ctx` fixture)."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


@contextmanager
def active_node(node_class: type, context: Any, **params: object) -> Iterator[Any]:
    """A configured and active lifecycle node of `node_class` with `params` overridden;
    closed and destroyed on exit, so a failed test leaves no node (or day log) open."""
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn

    success = TransitionCallbackReturn.SUCCESS
    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    node = node_class(context=context, parameter_overrides=overrides)
    try:
        assert node.trigger_configure() == success, node_class.__name__
        assert node.trigger_activate() == success, node_class.__name__
        yield node
    finally:
        node.close()
        node.destroy_node()


def configure_result(node_class: type, context: Any, **params: object) -> Any:
    """What configuring a node of `node_class` with `params` returns; destroyed after."""
    import rclpy

    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    node = node_class(context=context, parameter_overrides=overrides)
    try:
        return node.trigger_configure()
    finally:
        node.destroy_node()


@contextmanager
def spinning(context: Any, *nodes: Any) -> Iterator[Any]:
    """Spin `nodes` on a SingleThreadedExecutor in a thread; shut down and join on exit."""
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    thread = threading.Thread(target=spin, name="test-executor", daemon=True)
    thread.start()
    try:
        yield executor
    finally:
        executor.shutdown(timeout_sec=2.0)
        thread.join(timeout=5.0)


class Collector:
    """Keeps every message received on a topic, with its arrival time (time.monotonic)."""

    def __init__(self, node: Any, msg_type: Any, topic: str, qos: Any) -> None:
        self.messages: list[Any] = []
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self.subscription = node.create_subscription(msg_type, topic, self._on_msg, qos)

    def _on_msg(self, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)
            self.arrivals.append(time.monotonic())

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def last(self) -> Any:
        with self._lock:
            return self.messages[-1] if self.messages else None


def diagnostics_values(msg: Any) -> dict[str, str]:
    """The core's key/values from a DiagnosticArray (empty when it is someone else's)."""
    for status in msg.status:
        if status.name.startswith("nemuri_core"):
            return {kv.key: kv.value for kv in status.values}
    return {}


def start_core_process(data_dir: Path, **params: object) -> subprocess.Popen:
    """`python -m nemuri.nodes.core_node` as a child, inheriting the test's ROS env."""
    args = [PYTHON, "-m", "nemuri.nodes.core_node", "--ros-args", "-p", f"data_dir:={data_dir}"]
    for name, value in params.items():
        args += ["-p", f"{name}:={value}"]
    return subprocess.Popen(
        args, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def start_sensor_process(hz: float, modalities: str, seconds: float) -> subprocess.Popen:
    """This file as a fake sensor process (see module docstring)."""
    args = [
        PYTHON,
        __file__,
        "--hz",
        str(hz),
        "--modalities",
        modalities,
        "--seconds",
        str(seconds),
    ]
    return subprocess.Popen(
        args, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 10.0) -> str:
    """Signal a child we started, wait, kill it if it hangs; return what it printed."""
    interrupt(proc, timeout, sig)
    out = proc.stdout.read() if proc.stdout is not None else b""
    return out.decode(errors="replace")


def embedding(modality: str, stamp_ns: int, tick: int, values: bytes) -> Any:
    """An Embedding message; `values` are float32 bytes."""
    from nemuri_msgs.msg import Embedding

    from nemuri.contracts import MODALITIES
    from nemuri.nodes.convert import to_stamp

    msg = Embedding()
    msg.header.stamp = to_stamp(stamp_ns)
    msg.modality = MODALITIES.index(modality)
    msg.tick = tick
    msg.encoder_version = "test-encoder"
    msg.data = array.array("f", values)
    return msg


def _sensor_main() -> None:
    """Publish a constant-ish embedding of each named modality at `--hz`, stamped now."""
    import numpy as np
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from nemuri.contracts import EMBEDDING_DIMS
    from nemuri.nodes import qos

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--modalities", default="vision,audio,touch,proprio")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    from nemuri_msgs.msg import Embedding

    rclpy.init()
    node = rclpy.create_node("fake_sensor")
    names = args.modalities.split(",")
    pubs = {
        m: node.create_publisher(Embedding, f"/nemuri/embedding/{m}", qos.EMBEDDING) for m in names
    }
    rng = np.random.default_rng(0)
    values = {m: rng.standard_normal(EMBEDDING_DIMS[m]).astype(np.float32).tobytes() for m in names}
    tick = 0

    def publish() -> None:
        nonlocal tick
        now = node.get_clock().now().nanoseconds
        for m, pub in pubs.items():
            pub.publish(embedding(m, now, tick, values[m]))
        tick += 1

    node.create_timer(1.0 / args.hz, publish)
    end = time.monotonic() + args.seconds
    try:
        while rclpy.ok() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    _sensor_main()
