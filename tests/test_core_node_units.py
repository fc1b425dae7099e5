"""The core node's ROS-free parts: waking up (nemuri.wakeup) and message conversion."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from nemuri.agent import AgentConfig
from nemuri.brain import checkpoint
from nemuri.contracts import JOINTS
from nemuri.memory.daylog import list_days, read_day
from nemuri.wakeup import DelayedRuntime, load_brain, wake_agent


@pytest.fixture(scope="module")
def newborn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    brains = tmp_path_factory.mktemp("newborn") / "brains"
    checkpoint.ensure_brain(brains)
    return brains


@pytest.fixture
def data_dir(tmp_path: Path, newborn: Path) -> Path:
    shutil.copytree(newborn, tmp_path / "nemuri" / "brains")
    return tmp_path / "nemuri"


def test_first_start_makes_a_newborn_and_opens_day_one(tmp_path):
    agent = wake_agent(tmp_path / "fresh", AgentConfig(), time.perf_counter)
    try:
        assert (tmp_path / "fresh" / "brains" / "v0000" / "step.onnx").exists()
        assert (agent.brain_version, agent.age_ticks, agent.nights) == ("v0000", 0, 0)
        assert agent.runtime.context_length == 0, "the warm-up step is forgotten"
        assert agent.day_log.path.name.startswith("day-0001-")
    finally:
        agent.close()


def test_a_day_left_by_a_crash_is_recovered_on_waking(data_dir):
    crashed = wake_agent(data_dir, AgentConfig(), time.perf_counter)
    for i in range(15):  # 1.5 s of ticks: the day log has flushed at least once
        crashed.tick(1000.0 + i * 0.1)
    day_one = crashed.day_log.path  # never closed, as after a SIGKILL
    assert not (day_one / "metadata.yaml").exists()

    agent = wake_agent(data_dir, AgentConfig(), time.perf_counter)
    try:
        assert (day_one / "metadata.yaml").exists()
        assert len(read_day(day_one)) >= 10
        assert list_days(data_dir / "days") == [day_one, agent.day_log.path]
    finally:
        agent.close()


def test_capacity_is_the_brains_unless_a_shorter_day_is_asked_for(data_dir):
    held = checkpoint.read_config(data_dir / "brains" / "v0000").capacity
    for asked, used in ((0, held), (15, 15), (held * 2, held)):
        agent = wake_agent(data_dir, AgentConfig(), time.perf_counter, capacity=asked)
        agent.close()
        assert agent.meter.config.capacity == used


def test_drowsiness_runs_at_the_agents_tick_rate(data_dir):
    agent = wake_agent(data_dir, AgentConfig(tick_hz=50.0), time.perf_counter)
    agent.close()
    assert agent.meter.config.tick_hz == 50.0


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
@pytest.mark.parametrize("version", [None, "v0000", "0"])
def test_load_brain_by_version_with_either_runtime(data_dir, runtime, version):
    brain = load_brain(data_dir / "brains", runtime, version)
    assert brain.version == "v0000" and brain.runtime.context_length == 0


def test_load_brain_refuses_an_unknown_runtime(data_dir):
    with pytest.raises(ValueError, match="runtime"):
        load_brain(data_dir / "brains", "tensorflow")


def test_the_step_delay_hook_shows_in_step_latency(data_dir):
    agent = wake_agent(data_dir, AgentConfig(), time.perf_counter, step_delay_s=0.03)
    try:
        assert isinstance(agent.runtime, DelayedRuntime)
        action = agent.tick(0.0)
        assert action.step_latency_s >= 0.03
    finally:
        agent.close()


# -- conversion (needs the message packages, not a running graph) ------------------------
convert = pytest.importorskip("nemuri.nodes.convert")


def test_joint_states_are_reordered_by_name_and_extra_joints_ignored():
    from sensor_msgs.msg import JointState

    names = ["wheel", *reversed(JOINTS)]
    msg = JointState(name=names, position=[9.0, 5.0, 4.0, 3.0, 2.0, 1.0], velocity=[])
    position, velocity = convert.joints_in_order(msg)
    np.testing.assert_array_equal(position, [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(velocity, np.zeros(5))


def test_joint_states_missing_a_joint_are_refused():
    from sensor_msgs.msg import JointState

    msg = JointState(name=list(JOINTS[:-1]), position=[0.0] * 4)
    with pytest.raises(ValueError, match="gripper"):
        convert.joints_in_order(msg)


def test_motor_command_velocity_and_rest():
    from nemuri_msgs.msg import MotorCommand

    cmd = convert.motor_command(7, 1_500_000_000, np.arange(5, dtype=np.float32), "v0003")
    assert (cmd.tick, cmd.mode, cmd.brain_version) == (7, MotorCommand.VELOCITY, "v0003")
    assert (cmd.header.stamp.sec, cmd.header.stamp.nanosec) == (1, 500_000_000)
    assert list(cmd.velocity) == [0.0, 1.0, 2.0, 3.0, 4.0]
    rest = convert.motor_command(8, 0, None, "v0003")
    assert rest.mode == MotorCommand.REST and list(rest.velocity) == [0.0] * 5


def test_embedding_data_and_modality_round_trip():
    from nemuri_msgs.msg import Embedding

    values = np.linspace(-1, 1, 16, dtype=np.float32)
    msg = Embedding(modality=Embedding.TOUCH, data=convert.float32_array(values))
    assert convert.modality_name(msg) == "touch"
    np.testing.assert_array_equal(convert.embedding_data(msg), values)
    assert convert.modality_name(Embedding(modality=9)) is None


def test_waking_from_sleep_empties_the_context_and_opens_a_new_day(data_dir):
    from nemuri.wakeup import wake_from_sleep

    agent = wake_agent(data_dir, AgentConfig(), time.perf_counter)
    for i in range(5):
        agent.tick(float(i) / 10)
    first_day = agent.day_log.path
    agent.fall_asleep()
    assert wake_from_sleep(agent, data_dir, "onnx", "v0000") == "v0000"
    try:
        assert not agent.asleep and agent.runtime.context_length == 0
        assert agent.day_log.path != first_day and (first_day / "metadata.yaml").exists()
    finally:
        agent.close()


def test_a_version_that_does_not_load_wakes_with_the_old_brain(data_dir):
    from nemuri.wakeup import wake_from_sleep

    agent = wake_agent(data_dir, AgentConfig(), time.perf_counter)
    old_runtime = agent.runtime
    agent.fall_asleep()
    assert wake_from_sleep(agent, data_dir, "onnx", "v0042") == "v0000"
    try:
        assert not agent.asleep and agent.runtime is old_runtime
    finally:
        agent.close()


def test_waking_takes_the_new_brains_age_from_its_manifest(data_dir):
    """After a night the age shown is the woken version's, not the count kept awake."""
    from nemuri.wakeup import wake_from_sleep

    def shown(agent) -> tuple[str, int, int]:
        state = convert.agent_state(agent, agent.tick_count, 0, 0.0, "")
        return state.model_version, state.age_ticks, state.nights

    brains = data_dir / "brains"
    brain, _ = checkpoint.load(brains / "v0000")
    checkpoint.save(brains, brain, parent=0, nights=1, ticks_seen=1234)
    agent = wake_agent(data_dir, AgentConfig(), time.perf_counter)  # the latest: v0001
    try:
        assert shown(agent) == ("v0001", 1234, 1)
        for i in range(7):
            agent.tick(float(i) / 10)
        assert agent.age_ticks == 1241, "awake, every tick counts"
        agent.fall_asleep()  # a rejected night wakes as the parent, at the parent's age
        assert wake_from_sleep(agent, data_dir, "onnx", "v0000") == "v0000"
        assert shown(agent) == ("v0000", 0, 0)
        checkpoint.save(brains, brain, parent=1, nights=2, ticks_seen=5000)
        agent.fall_asleep()
        assert wake_from_sleep(agent, data_dir, "onnx", "v0002") == "v0002"
        assert shown(agent) == ("v0002", 5000, 2)
        agent.fall_asleep()  # a version that does not load keeps the brain and its age
        assert wake_from_sleep(agent, data_dir, "onnx", "v0042") == "v0002"
        assert shown(agent) == ("v0002", 5000, 2)
    finally:
        agent.close()
