"""Probe scoring for the retention benchmark, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from nemuri.vocabulary import Vocabulary
from nemuri.worlds.scoring import (
    gesture_choice,
    gesture_correct,
    score_probes,
    vocabulary_candidates,
    word_choice,
    word_correct,
)

VOCAB = Vocabulary(["silence", "unknown", "ball", "cube", "egg", "dog", "hat"])


def test_vocabulary_candidates_leave_out_silence_and_unknown():
    assert vocabulary_candidates(VOCAB).tolist() == [2, 3, 4, 5, 6]


def test_word_choice_is_the_argmax_of_the_mean_over_the_probe():
    logits = np.zeros((3, 7))
    logits[:, 0] = 10.0  # silence dominates: nobody speaks in a probe
    logits[0, 3] = 5.0  # one tick strongly says cube ...
    logits[1:, 2] = 2.0  # ... two ticks mildly say ball: mean ball 1.33 < cube 1.67
    logits[:, 5] = 4.0  # dog everywhere, but dog is not one of the day's words
    among_k = [2, 3, 4]
    assert word_choice(logits, among_k) == 3
    assert word_correct(logits, 3, among_k) and not word_correct(logits, 2, among_k)
    assert word_choice(logits, vocabulary_candidates(VOCAB)) == 5
    assert word_choice(logits, range(7)) == 0


def test_word_choice_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        word_choice(np.zeros(7), [2])
    with pytest.raises(ValueError, match=r"\(T, V\)"):
        word_choice(np.zeros((0, 7)), [2])
    with pytest.raises(ValueError, match="no candidate"):
        word_choice(np.zeros((2, 7)), [])


def test_gesture_is_the_nearest_pose():
    poses = np.array([[0.0, 0.0, 0.3, 0.2, 0.1], [0.0, 0.0, 1.3, 0.2, 0.1], [0, 0, 1.3, 1.2, 0.8]])
    assert gesture_choice(np.array([0.0, 0.0, 1.0, 0.3, 0.1]), poses) == 1
    assert gesture_correct(np.array([0.1, -0.1, 0.35, 0.2, 0.1]), poses, 0)
    assert not gesture_correct(np.array([0.0, 0.0, 0.79, 0.2, 0.1]), poses, 1)  # nearer 0
    with pytest.raises(ValueError, match="does not match"):
        gesture_choice(np.zeros(3), poses)


def test_score_probes_counts_words_and_gestures_with_chance():
    word_ids = [2, 3, 4]  # ball, cube, egg
    poses = np.array([[0.0, 0.0, 0.3, 0.2, 0.1], [0.0, 0.0, 1.3, 0.2, 0.1], [0, 0, 1.3, 1.2, 0.8]])
    targets = [0, 1, 2, 0]

    def says(word_id: int, also: int | None = None) -> np.ndarray:
        logits = np.zeros((30, 7))
        logits[:, word_id] = 1.0
        if also is not None:
            logits[:, also] = 2.0
        return logits

    # probe 1 (cube) says egg among the K and hat over the vocabulary: wrong both ways;
    # probe 3 (ball) prefers dog, which is not among the K: right among them, wrong over all
    logits = [says(2), says(4, also=6), says(4), says(2, also=5)]
    positions = poses[[0, 0, 2, 0]] + 0.05  # probe 1 gestures ball, not cube
    scores = score_probes(logits, positions, targets, word_ids, poses, vocabulary_candidates(VOCAB))
    assert scores.probes == 4
    assert scores.word_among_k == pytest.approx(3 / 4)
    assert scores.word_over_vocabulary == pytest.approx(2 / 4)
    assert scores.gesture == pytest.approx(3 / 4)
    assert scores.chance_among_k == pytest.approx(1 / 3)
    assert scores.chance_over_vocabulary == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="one logits array"):
        score_probes(logits[:2], positions, targets, word_ids, poses, [2, 3])
