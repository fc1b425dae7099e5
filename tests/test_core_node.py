"""The core node over real rclpy and DDS on loopback.

The core runs in-process on a SingleThreadedExecutor in a thread (as `nemuri up` composes
it) except where the test needs to kill it, where it is `python -m nemuri.nodes.core_node`.
Embeddings come from a separate process when the point is that they cross DDS; targeted
bad inputs come from a publisher in the test. Every test gets its own data_dir, with a
copy of one newborn brain made once per session (making it costs an ONNX export). The
whole cycle with the real sleep node (day, drowsy, sleep, wake as the new version) is in
test_sleep_node.py.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from nemuri_msgs.msg import AgentState, Embedding, MotorCommand  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from nemuri.brain import checkpoint  # noqa: E402
from nemuri.contracts import EMBEDDING_DIMS, JOINTS, MODALITIES  # noqa: E402
from nemuri.memory.daylog import list_days, read_day, recover_day  # noqa: E402
from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.core_node import NO_SLEEP_SERVER, CoreNode  # noqa: E402
from ros_helpers import (  # noqa: E402
    Collector,
    active_node,
    diagnostics_values,
    embedding,
    spinning,
    start_core_process,
    start_sensor_process,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.ros
SUCCESS = TransitionCallbackReturn.SUCCESS


@pytest.fixture(scope="session")
def newborn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    brains = tmp_path_factory.mktemp("newborn") / "brains"
    checkpoint.ensure_brain(brains)
    return brains


@pytest.fixture
def data_dir(tmp_path: Path, newborn: Path) -> Path:
    shutil.copytree(newborn, tmp_path / "nemuri" / "brains")
    return tmp_path / "nemuri"


def core_node(ctx: object, data_dir: Path, **params: object) -> AbstractContextManager[CoreNode]:
    """A configured and active CoreNode; closed (day log finished) and destroyed on exit."""
    return active_node(CoreNode, ctx, data_dir=str(data_dir), **params)


class Probe:
    """The test's side of the graph: what the core publishes, collected."""

    def __init__(self, ctx: object) -> None:
        self.node = rclpy.create_node("probe", context=ctx)
        self.state = Collector(self.node, AgentState, "/nemuri/state", qos.STATE)
        self.motor = Collector(self.node, MotorCommand, "/nemuri/motor_command", qos.COMMAND)
        self.diag = Collector(self.node, DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)

    def diagnostics(self) -> list[dict[str, str]]:
        return [diagnostics_values(m) for m in self.diag.snapshot()]

    def ticks_after(self, seconds: float) -> tuple[int, int]:
        """The state's tick now and `seconds` later: the node is still ticking if they differ."""
        before = self.state.last().tick
        time.sleep(seconds)
        return before, self.state.last().tick


def sensor_values(modality: str) -> np.ndarray:
    """What ros_helpers' fake sensor process sends for `modality` (same seed, same order)."""
    rng = np.random.default_rng(0)
    values = {
        m: rng.standard_normal(EMBEDDING_DIMS[m]).astype(np.float32) for m in ("vision", "audio")
    }
    return values[modality]


def test_embeddings_from_another_process_reach_the_core_and_commands_come_back(ctx, data_dir):
    sensor = start_sensor_process(hz=10.0, modalities="vision,audio", seconds=60.0)
    try:
        probe = Probe(ctx)
        with (
            core_node(ctx, data_dir, tick_hz=10.0, diagnostics_hz=5.0) as core,
            spinning(ctx, core, probe.node),
        ):

            def fresh() -> bool:
                return any(
                    d.get("fresh_vision") == "1.000" and d.get("fresh_audio") == "1.000"
                    for d in probe.diagnostics()
                )

            assert wait_for(fresh, timeout=20.0), probe.diagnostics()[-3:]
            last = probe.diagnostics()[-1]
            assert last["fresh_touch"] == "0.000" and last["fresh_proprio"] == "0.000"
            assert wait_for(lambda: len(probe.state.snapshot()) >= 10, timeout=5.0)
            day = core.agent.day_log.path
        states = probe.state.snapshot()
        lengths = [s.context_length for s in states]
        assert lengths == sorted(lengths) and lengths[-1] > lengths[0]
        assert all(s.phase == AgentState.AWAKE and s.model_version == "v0000" for s in states)
        commands = probe.motor.snapshot()
        assert len(commands) >= 10
        for cmd in commands:
            assert cmd.mode == MotorCommand.VELOCITY and list(cmd.joint_names) == list(JOINTS)
            assert len(cmd.velocity) == len(JOINTS) and all(math.isfinite(v) for v in cmd.velocity)
    finally:
        stop_process(sensor)
    # The day log holds what crossed DDS, value for value.
    rows = list(read_day(day))
    assert rows and not read_day(day).recovered
    seen = [r for r in rows if r.present[0] and r.present[1]]
    assert seen, "no tick saw both vision and audio fresh"
    np.testing.assert_array_equal(seen[-1].embeddings[0], sensor_values("vision"))
    np.testing.assert_array_equal(seen[-1].embeddings[1], sensor_values("audio"))


def test_bad_embeddings_are_rejected_or_masked_with_a_diagnostic_and_ticking_goes_on(ctx, data_dir):
    probe = Probe(ctx)
    pubs = {
        m: probe.node.create_publisher(Embedding, f"/nemuri/embedding/{m}", qos.EMBEDDING)
        for m in MODALITIES
    }
    with (
        core_node(ctx, data_dir, tick_hz=20.0, diagnostics_hz=10.0) as core,
        spinning(ctx, core, probe.node),
    ):
        assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs.values()), 10.0)
        assert wait_for(lambda: probe.state.last() is not None, 10.0)

        def now_ns() -> int:
            return probe.node.get_clock().now().nanoseconds

        cases = [
            (
                "vision",
                lambda: embedding("vision", now_ns(), 0, np.ones(100, np.float32).tobytes()),
                "vision embedding has 100 values, expected 128",
            ),
            (
                "audio",
                lambda: embedding("audio", now_ns(), 0, np.full(64, np.nan, np.float32).tobytes()),
                "audio embedding contains NaN or inf",
            ),
            (
                "touch",
                lambda: embedding("proprio", now_ns(), 0, np.ones(16, np.float32).tobytes()),
                "embedding on touch's topic says modality proprio",
            ),
            (
                "proprio",
                lambda: embedding(
                    "proprio", now_ns() - 10**10, 0, np.ones(16, np.float32).tobytes()
                ),
                "proprio embedding is 10.0",
            ),
        ]
        for topic, make, reason in cases:

            def reported(reason: str = reason) -> bool:
                return any(reason in d.get("last_input_problem", "") for d in probe.diagnostics())

            for _ in range(5):  # best effort: send a few
                pubs[topic].publish(make())
                time.sleep(0.02)
            assert wait_for(reported, timeout=5.0), (reason, probe.diagnostics()[-3:])
        diags = probe.diagnostics()
        assert sum(int(d["rejected_inputs"]) for d in diags) >= 3
        assert sum(int(d["stale_inputs"]) for d in diags) >= 1
        warned = [
            s for m in probe.diag.snapshot() for s in m.status if s.level == DiagnosticStatus.WARN
        ]
        assert warned, "a rejected input should turn the core's status to WARN"
        before, after = probe.ticks_after(0.5)
        assert after >= before + 5
        day = core.agent.day_log.path
    rows = list(read_day(day))
    assert not any(r.present[i] for r in rows for i in range(len(MODALITIES))), (
        "nothing valid and fresh was sent, so every modality was masked on every tick"
    )


def test_a_slow_step_raises_missed_ticks_and_sleepiness(ctx, data_dir):
    probe = Probe(ctx)
    with (
        core_node(ctx, data_dir, tick_hz=20.0, inject_step_delay_s=0.08) as core,
        spinning(ctx, core, probe.node),
    ):
        assert wait_for(
            lambda: (s := probe.state.last()) is not None and s.missed_ticks >= 10, 15.0
        )
        assert wait_for(lambda: probe.state.last().sleepiness >= 0.8, 10.0), probe.state.last()
    states = probe.state.snapshot()
    assert states[0].sleepiness < states[-1].sleepiness
    assert states[-1].step_latency_ms >= 80.0
    # The rate is over the last minute (1200 ticks at 20 Hz): every skipped tick counts,
    # and so does every step that finished past its deadline.
    assert states[-1].missed_tick_rate * 1200 >= states[-1].missed_ticks


def test_no_sleep_server_keeps_living_on_the_sliding_window_and_says_so(ctx, data_dir):
    probe = Probe(ctx)
    with (
        core_node(
            ctx,
            data_dir,
            tick_hz=20.0,
            context_capacity=15,
            diagnostics_hz=5.0,
            sleep_action="/nemuri/test_no_sleep_here",
        ) as core,
        spinning(ctx, core, probe.node),
    ):
        assert core.get_parameter("context_capacity").value == 15
        assert wait_for(
            lambda: (s := probe.state.last()) is not None and s.note == NO_SLEEP_SERVER, 10.0
        )
        sleepy = probe.state.last()
        assert sleepy.sleepiness >= 1.0 and sleepy.phase == AgentState.DROWSY
        assert wait_for(lambda: probe.state.last().tick >= sleepy.tick + 20, 5.0), "stopped ticking"
        assert wait_for(
            lambda: any(
                s.message == NO_SLEEP_SERVER for m in probe.diag.snapshot() for s in m.status
            ),
            5.0,
        )
    states = probe.state.snapshot()
    assert states[-1].context_length > 15  # the brain's own window goes on filling
    assert all(s.phase != AgentState.ASLEEP for s in states)
    assert all(c.mode == MotorCommand.VELOCITY for c in probe.motor.snapshot())


def test_deactivate_closes_the_day_and_activate_opens_the_next(ctx, data_dir):
    probe = Probe(ctx)
    with core_node(ctx, data_dir, tick_hz=20.0) as core, spinning(ctx, core, probe.node):
        assert wait_for(lambda: len(probe.state.snapshot()) >= 5, 10.0)
        assert core.trigger_deactivate() == SUCCESS
        [first] = list_days(data_dir / "days")
        assert (first / "metadata.yaml").exists() and len(read_day(first)) >= 5
        assert core.trigger_activate() == SUCCESS
        assert wait_for(lambda: len(list_days(data_dir / "days")) == 2, 5.0)
        n = len(probe.state.snapshot())
        assert wait_for(lambda: len(probe.state.snapshot()) >= n + 5, 5.0)
    assert all((d / "metadata.yaml").exists() for d in list_days(data_dir / "days"))


def test_sigkill_mid_day_loses_at_most_the_last_second(ctx, data_dir):
    tick_hz = 20.0
    core = start_core_process(data_dir, tick_hz=tick_hz)
    try:
        probe = Probe(ctx)
        with spinning(ctx, probe.node):
            assert wait_for(lambda: (s := probe.state.last()) is not None and s.tick >= 60, 30.0), (
                "core process never ticked"
            )
            core.send_signal(signal.SIGKILL)
            core.wait(timeout=10.0)
            stepped = {s.tick for s in probe.state.snapshot()}
    finally:
        stop_process(core)
    [day] = list_days(data_dir / "days")
    assert not (day / "metadata.yaml").exists()
    reader = read_day(day)
    assert reader.recovered
    ticks = [row.tick for row in reader]
    assert ticks == sorted(set(ticks))
    # Every tick stepped (missed ticks are never stepped, so never logged) up to a second
    # before the kill is in the bag.
    before_last_second = {t for t in stepped if t <= max(stepped) - tick_hz}
    assert before_last_second <= set(ticks), sorted(before_last_second - set(ticks))
    report = recover_day(day)
    assert report.ticks == len(ticks) and (day / "metadata.yaml").exists()


def test_sigterm_ends_the_process_with_a_complete_day_log(ctx, data_dir):
    core = start_core_process(data_dir, tick_hz=20.0)
    try:
        probe = Probe(ctx)
        with spinning(ctx, probe.node):
            assert wait_for(lambda: (s := probe.state.last()) is not None and s.tick >= 10, 30.0)
        core.send_signal(signal.SIGTERM)
        assert core.wait(timeout=10.0) == 0
    finally:
        output = stop_process(core)
    [day] = list_days(data_dir / "days")
    assert (day / "metadata.yaml").exists(), output
    assert not read_day(day).recovered and len(read_day(day)) >= 10
