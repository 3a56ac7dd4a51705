"""Models shared by the typing samples: a dataclass, an attrs class and a pydantic model
with relations both ways (targets defined before and after), and many-to-many."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, ClassVar

import attrs
import pydantic

from ommi import AssociateUsing, Key, LazyMany, LazyOne, ModelCollection, ReferenceTo, Unique, ommi_model

shop = ModelCollection("typing-sample")


@ommi_model(collection=shop)
@dataclass
class User:
    name: str
    age: int
    email: Annotated[str | None, Unique] = None
    id: Annotated[int | None, Key] = None

    orders: ClassVar[LazyMany[Order]]
    groups: ClassVar[LazyMany[Annotated[Group, AssociateUsing("Membership")]]]


@ommi_model(collection=shop)
@attrs.define
class Order:
    amount: Decimal
    user_id: Annotated[int, ReferenceTo(User)]
    note: str | None = None
    id: Annotated[int | None, Key] = None

    user: ClassVar[LazyOne[User]]
    lines: ClassVar[LazyMany[Line]]


@ommi_model(collection=shop)
class Line(pydantic.BaseModel):
    product: str
    qty: int
    price: float
    order_id: Annotated[int, ReferenceTo(Order.id)]
    id: Annotated[int | None, Key] = None

    order: ClassVar[LazyOne[Order]]


@ommi_model(collection=shop)
@dataclass
class Group:
    title: str
    id: Annotated[int | None, Key] = None

    members: ClassVar[LazyMany[Annotated[User, AssociateUsing("Membership")]]]


@ommi_model(collection=shop)
@dataclass
class Membership:
    user_id: Annotated[int, Key, ReferenceTo(User.id)]
    group_id: Annotated[int, Key, ReferenceTo(Group.id)]
