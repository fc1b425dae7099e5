"""The built-in MuJoCo world on its own: what one tick of simulation and one frame cost.

Reported (DESIGN.md target in brackets; asserts nothing about time):
  sim step per tick (all physics substeps), median and p99, at 10 Hz and 50 Hz;
  96x96 camera render per tick, median and p99 (shadows and reflections off);
  the world-only loop at 10 Hz -- step, render, joint state, touch, an object shown and
  hidden every 3 s, the caretaker's hand on the arm now and then -- as a real-time factor
  [the whole in-process loop, encoders and brain included, must reach >= 5x].

    .venv/bin/python bench/world.py --quick     # ~5 s
    .venv/bin/python bench/world.py --ticks 6000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from nemuri.contracts import JOINTS
from nemuri.worlds import mujoco_world
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=3000, help="ticks per measurement")
    parser.add_argument("--quick", action="store_true", help="600 ticks per measurement")
    args = parser.parse_args()
    ticks = 600 if args.quick else args.ticks

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


if __name__ == "__main__":
    main()
