"""The sleep's parts on their own: age schedule, objective, day split, batches, replay store."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nemuri.brain.model import BrainOutput
from nemuri.sleep.dataset import ARRAYS, Segment, collate, cut, random_window, split_day
from nemuri.sleep.errors import ReplayStoreError
from nemuri.sleep.objective import ObjectiveConfig, Targets, waking_loss
from nemuri.sleep.progress import NightProgress, ProgressBar
from nemuri.sleep.replay import ReplayConfig, ReplayStore
from nemuri.sleep.schedule import AgeSchedule
from nemuri.vocabulary import load_vocabulary

E, M, J, D = 224, 4, 5, 4
DIMS = (128, 64, 16, 16)


def segment(n: int, start: int = 0, source: str = "day-0001-x", seed: int = 0) -> Segment:
    """n rows of random data; heard_word counts the row, so windows can be located."""
    rng = np.random.default_rng(seed)
    return Segment(
        embeddings=rng.standard_normal((n, E)).astype(np.float32),
        present=np.ones((n, M), np.float32),
        heard_word=np.arange(n, dtype=np.int64) % 300,
        prev_motor=rng.standard_normal((n, J)).astype(np.float32),
        prev_spoken=np.zeros(n, np.int64),
        drowsiness=np.zeros((n, D), np.float32),
        joint_velocity=rng.standard_normal((n, J)).astype(np.float32),
        velocity_known=np.ones(n, np.float32),
        start=start,
        source=source,
    )


# -- learning rate by age -----------------------------------------------------------------
def test_the_learning_rate_falls_with_nights_and_with_ticks_and_has_a_floor() -> None:
    s = AgeSchedule()
    assert s.lr(0, 0) == s.lr_max
    by_night = [s.lr(n, 0) for n in range(50)]
    by_ticks = [s.lr(0, t) for t in range(0, 10**7, 10**5)]
    assert all(a > b for a, b in itertools.pairwise(by_night))
    assert all(a > b for a, b in itertools.pairwise(by_ticks))
    assert s.lr(10**6, 10**12) == s.lr_min
    assert s.lr(1, 3000) == pytest.approx(s.lr_max * 2**-0.5 * (1 + 3000 / s.ticks_scale) ** -0.25)
    with pytest.raises(ValueError):
        AgeSchedule(nights_power=-1.0)  # a rate that rises with age is refused
    with pytest.raises(ValueError):
        s.lr(-1, 0)


def test_within_a_night_the_rate_warms_up_then_decays_to_its_final_fraction() -> None:
    s = AgeSchedule(warmup_fraction=0.1, final_fraction=0.1)
    f = [s.factor(i, 100) for i in range(100)]
    assert f[0] == pytest.approx(0.1) and max(f) == pytest.approx(1.0)
    peak = int(np.argmax(f))
    assert all(a <= b for a, b in itertools.pairwise(f[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(f[peak:]))
    assert f[-1] == pytest.approx(0.1, abs=0.01)
    recorded = s.to_dict()
    assert "formula" in recorded and AgeSchedule.from_dict(recorded) == s


# -- the objective ------------------------------------------------------------------------
def _targets(B: int, T: int, word: int) -> Targets:
    return Targets(
        embeddings=torch.zeros(B, T, E),
        present=torch.ones(B, T, M),
        joint_velocity=torch.zeros(B, T, J),
        velocity_known=torch.ones(B, T),
        word=torch.full((B, T), word),
        mask=torch.ones(B, T),
    )


def _output(B: int, T: int, V: int) -> BrainOutput:
    return BrainOutput(torch.zeros(B, T, E), torch.zeros(B, T, J), torch.zeros(B, T, V))


def test_the_loss_scores_embeddings_only_where_present_next_tick_and_skips_padding() -> None:
    V = len(load_vocabulary())
    out, t = _output(1, 4, V), _targets(1, 4, word=5)
    t.embeddings[0, 0, :128] = 3.0  # vision wrong by 3 at tick 0...
    t.present[0, 0, 0] = 0.0  # ...but vision is absent then: no evidence, no loss
    t.embeddings[0, 3, 128:192] = 100.0  # audio wildly wrong at a padded tick
    t.mask[0, 3] = 0.0
    t.joint_velocity[0, 1] = 2.0  # joints unknown at tick 1
    t.velocity_known[0, 1] = 0.0
    parts = waking_loss(out, t, ObjectiveConfig(), DIMS)
    assert parts.embeddings.item() == 0.0 and parts.motor.item() == 0.0
    t.present[0, 0, 0] = 1.0
    t.velocity_known[0, 1] = 1.0
    parts = waking_loss(out, t, ObjectiveConfig(), DIMS)
    # vision error 9 on one of the 12 (tick, modality) pairs present and not padded
    assert parts.embeddings.item() == pytest.approx(9.0 / 12)
    assert parts.motor.item() == pytest.approx(4.0 / 3)
    assert parts.word.item() == pytest.approx(np.log(V), rel=1e-5)  # uniform logits
    total = ObjectiveConfig(w_embeddings=2.0, w_motor=0.5, w_word=0.0)
    again = waking_loss(out, t, total, DIMS)
    assert again.total.item() == pytest.approx(2 * 9.0 / 12 + 0.5 * 4.0 / 3)


def test_silence_is_down_weighted_in_the_word_loss() -> None:
    vocab = load_vocabulary()
    V = len(vocab)
    out = _output(1, 2, V)
    out.word_logits[0, :, vocab.silence_id] = 5.0  # predicts silence everywhere
    t = _targets(1, 2, word=vocab.silence_id)
    t.word[0, 1] = vocab.id("ball")
    ce = torch.nn.functional.cross_entropy(out.word_logits[0], t.word[0], reduction="none")
    for w in (1.0, 0.1, 0.0):
        got = waking_loss(out, t, ObjectiveConfig(silence_weight=w), DIMS).word.item()
        assert got == pytest.approx(float((w * ce[0] + ce[1]) / (w + 1.0)), rel=1e-5)


def test_cosine_embedding_loss_ignores_scale() -> None:
    V = len(load_vocabulary())
    out, t = _output(1, 1, V), _targets(1, 1, word=0)
    t.embeddings[:] = 1.0
    out.next_embeddings[:] = 7.0
    cos = ObjectiveConfig(embedding_loss="cosine")
    assert waking_loss(out, t, cos, DIMS).embeddings.item() == pytest.approx(0.0, abs=1e-6)
    assert waking_loss(out, t, ObjectiveConfig(), DIMS).embeddings.item() == pytest.approx(36.0)


# -- the day cut into windows --------------------------------------------------------------
def test_held_out_targets_are_never_training_targets() -> None:
    seg = segment(1001)
    split = split_day(seg, segment_ticks=64, val_fraction=0.1)
    assert split.val and split.train

    def targets(windows: list[Segment]) -> list[int]:  # row indices that are targets
        return [s.start + i for s in windows for i in range(1, len(s))]

    assert not set(targets(split.train)) & set(targets(split.val))
    assert sorted(targets(split.train) + targets(split.val)) == list(range(1, 1001))
    held = sum(s.ticks for s in split.val) / 1000
    assert 0.05 < held < 0.15


def test_a_one_block_day_holds_out_its_end() -> None:
    split = split_day(segment(41), segment_ticks=256, val_fraction=0.1)
    assert [s.ticks for s in split.train] == [36] and [s.ticks for s in split.val] == [4]


def test_collate_pads_after_the_real_ticks_and_shifts_the_targets() -> None:
    a, b = segment(9, start=100), segment(5, start=7, seed=1)
    batch, t = collate([a, b])
    assert batch.embeddings.shape == (2, 8, E) and t.mask.tolist() == [[1] * 8, [1] * 4 + [0] * 4]
    assert torch.equal(batch.embeddings[0], torch.from_numpy(a.embeddings[:8]))
    assert torch.equal(t.embeddings[1, :4], torch.from_numpy(b.embeddings[1:5]))
    assert t.word[0].tolist() == a.heard_word[1:].tolist()
    assert (
        batch.positions is not None and batch.positions[0, 0] == 100 and batch.positions[1, 3] == 10
    )
    assert torch.equal(t.joint_velocity[0], torch.from_numpy(a.joint_velocity[1:]))


def test_windows_cover_a_span_and_random_windows_stay_inside() -> None:
    seg = segment(300)
    pieces = cut(seg, 64)
    assert [p.ticks for p in pieces] == [64, 64, 64, 64, 43]
    assert all(
        p.heard_word[0] == q.heard_word[-1] for p, q in zip(pieces[1:], pieces, strict=False)
    )
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = random_window([seg.window(0, 20), seg.window(100, 150)], 64, rng)
        assert w.ticks in (19, 64) and len(w) == w.ticks + 1


# -- the replay store ----------------------------------------------------------------------
def _day(store: ReplayStore, name: str, n: int, val: int = 1) -> None:
    segs = [(segment(9, start=10 * i, source=name, seed=i), "train") for i in range(n)]
    segs += [(segment(9, start=1000 + i, source=name), "val") for i in range(val)]
    store.add_day(name, segs)  # type: ignore[arg-type]


def test_the_replay_store_is_bounded_and_every_past_day_keeps_a_share(tmp_path: Path) -> None:
    store = ReplayStore(tmp_path / "replay", ReplayConfig(max_segments=12))
    for d in range(4):
        _day(store, f"day-000{d}", n=9)
        assert len(store) <= 12
    shares = store.shares()
    assert set(shares) == {f"day-000{d}" for d in range(4)}
    assert max(shares.values()) - min(shares.values()) <= 1  # evenly shared
    assert all(any(e.split == "val" and e.day == d for e in store.entries) for d in shares)
    assert len(list((tmp_path / "replay" / "segments").iterdir())) == len(store)
    reopened = ReplayStore(tmp_path / "replay", ReplayConfig(max_segments=12))
    assert reopened.entries == store.entries and reopened.days == store.days
    seg = reopened.load(reopened.entries[0])
    assert set(seg.arrays()) == set(ARRAYS) and seg.source == reopened.entries[0].day


def test_the_byte_cap_holds_too_and_more_days_than_room_keeps_the_store_full(
    tmp_path: Path,
) -> None:
    nbytes = segment(9).nbytes
    store = ReplayStore(tmp_path, ReplayConfig(max_bytes=5 * nbytes))
    for d in range(8):
        _day(store, f"day-{d:04d}", n=3, val=0)
        assert store.nbytes <= 5 * nbytes
    assert len(store) == 5 and len(store.days) == 8


def test_adding_a_day_twice_changes_nothing(tmp_path: Path) -> None:
    store = ReplayStore(tmp_path)
    _day(store, "day-0001", n=3)
    before = list(store.entries)
    _day(store, "day-0001", n=3)
    assert store.entries == before and store.holds("day-0001")


def test_leftovers_of_a_killed_write_are_deleted_and_a_damaged_index_is_refused(
    tmp_path: Path,
) -> None:
    store = ReplayStore(tmp_path)
    _day(store, "day-0001", n=2)
    orphan = tmp_path / "segments" / "deadbeef.npz"
    orphan.write_bytes(b"half a segment")
    (tmp_path / "segments" / ".x.npz.tmp").write_bytes(b"")
    again = ReplayStore(tmp_path)
    assert not orphan.exists() and len(again) == 3
    assert len(list((tmp_path / "segments").iterdir())) == 3
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ReplayStoreError, match="damaged"):
        ReplayStore(tmp_path)
    (tmp_path / "index.json").write_text(
        json.dumps(
            {
                "format": 1,
                "days": [],
                "entries": [
                    {
                        "id": "gone",
                        "day": "d",
                        "split": "train",
                        "ticks": 1,
                        "nbytes": 1,
                        "start": 0,
                    }
                ],
            }
        )
    )
    with pytest.raises(ReplayStoreError, match="missing"):
        ReplayStore(tmp_path)


# -- progress ------------------------------------------------------------------------------
def test_the_progress_bar_draws_phase_step_loss_and_time_left() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, every_s=0.0)
    bar(NightProgress("training", 50, 100, 1.25, 30.0))
    line = out.getvalue()
    assert "training step 50/100" in line and "loss 1.2500" in line and "left" in line
    assert NightProgress("done", 100, 100, 0.1, 60.0).fraction == 1.0
    assert NightProgress("reading", 0, 0, None, 0.0).fraction == 0.0
