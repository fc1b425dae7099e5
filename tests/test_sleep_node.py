"""The sleep node over real rclpy and DDS on loopback, with and without the core.

The brain is the toy-sized one of test_sleep_world (SMALL), made once and copied into each
test's data_dir, and the nights are short (a fixed few dozen steps on small windows), so
a whole cycle, day -> drowsy -> sleep -> wake with a new version, takes seconds. The core
gets sleepy fast through a tiny context_capacity, as in test_core_node.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from action_msgs.msg import GoalStatus  # noqa: E402
from nemuri_msgs.action import Sleep  # noqa: E402
from nemuri_msgs.msg import AgentState, MotorCommand, Touch  # noqa: E402
from nemuri_msgs.srv import Dream  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from nemuri.brain import checkpoint  # noqa: E402
from nemuri.memory.daylog import list_days, read_day  # noqa: E402
from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.core_node import CoreNode  # noqa: E402
from nemuri.nodes.sleep_node import PARAMETERS, SleepNode, Waker, dbfs  # noqa: E402
from nemuri.sleep import ReplayStore  # noqa: E402
from ros_helpers import Collector, active_node, spinning, wait_for  # noqa: E402
from test_sleep_world import SMALL, ToyWorld, write_toy_day  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
# A night of seconds: few steps on short windows, two training dreams from night 2 on.
SHORT_NIGHT = {"steps": 30, "segment_ticks": 32, "batch_size": 4, "training_dreams": 2}


@pytest.fixture(scope="module")
def small_brains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    brains = tmp_path_factory.mktemp("small") / "brains"
    checkpoint.newborn(brains, config=SMALL)
    return brains


@pytest.fixture
def data_dir(tmp_path: Path, small_brains: Path) -> Path:
    shutil.copytree(small_brains, tmp_path / "nemuri" / "brains")
    return tmp_path / "nemuri"


class Client:
    """The test's side: a Sleep action client, a Dream client, and a touch publisher."""

    def __init__(self, ctx: object) -> None:
        self.node = rclpy.create_node("sleep_test_client", context=ctx)
        self.action = ActionClient(self.node, Sleep, "/nemuri/sleep")
        self.dream = self.node.create_client(Dream, "/nemuri/dream")
        self.touch = self.node.create_publisher(Touch, "/touch", qos.SENSOR)
        self.feedback: list[tuple[float, Sleep.Feedback]] = []

    def _on_feedback(self, msg: object) -> None:
        self.feedback.append((time.monotonic(), msg.feedback))

    def send(self, day_logs: list[str], budget_s: float = 0.0) -> object:
        """The goal handle (accepted or not), waited for."""
        goal = Sleep.Goal(day_logs=day_logs, budget_s=budget_s)
        future = self.action.send_goal_async(goal, feedback_callback=self._on_feedback)
        assert wait_for(future.done, 10.0), "no answer to the goal"
        return future.result()

    def result(self, handle: object, timeout: float = 60.0) -> object:
        future = handle.get_result_async()
        assert wait_for(future.done, timeout), "the night did not end"
        return future.result()

    def ask_dream(self, version: str = "") -> Dream.Response:
        future = self.dream.call_async(Dream.Request(version=version))
        assert wait_for(future.done, 10.0), "the dream service did not answer"
        return future.result()

    def press(self, newtons: float, pad: str = "head") -> None:
        msg = Touch(pads=[pad], pressure=[newtons], normalised=False)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.touch.publish(msg)

    def training(self, step: int = 1) -> bool:
        return any(f.phase == "training" and f.step >= step for _, f in self.feedback)


# ------------------------------------------------------------------ the whole cycle
def test_day_drowsy_sleep_wake_with_a_new_version_twice(ctx, data_dir):
    """The core hands its closed day to the real sleep node and wakes as what it returns."""
    probe = rclpy.create_node("probe", context=ctx)
    state = Collector(probe, AgentState, "/nemuri/state", qos.STATE)
    motor = Collector(probe, MotorCommand, "/nemuri/motor_command", qos.COMMAND)
    client = Client(ctx)
    with (
        active_node(SleepNode, ctx, data_dir=str(data_dir), **SHORT_NIGHT) as sleeper,
        active_node(
            CoreNode, ctx, data_dir=str(data_dir), tick_hz=20.0, context_capacity=30
        ) as core,
        spinning(ctx, sleeper, core, probe, client.node),
    ):
        assert wait_for(lambda: core._sleep_client.server_is_ready(), 10.0)

        def woke_as(version: str) -> bool:
            return any(s.model_version == version for s in state.snapshot())

        assert wait_for(lambda: woke_as("v0001"), 60.0), sleeper.last_problem
        first_night = sleeper.last_result
        assert first_night is not None and first_night.promoted, first_night
        assert wait_for(lambda: sleeper.last_result is not first_night, 60.0), "slept once"
        assert wait_for(lambda: not sleeper._busy, 60.0)
        assert client.dream.wait_for_service(timeout_sec=10.0)
        latest = client.ask_dream()
        assert client.ask_dream("v0000").found is False  # the newborn never dreamt
        assert client.ask_dream("v9999").found is False
        second_night = sleeper.last_result
    states = state.snapshot()
    phases = [s.phase for s in states]
    asleep = phases.index(AgentState.ASLEEP)
    assert AgentState.DROWSY in phases[:asleep]
    woke = next(i for i in range(asleep, len(states)) if states[i].model_version == "v0001")
    assert states[woke].phase == AgentState.AWAKE and states[woke].nights == 1
    assert states[woke].context_length <= 2, "woke with an empty context"
    assert all(s.model_version == "v0000" for s in states[:asleep])
    assert MotorCommand.REST in [c.mode for c in motor.snapshot()]
    # Each night slept on the day the core closed for it; each sleep began a new day.
    days = list_days(data_dir / "days")
    assert len(days) >= 3 and all((d / "metadata.yaml").is_file() for d in days[:2])
    assert [d["path"] for d in first_night.days] == [str(days[0].resolve())]
    assert not first_night.days[0]["recovered"]  # closed before it was handed over
    assert [d["path"] for d in second_night.days] == [str(days[1].resolve())]
    assert len(read_day(days[0])) >= 30
    m = checkpoint.read_manifest(data_dir / "brains" / "v0001")
    assert m["promoted"] and m["parent"] == 0 and m["steps"] == SHORT_NIGHT["steps"]
    # The age shown after waking is v0001's own, counted on from its manifest.
    age = m["age"]["ticks_seen"]
    assert age >= len(read_day(days[0])) and m["age"]["nights"] == 1
    assert age < states[woke].age_ticks <= age + states[woke].tick + 1
    assert ReplayStore(data_dir / "replay").holds(days[0].name)
    # The dream service answers for the latest night, in the manifest's words.
    newest = checkpoint.latest(data_dir / "brains")
    assert latest.found and latest.version == checkpoint.version_name(newest.version)
    assert latest.report == newest.manifest["dream"]["text"]
    assert latest.report.startswith("I ")


# ------------------------------------------------------------------ goals, one by one
def test_cancelled_touched_refused_and_failed_nights_end_cleanly(ctx, data_dir):
    """Each keeps v0000 and writes nothing; the feedback says where the night was."""
    day = write_toy_day(data_dir / "days", ToyWorld(), lessons_each=2, seed=1)
    client = Client(ctx)
    params = {**SHORT_NIGHT, "steps": 100_000, "feedback_hz": 5.0}
    with (
        active_node(SleepNode, ctx, data_dir=str(data_dir), **params) as sleeper,
        spinning(ctx, sleeper, client.node),
    ):
        assert client.action.wait_for_server(timeout_sec=10.0)
        # 1. cancelled: the night stops at its next step with the last good version
        handle = client.send([str(day)])
        assert handle.accepted
        assert wait_for(lambda: client.training(step=3), 30.0), client.feedback
        refused = client.send([str(day)])  # one night at a time
        assert not refused.accepted
        started = client.feedback[0][0]
        handle.cancel_goal_async()
        answer = client.result(handle)
        ended = time.monotonic()
        assert answer.status == GoalStatus.STATUS_CANCELED
        r = answer.result
        assert (r.new_version, r.parent_version, r.promoted) == ("v0000", "v0000", False)
        assert "woken early in training" in r.reason and "cancelled" in r.reason
        assert json.loads(r.metrics_json)["night"]["interrupted"] is True
        # feedback: a few a second, with the steps and the fraction of the night
        assert len(client.feedback) <= 5.0 * (ended - started) + 3
        last = client.feedback[-1][1]
        assert last.phase == "training" and last.total_steps == 100_000
        assert 0.0 < last.progress < 1.0 and math.isfinite(last.loss)

        # 2. woken by a firm touch (DESIGN: above 5 N in sim); a light one does not wake
        client.feedback.clear()
        handle = client.send([str(day)])
        assert wait_for(lambda: client.training(step=2), 30.0)
        for _ in range(3):
            client.press(3.0)  # below the threshold
            time.sleep(0.05)
        assert sleeper._night is not None and not sleeper._night.stop.is_set()
        assert wait_for(lambda: client.touch.get_subscription_count() > 0, 5.0)

        def press_firmly() -> bool:
            client.press(7.0)
            return sleeper._night is None or sleeper._night.stop.is_set()

        assert wait_for(press_firmly, 10.0, interval=0.1)
        answer = client.result(handle)
        assert answer.status == GoalStatus.STATUS_SUCCEEDED
        assert answer.result.new_version == "v0000" and not answer.result.promoted
        assert "woken by a touch of 7.00 N on head" in answer.result.reason

        # 3. a day log that is not one: aborted, said why, the core would wake as v0000
        answer = client.result(client.send([str(data_dir / "nowhere")]))
        assert answer.status == GoalStatus.STATUS_ABORTED
        assert answer.result.new_version == "v0000" and "not slept" in answer.result.reason
    assert checkpoint.versions(data_dir / "brains") == [0]
    assert not (data_dir / "replay").exists() or not ReplayStore(data_dir / "replay").days
    assert read_day(day).recovered is False  # the day log is only ever read


def test_a_goal_without_day_logs_sleeps_on_the_days_not_slept_yet(ctx, data_dir):
    first = write_toy_day(data_dir / "days", ToyWorld(), lessons_each=1, seed=2)
    second = write_toy_day(data_dir / "days", ToyWorld(), lessons_each=1, seed=3)
    client = Client(ctx)
    with (
        active_node(
            SleepNode, ctx, data_dir=str(data_dir), **SHORT_NIGHT, dream_report=False
        ) as sleeper,
        spinning(ctx, sleeper, client.node),
    ):
        assert client.action.wait_for_server(timeout_sec=10.0)
        answer = client.result(client.send([]))
    assert answer.status == GoalStatus.STATUS_SUCCEEDED, answer.result.reason
    assert json.loads(answer.result.metrics_json)["night"]["days"] == [first.name, second.name]
    assert answer.result.promoted and answer.result.new_version == "v0001"
    assert answer.result.dream == ""  # dream_report off


# ------------------------------------------------------------------ no spinning needed
def test_the_node_declares_its_parameters_and_refuses_a_bad_night(ctx, tmp_path):
    node = SleepNode(
        context=ctx, parameter_overrides=[rclpy.Parameter("data_dir", value=str(tmp_path))]
    )
    try:
        declared = {name for name in node.get_parameters_by_prefix("")}
        assert declared - {"use_sim_time", "start_type_description_service"} == {
            name for name, _, _ in PARAMETERS
        }
        assert all(why for _, _, why in PARAMETERS)
        for transition in ("configure", "activate", "deactivate", "cleanup", "configure"):
            assert getattr(node, f"trigger_{transition}")() == SUCCESS, transition
    finally:
        node.close()
        node.destroy_node()
    bad = [rclpy.Parameter("replay_ratio", value=0.9), rclpy.Parameter("dream_ratio", value=0.2)]
    node = SleepNode(context=ctx, parameter_overrides=bad)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    finally:
        node.destroy_node()


def test_the_waker_follows_the_contract_for_touch_and_sound():
    waker = Waker()
    assert waker.touch(["head", "gripper"], np.array([4.9, 5.0], np.float32), False) is None
    assert "5.10 N on gripper" in waker.touch(["head", "gripper"], np.array([0.0, 5.1]), False)
    assert waker.touch(["head"], np.array([0.45]), True) is None  # hardware: normalised
    assert waker.touch(["head"], np.array([0.6]), True) == "a touch of 0.60 on head"
    assert waker.touch(["head"], np.array([math.nan]), False) is None

    rate = 16_000
    tenth = int(0.1 * rate)
    loud = (np.sin(np.arange(tenth) * 0.3) * 16_000).astype(np.int16)  # about -9 dBFS
    quiet = (loud // 100).astype(np.int16)  # about -49 dBFS
    assert -10.0 < dbfs(loud) < -8.0 and dbfs(quiet) < -40.0
    assert dbfs(np.zeros(10, np.int16)) == -math.inf
    assert [waker.sound(loud, rate) for _ in range(4)] == [None] * 4  # 0.4 s: not yet
    assert waker.sound(quiet, rate) is None  # a pause starts the count over
    assert [waker.sound(loud, rate) for _ in range(4)] == [None] * 4
    said = waker.sound(loud, rate)  # the fifth tenth in a row: 0.5 s
    assert said is not None and "dBFS for 0.50 s" in said
    waker.reset()
    stereo = np.repeat(loud, 2)  # interleaved: half the duration per sample
    assert all(waker.sound(stereo, rate, channels=2) is None for _ in range(4))
    assert waker.sound(stereo, rate, channels=2) is not None
