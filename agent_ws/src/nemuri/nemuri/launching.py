"""What every nemuri launch file shares: the graph's nodes, its arguments, its environment.

launch/nemuri.launch.py, robot.launch.py and gazebo.launch.py each start the nodes of one
graph configuration: the node actions come from nemuri.graph.node_specs() (the function the
tests check and `nemuri up` uses), so no launch file can drift from them; `config:=` picks
another graph file and `set:=` overrides as `nemuri up --set` does. The DDS environment
(discovery on loopback; ROS_DOMAIN_ID from the environment, else the graph file's) is set
when the launch file is loaded, before launch starts its own ROS node, which must share the
nodes' domain to drive their lifecycle.

`launch` and `launch_ros` are imported inside the functions: they come with a ROS 2
install, not with the pip wheels, and only a launch file calls these.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nemuri.graph import NodeSpec, node_specs
from nemuri.settings import load_settings, ros_environment


def node_action(spec: NodeSpec) -> Any:
    """The launch_ros action that runs one node of the graph (installed console script)."""
    from launch_ros.actions import LifecycleNode, Node

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


def graph_actions(context: Any) -> list[Any]:
    """The node actions for the `config` and `set` launch arguments (an OpaqueFunction)."""
    config = context.launch_configurations["config"]
    overrides = shlex.split(context.launch_configurations.get("set", ""))
    return [node_action(spec) for spec in node_specs(load_settings(config, overrides))]


def graph_launch_description(
    graph: Path,
    about: str,
    extra_env: Mapping[str, str] | None = None,
    extra_actions: Iterable[Any] = (),
) -> Any:
    """A LaunchDescription running `graph`'s nodes: its environment set (here too, now),
    the `config` (default `graph`, described as `about`) and `set` arguments, then
    `extra_actions` (a launch file's own arguments and actions), then the nodes."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable

    env = {**ros_environment(load_settings(graph), os.environ), **(extra_env or {})}
    os.environ.update(env)  # now: launch's own ROS node starts before any action runs
    return LaunchDescription(
        [
            *(SetEnvironmentVariable(name, value) for name, value in env.items()),
            DeclareLaunchArgument("config", default_value=str(graph), description=about),
            DeclareLaunchArgument(
                "set",
                default_value="",
                description="space-separated KEY=VALUE overrides, as `nemuri up --set`",
            ),
            *extra_actions,
            OpaqueFunction(function=graph_actions),
        ]
    )
