"""Brain checkpoints: versions, round trip, atomic writes, corruption found on load."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nemuri.brain import checkpoint
from nemuri.brain.checkpoint import (
    CheckpointError,
    ensure_brain,
    latest,
    load,
    newborn,
    read_config,
    save,
    versions,
)
from nemuri.brain.model import Brain, BrainConfig
from nemuri.brain.runtime import OnnxRuntime, TickInput, TorchRuntime

torch.set_num_threads(1)

SMALL = BrainConfig(d_model=32, n_layer=2, n_head=2, capacity=16)


def tick(config: BrainConfig) -> TickInput:
    rng = np.random.default_rng(0)
    return TickInput(
        embeddings=rng.standard_normal(config.embedding_total).astype(np.float32),
        present=np.ones(config.n_modalities, np.float32),
        heard_word=3,
        prev_motor=np.zeros(config.n_joints, np.float32),
        prev_spoken=0,
        drowsiness=np.zeros(config.n_drowsy, np.float32),
    )


def sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def same_weights(a: Brain, b: Brain) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def trained(brain: Brain) -> Brain:
    """A brain whose weights moved away from the ones it was born with."""
    with torch.no_grad():
        for p in brain.parameters():
            p.add_(0.01)
    return brain


def test_newborn_is_version_zero_with_every_file(tmp_path):
    ckpt = newborn(tmp_path, seed=3, config=SMALL)
    assert ckpt.path == tmp_path / "v0000"
    assert {p.name for p in ckpt.path.iterdir()} == {
        "weights.safetensors",
        "config.json",
        "manifest.json",
        "step.onnx",
    }
    m = ckpt.manifest
    assert (m["version"], m["parent"], m["seed"]) == (0, None, 3)
    assert m["age"] == {"nights": 0, "ticks_seen": 0}
    assert read_config(ckpt.path) == SMALL
    # A second call finds it rather than making another.
    assert newborn(tmp_path, seed=3, config=SMALL).manifest == m
    assert versions(tmp_path) == [0]


def test_saving_leaves_the_callers_brain_and_rng_as_they_were(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    newborn(tmp_path, seed=0, config=SMALL)
    assert torch.equal(torch.rand(3), expected)
    brain = Brain(SMALL).train()
    save(tmp_path, brain, parent=0, nights=1, ticks_seen=1)
    assert brain.training


def test_newborn_weights_come_from_the_seed(tmp_path):
    a, _ = load(newborn(tmp_path / "a", seed=5, config=SMALL).path)
    b, _ = load(newborn(tmp_path / "b", seed=5, config=SMALL).path)
    c, _ = load(newborn(tmp_path / "c", seed=6, config=SMALL).path)
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_round_trip_keeps_weights_manifest_and_a_working_step(tmp_path):
    parent = newborn(tmp_path, config=SMALL)
    brain, _ = load(parent.path)
    brain = trained(brain)
    extra = {"days": ["day-001"], "learning_rate": 3e-4, "metrics": {"word": 0.9}}
    saved = save(tmp_path, brain, parent=parent.version, nights=1, ticks_seen=3000, extra=extra)
    assert saved.path == tmp_path / "v0001"
    assert latest(tmp_path).version == 1

    loaded, manifest = load(saved.path)
    assert same_weights(loaded, brain)
    assert not loaded.training
    assert manifest["parent"] == 0
    assert manifest["age"] == {"nights": 1, "ticks_seen": 3000}
    assert {k: manifest[k] for k in extra} == extra

    # The saved ONNX step is the saved brain's step.
    x = tick(SMALL)
    a = OnnxRuntime(saved.onnx_path, saved.config).step(x)
    b = TorchRuntime(loaded).step(x)
    assert np.abs(a.word_logits - b.word_logits).max() <= 1e-5


def test_reserved_manifest_fields_cannot_be_overwritten(tmp_path):
    brain = Brain(SMALL)
    with pytest.raises(ValueError, match="reserved"):
        save(tmp_path, brain, parent=None, nights=0, ticks_seen=0, extra={"version": 7})
    assert versions(tmp_path) == []


def test_ensure_brain_makes_the_default_newborn_once(tmp_path):
    first = ensure_brain(tmp_path)
    assert first == tmp_path / "v0000"
    brain, _ = load(first)
    assert brain.config == BrainConfig()
    save(tmp_path, brain, parent=0, nights=1, ticks_seen=10)
    assert ensure_brain(tmp_path) == tmp_path / "v0001"


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    newborn(tmp_path, config=SMALL)

    def crash(*args: object) -> None:
        raise RuntimeError("export failed")

    monkeypatch.setattr(checkpoint, "export_step", crash)
    with pytest.raises(RuntimeError, match="export failed"):
        save(tmp_path, Brain(SMALL), parent=0, nights=1, ticks_seen=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v0000"]
    assert latest(tmp_path).version == 0


KILLED_WRITER = """
import sys, time
from pathlib import Path
from nemuri.brain import checkpoint
from nemuri.brain.model import Brain, BrainConfig

def hang(brain, path):
    Path(path).write_bytes(b"half an onnx file")
    print("writing", flush=True)
    time.sleep(60)

checkpoint.export_step = hang
config = BrainConfig(d_model=32, n_layer=2, n_head=2, capacity=16)
checkpoint.save(Path(sys.argv[1]), Brain(config), parent=0, nights=1, ticks_seen=1)
"""


def test_a_write_killed_midway_leaves_the_last_good_version(tmp_path):
    good = newborn(tmp_path, config=SMALL)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert writer.stdout.readline() == b"writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-v0001")]
    assert len(leftovers) == 1 and (leftovers[0] / "weights.safetensors").exists()

    found = latest(tmp_path)
    assert found.version == 0
    brain, _ = load(found.path)
    assert same_weights(brain, load(good.path)[0])
    # The next write is not disturbed by the leftover.
    assert save(tmp_path, brain, parent=0, nights=1, ticks_seen=1).version == 1
    assert versions(tmp_path) == [0, 1]


def test_corrupt_weights_are_refused(tmp_path):
    path = newborn(tmp_path, config=SMALL).path
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the tensor data
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights\.safetensors is corrupt"):
        load(path)


def test_unreadable_weights_are_refused_even_when_the_hash_matches(tmp_path):
    path = newborn(tmp_path, config=SMALL).path
    (path / "weights.safetensors").write_bytes(b"not safetensors at all")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"] = sha256(path / "weights.safetensors")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="not readable safetensors"):
        load(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("config.json", None, r"config\.json is missing"),
        ("manifest.json", None, r"manifest\.json is missing"),
        ("step.onnx", None, r"step\.onnx is missing"),
        ("manifest.json", b"{not json", "not valid JSON"),
        ("manifest.json", b'{"version": 0}', "lacks"),
    ],
)
def test_missing_or_broken_files_are_refused(tmp_path, name, content, message):
    path = newborn(tmp_path, config=SMALL).path
    if content is None:
        (path / name).unlink()
    else:
        (path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_a_config_that_does_not_fit_the_weights_is_refused(tmp_path):
    path = newborn(tmp_path, config=SMALL).path
    config = {**SMALL.to_dict(), "d_model": 64}
    (path / "config.json").write_text(json.dumps(config))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["config.json"] = sha256(path / "config.json")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="does not fit"):
        load(path)


def test_temp_directories_are_not_versions(tmp_path):
    newborn(tmp_path, config=SMALL)
    (tmp_path / ".tmp-v0001-abc").mkdir()
    (tmp_path / "notes").mkdir()
    assert versions(tmp_path) == [0]
    assert latest(tmp_path).version == 0
    assert latest(tmp_path / "nowhere") is None
