"""SQLite driver: the SQL driver base over the standard library's sqlite3.

Each connection lives in its own worker thread (:class:`ommi.sql.BlockingSQLDriver`),
so the event loop never blocks, and one user-level operation (an atomic bulk
insert, a query plus turning its rows into instances) is one trip into that
thread. (aiosqlite, the usual bridge, makes one trip per cursor call.)

Transactions and streams get connections of their own, so work outside them
never sees their uncommitted writes. In-memory databases are therefore a
private temporary file (deleted on close) rather than ``:memory:``, which
SQLite cannot share between connections with normal isolation.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from itertools import chain
from typing import Any

from ommi import errors
from ommi.driver import URL, LiveColumn, LiveTable, NativeErrors, Option
from ommi.sql import BlockingSQLDriver, Connection, IntegrityDetails, ModelPlan, Op
from ommi.sql.commands import execute, fetchall, fetchone, insert_id

from ._compiler import (
    DECIMAL_COLLATION,
    EXPRESSION_FUNCTIONS,
    LIKE_FUNCTION,
    DecimalAvg,
    DecimalSum,
    IntAvg,
    SQLiteDialect,
    decimal_collation,
    like_match,
)

__all__ = ["SQLiteConnection", "SQLiteDriver"]

_INT64_MAX = 2**63 - 1
_TEMP_PREFIX = "ommi-sqlite-"


def _private_dir() -> str:
    """A new directory only this user can enter, for an in-memory database's files.

    Where ``tempfile.mkdtemp`` would make it. In the usual case (a POSIX
    system, no ``TMPDIR``/``TEMP``/``TMP``, a writable ``/tmp``, tempfile not
    imported yet) it is made here, as tempfile makes it (mode 0o700, a random
    name), without importing tempfile, which brings shutil, random, bz2 and
    lzma: about 4 ms of every program's start-up, more than the rest of
    connecting.
    """
    if (
        "tempfile" not in sys.modules
        and os.name == "posix"
        and not any(os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP"))
        and os.access("/tmp", os.W_OK | os.X_OK)  # noqa: S108 - tempfile's own first choice
    ):
        for _ in range(100):
            path = os.path.join("/tmp", _TEMP_PREFIX + os.urandom(8).hex())  # noqa: S108
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError:
                break
            return path
    import tempfile  # anything unusual: tempfile decides

    return tempfile.mkdtemp(prefix=_TEMP_PREFIX)


def _remove_dir(path: str) -> None:
    """Delete the directory and the files SQLite made in it (the database, its WAL and shared memory)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(path):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(path, name))
        os.rmdir(path)

# Bound values per multi-row INSERT: SQLite allows 32,766 (since 3.32), but past a few hundred
# rows a statement gains nothing. One statement of many rows costs about 60% of
# executemany() of the same rows (one prepared step per statement instead of one per row).
_VALUES_PER_INSERT = 999


def _multi_row_inserts(sql: str, rows: list[tuple[Any, ...]]) -> Op[None]:
    """``executemany(sql, rows)`` of a one-row ``INSERT ... VALUES (?, ...)``, as multi-row INSERTs."""
    if not rows[0]:  # rows of nothing but generated keys: one DEFAULT VALUES statement each
        for _ in rows:
            yield execute(sql, [])
        return
    head, _, one = sql.rpartition(" VALUES ")
    per = max(1, _VALUES_PER_INSERT // len(rows[0]))
    full = f"{head} VALUES {', '.join([one] * per)}"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        text = full if len(chunk) == per else f"{head} VALUES {', '.join([one] * len(chunk))}"
        yield execute(text, list(chain.from_iterable(chunk)))


def _classify(exc: BaseException) -> type[errors.OmmiError]:
    low = str(exc).lower()
    if "no such table" in low:
        return errors.MissingTable
    if "no such column" in low or "has no column named" in low:
        return errors.SchemaError
    if "locked" in low or "busy" in low:
        return errors.TransactionError
    if "unable to open" in low or "closed database" in low or "disk i/o" in low:
        return errors.ConnectionFailed
    return errors.QueryError


_ERRORS = NativeErrors(
    "SQLite",
    [
        (sqlite3.IntegrityError, errors.IntegrityError),
        (sqlite3.Error, _classify),
        ((OverflowError, ValueError, TypeError), errors.ValidationError),
    ],
    # another connection held the write lock past the timeout
    retryable=lambda exc: isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)),
)


class SQLiteConnection(Connection):
    """The adapter: one ``sqlite3`` connection in autocommit mode (ommi issues BEGIN itself)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None:
        return self.conn.executemany(sql, rows).rowcount

    def fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        return self.conn.execute(sql, params).lastrowid or 0

    def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Any]]:
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description or ()]
        return names, cur.fetchall() if cur.description else []

    def cursor(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def fetchmany(self, cursor: Any, n: int) -> list[Any]:
        return cursor.fetchmany(n)  # type: ignore[no-any-return]

    def commit(self, sql: str) -> None:
        try:
            self.conn.execute(sql)
        except sqlite3.Error:
            # an interrupted COMMIT (its task cancelled) leaves the transaction open:
            # end it, so that a failed commit stored nothing and the connection is clean
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise

    def rollback(self, sql: str) -> None:
        # SQLite ends a transaction itself when a statement in it is interrupted
        if self.conn.in_transaction:
            self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()

    def interrupt(self) -> None:
        self.conn.interrupt()


class SQLiteDriver(BlockingSQLDriver):
    """SQLite through the standard library, off the event loop.

    Args:
        path: a database file, or ``":memory:"`` for a private temporary
            database that disappears on close.
        timeout: seconds to wait for another connection's write lock.
        journal_mode: SQLite journal mode for files (default ``"wal"``, which
            lets readers run beside a writer).
    """

    dialect_class = SQLiteDialect
    native_errors = _ERRORS
    options = {  # noqa: RUF012 - read-only table
        "timeout": Option(float, "seconds to wait for another connection's write lock"),
        "journal_mode": Option(str, "SQLite journal mode of a file database, default wal"),
    }
    capabilities = frozenset(
        {
            "transactions",
            "savepoints",
            "foreign_keys",
            "concurrent_transactions",
            "schema_evolution",
            "transactional_schema",
            "infinite_floats",
            "raw",
        }
    )
    schemes = ("sqlite",)

    def __init__(self, path: str = ":memory:", *, timeout: float = 5.0, journal_mode: str = "wal") -> None:
        self.path = path
        self.memory = path in ("", ":memory:")
        self.timeout = float(timeout)
        self.journal_mode = journal_mode
        self._tmpdir: str | None = None
        self._file = path
        self._connected = False
        super().__init__()

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
        return cls(path or ":memory:", **url.options(cls.options, options, backend="SQLite"))

    def open_connection(self) -> SQLiteConnection:
        conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False, timeout=self.timeout)
        if sys.version_info >= (3, 12):
            # an unknown "column" must be an error, never the string 'column'
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DML, False)
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_DQS_DDL, False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_collation(DECIMAL_COLLATION, decimal_collation)
        conn.create_aggregate("ommi_dsum", 1, DecimalSum)  # type: ignore[arg-type]
        conn.create_aggregate("ommi_davg", 1, DecimalAvg)  # type: ignore[arg-type]
        conn.create_aggregate("ommi_iavg", 1, IntAvg)  # type: ignore[arg-type]
        conn.create_function(LIKE_FUNCTION, 2, like_match, deterministic=True)
        for name, nargs, fn in EXPRESSION_FUNCTIONS:
            conn.create_function(name, nargs, fn, deterministic=True)
        if self.memory:
            conn.execute("PRAGMA synchronous = OFF")
        return SQLiteConnection(conn)

    async def connect(self) -> None:
        if self._connected:
            return
        if self.memory:
            self._tmpdir = _private_dir()
            self._file = os.path.join(self._tmpdir, "memory.db")
        mode = "wal" if self.memory else self.journal_mode

        def setup(conn: Connection) -> None:
            conn.execute(f"PRAGMA journal_mode = {mode}", ())

        try:
            await self.run_on_connection(setup)
        except Exception as exc:
            await self.close()
            raise errors.ConnectionFailed(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        self._connected = True

    async def close(self) -> None:
        await super().close()
        if self._tmpdir is not None:
            _remove_dir(self._tmpdir)
            self._tmpdir = None

    async def server_version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def integrity_details(self, exc: BaseException) -> IntegrityDetails | None:
        # "UNIQUE constraint failed: Person.email", "NOT NULL constraint failed: Person.name",
        # "FOREIGN KEY constraint failed" (SQLite does not say which)
        if not isinstance(exc, sqlite3.IntegrityError):
            return None
        text = str(exc)
        for prefix, kind in (("UNIQUE constraint failed: ", "unique"), ("NOT NULL constraint failed: ", "not_null")):
            if text.startswith(prefix):
                columns = tuple(part.split(".", 1)[-1] for part in text[len(prefix) :].split(", "))
                return (kind, columns, None)  # type: ignore[return-value]
        if "FOREIGN KEY" in text:
            return ("reference", (), None)
        return None

    # -- fast paths ------------------------------------------------------------------

    def insert_generated(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool) -> Op[list[int]]:
        assert plan.insert_auto is not None
        if len(rows) == 1:
            key = yield insert_id(plan.insert_auto, rows[0])
            return [key]
        # SQLite gives a new rowid one larger than the largest present, so a batch
        # inserted in one unit (under the write lock) gets top+1 .. top+n.
        row = yield fetchone(f"SELECT max(rowid) FROM {plan.table}")
        top = (row[0] if row else None) or 0
        if top + len(rows) < _INT64_MAX:
            yield from _multi_row_inserts(plan.insert_auto, rows)
            return list(range(top + 1, top + 1 + len(rows)))
        # near the top of the range SQLite picks rowids at random
        keys = []
        for r in rows:
            keys.append((yield insert_id(plan.insert_auto, r)))
        return keys

    def insert_given(self, plan: ModelPlan, rows: list[tuple[Any, ...]]) -> Op[None]:
        if len(rows) == 1:
            yield execute(plan.insert_all, rows[0])
        else:
            yield from _multi_row_inserts(plan.insert_all, rows)

    def inspect_op(self, names: Sequence[str]) -> Op[dict[str, LiveTable | None]]:
        canonical = self.dialect.canonical_type
        out: dict[str, LiveTable | None] = {}
        for name in names:
            quoted = self.dialect.quote(name)
            info = yield fetchall(f"PRAGMA table_info({quoted})")
            if not info:
                out[name] = None
                continue
            # cid, name, type, notnull, default, pk (position in the key, 0 if not)
            columns = tuple(LiveColumn(row[1], canonical(row[2]), not row[3] and not row[5]) for row in info)
            key = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            unique: set[tuple[str, ...]] = set()
            indexes: set[tuple[str, ...]] = set()
            for _seq, index, is_unique, origin, _partial in (yield fetchall(f"PRAGMA index_list({quoted})")):
                if origin == "pk":
                    continue
                cols = tuple(r[2] for r in (yield fetchall(f"PRAGMA index_info({self.dialect.quote(index)})")))
                (unique if is_unique else indexes).add(cols)
            out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
        return out

