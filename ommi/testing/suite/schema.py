"""Conformance tests: schema evolution."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from ommi import DBFailure, Ommi, errors
from ommi.testing.suite._helpers import fresh_tables


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
    async with fresh_tables(suite_db, v1):
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


@pytest.mark.requires("schema_evolution")
async def test_sync_gives_existing_rows_the_exact_default(suite_db: Ommi) -> None:
    """Defaults a SQL literal would spell wrongly (inf, -0.0, a NUL, quotes) reach existing rows exactly."""
    import math
    from dataclasses import dataclass as _dc

    from ommi import Key, ModelCollection, ommi_model

    big = math.inf if suite_db.capabilities >= {"infinite_floats"} else 1e308
    v1, ContactV1, _, _ = _versions("EvolveDefaults")
    v4 = ModelCollection("EvolveDefaults-v4")

    @ommi_model(collection=v4, name="EvolveDefaults")
    @_dc
    class ContactV4:
        name: str
        age: int
        legacy: str | None = None
        top: float = big
        zero: float = -0.0
        note: str = "it's \"quoted\"\x00, with a NUL"
        id: Annotated[int | None, Key] = None

    async with fresh_tables(suite_db, v1):
        await suite_db.add(ContactV1("Ann", 30), ContactV1("Bob", 40)).or_raise()
        await suite_db.schema(v4).sync().or_raise()
        rows = await suite_db.find(ContactV4).order_by(ContactV4.name).all().or_raise()
        assert [(r.name, r.top, r.zero, r.note) for r in rows] == [
            ("Ann", big, 0.0, "it's \"quoted\"\x00, with a NUL"), ("Bob", big, 0.0, "it's \"quoted\"\x00, with a NUL")]
        assert all(type(r.top) is float and type(r.zero) is float and type(r.note) is str for r in rows)
        if suite_db.capabilities >= {"signed_zero"}:
            assert all(math.copysign(1.0, r.zero) == -1.0 for r in rows)


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

    async with fresh_tables(suite_db, v1):
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




@pytest.mark.requires("schema_evolution")
async def test_a_field_missing_from_its_table_never_reads_as_a_value(suite_db: Ommi) -> None:
    """A model gains a field and the table is not migrated: reading it is an error naming the
    column (or, in a document store, the field's absence), never the column's own name; a filter
    on it never matches rows it should not."""
    v1, Old, _, New = _versions("Contact_drift")
    async with fresh_tables(suite_db, v1):
        await suite_db.add(Old("Ann", 31), Old("Bob", 17)).or_raise()
        rows = await suite_db.find(New).all()
        if isinstance(rows, DBFailure):
            assert isinstance(rows.error, (errors.SchemaError, errors.QueryError)), repr(rows.error)
            assert "nickname" in str(rows.error) or "score" in str(rows.error), str(rows.error)
        else:
            assert all(r.nickname != "nickname" for r in rows.value)
        gone = await suite_db.find(New.nickname == "nickname").delete()
        assert isinstance(gone, DBFailure) or gone.value == 0
        assert await suite_db.find(Old).count().or_raise() == 2


__all__ = [name for name in dict(globals()) if name.startswith("test_")]
