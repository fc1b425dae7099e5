"""The speech node: text in, espeak-ng audio out, into the world's microphone.

The end-to-end test runs the speech node on sim time beside the world node (as a graph
faster than real time runs them), both in-process, and listens on both ends: the blocks
on /speaker/audio are the synthesized sentence, and the microphone hears them.
"""

from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from nemuri_msgs.msg import AudioChunk  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.speech_node import SpeechNode, WorldOutput, blocks, chunk_samples  # noqa: E402
from nemuri.nodes.world_node import WorldNode  # noqa: E402
from nemuri.senses.voice import espeak_available, synthesize  # noqa: E402
from nemuri.worlds.microphone import rms_dbfs  # noqa: E402
from ros_helpers import Collector, spinning, wait_for  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE
KEEP_ALL = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")


def speech_node(ctx: object, **params: object) -> SpeechNode:
    overrides = [rclpy.Parameter(name, value=value) for name, value in params.items()]
    return SpeechNode(context=ctx, parameter_overrides=overrides)


def test_audio_is_streamed_one_tick_block_at_a_time():
    audio = np.arange(4000, dtype=np.int16)
    assert [len(b) for b in blocks(audio, 1600)] == [1600, 1600, 800]
    sent: list[tuple[np.ndarray, int]] = []
    output = WorldOutput(lambda samples, now: sent.append((samples, now)), 1600)
    output.tick(0)
    assert not sent and not output.busy()
    output.start(audio)
    for now in (1, 2, 3, 4):
        assert output.busy() == (now <= 3)
        output.tick(now)
    assert [now for _, now in sent] == [1, 2, 3]
    np.testing.assert_array_equal(np.concatenate([s for s, _ in sent]), audio)


@pytest.mark.ros
@pytest.mark.parametrize(
    "params",
    [
        {"output": "speaker", "device": "no such sound card"},
        {"output": "headphones"},
        {"while_speaking": "shout"},
    ],
    ids=["speaker-without-that-device", "unknown-output", "unknown-policy"],
)
def test_an_output_or_policy_it_cannot_use_fails_configure(ctx, params):
    node = speech_node(ctx, **params)
    try:
        assert node.trigger_configure() == FAILURE
    finally:
        node.destroy_node()


@pytest.mark.ros
@needs_espeak
def test_spoken_text_reaches_the_worlds_microphone_and_is_not_spoken_over(ctx):
    probe = rclpy.create_node("speech_probe", context=ctx)
    speaker = Collector(probe, AudioChunk, "/speaker/audio", qos.RELIABLE)
    microphone = Collector(probe, AudioChunk, "/microphone/audio", KEEP_ALL)
    say = probe.create_publisher(String, "/nemuri/speech", qos.SPEECH)
    world = WorldNode(
        context=ctx,
        parameter_overrides=[
            rclpy.Parameter("caretaker", value=False),
            rclpy.Parameter("real_time_factor", value=2.0),
            rclpy.Parameter("use_sim_time", value=True),  # as the graph sets every node
        ],
    )
    speech = speech_node(ctx, use_sim_time=True)
    try:
        assert world.trigger_configure() == SUCCESS
        assert speech.trigger_configure() == SUCCESS
        with spinning(ctx, world, speech, probe):
            assert wait_for(lambda: say.get_subscription_count() > 0, 10.0)
            assert wait_for(lambda: speech._pubs["audio"].get_subscription_count() >= 2, 10.0)
            assert wait_for(lambda: world._pubs["audio"].get_subscription_count() > 0, 10.0)
            assert world.trigger_activate() == SUCCESS
            assert speech.trigger_activate() == SUCCESS
            assert wait_for(lambda: len(microphone.snapshot()) >= 5, 10.0)
            quiet = len(microphone.snapshot())
            say.publish(String(data="hello"))
            say.publish(String(data="world"))  # while "hello" is still to be said: dropped
            expected = synthesize("hello")
            n_blocks = -(-len(expected) // 1600)
            assert wait_for(lambda: len(speaker.snapshot()) >= n_blocks, 20.0)
            assert wait_for(lambda: not speech.speaking, 5.0)
            heard_until = world.microphone.position // 1600 + 3
            assert wait_for(lambda: len(microphone.snapshot()) >= heard_until, 10.0)
            speech.close()
            world.close()
    finally:
        speech.destroy_node()
        world.destroy_node()
    assert (speech.spoken, speech.dropped) == (1, 1)
    chunks = speaker.snapshot()
    assert all(c.sample_rate == 16000 and c.channels == 1 for c in chunks)
    np.testing.assert_array_equal(np.concatenate([chunk_samples(c) for c in chunks]), expected)
    levels = [rms_dbfs(chunk_samples(m)) for m in microphone.snapshot()]
    assert max(levels[:quiet]) < -55.0, "the noise floor before speaking"
    loud = [level for level in levels[quiet:] if level > -35.0]
    assert len(loud) >= n_blocks // 2, levels[quiet:]


@pytest.mark.ros
@needs_espeak
@pytest.mark.parametrize(
    ("policy", "waiting", "dropped"), [("drop", ["one"], 3), ("queue", ["one", "two"], 2)]
)
def test_it_never_speaks_over_itself_it_drops_or_queues(ctx, policy, waiting, dropped):
    """Four sentences before the next tick: the first is to be said, the rest wait or go."""
    node = speech_node(ctx, while_speaking=policy, queue_size=2)
    try:
        assert node.trigger_configure() == SUCCESS
        assert not node.speaking
        for text in ("one", "two", "three", "four"):
            node._on_speech(String(data=text))
        assert list(node._waiting) == waiting and node.dropped == dropped and node.speaking
    finally:
        node.close()
        node.destroy_node()
