"""Conformance tests: what is logged.

Promises (docs/observability.md): every statement a driver runs is logged on
``ommi.statements`` at DEBUG level, and no bound value appears in any record
of the ``ommi`` loggers unless the user opts in with ``db.log_values = True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from ommi import Count, Ommi, StatementEvent
from ommi.testing.models import Person

SECRET = "s3cret-value-\u00e9"  # noqa: S105 - a value that must not leak, not a password
SECRET_AGE = 987654


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self, logger: str | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if logger is None or r.name == logger]


@contextmanager
def captured() -> Iterator[_Records]:
    handler = _Records()
    log = logging.getLogger("ommi")
    old = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(old)


async def _every_kind_of_statement(db: Ommi) -> None:
    [p] = await db.add(Person(SECRET, SECRET_AGE, email=f"{SECRET}@example.com")).or_raise()
    # the query-language forms of expressions, projections, subqueries and upserts
    await db.find(Person, Person.age + SECRET_AGE > SECRET_AGE, Person.name.ilike(SECRET)).count().or_raise()
    adults = db.find(Person, Person.name.lower() != SECRET).values(Person.id)
    await db.find(Person, Person.id.in_(adults)).values(Person.name).distinct().all().or_raise()
    await db.find(Person.name == SECRET).update(age=Person.age * 1).or_raise()
    await db.upsert(Person(SECRET, SECRET_AGE, email=f"{SECRET}@example.com"), on=Person.email).or_raise()
    await db.add(Person("x", 1), Person("y", 2)).or_raise()
    await db.find(Person.name == SECRET).all().or_raise()
    await db.find(Person.age > SECRET_AGE - 1).count().or_raise()
    await db.find(Person.email.startswith(SECRET)).update(city=SECRET).or_raise()
    p.city = SECRET + "2"
    await db.save(p).or_raise()
    await db.find(Person.name.in_([SECRET, "x"])).group_by(Person.name).aggregate(n=Count()).or_raise()
    [streamed] = [q async for q in db.find(Person.name == SECRET)]
    assert streamed.name == SECRET
    [[batched]] = [b async for b in db.find(Person.name == SECRET).batches(10)]
    assert batched.name == SECRET
    await db.find(Person.city == SECRET + "2").delete().or_raise()


async def test_every_statement_is_logged_on_ommi_statements(suite_db: Ommi) -> None:
    with captured() as log:
        await _every_kind_of_statement(suite_db)
    statements = log.texts("ommi.statements")
    # at least one statement per action above (drivers may need more)
    assert len(statements) >= 9, statements
    assert all(line.strip() for line in statements)


async def test_no_bound_value_is_logged_unless_the_user_opts_in(suite_db: Ommi) -> None:
    with captured() as log:
        await _every_kind_of_statement(suite_db)
    leaked = [t for t in log.texts() if SECRET in t or str(SECRET_AGE) in t]
    assert not leaked, leaked
    assert log.texts("ommi"), "the ommi logger records each action"


async def test_values_are_logged_when_the_user_opts_in(suite_db: Ommi) -> None:
    suite_db.log_values = True
    try:
        with captured() as log:
            await suite_db.find(Person.name == SECRET).all().or_raise()
    finally:
        suite_db.log_values = False
    assert any(SECRET in t for t in log.texts("ommi")), log.texts()


async def test_a_stream_the_caller_leaves_early_is_not_reported_as_failed(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i}", i) for i in range(5))).or_raise()
    seen: list[StatementEvent] = []
    remove = suite_db.on_statement(seen.append)
    try:
        with captured() as log:
            async with contextlib.aclosing(aiter(suite_db.find(Person).order_by(Person.age))) as rows:
                async for _ in rows:
                    break  # the caller has what it wanted: the stream ends, nothing failed
            closed = [e for e in seen if e.operation == "stream"]
            async for _ in suite_db.find(Person).order_by(Person.age):
                break  # closed by the event loop soon after, not here
            for _ in range(200):
                if len([e for e in seen if e.operation == "stream"]) == 2:
                    break
                await asyncio.sleep(0.01)
    finally:
        remove()
    assert [e.error for e in closed] == [None], closed
    assert [e.error for e in seen if e.operation == "stream"] == [None, None], seen
    lines = [t for t in log.texts("ommi") if t.startswith("stream Person")]
    assert len(lines) == 2 and not any("(failed)" in t for t in lines), lines


async def test_a_stream_in_batches_is_one_stream_statement(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"b{i}", i) for i in range(25))).or_raise()
    seen: list[StatementEvent] = []
    remove = suite_db.on_statement(seen.append)
    try:
        with captured() as log:
            assert [len(b) async for b in suite_db.find(Person).batches(10)] == [10, 10, 5]
            async with contextlib.aclosing(suite_db.find(Person).batches(10)) as batches:
                async for _ in batches:
                    break  # left early: ended, not failed
    finally:
        remove()
    streams = [e for e in seen if e.operation == "stream"]
    assert [(e.model, e.error) for e in streams] == [(Person, None), (Person, None)], seen
    lines = [t for t in log.texts("ommi") if t.startswith("stream Person")]
    assert len(lines) == 2 and not any("(failed)" in t for t in lines), lines
