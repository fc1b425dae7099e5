# nemuri in Gazebo: apt ROS 2 with Gazebo (Harmonic on Jazzy, Ionic on Kilted), ros_gz and
# gz_ros2_control, nemuri installed from the same pinned requirements as the Makefile, and
# `ros2 launch launch/gazebo.launch.py` as the command (world, robot, bridge, controllers
# and nemuri's graph; Gazebo headless, its camera rendered through EGL on the CPU).
#   docker build -f docker/gazebo.Dockerfile -t nemuri-gazebo .
#   docker run --rm -it -e ROS_DOMAIN_ID=42 nemuri-gazebo
#   docker run --rm -it nemuri-gazebo bash -c 'source /opt/nemuri/env.sh && \
#       ros2 launch /opt/nemuri/launch/gazebo.launch.py set:="core.tick_hz=50"'
# Gazebo has no audio: no microphone, no speaker (config/gazebo.yaml says so too).
ARG ROS_DISTRO=jazzy
FROM ros:${ROS_DISTRO}-ros-base
ARG ROS_DISTRO

SHELL ["/bin/bash", "-c"]
# ros-gz: Gazebo itself (vendor packages), ros_gz_sim, ros_gz_bridge, ros_gz_interfaces.
# gz-ros2-control + ros2-controllers: the controller manager inside Gazebo, the joint state
# broadcaster and the forward command controller. libegl1 + libgl1-mesa-dri: headless
# rendering (EGL, llvmpipe) for the camera without a display or a GPU.
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3-pip python3-venv \
      ros-${ROS_DISTRO}-ros-gz \
      ros-${ROS_DISTRO}-gz-ros2-control \
      ros-${ROS_DISTRO}-ros2-controllers \
      ros-${ROS_DISTRO}-robot-state-publisher \
      ros-${ROS_DISTRO}-xacro \
      ros-${ROS_DISTRO}-diagnostic-msgs \
      libegl1 libgl1-mesa-dri \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/nemuri
# torch first, as in the Makefile. Pass e.g. --build-arg TORCH_PIP_ARGS="--index-url <a CPU
# wheel index>" to avoid a CUDA build.
ARG TORCH_PIP_ARGS=""
# Same pins as the Makefile, less what apt ROS already provides (the ROS wheels and the
# build tools colcon brings along), as in docker/Dockerfile.
COPY requirements.lock ./
RUN grep -v -E '^(ros-|catkin-pkg|empy|lark-parser|docutils|pyparsing|python-dateutil)' requirements.lock \
      > /tmp/requirements.txt \
    && pip install --break-system-packages --no-cache-dir ${TORCH_PIP_ARGS} torch==2.13.0 \
    && pip install --break-system-packages --no-cache-dir -r /tmp/requirements.txt

COPY agent_ws/src agent_ws/src
COPY launch launch
RUN source /opt/ros/${ROS_DISTRO}/setup.bash \
    && cd agent_ws && colcon build --symlink-install --cmake-args -DBUILD_TESTING=OFF

# Everything this image starts stays on loopback: DDS discovery and Gazebo's transport.
ENV ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
    GZ_IP=127.0.0.1
RUN printf 'source /opt/ros/%s/setup.bash\nsource /opt/nemuri/agent_ws/install/setup.bash\n' \
      "${ROS_DISTRO}" > /opt/nemuri/env.sh
CMD source /opt/nemuri/env.sh && ros2 launch /opt/nemuri/launch/gazebo.launch.py
