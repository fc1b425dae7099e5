"""node_specs(): the one node list behind `nemuri up` and the launch files."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from nemuri.graph import node_specs
from nemuri.settings import ConfigError, config_dir, default_config_path, load_settings

# The default graph: the built-in world and the agent around it, in start order.
# (key, module, class, ROS node name); each node's executable is its module's last part.
DEFAULT_GRAPH = [
    ("world", "nemuri.nodes.world_node", "WorldNode", "nemuri_world"),
    ("camera", "nemuri.nodes.camera_node", "CameraNode", "nemuri_camera"),
    ("microphone", "nemuri.nodes.microphone_node", "MicrophoneNode", "nemuri_microphone"),
    ("touch", "nemuri.nodes.touch_node", "TouchNode", "nemuri_touch"),
    ("proprio", "nemuri.nodes.proprio_node", "ProprioNode", "nemuri_proprio"),
    ("core", "nemuri.nodes.core_node", "CoreNode", "nemuri_core"),
    ("actuator", "nemuri.nodes.actuator_node", "ActuatorNode", "nemuri_actuator"),
    ("speech", "nemuri.nodes.speech_node", "SpeechNode", "nemuri_speech"),
    ("sleep", "nemuri.nodes.sleep_node", "SleepNode", "nemuri_sleep"),
]
TICKING_KEYS = [key for key, *_ in DEFAULT_GRAPH if key != "sleep"]  # sleep has no tick
DEFAULT_KEYS = [key for key, _, _, _ in DEFAULT_GRAPH]
# Every node entry in nemuri.yaml, enabled or not, read at collection time.
CONFIGURED_KEYS = [node.key for node in load_settings().nodes]


def spec_of(specs, key):
    [spec] = [s for s in specs if s.key == key]
    return spec


def module_defaults(module_name: str) -> dict[str, object]:
    """A node module's PARAMETERS, (name, default, description) each, as name -> default."""
    module = importlib.import_module(module_name)
    return {name: default for name, default, _ in module.PARAMETERS}


def test_default_graph_is_the_built_in_world_on_sim_time():
    settings = load_settings()
    assert settings.source == default_config_path()
    assert settings.mode == "composed"
    assert settings.use_sim_time is True  # the world publishes /clock
    specs = node_specs(settings)
    assert [s.key for s in specs] == DEFAULT_KEYS  # all enabled, in file order
    for spec, (key, module, node_class, name) in zip(specs, DEFAULT_GRAPH, strict=True):
        assert (spec.package, spec.executable) == ("nemuri", module.rsplit(".", 1)[1]), key
        assert (spec.module, spec.node_class) == (module, node_class), key
        assert (spec.name, spec.namespace, spec.fqn) == (name, "", f"/{name}"), key
        assert spec.lifecycle, key
        assert spec.remappings == (), key
        assert spec.parameters["use_sim_time"] is True, key
        assert spec.parameters["autostart"] is True, key
        if key in TICKING_KEYS:
            assert spec.parameters["tick_hz"] == 10.0, key
            assert isinstance(spec.parameters["tick_hz"], float), key
    home = str(Path("~/.nemuri").expanduser())
    assert spec_of(specs, "core").parameters["data_dir"] == home
    sleep = spec_of(specs, "sleep")  # sleeps on the core's days, serves the core's action
    assert sleep.parameters["data_dir"] == home
    assert sleep.parameters["action_name"] == spec_of(specs, "core").parameters["sleep_action"]


@pytest.mark.parametrize("key", CONFIGURED_KEYS)
def test_each_node_lists_exactly_its_modules_parameters(key):
    """The YAML lists every parameter the node reads (its module's PARAMETERS), with the
    node's own defaults and their types, and nothing else; the spec adds use_sim_time."""
    settings = load_settings()
    node = settings.node(key)
    module = importlib.import_module(node.module)
    assert hasattr(module, node.node_class), node.module
    defaults = module_defaults(node.module)
    assert set(node.parameters) == set(defaults)
    for name, default in defaults.items():
        value = node.parameters[name]
        if isinstance(default, str) and default.startswith("~/"):
            default = str(Path(default).expanduser())  # expanded on load
        assert value == default, name
        assert type(value) is type(default), name  # rclpy refuses another type
        if isinstance(default, list):
            assert [type(v) for v in value] == [type(v) for v in default], name
    if node.enabled:
        spec = spec_of(node_specs(settings), key)
        assert spec.parameters == {**node.parameters, "use_sim_time": settings.use_sim_time}


@pytest.mark.ros
@pytest.mark.parametrize("key", CONFIGURED_KEYS)
def test_default_parameters_are_what_the_node_declares(key):
    """What the node really declares is its PARAMETERS, so the YAML is the node's list."""
    import rclpy

    node_entry = load_settings().node(key)
    node_class = getattr(importlib.import_module(node_entry.module), node_entry.node_class)
    context = rclpy.Context()  # its own: other tests may hold the default one
    rclpy.init(context=context)
    try:
        node = node_class(context=context)
        declared = {k: p.value for k, p in node.get_parameters_by_prefix("").items()}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    declared.pop("start_type_description_service", None)  # every rclpy node has it
    assert declared.pop("use_sim_time") is False  # rclpy's own; node_specs sets it
    assert set(declared) == set(node_entry.parameters)
    for name, value in declared.items():
        expected = node_entry.parameters[name]
        if name == "data_dir":
            expected = str(expected).replace(str(Path.home()), "~")
        assert value == expected, name


def test_overrides_reach_the_specs(tmp_path):
    settings = load_settings(
        overrides=[
            "core.tick_hz=50",
            f"core.data_dir={tmp_path}",
            f"sleep.data_dir={tmp_path}",
            "core.runtime=torch",
            "use_sim_time=false",
            "mode=processes",
            "nodes.core.namespace=/robot",
            "nodes.core.remappings={/nemuri/state: /other/state}",
        ]
    )
    specs = node_specs(settings)
    core = spec_of(specs, "core")
    assert settings.mode == "processes"
    assert core.parameters["tick_hz"] == 50.0 and isinstance(core.parameters["tick_hz"], float)
    assert core.parameters["data_dir"] == str(tmp_path)
    assert core.parameters["runtime"] == "torch"
    assert all(s.parameters["use_sim_time"] is False for s in specs)  # every node at once
    assert core.fqn == "/robot/nemuri_core"
    assert core.remappings == (("/nemuri/state", "/other/state"),)
    assert core.ros_arguments() == [
        "-r",
        "__node:=nemuri_core",
        "-r",
        "__ns:=/robot",
        "-r",
        "/nemuri/state:=/other/state",
    ]
    assert core.params_document() == {"/robot/nemuri_core": {"ros__parameters": core.parameters}}
    for spec in specs:  # a node's override is that node's alone
        if spec.key != "core":
            assert spec.parameters.get("tick_hz", 10.0) == 10.0, spec.key
            assert spec.namespace == "" and spec.remappings == (), spec.key


def test_tilde_is_expanded_in_an_override():
    overrides = ["core.data_dir=~/elsewhere", "sleep.data_dir=~/elsewhere"]
    core = spec_of(node_specs(load_settings(overrides=overrides)), "core")
    assert core.parameters["data_dir"] == str(Path("~/elsewhere").expanduser())


def test_a_sleep_node_on_another_data_dir_than_the_core_is_refused(tmp_path):
    """It would sleep on days that are not the core's and write brains the core never
    loads: refused on load, naming both keys; with the sleep node off, the core's alone."""
    with pytest.raises(ConfigError) as caught:
        node_specs(load_settings(overrides=[f"core.data_dir={tmp_path}"]))
    told = str(caught.value)
    assert f"core.data_dir={tmp_path}" in told and "sleep.data_dir=" in told
    assert str(default_config_path()) in told
    alone = [f"core.data_dir={tmp_path}", "nodes.sleep.enabled=false"]
    assert "sleep" not in [s.key for s in node_specs(load_settings(overrides=alone))]


def test_disabled_nodes_are_not_started():
    specs = node_specs(load_settings(overrides=["nodes.core.enabled=false"]))
    assert [s.key for s in specs] == [k for k in DEFAULT_KEYS if k != "core"]
    all_off = [f"nodes.{key}.enabled=false" for key in DEFAULT_KEYS]
    assert node_specs(load_settings(overrides=all_off)) == []
    only_core = [f"nodes.{key}.enabled=false" for key in DEFAULT_KEYS if key != "core"]
    assert [s.key for s in node_specs(load_settings(overrides=only_core))] == ["core"]


def test_nodes_start_in_file_order(tmp_path):
    """A later node (a lidar, say) slots in as another entry of the same shape, and the
    nodes start in the file's order, whatever it is."""
    document = yaml.safe_load(default_config_path().read_text())
    lidar = {
        **document["nodes"]["core"],
        "name": "lidar",
        "lifecycle": False,
        "parameters": {"rate_hz": 10.0, "frame_ids": ["a", "b"]},
    }
    reordered = {key: document["nodes"][key] for key in reversed(DEFAULT_KEYS)}
    document["nodes"] = {"lidar": lidar, **reordered}
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    specs = node_specs(load_settings(path, ["lidar.rate_hz=20"]))
    assert [s.key for s in specs] == ["lidar", *reversed(DEFAULT_KEYS)]
    assert [s.name for s in specs] == ["lidar", *(name for *_, name in reversed(DEFAULT_GRAPH))]
    assert specs[0].parameters == {"rate_hz": 20.0, "frame_ids": ["a", "b"], "use_sim_time": True}
    assert not specs[0].lifecycle


def test_config_dir_prefers_the_ament_share_dir(tmp_path, monkeypatch):
    """Installed by colcon: share/nemuri/config; otherwise the source tree."""
    assert config_dir() == Path(__file__).parents[1] / "agent_ws/src/nemuri/config"
    (tmp_path / "share/ament_index/resource_index/packages").mkdir(parents=True)
    (tmp_path / "share/ament_index/resource_index/packages/nemuri").write_text("")
    (tmp_path / "share/nemuri/config").mkdir(parents=True)
    (tmp_path / "share/nemuri/config/nemuri.yaml").write_text(default_config_path().read_text())
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert config_dir() == tmp_path / "share/nemuri/config"
    assert load_settings().source == tmp_path / "share/nemuri/config/nemuri.yaml"


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_settings(tmp_path / "nope.yaml")
