"""Results: every database action yields ``DBSuccess(value)`` or ``DBFailure(error)``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, ParamSpec, TypeVar

from ommi import errors

__all__ = ["Action", "DBFailure", "DBResult", "DBSuccess", "as_ommi_error", "deferred"]

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


class Action(Generic[T]):
    """An awaitable database action.

    ``await action`` runs it and gives a :class:`DBResult`;
    ``await action.or_raise()`` gives the value or raises;
    ``await action.or_use(default)`` gives the value or ``default``.
    Awaiting an action again runs it again.
    """

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], Awaitable[T]]) -> None:
        self._run = run

    # The awaited type is the union, not the DBResult base, so that
    # ``case DBSuccess(value)`` binds ``value`` to ``T`` under type checkers.
    def __await__(self) -> Generator[Any, None, DBSuccess[T] | DBFailure[T]]:
        return self._result().__await__()

    async def _result(self) -> DBSuccess[T] | DBFailure[T]:
        try:
            return DBSuccess(await self._run())
        except Exception as exc:  # noqa: BLE001 - every failure becomes a DBFailure
            return DBFailure(as_ommi_error(exc))

    async def or_raise(self) -> T:
        """Run the action; return its value or raise its ``OmmiError``."""
        try:
            return await self._run()
        except errors.OmmiError:
            raise
        except Exception as exc:
            raise as_ommi_error(exc) from exc

    async def or_use(self, default: D) -> T | D:
        """Run the action; return its value, or ``default`` if it failed."""
        return (await self).or_use(default)

    @classmethod
    def failure(cls, error: errors.OmmiError) -> Action[Any]:
        """An action that fails with ``error`` when awaited (for mistakes found while building it)."""

        async def fail() -> Any:
            raise error

        return cls(fail)


def deferred(build: Callable[P, Action[T]]) -> Callable[P, Action[T]]:
    """Let a method that builds an :class:`Action` report build-time ``OmmiError`` as a failing action.

    Users handle every outcome of ``await db...`` the same way (``DBFailure``
    or ``or_raise()``), including a query that was malformed before it ran.
    """

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Action[T]:
        try:
            return build(*args, **kwargs)
        except errors.OmmiError as exc:
            return Action.failure(exc)

    return wrapper
