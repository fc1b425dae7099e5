"""The serial link's command-to-state round trip, through simavr and through the host build.

A SerialLink sends TARGETS frames (alternating targets, 20 per second, as a 20 Hz actuator
tick would) and notes when the first STATE frame acknowledging each one (its ack_seq)
arrives. That round trip is: the frame's bytes at 115200 baud (about 1.3 ms for 15 bytes),
the body's loop taking it in, then waiting for the next 50 Hz state frame (0..20 ms, so
~10 ms on average) and its 65 bytes back (about 5.6 ms at 115200 baud on the wire; a pty
does not pace bytes, simavr's UART does). Reported: median, p99 and max, in ms, and how
fast the body's clock ran against the wall clock (simavr paces itself to real time, but on
a loaded machine it falls behind, and every simulated millisecond then costs more). A
command overtaken by the next before a state frame went out is never acknowledged on its
own (ack_seq names the last one), so "acknowledged" can be below the count sent. Asserts
nothing about time.

    .venv/bin/python bench/serial_link.py             # 200 commands each, ~25 s
    .venv/bin/python bench/serial_link.py --commands 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from nemuri.body.firmware_process import BodyProcess, build
from nemuri.body.protocol import BodyState
from nemuri.body.serial_link import SerialLink, SerialLinkConfig


def round_trips(body: BodyProcess, commands: int, hz: float) -> tuple[list[float], dict]:
    """Seconds from each send to the first state that acknowledges it."""
    sent: dict[int, float] = {}
    trips: list[float] = []
    clocks: list[tuple[float, int]] = []  # (arrival, the body's uptime): its speed
    lock = threading.Lock()

    def on_state(state: BodyState, arrived: float) -> None:
        with lock:
            clocks.append((arrived, state.uptime_ms))
            started = sent.pop(state.ack_seq, None)
            if started is not None:
                trips.append(arrived - started)

    link = SerialLink(SerialLinkConfig(port=body.port), on_state)
    try:
        deadline = time.monotonic() + 20.0
        while link.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if link.latest() is None:
            raise SystemExit(f"no state from {body.argv[0]}: {body.stderr()}")
        next_at = time.monotonic()
        for i in range(commands):
            targets = [1200 + 400 * (i % 2)] * 5
            with lock:
                seq = link.send_targets(targets)
                if seq is not None:
                    sent[seq] = time.monotonic()
            next_at += 1.0 / hz
            time.sleep(max(0.0, next_at - time.monotonic()))
        time.sleep(0.1)
        (t0, up0), (t1, up1) = clocks[0], clocks[-1]
        return trips, {**vars(link.health()), "rtf": (up1 - up0) / 1e3 / (t1 - t0)}
    finally:
        link.close()


def report(name: str, trips: list[float], health: dict, commands: int) -> None:
    ms = sorted(t * 1e3 for t in trips)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(
        f"{name:<12} acknowledged {len(ms)}/{commands}  median {statistics.median(ms):5.1f} ms"
        f"  p99 {p99:5.1f} ms  max {ms[-1]:5.1f} ms  "
        f"(frames ok {health['frames_ok']}, bad {health['frames_bad']}, "
        f"dropped {health['frames_dropped']}; body clock {health['rtf']:.2f}x real time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--hz", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nemuri-bench-") as tmp:
        build_dir = build(Path(tmp) / "firmware")
        print(f"command -> acknowledging state frame, {args.commands} commands at {args.hz} Hz")
        for name, start in (("host build", BodyProcess.host), ("simavr", BodyProcess.sim)):
            with start(build_dir) as body:
                trips, health = round_trips(body, args.commands, args.hz)
            report(name, trips, health, args.commands)


if __name__ == "__main__":
    main()
