"""Launch nemuri's graph: the nodes of config/nemuri.yaml, as `nemuri up` starts them.

    ros2 launch nemuri nemuri.launch.py
    ros2 launch nemuri nemuri.launch.py config:=/path/graph.yaml set:="core.tick_hz=50"

The node list comes from nemuri.graph.node_specs(), the function the tests check and
`nemuri up` uses, so this file cannot drift from them. Every node runs in a process of
its own (rclpy has no component container; the config's `mode` is for `nemuri up`). A
lifecycle node activates itself (its `autostart` parameter) and, on Ctrl-C, which ros2
launch passes to each node as SIGINT, shuts down and closes what it holds (the core: its
day log with metadata.yaml).

The DDS environment (discovery on loopback; ROS_DOMAIN_ID from the environment, else the
default config's ros_domain_id) is set when this file is loaded, before launch starts its
own ROS node, which must share the nodes' domain to drive their lifecycle. To run on
another domain, export ROS_DOMAIN_ID: `config:=` and `set:=` choose nodes and parameters.
"""

from __future__ import annotations

import os
import shlex

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch_ros.actions import LifecycleNode, Node

from nemuri.graph import NodeSpec, node_specs
from nemuri.settings import default_config_path, load_settings, ros_environment


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
    env = ros_environment(load_settings(), os.environ)
    os.environ.update(env)  # now: launch's own ROS node starts before any action runs
    return LaunchDescription(
        [
            *(SetEnvironmentVariable(name, value) for name, value in env.items()),
            DeclareLaunchArgument(
                "config",
                default_value=str(default_config_path()),
                description="graph configuration YAML (nodes and their parameters)",
            ),
            DeclareLaunchArgument(
                "set",
                default_value="",
                description="space-separated KEY=VALUE overrides, as `nemuri up --set`",
            ),
            OpaqueFunction(function=graph_actions),
        ]
    )
