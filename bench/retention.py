"""The retention benchmark: what one night puts into the weights, and what five more keep.

The measure of the whole idea (IDEA.md; DESIGN.md, Lessons and the retention benchmark), on
the built-in MuJoCo world's in-process lock-step loop (world -> encoders -> Agent -> world):

    day 1       the newborn lives a day of lessons: K objects, each with its word and gesture
    (c)         the same agent, its context still full of the day, is probed (no sleep)
    (a)         the newborn with an empty context is probed: what the weights knew before
    night 1     it sleeps on the day (sleep.consolidate, the configuration below)
    (b)         the slept brain with an empty context is probed: what sleep put in the weights
    dream       the night's dream report: how much of the day it names, and how truly
    days 2..6   new lessons (other objects, words, gestures), lived once by the slept brain
                and slept on twice, each run on its own copy of the brains:
    (d) replay  with replay and dreams of earlier days (the defaults)
    (d) alone   fine-tuning on each new day alone (no replay, no dreams, and the promotion
                rule does not look at the past)
                then day 1's probes again, and the last day's, for each.

A probe shows one object alone for 3 s (no word, no hand; worlds.probing); the word score
is the argmax of the word logits averaged over the probe, among the K words and over the
whole vocabulary; the gesture score is whether the arm 2 s into the probe is nearer the
object's pose than any other of the K. Chance is printed beside every figure. The
targets (DESIGN.md): (b) >= 90 % of words and of gestures while (a) stays at chance; (d)
with replay keeps >= 80 % of (b) and beats (d) alone. Asserts nothing: it prints.

Days are recorded under --work and reused on the next run with the same arguments (a
day's log and the brain that lived it), so trying another sleep configuration costs only
the nights. Default run: well under 30 minutes on 2 cores.

    .venv/bin/python bench/retention.py                       # the default benchmark
    .venv/bin/python bench/retention.py --more-days 0         # day 1 and night 1 only
    .venv/bin/python bench/retention.py --k 4 --seed 3 --work /tmp/ret
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import nemuri.worlds.mujoco_world  # noqa: F401  (sets MUJOCO_GL before mujoco loads)
from nemuri.agent import Agent
from nemuri.brain import checkpoint
from nemuri.harness import VirtualClock
from nemuri.memory import DayLog, list_days
from nemuri.sleep import NightResult, ReplayStore, SleepConfig, consolidate
from nemuri.sleep.objective import ObjectiveConfig
from nemuri.wakeup import load_brain
from nemuri.worlds.curriculum import Curriculum, load_course
from nemuri.worlds.probing import live_day, probe
from nemuri.worlds.scoring import ProbeScores
from nemuri.worlds.simulated_day import encoders

PROBE_SEED = 7  # probes are drawn apart from every lesson day's seed


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    work = Path(args.work or tempfile.mkdtemp(prefix="nemuri-retention-"))
    work.mkdir(parents=True, exist_ok=True)
    course = load_course(args.lessons)
    days = [course.day(1, args.k)] + [course.day(n) for n in range(2, 2 + args.more_days)]
    sleep = sleep_config(args)
    bench = Bench(work, days, sleep, args, started)
    print(
        f"retention: K={days[0].k}, {len(days)} days of {days[0].day_ticks} ticks at "
        f"{days[0].tick_hz:g} Hz, seed {args.seed}, probes x{args.probe_repeats}; work {work}"
    )
    print(f"sleep: {json.dumps(summary(sleep))}")

    # Day 1, then (c) with the day's context and (a) with none.
    base = work / "base"
    day1_log = bench.lived(base, 1, brain_version="0", probe_after=True)
    c = bench.scores.get("c")
    a = bench.probe(base / "brains", "0", days[0], "a")

    # Night 1 and (b).
    night = bench.sleep(base, [day1_log], "night 1", base / "replay", sleep)
    b = bench.probe(base / "brains", None, days[0], "b")
    dream = dream_check(night, days[0])

    # (d): days 2.. lived once by the slept brain, slept on by each arm.
    arms: dict[str, dict[str, ProbeScores]] = {}
    if args.more_days:
        logs = [
            bench.lived(base, n, brain_version=f"{night.version}")
            for n in range(2, 2 + args.more_days)
        ]
        # Fine-tuning on each new day alone: no replay, no dreams, and no past to answer to
        # (the promotion rule would otherwise refuse every night that forgets day 1).
        alone = replace(sleep, replay_ratio=0.0, dream_ratio=0.0, past_max_regression=1e9)
        for arm, config, keeps_store in (("replay", sleep, True), ("alone", alone, False)):
            root = work / f"arm-{arm}"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(base / "brains", root / "brains")
            if keeps_store:
                shutil.copytree(base / "replay", root / "replay")
            for n, log in enumerate(logs, start=2):
                bench.sleep(root, [log], f"{arm} night {n}", root / "replay", config)
            arms[arm] = {
                "day 1": bench.probe(root / "brains", None, days[0], f"d {arm}"),
                f"day {len(days)}": bench.probe(
                    root / "brains", None, days[-1], f"d {arm}, day {len(days)}"
                ),
            }

    report(days[0], a, b, c, dream, arms, len(days), time.monotonic() - started)
    if not args.work and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


class Bench:
    """The runs of one benchmark, each phase timed and its scores kept."""

    def __init__(
        self,
        work: Path,
        days: list[Curriculum],
        sleep: SleepConfig,
        args: argparse.Namespace,
        started: float,
    ) -> None:
        self.work = work
        self.days = days
        self.sleep_config = sleep
        self.args = args
        self.started = started
        self.senses = encoders()
        self.scores: dict[str, ProbeScores] = {}

    def say(self, what: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f} s] {what}", flush=True)

    def agent(self, brains: Path, version: str | None, day_log: DayLog | None = None) -> Agent:
        loaded = load_brain(brains, "onnx", version)
        return Agent(
            loaded.runtime,
            brain_version=loaded.version,
            clock=VirtualClock(),
            day_log=day_log,
            age_ticks=loaded.age_ticks,
            nights=loaded.nights,
        )

    def lived(self, root: Path, n: int, brain_version: str, probe_after: bool = False) -> Path:
        """Day n's log, lived by `brain_version` of root/brains; reused when recorded."""
        brains = root / "brains"
        if not checkpoint.versions(brains):
            checkpoint.newborn(brains, seed=self.args.seed)
        version = checkpoint.version_name(int(brain_version))
        weights = checkpoint.read_manifest(brains / version)["files"]["weights.safetensors"]
        key = {"day": n, "k": self.days[n - 1].k, "seed": self.args.seed, "brain": weights}
        days_dir = root / f"days-{n}"
        marker = days_dir / "lived.json"
        found = list_days(days_dir) if marker.is_file() else []
        if found and json.loads(marker.read_text()) == key and not probe_after:
            self.say(f"day {n}: reusing {found[-1].name}")
            return found[-1]
        if found and probe_after and json.loads(marker.read_text()) == key:
            saved = days_dir / "in-context.json"
            if saved.is_file():
                self.scores["c"] = ProbeScores(**json.loads(saved.read_text()))
                self.say(f"day {n}: reusing {found[-1].name} and its in-context probes")
                return found[-1]
        shutil.rmtree(days_dir, ignore_errors=True)
        log = DayLog.create(days_dir)
        agent = self.agent(brains, brain_version, log)
        curriculum = self.days[n - 1]
        live_day(agent, curriculum, agent.clock, seed=self.args.seed + n, senses=self.senses)
        self.say(f"day {n}: lived {agent.tick_count} ticks with v{int(brain_version):04d}")
        log.close()  # the day is over: the probes are not part of what it sleeps on
        agent.day_log = None
        if probe_after:
            self.scores["c"] = self.probed(agent, curriculum)
            (days_dir / "in-context.json").write_text(json.dumps(self.scores["c"].__dict__))
            self.say(f"(c) in context: {line(self.scores['c'])}")
        marker.write_text(json.dumps(key))
        return list_days(days_dir)[-1]

    def probe(
        self, brains: Path, version: str | None, curriculum: Curriculum, name: str
    ) -> ProbeScores:
        agent = self.agent(brains, version)
        scores = self.scores[name] = self.probed(agent, curriculum)
        self.say(f"({name}) {agent.brain_version}, empty context: {line(scores)}")
        return scores

    def probed(self, agent: Agent, curriculum: Curriculum) -> ProbeScores:
        """The agent's scores on the curriculum's probes, its context as it is."""
        run = probe(
            agent,
            curriculum,
            agent.clock,
            seed=PROBE_SEED,
            repeats=self.args.probe_repeats,
            senses=self.senses,
        )
        return run.scores(curriculum)

    def sleep(
        self, root: Path, logs: list[Path], name: str, store_dir: Path, config: SleepConfig
    ) -> NightResult:
        result = consolidate(root / "brains", logs, ReplayStore(store_dir), config)
        self.say(
            f"{name}: {'promoted' if result.promoted else 'KEPT'} v{result.version:04d} "
            f"({result.reason}); {result.steps} steps at lr {result.lr:.1e} in "
            f"{result.seconds:.0f} s, {result.train_ticks_per_s:,.0f} train ticks/s"
        )
        return result


def dream_check(night: NightResult, day: Curriculum) -> dict[str, Any]:
    """How much of the day the night's dream names, and how much of what it names is true."""
    if night.dream is None:
        return {"text": "(no dream: the night was not promoted)", "coverage": 0.0, "truth": 0.0}
    named = list(dict.fromkeys(night.dream.objects + night.dream.words))
    taught = set(day.words)
    true = [w for w in named if w in taught]
    objects_or_words = max(
        len(set(night.dream.objects) & taught), len(set(night.dream.words) & taught)
    )
    return {
        "text": night.dream.text,
        "coverage": objects_or_words / len(taught),
        "truth": len(true) / len(named) if named else 0.0,
        "strip": str(night.dream.strip_path) if night.dream.strip_path else None,
    }


def line(s: ProbeScores) -> str:
    return (
        f"words {s.word_among_k:.0%} among K (chance {s.chance_among_k:.0%}), "
        f"{s.word_over_vocabulary:.0%} over the vocabulary "
        f"(chance {s.chance_over_vocabulary:.1%}); gestures {s.gesture:.0%} "
        f"(chance {s.chance_among_k:.0%}); {s.probes} probes"
    )


def report(
    day: Curriculum,
    a: ProbeScores,
    b: ProbeScores,
    c: ProbeScores | None,
    dream: dict[str, Any],
    arms: dict[str, dict[str, ProbeScores]],
    n_days: int,
    seconds: float,
) -> None:
    print("\n== retention ==")
    rows: list[tuple[str, ProbeScores | None]] = [
        ("(a) before sleep, empty context", a),
        ("(b) after night 1, empty context", b),
        ("(c) end of day 1, in context", c),
    ]
    for arm, scores in arms.items():
        for which, s in scores.items():
            rows.append((f"(d) {arm}: {which} after {n_days - 1} more days", s))
    print(f"{'':44} {'word/K':>7} {'word/V':>7} {'gesture':>8}")
    for name, s in rows:
        if s is not None:
            print(f"{name:44} {s.word_among_k:7.0%} {s.word_over_vocabulary:7.0%} {s.gesture:8.0%}")
    print(
        f"{'chance':44} {a.chance_among_k:7.0%} {a.chance_over_vocabulary:7.1%} "
        f"{a.chance_among_k:8.0%}"
    )
    print(
        f"\ntargets: (b) words {b.word_among_k:.0%} >= 90 % "
        f"{'MET' if b.word_among_k >= 0.9 else 'NOT MET'}, gestures {b.gesture:.0%} >= 90 % "
        f"{'MET' if b.gesture >= 0.9 else 'NOT MET'}; (a) at chance: words {a.word_among_k:.0%}, "
        f"gestures {a.gesture:.0%}"
    )
    if "replay" in arms and "alone" in arms:
        kept = arms["replay"]["day 1"]
        alone = arms["alone"]["day 1"]
        for part in ("word_among_k", "word_over_vocabulary", "gesture"):
            ratio = ratio_of(getattr(kept, part), getattr(b, part))
            print(
                f"(d) {part}: replay keeps {ratio} of (b) (target >= 80 %); alone "
                f"{ratio_of(getattr(alone, part), getattr(b, part))}; replay "
                f"{'beats' if getattr(kept, part) > getattr(alone, part) else 'does NOT beat'} "
                "alone"
            )
    print(
        f'dream after night 1: "{dream["text"]}" names {dream["coverage"]:.0%} of the day\'s '
        f"objects or words (target >= 50 %); {dream['truth']:.0%} of what it names was in the "
        f"day (target >= 80 %); strip {dream.get('strip')}"
    )
    print(f"whole benchmark: {seconds / 60:.1f} min (target <= 30 min on 2 cores)")


def ratio_of(value: float, of: float) -> str:
    return f"{value / of:.0%}" if of > 0 else "n/a"


def summary(config: SleepConfig) -> dict[str, Any]:
    keys = ("segment_ticks", "batch_size", "today_passes", "replay_ratio", "dream_ratio")
    d = {k: getattr(config, k) for k in keys}
    d["w_motor"] = config.objective.w_motor
    return d


def sleep_config(args: argparse.Namespace) -> SleepConfig:
    default = SleepConfig()
    overrides: dict[str, Callable[[], Any]] = {
        "segment_ticks": lambda: args.segment_ticks,
        "batch_size": lambda: args.batch_size,
        "today_passes": lambda: args.passes,
    }
    config = replace(
        default,
        **{k: f() for k, f in overrides.items() if f() is not None},
        seed=args.seed,
    )
    if args.w_motor is not None:
        config = replace(config, objective=ObjectiveConfig(w_motor=args.w_motor))
    return config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lessons", type=Path, help="course YAML (default: the shipped one)")
    parser.add_argument("--k", type=int, default=8, help="objects taught on day 1")
    parser.add_argument("--more-days", type=int, default=5, help="days of new lessons after")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probe-repeats", type=int, default=2, help="probes of each object")
    parser.add_argument("--work", help="keep days and brains here and reuse recorded days")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--segment-ticks", type=int, help="SleepConfig.segment_ticks")
    parser.add_argument("--batch-size", type=int, help="SleepConfig.batch_size")
    parser.add_argument("--passes", type=float, help="SleepConfig.today_passes")
    parser.add_argument("--w-motor", type=float, help="ObjectiveConfig.w_motor")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(main())
