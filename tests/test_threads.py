"""The thread bridge (ommi.driver.ThreadWorker) on its own: no call ever hangs.

Regression tests for issue #14 items 14-16: a worker function raising
StopIteration, an event loop closing while a call is in flight, calls to a
stopped worker, and what cancellation means (a queued call never runs, a
running statement is interrupted).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from ommi import errors
from ommi.driver import ThreadWorker


def _worker(conn: Any = None, interrupt: Any = None) -> ThreadWorker[Any]:
    return ThreadWorker(
        lambda: conn if conn is not None else object(),
        close=lambda c: None,
        translate=lambda exc: None,
        name="ommi-test",
        closed_message="the test worker has been closed",
        interrupt=interrupt,
    )


@pytest.fixture
def worker() -> Iterator[ThreadWorker[Any]]:
    w = _worker()
    yield w
    w.stop_now(2)


async def test_calls_run_in_order_on_one_thread(worker: ThreadWorker[Any]) -> None:
    seen: list[tuple[int, int]] = []

    def record(conn: Any, n: int, *, scale: int = 1) -> int:
        seen.append((n, threading.get_ident()))
        return n * scale

    results = await asyncio.gather(*(worker.call(record, n, scale=10) for n in range(20)))
    assert results == [n * 10 for n in range(20)]
    assert [n for n, _ in seen] == list(range(20))
    assert len({ident for _, ident in seen}) == 1 and seen[0][1] != threading.get_ident()


class _Rows(list[int]):
    """A value a weak reference can watch (a plain list cannot)."""


async def test_a_value_is_freed_as_soon_as_the_awaiting_task_drops_it(worker: ThreadWorker[Any]) -> None:
    # Neither the worker (idle until its next call) nor the call object (alive while the
    # task runs on from inside its wake-up) may keep the value: the rows of a large read
    # would stay in memory, then be freed in the way of the next statement
    submitted = lambda: worker.submit(lambda conn: _Rows(range(1000)))  # noqa: E731 - the two ways to await
    called = lambda: worker.call(lambda conn: _Rows(range(1000)))  # noqa: E731
    for awaited in (submitted, called):
        rows = await awaited()
        assert rows == list(range(1000))
        watch = weakref.ref(rows)
        del rows
        assert watch() is None


async def test_a_call_hands_its_value_over_to_the_task_that_awaits_it(worker: ThreadWorker[Any]) -> None:
    call = worker.submit(lambda conn: 42)
    assert await call == 42
    with pytest.raises(asyncio.InvalidStateError, match="handed to the task"):
        call.result()  # type: ignore[attr-defined]


async def test_asyncio_takes_a_submitted_call_as_it_takes_a_future(worker: ThreadWorker[Any]) -> None:
    # gather, wait_for, shield and wait read the value with result() from their callbacks,
    # not by awaiting: the hand-over to an awaiting task must leave them their value
    assert list(await asyncio.gather(worker.submit(lambda conn: 1), worker.submit(lambda conn: 2))) == [1, 2]
    assert await asyncio.wait_for(worker.submit(lambda conn: 3), 5) == 3
    assert await asyncio.shield(worker.submit(lambda conn: 4)) == 4
    done, _ = await asyncio.wait([asyncio.ensure_future(worker.submit(lambda conn: 5))])
    assert [d.result() for d in done] == [5]
    async with asyncio.timeout(5):
        assert await worker.submit(lambda conn: 6) == 6


async def test_a_function_raising_stop_iteration_fails_the_call_instead_of_hanging(
    worker: ThreadWorker[Any],
) -> None:
    def exhausted(conn: Any) -> Any:
        return next(iter(()))

    with pytest.raises(RuntimeError, match="StopIteration") as info:
        await asyncio.wait_for(worker.call(exhausted), 5)
    assert isinstance(info.value.__cause__, StopIteration)
    assert await asyncio.wait_for(worker.call(lambda conn: "still serving"), 5) == "still serving"


def test_a_loop_closing_mid_call_leaves_the_worker_serving_the_next_loop(worker: ThreadWorker[Any]) -> None:
    def slow(conn: Any) -> str:
        time.sleep(0.3)
        return "late"

    async def abandon() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(worker.call(slow), 0.05)

    asyncio.run(abandon())  # the loop closes while `slow` still runs in the worker
    time.sleep(0.4)  # the worker finishes it and cannot deliver the result: it must survive that

    async def later() -> str:
        return await asyncio.wait_for(worker.call(lambda conn: "next loop"), 5)

    assert asyncio.run(later()) == "next loop"


def test_two_loops_running_at_once_each_get_their_answers(worker: ThreadWorker[Any]) -> None:
    # the first loop to call is answered through its own descriptor; a second loop
    # running at the same time (another thread) must be answered the other way
    other: dict[str, Any] = {}

    def answer(conn: Any, tag: str, i: int) -> tuple[str, int]:
        return tag, i

    async def calls(tag: str) -> list[tuple[str, int]]:
        return [await asyncio.wait_for(worker.call(answer, tag, i), 5) for i in range(200)]

    def second_loop() -> None:
        try:
            other["answers"] = asyncio.run(calls("second"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            other["error"] = exc

    async def first_loop() -> list[tuple[str, int]]:
        assert await worker.call(lambda conn: "bound") == "bound"  # this loop is the worker's first
        thread = threading.Thread(target=second_loop)
        thread.start()
        answers = await calls("first")
        await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)
        return answers

    assert asyncio.run(first_loop()) == [("first", i) for i in range(200)]
    assert other.get("answers") == [("second", i) for i in range(200)], other.get("error")


async def test_a_stopped_worker_fails_at_once() -> None:
    w = _worker()
    assert await w.call(lambda conn: 1) == 1
    await w.stop()
    started = time.perf_counter()
    with pytest.raises(errors.ConnectionFailed, match="has been closed"):
        await w.call(lambda conn: 2)
    assert time.perf_counter() - started < 1


async def test_a_cancelled_call_that_has_not_started_never_runs(worker: ThreadWorker[Any]) -> None:
    release = threading.Event()
    ran: list[str] = []

    def blocker(conn: Any) -> None:
        release.wait(5)

    def effect(conn: Any) -> None:
        ran.append("effect")

    first = asyncio.ensure_future(worker.call(blocker))
    queued = asyncio.ensure_future(worker.call(effect))
    await asyncio.sleep(0.05)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await first
    await worker.call(lambda conn: None)  # everything queued before this has been handled
    assert ran == []


async def test_cancelling_a_running_statement_interrupts_it() -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    w = _worker(conn, interrupt=lambda c: c.interrupt())
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    try:
        task = asyncio.ensure_future(w.call(lambda c: c.execute(endless).fetchone()))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the worker is free again soon: the statement was stopped, not run to its (never) end
        assert await asyncio.wait_for(w.call(lambda c: c.execute("SELECT 42").fetchone()[0]), 5) == 42
        assert time.perf_counter() - started < 5
    finally:
        await w.stop()
