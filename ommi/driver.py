"""The driver SPI: what a database driver implements, and how ommi finds it.

A driver is a subclass of :class:`Driver`. It receives immutable statement
nodes from :mod:`ommi.query`, returns plain values (model instances, counts)
or raises :mod:`ommi.errors`, and never builds ``DBResult`` objects: the
interface layer (:class:`ommi.Ommi`) does that.

Drivers register their URL schemes in the ``ommi.drivers`` entry-point group::

    [project.entry-points."ommi.drivers"]
    sqlite = "ommi_sqlite:SQLiteDriver"

Built-in drivers register exactly the same way.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import logging
import os
import queue
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ommi import errors
from ommi._adapters import NO_DEFAULT
from ommi._model import FieldInfo, ModelInfo, get_model_info, infos_in_dependency_order
from ommi.query import Aggregate, Delete, Insert, Save, Select, Update

__all__ = [
    "CAPABILITIES",
    "NO_DEFAULT",
    "URL",
    "Driver",
    "DriverTransaction",
    "FieldInfo",
    "LiveColumn",
    "LiveTable",
    "ModelInfo",
    "SchemaChange",
    "Statements",
    "ThreadWorker",
    "available_drivers",
    "convert_value",
    "infos_in_dependency_order",
    "load_driver",
    "log_statement",
    "model_info",
    "parse_url",
    "statement_logger",
]

model_info = get_model_info
"""``model_info(Model)`` returns the :class:`ModelInfo` a driver compiles against."""

statement_logger = logging.getLogger("ommi.statements")
"""Drivers log each statement's text here at DEBUG level: the text only, never bound values."""


def log_statement(backend: str, text: str) -> None:
    """Record a statement's text (never its bound values) on :data:`statement_logger`."""
    if statement_logger.isEnabledFor(logging.DEBUG):
        statement_logger.debug("%s: %s", backend, text)

CAPABILITIES: Mapping[str, str] = {
    "transactions": "atomic transactions with commit and rollback",
    "savepoints": "nested transaction blocks (savepoints)",
    "foreign_keys": "ReferenceTo fields are enforced by the database",
    "concurrent_transactions": "several transactions may be open at once",
    "schema_evolution": "the schema can be inspected and changed (schema diff and sync)",
    "transactional_schema": "schema changes run inside a transaction and roll back with it (migrations)",
}
"""Every capability name a driver may declare, with what it promises."""

_EXTRAS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "duckdb": "duckdb",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "sqlite": "",
}


@dataclass(frozen=True)
class URL:
    """A parsed database URL; the password never appears in ``repr`` or ``str``."""

    scheme: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()
    """Several ``host[:port]`` entries (``mongodb://h1,h2:27018/db``); then ``host`` and ``port`` are ``None``."""

    @property
    def database(self) -> str:
        """The path without its leading slash (a database name for server URLs)."""
        return self.path[1:] if self.path.startswith("/") else self.path

    def render(self, *, hide_password: bool = True) -> str:
        """The URL as text; the password shows as ``***`` unless ``hide_password=False``."""
        netloc = ""
        if self.username is not None or self.password is not None:
            netloc = quote(self.username or "", safe="")
            if self.password is not None:
                netloc += ":" + ("***" if hide_password else quote(self.password, safe=""))
            netloc += "@"
        if self.hosts:
            netloc += ",".join(self.hosts)
        elif self.host:
            netloc += f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
        if self.port is not None:
            netloc += f":{self.port}"
        text = f"{self.scheme}://{netloc}{self.path}"
        if self.query:
            text += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in self.query.items())
        return text

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"URL({self.render()!r})"


def parse_url(url: str) -> URL:
    """Parse ``scheme://user:password@host:port/path?key=value``.

    Raises:
        ConnectionFailed: the URL is malformed (the message never shows the password).
    """
    if not isinstance(url, str) or "://" not in url:
        raise errors.ConnectionFailed(
            "malformed database URL: expected scheme://..., e.g. sqlite:///app.db"
        )
    scheme = url.split("://", 1)[0].lower()
    try:
        parts = urlsplit(url)
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        if "," in hostlist:  # a host list, as MongoDB replica sets use
            user, colon, password = userinfo.partition(":")
            return URL(
                scheme=scheme,
                username=unquote(user) if userinfo else None,
                password=unquote(password) if colon else None,
                path=unquote(parts.path),
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                hosts=tuple(h for h in hostlist.split(",") if h),
            )
        port = parts.port
    except ValueError as exc:
        raise errors.ConnectionFailed(f"malformed {scheme} URL: bad host or port") from exc
    return URL(
        scheme=scheme,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        path=unquote(parts.path),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def available_drivers() -> dict[str, Any]:
    """The installed drivers, by URL scheme (the ``ommi.drivers`` entry-point group)."""
    from importlib import metadata

    return {ep.name: ep for ep in metadata.entry_points(group="ommi.drivers")}


_GROUP_HEADER = "[ommi.drivers]"
_scanned: dict[str, str] | None = None


def _scan_entry_points() -> dict[str, str]:
    """``scheme -> "module:attr"`` read straight from installed ``*.dist-info`` folders.

    Connecting should not cost the import of :mod:`importlib.metadata` (a
    large share of ommi's start-up time); anything this quick scan cannot
    see (zipped or unusual installs) falls back to it in :func:`load_driver`.
    """
    global _scanned  # noqa: PLW0603 - computed once per process
    if _scanned is not None:
        return _scanned
    found: dict[str, str] = {}
    for base in sys.path:
        try:
            entries = os.listdir(base or ".")
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith(".dist-info"):
                continue
            try:
                with open(os.path.join(base or ".", entry, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if _GROUP_HEADER in text:
                for name, value in _section(text):
                    found.setdefault(name, value)
    _scanned = found
    return found


def _section(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line == _GROUP_HEADER
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip().strip('"'), value.strip()))
    return out


def load_driver(scheme: str) -> type[Driver]:
    """Import the driver class registered for a URL scheme.

    Raises:
        UnsupportedError: no installed driver handles ``scheme``; the message
            lists the installed ones and the pip extra that would add it.
    """
    spec = _scan_entry_points().get(scheme)
    if spec is not None:
        module_name, _, attr = spec.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                found = getattr(found, part)
        except ImportError as exc:
            extra = _EXTRAS.get(scheme)
            hint = f"; install it with: pip install 'ommi[{extra}]'" if extra else ""
            raise errors.UnsupportedError(
                f"the {scheme!r} driver is installed but cannot be imported: {exc}{hint}"
            ) from exc
        if isinstance(found, type) and issubclass(found, Driver):
            return found
    drivers = available_drivers()
    entry = drivers.get(scheme)
    if entry is None:
        installed = ", ".join(sorted(drivers)) or "none"
        extra = _EXTRAS.get(scheme)
        hint = (
            f"; install it with: pip install 'ommi[{extra}]'"
            if extra
            else "; a third-party driver registers its scheme in the 'ommi.drivers' entry-point group"
        )
        raise errors.UnsupportedError(
            f"no ommi driver for URL scheme {scheme!r} (installed drivers: {installed}){hint}"
        )
    try:
        driver = entry.load()
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = f"; install it with: pip install 'ommi[{extra}]'" if extra else ""
        raise errors.UnsupportedError(
            f"the {scheme!r} driver is installed but cannot be imported: {exc}{hint}"
        ) from exc
    if not (isinstance(driver, type) and issubclass(driver, Driver)):
        raise errors.UnsupportedError(f"entry point {entry.value!r} for {scheme!r} is not an ommi Driver")
    return driver


@dataclass(frozen=True, slots=True)
class LiveColumn:
    """A column as the database reports it."""

    name: str
    type: str
    nullable: bool


@dataclass(frozen=True, slots=True)
class LiveTable:
    """A table (or collection) as the database reports it.

    ``columns`` is ``None`` for schemaless stores (documents have no fixed
    fields). ``unique`` and ``indexes`` hold column-name tuples; ``indexes``
    lists non-unique indexes only.
    """

    name: str
    columns: tuple[LiveColumn, ...] | None
    key: tuple[str, ...]
    unique: frozenset[tuple[str, ...]] = frozenset()
    indexes: frozenset[tuple[str, ...]] = frozenset()

    def column(self, name: str) -> LiveColumn | None:
        """The column called ``name``, if any."""
        return next((c for c in self.columns or () if c.name == name), None)


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """One change to a database's schema, and what a driver needs to make it.

    ``kind`` is one of:

    * ``add_table``, ``add_column``, ``add_index``, ``add_unique`` (safe: additive);
    * ``add_required_column``, ``drop_column``, ``retype_column``,
      ``change_nullability``, ``change_key`` (destructive: ``sync`` needs an
      explicit ``allow``);
    * ``drop_table``, ``rename_table``, ``rename_column``, ``drop_index``,
      ``drop_unique``, ``backfill`` (made by migrations only, never by ``sync``).

    ``model`` is the model as it is after the change (for ``drop_table``, the
    table being dropped). Migrations also set ``before``, the model as it was
    before the change, so a driver can find what existed (index names, a
    dropped field's type); ``schema sync`` leaves it ``None``.

    ``old`` is the previous name for ``rename_table`` (a table name) and
    ``rename_column`` (a column name; ``column`` holds the new one).

    ``value`` is what existing rows get: for ``add_column`` and
    ``add_required_column`` (``NO_DEFAULT``: the field's plain default, else a
    zero value), for ``change_nullability`` towards NOT NULL (``NO_DEFAULT``:
    no backfill; rows holding NULL make the change fail) and for ``backfill``
    (``UPDATE ... SET column = value WHERE column IS NULL``). Drivers bind it
    as a parameter where the database allows.
    """

    kind: str
    model: ModelInfo
    column: str | None = None
    detail: str = ""
    old: str | None = None
    value: Any = field(default=NO_DEFAULT, repr=False)
    before: ModelInfo | None = field(default=None, repr=False, compare=False)

    SAFE: ClassVar[frozenset[str]] = frozenset({"add_table", "add_column", "add_index", "add_unique"})

    @property
    def safe(self) -> bool:
        """Whether applying the change can lose or reject existing data."""
        return self.kind in self.SAFE

    @property
    def field(self) -> FieldInfo | None:
        """The model's field for the column, when the model has one."""
        return self.model.by_column.get(self.column) if self.column else None

    @property
    def old_field(self) -> FieldInfo | None:
        """The field as it was before the change (``before``'s field for the old or current column)."""
        if self.before is None:
            return None
        name = self.old if self.kind == "rename_column" else self.column
        return self.before.by_column.get(name) if name else None

    def __str__(self) -> str:
        target = self.model.name + (f".{self.column}" if self.column else "")
        if self.kind == "rename_table":
            target = f"{self.old} -> {self.model.name}"
        elif self.kind == "rename_column":
            target = f"{self.model.name}.{self.old} -> {self.column}"
        mark = "safe" if self.safe else "destructive"
        return f"[{mark}] {self.kind} {target}" + (f": {self.detail}" if self.detail else "")


def convert_value(field: FieldInfo, value: Any) -> Any:
    """A stored Python value converted for ``field``'s (new) type, as a retyping schema change does.

    For stores without column types (documents, the memory store), the
    counterpart of SQL's ``CAST``: numbers move between ``int``, ``float`` and
    ``Decimal`` when nothing is lost, numbers become text and numeric text
    becomes numbers; anything else must already fit the field.

    Raises:
        ValidationError: the value does not fit the new type.
    """
    if value is None or isinstance(value, bool):
        return field.check(value)
    kind = field.kind.value
    try:
        if kind == "float" and isinstance(value, int | Decimal | str):
            value = float(value)
        elif kind == "int" and isinstance(value, float | Decimal) and value == int(value):
            value = int(value)
        elif kind == "int" and isinstance(value, str):
            value = int(value.strip())
        elif kind == "decimal" and isinstance(value, int | float | str):
            value = Decimal(str(value).strip())
        elif kind == "str" and isinstance(value, int | float | Decimal):
            value = str(value)
    except (ValueError, ArithmeticError) as exc:
        raise errors.ValidationError(f"{field.model.name}.{field.column}: {value!r} is not a {kind}") from exc
    return field.check(value)


class Statements(abc.ABC):
    """The statement methods shared by a driver and its transactions."""

    @abc.abstractmethod
    async def insert(self, stmt: Insert) -> None:
        """Store the instances atomically (all or none) and write generated keys back.

        Raises:
            IntegrityError: a key or unique constraint was violated.
        """

    @abc.abstractmethod
    async def select(self, stmt: Select) -> list[Any]:
        """Return the matching rows as model instances."""

    @abc.abstractmethod
    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        """Yield matching instances in batches from one cursor, never loading all rows."""

    @abc.abstractmethod
    async def count(self, stmt: Select) -> int:
        """Count the rows the select would return (its limit and offset apply)."""

    @abc.abstractmethod
    async def update(self, stmt: Update) -> int:
        """Set the values on matching rows; return the number of rows matched."""

    @abc.abstractmethod
    async def delete(self, stmt: Delete) -> int:
        """Delete matching rows; return how many were deleted."""

    @abc.abstractmethod
    async def save(self, stmt: Save) -> int:
        """Write the non-key fields of each instance to the row with its key; return rows written."""

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        """One tuple per group: the group values then the aggregate values, as Python values.

        Without ``group_by``, exactly one tuple, also when nothing matches.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} does not support aggregates")


class DriverTransaction(Statements):
    """An open transaction; nested blocks use :meth:`savepoint`."""

    @abc.abstractmethod
    async def commit(self) -> None:
        """Make the transaction's work permanent."""

    @abc.abstractmethod
    async def rollback(self) -> None:
        """Undo the transaction's work."""

    async def savepoint(self) -> DriverTransaction:
        """Open a nested block that can be undone alone.

        Raises:
            UnsupportedError: the driver does not declare ``savepoints``.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} does not support nested transactions (savepoints)")

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        """Apply schema changes inside this transaction: they commit or roll back with it.

        Drivers that declare ``transactional_schema`` implement it; migrations
        use it to run a migration's schema changes, data steps and record as
        one unit.

        Raises:
            UnsupportedError: the database cannot change its schema inside a transaction.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} cannot change the schema inside a transaction")


class Driver(Statements):
    """Base class of every ommi driver.

    Subclasses set :attr:`capabilities` and :attr:`schemes`, implement
    :meth:`from_url`, :meth:`connect`, :meth:`close`, :meth:`begin`, the
    statement methods and the schema methods.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    """Capability names from :data:`CAPABILITIES` that this driver supports."""

    schemes: ClassVar[tuple[str, ...]] = ()
    """URL schemes this driver handles (registered through entry points)."""

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: URL, **options: Any) -> Driver:
        """Build an unconnected driver from a parsed URL plus keyword options."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections; called once before use (a second call does nothing).

        Raises:
            ConnectionFailed: the database cannot be reached.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection; a second call does nothing."""

    @abc.abstractmethod
    async def begin(self) -> DriverTransaction:
        """Start a transaction isolated from work outside it."""

    @abc.abstractmethod
    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        """Create tables, keys, constraints and indexes that do not exist yet (models come in dependency order)."""

    @abc.abstractmethod
    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        """Drop the models' tables if they exist (models come in reverse dependency order)."""

    def supports(self, capability: str) -> bool:
        """Whether this driver declares ``capability``."""
        return capability in self.capabilities

    async def server_version(self) -> str:
        """A short description of the database server or library and its version."""
        return type(self).__name__

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        """What the database holds for each model's table (``None`` if it does not exist).

        Raises:
            UnsupportedError: the driver cannot inspect its schema.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} cannot inspect its schema")

    def expected_type(self, field: FieldInfo) -> str | None:
        """The column type of ``field`` as :meth:`inspect_schema` reports it (``None``: don't compare types)."""
        return None

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        """Apply schema changes, in one transaction where the database allows.

        Raises:
            UnsupportedError: a change the database cannot make.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} cannot change its schema")

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        """The statements :meth:`apply_schema_changes` would run, as text, without running them.

        Bound values are shown in a comment after their statement. Used by
        ``ommi migrate sql``.

        Raises:
            UnsupportedError: the database has no statement language to show
                (the default), or a change it cannot make.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} has no SQL to show")


C = TypeVar("C")
R = TypeVar("R")


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting task was cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


class ThreadWorker(Generic[C]):
    """One thread that owns one connection of a synchronous database API.

    For drivers whose native library blocks (sqlite3, duckdb): every call runs
    on the worker's own thread, in order, so the event loop never waits and
    the connection is never used by two threads. A driver makes one call per
    user-level operation (a statement plus turning its rows into instances)
    because each trip between threads costs far more than a small statement.

    Args:
        connect: opens the connection, on the worker's thread, at the first call.
        close: closes it, on the worker's thread, when the worker stops.
        translate: maps an exception raised by a call to the ``OmmiError`` to
            raise instead (chained), or ``None`` to let it through.
        name: the thread's name.
        closed_message: the ``ConnectionFailed`` message for calls after :meth:`stop`.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        close: Callable[[C], None],
        translate: Callable[[BaseException], errors.OmmiError | None],
        name: str,
        closed_message: str,
    ) -> None:
        self._connect = connect
        self._close = close
        self._translate = translate
        self._closed_message = closed_message
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._conn: C | None = None
        self.closed = False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            fn, args, fut, loop = item
            try:
                if self._conn is None:
                    self._conn = self._connect()
                result = fn(self._conn, *args)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                loop.call_soon_threadsafe(_settle, fut, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, fut, result, None)
        if self._conn is not None:
            self._close(self._conn)
            self._conn = None

    async def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(connection, *args)`` on the worker's thread and return its result."""
        if self.closed:
            raise errors.ConnectionFailed(self._closed_message)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        if self._thread.ident is None:
            self._thread.start()
        self._queue.put((fn, args, fut, loop))
        try:
            return await fut
        except errors.OmmiError:
            raise
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def stop(self) -> None:
        """Finish the queued calls, close the connection and end the thread."""
        if self.closed:
            return
        self.closed = True
        if self._thread.ident is None:
            return
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def stop_now(self, timeout: float) -> None:
        """Stop from outside any event loop (at interpreter exit), waiting at most ``timeout`` seconds."""
        self.closed = True
        if self._thread.ident is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
