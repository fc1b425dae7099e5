"""The robot graph: config/robot.yaml, launch/robot.launch.py, the Docker image's files.

As in test_launch.py, the launch file is loaded against stand-ins for `launch` and
`launch_ros` (no wheels for them here) and its node actions must be node_specs() of the
robot config, the function `nemuri up --config robot.yaml` uses. Each node's YAML lists
exactly its module's PARAMETERS, and the values that differ from the default graph are
the devices and sources, by design. No Docker engine here: the Dockerfile is checked for
its base image, the files it copies and the pinned requirements it installs.
"""

from __future__ import annotations

import importlib
import os
import re
import types
from pathlib import Path

import pytest

from nemuri.graph import node_specs
from nemuri.settings import config_dir, default_config_path, load_settings
from test_launch import stand_in_modules

ROOT = Path(__file__).resolve().parents[1]
ROBOT = config_dir() / "robot.yaml"
LAUNCH_FILE = ROOT / "launch/robot.launch.py"
DOCKERFILE = ROOT / "docker/Dockerfile"
ROBOT_KEYS = [
    "camera",
    "microphone",
    "recogniser",
    "touch",
    "proprio",
    "core",
    "actuator",
    "speech",
]
# Where a robot node is configured unlike the same node in nemuri.yaml, by design.
ROBOT_CHANGES = {
    "camera": {"source", "width", "height", "fps"},
    "microphone": {"source"},
    "actuator": {"driver"},
    "speech": {"output"},
}


def test_the_robot_graph_is_the_devices_and_the_agent_on_wall_time():
    settings = load_settings(ROBOT)
    assert settings.use_sim_time is False and settings.mode == "processes"
    specs = node_specs(settings)
    assert [s.key for s in specs] == ROBOT_KEYS  # no world node
    by_key = {s.key: s.parameters for s in specs}
    assert by_key["camera"]["source"] == "opencv" and by_key["camera"]["device"] == "0"
    assert by_key["microphone"]["source"] == "sounddevice"
    assert by_key["actuator"]["driver"] == "serial"
    assert by_key["actuator"]["serial_port"] == "/dev/ttyACM0"
    assert by_key["actuator"]["serial_baud"] == 115200
    assert by_key["speech"]["output"] == "speaker"
    assert all(p["use_sim_time"] is False for p in by_key.values())


@pytest.mark.parametrize("key", ROBOT_KEYS)
def test_each_robot_node_lists_exactly_its_modules_parameters(key):
    node = load_settings(ROBOT).node(key)
    module = importlib.import_module(node.module)
    assert hasattr(module, node.node_class)
    defaults = {name: default for name, default, _ in module.PARAMETERS}
    assert set(node.parameters) == set(defaults)
    for name, value in node.parameters.items():
        assert type(value) is type(defaults[name]), name  # rclpy refuses another type


def test_robot_nodes_are_the_default_graphs_nodes_with_their_devices():
    default = {n.key: n for n in load_settings(default_config_path()).nodes}
    robot = load_settings(ROBOT)
    for node in robot.nodes:
        if node.key not in default:
            assert node.key == "recogniser"  # the robot's alone: the world's caretaker says words
            continue
        other = default[node.key]
        same = ("package", "executable", "module", "node_class", "name", "lifecycle")
        assert [getattr(node, f) for f in same] == [getattr(other, f) for f in same], node.key
        # (Both files list every parameter: test_graph checks nemuri.yaml's, this file ours.)
        shared = set(node.parameters) & set(other.parameters)
        changed = {k for k in shared if node.parameters[k] != other.parameters[k]}
        assert changed == ROBOT_CHANGES.get(node.key, set()), node.key


def test_robot_overrides_reach_the_specs():
    settings = load_settings(ROBOT, ["actuator.serial_port=/dev/ttyUSB0", "camera.device=2"])
    by_key = {s.key: s.parameters for s in node_specs(settings)}
    assert by_key["actuator"]["serial_port"] == "/dev/ttyUSB0"
    assert by_key["camera"]["device"] == "2"  # a string, as the file has it


@pytest.fixture
def launch_file(monkeypatch):
    import importlib.util
    import sys

    classes, modules = stand_in_modules()
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("nemuri_robot_launch", LAUNCH_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return classes, mod


def test_robot_launch_nodes_are_node_specs(launch_file, monkeypatch):
    classes, launch = launch_file
    monkeypatch.setenv("ROS_DOMAIN_ID", "63")  # restored after: the launch file sets os.environ
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    actions = launch.generate_launch_description().args[0]
    env = {
        a.args[0]: a.args[1] for a in actions if isinstance(a, classes["SetEnvironmentVariable"])
    }
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST" and env["ROS_DOMAIN_ID"] == "63"
    arguments = {
        a.args[0]: a.kwargs["default_value"]
        for a in actions
        if isinstance(a, classes["DeclareLaunchArgument"])
    }
    assert arguments == {"config": str(ROBOT), "set": ""}
    [opaque] = [a for a in actions if isinstance(a, classes["OpaqueFunction"])]
    overrides = "actuator.serial_port=/dev/ttyUSB1 core.tick_hz=50"
    context = types.SimpleNamespace(
        launch_configurations={"config": arguments["config"], "set": overrides}
    )
    nodes = opaque.kwargs["function"](context)
    specs = node_specs(load_settings(ROBOT, overrides.split()))
    assert [s.key for s in specs] == ROBOT_KEYS
    for node, spec in zip(nodes, specs, strict=True):
        assert isinstance(node, classes["LifecycleNode" if spec.lifecycle else "Node"])
        assert node.kwargs["executable"] == spec.executable
        assert node.kwargs["name"] == spec.name
        assert node.kwargs["parameters"] == [spec.parameters]
    by_key = {s.key: n for s, n in zip(specs, nodes, strict=True)}
    assert by_key["actuator"].kwargs["parameters"][0]["serial_port"] == "/dev/ttyUSB1"


def test_the_robot_files_are_installed_and_every_node_has_a_console_script():
    import setuptools

    from test_launch import PACKAGE_DIR

    captured: dict = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    cwd = os.getcwd()
    try:
        os.chdir(PACKAGE_DIR)
        source = (PACKAGE_DIR / "setup.py").read_text()
        exec(compile(source, "setup.py", "exec"), {"__file__": str(PACKAGE_DIR / "setup.py")})
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    files = dict(captured["data_files"])
    assert "config/robot.yaml" in files["share/nemuri/config"]
    assert "../../../launch/robot.launch.py" in files["share/nemuri/launch"]
    scripts = dict(
        (n.strip(), t.strip())
        for n, t in (s.split("=") for s in captured["entry_points"]["console_scripts"])
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    for spec in node_specs(load_settings(ROBOT)):
        assert scripts[spec.executable] == f"{spec.module}:main"
        assert f'{spec.executable} = "{spec.module}:main"' in pyproject


# ---------------------------------------------------------------------------- Dockerfile
def dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_the_image_is_built_on_the_official_ros_base_and_runs_the_robot_launch():
    text = dockerfile()
    assert re.search(r"^ARG ROS_DISTRO=(jazzy|kilted)$", text, re.M)
    assert re.search(r"^FROM ros:\$\{ROS_DISTRO\}-ros-base$", text, re.M)
    assert "colcon build" in text
    cmd = [line for line in text.splitlines() if line.startswith("CMD ")]
    assert cmd and "launch/robot.launch.py" in text[text.index(cmd[0]) :]
    for package in ("espeak-ng", "libportaudio2"):  # the voice and sounddevice
        assert package in text


def test_the_image_installs_the_makefiles_pinned_requirements_torch_first():
    text = dockerfile()
    torch_pin = re.search(r"torch==[\d.]+", (ROOT / "Makefile").read_text()).group(0)
    torch_at = text.index(torch_pin)
    assert torch_at < text.index("-r /tmp/requirements.txt")  # torch (CPU) first
    assert "COPY requirements.lock" in text
    lock = (ROOT / "requirements.lock").read_text()
    for package in ("opencv-python-headless", "sounddevice", "pocketsphinx", "pyserial"):
        assert re.search(rf"^{package}==", lock, re.M | re.I), package


def test_every_file_the_image_copies_exists():
    for line in dockerfile().splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), source
