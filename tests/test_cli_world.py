"""`nemuri world snapshot`: the PNGs the README links, written where asked, paths printed.

One test checks the wiring alone (arguments reach worlds.snapshot, its paths come out on
stdout) with snapshot replaced, so it runs on a machine without headless GL; one renders
for real and reads the PNG headers back; one checks a bad seed is refused by argparse
before MuJoCo is even imported.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from nemuri.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR, after checking the signature and the chunk CRC."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[12 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(body) == crc
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_arguments_reach_snapshot_and_its_paths_are_printed(
    tmp_path, monkeypatch, capsys
) -> None:
    import nemuri.worlds.mujoco_world as mujoco_world
    import nemuri.worlds.snapshot as snapshot_module

    calls = []

    def fake_snapshot(out_dir: Path, config: object = None, seed: int = 0) -> list[Path]:
        calls.append((out_dir, config, seed))
        return [out_dir / name for name in ("camera.png", "scene.png", "objects.png")]

    monkeypatch.setattr(snapshot_module, "snapshot", fake_snapshot)
    monkeypatch.setattr(mujoco_world, "rendering_available", lambda: True)
    assert main(["world", "snapshot", "--out", str(tmp_path / "pics"), "--seed", "7"]) == 0
    assert calls == [(tmp_path / "pics", None, 7)]
    out = capsys.readouterr().out
    assert out.splitlines() == [
        str(tmp_path / "pics" / name) for name in ("camera.png", "scene.png", "objects.png")
    ]


def test_without_headless_gl_it_says_so_and_fails(monkeypatch, capsys) -> None:
    import nemuri.worlds.mujoco_world as mujoco_world

    monkeypatch.setattr(mujoco_world, "rendering_available", lambda: False)
    assert main(["world", "snapshot"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no headless GL" in captured.err


@pytest.mark.parametrize(
    "argv",
    [["world", "snapshot", "--seed", "-1"], ["world", "snapshot", "--seed", "x"], ["world"]],
    ids=["negative-seed", "not-a-number", "no-subcommand"],
)
def test_bad_arguments_are_refused(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: nemuri world" in capsys.readouterr().err


def test_it_renders_three_pngs(tmp_path, capsys) -> None:
    from nemuri.worlds.mujoco_world import rendering_available

    if not rendering_available():
        pytest.skip("no headless GL (EGL/OSMesa) to render with")
    out = tmp_path / "new" / "folder"  # made if missing
    assert main(["world", "snapshot", "--out", str(out), "--seed", "3"]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == [out / "camera.png", out / "scene.png", out / "objects.png"]
    camera, scene, objects = (png_size(p) for p in printed)
    assert camera == (96, 96)  # the robot's eye at its raw size
    assert scene == (640, 480)
    assert objects[0] > 96 * 3 and objects[1] >= 96 * 3  # a sheet of magnified tiles
