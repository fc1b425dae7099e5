"""The data the senses learn from, made by the project itself: world frames and spoken words.

No downloaded data and no labels in training. Two sources:

- **Frames of the built-in MuJoCo world.** A *scene* is one moment of a lesson: an object
  (sometimes two) on the table at some place and turn. Its *views* are what the robot
  sees of it a moment apart: the head aimed near the object with a small random offset,
  the object turned a little in the caretaker's hand, the arm somewhere, the light changed
  a little. Views of one scene are the contrastive positives (frames close in time show
  the same thing); nothing says which object it is, although `object_ids` is returned so
  tests can score nearest-neighbour identity.
- **Words spoken by espeak-ng** (senses/voice.py), every vocabulary word in a few voices
  and speeds. `augment_utterance` places a word in the last second the microphone keeps,
  at a random moment, speed and loudness, over noise; two such renditions of one
  utterance are the audio positives.

Poses are set kinematically (joint angles and object poses written, no physics stepped):
a frame only needs where things are, and this makes thousands of frames in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nemuri.contracts import JOINTS
from nemuri.senses.preprocess import HOP, N_FRAMES, WINDOW, last_second
from nemuri.senses.voice import synthesize
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig
from nemuri.worlds.objects import ObjectSpec, object_catalogue

# Samples that make up the encoder's N_FRAMES frames: 1 s plus the last window's overhang.
CLIP_SAMPLES = (N_FRAMES - 1) * HOP + WINDOW

# Where the head's tilt axis sees from (world frame, m) when the head is level: used to
# aim the camera at an object. Measured from the URDF (camera ~4 cm ahead of the pan axis).
_EYE_HEIGHT_ABOVE_TABLE = 0.37
_EYE_FORWARD = 0.04


# ------------------------------------------------------------------------------ frames
@dataclass(frozen=True)
class Lighting:
    """The world's light for one frame: the sun's colour and direction, the ambient glow."""

    diffuse: tuple[float, float, float] = (0.7, 0.7, 0.7)
    direction: tuple[float, float, float] = (-0.2, 0.2, -1.0)
    ambient: float = 0.35
    headlight: float = 0.25


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """A random daylight: dim to bright, slightly warm or cool, from some way overhead."""
    level = rng.uniform(0.3, 1.0)
    tint = 1.0 + rng.uniform(-0.12, 0.12, size=3)
    azimuth, slant = rng.uniform(-math.pi, math.pi), rng.uniform(0.0, 0.7)
    direction = (math.sin(slant) * math.cos(azimuth), math.sin(slant) * math.sin(azimuth), -1.0)
    return Lighting(
        diffuse=tuple((level * tint).tolist()),
        direction=direction,
        ambient=float(rng.uniform(0.15, 0.5)),
        headlight=float(rng.uniform(0.1, 0.35)),
    )


def apply_lighting(world: MujocoWorld, lighting: Lighting) -> None:
    """Set the world's (one, directional) light and MuJoCo's headlight for the next render."""
    model = world.model
    model.light_diffuse[:] = lighting.diffuse
    direction = np.asarray(lighting.direction, dtype=np.float64)
    model.light_dir[:] = direction / np.linalg.norm(direction)
    model.vis.headlight.ambient[:] = lighting.ambient
    model.vis.headlight.diffuse[:] = lighting.headlight


@dataclass(frozen=True)
class SceneViews:
    """Rendered views: images (scenes, views, 96, 96, 3) uint8, and each scene's object."""

    images: np.ndarray
    object_ids: np.ndarray  # (scenes,) index into `objects`: for scoring only, never training
    objects: tuple[ObjectSpec, ...]


def make_world(n_objects: int = 48) -> MujocoWorld:
    """The built-in world with the first n catalogue objects showable (48 = all of them)."""
    return MujocoWorld(WorldConfig(objects=object_catalogue(n_objects)))


class ViewMaker:
    """Poses the robot, the objects and the light in a world and renders the head camera.

    It rewrites the world's state and light as it likes: give it a world of its own.
    """

    def __init__(self, world: MujocoWorld) -> None:
        self.world = world
        model = world.model
        self._qadr = {name: int(model.joint(name).qposadr[0]) for name in JOINTS}
        self.limits = world.limits
        self.rest = dict(zip(JOINTS, world.rest_pose().tolist(), strict=True))
        self.table_height = world.config.table_height

    def place(self, name: str, x: float, y: float, yaw: float) -> None:
        """Stand an object upright on the table at (x, y), turned `yaw` about the vertical."""
        spec = next(s for s in self.world.objects() if s.name == name)
        self.world.show(name, (x, y, self.table_height + spec.half_height))
        mocap = int(self.world.model.body(name).mocapid[0])
        self.world.data.mocap_quat[mocap] = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]

    def pose(self, positions: dict[str, float]) -> None:
        """Write joint angles (rad, clamped to the URDF ranges) straight into the state
        (render_camera recomputes the kinematics before drawing)."""
        for name, value in positions.items():
            limit = self.limits[name]
            self.world.data.qpos[self._qadr[name]] = min(max(value, limit.lower), limit.upper)

    def aim(self, x: float, y: float, z: float) -> dict[str, float]:
        """Head angles that centre the world point (x, y, z) in the camera's view."""
        pan = math.atan2(y, x)
        height = self.table_height + _EYE_HEIGHT_ABOVE_TABLE - z
        tilt = math.atan2(height, math.hypot(x, y) - _EYE_FORWARD)
        return {"head_pan": pan, "head_tilt": tilt}

    def clear(self) -> None:
        """Hide every object."""
        for name in self.world.shown():
            self.world.hide(name)

    def render(self) -> np.ndarray:
        """The head camera's frame, (H, W, 3) uint8."""
        return self.world.render_camera()


_ARM = ("shoulder", "elbow", "gripper")


def _random_arm(rng: np.random.Generator, maker: ViewMaker) -> dict[str, float]:
    """Half the time at rest, else anywhere in range (sometimes reaching into view)."""
    if rng.random() < 0.5:
        return {name: maker.rest[name] for name in _ARM}
    limits = maker.limits
    return {name: float(rng.uniform(limits[name].lower, limits[name].upper)) for name in _ARM}


def render_scenes(
    maker: ViewMaker,
    n_scenes: int,
    n_views: int,
    seed: int,
    object_ids: Sequence[int] | None = None,
    clutter: float = 0.0,
) -> SceneViews:
    """n_scenes scenes of n_views views each (see the module docstring).

    object_ids: which object each scene shows (default: uniform at random). clutter: the
    probability that a second object stands off to one side.
    """
    rng = np.random.default_rng(seed)
    objects = tuple(maker.world.objects())
    if object_ids is None:
        ids = rng.integers(0, len(objects), size=n_scenes)
    else:
        ids = np.asarray(object_ids, dtype=np.int64)
        if ids.shape != (n_scenes,):
            raise ValueError(f"object_ids needs {n_scenes} entries, got {ids.shape}")
    size = maker.world.config.camera_height, maker.world.config.camera_width
    images = np.zeros((n_scenes, n_views, *size, 3), dtype=np.uint8)
    for s, obj in enumerate(ids):
        maker.clear()
        spec = objects[obj]
        x, y = rng.uniform(0.22, 0.40), rng.uniform(-0.12, 0.12)
        yaw = rng.uniform(-math.pi, math.pi)
        if rng.random() < clutter:
            other = objects[(obj + rng.integers(1, len(objects))) % len(objects)]
            side = math.copysign(1.0, -y) if abs(y) > 0.02 else rng.choice([-1.0, 1.0])
            other_at = (rng.uniform(0.25, 0.45), y + side * rng.uniform(0.11, 0.18))
            maker.place(other.name, *other_at, rng.uniform(-math.pi, math.pi))
        for v in range(n_views):
            # The caretaker's hand moves and turns the object a little; the robot's eyes
            # wander around it: the object is seen from elsewhere, on another patch of table.
            vx, vy = x + rng.normal(0.0, 0.025), y + rng.normal(0.0, 0.025)
            maker.place(spec.name, vx, vy, yaw + rng.normal(0.0, 0.5))
            head = maker.aim(vx, vy, maker.table_height + spec.half_height)
            head["head_pan"] += rng.uniform(-0.18, 0.18)
            head["head_tilt"] += rng.uniform(-0.12, 0.12)
            maker.pose({**head, **_random_arm(rng, maker)})
            apply_lighting(maker.world, sample_lighting(rng))
            images[s, v] = maker.render()
    maker.clear()
    return SceneViews(images=images, object_ids=ids, objects=objects)


# ------------------------------------------------------------------------------ words
@dataclass(frozen=True)
class Utterance:
    """One spoken word: the text (for scoring only) and its 16 kHz int16 audio."""

    text: str
    audio: np.ndarray


def speak_words(words: Sequence[str], voices: Sequence[tuple[str, int]]) -> list[Utterance]:
    """Every word in every (espeak-ng voice, words-per-minute) pair, in that order."""
    return [
        Utterance(word, synthesize(word, voice, speed)) for word in words for voice, speed in voices
    ]


def _speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch moves with it, like a tape): linear interpolation,
    enough for the +-15 % used here."""
    n_out = max(int(len(audio) / factor), 1)
    return np.interp(np.arange(n_out) * factor, np.arange(len(audio)), audio)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS noise, white to brown (spectral slope drawn at random)."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    spectrum *= freqs ** (-rng.uniform(0.0, 1.0))  # 0: white, 0.5: pink, 1: brown
    noise = np.fft.irfft(spectrum, n=n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def augment_utterance(
    audio: np.ndarray,
    rng: np.random.Generator,
    speed: tuple[float, float] = (0.87, 1.15),
    gain_db: tuple[float, float] = (-12.0, 6.0),
    snr_db: tuple[float, float] = (5.0, 35.0),
    min_heard: float = 0.7,
    p_quiet: float = 0.2,
) -> np.ndarray:
    """A CLIP_SAMPLES-long int16 microphone clip in which `audio` is heard.

    The utterance, sped up or slowed, louder or softer, starts at a random moment such that
    at least `min_heard` of it is in the clip (the encoder sees every tick's last second, so
    a word is seen whole and also half-heard), over noise at a random SNR, or with
    probability `p_quiet` over digital silence (the simulated microphone's default).
    """
    voice = _speed(np.asarray(audio, dtype=np.float64), rng.uniform(*speed))
    voice *= 10.0 ** (rng.uniform(*gain_db) / 20.0)
    n = len(voice)
    clip = np.zeros(CLIP_SAMPLES)
    lost = int((1.0 - min_heard) * n)
    start = int(rng.integers(-lost, max(CLIP_SAMPLES - n + lost, -lost + 1) + 1))
    lo, hi = max(start, 0), min(start + n, CLIP_SAMPLES)
    if hi > lo:
        clip[lo:hi] = voice[lo - start : hi - start]
    if rng.random() >= p_quiet:
        rms = np.sqrt(np.mean(voice**2)) + 1e-9
        clip += _noise(rng, CLIP_SAMPLES) * rms * 10.0 ** (-rng.uniform(*snr_db) / 20.0)
    return np.clip(np.rint(clip), -32768, 32767).astype(np.int16)


def utterance_views(
    utterances: Sequence[Utterance], n_views: int, seed: int, min_heard: float = 0.7
) -> np.ndarray:
    """(len(utterances), n_views, 64, 100) log-mels: n augmented renditions of each."""
    rng = np.random.default_rng(seed)
    clips = np.stack(
        [
            augment_utterance(u.audio, rng, min_heard=min_heard)
            for u in utterances
            for _ in range(n_views)
        ]
    )
    return last_second(clips).reshape(len(utterances), n_views, *last_second(clips[:1]).shape[1:])
