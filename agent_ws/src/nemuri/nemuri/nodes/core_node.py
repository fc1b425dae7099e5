"""The core node: the Agent on a fixed-rate tick, fed by topics, acting on topics.

The executor thread only moves data. Subscriptions queue their inputs; the timer hands
each tick to one dedicated worker thread, and a tick that comes while the worker is still
busy is a missed tick (counted, never queued), which is how a slow brain becomes
sleepiness. Every call into the Agent runs on that worker, so the executor never waits on
the Agent's lock while a step runs, and never skips a timer period unseen.

When the caretaker asks aloud "what did you dream?" (word by word on /hearing/words), the
core recognises the question (nemuri.listener), asks the sleep node's Dream service about
its brain's version and says the report on /nemuri/speech: a reflex beside the brain,
which hears the words too but knows nothing of the night.

Once a second of node clock the core also keeps a 32x32 thumbnail of the camera in the
day log (the raw frame, area-downscaled as the vision encoder's input is): embeddings are
what the brain learns from, but a person, and the night's dream strip, need pictures.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.action import Sleep
from nemuri_msgs.msg import AgentState, Embedding, MotorCommand
from nemuri_msgs.srv import Dream
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionClient
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.timer import Timer
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from nemuri.agent import Agent, AgentConfig, InvalidObservation
from nemuri.contracts import MODALITIES
from nemuri.listener import DREAM, NOT_DREAMT, Listener, dream_answer
from nemuri.memory.daylog import thumbnail
from nemuri.nodes import convert, qos
from nemuri.nodes.camera_node import image_array
from nemuri.nodes.lifecycle import run
from nemuri.nodes.tick_grid import GridTimer, TicksOnWorker
from nemuri.wakeup import open_day, wake_agent, wake_from_sleep

NO_SLEEP_SERVER = "sleepy but no sleep server: living on the sliding window"
THUMBNAIL_PERIOD_NS = 1_000_000_000  # a day log thumbnail a second of node clock (DESIGN.md)
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("tick_hz", 10.0, "Tick rate of the core's timer, Hz."),
    (
        "tick_phase",
        0.2,
        "Where in each period the core ticks, as a fraction of it: sensors publish on the "
        "grid's instants (phase 0), so the core ticks this long after, on fresh embeddings.",
    ),
    ("data_dir", "~/.nemuri", "Holds brains/ (checkpoints) and days/ (day logs)."),
    ("runtime", "onnx", "Brain runtime for the tick: onnx or torch."),
    ("stale_periods", 1.5, "An embedding older than this many tick periods is masked."),
    ("speech_threshold", 0.6, "Voice the predicted word above this probability."),
    (
        "context_capacity",
        0,
        "Context ticks that count as full (sleepy); 0: the brain's own "
        "capacity, read from it at configure, which then sets this parameter to what is used.",
    ),
    ("sleep_action", "/nemuri/sleep", "Sleep action server the day is handed to."),
    (
        "dream_service",
        "/nemuri/dream",
        "Dream service asked when the caretaker asks aloud what it dreamt; the answer is "
        "said on /nemuri/speech.",
    ),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics."),
    ("inject_step_delay_s", 0.0, "TEST HOOK: every brain step first sleeps this long."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


class CoreNode(TicksOnWorker, Node):
    """Lifecycle node around one Agent: configure wakes it, activate starts the tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_core", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.agent: Agent | None = None
        self._pubs: dict[str, Publisher] = {}
        self._periodic: list[Timer] = []
        self._tick_timer: GridTimer | None = None
        self._inbox: deque[Callable[[], None]] = deque(maxlen=256)  # Agent calls, for the worker
        self._worker: ThreadPoolExecutor | None = None
        self._running: Future | None = None
        self._missed = 0  # ticks refused since the last one handed over (executor thread only)
        self._stats_lock = threading.Lock()
        self._stats = convert.TickStats()
        self._note = ""
        self._wake_version: str | None = None
        self._waking = False
        self._day_open = False
        self._last_thumbnail_ns: int | None = None  # node clock (executor thread only)

    def param(self, name: str) -> object:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        self.period_s = 1.0 / float(self.param("tick_hz"))
        self._stale_s = float(self.param("stale_periods")) * self.period_s
        self.data_dir = Path(str(self.param("data_dir"))).expanduser()
        config = AgentConfig(
            tick_hz=float(self.param("tick_hz")),
            stale_periods=float(self.param("stale_periods")),
            speech_threshold=float(self.param("speech_threshold")),
        )
        self.agent = wake_agent(
            self.data_dir,
            config,
            time.perf_counter,
            str(self.param("runtime")),
            capacity=int(self.param("context_capacity")),
            step_delay_s=float(self.param("inject_step_delay_s")),
        )
        self._day_open = True
        capacity = rclpy.Parameter("context_capacity", value=self.agent.meter.config.capacity)
        self.set_parameters([capacity])
        publisher = self.create_lifecycle_publisher
        self._pubs = {
            "motor": publisher(MotorCommand, "/nemuri/motor_command", qos.COMMAND),
            "speech": publisher(String, "/nemuri/speech", qos.SPEECH),
            "state": publisher(AgentState, "/nemuri/state", qos.STATE),
            "diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS),
        }
        for name in MODALITIES:
            self.create_subscription(
                Embedding,
                f"/nemuri/embedding/{name}",
                partial(self._on_embedding, name),
                qos.EMBEDDING,
            )
        self.create_subscription(String, "/hearing/words", self._on_word, qos.RELIABLE)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos.SENSOR)
        self.create_subscription(Image, "/camera/image_raw", self._on_image, qos.SENSOR)
        self._sleep_client = ActionClient(self, Sleep, str(self.param("sleep_action")))
        self._dream_client = self.create_client(Dream, str(self.param("dream_service")))
        self._listener = Listener()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemuri-tick")
        agent = self.agent
        self.get_logger().info(f"awake: brain {agent.brain_version}, age {agent.age_ticks} ticks")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if not self._day_open:
            self.agent.day_log, self._day_open = open_day(self.data_dir), True
        self._start_ticking(self._on_tick_timer)
        return super().on_activate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        self._destroy_endpoints()
        self._sleep_client.destroy()
        self.destroy_client(self._dream_client)
        self.agent, self._pubs = None, {}
        return super().on_cleanup(state)

    def _stopped_ticking(self) -> None:
        """The last tick has finished: the day log gets its metadata."""
        if self.agent is not None and self._day_open:
            self.agent.close()
            self._day_open = False

    # -- inputs (executor thread: queue for the worker, never touch the Agent) ----------
    def _on_embedding(self, topic_modality: str, msg: Embedding) -> None:
        said = convert.modality_name(msg)
        if said != topic_modality:
            self._input_problem(f"embedding on {topic_modality}'s topic says modality {said}")
            return
        stamp = convert.to_seconds(msg.header.stamp)
        age = self.get_clock().now().nanoseconds * 1e-9 - stamp
        if age > self._stale_s:
            self._input_problem(f"{said} embedding is {age:.3f} s old: masked", rejected=False)
        data = convert.embedding_data(msg)
        self._inbox.append(partial(self.agent.observe, said, data, stamp, msg.encoder_version))

    def _on_word(self, msg: String) -> None:
        self._inbox.append(partial(self.agent.hear, msg.data))
        now = self.get_clock().now().nanoseconds * 1e-9
        if self._listener.hear(msg.data, now) == DREAM:
            self._tell_dream()

    def _on_joints(self, msg: JointState) -> None:
        try:
            position, velocity = convert.joints_in_order(msg)
        except ValueError as err:
            self._input_problem(str(err))
            return
        self._inbox.append(partial(self.agent.sense_joints, position, velocity))

    def _on_image(self, msg: Image) -> None:
        """One frame a period becomes a thumbnail; the rest cost one clock read each."""
        now_ns = self.get_clock().now().nanoseconds
        last = self._last_thumbnail_ns
        if last is not None and last <= now_ns < last + THUMBNAIL_PERIOD_NS:
            return  # (a clock that went back, as a restarted sim's does, starts over)
        try:
            frame = image_array(msg)
        except ValueError as err:
            self._input_problem(f"camera frame for the thumbnail: {err}")
            return
        self._last_thumbnail_ns = now_ns
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self._inbox.append(partial(self._keep_thumbnail, stamp_ns or now_ns, frame))

    def _keep_thumbnail(self, stamp_ns: int, frame: np.ndarray) -> None:
        """On the worker: shrink the frame and hand it to the day log (the Agent)."""
        self.agent.add_thumbnail(stamp_ns * 1e-9, thumbnail(frame))

    def _input_problem(self, reason: str, rejected: bool = True) -> None:
        with self._stats_lock:
            self._stats.input_problem(reason, rejected)
        self.get_logger().warning(reason, throttle_duration_sec=5.0)

    # -- the tick: the timer hands over, the worker steps -------------------------------
    def _on_tick_timer(self) -> None:
        if self._running is not None and not self._running.done():
            self._missed += 0 if self._waking else 1  # loading a brain belongs to no day
            return
        self._waking = self._wake_version is not None
        if self._waking:
            job = partial(self._wake, self._wake_version)
        else:
            job = partial(self._tick, self.get_clock().now().nanoseconds, self._missed)
        self._missed = 0
        self._running = self._worker.submit(job)
        self._running.add_done_callback(self._on_job_done)

    def _tick(self, now_ns: int, missed: int) -> None:
        agent = self.agent
        while self._inbox:
            try:
                self._inbox.popleft()()
            except InvalidObservation as err:
                self._input_problem(str(err))
        if agent.asleep:
            state = convert.agent_state(agent, agent.tick_count, now_ns, 0.0, "")
            self._pubs["state"].publish(state)
            return
        if missed:
            agent.record_missed(missed)
        action = agent.tick(now_ns * 1e-9)
        self._pubs["motor"].publish(
            convert.motor_command(action.tick, now_ns, action.motor_velocity, agent.brain_version)
        )
        if action.spoken_word:
            self._pubs["speech"].publish(String(data=action.spoken_word))
        if agent.wants_sleep:
            self._fall_asleep(now_ns)
        self._pubs["state"].publish(
            convert.agent_state(agent, action.tick, now_ns, action.step_latency_s, self._note)
        )
        with self._stats_lock:
            self._stats.ticked(action.present)

    def _on_job_done(self, future: Future) -> None:
        if (err := future.exception()) is not None:  # the tick loop outlives one bad tick
            self.get_logger().error(f"tick failed: {err!r}", throttle_duration_sec=5.0)

    # -- sleep: hand the day to the sleep server, wake with what it returns -------------
    def _fall_asleep(self, now_ns: int) -> None:
        if not self._sleep_client.server_is_ready():
            if not self._note:  # said once, not every tick
                self._note = NO_SLEEP_SERVER
                self.get_logger().warning(NO_SLEEP_SERVER)
            return
        agent, self._note = self.agent, ""
        day = str(agent.day_log.path) if agent.day_log is not None else ""
        rest = convert.motor_command(agent.tick_count, now_ns, None, agent.brain_version)
        self._pubs["motor"].publish(rest)
        agent.fall_asleep()
        self._day_open = False
        self.get_logger().info(f"falling asleep after {agent.tick_count} ticks; day log {day}")
        goal = Sleep.Goal(day_logs=[day] if day else [], budget_s=0.0)
        self._sleep_client.send_goal_async(goal).add_done_callback(self._on_sleep_accepted)

    def _on_sleep_accepted(self, future: rclpy.task.Future) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            self.get_logger().warning("sleep goal refused: waking with the same brain")
            self._wake_version = self.agent.brain_version
            return
        handle.get_result_async().add_done_callback(self._on_sleep_result)

    def _on_sleep_result(self, future: rclpy.task.Future) -> None:
        result = future.result().result
        self.get_logger().info(f"slept ({result.reason}); waking as {result.new_version}")
        self._wake_version = result.new_version or self.agent.brain_version

    def _wake(self, version: str) -> None:
        """New brain from the checkpoint, empty context, new day (on the worker)."""
        runtime, delay = str(self.param("runtime")), float(self.param("inject_step_delay_s"))
        woke_as = wake_from_sleep(self.agent, self.data_dir, runtime, version, delay)
        self.get_logger().info(f"woke as {woke_as} (asked for {version}), context empty")
        self._inbox.clear()
        self._day_open, self._wake_version = True, None

    # -- "what did you dream?": the night's report, said aloud (executor thread) ---------
    def _tell_dream(self) -> None:
        """Ask the sleep node what this brain dreamt; say it when the answer comes.

        Asleep, the agent does not speak; with no sleep node it cannot have dreamt.
        """
        agent = self.agent
        if agent is None or agent.asleep:
            return
        if not self._dream_client.service_is_ready():
            self._say(NOT_DREAMT)
            return
        request = Dream.Request(version=agent.brain_version)
        self._dream_client.call_async(request).add_done_callback(self._on_dream)

    def _on_dream(self, future: rclpy.task.Future) -> None:
        if (err := future.exception()) is not None or future.result() is None:
            self.get_logger().warning(f"the dream service did not answer: {err!r}")
            return
        response = future.result()
        self._say(dream_answer(response.found, response.report))

    def _say(self, text: str) -> None:
        self.get_logger().info(f"asked what it dreamt: {text}")
        self._pubs["speech"].publish(String(data=text))

    # -- health -------------------------------------------------------------------------
    def _on_diagnostics_timer(self) -> None:
        with self._stats_lock:
            stats, self._stats = self._stats, convert.TickStats()
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [convert.core_status(self.agent, stats, self._note, self.get_name())]
        self._pubs["diag"].publish(msg)


def main(args: list[str] | None = None) -> None:
    run(CoreNode, args)


if __name__ == "__main__":
    main()
