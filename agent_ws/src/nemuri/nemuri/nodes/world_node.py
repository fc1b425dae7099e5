"""The built-in world as a ROS node: MuJoCo, the caretaker and the microphone, on /clock.

A thread of the node's own steps the world tick by tick and publishes what the robot
senses, stamped with sim time. It paces itself on the wall clock (`real_time_factor`: 1 is
real time, 2 twice as fast, 0 as fast as it can), never on the node's clock, because with
use_sim_time that clock is /clock, which only this thread moves; and not on an executor
timer, which at "as fast as it can" would starve the subscriptions sharing the executor.

One tick, k -> k + 1: inputs that arrived are applied (speaker audio into the microphone,
questions to the caretaker); the caretaker acts at k / tick_hz (shows, names, guides,
pats); the world steps under the last velocity command; the microphone hands out block k.
Then /clock says (k + 1) / tick_hz and everything published with it describes that
instant: camera, joints and touch are stamped with it; the audio block covers
[k, k + 1) / tick_hz and is stamped k / tick_hz (its first sample, as AudioChunk says); a
word the caretaker began at k / tick_hz goes to /hearing/words right after it. The first
/clock is therefore one period, never 0, which ROS reads as "no clock yet". The step and
the senses come `sense_lead` of a period before that /clock (by default at 0.8 of the
period before, after the last phase that reads tick k's senses, the actuator's 0.6), so
that every subscriber holds them when the /clock of their instant arrives.

Publishes /clock, /camera/image_raw, /microphone/audio, /touch, /joint_states,
/hearing/words and /diagnostics. Listens to /world/joint_velocity_commands (Float64MultiArray,
rad/s in contracts.JOINTS order: what the actuator node's topic driver sends after its
safety gate), /speaker/audio (the robot's own voice, mixed into the microphone so it hears
itself), /world/caretaker/ask (String: the caretaker asks it aloud, word by word) and
/nemuri/state (when the robot wakes from a night the caretaker asks what it dreamt).

Velocity commands are held like a ros2_control forward command controller holds them,
except that one older than `command_timeout_s` of sim time counts as zero: if the actuator
node dies, the servos stop where they are rather than run to their limits.
"""

from __future__ import annotations

import array
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nemuri_msgs.msg import AgentState, AudioChunk, Touch
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import Node, Publisher, State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String

from nemuri.contracts import JOINTS
from nemuri.nodes import convert, qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.speech_node import audio_chunk, chunk_samples
from nemuri.senses.voice import SAMPLE_RATE, Voice, VoiceConfig, VoiceError, espeak_available
from nemuri.worlds.caretaker import WHAT_DID_YOU_DREAM, Caretaker
from nemuri.worlds.curriculum import CurriculumError, load_curriculum
from nemuri.worlds.microphone import Microphone, MicrophoneConfig

# Nothing above imports mujoco, so mujoco_world picks MuJoCo's headless GL backend first.
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig, rendering_available
from nemuri.worlds.objects import catalogue_with

# Reliable, so a recorder gets every tick, and a best-effort /clock subscriber (rclpy's
# use_sim_time) still matches; keep-last, so a slow reader never stalls the world.
CLOCK_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("tick_hz", 10.0, "Ticks per simulated second: physics, camera, audio blocks and /clock."),
    (
        "clock_steps",
        10,
        "/clock messages per tick: time also flows between ticks, so timers on sim time "
        "(the core's tick at its phase, the actuator's) fire where they belong in the period.",
    ),
    (
        "real_time_factor",
        1.0,
        "Simulated seconds per wall second: 1 real time, >1 faster, 0 as fast as possible. "
        "Faster than real time, every other node must run with use_sim_time.",
    ),
    (
        "seed",
        -1,
        "Seeds the lesson order, object placements and microphone noise; -1: the "
        "curriculum file's own seed.",
    ),
    ("curriculum", "", "Course YAML the caretaker teaches from; empty: the shipped one."),
    ("day", 1, "Which day of the course the caretaker teaches."),
    ("camera_width", 96, "Width of /camera/image_raw, pixels (the camera's raw size)."),
    ("camera_height", 96, "Height of /camera/image_raw, pixels."),
    ("caretaker", True, "Whether the caretaker teaches; false: the robot alone at its table."),
    ("voice", "en-us", "espeak-ng voice of the caretaker."),
    (
        "ask_dream_on_waking",
        True,
        'The caretaker asks aloud "what did you dream?" when it sees the robot wake from a '
        "night (/nemuri/state going from asleep to awake).",
    ),
    ("noise_dbfs", -60.0, "Microphone noise floor, RMS dBFS; -.inf: digital silence."),
    (
        "command_timeout_s",
        0.5,
        "A velocity command older than this (sim seconds) counts as zero; 0: held forever.",
    ),
    (
        "sense_lead",
        0.2,
        "How far ahead of its /clock a tick's senses are published, as a fraction of the "
        "period (rounded to clock steps, at most all but one): after every phase that reads "
        "the last tick's (sensors 0, core 0.2, actuator 0.6), early enough that a subscriber "
        "has them before the /clock that makes them now.",
    ),
    ("diagnostics_hz", 1.0, "Rate of /diagnostics, per wall second."),
    ("autostart", True, "main() configures and activates at start (no lifecycle manager)."),
)


class WorldNode(Node):
    """Lifecycle node around one MuJoCo world: configure builds it, activate runs time."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_world", **kwargs)
        for name, default, why in PARAMETERS:
            self.declare_parameter(name, default, ParameterDescriptor(description=why))
        self.world: MujocoWorld | None = None
        self.caretaker: Caretaker | None = None
        self.microphone: Microphone | None = None
        self._pubs: dict[str, Publisher] = {}
        self._inputs: list[Subscription] = []
        self._inbox: deque[Callable[[], None]] = deque(maxlen=256)  # for the stepping thread
        self._command: tuple[np.ndarray, int] | None = None  # (rad/s, world tick it came at)
        self._stepper: threading.Thread | None = None
        self._stop = threading.Event()
        self._robot_asleep = False  # as /nemuri/state last said (executor thread only)
        self.rejected_commands = 0
        self.ticks_per_second = 0.0  # measured over the last diagnostics window

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -- lifecycle ----------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._build()
        except (CurriculumError, ValueError, VoiceError) as err:
            self.get_logger().error(f"cannot build the world: {err}")
            return TransitionCallbackReturn.FAILURE
        publisher = self.create_lifecycle_publisher
        self._pubs = {
            "clock": publisher(Clock, "/clock", CLOCK_QOS),
            "image": publisher(Image, "/camera/image_raw", qos.SENSOR),
            "audio": publisher(AudioChunk, "/microphone/audio", qos.SENSOR),
            "touch": publisher(Touch, "/touch", qos.SENSOR),
            "joints": publisher(JointState, "/joint_states", qos.SENSOR),
            "words": publisher(String, "/hearing/words", qos.RELIABLE),
            "diag": publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS),
        }
        subscribe = self.create_subscription
        self._inputs = [
            subscribe(
                Float64MultiArray, "/world/joint_velocity_commands", self._on_command, qos.COMMAND
            ),
            subscribe(AudioChunk, "/speaker/audio", self._on_speaker, qos.RELIABLE),
            subscribe(String, "/world/caretaker/ask", self._on_ask, qos.RELIABLE),
            subscribe(AgentState, "/nemuri/state", self._on_agent_state, qos.STATE),
        ]
        return super().on_configure(state)

    def _build(self) -> None:
        tick_hz = float(self.param("tick_hz"))
        curriculum = None
        if self.param("caretaker"):
            path = str(self.param("curriculum")) or None
            curriculum = load_curriculum(path, int(self.param("day")))
            curriculum = curriculum.at_rate(tick_hz)
        seed = int(self.param("seed"))
        seed = curriculum.seed if seed < 0 and curriculum is not None else max(seed, 0)
        needed = [o.object for o in curriculum.objects] if curriculum is not None else []
        config = WorldConfig(
            tick_hz=tick_hz,
            camera_width=int(self.param("camera_width")),
            camera_height=int(self.param("camera_height")),
            objects=catalogue_with(needed),
        )
        self.world = MujocoWorld(config)
        self.world.reset(seed)
        self.microphone = Microphone(
            MicrophoneConfig(tick_hz=tick_hz, noise_dbfs=float(self.param("noise_dbfs"))), seed
        )
        if curriculum is not None:
            voice = None
            if espeak_available():
                voice = Voice(VoiceConfig(voice=str(self.param("voice"))))
            else:
                self.get_logger().warning("no espeak-ng: the caretaker's words make no sound")
            self.caretaker = Caretaker(curriculum, self.world, voice, seed=seed)
        self._command_timeout_s = float(self.param("command_timeout_s"))
        steps, lead = int(self.param("clock_steps")), float(self.param("sense_lead"))
        if steps < 1 or not 0.0 <= lead < 1.0:
            raise ValueError(f"clock_steps must be >= 1 and sense_lead in [0, 1): {steps}, {lead}")
        self._lead_steps = min(steps - 1, round(lead * steps))
        self._announced, self._word = self.world.tick, None  # instant 0 is never announced
        self._render = rendering_available()
        if not self._render:
            self.get_logger().warning("no headless GL (EGL/OSMesa): no /camera/image_raw")

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # publishers first: the thread publishes at once
        self._stop.clear()
        self._stepper = threading.Thread(target=self._run, name="nemuri-world", daemon=True)
        self._stepper.start()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_stepping()  # sim time stands still until the next activate
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.close()
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        for sub in self._inputs:  # ours only: use_sim_time's /clock subscription stays
            self.destroy_subscription(sub)
        self._inputs = []
        self._pubs, self.world, self.caretaker, self.microphone = {}, None, None, None
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def close(self) -> None:
        """Stop time; the stepping thread frees the GL contexts as it ends (idempotent)."""
        self._stop_stepping()

    def _stop_stepping(self) -> None:
        self._stop.set()
        if self._stepper is not None:
            self._stepper.join()
            self._stepper = None

    # -- inputs (executor thread: hand over to the stepping thread) ---------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        velocity = np.frombuffer(msg.data, dtype=np.float64).copy()
        if velocity.shape != (len(JOINTS),):
            self.rejected_commands += 1
            self.get_logger().warning(
                f"velocity command with {velocity.size} values ignored: expected "
                f"{len(JOINTS)}, in the order {', '.join(JOINTS)}",
                throttle_duration_sec=5.0,
            )
            return
        self._command = (velocity, self.world.tick)

    def _on_speaker(self, msg: AudioChunk) -> None:
        if msg.sample_rate != SAMPLE_RATE or msg.channels != 1:
            self.get_logger().warning(
                f"speaker audio at {msg.sample_rate} Hz x {msg.channels} ignored: the "
                f"microphone hears {SAMPLE_RATE} Hz mono",
                throttle_duration_sec=5.0,
            )
            return
        samples = chunk_samples(msg).copy()
        self._inbox.append(lambda: self.microphone.feed("speaker", samples))

    def _on_ask(self, msg: String) -> None:
        if self.caretaker is not None:
            self._inbox.append(lambda: self.caretaker.ask(msg.data))

    def _on_agent_state(self, msg: AgentState) -> None:
        """A person who sees the robot wake from a night asks it what it dreamt."""
        asleep = msg.phase == AgentState.ASLEEP
        woke, self._robot_asleep = self._robot_asleep and not asleep, asleep
        if woke and self.caretaker is not None and self.param("ask_dream_on_waking"):
            self._inbox.append(lambda: self.caretaker.ask(WHAT_DID_YOU_DREAM))

    # -- time (the stepping thread) -----------------------------------------------------
    def _run(self) -> None:
        """Step, publish, let sim time flow to the next tick's deadline; until told to stop.

        An activate after a deactivate that fell between a step and its /clock announces
        that tick first, so a pause never skips a tick of sim time.
        """
        period = 1.0 / float(self.param("tick_hz"))
        factor = float(self.param("real_time_factor"))
        wall_period = period / factor if factor > 0 else 0.0
        diag_period = 1.0 / float(self.param("diagnostics_hz"))
        try:
            if self._announced == self.world.tick:
                self._step()  # the first instant's senses, before its /clock
            start, first = time.monotonic(), self.world.tick
            window, window_tick = start, first
            while not self._stop.is_set():
                self._announce()
                now = time.monotonic()
                if now - window >= diag_period:
                    self.ticks_per_second = (self.world.tick - window_tick) / (now - window)
                    self._publish_diagnostics(period)
                    window, window_tick = now, self.world.tick
                deadline = None
                if factor > 0:
                    deadline = start + (self.world.tick + 1 - first) * wall_period
                    if deadline - now < -1.0:  # more than a second behind: catch up no more
                        start, first = now, self.world.tick
                        deadline = now + wall_period
                if self._flow_until(deadline, wall_period):
                    return
        except Exception as err:  # a broken world stops time where everyone can see it
            if self.context.ok():  # else rclpy shut down under us (Ctrl-C): not the world's fault
                self.get_logger().error(f"world stopped at tick {self.world.tick}: {err!r}")
        finally:
            # A GL context stays current to the thread that rendered, even once it has
            # ended: free it here; the next activate's thread makes its own on demand.
            self.world.close()

    def _flow_until(self, deadline: float | None, wall_period: float) -> bool:
        """Let sim time flow through the period after a tick, in `clock_steps` steps, and
        step the next tick `sense_lead` of a period before its /clock; True when stopped.

        The intermediate /clock values let timers on sim time fire at their phase of the
        period. The next tick's senses go out that early because a subscriber must have
        them before the /clock that makes their instant "now": rclpy's executor runs a
        ready timer before a ready subscription, so a frame arriving together with its
        /clock would be read by a sensor ticking at phase 0 one tick late.
        """
        steps = int(self.param("clock_steps"))
        step_after = steps - self._lead_steps  # the clock step the next tick follows
        base_ns = self._stamp_ns(self.world.tick)
        period_ns = self._stamp_ns(1)
        for j in range(1, steps):
            at = None if deadline is None else deadline - wall_period + j * wall_period / steps
            if self._wait_until(at):
                return True
            stamp = convert.to_stamp(base_ns + j * period_ns // steps)
            self._pubs["clock"].publish(Clock(clock=stamp))
            if j == step_after:
                self._step()
        if step_after == steps:  # no lead: step at the deadline, right before the /clock
            if self._wait_until(deadline):
                return True
            self._step()
        return self._wait_until(deadline)

    def _wait_until(self, wall: float | None) -> bool:
        """Wait for the wall-clock instant `wall` (None: not at all); True when stopped."""
        if wall is None:
            return self._stop.is_set()
        return self._stop.wait(max(0.0, wall - time.monotonic()))

    def _step(self) -> None:
        """Tick k -> k + 1 and publish what is sensed at k + 1 (the module docstring says
        what is published when); its /clock and the word begun at k follow in _announce."""
        world, k = self.world, self.world.tick
        while self._inbox:
            try:
                self._inbox.popleft()()
            except ValueError as err:  # a question outside the vocabulary
                self.get_logger().warning(str(err), throttle_duration_sec=5.0)
        events = self.caretaker.tick(k) if self.caretaker is not None else None
        if events is not None and events.audio is not None:
            self.microphone.play(events.audio)
        world.step(self._current_command(k))
        block = self.microphone.block()
        now_ns = self._stamp_ns(world.tick)
        if self._render:
            self._pubs["image"].publish(image(world.render_camera(), now_ns))
        self._pubs["joints"].publish(joint_state(*world.joint_state(), now_ns))
        self._pubs["touch"].publish(touch(*world.touch(), now_ns))
        self._pubs["audio"].publish(audio_chunk(block, self._stamp_ns(k), "microphone_link"))
        self._word = events.word if events is not None else None

    def _announce(self) -> None:
        """The /clock that makes the stepped tick "now", then the word begun a tick before."""
        self._pubs["clock"].publish(Clock(clock=convert.to_stamp(self._stamp_ns(self.world.tick))))
        if self._word is not None:
            self._pubs["words"].publish(String(data=self._word))
        self._announced, self._word = self.world.tick, None

    def _current_command(self, tick: int) -> np.ndarray | None:
        if self._command is None:
            return None
        velocity, since = self._command
        timeout = self._command_timeout_s
        stale = timeout > 0 and (tick - since) / self.world.config.tick_hz > timeout
        return None if stale else velocity

    def _stamp_ns(self, tick: int) -> int:
        return round(tick * 1e9 / self.world.config.tick_hz)

    def _publish_diagnostics(self, period: float) -> None:
        values = {
            "tick": self.world.tick,
            "sim_time_s": f"{self.world.sim_time:.3f}",
            "ticks_per_second": f"{self.ticks_per_second:.1f}",
            "real_time_factor_measured": f"{self.ticks_per_second * period:.2f}",
            "rejected_commands": self.rejected_commands,
            "speaker_chunks_dropped": self.microphone.dropped,
            "camera": "on" if self._render else "off (no headless GL)",
            "caretaker_phase": "off" if self.caretaker is None else self.caretaker_phase(),
        }
        warn = "" if self._render else "no headless GL: no camera images"
        msg = DiagnosticArray()
        msg.header.stamp = convert.to_stamp(self._stamp_ns(self.world.tick))
        msg.status = [convert.diagnostic_status("nemuri_world", self.get_name(), warn, values)]
        self._pubs["diag"].publish(msg)

    def caretaker_phase(self) -> str:
        """What the caretaker is doing at the world's current tick (a curriculum phase)."""
        segment = self.caretaker.segment_at(self.world.tick)
        return "idle" if segment is None else segment.phase(self.world.tick)


# -- messages (filled from bytes: element-wise filling is ~15x slower) ------------------
def image(rgb: np.ndarray, stamp_ns: int) -> Image:
    """An rgb8 Image of the head camera, (H, W, 3) uint8."""
    msg = Image()
    msg.header.stamp = convert.to_stamp(stamp_ns)
    msg.header.frame_id = "camera_optical_frame"
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.step = 3 * msg.width
    msg.data = array.array("B", np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
    return msg


def joint_state(
    names: tuple[str, ...], position: np.ndarray, velocity: np.ndarray, stamp_ns: int
) -> JointState:
    """The robot's joints in rad and rad/s."""
    msg = JointState()
    msg.header.stamp = convert.to_stamp(stamp_ns)
    msg.name = list(names)
    msg.position = convert.float64_array(position)
    msg.velocity = convert.float64_array(velocity)
    return msg


def touch(pads: tuple[str, ...], newtons: np.ndarray, stamp_ns: int) -> Touch:
    """Pad pressures in newtons (normalised=false: the simulation measures force)."""
    msg = Touch()
    msg.header.stamp = convert.to_stamp(stamp_ns)
    msg.pads = list(pads)
    msg.pressure = convert.float32_array(newtons)
    msg.normalised = False
    return msg


def main(args: list[str] | None = None) -> None:
    run(WorldNode, args)


if __name__ == "__main__":
    main()
