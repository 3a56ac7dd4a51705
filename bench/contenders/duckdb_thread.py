"""Raw duckdb called the way an async program has to call it: each call in a thread.

DuckDB's Python API blocks, so an async application hands every statement to a
thread (``asyncio.to_thread``) to keep its event loop free, as ommi's driver
does with a worker thread of its own. The statements, the batches and the
objects built are the :mod:`raw contender's <bench.contenders.duckdb_raw>`;
only the trip to a thread per call is added. It tells what is the thread's
cost and what is ommi's.
"""

from __future__ import annotations

from asyncio import to_thread
from typing import Any

from bench import workload as w
from bench.contenders import _sql as q
from bench.contenders.duckdb_raw import DuckDBContender
from bench.workload import Person


class DuckDBThreadContender(DuckDBContender):
    name = "duckdb-thread"
    raw = frozenset()

    def _one(self, sql: str, params: Any = None) -> Any:
        return self.conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Any = None) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        sql = q.INSERT + " RETURNING id"
        await to_thread(self.conn.execute, "BEGIN")
        keys = []
        for row in rows:
            person = Person(*row)
            person.id = (await to_thread(self._one, sql, w.VALUES(person)))[0]
            keys.append(person.id)
        await to_thread(self.conn.execute, "COMMIT")
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        await to_thread(self.conn.execute, "BEGIN")
        people = [Person(*row) for row in rows]
        await to_thread(self._insert_values, list(map(w.VALUES, people)))
        await to_thread(self.conn.execute, "COMMIT")

    async def fetch_all(self) -> list[Person]:
        return [Person(*r) for r in await to_thread(self._all, q.SELECT)]

    async def lookups(self, keys: list[int]) -> list[Person]:
        return [Person(*await to_thread(self._one, q.BY_KEY, (key,))) for key in keys]

    async def filtered(self) -> list[Person]:
        return [Person(*r) for r in await to_thread(self._all, q.FILTERED, q.FILTERED_ARGS)]

    async def update_set(self) -> int:
        return int((await to_thread(self._one, q.UPDATE_SET, (self.f_email, w.F_MAX_AGE)))[0])

    async def load_modify_save(self) -> int:
        people = [Person(*r) for r in await to_thread(self._all, q.LOAD, w.G_AGES)]
        for person in people:
            person.email = person.email.upper()
        await to_thread(self._save, people)
        return len(people)

    async def delete_set(self) -> int:
        return int((await to_thread(self._one, q.DELETE_SET, self.h_ages))[0])

    async def count_filtered(self) -> int:
        return int((await to_thread(self._one, q.COUNT, (w.I_MIN_AGE,)))[0])

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        cur = await to_thread(self.conn.execute, q.SELECT)
        while batch := await to_thread(cur.fetchmany, q.STREAM_BATCH):
            for r in batch:
                person = Person(*r)
                rows += 1
                ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        rows = await to_thread(self._all, q.AGGREGATE)
        return [{"age": age, "n": n, "total": total} for age, n, total in rows]
