"""The Agent: brain + drowsiness + day log, stepping once per tick.

One object serves both the ROS core node (which feeds it messages and a wall clock) and
the lock-step harness (which feeds it observations and a virtual clock), so what tests and
benchmarks measure is what runs on the robot. It holds no ROS types and starts no threads;
callers that feed it from several threads go through its lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from nemuri.brain.fusion import fuse_tick
from nemuri.brain.runtime import BrainRuntime, StepOutput, TickInput
from nemuri.contracts import EMBEDDING_DIMS, JOINTS, MODALITIES, STALE_PERIODS, modality_index
from nemuri.drowsiness import DrowsinessConfig, DrowsinessMeter, DrowsinessReading
from nemuri.memory import DayLog, DayLogError, TickRow
from nemuri.vocabulary import SILENCE, UNKNOWN, Vocabulary, load_vocabulary


class Phase(IntEnum):
    """Same values as nemuri_msgs/AgentState's constants."""

    AWAKE = 0
    DROWSY = 1
    ASLEEP = 2


class InvalidObservation(ValueError):
    """An input the agent refuses (wrong size, NaN/inf, unknown modality); nothing is changed."""


@dataclass(frozen=True)
class AgentConfig:
    tick_hz: float = 10.0
    stale_periods: float = STALE_PERIODS
    speech_threshold: float = 0.6  # voice the predicted word above this probability...
    speech_refractory_s: float = 1.0  # ...at most once per this many seconds
    max_motor_velocity: float = 2.0  # rad/s; the actuator's safety gate enforces its own limits
    drowsiness: DrowsinessConfig = field(default_factory=DrowsinessConfig)


@dataclass(frozen=True)
class Embedded:
    """The latest embedding of one modality, as the core received it."""

    data: np.ndarray
    stamp: float  # seconds, on the agent's clock
    encoder_version: str


@dataclass(frozen=True)
class Action:
    """What one tick produced."""

    tick: int
    stamp: float
    motor_velocity: np.ndarray  # (n_joints,) rad/s
    spoken_word: str | None  # None: silent this tick
    present: np.ndarray  # (n_modalities,) which modalities were fresh
    reading: DrowsinessReading
    step_latency_s: float
    missed: bool
    output: StepOutput


class SpeechGate:
    """When the agent voices its predicted next word: confident, not silence, nobody
    speaking, and not again within the refractory time.

    Times are the integer ns a day log row keeps (its stamp), not float seconds, so a
    replay of the day's rows takes every decision the agent took (bags.reproduce).
    """

    def __init__(self, config: AgentConfig, vocab: Vocabulary) -> None:
        self.threshold = config.speech_threshold
        self.refractory_ns = round(config.speech_refractory_s * 1e9)
        self.vocab = vocab
        self.last_voiced_ns: int | None = None

    def decide(self, word_logits: np.ndarray, heard: str, now_ns: int) -> str | None:
        """The word to say at `now_ns` given the speech head's logits, or None."""
        if heard != SILENCE:
            return None
        if self.last_voiced_ns is not None and now_ns - self.last_voiced_ns < self.refractory_ns:
            return None
        logits = word_logits.astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = int(np.argmax(probs))
        word = self.vocab.word(best)
        if word in (SILENCE, UNKNOWN) or probs[best] < self.threshold:
            return None
        self.last_voiced_ns = now_ns
        return word


class Agent:
    """Fuses the latest senses into one token per tick, steps the brain, acts, logs."""

    def __init__(
        self,
        runtime: BrainRuntime,
        *,
        brain_version: str,
        config: AgentConfig | None = None,
        day_log: DayLog | None = None,
        clock: Callable[[], float],
        age_ticks: int = 0,
        nights: int = 0,
    ) -> None:
        self.config = config or AgentConfig()
        self.runtime = runtime
        self.brain_version = brain_version
        self.day_log = day_log
        self.clock = clock
        self.age_ticks = age_ticks
        self.nights = nights
        self.vocab: Vocabulary = load_vocabulary()
        self.meter = DrowsinessMeter(self.config.drowsiness)
        self.period_s = 1.0 / self.config.tick_hz
        self.lock = threading.Lock()
        self.asleep = False
        self.tick_count = 0  # the day's tick counter (stepped and missed ticks alike)
        self.missed_ticks = 0
        self.last_spoken = ""
        self.day_log_errors = 0
        self.last_day_log_error = ""
        self._latest: list[Embedded | None] = [None] * len(MODALITIES)
        self._heard = SILENCE
        self._joints = (np.zeros(len(JOINTS), np.float32), np.zeros(len(JOINTS), np.float32))
        self._prev_motor = np.zeros(len(JOINTS), np.float32)
        self._prev_spoken = self.vocab.silence_id
        self.speech = SpeechGate(self.config, self.vocab)

    # -- inputs -------------------------------------------------------------------------
    def observe(self, modality: str, data: np.ndarray, stamp: float, encoder_version: str) -> None:
        """Keep the latest embedding of a modality; refuse a bad one and keep the old."""
        index = _checked_modality(modality)
        arr = np.asarray(data, dtype=np.float32).reshape(-1)
        want = EMBEDDING_DIMS[modality]
        if arr.shape[0] != want:
            raise InvalidObservation(
                f"{modality} embedding has {arr.shape[0]} values, expected {want}"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidObservation(f"{modality} embedding contains NaN or inf")
        if not math.isfinite(stamp):
            raise InvalidObservation(f"{modality} embedding has a non-finite stamp")
        with self.lock:
            self._latest[index] = Embedded(arr.copy(), stamp, encoder_version)

    def hear(self, word: str) -> None:
        """A word heard now; the next tick consumes it (one word a tick, the latest wins)."""
        with self.lock:
            self._heard = word.strip().lower() or SILENCE

    def sense_joints(self, position: Sequence[float], velocity: Sequence[float]) -> None:
        """Observed joint state in contracts.JOINTS order (the motor head's target)."""
        pos = np.asarray(position, dtype=np.float32).reshape(-1)
        vel = np.asarray(velocity, dtype=np.float32).reshape(-1)
        if pos.shape[0] != len(JOINTS) or vel.shape[0] != len(JOINTS):
            raise InvalidObservation(f"joint state needs {len(JOINTS)} positions and velocities")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
            raise InvalidObservation("joint state contains NaN or inf")
        with self.lock:
            self._joints = (pos, vel)

    def add_thumbnail(self, stamp: float, rgb: np.ndarray) -> None:
        """Keep a small camera picture in the day log (the core: 32x32, once a second).

        Dreams are drawn from these (sleep.report). Asleep, or with no day log, there is
        no day to keep it in and it is dropped; a picture the day log refuses or a failing
        disk is counted like a failed row, never a reason to stop. Call it from the thread
        that ticks (the core's worker): the lock keeps it off a day log being closed or
        swapped by fall_asleep and wake, and the day log has one writer.
        """
        with self.lock:
            log = self.day_log
            if log is None or log.closed or self.asleep:
                return
            try:
                log.add_thumbnail(round(stamp * 1e9), rgb)
            except DayLogError as err:
                self.day_log_errors += 1
                self.last_day_log_error = str(err)

    # -- the tick -----------------------------------------------------------------------
    def record_missed(self, n: int = 1) -> None:
        """Ticks that passed while a step was still running: counted, never queued."""
        with self.lock:
            self.tick_count += n
            self.missed_ticks += n
            self.meter.record_missed(n)

    def tick(self, now: float | None = None) -> Action:
        """One tick: fuse what is fresh at `now`, step the brain, decide, log.

        Ticks come from one thread at a time. The lock covers only the inputs' snapshot
        and the bookkeeping, never the brain step, so senses arriving from other threads
        never wait for a step.
        """
        started = self.clock()
        now = started if now is None else now
        with self.lock:
            x, present, heard = self._fuse(now)
            tick = self.tick_count
            latest = list(self._latest)
            joints = self._joints
        out = self.runtime.step(x)
        motor = np.clip(out.motor, -self.config.max_motor_velocity, self.config.max_motor_velocity)
        with self.lock:
            spoken = self.speech.decide(out.word_logits, heard, round(now * 1e9))
        latency = self.clock() - started
        missed = latency > self.period_s
        reading = self.meter.update(self.runtime.context_length, latency, missed)
        action = Action(
            tick=tick,
            stamp=now,
            motor_velocity=motor.astype(np.float32),
            spoken_word=spoken,
            present=present,
            reading=reading,
            step_latency_s=latency,
            missed=missed,
            output=out,
        )
        self._log(self._row(action, x, heard, latest, joints))
        with self.lock:
            self._prev_motor = action.motor_velocity
            self._prev_spoken = self.vocab.id(spoken) if spoken else self.vocab.silence_id
            if spoken:
                self.last_spoken = spoken
            self.tick_count = max(self.tick_count, tick + 1)
            self.age_ticks += 1
        return action

    def _log(self, row: TickRow) -> None:
        """Append to the day log; a failing disk is reported, never a reason to stop acting."""
        if self.day_log is None:
            return
        try:
            self.day_log.append(row)
        except DayLogError as err:
            self.day_log_errors += 1
            self.last_day_log_error = str(err)

    def _fuse(self, now: float) -> tuple[TickInput, np.ndarray, str]:
        """The token's ingredients (brain.fusion, shared with sleep); stale is missing."""
        limit = self.config.stale_periods * self.period_s
        fresh = [e.data if e is not None and now - e.stamp <= limit else None for e in self._latest]
        heard, self._heard = self._heard, SILENCE
        x = fuse_tick(
            fresh,
            self.vocab.id(heard),
            self._prev_motor,
            self._prev_spoken,
            self.meter.reading.features(),
        )
        return x, x.present, heard

    def _row(
        self,
        action: Action,
        x: TickInput,
        heard: str,
        latest: list[Embedded | None],
        joints: tuple[np.ndarray, np.ndarray],
    ) -> TickRow:
        embeddings = [
            (e.data if (e is not None and action.present[i]) else None)
            for i, e in enumerate(latest)
        ]
        return TickRow(
            tick=action.tick,
            stamp_ns=round(action.stamp * 1e9),
            embeddings=embeddings,
            encoder_versions=[e.encoder_version if e else "" for e in latest],
            embedding_stamps_ns=[round(e.stamp * 1e9) if e else 0 for e in latest],
            present=[bool(p) for p in action.present],
            heard_word=heard,
            joint_names=list(JOINTS),
            joint_position=joints[0],
            joint_velocity=joints[1],
            motor_velocity=action.motor_velocity,
            spoken_word=action.spoken_word or SILENCE,
            drowsiness=x.drowsiness,
            step_latency_ms=action.step_latency_s * 1e3,
            missed=action.missed,
            brain_version=self.brain_version,
        )

    # -- phases -------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        if self.asleep:
            return Phase.ASLEEP
        return Phase.DROWSY if self.meter.drowsy else Phase.AWAKE

    @property
    def wants_sleep(self) -> bool:
        return not self.asleep and self.meter.wants_sleep

    def fall_asleep(self) -> None:
        """Stop acting and speaking; the day log is closed so the sleep can read it."""
        with self.lock:
            self.asleep = True
            if self.day_log is not None:
                self.day_log.close()

    def wake(
        self,
        runtime: BrainRuntime,
        brain_version: str,
        day_log: DayLog | None,
        *,
        age_ticks: int,
        nights: int,
    ) -> None:
        """Wake with a (possibly new) brain, an empty context and a new day.

        The age is the woken brain's own (its manifest's ticks seen and nights), not the
        count kept while awake: a promoted night's brain has consolidated the day, a
        rejected one's has not, and the age says which brain is now acting.
        """
        with self.lock:
            self.runtime = runtime
            self.runtime.reset()
            self.brain_version = brain_version
            self.day_log = day_log
            self.age_ticks = age_ticks
            self.nights = nights
            self.meter.reset()
            self.tick_count = 0
            self.missed_ticks = 0
            self._prev_motor = np.zeros(len(JOINTS), np.float32)
            self._prev_spoken = self.vocab.silence_id
            self.asleep = False

    def close(self) -> None:
        """End of life for this process: the day log gets its metadata."""
        with self.lock:
            if self.day_log is not None:
                self.day_log.close()


def _checked_modality(name: str) -> int:
    try:
        return modality_index(name)
    except ValueError as err:
        raise InvalidObservation(str(err)) from None
