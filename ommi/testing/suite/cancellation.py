"""Conformance tests: cancelled actions.

A task cancelled while its action runs (``asyncio.wait_for`` timing out, a web
client going away) must leave nothing half-done and nothing out of step: an
action is atomic whether or not it was cancelled, a cancelled transaction is
rolled back, and every connection handed out afterwards answers its own
statements. The cancellation points are swept over a range of delays, so
the task is cancelled before, while and after the database works.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ommi import DBFailure, Ommi, Transaction
from ommi.errors import ConnectionFailed, IntegrityError
from ommi.testing.models import Person

ROWS = 1500
DELAYS = (0.0, 0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032)


async def _cancel_after(delay: float, action: Awaitable[Any]) -> bool:
    """Run ``action``, cancelling it after ``delay`` seconds; whether it finished first."""
    task = asyncio.ensure_future(action)
    await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return False
    return True


async def _answers_are_its_own(db: Ommi, total: int) -> None:
    # several at once: each takes a connection, the one the cancelled action left included
    counts = await asyncio.gather(*(db.find(Person.age == age).count().or_raise() for age in range(8)))
    expected = [len([i for i in range(total) if i % 90 == age]) for age in range(8)]
    assert counts == expected
    assert await db.find(Person).count().or_raise() == total
    names = await db.find(Person.age == 3).order_by(Person.name).values(Person.name).all().or_raise()
    assert [n for (n,) in names] == sorted(f"p{i:05d}" for i in range(total) if i % 90 == 3)


async def test_a_cancelled_read_leaves_every_connection_in_order(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()
    for delay in DELAYS:
        await _cancel_after(delay, suite_db.find(Person).all().or_raise())
        await _cancel_after(delay, suite_db.find(Person.age > 10).order_by(Person.name).values(Person.name).all())
        await _answers_are_its_own(suite_db, ROWS)


async def test_a_cancelled_stream_leaves_every_connection_in_order(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()

    async def read_some() -> None:
        async for _ in suite_db.find(Person).order_by(Person.name):
            await asyncio.sleep(0)

    for delay in DELAYS:
        await _cancel_after(delay, read_some())
        await _answers_are_its_own(suite_db, ROWS)


async def test_a_cancelled_add_stores_all_or_nothing(suite_db: Ommi) -> None:
    for n, delay in enumerate(DELAYS):
        batch = [Person(f"b{n}-{i:04d}", 99) for i in range(300)]
        done = await _cancel_after(delay, suite_db.add(*batch).or_raise())
        stored = await suite_db.find(Person.name.startswith(f"b{n}-")).count().or_raise()
        assert stored in (0, 300), stored  # never part of one add()
        if done:
            assert stored == 300
    # A server that cannot stop a statement it is running (MariaDB) finishes it
    # after the cancel: such an add may appear later, but whole. One snapshot of
    # every row, so that a late add is counted consistently.
    names = await suite_db.find(Person).values(Person.name).all().or_raise()
    per_batch = [sum(1 for (name,) in names if name.startswith(f"b{n}-")) for n in range(len(DELAYS))]
    assert all(count in (0, 300) for count in per_batch), per_batch
    assert len(names) == sum(per_batch)


@pytest.mark.requires("transactions")
async def test_a_cancelled_transaction_is_rolled_back(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()

    async def work(n: int) -> None:
        async with suite_db.transaction() as tx:
            await tx.find(Person.age < 45).update(age=99).or_raise()
            await tx.add(Person(f"t{n}", 99)).or_raise()
            await asyncio.sleep(1)  # cancelled here at the latest: the block must roll back

    for n, delay in enumerate(DELAYS):
        assert not await _cancel_after(delay, work(n))
        await _answers_are_its_own(suite_db, ROWS)


@pytest.mark.requires("transactions")
async def test_a_cancelled_large_add_in_a_transaction_is_rolled_back(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()

    async def work(n: int) -> None:
        async with suite_db.transaction() as tx:
            await tx.add(Person(f"t{n}", 99)).or_raise()
            await tx.add(*(Person(f"b{n}-{i:04d}", 99) for i in range(300))).or_raise()
            await asyncio.sleep(1)  # cancelled here at the latest: the block must roll back

    for n, delay in enumerate(DELAYS):
        assert not await _cancel_after(delay, work(n))
        await _answers_are_its_own(suite_db, ROWS)


@pytest.mark.requires("transactions")
async def test_after_a_statement_cancelled_in_a_transaction_nothing_commits_on_its_own(suite_db: Ommi) -> None:
    # A statement cancelled while it runs may have been undone together with its whole
    # transaction (SQLite rolls back the transaction of a write it interrupts). The transaction
    # must count as aborted: a later statement in it must never run outside it and commit.
    for n, delay in enumerate(DELAYS):
        with pytest.raises(_RollBack):
            async with suite_db.transaction() as tx:
                await tx.add(Person(f"first{n}", 1)).or_raise()
                await _cancel_after(delay, tx.add(*(Person(f"big{n}-{i:05d}", 2) for i in range(3000))).or_raise())
                await tx.add(Person(f"last{n}", 3))  # stored in the transaction, or refused as aborted
                raise _RollBack
        assert await suite_db.find(Person.name.in_([f"first{n}", f"last{n}"])).count().or_raise() == 0
        assert await suite_db.find(Person.name.like(f"big{n}-%")).count().or_raise() == 0


async def _ends_on_one_cancel(turns: int, action: Callable[[], Awaitable[Any]], again_after: int | None = None) -> None:
    """Cancel a task running ``action`` after ``turns`` event-loop turns: it must end, cancelled.

    The task sleeps after the action, so a cancellation arriving after the action
    ends there. One that the action swallowed would leave the task running.
    ``again_after``: cancel it a second time, that many turns after the first.
    """

    async def body() -> None:
        await action()
        await asyncio.sleep(60)

    task = asyncio.ensure_future(body())
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    if again_after is not None:
        for _ in range(again_after):
            await asyncio.sleep(0)
        task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:  # swallowed: end it, then fail
        task.cancel()
        await asyncio.wait({task}, timeout=10)
        pytest.fail(f"a cancellation {turns} loop turns into the action did not reach the task")
    assert task.cancelled(), f"the task ended without its cancellation, {turns} loop turns into the action"


async def test_a_cancellation_always_reaches_the_task(suite_db: Ommi) -> None:
    # A cancelled action may end some other way (its connection dropped, a new one
    # opened), and a library may swallow a cancellation that lands as its own operation
    # completes (asyncio.wait_for on Python 3.11 does). Whenever it lands, the task
    # must see it: a task that goes on would do work its caller gave up on, and hang
    # whatever waits for it.
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()

    async def stream() -> None:
        async for _ in suite_db.find(Person):
            await asyncio.sleep(0)

    async def batches() -> None:
        async for _ in suite_db.find(Person).batches(500):
            await asyncio.sleep(0)

    async def read() -> None:
        await suite_db.find(Person.age == 7).all().or_raise()

    async def add() -> None:
        await suite_db.add(Person("late", 99)).or_raise()

    async def in_transaction() -> None:
        async with suite_db.transaction() as tx:
            await tx.add(Person("late", 99)).or_raise()

    actions = [stream, batches, read, add]
    if "transactions" in suite_db.capabilities:
        actions.append(in_transaction)
    for _ in range(3):
        for turns in range(16):
            for action in actions:
                await _ends_on_one_cancel(turns, action)
    await suite_db.find(Person.name == "late").delete().or_raise()
    await _answers_are_its_own(suite_db, ROWS)


async def test_a_task_that_goes_on_after_a_cancellation_still_gets_real_errors(suite_db: Ommi) -> None:
    # A task may catch a CancelledError and go on without uncancel() (cleanup work in
    # an ``except CancelledError:`` block, or a loop that shrugs off one cancel); the
    # cancellation still counts for the task, but the actions that follow are not
    # cancelled: a constraint they break is a DBFailure, not a cancellation.
    await suite_db.add(Person("first", 1, email="taken@example.com")).or_raise()

    async def failure(action: Callable[[], Awaitable[Any]]) -> str:
        try:
            await action()
        except asyncio.CancelledError:
            return "CancelledError"  # (caught, not uncancelled: the task stays as it was)
        except IntegrityError as exc:
            return type(exc).__name__
        return "no error"

    async def in_transaction() -> None:
        async with suite_db.transaction() as tx:
            await tx.add(Person("again", 3, email="taken@example.com")).or_raise()

    async def goes_on() -> list[str]:
        with contextlib.suppress(asyncio.CancelledError):  # and no uncancel()
            await asyncio.sleep(60)
        seen = [await failure(lambda: suite_db.add(Person("again", 2, email="taken@example.com")).or_raise())]
        if "transactions" in suite_db.capabilities:
            seen.append(await failure(in_transaction))
        await suite_db.add(Person("after", 4)).or_raise()
        seen.append(str(len([p async for p in suite_db.find(Person)])))
        return seen

    task = asyncio.ensure_future(goes_on())
    await asyncio.sleep(0)
    task.cancel()
    expected = ["IntegrityError"] * (2 if "transactions" in suite_db.capabilities else 1) + ["2"]
    assert await task == expected


@pytest.mark.requires("transactions")
async def test_a_timeout_at_any_point_of_a_transaction_leaves_nothing_open(suite_db: Ommi) -> None:
    # asyncio.timeout() around a transaction block, swept in 20 µs steps so that it
    # fires while the transaction begins, in its statements and during its COMMIT. A
    # connection whose COMMIT was cut short (on SQLite and DuckDB, one the worker thread
    # had not started yet never runs) may still have the transaction open: it must not
    # serve the next transaction (which could not begin, or would run inside it).
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()
    committed: list[int] = []

    async def work(n: int) -> None:
        async with suite_db.transaction() as tx:
            await tx.add(*(Person(f"t{n}-{i}", 96) for i in range(20))).or_raise()
            await tx.find(Person.age == 7).count().or_raise()
        committed.append(n)

    for n in range(200):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(n * 0.00002):
                await work(n)

        async def next_one(tx: Transaction, n: int = n) -> int:
            await tx.add(Person(f"next{n}", 97)).or_raise()
            return await tx.find(Person.age == 97).count().or_raise()

        # the next transaction begins, and sees its own rows (on MariaDB, the cancelled
        # one may still be rolling back on the server: a deadlock with it is retried)
        assert await suite_db.in_transaction(next_one, retries=8).or_raise() == n + 1
    # a COMMIT cut short may have gone through on the server: all of a transaction or nothing
    names = [name for (name,) in await suite_db.find(Person.age == 96).values(Person.name).all().or_raise()]
    per_tx = collections.Counter(name.split("-")[0] for name in names)
    assert set(per_tx.values()) <= {20}, per_tx
    assert {f"t{n}" for n in committed} <= set(per_tx)
    await suite_db.find(Person.age >= 96).delete().or_raise()
    await _answers_are_its_own(suite_db, ROWS)


async def test_cancelled_streams_give_their_connections_back(suite_db: Ommi) -> None:
    # A stream cancelled at any point hands its connection back. Afterwards ten streams
    # can be open at once: the default pool size of the server backends, so a single
    # connection kept by a cancelled stream would leave the tenth waiting.
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()

    async def read_all() -> None:
        async for _ in suite_db.find(Person):
            pass

    for _ in range(2):
        for turns in range(48):
            await _ends_on_one_cancel(turns, read_all)

    async def hold(opened: asyncio.Event, n: int, ready: list[int]) -> None:
        async for _ in suite_db.find(Person):
            ready.append(n)
            await opened.wait()  # every stream open at once, each on its own connection
            break

    opened, ready = asyncio.Event(), list[int]()
    holders = [asyncio.ensure_future(hold(opened, n, ready)) for n in range(10)]
    try:
        async with asyncio.timeout(30):
            while len(ready) < 10:
                await asyncio.sleep(0.01)
    finally:
        opened.set()
        await asyncio.gather(*holders, return_exceptions=True)
    assert sorted(ready) == list(range(10))
    await _answers_are_its_own(suite_db, ROWS)


async def test_a_task_cancelled_twice_ends_cancelled_and_leaves_nothing_behind(suite_db: Ommi) -> None:
    # task.cancel() twice (a timeout and a TaskGroup, say), the second while the first
    # is being handled: the task ends cancelled, and nothing it started goes on
    # running unwatched (a statement whose failure nobody retrieves).
    await suite_db.add(*(Person(f"p{i:05d}", i % 90) for i in range(ROWS))).or_raise()
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))

    async def stream() -> None:
        async for _ in suite_db.find(Person):
            await asyncio.sleep(0)

    async def batches() -> None:
        async for _ in suite_db.find(Person).batches(500):
            await asyncio.sleep(0)

    async def in_transaction() -> None:
        async with suite_db.transaction() as tx:
            await tx.add(Person("late", 99)).or_raise()
            await tx.find(Person.age == 7).count().or_raise()

    async def read() -> None:
        await suite_db.find(Person.age == 7).all().or_raise()

    actions = [stream, batches, read] + ([in_transaction] if "transactions" in suite_db.capabilities else [])
    try:
        for action in actions:
            for turns in range(16):
                for gap in (0, 1, 3):
                    await _ends_on_one_cancel(turns, action, again_after=gap)
        await asyncio.sleep(0.1)
        gc.collect()  # a task finished with an exception nobody retrieved is reported here
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert not unhandled, [str(c.get("message")) + ": " + repr(c.get("exception")) for c in unhandled]
    await suite_db.find(Person.name == "late").delete().or_raise()
    await _answers_are_its_own(suite_db, ROWS)


async def test_a_cancelled_close_still_closes(ommi_url: str) -> None:
    # close() cancelled at any point: the connections are closed all the same (a
    # driver stopped half-way has forgotten its pool already, and a second close()
    # would find nothing to close), work still running ends with ConnectionFailed
    # instead of waiting for ever, and nothing is left for the garbage collector.
    for turns in range(16):
        for busy in (False, True):
            db = Ommi.connect(ommi_url)
            await db
            await asyncio.gather(*(db.find(Person).count() for _ in range(4)))  # a few connections open

            async def reads(session: Ommi = db) -> BaseException:
                while True:  # (a memory:// store of its own has no tables: SchemaError until closed)
                    outcome = await session.find(Person).count()
                    if isinstance(outcome, DBFailure) and isinstance(outcome.error, ConnectionFailed):
                        return outcome.error
                    await asyncio.sleep(0)

            reader = asyncio.ensure_future(reads()) if busy else None
            await asyncio.sleep(0)
            closing = asyncio.ensure_future(db.close())
            for _ in range(turns):
                await asyncio.sleep(0)
            closing.cancel()
            done, _ = await asyncio.wait({closing}, timeout=30)
            assert done, f"close() cancelled after {turns} turns did not end"
            await asyncio.wait_for(db.close(), 30)
            if reader is not None:
                await asyncio.wait_for(reader, 10)  # ends with ConnectionFailed
            outcome = await db.find(Person).count()
            assert isinstance(outcome, DBFailure) and isinstance(outcome.error, ConnectionFailed), outcome
            del db, reader, closing
            gc.collect()


class _RollBack(Exception):
    """Raised to leave a transaction block, which rolls it back."""
