"""The built-in MuJoCo world: a tick's cost alone, in the lock-step loop, and in the graph.

Reported (DESIGN.md target in brackets; asserts nothing about time):
  sim step per tick (all physics substeps), median and p99, at 10 Hz and 50 Hz;
  96x96 camera render per tick, median and p99 (shadows and reflections off);
  the world-only loop at 10 Hz -- step, render, joint state, touch, an object shown and
  hidden every 3 s, the caretaker's hand on the arm now and then -- as a real-time factor;
  the in-process lock-step loop at 10 Hz (SimulatedDay -> the shipped encoders -> an Agent
  with the default brain, newborn, on onnxruntime, writing its day log -> the world), the
  caretaker teaching day 1: ticks/s and real-time factor [>= 5x], and where a tick's time
  goes: world step, camera render, the four encoders, brain step, the rest (caretaker,
  microphone, fusion, drowsiness, day log);
  through the ROS graph (`nemuri up --mode processes`, the default config, a fresh
  data_dir, the world at real time unless --graph-rtf says otherwise): camera frame
  stamp -> MotorCommand published, p50/p99/max [p99 <= one tick period + 10 ms], split
  into frame stamp -> the core's tick (sim time, from the day log) and the core's tick ->
  MotorCommand seen here; missed ticks and the all-fresh tick rate beside it.

How the graph latency is measured: a probe node here notes when each /clock and each
MotorCommand arrives (one monotonic clock). The world publishes a frame and then the
/clock that makes its stamp "now", so the /clock carrying a frame's stamp marks when the
frame was taken; the day log says which frame (its vision embedding stamp) the core used
at each tick, and MotorCommand.tick names the tick. Latency = MotorCommand arrival minus
that /clock's arrival, times the real-time factor (sim seconds; equal at 1). Both are one
DDS hop to the probe, so the hop cancels but for its jitter.

    .venv/bin/python bench/world.py --quick     # ~1 min on 2 cores
    .venv/bin/python bench/world.py --ticks 6000 --graph-seconds 300
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Loopback only, and a domain of our own, before rclpy is imported; `nemuri up` inherits it.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from nemuri.agent import AgentConfig
from nemuri.brain.runtime import BrainRuntime, StepOutput, TickInput
from nemuri.contracts import JOINTS, MODALITIES
from nemuri.harness import VirtualClock, lockstep
from nemuri.memory.daylog import read_day
from nemuri.processes import children_of, stop_with_children
from nemuri.senses.runtime import EncoderRuntime
from nemuri.settings import load_settings
from nemuri.wakeup import wake_agent
from nemuri.worlds import mujoco_world
from nemuri.worlds.curriculum import load_curriculum
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig
from nemuri.worlds.simulated_day import SimulatedDay, SimulatedDayConfig, encoders

PARTS = ("world step", "camera render", "encoders (4)", "brain step")
START_TIMEOUT_S = 120.0  # a fresh data_dir: the core makes and exports a newborn brain first


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1e3
    return f"median {np.median(ms):6.3f} ms   p99 {np.percentile(ms, 99):6.3f} ms"


def time_steps(tick_hz: float, ticks: int) -> list[float]:
    world = MujocoWorld(WorldConfig(tick_hz=tick_hz))
    rng = np.random.default_rng(0)
    out = []
    for _ in range(ticks):
        command = rng.uniform(-1.0, 1.0, len(JOINTS))
        start = time.perf_counter()
        world.step(command)
        out.append(time.perf_counter() - start)
    return out


def time_renders(ticks: int) -> list[float]:
    world = MujocoWorld()
    world.show("red_ball")
    world.render_camera()  # the GL context is made on the first frame: not a tick's cost
    out = []
    for _ in range(ticks):
        world.step([0.3, 0.0, 0.0, 0.0, 0.0])
        start = time.perf_counter()
        world.render_camera()
        out.append(time.perf_counter() - start)
    world.close()
    return out


def world_loop(ticks: int) -> tuple[float, float]:
    """(simulated seconds, wall seconds) of the world-only loop at 10 Hz."""
    world = MujocoWorld()
    names = [o.name for o in world.objects()]
    rng = np.random.default_rng(1)
    world.render_camera()
    start = time.perf_counter()
    for t in range(ticks):
        if t % 30 == 0:
            for name in world.shown():
                world.hide(name)
            world.show(names[(t // 30) % len(names)])
        if t % 30 == 15:
            world.set_joint_targets({"shoulder": 1.0, "elbow": 0.8})
        if t % 30 == 25:
            world.release()
        world.step(rng.uniform(-1.0, 1.0, len(JOINTS)))
        world.render_camera()
        world.joint_state()
        world.touch()
    wall = time.perf_counter() - start
    sim = world.sim_time
    world.close()
    return sim, wall


# -- the in-process lock-step loop ---------------------------------------------------------
@dataclass
class PartTimes:
    """Seconds spent in each part, summed per tick: `add` during a tick, `close_tick` after."""

    ticks: list[dict[str, float]] = field(default_factory=list)
    current: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, seconds: float) -> None:
        self.current[part] = self.current.get(part, 0.0) + seconds

    def close_tick(self) -> None:
        self.ticks.append(self.current)
        self.current = {}

    def per_tick(self, part: str) -> np.ndarray:
        return np.array([t.get(part, 0.0) for t in self.ticks])

    def timed(self, part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        """`call`, its time added to `part`."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.add(part, time.perf_counter() - start)

        return wrapper


class TimedEncoder:
    """An EncoderRuntime whose `encode` is timed; all SimulatedDay asks of an encoder."""

    def __init__(self, inner: EncoderRuntime, times: PartTimes) -> None:
        self.inner = inner
        self.version = inner.version
        self.encode = times.timed("encoders (4)", inner.encode)


class TimedBrain:
    """A BrainRuntime whose `step` is timed (the Agent's runtime, swapped in after waking)."""

    def __init__(self, inner: BrainRuntime, times: PartTimes) -> None:
        self.inner = inner
        self.capacity = inner.capacity
        self._step = times.timed("brain step", inner.step)

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    def reset(self) -> None:
        self.inner.reset()

    def step(self, x: TickInput) -> StepOutput:
        return self._step(x)


@dataclass(frozen=True)
class LoopFigures:
    """What one lock-step run measured, for report_lockstep."""

    ticks: int
    wall_s: float
    sim_s: float
    brain_version: str
    context_length: int
    times: PartTimes


def lockstep_loop(ticks: int, seed: int = 0) -> LoopFigures:
    """Day 1 of the shipped course in lock-step: the real default brain, encoders and world.

    The agent wakes as `nemuri up`'s core does (wake_agent: the newborn default brain on
    onnxruntime, one thread, and a day log) in a throwaway data_dir, on a VirtualClock, so
    no tick is ever missed and every tick is stepped. The caretaker's eight words are
    synthesised once before timing (espeak-ng is a process start per new word, cached for
    the rest of the day), and the first frame, which makes the GL context, is not timed.
    """
    times = PartTimes()
    clock = VirtualClock()
    with tempfile.TemporaryDirectory(prefix="bench-world-") as data_dir:
        agent = wake_agent(Path(data_dir), AgentConfig(), clock, "onnx")
        agent.runtime = TimedBrain(agent.runtime, times)
        curriculum = load_curriculum(day=1)
        senses = {m: TimedEncoder(enc, times) for m, enc in encoders().items()}
        day = SimulatedDay(curriculum, SimulatedDayConfig(seed=seed), senses=senses)
        for lesson in curriculum.objects:
            day.caretaker.voice(lesson.word)
        day.world.render_camera()
        day.world.step = times.timed("world step", day.world.step)
        day.world.render_camera = times.timed("camera render", day.world.render_camera)
        times.current.clear()
        start = time.perf_counter()
        for _ in lockstep(agent, day, ticks, clock):
            times.close_tick()
        wall = time.perf_counter() - start
        figures = LoopFigures(
            ticks=ticks,
            wall_s=wall,
            sim_s=day.world.sim_time,
            brain_version=agent.brain_version,
            context_length=agent.runtime.context_length,
            times=times,
        )
        agent.close()
        day.world.close()
    return figures


def report_lockstep(f: LoopFigures) -> None:
    per_tick_ms = f.wall_s / f.ticks * 1e3
    print(
        f"lock-step loop @ 10 Hz (brain {f.brain_version}, onnx, context {f.context_length} "
        f"at the end): {f.ticks} ticks in {f.wall_s:.2f} s = {f.ticks / f.wall_s:.1f} ticks/s "
        f"= {f.sim_s / f.wall_s:.1f}x real time  [>= 5x]  ({per_tick_ms:.2f} ms per tick)"
    )
    accounted = np.zeros(f.ticks)
    for part in PARTS:
        seconds = f.times.per_tick(part)
        accounted += seconds
        ms = seconds * 1e3
        print(
            f"  {part:14s} mean {ms.mean():6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"{100 * seconds.sum() / f.wall_s:5.1f} %"
        )
    rest = f.wall_s - accounted.sum()
    print(
        f"  {'the rest':14s} mean {rest / f.ticks * 1e3:6.2f} ms               "
        f"{100 * rest / f.wall_s:5.1f} %  (caretaker, microphone, fusion, drowsiness, day log)"
    )


# -- through the ROS graph --------------------------------------------------------------
@dataclass
class GraphProbe:
    """Arrival times (time.monotonic) of /clock by stamp and of MotorCommands by tick."""

    clock_at: dict[int, float] = field(default_factory=dict)  # stamp ns -> first arrival
    motor_at: dict[int, float] = field(default_factory=dict)  # MotorCommand.tick -> arrival
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_clock(self, msg: Any) -> None:
        now = time.monotonic()
        stamp = msg.clock.sec * 1_000_000_000 + msg.clock.nanosec
        with self.lock:
            self.clock_at.setdefault(stamp, now)

    def on_motor(self, msg: Any) -> None:
        now = time.monotonic()
        with self.lock:
            self.motor_at.setdefault(int(msg.tick), now)


def run_graph(seconds: float, factor: float, data_dir: Path) -> GraphProbe:
    """`nemuri up --mode processes` for `seconds` of wall time after its first MotorCommand.

    Stopped by SIGINT to its PID, as a terminal's Ctrl-C does: it stops its node processes
    and the core closes its day log; anything still alive after that is killed by PID.
    """
    import rclpy
    from nemuri_msgs.msg import MotorCommand
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    probe = GraphProbe()
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bench_world_probe", context=context)
    keep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Clock, "/clock", probe.on_clock, keep)
    node.create_subscription(MotorCommand, "/nemuri/motor_command", probe.on_motor, keep)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    overrides = [
        f"world.real_time_factor={factor}",
        f"core.data_dir={data_dir}",
        f"sleep.data_dir={data_dir}",
    ]
    command = [sys.executable, "-m", "nemuri.cli", "up", "--mode", "processes", "--no-status"]
    for item in overrides:
        command += ["--set", item]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    children: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not probe.motor_at and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not probe.motor_at:
            raise RuntimeError("the graph never commanded the motors:\n" + "".join(errors))
        children = children_of(proc.pid)
        end = time.monotonic() + seconds
        while proc.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError("nemuri up stopped by itself:\n" + "".join(errors))
    finally:
        stop_with_children(proc, 30, children)
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return probe


def graph_latency(seconds: float, factor: float) -> None:
    """Run the graph, then match each MotorCommand to the frame its tick used (day log).

    The graph runs at the configuration's rates (config/nemuri.yaml: 10 Hz); the core's
    tick_hz gives the period the target is stated in.
    """
    vision = MODALITIES.index("vision")
    [core] = [node for node in load_settings().nodes if node.key == "core"]
    tick_hz = float(core.parameters["tick_hz"])
    with tempfile.TemporaryDirectory(prefix="bench-world-graph-") as tmp:
        data_dir = Path(tmp) / "nemuri"
        probe = run_graph(seconds, factor, data_dir)
        [day] = sorted((data_dir / "days").iterdir())
        rows = list(read_day(day))
    period_ns = round(1e9 / tick_hz)
    first = rows[0].tick + round(tick_hz)  # the first second: senses still coming up
    counted = [r for r in rows if r.tick >= first]
    span = counted[-1].tick - first + 1
    fresh = sum(all(r.present) for r in counted)
    total, to_tick, after_tick = [], [], []
    unmatched = 0
    for row in counted:
        arrived = probe.motor_at.get(row.tick)
        taken = probe.clock_at.get(row.embedding_stamps_ns[vision])
        if not row.present[vision] or arrived is None or taken is None:
            unmatched += 1
            continue
        latency = (arrived - taken) * factor
        total.append(latency)
        to_tick.append((row.stamp_ns - row.embedding_stamps_ns[vision]) * 1e-9)
        after_tick.append(latency - to_tick[-1])
    target_ms = period_ns / 1e6 + 10.0
    print(
        f"ROS graph @ {tick_hz:g} Hz, world at {factor:g}x real time, {span} ticks after the "
        f"first second: {span - len(counted)} missed, {100 * fresh / span:.1f} % all four "
        f"fresh [>= 99 %], {len(total)} MotorCommands matched to their frame "
        f"({unmatched} not)"
    )
    if not total:
        return
    for name, seconds_list in (
        (f"frame stamp -> MotorCommand  [p99 <= {target_ms:.0f} ms]", total),
        ("  frame stamp -> core tick (sim)", to_tick),
        ("  core tick -> MotorCommand seen", after_tick),
    ):
        ms = np.asarray(seconds_list) * 1e3
        print(
            f"  {name:44s} p50 {np.median(ms):6.1f} ms  p99 {np.percentile(ms, 99):6.1f} ms  "
            f"max {ms.max():6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=3000, help="ticks per measurement")
    parser.add_argument(
        "--quick", action="store_true", help="600 ticks per measurement, 30 s of the graph"
    )
    parser.add_argument(
        "--graph-seconds",
        type=float,
        metavar="S",
        help="wall seconds of the ROS graph after its first command (default 120; 0 skips)",
    )
    parser.add_argument(
        "--graph-rtf",
        type=float,
        default=1.0,
        metavar="F",
        help="the graph's world at F x real time (default 1; > 0: the latency is scaled by it)",
    )
    args = parser.parse_args()
    if args.graph_rtf <= 0:
        parser.error("--graph-rtf must be > 0: flat out, wall and sim time have no ratio")
    ticks = 600 if args.quick else args.ticks
    graph_seconds = args.graph_seconds
    if graph_seconds is None:
        graph_seconds = 30.0 if args.quick else 120.0

    print(
        f"mujoco {mujoco_world.mujoco.__version__}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}, "
        f"{ticks} ticks per measurement, {os.cpu_count()} CPUs visible"
    )
    for hz in (10.0, 50.0):
        substeps = WorldConfig(tick_hz=hz).substeps
        print(
            f"sim step @ {hz:4.0f} Hz ({substeps:2d} x 2 ms): {percentiles(time_steps(hz, ticks))}"
        )
    if not mujoco_world.rendering_available():
        print("render: no headless GL here (EGL/OSMesa); skipping frames and the loop")
        return
    print(f"render 96x96 camera frame:      {percentiles(time_renders(ticks))}")
    sim, wall = world_loop(ticks)
    print(
        f"world-only loop @ 10 Hz: {sim:.0f} s simulated in {wall:.2f} s wall = "
        f"{sim / wall:.0f}x real time ({wall / ticks * 1e3:.2f} ms per tick)"
    )
    report_lockstep(lockstep_loop(ticks))
    if graph_seconds > 0:
        graph_latency(graph_seconds, args.graph_rtf)


if __name__ == "__main__":
    main()
