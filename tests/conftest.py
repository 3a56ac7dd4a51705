"""Project test configuration: run the conformance suite on every backend.

Each module in ``tests/backends/`` describes one backend: ``NAME`` and a
context manager ``server()`` that yields a database URL (starting a throwaway
server if the backend needs one) and cleans up afterwards. The session-scoped
``ommi_url`` fixture is parametrized over them, so every conformance test runs
once per backend. ``OMMI_TEST_BACKENDS=sqlite,postgresql`` narrows the run.

A backend whose server cannot start makes its tests fail with the reason;
nothing is skipped silently. With ``CI`` set, any skip other than one by
declared capability fails the run (see ``pytest_runtest_logreport``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import pytest

pytest_plugins = ["ommi.testing.plugin"]

from tests import backends  # noqa: E402

T = TypeVar("T")

BACKENDS: dict[str, Any] = {
    mod.NAME: mod
    for mod in (
        importlib.import_module(f"tests.backends.{info.name}")
        for info in sorted(pkgutil.iter_modules(backends.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    )
}


def selected_backends() -> list[str]:
    wanted = os.environ.get("OMMI_TEST_BACKENDS")
    if not wanted:
        return list(BACKENDS)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"OMMI_TEST_BACKENDS names unknown backends: {unknown}; known: {list(BACKENDS)}")
    return names


_servers = contextlib.ExitStack()
_resources: dict[str, Any] = {}


def session_resource(key: str, start: Callable[[], contextlib.AbstractContextManager[T]]) -> T:
    """Enter ``start()`` once per test session (left at its end) and return its value, shared by every test."""
    if key not in _resources:
        _resources[key] = _servers.enter_context(start())
    return cast("T", _resources[key])


def backend_url(name: str) -> str:
    """Start (once per session) and return the URL of a backend."""
    return session_resource(f"backend:{name}", BACKENDS[name].server)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _servers.close()
    if _unexpected_skips and not hasattr(session.config, "workerinput"):
        # CI never skips a backend silently: only capability skips are allowed there
        print("\nCI skipped tests for reasons other than a declared capability:")
        for line in _unexpected_skips:
            print("  " + line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", params=selected_backends())
def ommi_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield backend_url(request.param)


def only_with(name: str) -> pytest.MarkDecorator:
    """Mark tests of one backend's own behaviour: they run when ``OMMI_TEST_BACKENDS`` selects it."""
    return pytest.mark.skipif(name not in selected_backends(), reason=f"OMMI_TEST_BACKENDS does not select {name}")


# Skips a CI run accepts: those the conformance suite makes by declared capability.
# Anything else (a backend left out, a dependency missing) fails a CI run.
_CAPABILITY_SKIPS = ("driver does not declare capability", "the driver stores infinite floats")
_unexpected_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):  # on the controller too
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(allowed in reason for allowed in _CAPABILITY_SKIPS):
            _unexpected_skips.append(f"{report.nodeid}: {reason}")
