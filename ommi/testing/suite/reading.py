"""Conformance tests: reading."""

from __future__ import annotations

import pytest

from ommi import DBFailure, DBSuccess, Ommi, errors
from ommi.testing.models import (
    Person,
)
from ommi.testing.suite._helpers import PEOPLE, names, people


async def test_find_all_and_count(suite_db: Ommi) -> None:
    await people(suite_db)
    assert len(await suite_db.find(Person).all().or_raise()) == len(PEOPLE)
    assert await suite_db.find(Person).count().or_raise() == len(PEOPLE)
    assert await suite_db.find(Person.age >= 18).count().or_raise() == 4


async def test_one_first_exists(suite_db: Ommi) -> None:
    await people(suite_db)
    match await suite_db.find(Person.name == "Bob").one():
        case DBSuccess(bob):
            assert bob.age == 17
        case DBFailure(error):
            pytest.fail(f"one() failed: {error}")
    none = await suite_db.find(Person.name == "Nobody").one()
    assert isinstance(none, DBFailure) and isinstance(none.error, errors.NotFound)
    many = await suite_db.find(Person.age == 31).one()
    assert isinstance(many, DBFailure) and isinstance(many.error, errors.MultipleFound)
    assert await suite_db.find(Person.name == "Nobody").first().or_raise() is None
    first = await suite_db.find(Person.age == 31).order_by(Person.name).first().or_raise()
    assert first is not None and first.name == "Alice"
    assert await suite_db.find(Person.name == "Bob").exists().or_raise() is True
    assert await suite_db.find(Person.name == "Nobody").exists().or_raise() is False


async def test_get_by_key_and_not_found(suite_db: Ommi) -> None:
    [alice] = await suite_db.add(Person("Alice", 31)).or_raise()
    assert (await suite_db.get(Person, alice.id).or_raise()).name == "Alice"
    missing = await suite_db.get(Person, 987654)
    assert isinstance(missing, DBFailure) and isinstance(missing.error, errors.NotFound)


async def test_or_use_and_or_raise(suite_db: Ommi) -> None:
    assert await suite_db.get(Person, 424242).or_use("fallback") == "fallback"
    with pytest.raises(errors.NotFound):
        await suite_db.get(Person, 424242).or_raise()
    result = await suite_db.get(Person, 424242)
    assert result.or_use(None) is None
    with pytest.raises(errors.NotFound):
        result.or_raise()


async def test_find_with_several_predicates_ands_them(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.age > 18, Person.city == "Paris") == ["Alice", "Dave"]
