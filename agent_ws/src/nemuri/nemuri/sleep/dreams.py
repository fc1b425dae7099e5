"""Dreams: free-running rollouts of a brain, seeded from a remembered moment.

The brain is stepped through a few real ticks (the seed), then left to run on its own
predictions, as if the world were what it predicts: the next tick's embeddings are the
ones it predicted (for the modalities present at the end of the seed), the word it hears
is the word it predicted, the joints move as its motor head says, and its motor command
is that same prediction. Nothing it does reaches a body or a speaker.

Dreams serve twice. From the second night on, the pre-sleep brain dreams of earlier days
and the night trains on those dreams beside today (generative replay: the old brain's own
picture of the past is a target the new brain must keep meeting). And after a night the
new brain dreams of today, which is what the dream report tells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nemuri.brain.fusion import fuse_tick
from nemuri.brain.model import Brain
from nemuri.brain.runtime import StepOutput, TorchRuntime
from nemuri.sleep.dataset import Segment
from nemuri.vocabulary import load_vocabulary


@dataclass(frozen=True)
class DreamConfig:
    """The shape of one dream."""

    seed_ticks: int = 32  # real ticks the brain is stepped through first
    dream_ticks: int = 64  # ticks it then runs on its own predictions
    temperature: float = 0.0  # word choice: 0 = the most likely word, else sampled
    # A dream hears a word only when it expects it this surely, as the waking agent voices
    # one only above its speech threshold: an unsure argmax is noise, not a memory.
    word_confidence: float = 0.5
    max_motor_velocity: float = 2.0  # rad/s, the clip the Agent applies to its command


@dataclass(frozen=True)
class Dream:
    """One rollout: the seed and what followed, as training data and as what was dreamt."""

    segment: Segment  # seed rows then dreamt rows; tick t's target is row t + 1
    seed_ticks: int
    words: list[int]  # the word predicted at each dreamt tick (silence most of the time)


def dream(brain: Brain, seed: Segment, config: DreamConfig, rng: np.random.Generator) -> Dream:
    """Step `brain` through up to config.seed_ticks rows of `seed`, then dream on.

    Uses the same step the waking agent runs (TorchRuntime over Brain.step, empty context
    at the start), so a dream is what the agent would live through if the world agreed
    with it. The caller's brain is left in the mode it was in.
    """
    vocab = load_vocabulary()
    dims = brain.config.embedding_dims
    was_training = brain.training
    runtime = TorchRuntime(brain)  # puts the brain in eval mode
    try:
        n_seed = max(1, min(config.seed_ticks, len(seed)))
        rows = {name: list(values[:n_seed]) for name, values in seed.arrays().items()}
        out: StepOutput | None = None
        for t in range(n_seed):
            out = runtime.step(
                fuse_tick(
                    _present_slices(seed.embeddings[t], seed.present[t], dims),
                    int(seed.heard_word[t]),
                    seed.prev_motor[t],
                    int(seed.prev_spoken[t]),
                    seed.drowsiness[t],
                    dims,
                )
            )
        assert out is not None
        present = seed.present[n_seed - 1]
        drowsiness = seed.drowsiness[n_seed - 1]
        words = []
        for _ in range(config.dream_ticks):
            word = _choose_word(out.word_logits, config.temperature, config.word_confidence, rng)
            motor = np.clip(out.motor, -config.max_motor_velocity, config.max_motor_velocity)
            x = fuse_tick(
                _present_slices(out.next_embeddings, present, dims),
                word,
                motor,
                vocab.silence_id,  # asleep, it does not speak
                drowsiness,
                dims,
            )
            words.append(word)
            for name, value in (
                ("embeddings", x.embeddings),
                ("present", x.present),
                ("heard_word", x.heard_word),
                ("prev_motor", x.prev_motor),
                ("prev_spoken", x.prev_spoken),
                ("drowsiness", x.drowsiness),
                ("joint_velocity", out.motor),  # the joints move as predicted
                ("velocity_known", 1.0),
            ):
                rows[name].append(value)
            out = runtime.step(x)
    finally:
        brain.train(was_training)
    arrays = {
        name: np.array(values, dtype=seed.arrays()[name].dtype) for name, values in rows.items()
    }
    segment = Segment.from_arrays(arrays, seed.start, f"dream of {seed.source}")
    return Dream(segment, n_seed, words)


def _present_slices(
    embeddings: np.ndarray, present: np.ndarray, dims: tuple[int, ...]
) -> list[np.ndarray | None]:
    """Split a concatenated (E,) row back into per-modality arrays, None where absent."""
    parts, lo = [], 0
    for i, dim in enumerate(dims):
        parts.append(np.asarray(embeddings[lo : lo + dim], np.float32) if present[i] else None)
        lo += dim
    return parts


def _choose_word(
    logits: np.ndarray, temperature: float, confidence: float, rng: np.random.Generator
) -> int:
    """The dreamt word: the likeliest (or sampled); silence when not `confidence` sure."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    if temperature <= 0.0:
        word = int(np.argmax(p))
    else:
        q = np.exp((z - z.max()) / temperature)
        word = int(rng.choice(len(q), p=q / q.sum()))
    return word if p[word] >= confidence else load_vocabulary().silence_id
