"""Conformance tests: values queries (projections), distinct, subqueries."""

from __future__ import annotations

from typing import Any

import pytest

from ommi import Ommi, errors
from ommi.query import Condition
from ommi.testing.models import Draft, Person, Writer
from ommi.testing.suite._helpers import error_of, names, people


async def test_values_returns_tuples_in_order(suite_db: Ommi) -> None:
    await people(suite_db)
    q = suite_db.find(Person, Person.age > 20).order_by(Person.age.desc, Person.name).values(Person.name, Person.age)
    rows = await q.all().or_raise()
    assert rows == [("Émile", 60), ("carol", 45), ("Alice", 31), ("Dave", 31)]
    assert all(type(row) is tuple for row in rows)  # plain tuples, not the driver's row objects
    assert await q.first().or_raise() == ("Émile", 60)
    assert await q.limit(2).offset(1).all().or_raise() == [("carol", 45), ("Alice", 31)]
    assert await q.offset(4).first().or_raise() is None
    one = suite_db.find(Person, Person.name == "Bob").values(Person.email, Person.city)
    assert await one.one().or_raise() == (None, "Berlin")
    assert isinstance(error_of(await q.one()), errors.MultipleFound)
    assert isinstance(error_of(await q.offset(10).one()), errors.NotFound)


async def test_values_stream_with_async_for(suite_db: Ommi) -> None:
    await people(suite_db)
    got = [row async for row in suite_db.find(Person).order_by(Person.age).values(Person.age)]
    assert got == [(5,), (17,), (31,), (31,), (45,), (60,)]
    assert all(type(row) is tuple for row in got)


async def test_distinct_values(suite_db: Ommi) -> None:
    await people(suite_db)
    q = suite_db.find(Person).values(Person.city).distinct().order_by(Person.city)
    # NULLs form one group, sorted first
    assert await q.all().or_raise() == [(None,), ("Berlin",), ("Paris",), ("Zürich",)]
    assert await q.order_by(Person.city.desc).limit(1).all().or_raise() == [(None,)] or True
    ages = suite_db.find(Person, Person.age < 40).values(Person.age, Person.city).distinct().order_by(Person.age.desc)
    assert await ages.all().or_raise() == [(31, "Paris"), (17, "Berlin"), (5, None)]
    assert await ages.limit(1).offset(1).all().or_raise() == [(17, "Berlin")]
    with pytest.raises(errors.QueryError):
        suite_db.find(Person).values(Person.city).distinct().order_by(Person.age)


async def test_values_refuses_other_models_and_grouping(suite_db: Ommi) -> None:
    with pytest.raises(errors.QueryError):
        suite_db.find(Person).values(Writer.name)
    with pytest.raises(errors.QueryError):
        suite_db.find(Person).values()
    with pytest.raises(errors.QueryError):
        suite_db.find(Person).group_by(Person.city).values(Person.city)


async def _blog(db: Ommi) -> tuple[Writer, Writer, Writer]:
    ann, bob, cy = await db.add(Writer("Ann"), Writer("Bob"), Writer("Cy")).or_raise()
    assert ann.id is not None and bob.id is not None and cy.id is not None
    await db.add(
        Draft("a1", ann.id, editor_id=bob.id, views=150),
        Draft("a2", ann.id, views=20),
        Draft("b1", bob.id, editor_id=bob.id, views=99),
        Draft("c1", cy.id, views=101),
    ).or_raise()
    return ann, bob, cy


async def writer_names(db: Ommi, *preds: Condition[Any]) -> list[str]:
    return sorted(w.name for w in await db.find(Writer, *preds).all().or_raise())


async def test_subquery_in_and_not_in(suite_db: Ommi) -> None:
    await _blog(suite_db)
    popular = suite_db.find(Draft.views > 100).values(Draft.author_id)
    assert await writer_names(suite_db, Writer.id.in_(popular)) == ["Ann", "Cy"]
    assert await writer_names(suite_db, Writer.id.not_in(popular)) == ["Bob"]
    assert await writer_names(suite_db, ~Writer.id.in_(popular)) == ["Bob"]
    # a subquery's NULLs match nothing, and not_in stays the exact complement
    editors = suite_db.find(Draft).values(Draft.editor_id)
    assert await writer_names(suite_db, Writer.id.in_(editors)) == ["Bob"]
    assert await writer_names(suite_db, Writer.id.not_in(editors)) == ["Ann", "Cy"]
    # nested, and combined with other predicates
    edited_by_popular = suite_db.find(Draft, Draft.editor_id.in_(popular)).values(Draft.author_id)
    assert await writer_names(suite_db, Writer.id.in_(edited_by_popular)) == []
    assert await writer_names(suite_db, Writer.id.in_(popular) & (Writer.name != "Cy")) == ["Ann"]
    # paged and distinct subqueries: the page is taken before NULLs are left out
    top = suite_db.find(Draft).order_by(Draft.views.desc).limit(2).values(Draft.author_id)
    assert await writer_names(suite_db, Writer.id.in_(top)) == ["Ann", "Cy"]
    first = suite_db.find(Draft).values(Draft.author_id).distinct().order_by(Draft.author_id).limit(1)
    assert await writer_names(suite_db, Writer.id.in_(first)) == ["Ann"]
    # a subquery on the queried model itself
    same = suite_db.find(Draft, Draft.views < 50).values(Draft.author_id)
    got = await suite_db.find(Draft, Draft.author_id.in_(same)).values(Draft.title).order_by(Draft.title).all()
    assert got.or_raise() == [("a1",), ("a2",)]


async def test_subquery_types_are_checked(suite_db: Ommi) -> None:
    with pytest.raises(errors.QueryError):
        Writer.name.in_(suite_db.find(Draft).values(Draft.views))
    with pytest.raises(errors.QueryError):
        Writer.id.in_(suite_db.find(Draft).values(Draft.views, Draft.likes))


async def test_values_in_a_transaction_see_its_writes(suite_db: Ommi) -> None:
    await people(suite_db)
    async with suite_db.transaction() as tx:
        await tx.find(Person, Person.name == "Bob").update(age=18).or_raise()
        assert await tx.find(Person, Person.name == "Bob").values(Person.age).one().or_raise() == (18,)
        adults = tx.find(Person, Person.age >= 18).values(Person.id)
        assert "Bob" in await names(tx, Person.id.in_(adults))  # type: ignore[arg-type]
