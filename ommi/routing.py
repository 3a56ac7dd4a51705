"""Read replicas: a driver that sends reads to replica servers and everything else to the primary.

``Ommi.connect(primary_url, replicas=[replica_url, ...])`` builds a
:class:`RoutingDriver` over one driver per URL (all of the primary's kind). It
is a driver like any other to the interface layer; what it decides is which of
its drivers runs each statement:

* ``select``, ``count``, ``aggregate``, ``values`` and the streams outside a transaction go
  to a replica, in turn (round robin) among the healthy ones;
* writes (upserts too), native statements (``db.raw()``, which may write),
  transactions (``begin()``: every statement inside one) and schema work go
  to the primary, and so do reads through :meth:`on_primary`
  (``Query.on_primary()``, ``Ommi.on_primary()``);
* a replica whose statement (or connection) fails with ``ConnectionFailed`` is
  skipped for ``replica_retry`` seconds, then tried again; the failed read is
  run again on the next healthy replica, else on the primary. With no healthy
  replica, reads go to the primary. A stream is moved only before its first
  row; a replica lost in the middle of one fails it with ``ConnectionFailed``.

Each statement is named with the server it ran on (``"primary"``,
``"replica 1"``, ...) for the statement log and ``StatementEvent.server``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ommi import errors
from ommi._placement import running_on
from ommi.driver import (
    URL,
    Driver,
    DriverTransaction,
    FieldInfo,
    LiveTable,
    ModelInfo,
    SchemaChange,
    Statements,
    close_stream,
    load_driver,
    parse_url,
)
from ommi.query import Aggregate, Delete, Insert, Raw, Save, Select, Update, Upsert, Values

__all__ = ["DEFAULT_REPLICA_RETRY", "RoutingDriver"]

T = TypeVar("T")

logger = logging.getLogger("ommi.routing")

DEFAULT_REPLICA_RETRY = 10.0
"""Seconds a replica that failed is skipped before it is tried again."""

PRIMARY = "primary"


class _Node:
    """One replica: its driver, its name in logs, and when it may be tried again."""

    __slots__ = ("down_until", "driver", "label", "lock", "opened")

    def __init__(self, label: str, driver: Driver) -> None:
        self.label = label
        self.driver = driver
        self.down_until = 0.0
        self.opened = False
        self.lock = asyncio.Lock()


class _Placed(Statements):
    """Statements of one server, each named with that server while it runs."""

    __slots__ = ("inner", "label")

    def __init__(self, inner: Statements, label: str) -> None:
        self.inner = inner
        self.label = label

    async def _call(self, call: Callable[[Any], Awaitable[T]], stmt: Any) -> T:
        with running_on(self.label):
            return await call(stmt)

    async def insert(self, stmt: Insert) -> None:
        await self._call(self.inner.insert, stmt)

    async def select(self, stmt: Select) -> list[Any]:
        return await self._call(self.inner.select, stmt)

    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        return _relay(self.inner.stream(stmt), self.label)

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        return _relay(self.inner.stream_batches(stmt, size), self.label)

    async def count(self, stmt: Select) -> int:
        return await self._call(self.inner.count, stmt)

    async def update(self, stmt: Update) -> int:
        return await self._call(self.inner.update, stmt)

    async def delete(self, stmt: Delete) -> int:
        return await self._call(self.inner.delete, stmt)

    async def save(self, stmt: Save) -> int:
        return await self._call(self.inner.save, stmt)

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        return await self._call(self.inner.aggregate, stmt)

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        return await self._call(self.inner.values, stmt)

    def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        return _relay(self.inner.stream_values(stmt), self.label)

    async def upsert(self, stmt: Upsert) -> None:
        await self._call(self.inner.upsert, stmt)

    async def raw(self, stmt: Raw) -> list[Any]:
        return await self._call(self.inner.raw, stmt)


class _PlacedTransaction(_Placed, DriverTransaction):
    """A transaction of the primary's driver, its statements named with the primary."""

    __slots__ = ()

    inner: DriverTransaction

    async def commit(self) -> None:
        with running_on(self.label):
            await self.inner.commit()

    async def rollback(self) -> None:
        with running_on(self.label):
            await self.inner.rollback()

    async def savepoint(self) -> DriverTransaction:
        with running_on(self.label):
            return _PlacedTransaction(await self.inner.savepoint(), self.label)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        with running_on(self.label):
            await self.inner.apply_schema_changes(changes)


async def _relay(items: AsyncIterator[Any], label: str, first: Sequence[Any] = ()) -> AsyncGenerator[Any, None]:
    """Yield ``first``, then the rows of ``items``, naming the server while the driver fetches them."""
    try:
        for item in first:
            yield item
        while True:
            with running_on(label):
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    return
            yield item
    finally:
        await close_stream(items)


class RoutingDriver(Driver):
    """A primary driver and replica drivers: reads outside transactions go to the replicas.

    Args:
        primary: the driver of the primary server (writes, transactions, schema).
        replicas: drivers of read replicas of the same database, of the same
            kind as ``primary``. They are connected and closed with the router.
        replica_retry: seconds a replica is skipped after it failed with
            ``ConnectionFailed`` (default 10), before a read tries it again.

    Raises:
        ConnectionFailed: ``replica_retry`` is negative, or a driver is not an ommi driver.
    """

    schemes = ()

    def __init__(
        self, primary: Driver, replicas: Sequence[Driver], *, replica_retry: float = DEFAULT_REPLICA_RETRY
    ) -> None:
        if isinstance(replicas, Driver) or not all(isinstance(d, Driver) for d in (primary, *replicas)):
            raise errors.ConnectionFailed("RoutingDriver(primary, replicas) takes an ommi driver and a list of them")
        try:
            retry = float(replica_retry)
        except (TypeError, ValueError):
            retry = -1.0
        if not retry >= 0:  # NaN too
            raise errors.ConnectionFailed(f"replica_retry takes seconds >= 0, got {replica_retry!r}")
        self.primary = primary
        self.replicas = tuple(replicas)
        self.replica_retry = retry
        # what the application may rely on is what the primary offers: every
        # transaction and write runs there (a class variable on other drivers)
        self.capabilities = primary.capabilities  # type: ignore[misc]
        self._writer = _Placed(primary, PRIMARY)
        self._nodes = [_Node(f"replica {n}", d) for n, d in enumerate(self.replicas, start=1)]
        self._turn = itertools.count()

    def __repr__(self) -> str:
        replicas = ", ".join(repr(d) for d in self.replicas)
        return f"RoutingDriver(primary={self.primary!r}, replicas=[{replicas}])"

    @classmethod
    def from_url(
        cls,
        url: URL,
        *,
        replicas: Sequence[str | URL] = (),
        replica_retry: float = DEFAULT_REPLICA_RETRY,
        **options: Any,
    ) -> RoutingDriver:
        """A router for a primary URL and replica URLs, each built by the primary's driver with ``options``.

        Raises:
            ConnectionFailed: ``replicas`` is not a list of URLs, a URL is
                malformed or names another kind of database than the primary.
            UnsupportedError: no installed driver handles the primary's scheme.
        """
        if isinstance(replicas, str | URL):
            raise errors.ConnectionFailed("replicas takes a list of URLs, e.g. replicas=['postgresql://replica1/app']")
        kind = load_driver(url.scheme)
        primary = kind.from_url(url, **options)
        drivers: list[Driver] = []
        for n, replica in enumerate(replicas, start=1):
            parsed = replica if isinstance(replica, URL) else parse_url(replica)
            if parsed.scheme not in kind.schemes:
                raise errors.ConnectionFailed(
                    f"replica {n} ({parsed}) is not a {url.scheme} URL: replicas are servers of the primary's kind"
                )
            drivers.append(kind.from_url(parsed, **options))
        return cls(primary, drivers, replica_retry=replica_retry)

    # -- connections ----------------------------------------------------------

    async def connect(self) -> None:
        """Connect the primary, then the replicas (all at once).

        A replica that cannot be reached is not an error: it is skipped for
        ``replica_retry`` seconds (a warning on the ``ommi.routing`` logger),
        as after a failed read.

        Raises:
            ConnectionFailed: the primary cannot be reached.
        """
        # the primary first: if it fails, nothing is left open (the next action tries again)
        await self.primary.connect()
        await asyncio.gather(*(self._open(node) for node in self._nodes))

    async def _open(self, node: _Node) -> bool:
        """Whether the replica is connected, connecting it first if needed."""
        if node.opened:
            return True
        async with node.lock:  # one connect at a time: a second would open a second pool
            if not node.opened:
                try:
                    await node.driver.connect()
                except errors.OmmiError as exc:
                    self._failed(node, exc)
                    return False
                node.opened = True
        return True

    async def close(self) -> None:
        """Close every driver (a driver given twice is closed once); a second call does nothing."""
        drivers = list({id(d): d for d in (self.primary, *self.replicas)}.values())
        results = await asyncio.gather(*(d.close() for d in drivers), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- where reads go -------------------------------------------------------

    def _failed(self, node: _Node, exc: errors.OmmiError) -> None:
        node.down_until = time.monotonic() + self.replica_retry
        logger.warning("%s failed (%s); reads skip it for %g s", node.label, exc, self.replica_retry)

    def _readers(self) -> list[_Node]:
        """The healthy replicas, starting with the one whose turn it is."""
        now = time.monotonic()
        up = [node for node in self._nodes if node.down_until <= now]
        if len(up) > 1:
            k = next(self._turn) % len(up)
            up = up[k:] + up[:k]
        return up

    async def _read(self, call: Callable[[Statements], Awaitable[T]]) -> T:
        for node in self._readers():
            if not await self._open(node):
                continue
            try:
                with running_on(node.label):
                    return await call(node.driver)
            except errors.ConnectionFailed as exc:
                self._failed(node, exc)  # a read has no effect: run it again elsewhere
        with running_on(PRIMARY):
            return await call(self.primary)

    def on_primary(self) -> Statements:
        """Statements that run everything, reads included, on the primary (fresh reads)."""
        return _Placed(self.primary.on_primary(), PRIMARY)

    # -- statements -----------------------------------------------------------

    async def select(self, stmt: Select) -> list[Any]:
        return await self._read(lambda d: d.select(stmt))

    async def count(self, stmt: Select) -> int:
        return await self._read(lambda d: d.count(stmt))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        return await self._read(lambda d: d.aggregate(stmt))

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        return await self._read(lambda d: d.values(stmt))

    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        return self._stream(lambda d: d.stream(stmt))

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        return self._stream(lambda d: d.stream_batches(stmt, size))

    def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        return self._stream(lambda d: d.stream_values(stmt))

    async def _stream(self, open_on: Callable[[Statements], AsyncIterator[Any]]) -> AsyncIterator[Any]:
        items, label, first = await self._start_stream(open_on)
        if items is None:
            return
        rows = _relay(items, label, first)
        try:
            async for item in rows:
                yield item
        finally:  # at once when the consumer stops early, not when the garbage collector gets to it
            await rows.aclose()

    async def _start_stream(
        self, open_on: Callable[[Statements], AsyncIterator[Any]]
    ) -> tuple[AsyncIterator[Any] | None, str, list[Any]]:
        """A replica's stream (else the primary's) with its first row read (``None``: no rows)."""
        for node in self._readers():
            if not await self._open(node):
                continue
            items = open_on(node.driver).__aiter__()
            try:
                with running_on(node.label):
                    return items, node.label, [await anext(items)]
            except StopAsyncIteration:
                await close_stream(items)
                return None, node.label, []
            except errors.ConnectionFailed as exc:
                await close_stream(items)
                self._failed(node, exc)  # nothing was yielded yet: start again elsewhere
            except BaseException:
                await close_stream(items)
                raise
        return open_on(self.primary).__aiter__(), PRIMARY, []

    async def insert(self, stmt: Insert) -> None:
        await self._writer.insert(stmt)

    async def update(self, stmt: Update) -> int:
        return await self._writer.update(stmt)

    async def delete(self, stmt: Delete) -> int:
        return await self._writer.delete(stmt)

    async def save(self, stmt: Save) -> int:
        return await self._writer.save(stmt)

    async def upsert(self, stmt: Upsert) -> None:
        await self._writer.upsert(stmt)

    async def raw(self, stmt: Raw) -> list[Any]:
        # a native statement may write, and ommi cannot tell: it runs on the primary
        return await self._writer.raw(stmt)

    async def begin(self) -> DriverTransaction:
        with running_on(PRIMARY):
            return _PlacedTransaction(await self.primary.begin(), PRIMARY)

    # -- schema: the primary's ------------------------------------------------

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        with running_on(PRIMARY):
            await self.primary.create_schema(models)

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        with running_on(PRIMARY):
            await self.primary.drop_schema(models)

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        with running_on(PRIMARY):
            return await self.primary.inspect_schema(models)

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        with running_on(PRIMARY):
            await self.primary.apply_schema_changes(changes)

    def expected_type(self, field: FieldInfo) -> str | None:
        return self.primary.expected_type(field)

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        return self.primary.render_schema_changes(changes)

    async def server_version(self) -> str:
        with running_on(PRIMARY):
            return await self.primary.server_version()
