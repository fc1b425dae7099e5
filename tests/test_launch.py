"""The launch file and the ament_python package files, without a ROS 2 install.

`launch` and `launch_ros` have no wheels for the pip-installed ROS 2, so the launch file
is loaded here against small stand-ins that record what it builds: what is checked is that
its node actions come from node_specs(), name for name and parameter for parameter.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import setuptools

from nemuri.graph import node_specs
from nemuri.settings import default_config_path, load_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "agent_ws/src/nemuri"
LAUNCH_FILE = ROOT / "launch/nemuri.launch.py"
# The default graph (config/nemuri.yaml): the built-in world and the agent, in start order.
DEFAULT_KEYS = [
    *("world", "camera", "microphone", "touch", "proprio"),
    *("core", "actuator", "speech", "sleep"),
]


class Recorded:
    """Stand-in for a launch action: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


def stand_in_modules():
    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    classes = {
        name: type(name, (Recorded,), {})
        for name in (
            "LaunchContext",
            "LaunchDescription",
            "DeclareLaunchArgument",
            "OpaqueFunction",
            "SetEnvironmentVariable",
            "Node",
            "LifecycleNode",
        )
    }
    return classes, {
        "launch": module(
            "launch",
            LaunchContext=classes["LaunchContext"],
            LaunchDescription=classes["LaunchDescription"],
        ),
        "launch.actions": module(
            "launch.actions",
            **{
                k: classes[k]
                for k in ("DeclareLaunchArgument", "OpaqueFunction", "SetEnvironmentVariable")
            },
        ),
        "launch_ros": module("launch_ros"),
        "launch_ros.actions": module(
            "launch_ros.actions", Node=classes["Node"], LifecycleNode=classes["LifecycleNode"]
        ),
    }


@pytest.fixture
def launch_file(monkeypatch):
    classes, modules = stand_in_modules()
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("nemuri_launch", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return classes, mod


def test_launch_file_compiles():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), "exec")


def test_launch_nodes_are_node_specs(launch_file, monkeypatch, tmp_path):
    classes, launch = launch_file
    monkeypatch.setenv("ROS_DOMAIN_ID", "61")  # restored after: the launch file sets os.environ
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a thread count set outside is kept ...
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # ... else one thread
    description = launch.generate_launch_description()
    actions = description.args[0]
    env = {
        a.args[0]: a.args[1] for a in actions if isinstance(a, classes["SetEnvironmentVariable"])
    }
    assert env == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": "61",
        "OMP_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "1",
    }
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    arguments = {
        a.args[0]: a.kwargs["default_value"]
        for a in actions
        if isinstance(a, classes["DeclareLaunchArgument"])
    }
    assert arguments == {"config": str(default_config_path()), "set": ""}
    [opaque] = [a for a in actions if isinstance(a, classes["OpaqueFunction"])]

    overrides = f"core.tick_hz=50 core.data_dir={tmp_path} sleep.data_dir={tmp_path} "
    overrides += "use_sim_time=false"
    context = types.SimpleNamespace(
        launch_configurations={"config": arguments["config"], "set": overrides}
    )
    nodes = opaque.kwargs["function"](context)
    specs = node_specs(load_settings(overrides=overrides.split()))
    assert [s.key for s in specs] == DEFAULT_KEYS  # the whole default graph, in order
    assert len(nodes) == len(specs)
    for node, spec in zip(nodes, specs, strict=True):
        assert isinstance(node, classes["LifecycleNode" if spec.lifecycle else "Node"])
        assert node.kwargs["package"] == spec.package
        assert node.kwargs["executable"] == spec.executable
        assert node.kwargs["name"] == spec.name
        assert node.kwargs["namespace"] == spec.namespace
        assert node.kwargs["parameters"] == [spec.parameters]
        assert node.kwargs["remappings"] == list(spec.remappings)
        assert node.kwargs["parameters"][0]["use_sim_time"] is False  # the override, everywhere
    by_key = {spec.key: node for spec, node in zip(specs, nodes, strict=True)}
    assert by_key["core"].kwargs["parameters"][0]["tick_hz"] == 50.0
    assert by_key["core"].kwargs["parameters"][0]["data_dir"] == str(tmp_path)
    assert by_key["sleep"].kwargs["parameters"][0]["data_dir"] == str(tmp_path)
    assert by_key["camera"].kwargs["parameters"][0]["tick_hz"] == 10.0  # the core's alone


def test_package_xml_is_a_format_3_ament_python_package():
    from catkin_pkg.package import parse_package

    package = parse_package(str(PACKAGE_DIR / "package.xml"))
    assert package.name == "nemuri" and package.package_format == 3
    assert package.get_build_type() == "ament_python"
    exec_depends = {d.name for d in package.exec_depends}
    assert {
        "rclpy",
        "nemuri_msgs",
        "std_msgs",
        "sensor_msgs",
        "diagnostic_msgs",
        "lifecycle_msgs",
        "launch",
        "launch_ros",
    } <= exec_depends
    assert (PACKAGE_DIR / "resource/nemuri").is_file()


@pytest.fixture
def setup_kwargs(monkeypatch):
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(PACKAGE_DIR)
    source = (PACKAGE_DIR / "setup.py").read_text()
    exec(
        compile(source, str(PACKAGE_DIR / "setup.py"), "exec"),
        {"__file__": str(PACKAGE_DIR / "setup.py"), "__name__": "__main__"},
    )
    return captured


def test_setup_py_installs_config_launch_files_and_the_ament_marker(setup_kwargs):
    assert setup_kwargs["name"] == "nemuri"
    files = dict(setup_kwargs["data_files"])
    assert files["share/ament_index/resource_index/packages"] == ["resource/nemuri"]
    assert files["share/nemuri"] == ["package.xml"]
    assert "config/nemuri.yaml" in files["share/nemuri/config"]
    assert "../../../launch/nemuri.launch.py" in files["share/nemuri/launch"]
    for paths in files.values():
        for path in paths:
            assert not os.path.isabs(path) and (PACKAGE_DIR / path).is_file(), path
    assert "nemuri" in setup_kwargs["packages"] and "nemuri.nodes" in setup_kwargs["packages"]


def test_every_configured_node_has_a_console_script(setup_kwargs):
    scripts = dict(
        (name.strip(), target.strip())
        for name, target in (s.split("=") for s in setup_kwargs["entry_points"]["console_scripts"])
    )
    assert scripts["nemuri"] == "nemuri.cli:main"
    for spec in node_specs(load_settings()):
        assert scripts[spec.executable] == f"{spec.module}:main"


def test_console_scripts_import(setup_kwargs):
    for entry in setup_kwargs["entry_points"]["console_scripts"]:
        module, function = entry.split("=")[1].strip().split(":")
        assert callable(getattr(importlib.import_module(module), function)), entry
