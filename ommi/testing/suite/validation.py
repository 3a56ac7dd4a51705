"""Conformance tests: the model library's own validation runs on every write.

A pydantic model's constraints and field validators and an attrs class's
validators hold for what ommi stores, however the value got onto the
instance (assignment without ``validate_assignment``, ``model_construct``,
attrs validators switched off) and for ``find(...).update(...)``: the write
fails with ``ValidationError`` naming ``Model.field``, the library's error as
its cause, and nothing is written. So does writing an instance that lacks a
field's value (never set, or deleted), whatever the class's shape.
"""

from __future__ import annotations

import attrs
import pydantic_core

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import (
    Author,
    Book,
    Person,
    PetAttrs,
    PetPydantic,
    SlotItem,
    ValidatedAttrs,
    ValidatedPydantic,
)


def _refused(result: object, where: str, *words: str) -> errors.ValidationError:
    assert isinstance(result, DBFailure), result
    error = result.error
    assert isinstance(error, errors.ValidationError), repr(error)
    assert str(error).startswith(where), str(error)
    for word in words:
        assert word in str(error), (word, str(error))
    return error


async def test_pydantic_constraints_hold_for_add_save_and_update(suite_db: Ommi) -> None:
    [ann] = await suite_db.add(ValidatedPydantic(name="Ann", age=30)).or_raise()

    ann.age = -5  # pydantic does not validate assignment unless the model asks for it
    error = _refused(await suite_db.save(ann), "ValidatedPydantic.age", "greater than or equal to 0")
    assert isinstance(error.__cause__, pydantic_core.ValidationError)
    assert "-5" not in str(error)  # the value stays out of the message (it may be private)

    refused = await suite_db.find(ValidatedPydantic.name == "Ann").update(age=-1)
    _refused(refused, "ValidatedPydantic.age")
    assert (await suite_db.get(ValidatedPydantic, ann.id).or_raise()).age == 30

    _refused(await suite_db.add(ValidatedPydantic.model_construct(name="far too long", age=1)),
             "ValidatedPydantic.name", "at most 8 characters")
    assert await suite_db.find(ValidatedPydantic).count().or_raise() == 1

    assert await suite_db.find(ValidatedPydantic.name == "Ann").update(age=31).or_raise() == 1
    assert (await suite_db.get(ValidatedPydantic, ann.id).or_raise()).age == 31


async def test_pydantic_field_validators_and_item_constraints(suite_db: Ommi) -> None:
    _refused(await suite_db.add(ValidatedPydantic.model_construct(name="Bo", age=1, code="abc", tags=[])),
             "ValidatedPydantic.code", "code must be upper case")
    _refused(await suite_db.add(ValidatedPydantic.model_construct(name="Bo", age=1, tags=["ok", "long"])),
             "ValidatedPydantic.tags[1]", "at most 3 characters")
    _refused(await suite_db.find(ValidatedPydantic).update(code="lower"), "ValidatedPydantic.code")
    [bo] = await suite_db.add(ValidatedPydantic(name="Bo", age=1, code="ABC", tags=["ok"])).or_raise()
    assert (await suite_db.get(ValidatedPydantic, bo.id).or_raise()).code == "ABC"


async def test_attrs_validators_hold_for_add_save_and_update(suite_db: Ommi) -> None:
    with attrs.validators.disabled():  # an instance attrs did not check
        bad = ValidatedAttrs("Rex", -1)
    error = _refused(await suite_db.add(bad), "ValidatedAttrs.age", "attrs validator")
    assert isinstance(error.__cause__, ValueError)
    assert await suite_db.find(ValidatedAttrs).count().or_raise() == 0

    [rex] = await suite_db.add(ValidatedAttrs("Rex", 3)).or_raise()
    _refused(await suite_db.find(ValidatedAttrs.id == rex.id).update(name="much too long"), "ValidatedAttrs.name")
    object.__setattr__(rex, "age", -2)  # past attrs' on_setattr validation
    _refused(await suite_db.save(rex), "ValidatedAttrs.age")
    assert (await suite_db.get(ValidatedAttrs, rex.id).or_raise()).age == 3


async def test_one_invalid_instance_fails_the_whole_add(suite_db: Ommi) -> None:
    good = ValidatedPydantic(name="Ok", age=1)
    bad = ValidatedPydantic.model_construct(name="Bad", age=-1, tags=[])
    _refused(await suite_db.add(good, bad), "ValidatedPydantic.age")
    assert await suite_db.find(ValidatedPydantic).count().or_raise() == 0
    assert good.id is None


async def test_queries_may_compare_with_values_a_write_would_refuse(suite_db: Ommi) -> None:
    # validation is about what is stored; asking for out-of-range rows is fine
    await suite_db.add(ValidatedPydantic(name="Ann", age=30)).or_raise()
    assert await suite_db.find(ValidatedPydantic.age < 0).count().or_raise() == 0
    assert await suite_db.find(ValidatedPydantic.name == "far too long").exists().or_raise() is False


async def test_an_instance_lacking_a_value_is_refused_naming_the_field(suite_db: Ommi) -> None:
    # every class shape: a value never set or deleted is a ValidationError naming the field
    # (a dict-based instance reads the class's query reference there, the others raise
    # AttributeError), and nothing is written
    person = Person("Ann", 30)
    del person.age
    _refused(await suite_db.add(person), "Person.age", "has no value")
    slotted = SlotItem("box")
    del slotted.label
    _refused(await suite_db.add(slotted), "SlotItem.label", "has no value")
    pet = PetAttrs("Rex", 4)
    del pet.legs
    _refused(await suite_db.add(PetAttrs("Tom"), pet), "PetAttrs.legs", "has no value")
    _refused(await suite_db.add(PetPydantic.model_construct(legs=2)), "PetPydantic.name", "has no value")
    assert await suite_db.find(Person).count().or_raise() == 0
    assert await suite_db.find(SlotItem).count().or_raise() == 0
    assert await suite_db.find(PetAttrs).count().or_raise() == 0
    assert await suite_db.find(PetPydantic).count().or_raise() == 0

    [bob] = await suite_db.add(Person("Bob", 40)).or_raise()
    del bob.age
    _refused(await suite_db.save(bob), "Person.age", "has no value")
    assert (await suite_db.get(Person, bob.id).or_raise()).age == 40


async def test_a_bad_instance_among_many_is_refused_as_alone(suite_db: Ommi) -> None:
    # many instances are dumped and checked a column at a time: an instance at fault
    # among them is refused naming its field, as it is when written alone, and nothing is written
    people = [Person(f"p{i}", i) for i in range(10)]
    del people[6].age
    _refused(await suite_db.add(*people), "Person.age", "has no value")
    slotted = [SlotItem(f"s{i}") for i in range(10)]
    del slotted[6].label
    _refused(await suite_db.add(*slotted), "SlotItem.label", "has no value")
    people = [Person(f"p{i}", i) for i in range(10)]
    people[7].age = "seven"  # type: ignore[assignment]
    _refused(await suite_db.add(*people), "Person.age")
    assert await suite_db.find(Person).count().or_raise() == 0
    assert await suite_db.find(SlotItem).count().or_raise() == 0

    stored = await suite_db.add(*(Person(f"q{i}", i) for i in range(10))).or_raise()
    for p in stored:
        p.city = "Oslo"
    stored[8].name = 8  # type: ignore[assignment]
    _refused(await suite_db.save(*stored), "Person.name")
    back = await suite_db.find(Person).order_by(Person.age).all().or_raise()
    assert [(p.name, p.city) for p in back] == [(f"q{i}", None) for i in range(10)]


async def test_an_instance_lacking_a_reference_value_is_refused_naming_the_field(suite_db: Ommi) -> None:
    # also where ommi checks references itself (no foreign keys): the check must not send
    # the class's query reference, read in place of the value, to the database
    [author] = await suite_db.add(Author("Ann")).or_raise()
    assert author.id is not None
    book = Book("Dune", author.id)
    del book.author_id
    _refused(await suite_db.add(book), "Book.author_id", "has no value")
    assert await suite_db.find(Book).count().or_raise() == 0
    [kept] = await suite_db.add(Book("Emma", author.id)).or_raise()
    del kept.author_id
    _refused(await suite_db.save(kept), "Book.author_id", "has no value")
    assert (await suite_db.get(Book, kept.id).or_raise()).author_id == author.id
