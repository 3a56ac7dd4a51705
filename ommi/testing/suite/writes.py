"""Conformance tests: update, save, delete."""

from __future__ import annotations

import pytest

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import (
    Article,
    Membership,
    Person,
    Sample,
    Writer,
)
from ommi.testing.suite._helpers import PEOPLE, error_of, people

# enough instances in one save() that a backend may write them with one statement
MANY = 60


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
    error = result.error
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique"), repr(error)


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


async def test_a_large_save_writes_every_row_back_and_a_key_given_twice_ends_with_the_last(
    suite_db: Ommi,
) -> None:
    stored = await suite_db.add(*(Sample(s=f"row {n}", i=n) for n in range(MANY))).or_raise()
    for n, sample in enumerate(stored):
        sample.s, sample.i = f"saved {n}", None if n % 7 == 0 else -n
    assert await suite_db.save(*stored).or_raise() == stored
    back = await suite_db.find(Sample).order_by(Sample.id).all().or_raise()
    assert [(x.s, x.i) for x in back] == [(f"saved {n}", None if n % 7 == 0 else -n) for n in range(MANY)]
    # one key twice among many: the later instance wins, as with one save() each
    twice = [Sample(id=x.id, s=f"again {n}") for n, x in enumerate(stored)]
    twice.insert(0, Sample(id=stored[3].id, s="first"))
    twice.append(Sample(id=stored[4].id, s="last"))
    await suite_db.save(*twice).or_raise()
    back = await suite_db.find(Sample).order_by(Sample.id).all().or_raise()
    assert [x.s for x in back] == [{4: "last"}.get(n, f"again {n}") for n in range(MANY)]


async def test_a_large_save_of_composite_keys(suite_db: Ommi) -> None:
    stored = await suite_db.add(*(Membership(f"g{n % 3}", n // 3) for n in range(MANY))).or_raise()
    for n, m in enumerate(stored):
        m.role = f"role {n}"
    await suite_db.save(*stored).or_raise()
    for n, m in enumerate(stored):
        assert (await suite_db.get(Membership, (m.group, m.member)).or_raise()).role == f"role {n}"
    # a missing composite key among many: nothing saved
    crossed = [Membership(f"g{n % 3}", n // 3, "x") for n in range(MANY)] + [Membership("g0", MANY, "nobody")]
    assert isinstance(error_of(await suite_db.save(*crossed)), errors.NotFound)
    assert await suite_db.find(Membership.role == "x").count().or_raise() == 0


async def test_a_large_save_with_missing_rows_is_not_found_and_saves_nothing(suite_db: Ommi) -> None:
    stored = await suite_db.add(*(Sample(s=f"row {n}", i=n) for n in range(MANY))).or_raise()
    for sample in stored:
        sample.s = "changed"
    for ghosts in ([Sample(s="ghost", id=555555)], [Sample(s="ghost", id=555555 + k) for k in range(MANY)]):
        result = await suite_db.save(*stored[: MANY // 2], *ghosts, *stored[MANY // 2 :])
        error = error_of(result)
        assert isinstance(error, errors.NotFound) and "555555" in str(error), error
        assert await suite_db.find(Sample.s == "changed").count().or_raise() == 0


@pytest.mark.requires("transactions")
async def test_a_large_save_failing_in_a_transaction_leaves_the_transaction_usable(suite_db: Ommi) -> None:
    stored = await suite_db.add(*(Sample(s=f"row {n}", i=n) for n in range(MANY))).or_raise()
    async with suite_db.transaction() as tx:
        stored[0].s = "before"
        await tx.save(stored[0]).or_raise()
        for sample in stored[1:]:
            sample.s = "refused"
        result = await tx.save(*stored[1:], Sample(s="ghost", id=555555))
        assert isinstance(error_of(result), errors.NotFound)
        for sample in stored[1:]:
            sample.s = "after"
        await tx.save(*stored[1:]).or_raise()
    back = await suite_db.find(Sample).order_by(Sample.id).all().or_raise()
    assert [x.s for x in back] == ["before"] + ["after"] * (MANY - 1)


async def test_a_large_save_with_a_missing_reference_is_refused_and_saves_nothing(suite_db: Ommi) -> None:
    [ann] = await suite_db.add(Writer("Ann")).or_raise()
    stored = await suite_db.add(*(Article(f"a{n}", ann.id) for n in range(MANY))).or_raise()
    for n, article in enumerate(stored):
        article.title = f"changed {n}"
        article.writer_id = None if n % 2 else ann.id
    stored[MANY // 2].writer_id = 987_654
    error = error_of(await suite_db.save(*stored))
    assert isinstance(error, errors.IntegrityError), error
    assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
    assert await suite_db.find(Article.writer_id == None).count().or_raise() == 0  # noqa: E711
    stored[MANY // 2].writer_id = ann.id
    await suite_db.save(*stored).or_raise()
    assert await suite_db.find(Article.writer_id == None).count().or_raise() == MANY // 2  # noqa: E711


@pytest.mark.requires("transactions")
async def test_a_large_save_with_a_missing_reference_in_a_transaction_leaves_it_usable(suite_db: Ommi) -> None:
    [ann] = await suite_db.add(Writer("Ann")).or_raise()
    stored = await suite_db.add(*(Article(f"a{n}", ann.id) for n in range(MANY))).or_raise()
    async with suite_db.transaction() as tx:
        for article in stored:
            article.title = "refused"
        stored[-1].writer_id = 987_654
        error = error_of(await tx.save(*stored))
        assert isinstance(error, errors.IntegrityError) and error.kind == "reference", error
        stored[-1].writer_id = ann.id
        for article in stored:
            article.title = "saved"
        await tx.save(*stored).or_raise()
    assert await suite_db.find(Article.title == "saved").count().or_raise() == MANY


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
