"""The replication test infrastructure works: a real primary, a streaming standby, failover.

tests/_replication.py starts the pair; these tests prove what replica and
failover tests will rely on, with asyncpg directly (ommi has no replica routing
yet): replicated reads, a read-only standby, promotion without losing committed
rows, and asyncpg's multi-host URLs with ``target_session_attrs`` following the
primary across a failover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from tests._replication import Replication, replicated_postgres
from tests.conftest import only_with

pytestmark = only_with("postgresql")


@pytest.fixture(scope="module")
def pair() -> Iterator[Replication]:
    """A pair that these tests never stop or promote."""
    with replicated_postgres() as cluster:
        yield cluster


@pytest.fixture
def failover_pair() -> Iterator[Replication]:
    """A pair of the test's own: it may stop the primary and promote the standby."""
    with replicated_postgres() as cluster:
        yield cluster


async def port_of(conn: asyncpg.Connection) -> int:
    """The port of the server asyncpg chose among the URL's hosts."""
    port = await conn.fetchval("SELECT inet_server_port()")
    assert isinstance(port, int)
    return port


async def test_standby_serves_replicated_reads_and_refuses_writes(pair: Replication) -> None:
    primary = await asyncpg.connect(pair.primary.url)
    standby = await asyncpg.connect(pair.standby.url)
    try:
        await primary.execute("CREATE TABLE replicated (n int PRIMARY KEY, label text)")
        await primary.executemany("INSERT INTO replicated VALUES ($1, $2)", [(i, f"row {i}") for i in range(50)])
        pair.wait_for_replay(pair.current_lsn())
        assert await standby.fetchval("SELECT count(*) FROM replicated") == 50
        assert await standby.fetchval("SELECT label FROM replicated WHERE n = 49") == "row 49"
        assert await standby.fetchval("SELECT pg_is_in_recovery()") is True

        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await standby.execute("INSERT INTO replicated VALUES (100, 'nope')")
        pair.wait_for_replay()
        assert await primary.fetchval("SELECT count(*) FROM replicated WHERE n = 100") == 0
    finally:
        await primary.close()
        await standby.close()


@pytest.mark.parametrize("standby_first", [False, True])
async def test_read_write_url_finds_the_primary_in_any_host_order(pair: Replication, standby_first: bool) -> None:
    conn = await asyncpg.connect(pair.multi_host_url("read-write", standby_first=standby_first))
    try:
        assert await port_of(conn) == pair.primary.port
        assert await conn.fetchval("SELECT pg_is_in_recovery()") is False
    finally:
        await conn.close()
    conn = await asyncpg.connect(pair.multi_host_url("standby"))
    try:
        assert await port_of(conn) == pair.standby.port
    finally:
        await conn.close()


async def test_failover_keeps_every_committed_row_and_the_url_follows(failover_pair: Replication) -> None:
    cluster = failover_pair
    url = cluster.multi_host_url("read-write")
    conn = await asyncpg.connect(url)
    assert await port_of(conn) == cluster.primary.port
    await conn.execute("CREATE TABLE ledger (n int PRIMARY KEY)")
    for i in range(100):
        await conn.execute("INSERT INTO ledger VALUES ($1)", i)

    # A statement in flight when the primary stops fails with a connection error.
    in_flight = asyncio.create_task(conn.execute("SELECT pg_sleep(10)"))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(cluster.stop_primary, "fast")
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        await in_flight
    await conn.close()

    # No host is read-write until the promotion: asyncpg re-raises the
    # refused connection to the stopped primary.
    with pytest.raises(OSError):
        await asyncpg.connect(url)

    await asyncio.to_thread(cluster.promote)
    conn = await asyncpg.connect(url)
    try:
        assert await port_of(conn) == cluster.standby.port
        await conn.execute("INSERT INTO ledger VALUES (100)")
        assert await conn.fetchval("SELECT count(*) FROM ledger") == 101
        assert await conn.fetchval("SELECT min(n) + max(n) FROM ledger") == 100
    finally:
        await conn.close()


async def test_synchronous_commit_survives_a_crash_of_the_primary() -> None:
    with replicated_postgres(synchronous_commit="remote_apply") as cluster:
        primary = await asyncpg.connect(cluster.primary.url)
        standby = await asyncpg.connect(cluster.standby.url)
        try:
            await primary.execute("CREATE TABLE ledger (n int PRIMARY KEY)")
            for i in range(20):
                await primary.execute("INSERT INTO ledger VALUES ($1)", i)
                # remote_apply: a commit returns only once the standby shows it
                assert await standby.fetchval("SELECT count(*) FROM ledger") == i + 1
        finally:
            await standby.close()
        cluster.stop_primary("immediate")
        with pytest.raises((asyncpg.PostgresConnectionError, OSError)):
            await primary.execute("SELECT 1")
        primary.terminate()
        cluster.promote()
        conn = await asyncpg.connect(cluster.multi_host_url("read-write"))
        try:
            assert await port_of(conn) == cluster.standby.port
            assert await conn.fetchval("SELECT count(*) FROM ledger") == 20
        finally:
            await conn.close()


async def test_a_pool_on_the_multi_host_url_reaches_the_new_primary(failover_pair: Replication) -> None:
    cluster = failover_pair
    pool = await asyncpg.create_pool(cluster.multi_host_url("read-write"), min_size=0, max_size=2)
    try:
        await pool.execute("CREATE TABLE ledger (n int)")
        await pool.execute("INSERT INTO ledger VALUES (1)")
        await asyncio.to_thread(cluster.stop_primary, "fast")
        with pytest.raises((asyncpg.PostgresConnectionError, OSError)):
            await pool.execute("INSERT INTO ledger VALUES (2)")
        await asyncio.to_thread(cluster.promote)
        # The pool's connection to the old primary is gone; the next one is
        # opened through the URL's host list and lands on the promoted standby.
        await pool.execute("INSERT INTO ledger VALUES (3)")
        assert await pool.fetchval("SELECT array_agg(n ORDER BY n) FROM ledger") == [1, 3]
        async with pool.acquire() as conn:
            assert await port_of(conn) == cluster.standby.port
    finally:
        await pool.close()
