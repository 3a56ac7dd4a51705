"""The models the conformance suite stores: every field type, three model
libraries, composite keys, references, renamed columns and reserved words."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

import attrs
import pydantic

from ommi import AwareDatetime, Index, Key, ModelCollection, ReferenceTo, StoreAs, Unique, ommi_model

__all__ = [
    "Author",
    "Book",
    "Color",
    "FrozenPoint",
    "Level",
    "Membership",
    "Order",
    "Person",
    "PetAttrs",
    "PetPydantic",
    "Sample",
    "SlotItem",
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
