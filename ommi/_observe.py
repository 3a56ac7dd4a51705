"""Statement hooks and the ``ommi`` logger: see what ommi sends to the database.

Every statement the interface hands to a driver can be observed: the ``ommi``
logger records it with its duration at DEBUG level (never with bound values),
and hooks registered with :meth:`ommi.Ommi.on_statement` receive a
:class:`StatementEvent` after it ran, e.g. to count queries in a test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ommi.driver import Statements, close_stream
from ommi.query import Aggregate, Delete, Insert, Raw, Save, Select, Update, Upsert, Values

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = ["StatementEvent", "StatementHook", "logger"]

logger = logging.getLogger("ommi")


@dataclass(frozen=True, slots=True)
class StatementEvent:
    """One statement sent to the driver.

    Attributes:
        operation: ``"select"``, ``"stream"`` (``async for`` over a query, or its
            ``batches()``), ``"count"``, ``"insert"``, ``"update"``, ``"delete"``,
            ``"save"``, ``"aggregate"``, ``"values"``, ``"stream_values"``, ``"upsert"``
            or ``"raw"``.
        statement: the :mod:`ommi.query` node the driver received.
        seconds: how long the driver took.
        error: the exception the driver raised, if any.
        server: where it ran, with read replicas configured: ``"primary"`` or
            ``"replica 1"``, ``"replica 2"``... (a read retried elsewhere after
            a replica failed names where it finally ran); ``None`` for a
            database reached through one driver.
    """

    operation: str
    statement: Any
    seconds: float
    error: BaseException | None = None
    server: str | None = None

    @property
    def model(self) -> type:
        """The model class the statement is about (for ``raw`` without ``into``, ``type(None)``)."""
        return self.statement.model or type(None)  # type: ignore[no-any-return,unused-ignore]


StatementHook = Callable[[StatementEvent], None]


def _describe(event: StatementEvent) -> str:
    stmt = event.statement
    what = f"{event.operation} {event.model.__name__}"
    if isinstance(stmt, (Insert, Save, Upsert)):
        what += f" ({len(stmt.instances)} rows)"
    if event.server is not None:
        what += f" on {event.server}"
    return what


class Observed(Statements):
    """Wraps a driver (or transaction) to time each statement for hooks and the log."""

    __slots__ = ("hooks", "inner", "log_values")

    def __init__(self, inner: Statements, hooks: list[StatementHook], log_values: bool = False) -> None:
        self.inner = inner
        self.hooks = hooks
        self.log_values = log_values

    def _emit(
        self, operation: str, statement: Any, start: float, error: BaseException | None, servers: list[str]
    ) -> None:
        server = servers[-1] if servers else None
        event = StatementEvent(operation, statement, time.perf_counter() - start, error, server)
        if logger.isEnabledFor(logging.DEBUG):
            failed = " (failed)" if error else ""
            if self.log_values:  # the user opted in: the whole statement node, values included
                logger.debug("%s in %.3f ms%s: %r", _describe(event), event.seconds * 1000, failed, statement)
            else:
                logger.debug("%s in %.3f ms%s", _describe(event), event.seconds * 1000, failed)
        for hook in tuple(self.hooks):
            hook(event)

    async def _run(self, operation: str, statement: Any, call: Callable[[Any], Any]) -> Any:
        from ommi import _placement as placement  # loaded with the first observed statement

        start = time.perf_counter()
        with placement.placed() as servers:
            try:
                result = await call(statement)
            except BaseException as exc:
                self._emit(operation, statement, start, exc, servers)
                raise
        self._emit(operation, statement, start, None, servers)
        return result

    async def insert(self, stmt: Insert) -> None:
        await self._run("insert", stmt, self.inner.insert)

    async def select(self, stmt: Select) -> list[Any]:
        return await self._run("select", stmt, self.inner.select)  # type: ignore[no-any-return]

    async def _stream(self, operation: str, stmt: Any, source: AsyncIterator[Any]) -> AsyncIterator[Any]:
        from ommi import _placement as placement

        start = time.perf_counter()
        error: BaseException | None = None
        servers: list[str] = []
        items = source.__aiter__()
        try:
            while True:
                # the server is named while the driver works, never across a yield
                # (an async generator's context is its consumer's)
                with placement.placed() as named:
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        break
                    finally:
                        servers += named
                yield item
        except GeneratorExit:
            raise  # the caller left early (break, aclose()): the stream ended, nothing failed
        except BaseException as exc:
            error = exc
            raise
        finally:
            await close_stream(items)
            self._emit(operation, stmt, start, error, servers)

    def stream(self, stmt: Select) -> AsyncIterator[Any]:
        return self._stream("stream", stmt, self.inner.stream(stmt))

    def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        # the same statement as a stream, handed over a batch at a time: one "stream" event
        return self._stream("stream", stmt, self.inner.stream_batches(stmt, size))

    async def count(self, stmt: Select) -> int:
        return await self._run("count", stmt, self.inner.count)  # type: ignore[no-any-return]

    async def update(self, stmt: Update) -> int:
        return await self._run("update", stmt, self.inner.update)  # type: ignore[no-any-return]

    async def delete(self, stmt: Delete) -> int:
        return await self._run("delete", stmt, self.inner.delete)  # type: ignore[no-any-return]

    async def save(self, stmt: Save) -> int:
        return await self._run("save", stmt, self.inner.save)  # type: ignore[no-any-return]

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        return await self._run("aggregate", stmt, self.inner.aggregate)  # type: ignore[no-any-return]

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        return await self._run("values", stmt, self.inner.values)  # type: ignore[no-any-return]

    def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        return self._stream("stream_values", stmt, self.inner.stream_values(stmt))

    async def upsert(self, stmt: Upsert) -> None:
        await self._run("upsert", stmt, self.inner.upsert)

    async def raw(self, stmt: Raw) -> list[Any]:
        return await self._run("raw", stmt, self.inner.raw)  # type: ignore[no-any-return]
