"""Conformance tests: versioned migrations (``db.migrations(...)``).

Each test writes its migrations into a temporary directory, records them in a
table of its own and works on tables of its own, so tests never see each
other's history.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest

from ommi import DBFailure, Index, Key, ModelCollection, Ommi, ReferenceTo, Unique, errors, ommi_model
from ommi.migrations import Migrations

GATES: dict[str, asyncio.Event] = {}
"""Events a test's data step waits on (the step imports this module to find its gate)."""


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _people(table: str) -> tuple[Any, ...]:
    """Two versions of a model: v2 renames ``name``, adds an indexed optional and a required field."""
    v1, v2 = ModelCollection(f"{table}-v1"), ModelCollection(f"{table}-v2")

    @ommi_model(collection=v1, name=table)
    @dataclass
    class PersonV1:
        name: str
        email: Annotated[str, Unique]
        legacy: str | None = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=table)
    @dataclass
    class PersonV2:
        full_name: str
        email: Annotated[str, Unique]
        city: Annotated[str | None, Index] = None
        age: int = 3
        legacy: str | None = None
        id: Annotated[int | None, Key] = None

    return v1, PersonV1, v2, PersonV2


def _simple(table: str) -> tuple[ModelCollection, Any]:
    models = ModelCollection(f"{table}-simple")

    @ommi_model(collection=models, name=table)
    @dataclass
    class Item:
        label: str
        id: Annotated[int | None, Key] = None

    return models, Item


def _write(directory: Path, mid: str, parent: str, body: str) -> None:
    """A hand-written migration file (a data step, say)."""
    head = f"id = {mid!r}\nparent = {parent!r}\nmessage = {mid!r}\n"
    (directory / f"{mid}.py").write_text(textwrap.dedent(body).replace("HEAD\n", head))


@pytest.mark.requires("schema_evolution")
async def test_make_up_status_down_up_keeps_rows(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigPerson_" + _tag()
    v1, PersonV1, v2, PersonV2 = _people(table)
    m = suite_db.migrations(tmp_path / "migrations", table="mig_" + _tag())
    try:
        first = await m.make("people", v1).or_raise()
        assert first is not None and first.name.startswith("0001_")
        assert await m.upgrade().or_raise() == [first.stem]
        await suite_db.add(PersonV1("Ann", "ann@example.com", "a"), PersonV1("Bob", "bob@example.com")).or_raise()

        # an undeclared rename is a question, never a guess
        undecided = await m.make("v2", v2)
        assert isinstance(undecided, DBFailure) and isinstance(undecided.error, errors.MigrationError)
        assert undecided.error.refused and f"{table}.name -> {table}.full_name" in str(undecided.error)
        second = await m.make("v2", v2, renames={f"{table}.name": "full_name"}).or_raise()
        assert second is not None and await m.check(v2).or_raise() == []

        assert await m.upgrade().or_raise() == [second.stem]
        assert await m.upgrade().or_raise() == []
        rows = await suite_db.find(PersonV2).order_by(PersonV2.email).all().or_raise()
        assert [(p.full_name, p.email, p.city, p.age, p.legacy) for p in rows] == [
            ("Ann", "ann@example.com", None, 3, "a"), ("Bob", "bob@example.com", None, 3, None)]
        assert [(s.id, s.state) for s in await m.status().or_raise()] == [
            (first.stem, "applied"), (second.stem, "applied")]
        diff = await suite_db.schema(v2).diff().or_raise()
        assert list(diff) == [], str(diff)
        dup = await suite_db.add(PersonV2("Cy", "ann@example.com"))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)

        assert await m.downgrade().or_raise() == [second.stem]
        rows1 = await suite_db.find(PersonV1).order_by(PersonV1.email).all().or_raise()
        assert [(p.name, p.email, p.legacy) for p in rows1] == [
            ("Ann", "ann@example.com", "a"), ("Bob", "bob@example.com", None)]
        assert [s.state for s in await m.status().or_raise()] == ["applied", "pending"]
        assert list(await suite_db.schema(v1).diff().or_raise()) == []

        assert await m.upgrade().or_raise() == [second.stem]
        again = await suite_db.find(PersonV2).order_by(PersonV2.email).all().or_raise()
        assert [(p.full_name, p.age) for p in again] == [("Ann", 3), ("Bob", 3)]
    finally:
        await m.downgrade("base")
        await suite_db.schema(v2).delete_models()


@pytest.mark.requires("schema_evolution")
async def test_renamed_model_keeps_rows_and_references(suite_db: Ommi, tmp_path: Path) -> None:
    tag = _tag()
    author, writer, book = f"MigAuthor_{tag}", f"MigWriter_{tag}", f"MigBook_{tag}"
    v1, v2 = ModelCollection(f"{tag}-1"), ModelCollection(f"{tag}-2")

    @ommi_model(collection=v1, name=author)
    @dataclass
    class Author:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v1, name=book)
    @dataclass
    class Book:
        title: str
        author_id: Annotated[int, ReferenceTo(Author.id)]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=writer)
    @dataclass
    class Writer:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=book)
    @dataclass
    class Book2:
        title: str
        author_id: Annotated[int, ReferenceTo(Writer.id)]
        id: Annotated[int | None, Key] = None

    m = suite_db.migrations(tmp_path / "m", table="mig_" + tag)
    try:
        await m.make("authors", v1).or_raise()
        await m.upgrade().or_raise()
        [ann] = await suite_db.add(Author("Ann")).or_raise()
        assert ann.id is not None
        await suite_db.add(Book("Dune", ann.id)).or_raise()
        await m.make("writers", v2, renames={author: writer}).or_raise()
        assert await m.check(v2).or_raise() == []
        await m.upgrade().or_raise()
        [w] = await suite_db.find(Writer).all().or_raise()
        assert w.name == "Ann"
        [b] = await suite_db.find(Book2.author_id == w.id).all().or_raise()
        assert b.title == "Dune"
        missing = await suite_db.find(Author).all()
        assert isinstance(missing, DBFailure) and isinstance(missing.error, errors.SchemaError)
        await m.downgrade().or_raise()
        assert [a.name for a in await suite_db.find(Author).all().or_raise()] == ["Ann"]
        assert [x.title for x in await suite_db.find(Book.author_id == ann.id).all().or_raise()] == ["Dune"]
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_altering_a_referenced_model_keeps_the_references(suite_db: Ommi, tmp_path: Path) -> None:
    tag = _tag()
    parent, child = f"MigParent_{tag}", f"MigChild_{tag}"
    v1, v2 = ModelCollection(f"{tag}-1"), ModelCollection(f"{tag}-2")

    @ommi_model(collection=v1, name=parent)
    @dataclass
    class Parent:
        name: str | None = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v1, name=child)
    @dataclass
    class Child:
        parent_id: Annotated[int, ReferenceTo(Parent.id)]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=parent)
    @dataclass
    class Parent2:
        name: str = "?"
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=child)
    @dataclass
    class Child2:
        parent_id: Annotated[int, ReferenceTo(Parent2.id)]
        id: Annotated[int | None, Key] = None

    m = suite_db.migrations(tmp_path / "m", table="mig_" + tag)
    try:
        await m.make("family", v1).or_raise()
        await m.upgrade().or_raise()
        [p1, p2] = await suite_db.add(Parent("Ann"), Parent()).or_raise()
        assert p1.id is not None and p2.id is not None
        await suite_db.add(Child(p1.id), Child(p2.id)).or_raise()
        await m.make("names required", v2).or_raise()
        await m.upgrade().or_raise()
        assert sorted(p.name for p in await suite_db.find(Parent2).all().or_raise()) == ["?", "Ann"]
        assert await suite_db.find(Child2).count().or_raise() == 2
        orphan = await suite_db.add(Child2(10**9))
        assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
        await m.downgrade().or_raise()
        assert await suite_db.find(Child).count().or_raise() == 2
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_added_required_fields_get_their_backfill_exactly(suite_db: Ommi, tmp_path: Path) -> None:
    import math
    from datetime import datetime

    table = "MigFill_" + _tag()
    models, Item = _simple(table)
    filled = ModelCollection(f"{table}-filled")

    @ommi_model(collection=filled, name=table)
    @dataclass
    class Filled:
        label: str
        top: float
        zero: float
        quote: str
        since: datetime
        id: Annotated[int | None, Key] = None

    d = tmp_path / "m"
    m = suite_db.migrations(d, table="mig_" + _tag())
    try:
        first = await m.make("items", models).or_raise()
        assert first is not None
        await m.upgrade().or_raise()
        await suite_db.add(Item("one"), Item("two")).or_raise()
        # values a SQL literal would spell wrongly are bound
        top = math.inf if suite_db.driver.supports("infinite_floats") else 1e308
        _write(d, "0002_fill", first.stem, f"""
            from datetime import datetime
            from ommi.migrations import AddField, Field

            HEAD

            operations = [
                AddField({table!r}, Field("top", "float"), backfill=float({str(top)!r})),
                AddField({table!r}, Field("zero", "float"), backfill=-0.0),
                AddField({table!r}, Field("quote", "str"), backfill="it's 'quoted'"),
                AddField({table!r}, Field("since", "datetime"), backfill=datetime(2020, 2, 29, 12, 30, 1, 5)),
            ]
        """)
        await m.upgrade().or_raise()
        rows = await suite_db.find(Filled).all().or_raise()
        assert sorted(r.label for r in rows) == ["one", "two"]
        for r in rows:
            assert r.top == top and r.zero == 0.0
            assert r.quote == "it's 'quoted'" and r.since == datetime(2020, 2, 29, 12, 30, 1, 5)
        assert await m.check(filled).or_raise() == []
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_data_step_runs_once_and_sees_the_models_of_its_step(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigItem_" + _tag()
    models, Item = _simple(table)
    d = tmp_path / "m"
    m = suite_db.migrations(d, table="mig_" + _tag())
    try:
        first = await m.make("items", models).or_raise()
        assert first is not None
        _write(d, "0002_seed", first.stem, f"""
            from ommi.migrations import RunData

            HEAD

            async def forward(tx):
                Item = tx.models[{table!r}]
                await tx.add(Item(label="seeded")).or_raise()

            async def backward(tx):
                Item = tx.models.{table}
                await tx.find(Item.label == "seeded").delete().or_raise()

            operations = [RunData(forward, backward)]
        """)
        assert await m.upgrade().or_raise() == [first.stem, "0002_seed"]
        assert await m.upgrade().or_raise() == []
        assert [i.label for i in await suite_db.find(Item).all().or_raise()] == ["seeded"]
        assert await m.downgrade().or_raise() == ["0002_seed"]
        assert await suite_db.find(Item).count().or_raise() == 0
        await m.upgrade().or_raise()
        assert await suite_db.find(Item).count().or_raise() == 1
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_failed_migration_leaves_the_previous_version_and_status_tells(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigFail_" + _tag()
    models, Item = _simple(table)
    d = tmp_path / "m"
    m = suite_db.migrations(d, table="mig_" + _tag())
    step = """
        from ommi.migrations import AddField, Field, RunData, noop

        HEAD

        async def forward(tx):
            Item = tx.models[TABLE]
            await tx.add(Item(label="from the step", note="n")).or_raise()
            FAIL

        operations = [
            AddField(TABLE, Field("note", "str", nullable=True)),
            RunData(forward, noop),
        ]
    """.replace("TABLE", repr(table))
    try:
        first = await m.make("items", models).or_raise()
        assert first is not None
        await m.upgrade().or_raise()
        await suite_db.add(Item("kept")).or_raise()
        _write(d, "0002_note", first.stem, step.replace("FAIL", "raise RuntimeError('the step broke')"))
        failed = await m.upgrade()
        assert isinstance(failed, DBFailure) and isinstance(failed.error, errors.MigrationError)
        message = str(failed.error)
        assert "0002_note" in message and "operation 2" in message and "the step broke" in message
        [_, second] = await m.status().or_raise()
        if "transactional_schema" in suite_db.capabilities:
            # nothing half-applied: no new column, no row from the step
            assert (second.state, second.steps) == ("pending", 0)
            assert list(await suite_db.schema(models).diff().or_raise()) == []
        else:
            # the schema change stayed and is recorded; the data step rolled back
            assert (second.state, second.steps, second.total) == ("partial", 1, 2)
        assert [i.label for i in await suite_db.find(Item).all().or_raise()] == ["kept"]

        _write(d, "0002_note", first.stem, step.replace("FAIL", ""))
        assert await m.upgrade().or_raise() == ["0002_note"]
        assert [s.state for s in await m.status().or_raise()] == ["applied", "applied"]
        assert sorted(i.label for i in await suite_db.find(Item).all().or_raise()) == ["from the step", "kept"]
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_concurrent_upgrades_apply_each_migration_once(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigOnce_" + _tag()
    models, Item = _simple(table)
    d = tmp_path / "m"
    record = "mig_" + _tag()
    first = await Migrations(d).make("items", models).or_raise()
    assert first is not None
    _write(d, "0002_once", first.stem, f"""
        import asyncio
        from ommi.migrations import RunData, noop

        HEAD

        async def forward(tx):
            await asyncio.sleep(0.05)  # keep the lock long enough for the other run to queue
            await tx.add(tx.models[{table!r}](label="once")).or_raise()

        operations = [RunData(forward, noop)]
    """)
    runs = [suite_db.migrations(d, table=record) for _ in range(3)]
    try:
        results = await asyncio.gather(*(r.upgrade().or_raise() for r in runs))
        applied = [mid for result in results for mid in result]
        assert sorted(applied) == [first.stem, "0002_once"]
        assert [i.label for i in await suite_db.find(Item).all().or_raise()] == ["once"]
    finally:
        await runs[0].downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_a_held_lock_makes_another_run_wait_then_give_up(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigLock_" + _tag()
    models, _ = _simple(table)
    d = tmp_path / "m"
    gate = _tag()
    GATES[gate] = asyncio.Event()
    record = "mig_" + _tag()
    first = await Migrations(d).make("items", models).or_raise()
    assert first is not None
    _write(d, "0002_wait", first.stem, f"""
        from ommi.migrations import RunData, noop
        from ommi.testing.suite.migrations import GATES

        HEAD

        async def forward(tx):
            await GATES[{gate!r}].wait()

        operations = [RunData(forward, noop)]
    """)
    holder = asyncio.create_task(suite_db.migrations(d, table=record, lock_timeout=30).upgrade().or_raise())
    try:
        for _ in range(200):  # until the holder has its lock
            await asyncio.sleep(0.02)
            if any(s.state == "applied" for s in await suite_db.migrations(d, table=record).status().or_raise()):
                break
        waiter = await suite_db.migrations(d, table=record, lock_timeout=0.3).upgrade()
        assert isinstance(waiter, DBFailure) and isinstance(waiter.error, errors.MigrationError)
        assert "holds the lock" in str(waiter.error)
        GATES[gate].set()
        assert await holder == [first.stem, "0002_wait"]
        assert await suite_db.migrations(d, table=record).upgrade().or_raise() == []
    finally:
        GATES[gate].set()
        await asyncio.gather(holder, return_exceptions=True)
        await suite_db.migrations(d, table=record).downgrade("base")
        del GATES[gate]


@pytest.mark.requires("schema_evolution")
async def test_down_refuses_to_lose_data_unless_the_file_allows_it(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigDrop_" + _tag()
    v1, PersonV1, _, _ = _people(table)
    v3 = ModelCollection(f"{table}-v3")

    @ommi_model(collection=v3, name=table)
    @dataclass
    class PersonV3:
        name: str
        email: Annotated[str, Unique]
        id: Annotated[int | None, Key] = None

    d = tmp_path / "m"
    m = suite_db.migrations(d, table="mig_" + _tag())
    try:
        await m.make("people", v1).or_raise()
        second = await m.make("drop legacy", v3).or_raise()
        assert second is not None and "DropField" in second.read_text()
        await m.upgrade().or_raise()
        refused = await m.downgrade()
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.MigrationError)
        assert refused.error.refused and "legacy" in str(refused.error) and "nothing was changed" in str(refused.error)
        assert [s.state for s in await m.status().or_raise()] == ["applied", "applied"]

        await suite_db.add(PersonV3("Ann", "ann@example.com")).or_raise()
        drop = f'DropField("{table}", "legacy"'
        second.write_text(second.read_text().replace(drop + ")", drop + ", reversible=True)"))
        assert await m.downgrade().or_raise() == [second.stem]
        [ann] = await suite_db.find(PersonV1).all().or_raise()
        assert (ann.name, ann.legacy) == ("Ann", None)
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_altered_fields_round_trip(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigAlter_" + _tag()
    v1, v2 = ModelCollection(f"{table}-1"), ModelCollection(f"{table}-2")

    @ommi_model(collection=v1, name=table)
    @dataclass
    class Before:
        label: str
        score: int
        note: str | None = None
        code: str | None = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=table)
    @dataclass
    class After:
        label: Annotated[str, Index]
        score: float
        note: str = "none"
        code: Annotated[str | None, Unique] = None
        id: Annotated[int | None, Key] = None

    m = suite_db.migrations(tmp_path / "m", table="mig_" + _tag())
    try:
        await m.make("before", v1).or_raise()
        await m.upgrade().or_raise()
        await suite_db.add(Before("a", 3, None, "x"), Before("b", 4, "n")).or_raise()
        second = await m.make("after", v2).or_raise()
        assert second is not None
        text = second.read_text()
        assert "AlterField" in text and "AddUnique" in text and "AddIndex" in text and 'backfill="none"' in text
        await m.upgrade().or_raise()
        rows = await suite_db.find(After).order_by(After.label).all().or_raise()
        assert [(r.label, r.score, r.note, r.code) for r in rows] == [("a", 3.0, "none", "x"), ("b", 4.0, "n", None)]
        assert all(type(r.score) is float for r in rows)
        diff = await suite_db.schema(v2).diff().or_raise()
        assert str(diff) == "no differences", str(diff)
        dup = await suite_db.add(After("c", 1.0, code="x"))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)

        await m.downgrade().or_raise()
        back = await suite_db.find(Before).order_by(Before.label).all().or_raise()
        assert [(r.label, r.score, r.note) for r in back] == [("a", 3, "none"), ("b", 4, "n")]
        assert all(type(r.score) is int for r in back)
        assert list(await suite_db.schema(v1).diff().or_raise()) == []
        await suite_db.add(Before("c", 1, code="x")).or_raise()  # no longer unique
    finally:
        await m.downgrade("base")


@pytest.mark.requires("schema_evolution")
async def test_targets_and_a_history_the_files_do_not_describe(suite_db: Ommi, tmp_path: Path) -> None:
    tag = _tag()
    d, record = tmp_path / "m", "mig_" + tag
    m = suite_db.migrations(d, table=record)
    tables = [f"MigT{n}_{tag}" for n in range(3)]
    collection = ModelCollection(tag)
    try:
        for n, table in enumerate(tables):  # one more model per migration
            @ommi_model(collection=collection, name=table)
            @dataclass
            class Model:
                label: str
                id: Annotated[int | None, Key] = None

            await m.make(f"model {n}", collection).or_raise()
        ids = [x.id for x in m.chain()]
        assert await m.upgrade(ids[0]).or_raise() == ids[:1]
        assert await m.upgrade("0002").or_raise() == ids[1:2]  # a number names its migration
        assert await m.upgrade().or_raise() == ids[2:]
        assert await m.downgrade(steps=2).or_raise() == [ids[2], ids[1]]
        assert await m.upgrade().or_raise() == ids[1:]
        assert await m.downgrade(ids[0]).or_raise() == [ids[2], ids[1]]  # the target stays applied
        assert [s.state for s in await m.status().or_raise()] == ["applied", "pending", "pending"]
        bad = await m.upgrade("0009")
        assert isinstance(bad, DBFailure) and "no migration '0009'" in str(bad.error)

        # another directory's view of the same record table
        other = suite_db.migrations(tmp_path / "elsewhere", table=record)
        assert [(s.id, s.state) for s in await other.status().or_raise()] == [(ids[0], "unknown")]
        refused = await other.upgrade()
        assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.MigrationError)
        assert ids[0] in str(refused.error) and "no file" in str(refused.error)
    finally:
        await m.downgrade("base")


async def test_sql_shows_what_upgrade_would_run_or_says_why_not(suite_db: Ommi, tmp_path: Path) -> None:
    table = "MigSql_" + _tag()
    models, _ = _simple(table)
    m = suite_db.migrations(tmp_path / "m", table="mig_" + _tag())
    first = await m.make("items", models).or_raise()
    assert first is not None
    shown = await m.sql()
    if isinstance(shown, DBFailure):  # a database without a statement language
        assert isinstance(shown.error, errors.UnsupportedError)
        return
    text = "\n".join(shown.or_raise())
    assert first.stem in text and table in text and "CREATE TABLE" in text.upper()
    assert [s.state for s in await m.status().or_raise()] == ["pending"]  # nothing ran


__all__ = [name for name in dict(globals()) if name.startswith("test_")]
