"""Conformance tests: lifecycle events."""

from __future__ import annotations

from typing import Any

import pytest

from ommi import DBFailure, Ommi
from ommi.testing.models import (
    Author,
    Person,
    Stamped,
)


async def test_model_hooks_change_instances_before_they_are_written(suite_db: Ommi) -> None:
    [item] = await suite_db.add(Stamped("a")).or_raise()
    assert item.revision == 1
    item.label = "b"
    await suite_db.save(item).or_raise()
    stored = await suite_db.get(Stamped, item.id).or_raise()
    assert (stored.label, stored.revision) == ("b", 2)


async def test_before_hook_can_cancel_and_nothing_is_stored(suite_db: Ommi) -> None:
    def refuse_minors(person: Person) -> None:
        if person.age < 18:
            raise ValueError("too young")

    remove = suite_db.on("before_add", refuse_minors, model=Person)
    try:
        result = await suite_db.add(Person("Adult", 30), Person("Kid", 5))
        assert isinstance(result, DBFailure) and "refuse_minors" in str(result.error)
        assert isinstance(result.error.__cause__, ValueError)
        assert await suite_db.find(Person).count().or_raise() == 0
    finally:
        remove()
    await suite_db.add(Person("Kid", 5)).or_raise()


async def test_instance_hooks_fire_in_order_with_keys(suite_db: Ommi) -> None:
    seen: list[tuple[str, Any]] = []

    def recorder(event: str) -> Any:
        return lambda person: seen.append((event, person.id))

    removers = [
        suite_db.on(event, recorder(event), model=Person)
        for event in ("before_add", "after_add", "before_save", "after_save", "before_delete", "after_delete")
    ]

    async def async_hook(author: Author) -> None:
        seen.append(("author", author.name))

    removers.append(suite_db.on("after_add", async_hook, model=Author))
    try:
        [p] = await suite_db.add(Person("Hooked", 1)).or_raise()
        await suite_db.add(Author("Ann")).or_raise()
        p.age = 2
        await suite_db.save(p).or_raise()
        await suite_db.delete(p).or_raise()
    finally:
        for remove in removers:
            remove()
    assert seen == [("before_add", None), ("after_add", p.id), ("author", "Ann"), ("before_save", p.id),
                    ("after_save", p.id), ("before_delete", p.id), ("after_delete", p.id)]


@pytest.mark.requires("transactions")
async def test_after_commit_fires_once_per_committed_transaction_only(suite_db: Ommi) -> None:
    committed: list[object] = []
    rolled_back: list[object] = []
    removers = [suite_db.on("after_commit", committed.append), suite_db.on("after_rollback", rolled_back.append)]
    try:
        async with suite_db.transaction() as tx:
            await tx.add(Person("A", 1)).or_raise()
            await tx.add(Person("B", 2)).or_raise()
        assert committed == [tx] and rolled_back == []
        with pytest.raises(RuntimeError):
            async with suite_db.transaction() as failed:
                await failed.add(Person("C", 3)).or_raise()
                raise RuntimeError("undo")
        assert committed == [tx] and rolled_back == [failed]
        await suite_db.add(Person("D", 4)).or_raise()
        assert len(committed) == 1, "plain actions outside a transaction are not transactions"
    finally:
        for remove in removers:
            remove()


@pytest.mark.requires("transactions", "savepoints")
async def test_on_commit_callbacks_follow_the_outermost_transaction(suite_db: Ommi) -> None:
    done: list[str] = []
    async with suite_db.transaction() as tx:
        tx.on_commit(lambda: done.append("outer"))
        async with tx.transaction() as kept:
            kept.on_commit(lambda: done.append("kept"))
        with pytest.raises(RuntimeError):
            async with tx.transaction() as dropped:
                dropped.on_commit(lambda: done.append("dropped"))
                dropped.on_rollback(lambda: done.append("dropped rolled back"))
                raise RuntimeError
        assert done == ["dropped rolled back"]
    assert done == ["dropped rolled back", "outer", "kept"]
