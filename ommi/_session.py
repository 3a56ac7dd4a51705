"""Sessions: ``Ommi`` (the database handle) and ``Transaction`` (a block on it).

Both offer the same actions (add, find, get, save, delete, transaction). They
turn user calls into statement nodes, hand them to the driver and wrap every
outcome in a ``DBResult``. They never know SQL or MongoDB.

What one ``Ommi`` and all its transactions share (the driver, hooks, settings)
lives in a :class:`Runtime`; each session owns a :class:`Scope`, the small
object queries and lazy relations run through.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Generator, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

from ommi import errors
from ommi._events import EventName, Hooks, call, fire, model_hooks
from ommi._model import ModelCollection, ModelInfo, get_model_info
from ommi._observe import Observed, StatementHook, logger
from ommi._predicates import any_of, key_predicate, select_from
from ommi._query import Query
from ommi._results import Action, as_ommi_error, deferred
from ommi._schema import Schema
from ommi._threads import running_loop
from ommi.driver import Driver, DriverTransaction, Statements, load_driver, parse_url, retry_pause, to_the_end
from ommi.query import Condition, Delete, FieldRef, Insert, Raw, Save, Select, Upsert

if TYPE_CHECKING:
    from ommi._integrity import ReferenceChecks
    from ommi._migrations import Migrations

__all__ = ["MigrationTransaction", "Ommi", "Runtime", "Scope", "Session", "Transaction"]

M = TypeVar("M")
T = TypeVar("T")

DEFAULT_URL = "sqlite://"


class Runtime:
    """What an ``Ommi`` and all its transactions share."""

    __slots__ = ("driver", "events", "log_values", "references", "statement_hooks")

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.statement_hooks: list[StatementHook] = []
        self.events = Hooks()
        self.log_values = False
        # drivers that don't enforce ReferenceTo get it checked by ommi
        self.references: type[ReferenceChecks] | None = None
        if not driver.supports("foreign_keys"):
            from ommi._integrity import ReferenceChecks

            self.references = ReferenceChecks


class Scope:
    """Where one session's statements go; queries and lazy relations run through it."""

    __slots__ = ("_finished", "_primary", "_ready", "_root", "_statements", "name", "runtime", "session")

    def __init__(
        self,
        runtime: Runtime,
        session: Any,
        statements: Callable[[], Awaitable[Statements]],
        root: Scope | None = None,
        finished: Callable[[], bool] | None = None,
        *,
        ready: Callable[[], Statements | None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.session = session
        self._statements = statements
        # the statements when they can be had without waiting (an open connection,
        # a live transaction), else None: ``statements`` then says why not, or connects
        self._ready: Callable[[], Statements | None] = ready or _not_ready
        self._root = root
        self._finished = finished
        self._primary: Scope | None = None
        # how the user's code most likely calls this session (named in warnings)
        self.name = "db" if root is None else "tx"

    async def observed(self) -> Statements:
        """The session's statements, timed for hooks and the log when anyone listens."""
        return self._observe(await self._statements())

    def now(self) -> Statements | None:
        """:meth:`observed` when nothing needs waiting for (else ``None``): the common case, without a coroutine."""
        stmts = self._ready()
        if stmts is None:
            return None
        rt = self.runtime
        if rt.statement_hooks or logger.isEnabledFor(10):  # (_observe, inlined: every action passes here)
            return Observed(stmts, rt.statement_hooks, rt.log_values)
        return stmts

    def _observe(self, stmts: Statements) -> Statements:
        rt = self.runtime
        if rt.statement_hooks or logger.isEnabledFor(10):  # DEBUG
            return Observed(stmts, rt.statement_hooks, rt.log_values)
        return stmts

    def action(self, fn: Callable[[Statements], Awaitable[T]], *label: object) -> Action[T]:
        """An action running ``fn`` on this session's statements; ``label`` names the call after the session."""
        return _ScopedAction(self, fn, (self.name, *label))

    def bind(self, model: type, rows: Sequence[Any]) -> None:
        """Let instances with lazy relations load them through this session."""
        if rows and get_model_info(model).relations:
            from ommi._relations import bind  # loaded with the first model declaring a relation

            bind(rows, self)

    @property
    def root(self) -> Scope:
        """The scope of the ``Ommi`` this session belongs to."""
        return self._root or self

    def primary(self) -> Scope:
        """This scope with every read on the primary server (``on_primary()``).

        An ``Ommi``'s scope gets a second scope over the driver's
        :meth:`~ommi.driver.Driver.on_primary` statements; a transaction's
        scope (and that second scope) is returned as it is: a transaction runs
        on the primary anyway.
        """
        if self._root is not None:
            return self
        if self._primary is None:
            outer = self

            async def statements() -> Statements:
                stmts = await outer._statements()
                return stmts.on_primary() if isinstance(stmts, Driver) else stmts

            def ready() -> Statements | None:
                stmts = outer._ready()
                return stmts.on_primary() if isinstance(stmts, Driver) else stmts

            scope = Scope(self.runtime, None, statements, root=self, ready=ready)
            scope.name = self.name
            # lazy relations of instances read through it load from the primary too
            scope.session = Session(scope, self.session, joins_transaction=True)
            self._primary = scope
        return self._primary

    def usable(self) -> Scope:
        """This scope, or the ``Ommi``'s once this scope's transaction has ended."""
        if self._root is not None and self._finished is not None and self._finished():
            return self._root
        return self


def _not_ready() -> None:
    return None


def _started_by_start() -> Any:
    raise AssertionError("a scoped action starts through _start()")


class _ScopedAction(Action[T]):
    """An action on a scope's statements; when they are at hand it starts without the coroutine
    that would fetch them (every statement pays for each coroutine between ``await`` and the driver)."""

    __slots__ = ("_fn", "_scope")

    def __init__(self, scope: Scope, fn: Callable[[Statements], Awaitable[T]], label: tuple[object, ...]) -> None:
        # Action.__init__'s work, without its call
        self._run = _started_by_start  # not a bound method: no cycle to wait for the GC
        self._label = label
        self._pending = True
        self._scope = scope
        self._fn = fn

    def _start(self) -> Awaitable[T]:
        stmts = self._scope.now()
        if stmts is None:
            return self._waiting()
        return self._fn(stmts)

    async def _waiting(self) -> T:
        return await self._fn(await self._scope.observed())


_OPEN: ContextVar[tuple[Transaction, ...]] = ContextVar("ommi_open_transactions", default=())
"""The transaction blocks open in this task (and the tasks it started), innermost last."""


class _Session:
    """What ``Ommi`` and ``Transaction`` share: the user-facing actions."""

    _scope: Scope
    _keys: dict[ModelInfo, list[Any]] | None = None
    """A transaction's record of the instances whose keys the database generated in it, by
    model (their keys are forgotten if it rolls back); ``None`` outside transactions. One
    list per model, not an entry per add(): each object kept for the transaction's length
    brings the garbage collector's next pass closer, and one add() per row is common."""

    @property
    def _label(self) -> tuple[object, ...]:
        return (self._scope.name,)

    def _open_here(self) -> Transaction | None:
        """The transaction block that actions on this session run in, if any (see ``Ommi``)."""
        return None

    def add(self, *models: M) -> Action[list[M]]:  # noqa: C901 - the commonest write, its steps inline
        """Store model instances; generated keys are written back into them.

        One ``add()`` is atomic: if any instance fails, none is stored.
        Yields the list of the instances, in the order given.
        """
        if (tx := self._open_here()) is not None:
            return tx.add(*models)
        try:
            groups = _batches(models, "add")
        except errors.OmmiError as exc:
            return Action.failure(exc, (self._scope.name, ".add(...)"))
        rt = self._scope.runtime
        keys = self._keys

        async def run(stmts: Statements) -> list[M]:
            # (one add() per row is the commonest write of all: this runs for each)
            hooked = model_hooks or rt.events
            if hooked:
                await _fire_each(rt.events, "before_add", groups)
            related = False
            for batch_model, batch, info in groups:
                if rt.references is not None and info.refers:
                    await rt.references.check_references(stmts, batch_model, batch)
                if info.relations:
                    related = True
                fresh = None
                if keys is not None and (auto := info.auto_key) is not None:
                    # the instances whose key the database is about to generate
                    name = auto.name
                    if len(batch) == 1:
                        fresh = batch if getattr(batch[0], name) is None else None
                    else:
                        fresh = [m for m in batch if getattr(m, name) is None]
                await stmts.insert(Insert(batch_model, tuple(batch)))
                if fresh:
                    assert keys is not None
                    if (kept := keys.get(info)) is None:
                        keys[info] = list(fresh)
                    else:
                        kept += fresh
            if related:
                for batch_model, batch, _ in groups:
                    self._scope.bind(batch_model, batch)
            if hooked:
                await _fire_each(rt.events, "after_add", groups)
            return list(models)

        if len(groups) > 1:
            # several model types in one add(): one transaction keeps it all-or-nothing
            return self._atomic(run, ".add", groups)
        return self._scope.primary().action(run, ".add(", groups[0][0] if groups else "", ")")

    @deferred
    def upsert(
        self, *models: M, on: FieldRef[Any, Any] | tuple[FieldRef[Any, Any], ...] | None = None
    ) -> Action[list[M]]:
        """Insert each instance, or update the stored row it conflicts with; yields the instances.

        The conflict is on the model's key, or on the ``Unique`` field named by
        ``on=`` (``db.upsert(user, on=User.email)``). Each instance is one
        atomic statement (``INSERT ... ON CONFLICT DO UPDATE``, or MongoDB's
        upsert): no read-then-write race. An updated row gets every other field
        of the instance; its key stays, and is written back into the instance
        (so is a generated key). One ``upsert()`` of several instances is
        all-or-nothing, as ``add()`` is.
        """
        groups = _batches(models, "upsert")
        rt = self._scope.runtime
        stmts_of = [(Upsert(model, tuple(batch), _conflict_fields(model, on)), info) for model, batch, info in groups]

        async def run(stmts: Statements) -> list[M]:
            for stmt, info in stmts_of:
                if rt.references is not None and info.refers:
                    await rt.references.check_references(stmts, stmt.model, list(stmt.instances))
                await stmts.upsert(stmt)
                self._scope.bind(stmt.model, list(stmt.instances))
            return list(models)

        if len(groups) > 1:
            return self._atomic(run, ".upsert", groups)
        return self._scope.primary().action(run, ".upsert(", groups[0][0] if groups else "", ")")

    @overload
    def raw(self, statement: Any, *params: Any, into: type[M]) -> Action[list[M]]: ...
    @overload
    def raw(self, statement: Any, *params: Any, into: None = None) -> Action[list[Any]]: ...
    @deferred
    def raw(self, statement: Any, *params: Any, into: type[M] | None = None) -> Action[list[Any]]:
        """Run a native statement: the escape hatch when the query language is not enough.

        On SQL backends ``statement`` is the backend's own SQL with its own
        placeholders (``?`` on SQLite and DuckDB, ``$1`` on PostgreSQL, ``%s`` on
        MySQL) and ``params`` are bound to them; it yields a list of tuples, or
        with ``into=Model`` instances built from the columns named like the
        model's fields. On MongoDB ``statement`` is a command document (e.g.
        ``{"aggregate": "post", "pipeline": [...], "cursor": {}}``) and it yields
        the documents (or instances). Values are never formatted into the
        text; the statement is logged like any other. Needs the ``raw`` capability.
        """
        if into is not None:
            get_model_info(into)
        stmt = Raw(statement, params, into)

        async def run(stmts: Statements) -> list[Any]:
            rows = await stmts.raw(stmt)
            if into is not None:
                self._scope.bind(into, rows)
            return rows

        # a native statement may write, and ommi cannot tell: it runs on the primary
        return self._scope.primary().action(run, ".raw(", into or "", ")")

    @overload
    def find(self, model: type[M], /, *predicates: Condition[Any]) -> Query[M]: ...
    @overload
    def find(self, predicate: Condition[M], /, *predicates: Condition[Any]) -> Query[M]: ...
    def find(self, *args: Any) -> Query[Any]:
        """Start a query: ``find(User)``, ``find(User.age >= 18)``, ``find(User, pred, pred)``.

        Several predicates are ANDed. Nothing runs until a terminal action
        (``all``, ``one``, ``first``, ``count``, ``exists``, ``update``,
        ``delete``) is awaited or the query is iterated with ``async for``.
        Without a model class, the query is about the model of the first
        field named (``find(User.age >= 18)`` is a ``Query[User]``).
        """
        if (tx := self._open_here()) is not None:
            return tx.find(*args)
        return Query(self._scope, select_from(args))

    def get(self, model: type[M], key: Any) -> Action[M]:
        """Load one instance by key (a tuple for composite keys); fails with ``NotFound``."""
        # (@deferred's work written out: a lookup by key is the commonest action, and every
        # layer of it counts about three times over, run cold after waiting for the server)
        try:
            if (tx := self._open_here()) is not None:
                return tx.get(model, key)
            info = get_model_info(model)
            # No limit: a key matches one row at most, and a LIMIT is not free (on DuckDB
            # a Limit operator costs about a fifth of a lookup by key)
            select = Select(model, key_predicate(info, key))
        except errors.OmmiError as exc:
            return Action.failure(exc, (*self._label, ".get(...)"))
        scope = self._scope

        async def run(stmts: Statements) -> M:
            rows = await stmts.select(select)
            if not rows:
                raise errors.NotFound(f"no {model.__name__} with key {key!r}")
            if info.relations:
                scope.bind(model, rows)
            return rows[0]  # type: ignore[no-any-return]

        return scope.action(run, ".get(", model, ")")

    @deferred
    def save(self, *models: M) -> Action[list[M]]:
        """Write changed instances back to the rows with their keys.

        Fails with ``NotFound`` (storing nothing) if an instance has no row.
        """
        if (tx := self._open_here()) is not None:
            return tx.save(*models)
        groups = _batches(models)
        rt = self._scope.runtime

        async def run(stmts: Statements) -> list[M]:
            if model_hooks or rt.events:
                await _fire_each(rt.events, "before_save", groups)
            for batch_model, batch, info in groups:
                if rt.references is not None and info.refers:
                    await rt.references.check_references(stmts, batch_model, batch)
                await stmts.save(Save(batch_model, tuple(batch)))
            if model_hooks or rt.events:
                await _fire_each(rt.events, "after_save", groups)
            return list(models)

        if len(groups) > 1:
            return self._atomic(run, ".save", groups)
        return self._scope.primary().action(run, ".save(", groups[0][0] if groups else "", ")")

    @deferred
    def delete(self, *models: object) -> Action[int]:
        """Delete instances by key; yields the number of rows deleted."""
        if (tx := self._open_here()) is not None:
            return tx.delete(*models)
        groups = _batches(models)
        rt = self._scope.runtime

        async def run(stmts: Statements) -> int:
            total = 0
            if model_hooks or rt.events:
                await _fire_each(rt.events, "before_delete", groups)
            for batch_model, batch, info in groups:
                where = any_of([key_predicate(info, info.key_of(m)) for m in batch])
                if rt.references is not None:
                    await rt.references.check_unreferenced(stmts, batch_model, where)
                total += await stmts.delete(Delete(batch_model, where))
            if model_hooks or rt.events:
                await _fire_each(rt.events, "after_delete", groups)
            return total

        if len(groups) > 1:
            return self._atomic(run, ".delete", groups)
        return self._scope.primary().action(run, ".delete(", groups[0][0] if groups else "", ")")

    def _atomic(
        self, fn: Callable[[Statements], Awaitable[T]], verb: str, groups: Sequence[tuple[type, Any, Any]]
    ) -> Action[T]:
        """An action whose statements succeed or fail together."""
        async def run() -> T:
            if isinstance(self, Transaction) and not self._scope.runtime.driver.supports("savepoints"):
                # already atomic with the transaction; no nested block to open
                return await fn(await self._scope.observed())
            async with self.transaction() as tx:
                return await fn(await tx._scope.observed())

        models = ", ".join(dict.fromkeys(model.__name__ for model, _, _ in groups))
        return Action(run, (self._scope.name, verb, "(", models, ")"))

    def transaction(self) -> Transaction:
        """A transaction block: ``async with db.transaction() as tx: ...``.

        It commits when the block ends normally and rolls back (re-raising)
        when it ends with an exception. Inside a transaction, ``tx.transaction()``
        opens a nested block (a savepoint) that can fail alone; so does
        ``db.transaction()`` in the task running a transaction block.
        """
        if (tx := self._open_here()) is not None:
            return tx.transaction()
        return Transaction(self._scope, self._open_block)

    def in_transaction(self, fn: Callable[[Transaction], Awaitable[T]], *, retries: int = 3) -> Action[T]:
        """Run ``await fn(tx)`` in a transaction, again (up to ``retries`` times) if it meets a conflict.

        A conflict is a ``TransactionError`` the database calls retryable (a
        serialization failure, a deadlock, a write conflict); after each, the
        transaction is rolled back and, after a short randomized pause, ``fn``
        runs again in a new one. Yields ``fn``'s value. Inside another
        transaction block there is nothing to retry alone: ``fn`` runs once,
        in a nested block.
        """
        if retries < 0:
            return Action.failure(errors.QueryError(f"in_transaction() takes retries >= 0, got {retries}"))
        nested = self._open_here() is not None or isinstance(self, Transaction)

        async def run() -> T:
            attempt = 0
            while True:
                try:
                    async with self.transaction() as tx:
                        return await fn(tx)
                except errors.TransactionError as exc:
                    if nested or not exc.retryable or attempt >= retries:
                        raise
                attempt += 1
                await retry_pause(attempt)

        name = getattr(fn, "__qualname__", "fn")
        return Action(run, (self._scope.name, ".in_transaction(", name, ")"))

    async def _open_block(self) -> DriverTransaction:
        raise NotImplementedError


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
        self._runtime = Runtime(driver)
        self._scope = Scope(self._runtime, self, self._connected, ready=self._ready)
        self._state = "new"
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def connect(cls, url: str | None = None, *, replicas: Sequence[str] | None = None, **options: Any) -> Self:
        """Build an ``Ommi`` for a database URL (use with ``async with`` or ``await``).

        Args:
            url: ``scheme://...``; defaults to ``$OMMI_DATABASE_URL``, else
                in-memory SQLite (``sqlite://``).
            replicas: URLs of read replicas of that database: reads outside
                transactions go to them (see the scaling guide). With the URL
                from ``$OMMI_DATABASE_URL``, they default to
                ``$OMMI_DATABASE_REPLICAS`` (URLs separated by spaces).
            **options: passed to the driver of each URL (see each backend's
                page); with replicas, also ``replica_retry`` (seconds a failed
                replica is skipped, default 10).

        Raises:
            UnsupportedError: no installed driver handles the URL's scheme.
            ConnectionFailed: a URL is malformed, or a replica's is not of the primary's kind.
        """
        if url is None:
            url = os.environ.get("OMMI_DATABASE_URL") or None
            if url is not None and replicas is None:  # replicas of the configured database only
                replicas = os.environ.get("OMMI_DATABASE_REPLICAS", "").split()
            url = url or DEFAULT_URL
        parsed = parse_url(url)
        if replicas:
            from ommi.routing import RoutingDriver

            return cls(RoutingDriver.from_url(parsed, replicas=replicas, **options))
        driver_cls = load_driver(parsed.scheme)
        return cls(driver_cls.from_url(parsed, **options))

    def __repr__(self) -> str:
        return f"<Ommi {self.driver!r} ({self._state})>"

    @property
    def capabilities(self) -> frozenset[str]:
        """The capabilities the driver declares (see :data:`ommi.driver.CAPABILITIES`)."""
        return self.driver.capabilities

    @property
    def log_values(self) -> bool:
        """Whether the ``ommi`` DEBUG log includes bound values (off by default: they may be private)."""
        return self._runtime.log_values

    @log_values.setter
    def log_values(self, value: bool) -> None:
        self._runtime.log_values = bool(value)

    def _ready(self) -> Driver | None:
        # open, and used from its own loop (anything else: _connected() says what is wrong)
        if self._state == "open" and self._loop is running_loop(self._loop):
            return self.driver
        return None

    async def _connected(self) -> Driver:
        if self._state != "open":
            async with self._lock:
                if self._state == "closed":
                    raise errors.ConnectionFailed("this Ommi has been closed")
                if self._state == "new":
                    self._loop = asyncio.get_running_loop()
                    await self.driver.connect()
                    self._state = "open"
        elif self._loop is not running_loop(self._loop):
            raise _other_loop()
        return self.driver

    async def _open_block(self) -> DriverTransaction:
        driver = await self._connected()
        return await driver.begin()

    def _open_here(self) -> Transaction | None:
        # The innermost block of this Ommi open in this task's context: entered by this
        # task, or by the task that started this one (asyncio copies the context). A
        # started task that outlives the block keeps it, so its actions then fail
        # with TransactionError instead of silently running outside the transaction.
        for tx in reversed(_OPEN.get()):
            if tx.db is self:
                return tx
        return None

    def outside_transaction(self) -> Session:
        """This database without the transaction block this task may be in: actions on it run on
        a connection of their own and commit on their own.

        ``db.outside_transaction().add(entry)`` inside ``async with db.transaction()``
        stores ``entry`` even if the block rolls back (on SQLite, which has one
        writer at a time, it waits for the block's write lock).
        """
        return Session(self._scope, self)

    def on_primary(self) -> Session:
        """This database with every read on the primary server, not a read replica.

        ``await db.on_primary().get(User, 1)`` sees every committed write, the
        caller's own included (read-your-writes). Lazy relations of the
        instances it returns load from the primary too. Without replicas (and
        inside a transaction) reads run there anyway. See also
        ``db.find(...).on_primary()``.
        """
        session = self._scope.primary().session
        assert isinstance(session, Session)
        return session

    def __await__(self) -> Generator[Any, None, Self]:
        async def opened() -> Self:
            await self._connected()
            return self

        return opened().__await__()

    async def __aenter__(self) -> Self:
        await self._connected()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the driver's connections; later actions fail with ``ConnectionFailed``.

        Raises:
            ConnectionFailed: called from another event loop than the one that opened it.
        """
        if self._state == "open" and self._loop is not asyncio.get_running_loop():
            raise _other_loop()
        async with self._lock:
            if self._state == "open":
                # to its end even if the task is cancelled meanwhile: a driver stopped
                # half-way has forgotten its pool or client already, and nothing would
                # ever close the connections it still had
                try:
                    await to_the_end(self.driver.close())
                except asyncio.CancelledError:
                    self._state = "closed"  # closed all the same: to_the_end waited for it
                    raise
            self._state = "closed"

    def on(self, event: EventName, hook: Callable[..., Any], *, model: type | None = None) -> Callable[[], None]:
        """Register a lifecycle hook on this ``Ommi`` (and its transactions).

        ``event`` is one of ``before_add``, ``after_add``, ``before_save``,
        ``after_save``, ``before_delete``, ``after_delete`` (the hook gets each
        instance; ``model=`` limits it to one class), ``after_commit`` and
        ``after_rollback`` (the hook gets the transaction). Hooks may be async.
        Returns a function that removes the hook.
        """
        return self._runtime.events.add(event, hook, model)

    def on_statement(self, hook: StatementHook) -> Callable[[], None]:
        """Call ``hook(event)`` after every statement sent to the driver (transactions included).

        Returns a function that removes the hook. The ``ommi`` logger also
        records each statement and its duration at DEBUG level.
        """
        hooks = self._runtime.statement_hooks
        hooks.append(hook)

        def remove() -> None:
            if hook in hooks:
                hooks.remove(hook)

        return remove

    def schema(self, collection: ModelCollection | None = None) -> Schema:
        """Schema actions for a collection's models (the default collection if omitted)."""
        return Schema(self._connected, collection)

    def migrations(
        self,
        directory: str | os.PathLike[str] = "migrations",
        *,
        table: str = "ommi_migrations",
        lock_timeout: float = 600.0,
    ) -> Migrations:
        """Versioned migrations kept as files in ``directory`` (see the migrations guide).

        ``await db.migrations("migrations").upgrade()`` applies what is missing;
        ``downgrade()``, ``status()``, ``sql()``, ``check(collection)`` and
        ``make(message, collection)`` are the other actions.

        Args:
            directory: the folder holding the migration files.
            table: the table (collection) recording applied migrations; two
                applications sharing one database each use their own.
            lock_timeout: seconds to wait for another run's migration lock, and
                the age at which a lock whose holder stopped refreshing it counts
                as abandoned.
        """
        from ommi._migrations import Migrations

        def begin(models: Any) -> MigrationTransaction:
            return MigrationTransaction(self._scope, self._open_block, models)

        return Migrations(directory, self, table=table, lock_timeout=lock_timeout, begin=begin)


class Transaction(_Session):
    """A transaction block; use ``async with db.transaction() as tx``.

    ``tx`` has the same actions as ``Ommi``. It commits at the end of the block,
    or rolls back if the block raises. ``await tx.commit()`` and
    ``await tx.rollback()`` end it early; nested ``tx.transaction()`` blocks are
    savepoints.
    """

    def __init__(self, parent: Scope, open_block: Callable[[], Awaitable[DriverTransaction]]) -> None:
        self._parent = parent
        self._open = open_block
        self._scope = Scope(parent.runtime, self, self._statements, parent.root, lambda: self._done, ready=self._live)
        self._tx: DriverTransaction | None = None
        self._token: Token[tuple[Transaction, ...]] | None = None
        self._done = False
        self._on_commit: list[Callable[[], Any]] = []
        self._on_rollback: list[Callable[[], Any]] = []
        self._keys: dict[ModelInfo, list[Any]] = {}  # (see _Session._keys)

    @property
    def finished(self) -> bool:
        """Whether this block has committed or rolled back."""
        return self._done

    @property
    def db(self) -> Ommi:
        """The ``Ommi`` this transaction belongs to."""
        root = self._scope.root.session
        assert isinstance(root, Ommi)
        return root

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
        parent = self._parent.session
        if not committed:
            self._forget_keys()
        if isinstance(parent, Transaction):
            if committed:  # the outer transaction decides
                parent.on_commit_all(self._on_commit)
                parent.on_rollback_all(self._on_rollback)
                for info, instances in self._keys.items():
                    parent._keys.setdefault(info, []).extend(instances)
            else:
                for fn in self._on_rollback:
                    await call(fn, event="on_rollback")
            return
        event = "after_commit" if committed else "after_rollback"
        for fn in self._on_commit if committed else self._on_rollback:
            await call(fn, event=event)
        for fn in self._scope.runtime.events.matching(event, None):
            await call(fn, self, event=event)

    def _forget_keys(self) -> None:
        # the rows are gone: their generated keys must not be reused by a later add()
        for info, instances in self._keys.items():
            name = info.auto_key.name if info.auto_key is not None else ""
            for m in instances:
                info.set_value(m, name, None)
        self._keys.clear()

    def on_commit_all(self, callbacks: Sequence[Callable[[], Any]]) -> None:
        """:meth:`on_commit` for several callbacks (a committed nested block hands its own over)."""
        self._on_commit.extend(callbacks)

    def on_rollback_all(self, callbacks: Sequence[Callable[[], Any]]) -> None:
        """:meth:`on_rollback` for several callbacks."""
        self._on_rollback.extend(callbacks)

    def _live(self) -> DriverTransaction | None:
        return self._tx if not self._done else None

    async def _statements(self) -> DriverTransaction:
        if self._tx is None:
            raise errors.TransactionError("use the transaction inside `async with db.transaction() as tx:`")
        if self._done:
            raise errors.TransactionError("this transaction has already been committed or rolled back")
        return self._tx

    async def _open_block(self) -> DriverTransaction:
        return await (await self._statements()).savepoint()

    async def __aenter__(self) -> Self:
        if self._tx is not None:
            raise errors.TransactionError("a transaction block can be entered only once")
        try:
            self._tx = await self._open()
        except Exception as exc:
            raise as_ommi_error(exc) from exc
        # db.add(...) and friends in this task now run in this block (see Ommi._open_here)
        self._token = _OPEN.set((*_OPEN.get(), self))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._done or self._tx is None:
                return
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            self._leave()

    def _leave(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _OPEN.reset(token)
        except ValueError:  # left in another context than entered: drop this block only
            _OPEN.set(tuple(tx for tx in _OPEN.get() if tx is not self))

    async def commit(self) -> None:
        """Commit now (raises ``TransactionError`` if the database refuses)."""
        tx = await self._statements()
        self._done = True
        try:
            await tx.commit()
        except Exception as exc:
            await self._finished(False)
            raise as_ommi_error(exc) from exc
        await self._finished(True)

    async def rollback(self) -> None:
        """Undo everything done in this transaction (or savepoint)."""
        tx = await self._statements()
        self._done = True
        try:
            await tx.rollback()
        except Exception as exc:
            raise as_ommi_error(exc) from exc
        await self._finished(False)


class Session(_Session):
    """An ``Ommi``'s actions on another route: without its task-local transaction
    (``db.outside_transaction()``), or with reads on the primary (``db.on_primary()``)."""

    def __init__(self, scope: Scope, db: Ommi, *, joins_transaction: bool = False) -> None:
        self._scope = scope
        self._db = db
        self._joins = joins_transaction

    def _open_here(self) -> Transaction | None:
        return self._db._open_here() if self._joins else None

    async def _open_block(self) -> DriverTransaction:
        return await self._db._open_block()


class MigrationTransaction(Transaction):
    """The transaction a migration runs in; data steps receive it as ``tx``.

    Besides every action of :class:`Transaction`, ``tx.models`` holds the
    models as they are at the data step (``tx.models.User``), which may differ
    from the application's current model classes.
    """

    def __init__(
        self, parent: Scope, open_block: Callable[[], Awaitable[DriverTransaction]], models: Any
    ) -> None:
        super().__init__(parent, open_block)
        self.models = models

    async def __aenter__(self) -> MigrationTransaction:
        await super().__aenter__()
        return self

    async def driver_transaction(self) -> DriverTransaction:
        """The driver's transaction under this block (the migration runner applies schema changes on it)."""
        return await self._statements()


def _conflict_fields(model: type, on: Any) -> tuple[Any, ...]:
    """The fields an upsert of ``model`` conflicts on: the key, or the ``Unique`` field named by ``on``."""
    info = get_model_info(model)
    if on is None:
        if not info.key:
            raise errors.QueryError(f"upsert() of {model.__name__} needs a key, or on= naming a Unique field")
        return tuple(f.ref.field for f in info.key)
    refs = on if isinstance(on, tuple) else (on,)
    for ref in refs:
        if not isinstance(ref, FieldRef) or ref.model is not model:
            raise errors.QueryError(f"upsert(on=...) takes fields of {model.__name__}, not {ref!r}")
    named = {ref.info for ref in refs}
    if named == set(info.key) or (len(refs) == 1 and refs[0].info.unique):
        return tuple(ref.field for ref in refs)
    shown = ", ".join(repr(r) for r in refs)
    raise errors.QueryError(
        f"upsert(on={shown}): a conflict needs the whole key of {model.__name__} or one Unique field"
    )


async def _fire_each(events: Hooks, event: str, groups: Sequence[tuple[type, list[Any], ModelInfo]]) -> None:
    """Fire an instance event for every batch of an action, in order."""
    for batch_model, batch, _ in groups:
        await fire(events, event, batch_model, batch)


def _first_repeated(models: Sequence[Any]) -> Any:
    seen: set[int] = set()
    for m in models:
        if id(m) in seen:
            return m
        seen.add(id(m))
    return None


def _other_loop() -> errors.ConnectionFailed:
    return errors.ConnectionFailed(
        "this Ommi was opened in another event loop: its connections belong to that loop "
        "(open one Ommi per event loop, e.g. inside asyncio.run())"
    )


def _batches(models: Sequence[Any], new_rows: str = "") -> list[tuple[type, list[Any], ModelInfo]]:
    """Consecutive runs of one model type, in order (one statement per run), each with its
    model's :class:`ModelInfo` (raises ``ModelError`` for a class that is not a model).

    ``new_rows``: the verb of an action writing each instance as a new row (``"add"``),
    which refuses an instance given twice.
    """
    if len(models) == 1:  # one add() per instance: the most common case of all
        only = type(models[0])
        return [(only, list(models), get_model_info(only))]
    if new_rows and len(set(map(id, models))) != len(models):
        twice = _first_repeated(models)
        raise errors.ValidationError(
            f"{new_rows}() got the same {type(twice).__name__} instance twice ({twice!r}): an instance is one row"
        )
    kinds = set(map(type, models))
    if len(kinds) == 1:  # the common case, without a Python-level loop
        (only,) = kinds
        return [(only, list(models), get_model_info(only))]
    out: list[tuple[type, list[Any], ModelInfo]] = []
    for m in models:
        cls = type(m)
        if out and out[-1][0] is cls:
            out[-1][1].append(m)
        else:
            out.append((cls, [m], get_model_info(cls)))
    return out
