"""The world node over real rclpy and DDS on loopback, faster than real time on /clock.

The node runs in-process on a SingleThreadedExecutor in a thread (as `nemuri up` composes
it), beside a probe node that collects what it publishes; the probe's subscriptions are
matched before the world is activated, so nothing from tick 1 on is missed. One test runs
it as `python -m nemuri.nodes.world_node`, to check main() and a clean SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from nemuri_msgs.msg import AudioChunk, Touch  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402

from nemuri.contracts import JOINTS, TOUCH_PADS  # noqa: E402
from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.world_node import WorldNode  # noqa: E402
from nemuri.senses.voice import espeak_available  # noqa: E402
from nemuri.worlds.curriculum import day_schedule, load_curriculum  # noqa: E402
from nemuri.worlds.microphone import rms_dbfs  # noqa: E402
from nemuri.worlds.mujoco_world import rendering_available  # noqa: E402
from ros_helpers import PYTHON, Collector, spinning, stop_process, wait_for  # noqa: E402

pytestmark = pytest.mark.ros
SUCCESS = TransitionCallbackReturn.SUCCESS
PERIOD_NS = 100_000_000  # 10 Hz
# Every message kept: the probe must see each tick, not the latest few.
KEEP_ALL_RELIABLE = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
KEEP_ALL_BEST_EFFORT = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)

# Two objects, two lessons each, every lesson with a pat: a whole day in 85 ticks.
SHORT_COURSE = """
seed: 3
tick_hz: 10.0
day_ticks: 200
repetitions: 2
lead_in: 0.5
lesson: {word_at: 0.5, guide_at: 1.0, approach: 0.5, hold: 0.3, gap: 0.2}
touch: {pad: head, newtons: 3.0, duration: 0.2, probability: 1.0}
objects:
  - {object: red_ball, word: ball, pose: [-0.2, 0.75, 0.3, 0.2, 0.1]}
  - {object: green_cube, word: cube, pose: [-0.2, 0.75, 1.3, 1.25, 0.8]}
days: [[red_ball, green_cube]]
"""


def world_diagnostics(msg: DiagnosticArray) -> dict[str, str]:
    """The world node's key/values in a DiagnosticArray (empty when it is someone else's)."""
    for status in msg.status:
        if status.name == "nemuri_world":
            return {kv.key: kv.value for kv in status.values}
    return {}


def stamp_ns(msg: object) -> int:
    stamp = msg.clock if isinstance(msg, Clock) else msg.header.stamp
    return stamp.sec * 1_000_000_000 + stamp.nanosec


class Probe:
    """The test's side: everything the world publishes, collected."""

    def __init__(self, ctx: object, period_ns: int = PERIOD_NS) -> None:
        self.period_ns = period_ns
        self.node = rclpy.create_node("world_probe", context=ctx)
        n = self.node
        self.clock = Collector(n, Clock, "/clock", KEEP_ALL_RELIABLE)
        self.image = Collector(n, Image, "/camera/image_raw", KEEP_ALL_BEST_EFFORT)
        self.audio = Collector(n, AudioChunk, "/microphone/audio", KEEP_ALL_BEST_EFFORT)
        self.touch = Collector(n, Touch, "/touch", KEEP_ALL_BEST_EFFORT)
        self.joints = Collector(n, JointState, "/joint_states", KEEP_ALL_BEST_EFFORT)
        self.words = Collector(n, String, "/hearing/words", qos.RELIABLE)

    def by_tick(self, collector: Collector) -> dict[int, object]:
        """Messages keyed by their stamp in ticks."""
        return {round(stamp_ns(m) / self.period_ns): m for m in collector.snapshot()}

    def sim_tick(self) -> int:
        last = self.clock.last()
        return -1 if last is None else stamp_ns(last) // self.period_ns


class PublishLog:
    """What the node published on /clock and /hearing/words, in the order it published."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, object]] = []

    def wrap(self, key: str, publisher: object) -> object:
        log = self

        class Logged:
            def publish(self, msg: object) -> None:
                log.entries.append((key, msg))
                publisher.publish(msg)

            def __getattr__(self, name: str) -> object:
                return getattr(publisher, name)

        return Logged()

    def words_with_clock(self) -> list[tuple[str, int]]:
        """Each word with the /clock published last before it (ns)."""
        out, clock = [], -1
        for key, msg in self.entries:
            if key == "clock":
                clock = stamp_ns(msg)
            else:
                out.append((msg.data, clock))
        return out


@contextmanager
def running_world(
    ctx: object,
    probe: Probe,
    log: PublishLog | None = None,
    inputs: tuple[object, ...] = (),
    **params: object,
) -> Iterator[WorldNode]:
    """A configured WorldNode, activated once the probe's subscriptions and the test's
    publishers (`inputs`) are matched."""
    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    node = WorldNode(context=ctx, parameter_overrides=overrides)
    try:
        assert node.trigger_configure() == SUCCESS
        if log is not None:
            for key in ("clock", "words"):
                node._pubs[key] = log.wrap(key, node._pubs[key])
        with spinning(ctx, node, probe.node):
            pubs = [p for key, p in node._pubs.items() if key != "diag"] + list(inputs)
            assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in pubs), 10.0)
            assert node.trigger_activate() == SUCCESS
            yield node
            node.close()
    finally:
        node.close()
        node.destroy_node()


@pytest.mark.parametrize(
    ("tick_hz", "factor"),
    [(10.0, 3.0), (50.0, 1.0)],  # 50 Hz: the course's 10 Hz times, counted at the world's rate
    ids=["10Hz", "50Hz"],
)
def test_a_day_on_sim_time_clock_camera_words_touch_and_hand(ctx, tmp_path, tick_hz, factor):
    """The short course (written at 10 Hz) taught at the world's tick rate: the same day in
    seconds, every word, pat and hand at its time."""
    course = tmp_path / "short.yaml"
    course.write_text(SHORT_COURSE)
    curriculum = load_curriculum(course).at_rate(tick_hz)
    schedule = day_schedule(curriculum, seed=3)
    last_tick = schedule[-1].end + 2
    period_ns = round(1e9 / tick_hz)
    probe = Probe(ctx, period_ns)
    log = PublishLog()
    with running_world(
        ctx,
        probe,
        log,
        curriculum=str(course),
        tick_hz=tick_hz,
        real_time_factor=factor,
        camera_width=64,
        camera_height=48,
    ):
        began = time.monotonic()
        assert wait_for(lambda: probe.sim_tick() >= last_tick, 30.0), probe.sim_tick()
        wall = time.monotonic() - began
    assert schedule[0].word_tick == round(1.0 * tick_hz)  # lead_in 0.5 s + word_at 0.5 s

    # /clock: from one period on, in even steps of a tenth of a period (clock_steps 10),
    # every tick's instant among them, at about the real-time factor asked.
    clocks = [stamp_ns(m) for m in probe.clock.snapshot()]
    assert clocks[0] == period_ns
    assert set(np.diff(clocks)) == {period_ns // 10}
    sim_s = clocks[-1] * 1e-9
    assert sim_s > 0.5 * factor * wall, f"{sim_s:.1f} sim s in {wall:.1f} wall s"

    # The caretaker's words, in order, each published right after the /clock of the tick
    # after its onset (the tick the world stepped through while it began). Exactly, as the
    # node published them; over DDS, by arrival next to /clock's, give or take DDS delays.
    spoken = [s for s in schedule if s.word_tick is not None and s.word_tick < last_tick]
    onsets = [(s.object.word, (s.word_tick + 1) * period_ns) for s in spoken]
    assert log.words_with_clock()[: len(onsets)] == onsets
    assert [w.data for w in probe.words.snapshot()] == [s.object.word for s in spoken]
    clock_arrivals = np.array(probe.clock.arrivals)
    for (_, onset_ns), arrival in zip(onsets, probe.words.arrivals, strict=True):
        nearest = clocks[int(np.argmin(np.abs(clock_arrivals - arrival)))]
        assert abs(nearest - onset_ns) <= max(2 * period_ns, 100_000_000), (nearest, onset_ns)

    # Audio: one 16 kHz block per tick, stamped by its first sample; the word's sound
    # starts with the block of its onset tick (loud within its first 0.1 s), over a quiet
    # floor before it.
    audio = probe.by_tick(probe.audio)
    block = round(16000 / tick_hz)
    assert all(len(m.samples) == block and m.sample_rate == 16000 for m in audio.values())
    if espeak_available():
        first = range(curriculum.ticks(0.1))
        onsets = [
            s.word_tick
            for s in spoken
            if {s.word_tick - 1, *(s.word_tick + i for i in first)} <= set(audio)
        ]
        assert onsets, "best effort lost every block around every onset"
        for onset in onsets:
            assert rms_dbfs(np.asarray(audio[onset - 1].samples)) < -55.0
            loud = max(rms_dbfs(np.asarray(audio[onset + i].samples)) for i in first)
            assert loud > -40.0, onset

    # Camera: rgb8 at the configured raw size; the picture changes when an object appears.
    images = probe.by_tick(probe.image)
    if rendering_available():
        assert images, "no images"
        for msg in images.values():
            assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 64, 48, 192)
            assert msg.header.frame_id == "camera_optical_frame"
            assert len(msg.data) == 64 * 48 * 3

        def picture(tick: int) -> np.ndarray:
            return np.frombuffer(images[tick].data, np.uint8).astype(float)

        first = schedule[0]
        empty = [t for t in images if t <= first.start]  # shown at start: seen from start + 1
        shown = [t for t in images if first.start < t <= first.guide_tick]
        assert len(empty) >= 2 and shown
        still = np.abs(picture(empty[-1]) - picture(empty[-2])).mean()
        change = np.abs(picture(shown[0]) - picture(empty[-1])).mean()
        assert change > 0.5 and change > 20 * still, (change, still)

    # Touch: the pat on the head reads its force in newtons; other pads stay untouched.
    touches = probe.by_tick(probe.touch)
    head = TOUCH_PADS.index("head")
    for msg in touches.values():
        assert list(msg.pads) == list(TOUCH_PADS) and msg.normalised is False
    patted = [s for s in schedule if s.touch_ticks is not None and s.end < last_tick]
    assert patted
    for segment in patted:
        start, stop = segment.touch_ticks
        during = [touches[t].pressure[head] for t in range(start + 1, stop + 1) if t in touches]
        after = [touches[t].pressure[head] for t in range(stop + 2, stop + 5) if t in touches]
        assert during and max(during) == pytest.approx(3.0, abs=1.0), during
        assert after and max(after) < 0.3, after
    others = [i for i in range(len(TOUCH_PADS)) if i != head]
    assert max(msg.pressure[i] for msg in touches.values() for i in others) < 0.3

    # Joints: the caretaker's hand has the arm at the gesture pose when it lets go.
    joints = probe.by_tick(probe.joints)
    assert all(list(msg.name) == list(JOINTS) for msg in joints.values())
    held = [s for s in schedule if s.end in joints]
    assert held
    for segment in held:
        np.testing.assert_allclose(joints[segment.end].position, segment.object.pose, atol=0.15)


def test_velocity_commands_move_the_joints_until_they_go_stale(ctx, capsys):
    probe = Probe(ctx)
    commands = probe.node.create_publisher(
        Float64MultiArray, "/world/joint_velocity_commands", qos.COMMAND
    )
    diagnostics = Collector(probe.node, DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
    with running_world(
        ctx, probe, caretaker=False, real_time_factor=0.0, command_timeout_s=0.5
    ) as world:
        assert wait_for(lambda: commands.get_subscription_count() > 0, 10.0)
        assert wait_for(lambda: probe.joints.last() is not None, 10.0)
        before = np.array(probe.joints.last().position)
        commands.publish(Float64MultiArray(data=[0.5, 0.0, 0.0, 0.0, 0.0]))
        assert wait_for(lambda: world._command is not None, 5.0)
        since = world._command[1]
        commands.publish(Float64MultiArray(data=[1.0, 1.0]))  # wrong length: ignored
        assert wait_for(lambda: world.rejected_commands == 1, 5.0)
        assert wait_for(lambda: probe.sim_tick() > since + 30, 10.0)
        began, ticks = time.monotonic(), probe.sim_tick()
        time.sleep(1.0)
        rate = (probe.sim_tick() - ticks) / (time.monotonic() - began)

        def reported() -> bool:
            values = [world_diagnostics(m) for m in diagnostics.snapshot()]
            return any(v.get("rejected_commands") == "1" for v in values)

        assert wait_for(reported, 5.0), "the rejected command is in /diagnostics"
    with capsys.disabled():
        print(f"\nworld node, real_time_factor 0, 96x96 camera: {rate:.0f} ticks/s")
    assert rate > 10.0, "as fast as possible is faster than real time"
    last = probe.joints.last()  # long after the command went stale
    # 0.5 rad/s for the 6 ticks until the command is older than 0.5 s: 0.3 rad of pan.
    moved = np.array(last.position) - before
    assert moved[0] == pytest.approx(0.3, abs=0.06), moved
    np.testing.assert_allclose(moved[1:], 0.0, atol=0.02)
    np.testing.assert_allclose(last.velocity, 0.0, atol=0.01)


def test_main_runs_the_world_and_ends_cleanly_on_sigterm(ctx):
    args = [PYTHON, "-m", "nemuri.nodes.world_node", "--ros-args", "-p", "caretaker:=false"]
    args += ["-p", "real_time_factor:=0.0"]
    world = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        probe = Probe(ctx)
        with spinning(ctx, probe.node):
            assert wait_for(lambda: probe.sim_tick() >= 20, 30.0), "no /clock from the process"
        world.send_signal(signal.SIGTERM)
        assert world.wait(timeout=10.0) == 0
    finally:
        output = stop_process(world)
    assert "Traceback" not in output and "world stopped" not in output, output


def test_cleanup_and_configure_build_a_fresh_world_that_runs(ctx):
    probe = Probe(ctx)
    with running_world(ctx, probe, caretaker=False, real_time_factor=0.0) as world:
        assert wait_for(lambda: probe.sim_tick() >= 5, 10.0)
        assert world.trigger_deactivate() == SUCCESS
        assert world.trigger_cleanup() == SUCCESS
        assert world.world is None and world._inputs == []
        assert world.trigger_configure() == SUCCESS
        assert world.world.tick == 0
        assert world.trigger_activate() == SUCCESS
        assert wait_for(lambda: world.world.tick >= 5, 10.0)


def test_a_course_it_cannot_teach_fails_configure_saying_why(ctx, tmp_path):
    course = Path(tmp_path / "bad.yaml")
    course.write_text(SHORT_COURSE.replace("red_ball", "red_unicorn"))
    node = WorldNode(
        context=ctx, parameter_overrides=[rclpy.Parameter("curriculum", value=str(course))]
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_the_shipped_course_configures_at_fifty_hertz(ctx):
    """Its day (3000 ticks at the course's 10 Hz) lasts as long at 50 Hz: 15000 ticks."""
    node = WorldNode(context=ctx, parameter_overrides=[rclpy.Parameter("tick_hz", value=50.0)])
    try:
        assert node.trigger_configure() == SUCCESS
        curriculum = node.caretaker.curriculum
        assert (curriculum.tick_hz, curriculum.day_ticks, curriculum.day_s) == (50.0, 15_000, 300)
        assert node.caretaker.end_tick <= curriculum.day_ticks
    finally:
        node.close()
        node.destroy_node()


def test_deactivate_stops_time_and_activate_resumes_it_tick_after_tick(ctx):
    probe = Probe(ctx)
    with running_world(ctx, probe, caretaker=False, real_time_factor=0.0) as world:
        assert wait_for(lambda: probe.sim_tick() >= 10, 10.0)
        assert world.trigger_deactivate() == SUCCESS
        paused, stepped = world._announced, world.world.tick
        assert stepped in (paused, paused + 1)  # the next tick may be stepped, not yet "now"
        assert wait_for(lambda: probe.sim_tick() == paused, 5.0)  # the last /clock delivered
        time.sleep(0.3)
        assert world.world.tick == stepped and probe.sim_tick() == paused
        assert world.trigger_activate() == SUCCESS  # a new thread renders with a new context
        assert wait_for(lambda: probe.sim_tick() >= paused + 10, 10.0)
    clocks = [stamp_ns(m) for m in probe.clock.snapshot()]
    steps = set(np.diff(clocks))  # a pause may cut a period's flow short, never time itself
    assert steps <= {j * PERIOD_NS // 10 for j in range(1, 11)} and PERIOD_NS // 10 in steps
    assert probe.by_tick(probe.image).keys() >= {paused, paused + 5}


def test_the_caretaker_asks_a_question_word_by_word(ctx):
    probe = Probe(ctx)
    ask = probe.node.create_publisher(String, "/world/caretaker/ask", qos.RELIABLE)
    with running_world(ctx, probe, inputs=(ask,), real_time_factor=2.0) as world:
        ask.publish(String(data="what is a zorblax?"))  # not in the vocabulary: refused
        ask.publish(String(data="What is this?"))
        assert wait_for(lambda: len(probe.words.snapshot()) >= 3, 10.0)
        assert world.world.tick < 20, "asked before the first lesson's word"
    assert [w.data for w in probe.words.snapshot()][:3] == ["what", "is", "this"]
