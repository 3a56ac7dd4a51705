"""Conformance tests: update, save, delete."""

from __future__ import annotations

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import (
    Person,
)
from ommi.testing.suite._helpers import PEOPLE, people


async def test_update_returns_rows_changed(suite_db: Ommi) -> None:
    await people(suite_db)
    changed = await suite_db.find(Person.age < 18).update(age=18).or_raise()
    assert changed == 2
    assert await suite_db.find(Person.age < 18).count().or_raise() == 0
    assert await suite_db.find(Person.age == 18).count().or_raise() == 2
    assert await suite_db.find(Person.name == "Nobody").update(age=1).or_raise() == 0


async def test_update_to_null_and_several_fields(suite_db: Ommi) -> None:
    await people(suite_db)
    await suite_db.find(Person.name == "Alice").update(city=None, age=32).or_raise()
    alice = await suite_db.find(Person.name == "Alice").one().or_raise()
    assert (alice.city, alice.age) == (None, 32)


async def test_update_unknown_field_or_bad_value_fails_clearly(suite_db: Ommi) -> None:
    await people(suite_db)
    unknown = await suite_db.find(Person).update(shoe_size=42)
    assert isinstance(unknown, DBFailure) and isinstance(unknown.error, errors.QueryError)
    assert "shoe_size" in str(unknown.error)
    bad = await suite_db.find(Person).update(age="old")
    assert isinstance(bad, DBFailure) and isinstance(bad.error, errors.ValidationError)
    assert await suite_db.find(Person.age == 31).count().or_raise() == 2


async def test_update_violating_unique_is_integrity_error(suite_db: Ommi) -> None:
    await people(suite_db)
    result = await suite_db.find(Person.name == "Bob").update(email="alice@example.com")
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError)


async def test_delete_query_returns_count(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await suite_db.find(Person.city == "Paris").delete().or_raise() == 2
    assert await suite_db.find(Person).count().or_raise() == len(PEOPLE) - 2


async def test_save_writes_changes_back(suite_db: Ommi) -> None:
    alice, bob = await suite_db.add(Person("Alice", 31), Person("Bob", 17)).or_raise()
    alice.age = 32
    bob.city = "Rome"
    await suite_db.save(alice, bob).or_raise()
    assert (await suite_db.get(Person, alice.id).or_raise()).age == 32
    assert (await suite_db.get(Person, bob.id).or_raise()).city == "Rome"


async def test_save_of_missing_row_is_not_found_and_saves_nothing(suite_db: Ommi) -> None:
    [alice] = await suite_db.add(Person("Alice", 31)).or_raise()
    alice.age = 99
    ghost = Person("Ghost", 1, id=555555)
    result = await suite_db.save(alice, ghost)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.NotFound)
    assert (await suite_db.get(Person, alice.id).or_raise()).age == 31


async def test_delete_instances_by_key(suite_db: Ommi) -> None:
    models = await people(suite_db)
    assert await suite_db.delete(models[0], models[1]).or_raise() == 2
    assert await suite_db.find(Person).count().or_raise() == len(PEOPLE) - 2
    assert await suite_db.delete(models[0]).or_raise() == 0


async def test_update_and_delete_refuse_paging(suite_db: Ommi) -> None:
    await people(suite_db)
    result = await suite_db.find(Person).limit(1).delete()
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.QueryError)
    assert await suite_db.find(Person).count().or_raise() == len(PEOPLE)
