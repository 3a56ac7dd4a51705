"""What the conformance suite does not pin down: stores, isolation, conflicts, exactness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import pytest
from ommi_memory import MemoryDriver
from ommi_memory._compiler import like_matcher

from ommi import Avg, Key, ModelCollection, Ommi, ReferenceTo, Sum, errors, ommi_model
from ommi.driver import CAPABILITIES

models = ModelCollection("ommi-memory-tests")


@ommi_model(collection=models)
@dataclass
class Account:
    owner: str
    balance: int
    notes: dict[str, Any] | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=models)
@dataclass
class Node:
    name: str
    parent_id: Annotated[int | None, ReferenceTo("Node.id")] = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=models)
@dataclass
class Measure:
    i: int | None = None
    f: float | None = None
    d: Decimal | None = None
    id: Annotated[int | None, Key] = None


async def open_db(url: str = "memory://") -> Ommi:
    db = await Ommi.connect(url)
    await db.schema(models).create_models().or_raise()
    return db


@pytest.fixture
async def db() -> AsyncIterator[Ommi]:
    db = await open_db()
    yield db
    await db.close()


# -- stores ----------------------------------------------------------------------


async def test_each_plain_url_is_a_private_store() -> None:
    a, b = await open_db(), await open_db()
    await a.add(Account("ann", 1)).or_raise()
    assert await b.find(Account).count().or_raise() == 0
    await a.close()
    await b.close()


async def test_named_store_is_shared_until_the_last_connection_closes() -> None:
    a, b = await open_db("memory://shared"), await Ommi.connect("memory://shared")
    await a.add(Account("ann", 1)).or_raise()
    assert await b.find(Account).count().or_raise() == 1
    await a.close()
    assert await b.find(Account).count().or_raise() == 1
    await b.close()
    fresh = await Ommi.connect("memory://shared")
    result = await fresh.find(Account).count()
    assert isinstance(result.error, errors.SchemaError)  # type: ignore[union-attr]
    await fresh.close()


async def test_closed_store_fails_cleanly(db: Ommi) -> None:
    await db.close()
    with pytest.raises(errors.ConnectionFailed):
        await db.find(Account).count().or_raise()


@pytest.mark.parametrize("url", ["memory://a/b", "memory://x?opt=1", "memory://u:pw@host"])
async def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(errors.ConnectionFailed) as info:
        Ommi.connect(url)
    assert "pw" not in str(info.value)


def test_driver_declares_every_capability() -> None:
    assert MemoryDriver.capabilities == set(CAPABILITIES)


# -- copies, not references -----------------------------------------------------------


async def test_store_keeps_copies_and_returns_fresh_instances(db: Ommi) -> None:
    [acc] = await db.add(Account("ann", 5, {"tags": ["a"]})).or_raise()
    acc.balance = 99
    assert acc.notes is not None
    acc.notes["tags"].append("mutated")
    loaded = await db.get(Account, acc.id).or_raise()
    assert (loaded.balance, loaded.notes) == (5, {"tags": ["a"]})
    assert loaded is not acc
    loaded.notes["tags"].append("again")
    assert (await db.get(Account, acc.id).or_raise()).notes == {"tags": ["a"]}


async def test_generated_keys_never_reuse_a_deleted_key(db: Ommi) -> None:
    a, b = await db.add(Account("a", 1), Account("b", 1)).or_raise()
    await db.delete(b).or_raise()
    [c] = await db.add(Account("c", 1)).or_raise()
    assert c.id == b.id + 1
    [d] = await db.add(Account("d", 1, id=2**63 - 1)).or_raise()
    [e] = await db.add(Account("e", 1)).or_raise()  # the top is taken: the lowest free key
    assert e.id not in {a.id, c.id, d.id} and e.id > 0


# -- transactions --------------------------------------------------------------------


async def test_transaction_reads_a_snapshot_taken_when_it_began(db: Ommi) -> None:
    async with db.transaction() as tx:
        await db.outside_transaction().add(Account("outside", 1)).or_raise()
        assert await tx.find(Account).count().or_raise() == 0
    assert await db.find(Account).count().or_raise() == 1


async def test_conflicting_commit_fails_and_commits_nothing(db: Ommi) -> None:
    [acc] = await db.add(Account("ann", 10)).or_raise()
    with pytest.raises(errors.TransactionError, match="conflict"):
        async with db.transaction() as tx:
            await tx.find(Account.id == acc.id).update(balance=20).or_raise()
            await db.outside_transaction().find(Account.id == acc.id).update(balance=30).or_raise()
    assert (await db.get(Account, acc.id).or_raise()).balance == 30


async def test_write_skew_is_a_conflict(db: Ommi) -> None:
    """A transaction that read a table someone else changed cannot commit writes based on it."""
    await db.add(Account("ann", 10)).or_raise()
    with pytest.raises(errors.TransactionError):
        async with db.transaction() as tx:
            total = await tx.find(Account).aggregate(total=Sum(Account.balance)).or_raise()
            await db.outside_transaction().add(Account("bob", 5)).or_raise()
            await tx.add(Node(f"total={total['total']}")).or_raise()
    assert await db.find(Node).count().or_raise() == 0


async def test_read_only_transactions_always_commit(db: Ommi) -> None:
    async with db.transaction() as tx:
        assert await tx.find(Account).count().or_raise() == 0
        await db.outside_transaction().add(Account("ann", 1)).or_raise()


async def test_savepoints_nest_and_roll_back_alone(db: Ommi) -> None:
    async with db.transaction() as tx:
        await tx.add(Account("outer", 1)).or_raise()
        async with tx.transaction() as inner:
            await inner.add(Account("kept", 1)).or_raise()
            with pytest.raises(RuntimeError):
                async with inner.transaction() as deepest:
                    await deepest.add(Account("dropped", 1)).or_raise()
                    raise RuntimeError
            assert await tx.find(Account).count().or_raise() == 1, (
                "the outer block sees the inner one only once it ends"
            )
        assert await db.outside_transaction().find(Account).count().or_raise() == 0
    assert sorted(a.owner for a in await db.find(Account).all().or_raise()) == ["kept", "outer"]


async def test_bank_transfers_keep_the_total(db: Ommi) -> None:
    accounts = await db.add(*(Account(f"a{i}", 100) for i in range(5))).or_raise()
    retries = 0

    async def transfer(n: int) -> None:
        nonlocal retries
        src, dst = accounts[n % 5], accounts[(n + 1 + n % 4) % 5]  # never the same account
        while True:
            try:
                async with db.transaction() as tx:
                    a = await tx.get(Account, src.id).or_raise()
                    await asyncio.sleep(0)  # let the others interleave
                    b = await tx.get(Account, dst.id).or_raise()
                    a.balance -= 7
                    b.balance += 7
                    await tx.save(a, b).or_raise()
                return
            except errors.TransactionError:
                retries += 1

    await asyncio.gather(*(transfer(n) for n in range(40)))
    total = await db.find(Account).aggregate(total=Sum(Account.balance)).or_raise()
    assert total["total"] == 500
    assert retries > 0


# -- references ---------------------------------------------------------------------


async def test_references_on_update_and_self_referencing_deletes(db: Ommi) -> None:
    [root] = await db.add(Node("root")).or_raise()
    [child] = await db.add(Node("child", root.id)).or_raise()
    [grandchild] = await db.add(Node("grandchild", child.id)).or_raise()
    moved = await db.find(Node.id == root.id).update(id=500)
    assert isinstance(moved.error, errors.IntegrityError)  # type: ignore[union-attr]
    dangling = await db.find(Node.id == grandchild.id).update(parent_id=424242)
    assert isinstance(dangling.error, errors.IntegrityError)  # type: ignore[union-attr]
    assert str(dangling.error) == "Node.parent_id: refers to a row that does not exist"  # type: ignore[union-attr]
    assert "refers to no Node row" in str(dangling.error.__cause__)  # type: ignore[union-attr]
    partial = await db.find(Node.name != "grandchild").delete()
    assert isinstance(partial.error, errors.IntegrityError)  # type: ignore[union-attr]
    assert await db.find(Node).delete().or_raise() == 3, "a whole tree goes in one statement"


async def test_a_batch_may_refer_to_its_own_rows(db: Ommi) -> None:
    await db.add(Node("a", id=1), Node("b", parent_id=1, id=2)).or_raise()
    assert await db.find(Node.parent_id == 1).count().or_raise() == 1


# -- exact aggregates and bounded matching --------------------------------------------------


async def test_aggregates_are_exact(db: Ommi) -> None:
    big = Decimal("12345678901234567890.123456789")
    await db.add(
        Measure(i=2**63 - 1, f=1e16, d=big),
        Measure(i=-(2**63), f=1.0, d=big),
        Measure(i=3, f=-1e16, d=Decimal("0.000000001")),
    ).or_raise()
    got = (
        await db.find(Measure)
        .aggregate(si=Sum(Measure.i), ai=Avg(Measure.i), sf=Sum(Measure.f), sd=Sum(Measure.d))
        .or_raise()
    )
    assert got == {"si": 2, "ai": 2 / 3, "sf": 1.0, "sd": Decimal("24691357802469135780.246913579")}


def test_like_matching_is_linear_on_hostile_patterns() -> None:
    text = "a" * 20000
    started = time.perf_counter()
    assert not like_matcher("%a%a%a%a%a%a%a%b")(text)
    assert like_matcher("a%a_a%")(text)
    assert time.perf_counter() - started < 1.0
    assert like_matcher("x\\%y\\_%")("x%y_z")
    assert not like_matcher("x\\%y")("xay")
    assert like_matcher("_\U0001f600_")("a\U0001f600\n")
