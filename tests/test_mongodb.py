"""MongoDB-specific behaviour of the MongoDB driver, through ommi's public API.

The conformance suite (tests/test_conformance.py) checks what every backend
shares; these tests check what only a document database can get wrong: values
that look like operators, the stored document layout, generated keys under
concurrency, transactions on client sessions and credentials in messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest
from bson.decimal128 import Decimal128
from ommi_mongodb import COUNTERS, like_to_regex
from pymongo import AsyncMongoClient, monitoring

from ommi import AwareDatetime, DBFailure, Key, ModelCollection, Ommi, Unique, errors, ommi_model
from ommi.testing.suite._helpers import together
from tests.conftest import backend_url, only_with

pytestmark = only_with("mongodb")

mongo_models = ModelCollection("ommi-mongodb-tests")


@ommi_model(collection=mongo_models, name="mx_item")
@dataclass
class Item:
    name: str
    tag: Annotated[str | None, Unique] = None
    data: dict[str, Any] | None = None
    blob: bytes | None = None
    when: datetime | None = None
    at: AwareDatetime | None = None
    amount: Decimal | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=mongo_models, name="mx_pair")
@dataclass
class Pair:
    a: Annotated[str, Key]
    b: Annotated[int, Key]
    note: str | None = None


@ommi_model(collection=mongo_models, name="mx_reading")
@dataclass
class Reading:
    sensor: str | None
    value: int | None
    id: Annotated[int | None, Key] = None


@pytest.fixture(scope="session")
def mongo_url() -> str:
    return backend_url("mongodb")


@pytest.fixture(scope="session")
async def mongo_session(mongo_url: str) -> AsyncIterator[Ommi]:
    db = await Ommi.connect(mongo_url)
    schema = db.schema(mongo_models)
    await schema.delete_models().or_raise()
    await schema.create_models().or_raise()
    try:
        yield db
    finally:
        await schema.delete_models()
        await db.close()


@pytest.fixture
async def db(mongo_session: Ommi) -> Ommi:
    await mongo_session.find(Item).delete().or_raise()
    await mongo_session.find(Pair).delete().or_raise()
    await mongo_session.find(Reading).delete().or_raise()
    return mongo_session


@pytest.fixture
async def raw(mongo_url: str) -> AsyncIterator[Any]:
    """The test database through plain PyMongo, to look at what is stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, uuidRepresentation="standard")
    try:
        yield client.get_default_database()
    finally:
        await client.close()


async def names(db: Ommi, *preds: Any) -> list[str]:
    return sorted(i.name for i in await db.find(Item, *preds).all().or_raise())


# -- values are data, never operators ------------------------------------------------

HOSTILE = ["$gt", "$ne", "{'$gt': ''}", ".*", "^a$", "a|b", "(x)", "[abc]", "\\d+", "a\nb", "tail\n", "tail", "$"]


async def test_operator_like_and_regex_strings_match_literally(db: Ommi) -> None:
    await db.add(*(Item(s) for s in HOSTILE)).or_raise()
    for s in HOSTILE:
        assert await names(db, Item.name == s) == [s]
        assert s in await names(db, Item.name.contains(s))
        assert await names(db, Item.name.in_([s])) == [s]
    # the strings that start with a literal "$" (not an end anchor)
    assert await names(db, Item.name.startswith("$")) == ["$", "$gt", "$ne"]
    assert await names(db, Item.name.like(".*")) == [".*"]
    assert await names(db, Item.name.contains("|")) == ["a|b"]
    # anchoring is absolute: "tail" does not match "tail\n" (a regex `$` would)
    assert await names(db, Item.name.like("tail")) == ["tail"]
    assert await names(db, Item.name.endswith("l")) == ["tail"]
    # % and _ cross newlines, like SQL
    assert await names(db, Item.name.like("a_b")) == ["a\nb", "a|b"]
    assert await names(db, Item.name.like("tail%")) == ["tail", "tail\n"]
    assert await names(db, Item.name != "$gt") == sorted(s for s in HOSTILE if s != "$gt")


async def test_json_with_operator_keys_is_stored_and_matched_literally(db: Ommi, raw: Any) -> None:
    where = {"$where": "sleep(100) || true", "a.b": {"$gt": ""}}
    await db.add(Item("w", data=where), Item("plain", data={"x": 1}), Item("none")).or_raise()
    loaded = await db.find(Item.name == "w").one().or_raise()
    assert loaded.data == where
    # equality is on the JSON value, never an operator evaluated by the server
    assert await names(db, Item.data == where) == ["w"]
    assert await names(db, Item.data == {"$gt": ""}) == []
    assert await names(db, Item.data != where) == ["none", "plain"]
    stored = await raw["mx_item"].find_one({"name": "w"})
    assert isinstance(stored["data"], str) and '"$where"' in stored["data"]


def test_like_patterns_become_anchored_escaped_regexes() -> None:
    assert like_to_regex("abc") == r"^abc(?![\s\S])"
    assert like_to_regex("a%") == "^a"
    assert like_to_regex("%a%") == "a"
    assert like_to_regex("%.*") == r"\.\*(?![\s\S])"
    assert like_to_regex("a_c") == r"^a[\s\S]c(?![\s\S])"
    assert like_to_regex(r"100\%") == r"^100\%(?![\s\S])"
    assert like_to_regex("é\x00") == r"^é\x00(?![\s\S])"


# -- storage layout ----------------------------------------------------------------------


async def test_document_layout(db: Ommi, raw: Any) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456)
    at = datetime(2024, 5, 6, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    [item] = await db.add(Item("x", blob=b"\x00\xff", when=when, at=at, amount=Decimal("1.50"))).or_raise()
    await db.add(Pair("g", 1, "n")).or_raise()
    doc = await raw["mx_item"].find_one({"_id": item.id})
    assert doc == {
        "_id": item.id,
        "name": "x",
        "blob": "00ff",
        "when": "2024-05-06T07:08:09.123456",
        "at": "2024-05-06T10:00:00.000001+00:00",
        "amount": Decimal128("1.50"),
    }, "the key is _id, NULL fields are absent, values use the documented encodings"
    assert await raw["mx_pair"].find_one({}) == {"_id": {"a": "g", "b": 1}, "note": "n"}
    counter = await raw[COUNTERS].find_one({"_id": "mx_item"})
    assert counter is not None and counter["seq"] >= item.id
    loaded = await db.get(Item, item.id).or_raise()
    assert loaded.when == when and loaded.at == at and loaded.at.utcoffset() == timedelta(0)
    assert str(loaded.amount) == "1.50"


async def test_unique_index_is_partial_on_present_values(db: Ommi, raw: Any) -> None:
    indexes = await raw["mx_item"].index_information()
    assert indexes["ux_tag"]["unique"] is True
    assert indexes["ux_tag"]["partialFilterExpression"] == {"tag": {"$exists": True}}
    await db.add(Item("a"), Item("b"), Item("c", tag="t")).or_raise()
    dup = await db.add(Item("d", tag="t"))
    assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
    assert dup.error.__cause__ is not None
    assert await db.find(Item.tag == None).count().or_raise() == 2  # noqa: E711


async def test_bytes_and_microseconds_order_like_sql(db: Ommi) -> None:
    # BSON orders binary data by length first; ommi's rule is byte order
    blobs = [b"b", b"ab", b"\xff", b"", b"a"]
    await db.add(*(Item(f"b{i}", blob=v) for i, v in enumerate(blobs))).or_raise()
    ordered = await db.find(Item).order_by(Item.blob).all().or_raise()
    assert [i.blob for i in ordered] == sorted(blobs)
    assert await db.find(Item.blob > b"a").count().or_raise() == 3
    await db.find(Item).delete().or_raise()
    base = datetime(2030, 1, 1, 0, 0, 0, 999998)
    await db.add(*(Item(f"t{n}", when=base + timedelta(microseconds=n)) for n in (2, 0, 1))).or_raise()
    assert [i.name for i in await db.find(Item).order_by(Item.when.desc).all().or_raise()] == ["t2", "t1", "t0"]
    assert await names(db, Item.when == base + timedelta(microseconds=1)) == ["t1"]
    assert await names(db, Item.when > base) == ["t1", "t2"]


async def test_aware_datetimes_read_back_as_utc(db: Ommi) -> None:
    at = datetime(2024, 1, 1, 23, 30, 0, 5, tzinfo=timezone(timedelta(hours=-5)))
    [item] = await db.add(Item("tz", at=at)).or_raise()
    loaded = await db.get(Item, item.id).or_raise()
    assert loaded.at == at
    assert loaded.at.utcoffset() == timedelta(0) and loaded.at.day == 2
    assert await names(db, Item.at == at.astimezone(UTC)) == ["tz"]


async def test_decimal_beyond_decimal128_is_a_validation_error(db: Ommi) -> None:
    result = await db.add(Item("big", amount=Decimal("1" * 40)))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)
    assert "Item.amount" in str(result.error)
    assert await db.find(Item).count().or_raise() == 0
    exact = Decimal("-1234567890123456789012345678901.234")  # 34 digits fit
    [item] = await db.add(Item("ok", amount=exact)).or_raise()
    assert (await db.get(Item, item.id).or_raise()).amount == exact


async def test_missing_collection_is_a_schema_error_not_an_empty_result(db: Ommi, raw: Any) -> None:
    # MongoDB would read a missing collection as empty and create it on insert
    lost = ModelCollection("ommi-mongodb-missing")

    @ommi_model(collection=lost, name="mx_never_created")
    @dataclass
    class NeverCreated:
        name: str
        id: Annotated[int | None, Key] = None

    counted = await db.find(NeverCreated).count()
    assert isinstance(counted, DBFailure) and isinstance(counted.error, errors.SchemaError)
    added = await db.add(NeverCreated("x"))
    assert isinstance(added, DBFailure) and isinstance(added.error, errors.SchemaError)
    assert "mx_never_created" not in await raw.list_collection_names()
    await db.schema(lost).create_models().or_raise()
    try:
        await db.add(NeverCreated("x")).or_raise()
        assert await db.find(NeverCreated).count().or_raise() == 1
    finally:
        await db.schema(lost).delete_models().or_raise()


async def test_integer_sums_and_means_do_not_overflow(db: Ommi) -> None:
    # MongoDB's own $sum of int64 values turns into an inexact double past 2**63
    from ommi.query import Avg, Sum

    big = 2**63 - 1
    await db.add(Pair("a", big), Pair("b", big - 1), Pair("c", 7)).or_raise()
    got = await db.find(Pair).aggregate(total=Sum(Pair.b), mean=Avg(Pair.b)).or_raise()
    assert got["total"] == 2 * big + 6 and type(got["total"]) is int
    assert got["mean"] == (2 * big + 6) / 3


async def test_grouped_int_sums_stay_exact_past_64_bits(db: Ommi) -> None:
    # the driver sums ints natively first; a sum past int64 fails there and is summed exactly instead
    from ommi.query import Count, Sum

    big = 2**63 - 1
    await db.add(Pair("a", big), Pair("a", big - 1), Pair("b", 7), Pair("b", 8)).or_raise()
    rows = await db.find(Pair).group_by(Pair.a).aggregate(total=Sum(Pair.b), n=Count()).or_raise()
    assert rows == [{"a": "a", "total": 2 * big - 1, "n": 2}, {"a": "b", "total": 15, "n": 2}]
    assert all(type(r["total"]) is int for r in rows)


async def test_grouping_puts_absent_and_null_values_in_one_null_group(db: Ommi, raw: Any) -> None:
    # ommi leaves a None field out of the document; one written by another program may hold null
    from ommi.query import Count, Sum

    await db.add(Reading("x", 1), Reading("x", None), Reading("z", None), Reading(None, 2)).or_raise()
    await raw["mx_reading"].insert_one({"_id": 10_000, "sensor": None, "value": 3})
    rows = await db.find(Reading).group_by(Reading.sensor).aggregate(n=Count(), total=Sum(Reading.value)).or_raise()
    assert rows == [
        {"sensor": None, "n": 2, "total": 5},
        {"sensor": "x", "n": 2, "total": 1},
        {"sensor": "z", "n": 1, "total": None},  # SUM of no values is NULL, as in SQL
    ]


# -- keys ------------------------------------------------------------------------------------


async def test_concurrent_generated_keys_are_unique(db: Ommi) -> None:
    results = await together(*(db.add(Item(f"c{i}")).or_raise() for i in range(100)))
    ids = [item.id for [item] in results]
    assert len(set(ids)) == 100 and all(isinstance(i, int) for i in ids)
    assert await db.find(Item).count().or_raise() == 100


async def test_explicit_keys_push_the_counter_past_them(db: Ommi) -> None:
    [fixed] = await db.add(Item("fixed", id=10**12)).or_raise()
    batch = await db.add(*(Item(f"n{i}") for i in range(3))).or_raise()
    assert all(i.id > fixed.id for i in batch)
    assert len({i.id for i in batch}) == 3


class _Commands(monitoring.CommandListener):
    """A PyMongo command listener counting the commands sent, by name."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def started(self, event: Any) -> None:
        self.sent.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


async def test_single_adds_reserve_keys_ahead_in_blocks(db: Ommi, mongo_url: str, raw: Any) -> None:
    # one round trip per add, as with keys made in the client: the keys come from a block
    # reserved ahead, one findAndModify per block, the blocks growing 1, 2, 4, ... up to 64
    commands = _Commands()
    watched = await Ommi.connect(mongo_url, event_listeners=[commands])
    try:
        items = [(await watched.add(Item(f"s{i}")).or_raise())[0] for i in range(300)]
        async with watched.transaction() as tx:
            items += [(await tx.add(Item(f"t{i}")).or_raise())[0] for i in range(100)]
    finally:
        await watched.close()
    keys = [i.id for i in items]
    assert len(set(keys)) == 400 and keys == sorted(keys)  # one connection: its keys still increase
    assert commands.sent.count("findAndModify") <= 12, commands.sent.count("findAndModify")
    counter = await raw[COUNTERS].find_one({"_id": "mx_item"})
    assert 0 <= counter["seq"] - max(k for k in keys if k is not None) < 64  # what is left unused is a gap
    assert sorted([d["_id"] async for d in raw["mx_item"].find({}, {"_id": 1})]) == keys


async def test_concurrent_single_adds_on_one_connection_share_the_blocks_reserved_ahead(
    db: Ommi, mongo_url: str, raw: Any
) -> None:
    # a web app adds from many tasks at once through one connection: adds that find the block
    # used up while a reservation is on its way wait for it instead of each reserving a block
    # of its own (which made most adds two round trips and left a block-sized gap per add)
    commands = _Commands()
    watched = await Ommi.connect(mongo_url, event_listeners=[commands])
    try:
        [first] = await watched.add(Item("first")).or_raise()  # the collection known, the first block used up
        commands.sent.clear()
        added = await asyncio.gather(*(watched.add(Item(f"c{i}")).or_raise() for i in range(100)))
    finally:
        await watched.close()
    keys = [k for [item] in added if (k := item.id) is not None]
    assert len(set(keys)) == 100
    assert commands.sent.count("findAndModify") <= 7, commands.sent.count("findAndModify")  # 2+4+...+64 >= 100
    counter = await raw[COUNTERS].find_one({"_id": "mx_item"})
    assert 0 <= counter["seq"] - max(keys) < 64, (counter["seq"], max(keys))
    assert sorted([d["_id"] async for d in raw["mx_item"].find({}, {"_id": 1})]) == sorted([first.id, *keys])


async def test_single_adds_with_unacknowledged_writes_do_not_fail(db: Ommi, mongo_url: str) -> None:
    # w=0: the server answers no write, so no key reserved ahead can be claimed (the claim
    # reads the upsert's answer); each add reserves its own keys and inserts, as before
    sep = "&" if "?" in mongo_url else "?"
    fire = await Ommi.connect(mongo_url + sep + "w=0")
    try:
        added = [(await fire.add(Item(f"w0-{i}")).or_raise())[0] for i in range(6)]
    finally:
        await fire.close()
    keys = [i.id for i in added]
    assert None not in keys and len(set(keys)) == 6
    for _ in range(100):  # unacknowledged: the writes land a moment later
        if await db.find(Item, Item.name.startswith("w0-")).count().or_raise() == 6:
            break
        await asyncio.sleep(0.05)
    assert sorted([i.id for i in await db.find(Item, Item.name.startswith("w0-")).all().or_raise()]) == sorted(keys)


async def test_keys_reserved_ahead_and_written_by_another_connection_are_not_reused(db: Ommi, mongo_url: str) -> None:
    # another connection (or tool) writes explicit keys into the block this connection reserved
    # ahead: the adds here must neither fail nor overwrite them, in a transaction or not
    first = [(await db.add(Item(f"a{i}")).or_raise())[0].id for i in range(5)]
    top = max(k for k in first if k is not None)
    other = await Ommi.connect(mongo_url)
    try:
        await other.add(*(Item(f"other{k}", id=k) for k in range(top + 1, top + 65))).or_raise()
    finally:
        await other.close()
    [outside] = await db.add(Item("outside")).or_raise()
    async with db.transaction() as tx:
        [inside] = await tx.add(Item("inside")).or_raise()
        [after] = await tx.add(Item("after")).or_raise()  # the transaction is still usable
    pair = await db.add(Item("p1"), Item("p2")).or_raise()
    mine = [outside.id, inside.id, after.id, *(p.id for p in pair)]
    assert all(k is not None and k > top + 64 for k in mine), (top, mine)
    assert len(set(mine)) == 5
    others = await db.find(Item, Item.name.startswith("other")).all().or_raise()
    assert sorted((i.id, i.name) for i in others) == [(k, f"other{k}") for k in range(top + 1, top + 65)]
    assert await db.find(Item).count().or_raise() == 5 + 64 + 5


async def test_composite_key_lookups_and_key_updates(db: Ommi) -> None:
    await db.add(Pair("g", 1), Pair("g", 2), Pair("h", 1)).or_raise()
    assert await db.find(Pair.a == "g").count().or_raise() == 2
    assert (await db.get(Pair, ("h", 1)).or_raise()).a == "h"
    # _id is immutable in MongoDB; changing a key field replaces the document
    assert await db.find(Pair.a == "h").update(b=5, note="moved").or_raise() == 1
    moved = await db.get(Pair, ("h", 5)).or_raise()
    assert moved.note == "moved"
    clash = await db.find(Pair.a == "g", Pair.b == 1).update(b=2)
    assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)
    assert sorted(p.b for p in await db.find(Pair.a == "g").all().or_raise()) == [1, 2]
    [item] = await db.add(Item("k")).or_raise()
    assert await db.find(Item.id == item.id).update(id=item.id + 1000).or_raise() == 1
    assert (await db.get(Item, item.id + 1000).or_raise()).name == "k"


# -- transactions --------------------------------------------------------------------------


async def test_transaction_isolation_and_rollback(db: Ommi) -> None:
    await db.add(Item("before", tag="b")).or_raise()
    async with db.transaction() as tx:
        await tx.add(Item("inside")).or_raise()
        assert await tx.find(Item.name == "before").update(tag="changed").or_raise() == 1
        outside = db.outside_transaction()
        assert await names(outside) == ["before"]
        assert await outside.find(Item.tag == "b").count().or_raise() == 1
        assert await names(tx) == ["before", "inside"]
        await tx.rollback()
    assert await names(db) == ["before"]
    assert (await db.find(Item.name == "before").one().or_raise()).tag == "b"


async def test_concurrent_transactions_on_different_documents(db: Ommi) -> None:
    async def work(n: int) -> None:
        async with db.transaction() as tx:
            await tx.add(Item(f"tx{n}")).or_raise()
            await asyncio.sleep(0.01)

    await together(*(work(n) for n in range(5)))
    assert await names(db) == [f"tx{n}" for n in range(5)]


async def test_constraint_failures_inside_a_transaction_keep_it_usable(db: Ommi) -> None:
    # MongoDB aborts a transaction on any write error; the driver checks first
    await db.add(Item("a", tag="x"), Item("b")).or_raise()
    async with db.transaction() as tx:
        dup = await tx.add(Item("c", tag="x"))
        assert isinstance(dup, DBFailure) and isinstance(dup.error, errors.IntegrityError)
        clash = await tx.find(Item.name == "b").update(tag="x")
        assert isinstance(clash, DBFailure) and isinstance(clash.error, errors.IntegrityError)
        [b] = await tx.find(Item.name == "b").all().or_raise()
        b.tag = "x"
        saved = await tx.save(b)
        assert isinstance(saved, DBFailure) and isinstance(saved.error, errors.IntegrityError)
        await tx.add(Item("d", tag="y")).or_raise()
    assert await names(db) == ["a", "b", "d"]


async def test_nested_transaction_is_unsupported(db: Ommi) -> None:
    assert "savepoints" not in db.capabilities
    async with db.transaction() as tx:
        with pytest.raises(errors.UnsupportedError, match="savepoints"):
            async with tx.transaction():
                pass


# -- connections and credentials ----------------------------------------------------------


async def test_unreachable_server_fails_fast_without_showing_the_password() -> None:
    # A host that cannot resolve (RFC 6761 reserves .invalid) rather than a refused
    # port: when a client is closed while its server monitor is connecting to a
    # refused port, PyMongo 4.x can drop that socket unclosed, and its
    # ResourceWarning would surface at the end of the test session.
    secret = "Sup3r@Secret"
    db = Ommi.connect("mongodb://bob:Sup3r%40Secret@ommi-test.invalid:27017/app", serverSelectionTimeoutMS=300)
    assert secret not in repr(db) and "Sup3r" not in repr(db.driver)
    with pytest.raises(errors.ConnectionFailed) as info:
        await db
    assert "Sup3r" not in str(info.value) and "Sup3r" not in str(info.value.__cause__)
    assert info.value.__cause__ is not None
    await db.close()


async def test_rejected_credentials_do_not_show_the_password(mongo_url: str) -> None:
    # the server's address without any credentials OMMI_TEST_MONGODB_URL carries: wrong ones instead
    host = mongo_url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
    db = Ommi.connect(f"mongodb://nobody:Sup3r%40Secret@{host}/app")
    try:
        await db
    except errors.ConnectionFailed as exc:
        assert "Sup3r" not in str(exc) and "Sup3r" not in repr(exc.__cause__)
    else:  # a server without authentication may accept anyone
        assert "Sup3r" not in repr(db)
    finally:
        await db.close()


@pytest.mark.parametrize("url", ["mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/", "mongodb:///app"])
def test_url_needs_a_host_and_a_database(url: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="MongoDB URL"):
        Ommi.connect(url)


def test_a_url_with_a_host_list_is_accepted_without_showing_the_password() -> None:
    db = Ommi.connect("mongodb://app:hunter2@h1:27017,h2:27018/shop?replicaSet=rs0")
    shown = repr(db.driver)
    assert "h1:27017,h2:27018" in shown and "hunter2" not in shown


@pytest.mark.parametrize("column", ["$price", "$", "price.net", "a.b.c"])
async def test_field_names_mongodb_cannot_address_are_refused(db: Ommi, column: str) -> None:
    """'$' starts an operator and '.' a path: such a field could be neither matched nor updated."""
    from ommi import StoreAs

    odd = ModelCollection("mx-odd-fields")

    @ommi_model(collection=odd, name="mx_odd")
    @dataclass
    class Odd:
        value: Annotated[str, StoreAs(column)]
        id: Annotated[int | None, Key] = None

    created = await db.schema(odd).create_models()
    assert isinstance(created, DBFailure) and isinstance(created.error, errors.SchemaError), created
    assert repr(column) in str(created.error) and "Odd.value" in str(created.error)
    added = await db.add(Odd("x"))
    assert isinstance(added, DBFailure) and isinstance(added.error, errors.ModelError)


async def test_collection_names_with_a_dollar_are_refused(db: Ommi) -> None:
    @ommi_model(collection=ModelCollection("mx-dollar"), name="price$list")
    @dataclass
    class Dollar:
        value: str
        id: Annotated[int | None, Key] = None

    added = await db.add(Dollar("x"))
    assert isinstance(added, DBFailure) and isinstance(added.error, errors.ModelError)
    assert "'$'" in str(added.error)


async def test_a_single_key_is_stored_as_id_whatever_its_column_name(db: Ommi, raw: Any) -> None:
    from ommi import StoreAs

    keyed = ModelCollection("mx-keyed")

    @ommi_model(collection=keyed, name="mx_keyed")
    @dataclass
    class Keyed:
        value: Annotated[str, StoreAs("Display Name")]
        id: Annotated[int | None, Key, StoreAs("legacy.id")] = None

    schema = db.schema(keyed)
    await schema.create_models().or_raise()
    try:
        [k] = await db.add(Keyed("x")).or_raise()
        assert await raw["mx_keyed"].find_one({}) == {"_id": k.id, "Display Name": "x"}
    finally:
        await schema.delete_models().or_raise()
