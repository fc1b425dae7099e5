"""What can go wrong reading a bag, as named exceptions.

Every error the bag tools raise on purpose is a BagError, so `nemuri bag ...` can catch
one class and print a sentence instead of a traceback from inside the MCAP or CDR code.
"""

from __future__ import annotations


class BagError(Exception):
    """Base class of every bag error."""


class NotABag(BagError):
    """The path holds something else: nothing, not MCAP, or a bag of another storage."""


class CorruptBag(BagError):
    """A bag its writer closed that is damaged inside (a crash's bag is recovered instead)."""


class NoTickRecords(BagError):
    """A bag without nemuri's day log rows, asked for what only a day log has."""
