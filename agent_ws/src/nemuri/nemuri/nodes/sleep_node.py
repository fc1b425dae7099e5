"""The sleep node: the Sleep action on /nemuri/sleep and the Dream service on /nemuri/dream.

It only moves data: a goal's day logs go to nemuri.sleep.consolidate (the same night
`nemuri sleep` runs in-process), its NightResult comes back as the action's result. The
night runs on a worker thread of its own, never on the executor, which stays free for
what a sleeper must still hear:

- a cancelled goal, or being woken early (DESIGN.md Contracts: a touch above 5 N in sim or
  0.5 normalised on hardware, a sound louder than -20 dBFS for 0.5 s, from /touch and
  /microphone/audio, which the sensors keep publishing while the agent sleeps): either
  sets the night's `should_stop`, and the night ends at its next step with the last good
  version, having written nothing;
- feedback: the night reports every step, the executor sends the latest a few times a
  second (`feedback_hz`), since a client needs a progress bar, not a message per step;
- the Dream service: what the latest (or a named) version dreamt, from its manifest.

The execute callback is a coroutine that awaits the worker's Future, so the
SingleThreadedExecutor keeps spinning through a night of minutes. One night at a time: a
goal that comes while one is running is rejected (the core then wakes with the brain it
has). Goal with no day logs: every closed day no version has slept on yet.
"""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.action import Sleep
from nemuri_msgs.msg import AudioChunk, Touch
from nemuri_msgs.srv import Dream
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.service import Service
from rclpy.task import Future
from rclpy.timer import Timer

from nemuri.brain import checkpoint
from nemuri.cli import BRAINS_DIR, DEFAULT_DATA_DIR, REPLAY_DIR, night_metrics, unslept_days
from nemuri.nodes import convert, qos
from nemuri.nodes.lifecycle import run
from nemuri.sleep import (
    AgeSchedule,
    NightProgress,
    NightResult,
    ReplayConfig,
    ReplayStore,
    SleepConfig,
    SleepError,
    consolidate,
)
from nemuri.sleep.history import last_dream
from nemuri.sleep.progress import PHASES
from nemuri.sleep.report import DreamReport

_NIGHT = SleepConfig()  # the library's defaults are the node's, so the two cannot drift
_REPLAY = ReplayConfig()
_AGE = AgeSchedule()
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    (
        "data_dir",
        DEFAULT_DATA_DIR,
        "Holds brains/ (versions), days/ (day logs) and replay/ (the long-term store).",
    ),
    ("action_name", "/nemuri/sleep", "The Sleep action served."),
    ("dream_service", "/nemuri/dream", "The Dream service served."),
    (
        "threads",
        _NIGHT.threads,
        "Torch threads for a night; 2 on a busy 2-core machine measured 4x slower than 1.",
    ),
    (
        "max_seconds",
        _NIGHT.max_seconds,
        "A night's wall-clock budget, s, when the goal's budget_s is 0.",
    ),
    (
        "steps",
        0,
        "A fixed number of training steps a night; 0: today_passes over the day's ticks, "
        "within min_steps..max_steps.",
    ),
    ("today_passes", _NIGHT.today_passes, "Planned passes over today's training ticks."),
    ("min_steps", _NIGHT.min_steps, "Fewest training steps a planned night takes."),
    ("max_steps", _NIGHT.max_steps, "Most training steps a planned night takes."),
    ("segment_ticks", _NIGHT.segment_ticks, "Ticks per training window."),
    ("batch_size", _NIGHT.batch_size, "Windows per training step."),
    ("val_fraction", _NIGHT.val_fraction, "Share of today's ticks held out to judge the night."),
    ("replay_ratio", _NIGHT.replay_ratio, "Share of each batch replayed from earlier days."),
    (
        "dream_ratio",
        _NIGHT.dream_ratio,
        "Share of each batch from dreams of earlier days (from the second night on).",
    ),
    ("training_dreams", _NIGHT.training_dreams, "Dreams of earlier days dreamt per night."),
    (
        "promote_min_gain",
        _NIGHT.promote_min_gain,
        "Today's held-out loss must fall by this fraction for the new version to be kept.",
    ),
    (
        "past_max_regression",
        _NIGHT.past_max_regression,
        "The past's held-out loss may rise by at most this fraction (else: rollback).",
    ),
    ("lr_max", _AGE.lr_max, "Learning rate of a newborn's first night (AgeSchedule)."),
    ("lr_min", _AGE.lr_min, "Floor of the learning rate, however old the brain."),
    ("replay_max_segments", _REPLAY.max_segments, "Cap of the replay store, in segments."),
    ("replay_max_bytes", _REPLAY.max_bytes, "Cap of the replay store, in bytes."),
    ("dream_report", _NIGHT.dream_report, "Tell the night's dream (promoted nights)."),
    ("seed", _NIGHT.seed, "Seed of the night's sampling."),
    ("feedback_hz", 4.0, "Rate of the action's feedback while a night runs."),
    ("wake_touch_n", 5.0, "Wake on a touch above this many newtons (simulated pads)."),
    ("wake_touch_normalised", 0.5, "Wake on a touch above this (hardware pads, 0..1)."),
    ("wake_sound_dbfs", -20.0, "Wake on a sound louder than this, RMS dBFS..."),
    ("wake_sound_s", 0.5, "...lasting this long, s."),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


# -- waking early (no ROS types: tested on its own) --------------------------------------
@dataclass(frozen=True)
class WakeThresholds:
    """What wakes a sleeper (DESIGN.md Contracts, waking early)."""

    touch_n: float = 5.0  # simulated pads, newtons
    touch_normalised: float = 0.5  # hardware pads, 0..1
    sound_dbfs: float = -20.0  # RMS of a chunk, dB relative to int16 full scale
    sound_s: float = 0.5  # of consecutive loud audio


def dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dB full scale; -inf for digital silence."""
    x = np.asarray(samples, np.float64)
    if x.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(x * x)))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0.0 else -math.inf


@dataclass
class Waker:
    """Decides from touch and sound whether to wake the sleeper, and says why.

    Loudness counts audio time, not chunks or wall time: a sound wakes once the chunks
    louder than the threshold, in a row, add up to `sound_s` of samples; one quiet chunk
    starts the count over, so speech in the room does not add up across its pauses.
    """

    thresholds: WakeThresholds = field(default_factory=WakeThresholds)
    loud_s: float = 0.0

    def reset(self) -> None:
        self.loud_s = 0.0

    def touch(self, pads: list[str], pressure: np.ndarray, normalised: bool) -> str | None:
        """The reason to wake, or None: the firmest press above the threshold."""
        if len(pressure) == 0:
            return None
        limit = self.thresholds.touch_normalised if normalised else self.thresholds.touch_n
        i = int(np.argmax(pressure))
        value = float(pressure[i])
        if not math.isfinite(value) or value <= limit:
            return None
        pad = pads[i] if i < len(pads) else f"pad {i}"
        unit = "" if normalised else " N"
        return f"a touch of {value:.2f}{unit} on {pad}"

    def sound(self, samples: np.ndarray, sample_rate: int, channels: int = 1) -> str | None:
        """The reason to wake, or None; call with every chunk, in order."""
        if sample_rate <= 0 or channels <= 0 or len(samples) == 0:
            return None
        level = dbfs(samples)
        if level <= self.thresholds.sound_dbfs:
            self.loud_s = 0.0
            return None
        self.loud_s += len(samples) / channels / sample_rate
        if self.loud_s + 1e-9 < self.thresholds.sound_s:
            return None
        return f"a sound of {level:.0f} dBFS for {self.loud_s:.2f} s"


# -- the action's messages ---------------------------------------------------------------
def result_message(result: NightResult) -> Sleep.Result:
    """A NightResult as the Sleep action's result: the version to wake with, and why."""
    told = result.dream
    return Sleep.Result(
        new_version=checkpoint.version_name(result.version),
        parent_version=checkpoint.version_name(result.parent),
        promoted=result.promoted,
        reason=result.reason,
        metrics_json=json.dumps(night_metrics(result)),
        dream="" if told is None else told.text,
        dream_strip="" if told is None or told.strip_path is None else str(told.strip_path),
    )


def feedback_message(p: NightProgress) -> Sleep.Feedback:
    return Sleep.Feedback(
        phase=p.phase,
        step=p.step,
        total_steps=p.steps,
        loss=float(p.loss) if p.loss is not None and math.isfinite(p.loss) else float("nan"),
        progress=float(p.fraction),
    )


def find_dream(brains: Path, version: str) -> tuple[str, DreamReport | None]:
    """(version name, its dream) for "" (the latest) or "v0003"/"3"; ("", None) if none."""
    version = version.strip()
    if not version:
        latest = checkpoint.latest(brains)
        if latest is None:
            return "", None
        return checkpoint.version_name(latest.version), last_dream(brains)
    try:
        number = int(version.removeprefix("v"))
    except ValueError:
        return "", None
    path = brains / checkpoint.version_name(number)
    if not path.is_dir():
        return "", None
    try:
        told = checkpoint.read_manifest(path).get("dream")
    except checkpoint.CheckpointError:
        return "", None
    return path.name, None if told is None else DreamReport.from_dict(told)


@dataclass
class _Night:
    """The goal being slept on, shared by the executor and the worker."""

    handle: ServerGoalHandle
    stop: threading.Event = field(default_factory=threading.Event)
    woken_by: str = ""
    progress: NightProgress | None = None  # the latest, written by the worker
    sent: NightProgress | None = None  # the latest sent as feedback (executor only)

    def wake(self, why: str) -> bool:
        """Ask the night to end; True the first time (the reason kept is the first)."""
        if self.stop.is_set():
            return False
        self.woken_by = why
        self.stop.set()
        return True


class SleepNode(Node):
    """Lifecycle node: configure opens the action and the service, activate takes goals."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("nemuri_sleep", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.config: SleepConfig | None = None
        self.replay_config = _REPLAY
        self.waker = Waker()
        self.last_result: NightResult | None = None
        self.last_problem = ""
        self._server: ActionServer | None = None
        self._dream_service: Service | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._night: _Night | None = None
        self._busy = False  # a goal accepted and not finished (executor thread only)
        self._active = False
        self._pubs: dict[str, Publisher] = {}
        self._periodic: list[Timer] = []

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.config, self.replay_config = self._night_config()
        except (ValueError, TypeError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        self.data_dir = Path(str(self.param("data_dir"))).expanduser()
        self.waker = Waker(
            WakeThresholds(
                touch_n=float(self.param("wake_touch_n")),
                touch_normalised=float(self.param("wake_touch_normalised")),
                sound_dbfs=float(self.param("wake_sound_dbfs")),
                sound_s=float(self.param("wake_sound_s")),
            )
        )
        self._pubs = {
            "diag": self.create_lifecycle_publisher(
                DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS
            )
        }
        self._server = ActionServer(
            self,
            Sleep,
            str(self.param("action_name")),
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
        )
        self._dream_service = self.create_service(
            Dream, str(self.param("dream_service")), self._on_dream
        )
        self.create_subscription(Touch, "/touch", self._on_touch, qos.SENSOR)
        self.create_subscription(AudioChunk, "/microphone/audio", self._on_audio, qos.SENSOR)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemuri-sleep")
        self.get_logger().info(f"ready to sleep on {self.data_dir}")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._active = True
        self._periodic = [
            self.create_timer(1.0 / float(self.param("feedback_hz")), self._on_feedback_timer),
            self.create_timer(
                1.0 / float(self.param("diagnostics_hz")), self._on_diagnostics_timer
            ),
        ]
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._active = False
        self._wake("the sleep node was deactivated")
        for timer in self._periodic:
            self.destroy_timer(timer)
        self._periodic = []
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        for sub in list(self.subscriptions):
            self.destroy_subscription(sub)
        if self._dream_service is not None:  # not self.services: those hold the lifecycle's
            self.destroy_service(self._dream_service)
            self._dream_service = None
        if self._server is not None:
            self._server.destroy()
            self._server = None
        self._pubs = {}
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Wake a night in progress and wait until it has ended cleanly (idempotent).

        A woken night stops at its next step and writes nothing, so this returns within
        a step, unless the night was already saving its version, which is then finished.
        """
        self._active = False
        self._wake("the sleep node is stopping")
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def _night_config(self) -> tuple[SleepConfig, ReplayConfig]:
        """SleepConfig and ReplayConfig from the parameters (ValueError if inconsistent)."""
        steps = int(self.param("steps"))
        schedule = replace(
            _NIGHT.schedule, lr_max=float(self.param("lr_max")), lr_min=float(self.param("lr_min"))
        )
        config = replace(
            _NIGHT,
            threads=int(self.param("threads")),
            max_seconds=float(self.param("max_seconds")),
            steps=steps if steps > 0 else None,
            today_passes=float(self.param("today_passes")),
            min_steps=int(self.param("min_steps")),
            max_steps=int(self.param("max_steps")),
            segment_ticks=int(self.param("segment_ticks")),
            batch_size=int(self.param("batch_size")),
            val_fraction=float(self.param("val_fraction")),
            replay_ratio=float(self.param("replay_ratio")),
            dream_ratio=float(self.param("dream_ratio")),
            training_dreams=int(self.param("training_dreams")),
            promote_min_gain=float(self.param("promote_min_gain")),
            past_max_regression=float(self.param("past_max_regression")),
            dream_report=bool(self.param("dream_report")),
            seed=int(self.param("seed")),
            schedule=schedule,
        )
        replay = ReplayConfig(
            max_segments=int(self.param("replay_max_segments")),
            max_bytes=int(self.param("replay_max_bytes")),
            seed=int(self.param("seed")),
        )
        if config.max_seconds <= 0 or float(self.param("feedback_hz")) <= 0:
            raise ValueError("max_seconds and feedback_hz must be positive")
        return config, replay

    # -- the action (executor thread) ---------------------------------------------------
    def _on_goal(self, goal: Sleep.Goal) -> GoalResponse:
        if not self._active:
            self.get_logger().warning("sleep goal rejected: the sleep node is not active")
            return GoalResponse.REJECT
        if self._busy:
            self.get_logger().warning("sleep goal rejected: already asleep")
            return GoalResponse.REJECT
        self._busy = True
        return GoalResponse.ACCEPT

    def _on_cancel(self, handle: ServerGoalHandle) -> CancelResponse:
        night = self._night
        if night is not None and night.handle == handle:
            night.wake("the goal was cancelled")
        return CancelResponse.ACCEPT

    async def _execute(self, handle: ServerGoalHandle) -> Sleep.Result:
        """Sleep on the worker; await it, so the executor spins on through the night."""
        night = _Night(handle)
        if handle.is_cancel_requested:
            night.wake("the goal was cancelled")
        self._night = night
        self.waker.reset()
        try:
            done: Future = Future(executor=self.executor)
            done.add_done_callback(lambda _: None)  # set_result then wakes the executor
            job: ThreadFuture = self._worker.submit(self._sleep, handle.request, night)
            job.add_done_callback(lambda _: done.set_result(None))
            await done
            outcome, result = job.result()
            self._send_feedback(night)
            if outcome == "aborted":
                handle.abort()
            elif outcome == "canceled" and handle.is_cancel_requested:
                handle.canceled()
            else:
                handle.succeed()
            return result
        finally:
            self._night = None
            self._busy = False

    def _sleep(self, goal: Sleep.Goal, night: _Night) -> tuple[str, Sleep.Result]:
        """One night, on the worker: ("succeeded" | "canceled" | "aborted", the result)."""
        log = self.get_logger()
        brains = self.data_dir / BRAINS_DIR
        try:
            days = [Path(p) for p in goal.day_logs]
            if not days:
                days, _ = unslept_days(self.data_dir)
            config = self.config
            if goal.budget_s > 0.0:
                config = replace(config, max_seconds=float(goal.budget_s))
            log.info(f"asleep on {', '.join(d.name for d in days) or 'nothing'}")

            def progress(p: NightProgress) -> None:
                night.progress = p

            result = consolidate(
                brains,
                days,
                ReplayStore(self.data_dir / REPLAY_DIR, self.replay_config),
                config,
                progress=progress,
                should_stop=night.stop.is_set,
            )
        except SleepError as err:
            return "aborted", self._not_slept(brains, f"not slept: {err}")
        except Exception as err:  # the core waits for an answer, whatever went wrong
            log.error(f"the night failed: {err!r}")
            return "aborted", self._not_slept(brains, f"the night failed: {err!r}")
        if result.interrupted and night.woken_by:
            result = replace(result, reason=f"{result.reason}: woken by {night.woken_by}")
        self.last_result, self.last_problem = result, ""
        log.info(result.reason)
        return ("canceled" if result.interrupted else "succeeded"), result_message(result)

    def _not_slept(self, brains: Path, reason: str) -> Sleep.Result:
        """An answer for a night that could not be slept: wake as the latest version."""
        self.get_logger().error(reason)
        self.last_problem = reason
        latest = checkpoint.latest(brains)
        name = "" if latest is None else checkpoint.version_name(latest.version)
        return Sleep.Result(new_version=name, parent_version=name, promoted=False, reason=reason)

    def _wake(self, why: str) -> None:
        night = self._night
        if night is not None and night.wake(why):
            self.get_logger().info(f"woken early by {why}")

    # -- feedback and health (executor thread) -----------------------------------------
    def _on_feedback_timer(self) -> None:
        night = self._night
        if night is not None:
            self._send_feedback(night)

    def _send_feedback(self, night: _Night) -> None:
        p = night.progress
        if p is None or p is night.sent:
            return
        night.sent = p
        night.handle.publish_feedback(feedback_message(p))

    def _on_diagnostics_timer(self) -> None:
        night = self._night
        p = None if night is None else night.progress
        values: dict[str, object] = {"asleep": night is not None}
        if p is not None:
            values.update(phase=p.phase, step=p.step, total_steps=p.steps, loss=p.loss)
        last = self.last_result
        if last is not None:
            values.update(
                last_version=checkpoint.version_name(last.version),
                last_promoted=last.promoted,
                last_reason=last.reason,
            )
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        status = convert.diagnostic_status(
            "nemuri_sleep: consolidation", self.get_name(), self.last_problem, values
        )
        if not self.last_problem:
            status.message = "awake" if p is None else f"asleep: {_describe(p)}"
        msg.status = [status]
        self._pubs["diag"].publish(msg)

    # -- what may wake it (executor thread) ---------------------------------------------
    def _on_touch(self, msg: Touch) -> None:
        if self._night is None:
            return
        pressure = np.frombuffer(msg.pressure, dtype=np.float32)
        why = self.waker.touch(list(msg.pads), pressure, bool(msg.normalised))
        if why is not None:
            self._wake(why)

    def _on_audio(self, msg: AudioChunk) -> None:
        if self._night is None:
            return
        samples = np.frombuffer(msg.samples, dtype=np.int16)
        why = self.waker.sound(samples, int(msg.sample_rate), int(msg.channels))
        if why is not None:
            self._wake(why)

    # -- the Dream service (executor thread) --------------------------------------------
    def _on_dream(self, request: Dream.Request, response: Dream.Response) -> Dream.Response:
        version, told = find_dream(self.data_dir / BRAINS_DIR, request.version)
        response.found = told is not None
        response.version = version
        if told is not None:
            response.report = told.text
            response.words = list(dict.fromkeys([*told.objects, *told.words]))
            response.strip = "" if told.strip_path is None else str(told.strip_path)
        return response


def _describe(p: NightProgress) -> str:
    if p.phase == "training":
        return f"training step {p.step}/{p.steps}"
    return p.phase if p.phase in PHASES else f"{p.phase}?"


def main(args: list[str] | None = None) -> None:
    run(SleepNode, args)


if __name__ == "__main__":
    main()
