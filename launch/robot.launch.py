"""Launch nemuri on the real robot: the nodes of config/robot.yaml, one process each.

    ros2 launch nemuri robot.launch.py
    ros2 launch nemuri robot.launch.py set:="actuator.serial_port=/dev/ttyUSB0 camera.device=2"
    ros2 launch nemuri robot.launch.py config:=/path/my_robot.yaml

The camera and microphone nodes open the devices (OpenCV, sounddevice), the recogniser
hears words, the actuator node drives the firmware board on the serial port behind its
safety gate, the speech node speaks on the sound card; no world node (config/robot.yaml
says which device is which). The node list comes from nemuri.graph.node_specs(), the
function the tests check and `nemuri up --config robot.yaml` uses, as in nemuri.launch.py,
so this file cannot drift from them.

The DDS environment (discovery on loopback; ROS_DOMAIN_ID from the environment, else the
robot config's ros_domain_id) is set when this file is loaded, before launch starts its
own ROS node.
"""

from __future__ import annotations

import os
import shlex
from typing import Final

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch_ros.actions import LifecycleNode, Node

from nemuri.graph import NodeSpec, node_specs
from nemuri.settings import config_dir, load_settings, ros_environment

GRAPH_CONFIG: Final[str] = "robot.yaml"  # in the nemuri package's config/


def node_action(spec: NodeSpec) -> Node:
    """The launch_ros action that runs one node of the graph (installed console script)."""
    kind = LifecycleNode if spec.lifecycle else Node
    return kind(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace,
        parameters=[dict(spec.parameters)],
        remappings=list(spec.remappings),
        output="screen",
    )


def graph_actions(context: LaunchContext) -> list[Node]:
    """The node actions for the `config` and `set` launch arguments (an OpaqueFunction)."""
    config = context.launch_configurations["config"]
    overrides = shlex.split(context.launch_configurations.get("set", ""))
    return [node_action(spec) for spec in node_specs(load_settings(config, overrides))]


def generate_launch_description() -> LaunchDescription:
    graph = config_dir() / GRAPH_CONFIG
    env = ros_environment(load_settings(graph), os.environ)
    os.environ.update(env)  # now: launch's own ROS node starts before any action runs
    return LaunchDescription(
        [
            *(SetEnvironmentVariable(name, value) for name, value in env.items()),
            DeclareLaunchArgument(
                "config",
                default_value=str(graph),
                description="graph configuration YAML (the robot's nodes and devices)",
            ),
            DeclareLaunchArgument(
                "set",
                default_value="",
                description="space-separated KEY=VALUE overrides, as `nemuri up --set`",
            ),
            OpaqueFunction(function=graph_actions),
        ]
    )
