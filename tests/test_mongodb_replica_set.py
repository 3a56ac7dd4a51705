"""MongoDB replica-set URLs: ``readPreference``, ``w`` and ``retryWrites`` reach PyMongo, and
transactions and ``on_primary()`` read on the primary whatever the URL asks for.

The test server (secantusdb) runs as a single-node replica set, so PyMongo
treats it as one: a ``secondaryPreferred`` read is sent with that preference
(and served by the only member, the primary). PyMongo's command monitoring
shows what each command carried; a command listener is one of the
``AsyncMongoClient`` options ``Ommi.connect`` passes through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from ommi import Key, ModelCollection, Ommi, errors, ommi_model
from tests.conftest import backend_url, only_with

pytestmark = only_with("mongodb")

models = ModelCollection("ommi-mongodb-replica-set-tests")


@ommi_model(collection=models, name="rs_order")
@dataclass
class Order:
    item: str
    qty: int
    id: Annotated[int | None, Key] = None


class Commands(monitoring.CommandListener):
    """What each command sent to the server carried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self, *names: str) -> list[dict[str, Any]]:
        found = [command for name, command in self.seen if name in names]
        self.seen.clear()
        return found


def mode(command: dict[str, Any]) -> str:
    """The read preference a command was sent with (none means primary)."""
    return str(command.get("$readPreference", {}).get("mode", "primary"))


@pytest.fixture
async def replica_set_url() -> str:
    url = backend_url("mongodb")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    try:
        hello = await client.admin.command("hello")
    finally:
        await client.close()
    assert hello.get("setName"), "the MongoDB test server must be a replica set"
    return f"{url}?replicaSet={hello['setName']}&readPreference=secondaryPreferred&w=majority&retryWrites=true"


@pytest.fixture
async def watched(replica_set_url: str) -> AsyncIterator[tuple[Ommi, Commands]]:
    commands = Commands()
    db = await Ommi.connect(replica_set_url, event_listeners=[commands])
    schema = db.schema(models)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    try:
        yield db, commands
    finally:
        await schema.delete_models()
        await db.close()


async def test_url_options_reach_every_command(watched: tuple[Ommi, Commands]) -> None:
    db, commands = watched
    commands.take()
    await db.add(Order("pen", 2)).or_raise()
    [counter, insert] = commands.take("findAndModify", "insert")
    assert insert["writeConcern"] == {"w": "majority"}
    assert "txnNumber" in insert  # retryWrites: the write carries a transaction number to be retried safely
    # the key counter too has the URL's write concern; a repeated increment only skips keys, so it is sent
    # without a transaction number (no retryable-write record on the server; the driver asks again itself)
    assert counter["findAndModify"] == "ommi_counters" and counter["writeConcern"] == {"w": "majority"}
    assert "txnNumber" not in counter

    assert [o.item for o in await db.find(Order).all().or_raise()] == ["pen"]
    assert await db.find(Order.qty > 1).count().or_raise() == 1
    assert [o.item async for o in db.find(Order)] == ["pen"]
    reads = commands.take("find", "aggregate")
    assert len(reads) == 3 and {mode(c) for c in reads} == {"secondaryPreferred"}


async def test_transactions_read_on_the_primary_under_secondary_preferred(watched: tuple[Ommi, Commands]) -> None:
    db, commands = watched
    await db.add(Order("pen", 2)).or_raise()
    commands.take()
    async with db.transaction() as tx:
        [pen] = await tx.find(Order.item == "pen").all().or_raise()
        await tx.add(Order("ink", pen.qty * 3)).or_raise()
        assert await tx.find(Order).count().or_raise() == 2
    in_transaction = commands.take("find", "aggregate", "insert", "commitTransaction")
    assert len(in_transaction) >= 4
    assert all(c.get("autocommit") is False and mode(c) == "primary" for c in in_transaction)
    # several documents in one add() are one transaction of their own: on the primary too
    await db.add(Order("a", 1), Order("b", 1)).or_raise()
    assert all(mode(c) == "primary" for c in commands.take("find", "insert", "commitTransaction"))
    assert await db.find(Order).count().or_raise() == 4


async def test_on_primary_reads_from_the_primary(watched: tuple[Ommi, Commands]) -> None:
    db, commands = watched
    [pen] = await db.add(Order("pen", 2)).or_raise()
    commands.take()
    assert await db.find(Order).on_primary().count().or_raise() == 1
    assert [o.item async for o in db.find(Order).on_primary()] == ["pen"]
    assert (await db.on_primary().get(Order, pen.id).or_raise()).qty == 2
    fresh = commands.take("find", "aggregate")
    assert len(fresh) == 3 and {mode(c) for c in fresh} == {"primary"}
    assert await db.find(Order).count().or_raise() == 1
    assert [mode(c) for c in commands.take("aggregate")] == ["secondaryPreferred"]


async def test_a_read_preference_pymongo_refuses_is_connection_failed(replica_set_url: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="read preference"):
        await Ommi.connect(replica_set_url.replace("secondaryPreferred", "mostlySecondary"))
