"""The `nemuri` command: `nemuri up` starts the graph of config/nemuri.yaml and shows it live;
`nemuri sleep`, `nemuri dream` and `nemuri history` sleep and look back, without ROS;
`nemuri world snapshot` renders the built-in world to PNGs, without ROS either;
`nemuri bag info` and `nemuri bag export` look into any rosbag2 MCAP bag, without ROS;
`nemuri record` and `nemuri replay` record topics to such a bag and play one back into
the graph (nemuri.bags.record, nemuri.bags.replay), stopped like `nemuri up` by Ctrl-C.

Order matters here. The DDS environment (discovery on loopback, a domain of our own) is
put into os.environ before rclpy is imported, so our own participant and every child
inherit it. rclpy's signal handlers are not installed: they would shut the context down
on Ctrl-C before the nodes had been taken out of their lifecycle, and the core closes its
day log (metadata.yaml) on that way out. Instead SIGINT and SIGTERM set an event, and the
main thread stops the graph in order: stop spinning, shut the lifecycle nodes down (or
SIGINT the children and wait), then rclpy.shutdown().

Two modes (`mode:` in the YAML, `--mode` here):
- composed: every node is constructed in this process and spun by one
  SingleThreadedExecutor; this command drives each lifecycle node through configure and
  activate, and deactivate and shutdown at the end, with the node's own trigger_* calls.
- processes: one child per node, `python -m <module> --ros-args --params-file <file>`,
  each in a session of its own so that a terminal's Ctrl-C reaches only us and we stop
  them in order. A lifecycle node activates itself (its `autostart` parameter, honoured
  by its main()) and closes itself on SIGINT, exactly as under `ros2 launch`: one way in
  and out of a node process, instead of a second one through the lifecycle services that
  would have to wait for discovery (up to ~3 s) and would only be exercised here.

`nemuri sleep` runs one night in this process, on the same library the sleep node serves
(nemuri.sleep.consolidate), so a night can be slept, and judged, without a graph: on
given day logs (`--from-bag`) or on every closed day no version has slept on yet. Ctrl-C
wakes the sleeper: the night ends cleanly with the last good version, as a cancelled goal
does. Heavy imports (torch) wait until a command needs them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import yaml

from nemuri import __version__
from nemuri.graph import NodeSpec, node_specs
from nemuri.settings import MODES, ConfigError, Settings, load_settings, ros_environment

if TYPE_CHECKING:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from nemuri.sleep import NightResult

DEFAULT_DATA_DIR = "~/.nemuri"  # the core's and the sleep node's data_dir default
BRAINS_DIR, DAYS_DIR, REPLAY_DIR = "brains", "days", "replay"  # under data_dir
INTERRUPTED = 130  # exit status of a night woken by Ctrl-C, as a shell reports SIGINT
STOP_TIMEOUT_S = 15.0  # a child closing its day log gets this long after SIGINT before SIGKILL
CLEAN_CHILD_EXITS = (0, -signal.SIGINT)  # main() returned, or interrupted before rclpy.init


class GraphError(RuntimeError):
    """The graph could not be started or a part of it died; the message says which node."""


# -- the two ways to run a graph -------------------------------------------------------


class ComposedGraph:
    """Every node in this process, on the caller's executor; lifecycle driven from here."""

    def __init__(self, specs: list[NodeSpec], executor: SingleThreadedExecutor) -> None:
        self._specs = specs
        self._executor = executor
        self._nodes: list[tuple[NodeSpec, Node]] = []
        self._active: set[str] = set()

    def start(self, stop: StopFlag) -> None:
        """Construct every node, then configure them all, then activate them all."""
        from rclpy.lifecycle import TransitionCallbackReturn
        from rclpy.parameter import Parameter

        for spec in self._specs:
            node_class = getattr(importlib.import_module(spec.module), spec.node_class)
            node = node_class(
                parameter_overrides=[Parameter(k, value=v) for k, v in spec.parameters.items()],
                cli_args=["--ros-args", *spec.ros_arguments()],
                use_global_arguments=False,
            )
            self._nodes.append((spec, node))
            self._executor.add_node(node)
            if stop.is_set():
                return
        managed = [
            (s, n) for s, n in self._nodes if s.lifecycle and s.parameters.get("autostart", True)
        ]
        for transition in ("configure", "activate"):
            for spec, node in managed:
                if stop.is_set():
                    return
                if getattr(node, f"trigger_{transition}")() != TransitionCallbackReturn.SUCCESS:
                    raise GraphError(f"{spec.fqn}: {transition} failed")
                if transition == "activate":
                    self._active.add(spec.fqn)

    def failure(self) -> str | None:
        """Nodes in our process fail by raising in the executor; nothing to poll."""
        return None

    def stop(self) -> bool:
        """Deactivate and shut down the lifecycle nodes, last started first; destroy all."""
        clean = True
        for spec, node in reversed(self._nodes):
            if spec.lifecycle:
                try:
                    if spec.fqn in self._active:
                        node.trigger_deactivate()
                    node.trigger_shutdown()
                except Exception as err:  # a node that fails to stop must not keep the others up
                    print(f"nemuri up: {spec.fqn}: shutdown failed: {err!r}", file=sys.stderr)
                    clean = False
            self._executor.remove_node(node)
            node.destroy_node()
        self._nodes.clear()
        return clean


class ProcessGraph:
    """One child process per node, stopped by PID: SIGINT, a wait, SIGKILL if stuck."""

    def __init__(self, specs: list[NodeSpec]) -> None:
        self._specs = specs
        self._params_dir = Path(tempfile.mkdtemp(prefix="nemuri-up-"))
        self._children: list[tuple[NodeSpec, subprocess.Popen[bytes]]] = []
        self._reported: set[int] = set()

    def start(self, stop: StopFlag) -> None:
        for spec in self._specs:
            if stop.is_set():
                return
            params_file = self._params_dir / f"{spec.key}.yaml"
            params_file.write_text(yaml.safe_dump(spec.params_document(), sort_keys=False))
            command = [
                sys.executable,
                "-m",
                spec.module,
                "--ros-args",
                *spec.ros_arguments(),
                "--params-file",
                str(params_file),
            ]
            # Own session: a terminal's Ctrl-C goes to us only, and we stop children in order.
            child = subprocess.Popen(command, env=dict(os.environ), start_new_session=True)
            self._children.append((spec, child))

    def failure(self) -> str | None:
        """A child that exited while the graph should be running: the graph is broken."""
        for spec, child in self._children:
            if child.poll() is not None:
                self._reported.add(child.pid)
                return self._exit_message(spec, child)
        return None

    @staticmethod
    def _exit_message(spec: NodeSpec, child: subprocess.Popen[bytes]) -> str:
        return f"{spec.fqn} (pid {child.pid}) exited with code {child.returncode}"

    def stop(self) -> bool:
        """SIGINT every child (last started first), wait for all, SIGKILL what is stuck."""
        exited = [(spec, child) for spec, child in self._children if child.poll() is not None]
        for spec, child in exited:
            if child.pid not in self._reported:
                print(f"nemuri up: {self._exit_message(spec, child)}", file=sys.stderr)
        clean = not exited
        self._children = [(spec, child) for spec, child in self._children if child.poll() is None]
        for _, child in reversed(self._children):
            child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for spec, child in reversed(self._children):
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(
                    f"nemuri up: {spec.fqn} (pid {child.pid}) did not stop in "
                    f"{STOP_TIMEOUT_S:.0f} s: SIGKILL",
                    file=sys.stderr,
                )
                child.kill()
                child.wait()
            if child.returncode not in CLEAN_CHILD_EXITS:
                print(f"nemuri up: {spec.fqn} exited with code {child.returncode}", file=sys.stderr)
                clean = False
        self._children.clear()
        shutil.rmtree(self._params_dir, ignore_errors=True)
        return clean


# -- nemuri up ---------------------------------------------------------------------------


def up(args: argparse.Namespace) -> int:
    """Start the graph, show the status line until stopped, stop the graph cleanly."""
    overrides = [*args.set, *([f"mode={args.mode}"] if args.mode else [])]
    try:
        settings = load_settings(args.config, overrides)
        specs = node_specs(settings)
    except ConfigError as err:
        print(f"nemuri up: {err}", file=sys.stderr)
        return 2
    os.environ.update(ros_environment(settings, os.environ))  # before rclpy is imported
    if args.dry_run:
        print(describe(settings, specs), end="")
        return 0
    if not specs:
        print(f"nemuri up: {settings.source}: no enabled node", file=sys.stderr)
        return 2

    stop = StopFlag()
    previous = {sig: signal.signal(sig, _stop_on(stop)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(settings, specs, stop, args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class StopFlag:
    """A stop request that a signal handler may raise.

    Not a threading.Event: its set() takes the lock that the interrupted main thread may
    be holding inside Event.wait(), and the handler then waits on it forever.
    """

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep until set or `timeout` seconds passed; True when set."""
        end = time.monotonic() + timeout
        while not self._set and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.02))
        return self._set


def _stop_on(stop: StopFlag) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"nemuri up: already stopping\n")  # print() is not signal-safe
        stop.set()

    return handler


def _run(
    settings: Settings, specs: list[NodeSpec], stop: StopFlag, args: argparse.Namespace
) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from nemuri.status import StatusBoard, StatusListener, StatusPrinter

    rclpy.init(args=["nemuri"], signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor()
    board = StatusBoard()
    listener = StatusListener(board, name=f"nemuri_status_{os.getpid()}")
    executor.add_node(listener)
    graph = ComposedGraph(specs, executor) if settings.mode == "composed" else ProcessGraph(specs)
    spinner = _Spinner(executor, stop)
    printer = StatusPrinter(sys.stdout, tty=sys.stdout.isatty())
    print(
        f"nemuri up: {settings.mode}, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, "
        f"nodes {', '.join(s.fqn for s in specs)}; Ctrl-C stops",
        file=sys.stderr,
    )
    code = 0
    try:
        graph.start(stop)  # before spinning: transitions never race the executor thread
        spinner.start()
        started = time.monotonic()
        while not stop.wait(0.1):
            now = time.monotonic()
            if (failure := graph.failure() or spinner.failure) is not None:
                raise GraphError(failure)
            if args.duration is not None and now - started >= args.duration:
                break
            if not args.no_status:
                printer.show(board.line(now), now)
    except (GraphError, ImportError, AttributeError) as err:
        printer.finish()
        print(f"nemuri up: {err}", file=sys.stderr)
        code = 1
    finally:
        printer.finish()
        spinner.stop()
        if not graph.stop():
            code = code or 1
        executor.shutdown()
        listener.destroy_node()
        rclpy.try_shutdown()
    print("nemuri up: stopped" + ("" if code == 0 else " with errors"), file=sys.stderr)
    return code


class _Spinner:
    """Spins the executor on a thread of its own until told to stop, then is joined.

    spin_once with a short timeout, not spin(): stopping is then a flag and a join, with
    no executor.shutdown() racing a thread that is still inside the wait set.
    """

    def __init__(self, executor: SingleThreadedExecutor, stop: StopFlag) -> None:
        self._executor = executor
        self._stop = stop
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="nemuri-up-spin", daemon=True)
        self.failure: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._halt.is_set():
                self._executor.spin_once(timeout_sec=0.1)
        except Exception as err:  # a callback raised: the graph is broken, stop it
            self.failure = f"executor: {err!r}"
            self._stop.set()

    def stop(self) -> None:
        self._halt.set()
        if self._thread.ident is not None:  # started
            self._thread.join()


def describe(settings: Settings, specs: list[NodeSpec]) -> str:
    """The resolved graph as YAML: what `nemuri up` would start (`--dry-run`)."""
    return yaml.safe_dump(
        {
            "config": str(settings.source),
            "overrides": list(settings.overrides),
            "mode": settings.mode,
            "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(settings.ros_domain_id)),
            "nodes": [
                {
                    "name": spec.fqn,
                    "package": spec.package,
                    "executable": spec.executable,
                    "module": spec.module,
                    "class": spec.node_class,
                    "lifecycle": spec.lifecycle,
                    "remappings": dict(spec.remappings),
                    "parameters": spec.parameters,
                }
                for spec in specs
            ],
        },
        sort_keys=False,
    )


# -- nemuri sleep, dream, history ------------------------------------------------------


def unslept_days(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """Closed day logs no promoted version slept on yet, oldest first; and the open ones.

    A day without metadata.yaml is either still being written by a running core or was
    left by a crash that the core recovers when it next starts: it is skipped (and
    returned second), never read while it grows nor repaired under a live writer.
    """
    from nemuri.memory.daylog import list_days
    from nemuri.sleep.history import slept_days

    data_dir = Path(data_dir).expanduser()
    slept = slept_days(data_dir / BRAINS_DIR)
    todo, still_open = [], []
    for day in list_days(data_dir / DAYS_DIR):
        if day.name not in slept:
            (todo if (day / "metadata.yaml").is_file() else still_open).append(day)
    return todo, still_open


def night_metrics(result: NightResult) -> dict[str, Any]:
    """The held-out losses and the numbers of the night, JSON-ready (the action's metrics)."""
    return {
        **result.metrics,
        "night": {
            "lr": result.lr,
            "steps": result.steps,
            "planned_steps": result.planned_steps,
            "seconds": round(result.seconds, 3),
            "train_ticks_per_s": round(result.train_ticks_per_s, 1),
            "nights": result.nights,
            "ticks_seen": result.ticks_seen,
            "interrupted": result.interrupted,
            "days": [d["name"] for d in result.days],
            "night_dir": None if result.night_dir is None else str(result.night_dir),
        },
    }


def format_night(result: NightResult) -> str:
    """What a night did, for a person: the verdict and why, the numbers, the dream."""
    from nemuri.brain.checkpoint import version_name

    new, old = version_name(result.version), version_name(result.parent)
    if result.promoted:
        verdict = f"PROMOTED: {old} -> {new}"
    elif result.interrupted:
        verdict = f"WOKEN EARLY: kept {old}"
    else:
        verdict = f"NOT PROMOTED: kept {old}"
    days = ", ".join(
        f"{d['name']} ({d['ticks']} ticks{', recovered' if d['recovered'] else ''})"
        for d in result.days
    )
    lines = [
        verdict,
        f"  why:    {result.reason}",
        f"  days:   {days or '-'}",
        f"  night:  lr {result.lr:.2e}, {result.steps}/{result.planned_steps} steps in "
        f"{result.seconds:.1f} s ({result.train_ticks_per_s:.0f} training ticks/s)",
        f"  age:    {result.nights} nights, {result.ticks_seen} ticks",
    ]
    before, after = result.metrics.get("before") or {}, result.metrics.get("after") or {}
    for split in ("today", "past"):
        b, a = before.get(split), after.get(split)
        if b is None:
            continue
        parts = " ".join(
            f"{part} {b[part]:.4f}" + ("" if a is None else f"->{a[part]:.4f}")
            for part in b
            if part != "total"
        )
        total = f"{b['total']:.4f}" + ("" if a is None else f" -> {a['total']:.4f}")
        lines.append(f"  {split + ':':7} held-out loss {total}  ({parts})")
    if result.dream is not None:
        lines.append(f"  dream:  {result.dream.text}")
        if result.dream.strip_path is not None:
            lines.append(f"  strip:  {result.dream.strip_path}")
    if result.loss_plot is not None:
        lines.append(f"  loss:   {result.loss_plot}")
    return "\n".join(lines)


def sleep(args: argparse.Namespace) -> int:
    """One night in this process on the given days, or on those not slept on yet."""
    import dataclasses

    from nemuri.sleep import ProgressBar, ReplayStore, SleepConfig, SleepError, consolidate

    data_dir = args.data_dir.expanduser()
    if args.from_bag:
        days = list(args.from_bag)
    else:
        days, still_open = unslept_days(data_dir)
        for day in still_open:
            print(
                f"nemuri sleep: skipping {day}: not closed (being written, or a crash "
                "the core recovers when it starts)",
                file=sys.stderr,
            )
        if not days:
            print(
                f"nemuri sleep: nothing to sleep on: every closed day in "
                f"{data_dir / DAYS_DIR} was slept on",
                file=sys.stderr,
            )
            return 0
    try:
        config = SleepConfig()
        changes: dict[str, Any] = {"threads": args.threads}
        if args.budget is not None:
            changes["max_seconds"] = args.budget
        if args.steps is not None:
            changes["steps"] = args.steps
        config = dataclasses.replace(config, **changes)
    except ValueError as err:
        print(f"nemuri sleep: {err}", file=sys.stderr)
        return 2
    woken = StopFlag()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: woken.set())
    print(
        f"nemuri sleep: sleeping on {', '.join(str(d) for d in days)}; Ctrl-C wakes",
        file=sys.stderr,
    )
    try:
        result = consolidate(
            data_dir / BRAINS_DIR,
            days,
            ReplayStore(data_dir / REPLAY_DIR),
            config,
            progress=None if args.quiet else ProgressBar(sys.stderr),
            should_stop=woken.is_set,
        )
    except SleepError as err:
        print(f"{'' if args.quiet else chr(10)}nemuri sleep: {err}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.interrupted and not args.quiet:
        print(file=sys.stderr)  # past the progress bar's line, which ends itself when done
    print(format_night(result))
    return INTERRUPTED if result.interrupted else 0


def dream(args: argparse.Namespace) -> int:
    """The last night's dream: what it names, and where its picture strip is."""
    from nemuri.brain import checkpoint
    from nemuri.sleep.history import last_dream

    brains = args.data_dir.expanduser() / BRAINS_DIR
    latest = checkpoint.latest(brains)
    told = last_dream(brains)
    if latest is None or told is None:
        print(f"nemuri dream: no dream yet in {brains}: no night was promoted", file=sys.stderr)
        return 1
    print(f"{checkpoint.version_name(latest.version)}: {told.text}")
    print(f"  objects: {', '.join(told.objects) or '-'}")
    print(f"  words:   {', '.join(told.words) or '-'}")
    strip = told.strip_path or "none (the day kept no thumbnails)"
    print(f"  strip:   {strip}")
    return 0


def history(args: argparse.Namespace) -> int:
    """Every version and every rejected night, oldest first."""
    from nemuri.sleep.history import format_history
    from nemuri.sleep.history import history as read_history

    brains = args.data_dir.expanduser() / BRAINS_DIR
    rows = read_history(brains)
    if not rows:
        print(f"nemuri history: no brain yet in {brains}", file=sys.stderr)
        return 1
    print(format_history(rows))
    return 0


# -- nemuri world ------------------------------------------------------------------------


def world_snapshot(args: argparse.Namespace) -> int:
    """PNGs of the built-in world (camera view, scene, every object); their paths, one a line.

    MuJoCo is imported here and nowhere else in this module: it picks its GL backend when
    first imported, and the other commands have no use for it.
    """
    from nemuri.worlds.mujoco_world import rendering_available
    from nemuri.worlds.snapshot import snapshot

    if not rendering_available():
        print(
            "nemuri world snapshot: no headless GL here (EGL or OSMesa): cannot render",
            file=sys.stderr,
        )
        return 1
    for path in snapshot(args.out, seed=args.seed):
        print(path)
    return 0


def _seed(text: str) -> int:
    """A seed for numpy's generator: a whole number >= 0 (argparse type)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a whole number >= 0, got {value}")
    return value


# -- nemuri bag info, export ------------------------------------------------------------


def bag_info(args: argparse.Namespace) -> int:
    """What a bag holds, like `ros2 bag info`, and for a day log nemuri's own numbers."""
    from nemuri.bags import BagError, format_info, open_bag, summarize

    try:
        info = summarize(open_bag(args.bag))
    except BagError as err:
        print(f"nemuri bag info: {err}", file=sys.stderr)
        return 1
    print(format_info(info))
    _say_recovered("nemuri bag info", info.bag.recovery_note())
    if args.plot is None:
        return 0
    if info.arrays is None:
        print(
            f"nemuri bag info: --plot draws a day log's ticks: {args.bag} has none", file=sys.stderr
        )
        return 1
    from nemuri.bags.timeline import plot_day

    try:
        plot_day(info.arrays, args.plot, f"{info.bag.path.name}: {len(info.arrays['tick'])} ticks")
    except OSError as err:
        print(f"nemuri bag info: cannot write {args.plot}: {err}", file=sys.stderr)
        return 1
    print(f"Timeline:          {args.plot}")
    return 0


def bag_export(args: argparse.Namespace) -> int:
    """A day log's TickRecords to one .npz of plain arrays (keys: nemuri.bags.export.KEYS)."""
    from nemuri.bags import KEYS, BagError, export_day, open_bag

    try:
        bag = open_bag(args.bag)
        out = args.out or Path(f"{bag.path.stem if bag.path.is_file() else bag.path.name}.npz")
        done = export_day(bag, out, overwrite=args.force)
    except BagError as err:
        print(f"nemuri bag export: {err}", file=sys.stderr)
        return 1
    print(f"{done.path}: {done.ticks} ticks, {len(KEYS)} arrays")
    _say_recovered("nemuri bag export", done.recovery_note)
    return 0


def _say_recovered(command: str, note: str | None) -> None:
    """One line on stderr when a bag was cut short: how much of it was read."""
    if note is not None:
        print(f"{command}: the bag was cut short; {note.splitlines()[0]}", file=sys.stderr)


# -- nemuri record, replay ---------------------------------------------------------------


def _with_ros_stop(body: Callable[[StopFlag], int]) -> int:
    """Run `body` with the DDS environment set and Ctrl-C/SIGTERM turned into a StopFlag."""
    os.environ.update(ros_environment(load_settings(None, []), os.environ))  # before rclpy
    stop = StopFlag()
    handler = _stop_on(stop)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return body(stop)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def record(args: argparse.Namespace) -> int:
    """Record topics to a rosbag2 MCAP bag until Ctrl-C (nemuri.bags.record)."""

    def body(stop: StopFlag) -> int:
        from nemuri.bags.record import record as run_record

        return run_record(
            args.output,
            args.topics or [],
            split_size_mb=args.split_size,
            split_duration_s=args.split_duration,
            use_sim_time=args.use_sim_time,
            duration_s=args.duration,
            stop=stop,
        )

    return _with_ros_stop(body)


def replay(args: argparse.Namespace) -> int:
    """Publish a bag back into the graph (nemuri.bags.replay)."""

    def body(stop: StopFlag) -> int:
        from nemuri.bags.replay import replay as run_replay

        return run_replay(
            args.bag,
            rate=args.rate,
            clock_hz=args.clock or 0.0,
            restamp_stamps=args.restamp,
            remaps=args.remap,
            topics=args.topics or [],
            loop=args.loop,
            wait_s=args.wait,
            stop=stop,
        )

    return _with_ros_stop(body)


# -- the command line ------------------------------------------------------------------


def _command(
    commands: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The parser of a subcommand that runs `func(args)` (`help`, `description`: kwargs)."""
    parser = commands.add_parser(name, **kwargs)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemuri", description="nemuri: an embodied agent that sleeps to remember."
    )
    parser.add_argument("--version", action="version", version=f"nemuri {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up_parser = _command(
        commands,
        "up",
        up,
        help="start the graph and show its live status (Ctrl-C stops it cleanly)",
        description="Start the nodes of the graph configuration (default: config/nemuri.yaml) "
        "and show a live status line read from /nemuri/state and /nemuri/speech.",
    )
    up_parser.add_argument("--config", type=Path, help="graph configuration YAML")
    up_parser.add_argument("--mode", choices=MODES, help="override the configuration's mode")
    up_parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one value, e.g. core.tick_hz=50 or mode=processes (repeatable)",
    )
    up_parser.add_argument(
        "--duration", type=float, metavar="S", help="stop cleanly after S seconds of running"
    )
    up_parser.add_argument("--no-status", action="store_true", help="no status line")
    up_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved graph and exit without starting it",
    )

    def data_dir_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=Path(DEFAULT_DATA_DIR),
            metavar="D",
            help=f"holds {BRAINS_DIR}/, {DAYS_DIR}/ and {REPLAY_DIR}/ (default {DEFAULT_DATA_DIR})",
        )

    sleep_parser = _command(
        commands,
        "sleep",
        sleep,
        help="sleep one night here, no ROS: consolidate day logs into a new brain version",
        description="Run one night in this process: train the latest brain on the day logs, "
        "validate, and promote the new version only if it learned without forgetting. "
        "Default days: every closed day log not slept on yet. Ctrl-C wakes it cleanly.",
    )
    sleep_parser.add_argument(
        "--from-bag",
        nargs="+",
        type=Path,
        metavar="BAG",
        help="sleep on these day logs (bag directories or .mcap files)",
    )
    data_dir_option(sleep_parser)
    sleep_parser.add_argument(
        "--budget", type=float, metavar="S", help="wall-clock budget of the night, s (default 600)"
    )
    sleep_parser.add_argument(
        "--steps", type=int, metavar="N", help="a fixed number of training steps"
    )
    sleep_parser.add_argument(
        "--threads", type=int, default=1, metavar="N", help="torch threads (default 1)"
    )
    sleep_parser.add_argument("--quiet", action="store_true", help="no progress bar")

    dream_parser = _command(
        commands,
        "dream",
        dream,
        help="say what the last night dreamt, and where its picture strip is",
        description="Print the latest version's dream: the objects and words named in it, "
        "and the PNG strip of the thumbnails it matched.",
    )
    data_dir_option(dream_parser)

    history_parser = _command(
        commands,
        "history",
        history,
        help="list brain versions with age, days, learning rate and held-out losses",
        description="Every version and every night that made none, oldest first: parent, "
        "nights and ticks (age), learning rate, held-out loss of today and of the past "
        "before->after, days slept on, and why a night was not promoted.",
    )
    data_dir_option(history_parser)
    world_parser = commands.add_parser(
        "world",
        help="the built-in MuJoCo world on its own, no ROS",
        description="Look at the built-in MuJoCo world without starting the graph.",
    )
    world_commands = world_parser.add_subparsers(
        dest="world_command", required=True, metavar="COMMAND"
    )
    snapshot_parser = _command(
        world_commands,
        "snapshot",
        world_snapshot,
        help="write PNGs of the robot's camera view, the scene and every object",
        description="Render the built-in world headless and write camera.png (what the "
        "robot's camera sees, an object in front of it), scene.png (an outside view) and "
        "objects.png (every object as the camera sees it); print their paths.",
    )
    snapshot_parser.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="folder for the PNGs, made if missing (default: the current folder)",
    )
    snapshot_parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="N",
        help="seeds where the object is placed (default 0)",
    )

    bag_parser = commands.add_parser(
        "bag",
        help="look into a rosbag2 MCAP bag (a day log, a recording), no ROS",
        description="Look into any rosbag2 MCAP bag: nemuri's day logs, `nemuri record` "
        "bags, `ros2 bag record -s mcap` bags. A bag cut short is read up to its last "
        "complete chunk, and says so.",
    )
    bag_commands = bag_parser.add_subparsers(dest="bag_command", required=True, metavar="COMMAND")
    info_parser = _command(
        bag_commands,
        "info",
        bag_info,
        help="summarise a bag like `ros2 bag info`; for a day log also ticks, versions, "
        "sleepiness and words",
        description="Print the bag's files, size, storage, duration, start and end, message "
        "count and per-topic type, count, rate and serialization format; for a day log also "
        "its ticks, brain and encoder versions, sleepiness over the day and words heard and "
        "spoken.",
    )
    info_parser.add_argument("bag", type=Path, metavar="BAG", help="bag folder or .mcap file")
    info_parser.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="also draw a day log's timeline (sleepiness, words, motor activity) to PNG",
    )
    export_parser = _command(
        bag_commands,
        "export",
        bag_export,
        help="a day log's TickRecords to plain numpy arrays (.npz)",
        description="Write every tick of a day log as numpy arrays, one row per tick "
        "(embeddings and masks, words, motor, drowsiness, stamps, versions), to one .npz "
        "that np.load reads without nemuri. The keys are listed in README.",
    )
    export_parser.add_argument("bag", type=Path, metavar="BAG", help="day log folder or .mcap")
    export_parser.add_argument(
        "-o",
        "--out",
        type=Path,
        metavar="OUT.npz",
        help="output file (default: <bag name>.npz in the current folder)",
    )
    export_parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")

    record_parser = _command(
        commands,
        "record",
        record,
        help="record topics to a rosbag2 MCAP bag (raw bytes; Ctrl-C closes it)",
        description="Record topics (default: every nemuri topic, raw senses included) to a "
        "rosbag2 bag with MCAP storage, as their publishers appear. Chunks are flushed every "
        "second, so a kill loses at most the last one; Ctrl-C or SIGTERM close the bag.",
    )
    record_parser.add_argument(
        "-o", "--output", type=Path, metavar="DIR", help="bag directory to create"
    )
    record_parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="topics to record")
    record_parser.add_argument(
        "--split-size", type=float, default=0.0, metavar="MB", help="new file past MB"
    )
    record_parser.add_argument(
        "--split-duration", type=float, default=0.0, metavar="S", help="new file past S seconds"
    )
    record_parser.add_argument(
        "--use-sim-time", action="store_true", help="log times from /clock (sim time)"
    )
    record_parser.add_argument(
        "--duration", type=float, metavar="S", help="stop cleanly after S seconds"
    )

    replay_parser = _command(
        commands,
        "replay",
        replay,
        help="publish a bag back into the graph (raw bytes, a rate, /clock or now)",
        description="Publish a bag's messages as recorded, at their log times times a rate. "
        "Time: a /clock recorded in the bag is replayed as is; --clock makes /clock from "
        "the log times instead; --restamp moves header stamps to now for wall-time nodes.",
    )
    replay_parser.add_argument("bag", type=Path, help="bag directory or .mcap file")
    replay_parser.add_argument(
        "--rate", type=float, default=1.0, metavar="F", help="playback rate factor (default 1)"
    )
    timing = replay_parser.add_mutually_exclusive_group()
    timing.add_argument(
        "--clock",
        type=float,
        nargs="?",
        const=100.0,
        metavar="HZ",
        help="publish /clock from the log times (default 100 Hz)",
    )
    timing.add_argument("--restamp", action="store_true", help="re-stamp message headers to now")
    replay_parser.add_argument(
        "--remap", nargs="+", default=[], metavar="FROM:=TO", help="topic remappings"
    )
    replay_parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics")
    replay_parser.add_argument("--loop", action="store_true", help="play again until stopped")
    replay_parser.add_argument(
        "--wait",
        type=float,
        default=2.0,
        metavar="S",
        help="wait at most S seconds for subscribers before playing (default 2)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nemuri` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
