"""The built-in world: nemuri's robot on a table in MuJoCo, headless, one tick at a time.

The robot is the URDF of nemuri_description, loaded into an `mujoco.MjSpec` and completed
through MuJoCo's model-editing API (the URDF stays the one description Gazebo also reads):
the head camera on the optical frame, a touch site + `touch` sensor on each pad, an
integrating-velocity actuator per joint, an invisible caretaker "finger" per pad, a floor,
a light, a table and the showable objects (mocap bodies, so the caretaker holds them still
and a lesson's object never rolls away). No ROS: nodes, the caretaker and the in-process
lock-step loop drive this object.

API (joints and pads in contracts.JOINTS / contracts.TOUCH_PADS order)::

    world = MujocoWorld(WorldConfig())          # resets to seed 0, robot in its rest pose
    world.step(velocities | None)               # one tick: rad/s for the 5 joints, None = hold
    world.set_joint_targets({"shoulder": 1.2})  # the caretaker's hand takes those joints
    world.guided                                # True while the hand holds any joint
    world.release()                             # the hand lets go; servos hold where it left
    names, position, velocity = world.joint_state()
    pads, newtons = world.touch()
    world.press("head", 6.0)                    # the caretaker presses a pad (0 lifts it)
    world.render_camera()                       # (H, W, 3) uint8, the robot's eye (raw size)
    world.render_scene(640, 480)                # an outside view of the whole scene
    world.show("red_ball") / world.hide("red_ball") / world.shown() / world.objects()
    world.sim_time, world.tick                  # for /clock; exactly tick / tick_hz
    world.reset(seed); world.rest_pose(); world.limits; world.close()
    rendering_available()                       # False where no headless GL works

Control: a velocity command is clamped to each joint's URDF velocity limit and integrated
into that joint's position target (clamped to the joint range) over the tick's physics
substeps, like a hobby servo fed a moving setpoint. While the hand holds a joint the
agent's command for it is ignored and the target moves toward the hand's position at
`guide_speed`. Non-finite commands count as 0 (the safety gate upstream rejects them; the
world must still never blow up).

Determinism: physics substeps are fixed (`physics_dt`, an integer number per tick) and the
only randomness (where and how `show` places an object) comes from the generator seeded by
`reset(seed)`, so the same seed and calls give bit-identical states and frames.

Rendering: headless through EGL (else OSMesa, else none: the world still steps and
`rendering_available()` says False; set MUJOCO_GL before the first `import mujoco` to
choose), with shadows and reflections off and no multisampling for the robot's eye: a
96x96 frame then costs about 1.5 ms on a software GL (llvmpipe) instead of tens.
"""

from __future__ import annotations

import ctypes.util
import os

# MuJoCo picks its GL backend once, when first imported: choose a headless one first. With
# neither library the world still steps; rendering then says it cannot (rendering_available).
os.environ.setdefault(
    "MUJOCO_GL",
    "egl"
    if ctypes.util.find_library("EGL")
    else "osmesa"
    if ctypes.util.find_library("OSMesa")
    else "disable",
)

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from nemuri.contracts import JOINTS, REST_POSE, TICK_HZ, TOUCH_PADS
from nemuri.worlds.description import JointLimit, default_urdf_path, joint_limits
from nemuri.worlds.objects import SHAPES, ObjectSpec, object_catalogue

HEAD_CAMERA = "head_camera"
SCENE_CAMERA = "scene"

# Where each pad's caretaker finger comes from, as the pad's outward normal in its link.
_PAD_NORMALS: dict[str, tuple[float, float, float]] = {
    "gripper": (-1.0, 0.0, 0.0),  # inner face of the moving finger
    "head": (0.0, 0.0, 1.0),
    "body_left": (1.0, 0.0, 0.0),
    "body_right": (1.0, 0.0, 0.0),
}
_FINGER_RADIUS = 0.006  # m
_FINGER_GAP = 0.003  # m between a lifted finger and its pad
_FINGER_LIFT = 0.2  # N pulling a lifted finger back
_FINGER_MASS = 0.05  # kg, gravity-compensated: a press reads what was asked
_FINGER_MAX = 100.0  # N, the hardest press (hobby touch pads saturate far below this)
_HIDDEN_GROUP = 3  # geoms and sites in this group are not rendered (MjvOption default)
# Multisampling: none for the robot's eye (a cheap camera; on a software GL it would cost
# half again as much per frame), 4x for the outside view people look at.
_CAMERA_SAMPLES = 0
_SCENE_SAMPLES = 4

# Servo stiffness per joint (N m / rad), critically damped: stiff enough that gravity on
# the outstretched arm costs a few hundredths of a radian, within the URDF torque limits.
_KP: dict[str, float] = {
    "head_pan": 4.0,
    "head_tilt": 4.0,
    "shoulder": 12.0,
    "elbow": 10.0,
    "gripper": 3.0,
}
_ARMATURE = 0.002  # kg m^2: a hobby servo's geared rotor, seen at the joint


@dataclass(frozen=True)
class WorldConfig:
    """How the built-in world is built and stepped (defaults: DESIGN.md Contracts)."""

    urdf_path: Path | None = None  # None: nemuri_description's URDF (default_urdf_path)
    tick_hz: float = TICK_HZ
    physics_dt: float = 0.002  # s; must divide the tick period
    camera_width: int = 96  # the raw frame size of render_camera()
    camera_height: int = 96
    camera_fovy: float = 60.0  # degrees, a typical small board camera
    objects: tuple[ObjectSpec, ...] = field(default_factory=object_catalogue)
    # Head looks down at the table in front, arm hangs at the side, gripper closed.
    rest: tuple[float, ...] = REST_POSE
    table_height: float = 0.45  # m, where the robot's base stands
    show_at: tuple[float, float] = (0.30, 0.0)  # m, (x, y) on the table where show() puts things
    show_jitter: float = 0.02  # m, seeded random offset of show()'s default placement
    guide_speed: float = 4.0  # rad/s, top speed of the caretaker's hand (servos: URDF limits)

    @property
    def substeps(self) -> int:
        """Physics steps per tick; the period must be a whole number of them."""
        n = round(1.0 / (self.tick_hz * self.physics_dt))
        if n < 1 or abs(n * self.physics_dt * self.tick_hz - 1.0) > 1e-9:
            raise ValueError(
                f"physics_dt {self.physics_dt} s does not divide the tick period "
                f"1/{self.tick_hz} s into whole steps"
            )
        return n


@functools.cache
def rendering_available() -> bool:
    """Whether this machine can render headless (tests skip the image checks otherwise)."""
    try:
        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
        with mujoco.Renderer(model, 8, 8) as renderer:
            renderer.render()
    except Exception:  # no EGL/OSMesa library, no device, no display: all mean "cannot"
        return False
    return True


class MujocoWorld:
    """The robot, a table and showable objects in MuJoCo (see the module docstring)."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self._substeps = self.config.substeps
        if len(self.config.rest) != len(JOINTS):
            raise ValueError(f"rest pose needs {len(JOINTS)} values, got {self.config.rest}")
        names = [spec.name for spec in self.config.objects]
        if len(set(names)) != len(names):
            raise ValueError(f"object names must be unique: {names}")
        urdf = Path(self.config.urdf_path or default_urdf_path())
        self._limits = joint_limits(urdf)
        self._lower = np.array([lim.lower for lim in self._limits.values()])
        self._upper = np.array([lim.upper for lim in self._limits.values()])
        self._vmax = np.array([lim.velocity for lim in self._limits.values()])
        self._rest = np.clip(
            np.asarray(self.config.rest, dtype=np.float64), self._lower, self._upper
        )

        spec = _build_spec(urdf, self.config, self._limits)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        jids = [m.joint(name).id for name in JOINTS]
        self._qadr = m.jnt_qposadr[jids].copy()
        self._dadr = m.jnt_dofadr[jids].copy()
        self._ctrl = np.array([m.actuator(name).id for name in JOINTS])
        self._act = m.actuator_actadr[self._ctrl].copy()
        self._finger_ctrl = np.array([m.actuator(f"finger_{pad}").id for pad in TOUCH_PADS])
        self._touch_adr = np.array(
            [m.sensor_adr[m.sensor(f"touch_{pad}").id] for pad in TOUCH_PADS]
        )
        self._objects = {spec.name: spec for spec in self.config.objects}
        self._mocap = {name: m.body_mocapid[m.body(name).id] for name in self._objects}
        self._parking = {name: _parking_spot(i) for i, name in enumerate(self._objects)}
        self._geom = {name: m.geom(name).id for name in self._objects}
        self._head_camera = m.camera(HEAD_CAMERA).id
        self._scene_camera = m.camera(SCENE_CAMERA).id
        self._renderers: dict[tuple[int, int, int], mujoco.Renderer] = {}

        self._hand = np.full(len(JOINTS), np.nan)  # the caretaker's held targets, NaN = free
        self._press = np.zeros(len(TOUCH_PADS))
        self._shown: set[str] = set()
        self._tick = 0
        self._rng = np.random.default_rng(0)
        self.reset(0)

    # ------------------------------------------------------------------ time and state
    @property
    def tick(self) -> int:
        """Ticks stepped since the last reset."""
        return self._tick

    @property
    def sim_time(self) -> float:
        """Simulated seconds since reset, exactly tick / tick_hz (what /clock publishes)."""
        return self._tick / self.config.tick_hz

    @property
    def limits(self) -> dict[str, JointLimit]:
        """Joint ranges, speed and torque limits, from the URDF (JOINTS order)."""
        return dict(self._limits)

    @property
    def guided(self) -> bool:
        """True while the caretaker's hand holds at least one joint."""
        return bool(np.isfinite(self._hand).any())

    def rest_pose(self) -> np.ndarray:
        """The joint positions (rad) the robot rests in; reset() puts it there."""
        return self._rest.copy()

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """(joint names, positions in rad, velocities in rad/s), as /joint_states carries."""
        return JOINTS, self.data.qpos[self._qadr].copy(), self.data.qvel[self._dadr].copy()

    def touch(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(pad names, normal force on each pad in newtons) at the end of the last tick."""
        return TOUCH_PADS, self.data.sensordata[self._touch_adr].copy()

    def reset(self, seed: int = 0) -> None:
        """Rest pose, nothing shown, no hand, no press, time 0; seeds show()'s placements."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qadr] = self._rest
        self.data.act[self._act] = self._rest
        self._hand[:] = np.nan
        self._press[:] = 0.0
        for name in self._objects:
            self._park(name)
        self._shown.clear()
        self._rng = np.random.default_rng(seed)
        self._tick = 0
        mujoco.mj_forward(self.model, self.data)

    # ------------------------------------------------------------------ acting
    def step(self, joint_velocity_command: np.ndarray | Sequence[float] | None = None) -> None:
        """Advance one tick; the command (rad/s per joint) holds for the whole tick."""
        if joint_velocity_command is None:
            velocity = np.zeros(len(JOINTS))
        else:
            velocity = np.array(joint_velocity_command, dtype=np.float64)
            if velocity.shape != (len(JOINTS),):
                raise ValueError(f"expected {len(JOINTS)} joint velocities, got {velocity.shape}")
            velocity[~np.isfinite(velocity)] = 0.0
            velocity = np.clip(velocity, -self._vmax, self._vmax)
        held = np.isfinite(self._hand)
        if held.any():
            # The hand closes the gap in one tick if it can, never faster than guide_speed.
            period = 1.0 / self.config.tick_hz
            speed = np.minimum(self._vmax, self.config.guide_speed)
            gap = (self._hand - self.data.act[self._act]) / period
            velocity[held] = np.clip(gap, -speed, speed)[held]
        self.data.ctrl[self._ctrl] = velocity
        self.data.ctrl[self._finger_ctrl] = np.where(self._press > 0, self._press, -_FINGER_LIFT)
        mujoco.mj_step(self.model, self.data, nstep=self._substeps)
        self._tick += 1

    def set_joint_targets(self, positions: Mapping[str, float] | Sequence[float]) -> None:
        """The caretaker's hand takes joints and moves them toward these positions (rad).

        A mapping names the joints held; a sequence gives all five, NaN for a joint left to
        the agent. Each call replaces the last: a joint it leaves out is let go as by
        release(). Targets are clamped to the joint ranges. Holds until release().
        """
        if isinstance(positions, Mapping):
            unknown = set(positions) - set(JOINTS)
            if unknown:
                raise ValueError(f"unknown joints {sorted(unknown)}; expected {JOINTS}")
            target = np.array([positions.get(name, np.nan) for name in JOINTS], dtype=float)
        else:
            target = np.array(positions, dtype=np.float64)
            if target.shape != (len(JOINTS),):
                raise ValueError(f"expected {len(JOINTS)} joint positions, got {target.shape}")
        if np.isinf(target).any():
            raise ValueError(f"joint targets must be finite or NaN, got {target}")
        self._let_go(np.isfinite(self._hand) & np.isnan(target))
        self._hand = np.clip(target, self._lower, self._upper)  # NaN stays NaN

    def release(self) -> None:
        """The hand lets go: each servo's target becomes where its joint is now."""
        self._let_go(np.isfinite(self._hand))
        self._hand[:] = np.nan

    def press(self, pad: str, newtons: float) -> None:
        """The caretaker's finger pushes on a pad with this force from the next step on.

        The finger is a small invisible sphere that slides onto the pad, so the pad's touch
        sensor reads the force through a real contact (about `newtons` once settled, within
        a tick). The push is internal to the robot, so a press does not shove it. 0 lifts.
        """
        if pad not in TOUCH_PADS:
            raise ValueError(f"unknown pad {pad!r}; expected one of {TOUCH_PADS}")
        if not 0.0 <= newtons <= _FINGER_MAX:
            raise ValueError(f"press force must be in 0..{_FINGER_MAX} N, got {newtons}")
        self._press[TOUCH_PADS.index(pad)] = newtons

    # ------------------------------------------------------------------ objects
    def objects(self) -> list[ObjectSpec]:
        """Every object this world can show, in configuration order."""
        return list(self.config.objects)

    def shown(self) -> list[str]:
        """Names of the objects in the scene now, in configuration order."""
        return [name for name in self._objects if name in self._shown]

    def show(self, object_name: str, position: Sequence[float] | None = None) -> None:
        """Put an object in the scene, held still by the caretaker.

        position: its centre in world coordinates (m), upright. None: resting on the table
        in front of the robot, in view of the rest pose, with a seeded random offset of up
        to `show_jitter` and a random turn about the vertical.
        """
        spec = self._object(object_name)
        if position is None:
            x, y = np.asarray(self.config.show_at) + self._rng.uniform(
                -self.config.show_jitter, self.config.show_jitter, size=2
            )
            centre = np.array([x, y, self.config.table_height + spec.half_height])
            yaw = self._rng.uniform(-math.pi, math.pi)
        else:
            centre = np.array(position, dtype=np.float64)
            if centre.shape != (3,) or not np.isfinite(centre).all():
                raise ValueError(f"position must be 3 finite numbers, got {position}")
            yaw = 0.0
        mocap = self._mocap[object_name]
        self.data.mocap_pos[mocap] = centre
        self.data.mocap_quat[mocap] = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        self._set_present(object_name, True)
        self._shown.add(object_name)

    def hide(self, object_name: str) -> None:
        """Take an object out of the scene (parked under the floor, out of every view)."""
        self._object(object_name)
        self._park(object_name)
        self._shown.discard(object_name)

    # ------------------------------------------------------------------ rendering
    def render_camera(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """The robot's camera image, (height, width, 3) uint8; size defaults to the config."""
        return self._render(
            self._head_camera,
            width or self.config.camera_width,
            height or self.config.camera_height,
            _CAMERA_SAMPLES,
        )

    def render_scene(self, width: int = 640, height: int = 480) -> np.ndarray:
        """An outside view of the robot, the table and what is shown, (H, W, 3) uint8."""
        return self._render(self._scene_camera, width, height, _SCENE_SAMPLES)

    def close(self) -> None:
        """Free the GL contexts (also freed when the world is garbage-collected)."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # ------------------------------------------------------------------ internals
    def _object(self, name: str) -> ObjectSpec:
        try:
            return self._objects[name]
        except KeyError:
            raise ValueError(
                f"unknown object {name!r}; expected one of {tuple(self._objects)}"
            ) from None

    def _let_go(self, joints: np.ndarray) -> None:
        # Where the hand left a joint is where its servo holds it, not where the hand aimed.
        position = np.clip(self.data.qpos[self._qadr], self._lower, self._upper)
        self.data.act[self._act[joints]] = position[joints]

    def _park(self, name: str) -> None:
        mocap = self._mocap[name]
        self.data.mocap_pos[mocap] = self._parking[name]
        self.data.mocap_quat[mocap] = [1.0, 0.0, 0.0, 0.0]
        self._set_present(name, False)

    def _set_present(self, name: str, present: bool) -> None:
        # A parked object is also left out of drawing and collision: with 48 objects the
        # parked ones would otherwise cost more per tick than the robot does.
        geom = self._geom[name]
        self.model.geom_group[geom] = 0 if present else _HIDDEN_GROUP
        self.model.geom_contype[geom] = self.model.geom_conaffinity[geom] = int(present)

    def _render(self, camera: int, width: int, height: int, samples: int) -> np.ndarray:
        key = (width, height, samples)
        renderer = self._renderers.get(key)
        if renderer is None:
            self.model.vis.quality.offsamples = samples  # read once, by the GL context
            try:
                renderer = mujoco.Renderer(self.model, height, width)
            except Exception as err:  # GL missing or the wrong backend picked: say which
                raise RuntimeError(
                    f"cannot render headless with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}: "
                    f"{err}. Use egl or osmesa, and import nemuri.worlds.mujoco_world before "
                    "mujoco (MuJoCo fixes its GL backend at its first import)."
                ) from err
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            self._renderers[key] = renderer
        # Poses as of now: after mj_step the kinematics lag one substep behind qpos, and
        # show()/hide() move objects between steps. Recomputing them changes no state.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)
        renderer.update_scene(self.data, camera)
        return renderer.render()


# ---------------------------------------------------------------------- model building
def _build_spec(urdf: Path, config: WorldConfig, limits: Mapping[str, JointLimit]) -> mujoco.MjSpec:
    """The robot from its URDF, completed into the whole world through MjSpec editing."""
    spec = mujoco.MjSpec.from_file(str(urdf))
    robot_bodies = [body for body in spec.bodies if body.name != "world"]
    spec.body("base_link").pos = [0.0, 0.0, config.table_height]
    spec.option.timestep = config.physics_dt
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Collision geoms duplicate the visuals (URDF keeps both): simulate them, never draw them.
    for body in robot_bodies:
        for geom in body.geoms:
            if geom.contype or geom.conaffinity:
                geom.group = _HIDDEN_GROUP
    _add_scene(spec, config)
    _add_cameras(spec, config)
    _add_actuators(spec, limits)
    _add_touch(spec, config)
    _add_objects(spec, config)
    return spec


def _add_scene(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    spec.visual.global_.offwidth = max(1280, config.camera_width)
    spec.visual.global_.offheight = max(960, config.camera_height)
    spec.visual.quality.shadowsize = 0
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.25, 0.25, 0.25]
    spec.add_texture(
        name="sky",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.75, 0.82, 0.90],
        rgb2=[0.35, 0.40, 0.50],
        width=64,
        height=64,
    )
    spec.add_texture(
        name="floor",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.45, 0.45, 0.48],
        rgb2=[0.38, 0.38, 0.41],
        width=128,
        height=128,
    )
    floor = spec.add_material(name="floor", texrepeat=[8, 8], reflectance=0.0)
    floor.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    world = spec.worldbody
    world.add_light(
        name="sun",
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        pos=[0.5, -0.5, 2.5],
        dir=[-0.2, 0.2, -1.0],
        castshadow=False,
        diffuse=[0.7, 0.7, 0.7],
        specular=[0.1, 0.1, 0.1],
    )
    world.add_geom(
        name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3.0, 3.0, 0.05], material="floor"
    )
    top = config.table_height
    table = world.add_body(name="table", pos=[0.18, 0.0, 0.0])
    wood = [0.72, 0.60, 0.46, 1.0]
    table.add_geom(
        name="table_top",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.36, 0.45, 0.015],
        pos=[0.0, 0.0, top - 0.015],
        rgba=wood,
    )
    for i, (x, y) in enumerate([(0.32, 0.41), (0.32, -0.41), (-0.32, 0.41), (-0.32, -0.41)]):
        table.add_geom(
            name=f"table_leg{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.02, 0.02, (top - 0.03) / 2],
            pos=[x, y, (top - 0.03) / 2],
            rgba=wood,
        )


def _add_cameras(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    # MuJoCo cameras look along their -z with y up; the REP-103 optical frame looks along
    # +z with y down: a half turn about x maps one onto the other.
    spec.body("camera_optical_frame").add_camera(
        name=HEAD_CAMERA, quat=[0.0, 1.0, 0.0, 0.0], fovy=config.camera_fovy
    )
    eye = np.array([0.95, -0.85, config.table_height + 0.55])
    target = np.array([0.18, 0.0, config.table_height + 0.12])
    spec.worldbody.add_camera(name=SCENE_CAMERA, pos=eye, xyaxes=_look_at(eye, target), fovy=45.0)


def _look_at(eye: np.ndarray, target: np.ndarray) -> list[float]:
    """MuJoCo camera xyaxes looking from eye to target with world z up."""
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross([0.0, 0.0, 1.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return [*right.tolist(), *up.tolist()]


def _add_actuators(spec: mujoco.MjSpec, limits: Mapping[str, JointLimit]) -> None:
    # intvelocity: ctrl is a velocity (rad/s, limited to the URDF speed) integrated into a
    # position target held inside the joint range; the joint's URDF effort caps the torque.
    for name in JOINTS:
        joint = spec.joint(name)
        joint.armature = _ARMATURE
        lo, hi = joint.range
        actuator = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_intvelocity(kp=_KP[name], dampratio=1.0)
        actuator.actlimited = True
        actuator.actrange = [lo, hi]
        actuator.ctrllimited = True
        actuator.ctrlrange = [-limits[name].velocity, limits[name].velocity]


def _add_touch(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    for pad in TOUCH_PADS:
        body = spec.body(f"{pad}_pad_link")
        geom = next(g for g in body.geoms if g.contype or g.conaffinity)
        geom.name = f"{pad}_pad"
        half = np.array(geom.size)
        body.add_site(
            name=f"{pad}_touch",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=(half + 0.003).tolist(),
            pos=geom.pos,
            group=_HIDDEN_GROUP,
        )
        spec.add_sensor(
            name=f"touch_{pad}",
            type=mujoco.mjtSensor.mjSENS_TOUCH,
            objtype=mujoco.mjtObj.mjOBJ_SITE,
            objname=f"{pad}_touch",
        )
        # The caretaker's finger: a slider onto the pad along its inward normal, pushed by a
        # force motor. It touches only its pad (an explicit pair; contype 0 elsewhere).
        normal = np.array(_PAD_NORMALS[pad])
        # MuJoCo's contact stiffness scales with the mass involved; with the default 20 ms
        # time constant a fingertip would sink through the pad. The stiffest stable one
        # (two substeps) keeps a 5 N press to about a millimetre.
        stiff = [2.0 * config.physics_dt, 1.0]
        thickness = float(half[np.argmax(np.abs(normal))])
        start = np.array(geom.pos) + normal * (thickness + _FINGER_GAP + _FINGER_RADIUS)
        finger = body.add_body(name=f"{pad}_finger", pos=start.tolist(), gravcomp=1.0)
        finger.add_joint(
            name=f"{pad}_finger",
            type=mujoco.mjtJoint.mjJNT_SLIDE,
            axis=(-normal).tolist(),
            range=[0.0, _FINGER_GAP + 0.02],
            damping=0.5,
            solref_limit=stiff,
        )
        finger.add_geom(
            name=f"{pad}_finger",
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[_FINGER_RADIUS, 0, 0],
            mass=_FINGER_MASS,
            contype=0,
            conaffinity=0,
            group=_HIDDEN_GROUP,
        )
        spec.add_pair(
            name=f"{pad}_finger", geomname1=f"{pad}_finger", geomname2=f"{pad}_pad", solref=stiff
        )
        finger_motor = spec.add_actuator(
            name=f"finger_{pad}", target=f"{pad}_finger", trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        finger_motor.set_to_motor()
        finger_motor.ctrllimited = True
        finger_motor.ctrlrange = [-_FINGER_LIFT, _FINGER_MAX]


def _add_objects(spec: mujoco.MjSpec, config: WorldConfig) -> None:
    kinds = {
        "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
        "box": mujoco.mjtGeom.mjGEOM_BOX,
        "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
        "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
        "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID,
    }
    meshes: set[str] = set()
    for i, obj in enumerate(config.objects):
        kind, size = SHAPES[obj.shape]
        body = spec.worldbody.add_body(name=obj.name, mocap=True, pos=_parking_spot(i))
        if kind == "cone":
            mesh = f"{obj.shape}_mesh"
            if mesh not in meshes:
                # make_cone spans z in [-1, 1] with unit base radius: scale to size.
                cone = spec.add_mesh(name=mesh)
                cone.make_cone(nedge=32, radius=0.0)
                cone.scale = [size[0], size[0], size[1]]
                meshes.add(mesh)
            body.add_geom(
                name=obj.name, type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh, rgba=list(obj.rgba)
            )
        else:
            body.add_geom(
                name=obj.name, type=kinds[kind], size=[*size, 0, 0][:3], rgba=list(obj.rgba)
            )


def _parking_spot(index: int) -> np.ndarray:
    """Where a hidden object waits: under the floor, out of every camera's view."""
    return np.array([-2.0 + 0.25 * (index % 16), 2.0 + 0.25 * (index // 16), -1.0])
