"""The thread bridge: one thread per connection of a blocking database library.

For drivers whose native library blocks (sqlite3, duckdb, ...): every call
runs on the worker's own thread, in order, so the event loop never waits and
the connection is never used by two threads. A driver makes one call per
user-level operation because each trip between threads costs far more than a
small statement.

What cancellation means: a call whose awaiting task is cancelled before the
worker starts it is never run. A call already running is interrupted when
the driver gave an ``interrupt`` function (SQLite and DuckDB can stop a
running statement; the statement then fails and its work is undone); one
that already finished stays done, as with any database call cancelled after
the server did the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ommi import errors

__all__ = ["ThreadWorker"]

C = TypeVar("C")
R = TypeVar("R")
P = ParamSpec("P")


class _Call:
    __slots__ = ("args", "cancelled", "context", "fn", "future", "kwargs", "loop")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
        future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.loop = loop
        self.cancelled = False
        # the caller's context variables, as asyncio.to_thread passes them (the
        # server a statement runs on, named for the statement log, is one)
        self.context = contextvars.copy_context()


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the awaiting task was cancelled
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def _deliverable(exc: BaseException) -> BaseException:
    """An exception a future can carry (``StopIteration`` cannot be set on a future)."""
    if isinstance(exc, StopIteration | StopAsyncIteration):
        wrapped = RuntimeError(f"a database call raised {type(exc).__name__}")
        wrapped.__cause__ = exc
        return wrapped
    return exc


class ThreadWorker(Generic[C]):
    """One thread that owns one connection of a synchronous database API.

    Args:
        connect: opens the connection, on the worker's thread, at the first call.
        close: closes it, on the worker's thread, when the worker stops.
        translate: maps an exception raised by a call to the ``OmmiError`` to
            raise instead (chained), or ``None`` to let it through.
        name: the thread's name.
        closed_message: the ``ConnectionFailed`` message for calls after :meth:`stop`.
        interrupt: stops the statement running on the connection, called from
            another thread when the awaiting task is cancelled (optional).
    """

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        close: Callable[[C], None],
        translate: Callable[[BaseException], errors.OmmiError | None],
        name: str,
        closed_message: str,
        interrupt: Callable[[C], None] | None = None,
    ) -> None:
        self._connect = connect
        self._close = close
        self._translate = translate
        self._interrupt = interrupt
        self._closed_message = closed_message
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._lock = threading.Lock()
        self._current: _Call | None = None
        self._conn: C | None = None
        self.closed = False

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                break
            if call.cancelled:
                continue  # nobody waits for it: never run it
            with self._lock:
                self._current = call
            result: Any = None
            error: BaseException | None = None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                result = call.context.run(call.fn, self._conn, *call.args, **call.kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                error = _deliverable(exc)
            with self._lock:
                self._current = None
            # a closed event loop refuses the outcome: nobody is left to receive it
            with contextlib.suppress(RuntimeError):
                call.loop.call_soon_threadsafe(_settle, call.future, result, error)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the thread is ending; a failed close loses nothing
                self._close(conn)

    @property
    def alive(self) -> bool:
        """Whether the worker can still take calls."""
        return not self.closed and (self._thread.ident is None or self._thread.is_alive())

    async def call(self, fn: Callable[Concatenate[C, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(connection, *args, **kwargs)`` on the worker's thread and return its result.

        Raises:
            ConnectionFailed: the worker has stopped (closed, or its thread ended).
        """
        if self.closed:
            raise errors.ConnectionFailed(self._closed_message)
        if self._thread.ident is None:
            self._thread.start()
        elif not self._thread.is_alive():
            self.closed = True
            raise errors.ConnectionFailed(f"{self._closed_message} (its worker thread has ended)")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        call = _Call(fn, args, kwargs, fut, loop)
        self._queue.put(call)
        try:
            return await fut
        except asyncio.CancelledError:
            call.cancelled = True
            self._stop_running(call)
            raise
        except errors.OmmiError:
            raise
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _stop_running(self, call: _Call) -> None:
        if self._interrupt is None:
            return
        # under the lock the worker cannot move on to another call, so the
        # interrupt reaches this call's statement or none at all
        with self._lock:
            if self._current is call and self._conn is not None:
                self._interrupt(self._conn)

    async def stop(self) -> None:
        """Finish the queued calls, close the connection and end the thread."""
        if self.closed and not self._thread.is_alive():
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
