"""Brain model: the fused token, causality, relative positions, forward vs torch step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nemuri.brain.model import Brain, BrainConfig, BrainOutput, TickBatch
from nemuri.contracts import CONTEXT_CAPACITY, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.vocabulary import load_vocabulary

torch.set_num_threads(1)

SMALL = BrainConfig(d_model=64, n_layer=2, n_head=4, capacity=32)


def random_batch(config: BrainConfig, B: int, T: int, seed: int) -> TickBatch:
    g = torch.Generator().manual_seed(seed)
    return TickBatch(
        embeddings=torch.randn(B, T, config.embedding_total, generator=g),
        present=(torch.rand(B, T, config.n_modalities, generator=g) > 0.25).float(),
        heard_word=torch.randint(config.vocab_size, (B, T), generator=g),
        prev_motor=torch.randn(B, T, config.n_joints, generator=g),
        prev_spoken=torch.randint(config.vocab_size, (B, T), generator=g),
        drowsiness=torch.rand(B, T, config.n_drowsy, generator=g),
    )


def small_brain(config: BrainConfig = SMALL, seed: int = 0) -> Brain:
    torch.manual_seed(seed)
    return Brain(config).eval()


def max_diff(a: BrainOutput, b: BrainOutput) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def test_default_config_follows_the_contracts():
    config = BrainConfig()
    assert config.embedding_dims == tuple(EMBEDDING_DIMS[m] for m in MODALITIES)
    assert config.embedding_total == 224
    assert config.n_modalities == 4
    assert config.n_joints == len(JOINTS) == 5
    assert config.vocab_size == len(load_vocabulary())
    assert config.capacity == CONTEXT_CAPACITY
    assert config.cache_shape == (4, 4, CONTEXT_CAPACITY, 64)


def test_config_round_trips_through_a_dict_and_refuses_unknown_fields():
    assert BrainConfig.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(ValueError, match="unknown BrainConfig fields"):
        BrainConfig.from_dict({**SMALL.to_dict(), "d_modle": 3})
    with pytest.raises(ValueError, match="divisible"):
        BrainConfig(d_model=66, n_head=4)


def test_forward_gives_every_head_at_every_position():
    brain = small_brain()
    out = brain(random_batch(SMALL, B=3, T=7, seed=1))
    assert out.next_embeddings.shape == (3, 7, 224)
    assert out.motor.shape == (3, 7, 5)
    assert out.word_logits.shape == (3, 7, SMALL.vocab_size)
    assert all(torch.isfinite(h).all() for h in out)


def test_forward_is_causal():
    brain = small_brain()
    batch = random_batch(SMALL, B=1, T=20, seed=2)
    changed = dataclasses.replace(batch, embeddings=batch.embeddings.clone())
    changed.embeddings[0, 10] += 1.0
    with torch.no_grad():
        a, b = brain(batch), brain(changed)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x[:, :10], y[:, :10])
        assert (x[:, 10:] - y[:, 10:]).abs().max() > 1e-3


def test_only_relative_positions_matter():
    """ALiBi: shifting every position by the same amount changes nothing."""
    brain = small_brain()
    batch = random_batch(SMALL, B=2, T=16, seed=3)
    shifted = dataclasses.replace(batch, positions=torch.arange(1000, 1016).expand(2, 16))
    with torch.no_grad():
        assert max_diff(brain(batch), brain(shifted)) <= 1e-5


def test_missing_vector_is_used_where_a_modality_is_absent():
    brain = small_brain()
    batch = random_batch(SMALL, B=1, T=6, seed=4)
    batch.present.fill_(1.0)
    batch.embeddings[..., :128] = 0.0  # vision seen, but all zeros
    absent = dataclasses.replace(batch, present=batch.present.clone())
    absent.present[..., 0] = 0.0
    with torch.no_grad():
        assert max_diff(brain(batch), brain(absent)) > 1e-3
        # An absent modality's slice does not leak in, whatever it holds.
        garbage = dataclasses.replace(absent, embeddings=absent.embeddings.clone())
        garbage.embeddings[..., :128] = float("nan")
        assert max_diff(brain(absent), brain(garbage)) == 0.0

    brain.zero_grad()
    brain(absent).next_embeddings.sum().backward()
    grad = brain.fusion.missing.grad
    assert grad[0].abs().sum() > 0  # vision's missing vector took part
    assert torch.equal(grad[1:], torch.zeros_like(grad[1:]))  # present ones did not


def step_all(brain: Brain, batch: TickBatch) -> BrainOutput:
    """Brain.step over every tick of a B=1 batch, with a ring buffer kept here."""
    config = brain.config
    k_cache, v_cache = torch.zeros(config.cache_shape), torch.zeros(config.cache_shape)
    slot_pos = torch.full((config.capacity,), -1.0)
    outs = []
    with torch.no_grad():
        for t in range(batch.embeddings.shape[1]):
            out, new_k, new_v = brain.step(
                batch.embeddings[:, t],
                batch.present[:, t],
                batch.heard_word[:, t],
                batch.prev_motor[:, t],
                batch.prev_spoken[:, t],
                batch.drowsiness[:, t],
                torch.tensor([float(t)]),
                k_cache,
                v_cache,
                slot_pos,
            )
            assert new_k.shape == (config.n_layer, config.n_head, 1, config.head_dim)
            slot = t % config.capacity
            k_cache[:, :, slot] = new_k[:, :, 0]
            v_cache[:, :, slot] = new_v[:, :, 0]
            slot_pos[slot] = t
            outs.append(out)
    return BrainOutput(*(torch.cat(h)[None] for h in zip(*outs, strict=True)))


@pytest.mark.parametrize("T", [1, 20, SMALL.capacity, SMALL.capacity + 50])
def test_torch_step_agrees_with_forward(T):
    brain = small_brain()
    batch = random_batch(SMALL, B=1, T=T, seed=5)
    with torch.no_grad():
        full = brain(batch)
    assert max_diff(step_all(brain, batch), full) <= 1e-4


def test_the_window_slides_past_capacity():
    """Past capacity the oldest ticks drop out: the result differs from an unbounded window."""
    brain = small_brain()
    unbounded = Brain(dataclasses.replace(SMALL, capacity=10_000)).eval()
    unbounded.load_state_dict(brain.state_dict())
    batch = random_batch(SMALL, B=1, T=SMALL.capacity + 30, seed=6)
    with torch.no_grad():
        windowed, full = brain(batch), unbounded(batch)
    inside = BrainOutput(*(h[:, : SMALL.capacity] for h in windowed))
    assert max_diff(inside, BrainOutput(*(h[:, : SMALL.capacity] for h in full))) <= 1e-5
    past = BrainOutput(*(h[:, SMALL.capacity :] for h in windowed))
    assert max_diff(past, BrainOutput(*(h[:, SMALL.capacity :] for h in full))) > 1e-3
