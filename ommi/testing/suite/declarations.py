"""Conformance tests: model libraries and declarations."""

from __future__ import annotations

from ommi import DBFailure, Ommi, errors
from ommi.testing.models import (
    Author,
    Book,
    FrozenPoint,
    Membership,
    Order,
    PetAttrs,
    PetPydantic,
    SlotItem,
)


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
    assert ann.id is not None
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
