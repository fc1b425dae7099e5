"""Worlds the robot lives in when it is not on real hardware (no ROS here).

`MujocoWorld` is the built-in one; `snapshot` writes PNGs of it. MuJoCo is imported only
by the modules that need it, so `nemuri.worlds.objects` stays importable without it.
"""
