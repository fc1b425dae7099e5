"""Export Brain.step to an ONNX graph for onnxruntime, the waking agent's tick loop.

The graph takes one tick, its position, the slot positions and each layer's K and V cache
as a separate input, so onnxruntime can bind every layer's block of the caller's
(L, nh, N, hd) arrays by pointer: a single 4-D cache input would be sliced per layer
inside the graph, and ONNX slicing copies. Shapes are fixed by the config.

torch 2.13 defaults to the dynamo exporter, which needs onnxscript; the TorchScript
exporter (dynamo=False) needs nothing more and exports the default brain in under a second.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

from nemuri.brain.model import Brain, BrainConfig

OPSET = 17  # LayerNormalization is a single op from 17 on
TICK_INPUTS: tuple[str, ...] = (
    "embeddings",  # (1, E) float32
    "present",  # (1, M) float32
    "heard_word",  # (1,) int64
    "prev_motor",  # (1, J) float32
    "prev_spoken",  # (1,) int64
    "drowsiness",  # (1, D) float32
    "pos",  # (1,) float32
    "slot_pos",  # (N,) float32
)
STEP_OUTPUTS: tuple[str, ...] = ("next_embeddings", "motor", "word_logits", "new_k", "new_v")


def cache_input_names(config: BrainConfig) -> tuple[list[str], list[str]]:
    """Names of the per-layer cache inputs: k_cache_0.., v_cache_0.., each (nh, N, hd)."""
    return (
        [f"k_cache_{layer}" for layer in range(config.n_layer)],
        [f"v_cache_{layer}" for layer in range(config.n_layer)],
    )


class StepGraph(nn.Module):
    """Brain.step with flat tensor inputs and outputs, the form the exporter traces."""

    def __init__(self, brain: Brain) -> None:
        super().__init__()
        self.brain = brain

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        n_tick, n_layer = len(TICK_INPUTS), self.brain.config.n_layer
        emb, present, heard, motor, spoken, drowsy, pos, slot_pos = inputs[:n_tick]
        k_cache = inputs[n_tick : n_tick + n_layer]
        v_cache = inputs[n_tick + n_layer :]
        out, new_k, new_v = self.brain.step(
            emb, present, heard, motor, spoken, drowsy, pos, k_cache, v_cache, slot_pos
        )
        return out.next_embeddings, out.motor, out.word_logits, new_k, new_v


def example_step_inputs(config: BrainConfig) -> tuple[Tensor, ...]:
    """Inputs of the right shapes and dtypes for tracing: a first tick on an empty cache."""
    cache = torch.zeros(config.cache_shape[1:])  # (nh, N, hd)
    return (
        torch.zeros(1, config.embedding_total),
        torch.ones(1, config.n_modalities),
        torch.zeros(1, dtype=torch.long),
        torch.zeros(1, config.n_joints),
        torch.zeros(1, dtype=torch.long),
        torch.zeros(1, config.n_drowsy),
        torch.zeros(1),
        torch.full((config.capacity,), -1.0),
        *[cache.clone() for _ in range(2 * config.n_layer)],
    )


def export_step(brain: Brain, path: Path) -> Path:
    """Write the brain's step as ONNX to `path` and check that onnxruntime loads it.

    The brain is traced in eval mode and given back in the mode it came in, so sleep can
    export mid-training.
    """
    k_names, v_names = cache_input_names(brain.config)
    was_training = brain.training
    graph = StepGraph(brain).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of dynamo; it is the one that
            # works without onnxscript, so its deprecation notice is expected here.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                graph,
                example_step_inputs(brain.config),
                str(path),
                input_names=[*TICK_INPUTS, *k_names, *v_names],
                output_names=list(STEP_OUTPUTS),
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        brain.train(was_training)
    check_step(path)
    return path


def check_step(path: Path) -> None:
    """Raise if the file is not a valid ONNX model that onnxruntime can open."""
    onnx.checker.check_model(str(path))
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
