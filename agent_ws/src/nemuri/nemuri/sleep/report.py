"""The night's dream, told: what the new brain dreamt of today, in words and pictures.

After a night the new brain dreams from moments of the day it slept on (dreams.py). What
it dreamt is named from what it met awake that day:

- an *object* is named when a dreamt vision embedding lies close (cosine >= `similarity`)
  to a vision embedding seen awake at a tick that carried a heard word, the lesson's name
  for what was in view: the dream "saw" it;
- a *word* is named when the dream's predicted word (argmax over the vocabulary) is a word,
  not silence: the dream "heard" it.

Only what appears on at least `min_ticks` dreamt ticks counts, so one stray tick near a
threshold is not a dream. The picture strip shows, for each object named, the day's
stored thumbnail (the 32x32 camera picture the day log keeps once a second, topic
/nemuri/thumbnail) nearest in time to the awake tick it matched. A day log without
thumbnails gives no strip (strip_path None), never a made-up picture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from nemuri.brain.model import Brain
from nemuri.contracts import MODALITIES
from nemuri.memory.storage import McapStream
from nemuri.sleep.dataset import Day
from nemuri.sleep.dreams import DreamConfig, dream
from nemuri.vocabulary import SILENCE, UNKNOWN, load_vocabulary

THUMBNAIL_TOPIC = "/nemuri/thumbnail"
IMAGE = "sensor_msgs/msg/Image"
VISION = MODALITIES.index("vision")


@dataclass(frozen=True)
class ReportConfig:
    """How the night's dream is dreamt and named."""

    rollouts: int = 8  # dreams, seeded from moments spread over the day
    seed_ticks: int = 16
    dream_ticks: int = 64
    similarity: float = 0.8  # cosine to an awake sight for the dream to have "seen" it
    min_ticks: int = 3  # dreamt ticks an object or word needs to be named
    strip_tiles: int = 8
    tile_scale: int = 3  # thumbnails are magnified this many times in the strip


@dataclass(frozen=True)
class DreamReport:
    """The answer to "what did you dream?"."""

    words: list[str]  # heard in the dreams, most frequent first
    objects: list[str]  # seen in the dreams, named by their lesson word, most frequent first
    text: str  # "I dreamt of ..."
    strip_path: Path | None  # PNG of the nearest stored thumbnails; None without thumbnails

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["strip_path"] = None if self.strip_path is None else str(self.strip_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DreamReport:
        strip = d.get("strip_path")
        return cls(list(d["words"]), list(d["objects"]), d["text"], strip and Path(strip))


@dataclass(frozen=True)
class Sight:
    """A vision embedding seen awake at a tick that carried a word."""

    embedding: np.ndarray  # (vision dim,) unit length
    word: str
    day: int  # index into the days given
    stamp_ns: int


def sights(days: Sequence[Day], dims: Sequence[int]) -> list[Sight]:
    """Every awake tick that heard a word and saw something: the names dreams can earn."""
    vocab = load_vocabulary()
    lo, hi = _vision_slice(dims)
    found = []
    for d, day in enumerate(days):
        seg = day.segment
        for t in np.flatnonzero(seg.present[:, VISION] > 0.5):
            word = vocab.word(int(seg.heard_word[t]))
            if word in (SILENCE, UNKNOWN):
                continue
            found.append(Sight(_unit(seg.embeddings[t, lo:hi]), word, d, int(day.stamps_ns[t])))
    return found


def tell(
    brain: Brain,
    days: Sequence[Day],
    out_dir: Path,
    config: ReportConfig | None = None,
    seed: int = 0,
) -> DreamReport:
    """Dream from moments of `days` with `brain` and say what appeared; strip into out_dir."""
    config = config or ReportConfig()
    vocab = load_vocabulary()
    seeds = []
    all_ticks = [(d, t) for d, day in enumerate(days) for t in range(day.ticks)]
    for k in range(config.rollouts):
        d, end = all_ticks[(2 * k + 1) * len(all_ticks) // (2 * config.rollouts)]
        begin = max(0, end + 1 - config.seed_ticks)
        seeds.append(days[d].segment.window(begin, end + 1 - begin))
    dream_config = DreamConfig(seed_ticks=config.seed_ticks, dream_ticks=config.dream_ticks)
    rng = np.random.default_rng(seed)
    dreams = [dream(brain, s, dream_config, rng) for s in seeds]

    known = sights(days, brain.config.embedding_dims)
    gallery = np.stack([s.embedding for s in known]) if known else np.zeros((0, 1))
    lo, hi = _vision_slice(brain.config.embedding_dims)
    seen: Counter[str] = Counter()
    best: dict[str, tuple[float, Sight]] = {}
    heard: Counter[str] = Counter()
    for dreamt in dreams:
        rows = dreamt.segment
        for t in range(dreamt.seed_ticks, len(rows)):
            if known and rows.present[t, VISION] > 0.5:
                sims = gallery @ _unit(rows.embeddings[t, lo:hi])
                i = int(np.argmax(sims))
                if sims[i] >= config.similarity:
                    seen[known[i].word] += 1
                    if sims[i] > best.get(known[i].word, (-2.0, known[i]))[0]:
                        best[known[i].word] = (float(sims[i]), known[i])
        for word_id in dreamt.words:
            word = vocab.word(word_id)
            if word not in (SILENCE, UNKNOWN):
                heard[word] += 1
    objects = [w for w, n in seen.most_common() if n >= config.min_ticks]
    words = [w for w, n in heard.most_common() if n >= config.min_ticks]
    strip = _strip(
        [best[w][1] for w in objects[: config.strip_tiles]], days, out_dir / "dream.png", config
    )
    return DreamReport(words, objects, _sentence(objects, words), strip)


def _sentence(objects: list[str], words: list[str]) -> str:
    if not objects and not words:
        return "I don't remember dreaming of anything."
    text = f"I dreamt of {_join(objects)}." if objects else ""
    others = [w for w in words if w not in objects]
    if others:
        quoted = _join([f'"{w}"' for w in others])
        text += f" I heard {quoted}." if objects else f"I dreamt I heard {quoted}."
    return text.strip()


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _vision_slice(dims: Sequence[int]) -> tuple[int, int]:
    """Where vision sits in the concatenated embeddings (MODALITIES order)."""
    lo = sum(dims[:VISION])
    return lo, lo + dims[VISION]


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / max(float(np.linalg.norm(v)), 1e-12)


# -- thumbnails -------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _typestore() -> Typestore:
    return get_typestore(Stores.ROS2_KILTED)


def read_thumbnails(mcap_path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """The day's thumbnails: stamps (n,) int64 and (h, w, 3) uint8 RGB pictures.

    Reads as far as the file is whole, like the day log itself; a picture in another
    encoding than rgb8/bgr8 is skipped, not guessed at.
    """
    stamps, pictures = [], []
    for channel, message in McapStream(Path(mcap_path)).messages():
        if channel.topic != THUMBNAIL_TOPIC:
            continue
        try:
            img = _typestore().deserialize_cdr(bytes(message.data), IMAGE)
        except Exception:  # a damaged picture costs that picture, never the report
            continue
        if img.encoding not in ("rgb8", "bgr8") or img.step != 3 * img.width:
            continue
        rgb = np.asarray(img.data, np.uint8).reshape(img.height, img.width, 3)
        pictures.append(rgb[..., ::-1] if img.encoding == "bgr8" else rgb)
        stamps.append(message.log_time)
    return np.array(stamps, np.int64), pictures


def _strip(
    matches: list[Sight], days: Sequence[Day], path: Path, config: ReportConfig
) -> Path | None:
    """A row of the thumbnails nearest in time to each matched sight; None without any."""
    cache: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
    tiles = []
    for sight in matches:
        if sight.day not in cache:
            cache[sight.day] = read_thumbnails(days[sight.day].mcap_path)
        stamps, pictures = cache[sight.day]
        if len(pictures):
            tiles.append(pictures[int(np.argmin(np.abs(stamps - sight.stamp_ns)))])
    if not tiles:
        return None
    from nemuri.worlds.snapshot import write_png  # the project's PNG writer

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_png(path, _row(tiles, config.tile_scale))


def _row(tiles: list[np.ndarray], scale: int, gutter: int = 2) -> np.ndarray:
    """Tiles side by side, magnified `scale` times, on white with `gutter`-pixel gaps."""
    h = max(t.shape[0] for t in tiles) * scale
    w = max(t.shape[1] for t in tiles) * scale
    strip = np.full((h + 2 * gutter, len(tiles) * (w + gutter) + gutter, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        big = tile.repeat(scale, axis=0).repeat(scale, axis=1)
        x = gutter + i * (w + gutter)
        strip[gutter : gutter + big.shape[0], x : x + big.shape[1]] = big
    return strip
