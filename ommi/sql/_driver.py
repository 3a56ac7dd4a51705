"""``SQLDriver``: everything a SQL driver does, written once.

A concrete SQL driver supplies a :class:`~ommi.sql.SQLDialect` (tables and
hooks), a connection adapter (:mod:`ommi.sql._connection`), its native error
table and its options, plus optional fast paths. The base owns the rest:

* the statements (insert, select, stream, count, update, delete, save,
  aggregate), compiled by the shared compiler, logged through the core;
* transactions, savepoints, and the *aborted state*: on databases where a
  failed statement aborts the whole transaction (PostgreSQL, DuckDB), a
  statement that can fail runs guarded (a savepoint, or an ``ON CONFLICT DO
  NOTHING`` insert that reports a clash without failing), and an unguarded
  failure marks the transaction aborted: later statements and the commit
  raise ``TransactionError``, never a silent commit that lost writes;
* streams that yield each row once, as of the stream's start;
* the connections: worker threads for blocking libraries
  (:class:`BlockingSQLDriver`), a pool for asyncio ones (:class:`AsyncSQLDriver`);
* native error translation through the driver's :class:`~ommi.driver.NativeErrors`.

Operations are generators of commands (see :mod:`ommi.sql._connection`), so
the same code runs in one thread trip for a blocking library and awaited
command by command for an asyncio one.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import itertools
import operator
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, ClassVar, TypeVar, cast

from ommi import errors
from ommi._model import FieldInfo, ModelInfo, columns_of
from ommi._native import cancelled_since
from ommi._predicates import any_of, key_predicate
from ommi.driver import (
    URL,
    Driver,
    DriverTransaction,
    LiveTable,
    NativeErrors,
    Option,
    SchemaChange,
    Statements,
    ThreadWorker,
    cancel_watch,
    log_statement,
    model_info,
    retry_conflicts,
)
from ommi.query import (
    Aggregate,
    And,
    Compare,
    Delete,
    Field,
    Hop,
    Insert,
    Not,
    Predicate,
    Raw,
    Related,
    Save,
    Select,
    Update,
    Upsert,
    Values,
)
from ommi.query import Op as CompareOp
from ommi.sql import commands as cmd
from ommi.sql._compiler import ModelPlan, SQLCompiler, render_statement
from ommi.sql._connection import (
    AsyncConnection,
    Connection,
    Held,
    Op,
    Stream,
    Trace,
    drive,
    drive_async,
    fetch_rows,
)
from ommi.sql._dialect import ArrayEncoder, SQLDialect

__all__ = ["AsyncSQLDriver", "BlockingSQLDriver", "IntegrityDetails", "Link", "SQLDriver", "SQLTransaction"]

T = TypeVar("T")

IntegrityDetails = tuple["errors.IntegrityKind | None", tuple[str, ...], "str | None"]
"""What a native integrity error tells: its kind if it says, the columns, the constraint's name."""

_savepoint_ids = itertools.count(1)


def _savepoint_name() -> str:
    return f"ommi_sp{next(_savepoint_ids)}"


class Link(abc.ABC):
    """One connection the base runs operations on (a worker thread's, or a pooled one)."""

    @abc.abstractmethod
    def run(self, op: Op[T], trace: Trace) -> Awaitable[T]:
        """Run an operation on this connection (await the result)."""

    @abc.abstractmethod
    async def open_stream(self, sql: str, params: Sequence[Any]) -> Stream:
        """Start reading a query's rows in batches."""

    @abc.abstractmethod
    async def fetch(self, stream: Stream, n: int) -> list[Any]:
        """Up to ``n`` more rows of a stream; fewer means the end."""

    @abc.abstractmethod
    async def close_stream(self, stream: Stream) -> None:
        """Stop reading a stream early."""

    @abc.abstractmethod
    async def release(self, reusable: bool) -> None:
        """Hand the connection back (``reusable``: no transaction is left open on it)."""

    def abandon(self) -> None:  # noqa: B027 - most libraries close a cursor cheaply
        """Give the connection up, unusable, instead of reading the rest of a stream left early,
        where closing its cursor would read that rest (see ``closing_a_cursor_reads_the_rest``)."""

    @property
    @abc.abstractmethod
    def usable(self) -> bool:
        """Whether the connection can still run statements."""


# ---------------------------------------------------------------------------
# the base


class SQLDriver(Driver):
    """The base of every SQL driver: statements, transactions, streams and errors, once.

    Subclass :class:`BlockingSQLDriver` or :class:`AsyncSQLDriver`; set
    ``dialect_class``, ``native_errors``, ``options``, ``capabilities`` and
    ``schemes``; implement the connection methods those classes name, and
    :meth:`from_url`.
    """

    dialect_class: ClassVar[type[SQLDialect]] = SQLDialect
    native_errors: ClassVar[NativeErrors]
    """The driver's native exception table (see :class:`ommi.driver.NativeErrors`)."""
    options: ClassVar[Mapping[str, Option]] = {}
    """The options the driver's URL query and keyword arguments accept (see :meth:`ommi.driver.URL.options`)."""
    # Streaming 1,000,000 rows from SQLite: 920 ms in batches of 500, 832 ms in batches of
    # 2,000, 850 ms in batches of 3,000; 300,000 rows from PostgreSQL: 241 ms, 194 ms, 208 ms
    # (4,000). Fewer trips, while a batch's objects still fit in the CPU's cache.
    stream_batch: ClassVar[int] = 2000
    """Rows fetched per trip while streaming."""

    def __init__(self) -> None:
        self.dialect = self.dialect_class()
        self.compiler = SQLCompiler(self.dialect)
        self.errors = self.native_errors
        self._fk_referenced: dict[type, bool] = {}
        self._constraint_names: dict[type, dict[str, tuple[errors.IntegrityKind, tuple[str, ...], str]]] = {}

    @property
    def backend(self) -> str:
        """The backend's name in logs and messages."""
        return self.dialect.name

    # -- connections: provided by BlockingSQLDriver / AsyncSQLDriver -----------------

    @abc.abstractmethod
    async def _autocommit(
        self, make: Callable[[], Op[T]], context: str, model: type | None, *, read: bool = False
    ) -> T:
        """Run the operation ``make()`` builds, outside any transaction (reads may build it twice)."""

    def _read_rows(self, sql: str, params: Sequence[Any], context: str, model: type | None) -> Awaitable[list[Any]]:
        """The rows of one query outside any transaction: :meth:`_autocommit` of one ``fetchall``
        (a driver may run it without the operation protocol)."""
        return self._autocommit(lambda: _rows(sql, params), context, model, read=True)

    @abc.abstractmethod
    async def _link(self) -> Link:
        """A connection of its own, for a transaction or a stream."""

    async def _on(self, link: Link, op: Op[T], context: str, model: type | None, trace: Trace | None = None) -> T:
        """Run an operation on a link, translating native errors."""
        watch = cancel_watch()
        try:
            return await link.run(op, trace or Trace())
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise self._failure(exc, context, model, watch) from exc

    def _failure(
        self, exc: BaseException, context: str, model: type | None,
        watch: tuple[asyncio.Task[Any] | None, int] | None = None,
    ) -> BaseException:
        """What to raise for a native exception: ``CancelledError`` if the task was cancelled
        during the native call (some libraries turn the cancellation into an error of their
        own, which would swallow it), else the ommi error.

        ``watch`` is :func:`~ommi.driver.cancel_watch` taken before the call: only a
        cancellation since then counts. One the task caught earlier and did not
        ``uncancel()`` (cleanup after a cancel, or a task that goes on) is not this
        call's, and must not turn a genuine error (a duplicate key) into a cancellation.
        """
        if watch is not None and cancelled_since(*watch):
            return asyncio.CancelledError()
        return self._translate(exc, context, model)

    def _translate(self, exc: BaseException, context: str = "", model: type | None = None) -> errors.OmmiError:
        if self.dialect.arithmetic_overflow(exc):
            # the native text may quote the expression with its values: say it in ommi's words
            where = f"{context}: " if context else ""
            return errors.QueryError(
                f"{self.errors.backend}: {where}arithmetic overflow: an integer result left the 64-bit range "
                "(or a Decimal one the column's range)"
            )
        mapped = self.errors.translate(exc, context, model)
        if mapped is None:
            mapped = errors.OmmiError(f"{self.errors.backend}: {context}: unexpected {type(exc).__name__}: {exc}")
        return mapped

    # -- statements outside a transaction ------------------------------------------

    def insert(self, stmt: Insert) -> Coroutine[Any, Any, None]:
        return _insert(self, stmt, None)

    async def save(self, stmt: Save) -> int:
        return await _save(self, stmt, None)

    def select(self, stmt: Select) -> Coroutine[Any, Any, list[Any]]:
        return _select(self, stmt, None)

    def count(self, stmt: Select) -> Coroutine[Any, Any, int]:
        return _count(self, stmt, None)

    def aggregate(self, stmt: Aggregate) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
        return _aggregate(self, stmt, None)

    async def update(self, stmt: Update) -> int:
        return await _update(self, stmt, None)

    async def delete(self, stmt: Delete) -> int:
        return await _delete(self, stmt, None)

    def values(self, stmt: Values) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
        return _values(self, stmt, None)

    async def upsert(self, stmt: Upsert) -> None:
        await _upsert(self, stmt, None)

    async def raw(self, stmt: Raw) -> list[Any]:
        return await _raw(self, stmt, None)

    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        return _loaded(_select_reader(self, stmt), self._stream_batches)

    def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        return _loaded(_values_reader(self, stmt), self._stream_batches)

    def stream_rows(self, stmt: Select) -> tuple[_LoadRows, AsyncGenerator[list[Any], None]]:
        """:meth:`stream` as the function that loads rows and the stored rows, a batch at a time.

        The query's ``async for`` loads each batch's rows itself (lazily, one at
        a time): one async generator per row instead of two.
        """
        reader = _select_reader(self, stmt)
        return reader[2], self._stream_batches(reader)

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        reader = _select_reader(self, stmt)
        return _loaded_batches(reader[2], self._stream_batches(reader, size))

    async def _stream_batches(self, reader: _Reader, size: int | None = None) -> AsyncGenerator[list[Any], None]:
        link = await self._link()
        reusable = False
        try:
            # a read-only transaction of its own: the rows as of the stream's start
            await self._on(link, _control("begin", self.dialect.begin_read_sql), "cannot start a stream", reader[4])
            try:
                # closed here, before the rollback below (see _batches)
                async with contextlib.aclosing(_batches(self, link, reader, size=size)) as batches:
                    async for rows in batches:
                        yield rows
            except GeneratorExit:
                # left early between batches (break, aclose()) and its cursor closed without
                # error: the connection is in step, worth keeping once rolled back
                reusable = True
                raise
            reusable = True
        finally:
            try:
                # only a connection worth keeping is rolled back: one left by a cancellation
                # or an error is dropped as it is (MariaDB's, after a read the cancel cut
                # short, raises CancelledError again on its next statement)
                if reusable and link.usable:
                    try:
                        await self._on(link, _control("rollback", self.dialect.rollback_sql), "", None)
                    except errors.OmmiError:
                        reusable = False
            except BaseException:
                reusable = False  # cancelled during the rollback: still handed back, dropped
                raise
            finally:
                await link.release(reusable and link.usable)

    # -- transactions ------------------------------------------------------------

    async def begin(self) -> DriverTransaction:
        link = await self._link()
        try:
            await self._on(link, _control("begin", self.dialect.begin_sql), "cannot begin a transaction", None)
        except BaseException:
            await link.release(False)
            raise
        return SQLTransaction(self, _TxState(link))

    # -- schema ------------------------------------------------------------------

    def create_statements(self, info: ModelInfo) -> list[str]:
        """The statements creating one model's table and indexes (a hook for sequences and such)."""
        return self.compiler.create_table(info)

    def drop_statements(self, info: ModelInfo) -> list[str]:
        """The statements dropping one model's table."""
        return [self.compiler.drop_table(info)]

    def change_statements(self, change: SchemaChange) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements, with bound values, applying one schema change."""
        if change.kind == "add_table":
            return [(sql, ()) for sql in self.create_statements(change.model)]
        return self.compiler.schema_change(change)

    async def _schema_script(self, statements: Sequence[tuple[str, Sequence[Any]]], context: str) -> None:
        await self._autocommit(lambda: _unit(self, None, _script(statements)), context, None)
        await self.schema_changed()

    async def schema_changed(self) -> None:
        """Called after the schema changed (a hook: drop cached prepared statements, say)."""

    def schema_changed_here(self) -> Op[None]:
        """Run on a transaction's connection after it changed the schema (a hook, e.g. for statement caches)."""
        return _nothing()

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        statements = [(sql, ()) for info in models for sql in self.create_statements(info)]
        await self._schema_script(statements, "cannot create the schema")

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        statements = [(sql, ()) for info in models for sql in self.drop_statements(info)]
        await self._schema_script(statements, "cannot drop the schema")

    def expected_type(self, field: FieldInfo) -> str | None:
        return self.compiler.expected_type(field)

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        names = [m.name for m in models]
        return await self._autocommit(lambda: self.inspect_op(names), "cannot inspect the schema", None, read=True)

    def inspect_op(self, names: Sequence[str]) -> Op[dict[str, LiveTable | None]]:
        """The operation reading what the database holds for each table name (``None``: no such table)."""
        raise errors.UnsupportedError(f"{type(self).__name__} cannot inspect its schema")

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        statements = [st for change in changes for st in self.change_statements(change)]
        await self._schema_script(statements, "cannot change the schema")
        self.schema_applied(changes)

    def schema_applied(self, changes: Sequence[SchemaChange]) -> None:
        """Called after schema changes ran (in or out of a transaction): a hook for driver-side caches."""

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        return [render_statement(sql, params) for change in changes for sql, params in self.change_statements(change)]

    # -- hooks for fast paths ---------------------------------------------------

    def insert_generated(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool) -> Op[list[int]]:
        """Insert rows without their generated key (``plan.dump_auto`` rows); return the keys in order.

        The default makes one statement per row (``RETURNING`` or the last
        row id). Drivers override it with a batch form.
        """
        return _insert_each(plan, rows)

    draws_keys_from: ClassVar[int] = 0
    """From this many rows on, all with generated keys, a bulk ``add()`` runs :meth:`draw_keys`
    before it validates and encodes the rows, so the database draws the keys meanwhile
    (``0``: never); the result goes to :meth:`insert_drawn`."""

    def draw_keys(self, plan: ModelPlan, n: int) -> Op[Any]:
        """Start drawing ``n`` generated keys for ``plan``'s table (see :attr:`draws_keys_from`).

        The operation yields a :func:`~ommi.sql.commands.start` command last
        and returns its handle; the base finishes it.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} does not draw keys ahead")

    def insert_drawn(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool, drawn: Any) -> Op[list[int]]:
        """:meth:`insert_generated` for rows whose keys :meth:`draw_keys` drew (its command's result: ``drawn``).

        It must write every row with one statement (it may read before it):
        that statement is atomic by itself, so outside a transaction the base
        runs the operation without opening one.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} does not draw keys ahead")

    def insert_given(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
        """Insert complete rows (``plan.dump`` rows)."""
        return _insert_rows(plan, rows)

    def save_rows(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[int | None]:
        """Write several ``plan.dump`` rows to the rows with their keys; the rows matched, or ``None``.

        The default runs ``plan.save`` once per row (``executemany``), or, from
        :attr:`SQLDialect.save_set_from` rows on, ``plan.save_set`` once. A driver
        whose database has another cheaper form overrides it; ``None`` means
        the library does not count (the base then looks for the rows itself).
        """
        if plan.save_set is not None and len(rows) >= self.dialect.save_set_from:
            row_key = plan.row_key
            # not with a key given twice: one UPDATE a row applies those in order (the last one wins)
            if len(set(map(row_key, rows))) == len(rows):
                return _save_set(plan.save_set, plan.save_set_arrays, rows)
        return _save_each(plan, rows)

    reserves_keys: ClassVar[bool] = False
    """The driver draws ``Auto`` keys itself before inserting (:meth:`reserve_keys`), not the database."""

    def reserve_keys(self, plan: ModelPlan, n: int, floor: int | None) -> Op[int]:
        """Reserve ``n`` consecutive keys above ``floor`` (and every stored key); return the first."""
        raise errors.UnsupportedError(f"{type(self).__name__} does not reserve keys itself")

    def after_given_keys(self, plan: ModelPlan, top: int) -> Op[None]:
        """Called after rows with explicit ``Auto`` keys up to ``top`` were inserted (a sequence may need moving)."""
        return _nothing()

    def precheck_insert(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
        """Raise ``IntegrityError`` if rows would clash, before writing (for databases without savepoints)."""
        return _nothing()

    # -- failure analysis ----------------------------------------------------------

    def integrity_details(self, exc: BaseException) -> IntegrityDetails | None:
        """What a native integrity error tells: ``(kind or None, column names, constraint name or None)``.

        A hook each driver fills from its library's errors; the base turns the
        answer into the model's fields (:class:`ommi.errors.IntegrityError`).
        """
        return None

    def _constraints(self, info: ModelInfo) -> dict[str, tuple[errors.IntegrityKind, tuple[str, ...], str]]:
        """``constraint name -> (kind, fields, referrer)`` for what ommi creates for a model."""
        found = self._constraint_names.get(info.cls)
        if found is None:
            d = self.dialect
            found = {}
            pk = d.primary_key_name(info.name)
            if pk is not None and info.key:
                found[pk] = ("key", tuple(f.name for f in info.key), "")
            for f in info.fields:
                if f.unique and not (f.key and len(info.key) == 1):
                    found[d.index_name(info.name, [f.column], True)] = ("unique", (f.name,), "")
                if f.reference is not None:
                    found[d.foreign_key_name(info.name, f.column)] = ("reference", (f.name,), "")
            for other in info.collection.infos():  # foreign keys of others pointing here: a refused delete
                for f in other.fields:
                    target = f.references() if f.reference is not None else None
                    if target is not None and target.model is info:
                        name = d.foreign_key_name(other.name, f.column)
                        found.setdefault(name, ("reference", (), f"{other.cls.__name__}.{f.name}"))
            self._constraint_names[info.cls] = found
        return found

    async def _explain(
        self, exc: errors.IntegrityError, model: type, stmts: Statements, rows: Sequence[Any] = (),
        *, deleting: bool = False, upsert_on: Sequence[FieldInfo] = (),
    ) -> errors.IntegrityError:
        """The structured error (model, fields, kind) for an integrity error the database raised.

        ``upsert_on``: the fields an upsert matched stored rows on (a match is no clash).
        """
        if exc.kind is not None or exc.__cause__ is None:
            return exc
        info = model_info(model)
        kind, columns, constraint = self.integrity_details(exc.__cause__) or (None, (), None)
        fields: tuple[str, ...] = ()
        referrer = ""
        hit = self._constraints(info).get(constraint) if constraint else None
        if hit is not None:
            kind, fields, referrer = hit
        elif kind == "key" and not columns:
            fields = tuple(f.name for f in info.key)
        elif columns:
            fields = tuple(info.by_column[c].name for c in columns if c in info.by_column)
            if kind in (None, "unique", "key"):
                kind = "key" if set(columns) == {f.column for f in info.key} else "unique"
        if (kind is None or (kind in ("unique", "key") and not fields)) and rows and not deleting:
            # the database did not say which key or unique field: look (an error path only)
            from ommi._integrity import probe_clash

            with contextlib.suppress(errors.OmmiError):
                found = await probe_clash(stmts, model, rows, upsert_on=upsert_on)
                if found is not None:
                    return found
        if kind is None:
            return exc
        if kind == "reference" and deleting:
            fields = ()
            referrer = referrer or ", ".join(
                f"{o.cls.__name__}.{f.name}" for o in info.collection.infos() for f in o.fields
                if f.reference is not None and (t := f.references()) is not None and t.model is info
            )
        elif kind == "reference" and not fields and rows:
            # the database did not say which reference: look (an error path only)
            from ommi._integrity import check_references

            try:
                await check_references(stmts, model, rows)
            except errors.IntegrityError as precise:
                return precise
            fields = tuple(f.name for f in info.fields if f.reference is not None)
        return errors.IntegrityError.about(model, kind, fields, referrer=referrer)

    def _referenced(self, info: ModelInfo) -> bool:
        """Whether a foreign key of another model points at this model (so a delete can fail)."""
        found = self._fk_referenced.get(info.cls)
        if found is None:
            found = self.dialect.foreign_keys and any(
                (t := f.references()) is not None and t.model is info
                for other in info.collection.infos() for f in other.fields
            )
            self._fk_referenced[info.cls] = found
        return found


def _skips_conflicts(d: SQLDriver) -> bool:
    """Whether a clash is better reported by an insert that skips it (a failure would abort the transaction)."""
    return d.dialect.failed_statement_aborts_transaction and bool(d.dialect.conflict_skip)


def _may_clash(d: SQLDriver, plan: ModelPlan) -> bool:
    """Whether a row with a new key could still break a constraint: a unique field, or a checked reference."""
    return plan.unique_besides_key or (d.dialect.foreign_keys and bool(plan.references))


# ---------------------------------------------------------------------------
# transactions


class _Turns:
    """Statements of one transaction take turns: an ``asyncio.Lock`` that costs no coroutine when free.

    Every statement of a transaction passes here, so the free case is a flag
    (:meth:`take_now`); waiting is first come, first served, and the turn is
    handed straight to the next waiter.
    """

    __slots__ = ("_waiters", "busy")

    def __init__(self) -> None:
        self.busy = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take_now(self) -> bool:
        """Take the turn if it is free and nobody waits for it."""
        if self.busy or self._waiters:
            return False
        self.busy = True
        return True

    async def take(self) -> None:
        """Take the turn, waiting for it if needed."""
        if self.take_now():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # handed the turn by give_back()
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.give_back()  # handed the turn just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def give_back(self) -> None:
        """End a turn: hand it to the first waiter still waiting, or free it."""
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.busy = False

    async def __aenter__(self) -> None:
        await self.take()

    async def __aexit__(self, *exc: object) -> None:
        self.give_back()


class _TxState:
    """One transaction's connection, shared by its savepoints; statements take turns on it."""

    __slots__ = ("aborted", "ended", "link", "lock", "open", "schema_changed")

    def __init__(self, link: Link) -> None:
        self.link = link
        self.lock = _Turns()
        self.open = True
        self.ended = False  # a COMMIT or ROLLBACK completed: nothing is left open on the connection
        self.aborted: errors.OmmiError | None = None
        self.schema_changed = False


class SQLTransaction(DriverTransaction):
    """A transaction (or a savepoint in one) of a :class:`SQLDriver`."""

    def __init__(self, driver: SQLDriver, state: _TxState, savepoint: str = "") -> None:
        self.driver = driver
        self.state = state
        self.savepoint_name = savepoint

    async def run(self, op: Op[T], context: str, model: type | None) -> T:
        """Run an operation in this transaction (one at a time), tracking the aborted state."""
        state = self.state
        if not state.open:
            raise errors.TransactionError("this transaction has already ended")
        turns = state.lock
        if not turns.take_now():
            await turns.take()
        try:
            if state.aborted is not None:
                raise errors.TransactionError(
                    f"this transaction was aborted by an earlier failure ({state.aborted}); "
                    "roll it back (leave the block with an exception, or call rollback())",
                    retryable=getattr(state.aborted, "retryable", False),
                ) from state.aborted
            trace = Trace()
            watch = cancel_watch()
            try:
                return await state.link.run(op, trace)
            except BaseException as exc:
                mapped = exc
                if isinstance(exc, Exception) and not isinstance(exc, errors.OmmiError):
                    mapped = self.driver._failure(exc, context, model, watch)
                # a TransactionError from the database (a deadlock victim, say) means the
                # transaction is over on the server even where failures are statement-level:
                # later statements must not run outside it (they would commit one by one)
                if trace.failed and (
                    self.driver.dialect.failed_statement_aborts_transaction
                    or isinstance(mapped, errors.TransactionError)
                ):
                    state.aborted = (
                        mapped if isinstance(mapped, errors.OmmiError) else errors.TransactionError(str(mapped))
                    )
                elif isinstance(exc, asyncio.CancelledError):
                    # cancelled while its statements ran: what they did is unknown, and the
                    # database may have undone the whole transaction (SQLite rolls back the
                    # transaction of a write it interrupts); later statements must not run
                    # outside it, committing one by one
                    state.aborted = errors.TransactionError(
                        f"{context}: the operation was cancelled while it ran, and may have ended the transaction"
                    )
                if mapped is exc:
                    raise
                raise mapped from exc
        finally:
            turns.give_back()

    def insert(self, stmt: Insert) -> Coroutine[Any, Any, None]:
        return _insert(self.driver, stmt, self)  # (no coroutine frame of its own: one add() per row is common)

    async def save(self, stmt: Save) -> int:
        return await _save(self.driver, stmt, self)

    def select(self, stmt: Select) -> Coroutine[Any, Any, list[Any]]:
        return _select(self.driver, stmt, self)

    def count(self, stmt: Select) -> Coroutine[Any, Any, int]:
        return _count(self.driver, stmt, self)

    def aggregate(self, stmt: Aggregate) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
        return _aggregate(self.driver, stmt, self)

    async def update(self, stmt: Update) -> int:
        return await _update(self.driver, stmt, self)

    async def delete(self, stmt: Delete) -> int:
        return await _delete(self.driver, stmt, self)

    def values(self, stmt: Values) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
        return _values(self.driver, stmt, self)

    async def upsert(self, stmt: Upsert) -> None:
        await _upsert(self.driver, stmt, self)

    async def raw(self, stmt: Raw) -> list[Any]:
        return await _raw(self.driver, stmt, self)

    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        return _loaded(_select_reader(self.driver, stmt), self._stream_batches)

    def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        return _loaded(_values_reader(self.driver, stmt), self._stream_batches)

    def stream_rows(self, stmt: Select) -> tuple[_LoadRows, AsyncGenerator[list[Any], None]]:
        """See :meth:`SQLDriver.stream_rows`."""
        reader = _select_reader(self.driver, stmt)
        return reader[2], self._stream_batches(reader)

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        reader = _select_reader(self.driver, stmt)
        return _loaded_batches(reader[2], self._stream_batches(reader, size))

    async def _stream_batches(self, reader: _Reader, size: int | None = None) -> AsyncGenerator[list[Any], None]:
        # on the transaction's own connection, to see its writes; another statement
        # run before the stream ends first reads the stream's remaining rows
        async with self.state.lock:
            if self.state.aborted is not None:
                raise errors.TransactionError(
                    f"this transaction was aborted by an earlier failure ({self.state.aborted})"
                ) from self.state.aborted
        batches_of = _batches(self.driver, self.state.link, reader, self.state.lock, size)
        async with contextlib.aclosing(batches_of) as batches:
            async for rows in batches:
                yield rows

    async def commit(self) -> None:
        d = self.driver.dialect
        if self.savepoint_name:
            if self.state.aborted is not None:
                raise errors.TransactionError(f"cannot commit: the transaction was aborted ({self.state.aborted})")
            await self.run(_control("release", d.release_sql.format(self.savepoint_name)), "cannot release", None)
            return
        state = self.state
        try:
            if state.aborted is not None:
                cause = state.aborted
                await self._end(_control("rollback", d.rollback_sql))
                raise errors.TransactionError(
                    f"the transaction was rolled back, not committed: a statement in it failed ({cause}) "
                    f"and {self.driver.errors.backend} aborted it",
                    retryable=getattr(cause, "retryable", False),
                ) from cause
            try:
                await self._end(_control("commit", d.commit_sql), "cannot commit")
            except errors.OmmiError:
                if state.link.usable:  # leave nothing open on a connection going back to the pool
                    with contextlib.suppress(errors.OmmiError):
                        await self._end(_control("rollback", d.rollback_sql))
                raise
        finally:
            await self._finish()

    async def rollback(self) -> None:
        d = self.driver.dialect
        if self.savepoint_name:
            name = self.savepoint_name

            def undo() -> Op[None]:
                yield cmd.control("rollback_to", d.rollback_to_sql.format(name))
                yield cmd.control("release", d.release_sql.format(name))

            async with self.state.lock:
                trace = Trace()
                await self.driver._on(self.state.link, undo(), "cannot roll back to a savepoint", None, trace)
                if not trace.failed:
                    self.state.aborted = None  # undone: the transaction is usable again
            return
        try:
            await self._end(_control("rollback", d.rollback_sql), "cannot roll back")
        except errors.ConnectionFailed:
            pass  # the server ends a transaction whose connection is gone: nothing was committed
        finally:
            await self._finish()

    async def _end(self, op: Op[None], context: str = "") -> None:
        async with self.state.lock:
            await self.driver._on(self.state.link, op, context, None)
            self.state.ended = True

    async def _finish(self) -> None:
        state = self.state
        if state.open:
            state.open = False
            # back to the pool only once a COMMIT or ROLLBACK went through: after one
            # that failed or was cancelled midway, the transaction may still be open
            # on the connection (the next transaction there could not begin, and its
            # statements would run inside this one)
            await state.link.release(state.ended and state.link.usable)
            if state.schema_changed:
                await self.driver.schema_changed()

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        d = self.driver
        statements = [st for change in changes for st in d.change_statements(change)]

        def script() -> Op[None]:
            # inside a savepoint where there are any: a change failing midway leaves the transaction as it was
            yield from _unit(d, self, _script(statements))
            yield from d.schema_changed_here()

        self.state.schema_changed = True
        await self.run(script(), "cannot change the schema", None)
        d.schema_applied(changes)

    async def savepoint(self) -> DriverTransaction:
        d = self.driver.dialect
        if not d.savepoints:
            return await super().savepoint()
        name = _savepoint_name()
        await self.run(_control("savepoint", d.savepoint_sql.format(name)), "cannot open a nested block", None)
        return SQLTransaction(self.driver, self.state, name)


# ---------------------------------------------------------------------------
# operations: generators of commands (see ommi.sql._connection)


def _control(name: str, sql: str) -> Op[None]:
    yield cmd.control(name, sql)


def _nothing() -> Op[None]:
    return
    yield  # a generator that sends nothing


def _script(statements: Sequence[tuple[str, Sequence[Any]]]) -> Op[None]:
    for sql, params in statements:
        yield cmd.execute(sql, params)


def _unit(d: SQLDriver, tx: SQLTransaction | None, op: Op[T]) -> Op[T]:
    """Run several statements as one: a transaction, or a savepoint inside the user's transaction.

    Without savepoints inside a transaction the statements run as they are:
    the operations check what they can before writing, and on a database that
    aborts on failure the transaction is marked aborted.
    """
    dialect = d.dialect
    if tx is None:
        yield cmd.control("begin", dialect.begin_sql)
        try:
            result = yield from op
        except BaseException:
            yield cmd.control("rollback", dialect.rollback_sql)
            raise
        yield cmd.control("commit", dialect.commit_sql)
        return result
    if not dialect.savepoints:
        return (yield from op)
    return (yield from _savepointed(d, op))


def _savepointed(d: SQLDriver, op: Op[T]) -> Op[T]:
    dialect = d.dialect
    name = _savepoint_name()
    yield cmd.control("savepoint", dialect.savepoint_sql.format(name))
    try:
        result = yield from op
    except BaseException:
        yield cmd.control("rollback_to", dialect.rollback_to_sql.format(name))
        yield cmd.control("release", dialect.release_sql.format(name))
        raise
    yield cmd.control("release", dialect.release_sql.format(name))
    return result


def _guarded(d: SQLDriver, tx: SQLTransaction | None, can_fail: bool, op: Op[T]) -> Op[T]:
    """One statement that may fail: in a transaction of a database that aborts on failure, behind a savepoint.

    Returns the operation itself when it needs no savepoint (not a generator of its own:
    every statement of a transaction passes here).
    """
    dialect = d.dialect
    if tx is None or not can_fail or not dialect.failed_statement_aborts_transaction or not dialect.savepoints:
        return op
    return _savepointed(d, op)


def _insert_each(plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[list[int]]:
    keys: list[int] = []
    if plan.returning_key is not None:
        for row in rows:
            got = yield cmd.fetchone(plan.returning_key, row)
            keys.append(int(got[0]))
    else:
        assert plan.insert_auto is not None
        for row in rows:
            keys.append((yield cmd.insert_id(plan.insert_auto, row)))
    return keys


def _insert_rows(plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
    if len(rows) == 1:
        yield cmd.execute(plan.insert_all, rows[0])
    else:
        yield cmd.executemany(plan.insert_all, rows)


def _split(
    plan: ModelPlan, instances: Sequence[Any], keys: list[Any] | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Validate and encode every instance of a batch (before anything is written; one instance
    alone is done by ``_insert_op``).

    Returns the complete rows (explicit keys) and the rows without the key of the
    instances whose key the database generates, in order.
    ``keys``: the instances' generated-key fields, if already read.
    """
    name = plan.auto_name
    if name is None:
        return plan.dump_many(instances), []
    assert plan.dump_auto is not None and plan.dump_auto_many is not None
    if keys is None:
        keys = list(map(operator.attrgetter(name), instances))
    if keys.count(None) == len(keys):  # the usual case: every key generated
        return [], plan.dump_auto_many(instances)
    if None not in keys:
        return plan.dump_many(instances), []
    given: list[tuple[Any, ...]] = []
    pending_rows: list[tuple[Any, ...]] = []
    for m, k in zip(instances, keys, strict=True):
        if k is None:
            pending_rows.append(plan.dump_auto(m))
        else:
            given.append(plan.dump(m))
    return given, pending_rows


def _insert_op(
    d: SQLDriver, tx: SQLTransaction | None, plan: ModelPlan, instances: Sequence[Any]
) -> Op[list[int]]:
    if len(instances) == 1:  # one add() per row, the commonest write: validated and encoded here
        m = instances[0]
        name = plan.auto_name
        if name is not None and getattr(m, name) is None:
            assert plan.dump_auto is not None
            given, pending_rows = [], [plan.dump_auto(m)]
        else:
            given, pending_rows = [plan.dump(m)], []
    else:
        ahead = d.draws_keys_from
        if ahead and len(instances) >= ahead and plan.auto_name is not None:
            fields = list(map(operator.attrgetter(plan.auto_name), instances))
            if fields.count(None) == len(fields):  # (keys given would first move the sequence past them)
                op = _insert_drawing(d, tx, plan, instances, fields)
                return (yield from (op if tx is None else _unit(d, tx, op)))
        given, pending_rows = _split(plan, instances)
    dialect = d.dialect
    if pending_rows and d.reserves_keys:
        return (yield from _insert_reserved(d, tx, plan, given, pending_rows))
    if len(instances) == 1:
        if tx is not None and _skips_conflicts(d):
            # a failure would abort the transaction: let a key or unique clash
            # insert nothing instead of failing, and report it
            if not (dialect.foreign_keys and plan.references):
                return (yield from _insert_or_skip(d, plan, given, pending_rows))
            if dialect.savepoints:
                # the same for a missing referenced row; when nothing was inserted, the insert
                # runs again behind a savepoint, which reports the failure exactly
                keys = yield from _insert_if_referenced(d, plan, given, pending_rows)
                if keys is not None:
                    return keys
        # one statement is atomic by itself (a generated key: the driver's insert straight
        # away, which is all _insert_batch would do with one such row)
        if pending_rows:
            op = d.insert_generated(plan, pending_rows, tx is not None)
        else:
            op = _insert_batch(d, tx, plan, given, pending_rows)
        return (yield from _guarded(d, tx, True, op))
    return (yield from _unit(d, tx, _insert_batch(d, tx, plan, given, pending_rows)))


def _insert_drawing(
    d: SQLDriver, tx: SQLTransaction | None, plan: ModelPlan, instances: Sequence[Any], keys: list[Any]
) -> Op[list[int]]:
    """A bulk add whose keys the database draws while the rows are validated and encoded.

    The rows are then written by one statement (:meth:`SQLDriver.insert_drawn`),
    atomic by itself: outside a transaction no transaction of its own is opened
    for it (two round trips fewer); in one, it runs inside the add's savepoint,
    as any other statement.
    """
    drawing = yield from d.draw_keys(plan, len(keys))
    given, pending_rows = _split(plan, instances, keys)  # (if this fails, the drawing is waited for)
    assert not given  # (every key is generated: see _insert_op)
    drawn = yield cmd.finish(drawing)
    return (yield from d.insert_drawn(plan, pending_rows, tx is not None, drawn))


def _insert_if_referenced(
    d: SQLDriver, plan: ModelPlan, given: list[tuple[Any, ...]], pending_rows: list[tuple[Any, ...]]
) -> Op[list[int] | None]:
    """One row inserted only if the rows it refers to exist (and nothing clashes); ``None`` if not inserted."""
    auto = not given
    row = given[0] if given else pending_rows[0]
    ai = plan.auto_index if auto else None
    assert not auto or (ai is not None and plan.returning_key is not None)
    # the positions in the row (a row without its generated key lacks that column)
    at = [i if ai is None or i < ai else i - 1 for i in plan.references]
    refs = tuple(i for i, j in zip(plan.references, at, strict=True) if row[j] is not None)
    if not refs:  # refers to nothing: only a clash can stop it
        return (yield from _insert_or_skip(d, plan, given, pending_rows))
    sql = d.compiler.insert_if_referenced(plan, auto, refs)
    params = row + tuple(row[j] for i, j in zip(plan.references, at, strict=True) if i in refs)
    if auto:
        got = yield cmd.fetchone(sql, params)
        return None if got is None else [int(got[0])]
    if (yield cmd.execute(sql, params)) != 1:
        return None
    if plan.auto_index is not None:
        yield from d.after_given_keys(plan, row[plan.auto_index])
    return []


def _insert_reserved(
    d: SQLDriver, tx: SQLTransaction | None, plan: ModelPlan,
    given: list[tuple[Any, ...]], pending_rows: list[tuple[Any, ...]],
) -> Op[list[int]]:
    # the keys are drawn first: every row is then complete
    ai = plan.auto_index
    assert ai is not None
    floor = max(r[ai] for r in given) if given else None
    first = yield from d.reserve_keys(plan, len(pending_rows), floor)
    keys = list(range(first, first + len(pending_rows)))
    rows = given + [(*r[:ai], k, *r[ai:]) for r, k in zip(pending_rows, keys, strict=True)]
    # (reserve_keys already moved the sequence past the given keys: no after_given_keys)
    if len(rows) == 1 and not given and not _may_clash(d, plan):
        # a key just drawn from the sequence is new, and nothing else is unique: the
        # insert cannot clash, so it needs no guard (and a failure is not one to survive)
        yield from d.insert_given(plan, rows)
    elif len(rows) == 1 and tx is not None and _skips_conflicts(d):
        yield from _insert_or_skip(d, plan, rows, [], bump=False)
    elif len(rows) == 1:
        yield from _guarded(d, tx, True, d.insert_given(plan, rows))
    else:
        yield from _unit(d, tx, _insert_batch(d, tx, plan, rows, [], bump=False))
    return keys


def _insert_batch(
    d: SQLDriver, tx: SQLTransaction | None, plan: ModelPlan,
    given: list[tuple[Any, ...]], pending_rows: list[tuple[Any, ...]], *, bump: bool = True, drawn: Any = None,
) -> Op[list[int]]:
    ai = plan.auto_index
    if tx is not None and not d.dialect.savepoints and len(given) + len(pending_rows) > 1:
        yield from d.precheck_insert(plan, [*given, *_widened(plan, pending_rows)])
    if given:
        yield from d.insert_given(plan, given)
        if ai is not None and bump:
            yield from d.after_given_keys(plan, max(r[ai] for r in given))
    if not pending_rows:
        return []
    if drawn is not None:
        return (yield from d.insert_drawn(plan, pending_rows, tx is not None, drawn))
    return (yield from d.insert_generated(plan, pending_rows, tx is not None))


def _insert_or_skip(
    d: SQLDriver, plan: ModelPlan, given: list[tuple[Any, ...]], pending_rows: list[tuple[Any, ...]],
    bump: bool = True,
) -> Op[list[int]]:
    skip = d.dialect.conflict_skip
    if given:
        if (yield cmd.execute(plan.insert_all + skip, given[0])) != 1:
            raise (yield from _clash(d, plan, given[0]))
        if plan.auto_index is not None and bump:
            yield from d.after_given_keys(plan, given[0][plan.auto_index])
        return []
    assert plan.insert_auto is not None
    if plan.returning_key is None:
        return (yield from d.insert_generated(plan, pending_rows, True))
    assert plan.skip_returning_key is not None
    got = yield cmd.fetchone(plan.skip_returning_key, pending_rows[0])
    if got is None:
        raise (yield from _clash(d, plan, _widened(plan, pending_rows)[0]))
    return [int(got[0])]


def _widened(plan: ModelPlan, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows without their generated key, with ``None`` in its place (the shape of complete rows)."""
    ai = plan.auto_index
    if ai is None or not rows:
        return rows
    return [(*r[:ai], None, *r[ai:]) for r in rows]


def _clash(d: SQLDriver, plan: ModelPlan, row: tuple[Any, ...]) -> Op[errors.IntegrityError]:
    """Which key or unique field of a row that inserted nothing is taken (a complete row, ``None`` for a
    key still to be generated): the details every backend reports alike."""
    info = plan.info
    q = d.dialect.quote
    groups: list[tuple[errors.IntegrityKind, tuple[FieldInfo, ...]]] = [("key", info.key)] if info.key else []
    groups += [("unique", (f,)) for f in info.fields if f.unique and not (f.key and len(info.key) == 1)]
    for kind, fields in groups:
        values = [row[info.fields.index(f)] for f in fields]
        if None in values:
            continue
        marks = [d.dialect.placeholder(i + 1) for i in range(len(fields))]
        where = " AND ".join(f"{q(f.column)} = {m}" for f, m in zip(fields, marks, strict=True))
        if (yield cmd.fetchone(f"SELECT 1 FROM {plan.table} WHERE {where} LIMIT 1", values)) is not None:
            return errors.IntegrityError.about(info.cls, kind, tuple(f.name for f in fields))
    return errors.IntegrityError.about(info.cls, "unique")


async def _run(
    d: SQLDriver, tx: SQLTransaction | None, make: Callable[[], Op[T]], context: str, model: type | None,
    *, read: bool = False,
) -> T:
    if tx is None:
        return await d._autocommit(make, context, model, read=read)
    return await tx.run(make(), context, model)


async def _run_alone(
    d: SQLDriver, tx: SQLTransaction | None, make: Callable[[], Op[T]], context: str, model: type | None
) -> T:
    """A write that is one statement (or one unit) outside the caller's transactions: when the
    database picks it as a deadlock victim it undid all of it, so it runs again (concurrent
    ``update()``s of overlapping rows lock them in different orders); in a transaction, the
    caller's ``in_transaction(retries=)`` decides."""
    if tx is not None:
        return await tx.run(make(), context, model)
    return await retry_conflicts(lambda: d._autocommit(make, context, model), _retryable)


def _retryable(exc: Exception) -> bool:
    return isinstance(exc, errors.TransactionError) and exc.retryable


async def _insert(d: SQLDriver, stmt: Insert, tx: SQLTransaction | None) -> None:
    if not stmt.instances:
        return
    plan = d.compiler.plan(stmt.model)
    instances = stmt.instances
    # validation happens while the operation starts, before any statement is sent
    context = plan.add_context
    try:
        if tx is not None:  # (the common case of one add() after another, without _run's indirection)
            keys = await tx.run(_insert_op(d, tx, plan, instances), context, stmt.model)
        else:
            keys = await d._autocommit(lambda: _insert_op(d, tx, plan, instances), context, stmt.model)
    except errors.IntegrityError as exc:
        raise await d._explain(exc, stmt.model, tx or d, instances) from exc.__cause__
    if keys:
        name = plan.auto_name
        assert name is not None
        if len(keys) == 1 and len(instances) == 1:
            plan.info.source.set_value(instances[0], name, keys[0])
        elif len(keys) == len(instances):
            plan.info.write_values(name, instances, keys)
        else:
            pending = [m for m in instances if getattr(m, name) is None]
            plan.info.write_values(name, pending, keys)


def _save_op(d: SQLDriver, tx: SQLTransaction | None, plan: ModelPlan, instances: Sequence[Any]) -> Op[int]:
    info = plan.info
    if plan.save is None:
        raise errors.QueryError(f"{info.cls.__name__} has no key, so instances cannot be saved")
    sql = plan.save
    can_fail = plan.uniques or (d.dialect.foreign_keys and bool(plan.references))
    if len(instances) == 1:
        reorder = plan.save_row
        row = plan.dump(instances[0])
        params = reorder(row) if reorder is not None else row

        def one() -> Op[int]:
            if (yield cmd.execute(sql, params)) != 1:
                raise _not_saved(info, instances[0])
            return 1

        return (yield from _guarded(d, tx, can_fail, one()))
    rows = plan.dump_many(instances)

    def many() -> Op[int]:
        if tx is not None and not d.dialect.savepoints:
            # nothing could undo the rows written before a missing one: look first
            yield from _check_keys_exist(d, plan, instances)
        total = yield from d.save_rows(plan, rows)
        if total is None:  # the library does not count: look for the rows
            yield from _check_keys_exist(d, plan, instances)
        elif total != len(rows):
            yield from _check_keys_exist(d, plan, instances)
            raise errors.NotFound(f"cannot save {info.cls.__name__}: some instances have no row")
        return len(rows)

    return (yield from _unit(d, tx, many()))


def _save_each(plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[int | None]:
    reorder = plan.save_row
    params = list(map(reorder, rows)) if reorder is not None else rows
    total = yield cmd.executemany(plan.save or "", params)
    return None if total is None else int(total)


def _save_set(sql: str, arrays: tuple[ArrayEncoder | None, ...], rows: list[tuple[Any, ...]]) -> Op[int]:
    # the rows' columns, each a list (DuckDB reads a tuple as a STRUCT)
    params = [list(col) if a is None else a(list(col)) for a, col in zip(arrays, columns_of(rows), strict=True)]
    return int((yield cmd.execute(sql, params)))


def _check_keys_exist(d: SQLDriver, plan: ModelPlan, instances: Sequence[Any]) -> Op[None]:
    info = plan.info
    for start in range(0, len(instances), 500):
        chunk = instances[start : start + 500]
        keys = list(dict.fromkeys(info.key_of(m) for m in chunk))
        where = any_of([key_predicate(info, k if len(k) > 1 else k[0]) for k in keys])
        sql, params = d.compiler.select(Select(info.cls, where))
        found = {info.key_of(plan.load(r)) for r in (yield cmd.fetchall(sql, params))}
        for m in chunk:
            if info.key_of(m) not in found:
                raise _not_saved(info, m)


def _not_saved(info: ModelInfo, instance: Any) -> errors.NotFound:
    key = info.key_of(instance)
    shown = key[0] if len(key) == 1 else key
    return errors.NotFound(f"cannot save {info.cls.__name__} with key {shown!r}: no such row")


async def _save(d: SQLDriver, stmt: Save, tx: SQLTransaction | None) -> int:
    if not stmt.instances:
        return 0
    plan = d.compiler.plan(stmt.model)
    op = lambda: _save_op(d, tx, plan, stmt.instances)  # noqa: E731
    try:
        return await _run(d, tx, op, f"cannot save {stmt.model.__name__}", stmt.model)
    except errors.IntegrityError as exc:
        raise await d._explain(exc, stmt.model, tx or d, stmt.instances) from exc.__cause__


def _scalar(sql: str, params: Sequence[Any]) -> Op[Any]:
    row = yield cmd.fetchone(sql, params)
    return row[0] if row else None


def _rows(sql: str, params: Sequence[Any]) -> Op[list[Any]]:
    rows: list[Any] = yield cmd.fetchall(sql, params)
    return rows


async def _fetch_loaded(
    d: SQLDriver, tx: SQLTransaction | None, model: type, sql: str, params: Sequence[Any],
    *, load: _LoadRows, verb: str = "query",
) -> list[Any]:
    """The rows of a query, loaded on the caller's thread once fetched.

    Not on the connection's side: where a driver's connection lives in a worker
    thread (SQLite, DuckDB), loading the rows there made the objects on another
    core than the one that uses them, which cost more than the loading itself
    (SQLite, 10,000 rows into objects: 12.0 ms loaded in the worker, 9.3 ms here,
    aiosqlite 9.2 ms).
    """
    context = f"cannot {verb} {model.__name__}"
    if tx is None:  # (_run, inlined: one coroutine frame less under every read)
        rows = await d._read_rows(sql, params, context, model)
    else:
        rows = await tx.run(_rows(sql, params), context, model)
    try:
        return list(load(rows))
    except errors.OmmiError:  # a value the field cannot take: the loader's ValidationError
        raise
    except Exception as exc:  # a decoder's own error, said as where the rows were fetched
        raise d._failure(exc, context, model) from exc


# The reads compile on the caller's call and return the coroutine that runs them (no
# coroutine frame of their own: a lookup by key is common); a statement that cannot be
# compiled raises from the call, which every caller awaits at once.


def _select(d: SQLDriver, stmt: Select, tx: SQLTransaction | None) -> Coroutine[Any, Any, list[Any]]:
    sql, params = d.compiler.select(stmt)
    load_rows = d.compiler.plan(stmt.model).load_rows
    return _fetch_loaded(d, tx, stmt.model, sql, params, load=load_rows)


async def _count(d: SQLDriver, stmt: Select, tx: SQLTransaction | None) -> int:
    sql, params = d.compiler.count(stmt)
    context = f"cannot count {stmt.model.__name__}"
    if tx is None:  # one statement, sent as it is (see _read_rows); COUNT(*) answers one row
        return int((await d._read_rows(sql, params, context, stmt.model))[0][0])
    return int(await tx.run(_scalar(sql, params), context, stmt.model))


def _aggregate(d: SQLDriver, stmt: Aggregate, tx: SQLTransaction | None) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
    sql, params, decode = d.compiler.aggregate(stmt)
    return _fetch_loaded(d, tx, stmt.model, sql, params, load=decode, verb="aggregate")


def _write(d: SQLDriver, tx: SQLTransaction | None, sql: str, params: Sequence[Any], can_fail: bool) -> Op[int]:
    def one() -> Op[int]:
        return int((yield cmd.execute(sql, params)))

    return (yield from _guarded(d, tx, can_fail, one()))


async def _update(d: SQLDriver, stmt: Update, tx: SQLTransaction | None) -> int:
    sql, params = d.compiler.update(stmt)
    fk = d.dialect.foreign_keys
    can_fail = any(f.info.unique or f.info.key or (fk and f.info.reference is not None) for f, _ in stmt.values)
    context = f"cannot update {stmt.model.__name__}"
    try:
        return await _run_alone(d, tx, lambda: _write(d, tx, sql, params, can_fail), context, stmt.model)
    except errors.IntegrityError as exc:
        values = [{f.name: v for f, v in stmt.values}]
        raise await d._explain(exc, stmt.model, tx or d, values) from exc.__cause__


async def _delete(d: SQLDriver, stmt: Delete, tx: SQLTransaction | None) -> int:
    sql, params = d.compiler.delete(stmt)
    info = d.compiler.plan(stmt.model).info
    can_fail = d._referenced(info)
    context = f"cannot delete {stmt.model.__name__}"
    make: Callable[[], Op[int]] = lambda: _write(d, tx, sql, params, can_fail)  # noqa: E731
    if d.dialect.references_checked_per_row and can_fail:
        leaves = _no_referrer(info)
        if leaves is not None:
            make = lambda: _unit(d, tx, _delete_leaves_first(d, stmt, leaves))  # noqa: E731
    try:
        return await _run_alone(d, tx, make, context, stmt.model)
    except errors.IntegrityError as exc:
        raise await d._explain(exc, stmt.model, tx or d, deleting=True) from exc.__cause__


def _no_referrer(info: ModelInfo) -> Predicate | None:
    """"No row of the model refers to this row", for a model with references to itself (else ``None``)."""
    # a hop from the referenced field to the referring one: rows whose reference points here
    none = [
        Not(Related((Hop(Field(info.cls, t.name, t), Field(info.cls, f.name, f)),), And(())))
        for f in info.fields
        if (t := f.references()) is not None and t.model is info
    ]
    if not none:
        return None
    return none[0] if len(none) == 1 else And(tuple(none))


def _delete_leaves_first(d: SQLDriver, stmt: Delete, leaves: Predicate) -> Op[int]:
    # The database checks references row by row (InnoDB), so deleting a parent before
    # its child fails even when the child goes in the same statement. Delete the rows
    # nothing refers to until none is left; the plain statement then deletes what
    # remains (nothing, or rows still referred to: the database reports those).
    where = leaves if stmt.where is None else And((stmt.where, leaves))
    sql, params = d.compiler.delete(Delete(stmt.model, where))
    total = 0
    while (n := (yield cmd.execute(sql, params))) > 0:
        total += n
    sql, params = d.compiler.delete(stmt)
    return total + int((yield cmd.execute(sql, params)))


_LoadRows = Callable[[Iterable[Any]], Iterator[Any]]
"""Stored rows -> what a query yields for each, lazily (:attr:`ModelPlan.load_rows`)."""
_Reader = tuple[str, Sequence[Any], _LoadRows, str, type]
"""What a stream reads: ``(sql, params, rows loader, error context, model)``."""


def _select_reader(d: SQLDriver, stmt: Select) -> _Reader:
    sql, params = d.compiler.select(stmt)
    return sql, params, d.compiler.plan(stmt.model).load_rows, f"cannot query {stmt.model.__name__}", stmt.model


def _values_reader(d: SQLDriver, stmt: Values) -> _Reader:
    sql, params, decode = d.compiler.values(stmt)
    return sql, params, decode, f"cannot query {stmt.model.__name__}", stmt.model


def _values(d: SQLDriver, stmt: Values, tx: SQLTransaction | None) -> Coroutine[Any, Any, list[tuple[Any, ...]]]:
    sql, params, decode = d.compiler.values(stmt)
    return _fetch_loaded(d, tx, stmt.model, sql, params, load=decode)


def _upsert_op(d: SQLDriver, tx: SQLTransaction | None, stmt: Upsert) -> Op[list[tuple[Any, ...]]]:
    """One statement per instance (each atomic), all in one unit; returns each row's stored key."""
    plan = d.compiler.plan(stmt.model)
    info = plan.info
    ai = plan.auto_index
    rows: list[tuple[bool, tuple[Any, ...]]] = []
    for m in stmt.instances:  # validated and encoded before anything is written
        auto = ai is not None and getattr(m, info.fields[ai].name) is None
        rows.append((auto, plan.dump_auto(m) if auto and plan.dump_auto is not None else plan.dump(m)))

    def each() -> Op[list[tuple[Any, ...]]]:
        keys: list[tuple[Any, ...]] = []
        for auto, row in rows:
            sql = d.compiler.upsert(plan, stmt, auto)
            if d.dialect.upsert_returns_key:
                got = yield cmd.fetchone(sql, row)
                keys.append(tuple(got) if got is not None else ())
            elif ai is not None and len(info.key) == 1:
                keys.append(((yield cmd.insert_id(sql, row)),))  # the stored key, also when updated
            else:
                yield cmd.execute(sql, row)
                keys.append(())
        if stored_key is not None:  # the database did not say which row it wrote: ask
            for i, m in enumerate(stmt.instances):
                if not keys[i]:
                    keys[i] = yield from stored_key(m)
        return keys

    def read_key(m: Any) -> Op[tuple[Any, ...]]:
        values = [getattr(m, f.info.name) for f in stmt.on]
        if None in values:
            return ()  # a NULL clashes with nothing: the row was inserted with the instance's key
        where = And(tuple(Compare(f, CompareOp.EQ, v) for f, v in zip(stmt.on, values, strict=True)))
        sql, params, _ = d.compiler.values(Values(Select(stmt.model, where), tuple(f.ref.field for f in info.key)))
        got = yield cmd.fetchone(sql, params)
        return tuple(got) if got is not None else ()

    # after an update on another unique field, the stored row's key may differ from the instance's
    on_key = {f.info for f in stmt.on} == set(info.key)
    key_said = d.dialect.upsert_returns_key or (ai is not None and len(info.key) == 1)
    stored_key = None if on_key or key_said or not info.key else read_key

    if len(rows) == 1 and stored_key is None:
        return (yield from _guarded(d, tx, True, each()))
    return (yield from _unit(d, tx, each()))  # the key read back belongs with its write


async def _upsert(d: SQLDriver, stmt: Upsert, tx: SQLTransaction | None) -> None:
    if not stmt.instances:
        return
    plan = d.compiler.plan(stmt.model)
    info = plan.info
    context = f"cannot upsert {stmt.model.__name__}"
    try:
        keys = await _run(d, tx, lambda: _upsert_op(d, tx, stmt), context, stmt.model)
    except errors.OmmiError as exc:
        if exc.__cause__ is not None and d.dialect.upsert_clash(exc.__cause__):
            clash = errors.IntegrityError(
                f"{d.errors.backend}: {context}: a stored {info.cls.__name__} already has one of its unique values"
            )
            clash.__cause__ = exc.__cause__
            exc = clash
        if isinstance(exc, errors.IntegrityError):  # the model, fields and kind, as an add's error has them
            on = tuple(f.info for f in stmt.on)
            raise await d._explain(exc, stmt.model, tx or d, stmt.instances, upsert_on=on) from exc.__cause__
        raise
    decoders = [d.dialect.decoder(f) for f in info.key]
    for m, key in zip(stmt.instances, keys, strict=True):
        if len(key) != len(info.key):
            continue  # the database did not say (MySQL without a generated key): the instance keeps its key
        for f, codec, stored in zip(info.key, decoders, key, strict=True):
            value = stored if codec is None or stored is None else codec(stored)
            if getattr(m, f.name) != value:
                info.set_value(m, f.name, value)


async def _raw(d: SQLDriver, stmt: Raw, tx: SQLTransaction | None) -> list[Any]:
    if not d.supports("raw"):
        raise errors.UnsupportedError(f"{type(d).__name__} cannot run native statements (no 'raw' capability)")
    if not isinstance(stmt.statement, str):
        raise errors.QueryError(f"raw() on {d.backend} takes SQL text, not {type(stmt.statement).__name__}")
    sql, params = stmt.statement, list(stmt.params)
    into = stmt.into
    context = "cannot run the raw statement"

    def op() -> Op[list[Any]]:
        def one() -> Op[tuple[list[str], list[Any]]]:
            names, rows = yield cmd.fetch_named(sql, params)
            return list(names), list(rows)

        names, rows = yield from _guarded(d, tx, True, one())
        if into is None:
            return [tuple(r) for r in rows]
        return _into(d, into, names, rows)

    return await _run(d, tx, op, context, into)


def _into(d: SQLDriver, model: type, names: Sequence[str], rows: Sequence[Any]) -> list[Any]:
    plan = d.compiler.plan(model)
    position = {name: i for i, name in enumerate(names)}
    missing = [f.column for f in plan.info.fields if f.column not in position]
    if missing:
        raise errors.QueryError(
            f"raw(into={model.__name__}): the statement returns no column named {', '.join(missing)} "
            f"(it returns {', '.join(names) or 'no columns'})"
        )
    order = [position[f.column] for f in plan.info.fields]
    return [plan.load([row[i] for i in order]) for row in rows]


async def _loaded(
    reader: _Reader, batches_of: Callable[[_Reader], AsyncGenerator[list[Any], None]]
) -> AsyncIterator[Any]:
    """A stream's rows, loaded one at a time from its batches."""
    load_rows = reader[2]
    async with contextlib.aclosing(batches_of(reader)) as batches:
        async for rows in batches:
            for item in load_rows(rows):
                yield item


async def _loaded_batches(
    load_rows: _LoadRows, batches_of: AsyncGenerator[list[Any], None]
) -> AsyncIterator[list[Any]]:
    """A stream's rows, loaded a batch at a time (``stream_batches``); no empty batch."""
    async with contextlib.aclosing(batches_of) as batches:
        async for rows in batches:
            if rows:
                yield list(load_rows(rows))


async def _batches(
    d: SQLDriver, link: Link, reader: _Reader, lock: _Turns | None = None, size: int | None = None
) -> AsyncGenerator[list[Any], None]:
    """A stream's rows, a batch at a time: the caller loads each row as it hands it on
    (``async for``), or the whole batch when it hands over batches (``stream_batches``).

    For ``async for``, one row at a time, not a batch of instances: an async generator
    layer per row costs more than the loading, and instances made only when asked for
    die young (a batch of them would survive garbage collections).

    Callers close it with ``contextlib.aclosing``: an ``async for`` left early
    does not close what it iterates, and the generator would then be closed
    by asyncio's finalizer in a task of its own, later. Its cursor would be
    closed after the read transaction's rollback, or at the same time on the
    same connection: two tasks reading one MariaDB socket, one of them waiting
    forever, its read transaction left open with a metadata lock that blocks
    every later ``DROP TABLE`` of the table.
    """
    sql, params, _, context, model = reader
    n = size or d.stream_batch  # rows per fetch: the caller's batch size for stream_batches()
    guard = lock or _NO_LOCK
    async with guard:
        watch = cancel_watch()
        try:
            stream = await link.open_stream(sql, params)
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise d._failure(exc, context, model, watch) from exc
    try:
        while True:
            async with guard:
                watch = cancel_watch()
                try:
                    batch = await link.fetch(stream, n)
                except errors.OmmiError:
                    raise
                except Exception as exc:
                    raise d._failure(exc, context, model, watch) from exc
            yield batch
            if stream.done:
                break
    except GeneratorExit:
        if lock is None and not stream.done:
            # left early, on a connection of its own: where closing the cursor reads the
            # rest of the result (MariaDB: 0.3 ms per 1,000 rows here, against 0.5 ms to open
            # a connection), the connection is given up instead
            link.abandon()
        raise
    finally:
        if not stream.done and link.usable:
            async with guard:
                await link.close_stream(stream)


class _NoLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LOCK: Any = _NoLock()


# ---------------------------------------------------------------------------
# blocking libraries: one worker thread per connection


def _open_stream(held: Held, sql: str, params: Sequence[Any], backend: str) -> Stream:
    log_statement(backend, sql)
    if held.streams and held.drain:
        from ommi.sql._connection import _drain

        _drain(held)
    stream = Stream(held.conn.cursor(sql, params))
    if held.drain:
        held.streams.append(stream)
    return stream


def _fetch_batch(held: Held, stream: Stream, n: int) -> list[Any]:
    if stream.buffer is not None:
        buf = stream.buffer
        rows: list[Any] = [buf.popleft() for _ in range(min(n, len(buf)))]
        stream.done = not buf
        return rows
    rows = held.conn.fetchmany(stream.cursor, n)
    if len(rows) < n:
        stream.done = True
        if stream in held.streams:
            held.streams.remove(stream)
        held.conn.close_cursor(stream.cursor)
    return rows


def _close_stream(held: Held, stream: Stream) -> None:
    if stream in held.streams:
        held.streams.remove(stream)
    if stream.buffer is None:
        held.conn.close_cursor(stream.cursor)
    stream.done = True


def _drive_on(worker: ThreadWorker[Held], op: Op[T], backend: str, trace: Trace) -> Awaitable[T]:
    """Run an operation on a worker thread's connection, started on the caller's thread.

    An operation's work before its first command (dumping and checking the
    instances it writes) runs here, where the instances were made: reading them
    from the worker thread, on another core, cost more than the dumping itself
    (SQLite, loading 1,000 instances and saving them: 1.08-1.17x aiosqlite's time
    instead of 1.17-1.23x, in alternating runs). An operation that needs no
    command never goes to the worker.

    Not a coroutine itself: it starts the operation when called and returns the
    worker's call to await (no coroutine frame between each statement and its
    caller); a failure before the first command is raised by the call. (The
    worker's own errors are ommi's already, so ``submit`` translating nothing
    loses nothing: the callers map the database's errors with their context.)
    """
    try:
        first = op.send(None)
    except StopIteration as stop:
        return _at_once(stop.value)
    return worker.submit(drive, op, backend, trace, first)


async def _at_once(value: T) -> T:
    return value


class _ThreadLink(Link):
    def __init__(self, driver: BlockingSQLDriver, worker: ThreadWorker[Held]) -> None:
        self.driver = driver
        self.worker = worker
        self.backend = driver.backend

    def run(self, op: Op[T], trace: Trace) -> Awaitable[T]:
        return _drive_on(self.worker, op, self.backend, trace)

    async def open_stream(self, sql: str, params: Sequence[Any]) -> Stream:
        return await self.worker.call(_open_stream, sql, params, self.driver.backend)

    async def fetch(self, stream: Stream, n: int) -> list[Any]:
        return await self.worker.call(_fetch_batch, stream, n)

    async def close_stream(self, stream: Stream) -> None:
        await self.worker.call(_close_stream, stream)

    async def release(self, reusable: bool) -> None:
        await self.driver._put_back(self.worker, reusable)

    @property
    def usable(self) -> bool:
        return self.worker.alive


class BlockingSQLDriver(SQLDriver):
    """A SQL driver over a blocking library: each connection lives in a worker thread.

    Work outside transactions runs on one connection; each transaction and
    each stream takes a connection of its own from a small pool of idle ones.
    Subclasses implement :meth:`open_connection` (called on the worker's
    thread) and :meth:`connection_closed_message`.
    """

    max_idle: ClassVar[int] = 4
    """Idle connections kept for the next transaction or stream; more are closed."""

    def __init__(self) -> None:
        super().__init__()
        self._worker = self._new_worker()
        self._idle: list[ThreadWorker[Held]] = []
        self._all: set[ThreadWorker[Held]] = {self._worker}
        self._closed = False

    @abc.abstractmethod
    def open_connection(self) -> Connection:
        """Open one native connection (on the worker thread that will own it)."""

    def connection_closed_message(self) -> str:
        """The ``ConnectionFailed`` message for work after :meth:`close`."""
        return f"the {self.backend} database has been closed"

    def _new_worker(self) -> ThreadWorker[Held]:
        drain = self.dialect.cursors_see_later_writes
        return ThreadWorker(
            lambda: Held(self.open_connection(), drain),
            close=lambda held: held.conn.close(),
            translate=lambda exc: None,  # translated with its context by SQLDriver._on
            name=f"ommi-{self.backend}",
            closed_message=self.connection_closed_message(),
            interrupt=lambda held: held.conn.interrupt(),
        )

    async def _autocommit(
        self, make: Callable[[], Op[T]], context: str, model: type | None, *, read: bool = False
    ) -> T:
        # the hot path of every statement outside a transaction: straight to the worker
        watch = cancel_watch()
        try:
            return await _drive_on(self._worker, make(), self.dialect.name, Trace())
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise self._failure(exc, context, model, watch) from exc

    async def _read_rows(self, sql: str, params: Sequence[Any], context: str, model: type | None) -> list[Any]:
        # one statement, sent as it is: no operation to drive on either thread
        watch = cancel_watch()
        try:
            return await self._worker.submit(fetch_rows, sql, params, self.dialect.name)
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise self._failure(exc, context, model, watch) from exc

    async def _link(self) -> Link:
        if self._closed or not self._worker.alive:
            raise errors.ConnectionFailed(self.connection_closed_message())
        worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = self._new_worker()
            self._all.add(worker)
        return _ThreadLink(self, worker)

    async def _put_back(self, worker: ThreadWorker[Held], reusable: bool) -> None:
        if reusable and worker.alive and not self._closed and len(self._idle) < self.max_idle:
            self._idle.append(worker)
            return
        self._all.discard(worker)
        await worker.stop()

    async def run_on_connection(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(adapter)`` on the main connection's thread (for setup and schema queries)."""
        return await self._worker.call(lambda held: fn(held.conn))

    async def close(self) -> None:
        self._closed = True
        for worker in list(self._all):
            await worker.stop()
        self._all.clear()
        self._idle.clear()

    def close_now(self, timeout: float = 2.0) -> None:
        """Close without an event loop (for drivers still open at interpreter exit)."""
        self._closed = True
        for worker in list(self._all):
            worker.stop_now(timeout)
        self._all.clear()
        self._idle.clear()


# ---------------------------------------------------------------------------
# asyncio libraries: a pool of connections


class _AsyncLink(Link):
    def __init__(self, driver: AsyncSQLDriver, held: Held) -> None:
        self.driver = driver
        self.held = held
        self.abandoned = False
        self.backend = driver.backend

    def run(self, op: Op[T], trace: Trace) -> Awaitable[T]:
        return drive_async(self.held, op, self.backend, trace)  # (no coroutine frame of its own)

    async def open_stream(self, sql: str, params: Sequence[Any]) -> Stream:
        held = self.held
        log_statement(self.driver.backend, sql)
        if held.streams and held.drain:
            from ommi.sql._connection import _drain_async

            await _drain_async(held)
        stream = Stream(await held.conn.cursor(sql, params))
        if held.drain:
            held.streams.append(stream)
        return stream

    async def fetch(self, stream: Stream, n: int) -> list[Any]:
        held = self.held
        if stream.buffer is not None:
            buf = stream.buffer
            rows: list[Any] = [buf.popleft() for _ in range(min(n, len(buf)))]
            stream.done = not buf
            return rows
        rows = await held.conn.fetchmany(stream.cursor, n)
        if len(rows) < n:
            stream.done = True
            if stream in held.streams:
                held.streams.remove(stream)
            await held.conn.close_cursor(stream.cursor)
        return rows

    async def close_stream(self, stream: Stream) -> None:
        held = self.held
        if stream in held.streams:
            held.streams.remove(stream)
        if stream.buffer is None:
            await held.conn.close_cursor(stream.cursor)
        stream.done = True

    async def release(self, reusable: bool) -> None:
        await self.driver.give_back(self.held.conn, reusable)

    def abandon(self) -> None:
        if self.held.conn.closing_a_cursor_reads_the_rest:
            self.abandoned = True

    @property
    def usable(self) -> bool:
        return not self.abandoned and self.driver.connection_usable(self.held.conn)


class AsyncSQLDriver(SQLDriver):
    """A SQL driver over an asyncio library with a connection pool.

    Work outside transactions borrows a pooled connection per operation
    (reads are retried once on a fresh connection when a pooled one turns out
    to have been dropped by the server); each transaction and stream holds
    one until it ends. Subclasses implement the pool methods below.

    Between operations one idle connection is kept aside (the *spare*)
    instead of going back to the library's pool, when the driver says it is
    idle (:meth:`connection_idle`) and no operation waits for the pool: the
    next operation takes it without the pool's acquire and release, which on
    asyncpg cost as much as a small query. It goes back to the pool after
    ``spare_seconds`` unused, once every ``spare_uses`` operations (so the
    pool's own policies, such as recycling, still apply) and at
    :meth:`close`. A driver whose connections cache anything about the
    schema clears it on the spare too in :meth:`schema_changed`.
    """

    _pool: Any = None
    """The library's pool once connected (``None`` before :meth:`connect` and after :meth:`close`)."""
    _closed: bool = False
    url: URL
    _spare: AsyncConnection | None = None
    _spare_since = 0.0
    _spare_left = 0
    _waiting = 0
    spare_seconds: ClassVar[float] = 10.0
    """How long the spare connection may stay unused before it goes back to the pool."""
    spare_uses: ClassVar[int] = 1000
    """Operations the spare serves before it goes back to the pool once."""

    @staticmethod
    def check_pool_sizes(backend: str, min_size: int, max_size: int) -> None:
        """Refuse pool sizes no pool can have (``ConnectionFailed``, as for a bad URL)."""
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise errors.ConnectionFailed(
                f"{backend} pool sizes need 0 <= min_size <= max_size and max_size >= 1, "
                f"got min_size={min_size}, max_size={max_size}"
            )

    def connection_failed(self, exc: BaseException, where: str) -> errors.ConnectionFailed:
        """A failure to connect, as ``ConnectionFailed`` whatever the library raised."""
        mapped = self._translate(exc, where)
        if isinstance(mapped, errors.ConnectionFailed):
            return mapped
        return errors.ConnectionFailed(str(mapped))

    async def acquire_connection(self) -> AsyncConnection:
        """A connection from the pool (``ConnectionFailed`` when none can be had)."""
        spare = self._spare
        if spare is not None:
            self._spare = None
            if time.monotonic() - self._spare_since < self.spare_seconds and self.connection_usable(spare):
                return spare
            await self.release_connection(spare, self.connection_usable(spare))
        pool = self._pool
        if pool is None:
            backend = self.errors.backend
            raise errors.ConnectionFailed(
                f"this {backend} driver has been closed" if self._closed else f"the {backend} driver is not connected"
            )
        task, before = cancel_watch()
        self._waiting += 1
        try:
            conn = await self.take_from_pool(pool)
        except Exception as exc:
            raise self.connection_failed(exc, f"cannot connect to {self.url.render()}") from exc
        finally:
            self._waiting -= 1
        if cancelled_since(task, before):
            # cancelled while the library opened the connection, and it swallowed the
            # cancellation (see raise_swallowed_cancel): hand the connection back, then raise
            await self.release_connection(conn, True)
            raise asyncio.CancelledError
        return conn

    async def give_back(self, conn: AsyncConnection, reusable: bool) -> None:
        """Hand a connection back after an operation: kept as the spare, or returned to the pool."""
        if (
            reusable and self._spare is None and not self._waiting and self._pool is not None
            and self.connection_idle(conn)
        ):
            if self._spare_left > 0:
                self._spare_left -= 1
                self._spare = conn
                self._spare_since = time.monotonic()
                return
            self._spare_left = self.spare_uses  # this time through the pool: the next one is kept
        await self.release_connection(conn, reusable)

    async def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            await self.release_connection(spare, self.connection_usable(spare))

    def connection_idle(self, conn: AsyncConnection) -> bool:
        """Whether a connection has nothing open on it (no transaction), so it may be kept as the spare.

        The default, ``False``, returns every connection to the library's pool.
        """
        return False


    @abc.abstractmethod
    async def take_from_pool(self, pool: Any) -> AsyncConnection:
        """Borrow a native connection from the library's pool, wrapped in the driver's adapter."""

    @abc.abstractmethod
    async def close_pool(self, pool: Any) -> None:
        """Close the library's pool, whatever connections the program abandoned."""

    async def close(self) -> None:
        self._closed = True
        await self._drop_spare()  # the pool waits for every connection it lent
        pool, self._pool = self._pool, None
        if pool is not None:
            await self.close_pool(pool)

    @abc.abstractmethod
    async def release_connection(self, conn: AsyncConnection, reusable: bool) -> None:
        """Return a connection to the pool, or drop it when not ``reusable``."""

    def connection_usable(self, conn: AsyncConnection) -> bool:
        """Whether a connection can still run statements."""
        return True

    def connection_lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection died (a read may then be retried on another)."""
        return False

    def reusable_after(self, exc: BaseException) -> bool:
        """Whether a connection may go back to the pool after ``exc`` (a hook for libraries left in a bad state)."""
        return True

    async def _link(self) -> Link:
        return _AsyncLink(self, Held(await self.acquire_connection(), self.dialect.cursors_see_later_writes))

    def _autocommit(
        self, make: Callable[[], Op[T]], context: str, model: type | None, *, read: bool = False
    ) -> Coroutine[Any, Any, T]:
        return self._borrowing(make, None, context, model, read)

    def _read_rows(self, sql: str, params: Sequence[Any], context: str, model: type | None) -> Awaitable[list[Any]]:
        # one statement, sent as it is: no operation to drive
        return self._borrowing(None, (sql, params), context, model, True)

    async def _borrowing(
        self, make: Callable[[], Op[T]] | None, query: tuple[str, Sequence[Any]] | None,
        context: str, model: type | None, read: bool,
    ) -> T:
        """:meth:`_autocommit` of ``make()``, or (``make`` is ``None``) the rows of one ``query``."""
        for attempt in (1, 2):
            conn = await self.acquire_connection()
            reusable = True
            done = False
            watch = cancel_watch()
            try:
                if make is not None:
                    result = await drive_async(Held(conn, False), make(), self.backend, Trace())
                else:
                    assert query is not None
                    log_statement(self.backend, query[0])
                    result = cast("T", await conn.fetchall(*query))
                done = True
            except errors.OmmiError:
                raise
            except Exception as exc:
                reusable = self.reusable_after(exc)
                if read and attempt == 1 and self.connection_lost(exc):
                    continue  # an idle pooled connection the server had dropped: reads are safe to repeat
                raise self._failure(exc, context, model, watch) from exc
            except BaseException:
                reusable = False  # cancelled mid-statement: the connection's state is unknown
                raise
            finally:
                if not done:  # failed or interrupted (cancelled, say): back through the pool, which checks it
                    await self.release_connection(conn, reusable and self.connection_usable(conn))
            # (give_back keeps it as the spare only if connection_idle() says so, which
            # looks at the connection anyway; the pool checks what it takes back)
            await self.give_back(conn, True)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

