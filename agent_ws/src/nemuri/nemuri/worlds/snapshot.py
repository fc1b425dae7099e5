"""PNGs of the built-in world, for the README and for a quick look (`nemuri world snapshot`).

Writes three files: what the robot's camera sees with an object shown in front of it (raw
size), an outside view of the scene, and a sheet of every configured object as the robot
sees it, one tile each. The PNG encoder is ours (zlib + struct, a dozen lines) because the
venv has no image library and pulling one in for three files is not worth a dependency.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig

_SETTLE_TICKS = 3  # let the servos settle into the rest pose before the pictures


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image as a PNG file; returns the path."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) uint8, got {image.shape} {image.dtype}")
    height, width, _ = image.shape
    # Each scanline starts with filter type 0 (none).
    raw = np.hstack([np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)])

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path = Path(path)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + chunk(b"IEND", b"")
    )
    return path


def snapshot(
    out_dir: Path, config: WorldConfig | None = None, seed: int = 0, scale: int = 3
) -> list[Path]:
    """Write camera.png, scene.png and objects.png into out_dir; returns their paths.

    The first configured object is shown at the default spot in front of the robot.
    objects.png magnifies each camera tile `scale` times (nearest neighbour) so the 96x96
    frames stay legible beside the scene.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = MujocoWorld(config)
    try:
        world.reset(seed)
        names = [spec.name for spec in world.objects()]
        tiles = []
        for name in names:
            world.show(name)
            for _ in range(_SETTLE_TICKS):
                world.step(None)
            tiles.append(world.render_camera())
            world.hide(name)
        world.show(names[0])
        for _ in range(_SETTLE_TICKS):
            world.step(None)
        paths = [
            write_png(out / "camera.png", world.render_camera()),
            write_png(out / "scene.png", world.render_scene(640, 480)),
            write_png(out / "objects.png", _sheet(tiles, scale)),
        ]
    finally:
        world.close()
    return paths


def _sheet(tiles: list[np.ndarray], scale: int, columns: int = 4) -> np.ndarray:
    """Tiles in a grid of `columns`, each magnified `scale` times, 2-pixel white gutters."""
    height, width, _ = tiles[0].shape
    rows = -(-len(tiles) // columns)
    gutter = 2
    cell_h, cell_w = height * scale + gutter, width * scale + gutter
    sheet = np.full((rows * cell_h + gutter, columns * cell_w + gutter, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        big = tile.repeat(scale, axis=0).repeat(scale, axis=1)
        y, x = gutter + r * cell_h, gutter + c * cell_w
        sheet[y : y + height * scale, x : x + width * scale] = big
    return sheet
