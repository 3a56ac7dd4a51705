"""PostgreSQL driver: the shared SQL compiler over an asyncpg connection pool.

Work outside a transaction borrows a pooled connection per operation; each
transaction holds one connection until it ends, and nested blocks are
savepoints on it. Statements are compiled once per query shape, so asyncpg's
per-connection prepared-statement cache hits on every repeat.

PostgreSQL aborts a whole transaction when one statement in it fails, which
SQLite does not. So that a failed write inside a user transaction (a
duplicate key the program catches, say) leaves the transaction usable, each
write in a transaction runs inside its own savepoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl as ssl_module
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

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
    statement_logger,
)
from ommi.query import Aggregate, Delete, Insert, Save, Select, Update
from ommi.sql import ModelPlan, SQLCompiler, render_statement

from ._compiler import PostgreSQLDialect

__all__ = ["PostgreSQLDriver", "translate_error"]

T = TypeVar("T")
Conn = Any  # an asyncpg connection (asyncpg ships no type information)

_STREAM_BATCH = 500
_savepoint_ids = itertools.count(1)

# SQLSTATE classes and codes that mean "the database is unreachable or went away"
_CONNECTION_STATES = ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03")
_TRANSACTION_STATES = ("40", "25")

_COPY_THRESHOLD = 100  # from this many generated-key rows on, one add() uses COPY

_RESERVE_KEYS = "SELECT nextval(pg_get_serial_sequence($1, $2)) FROM generate_series(1, $3::int)"

_BUMP_IDENTITY = (
    # An explicit key may lie ahead of the identity sequence: move the sequence
    # past it so later generated keys cannot collide (never move it back).
    "SELECT setval(q.s, $2) FROM (SELECT pg_get_serial_sequence($1, $3)::regclass AS s) AS q "
    "WHERE coalesce(pg_sequence_last_value(q.s), 0) < $2"
)


def translate_error(exc: BaseException, context: str = "", secret: str | None = None) -> errors.OmmiError | None:
    """Map an asyncpg (or socket) exception onto :mod:`ommi.errors`; ``None`` if it is not one.

    ``secret`` (the password) is removed from the message if it occurs there.
    """
    if isinstance(exc, errors.OmmiError):
        return None
    msg = str(exc) or type(exc).__name__  # asyncpg's text already carries DETAIL and HINT lines
    if secret:
        msg = msg.replace(secret, "***")
    prefix = f"{context}: " if context else ""
    if isinstance(exc, asyncpg.PostgresError):
        return _server_error(str(getattr(exc, "sqlstate", "") or ""), prefix, msg)
    if isinstance(exc, asyncpg.InterfaceError):
        if isinstance(exc, ValueError) and not isinstance(exc, asyncpg.ClientConfigurationError):
            # asyncpg's own DataError: a value its codecs cannot encode
            return errors.ValidationError(f"{prefix}PostgreSQL cannot store a value: {msg}")
        if "released back to the pool" in msg:
            # asyncpg detaches a pooled connection once it is lost
            return errors.ConnectionFailed(f"{prefix}the connection to the PostgreSQL server was lost")
        if isinstance(exc, asyncpg.ClientConfigurationError) or "closed" in msg or "pool" in msg:
            return errors.ConnectionFailed(prefix + msg)
        return errors.QueryError(prefix + msg)
    if isinstance(exc, OSError | TimeoutError):
        return errors.ConnectionFailed(prefix + msg)
    if isinstance(exc, asyncpg.InternalClientError):
        if "another operation" in msg:
            # a connection left mid-operation when the server went away
            return errors.ConnectionFailed(f"{prefix}the connection to the PostgreSQL server was lost ({msg})")
        return errors.QueryError(prefix + msg)
    return None


def _server_error(state: str, prefix: str, msg: str) -> errors.OmmiError:
    """An error the server reported, by SQLSTATE."""
    if state.startswith("23"):
        return errors.IntegrityError(prefix + msg)
    if state == "42P01":
        return errors.SchemaError(f"{prefix}{msg} (create it with `await db.schema().create_models()`)")
    if state == "25P02":
        return errors.TransactionError(f"{prefix}{msg}: an earlier statement in this transaction failed; roll it back")
    if state.startswith(_CONNECTION_STATES):
        return errors.ConnectionFailed(prefix + msg)
    if state.startswith(_TRANSACTION_STATES):
        return errors.TransactionError(prefix + msg)
    if state == "2201B":
        # a like pattern PostgreSQL's regex engine refuses ("too complex"): the query, not a stored value
        return errors.QueryError(prefix + msg)
    if state.startswith("22"):
        return errors.ValidationError(f"{prefix}PostgreSQL cannot store a value: {msg}")
    return errors.QueryError(prefix + msg)


@contextlib.contextmanager
def _encoding() -> Iterator[None]:
    """Turn a value an encoder rejects (NaN inside JSON, say) into a ValidationError."""
    try:
        yield
    except (ValueError, TypeError, OverflowError) as exc:
        raise errors.ValidationError(f"PostgreSQL cannot store a value: {exc}") from exc


def _lost(exc: BaseException) -> bool:
    """The connection died under the operation (it may be retried on a fresh one if idempotent)."""
    return isinstance(exc, asyncpg.ConnectionDoesNotExistError | ConnectionResetError | BrokenPipeError)


def _log(sql: str) -> None:
    # the SQL text only: bound values may be private, and the text never holds them
    if statement_logger.isEnabledFor(logging.DEBUG):
        statement_logger.debug("postgresql: %s", sql)


def _usable(conn: Conn) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # a pooled connection detached after it was lost
        return False


def _rowcount(status: str) -> int:
    # "UPDATE 3", "DELETE 0": the command tag ends with the row count
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# ---------------------------------------------------------------------------
# operations: each runs on one connection, as one unit


async def _unit(conn: Conn, in_tx: bool, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` atomically: a transaction, or a savepoint inside the user's transaction."""
    if in_tx:
        name = f"ommi_sp{next(_savepoint_ids)}"
        await conn.execute(f"SAVEPOINT {name}")
        undo, done = f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"
    else:
        await conn.execute("BEGIN")
        undo, done = "ROLLBACK", "COMMIT"
    try:
        result = await work()
    except BaseException:
        if _usable(conn):
            with contextlib.suppress(Exception):  # the original error is the one to report
                await conn.execute(undo)
        raise
    await conn.execute(done)
    return result


async def _op_insert(
    conn: Conn, plan: ModelPlan, returning: str | None, rows: list[tuple[Any, ...]], in_tx: bool
) -> list[Any]:
    """Insert rows; returns the generated keys of the rows whose auto key was ``None``, in order."""
    ai = plan.auto_index
    full: list[tuple[Any, ...]] = []  # rows whose key the database generates, key column included
    if ai is None or returning is None:
        given, pending = rows, []
    else:
        given = [r for r in rows if r[ai] is not None]
        full = [r for r in rows if r[ai] is None]
        # the COPY path keeps the key column; the others leave it out
        pending = full if len(full) >= _COPY_THRESHOLD else [r[:ai] + r[ai + 1 :] for r in full]

    async def work() -> list[Any]:
        if given:
            if len(given) == 1:
                await conn.execute(plan.insert_all, *given[0])
            else:
                await conn.executemany(plan.insert_all, given)
            if ai is not None:
                column = plan.info.fields[ai].column
                await conn.execute(_BUMP_IDENTITY, plan.table, max(r[ai] for r in given), column)
        if not pending:
            return []
        if len(pending) == 1:
            return [await conn.fetchval(returning, *pending[0])]
        if len(pending) >= _COPY_THRESHOLD and ai is not None:
            # Bulk: reserve the keys from the identity sequence, then COPY the rows
            # with their keys: one statement each way, and keys known in order.
            column = plan.info.fields[ai].column
            keys = [r[0] for r in await conn.fetch(_RESERVE_KEYS, plan.table, column, len(full))]
            tail = ai + 1
            records = [(*r[:ai], k, *r[tail:]) for r, k in zip(full, keys, strict=True)]
            await conn.copy_records_to_table(
                plan.info.name, records=records, columns=[f.column for f in plan.info.fields]
            )
            return keys
        return [r[0] for r in await conn.fetchmany(returning, pending)]

    if len(pending) >= _COPY_THRESHOLD and not in_tx:
        return await _unit(conn, False, work)
    if not in_tx and not (given and pending) and not (given and ai is not None):
        # one statement: asyncpg runs even a batch (executemany) atomically
        return await work()
    return await _unit(conn, in_tx, work)


async def _op_save(conn: Conn, plan: ModelPlan, returning: str, rows: list[tuple[Any, ...]], in_tx: bool) -> int:
    assert plan.save is not None
    if len(rows) == 1 and not in_tx:
        if _rowcount(await conn.execute(plan.save, *rows[0])) != 1:
            raise _not_saved(plan, rows[0])
        return 1

    async def work() -> int:
        if len(rows) == 1:
            found = _rowcount(await conn.execute(plan.save, *rows[0]))
            if found != 1:
                raise _not_saved(plan, rows[0])
            return 1
        returned = Counter(tuple(r) for r in await conn.fetchmany(returning, rows))
        nkeys = len(plan.info.key)
        for row in rows:
            key = tuple(row[-nkeys:])
            if returned[key] <= 0:
                raise _not_saved(plan, row)
            returned[key] -= 1
        return len(rows)

    return await _unit(conn, in_tx, work)


def _not_saved(plan: ModelPlan, row: tuple[Any, ...]) -> errors.NotFound:
    key = row[-len(plan.info.key) :]
    shown = key[0] if len(key) == 1 else key
    return errors.NotFound(f"cannot save {plan.info.cls.__name__} with key {shown!r}: no such row")


async def _op_write(conn: Conn, sql: str, params: Sequence[Any], in_tx: bool) -> int:
    async def work() -> int:
        return _rowcount(await conn.execute(sql, *params))

    return await (_unit(conn, True, work) if in_tx else work())


async def _op_fetch(conn: Conn, sql: str, params: Sequence[Any], load: Callable[[Any], Any]) -> list[Any]:
    return list(map(load, await conn.fetch(sql, *params)))


async def _op_scalar(conn: Conn, sql: str, params: Sequence[Any]) -> Any:
    return await conn.fetchval(sql, *params)


async def _op_script(conn: Conn, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    async def work() -> None:
        for sql, params in statements:
            await conn.execute(sql, *params)

    await _unit(conn, False, work)


async def _op_script_in_tx(conn: Conn, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    for sql, params in statements:
        await conn.execute(sql, *params)
    # prepared statements cached against the old tables must not be reused
    await conn.reload_schema_state()


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection released without asyncpg's reset query.

    ommi changes no session state (transactions are begun and ended
    explicitly; cursors live inside them), so the ``RESET ALL``/``CLOSE ALL``
    round trip on every release is pure cost. asyncpg still rolls back any
    transaction left open on release.
    """

    def get_reset_query(self) -> str:
        return ""


async def _op_version(conn: Conn) -> str:
    return str(await conn.fetchval("SELECT 'PostgreSQL ' || current_setting('server_version')"))


_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relname = $1 AND c.relnamespace = to_regnamespace(current_schema())
  AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_INDEXES_SQL = """
SELECT ix.indisunique, ix.indisprimary,
       ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(n, ord)
             JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n ORDER BY k.ord)
FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid
WHERE c.relname = $1 AND c.relnamespace = to_regnamespace(current_schema())
"""


async def _op_inspect(
    conn: Conn, names: Sequence[str], canonical: Callable[[str], str]
) -> dict[str, LiveTable | None]:
    out: dict[str, LiveTable | None] = {}
    for name in names:
        rows = await conn.fetch(_COLUMNS_SQL, name)
        if not rows:
            out[name] = None
            continue
        columns = tuple(LiveColumn(r[0], canonical(r[1]), bool(r[2])) for r in rows)
        key: tuple[str, ...] = ()
        unique: set[tuple[str, ...]] = set()
        indexes: set[tuple[str, ...]] = set()
        for is_unique, is_primary, cols in await conn.fetch(_INDEXES_SQL, name):
            if is_primary:
                key = tuple(cols)
            else:
                (unique if is_unique else indexes).add(tuple(cols))
        out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
    return out


class _Ops:
    """The statement methods, on the driver's pool or on a transaction's connection."""

    _compiler: SQLCompiler
    _in_tx: bool
    _driver: PostgreSQLDriver

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any, retry: bool = False) -> T:
        raise NotImplementedError

    def _stream_rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[list[Any]]:
        raise NotImplementedError

    async def insert(self, stmt: Insert) -> None:
        plan = self._compiler.plan(stmt.model)
        dump = plan.dump
        with _encoding():
            rows = [dump(m) for m in stmt.instances]  # validates everything before any write
        _log(plan.insert_all)
        keys = await self._run(_op_insert, plan, self._driver._returning(plan), rows, self._in_tx)
        ai = plan.auto_index
        if ai is not None and keys:
            name = plan.info.fields[ai].name
            pending = [m for m, r in zip(stmt.instances, rows, strict=True) if r[ai] is None]
            for m, key in zip(pending, keys, strict=True):
                plan.info.set_value(m, name, key)

    async def save(self, stmt: Save) -> int:
        plan = self._compiler.plan(stmt.model)
        if plan.save is None:
            raise errors.QueryError(f"{plan.info.cls.__name__} has no key, so instances cannot be saved")
        order = plan.save_order
        rows = []
        with _encoding():
            for m in stmt.instances:
                row = plan.dump(m)
                rows.append(tuple(row[i] for i in order))
        if not rows:
            return 0
        _log(plan.save)
        return await self._run(_op_save, plan, self._driver._save_returning(plan), rows, self._in_tx)

    async def select(self, stmt: Select) -> list[Any]:
        with _encoding():
            sql, params = self._compiler.select(stmt)
        _log(sql)
        return await self._run(_op_fetch, sql, params, self._compiler.plan(stmt.model).load, retry=True)

    async def stream(self, stmt: Select) -> AsyncIterator[Any]:
        with _encoding():
            sql, params = self._compiler.select(stmt)
        _log(sql)
        load = self._compiler.plan(stmt.model).load
        async for batch in self._stream_rows(sql, params):
            for row in batch:
                yield load(row)

    async def count(self, stmt: Select) -> int:
        with _encoding():
            sql, params = self._compiler.count(stmt)
        _log(sql)
        return int(await self._run(_op_scalar, sql, params, retry=True))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        with _encoding():
            sql, params, decode = self._compiler.aggregate(stmt)
        _log(sql)
        return await self._run(_op_fetch, sql, params, decode, retry=True)

    async def update(self, stmt: Update) -> int:
        with _encoding():
            sql, params = self._compiler.update(stmt)
        _log(sql)
        return await self._run(_op_write, sql, params, self._in_tx)

    async def delete(self, stmt: Delete) -> int:
        with _encoding():
            sql, params = self._compiler.delete(stmt)
        _log(sql)
        return await self._run(_op_write, sql, params, self._in_tx)


def _option(merged: dict[str, Any], name: str, cast: Callable[[Any], T]) -> T | None:
    if name not in merged:
        return None
    value = merged.pop(name)
    try:
        return cast(value)
    except (TypeError, ValueError) as exc:
        raise errors.ConnectionFailed(f"PostgreSQL option {name}={value!r} is not valid: {exc}") from None


class PostgreSQLDriver(_Ops, Driver):
    """PostgreSQL through an asyncpg connection pool.

    Args:
        host: server host name, or a directory holding the server's unix socket.
        port: server port (default 5432).
        user: role to connect as (default: asyncpg's default, the OS user or ``$PGUSER``).
        password: the role's password; never shown in a repr, log line or error.
        database: database name (default: the user name).
        min_size: connections the pool opens at once and keeps (default 1).
        max_size: most connections the pool holds; more concurrent work waits (default 10).
        timeout: seconds to wait when opening a connection (default 10).
        command_timeout: seconds a statement may run before it is abandoned (default: no limit).
        statement_cache_size: prepared statements cached per connection (default 100).
        ssl: asyncpg's ``ssl`` argument (``"disable"``, ``"prefer"``, ``"require"``,
            ``"verify-full"``...) or an ``ssl.SSLContext``.
        application_name: shown in ``pg_stat_activity`` (default ``"ommi"``).
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
    schemes = ("postgresql", "postgres")

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        command_timeout: float | None = None,
        statement_cache_size: int = 100,
        ssl: str | ssl_module.SSLContext | None = None,
        application_name: str = "ommi",
        url: URL | None = None,
    ) -> None:
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise errors.ConnectionFailed(
                f"PostgreSQL pool sizes need 0 <= min_size <= max_size and max_size >= 1, "
                f"got min_size={min_size}, max_size={max_size}"
            )
        self.host = host
        self.port = port
        self.user = user
        self._password = password or None
        self.database = database
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.statement_cache_size = statement_cache_size
        self.ssl = ssl
        self.application_name = application_name
        self.url = url or URL(
            "postgresql",
            user,
            password,
            host if host and not host.startswith("/") else None,
            port,
            "/" + (database or ""),
            {"host": host} if host and host.startswith("/") else {},
        )
        self._compiler = SQLCompiler(PostgreSQLDialect())
        self._in_tx = False
        self._driver = self
        self._pool: Any = None
        self._closed = False
        self._returning_sql: dict[type, str | None] = {}
        self._save_sql: dict[type, str] = {}

    def __repr__(self) -> str:
        return f"PostgreSQLDriver({self.url.render()!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> PostgreSQLDriver:
        """``postgresql://user:password@host:port/database?min_size=1&max_size=10``.

        A unix-socket directory goes in the query: ``postgresql://user@/db?host=/run/postgresql``.
        Query options and keyword options are the constructor's keyword arguments.
        """
        merged: dict[str, Any] = dict(url.query)
        merged.update(options)
        host = merged.pop("host", None) or url.host
        port = _option(merged, "port", int) or url.port
        sslmode = merged.pop("sslmode", None)
        if sslmode is not None:
            merged.setdefault("ssl", sslmode)
        kwargs: dict[str, Any] = {}
        for name, cast in (("min_size", int), ("max_size", int), ("statement_cache_size", int)):
            value = _option(merged, name, cast)
            if value is not None:
                kwargs[name] = value
        for name in ("timeout", "command_timeout"):
            seconds = _option(merged, name, float)
            if seconds is not None:
                kwargs[name] = seconds
        for name in ("ssl", "application_name"):
            if name in merged:
                kwargs[name] = merged.pop(name)
        if merged:
            raise errors.ConnectionFailed(
                f"unknown PostgreSQL option(s): {', '.join(sorted(merged))} (known: host, port, min_size, max_size, "
                "timeout, command_timeout, statement_cache_size, ssl, sslmode, application_name)"
            )
        return cls(
            host=host,
            port=port,
            user=url.username or None,
            password=url.password,
            database=url.database or None,
            url=url,
            **kwargs,
        )

    # -- connections ------------------------------------------------------

    def _translate(self, exc: BaseException, context: str = "") -> errors.OmmiError | None:
        return translate_error(exc, context, self._password)

    async def connect(self) -> None:
        if self._pool is not None:
            return
        if self._closed:
            raise errors.ConnectionFailed("this PostgreSQL driver has been closed")
        where = f"cannot connect to {self.url.render()}"
        pool = None
        try:
            pool = await asyncpg.create_pool(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self._password,
                database=self.database,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.timeout,
                command_timeout=self.command_timeout,
                statement_cache_size=self.statement_cache_size,
                ssl=self.ssl,
                server_settings={"application_name": self.application_name},
                connection_class=_Connection,
            )
            if self.min_size == 0:  # nothing was opened yet: check the server answers
                async with pool.acquire() as conn:
                    await conn.execute("SELECT 1")
        except Exception as exc:
            if pool is not None:
                pool.terminate()
            mapped = self._translate(exc, where)
            if mapped is None:
                raise
            if not isinstance(mapped, errors.ConnectionFailed):
                mapped = errors.ConnectionFailed(str(mapped))
            raise mapped from exc
        self._pool = pool

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            # a transaction or stream the program abandoned would hold close() forever
            await asyncio.wait_for(pool.close(), 10)
        except Exception:  # noqa: BLE001 - whatever happens (a timeout included), the pool must go
            pool.terminate()

    def _live_pool(self) -> Any:
        if self._pool is None:
            raise errors.ConnectionFailed(
                "this PostgreSQL driver has been closed" if self._closed else "the PostgreSQL driver is not connected"
            )
        return self._pool

    async def _acquire(self) -> Conn:
        pool = self._live_pool()
        try:
            return await pool.acquire()
        except Exception as exc:
            mapped = self._translate(exc, f"cannot connect to {self.url.render()}")
            if mapped is None:
                raise
            if not isinstance(mapped, errors.ConnectionFailed):
                mapped = errors.ConnectionFailed(str(mapped))
            raise mapped from exc

    async def _release(self, conn: Conn) -> None:
        pool = self._pool
        if pool is None:
            if _usable(conn):
                conn.terminate()
            return
        try:
            await pool.release(conn)
        except Exception:  # noqa: BLE001 - a broken connection is dropped; the pool opens another
            # a lost pooled connection may already be detached from the pool, and terminate()
            # on it raises InterfaceError (found by tests/test_faults.py: it escaped as a raw error)
            with contextlib.suppress(asyncpg.InterfaceError):
                conn.terminate()

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any, retry: bool = False) -> T:
        for attempt in (1, 2):
            conn = await self._acquire()
            try:
                return await fn(conn, *args)
            except Exception as exc:
                if retry and attempt == 1 and _lost(exc):
                    # an idle pooled connection the server had dropped: reads are safe to repeat
                    continue
                mapped = self._translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            finally:
                await self._release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream_rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[list[Any]]:
        conn = await self._acquire()
        try:
            try:
                # PostgreSQL cursors live inside a transaction
                await conn.execute("BEGIN READ ONLY")
                cursor = await conn.cursor(sql, *params)
            except Exception as exc:
                mapped = self._translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            while True:
                try:
                    batch = await cursor.fetch(_STREAM_BATCH)
                except Exception as exc:
                    mapped = self._translate(exc)
                    if mapped is None:
                        raise
                    raise mapped from exc
                if batch:
                    yield batch
                if len(batch) < _STREAM_BATCH:
                    break
        finally:
            if _usable(conn) and conn.is_in_transaction():
                try:
                    await conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - the connection is dropped below if broken
                    conn.terminate()
            await self._release(conn)

    def _returning(self, plan: ModelPlan) -> str | None:
        model = plan.info.cls
        try:
            return self._returning_sql[model]
        except KeyError:
            sql = None
            if plan.insert_auto is not None and plan.auto_index is not None:
                column = self._compiler.dialect.quote(plan.info.fields[plan.auto_index].column)
                sql = f"{plan.insert_auto} RETURNING {column}"
            self._returning_sql[model] = sql
            return sql

    def _save_returning(self, plan: ModelPlan) -> str:
        model = plan.info.cls
        sql = self._save_sql.get(model)
        if sql is None:
            assert plan.save is not None
            q = self._compiler.dialect.quote
            sql = f"{plan.save} RETURNING {', '.join(q(f.column) for f in plan.info.key)}"
            self._save_sql[model] = sql
        return sql

    # -- transactions and schema --------------------------------------------

    async def begin(self) -> DriverTransaction:
        conn = await self._acquire()
        try:
            # REPEATABLE READ, not the server's READ COMMITTED: a transaction reads one snapshot, and
            # a concurrent write to a row it writes fails with a serialization error
            # (TransactionError, retry) instead of silently losing an update - the behaviour of
            # every other ommi backend (found by tests/test_atomicity.py: transfers created money)
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        except Exception as exc:
            await self._release(conn)
            mapped = self._translate(exc, "cannot begin a transaction")
            if mapped is None:
                raise
            raise mapped from exc
        except BaseException:
            await self._release(conn)
            raise
        return _PostgreSQLTransaction(_TxState(self, conn))

    async def _schema(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        await self._run(_op_script, statements)
        await self._schema_changed()

    async def _schema_changed(self) -> None:
        # pooled connections cache prepared statements against the old tables
        if self._pool is not None:
            await self._pool.expire_connections()

    def _change_statements(self, changes: Sequence[SchemaChange]) -> list[tuple[str, tuple[Any, ...]]]:
        with _encoding():
            statements = [st for change in changes for st in self._compiler.schema_change(change)]
        for sql, _ in statements:
            _log(sql)
        return statements

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        await self._schema([(sql, ()) for info in models for sql in self._compiler.create_table(info)])

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        await self._schema([(self._compiler.drop_table(i), ()) for i in models])

    async def server_version(self) -> str:
        version: str = await self._run(_op_version, retry=True)
        return version

    def expected_type(self, field: FieldInfo) -> str | None:
        return self._compiler.expected_type(field)

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        canonical = self._compiler.dialect.canonical_type
        return await self._run(_op_inspect, [m.name for m in models], canonical, retry=True)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        await self._schema(self._change_statements(changes))

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        with _encoding():
            return [render_statement(sql, p) for change in changes for sql, p in self._compiler.schema_change(change)]


class _TxState:
    """One transaction's connection, shared by its savepoints; operations on it take turns."""

    def __init__(self, driver: PostgreSQLDriver, conn: Conn) -> None:
        self.driver = driver
        self.conn = conn
        self.lock = asyncio.Lock()
        self.open = True
        self.schema_changed = False

    async def finish(self) -> None:
        if self.open:
            self.open = False
            await self.driver._release(self.conn)
            if self.schema_changed:
                await self.driver._schema_changed()


class _PostgreSQLTransaction(_Ops, DriverTransaction):
    def __init__(self, state: _TxState, savepoint: str = "") -> None:
        self._state = state
        self._driver = state.driver
        self._compiler = state.driver._compiler
        self._in_tx = True
        self._savepoint = savepoint

    async def _run(self, fn: Callable[..., Awaitable[T]], *args: Any, retry: bool = False) -> T:
        state = self._state
        if not state.open:
            raise errors.TransactionError("this transaction has already ended")
        async with state.lock:
            try:
                return await fn(state.conn, *args)
            except Exception as exc:
                mapped = self._driver._translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc

    async def _stream_rows(self, sql: str, params: Sequence[Any]) -> AsyncIterator[list[Any]]:
        async def open_cursor(conn: Conn) -> Any:
            return await conn.cursor(sql, *params)

        async def fetch(conn: Conn, cursor: Any) -> list[Any]:
            return list(await cursor.fetch(_STREAM_BATCH))

        cursor = await self._run(open_cursor)
        while True:
            batch = await self._run(fetch, cursor)
            if batch:
                yield batch
            if len(batch) < _STREAM_BATCH:
                break

    async def _exec(self, sql: str) -> str:
        async def run(conn: Conn) -> str:
            return str(await conn.execute(sql))

        return await self._run(run)

    async def commit(self) -> None:
        if self._savepoint:
            await self._exec(f"RELEASE SAVEPOINT {self._savepoint}")
            return
        try:
            status = await self._exec("COMMIT")
        finally:
            await self._state.finish()
        if status.strip().upper() == "ROLLBACK":
            # PostgreSQL answers COMMIT of an aborted transaction with a rollback
            raise errors.TransactionError(
                "the transaction was rolled back: a statement in it failed, so PostgreSQL aborted it"
            )

    async def rollback(self) -> None:
        if self._savepoint:
            await self._exec(f"ROLLBACK TO SAVEPOINT {self._savepoint}; RELEASE SAVEPOINT {self._savepoint}")
            return
        try:
            await self._exec("ROLLBACK")
        except errors.ConnectionFailed:
            pass  # the server ends a transaction whose connection is gone: nothing was committed
        finally:
            await self._state.finish()

    async def savepoint(self) -> DriverTransaction:
        name = f"ommi_sp{next(_savepoint_ids)}"
        await self._exec(f"SAVEPOINT {name}")
        return _PostgreSQLTransaction(self._state, name)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        statements = self._driver._change_statements(changes)
        self._state.schema_changed = True
        await self._run(_op_script_in_tx, statements)
