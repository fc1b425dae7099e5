"""One night's speed: day ticks consolidated per second, default brain, default SleepConfig.

DESIGN.md's number: one night on 2 CPU cores consolidates 36,000 ticks (an hour at 10 Hz)
in <= 10 minutes. This sleeps the default newborn brain (BrainConfig()) with the default
SleepConfig() (one torch thread, the 600 s budget, 40 planned passes over the day) on a
synthetic day of N ticks, or on a recorded day log, and reports each phase of the night,
the training steps and their throughput, the day ticks consolidated per second, and the
night projected for 36,000 ticks: reading and validating scale with the day's ticks,
training with the steps the night plans for it, telling and saving are measured as they
are (saving, which also fills the replay store, is scaled with the ticks too, to err
long). When the night's budget cut training short, it says so: the projection is then
what the whole planned night would take, the figure to compare with 10 minutes.

The synthetic day is DESIGN.md's lesson in miniature, every sense present: K objects,
each a fixed vision embedding; its word heard a second after it appears, then its own
gesture of the arm; noise on every sense each tick. What is learnt does not change the
cost of a step, so random content would time the same; this one also gives the night's
dream something to name. Asserts nothing about time.

    .venv/bin/python bench/night.py --quick            # 3,000 ticks: a few minutes
    .venv/bin/python bench/night.py                    # 36,000 ticks: the real figure
    .venv/bin/python bench/night.py --day PATH         # a recorded day log
    .venv/bin/python bench/night.py --quick --nights 2 # also a night with replay and dreams
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nemuri.brain import checkpoint
from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.memory import DayLog, TickRow, read_day
from nemuri.sleep import NightProgress, NightResult, ReplayStore, SleepConfig, consolidate
from nemuri.vocabulary import SILENCE

TARGET_TICKS = 36_000  # an hour at 10 Hz
TARGET_S = 600.0
PERIOD_NS = 100_000_000
WORDS = ("ball", "cup", "dog", "sheep", "cat", "bird", "fish", "horse")
LESSON = 40  # ticks an object is in view (4 s)
GAP = 10  # ticks of nothing between lessons
WORD_AT, MOVE_AT, MOVE_TICKS = 10, 15, 10


def synthetic_day(days_dir: Path, ticks: int, seed: int) -> Path:
    """A closed day log of `ticks` rows of lessons (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sights = rng.standard_normal((len(WORDS), EMBEDDING_DIMS["vision"])).astype(np.float32)
    gestures = rng.uniform(-1, 1, (len(WORDS), len(JOINTS))).astype(np.float32)
    base = {m: rng.standard_normal(EMBEDDING_DIMS[m]).astype(np.float32) for m in MODALITIES}
    zeros = np.zeros(len(JOINTS), np.float32)
    drowsy = np.zeros(len(DROWSINESS_FEATURES), np.float32)
    position = zeros.copy()
    with DayLog.create(days_dir, clock_ns=1_790_000_000 * 10**9 + seed * 86_400 * 10**9) as log:
        for tick in range(ticks):
            lesson, t = divmod(tick, LESSON + GAP)
            k = int(np.random.default_rng(seed * 100_003 + lesson).integers(len(WORDS)))
            shown = t < LESSON
            moving = MOVE_AT <= t < MOVE_AT + MOVE_TICKS
            velocity = gestures[k] if moving else zeros
            position = position + 0.1 * velocity
            embeddings = [
                (sights[k] if shown and m == "vision" else base[m])
                + 0.05 * rng.standard_normal(EMBEDDING_DIMS[m]).astype(np.float32)
                for m in MODALITIES
            ]
            log.append(
                TickRow(
                    tick=tick,
                    stamp_ns=tick * PERIOD_NS,
                    embeddings=embeddings,
                    present=[True] * len(MODALITIES),
                    heard_word=WORDS[k] if t == WORD_AT else SILENCE,
                    joint_position=position,
                    joint_velocity=velocity,
                    motor_velocity=zeros,
                    drowsiness=drowsy,
                    brain_version="v0000",
                )
            )
            if tick % 10 == 0:  # a thumbnail a second, a flat colour per object
                colour = (37 * k % 256, 91 * k % 256, 53 * k % 256) if shown else (40, 40, 40)
                log.add_thumbnail(tick * PERIOD_NS, np.full((32, 32, 3), colour, np.uint8))
    return log.path


class PhaseClock:
    """Seconds spent in each phase of the night, from its progress reports."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._phase: str | None = None
        self._since = 0.0

    def __call__(self, p: NightProgress) -> None:
        if p.phase == self._phase:
            return
        if self._phase is not None:
            self.seconds[self._phase] = (
                self.seconds.get(self._phase, 0.0) + p.elapsed_s - self._since
            )
        self._phase, self._since = p.phase, p.elapsed_s


def planned_steps(config: SleepConfig, train_ticks: float, today_ratio: float = 1.0) -> int:
    """The steps a night plans for `train_ticks` (consolidate's rule, restated to project)."""
    if config.steps is not None:
        return config.steps
    per_step = config.batch_size * config.segment_ticks * today_ratio
    planned = math.ceil(config.today_passes * train_ticks / per_step)
    return int(min(config.max_steps, max(config.min_steps, planned)))


def report(
    result: NightResult, phases: dict[str, float], ticks: int, config: SleepConfig, cpu_s: float
) -> None:
    """The night's figures and the projection to TARGET_TICKS.

    `cpu_s` is the process's CPU time over the night: with one torch thread it is about
    what the night would take on an idle core, so a busy machine's figure (wall time) is
    given with the idle one beside it.
    """
    steps = max(1, result.steps)
    step_s = phases.get("training", 0.0) / steps
    print(f"  {result.reason}")
    print(
        f"  night: {result.seconds:.1f} s for {ticks} ticks; {result.steps}/"
        f"{result.planned_steps} steps, {step_s:.3f} s a step, lr {result.lr:.2e}"
    )
    if result.steps < result.planned_steps:
        print(f"  the {config.max_seconds:.0f} s budget cut training short")
    print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    print(f"  training throughput: {result.train_ticks_per_s:.0f} ticks/s (forward + backward)")
    print(f"  consolidated: {ticks / result.seconds:.1f} day ticks/s of night")
    busy = min(1.0, cpu_s / result.seconds)
    print(
        f"  CPU: {cpu_s:.1f} s, {busy:.0%} of the night's wall time (the rest: waiting for a "
        "busy machine)"
    )
    scale = TARGET_TICKS / ticks
    today_train = sum(d["ticks"] for d in result.days) * (1.0 - config.val_fraction)
    ratio = 1.0 if result.nights <= 1 else 1.0 - config.replay_ratio - config.dream_ratio
    target_steps = planned_steps(config, today_train * scale, ratio)
    scaled = sum(phases.get(k, 0.0) for k in ("reading", "validating", "judging", "saving"))
    fixed = sum(phases.get(k, 0.0) for k in ("dreaming", "telling"))
    projected = scaled * scale + fixed + target_steps * step_s
    for label, seconds in (("here", projected), ("on an idle core", projected * busy)):
        verdict = "meets" if seconds <= TARGET_S else "MISSES"
        print(
            f"  projected for {TARGET_TICKS} ticks, {label}: {target_steps} steps, {seconds:.0f} s "
            f"({seconds / 60:.1f} min, {TARGET_TICKS / seconds:.0f} day ticks/s) -> {verdict} "
            f"the {TARGET_S / 60:.0f} min target"
        )
    if projected > config.max_seconds and step_s > 0:
        room = config.max_seconds - (projected - target_steps * step_s)
        print(
            f"  (here the {config.max_seconds:.0f} s budget would end that night after about "
            f"{max(0, int(room / step_s))} of its {target_steps} steps: fewer passes, not a "
            "longer night)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=TARGET_TICKS, help="synthetic day length")
    parser.add_argument("--quick", action="store_true", help="a 3,000-tick day")
    parser.add_argument("--day", type=Path, help="a recorded day log instead")
    parser.add_argument("--nights", type=int, choices=(1, 2), default=1, help="2: also replay")
    parser.add_argument("--threads", type=int, help="torch threads (default: SleepConfig's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ticks = 3000 if args.quick else args.ticks
    config = SleepConfig() if args.threads is None else replace(SleepConfig(), threads=args.threads)
    load = os.getloadavg()
    print(
        f"night.py: {os.cpu_count()} CPUs, load {load[0]:.1f}; torch {torch.__version__}, "
        f"{config.threads} thread(s); SleepConfig() defaults (budget {config.max_seconds:.0f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="nemuri-night-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        born = checkpoint.newborn(root / "brains")
        params = sum(p.numel() for p in checkpoint.load(born.path)[0].parameters())
        print(
            f"newborn: default brain, {params / 1e6:.2f} M parameters "
            f"({time.perf_counter() - t:.1f} s to make, not counted)"
        )
        store = ReplayStore(root / "replay")
        for night in range(1, args.nights + 1):
            t = time.perf_counter()
            if args.day is not None and night == 1:
                day = args.day
            else:
                day = synthetic_day(root / "days", ticks, args.seed + night)
            n = len(read_day(day))
            print(
                f"night {night}: {day.name}, {n} ticks ({time.perf_counter() - t:.1f} s to write)"
            )
            clock = PhaseClock()
            cpu = time.process_time()
            result = consolidate(root / "brains", [day], store, config, progress=clock)
            report(result, clock.seconds, n, config, time.process_time() - cpu)
            if result.dream is not None:
                print(f"  dream: {result.dream.text}")


if __name__ == "__main__":
    main()
