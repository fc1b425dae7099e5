"""The proprioception node: /joint_states (JointState) -> /nemuri/embedding/proprio.

Joints are matched by name into contracts.JOINTS order (drivers publish their own order,
often with more joints); positions and velocities are scaled over the joints' ranges and
speed limits as the encoder was trained (the scaling travels in its manifest).
"""

from __future__ import annotations

from sensor_msgs.msg import JointState

from nemuri.nodes import convert, qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS, SensorNode, stamp_ns
from nemuri.senses.preprocess import JointReading

__all__ = ["PARAMETERS", "ProprioNode", "main"]


class ProprioNode(SensorNode):
    """Lifecycle sensor node: the latest joint state -> the proprio embedding each tick."""

    modality = "proprio"
    input_topic = "/joint_states"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_proprio", **kwargs)

    def subscribe(self) -> None:
        self.create_subscription(JointState, self.input_topic, self._on_joints, qos.SENSOR)

    def _on_joints(self, msg: JointState) -> None:
        try:  # SenseInputError (NaN, ...) is a ValueError too
            position, velocity = convert.joints_in_order(msg)
            reading = JointReading(position, velocity)
            self.sense(stamp_ns(msg.header.stamp), self.encoder.prepare(reading))
        except ValueError as err:
            self.reject(str(err))


def main(args: list[str] | None = None) -> None:
    run(ProprioNode, args)


if __name__ == "__main__":
    main()
