"""SQLite driver: the shared SQL compiler over the standard library's sqlite3.

Each connection lives in its own worker thread, so the event loop never
blocks. One user-level operation (an atomic bulk insert, a query plus turning
its rows into instances) is one trip into that thread: the trip costs far more
than a small SQLite statement, so work is batched per trip. (aiosqlite, the
usual bridge, makes one trip per cursor call and cannot run a multi-statement
unit atomically through its public API; this bridge is the same idea with
coarser trips.)

Transactions get their own connection so that work outside them never sees
their uncommitted writes. In-memory databases are therefore a private
temporary file (deleted on close) rather than ``:memory:``, which SQLite
cannot share between connections with normal isolation.
"""

from __future__ import annotations

import itertools
import operator
import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ommi import errors
from ommi.driver import (
    URL,
    Driver,
    DriverTransaction,
    FieldInfo,
    LiveColumn,
    LiveTable,
    ModelInfo,
    SchemaChange,
    ThreadWorker,
    log_statement,
)
from ommi.query import Aggregate, Delete, Insert, Save, Select, Update
from ommi.sql import ModelPlan, SQLCompiler, render_statement

from ._compiler import (
    DECIMAL_COLLATION,
    LIKE_FUNCTION,
    DecimalAvg,
    DecimalSum,
    IntAvg,
    SQLiteDialect,
    decimal_collation,
    like_match,
)

__all__ = ["SQLiteDriver"]

T = TypeVar("T")
_INT64_MAX = 2**63 - 1
_STREAM_BATCH = 500
_savepoint_ids = itertools.count(1)


def _worker(connect: Callable[[], sqlite3.Connection]) -> ThreadWorker[sqlite3.Connection]:
    return ThreadWorker(
        connect,
        close=sqlite3.Connection.close,
        translate=_translate_any,
        name="ommi-sqlite",
        closed_message="the SQLite database has been closed",
    )


def _translate_any(exc: BaseException) -> errors.OmmiError | None:
    if isinstance(exc, sqlite3.Error):
        return _translate(exc)
    if isinstance(exc, (OverflowError, ValueError, TypeError)):
        return errors.ValidationError(f"SQLite cannot store a value: {exc}")
    return None


def _translate(exc: sqlite3.Error, context: str = "") -> errors.OmmiError:
    msg = str(exc)
    prefix = f"{context}: " if context else ""
    if isinstance(exc, sqlite3.IntegrityError):
        return errors.IntegrityError(f"{prefix}{msg}")
    low = msg.lower()
    if "no such table" in low:
        return errors.SchemaError(f"{prefix}{msg} (create it with `await db.schema().create_models()`)")
    if "locked" in low or "busy" in low:
        return errors.TransactionError(f"{prefix}{msg}: another transaction holds the write lock")
    if "unable to open" in low or "closed database" in low or "disk i/o" in low:
        return errors.ConnectionFailed(f"{prefix}{msg}")
    return errors.QueryError(f"{prefix}{msg}")


# ---------------------------------------------------------------------------
# operations: each runs inside a worker thread, as one unit


def _begin_unit(conn: sqlite3.Connection, in_tx: bool) -> str:
    if in_tx:
        name = f"ommi_sp{next(_savepoint_ids)}"
        conn.execute(f"SAVEPOINT {name}")
        return name
    conn.execute("BEGIN IMMEDIATE")
    return ""


def _end_unit(conn: sqlite3.Connection, name: str, ok: bool) -> None:
    if name:
        if not ok:
            conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
    else:
        conn.execute("COMMIT" if ok else "ROLLBACK")


def _op_insert(conn: sqlite3.Connection, plan: ModelPlan, instances: Sequence[Any], in_tx: bool) -> None:
    ai = plan.auto_index
    given: list[tuple[Any, ...]] = []
    pending: list[Any] = []  # instances whose key the database generates
    pending_rows: list[tuple[Any, ...]] = []
    if ai is None:
        given = list(map(plan.dump, instances))
    else:
        assert plan.dump_auto is not None
        keys = list(map(operator.attrgetter(plan.info.fields[ai].name), instances))
        if keys.count(None) == len(keys):  # the usual case: every key generated
            pending, pending_rows = list(instances), list(map(plan.dump_auto, instances))
        else:
            for m, k in zip(instances, keys, strict=True):
                if k is None:
                    pending.append(m)
                    pending_rows.append(plan.dump_auto(m))
                else:
                    given.append(plan.dump(m))
    # every row is validated above, before anything is written
    generated: Sequence[int] = ()
    if len(instances) == 1:
        # one statement is atomic by itself, in or out of a transaction: no unit needed
        if given:
            conn.execute(plan.insert_all, given[0])
        else:
            assert plan.insert_auto is not None
            generated = (conn.execute(plan.insert_auto, pending_rows[0]).lastrowid or 0,)
            plan.info.write_values(plan.info.fields[ai].name, pending, generated)  # type: ignore[index]
        return
    unit = _begin_unit(conn, in_tx)
    try:
        if given:
            conn.executemany(plan.insert_all, given)
        if pending:
            assert plan.insert_auto is not None
            # SQLite gives a new rowid one larger than the largest present, so
            # a batch inserted under our write lock gets top+1 .. top+n.
            top = conn.execute(f"SELECT max(rowid) FROM {plan.table}").fetchone()[0] or 0
            if top + len(pending) < _INT64_MAX:
                conn.executemany(plan.insert_auto, pending_rows)
                generated = range(top + 1, top + 1 + len(pending))
            else:  # near the top of the range SQLite picks rowids at random
                generated = [conn.execute(plan.insert_auto, r).lastrowid or 0 for r in pending_rows]
    except BaseException:
        _end_unit(conn, unit, False)
        raise
    _end_unit(conn, unit, True)
    if pending:
        plan.info.write_values(plan.info.fields[ai].name, pending, generated)  # type: ignore[index]


def _op_save(conn: sqlite3.Connection, plan: ModelPlan, instances: Sequence[Any], in_tx: bool) -> int:
    if plan.save is None:
        raise errors.QueryError(f"{plan.info.cls.__name__} has no key, so instances cannot be saved")
    order = plan.save_order
    rows = []
    for m in instances:
        row = plan.dump(m)
        rows.append(tuple(row[i] for i in order))
    unit = _begin_unit(conn, in_tx)
    try:
        for m, row in zip(instances, rows, strict=True):
            if conn.execute(plan.save, row).rowcount != 1:
                raise errors.NotFound(
                    f"cannot save {plan.info.cls.__name__} with key {plan.info.key_of(m)!r}: no such row"
                )
    except BaseException:
        _end_unit(conn, unit, False)
        raise
    _end_unit(conn, unit, True)
    return len(rows)


def _op_fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any], load: Callable[[Any], Any]) -> list[Any]:
    return list(map(load, conn.execute(sql, params)))


def _op_scalar(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def _op_write(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    return conn.execute(sql, params).rowcount


def _op_script(conn: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]], in_tx: bool) -> None:
    unit = _begin_unit(conn, in_tx)
    try:
        for sql, params in statements:
            conn.execute(sql, params)
    except BaseException:
        _end_unit(conn, unit, False)
        raise
    _end_unit(conn, unit, True)


def _op_inspect(
    conn: sqlite3.Connection, names: Sequence[str], canonical: Callable[[str], str]
) -> dict[str, LiveTable | None]:
    out: dict[str, LiveTable | None] = {}
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
        if not info:
            out[name] = None
            continue
        # cid, name, type, notnull, default, pk (position in the key, 0 if not)
        columns = tuple(LiveColumn(row[1], canonical(row[2]), not row[3] and not row[5]) for row in info)
        key = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        unique: set[tuple[str, ...]] = set()
        indexes: set[tuple[str, ...]] = set()
        for _seq, index, is_unique, origin, _partial in conn.execute(f"PRAGMA index_list({quoted})").fetchall():
            if origin == "pk":
                continue
            qi = '"' + index.replace('"', '""') + '"'
            cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({qi})").fetchall())
            (unique if is_unique else indexes).add(cols)
        out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
    return out


def _op_exec(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql)


def _op_open_cursor(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
    return conn.execute(sql, params)


def _op_fetch_batch(conn: sqlite3.Connection, cur: sqlite3.Cursor, load: Callable[[Any], Any]) -> list[Any]:
    return list(map(load, cur.fetchmany(_STREAM_BATCH)))


def _op_close_cursor(conn: sqlite3.Connection, cur: sqlite3.Cursor) -> None:
    cur.close()


class _Ops:
    """The statement methods, run on one worker (the driver's or a transaction's)."""

    _worker: ThreadWorker[sqlite3.Connection]
    _compiler: SQLCompiler
    _in_tx: bool

    async def insert(self, stmt: Insert) -> None:
        plan = self._compiler.plan(stmt.model)
        log_statement("sqlite", plan.insert_all)
        await self._worker.call(_op_insert, plan, stmt.instances, self._in_tx)

    async def save(self, stmt: Save) -> int:
        plan = self._compiler.plan(stmt.model)
        log_statement("sqlite", plan.save or "")
        return await self._worker.call(_op_save, plan, stmt.instances, self._in_tx)

    async def select(self, stmt: Select) -> list[Any]:
        sql, params = self._compiler.select(stmt)
        log_statement("sqlite", sql)
        return await self._worker.call(_op_fetch, sql, params, self._compiler.plan(stmt.model).load)

    async def stream(self, stmt: Select) -> AsyncIterator[Any]:
        sql, params = self._compiler.select(stmt)
        log_statement("sqlite", sql)
        load = self._compiler.plan(stmt.model).load
        worker = self._worker
        cur = await worker.call(_op_open_cursor, sql, params)
        try:
            while True:
                batch = await worker.call(_op_fetch_batch, cur, load)
                for item in batch:
                    yield item
                if len(batch) < _STREAM_BATCH:
                    break
        finally:
            if not worker.closed:
                await worker.call(_op_close_cursor, cur)

    async def count(self, stmt: Select) -> int:
        sql, params = self._compiler.count(stmt)
        log_statement("sqlite", sql)
        return int(await self._worker.call(_op_scalar, sql, params))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        sql, params, decode = self._compiler.aggregate(stmt)
        log_statement("sqlite", sql)
        return await self._worker.call(_op_fetch, sql, params, decode)

    async def update(self, stmt: Update) -> int:
        sql, params = self._compiler.update(stmt)
        log_statement("sqlite", sql)
        return await self._worker.call(_op_write, sql, params)

    async def delete(self, stmt: Delete) -> int:
        sql, params = self._compiler.delete(stmt)
        log_statement("sqlite", sql)
        return await self._worker.call(_op_write, sql, params)


class SQLiteDriver(_Ops, Driver):
    """SQLite through the standard library, off the event loop.

    Args:
        path: a database file, or ``":memory:"`` for a private temporary
            database that disappears on close.
        timeout: seconds to wait for another connection's write lock.
        journal_mode: SQLite journal mode for files (default ``"wal"``, which
            lets readers run beside a writer).
    """

    capabilities = frozenset(
        {
            "transactions",
            "savepoints",
            "foreign_keys",
            "concurrent_transactions",
            "schema_evolution",
            "transactional_schema",
        }
    )
    schemes = ("sqlite",)

    def __init__(self, path: str = ":memory:", *, timeout: float = 5.0, journal_mode: str = "wal") -> None:
        self.path = path
        self.memory = path in ("", ":memory:")
        self.timeout = float(timeout)
        self.journal_mode = journal_mode
        self._compiler = SQLCompiler(SQLiteDialect())
        self._in_tx = False
        self._tmpdir: str | None = None
        self._file = path
        self._worker = _worker(self._open)
        self._idle: list[ThreadWorker[sqlite3.Connection]] = []
        self._all: set[ThreadWorker[sqlite3.Connection]] = {self._worker}
        self._connected = False

    def __repr__(self) -> str:
        return f"SQLiteDriver({':memory:' if self.memory else self.path!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> SQLiteDriver:
        """``sqlite://`` or ``sqlite:///:memory:`` (memory), ``sqlite:///rel.db``, ``sqlite:////abs.db``."""
        if url.host:
            raise errors.ConnectionFailed(
                f"SQLite URLs name a file, not a host ({url}): use sqlite:///relative.db or sqlite:////absolute.db"
            )
        path = url.path[1:] if url.path.startswith("/") else url.path
        merged: dict[str, Any] = dict(url.query)
        merged.update(options)
        if "timeout" in merged:
            merged["timeout"] = float(merged["timeout"])
        unknown = set(merged) - {"timeout", "journal_mode"}
        if unknown:
            raise errors.ConnectionFailed(f"unknown SQLite option(s): {', '.join(sorted(unknown))}")
        return cls(path or ":memory:", **merged)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False, timeout=self.timeout)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_collation(DECIMAL_COLLATION, decimal_collation)
        conn.create_aggregate("ommi_dsum", 1, DecimalSum)  # type: ignore[arg-type]
        conn.create_aggregate("ommi_davg", 1, DecimalAvg)  # type: ignore[arg-type]
        conn.create_aggregate("ommi_iavg", 1, IntAvg)  # type: ignore[arg-type]
        conn.create_function(LIKE_FUNCTION, 2, like_match, deterministic=True)
        if self.memory:
            conn.execute("PRAGMA synchronous = OFF")
        return conn

    async def connect(self) -> None:
        if self._connected:
            return
        if self.memory:
            self._tmpdir = tempfile.mkdtemp(prefix="ommi-sqlite-")
            self._file = os.path.join(self._tmpdir, "memory.db")
        mode = "wal" if self.memory else self.journal_mode

        def setup(conn: sqlite3.Connection) -> None:
            conn.execute(f"PRAGMA journal_mode = {mode}")

        try:
            await self._worker.call(setup)
        except errors.OmmiError as exc:
            await self.close()
            raise errors.ConnectionFailed(f"cannot open SQLite database {self.path!r}: {exc}") from exc.__cause__
        self._connected = True

    async def close(self) -> None:
        for worker in list(self._all):
            await worker.stop()
        self._all.clear()
        self._idle.clear()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def begin(self) -> DriverTransaction:
        if self._worker.closed:
            raise errors.ConnectionFailed("the SQLite database has been closed")
        worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _worker(self._open)
            self._all.add(worker)
        try:
            await worker.call(_op_exec, "BEGIN IMMEDIATE")
        except BaseException:
            await worker.stop()
            self._all.discard(worker)
            raise
        return _SQLiteTransaction(self, worker)

    def _release(self, worker: ThreadWorker[sqlite3.Connection]) -> None:
        if not worker.closed and not self._worker.closed:
            self._idle.append(worker)

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        statements = [(sql, ()) for info in models for sql in self._compiler.create_table(info)]
        await self._worker.call(_op_script, statements, False)

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        await self._worker.call(_op_script, [(self._compiler.drop_table(i), ()) for i in models], False)

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def expected_type(self, field: FieldInfo) -> str | None:
        return self._compiler.expected_type(field)

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        dialect = self._compiler.dialect
        names = [m.name for m in models]
        return await self._worker.call(_op_inspect, names, dialect.canonical_type)

    def _change_statements(self, changes: Sequence[SchemaChange]) -> list[tuple[str, tuple[Any, ...]]]:
        statements = [st for change in changes for st in self._compiler.schema_change(change)]
        for sql, _ in statements:
            log_statement("sqlite", sql)
        return statements

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        await self._worker.call(_op_script, self._change_statements(changes), False)

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        compile_change = self._compiler.schema_change
        return [render_statement(sql, params) for change in changes for sql, params in compile_change(change)]


class _SQLiteTransaction(_Ops, DriverTransaction):
    def __init__(self, driver: SQLiteDriver, worker: ThreadWorker[sqlite3.Connection], savepoint: str = "") -> None:
        self._driver = driver
        self._worker = worker
        self._compiler = driver._compiler
        self._in_tx = True
        self._savepoint = savepoint

    async def commit(self) -> None:
        if self._savepoint:
            await self._worker.call(_op_exec, f"RELEASE {self._savepoint}")
            return
        try:
            await self._worker.call(_op_exec, "COMMIT")
        except errors.OmmiError:
            await self._worker.call(_op_exec, "ROLLBACK")
            self._driver._release(self._worker)
            raise
        self._driver._release(self._worker)

    async def rollback(self) -> None:
        if self._savepoint:
            await self._worker.call(_op_exec, f"ROLLBACK TO {self._savepoint}")
            await self._worker.call(_op_exec, f"RELEASE {self._savepoint}")
            return
        try:
            await self._worker.call(_op_exec, "ROLLBACK")
        finally:
            self._driver._release(self._worker)

    async def savepoint(self) -> DriverTransaction:
        name = f"ommi_sp{next(_savepoint_ids)}"
        await self._worker.call(_op_exec, f"SAVEPOINT {name}")
        return _SQLiteTransaction(self._driver, self._worker, name)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        # inside a savepoint: a change that fails midway leaves the transaction as it was
        await self._worker.call(_op_script, self._driver._change_statements(changes), True)
