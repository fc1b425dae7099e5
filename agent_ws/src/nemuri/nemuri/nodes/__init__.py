"""Thin ROS 2 nodes over nemuri's plain Python packages: they move data, the packages think."""
