"""One tick's brain input from what the agent had at that tick: the shared fusion rule.

The waking Agent and the sleeping consolidation must build the very same TickInput from
the same senses, or sleep would train the brain on tokens it never sees awake. This is the
one place that says how: modalities concatenated in MODALITIES order, zeros where a
modality is absent or stale (the brain swaps in its learned "missing" vector by the
present mask, so the zeros never reach it), the word heard this tick, the agent's own
previous motor command and spoken word, and the drowsiness features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nemuri.brain.runtime import TickInput
from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES

DEFAULT_DIMS: tuple[int, ...] = tuple(EMBEDDING_DIMS[m] for m in MODALITIES)


def fuse_tick(
    embeddings: Sequence[np.ndarray | None],
    heard_word: int,
    prev_motor: np.ndarray | None,
    prev_spoken: int,
    drowsiness: np.ndarray | None,
    dims: Sequence[int] = DEFAULT_DIMS,
) -> TickInput:
    """The TickInput of one tick; `None` marks a modality absent or stale at this tick.

    `prev_motor` or `drowsiness` may be None or empty (a day log row written before the
    agent had a command or a reading): they enter as zeros, as the Agent starts a day.
    """
    parts, present = [], np.zeros(len(dims), np.float32)
    for i, (data, dim) in enumerate(zip(embeddings, dims, strict=True)):
        if data is None:
            parts.append(np.zeros(dim, np.float32))
        else:
            parts.append(np.asarray(data, np.float32))
            present[i] = 1.0
    return TickInput(
        embeddings=np.concatenate(parts),
        present=present,
        heard_word=int(heard_word),
        prev_motor=_or_zeros(prev_motor, len(JOINTS)),
        prev_spoken=int(prev_spoken),
        drowsiness=_or_zeros(drowsiness, len(DROWSINESS_FEATURES)),
    )


def _or_zeros(values: np.ndarray | None, n: int) -> np.ndarray:
    if values is None or len(values) == 0:
        return np.zeros(n, np.float32)
    return np.asarray(values, np.float32)
