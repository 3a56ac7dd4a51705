"""Which server a statement runs on, for the statement log and statement hooks.

A driver that spreads statements over several servers (the replica router,
:mod:`ommi.routing`) names the server of each statement with
:func:`running_on`. :func:`ommi.driver.log_statement` adds that name to the
lines of the ``ommi.statements`` logger, and the interface layer's statement
hooks read it from :func:`placed` into ``StatementEvent.server``.

The name travels in a context variable holding a list: a statement hook opens
one (:func:`placed`) around the driver call and reads the last name put in it
afterwards, so a read retried on another server reports where it finally ran.
Context variables are set and reset around single awaits only (never across a
``yield`` of an async generator, whose context is its consumer's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["current", "placed", "running_on"]

_where: ContextVar[list[str] | None] = ContextVar("ommi_placement", default=None)


@contextlib.contextmanager
def running_on(server: str) -> Iterator[None]:
    """Name the server the statements run inside this block go to."""
    names = _where.get()
    if names is not None:  # a hook is listening: tell it
        names.append(server)
        yield
        return
    token = _where.set([server])
    try:
        yield
    finally:
        _where.reset(token)


@contextlib.contextmanager
def placed() -> Iterator[list[str]]:
    """Collect the servers named inside this block; the last one is where the statement ran."""
    names: list[str] = []
    token = _where.set(names)
    try:
        yield names
    finally:
        _where.reset(token)


def current() -> str | None:
    """The server the statement being run goes to, if a driver named one."""
    names = _where.get()
    return names[-1] if names else None
