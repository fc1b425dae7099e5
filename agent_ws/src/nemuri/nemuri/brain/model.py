"""The brain: a small causal transformer over one fused token per tick, nanoGPT-style.

Read top to bottom: the config, the batch layout, the ALiBi bias, then the modules in the
order they compose (token fusion, attention, MLP, block, model). `Brain.forward` runs a
whole (B, T) sequence at once, as sleep trains it; `Brain.step` advances one tick against a
caller-owned ring-buffer KV cache, as the waking agent runs it. The two sit side by side
because they must agree: the tests hold them to 1e-4.

Positions are relative (ALiBi), never learned, so a window that slides past `capacity`
is well defined: a query at position p sees keys at p - capacity + 1 .. p, each biased by
-slope_h * distance. The step keeps the K/V that every token got when it was stepped,
so stepping a long stream equals one full forward over the whole stream with that banded
mask (not a fresh forward over only the last `capacity` ticks, whose deeper layers would
never have seen the ticks before the window).

Symbols in shape comments: B batch, T ticks, C d_model, nh heads, hd head_dim,
E sum of embedding dims (224), M modalities (4), J joints (5), V vocabulary, D drowsiness
features (4), L layers, N capacity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nemuri.contracts import (
    CONTEXT_CAPACITY,
    DROWSINESS_FEATURES,
    EMBEDDING_DIMS,
    JOINTS,
    MODALITIES,
)
from nemuri.vocabulary import load_vocabulary


def _vocabulary_size() -> int:
    return len(load_vocabulary())


@dataclass(frozen=True)
class BrainConfig:
    """Every size of the brain; saved beside the weights as config.json."""

    # Per-modality embedding sizes in MODALITIES order (vision, audio, touch, proprio).
    embedding_dims: tuple[int, ...] = tuple(EMBEDDING_DIMS[m] for m in MODALITIES)
    n_joints: int = len(JOINTS)
    vocab_size: int = field(default_factory=_vocabulary_size)
    n_drowsy: int = len(DROWSINESS_FEATURES)
    d_model: int = 256
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    capacity: int = CONTEXT_CAPACITY  # ticks in the attention window
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "embedding_dims", tuple(int(d) for d in self.embedding_dims))
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {self.capacity}")

    @property
    def n_modalities(self) -> int:
        return len(self.embedding_dims)

    @property
    def embedding_total(self) -> int:
        """Width of the concatenated embeddings (224 by default)."""
        return sum(self.embedding_dims)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def cache_shape(self) -> tuple[int, int, int, int]:
        """Shape of each of the caller-owned K and V caches: (L, nh, N, hd)."""
        return (self.n_layer, self.n_head, self.capacity, self.head_dim)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["embedding_dims"] = list(self.embedding_dims)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BrainConfig:
        """Inverse of to_dict; unknown keys are an error, so a typo never passes silently."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown BrainConfig fields: {sorted(unknown)}")
        return cls(**d)


@dataclass
class TickBatch:
    """A (B, T) batch of ticks: the input layout of Brain.forward and of sleep's training.

    One row per tick, fields as in runtime.TickInput; `runtime.stack_inputs` builds one
    from a list of TickInputs.
    """

    embeddings: Tensor  # (B, T, E) float32, MODALITIES order, zeros where absent
    present: Tensor  # (B, T, M) float32, 1.0 present / 0.0 missing or stale
    heard_word: Tensor  # (B, T) int64 vocabulary id
    prev_motor: Tensor  # (B, T, J) float32, the agent's previous command, rad/s
    prev_spoken: Tensor  # (B, T) int64 vocabulary id
    drowsiness: Tensor  # (B, T, D) float32
    positions: Tensor | None = None  # (B, T) absolute tick positions; None means arange(T)

    def to(self, device: torch.device | str) -> TickBatch:
        return TickBatch(
            **{
                f.name: None if (t := getattr(self, f.name)) is None else t.to(device)
                for f in fields(self)
            }
        )


class BrainOutput(NamedTuple):
    """The three heads, for every position given (or for the one tick stepped)."""

    next_embeddings: Tensor  # (..., E) the world model: next tick's embeddings
    motor: Tensor  # (..., J) next tick's joint velocities, rad/s
    word_logits: Tensor  # (..., V) next heard word


def alibi_slopes(n_head: int) -> Tensor:
    """ALiBi's geometric head slopes 2^(-8 i / n_head), i = 1..n_head (Press et al. 2022)."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / n_head) for i in range(n_head)])


def alibi_bias(query_pos: Tensor, key_pos: Tensor, slopes: Tensor, capacity: int) -> Tensor:
    """Additive attention bias: -slope_h * (q - k) inside the window, -inf outside.

    A key is visible when 0 <= q - k <= capacity - 1 and k >= 0 (a negative key position
    marks an empty cache slot). One rule shared by forward and step, so they cannot drift.
    query_pos (..., Tq), key_pos (..., Tk) float32 -> (..., nh, Tq, Tk).
    """
    dist = query_pos[..., :, None] - key_pos[..., None, :]  # (..., Tq, Tk)
    visible = (dist >= 0) & (dist <= capacity - 1) & (key_pos[..., None, :] >= 0)
    bias = -slopes[:, None, None] * dist.unsqueeze(-3)  # (..., nh, Tq, Tk)
    return bias.masked_fill(~visible.unsqueeze(-3), float("-inf"))


class TokenFusion(nn.Module):
    """One token per tick from everything the agent knows at that tick.

    Each modality's embedding has its own projection; a modality that is stale or absent
    contributes a learned "missing" vector instead, so "nothing seen" and "saw zeros" are
    different tokens. Heard word, own previous word, own previous motor command and the
    drowsiness features are added on top.
    """

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        C = config.d_model
        self.modality_proj = nn.ModuleList(nn.Linear(d, C) for d in config.embedding_dims)
        self.missing = nn.Parameter(torch.zeros(config.n_modalities, C))
        self.heard_word = nn.Embedding(config.vocab_size, C)
        self.prev_spoken = nn.Embedding(config.vocab_size, C)
        self.prev_motor = nn.Linear(config.n_joints, C)
        self.drowsiness = nn.Linear(config.n_drowsy, C)
        bounds = [0, *itertools.accumulate(config.embedding_dims)]
        self.slices = list(itertools.pairwise(bounds))  # [(lo, hi)] of each modality in E

    def forward(
        self,
        embeddings: Tensor,  # (..., E)
        present: Tensor,  # (..., M)
        heard_word: Tensor,  # (...) int64
        prev_motor: Tensor,  # (..., J)
        prev_spoken: Tensor,  # (...) int64
        drowsiness: Tensor,  # (..., D)
    ) -> Tensor:  # (..., C)
        x = (
            self.heard_word(heard_word)
            + self.prev_spoken(prev_spoken)
            + self.prev_motor(prev_motor)
            + self.drowsiness(drowsiness)
        )
        for m, (proj, (lo, hi)) in enumerate(zip(self.modality_proj, self.slices, strict=True)):
            # where(), not a 0/1 blend: a missing modality's slice cannot leak in, even NaN.
            seen = present[..., m : m + 1] > 0.5  # (..., 1)
            x = x + torch.where(seen, proj(embeddings[..., lo:hi]), self.missing[m])
        return x


class CausalSelfAttention(nn.Module):
    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model)
        self.c_proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        """x (B, T, C), bias (B, nh, T, T) -> (B, T, C)."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hd)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def step(
        self, x: Tensor, cache_bias: Tensor, k_cache: Tensor, v_cache: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One new token against this layer's cache, which is read and never copied.

        x (1, C), cache_bias (nh, 1, N), k_cache and v_cache (nh, N, hd)
        -> y (1, C), new_k and new_v (nh, 1, hd).
        The cache and the new token are scored separately and joined only as (nh, 1, N + 1)
        scores, so no (nh, N + 1, hd) concatenation is made; the transpose of the cache is
        a view in torch and folds into a transposed matmul in onnxruntime, never a copy.
        """
        C = self.n_head * self.head_dim  # from the config, so the ONNX trace holds no shape
        q, k, v = self.c_attn(x).split(C, dim=1)  # 3 x (1, C)
        q = q.view(self.n_head, 1, self.head_dim)  # (nh, 1, hd)
        k = k.view(self.n_head, 1, self.head_dim)  # (nh, 1, hd)
        v = v.view(self.n_head, 1, self.head_dim)  # (nh, 1, hd)
        scale = 1.0 / math.sqrt(self.head_dim)
        past = (q @ k_cache.transpose(1, 2)) * scale + cache_bias  # (nh, 1, N)
        now = (q * k).sum(-1, keepdim=True) * scale  # (nh, 1, 1); distance 0, bias 0
        att = torch.cat([past, now], dim=-1).softmax(dim=-1)  # (nh, 1, N + 1)
        y = att[..., :-1] @ v_cache + att[..., -1:] * v  # (nh, 1, hd)
        y = y.transpose(0, 1).reshape(1, C)  # (1, C)
        return self.c_proj(y), k, v


class MLP(nn.Module):
    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.mlp_ratio * config.d_model)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(config.mlp_ratio * config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:  # (..., C) -> (..., C)
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:  # (B, T, C) -> (B, T, C)
        x = x + self.attn(self.ln_1(x), bias)
        return x + self.mlp(self.ln_2(x))

    def step(
        self, x: Tensor, cache_bias: Tensor, k_cache: Tensor, v_cache: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:  # x (1, C) -> (1, C), new_k, new_v (nh, 1, hd)
        a, k, v = self.attn.step(self.ln_1(x), cache_bias, k_cache, v_cache)
        x = x + a
        return x + self.mlp(self.ln_2(x)), k, v


class Brain(nn.Module):
    """Fused tick tokens -> causal transformer (ALiBi) -> world, motor and word heads."""

    def __init__(self, config: BrainConfig) -> None:
        super().__init__()
        self.config = config
        self.fusion = TokenFusion(config)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head_embeddings = nn.Linear(config.d_model, config.embedding_total)
        self.head_motor = nn.Linear(config.d_model, config.n_joints)
        self.head_word = nn.Linear(config.d_model, config.vocab_size)
        # Derived from the config, so not saved with the weights.
        self.register_buffer("slopes", alibi_slopes(config.n_head), persistent=False)

        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections keeps the stream's variance flat.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        nn.init.normal_(self.fusion.missing, mean=0.0, std=0.02)
        # A newborn barely moves: at std 0.02 its motor head would drive every joint at
        # ~0.3 rad/s into its limits, and the day it learns from would be that flailing,
        # not where the caretaker's hand left the arm. At 1/10 of it (~0.03 rad/s) the arm
        # stays put between lessons, and the motor head still learns at full speed.
        nn.init.normal_(self.head_motor.weight, mean=0.0, std=0.002)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _heads(self, x: Tensor) -> BrainOutput:  # x (..., C)
        x = self.ln_f(x)
        return BrainOutput(self.head_embeddings(x), self.head_motor(x), self.head_word(x))

    def forward(self, batch: TickBatch) -> BrainOutput:
        """All three heads at every position of a (B, T) batch: (B, T, E), (B, T, J), (B, T, V)."""
        x = self.fusion(
            batch.embeddings,
            batch.present,
            batch.heard_word,
            batch.prev_motor,
            batch.prev_spoken,
            batch.drowsiness,
        )  # (B, T, C)
        x = self.drop(x)
        B, T, _ = x.shape
        positions = batch.positions
        if positions is None:
            positions = torch.arange(T, device=x.device).expand(B, T)
        positions = positions.to(torch.float32)  # exact up to 2^24 ticks
        bias = alibi_bias(positions, positions, self.slopes, self.config.capacity)  # (B, nh, T, T)
        for block in self.blocks:
            x = block(x, bias)  # (B, T, C)
        return self._heads(x)

    def step(
        self,
        embeddings: Tensor,  # (1, E)
        present: Tensor,  # (1, M)
        heard_word: Tensor,  # (1,) int64
        prev_motor: Tensor,  # (1, J)
        prev_spoken: Tensor,  # (1,) int64
        drowsiness: Tensor,  # (1, D)
        pos: Tensor,  # (1,) float32, this tick's position
        k_cache: Tensor | Sequence[Tensor],  # (L, nh, N, hd), or L tensors (nh, N, hd)
        v_cache: Tensor | Sequence[Tensor],  # same
        slot_pos: Tensor,  # (N,) float32, position held by each slot, -1 if empty
    ) -> tuple[BrainOutput, Tensor, Tensor]:
        """One tick against a caller-owned ring buffer; returns heads and the new K/V rows.

        Attends over the cached slots within the window plus the new token itself. The slot
        this tick will go into (pos % N) holds pos - N or nothing, so the window rule already
        excludes it. Returns heads (1, E), (1, J), (1, V) and new_k, new_v (L, nh, 1, hd),
        which the caller writes into slot pos % N, setting slot_pos there to pos.
        The caches may be given per layer so that onnxruntime can bind each layer's block
        of the caller's array by pointer, with no slicing copy inside the graph.
        """
        x = self.fusion(embeddings, present, heard_word, prev_motor, prev_spoken, drowsiness)
        cache_bias = alibi_bias(pos, slot_pos, self.slopes, self.config.capacity)  # (nh, 1, N)
        new_k, new_v = [], []
        for layer, block in enumerate(self.blocks):
            x, k, v = block.step(x, cache_bias, k_cache[layer], v_cache[layer])  # (1, C)
            new_k.append(k)
            new_v.append(v)
        return self._heads(x), torch.stack(new_k), torch.stack(new_v)  # (L, nh, 1, hd)
