"""A bag cut short is read up to its last complete chunk and says how much that is; a
file that is not a bag is refused with a typed error, and the command says so in a line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mcap.records import Chunk, MessageIndex
from mcap.stream_reader import StreamReader

from helpers_daylog import make_row, mcap_of, truncated_copy
from nemuri.bags import CorruptBag, NotABag, open_bag
from test_bag_read import N, split_bag, stamp, write_day


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("days"))


def chunks(mcap: Path) -> list[tuple[int, int]]:
    """(end offset, messages in the file up to there) of every chunk, in file order.

    Read with the mcap library's own record reader: each chunk is followed by its message
    index records, one per channel, listing the messages it holds.
    """
    ends: list[tuple[int, int]] = []
    total = 0
    with mcap.open("rb") as f:
        for record in StreamReader(f, emit_chunks=True).records:
            if isinstance(record, Chunk):
                ends.append((f.tell(), total))
            elif isinstance(record, MessageIndex):
                total += len(record.records)
                ends[-1] = (ends[-1][0], total)
    return ends


def test_a_truncated_bag_keeps_every_complete_chunk_and_says_how_much(
    day: Path, tmp_path: Path
) -> None:
    source = mcap_of(day)
    size = source.stat().st_size
    ends = chunks(source)
    assert len(ends) >= 10  # a chunk a second
    whole = list(open_bag(day).messages())
    offsets = sorted({0, 5, 8, ends[0][0] - 1, ends[0][0], ends[4][0] + 3, ends[-1][0], size - 1})
    offsets += [int(x) for x in np.random.default_rng(3).integers(8, size, 6)]
    for k, offset in enumerate(offsets):
        expected = max([n for end, n in ends if end <= offset], default=0)
        bag = open_bag(truncated_copy(day, tmp_path / f"cut{k}", offset, with_metadata=k % 2 == 1))
        assert bag.recovered, offset
        assert bag.message_count == expected, offset
        assert [(m.topic, m.log_time_ns, m.data) for m in bag.messages()] == [
            (m.topic, m.log_time_ns, m.data) for m in whole[:expected]
        ]
        # Cut before the first chunk, not even the topic is known; from then on the rows.
        assert bag.is_day_log == (expected > 0), offset
        rows = list(bag.tick_rows()) if expected else []
        assert rows == [make_row(r.tick, stamp(r.tick)) for r in rows]
        assert [r.tick for r in rows] == list(range(len(rows)))
        note = bag.recovery_note()
        assert note is not None
        assert note.startswith(f"recovered {expected} messages covering "), note
        if offset >= 8:  # the file's size and how much of it was whole, in bytes
            assert f" of {offset} bytes; " in note, note
        if k % 2 == 1:  # metadata.yaml says how many there were
            assert f"{expected} of {N + N // 10} messages kept" in note, note
        else:
            assert "no metadata.yaml" in note
        assert not any(p.name.endswith((".tmp", ".recovering")) for p in bag.path.iterdir())
        assert mcap_of(bag.path).stat().st_size == offset  # read, never rewritten


def test_a_bag_without_metadata_yaml_is_read_whole_and_says_so(day: Path, tmp_path: Path) -> None:
    shutil.copytree(day, tmp_path / "bag")
    (tmp_path / "bag" / "metadata.yaml").unlink()
    bag = open_bag(tmp_path / "bag")
    assert bag.recovered and bag.message_count == N + N // 10
    note = bag.recovery_note() or ""
    assert "no metadata.yaml" in note and "bytes dropped" not in note
    assert len(list(bag.tick_rows())) == N


def test_an_empty_file_is_an_empty_recovered_bag(tmp_path: Path) -> None:
    (tmp_path / "bag_0.mcap").write_bytes(b"")
    bag = open_bag(tmp_path)
    assert bag.recovered and bag.message_count == 0 and bag.topics == {}
    assert (bag.recovery_note() or "").startswith("recovered 0 messages")


def test_a_split_bag_cut_in_its_second_file_keeps_the_first_whole(tmp_path: Path) -> None:
    path = split_bag(tmp_path)
    second = path / "split_1.mcap"
    second.write_bytes(second.read_bytes()[: second.stat().st_size // 2])
    bag = open_bag(path)
    assert bag.recovered and [f.complete for f in bag.files] == [True, False]
    assert bag.files[0].messages == 20 and bag.message_count == 20 + bag.files[1].messages
    assert "split_1.mcap: " in (bag.recovery_note() or "")
    assert " of 14 messages kept" in (bag.recovery_note() or "")


def test_a_file_the_metadata_does_not_list_is_read_as_well(tmp_path: Path) -> None:
    """A recorder that split and died before writing metadata.yaml again."""
    path = split_bag(tmp_path)
    shutil.copy(path / "split_1.mcap", path / "split_2.mcap")
    bag = open_bag(path)
    assert [f.path.name for f in bag.files] == ["split.mcap", "split_1.mcap", "split_2.mcap"]
    assert bag.recovered and bag.message_count == 48
    assert "split_2.mcap is not listed in metadata.yaml" in (bag.recovery_note() or "")


# -- refused ----------------------------------------------------------------------------
def test_a_garbage_file_is_not_a_bag(tmp_path: Path) -> None:
    (tmp_path / "noise.mcap").write_bytes(os.urandom(5000))
    for path in (tmp_path, tmp_path / "noise.mcap"):
        with pytest.raises(NotABag, match="is not an MCAP file"):
            open_bag(path)


def test_paths_that_hold_no_bag_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotABag, match="does not exist"):
        open_bag(tmp_path / "nothing")
    with pytest.raises(NotABag, match=r"no metadata\.yaml and no \.mcap file"):
        open_bag(tmp_path)


def test_damage_inside_a_finished_file_is_corruption_not_a_crash(day: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(day, bag)
    ends = chunks(mcap_of(bag))
    data = bytearray(mcap_of(bag).read_bytes())
    data[ends[3][0] - 40] ^= 0xFF
    mcap_of(bag).write_bytes(bytes(data))
    with pytest.raises(CorruptBag, match=rf"damaged at byte .*; {ends[2][1]} messages before"):
        open_bag(bag)


def test_bad_metadata_is_refused(day: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    shutil.copytree(day, bag)
    meta = bag / "metadata.yaml"
    good = meta.read_text()
    meta.write_text("{{{ not yaml")
    with pytest.raises(CorruptBag, match="not a rosbag2 metadata file"):
        open_bag(bag)
    doc = yaml.safe_load(good)
    doc["rosbag2_bagfile_information"]["storage_identifier"] = "sqlite3"
    meta.write_text(yaml.safe_dump(doc))
    with pytest.raises(NotABag, match="'sqlite3' bag; nemuri reads MCAP bags"):
        open_bag(bag)
    doc["rosbag2_bagfile_information"]["storage_identifier"] = "mcap"
    doc["rosbag2_bagfile_information"]["relative_file_paths"].append("gone_1.mcap")
    meta.write_text(yaml.safe_dump(doc))
    with pytest.raises(CorruptBag, match=r"lists gone_1\.mcap, which is missing"):
        open_bag(bag)


# -- the command --------------------------------------------------------------------------
def nemuri(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nemuri.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_refuses_garbage_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "noise.mcap").write_bytes(os.urandom(5000))
    for command in ("info", "export"):
        done = nemuri("bag", command, str(tmp_path / "noise.mcap"))
        assert done.returncode == 1, done
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"nemuri bag {command}: ") and "is not an MCAP file" in line


def test_the_command_reads_a_cut_bag_and_says_how_much(day: Path, tmp_path: Path) -> None:
    ends = chunks(mcap_of(day))
    bag = truncated_copy(day, tmp_path / "cut", ends[5][0] + 10, with_metadata=False)
    done = nemuri("bag", "info", str(bag))
    assert done.returncode == 0, done.stderr
    assert f"Messages:          {ends[5][1]}\n" in done.stdout
    assert "Recovered:         recovered" in done.stdout
    (line,) = done.stderr.splitlines()
    assert line == (
        f"nemuri bag info: the bag was cut short; recovered {ends[5][1]} messages covering "
        f"{(open_bag(bag).end_ns - stamp(0)) / 1e9:.1f} s, up to the last complete chunk"
    )
