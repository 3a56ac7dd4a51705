"""@ommi_model reads classes once and leaves them the user's classes."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import attrs
import pydantic
import pytest

from ommi import Auto, DBFailure, Key, ModelCollection, Ommi, ReferenceTo, StoreAs, errors, ommi_model
from ommi.driver import model_info
from ommi.query import Compare, CompareExpr, FieldRef, IsNull, Not, Op


def test_dataclass_stays_the_users_class() -> None:
    @ommi_model(collection=ModelCollection())
    @dataclass
    class User:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    u = User("Ann", 3)
    assert type(u) is User and isinstance(u, User)
    assert User.__name__ == "User"
    assert repr(u).endswith("User(name='Ann', age=3, id=None)")
    assert u == User("Ann", 3) and u != User("Bob", 3)
    assert dataclasses.asdict(u) == {"name": "Ann", "age": 3, "id": None}
    assert dataclasses.replace(u, age=4).age == 4
    assert u.age == 3
    assert isinstance(User.age, FieldRef)
    u.age = 5
    assert u.age == 5


def test_pydantic_validation_and_serialisation_still_work() -> None:
    @ommi_model(collection=ModelCollection())
    class Item(pydantic.BaseModel):
        name: str
        qty: int = 1
        id: Annotated[int | None, Key] = None

    item = Item(name="x", qty="3")  # type: ignore[arg-type]
    assert item.qty == 3
    assert item.model_dump() == {"name": "x", "qty": 3, "id": None}
    assert Item.model_validate_json('{"name": "y"}').qty == 1
    with pytest.raises(pydantic.ValidationError):
        Item(name="x", qty="many")  # type: ignore[arg-type]
    assert isinstance(Item.qty, FieldRef)


def test_attrs_frozen_and_slots() -> None:
    @ommi_model(collection=ModelCollection())
    @attrs.frozen
    class Point:
        x: int
        y: int
        id: Annotated[int | None, Key] = None

    p = Point(1, 2)
    assert p.x == 1 and hash(p) == hash(Point(1, 2))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert isinstance(Point.x, FieldRef)


def _shapes() -> list[type]:
    """One model of each kind ommi puts field references on: instance dicts, slots, pydantic."""
    coll = ModelCollection()

    @dataclass
    class Plain:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    @dataclass(slots=True)
    class Slotted:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    @dataclass
    class WithPostInit:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

        def __post_init__(self) -> None:
            self.name = self.name.strip()

    @attrs.define(slots=False)
    class AttrsDict:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    @attrs.define
    class AttrsSlots:
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    class Pyd(pydantic.BaseModel):
        name: str
        age: int = 0
        id: Annotated[int | None, Key] = None

    return [ommi_model(collection=coll)(c) for c in (Plain, Slotted, WithPostInit, AttrsDict, AttrsSlots, Pyd)]


@pytest.mark.parametrize("cls", _shapes(), ids=lambda c: c.__name__)
def test_field_references_on_the_class_values_on_instances(cls: Any) -> None:
    """``Model.age`` builds query nodes; each instance reads and writes its own values."""
    ref = cls.age
    assert isinstance(ref, FieldRef) and ref is cls.age and repr(ref) == f"{cls.__name__}.age"
    assert isinstance(cls.age > 3, Compare) and isinstance(cls.name == "x", Compare)
    a, b = cls(name="a", age=1), cls(name="b", age=2)
    assert (a.name, a.age, a.id, b.name, b.age) == ("a", 1, None, "b", 2)
    a.age = 5
    a.id = 7
    assert (a.age, a.id, b.age, b.id) == (5, 7, 2, None)
    assert [getattr(a, n) for n in ("name", "age", "id")] == ["a", 5, 7]
    assert isinstance(cls.age, FieldRef)  # writing instances leaves the class's reference alone


def test_pydantic_own_getattr_still_answers_for_a_missing_value() -> None:
    """A pydantic instance built without a value still raises pydantic's AttributeError for it."""
    (pyd,) = [c for c in _shapes() if issubclass(c, pydantic.BaseModel)]
    partial = pyd.model_construct(age=3)
    assert partial.age == 3
    with pytest.raises(AttributeError):
        partial.name  # noqa: B018


def test_comparing_with_a_value_the_instance_lacks_is_refused() -> None:
    """``Model.f == instance.f`` for an instance lacking ``f`` would compare the column with itself.

    A dict-based instance reads the class's query reference for a value it lacks;
    the comparison would match every row (and ``.delete()`` delete them all).
    """
    plain = _shapes()[0]
    stray = plain(name="x")
    del stray.age
    for build in (lambda: plain.age == stray.age, lambda: plain.age != stray.age, lambda: plain.age > stray.age):
        with pytest.raises(errors.QueryError, match="compares a field with itself"):
            build()
    assert isinstance(plain.age == plain.id, CompareExpr)  # two fields still compare


def test_key_forms_and_auto() -> None:
    coll = ModelCollection()

    @ommi_model(collection=coll)
    @dataclass
    class A:
        id: Annotated[int, Key] = None  # type: ignore[assignment]

    @ommi_model(collection=coll)
    @dataclass
    class B:
        id: Annotated[int | None, Key | Auto] = None

    @ommi_model(collection=coll)
    @dataclass
    class C:
        code: Annotated[str, Key]

    @ommi_model(collection=coll)
    @dataclass
    class D:
        id: int | None = None

    assert model_info(A).auto_key is not None
    assert model_info(B).auto_key is not None
    assert model_info(C).auto_key is None and [f.name for f in model_info(C).key] == ["code"]
    assert [f.name for f in model_info(D).key] == ["id"]


def test_store_as_and_reference_by_name() -> None:
    coll = ModelCollection()

    @ommi_model(collection=coll)
    @dataclass
    class Post:
        title: Annotated[str, StoreAs("post_title")]
        author: Annotated[int, ReferenceTo("Writer.id")]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=coll)
    @dataclass
    class Writer:
        id: Annotated[int | None, Key] = None

    info = model_info(Post)
    assert info.by_name["title"].column == "post_title"
    target = info.by_name["author"].references()
    assert target is not None and target.model.cls is Writer


@pytest.mark.parametrize(
    ("annotation", "fragment"),
    [(int | str, "one type"), (set[int], "unsupported type"), (Any, "unsupported type"), (complex, "complex")],
)
def test_unsupported_annotations_fail_at_decoration(annotation: Any, fragment: str) -> None:
    with pytest.raises(errors.ModelError) as info:

        @ommi_model(collection=ModelCollection())
        @dataclass
        class Bad:
            value: annotation  # type: ignore[valid-type]

    message = str(info.value)
    assert "Bad.value" in message and fragment in message


@pytest.mark.parametrize("name", ["", "nul\x00inside"])
def test_names_no_backend_can_store_are_rejected(name: str) -> None:
    with pytest.raises(errors.ModelError):

        @ommi_model(collection=ModelCollection())
        @dataclass
        class T:
            value: Annotated[str, StoreAs(name)]

    with pytest.raises(errors.ModelError):

        @ommi_model(collection=ModelCollection(), name=name)
        @dataclass
        class U:
            value: str


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("sqlite_master", "SQLite"),
        ("SQLite_Stat1", "SQLite"),
        ("pg_class", "PostgreSQL"),
        ("PG_Anything", "PostgreSQL"),
        ("ommi_counters", "MongoDB"),
        ("OMMI_MIGRATIONS", "ommi"),
        ("system.users", "MongoDB"),
    ],
)
def test_names_reserved_by_a_backend_are_rejected(name: str, owner: str) -> None:
    with pytest.raises(errors.ModelError) as info:

        @ommi_model(collection=ModelCollection(), name=name)
        @dataclass
        class Reserved:
            value: str

    assert repr(name) in str(info.value) and owner in str(info.value)
    # a column may be called so: only tables live beside the backend's own
    @ommi_model(collection=ModelCollection())
    @dataclass
    class Fine:
        value: Annotated[str, StoreAs(name)]


def test_names_that_differ_only_in_case_are_rejected() -> None:
    shop = ModelCollection("shop")

    @ommi_model(collection=shop)
    @dataclass
    class Customer:
        name: str

    with pytest.raises(errors.ModelError) as info:

        @ommi_model(collection=shop, name="customer")
        @dataclass
        class Client:
            name: str

    message = str(info.value)
    assert "Client" in message and "'customer'" in message and "'Customer'" in message
    assert [m.__name__ for m in shop] == ["Customer"]

    @ommi_model(collection=shop)  # the same model defined again replaces it
    @dataclass
    class Customer:  # type: ignore[no-redef]  # noqa: F811
        name: str
        email: str | None = None

    @ommi_model(collection=ModelCollection("elsewhere"), name="CUSTOMER")  # another collection
    @dataclass
    class Other:
        name: str

    with pytest.raises(errors.ModelError, match="'name' and 'Name', which differ only in case"):

        @ommi_model(collection=ModelCollection())
        @dataclass
        class TwoColumns:
            name: str
            label: Annotated[str, StoreAs("Name")]


def test_non_model_classes_are_rejected() -> None:
    with pytest.raises(errors.ModelError, match="dataclass, attrs class or pydantic model"):

        @ommi_model
        class Plain:
            x: int


async def test_using_an_undecorated_class_fails_clearly() -> None:
    @dataclass
    class NotAModel:
        x: int

    async with Ommi.connect("sqlite://") as db:
        result = await db.add(NotAModel(1))
        assert result.or_use("failed") == "failed"
        with pytest.raises(errors.ModelError, match="NotAModel"):
            await db.add(NotAModel(1)).or_raise()


def test_query_nodes_are_immutable_hashable_and_normalised() -> None:
    @ommi_model(collection=ModelCollection())
    @dataclass
    class N:
        name: str | None
        at: datetime | None = None
        u: uuid.UUID | None = None

    eq_none = N.name == None  # noqa: E711
    assert isinstance(eq_none, IsNull)
    ne_none = N.name != None  # noqa: E711
    assert isinstance(ne_none, Not) and isinstance(ne_none.item, IsNull)
    node = N.name == "x"
    assert node == Compare(N.name.field, Op.EQ, "x")
    assert {node: 1}[N.name == "x"] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.value = "y"  # type: ignore[misc]
    with pytest.raises(TypeError, match="truth value"):
        bool(node)
    # a chained comparison asks for the truth value of its first half; the hint
    # must be one that works when copied (& binds tighter than <)
    with pytest.raises(TypeError) as chained:
        datetime(2000, 1, 1) < N.at < datetime(2001, 1, 1)  # noqa: B015
    assert "(a < x) & (x < b)" in str(chained.value)
    assert "x.between(a, b)" in str(chained.value)
    with pytest.raises(errors.QueryError):
        N.name < None  # noqa: B015
    with pytest.raises(errors.ValidationError):
        N.name == 3  # noqa: B015
    assert ~~node == node
    combined = (N.name == "a") & (N.name == "b") & (N.name == "c")
    assert len(combined.items) == 3


async def test_reference_to_a_model_means_its_key() -> None:
    teams = ModelCollection("reference-to-model")

    @ommi_model(collection=teams)
    @dataclass
    class Team:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=teams)
    @dataclass
    class Player:
        name: str
        team_id: Annotated[int | None, ReferenceTo(Team)] = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=teams)
    @dataclass
    class Coach:
        team_id: Annotated[int, ReferenceTo("Team")]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=teams)
    @dataclass
    class Squad:
        name: str
        parent_id: Annotated[int | None, ReferenceTo(Squad)] = None  # itself, by class
        id: Annotated[int | None, Key] = None

    team_key = model_info(Team).by_name["id"]
    assert model_info(Player).by_name["team_id"].references() is team_key
    assert model_info(Coach).by_name["team_id"].references() is team_key
    assert model_info(Squad).by_name["parent_id"].references() is model_info(Squad).by_name["id"]
    async with Ommi.connect("sqlite://") as db:
        await db.schema(teams).create_models().or_raise()
        [red] = await db.add(Team("red")).or_raise()
        await db.add(Player("Ann", red.id), Coach(team_id=red.id or 0)).or_raise()
        orphan = await db.add(Player("Bob", 999))
        assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
        assert [p.name for p in await db.find(Player, Team.name == "red").all().or_raise()] == ["Ann"]


def test_reference_to_something_that_is_not_a_model_fails_at_decoration() -> None:
    class Plain:
        id: int

    with pytest.raises(errors.ModelError, match=r"Thing.ref: ReferenceTo\(.*Plain\): .*Plain is not an ommi model"):

        @ommi_model(collection=ModelCollection())
        @dataclass
        class Thing:
            ref: Annotated[int, ReferenceTo(Plain)]
            id: Annotated[int | None, Key] = None

    with pytest.raises(errors.ModelError, match="ReferenceTo needs Model.field"):

        @ommi_model(collection=ModelCollection())
        @dataclass
        class Other:
            ref: Annotated[int, ReferenceTo(42)]
            id: Annotated[int | None, Key] = None


async def test_references_to_part_of_a_composite_key_fail_at_decoration() -> None:
    models = ModelCollection("composite-references")

    @ommi_model(collection=models)
    @dataclass
    class Seat:
        row: Annotated[str, Key]
        number: Annotated[int, Key]
        label: Annotated[str, StoreAs("seat_label")] = ""

    for target in (Seat.row, "Seat.number", Seat):
        with pytest.raises(errors.ModelError, match="composite"):

            @ommi_model(collection=models)
            @dataclass
            class Ticket:
                seat: Annotated[Any, ReferenceTo(target)]
                id: Annotated[int | None, Key] = None

    # a target defined later is checked on first use: schema creation reports it
    @ommi_model(collection=models)
    @dataclass
    class Booking:
        row: Annotated[str, ReferenceTo("Bench.row")]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=models)
    @dataclass
    class Bench:
        row: Annotated[str, Key]
        number: Annotated[int, Key]

    with pytest.raises(errors.ModelError, match=r"Booking.row: ReferenceTo\('Bench.row'\) names one field of Bench's"):
        model_info(Booking).by_name["row"].references()
    async with Ommi.connect("sqlite://") as db:
        created = await db.schema(models).create_models()
        assert isinstance(created, DBFailure) and isinstance(created.error, errors.ModelError)


def test_only_fields_with_library_validation_get_a_validator() -> None:
    """The write path of a field whose only rule is its type stays as it was."""
    @ommi_model(collection=ModelCollection("validators"))
    @dataclass
    class Plain:
        name: str
        tags: list[str]
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=ModelCollection("validators"))
    class Mixed(pydantic.BaseModel):
        name: str
        tags: list[str] = []
        age: int = pydantic.Field(ge=0)
        short: Annotated[str | None, pydantic.Field(max_length=3)] = None
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=ModelCollection("validators"))
    @attrs.define
    class Checked:
        name: str
        age: int = attrs.field(validator=attrs.validators.ge(0))
        id: Annotated[int | None, Key] = None

    def validated(model: type) -> list[str]:
        return [f.name for f in model_info(model).fields if f.validate is not None]

    assert validated(Plain) == []
    assert validated(Mixed) == ["age", "short"]
    assert validated(Checked) == ["age"]


async def test_fields_init_leaves_unset_read_their_default_or_raise() -> None:
    """A field ``__init__`` may leave unset reads as it would without ommi: its class-level
    default (dataclass ``init=False`` with a plain default; the value is stored), else
    ``AttributeError`` (and writing the instance names the field), never the query reference."""
    coll = ModelCollection()

    @ommi_model(collection=coll)
    @dataclass
    class Job:
        name: str
        level: int = field(default=5, init=False)
        note: str = field(init=False)
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=coll)
    @dataclass(init=False)
    class Hand:
        name: str
        size: int = 2
        id: Annotated[int | None, Key] = None

        def __init__(self, name: str) -> None:  # a class's own __init__ may set anything
            self.name = name

    @ommi_model(collection=coll)
    @attrs.define(slots=False)
    class Shift:
        name: str
        hours: int = attrs.field(default=8, init=False)
        id: Annotated[int | None, Key] = None

    job = Job("build")
    assert job.level == 5 and isinstance(Job.level, FieldRef) and isinstance(Job.note, FieldRef)
    with pytest.raises(AttributeError):
        job.note  # noqa: B018
    hand = Hand("left")
    assert hand.size == 2 and isinstance(Hand.size, FieldRef)
    del hand.name
    with pytest.raises(AttributeError):
        hand.name  # noqa: B018
    assert Shift("late").hours == 8

    async with Ommi.connect("sqlite://") as db:
        await db.schema(coll).create_models().or_raise()
        refused = await db.add(job)
        assert isinstance(refused, DBFailure)
        assert str(refused.error).endswith(".Job.note has no value: the instance lacks the attribute")
        job.note = "n"
        [stored] = await db.add(job).or_raise()
        assert (await db.get(Job, stored.id).or_raise()).level == 5
        [right] = await db.add(Hand("right")).or_raise()
        assert (await db.get(Hand, right.id).or_raise()).size == 2


def test_a_subclass_declaring_a_field_again_without_a_default_is_a_model_error() -> None:
    """@dataclass reads an inherited class attribute as the default of a field declared again:
    on a model's subclass that is the parent's query reference, which must not become a value."""
    coll = ModelCollection()

    @ommi_model(collection=coll)
    @dataclass
    class Base:
        name: str
        id: Annotated[int | None, Key] = None

    @dataclass
    class Sub(Base):
        name: str

    with pytest.raises(errors.ModelError, match=r"Sub\.name is declared again without a default"):
        ommi_model(collection=coll)(Sub)

    @ommi_model(collection=coll)
    @dataclass
    class Renamed(Base):
        name: str = "anonymous"

    assert Renamed().name == "anonymous" and isinstance(Renamed.name, FieldRef)


def test_writing_one_field_on_many_instances_bypasses_frozen_and_keeps_each_class_own() -> None:
    # how generated keys are written back after a bulk add: plain classes take the fast
    # loop, frozen and slotted ones object.__setattr__, a mixed list each its own way
    collection = ModelCollection("write_values")

    @ommi_model(collection=collection)
    @dataclass
    class Plain:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=collection)
    @dataclass(frozen=True)
    class Frozen:
        name: str
        id: Annotated[int | None, Key] = None

    @ommi_model(collection=collection)
    @dataclass(slots=True)
    class Slotted:
        name: str
        id: Annotated[int | None, Key] = None

    for cls in (Plain, Frozen, Slotted):
        many = [cls(f"n{i}") for i in range(5)]
        for given in (many, tuple(many), iter(many)):
            model_info(cls).write_values("id", given, [10, 11, 12, 13, 14])
            assert [m.id for m in many] == [10, 11, 12, 13, 14]
            model_info(cls).write_values("id", list(many), range(5))
            assert [m.id for m in many] == [0, 1, 2, 3, 4]
        with pytest.raises(ValueError, match="zip"):
            model_info(cls).write_values("id", many, [1, 2])
    plain, frozen = Plain("p"), Frozen("f")
    model_info(Plain).write_values("id", [plain, frozen, plain], [1, 2, 3])  # (not done by ommi itself)
    assert (plain.id, frozen.id) == (3, 2)
