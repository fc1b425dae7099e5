"""The camera node: /camera/image_raw (sensor_msgs/Image) -> /nemuri/embedding/vision.

Frames of any size come in rgb8 or bgr8 (what the MuJoCo world, ros_gz_bridge and most
camera drivers publish); the vision encoder squashes them to 96x96 RGB. A frame is only
checked on arrival and resized on the worker at the tick: the camera may be faster than
the tick, and a frame no tick uses should cost nothing.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from nemuri.nodes import qos
from nemuri.nodes.lifecycle import run
from nemuri.nodes.sensor_node import PARAMETERS, SensorNode, stamp_ns

__all__ = ["PARAMETERS", "CameraNode", "image_array", "main"]
ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8")


def image_array(msg: Image) -> np.ndarray:
    """An rgb8/bgr8 Image as (H, W, 3) uint8 RGB, rows padded to `step` allowed.

    Raises ValueError naming what is wrong (encoding, size, data length).
    """
    if msg.encoding not in ENCODINGS:
        raise ValueError(f"image encoding {msg.encoding!r} is not one of {ENCODINGS}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0 or step < 3 * width:
        raise ValueError(f"image of {width}x{height} with a row step of {step} bytes")
    if len(msg.data) != step * height:
        raise ValueError(f"image of {step}x{height} bytes carries {len(msg.data)} bytes")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    pixels = rows[:, : 3 * width].reshape(height, width, 3)
    return pixels[..., ::-1] if msg.encoding == "bgr8" else pixels


class CameraNode(SensorNode):
    """Lifecycle sensor node: the latest camera frame -> the vision embedding each tick."""

    modality = "vision"
    input_topic = "/camera/image_raw"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("nemuri_camera", **kwargs)

    def subscribe(self) -> None:
        self.create_subscription(Image, self.input_topic, self._on_image, qos.SENSOR)

    def _on_image(self, msg: Image) -> None:
        try:
            self.sense(stamp_ns(msg.header.stamp), image_array(msg))
        except ValueError as err:
            self.reject(str(err))

    def encode_input(self, data: np.ndarray) -> np.ndarray:
        return self.encoder.encode(data)  # resize + CNN, on the worker


def main(args: list[str] | None = None) -> None:
    run(CameraNode, args)


if __name__ == "__main__":
    main()
