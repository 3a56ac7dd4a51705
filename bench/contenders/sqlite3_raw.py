"""Raw sqlite3, synchronous: the floor (no event-loop hand-off at all).

It blocks the event loop for every call, which no async application would
accept; it shows what the SQLite work itself costs.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from bench import workload as w
from bench.contenders import _sql as q
from bench.contenders.base import Contender, sqlite_path
from bench.workload import Person


class Sqlite3Contender(Contender):
    name = "sqlite3"
    backends = frozenset({"sqlite"})
    packages = ()

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"sqlite3 (SQLite library)": sqlite3.sqlite_version}

    async def connect(self) -> None:
        self.conn = sqlite3.connect(sqlite_path(self.url), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")

    async def recreate(self) -> None:
        self.conn.execute(q.DROP)
        self.conn.execute(q.CREATE)

    async def keys(self) -> list[int]:
        return [k for (k,) in self.conn.execute(q.KEYS)]

    async def teardown(self) -> None:
        self.conn.close()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        execute = self.conn.execute
        keys = []
        execute("BEGIN")
        for row in rows:
            person = Person(*row)
            person.id = execute(q.INSERT, w.VALUES(person)).lastrowid
            keys.append(person.id)
        execute("COMMIT")
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        self.conn.execute("BEGIN")
        people = [Person(*row) for row in rows]
        self.conn.executemany(q.INSERT, list(map(w.VALUES, people)))
        self.conn.execute("COMMIT")

    async def fetch_all(self) -> list[Person]:
        return [Person(*r) for r in self.conn.execute(q.SELECT).fetchall()]

    async def lookups(self, keys: list[int]) -> list[Person]:
        execute = self.conn.execute
        return [Person(*execute(q.BY_KEY, (key,)).fetchone()) for key in keys]

    async def filtered(self) -> list[Person]:
        return [Person(*r) for r in self.conn.execute(q.FILTERED, q.FILTERED_ARGS).fetchall()]

    async def update_set(self) -> int:
        return self.conn.execute(q.UPDATE_SET, (self.f_email, w.F_MAX_AGE)).rowcount

    async def load_modify_save(self) -> int:
        people = [Person(*r) for r in self.conn.execute(q.LOAD, w.G_AGES).fetchall()]
        for person in people:
            person.email = person.email.upper()
        self.conn.execute("BEGIN")
        self.conn.executemany(q.SAVE, [(p.name, p.age, p.email, p.id) for p in people])
        self.conn.execute("COMMIT")
        return len(people)

    async def delete_set(self) -> int:
        return self.conn.execute(q.DELETE_SET, self.h_ages).rowcount

    async def count_filtered(self) -> int:
        return int(self.conn.execute(q.COUNT, (w.I_MIN_AGE,)).fetchone()[0])

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        cur = self.conn.execute(q.SELECT)
        while batch := cur.fetchmany(q.STREAM_BATCH):
            for r in batch:
                person = Person(*r)
                rows += 1
                ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(q.AGGREGATE).fetchall()
        return [{"age": age, "n": n, "total": total} for age, n, total in rows]
