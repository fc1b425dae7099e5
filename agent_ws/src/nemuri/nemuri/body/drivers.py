"""Drivers: where the safety gate's joint velocities go, each behind `JointDriver`.

The topic driver serves two bodies with one class: ros2_control's
`forward_command_controller` with a velocity interface (Gazebo) takes
std_msgs/Float64MultiArray, one value per joint in the controller's joint order, on
`/forward_velocity_controller/commands`; the MuJoCo world node takes the same message on
`/world/joint_velocity_commands`. Only the topic differs. The firmware's driver is
serial_driver.SerialDriver, behind the same Protocol.

body/ stays free of ROS (DESIGN.md, Layout): `TopicDriver` is handed the function that
publishes a vector, and the actuator node builds that function from its lifecycle
publisher. So what the driver guarantees (JOINTS order and length, finite values, a final
zero on close) is tested without DDS, and the node keeps the few lines that are ROS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from nemuri.contracts import JOINTS

WORLD_COMMAND_TOPIC: Final[str] = "/world/joint_velocity_commands"
GAZEBO_COMMAND_TOPIC: Final[str] = "/forward_velocity_controller/commands"


class DriverClosed(RuntimeError):
    """send() on a driver after close()."""


class JointDriver(Protocol):
    """Sends one tick's joint velocities (rad/s, contracts.JOINTS order) to a body."""

    def send(self, velocities: np.ndarray) -> None:
        """Command these velocities until the next send."""

    def close(self) -> None:
        """Stop the joints and let go of the body (idempotent)."""


@dataclass(frozen=True)
class TopicDriverConfig:
    """Where a TopicDriver's Float64MultiArray goes (the node makes the publisher)."""

    topic: str = WORLD_COMMAND_TOPIC


class TopicDriver:
    """Joint velocities as one float64 vector per tick, through a publish function."""

    def __init__(self, config: TopicDriverConfig, publish: Callable[[np.ndarray], None]) -> None:
        self.config = config
        self._publish = publish
        self._closed = False

    def send(self, velocities: np.ndarray) -> None:
        """Publish the velocities; refuse anything but len(JOINTS) finite values.

        The gate never produces such a vector; refusing here too means a bug upstream
        cannot reach a controller that would act on it.
        """
        if self._closed:
            raise DriverClosed(f"topic driver on {self.config.topic} is closed")
        values = np.asarray(velocities, dtype=np.float64)
        if values.shape != (len(JOINTS),):
            raise ValueError(f"expected {len(JOINTS)} joint velocities, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError(f"refusing non-finite joint velocities {values}")
        self._publish(values)

    def close(self) -> None:
        """Send zeros once, then refuse sends.

        A forward_command_controller keeps applying its last command until it gets
        another, so a driver that went quiet mid-motion would leave the joints moving.
        """
        if not self._closed:
            self._publish(np.zeros(len(JOINTS)))
            self._closed = True
