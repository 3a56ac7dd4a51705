"""Under pyright, ``col(Model.field)`` works on every kind of model (pyright reads fields on the class)."""

from __future__ import annotations

from typing import Any, assert_type

from ommi import FieldRef, Ommi, Query, col
from ommi.query import Compare
from tests.typecheck.models import Order, User


async def queries(db: Ommi) -> None:
    assert_type(col(User.age), FieldRef[Any, int])
    assert_type(col(Order.note), FieldRef[Any, str | None])
    assert_type(col(User.age) >= 18, Compare[Any])
    query = db.find(User, col(User.age) >= 18).order_by(col(User.name).asc)
    assert_type(query, Query[User])
    assert_type(await query.all().or_raise(), list[User])
    async for batch in query.batches(100):
        assert_type(batch, list[User])
    assert_type(await db.find(Order, col(Order.note).is_null()).count().or_raise(), int)
