"""Brain runtimes: onnxruntime step, torch step and full forward agree; reset empties.

Each agreement test steps both runtimes through the same ticks and compares all three
heads at every tick with one Brain.forward over the whole stream (max abs diff <= 1e-4).
A small brain (capacity 64) covers empty, partial, full and sliding contexts quickly; one
slow test does the same at the default size through 4096 ticks and past them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from nemuri.brain.export import export_step
from nemuri.brain.model import Brain, BrainConfig, BrainOutput
from nemuri.brain.runtime import (
    BrainRuntime,
    OnnxRuntime,
    StepOutput,
    TickInput,
    TorchRuntime,
    stack_inputs,
)
from nemuri.vocabulary import load_vocabulary

torch.set_num_threads(1)

TOLERANCE = 1e-4
SMALL = BrainConfig(d_model=64, n_layer=4, n_head=4, capacity=64)
HEADS = ("next_embeddings", "motor", "word_logits")


def random_ticks(config: BrainConfig, n: int, seed: int) -> list[TickInput]:
    """Ticks with every ingredient random, some modalities missing, embeddings zeroed there."""
    rng = np.random.default_rng(seed)
    ticks = []
    for _ in range(n):
        present = (rng.random(config.n_modalities) > 0.2).astype(np.float32)
        embeddings = rng.standard_normal(config.embedding_total).astype(np.float32)
        bounds = np.cumsum([0, *config.embedding_dims])
        for m in np.flatnonzero(present == 0):
            embeddings[bounds[m] : bounds[m + 1]] = 0.0
        ticks.append(
            TickInput(
                embeddings=embeddings,
                present=present,
                heard_word=int(rng.integers(config.vocab_size)),
                prev_motor=rng.standard_normal(config.n_joints).astype(np.float32),
                prev_spoken=int(rng.integers(config.vocab_size)),
                drowsiness=rng.random(config.n_drowsy).astype(np.float32),
            )
        )
    return ticks


def make_brain(config: BrainConfig, seed: int = 0) -> Brain:
    torch.manual_seed(seed)
    return Brain(config).eval()


def forward_heads(brain: Brain, ticks: list[TickInput]) -> BrainOutput:
    """Brain.forward over the whole stream, as (T, ...) numpy arrays."""
    with torch.no_grad():
        out = brain(stack_inputs(ticks))
    return BrainOutput(*(h[0].numpy() for h in out))


def worst(outs: list[StepOutput], full: BrainOutput, start: int = 0) -> float:
    """Largest abs difference over all heads between stepped outputs and the forward's."""
    end = start + len(outs)
    return max(
        float(np.abs(np.stack([getattr(o, h) for o in outs]) - getattr(full, h)[start:end]).max())
        for h in HEADS
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Brain, Path]:
    brain = make_brain(SMALL)
    return brain, export_step(brain, tmp_path_factory.mktemp("small") / "step.onnx")


def test_both_runtimes_satisfy_the_protocol(small):
    brain, onnx_path = small
    for rt in (OnnxRuntime(onnx_path, SMALL), TorchRuntime(brain)):
        assert isinstance(rt, BrainRuntime)
        assert rt.capacity == SMALL.capacity
        assert rt.context_length == 0


@pytest.mark.parametrize("n", [1, 40, SMALL.capacity, SMALL.capacity + 50])
def test_onnx_step_torch_step_and_forward_agree(small, n):
    brain, onnx_path = small
    ticks = random_ticks(SMALL, n, seed=n)
    onnx_rt, torch_rt = OnnxRuntime(onnx_path, SMALL), TorchRuntime(brain)
    onnx_out = [onnx_rt.step(x) for x in ticks]
    torch_out = [torch_rt.step(x) for x in ticks]
    full = forward_heads(brain, ticks)
    assert worst(onnx_out, full) <= TOLERANCE
    assert worst(torch_out, full) <= TOLERANCE
    assert onnx_rt.context_length == torch_rt.context_length == min(n, SMALL.capacity)
    assert onnx_out[-1].word_logits.shape == (SMALL.vocab_size,)


def test_step_outputs_are_the_callers_to_keep(small):
    _, onnx_path = small
    rt = OnnxRuntime(onnx_path, SMALL)
    a, b = random_ticks(SMALL, 2, seed=7)
    first = rt.step(a)
    kept = first.word_logits.copy()
    rt.step(b)
    assert np.array_equal(first.word_logits, kept)


def test_a_missing_modality_is_not_a_zero_embedding(small):
    brain, onnx_path = small
    (tick,) = random_ticks(SMALL, 1, seed=8)
    embeddings = tick.embeddings.copy()
    embeddings[:128] = 0.0  # vision present, all zeros
    seen = dataclasses.replace(tick, embeddings=embeddings, present=np.ones(4, np.float32))
    absent = dataclasses.replace(seen, present=np.array([0, 1, 1, 1], np.float32))
    for make in (lambda: OnnxRuntime(onnx_path, SMALL), lambda: TorchRuntime(brain)):
        a, b = make().step(seen), make().step(absent)
        assert np.abs(a.next_embeddings - b.next_embeddings).max() > 1e-3


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_reset_empties_the_context(small, kind):
    brain, onnx_path = small

    def make() -> OnnxRuntime | TorchRuntime:
        return OnnxRuntime(onnx_path, SMALL) if kind == "onnx" else TorchRuntime(brain)

    ticks = random_ticks(SMALL, 30, seed=9)
    rt = make()
    first_run = [rt.step(x) for x in ticks]
    assert rt.context_length == 30
    # With context, the last tick's heads differ from that tick stepped alone.
    alone = make().step(ticks[-1])
    assert np.abs(first_run[-1].word_logits - alone.word_logits).max() > 1e-3

    rt.reset()
    assert rt.context_length == 0
    after = rt.step(ticks[-1])
    assert np.allclose(after.word_logits, alone.word_logits, atol=1e-6, rtol=0)
    rt.reset()
    second_run = [rt.step(x) for x in ticks]
    for a, b in zip(first_run, second_run, strict=True):
        assert np.allclose(a.word_logits, b.word_logits, atol=1e-6, rtol=0)


def test_positions_are_rebased_long_before_float32_runs_out(small):
    _, onnx_path = small
    ticks = random_ticks(SMALL, 200, seed=12)
    plain = OnnxRuntime(onnx_path, SMALL)
    rebased = OnnxRuntime(onnx_path, SMALL)
    rebased.cache.REBASE_AT = 100  # instead of 2^23, so the test can get there
    for x in ticks:
        a, b = plain.step(x), rebased.step(x)
        assert np.allclose(a.word_logits, b.word_logits, atol=1e-6, rtol=0)
    assert plain.cache.pos == 200
    assert rebased.cache.pos < 100
    assert rebased.context_length == SMALL.capacity


def test_onnx_runtime_refuses_a_graph_from_another_config(small):
    _, onnx_path = small
    with pytest.raises(ValueError, match="does not match the config"):
        OnnxRuntime(onnx_path, dataclasses.replace(SMALL, capacity=128))


def test_stack_inputs_builds_the_training_layout():
    ticks = random_ticks(SMALL, 5, seed=10)
    batch = stack_inputs(ticks, start=100)
    assert batch.embeddings.shape == (1, 5, 224)
    assert batch.embeddings.dtype == torch.float32
    assert batch.present.shape == (1, 5, 4)
    assert batch.heard_word.shape == batch.prev_spoken.shape == (1, 5)
    assert batch.heard_word.dtype == torch.long
    assert batch.prev_motor.shape == (1, 5, 5)
    assert batch.drowsiness.shape == (1, 5, 4)
    assert batch.positions.tolist() == [[100, 101, 102, 103, 104]]
    assert np.array_equal(batch.embeddings[0, 3].numpy(), ticks[3].embeddings)


@pytest.mark.slow
def test_default_brain_agrees_through_full_context_and_past_it(tmp_path):
    """The default brain: 4096 ticks and 50 past them, onnx every tick, against forward.

    Stepping torch through 4146 ticks would take half a minute, so the torch runtime takes
    over the onnx runtime's ring cache near the end (the cache those 4000-odd ticks built,
    checked tick by tick against forward) and both step the last ticks side by side.
    """
    config = BrainConfig()
    assert config.vocab_size == len(load_vocabulary())
    brain = make_brain(config, seed=1)
    onnx_rt = OnnxRuntime(export_step(brain, tmp_path / "step.onnx"), config)
    n = config.capacity + 50
    ticks = random_ticks(config, n, seed=11)
    handover = config.capacity - 6

    onnx_out = [onnx_rt.step(x) for x in ticks[:handover]]
    torch_rt = TorchRuntime(brain)
    torch_rt.cache.k[:] = onnx_rt.cache.k
    torch_rt.cache.v[:] = onnx_rt.cache.v
    torch_rt.cache.slot_pos[:] = onnx_rt.cache.slot_pos
    torch_rt.cache.pos = onnx_rt.cache.pos
    torch_out = []
    for x in ticks[handover:]:
        onnx_out.append(onnx_rt.step(x))
        torch_out.append(torch_rt.step(x))
    assert onnx_rt.context_length == torch_rt.context_length == config.capacity

    full = forward_heads(brain, ticks)
    for t in (0, 99, config.capacity - 1, n - 1):  # context 1, 100, 4096, 4096 + 50
        assert worst(onnx_out[t : t + 1], full, start=t) <= TOLERANCE
    assert worst(onnx_out, full) <= TOLERANCE
    assert worst(torch_out, full, start=handover) <= TOLERANCE
