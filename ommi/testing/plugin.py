"""ommi's pytest plugin: run the conformance suite against any driver.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["ommi.testing.plugin"]``,
import the suite into a test module (``from ommi.testing.suite import *``)
and point it at a database::

    pytest --ommi-url=sqlite:///tmp/check.db      # or OMMI_TEST_URL=...

Tests that need an optional feature carry ``@pytest.mark.requires("name")`` and
are skipped, with the reason, when the driver does not declare that capability.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ommi import Ommi
from ommi.driver import CAPABILITIES, infos_in_dependency_order

__all__ = ["ommi_url", "suite_db", "suite_session"]

_declared: dict[str, frozenset[str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ommi")
    group.addoption(
        "--ommi-url",
        action="store",
        default=None,
        help="database URL the ommi conformance suite runs against (default: $OMMI_TEST_URL or sqlite://)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*capabilities): skip unless the driver declares these capabilities"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _declared:
        return
    terminalreporter.section("ommi driver capabilities")
    for url, caps in _declared.items():
        for name in CAPABILITIES:
            mark = "yes" if name in caps else "no "
            terminalreporter.write_line(f"{url}: {mark} {name}")


@pytest.fixture(scope="session")
def ommi_url(request: pytest.FixtureRequest) -> str:
    """The URL under test: ``--ommi-url``, else ``$OMMI_TEST_URL``, else in-memory SQLite."""
    option = request.config.getoption("--ommi-url")
    return str(option or os.environ.get("OMMI_TEST_URL") or "sqlite://")


@pytest.fixture(scope="session")
async def suite_session(ommi_url: str) -> AsyncIterator[Ommi]:
    """One connection per session with the conformance models' tables created."""
    from ommi.testing.models import suite_collection

    db = Ommi.connect(ommi_url)
    await db
    _declared[db.driver.__class__.__name__ + " " + repr(db.driver)] = db.capabilities
    schema = db.schema(suite_collection)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    try:
        yield db
    finally:
        await schema.delete_models()
        await db.close()


@pytest.fixture
async def suite_db(suite_session: Ommi, request: pytest.FixtureRequest) -> AsyncIterator[Ommi]:
    """The session's ``Ommi`` with every conformance table emptied before the test."""
    from ommi.testing.models import suite_collection

    marker = request.node.get_closest_marker("requires")
    if marker is not None:
        missing = [c for c in marker.args if c not in suite_session.capabilities]
        if missing:
            pytest.skip(f"driver does not declare capability: {', '.join(missing)}")
    for info in reversed(infos_in_dependency_order(suite_collection.infos())):
        await suite_session.find(info.cls).delete().or_raise()
    yield suite_session
