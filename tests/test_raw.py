"""``db.raw()``: the native escape hatch, on every backend, in each backend's own form.

The statement for each backend is built from what the driver says about itself
(an SQL dialect's placeholders and quoting; a command document for MongoDB; a
function for the memory store), so the same promises are checked everywhere:
values are bound, never formatted into the statement; the statement is logged
without them; ``into=`` builds instances; failures are ommi errors; it runs in
the transaction it is called on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ommi import DBFailure, Ommi, errors
from ommi.sql import SQLDriver
from ommi.testing.models import Person, suite_collection
from ommi.testing.suite.observability import SECRET, captured

HOSTILE = "x'); DELETE FROM \"Person\"; --"


@pytest.fixture
async def db(ommi_url: str) -> AsyncIterator[Ommi]:
    async with Ommi.connect(ommi_url) as db:
        await db.schema(suite_collection).create_models().or_raise()
        await db.find(Person).delete().or_raise()
        await db.add(Person("Ann", 31), Person(HOSTILE, 40), Person(SECRET, 50)).or_raise()
        try:
            yield db
        finally:
            await db.find(Person).delete().or_raise()


def names_older_than(db: Ommi, age: int, name: str) -> tuple[Any, tuple[Any, ...], bool]:
    """The backend's own statement selecting names of people older than ``age`` not named ``name``."""
    driver = db.driver
    if isinstance(driver, SQLDriver):
        d = driver.dialect
        q, p = d.quote, d.placeholder
        sql = (
            f"SELECT {q('name')} FROM {q('Person')} WHERE {q('age')} > {p(1)} AND {q('name')} <> {p(2)} "
            f"ORDER BY {q('age')}"
        )
        return sql, (age, name), True
    if type(driver).__name__ == "MongoDBDriver":
        command = {
            "aggregate": "Person",
            "pipeline": [
                {"$match": {"age": {"$gt": age}, "name": {"$ne": name}}},
                {"$sort": {"age": 1}},
                {"$project": {"_id": 0, "name": 1}},
            ],
            "cursor": {},
        }
        return command, (), False

    def memory(tables: dict[str, list[dict[str, Any]]], age: int, name: str) -> list[tuple[str]]:
        rows = sorted(tables["Person"], key=lambda r: r["age"])
        return [(r["name"],) for r in rows if r["age"] > age and r["name"] != name]

    return memory, (age, name), True


def plain(rows: list[Any]) -> list[str]:
    return [r["name"] if isinstance(r, dict) else r[0] for r in rows]


async def test_values_are_bound_never_formatted(db: Ommi) -> None:
    assert "raw" in db.capabilities
    statement, params, _ = names_older_than(db, 30, HOSTILE)
    assert plain(await db.raw(statement, *params).or_raise()) == ["Ann", SECRET]
    statement, params, _ = names_older_than(db, 35, "nobody")
    assert plain(await db.raw(statement, *params).or_raise()) == [HOSTILE, SECRET]
    assert await db.find(Person).count().or_raise() == 3  # the hostile text stayed a value


async def test_statement_logged_without_values(db: Ommi) -> None:
    statement, params, _ = names_older_than(db, 45, SECRET)
    with captured() as log:
        assert plain(await db.raw(statement, *params).or_raise()) == []
    texts = log.texts("ommi.statements")
    assert texts, "the raw statement was not logged"
    assert not any(SECRET in t for t in log.texts()), log.texts()


async def test_into_builds_instances(db: Ommi) -> None:
    driver = db.driver
    if isinstance(driver, SQLDriver):
        d = driver.dialect
        sql = f"SELECT * FROM {d.quote('Person')} WHERE {d.quote('age')} < {d.placeholder(1)}"
        rows = await db.raw(sql, 35, into=Person)
    elif type(driver).__name__ == "MongoDBDriver":
        rows = await db.raw({"find": "Person", "filter": {"age": {"$lt": 35}}}, into=Person)
    else:
        rows = await db.raw(lambda tables: [r for r in tables["Person"] if r["age"] < 35], into=Person)
    people = rows.or_raise()
    assert [(p.name, p.age) for p in people] == [("Ann", 31)]
    assert isinstance(people[0], Person) and people[0].id is not None


async def test_failures_are_ommi_errors(db: Ommi) -> None:
    driver = db.driver
    bad: Any = "SELEKT nothing" if isinstance(driver, SQLDriver) else {"noSuchCommand": 1}
    if type(driver).__name__ == "MemoryDriver":
        bad = "not a function"
    result = await db.raw(bad)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.OmmiError)
    # the connection is fine afterwards
    statement, params, _ = names_older_than(db, 0, "")
    assert len(await db.raw(statement, *params).or_raise()) == 3


async def test_raw_runs_in_the_transaction(db: Ommi) -> None:
    statement, params, _ = names_older_than(db, 0, "")
    async with db.transaction() as tx:
        await tx.add(Person("Tx", 99)).or_raise()
        assert "Tx" in plain(await tx.raw(statement, *params).or_raise())
        await tx.rollback()
    assert "Tx" not in plain(await db.raw(statement, *params).or_raise())
