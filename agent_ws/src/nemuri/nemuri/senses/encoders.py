"""The four sense encoders as small torch models, and their export to ONNX.

Each maps one modality's prepared input (senses/preprocess.py) to its embedding of the
contract size (contracts.EMBEDDING_DIMS):

    vision  (B, 3, 96, 96) RGB in [0, 1]      -> (B, 128)   CNN, 5 stride-2 stages
    audio   (B, 64, 100) scaled log-mel        -> (B, 64)    2-D CNN over mels x frames
    touch   (B, 4) pressures in [0, 1]          -> (B, 16)    MLP
    proprio (B, 10) positions, velocities       -> (B, 16)    MLP

Vision and audio end in a LayerNorm without gain or bias, so every embedding has mean 0
and norm sqrt(dim) whatever the scene: the brain sums projections of all four each tick
and a modality whose scale drifted with the lighting would drown the others. Touch and
proprio end in tanh (the bounded code of their autoencoders, tools/train_encoders.py).
They are small on purpose: sensor nodes run them at 10-50 Hz on one CPU thread beside the
brain, and the committed ONNX files stay under 2 MB.

Training heads (projection heads, decoders) live in the training script: only what runs
in the robot is here.
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from pathlib import Path

import onnx
import torch
from torch import nn

from nemuri.contracts import EMBEDDING_DIMS, TOUCH_PADS
from nemuri.senses.preprocess import IMAGE_SIZE, N_FRAMES, N_MELS, PROPRIO_DIM

OPSET = 17  # LayerNormalization is a single op from 17 on
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 stride-2 conv, batch norm, ReLU: halves the resolution (BN folds away in ONNX)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class VisionEncoder(nn.Module):
    """96x96 RGB -> 128. The last feature map (3x3) is pooled two ways: its mean (the
    scene's overall look) and its max (the strongest evidence of each feature anywhere,
    i.e. the object wherever it sits), so what is in view counts more than where."""

    def __init__(self, dim: int = EMBEDDING_DIMS["vision"]) -> None:
        super().__init__()
        widths = (3, 24, 32, 64, 96, 128)
        self.features = nn.Sequential(*[_conv(a, b) for a, b in pairwise(widths)])
        self.head = nn.Linear(2 * widths[-1], dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.features(image)  # (B, 128, 3, 3)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 256)
        return self.norm(self.head(pooled))  # (B, 128)


class AudioEncoder(nn.Module):
    """(64 mels x 100 frames) log-mel -> 64. Four stride-2 stages leave (4 mels x 7 frames),
    flattened, so the embedding tells a word just begun from one just ended."""

    def __init__(self, dim: int = EMBEDDING_DIMS["audio"]) -> None:
        super().__init__()
        widths = (1, 16, 32, 48, 64)
        self.features = nn.Sequential(*[_conv(a, b) for a, b in pairwise(widths)])
        mels, frames = N_MELS, N_FRAMES
        for _ in widths[1:]:
            mels, frames = (mels + 1) // 2, (frames + 1) // 2  # 64x100 -> 4x7
        self.head = nn.Linear(widths[-1] * mels * frames, dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = self.features(log_mel.unsqueeze(1))  # (B, 1, 64, 100) -> (B, 64, 4, 7)
        return self.norm(self.head(x.flatten(1)))  # (B, 64)


class VectorEncoder(nn.Module):
    """A few numbers -> a bounded code: Linear, SiLU, Linear, tanh (touch and proprio)."""

    def __init__(self, n_in: int, dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, dim), nn.Tanh()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, n_in) -> (B, dim)


def build_encoder(modality: str) -> nn.Module:
    """A freshly initialised encoder for a modality (same architecture as the shipped one)."""
    if modality == "vision":
        return VisionEncoder()
    if modality == "audio":
        return AudioEncoder()
    if modality == "touch":
        return VectorEncoder(len(TOUCH_PADS), EMBEDDING_DIMS["touch"], hidden=32)
    if modality == "proprio":
        return VectorEncoder(PROPRIO_DIM, EMBEDDING_DIMS["proprio"], hidden=64)
    raise ValueError(f"unknown modality {modality!r}; expected one of {tuple(EMBEDDING_DIMS)}")


def input_shape(modality: str) -> tuple[int, ...]:
    """Shape of one prepared input (no batch axis)."""
    shapes = {
        "vision": (3, IMAGE_SIZE, IMAGE_SIZE),
        "audio": (N_MELS, N_FRAMES),
        "touch": (len(TOUCH_PADS),),
        "proprio": (PROPRIO_DIM,),
    }
    if modality not in shapes:
        raise ValueError(f"unknown modality {modality!r}; expected one of {tuple(shapes)}")
    return shapes[modality]


def export_onnx(encoder: nn.Module, modality: str, path: Path) -> Path:
    """Write the encoder (eval mode, batch axis dynamic) as ONNX and check it loads.

    The TorchScript exporter (dynamo=False) is used because it needs no onnxscript, as in
    brain/export.py. The encoder is given back in the mode it came in.
    """
    was_training = encoder.training
    encoder.eval()
    example = torch.zeros(1, *input_shape(modality))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            torch.onnx.export(
                encoder,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        encoder.train(was_training)
    onnx.checker.check_model(str(path))
    return Path(path)
