"""A day log -> the brain's training data: the very inputs it saw, and what came next.

Each day is read once into a `Segment`: its rows turned back into the TickInputs the agent
stepped (by the agent's own fusion rule, fusion.fuse_tick), plus each tick's observed joint
velocities. A segment of n + 1 ticks is n training ticks: tick t's targets are tick t + 1's
embeddings (where present), joint velocities and heard word. Training draws windows of
`segment_ticks` + 1 out of a day, holding some out for validation; `collate` pads windows
of any length into one (B, T) TickBatch with its Targets.

Positions are each tick's index in its day. The brain sees only distances (ALiBi), so they
change nothing in a window; they say where a window came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from nemuri.brain.fusion import fuse_tick
from nemuri.brain.model import BrainConfig, TickBatch
from nemuri.memory import DayLogError, read_day
from nemuri.sleep.errors import UnusableDayLog
from nemuri.sleep.objective import Targets
from nemuri.vocabulary import load_vocabulary

# The per-tick arrays of a Segment, in the order they are saved and stacked.
ARRAYS: tuple[str, ...] = (
    "embeddings",
    "present",
    "heard_word",
    "prev_motor",
    "prev_spoken",
    "drowsiness",
    "joint_velocity",
    "velocity_known",
)


@dataclass(frozen=True, eq=False)
class Segment:
    """Consecutive ticks of one stream (a day, or a dream), one array row per tick."""

    embeddings: np.ndarray  # (n, E) float32, MODALITIES order, zeros where absent
    present: np.ndarray  # (n, M) float32
    heard_word: np.ndarray  # (n,) int64 vocabulary id
    prev_motor: np.ndarray  # (n, J) float32, the agent's previous command
    prev_spoken: np.ndarray  # (n,) int64 vocabulary id
    drowsiness: np.ndarray  # (n, D) float32
    joint_velocity: np.ndarray  # (n, J) float32 observed, zeros where unknown
    velocity_known: np.ndarray  # (n,) float32 1.0 where the tick had a joint state
    start: int = 0  # index of the first row in its day
    source: str = ""  # the day log's name, or "dream of <day>"

    def __len__(self) -> int:
        return int(self.heard_word.shape[0])

    @property
    def ticks(self) -> int:
        """Training ticks: every row but the last has a next tick to predict."""
        return max(0, len(self) - 1)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in ARRAYS)

    def window(self, offset: int, rows: int) -> Segment:
        """Rows offset .. offset + rows - 1 (views, no copy)."""
        return replace(
            self,
            **{name: getattr(self, name)[offset : offset + rows] for name in ARRAYS},
            start=self.start + offset,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], start: int, source: str) -> Segment:
        return cls(**{name: arrays[name] for name in ARRAYS}, start=start, source=source)


@dataclass(frozen=True)
class Day:
    """A day log read for sleeping: where it is, how it ended, all its ticks."""

    path: Path
    name: str  # the day log directory's name, unique among days: the replay store's key
    recovered: bool  # left by a crash, read up to its last whole second
    segment: Segment
    stamps_ns: np.ndarray  # (n,) int64, each tick's stamp (to find its thumbnail)
    mcap_path: Path  # the bag's MCAP file (thumbnails are read from it)

    @property
    def ticks(self) -> int:
        return len(self.segment)


def load_day(path: Path, config: BrainConfig) -> Day:
    """Read a day log into one Segment, or raise UnusableDayLog saying why.

    A crashed (recovered) day is used as far as it is whole; the day log itself is only
    read, never repaired or moved, so a refused day is left exactly as it was.
    """
    path = Path(path)
    vocab = load_vocabulary()
    dims = config.embedding_dims
    try:
        reader = read_day(path)
        inputs, velocities, known, stamps = [], [], [], []
        prev_motor: np.ndarray | None = None
        prev_spoken = vocab.silence_id
        for row in reader:
            if len(row.embeddings) != len(dims):
                raise UnusableDayLog(
                    f"{path}: tick {row.tick} has {len(row.embeddings)} modalities"
                )
            seen = [e if p else None for e, p in zip(row.embeddings, row.present, strict=True)]
            for i, e in enumerate(seen):
                if e is not None and e.shape[0] != dims[i]:
                    raise UnusableDayLog(
                        f"{path}: tick {row.tick} modality {i} has {e.shape[0]} values, "
                        f"the brain takes {dims[i]}"
                    )
            x = fuse_tick(
                seen, vocab.id(row.heard_word), prev_motor, prev_spoken, row.drowsiness, dims
            )
            inputs.append(x)
            has_joints = row.joint_velocity.shape[0] == config.n_joints
            velocities.append(row.joint_velocity if has_joints else np.zeros(config.n_joints))
            known.append(1.0 if has_joints else 0.0)
            stamps.append(row.stamp_ns)
            prev_motor = row.motor_velocity
            prev_spoken = vocab.id(row.spoken_word)
    except DayLogError as exc:
        raise UnusableDayLog(f"cannot sleep on {path}: {exc}") from exc
    if len(inputs) < 2:
        raise UnusableDayLog(f"cannot sleep on {path}: it holds {len(inputs)} tick(s), need 2")
    segment = Segment(
        embeddings=np.stack([x.embeddings for x in inputs]).astype(np.float32),
        present=np.stack([x.present for x in inputs]).astype(np.float32),
        heard_word=np.array([x.heard_word for x in inputs], np.int64),
        prev_motor=np.stack([x.prev_motor for x in inputs]).astype(np.float32),
        prev_spoken=np.array([x.prev_spoken for x in inputs], np.int64),
        drowsiness=np.stack([x.drowsiness for x in inputs]).astype(np.float32),
        joint_velocity=np.stack(velocities).astype(np.float32),
        velocity_known=np.array(known, np.float32),
        start=0,
        source=reader.path.name,
    )
    return Day(
        reader.path,
        reader.path.name,
        reader.recovered,
        segment,
        np.array(stamps, np.int64),
        reader.mcap_path,
    )


@dataclass(frozen=True)
class DaySplit:
    """A day cut into training spans and held-out validation windows."""

    train: list[Segment]  # contiguous spans between the held-out windows
    val: list[Segment]  # windows of segment_ticks + 1 rows


def split_day(segment: Segment, segment_ticks: int, val_fraction: float) -> DaySplit:
    """Hold out every k-th block of `segment_ticks` ticks (k = 1 / val_fraction) for validation.

    Blocks spread over the whole day, so validation sees morning and evening alike. No
    held-out target is ever a training target: a span and a block beside it share only
    the boundary row, which is a target on one side and an input on the other. A day of a
    single block holds out its last val_fraction of ticks instead.
    """
    n = segment.ticks
    if val_fraction <= 0.0:
        return DaySplit(train=[segment], val=[])
    blocks = -(-n // segment_ticks)
    if blocks == 1:  # one block: hold out its last val_fraction, at least one tick
        k = max(1, round(n * val_fraction))
        train = [segment.window(0, n - k + 1)] if n > k else []
        return DaySplit(train=train, val=[segment.window(n - k, k + 1)])
    every = max(2, round(1.0 / val_fraction))
    held = [b for b in range(blocks) if b % every == every // 2] or [blocks // 2]
    train, val, begin = [], [], 0
    for b in held:
        lo, hi = b * segment_ticks, min(n, (b + 1) * segment_ticks)
        if lo > begin:
            train.append(segment.window(begin, lo - begin + 1))
        val.append(segment.window(lo, hi - lo + 1))
        begin = hi
    if n > begin:
        train.append(segment.window(begin, n - begin + 1))
    return DaySplit(train=[s for s in train if s.ticks], val=val)


def cut(segment: Segment, segment_ticks: int) -> list[Segment]:
    """Consecutive windows of segment_ticks training ticks (the last may be shorter)."""
    return [
        segment.window(lo, min(segment_ticks, segment.ticks - lo) + 1)
        for lo in range(0, segment.ticks, segment_ticks)
    ]


def random_window(
    segments: Sequence[Segment], segment_ticks: int, rng: np.random.Generator
) -> Segment:
    """A window of up to segment_ticks training ticks at a random place, by tick count.

    A longer span is drawn more often, in proportion to its ticks, so every training tick
    of the day is equally likely to be seen.
    """
    weights = np.array([s.ticks for s in segments], np.float64)
    segment = segments[int(rng.choice(len(segments), p=weights / weights.sum()))]
    rows = min(segment_ticks, segment.ticks)
    offset = int(rng.integers(0, segment.ticks - rows + 1))
    return segment.window(offset, rows + 1)


def collate(segments: Sequence[Segment]) -> tuple[TickBatch, Targets]:
    """Windows of any length -> a (B, T) batch and its targets, padded at the end.

    Padding goes after the real ticks, so causal attention keeps it out of every real
    tick's view, and its mask is 0, so it scores nothing.
    """
    T = max(s.ticks for s in segments)
    B = len(segments)

    def stacked(name: str, rows: slice) -> torch.Tensor:  # (B, T, ...) zero-padded
        first = getattr(segments[0], name)
        out = np.zeros((B, T, *first.shape[1:]), first.dtype)
        for b, s in enumerate(segments):
            a = getattr(s, name)[rows]
            out[b, : a.shape[0]] = a
        return torch.from_numpy(out)

    now, nxt = slice(0, -1), slice(1, None)
    mask = np.zeros((B, T), np.float32)
    positions = np.zeros((B, T), np.int64)
    for b, s in enumerate(segments):
        mask[b, : s.ticks] = 1.0
        positions[b] = s.start + np.arange(T)
    batch = TickBatch(
        **{f.name: stacked(f.name, now) for f in fields(TickBatch) if f.name != "positions"},
        positions=torch.from_numpy(positions),
    )
    targets = Targets(
        embeddings=stacked("embeddings", nxt),
        present=stacked("present", nxt),
        joint_velocity=stacked("joint_velocity", nxt),
        velocity_known=stacked("velocity_known", nxt),
        word=stacked("heard_word", nxt),
        mask=torch.from_numpy(mask),
    )
    return batch, targets
