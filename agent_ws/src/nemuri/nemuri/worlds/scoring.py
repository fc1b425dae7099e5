"""Scoring probes for the retention benchmark (DESIGN.md, Lessons): pure functions on arrays.

A probe shows one object with no word and no hand. The robot names it right if the
argmax of its word logits, averaged over the probe, is the object's word: among the day's K
words, and over the whole vocabulary. It makes the right gesture if its arm, 2 s into the
probe, is nearer that object's gesture pose than any other object's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nemuri.vocabulary import Vocabulary


def vocabulary_candidates(vocabulary: Vocabulary) -> np.ndarray:
    """Every word id except `silence` and `unknown`.

    Over a probe nobody speaks, so the averaged logits favour `silence` whatever the robot
    knows; "over the whole vocabulary" asks which *word* it would say, so those two are out.
    """
    skip = {vocabulary.id("silence"), vocabulary.id("unknown")}
    return np.array([i for i in range(len(vocabulary)) if i not in skip], dtype=np.int64)


def word_choice(logits: np.ndarray, candidates: Sequence[int] | np.ndarray) -> int:
    """The candidate word id with the highest logit averaged over the probe's ticks.

    logits: (T, V) word logits, one row per probe tick; candidates: the ids to choose among.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must be (T, V) with T >= 1, got shape {logits.shape}")
    ids = np.asarray(candidates, dtype=np.int64)
    if ids.size == 0:
        raise ValueError("no candidate words to choose among")
    mean = logits.mean(axis=0)  # (V,)
    return int(ids[np.argmax(mean[ids])])


def word_correct(logits: np.ndarray, target: int, candidates: Sequence[int] | np.ndarray) -> bool:
    """Whether the probe's averaged logits pick the word id `target` among `candidates`."""
    return word_choice(logits, candidates) == target


def gesture_choice(position: np.ndarray, poses: np.ndarray) -> int:
    """Index of the gesture pose nearest (Euclidean, radians) to the arm's joint positions.

    position: (J,) joint positions at the probe's gesture tick; poses: (K, J).
    """
    position = np.asarray(position, dtype=np.float64)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or position.shape != poses.shape[1:]:
        raise ValueError(f"position {position.shape} does not match poses {poses.shape}")
    return int(np.argmin(np.linalg.norm(poses - position, axis=1)))


def gesture_correct(position: np.ndarray, poses: np.ndarray, target: int) -> bool:
    """Whether the arm is nearer pose `target` than any other of `poses`."""
    return gesture_choice(position, poses) == target


@dataclass(frozen=True)
class ProbeScores:
    """Accuracies over a set of probes, each beside the accuracy of guessing."""

    probes: int
    word_among_k: float
    word_over_vocabulary: float
    gesture: float
    chance_among_k: float
    chance_over_vocabulary: float


def score_probes(
    word_logits: Sequence[np.ndarray],
    positions: np.ndarray,
    targets: Sequence[int],
    word_ids: Sequence[int],
    poses: np.ndarray,
    vocabulary_ids: Sequence[int] | np.ndarray,
) -> ProbeScores:
    """Score N probes of a day's K objects.

    word_logits: N arrays (T_i, V); positions: (N, J) arm at each gesture tick; targets: N
    indices among the K objects; word_ids: (K,) vocabulary id of each object's word; poses:
    (K, J); vocabulary_ids: the candidates "over the whole vocabulary" (see
    `vocabulary_candidates`).
    """
    n = len(targets)
    if not (len(word_logits) == len(positions) == n) or n == 0:
        raise ValueError("need one logits array, one position and one target per probe (N >= 1)")
    ids = np.asarray(word_ids, dtype=np.int64)
    among_k = sum(word_correct(lg, ids[t], ids) for lg, t in zip(word_logits, targets, strict=True))
    over_v = sum(
        word_correct(lg, ids[t], vocabulary_ids) for lg, t in zip(word_logits, targets, strict=True)
    )
    gestures = sum(
        gesture_correct(p, poses, t) for p, t in zip(np.asarray(positions), targets, strict=True)
    )
    return ProbeScores(
        probes=n,
        word_among_k=among_k / n,
        word_over_vocabulary=over_v / n,
        gesture=gestures / n,
        chance_among_k=1.0 / len(ids),
        chance_over_vocabulary=1.0 / len(vocabulary_ids),
    )
