"""The whole default graph over real ROS on sim time, for a simulated minute.

`nemuri up --mode processes` starts what `make run` starts (world, the four senses, core,
actuator, speech, sleep: one process each) on the world's /clock, and a probe node in this
process watches it over DDS. One run shows, in order: the graph senses and
moves (the core's day log and /joint_states), an e-stop on /nemuri/estop freezes the
joints until it is released, and MotorCommands with NaN in them are refused by the
actuator's safety gate. Then SIGINT to `nemuri up`, which stops its children and lets the
core close its day log, and the day log is read back:

- >= 99 % of the core's ticks after its first second see a fresh embedding of every
  modality (the day log's `present` masks; a tick with no row at all counts as not fresh);
- the caretaker's words reach /hearing/words and are the words the day log heard;
- joints move away from the rest pose while the core commands nonzero velocities.

The caretaker's hand moves the arm during lessons whatever the motors do (a person can
push a stopped arm), so "the joints froze" and "the joints moved by themselves" are read
on the ticks when the hand is off the arm; the schedule is the world's own (same
curriculum, same seed), keyed by /joint_states' stamps, which are sim time.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from bisect import bisect_right
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from nemuri_msgs.msg import AgentState, MotorCommand  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, Float64MultiArray, String  # noqa: E402

from nemuri.contracts import JOINTS, MODALITIES, REST_POSE  # noqa: E402
from nemuri.memory.daylog import read_day  # noqa: E402
from nemuri.memory.tickrow import TickRow  # noqa: E402
from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.convert import float64_array, joints_in_order, to_stamp  # noqa: E402
from nemuri.processes import children_of, stop_with_children  # noqa: E402
from nemuri.worlds.curriculum import LESSON, day_schedule, load_curriculum  # noqa: E402
from nemuri.worlds.description import joint_limits  # noqa: E402
from nemuri.worlds.mujoco_world import rendering_available  # noqa: E402
from ros_helpers import Collector, spinning, wait_for  # noqa: E402

# `make test-graph`, not `make test`: proprio freshness was 97.4 % (< 99 %) in 2 of 5 runs
# on the loaded 2-core machine after the sense_lead fix (touch, vision, audio 100 %).
pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.graph]

# Sim s per wall s. Real time: on two shared, busy cores the eight node processes at 2x
# missed a tick now and then, enough to fall under the 99 % below; 1x leaves headroom.
REAL_TIME_FACTOR = 1
TICK_HZ = 10.0
PERIOD_NS = 100_000_000
MINUTE_TICKS = 600  # a simulated minute of the core's ticks ...
FIRST_SECOND = 10  # ... after its first second, when the senses may not all be up yet
START_TIMEOUT_S = 90.0  # first start in a fresh data_dir makes and exports a newborn brain
FREE_MARGIN_TICKS = 3  # after the hand lets go, the arm settles this long before it counts
ESTOP_TICKS = 40  # latched for 4 simulated seconds: more than one lesson's hand-free part
NAN_TICKS = 20  # MotorCommands with NaN for 2 simulated seconds
# Every message kept: the probe reads whole histories, not the latest few.
KEEP_ALL_RELIABLE = QoSProfile(depth=5000, reliability=ReliabilityPolicy.RELIABLE)
KEEP_ALL_BEST_EFFORT = QoSProfile(depth=5000, reliability=ReliabilityPolicy.BEST_EFFORT)


def stamp_ns(msg: object) -> int:
    stamp = msg.clock if isinstance(msg, Clock) else msg.header.stamp
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def joint_states(probe: Probe) -> list[tuple[int, JointState]]:
    """(stamp ns, message) of every /joint_states seen, in sim-time order."""
    return sorted(((stamp_ns(m), m) for m in probe.joints.snapshot()), key=lambda e: e[0])


def values_of(msg: DiagnosticArray, prefix: str) -> dict[str, str] | None:
    """Key/values of the status whose name starts with `prefix`, if the array has one."""
    for status in msg.status:
        if status.name.startswith(prefix):
            return {kv.key: kv.value for kv in status.values}
    return None


class Probe:
    """The test's node: collects what the graph publishes, sends the e-stop and bad commands.

    Sim time is read from /clock as it arrives here, not from a use_sim_time clock, so that
    any message without a stamp (the gate's velocities, the words) can be placed on the
    sim time axis by its arrival: the latest /clock that came before it.
    """

    def __init__(self, ctx: object) -> None:
        self.node = rclpy.create_node("world_graph_probe", context=ctx)
        n = self.node
        self.clock = Collector(n, Clock, "/clock", KEEP_ALL_RELIABLE)
        self.joints = Collector(n, JointState, "/joint_states", KEEP_ALL_BEST_EFFORT)
        self.words = Collector(n, String, "/hearing/words", KEEP_ALL_RELIABLE)
        self.state = Collector(n, AgentState, "/nemuri/state", KEEP_ALL_RELIABLE)
        self.gate_out = Collector(
            n, Float64MultiArray, "/world/joint_velocity_commands", KEEP_ALL_RELIABLE
        )
        self.diagnostics = Collector(n, DiagnosticArray, "/diagnostics", KEEP_ALL_RELIABLE)
        self.estop = n.create_publisher(Bool, "/nemuri/estop", qos.COMMAND)
        self.motor = n.create_publisher(MotorCommand, "/nemuri/motor_command", qos.COMMAND)

    def core_tick(self) -> int:
        last = self.state.last()
        return -1 if last is None else int(last.tick)

    def sim_ns(self) -> int:
        last = self.clock.last()
        return -1 if last is None else stamp_ns(last)

    def sim_at(self, arrivals: list[float]) -> list[int]:
        """Sim time (ns) when each message arrived: the latest /clock that came before it."""
        with self.clock._lock:
            clock_arrivals = list(self.clock.arrivals)
            stamps = [stamp_ns(m) for m in self.clock.messages]
        return [stamps[i - 1] if (i := bisect_right(clock_arrivals, t)) else -1 for t in arrivals]

    def timed(self, collector: Collector) -> list[tuple[int, object]]:
        """(sim ns at arrival, message) for everything `collector` has."""
        with collector._lock:
            messages, arrivals = list(collector.messages), list(collector.arrivals)
        return list(zip(self.sim_at(arrivals), messages, strict=True))

    def actuator_status(self) -> list[tuple[int, dict[str, str]]]:
        """(sim ns at arrival, key/values) of every safety-gate status seen."""
        out = []
        for sim, msg in self.timed(self.diagnostics):
            if (values := values_of(msg, "nemuri_actuator")) is not None:
                out.append((sim, values))
        return out


def nan_command(tick: int, now_ns: int) -> MotorCommand:
    msg = MotorCommand()
    msg.header.stamp = to_stamp(now_ns)
    msg.tick = tick
    msg.mode = MotorCommand.VELOCITY
    msg.joint_names = list(JOINTS)
    msg.velocity = float64_array(np.array([math.nan, 0.5, -0.5, math.nan, 1.0]))
    msg.brain_version = "test-nan"
    return msg


def hand_free_ticks(last_tick: int) -> set[int]:
    """Stamps (in ticks) of /joint_states that no caretaker's hand moved (nor just let go).

    The world runs the shipped day-1 curriculum with its own seed; the hand holds the arm
    over [guide_tick, end) of each lesson, and the state stamped s comes from the step
    taken at world tick s - 1.
    """
    curriculum = load_curriculum(None, 1)
    guided = set()
    for segment in day_schedule(curriculum, curriculum.seed):
        if segment.kind == LESSON and segment.guide_tick is not None:
            guided.update(range(segment.guide_tick, segment.end))
    return {
        s
        for s in range(1, last_tick + 1)
        if not any(s - 1 - k in guided for k in range(FREE_MARGIN_TICKS + 1))
    }


def test_a_simulated_minute_of_the_default_graph(ctx: object, tmp_path: Path) -> None:
    if not rendering_available():
        pytest.skip("no headless GL (EGL/OSMesa): the world has no camera, vision never fresh")
    data_dir = tmp_path / "nemuri"
    probe = Probe(ctx)
    with spinning(ctx, probe.node):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nemuri.cli",
                "up",
                "--mode",
                "processes",
                "--no-status",
                *("--set", f"core.data_dir={data_dir}", "--set", f"sleep.data_dir={data_dir}"),
                "--set",
                f"world.real_time_factor={REAL_TIME_FACTOR}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
        reader.start()
        children: list[int] = []
        try:
            alive = lambda: proc.poll() is None  # noqa: E731
            assert wait_for(lambda: probe.core_tick() >= 0 or not alive(), START_TIMEOUT_S), (
                "the core never ticked:\n" + "".join(stderr)
            )
            assert alive(), "".join(stderr)
            children = children_of(proc.pid)
            first = probe.core_tick()
            assert wait_for(  # the actuator's subscriptions: nothing we send may be lost
                lambda: (
                    probe.estop.get_subscription_count() >= 1
                    and probe.motor.get_subscription_count() >= 1
                ),
                10.0,
            )

            # Free running, then the e-stop latched for ESTOP_TICKS of the core's ticks.
            wall_per_tick = 1.0 / TICK_HZ / REAL_TIME_FACTOR
            timeout = lambda ticks: 10.0 + 3 * ticks * wall_per_tick  # noqa: E731
            assert wait_for(lambda: probe.core_tick() >= first + 150, timeout(150))
            estop_on = probe.sim_ns()
            probe.estop.publish(Bool(data=True))
            assert wait_for(lambda: probe.core_tick() >= first + 150 + ESTOP_TICKS, timeout(40))
            estop_off = probe.sim_ns()
            probe.estop.publish(Bool(data=False))

            # Commands with NaN, a burst faster than the core's own, for NAN_TICKS.
            assert wait_for(lambda: probe.core_tick() >= first + 230, timeout(40))
            nan_from, sent = probe.sim_ns(), 0
            while probe.sim_ns() < nan_from + NAN_TICKS * PERIOD_NS and alive():
                probe.motor.publish(nan_command(probe.core_tick(), probe.sim_ns()))
                sent += 1
                time.sleep(wall_per_tick / 5)
            nan_to = probe.sim_ns()

            # The rest of the simulated minute.
            end = first + FIRST_SECOND + MINUTE_TICKS + 2
            assert wait_for(lambda: probe.core_tick() >= end, timeout(end - probe.core_tick()))
            assert alive(), "".join(stderr)
        finally:
            stop_with_children(proc, 30, children)
            reader.join(timeout=5.0)  # its last lines, "stopped" among them
        code = proc.returncode
    assert code == 0, "".join(stderr)
    assert "nemuri up: stopped\n" in stderr, "".join(stderr)

    [day] = sorted((data_dir / "days").iterdir())
    rows = list(read_day(day))
    check_words(probe, rows)
    free = hand_free_ticks(max(stamp_ns(m) for m in probe.joints.snapshot()) // PERIOD_NS)
    check_motion(probe, rows, free, estop_on)
    check_estop(probe, free, estop_on, estop_off)
    check_nan(probe, nan_from, nan_to, sent)
    check_fresh(rows)  # last: the one check a starved CPU can fail, after all the others


def check_fresh(rows: list[TickRow]) -> None:
    """>= 99 % of the ticks of the minute after the core's first second: all four fresh."""
    first = rows[0].tick + FIRST_SECOND
    counted = [r for r in rows if r.tick >= first]
    last = counted[-1].tick
    assert last - first + 1 >= MINUTE_TICKS, (first, last)
    fresh = sum(all(r.present) for r in counted)
    ratio = fresh / (last - first + 1)  # a tick without a row (missed) is not fresh
    per_modality = np.mean([r.present for r in counted], axis=0)
    ticks = {r.tick for r in counted}
    missed = sorted(set(range(first, last + 1)) - ticks)
    assert ratio >= 0.99, (dict(zip(MODALITIES, per_modality, strict=True)), missed)


def check_words(probe: Probe, rows: list[TickRow]) -> None:
    """The caretaker's words on /hearing/words are the words the core's day log heard.

    Compared over the core's lifetime, less a tick at each end, by sim time: a word arrives
    at the onset tick's /clock, and the core hears it at its next tick (phase 0.2).
    """
    heard = [(sim, msg.data) for sim, msg in probe.timed(probe.words)]
    assert len(heard) >= 10, heard  # a lesson a word every 3 s
    lo, hi = rows[0].stamp_ns + PERIOD_NS, rows[-1].stamp_ns - PERIOD_NS
    on_topic = [w for sim, w in heard if lo <= sim + PERIOD_NS // 2 <= hi]
    in_log = [r.heard_word for r in rows if r.heard_word != "silence" and lo <= r.stamp_ns <= hi]
    assert on_topic, heard
    assert in_log == on_topic


def check_motion(probe: Probe, rows: list[TickRow], free: set[int], estop_on: int) -> None:
    """The core commanded motion and, with no hand on the arm, the joints followed."""
    moving = [r for r in rows if np.abs(r.motor_velocity).max() > 0.05]
    assert len(moving) > len(rows) // 2, "the newborn brain commanded (almost) no motion"
    states = joint_states(probe)
    core_from = rows[0].stamp_ns
    own = [
        joints_in_order(m)[0]
        for s, m in states
        if core_from < s < estop_on and s // PERIOD_NS in free
    ]
    assert len(own) > 50
    q = np.asarray(own, dtype=np.float64)
    away = np.abs(q - np.asarray(REST_POSE)).max(axis=1)
    assert (away > 0.05).mean() > 0.5, "the joints stayed at the rest pose"
    steps = np.abs(np.diff(q, axis=0)).max(axis=1)
    assert (steps > 1e-3).sum() > 10, "the joints did not move by themselves"


def check_estop(probe: Probe, free: set[int], estop_on: int, estop_off: int) -> None:
    """Latched: the gate sends zeros and the joints stand still; released: they move again."""
    latched = (estop_on + PERIOD_NS, estop_off)  # the e-stop's own trip over DDS: < a tick
    out = [(s, np.asarray(m.data)) for s, m in probe.timed(probe.gate_out)]
    during = [v for s, v in out if latched[0] <= s <= latched[1]]
    assert len(during) >= ESTOP_TICKS - 5
    assert all(np.all(v == 0.0) for v in during), "the gate sent motion while e-stopped"
    after = [v for s, v in out if s > estop_off + 2 * PERIOD_NS]
    assert any(np.any(v != 0.0) for v in after), "no motion after the e-stop was released"

    still_from = latched[0] + 2 * PERIOD_NS  # the servos settle on their held targets
    states = joint_states(probe)
    frozen = [
        (s // PERIOD_NS, *joints_in_order(m))
        for s, m in states
        if still_from <= s <= latched[1] and s // PERIOD_NS in free
    ]
    assert len(frozen) >= 10, "no hand-free tick while e-stopped"
    # Runs of consecutive hand-free ticks: within a run nothing may move.
    runs: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
    for tick, q, v in frozen:
        if runs and tick == runs[-1][-1][0] + 1:
            runs[-1].append((tick, q, v))
        else:
            runs.append([(tick, q, v)])
    for run in runs:
        q = np.array([p for _, p, _ in run])
        v = np.array([w for _, _, w in run])
        assert np.abs(v).max() < 0.02, (run[0][0], v)
        assert np.ptp(q, axis=0).max() < 2e-3, (run[0][0], q)

    status = probe.actuator_status()
    assert any(v["estop"] == "True" for s, v in status if latched[0] < s <= latched[1])
    assert status[-1][1]["estop"] == "False"
    released = [
        joints_in_order(m)[0]
        for s, m in states
        if s > estop_off + 2 * PERIOD_NS and s // PERIOD_NS in free
    ]
    steps = np.abs(np.diff(np.asarray(released, dtype=np.float64), axis=0)).max(axis=1)
    assert (steps > 1e-3).sum() > 10, "the joints did not move again after the release"


def check_nan(probe: Probe, nan_from: int, nan_to: int, sent: int) -> None:
    """Refused as a whole and reported; nothing non-finite reached the world; no jump."""
    assert sent >= NAN_TICKS
    status = probe.actuator_status()
    before = max((int(v["rejected_commands"]) for s, v in status if s < nan_from), default=0)
    after = [v for s, v in status if s > nan_from]
    assert after and int(after[-1]["rejected_commands"]) - before >= NAN_TICKS // 2
    assert any("non-finite velocity" in v["last_rejection"] for v in after)
    for _, msg in probe.timed(probe.gate_out):
        assert np.all(np.isfinite(msg.data))
    vmax = np.array([joint_limits()[j].velocity for j in JOINTS])
    states = joint_states(probe)
    window = [
        (s, joints_in_order(m)[0])
        for s, m in states
        if nan_from - PERIOD_NS <= s <= nan_to + 2 * PERIOD_NS
    ]
    assert len(window) >= NAN_TICKS
    for (s0, q0), (s1, q1) in pairwise(window):
        dt = (s1 - s0) * 1e-9
        assert np.all(np.isfinite(q1))
        assert np.all(np.abs(q1 - q0) <= vmax * dt + 1e-3), (s1, q1 - q0)
