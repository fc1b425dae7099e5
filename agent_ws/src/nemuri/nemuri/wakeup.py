"""Waking up: from a data directory to a living Agent, in one place.

The core node, the lock-step harness and the benchmarks all start the agent the same way:
make sure a brain exists (a newborn on the very first start), load its latest version,
recover yesterday's day log if a crash left it without its metadata, and open today's.
After a night the node uses `load_brain` and `open_day` to wake with the new version.
No ROS here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nemuri.agent import Agent, AgentConfig
from nemuri.brain import checkpoint
from nemuri.brain.model import BrainConfig
from nemuri.brain.runtime import BrainRuntime, OnnxRuntime, StepOutput, TickInput, TorchRuntime
from nemuri.memory.daylog import DayLog, RecoveryReport, list_days, recover_day

log = logging.getLogger(__name__)

RUNTIMES = ("onnx", "torch")


@dataclass(frozen=True)
class LoadedBrain:
    """A brain version ready to step, with what its manifest says about its life."""

    runtime: BrainRuntime
    version: str
    age_ticks: int
    nights: int


class DelayedRuntime:
    """TEST HOOK: a runtime whose every step first sleeps `delay_s`.

    Exists so that tests and benchmarks can make a slow brain on demand and watch
    sleepiness and missed ticks rise; never used with a delay of zero.
    """

    def __init__(self, inner: BrainRuntime, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.capacity = inner.capacity

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    def reset(self) -> None:
        self.inner.reset()

    def step(self, x: TickInput) -> StepOutput:
        time.sleep(self.delay_s)
        return self.inner.step(x)


def load_brain(
    brains_dir: Path,
    runtime: str = "onnx",
    version: str | None = None,
    *,
    step_delay_s: float = 0.0,
) -> LoadedBrain:
    """A brain version ready to step: `version` ("v0003" or "3"), else the latest.

    The very first call on an empty `brains_dir` makes the newborn. The onnx runtime
    needs only the config and the exported step, so torch weights are loaded for torch only.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    brains_dir = Path(brains_dir)
    if version is None:
        path = checkpoint.ensure_brain(brains_dir)
    else:
        path = brains_dir / checkpoint.version_name(int(version.removeprefix("v")))
    config = checkpoint.read_config(path)
    if runtime == "onnx":
        manifest = checkpoint.read_manifest(path)
        stepper: BrainRuntime = OnnxRuntime(path / checkpoint.STEP_ONNX, config, threads=1)
    else:
        brain, manifest = checkpoint.load(path)
        stepper = TorchRuntime(brain)
    _warm_up(stepper, config)
    if step_delay_s > 0.0:
        stepper = DelayedRuntime(stepper, step_delay_s)
    age = manifest["age"]
    name = checkpoint.version_name(manifest["version"])
    return LoadedBrain(stepper, name, int(age["ticks_seen"]), int(age["nights"]))


def _warm_up(runtime: BrainRuntime, config: BrainConfig) -> None:
    """Step once on an empty tick and forget it: the first run of a session is many times
    slower than the rest, and would otherwise cost the day its first ticks."""
    runtime.step(
        TickInput(
            embeddings=np.zeros(config.embedding_total, np.float32),
            present=np.zeros(config.n_modalities, np.float32),
            heard_word=0,
            prev_motor=np.zeros(config.n_joints, np.float32),
            prev_spoken=0,
            drowsiness=np.zeros(config.n_drowsy, np.float32),
        )
    )
    runtime.reset()


def recover_crashed_days(days_dir: Path) -> list[RecoveryReport]:
    """Make every day log a crash left without metadata.yaml a complete bag again."""
    reports = []
    for day in list_days(days_dir):
        if not (day / "metadata.yaml").exists():
            report = recover_day(day)
            log.warning(
                "recovered day log %s left by a crash: %d ticks kept, %d bytes dropped%s",
                day,
                report.ticks,
                report.bytes_dropped,
                f" ({report.damage})" if report.damage else "",
            )
            reports.append(report)
    return reports


def open_day(data_dir: Path) -> DayLog:
    """A new day log under data_dir/days."""
    return DayLog.create(Path(data_dir).expanduser() / "days")


def wake_agent(
    data_dir: Path,
    config: AgentConfig,
    clock: Callable[[], float],
    runtime: str = "onnx",
    *,
    capacity: int = 0,
    step_delay_s: float = 0.0,
) -> Agent:
    """The agent of `data_dir`, awake with its latest brain and a new day log.

    `capacity` is the context length that counts as full for drowsiness: 0 (or more than
    the brain holds) means the brain's own window; less makes a shorter day. `clock`
    measures step latency (a monotonic clock live, a virtual one in lock-step).
    """
    data_dir = Path(data_dir).expanduser()
    brain = load_brain(data_dir / "brains", runtime, step_delay_s=step_delay_s)
    held = brain.runtime.capacity
    full = held if capacity <= 0 else min(capacity, held)
    drowsiness = replace(config.drowsiness, tick_hz=config.tick_hz, capacity=full)
    config = replace(config, drowsiness=drowsiness)
    recover_crashed_days(data_dir / "days")
    return Agent(
        brain.runtime,
        brain_version=brain.version,
        config=config,
        day_log=open_day(data_dir),
        clock=clock,
        age_ticks=brain.age_ticks,
        nights=brain.nights,
    )


def wake_from_sleep(
    agent: Agent, data_dir: Path, runtime: str, version: str, step_delay_s: float = 0.0
) -> str:
    """Wake `agent` after a night with brain `version`, an empty context and a new day log.

    The agent takes the woken version's age from its manifest (ticks seen, nights). A
    version that does not load (missing, corrupt) must not leave the agent asleep: it
    wakes with the brain it fell asleep with and the age it had, and the version it woke
    as is returned.
    """
    data_dir = Path(data_dir).expanduser()
    try:
        brain = load_brain(data_dir / "brains", runtime, version, step_delay_s=step_delay_s)
    except Exception as err:  # any reason at all: an agent must not stay asleep
        log.error("brain %s did not load (%s): waking with %s", version, err, agent.brain_version)
        brain = LoadedBrain(agent.runtime, agent.brain_version, agent.age_ticks, agent.nights)
    agent.wake(
        brain.runtime,
        brain.version,
        open_day(data_dir),
        age_ticks=brain.age_ticks,
        nights=brain.nights,
    )
    return agent.brain_version
