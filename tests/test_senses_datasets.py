"""The encoders' training data: augmented utterances and rendered scenes of the world."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nemuri.senses.datasets import (
    CLIP_SAMPLES,
    Lighting,
    Utterance,
    augment_utterance,
    utterance_views,
)
from nemuri.senses.preprocess import LOG_SILENCE, N_FRAMES, N_MELS


def word_like(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return np.rint(6000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16)


def test_an_augmented_clip_is_one_second_of_int16_holding_most_of_the_word():
    rng = np.random.default_rng(0)
    audio = word_like()
    for _ in range(20):
        clip = augment_utterance(audio, rng, p_quiet=1.0, gain_db=(0.0, 0.0), speed=(1, 1))
        assert clip.dtype == np.int16 and clip.shape == (CLIP_SAMPLES,)
        heard = np.count_nonzero(clip) / len(audio)
        assert 0.69 <= heard <= 1.0


def test_noise_is_added_at_the_asked_snr():
    # Same seed: the same speed, gain and start, once over silence and once over noise.
    fixed = {"gain_db": (0.0, 0.0), "speed": (1.0, 1.0), "snr_db": (20.0, 20.0)}
    clean = augment_utterance(word_like(), np.random.default_rng(1), p_quiet=1.0, **fixed)
    noisy = augment_utterance(word_like(), np.random.default_rng(1), p_quiet=0.0, **fixed)
    noise_rms = np.sqrt(np.mean((noisy.astype(float) - clean) ** 2))
    voice_rms = 6000 / np.sqrt(2)
    assert 20 * np.log10(voice_rms / noise_rms) == pytest.approx(20.0, abs=0.5)


def test_utterance_views_are_log_mels_and_seeded():
    utterances = [Utterance("a", word_like(0.3)), Utterance("b", word_like(0.6))]
    views = utterance_views(utterances, 3, seed=5)
    assert views.shape == (2, 3, N_MELS, N_FRAMES) and views.dtype == np.float32
    assert views.min() >= LOG_SILENCE - 1e-5
    np.testing.assert_array_equal(views, utterance_views(utterances, 3, seed=5))
    assert not np.array_equal(views[0, 0], views[0, 1])  # renditions differ


@pytest.fixture(scope="module")
def maker():
    from nemuri.worlds.mujoco_world import rendering_available

    if not rendering_available():
        if os.environ.get("NEMURI_REQUIRE_ALL") == "1":
            pytest.fail("MuJoCo headless rendering is not available and NEMURI_REQUIRE_ALL=1")
        pytest.skip("MuJoCo headless rendering is not available")
    from nemuri.senses.datasets import ViewMaker, make_world

    view_maker = ViewMaker(make_world(16))
    yield view_maker
    view_maker.world.close()


def test_scenes_render_the_asked_object_in_view_and_are_seeded(maker):
    from nemuri.senses.datasets import apply_lighting, render_scenes

    empty = maker.render()
    views = render_scenes(maker, 3, 2, seed=9, object_ids=[0, 5, 10])
    assert views.images.shape == (3, 2, 96, 96, 3) and views.images.dtype == np.uint8
    assert list(views.object_ids) == [0, 5, 10]
    again = render_scenes(maker, 3, 2, seed=9, object_ids=[0, 5, 10])
    np.testing.assert_array_equal(views.images, again.images)
    # the object is in view: the red ball's colour fills part of the frame
    red = views.images[0, 0].astype(int)
    ball = (red[..., 0] > 120) & (red[..., 1] < 60) & (red[..., 2] < 60)
    assert 20 < ball.sum() < 96 * 96 // 4
    assert not maker.world.shown()  # scenes clean up after themselves
    apply_lighting(maker.world, Lighting())
    assert maker.render().shape == empty.shape
