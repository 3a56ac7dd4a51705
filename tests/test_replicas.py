"""Read replicas and failover against a real PostgreSQL primary and streaming standby.

tests/_replication.py starts the pair (tests/test_replication_infra.py proves
it). These tests go through ommi's public API: reads outside transactions run
on the standby and see what it has replayed (pausing the replay shows both the
lag and that the reads really ran there), ``on_primary()`` answers
read-your-writes, no write reaches the standby, a replica that goes away is
skipped and used again once it is back, and a multi-host URL follows a
failover: work in flight fails with ``ConnectionFailed``, later work succeeds
on the promoted standby, and nothing committed is lost. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

import pytest
from ommi_postgresql import PostgreSQLDriver

from ommi import (
    Count,
    DBFailure,
    DBResult,
    DBSuccess,
    Key,
    ModelCollection,
    Ommi,
    StatementEvent,
    Sum,
    Transaction,
    errors,
    ommi_model,
)
from tests._replication import Replication, replicated_postgres, shared_pair
from tests.conftest import only_with

pytestmark = only_with("postgresql")

store = ModelCollection("replica-tests")

TIMEOUT = 60.0  # seconds any one test may take, failover included


@ommi_model(collection=store, name="rp_account")
@dataclass
class Account:
    owner: str
    balance: int
    id: Annotated[int | None, Key] = None


@ommi_model(collection=store, name="rp_entry")
@dataclass
class Entry:
    n: Annotated[int, Key]


@pytest.fixture
def pair() -> Replication:
    return shared_pair()


@pytest.fixture
def own_pair() -> Iterator[Replication]:
    """A pair of the test's own: it may stop servers and promote the standby."""
    with replicated_postgres() as cluster:
        yield cluster


class Servers:
    """Where each statement of an ``Ommi`` ran, from its statement hook."""

    def __init__(self, db: Ommi) -> None:
        self.events: list[StatementEvent] = []
        db.on_statement(self.events.append)

    def take(self) -> list[tuple[str, str | None]]:
        seen = [(e.operation, e.server) for e in self.events]
        self.events.clear()
        return seen


async def fresh_tables(db: Ommi, cluster: Replication) -> None:
    schema = db.schema(store)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    await asyncio.to_thread(cluster.wait_for_replay)  # the replica has the tables too


@pytest.fixture
async def db(pair: Replication) -> AsyncIterator[Ommi]:
    async with asyncio.timeout(TIMEOUT):
        db = await Ommi.connect(pair.primary.url, replicas=[pair.standby.url])
        try:
            await fresh_tables(db, pair)
            yield db
        finally:
            await db.schema(store).delete_models()
            await db.close()


def dead_url() -> str:
    """A PostgreSQL URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/ommi_test"


async def test_replica_reads_see_the_replicated_rows(db: Ommi, pair: Replication) -> None:
    servers = Servers(db)
    await db.add(*(Account(f"owner {i}", i) for i in range(50))).or_raise()
    await asyncio.to_thread(pair.wait_for_replay)

    rows = await db.find(Account).order_by(Account.balance).all().or_raise()
    assert [a.balance for a in rows] == list(range(50))
    assert await db.find(Account.balance >= 40).count().or_raise() == 10
    totals = await db.find(Account).aggregate(total=Sum(Account.balance), n=Count()).or_raise()
    assert totals == {"total": 1225, "n": 50}
    assert len([a async for a in db.find(Account)]) == 50
    assert (await db.get(Account, rows[-1].id).or_raise()).owner == "owner 49"
    assert servers.take() == [("insert", "primary"), ("select", "replica 1"), ("count", "replica 1"),
                              ("aggregate", "replica 1"), ("stream", "replica 1"), ("select", "replica 1")]  # fmt: skip


async def test_replication_lag_shows_on_the_replica_and_on_primary_reads_your_writes(
    db: Ommi, pair: Replication
) -> None:
    servers = Servers(db)
    [first] = await db.add(Account("first", 1)).or_raise()
    await asyncio.to_thread(pair.wait_for_replay)
    await asyncio.to_thread(pair.pause_replay)
    try:
        [second] = await db.add(Account("second", 2)).or_raise()
        first.balance = 10
        await db.save(first).or_raise()

        # the standby serves reads but stopped applying changes: what it shows is behind
        assert await db.find(Account).count().or_raise() == 1
        assert (await db.get(Account, first.id).or_raise()).balance == 1
        assert isinstance(await db.get(Account, second.id), DBFailure)
        assert [a.owner async for a in db.find(Account)] == ["first"]

        # on the primary: the caller's own writes, at once
        assert await db.find(Account).on_primary().count().or_raise() == 2
        assert (await db.on_primary().get(Account, first.id).or_raise()).balance == 10
        assert (await db.on_primary().get(Account, second.id).or_raise()).owner == "second"
        async with db.transaction():
            assert await db.find(Account).count().or_raise() == 2  # a transaction reads on the primary
        assert [s for _, s in servers.take()] == ["primary"] * 3 + ["replica 1"] * 4 + ["primary"] * 4
    finally:
        await asyncio.to_thread(pair.resume_replay)
    await asyncio.to_thread(pair.wait_for_replay)
    assert await db.find(Account).count().or_raise() == 2
    assert (await db.get(Account, first.id).or_raise()).balance == 10
    assert servers.take() == [("count", "replica 1"), ("select", "replica 1")]


async def test_no_write_reaches_the_standby(db: Ommi, pair: Replication, caplog: pytest.LogCaptureFixture) -> None:
    # the standby refuses writes: had any gone there, it would have failed
    async with Ommi.connect(pair.standby.url) as standby:
        refused = await standby.add(Account("nope", 0))
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.TransactionError), refused

    servers = Servers(db)
    with caplog.at_level(logging.DEBUG, logger="ommi.statements"):
        [a, b] = await db.add(Account("a", 1), Account("b", 2)).or_raise()
        await db.add(Account("c", 3)).or_raise()
        a.balance = 5
        await db.save(a).or_raise()
        assert await db.find(Account.owner == "b").update(balance=7).or_raise() == 1
        async with db.transaction() as tx:
            await tx.add(Entry(1)).or_raise()
            with pytest.raises(RuntimeError):
                async with tx.transaction() as nested:
                    await nested.add(Entry(2)).or_raise()
                    raise RuntimeError("roll the savepoint back")

        async def transfer(tx: Transaction) -> None:
            await db.find(Account.owner == "c").update(balance=0).or_raise()

        await db.in_transaction(transfer).or_raise()
        assert await db.delete(b).or_raise() == 1
        assert await db.find(Entry).delete().or_raise() == 1
        await db.schema(store).create_models().or_raise()
    assert {server for _, server in servers.take()} == {"primary"}
    writes = [r.getMessage() for r in caplog.records if r.name == "ommi.statements"]
    assert writes and all(line.startswith("postgresql on primary: ") for line in writes), writes
    assert {line.split(": ", 1)[1].split()[0] for line in writes} >= {"INSERT", "UPDATE", "DELETE", "SAVEPOINT"}
    await asyncio.to_thread(pair.wait_for_replay)
    balances = {a.owner: a.balance for a in await db.find(Account).all().or_raise()}
    assert balances == {"a": 5, "c": 0}


async def test_a_replica_that_goes_away_is_skipped_and_used_again_once_back(
    own_pair: Replication, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = own_pair
    caplog.set_level(logging.WARNING, logger="ommi.routing")
    async with asyncio.timeout(TIMEOUT):
        # replica 1 never answers; replica 2 is the standby
        db = await Ommi.connect(cluster.primary.url, replicas=[dead_url(), cluster.standby.url], replica_retry=0.3)
        try:
            servers = Servers(db)
            await fresh_tables(db, cluster)
            await db.add(Account("kept", 1)).or_raise()
            await asyncio.to_thread(cluster.wait_for_replay)
            servers.take()
            for _ in range(3):
                assert await db.find(Account).count().or_raise() == 1
            assert servers.take() == [("count", "replica 2")] * 3
            assert any(r.getMessage().startswith("replica 1 failed (") for r in caplog.records)

            await asyncio.to_thread(cluster.stop_standby)
            started = time.monotonic()
            assert await db.find(Account).count().or_raise() == 1  # moved to the primary, not failed
            assert [p.owner async for p in db.find(Account)] == ["kept"]
            assert time.monotonic() - started < 5
            assert servers.take() == [("count", "primary"), ("stream", "primary")]
            assert any(r.getMessage().startswith("replica 2 failed (") for r in caplog.records)

            await asyncio.to_thread(cluster.restart_standby)
            await asyncio.sleep(0.4)  # replica_retry has passed: both are tried again
            assert await db.find(Account).count().or_raise() == 1
            assert await db.find(Account).count().or_raise() == 1
            assert servers.take() == [("count", "replica 2")] * 2
        finally:
            await db.close()


async def test_failover_on_a_multi_host_url(own_pair: Replication) -> None:
    cluster = own_pair
    async with asyncio.timeout(TIMEOUT):
        db = await Ommi.connect(cluster.multi_host_url("read-write", standby_first=True))
        try:
            await db.schema(store).create_models().or_raise()
            await db.add(*(Entry(n) for n in range(100))).or_raise()
            committed = set(range(100))

            # in flight when the primary stops: an open transaction holding a row lock,
            # and a statement outside it waiting for that lock
            block = db.transaction()
            tx = await block.__aenter__()
            assert await tx.find(Entry.n == 1).update(n=-1).or_raise() == 1
            outside = db.outside_transaction()  # tasks started in the block would join it

            async def wait_for_the_lock() -> DBResult[int]:
                return await outside.find(Entry.n == 1).update(n=-2)

            waiting = asyncio.create_task(wait_for_the_lock())
            await asyncio.sleep(0.2)
            assert not waiting.done()

            attempted: set[int] = set()
            failures: list[errors.OmmiError] = []
            promoted = asyncio.Event()

            async def writer() -> None:
                # keeps writing through the failover; counts what really committed
                n, after = 1000, 0
                while after < 5:
                    attempted.add(n)
                    got = await outside.add(Entry(n))
                    if isinstance(got, DBSuccess):
                        committed.add(n)
                        after += promoted.is_set()
                    else:
                        failures.append(got.error)
                        await asyncio.sleep(0.02)
                    n += 1

            writing = asyncio.create_task(writer())
            await asyncio.sleep(0.1)
            await asyncio.to_thread(cluster.stop_primary, "fast")

            stopped = await waiting
            assert isinstance(stopped, DBFailure) and isinstance(stopped.error, errors.ConnectionFailed), stopped
            with pytest.raises(errors.ConnectionFailed):
                await tx.find(Entry).count().or_raise()
            with pytest.raises(errors.ConnectionFailed):
                await block.__aexit__(None, None, None)  # the commit

            started = time.monotonic()
            before = await db.add(Entry(-3))  # no writable server until the promotion: fails at once
            assert isinstance(before, DBFailure) and isinstance(before.error, errors.ConnectionFailed), before
            assert time.monotonic() - started < 5

            await asyncio.to_thread(cluster.promote)
            promoted.set()
            await writing
            assert all(isinstance(e, errors.ConnectionFailed) for e in failures), failures

            stored = {e.n for e in await db.find(Entry).all().or_raise()}
            assert committed <= stored  # nothing committed is lost
            assert stored <= committed | attempted  # nothing appears that was never written
            assert not {-1, -2, -3} & stored  # the work in flight was not committed
            assert await db.driver.server_version()  # the promoted standby answers as the primary
        finally:
            await db.close()


async def test_a_host_list_without_a_writable_server_fails_with_connection_failed(pair: Replication) -> None:
    standby_only = f"postgresql://postgres@127.0.0.1:{pair.standby.port}/ommi_test?target_session_attrs=read-write"
    with pytest.raises(errors.ConnectionFailed, match="no server in the host list is of the kind"):
        await Ommi.connect(standby_only)
    # the same host list with the primary in it, in any order, finds the primary
    for standby_first in (False, True):
        async with Ommi.connect(pair.multi_host_url("read-write", standby_first=standby_first)) as db:
            await db.schema(store).create_models().or_raise()
            await db.add(Entry(7)).or_raise()
            await db.find(Entry).delete().or_raise()


def test_host_lists_parse_ports_and_ipv6_and_check_target_session_attrs() -> None:
    db = Ommi.connect("postgresql://app:s3cret@[::1]:5433,db2,[::2],db3:6000/app?port=7000")
    assert isinstance(db.driver, PostgreSQLDriver)
    assert db.driver.host == ["::1", "db2", "::2", "db3"]
    assert db.driver.port == [5433, 7000, 7000, 6000]  # a host without a port takes the port option
    assert "s3cret" not in repr(db)
    with pytest.raises(errors.ConnectionFailed, match="read-write") as bad:
        Ommi.connect("postgresql://app@db1,db2/app?target_session_attrs=primary-please")
    assert "mappingproxy" not in str(bad.value)
    with pytest.raises(errors.ConnectionFailed, match="malformed host"):
        Ommi.connect("postgresql://app@db1:54x,db2/app")
