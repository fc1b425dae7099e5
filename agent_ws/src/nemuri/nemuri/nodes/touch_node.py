"""The touch node: /touch (nemuri_msgs/Touch) -> /nemuri/embedding/touch.

Pads are matched by name, so a source that names only some pads, in its own order, is
read right (the others read 0). Newtons (simulation) and normalised 0..1 (hardware) both
come in; the encoder's manifest says what full scale in newtons is.
"""

from __future__ import annotations

import numpy as np
from nemuri_msgs.msg import Touch

from nemuri.nodes import qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS, SensorNode, stamp_ns
from nemuri.senses.preprocess import SenseInputError, TouchReading

__all__ = ["PARAMETERS", "TouchNode", "main"]


class TouchNode(SensorNode):
    """Lifecycle sensor node: the latest pad pressures -> the touch embedding each tick."""

    modality = "touch"
    input_topic = "/touch"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_touch", **kwargs)

    def subscribe(self) -> None:
        self.create_subscription(Touch, self.input_topic, self._on_touch, qos.SENSOR)

    def _on_touch(self, msg: Touch) -> None:
        pressure = np.frombuffer(msg.pressure, dtype=np.float32)
        reading = TouchReading(pressure, tuple(msg.pads), bool(msg.normalised))
        try:
            self.sense(stamp_ns(msg.header.stamp), self.encoder.prepare(reading))
        except SenseInputError as err:
            self.reject(str(err))


def main(args: list[str] | None = None) -> None:
    run(TouchNode, args)


if __name__ == "__main__":
    main()
