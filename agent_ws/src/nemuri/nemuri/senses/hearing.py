"""Hearing words: utterances cut from the microphone stream, decoded into vocabulary words.

Offline, with pocketsphinx (its PyPI wheel ships a US English acoustic model and CMUdict):

- `UtteranceSegmenter` finds where speech starts and ends in a 16 kHz mono int16 stream
  fed block by block (pocketsphinx's Endpointer, a WebRTC-style voice activity detector),
  and hands back each whole utterance with the sample where it began;
- `WordDecoder` turns one utterance into a word with a JSGF grammar over nemuri's whole
  vocabulary (nemuri/vocabulary.txt), so whatever is heard is said in a word the brain
  knows. One word per utterance, as the caretaker speaks when it teaches: a grammar of
  several words in a row over ~300 words made pocketsphinx ~100x slower per utterance
  (seconds per word on a small CPU) and worse at single words; words said with pauses
  between them are utterances of their own.

The grammar leaves out `silence` and `unknown`, which are the brain's tokens for no word
and an unknown word, not words anyone says. A vocabulary word missing from CMUdict needs
a pronunciation in `PRONUNCIATIONS`: a word the decoder cannot say is refused at start,
never skipped in silence.

A low white-noise floor (`noise_floor_dbfs`, -60 dBFS as the simulated microphone has) is
mixed into each utterance before decoding: stretches of digital silence (synthetic speech,
a muted or gated input) give the decoder's log-energy features values no microphone ever
produces, and cost espeak-ng's words more than half their accuracy here; a real
microphone's own noise is far above this floor, so it changes nothing there.
No ROS here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np

from nemuri.senses.voice import SAMPLE_RATE
from nemuri.vocabulary import SILENCE, UNKNOWN, load_vocabulary

# Vocabulary words CMUdict does not have, in its phone set (ARPAbet without stress).
PRONUNCIATIONS: Final[dict[str, str]] = {"nemuri": "N EH M UH R IY"}
GRAMMAR_NAME: Final[str] = "nemuri"


class HearingError(RuntimeError):
    """The recogniser cannot be set up as asked (a word without pronunciation, bad config)."""


@dataclass(frozen=True)
class HearingConfig:
    """How utterances are cut and decoded (defaults: isolated words, a quiet room)."""

    vad_mode: int = 1  # 0 (loose) .. 3 (strict): how sure the detector must be of speech
    vad_window_s: float = 0.3  # the detector decides over this much audio
    vad_ratio: float = 0.9  # share of the window that must agree to switch speech on or off
    pad_s: float = 0.2  # noise floor added before and after an utterance for the decoder
    max_utterance_s: float = 5.0  # longer speech is cut and decoded in pieces
    noise_floor_dbfs: float = -60.0  # white noise mixed in before decoding (module doc)
    seed: int = 0  # of that noise, so the same audio always gives the same words


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech: its samples and where it began on the stream's sample count."""

    start_sample: int
    samples: np.ndarray  # int16


def grammar_words(words: Iterable[str]) -> list[str]:
    """The vocabulary words the grammar offers: every word but the brain's two tokens."""
    return [w for w in words if w not in (SILENCE, UNKNOWN)]


def jsgf(words: list[str]) -> str:
    """A JSGF grammar: any one of `words`."""
    if not words:
        raise HearingError("a grammar needs at least one word")
    return f"#JSGF V1.0;\ngrammar {GRAMMAR_NAME};\npublic <word> = {' | '.join(words)};\n"


class UtteranceSegmenter:
    """Cuts a stream fed in blocks of any size into utterances (see module doc)."""

    def __init__(self, config: HearingConfig | None = None) -> None:
        from pocketsphinx import Endpointer

        self.config = config or HearingConfig()
        self._endpointer = Endpointer(
            window=self.config.vad_window_s,
            ratio=self.config.vad_ratio,
            vad_mode=self.config.vad_mode,
            sample_rate=SAMPLE_RATE,
        )
        self._frame = self._endpointer.frame_bytes // 2  # samples per detector frame
        self._pending = np.zeros(0, dtype=np.int16)  # fed, not yet a whole frame
        self._fed = 0  # samples handed to the detector so far
        self._speech: list[np.ndarray] = []
        self._start = 0
        self._max = round(self.config.max_utterance_s * SAMPLE_RATE)

    @property
    def in_speech(self) -> bool:
        return bool(self._endpointer.in_speech)

    def feed(self, samples: np.ndarray) -> list[Utterance]:
        """Hear more of the stream; returns the utterances that ended in it."""
        done: list[Utterance] = []
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.int16)])
        whole = len(data) - len(data) % self._frame
        self._pending = data[whole:]
        for i in range(0, whole, self._frame):
            was_speaking = self._endpointer.in_speech
            speech = self._endpointer.process(data[i : i + self._frame].tobytes())
            self._fed += self._frame
            if speech is None:
                continue
            if not was_speaking:
                self._speech = []
                self._start = round(self._endpointer.speech_start * SAMPLE_RATE)
            self._speech.append(np.frombuffer(speech, dtype=np.int16))
            heard = sum(len(s) for s in self._speech)
            if not self._endpointer.in_speech or heard >= self._max:
                done.append(Utterance(self._start, np.concatenate(self._speech)))
                self._start += heard
                self._speech = []
        return done


class WordDecoder:
    """pocketsphinx with a JSGF grammar over the vocabulary: an utterance -> its words."""

    def __init__(self, config: HearingConfig | None = None, words: list[str] | None = None) -> None:
        from pocketsphinx import Decoder

        self.config = config or HearingConfig()
        self.words = grammar_words(load_vocabulary().words if words is None else words)
        self._decoder = Decoder(lm=None, loglevel="FATAL")
        missing = [w for w in self.words if not self._decoder.lookup_word(w)]
        for word in missing:
            if word not in PRONUNCIATIONS:
                raise HearingError(
                    f"no pronunciation for the vocabulary word {word!r}: add it to "
                    "nemuri.senses.hearing.PRONUNCIATIONS (ARPAbet phones)"
                )
            self._decoder.add_word(word, PRONUNCIATIONS[word], update=False)
        self._decoder.add_jsgf_string(GRAMMAR_NAME, jsgf(self.words))
        self._decoder.activate_search(GRAMMAR_NAME)
        self._noise_rms = 32768.0 * 10 ** (self.config.noise_floor_dbfs / 20)
        self._pad = np.zeros(round(self.config.pad_s * SAMPLE_RATE))

    def decode(self, samples: np.ndarray) -> list[str]:
        """The word of one utterance (16 kHz mono int16) as a list; [] when none fits."""
        audio = np.concatenate([self._pad, np.asarray(samples, dtype=np.float64), self._pad])
        if self._noise_rms > 0:
            rng = np.random.default_rng(self.config.seed)
            audio += rng.standard_normal(len(audio)) * self._noise_rms
        pcm = np.clip(np.rint(audio), -32768, 32767).astype(np.int16)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        if hypothesis is None:
            return []
        # An alternative pronunciation shows as word(2); the word is the same.
        return [w.split("(")[0] for w in hypothesis.hypstr.split() if w.split("(")[0] in self.words]
