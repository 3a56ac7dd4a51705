"""Factories build valid instances of every field type."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

import pytest

from ommi import AwareDatetime, Key, ModelCollection, Ommi, errors, ommi_model
from ommi.testing import Factory, sequence
from ommi.testing.models import Book, Color, Level, Person

every = ModelCollection("factories")


@ommi_model(collection=every)
@dataclass
class Everything:
    s: str
    i: int
    f: float
    b: bool
    by: bytes
    dec: Decimal
    dt: datetime
    adt: AwareDatetime
    d: date
    t: time
    u: uuid.UUID
    color: Color
    level: Level
    js: dict[str, Any]
    lst: list[Any]
    maybe: str | None = None
    id: Annotated[int | None, Key] = None


async def test_generated_values_are_valid_for_every_type_and_distinct() -> None:
    things = Factory(Everything)
    a, b = things.build_batch(2)
    assert a.s != b.s and a.i != b.i and a.u != b.u and a.dt != b.dt and a.by != b.by
    assert a.adt.utcoffset() is not None and a.dt.tzinfo is None
    assert a.maybe is None and a.id is None
    async with Ommi.connect("sqlite://") as db:
        await db.schema(every).create_models().or_raise()
        stored = await things.create_batch(db, 5)
        assert all(s.id is not None for s in stored)
        for s in stored:
            assert await db.get(Everything, s.id).or_raise() == s


def test_defaults_sequences_and_overrides() -> None:
    people = Factory(Person, age=30, email=sequence(lambda n: f"p{n}@example.com"), name=lambda: "fixed")
    first, second = people.build(), people.build(age=7)
    assert (first.name, first.age, first.email) == ("fixed", 30, "p1@example.com")
    assert (second.age, second.email) == (7, "p2@example.com")
    assert first.id is None


def test_references_must_be_given_and_unknown_fields_are_refused() -> None:
    with pytest.raises(errors.ModelError, match="author_id"):
        Factory(Book).build()
    assert Factory(Book, author_id=3).build().author_id == 3
    with pytest.raises(errors.ModelError, match="shoe"):
        Factory(Person, shoe=1)
    with pytest.raises(errors.ModelError, match="shoe"):
        Factory(Person).build(shoe=1)
