"""The node list: which nodes the graph runs, with which names, parameters and remappings.

`node_specs()` is the one function that both `nemuri up` and the launch files call, so
the launch files cannot drift from what the tests check (DESIGN.md, Worlds). It turns the
checked configuration into specs and does nothing else: no ROS import, no processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from nemuri.settings import ParamValue, Settings


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to start one node, in a process of its own or composed in ours."""

    key: str  # the node's entry in the config's `nodes:`
    package: str  # ament package: `ros2 run <package> <executable>`, launch_ros
    executable: str  # console script installed by setup.py into lib/<package>
    module: str  # Python module with main(): `python -m <module>` (processes mode)
    node_class: str  # Node subclass in `module`, constructed in composed mode
    name: str
    namespace: str  # "" for the root namespace, else "/a/b"
    lifecycle: bool  # configured and activated at start, deactivated and shut down at stop
    parameters: dict[str, ParamValue]
    remappings: tuple[tuple[str, str], ...]

    @property
    def fqn(self) -> str:
        """Fully qualified node name, as in params files and lifecycle service names."""
        return f"{self.namespace}/{self.name}"

    def ros_arguments(self) -> list[str]:
        """Name, namespace and remappings as `--ros-args` rules (without the params file)."""
        args = ["-r", f"__node:={self.name}"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return args

    def params_document(self) -> dict[str, dict[str, dict[str, ParamValue]]]:
        """This node's parameters in the format of a ROS 2 `--params-file`."""
        return {self.fqn: {"ros__parameters": dict(self.parameters)}}


def node_specs(settings: Settings) -> list[NodeSpec]:
    """The enabled nodes, in the file's order (= start order), each with use_sim_time set.

    use_sim_time is a top-level setting because a graph on /clock must have every node on
    it: one node on wall time among nodes on sim time would mark every embedding stale.
    """
    return [
        NodeSpec(
            key=node.key,
            package=node.package,
            executable=node.executable,
            module=node.module,
            node_class=node.node_class,
            name=node.name,
            namespace=node.namespace,
            lifecycle=node.lifecycle,
            parameters={**node.parameters, "use_sim_time": settings.use_sim_time},
            remappings=tuple(node.remappings.items()),
        )
        for node in settings.nodes
        if node.enabled
    ]
