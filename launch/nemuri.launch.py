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

from launch import LaunchDescription

from nemuri.launching import graph_launch_description
from nemuri.settings import default_config_path


def generate_launch_description() -> LaunchDescription:
    return graph_launch_description(
        default_config_path(), "graph configuration YAML (nodes and their parameters)"
    )
