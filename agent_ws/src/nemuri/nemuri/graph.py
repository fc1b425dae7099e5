"""The node list: which nodes the graph runs, with which names, parameters and remappings.

`node_specs()` is the one function that both `nemuri up` and the launch files call, so
the launch files cannot drift from what the tests check (DESIGN.md, Worlds). It turns the
checked configuration into specs and does nothing else: no ROS import, no processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from nemuri.settings import ConfigError, ParamValue, Settings

# Parameters that name one thing every node shares: the core keeps its days and brains in
# data_dir, the sleep node sleeps on those days and writes the brains the core wakes with.
SHARED_PARAMETERS: tuple[str, ...] = ("data_dir",)


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
    A graph whose enabled nodes disagree on a shared parameter (data_dir) is refused with
    ConfigError: a sleep node on another data_dir would never find the core's day.
    """
    _check_shared(settings)
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


def _check_shared(settings: Settings) -> None:
    for name in SHARED_PARAMETERS:
        values = {
            node.key: node.parameters[name]
            for node in settings.nodes
            if node.enabled and name in node.parameters
        }
        if len(set(values.values())) > 1:
            told = ", ".join(f"{key}.{name}={value}" for key, value in values.items())
            fix = " ".join(f"--set {key}.{name}=..." for key in values)
            raise ConfigError(
                f"{settings.source}: {told}: every node must use the same {name} (e.g. {fix})"
            )
