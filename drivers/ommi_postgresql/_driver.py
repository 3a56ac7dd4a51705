"""PostgreSQL driver: the SQL driver base over an asyncpg connection pool.

Work outside a transaction borrows a pooled connection per operation; each
transaction holds one connection until it ends, and nested blocks are
savepoints on it. Statements are compiled once per query shape, so asyncpg's
per-connection prepared-statement cache hits on every repeat; one idle
connection is kept out of the pool between operations (see
:class:`ommi.sql.AsyncSQLDriver`), since asyncpg's release costs as much as a
small query.

PostgreSQL aborts a whole transaction when one statement in it fails. The
base (:mod:`ommi.sql`) keeps a transaction usable without a savepoint per
write: a one-row insert that clashes on a key or unique field, or whose
referenced rows are missing, inserts nothing (``ON CONFLICT DO NOTHING``, and
``EXISTS`` conditions on the referenced rows) and is then reported, or run
again behind a savepoint to report the failure exactly; other statements that
can fail (a unique field being updated, a reference saved) run behind a
savepoint; any other failure marks the transaction aborted.

Fast paths: a bulk ``add()`` of 100 or more rows reserves their keys from
the identity sequence (while the rows are validated and encoded, when every
key is generated) and sends them with ``COPY``; several generated keys
come back from one pipelined ``INSERT ... RETURNING``.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import ssl as ssl_module
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import unquote

import asyncpg  # type: ignore[import-untyped]

from ommi import errors
from ommi.driver import URL, LiveColumn, LiveTable, NativeErrors, Option
from ommi.sql import AsyncConnection, AsyncSQLDriver, IntegrityDetails, ModelPlan, Op
from ommi.sql.commands import call, execute, fetchall, finish, start

from ._compiler import PostgreSQLDialect

__all__ = ["PostgreSQLConnection", "PostgreSQLDriver"]

# SQLSTATE classes and codes that mean "the database is unreachable or went away"
_CONNECTION_STATES = ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03")
_TRANSACTION_STATES = ("40", "25")

_INTEGRITY_KINDS = {"23505": "unique", "23503": "reference", "23502": "not_null"}

_COPY_THRESHOLD = 100  # from this many generated-key rows on, one add() uses COPY

# The sequence is looked up once (a materialized CTE: inside nextval() it would be looked up
# per row, 30 ms for 10,000 keys against 3.6); $3 keys are drawn from it.
_SEQUENCE = "WITH q AS MATERIALIZED (SELECT pg_get_serial_sequence($1, $2)::regclass AS s) "

# Usually no other session drew from the sequence meanwhile and the keys are consecutive:
# then the first, the last and the count say which they are (3.1 ms for 10,000 keys, against
# 3.5 for sending each key back).
_RESERVE_KEYS = (
    _SEQUENCE + "SELECT min(v), max(v), count(*) "
    "FROM (SELECT nextval(q.s) AS v FROM q, generate_series(1, $3::int)) AS k"
)

# Keys that came out scattered are left unused (a sequence has gaps anyway) and others drawn,
# sent back as one text value: one row instead of 10,000, and not an int8[] array, whose codec
# asyncpg looks up with a query of its own (4 ms) on each connection after a schema change.
_RESERVE_LISTED_KEYS = _SEQUENCE + "SELECT string_agg(nextval(q.s)::text, ',') FROM q, generate_series(1, $3::int)"

_BUMP_IDENTITY = (
    # An explicit key may lie ahead of the identity sequence: move the sequence
    # past it so later generated keys cannot collide (never move it back).
    "SELECT setval(q.s, $2) FROM (SELECT pg_get_serial_sequence($1, $3)::regclass AS s) AS q "
    "WHERE coalesce(pg_sequence_last_value(q.s), 0) < $2"
)


def _server_error(exc: BaseException) -> type[errors.OmmiError]:
    """An error the server reported, by SQLSTATE."""
    state = str(getattr(exc, "sqlstate", "") or "")
    if state.startswith("23"):
        return errors.IntegrityError
    if state == "42P01":
        return errors.MissingTable
    if state.startswith(_CONNECTION_STATES):
        return errors.ConnectionFailed
    if state.startswith(_TRANSACTION_STATES):
        return errors.TransactionError
    if state == "2201B":
        # a like pattern PostgreSQL's regex engine refuses ("too complex"): the query, not a stored value
        return errors.QueryError
    if state.startswith("22"):
        return errors.ValidationError
    return errors.QueryError


def _interface_error(exc: BaseException) -> type[errors.OmmiError]:
    msg = str(exc)
    if isinstance(exc, ValueError) and not isinstance(exc, asyncpg.ClientConfigurationError):
        return errors.ValidationError  # asyncpg's own DataError: a value its codecs cannot encode
    if "released back to the pool" in msg:
        return errors.ConnectionFailed  # asyncpg detaches a pooled connection once it is lost
    if isinstance(exc, asyncpg.ClientConfigurationError) or "closed" in msg or "pool" in msg:
        return errors.ConnectionFailed
    return errors.QueryError


def _internal_error(exc: BaseException) -> type[errors.OmmiError]:
    if isinstance(exc, asyncpg.TargetServerAttributeNotMatched):
        return errors.ConnectionFailed
    # a connection left mid-operation when the server went away
    return errors.ConnectionFailed if "another operation" in str(exc) else errors.QueryError


def _message(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.InterfaceError) and "released back to the pool" in str(exc):
        return "the connection to the PostgreSQL server was lost"
    if isinstance(exc, asyncpg.TargetServerAttributeNotMatched):
        # every host answered, none of the wanted kind: during a failover, before a standby is promoted
        return f"no server in the host list is of the kind target_session_attrs asks for ({exc})"
    return str(exc)  # asyncpg's text already carries DETAIL and HINT lines


_ERRORS = NativeErrors(
    "PostgreSQL",
    [
        (asyncpg.PostgresError, _server_error),
        (asyncpg.InterfaceError, _interface_error),
        ((OSError, TimeoutError), errors.ConnectionFailed),
        (asyncpg.InternalClientError, _internal_error),
        ((ValueError, TypeError, OverflowError), errors.ValidationError),
    ],
    message=_message,
    # serialization failure and deadlock: the transaction lost a race with another
    retryable=lambda exc: str(getattr(exc, "sqlstate", "") or "") in ("40001", "40P01"),
)


_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")


def _session_attrs(value: Any) -> str:
    """A ``target_session_attrs`` value asyncpg knows (its own error message is unreadable)."""
    text = str(value).strip().lower()
    if text not in _SESSION_ATTRS:
        raise ValueError(f"expected one of {', '.join(_SESSION_ATTRS)}")
    return text


def _host_list(entries: Sequence[str], port: int | None) -> tuple[list[str], list[int]]:
    """Hosts and ports of a multi-host URL: ``h1:5432,[::1]:5433,h3`` (a host without a port
    takes the ``port`` option, else 5432, as libpq does)."""
    hosts: list[str] = []
    ports: list[int] = []
    for entry in entries:
        if entry.startswith("["):  # an IPv6 address, [::1] or [::1]:5433
            address, _, rest = entry[1:].partition("]")
            number = rest[1:] if rest.startswith(":") else ""
        else:
            address, _, number = entry.partition(":")
        if not address or (number and not number.isdigit()):
            raise errors.ConnectionFailed(f"malformed host {entry!r} in a PostgreSQL host list")
        hosts.append(unquote(address))
        ports.append(int(number) if number else port or 5432)
    return hosts, ports


def _rowcount(status: str) -> int:
    # "UPDATE 3", "DELETE 0", "INSERT 0 1": the command tag ends with the row count
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else -1


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection released without asyncpg's reset query.

    ommi changes no session state (transactions are begun and ended
    explicitly; cursors live inside them), so the ``RESET ALL``/``CLOSE ALL``
    round trip on every release is pure cost. asyncpg still rolls back any
    transaction left open on release.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgreSQLConnection(AsyncConnection):
    """The adapter: one pooled asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        # statements prepared while the connection is borrowed (asyncpg's prepared statements
        # last that long), kept across schema changes (see fetch_kept)
        self.kept: dict[str, Any] = {}

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        status = await (self.conn.execute(sql, *params) if params else self.conn.execute(sql))
        return _rowcount(status)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None:
        if sql.startswith(("UPDATE", "DELETE")):
            # asyncpg's executemany reports no row counts; one row back per row changed does,
            # in the same pipelined round trip (else save() would have to look for the rows)
            return len(await self.conn.fetchmany(sql + " RETURNING 1", rows))
        await self.conn.executemany(sql, rows)
        return None

    def fetchall(self, sql: str, params: Sequence[Any]) -> Coroutine[Any, Any, list[Any]]:
        return self.conn.fetch(sql, *params)  # type: ignore[no-any-return]  # (no frame of its own: every read)

    def fetchone(self, sql: str, params: Sequence[Any]) -> Coroutine[Any, Any, Any]:
        return self.conn.fetchrow(sql, *params)  # type: ignore[no-any-return]  # (no frame of its own: every add)

    async def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        raise errors.UnsupportedError("PostgreSQL returns generated keys with RETURNING")

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Any]]:
        statement = await self.conn.prepare(sql)
        names = [a.name for a in statement.get_attributes()]
        return names, list(await statement.fetch(*params))

    async def cursor(self, sql: str, params: Sequence[Any]) -> Any:
        return await self.conn.cursor(sql, *params)

    async def fetchmany(self, cursor: Any, n: int) -> list[Any]:
        return list(await cursor.fetch(n))

    async def commit(self, sql: str) -> None:
        if (await self.conn.execute(sql)).strip().upper() == "ROLLBACK":
            # PostgreSQL answers COMMIT of an aborted transaction with a rollback
            raise errors.TransactionError(
                "the transaction was rolled back: a statement in it failed, so PostgreSQL aborted it"
            )

    async def close(self) -> None:
        await self.conn.close()

    async def reload_schema_state(self) -> None:
        await self.conn.reload_schema_state()

    # -- fast paths ---------------------------------------------------------------

    async def returning_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """``executemany`` of an ``INSERT ... RETURNING``: every returned row, pipelined."""
        return await self.conn.fetchmany(sql, rows)  # type: ignore[no-any-return]

    async def fetch_kept(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """``fetchall`` of a statement that reads no table, prepared once while the connection is borrowed.

        No schema change can make its plan stale, so it is kept when asyncpg's
        statement cache is dropped: its request then goes out in one write, and
        a started one runs while the operation computes (a statement asyncpg
        prepared first would wait for the operation before it ran).
        """
        statement = self.kept.get(sql) or await self.prepare_kept(sql)
        return await statement.fetch(*params)  # type: ignore[no-any-return]

    async def prepare_kept(self, sql: str) -> Any:
        """The kept statement of ``sql`` (see :meth:`fetch_kept`), prepared on its first use."""
        kept = self.kept
        statement = kept.get(sql)
        if statement is None:
            statement = kept[sql] = await self.conn.prepare(sql)
        return statement

    async def copy_records(self, table: str, records: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        await self.conn.copy_records_to_table(table, records=records, columns=columns)


def _usable(conn: Any) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # a pooled connection detached after it was lost
        return False


class PostgreSQLDriver(AsyncSQLDriver):
    """PostgreSQL through an asyncpg connection pool.

    Args:
        host: server host name, or a directory holding the server's unix socket;
            several hosts (a list, or ``h1,h2`` in the URL) are tried in order.
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
        target_session_attrs: with several hosts, which server to use:
            ``"read-write"`` (or ``"primary"``) finds the primary, ``"standby"``,
            ``"read-only"``, ``"prefer-standby"`` a standby, ``"any"`` (the
            default) the first that answers. It is checked each time a
            connection opens, so a pool follows a promoted standby after a failover.
    """

    dialect_class = PostgreSQLDialect
    native_errors = _ERRORS
    options = {  # noqa: RUF012 - read-only table
        "host": Option(str, "server host or unix-socket directory"),
        "port": Option(int, "server port"),
        "min_size": Option(int, "connections kept open"),
        "max_size": Option(int, "most connections"),
        "timeout": Option(float, "seconds to wait for a connection"),
        "command_timeout": Option(float, "seconds a statement may run"),
        "statement_cache_size": Option(int, "prepared statements cached per connection"),
        "ssl": Option(str, "asyncpg's ssl mode"),
        "sslmode": Option(str, "libpq's name for ssl"),
        "application_name": Option(str, "shown in pg_stat_activity"),
        "target_session_attrs": Option(
            _session_attrs, "with several hosts: read-write, read-only, primary, standby, prefer-standby, any"
        ),
    }
    capabilities = frozenset(
        {
            "raw",
            "transactions",
            "savepoints",
            "foreign_keys",
            "concurrent_transactions",
            "schema_evolution",
            "transactional_schema",
            "infinite_floats",
            "signed_zero",
        }
    )
    schemes = ("postgresql", "postgres")

    def __init__(
        self,
        host: str | list[str] | None = None,
        port: int | list[int] | None = None,
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
        target_session_attrs: str | None = None,
        url: URL | None = None,
    ) -> None:
        self.check_pool_sizes("PostgreSQL", min_size, max_size)
        super().__init__()
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
        self.target_session_attrs = target_session_attrs
        single = host if isinstance(host, str) else None
        self.url = url or URL(
            "postgresql",
            user,
            password,
            single if single and not single.startswith("/") else None,
            port if isinstance(port, int) else None,
            "/" + (database or ""),
            {"host": single} if single and single.startswith("/") else {},
        )
        self.errors = _ERRORS.with_secrets(self._password)

    def __repr__(self) -> str:
        return f"PostgreSQLDriver({self.url.render()!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> PostgreSQLDriver:
        """``postgresql://user:password@host:port/database?min_size=1&max_size=10``.

        A unix-socket directory goes in the query: ``postgresql://user@/db?host=/run/postgresql``.
        Several hosts: ``postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write``.
        Query options and keyword options are the constructor's keyword arguments.
        """
        given = url.options(cls.options, options, backend="PostgreSQL")
        sslmode = given.pop("sslmode", None)
        if sslmode is not None:
            given.setdefault("ssl", sslmode)
        host: Any = given.pop("host", None) or url.host
        port: Any = given.pop("port", None) or url.port
        if url.hosts:
            host, port = _host_list(url.hosts, port)
        return cls(
            host=host,
            port=port,
            user=url.username or None,
            password=url.password,
            database=url.database or None,
            url=url,
            **given,
        )

    # -- connections ------------------------------------------------------

    async def connect(self) -> None:
        if self._pool is not None:
            return
        if self._closed:
            raise errors.ConnectionFailed("this PostgreSQL driver has been closed")
        where = f"cannot connect to {self.url.render()}"
        pool = None
        extra: dict[str, Any] = {}
        if self.target_session_attrs is not None:
            extra["target_session_attrs"] = self.target_session_attrs
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
                **extra,
            )
            async with pool.acquire() as conn:  # (with min_size=0 this also checks the server answers)
                # PostgreSQL 18's pg_unicode_fast collation gives lower()/upper() full Unicode case
                # mapping; under the "C" collation of ommi's text columns they change ASCII only
                dialect = self.dialect
                assert isinstance(dialect, PostgreSQLDialect)
                dialect.unicode_case = conn.get_server_version().major >= 18
        except Exception as exc:
            if pool is not None:
                pool.terminate()
            raise self.connection_failed(exc, where) from exc
        self._pool = pool

    async def close_pool(self, pool: Any) -> None:
        try:
            # a transaction or stream the program abandoned would hold close() forever
            await asyncio.wait_for(pool.close(), 10)
        except Exception:  # noqa: BLE001 - whatever happens (a timeout included), the pool must go
            pool.terminate()

    async def take_from_pool(self, pool: Any) -> PostgreSQLConnection:
        return PostgreSQLConnection(await pool.acquire())

    async def release_connection(self, conn: AsyncConnection, reusable: bool) -> None:
        assert isinstance(conn, PostgreSQLConnection)
        native = conn.conn
        pool = self._pool
        if pool is None:
            if _usable(native):
                native.terminate()
            return
        try:
            if not reusable and _usable(native):
                native.terminate()  # the pool opens a fresh one in its place
            await pool.release(native)
        except Exception:  # noqa: BLE001 - a broken connection is dropped; the pool opens another
            # a lost pooled connection may already be detached from the pool, and terminate()
            # on it raises InterfaceError (found by tests/test_faults.py: it escaped as a raw error)
            with contextlib.suppress(asyncpg.InterfaceError):
                native.terminate()

    def connection_usable(self, conn: AsyncConnection) -> bool:
        assert isinstance(conn, PostgreSQLConnection)
        return _usable(conn.conn)

    def connection_idle(self, conn: AsyncConnection) -> bool:
        assert isinstance(conn, PostgreSQLConnection)
        # One call through the pool's proxy, not two (asked after every operation): a
        # connection lost since is kept as the spare no longer than the next operation,
        # whose acquire_connection() finds it unusable and hands it back to the pool
        try:
            return not conn.conn.is_in_transaction()
        except asyncpg.InterfaceError:  # a pooled connection detached after it was lost
            return False

    def connection_lost(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.ConnectionDoesNotExistError | ConnectionResetError | BrokenPipeError)

    def integrity_details(self, exc: BaseException) -> IntegrityDetails | None:
        state = str(getattr(exc, "sqlstate", "") or "")
        kind = _INTEGRITY_KINDS.get(state)
        if kind is None:
            return None
        column = getattr(exc, "column_name", None)
        # DETAIL: Key (email)=(...) already exists. (the values are not used)
        detail = str(getattr(exc, "detail", "") or "")
        columns: tuple[str, ...] = (column,) if column else ()
        if not columns and detail.startswith("Key (") and ")=(" in detail:
            columns = tuple(c.strip().strip('"') for c in detail[5 : detail.index(")=(")].split(","))
        return (kind, columns, getattr(exc, "constraint_name", None))  # type: ignore[return-value]

    def reusable_after(self, exc: BaseException) -> bool:
        # asyncpg refusing to encode an argument leaves the connection inside an implicit
        # transaction for the next simple query ("SET TRANSACTION ISOLATION LEVEL must be
        # called before any query"): drop it rather than hand it out again
        return not (isinstance(exc, asyncpg.DataError) and "invalid input for query argument" in str(exc))

    async def server_version(self) -> str:
        def version() -> Op[str]:
            row = yield fetchall("SELECT 'PostgreSQL ' || current_setting('server_version')")
            return str(row[0][0])

        return await self._autocommit(version, "cannot read the server version", None, read=True)

    async def schema_changed(self) -> None:
        # Pooled connections cache prepared statements against the old tables. Dropping those
        # caches (asyncpg does it for every connection of the pool, the spare and those in use
        # included; statements are prepared again on their next use) keeps the connections: the
        # pool's expire_connections() would reconnect each one, and a new server process pays
        # several milliseconds warming its caches on its first statements.
        def reload() -> Op[None]:
            yield call("reload_schema_state", "")

        await self._autocommit(reload, "cannot reload the schema state", None)

    def schema_changed_here(self) -> Op[None]:
        # the transaction's own connection must not reuse statements prepared against the old tables
        yield call("reload_schema_state", "")

    # -- fast paths ---------------------------------------------------------------

    def insert_generated(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool) -> Op[list[int]]:
        assert plan.returning_key is not None
        ai = plan.auto_index
        if len(rows) == 1:
            return (yield from super().insert_generated(plan, rows, in_tx))
        if len(rows) < _COPY_THRESHOLD or ai is None:
            returned = yield call("returning_many", plan.returning_key, plan.returning_key, rows)
            return [int(r[0]) for r in returned]
        # Bulk: reserve the keys from the identity sequence, then COPY the rows
        # with their keys: one statement each way, and keys known in order.
        drawn = yield finish((yield from self.draw_keys(plan, len(rows))))
        return (yield from self.insert_drawn(plan, rows, in_tx, drawn))

    # A bulk add of rows that all have generated keys starts reserving them before it
    # encodes the rows: PostgreSQL draws 10,000 keys (~3 ms) while the client encodes them.
    draws_keys_from = _COPY_THRESHOLD

    def draw_keys(self, plan: ModelPlan, n: int) -> Op[Any]:
        ai = plan.auto_index
        assert ai is not None
        args = (plan.table, plan.info.fields[ai].column, n)
        if not self.statement_cache_size:  # no named statements (a pooler in front, say)
            return (yield start(fetchall(_RESERVE_KEYS, args)))
        # prepared first (on a connection's first use; asyncpg would prepare it inside the started
        # command, whose next step waits for the operation), the reservation then goes out at once
        yield call("prepare_kept", "", _RESERVE_KEYS)
        return (yield start(call("fetch_kept", _RESERVE_KEYS, _RESERVE_KEYS, args)))

    def insert_drawn(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool, drawn: Any) -> Op[list[int]]:
        ai = plan.auto_index
        assert ai is not None
        first, last, count = drawn[0]
        if last - first + 1 == count:
            keys = list(range(first, last + 1))
        else:
            args = (plan.table, plan.info.fields[ai].column, len(rows))
            keys = sorted(map(int, (yield fetchall(_RESERVE_LISTED_KEYS, args))[0][0].split(",")))
        # the key column last: each record is its row plus the key
        # (C-level: 0.47 ms for 10,000 rows, against 1.1 for [r + (k,) for ...])
        records = list(map(operator.add, rows, zip(keys)))
        columns = [f.column for i, f in enumerate(plan.info.fields) if i != ai] + [plan.info.fields[ai].column]
        text = f"COPY {plan.table} ({', '.join(self.dialect.quote(c) for c in columns)}) FROM STDIN (BINARY)"
        yield call("copy_records", text, plan.info.name, records, columns)
        return keys

    def after_given_keys(self, plan: ModelPlan, top: int) -> Op[None]:
        ai = plan.auto_index
        assert ai is not None
        yield execute(_BUMP_IDENTITY, (plan.table, top, plan.info.fields[ai].column))

    def inspect_op(self, names: Sequence[str]) -> Op[dict[str, LiveTable | None]]:
        canonical = self.dialect.canonical_type
        out: dict[str, LiveTable | None] = {}
        for name in names:
            rows = yield fetchall(_COLUMNS_SQL, (name,))
            if not rows:
                out[name] = None
                continue
            columns = tuple(LiveColumn(r[0], canonical(r[1]), bool(r[2])) for r in rows)
            key: tuple[str, ...] = ()
            unique: set[tuple[str, ...]] = set()
            indexes: set[tuple[str, ...]] = set()
            for is_unique, is_primary, cols in (yield fetchall(_INDEXES_SQL, (name,))):
                if is_primary:
                    key = tuple(cols)
                else:
                    (unique if is_unique else indexes).add(tuple(cols))
            out[name] = LiveTable(name, columns, key, frozenset(unique), frozenset(indexes))
        return out


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
