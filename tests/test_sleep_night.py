"""One night and the next, on the toy world: the day goes into the weights, safely.

The first night is slept once for the module (it takes a few seconds) and copied by the
tests that build on it, so each of them starts from the same promoted v0001.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nemuri.brain import checkpoint
from nemuri.brain.runtime import OnnxRuntime
from nemuri.sleep import (
    AgeSchedule,
    NightProgress,
    NightResult,
    ReplayStore,
    SleepConfig,
    consolidate,
)
from nemuri.sleep.history import format_history, history, last_dream, slept_days
from nemuri.vocabulary import load_vocabulary
from test_sleep_world import (
    WORDS,
    ToyWorld,
    newborn,
    probe_words,
    words_correct,
    write_toy_day,
)

PNG = b"\x89PNG\r\n\x1a\n"
NEW_WORDS = ("cat", "bird", "fish", "horse")


def night_config(**changes: object) -> SleepConfig:
    """Small windows, one thread: a toy night of a few seconds on a busy machine."""
    settings: dict[str, object] = {"segment_ticks": 64, "batch_size": 8, "threads": 1}
    settings.update(changes)
    return SleepConfig(**settings)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FirstNight:
    root: Path
    world: ToyWorld
    day: Path
    result: NightResult
    phases: list[str]
    before: np.ndarray  # probe of the newborn: (K, K) word probabilities

    def copy(self, tmp: Path) -> tuple[Path, ReplayStore]:
        """Brains and replay store as the first night left them, to change freely."""
        shutil.copytree(self.root / "brains", tmp / "brains")
        shutil.copytree(self.root / "replay", tmp / "replay")
        return tmp / "brains", ReplayStore(tmp / "replay")


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> FirstNight:
    root = tmp_path_factory.mktemp("first-night")
    world = ToyWorld()
    day = write_toy_day(root / "days", world, lessons_each=8, seed=0, thumbnails=True)
    born = newborn(root / "brains")
    before = probe_words(checkpoint.load(born.path)[0], world)
    phases: list[str] = []

    def progress(p: NightProgress) -> None:
        if not phases or phases[-1] != p.phase:
            phases.append(p.phase)

    result = consolidate(
        root / "brains",
        [day],
        ReplayStore(root / "replay"),
        night_config(steps=300),
        progress=progress,
    )
    return FirstNight(root, world, day, result, phases, before)


def test_one_night_puts_the_day_into_the_weights(first: FirstNight) -> None:
    """The essence: after sleep, with an empty context, the sight of an object brings its
    word, which the newborn could not do; nothing of the day is left in any context."""
    r = first.result
    assert r.promoted and not r.interrupted and r.version == 1 and r.parent == 0, r.reason
    today = r.metrics["before"]["today"]["total"], r.metrics["after"]["today"]["total"]
    assert today[1] < 0.5 * today[0]
    brain, _ = checkpoint.load(checkpoint.latest(first.root / "brains").path)
    after = probe_words(brain, first.world)
    assert words_correct(after) == len(WORDS)
    chance = 1.0 / len(load_vocabulary())
    assert np.diag(first.before).mean() < 2 * chance  # the newborn had no idea
    assert np.diag(after).mean() > 20 * chance
    assert first.phases == [
        "reading",
        "validating",
        "training",
        "judging",
        "telling",
        "saving",
        "done",
    ]


def test_the_new_version_records_its_night(first: FirstNight) -> None:
    brains = first.root / "brains"
    latest = checkpoint.latest(brains)
    assert latest is not None and latest.version == 1
    m = latest.manifest
    day_ticks = first.result.days[0]["ticks"]
    assert m["parent"] == 0 and m["age"] == {"nights": 1, "ticks_seen": day_ticks}
    assert m["days"] == [
        {
            "name": first.day.name,
            "path": str(first.day.resolve()),
            "ticks": day_ticks,
            "recovered": False,
        }
    ]
    assert m["lr"] == AgeSchedule().lr(0, 0)  # a newborn sleeps at the top rate
    assert m["schedule"] == AgeSchedule().to_dict() and "formula" in m["schedule"]
    assert m["steps"] == m["planned_steps"] == 300 and m["sleep_config"]["segment_ticks"] == 64
    assert m["promoted"] is True and "today's held-out loss" in m["reason"]
    for when in ("before", "after"):
        assert set(m["metrics"][when]["today"]) == {"total", "embeddings", "motor", "word"}
        assert m["metrics"][when]["past"] is None  # no earlier day yet
    assert len(m["loss_curve"]) == 31 and m["loss_curve"][-1]["step"] == 300
    assert m["dream"]["text"].startswith("I dreamt of")
    night = brains / m["night"]
    assert (night / "loss.png").read_bytes().startswith(PNG)
    assert json.loads((night / "night.json").read_text())["version"] == 1
    OnnxRuntime(latest.onnx_path, latest.config)  # the waking runtime takes the new version


def test_the_dream_names_what_was_seen_that_day(first: FirstNight) -> None:
    dream = first.result.dream
    assert dream is not None
    named = set(dream.objects) | set(dream.words)
    assert len(named & set(WORDS)) >= len(WORDS) / 2  # at least half the day's things
    assert len(named & set(WORDS)) >= 0.8 * len(named)  # and hardly anything made up
    assert dream.objects and set(dream.objects) <= set(WORDS)
    assert dream.text.startswith("I dreamt of ") and dream.objects[0] in dream.text
    assert dream.strip_path is not None and dream.strip_path.read_bytes().startswith(PNG)
    width = int.from_bytes(dream.strip_path.read_bytes()[16:20], "big")
    assert width == len(dream.objects) * (32 * 3 + 2) + 2  # one thumbnail per object
    assert last_dream(first.root / "brains") == dream  # what `nemuri dream` will tell


def test_the_replay_store_takes_the_day_after_the_night(first: FirstNight) -> None:
    store = ReplayStore(first.root / "replay")
    assert store.days == [first.day.name]
    assert store.split("val") and store.split("train")
    assert sum(e.ticks for e in store.entries) == first.result.days[0]["ticks"] - 1


def test_a_second_night_replays_and_dreams_and_history_lists_both(
    first: FirstNight, tmp_path: Path
) -> None:
    """Day 2 brings new objects; the night learns them while replaying and dreaming day 1."""
    brains, store = first.copy(tmp_path)
    new = ToyWorld(seed=1, words=NEW_WORDS)
    day2 = write_toy_day(tmp_path / "days", new, lessons_each=6, seed=1)
    phases: list[str] = []
    result = consolidate(
        brains,
        [day2],
        store,
        night_config(steps=150, replay_ratio=0.5, training_dreams=4, dream_report=False),
        progress=lambda p: phases.append(p.phase),
    )
    assert "dreaming" in phases  # from the second night on, the old brain dreams of the past
    assert result.metrics["before"]["past"] is not None and result.lr < first.result.lr
    assert result.promoted, result.reason
    assert result.version == 2 and result.nights == 2
    assert store.days == [first.day.name, day2.name]
    assert slept_days(brains) == {first.day.name, day2.name}
    rows = history(brains)
    assert [r.version for r in rows] == [0, 1, 2]
    assert rows[2].days == [day2.name] and rows[2].past is not None and rows[2].lr == result.lr
    assert rows[0].reason == "newborn" and rows[0].promoted is None
    table = format_history(rows)
    assert "v0002" in table and day2.name in table
    nights = sorted((brains / "nights").iterdir())
    assert len(nights) == 2 and all((n / "loss.png").is_file() for n in nights)


def test_a_night_that_forgets_the_past_is_rejected_and_the_old_version_stays(
    first: FirstNight, tmp_path: Path
) -> None:
    """Day 2 teaches every object the wrong word; without replay, learning it undoes day 1."""
    brains, store = first.copy(tmp_path)
    before = list(store.entries)
    liar = ToyWorld(words=WORDS[1:] + WORDS[:1])
    day2 = write_toy_day(tmp_path / "days", liar, lessons_each=8, seed=2)
    result = consolidate(
        brains, [day2], store, night_config(steps=150, replay_ratio=0.0, dream_ratio=0.0)
    )
    assert not result.promoted and not result.interrupted
    assert "past" in result.reason and "kept v0001" in result.reason
    assert result.version == 1 and checkpoint.versions(brains) == [0, 1]
    assert store.entries == before and not store.holds(day2.name)
    assert slept_days(brains) == {first.day.name}
    rows = history(brains)
    assert rows[-1].version is None and rows[-1].promoted is False
    assert "NOT PROMOTED" in format_history(rows)
    assert result.loss_plot is not None and result.loss_plot.is_file()


def test_a_diverging_night_is_rejected(first: FirstNight, tmp_path: Path) -> None:
    brains, store = first.copy(tmp_path)
    day2 = write_toy_day(tmp_path / "days", first.world, lessons_each=2, seed=3)
    wild = AgeSchedule(lr_max=1e3, lr_min=1e3, warmup_fraction=0.0)
    result = consolidate(brains, [day2], store, night_config(steps=20, schedule=wild))
    assert not result.promoted and "diverged" in result.reason, result.reason
    assert "kept v0001" in result.reason
    assert checkpoint.versions(brains) == [0, 1] and not store.holds(day2.name)


def test_woken_early_the_night_ends_with_the_old_version_and_writes_nothing(
    first: FirstNight, tmp_path: Path
) -> None:
    brains, store = first.copy(tmp_path)
    day2 = write_toy_day(tmp_path / "days", first.world, lessons_each=2, seed=4)
    steps: list[int] = []
    result = consolidate(
        brains,
        [day2],
        store,
        night_config(steps=10_000),
        progress=lambda p: steps.append(p.step) if p.phase == "training" else None,
        should_stop=lambda: len(steps) > 5,
    )
    assert result.interrupted and not result.promoted and result.version == 1
    assert "woken early in training" in result.reason and result.steps < 10
    assert checkpoint.versions(brains) == [0, 1]
    assert len(list((brains / "nights").iterdir())) == 1  # only the first night's record
    assert not store.holds(day2.name)


def test_sleeping_again_on_slept_days_redoes_nothing_but_completes_the_replay_store(
    first: FirstNight, tmp_path: Path
) -> None:
    """As after a kill between saving the version and filling the replay store."""
    brains, _ = first.copy(tmp_path)
    empty = ReplayStore(tmp_path / "fresh-replay")
    result = consolidate(brains, [first.day], empty, night_config(steps=10))
    assert result.promoted and result.version == 1 and "already slept" in result.reason
    assert checkpoint.versions(brains) == [0, 1]
    assert empty.days == [first.day.name] and len(empty) == len(ReplayStore(first.root / "replay"))
