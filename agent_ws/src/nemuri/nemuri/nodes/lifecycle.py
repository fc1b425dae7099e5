"""The main() every nemuri lifecycle node shares: one way into a node process and out of it.

`autostart` configures and activates the node (no lifecycle manager needed, as under
`nemuri up --mode processes` and `ros2 launch`); Ctrl-C or SIGTERM end the spin, and the
node's close() runs before rclpy shuts down, so a node that writes (the core's day log)
finishes its file.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node, TransitionCallbackReturn


def run(node_class: type[Node], args: list[str] | None = None) -> None:
    """Spin one node of `node_class` until Ctrl-C or SIGTERM, then close it cleanly."""
    rclpy.init(args=args)
    node = node_class()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.param("autostart"):
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(f"{node.get_name()}: configure failed (see the log)")
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A take interrupted by Ctrl-C/SIGTERM shutting the context down can raise from
        # inside rclpy (seen: RuntimeError converting a message): that is the stop asked
        # for, not a failure of the node. While the context is up, it is one.
        if rclpy.ok():
            raise
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
