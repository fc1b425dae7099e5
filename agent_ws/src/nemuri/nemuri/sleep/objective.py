"""The waking objective as a loss: predict the next tick of the world, your body included.

One sum, the same whether the brain learns from today, from replay or from a dream
(DESIGN.md, The tick and the brain):

    total = w_embeddings * L_embeddings + w_motor * L_motor + w_word * L_word

- L_embeddings: MSE (or 1 - cosine) between the predicted and the actual next embeddings,
  per modality, only where that modality is present next tick: an absent camera frame is
  no evidence about what the camera would have seen.
- L_motor: MSE on the next tick's *observed* joint velocities, so a motion the caretaker
  guided by hand is what the motor head learns to make.
- L_word: cross-entropy on the next heard word, `silence` down-weighted: nearly every tick
  is silent, and at full weight "always silence" would drown the few words that matter.

Every part is a mean over the ticks it applies to, so the weights compare like with like.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from nemuri.brain.model import BrainOutput
from nemuri.vocabulary import load_vocabulary

PARTS: tuple[str, ...] = ("total", "embeddings", "motor", "word")


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights and forms of the waking objective's parts."""

    embedding_loss: str = "mse"  # "mse" or "cosine"
    w_embeddings: float = 1.0
    w_motor: float = 1.0
    w_word: float = 1.0
    silence_weight: float = 0.1  # weight of a silent target tick against a word's 1.0

    def __post_init__(self) -> None:
        if self.embedding_loss not in ("mse", "cosine"):
            raise ValueError(f"embedding_loss is 'mse' or 'cosine', not {self.embedding_loss!r}")
        if not 0.0 <= self.silence_weight <= 1.0:
            raise ValueError(f"silence_weight must be in 0..1, got {self.silence_weight}")


@dataclass
class Targets:
    """What tick t of a (B, T) batch must predict: tick t + 1 of the same stream."""

    embeddings: Tensor  # (B, T, E) next tick's embeddings, zeros where absent
    present: Tensor  # (B, T, M) 1.0 where that modality is present next tick
    joint_velocity: Tensor  # (B, T, J) next tick's observed joint velocities, rad/s
    velocity_known: Tensor  # (B, T) 1.0 where the next tick has a joint state
    word: Tensor  # (B, T) int64 next tick's heard word
    mask: Tensor  # (B, T) 1.0 on real ticks, 0.0 on padding


class Losses(NamedTuple):
    """The total and its parts, each a scalar tensor (parts unweighted)."""

    total: Tensor
    embeddings: Tensor
    motor: Tensor
    word: Tensor

    def floats(self) -> dict[str, float]:
        return {name: value.item() for name, value in zip(PARTS, self, strict=True)}


def waking_loss(
    out: BrainOutput, targets: Targets, config: ObjectiveConfig, embedding_dims: Sequence[int]
) -> Losses:
    """The waking objective of a batch; a part with nothing to score is 0, not NaN."""
    mask = targets.mask  # (B, T)
    bounds = [0, *itertools.accumulate(embedding_dims)]
    emb_sum, emb_n = out.next_embeddings.new_zeros(()), out.next_embeddings.new_zeros(())
    for m, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        pred, real = out.next_embeddings[..., lo:hi], targets.embeddings[..., lo:hi]  # (B, T, d)
        if config.embedding_loss == "mse":
            err = (pred - real).pow(2).mean(-1)  # (B, T)
        else:
            err = 1.0 - F.cosine_similarity(pred, real, dim=-1, eps=1e-6)  # (B, T)
        w = targets.present[..., m] * mask  # (B, T)
        emb_sum = emb_sum + (err * w).sum()
        emb_n = emb_n + w.sum()
    embeddings = emb_sum / emb_n.clamp(min=1.0)

    w_motor = targets.velocity_known * mask  # (B, T)
    motor_err = (out.motor - targets.joint_velocity).pow(2).mean(-1)  # (B, T)
    motor = (motor_err * w_motor).sum() / w_motor.sum().clamp(min=1.0)

    silence = load_vocabulary().silence_id
    w_word = torch.where(targets.word == silence, config.silence_weight, 1.0) * mask  # (B, T)
    ce = F.cross_entropy(out.word_logits.flatten(0, 1), targets.word.flatten(), reduction="none")
    word = (ce.view_as(w_word) * w_word).sum() / w_word.sum().clamp(min=1e-6)

    total = config.w_embeddings * embeddings + config.w_motor * motor + config.w_word * word
    return Losses(total, embeddings, motor, word)
