"""Migrations without a database: planning (make, check), migration files, and the history they form.

What a migration does to a database is in the conformance suite
(ommi/testing/suite/migrations.py) and, through the command, in test_cli.py.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pytest

from ommi import DBFailure, Index, Key, ModelCollection, ReferenceTo, StoreAs, Unique, errors, ommi_model
from ommi._migration_state import State
from ommi.migrations import (
    AddField,
    AddIndex,
    AlterField,
    CreateModel,
    DropField,
    DropModel,
    Field,
    Migrations,
    RenameField,
    RenameModel,
    RunData,
)


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def _shop(user: str, order: str, *, version: int = 1) -> ModelCollection:
    """Orders refer to users; the collection lists the order first (make must create users first)."""
    models = ModelCollection(f"shop-{version}")

    @ommi_model(collection=models, name=order)
    @dataclass
    class Order:
        user_id: Annotated[int, ReferenceTo(f"{user}.id")]
        total: float
        id: Annotated[int | None, Key] = None

    if version == 1:

        @ommi_model(collection=models, name=user)
        @dataclass
        class User:
            name: str
            email: Annotated[str, Unique]
            id: Annotated[int | None, Key] = None

    else:

        @ommi_model(collection=models, name=user)
        @dataclass
        class User2:
            full_name: str
            email: Annotated[str, Unique]
            nickname: Annotated[str | None, Index] = None
            id: Annotated[int | None, Key] = None

    return models


async def test_first_migration_creates_models_with_references_first(tmp_path: Path) -> None:
    user, order = _name("User"), _name("Order")
    m = Migrations(tmp_path)
    path = await m.make("initial", _shop(user, order)).or_raise()
    assert path is not None and path.name == "0001_initial.py"
    [first] = m.chain()
    assert (first.id, first.parent, first.message) == ("0001_initial", None, "initial")
    assert [type(op) for op in first.operations] == [CreateModel, CreateModel]
    assert [op.name for op in first.operations] == [user, order]  # type: ignore[attr-defined]
    assert Field("email", "str", unique=True) in first.operations[0].fields  # type: ignore[attr-defined]
    assert Field("user_id", "int", references=f"{user}.id") in first.operations[1].fields  # type: ignore[attr-defined]
    assert await m.check(_shop(user, order)).or_raise() == []
    assert await m.make("again", _shop(user, order)).or_raise() is None  # nothing changed: nothing written
    assert len(m.chain()) == 1


async def test_check_lists_what_a_model_change_needs(tmp_path: Path) -> None:
    user, order = _name("User"), _name("Order")
    m = Migrations(tmp_path)
    await m.make("initial", _shop(user, order)).or_raise()
    missing = await m.check(_shop(user, order, version=2)).or_raise()
    described = [str(op) for op in missing]
    # the rename is only a possibility: check lists it as a drop and an add
    assert f"add field {user}.full_name (str)" in described
    assert f"drop field {user}.name" in described
    assert f"add field {user}.nickname (str | None, index)" in described


async def test_renames_are_declared_asked_or_refused_never_guessed(tmp_path: Path) -> None:
    user, order = _name("User"), _name("Order")
    m = Migrations(tmp_path)
    await m.make("initial", _shop(user, order)).or_raise()
    v2 = _shop(user, order, version=2)

    refused = await m.make("v2", v2)
    assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.MigrationError)
    assert refused.error.refused and f"field: {user}.name -> {user}.full_name" in str(refused.error)
    assert len(m.chain()) == 1  # nothing written

    questions: list[str] = []

    def no(question: str) -> bool:
        questions.append(question)
        return False

    path = await m.make("v2", v2, ask=no).or_raise()
    assert path is not None
    assert questions == [f"field: was {user}.name renamed to {user}.full_name?"]
    ops = m.chain()[-1].operations
    assert [type(op) for op in ops] == [AddField, AddField, DropField]
    path.unlink()

    path = await m.make("v2", v2, ask=lambda q: True).or_raise()
    assert path is not None
    ops = m.chain()[-1].operations
    assert ops[0] == RenameField(user, "name", "full_name")
    assert "RenameField" in path.read_text()
    path.unlink()

    dropped = await m.make("v2", v2, drops={f"{user}.name"}).or_raise()
    assert dropped is not None and "RenameField" not in dropped.read_text()
    dropped.unlink()

    declared = await m.make("v2", v2, renames={f"{user}.name": "full_name"}).or_raise()
    assert declared is not None and m.chain()[-1].operations[0] == RenameField(user, "name", "full_name")
    assert await m.check(v2).or_raise() == []


async def test_a_renamed_model_is_recognised_by_its_shape(tmp_path: Path) -> None:
    old, new = _name("Category"), _name("Topic")
    v1, v2 = ModelCollection("c1"), ModelCollection("c2")

    @ommi_model(collection=v1, name=old)
    @dataclass
    class Category:
        title: str
        parent_id: Annotated[int | None, ReferenceTo(f"{old}.id")] = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=new)
    @dataclass
    class Topic:
        title: str
        parent_id: Annotated[int | None, ReferenceTo(f"{new}.id")] = None
        id: Annotated[int | None, Key] = None

    m = Migrations(tmp_path)
    await m.make("categories", v1).or_raise()
    asked: list[str] = []
    await m.make("topics", v2, ask=lambda q: asked.append(q) or True).or_raise()
    assert asked == [f"model: was {old} renamed to {new}?"]
    assert m.chain()[-1].operations == (RenameModel(old, new),)
    assert await m.check(v2).or_raise() == []


async def test_required_fields_get_a_visible_backfill(tmp_path: Path) -> None:
    table = _name("Thing")
    v1, v2 = ModelCollection("t1"), ModelCollection("t2")

    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    @ommi_model(collection=v1, name=table)
    @dataclass
    class Thing:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=table)
    @dataclass
    class Thing2:
        name: str
        count: int
        price: float = 9.5
        colour: Colour = Colour.RED
        seen: datetime = field(default_factory=datetime.now)
        id: Annotated[int | None, Key] = None

    m = Migrations(tmp_path)
    await m.make("things", v1).or_raise()
    path = await m.make("more", v2).or_raise()
    assert path is not None
    text = path.read_text()
    assert f'AddField("{table}", Field("count", "int"), backfill=0)' in text
    assert "# existing rows get 0: check that this is the value they should hold" in text
    assert "backfill=9.5" in text and "the field's default" in text
    # an enum is stored as its values: the migration names their type
    assert 'Field("colour", "str")' in text
    assert 'Field("seen", "datetime"), backfill=None' in text and "set backfill=" in text
    by_name: dict[str, Any] = {op.field.name: op for op in m.chain()[-1].operations if isinstance(op, AddField)}
    assert by_name["count"].backfill == 0 and by_name["seen"].backfill is None


async def test_key_and_reference_changes_are_refused_with_a_way_out(tmp_path: Path) -> None:
    table = _name("Keyed")
    v1, v2 = ModelCollection("k1"), ModelCollection("k2")

    @ommi_model(collection=v1, name=table)
    @dataclass
    class Keyed:
        code: Annotated[str, Key]
        other: str

    @ommi_model(collection=v2, name=table)
    @dataclass
    class Keyed2:
        code: str
        other: Annotated[str, Key]

    m = Migrations(tmp_path)
    await m.make("keyed", v1).or_raise()
    refused = await m.make("rekey", v2)
    assert isinstance(refused, DBFailure) and isinstance(refused.error, errors.MigrationError)
    assert "changing 'key' is not supported" in str(refused.error) and "data step" in str(refused.error)


async def test_a_field_stored_under_its_old_name_changes_no_column(tmp_path: Path) -> None:
    table = _name("Stored")
    v1, v2 = ModelCollection("s1"), ModelCollection("s2")

    @ommi_model(collection=v1, name=table)
    @dataclass
    class Stored:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=v2, name=table)
    @dataclass
    class Stored2:
        label: Annotated[str, StoreAs("name")]
        id: Annotated[int | None, Key] = None

    m = Migrations(tmp_path)
    await m.make("stored", v1).or_raise()
    await m.make("relabel", v2, renames={f"{table}.name": "label"}).or_raise()
    [rename] = m.chain()[-1].operations
    assert rename == RenameField(table, "name", "label", column="name")
    # the Python name changed; the column keeps its name, so the database has nothing to do
    states = m.chain()[-1].states(m.chain()[0].replay(State()))
    assert rename.changes(states[0], states[1]) == []
    assert rename.inverse(states[0]) == RenameField(table, "label", "name")
    assert await m.check(v2).or_raise() == []


def _file(directory: Path, mid: str, parent: str | None, body: str = "operations = []\n") -> Path:
    path = directory / f"{mid}.py"
    path.write_text(f"id = {mid!r}\nparent = {parent!r}\nmessage = 'm'\n{body}")
    return path


def test_the_history_must_be_one_chain(tmp_path: Path) -> None:
    m = Migrations(tmp_path)
    assert m.chain() == []
    _file(tmp_path, "0001_a", None)
    _file(tmp_path, "0002_b", "0001_a")
    assert [x.id for x in m.chain()] == ["0001_a", "0002_b"]

    fork = _file(tmp_path, "0002_c", "0001_a")
    with pytest.raises(errors.MigrationError, match=r"0002_b, 0002_c all follow '0001_a'.*set the `parent`"):
        m.chain()
    fork.unlink()

    orphan = _file(tmp_path, "0003_d", "0002_zzz")
    with pytest.raises(errors.MigrationError, match="follows '0002_zzz', which is not in"):
        m.chain()
    orphan.unlink()

    broken = _file(tmp_path, "0003_e", "0002_b", "operations = [\n")
    with pytest.raises(errors.MigrationError, match=r"0003_e\.py failed to load: SyntaxError"):
        m.chain()
    broken.write_text("id = '0003_e'\nparent = '0002_b'\noperations = ['not an operation']\n")
    with pytest.raises(errors.MigrationError, match="must be a list of ommi.migrations operations"):
        m.chain()
    broken.write_text("id = '0001_a'\nparent = '0002_b'\noperations = []\n")
    with pytest.raises(errors.MigrationError, match="two migrations have the id '0001_a'"):
        m.chain()


def test_operations_that_do_not_fit_the_history_name_the_migration(tmp_path: Path) -> None:
    _file(tmp_path, "0001_a", None, "from ommi.migrations import DropField\noperations = [DropField('Nope', 'x')]\n")
    [m] = Migrations(tmp_path).chain()
    with pytest.raises(errors.MigrationError, match=r"0001_a, operation 1 \(drop field Nope.x\): no model 'Nope'"):
        m.replay(State())


async def test_written_files_load_back_exactly(tmp_path: Path) -> None:
    table = _name("Odd")
    models = ModelCollection("odd")

    @ommi_model(collection=models, name=table)
    @dataclass
    class Odd:
        text: str
        id: Annotated[int | None, Key] = None

    message = 'a "quoted" message\\ with a backslash\nand a second line'
    m = Migrations(tmp_path)
    path = await m.make(message, models).or_raise()
    assert path is not None and path.name == "0001_a_quoted_message_with_a_backslash_and_a.py"
    [loaded] = m.chain()
    assert loaded.message == message

    empty = await m.make("backfill names", models, empty=True).or_raise()
    assert empty is not None and empty.name == "0002_backfill_names.py"
    [_, data] = m.chain()
    assert data.parent == loaded.id and [type(op) for op in data.operations] == [RunData]


def test_every_operation_renders_as_source_that_builds_it_again() -> None:
    from ommi import migrations as ns

    ops = [
        CreateModel("T", [Field("id", "int", key=True, auto=True), Field("x", "float", nullable=True)]),
        DropModel("T", reversible=True),
        RenameModel("T", "U"),
        AddField("T", Field("y", "float"), backfill=float("-inf")),
        AddField("T", Field("s", "str", column="s_col"), backfill='say "hi"'),
        DropField("T", "y", reversible=True, backfill=0),
        RenameField("T", "a", "b"),
        AlterField("T", "x", Field("x", "float"), backfill=1.5),
        AddIndex("T", "x"),
        ns.DropIndex("T", "x"),
        ns.AddUnique("T", "x"),
        ns.DropUnique("T", "x"),
    ]
    names = {n: getattr(ns, n) for n in ns.__all__}
    for op in ops:
        assert eval(op.render(), names) == op  # noqa: S307 - our own rendering


async def test_make_and_check_need_no_database_but_the_rest_does(tmp_path: Path) -> None:
    m = Migrations(tmp_path)
    failed = await m.upgrade()
    assert isinstance(failed, DBFailure) and isinstance(failed.error, errors.MigrationError)
    assert "needs a database" in str(failed.error)
