"""Preprocessing: frames, the streaming log-mel, touch and joint scaling, and their errors."""

from __future__ import annotations

import numpy as np
import pytest

from nemuri.contracts import JOINTS, TOUCH_PADS
from nemuri.senses import preprocess
from nemuri.senses.preprocess import (
    HOP,
    IMAGE_SIZE,
    LOG_SILENCE,
    N_FRAMES,
    N_MELS,
    WINDOW,
    JointReading,
    LogMelStream,
    ProprioScaling,
    SenseInputError,
    TouchReading,
    last_second,
    log_mel,
    mel_filterbank,
    prepare_image,
    prepare_proprio,
    prepare_touch,
)


def tone(hz: float, seconds: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return np.rint(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def noisy_speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Tones that change every 100 ms over noise: frames differ, so misalignment shows."""
    rng = np.random.default_rng(seed)
    parts = [
        tone(rng.uniform(100, 6000), 0.1, rng.uniform(500, 12000)) for _ in range(int(seconds * 10))
    ]
    x = np.concatenate(parts).astype(np.float64) + rng.normal(0, 200, len(parts) * 1600)
    return np.clip(x, -32768, 32767).astype(np.int16)


# ------------------------------------------------------------------------------ vision
def test_image_of_any_size_becomes_3x96x96_in_unit_range():
    rng = np.random.default_rng(0)
    for shape in [(96, 96, 3), (480, 640, 3), (100, 77, 3), (48, 48, 3)]:
        out = prepare_image(rng.integers(0, 256, shape, dtype=np.uint8))
        assert out.shape == (3, IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_area_resize_keeps_mean_colour_and_blocks():
    # 192x288 made of 2x3 blocks of one colour each: the 96x96 result is those colours.
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    big = small.repeat(2, axis=0).repeat(3, axis=1)
    out = prepare_image(big)
    np.testing.assert_allclose(out, small.transpose(2, 0, 1) / 255.0, atol=1e-5)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        prepare_image(frame).mean(axis=(1, 2)), frame.mean(axis=(0, 1)) / 255.0, atol=1e-4
    )


def test_image_errors_say_what_was_expected():
    with pytest.raises(SenseInputError, match="uint8"):
        prepare_image(np.zeros((96, 96, 3), np.float32))
    with pytest.raises(SenseInputError, match=r"\(H, W, 3\)"):
        prepare_image(np.zeros((96, 96, 4), np.uint8))
    with pytest.raises(SenseInputError, match=r"\(H, W, 3\)"):
        prepare_image(np.zeros((96, 96), np.uint8))
    with pytest.raises(SenseInputError, match="numpy"):
        prepare_image([[0, 0, 0]])


# ------------------------------------------------------------------------------ audio
def test_one_second_is_64_mels_by_100_frames():
    mel = log_mel(noisy_speechlike(1.0))
    assert mel.shape == (N_MELS, 1 + (16_000 - WINDOW) // HOP)  # 98 whole frames in 1 s
    assert last_second(noisy_speechlike(1.0)).shape == (N_MELS, N_FRAMES)
    assert mel_filterbank().shape == (N_MELS, preprocess.N_FFT // 2 + 1)


def test_a_tone_lights_the_mel_band_of_its_frequency():
    low, high = log_mel(tone(300, 0.5)), log_mel(tone(4000, 0.5))
    assert np.argmax(low.mean(axis=1)) < np.argmax(high.mean(axis=1))
    peak = np.argmax(log_mel(tone(1000, 0.5)).mean(axis=1))
    centres = mel_filterbank() @ np.linspace(0, 8000, preprocess.N_FFT // 2 + 1)
    assert abs(centres[peak] - 1000) < 100


def test_silence_reads_as_the_floor_and_louder_is_higher():
    assert np.allclose(log_mel(np.zeros(4000, np.int16)), LOG_SILENCE)
    quiet, loud = log_mel(tone(1000, 0.3, 300)), log_mel(tone(1000, 0.3, 10_000))
    assert loud.max() > quiet.max() + 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_in_any_blocks_equals_the_batch_computation(seed):
    rng = np.random.default_rng(seed)
    audio = noisy_speechlike(2.5, seed)
    stream = LogMelStream()
    fed = 0
    while fed < len(audio):
        block = int(rng.choice([1, 7, 159, 160, 161, 1600, 2000, 9000]))
        stream.push(audio[fed : fed + block])
        fed += block
        # every tick: the stream's second == the batch front end on everything so far
        if rng.random() < 0.3 or fed >= len(audio):
            np.testing.assert_allclose(stream.current(), last_second(audio[:fed]), atol=1e-5)
    assert stream.frames_seen == log_mel(audio).shape[1]


def test_stream_starts_as_silence_and_resets():
    stream = LogMelStream()
    assert np.all(stream.current() == LOG_SILENCE)
    stream.push(noisy_speechlike(0.3))
    assert stream.current()[:, :60].max() == LOG_SILENCE  # only the last 28 frames heard
    assert stream.current()[:, -20:].min() > LOG_SILENCE
    stream.reset()
    assert np.all(stream.current() == LOG_SILENCE) and stream.frames_seen == 0


def test_a_long_block_computes_only_the_frames_that_are_kept():
    stream = LogMelStream()
    audio = noisy_speechlike(5.0)
    assert stream.push(audio) == log_mel(audio).shape[1]
    np.testing.assert_allclose(stream.current(), last_second(audio), atol=1e-5)


def test_batch_of_clips_equals_clip_by_clip():
    clips = np.stack([noisy_speechlike(1.0, seed) for seed in range(3)])
    batch = last_second(clips)
    for clip, mel in zip(clips, batch, strict=True):
        np.testing.assert_array_equal(mel, last_second(clip))


def test_audio_errors_say_what_was_expected():
    stream = LogMelStream()
    with pytest.raises(SenseInputError, match="int16"):
        stream.push(np.zeros(160, np.float32))
    with pytest.raises(SenseInputError, match="16000 Hz"):
        stream.push(np.zeros(160, np.int16), sample_rate=44_100)
    with pytest.raises(SenseInputError, match="mono"):
        stream.push(np.zeros((160, 2), np.int16))
    with pytest.raises(SenseInputError, match="int16"):
        log_mel([0, 1, 2])


# ------------------------------------------------------------------------------ touch
def test_touch_in_newtons_scales_over_ten_newtons_and_clips():
    out = prepare_touch(np.array([0.0, 5.0, 12.0, 1.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 0.1])
    assert out.dtype == np.float32


def test_touch_reading_is_reordered_by_pad_name_and_normalised_passes_through():
    reading = TouchReading(pressure=[0.3, 0.9], pads=("body_right", "gripper"), normalised=True)
    out = prepare_touch(reading)
    expected = np.zeros(len(TOUCH_PADS), np.float32)
    expected[TOUCH_PADS.index("body_right")], expected[TOUCH_PADS.index("gripper")] = 0.3, 0.9
    np.testing.assert_allclose(out, expected)


def test_touch_errors():
    with pytest.raises(SenseInputError, match="NaN"):
        prepare_touch(np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(SenseInputError, match="one pressure per pad"):
        prepare_touch(np.zeros(3))
    with pytest.raises(SenseInputError, match="unknown touch pads"):
        prepare_touch(TouchReading(pressure=[1.0], pads=("elbow",)))


# ------------------------------------------------------------------------------ proprio
SCALING = ProprioScaling.from_limits([-1.0] * 5, [3.0] * 5, [4.0] * 5)


def test_proprio_maps_ranges_to_unit_and_velocities_over_speed_limits():
    out = prepare_proprio(np.array([-1.0, 1.0, 3.0, 2.0, 1.0, 4.0, -2.0, 0.0, 0.0, 8.0]), SCALING)
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0, 0.5, 0.0, 1.0, -0.5, 0.0, 0.0, 1.5])
    assert out.shape == (2 * len(JOINTS),) and out.dtype == np.float32


def test_joint_reading_in_another_order_is_put_in_contract_order():
    names = tuple(reversed(JOINTS))
    position = np.arange(5.0) - 1.0
    reading = JointReading(position=position, velocity=np.zeros(5), names=names)
    out = prepare_proprio(reading, SCALING)
    np.testing.assert_allclose(out[:5], (position[::-1] - 1.0) / 2.0)


def test_proprio_errors():
    with pytest.raises(SenseInputError, match="10 values"):
        prepare_proprio(np.zeros(5), SCALING)
    with pytest.raises(SenseInputError, match="NaN"):
        prepare_proprio(np.array([0.0] * 9 + [np.inf]), SCALING)
    with pytest.raises(SenseInputError, match="lacks joints"):
        prepare_proprio(JointReading([0.0], [0.0], names=("head_pan",)), SCALING)
