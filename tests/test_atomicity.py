"""Atomicity under concurrency: money is neither created nor lost, failed work leaves no trace.

Runs on every backend that declares ``transactions``: many concurrent tasks
move amounts between accounts inside transactions and retry (a bounded number
of times) when the backend reports a conflict with ``TransactionError``; the
total stays constant and every transfer is applied exactly once.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from ommi import DBFailure, Key, ModelCollection, Ommi, Unique, errors, ommi_model
from ommi.testing.suite._helpers import fresh_tables, together
from tests._fuzz import scaled
from tests.backends import mongodb

coll = ModelCollection("atomicity")
ACCOUNTS = 6
START = 1000
TASKS = 12
TRANSFERS_PER_TASK = scaled(8)
RETRIES = 60


@ommi_model(collection=coll)
@dataclass
class Account:
    owner: Annotated[str, Unique]
    balance: int
    id: Annotated[int | None, Key] = None


@ommi_model(collection=coll)
@dataclass
class Ledger:
    transfer: Annotated[str, Unique]
    amount: int
    id: Annotated[int | None, Key] = None


class Abort(Exception):
    pass


@pytest.fixture
async def db(ommi_url: str) -> Any:
    async with Ommi.connect(ommi_url) as handle:
        if "transactions" not in handle.capabilities:
            pytest.skip("driver does not declare capability: transactions")
        async with fresh_tables(handle, coll):
            yield handle


async def _transfer(
    db: Ommi, name: str, src: int, dst: int, amount: int, conflicts: tuple[type[errors.OmmiError], ...]
) -> int:
    """Move ``amount`` from ``src`` to ``dst``; return the number of conflicts retried."""
    for attempt in range(RETRIES):
        try:
            async with db.transaction() as tx:
                a = await tx.get(Account, src).or_raise()
                b = await tx.get(Account, dst).or_raise()
                a.balance -= amount
                b.balance += amount
                await tx.save(a, b).or_raise()
                await tx.add(Ledger(name, amount)).or_raise()
            return attempt
        except conflicts:
            await asyncio.sleep(random.random() * 0.01 * (attempt + 1))
    raise AssertionError(f"transfer {name} still conflicted after {RETRIES} attempts")


async def test_concurrent_transfers_keep_the_total(db: Ommi, ommi_url: str) -> None:
    conflicts: tuple[type[errors.OmmiError], ...] = (errors.TransactionError,)
    if mongodb.reports_conflicts_as_duplicates(ommi_url):  # the test server's own divergence
        conflicts = (errors.TransactionError, errors.IntegrityError)
    accounts = await db.add(*(Account(f"owner{n}", START) for n in range(ACCOUNTS))).or_raise()
    ids = [a.id for a in accounts]
    rng = random.Random(8)
    plans = [
        [(f"t{task}-{n}", *rng.sample(ids, 2), rng.randint(1, 50)) for n in range(TRANSFERS_PER_TASK)]
        for task in range(TASKS)
    ]

    async def worker(plan: list[tuple[str, int, int, int]]) -> int:
        return sum([await _transfer(db, *step, conflicts) for step in plan])

    async with asyncio.timeout(120):  # (together: a worker that fails stops the others, none outlives the test)
        retries = sum(await together(*(worker(p) for p in plans)))
    final = await db.find(Account).all().or_raise()
    assert sum(a.balance for a in final) == START * ACCOUNTS
    assert await db.find(Ledger).count().or_raise() == TASKS * TRANSFERS_PER_TASK  # each applied once
    expected = {i: START for i in ids}
    for plan in plans:
        for _, src, dst, amount in plan:
            expected[src] -= amount
            expected[dst] += amount
    assert {a.id: a.balance for a in final} == expected
    print(f"atomicity: {TASKS * TRANSFERS_PER_TASK} transfers, {retries} conflicts retried")


async def test_an_exception_inside_a_transaction_leaves_no_trace(db: Ommi) -> None:
    (ann,) = await db.add(Account("ann", 10)).or_raise()
    with pytest.raises(Abort):
        async with db.transaction() as tx:
            await tx.add(Account("bob", 5), Account("carol", 7)).or_raise()
            await tx.find(Account.id == ann.id).update(balance=0).or_raise()
            await tx.add(Ledger("x", 1)).or_raise()
            await tx.find(Account.owner == "bob").delete().or_raise()
            raise Abort
    assert [(a.owner, a.balance) for a in await db.find(Account).all().or_raise()] == [("ann", 10)]
    assert await db.find(Ledger).count().or_raise() == 0
    # and the store is fully usable afterwards, with the same names
    await db.add(Account("bob", 5)).or_raise()


async def test_a_failing_bulk_add_stores_nothing(db: Ommi) -> None:
    await db.add(Account("taken", 1)).or_raise()
    batch = [Account(f"new{n}", n) for n in range(50)] + [Account("taken", 2)] + [Account("later", 3)]
    result = await db.add(*batch)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError), result
    assert await db.find(Account).count().or_raise() == 1
    assert all(a.id is None for a in batch), "no key is written back after a failed add()"
    # duplicates inside one batch fail the same way
    result = await db.add(Account("dup", 1), Account("dup", 2))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError)
    assert await db.find(Account).count().or_raise() == 1
    # inside a transaction, the failed add() undoes only itself
    async with db.transaction() as tx:
        await tx.add(Account("kept", 1)).or_raise()
        failed = await tx.add(Account("x1", 1), Account("taken", 1))
        assert isinstance(failed, DBFailure)
    assert sorted(a.owner for a in await db.find(Account).all().or_raise()) == ["kept", "taken"]
