"""The one fixed word list the agent hears and speaks, shipped with the package.

The same list serves every day and every brain version, so word ids in a checkpoint and
words in an old day log always mean the same thing. Words are stored in day logs as
strings and turned into ids only here.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

SILENCE = "silence"
UNKNOWN = "unknown"


class Vocabulary:
    """Word <-> id over the shipped list; unknown words map to `unknown`."""

    def __init__(self, words: list[str]) -> None:
        if words[:2] != [SILENCE, UNKNOWN]:
            raise ValueError("a vocabulary starts with 'silence' and 'unknown'")
        if len(set(words)) != len(words):
            raise ValueError("a vocabulary has no duplicate words")
        self.words: tuple[str, ...] = tuple(words)
        self._ids = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def id(self, word: str) -> int:
        """Id of a word; empty means silence, anything not in the list is `unknown`."""
        word = word.strip().lower()
        if not word:
            return self._ids[SILENCE]
        return self._ids.get(word, self._ids[UNKNOWN])

    def word(self, index: int) -> str:
        return self.words[index]

    @property
    def silence_id(self) -> int:
        return self._ids[SILENCE]


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """The shipped vocabulary (nemuri/vocabulary.txt: one word a line, # comments)."""
    text = resources.files("nemuri").joinpath("vocabulary.txt").read_text(encoding="utf-8")
    words = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return Vocabulary(words)
