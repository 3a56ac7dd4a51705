"""Native exceptions into ommi errors: one table per driver, applied at its boundary."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, TypeVar

from ommi import errors

__all__ = [
    "ErrorRule", "NativeErrors", "missing_table_hint", "retry_again", "retry_conflicts", "retry_pause", "to_the_end",
]

T = TypeVar("T")

Target = type[errors.OmmiError] | Callable[[BaseException], "type[errors.OmmiError] | None"]
ErrorRule = tuple[type[BaseException] | tuple[type[BaseException], ...], Target]
"""``(native exception class(es), ommi error class or a function choosing one)``.

A function may look at the exception (an SQLSTATE, an error code, the text)
and return ``None`` to let the next rule decide.
"""


CONFLICT_ATTEMPTS = 8
"""A write that conflicted on its own (outside the caller's transactions) runs at least this often."""
CONFLICT_PATIENCE_S = 30.0
"""... and again after that while this many seconds have not passed since its first attempt."""


def retry_again(attempt: int, since: float) -> bool:
    """Whether a write that lost a conflict on its own may run again after its ``attempt``-th try.

    Such a write (a set-based ``update()`` or ``delete()`` that a database ran as
    a transaction of its own, and lost to a concurrent one: a deadlock victim, a
    write conflict) changed nothing, and the other writer got through, so running
    it again makes progress. It is retried as the databases retry their own
    single statements, for a while rather than a few times: a fixed count gave up
    under the contention of a few concurrent writers on a slow machine (eight
    tasks incrementing the same three documents on MongoDB). ``since`` is the
    ``time.monotonic()`` of the first attempt. Errors that are not conflicts (a
    server gone away) are never retried, so this cannot hide an outage.
    """
    return attempt < CONFLICT_ATTEMPTS or time.monotonic() - since < CONFLICT_PATIENCE_S


async def retry_conflicts(attempt: Callable[[], Awaitable[T]], conflict: Callable[[Exception], bool]) -> T:
    """``await attempt()``, run again after a short pause while it fails with a ``conflict``.

    The one loop for a write that conflicts on its own: :func:`retry_again`
    says how long it goes on, :func:`retry_pause` how long it waits between
    tries. Any other error is raised at once.
    """
    since = time.monotonic()
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except Exception as exc:
            if not conflict(exc) or not retry_again(tries, since):
                raise
        await retry_pause(tries)


async def retry_pause(attempt: int) -> None:
    """Wait before running a transaction again after its ``attempt``-th conflict.

    The wait doubles with each attempt (5 ms, 10 ms, 20 ms, ... up to 200 ms) and is
    jittered by half either way, so that tasks which collided spread apart instead
    of colliding again in step.
    """
    import random  # only a conflict needs it

    await asyncio.sleep(min(0.2, 0.005 * 2**attempt) * random.uniform(0.5, 1.5))  # noqa: S311


def missing_table_hint(model: type | None) -> str:
    """The hint appended to :class:`~ommi.errors.MissingTable`: how to create the model's table."""
    info = getattr(model, "__ommi__", None)
    if info is None:
        return "create it with `await db.schema(collection).create_models()`"
    collection = info.collection
    arg = "" if collection.name == "default" else collection.name
    return f"create it with `await db.schema({arg}).create_models()` ({info.cls.__name__} is in {collection!r})"


class NativeErrors:
    """Translate a backend's native exceptions into ommi errors, by table.

    Rules are tried in order; the first whose native class matches (and whose
    chooser, if it is a function, returns a class) wins. Messages keep the
    native text, prefixed with what ommi was doing, and never show a secret
    (the password) that the driver registered. ``retryable`` tells which native
    exceptions are conflicts worth running the transaction again for; it sets
    :attr:`ommi.errors.TransactionError.retryable`. ``integrity`` builds the
    structured :class:`ommi.errors.IntegrityError` (model, fields, kind) from a
    native error about a model, when the driver can tell.

    Use it as a context manager around native calls::

        with self.native_errors("cannot add Person", model=Person):
            cursor.execute(sql, params)

    or call :meth:`translate` where exceptions are handled already.
    """

    def __init__(
        self,
        backend: str,
        rules: Sequence[ErrorRule],
        *,
        message: Callable[[BaseException], str] | None = None,
        secrets: Iterable[str | None] = (),
        retryable: Callable[[BaseException], bool] | None = None,
        integrity: Callable[[BaseException, type | None], errors.IntegrityError | None] | None = None,
    ) -> None:
        self.backend = backend
        self.rules = tuple(rules)
        self._message = message or _text
        self._secrets = tuple(s for s in secrets if s)
        self._retryable = retryable
        self._integrity = integrity

    def with_secrets(self, *secrets: str | None) -> NativeErrors:
        """A copy that also removes these texts (a password, its URL-quoted form) from messages."""
        return NativeErrors(
            self.backend, self.rules, message=self._message, secrets=(*self._secrets, *secrets),
            retryable=self._retryable, integrity=self._integrity,
        )

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def kind(self, exc: BaseException) -> type[errors.OmmiError] | None:
        """The ommi error class ``exc`` maps to, or ``None`` if no rule matches."""
        if isinstance(exc, errors.OmmiError):
            return type(exc)
        for native, target in self.rules:
            if isinstance(exc, native):
                chosen = target if isinstance(target, type) else target(exc)
                if chosen is not None:
                    return chosen
        return None

    def translate(self, exc: BaseException, context: str = "", model: type | None = None) -> errors.OmmiError | None:
        """The ommi error for a native exception (``None`` if no rule matches); chain it with ``from exc``."""
        if isinstance(exc, errors.OmmiError):
            return None
        cls = self.kind(exc)
        if cls is None:
            return None
        text = self.scrub(self._message(exc) or type(exc).__name__)
        prefix = f"{self.backend}: {context}: " if context else f"{self.backend}: "
        if issubclass(cls, errors.IntegrityError) and self._integrity is not None:
            structured = self._integrity(exc, model)  # the model, fields and kind, in ommi's terms
            if structured is not None:
                return structured
        if issubclass(cls, errors.MissingTable):
            text += f" ({missing_table_hint(model)})"
        if issubclass(cls, errors.TransactionError):
            # a conflict with concurrent work: running the transaction again may succeed
            return cls(prefix + text, retryable=self._retryable is not None and self._retryable(exc))
        return cls(prefix + text)

    def __call__(self, context: str = "", model: type | None = None) -> _Translating:
        """Translate native exceptions raised inside the block (``raise mapped from native``).

        A cancellation of the task that the library swallowed during the block is
        raised at its end (see :func:`raise_swallowed_cancel`), instead of any error.
        """
        return _Translating(self, context, model)


class _Translating:
    """The context manager :meth:`NativeErrors.__call__` returns (a class: it wraps every MongoDB command)."""

    __slots__ = ("_before", "_context", "_errors", "_model", "_task")

    def __init__(self, native: NativeErrors, context: str, model: type | None) -> None:
        self._errors = native
        self._context = context
        self._model = model

    def __enter__(self) -> None:
        self._task, self._before = cancel_watch()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not isinstance(exc, Exception):
            return  # a cancellation, an exit: on its way as it is
        raise_swallowed_cancel(self._task, self._before)
        if exc is None or isinstance(exc, errors.OmmiError):
            return
        mapped = self._errors.translate(exc, self._context, self._model)
        if mapped is None:
            return
        raise mapped from exc


def cancel_watch() -> tuple[asyncio.Task[Any] | None, int]:
    """The running task (``None`` outside one) and its count of pending cancellations.

    Taken before a native call; :func:`raise_swallowed_cancel` after it.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread (a driver's worker thread)
        return None, 0
    return task, (task.cancelling() if task is not None else 0)


def cancelled_since(task: asyncio.Task[Any] | None, before: int) -> bool:
    """Whether the task was cancelled since :func:`cancel_watch` gave ``task, before``."""
    return task is not None and task.cancelling() > before


def raise_swallowed_cancel(task: asyncio.Task[Any] | None, before: int) -> None:
    """Raise ``CancelledError`` if the task was cancelled since :func:`cancel_watch` and nobody raised it.

    A database library may swallow a cancellation: ``asyncio.wait_for`` on Python
    3.11, with which asyncmy and PyMongo open connections, returns the result of an
    operation that completes in the same moment as the task is cancelled, and the
    ``CancelledError`` is lost. The task's count of pending cancellations still
    says so; raising it here, once the native call is done, keeps the task from
    going on as if it had not been cancelled.
    """
    if cancelled_since(task, before):
        raise asyncio.CancelledError


async def to_the_end(action: Awaitable[T]) -> T:
    """Await ``action`` to its end even if the task is cancelled meanwhile, then let the cancellation through.

    For work that must not stop half-way: a command the server runs anyway, whose
    reply must come before what the cancellation sets off (a transaction's abort),
    or closing a pool, which once started has forgotten the connections it still
    has to close. However many times the task is cancelled while it waits, the
    action ends first, and the task then gets one ``CancelledError`` (the action's
    own failure, if any, is dropped: the cancellation is what the caller asked for).
    """
    loop = asyncio.get_running_loop()
    if _EAGER and asyncio.iscoroutine(action) and loop.get_task_factory() is None:
        # Python 3.12+: the action runs at once, up to its first wait, with no loop turn to
        # start it (a loop with a task factory of its own makes its tasks its own way)
        task: asyncio.Future[T] = asyncio.Task(action, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    else:
        task = asyncio.ensure_future(action, loop=loop)
    if task.done():
        return task.result()
    result: T = await _Holdout(task)
    return result


_EAGER = sys.version_info >= (3, 12)


class _Holdout:
    """What a task awaits in :func:`to_the_end`: the action's task, behind a ``cancel`` that declines.

    A task that is cancelled while it waits asks what it waits on to cancel; this
    declines, so the task keeps waiting and raises ``CancelledError`` as soon as
    the action ends (asyncio's own rule for a wait that cannot be cancelled). The
    action's task wakes the waiting task directly when it ends, one loop turn
    sooner than ``asyncio.shield``, whose outer future takes a turn of its own.
    """

    __slots__ = ("_asyncio_future_blocking", "_task")

    def __init__(self, task: asyncio.Future[Any]) -> None:
        self._task = task
        self._asyncio_future_blocking = False

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._task.get_loop()

    def add_done_callback(self, wakeup: Callable[[Any], object], *, context: Any = None) -> None:
        self._task.add_done_callback(lambda _: wakeup(self), context=context)

    def cancel(self, msg: Any = None) -> bool:
        return False  # the task is told to raise when the action ends

    def done(self) -> bool:
        return self._task.done()

    def result(self) -> Any:
        return self._task.result()

    def __await__(self) -> Generator[Any, None, Any]:
        self._asyncio_future_blocking = True
        yield self  # the task's wake-up reads result(): a failure of a cancelled action counts as retrieved
        return self._task.result()


def _text(exc: BaseException) -> str:
    return str(exc)


def first_line(exc: Any) -> str:
    """A native message's first line (some libraries append guesses and long details)."""
    return str(exc).split("\n", 1)[0]
