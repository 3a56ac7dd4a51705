"""Data and helpers shared by the conformance tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from ommi import DBFailure, DBResult, ModelCollection, Ommi, Schema, errors
from ommi.testing.models import (
    Person,
)

T = TypeVar("T")

PEOPLE = [
    ("Alice", 31, "alice@example.com", "Paris"),
    ("Bob", 17, None, "Berlin"),
    ("carol", 45, "carol@example.com", None),
    ("Dave", 31, None, "Paris"),
    ("Émile", 60, "emile@example.com", "Zürich"),
    ("a_b%c", 5, None, None),
]


async def together(*work: Awaitable[T]) -> list[T]:
    """Run ``work`` concurrently and return the results in order, as ``asyncio.gather`` does.

    Unlike ``gather``, when one fails the others are cancelled and waited for
    before its error is raised: no write of a failed test goes on running into
    the next one (an open transaction left behind can block the next test's
    clean-up on a server that waits for it). One failure is raised as it is;
    several as an ``ExceptionGroup``.
    """

    async def run(one: Awaitable[T]) -> T:
        return await one

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(run(one)) for one in work]
    except BaseExceptionGroup as failed:
        if len(failed.exceptions) == 1:
            raise failed.exceptions[0] from None
        raise
    return [task.result() for task in tasks]


def error_of(result: DBResult[Any]) -> errors.OmmiError:
    """The error of a result that must have failed."""
    assert isinstance(result, DBFailure), result
    return result.error


async def people(db: Ommi) -> list[Person]:
    return await db.add(*(Person(n, a, e, c) for n, a, e, c in PEOPLE)).or_raise()


async def names(db: Ommi, *preds: Any) -> list[str]:
    found = await db.find(Person, *preds).all().or_raise()
    return sorted(p.name for p in found)


@contextlib.asynccontextmanager
async def fresh_tables(db: Ommi, collection: ModelCollection) -> AsyncIterator[Schema]:
    """The tables of a test's own collection, created empty and dropped afterwards."""
    schema = db.schema(collection)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    try:
        yield schema
    finally:
        await schema.delete_models().or_raise()
