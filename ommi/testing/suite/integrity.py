"""Conformance tests: integrity errors say which model, which fields and what kind, alike everywhere.

"Is the username or the email taken?" gets the same answer on every backend:
``IntegrityError.model``, ``.fields`` (ommi field names) and ``.kind``
(``"unique"``, ``"key"``, ``"reference"``, ``"not_null"``), a message in
ommi's terms that never shows the values, and the database's own error as
``__cause__`` (when the database raised one).
"""

from __future__ import annotations

from typing import Any

import pytest

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import Article, ArticleTag, Membership, Person, Tag, Writer

SECRET = "taken-value@example.com"  # noqa: S105 - a value that must not show, not a password


def _integrity(result: Any) -> errors.IntegrityError:
    assert isinstance(result, DBFailure), result
    assert isinstance(result.error, errors.IntegrityError), repr(result.error)
    assert SECRET not in str(result.error)
    return result.error


async def test_a_taken_unique_value_names_the_field(suite_db: Ommi) -> None:
    await suite_db.add(Person("Ann", 1, email=SECRET)).or_raise()
    for result in (
        await suite_db.add(Person("Bob", 2, email=SECRET)),
        await suite_db.add(Person("Cy", 3), Person("Dee", 4, email=SECRET)),
        await suite_db.add(Person("Eve", 5, email="e@example.com"), Person("Fay", 6, email="e@example.com")),
    ):
        error = _integrity(result)
        assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique")
        assert str(error) == "Person.email: value already exists"
    [bob] = await suite_db.add(Person("Bob", 2, email="bob@example.com")).or_raise()
    bob.email = SECRET
    error = _integrity(await suite_db.save(bob))
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique")
    error = _integrity(await suite_db.find(Person.name == "Bob").update(email=SECRET))
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique")


async def test_a_save_of_many_that_takes_a_unique_value_names_the_field_and_saves_nothing(suite_db: Ommi) -> None:
    await suite_db.add(Person("Ann", 1, email=SECRET)).or_raise()
    people = await suite_db.add(*(Person(f"P{i}", i, email=f"p{i}@example.com") for i in range(5))).or_raise()
    for person in people:
        person.age += 100
    people[3].email = SECRET  # one of the five takes Ann's email
    error = _integrity(await suite_db.save(*people))
    assert (error.model, error.fields, error.kind) == (Person, ("email",), "unique")
    assert await suite_db.find(Person.age >= 100).count().or_raise() == 0


async def test_a_taken_key_names_the_key_fields(suite_db: Ommi) -> None:
    await suite_db.add(Person("Ann", 1, id=7), Membership("admins", 1)).or_raise()
    error = _integrity(await suite_db.add(Person("Bob", 2, id=7)))
    assert (error.model, error.fields, error.kind) == (Person, ("id",), "key")
    assert str(error) == "Person.id: value already exists"
    error = _integrity(await suite_db.add(Membership("admins", 1, "owner")))
    assert (error.model, error.fields, error.kind) == (Membership, ("group", "member"), "key")


@pytest.mark.requires("transactions")
async def test_integrity_errors_inside_a_transaction_carry_the_same_details(suite_db: Ommi) -> None:
    await suite_db.add(Person("Ann", 1, email=SECRET, id=7)).or_raise()
    async with suite_db.transaction() as tx:
        error = _integrity(await tx.add(Person("Bob", 2, email=SECRET)))
        assert (error.fields, error.kind) == (("email",), "unique")
        error = _integrity(await tx.add(Person("Cy", 3, id=7)))
        assert (error.fields, error.kind) == (("id",), "key")
        error = _integrity(await tx.add(Person("Dee", 4), Person("Eve", 5, email=SECRET)))
        assert (error.fields, error.kind) == (("email",), "unique")
        await tx.add(Person("Fay", 6)).or_raise()  # still usable after each of them
    assert await suite_db.find(Person).count().or_raise() == 2


async def test_a_missing_reference_and_a_refused_delete_say_so(suite_db: Ommi) -> None:
    error = _integrity(await suite_db.add(Article("orphan", 987_654)))
    assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
    assert str(error) == "Article.writer_id: refers to a row that does not exist"
    [ann] = await suite_db.add(Writer("Ann")).or_raise()
    [article] = await suite_db.add(Article("kept", ann.id)).or_raise()
    article.writer_id = 987_654
    error = _integrity(await suite_db.save(article))
    assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
    error = _integrity(await suite_db.delete(ann))
    assert (error.model, error.fields, error.kind) == (Writer, (), "reference")
    assert str(error).startswith("Writer: still referred to")
    assert await suite_db.find(Writer).count().or_raise() == 1


async def test_an_upsert_with_a_missing_reference_says_so_and_writes_nothing(suite_db: Ommi) -> None:
    error = _integrity(await suite_db.upsert(Article("orphan", 987_654)))
    assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
    assert await suite_db.find(Article).count().or_raise() == 0
    [ann] = await suite_db.add(Writer("Ann")).or_raise()
    [article] = await suite_db.upsert(Article("kept", ann.id)).or_raise()
    assert article.id is not None
    # the update half of an upsert is checked too: the stored row keeps its reference
    error = _integrity(await suite_db.upsert(Article("moved", 987_654, id=article.id)))
    assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
    stored = await suite_db.get(Article, article.id).or_raise()
    assert (stored.title, stored.writer_id) == ("kept", ann.id)
    async with suite_db.transaction() as tx:
        error = _integrity(await tx.upsert(Article("in a block", 987_654)))
        assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
        await tx.upsert(Article("in a block", ann.id)).or_raise()  # the block goes on
    assert await suite_db.find(Article).count().or_raise() == 2


async def test_an_upsert_of_a_composite_key_with_a_missing_reference_names_the_field(suite_db: Ommi) -> None:
    [tag] = await suite_db.add(Tag("kept")).or_raise()
    assert tag.id is not None
    error = _integrity(await suite_db.upsert(ArticleTag(987_654, tag.id)))
    assert (error.model, error.fields, error.kind) == (ArticleTag, ("article_id",), "reference")
    assert await suite_db.find(ArticleTag).count().or_raise() == 0


async def test_an_update_computing_a_reference_is_checked_or_refused(suite_db: Ommi) -> None:
    # a database with foreign keys checks the computed value (the error names the field);
    # where ommi checks references itself it cannot look a computed value up: refused
    ann, bob = await suite_db.add(Writer("Ann"), Writer("Bob")).or_raise()
    assert ann.id is not None and bob.id is not None
    [article] = await suite_db.add(Article("moved", ann.id)).or_raise()
    refused = await suite_db.find(Article).update(writer_id=Article.writer_id + 987_654)
    assert isinstance(refused, DBFailure), refused
    if suite_db.driver.supports("foreign_keys"):
        error = _integrity(refused)
        assert (error.model, error.fields, error.kind) == (Article, ("writer_id",), "reference")
        assert await suite_db.find(Article).update(writer_id=Article.writer_id + (bob.id - ann.id)).or_raise() == 1
        assert (await suite_db.get(Article, article.id).or_raise()).writer_id == bob.id
    else:
        assert isinstance(refused.error, errors.UnsupportedError), repr(refused.error)
        assert str(refused.error).startswith("Article.writer_id refers to another model")
        assert (await suite_db.get(Article, article.id).or_raise()).writer_id == ann.id
    assert await suite_db.find(Writer).count().or_raise() == 2


async def test_a_model_defined_later_that_refers_to_a_row_keeps_it_from_being_deleted(suite_db: Ommi) -> None:
    # a referrer registered after deletes were checked is seen (where ommi checks references
    # itself, it keeps which fields refer to each model until a model is registered)
    from dataclasses import dataclass
    from typing import Annotated

    from ommi import Key, ModelCollection, ReferenceTo, ommi_model

    later = ModelCollection("ommi-conformance-later-referrer")

    @ommi_model(collection=later, name="ommi_later_owner")
    @dataclass
    class Owner:
        name: str
        id: Annotated[int | None, Key] = None

    schema = suite_db.schema(later)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    try:
        first, second = await suite_db.add(Owner("a"), Owner("b")).or_raise()
        await suite_db.delete(first).or_raise()  # nothing refers to owners yet

        @ommi_model(collection=later, name="ommi_later_pet")
        @dataclass
        class Pet:
            name: str
            owner_id: Annotated[int, ReferenceTo(Owner.id)]
            id: Annotated[int | None, Key] = None

        await schema.create_models().or_raise()
        assert second.id is not None
        await suite_db.add(Pet("p", second.id)).or_raise()
        error = _integrity(await suite_db.delete(second))
        assert (error.model, error.kind) == (Owner, "reference")
        assert await suite_db.find(Owner).count().or_raise() == 1
    finally:
        await schema.delete_models().or_raise()
