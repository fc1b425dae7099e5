"""Recording throughput and drops: `nemuri record` against what a publisher sends.

Reported (asserts nothing about time):
  the bag writer alone (no ROS): 96x96 rgb8 images and embeddings written and flushed,
  messages/s and MB/s;
  `nemuri record` (a process of its own, as a user runs it) recording, while the default
  graph runs beside it (`nemuri up --mode processes`, unless --no-graph):
  - at 50 Hz for --seconds: a 96x96 rgb8 /camera/image_raw and the four embeddings, on
    their real QoS (best effort, as the sensors publish them): sent, recorded, dropped
    per topic [0 dropped];
  - flat out for --seconds: the same messages as fast as this process publishes them,
    recorded messages/s and MB/s per kind.

The publisher is a node in this process on topics of its own (/bench/...), so the graph's
own sensors do not mix into the counts; every message carries a sequence number (the
image's frame_id, the embedding's tick) and the bag is read back to count what arrived.

    .venv/bin/python bench/bag_io.py --quick       # ~1 min on 2 cores
    .venv/bin/python bench/bag_io.py --seconds 30
"""

from __future__ import annotations

import argparse
import array
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from nemuri.bags import BagWriter, TypeCatalog, open_bag
from nemuri.contracts import EMBEDDING_DIMS, MODALITIES
from nemuri.memory.metadata import RELIABLE_QOS
from nemuri.processes import interrupt

IMAGE_TOPIC = "/bench/camera/image_raw"
EMBEDDING_TOPICS = {m: f"/bench/embedding/{m}" for m in MODALITIES}
SIDE = 96


def writer_alone(n: int) -> None:
    """The writer's own ceiling: n images and 4n embeddings, flushed every second."""
    catalog = TypeCatalog()
    image = np.random.default_rng(0).integers(0, 256, SIDE * SIDE * 3 + 64, np.uint8).tobytes()
    embeddings = {m: bytes(4 * EMBEDDING_DIMS[m] + 64) for m in MODALITIES}
    with tempfile.TemporaryDirectory() as tmp:
        for label, items in (
            ("96x96 images", [(IMAGE_TOPIC, image)]),
            ("embeddings", [(EMBEDDING_TOPICS[m], embeddings[m]) for m in MODALITIES]),
        ):
            bag = Path(tmp) / label.replace(" ", "_")
            writer = BagWriter(bag)
            for topic, _ in items:
                writer.add_topic(topic, catalog.get("sensor_msgs/msg/Image"), [RELIABLE_QOS])
            start = time.perf_counter()
            total = 0
            for i in range(n):
                for topic, data in items:
                    writer.write(topic, i * 20_000_000, data)
                    total += len(data)
            writer.close()
            took = time.perf_counter() - start
            count = n * len(items)
            print(
                f"  writer alone, {label}: {count / took:,.0f} msg/s, "
                f"{total / took / 1e6:,.1f} MB/s ({count} messages in {took:.2f} s)"
            )


def start_graph(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nemuri.cli", "up", "--mode", "processes", "--no-status",
         "--set", f"core.data_dir={data_dir}", "--set", f"sleep.data_dir={data_dir}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def session(node, bag: Path, seconds: float, hz: float | None) -> dict[str, tuple[int, int, int]]:
    """Publish for `seconds` (at `hz`, or flat out when None) while `nemuri record` records.

    Returns topic -> (sent, recorded, recorded bytes).
    """
    from nemuri_msgs.msg import Embedding
    from sensor_msgs.msg import Image

    from nemuri.nodes import qos

    image_pub = node.create_publisher(Image, IMAGE_TOPIC, qos.SENSOR)
    emb_pubs = {
        m: node.create_publisher(Embedding, t, qos.EMBEDDING) for m, t in EMBEDDING_TOPICS.items()
    }
    topics = [IMAGE_TOPIC, *EMBEDDING_TOPICS.values()]
    recorder = subprocess.Popen(
        [sys.executable, "-m", "nemuri.cli", "record", "-o", str(bag), "--topics", *topics],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pubs = [image_pub, *emb_pubs.values()]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(p.get_subscription_count() for p in pubs):
        time.sleep(0.05)
    image = Image(height=SIDE, width=SIDE, encoding="rgb8", step=3 * SIDE)
    image.data = np.random.default_rng(1).integers(0, 256, SIDE * SIDE * 3, np.uint8).tobytes()
    embeddings = {}
    for m in MODALITIES:
        msg = Embedding(modality=MODALITIES.index(m), encoder_version="bench")
        msg.data = array.array("f", bytes(4 * EMBEDDING_DIMS[m]))
        embeddings[m] = msg
    sent = 0
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        image.header.frame_id = str(sent)
        image_pub.publish(image)
        for m, pub in emb_pubs.items():
            embeddings[m].tick = sent
            pub.publish(embeddings[m])
        sent += 1
        if hz is not None:
            time.sleep(max(0.0, start + sent / hz - time.monotonic()))
    time.sleep(2.0)  # what is in flight lands
    interrupt(recorder, 60)
    source = open_bag(bag)
    recorded: dict[str, list[int]] = {t: [0, 0] for t in topics}
    for msg in source.messages():
        recorded[msg.topic][0] += 1
        recorded[msg.topic][1] += len(msg.data)
    for pub in pubs:
        node.destroy_publisher(pub)
    return {t: (sent, n, size) for t, (n, size) in recorded.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="each recording's length")
    parser.add_argument("--quick", action="store_true", help="5 s recordings")
    parser.add_argument("--no-graph", action="store_true", help="record without the graph")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.seconds

    print("bag writer, no ROS:")
    writer_alone(500 if args.quick else 2000)

    import rclpy

    with tempfile.TemporaryDirectory() as tmp:
        graph = None if args.no_graph else start_graph(Path(tmp) / "data")
        if graph is not None:
            print("the default graph is starting beside the recorder (nemuri up)...")
            time.sleep(20.0)
        rclpy.init()
        node = rclpy.create_node("bag_io_bench")
        try:
            for label, hz in (("at 50 Hz", 50.0), ("flat out", None)):
                result = session(node, Path(tmp) / label.replace(" ", "_"), seconds, hz)
                print(
                    f"nemuri record, {label}, {seconds:.0f} s"
                    + ("" if graph is None else ", graph running")
                    + ":"
                )
                for topic, (sent, got, size) in result.items():
                    rate = got / seconds
                    line = f"  {topic}: sent {sent}, recorded {got}, dropped {sent - got}"
                    if hz is None:
                        line += f"; {rate:,.0f} msg/s, {size / seconds / 1e6:,.2f} MB/s"
                    print(line)
                if hz is not None:
                    dropped = sum(s - g for s, g, _ in result.values())
                    print(f"  dropped at 50 Hz: {dropped} [target 0]")
                else:
                    got = sum(g for _, g, _ in result.values())
                    size = sum(b for _, _, b in result.values())
                    print(
                        f"  all topics: {got / seconds:,.0f} msg/s, "
                        f"{size / seconds / 1e6:,.2f} MB/s"
                    )
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
            if graph is not None:
                interrupt(graph, 60)


if __name__ == "__main__":
    main()
