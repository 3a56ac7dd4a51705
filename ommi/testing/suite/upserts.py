"""Conformance tests: upsert (insert, or update the row a key or unique field clashes with)."""

from __future__ import annotations

from ommi import Ommi, errors
from ommi.testing.models import Counter, Membership, Person, Ticket
from ommi.testing.suite._helpers import error_of, fresh_tables, together


async def test_upsert_by_key_inserts_then_updates(suite_db: Ommi) -> None:
    got = await suite_db.upsert(Counter("a", 1), Counter("b", 2)).or_raise()
    assert [c.name for c in got] == ["a", "b"]
    await suite_db.upsert(Counter("a", 10)).or_raise()
    rows = await suite_db.find(Counter).order_by(Counter.name).values(Counter.name, Counter.n).all().or_raise()
    assert rows == [("a", 10), ("b", 2)]


async def test_upsert_with_a_composite_key(suite_db: Ommi) -> None:
    await suite_db.upsert(Membership("g", 1, "member")).or_raise()
    await suite_db.upsert(Membership("g", 1, "admin"), Membership("g", 2)).or_raise()
    rows = await suite_db.find(Membership).order_by(Membership.member).values(Membership.member, Membership.role).all()
    assert rows.or_raise() == [(1, "admin"), (2, "member")]


async def test_upsert_on_a_unique_field_writes_the_stored_key_back(suite_db: Ommi) -> None:
    (alice,) = await suite_db.upsert(Person("Alice", 31, "alice@example.com"), on=Person.email).or_raise()
    assert alice.id is not None
    again = Person("Alice B.", 32, "alice@example.com")
    await suite_db.upsert(again, on=Person.email).or_raise()
    assert again.id == alice.id
    stored = await suite_db.get(Person, alice.id).or_raise()
    assert (stored.name, stored.age, stored.email) == ("Alice B.", 32, "alice@example.com")
    # a new email inserts, with a generated key; NULL clashes with nothing
    bob, nobody, nobody2 = await suite_db.upsert(
        Person("Bob", 17, "bob@example.com"), Person("N", 1), Person("N", 2), on=Person.email
    ).or_raise()
    assert len({bob.id, nobody.id, nobody2.id, alice.id}) == 4
    assert await suite_db.find(Person).count().or_raise() == 4
    # an updated row takes every other field, NULLs included
    await suite_db.upsert(Person("Bob", 18, "bob@example.com", city=None), on=Person.email).or_raise()
    assert (await suite_db.get(Person, bob.id).or_raise()).age == 18


async def test_upsert_by_generated_key(suite_db: Ommi) -> None:
    (p,) = await suite_db.upsert(Person("P", 1)).or_raise()
    assert p.id is not None
    p.age = 2
    await suite_db.upsert(p).or_raise()
    assert (await suite_db.get(Person, p.id).or_raise()).age == 2
    assert await suite_db.find(Person).count().or_raise() == 1


async def test_upsert_of_a_model_of_only_its_generated_key(suite_db: Ommi) -> None:
    # without a key there is nothing to write but the row itself, which cannot clash
    (new,) = await suite_db.upsert(Ticket()).or_raise()
    assert new.id is not None
    again = await suite_db.upsert(Ticket(), Ticket(id=new.id), Ticket()).or_raise()
    assert again[1].id == new.id and None not in {t.id for t in again}
    assert len({t.id for t in again}) == 3
    async with suite_db.transaction() as tx:
        (inside,) = await tx.upsert(Ticket()).or_raise()
    stored = {t.id for t in await suite_db.find(Ticket).all().or_raise()}
    assert stored == {*(t.id for t in again), inside.id}
    assert len(stored) == 4


async def test_upsert_refuses_what_cannot_clash(suite_db: Ommi) -> None:
    for on in (Person.name, Counter.name, (Person.email, Person.name)):
        result = await suite_db.upsert(Person("x", 1), on=on)
        assert isinstance(error_of(result), errors.QueryError)
    assert await suite_db.find(Person).count().or_raise() == 0


async def test_upsert_is_all_or_nothing_and_checks_other_uniques(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, "a@x"), Person("B", 2, "b@x")).or_raise()
    # the second row clashes on the key with nothing, but takes A's email: nothing is stored
    result = await suite_db.upsert(Person("C", 3, "c@x"), Person("D", 4, "a@x", id=999))
    error = error_of(result)
    assert isinstance(error, errors.IntegrityError)
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique"), repr(error)
    assert await suite_db.find(Person).count().or_raise() == 2


async def test_concurrent_upserts_of_one_key(suite_db: Ommi) -> None:
    async def put(i: int) -> None:
        await suite_db.upsert(Counter("same", i)).or_raise()

    await together(*(put(i) for i in range(10)))
    assert await suite_db.find(Counter).count().or_raise() == 1


async def test_upsert_in_a_transaction_rolls_back(suite_db: Ommi) -> None:
    await suite_db.add(Counter("k", 1)).or_raise()
    try:
        async with suite_db.transaction() as tx:
            await tx.upsert(Counter("k", 5), Counter("new", 1)).or_raise()
            assert (await tx.get(Counter, "k").or_raise()).n == 5
            raise RuntimeError("undo")
    except RuntimeError:
        pass
    assert await suite_db.find(Counter).values(Counter.name, Counter.n).all().or_raise() == [("k", 1)]


async def test_upsert_on_a_unique_field_gives_explicit_keys_the_stored_one(suite_db: Ommi) -> None:
    # the instance names a key of its own, but the row its email clashes with has another:
    # after the update, the instance holds the stored row's key, on every backend
    (first,) = await suite_db.upsert(Person("Ann", 30, "ann@example.com", id=100), on=Person.email).or_raise()
    assert first.id == 100
    second = Person("Ann B.", 31, "ann@example.com", id=200)
    await suite_db.upsert(second, on=Person.email).or_raise()
    assert second.id == 100
    assert [(p.id, p.name) for p in await suite_db.find(Person).all().or_raise()] == [(100, "Ann B.")]


async def test_upsert_on_a_unique_field_of_a_model_with_a_chosen_key(suite_db: Ommi) -> None:
    from dataclasses import dataclass
    from typing import Annotated

    from ommi import Key, ModelCollection, Unique, ommi_model

    coll = ModelCollection("ommi-conformance-upsert-chosen-keys")

    @ommi_model(collection=coll, name="ommi_upsert_sku")
    @dataclass
    class Product:
        sku: Annotated[str, Key]
        barcode: Annotated[str, Unique]
        price: int

    async with fresh_tables(suite_db, coll):
        await suite_db.upsert(Product("A-1", "0001", 5), on=Product.barcode).or_raise()
        renamed = Product("A-2", "0001", 7)  # same barcode, another sku: the stored row is updated
        await suite_db.upsert(renamed, on=Product.barcode).or_raise()
        assert renamed.sku == "A-1"
        assert [(p.sku, p.price) for p in await suite_db.find(Product).all().or_raise()] == [("A-1", 7)]


async def test_an_upsert_clashing_on_another_unique_field_names_it_not_the_row_it_rewrites(suite_db: Ommi) -> None:
    ann, _ = await suite_db.add(Person("A", 1, "a@x"), Person("B", 2, "b@x")).or_raise()
    # Ann rewritten with her own email is no clash; a new row taking Bob's email is
    result = await suite_db.upsert(Person("Ann", 1, "a@x", id=ann.id), Person("C", 3, "b@x"))
    error = error_of(result)
    assert isinstance(error, errors.IntegrityError)
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique"), repr(error)
    assert sorted(p.name for p in await suite_db.find(Person).all().or_raise()) == ["A", "B"]
