"""'What did you dream?' asked aloud in the world and answered aloud, over real ROS.

The world node (MuJoCo, a short course, the caretaker's espeak-ng voice in its
microphone), the core, the sleep node and the speech node run in this process on one
executor, as `nemuri up` composes them, with the toy brain and the short night of
test_sleep_node; a probe node asks and listens. The core ticks on wall time and gets
sleepy fast (a small context_capacity), so its first day lasts seconds.

- Before any night: the question published on /world/caretaker/ask is said by the
  caretaker word by word, the core recognises it and says "I have not dreamt yet.".
- After the night: the caretaker sees the robot wake (/nemuri/state) and asks by itself;
  the core says the night's dream report (the woken version's manifest) on /nemuri/speech,
  and the speech node's voice of it reaches the world's microphone: blocks of
  /microphone/audio carry the very samples the speech node sent on /speaker/audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from nemuri_msgs.msg import AgentState, AudioChunk  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from nemuri.brain import checkpoint  # noqa: E402
from nemuri.listener import NOT_DREAMT  # noqa: E402
from nemuri.nodes import qos  # noqa: E402
from nemuri.nodes.core_node import CoreNode  # noqa: E402
from nemuri.nodes.sleep_node import SleepNode  # noqa: E402
from nemuri.nodes.speech_node import SpeechNode, chunk_samples  # noqa: E402
from nemuri.nodes.world_node import WorldNode  # noqa: E402
from nemuri.senses.voice import espeak_available  # noqa: E402
from nemuri.worlds.caretaker import WHAT_DID_YOU_DREAM  # noqa: E402
from nemuri.worlds.microphone import rms_dbfs  # noqa: E402
from ros_helpers import Collector, active_node, spinning, wait_for  # noqa: E402
from test_sleep_node import SHORT_NIGHT  # noqa: E402
from test_sleep_world import SMALL  # noqa: E402
from test_world_node import SHORT_COURSE  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
SUCCESS = TransitionCallbackReturn.SUCCESS
# 150 ticks of context at 10 Hz: the first day lasts 15 s, time enough to ask and answer.
CORE = {"tick_hz": 10.0, "context_capacity": 150}
KEEP_ALL_RELIABLE = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE)
KEEP_ALL_BEST_EFFORT = QoSProfile(depth=2000, reliability=ReliabilityPolicy.BEST_EFFORT)


class Probe:
    """The test's side: asks on /world/caretaker/ask, hears what is said and sounded."""

    def __init__(self, ctx: object) -> None:
        self.node = rclpy.create_node("dream_probe", context=ctx)
        n = self.node
        self.ask = n.create_publisher(String, "/world/caretaker/ask", qos.RELIABLE)
        self.said = Collector(n, String, "/nemuri/speech", KEEP_ALL_RELIABLE)
        self.words = Collector(n, String, "/hearing/words", KEEP_ALL_RELIABLE)
        self.state = Collector(n, AgentState, "/nemuri/state", KEEP_ALL_RELIABLE)
        self.voice = Collector(n, AudioChunk, "/speaker/audio", KEEP_ALL_RELIABLE)
        self.microphone = Collector(n, AudioChunk, "/microphone/audio", KEEP_ALL_BEST_EFFORT)

    def spoken(self) -> list[str]:
        return [m.data for m in self.said.snapshot()]

    def version(self) -> str:
        last = self.state.last()
        return "" if last is None else last.model_version


def heard_in_microphone(voice: list[np.ndarray], blocks: list[np.ndarray]) -> float:
    """The share of the voice's sounding chunks that some microphone block carries.

    The world plays the speaker's chunks back to back from a block's first sample, and a
    chunk is one block long, so the block that heard chunk c holds c plus the room (noise,
    the caretaker): a normalised correlation near 1 over the chunk's length.
    """
    sounding = [c.astype(np.float64) for c in voice if len(c) and rms_dbfs(c) > -40.0]
    mic = [b.astype(np.float64) for b in blocks if len(b)]
    if not sounding or not mic:
        return 0.0
    size = max(len(b) for b in mic)
    mic_blocks = np.stack([b for b in mic if len(b) == size])
    found = 0
    for chunk in sounding:
        part = mic_blocks[:, : len(chunk)]
        corr = part @ chunk / (np.linalg.norm(part, axis=1) * np.linalg.norm(chunk) + 1e-9)
        found += bool(corr.max() > 0.9)
    return found / len(sounding)


def test_what_did_you_dream_asked_aloud_is_answered_aloud(ctx, tmp_path: Path):
    if not espeak_available():
        pytest.skip("no espeak-ng: neither the caretaker nor the robot can speak")
    data_dir = tmp_path / "nemuri"
    checkpoint.newborn(data_dir / "brains", config=SMALL)
    course = tmp_path / "short.yaml"
    course.write_text(SHORT_COURSE)  # its lessons end in 8.5 s: a quiet room at night
    probe = Probe(ctx)
    with (
        active_node(SleepNode, ctx, data_dir=str(data_dir), **SHORT_NIGHT) as sleeper,
        active_node(CoreNode, ctx, data_dir=str(data_dir), **CORE) as core,
        active_node(SpeechNode, ctx, output="world") as speech,
        active_node(
            WorldNode, ctx, curriculum=str(course), camera_width=32, camera_height=32
        ) as world,
        spinning(ctx, sleeper, core, speech, world, probe.node),
    ):
        assert wait_for(lambda: probe.ask.get_subscription_count() > 0, 10.0)
        assert wait_for(lambda: probe.version() == "v0000", 20.0), "the core never ticked"

        # Before any night: asked through the world, it has not dreamt yet.
        probe.ask.publish(String(data=WHAT_DID_YOU_DREAM))
        assert wait_for(lambda: NOT_DREAMT in probe.spoken(), 15.0), probe.spoken()
        assert probe.version() == "v0000", "answered before the night"

        # The night, then the caretaker asks on its own as the robot wakes.
        assert wait_for(lambda: probe.version() == "v0001", 90.0), sleeper.last_problem
        woke_at = len(probe.said.snapshot())
        dream = checkpoint.read_manifest(data_dir / "brains" / "v0001")["dream"]["text"]
        assert dream and dream != NOT_DREAMT
        assert wait_for(lambda: dream in probe.spoken()[woke_at:], 20.0), probe.spoken()
        answered = len(probe.voice.snapshot())  # the voice's chunks before the answer

        def answer_heard() -> bool:
            voice = [chunk_samples(m) for m in probe.voice.snapshot()[answered:]]
            blocks = [chunk_samples(m) for m in probe.microphone.snapshot()]
            return heard_in_microphone(voice, blocks) >= 0.8 and len(voice) >= 10

        assert wait_for(answer_heard, 20.0), "the spoken answer never reached the microphone"

    words = [w.data for w in probe.words.snapshot()]
    question = ["what", "did", "you", "dream"]
    asked = [i for i in range(len(words)) if words[i : i + 4] == question]
    assert len(asked) >= 2, words  # once by the test, once by the caretaker on waking
    states = probe.state.snapshot()
    asleep = [i for i, s in enumerate(states) if s.phase == AgentState.ASLEEP]
    assert asleep and states[asleep[0] - 1].model_version == "v0000"
