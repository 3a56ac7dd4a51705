"""Raw PyMongo reserving its keys on the server the way ommi does: which share of A is whose.

Opt-in (``--contenders ommi,pymongo,pymongo-keys``), for MongoDB's A and B.
The ``pymongo`` baseline numbers its keys in the client, the cheapest way;
ommi reserves them from a counters collection on the server, which stays
correct with several processes writing: one ``findAndModify`` with ``$inc``
per ``add()`` (a block for a bulk add), outside the transaction. This
contender does exactly that and otherwise works like ``pymongo``, so
``pymongo`` to ``pymongo-keys`` is the server's cost of reserving keys and
``pymongo-keys`` to ``ommi`` is ommi's own.

``pymongo-keys-retryable`` sends the increment as PyMongo's
``find_one_and_update``, a retryable write (what ommi did before): secantusdb
keeps a record per retryable write and scans all of them on every such write,
so the cost per key grows with the number of keys reserved (see
docs/benchmarks.md, "Where the time goes").
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument

from bench.contenders.pymongo_raw import PymongoContender, _documents

COUNTERS = "ommi_counters"


class PymongoKeysContender(PymongoContender):
    name = "pymongo-keys"
    raw = frozenset()

    async def recreate(self) -> None:
        await super().recreate()
        await self.coll.database[COUNTERS].delete_one({"_id": self.coll.name})

    async def reserve(self, n: int) -> int:
        """Reserve ``n`` keys on the server; the first of them."""
        reply = await self.coll.database.command(
            {
                "findAndModify": COUNTERS,
                "query": {"_id": self.coll.name},
                "update": {"$inc": {"seq": n}},
                "upsert": True,
                "new": True,
            }
        )
        return int(reply["value"]["seq"]) - n + 1

    @staticmethod
    def _keyed(rows: list[tuple[str, int, str]], first: int) -> list[dict[str, Any]]:
        return _documents(rows, first)

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        insert_one = self.coll.insert_one
        keys = []
        async with self.client.start_session() as session, await session.start_transaction():
            for row in rows:
                [doc] = self._keyed([row], await self.reserve(1))
                await insert_one(doc, session=session)
                keys.append(doc["_id"])
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        await self.coll.insert_many(self._keyed(rows, await self.reserve(len(rows))))


class PymongoRetryableKeysContender(PymongoKeysContender):
    name = "pymongo-keys-retryable"

    async def reserve(self, n: int) -> int:
        doc = await self.coll.database[COUNTERS].find_one_and_update(
            {"_id": self.coll.name}, {"$inc": {"seq": n}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert doc is not None
        return int(doc["seq"]) - n + 1
