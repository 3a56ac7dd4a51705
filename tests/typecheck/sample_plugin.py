"""User code as the docs write it (the bare sugar), checked by mypy --strict with ``ommi.mypy``.

``assert_type`` makes a regression to ``Any`` an error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, assert_type

from ommi import (
    Action,
    Avg,
    Count,
    CountDistinct,
    DBFailure,
    DBSuccess,
    ExprRef,
    FieldRef,
    Max,
    Min,
    Ommi,
    Query,
    Sum,
    Transaction,
    ValuesQuery,
    col,
    errors,
)
from ommi.query import (
    AggCompare,
    AggRef,
    And,
    Between,
    Compare,
    CompareExpr,
    In,
    InValues,
    IsNull,
    Like,
    LikeExpr,
    Not,
    Or,
    OrderBy,
    Predicate,
    Related,
)
from tests.typecheck.models import Group, Line, Membership, Order, User, shop


def field_references() -> None:
    assert_type(User.age, FieldRef[User, int])
    assert_type(User.email, FieldRef[User, str | None])
    assert_type(User.id, FieldRef[User, int | None])
    assert_type(Order.amount, FieldRef[Order, Decimal])
    assert_type(Line.qty, FieldRef[Line, int])
    assert_type(Membership.group_id, FieldRef[Membership, int])
    assert_type(col(User.age), FieldRef[User, int])
    user = User("Ann", 31)
    assert_type(user.age, int)  # instances keep their values
    user.age += 1


def predicates() -> None:
    assert_type(User.age >= 18, Compare[User])
    assert_type(User.age < 65, Compare[User])
    assert_type(User.name == "Ann", Compare[User] | IsNull[User])
    assert_type(User.email != None, Compare[User] | Not[User])  # noqa: E711 - IS NOT NULL
    assert_type(User.age.in_([1, 2, 3]), In[User])
    assert_type(User.age.not_in([4]), Not[User])
    assert_type(User.age.between(18, 65), Between[User])
    assert_type(User.name.like("A%"), Like[User])
    assert_type(User.name.contains("n"), Like[User])
    assert_type(User.name.startswith("A"), Like[User])
    assert_type(User.name.endswith("n"), Like[User])
    assert_type(User.email.is_null(), IsNull[User])
    assert_type(User.email.is_not_null(), Not[User])
    assert_type((User.age >= 18) & (User.name == "Ann"), And[User])
    assert_type((User.age < 18) | ~(User.name == "Ann"), Or[User])
    assert_type(~(User.age < 18), Predicate[User])
    assert_type(User.name.asc, OrderBy)
    assert_type(User.age.desc, OrderBy)


async def queries(db: Ommi) -> None:
    adults = db.find(User.age >= 18)
    assert_type(adults, Query[User])
    assert_type(db.find(User), Query[User])
    assert_type(db.find(Order, User.name == "Ann"), Query[Order])  # across a reference
    assert_type(adults.all(), Action[list[User]])
    assert_type(await adults.all().or_raise(), list[User])
    assert_type(await adults.one().or_raise(), User)
    assert_type(await adults.first().or_raise(), User | None)
    assert_type(await adults.count().or_raise(), int)
    assert_type(await adults.exists().or_raise(), bool)
    assert_type(await adults.order_by(User.name.asc, User.age).limit(10).offset(5).all().or_raise(), list[User])
    assert_type(await adults.update(age=40).or_raise(), int)
    assert_type(await adults.delete().or_raise(), int)
    assert_type(await db.get(User, 1).or_raise(), User)
    assert_type(await adults.all().or_use([]), list[User])
    async for user in db.find(User).order_by(User.id):
        assert_type(user, User)
    async for batch in db.find(User).order_by(User.id).batches(500):
        assert_type(batch, list[User])


async def results(db: Ommi) -> None:
    match await db.find(User.name == "Ann").one():
        case DBSuccess(user):
            assert_type(user, User)
        case DBFailure(error):
            assert_type(error, errors.OmmiError)
    outcome = await db.find(User).count()
    if isinstance(outcome, DBFailure):
        assert_type(outcome.error, errors.OmmiError)
    else:
        assert_type(outcome.value, int)


async def writes(db: Ommi) -> None:
    ann, bob = await db.add(User("Ann", 31), User("Bob", 17)).or_raise()
    assert_type(ann, User)
    assert_type(await db.save(ann, bob).or_raise(), list[User])
    assert_type(await db.delete(bob).or_raise(), int)
    assert ann.id is not None
    [order] = await db.add(Order(Decimal("9.50"), ann.id)).or_raise()
    assert_type(order, Order)
    assert order.id is not None
    lines = await db.add(Line(product="pen", qty=2, price=1.5, order_id=order.id)).or_raise()
    assert_type(lines, list[Line])
    async with db.transaction() as tx:
        assert_type(tx, Transaction)
        assert_type(await tx.find(User.age > 1).all().or_raise(), list[User])
        async with tx.transaction() as inner:
            await inner.add(User("Cy", 3)).or_raise()


async def relations(db: Ommi) -> None:
    order = await db.find(Order.amount > Decimal(5)).one().or_raise()
    assert_type(await order.user, User | None)
    assert_type(await order.lines, list[Line])
    assert_type(await order.lines.refresh(), list[Line])
    line = await db.find(Line.qty >= 1).one().or_raise()
    assert_type(await line.order, Order | None)
    user = await db.find(User).one().or_raise()
    assert_type(await user.orders, list[Order])
    assert_type(await user.groups, list[Group])  # many-to-many
    group = await db.find(Group).one().or_raise()
    assert_type(await group.members, list[User])
    eager = await db.find(User).include(User.orders, Order.lines).all().or_raise()
    assert_type(eager, list[User])


async def aggregates(db: Ommi) -> None:
    grouped = (
        db.find(Order, Order.note.is_not_null())
        .group_by(Order.user_id)
        .having(Sum(Order.amount) > Decimal(100), Count() >= 2)
        .order_by(Sum(Order.amount).desc)
    )
    result = await grouped.aggregate(
        n=Count(), total=Sum(Order.amount), mean=Avg(Order.amount), low=Min(Order.amount), high=Max(Order.amount),
        users=CountDistinct(Order.user_id), notes=Count(Order.note),
    ).or_raise()
    assert_type(result, Any)  # dicts keyed by the names given: no precise type to give
    assert_type(Avg(Line.price) > 2.5, AggCompare[Line])
    assert_type(Avg(Line.qty) >= 1.5, AggCompare[Line])
    assert_type(Avg(Order.amount) >= Decimal(1), AggCompare[Order])
    assert_type(Sum(Line.qty) > 3, AggCompare[Line])
    assert_type(Count(), AggRef[Any, int])
    assert_type(Max(Order.amount), AggRef[Order, Decimal])


async def expressions(db: Ommi) -> None:
    assert_type(User.age + 1, ExprRef[User, int])
    assert_type(1 + User.age, ExprRef[User, int])
    assert_type(User.age * User.age - 2, ExprRef[User, int])
    assert_type(-User.age, ExprRef[User, int])
    assert_type(Order.amount * 2, ExprRef[Order, Decimal])
    assert_type(User.age + 1 > 18, CompareExpr[User])
    assert_type(User.age > User.age, CompareExpr[User])
    assert_type(User.age == User.age, CompareExpr[User])
    assert_type(Line.qty * Line.price >= 10.0, CompareExpr[Line])
    assert_type(User.name.lower(), ExprRef[User, str])
    assert_type(User.name.upper() == "ANN", CompareExpr[User])
    assert_type(User.name.ilike("a%"), LikeExpr[User])
    assert_type(User.name.lower().like("a%"), LikeExpr[User])
    assert_type((User.age + 1).desc, OrderBy)
    assert_type(await db.find(User).order_by(User.name.lower(), (User.age * 2).desc).all().or_raise(), list[User])
    assert_type(await db.find(User).update(age=User.age + 1).or_raise(), int)


async def projections(db: Ommi) -> None:
    names = db.find(User.age >= 18).values(User.name, User.age)
    assert_type(names, ValuesQuery[tuple[str, int]])
    assert_type(await names.all().or_raise(), list[tuple[str, int]])
    assert_type(await names.first().or_raise(), tuple[str, int] | None)
    assert_type(await names.one().or_raise(), tuple[str, int])
    assert_type(names.distinct().order_by(User.name).limit(3).offset(1), ValuesQuery[tuple[str, int]])
    async for name, age in names:
        assert_type(name, str)
        assert_type(age, int)
    async for rows in names.batches(100):
        assert_type(rows, list[tuple[str, int]])
    emails = db.find(User).values(User.email)
    assert_type(await emails.all().or_raise(), list[tuple[str | None]])
    buyers = db.find(Order.amount > Decimal(100)).values(Order.user_id)
    assert_type(User.id.in_(buyers), InValues[User])
    assert_type(User.id.not_in(buyers), Not[User])
    assert_type(await db.find(User, User.id.in_(buyers)).all().or_raise(), list[User])


async def upserts_and_raw(db: Ommi) -> None:
    assert_type(await db.upsert(User("Ann", 31, "ann@example.com"), on=User.email).or_raise(), list[User])
    assert_type(await db.upsert(Order(Decimal(1), 1)).or_raise(), list[Order])
    assert_type(await db.raw("SELECT name FROM User WHERE age > ?", 18).or_raise(), list[Any])
    assert_type(await db.raw("SELECT * FROM User", into=User).or_raise(), list[User])
    assert_type(Order.user.has(User.name == "Ann"), Related[Any])


async def main() -> None:
    async with Ommi.connect("sqlite://") as db:
        assert_type(db, Ommi)
        await db.schema(shop).create_models().or_raise()
        await writes(db)
    db2 = await Ommi.connect("sqlite://")
    assert_type(db2, Ommi)
    await db2.close()
