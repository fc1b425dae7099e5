"""Where the robot description lives and what its joint limits are.

The URDF in the nemuri_description package is the one source of the robot's limits: the
MuJoCo world clamps velocity commands with them and a safety gate can read the same numbers,
so the sim and the gate cannot disagree. Parsed with the standard library (no urdfdom, no
ROS), so it works on a machine without ROS.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from nemuri.contracts import JOINTS

_PACKAGE = "nemuri_description"
_URDF_NAME = "nemuri.urdf"


@dataclass(frozen=True)
class JointLimit:
    """A revolute joint's range (rad), speed limit (rad/s) and torque limit (N m)."""

    lower: float
    upper: float
    velocity: float
    effort: float


def default_urdf_path() -> Path:
    """The robot's URDF: from the source tree beside this package, else the ament index.

    The source tree covers a checkout with an editable install (the Makefile's way); the
    ament index covers a colcon or apt install of nemuri_description (the Docker images).
    """
    here = Path(__file__).resolve()
    source = here.parents[3] / _PACKAGE / "urdf" / _URDF_NAME
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import (  # optional: only where ROS is installed
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        pass
    else:
        try:
            installed = Path(get_package_share_directory(_PACKAGE)) / "urdf" / _URDF_NAME
        except PackageNotFoundError:
            installed = None
        if installed is not None and installed.is_file():
            return installed
    raise FileNotFoundError(
        f"cannot find {_URDF_NAME}: not at {source} and no installed {_PACKAGE} package; "
        "pass WorldConfig(urdf_path=...)"
    )


def joint_limits(urdf_path: Path | None = None) -> dict[str, JointLimit]:
    """The limits of nemuri's joints (contracts.JOINTS, in that order) from the URDF."""
    root = ET.parse(urdf_path or default_urdf_path()).getroot()
    found: dict[str, JointLimit] = {}
    for joint in root.iter("joint"):
        name = joint.get("name", "")
        limit = joint.find("limit")
        if name in JOINTS and limit is not None:
            found[name] = JointLimit(
                lower=float(limit.get("lower", "0")),
                upper=float(limit.get("upper", "0")),
                velocity=float(limit.get("velocity", "0")),
                effort=float(limit.get("effort", "0")),
            )
    missing = [name for name in JOINTS if name not in found]
    if missing:
        raise ValueError(f"URDF has no revolute joint with limits for {missing}")
    return {name: found[name] for name in JOINTS}
