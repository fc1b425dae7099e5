"""A toy world for the sleep tests, and the check that sleep sees what the agent saw.

The toy world is DESIGN.md's lesson in miniature: K objects, each a fixed random vision
embedding; an object appears, `WORD_AFTER` ticks later its word is heard, a few ticks after
that the arm moves with the object's own joint velocities, then the object goes. Learnable
by a small brain in a few hundred steps, and only from sight: the word's tick is the same
for every object, so the brain must read *which* word from the vision embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from nemuri.agent import Agent
from nemuri.brain import checkpoint
from nemuri.brain.fusion import fuse_tick
from nemuri.brain.model import Brain, BrainConfig
from nemuri.brain.runtime import StepOutput, TickInput, TorchRuntime
from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.harness import Observation, ObservationList, VirtualClock, lockstep
from nemuri.memory import DayLog, TickRow
from nemuri.sleep.dataset import load_day
from nemuri.vocabulary import SILENCE, load_vocabulary

PERIOD_NS = 100_000_000
WORDS = ("ball", "cup", "dog", "sheep")
WORD_AFTER = 8  # ticks from the object's appearance to its word
MOVE_AFTER = 11  # ... to the start of its gesture
MOVE_TICKS = 6
SHOWN = 20  # ticks an object stays in view
GAP = 6  # ticks of nothing between lessons
NOISE = 0.02  # of every sense, each tick
SMALL = BrainConfig(d_model=64, n_layer=2, n_head=4, capacity=256)


class ToyWorld:
    """K objects: their sights, their words, their gestures; fixed by the seed.

    Each tick's senses carry a little fresh noise, as an encoder's would, but little
    enough that no tick is a fingerprint the brain could memorise instead of learning.
    """

    def __init__(self, seed: int = 0, words: Sequence[str] = WORDS) -> None:
        rng = np.random.default_rng(seed)
        self.words = tuple(words)
        K, J = len(self.words), len(JOINTS)
        self.sights = rng.standard_normal((K, EMBEDDING_DIMS["vision"]))
        self.nothing = rng.standard_normal(EMBEDDING_DIMS["vision"])  # the empty table
        self.room = rng.standard_normal(EMBEDDING_DIMS["audio"])  # the room's quiet hum
        self.gestures = rng.uniform(-1, 1, (K, J))  # rad/s
        self.colours = rng.integers(0, 256, (K, 3))  # of each object's thumbnail

    def schedule(self, lessons_each: int, seed: int) -> list[int]:
        order = [k for k in range(len(self.words)) for _ in range(lessons_each)]
        np.random.default_rng(seed).shuffle(order)
        return order

    def sense(self, shown: int | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
        vision = self.nothing if shown is None else self.sights[shown]
        return {
            "vision": (vision + NOISE * rng.standard_normal(vision.shape)).astype(np.float32),
            "audio": (self.room + NOISE * rng.standard_normal(self.room.shape)).astype(np.float32),
        }

    def observations(self, lessons_each: int, seed: int) -> list[tuple[int | None, Observation]]:
        """One (object in view or None, Observation) per tick of a day."""
        rng = np.random.default_rng(seed + 1000)
        ticks: list[tuple[int | None, Observation]] = []
        for k in self.schedule(lessons_each, seed):
            for t in range(SHOWN + GAP):
                shown = k if t < SHOWN else None
                moving = MOVE_AFTER <= t < MOVE_AFTER + MOVE_TICKS
                obs = Observation(
                    embeddings=self.sense(shown, rng),
                    heard_word=self.words[k] if t == WORD_AFTER else None,
                    joint_position=np.zeros(len(JOINTS)),
                    joint_velocity=self.gestures[k] if moving else np.zeros(len(JOINTS)),
                )
                ticks.append((shown, obs))
        return ticks


def toy_row(tick: int, obs: Observation) -> TickRow:
    """The day log row a quiet agent (no motor command, no speech) would write."""
    embeddings = [obs.embeddings.get(m) for m in MODALITIES]
    return TickRow(
        tick=tick,
        stamp_ns=tick * PERIOD_NS,
        embeddings=embeddings,
        present=[e is not None for e in embeddings],
        heard_word=obs.heard_word or SILENCE,
        joint_position=np.asarray(obs.joint_position, np.float32),
        joint_velocity=np.asarray(obs.joint_velocity, np.float32),
        motor_velocity=np.zeros(len(JOINTS), np.float32),
        drowsiness=np.zeros(len(DROWSINESS_FEATURES), np.float32),
        brain_version="v0000",
    )


def write_toy_day(
    days_dir: Path,
    world: ToyWorld,
    lessons_each: int = 8,
    seed: int = 0,
    thumbnails: bool = False,
    close: bool = True,
) -> Path:
    """A day log of the toy world; thumbnails (a flat colour per object) once a second."""
    log = DayLog.create(days_dir, clock_ns=1_790_000_000 * 10**9 + seed * 86_400 * 10**9)
    for tick, (shown, obs) in enumerate(world.observations(lessons_each, seed)):
        log.append(toy_row(tick, obs))
        if thumbnails and tick % 10 == 0:
            colour = world.colours[shown] if shown is not None else np.array([40, 40, 40])
            log.add_thumbnail(tick * PERIOD_NS, np.full((32, 32, 3), colour, np.uint8))
    if close:
        log.close()
    else:
        log.flush()
    return log.path


def newborn(brains_dir: Path, config: BrainConfig = SMALL, seed: int = 0) -> checkpoint.Checkpoint:
    return checkpoint.newborn(brains_dir, seed=seed, config=config)


def probe_words(brain: Brain, world: ToyWorld, ticks: int = WORD_AFTER + 2) -> np.ndarray:
    """(K, K) mean probabilities of each of the K words while each object is in view.

    Empty context, as on waking: a few ticks of nothing, then the object for `ticks`
    ticks, no word and no hand on the arm. Rows: object shown; columns: word.
    """
    vocab = load_vocabulary()
    ids = [vocab.id(w) for w in world.words]
    rng = np.random.default_rng(99)
    out = np.zeros((len(world.words), len(world.words)))
    for k in range(len(world.words)):
        runtime = TorchRuntime(brain)
        probs = []
        for t in range(GAP + ticks):
            senses = world.sense(k if t >= GAP else None, rng)
            x = fuse_tick(
                [senses.get(m) for m in MODALITIES], vocab.silence_id, None, vocab.silence_id, None
            )
            logits = runtime.step(x).word_logits
            if t >= GAP:
                probs.append(torch.softmax(torch.from_numpy(logits), -1).numpy()[ids])
        out[k] = np.mean(probs, axis=0)
    return out


class _Recording:
    """A runtime that remembers every TickInput it was stepped with."""

    def __init__(self, inner: TorchRuntime) -> None:
        self.inner = inner
        self.capacity = inner.capacity
        self.inputs: list[TickInput] = []

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    def reset(self) -> None:
        self.inner.reset()

    def step(self, x: TickInput) -> StepOutput:
        self.inputs.append(x)
        return self.inner.step(x)


def _fields_equal(a: TickInput, b: TickInput) -> bool:
    return all(
        np.array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)))
        for f in ("embeddings", "present", "heard_word", "prev_motor", "prev_spoken", "drowsiness")
    )


def test_a_day_log_gives_back_exactly_the_inputs_the_agent_stepped(tmp_path: Path) -> None:
    """Sleep must train on the very tokens the brain saw awake, own motor and speech included."""
    torch.manual_seed(0)
    brain = Brain(SMALL).eval()
    with torch.no_grad():  # a loud head, so the agent moves and speaks and both get logged
        brain.head_motor.bias.copy_(torch.linspace(-1.0, 1.0, len(JOINTS)))
        brain.head_word.bias[load_vocabulary().id("ball")] = 8.0
    recording = _Recording(TorchRuntime(brain))
    clock = VirtualClock()
    world = ToyWorld()
    log = DayLog.create(tmp_path / "days", clock_ns=0)
    agent = Agent(recording, brain_version="v0000", day_log=log, clock=clock)
    observations = [obs for _, obs in world.observations(lessons_each=1, seed=3)]
    for _ in lockstep(agent, ObservationList(observations), len(observations), clock):
        pass
    agent.close()

    day = load_day(log.path, SMALL)
    assert day.ticks == len(recording.inputs) == len(observations)
    seg = day.segment
    spoke = 0
    for t, x in enumerate(recording.inputs):
        rebuilt = TickInput(
            embeddings=seg.embeddings[t],
            present=seg.present[t],
            heard_word=int(seg.heard_word[t]),
            prev_motor=seg.prev_motor[t],
            prev_spoken=int(seg.prev_spoken[t]),
            drowsiness=seg.drowsiness[t],
        )
        assert _fields_equal(rebuilt, x), f"tick {t}"
        spoke += x.prev_spoken != load_vocabulary().silence_id
    assert spoke > 0 and np.abs(seg.prev_motor).sum() > 0  # own outputs were fed back


def test_the_toy_day_round_trips_with_its_targets(tmp_path: Path) -> None:
    world = ToyWorld()
    path = write_toy_day(tmp_path, world, lessons_each=1, seed=1)
    day = load_day(path, SMALL)
    observations = world.observations(lessons_each=1, seed=1)
    assert day.ticks == len(observations) and not day.recovered
    vocab = load_vocabulary()
    heard = [vocab.word(int(w)) for w in day.segment.heard_word if w != vocab.silence_id]
    order = [world.words[k] for k in world.schedule(1, 1)]
    assert heard == order
    assert day.segment.present[:, :2].all() and not day.segment.present[:, 2:].any()
    assert day.segment.velocity_known.all()


def words_correct(probs: np.ndarray) -> int:
    """Objects whose own word is the most likely of the K."""
    return int((probs.argmax(axis=1) == np.arange(len(probs))).sum())
