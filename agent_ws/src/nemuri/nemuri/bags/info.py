"""`nemuri bag info`: a bag summed up like `ros2 bag info` (files, size, storage, span,
messages, each topic's type, count, rate and serialization), and for a day log what
nemuri's own rows say: ticks, brain and encoder versions, sleepiness over the day, words
heard and spoken. The day's numbers come from the export's arrays (export.day_arrays),
so what `info` says and what `export` writes cannot disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

import numpy as np

from nemuri.contracts import DROWSINESS_FEATURES, DROWSY_AT, MODALITIES
from nemuri.memory.daylog import THUMBNAIL_TOPIC
from nemuri.vocabulary import SILENCE

from .export import day_arrays
from .reader import Bag, TopicInfo

SLEEPINESS: Final[int] = DROWSINESS_FEATURES.index("sleepiness")
TOP_WORDS: Final[int] = 8  # words listed by count; the rest are summed up
_LABEL: Final[int] = 19  # width of the label column, as ros2 bag info aligns it


@dataclass(frozen=True)
class Sleepiness:
    """Sleepiness over the day (the fourth drowsiness feature of every tick)."""

    minimum: float
    mean: float
    maximum: float
    drowsy_ticks: int  # ticks at or above DROWSY_AT
    first_drowsy: int | None  # row index of the first of them
    peak: int  # row index of the maximum


@dataclass(frozen=True)
class DaySummary:
    """nemuri's part of the info: what the TickRecords of a day log say."""

    ticks: int
    first_tick: int
    last_tick: int
    missed: int  # ticks whose step overran the period (the next tick was missed)
    start_ns: int  # first row's stamp (offsets in the text are from it)
    stamps_ns: np.ndarray  # (T,) int64
    ticks_of: np.ndarray  # (T,) uint64
    brain_versions: list[tuple[str, int, int, int]]  # version, ticks, first row, last row
    encoder_versions: dict[str, list[tuple[str, int]]]  # modality -> (version, ticks)
    sleepiness: Sleepiness | None  # None when no tick carried drowsiness features
    heard: Counter[str]  # words, silence left out
    spoken: Counter[str]
    thumbnails: int


def day_summary(arrays: dict[str, np.ndarray], thumbnails: int = 0) -> DaySummary:
    """The day's numbers from its export arrays (export.day_arrays)."""
    ticks = arrays["tick"]
    versions = arrays["brain_version"]
    brain = []
    for version in dict.fromkeys(versions.tolist()):  # in order of first use
        rows = np.flatnonzero(versions == version)
        brain.append((str(version), len(rows), int(rows[0]), int(rows[-1])))
    encoders = {}
    recorded = ~np.isnan(np.stack([arrays[f"{m}_embedding"][:, 0] for m in MODALITIES], 1))
    for i, m in enumerate(MODALITIES):
        used = arrays["encoder_version"][recorded[:, i], i]
        encoders[m] = [(str(v), n) for v, n in Counter(used.tolist()).most_common()]
    return DaySummary(
        ticks=int(ticks.shape[0]),
        first_tick=int(ticks[0]) if len(ticks) else 0,
        last_tick=int(ticks[-1]) if len(ticks) else 0,
        missed=int(arrays["missed"].sum()),
        start_ns=int(arrays["stamp_ns"][0]) if len(ticks) else 0,
        stamps_ns=arrays["stamp_ns"],
        ticks_of=ticks,
        brain_versions=brain,
        encoder_versions=encoders,
        sleepiness=_sleepiness(arrays["drowsiness"][:, SLEEPINESS]),
        heard=_words(arrays["heard_word"]),
        spoken=_words(arrays["spoken_word"]),
        thumbnails=thumbnails,
    )


def _sleepiness(values: np.ndarray) -> Sleepiness | None:
    known = ~np.isnan(values)
    if not known.any():
        return None
    drowsy = np.flatnonzero(known & (np.nan_to_num(values) >= DROWSY_AT))
    return Sleepiness(
        minimum=float(np.nanmin(values)),
        mean=float(np.nanmean(values)),
        maximum=float(np.nanmax(values)),
        drowsy_ticks=len(drowsy),
        first_drowsy=int(drowsy[0]) if len(drowsy) else None,
        peak=int(np.nanargmax(values)),
    )


def _words(words: np.ndarray) -> Counter[str]:
    """Words by count; silence (and an empty string, which means it) left out."""
    return Counter(w for w in words.tolist() if w.strip() and w.strip().lower() != SILENCE)


@dataclass(frozen=True)
class BagInfo:
    bag: Bag
    day: DaySummary | None  # None: not a day log
    arrays: dict[str, np.ndarray] | None  # the day's export arrays (for the timeline)


def summarize(bag: Bag) -> BagInfo:
    """The bag's info; for a day log, its rows are read (and checked) to sum the day up."""
    if not bag.is_day_log:
        return BagInfo(bag, None, None)
    thumbnails = bag.topics[THUMBNAIL_TOPIC].count if THUMBNAIL_TOPIC in bag.topics else 0
    arrays = day_arrays(bag.tick_rows())
    return BagInfo(bag, day_summary(arrays, thumbnails), arrays)


# -- the text ---------------------------------------------------------------------------
def format_info(info: BagInfo) -> str:
    bag = info.bag
    lines = [
        _line("Files", "\n".join(f.path.name for f in bag.files) or "-"),
        _line("Bag size", _size(bag.size)),
        _line("Storage id", bag.storage_identifier),
        _line("ROS Distro", bag.ros_distro or "-"),
        _line("Duration", f"{(bag.end_ns - bag.start_ns) / 1e9:.9f}s"),
        _line("Start", _when(bag.start_ns)),
        _line("End", _when(bag.end_ns)),
        _line("Messages", str(bag.message_count)),
        _line("Topic information", "\n".join(_topic(t) for t in bag.topics.values()) or "-"),
    ]
    note = bag.recovery_note()
    if note is not None:
        lines.append(_line("Recovered", note))
    if info.day is not None:
        lines += ["", "nemuri day log:", *_day_lines(info.day)]
    return "\n".join(lines)


def _day_lines(day: DaySummary) -> list[str]:
    lines = [
        _line(
            "Ticks",
            f"{day.ticks} (ticks {day.first_tick}..{day.last_tick}, "
            f"{day.missed} overran their period)",
        ),
        _line(
            "Brain versions",
            "\n".join(
                f"{v or '(none)'}: {n} ticks, {_at(day, first)} .. {_at(day, last)}"
                for v, n, first, last in day.brain_versions
            )
            or "-",
        ),
        _line(
            "Encoder versions",
            "\n".join(
                f"{m}: " + (", ".join(f"{v or '(none)'} ({n})" for v, n in found) or "none")
                for m, found in day.encoder_versions.items()
            ),
        ),
    ]
    s = day.sleepiness
    if s is None:
        lines.append(_line("Sleepiness", "- (no tick carried drowsiness features)"))
    else:
        drowsy = f"never drowsy (>= {DROWSY_AT})"
        if s.first_drowsy is not None:
            share = 100.0 * s.drowsy_ticks / day.ticks
            drowsy = (
                f"drowsy (>= {DROWSY_AT}) on {s.drowsy_ticks} ticks ({share:.1f} %), "
                f"first {_at(day, s.first_drowsy)}"
            )
        lines.append(
            _line(
                "Sleepiness",
                f"min {s.minimum:.3f}, mean {s.mean:.3f}, max {s.maximum:.3f} "
                f"({_at(day, s.peak)})\n{drowsy}",
            )
        )
    lines.append(_line("Words heard", _word_counts(day.heard)))
    lines.append(_line("Words spoken", _word_counts(day.spoken)))
    lines.append(_line("Thumbnails", str(day.thumbnails)))
    return lines


def _line(label: str, value: str) -> str:
    """`Label:   value`, further lines of the value indented under the first."""
    first, *rest = value.split("\n")
    pad = " " * _LABEL
    return "\n".join([f"{label + ':':<{_LABEL}}{first}", *(pad + r for r in rest)])


def _topic(t: TopicInfo) -> str:
    rate = "-" if t.rate_hz is None else f"{t.rate_hz:.2f} Hz"
    return (
        f"Topic: {t.name} | Type: {t.msgtype or '(no schema)'} | Count: {t.count} | "
        f"Rate: {rate} | Serialization Format: {t.serialization_format}"
    )


def _at(day: DaySummary, row: int) -> str:
    """`tick N (+m:ss.s)`: a row as its tick and its time into the day."""
    offset = (int(day.stamps_ns[row]) - day.start_ns) / 1e9
    minutes, seconds = divmod(offset, 60.0)
    return f"tick {int(day.ticks_of[row])} (+{int(minutes)}:{seconds:04.1f})"


def _word_counts(counts: Counter[str]) -> str:
    total = sum(counts.values())
    if not total:
        return "0"
    top = ", ".join(f"{w} {n}" for w, n in counts.most_common(TOP_WORDS))
    more = len(counts) - TOP_WORDS
    return f"{total} ({len(counts)} different): {top}" + (f", {more} more" if more > 0 else "")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _when(ns: int) -> str:
    """A log time as UTC and as the seconds since the epoch, as ros2 bag info prints it."""
    moment = datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
    return f"{moment:%b %d %Y %H:%M:%S}.{ns % 10**9:09d} UTC ({ns // 10**9}.{ns % 10**9:09d})"
