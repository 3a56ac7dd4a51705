"""Conformance tests: relations that name their reference with ``Via``, and filters across them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pytest

from ommi import Key, LazyMany, LazyOne, ModelCollection, Ommi, ReferenceTo, Via, errors, ommi_model
from ommi.query import Condition
from ommi.testing.models import Draft, Writer
from ommi.testing.suite._helpers import error_of


async def _drafts(db: Ommi) -> dict[str, Writer | Draft]:
    ann, bob, cy = await db.add(Writer("Ann"), Writer("Bob"), Writer("Cy")).or_raise()
    assert ann.id is not None and bob.id is not None and cy.id is not None
    d1, d2, d3 = await db.add(
        Draft("d1", ann.id, editor_id=bob.id),
        Draft("d2", ann.id, editor_id=cy.id),
        Draft("d3", bob.id),
    ).or_raise()
    return {"ann": ann, "bob": bob, "cy": cy, "d1": d1, "d2": d2, "d3": d3}


async def test_via_names_the_reference_each_relation_follows(suite_db: Ommi) -> None:
    s = await _drafts(suite_db)
    d1 = await suite_db.get(Draft, s["d1"].id).or_raise()
    assert (await d1.author) == s["ann"]
    assert (await d1.editor) == s["bob"]
    d3 = await suite_db.get(Draft, s["d3"].id).or_raise()
    assert await d3.editor is None
    bob = await suite_db.get(Writer, s["bob"].id).or_raise()
    assert [d.title for d in await bob.drafts] == ["d3"]
    assert [d.title for d in await bob.edited] == ["d1"]


async def test_include_follows_via(suite_db: Ommi) -> None:
    await _drafts(suite_db)
    writers = await suite_db.find(Writer).order_by(Writer.name).include(Writer.drafts, Writer.edited).all().or_raise()
    got = {w.name: ([d.title for d in await w.drafts], [d.title for d in await w.edited]) for w in writers}
    assert got == {"Ann": (["d1", "d2"], []), "Bob": (["d3"], ["d1"]), "Cy": ([], ["d2"])}
    drafts = await suite_db.find(Draft).order_by(Draft.title).include(Draft.editor).all().or_raise()
    editors = [await d.editor for d in drafts]
    assert [e.name if e is not None else None for e in editors] == ["Bob", "Cy", None]


async def test_filters_name_the_path_with_has(suite_db: Ommi) -> None:
    await _drafts(suite_db)

    async def titles(*preds: Condition[Any]) -> list[str]:
        return sorted(d.title for d in await suite_db.find(Draft, *preds).all().or_raise())

    assert await titles(Draft.editor.has(Writer.name == "Bob")) == ["d1"]
    assert await titles(Draft.author.has(Writer.name == "Bob")) == ["d3"]
    assert await titles(~Draft.editor.has(Writer.name == "Bob")) == ["d2", "d3"]
    assert await titles(Draft.editor.has()) == ["d1", "d2"]
    assert await titles(Draft.author.has(Writer.name == "Ann") & Draft.editor.has(Writer.name == "Cy")) == ["d2"]
    writers = await suite_db.find(Writer, Writer.edited.has(Draft.title == "d2")).all().or_raise()
    assert [w.name for w in writers] == ["Cy"]
    # without a path, the filter is ambiguous and says so
    with pytest.raises(errors.QueryError, match=r"ambiguous.*Draft\.author_id.*Draft\.editor_id.*has\("):
        suite_db.find(Draft, Writer.name == "Bob")


async def test_an_ambiguous_relation_is_a_model_error_naming_the_fields() -> None:
    coll = ModelCollection("ommi-conformance-ambiguous")

    @ommi_model(collection=coll)
    @dataclass
    class Account:
        name: str
        id: Annotated[int | None, Key] = None

    with pytest.raises(errors.ModelError, match=r"Transfer\.source_id, Transfer\.target_id") as caught:

        @ommi_model(collection=coll)
        @dataclass
        class Transfer:
            source_id: Annotated[int, ReferenceTo(Account.id)]
            target_id: Annotated[int, ReferenceTo(Account.id)]
            id: Annotated[int | None, Key] = None

            source: ClassVar[LazyOne[Account]]

    assert "Via" in str(caught.value)

    with pytest.raises(errors.ModelError, match="no ReferenceTo field"):

        @ommi_model(collection=coll)
        @dataclass
        class Refund:
            account_id: Annotated[int, ReferenceTo(Account.id)]
            id: Annotated[int | None, Key] = None

            account: ClassVar[LazyOne[Annotated[Account, Via("acount_id")]]]


async def test_an_ambiguous_many_side_is_refused_at_schema_use(suite_db: Ommi) -> None:
    coll = ModelCollection("ommi-conformance-ambiguous-many")

    @ommi_model(collection=coll)
    @dataclass
    class Member:
        name: str
        id: Annotated[int | None, Key] = None

        payments: ClassVar[LazyMany[Payment]]

    @ommi_model(collection=coll)
    @dataclass
    class Payment:
        payer_id: Annotated[int, ReferenceTo(Member.id)]
        payee_id: Annotated[int, ReferenceTo(Member.id)]
        id: Annotated[int | None, Key] = None

    result = await suite_db.schema(coll).create_models()
    assert isinstance(error_of(result), errors.ModelError)
    assert "Payment.payer_id, Payment.payee_id" in str(error_of(result))
