"""MySQL/MariaDB driver: the SQL driver base over an asyncmy connection pool.

Work outside a transaction borrows a pooled connection per operation; each
transaction holds one connection until it ends, and nested blocks are
savepoints on it. Every connection runs in autocommit mode with ommi's own
session settings (strict SQL mode, UTC, SERIALIZABLE transactions), and
transactions are begun and ended explicitly, so no pooled connection keeps
an old snapshot open.

MariaDB undoes a failed statement alone and keeps the transaction going, so
no savepoint guards single writes; a deadlock ends the whole transaction on
the server, which the base then treats as aborted (``TransactionError``).

Fast paths: several generated keys come back from multi-row ``INSERT ...
RETURNING`` statements; rows with their keys go as multi-row ``INSERT``\\s;
both have their values written a column at a time (``_values_text``); a
``save()`` of many instances binds all its rows in one round trip (MariaDB's
bulk execution of a prepared ``UPDATE``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import re
import ssl as ssl_module
from collections.abc import Iterator, Sequence
from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.cursors import Cursor, SSCursor
from asyncmy.errors import InterfaceError, MySQLError, NotSupportedError

from ommi import errors
from ommi.driver import (
    NO_DEFAULT,
    URL,
    LiveColumn,
    LiveTable,
    ModelInfo,
    NativeErrors,
    Option,
    SchemaChange,
    columns_of,
)
from ommi.sql import AsyncConnection, AsyncSQLDriver, IntegrityDetails, ModelPlan, Op
from ommi.sql.commands import call, fetchall

from ._compiler import MySQLDialect

__all__ = ["MySQLConnection", "MySQLDriver"]

logger = logging.getLogger("ommi.mysql")

# Sent once per new connection. Strict mode turns data problems into errors instead of
# warnings and silent truncation; NO_AUTO_VALUE_ON_ZERO keeps an explicit key 0; no
# NO_BACKSLASH_ESCAPES (the like ESCAPE clause is written for backslash escapes). Notes
# (DROP TABLE IF EXISTS of a missing table) are off; AVG of integers keeps 30 decimals
# instead of 4; ORDER BY compares the first 64 KiB of text and bytes values instead of
# the first 1024 bytes (much more runs out of the default sort buffer); SERIALIZABLE: see
# MySQLDialect.begin_sql. SIMULTANEOUS_ASSIGNMENT: UPDATE ... SET a = b, b = a reads the row as it
# was, as standard SQL does (MariaDB would otherwise assign left to right).
INIT_COMMAND = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,"
    "NO_AUTO_VALUE_ON_ZERO,SIMULTANEOUS_ASSIGNMENT', sql_notes = 0, time_zone = '+00:00', "
    "div_precision_increment = 30, "
    "max_sort_length = 65536, tx_isolation = 'SERIALIZABLE'"
)
_STATEMENT_CHARS = 1_000_000  # characters per multi-row INSERT ... RETURNING (<= 4 MB of UTF-8)
_FORMAT_ROWS = 500  # rows formatted together into one multi-row INSERT's text
_MIN_MARIADB = (10, 5)

# error codes (MariaDB's ER_* and the client's CR_*), by what they mean to ommi
_INTEGRITY = frozenset({1022, 1048, 1062, 1169, 1216, 1217, 1451, 1452, 1557, 1586, 1761, 1762, 3819, 4025})
_TRANSACTION = frozenset({1180, 1181, 1205, 1213, 1305, 1568, 1792})
_CONNECTION = frozenset({1040, 1044, 1045, 1049, 1053, 1129, 1130, 1152, 1158, 1159, 1160, 1161, 1927, 4031})
_LOST = frozenset({2006, 2013, 2055})
_VALUE = frozenset({1264, 1265, 1292, 1300, 1365, 1366, 1367, 1406, 1411, 1690, 4078})
# messages that quote a value (statements are sent with their values inlined, so a quoted
# fragment of the statement is a value too): keep the sentence, drop the value
_REDACT = (
    (re.compile(r"^(Duplicate entry) '.*'( for key .*)$", re.S), r"\1\2"),
    (re.compile(r"^(Incorrect \w+ value): '.*'( for column .*)$", re.S), r"\1\2"),
    (re.compile(r"^(Illegal \w+) '.*'( value found.*)$", re.S), r"\1\2"),
    (re.compile(r"^(.*?) near '.*$", re.S), r"\1"),
    (re.compile(r"^(.*? value is out of range) in '.*$", re.S), r"\1"),
    (re.compile(r"^([^']*?): '.*$", re.S), r"\1"),
)


_KEY_NAME = re.compile(r"for key '(.*)'$", re.S)
_CONSTRAINT_NAME = re.compile(r"CONSTRAINT `((?:[^`]|``)*)`")
_COLUMN_NAME = re.compile(r"^Column '(.*)' cannot be null")

_QMARK = re.compile("%[s%]")


def _qmark(m: re.Match[str]) -> str:
    # asyncmy's %s placeholders, for a server-side prepared statement
    return "?" if m[0] == "%s" else "%"


def _code(exc: BaseException) -> int:
    args = exc.args
    return args[0] if args and isinstance(args[0], int) else 0


def _server_error(exc: BaseException) -> type[errors.OmmiError]:
    code = _code(exc)
    if code in _INTEGRITY:
        return errors.IntegrityError
    if code == 1146:
        return errors.MissingTable
    if code in _TRANSACTION:
        return errors.TransactionError
    if code in _CONNECTION or code in _LOST or 2000 <= code < 3000 or isinstance(exc, InterfaceError):
        return errors.ConnectionFailed
    if code in _VALUE:
        return errors.ValidationError
    return errors.QueryError


def _message(exc: BaseException) -> str:
    args = exc.args
    if len(args) < 2 or not isinstance(args[0], int):
        return str(exc)
    code, text = args[0], str(args[1])
    for pattern, keep in _REDACT:
        if pattern.match(text):
            text = pattern.sub(keep, text)
            break
    return f"({code}) {text}"


_ERRORS = NativeErrors(
    "MySQL",
    [
        (MySQLError, _server_error),
        ((OSError, TimeoutError, asyncio.IncompleteReadError), errors.ConnectionFailed),
        ((ValueError, TypeError), errors.QueryError),
    ],
    message=_message,
    # a deadlock or a lock wait that timed out: InnoDB rolled the statement (or transaction) back
    retryable=lambda exc: _code(exc) in (1213, 1205),
)


def _ssl_option(value: Any) -> ssl_module.SSLContext | None:
    if isinstance(value, ssl_module.SSLContext) or value is None:
        return value
    text = str(value).lower()
    if text in ("require", "true", "1", "on"):
        return ssl_module.create_default_context()
    if text in ("disable", "false", "0", "off"):
        return None
    raise ValueError("use require, disable or an ssl.SSLContext")


class _Cursor(Cursor):
    async def _show_warnings(self, conn: Any) -> None:
        # asyncmy logs each warning's text, which can quote a value; ommi logs no values.
        # Strict mode makes data problems errors, so what is left is rare: log the codes.
        result: Any = getattr(self, "_result", None)
        if result is not None and result.has_next:
            return
        for level, code, _text in await conn.show_warnings() or ():
            logger.warning("MySQL %s %s after a statement (its text is not logged: it may quote values)", level, code)


class MySQLConnection(AsyncConnection):
    """The adapter: one pooled asyncmy connection and a reusable cursor."""

    closing_a_cursor_reads_the_rest = True  # the protocol cannot stop a result midway

    def __init__(self, conn: Any, pool: Any) -> None:
        self.conn = conn
        self.pool = pool  # the pool it came from, also while that pool is closing
        self.cur = conn.cursor(_Cursor)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        # always with arguments (maybe none): the text is %-formatted, so "%%" is "%"
        return int(await self.cur.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int | None:
        if sql.startswith("INSERT"):
            # rows with their keys: multi-row statements, formatted a column at a time
            head, _, values = sql.rpartition(" VALUES ")
            head = head % () + " VALUES "  # the text is sent as it is: undo the "%%"
            count = 0
            for part in _values_text(self.conn, values, rows):
                count += int(await self.cur.execute(head + part))
            return count
        if len(rows) > 2:
            # an UPDATE per row (save() of many): MariaDB binds every row in one round trip
            # (COM_STMT_BULK_EXECUTE); asyncmy would send one statement per row
            async with await self.conn.prepare(_QMARK.sub(_qmark, sql)) as statement:
                try:
                    return int((await statement.execute_bulk(rows)).affected_rows)
                except (ValueError, NotSupportedError):
                    pass  # a column NULL in every row, or no bulk support: raised before sending
        return int(await self.cur.executemany(sql, rows) or 0)

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        cur = self.cur
        await cur.execute(sql, tuple(params))
        return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        cur = self.cur
        await cur.execute(sql, tuple(params))  # a buffered cursor: the whole result is read here
        return await cur.fetchone()

    async def insert_id(self, sql: str, params: Sequence[Any]) -> int:
        cur = self.cur
        await cur.execute(sql, tuple(params))
        return int(cur.lastrowid)

    async def fetch_named(self, sql: str, params: Sequence[Any]) -> tuple[list[str], list[Any]]:
        cur = self.cur
        await cur.execute(sql, tuple(params))
        names = [d[0] for d in cur.description or ()]
        return names, list(await cur.fetchall()) if cur.description else []

    async def cursor(self, sql: str, params: Sequence[Any]) -> Any:
        # asyncmy's own class: its fetchmany reads whole batches only for exactly SSCursor
        # (a subclass is read row by row, 4x slower). A SELECT of ommi's has no warnings to log.
        cursor = self.conn.cursor(SSCursor)
        await cursor.execute(sql, tuple(params))
        return cursor

    async def fetchmany(self, cursor: Any, n: int) -> list[Any]:
        return list(await cursor.fetchmany(n))

    async def close_cursor(self, cursor: Any) -> None:
        await cursor.close()  # reads what is left: the connection is free again

    async def begin(self, sql: str) -> None:
        for statement in sql.split("; "):
            await self.execute(statement, ())

    async def close(self) -> None:
        self.conn.close()

    # -- fast paths ---------------------------------------------------------------

    async def insert_returning(self, insert: str, returning: str, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Multi-row ``INSERT ... VALUES (...), (...) RETURNING``: the returned rows, in row order.

        ``insert`` is a one-row ``INSERT ... VALUES (%s, ...)``; the rows are
        sent in statements of at most about 1 MB.
        """
        head, _, values = insert.rpartition(" VALUES ")
        head = head % () + " VALUES "  # the text is sent as it is: undo the "%%"
        returning %= ()
        cur = self.cur
        out: list[Any] = []
        for part in _values_text(self.conn, values, rows):
            await cur.execute(head + part + returning)
            out.extend(await cur.fetchall())
        return out


_NONE = type(None)
# what asyncmy escapes in a string literal (NUL, newline, carriage return, ^Z, both quotes, backslash)
_SPECIAL = "\x00\n\r\x1a\"'\\"


def _column(conn: Any, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
    """One column of a multi-row ``INSERT``: its placeholder in the row template, and its values.

    The text is what asyncmy's ``literal()`` writes for each value, a column at a
    time where all of the column's values have one exact type (plus ``None``):
    ints and bools are their digits (``%d`` is ``str(int(v))``, asyncmy's own form);
    text is quoted in the template, and escaped by asyncmy's ``escape_string``
    (which follows the connection's ``NO_BACKSLASH_ESCAPES``) only when a value
    holds a character it would change. Any other column goes value by value.
    """
    types = set(map(type, values))
    nulls = _NONE in types
    types.discard(_NONE)
    if len(types) == 1:
        (kind,) = types
        if kind is int or kind is bool:
            return ("%s", ["NULL" if v is None else f"{v:d}" for v in values]) if nulls else ("%d", values)
        if kind is str:
            escape = conn.escape_string
            if nulls:
                return "%s", ["NULL" if v is None else "'" + escape(v) + "'" for v in values]
            joined = "".join(values)  # one scan of the column: nearly always nothing to escape
            if any(c in joined for c in _SPECIAL):
                return "'%s'", list(map(escape, values))
            return "'%s'", values
    return "%s", list(map(conn.literal, values))


def _values_text(conn: Any, values: str, rows: Sequence[Sequence[Any]]) -> Iterator[str]:
    """The ``VALUES`` lists of a multi-row ``INSERT`` (``values`` is its one-row ``(%s, ...)``),
    as comma-separated texts of at most ``_STATEMENT_CHARS`` (a longer row alone)."""
    columns = [_column(conn, c) for c in columns_of(rows)]
    pieces = values.split("%s")
    assert len(pieces) == len(columns) + 1 or not rows, "one placeholder per column"
    template = pieces[0] + "".join(p + q for (p, _), q in zip(columns, pieces[1:], strict=False))
    # the values row after row, for one % per group of rows (a third faster than one per row)
    flat = tuple(itertools.chain.from_iterable(zip(*[c for _, c in columns], strict=True)))
    width = len(columns)
    batch: list[str] = []
    size = 0
    for start in range(0, len(rows), _FORMAT_ROWS):
        n = min(_FORMAT_ROWS, len(rows) - start)
        args = flat[start * width : (start + n) * width]
        text = ",".join([template] * n) % args
        # rows whose text is too long for one statement together are formatted one by one
        parts = [text] if len(text) <= _STATEMENT_CHARS else [
            template % args[i : i + width] for i in range(0, len(args), width)
        ]
        for part in parts:
            if batch and size + len(part) > _STATEMENT_CHARS:
                yield ",".join(batch)
                batch, size = [], 0
            batch.append(part)
            size += len(part) + 1
    if batch:
        yield ",".join(batch)


class MySQLDriver(AsyncSQLDriver):
    """MySQL/MariaDB through an asyncmy connection pool.

    Args:
        host: server host name (default ``localhost``).
        port: server port (default 3306).
        user: account to connect as.
        password: the account's password; never shown in a repr, log line or error.
        database: database name.
        unix_socket: path of the server's unix socket (instead of host and port).
        min_size: connections the pool opens at once and keeps (default 1).
        max_size: most connections the pool holds; more concurrent work waits (default 10).
        timeout: seconds to wait when opening a connection (default 10).
        pool_recycle: seconds after which an idle connection is replaced (default 3600;
            keep it below the server's ``wait_timeout``).
        ssl: ``"require"`` (TLS, the server's certificate verified), ``"disable"``, or an
            ``ssl.SSLContext`` (keyword only).
    """

    dialect_class = MySQLDialect
    native_errors = _ERRORS
    options = {  # noqa: RUF012 - read-only table
        "host": Option(str, "server host"),
        "port": Option(int, "server port"),
        "unix_socket": Option(str, "path of the server's unix socket"),
        "min_size": Option(int, "connections kept open"),
        "max_size": Option(int, "most connections"),
        "timeout": Option(float, "seconds to wait for a connection"),
        "pool_recycle": Option(int, "seconds an idle connection is kept"),
        "ssl": Option(_ssl_option, "require (verified TLS), disable, or an ssl.SSLContext"),
    }
    capabilities = frozenset(
        {
            "raw", "transactions", "savepoints", "foreign_keys", "concurrent_transactions", "schema_evolution"}
    )
    schemes = ("mysql", "mariadb")
    stream_batch = 1000

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        *,
        unix_socket: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        pool_recycle: int = 3600,
        ssl: ssl_module.SSLContext | None = None,
        url: URL | None = None,
    ) -> None:
        self.check_pool_sizes("MySQL", min_size, max_size)
        super().__init__()
        self.host = host
        self.port = port
        self.user = user
        self._password = password or None
        self.database = database
        self.unix_socket = unix_socket
        self.min_size = min_size
        self.max_size = max_size
        self.timeout = timeout
        self.pool_recycle = pool_recycle
        self.ssl = ssl
        self.url = url or URL("mysql", user, password, host, port, "/" + (database or ""))
        self.errors = _ERRORS.with_secrets(self._password)
        self._version = ""

    def __repr__(self) -> str:
        return f"MySQLDriver({self.url.render()!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> MySQLDriver:
        """``mysql://user:password@host:3306/database?max_size=10`` (or ``mariadb://``).

        A unix socket goes in the query: ``mysql://user@/db?unix_socket=/run/mysqld/mysqld.sock``.
        Query options and keyword options are the constructor's keyword arguments.
        """
        given = url.options(cls.options, options, backend="MySQL")
        return cls(
            host=given.pop("host", None) or url.host,
            port=given.pop("port", None) or url.port,
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
            raise errors.ConnectionFailed("this MySQL driver has been closed")
        pool = None
        try:
            pool = await asyncmy.create_pool(
                minsize=self.min_size,
                maxsize=self.max_size,
                pool_recycle=self.pool_recycle,
                host=self.host or "localhost",
                port=self.port or 3306,
                unix_socket=self.unix_socket,
                user=self.user,
                password=self._password or "",
                database=self.database,
                connect_timeout=self.timeout,
                ssl=self.ssl,
                charset="utf8mb4",
                autocommit=True,
                init_command=INIT_COMMAND,
                client_flag=CLIENT.FOUND_ROWS,  # UPDATE counts matched rows, not changed ones
            )
            async with pool.acquire() as conn:
                # MariaDB reports "5.5.5-10.11.19-MariaDB-..." to old clients
                self._version = str(conn.get_server_info()).removeprefix("5.5.5-")
            _check_server(self._version, self.url)
        except Exception as exc:
            if pool is not None:
                await _shut(pool)
            if isinstance(exc, errors.OmmiError):
                raise
            raise self.connection_failed(exc, f"cannot connect to {self.url.render()}") from exc
        self._pool = pool

    async def close_pool(self, pool: Any) -> None:
        await _shut(pool)

    async def take_from_pool(self, pool: Any) -> MySQLConnection:
        return MySQLConnection(await pool.acquire(), pool)

    async def release_connection(self, conn: AsyncConnection, reusable: bool) -> None:
        assert isinstance(conn, MySQLConnection)
        native = conn.conn
        if not reusable or self._pool is None:
            native.close()  # the pool forgets a closed connection (and opens another when needed)
        # always handed back: a closing pool waits for every connection it lent
        conn.pool.release(native)

    def connection_usable(self, conn: AsyncConnection) -> bool:
        assert isinstance(conn, MySQLConnection)
        return bool(conn.conn.connected)

    def connection_idle(self, conn: AsyncConnection) -> bool:
        assert isinstance(conn, MySQLConnection)
        native = conn.conn
        return bool(native.connected) and not native.get_transaction_status()

    def connection_lost(self, exc: BaseException) -> bool:
        return _code(exc) in _LOST or isinstance(exc, InterfaceError | ConnectionError)

    def reusable_after(self, exc: BaseException) -> bool:
        # the server's own errors (codes 1000-1999 and 3000 on) leave the connection in order;
        # anything else (a client-side error mid-protocol, a lost connection) may leave it out
        # of step: drop it
        code = _code(exc)
        return isinstance(exc, MySQLError) and code >= 1000 and not 2000 <= code < 3000

    def integrity_details(self, exc: BaseException) -> IntegrityDetails | None:
        code = _code(exc)
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
        if code == 1062:  # Duplicate entry '...' for key 'ux_Person_email' (MariaDB may prefix the table)
            found = _KEY_NAME.search(text)
            return (None, (), found.group(1).rsplit(".", 1)[-1] if found else None)
        if code in (1451, 1452):  # ... CONSTRAINT `fk_Article_writer_id` FOREIGN KEY (`writer_id`) ...
            found = _CONSTRAINT_NAME.search(text)
            return ("reference", (), found.group(1) if found else None)
        if code == 1048:  # Column 'name' cannot be null
            found = _COLUMN_NAME.search(text)
            return ("not_null", (found.group(1),) if found else (), None)
        return None

    async def server_version(self) -> str:
        return f"MariaDB {self._version.split('-', 1)[0]}" if self._version else "MySQL"

    # -- schema --------------------------------------------------------------

    def create_statements(self, info: ModelInfo) -> list[str]:
        # InnoDB whatever the server's default engine: transactions and foreign keys need it
        first, *rest = super().create_statements(info)
        return [first + " ENGINE=InnoDB", *rest]

    def change_statements(self, change: SchemaChange) -> list[tuple[str, tuple[Any, ...]]]:
        f = change.field
        if f is None:
            return super().change_statements(change)
        q = self.dialect.quote
        # MySQL restates the whole column to change its type or its NULL-ness
        column = f"{q(f.column)} {self.dialect.column_type(f)} {'NULL' if f.nullable else 'NOT NULL'}"
        modify = (f"ALTER TABLE {q(change.model.name)} MODIFY COLUMN {column}", ())
        if change.kind in ("retype_column", "change_nullability"):
            out: list[tuple[str, tuple[Any, ...]]] = []
            if change.kind == "change_nullability" and not f.nullable and change.value is not NO_DEFAULT:
                # rows holding NULL get the migration's value first (bound)
                out.append(self.compiler.backfill(f, q(change.model.name), q(f.column), change.value))
            return [*out, modify]
        # text and bytes are VARCHAR/VARBINARY while indexed (see INDEX_BYTES): retype around the index
        before = change.old_field
        if change.kind in ("add_index", "add_unique"):
            was = self.dialect.column_type(before or dataclasses.replace(f, index=False, unique=False))
            if was != self.dialect.column_type(f):
                return [modify, *super().change_statements(change)]
        dropping = change.kind in ("drop_index", "drop_unique") and before is not None
        if dropping and self.dialect.column_type(before) != self.dialect.column_type(f):  # type: ignore[arg-type]
            return [*super().change_statements(change), modify]
        return super().change_statements(change)

    def inspect_op(self, names: Sequence[str]) -> Op[dict[str, LiveTable | None]]:
        canonical = self.dialect.canonical_type
        out: dict[str, LiveTable | None] = {}
        for name in names:
            # information_schema compares names without case: keep the exact ones
            rows = [r for r in (yield fetchall(_COLUMNS_SQL, (name,))) if r[0] == name]
            if not rows:
                out[name] = None
                continue
            columns = tuple(LiveColumn(r[1], "JSON" if r[4] else canonical(r[2]), bool(r[3])) for r in rows)
            indexes: dict[str, tuple[bool, list[str]]] = {}
            for table, index, non_unique, column in (yield fetchall(_INDEXES_SQL, (name,))):
                if table == name:
                    indexes.setdefault(index, (not non_unique, []))[1].append(column)
            key = tuple(indexes.pop("PRIMARY", (True, []))[1])
            unique = frozenset(tuple(c) for u, c in indexes.values() if u)
            plain = frozenset(tuple(c) for u, c in indexes.values() if not u)
            out[name] = LiveTable(name, columns, key, unique, plain)
        return out

    # -- fast paths ---------------------------------------------------------------

    def insert_generated(self, plan: ModelPlan, rows: list[tuple[Any, ...]], in_tx: bool) -> Op[list[int]]:
        if len(rows) == 1:
            return (yield from super().insert_generated(plan, rows, in_tx))
        assert plan.insert_auto is not None and plan.auto_index is not None
        key = self.dialect.quote(plan.info.fields[plan.auto_index].column)
        returning = f" RETURNING {key}"
        got = yield call("insert_returning", plan.insert_auto + returning, plan.insert_auto, returning, rows)
        return [k for (k,) in got]  # BIGINT: asyncmy reads ints


def _check_server(version: str, url: URL) -> None:
    # MariaDB features ommi relies on: the utf8mb4_nopad_bin collation, INSERT ... RETURNING
    # (10.5), DELETE with a subquery on the same table (10.3); MySQL has none of the first two
    numbers = re.match(r"(\d+)\.(\d+)", version)
    found = (int(numbers[1]), int(numbers[2])) if numbers else (0, 0)
    if "mariadb" not in version.lower() or found < _MIN_MARIADB:
        raise errors.UnsupportedError(
            f"MySQL: the server at {url.render()} is {version!r}; ommi's mysql driver needs MariaDB "
            f"{'.'.join(map(str, _MIN_MARIADB))} or later (MySQL servers are not supported yet: "
            "see docs/backends/mysql.md)"
        )


async def _shut(pool: Any) -> None:
    pool.close()
    try:
        # a transaction or stream the program abandoned would hold this forever
        await asyncio.wait_for(pool.wait_closed(), 10)
    except Exception:  # noqa: BLE001 - whatever happens (a timeout included), the pool must go
        pool.terminate()


_COLUMNS_SQL = (
    "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES', EXISTS ("
    "SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA "
    "AND k.TABLE_NAME = c.TABLE_NAME AND k.CONSTRAINT_NAME = c.COLUMN_NAME "
    "AND k.CHECK_CLAUSE LIKE 'json\\_valid(%%')"  # MariaDB's JSON columns are LONGTEXT with this check
    " FROM information_schema.COLUMNS c WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = %s"
    " ORDER BY c.ORDINAL_POSITION"
)

_INDEXES_SQL = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX"
)
