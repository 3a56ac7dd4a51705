"""Conformance tests: expressions (arithmetic, field-to-field comparisons, case functions, ilike)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ommi import Ommi, errors
from ommi.query import Condition
from ommi.testing.models import Counter, Draft, Person, Writer
from ommi.testing.suite._helpers import error_of, names, people, together

INT64_MAX = 2**63 - 1


async def drafts(db: Ommi) -> list[Draft]:
    ann = (await db.add(Writer("Ann")).or_raise())[0]
    assert ann.id is not None
    rows = [
        Draft("a", ann.id, views=10, likes=3, score=1.5, price=Decimal("1.10")),
        Draft("b", ann.id, views=2, likes=7, score=-2.0, price=Decimal("0.20")),
        Draft("c", ann.id, views=5, likes=None, score=0.0, price=Decimal("3")),
        Draft("d", ann.id, views=7, likes=7, score=10.25, price=Decimal("-1.5")),
    ]
    return await db.add(*rows).or_raise()


async def titles(db: Ommi, *preds: Condition[Any]) -> list[str]:
    return sorted(t for (t,) in await db.find(Draft, *preds).values(Draft.title).all().or_raise())


async def test_field_to_field_comparisons(suite_db: Ommi) -> None:
    await drafts(suite_db)
    assert await titles(suite_db, Draft.views > Draft.likes) == ["a"]
    assert await titles(suite_db, Draft.views >= Draft.likes) == ["a", "d"]
    assert await titles(suite_db, Draft.views == Draft.likes) == ["d"]
    # NULL compares false, and != is the exact complement of ==
    assert await titles(suite_db, Draft.views != Draft.likes) == ["a", "b", "c"]
    assert await titles(suite_db, ~(Draft.views < Draft.likes)) == ["a", "c", "d"]
    assert await titles(suite_db, ~(Draft.views == Draft.likes)) == ["a", "b", "c"]


async def test_arithmetic_in_predicates(suite_db: Ommi) -> None:
    await drafts(suite_db)
    assert await titles(suite_db, Draft.views + Draft.likes > 9) == ["a", "d"]
    assert await titles(suite_db, Draft.views - 3 == Draft.likes) == []
    assert await titles(suite_db, Draft.views * 2 >= 14) == ["a", "d"]
    assert await titles(suite_db, -Draft.views < -6) == ["a", "d"]
    assert await titles(suite_db, 20 - Draft.views == 10) == ["a"]
    # arithmetic with NULL is NULL: c has no likes
    assert await titles(suite_db, Draft.views + Draft.likes != 14) == ["a", "b", "c"]
    assert await titles(suite_db, ~(Draft.views + Draft.likes > 0)) == ["c"]
    # float and Decimal arithmetic
    assert await titles(suite_db, Draft.score * 2 > 2.5) == ["a", "d"]
    assert await titles(suite_db, Draft.views + Draft.score > 12) == ["d"]
    assert await titles(suite_db, Draft.price * 3 == Decimal("3.30")) == ["a"]
    assert await titles(suite_db, Draft.price + Decimal("0.1") == Decimal("0.3")) == ["b"]
    assert await titles(suite_db, Draft.price - Draft.price == Decimal(0)) == ["a", "b", "c", "d"]


async def test_decimal_arithmetic_is_exact(suite_db: Ommi) -> None:
    ann = (await suite_db.add(Writer("Ann")).or_raise())[0]
    assert ann.id is not None
    await suite_db.add(Draft("x", ann.id, price=Decimal("0.1"))).or_raise()
    # 0.1 * 3 is exactly 0.3 (a float would give 0.30000000000000004)
    assert await titles(suite_db, Draft.price * 3 == Decimal("0.3")) == ["x"]
    assert await titles(suite_db, Draft.price + Draft.price + Draft.price == Decimal("0.3")) == ["x"]
    await suite_db.find(Draft).update(price=Draft.price * 3).or_raise()
    (got,) = await suite_db.find(Draft).values(Draft.price).one().or_raise()
    assert got == Decimal("0.3")


async def test_arithmetic_in_order_by(suite_db: Ommi) -> None:
    await drafts(suite_db)
    got = await suite_db.find(Draft).order_by((Draft.views * -1).asc, Draft.title).values(Draft.title).all().or_raise()
    assert got == [("a",), ("d",), ("c",), ("b",)]
    # NULL first ascending, last descending, for computed values too
    by_sum = suite_db.find(Draft).order_by(Draft.views + Draft.likes, Draft.title).values(Draft.title)
    assert await by_sum.all().or_raise() == [("c",), ("b",), ("a",), ("d",)]
    got = await suite_db.find(Draft).order_by((Draft.views + Draft.likes).desc).values(Draft.title).all().or_raise()
    assert got == [("d",), ("a",), ("b",), ("c",)]
    found = await suite_db.find(Draft).order_by((Draft.views - 6).desc).limit(2).all().or_raise()
    assert [d.title for d in found] == ["a", "d"]


async def test_set_based_update_with_an_expression(suite_db: Ommi) -> None:
    await drafts(suite_db)
    changed = await suite_db.find(Draft, Draft.views > 4).update(views=Draft.views + 1).or_raise()
    assert changed == 3
    got = await suite_db.find(Draft).order_by(Draft.title).values(Draft.title, Draft.views).all().or_raise()
    assert got == [("a", 11), ("b", 2), ("c", 6), ("d", 8)]
    # every value is computed from the row as it was: likes gets the old views
    await suite_db.find(Draft, Draft.title == "d").update(views=Draft.views + 1, likes=Draft.views).or_raise()
    assert await suite_db.find(Draft, Draft.title == "d").values(Draft.views, Draft.likes).one().or_raise() == (9, 8)
    # NULL in, NULL out
    await suite_db.find(Draft, Draft.title == "c").update(likes=Draft.likes + 1).or_raise()
    assert await suite_db.find(Draft, Draft.title == "c").values(Draft.likes).one().or_raise() == (None,)
    await suite_db.find(Draft).update(score=Draft.score * 2, price=Draft.price + Draft.views).or_raise()
    numbers = await suite_db.find(Draft).order_by(Draft.title).values(Draft.score, Draft.price).all().or_raise()
    assert numbers == [(3.0, Decimal("12.10")), (-4.0, Decimal("2.20")), (0.0, Decimal("9")), (20.5, Decimal("7.5"))]


async def test_integer_overflow_is_a_query_error(suite_db: Ommi) -> None:
    ann = (await suite_db.add(Writer("Ann")).or_raise())[0]
    assert ann.id is not None
    await suite_db.add(Draft("big", ann.id, views=INT64_MAX - 1, likes=2)).or_raise()
    for pred in (Draft.views + 2 > 0, Draft.views * Draft.likes > 0, -(Draft.views + 1) - 2 < 0):
        result = await suite_db.find(Draft, pred).all()
        assert isinstance(error_of(result), errors.QueryError)
        assert "overflow" in str(error_of(result))
    updated = await suite_db.find(Draft).update(views=Draft.views + Draft.likes)
    assert isinstance(error_of(updated), errors.QueryError)
    # nothing was written
    assert await suite_db.find(Draft).values(Draft.views).one().or_raise() == (INT64_MAX - 1,)
    # the edge itself is fine
    assert await titles(suite_db, Draft.views + 1 == INT64_MAX) == ["big"]
    assert await titles(suite_db, -Draft.views - 2 == -INT64_MAX - 1) == ["big"]


async def test_an_update_that_overflows_on_one_row_changes_no_row(suite_db: Ommi) -> None:
    # one update() is one change: an overflow on any row leaves every row as it was,
    # whichever order the database visits them in
    ann = (await suite_db.add(Writer("Ann")).or_raise())[0]
    assert ann.id is not None
    small = [Draft(f"d{n}", ann.id, views=n, likes=1) for n in range(20)]
    await suite_db.add(*small[:10], Draft("big", ann.id, views=INT64_MAX - 1, likes=1), *small[10:]).or_raise()
    updated = await suite_db.find(Draft).update(views=Draft.views + 2)
    assert isinstance(error_of(updated), errors.QueryError)
    stored = await suite_db.find(Draft).order_by(Draft.views).values(Draft.views).all().or_raise()
    assert [v for (v,) in stored] == [*range(20), INT64_MAX - 1]


async def test_lower_upper_and_ilike_on_ascii(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.name.lower() == "alice") == ["Alice"]
    assert await names(suite_db, Person.name.upper() == "CAROL") == ["carol"]
    assert await names(suite_db, Person.name.ilike("A%")) == ["Alice", "a_b%c"]
    assert await names(suite_db, Person.name.ilike("%O%")) == ["Bob", "carol"]
    # escapes keep their meaning
    assert await names(suite_db, Person.name.ilike("A\\_B\\%C")) == ["a_b%c"]
    assert await names(suite_db, Person.email.ilike("%EXAMPLE.COM")) == ["Alice", "carol", "Émile"]
    # NULL matches nothing, and ~ is the exact complement
    assert await names(suite_db, ~Person.email.ilike("%EXAMPLE.COM")) == ["Bob", "Dave", "a_b%c"]
    assert await names(suite_db, Person.city.lower() != "paris") == ["Bob", "a_b%c", "carol", "Émile"]
    assert await names(suite_db, Person.name.lower().like("%a%")) == ["Alice", "Dave", "a_b%c", "carol"]
    found = await suite_db.find(Person, Person.age < 40).order_by(Person.name.lower()).all().or_raise()
    assert [p.name for p in found] == ["a_b%c", "Alice", "Bob", "Dave"]


async def test_types_are_checked_when_the_expression_is_built() -> None:
    for build in (
        lambda: Person.name + 1,
        lambda: Person.name > Person.age,
        lambda: Draft.price + Draft.score,
        lambda: Draft.views + "1",  # type: ignore[operator]
        lambda: Person.age.lower(),  # noqa: PLW0108 - the call itself must raise
        lambda: Draft.views + Person.age,
    ):
        with pytest.raises(errors.QueryError):
            build()
    with pytest.raises(errors.QueryError, match=r"Person\.name"):
        Person.name * 2


async def test_update_refuses_expressions_that_do_not_fit(suite_db: Ommi) -> None:
    await drafts(suite_db)
    for values in ({"views": Draft.score + 1}, {"views": Draft.likes + 1}, {"title": Draft.views}):
        result = await suite_db.find(Draft).update(**values)
        assert isinstance(error_of(result), errors.QueryError)


async def test_concurrent_increments_lose_nothing(suite_db: Ommi) -> None:
    await suite_db.add(Counter("hits")).or_raise()

    async def bump() -> None:
        for _ in range(50):
            assert await suite_db.find(Counter, Counter.name == "hits").update(n=Counter.n + 1).or_raise() == 1

    await together(*(bump() for _ in range(20)))
    assert (await suite_db.get(Counter, "hits").or_raise()).n == 1000


async def test_concurrent_increments_of_several_rows_lose_nothing(suite_db: Ommi) -> None:
    # a filter that is not the key: each update changes several rows at once, and
    # concurrent updates collide on all of them (a backend that runs such an update
    # in a transaction must retry its own conflicts, not hand them to the caller)
    await suite_db.add(Counter("a"), Counter("b"), Counter("c")).or_raise()

    async def bump() -> None:
        for _ in range(10):
            assert await suite_db.find(Counter, Counter.n >= 0).update(n=Counter.n + 1).or_raise() == 3

    await together(*(bump() for _ in range(8)))
    counters = await suite_db.find(Counter).order_by(Counter.name).all().or_raise()
    assert [(c.name, c.n) for c in counters] == [("a", 80), ("b", 80), ("c", 80)]
