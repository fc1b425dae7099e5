"""A day's TickRecords as plain numpy arrays, one row per tick: what an ML user loads
with `np.load` and nothing of nemuri's (no ROS, no torch, no pickles).

The arrays keep everything a row holds, in contracts' orders (MODALITIES, JOINTS,
DROWSINESS_FEATURES), and never a brain-specific fused token: they are the day log in
another format, not a training set of one brain. One rule for what a tick did not have:
a float value is NaN (an embedding not recorded, no joint state yet, no motor command),
so a zero always means zero. `KEYS` documents every key; `nemuri bag info` and the
timeline are drawn from the same arrays.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.memory.tickrow import TickRow
from nemuri.vocabulary import load_vocabulary

from .errors import BagError
from .reader import Bag

# Every key of an export, T ticks, M modalities, D_m values, J joints, F features, V words.
KEYS: Final[dict[str, str]] = {
    "tick": "(T,) uint64: the core's tick counter",
    "stamp_ns": "(T,) int64: the tick's stamp, ns (sim or wall time, as the core ran)",
    "modalities": "(M,) str: vision, audio, touch, proprio (the column order of (T, M) keys)",
    **{
        f"{m}_embedding": f"(T, {EMBEDDING_DIMS[m]}) float32: the {m} encoder's embedding "
        "(NaN rows where none was recorded)"
        for m in MODALITIES
    },
    "present": "(T, M) bool: the embedding was fresh and the brain used it (else its "
    "learned missing vector; a recorded but stale embedding is kept, not present)",
    "encoder_version": "(T, M) str: the encoder that made each embedding",
    "embedding_stamp_ns": "(T, M) int64: each embedding's stamp (its raw input's), ns",
    "embedding_tick": "(T, M) uint64: each sensor's own tick counter",
    "heard_word": "(T,) str: the word heard this tick (silence when none)",
    "heard_word_id": "(T,) int64: its id in `vocabulary` (unknown words: the `unknown` id)",
    "spoken_word": "(T,) str: the word the agent said this tick (silence when none)",
    "spoken_word_id": "(T,) int64: its id in `vocabulary`",
    "vocabulary": "(V,) str: the word list the ids index",
    "joint_names": "(J,) str: the column order of the joint keys",
    "joint_position": "(T, J) float32: measured positions, rad (NaN: no joint state)",
    "joint_velocity": "(T, J) float32: measured velocities, rad/s (NaN: no joint state)",
    "motor_velocity": "(T, J) float32: the agent's command, rad/s (NaN: none, e.g. asleep)",
    "drowsiness_features": "(F,) str: context_fill, latency_ratio, missed_rate_x10, sleepiness",
    "drowsiness": "(T, F) float32: the drowsiness features the brain was given (NaN: none)",
    "step_latency_ms": "(T,) float32: the brain step's latency, ms",
    "missed": "(T,) bool: this tick's step overran its period (the next tick was missed)",
    "brain_version": "(T,) str: the brain version that acted",
}


@dataclass(frozen=True)
class Export:
    """What `export_day` wrote."""

    path: Path
    ticks: int
    recovery_note: str | None  # how much of a bag cut short was read; None when whole


def day_arrays(rows: Iterable[TickRow]) -> dict[str, np.ndarray]:
    """The arrays of KEYS for a day's rows (contracts' sizes; joint names from the rows)."""
    vocab = load_vocabulary()
    cols: dict[str, list[object]] = {k: [] for k in KEYS}
    joint_names: tuple[str, ...] | None = None
    nan_dims = {m: np.full(EMBEDDING_DIMS[m], np.nan, np.float32) for m in MODALITIES}
    for row in rows:
        names = tuple(row.joint_names)
        if joint_names is None:
            joint_names = names
        elif names != joint_names:
            raise BagError(
                f"tick {row.tick}: joints {list(names)}, earlier ticks {list(joint_names)}; "
                "one export holds one body"
            )
        n = len(names)
        cols["tick"].append(row.tick)
        cols["stamp_ns"].append(row.stamp_ns)
        for i, m in enumerate(MODALITIES):
            data = row.embeddings[i]
            cols[f"{m}_embedding"].append(nan_dims[m] if data is None else data)
        cols["present"].append(row.present)
        cols["encoder_version"].append(row.encoder_versions)
        cols["embedding_stamp_ns"].append(row.embedding_stamps_ns)
        cols["embedding_tick"].append(row.embedding_ticks)
        cols["heard_word"].append(row.heard_word)
        cols["heard_word_id"].append(vocab.id(row.heard_word))
        cols["spoken_word"].append(row.spoken_word)
        cols["spoken_word_id"].append(vocab.id(row.spoken_word))
        for key in ("joint_position", "joint_velocity", "motor_velocity"):
            cols[key].append(_or_nan(getattr(row, key), n))
        cols["drowsiness"].append(_or_nan(row.drowsiness, len(DROWSINESS_FEATURES)))
        cols["step_latency_ms"].append(row.step_latency_ms)
        cols["missed"].append(row.missed)
        cols["brain_version"].append(row.brain_version)
    t = len(cols["tick"])
    j = len(joint_names if joint_names is not None else JOINTS)
    m = len(MODALITIES)
    out: dict[str, np.ndarray] = {
        "tick": np.array(cols["tick"], np.uint64).reshape(t),
        "stamp_ns": np.array(cols["stamp_ns"], np.int64).reshape(t),
        "modalities": np.array(MODALITIES, str),
        "present": np.array(cols["present"], bool).reshape(t, m),
        "encoder_version": _strings(cols["encoder_version"]).reshape(t, m),
        "embedding_stamp_ns": np.array(cols["embedding_stamp_ns"], np.int64).reshape(t, m),
        "embedding_tick": np.array(cols["embedding_tick"], np.uint64).reshape(t, m),
        "heard_word": _strings(cols["heard_word"]),
        "heard_word_id": np.array(cols["heard_word_id"], np.int64).reshape(t),
        "spoken_word": _strings(cols["spoken_word"]),
        "spoken_word_id": np.array(cols["spoken_word_id"], np.int64).reshape(t),
        "vocabulary": np.array(vocab.words, str),
        "joint_names": np.array(joint_names if joint_names is not None else JOINTS, str),
        "drowsiness_features": np.array(DROWSINESS_FEATURES, str),
        "drowsiness": np.array(cols["drowsiness"], np.float32).reshape(t, len(DROWSINESS_FEATURES)),
        "step_latency_ms": np.array(cols["step_latency_ms"], np.float32).reshape(t),
        "missed": np.array(cols["missed"], bool).reshape(t),
        "brain_version": _strings(cols["brain_version"]),
    }
    for key in ("joint_position", "joint_velocity", "motor_velocity"):
        out[key] = np.array(cols[key], np.float32).reshape(t, j)
    for name in MODALITIES:
        key = f"{name}_embedding"
        out[key] = np.array(cols[key], np.float32).reshape(t, EMBEDDING_DIMS[name])
    return {key: out[key] for key in KEYS}


def export_day(bag: Bag, out: Path, *, overwrite: bool = False) -> Export:
    """Write the day's arrays to `out` (.npz), atomically: a failure leaves no file.

    An existing `out` is refused unless `overwrite`: an export is often the only copy an
    ML user keeps next to their notebooks.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise BagError(f"{out} exists; choose another output or overwrite it (--force)")
    arrays = day_arrays(bag.tick_rows())
    tmp = out.with_name(f".{out.name}.writing")
    try:
        with tmp.open("wb") as f:  # a file object: np.savez then adds no second .npz
            np.savez(f, **arrays)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BagError(f"cannot write {out}: {exc}") from None
    return Export(out, int(arrays["tick"].shape[0]), bag.recovery_note())


def _or_nan(values: np.ndarray, n: int) -> np.ndarray:
    """A row's value, or NaNs when the tick had none (an empty array in the TickRecord)."""
    return values if values.shape[0] == n else np.full(n, np.nan, np.float32)


def _strings(values: list[object]) -> np.ndarray:
    """Fixed-width unicode, never object arrays: np.load then needs no pickle."""
    return np.array(values, dtype=str) if values else np.zeros(0, dtype="<U1")
