"""Raw duckdb (synchronous, as DuckDB's Python API is): the DuckDB baseline.

Multi-row ``INSERT ... VALUES`` in chunks for the bulk insert and the save
(DuckDB's ``executemany`` runs row by row), one ``fetchall`` per query,
``fetchmany`` batches when streaming, the same plain dataclass per row.
"""

from __future__ import annotations

from typing import Any

import duckdb

from bench import workload as w
from bench.contenders import _sql as q
from bench.contenders.base import Contender
from bench.workload import Person

T = w.TABLE
CHUNK = 1000


def duckdb_path(url: str) -> str:
    prefix = "duckdb:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a DuckDB file URL: {url}")
    return url[len(prefix) :]


class DuckDBContender(Contender):
    name = "duckdb"
    backends = frozenset({"duckdb"})
    packages = ("duckdb",)
    raw = frozenset({"duckdb"})

    async def connect(self) -> None:
        self.conn = duckdb.connect(duckdb_path(self.url))

    async def recreate(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {T}")
        self.conn.execute(f"DROP SEQUENCE IF EXISTS {T}_id")
        self.conn.execute(f"CREATE SEQUENCE {T}_id")
        self.conn.execute(
            f"CREATE TABLE {T} (name VARCHAR NOT NULL, age BIGINT NOT NULL, email VARCHAR NOT NULL, "
            f"id BIGINT PRIMARY KEY DEFAULT nextval('{T}_id'))"
        )

    async def keys(self) -> list[int]:
        return [k for (k,) in self.conn.execute(q.KEYS).fetchall()]

    async def teardown(self) -> None:
        self.conn.close()

    def _insert_values(self, rows: list[tuple[Any, ...]]) -> None:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            values = ", ".join(["(?, ?, ?)"] * len(chunk))
            self.conn.execute(f"INSERT INTO {T} (name, age, email) VALUES {values}", [v for r in chunk for v in r])

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        execute = self.conn.execute
        sql = q.INSERT + " RETURNING id"
        execute("BEGIN")
        keys = []
        for row in rows:
            person = Person(*row)
            person.id = execute(sql, w.VALUES(person)).fetchone()[0]  # type: ignore[index]
            keys.append(person.id)
        execute("COMMIT")
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        people = [Person(*row) for row in rows]
        self.conn.execute("BEGIN")
        self._insert_values(list(map(w.VALUES, people)))
        self.conn.execute("COMMIT")

    async def fetch_all(self) -> list[Person]:
        return [Person(*r) for r in self.conn.execute(q.SELECT).fetchall()]

    async def lookups(self, keys: list[int]) -> list[Person]:
        execute = self.conn.execute
        return [Person(*execute(q.BY_KEY, (key,)).fetchone()) for key in keys]  # type: ignore[misc]

    async def filtered(self) -> list[Person]:
        return [Person(*r) for r in self.conn.execute(q.FILTERED, q.FILTERED_ARGS).fetchall()]

    async def update_set(self) -> int:
        return int(self.conn.execute(q.UPDATE_SET, (self.f_email, w.F_MAX_AGE)).fetchone()[0])  # type: ignore[index]

    async def load_modify_save(self) -> int:
        people = [Person(*r) for r in self.conn.execute(q.LOAD, w.G_AGES).fetchall()]
        for person in people:
            person.email = person.email.upper()
        self._save(people)
        return len(people)

    def _save(self, people: list[Person]) -> None:
        self.conn.execute("BEGIN")
        # one statement: UPDATE ... FROM a VALUES list of the changed rows
        for start in range(0, len(people), CHUNK):
            chunk = people[start : start + CHUNK]
            values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
            self.conn.execute(
                f"UPDATE {T} SET name = v.name, age = v.age, email = v.email "
                f"FROM (VALUES {values}) AS v(id, name, age, email) WHERE {T}.id = v.id",
                [x for p in chunk for x in (p.id, p.name, p.age, p.email)],
            )
        self.conn.execute("COMMIT")

    async def delete_set(self) -> int:
        return int(self.conn.execute(q.DELETE_SET, self.h_ages).fetchone()[0])  # type: ignore[index]

    async def count_filtered(self) -> int:
        return int(self.conn.execute(q.COUNT, (w.I_MIN_AGE,)).fetchone()[0])  # type: ignore[index]

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
