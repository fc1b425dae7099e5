"""The robot's body without ROS: the safety gate and the drivers it sends through.

Like LeRobot's robots/motors: each hardware kind behind one small interface
(`JointDriver`) with a config dataclass, so the actuator node runs the same gate in front
of the MuJoCo world, Gazebo's ros2_control or the body's serial firmware (protocol.py,
serial_link.py, serial_driver.py; firmware/ holds the C side).
"""
