"""DuckDB driver: the SQL driver base over DuckDB's synchronous Python API.

DuckDB refuses concurrent calls on one connection object, but any number of
cursors (each a connection of its own to the same database) may work at once
from different threads. So every worker thread of the base
(:class:`ommi.sql.BlockingSQLDriver`) owns one cursor.

Bulk inserts bind one list per column and insert ``SELECT unnest(?), ...``:
DuckDB converts a Python list in one step, while ``executemany`` and wide
multi-row ``VALUES`` pay DuckDB's per-parameter cost (20 to 300 times slower
for 10,000 rows). A single statement is also atomic on its own.

DuckDB has no savepoints, and a failed statement aborts the whole
transaction. The base keeps a transaction usable where it can (one-row
inserts that clash insert nothing and report it; several rows are checked
against keys and unique fields first, :meth:`DuckDBDriver.precheck_insert`)
and otherwise marks it aborted, so its commit fails loudly instead of
DuckDB's silent rollback.

``Auto`` keys are drawn by the driver from a per-table sequence before the
insert (:class:`_Keys`): keys are known without a round trip, and the
sequence is kept above any key stored by other programs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from ommi import errors
from ommi.driver import (
    URL,
    FieldInfo,
    LiveColumn,
    LiveTable,
    ModelInfo,
    NativeErrors,
    Option,
    SchemaChange,
    columns_of,
    first_line,
    flag,
)
from ommi.sql import BlockingSQLDriver, Connection, IntegrityDetails, ModelPlan, Op
from ommi.sql.commands import call, execute, fetchall, fetchone

from ._compiler import DuckDBDialect, sequence_literal, sequence_name

__all__ = ["DuckDBConnection", "DuckDBDriver"]

_INT64_MAX = 2**63 - 1
# the column names before the colon; composite keys list several ("a, b: 1, 2")
_DUPLICATE = re.compile(r'Duplicate key "(.*?): ')
_Cursor = duckdb.DuckDBPyConnection


def _catalog(exc: BaseException) -> type[errors.OmmiError]:
    first = first_line(exc)
    if "Table with name" in first and "does not exist" in first:
        return errors.MissingTable
    return errors.SchemaError


_ERRORS = NativeErrors(
    "DuckDB",
    [
        (duckdb.ConstraintException, errors.IntegrityError),
        (duckdb.CatalogException, _catalog),
        (duckdb.TransactionException, errors.TransactionError),
        ((duckdb.IOException, duckdb.ConnectionException), errors.ConnectionFailed),
        (duckdb.Error, errors.QueryError),
        ((OverflowError, ValueError, TypeError), errors.ValidationError),
    ],
    # the first line says what went wrong; DuckDB's "Did you mean" guesses mislead
    message=first_line,
    # two transactions wrote the same row: the later one lost
    retryable=lambda exc: isinstance(exc, duckdb.TransactionException) and "onflict" in str(exc),
)


class DuckDBConnection(Connection):
    """The adapter: one DuckDB cursor (a connection of its own to the database)."""

    def __init__(self, cur: _Cursor) -> None:
        self.cur = cur

    def execute(self, sql: str, params: Sequence[Any]) -> int:
        # DML answers with one row holding the number of rows changed; DDL with none
        row = self.cur.execute(sql, params).fetchone()
        return int(row[0]) if row else -1

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None:
        self.cur.executemany(sql, rows)
        return None

    def fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.cur.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        return self.cur.execute(sql, params).fetchone()

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        raise errors.UnsupportedError("DuckDB keys are reserved by the driver before the insert")

    def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Any]]:
        result = self.cur.execute(sql, params)
        names = [d[0] for d in result.description or ()]
        return names, result.fetchall() if result.description else []

    def cursor(self, sql: str, params: Sequence[Any]) -> Any:
        # the result stays on the cursor itself until the next statement (the base
        # reads what is left first, see SQLDialect.cursors_see_later_writes)
        return self.cur.execute(sql, params)

    def fetchmany(self, cursor: Any, n: int) -> list[Any]:
        return cursor.fetchmany(n)  # type: ignore[no-any-return]

    def close_cursor(self, cursor: Any) -> None:
        pass  # the result belongs to this connection's cursor: the next statement replaces it

    def begin(self, sql: str) -> None:
        try:
            self.cur.execute(sql)
        except duckdb.Error:
            # an interrupted BEGIN (a cancel landing just as the call starts) has opened
            # the transaction, aborted: without this the connection's next statements fail
            with contextlib.suppress(duckdb.Error):
                self.cur.execute("ROLLBACK")
            raise

    def commit(self, sql: str) -> None:
        try:
            self.cur.execute(sql)
        except duckdb.Error:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT has rolled back; leave nothing open
                self.cur.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.cur.close()

    def interrupt(self) -> None:
        self.cur.interrupt()

    def reserve_keys(self, keys: _Keys, plan: ModelPlan, n: int, floor: int | None) -> int:
        """:meth:`_Keys.reserve`, run as a command: on this connection's thread, never the event loop's."""
        return keys.reserve(plan, n, floor)


_SPARE = 63  # keys drawn beyond the one asked for, for the next one-row adds
# While one-row adds keep using them up, each block of spares is twice the one before, up to
# this many: drawing a block costs a statement that commits on its own (1-2 ms with a
# transaction open; 20-30 µs per add with blocks of 64, 2-3 µs with blocks of 1,024).
_MAX_SPARE = 1023


class _Spares:
    """Keys drawn ahead for one database, shared by every driver of it in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: dict[str, tuple[int, int]] = {}  # table -> (next spare key, last spare key)
        self.users = 0


_SPARES: dict[str, _Spares] = {}
_SPARES_LOCK = threading.Lock()


def _spares_of(path: str) -> tuple[str, _Spares]:
    """The spares of a database file, counted as used once more until :func:`_done_with`."""
    if path == ":memory:":
        return "", _Spares()  # a private database of this driver's own
    where = os.path.realpath(path)
    with _SPARES_LOCK:
        spares = _SPARES.setdefault(where, _Spares())
        spares.users += 1
        return where, spares


def _done_with(where: str) -> None:
    # when no driver has the file open, it may be deleted and made again: its
    # sequences would start over, so the spares drawn from the old ones go
    with _SPARES_LOCK:
        spares = _SPARES.get(where)
        if spares is not None:
            spares.users -= 1
            if spares.users <= 0:
                del _SPARES[where]


class _Keys:
    """Reserves ``Auto`` keys from each table's sequence, keeping it above every stored key.

    DuckDB sequences ignore transactions, so concurrent transactions never draw
    the same key. Sequence calls go through one cursor of their own, outside
    any transaction, under a lock shared by all of the driver's threads.

    Keys for one row at a time are drawn in blocks (``_SPARE + 1`` at first, twice
    as many each time one-row adds used a block up, up to ``_MAX_SPARE + 1``) and
    handed out from the driver's memory, as a PostgreSQL sequence with ``CACHE``
    does: a drawn key is never drawn again (by this or any other connection), so
    the only cost is a gap of unused keys when the driver closes. Explicit keys at or
    above a spare key discard the spares below them.
    """

    def __init__(self, open_cursor: Callable[[], _Cursor]) -> None:
        self._open_cursor = open_cursor
        self._cur: _Cursor | None = None
        self._synced: set[str] = set()
        self._lock = threading.Lock()
        self._spare: dict[str, tuple[int, int]] = {}
        self._extra: dict[str, int] = {}  # table -> the spares its next block draws (see _MAX_SPARE)
        self._where = ""

    def share(self, path: str) -> None:
        """Called once the database is open: take the spares of its file.

        Every driver of one database file in this process shares the spares (and
        the lock): an explicit key one of them stores discards the spares below
        it for all. (No other process can write the file while this one has it.)
        """
        self._where, shared = _spares_of(path)
        self._lock, self._spare = shared.lock, shared.keys

    def reserve(self, plan: ModelPlan, n: int, floor: int | None) -> int:
        """Reserve ``n`` consecutive keys above ``floor`` and every stored key; return the first."""
        info = plan.info
        key = info.auto_key
        assert key is not None
        with self._lock:
            cur = self._cur
            if cur is None:
                cur = self._cur = self._open_cursor()
            if info.name not in self._synced:
                # keys stored before this driver drew any (another program, an old file)
                col = DuckDBDialect().quote(key.column)
                row = cur.execute(f"SELECT max({col}) FROM {plan.table}").fetchone()
                top = row[0] if row else None
                if top is not None and (floor is None or top > floor):
                    floor = top
                self._synced.add(info.name)
            if (first := self._from_spares(info.name, n, floor)) is not None:
                return first
            seq = sequence_literal(info.name)  # (not needed above: one-row adds mostly end there)
            if n == 1 and floor is None and (first := self._draw_block(cur, info.name, seq)) is not None:
                return first
            if n == 0:
                # only move the sequence past explicit keys (it may reach the very last key)
                if floor is not None:
                    row = cur.execute(
                        "SELECT last_value FROM duckdb_sequences() WHERE sequence_name = ?", [sequence_name(info.name)]
                    ).fetchone()
                    if floor > (row[0] if row and row[0] is not None else 0):
                        cur.execute(f"SELECT setval({seq}, ?)", [floor])
                return 0
            row = cur.execute(f"SELECT nextval({seq})").fetchone()
            assert row is not None
            start = int(row[0])
            if floor is not None and floor >= start:
                start = floor + 1
            last = start + n - 1 if n else start
            if last > _INT64_MAX or (n and start > _INT64_MAX):
                raise errors.IntegrityError(f"no generated keys left for {info.cls.__name__} (64-bit range used up)")
            extra = min(_SPARE, _INT64_MAX - last) if n == 1 else 0
            if last + extra > int(row[0]):
                cur.execute(f"SELECT setval({seq}, ?)", [last + extra])
            if extra:
                self._spare[info.name] = (last + 1, last + extra)
            return start

    def _from_spares(self, table: str, n: int, floor: int | None) -> int | None:
        """The first of ``n`` keys handed out from the spares (under the lock), or ``None``."""
        spare = self._spare.get(table)
        if spare is not None and floor is not None and floor >= spare[0]:
            # explicit keys reached the spares: those at or below them may be taken
            spare = (floor + 1, spare[1]) if floor < spare[1] else None
            if spare is None:
                del self._spare[table]
            else:
                self._spare[table] = spare
        if spare is not None and 0 < n <= spare[1] - spare[0] + 1:
            start = spare[0]
            if start + n > spare[1]:
                del self._spare[table]
            else:
                self._spare[table] = (start + n, spare[1])
            return start
        return None

    def _draw_block(self, cur: _Cursor, table: str, seq: str) -> int | None:
        """Draw the next key and a block of spares after it (under the lock); ``None`` near the
        end of the 64-bit range, which :meth:`reserve` then handles step by step."""
        # one statement: each statement on this cursor commits on its own, so two cost twice one
        extra = self._extra.get(table, _SPARE)
        try:
            got = cur.execute(f"SELECT setval({seq}, nextval({seq}) + {extra})").fetchone()
        except duckdb.Error:
            return None
        if got is None:
            return None
        top = int(got[0])
        self._spare[table] = (top - extra + 1, top)
        self._extra[table] = min(2 * extra + 1, _MAX_SPARE)
        return top - extra

    def forget(self, tables: Sequence[str]) -> None:
        """The tables were dropped: read their largest key again on next use."""
        with self._lock:
            self._synced.difference_update(tables)
            for table in tables:
                self._spare.pop(table, None)
                self._extra.pop(table, None)

    def close(self) -> None:
        with self._lock:
            if self._cur is not None:
                self._cur.close()
                self._cur = None
        where, self._where = self._where, ""
        if where:
            _done_with(where)


@dataclass(eq=False)
class _Insert:
    """Per-model bulk insert and clash checks, built once."""

    bulk: str
    checks: list[tuple[str, list[int], errors.IntegrityKind, tuple[str, ...]]] = field(default_factory=list)
    """``(sql, field indexes, kind, field names)``: each query counts stored rows that would clash."""


class DuckDBDriver(BlockingSQLDriver):
    """DuckDB through its Python API, off the event loop.

    Args:
        path: a database file, or ``":memory:"`` for a private in-memory
            database that disappears on close.
        read_only: open the file read-only (several processes may then share it).
        threads: DuckDB's worker threads per query (default: one per core).
    """

    dialect_class = DuckDBDialect
    native_errors = _ERRORS
    options = {  # noqa: RUF012 - read-only table
        "read_only": Option(flag, "true to open the file read-only"),
        "threads": Option(int, "DuckDB's threads per query"),
    }
    # not "savepoints": DuckDB has no SAVEPOINT; not "foreign_keys": see DuckDBDialect
    capabilities = frozenset(
        {
            "raw",
            "transactions",
            "concurrent_transactions",
            "schema_evolution",
            "transactional_schema",
            "infinite_floats",
            "signed_zero",
        }
    )
    schemes = ("duckdb",)
    # one DuckDB vector (2,048 rows) a trip: DuckDB produces rows a vector at a time, and
    # each batch costs two thread hand-offs (larger batches were slower: more live rows)
    stream_batch = 2048
    reserves_keys = True

    def __init__(self, path: str = ":memory:", *, read_only: bool = False, threads: int | None = None) -> None:
        self.path = path or ":memory:"
        self.memory = self.path == ":memory:"
        self.read_only = read_only
        self.threads = threads
        self._root: _Cursor | None = None
        self._inserts: dict[type, _Insert] = {}
        self._keys = _Keys(self._open_cursor)
        self._connected = False
        super().__init__()

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
        return cls(path or ":memory:", **url.options(cls.options, options, backend="DuckDB"))

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

    def open_connection(self) -> DuckDBConnection:
        return DuckDBConnection(self._open_cursor())

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
        self._keys.share(self.path)
        self._connected = True
        _open_drivers.add(self)

    async def close(self) -> None:
        if self._closed:
            return
        _open_drivers.discard(self)
        await super().close()
        root, self._root = self._root, None

        def shut() -> None:
            self._keys.close()
            if root is not None:
                root.close()

        await asyncio.to_thread(shut)

    def close_now(self, timeout: float = 2.0) -> None:
        super().close_now(timeout)
        self._keys.close()
        root, self._root = self._root, None
        if root is not None:
            root.close()

    async def server_version(self) -> str:
        return f"DuckDB {duckdb.__version__}"

    def integrity_details(self, exc: BaseException) -> IntegrityDetails | None:
        # 'Duplicate key "email: a@b" violates unique constraint', '... primary key constraint',
        # 'NOT NULL constraint failed: Person.name' (the values are never used)
        if not isinstance(exc, duckdb.ConstraintException):
            return None
        text = first_line(exc)
        if "NOT NULL constraint failed: " in text:
            return ("not_null", (text.rsplit(": ", 1)[-1].split(".", 1)[-1],), None)
        if "violates primary key constraint" in text:
            return ("key", (), None)
        found = _DUPLICATE.search(text)  # a unique constraint covers one column
        if found is not None and "violates unique constraint" in text:
            return ("unique", (found.group(1),), None)
        return None  # "PRIMARY KEY or UNIQUE constraint violation": the base looks which

    # -- fast paths ---------------------------------------------------------------

    def _insert_plan(self, plan: ModelPlan) -> _Insert:
        model = plan.info.cls
        ins = self._inserts.get(model)
        if ins is None:
            ins = self._inserts[model] = self._build_insert(plan)
        return ins

    def _build_insert(self, plan: ModelPlan) -> _Insert:
        d = self.dialect
        q = d.quote
        info = plan.info
        cols = ", ".join(q(f.column) for f in info.fields)
        unnest = ", ".join(f"unnest(?::{d.array_type(f)})" for f in info.fields)
        out = _Insert(f"INSERT INTO {plan.table} ({cols}) SELECT {unnest}")
        groups: list[list[FieldInfo]] = []
        if info.key:
            groups.append(list(info.key))
        groups += [[f] for f in info.fields if f.unique and not (f.key and len(info.key) == 1)]
        for group in groups:
            names = [f"k{i}" for i in range(len(group))]
            values = ", ".join(f"unnest(?::{d.array_type(f)}) AS {n}" for f, n in zip(group, names, strict=True))
            on = " AND ".join(f"t.{q(f.column)} = v.{n}" for f, n in zip(group, names, strict=True))
            sql = f"SELECT count(*) FROM {plan.table} AS t JOIN (SELECT {values}) AS v ON {on}"
            kind: errors.IntegrityKind = "key" if group == list(info.key) else "unique"
            out.checks.append((sql, [info.fields.index(f) for f in group], kind, tuple(f.name for f in group)))
        return out

    def reserve_keys(self, plan: ModelPlan, n: int, floor: int | None) -> Op[int]:
        # a command, not a call made here: an operation runs on the caller's thread up to
        # its first command, and drawing keys is DuckDB work under a lock shared with threads
        return (yield call("reserve_keys", "", self._keys, plan, n, floor))  # type: ignore[no-any-return]

    def insert_given(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
        if len(rows) == 1:
            yield execute(plan.insert_all, rows[0])
        else:
            yield execute(self._insert_plan(plan).bulk, [list(col) for col in columns_of(rows)])

    def after_given_keys(self, plan: ModelPlan, top: int) -> Op[None]:
        # user keys above the sequence push it forward
        yield call("reserve_keys", "", self._keys, plan, 0, top)

    def precheck_insert(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
        # ``rows`` hold None where a key is still to be generated, so the key check
        # sees only user-chosen keys (reserved ones are new).
        for sql, idx, kind, names in self._insert_plan(plan).checks:
            picked = [p for p in (tuple(r[i] for i in idx) for r in rows) if None not in p]
            if not picked:
                continue
            if len(set(picked)) != len(picked):  # twice within the rows being added
                raise errors.IntegrityError.about(plan.info.cls, kind, names)
            row = yield fetchone(sql, [list(col) for col in columns_of(picked)])
            if row and row[0]:
                raise errors.IntegrityError.about(plan.info.cls, kind, names)

    # -- schema ---------------------------------------------------------------------

    def create_statements(self, info: ModelInfo) -> list[str]:
        statements: list[str] = []
        if info.auto_key is not None:
            statements.append(f"CREATE SEQUENCE IF NOT EXISTS {self.dialect.quote(sequence_name(info.name))}")
        return statements + super().create_statements(info)

    def drop_statements(self, info: ModelInfo) -> list[str]:
        # the sequence goes after the table whose DEFAULT uses it
        sequence = f"DROP SEQUENCE IF EXISTS {self.dialect.quote(sequence_name(info.name))}"
        return [*super().drop_statements(info), sequence]

    def change_statements(self, change: SchemaChange) -> list[tuple[str, tuple[Any, ...]]]:
        sequence = self.dialect.quote(sequence_name(change.model.name))
        statements = super().change_statements(change)
        if change.kind == "rename_table" and change.model.auto_key is not None:
            # keys come from the sequence named after the table
            statements.insert(0, (f"CREATE SEQUENCE IF NOT EXISTS {sequence}", ()))
        if change.kind == "drop_table":
            statements.append((f"DROP SEQUENCE IF EXISTS {sequence}", ()))
        return statements

    def schema_applied(self, changes: Sequence[SchemaChange]) -> None:
        # Auto keys of a table created in a transaction come from a sequence that the
        # key reservation (outside any transaction) sees only after the commit
        gone = [c for c in changes if c.kind in ("drop_table", "rename_table")]
        self._keys.forget([name for c in gone for name in (c.model.name, c.old or "")])

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        await super().drop_schema(models)
        self._keys.forget([info.name for info in models])

    def inspect_op(self, names: Sequence[str]) -> Op[dict[str, LiveTable | None]]:
        canonical = self.dialect.canonical_type
        out: dict[str, LiveTable | None] = {}
        for name in names:
            rows = yield fetchall(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE table_name = ? AND schema_name = current_schema() ORDER BY column_index",
                [name],
            )
            if not rows:
                out[name] = None
                continue
            columns = tuple(LiveColumn(r[0], canonical(r[1]), bool(r[2])) for r in rows)
            key: tuple[str, ...] = ()
            unique: set[tuple[str, ...]] = set()
            for kind, cols in (yield fetchall(
                "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND schema_name = current_schema()",
                [name],
            )):
                if kind == "PRIMARY KEY":
                    key = tuple(cols)
                elif kind == "UNIQUE":
                    unique.add(tuple(cols))
            indexes: set[tuple[str, ...]] = set()
            for is_unique, expressions in (yield fetchall(
                "SELECT is_unique, expressions FROM duckdb_indexes() "
                "WHERE table_name = ? AND schema_name = current_schema()",
                [name],
            )):
                (unique if is_unique else indexes).add(_index_columns(str(expressions)))
            out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
        return out


def _index_columns(rendered: str) -> tuple[str, ...]:
    """The column names in DuckDB's text of ``duckdb_indexes().expressions``.

    It reads like ``[plain, '"group"', '"E-Mail, x"']``: one SQL expression per
    column, single-quoted (a quote inside escaped with a backslash) when it holds
    special characters, and a column name double-quoted (quotes doubled) when it
    needs it. Keywords, spaces and commas in names all occur: split nothing naively.
    """
    body = rendered.strip()[1:-1]
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        if body[i] in ", ":
            i += 1
            continue
        chars: list[str] = []
        if body[i] == "'":
            i += 1
            while i < n and body[i] != "'":
                if body[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(body[i])
                i += 1
            i += 1
        else:
            while i < n and body[i] != ",":
                chars.append(body[i])
                i += 1
        item = "".join(chars).strip()
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1].replace('""', '"')
        out.append(item)
    return tuple(out)


_open_drivers: weakref.WeakSet[DuckDBDriver] = weakref.WeakSet()


@atexit.register
def _close_forgotten_databases() -> None:
    # A driver never closed keeps its worker threads (daemons) and cursors alive up to
    # interpreter exit, where DuckDB's bindings report them as leaked; close them first.
    for driver in list(_open_drivers):
        driver.close_now()
