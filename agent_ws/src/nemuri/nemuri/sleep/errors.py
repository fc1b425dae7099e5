"""What can go wrong with a night's sleep, as named exceptions.

Every error the sleep package raises on purpose is a SleepError, so the sleep node and
`nemuri sleep` can catch one class and answer the goal with a sentence. A SleepError is
always raised before anything on disk was changed: the brains, the replay store and the
day logs are as they were.
"""

from __future__ import annotations


class SleepError(Exception):
    """Base class of every sleep error."""


class UnusableDayLog(SleepError):
    """A day log the sleep refuses: not a day log, corrupt, too short, or of other sizes."""


class NoBrain(SleepError):
    """The brains directory holds no version to sleep on (the core makes the newborn)."""


class ReplayStoreError(SleepError):
    """The long-term replay store on disk cannot be read (its index is damaged)."""
