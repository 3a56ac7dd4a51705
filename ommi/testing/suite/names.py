"""Conformance tests: models mapped onto names that are not identifiers.

Existing databases have tables and columns called ``Display Name``,
``E-Mail Address`` or ``Größe``. Names are always quoted, so every action works
on them as on plain names, and the schema tools see them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from ommi import Count, DBFailure, Index, Key, ModelCollection, Ommi, StoreAs, Sum, Unique, errors, ommi_model
from ommi.testing.models import LegacyCustomer, LegacyOrderLine
from ommi.testing.suite._helpers import fresh_tables


async def test_every_action_on_awkward_table_and_column_names(suite_db: Ommi) -> None:
    ann, bob, eve = await suite_db.add(
        LegacyCustomer("Ann", "ann@example.com", "Köln", 'she said "hi"; it\'s', 3),
        LegacyCustomer("Bob", None, "Köln", None, 5),
        LegacyCustomer("Ève", "eve@example.com", "Zürich"),
    ).or_raise()
    assert ann.id is not None and len({ann.id, bob.id, eve.id}) == 3

    assert await suite_db.get(LegacyCustomer, ann.id).or_raise() == ann
    assert await suite_db.find(LegacyCustomer.display_name == "Ève").one().or_raise() == eve
    ordered = await suite_db.find(LegacyCustomer).order_by(LegacyCustomer.size.desc).all().or_raise()
    assert [c.display_name for c in ordered] == ["Bob", "Ann", "Ève"]
    assert [c.display_name async for c in suite_db.find(LegacyCustomer.city == "Zürich")] == ["Ève"]

    assert await suite_db.find(LegacyCustomer.city == "Köln").update(size=7).or_raise() == 2
    eve.remark = "-- not a comment"
    await suite_db.save(eve).or_raise()
    assert (await suite_db.get(LegacyCustomer, eve.id).or_raise()).remark == "-- not a comment"

    groups = await (
        suite_db.find(LegacyCustomer).group_by(LegacyCustomer.city).order_by(LegacyCustomer.city)
        .aggregate(n=Count(), total=Sum(LegacyCustomer.size)).or_raise()
    )
    assert groups == [{"city": "Köln", "n": 2, "total": 14}, {"city": "Zürich", "n": 1, "total": 0}]

    clash = await suite_db.add(LegacyCustomer("Ann 2", "ann@example.com"))
    assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)

    assert await suite_db.delete(bob).or_raise() == 1
    assert await suite_db.find(LegacyCustomer).count().or_raise() == 2


async def test_composite_keys_and_references_under_awkward_names(suite_db: Ommi) -> None:
    [ann] = await suite_db.add(LegacyCustomer("Ann")).or_raise()
    assert ann.id is not None
    await suite_db.add(LegacyOrderLine("A-1", 1, ann.id, "tea"), LegacyOrderLine("A-1", 2, ann.id)).or_raise()
    line = await suite_db.get(LegacyOrderLine, ("A-1", 1)).or_raise()
    assert line.item == "tea"
    line.item = "green tea"
    await suite_db.save(line).or_raise()
    assert (await suite_db.get(LegacyOrderLine, ("A-1", 1)).or_raise()).item == "green tea"

    orphan = await suite_db.add(LegacyOrderLine("A-2", 1, 999_999))
    assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
    still_used = await suite_db.delete(ann)
    assert isinstance(still_used, DBFailure) and isinstance(still_used.error, errors.IntegrityError)
    duplicate = await suite_db.add(LegacyOrderLine("A-1", 2, ann.id))
    assert isinstance(duplicate, DBFailure) and isinstance(duplicate.error, errors.IntegrityError)


def _legacy_versions() -> tuple[ModelCollection, Any, ModelCollection, Any]:
    table = "Évolution: a legacy table \u2013 with spaces, ümlauts"  # 52 bytes (an en dash): index names pass 63
    v1, v2 = ModelCollection("names-v1"), ModelCollection("names-v2")

    @ommi_model(collection=v1, name=table)
    @dataclass
    class LegacyV1:
        label: Annotated[str, StoreAs("Display Name")]
        id: Annotated[int | None, Key, StoreAs("Row ID")] = None

    @ommi_model(collection=v2, name=table)
    @dataclass
    class LegacyV2:
        label: Annotated[str, StoreAs("Display Name")]
        region: Annotated[str | None, StoreAs("Region / Bezirk"), Index] = None
        mail: Annotated[str | None, StoreAs("E-Mail Address"), Unique] = None
        kind: Annotated[str | None, StoreAs("group"), Index] = None  # a keyword
        note: Annotated[str | None, StoreAs('Notes, "quoted", it\'s'), Index] = None
        id: Annotated[int | None, Key, StoreAs("Row ID")] = None

    return v1, LegacyV1, v2, LegacyV2


@pytest.mark.requires("schema_evolution")
async def test_schema_tools_see_awkward_names_as_they_are(suite_db: Ommi) -> None:
    v1, LegacyV1, v2, LegacyV2 = _legacy_versions()
    await suite_db.schema(v2).delete_models().or_raise()
    try:
        await suite_db.schema(v1).create_models().or_raise()
        assert list(await suite_db.schema(v1).diff().or_raise()) == []
        await suite_db.add(LegacyV1("kept")).or_raise()

        diff = await suite_db.schema(v2).diff().or_raise()
        changes: set[Any] = {(c.kind, c.column) for c in diff}
        assert {
            ("add_index", "Region / Bezirk"), ("add_unique", "E-Mail Address"), ("add_index", "group"),
            ("add_index", 'Notes, "quoted", it\'s'),
        } <= changes
        assert all(c.safe for c in diff)
        await suite_db.schema(v2).sync().or_raise()
        assert list(await suite_db.schema(v2).diff().or_raise()) == []
        await suite_db.schema(v2).create_models().or_raise()  # idempotent: the long index names are stable

        await suite_db.add(LegacyV2("new", "Mitte", "a@example.com", "k", "n")).or_raise()
        assert await suite_db.find(LegacyV2.kind == "k", LegacyV2.note == "n").count().or_raise() == 1
        clash = await suite_db.add(LegacyV2("other", None, "a@example.com"))
        assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)
        rows: list[Any] = await suite_db.find(LegacyV2).order_by(LegacyV2.label).all().or_raise()
        assert [(r.label, r.region) for r in rows] == [("kept", None), ("new", "Mitte")]
    finally:
        await suite_db.schema(v2).delete_models().or_raise()


async def test_indexes_of_tables_whose_names_run_together_are_each_created(suite_db: Ommi) -> None:
    # "ommi_nm_a_b"."c" and "ommi_nm_a"."b_c" read the same once joined with underscores:
    # each must still get an index of its own, so both fields stay unique
    joined = ModelCollection("ommi-conformance-joined-names")

    @ommi_model(collection=joined, name="ommi_nm_a_b")
    @dataclass
    class Left:
        c: Annotated[str, Unique]
        d: Annotated[int, Index] = 0
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=joined, name="ommi_nm_a")
    @dataclass
    class Right:
        b_c: Annotated[str, Unique]
        b_d: Annotated[int, Index] = 0
        id: Annotated[int | None, Key] = None

    async with fresh_tables(suite_db, joined) as schema:
        await suite_db.add(Left("x"), Right("x")).or_raise()
        for twin in (Left("x"), Right("x")):
            again = await suite_db.add(twin)
            assert isinstance(again, DBFailure) and isinstance(again.error, errors.IntegrityError), again
            assert again.error.kind == "unique" and again.error.model is type(twin)
        assert await schema.diff().or_raise() == []  # the plain indexes of d and b_d are both there
