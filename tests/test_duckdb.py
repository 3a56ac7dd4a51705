"""DuckDB-specific behaviour, through the public API only."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from ommi import Count, DBFailure, Max, Min, Ommi, Sum, errors
from ommi.testing.models import (
    Article,
    ArticleTag,
    Book,
    Category,
    Person,
    Remark,
    Sample,
    Tag,
    Writer,
    suite_collection,
)


async def opened(url: str) -> Ommi:
    db = Ommi.connect(url)
    await db.schema(suite_collection).create_models().or_raise()
    return db


@pytest.fixture
async def db() -> AsyncIterator[Ommi]:
    handle = await opened("duckdb://")
    try:
        yield handle
    finally:
        await handle.close()


# -- URLs -------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["duckdb://", "duckdb:///:memory:"])
async def test_in_memory_urls_are_private_and_work(url: str) -> None:
    first, second = await opened(url), await opened(url)
    try:
        await first.add(Person("only-in-first", 1)).or_raise()
        assert await first.find(Person).count().or_raise() == 1
        assert await second.find(Person).count().or_raise() == 0
    finally:
        await first.close()
        await second.close()


async def test_relative_and_absolute_file_urls_persist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, file in [
        ("duckdb:///relative.duckdb", tmp_path / "relative.duckdb"),
        ("duckdb:///" + str(tmp_path / "absolute.duckdb"), tmp_path / "absolute.duckdb"),
    ]:
        db = await opened(url)
        [first] = await db.add(Person("kept", 1)).or_raise()
        await db.close()
        assert file.exists()
        db = await opened(url)
        try:
            assert (await db.get(Person, first.id).or_raise()).name == "kept"
            # the key sequence lives in the file too: new keys do not reuse old ones
            [second] = await db.add(Person("new", 2)).or_raise()
            assert second.id is not None and second.id > first.id
        finally:
            await db.close()


async def test_bad_urls_and_paths_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(errors.ConnectionFailed, match="not a host"):
        Ommi.connect("duckdb://somehost/file.duckdb")
    with pytest.raises(errors.ConnectionFailed, match="unknown DuckDB option"):
        Ommi.connect("duckdb:///x.duckdb?journal=wal")
    missing_dir = tmp_path / "no" / "such" / "dir" / "x.duckdb"
    result = await Ommi.connect("duckdb:///" + str(missing_dir)).find(Person).count()
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ConnectionFailed)
    assert result.error.__cause__ is not None


async def test_read_only_option(tmp_path: Path) -> None:
    path = str(tmp_path / "ro.duckdb")
    db = await opened("duckdb:///" + path)
    await db.add(Person("x", 1)).or_raise()
    await db.close()
    async with Ommi.connect(f"duckdb:///{path}?read_only=true") as ro:
        assert await ro.find(Person).count().or_raise() == 1
        refused = await ro.add(Person("y", 2))
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.QueryError)
        assert "read-only" in str(refused.error)
        assert await ro.find(Person).count().or_raise() == 1


# -- capabilities and transactions ---------------------------------------------------


async def test_declared_capabilities(db: Ommi) -> None:
    assert db.capabilities == {
        "transactions", "concurrent_transactions", "schema_evolution", "transactional_schema", "infinite_floats",
        "signed_zero", "raw",
    }


async def test_nested_transaction_is_unsupported_and_outer_block_survives(db: Ommi) -> None:
    async with db.transaction() as tx:
        await tx.add(Person("outer", 1)).or_raise()
        with pytest.raises(errors.UnsupportedError, match="savepoints"):
            async with tx.transaction():
                pass
        await tx.add(Person("still usable", 2)).or_raise()
    assert await db.find(Person).count().or_raise() == 2


async def test_conflicting_transactions_raise_transaction_error(db: Ommi) -> None:
    [p] = await db.add(Person("shared", 1)).or_raise()
    async with db.transaction() as first:
        await first.find(Person.id == p.id).update(age=2).or_raise()
        with pytest.raises(errors.TransactionError):
            async with db.outside_transaction().transaction() as second:
                await second.find(Person.id == p.id).update(age=3).or_raise()
    assert (await db.get(Person, p.id).or_raise()).age == 2


async def test_failed_adds_inside_transaction_keep_it_usable(db: Ommi) -> None:
    async with db.transaction() as tx:
        await tx.add(Tag("db"), Tag("life")).or_raise()
        same_label = await tx.add(Tag("new"), Tag("db"))
        assert isinstance(same_label, DBFailure) and isinstance(same_label.error, errors.IntegrityError)
        twice_in_batch = await tx.add(Tag("x"), Tag("x"))
        assert isinstance(twice_in_batch, DBFailure) and isinstance(twice_in_batch.error, errors.IntegrityError)
        [article] = await tx.add(Article("a")).or_raise()
        [tag] = await tx.add(Tag("t")).or_raise()
        await tx.add(ArticleTag(article.id, tag.id)).or_raise()
        same_key = await tx.add(ArticleTag(article.id, tag.id))
        assert isinstance(same_key, DBFailure) and isinstance(same_key.error, errors.IntegrityError)
        await tx.add(Tag("kept")).or_raise()
    assert sorted(t.label for t in await db.find(Tag).all().or_raise()) == ["db", "kept", "life", "t"]
    assert await db.find(ArticleTag).count().or_raise() == 1


async def test_references_are_checked_by_ommi_so_referenced_rows_stay_writable(db: Ommi) -> None:
    # DuckDB's own foreign keys would refuse the writes below (see docs/backends/duckdb.md);
    # ommi checks references itself instead
    [root] = await db.add(Category("root")).or_raise()
    [kid] = await db.add(Category("kid", root.id)).or_raise()
    await db.add(Category("leaf", kid.id)).or_raise()
    kid.name = "renamed"
    kid.parent_id = None
    await db.save(kid).or_raise()  # updates a referenced row's reference column
    assert (await db.get(Category, kid.id).or_raise()).parent_id is None
    assert await db.find(Category).delete().or_raise() == 3  # rows that refer to each other
    ann, bob = await db.add(Writer("Ann"), Writer("Bob")).or_raise()
    [article] = await db.add(Article("t", ann.id)).or_raise()
    await db.add(Remark("r", article.id, ann.id)).or_raise()
    article.writer_id = bob.id
    await db.save(article).or_raise()
    assert (await db.get(Article, article.id).or_raise()).writer_id == bob.id
    dangling = await db.add(Book("no such author", 424242))
    assert isinstance(dangling, DBFailure) and isinstance(dangling.error, errors.IntegrityError)
    still_used = await db.delete(bob)
    assert isinstance(still_used, DBFailure) and isinstance(still_used.error, errors.IntegrityError)
    assert "foreign_keys" not in db.capabilities


async def test_concurrent_transactions_get_distinct_generated_keys(db: Ommi) -> None:
    async def one(i: int) -> list[int]:
        async with db.transaction() as tx:
            added = await tx.add(*(Person(f"t{i}-{j}", j) for j in range(20))).or_raise()
        return [p.id for p in added]

    keys = [k for ks in await asyncio.gather(*(one(i) for i in range(8))) for k in ks]
    assert len(set(keys)) == len(keys) == 160
    assert await db.find(Person).count().or_raise() == 160


async def test_stream_inside_transaction_survives_other_statements(db: Ommi) -> None:
    await db.add(*(Person(f"s{i:04d}", i) for i in range(5000))).or_raise()
    async with db.transaction() as tx:
        seen = []
        async for p in tx.find(Person).order_by(Person.age):
            seen.append(p.age)
            if len(seen) in (10, 3000):  # a statement on the same cursor while the stream is open
                assert await tx.find(Person.age < 100).count().or_raise() == 100
        assert seen == list(range(5000))


# -- the event loop and concurrency ----------------------------------------------------


async def test_calls_yield_to_the_event_loop(db: Ommi) -> None:
    await db.add(Person("a", 1)).or_raise()
    task = asyncio.ensure_future(db.find(Person).count().or_raise())
    await asyncio.sleep(0)
    # a driver that ran DuckDB on the loop would have finished within that one step
    assert not task.done()
    assert await task == 1


async def test_many_concurrent_tasks_on_one_ommi(db: Ommi) -> None:
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0.001)

    async def work(i: int) -> tuple[int, int]:
        await db.add(*(Person(f"w{i}-{j}", i) for j in range(30))).or_raise()
        mine = await db.find(Person.age == i).all().or_raise()
        streamed = [p async for p in db.find(Person.name.startswith(f"w{i}-"))]
        return len(mine), len(streamed)

    tick_task = asyncio.ensure_future(ticker())
    results = await asyncio.gather(*(work(i) for i in range(80)))
    running = False
    await tick_task
    assert results == [(30, 30)] * 80
    assert await db.find(Person).count().or_raise() == 2400
    assert ticks > 1  # the loop kept running other tasks meanwhile


async def test_an_add_reserves_its_keys_on_the_connections_thread_not_while_it_starts() -> None:
    # A blocking driver's operation runs on the caller's thread (the event loop) up to its
    # first command. Drawing keys is DuckDB work (nextval, and a scan for the largest stored
    # key on first use) under a lock shared with every thread of the file: it must be a
    # command the connection's thread runs, never work done while the operation starts.
    from ommi_duckdb import DuckDBDriver

    driver = DuckDBDriver()
    db = Ommi(driver)
    try:
        await db.schema(suite_collection).create_models().or_raise()
        plan = driver.compiler.plan(Person)
        for op in (driver.reserve_keys(plan, 1, None), driver.after_given_keys(plan, 10**6)):
            try:
                first = op.send(None)
            except StopIteration:
                first = None
            op.close()
            assert first is not None, "the keys were drawn before the operation's first command"
        [added] = await db.add(Person("after", 1)).or_raise()
        assert added.id == 1  # nothing was drawn by the operations started above
    finally:
        await db.close()


# -- types and bulk work ------------------------------------------------------------------


async def test_bulk_add_of_10000_rows_writes_every_key_back(db: Ommi) -> None:
    people = [Person(f"bulk{i}", i % 90, city=None if i % 3 else "x") for i in range(10_000)]
    result = await db.add(*people).or_raise()
    assert result == people
    keys = [p.id for p in people]
    assert all(isinstance(k, int) for k in keys)
    assert len(set(keys)) == 10_000
    assert await db.find(Person).count().or_raise() == 10_000
    assert await db.find(Person.city == "x").count().or_raise() == 3334
    assert await db.get(Person, people[9_999].id).or_raise() == people[9_999]


async def test_user_keys_above_the_sequence_push_it_forward(db: Ommi) -> None:
    await db.add(Person("high", 1, id=10**12)).or_raise()
    mixed = await db.add(Person("a", 1), Person("b", 2, id=10**12 + 1), Person("c", 3)).or_raise()
    assert mixed[1].id == 10**12 + 1
    assert {mixed[0].id, mixed[2].id}.isdisjoint({10**12, 10**12 + 1})
    assert await db.find(Person).count().or_raise() == 4


async def test_keys_drawn_ahead_for_one_row_adds_never_clash(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/keys.duckdb"
    db = await opened(url)
    try:
        [first] = await db.add(Person("first", 1)).or_raise()
        assert first.id is not None
        # explicit keys among the keys the driver drew ahead: generated keys step over them
        await db.add(Person("given", 1, id=first.id + 3)).or_raise()
        await db.add(Person("given2", 1, id=first.id + 5), Person("mixed", 1)).or_raise()
        singles = [(await db.add(Person(f"p{i}", 1)).or_raise())[0] for i in range(100)]
        keys = [p.id for p in singles]
        assert len(set(keys)) == 100
        assert {first.id + 3, first.id + 5}.isdisjoint(keys)
        # a second connection to the same file shares the keys drawn ahead: its
        # generated keys never clash, and an explicit key it stores is stepped over
        other = Ommi.connect(url)
        try:
            theirs = [(await other.add(Person(f"q{i}", 1)).or_raise())[0].id for i in range(5)]
            top = max(k for k in theirs if k is not None)
            await other.add(Person("theirs", 1, id=top + 2)).or_raise()
        finally:
            await other.close()
        assert set(theirs).isdisjoint(keys)
        mine = [(await db.add(Person(f"r{i}", 1)).or_raise())[0].id for i in range(5)]
        assert top + 2 not in mine and set(mine).isdisjoint(theirs)
        assert await db.find(Person).count().or_raise() == 115
    finally:
        await db.close()
    # after a restart the keys go on above every stored one (a gap is the only trace)
    db = await opened(url)
    try:
        [later] = await db.add(Person("later", 1)).or_raise()
        assert later.id is not None and later.id > max(k for k in keys if k is not None)
    finally:
        await db.close()
    # a file made again at the same path starts its keys over, without the old spares
    (tmp_path / "keys.duckdb").unlink()
    db = await opened(url)
    try:
        fresh = [(await db.add(Person(f"s{i}", 1)).or_raise())[0].id for i in range(80)]
        assert fresh == list(range(1, 81))
    finally:
        await db.close()


async def test_growing_blocks_of_keys_drawn_ahead_stay_consecutive_and_step_over_given_keys(db: Ommi) -> None:
    # one-row adds draw blocks of 64, 128, 256, 512 keys: 600 adds reach the fourth block
    async with db.transaction() as tx:
        keys = [(await tx.add(Person(f"p{i}", 1)).or_raise())[0].id for i in range(450)]
        assert keys == list(range(1, 451))  # nothing else draws: no gap between the blocks
        # an explicit key inside the block being handed out: the next generated keys step over it
        await tx.add(Person("given", 1, id=460)).or_raise()
        more = [(await tx.add(Person(f"q{i}", 1)).or_raise())[0].id for i in range(150)]
    assert more == list(range(461, 611))
    assert await db.find(Person).count().or_raise() == 601


async def test_decimals_round_trip_exactly_or_are_refused(db: Ommi) -> None:
    widest = Decimal("9" * 28 + "." + "9" * 10)
    stored = await db.add(
        Sample(dec=widest), Sample(dec=Decimal("-0.0000000001")), Sample(dec=Decimal("1.50"))
    ).or_raise()
    for s in stored:
        loaded = await db.get(Sample, s.id).or_raise()
        assert loaded.dec == s.dec and type(loaded.dec) is Decimal
    assert (await db.get(Sample, stored[2].id).or_raise()).dec.as_tuple().exponent == -1  # no padding zeros
    for bad in (Decimal("0.00000000001"), Decimal("1" + "0" * 28)):
        refused = await db.add(Sample(dec=bad))
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.ValidationError)
    assert await db.find(Sample).count().or_raise() == 3


async def test_aware_datetimes_come_back_in_utc_whatever_the_input_zone(db: Ommi) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    value = datetime(2024, 3, 1, 8, 15, 30, 123456, tzinfo=india)
    [s] = await db.add(Sample(adt=value)).or_raise()
    loaded = await db.get(Sample, s.id).or_raise()
    assert loaded.adt == value
    assert loaded.adt.utcoffset() == timedelta(0)
    assert loaded.adt.replace(tzinfo=None) == datetime(2024, 3, 1, 2, 45, 30, 123456)
    assert await db.find(Sample.adt == datetime(2024, 3, 1, 2, 45, 30, 123456, tzinfo=UTC)).count().or_raise() == 1


async def test_like_is_case_sensitive_and_a_trailing_backslash_is_literal(db: Ommi) -> None:
    await db.add(Person("Back\\", 1), Person("back\\", 2), Person("BACK", 3)).or_raise()
    assert [p.age for p in await db.find(Person.name.like("Back\\")).all().or_raise()] == [1]
    assert await db.find(Person.name.like("back%")).count().or_raise() == 1
    assert await db.find(Person.name.endswith("\\")).count().or_raise() == 2


async def test_missing_table_is_schema_error() -> None:
    async with Ommi.connect("duckdb://") as empty:
        result = await empty.find(Person).count()
        assert isinstance(result, DBFailure) and isinstance(result.error, errors.SchemaError)
        assert "create_models" in str(result.error)


def test_driver_imports_only_public_ommi_modules() -> None:
    import ommi_duckdb

    folder = Path(ommi_duckdb.__file__).parent
    for source in folder.glob("*.py"):
        text = source.read_text()
        assert "ommi._" not in text, source.name
        assert "from ommi import _" not in text, source.name
    assert os.path.basename(folder) == "ommi_duckdb"


async def test_aggregates_over_aware_datetimes_and_decimals(db: Ommi) -> None:
    plus3 = timezone(timedelta(hours=3))
    await db.add(
        Sample(s="a", adt=datetime(2024, 1, 1, 12, tzinfo=plus3), dec=Decimal("1.5")),
        Sample(s="a", adt=datetime(2024, 1, 2, tzinfo=UTC), dec=Decimal("2.25")),
        Sample(s="b", adt=datetime(2023, 6, 1, tzinfo=UTC)),
    ).or_raise()
    got = (
        await db.find(Sample.s == "a")
        .aggregate(lo=Min(Sample.adt), hi=Max(Sample.adt), total=Sum(Sample.dec))
        .or_raise()
    )
    assert got == {
        "lo": datetime(2024, 1, 1, 9, tzinfo=UTC),
        "hi": datetime(2024, 1, 2, tzinfo=UTC),
        "total": Decimal("3.75"),
    }
    assert got["lo"].utcoffset() == timedelta(0)
    assert str(got["total"]) == "3.75"  # no padding to the column's ten decimal places
    late = db.find(Sample).group_by(Sample.s).order_by(Sample.s)
    after = await late.having(Max(Sample.adt) > datetime(2024, 1, 1, 23, tzinfo=UTC)).aggregate(n=Count()).or_raise()
    assert after == [{"s": "a", "n": 2}]
    none_after = await late.having(Max(Sample.adt) > datetime(2024, 1, 2, tzinfo=UTC)).aggregate(n=Count()).or_raise()
    assert none_after == []
