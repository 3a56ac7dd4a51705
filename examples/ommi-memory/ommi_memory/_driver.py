"""The memory driver: ommi's driver SPI over the store in :mod:`._store`.

Every statement runs synchronously, start to finish, under the store's lock
and with no ``await`` inside, so one statement is atomic with respect to
every other task and thread. The lock is never held across an ``await``
(transactions are optimistic snapshots, not locks), so nothing waits longer
than one in-memory statement.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import version
from typing import Any, ClassVar, TypeVar

from ommi import errors
from ommi.driver import (
    URL,
    Driver,
    DriverTransaction,
    FieldInfo,
    LiveTable,
    ModelInfo,
    SchemaChange,
    log_statement,
    model_info,
)
from ommi.query import Aggregate, Delete, Insert, Raw, Save, Select, Update, Upsert, Values

from ._store import ConstraintError, Layer, Plan, column_type

__all__ = ["MemoryDriver"]

T = TypeVar("T")
_STREAM_BATCH = 500

# named stores (memory://name), shared by the drivers of this process that are open on them
_named: dict[str, tuple[Layer, int]] = {}
_named_lock = threading.Lock()


class _Statements:
    """The statement methods, run on one layer (the driver's store or a transaction's)."""

    _driver: MemoryDriver

    def _layer(self) -> Layer:
        raise NotImplementedError

    def _run(self, what: str, plan: Plan, op: Callable[[Layer], T]) -> T:
        # the statement log shows the operation and table, never values (an ommi promise)
        log_statement("memory", f"{what} {plan.info.name}")
        try:
            return self._locked(op)
        except errors.IntegrityError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ConstraintError) or cause.kind is None:
                raise
            info = plan.info
            fields = tuple(info.by_column[c].name for c in cause.columns if c in info.by_column)
            if cause.kind == "reference" and not fields:  # a removal refused: rows still refer to it
                raise errors.IntegrityError.about(info.cls, "reference", referrer=cause.referrer) from cause
            raise errors.IntegrityError.about(info.cls, cause.kind, fields) from cause  # type: ignore[arg-type]

    def _locked(self, op: Callable[[Layer], T]) -> T:
        layer = self._layer()
        with layer.lock:
            try:
                return op(layer)
            except ConstraintError as exc:
                raise errors.IntegrityError(str(exc)) from exc

    async def insert(self, stmt: Insert) -> None:
        plan = self._driver.plan(stmt.model)
        generated = self._run("insert", plan, lambda layer: layer.insert(plan, stmt.instances))
        for instance, key in generated:  # only once every row is stored
            plan.info.set_value(instance, plan.auto_name, key)

    async def select(self, stmt: Select) -> list[Any]:
        plan = self._driver.plan(stmt.model)
        return list(map(plan.load, self._run("select", plan, lambda layer: layer.select(plan, stmt))))

    async def stream(self, stmt: Select) -> AsyncIterator[Any]:
        plan = self._driver.plan(stmt.model)
        # the matching rows are fixed when the stream starts (a consistent
        # snapshot); instances are built one batch at a time
        rows = self._run("select", plan, lambda layer: layer.select(plan, stmt))
        for start in range(0, len(rows), _STREAM_BATCH):
            for instance in list(map(plan.load, rows[start : start + _STREAM_BATCH])):
                yield instance
            await asyncio.sleep(0)

    async def count(self, stmt: Select) -> int:
        plan = self._driver.plan(stmt.model)
        return self._run("count", plan, lambda layer: layer.count(plan, stmt))

    async def update(self, stmt: Update) -> int:
        plan = self._driver.plan(stmt.model)
        return self._run("update", plan, lambda layer: layer.update(plan, stmt))

    async def delete(self, stmt: Delete) -> int:
        plan = self._driver.plan(stmt.model)
        return self._run("delete", plan, lambda layer: layer.delete(plan, stmt))

    async def save(self, stmt: Save) -> int:
        plan = self._driver.plan(stmt.model)
        return self._run("save", plan, lambda layer: layer.save(plan, stmt.instances))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        plan = self._driver.plan(stmt.model)
        return self._run("aggregate", plan, lambda layer: layer.aggregate(plan, stmt))

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        plan = self._driver.plan(stmt.model)
        return self._run("values", plan, lambda layer: layer.values(stmt))

    async def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        plan = self._driver.plan(stmt.model)
        rows = self._run("values", plan, lambda layer: layer.values(stmt))  # a snapshot, as for stream()
        for start in range(0, len(rows), _STREAM_BATCH):
            for row in rows[start : start + _STREAM_BATCH]:
                yield row
            await asyncio.sleep(0)

    async def raw(self, stmt: Raw) -> list[Any]:
        """The memory store's native statement: a function of the tables.

        ``statement(tables, *params)`` gets each table's rows as dicts (column ->
        stored value), read under the store's lock, and returns a list: tuples or
        dicts, or with ``into`` dicts named by column, built into instances.
        """
        fn = stmt.statement
        if not callable(fn):
            raise errors.QueryError("raw() on the memory store takes a function of the tables, not text")
        log_statement("memory", f"raw {getattr(fn, '__name__', 'function')}")
        rows = self._locked(lambda layer: list(fn(layer.snapshot_rows(), *stmt.params)))
        if stmt.into is None:
            return rows
        plan = self._driver.plan(stmt.into)
        return [plan.load([row.get(c) for c in plan.columns]) for row in rows]

    async def upsert(self, stmt: Upsert) -> None:
        plan = self._driver.plan(stmt.model)
        written = self._run("upsert", plan, lambda layer: layer.upsert(plan, stmt))
        names = [f.name for f in plan.info.key]
        for instance, key in written:  # only once every row is stored
            for name, value in zip(names, key, strict=True):
                if getattr(instance, name) != value:
                    plan.info.set_value(instance, name, value)


class MemoryDriver(_Statements, Driver):
    """A complete in-memory store in pure Python.

    ``memory://`` gives each connection a private store that disappears on
    close; ``memory://name`` shares the store called ``name`` with every
    other open connection of this process using that name (host names are
    case-insensitive), and it disappears when the last of them closes.

    Args:
        name: the shared store's name, or ``None`` for a private store.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "transactions",
            "savepoints",
            "foreign_keys",
            "concurrent_transactions",
            "schema_evolution",
            "transactional_schema",
            "infinite_floats",
            "signed_zero",
            "raw",
        }
    )
    schemes: ClassVar[tuple[str, ...]] = ("memory",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._driver = self
        self._store: Layer | None = None
        self._closed = False
        self._plans: dict[type, Plan] = {}

    def __repr__(self) -> str:
        return f"MemoryDriver({self.name!r})" if self.name else "MemoryDriver()"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> MemoryDriver:
        """``memory://`` (a private store) or ``memory://name`` (a store shared by name)."""
        if url.username is not None or url.password is not None or url.port is not None:
            raise errors.ConnectionFailed(f"memory URLs take only a store name: memory://name, not {url}")
        unknown = set(url.query) | set(options)
        if unknown:
            raise errors.ConnectionFailed(f"unknown memory option(s): {', '.join(sorted(unknown))}")
        path = url.path.strip("/")
        if url.host and path:
            raise errors.ConnectionFailed(f"a memory URL names one store: memory://name, not {url}")
        return cls(url.host or path or None)

    def plan(self, model: type) -> Plan:
        """The cached converters of a model."""
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = Plan(model_info(model))
        return plan

    def _layer(self) -> Layer:
        if self._closed:
            raise errors.ConnectionFailed("this memory store has been closed")
        if self._store is None:
            raise errors.ConnectionFailed("the memory driver is not connected: await Ommi.connect(...) first")
        return self._store

    async def connect(self) -> None:
        if self._store is not None or self._closed:
            return
        if self.name is None:
            self._store = Layer()
            return
        with _named_lock:
            store, users = _named.get(self.name, (Layer(), 0))
            _named[self.name] = (store, users + 1)
        self._store = store

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.name is not None and self._store is not None:
            with _named_lock:
                store, users = _named[self.name]
                if users > 1:
                    _named[self.name] = (store, users - 1)
                else:
                    del _named[self.name]
        self._store = None

    async def begin(self) -> DriverTransaction:
        return _MemoryTransaction(self, self._locked(Layer))

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        self._locked(lambda layer: layer.create(models))

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        self._locked(lambda layer: layer.drop(models))

    async def server_version(self) -> str:
        return "ommi-memory " + version("ommi-memory")

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        return self._locked(lambda layer: layer.inspect(models))

    def expected_type(self, field: FieldInfo) -> str | None:
        return column_type(field)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        self._locked(lambda layer: layer.evolve(changes))


class _MemoryTransaction(_Statements, DriverTransaction):
    """A snapshot of the store (or of the enclosing transaction, for a savepoint)."""

    def __init__(self, driver: MemoryDriver, layer: Layer) -> None:
        self._driver = driver
        self._view = layer

    def _layer(self) -> Layer:
        self._driver._layer()  # the driver is still open
        if self._view.closed:
            raise errors.TransactionError("this transaction has already been committed or rolled back")
        return self._view

    async def commit(self) -> None:
        self._locked(Layer.commit)

    async def rollback(self) -> None:
        self._layer().closed = True

    async def savepoint(self) -> DriverTransaction:
        return _MemoryTransaction(self._driver, self._locked(Layer))

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        # the transaction's snapshot gets the new tables; commit installs them
        self._locked(lambda layer: layer.evolve(changes))
