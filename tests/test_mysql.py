"""MySQL/MariaDB-specific behaviour, through the public API against the test server.

The conformance suite (tests/test_conformance.py) covers what every backend
shares. This module covers what MariaDB makes special: the collation and
column choices, the SERIALIZABLE transactions and their deadlocks, InnoDB's
row-by-row reference checks, error messages and logs without values, the
pool under load and connections the server kills.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import asyncmy
import pytest

from ommi import (
    Avg,
    AwareDatetime,
    Count,
    DBFailure,
    Index,
    Key,
    ModelCollection,
    Ommi,
    ReferenceTo,
    Sum,
    Unique,
    errors,
    ommi_model,
)
from ommi.testing.suite._helpers import fresh_tables
from tests.conftest import backend_url, only_with

pytestmark = only_with("mysql")

coll = ModelCollection("mysql-tests")


@ommi_model(collection=coll)
@dataclass
class MyItem:
    name: str
    n: int
    tag: Annotated[str | None, Unique] = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=coll)
@dataclass
class MyTyped:
    s: str
    city: Annotated[str | None, Index] = None
    dec: Decimal | None = None
    when: datetime | None = None
    at: AwareDatetime | None = None
    js: dict[str, Any] | None = None
    by: bytes | None = None
    flag: bool | None = None
    f: float | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=coll)
@dataclass
class Node:
    name: str
    parent_id: Annotated[int | None, ReferenceTo("Node.id")] = None
    id: Annotated[int | None, Key] = None


@pytest.fixture(scope="module")
def mysql_url() -> str:
    """The shared MariaDB server of this test session (started once, by tests/conftest.py)."""
    return backend_url("mysql")


@pytest.fixture
async def db(mysql_url: str) -> AsyncIterator[Ommi]:
    async with Ommi.connect(mysql_url, max_size=5) as handle:
        async with fresh_tables(handle, coll):
            yield handle


def _native_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "db": parts.path.lstrip("/"),
        "autocommit": True,
    }


async def _native(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    conn = await asyncmy.connect(**_native_args(url))
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())
    finally:
        conn.close()


# -- the columns ommi creates -------------------------------------------------------------


async def test_columns_have_exact_collations_and_the_documented_types(db: Ommi, mysql_url: str) -> None:
    rows = await _native(
        mysql_url,
        "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'MyTyped' ORDER BY ORDINAL_POSITION",
    )
    got = {name: (kind, collation) for name, kind, collation in rows}
    assert got["s"] == ("longtext", "utf8mb4_nopad_bin")
    assert got["city"] == ("varchar(768)", "utf8mb4_nopad_bin")  # indexed: a real B-tree index
    assert got["dec"][0] == "decimal(65,30)"
    assert got["when"][0] == got["at"][0] == "datetime(6)"
    assert got["by"][0] == "longblob"
    assert got["flag"][0] == "tinyint(1)"
    [(engine,)] = await _native(
        mysql_url,
        "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'MyTyped'",
    )
    assert engine == "InnoDB"
    assert list(await db.schema(coll).diff().or_raise()) == []  # the inspector reads back what was created


async def test_text_compares_exactly_and_orders_by_code_point(db: Ommi) -> None:
    # MariaDB's default collations fold case and ignore trailing spaces; ommi's columns do neither
    names = ["a", "a ", "A", "a\x00", "a\t", "é", "e\u0301", "\U0010ffff", "\uffff", ""]
    await db.add(*(MyItem(name, i, tag=name) for i, name in enumerate(names))).or_raise()
    assert await db.find(MyItem.name == "a").count().or_raise() == 1
    assert await db.find(MyItem.tag == "a ").count().or_raise() == 1  # the unique index keeps both
    ordered = await db.find(MyItem).order_by(MyItem.name).all().or_raise()
    assert [m.name for m in ordered] == sorted(names)
    matched = await db.find(MyItem.name.like("a%")).all().or_raise()
    assert sorted(m.name for m in matched) == sorted(n for n in names if n.startswith("a"))
    assert await db.find(MyItem.name.like("A")).count().or_raise() == 1  # case-sensitive
    assert await db.find(MyItem.name.like("a\\")).count().or_raise() == 0  # a trailing backslash is literal


async def test_indexed_text_holds_768_characters(db: Ommi) -> None:
    await db.add(MyItem("ok", 1, tag="😀" * 768)).or_raise()
    result = await db.add(MyItem("long", 2, tag="x" * 769))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    assert "too long" in str(result.error) and "tag" in str(result.error)
    assert await db.find(MyItem).count().or_raise() == 1


async def test_values_that_cannot_be_stored_are_validation_errors(db: Ommi) -> None:
    result = await db.add(MyTyped("x", dec=Decimal("1E-31")))  # more than 30 places would be rounded
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    result = await db.find(MyTyped.dec > Decimal("1" * 36)).count()  # in a query as well
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    await db.add(MyTyped("y", dec=Decimal("-" + "9" * 35 + "." + "9" * 30))).or_raise()
    assert (await db.find(MyTyped).one().or_raise()).dec == Decimal("-" + "9" * 35 + "." + "9" * 30)


async def test_a_float_sum_past_the_double_range_fails_instead_of_reading_zero(db: Ommi) -> None:
    # MariaDB's SUM of DOUBLE returns 0 when it overflows; ommi makes that an error, as on PostgreSQL
    await db.add(MyTyped("a", f=1.7976931348623157e308), MyTyped("b", f=1e300), MyTyped("c", f=0.5)).or_raise()
    for agg in (Sum(MyTyped.f), Avg(MyTyped.f)):
        result = await db.find(MyTyped).aggregate(total=agg)
        assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
        assert "out of range" in str(result.error)
    fine = await db.find(MyTyped.s != "a").aggregate(total=Sum(MyTyped.f), n=Count()).or_raise()
    assert fine == {"total": 1e300 + 0.5, "n": 2}


async def test_explicit_key_zero_is_kept(db: Ommi) -> None:
    # without NO_AUTO_VALUE_ON_ZERO, AUTO_INCREMENT would replace 0 with a generated key
    [zero] = await db.add(MyItem("zero", 0, id=0)).or_raise()
    [after] = await db.add(MyItem("after", 1)).or_raise()
    assert zero.id == 0 and after.id == 1
    assert (await db.get(MyItem, 0).or_raise()).name == "zero"


async def test_a_bulk_add_escapes_text_for_the_sessions_sql_mode(db: Ommi) -> None:
    # with NO_BACKSLASH_ESCAPES a backslash is an ordinary character in a string literal and
    # only quotes are doubled: the multi-row INSERTs of a bulk add write text the way the server reads it
    texts = ["back\\slash", "trailing \\", "\\'", "it's", "\\\\", "nul \x00", 'q"q', "plain"]
    async with db.transaction() as tx:
        await tx.raw("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')").or_raise()
        generated = [MyItem(t, k) for k, t in enumerate(texts)]
        await tx.add(*generated).or_raise()
        given = [MyItem(t, k, id=1000 + k) for k, t in enumerate(texts)]
        await tx.add(*given).or_raise()
        await tx.raw("SET SESSION sql_mode = REPLACE(@@sql_mode, ',NO_BACKSLASH_ESCAPES', '')").or_raise()
    for item in generated + given:
        assert (await db.get(MyItem, item.id).or_raise()).name == item.name
    [(raw,)] = await db.raw("SELECT COUNT(*) FROM MyItem WHERE name = CONCAT('trailing ', CHAR(92))").or_raise()
    assert raw == 2


async def test_generated_keys_of_a_large_batch_come_back_in_order(db: Ommi) -> None:
    # the rows go in several multi-row INSERT ... RETURNING statements of about 1 MB each
    batch = [MyItem(f"{i:05d}" + "x" * 1000, i) for i in range(3000)]
    await db.add(*batch).or_raise()
    assert len({m.id for m in batch}) == 3000
    stored = {m.id: m.n for m in await db.find(MyItem).all().or_raise()}
    assert all(stored[m.id] == m.n for m in batch)


# -- transactions -------------------------------------------------------------------------


async def test_a_deadlock_victim_fails_with_transaction_error_and_stays_aborted(db: Ommi) -> None:
    [item] = await db.add(MyItem("shared", 0)).or_raise()
    both_read = asyncio.Barrier(2)
    outcomes: list[Any] = []

    async def bump(by: int) -> None:
        try:
            async with db.transaction() as tx:
                current = await tx.get(MyItem, item.id).or_raise()  # SERIALIZABLE: a shared lock
                await both_read.wait()
                current.n += by
                await tx.save(current).or_raise()  # both wait for the other's lock: one is the victim
                later = await tx.find(MyItem).count()  # the victim's transaction is over on the server
                outcomes.append(("committed", by, later))
        except errors.TransactionError as exc:
            outcomes.append(("failed", by, exc))

    await asyncio.wait_for(asyncio.gather(bump(1), bump(10)), timeout=30)
    committed = [o for o in outcomes if o[0] == "committed"]
    failed = [o for o in outcomes if o[0] == "failed"]
    assert len(committed) == 1 and len(failed) == 1, outcomes
    assert (await db.get(MyItem, item.id).or_raise()).n == committed[0][1]  # no lost, no half update


async def test_a_failed_statement_keeps_the_transaction_going(db: Ommi) -> None:
    async with db.transaction() as tx:
        await tx.add(MyItem("one", 1, tag="t")).or_raise()
        clash = await tx.add(MyItem("two", 2, tag="t"))
        assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)
        await tx.add(MyItem("three", 3)).or_raise()
    assert sorted(m.name for m in await db.find(MyItem).all().or_raise()) == ["one", "three"]


async def test_a_stream_in_a_transaction_yields_rows_as_of_its_start(db: Ommi) -> None:
    await db.add(*(MyItem(f"n{i}", i) for i in range(1200))).or_raise()
    seen = 0
    async with db.transaction() as tx:
        async for item in tx.find(MyItem).order_by(MyItem.n):
            if seen == 10:
                # another statement on the same connection while the stream is open
                await tx.find(MyItem.n >= 1000).update(n=-1).or_raise()
            assert item.n == seen
            seen += 1
    assert seen == 1200


async def test_deleting_a_tree_in_one_call_goes_leaves_first(db: Ommi) -> None:
    # InnoDB checks each row's references as it deletes it: a parent before its child fails
    [root] = await db.add(Node("root")).or_raise()
    [a, b] = await db.add(Node("a", root.id), Node("b", root.id)).or_raise()
    await db.add(Node("a1", a.id), Node("a2", a.id), Node("b1", b.id)).or_raise()
    [other] = await db.add(Node("other")).or_raise()
    [keep] = await db.add(Node("keep", other.id)).or_raise()
    assert await db.find((Node.name != "other") & (Node.name != "keep")).delete().or_raise() == 6
    # a row still referred to from outside the deleted rows stops the whole delete
    failed = await db.find(Node.id == other.id).delete()
    assert isinstance(failed, DBFailure) and isinstance(failed.error, errors.IntegrityError), failed
    assert {n.name for n in await db.find(Node).all().or_raise()} == {"other", "keep"}
    assert keep.parent_id == other.id
    assert await db.find(Node).delete().or_raise() == 2


# -- errors and logs ----------------------------------------------------------------------


async def test_errors_name_the_problem_but_never_a_value(db: Ommi) -> None:
    await db.add(MyItem("a", 1, tag="secret-tag-value")).or_raise()
    dup = await db.add(MyItem("b", 2, tag="secret-tag-value"))
    assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
    text = str(dup.error)
    assert text == "MyItem.tag: value already exists" and (dup.error.fields, dup.error.kind) == (("tag",), "unique")
    assert type(dup.error.__cause__).__name__ == "IntegrityError"  # asyncmy's, kept as the cause
    orphan = await db.add(Node("orphan", parent_id=12345))
    assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
    assert "12345" not in str(orphan.error)
    # DOUBLE has no infinity: refused before anything is sent, in a write and in a query
    for infinite in (db.add(MyTyped("x", f=-math.inf)), db.find(MyTyped.f < math.inf).count()):
        result = await infinite
        assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result


async def test_nothing_logged_carries_a_value(db: Ommi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await db.add(MyItem("private-value", 1, tag="private-tag")).or_raise()
    await db.add(MyItem("private-value", 2, tag="private-tag"))  # a duplicate: an error
    await db.find(MyItem.name == "private-value").count().or_raise()
    await db.find(MyItem.name == "private-value").update(n=3).or_raise()
    logged = [r.getMessage() for r in caplog.records]
    assert any("INSERT INTO `MyItem`" in m for m in logged)
    assert any("SELECT COUNT(*) FROM `MyItem` WHERE `name` = %s" in m for m in logged)
    assert not any("private" in m for m in logged)


# -- connections ----------------------------------------------------------------------------


async def test_200_concurrent_finds_and_adds_on_a_pool_of_five(db: Ommi) -> None:
    async def one(i: int) -> int:
        await db.add(MyItem(f"c{i}", i)).or_raise()
        return await db.find(MyItem.n == i).count().or_raise()

    assert await asyncio.gather(*(one(i) for i in range(200))) == [1] * 200


async def test_connections_the_server_kills_are_replaced(db: Ommi, mysql_url: str) -> None:
    await db.add(MyItem("before", 1)).or_raise()
    user = unquote(urlsplit(mysql_url).username or "")
    admin = await asyncmy.connect(**_native_args(mysql_url))
    try:
        async with admin.cursor() as cur:
            await cur.execute("SELECT CONNECTION_ID()")
            (me,) = await cur.fetchone()
            await cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s AND ID <> %s", (user, me))
            others = [int(r[0]) for r in await cur.fetchall()]
            for other in others:
                await cur.execute(f"KILL CONNECTION {other}")
    finally:
        admin.close()
    assert others, "the pool holds connections to kill"
    # a read on a killed pooled connection is retried on a fresh one; writes then work again
    assert await db.find(MyItem).count().or_raise() == 1
    await db.add(MyItem("after", 2)).or_raise()
    assert await db.find(MyItem).count().or_raise() == 2


async def test_wrong_password_fails_without_showing_it(mysql_url: str) -> None:
    parts = urlsplit(mysql_url)
    bad = f"mariadb://{parts.username}:not-the-password-42@{parts.hostname}:{parts.port}{parts.path}"
    result = Ommi.connect(bad)
    with pytest.raises(errors.ConnectionFailed) as caught:
        await result
    assert "not-the-password-42" not in str(caught.value) and "***" in str(caught.value)
    assert "not-the-password-42" not in repr(result.driver)


async def test_url_options_and_version(mysql_url: str) -> None:
    async with Ommi.connect(mysql_url + "?min_size=0&max_size=2&pool_recycle=60") as db:
        assert (await db.driver.server_version()).startswith("MariaDB ")
        assert db.capabilities >= {"transactions", "savepoints", "foreign_keys", "schema_evolution"}
        assert "infinite_floats" not in db.capabilities and "signed_zero" not in db.capabilities
    with pytest.raises(errors.ConnectionFailed, match="no_such_option"):
        Ommi.connect(mysql_url + "?no_such_option=1")
    with pytest.raises(errors.ConnectionFailed, match="min_size"):
        Ommi.connect(mysql_url, min_size=3, max_size=2)
    with pytest.raises(errors.ConnectionFailed, match="ssl"):
        Ommi.connect(mysql_url + "?ssl=maybe")
    async with Ommi.connect(mysql_url + "?ssl=disable") as plain:
        assert (await plain.driver.server_version()).startswith("MariaDB ")


# -- schema evolution -----------------------------------------------------------------------


async def test_sync_retypes_columns_and_changes_nullability(mysql_url: str) -> None:
    v1, v2 = ModelCollection("mysql-evolve-v1"), ModelCollection("mysql-evolve-v2")

    @ommi_model(collection=v1, name="MyEvolve")
    @dataclass
    class EvolveV1:
        code: int
        note: str | None = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name="MyEvolve")
    @dataclass
    class EvolveV2:
        code: str
        note: str = ""
        id: Annotated[int | None, Key] = None

    async with Ommi.connect(mysql_url) as db:
        await db.schema(v1).delete_models().or_raise()
        await db.schema(v1).create_models().or_raise()
        try:
            await db.add(EvolveV1(7, "x"), EvolveV1(8, "y")).or_raise()
            diff = await db.schema(v2).diff().or_raise()
            assert sorted(c.kind for c in diff) == ["change_nullability", "retype_column"]
            await db.schema(v2).sync(allow={"retype_column", "change_nullability"}).or_raise()
            assert list(await db.schema(v2).diff().or_raise()) == []
            rows = await db.find(EvolveV2).order_by(EvolveV2.id).all().or_raise()
            assert [(r.code, r.note) for r in rows] == [("7", "x"), ("8", "y")]
            refused = await db.add(EvolveV2("9", None))  # type: ignore[arg-type]
            assert isinstance(refused, DBFailure)
        finally:
            await db.schema(v1).delete_models().or_raise()


async def _bytes_sent(url: str) -> int:
    (row,) = await _native(url, "SHOW GLOBAL STATUS LIKE 'Bytes_sent'")
    return int(row[1])


async def _bytes_sent_once_settled(url: str) -> int:
    # the server's count once it stops sending: a stream left by `break` is closed by
    # asyncio's finaliser in a task of its own, which may still run after the next statement
    sent = await _bytes_sent(url)
    for _ in range(50):
        await asyncio.sleep(0.1)
        sent, last = await _bytes_sent(url), sent
        if sent - last < 64_000:
            break
    return sent


async def test_a_stream_left_early_does_not_read_the_rest_of_its_result(db: Ommi, mysql_url: str) -> None:
    # MySQL's protocol cannot stop a result midway: closing the cursor reads every row
    # left (tens of milliseconds per 100,000 rows; seconds for millions). Outside a
    # transaction the stream's connection is closed instead, and the server stops sending.
    # What it sent before it noticed fills the socket buffers (a few MB on loopback, more
    # on a busy machine): the result is 40 MB, written by the server itself.
    rows, width = 40_000, 1_000
    await _native(
        mysql_url,
        f"INSERT INTO MyItem (name, n) SELECT CONCAT(REPEAT('x', {width - 8}), LPAD(seq, 8, '0')), seq "
        f"FROM seq_0_to_{rows - 1}",
    )
    result_bytes = rows * width
    for leave in ("break", "aclose"):
        before = await _bytes_sent(mysql_url)
        if leave == "break":
            async for _ in db.find(MyItem):
                break
        else:
            stream = db.find(MyItem).__aiter__()
            await anext(stream)
            await stream.aclose()
        # the connection is in order for what comes next, and the table is not locked
        assert await db.find(MyItem.n < 10).count().or_raise() == 10
        sent = await _bytes_sent_once_settled(mysql_url) - before
        assert sent < result_bytes / 2, f"{leave}: the server sent {sent:,} of the result's {result_bytes:,} bytes"
    # a stream read to its end is whole, and one in a transaction still drains its rest
    assert sum([1 async for _ in db.find(MyItem)]) == rows
    async with db.transaction() as tx:
        async for _ in tx.find(MyItem):
            break
        assert await tx.find(MyItem).count().or_raise() == rows
