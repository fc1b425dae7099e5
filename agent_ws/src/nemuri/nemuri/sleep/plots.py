"""The loss plot of a night (PNG): what the night learned, step by step, and how it was judged.

Drawn with matplotlib's Agg canvas on a Figure of its own (no pyplot, no global state, no
display), so a sleep node in any thread can draw while others run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from nemuri.sleep.consolidate import NightResult

_PART_STYLE = {"total": "k-", "embeddings": "C0-", "motor": "C1-", "word": "C2-"}
_HELD_OUT = {"today": "C3", "past": "C4"}


def plot_night(result: NightResult, path: Path) -> Path:
    """Training losses (log scale) against steps, with the held-out totals before and after.

    The held-out losses are drawn as horizontal lines at the left (before) and right
    (after) of the curve, the picture of the promotion rule: today's should step down,
    the past's should not step up.
    """
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    curve = result.loss_curve
    steps = [p["step"] for p in curve]
    for part, style in _PART_STYLE.items():
        if curve:
            ax.plot(steps, [max(p[part], 1e-8) for p in curve], style, lw=1, label=f"train {part}")
    end = max(steps, default=1)
    for when, x in (("before", (0, end * 0.08)), ("after", (end * 0.92, end))):
        measured = result.metrics.get(when) or {}
        for split, colour in _HELD_OUT.items():
            loss = (measured.get(split) or {}).get("total")
            if loss is not None:
                label = f"held-out {split}" if when == "before" else None
                ax.plot(x, [loss, loss], color=colour, lw=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (waking objective)")
    verdict = "promoted" if result.promoted else "kept the old version"
    ax.set_title(
        f"night from v{result.parent:04d}: {verdict}, {result.steps} steps, lr {result.lr:.2g}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
