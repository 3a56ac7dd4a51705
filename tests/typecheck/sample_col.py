"""User code for type checkers without the ommi plugin: pyright, and mypy without ``ommi.mypy``.

Fields are named through ``col()``. ``col(Model.field)`` works on pydantic
models everywhere; mypy on its own refuses to read a dataclass field without a
default (or any field of a slotted attrs class) on the class, so those use
``col(Model, lambda m: m.field)``, which every checker accepts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, assert_type

from ommi import Action, Count, DBFailure, DBSuccess, ExprRef, FieldRef, Ommi, Query, Sum, ValuesQuery, col, errors
from ommi.query import AggCompare, And, Compare, CompareExpr, In, IsNull, Like, LikeExpr, OrderBy, Predicate
from tests.typecheck.models import Group, Line, Order, User, shop

age = col(User, lambda u: u.age)
name = col(User, lambda u: u.name)
amount = col(Order, lambda o: o.amount)


def field_references() -> None:
    assert_type(age, FieldRef[User, int])
    assert_type(col(User, lambda u: u.email), FieldRef[User, str | None])
    assert_type(amount, FieldRef[Order, Decimal])
    assert_type(col(Line.qty), FieldRef[Any, int])
    assert_type(col(Line.price), FieldRef[Any, float])


def predicates() -> None:
    assert_type(age >= 18, Compare[User])
    assert_type(name == "Ann", Compare[User] | IsNull[User])
    assert_type(~(name == "Ann"), Predicate[User])
    assert_type(age.in_([1, 2]), In[User])
    assert_type(name.startswith("A"), Like[User])
    assert_type(name.asc, OrderBy)
    assert_type(col(Line.product).like("p%"), Like[Any])
    assert_type((age >= 18) & (name != "Bob"), And[User])
    assert_type(age + 1, ExprRef[User, int])
    assert_type(age * 2 > 18, CompareExpr[User])
    assert_type(age > age, CompareExpr[User])
    assert_type(amount * Decimal(2), ExprRef[Order, Decimal])
    assert_type(name.lower() == "ann", CompareExpr[User])
    assert_type(name.ilike("a%"), LikeExpr[User])


async def queries(db: Ommi) -> None:
    adults = db.find(User, age >= 18).order_by(name.asc)
    assert_type(adults, Query[User])
    assert_type(db.find(age >= 18), Query[User])
    assert_type(db.find(User).values(name, age), ValuesQuery[tuple[str, int]])
    assert_type(await db.find(User).values(name).all().or_raise(), list[tuple[str]])
    assert_type(adults.all(), Action[list[User]])
    assert_type(await adults.all().or_raise(), list[User])
    assert_type(await adults.one().or_raise(), User)
    assert_type(await adults.first().or_raise(), User | None)
    assert_type(await db.find(User).count().or_raise(), int)
    assert_type(await db.find(User).exists().or_raise(), bool)
    assert_type(await db.find(Line, col(Line.qty) > 1).all().or_raise(), list[Line])
    assert_type(await db.find(Order, name == "Ann").all().or_raise(), list[Order])
    assert_type(await db.find(User, age < 18).update(age=18).or_raise(), int)
    assert_type(await db.get(User, 1).or_raise(), User)
    match await db.find(User, name == "Ann").one():
        case DBSuccess(user):
            assert_type(user, User)
        case DBFailure(error):
            assert_type(error, errors.OmmiError)


async def writes_and_relations(db: Ommi) -> None:
    await db.schema(shop).create_models().or_raise()
    [ann] = await db.add(User("Ann", 31)).or_raise()
    assert_type(ann, User)
    assert_type(await db.save(ann).or_raise(), list[User])
    assert ann.id is not None
    [order] = await db.add(Order(Decimal("9.50"), ann.id)).or_raise()
    assert_type(await order.user, User | None)
    assert_type(await ann.orders, list[Order])
    assert_type(await ann.groups, list[Group])
    users = await db.find(User).include(User.orders, Order.lines).all().or_raise()
    assert_type(users, list[User])


async def aggregates(db: Ommi) -> None:
    user_id = col(Order, lambda o: o.user_id)
    total = Sum(amount)
    assert_type(total > Decimal(100), AggCompare[Order])
    rows = await db.find(Order).group_by(user_id).having(total > Decimal(100)).order_by(total.desc).aggregate(
        n=Count(), total=total
    ).or_raise()
    assert_type(rows, Any)
