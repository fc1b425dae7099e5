"""The built-in world as an observation source for the lock-step harness, no ROS.

world -> encoders -> Agent -> world, in one process and one thread: the caretaker acts,
the world steps with the agent's last motor command, the senses are rendered and encoded
by the same ONNX encoders the sensor nodes run, and the agent's next command goes back to
the world. Deterministic for a seed, so benchmarks and tests can compare runs tick by tick.

Per tick the order is the world node's: caretaker.tick(k), its utterance into the
microphone, world.step(command), then the camera frame, microphone block, touch and joint
state of tick k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nemuri.agent import Action
from nemuri.contracts import MODALITIES, TICK_HZ
from nemuri.harness import Observation
from nemuri.senses.runtime import EncoderRuntime
from nemuri.senses.voice import Voice
from nemuri.worlds.caretaker import Caretaker, CaretakerEvents
from nemuri.worlds.curriculum import Curriculum
from nemuri.worlds.microphone import Microphone, MicrophoneConfig
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig
from nemuri.worlds.objects import catalogue_with


def encoders() -> dict[str, EncoderRuntime]:
    """The shipped encoders, one per modality, one thread each."""
    return {m: EncoderRuntime(m) for m in MODALITIES}


@dataclass(frozen=True)
class SimulatedDayConfig:
    tick_hz: float = TICK_HZ
    seed: int = 0
    camera_size: int = 96
    noise_dbfs: float = -60.0


class SimulatedDay:
    """One curriculum day in the MuJoCo world, sensed through the encoders."""

    def __init__(
        self,
        curriculum: Curriculum,
        config: SimulatedDayConfig | None = None,
        senses: dict[str, EncoderRuntime] | None = None,
        caretaker: Caretaker | None = None,
        world: MujocoWorld | None = None,
    ) -> None:
        self.config = config or SimulatedDayConfig()
        c = self.config
        if world is None:
            world = MujocoWorld(
                WorldConfig(
                    tick_hz=c.tick_hz,
                    camera_width=c.camera_size,
                    camera_height=c.camera_size,
                    objects=catalogue_with([o.object for o in curriculum.objects]),
                )
            )
            world.reset(c.seed)
        self.world = world
        self.caretaker = caretaker or Caretaker(curriculum, world, voice=Voice(), seed=c.seed)
        self.microphone = Microphone(
            MicrophoneConfig(tick_hz=c.tick_hz, noise_dbfs=c.noise_dbfs), c.seed
        )
        self.senses = senses or encoders()
        self.versions = {m: enc.version for m, enc in self.senses.items()}
        self.events: CaretakerEvents | None = None
        self._command: np.ndarray | None = None
        self.last_frame: np.ndarray | None = None  # the camera's latest (H, W, 3) RGB frame

    def sense(self, tick: int, now: float) -> Observation:
        events = self.events = self.caretaker.tick(tick)
        if events.audio is not None:
            self.microphone.play(events.audio)
        self.world.step(self._command)
        self._command = None
        _, position, velocity = self.world.joint_state()
        _, newtons = self.world.touch()
        frame = self.last_frame = self.world.render_camera(
            self.config.camera_size, self.config.camera_size
        )
        raw = {
            "vision": frame,
            "audio": self.microphone.block(),
            "touch": newtons,
            "proprio": np.concatenate([position, velocity]),
        }
        embeddings = {m: enc.encode(raw[m]) for m, enc in self.senses.items()}
        return Observation(
            embeddings=embeddings,
            heard_word=events.word,
            joint_position=position,
            joint_velocity=velocity,
            encoder_versions=self.versions,
        )

    def act(self, action: Action) -> None:
        self._command = action.motor_velocity
