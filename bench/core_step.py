"""Core step latency against context length: onnxruntime step, torch step, naive recompute.

One thread everywhere (torch.set_num_threads(1), onnxruntime 1 intra-op thread), the
default brain, random weights (latency does not depend on what the brain has learned).
For each context length the ring cache is filled with that many ticks of random K/V, then
the same tick is stepped repeatedly at that position: the step's cost depends on the
shapes, not on the values, so this measures exactly that context without stepping through
all the ticks before it. The naive baseline recomputes a full forward over the whole
window (min(context, capacity) ticks) each tick, as a brain without a KV cache would.

Prints a table and whether the target (p99 <= 5 ms at full context, DESIGN.md) is met;
asserts nothing about time.

    .venv/bin/python bench/core_step.py            # full run, a few minutes
    .venv/bin/python bench/core_step.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nemuri.brain.export import export_step
from nemuri.brain.model import Brain, BrainConfig, TickBatch
from nemuri.brain.runtime import OnnxRuntime, RingCache, TickInput, TorchRuntime

TARGET_P99_MS = 5.0


def random_tick(config: BrainConfig, rng: np.random.Generator) -> TickInput:
    return TickInput(
        embeddings=rng.standard_normal(config.embedding_total).astype(np.float32),
        present=np.ones(config.n_modalities, np.float32),
        heard_word=int(rng.integers(config.vocab_size)),
        prev_motor=rng.standard_normal(config.n_joints).astype(np.float32),
        prev_spoken=int(rng.integers(config.vocab_size)),
        drowsiness=rng.random(config.n_drowsy).astype(np.float32),
    )


def fill(cache: RingCache, context: int, rng: np.random.Generator) -> None:
    """Make the next step see `context` ticks: context - 1 cached plus itself."""
    cache.reset()
    cache.k[:] = rng.standard_normal(cache.k.shape, dtype=np.float32)
    cache.v[:] = rng.standard_normal(cache.v.shape, dtype=np.float32)
    pos = context - 1  # position of the stepped tick
    for p in range(max(0, pos - cache.capacity + 1), pos):
        cache.slot_pos[p % cache.capacity] = p
    cache.pos = pos


def time_step(
    runtime: OnnxRuntime | TorchRuntime, config: BrainConfig, context: int, reps: int
) -> np.ndarray:
    """Latencies (ms) of `reps` steps, each at exactly `context` ticks."""
    rng = np.random.default_rng(context)
    fill(runtime.cache, context, rng)
    x = random_tick(config, rng)
    pos = runtime.cache.pos
    for _ in range(min(10, reps)):  # warm up
        runtime.step(x)
        runtime.cache.pos = pos
    out = np.empty(reps)
    gc.collect()
    for i in range(reps):
        t0 = time.perf_counter()
        runtime.step(x)
        out[i] = (time.perf_counter() - t0) * 1e3
        runtime.cache.pos = pos  # step the same position again; its slot is rewritten as is
    return out


def time_naive(brain: Brain, context: int, reps: int) -> np.ndarray:
    """Latencies (ms) of a full forward over the window, keeping only the last tick's heads."""
    config = brain.config
    T = min(context, config.capacity)
    g = torch.Generator().manual_seed(context)
    batch = TickBatch(
        embeddings=torch.randn(1, T, config.embedding_total, generator=g),
        present=torch.ones(1, T, config.n_modalities),
        heard_word=torch.randint(config.vocab_size, (1, T), generator=g),
        prev_motor=torch.randn(1, T, config.n_joints, generator=g),
        prev_spoken=torch.randint(config.vocab_size, (1, T), generator=g),
        drowsiness=torch.rand(1, T, config.n_drowsy, generator=g),
        positions=torch.arange(context - T, context)[None],
    )
    out = np.empty(reps)
    with torch.no_grad():
        brain(batch)  # warm up
        for i in range(reps):
            t0 = time.perf_counter()
            heads = brain(batch)
            _ = heads.word_logits[0, -1]
            out[i] = (time.perf_counter() - t0) * 1e3
    return out


def naive_reps(context: int, quick: bool) -> int:
    """Fewer repetitions where one naive forward takes seconds."""
    if quick:
        return 2 if context > 256 else 10
    return max(3, min(50, 8192 // max(context, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer contexts and repetitions")
    parser.add_argument("--reps", type=int, default=None, help="step repetitions per context")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = BrainConfig()
    brain = Brain(config).eval()
    cap = config.capacity
    if args.quick:
        contexts = [1, 1024, cap, cap + 64]
        reps = args.reps or 200
    else:
        contexts = [1, 256, 1024, 2048, cap, cap + 1000]
        reps = args.reps or 1000

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        onnx_path = export_step(brain, Path(tmp) / "step.onnx")
        export_s = time.perf_counter() - t0
        onnx_rt = OnnxRuntime(onnx_path, config, threads=1)
        torch_rt = TorchRuntime(brain)
        rows = []
        for context in contexts:
            onnx_ms = time_step(onnx_rt, config, context, reps)
            torch_ms = time_step(torch_rt, config, context, reps)
            naive_ms = time_naive(brain, context, naive_reps(context, args.quick))
            rows.append((context, onnx_ms, torch_ms, naive_ms))
            print_row(context, onnx_ms, torch_ms, naive_ms, header=len(rows) == 1)

    load = os.getloadavg()[0]
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load_before:.2f} before, "
        f"{load:.2f} after (other processes preempting the one thread show up in p99)"
    )
    n_params = sum(p.numel() for p in brain.parameters())
    print(
        f"default brain: {n_params / 1e6:.2f} M parameters, d_model {config.d_model}, "
        f"{config.n_layer} layers, capacity {cap}; KV cache "
        f"{2 * np.prod(config.cache_shape) * 4 / 2**20:.0f} MiB; ONNX export {export_s:.1f} s"
    )
    full = [r for r in rows if r[0] >= cap]
    worst = max(float(np.percentile(r[1], 99)) for r in full)
    verdict = "met" if worst <= TARGET_P99_MS else "NOT met"
    print(
        f"target: onnxruntime step p99 <= {TARGET_P99_MS:.0f} ms at full context: "
        f"{verdict} (worst p99 at >= {cap} ticks: {worst:.2f} ms)"
    )


def print_row(
    context: int, onnx_ms: np.ndarray, torch_ms: np.ndarray, naive_ms: np.ndarray, header: bool
) -> None:
    if header:
        print(
            f"{'context':>8} | {'onnx med':>8} {'p99':>6} | {'torch med':>9} {'p99':>6} | "
            f"{'naive med':>9} {'p99':>8} {'n':>3} | {'naive/onnx':>10}   (ms)"
        )
    med = float(np.median(onnx_ms))
    print(
        f"{context:>8} | {med:8.2f} {np.percentile(onnx_ms, 99):6.2f} | "
        f"{np.median(torch_ms):9.2f} {np.percentile(torch_ms, 99):6.2f} | "
        f"{np.median(naive_ms):9.1f} {np.percentile(naive_ms, 99):8.1f} {len(naive_ms):>3} | "
        f"{np.median(naive_ms) / med:9.1f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
