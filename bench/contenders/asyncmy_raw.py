"""Raw asyncmy: the MySQL/MariaDB baseline, written the most efficient ordinary way.

One connection in autocommit mode with explicit transactions, ``executemany``
for bulk writes (asyncmy rewrites an INSERT into multi-row statements), one
``execute`` + ``fetchall`` per query, an unbuffered cursor read in batches
when streaming, and the same plain dataclass per row. The table has the
columns ommi creates (binary text collation, BIGINT keys), so both do the
same work on the server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
from asyncmy.constants import CLIENT
from asyncmy.cursors import SSCursor

from bench import workload as w
from bench.contenders.base import Contender
from bench.workload import Person

T = w.TABLE
TEXT = "LONGTEXT COLLATE utf8mb4_nopad_bin NOT NULL"
CREATE = (
    f"CREATE TABLE {T} (name {TEXT}, age BIGINT NOT NULL, email {TEXT}, "
    "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB"
)
SELECT = f"SELECT name, age, email, id FROM {T}"


def connect_args(url: str) -> dict[str, Any]:
    """asyncmy's keyword arguments for an ommi ``mysql://`` URL."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/"),
    }


class AsyncmyContender(Contender):
    name = "asyncmy"
    backends = frozenset({"mysql"})
    packages = ("asyncmy",)
    raw = frozenset({"mysql"})

    async def connect(self) -> None:
        # sql_notes = 0: no note for DROP TABLE IF EXISTS of a missing table (asyncmy would log it)
        self.conn = await asyncmy.connect(
            **connect_args(self.url), autocommit=True, client_flag=CLIENT.FOUND_ROWS, init_command="SET sql_notes = 0"
        )
        self.cur = self.conn.cursor()

    async def recreate(self) -> None:
        await self.cur.execute(f"DROP TABLE IF EXISTS {T}")
        await self.cur.execute(CREATE)

    async def keys(self) -> list[int]:
        await self.cur.execute(f"SELECT id FROM {T}")
        return [k for (k,) in await self.cur.fetchall()]

    async def teardown(self) -> None:
        self.conn.close()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        cur = self.cur
        sql = f"INSERT INTO {T} (name, age, email) VALUES (%s, %s, %s)"
        keys = []
        await self.conn.begin()
        for row in rows:
            person = Person(*row)
            await cur.execute(sql, w.VALUES(person))
            person.id = cur.lastrowid
            keys.append(person.id)
        await self.conn.commit()
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        people = [Person(*row) for row in rows]
        await self.conn.begin()
        sql = f"INSERT INTO {T} (name, age, email) VALUES (%s, %s, %s)"
        await self.cur.executemany(sql, list(map(w.VALUES, people)))
        await self.conn.commit()

    async def _people(self, sql: str, args: Any = None) -> list[Person]:
        await self.cur.execute(sql, args)
        return [Person(*r) for r in await self.cur.fetchall()]

    async def fetch_all(self) -> list[Person]:
        return await self._people(SELECT)

    async def lookups(self, keys: list[int]) -> list[Person]:
        cur = self.cur
        sql = SELECT + " WHERE id = %s"
        found = []
        for key in keys:
            await cur.execute(sql, (key,))
            found.append(Person(*(await cur.fetchone())))
        return found

    async def filtered(self) -> list[Person]:
        return await self._people(SELECT + " WHERE age > %s AND name LIKE %s", (w.E_MIN_AGE, w.E_PREFIX + "%"))

    async def update_set(self) -> int:
        return int(await self.cur.execute(f"UPDATE {T} SET email = %s WHERE age < %s", (self.f_email, w.F_MAX_AGE)))

    async def load_modify_save(self) -> int:
        await self.conn.begin()
        people = await self._people(SELECT + " WHERE age BETWEEN %s AND %s", w.G_AGES)
        for person in people:
            person.email = person.email.upper()
        await self.cur.executemany(
            f"UPDATE {T} SET name = %s, age = %s, email = %s WHERE id = %s",
            [(p.name, p.age, p.email, p.id) for p in people],
        )
        await self.conn.commit()
        return len(people)

    async def delete_set(self) -> int:
        return int(await self.cur.execute(f"DELETE FROM {T} WHERE age BETWEEN %s AND %s", self.h_ages))

    async def count_filtered(self) -> int:
        await self.cur.execute(f"SELECT count(*) FROM {T} WHERE age >= %s", (w.I_MIN_AGE,))
        return int((await self.cur.fetchone())[0])

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        cursor = self.conn.cursor(SSCursor)
        await cursor.execute(SELECT)
        while batch := await cursor.fetchmany(1000):
            for r in batch:
                person = Person(*r)
                rows += 1
                ages += person.age
        await cursor.close()
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        await self.cur.execute(f"SELECT age, count(*), sum(id) FROM {T} GROUP BY age ORDER BY age")
        return [{"age": a, "n": n, "total": int(t)} for a, n, t in await self.cur.fetchall()]
