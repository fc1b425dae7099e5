"""`nemuri bag export`: a day's TickRecords as plain numpy arrays, matching the bag.

The export is checked record by record against the bag as the independent `mcap`
library with its ROS 2 decoder reads it, so a mistake shared by nemuri's writer and its
reader would still show.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from nemuri.bags import KEYS, TICK_TOPIC, export_day, open_bag
from nemuri.cli import main
from nemuri.contracts import DROWSINESS_FEATURES, EMBEDDING_DIMS, JOINTS, MODALITIES
from nemuri.vocabulary import load_vocabulary
from test_bag_read import N, write_day, write_rosbags_bag

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("days"))


@pytest.fixture(scope="module")
def exported(day: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("out") / "day.npz"
    done = export_day(open_bag(day), out)
    assert (done.path, done.ticks, done.recovery_note) == (out, N, None)
    with np.load(out, allow_pickle=False) as npz:  # plain arrays: no pickle needed
        return {key: npz[key] for key in npz.files}


def decoded_records(day: Path) -> list:
    (mcap,) = day.glob("*.mcap")
    with mcap.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        return [msg for _, _, _, msg in reader.iter_decoded_messages(topics=[TICK_TOPIC])]


def ns(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


def test_the_arrays_match_the_bag_record_by_record(
    day: Path, exported: dict[str, np.ndarray]
) -> None:
    a = exported
    vocab = load_vocabulary()
    records = decoded_records(day)
    assert len(records) == N == len(a["tick"])
    assert a["modalities"].tolist() == list(MODALITIES)
    assert a["joint_names"].tolist() == list(JOINTS)
    assert a["drowsiness_features"].tolist() == list(DROWSINESS_FEATURES)
    assert a["vocabulary"].tolist() == list(vocab.words)
    seen = {"absent": 0, "stale": 0, "no motor": 0}
    for i, msg in enumerate(records):
        assert a["tick"][i] == msg.tick and a["stamp_ns"][i] == ns(msg.header.stamp)
        for m, emb in enumerate(msg.embeddings):
            row = a[f"{MODALITIES[m]}_embedding"][i]
            data = np.asarray(emb.data, np.float32)
            if data.size == 0:
                assert np.isnan(row).all()
                seen["absent"] += 1
            else:
                assert np.array_equal(row, data)
                seen["stale"] += not msg.present[m]
            assert a["present"][i, m] == bool(msg.present[m])
            assert a["encoder_version"][i, m] == emb.encoder_version
            assert a["embedding_stamp_ns"][i, m] == ns(emb.header.stamp)
            assert a["embedding_tick"][i, m] == emb.tick
        assert a["heard_word"][i] == msg.heard_word
        assert a["heard_word_id"][i] == vocab.id(msg.heard_word)
        assert a["spoken_word"][i] == msg.spoken_word
        assert a["spoken_word_id"][i] == vocab.id(msg.spoken_word)
        for key, width in (
            ("joint_position", len(JOINTS)),
            ("joint_velocity", len(JOINTS)),
            ("motor_velocity", len(JOINTS)),
            ("drowsiness", len(DROWSINESS_FEATURES)),
        ):
            values = np.asarray(getattr(msg, key), np.float32)
            if values.size == 0:
                assert np.isnan(a[key][i]).all() and a[key].shape[1] == width
                seen["no motor"] += key == "motor_velocity"
            else:
                assert np.array_equal(a[key][i], values)
        assert a["step_latency_ms"][i] == np.float32(msg.step_latency_ms)
        assert a["missed"][i] == bool(msg.missed)
        assert a["brain_version"][i] == msg.brain_version
    assert all(seen.values()), seen  # the day really had every kind of gap


def test_every_key_is_there_with_the_documented_shape_and_type(
    exported: dict[str, np.ndarray],
) -> None:
    assert list(exported) == list(KEYS)
    sizes = {"T": N, "M": len(MODALITIES), "J": len(JOINTS), "F": len(DROWSINESS_FEATURES)}
    sizes["V"] = len(load_vocabulary())
    for key, doc in KEYS.items():
        shape_text, dtype = re.match(r"\(([^)]*)\) (\w+)", doc).groups()
        shape = tuple(
            sizes[d] if d in sizes else int(d) for d in shape_text.replace(" ", "").split(",") if d
        )
        assert exported[key].shape == shape, key
        assert exported[key].dtype.kind == {"str": "U", "bool": "b"}.get(
            dtype, np.dtype(dtype).kind
        )
        if dtype not in ("str", "bool"):
            assert exported[key].dtype == np.dtype(dtype), key
    for m in MODALITIES:
        assert exported[f"{m}_embedding"].shape == (N, EMBEDDING_DIMS[m])


def test_readme_documents_every_key() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Bags: info and export") :]
    section = section[: section.find("\n## ", 3)]
    missing = [key for key in KEYS if f"`{key}`" not in section]
    assert not missing, missing


# -- the command --------------------------------------------------------------------------
def test_the_command_writes_beside_you_and_never_overwrites_by_accident(
    day: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["bag", "export", str(day)]) == 0
    out = tmp_path / f"{day.name}.npz"
    assert capsys.readouterr().out == f"{out.name}: {N} ticks, {len(KEYS)} arrays\n"
    before = out.read_bytes()
    assert main(["bag", "export", str(day), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nemuri bag export: ") and "exists" in err and "--force" in err
    assert out.read_bytes() == before
    out.write_bytes(b"old")
    assert main(["bag", "export", str(day), "-o", str(out), "--force"]) == 0
    assert out.read_bytes() == before  # the same day gives the same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


def test_a_bag_that_is_no_day_log_is_refused_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rosbags_bag(tmp_path / "theirs", 0, 3)
    out = tmp_path / "x.npz"
    assert main(["bag", "export", str(tmp_path / "theirs"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "is not a day log: it has no /nemuri/tick_record topic" in err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_a_cut_day_exports_its_whole_ticks_and_says_so(
    day: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "cut"
    shutil.copytree(day, bag)
    (bag / "metadata.yaml").unlink()
    (mcap,) = bag.glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    out = tmp_path / "cut.npz"
    assert main(["bag", "export", str(bag), "-o", str(out)]) == 0
    ticks = open_bag(bag).topics[TICK_TOPIC].count
    assert 0 < ticks < N
    assert capsys.readouterr().err.startswith("nemuri bag export: the bag was cut short; recovered")
    with np.load(out) as npz:
        assert npz["tick"].tolist() == list(range(ticks))
