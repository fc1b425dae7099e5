"""Launch nemuri in Gazebo: the world, the robot, the bridge, ros2_control and nemuri's graph.

    ros2 launch nemuri gazebo.launch.py                      headless Gazebo server
    ros2 launch nemuri gazebo.launch.py gui:=true            with Gazebo's window
    ros2 launch nemuri gazebo.launch.py config:=/path/graph.yaml set:="core.tick_hz=50"

For Gazebo Harmonic (ROS 2 Jazzy) or Ionic (Kilted) with ros_gz, gz_ros2_control,
ros2_controllers, robot_state_publisher and xacro (docker/gazebo.Dockerfile has them all).
It starts, from nemuri_description:
- Gazebo with worlds/nemuri.sdf, through ros_gz_sim's gz_sim.launch.py (which also puts
  ROS's lib folder on Gazebo's plugin path, where gz_ros2_control's plugin lives), running
  at once; without gui:=true it is a server with headless (EGL) rendering for the camera;
- robot_state_publisher with urdf/nemuri.gazebo.xacro expanded by xacro: the robot of
  nemuri.urdf plus its Gazebo sensors and ros2_control tags (gz_ros2_control reads the
  description from this node);
- ros_gz_sim `create`: that description into the world, standing on the table top;
- ros_gz_bridge with config/ros_gz_bridge.yaml: /clock, the camera, each pad's contacts;
- once the robot is in: the spawners of joint_state_broadcaster (/joint_states) and
  forward_velocity_controller (/forward_velocity_controller/commands), config/controllers.yaml;
- nemuri's nodes: config/gazebo.yaml of the nemuri package, through nemuri.graph.node_specs()
  (the function the tests check, as launch/nemuri.launch.py does), one process per node.

The environment is set when this file is loaded, as in nemuri.launch.py: DDS discovery on
loopback and ROS_DOMAIN_ID from the environment, else the graph file's; and GZ_IP=127.0.0.1
so that Gazebo's own transport (which discovers peers by multicast) stays on loopback too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from nemuri.launching import graph_launch_description
from nemuri.settings import config_dir

DESCRIPTION_PACKAGE: Final[str] = "nemuri_description"
WORLD: Final[str] = "worlds/nemuri.sdf"
ROBOT_XACRO: Final[str] = "urdf/nemuri.gazebo.xacro"
BRIDGE_CONFIG: Final[str] = "config/ros_gz_bridge.yaml"
CONTROLLERS: Final[str] = "config/controllers.yaml"
GRAPH_CONFIG: Final[str] = "gazebo.yaml"  # in the nemuri package's config/
WORLD_NAME: Final[str] = "nemuri"  # <world name> in worlds/nemuri.sdf
ROBOT_NAME: Final[str] = "nemuri"
TABLE_HEIGHT: Final[float] = 0.45  # m, the table top in the world = WorldConfig.table_height
CONTROLLER_NAMES: Final[tuple[str, ...]] = (
    "joint_state_broadcaster",
    "forward_velocity_controller",
)
GZ_ENVIRONMENT: Final[dict[str, str]] = {"GZ_IP": "127.0.0.1"}


def description_dir() -> Path:
    """nemuri_description's files: its installed share dir if complete, else the source tree.

    The share dir is what `colcon build` installed; a checkout (or the Docker image, which
    keeps its sources) also works from the tree beside this file's launch/ folder.
    """
    wanted = (WORLD, ROBOT_XACRO, BRIDGE_CONFIG, CONTROLLERS, "urdf/nemuri.urdf")
    candidates = []
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:  # a pip-only machine: no ament index
        pass
    else:
        try:
            candidates.append(Path(get_package_share_directory(DESCRIPTION_PACKAGE)))
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset
            pass
    candidates.append(Path(__file__).resolve().parents[1] / "agent_ws/src" / DESCRIPTION_PACKAGE)
    for folder in candidates:
        if all((folder / name).is_file() for name in wanted):
            return folder
    raise FileNotFoundError(f"no {DESCRIPTION_PACKAGE} with {wanted} in {candidates}")


def robot_description(description: Path) -> str:
    """The Gazebo robot as URDF text: the xacro expanded, the controllers file made absolute."""
    import xacro  # ROS's xacro; imported here so that loading this file does not need it

    document = xacro.process_file(
        str(description / ROBOT_XACRO),
        mappings={"controllers": str(description / CONTROLLERS)},
    )
    return document.toxml()


def gz_args(world: str, gui: bool) -> str:
    """`gz sim` arguments: run at once (-r); without a window, a server rendering headless."""
    window = "" if gui else " -s --headless-rendering"
    return f"-r -v 3{window} {world}"


def gazebo_actions(context: LaunchContext) -> list[object]:
    """Gazebo, the robot, the bridge and the controllers (an OpaqueFunction: needs `world`)."""
    description = description_dir()
    world = context.launch_configurations["world"]
    gui = context.launch_configurations.get("gui", "false").strip().lower() in ("true", "1")
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"])
        ),
        launch_arguments={"gz_args": gz_args(world, gui), "on_exit_shutdown": "true"}.items(),
    )
    state_publisher = Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        parameters=[{"robot_description": robot_description(description), "use_sim_time": True}],
        output="screen",
    )
    spawn = Node(
        package="ros_gz_sim",
        executable="create",
        arguments=[
            *("-world", WORLD_NAME, "-name", ROBOT_NAME, "-topic", "robot_description"),
            *("-z", str(TABLE_HEIGHT)),
        ],
        output="screen",
    )
    bridge = Node(
        package="ros_gz_bridge",
        executable="parameter_bridge",
        name="nemuri_gz_bridge",
        parameters=[{"config_file": str(description / BRIDGE_CONFIG), "use_sim_time": True}],
        output="screen",
    )
    spawners = [
        Node(
            package="controller_manager",
            executable="spawner",
            arguments=[name, "--controller-manager", "/controller_manager"],
            output="screen",
        )
        for name in CONTROLLER_NAMES
    ]
    after_spawn = RegisterEventHandler(OnProcessExit(target_action=spawn, on_exit=spawners))
    return [gazebo, state_publisher, spawn, bridge, after_spawn]


def generate_launch_description() -> LaunchDescription:
    return graph_launch_description(
        config_dir() / GRAPH_CONFIG,
        "graph configuration YAML (nemuri's nodes and their parameters)",
        extra_env=GZ_ENVIRONMENT,
        extra_actions=[
            DeclareLaunchArgument(
                "world",
                default_value=str(description_dir() / WORLD),
                description="Gazebo world SDF (its <world name> must stay 'nemuri')",
            ),
            DeclareLaunchArgument(
                "gui",
                default_value="false",
                description="true: open Gazebo's window; false: headless server",
            ),
            OpaqueFunction(function=gazebo_actions),
        ],
    )
