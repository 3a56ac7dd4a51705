"""Raw aiosqlite: the async SQLite baseline, written the most efficient ordinary way.

One ``executemany`` for bulk writes, one ``execute_fetchall`` per query (one
trip into aiosqlite's thread), ``fetchmany`` batches when streaming, and the
same plain dataclass built from every row.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from bench import workload as w
from bench.contenders import _sql as q
from bench.contenders.base import Contender, sqlite_path
from bench.workload import Person


class AiosqliteContender(Contender):
    name = "aiosqlite"
    backends = frozenset({"sqlite"})
    packages = ("aiosqlite",)
    raw = frozenset({"sqlite"})

    async def connect(self) -> None:
        self.conn = await aiosqlite.connect(sqlite_path(self.url), isolation_level=None)
        await self.conn.execute("PRAGMA journal_mode = WAL")

    async def recreate(self) -> None:
        await self.conn.execute(q.DROP)
        await self.conn.execute(q.CREATE)

    async def keys(self) -> list[int]:
        return [k for (k,) in await self.conn.execute_fetchall(q.KEYS)]

    async def teardown(self) -> None:
        await self.conn.close()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        conn = self.conn
        keys = []
        await conn.execute("BEGIN")
        for row in rows:
            person = Person(*row)
            cur = await conn.execute(q.INSERT, w.VALUES(person))
            person.id = cur.lastrowid
            keys.append(person.id)
        await conn.execute("COMMIT")
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        await self.conn.execute("BEGIN")
        people = [Person(*row) for row in rows]
        await self.conn.executemany(q.INSERT, list(map(w.VALUES, people)))
        await self.conn.execute("COMMIT")

    async def fetch_all(self) -> list[Person]:
        return [Person(*r) for r in await self.conn.execute_fetchall(q.SELECT)]

    async def lookups(self, keys: list[int]) -> list[Person]:
        fetch = self.conn.execute_fetchall
        found = []
        for key in keys:
            (row,) = await fetch(q.BY_KEY, (key,))
            found.append(Person(*row))
        return found

    async def filtered(self) -> list[Person]:
        return [Person(*r) for r in await self.conn.execute_fetchall(q.FILTERED, q.FILTERED_ARGS)]

    async def update_set(self) -> int:
        cur = await self.conn.execute(q.UPDATE_SET, (self.f_email, w.F_MAX_AGE))
        return cur.rowcount

    async def load_modify_save(self) -> int:
        people = [Person(*r) for r in await self.conn.execute_fetchall(q.LOAD, w.G_AGES)]
        for person in people:
            person.email = person.email.upper()
        await self.conn.execute("BEGIN")
        await self.conn.executemany(q.SAVE, [(p.name, p.age, p.email, p.id) for p in people])
        await self.conn.execute("COMMIT")
        return len(people)

    async def delete_set(self) -> int:
        cur = await self.conn.execute(q.DELETE_SET, self.h_ages)
        return cur.rowcount

    async def count_filtered(self) -> int:
        ((count,),) = await self.conn.execute_fetchall(q.COUNT, (w.I_MIN_AGE,))
        return int(count)

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        async with self.conn.execute(q.SELECT) as cur:
            while batch := await cur.fetchmany(q.STREAM_BATCH):
                for r in batch:
                    person = Person(*r)
                    rows += 1
                    ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute_fetchall(q.AGGREGATE)
        return [{"age": age, "n": n, "total": total} for age, n, total in rows]
