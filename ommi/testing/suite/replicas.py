"""Conformance tests: the driver under the read-replica router (docs/scaling.md).

The router (:class:`ommi.routing.RoutingDriver`) only chooses which driver runs
a statement, so any driver must work under it: its transactions, savepoints,
streams and schema work wrapped, every statement named with its server. The
replica here is the primary's own driver (a replica without lag, which every
backend can offer, in-memory ones included); the routing rules are what is
checked. Replication itself is tested against real PostgreSQL servers in the
project's tests (tests/test_replicas.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from ommi import Count, Ommi, StatementEvent
from ommi.driver import Driver, parse_url
from ommi.routing import RoutingDriver
from ommi.testing.models import Article, Author, Book, Counter, Person, Writer
from ommi.testing.suite.observability import captured


class Routed:
    """An ``Ommi`` over a router whose replicas are the suite's own driver, and the servers its statements named."""

    def __init__(self, suite_db: Ommi, *replicas: Driver, replica_retry: float = 60.0) -> None:
        drivers = list(replicas) or [suite_db.driver]
        self.db = Ommi(RoutingDriver(suite_db.driver, drivers, replica_retry=replica_retry))
        self.events: list[StatementEvent] = []
        self.db.on_statement(self.events.append)

    def servers(self) -> list[tuple[str, str | None]]:
        """(operation, server) of each statement since the last call."""
        seen = [(e.operation, e.server) for e in self.events]
        self.events.clear()
        return seen


@pytest.fixture
def routed(suite_db: Ommi) -> Iterator[Routed]:
    # never closed: closing the router would close the suite's shared driver
    yield Routed(suite_db)


async def test_reads_outside_transactions_go_to_a_replica_and_writes_to_the_primary(routed: Routed) -> None:
    db = routed.db
    [alice] = await db.add(Person("Alice", 31)).or_raise()
    await db.add(Person("Bob", 17), Person("Carol", 45)).or_raise()
    assert routed.servers() == [("insert", "primary"), ("insert", "primary")]

    assert (await db.get(Person, alice.id).or_raise()).name == "Alice"
    assert await db.find(Person.age > 20).count().or_raise() == 2
    assert await db.find(Person).exists().or_raise()
    assert sorted(p.name for p in await db.find(Person).all().or_raise()) == ["Alice", "Bob", "Carol"]
    assert (await db.find(Person).aggregate(n=Count()).or_raise())["n"] == 3
    assert sorted([p.name async for p in db.find(Person)]) == ["Alice", "Bob", "Carol"]
    assert sorted([p.name async for batch in db.find(Person).batches(2) for p in batch]) == ["Alice", "Bob", "Carol"]
    reads = routed.servers()
    assert [op for op, _ in reads] == ["select", "count", "count", "select", "aggregate", "stream", "stream"]
    assert {server for _, server in reads} == {"replica 1"}

    alice.age = 32
    await db.save(alice).or_raise()
    assert await db.find(Person.name == "Bob").update(age=18).or_raise() == 1
    assert await db.delete(alice).or_raise() == 1
    assert await db.find(Person.name == "Carol").delete().or_raise() == 1
    writes = routed.servers()
    assert [op for op, _ in writes if op in ("save", "update", "delete")] == ["save", "update", "delete", "delete"]
    assert {server for _, server in writes} == {"primary"}  # reference checks of a write read there too


async def test_the_router_offers_what_the_primary_offers(routed: Routed, suite_db: Ommi) -> None:
    assert routed.db.capabilities == suite_db.capabilities
    assert "RoutingDriver(primary=" in repr(routed.db)
    assert await routed.db.driver.server_version() == await suite_db.driver.server_version()


@pytest.mark.requires("transactions")
async def test_everything_in_a_transaction_runs_on_the_primary(routed: Routed) -> None:
    db = routed.db
    async with db.transaction() as tx:
        await tx.add(Person("Dana", 28)).or_raise()
        assert await db.find(Person).count().or_raise() == 1  # db in the block: the transaction's
        assert [p.name async for p in tx.find(Person)] == ["Dana"]
        assert [[p.name for p in b] async for b in tx.find(Person).batches(5)] == [["Dana"]]
        assert await tx.find(Person).on_primary().count().or_raise() == 1
    servers = routed.servers()
    assert [op for op, _ in servers] == ["insert", "count", "stream", "stream", "count"]
    assert {server for _, server in servers} == {"primary"}
    assert await db.find(Person).count().or_raise() == 1
    assert routed.servers() == [("count", "replica 1")]


@pytest.mark.requires("savepoints")
async def test_nested_blocks_run_on_the_primary(routed: Routed) -> None:
    db = routed.db
    async with db.transaction() as tx:
        await tx.add(Person("Eve", 50)).or_raise()
        with pytest.raises(RuntimeError):
            async with tx.transaction() as inner:
                await inner.add(Person("Frank", 20)).or_raise()
                raise RuntimeError("undo the nested block")
        assert await tx.find(Person).count().or_raise() == 1
    assert {server for _, server in routed.servers()} == {"primary"}
    assert [p.name for p in await db.find(Person).all().or_raise()] == ["Eve"]


async def test_on_primary_reads_from_the_primary(routed: Routed) -> None:
    db = routed.db
    [writer] = await db.add(Writer("Ada")).or_raise()
    await db.add(Article("Notes", writer.id), Article("Letters", writer.id)).or_raise()
    routed.servers()

    fresh = db.find(Writer.name == "Ada").on_primary()
    assert await fresh.count().or_raise() == 1
    [loaded] = await fresh.include(Writer.articles).all().or_raise()
    assert sorted(a.title for a in await loaded.articles) == ["Letters", "Notes"]
    assert [w.name async for w in fresh] == ["Ada"]
    assert routed.servers() == [("count", "primary"), ("select", "primary"), ("select", "primary"),
                                ("stream", "primary")]  # fmt: skip

    primary = db.on_primary()
    same = await primary.get(Writer, writer.id).or_raise()
    assert sorted(a.title for a in await same.articles) == ["Letters", "Notes"]  # lazy: from the primary too
    assert routed.servers() == [("select", "primary"), ("select", "primary")]

    replica = await db.get(Writer, writer.id).or_raise()
    assert len(await replica.articles) == 2
    assert routed.servers() == [("select", "replica 1"), ("select", "replica 1")]


async def test_statement_logs_name_the_server(routed: Routed) -> None:
    db = routed.db
    with captured() as log:
        await db.add(Person("Gus", 40)).or_raise()
        await db.find(Person).all().or_raise()
        [_ async for _ in db.find(Person)]
    actions = log.texts("ommi")
    assert any(t.startswith("insert Person (1 rows) on primary in ") for t in actions), actions
    assert any(t.startswith("select Person on replica 1 in ") for t in actions), actions
    assert any(t.startswith("stream Person on replica 1 in ") for t in actions), actions
    statements = log.texts("ommi.statements")
    assert statements and all(" on primary: " in t or " on replica 1: " in t for t in statements), statements
    assert any(" on replica 1: " in t for t in statements), statements


async def test_a_failing_replica_is_skipped_and_reads_fall_back_to_the_primary(
    suite_db: Ommi, ommi_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # a replica whose connection is gone: a driver of the same kind, closed
    gone = type(suite_db.driver).from_url(parse_url(ommi_url))
    await gone.close()
    routed = Routed(suite_db, gone, suite_db.driver)
    await routed.db.add(Person("Hal", 33)).or_raise()
    routed.servers()
    with caplog.at_level(logging.WARNING, logger="ommi.routing"):
        for _ in range(4):
            assert await routed.db.find(Person).count().or_raise() == 1
        assert [p.name async for p in routed.db.find(Person)] == ["Hal"]
    servers = [server for _, server in routed.servers()]
    assert set(servers) == {"replica 2"}, servers  # replica 1 failed once, then was skipped
    warnings = [r.getMessage() for r in caplog.records if r.name == "ommi.routing"]
    assert len(warnings) == 1 and warnings[0].startswith("replica 1 failed ("), warnings

    alone = Routed(suite_db, gone, replica_retry=0)  # tried again at every read; no replica left: the primary
    await alone.db
    with caplog.at_level(logging.WARNING, logger="ommi.routing"):
        caplog.clear()
        assert await alone.db.find(Person).count().or_raise() == 1
        assert [p.name async for p in alone.db.find(Person)] == ["Hal"]
    assert alone.servers() == [("count", "primary"), ("stream", "primary")]
    assert len([r for r in caplog.records if r.name == "ommi.routing"]) == 2


async def test_streams_left_early_give_their_connection_back(routed: Routed) -> None:
    db = routed.db
    await db.add(*(Person(f"p{i}", i) for i in range(5))).or_raise()
    async with asyncio.timeout(30):  # a connection kept by each abandoned stream would exhaust a pool
        for _ in range(25):
            async for _person in db.find(Person).order_by(Person.age):
                break
        assert await db.find(Person).count().or_raise() == 5
    assert {server for _, server in routed.servers()} == {"primary", "replica 1"}


async def test_the_reads_of_a_write_run_on_the_primary(routed: Routed) -> None:
    # drivers without foreign keys get references checked by ommi, with reads: they
    # belong to the write (a replica behind the primary could miss the author)
    db = routed.db
    [author] = await db.add(Author("Ada")).or_raise()
    assert author.id is not None
    [book] = await db.add(Book("Notes", author.id)).or_raise()
    await db.find(Book.id == book.id).update(author_id=author.id).or_raise()
    book.title = "Letters"
    await db.save(book).or_raise()
    await db.delete(book).or_raise()
    await db.find(Author.id == author.id).delete().or_raise()
    servers = routed.servers()
    assert len(servers) >= 6 and {server for _, server in servers} == {"primary"}, servers


async def test_projections_read_from_a_replica_and_upserts_write_on_the_primary(routed: Routed) -> None:
    db = routed.db
    await db.upsert(Counter("a", 1), Counter("b", 2)).or_raise()
    await db.upsert(Counter("a", 10)).or_raise()
    writes = routed.servers()
    assert [op for op, _ in writes if op == "upsert"] == ["upsert", "upsert"]
    assert {server for _, server in writes} == {"primary"}, writes

    names = db.find(Counter).order_by(Counter.name).values(Counter.name, Counter.n)
    assert await names.all().or_raise() == [("a", 10), ("b", 2)]
    assert [row async for row in names] == [("a", 10), ("b", 2)]
    assert routed.servers() == [("values", "replica 1"), ("stream_values", "replica 1")]
    assert await names.on_primary().all().or_raise() == [("a", 10), ("b", 2)]
    assert await db.find(Counter).on_primary().values(Counter.n).first().or_raise() is not None
    assert [row async for row in names.on_primary()] == [("a", 10), ("b", 2)]
    assert routed.servers() == [("values", "primary"), ("values", "primary"), ("stream_values", "primary")]
