"""Test-wide settings: DDS stays on loopback, every run gets a ROS domain of its own.

Set at import time, before any test imports rclpy, and inherited by every child process a
test starts.

With NEMURI_REQUIRE_ALL=1 (CI) a test that would skip for want of a tool (espeak-ng,
MuJoCo rendering, a Python package) fails instead, so a missing install step cannot hide
behind a green run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from ros_helpers import ros_context

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 101)))
os.environ["ROS_PYTHON_CHECK_FIELDS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def ctx() -> Iterator[object]:
    """Each test's own rclpy Context, so one test's nodes never leak into the next."""
    with ros_context() as context:
        yield context


REQUIRE_ALL = os.environ.get("NEMURI_REQUIRE_ALL") == "1"


def _fail_skips(report: pytest.TestReport | pytest.CollectReport) -> None:
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but NEMURI_REQUIRE_ALL=1 requires every tool: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    _fail_skips(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    outcome = yield
    _fail_skips(outcome.get_result())
