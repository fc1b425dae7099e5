"""Train nemuri's four sense encoders, self-supervised, and ship them as ONNX + manifest.

    .venv/bin/python tools/train_encoders.py                 # all four, ~8 min on 1 thread
    .venv/bin/python tools/train_encoders.py vision --steps 300 --out /tmp/models

Every sample is made here, from the project's own world and voice; no downloaded weights
and no labels (senses/datasets.py):

- vision: SimCLR. A scene is one moment of a lesson in the MuJoCo world; two of its views
  (the robot's eyes moved, the object shifted and turned a little in the caretaker's
  hand, the light changed, the arm elsewhere; then a random crop and brightness,
  contrast and saturation jitter) are positives, every other scene in the batch a
  negative. InfoNCE (NT-Xent) on a small projection head that is dropped after training.
- audio: the same on log-mels. Two renditions of one espeak-ng utterance (speed, loudness,
  start time within the last second, background noise; a band of mels and a span of
  frames masked) are positives.
- touch, proprio: a denoising autoencoder. The 4 or 10 inputs fill a small box we know
  exactly (pressures in [0, 1], joints within their URDF limits), so it is sampled
  uniformly rather than learned from the few contacts of a day. The tanh code (16) must
  let a decoder rebuild the input although noise is added to the code, so every input
  difference is spread over margins wider than the noise: nearby states get nearby
  embeddings, distinct ones distinct embeddings, and the code stays in [-1, 1]. We chose
  this over a fixed random projection, which keeps distances too but has no bound on its
  scale and spends its resolution on whatever directions the random matrix happens to
  stretch, not evenly over the range the sensor covers.

Object and word identity are used only to print a nearest-neighbour score while training
(a monitor, to see the features improve); they never enter a loss. Seeds are fixed: the
same command on the same machine gives the same weights. Each encoder is exported to
nemuri/senses/models/<modality>.onnx and its entry (version, date, data, objective, loss,
monitor scores, preprocessing) written into manifest.json there.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nemuri.contracts import EMBEDDING_DIMS, JOINTS, TOUCH_PADS
from nemuri.senses import datasets
from nemuri.senses.encoders import build_encoder, export_onnx
from nemuri.senses.preprocess import PROPRIO_DIM, TOUCH_FULL_SCALE_N, ProprioScaling
from nemuri.senses.runtime import (
    audio_frontend,
    default_models_dir,
    sha256_of,
    write_manifest_entry,
)
from nemuri.vocabulary import SILENCE, UNKNOWN, load_vocabulary
from nemuri.worlds.description import joint_limits

MODALITIES = tuple(EMBEDDING_DIMS)

# Voices the audio encoder trains on. The encoder tests hear other voices (held out).
TRAIN_VOICES: tuple[tuple[str, int], ...] = (
    ("en-us", 150),
    ("en-us+m3", 130),
    ("en-us+f2", 175),
    ("en-gb", 160),
)


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------ losses
def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: row i of z1 must pick row i of z2 (and vice versa) among all 2B - 1 others."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, d)
    sim = z @ z.T / temperature  # (2B, 2B)
    sim.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def projection_head(dim: int, out: int = 64) -> nn.Module:
    """SimCLR's head; its batch norm centres the batch, so the common part of all inputs
    (a second that is mostly silence, a frame that is mostly table) cannot make every
    embedding look alike at the start, where InfoNCE would otherwise stall at log(2B - 1)."""
    return nn.Sequential(
        nn.Linear(dim, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=True), nn.Linear(dim, out)
    )


def cosine_schedule(optimizer: torch.optim.Optimizer, steps: int, warmup: int) -> Any:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def nn_accuracy(
    gallery: np.ndarray, gallery_ids: np.ndarray, query: np.ndarray, query_ids: np.ndarray
) -> float:
    """Share of queries whose nearest gallery item (cosine) has the same identity."""
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    return float(np.mean(gallery_ids[np.argmax(q @ g.T, axis=1)] == query_ids))


@torch.no_grad()
def embed(encoder: nn.Module, inputs: np.ndarray, batch: int = 256) -> np.ndarray:
    encoder.eval()
    out = [
        encoder(torch.from_numpy(inputs[i : i + batch])).numpy()
        for i in range(0, len(inputs), batch)
    ]
    encoder.train()
    return np.concatenate(out)


# ------------------------------------------------------------------------------ vision
def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, 96, 96, 3) uint8 -> (N, 3, 96, 96) float32 in [0, 1], as prepare_image gives."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def augment_images(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (70-100 % of the side, resized back) and photometric jitter, batched.

    No flips and no hue shifts: left and right matter to a robot that reaches, and colour
    is half of what tells the objects apart. (Turning a fifth of the views grey, to push
    shape, was tried: nearest-neighbour identity fell from 0.74 to 0.67.)
    """
    n = x.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=gen)

    scale = uniform(0.7, 1.0)
    aspect = torch.exp(uniform(-0.1, 0.1))
    sx, sy = scale * aspect.sqrt(), scale / aspect.sqrt()
    tx, ty = (1 - sx) * uniform(-1, 1), (1 - sy) * uniform(-1, 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * uniform(0.7, 1.3, 1, 1, 1)  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(0.75, 1.25, 1, 1, 1)  # contrast
    x = x * uniform(0.75, 1.25, 1, 1, 1)  # brightness
    return x.clamp_(0.0, 1.0)


def train_vision(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    maker = datasets.ViewMaker(datasets.make_world(args.objects))
    log(
        f"vision: rendering {args.scenes} scenes x {args.views} views of {args.objects} objects ..."
    )
    train = datasets.render_scenes(maker, args.scenes, args.views, seed=args.seed, clutter=0.3)
    # Monitor only (never in a loss): identity by nearest neighbour, one view per scene
    # as gallery, another scene's view as query.
    k = min(args.objects, 16)
    ids = np.tile(np.arange(k), 4)
    monitor = datasets.render_scenes(maker, len(ids), 1, seed=args.seed + 10_000, object_ids=ids)
    monitor_x = images_to_tensor(monitor.images[:, 0]).numpy()
    half = len(ids) // 2

    def score(encoder: nn.Module) -> float:
        e = embed(encoder, monitor_x)
        return nn_accuracy(e[:half], ids[:half], e[half:], ids[half:])

    log(
        f"vision: {train.images.shape[0] * train.images.shape[1]} frames in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    encoder = build_encoder("vision")
    head = projection_head(EMBEDDING_DIMS["vision"])
    random_score = score(encoder)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    schedule = cosine_schedule(optimizer, args.steps, warmup=max(args.steps // 20, 1))
    n_scenes, n_views = train.images.shape[:2]
    losses: list[float] = []
    t1 = time.perf_counter()
    for step in range(args.steps):
        scenes = torch.randperm(n_scenes, generator=gen)[: args.batch].numpy()
        pick = torch.stack([torch.randperm(n_views, generator=gen)[:2] for _ in scenes]).numpy()
        v1 = augment_images(images_to_tensor(train.images[scenes, pick[:, 0]]), gen)
        v2 = augment_images(images_to_tensor(train.images[scenes, pick[:, 1]]), gen)
        loss = info_nce(head(encoder(v1)), head(encoder(v2)), args.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            log(
                f"vision step {step + 1}/{args.steps} loss {np.mean(losses[-args.log_every :]):.3f}"
                f" nn-identity {score(encoder):.2f} (random init {random_score:.2f})"
                f" {time.perf_counter() - t1:.0f} s"
            )
    data = (
        f"{n_scenes} scenes x {n_views} views of the built-in MuJoCo world, "
        f"{args.objects} catalogue objects, random place/turn/head aim/arm/light, "
        "30 % with a second object"
    )
    return ship(
        encoder,
        "vision",
        out_dir,
        args,
        data=data,
        losses=losses,
        seconds=time.perf_counter() - t0,
        objective=f"SimCLR InfoNCE, temperature {args.temperature}, batch {args.batch}",
        extra={
            "monitor_nn_identity": round(score(encoder), 3),
            "monitor_nn_identity_random_init": round(random_score, 3),
        },
        preprocess={"size": 96},
    )


# ------------------------------------------------------------------------------ audio
def mask_spectrograms(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment-style: blank one band of up to 8 mels and one span of up to 12 frames
    per example (set to the batch's quietest value), so no single cue carries a word.

    (Shifting the mel axis by up to 3 bands, VTLP-style, to mimic other speakers was
    tried and made words in held-out voices worse: 0.67 against 0.73.)"""
    n, mels, frames = x.shape
    floor = x.amin()
    f0 = torch.randint(0, mels, (n, 1), generator=gen)
    fw = torch.randint(0, 9, (n, 1), generator=gen)
    t0 = torch.randint(0, frames, (n, 1), generator=gen)
    tw = torch.randint(0, 13, (n, 1), generator=gen)
    band = (torch.arange(mels) >= f0) & (torch.arange(mels) < f0 + fw)  # (n, mels)
    span = (torch.arange(frames) >= t0) & (torch.arange(frames) < t0 + tw)  # (n, frames)
    return x.masked_fill(band[:, :, None] | span[:, None, :], floor)


def train_audio(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    words = [w for w in load_vocabulary().words if w not in (SILENCE, UNKNOWN)]
    log(f"audio: speaking {len(words)} words in {len(TRAIN_VOICES)} voices ...")
    utterances = datasets.speak_words(words, TRAIN_VOICES)
    # A fixed pool of renditions, made once: the numpy front end costs about as much per
    # clip as a training step does, so each step draws two of these and masks them.
    chunk = 64
    pool = np.concatenate(
        [
            datasets.utterance_views(utterances[i : i + chunk], args.renditions, seed=args.seed + i)
            for i in range(0, len(utterances), chunk)
        ]
    )
    log(
        f"audio: {len(utterances)} utterances x {pool.shape[1]} renditions in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    # Monitor only: 16 words, one voice as gallery, another voice as query.
    n_voices = len(TRAIN_VOICES)
    gallery, query = (
        utterances[: 16 * n_voices : n_voices],
        utterances[1 : 16 * n_voices : n_voices],
    )
    ids = np.arange(len(gallery))
    g_x = datasets.utterance_views(gallery, 1, seed=args.seed + 1)[:, 0]
    q_x = datasets.utterance_views(query, 1, seed=args.seed + 2)[:, 0]

    def score(encoder: nn.Module) -> float:
        return nn_accuracy(embed(encoder, g_x), ids, embed(encoder, q_x), ids)

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    encoder = build_encoder("audio")
    head = projection_head(EMBEDDING_DIMS["audio"])
    random_score = score(encoder)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    schedule = cosine_schedule(optimizer, args.steps, warmup=max(args.steps // 20, 1))
    losses: list[float] = []
    t1 = time.perf_counter()
    n_utt, n_views = pool.shape[:2]
    for step in range(args.steps):
        chosen = torch.randperm(n_utt, generator=gen)[: args.batch].numpy()
        pick = torch.stack([torch.randperm(n_views, generator=gen)[:2] for _ in chosen]).numpy()
        v1 = mask_spectrograms(torch.from_numpy(pool[chosen, pick[:, 0]]), gen)
        v2 = mask_spectrograms(torch.from_numpy(pool[chosen, pick[:, 1]]), gen)
        loss = info_nce(head(encoder(v1)), head(encoder(v2)), args.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            log(
                f"audio step {step + 1}/{args.steps} loss {np.mean(losses[-args.log_every :]):.3f}"
                f" nn-word {score(encoder):.2f} (random init {random_score:.2f})"
                f" {time.perf_counter() - t1:.0f} s"
            )
    voices = ", ".join(f"{v} {s} wpm" for v, s in TRAIN_VOICES)
    data = (
        f"{len(words)} vocabulary words spoken by espeak-ng ({voices}), {n_views} "
        "renditions each: speed x0.87-1.15, gain -12..+6 dB, random start in the last "
        "second, noise 5-35 dB SNR or digital silence; per view a masked mel band and "
        "frame span"
    )
    return ship(
        encoder,
        "audio",
        out_dir,
        args,
        data=data,
        losses=losses,
        seconds=time.perf_counter() - t0,
        objective=f"SimCLR InfoNCE, temperature {args.temperature}, batch {args.batch}",
        extra={
            "monitor_nn_word": round(score(encoder), 3),
            "monitor_nn_word_random_init": round(random_score, 3),
        },
        preprocess=audio_frontend(),
    )


# ------------------------------------------------------------------------------ touch, proprio
def sample_touch(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 4) in [0, 1]: each pad untouched half the time, else pressed anywhere up to 1."""
    pressed = rng.random((n, len(TOUCH_PADS))) < 0.5
    return (pressed * rng.random((n, len(TOUCH_PADS)))).astype(np.float32)


def sample_proprio(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 10) normalised: positions over their whole range (a little past it now and
    then), velocities still half the time, else anywhere up to a little past the limit."""
    j = len(JOINTS)
    position = rng.uniform(-1.1, 1.1, (n, j))
    moving = rng.random((n, j)) < 0.5
    velocity = moving * rng.uniform(-1.1, 1.1, (n, j))
    return np.concatenate([position, velocity], axis=1).astype(np.float32)


def train_vector(args: argparse.Namespace, out_dir: Path, modality: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    sample: Callable[[np.random.Generator, int], np.ndarray]
    if modality == "touch":
        n_in, sample = len(TOUCH_PADS), sample_touch
        preprocess: dict[str, Any] = {"full_scale_n": TOUCH_FULL_SCALE_N}
        data = "pressures sampled in [0, 1] per pad (half the pads untouched)"
    else:
        n_in, sample = PROPRIO_DIM, sample_proprio
        limits = joint_limits()
        scaling = ProprioScaling.from_limits(
            [lim.lower for lim in limits.values()],
            [lim.upper for lim in limits.values()],
            [lim.velocity for lim in limits.values()],
        )
        preprocess = {
            "centre": list(scaling.centre),
            "half_range": list(scaling.half_range),
            "max_speed": list(scaling.max_speed),
        }
        data = "joint states sampled over the URDF ranges and speed limits (normalised)"
    dim = EMBEDDING_DIMS[modality]
    encoder = build_encoder(modality)
    decoder = nn.Sequential(nn.Linear(dim, 64), nn.SiLU(), nn.Linear(64, n_in))
    params = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
    steps = args.vector_steps
    schedule = cosine_schedule(optimizer, steps, warmup=steps // 20)
    held_out = torch.from_numpy(sample(np.random.default_rng(args.seed + 1), 2048))
    losses: list[float] = []
    for step in range(steps):
        x = torch.from_numpy(sample(rng, 512))
        code = encoder(x)
        loss = F.mse_loss(decoder(code + args.code_noise * torch.randn_like(code)), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % (steps // 5) == 0:
            with torch.no_grad():
                rec = F.mse_loss(decoder(encoder(held_out)), held_out).item()
            log(
                f"{modality} step {step + 1}/{steps} loss {np.mean(losses[-100:]):.5f} "
                f"held-out reconstruction mse {rec:.5f}"
            )
    with torch.no_grad():
        rec = F.mse_loss(decoder(encoder(held_out)), held_out).item()
    return ship(
        encoder,
        modality,
        out_dir,
        args,
        data=data,
        losses=losses,
        seconds=time.perf_counter() - t0,
        objective=f"denoising autoencoder, code noise sigma {args.code_noise}",
        extra={"held_out_reconstruction_mse": round(rec, 6)},
        preprocess=preprocess,
    )


# ------------------------------------------------------------------------------ shipping
def ship(
    encoder: nn.Module,
    modality: str,
    out_dir: Path,
    args: argparse.Namespace,
    *,
    data: str,
    losses: list[float],
    seconds: float,
    objective: str,
    extra: dict[str, Any],
    preprocess: dict[str, Any],
) -> dict[str, Any]:
    """Export to <out_dir>/<modality>.onnx and record it in the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = export_onnx(encoder, modality, out_dir / f"{modality}.onnx")
    tail = max(len(losses) // 20, 1)
    entry = {
        "version": f"{modality}-{args.version}",
        "file": path.name,
        "sha256": sha256_of(path),
        "dim": EMBEDDING_DIMS[modality],
        "created": datetime.date.today().isoformat(),
        "data": data,
        "objective": objective,
        "training": {
            "steps": len(losses),
            "final_loss": round(float(np.mean(losses[-tail:])), 6),
            "seconds": round(seconds, 1),
            "threads": args.threads,
            "seed": args.seed,
            "parameters": sum(p.numel() for p in encoder.parameters()),
            **extra,
        },
        "preprocess": preprocess,
    }
    write_manifest_entry(out_dir, modality, entry)
    log(
        f"{modality}: wrote {path} ({path.stat().st_size / 1e6:.2f} MB), "
        f"version {entry['version']}, {seconds:.0f} s"
    )
    return entry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("modalities", nargs="*", help=f"any of {MODALITIES} (default: all)")
    p.add_argument("--out", type=Path, default=default_models_dir())
    p.add_argument("--version", default="1", help="version suffix: <modality>-<version>")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="contrastive steps (vision, audio)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="InfoNCE temperature (default: vision 0.2, audio 0.1)",
    )
    p.add_argument("--objects", type=int, default=48, help="catalogue objects to render")
    p.add_argument("--scenes", type=int, default=1200)
    p.add_argument("--views", type=int, default=4, help="rendered views per scene")
    p.add_argument("--renditions", type=int, default=8, help="augmented clips per utterance")
    p.add_argument("--vector-steps", type=int, default=3000)
    p.add_argument("--code-noise", type=float, default=0.05)
    p.add_argument("--log-every", type=int, default=50)
    return p.parse_args(argv)


DEFAULT_STEPS = {"vision": 400, "audio": 1000}
# Vision's batches hold several scenes of the same object (48 objects, 128 scenes), false
# negatives that a softer temperature punishes less; utterances are far more numerous.
DEFAULT_TEMPERATURE = {"vision": 0.2, "audio": 0.1}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = set(args.modalities) - set(MODALITIES)
    if unknown:
        raise SystemExit(f"unknown modalities {sorted(unknown)}; expected some of {MODALITIES}")
    torch.set_num_threads(args.threads)
    for modality in args.modalities or MODALITIES:
        step_args = argparse.Namespace(**vars(args))
        if step_args.steps is None:
            step_args.steps = DEFAULT_STEPS.get(modality, 0)
        if step_args.temperature is None:
            step_args.temperature = DEFAULT_TEMPERATURE.get(modality, 0.0)
        if modality == "vision":
            train_vision(step_args, args.out)
        elif modality == "audio":
            train_audio(step_args, args.out)
        else:
            train_vector(step_args, args.out, modality)
    return 0


if __name__ == "__main__":
    sys.exit(main())
