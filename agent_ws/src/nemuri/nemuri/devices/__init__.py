"""Hardware sources and sinks the nodes read and write: camera, microphone, loudspeaker.

Each kind sits behind a small class with a config dataclass (LeRobot's way), so the same
node runs on a ROS topic, a real device or a recorded file by swapping one object. No ROS
import here: a source hands (stamp in ns, data) to a callback on a thread of its own.
"""
