"""The interface layer: ``Ommi``, transactions, queries and schema actions.

It turns user calls into statement nodes, hands them to a driver and wraps
every outcome in a ``DBResult``. It never knows SQL or MongoDB.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from ommi import errors
from ommi._events import EventName, Hooks, call, fire
from ommi._integrity import check_references, check_unreferenced
from ommi._migrate import SchemaDiff, compute_diff, refuse_unallowed
from ommi._model import ModelCollection, ModelInfo, default_collection, get_model_info, infos_in_dependency_order
from ommi._observe import Observed, StatementHook, logger
from ommi._relations import RelationRef, bind, find_path
from ommi._results import Action, as_ommi_error
from ommi.driver import Driver, DriverTransaction, Statements, load_driver, parse_url
from ommi.query import (
    Agg,
    AggCompare,
    AggOrder,
    AggRef,
    Aggregate,
    And,
    Compare,
    Delete,
    Field,
    FieldRef,
    Insert,
    Not,
    Op,
    Or,
    OrderBy,
    Predicate,
    Related,
    Save,
    Select,
    Update,
    _PredicateOps,
)

__all__ = ["Ommi", "Query", "Schema", "Transaction"]

M = TypeVar("M")
T = TypeVar("T")

DEFAULT_URL = "sqlite://"


def _fields_of(pred: Predicate) -> Iterable[Field]:
    if isinstance(pred, (And, Or)):
        for item in pred.items:
            yield from _fields_of(item)
    elif isinstance(pred, Not):
        yield from _fields_of(pred.item)
    elif isinstance(pred, AggCompare):
        if pred.agg.field is not None:
            yield pred.agg.field
    elif isinstance(pred, Related):
        yield pred.path[0].source
    else:
        yield pred.field


class _Session:
    """What ``Ommi`` and ``Transaction`` share: the user-facing actions."""

    _db: Ommi

    async def _statements(self) -> Statements:
        raise NotImplementedError

    def _bind(self, model: type, rows: list[Any]) -> None:
        """Let instances with lazy relations load them through this session."""
        if rows and get_model_info(model).relations:
            bind(rows, self)

    async def _observed(self) -> Statements:
        stmts = await self._statements()
        hooks = self._db._hooks
        if hooks or logger.isEnabledFor(logging.DEBUG):
            return Observed(stmts, hooks, self._db.log_values)
        return stmts

    def _action(self, fn: Callable[[Statements], Awaitable[T]]) -> Action[T]:
        async def run() -> T:
            return await fn(await self._observed())

        return Action(run)

    def add(self, *models: Any) -> Action[list[Any]]:
        """Store model instances; generated keys are written back into them.

        One ``add()`` is atomic: if any instance fails, none is stored.
        Yields the list of the instances, in the order given.
        """

        async def run(stmts: Statements) -> list[Any]:
            hooks = self._db._events
            for batch_model, batch in groups:
                await fire(hooks, "before_add", batch_model, batch)
            for batch_model, batch in groups:
                if self._db._check_references:
                    await check_references(stmts, batch_model, batch)
                await stmts.insert(Insert(batch_model, tuple(batch)))
            for batch_model, batch in groups:
                self._bind(batch_model, batch)
                await fire(hooks, "after_add", batch_model, batch)
            return list(models)

        try:
            groups = _batches(models)
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        if len(groups) > 1:
            # several model types in one add(): one transaction keeps it all-or-nothing
            return self._in_transaction(run)
        return self._action(run)

    @overload
    def find(self, model: type[M], /, *predicates: object) -> Query[M]: ...
    @overload
    def find(self, /, *predicates: object) -> Query[Any]: ...
    def find(self, *args: Any) -> Query[Any]:
        """Start a query: ``find(User)``, ``find(User.age >= 18)``, ``find(User, pred, pred)``.

        Several predicates are ANDed. Nothing runs until a terminal action
        (``all``, ``one``, ``first``, ``count``, ``exists``, ``update``,
        ``delete``) is awaited or the query is iterated with ``async for``.
        """
        return Query(self, _select_from(args))

    def get(self, model: type[M], key: Any) -> Action[M]:
        """Load one instance by key (a tuple for composite keys); fails with ``NotFound``."""

        async def run(stmts: Statements) -> M:
            where = _key_predicate(get_model_info(model), key)
            rows = await stmts.select(Select(model, where, (), 1, None))
            if not rows:
                raise errors.NotFound(f"no {model.__name__} with key {key!r}")
            self._bind(model, rows)
            return rows[0]  # type: ignore[no-any-return]

        return self._action(run)

    def save(self, *models: Any) -> Action[list[Any]]:
        """Write changed instances back to the rows with their keys.

        Fails with ``NotFound`` (storing nothing) if an instance has no row.
        """

        async def run(stmts: Statements) -> list[Any]:
            groups = _batches(models)
            hooks = self._db._events
            for batch_model, batch in groups:
                await fire(hooks, "before_save", batch_model, batch)
            for batch_model, batch in groups:
                if self._db._check_references:
                    await check_references(stmts, batch_model, batch)
                await stmts.save(Save(batch_model, tuple(batch)))
            for batch_model, batch in groups:
                await fire(hooks, "after_save", batch_model, batch)
            return list(models)

        if len(_safe_batches(models)) > 1:
            return self._in_transaction(run)
        return self._action(run)

    def delete(self, *models: Any) -> Action[int]:
        """Delete instances by key; yields the number of rows deleted."""

        async def run(stmts: Statements) -> int:
            total = 0
            groups = _batches(models)
            hooks = self._db._events
            for batch_model, batch in groups:
                await fire(hooks, "before_delete", batch_model, batch)
            for batch_model, batch in groups:
                info = get_model_info(batch_model)
                preds = [_key_predicate(info, info.key_of(m)) for m in batch]
                where: Predicate = preds[0] if len(preds) == 1 else _or(preds)
                if self._db._check_references:
                    await check_unreferenced(stmts, batch_model, where)
                total += await stmts.delete(Delete(batch_model, where))
            for batch_model, batch in groups:
                await fire(hooks, "after_delete", batch_model, batch)
            return total

        if len(_safe_batches(models)) > 1:
            return self._in_transaction(run)
        return self._action(run)

    def _in_transaction(self, fn: Callable[[Statements], Awaitable[T]]) -> Action[T]:
        async def run() -> T:
            if isinstance(self, Transaction) and not self._db.driver.supports("savepoints"):
                # already atomic with the transaction; no nested block to open
                return await fn(await self._observed())
            async with self.transaction() as tx:
                return await fn(await tx._observed())

        return Action(run)

    def transaction(self) -> Transaction:
        """A transaction block: ``async with db.transaction() as tx: ...``.

        It commits when the block ends normally and rolls back (re-raising)
        when it ends with an exception. Inside a transaction, ``tx.transaction()``
        opens a nested block (a savepoint) that can fail alone.
        """
        return Transaction(self)


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    """Everything a query says, beside the session it runs in."""

    select: Select
    group_by: tuple[Field, ...] = ()
    having: Predicate | None = None
    orders: tuple[OrderBy | AggOrder, ...] = ()
    includes: tuple[RelationRef, ...] = ()


class Query(Generic[M]):
    """An immutable query; each builder method returns a new one.

    ``async for item in query`` streams the results from one cursor.
    """

    __slots__ = ("_session", "_spec")

    def __init__(self, session: _Session, select: Select | _Spec) -> None:
        self._session = session
        self._spec = select if isinstance(select, _Spec) else _Spec(select)

    @property
    def _select(self) -> Select:
        return self._spec.select

    @property
    def _group_by(self) -> tuple[Field, ...]:
        return self._spec.group_by

    @property
    def _having(self) -> Predicate | None:
        return self._spec.having

    @property
    def _orders(self) -> tuple[OrderBy | AggOrder, ...]:
        return self._spec.orders

    @property
    def _includes(self) -> tuple[RelationRef, ...]:
        return self._spec.includes

    def _copy(self, **changes: Any) -> Query[M]:
        return Query(self._session, dataclasses.replace(self._spec, **changes))

    def include(self, *relations: Any) -> Query[M]:
        """Load the named relations of every result with one extra query per relation.

        ``db.find(User).include(User.posts)``; name the next hop to go deeper:
        ``.include(User.posts, Post.comments)``. Awaiting an included field then
        runs no query.
        """
        for r in relations:
            if not isinstance(r, RelationRef):
                raise errors.QueryError(f"include() takes relations such as User.posts, not {r!r}")
        return self._copy(includes=self._includes + tuple(relations))

    async def _loaded(self, stmts: Statements, select: Select) -> list[Any]:
        rows = await stmts.select(select)
        self._session._bind(select.model, rows)
        if self._includes and rows:
            await self._include(rows)
        return rows

    async def _include(self, rows: list[Any]) -> None:
        loaded: dict[type, list[Any]] = {self._select.model: rows}
        for ref in self._includes:
            relation = ref.relation
            owners = loaded.get(relation.owner.cls)
            if owners is None:
                raise errors.QueryError(
                    f"include({relation!r}) needs {relation.owner.cls.__name__} instances: name a relation "
                    "leading to them first"
                )
            values = await relation.fetch(self._session, owners)
            target = relation.resolve()[1].cls
            found: list[Any] = []
            for value in values:
                if isinstance(value, list):
                    found.extend(value)
                elif value is not None:
                    found.append(value)
            self._session._bind(target, found)
            loaded.setdefault(target, []).extend(found)

    def __repr__(self) -> str:
        return f"<Query {self._select!r}>"

    @property
    def statement(self) -> Select:
        """The :class:`ommi.query.Select` node this query sends to the driver."""
        return self._select

    def _with(self, **changes: Any) -> Query[M]:
        return self._copy(select=dataclasses.replace(self._select, **changes))

    def order_by(self, *terms: OrderBy | AggOrder | FieldRef) -> Query[M]:
        """Order by fields: ``User.age.desc``, ``User.name.asc`` or plain ``User.id`` (ascending).

        Grouped queries may also order by aggregates: ``Sum(Order.amount).desc``.
        """
        out: list[OrderBy | AggOrder] = []
        for term in terms:
            order = term.asc if isinstance(term, (FieldRef, AggRef)) else term
            if not isinstance(order, (OrderBy, AggOrder)):
                raise errors.QueryError(f"order_by() takes fields or field.asc/.desc, not {term!r}")
            out.append(order)
        plain = tuple(o for o in out if isinstance(o, OrderBy))
        select = dataclasses.replace(self._select, order_by=self._select.order_by + plain)
        return self._copy(select=select, orders=self._orders + tuple(out))

    def group_by(self, *fields: FieldRef) -> Query[M]:
        """Group rows by fields for :meth:`aggregate` (one result per distinct combination)."""
        for f in fields:
            if not isinstance(f, FieldRef) or f.model is not self._select.model:
                raise errors.QueryError(f"group_by() takes fields of {self._select.model.__name__}, not {f!r}")
        return self._copy(group_by=self._group_by + tuple(f.field for f in fields))

    def having(self, *predicates: object) -> Query[M]:
        """Filter groups after grouping: ``having(Sum(Order.amount) > 100)``; several are ANDed."""
        preds: list[Predicate] = []
        for p in predicates:
            if not isinstance(p, _PredicateOps):
                raise errors.QueryError(f"having() takes predicates such as Sum(Order.amount) > 100, not {p!r}")
            preds.append(p)  # type: ignore[arg-type]
        if self._having is not None:
            preds.insert(0, self._having)
        having: Predicate | None = preds[0] if len(preds) == 1 else And(tuple(preds)) if preds else None
        return self._copy(having=having)

    def aggregate(self, **aggregates: AggRef) -> Action[Any]:
        """Compute aggregates in the database.

        With :meth:`group_by`, yields a list of dicts, one per group, keyed by
        the group fields' names and the aggregate names; without, one dict
        (also when nothing matches: counts 0, the others ``None``).
        """
        try:
            stmt = self._aggregate_statement(aggregates)
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        names = [f.name for f in stmt.group_by] + list(aggregates)
        grouped = bool(stmt.group_by)

        async def run(stmts: Statements) -> Any:
            rows = await stmts.aggregate(stmt)
            dicts = [dict(zip(names, row, strict=True)) for row in rows]
            if grouped:
                return dicts
            return dicts[0] if dicts else dict.fromkeys(names)

        return self._session._action(run)

    def _aggregate_statement(self, aggregates: dict[str, AggRef]) -> Aggregate:
        if not aggregates:
            raise errors.QueryError("aggregate() needs at least one name=Aggregate(...), e.g. n=Count()")
        model = self._select.model
        nodes: list[Agg] = []
        for name, ref in aggregates.items():
            if not isinstance(ref, AggRef):
                raise errors.QueryError(f"aggregate({name}=...) takes Count(), Sum(field), ..., not {ref!r}")
            if ref.node.field is not None and ref.node.field.model is not model:
                raise errors.QueryError(f"{ref!r} is not over a field of {model.__name__}")
            if name in {f.name for f in self._group_by}:
                raise errors.QueryError(f"aggregate name {name!r} is also a group field")
            nodes.append(ref.node)
        for term in self._orders:
            if isinstance(term, OrderBy) and term.field not in self._group_by:
                raise errors.QueryError(
                    f"a grouped result can be ordered by group fields and aggregates; "
                    f"{term.field.model.__name__}.{term.field.name} is not grouped"
                )
        if self._having is not None:
            for f in _fields_of(self._having):
                if f not in self._group_by and not _inside_aggregate(self._having, f):
                    raise errors.QueryError(f"having() can test group fields and aggregates, not {f.name}")
        s = self._select
        return Aggregate(model, s.where, self._group_by, self._having, tuple(nodes), self._orders, s.limit, s.offset)

    def _plain(self, what: str) -> None:
        if self._group_by or self._having is not None or any(isinstance(o, AggOrder) for o in self._orders):
            raise errors.QueryError(f"{what}() cannot follow group_by()/having()/aggregate ordering: use aggregate()")

    def limit(self, n: int) -> Query[M]:
        """Return at most ``n`` rows."""
        return self._with(limit=_non_negative("limit", n))

    def offset(self, n: int) -> Query[M]:
        """Skip the first ``n`` rows."""
        return self._with(offset=_non_negative("offset", n))

    def all(self) -> Action[list[M]]:
        """Every matching instance, as a list."""
        try:
            self._plain("all")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        select = self._select
        return self._session._action(lambda s: self._loaded(s, select))

    def first(self) -> Action[M | None]:
        """The first matching instance, or ``None``."""
        try:
            self._plain("first")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        select = self._with(limit=1 if self._select.limit is None else min(1, self._select.limit))._select

        async def run(stmts: Statements) -> M | None:
            rows = await self._loaded(stmts, select)
            return rows[0] if rows else None

        return self._session._action(run)

    def one(self) -> Action[M]:
        """Exactly one matching instance; fails with ``NotFound`` or ``MultipleFound``."""
        try:
            self._plain("one")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        select = self._with(limit=2 if self._select.limit is None else min(2, self._select.limit))._select

        async def run(stmts: Statements) -> M:
            rows = await self._loaded(stmts, select)
            if not rows:
                raise errors.NotFound(f"no {select.model.__name__} matches the query")
            if len(rows) > 1:
                raise errors.MultipleFound(f"more than one {select.model.__name__} matches the query")
            return rows[0]  # type: ignore[no-any-return]

        return self._session._action(run)

    def count(self) -> Action[int]:
        """The number of matching rows."""
        try:
            self._plain("count")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        select = self._select
        return self._session._action(lambda s: s.count(select))

    def exists(self) -> Action[bool]:
        """Whether at least one row matches."""
        try:
            self._plain("exists")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        select = self._with(limit=1)._select

        async def run(stmts: Statements) -> bool:
            return await stmts.count(select) > 0

        return self._session._action(run)

    def _unpaged(self, what: str) -> None:
        self._plain(what)
        if self._select.limit is not None or self._select.offset is not None or self._select.order_by:
            raise errors.QueryError(f"{what}() applies to every matching row: drop order_by/limit/offset")

    def update(self, **values: Any) -> Action[int]:
        """Set fields on every matching row; yields the number of rows changed."""
        try:
            self._unpaged("update")
            info = get_model_info(self._select.model)
            if not values:
                raise errors.QueryError("update() needs at least one field=value")
            pairs = []
            for name, value in values.items():
                f = info.by_name.get(name)
                if f is None:
                    raise errors.QueryError(
                        f"{info.cls.__name__} has no field {name!r} (fields: {', '.join(info.by_name)})"
                    )
                pairs.append((f.ref.field, f.check(value)))
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        stmt = Update(self._select.model, self._select.where, tuple(pairs))
        session = self._session

        async def run(stmts: Statements) -> int:
            if session._db._check_references:
                await check_references(stmts, stmt.model, [{f.name: v for f, v in stmt.values}])
            return await stmts.update(stmt)

        return session._action(run)

    def delete(self) -> Action[int]:
        """Delete every matching row; yields the number of rows deleted."""
        try:
            self._unpaged("delete")
        except errors.OmmiError as exc:
            return Action(_fail(exc))
        stmt = Delete(self._select.model, self._select.where)
        session = self._session

        async def run(stmts: Statements) -> int:
            if session._db._check_references:
                await check_unreferenced(stmts, stmt.model, stmt.where)
            return await stmts.delete(stmt)

        return session._action(run)

    async def __aiter__(self) -> AsyncIterator[M]:
        self._plain("async for")
        if self._includes:
            raise errors.QueryError("include() loads relations for all() / first() / one(), not for async for")
        stmts = await self._session._observed()
        relations = bool(get_model_info(self._select.model).relations)
        try:
            async for item in stmts.stream(self._select):
                if relations:
                    bind((item,), self._session)
                yield item
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise as_ommi_error(exc) from exc


class Schema:
    """Schema actions for the models of one collection."""

    def __init__(self, db: Ommi, collection: ModelCollection | None) -> None:
        self._db = db
        self.collection = collection if collection is not None else default_collection

    def _infos(self) -> list[ModelInfo]:
        return infos_in_dependency_order(self.collection.infos())

    def create_models(self) -> Action[list[type]]:
        """Create tables (keys, unique constraints, indexes, foreign keys) that do not exist.

        Idempotent and never drops data. Yields the model classes.
        """

        async def run() -> list[type]:
            driver = await self._db._connected()
            infos = self._infos()
            await driver.create_schema(infos)
            return [i.cls for i in infos]

        return Action(run)

    def diff(self) -> Action[SchemaDiff]:
        """Compare the models with the live database.

        Yields a :class:`SchemaDiff`: a printable list of differences (tables,
        columns, types, nullability, keys, unique constraints, indexes), each
        marked safe (additive) or destructive.
        """

        async def run() -> SchemaDiff:
            driver = await self._db._connected()
            infos = self._infos()
            live = await driver.inspect_schema(infos)
            return compute_diff(infos, live, driver.expected_type)

        return Action(run)

    def sync(self, *, allow: Iterable[str] = ()) -> Action[SchemaDiff]:
        """Apply the safe differences (in one transaction where the backend allows).

        Destructive differences are refused with a ``SchemaError`` listing
        them — nothing is applied — unless their kind is in ``allow``
        (``"add_required_column"``, ``"drop_column"``, ``"retype_column"``,
        ``"change_nullability"``, ``"change_key"``). Yields the changes applied.
        """

        async def run() -> SchemaDiff:
            driver = await self._db._connected()
            infos = self._infos()
            changes = compute_diff(infos, await driver.inspect_schema(infos), driver.expected_type)
            refuse_unallowed(changes, allow)
            if changes:
                await driver.apply_schema_changes(changes)
            return changes

        return Action(run)

    def delete_models(self) -> Action[None]:
        """Drop the tables of the collection's models (and their data)."""

        async def run() -> None:
            driver = await self._db._connected()
            await driver.drop_schema(list(reversed(self._infos())))

        return Action(run)


class Ommi(_Session):
    """The database handle: ``async with Ommi.connect("sqlite:///app.db") as db``.

    ``Ommi(driver)`` wraps a driver instance; ``Ommi.connect(url)`` picks the
    driver by URL scheme. The connection opens on ``async with``, on ``await``,
    or lazily at the first action, and closes with :meth:`close`.
    """

    def __init__(self, driver: Driver) -> None:
        if not isinstance(driver, Driver):
            raise errors.UnsupportedError(f"Ommi() needs an ommi driver instance, not {driver!r}")
        self.driver = driver
        self._db = self
        self._hooks: list[StatementHook] = []
        self.log_values = False
        """Set to ``True`` to include bound values in the ``ommi`` DEBUG log (off: they may be private)."""
        self._events = Hooks()
        # drivers that don't enforce ReferenceTo get it checked by ommi
        self._check_references = not driver.supports("foreign_keys")
        self._state = "new"
        self._lock = asyncio.Lock()

    @classmethod
    def connect(cls, url: str | None = None, **options: Any) -> Ommi:
        """Build an ``Ommi`` for a database URL (use with ``async with`` or ``await``).

        Args:
            url: ``scheme://...``; defaults to ``$OMMI_DATABASE_URL``, else
                in-memory SQLite (``sqlite://``).
            **options: passed to the driver (see each backend's page).

        Raises:
            UnsupportedError: no installed driver handles the URL's scheme.
            ConnectionFailed: the URL is malformed.
        """
        if url is None:
            url = os.environ.get("OMMI_DATABASE_URL") or DEFAULT_URL
        parsed = parse_url(url)
        driver_cls = load_driver(parsed.scheme)
        return cls(driver_cls.from_url(parsed, **options))

    def __repr__(self) -> str:
        return f"<Ommi {self.driver!r} ({self._state})>"

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities the driver declares (see :data:`ommi.driver.CAPABILITIES`)."""
        return self.driver.capabilities

    async def _connected(self) -> Driver:
        if self._state != "open":
            async with self._lock:
                if self._state == "closed":
                    raise errors.ConnectionFailed("this Ommi has been closed")
                if self._state == "new":
                    await self.driver.connect()
                    self._state = "open"
        return self.driver

    async def _statements(self) -> Statements:
        return await self._connected()

    def __await__(self) -> Any:
        async def opened() -> Ommi:
            await self._connected()
            return self

        return opened().__await__()

    async def __aenter__(self) -> Ommi:
        await self._connected()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the driver's connections; later actions fail with ``ConnectionFailed``."""
        async with self._lock:
            if self._state == "open":
                await self.driver.close()
            self._state = "closed"

    def on(self, event: EventName, hook: Callable[..., Any], *, model: type | None = None) -> Callable[[], None]:
        """Register a lifecycle hook on this ``Ommi`` (and its transactions).

        ``event`` is one of ``before_add``, ``after_add``, ``before_save``,
        ``after_save``, ``before_delete``, ``after_delete`` (the hook gets each
        instance; ``model=`` limits it to one class), ``after_commit`` and
        ``after_rollback`` (the hook gets the transaction). Hooks may be async.
        Returns a function that removes the hook.
        """
        return self._events.add(event, hook, model)

    def on_statement(self, hook: StatementHook) -> Callable[[], None]:
        """Call ``hook(event)`` after every statement sent to the driver (transactions included).

        Returns a function that removes the hook. The ``ommi`` logger also
        records each statement and its duration at DEBUG level.
        """
        self._hooks.append(hook)

        def remove() -> None:
            if hook in self._hooks:
                self._hooks.remove(hook)

        return remove

    def schema(self, collection: ModelCollection | None = None) -> Schema:
        """Schema actions for a collection's models (the default collection if omitted)."""
        return Schema(self, collection)


class Transaction(_Session):
    """A transaction block; use ``async with db.transaction() as tx``.

    ``tx`` has the same actions as ``Ommi``. It commits at the end of the block,
    or rolls back if the block raises. ``await tx.commit()`` and
    ``await tx.rollback()`` end it early; nested ``tx.transaction()`` blocks are
    savepoints.
    """

    def __init__(self, parent: _Session) -> None:
        self._parent = parent
        self._db = parent._db
        self._tx: DriverTransaction | None = None
        self._done = False
        self._on_commit: list[Callable[[], Any]] = []
        self._on_rollback: list[Callable[[], Any]] = []

    def on_commit(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` (plain or async) once this transaction has really committed.

        In a nested block, it waits for the outermost transaction; if the block
        or the transaction rolls back, it is never called.
        """
        self._on_commit.append(callback)

    def on_rollback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` once this block's work has been rolled back."""
        self._on_rollback.append(callback)

    async def _finished(self, committed: bool) -> None:
        parent = self._parent
        if isinstance(parent, Transaction):
            if committed:  # the outer transaction decides
                parent._on_commit.extend(self._on_commit)
                parent._on_rollback.extend(self._on_rollback)
            else:
                for fn in self._on_rollback:
                    await call(fn, event="on_rollback")
            return
        event = "after_commit" if committed else "after_rollback"
        for fn in self._on_commit if committed else self._on_rollback:
            await call(fn, event=event)
        for fn in self._db._events.matching(event, None):
            await call(fn, self, event=event)

    async def _statements(self) -> Statements:
        if self._tx is None:
            raise errors.TransactionError("use the transaction inside `async with db.transaction() as tx:`")
        if self._done:
            raise errors.TransactionError("this transaction has already been committed or rolled back")
        return self._tx

    async def __aenter__(self) -> Transaction:
        if self._tx is not None:
            raise errors.TransactionError("a transaction block can be entered only once")
        parent = await self._parent._statements()
        try:
            if isinstance(parent, DriverTransaction):
                self._tx = await parent.savepoint()
            else:
                assert isinstance(parent, Driver)
                self._tx = await parent.begin()
        except Exception as exc:
            raise as_ommi_error(exc) from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._done or self._tx is None:
            return
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()

    async def commit(self) -> None:
        """Commit now (raises ``TransactionError`` if the database refuses)."""
        tx = await self._statements()
        self._done = True
        try:
            await tx.commit()  # type: ignore[attr-defined]
        except Exception as exc:
            await self._finished(False)
            raise as_ommi_error(exc) from exc
        await self._finished(True)

    async def rollback(self) -> None:
        """Undo everything done in this transaction (or savepoint)."""
        tx = await self._statements()
        self._done = True
        try:
            await tx.rollback()  # type: ignore[attr-defined]
        except Exception as exc:
            raise as_ommi_error(exc) from exc
        await self._finished(False)


# ---------------------------------------------------------------------------
# helpers


def _fail(exc: errors.OmmiError) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        raise exc

    return run


def _or(preds: list[Predicate]) -> Predicate:
    first, *rest = preds
    out = first
    for p in rest:
        out = out | p
    return out


def _batches(models: Sequence[Any]) -> list[tuple[type, list[Any]]]:
    """Consecutive runs of one model type, in order (one statement per run)."""
    kinds = set(map(type, models))
    if len(kinds) == 1:  # the common case, without a Python-level loop
        (only,) = kinds
        get_model_info(only)
        return [(only, list(models))]
    out: list[tuple[type, list[Any]]] = []
    for m in models:
        cls = type(m)
        if out and out[-1][0] is cls:
            out[-1][1].append(m)
        else:
            get_model_info(cls)
            out.append((cls, [m]))
    return out


def _safe_batches(models: Sequence[Any]) -> list[tuple[type, list[Any]]]:
    try:
        return _batches(models)
    except errors.OmmiError:
        return []


def _key_predicate(info: ModelInfo, key: Any) -> Predicate:
    if len(info.key) == 1 and key is not None and not isinstance(key, tuple):  # the common case, first
        f = info.key[0]
        return Compare(f.ref.field, Op.EQ, f.check(key))
    if not info.key:
        raise errors.QueryError(f"{info.cls.__name__} has no key: declare one with Annotated[..., Key]")
    values = key if isinstance(key, tuple) else (key,)
    if len(values) != len(info.key):
        names = ", ".join(f.name for f in info.key)
        raise errors.QueryError(f"{info.cls.__name__} has a key of {len(info.key)} field(s) ({names}), got {key!r}")
    preds: list[Predicate] = []
    for f, v in zip(info.key, values, strict=True):
        if v is None:
            raise errors.QueryError(f"{info.cls.__name__}.{f.name} is None: the instance has no key yet")
        preds.append(Compare(f.ref.field, Op.EQ, f.check(v)))
    return preds[0] if len(preds) == 1 else And(tuple(preds))


def _models_in(pred: Predicate) -> set[type]:
    return {f.model for f in _fields_of(pred)}


def _localize(pred: Predicate, info: ModelInfo) -> Predicate:
    """Turn parts of a predicate that name other models' fields into :class:`Related` nodes.

    The largest subtree about one other model becomes one ``Related`` (so
    ``(User.name == "A") & (User.age > 3)`` asks for one user matching both);
    a negation stays outside (``~(User.name == "A")``: no related user is named A).
    """
    models = _models_in(pred)
    if models <= {info.cls}:
        return pred
    if isinstance(pred, Not):
        # "~(Writer.name == 'Ann')" on articles: no related writer is named Ann
        return Not(_localize(pred.item, info))
    if len(models) == 1:
        (other,) = models
        return Related(find_path(info, get_model_info(other)), pred)
    if isinstance(pred, And):
        return And(tuple(_localize(i, info) for i in pred.items))
    if isinstance(pred, Or):
        return Or(tuple(_localize(i, info) for i in pred.items))
    raise errors.QueryError(f"cannot place {pred!r} on {info.cls.__name__}")


def _inside_aggregate(pred: Predicate, f: Field) -> bool:
    """Whether every use of ``f`` in a having clause is inside an aggregate."""
    if isinstance(pred, (And, Or)):
        return all(_inside_aggregate(i, f) for i in pred.items)
    if isinstance(pred, Not):
        return _inside_aggregate(pred.item, f)
    if isinstance(pred, (AggCompare, Related)):
        return True
    return pred.field != f


def _non_negative(what: str, n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise errors.QueryError(f"{what}() takes a non-negative int, got {n!r}")
    return n


def _select_from(args: tuple[Any, ...]) -> Select:
    model: type | None = None
    preds: list[Predicate] = []
    for arg in args:
        if isinstance(arg, type):
            get_model_info(arg)
            if model is not None and model is not arg:
                raise errors.QueryError(
                    f"find() got two models ({model.__name__}, {arg.__name__}); pass one model and predicates"
                )
            model = arg
        elif isinstance(arg, _PredicateOps):
            preds.append(arg)  # type: ignore[arg-type]
        elif isinstance(arg, FieldRef):
            raise errors.QueryError(f"find() got the field {arg!r}; did you mean a comparison like {arg!r} == value?")
        else:
            raise errors.QueryError(f"find() takes a model class and predicates, not {arg!r}")
    if model is None:
        model = next((f.model for p in preds for f in _fields_of(p)), None)
    if model is not None:
        preds = [_localize(p, get_model_info(model)) for p in preds]
    if model is None:
        raise errors.QueryError("find() needs a model class or a predicate on a model's fields")
    where: Predicate | None
    if not preds:
        where = None
    elif len(preds) == 1:
        where = preds[0]
    else:
        where = And(tuple(preds))
    return Select(model, where)
