"""The Gazebo side, checked without Gazebo: world, robot, bridge, controllers, graph, launch, image.

Nothing of Gazebo, ros_gz, ros2_control or `ros2 launch` runs here, so these check what
they rely on, against nemuri's own contracts rather than against copies of them:
- the world SDF has the systems the robot's sensors need and the built-in world's table
  and objects (nemuri.worlds.objects, WorldConfig);
- the Gazebo robot (urdf/nemuri.gazebo.xacro) is nemuri.urdf plus sensors and
  ros2_control tags only, and MuJoCo still loads it;
- every ROS topic the bridge maps is one nemuri uses (read from nemuri's code, the README's
  and DESIGN.md's topic tables), with that type, from Gazebo into ROS, and its Gazebo side
  is a topic the robot or the world publishes;
- the controllers are the 5 contract joints on a velocity interface, on the topic the
  actuator node's driver publishes to;
- launch/gazebo.launch.py, loaded against stand-ins for launch/launch_ros (no wheels exist
  for them), builds its nemuri nodes with node_specs(config/gazebo.yaml) and starts Gazebo,
  the robot, the bridge and the controllers with these files;
- docker/gazebo.Dockerfile installs Gazebo, ros_gz and gz_ros2_control on a ros:<distro>
  image, nemuri from requirements.lock, builds the workspace and runs the launch file.

xacro is not installed here either: `expand_xacro` below does the three things the Gazebo
robot uses (xacro:arg, $(arg), xacro:include) and refuses anything else; where the real
xacro is importable, a test checks it expands the file the same way.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import os
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from nemuri.contracts import JOINTS, TICK_HZ, TOUCH_PADS
from nemuri.graph import node_specs
from nemuri.launching import graph_actions
from nemuri.nodes import gz_touch_node
from nemuri.settings import config_dir, default_config_path, load_settings
from nemuri.worlds.description import joint_limits
from nemuri.worlds.mujoco_world import MujocoWorld, WorldConfig  # sets MUJOCO_GL first
from nemuri.worlds.objects import COLOURS, SHAPES, object_catalogue

ROOT = Path(__file__).resolve().parents[1]
DESCRIPTION = ROOT / "agent_ws/src/nemuri_description"
URDF = DESCRIPTION / "urdf/nemuri.urdf"
XACRO = DESCRIPTION / "urdf/nemuri.gazebo.xacro"
WORLD = DESCRIPTION / "worlds/nemuri.sdf"
BRIDGE = DESCRIPTION / "config/ros_gz_bridge.yaml"
CONTROLLERS = DESCRIPTION / "config/controllers.yaml"
GRAPH = config_dir() / "gazebo.yaml"
LAUNCH_FILE = ROOT / "launch/gazebo.launch.py"
DOCKERFILE = ROOT / "docker/gazebo.Dockerfile"
NEMURI_SOURCE = ROOT / "agent_ws/src/nemuri/nemuri"
XACRO_NS = "{http://www.ros.org/wiki/xacro}"

# The nemuri nodes that may run beside Gazebo (module -> class). No microphone: Gazebo
# has no audio.
GAZEBO_NODES = {
    "nemuri.nodes.gz_touch_node": "GzTouchNode",
    "nemuri.nodes.camera_node": "CameraNode",
    "nemuri.nodes.touch_node": "TouchNode",
    "nemuri.nodes.proprio_node": "ProprioNode",
    "nemuri.nodes.actuator_node": "ActuatorNode",
    "nemuri.nodes.core_node": "CoreNode",
    "nemuri.nodes.speech_node": "SpeechNode",
}
# ros_gz_bridge's pairs (its README's table) for the types nemuri can use from Gazebo.
GZ_TYPES = {
    "rosgraph_msgs/msg/Clock": "gz.msgs.Clock",
    "sensor_msgs/msg/Image": "gz.msgs.Image",
    "sensor_msgs/msg/JointState": "gz.msgs.Model",
    "ros_gz_interfaces/msg/Contacts": "gz.msgs.Contacts",
    "std_msgs/msg/Float64": "gz.msgs.Double",
}
BRIDGE_KEYS = {  # the keys ros_gz_bridge's YAML parser reads (bridge_config.cpp)
    "topic_name",
    "ros_topic_name",
    "gz_topic_name",
    "ros_type_name",
    "gz_type_name",
    "direction",
    "lazy",
    "publisher_queue",
    "subscriber_queue",
}


# ------------------------------------------------------------------------------ helpers
def expand_xacro(path: Path, mappings: dict[str, str]) -> ET.Element:
    """xacro:arg, $(arg NAME) and xacro:include of the Gazebo robot; any other xacro is an error."""
    source = ET.parse(path).getroot()
    args = dict(mappings)
    robot = ET.Element(source.tag, source.attrib)
    for child in source:
        if child.tag == f"{XACRO_NS}arg":
            args.setdefault(child.get("name"), child.get("default"))
        elif child.tag == f"{XACRO_NS}include":
            robot.extend(list(ET.parse(path.parent / child.get("filename")).getroot()))
        else:
            robot.append(child)

    def substitute(text: str | None) -> str | None:
        if text is None:
            return None
        text = re.sub(r"\$\(arg (\w+)\)", lambda m: args[m.group(1)], text)
        assert "$(" not in text, f"xacro feature the stand-in does not do: {text!r}"
        return text

    for element in robot.iter():
        assert not element.tag.startswith(XACRO_NS), f"unexpanded {element.tag}"
        element.text = substitute(element.text)
        element.attrib.update({k: substitute(v) for k, v in element.attrib.items()})
    return robot


@pytest.fixture(scope="module")
def gazebo_robot() -> ET.Element:
    return expand_xacro(XACRO, {"controllers": str(CONTROLLERS)})


@pytest.fixture(scope="module")
def robot() -> ET.Element:
    return ET.parse(URDF).getroot()


@pytest.fixture(scope="module")
def world() -> ET.Element:
    return ET.parse(WORLD).getroot()


@pytest.fixture(scope="module")
def bridge() -> list[dict]:
    return yaml.safe_load(BRIDGE.read_text())


@pytest.fixture(scope="module")
def controllers() -> dict:
    return yaml.safe_load(CONTROLLERS.read_text())


def floats(text: str | None) -> list[float]:
    return [float(v) for v in (text or "").split()]


def gazebo_extension(robot: ET.Element, reference: str) -> ET.Element:
    [element] = [g for g in robot.findall("gazebo") if g.get("reference") == reference]
    return element


def sensors(robot: ET.Element) -> dict[str, tuple[str, ET.Element]]:
    """Sensor name -> (the link it is on, its element)."""
    return {
        s.get("name"): (g.get("reference"), s)
        for g in robot.findall("gazebo")
        for s in g.findall("sensor")
    }


def contact_sensor_topics(robot: ET.Element) -> dict[str, str]:
    """Pad -> the gz topic of its contact sensor (the Contact system reads <contact><topic>)."""
    found = {}
    for link, sensor in sensors(robot).values():
        if sensor.get("type") == "contact":
            pad = link.removesuffix("_pad_link")
            found[pad] = sensor.findtext("contact/topic")
    return found


def camera_sensor(robot: ET.Element) -> tuple[str, ET.Element]:
    [camera] = [(link, s) for link, s in sensors(robot).values() if s.get("type") == "camera"]
    return camera


# ------------------------------------------------------------- what nemuri's topics are
def code_topics() -> set[str]:
    """Every literal ROS name in nemuri's own code (subscriptions, publishers, constants)."""
    names = set()
    for path in NEMURI_SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"(/[a-z_][a-z0-9_]*)+", node.value):
                    names.add(node.value)
    return names | {gz_touch_node.contact_topic(pad) for pad in TOUCH_PADS}


def documented_topics() -> dict[str, str]:
    """Topic -> its type as the README's Topics table and DESIGN.md's Contracts write it."""
    documented: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(/[^`<>]+)`\s*\|\s*([\w/]+)\s*\|", line)
        if match:
            documented[match.group(1)] = match.group(2)
    design = ROOT.parent / "shared/DESIGN.md"
    if design.is_file():  # the steering repo's copy, beside the checkout
        for line in design.read_text(encoding="utf-8").splitlines():
            if line.startswith("| topics |"):
                for topic, kind in re.findall(r"`(/[^`<>]+)` (\w+)", line):
                    documented.setdefault(topic, kind)
    return documented


def same_type(full: str, documented: str) -> bool:
    """`sensor_msgs/msg/Image` is what `sensor_msgs/Image` or `Image` names."""
    package, _, name = full.partition("/msg/")
    return documented in (full, f"{package}/{name}", name)


# ----------------------------------------------------------------------------- world SDF
def test_world_parses_with_the_systems_the_sensors_need(world):
    assert world.tag == "sdf"
    [gz_world] = world.findall("world")
    launch = load_launch_module_plain()
    assert gz_world.get("name") == launch.WORLD_NAME
    physics = gz_world.find("physics")
    assert physics.get("type") == "dart"  # fills contact forces (gz_touch reads them)
    assert float(physics.findtext("max_step_size")) == WorldConfig().physics_dt
    plugins = {p.get("name"): p for p in gz_world.findall("plugin")}
    assert set(plugins) >= {
        "gz::sim::systems::Physics",
        "gz::sim::systems::UserCommands",  # ros_gz_sim create spawns through it
        "gz::sim::systems::SceneBroadcaster",
        "gz::sim::systems::Sensors",  # renders the camera
        "gz::sim::systems::Contact",  # the pads' contact sensors
    }
    for name, plugin in plugins.items():
        short = name.rsplit("::", 1)[1]
        assert plugin.get("filename").startswith("gz-sim-"), short
    assert plugins["gz::sim::systems::Sensors"].findtext("render_engine") == "ogre2"
    assert gz_world.findtext("scene/shadows") == "false"


def test_world_table_top_is_where_the_robot_stands(world):
    table = next(m for m in world.iter("model") if m.get("name") == "table")
    assert table.findtext("static") == "true"
    top = next(c for c in table.iter("collision") if c.get("name") == "top_collision")
    z = floats(table.findtext("pose"))[2] + floats(top.findtext("pose"))[2]
    thickness = floats(top.findtext("geometry/box/size"))[2]
    assert z + thickness / 2 == pytest.approx(WorldConfig().table_height)
    assert load_launch_module_plain().TABLE_HEIGHT == WorldConfig().table_height


def sdf_size(geometry: ET.Element) -> tuple[str, tuple[float, ...]]:
    """An SDF geometry as (MuJoCo kind, MuJoCo size), the convention of objects.SHAPES."""
    [shape] = list(geometry)
    if shape.tag == "sphere":
        return "sphere", (float(shape.findtext("radius")),)
    if shape.tag == "box":
        return "box", tuple(v / 2 for v in floats(shape.findtext("size")))
    if shape.tag in ("cylinder", "capsule"):
        radius, length = float(shape.findtext("radius")), float(shape.findtext("length"))
        return shape.tag, (radius, length / 2)
    if shape.tag == "ellipsoid":
        return "ellipsoid", tuple(floats(shape.findtext("radii")))
    raise AssertionError(f"unexpected geometry {shape.tag}")


def test_world_objects_are_the_built_in_worlds_objects(world):
    catalogue = {spec.name: spec for spec in object_catalogue(8)}
    objects = [m for m in world.iter("model") if m.get("name") not in ("ground_plane", "table")]
    assert len(objects) >= 4
    assert len({catalogue[m.get("name")].colour for m in objects}) == len(objects)
    for model in objects:
        spec = catalogue[model.get("name")]
        assert model.findtext("static") == "true", spec.name
        [visual] = model.iter("visual")
        [collision] = model.iter("collision")
        for material in ("ambient", "diffuse"):
            assert floats(visual.findtext(f"material/{material}")) == pytest.approx(
                COLOURS[spec.colour]
            )
        kind, size = SHAPES[spec.shape]
        for geometry in (visual.find("geometry"), collision.find("geometry")):
            assert sdf_size(geometry)[0] == kind, spec.name
            assert sdf_size(geometry)[1] == pytest.approx(size), spec.name
        x, y, z = floats(model.findtext("pose"))[:3]
        assert z - spec.half_height == pytest.approx(WorldConfig().table_height, abs=1e-3)
        assert 0.1 < x < 0.54 and abs(y) < 0.45, spec.name  # on the table, in front


# --------------------------------------------------------------------- the Gazebo robot
def elements(robot: ET.Element, tag: str) -> dict[str, bytes]:
    return {e.get("name"): ET.canonicalize(ET.tostring(e)) for e in robot.findall(tag)}


def test_gazebo_robot_is_nemuri_urdf_plus_a_world_anchor(gazebo_robot, robot):
    assert gazebo_robot.tag == "robot" and gazebo_robot.get("name") == robot.get("name")
    links, joints = elements(gazebo_robot, "link"), elements(gazebo_robot, "joint")
    assert set(links) == set(elements(robot, "link")) | {"world"}
    assert set(joints) == set(elements(robot, "joint")) | {"world_joint"}
    for tag in ("link", "joint", "material"):
        for name, text in elements(robot, tag).items():
            assert elements(gazebo_robot, tag)[name] == text, f"{tag} {name} changed"
    anchor = gazebo_robot.find("joint[@name='world_joint']")
    assert anchor.get("type") == "fixed"
    assert (anchor.find("parent").get("link"), anchor.find("child").get("link")) == (
        "world",
        "base_link",
    )


def test_mujoco_still_loads_the_gazebo_robot(gazebo_robot, tmp_path):
    import mujoco

    path = tmp_path / "nemuri_gazebo.urdf"
    path.write_bytes(ET.tostring(gazebo_robot))
    model = mujoco.MjModel.from_xml_path(str(path))
    assert [model.joint(i).name for i in range(model.njnt)] == list(JOINTS)
    original = mujoco.MjModel.from_xml_path(str(URDF))
    assert model.nbody == original.nbody
    # ... and the built-in world can be built around it and moves its joints
    world = MujocoWorld(WorldConfig(urdf_path=path))
    try:
        before = world.joint_state()[1].copy()
        for _ in range(3):
            world.step([0.5] * len(JOINTS))
        assert (world.joint_state()[1] != before).all()
    finally:
        world.close()


def test_the_camera_is_the_built_in_worlds_camera(gazebo_robot):
    link, camera = camera_sensor(gazebo_robot)
    config = WorldConfig()
    assert link == "camera_link"  # x forward, which is where a gz camera looks
    assert camera.findtext("gz_frame_id") == "camera_optical_frame"
    assert gazebo_robot.find("link[@name='camera_optical_frame']") is not None
    assert int(camera.findtext("camera/image/width")) == config.camera_width
    assert int(camera.findtext("camera/image/height")) == config.camera_height
    assert camera.findtext("camera/image/format") == "R8G8B8"  # rgb8 through the bridge
    aspect = config.camera_width / config.camera_height
    hfov = 2 * math.atan(math.tan(math.radians(config.camera_fovy) / 2) * aspect)
    assert float(camera.findtext("camera/horizontal_fov")) == pytest.approx(hfov)
    assert float(camera.findtext("update_rate")) >= TICK_HZ
    assert camera.findtext("always_on") == "true"
    joint = gazebo_extension(gazebo_robot, "camera_joint")
    assert joint.findtext("preserveFixedJoint") == "true"


def test_each_pad_has_a_contact_sensor_on_its_own_collision(gazebo_robot, robot):
    topics = contact_sensor_topics(gazebo_robot)
    assert set(topics) == set(TOUCH_PADS)
    assert len(set(topics.values())) == len(TOUCH_PADS)
    for pad in TOUCH_PADS:
        link = f"{pad}_pad_link"
        [sensor] = gazebo_extension(gazebo_robot, link).findall("sensor[@type='contact']")
        # sdformat names a link's only unnamed collision <link>_collision
        [collision] = robot.find(f"link[@name='{link}']").findall("collision")
        assert collision.get("name") is None
        assert sensor.findtext("contact/collision") == f"{link}_collision"
        assert sensor.findtext("topic") == topics[pad]
        # ... and a fixed joint would otherwise be lumped, collisions renamed
        [joint] = [j for j in robot.findall("joint") if j.find("child").get("link") == link]
        assert joint.get("type") == "fixed"
        preserved = gazebo_extension(gazebo_robot, joint.get("name"))
        assert preserved.findtext("preserveFixedJoint") == "true"


def test_ros2_control_commands_velocity_on_the_contract_joints(gazebo_robot):
    [control] = gazebo_robot.findall("ros2_control")
    assert control.findtext("hardware/plugin") == "gz_ros2_control/GazeboSimSystem"
    assert [j.get("name") for j in control.findall("joint")] == list(JOINTS)
    limits = joint_limits(URDF)
    for joint, rest in zip(control.findall("joint"), WorldConfig().rest, strict=True):
        name = joint.get("name")
        [command] = joint.findall("command_interface")
        assert command.get("name") == "velocity", name
        params = {p.get("name"): float(p.text) for p in command.findall("param")}
        assert params == {"min": -limits[name].velocity, "max": limits[name].velocity}, name
        states = {s.get("name"): s for s in joint.findall("state_interface")}
        assert {"position", "velocity"} <= set(states), name
        initial = states["position"].find("param[@name='initial_value']")
        assert float(initial.text) == pytest.approx(rest), name  # the rest pose
    [plugin] = [
        p
        for g in gazebo_robot.findall("gazebo")
        for p in g.findall("plugin")
        if g.get("reference") is None
    ]
    assert plugin.get("filename") == "gz_ros2_control-system"
    assert plugin.get("name") == "gz_ros2_control::GazeboSimROS2ControlPlugin"
    assert plugin.findtext("parameters") == str(CONTROLLERS)


def test_the_real_xacro_expands_it_the_same_way(gazebo_robot):
    xacro = pytest.importorskip("xacro", reason="xacro (ROS) is not installed here")
    document = xacro.process_file(str(XACRO), mappings={"controllers": str(CONTROLLERS)})
    real = ET.canonicalize(document.toxml(), strip_text=True)
    ours = ET.canonicalize(ET.tostring(gazebo_robot, encoding="unicode"), strip_text=True)
    assert real == ours


# ------------------------------------------------------------------------------- bridge
def test_bridge_yaml_is_a_list_of_ros_gz_bridge_entries(bridge):
    assert isinstance(bridge, list) and bridge
    for entry in bridge:
        assert set(entry) <= BRIDGE_KEYS, entry
        assert {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name"} <= set(entry)
        # From Gazebo into ROS only: BIDIRECTIONAL (the default) would echo ROS back in.
        assert entry["direction"] == "GZ_TO_ROS", entry
        assert GZ_TYPES[entry["ros_type_name"]] == entry["gz_type_name"], entry
    for key in ("ros_topic_name", "gz_topic_name"):
        assert len({e[key] for e in bridge}) == len(bridge), f"duplicate {key}"


def test_every_bridged_topic_is_one_nemuri_uses_with_its_type(bridge):
    uses = code_topics()
    documented = documented_topics()
    settings = load_settings(GRAPH)
    for entry in bridge:
        topic, kind = entry["ros_topic_name"], entry["ros_type_name"]
        if topic == "/clock":  # rclpy's time source on use_sim_time: every node reads it
            assert settings.use_sim_time and kind == "rosgraph_msgs/msg/Clock"
            continue
        assert topic in uses or topic in documented, f"{topic}: not a topic nemuri uses"
        if topic in documented:
            assert same_type(kind, documented[topic]), (topic, kind, documented[topic])
        else:  # nemuri's own adapter topics: the type is the adapter's
            assert topic.startswith(gz_touch_node.CONTACTS_PREFIX), topic
            assert kind == gz_touch_node.CONTACTS_TYPE, topic


def test_the_bridge_carries_what_the_robot_publishes_to_what_nemuri_reads(bridge, gazebo_robot):
    by_ros = {e["ros_topic_name"]: e for e in bridge}
    _, camera = camera_sensor(gazebo_robot)
    assert by_ros["/camera/image_raw"]["gz_topic_name"] == camera.findtext("topic")
    assert by_ros["/camera/image_raw"]["ros_type_name"] == "sensor_msgs/msg/Image"
    pads = contact_sensor_topics(gazebo_robot)
    for pad in TOUCH_PADS:
        entry = by_ros[gz_touch_node.contact_topic(pad)]
        assert entry["gz_topic_name"] == pads[pad]
        assert entry["ros_type_name"] == gz_touch_node.CONTACTS_TYPE
    assert by_ros["/clock"]["gz_topic_name"] == "/clock"
    # joint states and commands are ros2_control's, /touch is the gz_touch node's
    assert not {"/joint_states", "/touch", "/forward_velocity_controller/commands"} & set(by_ros)


# -------------------------------------------------------------------------- controllers
def test_controllers_are_the_contract_joints_on_a_velocity_interface(controllers):
    manager = controllers["controller_manager"]["ros__parameters"]
    assert manager["update_rate"] >= 10 * TICK_HZ
    assert manager["joint_state_broadcaster"]["type"] == (
        "joint_state_broadcaster/JointStateBroadcaster"
    )
    assert manager["forward_velocity_controller"]["type"] in (
        "forward_command_controller/ForwardCommandController",
        "velocity_controllers/JointGroupVelocityController",
    )
    forward = controllers["forward_velocity_controller"]["ros__parameters"]
    assert forward["joints"] == list(JOINTS)
    assert forward.get("interface_name", "velocity") == "velocity"
    launch = load_launch_module_plain()
    assert set(launch.CONTROLLER_NAMES) == {k for k, v in manager.items() if isinstance(v, dict)}


def test_the_actuator_drives_the_forward_controllers_topic():
    [actuator] = [s for s in node_specs(load_settings(GRAPH)) if s.key == "actuator"]
    assert actuator.parameters["driver_topic"] == "/forward_velocity_controller/commands"


# ------------------------------------------------------------------------- gazebo.yaml
def test_gazebo_graph_is_the_nemuri_nodes_that_run_beside_gazebo():
    settings = load_settings(GRAPH)
    assert settings.use_sim_time  # Gazebo's /clock
    assert {n.module for n in settings.nodes} <= set(GAZEBO_NODES)
    for node in settings.nodes:
        assert GAZEBO_NODES[node.module] == node.node_class, node.key
        assert node.executable == node.module.rsplit(".", 1)[1], node.key
    assert "microphone" not in {n.key for n in settings.nodes}  # Gazebo has no audio
    enabled = {s.module for s in node_specs(settings)}
    assert {"nemuri.nodes.gz_touch_node", "nemuri.nodes.core_node"} <= enabled
    assert "nemuri.nodes.speech_node" not in enabled  # no speaker in the world
    touch = settings.node("gz_touch")
    assert touch.parameters == {name: value for name, value, _ in gz_touch_node.PARAMETERS}


# Where a node beside Gazebo is configured unlike the same node in nemuri.yaml, by design:
# the actuator drives ros2_control's controller instead of the MuJoCo world, and the
# speech node would play on a sound card (Gazebo has no audio) and is off.
GAZEBO_PARAMETER_CHANGES = {"actuator": {"driver_topic"}, "speech": {"output"}}
GAZEBO_DISABLED = {"speech"}


def test_nodes_shared_with_nemuri_yaml_are_configured_alike():
    """Same node, names and parameters as the default graph: values differ only by design."""
    default = {n.key: n for n in load_settings(default_config_path()).nodes}
    shared = [n for n in load_settings(GRAPH).nodes if n.key in default]
    # Gazebo stands in for the world node (and its microphone); gz_touch is Gazebo's alone.
    assert {n.key for n in shared} == {"camera", "touch", "proprio", "actuator", "core", "speech"}
    for node in shared:
        other = default[node.key]
        same = ("package", "executable", "module", "node_class", "name", "lifecycle")
        assert [getattr(node, f) for f in same] == [getattr(other, f) for f in same], node.key
        assert (node.namespace, node.remappings) == (other.namespace, other.remappings), node.key
        assert set(node.parameters) == set(other.parameters), node.key
        changed = {k for k in node.parameters if node.parameters[k] != other.parameters[k]}
        assert changed == GAZEBO_PARAMETER_CHANGES.get(node.key, set()), node.key
        assert other.enabled and node.enabled == (node.key not in GAZEBO_DISABLED), node.key
    actuator = {n.key: n for n in shared}["actuator"]
    assert actuator.parameters["driver_topic"] == "/forward_velocity_controller/commands"
    assert default["actuator"].parameters["driver_topic"] == "/world/joint_velocity_commands"
    speech = {n.key: n for n in shared}["speech"]
    assert (speech.parameters["output"], default["speech"].parameters["output"]) == (
        "speaker",
        "world",
    )


def test_configured_nodes_list_every_parameter_they_declare():
    """As in nemuri.yaml: every parameter a node reads is in the file (overrides need it).

    A node's module publishes its parameters as PARAMETERS (name, default, why). Modules
    still being written are skipped; those that exist must have the class.
    """
    checked = 0
    for node in load_settings(GRAPH).nodes:
        if importlib.util.find_spec(node.module) is None:
            continue
        module = importlib.import_module(node.module)
        assert hasattr(module, node.node_class), node.module
        declared = getattr(module, "PARAMETERS", None)
        if declared is not None:
            assert set(node.parameters) == {name for name, _, _ in declared}, node.key
            checked += 1
    assert checked >= 2  # gz_touch and core at least


def test_the_actuators_rest_pose_is_the_pose_the_robot_spawns_in(gazebo_robot):
    [actuator] = [s for s in node_specs(load_settings(GRAPH)) if s.key == "actuator"]
    initial = [
        float(j.find("state_interface[@name='position']/param[@name='initial_value']").text)
        for j in gazebo_robot.find("ros2_control").findall("joint")
    ]
    assert actuator.parameters["rest_pose"] == pytest.approx(initial)


# ------------------------------------------------------------------------- launch file
class Recorded:
    """Stand-in for a launch action or substitution: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


LAUNCH_NAMES = {
    "launch": ("LaunchContext", "LaunchDescription"),
    "launch.actions": (
        "DeclareLaunchArgument",
        "IncludeLaunchDescription",
        "OpaqueFunction",
        "RegisterEventHandler",
        "SetEnvironmentVariable",
    ),
    "launch.event_handlers": ("OnProcessExit",),
    "launch.launch_description_sources": ("PythonLaunchDescriptionSource",),
    "launch.substitutions": ("PathJoinSubstitution",),
    "launch_ros": (),
    "launch_ros.actions": ("Node", "LifecycleNode"),
    "launch_ros.substitutions": ("FindPackageShare",),
}


def stand_in_modules() -> tuple[dict[str, type], dict[str, types.ModuleType]]:
    classes = {
        name: type(name, (Recorded,), {}) for names in LAUNCH_NAMES.values() for name in names
    }
    modules = {}
    for module_name, names in LAUNCH_NAMES.items():
        module = types.ModuleType(module_name)
        module.__dict__.update({name: classes[name] for name in names})
        modules[module_name] = module

    class Document:
        def __init__(self, path: str, mappings: dict[str, str]):
            self.root = expand_xacro(Path(path), mappings)

        def toxml(self) -> str:
            return ET.tostring(self.root, encoding="unicode")

    xacro = types.ModuleType("xacro")
    xacro.process_file = lambda path, mappings=None: Document(path, mappings or {})
    modules["xacro"] = xacro
    return classes, modules


def load_launch_module_plain() -> types.ModuleType:
    """The launch file loaded against the stand-ins, for its constants."""
    _, modules = stand_in_modules()
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        spec = importlib.util.spec_from_file_location("nemuri_gazebo_launch", LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module


@pytest.fixture
def launch_file(monkeypatch):
    classes, modules = stand_in_modules()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("nemuri_gazebo_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return classes, module


def test_launch_file_compiles():
    compile(LAUNCH_FILE.read_text(), str(LAUNCH_FILE), "exec")


def launch_description(classes, launch, monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", "61")  # restored after: the launch file sets os.environ
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")
    monkeypatch.setenv("GZ_IP", "10.0.0.1")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a thread count set outside is kept ...
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # ... else one thread
    actions = launch.generate_launch_description().args[0]
    by_kind = {}
    for action in actions:
        by_kind.setdefault(type(action).__name__, []).append(action)
    return by_kind


def test_launch_environment_and_arguments(launch_file, monkeypatch):
    classes, launch = launch_file
    actions = launch_description(classes, launch, monkeypatch)
    env = {a.args[0]: a.args[1] for a in actions["SetEnvironmentVariable"]}
    assert env == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_DOMAIN_ID": "61",
        "OMP_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "1",
        "GZ_IP": "127.0.0.1",  # Gazebo's transport discovers by multicast otherwise
    }
    assert os.environ["GZ_IP"] == "127.0.0.1"
    arguments = {a.args[0]: a.kwargs["default_value"] for a in actions["DeclareLaunchArgument"]}
    assert arguments == {
        "config": str(GRAPH),
        "set": "",
        "world": str(launch.description_dir() / launch.WORLD),
        "gui": "false",
    }
    functions = [a.kwargs["function"] for a in actions["OpaqueFunction"]]
    assert functions == [launch.gazebo_actions, graph_actions]  # the graph: nemuri.launching


def test_launch_nemuri_nodes_are_node_specs_of_gazebo_yaml(launch_file, monkeypatch, tmp_path):
    classes, launch = launch_file
    launch_description(classes, launch, monkeypatch)
    overrides = f"core.tick_hz=50 core.data_dir={tmp_path} gz_touch.rate_hz=100"
    context = types.SimpleNamespace(launch_configurations={"config": str(GRAPH), "set": overrides})
    nodes = graph_actions(context)
    specs = node_specs(load_settings(GRAPH, overrides.split()))
    assert len(nodes) == len(specs) >= 2
    for node, spec in zip(nodes, specs, strict=True):
        assert isinstance(node, classes["LifecycleNode" if spec.lifecycle else "Node"])
        assert node.kwargs["package"] == spec.package
        assert node.kwargs["executable"] == spec.executable
        assert node.kwargs["name"] == spec.name
        assert node.kwargs["namespace"] == spec.namespace
        assert node.kwargs["parameters"] == [spec.parameters]
        assert node.kwargs["remappings"] == list(spec.remappings)
        assert node.kwargs["parameters"][0]["use_sim_time"] is True
    by_key = {spec.key: node for spec, node in zip(specs, nodes, strict=True)}
    assert by_key["core"].kwargs["parameters"][0]["tick_hz"] == 50.0
    assert by_key["gz_touch"].kwargs["parameters"][0]["rate_hz"] == 100.0


@pytest.mark.parametrize("gui", ["false", "true"])
def test_launch_starts_gazebo_the_robot_the_bridge_and_the_controllers(
    launch_file, monkeypatch, gui
):
    classes, launch = launch_file
    launch_description(classes, launch, monkeypatch)
    context = types.SimpleNamespace(launch_configurations={"world": str(WORLD), "gui": gui})
    gazebo, state_publisher, spawn, bridge, after_spawn = launch.gazebo_actions(context)

    # Gazebo through ros_gz_sim's launch file, running, with our world
    assert isinstance(gazebo, classes["IncludeLaunchDescription"])
    [source] = gazebo.args
    [path] = source.args
    package, *rest = path.args[0]
    assert package.args == ("ros_gz_sim",) and rest == ["launch", "gz_sim.launch.py"]
    arguments = dict(gazebo.kwargs["launch_arguments"])
    gz_args = arguments["gz_args"].split()
    assert gz_args[-1] == str(WORLD) and "-r" in gz_args
    assert ("-s" in gz_args and "--headless-rendering" in gz_args) == (gui == "false")
    assert arguments["on_exit_shutdown"] == "true"

    # the robot description: the Gazebo robot, controllers file made absolute
    assert state_publisher.kwargs["package"] == "robot_state_publisher"
    [params] = state_publisher.kwargs["parameters"]
    assert params["use_sim_time"] is True
    described = ET.fromstring(params["robot_description"])
    assert {j.get("name") for j in described.iter("joint")} >= set(JOINTS)
    installed = launch.description_dir()
    assert described.find("gazebo/plugin/parameters").text == str(installed / launch.CONTROLLERS)

    # spawned from that description onto the table, in the world of the SDF
    assert (spawn.kwargs["package"], spawn.kwargs["executable"]) == ("ros_gz_sim", "create")
    options = spawn.kwargs["arguments"]
    option = dict(zip(options[::2], options[1::2], strict=True))
    assert option["-topic"] == "robot_description"
    assert option["-world"] == ET.parse(WORLD).getroot().find("world").get("name")
    assert float(option["-z"]) == WorldConfig().table_height

    # the bridge with our YAML
    assert (bridge.kwargs["package"], bridge.kwargs["executable"]) == (
        "ros_gz_bridge",
        "parameter_bridge",
    )
    assert bridge.kwargs["parameters"][0]["config_file"] == str(installed / launch.BRIDGE_CONFIG)

    # the controllers, once the robot is in
    [handler] = after_spawn.args
    assert handler.kwargs["target_action"] is spawn
    spawned = [s.kwargs["arguments"][0] for s in handler.kwargs["on_exit"]]
    assert spawned == ["joint_state_broadcaster", "forward_velocity_controller"]
    for spawner in handler.kwargs["on_exit"]:
        assert (spawner.kwargs["package"], spawner.kwargs["executable"]) == (
            "controller_manager",
            "spawner",
        )


def test_launch_finds_the_description_files(launch_file):
    """The source tree here; an installed share dir only if it holds the same files."""
    _, launch = launch_file
    found = launch.description_dir()
    for name in (launch.WORLD, launch.ROBOT_XACRO, launch.BRIDGE_CONFIG, launch.CONTROLLERS):
        assert (found / name).read_bytes() == (DESCRIPTION / name).read_bytes(), name


# ------------------------------------------------------------------------- Docker image
def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_dockerfile_has_gazebo_and_runs_the_gazebo_launch():
    lines = dockerfile_instructions()
    args = {m.group(1): m.group(2) for line in lines if (m := re.match(r"ARG (\w+)=(\S*)", line))}
    assert args["ROS_DISTRO"] in ("jazzy", "kilted")  # Harmonic / Ionic
    [base] = [line for line in lines if line.startswith("FROM ")]
    assert base == "FROM ros:${ROS_DISTRO}-ros-base"
    installs = " ".join(line for line in lines if "apt-get install" in line)
    for package in (
        "ros-gz",
        "gz-ros2-control",
        "ros2-controllers",
        "robot-state-publisher",
        "xacro",
    ):
        assert f"ros-${{ROS_DISTRO}}-{package}" in installs.split(), package
    [cmd] = [line for line in lines if line.startswith("CMD ")]
    assert "ros2 launch" in cmd and cmd.split()[-1].endswith("launch/gazebo.launch.py")
    assert any(line.startswith("COPY launch ") for line in lines)
    assert any(line.startswith("COPY agent_ws/src ") for line in lines)
    assert any("colcon build" in line for line in lines)
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST" in env and "GZ_IP=127.0.0.1" in env


def test_dockerfile_installs_nemuri_from_the_lock_file_less_the_ros_wheels():
    lines = dockerfile_instructions()
    assert "COPY requirements.lock ./" in lines
    [install] = [line for line in lines if "requirements.lock" in line and "grep" in line]
    pattern = re.search(r"grep -v -E '([^']+)' requirements.lock", install).group(1)
    core = " ".join(re.sub(r"\\\n\s*", " ", (ROOT / "docker/Dockerfile").read_text()).split())
    assert f"grep -v -E '{pattern}' requirements.lock" in core  # docker/Dockerfile's filter
    pins = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    kept = [line for line in pins if not re.search(pattern, line)]
    assert not [line for line in kept if line.startswith("ros-")]
    names = {re.split(r"[=<>]", line)[0].lower() for line in kept}
    assert {"numpy", "onnxruntime", "mujoco", "pyyaml"} <= names
    assert "-r /tmp/requirements.txt" in install
    torch = re.search(r"torch==[\w.]+", (ROOT / "Makefile").read_text()).group(0)
    assert torch in install.split()  # torch first, the Makefile's pin
