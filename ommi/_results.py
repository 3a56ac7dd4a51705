"""Results: every database action yields ``DBSuccess(value)`` or ``DBFailure(error)``."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Generic, NoReturn, ParamSpec, TypeVar

from ommi import errors

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = ["Action", "DBFailure", "DBResult", "DBSuccess", "Label", "as_ommi_error", "deferred", "describe"]

T = TypeVar("T")
D = TypeVar("D")
P = ParamSpec("P")


class DBResult(Generic[T]):
    """The outcome of an action: a :class:`DBSuccess` or a :class:`DBFailure`.

    Match on it (``case DBSuccess(value)`` / ``case DBFailure(error)``), or use
    :meth:`or_raise` and :meth:`or_use`.
    """

    __slots__ = ()

    def or_raise(self) -> T:
        """The value, or raise the error."""
        raise NotImplementedError

    def or_use(self, default: D) -> T | D:
        """The value, or ``default`` on failure."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class DBSuccess(DBResult[T]):
    """A successful action and its value."""

    value: T

    def or_raise(self) -> T:
        return self.value

    def or_use(self, default: D) -> T | D:
        return self.value


@dataclass(frozen=True, slots=True)
class DBFailure(DBResult[T]):
    """A failed action and its :class:`ommi.errors.OmmiError`."""

    error: errors.OmmiError

    def or_raise(self) -> NoReturn:
        raise self.error

    def or_use(self, default: D) -> T | D:
        return default


def as_ommi_error(exc: Exception) -> errors.OmmiError:
    """Keep ommi errors; wrap anything else so users only ever see ``OmmiError``."""
    if isinstance(exc, errors.OmmiError):
        return exc
    wrapped = errors.OmmiError(f"unexpected {type(exc).__name__}: {exc}")
    wrapped.__cause__ = exc
    return wrapped


Label = tuple[object, ...]
"""The parts of an action's description (``("db", ".add(", User, ")")``), joined only
when it is shown; classes show by name."""


def describe(label: Label) -> str:
    """The text of an action label: ``db.add(User)``."""
    return "".join(p.__name__ if isinstance(p, type) else str(p) for p in label)


class Action(Generic[T]):
    """An awaitable database action.

    ``await action`` runs it and gives a :class:`DBResult`;
    ``await action.or_raise()`` gives the value or raises;
    ``await action.or_use(default)`` gives the value or ``default``.
    Awaiting an action again runs it again.

    An action that is garbage-collected without ever being awaited did not
    run; like a never-awaited coroutine, it emits a ``RuntimeWarning`` naming
    the call (``db.add(User) was never awaited``). Run Python with
    ``-X tracemalloc`` to see where it was created.
    """

    # __del__ is the only way to notice an action that is dropped unawaited.
    # It costs one attribute test per action; the label is kept as parts and
    # formatted only when the warning is shown, and no traceback is captured.
    __slots__ = ("_label", "_pending", "_run")

    def __init__(self, run: Callable[[], Awaitable[T]], label: Label = ("an ommi action",)) -> None:
        self._run = run
        self._label = label
        self._pending = True

    def __repr__(self) -> str:
        return f"<Action {describe(self._label)}>"

    def __del__(self) -> None:
        if self._pending:
            warnings.warn(
                f"{describe(self._label)} was never awaited, so it did not run "
                "(await it, or await its .or_raise())",
                RuntimeWarning,
                stacklevel=2,
                source=self,
            )

    # The awaited type is the union, not the DBResult base, so that
    # ``case DBSuccess(value)`` binds ``value`` to ``T`` under type checkers.
    def __await__(self) -> Generator[Any, None, DBSuccess[T] | DBFailure[T]]:
        self._pending = False
        return self._result().__await__()

    def _start(self) -> Awaitable[T]:
        """Start the work (a subclass may skip a step here, see ``Scope.action``)."""
        return self._run()

    async def _result(self) -> DBSuccess[T] | DBFailure[T]:
        try:
            return DBSuccess(await self._start())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a DBFailure
            return DBFailure(as_ommi_error(exc))

    def or_raise(self) -> Coroutine[Any, Any, T]:
        """Run the action; return its value or raise its ``OmmiError`` (await the call)."""
        self._pending = False
        return self._value()

    async def _value(self) -> T:
        try:
            return await self._start()
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise as_ommi_error(exc) from exc

    def or_use(self, default: D) -> Coroutine[Any, Any, T | D]:
        """Run the action; return its value, or ``default`` if it failed (await the call)."""
        self._pending = False
        return self._value_or(default)

    async def _value_or(self, default: D) -> T | D:
        return (await self._result()).or_use(default)

    @classmethod
    def failure(cls, error: errors.OmmiError, label: Label = ("an ommi action",)) -> Action[Any]:
        """An action that fails with ``error`` when awaited (for mistakes found while building it)."""

        async def fail() -> Any:
            raise error

        return cls(fail, label)


def deferred(build: Callable[P, Action[T]]) -> Callable[P, Action[T]]:
    """Let a method that builds an :class:`Action` report build-time ``OmmiError`` as a failing action.

    Users handle every outcome of ``await db...`` the same way (``DBFailure``
    or ``or_raise()``), including a query that was malformed before it ran.
    The method's object may offer ``_label`` (the parts naming it, e.g.
    ``("db",)``) so the failing action can still name the call.
    """
    verb = f".{build.__name__}(...)"

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Action[T]:
        try:
            return build(*args, **kwargs)
        except errors.OmmiError as exc:
            owner: Label = getattr(args[0], "_label", ()) if args else ()
            return Action.failure(exc, (*owner, verb))

    return wrapper
