"""Command builders: what an operation yields to run one statement on its connection.

Each command is ``(adapter method, statement text for the log, arguments)``;
the driver base runs it and sends the result back into the operation. A
driver's fast paths yield :func:`call` commands naming methods of its own
adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ommi.sql._connection import Command

__all__ = [
    "call", "control", "execute", "executemany", "fetch_named", "fetchall", "fetchone", "finish", "insert_id", "start",
]


def execute(sql: str, params: Sequence[Any] = ()) -> Command:
    return ("execute", sql, (sql, params))


def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> Command:
    return ("executemany", sql, (sql, rows))


def fetchall(sql: str, params: Sequence[Any] = ()) -> Command:
    return ("fetchall", sql, (sql, params))


def fetchone(sql: str, params: Sequence[Any] = ()) -> Command:
    return ("fetchone", sql, (sql, params))


def fetch_named(sql: str, params: Sequence[Any] = ()) -> Command:
    return ("fetch_named", sql, (sql, params))


def insert_id(sql: str, params: Sequence[Any]) -> Command:
    return ("insert_id", sql, (sql, params))


def control(name: str, sql: str) -> Command:
    """A transaction command: ``begin``, ``commit``, ``rollback``, ``savepoint``, ``release``, ``rollback_to``."""
    return (name, sql, (sql,))


def call(name: str, text: str, *args: Any) -> Command:
    """A driver's own adapter method (a fast path); ``text`` is what the log shows for it."""
    return (name, text, args)


def start(command: Command) -> Command:
    """Send ``command`` without waiting for its result; the operation receives a handle for :func:`finish`.

    The operation may compute meanwhile (it must not yield another command
    first: one runs at a time, so that would wait for this one). A blocking
    connection runs the command at once.
    """
    name, text, args = command
    return ("start", text, (name, args))


def finish(handle: Any) -> Command:
    """The result of a command :func:`start` sent (raised if it failed)."""
    return ("finish", "", (handle,))
