"""One night: fine-tune the brain on the day, keep it only if it learned without forgetting.

    consolidate(brains_dir, day_logs, store, config) -> NightResult

1. read: the latest brain and its age; today's day logs (refused whole, before anything
   is written, if one is unusable); today split into training spans and held-out windows;
   a pool of past segments from the replay store, and its held-out ones.
2. dream (from the second night on): the pre-sleep brain dreams from past segments; those
   dreams are training data beside the real replay (dreams.py).
3. validate: the waking objective on held-out today and held-out past, before.
4. train: AdamW at the age-scheduled rate (schedule.py), gradient clipping; each batch
   mixes today, replay and dreams by `replay_ratio` and `dream_ratio`; the budget is a step
   count and a wall-clock time, whichever ends first.
5. judge: the same losses after. Promote only if today's fell by `promote_min_gain` and the
   past's rose by no more than `past_max_regression`; otherwise keep the old version and
   say why (rollback is simply not promoting: nothing was overwritten).
6. tell (promoted only): the new brain's dream of today (report.py).
7. save: the new version (checkpoint.save: weights, ONNX step, manifest), atomically; the
   night's record (loss plot, dream strip, night.json) beside the versions; then today's
   segments into the replay store.

A woken sleeper (should_stop() true) stops at the next step and returns the old version,
having written nothing. A SIGKILL leaves the last version (checkpoint.save renames a whole
directory into place or nothing), the day logs (only ever read) and the replay store
(written after the version, atomically) as they were or complete; the next sleep on the
same days then redoes the night, or, if the kill came after the new version was saved,
finds the days slept on and only completes the replay store.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nemuri.brain import checkpoint
from nemuri.brain.model import Brain
from nemuri.sleep.dataset import Day, DaySplit, Segment, collate, cut, load_day, random_window
from nemuri.sleep.dataset import split_day as _split_day
from nemuri.sleep.dreams import DreamConfig, dream
from nemuri.sleep.errors import NoBrain, SleepError, UnusableDayLog
from nemuri.sleep.objective import PARTS, ObjectiveConfig, waking_loss
from nemuri.sleep.progress import NightProgress
from nemuri.sleep.replay import ReplayStore, Split
from nemuri.sleep.report import DreamReport, ReportConfig, tell
from nemuri.sleep.schedule import AgeSchedule

NIGHTS_DIR = "nights"  # under brains_dir: one record per night, promoted or not
NIGHT_RECORD = "night.json"
LOSS_PLOT = "loss.png"


@dataclass(frozen=True)
class SleepConfig:
    """Every parameter of a night (README, Sleep); recorded in each new version's manifest."""

    segment_ticks: int = 256  # ticks per training window (the context a window teaches)
    batch_size: int = 8  # windows per step
    val_fraction: float = 0.1  # of today's ticks held out to judge the night
    replay_ratio: float = 0.25  # share of each batch drawn from the replay store
    dream_ratio: float = 0.125  # share drawn from dreams of earlier days (night >= 2)
    today_passes: float = 40.0  # planned steps: this many passes over today's training ticks
    steps: int | None = None  # a fixed step count instead of today_passes
    min_steps: int = 50
    max_steps: int = 4000
    max_seconds: float = 600.0  # the whole night's wall-clock budget
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max gradient norm
    promote_min_gain: float = 0.01  # today's held-out loss must fall by this fraction
    past_max_regression: float = 0.05  # the past's held-out loss may rise by this fraction
    training_dreams: int = 32  # dreams of earlier days per night (night >= 2)
    replay_pool: int = 256  # replay segments read into memory for one night
    val_past_segments: int = 64  # held-out past segments the night is judged on
    curve_every: int = 10  # a loss-curve point every this many steps
    threads: int = 1  # torch threads; 2 on a busy 2-core machine measured 4x slower
    seed: int = 0
    dream_report: bool = True  # tell the night's dream (promoted nights)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    schedule: AgeSchedule = field(default_factory=AgeSchedule)
    dreams: DreamConfig = field(default_factory=DreamConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        if self.segment_ticks < 1 or self.batch_size < 1:
            raise ValueError("segment_ticks and batch_size must be at least 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if (
            self.replay_ratio < 0
            or self.dream_ratio < 0
            or self.replay_ratio + self.dream_ratio >= 1
        ):
            raise ValueError("replay_ratio and dream_ratio are >= 0 and leave room for today")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schedule"] = self.schedule.to_dict()
        return d


@dataclass(frozen=True)
class NightResult:
    """What a night did; `version` is the brain to wake with, new or old."""

    promoted: bool
    reason: str
    version: int
    parent: int
    interrupted: bool  # woken early: nothing was written
    nights: int  # age of `version`
    ticks_seen: int
    days: list[dict[str, Any]]  # name, path, ticks, recovered
    lr: float  # the night's peak learning rate
    steps: int  # training steps done
    planned_steps: int
    seconds: float  # the whole night
    train_ticks_per_s: float  # training throughput (ticks through forward and backward)
    metrics: dict[str, Any]  # {"before"|"after": {"today"|"past": {part: loss} or None}}
    loss_curve: list[dict[str, float]]
    dream: DreamReport | None = None
    night_dir: Path | None = None  # the night's record: night.json, loss.png, dream.png
    loss_plot: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dream"] = None if self.dream is None else self.dream.to_dict()
        d["night_dir"] = None if self.night_dir is None else str(self.night_dir)
        d["loss_plot"] = None if self.loss_plot is None else str(self.loss_plot)
        return d


class _WokenEarly(Exception):
    """should_stop() said so; unwinds the night before anything is written."""


ProgressCallback = Callable[[NightProgress], None]


def consolidate(
    brains_dir: Path,
    day_logs: Sequence[Path],
    store: ReplayStore,
    config: SleepConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> NightResult:
    """Sleep one night on `day_logs` with the latest brain in `brains_dir`.

    Raises UnusableDayLog (a day log cannot be slept on) or NoBrain / SleepError before
    anything is written. Returns a NightResult in every other case, promoted or not.
    """
    config = config or SleepConfig()
    night = _Night(Path(brains_dir), store, config, progress, should_stop)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return night.run([Path(p) for p in day_logs])
    finally:
        torch.set_num_threads(threads)


def split_day(day: Day, config: SleepConfig) -> DaySplit:
    """Today's split as the night makes it (the replay store keeps the same windows)."""
    return _split_day(day.segment, config.segment_ticks, config.val_fraction)


class _Night:
    """The state of one night, so each phase reads as one method."""

    def __init__(
        self,
        brains_dir: Path,
        store: ReplayStore,
        config: SleepConfig,
        progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.brains_dir = brains_dir
        self.store = store
        self.config = config
        self._progress = progress
        self._should_stop = should_stop
        self.started = time.monotonic()
        self.rng = np.random.default_rng(config.seed)
        self.phase = "reading"
        self.step, self.steps = 0, 0
        self.loss: float | None = None
        # Filled in as the night goes; a night woken early reports what it reached.
        self.parent, self.nights, self.ticks_seen = 0, 0, 0
        self.manifest: dict[str, Any] = {}
        self.days: list[Day] = []
        self.splits: list[DaySplit] = []
        self.lr = 0.0
        self.before: dict[str, dict[str, float] | None] | None = None
        self.after: dict[str, dict[str, float] | None] | None = None
        self.curve: list[dict[str, float]] = []
        self.trained_ticks = 0
        self.train_s = 0.0

    # -- bookkeeping --------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def report(self, phase: str | None = None) -> None:
        self.phase = phase or self.phase
        if self._progress is not None:
            self._progress(
                NightProgress(self.phase, self.step, self.steps, self.loss, self.elapsed())
            )

    def check(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise _WokenEarly

    # -- the night ----------------------------------------------------------------------
    def run(self, day_logs: list[Path]) -> NightResult:
        self.report("reading")
        parent = checkpoint.latest(self.brains_dir)
        if parent is None:
            raise NoBrain(f"{self.brains_dir} holds no brain version to sleep on")
        try:
            brain, manifest = checkpoint.load(parent.path)
        except checkpoint.CheckpointError as exc:
            raise SleepError(f"the latest brain cannot be loaded: {exc}") from exc
        self.parent, self.manifest = parent.version, manifest
        self.nights = int(manifest["age"]["nights"])
        self.ticks_seen = int(manifest["age"]["ticks_seen"])
        if not day_logs:
            raise SleepError("no day logs given: nothing to sleep on")
        days = [load_day(p, brain.config) for p in day_logs]  # every day, before any write
        names = [d.name for d in days]
        if len(set(names)) != len(names):
            raise SleepError(f"a day log is given twice: {names}")
        splits = [split_day(d, self.config) for d in days]
        if not all(s.train for s in splits):
            short = [d.path for d, s in zip(days, splits, strict=True) if not s.train]
            raise UnusableDayLog(f"too few ticks to both learn and validate: {short}")
        self.days, self.splits = days, splits
        self._clear_leftovers()
        self._finish_previous_night(brain)
        slept = {d["name"] for d in manifest.get("days", [])}
        if set(names) <= slept and manifest.get("promoted"):
            return self._already_slept(names)
        try:
            return self._sleep(brain)
        except _WokenEarly:
            return self._result(
                promoted=False,
                reason=f"woken early in {self.phase} (step {self.step} of {self.steps}); "
                f"kept v{self.parent:04d}",
                interrupted=True,
            )

    def _sleep(self, brain: Brain) -> NightResult:
        cfg = self.config
        today_train = [s for split in self.splits for s in split.train]
        today_val = [w for split in self.splits for w in split.val]
        past_val = self._load_past("val", cfg.val_past_segments)
        pool = self._load_past("train", cfg.replay_pool)
        self.check()
        dreams: list[Segment] = []
        if self.nights >= 1 and pool and cfg.dream_ratio > 0 and cfg.training_dreams > 0:
            self.report("dreaming")
            dreams = self._dream_of_the_past(brain, pool)

        self.report("validating")
        t = time.monotonic()
        self.before = self._validate(brain, today_val, past_val)
        validate_s = time.monotonic() - t

        sources = {"today": today_train, "replay": pool, "dreams": dreams}
        ratios = {
            "today": 1.0
            - (cfg.replay_ratio if pool else 0.0)
            - (cfg.dream_ratio if dreams else 0.0),
            "replay": cfg.replay_ratio if pool else 0.0,
            "dreams": cfg.dream_ratio if dreams else 0.0,
        }
        self.steps = self._plan(sum(s.ticks for s in today_train), ratios["today"])
        self.lr = cfg.schedule.lr(self.nights, self.ticks_seen)
        reserve_s = 1.5 * validate_s + 15.0  # judging, telling and saving after training
        diverged = self._train(brain, sources, ratios, deadline_s=cfg.max_seconds - reserve_s)

        self.report("judging")
        self.after = self._validate(brain, today_val, past_val)
        promoted, reason = self._judge(diverged)
        self.check()  # the last moment to be woken: what follows is writing
        told = None
        workdir = Path(tempfile.mkdtemp(prefix=".tmp-night-", dir=self._nights_dir()))
        try:
            if promoted and cfg.dream_report:
                self.report("telling")
                told = tell(brain, self.days, workdir, cfg.report, seed=cfg.seed)
            self.report("saving")
            return self._save(brain, promoted, reason, told, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- phases -------------------------------------------------------------------------
    def _load_past(self, split: Split, n: int) -> list[Segment]:
        entries = self.store.split(split)
        if len(entries) > n:
            picked = self.rng.choice(len(entries), n, replace=False)
            entries = [entries[int(i)] for i in sorted(picked)]
        return [self.store.load(e) for e in entries]

    def _dream_of_the_past(self, brain: Brain, pool: list[Segment]) -> list[Segment]:
        dreams = []
        seed_rows = self.config.dreams.seed_ticks
        for _ in range(self.config.training_dreams):
            self.check()
            seed = random_window(pool, seed_rows, self.rng)
            dreams.append(dream(brain, seed, self.config.dreams, self.rng).segment)
        return dreams

    def _validate(
        self, brain: Brain, today: list[Segment], past: list[Segment]
    ) -> dict[str, dict[str, float] | None]:
        return {"today": self._evaluate(brain, today), "past": self._evaluate(brain, past)}

    def _evaluate(self, brain: Brain, segments: list[Segment]) -> dict[str, float] | None:
        """Each part's loss over the segments, weighted by their ticks; None when none."""
        if not segments:
            return None
        was_training = brain.training
        brain.eval()
        sums = dict.fromkeys(PARTS, 0.0)
        ticks = 0
        try:
            with torch.no_grad():
                B = self.config.batch_size
                for i in range(0, len(segments), B):
                    self.check()
                    chunk = segments[i : i + B]
                    batch, targets = collate(chunk)
                    losses = waking_loss(
                        brain(batch), targets, self.config.objective, brain.config.embedding_dims
                    ).floats()
                    n = sum(s.ticks for s in chunk)
                    for part in PARTS:
                        sums[part] += losses[part] * n
                    ticks += n
        finally:
            brain.train(was_training)
        return {part: sums[part] / ticks for part in PARTS}

    def _plan(self, today_ticks: int, today_ratio: float) -> int:
        cfg = self.config
        if cfg.steps is not None:
            return cfg.steps
        per_step = cfg.batch_size * cfg.segment_ticks * today_ratio
        planned = math.ceil(cfg.today_passes * today_ticks / per_step)
        return int(min(cfg.max_steps, max(cfg.min_steps, planned)))

    def _train(
        self,
        brain: Brain,
        sources: dict[str, list[Segment]],
        ratios: dict[str, float],
        deadline_s: float,
    ) -> str | None:
        """Train for the planned steps or until the deadline; the reason if it diverged."""
        cfg = self.config
        decay = [p for p in brain.parameters() if p.dim() >= 2]
        no_decay = [p for p in brain.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.lr,
            betas=(0.9, 0.95),
        )
        names = list(ratios)
        p = np.array([ratios[n] for n in names])
        brain.train()
        self.report("training")
        for step in range(self.steps):
            self.check()
            if self.elapsed() > deadline_s:
                break
            t = time.monotonic()
            picks = self.rng.choice(len(names), cfg.batch_size, p=p / p.sum())
            windows = [
                random_window(sources[names[int(k)]], cfg.segment_ticks, self.rng) for k in picks
            ]
            batch, targets = collate(windows)
            lr = self.lr * cfg.schedule.factor(step, self.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            losses = waking_loss(brain(batch), targets, cfg.objective, brain.config.embedding_dims)
            if not torch.isfinite(losses.total):
                brain.eval()
                return f"training diverged: the loss became {losses.total.item()} at step {step}"
            optimizer.zero_grad(set_to_none=True)
            losses.total.backward()
            torch.nn.utils.clip_grad_norm_(brain.parameters(), cfg.grad_clip)
            optimizer.step()
            self.train_s += time.monotonic() - t
            self.trained_ticks += int(targets.mask.sum())
            self.step, self.loss = step + 1, losses.total.item()
            if step % cfg.curve_every == 0 or step + 1 == self.steps:
                self.curve.append({"step": step + 1, "lr": lr, **losses.floats()})
            self.report()
        brain.eval()
        return None

    def _judge(self, diverged: str | None) -> tuple[bool, str]:
        cfg = self.config
        if diverged:
            return False, f"{diverged}; kept v{self.parent:04d}"
        before, after = self.before["today"], self.after["today"]
        assert before is not None and after is not None
        if not math.isfinite(after["total"]):
            return False, f"today's held-out loss is {after['total']}; kept v{self.parent:04d}"
        gain = (before["total"] - after["total"]) / max(before["total"], 1e-12)
        today = (
            f"today's held-out loss {before['total']:.4f} -> {after['total']:.4f} ({-gain:+.1%})"
        )
        if gain < cfg.promote_min_gain:
            return False, (
                f"{today}, needs a fall of {cfg.promote_min_gain:.1%}; kept v{self.parent:04d}"
            )
        past_before, past_after = self.before["past"], self.after["past"]
        if past_before is None or past_after is None:
            return True, f"{today}; no earlier days to check yet"
        rise = (past_after["total"] - past_before["total"]) / max(past_before["total"], 1e-12)
        past = (
            f"the past's {past_before['total']:.4f} -> {past_after['total']:.4f} ({rise:+.1%}, "
            f"at most {cfg.past_max_regression:+.1%} allowed)"
        )
        if not math.isfinite(rise) or rise > cfg.past_max_regression:
            return False, f"{today}, but {past}; kept v{self.parent:04d}"
        return True, f"{today}; {past}"

    # -- writing ------------------------------------------------------------------------
    def _nights_dir(self) -> Path:
        path = self.brains_dir / NIGHTS_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _clear_leftovers(self) -> None:
        """Work directories of a night that was killed: never a record, always ours."""
        for path in self._nights_dir().glob(".tmp-night-*"):
            shutil.rmtree(path, ignore_errors=True)

    def _save(
        self,
        brain: Brain,
        promoted: bool,
        reason: str,
        told: DreamReport | None,
        workdir: Path,
    ) -> NightResult:
        """The version (if promoted), then the night's record, then the replay store."""
        from nemuri.sleep.plots import plot_night  # matplotlib only when a night is saved

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        final = _free_name(self._nights_dir() / f"{stamp}-from-v{self.parent:04d}")
        if told is not None and told.strip_path is not None:
            told = replace(told, strip_path=final / told.strip_path.name)
        result = self._result(promoted, reason, told=told, night_dir=final)
        plot_night(result, workdir / LOSS_PLOT)
        result = replace(result, loss_plot=final / LOSS_PLOT)
        if promoted:
            extra = result.to_dict()
            for key in ("version", "parent", "nights", "ticks_seen", "night_dir", "loss_plot"):
                extra.pop(key)  # the checkpoint's own fields, or paths said relatively below
            saved = checkpoint.save(
                self.brains_dir,
                brain,
                parent=self.parent,
                nights=result.nights,
                ticks_seen=result.ticks_seen,
                extra={
                    **extra,
                    "night": f"{NIGHTS_DIR}/{final.name}",
                    "schedule": self.config.schedule.to_dict(),
                    "sleep_config": self.config.to_dict(),
                },
            )
            result = replace(result, version=saved.version)
        _write_json(workdir / NIGHT_RECORD, result.to_dict())
        for path in workdir.iterdir():
            _fsync(path)
        os.rename(workdir, final)
        _fsync(final.parent)
        if promoted:
            for day, split in zip(self.days, self.splits, strict=True):
                self.store.add_day(day.name, _stored(split, self.config.segment_ticks))
        self.report("done")
        return result

    def _finish_previous_night(self, brain: Brain) -> None:
        """A kill after the last version was saved but before the replay store took its
        days: add them now (the day logs are still there), so no promoted day is missing."""
        for used in self.manifest.get("days", []):
            if self.store.holds(used["name"]) or not self.manifest.get("promoted"):
                continue
            try:
                day = load_day(Path(used["path"]), brain.config)
            except UnusableDayLog:
                continue  # moved or deleted since: the store simply lacks that day
            self.store.add_day(
                day.name, _stored(split_day(day, self.config), self.config.segment_ticks)
            )

    def _already_slept(self, names: list[str]) -> NightResult:
        """The latest version slept on these very days: the night was done, not redone."""
        m = self.manifest
        told, night = m.get("dream"), m.get("night")
        return replace(
            self._result(
                promoted=True,
                reason=f"already slept on {', '.join(names)} by v{self.parent:04d}; nothing redone",
            ),
            nights=self.nights,
            ticks_seen=self.ticks_seen,
            lr=float(m.get("lr", 0.0)),
            steps=int(m.get("steps", 0)),
            metrics=m.get("metrics", {}),
            dream=None if told is None else DreamReport.from_dict(told),
            night_dir=None if night is None else self.brains_dir / night,
        )

    def _result(
        self,
        promoted: bool,
        reason: str,
        *,
        interrupted: bool = False,
        told: DreamReport | None = None,
        night_dir: Path | None = None,
    ) -> NightResult:
        """The night as it stands; a promoted night's brain is one night and one day older."""
        today_ticks = sum(d.ticks for d in self.days)
        return NightResult(
            promoted=promoted,
            reason=reason,
            version=self.parent,  # replaced by the new version once it is saved
            parent=self.parent,
            interrupted=interrupted,
            nights=self.nights + 1 if promoted else self.nights,
            ticks_seen=self.ticks_seen + today_ticks if promoted else self.ticks_seen,
            days=[
                {
                    "name": d.name,
                    "path": str(d.path.resolve()),
                    "ticks": d.ticks,
                    "recovered": d.recovered,
                }
                for d in self.days
            ],
            lr=self.lr,
            steps=self.step,
            planned_steps=self.steps,
            seconds=self.elapsed(),
            train_ticks_per_s=self.trained_ticks / self.train_s if self.train_s else 0.0,
            metrics={"before": self.before, "after": self.after},
            loss_curve=self.curve,
            dream=told,
            night_dir=night_dir,
        )


def _stored(split: DaySplit, segment_ticks: int) -> list[tuple[Segment, Split]]:
    """A day as the replay store keeps it: training windows, and the held-out ones as val."""
    train: list[tuple[Segment, Split]] = [
        (w, "train") for span in split.train for w in cut(span, segment_ticks)
    ]
    return train + [(w, "val") for w in split.val]


def _free_name(path: Path) -> Path:
    """`path`, or path-2, path-3... if a night of the same second is there already."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
