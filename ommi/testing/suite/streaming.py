"""Conformance tests: streaming."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from ommi import Key, ModelCollection, Ommi, errors, ommi_model
from ommi.testing.models import (
    Person,
)
from ommi.testing.suite._helpers import fresh_tables


async def test_streaming_yields_every_row_in_order(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i:05d}", i % 90) for i in range(1234))).or_raise()
    seen = [p.name async for p in suite_db.find(Person).order_by(Person.name)]
    assert seen == [f"n{i:05d}" for i in range(1234)]
    filtered = [p async for p in suite_db.find(Person.name.startswith("n001"))]
    assert len(filtered) == 100


async def test_streaming_can_stop_early(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i}", i) for i in range(50))).or_raise()
    taken = []
    async for p in suite_db.find(Person).order_by(Person.age):
        taken.append(p.age)
        if len(taken) == 3:
            break
    assert taken == [0, 1, 2]
    assert await suite_db.find(Person).count().or_raise() == 50


async def test_a_stream_yields_each_row_once_as_of_its_start(suite_db: Ommi) -> None:
    # several of every driver's batches (1,000 to 2,048 rows)
    await suite_db.add(*(Person(f"p{i:04d}", i) for i in range(5000))).or_raise()
    seen: list[str] = []
    async for p in suite_db.find(Person).order_by(Person.age):
        seen.append(p.name)
        if len(seen) % 600 == 1:
            # other work on the same Ommi while the stream is open
            await suite_db.find(Person.name == p.name).update(age=p.age + 5000).or_raise()
            await suite_db.add(Person(f"new{len(seen)}", len(seen) + 3000)).or_raise()
    assert seen == [f"p{i:04d}" for i in range(5000)]


def _left_streams() -> tuple[ModelCollection, type[Any]]:
    # a table of its own, dropped at the end of the test: the schema change that a stream
    # left open would block (MariaDB's DROP TABLE waits for the metadata lock of every
    # transaction that read the table; its lock_wait_timeout is a year)
    local = ModelCollection("ommi-conformance-left-streams")

    @ommi_model(collection=local, name="ommi_left_streams")
    @dataclass
    class Reading:
        n: int
        id: Annotated[int | None, Key] = None

    return local, Reading


LEFT_ROWS = 2500  # more than one batch on every driver: a stream left after its first has rows unread
LEFT_WITHIN = 60.0  # seconds: a stream that is never closed makes the test fail here instead of hanging


async def test_streams_left_early_end_before_the_next_statements_and_schema_change(suite_db: Ommi) -> None:
    # Leaving a stream early (break, aclose(), or dropping it unfinished) ends its cursor, its
    # read transaction and its hold on a connection: other work goes on, and the table can be
    # dropped afterwards. Several times over: each left stream must be cleaned up on its own.
    local, Reading = _left_streams()
    total = LEFT_ROWS
    try:
        async with asyncio.timeout(LEFT_WITHIN), fresh_tables(suite_db, local):
            await suite_db.add(*(Reading(i) for i in range(LEFT_ROWS))).or_raise()
            for stop in (1, 1, 1, 1500, 1, 2001):
                seen = []
                async for reading in suite_db.find(Reading).order_by(Reading.n):
                    seen.append(reading.n)
                    if len(seen) == stop:
                        break
                assert seen == list(range(stop))
                assert await suite_db.find(Reading).count().or_raise() == total
                async for (n,) in suite_db.find(Reading).order_by(Reading.n).values(Reading.n):
                    assert n == 0
                    break
                await suite_db.add(Reading(total)).or_raise()
                total += 1
            # closed explicitly: the stream ends before aclose() returns
            rows = aiter(suite_db.find(Reading).order_by(Reading.n))
            assert (await anext(rows)).n == 0
            await rows.aclose()
            assert await suite_db.find(Reading.n >= 0).count().or_raise() == total
            # dropped unfinished: the stream ends when the iterator is collected
            rows = aiter(suite_db.find(Reading).order_by(Reading.n))
            assert (await anext(rows)).n == 0
            del rows
            assert await suite_db.find(Reading).count().or_raise() == total
    except TimeoutError:
        pytest.fail(f"streams left early were still open after {LEFT_WITHIN:.0f} s (a lock or connection not released)")


@pytest.mark.requires("transactions")
async def test_streams_left_early_in_a_transaction_let_it_go_on_and_end(suite_db: Ommi) -> None:
    local, Reading = _left_streams()
    try:
        async with asyncio.timeout(LEFT_WITHIN), fresh_tables(suite_db, local):
            await suite_db.add(*(Reading(i) for i in range(LEFT_ROWS))).or_raise()
            for round_ in range(3):
                async with suite_db.transaction() as tx:
                    async for reading in tx.find(Reading).order_by(Reading.n):
                        assert reading.n == 0
                        break
                    await tx.add(Reading(LEFT_ROWS + round_)).or_raise()
                    async for (n,) in tx.find(Reading).order_by(Reading.n.desc).values(Reading.n):
                        assert n == LEFT_ROWS + round_
                        break
                    assert await tx.find(Reading).count().or_raise() == LEFT_ROWS + round_ + 1
                assert await suite_db.find(Reading).count().or_raise() == LEFT_ROWS + round_ + 1
    except TimeoutError:
        pytest.fail(f"streams left early were still open after {LEFT_WITHIN:.0f} s (a lock or connection not released)")


# -- batches(): the stream handed over a list at a time ---------------------------------


async def test_batches_hand_over_the_stream_in_lists_of_the_given_size(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i:04d}", i) for i in range(2500))).or_raise()
    query = suite_db.find(Person).order_by(Person.age)
    # the default size, several of every driver's own fetches
    sizes = [len(batch) async for batch in query.batches()]
    assert sizes == [1000, 1000, 500]
    names = [p.name async for batch in query.batches(700) for p in batch]
    assert names == [f"n{i:04d}" for i in range(2500)]
    assert [len(b) async for b in query.batches(700)] == [700, 700, 700, 400]
    assert [len(b) async for b in query.batches(2500)] == [2500]
    assert [len(b) async for b in query.batches(10**6)] == [2500]
    # what the query says applies: filter, order, offset and limit
    paged = suite_db.find(Person.age >= 100).order_by(Person.age.desc).offset(3).limit(7)
    batches = [[p.age for p in batch] async for batch in paged.batches(3)]
    assert batches == [[2496, 2495, 2494], [2493, 2492, 2491], [2490]]
    assert all(isinstance(p, Person) for batch in [b async for b in query.batches(999)] for p in batch)


async def test_batches_of_nothing_are_no_batches(suite_db: Ommi) -> None:
    assert [b async for b in suite_db.find(Person).batches(10)] == []
    await suite_db.add(Person("only", 1)).or_raise()
    assert [b async for b in suite_db.find(Person.age > 1).batches(10)] == []
    assert [b async for b in suite_db.find(Person).limit(0).batches(10)] == []
    assert [[p.name for p in b] async for b in suite_db.find(Person).batches(1)] == [["only"]]


async def test_values_come_in_batches_too(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"v{i}", i % 4) for i in range(10))).or_raise()
    rows = suite_db.find(Person).order_by(Person.age, Person.name).values(Person.age, Person.name)
    batches = [b async for b in rows.batches(4)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert [row for b in batches for row in b] == await rows.all().or_raise()
    ages = suite_db.find(Person).order_by(Person.age).values(Person.age).distinct()
    assert [b async for b in ages.batches(3)] == [[(0,), (1,), (2,)], [(3,)]]


async def test_batches_refuse_a_size_out_of_range_before_reading(suite_db: Ommi) -> None:
    for size in (0, -1, True, 2.5, "10", None):
        with pytest.raises(errors.QueryError, match=r"batches\(\) takes a positive int"):
            suite_db.find(Person).batches(size)  # type: ignore[arg-type]
        with pytest.raises(errors.QueryError, match=r"batches\(\) takes a positive int"):
            suite_db.find(Person).values(Person.name).batches(size)  # type: ignore[arg-type]
    for size in (2**31, 2**64):
        with pytest.raises(errors.QueryError, match=r"batches\(\) takes at most 2\*\*31 - 1"):
            suite_db.find(Person).batches(size)
    with pytest.raises(errors.QueryError, match="group_by"):
        suite_db.find(Person).group_by(Person.age).batches(10)
    # the largest size is one every driver can fetch
    await suite_db.add(Person("one", 1), Person("two", 2)).or_raise()
    assert [len(b) async for b in suite_db.find(Person).batches(2**31 - 1)] == [2]
    assert [len(b) async for b in suite_db.find(Person).values(Person.name).batches(2**31 - 1)] == [2]


async def test_batches_left_early_end_their_stream(suite_db: Ommi) -> None:
    local, Reading = _left_streams()
    try:
        async with asyncio.timeout(LEFT_WITHIN), fresh_tables(suite_db, local):
            await suite_db.add(*(Reading(i) for i in range(LEFT_ROWS))).or_raise()
            for _ in range(3):
                async for batch in suite_db.find(Reading).order_by(Reading.n).batches(100):
                    assert [r.n for r in batch] == list(range(100))
                    break
                assert await suite_db.find(Reading).count().or_raise() == LEFT_ROWS
            batches = suite_db.find(Reading).order_by(Reading.n).batches(1000)
            assert len(await anext(batches)) == 1000
            await batches.aclose()  # ends the stream before it returns
            await suite_db.add(Reading(LEFT_ROWS)).or_raise()
            assert await suite_db.find(Reading).count().or_raise() == LEFT_ROWS + 1
    except TimeoutError:
        pytest.fail(f"batches left early were still open after {LEFT_WITHIN:.0f} s (a lock or connection not released)")


@pytest.mark.requires("transactions")
async def test_batches_in_a_transaction_see_its_writes_and_let_it_go_on(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"t{i:02d}", i) for i in range(30))).or_raise()
    async with suite_db.transaction() as tx:
        await tx.add(Person("inside", 99)).or_raise()
        ages = [p.age async for batch in tx.find(Person).order_by(Person.age).batches(8) for p in batch]
        assert ages == [*range(30), 99]
        async for batch in tx.find(Person).order_by(Person.age).batches(5):
            assert len(batch) == 5
            break
        await tx.find(Person.age < 10).delete().or_raise()
        assert [len(b) async for b in tx.find(Person).batches(20)] == [20, 1]
    assert await suite_db.find(Person).count().or_raise() == 21
