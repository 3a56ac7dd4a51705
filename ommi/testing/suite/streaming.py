"""Conformance tests: streaming."""

from __future__ import annotations

from ommi import Ommi
from ommi.testing.models import (
    Person,
)


async def test_streaming_yields_every_row_in_order(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i:05d}", i % 90) for i in range(1234))).or_raise()
    seen = [p.name async for p in suite_db.find(Person).order_by(Person.name)]
    assert seen == [f"n{i:05d}" for i in range(1234)]
    filtered = [p async for p in suite_db.find(Person.name.startswith("n001"))]
    assert len(filtered) == 100


async def test_streaming_can_stop_early(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"n{i}", i) for i in range(50))).or_raise()
    taken = []
    async for p in suite_db.find(Person).order_by(Person.age):
        taken.append(p.age)
        if len(taken) == 3:
            break
    assert taken == [0, 1, 2]
    assert await suite_db.find(Person).count().or_raise() == 50


async def test_a_stream_yields_each_row_once_as_of_its_start(suite_db: Ommi) -> None:
    # several of every driver's batches (1,000 to 2,048 rows)
    await suite_db.add(*(Person(f"p{i:04d}", i) for i in range(5000))).or_raise()
    seen: list[str] = []
    async for p in suite_db.find(Person).order_by(Person.age):
        seen.append(p.name)
        if len(seen) % 600 == 1:
            # other work on the same Ommi while the stream is open
            await suite_db.find(Person.name == p.name).update(age=p.age + 5000).or_raise()
            await suite_db.add(Person(f"new{len(seen)}", len(seen) + 3000)).or_raise()
    assert seen == [f"p{i:04d}" for i in range(5000)]
