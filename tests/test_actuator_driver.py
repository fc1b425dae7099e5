"""The topic driver without DDS: what it publishes, what it refuses, how it stops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nemuri.body.drivers import (
    GAZEBO_COMMAND_TOPIC,
    WORLD_COMMAND_TOPIC,
    DriverClosed,
    JointDriver,
    TopicDriver,
    TopicDriverConfig,
)
from nemuri.contracts import JOINTS


@pytest.fixture
def sent() -> list[np.ndarray]:
    return []


@pytest.fixture
def driver(sent: list[np.ndarray]) -> TopicDriver:
    return TopicDriver(TopicDriverConfig(), sent.append)


def test_topics_default_to_the_world_and_name_gazebos_controller() -> None:
    assert TopicDriverConfig().topic == WORLD_COMMAND_TOPIC == "/world/joint_velocity_commands"
    assert GAZEBO_COMMAND_TOPIC == "/forward_velocity_controller/commands"


def test_send_publishes_the_velocities_as_float64_in_joint_order(driver, sent) -> None:
    as_driver: JointDriver = driver  # the Protocol the node holds
    as_driver.send(np.arange(len(JOINTS), dtype=np.float32))
    assert len(sent) == 1 and sent[0].dtype == np.float64
    np.testing.assert_array_equal(sent[0], [0.0, 1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    "bad", [np.zeros(4), np.zeros((5, 1)), np.array([0.0, 0.0, math.nan, 0.0, 0.0])]
)
def test_send_refuses_what_the_gate_never_makes(driver, sent, bad) -> None:
    with pytest.raises(ValueError):
        driver.send(bad)
    assert sent == []


def test_close_sends_zeros_once_then_refuses(driver, sent) -> None:
    driver.send(np.ones(len(JOINTS)))
    driver.close()
    driver.close()
    assert len(sent) == 2
    np.testing.assert_array_equal(sent[-1], np.zeros(len(JOINTS)))
    with pytest.raises(DriverClosed):
        driver.send(np.zeros(len(JOINTS)))
