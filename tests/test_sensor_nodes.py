"""The four sensor nodes over real rclpy and DDS on loopback.

The nodes run in-process, composed on one SingleThreadedExecutor in a thread (as `nemuri
up` composes them), with randomly initialised encoders exported by senses/encoders.py into
a temporary models dir, so these tests do not wait on trained models. A `World` node in a
second executor plays the sources: camera frames, microphone chunks, touch and joint
states at twice the tick rate, each stamped now, and collects the embeddings and
/diagnostics. The graph is shared by the module's tests (discovery costs seconds each
time); each test puts the sources back as it found them. One test runs a node as its own
process, to see SIGTERM end it with status 0.
"""

from __future__ import annotations

import array
import itertools
import math
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nemuri_msgs.msg import AudioChunk, Embedding, Touch
from rclpy.lifecycle import TransitionCallbackReturn
from sensor_msgs.msg import Image, JointState

from nemuri.contracts import EMBEDDING_DIMS, JOINTS, MODALITIES, TOUCH_PADS
from nemuri.nodes import camera_node, convert, microphone_node, proprio_node, qos, touch_node
from nemuri.nodes.sensor_node import PARAMETERS, SensorNode
from nemuri.senses.encoders import build_encoder, export_onnx
from nemuri.senses.preprocess import ProprioScaling
from nemuri.senses.runtime import audio_frontend, read_manifest, sha256_of, write_manifest_entry
from nemuri.worlds.description import joint_limits
from ros_helpers import PYTHON, ros_context, spinning, stop_process, wait_for

pytestmark = pytest.mark.ros
SUCCESS = TransitionCallbackReturn.SUCCESS
TICK_HZ = 20.0
PERIOD_NS = round(1e9 / TICK_HZ)
SOURCE_HZ = 2 * TICK_HZ
CHUNK = 16_000 // round(SOURCE_HZ)  # samples per AudioChunk: 25 ms
CHUNK_NS = CHUNK * 1_000_000_000 // 16_000
NODES: dict[str, type[SensorNode]] = {
    "vision": camera_node.CameraNode,
    "audio": microphone_node.MicrophoneNode,
    "touch": touch_node.TouchNode,
    "proprio": proprio_node.ProprioNode,
}
RCLPY_PARAMETERS = {"use_sim_time", "start_type_description_service"}  # every node has them
MODULES = (camera_node, microphone_node, touch_node, proprio_node)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised encoders and a manifest, as tools/train_encoders.py ships them."""
    out = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)  # the same random encoders every run
    limits = joint_limits().values()
    scaling = ProprioScaling.from_limits(
        [j.lower for j in limits], [j.upper for j in limits], [j.velocity for j in limits]
    )
    preprocess = {
        "vision": {},
        "audio": audio_frontend(),
        "touch": {"full_scale_n": 10.0},
        "proprio": {k: list(v) for k, v in vars(scaling).items()},
    }
    for modality in MODALITIES:
        path = export_onnx(build_encoder(modality), modality, out / f"{modality}.onnx")
        entry = {"version": f"{modality}-test", "file": path.name, "sha256": sha256_of(path)}
        write_manifest_entry(out, modality, {**entry, "preprocess": preprocess[modality]})
    return out


@pytest.fixture(scope="module")
def ctx() -> Iterator[object]:
    """One Context for the module (wider than conftest's per-test one)."""
    with ros_context() as context:
        yield context


class World:
    """The sources around the sensor nodes, and what comes back from them."""

    def __init__(self, ctx: object) -> None:
        self.node = rclpy.create_node("sensor_sources", context=ctx)
        self.lock = threading.Lock()
        self.sending = dict.fromkeys(MODALITIES, True)
        self.age_ns = dict.fromkeys(MODALITIES, 0)  # how old each source stamps its input
        self.stamps: dict[str, set[int]] = {m: set() for m in MODALITIES}
        self.speech: deque[int] = deque()  # samples still to play, else silence
        self.embeddings: dict[str, list[tuple[int, Embedding]]] = {m: [] for m in MODALITIES}
        self.statuses: dict[str, list[DiagnosticStatus]] = {m: [] for m in MODALITIES}
        pub = self.node.create_publisher
        self.pubs = {
            "vision": pub(Image, "/camera/image_raw", qos.SENSOR),
            "audio": pub(AudioChunk, "/microphone/audio", qos.SENSOR),
            "touch": pub(Touch, "/touch", qos.SENSOR),
            "proprio": pub(JointState, "/joint_states", qos.SENSOR),
        }
        for m in MODALITIES:
            topic = f"/nemuri/embedding/{m}"
            self.node.create_subscription(
                Embedding, topic, lambda msg, m=m: self._on_embedding(m, msg), qos.EMBEDDING
            )
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", self._on_diagnostics, qos.DIAGNOSTICS
        )
        self.senses: dict[str, SensorNode] = {}  # the nodes under test, by modality
        self.frame = np.random.default_rng(0).integers(0, 256, (72, 128, 3), dtype=np.uint8)
        self.node.create_timer(1.0 / SOURCE_HZ, self._publish)

    # -- sources --------------------------------------------------------------------
    def _publish(self) -> None:
        now = self.node.get_clock().now().nanoseconds
        with self.lock:
            sending, ages = dict(self.sending), dict(self.age_ns)
            audio = [self.speech.popleft() for _ in range(min(CHUNK, len(self.speech)))]
        for m in MODALITIES:
            if sending[m]:
                stamp = now - ages[m]
                self.pubs[m].publish(self.good(m, stamp, np.array(audio, np.int16)))
                with self.lock:
                    self.stamps[m].add(stamp + (CHUNK_NS if m == "audio" else 0))

    def good(self, modality: str, stamp: int, audio: np.ndarray) -> object:
        if modality == "vision":
            return image(self.frame, "rgb8", stamp)
        if modality == "audio":
            samples = np.zeros(CHUNK, np.int16)
            samples[: len(audio)] = audio
            return chunk(samples, 16_000, stamp)
        if modality == "touch":
            return touch(list(TOUCH_PADS), [1.0, 0.0, 2.5, 0.0], stamp)
        return joints(list(JOINTS), [0.1, 0.8, 0.0, 0.3, 0.0], stamp)

    def publish(self, modality: str, msg: object) -> None:
        self.pubs[modality].publish(msg)

    def set(self, modality: str, sending: bool = True, age_ns: int = 0) -> None:
        with self.lock:
            self.sending[modality], self.age_ns[modality] = sending, age_ns

    def say(self, samples: np.ndarray) -> None:
        with self.lock:
            self.speech.extend(samples.tolist())

    # -- what comes back ------------------------------------------------------------
    def _on_embedding(self, modality: str, msg: Embedding) -> None:
        with self.lock:
            self.embeddings[modality].append((time.time_ns(), msg))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                for m in MODALITIES:
                    if status.name.endswith(f": {m} encoder"):
                        self.statuses[m].append(status)

    def received(self, modality: str, since: int = 0) -> list[tuple[int, Embedding]]:
        with self.lock:
            return list(self.embeddings[modality][since:])

    def count(self, modality: str) -> int:
        with self.lock:
            return len(self.embeddings[modality])

    def status(self, modality: str, since: int = 0) -> list[DiagnosticStatus]:
        with self.lock:
            return list(self.statuses[modality][since:])

    def linked(self) -> bool:
        """Every source is heard and every sense has answered (discovery takes ~3 s)."""
        heard = all(p.get_subscription_count() > 0 for p in self.pubs.values())
        return heard and all(self.count(m) > 0 for m in MODALITIES)


@pytest.fixture(scope="module")
def world(ctx: object, models_dir: Path) -> Iterator[World]:
    """The four sensor nodes, composed and active, at TICK_HZ, linked to the sources."""
    params = {"tick_hz": TICK_HZ, "diagnostics_hz": 5.0, "models_dir": str(models_dir)}
    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    nodes = [cls(context=ctx, parameter_overrides=overrides) for cls in NODES.values()]
    world = World(ctx)
    world.senses = dict(zip(MODALITIES, nodes, strict=True))
    try:
        for node in nodes:
            assert node.trigger_configure() == SUCCESS
        with spinning(ctx, *nodes), spinning(ctx, world.node):
            # Activated while spinning, as a lifecycle manager would: GridTimer's first
            # grid instant fires late if the executor is not spinning yet, and the timer
            # keeps that lateness as its phase.
            for node in nodes:
                assert node.trigger_activate() == SUCCESS
            assert wait_for(world.linked, 10.0), {m: world.count(m) for m in MODALITIES}
            yield world
    finally:
        for node in nodes:
            node.close()
            node.destroy_node()
        world.node.destroy_node()


# ------------------------------------------------------------------------------ messages
def image(rgb: np.ndarray, encoding: str, stamp: int, pad: int = 0) -> Image:
    """An Image of `rgb` (H, W, 3) in rgb8 or bgr8, each row padded with `pad` bytes."""
    pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
    rows = np.zeros((rgb.shape[0], 3 * rgb.shape[1] + pad), np.uint8)
    rows[:, : 3 * rgb.shape[1]] = pixels.reshape(rgb.shape[0], -1)
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=rows.shape[1])
    msg.header.stamp = convert.to_stamp(stamp)
    msg.data = array.array("B", rows.tobytes())
    return msg


def chunk(samples: np.ndarray, rate: int, stamp: int, channels: int = 1) -> AudioChunk:
    msg = AudioChunk(sample_rate=rate, channels=channels)
    msg.header.stamp = convert.to_stamp(stamp)
    msg.samples = array.array("h", samples.astype(np.int16).tobytes())
    return msg


def touch(pads: list[str], newtons: list[float], stamp: int) -> Touch:
    msg = Touch(pads=pads, normalised=False)
    msg.header.stamp = convert.to_stamp(stamp)
    msg.pressure = convert.float32_array(np.array(newtons))
    return msg


def joints(names: list[str], position: list[float], stamp: int) -> JointState:
    msg = JointState(name=names)
    msg.header.stamp = convert.to_stamp(stamp)
    msg.position = convert.float64_array(np.array(position))
    msg.velocity = convert.float64_array(np.zeros(len(names)))
    return msg


def stamp_of(msg: Embedding) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


# ------------------------------------------------------------------------------ tests
def test_each_sense_publishes_one_embedding_per_tick_stamped_with_its_input(world):
    start = {m: world.count(m) for m in MODALITIES}
    seconds = 1.5
    time.sleep(seconds)
    expected = seconds * TICK_HZ
    for m in MODALITIES:
        got = world.received(m, start[m])
        assert 0.8 * expected <= len(got) <= expected + 2, (m, len(got))  # 2 busy cores
        with world.lock:
            sent = set(world.stamps[m])
        ticks = [msg.tick for _, msg in got]
        assert all(b > a for a, b in itertools.pairwise(ticks)), (m, ticks)  # one per tick
        consecutive = sum(b - a == 1 for a, b in itertools.pairwise(ticks))
        assert consecutive >= 0.8 * (len(ticks) - 1), (m, ticks)
        for _, msg in got:
            assert convert.modality_name(msg) == m
            assert msg.encoder_version == f"{m}-test"
            data = convert.embedding_data(msg)
            assert data.shape == (EMBEDDING_DIMS[m],) and np.isfinite(data).all()
            assert stamp_of(msg) in sent, m  # the input's stamp (audio: its chunk's end)
        # On a grid: every embedding at the same phase of the period. Which phase is
        # GridTimer's to keep (test_tick_grid.py); on two loaded cores it keeps the lateness
        # of its first instant, 10-20 ms here, so only the regularity is ours to check.
        turns = np.array([t % PERIOD_NS for t, _ in got]) / PERIOD_NS
        concentration = abs(np.exp(2j * np.pi * turns).mean())  # 1: all at one phase
        assert concentration > 0.9, (m, np.round(turns, 3))
    ok = [world.status(m)[-1] for m in MODALITIES]
    assert all(s.level == DiagnosticStatus.OK for s in ok), [s.message for s in ok]
    assert all(float(values(s)["embedding_hz"]) > 0.7 * TICK_HZ for s in ok)


def test_a_stale_input_stops_the_embeddings_until_it_is_fresh_again(world):
    world.set("vision", sending=False)  # a stopped camera
    world.set("proprio", age_ns=2 * PERIOD_NS)  # joint states stamped two ticks ago
    try:
        time.sleep(2.5 / TICK_HZ)  # the last fresh frame ages past 1.5 periods
        start = {m: world.count(m) for m in MODALITIES}
        diagnostics = len(world.status("vision"))
        time.sleep(0.5)
        assert world.count("vision") == start["vision"]
        assert world.count("proprio") == start["proprio"]
        assert world.count("touch") - start["touch"] >= 0.5 * TICK_HZ - 2  # the others go on
        assert wait_for(lambda: len(world.status("vision")) > diagnostics, 1.0)
        status = world.status("vision")[-1]
        assert status.level == DiagnosticStatus.WARN and "stale" in status.message
        assert int(values(status)["stale_ticks"]) > 0
    finally:
        world.set("vision")
        world.set("proprio")
    for m in ("vision", "proprio"):
        assert wait_for(lambda m=m: world.count(m) > start[m] + 2, 1.0), m


def test_an_inactive_sensor_publishes_nothing_until_activated_again(world):
    node = world.senses["touch"]
    assert node.trigger_deactivate() == SUCCESS
    try:
        time.sleep(2.0 / TICK_HZ)  # an encode already handed over may still land
        stopped = world.count("touch")
        time.sleep(0.3)
        assert world.count("touch") == stopped
    finally:
        assert node.trigger_activate() == SUCCESS
    assert wait_for(lambda: world.count("touch") > stopped + 2, 1.0)


BAD_INPUTS = {
    "vision": [
        (lambda s: image(np.zeros((4, 4, 3), np.uint8), "mono8", s), "encoding 'mono8'"),
        (lambda s: _truncated(image(np.zeros((4, 4, 3), np.uint8), "rgb8", s)), "bytes"),
    ],
    "audio": [
        (lambda s: chunk(np.zeros(CHUNK, np.int16), 44_100, s), "44100 Hz"),
        (lambda s: chunk(np.zeros(2 * CHUNK, np.int16), 16_000, s, channels=2), "mono"),
    ],
    "touch": [
        (lambda s: touch(list(TOUCH_PADS), [1.0, math.nan, 0.0, 0.0], s), "NaN"),
        (lambda s: touch(["tail"], [1.0], s), "unknown touch pads"),
    ],
    "proprio": [
        (lambda s: joints(list(JOINTS), [0.0, math.nan, 0.0, 0.0, 0.0], s), "NaN"),
        (lambda s: joints(list(JOINTS[:4]), [0.0] * 4, s), "lacks ['gripper']"),
    ],
}


def _truncated(msg: Image) -> Image:
    msg.data = msg.data[:-1]
    return msg


def test_malformed_inputs_are_rejected_with_a_diagnostic_and_the_nodes_keep_ticking(world):
    since = {m: len(world.status(m)) for m in MODALITIES}
    start = {m: world.count(m) for m in MODALITIES}
    for case in range(2):  # one kind at a time: a /diagnostics window names its last problem
        for _ in range(2):  # best effort: twice, between the good inputs
            for m, cases in BAD_INPUTS.items():
                world.publish(m, cases[case][0](world.node.get_clock().now().nanoseconds))
            time.sleep(0.05)
        time.sleep(0.3)
    for m, cases in BAD_INPUTS.items():

        def problems(m: str = m) -> set[str]:
            return {values(s)["last_input_problem"] for s in world.status(m, since[m])}

        def seen(m: str = m, cases: list = cases) -> bool:
            return all(any(why in p for p in problems()) for _, why in cases)

        assert wait_for(seen, 2.0), (m, problems())
        warned = [s for s in world.status(m, since[m]) if int(values(s)["rejected_inputs"])]
        assert warned and all(s.level == DiagnosticStatus.WARN for s in warned)
        assert "rejected" in warned[0].message
    time.sleep(0.3)
    for m in MODALITIES:  # still ticking, on the good inputs only
        got = world.received(m, start[m])
        assert len(got) >= 0.5 * TICK_HZ, (m, len(got))
        with world.lock:
            assert all(stamp_of(msg) in world.stamps[m] for _, msg in got)


def test_the_microphone_hears_a_word_apart_from_silence(world):
    voice = pytest.importorskip("nemuri.senses.voice")
    if not voice.espeak_available():
        pytest.skip("espeak-ng is not installed")
    ball = voice.synthesize("ball")
    time.sleep(1.1)  # a whole second of silence in the stream
    silence = convert.embedding_data(world.received("audio")[-1][1]).copy()
    start = world.count("audio")
    world.say(ball)
    assert wait_for(lambda: not world.speech, 3.0)  # played out
    time.sleep(0.1)
    heard = [convert.embedding_data(m) for _, m in world.received("audio", start)]
    distance = max(np.linalg.norm(h - silence) for h in heard)
    assert distance > 0.2 * np.linalg.norm(silence), distance
    time.sleep(1.1)  # a second after the word ended, the last second is silence again
    after = convert.embedding_data(world.received("audio")[-1][1])
    assert np.allclose(after, silence, atol=1e-4)


def test_sigterm_ends_a_sensor_process_with_status_0_after_ticking_at_50_hz(world, models_dir):
    """Its own process, at 50 Hz; output remapped so the composed touch node is not heard."""
    topic = "/sigterm_test/touch"
    got: list[int] = []
    world.node.create_subscription(Embedding, topic, lambda m: got.append(m.tick), qos.EMBEDDING)
    clock = world.node.get_clock()
    fast = world.node.create_timer(
        0.005, lambda: world.publish("touch", world.good("touch", clock.now().nanoseconds, None))
    )
    args = [PYTHON, "-m", "nemuri.nodes.touch_node", "--ros-args"]
    args += ["-p", "tick_hz:=50.0", "-p", f"models_dir:={models_dir}"]
    args += ["-r", f"/nemuri/embedding/touch:={topic}", "-r", "__node:=sigterm_touch"]
    proc = subprocess.Popen(
        args, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert wait_for(lambda: len(got) > 0, 15.0), stop_process(proc)
        first = len(got)
        time.sleep(1.0)
        assert len(got) - first >= 40, len(got) - first
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10.0) == 0
        assert "Traceback" not in stop_process(proc)
    finally:
        world.node.destroy_timer(fast)
        stop_process(proc, signal.SIGKILL)


def test_without_encoder_files_configure_fails_without_a_crash(ctx, tmp_path):
    for cls in NODES.values():
        overrides = [rclpy.Parameter("models_dir", value=str(tmp_path))]
        node = cls(context=ctx, parameter_overrides=overrides)
        try:
            assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        finally:
            node.destroy_node()


def test_each_module_publishes_the_parameters_its_node_declares(ctx):
    for module, cls in zip(MODULES, NODES.values(), strict=True):
        assert module.PARAMETERS[: len(PARAMETERS)] == PARAMETERS  # camera, mic: + source
        node = cls(context=ctx)
        try:
            declared = set(node.list_parameters([], 0).names) - RCLPY_PARAMETERS
            assert declared == {name for name, _, _ in module.PARAMETERS}, module.__name__
            assert node.param("tick_phase") == 0.0  # sensors tick on the grid's instants
        finally:
            node.destroy_node()


def test_the_shipped_encoders_are_the_default(ctx):
    manifest = read_manifest()
    if set(manifest) != set(MODALITIES):
        pytest.skip(f"shipped encoders not all trained yet: {sorted(manifest)}")
    for modality, cls in NODES.items():
        node = cls(context=ctx)
        try:
            assert node.trigger_configure() == SUCCESS
            assert node.encoder.version == manifest[modality]["version"]
        finally:
            node.close()
            node.destroy_node()


# ------------------------------------------------------------------------------ no ROS
def test_images_read_as_rgb_from_rgb8_bgr8_and_padded_rows():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for encoding in ("rgb8", "bgr8"):
        for pad in (0, 3):
            got = camera_node.image_array(image(rgb, encoding, 0, pad))
            assert np.array_equal(got, rgb), (encoding, pad)
    with pytest.raises(ValueError, match="not one of"):
        camera_node.image_array(image(rgb, "rgba8", 0))
    with pytest.raises(ValueError, match="carries"):
        camera_node.image_array(_truncated(image(rgb, "rgb8", 0)))
    empty = image(rgb, "rgb8", 0)
    empty.width = 0
    with pytest.raises(ValueError, match="row step"):
        camera_node.image_array(empty)
