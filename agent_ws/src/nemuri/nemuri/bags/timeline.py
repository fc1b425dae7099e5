"""A day log's timeline as a PNG (`nemuri bag info --plot`): sleepiness with the drowsy
and sleep thresholds, the words heard and spoken as markers, and how hard the agent moved.

Drawn from the export's arrays with matplotlib's Agg canvas on a Figure of its own (no
pyplot, no global state, no display), as the night's loss plot is. The picture's size is
fixed (WIDTH x HEIGHT pixels), whatever the day's length.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nemuri.contracts import DROWSINESS_FEATURES, DROWSY_AT, SLEEP_AT
from nemuri.vocabulary import SILENCE

WIDTH: Final[int] = 1200  # pixels
HEIGHT: Final[int] = 700
_DPI: Final[int] = 100
_LABELLED_WORDS: Final[int] = 60  # more markers than this are drawn without their words


def plot_day(arrays: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """Write the timeline of a day's arrays (export.day_arrays) to `path` (PNG), atomically."""
    stamps = arrays["stamp_ns"]
    seconds = (stamps - stamps[0]) / 1e9 if len(stamps) else np.zeros(0)
    fig = Figure(figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    sleepy, words, motor = fig.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))

    sleepiness = arrays["drowsiness"][:, DROWSINESS_FEATURES.index("sleepiness")]
    sleepy.plot(seconds, sleepiness, color="C0", lw=1.2, label="sleepiness")
    drowsy = np.nan_to_num(sleepiness) >= DROWSY_AT
    if drowsy.any():
        sleepy.fill_between(
            seconds,
            0,
            1,
            where=drowsy,
            transform=sleepy.get_xaxis_transform(),
            color="C1",
            alpha=0.15,
            label="drowsy",
        )
    sleepy.axhline(DROWSY_AT, color="C1", ls="--", lw=1, label=f"drowsy at {DROWSY_AT}")
    sleepy.axhline(SLEEP_AT, color="C3", ls="--", lw=1, label=f"sleep at {SLEEP_AT}")
    sleepy.set_ylim(0.0, max(1.1, float(np.nanmax(sleepiness, initial=0.0)) * 1.05))
    sleepy.set_ylabel("sleepiness")
    sleepy.legend(fontsize=8, loc="upper left")
    sleepy.set_title(title, fontsize=10)

    for key, y, marker, colour, label in (
        ("heard_word", 1.0, "v", "C2", "heard"),
        ("spoken_word", 0.0, "^", "C4", "spoken"),
    ):
        said = np.array([w.strip() != "" and w.strip().lower() != SILENCE for w in arrays[key]])
        xs = seconds[said]
        words.scatter(xs, np.full(len(xs), y), marker=marker, color=colour, s=30, label=label)
        if 0 < len(xs) <= _LABELLED_WORDS:
            for x, word in zip(xs, arrays[key][said], strict=True):
                words.annotate(
                    str(word),
                    (x, y),
                    xytext=(0, 6 if y else -12),
                    textcoords="offset points",
                    fontsize=7,
                    ha="center",
                    rotation=30,
                )
    words.set_ylim(-0.8, 1.8)
    words.set_yticks([0.0, 1.0], ["spoken", "heard"])
    words.legend(fontsize=8, loc="upper right")

    speed = np.sqrt(np.sum(np.square(arrays["motor_velocity"]), axis=1))  # NaN: no command
    motor.plot(seconds, speed, color="C5", lw=1)
    missed = arrays["missed"]
    if missed.any():
        motor.plot(
            seconds[missed],
            np.zeros(int(missed.sum())),
            "|",
            color="C3",
            ms=12,
            label="step overran",
        )
        motor.legend(fontsize=8, loc="upper right")
    motor.set_ylim(bottom=0.0)
    motor.set_ylabel("motor |v| (rad/s)")
    motor.set_xlabel("time into the day (s)")
    for ax in (sleepy, words, motor):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()

    path = Path(path)
    tmp = path.with_name(f".{path.name}.writing")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
