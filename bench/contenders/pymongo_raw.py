"""Raw PyMongo (``pymongo.AsyncMongoClient``): the MongoDB baseline, written the most efficient ordinary way.

Documents have the shape ommi stores: ``{"_id": id, "name": ..., "age": ...,
"email": ...}`` with an integer ``_id``. The keys are handed out by the
contender itself (1, 2, 3, ... after each ``recreate()``), which is the
cheapest way to know each key at once and costs no round trip; ommi instead
reserves them from a counters collection on the server, which stays correct
with several processes writing.

``insert_one`` per document inside one session transaction for A,
``insert_many`` for the bulk insert, ``find`` with a projection and one
``to_list`` per query, ``find_one`` by ``_id`` for lookups,
``update_many``/``delete_many``/``count_documents``, one ``bulk_write`` of
``ReplaceOne`` for the saves, the cursor's batches when streaming and a
``$group`` pipeline for the aggregate; the same plain dataclass per document.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, ReplaceOne

from bench import workload as w
from bench.contenders.base import Contender
from bench.workload import Person

T = w.TABLE
PROJECTION = {"name": 1, "age": 1, "email": 1}  # and _id, which find returns unless told not to
STREAM_BATCH = 1000


def mongodb_address(url: str) -> tuple[str, str]:
    """Split ``mongodb://host:port/database?options`` into the address (options kept) and the database."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host, _, database = rest.partition("/")
    if not database:
        raise ValueError(f"MongoDB URL without a database: {url}")
    return f"{scheme}://{host}/" + ("?" + query if query else ""), database


def _documents(rows: list[tuple[str, int, str]], first: int) -> list[dict[str, Any]]:
    """A Person per row, numbered from ``first``, and the document written for it."""
    docs = []
    for key, row in enumerate(rows, start=first):
        person = Person(*row)
        person.id = key
        docs.append({"_id": key, "name": person.name, "age": person.age, "email": person.email})
    return docs


def _person(doc: dict[str, Any]) -> Person:
    return Person(doc["name"], doc["age"], doc["email"], doc["_id"])


class PymongoContender(Contender):
    name = "pymongo"
    backends = frozenset({"mongodb"})
    packages = ("pymongo",)
    raw = frozenset({"mongodb"})

    async def connect(self) -> None:
        address, database = mongodb_address(self.url)
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(address)
        self.coll = self.client[database][T]
        self.next_key = 1

    async def recreate(self) -> None:
        db = self.coll.database
        await db.drop_collection(T)
        await db.create_collection(T)
        self.next_key = 1

    def _docs(self, rows: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
        first = self.next_key
        self.next_key += len(rows)
        return _documents(rows, first)

    async def keys(self) -> list[int]:
        return [doc["_id"] async for doc in self.coll.find({}, {"_id": 1})]

    async def teardown(self) -> None:
        await self.client.close()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        insert_one = self.coll.insert_one
        keys = []
        async with self.client.start_session() as session, await session.start_transaction():
            for doc in self._docs(rows):
                await insert_one(doc, session=session)
                keys.append(doc["_id"])
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        await self.coll.insert_many(self._docs(rows))

    async def fetch_all(self) -> list[Person]:
        return [_person(d) for d in await self.coll.find({}, PROJECTION).to_list(None)]

    async def lookups(self, keys: list[int]) -> list[Person]:
        find_one = self.coll.find_one
        found = []
        for key in keys:
            doc = await find_one({"_id": key}, PROJECTION)
            assert doc is not None
            found.append(_person(doc))
        return found

    async def filtered(self) -> list[Person]:
        flt = {"age": {"$gt": w.E_MIN_AGE}, "name": {"$regex": "^" + w.E_PREFIX}}
        return [_person(d) for d in await self.coll.find(flt, PROJECTION).to_list(None)]

    async def update_set(self) -> int:
        result = await self.coll.update_many({"age": {"$lt": w.F_MAX_AGE}}, {"$set": {"email": self.f_email}})
        return result.matched_count

    async def load_modify_save(self) -> int:
        low, high = w.G_AGES
        docs = await self.coll.find({"age": {"$gte": low, "$lte": high}}, PROJECTION).to_list(None)
        people = [_person(d) for d in docs]
        for person in people:
            person.email = person.email.upper()
        await self.coll.bulk_write(
            [ReplaceOne({"_id": p.id}, {"name": p.name, "age": p.age, "email": p.email}) for p in people]
        )
        return len(people)

    async def delete_set(self) -> int:
        low, high = self.h_ages
        return (await self.coll.delete_many({"age": {"$gte": low, "$lte": high}})).deleted_count

    async def count_filtered(self) -> int:
        return await self.coll.count_documents({"age": {"$gte": w.I_MIN_AGE}})

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        cursor = self.coll.find({}, PROJECTION, batch_size=STREAM_BATCH)
        try:
            # one server batch per to_list call: the documents come out of the cursor's buffer
            while batch := await cursor.to_list(STREAM_BATCH):
                for doc in batch:
                    person = _person(doc)
                    rows += 1
                    ages += person.age
        finally:
            await cursor.close()
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        pipeline: list[dict[str, Any]] = [
            {"$group": {"_id": "$age", "n": {"$sum": 1}, "total": {"$sum": "$_id"}}},
            {"$sort": {"_id": 1}},
        ]
        cursor = await self.coll.aggregate(pipeline)
        return [{"age": d["_id"], "n": d["n"], "total": d["total"]} for d in await cursor.to_list(None)]
