"""What a SQL driver supplies about its database library: a connection adapter.

The driver base writes each operation once, as a generator that *yields
commands* (``("execute", text, (sql, params))``) and receives their results
(the "sans-I/O" style). That one piece of code then runs unchanged

* inside a worker thread, for blocking libraries (sqlite3, duckdb): the
  whole operation, every statement of it, is one trip into the thread;
* on the event loop, for asyncio libraries (asyncpg, asyncmy): each command
  is awaited.

An adapter wraps one native connection and implements the commands as
methods: :class:`Connection` (blocking) or :class:`AsyncConnection`. A
driver's fast paths (PostgreSQL's ``COPY``, DuckDB's key reservation) are
further adapter methods that its operations yield by name.

An operation may also *start* a command (``("start", text, (method, args))``)
and go on computing while the database works, then *finish* it
(``("finish", "", (handle,))``) to receive its result. A connection runs one
statement at a time: the started command is finished (or, if the operation
yields anything else first, waited for) before any other command is sent, and
it is never left running when the operation fails or is cancelled. A blocking
connection simply runs it at the start.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import concurrent.futures
from collections.abc import Generator, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ommi.driver import log_statement

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = [
    "AsyncConnection",
    "Command",
    "Connection",
    "Op",
    "Trace",
    "drive",
    "drive_async",
]

T = TypeVar("T")

Command = tuple[str, str, tuple[Any, ...]]
"""``(adapter method, statement text to log or "", arguments)``."""
Op = Generator[Command, Any, T]
"""An operation: yields commands, receives their results, returns its value."""

Row = Sequence[Any]


class Connection(abc.ABC):
    """One connection of a blocking database library (used from one worker thread)."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; return the number of rows it changed (``-1`` if unknown)."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None:
        """Run one statement per parameter row; the total rows changed, or ``None`` if unknown."""

    @abc.abstractmethod
    def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """Run a query; return every row."""

    def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        """Run a query; return its first row, or ``None``."""
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        """Run an ``INSERT`` of one row; return the key the database generated for it."""

    def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Row]]:
        """Run any statement; return its column names and rows (none for a statement without rows).

        Used by ``db.raw()``; a driver declaring the ``raw`` capability implements it.
        """
        from ommi import errors

        raise errors.UnsupportedError(f"{type(self).__name__} cannot run native statements")

    @abc.abstractmethod
    def cursor(self, sql: str, params: Sequence[Any]) -> Any:
        """Run a query and return an open cursor for :meth:`fetchmany`."""

    @abc.abstractmethod
    def fetchmany(self, cursor: Any, n: int) -> list[Row]:
        """Up to ``n`` more rows of a cursor (fewer means it is exhausted)."""

    def close_cursor(self, cursor: Any) -> None:
        """Release a cursor that may not be exhausted."""
        cursor.close()

    def begin(self, sql: str) -> None:
        """Start a transaction."""
        self.execute(sql, ())

    def commit(self, sql: str) -> None:
        """Commit; raise if the database rolled back instead."""
        self.execute(sql, ())

    def rollback(self, sql: str) -> None:
        """Roll back (a database that already ended the transaction must not fail here)."""
        self.execute(sql, ())

    def savepoint(self, sql: str) -> None:
        self.execute(sql, ())

    def release(self, sql: str) -> None:
        self.execute(sql, ())

    def rollback_to(self, sql: str) -> None:
        """Undo the work since a savepoint (the transaction is usable again afterwards)."""
        self.execute(sql, ())

    @abc.abstractmethod
    def close(self) -> None:
        """Close the native connection."""

    def interrupt(self) -> None:  # noqa: B027 - optional: most libraries cannot interrupt
        """Stop the statement running now (called from another thread); optional."""


class AsyncConnection(abc.ABC):
    """One connection of an asyncio database library: :class:`Connection` with ``async`` methods."""

    closing_a_cursor_reads_the_rest: ClassVar[bool] = False
    """Whether :meth:`close_cursor` of a result not read to its end reads (and drops) the rest
    of it, as MySQL's protocol must. A stream left early on a connection of its own then
    closes the connection instead: opening another costs less than reading an unknown rest."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any]) -> int: ...

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None: ...

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abc.abstractmethod
    async def insert_id(self, sql: str, params: Sequence[Any]) -> int: ...

    @abc.abstractmethod
    async def cursor(self, sql: str, params: Sequence[Any]) -> Any: ...

    @abc.abstractmethod
    async def fetchmany(self, cursor: Any, n: int) -> list[Row]: ...

    async def close_cursor(self, cursor: Any) -> None:  # noqa: B027 - most cursors need no closing
        """Release a cursor that may not be exhausted."""

    async def begin(self, sql: str) -> None:
        await self.execute(sql, ())

    async def commit(self, sql: str) -> None:
        await self.execute(sql, ())

    async def rollback(self, sql: str) -> None:
        await self.execute(sql, ())

    async def savepoint(self, sql: str) -> None:
        await self.execute(sql, ())

    async def release(self, sql: str) -> None:
        await self.execute(sql, ())

    async def rollback_to(self, sql: str) -> None:
        await self.execute(sql, ())

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Row]]:
        """Run any statement; return its column names and rows (see :meth:`Connection.fetch_named`)."""
        from ommi import errors

        raise errors.UnsupportedError(f"{type(self).__name__} cannot run native statements")

    @abc.abstractmethod
    async def close(self) -> None: ...


@dataclass(eq=False)
class Stream:
    """A cursor being read in batches, perhaps drained early into ``buffer``."""

    cursor: Any
    buffer: collections.deque[Row] | None = None
    done: bool = False


@dataclass(eq=False)
class Held:
    """An adapter plus the streams open on it (see ``SQLDialect.cursors_see_later_writes``)."""

    conn: Any
    drain: bool
    streams: list[Stream] = field(default_factory=list)


class Trace:
    """What happened while an operation ran: whether it left a failed statement behind.

    ``failed`` is set when a command raises and cleared when a later
    ``rollback_to`` (a savepoint undone) succeeds: a transaction on a
    database that aborts on failure is then still usable.
    """

    # a class attribute until set: ``Trace()`` runs no ``__init__`` (one is made per statement)
    failed: bool = False


# commands that send no statement of their own: they never make open cursors drain
_NO_DRAIN = frozenset({"fetchmany", "close_cursor", "finish"})
_DRAIN_BATCH = 10_000


def _drain(held: Held) -> None:
    # A statement is about to run on a connection with open cursors that would
    # see its changes: read their remaining rows now, as of before it.
    for st in held.streams:
        buffer: collections.deque[Row] = collections.deque()
        while True:
            rows = held.conn.fetchmany(st.cursor, _DRAIN_BATCH)
            buffer.extend(rows)
            if len(rows) < _DRAIN_BATCH:
                break
        st.buffer = buffer
        held.conn.close_cursor(st.cursor)
    held.streams.clear()


async def _drain_async(held: Held) -> None:
    for st in held.streams:
        buffer: collections.deque[Row] = collections.deque()
        while True:
            rows = await held.conn.fetchmany(st.cursor, _DRAIN_BATCH)
            buffer.extend(rows)
            if len(rows) < _DRAIN_BATCH:
                break
        st.buffer = buffer
        await held.conn.close_cursor(st.cursor)
    held.streams.clear()


def _ran(conn: Any, name: str, args: tuple[Any, ...], trace: Trace) -> concurrent.futures.Future[Any]:
    # a blocking connection runs a started command at once: its outcome waits for "finish"
    outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()
    try:
        outcome.set_result(getattr(conn, name)(*args))
    except Exception as exc:  # noqa: BLE001 - raised by "finish"
        outcome.set_exception(exc)
        trace.failed = True
    return outcome


def drive(held: Held, op: Op[T], backend: str, trace: Trace, first: Command | None = None) -> T:
    """Run an operation on a blocking connection (inside its worker thread).

    ``first``: the command the operation yielded when started elsewhere (see
    ``BlockingSQLDriver``: its work before that command runs on the caller's thread).
    """
    conn = held.conn
    result: Any = None
    error: BaseException | None = None
    cmd = first
    while True:
        if cmd is None:
            try:
                cmd = op.send(result) if error is None else op.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        name, text, args = cmd
        cmd = None
        if text:
            log_statement(backend, text)
        if held.streams and held.drain and name not in _NO_DRAIN:
            _drain(held)
        try:
            if name == "start":
                result = _ran(conn, args[0], args[1], trace)
            elif name == "finish":
                result = args[0].result()
            else:
                result = getattr(conn, name)(*args)
            error = None
            if name == "rollback_to":
                trace.failed = False
        except BaseException as exc:  # noqa: BLE001 - thrown into the operation, which decides
            result, error = None, exc
            trace.failed = True


def fetch_rows(held: Held, sql: str, params: Sequence[Any], backend: str) -> list[Any]:
    """What :func:`drive` does for an operation of one ``fetchall``, without the operation: a
    single read outside a transaction, sent to the worker as it is (logged, and run after
    any open stream on the connection has read ahead, as every command is)."""
    log_statement(backend, sql)
    if held.streams and held.drain:
        _drain(held)
    return held.conn.fetchall(sql, params)  # type: ignore[no-any-return]


async def _settle(started: asyncio.Future[Any], trace: Trace, stop: bool) -> None:
    """Wait until a started command has ended (``stop``: cancel it first); its outcome is dropped."""
    if not started.done():
        if stop:
            started.cancel()
        try:
            await asyncio.wait((started,))
        except BaseException:  # cancelled while waiting: the command is not left running
            started.cancel()
            raise
    if started.cancelled() or started.exception() is not None:  # (retrieved: no warning about it)
        trace.failed = True


async def drive_async(held: Held, op: Op[T], backend: str, trace: Trace) -> T:
    """Run an operation on an asyncio connection."""
    conn = held.conn
    result: Any = None
    error: BaseException | None = None
    started: asyncio.Future[Any] | None = None  # a command started and not finished yet
    try:
        while True:
            try:
                cmd = op.send(result) if error is None else op.throw(error)
            except StopIteration as stop:
                if started is not None:
                    await _settle(started, trace, False)
                return stop.value  # type: ignore[no-any-return]
            name, text, args = cmd
            if text:
                log_statement(backend, text)
            if started is not None and name != "finish":
                # one statement at a time per connection: nothing else is sent while it runs
                await _settle(started, trace, False)
                started = None
            if held.streams and held.drain and name not in _NO_DRAIN:
                await _drain_async(held)
            try:
                if name == "start":
                    started = asyncio.ensure_future(getattr(conn, args[0])(*args[1]))
                    result = started
                    await asyncio.sleep(0)  # the request goes out before the operation goes on
                elif name == "finish":
                    result = await args[0]
                    started = None
                else:
                    result = await getattr(conn, name)(*args)
                error = None
                if name == "rollback_to":
                    trace.failed = False
            except BaseException as exc:  # noqa: BLE001 - thrown into the operation, which decides
                result, error = None, exc
                trace.failed = True
    except BaseException as exc:
        if started is not None:  # the operation failed (or was cancelled) before finishing it
            await _settle(started, trace, not isinstance(exc, Exception))
        raise
