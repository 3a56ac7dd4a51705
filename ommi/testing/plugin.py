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

from ommi import ModelCollection, Ommi, default_collection
from ommi.driver import CAPABILITIES, infos_in_dependency_order

__all__ = ["ommi_collection", "ommi_db", "ommi_db_url", "ommi_url", "suite_db", "suite_session"]

_declared: dict[str, frozenset[str]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ommi")
    group.addoption(
        "--ommi-db-url",
        action="append",
        default=None,
        help="database URL for the ommi_db fixture; repeat to run each test once per URL "
        "(default: $OMMI_TEST_DATABASE_URL or in-memory SQLite)",
    )
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ommi_db_url" in metafunc.fixturenames:
        urls = metafunc.config.getoption("--ommi-db-url") or [
            u.strip() for u in os.environ.get("OMMI_TEST_DATABASE_URL", "sqlite://").split(",") if u.strip()
        ]
        metafunc.parametrize(
            "ommi_db_url", urls, ids=[_url_id(u) for u in urls], scope="session", indirect=True
        )


@pytest.fixture(scope="session")
def ommi_db_url(request: pytest.FixtureRequest) -> str:
    """The database URL ``ommi_db`` is connected to: the one given, made this
    pytest-xdist worker's own, so the app under test opens the same database."""
    return _for_worker(str(request.param), os.environ.get("PYTEST_XDIST_WORKER", "main"))


def _url_id(url: str) -> str:
    from ommi.driver import parse_url

    return parse_url(url).scheme


def _for_worker(url: str, worker: str) -> str:
    """Give each pytest-xdist worker its own database: ``{worker}`` in the URL, or a
    suffix on SQLite file names (in-memory SQLite is private anyway)."""
    if "{worker}" in url:
        return url.replace("{worker}", worker)
    if url.startswith("sqlite:///") and ":memory:" not in url and worker != "main":
        stem, dot, ext = url.rpartition(".")
        return f"{stem}-{worker}.{ext}" if dot and "/" not in ext else f"{url}-{worker}"
    return url


@pytest.fixture
def ommi_collection() -> ModelCollection:
    """The models ``ommi_db`` creates; override this fixture to name your app's collection."""
    return default_collection


@pytest.fixture
async def ommi_db(ommi_db_url: str, ommi_collection: ModelCollection) -> AsyncIterator[Ommi]:
    """An ``Ommi`` on a clean database with ``ommi_collection``'s tables, dropped afterwards.

    The URL comes from ``--ommi-db-url`` (repeat it to run each test on several
    backends) or ``$OMMI_TEST_DATABASE_URL`` (comma-separated), default
    in-memory SQLite. Under pytest-xdist each worker gets its own database.
    """
    db = await Ommi.connect(ommi_db_url)
    schema = db.schema(ommi_collection)
    try:
        await schema.delete_models().or_raise()
        await schema.create_models().or_raise()
        yield db
    finally:
        await schema.delete_models()
        await db.close()


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
