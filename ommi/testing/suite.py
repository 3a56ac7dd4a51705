"""The ommi conformance suite: every driver runs these tests unchanged.

Import it into a test module of your driver's package::

    from ommi.testing.suite import *  # noqa: F403

and run ``pytest --ommi-url=yourscheme://...``. Each test receives
``suite_db``, an :class:`ommi.Ommi` on the URL under test whose conformance
tables are emptied before the test. Optional features are marked
``@pytest.mark.requires(capability)`` and skipped when the driver does not
declare them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest

from ommi import Avg, Count, CountDistinct, DBFailure, DBSuccess, Max, Min, Ommi, StatementEvent, Sum, errors
from ommi.testing.models import (
    Article,
    ArticleTag,
    Author,
    Book,
    Category,
    Color,
    FrozenPoint,
    Level,
    Membership,
    Order,
    Person,
    PetAttrs,
    PetPydantic,
    Remark,
    Sale,
    Sample,
    SlotItem,
    Stamped,
    Tag,
    Writer,
)

PEOPLE = [
    ("Alice", 31, "alice@example.com", "Paris"),
    ("Bob", 17, None, "Berlin"),
    ("carol", 45, "carol@example.com", None),
    ("Dave", 31, None, "Paris"),
    ("Émile", 60, "emile@example.com", "Zürich"),
    ("a_b%c", 5, None, None),
]


async def people(db: Ommi) -> list[Person]:
    return await db.add(*(Person(n, a, e, c) for n, a, e, c in PEOPLE)).or_raise()


async def names(db: Ommi, *preds: Any) -> list[str]:
    found = await db.find(Person, *preds).all().or_raise()
    return sorted(p.name for p in found)


# -- adding and keys -----------------------------------------------------------


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
    result = await suite_db.add(Person("A", 1), Person("B", "old"))
    assert isinstance(result, DBFailure)
    assert isinstance(result.error, errors.ValidationError)
    assert "Person.age" in str(result.error)
    assert await suite_db.find(Person).count().or_raise() == 0


async def test_none_in_required_field_is_validation_error(suite_db: Ommi) -> None:
    result = await suite_db.add(Person(None, 1))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)


async def test_int_out_of_64_bit_range_is_rejected(suite_db: Ommi) -> None:
    result = await suite_db.add(Person("big", 2**63))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)


# -- reading -----------------------------------------------------------------


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


# -- predicates -------------------------------------------------------------


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


# -- ordering and paging ------------------------------------------------------


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


# -- update, save, delete -------------------------------------------------------


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


# -- streaming ------------------------------------------------------------------


async def test_streaming_yields_every_row_in_order(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i:05d}", i % 90) for i in range(1234))).or_raise()
    seen = [p.name async for p in suite_db.find(Person).order_by(Person.name)]
    assert seen == [f"n{i:05d}" for i in range(1234)]
    filtered = [p async for p in suite_db.find(Person.name.startswith("n001"))]
    assert len(filtered) == 100


async def test_streaming_can_stop_early(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i}", i) for i in range(50))).or_raise()
    taken = []
    async for p in suite_db.find(Person).order_by(Person.age):
        taken.append(p.age)
        if len(taken) == 3:
            break
    assert taken == [0, 1, 2]
    assert await suite_db.find(Person).count().or_raise() == 50


# -- types -------------------------------------------------------------------------

AWARE = timezone(timedelta(hours=5, minutes=30))


def full_sample() -> Sample:
    return Sample(
        s="héllo \U0001f600 \x00 end",
        i=-(2**63),
        f=-1.5e-300,
        b=False,
        by=b"\x00\xff\x10",
        dec=Decimal("12345678901234567890.123456789"),
        dt=datetime(2024, 2, 29, 23, 59, 58, 123456),
        adt=datetime(2024, 2, 29, 23, 59, 58, 654321, tzinfo=AWARE),
        d=date(1999, 12, 31),
        t=time(13, 14, 15, 161718),
        u=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        color=Color.GREEN,
        level=Level.HIGH,
        js={"a": [1, 2.5, None, True, "x"], "nested": {"k": "v"}},
        lst=[1, "two", {"three": 3}],
    )


async def test_every_type_round_trips_exactly(suite_db: Ommi) -> None:
    original = full_sample()
    await suite_db.add(original).or_raise()
    loaded = await suite_db.get(Sample, original.id).or_raise()
    for name in ("s", "i", "f", "b", "by", "dec", "dt", "adt", "d", "t", "u", "color", "level", "js", "lst"):
        got, want = getattr(loaded, name), getattr(original, name)
        assert got == want, name
        assert type(got) is type(want), name
    assert loaded.adt.utcoffset() is not None
    assert loaded.dt.tzinfo is None


async def test_nulls_round_trip(suite_db: Ommi) -> None:
    [empty] = await suite_db.add(Sample()).or_raise()
    loaded = await suite_db.get(Sample, empty.id).or_raise()
    assert loaded == Sample(id=empty.id)


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1],
)
async def test_int64_boundaries(suite_db: Ommi, value: int) -> None:
    [s] = await suite_db.add(Sample(i=value)).or_raise()
    assert (await suite_db.get(Sample, s.id).or_raise()).i == value
    assert await suite_db.find(Sample.i == value).count().or_raise() == 1


async def test_boundary_values_round_trip(suite_db: Ommi) -> None:
    values = [
        Sample(s="", by=b"", f=0.0, dec=Decimal("0"), js={}, lst=[]),
        Sample(s="\U0010ffff'\";--", f=1.7976931348623157e308, dec=Decimal("-0.000000001")),
        Sample(dt=datetime(1, 1, 1, 0, 0, 0, 1), d=date(1, 1, 1), t=time(0, 0)),
        Sample(dt=datetime(9999, 12, 31, 23, 59, 59, 999999), d=date(9999, 12, 31), t=time(23, 59, 59, 999999)),
        Sample(adt=datetime(2020, 1, 1, tzinfo=UTC), f=float("inf")),
        Sample(adt=datetime(2020, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-9, minutes=-30))), f=-0.5),
    ]
    await suite_db.add(*values).or_raise()
    for v in values:
        got = await suite_db.get(Sample, v.id).or_raise()
        assert got == v


async def test_decimal_comparison_and_ordering_are_numeric(suite_db: Ommi) -> None:
    amounts = ["9.5", "10", "100.25", "-3", "0.001"]
    await suite_db.add(*(Sample(dec=Decimal(a)) for a in amounts)).or_raise()
    got = await suite_db.find(Sample.dec > Decimal("9.9")).order_by(Sample.dec).all().or_raise()
    assert [s.dec for s in got] == [Decimal("10"), Decimal("100.25")]
    ordered = await suite_db.find(Sample.dec.is_not_null()).order_by(Sample.dec.desc).all().or_raise()
    assert [s.dec for s in ordered] == sorted((Decimal(a) for a in amounts), reverse=True)


async def test_datetime_date_time_comparisons(suite_db: Ommi) -> None:
    base = datetime(2024, 1, 1, 12, 0, 0)
    await suite_db.add(*(Sample(dt=base + timedelta(hours=h), d=(base + timedelta(days=h)).date(),
                                t=time(h, 0)) for h in range(5))).or_raise()
    assert await suite_db.find(Sample.dt >= base + timedelta(hours=3)).count().or_raise() == 2
    assert await suite_db.find(Sample.d < date(2024, 1, 3)).count().or_raise() == 2
    assert await suite_db.find(Sample.t.between(time(1), time(3))).count().or_raise() == 3


async def test_aware_datetimes_compare_by_instant(suite_db: Ommi) -> None:
    tz_plus = timezone(timedelta(hours=2))
    a = datetime(2024, 1, 1, 12, 0, tzinfo=tz_plus)  # 10:00 UTC
    b = datetime(2024, 1, 1, 11, 0, tzinfo=UTC)  # 11:00 UTC
    await suite_db.add(Sample(s="a", adt=a), Sample(s="b", adt=b)).or_raise()
    ordered = await suite_db.find(Sample.adt.is_not_null()).order_by(Sample.adt).all().or_raise()
    assert [s.s for s in ordered] == ["a", "b"]
    assert await suite_db.find(Sample.adt == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)).count().or_raise() == 1


async def test_naive_and_aware_values_are_not_mixed_up(suite_db: Ommi) -> None:
    aware_in_naive = await suite_db.add(Sample(dt=datetime(2024, 1, 1, tzinfo=UTC)))
    assert isinstance(aware_in_naive, DBFailure) and isinstance(aware_in_naive.error, errors.ValidationError)
    naive_in_aware = await suite_db.add(Sample(adt=datetime(2024, 1, 1)))
    assert isinstance(naive_in_aware, DBFailure) and isinstance(naive_in_aware.error, errors.ValidationError)


async def test_enum_uuid_bool_bytes_queries(suite_db: Ommi) -> None:
    u = uuid.uuid4()
    await suite_db.add(Sample(color=Color.RED, u=u, b=True, by=b"\x01"), Sample(color=Color.GREEN, b=False)).or_raise()
    assert (await suite_db.find(Sample.color == Color.RED).one().or_raise()).u == u
    assert (await suite_db.find(Sample.color == "green").one().or_raise()).color is Color.GREEN
    assert (await suite_db.find(Sample.u == u).one().or_raise()).color is Color.RED
    assert (await suite_db.find(Sample.b == True).one().or_raise()).by == b"\x01"  # noqa: E712
    assert (await suite_db.find(Sample.by == b"\x01").one().or_raise()).b is True


async def test_json_values_round_trip_including_operator_like_keys(suite_db: Ommi) -> None:
    hostile = {"$where": "sleep(1000)", "a.b": 1, "'; DROP TABLE x; --": [None, {"$gt": ""}]}
    [s] = await suite_db.add(Sample(js=hostile, lst=["$gt", {"$ne": None}])).or_raise()
    loaded = await suite_db.get(Sample, s.id).or_raise()
    assert loaded.js == hostile and loaded.lst == ["$gt", {"$ne": None}]


async def test_hostile_strings_are_stored_and_matched_literally(suite_db: Ommi) -> None:
    corpus = ["'; DROP TABLE \"Person\"; --", "$gt", "\\", "%", "_", ".*", "a'b\"c", "\x00", "-- comment", "/* x */"]
    await suite_db.add(*(Person(s, i) for i, s in enumerate(corpus))).or_raise()
    for s in corpus:
        found = await suite_db.find(Person.name == s).all().or_raise()
        assert [p.name for p in found] == [s]
        assert await suite_db.find(Person.name.contains(s)).count().or_raise() >= 1
    assert await suite_db.find(Person).count().or_raise() == len(corpus)


# -- model libraries and declarations --------------------------------------------


async def test_composite_keys(suite_db: Ommi) -> None:
    await suite_db.add(Membership("admins", 1, "owner"), Membership("admins", 2), Membership("users", 1)).or_raise()
    got = await suite_db.get(Membership, ("admins", 1)).or_raise()
    assert got.role == "owner"
    got.role = "chair"
    await suite_db.save(got).or_raise()
    assert (await suite_db.get(Membership, ("admins", 1)).or_raise()).role == "chair"
    dup = await suite_db.add(Membership("admins", 2))
    assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
    assert await suite_db.delete(got).or_raise() == 1
    assert await suite_db.find(Membership).count().or_raise() == 2
    wrong = await suite_db.get(Membership, "admins")
    assert isinstance(wrong, DBFailure) and isinstance(wrong.error, errors.QueryError)


async def test_reserved_words_renamed_and_mixed_case_columns(suite_db: Ommi) -> None:
    await suite_db.add(Order("g1", 1, "Mixed", "from-value"), Order("g2", 2)).or_raise()
    got = await suite_db.find(Order.group == "g1").one().or_raise()
    assert (got.select, got.MixedCase, got.stored) == (1, "Mixed", "from-value")
    assert await suite_db.find(Order.stored == "from-value").count().or_raise() == 1
    assert [o.group for o in await suite_db.find(Order).order_by(Order.MixedCase.desc).all().or_raise()] == ["g2", "g1"]


async def test_references_are_enforced(suite_db: Ommi) -> None:
    [ann] = await suite_db.add(Author("Ann")).or_raise()
    await suite_db.add(Book("B1", ann.id)).or_raise()
    orphan = await suite_db.add(Book("B2", 999999))
    assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
    still_used = await suite_db.delete(ann)
    assert isinstance(still_used, DBFailure) and isinstance(still_used.error, errors.IntegrityError)
    assert await suite_db.find(Author).count().or_raise() == 1


async def test_slots_and_frozen_dataclasses(suite_db: Ommi) -> None:
    [item] = await suite_db.add(SlotItem("x")).or_raise()
    assert item.id is not None
    assert (await suite_db.get(SlotItem, item.id).or_raise()) == item
    [point] = await suite_db.add(FrozenPoint(1, 2)).or_raise()
    assert point.id is not None
    loaded = await suite_db.find(FrozenPoint.x == 1).one().or_raise()
    assert loaded == point and hash(loaded) == hash(point)


async def test_attrs_and_pydantic_models(suite_db: Ommi) -> None:
    [cat] = await suite_db.add(PetAttrs("cat")).or_raise()
    assert cat.id is not None
    assert await suite_db.find(PetAttrs.legs == 4).one().or_raise() == cat
    [bird] = await suite_db.add(PetPydantic(name="bird", legs=2)).or_raise()
    assert bird.id is not None
    loaded = await suite_db.find(PetPydantic.legs < 3).one().or_raise()
    assert loaded == bird
    assert loaded.model_dump() == {"name": "bird", "legs": 2, "id": bird.id}
    loaded.legs = 1
    await suite_db.save(loaded).or_raise()
    assert (await suite_db.get(PetPydantic, bird.id).or_raise()).legs == 1


# -- transactions ---------------------------------------------------------------------


@pytest.mark.requires("transactions")
async def test_transaction_commits_on_exit(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Carol", 40)).or_raise()
        assert await tx.find(Person).count().or_raise() == 1
    assert await suite_db.find(Person).count().or_raise() == 1


@pytest.mark.requires("transactions")
async def test_transaction_rolls_back_on_exception_and_reraises(suite_db: Ommi) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with suite_db.transaction() as tx:
            await tx.add(Person("Carol", 40)).or_raise()
            await tx.find(Person).update(age=1).or_raise()
            raise Boom
    assert await suite_db.find(Person).count().or_raise() == 0


@pytest.mark.requires("transactions", "concurrent_transactions")
async def test_outside_work_does_not_see_uncommitted_writes(suite_db: Ommi) -> None:
    await suite_db.add(Person("Before", 1)).or_raise()
    async with suite_db.transaction() as tx:
        await tx.add(Person("Inside", 2)).or_raise()
        assert await tx.find(Person).count().or_raise() == 2
        assert await suite_db.find(Person).count().or_raise() == 1
        assert await suite_db.find(Person.name == "Inside").first().or_raise() is None
    assert await suite_db.find(Person).count().or_raise() == 2


@pytest.mark.requires("transactions")
async def test_explicit_commit_and_rollback(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Kept", 1)).or_raise()
        await tx.commit()
        closed = await tx.find(Person).count()
        assert isinstance(closed, DBFailure) and isinstance(closed.error, errors.TransactionError)
    async with suite_db.transaction() as tx:
        await tx.add(Person("Dropped", 2)).or_raise()
        await tx.rollback()
    assert await names(suite_db) == ["Kept"]


@pytest.mark.requires("transactions")
async def test_failed_add_inside_transaction_keeps_the_transaction_usable(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, id=1)).or_raise()
    async with suite_db.transaction() as tx:
        await tx.add(Person("B", 2)).or_raise()
        dup = await tx.add(Person("dup", 3, id=1), Person("C", 4))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
        await tx.add(Person("D", 5)).or_raise()
    assert await names(suite_db) == ["A", "B", "D"]


@pytest.mark.requires("transactions", "savepoints")
async def test_nested_block_is_a_savepoint(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Outer", 1)).or_raise()
        with pytest.raises(RuntimeError):
            async with tx.transaction() as inner:
                await inner.add(Person("Inner", 2)).or_raise()
                raise RuntimeError("undo only the inner block")
        async with tx.transaction() as inner:
            await inner.add(Person("Kept", 3)).or_raise()
    assert await names(suite_db) == ["Kept", "Outer"]


@pytest.mark.requires("transactions")
async def test_nested_block_without_savepoints_is_unsupported(suite_db: Ommi) -> None:
    if "savepoints" in suite_db.capabilities:
        async with suite_db.transaction() as tx, tx.transaction() as inner:
            await inner.add(Person("x", 1)).or_raise()
        assert await suite_db.find(Person).count().or_raise() == 1
        return
    async with suite_db.transaction() as tx:
        await tx.add(Person("x", 1)).or_raise()
        with pytest.raises(errors.UnsupportedError):
            async with tx.transaction():
                pass
    assert await suite_db.find(Person).count().or_raise() == 1


async def test_concurrent_actions_on_one_ommi(suite_db: Ommi) -> None:
    async def work(i: int) -> int:
        await suite_db.add(Person(f"c{i}", i)).or_raise()
        return await suite_db.find(Person.age == i).count().or_raise()

    results = await asyncio.gather(*(work(i) for i in range(60)))
    assert results == [1] * 60
    assert await suite_db.find(Person).count().or_raise() == 60


# -- aggregates ---------------------------------------------------------------------


SALES = [
    # customer, status, amount, qty, price, day, region
    (7, "paid", "120.00", 1, 1.5, date(2024, 1, 3), "north"),
    (7, "paid", "100.00", 2, 2.5, date(2024, 1, 1), "north"),
    (7, "paid", "30.00", None, None, None, None),
    (8, "paid", "60.50", 4, 0.25, date(2024, 2, 1), "south"),
    (8, "open", "999.99", 5, None, date(2023, 12, 31), "south"),
    (9, "paid", "101.00", 1, 10.0, date(2024, 3, 1), None),
]


async def sales(db: Ommi) -> None:
    await db.add(*(Sale(c, s, Decimal(a), q, p, d, r) for c, s, a, q, p, d, r in SALES)).or_raise()


async def test_grouped_aggregates_with_having_and_ordering(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await (
        suite_db.find(Sale.status == "paid")
        .group_by(Sale.customer_id)
        .having(Sum(Sale.amount) > 100)
        .order_by(Sum(Sale.amount).desc)
        .aggregate(n=Count(), total=Sum(Sale.amount), biggest=Max(Sale.amount))
        .or_raise()
    )
    assert rows == [
        {"customer_id": 7, "n": 3, "total": Decimal("250.00"), "biggest": Decimal("120.00")},
        {"customer_id": 9, "n": 1, "total": Decimal("101.00"), "biggest": Decimal("101.00")},
    ]
    assert all(type(r["total"]) is Decimal and type(r["n"]) is int for r in rows)


async def test_ungrouped_aggregate_is_one_dict_even_when_nothing_matches(suite_db: Ommi) -> None:
    await sales(suite_db)
    totals = await suite_db.find(Sale).aggregate(n=Count(), avg=Avg(Sale.amount)).or_raise()
    assert totals["n"] == 6
    assert abs(totals["avg"] - Decimal("1411.49") / 6) < Decimal("1e-12")
    assert type(totals["avg"]) is Decimal
    empty = await suite_db.find(Sale.status == "void").aggregate(
        n=Count(), total=Sum(Sale.amount), low=Min(Sale.day), mean=Avg(Sale.qty)).or_raise()
    assert empty == {"n": 0, "total": None, "low": None, "mean": None}


async def test_aggregate_result_types_and_null_handling(suite_db: Ommi) -> None:
    await sales(suite_db)
    got = await suite_db.find(Sale).aggregate(
        rows=Count(), qtys=Count(Sale.qty), customers=CountDistinct(Sale.customer_id),
        qty_sum=Sum(Sale.qty), qty_avg=Avg(Sale.qty), price_sum=Sum(Sale.price),
        first_day=Min(Sale.day), last_day=Max(Sale.day), top_region=Max(Sale.region),
    ).or_raise()
    assert got == {
        "rows": 6, "qtys": 5, "customers": 3, "qty_sum": 13, "qty_avg": 13 / 5, "price_sum": 14.25,
        "first_day": date(2023, 12, 31), "last_day": date(2024, 3, 1), "top_region": "south",
    }
    assert type(got["qty_sum"]) is int and type(got["qty_avg"]) is float and type(got["price_sum"]) is float
    assert type(got["first_day"]) is date


async def test_group_by_nullable_field_puts_null_group_first(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await suite_db.find(Sale).group_by(Sale.region).aggregate(n=Count()).or_raise()
    assert rows == [{"region": None, "n": 2}, {"region": "north", "n": 2}, {"region": "south", "n": 2}]


async def test_grouped_paging_and_multiple_group_fields(suite_db: Ommi) -> None:
    await sales(suite_db)
    q = suite_db.find(Sale).group_by(Sale.customer_id, Sale.status).order_by(Sale.customer_id, Sale.status.desc)
    rows = await q.aggregate(n=Count()).or_raise()
    assert [(r["customer_id"], r["status"], r["n"]) for r in rows] == [
        (7, "paid", 3), (8, "paid", 1), (8, "open", 1), (9, "paid", 1)]
    page = await q.offset(1).limit(2).aggregate(n=Count()).or_raise()
    assert [(r["customer_id"], r["status"]) for r in page] == [(8, "paid"), (8, "open")]


async def test_having_combines_with_group_fields_and_negation(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await (
        suite_db.find(Sale)
        .group_by(Sale.customer_id)
        .having(~(Count() > 2), Sale.customer_id != 9)
        .aggregate(n=Count(), low=Min(Sale.amount))
        .or_raise()
    )
    assert rows == [{"customer_id": 8, "n": 2, "low": Decimal("60.50")}]
    by_avg = await (suite_db.find(Sale).group_by(Sale.customer_id).having(Avg(Sale.qty) >= 1.5)
                    .aggregate(mean=Avg(Sale.qty)).or_raise())
    assert by_avg == [{"customer_id": 7, "mean": 1.5}, {"customer_id": 8, "mean": 4.5}]


async def test_aggregate_misuse_fails_clearly(suite_db: Ommi) -> None:
    grouped = suite_db.find(Sale).group_by(Sale.customer_id)
    listed = await grouped.all()
    assert isinstance(listed, DBFailure) and isinstance(listed.error, errors.QueryError)
    nothing = await grouped.aggregate()
    assert isinstance(nothing, DBFailure) and isinstance(nothing.error, errors.QueryError)
    bad_order = await grouped.order_by(Sale.status).aggregate(n=Count())
    assert isinstance(bad_order, DBFailure) and "not grouped" in str(bad_order.error)
    with pytest.raises(errors.QueryError):
        Sum(Sale.status)
    with pytest.raises(errors.ValidationError):
        Count() > "many"  # noqa: B015


# -- relationships --------------------------------------------------------------------


async def blog(db: Ommi) -> dict[str, Any]:
    ann, bob = await db.add(Writer("Ann"), Writer("Bob")).or_raise()
    a1, a2, a3, orphan = await db.add(
        Article("SQL tips", ann.id), Article("Mongo notes", ann.id), Article("Bob's day", bob.id),
        Article("Anonymous", None),
    ).or_raise()
    remarks = [Remark("great", a1.id, bob.id), Remark("thanks", a1.id, ann.id), Remark("hm", a3.id, ann.id)]
    await db.add(*remarks).or_raise()
    db_tag, life = await db.add(Tag("db"), Tag("life")).or_raise()
    await db.add(ArticleTag(a1.id, db_tag.id), ArticleTag(a2.id, db_tag.id), ArticleTag(a3.id, life.id)).or_raise()
    return {"ann": ann, "bob": bob, "a1": a1, "a2": a2, "a3": a3, "orphan": orphan, "db": db_tag, "life": life}


class StatementCounter:
    def __init__(self, db: Ommi) -> None:
        self.events: list[StatementEvent] = []
        self.remove = db.on_statement(self.events.append)

    def __len__(self) -> int:
        return len(self.events)


async def test_lazy_relations_load_on_await_and_are_cached(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    article = await suite_db.get(Article, b["a1"].id).or_raise()
    writer = await article.writer
    assert writer == b["ann"]
    counter = StatementCounter(suite_db)
    try:
        assert await article.writer == b["ann"]
        assert len(counter) == 0, "a loaded relation is cached on the instance"
        ann = await suite_db.find(Writer.name == "Ann").one().or_raise()
        titles = [a.title for a in await ann.articles]
        assert titles == ["SQL tips", "Mongo notes"]
        assert len(counter) == 2
    finally:
        counter.remove()
    orphan = await suite_db.get(Article, b["orphan"].id).or_raise()
    assert await orphan.writer is None
    assert [r.text for r in await orphan.remarks] == []


async def test_refresh_reloads_a_relation(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    ann = await suite_db.get(Writer, b["ann"].id).or_raise()
    assert len(await ann.articles) == 2
    await suite_db.add(Article("New", ann.id)).or_raise()
    assert len(await ann.articles) == 2
    assert len(await ann.articles.refresh()) == 3
    assert len(await ann.articles) == 3


async def test_added_instances_load_relations_through_the_same_ommi(suite_db: Ommi) -> None:
    [w] = await suite_db.add(Writer("Cy")).or_raise()
    [a] = await suite_db.add(Article("First", w.id)).or_raise()
    assert (await a.writer) == w
    assert [x.title for x in await w.articles] == ["First"]


async def test_relation_on_an_unsaved_instance_fails_clearly(suite_db: Ommi) -> None:
    with pytest.raises(errors.QueryError, match="never added or loaded"):
        await Article("loose", 1).writer


async def test_many_to_many_through_an_association_model(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    a1 = await suite_db.get(Article, b["a1"].id).or_raise()
    assert [t.label for t in await a1.tags] == ["db"]
    tag = await suite_db.find(Tag.label == "db").one().or_raise()
    assert [a.title for a in await tag.articles] == ["SQL tips", "Mongo notes"]
    orphan = await suite_db.get(Article, b["orphan"].id).or_raise()
    assert await orphan.tags == []


async def test_self_reference_tree(suite_db: Ommi) -> None:
    [root] = await suite_db.add(Category("root")).or_raise()
    kids = await suite_db.add(Category("a", root.id), Category("b", root.id)).or_raise()
    [leaf] = await suite_db.add(Category("a1", kids[0].id)).or_raise()
    loaded = await suite_db.get(Category, leaf.id).or_raise()
    parent = await loaded.parent
    assert parent is not None and parent.name == "a"
    grand = await parent.parent
    assert grand is not None and grand.name == "root"
    assert await grand.parent is None
    assert sorted(c.name for c in await grand.children) == ["a", "b"]


async def test_relations_loaded_in_a_transaction(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    async with suite_db.transaction() as tx:
        article = await tx.get(Article, b["a3"].id).or_raise()
        assert (await article.writer) == b["bob"]
    again = await suite_db.get(Article, b["a2"].id).or_raise()
    async with suite_db.transaction() as tx:
        inside = await tx.get(Article, again.id).or_raise()
    assert (await inside.writer) == b["ann"], "after the transaction ends, loads go through its Ommi"


async def test_filter_across_one_reference_in_both_directions(suite_db: Ommi) -> None:
    await blog(suite_db)
    found = await suite_db.find(Article, Writer.name == "Ann").order_by(Article.title).all().or_raise()
    assert [a.title for a in found] == ["Mongo notes", "SQL tips"]
    writers = await suite_db.find(Writer, Article.title.startswith("Bob")).all().or_raise()
    assert [w.name for w in writers] == ["Bob"]
    nobody = await suite_db.find(Article, ~(Writer.name == "Ann")).order_by(Article.title).all().or_raise()
    assert [a.title for a in nobody] == ["Anonymous", "Bob's day"]
    both = await suite_db.find(Article, (Writer.name == "Ann") & Article.title.contains("SQL")).all().or_raise()
    assert [a.title for a in both] == ["SQL tips"]


async def test_filter_two_hops_and_through_an_association(suite_db: Ommi) -> None:
    await blog(suite_db)
    remarks = await suite_db.find(Remark, Article.title == "SQL tips").order_by(Remark.text).all().or_raise()
    assert [r.text for r in remarks] == ["great", "thanks"]
    tagged = await suite_db.find(Article, Tag.label == "db").order_by(Article.title).all().or_raise()
    assert [a.title for a in tagged] == ["Mongo notes", "SQL tips"]
    writers = await suite_db.find(Writer, Tag.label == "life").all().or_raise()
    assert [w.name for w in writers] == ["Bob"]


async def test_filters_across_references_in_count_update_and_delete(suite_db: Ommi) -> None:
    await blog(suite_db)
    assert await suite_db.find(Article, Writer.name == "Ann").count().or_raise() == 2
    assert await suite_db.find(Article, Writer.name == "Bob").update(title="Renamed").or_raise() == 1
    assert await suite_db.find(Article.title == "Renamed").count().or_raise() == 1
    assert await suite_db.find(Remark, Writer.name == "Bob").delete().or_raise() == 1
    assert await suite_db.find(Remark).count().or_raise() == 2


async def test_ambiguous_filter_path_fails_clearly(suite_db: Ommi) -> None:
    from dataclasses import dataclass as _dataclass

    from ommi import Key as _Key
    from ommi import ModelCollection, ReferenceTo, ommi_model

    local = ModelCollection("ambiguous")

    @ommi_model(collection=local)
    @_dataclass
    class Message:
        sender_id: Annotated[int, ReferenceTo("Member.id")]
        receiver_id: Annotated[int, ReferenceTo("Member.id")]
        id: Annotated[int | None, _Key] = None

    @ommi_model(collection=local)
    @_dataclass
    class Member:
        name: str
        id: Annotated[int | None, _Key] = None

    with pytest.raises(errors.QueryError, match="ambiguous"):
        suite_db.find(Message, Member.name == "x")
    with pytest.raises(errors.QueryError, match="no chain"):
        suite_db.find(Message, Person.name == "x")


async def test_include_loads_relations_with_one_query_each(suite_db: Ommi) -> None:
    await blog(suite_db)
    counter = StatementCounter(suite_db)
    try:
        writers = await (suite_db.find(Writer).order_by(Writer.name)
                         .include(Writer.articles, Article.remarks, Article.tags).all().or_raise())
        assert len(counter) == 5, [e.operation for e in counter.events]  # writers, articles, remarks, links, tags
        loaded = {w.name: [a.title for a in await w.articles] for w in writers}
        assert loaded == {"Ann": ["SQL tips", "Mongo notes"], "Bob": ["Bob's day"]}
        sql_tips = (await writers[0].articles)[0]
        assert sorted(r.text for r in await sql_tips.remarks) == ["great", "thanks"]
        assert [t.label for t in await sql_tips.tags] == ["db"]
        assert len(counter) == 5, "awaiting included relations runs no query"
    finally:
        counter.remove()


async def test_include_of_a_single_relation_and_misuse(suite_db: Ommi) -> None:
    await blog(suite_db)
    articles = await suite_db.find(Article).include(Article.writer).order_by(Article.title).all().or_raise()
    writers = [(await a.writer) for a in articles]
    assert [w.name if w else None for w in writers] == [None, "Bob", "Ann", "Ann"]
    bad = await suite_db.find(Writer).include(Article.remarks).all()
    assert isinstance(bad, DBFailure) and isinstance(bad.error, errors.QueryError)


async def test_deleting_a_referenced_row_is_integrity_error(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    result = await suite_db.delete(b["bob"])
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError)
    assert await suite_db.find(Writer).count().or_raise() == 2


# -- lifecycle events -------------------------------------------------------------------


async def test_model_hooks_change_instances_before_they_are_written(suite_db: Ommi) -> None:
    [item] = await suite_db.add(Stamped("a")).or_raise()
    assert item.revision == 1
    item.label = "b"
    await suite_db.save(item).or_raise()
    stored = await suite_db.get(Stamped, item.id).or_raise()
    assert (stored.label, stored.revision) == ("b", 2)


async def test_before_hook_can_cancel_and_nothing_is_stored(suite_db: Ommi) -> None:
    def refuse_minors(person: Person) -> None:
        if person.age < 18:
            raise ValueError("too young")

    remove = suite_db.on("before_add", refuse_minors, model=Person)
    try:
        result = await suite_db.add(Person("Adult", 30), Person("Kid", 5))
        assert isinstance(result, DBFailure) and "refuse_minors" in str(result.error)
        assert isinstance(result.error.__cause__, ValueError)
        assert await suite_db.find(Person).count().or_raise() == 0
    finally:
        remove()
    await suite_db.add(Person("Kid", 5)).or_raise()


async def test_instance_hooks_fire_in_order_with_keys(suite_db: Ommi) -> None:
    seen: list[tuple[str, Any]] = []

    def recorder(event: str) -> Any:
        return lambda person: seen.append((event, person.id))

    removers = [
        suite_db.on(event, recorder(event), model=Person)
        for event in ("before_add", "after_add", "before_save", "after_save", "before_delete", "after_delete")
    ]

    async def async_hook(author: Author) -> None:
        seen.append(("author", author.name))

    removers.append(suite_db.on("after_add", async_hook, model=Author))
    try:
        [p] = await suite_db.add(Person("Hooked", 1)).or_raise()
        await suite_db.add(Author("Ann")).or_raise()
        p.age = 2
        await suite_db.save(p).or_raise()
        await suite_db.delete(p).or_raise()
    finally:
        for remove in removers:
            remove()
    assert seen == [("before_add", None), ("after_add", p.id), ("author", "Ann"), ("before_save", p.id),
                    ("after_save", p.id), ("before_delete", p.id), ("after_delete", p.id)]


@pytest.mark.requires("transactions")
async def test_after_commit_fires_once_per_committed_transaction_only(suite_db: Ommi) -> None:
    committed: list[object] = []
    rolled_back: list[object] = []
    removers = [suite_db.on("after_commit", committed.append), suite_db.on("after_rollback", rolled_back.append)]
    try:
        async with suite_db.transaction() as tx:
            await tx.add(Person("A", 1)).or_raise()
            await tx.add(Person("B", 2)).or_raise()
        assert committed == [tx] and rolled_back == []
        with pytest.raises(RuntimeError):
            async with suite_db.transaction() as failed:
                await failed.add(Person("C", 3)).or_raise()
                raise RuntimeError("undo")
        assert committed == [tx] and rolled_back == [failed]
        await suite_db.add(Person("D", 4)).or_raise()
        assert len(committed) == 1, "plain actions outside a transaction are not transactions"
    finally:
        for remove in removers:
            remove()


@pytest.mark.requires("transactions", "savepoints")
async def test_on_commit_callbacks_follow_the_outermost_transaction(suite_db: Ommi) -> None:
    done: list[str] = []
    async with suite_db.transaction() as tx:
        tx.on_commit(lambda: done.append("outer"))
        async with tx.transaction() as kept:
            kept.on_commit(lambda: done.append("kept"))
        with pytest.raises(RuntimeError):
            async with tx.transaction() as dropped:
                dropped.on_commit(lambda: done.append("dropped"))
                dropped.on_rollback(lambda: done.append("dropped rolled back"))
                raise RuntimeError
        assert done == ["dropped rolled back"]
    assert done == ["dropped rolled back", "outer", "kept"]


# -- schema evolution ----------------------------------------------------------------


def _versions(table: str) -> tuple[Any, ...]:
    """Two versions of one model stored in the same table, as an application evolves."""
    from dataclasses import dataclass as _dc

    from ommi import Index, Key, ModelCollection, Unique, ommi_model

    v1 = ModelCollection(f"{table}-v1")
    v2 = ModelCollection(f"{table}-v2")

    @ommi_model(collection=v1, name=table)
    @_dc
    class ContactV1:
        name: str
        age: int
        legacy: str | None = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=table)
    @_dc
    class ContactV2:
        name: str
        age: int
        nickname: str | None = None
        score: int = 7
        city: Annotated[str | None, Index] = None
        email: Annotated[str | None, Unique] = None
        legacy: str | None = None
        id: Annotated[int | None, Key] = None

    return v1, ContactV1, v2, ContactV2


@pytest.mark.requires("schema_evolution")
async def test_diff_and_sync_create_missing_tables(suite_db: Ommi) -> None:
    v1, ContactV1, _, _ = _versions("EvolveCreate")
    schema = suite_db.schema(v1)
    await schema.delete_models().or_raise()
    try:
        diff = await schema.diff().or_raise()
        assert [(c.kind, c.safe) for c in diff] == [("add_table", True)]
        assert "add_table EvolveCreate" in str(diff)
        applied = await schema.sync().or_raise()
        assert [c.kind for c in applied] == ["add_table"]
        assert list(await schema.diff().or_raise()) == []
        assert str(await schema.diff().or_raise()) == "no differences"
        await suite_db.add(ContactV1("Ann", 30)).or_raise()
        assert await suite_db.find(ContactV1).count().or_raise() == 1
    finally:
        await schema.delete_models().or_raise()


@pytest.mark.requires("schema_evolution")
async def test_sync_applies_additive_changes_and_keeps_rows(suite_db: Ommi) -> None:
    v1, ContactV1, v2, ContactV2 = _versions("EvolveAdd")
    await suite_db.schema(v1).delete_models().or_raise()
    await suite_db.schema(v1).create_models().or_raise()
    try:
        await suite_db.add(ContactV1("Ann", 30, "x"), ContactV1("Bob", 40)).or_raise()
        diff = await suite_db.schema(v2).diff().or_raise()
        kinds = {c.kind for c in diff}
        assert {"add_index", "add_unique"} <= kinds <= {"add_column", "add_index", "add_unique"}
        assert all(c.safe for c in diff) and diff.destructive == []
        await suite_db.schema(v2).sync().or_raise()
        assert list(await suite_db.schema(v2).diff().or_raise()) == []
        rows = await suite_db.find(ContactV2).order_by(ContactV2.name).all().or_raise()
        assert [(r.name, r.age, r.nickname, r.score, r.city, r.email, r.legacy) for r in rows] == [
            ("Ann", 30, None, 7, None, None, "x"), ("Bob", 40, None, 7, None, None, None)]
        await suite_db.add(ContactV2("Cy", 5, "c", 9, "Oslo", "cy@example.com")).or_raise()
        dup = await suite_db.add(ContactV2("Dee", 6, email="cy@example.com"))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
        assert await suite_db.find(ContactV2.city == "Oslo").count().or_raise() == 1
    finally:
        await suite_db.schema(v1).delete_models().or_raise()


@pytest.mark.requires("schema_evolution")
async def test_sync_refuses_destructive_changes_unless_allowed(suite_db: Ommi) -> None:
    from dataclasses import dataclass as _dc

    from ommi import Key, ModelCollection, ommi_model

    v1, ContactV1, _, _ = _versions("EvolveDrop")
    v3 = ModelCollection("EvolveDrop-v3")

    @ommi_model(collection=v3, name="EvolveDrop")
    @_dc
    class ContactV3:
        name: str
        age: int
        id: Annotated[int | None, Key] = None

    await suite_db.schema(v1).delete_models().or_raise()
    await suite_db.schema(v1).create_models().or_raise()
    try:
        await suite_db.add(ContactV1("Ann", 30, "old")).or_raise()
        diff = await suite_db.schema(v3).diff().or_raise()
        if not diff:  # a schemaless store has no columns to drop
            return
        assert [(c.kind, c.column, c.safe) for c in diff] == [("drop_column", "legacy", False)]
        refused = await suite_db.schema(v3).sync()
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.SchemaError)
        assert "drop_column" in str(refused.error) and "legacy" in str(refused.error)
        assert [c.kind for c in await suite_db.schema(v3).diff().or_raise()] == ["drop_column"]
        dropped = await suite_db.schema(v3).sync(allow={"drop_column"})
        if isinstance(dropped, DBFailure):
            # some engines cannot drop a column in place (DuckDB, when an index
            # covers a later column): the refusal is clean and nothing changed
            assert isinstance(dropped.error, (errors.SchemaError, errors.UnsupportedError))
            [kept] = await suite_db.find(ContactV1).all().or_raise()
            assert (kept.name, kept.age, kept.legacy) == ("Ann", 30, "old")
            return
        assert list(await suite_db.schema(v3).diff().or_raise()) == []
        [ann] = await suite_db.find(ContactV3).all().or_raise()
        assert (ann.name, ann.age) == ("Ann", 30)
        bad = await suite_db.schema(v3).sync(allow={"drop_everything"})
        assert isinstance(bad, DBFailure) and "drop_everything" in str(bad.error)
    finally:
        await suite_db.schema(v1).delete_models().or_raise()


__all__ = [name for name in dict(globals()) if name.startswith("test_")]
