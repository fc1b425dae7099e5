"""ament_python package files for colcon on a full ROS 2 install (robots, Docker).

A pip-only machine installs nemuri from the repository's pyproject.toml instead; this file
exists so that `colcon build` puts the nodes where `ros2 run` and `ros2 launch` look:
console scripts into lib/nemuri (setup.cfg), config/ and the launch files into
share/nemuri. The launch files live at the repository root (launch/), next to the other
launch files of the project, and are installed from there.
"""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "nemuri"
HERE = os.path.dirname(os.path.abspath(__file__))


def here(pattern: str) -> list[str]:
    """Files matching `pattern` (relative to this file) as paths relative to the cwd.

    data_files refuses absolute paths and colcon runs setup.py from the package folder,
    but a relative-to-cwd path is right wherever setup.py is run from.
    """
    return sorted(os.path.relpath(p) for p in glob(os.path.join(HERE, pattern)))


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["*.txt", "worlds/lessons/*.yaml", "senses/models/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", here(f"resource/{PACKAGE}")),
        (f"share/{PACKAGE}", here("package.xml")),
        (f"share/{PACKAGE}/config", here("config/*.yaml")),
        (f"share/{PACKAGE}/launch", here("../../../launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="nemuri developers",
    maintainer_email="dev@nemuri.invalid",
    description="nemuri: an embodied agent that lives on a fixed tick and sleeps to remember.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            # One per node (`ros2 run nemuri <name>`, launch_ros `executable=`), then the CLI.
            "core_node = nemuri.nodes.core_node:main",
            "gz_touch_node = nemuri.nodes.gz_touch_node:main",
            "world_node = nemuri.nodes.world_node:main",
            "speech_node = nemuri.nodes.speech_node:main",
            "actuator_node = nemuri.nodes.actuator_node:main",
            "camera_node = nemuri.nodes.camera_node:main",
            "microphone_node = nemuri.nodes.microphone_node:main",
            "touch_node = nemuri.nodes.touch_node:main",
            "proprio_node = nemuri.nodes.proprio_node:main",
            "sleep_node = nemuri.nodes.sleep_node:main",
            "recogniser_node = nemuri.nodes.recogniser_node:main",
            "nemuri = nemuri.cli:main",
        ],
    },
)
