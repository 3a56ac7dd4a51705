"""The MySQL/MariaDB test server works: a real round trip through asyncmy itself.

This proves the infrastructure in tests/backends/mysql.py (install when
missing, private server, TCP user) independently of ommi's driver, so a
broken server shows up here rather than as a puzzling driver failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
import pytest
from asyncmy.errors import IntegrityError

from tests.backends import mysql as _mariadb
from tests.conftest import backend_url, only_with

pytestmark = only_with("mysql")


@pytest.fixture(scope="module")
def mysql_url() -> str:
    """The shared MariaDB server of this test session (started once, by tests/conftest.py)."""
    return backend_url("mysql")


def connect_args(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    assert parts.scheme in ("mysql", "mariadb")
    return {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "db": parts.path.lstrip("/"),
    }


@pytest.fixture
async def conn(mysql_url: str) -> AsyncIterator[Any]:
    connection = await asyncmy.connect(**connect_args(mysql_url), autocommit=False)
    try:
        yield connection
    finally:
        connection.close()


def test_url_is_tcp_with_a_password(mysql_url: str) -> None:
    parts = urlsplit(mysql_url)
    if not os.environ.get(_mariadb.URL_VARIABLE):
        assert parts.hostname == "127.0.0.1"
        assert parts.password
        assert parts.path == "/" + _mariadb.DATABASE


async def test_round_trip_and_rollback(conn: Any) -> None:
    async with conn.cursor() as cur:
        await cur.execute("SELECT VERSION()")
        (version,) = await cur.fetchone()
        assert isinstance(version, str) and version
        await cur.execute("DROP TABLE IF EXISTS infra_probe")
        await cur.execute(
            "CREATE TABLE infra_probe (id INT AUTO_INCREMENT PRIMARY KEY, "
            "name VARCHAR(50) COLLATE utf8mb4_bin NOT NULL UNIQUE) ENGINE=InnoDB"
        )
        await cur.execute("INSERT INTO infra_probe (name) VALUES (%s), (%s)", ("ada", "Ada"))
        await conn.commit()

        await cur.execute("INSERT INTO infra_probe (name) VALUES (%s)", ("grace",))
        await conn.rollback()

        await cur.execute("SELECT name FROM infra_probe ORDER BY name")
        # utf8mb4_bin keeps "ada" and "Ada" apart and orders by code point.
        assert [row[0] for row in await cur.fetchall()] == ["Ada", "ada"]

        with pytest.raises(IntegrityError) as caught:
            await cur.execute("INSERT INTO infra_probe (name) VALUES (%s)", ("ada",))
        assert caught.value.args[0] == 1062  # ER_DUP_ENTRY
        await conn.rollback()
        await cur.execute("DROP TABLE infra_probe")


async def test_second_connection_sees_only_committed_rows(mysql_url: str, conn: Any) -> None:
    other = await asyncmy.connect(**connect_args(mysql_url), autocommit=True)
    try:
        async with conn.cursor() as cur, other.cursor() as ocur:
            await cur.execute("CREATE TABLE IF NOT EXISTS infra_seen (n INT) ENGINE=InnoDB")
            await cur.execute("DELETE FROM infra_seen")
            await conn.commit()
            await cur.execute("INSERT INTO infra_seen VALUES (1)")
            await ocur.execute("SELECT COUNT(*) FROM infra_seen")
            assert (await ocur.fetchone())[0] == 0
            await conn.commit()
            await ocur.execute("SELECT COUNT(*) FROM infra_seen")
            assert (await ocur.fetchone())[0] == 1
            await cur.execute("DROP TABLE infra_seen")
    finally:
        other.close()


def test_missing_server_that_cannot_be_installed_fails_with_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine is made to look like one without MariaDB where the tests do
    # not run as root: the fixture must fail loudly, never skip.
    monkeypatch.setattr(_mariadb, "find_binaries", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv(_mariadb.URL_VARIABLE, raising=False)
    with pytest.raises(RuntimeError) as caught, _mariadb.server():
        pass
    message = str(caught.value)
    assert "not installed" in message and "root" in message
    assert _mariadb.URL_VARIABLE in message
