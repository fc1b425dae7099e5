"""`nemuri history` and `nemuri dream`: every night, promoted or not, and the last dream.

Versions say what was kept (their manifests); the nights directory also says what was
not (a rejected night writes its record but no version). Both are read here, nothing is
written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemuri.brain import checkpoint
from nemuri.sleep.consolidate import NIGHT_RECORD, NIGHTS_DIR
from nemuri.sleep.report import DreamReport


@dataclass(frozen=True)
class HistoryRow:
    """One version, or one night that made none."""

    version: int | None  # None: a night that was not promoted
    parent: int | None
    created: str
    nights: int
    ticks_seen: int
    days: list[str]
    lr: float | None
    promoted: bool | None  # None for the newborn, which no night made
    reason: str
    today: tuple[float, float] | None  # held-out today's total loss, before and after
    past: tuple[float, float] | None  # held-out past's total loss, before and after


def history(brains_dir: Path) -> list[HistoryRow]:
    """Versions and rejected nights, oldest first (by creation time)."""
    brains_dir = Path(brains_dir)
    rows = []
    for version in checkpoint.versions(brains_dir):
        m = checkpoint.read_manifest(brains_dir / checkpoint.version_name(version))
        rows.append(_row(m, m["version"], m["parent"], m["created"], m["age"]))
    nights = brains_dir / NIGHTS_DIR
    for record in sorted(nights.glob(f"*/{NIGHT_RECORD}")) if nights.is_dir() else []:
        n = json.loads(record.read_text())
        if n.get("promoted"):
            continue  # its version is listed from the manifest
        age = {"nights": n["nights"], "ticks_seen": n["ticks_seen"]}
        rows.append(_row(n, None, n["parent"], _created(record.parent.name), age))
    return sorted(rows, key=lambda r: (r.created, r.version is None))


def _row(
    d: dict[str, Any], version: int | None, parent: int | None, created: str, age: dict[str, Any]
) -> HistoryRow:
    metrics = d.get("metrics") or {}

    def pair(split: str) -> tuple[float, float] | None:
        before = (metrics.get("before") or {}).get(split)
        after = (metrics.get("after") or {}).get(split)
        return None if before is None or after is None else (before["total"], after["total"])

    return HistoryRow(
        version=version,
        parent=parent,
        created=created,
        nights=int(age["nights"]),
        ticks_seen=int(age["ticks_seen"]),
        days=[day["name"] for day in d.get("days", [])],
        lr=d.get("lr"),
        promoted=d.get("promoted"),
        reason=d.get("reason", "newborn" if parent is None else ""),
        today=pair("today"),
        past=pair("past"),
    )


def _created(night_name: str) -> str:
    """A night directory's UTC stamp (YYYYmmddTHHMMSS-...) in the manifests' ISO form."""
    s = night_name[:15]
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[9:11]}:{s[11:13]}:{s[13:15]}+00:00"


def format_history(rows: list[HistoryRow]) -> str:
    """A table for the terminal, one line per row; today/past are held-out losses."""
    line = "{:8} {:6} {:>6} {:>8} {:>8} {:>17} {:>17}  {}"
    lines = [line.format("version", "parent", "nights", "ticks", "lr", "today", "past", "days")]
    for r in rows:
        note = ", ".join(r.days) or "-"
        if r.promoted is False:
            note += f"  NOT PROMOTED: {r.reason}"
        lines.append(
            line.format(
                "-" if r.version is None else f"v{r.version:04d}",
                "-" if r.parent is None else f"v{r.parent:04d}",
                r.nights,
                r.ticks_seen,
                "-" if r.lr is None else f"{r.lr:.2e}",
                "-" if r.today is None else f"{r.today[0]:.4f}->{r.today[1]:.4f}",
                "-" if r.past is None else f"{r.past[0]:.4f}->{r.past[1]:.4f}",
                note,
            )
        )
    return "\n".join(lines)


def slept_days(brains_dir: Path) -> set[str]:
    """Names of the day logs some promoted version slept on: what the sleep node skips."""
    brains_dir = Path(brains_dir)
    names = set()
    for version in checkpoint.versions(brains_dir):
        m = checkpoint.read_manifest(brains_dir / checkpoint.version_name(version))
        if m.get("promoted"):
            names |= {day["name"] for day in m.get("days", [])}
    return names


def last_dream(brains_dir: Path) -> DreamReport | None:
    """The latest version's dream (`nemuri dream`, the dream service); None before any."""
    found = checkpoint.latest(Path(brains_dir))
    told = None if found is None else found.manifest.get("dream")
    return None if told is None else DreamReport.from_dict(told)
