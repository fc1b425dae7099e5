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

from typing import Final

from launch import LaunchDescription

from nemuri.launching import graph_launch_description
from nemuri.settings import config_dir

GRAPH_CONFIG: Final[str] = "robot.yaml"  # in the nemuri package's config/


def generate_launch_description() -> LaunchDescription:
    return graph_launch_description(
        config_dir() / GRAPH_CONFIG, "graph configuration YAML (the robot's nodes and devices)"
    )
