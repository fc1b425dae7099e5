"""The simulated microphone: blocks of one tick, sounds on the sample counter, seeded noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nemuri.worlds.microphone import FULL_SCALE, Microphone, MicrophoneConfig, rms_dbfs

SILENT = MicrophoneConfig(noise_dbfs=-math.inf)


def heard(mic: Microphone, n_blocks: int) -> np.ndarray:
    return np.concatenate([mic.block() for _ in range(n_blocks)])


def test_a_block_is_one_tick_of_16_khz_int16():
    assert Microphone().block_samples == 1600
    block = Microphone(MicrophoneConfig(tick_hz=50.0)).block()
    assert block.shape == (320,) and block.dtype == np.int16
    with pytest.raises(ValueError, match="whole blocks"):
        Microphone(MicrophoneConfig(tick_hz=7.0))


def test_the_noise_floor_is_at_its_level_and_the_same_for_the_same_seed():
    blocks = heard(Microphone(seed=3), 10)
    assert rms_dbfs(blocks) == pytest.approx(-60.0, abs=0.5)
    np.testing.assert_array_equal(blocks, heard(Microphone(seed=3), 10))
    assert not np.array_equal(blocks, heard(Microphone(seed=4), 10))
    reset = Microphone(seed=4)
    reset.block()
    reset.reset(3)
    np.testing.assert_array_equal(blocks, heard(reset, 10))
    assert not heard(Microphone(SILENT), 3).any(), "-inf dBFS is digital silence"


def test_a_played_sound_starts_on_the_next_blocks_first_sample_and_spans_blocks():
    mic = Microphone(SILENT)
    mic.block()
    voice = np.arange(1, 3001, dtype=np.int16)  # 1.875 blocks
    assert mic.play(voice) == 1600 == mic.position
    assert mic.sounding
    out = heard(mic, 3)
    np.testing.assert_array_equal(out[:3000], voice)
    assert not out[3000:].any() and not mic.sounding


def test_sounds_mix_by_sum_with_gain_and_clip_like_an_adc():
    mic = Microphone(SILENT)
    mic.play(np.full(1600, 1000, np.int16))
    mic.play(np.full(800, 30000, np.int16), gain=0.5)
    out = mic.block()
    np.testing.assert_array_equal(out[:800], 16000)
    np.testing.assert_array_equal(out[800:], 1000)
    mic.play(np.r_[np.full(10, 30000), np.full(10, -30000)].astype(np.int16), gain=2.0)
    out = mic.block()
    assert out[0] == FULL_SCALE - 1 and out[10] == -FULL_SCALE


def test_a_fed_stream_plays_its_chunks_back_to_back_whenever_they_arrive():
    mic = Microphone(SILENT)
    one, two, three = (np.full(1600, v, np.int16) for v in (1, 2, 3))
    assert mic.feed("speaker", one) == 0
    assert mic.feed("speaker", two) == 1600, "two chunks in one tick: one after the other"
    mic.play(np.full(1600, 100, np.int16))  # another voice mixes over the stream
    np.testing.assert_array_equal(heard(mic, 2), np.r_[one + 100, two])
    mic.block()  # the stream ran dry: the next chunk starts with the next block
    assert mic.feed("speaker", three) == mic.position == 4800
    np.testing.assert_array_equal(mic.block(), three)


def test_a_stream_running_too_far_ahead_is_dropped_and_counted():
    mic = Microphone(MicrophoneConfig(noise_dbfs=-math.inf, max_backlog_s=0.2))
    chunk = np.ones(1600, np.int16)
    starts = [mic.feed("speaker", chunk) for _ in range(5)]
    assert starts == [0, 1600, 3200, None, None] and mic.dropped == 2


def test_bad_audio_is_refused():
    mic = Microphone()
    with pytest.raises(ValueError, match="mono"):
        mic.play(np.zeros((10, 2), np.int16))
    with pytest.raises(ValueError, match="finite"):
        mic.play(np.array([0.0, np.nan]))
    assert rms_dbfs(np.zeros(10, np.int16)) == -math.inf
