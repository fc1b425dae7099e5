"""The `nemuri` command without starting ROS: config checks, --version, --dry-run, status."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import yaml

from nemuri import __version__
from nemuri.cli import main
from nemuri.settings import ConfigError, default_config_path, load_settings, ros_environment
from nemuri.status import StatusBoard, StatusPrinter


def write_config(tmp_path, edit):
    document = yaml.safe_load(default_config_path().read_text())
    edit(document)
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def set_core(key, value):
    return lambda d: d["nodes"]["core"].__setitem__(key, value)


def set_param(key, value):
    return lambda d: d["nodes"]["core"]["parameters"].__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (lambda d: d.__setitem__("mode", "threads"), "mode", "is not one of"),
        (lambda d: d.__setitem__("ros_domain_id", 300), "ros_domain_id", "0..232"),
        (lambda d: d.__setitem__("ros_domain_id", "7"), "ros_domain_id", "not an integer"),
        (lambda d: d.__setitem__("use_sim_time", "yes"), "use_sim_time", "true or false"),
        (lambda d: d.__setitem__("colour", 1), "colour", "unknown key"),
        (lambda d: d.__setitem__("nodes", {}), "nodes", "at least one"),
        (set_core("enabled", "no"), "nodes.core.enabled", "true or false"),
        (set_core("name", "core node"), "nodes.core.name", "not a valid ROS name"),
        (set_core("namespace", "robot"), "nodes.core.namespace", "not a ROS namespace"),
        (set_core("module", "nemuri/nodes"), "nodes.core.module", "dotted Python module"),
        (set_core("remappings", ["a"]), "nodes.core.remappings", "from: to"),
        (set_core("colour", 1), "nodes.core.colour", "unknown field"),
        (lambda d: d["nodes"]["core"].pop("module"), "nodes.core.module", "missing"),
        (set_param("tick_hz", 0), "nodes.core.parameters.tick_hz", "> 0"),
        (set_param("stale_periods", -1.5), "nodes.core.parameters.stale_periods", "> 0"),
        (
            set_param("inject_step_delay_s", -0.1),
            "nodes.core.parameters.inject_step_delay_s",
            ">= 0",
        ),
        (set_param("runtime", None), "nodes.core.parameters.runtime", "is not a bool"),
        (set_param("runtime", {"a": 1}), "nodes.core.parameters.runtime", "is not a bool"),
        (set_param("weights", []), "nodes.core.parameters.weights", "empty list"),
        (set_param("weights", [1, "a"]), "nodes.core.parameters.weights", "one type"),
        (set_param("use_sim_time", True), "nodes.core.parameters.use_sim_time", "top level"),
    ],
)
def test_a_bad_value_names_the_file_and_the_key(tmp_path, edit, key, problem):
    path = write_config(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message


def test_two_nodes_with_one_name_are_refused(tmp_path):
    path = write_config(tmp_path, lambda d: d["nodes"].__setitem__("twin", d["nodes"]["core"]))
    with pytest.raises(ConfigError, match=r"nodes.twin.name: /nemuri_core is also the name"):
        load_settings(path)


def test_not_yaml_and_not_a_mapping(tmp_path):
    (tmp_path / "a.yaml").write_text("mode: [")
    with pytest.raises(ConfigError, match=r"a.yaml: not valid YAML"):
        load_settings(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match=r"b.yaml: expected a mapping"):
        load_settings(tmp_path / "b.yaml")


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("core.tick_hz", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("tick_hz=50", "neither a top-level key"),
        ("core.tick_hzz=50", "has no 'nodes.core.parameters.tick_hzz'"),
        ("sensor.rate_hz=50", "has no 'nodes.sensor'"),
        ("core.tick_hz=fast", "nodes.core.parameters.tick_hz: expected float, got 'fast'"),
        ("core.context_capacity=1.5", "expected int"),
        ("core.autostart=1", "expected bool"),
        ("use_sim_time=maybe", "expected bool"),
        ("mode=threads", "is not one of"),
        ("core.tick_hz=-5", "> 0"),
    ],
)
def test_a_bad_override_names_the_override_and_the_key(override, problem):
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides=[override])
    assert problem in str(caught.value)
    if "KEY=VALUE" not in problem and "top-level" not in problem:
        assert str(default_config_path()) in str(caught.value)


def test_overrides_keep_the_files_types():
    settings = load_settings(
        overrides=[
            "core.tick_hz=50",
            "core.runtime=1.0",
            "core.data_dir=123",
            "core.autostart=false",
            "ros_domain_id=7",
        ]
    )
    params = settings.node("core").parameters
    assert params["tick_hz"] == 50.0 and isinstance(params["tick_hz"], float)
    assert params["runtime"] == "1.0" and params["data_dir"] == "123"
    assert params["autostart"] is False
    assert settings.ros_domain_id == 7


def test_dds_stays_on_loopback_and_the_environment_domain_wins():
    settings = load_settings()
    assert ros_environment(settings, {}) == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": "42",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    env = ros_environment(
        settings,
        {"ROS_DOMAIN_ID": "17", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "OMP_NUM_THREADS": "2"},
    )
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_DOMAIN_ID"] == "17"
    assert env["OMP_NUM_THREADS"] == "2" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert ros_environment(load_settings(overrides=["ros_domain_id=9"]), {})["ROS_DOMAIN_ID"] == "9"


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"nemuri {__version__}"


def test_only_working_commands_are_offered(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    offered = capsys.readouterr().out
    assert "up" in offered and "record" in offered and "replay" in offered
    # a usage error exits 2 before anything starts (no recording, no replay)
    for usage_error in (["replay"], ["record", "--split-size", "big"]):
        with pytest.raises(SystemExit) as caught:
            main(usage_error)
        assert caught.value.code == 2


def test_dry_run_prints_the_resolved_graph(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", "33")
    code = main(
        [
            "up",
            "--dry-run",
            "--mode",
            "processes",
            "--set",
            "core.tick_hz=50",
            "--set",
            f"core.data_dir={tmp_path}",
            "--set",
            f"sleep.data_dir={tmp_path}",
        ]
    )
    assert code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["mode"] == "processes" and printed["ROS_DOMAIN_ID"] == "33"
    assert printed["overrides"] == [
        "core.tick_hz=50",
        f"core.data_dir={tmp_path}",
        f"sleep.data_dir={tmp_path}",
        "mode=processes",
    ]
    assert [n["name"] for n in printed["nodes"]] == [
        "/nemuri_world",
        "/nemuri_camera",
        "/nemuri_microphone",
        "/nemuri_touch",
        "/nemuri_proprio",
        "/nemuri_core",
        "/nemuri_actuator",
        "/nemuri_speech",
        "/nemuri_sleep",
    ]
    nodes = {n["name"]: n for n in printed["nodes"]}
    core = nodes["/nemuri_core"]
    assert (core["module"], core["class"]) == ("nemuri.nodes.core_node", "CoreNode")
    assert core["parameters"]["tick_hz"] == 50.0
    assert core["parameters"]["data_dir"] == str(tmp_path)
    assert nodes["/nemuri_camera"]["parameters"]["tick_hz"] == 10.0  # the core's alone
    assert all(n["parameters"]["use_sim_time"] is True for n in printed["nodes"])


def test_a_config_error_exits_2_before_anything_starts(capsys):
    assert main(["up", "--set", "core.tick_hz=fast"]) == 2
    assert "core.tick_hz" in capsys.readouterr().err


def test_a_core_and_a_sleep_node_on_different_data_dirs_exit_2(capsys, tmp_path):
    assert main(["up", "--dry-run", "--set", f"core.data_dir={tmp_path}"]) == 2
    told = capsys.readouterr().err
    assert f"core.data_dir={tmp_path}" in told and "sleep.data_dir" in told


def state(tick, **fields):
    values = dict(
        phase=0,
        tick=tick,
        sleepiness=0.25,
        context_length=tick,
        context_fill=0.5,
        step_latency_p99_ms=2.345,
        missed_ticks=1,
        model_version="v0003",
        last_spoken="",
        note="",
    )
    return SimpleNamespace(**{**values, **fields})


def test_status_line_measures_the_tick_rate_from_the_core_counter():
    board = StatusBoard(window_s=3.0)
    assert board.line(0.0) == "waiting for /nemuri/state ..."
    for i in range(31):  # 10 Hz for 3 s, every third message lost on the way
        if i % 3:
            board.on_state(state(100 + i), i / 10)
    assert board.tick_hz(3.0) == pytest.approx(10.0)
    line = board.line(3.0)
    assert line.startswith("awake | tick 129 @ 10.0 Hz | p99 2.3 ms | sleepy 0.25 | ctx 129 (50%)")
    assert "missed 1" in line and "brain v0003" in line
    board.on_speech("ball", 2.0)
    assert board.line(4.0).endswith('said "ball" 2s ago')


def test_status_line_before_the_window_fills_and_after_a_restart():
    board = StatusBoard()
    board.on_state(state(5, phase=1, note="sleepy but no sleep server", last_spoken="cup"), 0.0)
    line = board.line(0.0)
    assert "drowsy | tick 5 @ -- Hz" in line
    assert line.endswith('said "cup" | sleepy but no sleep server')
    board.on_state(state(6), 0.1)
    board.on_state(state(0), 0.2)  # a new day's counter: no negative rate
    board.on_state(state(10), 1.2)
    assert board.tick_hz(1.2) == pytest.approx(10.0)


def test_status_printer_rewrites_one_line_on_a_tty_and_appends_lines_elsewhere():
    tty = io.StringIO()
    printer = StatusPrinter(tty, tty=True)
    printer.show("a", 0.0)
    printer.show("b", 0.1)  # too soon: skipped
    printer.show("c", 0.3)
    printer.finish()
    assert tty.getvalue() == "\ra\x1b[K\rc\x1b[K\n"
    pipe = io.StringIO()
    printer = StatusPrinter(pipe, tty=False, every_s=2.0)
    for t in (0.0, 1.0, 2.0, 3.0, 4.5):
        printer.show(f"t={t}", t)
    printer.finish()
    assert pipe.getvalue() == "t=0.0\nt=2.0\nt=4.5\n"
