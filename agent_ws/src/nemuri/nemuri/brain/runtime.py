"""The per-tick brain the Agent runs: one token in, three heads out, KV cache kept here.

Two runtimes behind one protocol: `OnnxRuntime` (onnxruntime, the tick loop's default:
one thread, no allocation of large buffers per tick) and `TorchRuntime` (the same step in
torch, for checking and for machines without the exported graph). Both own a `RingCache`,
the caller-side ring buffer the step reads and never copies; each tick only the new K/V
rows come back and are written into slot pos % capacity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort
import torch

from nemuri.brain.export import cache_input_names
from nemuri.brain.model import Brain, BrainConfig, TickBatch


@dataclass(frozen=True)
class TickInput:
    """One tick's token ingredients, as the Agent gathers them."""

    # (224,) float32, modalities concatenated in MODALITIES order, zeros where absent
    embeddings: np.ndarray
    present: np.ndarray  # (4,) float32, 1.0 present / 0.0 missing or stale
    heard_word: int  # vocabulary id
    prev_motor: np.ndarray  # (5,) float32 rad/s, the agent's own previous command
    prev_spoken: int  # vocabulary id of the agent's previous spoken word (silence id if none)
    drowsiness: np.ndarray  # (4,) float32


@dataclass(frozen=True)
class StepOutput:
    """The three heads for the tick just stepped; arrays are the caller's to keep."""

    next_embeddings: np.ndarray  # (224,)
    motor: np.ndarray  # (5,)
    word_logits: np.ndarray  # (vocab,)


@runtime_checkable
class BrainRuntime(Protocol):
    """What the Agent needs from a brain: step one tick, know the fill, forget on waking."""

    capacity: int

    @property
    def context_length(self) -> int:
        """Ticks in the window, <= capacity."""
        ...

    def reset(self) -> None:
        """Empty the context (on waking)."""
        ...

    def step(self, x: TickInput) -> StepOutput: ...


def stack_inputs(ticks: Sequence[TickInput], start: int = 0) -> TickBatch:
    """A (B=1, T) TickBatch of consecutive ticks at positions start, start + 1, ...

    The layout sleep uses for its (B, T) training batches. Stepping these ticks one by one
    on an empty cache gives what Brain.forward gives on this batch (only distances between
    positions matter, so `start` changes nothing within the window).
    """

    def floats(name: str) -> torch.Tensor:  # (1, T, ...) float32
        rows = np.stack([getattr(t, name) for t in ticks]).astype(np.float32)
        return torch.from_numpy(rows)[None]

    def ids(name: str) -> torch.Tensor:  # (1, T) int64
        return torch.tensor([[getattr(t, name) for t in ticks]], dtype=torch.long)

    return TickBatch(
        embeddings=floats("embeddings"),
        present=floats("present"),
        heard_word=ids("heard_word"),
        prev_motor=floats("prev_motor"),
        prev_spoken=ids("prev_spoken"),
        drowsiness=floats("drowsiness"),
        positions=torch.arange(start, start + len(ticks))[None],
    )


class RingCache:
    """The caller-owned KV cache: K and V (L, nh, N, hd) float32 and slot_pos (N,).

    Tick `pos` lives in slot pos % N; slot_pos holds each slot's tick position, -1 when
    empty. Arrays are allocated once and changed only in place, because onnxruntime holds
    pointers to them. Positions are float32 in the graph, exact only below 2^24, so long
    before that every position is shifted down together: ALiBi sees only distances.
    """

    REBASE_AT = 2**23  # ~9.7 days awake at 10 Hz

    def __init__(self, config: BrainConfig) -> None:
        self.capacity = config.capacity
        self.k = np.zeros(config.cache_shape, dtype=np.float32)
        self.v = np.zeros(config.cache_shape, dtype=np.float32)
        self.slot_pos = np.full(config.capacity, -1.0, dtype=np.float32)
        self.pos = 0  # position of the next tick

    @property
    def context_length(self) -> int:
        return min(self.pos, self.capacity)

    def write(self, new_k: np.ndarray, new_v: np.ndarray) -> None:
        """Store the stepped tick's rows (L, nh, 1, hd) in its slot and move to the next."""
        slot = self.pos % self.capacity
        self.k[:, :, slot, :] = new_k[:, :, 0, :]
        self.v[:, :, slot, :] = new_v[:, :, 0, :]
        self.slot_pos[slot] = self.pos
        self.pos += 1
        if self.pos >= self.REBASE_AT:
            # Whole turns of the ring, so every tick keeps its slot; none goes negative.
            shift = (self.pos // self.capacity - 1) * self.capacity
            self.slot_pos[self.slot_pos >= 0] -= shift
            self.pos -= shift

    def reset(self) -> None:
        # Zeroed too, not only marked empty: a masked slot's V is still multiplied by its
        # weight 0, and 0 * NaN would carry a past NaN into every later tick.
        self.k.fill(0.0)
        self.v.fill(0.0)
        self.slot_pos.fill(-1.0)
        self.pos = 0


class OnnxRuntime:
    """BrainRuntime over onnxruntime with IOBinding: nothing large is copied per tick.

    Every input and output is bound once, at construction, to a buffer owned here: the
    tick buffers (filled each step), each layer's block of the ring cache (read in place)
    and the small output buffers (written by onnxruntime). A step is fill, run, write rows.
    """

    def __init__(self, onnx_path: Path, config: BrainConfig, threads: int = 1) -> None:
        options = ort.SessionOptions()
        # One thread: on a loaded 2-core machine two threads made a step 90x slower.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.capacity = config.capacity
        self.cache = RingCache(config)
        self._tick = {
            "embeddings": np.zeros((1, config.embedding_total), np.float32),
            "present": np.zeros((1, config.n_modalities), np.float32),
            "heard_word": np.zeros(1, np.int64),
            "prev_motor": np.zeros((1, config.n_joints), np.float32),
            "prev_spoken": np.zeros(1, np.int64),
            "drowsiness": np.zeros((1, config.n_drowsy), np.float32),
            "pos": np.zeros(1, np.float32),
            "slot_pos": self.cache.slot_pos,
        }
        k_names, v_names = cache_input_names(config)
        inputs = dict(self._tick)
        for layer in range(config.n_layer):
            inputs[k_names[layer]] = self.cache.k[layer]  # contiguous (nh, N, hd) view
            inputs[v_names[layer]] = self.cache.v[layer]
        rows = (config.n_layer, config.n_head, 1, config.head_dim)
        self._out = {
            "next_embeddings": np.zeros((1, config.embedding_total), np.float32),
            "motor": np.zeros((1, config.n_joints), np.float32),
            "word_logits": np.zeros((1, config.vocab_size), np.float32),
            "new_k": np.zeros(rows, np.float32),
            "new_v": np.zeros(rows, np.float32),
        }
        self._check_graph(onnx_path, inputs)
        self._binding = self._session.io_binding()
        for name, array in inputs.items():
            self._bind(name, array, self._binding.bind_input)
        for name, array in self._out.items():
            self._bind(name, array, self._binding.bind_output)

    @staticmethod
    def _bind(name: str, array: np.ndarray, bind: Callable[..., None]) -> None:
        # A bound pointer sees the memory as is, so the array must be one C-ordered block.
        assert array.flags.c_contiguous, name
        bind(name, "cpu", 0, array.dtype, list(array.shape), array.ctypes.data)

    def _check_graph(self, onnx_path: Path, inputs: dict[str, np.ndarray]) -> None:
        """Refuse a graph exported for another config before binding the wrong sizes."""
        expected = {
            **{n: a.shape for n, a in inputs.items()},
            **{n: a.shape for n, a in self._out.items()},
        }
        found = {a.name: tuple(a.shape) for a in self._session.get_inputs()}
        found |= {a.name: tuple(a.shape) for a in self._session.get_outputs()}
        if found != expected:
            raise ValueError(
                f"{onnx_path} does not match the config: graph has {found}, config needs {expected}"
            )

    @property
    def context_length(self) -> int:
        return self.cache.context_length

    def reset(self) -> None:
        self.cache.reset()

    def step(self, x: TickInput) -> StepOutput:
        tick = self._tick
        tick["embeddings"][0] = x.embeddings
        tick["present"][0] = x.present
        tick["heard_word"][0] = x.heard_word
        tick["prev_motor"][0] = x.prev_motor
        tick["prev_spoken"][0] = x.prev_spoken
        tick["drowsiness"][0] = x.drowsiness
        tick["pos"][0] = self.cache.pos
        self._session.run_with_iobinding(self._binding)
        out = self._out
        self.cache.write(out["new_k"], out["new_v"])
        return StepOutput(
            next_embeddings=out["next_embeddings"][0].copy(),
            motor=out["motor"][0].copy(),
            word_logits=out["word_logits"][0].copy(),
        )


class TorchRuntime:
    """BrainRuntime over Brain.step in torch, with the same ring cache as OnnxRuntime.

    The torch tensors are views of the RingCache's numpy arrays, so both runtimes keep
    their state in the same form. Thread count is the caller's (torch.set_num_threads).
    """

    def __init__(self, brain: Brain) -> None:
        self.brain = brain.eval()
        self.capacity = brain.config.capacity
        self.cache = RingCache(brain.config)
        self._k = torch.from_numpy(self.cache.k)
        self._v = torch.from_numpy(self.cache.v)
        self._slot_pos = torch.from_numpy(self.cache.slot_pos)

    @property
    def context_length(self) -> int:
        return self.cache.context_length

    def reset(self) -> None:
        self.cache.reset()

    def step(self, x: TickInput) -> StepOutput:
        def floats(a: np.ndarray) -> torch.Tensor:  # (n,) -> (1, n) float32
            return torch.as_tensor(a, dtype=torch.float32).reshape(1, -1)

        with torch.no_grad():
            out, new_k, new_v = self.brain.step(
                floats(x.embeddings),
                floats(x.present),
                torch.tensor([x.heard_word], dtype=torch.long),
                floats(x.prev_motor),
                torch.tensor([x.prev_spoken], dtype=torch.long),
                floats(x.drowsiness),
                torch.tensor([float(self.cache.pos)]),
                self._k,
                self._v,
                self._slot_pos,
            )
        self.cache.write(new_k.numpy(), new_v.numpy())
        return StepOutput(
            next_embeddings=out.next_embeddings[0].numpy(),
            motor=out.motor[0].numpy(),
            word_logits=out.word_logits[0].numpy(),
        )
