"""TickRow: one tick of the day log as plain Python, the ROS-free twin of TickRecord.msg.

The Agent builds one per tick and the sleep reads them back; neither needs ROS types.
A row keeps raw per-modality embeddings and masks, never a brain-specific fused token, so
any later brain version can retrain on it (DESIGN.md, Day log).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES

from .errors import InvalidTickRow

FloatArray = npt.NDArray[np.float32]

N_MODALITIES: Final[int] = len(MODALITIES)
# builtin_interfaces/Time holds int32 seconds: a stamp past this does not fit the message.
MAX_STAMP_NS: Final[int] = 2**31 * 10**9 - 1
MAX_UINT64: Final[int] = 2**64 - 1
FLOAT32_MAX: Final[float] = float(np.finfo(np.float32).max)


def _floats(value: object, name: str) -> FloatArray:
    """A 1-D float32 array (no copy when it already is one)."""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidTickRow(f"{name} is not a sequence of numbers: {exc}") from None
    if arr.ndim != 1:
        raise InvalidTickRow(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _per_modality(value: Sequence[object], name: str) -> tuple[object, ...]:
    items = tuple(value)
    if len(items) != N_MODALITIES:
        raise InvalidTickRow(
            f"{name} has {len(items)} entries; expected one per modality {MODALITIES}"
        )
    return items


@dataclass(frozen=True, eq=False)
class TickRow:
    """One day log row. Per-modality fields are in contracts.MODALITIES order.

    Construction normalises types (lists become tuples, numbers float32 arrays) and checks
    the shape of the row; `validate` checks its values against the configured sizes, which
    DayLog.append does before anything reaches the file. Arrays are not copied: rows read
    back from a bag hold read-only views of the message bytes.
    """

    tick: int
    stamp_ns: int
    embeddings: Sequence[FloatArray | None]  # None: absent (or stale and not kept)
    present: Sequence[bool]  # False: absent or stale, the brain used its missing vector
    encoder_versions: Sequence[str] = ("",) * N_MODALITIES
    embedding_stamps_ns: Sequence[int] = (0,) * N_MODALITIES
    embedding_ticks: Sequence[int] = (0,) * N_MODALITIES  # each sensor's own tick counter
    heard_word: str = "silence"
    joint_names: Sequence[str] = JOINTS
    joint_position: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))
    joint_velocity: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))
    motor_velocity: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))
    spoken_word: str = "silence"
    drowsiness: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))
    step_latency_ms: float = 0.0
    missed: bool = False
    brain_version: str = ""

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        put(
            "embeddings",
            tuple(
                None if e is None else _floats(e, f"{MODALITIES[i]} embedding")
                for i, e in enumerate(_per_modality(self.embeddings, "embeddings"))
            ),
        )
        put("present", tuple(bool(p) for p in _per_modality(self.present, "present")))
        put("encoder_versions", _per_modality(self.encoder_versions, "encoder_versions"))
        put("embedding_stamps_ns", _per_modality(self.embedding_stamps_ns, "embedding_stamps_ns"))
        put("embedding_ticks", _per_modality(self.embedding_ticks, "embedding_ticks"))
        put("joint_names", tuple(self.joint_names))
        for name in ("joint_position", "joint_velocity", "motor_velocity", "drowsiness"):
            put(name, _floats(getattr(self, name), name))
        put("missed", bool(self.missed))

    def validate(self, embedding_dims: Mapping[str, int] = EMBEDDING_DIMS) -> None:
        """Raise InvalidTickRow naming the first thing that would make this row bad data.

        Everything here is checked before a byte is written, so a refused row leaves the
        log exactly as it was. Non-finite numbers are refused everywhere: one NaN in a day
        log poisons every batch the sleep draws it into.
        """
        where = f"tick {self.tick}"
        _check_int(self.tick, f"{where}: tick", MAX_UINT64)
        _check_int(self.stamp_ns, f"{where}: stamp_ns", MAX_STAMP_NS)
        for i, modality in enumerate(MODALITIES):
            data = self.embeddings[i]
            if data is None:
                if self.present[i]:
                    raise InvalidTickRow(f"{where}: {modality} is present but has no embedding")
            else:
                want = embedding_dims[modality]
                if data.shape[0] != want:
                    raise InvalidTickRow(
                        f"{where}: {modality} embedding has {data.shape[0]} values, expected {want}"
                    )
                _check_finite(data, f"{where}: {modality} embedding")
            _check_str(self.encoder_versions[i], f"{where}: {modality} encoder_version")
            _check_int(
                self.embedding_stamps_ns[i], f"{where}: {modality} embedding stamp", MAX_STAMP_NS
            )
            _check_int(self.embedding_ticks[i], f"{where}: {modality} embedding tick", MAX_UINT64)
        for name in ("heard_word", "spoken_word", "brain_version"):
            _check_str(getattr(self, name), f"{where}: {name}")
        for name in self.joint_names:
            _check_str(name, f"{where}: joint name")
        n_joints = len(self.joint_names)
        for name in ("joint_position", "joint_velocity", "motor_velocity"):
            values: FloatArray = getattr(self, name)
            # Empty means "not available this tick" (e.g. no joint state yet, or resting).
            if values.shape[0] not in (0, n_joints):
                raise InvalidTickRow(
                    f"{where}: {name} has {values.shape[0]} values for {n_joints} joints"
                )
            _check_finite(values, f"{where}: {name}")
        if self.drowsiness.shape[0] not in (0, len(DROWSINESS_FEATURES)):
            raise InvalidTickRow(
                f"{where}: drowsiness has {self.drowsiness.shape[0]} values, expected "
                f"{len(DROWSINESS_FEATURES)} {DROWSINESS_FEATURES}"
            )
        _check_finite(self.drowsiness, f"{where}: drowsiness")
        try:
            latency = float(self.step_latency_ms)
        except (TypeError, ValueError):
            raise InvalidTickRow(f"{where}: step_latency_ms is {self.step_latency_ms!r}") from None
        if not math.isfinite(latency) or abs(latency) > FLOAT32_MAX:
            raise InvalidTickRow(f"{where}: step_latency_ms is {latency}, not a finite float32")

    def __eq__(self, other: object) -> bool:
        """Field by field, arrays by value: what a round trip through a bag must keep."""
        if not isinstance(other, TickRow):
            return NotImplemented
        return (
            (self.tick, self.stamp_ns, self.present, self.encoder_versions)
            == (other.tick, other.stamp_ns, other.present, other.encoder_versions)
            and tuple(self.embedding_stamps_ns) == tuple(other.embedding_stamps_ns)
            and tuple(self.embedding_ticks) == tuple(other.embedding_ticks)
            and all(
                (a is None and b is None)
                or (a is not None and b is not None and np.array_equal(a, b))
                for a, b in zip(self.embeddings, other.embeddings, strict=True)
            )
            and (self.heard_word, self.spoken_word, self.brain_version, self.missed)
            == (other.heard_word, other.spoken_word, other.brain_version, other.missed)
            and tuple(self.joint_names) == tuple(other.joint_names)
            and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("joint_position", "joint_velocity", "motor_velocity", "drowsiness")
            )
            and np.float32(self.step_latency_ms) == np.float32(other.step_latency_ms)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable


def _check_int(value: object, name: str, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidTickRow(f"{name} must be an integer, got {value!r}")
    if not 0 <= int(value) <= maximum:
        raise InvalidTickRow(f"{name} is {value}, outside 0..{maximum}")


def _check_str(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise InvalidTickRow(f"{name} must be a string, got {value!r}")


def _check_finite(values: FloatArray, name: str) -> None:
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidTickRow(f"{name} has {values[bad]} at index {bad}")
