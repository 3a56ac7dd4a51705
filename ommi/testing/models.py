"""The models the conformance suite stores: every field type, three model
libraries, composite keys, references, renamed columns and reserved words.

Relations are declared on dataclasses, attrs classes and pydantic models, in
the spelling type checkers understand (``ClassVar[LazyMany[Model]]``), under
``from __future__ import annotations`` and with targets defined further down.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import attrs
import pydantic

from ommi import (
    AssociateUsing,
    AwareDatetime,
    Index,
    Key,
    LazyMany,
    LazyOne,
    ModelCollection,
    ReferenceTo,
    StoreAs,
    Unique,
    Via,
    ommi_model,
    on,
)

__all__ = [
    "Article",
    "ArticleTag",
    "Author",
    "Book",
    "Category",
    "Color",
    "Counter",
    "Draft",
    "FrozenPoint",
    "LegacyCustomer",
    "LegacyOrderLine",
    "Level",
    "Membership",
    "Order",
    "Person",
    "PetAttrs",
    "PetPydantic",
    "Remark",
    "Sample",
    "Shelf",
    "ShelfNote",
    "SlotItem",
    "Stamped",
    "Tag",
    "Ticket",
    "ValidatedAttrs",
    "ValidatedPydantic",
    "Volume",
    "Writer",
    "suite_collection",
]

suite_collection = ModelCollection("ommi-conformance")


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 10


@ommi_model(collection=suite_collection)
@dataclass
class Person:
    name: str
    age: int
    email: Annotated[str | None, Unique] = None
    city: Annotated[str | None, Index] = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass
class Sample:
    """One field of every supported type, all optional so NULL is tested too."""

    s: str | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    by: bytes | None = None
    dec: Decimal | None = None
    dt: datetime | None = None
    adt: AwareDatetime | None = None
    d: date | None = None
    t: time | None = None
    u: uuid.UUID | None = None
    color: Color | None = None
    level: Level | None = None
    js: dict[str, Any] | None = None
    lst: list[Any] | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass
class Membership:
    group: Annotated[str, Key]
    member: Annotated[int, Key]
    role: str = "member"


@ommi_model(collection=suite_collection)
@dataclass
class Author:
    name: str
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass
class Book:
    title: str
    author_id: Annotated[int, ReferenceTo(Author.id)]
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection, name="Order")
@dataclass
class Order:
    """Reserved words as table and column names, a renamed and a mixed-case column."""

    group: str
    select: int
    MixedCase: str = "x"
    stored: Annotated[str, StoreAs("from")] = ""
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection, name="Legacy Customers (v1.0) \u2013 Übersicht der Kunden")
@dataclass
class LegacyCustomer:
    """Mapped onto an existing table whose names are not identifiers: spaces,
    punctuation, quotes, comment markers, non-ASCII letters; index names past
    PostgreSQL's 63 bytes."""

    display_name: Annotated[str, StoreAs("Display Name")]
    email: Annotated[str | None, StoreAs("E-Mail Address"), Unique] = None
    city: Annotated[str | None, StoreAs("Stadt/Ort"), Index] = None
    remark: Annotated[str | None, StoreAs("say \"hi\"; it's -- /* */")] = None
    size: Annotated[int, StoreAs("Größe")] = 0
    id: Annotated[int | None, Key, StoreAs("Customer ID")] = None


@ommi_model(collection=suite_collection, name="legacy order lines")
@dataclass
class LegacyOrderLine:
    """A composite key and a reference, both under awkward names."""

    order_no: Annotated[str, Key, StoreAs("Order No")]
    line: Annotated[int, Key, StoreAs("Line #")]
    customer_id: Annotated[int, StoreAs("Customer Ref"), ReferenceTo(LegacyCustomer.id)]
    item: Annotated[str, StoreAs("ITEM name")] = ""


@ommi_model(collection=suite_collection)
@dataclass
class Ticket:
    """A model whose only field is the key the database generates."""

    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass(slots=True)
class SlotItem:
    label: str
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass(frozen=True)
class FrozenPoint:
    x: int
    y: int
    id: Annotated[int | None, Key] = field(default=None)


@ommi_model(collection=suite_collection)
@attrs.define
class PetAttrs:
    name: str
    legs: int = 4
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
class PetPydantic(pydantic.BaseModel):
    name: str
    legs: int = 4
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
class ValidatedPydantic(pydantic.BaseModel):
    """pydantic's own validation beyond the type: constraints and a field validator."""

    name: Annotated[str, pydantic.Field(max_length=8)]
    age: int = pydantic.Field(ge=0)
    code: str | None = None
    tags: list[Annotated[str, pydantic.StringConstraints(max_length=3)]] = pydantic.Field(default_factory=list)
    id: Annotated[int | None, Key] = None

    @pydantic.field_validator("code")
    @classmethod
    def _upper_case(cls, value: str | None, info: pydantic.ValidationInfo) -> str | None:
        if value is not None and value != value.upper():
            raise ValueError(f"{info.field_name} must be upper case")
        return value


@ommi_model(collection=suite_collection)
@attrs.define
class ValidatedAttrs:
    """attrs validators on two fields."""

    name: str = attrs.field(validator=attrs.validators.max_len(8))
    age: int = attrs.field(default=0, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)])
    id: Annotated[int | None, Key] = None


@ommi_model(collection=suite_collection)
@dataclass
class Sale:
    """Rows for aggregate tests: Decimal amounts, nullable ints, floats and dates."""

    customer_id: int
    status: str
    amount: Decimal
    qty: int | None = None
    price: float | None = None
    day: date | None = None
    region: str | None = None
    id: Annotated[int | None, Key] = None


# -- relationships: string forward references on purpose (Writer refers to
# Article before it exists, and the two refer to each other)


@ommi_model(collection=suite_collection)
@dataclass
class Writer:
    name: str
    id: Annotated[int | None, Key] = None

    articles: ClassVar[LazyMany[Article]]
    remarks: ClassVar[LazyMany[Remark]]
    drafts: ClassVar[LazyMany[Annotated[Draft, Via("author_id")]]]
    edited: ClassVar[LazyMany[Annotated[Draft, Via("editor_id")]]]


@ommi_model(collection=suite_collection)
@dataclass
class Article:
    title: str
    writer_id: Annotated[int | None, ReferenceTo("Writer.id")] = None
    id: Annotated[int | None, Key] = None

    writer: ClassVar[LazyOne[Writer]]
    remarks: ClassVar[LazyMany[Remark]]
    tags: ClassVar[LazyMany[Annotated[Tag, AssociateUsing(ArticleTag)]]]


@ommi_model(collection=suite_collection)
@dataclass
class Remark:
    text: str
    article_id: Annotated[int, ReferenceTo(Article.id)]
    writer_id: Annotated[int, ReferenceTo(Writer.id)]
    id: Annotated[int | None, Key] = None

    article: ClassVar[LazyOne[Article]]


@ommi_model(collection=suite_collection)
@dataclass
class Tag:
    label: Annotated[str, Unique]
    id: Annotated[int | None, Key] = None

    articles: ClassVar[LazyMany[Annotated[Article, AssociateUsing(ArticleTag)]]]


@ommi_model(collection=suite_collection)
@dataclass
class ArticleTag:
    article_id: Annotated[int, Key, ReferenceTo(Article.id)]
    tag_id: Annotated[int, Key, ReferenceTo(Tag.id)]


@ommi_model(collection=suite_collection)
@dataclass
class Category:
    name: str
    parent_id: Annotated[int | None, ReferenceTo("Category.id")] = None
    id: Annotated[int | None, Key] = None

    parent: ClassVar[LazyOne[Category]]
    children: ClassVar[LazyMany[Category]]


# -- relationships on attrs and pydantic models: a Shelf (attrs) holds Volumes
# (pydantic, declared after it), and a Volume has notes (attrs, declared after)


@ommi_model(collection=suite_collection)
@attrs.define
class Shelf:
    label: str
    id: Annotated[int | None, Key] = None

    volumes: ClassVar[LazyMany[Volume]]


@ommi_model(collection=suite_collection)
class Volume(pydantic.BaseModel):
    title: str
    shelf_id: Annotated[int | None, ReferenceTo(Shelf)] = None  # a model: its key
    id: Annotated[int | None, Key] = None

    shelf: ClassVar[LazyOne[Shelf]]
    notes: ClassVar[LazyMany[ShelfNote]]


@ommi_model(collection=suite_collection)
@attrs.define
class ShelfNote:
    text: str
    volume_id: Annotated[int, ReferenceTo("Volume.id")]
    id: Annotated[int | None, Key] = None

    volume: ClassVar[LazyOne[Volume]]


@ommi_model(collection=suite_collection)
@dataclass
class Stamped:
    """Has model-level hooks (registered below with ``@on``) for the event tests."""

    label: str
    revision: int = 0
    id: Annotated[int | None, Key] = None


@on("before_add", Stamped)
@on("before_save", Stamped)
def _bump_revision(item: Stamped) -> None:
    item.revision += 1


@ommi_model(collection=suite_collection)
@dataclass
class Draft:
    """Two references to one model (Writer): each relation names its own with Via."""

    title: str
    author_id: Annotated[int, ReferenceTo(Writer.id)]
    editor_id: Annotated[int | None, ReferenceTo(Writer.id)] = None
    views: int = 0
    likes: int | None = None
    score: float = 0.0
    price: Decimal = Decimal(0)
    id: Annotated[int | None, Key] = None

    author: ClassVar[LazyOne[Annotated[Writer, Via("author_id")]]]
    editor: ClassVar[LazyOne[Annotated[Writer, Via("editor_id")]]]


@ommi_model(collection=suite_collection)
@dataclass
class Counter:
    """A counter row for set-based updates under concurrency."""

    name: Annotated[str, Key]
    n: int = 0
