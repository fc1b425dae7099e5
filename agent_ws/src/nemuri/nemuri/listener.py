"""Hearing a question in the words that arrive one at a time, and the answer to the dream.

The caretaker asks aloud, and /hearing/words carries what it says one word per utterance,
the way it carries a lesson's word. The brain hears those words too, but the question
"what did you dream?" asks about the night, which only the sleep node can tell; so the core
listens for it beside the brain, as a reflex: when the last word of a known question
arrives right after the others, `Listener.hear` names the question, and the core asks the
Dream service and says its report. No ROS here.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

DREAM: Final[str] = "dream"
# Word sequences the core answers itself, and the name it gives each.
QUESTIONS: Final[Mapping[tuple[str, ...], str]] = {("what", "did", "you", "dream"): DREAM}
NOT_DREAMT: Final[str] = "I have not dreamt yet."


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation: "What did you dream?" -> what, did, you, dream."""
    return [w for w in re.split(r"[^a-z']+", text.lower()) if w]


@dataclass
class Listener:
    """Recognises a question said word by word (see the module docstring).

    A question's words must come one after another, nothing else between them, each at most
    `max_gap_s` after the one before (a person asking does not pause for seconds between
    words); anything else starts the listening over.
    """

    questions: Mapping[tuple[str, ...], str] = field(default_factory=lambda: dict(QUESTIONS))
    max_gap_s: float = 2.0
    _recent: deque[tuple[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        if not self.questions or any(not q for q in self.questions):
            raise ValueError("a listener needs questions of at least one word")
        self._recent = deque(maxlen=max(len(q) for q in self.questions))

    def hear(self, text: str, now: float) -> str | None:
        """Take the words of `text` heard at `now` (s); the question they complete, or None."""
        asked = None
        for word in words_of(text):
            if self._recent and now - self._recent[-1][1] > self.max_gap_s:
                self._recent.clear()
            self._recent.append((word, now))
            heard = tuple(w for w, _ in self._recent)
            for question, name in self.questions.items():
                if heard[-len(question) :] == question:
                    asked = name
                    self._recent.clear()
                    break
        return asked


def dream_answer(found: bool, report: str) -> str:
    """What the agent says when asked about its dream: the night's report, if it dreamt."""
    return report.strip() if found and report.strip() else NOT_DREAMT
