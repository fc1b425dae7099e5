"""The OpenCV camera source, on a video file the test writes, alone and in the camera node.

The file holds frames of known content (each frame one solid colour, its index in the red
channel, blue fixed, so a BGR/RGB mix-up shows), written with cv2.VideoWriter as MJPEG,
which OpenCV reads back within a few levels. The node runs over real rclpy: it must
publish every frame on /camera/image_raw, in order and at the source's size, and
vision embeddings from them.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from nemuri_msgs.msg import Embedding
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import Image

from nemuri.devices.camera import CameraConfig, CameraError, OpenCVCamera
from nemuri.nodes import qos
from nemuri.nodes.camera_node import CameraNode, image_array
from ros_helpers import Collector, configure_result, spinning, wait_for

SUCCESS = TransitionCallbackReturn.SUCCESS
WIDTH, HEIGHT, FRAMES = 160, 120, 12
BLUE, GREEN = 200, 60


def red_of(index: int) -> int:
    return 20 + 15 * index


def write_video(path: Path, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for k in range(FRAMES):
        frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        frame[:] = (BLUE, GREEN, red_of(k))  # OpenCV writes BGR
        writer.write(frame)
    writer.release()
    return path


def frame_index(rgb: np.ndarray) -> int:
    """Which frame this is, checking it is the solid colour that frame was written with."""
    mean = rgb.reshape(-1, 3).mean(axis=0)
    assert abs(mean[1] - GREEN) < 6 and abs(mean[2] - BLUE) < 6, mean  # RGB order
    return round((mean[0] - 20) / 15)


def test_a_video_file_is_read_in_order_at_its_pace_as_rgb(tmp_path: Path):
    path = write_video(tmp_path / "frames.avi")
    frames: list[tuple[int, np.ndarray]] = []
    camera = OpenCVCamera(CameraConfig(str(path)), lambda s, f: frames.append((s, f)))
    assert camera.is_file
    start = time.monotonic()
    camera.start()
    assert wait_for(lambda: not camera.running, 15.0)
    took = time.monotonic() - start
    camera.close()
    assert [f.shape for _, f in frames] == [(HEIGHT, WIDTH, 3)] * FRAMES
    assert [frame_index(f) for _, f in frames] == list(range(FRAMES))
    assert took >= (FRAMES - 1) / 20.0 * 0.9  # paced at the file's 20 fps
    assert np.all(np.diff([stamp for stamp, _ in frames]) > 0)
    assert camera.problem == "end of the video file"


def test_a_camera_that_cannot_be_opened_is_refused(tmp_path: Path):
    with pytest.raises(CameraError, match="cannot open camera"):
        OpenCVCamera(CameraConfig(str(tmp_path / "no-such.avi")), lambda s, f: None)
    with pytest.raises(CameraError, match="no camera device"):
        OpenCVCamera(CameraConfig(" "), lambda s, f: None)


@pytest.mark.ros
def test_the_camera_node_publishes_the_files_frames_and_embeddings(ctx, tmp_path: Path):
    path = write_video(tmp_path / "frames.avi")
    node = CameraNode(
        context=ctx,
        parameter_overrides=[
            rclpy.Parameter("source", value="opencv"),
            rclpy.Parameter("device", value=str(path)),
            rclpy.Parameter("fps", value=10.0),  # playback rate: the tick's
            rclpy.Parameter("tick_hz", value=10.0),
        ],
    )
    probe = rclpy.create_node("camera_probe", context=ctx)
    images = Collector(probe, Image, "/camera/image_raw", qos.SENSOR)
    embeddings = Collector(probe, Embedding, "/nemuri/embedding/vision", qos.EMBEDDING)
    try:
        with spinning(ctx, node, probe):
            assert node.trigger_configure() == SUCCESS
            assert wait_for(lambda: node.count_subscribers("/camera/image_raw") > 0, 10.0)
            assert wait_for(lambda: node.count_subscribers("/nemuri/embedding/vision") > 0, 10.0)
            assert node.trigger_activate() == SUCCESS
            assert wait_for(lambda: node.device is not None and not node.device.running, 20.0)
            assert wait_for(lambda: len(images.snapshot()) == FRAMES, 5.0)
            node.close()
    finally:
        node.destroy_node()
        probe.destroy_node()
    received = images.snapshot()
    assert [(m.width, m.height, m.encoding) for m in received] == [(WIDTH, HEIGHT, "rgb8")] * 12
    assert [frame_index(image_array(m)) for m in received] == list(range(FRAMES))
    vision = embeddings.snapshot()
    assert len(vision) >= FRAMES // 2  # one a tick while frames came (10 fps, 10 Hz)
    assert all(len(m.data) == 128 for m in vision)
    frame_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in received}
    assert all((m.header.stamp.sec, m.header.stamp.nanosec) in frame_stamps for m in vision)


@pytest.mark.ros
def test_the_camera_node_refuses_a_source_it_cannot_open(ctx, tmp_path: Path):
    for params in ({"source": "opencv", "device": str(tmp_path / "x.avi")}, {"source": "eye"}):
        assert configure_result(CameraNode, ctx, **params) == TransitionCallbackReturn.FAILURE
