"""The driver-author kit, used the way a third-party driver package uses it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ommi import errors
from ommi.testing.suite._helpers import together

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ommi-memory"


def test_example_driver_passes_the_kit_from_its_own_package() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMMI_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ommi-url=memory://", "tests"],
        cwd=EXAMPLE, capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
    # the plugin reports what the driver declared
    assert "ommi driver capabilities" in done.stdout
    assert "yes transactions" in done.stdout


def test_unknown_url_scheme_in_the_kit_fails_with_the_installed_drivers_listed(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["ommi.testing.plugin"]\n')
    (tmp_path / "test_kit.py").write_text(
        "from ommi.testing.suite import test_add_of_nothing_is_an_empty_list  # noqa\n"
    )
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ommi-url=nosuch://x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "no ommi driver for URL scheme 'nosuch'" in done.stdout
    assert "memory" in done.stdout and "sqlite" in done.stdout


def test_a_started_command_on_a_blocking_connection_runs_at_once_and_reports_at_finish() -> None:
    # commands.start/finish, as an operation of a driver's own uses them; a blocking
    # connection (SQLite here) has nothing to overlap: it runs the command when started
    import sqlite3

    from ommi_sqlite._driver import SQLiteConnection

    from ommi.sql import Op
    from ommi.sql._connection import Held, Trace, drive
    from ommi.sql.commands import execute, fetchall, finish, start

    conn = SQLiteConnection(sqlite3.connect(":memory:", isolation_level=None))

    def op() -> Op[tuple[list[object], list[object]]]:
        yield execute("CREATE TABLE t (v INTEGER)")
        handle = yield start(execute("INSERT INTO t VALUES (?)", (1,)))
        seen = yield fetchall("SELECT count(*) FROM t")  # it already ran
        yield finish(handle)
        failing = yield start(fetchall("SELECT nosuch FROM t"))
        try:
            yield finish(failing)
        except sqlite3.OperationalError as exc:
            return seen, [str(exc)]
        return seen, []

    trace = Trace()
    seen, failed = drive(Held(conn, False), op(), "sqlite", trace)
    assert seen == [(1,)] and failed == ["no such column: nosuch"]
    assert trace.failed


def test_rows_loader_skips_column_decoders_for_a_batch_that_needs_none() -> None:
    from dataclasses import dataclass

    from ommi import ModelCollection, ommi_model
    from ommi.driver import ColumnDecoder, model_info

    @ommi_model(collection=ModelCollection("kit-column-decoder"))
    @dataclass
    class Note:
        text: str | None
        n: int

    calls: list[str] = []

    def one(v: str) -> str:
        calls.append(v)
        return v.replace("~", "")

    decoders = [ColumnDecoder(one, lambda values: any(v is not None and "~" in v for v in values)), None]
    info = model_info(Note)
    load_rows = info.rows_loader(decoders, info.loader(decoders))
    plain = [(f"t{k}", k) for k in range(10)] + [(None, 10)]
    assert [(x.text, x.n) for x in load_rows(plain)] == plain
    assert calls == []  # no value of the batch needed decoding: the decoder was never called
    coded = [*plain[:5], ("a~b", 5), *plain[6:]]
    assert [x.text for x in load_rows(coded)] == [*(t for t, _ in plain[:5]), "ab", *(t for t, _ in plain[6:])]
    assert "a~b" in calls and len(calls) == 10  # the whole batch decoded, None values skipped
    calls.clear()
    assert [x.text for x in load_rows(coded[3:7])] == ["t3", "t4", "ab", "t6"]  # few rows: decoded one by one
    assert calls == ["t3", "t4", "a~b", "t6"]
    assert [x.text for x in load_rows(iter(coded))][5] == "ab"  # not a list: decoded one by one
    assert info.loader(decoders)(("x~y", 1)).text == "xy"

    def picky(values: object) -> bool:
        raise TypeError("not a column of text")

    calls.clear()
    failing = info.rows_loader([ColumnDecoder(one, picky), None], info.loader(decoders))
    assert [x.text for x in failing(coded)][5] == "ab"  # a test that fails leaves the batch to the decoder
    assert len(calls) == 10


@contextlib.contextmanager
def _collections(threshold: int = 100) -> Iterator[list[int]]:
    """The cyclic garbage collector's collections while the block runs (their generations),
    with a collection due every ``threshold`` new container objects."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(threshold)
    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*before)


def test_columns_of_gives_the_columns_without_an_object_per_row_for_the_collector() -> None:
    from ommi.driver import columns_of

    rows = [(f"n{k}", k, k * 0.5) for k in range(10_000)]
    assert columns_of(rows) == list(zip(*rows, strict=True))
    assert columns_of(rows[:3], 2) == [("n0", "n1", "n2"), (0, 1, 2)]
    assert columns_of([]) == []
    with pytest.raises(IndexError):
        columns_of([(1, 2), (3,)])
    # zip(*rows) holds an iterator per row at once, each counted by the cyclic garbage
    # collector: a bulk add of 100,000 rows ran some 130 collections more, and a full one.
    # Measured as the memory each call holds at its peak (the collector's own count cannot
    # see objects made inside one C call from Python 3.12 on, where it runs between bytecodes)
    by_zip = _peak_bytes(lambda: list(zip(*rows, strict=True)))
    by_columns = _peak_bytes(lambda: columns_of(rows))
    assert by_zip - by_columns >= 40 * len(rows)  # the measure sees the iterators...
    assert by_columns <= (3 * 8 + 8) * len(rows)  # ...and columns_of holds its three columns, no object per row


def _peak_bytes(call: Callable[[], object]) -> int:
    """The most memory ``call`` held at once, over what was allocated before it (``tracemalloc``)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_a_bulk_dump_makes_no_object_per_row_beyond_the_row_itself() -> None:
    # the bulk dumper reads the rows' columns to check them a column at a time; reading them
    # with zip(*rows) doubled the collections a bulk add of 100,000 rows ran (48 of its 263 ms)
    from dataclasses import dataclass

    from ommi import ModelCollection, ommi_model
    from ommi.driver import model_info

    @ommi_model(collection=ModelCollection("kit-bulk-dump"))
    @dataclass
    class Row:
        name: str
        n: int

    dump = model_info(Row).bulk_dumper([None, None])
    items = [Row(f"r{k}", k) for k in range(10_000)]
    with _collections() as seen:
        rows = dump(items)
    assert rows == [(f"r{k}", k) for k in range(10_000)]
    # the rows themselves are 10,000 new objects: 100 collections at this threshold
    assert len(seen) <= 110, f"{len(seen)} collections for 10,000 rows"


async def test_together_stops_the_other_work_before_a_failure_is_raised() -> None:
    finished: list[str] = []
    cancelled: list[str] = []

    async def slow(name: str) -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        finished.append(name)
        return name

    async def failing() -> str:
        await asyncio.sleep(0)
        raise ValueError("one of them failed")

    assert await together(asyncio.sleep(0, "a"), asyncio.sleep(0, "b")) == ["a", "b"]
    with pytest.raises(ValueError, match="one of them failed"):
        await together(slow("x"), failing(), slow("y"))
    # by the time the error is raised, the others are over: nothing runs on into the next test
    assert sorted(cancelled) == ["x", "y"] and finished == []


def test_a_write_that_conflicts_on_its_own_runs_again_for_a_while_not_a_fixed_count() -> None:
    import time

    from ommi.driver import retry_again

    now = time.monotonic()
    assert retry_again(1, now) and retry_again(8, now) and retry_again(100, now)  # within the patience
    assert retry_again(7, now - 60)  # at least eight tries, however long they took
    assert not retry_again(8, now - 31)  # and not after the patience has run out


async def test_retry_conflicts_runs_a_conflicting_write_again_and_raises_anything_else_at_once() -> None:
    from ommi.driver import retry_conflicts

    tries: list[int] = []

    async def write() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise errors.TransactionError("lost a conflict", retryable=True)
        return "done"

    def conflict(exc: Exception) -> bool:
        return isinstance(exc, errors.TransactionError) and exc.retryable

    assert await retry_conflicts(write, conflict) == "done" and len(tries) == 3

    async def broken() -> str:
        tries.append(1)
        raise errors.ConnectionFailed("the server went away")

    tries.clear()
    with pytest.raises(errors.ConnectionFailed):
        await retry_conflicts(broken, conflict)
    assert len(tries) == 1


async def _work(steps: list[str], *, fail: bool = False, pause: float = 0.05) -> int:
    steps.append("start")
    await asyncio.sleep(pause)
    steps.append("end")
    if fail:
        raise ValueError("the action failed")
    return 42


async def test_to_the_end_gives_the_result_or_the_failure_of_an_action_nobody_cancels() -> None:
    from ommi.driver import to_the_end

    steps: list[str] = []
    assert await to_the_end(_work(steps)) == 42
    assert steps == ["start", "end"]
    with pytest.raises(ValueError, match="the action failed"):
        await to_the_end(_work([], fail=True))


async def test_to_the_end_finishes_the_action_however_often_the_task_is_cancelled_then_raises_once() -> None:
    from ommi.driver import to_the_end

    steps: list[str] = []
    task = asyncio.create_task(to_the_end(_work(steps, pause=0.1)))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.01)
    task.cancel()
    assert not task.done()  # still waiting for the action
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["start", "end"]
    assert task.cancelled()


async def test_to_the_end_under_a_timeout_waits_for_the_action_and_raises_timeout_error() -> None:
    from ommi.driver import to_the_end

    steps: list[str] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await to_the_end(_work(steps, pause=0.05))
    assert steps == ["start", "end"]


async def test_to_the_end_drops_a_failure_that_ends_a_cancelled_action_without_a_never_retrieved_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ommi.driver import to_the_end

    steps: list[str] = []
    task = asyncio.create_task(to_the_end(_work(steps, fail=True)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["start", "end"]
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
