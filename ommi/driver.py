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
import importlib
import logging
import os
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ommi import errors
from ommi._adapters import NO_DEFAULT, unreadable_column, unreadable_value
from ommi._fields import Kind
from ommi._model import (
    ColumnDecoder,
    ColumnEncoder,
    FieldInfo,
    ModelInfo,
    columns_of,
    get_model_info,
    infos_in_dependency_order,
)
from ommi._native import (
    ErrorRule,
    NativeErrors,
    cancel_watch,
    first_line,
    missing_table_hint,
    raise_swallowed_cancel,
    retry_again,
    retry_conflicts,
    retry_pause,
    to_the_end,
)
from ommi._threads import ThreadWorker
from ommi._url import URL, Option, flag, parse_url
from ommi.query import Aggregate, Condition, Delete, Insert, Raw, Save, Select, Update, Upsert, Values

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

T = TypeVar("T")

__all__ = [
    "CAPABILITIES",
    "NO_DEFAULT",
    "URL",
    "ColumnDecoder",
    "ColumnEncoder",
    "Condition",
    "Driver",
    "DriverTransaction",
    "ErrorRule",
    "FieldInfo",
    "Kind",
    "LiveColumn",
    "LiveTable",
    "ModelInfo",
    "NativeErrors",
    "Option",
    "SchemaChange",
    "Statements",
    "ThreadWorker",
    "aggregate_fields",
    "available_drivers",
    "cancel_watch",
    "close_stream",
    "columns_of",
    "convert_value",
    "first_line",
    "flag",
    "grouped",
    "infos_in_dependency_order",
    "json_text",
    "json_value",
    "load_driver",
    "log_statement",
    "missing_table_hint",
    "model_info",
    "parse_url",
    "raise_swallowed_cancel",
    "redact",
    "retry_again",
    "retry_conflicts",
    "retry_pause",
    "statement_logger",
    "to_the_end",
    "unreadable_row",
]

model_info = get_model_info
"""``model_info(Model)`` returns the :class:`ModelInfo` a driver compiles against."""

statement_logger = logging.getLogger("ommi.statements")
"""Every statement's text is logged here at DEBUG level: the text only, never bound values."""


def log_statement(backend: str, text: str) -> None:
    """Record a statement's text on :data:`statement_logger` (the one place statements are logged).

    ``text`` must hold no bound values: SQL with placeholders, or a document
    passed through :func:`redact` first. The SQL driver base calls this for
    every statement it runs; other drivers call it for each command they send.
    """
    if statement_logger.isEnabledFor(logging.DEBUG):
        from ommi._placement import current

        server = current()  # named by a driver spreading statements over servers (replicas)
        statement_logger.debug("%s: %s", f"{backend} on {server}" if server else backend, text)


def redact(value: Any) -> Any:
    """A document's shape with every value replaced by ``"?"``, for logging a non-SQL command.

    Keys are kept (field names and ``$`` operators say what the command does);
    values, also inside lists, become ``?``. Nested operator documents keep
    their shape.
    """
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return "?"


def unreadable_row(
    fields: Sequence[FieldInfo | None], decoders: Sequence[Callable[[Any], Any] | None], row: Sequence[Any],
    exc: Exception,
) -> errors.ValidationError:
    """The error for a row of stored values (``values()``, aggregates) that ``decoders`` failed on with ``exc``.

    It names the first field whose decoder refuses its value, as loading an
    instance does, and never shows the value (it may be private). ``fields[i]``
    is the field column ``i`` holds, ``None`` for one that is no field's (a count).
    Raise it ``from exc``.
    """
    i = unreadable_column(decoders, row)
    return _unreadable_field(fields[i] if i is not None and i < len(fields) else None, exc)


def _unreadable_field(f: FieldInfo | None, exc: Exception) -> errors.ValidationError:
    """The error for a stored value of field ``f`` (``None``: a column of no field) its decoder refused."""
    if f is not None:
        return unreadable_value(f.model.cls.__name__, f.name, exc)
    return errors.ValidationError(f"cannot read a stored value ({type(exc).__name__}; the details are on __cause__)")


def aggregate_fields(stmt: Aggregate) -> list[FieldInfo | None]:
    """The field each column of ``stmt``'s rows holds: the group fields, then each aggregate's (``None``: a count)."""
    return [f.info for f in stmt.group_by] + [a.field.info if a.field else None for a in stmt.aggregates]


def json_text(value: Any) -> str:
    """The canonical JSON text ommi stores for a JSON field (compact, UTF-8, no NaN).

    Raises:
        ValidationError: the value is not JSON (NaN, infinity, a non-JSON type).
    """
    import json  # on first use: most programs store no JSON, and its import costs start-up time

    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise errors.ValidationError(f"the value cannot be stored as JSON: {exc}") from exc


def json_value(text: str | bytes) -> Any:
    """The value of stored JSON text (the inverse of :func:`json_text`)."""
    import json  # see json_text

    return json.loads(text)

CAPABILITIES: Mapping[str, str] = {
    "transactions": "atomic transactions with commit and rollback",
    "savepoints": "nested transaction blocks (savepoints)",
    "foreign_keys": "ReferenceTo fields are enforced by the database",
    "concurrent_transactions": "several transactions may be open at once",
    "schema_evolution": "the schema can be inspected and changed (schema diff and sync)",
    "transactional_schema": "schema changes run inside a transaction and roll back with it (migrations)",
    "infinite_floats": "float fields store inf and -inf (else adding one fails with ValidationError)",
    "signed_zero": "a float field stored as -0.0 reads back as -0.0 (else as 0.0; the two compare equal anyway)",
    "raw": "db.raw() runs a native statement (SQL text, or a MongoDB command document) with bound values",
}
"""Every capability name a driver may declare, with what it promises."""

_EXTRAS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "duckdb": "duckdb",
    "mongodb": "mongodb",
    "mongodb+srv": "mongodb",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "",
}


def available_drivers() -> dict[str, Any]:
    """The installed drivers, by URL scheme (the ``ommi.drivers`` entry-point group)."""
    from importlib import metadata

    return {ep.name: ep for ep in metadata.entry_points(group="ommi.drivers")}


_GROUP_HEADER = "[ommi.drivers]"
_scanned: dict[str, str] = {}
_scan_rest: Iterator[tuple[str, str]] | None = None
_scan_lock = threading.Lock()


def _registered(scheme: str) -> str | None:
    """The ``"module:attr"`` registered for ``scheme``, read straight from installed ``*.dist-info`` folders.

    Connecting should not cost the import of :mod:`importlib.metadata` (a
    large share of ommi's start-up time); anything this quick scan cannot
    see (zipped or unusual installs) falls back to it in :func:`load_driver`.
    The scan stops at the first folder that registers the scheme and goes on
    from there for the next one, so connecting reads as few folders as it can.
    """
    global _scan_rest  # noqa: PLW0603 - one scan per process, in steps
    with _scan_lock:  # the scan is one generator: one thread at a time moves it on
        if scheme in _scanned:
            return _scanned[scheme]
        if _scan_rest is None:
            _scan_rest = _scan_entry_points()
        for name, value in _scan_rest:
            _scanned.setdefault(name, value)  # the first registration of a scheme wins
            if name == scheme:
                return _scanned[scheme]
        return None


def _scan_entry_points() -> Iterator[tuple[str, str]]:
    """Every ``scheme, "module:attr"`` of the group: ommi's own first, then the others in ``sys.path`` order.

    ommi's own come first so that connecting to a built-in scheme reads one
    file, not every installed distribution's (a scheme registered twice
    was taken from whichever folder came first, which no one chooses).
    The standard library's own folders are read last: they hold no
    distributions, and listing them was most of the scan's time.
    """
    stdlib = os.path.dirname(os.__file__)
    last = {stdlib, os.path.join(stdlib, "lib-dynload")}
    paths = list(sys.path)
    folders: list[tuple[str, list[str]]] = []
    for base in [p for p in paths if p not in last] + [p for p in paths if p in last]:
        try:
            entries = os.listdir(base or ".")
        except OSError:
            continue
        found = [entry for entry in entries if entry.endswith(".dist-info")]
        folders.append((base or ".", found))
        for entry in found:
            if entry.startswith("ommi-"):  # the distribution named ommi, as its folder is named
                yield from _registrations(os.path.join(base or ".", entry))
    for base, found in folders:
        for entry in found:
            if not entry.startswith("ommi-"):
                yield from _registrations(os.path.join(base, entry))


def _registrations(folder: str) -> list[tuple[str, str]]:
    try:
        with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return []
    return _section(text) if _GROUP_HEADER in text else []


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


def install_hint(scheme: str) -> str:
    """How to add what a built-in driver needs, as the tail of an error message ("" if nothing).

    The name ``ommi`` on the public package index belongs to another project, so
    ``pip install 'ommi[postgresql]'`` would install that. The hint names the
    driver's own libraries, read from this installation's metadata (the extras
    in pyproject.toml), which works however ommi itself was installed.
    """
    extra = _EXTRAS.get(scheme)
    if not extra:
        return ""
    import shlex
    from importlib import metadata  # only on this error path: it is slow to import

    try:
        requirements = metadata.requires("ommi") or []
    except metadata.PackageNotFoundError:
        requirements = []
    packages = []
    for line in requirements:
        requirement, _, marker = line.partition(";")
        if marker.replace('"', "'").split() == ["extra", "==", f"'{extra}'"]:
            packages.append(shlex.quote(requirement.strip()))
    checkout = f"from an ommi checkout: pip install -e '.[{extra}]'"
    if not packages:
        return f"; install it {checkout}"
    return f"; install its libraries with: pip install {' '.join(packages)} (or, {checkout})"


def load_driver(scheme: str) -> type[Driver]:
    """Import the driver class registered for a URL scheme.

    Raises:
        UnsupportedError: no installed driver handles ``scheme``; the message
            lists the installed ones and the pip extra that would add it.
    """
    spec = _registered(scheme)
    if spec is not None:
        module_name, _, attr = spec.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                found = getattr(found, part)
        except ImportError as exc:
            raise errors.UnsupportedError(
                f"the {scheme!r} driver is installed but cannot be imported: {exc}{install_hint(scheme)}"
            ) from exc
        if isinstance(found, type) and issubclass(found, Driver):
            return found
    drivers = available_drivers()
    entry = drivers.get(scheme)
    if entry is None:
        installed = ", ".join(sorted(drivers)) or "none"
        hint = install_hint(scheme) or (
            "; a third-party driver registers its scheme in the 'ommi.drivers' entry-point group"
        )
        raise errors.UnsupportedError(
            f"no ommi driver for URL scheme {scheme!r} (installed drivers: {installed}){hint}"
        )
    try:
        driver = entry.load()
    except ImportError as exc:
        raise errors.UnsupportedError(
            f"the {scheme!r} driver is installed but cannot be imported: {exc}{install_hint(scheme)}"
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
    from decimal import Decimal  # only for retyping (importing it costs every start about 1 ms)

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


async def close_stream(items: AsyncIterator[Any]) -> None:
    """Close a stream now, when its consumer leaves it early (a no-op for an iterator with no ``aclose()``).

    An ``async for`` left early (``break``, ``aclose()``) does not close what it
    iterates: left alone, the stream would end later, in a task of asyncio's
    own, and keep its cursor, read transaction and connection until then.
    """
    if isinstance(items, AsyncGenerator):
        await items.aclose()


async def grouped(items: AsyncIterator[T], size: int) -> AsyncGenerator[list[T], None]:
    """``items`` as lists of ``size`` (the last one shorter, none empty); closes ``items`` when it ends.

    How :meth:`Statements.stream_batches` and a values query's ``batches()`` are
    made from a stream a driver yields one item at a time.
    """
    try:
        batch: list[T] = []
        async for item in items:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        await close_stream(items)


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

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        """:meth:`stream`, handed over as lists of ``size`` instances (the last one shorter, none empty).

        The default groups :meth:`stream`. A driver that reads a batch per round
        trip overrides it to read ``size`` rows per fetch and load each batch at
        once (the SQL base and the MongoDB driver do). Closing the iterator early
        ends the stream as closing :meth:`stream` does.
        """
        return grouped(self.stream(stmt), size)

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

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        """One tuple of the ``fields`` values per matching row (per distinct combination with ``distinct``)."""
        raise errors.UnsupportedError(f"{type(self).__name__} does not support values queries")

    async def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        """:meth:`values`, yielded in batches from one cursor.

        The default reads them all first; drivers override it to stream.
        """
        for row in await self.values(stmt):
            yield row

    async def upsert(self, stmt: Upsert) -> None:
        """Insert each instance, or update the row with the same ``stmt.on`` values; atomic per row.

        Generated keys are written back (an updated row's stored key).

        Raises:
            IntegrityError: another key or unique constraint was violated.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} does not support upserts")

    async def raw(self, stmt: Raw) -> list[Any]:
        """Run a native statement (drivers declaring the ``raw`` capability).

        Returns tuples (SQL) or documents (MongoDB), or instances of ``stmt.into``.
        Every statement is logged through :func:`log_statement`, its values never.
        """
        raise errors.UnsupportedError(f"{type(self).__name__} cannot run native statements (no 'raw' capability)")


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

    def on_primary(self) -> Statements:
        """Statements that read where writes go (the primary server), so reads see every committed write.

        ``Query.on_primary()`` and ``Ommi.on_primary()`` run through them. A
        driver that talks to one server returns itself (the default); one that
        reads from replicas or secondaries returns statements that read from
        the primary.
        """
        return self

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
