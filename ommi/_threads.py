"""The thread bridge: one thread per connection of a blocking database library.

For drivers whose native library blocks (sqlite3, duckdb, ...): every call
runs on the worker's own thread, in order, so the event loop never waits and
the connection is never used by two threads. A driver makes one call per
user-level operation because each trip between threads costs far more than a
small statement.

What a trip costs is mostly waking threads, so the answer comes back the
short way: where the platform has ``eventfd`` (Linux) and the loop watches
file descriptors, the worker queues the outcome and signals a descriptor of
its own that the loop watches, and the loop's reader resumes the awaiting task
at once (a :class:`_Call` calls the task back directly, where an
``asyncio.Future`` would schedule it for the next turn of the loop). Elsewhere
the outcome goes through ``call_soon_threadsafe``. The task is resumed in its
own context either way, as a future resumes it.

What cancellation means: a call whose awaiting task is cancelled before the
worker starts it is never run. A call already running is interrupted when
the driver gave an ``interrupt`` function (SQLite and DuckDB can stop a
running statement; the statement then fails and its work is undone); one
that already finished stays done, as with any database call cancelled after
the server did the work.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import os
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ommi import errors

try:  # the C queue that queue.SimpleQueue is, without the rest of the queue module (~0.2 ms of start-up)
    from _queue import SimpleQueue
except ImportError:  # pragma: no cover - an interpreter without it
    from queue import SimpleQueue

__all__ = ["ThreadWorker"]

C = TypeVar("C")
R = TypeVar("R")
P = ParamSpec("P")

_HAS_EVENTFD = hasattr(os, "eventfd")
_get_ident = threading.get_ident


def running_loop(hint: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop:
    """The event loop running in this thread (``RuntimeError`` outside one), cheaply when it is ``hint``.

    ``asyncio.get_running_loop()`` makes a system call (getpid) on Python 3.11,
    about 0.2 µs here, and the hot paths ask once per action and once per
    statement. An asyncio loop records the thread that runs it (``_thread_id``,
    what its own thread checks use); a loop that runs in this thread is the running
    loop, since a thread runs one loop at a time. Any other loop (one without that
    record, or not running here) is looked up the usual way.
    """
    if hint is not None and getattr(hint, "_thread_id", None) == _get_ident():
        return hint
    return asyncio.get_running_loop()


class _Call:
    """One call for the worker, and what the calling task awaits until it is done.

    It follows the protocol ``asyncio.Task`` expects of a future (``_asyncio_future_blocking``,
    ``add_done_callback``, ``result``, ``cancel``...). :meth:`resolve` runs the done callbacks
    (the task's wake-up) right away, on the loop's thread; a cancellation schedules them
    with ``call_soon``, as ``asyncio.Future`` does. (One object per call, not a call plus
    an ``asyncio.Future``: every statement pays for what is built here.)

    Awaiting the call hands its value over to the awaiting task: the call keeps no
    reference to it afterwards (``result()`` then raises ``InvalidStateError``). The task
    runs on from inside :meth:`resolve`, often up to its next statement; a value the
    call still held would live on until then, and the rows of a large read would be
    freed in the way of that next statement, while its worker waits for the GIL.
    """

    __slots__ = (
        "_asyncio_future_blocking", "_callbacks", "_cancelled", "_done", "_error", "_loop", "_outcome",
        "_result", "_taken", "args", "context", "fn", "kwargs", "wake", "worker",
    )

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop, wake: _Wake | None, *, worker: ThreadWorker[Any],
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.wake = wake
        self.worker = worker
        # the caller's context variables, as asyncio.to_thread passes them (the
        # server a statement runs on, named for the statement log, is one)
        self.context = contextvars.copy_context()
        self._loop = loop
        self._done = self._cancelled = self._asyncio_future_blocking = self._taken = False
        self._result: Any = None
        self._error: BaseException | None = None
        # (result, error), set by the worker's thread for resolve() on the loop's thread
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._callbacks: list[tuple[Callable[[Any], object], contextvars.Context | None]] = []

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        if not self._done:
            raise asyncio.InvalidStateError("the call has not finished")
        if self._taken:
            raise asyncio.InvalidStateError("the call's value was handed to the task that awaited it")
        return self._result

    def exception(self) -> BaseException | None:
        if self._cancelled:
            assert self._error is not None
            raise self._error
        if not self._done:
            raise asyncio.InvalidStateError("the call has not finished")
        return self._error

    def add_done_callback(self, fn: Callable[[Any], object], *, context: contextvars.Context | None = None) -> None:
        if self._done:
            self._loop.call_soon(fn, self, context=context)
        else:
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        kept = [(f, c) for f, c in self._callbacks if f != fn]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the call (the awaiting task was cancelled): a queued call never runs, a running one
        is interrupted where the worker can interrupt."""
        if self._done:
            return False
        self._done = self._cancelled = True
        self._error = asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg)
        self.worker._stop_running(self)
        callbacks, self._callbacks = self._callbacks, []
        for fn, context in callbacks:
            self._loop.call_soon(fn, self, context=context)
        return True

    def resolve(self) -> None:
        """Take the outcome the worker posted and resume the waiting task now (on the loop's thread).

        (No local variable holds the value while the task runs on: see the class docstring.)
        """
        if self._done:  # the awaiting task was cancelled
            self._outcome = None
            return
        self._done = True
        self._result, self._error = self._outcome  # type: ignore[misc]
        self._outcome = None
        callbacks, self._callbacks = self._callbacks, []
        for fn, context in callbacks:
            try:
                if context is None:
                    fn(self)
                else:
                    context.run(fn, self)
            except BaseException as exc:  # noqa: BLE001 - one callback's failure must not strand the others
                self._loop.call_exception_handler(
                    {"message": "exception in a callback of an ommi thread call", "exception": exc}
                )

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        if self._error is not None or not self._done or self._taken:
            return self.result()  # raises
        result, self._result, self._taken = self._result, None, True  # handed over (see the class docstring)
        return result

    __iter__ = __await__


class _Wake:
    """An ``eventfd`` one event loop watches: the worker queues outcomes and signals it."""

    __slots__ = ("__weakref__", "fd", "loop", "outcomes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.outcomes: collections.deque[_Call] = collections.deque()
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            loop.add_reader(self.fd, self.drain)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise

    def post(self, call: _Call) -> None:
        """Hand a call whose outcome is set to the loop (on the worker's thread)."""
        self.outcomes.append(call)
        try:  # noqa: SIM105 - not contextlib.suppress: its three calls cost every statement (here and in drain)
            os.eventfd_write(self.fd, 1)
        except OSError:  # closed with its loop: nobody is left to receive it
            pass

    def drain(self) -> None:
        """Resume the tasks whose calls finished (on the loop's thread)."""
        try:  # noqa: SIM105 - (see post)
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass
        # only what is there now: a task resumed here may queue and finish another
        # call at once, and the loop must get its turn in between
        outcomes = self.outcomes
        for _ in range(len(outcomes)):
            outcomes.popleft().resolve()

    def close(self) -> None:
        """Stop watching and close the descriptor (once no worker can signal it any more).

        The loop's own thread must stop watching before the descriptor closes
        (its number could otherwise be reused under the loop): called from
        another running loop, the closing is handed to the owner.
        """
        loop = self.loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or loop.is_closed() or not loop.is_running():
            self._close_now()
        else:
            with contextlib.suppress(RuntimeError):  # closed meanwhile: __del__ closes it
                loop.call_soon_threadsafe(self._close_now)

    def _close_now(self) -> None:
        fd, self.fd = self.fd, -1
        if fd < 0:
            return
        if not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(fd)
        os.close(fd)

    def __del__(self) -> None:
        # the last reference (a call in flight, the worker) is gone: nothing signals it any more
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _resolve_stopped(stopped: asyncio.Future[None]) -> None:
    if not stopped.done():
        stopped.set_result(None)


def _deliverable(exc: BaseException) -> BaseException:
    """An exception a coroutine can be resumed with (``StopIteration`` cannot be raised into one)."""
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
        self._queue: SimpleQueue[_Call | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._ended = False
        self._lock = threading.Lock()
        self._current: _Call | None = None
        self._conn: C | None = None
        # the loop the answers come back to through ``_wake`` (None: not tried yet)
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._wake: _Wake | None = None
        # what :meth:`stop` awaits: resolved by the thread as its last act
        self._stopped: asyncio.Future[None] | None = None
        self.closed = False

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._ended = True
            stopped = self._stopped  # read after _ended is set: stop() sets it before reading _ended
            if stopped is not None:
                # through the loop's own channel, not the eventfd: stop() closes that once this arrives
                with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits any more
                    stopped.get_loop().call_soon_threadsafe(_resolve_stopped, stopped)

    def _serve(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                break
            if call._done:
                continue  # cancelled: nobody waits for it, never run it
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
            # the outcome travels on the call only: this thread keeps nothing of it (the
            # rows, or an error with the frames of its traceback), so what the task drops
            # is freed then and there, not kept until this worker's next call and freed
            # by this thread in the way of that call (nor kept for good by an idle worker)
            call._outcome = (result, error)
            result = error = None
            if call.wake is not None:
                call.wake.post(call)
            else:
                # a closed event loop refuses the outcome: nobody is left to receive it
                with contextlib.suppress(RuntimeError):
                    call._loop.call_soon_threadsafe(call.resolve)
            call = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the thread is ending; a failed close loses nothing
                self._close(conn)

    @property
    def alive(self) -> bool:
        """Whether the worker can still take calls."""
        return not self.closed and not self._ended

    def _wake_for(self, loop: asyncio.AbstractEventLoop) -> _Wake | None:
        """The descriptor answers for ``loop`` come back through (``None``: ``call_soon_threadsafe``)."""
        if loop is self._wake_loop:
            return self._wake
        bound = self._wake_loop
        if bound is not None and not bound.is_closed():
            return None  # bound to another running loop: answers for this one take the other way
        # the first loop, or the one before it has closed (its descriptor is closed with
        # the last call that could still signal it)
        self._wake_loop, self._wake = loop, None
        if _HAS_EVENTFD:
            with contextlib.suppress(NotImplementedError, OSError, RuntimeError):
                self._wake = _Wake(loop)
        return self._wake

    def submit(self, fn: Callable[Concatenate[C, P], R], *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        """Queue ``fn(connection, *args, **kwargs)`` for the worker's thread; await the result to get its value.

        :meth:`call` without its coroutine (the SQL base's path for every statement): what
        ``fn`` raises comes back as it is, untranslated. Cancelling the awaiting task
        cancels the call (see :meth:`call`). Await it once: awaiting hands the value
        over, and neither the call nor the worker keeps it afterwards.

        Raises:
            ConnectionFailed: the worker has stopped (closed, or its thread ended).
        """
        if self.closed:
            raise errors.ConnectionFailed(self._closed_message)
        if not self._started:
            self._started = True
            self._thread.start()
        elif self._ended:
            self.closed = True
            raise errors.ConnectionFailed(f"{self._closed_message} (its worker thread has ended)")
        loop = self._wake_loop  # the running loop if it runs in this thread (see running_loop)
        if loop is None or getattr(loop, "_thread_id", None) != _get_ident():
            loop = asyncio.get_running_loop()
        wake = self._wake if loop is self._wake_loop else self._wake_for(loop)
        call = _Call(fn, args, kwargs, loop, wake, worker=self)
        self._queue.put(call)
        return call

    async def call(self, fn: Callable[Concatenate[C, P], R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(connection, *args, **kwargs)`` on the worker's thread and return its result.

        Raises:
            ConnectionFailed: the worker has stopped (closed, or its thread ended).
        """
        # a cancellation of the awaiting task cancels the call itself (_Call.cancel): if it is
        # still queued the worker skips it, if it is running it is interrupted
        call = self.submit(fn, *args, **kwargs)
        try:
            return await call
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

    def _close_wake(self) -> None:
        # the thread has ended: nothing signals the descriptor any more
        wake, self._wake, self._wake_loop = self._wake, None, None
        if wake is not None:
            wake.close()

    async def stop(self) -> None:
        """Finish the queued calls, close the connection and end the thread."""
        if self.closed and (not self._started or self._ended):
            self._close_wake()
            return
        self.closed = True
        if not self._started:
            return
        # The thread tells the loop when it is done instead of being joined from an
        # executor thread (which costs the import of concurrent.futures and a thread
        # of its own, at every close).
        loop = asyncio.get_running_loop()
        stopped = self._stopped
        if stopped is None:
            self._stopped = stopped = loop.create_future()
            self._queue.put(None)
        if self._ended:
            pass
        elif stopped.get_loop() is loop:
            await asyncio.shield(stopped)  # shared by concurrent stops: one cancelled must not cancel it
        else:  # stopped concurrently from another loop
            await loop.run_in_executor(None, self._thread.join)
        self._close_wake()

    def stop_now(self, timeout: float) -> None:
        """Stop from outside any event loop (at interpreter exit), waiting at most ``timeout`` seconds."""
        self.closed = True
        if self._started and not self._ended:
            self._queue.put(None)
            self._thread.join(timeout)
        if not self._started or self._ended:
            self._close_wake()
