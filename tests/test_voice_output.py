"""The voice on a real sound output: the speech node speaks into a PulseAudio null sink.

The speech node (output=speaker, device "pulse") voices a word with espeak-ng and plays
it through sounddevice into the test's own null sink (pulse_helpers); a sounddevice
microphone on the sink's monitor must hear the very samples the voice rendered.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rclpy
from rclpy.lifecycle import TransitionCallbackReturn
from std_msgs.msg import String

from nemuri.devices.audio import AudioConfig, SoundDeviceMicrophone, SoundDeviceSpeaker
from nemuri.nodes import qos
from nemuri.nodes.speech_node import SpeechNode
from nemuri.senses.voice import synthesize
from pulse_helpers import aligned_correlation, pulse_null_sink
from ros_helpers import spinning, wait_for

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
SUCCESS = TransitionCallbackReturn.SUCCESS


@pytest.mark.ros
def test_the_voice_plays_into_the_null_sink_and_is_heard_back(ctx):
    rendered = synthesize("umbrella")
    heard: list[np.ndarray] = []
    with pulse_null_sink() as pulse:
        assert SoundDeviceSpeaker("pulse").rate == 16_000  # the sink takes 16 kHz as it is
        mic = SoundDeviceMicrophone(
            AudioConfig("pulse", 16_000, 1600), lambda stamp, block: heard.append(block)
        )
        node = SpeechNode(
            context=ctx,
            parameter_overrides=[
                rclpy.Parameter("output", value="speaker"),
                rclpy.Parameter("device", value="pulse"),
            ],
        )
        probe = rclpy.create_node("voice_probe", context=ctx)
        say = probe.create_publisher(String, "/nemuri/speech", qos.SPEECH)
        mic.start()
        try:
            with spinning(ctx, node, probe):
                assert node.trigger_configure() == SUCCESS, pulse.log()
                assert node.trigger_activate() == SUCCESS
                assert wait_for(lambda: len(heard) >= 3, 15.0)
                assert wait_for(lambda: say.get_subscription_count() > 0, 10.0)
                say.publish(String(data="umbrella"))
                assert wait_for(lambda: node.spoken == 1, 20.0)
                assert wait_for(lambda: not node.speaking, 20.0)
                until = len(heard) + 8
                assert wait_for(lambda: len(heard) >= until, 10.0)
                node.close()
        finally:
            mic.close()
            node.destroy_node()
            probe.destroy_node()
    recorded = np.concatenate(heard)
    middle = rendered[1600:-1600]  # the sink may wake a moment late: the start may be cut
    correlation, _ = aligned_correlation(recorded, middle)
    print(f"speech node -> null sink -> monitor: correlation {correlation:.4f}")
    assert correlation > 0.99
    assert node.failed == 0
