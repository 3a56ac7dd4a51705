"""Conformance tests: ordering and paging."""

from __future__ import annotations

import pytest

from ommi import Ommi, errors
from ommi.testing.models import (
    Person,
)
from ommi.testing.suite._helpers import PEOPLE, people


async def test_order_by_with_nulls_first_ascending_last_descending(suite_db: Ommi) -> None:
    await people(suite_db)
    asc = await suite_db.find(Person).order_by(Person.city.asc, Person.name.asc).all().or_raise()
    assert [p.city for p in asc] == [None, None, "Berlin", "Paris", "Paris", "Zürich"]
    desc = await suite_db.find(Person).order_by(Person.city.desc, Person.name.asc).all().or_raise()
    assert [p.city for p in desc] == ["Zürich", "Paris", "Paris", "Berlin", None, None]


async def test_strings_order_by_code_point(suite_db: Ommi) -> None:
    await people(suite_db)
    ordered = await suite_db.find(Person).order_by(Person.name).all().or_raise()
    assert [p.name for p in ordered] == sorted(n for n, *_ in PEOPLE)


async def test_multiple_order_terms_and_paging(suite_db: Ommi) -> None:
    await people(suite_db)
    q = suite_db.find(Person).order_by(Person.age.desc, Person.name)
    assert [p.name for p in await q.all().or_raise()] == ["Émile", "carol", "Alice", "Dave", "Bob", "a_b%c"]
    assert [p.name for p in await q.limit(2).all().or_raise()] == ["Émile", "carol"]
    assert [p.name for p in await q.offset(4).all().or_raise()] == ["Bob", "a_b%c"]
    assert [p.name for p in await q.offset(1).limit(2).all().or_raise()] == ["carol", "Alice"]
    assert await q.limit(0).all().or_raise() == []
    assert await q.offset(2).limit(3).count().or_raise() == 3
    assert await q.offset(5).count().or_raise() == 1


async def test_query_builder_is_immutable(suite_db: Ommi) -> None:
    await people(suite_db)
    base = suite_db.find(Person.age > 10)
    limited = base.limit(1)
    ordered = base.order_by(Person.name)
    assert len(await base.all().or_raise()) == 5
    assert len(await limited.all().or_raise()) == 1
    assert base.statement.limit is None and base.statement.order_by == ()
    assert ordered.statement.order_by != ()


async def test_paging_past_the_64_bit_range_is_a_query_error(suite_db: Ommi) -> None:
    query = suite_db.find(Person)
    for n in (2**63, -1):
        with pytest.raises(errors.QueryError):
            query.limit(n)
        with pytest.raises(errors.QueryError):
            query.offset(n)
    assert await suite_db.find(Person).limit(2**63 - 1).offset(2**63 - 1).all().or_raise() == []
