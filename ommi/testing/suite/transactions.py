"""Conformance tests: transactions."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from ommi import DBFailure, DBSuccess, Ommi, errors
from ommi.testing.models import (
    Article,
    Category,
    Person,
    Remark,
    Writer,
)
from ommi.testing.suite._helpers import names, together


@pytest.mark.requires("transactions")
async def test_transaction_commits_on_exit(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Carol", 40)).or_raise()
        assert await tx.find(Person).count().or_raise() == 1
    assert await suite_db.find(Person).count().or_raise() == 1


@pytest.mark.requires("transactions")
async def test_transaction_rolls_back_on_exception_and_reraises(suite_db: Ommi) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with suite_db.transaction() as tx:
            await tx.add(Person("Carol", 40)).or_raise()
            await tx.find(Person).update(age=1).or_raise()
            raise Boom
    assert await suite_db.find(Person).count().or_raise() == 0


@pytest.mark.requires("transactions", "concurrent_transactions")
async def test_outside_work_does_not_see_uncommitted_writes(suite_db: Ommi) -> None:
    await suite_db.add(Person("Before", 1)).or_raise()
    outside = suite_db.outside_transaction()
    async with suite_db.transaction() as tx:
        await tx.add(Person("Inside", 2)).or_raise()
        assert await tx.find(Person).count().or_raise() == 2
        assert await outside.find(Person).count().or_raise() == 1
        assert await outside.find(Person.name == "Inside").first().or_raise() is None

        async def elsewhere() -> int:  # another task, started with a context of its own
            return await suite_db.find(Person).count().or_raise()

        assert await asyncio.create_task(elsewhere(), context=contextvars.Context()) == 1
    assert await suite_db.find(Person).count().or_raise() == 2


@pytest.mark.requires("transactions")
async def test_db_actions_inside_a_block_run_in_its_transaction(suite_db: Ommi) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with suite_db.transaction():
            # db, not tx: the block's task runs them in the block's transaction
            [p] = await suite_db.add(Person("Inside", 1)).or_raise()
            assert await suite_db.find(Person).count().or_raise() == 1
            assert (await suite_db.get(Person, p.id).or_raise()).name == "Inside"
            await suite_db.find(Person.name == "Inside").update(age=2).or_raise()
            raise Abort
    assert await suite_db.find(Person).count().or_raise() == 0, "the writes rolled back with the block"
    assert p.id is None, "keys generated in the rolled-back block are cleared"


@pytest.mark.requires("transactions")
async def test_tasks_started_in_a_block_join_it_and_never_write_outside_it(suite_db: Ommi) -> None:
    started: list[asyncio.Task[Any]] = []
    async with suite_db.transaction():
        await suite_db.add(Person("Owner", 1)).or_raise()

        async def helper(i: int) -> None:
            await suite_db.add(Person(f"helper{i}", i)).or_raise()

        await asyncio.gather(*(helper(i) for i in range(5)))  # in the transaction, taking turns
        assert await suite_db.find(Person).count().or_raise() == 6

        async def late() -> Any:
            await asyncio.sleep(0.05)
            return await suite_db.add(Person("Late", 9))

        started.append(asyncio.create_task(late()))
    assert await suite_db.find(Person).count().or_raise() == 6
    late_result = await started[0]
    assert isinstance(late_result, DBFailure) and isinstance(late_result.error, errors.TransactionError)
    assert await suite_db.find(Person.name == "Late").count().or_raise() == 0


@pytest.mark.requires("transactions", "concurrent_transactions")
async def test_in_transaction_retries_conflicts_until_every_increment_lands(suite_db: Ommi) -> None:
    [counter] = await suite_db.add(Person("counter", 0)).or_raise()
    assert counter.id is not None
    key = counter.id

    async def increment(tx: Any) -> int:
        person = await tx.get(Person, key).or_raise()
        await asyncio.sleep(0)  # let the others read the same value: a lost update if nothing guards it
        person.age += 1
        await tx.save(person).or_raise()
        return int(person.age)

    results = await asyncio.gather(
        *(suite_db.in_transaction(increment, retries=50) for _ in range(8)), return_exceptions=True
    )
    assert all(isinstance(r, DBSuccess) for r in results), results
    assert (await suite_db.get(Person, key).or_raise()).age == 8


@pytest.mark.requires("transactions")
async def test_in_transaction_returns_the_value_and_does_not_retry_other_errors(suite_db: Ommi) -> None:
    calls = 0

    async def add_two(tx: Any) -> list[str]:
        nonlocal calls
        calls += 1
        people = await tx.add(Person("A", 1), Person("B", 2)).or_raise()
        return [p.name for p in people]

    assert await suite_db.in_transaction(add_two).or_raise() == ["A", "B"]
    assert calls == 1

    async def clash(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.add(Person("C", 3, id=1234)).or_raise()
        await tx.add(Person("D", 4, id=1234)).or_raise()

    failed = await suite_db.in_transaction(clash, retries=5)
    assert isinstance(failed, DBFailure) and isinstance(failed.error, errors.IntegrityError)
    assert calls == 2, "an integrity error is not a conflict: no retry"
    assert await names(suite_db) == ["A", "B"]


@pytest.mark.requires("transactions")
async def test_explicit_commit_and_rollback(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Kept", 1)).or_raise()
        await tx.commit()
        closed = await tx.find(Person).count()
        assert isinstance(closed, DBFailure) and isinstance(closed.error, errors.TransactionError)
    async with suite_db.transaction() as tx:
        await tx.add(Person("Dropped", 2)).or_raise()
        await tx.rollback()
    assert await names(suite_db) == ["Kept"]


@pytest.mark.requires("transactions")
async def test_failed_add_inside_transaction_keeps_the_transaction_usable(suite_db: Ommi) -> None:
    await suite_db.add(Person("A", 1, id=1)).or_raise()
    async with suite_db.transaction() as tx:
        await tx.add(Person("B", 2)).or_raise()
        dup = await tx.add(Person("dup", 3, id=1), Person("C", 4))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
        await tx.add(Person("D", 5)).or_raise()
    assert await names(suite_db) == ["A", "B", "D"]


@pytest.mark.requires("transactions", "savepoints")
async def test_adds_of_rows_that_refer_to_others_inside_a_transaction(suite_db: Ommi) -> None:
    """One add() after another of models with references: each gets its key, a missing
    referenced row or a taken key fails that add() alone, and the transaction goes on."""
    [ann] = await suite_db.add(Writer("Ann")).or_raise()
    async with suite_db.transaction() as tx:
        [bob] = await tx.add(Writer("Bob")).or_raise()
        [first] = await tx.add(Article("first", ann.id)).or_raise()
        [second] = await tx.add(Article("second", bob.id)).or_raise()  # refers to a row of this transaction
        [loose] = await tx.add(Article("loose")).or_raise()  # refers to nothing
        [given] = await tx.add(Article("given", ann.id, id=5000)).or_raise()
        orphan = await tx.add(Article("orphan", 987_654))
        assert isinstance(orphan, DBFailure) and isinstance(orphan.error, errors.IntegrityError)
        assert (orphan.error.kind, orphan.error.fields) == ("reference", ("writer_id",))
        taken = await tx.add(Article("taken", ann.id, id=first.id))
        assert isinstance(taken, DBFailure) and isinstance(taken.error, errors.IntegrityError)
        assert (taken.error.kind, taken.error.fields) == ("key", ("id",))
        [later] = await tx.add(Article("later", bob.id)).or_raise()
        assert first.id is not None and bob.id is not None
        [remark] = await tx.add(Remark("kept", first.id, bob.id)).or_raise()
        lost = await tx.add(Remark("lost", first.id, 987_654))
        assert isinstance(lost, DBFailure) and isinstance(lost.error, errors.IntegrityError)
        assert lost.error.kind == "reference"
        [root] = await tx.add(Category("root")).or_raise()
        [child] = await tx.add(Category("child", root.id)).or_raise()
        [itself] = await tx.add(Category("itself", 7000, id=7000)).or_raise()  # refers to its own row
    assert len({first.id, second.id, loose.id, given.id, later.id}) == 5 and given.id == 5000
    stored = {a.title: a.writer_id for a in await suite_db.find(Article).all().or_raise()}
    assert stored == {"first": ann.id, "second": bob.id, "loose": None, "given": ann.id, "later": bob.id}
    assert [r.text for r in await suite_db.find(Remark).all().or_raise()] == ["kept"] and remark.id is not None
    parents = {c.name: c.parent_id for c in await suite_db.find(Category).all().or_raise()}
    assert parents == {"root": None, "child": root.id, "itself": itself.id} and child.id is not None
    itself.parent_id = None  # (InnoDB cannot delete a row referring to itself: the cleanup could not)
    await suite_db.save(itself).or_raise()


@pytest.mark.requires("transactions", "savepoints")
async def test_nested_block_is_a_savepoint(suite_db: Ommi) -> None:
    async with suite_db.transaction() as tx:
        await tx.add(Person("Outer", 1)).or_raise()
        with pytest.raises(RuntimeError):
            async with tx.transaction() as inner:
                await inner.add(Person("Inner", 2)).or_raise()
                raise RuntimeError("undo only the inner block")
        async with tx.transaction() as inner:
            await inner.add(Person("Kept", 3)).or_raise()
    assert await names(suite_db) == ["Kept", "Outer"]


@pytest.mark.requires("transactions", "savepoints")
async def test_keys_generated_in_a_block_that_rolls_back_are_cleared(suite_db: Ommi) -> None:
    """A generated key written back into an instance is taken back when the block that stored
    its row rolls back (a later add() must not reuse it); the keys of a nested block that
    committed follow its outer block, the others stay."""

    class Abort(Exception):
        pass

    async with suite_db.transaction() as tx:
        [outer] = await tx.add(Person("Outer", 1)).or_raise()
        with pytest.raises(Abort):
            async with tx.transaction() as inner:
                [undone] = await inner.add(Person("Undone", 2)).or_raise()
                assert undone.id is not None
                raise Abort
        assert undone.id is None and outer.id is not None
        async with tx.transaction() as inner:
            [kept, also] = await inner.add(Person("Kept", 3), Person("Also", 4)).or_raise()
            [more] = await inner.add(Person("More", 5)).or_raise()
    assert None not in (outer.id, kept.id, also.id, more.id)
    with pytest.raises(Abort):
        async with suite_db.transaction() as tx:
            [a] = await tx.add(Person("A", 6)).or_raise()
            [given] = await tx.add(Person("Given", 7, id=9000)).or_raise()
            async with tx.transaction() as inner:
                [b, c] = await inner.add(Person("B", 8), Person("C", 9)).or_raise()
            raise Abort
    assert (a.id, b.id, c.id) == (None, None, None)
    assert given.id == 9000, "a key the instance came with is its own: it stays"
    [again] = await suite_db.add(undone).or_raise()  # its cleared key is generated anew
    assert again.id is not None and again.id not in (outer.id, kept.id, also.id, more.id)
    assert await names(suite_db) == ["Also", "Kept", "More", "Outer", "Undone"]


@pytest.mark.requires("transactions")
async def test_nested_block_without_savepoints_is_unsupported(suite_db: Ommi) -> None:
    if "savepoints" in suite_db.capabilities:
        async with suite_db.transaction() as tx, tx.transaction() as inner:
            await inner.add(Person("x", 1)).or_raise()
        assert await suite_db.find(Person).count().or_raise() == 1
        return
    async with suite_db.transaction() as tx:
        await tx.add(Person("x", 1)).or_raise()
        with pytest.raises(errors.UnsupportedError):
            async with tx.transaction():
                pass
    assert await suite_db.find(Person).count().or_raise() == 1


async def test_concurrent_actions_on_one_ommi(suite_db: Ommi) -> None:
    async def work(i: int) -> int:
        await suite_db.add(Person(f"c{i}", i)).or_raise()
        return await suite_db.find(Person.age == i).count().or_raise()

    results = await together(*(work(i) for i in range(60)))
    assert results == [1] * 60
    assert await suite_db.find(Person).count().or_raise() == 60


@pytest.mark.requires("transactions")
async def test_a_failed_statement_never_commits_silently_without_earlier_writes(suite_db: Ommi) -> None:
    """After a write fails inside a transaction, the block either commits every write that
    succeeded, or the commit raises TransactionError: never a success that lost writes."""
    await suite_db.add(Person("Taken", 1, email="taken@example.com")).or_raise()
    committed = True
    try:
        async with suite_db.transaction() as tx:
            await tx.add(Person("Kept?", 2)).or_raise()
            clash = await tx.find(Person.name == "Kept?").update(email="taken@example.com")
            assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)
    except errors.TransactionError:
        committed = False
    if committed:
        assert await names(suite_db) == ["Kept?", "Taken"]
    else:
        assert await names(suite_db) == ["Taken"]


@pytest.mark.requires("transactions")
async def test_an_aborted_transaction_reports_itself_on_later_statements(suite_db: Ommi) -> None:
    await suite_db.add(Person("Taken", 1, email="taken@example.com")).or_raise()
    with pytest.raises(errors.OmmiError):
        async with suite_db.transaction() as tx:
            await tx.add(Person("Other", 2)).or_raise()
            clash = await tx.find(Person.name == "Other").update(email="taken@example.com")
            assert isinstance(clash, DBFailure)
            # either the transaction is still usable, or every later statement says it is not
            later = await tx.find(Person).count()
            if isinstance(later, DBFailure):
                assert isinstance(later.error, errors.TransactionError), later.error
            raise errors.QueryError("leave the block")
    assert await names(suite_db) == ["Taken"]


@pytest.mark.requires("transactions")
async def test_keys_generated_in_a_rolled_back_transaction_are_cleared(suite_db: Ommi) -> None:
    people = [Person("A", 1), Person("B", 2)]
    async with suite_db.transaction() as tx:
        await tx.add(*people).or_raise()
        assert all(p.id is not None for p in people)
        await tx.rollback()
    assert [p.id for p in people] == [None, None]
    await suite_db.add(*people).or_raise()  # adding them again gets fresh keys
    assert await suite_db.find(Person).count().or_raise() == 2
    given = Person("Given", 3, id=4242)
    async with suite_db.transaction() as tx:
        await tx.add(given).or_raise()
        await tx.rollback()
    assert given.id == 4242, "a key the program chose is the program's"


@pytest.mark.requires("transactions")
async def test_a_stream_inside_a_transaction_yields_each_row_once_as_of_its_start(suite_db: Ommi) -> None:
    await suite_db.add(*(Person(f"p{i:04d}", i) for i in range(1200))).or_raise()
    seen: list[str] = []
    async with suite_db.transaction() as tx:
        async for p in tx.find(Person).order_by(Person.age):
            seen.append(p.name)
            if len(seen) % 100 == 1:
                # move streamed rows behind the cursor, add and remove rows, mid-stream
                await tx.find(Person.name == p.name).update(age=p.age + 5000).or_raise()
                await tx.add(Person(f"new{len(seen)}", len(seen) + 3000)).or_raise()
                await tx.find(Person.age == 1199).delete().or_raise()
    assert seen == [f"p{i:04d}" for i in range(1200)]
