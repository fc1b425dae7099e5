"""node_specs(): the one node list behind `nemuri up` and the launch files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nemuri.graph import node_specs
from nemuri.settings import ConfigError, config_dir, default_config_path, load_settings

CORE_PARAMETERS = {
    "tick_hz",
    "tick_phase",
    "data_dir",
    "runtime",
    "stale_periods",
    "speech_threshold",
    "context_capacity",
    "sleep_action",
    "diagnostics_hz",
    "inject_step_delay_s",
    "autostart",
    "use_sim_time",
}


def test_default_graph_is_the_core_alone():
    settings = load_settings()
    assert settings.source == default_config_path()
    assert settings.mode == "composed"
    [core] = node_specs(settings)
    assert (core.key, core.package, core.executable) == ("core", "nemuri", "core_node")
    assert (core.module, core.node_class) == ("nemuri.nodes.core_node", "CoreNode")
    assert (core.name, core.namespace, core.fqn) == ("nemuri_core", "", "/nemuri_core")
    assert core.lifecycle
    assert set(core.parameters) == CORE_PARAMETERS
    assert core.parameters["tick_hz"] == 10.0 and isinstance(core.parameters["tick_hz"], float)
    assert core.parameters["use_sim_time"] is False
    assert core.parameters["autostart"] is True
    assert core.parameters["data_dir"] == str(Path("~/.nemuri").expanduser())
    assert core.remappings == ()


@pytest.mark.ros
def test_default_parameters_are_what_the_core_declares():
    """The YAML lists every parameter the core reads, with the core's own defaults."""
    import rclpy

    from nemuri.nodes.core_node import CoreNode

    [core] = node_specs(load_settings())
    context = rclpy.Context()  # its own: other tests may hold the default one
    rclpy.init(context=context)
    try:
        node = CoreNode(context=context)
        declared = {k: p.value for k, p in node.get_parameters_by_prefix("").items()}
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    declared.pop("start_type_description_service", None)  # every rclpy node has it
    assert set(declared) == set(core.parameters)
    for name, value in declared.items():
        expected = core.parameters[name]
        if name == "data_dir":
            expected = str(expected).replace(str(Path.home()), "~")
        assert value == expected, name


def test_overrides_reach_the_specs(tmp_path):
    settings = load_settings(
        overrides=[
            "core.tick_hz=50",
            f"core.data_dir={tmp_path}",
            "core.runtime=torch",
            "use_sim_time=true",
            "mode=processes",
            "nodes.core.namespace=/robot",
            "nodes.core.remappings={/nemuri/state: /other/state}",
        ]
    )
    [core] = node_specs(settings)
    assert settings.mode == "processes"
    assert core.parameters["tick_hz"] == 50.0 and isinstance(core.parameters["tick_hz"], float)
    assert core.parameters["data_dir"] == str(tmp_path)
    assert core.parameters["runtime"] == "torch"
    assert core.parameters["use_sim_time"] is True
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


def test_tilde_is_expanded_in_an_override():
    [core] = node_specs(load_settings(overrides=["core.data_dir=~/elsewhere"]))
    assert core.parameters["data_dir"] == str(Path("~/elsewhere").expanduser())


def test_disabled_nodes_are_not_started():
    assert node_specs(load_settings(overrides=["nodes.core.enabled=false"])) == []


def test_nodes_start_in_file_order(tmp_path):
    """A later node (a sensor, the world) slots in as another entry of the same shape."""
    document = yaml.safe_load(default_config_path().read_text())
    camera = {
        **document["nodes"]["core"],
        "name": "camera",
        "lifecycle": False,
        "parameters": {"rate_hz": 10.0, "frame_ids": ["a", "b"]},
    }
    document["nodes"] = {"camera": camera, **document["nodes"]}
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    specs = node_specs(load_settings(path, ["camera.rate_hz=20"]))
    assert [s.name for s in specs] == ["camera", "nemuri_core"]
    assert specs[0].parameters == {"rate_hz": 20.0, "frame_ids": ["a", "b"], "use_sim_time": False}
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
