"""The built-in MuJoCo world: time, control, the caretaker's hand and finger, objects, frames.

Rendering needs EGL or OSMesa; where neither works the image tests skip, unless
NEMURI_REQUIRE_ALL=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from nemuri.contracts import JOINTS, TOUCH_PADS
from nemuri.worlds.objects import COLOURS, SHAPES, make_object, object_catalogue

REQUIRE_ALL = os.environ.get("NEMURI_REQUIRE_ALL") == "1"
# Never `import mujoco` before this module: it chooses the headless GL backend. A forced
# backend whose library is missing breaks mujoco's import with more than ImportError.
try:
    from nemuri.worlds import mujoco_world
except Exception as err:
    if REQUIRE_ALL:
        raise
    pytest.skip(f"MuJoCo unavailable: {err}", allow_module_level=True)
MujocoWorld, WorldConfig = mujoco_world.MujocoWorld, mujoco_world.WorldConfig

needs_rendering = pytest.mark.skipif(
    not REQUIRE_ALL and not mujoco_world.rendering_available(),
    reason="no headless GL (EGL/OSMesa); NEMURI_REQUIRE_ALL=1 makes this a failure",
)

SHOULDER = JOINTS.index("shoulder")
ELBOW = JOINTS.index("elbow")
PERIOD = 0.1


@pytest.fixture
def world():
    w = MujocoWorld()
    yield w
    w.close()


def positions(world) -> np.ndarray:
    return world.joint_state()[1]


def object_position(world, name: str) -> np.ndarray:
    mocap = world.model.body_mocapid[world.model.body(name).id]
    return world.data.mocap_pos[mocap].copy()


# ---------------------------------------------------------------------- time


def test_sim_time_advances_exactly_one_period_per_step(world):
    assert world.sim_time == 0.0
    for k in range(1, 8):
        world.step(None)
        assert world.sim_time == k / 10.0
        assert world.tick == k
    assert world.data.time == pytest.approx(0.7, abs=1e-9)


def test_fifty_hz_uses_fewer_substeps():
    config = WorldConfig(tick_hz=50.0)
    assert config.substeps == 10
    w = MujocoWorld(config)
    w.step(None)
    assert w.sim_time == 1 / 50.0
    assert w.data.time == pytest.approx(0.02, abs=1e-12)


def test_physics_step_must_divide_the_tick():
    with pytest.raises(ValueError, match="does not divide"):
        MujocoWorld(WorldConfig(physics_dt=0.003))


# ---------------------------------------------------------------------- control


def test_rest_pose_after_reset(world):
    np.testing.assert_allclose(positions(world), world.rest_pose(), atol=1e-9)
    for _ in range(5):
        world.step(None)
    np.testing.assert_allclose(positions(world), world.rest_pose(), atol=0.02)


def test_velocity_command_moves_its_joint(world):
    start = positions(world)
    command = np.zeros(len(JOINTS))
    command[SHOULDER] = 1.0
    for _ in range(5):
        world.step(command)
    moved = positions(world) - start
    assert moved[SHOULDER] == pytest.approx(0.5, abs=0.08)
    others = np.delete(moved, SHOULDER)
    assert np.abs(others).max() < 0.02
    assert world.joint_state()[2][SHOULDER] == pytest.approx(1.0, abs=0.1)


def test_velocity_is_clamped_and_joint_limits_hold(world):
    limits = world.limits
    start = positions(world)
    world.step(np.full(len(JOINTS), 100.0))
    vmax = np.array([lim.velocity for lim in limits.values()])
    assert np.all(positions(world) - start <= vmax * PERIOD + 0.02)
    lower = np.array([lim.lower for lim in limits.values()])
    upper = np.array([lim.upper for lim in limits.values()])
    for sign, bound in ((1.0, upper), (-1.0, lower)):
        for _ in range(20):
            world.step(np.full(len(JOINTS), sign * 100.0))
            assert np.all(positions(world) <= upper + 0.02)
            assert np.all(positions(world) >= lower - 0.02)
        np.testing.assert_allclose(positions(world), bound, atol=0.03)


def test_non_finite_commands_hold_and_bad_shapes_are_refused(world):
    before = positions(world)
    for _ in range(3):
        world.step([np.nan, np.inf, -np.inf, np.nan, np.nan])
    np.testing.assert_allclose(positions(world), before, atol=0.01)
    with pytest.raises(ValueError, match="5 joint velocities"):
        world.step([0.0, 0.0])


def test_guided_target_pulls_the_arm_there_over_the_agent(world):
    world.set_joint_targets({"shoulder": 1.2, "elbow": 0.9})
    assert world.guided
    against = np.zeros(len(JOINTS))
    against[[SHOULDER, ELBOW]] = -4.0  # the agent pulls the other way: the hand wins
    against[0] = 1.0  # the head stays the agent's
    for _ in range(10):
        world.step(against)
    q = positions(world)
    assert q[SHOULDER] == pytest.approx(1.2, abs=0.05)
    assert q[ELBOW] == pytest.approx(0.9, abs=0.05)
    assert q[0] == pytest.approx(1.0, abs=0.1)
    world.release()
    assert not world.guided
    for _ in range(5):  # released: the servos hold where the hand left the arm
        world.step(None)
    assert positions(world)[SHOULDER] == pytest.approx(1.2, abs=0.05)
    world.step(against)  # and the agent has the arm again
    assert positions(world)[SHOULDER] < 1.0


def test_guide_targets_as_an_array_with_free_joints_and_clamped_to_limits(world):
    target = np.full(len(JOINTS), np.nan)
    target[SHOULDER] = 99.0
    world.set_joint_targets(target)
    for _ in range(15):
        world.step(None)
    assert positions(world)[SHOULDER] == pytest.approx(world.limits["shoulder"].upper, abs=0.03)
    with pytest.raises(ValueError, match="unknown joints"):
        world.set_joint_targets({"tail": 1.0})


def test_a_new_hold_lets_go_of_joints_it_leaves_out(world):
    world.set_joint_targets({"shoulder": 1.0})
    for _ in range(5):
        world.step(None)
    world.set_joint_targets({"elbow": 1.0})  # the hand moves on: the shoulder is free
    held_at = positions(world)[SHOULDER]
    command = np.zeros(len(JOINTS))
    command[SHOULDER] = -2.0
    world.step(command)
    assert positions(world)[SHOULDER] < held_at - 0.1  # the agent moves it again
    assert world.guided


# ---------------------------------------------------------------------- touch


@pytest.mark.parametrize("pad", TOUCH_PADS)
def test_press_reads_on_its_own_pad_only(world, pad):
    names, newtons = world.touch()
    assert names == TOUCH_PADS and np.all(newtons == 0.0)
    world.press(pad, 5.0)
    world.step(None)
    _, newtons = world.touch()
    i = TOUCH_PADS.index(pad)
    assert newtons[i] == pytest.approx(5.0, rel=0.05)
    assert np.abs(np.delete(newtons, i)).max() < 0.05
    world.press(pad, 0.0)
    world.step(None)
    assert np.abs(world.touch()[1]).max() < 0.05


def test_press_does_not_shove_the_robot(world):
    world.press("head", 20.0)
    for _ in range(3):
        world.step(None)
    np.testing.assert_allclose(positions(world), world.rest_pose(), atol=0.02)
    with pytest.raises(ValueError):
        world.press("tail", 1.0)
    with pytest.raises(ValueError):
        world.press("head", float("nan"))


# ---------------------------------------------------------------------- objects


def test_catalogue_has_distinct_colour_shape_combinations():
    eight = object_catalogue(8)
    assert len({(o.colour, o.shape) for o in eight}) == 8
    assert len({o.colour for o in eight}) == 8 and len({o.shape for o in eight}) == 8
    many = object_catalogue(48)
    assert len({o.name for o in many}) == 48
    assert many[:8] == eight
    assert len(object_catalogue(len(COLOURS) * len(SHAPES))) == len(COLOURS) * len(SHAPES)
    with pytest.raises(ValueError):
        make_object("red", "teapot")


def test_show_and_hide_by_name(world):
    assert [o.name for o in world.objects()] == [o.name for o in object_catalogue(8)]
    assert world.shown() == []
    world.show("red_ball")
    world.show("green_cube", position=(0.3, 0.15, 0.6))
    assert world.shown() == ["red_ball", "green_cube"]
    np.testing.assert_allclose(object_position(world, "green_cube"), (0.3, 0.15, 0.6))
    world.hide("red_ball")
    assert world.shown() == ["green_cube"]
    with pytest.raises(ValueError, match="unknown object"):
        world.show("teapot")


def test_a_world_of_48_objects_builds_and_steps():
    w = MujocoWorld(WorldConfig(objects=object_catalogue(48)))
    w.show(w.objects()[47].name)
    w.step(None)
    assert len(w.objects()) == 48 and w.shown() == [w.objects()[47].name]


def test_seed_decides_where_show_places_an_object(world):
    def placed(seed: int) -> np.ndarray:
        world.reset(seed)
        world.show("red_ball")
        return object_position(world, "red_ball")

    assert np.array_equal(placed(1), placed(1))
    assert not np.array_equal(placed(1), placed(2))


# ---------------------------------------------------------------------- determinism


def _run_day(world, seed: int) -> list[np.ndarray]:
    world.reset(seed)
    rng = np.random.default_rng(123)
    states = []
    for t in range(30):
        if t == 3:
            world.show("purple_egg")
        if t == 10:
            world.set_joint_targets({"shoulder": 1.0})
        if t == 15:
            world.press("gripper", 3.0)
        if t == 20:
            world.release()
            world.hide("purple_egg")
        world.step(rng.uniform(-2.0, 2.0, len(JOINTS)))
        d = world.data
        states.append(np.concatenate([d.qpos, d.qvel, d.act, d.sensordata, d.mocap_pos.ravel()]))
    return states


def test_same_seed_and_commands_give_identical_states():
    a, b = MujocoWorld(), MujocoWorld()
    for sa, sb in zip(_run_day(a, 7), _run_day(b, 7), strict=True):
        assert np.array_equal(sa, sb)


# ---------------------------------------------------------------------- rendering


@needs_rendering
def test_camera_frame_is_a_non_blank_image_that_sees_shown_objects(world):
    empty = world.render_camera()
    assert empty.shape == (96, 96, 3) and empty.dtype == np.uint8
    assert empty.std() > 10
    world.show("red_ball")
    with_ball = world.render_camera()
    changed = np.abs(with_ball.astype(int) - empty.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 50  # the ball is in view: a blob of pixels, not a speck
    rows, cols = np.nonzero(changed)
    assert 20 < cols.mean() < 76 and 15 < rows.mean() < 81  # roughly in the middle
    world.hide("red_ball")
    assert np.array_equal(world.render_camera(), empty)


@needs_rendering
def test_object_colours_differ_in_the_frame():
    w = MujocoWorld(WorldConfig(objects=object_catalogue(9)))  # red_ball ... green_ball
    spot = (0.30, 0.0, w.config.table_height + 0.045)
    empty = w.render_camera().astype(int)
    mean_colour = {}
    for name in ("red_ball", "green_ball"):
        w.show(name, position=spot)
        frame = w.render_camera().astype(int)
        w.hide(name)
        mask = np.abs(frame - empty).sum(axis=2) > 30
        assert mask.sum() > 50
        mean_colour[name] = frame[mask].mean(axis=0)
    red, green = mean_colour["red_ball"], mean_colour["green_ball"]
    assert red[0] > red[1] + 50 and green[1] > green[0] + 50
    w.close()


@needs_rendering
def test_raw_size_scene_view_and_determinism_of_frames():
    config = WorldConfig(camera_width=160, camera_height=120)
    a, b = MujocoWorld(config), MujocoWorld(config)
    for w in (a, b):
        w.reset(5)
        w.show("cyan_brick")
        for _ in range(3):
            w.step([0.5, -0.3, 1.0, 0.5, 0.2])
    frame = a.render_camera()
    assert frame.shape == (120, 160, 3)
    assert np.array_equal(frame, b.render_camera())
    scene = a.render_scene(320, 240)
    assert scene.shape == (240, 320, 3) and scene.std() > 10
    a.close()
    b.close()


@needs_rendering
def test_snapshot_writes_pngs(tmp_path):
    from nemuri.worlds.snapshot import snapshot

    paths = snapshot(tmp_path)
    assert [p.name for p in paths] == ["camera.png", "scene.png", "objects.png"]
    width, height = _png_size(paths[0].read_bytes())
    assert (width, height) == (96, 96)


def test_png_writer_round_trips(tmp_path):
    from nemuri.worlds.snapshot import write_png

    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    data = write_png(tmp_path / "x.png", image).read_bytes()
    assert _png_size(data) == (5, 7)
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(7, 1 + 5 * 3)
    assert np.all(rows[:, 0] == 0)
    assert np.array_equal(rows[:, 1:].reshape(7, 5, 3), image)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
