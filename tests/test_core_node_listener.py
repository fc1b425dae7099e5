"""The core's ear for questions (nemuri.listener): what did you dream, heard word by word."""

from __future__ import annotations

import pytest

from nemuri.listener import DREAM, NOT_DREAMT, Listener, dream_answer, words_of
from nemuri.worlds.caretaker import WHAT_DID_YOU_DREAM


def hear_all(listener: Listener, words: list[str], start: float = 0.0, step: float = 0.4):
    """Each word `step` s after the last; what each one completed."""
    return [listener.hear(w, start + i * step) for i, w in enumerate(words)]


def test_the_caretakers_question_word_by_word_is_heard_at_its_last_word():
    listener = Listener()
    words = words_of(WHAT_DID_YOU_DREAM)
    assert words == ["what", "did", "you", "dream"]
    assert hear_all(listener, words) == [None, None, None, DREAM]
    assert hear_all(listener, words, start=10.0) == [None, None, None, DREAM], "and again"


def test_lesson_words_around_it_do_not_matter_but_between_its_words_they_do():
    listener = Listener()
    assert hear_all(listener, ["ball", "cube", "what", "did", "you", "dream"])[-1] == DREAM
    assert hear_all(listener, ["what", "did", "ball", "you", "dream"], start=5.0) == [None] * 5
    assert hear_all(listener, ["dream", "what", "did", "you"], start=9.0) == [None] * 4


def test_words_too_far_apart_are_not_one_question():
    listener = Listener(max_gap_s=2.0)
    assert hear_all(listener, ["what", "did", "you", "dream"], step=2.5) == [None] * 4
    assert hear_all(listener, ["what", "did", "you", "dream"], start=20.0, step=1.9)[-1] == DREAM


def test_a_whole_sentence_at_once_and_its_punctuation_are_heard_too():
    listener = Listener()
    assert listener.hear("What did you dream?", 0.0) == DREAM
    assert listener.hear("what is this?", 1.0) is None


def test_a_listener_without_questions_is_refused():
    with pytest.raises(ValueError, match="questions"):
        Listener(questions={})


def test_the_answer_is_the_report_or_that_it_has_not_dreamt_yet():
    assert dream_answer(True, "I dreamt of ball. ") == "I dreamt of ball."
    assert dream_answer(False, "") == NOT_DREAMT
    assert dream_answer(True, "  ") == NOT_DREAMT  # a version without a told dream
    assert "not dreamt" in NOT_DREAMT
