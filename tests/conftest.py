"""Test-wide settings: DDS stays on loopback, every run gets a ROS domain of its own.

Set at import time, before any test imports rclpy, and inherited by every child process a
test starts.
"""

from __future__ import annotations

import os
import random

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ["ROS_PYTHON_CHECK_FIELDS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
