"""DuckDB driver: the shared SQL compiler over DuckDB's synchronous Python API.

DuckDB refuses concurrent calls on one connection object, but any number of
cursors (each a connection of its own to the same database) may work at once
from different threads. So every worker thread here owns one cursor: the
driver's autocommit work runs in one worker, each transaction in a worker of
its own, and the event loop never blocks. One user-level operation (a bulk
insert with its key reservation, a query plus turning its rows into
instances) is one trip into the worker.

Bulk inserts bind one list per column and insert ``SELECT unnest(?), ...``:
DuckDB converts a Python list in one step, while ``executemany`` and wide
multi-row ``VALUES`` pay DuckDB's per-parameter cost (20 to 300 times slower
for 10,000 rows). A single statement is also atomic on its own.

DuckDB has no savepoints, and a failed statement aborts the whole
transaction. So that a failed ``add()`` inside a transaction leaves the
transaction usable (as it does on the other backends), inserts inside a
transaction check keys and unique fields first and raise ``IntegrityError``
before DuckDB would have to reject the statement.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb

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
)
from ommi.query import Aggregate, Delete, Insert, Save, Select, Update
from ommi.sql import ModelPlan, SQLCompiler, render_statement

from ._compiler import DuckDBDialect, sequence_name

__all__ = ["DuckDBDriver"]

T = TypeVar("T")
_INT64_MAX = 2**63 - 1
_STREAM_BATCH = 1000
_Cursor = duckdb.DuckDBPyConnection


def _translate(exc: duckdb.Error) -> errors.OmmiError:
    msg = str(exc)
    if isinstance(exc, duckdb.ConstraintException):
        return errors.IntegrityError(msg)
    if isinstance(exc, duckdb.CatalogException):
        # the first line says what is missing; DuckDB's "Did you mean" guesses mislead
        first = msg.split("\n", 1)[0]
        if "does not exist" in first:
            return errors.SchemaError(f"{first} (create it with `await db.schema().create_models()`)")
        return errors.SchemaError(first)
    if isinstance(exc, duckdb.TransactionException):
        return errors.TransactionError(msg)
    if isinstance(exc, duckdb.IOException | duckdb.ConnectionException):
        return errors.ConnectionFailed(msg)
    return errors.QueryError(msg)


# ---------------------------------------------------------------------------
# worker threads


@dataclass(eq=False)
class _Stream:
    """An open result being read in batches."""

    cur: _Cursor
    own: bool  # a cursor of its own (autocommit) or the transaction's cursor
    buffer: collections.deque[Any] | None = None  # rows drained early (see _claim)
    done: bool = False


@dataclass(eq=False)
class _Conn:
    """What one worker thread owns: a cursor, and the stream open on it, if any."""

    cur: _Cursor
    stream: _Stream | None = None


def _claim(conn: _Conn) -> _Cursor:
    # A new statement on a cursor discards the result still being streamed from
    # it. Inside a transaction a stream must use the transaction's cursor (to see
    # its writes), so a statement run while one is open first drains the rest.
    st = conn.stream
    if st is not None:
        st.buffer = collections.deque(st.cur.fetchall())
        conn.stream = None
    return conn.cur


def _worker(open_cursor: Callable[[], _Cursor]) -> ThreadWorker[_Conn]:
    return ThreadWorker(
        lambda: _Conn(open_cursor()),
        close=_close_conn,
        translate=_translate_any,
        name="ommi-duckdb",
        closed_message="the DuckDB database has been closed",
    )


def _close_conn(conn: _Conn) -> None:
    conn.cur.close()


def _translate_any(exc: BaseException) -> errors.OmmiError | None:
    if isinstance(exc, duckdb.Error):
        return _translate(exc)
    if isinstance(exc, (OverflowError, ValueError, TypeError)):
        return errors.ValidationError(f"DuckDB cannot store a value: {exc}")
    return None


class _Keys:
    """Reserves ``Auto`` keys from each table's sequence, keeping it above every stored key.

    DuckDB sequences ignore transactions, so concurrent transactions never draw
    the same key. Sequence calls go through one cursor of their own, outside
    any transaction, under a lock shared by all of the driver's threads.
    """

    def __init__(self, open_cursor: Callable[[], _Cursor]) -> None:
        self._open_cursor = open_cursor
        self._lock = threading.Lock()
        self._cur: _Cursor | None = None
        self._synced: set[str] = set()

    def reserve(self, plan: ModelPlan, n: int, max_given: int | None) -> int:
        """Reserve ``n`` consecutive keys above ``max_given``; return the first."""
        info = plan.info
        key = info.auto_key
        assert key is not None
        seq = "'" + sequence_name(info.name).replace("'", "''") + "'"
        with self._lock:
            cur = self._cur
            if cur is None:
                cur = self._cur = self._open_cursor()
            floor = max_given
            if info.name not in self._synced:
                # keys stored before this driver drew any (another program, an old file)
                col = DuckDBDialect().quote(key.column)
                row = cur.execute(f"SELECT max({col}) FROM {plan.table}").fetchone()
                top = row[0] if row else None
                if top is not None and (floor is None or top > floor):
                    floor = top
                self._synced.add(info.name)
            row = cur.execute(f"SELECT nextval({seq})").fetchone()
            assert row is not None
            start = int(row[0])
            if floor is not None and floor >= start:
                start = floor + 1
            last = start + n - 1 if n else start
            if last > _INT64_MAX:
                raise errors.IntegrityError(f"no generated keys left for {info.cls.__name__} (64-bit range used up)")
            if last > int(row[0]):
                cur.execute(f"SELECT setval({seq}, ?)", [last])
            return start

    def forget(self, tables: Sequence[str]) -> None:
        """The tables were dropped: read their largest key again on next use."""
        with self._lock:
            self._synced.difference_update(tables)

    def close(self) -> None:
        with self._lock:
            if self._cur is not None:
                self._cur.close()
                self._cur = None


# ---------------------------------------------------------------------------
# operations: each runs inside a worker thread, as one unit


@dataclass(eq=False)
class _Insert:
    """Per-model insert statements and constraint checks, built once."""

    plan: ModelPlan
    bulk: str
    checks: list[tuple[str, list[int], str]] = field(default_factory=list)
    """``(sql, field indexes, what)``: each query counts rows that would clash."""


def _build_insert(compiler: SQLCompiler, plan: ModelPlan) -> _Insert:
    d = compiler.dialect
    q = d.quote
    info = plan.info
    cols = ", ".join(q(f.column) for f in info.fields)
    unnest = ", ".join(f"unnest(?::{d.column_type(f)}[])" for f in info.fields)
    out = _Insert(plan, f"INSERT INTO {plan.table} ({cols}) SELECT {unnest}")
    groups: list[list[FieldInfo]] = []
    if info.key:
        groups.append(list(info.key))
    groups += [[f] for f in info.fields if f.unique and not (f.key and len(info.key) == 1)]
    for group in groups:
        names = [f"k{i}" for i in range(len(group))]
        values = ", ".join(f"unnest(?::{d.column_type(f)}[]) AS {n}" for f, n in zip(group, names, strict=True))
        on = " AND ".join(f"t.{q(f.column)} = v.{n}" for f, n in zip(group, names, strict=True))
        sql = f"SELECT count(*) FROM {plan.table} AS t JOIN (SELECT {values}) AS v ON {on}"
        what = ", ".join(f.name for f in group)
        out.checks.append((sql, [info.fields.index(f) for f in group], what))
    return out


def _check_constraints(cur: _Cursor, ins: _Insert, rows: Sequence[tuple[Any, ...]]) -> None:
    # ``rows`` hold None where a key is still to be generated, so the key check
    # sees only user-chosen keys (reserved ones are new).
    info = ins.plan.info
    name = info.cls.__name__
    for sql, idx, what in ins.checks:
        picked = [p for p in (tuple(r[i] for i in idx) for r in rows) if None not in p]
        if not picked:
            continue
        if len(set(picked)) != len(picked):
            raise errors.IntegrityError(f"duplicate {what} within the {name} instances being added")
        row = cur.execute(sql, [list(col) for col in zip(*picked, strict=True)]).fetchone()
        if row and row[0]:
            raise errors.IntegrityError(f"duplicate {what}: a stored {name} already has it")


def _op_insert(conn: _Conn, ins: _Insert, keys: _Keys, instances: Sequence[Any], in_tx: bool) -> list[tuple[Any, int]]:
    plan = ins.plan
    cur = _claim(conn)
    dump = plan.dump
    rows = [dump(m) for m in instances]  # validates everything before any write
    ai = plan.auto_index
    generated: list[tuple[Any, int]] = []
    key_column: list[Any] | None = None
    if ai is not None:
        key_column = [r[ai] for r in rows]
        given = [k for k in key_column if k is not None]
        missing = len(key_column) - len(given)
        if missing or given:
            # even with no key to generate, user keys push the sequence past them
            key = keys.reserve(plan, missing, max(given) if given else None)
            if missing:
                for i, k in enumerate(key_column):
                    if k is None:
                        key_column[i] = key
                        generated.append((instances[i], key))
                        key += 1
    if in_tx:
        _check_constraints(cur, ins, rows)
    if len(rows) == 1:
        row = rows[0]
        if key_column is not None and ai is not None:
            row = (*row[:ai], key_column[0], *row[ai + 1 :])
        cur.execute(plan.insert_all, row)
    else:
        columns = [list(col) for col in zip(*rows, strict=True)]
        if key_column is not None and ai is not None:
            columns[ai] = key_column
        cur.execute(ins.bulk, columns)
    return generated


def _op_save(conn: _Conn, ins: _Insert, instances: Sequence[Any], in_tx: bool) -> int:
    plan = ins.plan
    info = plan.info
    if plan.save is None:
        raise errors.QueryError(f"{info.cls.__name__} has no key, so instances cannot be saved")
    cur = _claim(conn)
    order = plan.save_order
    rows = []
    for m in instances:
        row = plan.dump(m)
        rows.append(tuple(row[i] for i in order))
    if in_tx and len(rows) > 1:
        # No savepoint can undo the rows written before a missing one: look first.
        nkey = len(info.key)
        keys = list(dict.fromkeys(r[-nkey:] for r in rows))
        sql = ins.checks[0][0]  # counts stored rows having one of the keys
        found = cur.execute(sql, [list(col) for col in zip(*keys, strict=True)]).fetchone()
        if not found or found[0] != len(keys):
            for key in keys:
                one = cur.execute(sql, [[v] for v in key]).fetchone()
                if not one or not one[0]:
                    shown = key[0] if nkey == 1 else key
                    raise errors.NotFound(f"cannot save {info.cls.__name__} with key {shown!r}: no such row")
    if not in_tx:
        cur.execute("BEGIN TRANSACTION")
    try:
        for m, row in zip(instances, rows, strict=True):
            result = cur.execute(plan.save, row).fetchone()
            if not result or result[0] != 1:
                raise errors.NotFound(f"cannot save {info.cls.__name__} with key {info.key_of(m)!r}: no such row")
    except BaseException:
        if not in_tx:
            cur.execute("ROLLBACK")
        raise
    if not in_tx:
        cur.execute("COMMIT")
    return len(rows)


def _op_fetch(conn: _Conn, sql: str, params: Sequence[Any], load: Callable[[Any], Any]) -> list[Any]:
    return list(map(load, _claim(conn).execute(sql, params).fetchall()))


def _op_scalar(conn: _Conn, sql: str, params: Sequence[Any]) -> Any:
    row = _claim(conn).execute(sql, params).fetchone()
    return row[0] if row else None


def _op_inspect(
    conn: _Conn, names: Sequence[str], canonical: Callable[[str], str]
) -> dict[str, LiveTable | None]:
    cur = _claim(conn)
    out: dict[str, LiveTable | None] = {}
    for name in names:
        rows = cur.execute(
            "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE table_name = ? AND schema_name = current_schema() ORDER BY column_index",
            [name],
        ).fetchall()
        if not rows:
            out[name] = None
            continue
        columns = tuple(LiveColumn(r[0], canonical(r[1]), bool(r[2])) for r in rows)
        key: tuple[str, ...] = ()
        unique: set[tuple[str, ...]] = set()
        for kind, cols in cur.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = ? AND schema_name = current_schema()",
            [name],
        ).fetchall():
            if kind == "PRIMARY KEY":
                key = tuple(cols)
            elif kind == "UNIQUE":
                unique.add(tuple(cols))
        indexes: set[tuple[str, ...]] = set()
        for is_unique, expressions in cur.execute(
            "SELECT is_unique, expressions FROM duckdb_indexes() "
            "WHERE table_name = ? AND schema_name = current_schema()",
            [name],
        ).fetchall():
            # "[city]", or "['\"label\"']" for a name DuckDB keeps quoted (a keyword)
            cols = tuple(c.strip().strip("'").strip('"') for c in str(expressions).strip("[]").split(",") if c.strip())
            (unique if is_unique else indexes).add(cols)
        out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
    return out


def _op_script(conn: _Conn, statements: Sequence[tuple[str, Sequence[Any]]], in_tx: bool = False) -> None:
    cur = _claim(conn)
    if in_tx:  # a failed statement aborts the transaction; its owner rolls it back
        for sql, params in statements:
            cur.execute(sql, params)
        return
    cur.execute("BEGIN TRANSACTION")
    try:
        for sql, params in statements:
            cur.execute(sql, params)
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def _op_exec(conn: _Conn, sql: str) -> None:
    _claim(conn).execute(sql)


def _op_end(conn: _Conn, sql: str) -> None:
    """COMMIT or ROLLBACK; after a failed COMMIT, DuckDB has already rolled back."""
    cur = _claim(conn)
    try:
        cur.execute(sql)
    except duckdb.Error:
        with contextlib.suppress(duckdb.Error):  # nothing left open
            cur.execute("ROLLBACK")
        raise


def _op_open_stream(conn: _Conn, sql: str, params: Sequence[Any], own: bool) -> _Stream:
    if own:
        cur = conn.cur.cursor()
        try:
            cur.execute(sql, params)
        except BaseException:
            cur.close()
            raise
        return _Stream(cur, True)
    cur = _claim(conn)
    cur.execute(sql, params)
    st = conn.stream = _Stream(cur, False)
    return st


def _op_fetch_batch(conn: _Conn, st: _Stream, load: Callable[[Any], Any]) -> list[Any]:
    if st.buffer is not None:
        buf = st.buffer
        rows = [buf.popleft() for _ in range(min(_STREAM_BATCH, len(buf)))]
        st.done = not buf
    else:
        rows = st.cur.fetchmany(_STREAM_BATCH)
        st.done = len(rows) < _STREAM_BATCH
    if st.done and conn.stream is st:
        conn.stream = None
    return list(map(load, rows))


def _op_close_stream(conn: _Conn, st: _Stream) -> None:
    if conn.stream is st:
        conn.stream = None
    if st.own:
        st.cur.close()


class _Ops:
    """The statement methods, run on one worker (the driver's or a transaction's)."""

    _worker: ThreadWorker[_Conn]
    _driver: DuckDBDriver
    _in_tx: bool

    async def insert(self, stmt: Insert) -> None:
        if not stmt.instances:
            return
        d = self._driver
        ins = d._insert_plan(stmt.model)
        generated = await self._worker.call(_op_insert, ins, d._keys, stmt.instances, self._in_tx)
        if generated:
            info = d._compiler.plan(stmt.model).info
            name = info.auto_key.name if info.auto_key is not None else ""
            for m, key in generated:
                info.set_value(m, name, key)

    async def save(self, stmt: Save) -> int:
        ins = self._driver._insert_plan(stmt.model)
        return await self._worker.call(_op_save, ins, stmt.instances, self._in_tx)

    async def select(self, stmt: Select) -> list[Any]:
        compiler = self._driver._compiler
        sql, params = compiler.select(stmt)
        return await self._worker.call(_op_fetch, sql, params, compiler.plan(stmt.model).load)

    async def stream(self, stmt: Select) -> AsyncIterator[Any]:
        compiler = self._driver._compiler
        sql, params = compiler.select(stmt)
        load = compiler.plan(stmt.model).load
        worker = self._worker
        st = await worker.call(_op_open_stream, sql, params, not self._in_tx)
        try:
            while True:
                batch = await worker.call(_op_fetch_batch, st, load)
                for item in batch:
                    yield item
                if st.done:
                    break
        finally:
            if not worker.closed:
                await worker.call(_op_close_stream, st)

    async def count(self, stmt: Select) -> int:
        sql, params = self._driver._compiler.count(stmt)
        return int(await self._worker.call(_op_scalar, sql, params))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        sql, params, decode = self._driver._compiler.aggregate(stmt)
        return await self._worker.call(_op_fetch, sql, params, decode)

    async def update(self, stmt: Update) -> int:
        sql, params = self._driver._compiler.update(stmt)
        return int(await self._worker.call(_op_scalar, sql, params) or 0)

    async def delete(self, stmt: Delete) -> int:
        sql, params = self._driver._compiler.delete(stmt)
        return int(await self._worker.call(_op_scalar, sql, params) or 0)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise errors.ConnectionFailed(f"DuckDB option {name} takes true or false, not {value!r}")


class DuckDBDriver(_Ops, Driver):
    """DuckDB through its Python API, off the event loop.

    Args:
        path: a database file, or ``":memory:"`` for a private in-memory
            database that disappears on close.
        read_only: open the file read-only (several processes may then share it).
        threads: DuckDB's worker threads per query (default: one per core).
    """

    # not "savepoints": DuckDB has no SAVEPOINT; not "foreign_keys": see DuckDBDialect
    capabilities = frozenset(
        {"transactions", "concurrent_transactions", "schema_evolution", "transactional_schema"}
    )
    schemes = ("duckdb",)

    def __init__(self, path: str = ":memory:", *, read_only: bool = False, threads: int | None = None) -> None:
        self.path = path or ":memory:"
        self.memory = self.path == ":memory:"
        self.read_only = read_only
        self.threads = threads
        self._compiler = SQLCompiler(DuckDBDialect())
        self._inserts: dict[type, _Insert] = {}
        self._driver = self
        self._in_tx = False
        self._root: _Cursor | None = None
        self._worker = _worker(self._open_cursor)
        self._keys = _Keys(self._open_cursor)
        self._idle: list[ThreadWorker[_Conn]] = []
        self._all: set[ThreadWorker[_Conn]] = {self._worker}
        self._connected = False
        self._closed = False

    def __repr__(self) -> str:
        return f"DuckDBDriver({self.path!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> DuckDBDriver:
        """``duckdb://`` or ``duckdb:///:memory:`` (memory), ``duckdb:///rel.duckdb``, ``duckdb:////abs.duckdb``.

        Query options: ``read_only=true``, ``threads=N``.
        """
        if url.host:
            raise errors.ConnectionFailed(
                f"DuckDB URLs name a file, not a host ({url}): use duckdb:///relative.duckdb, "
                "duckdb:////absolute.duckdb or duckdb:// (in memory)"
            )
        path = url.path[1:] if url.path.startswith("/") else url.path
        merged: dict[str, Any] = dict(url.query)
        merged.update(options)
        unknown = set(merged) - {"read_only", "threads"}
        if unknown:
            raise errors.ConnectionFailed(f"unknown DuckDB option(s): {', '.join(sorted(unknown))}")
        if "read_only" in merged:
            merged["read_only"] = _flag(merged["read_only"], "read_only")
        if merged.get("threads") is not None:
            try:
                merged["threads"] = int(merged["threads"])
            except ValueError as exc:
                shown = merged["threads"]
                raise errors.ConnectionFailed(f"DuckDB option threads takes a number, not {shown!r}") from exc
        return cls(path or ":memory:", **merged)

    def _open_cursor(self) -> _Cursor:
        root = self._root
        if root is None:
            raise errors.ConnectionFailed("the DuckDB database is not open")
        cur = root.cursor()
        # TIMESTAMPTZ values are bound and read as UTC instants anyway; UTC as the
        # session zone keeps any implicit TIMESTAMP <-> TIMESTAMPTZ cast unsurprising.
        # (Without the ICU extension DuckDB's zone is always UTC and SET fails.)
        with contextlib.suppress(duckdb.Error):
            cur.execute("SET TimeZone = 'UTC'")
        return cur

    def _open_root(self) -> _Cursor:
        config: dict[str, Any] = {}
        if self.threads is not None:
            config["threads"] = self.threads
        return duckdb.connect(self.path, read_only=self.read_only, config=config)

    async def connect(self) -> None:
        if self._connected:
            return
        if self._closed:
            raise errors.ConnectionFailed("the DuckDB database has been closed")
        try:
            self._root = await asyncio.to_thread(self._open_root)
        except duckdb.Error as exc:
            raise errors.ConnectionFailed(f"cannot open DuckDB database {self.path!r}: {exc}") from exc
        self._connected = True
        _open_drivers.add(self)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open_drivers.discard(self)
        for worker in list(self._all):
            await worker.stop()
        self._all.clear()
        self._idle.clear()
        root, self._root = self._root, None

        def shut() -> None:
            self._keys.close()
            if root is not None:
                root.close()

        await asyncio.to_thread(shut)

    def _close_now(self) -> None:
        """Close without an event loop: for databases still open at interpreter exit."""
        self._closed = True
        for worker in list(self._all):
            worker.stop_now(timeout=2.0)
        self._all.clear()
        self._idle.clear()
        self._keys.close()
        root, self._root = self._root, None
        if root is not None:
            root.close()

    async def begin(self) -> DriverTransaction:
        if self._worker.closed:
            raise errors.ConnectionFailed("the DuckDB database has been closed")
        worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _worker(self._open_cursor)
            self._all.add(worker)
        try:
            await worker.call(_op_exec, "BEGIN TRANSACTION")
        except BaseException:
            await worker.stop()
            self._all.discard(worker)
            raise
        return _DuckDBTransaction(self, worker)

    def _release(self, worker: ThreadWorker[_Conn]) -> None:
        if not worker.closed and not self._worker.closed:
            self._idle.append(worker)

    def _insert_plan(self, model: type) -> _Insert:
        ins = self._inserts.get(model)
        if ins is None:
            ins = self._inserts[model] = _build_insert(self._compiler, self._compiler.plan(model))
        return ins

    def _create_statements(self, info: ModelInfo) -> list[str]:
        q = self._compiler.dialect.quote
        statements: list[str] = []
        if info.auto_key is not None:
            statements.append(f"CREATE SEQUENCE IF NOT EXISTS {q(sequence_name(info.name))}")
        return statements + self._compiler.create_table(info)

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        statements = [(sql, ()) for info in models for sql in self._create_statements(info)]
        await self._worker.call(_op_script, statements)

    async def server_version(self) -> str:
        return f"DuckDB {duckdb.__version__}"

    def expected_type(self, field: FieldInfo) -> str | None:
        return self._compiler.expected_type(field)

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        canonical = self._compiler.dialect.canonical_type
        return await self._worker.call(_op_inspect, [m.name for m in models], canonical)

    def _change_statements(self, changes: Sequence[SchemaChange]) -> list[tuple[str, tuple[Any, ...]]]:
        q = self._compiler.dialect.quote
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for change in changes:
            if change.kind == "add_table":
                statements += [(sql, ()) for sql in self._create_statements(change.model)]
                continue
            if change.kind == "rename_table" and change.model.auto_key is not None:
                # keys come from the sequence named after the table
                statements.append((f"CREATE SEQUENCE IF NOT EXISTS {q(sequence_name(change.model.name))}", ()))
            statements += self._compiler.schema_change(change)
            if change.kind == "drop_table":
                statements.append((f"DROP SEQUENCE IF EXISTS {q(sequence_name(change.model.name))}", ()))
        return statements

    def _forget_keys(self, changes: Sequence[SchemaChange]) -> None:
        gone = [c for c in changes if c.kind in ("drop_table", "rename_table")]
        self._keys.forget([name for c in gone for name in (c.model.name, c.old or "")])

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        await self._worker.call(_op_script, self._change_statements(changes))
        self._forget_keys(changes)

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        return [render_statement(sql, params) for sql, params in self._change_statements(changes)]

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        q = self._compiler.dialect.quote
        statements: list[tuple[str, Sequence[Any]]] = []
        for info in models:
            statements.append((self._compiler.drop_table(info), ()))
            # the sequence goes after the table whose DEFAULT uses it
            statements.append((f"DROP SEQUENCE IF EXISTS {q(sequence_name(info.name))}", ()))
        await self._worker.call(_op_script, statements)
        self._keys.forget([info.name for info in models])


_open_drivers: weakref.WeakSet[DuckDBDriver] = weakref.WeakSet()


@atexit.register
def _close_forgotten_databases() -> None:
    # A driver never closed keeps its worker threads (daemons) and cursors alive up to
    # interpreter exit, where DuckDB's bindings report them as leaked; close them first.
    for driver in list(_open_drivers):
        driver._close_now()


class _DuckDBTransaction(_Ops, DriverTransaction):
    """A transaction on a cursor of its own. DuckDB has no savepoints: nested blocks are unsupported."""

    def __init__(self, driver: DuckDBDriver, worker: ThreadWorker[_Conn]) -> None:
        self._driver = driver
        self._worker = worker
        self._in_tx = True

    async def commit(self) -> None:
        try:
            await self._worker.call(_op_end, "COMMIT")
        finally:
            self._driver._release(self._worker)

    async def rollback(self) -> None:
        try:
            await self._worker.call(_op_end, "ROLLBACK")
        finally:
            self._driver._release(self._worker)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        # Auto keys of a table created here come from a sequence that the key
        # reservation (outside any transaction) sees only after the commit.
        await self._worker.call(_op_script, self._driver._change_statements(changes), True)
        self._driver._forget_keys(changes)
