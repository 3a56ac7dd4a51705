"""Conformance tests: adding and keys."""

from __future__ import annotations

import asyncio

import pytest

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import (
    Author,
    Person,
    Ticket,
)
from ommi.testing.suite._helpers import fresh_tables, names


async def test_add_writes_generated_keys_back(suite_db: Ommi) -> None:
    alice, bob = await suite_db.add(Person("Alice", 31), Person("Bob", 17)).or_raise()
    assert isinstance(alice.id, int) and isinstance(bob.id, int)
    assert alice.id != bob.id
    loaded = await suite_db.get(Person, alice.id).or_raise()
    assert loaded == alice


async def test_add_returns_the_same_instances_in_order(suite_db: Ommi) -> None:
    models = [Person(f"p{i}", i) for i in range(25)]
    result = await suite_db.add(*models).or_raise()
    assert result == models
    assert all(a is b for a, b in zip(result, models, strict=True))
    assert len({m.id for m in models}) == 25


async def test_user_supplied_key_is_kept_and_later_keys_do_not_collide(suite_db: Ommi) -> None:
    [fixed] = await suite_db.add(Person("Fixed", 1, id=1000)).or_raise()
    assert fixed.id == 1000
    more = await suite_db.add(Person("A", 1), Person("B", 2)).or_raise()
    assert 1000 not in {m.id for m in more}
    assert await suite_db.find(Person).count().or_raise() == 3


async def test_generated_keys_skip_explicit_keys_written_just_ahead_of_them(suite_db: Ommi) -> None:
    # a driver may reserve keys ahead of the adds that use them (a sequence cache, a key block):
    # explicit keys written where the next generated keys would be must not collide with them
    first = [(await suite_db.add(Person(f"a{i}", i)).or_raise())[0].id for i in range(4)]
    top = max(k for k in first if k is not None)
    await suite_db.add(*(Person(f"x{k}", 1, id=k) for k in range(top + 1, top + 4))).or_raise()
    later = [(await suite_db.add(Person(f"b{i}", i)).or_raise())[0].id for i in range(4)]
    later += [p.id for p in await suite_db.add(Person("c1", 1), Person("c2", 2)).or_raise()]
    assert all(k is not None and k > top + 3 for k in later), (top, later)
    assert len(set(later)) == 6
    assert await suite_db.find(Person).count().or_raise() == 4 + 3 + 6


async def test_add_of_nothing_is_an_empty_list(suite_db: Ommi) -> None:
    assert await suite_db.add().or_raise() == []


async def test_duplicate_key_is_integrity_error(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, id=7)).or_raise()
    result = await suite_db.add(Person("B", 2, id=7))
    assert isinstance(result, DBFailure)
    assert isinstance(result.error, errors.IntegrityError)
    assert result.error.__cause__ is not None


async def test_unique_violation_is_integrity_error_and_add_is_atomic(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, email="x@example.com")).or_raise()
    batch = [Person("B", 2), Person("C", 3, email="x@example.com"), Person("D", 4)]
    result = await suite_db.add(*batch)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError)
    assert await names(suite_db) == ["A"]
    assert all(m.id is None for m in batch), "keys must not be written back for a failed add"


async def test_unique_allows_several_nulls(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1), Person("B", 2), Person("C", 3)).or_raise()
    assert await suite_db.find(Person.email == None).count().or_raise() == 3  # noqa: E711


async def test_add_of_several_model_types_is_atomic(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, id=1)).or_raise()
    result = await suite_db.add(Author("Ann"), Person("dup", 2, id=1))
    assert isinstance(result, DBFailure)
    assert await suite_db.find(Author).count().or_raise() == 0


async def test_invalid_value_is_validation_error_and_stores_nothing(suite_db: Ommi) -> None:
    result = await suite_db.add(Person("A", 1), Person("B", "old"))  # type: ignore[arg-type]  # on purpose
    assert isinstance(result, DBFailure)
    assert isinstance(result.error, errors.ValidationError)
    assert "Person.age" in str(result.error)
    assert await suite_db.find(Person).count().or_raise() == 0


def _large_add_with_a_late_invalid_instance() -> list[Person]:
    # large enough for a driver's bulk path, which may start drawing the keys before it has
    # checked the last instance
    people = [Person(f"p{i:03d}", i % 90) for i in range(300)]
    people[250].age = "old"  # type: ignore[assignment]  # on purpose
    return people


async def test_a_large_add_with_a_late_invalid_instance_stores_nothing(suite_db: Ommi) -> None:
    people = _large_add_with_a_late_invalid_instance()
    result = await suite_db.add(*people)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    assert "Person.age" in str(result.error)
    assert all(p.id is None for p in people)
    assert await suite_db.find(Person).count().or_raise() == 0
    # and the database goes on: the same add, corrected, stores every row with a key of its own
    people[250].age = 25
    await suite_db.add(*people).or_raise()
    assert len({p.id for p in people}) == 300 and None not in {p.id for p in people}
    assert await suite_db.find(Person).count().or_raise() == 300


async def test_a_large_add_that_clashes_in_the_database_stores_nothing(suite_db: Ommi) -> None:
    """A bulk add refused by the database itself (a late row's unique value is taken), not by
    validation: large enough for a driver's bulk path (keys drawn ahead, one COPY), it is
    still all-or-nothing, writes no key back, and names the field."""
    await suite_db.add(Person("taken", 1, email="taken@example.com")).or_raise()
    people = [Person(f"p{i:03d}", i % 90) for i in range(300)]
    people[250].email = "taken@example.com"
    result = await suite_db.add(*people)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError), result
    assert (result.error.kind, result.error.fields) == ("unique", ("email",))
    assert all(p.id is None for p in people), "keys must not be written back for a failed add"
    assert await names(suite_db) == ["taken"]
    people[250].email = None
    await suite_db.add(*people).or_raise()
    assert len({p.id for p in people}) == 300 and None not in {p.id for p in people}
    assert await suite_db.find(Person).count().or_raise() == 301


@pytest.mark.requires("transactions")
async def test_a_large_add_refused_in_a_transaction_leaves_the_transaction_usable(suite_db: Ommi) -> None:
    people = _large_add_with_a_late_invalid_instance()
    async with suite_db.transaction() as tx:
        await tx.add(Person("before", 1)).or_raise()
        result = await tx.add(*people)
        assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
        assert all(p.id is None for p in people)
        people[250].age = 25
        await tx.add(*people).or_raise()
    assert await suite_db.find(Person).count().or_raise() == 301
    assert len({p.id for p in people}) == 300


async def test_none_in_required_field_is_validation_error(suite_db: Ommi) -> None:
    result = await suite_db.add(Person(None, 1))  # type: ignore[arg-type]  # on purpose
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)


async def test_int_out_of_64_bit_range_is_rejected(suite_db: Ommi) -> None:
    result = await suite_db.add(Person("big", 2**63))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)


async def test_the_same_instance_twice_in_one_add_is_refused(suite_db: Ommi) -> None:
    person = Person("Once", 1)
    result = await suite_db.add(person, person)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)
    assert "twice" in str(result.error)
    assert person.id is None
    assert await suite_db.find(Person).count().or_raise() == 0


async def test_explicit_keys_across_the_whole_64_bit_range(suite_db: Ommi) -> None:
    from dataclasses import dataclass
    from typing import Annotated

    from ommi import Key, ModelCollection, ommi_model

    # a table of its own: a generated-key sequence pushed to the top of the range stays there
    edges = ModelCollection("ommi-conformance-key-edges")

    @ommi_model(collection=edges, name="ommi_key_edges")
    @dataclass
    class Edge:
        label: str
        id: Annotated[int | None, Key] = None

    async with fresh_tables(suite_db, edges):
        await suite_db.add(Edge("low", -(2**63)), Edge("one", 1)).or_raise()
        await suite_db.add(Edge("high", 2**63 - 1)).or_raise()
        assert (await suite_db.get(Edge, 2**63 - 1).or_raise()).label == "high"
        assert (await suite_db.get(Edge, -(2**63)).or_raise()).label == "low"
        assert [e.label for e in await suite_db.find(Edge).order_by(Edge.id).all().or_raise()] == ["low", "one", "high"]


async def test_concurrent_first_adds_to_a_new_table_get_distinct_keys(suite_db: Ommi) -> None:
    # the first keys of a table are where a key counter or sequence gets created: racing
    # there must not fail an add or hand out a key twice (a MongoDB counter upsert did)
    from dataclasses import dataclass
    from typing import Annotated

    from ommi import Key, ModelCollection, ommi_model

    fresh = ModelCollection("ommi-conformance-fresh-keys")

    @ommi_model(collection=fresh, name="ommi_fresh_keys")
    @dataclass
    class Ticket:
        label: str
        id: Annotated[int | None, Key] = None

    schema = suite_db.schema(fresh)
    try:
        for round_ in range(3):
            await schema.delete_models().or_raise()
            await schema.create_models().or_raise()
            added = await asyncio.gather(*(suite_db.add(Ticket(f"t{round_}-{n}")).or_raise() for n in range(12)))
            keys = [t.id for [t] in added]
            assert None not in keys and len(set(keys)) == 12, keys
            stored = await suite_db.find(Ticket).order_by(Ticket.id).values(Ticket.id).all().or_raise()
            assert [k for (k,) in stored] == sorted(k for k in keys if k is not None)
    finally:
        await schema.delete_models().or_raise()


async def test_a_model_of_only_its_generated_key_is_stored(suite_db: Ommi) -> None:
    # nothing to write but the row itself: alone, a few, and many at once, each gets its key
    for count in (1, 3, 150):
        added = await suite_db.add(*(Ticket() for _ in range(count))).or_raise()
        assert all(t.id is not None for t in added)
        assert len({t.id for t in added}) == count
    stored = await suite_db.find(Ticket).order_by(Ticket.id).all().or_raise()
    assert len(stored) == 154
    assert len({t.id for t in stored}) == 154
    async with suite_db.transaction() as tx:
        await tx.add(Ticket()).or_raise()
        await tx.add(Ticket(), Ticket(), Ticket(), Ticket()).or_raise()
        (one,) = await tx.add(Ticket()).or_raise()
        assert (await tx.get(Ticket, one.id).or_raise()).id == one.id
    assert await suite_db.find(Ticket).count().or_raise() == 160
