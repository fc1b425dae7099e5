"""The safety gate, pure and in-process: limits, rate limit, rejection, e-stop, watchdog, rest.

Most tests use round-number limits (range [-1, 1] rad, 2 rad/s, 10 Hz, 1 rad/s of velocity
change per tick) so every expected value can be worked out by hand; one test checks the
URDF defaults, and a seeded random walk checks the invariants over thousands of ticks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nemuri.body.safety import (
    Command,
    GateState,
    Mode,
    RejectedCommand,
    SafetyConfig,
    SafetyGate,
    command_velocity,
)
from nemuri.contracts import JOINTS, REST_POSE
from nemuri.worlds.description import JointLimit, default_urdf_path, joint_limits

N = len(JOINTS)
DT = 0.1  # 10 Hz
LIMIT = JointLimit(lower=-1.0, upper=1.0, velocity=2.0, effort=1.0)


def config(**overrides: object) -> SafetyConfig:
    """Round numbers: range [-1, 1], 2 rad/s, 10 Hz, dv = 1 rad/s per tick, rest at 0."""
    values: dict[str, object] = {
        "tick_hz": 10.0,
        "limits": dict.fromkeys(JOINTS, LIMIT),
        "max_acceleration": 10.0,
        "watchdog_ticks": 3,
        "rest_pose": (0.0,) * N,
        "rest_speed": 0.5,
        "rest_tolerance": 0.01,
    }
    values.update(overrides)
    return SafetyConfig(**values)


def vel(*values: float) -> Command:
    """A VELOCITY command; a single value is given to every joint."""
    return Command(np.full(N, values[0]) if len(values) == 1 else np.array(values))


def unit(i: int, value: float) -> np.ndarray:
    v = np.zeros(N)
    v[i] = value
    return v


HOME = np.zeros(N)  # joint positions in the middle of the range


# -- configuration ------------------------------------------------------------------------
def test_default_config_reads_the_urdf_and_rests_where_the_world_does() -> None:
    from nemuri.worlds.mujoco_world import WorldConfig

    cfg = SafetyConfig()
    assert dict(cfg.limits) == joint_limits(default_urdf_path())
    assert cfg.rest_pose == REST_POSE == WorldConfig().rest
    lower, upper, vmax = SafetyGate(cfg).limits
    urdf = joint_limits()
    np.testing.assert_array_equal(vmax, [urdf[j].velocity for j in JOINTS])
    np.testing.assert_array_equal(lower, [urdf[j].lower for j in JOINTS])
    np.testing.assert_array_equal(upper, [urdf[j].upper for j in JOINTS])


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"tick_hz": 0.0}, "tick_hz"),
        ({"velocity_scale": 0.0}, "velocity_scale"),
        ({"velocity_scale": 1.5}, "velocity_scale"),
        ({"max_acceleration": -1.0}, "max_acceleration"),
        ({"watchdog_ticks": 0}, "watchdog_ticks"),
        ({"rest_speed": 0.0}, "rest_speed"),
        ({"rest_tolerance": -0.1}, "rest_tolerance"),
        ({"rest_pose": (0.0, 0.0)}, "rest_pose needs 5"),
        ({"rest_pose": (0.0, 0.0, 0.0, 0.0, 3.0)}, "outside the joint limits for ['gripper']"),
        ({"limits": {"head_pan": LIMIT}}, "no limits for joints"),
        ({"limits": dict.fromkeys(JOINTS, JointLimit(1.0, -1.0, 2.0, 1.0))}, "lower < upper"),
    ],
)
def test_bad_config_is_refused_with_the_reason(overrides, says) -> None:
    with pytest.raises(ValueError, match="bad SafetyConfig") as err:
        config(**overrides)
    assert says in str(err.value)


# -- velocity, position and rate limits ---------------------------------------------------
def test_a_command_within_every_limit_goes_through_untouched() -> None:
    gate = SafetyGate(config())
    out = gate.tick(vel(0.5, -0.5, 0.25, 0.0, 0.9), HOME)
    assert out.state is GateState.TRACK and out.reason == ""
    np.testing.assert_array_equal(out.velocity, [0.5, -0.5, 0.25, 0.0, 0.9])
    assert gate.stats.clamped == 0


@pytest.mark.parametrize("joint", range(N))
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize(("scale", "top"), [(1.0, 2.0), (0.5, 1.0)])
def test_velocity_is_clamped_per_joint_to_the_scaled_limit(joint, sign, scale, top) -> None:
    gate = SafetyGate(config(max_acceleration=1000.0, velocity_scale=scale))
    out = gate.tick(Command(unit(joint, sign * 100.0)), HOME)
    np.testing.assert_array_equal(out.velocity, unit(joint, sign * top))
    assert out.state is GateState.TRACK and out.reason == f"limited {[JOINTS[joint]]}"
    assert gate.stats.clamped == 1


@pytest.mark.parametrize("joint", range(N))
@pytest.mark.parametrize(
    ("position", "command", "expected"),
    [
        (0.9, 2.0, 1.0),  # 0.1 rad left: at most 0.1 / 0.1 s
        (0.95, 2.0, 0.5),
        (1.0, 2.0, 0.0),  # at the limit: no further
        (1.0, -2.0, -2.0),  # but back inside freely
        (1.2, 2.0, 0.0),  # past the limit (overshoot): never further out
        (1.2, -0.5, -0.5),  # and back in at the commanded speed, not forced
        (1.2, 0.0, 0.0),
        (-0.9, -2.0, -1.0),
        (-1.0, -2.0, 0.0),
        (-1.3, -1.0, 0.0),
        (-1.3, 1.0, 1.0),
    ],
)
def test_position_limits_clamp_velocity_near_and_past_them(
    joint, position, command, expected
) -> None:
    gate = SafetyGate(config(max_acceleration=1000.0))
    out = gate.tick(Command(unit(joint, command)), unit(joint, position))
    assert out.velocity[joint] == pytest.approx(expected)
    assert np.count_nonzero(out.velocity) == (expected != 0.0)


def test_rate_limit_ramps_up_and_reverses_through_zero() -> None:
    gate = SafetyGate(config())  # dv = 1 rad/s per tick
    seen = [gate.tick(vel(2.0), HOME).velocity[0] for _ in range(3)]
    assert seen == pytest.approx([1.0, 2.0, 2.0])
    seen = [gate.tick(vel(-2.0), HOME).velocity[0] for _ in range(3)]
    assert seen == pytest.approx([0.0, -1.0, -2.0])  # braking to 0 is free, beyond is not


@pytest.mark.parametrize(("last", "command", "expected"), [(2.0, 0.5, 0.5), (2.0, 0.0, 0.0)])
def test_slowing_toward_zero_is_never_rate_limited(last, command, expected) -> None:
    gate = SafetyGate(config())
    gate.tick(vel(1.0), HOME)
    assert gate.tick(vel(last), HOME).velocity[0] == last
    assert gate.tick(vel(command), HOME).velocity[0] == expected


def test_position_limit_wins_over_the_rate_limit() -> None:
    gate = SafetyGate(config())
    for _ in range(2):
        gate.tick(vel(2.0), HOME)
    out = gate.tick(vel(2.0), np.full(N, 0.98))  # 0.02 rad left at 2 rad/s
    np.testing.assert_allclose(out.velocity, 0.2)


# -- whole-command rejection --------------------------------------------------------------
@pytest.mark.parametrize("joint", range(N))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_command_is_rejected_whole_and_the_joints_hold(joint, bad) -> None:
    gate = SafetyGate(config())
    assert gate.tick(vel(0.5), HOME).state is GateState.TRACK
    command = np.full(N, 0.5)
    command[joint] = bad
    out = gate.tick(Command(command), HOME)
    assert out.state is GateState.HOLD
    np.testing.assert_array_equal(out.velocity, np.zeros(N))  # not the last command again
    assert gate.stats.rejected == 1
    assert gate.stats.last_rejection == f"non-finite velocity for {[JOINTS[joint]]}"
    assert out.reason == gate.stats.last_rejection


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (Command(np.zeros(4)), "expected 5 velocities"),
        (Command(np.zeros((5, 1))), "expected 5 velocities"),
        (Command(np.zeros(5), ("head_pan", "head_tilt", "shoulder", "elbow")), "joint names"),
        (Command(np.zeros(5), ("head_pan",) * 5), "joint names"),
        (Command(np.zeros(5), (*JOINTS[:4], "tail")), "joint names"),
        (Command(np.zeros(5), mode=7), "unknown mode 7"),
    ],
)
def test_malformed_commands_are_rejected_with_the_reason(command, says) -> None:
    gate = SafetyGate(config())
    out = gate.tick(command, HOME)
    assert out.state is GateState.HOLD and says in out.reason
    assert gate.stats.rejected == 1 and says in gate.stats.last_rejection


def test_velocities_are_matched_to_joints_by_name() -> None:
    names = tuple(reversed(JOINTS))
    values = command_velocity(Command([0.1, 0.2, 0.3, 0.4, 0.5], names))
    np.testing.assert_array_equal(values, [0.5, 0.4, 0.3, 0.2, 0.1])
    with pytest.raises(RejectedCommand):
        command_velocity(Command([0.1] * 5, ("a", "b", "c", "d", "e")))


# -- e-stop -------------------------------------------------------------------------------
def test_estop_latches_zero_until_released_then_ramps_from_standstill() -> None:
    gate = SafetyGate(config())
    gate.tick(vel(1.0), HOME)
    gate.engage_estop()
    gate.engage_estop()  # a repeat is not a new engagement
    assert gate.estopped and gate.stats.estops == 1
    for command in (vel(1.0), Command.rest(), None, vel(math.nan)):
        out = gate.tick(command, HOME)
        assert out.state is GateState.ESTOP and out.reason == "e-stop latched"
        np.testing.assert_array_equal(out.velocity, np.zeros(N))
    for _ in range(10):  # no watchdog while stopped: the e-stop outranks it
        gate.tick(None, HOME)
    assert gate.stats.watchdog_trips == 0
    gate.release_estop()
    assert not gate.estopped
    out = gate.tick(vel(2.0), HOME)
    assert out.state is GateState.TRACK
    np.testing.assert_allclose(out.velocity, 1.0)  # rate-limited from 0, not from 1


def test_halt_stops_now_and_restarts_the_rate_limit_from_zero() -> None:
    gate = SafetyGate(config())
    gate.tick(vel(1.0), HOME)
    gate.tick(vel(2.0), HOME)
    out = gate.halt()
    assert out.state is GateState.HOLD
    np.testing.assert_array_equal(out.velocity, np.zeros(N))
    np.testing.assert_allclose(gate.tick(vel(2.0), HOME).velocity, 1.0)
    gate.engage_estop()
    assert gate.halt().state is GateState.ESTOP


# -- watchdog and the rest pose -----------------------------------------------------------
def test_watchdog_holds_then_drives_to_rest_after_n_ticks_without_a_command() -> None:
    gate = SafetyGate(config(watchdog_ticks=3))
    q = np.array([0.5, -0.5, 0.02, -0.02, 0.0])
    gate.tick(vel(0.3), q)
    states = [gate.tick(None, q) for _ in range(5)]
    assert [s.state for s in states] == [GateState.HOLD] * 2 + [GateState.REST] * 3
    assert states[0].reason == "no command (1 of 3)"
    assert states[2].reason == "watchdog: no valid command for 3 ticks"
    np.testing.assert_allclose(states[2].velocity, [-0.5, 0.5, -0.2, 0.2, 0.0])
    assert gate.stats.watchdog_trips == 1 and gate.watchdog_tripped
    out = gate.tick(vel(0.3), q)  # a valid command ends the rest
    assert out.state is GateState.TRACK and not gate.watchdog_tripped


def test_watchdog_runs_from_the_first_tick_and_counts_rejected_commands() -> None:
    gate = SafetyGate(config(watchdog_ticks=2))
    assert gate.tick(vel(math.nan), HOME).state is GateState.HOLD
    out = gate.tick(vel(math.nan), HOME)
    assert out.state is GateState.REST and out.reason.endswith("at rest")
    assert gate.stats.rejected == 2 and gate.stats.watchdog_trips == 1


def test_rest_command_rests_at_once_and_holds_the_rest_without_tripping() -> None:
    gate = SafetyGate(config(watchdog_ticks=2))
    q = np.full(N, 0.5)
    out = gate.tick(Command.rest(), q)
    assert out.state is GateState.REST and out.reason == "rest requested"
    np.testing.assert_allclose(out.velocity, -0.5)
    for _ in range(5):  # the core stops publishing while asleep: still resting, no trip
        assert gate.tick(None, q).state is GateState.REST
    assert gate.stats.watchdog_trips == 0 and not gate.watchdog_tripped


@pytest.mark.parametrize("start", [(1.0, -1.0, 0.7, -0.2, 0.05), (-0.9, 0.9, 0.0, 0.3, -0.6)])
def test_rest_approach_arrives_within_limits_and_stops_there(start) -> None:
    gate = SafetyGate(config(rest_pose=(0.1, -0.2, 0.3, 0.0, 0.0), rest_speed=0.5))
    q = np.array(start, dtype=np.float64)
    last = np.zeros(N)
    for _ in range(60):  # 2 rad at 0.5 rad/s: 4 s = 40 ticks, with room to spare
        out = gate.tick(Command.rest(), q)
        assert np.all(np.abs(out.velocity) <= 0.5 + 1e-12)
        assert np.all(np.abs(out.velocity - last) <= 1.0 + 1e-12)
        q, last = q + out.velocity * DT, out.velocity
    np.testing.assert_allclose(q, (0.1, -0.2, 0.3, 0.0, 0.0), atol=0.01)
    assert out.reason == "rest requested; at rest"
    np.testing.assert_array_equal(out.velocity, np.zeros(N))


@pytest.mark.parametrize("positions", [None, [0.0, 0.0, math.nan, 0.0, 0.0]])
@pytest.mark.parametrize("command", [vel(0.5), Command.rest(), None])
def test_unknown_positions_mean_hold(positions, command) -> None:
    gate = SafetyGate(config(watchdog_ticks=1))
    out = gate.tick(command, positions)
    assert out.state is GateState.HOLD and out.reason == "joint positions unknown"
    np.testing.assert_array_equal(out.velocity, np.zeros(N))


def test_positions_of_the_wrong_shape_are_a_bug() -> None:
    with pytest.raises(ValueError, match="joint positions"):
        SafetyGate(config()).tick(None, [0.0, 0.0])


def test_mode_values_are_the_motor_command_constants() -> None:
    motor = pytest.importorskip("nemuri_msgs.msg").MotorCommand
    assert (Mode.VELOCITY, Mode.REST) == (motor.VELOCITY, motor.REST)


# -- invariants over a long random walk ---------------------------------------------------
def random_walk(seed: int, ticks: int) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Drive a gate with noisy, often bad inputs; return (positions, output, estopped) per tick."""
    rng = np.random.default_rng(seed)
    gate = SafetyGate(config(velocity_scale=0.75, watchdog_ticks=4))
    q = rng.uniform(-1.2, 1.2, N)
    rows = []
    for _ in range(ticks):
        roll = rng.random()
        if roll < 0.01:
            gate.engage_estop()
        elif roll < 0.06:
            gate.release_estop()
        kind = rng.integers(0, 6)
        command = (
            None
            if kind == 0
            else Command.rest()
            if kind == 1
            else vel(*np.where(rng.random(N) < 0.1, np.nan, rng.normal(0.0, 1.5, N)))
        )
        positions = None if rng.random() < 0.05 else q.copy()
        out = gate.tick(command, positions)
        rows.append((q.copy(), out.velocity, gate.estopped))
        q = q + out.velocity * DT + rng.normal(0.0, 0.01, N)  # a plant that overshoots a bit
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_every_output_keeps_every_limit(seed) -> None:
    last = np.zeros(N)
    for q, v, estopped in random_walk(seed, 2000):
        assert np.all(np.isfinite(v))
        assert np.all(np.abs(v) <= 1.5 + 1e-12)  # 2 rad/s * 0.75
        # Inside the range the next position stays inside; past a limit, only back in.
        assert np.all(np.where(q <= 1.0, q + v * DT <= 1.0 + 1e-9, v <= 0.0))
        assert np.all(np.where(q >= -1.0, q + v * DT >= -1.0 - 1e-9, v >= 0.0))
        braking = (np.abs(v) <= np.abs(last)) & (v * last >= 0.0)
        assert np.all((np.abs(v - last) <= 1.0 + 1e-12) | braking)
        if estopped:
            assert not v.any()
        last = v


def test_the_gate_is_deterministic() -> None:
    first, second = random_walk(7, 500), random_walk(7, 500)
    for (_, a, _), (_, b, _) in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
