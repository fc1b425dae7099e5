"""The long-term replay store: a bounded sample of segments from every earlier day.

Sleeping on today alone would overwrite yesterday (catastrophic forgetting), and keeping
every day forever does not fit. So each night adds today's segments and the store trims
itself back under its caps by taking from the day that holds the most segments: a new
day comes in whole, old days shrink evenly, and every past day keeps a share until there
are more days than room, when a random day gives up its last segment (a reservoir over
days). Some segments of every day are marked `val`: the day's own held-out windows, never
trained on, so "did we forget the past?" is asked of ticks no night has learned from.

    <root>/index.json         the store: its entries, the days it holds (the one truth)
    <root>/segments/<id>.npz  one segment's arrays

Writes are atomic: segment files first (temp name, fsync, rename), then index.json the
same way, then evicted files are deleted. A kill at any moment leaves the old index or the
new one; files no index names are leftovers and are deleted when the store is opened.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from nemuri.sleep.dataset import ARRAYS, Segment
from nemuri.sleep.errors import ReplayStoreError

Split = Literal["train", "val"]
INDEX = "index.json"
SEGMENTS = "segments"
FORMAT = 1


@dataclass(frozen=True)
class ReplayConfig:
    """How much of the past is kept."""

    max_segments: int = 2048  # ~146 h of ticks at 256 ticks a segment
    max_bytes: int = 1 << 30  # 1 GiB; a 256-tick segment of the default sizes is ~250 KiB
    seed: int = 0  # of the eviction's choices


@dataclass(frozen=True)
class Entry:
    """One stored segment."""

    id: str
    day: str  # the day log's name
    split: Split
    ticks: int
    nbytes: int
    start: int  # its first row's index in its day


class ReplayStore:
    """Segments of past days on disk, capped in count and bytes; one writer at a time."""

    def __init__(self, root: Path, config: ReplayConfig | None = None) -> None:
        self.root = Path(root)
        self.config = config or ReplayConfig()
        self.entries: list[Entry] = []
        self.days: list[str] = []  # every day ever added, oldest first, kept or evicted
        self._read_index()
        self._delete_leftovers()

    # -- reading ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries)

    def holds(self, day: str) -> bool:
        """True once a day was added, even if its segments were evicted since."""
        return day in self.days

    def split(self, split: Split) -> list[Entry]:
        return [e for e in self.entries if e.split == split]

    def shares(self) -> dict[str, int]:
        """Segments held per day."""
        return dict(Counter(e.day for e in self.entries))

    def load(self, entry: Entry) -> Segment:
        path = self._file(entry.id)
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in ARRAYS}
        except (OSError, KeyError, ValueError) as exc:
            raise ReplayStoreError(f"replay segment {path} cannot be read: {exc}") from exc
        return Segment.from_arrays(arrays, entry.start, entry.day)

    # -- writing ------------------------------------------------------------------------
    def add_day(self, day: str, segments: Sequence[tuple[Segment, Split]]) -> None:
        """Keep a day's segments, then trim to the caps. Adding a day twice does nothing.

        Called only after a night succeeded, so a night that failed or was killed never
        leaves its day in the store (and the next sleep redoes it whole).
        """
        if self.holds(day):
            return
        (self.root / SEGMENTS).mkdir(parents=True, exist_ok=True)
        added = []
        for segment, split in segments:
            entry = Entry(
                uuid.uuid4().hex, day, split, segment.ticks, segment.nbytes, segment.start
            )
            self._write_segment(entry.id, segment)
            added.append(entry)
        kept, evicted = self._trim([*self.entries, *added])
        self._write_index(kept, [*self.days, day])
        self.entries, self.days = kept, [*self.days, day]
        for entry in evicted:
            self._file(entry.id).unlink(missing_ok=True)
        _fsync(self.root / SEGMENTS)

    def _trim(self, entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
        """Evict from the largest day until under the caps, at random within that day."""
        rng = np.random.default_rng([self.config.seed, len(self.days)])
        kept = list(entries)
        evicted = []
        while kept and (
            len(kept) > self.config.max_segments
            or sum(e.nbytes for e in kept) > self.config.max_bytes
        ):
            counts = Counter(e.day for e in kept)
            most = max(counts.values())
            biggest = [day for day, n in counts.items() if n == most]
            day = biggest[int(rng.integers(len(biggest)))]
            mine = [e for e in kept if e.day == day]
            # Uniform within the day keeps its val share on average; its last val segment
            # goes only with the day's last segment, so every day can still be validated.
            val = [e for e in mine if e.split == "val"]
            pool = [e for e in mine if not (len(val) == 1 and e is val[0])] or mine
            victim = pool[int(rng.integers(len(pool)))]
            kept.remove(victim)
            evicted.append(victim)
        return kept, evicted

    # -- files --------------------------------------------------------------------------
    def _file(self, entry_id: str) -> Path:
        return self.root / SEGMENTS / f"{entry_id}.npz"

    def _write_segment(self, entry_id: str, segment: Segment) -> None:
        final = self._file(entry_id)
        tmp = final.with_name(f".{final.name}.tmp")
        with tmp.open("wb") as f:
            np.savez(f, **segment.arrays())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)

    def _write_index(self, entries: list[Entry], days: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        index = {"format": FORMAT, "days": days, "entries": [asdict(e) for e in entries]}
        tmp = self.root / f".{INDEX}.tmp"
        with tmp.open("w") as f:
            json.dump(index, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / INDEX)
        _fsync(self.root)

    def _read_index(self) -> None:
        path = self.root / INDEX
        if not path.is_file():
            return
        try:
            index = json.loads(path.read_text())
            if index.get("format") != FORMAT:
                raise ValueError(f"format {index.get('format')}, not {FORMAT}")
            entries = [Entry(**e) for e in index["entries"]]
            days = [str(d) for d in index["days"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReplayStoreError(
                f"{path} is damaged ({exc}); move the replay directory aside to start a new one"
            ) from exc
        missing = [e for e in entries if not self._file(e.id).is_file()]
        if missing:
            raise ReplayStoreError(
                f"{path} names {len(missing)} segment file(s) that are missing, e.g. "
                f"{self._file(missing[0].id)}"
            )
        self.entries, self.days = entries, days

    def _delete_leftovers(self) -> None:
        """Files of a write a kill interrupted, or evictions not yet deleted."""
        directory = self.root / SEGMENTS
        if not directory.is_dir():
            return
        named = {f"{e.id}.npz" for e in self.entries}
        for path in directory.iterdir():
            if path.name not in named:
                path.unlink(missing_ok=True)
        (self.root / f".{INDEX}.tmp").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
