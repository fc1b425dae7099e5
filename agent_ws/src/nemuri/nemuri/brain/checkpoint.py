"""Versioned brain checkpoints: one directory per version, written atomically.

    <brains_dir>/v0000/   the newborn (random weights from a fixed seed)
    <brains_dir>/v0001/   after the first night, parent v0000
        weights.safetensors   the state dict
        config.json           BrainConfig.to_dict()
        manifest.json         version, parent, created, age, file hashes, sleep's fields
        step.onnx             Brain.step exported for onnxruntime

A version is written into a hidden temp directory beside the others, every file and the
directory fsynced, then renamed into place, so a kill at any moment leaves either the whole
version or none of it; temp directories left by a killed write are ignored. The manifest
records each file's SHA-256, so corruption is found when loading, not mid-day.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nemuri.brain.export import export_step
from nemuri.brain.model import Brain, BrainConfig

FORMAT = 1
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
MANIFEST = "manifest.json"
STEP_ONNX = "step.onnx"
FILES = (WEIGHTS, CONFIG, STEP_ONNX)  # hashed in the manifest, which is written last
# Manifest keys owned by this module; sleep's own fields may not overwrite them.
RESERVED = frozenset({"format", "version", "parent", "created", "age", "files"})
_VERSION_DIR = re.compile(r"^v(\d{4,})$")


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete or corrupt; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    """A version on disk: where it is and what its manifest says."""

    path: Path
    version: int
    manifest: dict[str, Any]

    @property
    def onnx_path(self) -> Path:
        return self.path / STEP_ONNX

    @property
    def config(self) -> BrainConfig:
        return read_config(self.path)


def version_name(version: int) -> str:
    return f"v{version:04d}"


def versions(brains_dir: Path) -> list[int]:
    """Version numbers present in brains_dir, ascending; temp directories are not versions."""
    if not brains_dir.is_dir():
        return []
    found = (_VERSION_DIR.match(p.name) for p in brains_dir.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def latest(brains_dir: Path) -> Checkpoint | None:
    """The highest version in brains_dir, or None when there is none yet."""
    found = versions(brains_dir)
    if not found:
        return None
    path = brains_dir / version_name(found[-1])
    return Checkpoint(path, found[-1], read_manifest(path))


def newborn(brains_dir: Path, seed: int = 0, config: BrainConfig | None = None) -> Checkpoint:
    """Version 0, random weights from `seed`, written when brains_dir holds no version yet.

    Returns the existing v0000 if there is one, so calling it twice is harmless; a
    directory with later versions but no v0000 is refused rather than silently reborn.
    """
    present = versions(brains_dir)
    if present:
        path = brains_dir / version_name(0)
        if present[0] != 0:
            raise CheckpointError(f"{brains_dir} has versions but no {path.name}: not newborn")
        return Checkpoint(path, 0, read_manifest(path))
    with torch.random.fork_rng():  # seeded here without disturbing the caller's RNG
        torch.manual_seed(seed)
        brain = Brain(config or BrainConfig())
    return save(brains_dir, brain, parent=None, nights=0, ticks_seen=0, extra={"seed": seed})


def ensure_brain(brains_dir: Path) -> Path:
    """Path of the latest version, making the newborn on the very first start."""
    found = latest(brains_dir)
    return (found or newborn(brains_dir)).path


def save(
    brains_dir: Path,
    brain: Brain,
    *,
    parent: int | None,
    nights: int,
    ticks_seen: int,
    extra: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """Write `brain` as the next version after the highest present, atomically.

    `extra` holds sleep's free-form manifest fields (days used, learning rate, metrics,
    dream, ...); they must be JSON-serialisable and may not reuse a reserved key.
    Raises FileExistsError if another writer took the same version number meanwhile.
    """
    extra = dict(extra or {})
    clash = RESERVED & extra.keys()
    if clash:
        raise ValueError(f"manifest fields {sorted(clash)} are reserved")
    brains_dir.mkdir(parents=True, exist_ok=True)
    present = versions(brains_dir)
    version = present[-1] + 1 if present else 0
    final = brains_dir / version_name(version)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=brains_dir))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the version from other users' processes
    try:
        save_file(brain.state_dict(), str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(brain.config.to_dict(), indent=2) + "\n")
        export_step(brain, tmp / STEP_ONNX)
        manifest = {
            "format": FORMAT,
            "version": version,
            "parent": parent,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "age": {"nights": nights, "ticks_seen": ticks_seen},
            "files": {name: _sha256(tmp / name) for name in FILES},
            **extra,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        for name in (*FILES, MANIFEST):
            _fsync(tmp / name)
        _fsync(tmp)
        try:
            os.rename(tmp, final)  # fails, rather than merges, if `final` appeared meanwhile
        except OSError as e:
            if final.exists():
                raise FileExistsError(f"{final} was written by another writer") from e
            raise
        _fsync(brains_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Checkpoint(final, version, manifest)


def load(path: Path) -> tuple[Brain, dict[str, Any]]:
    """The brain (in eval mode) and manifest of one version; CheckpointError if unusable.

    Every file's hash is checked against the manifest, step.onnx included, so a version
    that loads here is one the runtime can also use.
    """
    manifest = read_manifest(path)
    for name, expected in manifest["files"].items():
        _require(path / name)
        if _sha256(path / name) != expected:
            raise CheckpointError(
                f"{path / name} is corrupt: its SHA-256 differs from the manifest"
            )
    config = read_config(path)
    try:
        state = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path / WEIGHTS} is not readable safetensors: {e}") from e
    brain = Brain(config)
    try:
        brain.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path / WEIGHTS} does not fit {path / CONFIG}: {e}") from e
    return brain.eval(), manifest


def read_manifest(path: Path) -> dict[str, Any]:
    manifest = _read_json(path / MANIFEST)
    missing = RESERVED - manifest.keys()
    if missing:
        raise CheckpointError(f"{path / MANIFEST} lacks {sorted(missing)}")
    if manifest["format"] != FORMAT:
        raise CheckpointError(f"{path / MANIFEST} has format {manifest['format']}, not {FORMAT}")
    if not isinstance(manifest["files"], dict) or set(manifest["files"]) != set(FILES):
        raise CheckpointError(f"{path / MANIFEST} does not list the files {list(FILES)}")
    return manifest


def read_config(path: Path) -> BrainConfig:
    """The BrainConfig of a version, e.g. to open its step.onnx without loading torch weights."""
    try:
        return BrainConfig.from_dict(_read_json(path / CONFIG))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path / CONFIG} is not a valid BrainConfig: {e}") from e


def _read_json(file: Path) -> dict[str, Any]:
    _require(file)
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{file} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{file} does not hold a JSON object")
    return data


def _require(file: Path) -> None:
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with file.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file or a directory entry to disk, so a power cut cannot undo the rename."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
