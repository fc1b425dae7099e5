"""The graph configuration (config/nemuri.yaml): found, loaded, checked, overridden.

`nemuri up` and the launch files read the same file through `load_settings`, so a value is
checked once, in one place, and a bad one is refused before any node starts, with the file
and the key in the message (a node that fails on a typo ten seconds into its configure
tells you much less). Plain Python, no ROS import: the CLI must set the DDS environment
before anything imports rclpy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

PACKAGE: Final[str] = "nemuri"
CONFIG_NAME: Final[str] = "nemuri.yaml"
MODES: Final[tuple[str, ...]] = ("composed", "processes")
DEFAULT_DOMAIN_ID: Final[int] = 42
MAX_DOMAIN_ID: Final[int] = 232  # the largest id Fast DDS/Cyclone map to valid UDP ports

# A ROS parameter value: a scalar or a non-empty list of one scalar type.
Scalar = bool | int | float | str
ParamValue = Scalar | list[bool] | list[int] | list[float] | list[str]

_NODE_FIELDS: Final[tuple[str, ...]] = (
    "enabled",
    "package",
    "executable",
    "module",
    "class",
    "name",
    "namespace",
    "lifecycle",
    "remappings",
    "parameters",
)
_REQUIRED_NODE_FIELDS: Final[tuple[str, ...]] = (
    "package",
    "executable",
    "module",
    "class",
    "name",
    "parameters",
)
_TOP_LEVEL: Final[tuple[str, ...]] = ("mode", "ros_domain_id", "use_sim_time", "nodes")
_ROS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class ConfigError(ValueError):
    """A configuration the graph cannot start with; the message names the file and the key."""


Failure = Callable[[str, str], ConfigError]  # (key, problem) -> the error to raise


@dataclass(frozen=True)
class NodeConfig:
    """One entry of `nodes:` as written in the file, checked, with `~` expanded."""

    key: str  # the entry's key in `nodes:`, and the prefix of its --set overrides
    enabled: bool
    package: str
    executable: str
    module: str
    node_class: str
    name: str
    namespace: str
    lifecycle: bool
    remappings: dict[str, str]
    parameters: dict[str, ParamValue]


@dataclass(frozen=True)
class Settings:
    """The whole graph configuration after overrides."""

    source: Path
    mode: str
    ros_domain_id: int
    use_sim_time: bool
    nodes: tuple[NodeConfig, ...]
    overrides: tuple[str, ...] = field(default=())

    def node(self, key: str) -> NodeConfig:
        """The node configured under `nodes.<key>`, enabled or not."""
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(f"no node {key!r} in {self.source}; known: {[n.key for n in self.nodes]}")


# -- where the file is -----------------------------------------------------------------


def config_dir() -> Path:
    """The config folder: the ament share dir when installed with colcon, else the source tree.

    colcon installs config/ into share/nemuri/config (setup.py's data_files); a pip
    editable install leaves it beside the Python package in agent_ws/src/nemuri.
    """
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:  # no ament index at all: a bare pip install
        pass
    else:
        try:
            share = Path(get_package_share_directory(PACKAGE)) / "config"
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset
            share = None
        if share is not None and (share / CONFIG_NAME).is_file():
            return share
    return Path(__file__).resolve().parent.parent / "config"


def default_config_path() -> Path:
    """The default graph: config/nemuri.yaml in `config_dir()`."""
    return config_dir() / CONFIG_NAME


# -- loading ---------------------------------------------------------------------------


def load_settings(path: Path | str | None = None, overrides: Sequence[str] = ()) -> Settings:
    """Read, check and override a graph configuration (the default one when `path` is None).

    `overrides` are `key=value` strings as given to `--set`: `core.tick_hz=50` sets the
    parameter `tick_hz` of the node `core`; `mode=processes`, `ros_domain_id=7` and
    `use_sim_time=true` set top-level keys; `nodes.core.enabled=false` sets a node's field.
    Values are YAML (`true`, `50`, `[1, 2]`) and must keep the type the file gives the key,
    except that an integer may stand for a float. A parameter must already be in the file,
    which lists every parameter a node reads, so a typo is an error, not a silent no-op.
    """
    source = Path(path).expanduser() if path is not None else default_config_path()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{source}: cannot read the configuration: {err.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    for override in overrides:
        _apply_override(document, override, source)
    return _check(document, source, tuple(overrides))


def _apply_override(document: dict[str, Any], override: str, source: Path) -> None:
    """Write one `key=value` into the parsed document, keeping the type of what it replaces."""
    where = f"--set {override}"
    key, sep, raw = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{where}: expected KEY=VALUE, e.g. core.tick_hz=50")
    parts = key.split(".")
    if parts[0] in _TOP_LEVEL:
        path = parts
    else:  # `<node>.<parameter>`; a parameter name may itself hold dots
        if len(parts) < 2:
            raise ConfigError(
                f"{where}: {key!r} is neither a top-level key {_TOP_LEVEL} nor NODE.PARAMETER"
            )
        path = ["nodes", parts[0], "parameters", ".".join(parts[1:])]
    if path[0] == "nodes" and len(path) > 4:
        path = [*path[:3], ".".join(path[3:])]
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parent: Any = document
    for depth, part in enumerate(path[:-1]):
        if not isinstance(parent, dict) or part not in parent:
            known = sorted(parent) if isinstance(parent, dict) else []
            raise ConfigError(
                f"{where}: {source} has no {'.'.join(path[: depth + 1])!r} (known: {known})"
            )
        parent = parent[part]
    leaf = path[-1]
    if not isinstance(parent, dict) or leaf not in parent:
        known = sorted(parent) if isinstance(parent, dict) else []
        raise ConfigError(f"{where}: {source} has no {'.'.join(path)!r} (known: {known})")
    parent[leaf] = _same_type(parent[leaf], value, raw, f"{where}: {source}: {'.'.join(path)}")


def _same_type(old: object, new: object, raw: str, where: str) -> object:
    """`new` as the type of `old`: YAML guesses types from text, the file knows them."""
    if isinstance(old, str):
        return raw.strip()  # `data_dir=123` or `model=1.0` are still strings
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, float):
        if isinstance(new, (int, float)) and not isinstance(new, bool):
            return float(new)
    elif isinstance(old, int):
        if isinstance(new, int) and not isinstance(new, bool):
            return new
    elif isinstance(old, list) and isinstance(new, list):
        if not old or not new:
            return new
        return [_same_type(old[0], item, str(item), where) for item in new]
    elif isinstance(old, dict) and isinstance(new, dict):
        return new
    else:
        return new
    raise ConfigError(f"{where}: expected {type(old).__name__}, got {raw.strip()!r}")


# -- checking --------------------------------------------------------------------------


def _check(document: dict[str, Any], source: Path, overrides: tuple[str, ...]) -> Settings:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    for key in document:
        if key not in _TOP_LEVEL:
            raise fail(str(key), f"unknown key; expected one of {list(_TOP_LEVEL)}")
    mode = document.get("mode", "composed")
    if mode not in MODES:
        raise fail("mode", f"{mode!r} is not one of {list(MODES)}")
    domain = document.get("ros_domain_id", DEFAULT_DOMAIN_ID)
    if not _is_int(domain) or not 0 <= domain <= MAX_DOMAIN_ID:
        raise fail("ros_domain_id", f"{domain!r} is not an integer in 0..{MAX_DOMAIN_ID}")
    use_sim_time = document.get("use_sim_time", False)
    if not isinstance(use_sim_time, bool):
        raise fail("use_sim_time", f"{use_sim_time!r} is not true or false")
    nodes = document.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise fail("nodes", "expected a mapping of node entries, at least one")
    checked = tuple(_check_node(str(key), entry, fail) for key, entry in nodes.items())
    names: dict[str, str] = {}
    for node in checked:
        fqn = _fqn(node.namespace, node.name)
        if node.enabled and fqn in names:
            raise fail(f"nodes.{node.key}.name", f"{fqn} is also the name of nodes.{names[fqn]}")
        names[fqn] = node.key
    return Settings(source, mode, domain, use_sim_time, checked, overrides)


def _check_node(key: str, entry: object, fail: Failure) -> NodeConfig:
    at = f"nodes.{key}"
    if not _ROS_NAME.fullmatch(key):
        raise fail(at, "a node key is a plain identifier (letters, digits, _)")
    if not isinstance(entry, dict):
        raise fail(at, "expected a mapping with package, executable, module, class, name, ...")
    for field_name in entry:
        if field_name not in _NODE_FIELDS:
            raise fail(f"{at}.{field_name}", f"unknown field; expected one of {list(_NODE_FIELDS)}")
    for field_name in _REQUIRED_NODE_FIELDS:
        if field_name not in entry:
            raise fail(f"{at}.{field_name}", "missing")
    for field_name in ("enabled", "lifecycle"):
        if not isinstance(entry.get(field_name, True), bool):
            raise fail(f"{at}.{field_name}", f"{entry[field_name]!r} is not true or false")
    for field_name in ("package", "executable", "name"):
        if not isinstance(entry[field_name], str) or not _ROS_NAME.fullmatch(entry[field_name]):
            raise fail(f"{at}.{field_name}", f"{entry[field_name]!r} is not a valid ROS name")
    if not isinstance(entry["module"], str) or not _MODULE_NAME.fullmatch(entry["module"]):
        raise fail(f"{at}.module", f"{entry['module']!r} is not a dotted Python module name")
    if not isinstance(entry["class"], str) or not _ROS_NAME.fullmatch(entry["class"]):
        raise fail(f"{at}.class", f"{entry['class']!r} is not a Python class name")
    namespace = entry.get("namespace", "")
    if not isinstance(namespace, str) or not _is_namespace(namespace):
        raise fail(f"{at}.namespace", f"{namespace!r} is not a ROS namespace ('' or /a/b)")
    remappings = entry.get("remappings") or {}
    if not isinstance(remappings, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in remappings.items()
    ):
        raise fail(f"{at}.remappings", "expected a mapping of topic names, from: to")
    parameters = entry["parameters"] or {}
    if not isinstance(parameters, dict):
        raise fail(f"{at}.parameters", "expected a mapping of ROS parameters")
    checked: dict[str, ParamValue] = {}
    for name, value in parameters.items():
        where = f"{at}.parameters.{name}"
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            raise fail(where, "not a valid ROS parameter name")
        if name == "use_sim_time":
            raise fail(where, "set use_sim_time at the top level: it applies to every node")
        checked[name] = _check_param(name, value, where, fail)
    return NodeConfig(
        key=key,
        enabled=entry.get("enabled", True),
        package=entry["package"],
        executable=entry["executable"],
        module=entry["module"],
        node_class=entry["class"],
        name=entry["name"],
        namespace=namespace.rstrip("/") if namespace != "/" else "",
        lifecycle=entry.get("lifecycle", True),
        remappings=dict(remappings),
        parameters=checked,
    )


def _check_param(name: str, value: object, where: str, fail: Failure) -> ParamValue:
    """A ROS-typed value; `~` expanded; the unit suffixes' ranges (documented in the YAML)."""
    if isinstance(value, list):
        if not value:
            raise fail(where, "an empty list has no ROS type; give at least one element")
        kinds = {_scalar_kind(item) for item in value}
        if None in kinds or len(kinds - ({"int"} if "float" in kinds else set())) != 1:
            raise fail(where, f"{value!r}: a list must hold one type (bool, int, float or str)")
        if "float" in kinds:
            return [float(item) for item in value]
        return list(value)
    kind = _scalar_kind(value)
    if kind is None:
        raise fail(where, f"{value!r} is not a bool, int, float, string or list of one of them")
    if isinstance(value, str) and (value == "~" or value.startswith("~/")):
        return os.path.expanduser(value)
    if kind in ("int", "float"):
        number = float(value)  # type: ignore[arg-type]
        if name.endswith(("_hz", "_periods")) and not number > 0:
            raise fail(where, f"{value!r}: a rate or period count must be > 0")
        if name.endswith("_s") and not number >= 0:
            raise fail(where, f"{value!r}: a duration in seconds must be >= 0")
    return value  # type: ignore[return-value]


def _scalar_kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_namespace(namespace: str) -> bool:
    if namespace in ("", "/"):
        return True
    parts = namespace.rstrip("/").split("/")
    return parts[0] == "" and all(_ROS_NAME.fullmatch(p) for p in parts[1:])


def _fqn(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


# -- the DDS environment ---------------------------------------------------------------


def ros_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables every process nemuri starts must run with (DESIGN.md, Middleware).

    Discovery stays on loopback, always: default Fast DDS discovery multicasts on every
    interface. The domain is ROS_DOMAIN_ID when the environment already has one (tests
    pick a random domain per run; a robot's shell may pin one), else the file's.
    """
    domain = environ.get("ROS_DOMAIN_ID", "").strip() or str(settings.ros_domain_id)
    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": domain}
    # One BLAS/OpenMP thread per process unless told otherwise: the tick loop, the sensors
    # and the world share a small machine, and a threaded BLAS turned a 1 ms camera resize
    # into 70 ms there (DESIGN.md: one thread in the tick loop). Set before numpy loads.
    for var in THREAD_VARIABLES:
        env[var] = environ.get(var, "1")
    return env


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
