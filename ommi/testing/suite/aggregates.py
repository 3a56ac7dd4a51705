"""Conformance tests: aggregates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ommi import Avg, Count, CountDistinct, DBFailure, Max, Min, Ommi, Sum, errors
from ommi.testing.models import (
    Sale,
)

SALES = [
    # customer, status, amount, qty, price, day, region
    (7, "paid", "120.00", 1, 1.5, date(2024, 1, 3), "north"),
    (7, "paid", "100.00", 2, 2.5, date(2024, 1, 1), "north"),
    (7, "paid", "30.00", None, None, None, None),
    (8, "paid", "60.50", 4, 0.25, date(2024, 2, 1), "south"),
    (8, "open", "999.99", 5, None, date(2023, 12, 31), "south"),
    (9, "paid", "101.00", 1, 10.0, date(2024, 3, 1), None),
]


async def sales(db: Ommi) -> None:
    await db.add(*(Sale(c, s, Decimal(a), q, p, d, r) for c, s, a, q, p, d, r in SALES)).or_raise()


async def test_grouped_aggregates_with_having_and_ordering(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await (
        suite_db.find(Sale.status == "paid")
        .group_by(Sale.customer_id)
        .having(Sum(Sale.amount) > Decimal(100))
        .order_by(Sum(Sale.amount).desc)
        .aggregate(n=Count(), total=Sum(Sale.amount), biggest=Max(Sale.amount))
        .or_raise()
    )
    assert rows == [
        {"customer_id": 7, "n": 3, "total": Decimal("250.00"), "biggest": Decimal("120.00")},
        {"customer_id": 9, "n": 1, "total": Decimal("101.00"), "biggest": Decimal("101.00")},
    ]
    assert all(type(r["total"]) is Decimal and type(r["n"]) is int for r in rows)


async def test_ungrouped_aggregate_is_one_dict_even_when_nothing_matches(suite_db: Ommi) -> None:
    await sales(suite_db)
    totals = await suite_db.find(Sale).aggregate(n=Count(), avg=Avg(Sale.amount)).or_raise()
    assert totals["n"] == 6
    assert abs(totals["avg"] - Decimal("1411.49") / 6) < Decimal("1e-12")
    assert type(totals["avg"]) is Decimal
    empty = await suite_db.find(Sale.status == "void").aggregate(
        n=Count(), total=Sum(Sale.amount), low=Min(Sale.day), mean=Avg(Sale.qty)).or_raise()
    assert empty == {"n": 0, "total": None, "low": None, "mean": None}


async def test_aggregate_result_types_and_null_handling(suite_db: Ommi) -> None:
    await sales(suite_db)
    got = await suite_db.find(Sale).aggregate(
        rows=Count(), qtys=Count(Sale.qty), customers=CountDistinct(Sale.customer_id),
        qty_sum=Sum(Sale.qty), qty_avg=Avg(Sale.qty), price_sum=Sum(Sale.price),
        first_day=Min(Sale.day), last_day=Max(Sale.day), top_region=Max(Sale.region),
    ).or_raise()
    assert got == {
        "rows": 6, "qtys": 5, "customers": 3, "qty_sum": 13, "qty_avg": 13 / 5, "price_sum": 14.25,
        "first_day": date(2023, 12, 31), "last_day": date(2024, 3, 1), "top_region": "south",
    }
    assert type(got["qty_sum"]) is int and type(got["qty_avg"]) is float and type(got["price_sum"]) is float
    assert type(got["first_day"]) is date


async def test_many_groups_give_counts_and_integer_sums_as_ints(suite_db: Ommi) -> None:
    # enough groups that a driver may test whole columns rather than values (PostgreSQL
    # and MySQL sum integers as decimals, which must come back as ints)
    await suite_db.add(
        *(Sale(i % 12, "paid", Decimal(i), i, None, None, None) for i in range(60))
    ).or_raise()
    rows = await suite_db.find(Sale).group_by(Sale.customer_id).aggregate(n=Count(), qty=Sum(Sale.qty)).or_raise()
    assert rows == [{"customer_id": c, "n": 5, "qty": sum(range(c, 60, 12))} for c in range(12)]
    assert all(type(r["customer_id"]) is int and type(r["n"]) is int and type(r["qty"]) is int for r in rows)


async def test_group_by_nullable_field_puts_null_group_first(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await suite_db.find(Sale).group_by(Sale.region).aggregate(n=Count()).or_raise()
    assert rows == [{"region": None, "n": 2}, {"region": "north", "n": 2}, {"region": "south", "n": 2}]


async def test_grouped_paging_and_multiple_group_fields(suite_db: Ommi) -> None:
    await sales(suite_db)
    q = suite_db.find(Sale).group_by(Sale.customer_id, Sale.status).order_by(Sale.customer_id, Sale.status.desc)
    rows = await q.aggregate(n=Count()).or_raise()
    assert [(r["customer_id"], r["status"], r["n"]) for r in rows] == [
        (7, "paid", 3), (8, "paid", 1), (8, "open", 1), (9, "paid", 1)]
    page = await q.offset(1).limit(2).aggregate(n=Count()).or_raise()
    assert [(r["customer_id"], r["status"]) for r in page] == [(8, "paid"), (8, "open")]


async def test_having_combines_with_group_fields_and_negation(suite_db: Ommi) -> None:
    await sales(suite_db)
    rows = await (
        suite_db.find(Sale)
        .group_by(Sale.customer_id)
        .having(~(Count() > 2), Sale.customer_id != 9)
        .aggregate(n=Count(), low=Min(Sale.amount))
        .or_raise()
    )
    assert rows == [{"customer_id": 8, "n": 2, "low": Decimal("60.50")}]
    by_avg = await (suite_db.find(Sale).group_by(Sale.customer_id).having(Avg(Sale.qty) >= 1.5)
                    .aggregate(mean=Avg(Sale.qty)).or_raise())
    assert by_avg == [{"customer_id": 7, "mean": 1.5}, {"customer_id": 8, "mean": 4.5}]


async def test_aggregate_misuse_fails_clearly(suite_db: Ommi) -> None:
    grouped = suite_db.find(Sale).group_by(Sale.customer_id)
    listed = await grouped.all()
    assert isinstance(listed, DBFailure) and isinstance(listed.error, errors.QueryError)
    nothing = await grouped.aggregate()
    assert isinstance(nothing, DBFailure) and isinstance(nothing.error, errors.QueryError)
    bad_order = await grouped.order_by(Sale.status).aggregate(n=Count())
    assert isinstance(bad_order, DBFailure) and "not grouped" in str(bad_order.error)
    with pytest.raises(errors.QueryError):
        Sum(Sale.status)
    with pytest.raises(errors.ValidationError):
        Count() > "many"  # type: ignore[operator]  # noqa: B015 - the wrong type on purpose
