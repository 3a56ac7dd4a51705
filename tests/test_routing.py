"""The replica router's configuration and rules, on SQLite files (no server needed).

A replica URL naming the primary's own database file is a replica without lag:
what is checked here is how ommi is configured (arguments, environment), which
server each statement goes to, and the refusals. Replication itself is tested
against real PostgreSQL servers in tests/test_replicas.py; the rules on every
backend in the conformance suite (ommi/testing/suite/replicas.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from ommi_sqlite import SQLiteDriver

from ommi import Key, ModelCollection, Ommi, StatementEvent, errors, ommi_model
from ommi.routing import RoutingDriver

models = ModelCollection("routing-tests")


@ommi_model(collection=models, name="rt_note")
@dataclass
class Note:
    text: str
    id: Annotated[int | None, Key] = None


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
async def db(url: str) -> AsyncIterator[Ommi]:
    db = await Ommi.connect(url, replicas=[url, url])
    await db.schema(models).create_models().or_raise()
    await db.add(Note("a"), Note("b")).or_raise()
    try:
        yield db
    finally:
        await db.close()


async def test_reads_take_turns_on_the_replicas(db: Ommi) -> None:
    seen: list[StatementEvent] = []
    db.on_statement(seen.append)
    for _ in range(4):
        assert await db.find(Note).count().or_raise() == 2
    assert [e.server for e in seen] == ["replica 1", "replica 2", "replica 1", "replica 2"]

    seen.clear()
    counts = await asyncio.gather(*(db.find(Note).count().or_raise() for _ in range(20)))
    assert counts == [2] * 20
    assert sorted(e.server or "" for e in seen) == ["replica 1"] * 10 + ["replica 2"] * 10


async def test_on_primary_joins_the_transaction_block_of_its_task(db: Ommi) -> None:
    seen: list[StatementEvent] = []
    db.on_statement(seen.append)
    async with db.transaction():
        await db.add(Note("c")).or_raise()
        # the uncommitted row is visible: the read ran in the block's transaction
        assert await db.on_primary().find(Note).count().or_raise() == 3
        assert await db.find(Note).on_primary().count().or_raise() == 3
        # outside the block: committed rows only
        assert await db.outside_transaction().find(Note).on_primary().count().or_raise() == 2
    assert [e.server for e in seen] == ["primary"] * 4
    assert await db.find(Note).count().or_raise() == 3


async def test_replicas_come_from_the_environment_without_a_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMMI_DATABASE_URL", url)
    monkeypatch.setenv("OMMI_DATABASE_REPLICAS", f"  {url}\n{url} ")
    configured = Ommi.connect()
    assert isinstance(configured.driver, RoutingDriver)
    assert len(configured.driver.replicas) == 2
    assert all(isinstance(d, SQLiteDriver) for d in configured.driver.replicas)
    async with configured:
        await configured.schema(models).create_models().or_raise()
        assert await configured.find(Note).count().or_raise() == 0

    # an explicit URL is a complete configuration: no replicas from the environment
    assert isinstance(Ommi.connect(url).driver, SQLiteDriver)
    monkeypatch.setenv("OMMI_DATABASE_REPLICAS", " ")
    assert isinstance(Ommi.connect().driver, SQLiteDriver)
    # replicas belong to the configured database, not to the in-memory default
    monkeypatch.delenv("OMMI_DATABASE_URL")
    monkeypatch.setenv("OMMI_DATABASE_REPLICAS", url)
    assert isinstance(Ommi.connect().driver, SQLiteDriver)
    assert isinstance(Ommi.connect(url, replicas=[]).driver, SQLiteDriver)


def test_bad_replica_configurations_fail_with_connection_failed(url: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="replicas takes a list"):
        Ommi.connect(url, replicas=url)  # type: ignore[arg-type]  # the mistake this guards against
    with pytest.raises(errors.ConnectionFailed, match="replica 1 .* is not a sqlite URL"):
        Ommi.connect(url, replicas=["duckdb:///other.duckdb"])
    for retry in (-1, float("nan"), "soon"):
        with pytest.raises(errors.ConnectionFailed, match="replica_retry"):
            Ommi.connect(url, replicas=[url], replica_retry=retry)
    with pytest.raises(errors.ConnectionFailed, match="malformed"):
        Ommi.connect(url, replicas=["not a url"])
    with pytest.raises(errors.ConnectionFailed, match="ommi driver"):
        RoutingDriver(SQLiteDriver(":memory:"), ["sqlite://"])  # type: ignore[list-item]
    with pytest.raises(errors.ConnectionFailed):
        Ommi.connect(url, replicas=[url], colour="blue")  # the drivers' own options are checked as usual


def test_passwords_stay_hidden() -> None:
    db = Ommi.connect(
        "postgresql://app:pw-primary@db1/shop",
        replicas=["postgresql://app:pw-replica@db2/shop", "postgresql://app:pw-replica@db3:5433/shop"],
        max_size=3,
    )
    assert isinstance(db.driver, RoutingDriver)
    shown = repr(db)
    assert "pw-" not in shown and shown.count("***") == 3 and "db3:5433" in shown
    assert [d.max_size for d in db.driver.replicas] == [3, 3]  # type: ignore[attr-defined]


async def test_a_replica_that_cannot_open_does_not_keep_the_database_closed(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = f"sqlite:///{tmp_path / 'no-such-dir' / 'app.db'}"
    async with Ommi.connect(url, replicas=[missing]) as db:  # opens: the replica's failure is a warning
        seen: list[StatementEvent] = []
        db.on_statement(seen.append)
        await db.schema(models).create_models().or_raise()
        assert await db.find(Note).count().or_raise() == 0
        assert [a async for a in db.find(Note)] == []
    assert [e.server for e in seen] == ["primary", "primary"]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "ommi.routing"]
    assert warning.startswith("replica 1 failed (cannot open SQLite database") and "skip it for 10 s" in warning


async def test_native_statements_run_on_the_primary(db: Ommi) -> None:
    # a native statement may write, and ommi cannot tell: never on a replica
    seen: list[str | None] = []
    db.on_statement(lambda e: seen.append(e.server))
    assert await db.raw('SELECT "text" FROM "rt_note" ORDER BY "text"').or_raise() == [("a",), ("b",)]
    await db.raw('INSERT INTO "rt_note" ("text") VALUES (?)', "c").or_raise()
    assert await db.find(Note).count().or_raise() == 3
    assert seen == ["primary", "primary", "replica 1"] or seen == ["primary", "primary", "replica 2"]
