"""Data and helpers shared by the conformance tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ommi import DBFailure, DBResult, ModelCollection, Ommi, Schema, errors
from ommi.testing.models import (
    Person,
)

PEOPLE = [
    ("Alice", 31, "alice@example.com", "Paris"),
    ("Bob", 17, None, "Berlin"),
    ("carol", 45, "carol@example.com", None),
    ("Dave", 31, None, "Paris"),
    ("Émile", 60, "emile@example.com", "Zürich"),
    ("a_b%c", 5, None, None),
]


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
