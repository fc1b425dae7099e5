"""The Agent in the lock-step harness: fusion, staleness, refusal, speech, drowsiness, day log."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nemuri.agent import Agent, AgentConfig, InvalidObservation, Phase
from nemuri.brain.model import Brain, BrainConfig
from nemuri.brain.runtime import TorchRuntime
from nemuri.contracts import EMBEDDING_DIMS, MODALITIES
from nemuri.drowsiness import DrowsinessConfig
from nemuri.harness import Observation, ObservationList, TimedRuntime, VirtualClock, lockstep
from nemuri.memory import DayLog, read_day

torch.set_num_threads(1)
SMALL = BrainConfig(d_model=32, n_layer=2, n_head=2, capacity=64)


def small_brain(seed: int = 0) -> Brain:
    torch.manual_seed(seed)
    return Brain(SMALL).eval()


def observations(n: int, seed: int = 1, drop: str | None = None) -> list[Observation]:
    rng = np.random.default_rng(seed)
    words = ["silence", "ball", "silence", "cube", "sheep"]
    out = []
    for t in range(n):
        emb = {
            m: rng.standard_normal(EMBEDDING_DIMS[m]).astype(np.float32)
            for m in MODALITIES
            if m != drop
        }
        out.append(
            Observation(
                embeddings=emb,
                heard_word=words[t % len(words)],
                joint_position=rng.standard_normal(5).tolist(),
                joint_velocity=rng.standard_normal(5).tolist(),
            )
        )
    return out


def make_agent(clock: VirtualClock, runtime=None, config: AgentConfig | None = None, day_log=None):
    return Agent(
        runtime or TorchRuntime(small_brain()),
        brain_version="v-test",
        config=config or AgentConfig(drowsiness=DrowsinessConfig(capacity=SMALL.capacity)),
        day_log=day_log,
        clock=clock,
    )


def run(agent: Agent, obs: list[Observation], clock: VirtualClock, n: int) -> list:
    return list(lockstep(agent, ObservationList(obs), n, clock))


def test_same_inputs_give_same_outputs() -> None:
    obs = observations(30)
    a = run(make_agent(c1 := VirtualClock()), obs, c1, 30)
    b = run(make_agent(c2 := VirtualClock()), obs, c2, 30)
    assert len(a) == len(b) == 30
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.motor_velocity, y.motor_velocity)
        assert np.array_equal(x.output.word_logits, y.output.word_logits)
        assert x.spoken_word == y.spoken_word
    # and the inputs matter: other observations give other outputs
    c = run(make_agent(c3 := VirtualClock()), observations(30, seed=9), c3, 30)
    assert not np.allclose(a[-1].output.next_embeddings, c[-1].output.next_embeddings)


def test_stale_modality_is_masked() -> None:
    clock = VirtualClock()
    agent = make_agent(clock)
    for m in MODALITIES:
        agent.observe(m, np.ones(EMBEDDING_DIMS[m], np.float32), 0.0, "enc-1")
    assert agent.tick(0.1).present.tolist() == [1, 1, 1, 1]
    # 1.5 tick periods (0.15 s) is the limit; fresh vision only at 0.3 s
    agent.observe("vision", np.ones(128, np.float32), 0.3, "enc-1")
    assert agent.tick(0.3).present.tolist() == [1, 0, 0, 0]


def test_missing_modality_every_tick() -> None:
    clock = VirtualClock()
    actions = run(make_agent(clock), observations(5, drop="audio"), clock, 5)
    assert all(a.present.tolist() == [1, 0, 1, 1] for a in actions)


@pytest.mark.parametrize(
    ("modality", "data", "message"),
    [
        ("vision", np.ones(127, np.float32), "expected 128"),
        ("audio", np.full(64, np.nan, np.float32), "NaN"),
        ("touch", np.full(16, np.inf, np.float32), "NaN or inf"),
        ("smell", np.ones(16, np.float32), "unknown modality"),
    ],
)
def test_bad_embedding_is_refused_and_the_old_one_kept(modality, data, message) -> None:
    clock = VirtualClock()
    agent = make_agent(clock)
    good = np.arange(128, dtype=np.float32)
    agent.observe("vision", good, 0.0, "enc-1")
    with pytest.raises(InvalidObservation, match=message):
        agent.observe(modality, data, 0.0, "enc-1")
    action = agent.tick(0.05)
    assert action.present[0] == 1.0
    assert np.all(np.isfinite(action.motor_velocity))


def test_context_fill_makes_it_sleepy() -> None:
    clock = VirtualClock()
    agent = make_agent(clock)
    source = ObservationList(observations(10))
    first = list(lockstep(agent, source, int(SMALL.capacity * 0.85), clock))
    assert first[0].reading.context_fill == pytest.approx(1 / SMALL.capacity)
    assert agent.phase is Phase.DROWSY and not agent.wants_sleep
    later = list(lockstep(agent, source, SMALL.capacity, clock))
    assert later[-1].reading.context_fill == 1.0  # sliding window: full, never overflowing
    assert agent.runtime.context_length == SMALL.capacity
    assert agent.wants_sleep
    agent.fall_asleep()
    assert agent.phase is Phase.ASLEEP and not agent.wants_sleep


def test_slow_step_raises_sleepiness_and_misses_ticks() -> None:
    clock = VirtualClock()
    brain = TorchRuntime(small_brain())
    slow = TimedRuntime(brain, clock, step_cost_s=0.25)  # 2.5 tick periods per step
    agent = make_agent(clock, runtime=slow)
    actions = run(agent, observations(10), clock, 60)
    assert agent.missed_ticks > 0
    assert agent.tick_count == 60  # stepped + missed ticks cover the whole span
    assert len(actions) < 60
    assert actions[-1].missed and actions[-1].reading.latency_ratio == pytest.approx(2.5)
    assert actions[-1].reading.sleepiness > actions[0].reading.sleepiness
    assert agent.meter.wants_sleep


def test_fast_step_never_misses() -> None:
    clock = VirtualClock()
    agent = make_agent(clock, runtime=TimedRuntime(TorchRuntime(small_brain()), clock, 0.01))
    actions = run(agent, observations(10), clock, 40)
    assert len(actions) == 40 and agent.missed_ticks == 0
    assert actions[-1].reading.latency_ratio == pytest.approx(0.1)


def test_speech_needs_confidence_and_silence() -> None:
    clock = VirtualClock()
    brain = small_brain()
    with torch.no_grad():  # make the speech head certain of one word
        brain.head_word.weight.zero_()
        brain.head_word.bias.zero_()
        brain.head_word.bias[agent_word_id := 5] = 50.0
    agent = make_agent(clock, runtime=TorchRuntime(brain))
    word = agent.vocab.word(agent_word_id)
    said = [a.spoken_word for a in run(agent, [Observation(heard_word=None)], clock, 25)]
    # once per refractory second (10 ticks), never twice in a row
    assert said.count(word) == 3 and said[0] == word and said[1] is None
    agent.hear("ball")  # somebody speaks: the agent stays quiet this tick
    assert agent.tick(clock.now + 5).spoken_word is None


def test_every_tick_goes_to_the_day_log(tmp_path) -> None:
    clock = VirtualClock()
    log = DayLog.create(tmp_path / "days")
    agent = make_agent(clock, day_log=log)
    actions = run(agent, observations(12, drop="touch"), clock, 12)
    agent.close()
    rows = list(read_day(log.path))
    assert [r.tick for r in rows] == [a.tick for a in actions]
    assert rows[3].embeddings[2] is None and rows[3].present == (True, True, False, True)
    assert rows[1].heard_word == "ball"
    np.testing.assert_array_equal(rows[5].motor_velocity, actions[5].motor_velocity)
    assert rows[0].brain_version == "v-test"
    assert len(rows[0].drowsiness) == 4


def test_a_failing_day_log_is_reported_and_the_agent_keeps_acting(tmp_path) -> None:
    clock = VirtualClock()
    log = DayLog.create(tmp_path / "days")
    agent = make_agent(clock, day_log=log)
    agent.tick(0.0)
    log.close()  # appending now fails, as a full or vanished disk would
    actions = run(agent, observations(3), clock, 3)
    assert len(actions) == 3 and agent.day_log_errors == 3
    assert "closed" in agent.last_day_log_error


def test_one_early_miss_is_not_sleepiness() -> None:
    from nemuri.drowsiness import DrowsinessMeter

    meter = DrowsinessMeter()
    meter.record_missed(1)
    reading = meter.update(context_length=5, step_latency_s=0.001, missed=False)
    assert reading.missed_rate == pytest.approx(1 / 600)
    assert reading.sleepiness < 0.1
