"""Connecting: URLs, driver discovery, lifecycle, and the event loop staying free."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Annotated

import pytest
from ommi_sqlite import SQLiteDriver

from ommi import DBFailure, Key, ModelCollection, Ommi, errors, ommi_model
from ommi.driver import available_drivers, load_driver, parse_url

coll = ModelCollection("connect-tests")


@ommi_model(collection=coll)
@dataclass
class Note:
    text: str
    id: Annotated[int | None, Key] = None


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///app.db",
        "sqlite:////abs/path/app.db",
        "sqlite:///:memory:",
        "SQLite:///Mixed.DB",
        "postgresql://localhost/app",
        "postgresql://DB.Example-1/app_db",
        "postgresql://localhost",
        "postgresql://localhost:5432/app",
        "postgresql://bob@localhost/app",
        "postgresql://bob:pw@localhost/app",
        "postgresql://localhost/app?sslmode=disable",
        "postgresql://localhost/my%20db",
        "postgresql://[::1]/app",
        "mongodb://h1,h2:27018/db",
        "mongodb+srv://cluster.example/db",
        "sqlite:///a b.db",
        "sqlite:///app.db#x",
        "x1://host/path",
        "1x://host/path",
    ],
)
def test_plain_urls_parse_as_the_general_path_does(url: str) -> None:
    # the short path for URLs with nothing to split or decode gives what urllib.parse gives
    from ommi._url import _plain_url, _split_url

    plain = _plain_url(url)
    if plain is not None:
        assert plain == _split_url(url)
        assert repr(plain) == repr(_split_url(url))
    assert parse_url(url) == _split_url(url)


def test_url_parsing_hides_the_password() -> None:
    url = parse_url("postgresql://bob:s3cr%40t@db.example:5433/app?min_size=2")
    parts = (url.username, url.password, url.host, url.port, url.database)
    assert parts == ("bob", "s3cr@t", "db.example", 5433, "app")
    assert url.query == {"min_size": "2"}
    assert "s3cr" not in repr(url) and "s3cr" not in str(url)
    assert "***" in str(url)
    assert "s3cr%40t" in url.render(hide_password=False)


def test_host_lists_are_kept_and_hide_the_password() -> None:
    url = parse_url("mongodb://app:s3cret@h1:27017,h2:27018,h3/shop?replicaSet=rs0")
    assert url.hosts == ("h1:27017", "h2:27018", "h3") and url.host is None and url.port is None
    assert (url.username, url.password, url.database) == ("app", "s3cret", "shop")
    assert str(url) == "mongodb://app:***@h1:27017,h2:27018,h3/shop?replicaSet=rs0"
    assert "s3cret" in url.render(hide_password=False)


@pytest.mark.parametrize("bad", ["", "no-scheme", "sqlite:", "postgresql://h:notaport/db"])
def test_malformed_urls_fail_clearly(bad: str) -> None:
    with pytest.raises(errors.ConnectionFailed, match="malformed"):
        Ommi.connect(bad)


def test_unknown_scheme_lists_installed_drivers_and_extra() -> None:
    with pytest.raises(errors.UnsupportedError) as info:
        Ommi.connect("oracle://scott:tiger@host/db")
    message = str(info.value)
    assert "oracle" in message and "sqlite" in message and "tiger" not in message
    assert "entry-point" in message


def test_builtin_drivers_register_by_entry_point() -> None:
    assert available_drivers()["sqlite"].value == "ommi_sqlite:SQLiteDriver"
    assert load_driver("sqlite") is SQLiteDriver


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite://", ":memory:"), ("sqlite:///:memory:", ":memory:"), ("sqlite:///rel/app.db", "rel/app.db"),
     ("sqlite:////abs/app.db", "/abs/app.db")],
)
def test_sqlite_url_forms(url: str, path: str) -> None:
    driver = Ommi.connect(url).driver
    assert isinstance(driver, SQLiteDriver) and driver.path == path


async def test_default_url_comes_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    target = os.path.join(tmp_path, "env.db")
    monkeypatch.setenv("OMMI_DATABASE_URL", "sqlite:///" + target)
    async with Ommi.connect() as db:
        await db.schema(coll).create_models().or_raise()
        await db.add(Note("hi")).or_raise()
    assert os.path.exists(target)
    monkeypatch.delenv("OMMI_DATABASE_URL")
    db = Ommi.connect()
    assert isinstance(db.driver, SQLiteDriver) and db.driver.memory


async def test_file_database_persists_and_create_models_is_idempotent(tmp_path: os.PathLike[str]) -> None:
    url = "sqlite:///" + os.path.join(tmp_path, "keep.db")
    async with Ommi.connect(url) as db:
        await db.schema(coll).create_models().or_raise()
        await db.add(Note("kept")).or_raise()
    async with Ommi(SQLiteDriver(os.path.join(tmp_path, "keep.db"))) as db:
        await db.schema(coll).create_models().or_raise()
        assert [n.text for n in await db.find(Note).all().or_raise()] == ["kept"]
        await db.schema(coll).delete_models().or_raise()
        missing = await db.find(Note).all()
        assert missing.or_use(None) is None
        with pytest.raises(errors.SchemaError, match="create_models"):
            await db.find(Note).count().or_raise()


async def test_memory_database_is_private_and_removed_on_close() -> None:
    db = await Ommi.connect("sqlite://")
    await db.schema(coll).create_models().or_raise()
    await db.add(Note("x")).or_raise()
    other = await Ommi.connect("sqlite://")
    await other.schema(coll).create_models().or_raise()
    assert await other.find(Note).count().or_raise() == 0
    driver = db.driver
    assert isinstance(driver, SQLiteDriver)
    folder = driver._tmpdir
    assert folder is not None and os.path.isdir(folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    await db.close()
    await other.close()
    assert not os.path.exists(folder)
    closed = await db.find(Note).count()
    assert isinstance(closed.or_use(None), type(None))
    with pytest.raises(errors.ConnectionFailed):
        await db.find(Note).count().or_raise()


_FRESH_MEMORY_DATABASE = """
import asyncio, json, os, stat, sys
from ommi import Ommi

async def main():
    db = await Ommi.connect("sqlite://")
    await db.raw("CREATE TABLE t (x INTEGER)").or_raise()
    folder = db.driver._tmpdir
    seen = {"mode": stat.S_IMODE(os.stat(folder).st_mode), "files": sorted(os.listdir(folder))}
    await db.close()
    seen["removed"] = not os.path.exists(folder)
    seen["tempfile"] = "tempfile" in sys.modules
    print(json.dumps(seen))

asyncio.run(main())
"""


def test_memory_database_folder_without_tempfile_in_a_fresh_process() -> None:
    # pytest has imported tempfile, so the folder the driver makes itself is only seen in a fresh process
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP")}
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", _FRESH_MEMORY_DATABASE], capture_output=True, text=True, check=True, env=env
    )
    seen = json.loads(done.stdout)
    assert seen["mode"] == 0o700
    assert "memory.db" in seen["files"] and "memory.db-wal" in seen["files"]
    assert seen["removed"]
    if os.name == "posix" and os.access("/tmp", os.W_OK):  # noqa: S108 - the usual case it covers
        assert not seen["tempfile"]


_FRESH_FIRST_QUERY = """
import asyncio, json, sys
from dataclasses import dataclass
import ommi

@ommi.ommi_model
@dataclass
class Person:
    name: str
    id: int | None = None

async def main():
    async with ommi.Ommi.connect("sqlite://") as db:
        await db.schema().create_models().or_raise()
        await db.add(Person("Ann")).or_raise()
        assert [p.name for p in await db.find(Person).all().or_raise()] == ["Ann"]
    print(json.dumps(sorted(sys.modules)))

asyncio.run(main())
"""


def test_first_query_leaves_unused_parts_unloaded() -> None:
    # start-up time (docs/benchmarks.md): relations, schema diffs, ommi's own reference
    # checks, replica placement and the decimal module load when first needed, not for a
    # plain first query
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", _FRESH_FIRST_QUERY], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(json.loads(done.stdout))
    assert "ommi_sqlite" in loaded
    assert not loaded & {"ommi._relations", "ommi._migrate", "ommi._integrity", "ommi._placement", "decimal"}


async def test_unopenable_file_is_connection_failed(tmp_path: os.PathLike[str]) -> None:
    url = "sqlite:///" + os.path.join(tmp_path, "no", "such", "dir", "x.db")
    with pytest.raises(errors.ConnectionFailed, match="cannot open"):
        await Ommi.connect(url)


async def test_event_loop_keeps_running_during_database_work() -> None:
    async with Ommi.connect("sqlite://") as db:
        await db.schema(coll).create_models().or_raise()
        await db.add(*(Note(str(i)) for i in range(20000))).or_raise()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = time.perf_counter()
        for _ in range(3):
            assert len(await db.find(Note).all().or_raise()) == 20000
        elapsed = time.perf_counter() - start
        task.cancel()
        # the rows are read and turned into objects in the worker thread;
        # the loop keeps ticking meanwhile
        assert elapsed > 0.01
        assert ticks >= 2


async def test_closing_twice_and_repr_without_secrets() -> None:
    db = Ommi.connect("sqlite://")
    assert "new" in repr(db)
    await db
    assert "open" in repr(db)
    await db.close()
    await db.close()
    assert "closed" in repr(db)


def _refused_elsewhere(result: object) -> None:
    assert isinstance(result, DBFailure), result
    assert isinstance(result.error, errors.ConnectionFailed)
    assert "another event loop" in str(result.error)


def test_an_ommi_belongs_to_the_event_loop_that_opened_it(ommi_url: str) -> None:
    # each test of a run of asyncio.run() (a script, a test suite with a loop per test)
    # must open its own: a later loop gets a clear ConnectionFailed, never a hang or a
    # library's "attached to a different loop"
    db = Ommi.connect(ommi_url)

    async def first() -> int:
        await db.schema(coll).create_models().or_raise()
        await db.find(Note).delete().or_raise()
        await db.add(Note("one")).or_raise()
        return await db.find(Note).count().or_raise()

    async def later() -> None:
        _refused_elsewhere(await db.find(Note).count())
        _refused_elsewhere(await db.add(Note("two")))
        with pytest.raises(errors.ConnectionFailed, match="another event loop"):
            async for _ in db.find(Note):
                pass
        with pytest.raises(errors.ConnectionFailed, match="another event loop"):
            await db.close()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(first()) == 1
        asyncio.run(later())
        # its own loop still has it, untouched
        assert loop.run_until_complete(db.find(Note).count().or_raise()) == 1
        loop.run_until_complete(db.schema(coll).delete_models().or_raise())
        loop.run_until_complete(db.close())
    finally:
        loop.close()


async def test_an_ommi_is_refused_to_a_loop_running_in_another_thread(ommi_url: str) -> None:
    # its own loop keeps running meanwhile (here, awaiting the other thread)
    async with Ommi.connect(ommi_url) as db:
        await db.schema(coll).create_models().or_raise()
        await db.find(Note).delete().or_raise()
        await db.add(Note("mine")).or_raise()

        async def elsewhere() -> None:
            _refused_elsewhere(await db.find(Note).count())
            _refused_elsewhere(await db.add(Note("theirs")))

        await asyncio.to_thread(asyncio.run, elsewhere())
        assert await db.find(Note).values(Note.text).all().or_raise() == [("mine",)]
        await db.schema(coll).delete_models().or_raise()
