"""What can go wrong with a day log, as named exceptions.

Every error the memory package raises on purpose is a DayLogError, so a caller (the core
node, the sleep node, `nemuri sleep --from-bag`) can catch one class and report a sentence
instead of a traceback from inside the MCAP or CDR code.
"""

from __future__ import annotations


class DayLogError(Exception):
    """Base class of every day log error."""


class MessageDefinitionsNotFound(DayLogError):
    """The nemuri_msgs .msg files are neither installed nor in the source tree."""


class InvalidTickRow(DayLogError, ValueError):
    """A row the day log refuses (NaN/inf, wrong size, ticks out of order); nothing was written."""


class DayLogClosed(DayLogError):
    """An append to a day log that was closed, or stopped by a write error."""


class DayLogWriteError(DayLogError):
    """Writing to disk failed; the log stops there and what was flushed stays recoverable."""


class NotADayLog(DayLogError):
    """The path holds something else: no bag, not MCAP, or no TickRecord topic of our type."""


class CorruptDayLog(DayLogError):
    """A day log that was closed cleanly but is damaged inside (not a crash: `recover_day`)."""
