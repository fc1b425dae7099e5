"""The voice: espeak-ng words as 16 kHz mono int16, and the resampler under it."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nemuri.senses import voice
from nemuri.senses.voice import SAMPLE_RATE, Voice, VoiceConfig, resample, synthesize


@pytest.fixture
def espeak() -> None:
    """Skip without espeak-ng, unless the run demands that everything be checked."""
    if voice.espeak_available():
        return
    if os.environ.get("NEMURI_REQUIRE_ALL") == "1":
        pytest.fail("espeak-ng is not installed and NEMURI_REQUIRE_ALL=1")
    pytest.skip("espeak-ng is not installed")


def test_resample_keeps_a_tone_in_band():
    t = np.arange(22050) / 22050
    out = resample(np.sin(2 * np.pi * 1000 * t), 22050, SAMPLE_RATE)
    assert len(out) == SAMPLE_RATE
    expected = np.sin(2 * np.pi * 1000 * np.arange(len(out)) / SAMPLE_RATE)
    # away from the edges, where the filter sees zeros past the signal
    assert np.abs(out - expected)[500:-500].max() < 1e-3


def test_resample_removes_what_the_new_rate_cannot_hold():
    t = np.arange(22050) / 22050
    out = resample(np.sin(2 * np.pi * 10_000 * t), 22050, SAMPLE_RATE)  # above 8 kHz Nyquist
    assert np.abs(out)[500:-500].max() < 1e-3


def test_resample_same_rate_is_a_copy():
    x = np.arange(10.0)
    out = resample(x, 16000, 16000)
    assert np.array_equal(out, x) and out is not x


@pytest.mark.usefixtures("espeak")
def test_sheep_is_audible_16k_int16_and_about_half_a_second():
    audio = synthesize("sheep")
    assert audio.dtype == np.int16 and audio.ndim == 1
    seconds = len(audio) / SAMPLE_RATE
    assert 0.2 < seconds < 1.2
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
    assert rms > 300  # clearly not silence (int16 full scale is 32767)
    # trimmed: the utterance starts with sound, so its word's onset is the audio's start
    assert np.abs(audio[: SAMPLE_RATE // 50]).max() > 64


@pytest.mark.usefixtures("espeak")
def test_words_sound_different_and_the_cache_returns_the_same_array():
    sheep, ball = synthesize("sheep"), synthesize("ball")
    n = min(len(sheep), len(ball))
    assert len(sheep) != len(ball) or not np.array_equal(sheep[:n], ball[:n])
    assert synthesize("sheep") is sheep
    assert not sheep.flags.writeable  # shared by the cache, so nobody may edit it


@pytest.mark.usefixtures("espeak")
def test_a_phrase_is_longer_than_its_first_word_and_speed_matters():
    assert len(synthesize("what did you dream")) > len(synthesize("what"))
    slow = Voice(VoiceConfig(speed=100))("sheep")
    fast = Voice(VoiceConfig(speed=250))("sheep")
    assert len(slow) > len(fast)


@pytest.mark.usefixtures("espeak")
def test_bad_voice_and_empty_text_are_clear_errors():
    with pytest.raises(voice.VoiceError, match=r"zzvoice.*does not exist"):
        synthesize("sheep", voice="zzvoice")
    with pytest.raises(voice.VoiceError, match="empty"):
        synthesize("   ")


def test_missing_espeak_says_how_to_install(monkeypatch):
    monkeypatch.setattr(voice.shutil, "which", lambda _name: None)
    synthesize.cache_clear()
    try:
        with pytest.raises(voice.VoiceUnavailable, match="apt-get install espeak-ng"):
            synthesize("a word nobody said before")
    finally:
        synthesize.cache_clear()
