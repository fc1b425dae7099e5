"""The shipped encoders at run time: onnxruntime, one thread, raw input in, embedding out.

The trained ONNX files and their manifest live in nemuri/senses/models/ (package data).
The manifest names each encoder's version (`vision-1`, ...), the file and its SHA-256,
and the preprocessing it was trained with. A sensor node asks for a modality and gets an
`EncoderRuntime`:

    vision = EncoderRuntime("vision")
    embedding = vision.encode(frame)          # (H, W, 3) uint8 -> (128,) float32
    msg.encoder_version = vision.version      # kept in the day log for retraining

    hearing = EncoderRuntime("audio")
    hearing.feed(chunk_samples)               # every AudioChunk, any size
    embedding = hearing.encode()              # every tick: the last 1 s -> (64,)

The version is checked against the file's hash on load: an ONNX file swapped without a new
version would make a day log claim embeddings from a model that never made them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnxruntime as ort

from nemuri.contracts import EMBEDDING_DIMS
from nemuri.senses import preprocess
from nemuri.senses.encoders import INPUT_NAME, input_shape
from nemuri.senses.preprocess import (
    LogMelStream,
    ProprioScaling,
    SenseInputError,
    prepare_image,
    prepare_proprio,
    prepare_touch,
)

MANIFEST_NAME: Final[str] = "manifest.json"
MANIFEST_FORMAT: Final[int] = 1


class EncoderModelError(RuntimeError):
    """The encoder files are missing, corrupt, or do not match the manifest or the contract."""


def default_models_dir() -> Path:
    """nemuri/senses/models inside the installed package."""
    return Path(str(resources.files("nemuri.senses").joinpath("models")))


def audio_frontend() -> dict[str, float]:
    """The log-mel front end's constants, as recorded in (and checked against) the manifest."""
    return {
        "sample_rate": preprocess.SAMPLE_RATE,
        "window": preprocess.WINDOW,
        "hop": preprocess.HOP,
        "n_fft": preprocess.N_FFT,
        "n_mels": preprocess.N_MELS,
        "n_frames": preprocess.N_FRAMES,
        "f_min": preprocess.F_MIN,
        "f_max": preprocess.F_MAX,
        "log_floor": preprocess.LOG_FLOOR,
        "log_centre": preprocess.LOG_CENTRE,
        "log_scale": preprocess.LOG_SCALE,
    }


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(models_dir: Path | None = None) -> dict[str, Any]:
    """The manifest's per-modality entries ({} when there is no manifest yet)."""
    path = Path(models_dir or default_models_dir()) / MANIFEST_NAME
    if not path.is_file():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise EncoderModelError(f"{path}: unknown manifest format {manifest.get('format')!r}")
    return dict(manifest["encoders"])


def write_manifest_entry(models_dir: Path, modality: str, entry: dict[str, Any]) -> Path:
    """Add or replace one modality's entry, keeping the others (written atomically)."""
    models_dir = Path(models_dir)
    encoders = read_manifest(models_dir)
    encoders[modality] = entry
    path = models_dir / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    ordered = {m: encoders[m] for m in sorted(encoders, key=list(EMBEDDING_DIMS).index)}
    text = json.dumps({"format": MANIFEST_FORMAT, "encoders": ordered}, indent=2) + "\n"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class EncoderInfo:
    """What the manifest says about one shipped encoder."""

    modality: str
    version: str
    path: Path
    entry: dict[str, Any]


def encoder_info(modality: str, models_dir: Path | None = None) -> EncoderInfo:
    """The manifest entry of a modality's encoder, its file checked against its hash."""
    if modality not in EMBEDDING_DIMS:
        raise ValueError(f"unknown modality {modality!r}; expected one of {tuple(EMBEDDING_DIMS)}")
    models_dir = Path(models_dir or default_models_dir())
    entry = read_manifest(models_dir).get(modality)
    if entry is None:
        raise EncoderModelError(
            f"no {modality} encoder in {models_dir / MANIFEST_NAME}; "
            "train one with tools/train_encoders.py"
        )
    path = models_dir / entry["file"]
    if not path.is_file():
        raise EncoderModelError(f"{modality} encoder file {path} is missing")
    if sha256_of(path) != entry["sha256"]:
        raise EncoderModelError(
            f"{path} does not match the manifest's hash for {entry['version']}: a changed "
            "model needs a new version (retrain or re-export with tools/train_encoders.py)"
        )
    if modality == "audio" and entry.get("preprocess") != audio_frontend():
        raise EncoderModelError(
            f"{entry['version']} was trained with another log-mel front end "
            f"({entry.get('preprocess')}) than this code's ({audio_frontend()})"
        )
    return EncoderInfo(modality=modality, version=entry["version"], path=path, entry=entry)


class EncoderRuntime:
    """One modality's encoder in onnxruntime: `encode(raw) -> (dim,) float32`.

    raw per modality: vision an (H, W, 3) uint8 RGB frame; audio the int16 samples that
    arrived since the last call (or None), fed into the 1 s log-mel stream this object
    keeps; touch a `TouchReading` or 4 pressures in newtons (TOUCH_PADS order); proprio a
    `JointReading` or 10 values (positions then velocities, JOINTS order).
    """

    def __init__(
        self,
        modality: str,
        models_dir: Path | None = None,
        threads: int = 1,
        onnx_path: Path | None = None,
    ) -> None:
        """onnx_path: run that file instead of the shipped one (tests, a fresh export);
        its version then reads `<modality>-unversioned`."""
        if onnx_path is None:
            info = encoder_info(modality, models_dir)
            self.version, path, entry = info.version, info.path, info.entry
        else:
            if modality not in EMBEDDING_DIMS:
                raise ValueError(f"unknown modality {modality!r}")
            self.version, path, entry = f"{modality}-unversioned", Path(onnx_path), {}
        self.modality = modality
        self.dim = EMBEDDING_DIMS[modality]
        options = ort.SessionOptions()
        # One thread: the sensor nodes share a loaded 2-core machine with the brain's step.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._check_graph(path)
        self._stream = LogMelStream() if modality == "audio" else None
        self._scaling = (
            ProprioScaling(**entry["preprocess"])
            if modality == "proprio" and "preprocess" in entry
            else None
        )
        self._full_scale_n = float(
            entry.get("preprocess", {}).get("full_scale_n", preprocess.TOUCH_FULL_SCALE_N)
        )

    def _check_graph(self, path: Path) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        expected = list(input_shape(self.modality))
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].shape[1:] != expected:
            found = [(i.name, i.shape) for i in inputs]
            raise EncoderModelError(
                f"{path}: expected input {INPUT_NAME} (B, *{expected}), got {found}"
            )
        if len(outputs) != 1 or outputs[0].shape[1:] != [self.dim]:
            raise EncoderModelError(
                f"{path}: expected one (B, {self.dim}) output, got {[o.shape for o in outputs]}"
            )

    def feed(self, samples: np.ndarray, sample_rate: int = preprocess.SAMPLE_RATE) -> None:
        """Audio only: add microphone samples (16 kHz mono int16) to the last-second stream."""
        if self._stream is None:
            raise TypeError(f"feed() is for audio; the {self.modality} encoder takes encode(raw)")
        self._stream.push(samples, sample_rate)

    def reset(self) -> None:
        """Audio: forget what was heard. Other modalities keep no state."""
        if self._stream is not None:
            self._stream.reset()

    def prepare(self, raw: Any) -> np.ndarray:
        """Raw sensor data -> this encoder's input (see the class docstring)."""
        if self.modality == "vision":
            return prepare_image(raw)
        if self.modality == "audio":
            if raw is not None:
                self.feed(raw)
            return self._stream.current()
        if self.modality == "touch":
            return prepare_touch(raw, self._full_scale_n)
        if self._scaling is None:
            raise EncoderModelError(f"{self.version} has no proprio scaling in its manifest")
        return prepare_proprio(raw, self._scaling)

    def encode(self, raw: Any = None) -> np.ndarray:
        """This tick's embedding, (dim,) float32 (a fresh array, the caller's to keep)."""
        if raw is None and self.modality != "audio":
            raise SenseInputError(f"the {self.modality} encoder needs an input")
        return self.encode_prepared(self.prepare(raw)[None])[0]

    def encode_prepared(self, batch: np.ndarray) -> np.ndarray:
        """(B, *input_shape) prepared inputs -> (B, dim) float32 (tests, bulk re-encoding)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        shape = input_shape(self.modality)
        if batch.shape[1:] != shape:
            expected = ", ".join(["B", *map(str, shape)])
            raise SenseInputError(f"{self.modality} batch must be ({expected}), got {batch.shape}")
        (out,) = self._session.run(None, {INPUT_NAME: batch})
        return out
