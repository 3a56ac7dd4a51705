"""Conformance tests: predicates."""

from __future__ import annotations

import pytest

from ommi import Ommi, errors
from ommi.query import Condition
from ommi.testing.models import (
    Person,
)
from ommi.testing.suite._helpers import PEOPLE, names, people


async def test_comparison_operators(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.age == 31) == ["Alice", "Dave"]
    assert await names(suite_db, Person.age != 31) == ["Bob", "a_b%c", "carol", "Émile"]
    assert await names(suite_db, Person.age < 17) == ["a_b%c"]
    assert await names(suite_db, Person.age <= 17) == ["Bob", "a_b%c"]
    assert await names(suite_db, Person.age > 45) == ["Émile"]
    assert await names(suite_db, Person.age >= 45) == ["carol", "Émile"]


async def test_null_semantics_are_two_valued(suite_db: Ommi) -> None:
    await people(suite_db)
    no_city = ["a_b%c", "carol"]
    assert await names(suite_db, Person.city == None) == no_city  # noqa: E711
    assert await names(suite_db, Person.city.is_null()) == no_city
    assert await names(suite_db, Person.city.is_not_null()) == ["Alice", "Bob", "Dave", "Émile"]
    # != is the complement of ==: rows with NULL city match
    assert await names(suite_db, Person.city != "Paris") == ["Bob", "a_b%c", "carol", "Émile"]
    # every other comparison with NULL is false, and ~ is the exact complement
    assert await names(suite_db, Person.city > "A") == ["Alice", "Bob", "Dave", "Émile"]
    assert await names(suite_db, ~(Person.city > "A")) == no_city
    assert await names(suite_db, ~(Person.city == "Paris")) == ["Bob", "a_b%c", "carol", "Émile"]
    assert await names(suite_db, ~(Person.city != "Paris")) == ["Alice", "Dave"]
    assert await names(suite_db, ~Person.city.like("P%")) == ["Bob", "a_b%c", "carol", "Émile"]


async def test_in_and_not_in(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.age.in_([17, 60, 99])) == ["Bob", "Émile"]
    assert await names(suite_db, Person.city.in_(["Paris", "Berlin"])) == ["Alice", "Bob", "Dave"]
    assert await names(suite_db, Person.city.not_in(["Paris", "Berlin"])) == ["a_b%c", "carol", "Émile"]
    assert await names(suite_db, Person.city.in_(["Paris", None])) == ["Alice", "Dave", "a_b%c", "carol"]
    assert await names(suite_db, Person.city.not_in(["Paris", None])) == ["Bob", "Émile"]
    assert await names(suite_db, Person.age.in_([])) == []
    assert len(await names(suite_db, Person.age.not_in([]))) == len(PEOPLE)
    assert await names(suite_db, Person.age.in_(x for x in (5, 17))) == ["Bob", "a_b%c"]


async def test_between(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.age.between(17, 31)) == ["Alice", "Bob", "Dave"]
    assert await names(suite_db, ~Person.age.between(17, 31)) == ["a_b%c", "carol", "Émile"]
    assert await names(suite_db, Person.age.between(40, 30)) == []


async def test_like_contains_startswith_endswith_are_case_sensitive(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, Person.name.like("A%")) == ["Alice"]
    assert await names(suite_db, Person.name.like("%a%")) == ["Dave", "a_b%c", "carol"]
    assert await names(suite_db, Person.name.like("_ob")) == ["Bob"]
    assert await names(suite_db, Person.name.startswith("c")) == ["carol"]
    assert await names(suite_db, Person.name.startswith("C")) == []
    assert await names(suite_db, Person.name.endswith("ve")) == ["Dave"]
    assert await names(suite_db, Person.name.contains("li")) == ["Alice"]
    assert await names(suite_db, Person.name.contains("É")) == ["Émile"]


async def test_like_wildcards_in_literal_text_match_literally(suite_db: Ommi) -> None:
    await people(suite_db)
    await suite_db.add(Person("axbyc", 1), Person("a*b?c[", 2)).or_raise()
    assert await names(suite_db, Person.name.contains("_b%")) == ["a_b%c"]
    assert await names(suite_db, Person.name.startswith("a_")) == ["a_b%c"]
    assert await names(suite_db, Person.name.like("a\\_b\\%c")) == ["a_b%c"]
    assert await names(suite_db, Person.name.contains("*b?c[")) == ["a*b?c["]
    assert await names(suite_db, Person.name.like("a_b_c")) == ["a_b%c", "axbyc"]


async def test_prefix_patterns_match_exactly_at_the_edges_of_text(suite_db: Ommi) -> None:
    # a backend may match "prefix%" as a range of text: its edges are the last character
    # below a surrogate, the highest code point, a NUL inside the text, and case
    edge = ["ab", "ab\x00", "ab\x00z", "abc", "ab\U0010ffff", "ab\U0010ffffz", "ac", "aB", "a", "",
            "x\ud7ff", "x\ud7ffy", "x\ue000", "\U0010ffff", "\U0010ffffq"]
    await suite_db.add(*(Person(name, n) for n, name in enumerate(edge))).or_raise()

    async def found(condition: Condition) -> list[str]:
        return sorted(p.name for p in await suite_db.find(condition).all().or_raise())

    for prefix in ["ab", "ab\x00", "ab\U0010ffff", "x\ud7ff", "\U0010ffff", "a", "aB"]:
        want = sorted(name for name in edge if name.startswith(prefix))
        assert await found(Person.name.startswith(prefix)) == want, prefix
        assert await found(Person.name.like(prefix + "%")) == want, prefix
        assert await found(~Person.name.startswith(prefix)) == sorted(set(edge) - set(want)), prefix


async def test_and_or_not_combinations(suite_db: Ommi) -> None:
    await people(suite_db)
    assert await names(suite_db, (Person.age < 18) | (Person.age > 50)) == ["Bob", "a_b%c", "Émile"]
    assert await names(suite_db, (Person.age > 18) & (Person.city == "Paris")) == ["Alice", "Dave"]
    assert await names(suite_db, ~((Person.age > 18) & (Person.city == "Paris"))) == [
        "Bob", "a_b%c", "carol", "Émile"]
    nested = ((Person.age < 18) | (Person.name == "carol")) & ~(Person.city == None)  # noqa: E711
    assert await names(suite_db, nested) == ["Bob"]
    assert await names(suite_db, ~~(Person.age == 31)) == ["Alice", "Dave"]


async def test_predicates_do_not_mutate_their_operands(suite_db: Ommi) -> None:
    await people(suite_db)
    a = Person.age > 18
    b = Person.city == "Paris"
    both = a & b
    either = a | b
    assert a == (Person.age > 18) and hash(a) == hash(Person.age > 18)
    assert await names(suite_db, both) == ["Alice", "Dave"]
    assert await names(suite_db, either) == ["Alice", "Dave", "carol", "Émile"]
    assert await names(suite_db, a) == ["Alice", "Dave", "carol", "Émile"]


async def test_in_with_forty_thousand_values(suite_db: Ommi) -> None:
    await people(suite_db)
    wanted = [*range(40_000), 31]
    assert await names(suite_db, Person.age.in_(wanted)) == ["Alice", "Bob", "Dave", "a_b%c", "carol", "Émile"]
    assert await names(suite_db, Person.age.not_in(range(40_000))) == []
    assert await names(suite_db, Person.name.in_([f"n{i}" for i in range(40_000)] + ["Bob"])) == ["Bob"]


async def test_a_predicate_nested_too_deep_is_a_query_error(suite_db: Ommi) -> None:
    pred: Condition[Person] = Person.age == 0
    for i in range(1500):
        pred = (pred | (Person.age == i)) if i % 2 else (pred & (Person.age != i))
    with pytest.raises(errors.QueryError, match="nested"):
        suite_db.find(pred)  # refused while the query is built, like any malformed find()
