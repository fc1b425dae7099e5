"""Sleep: the day's context becomes long-term memory by fine-tuning on it (IDEA.md, 2).

    fusion.py       fuse_tick: one tick's brain input, the rule the Agent shares
    dataset.py      a day log -> Segments (inputs + next-tick targets) -> TickBatch
    objective.py    the waking objective as a loss (next embeddings, joints, word)
    schedule.py     AgeSchedule: the learning rate by age (nights slept, ticks seen)
    replay.py       ReplayStore: a bounded sample of every earlier day, on disk
    dreams.py       free-running rollouts of a brain, seeded from a remembered moment
    consolidate.py  consolidate(): one night, validated, promoted or rolled back
    report.py       the night's dream, named from what was seen and heard awake
    progress.py     NightProgress and a terminal ProgressBar
    plots.py        the night's loss plot (matplotlib)
    history.py      every version and night, for `nemuri history`

No ROS here: the sleep node and `nemuri sleep` call consolidate() and report its result.
"""

from nemuri.sleep.consolidate import NightResult, SleepConfig, consolidate
from nemuri.sleep.errors import NoBrain, ReplayStoreError, SleepError, UnusableDayLog
from nemuri.sleep.progress import NightProgress, ProgressBar
from nemuri.sleep.replay import ReplayConfig, ReplayStore
from nemuri.sleep.report import DreamReport
from nemuri.sleep.schedule import AgeSchedule

__all__ = [
    "AgeSchedule",
    "DreamReport",
    "NightProgress",
    "NightResult",
    "NoBrain",
    "ProgressBar",
    "ReplayConfig",
    "ReplayStore",
    "ReplayStoreError",
    "SleepConfig",
    "SleepError",
    "UnusableDayLog",
    "consolidate",
]
