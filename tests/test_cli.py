"""The ``ommi`` command, run as users run it: in a subprocess, against real databases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import backend_url

V1 = """
from dataclasses import dataclass
from typing import Annotated
from ommi import Key, ModelCollection, ommi_model

models = ModelCollection("cli")

@ommi_model(collection=models, name="{table}")
@dataclass
class Item:
    name: str
    legacy: str | None = None
    id: Annotated[int | None, Key] = None
"""

V2 = """
from dataclasses import dataclass
from typing import Annotated
from ommi import Index, Key, ModelCollection, ommi_model

models = ModelCollection("cli")

@ommi_model(collection=models, name="{table}")
@dataclass
class Item:
    name: str
    price: int = 5
    colour: Annotated[str | None, Index] = None
    id: Annotated[int | None, Key] = None
"""

SEED = """
import asyncio, sys
from ommi import Ommi
from app_v1 import Item, models

async def main():
    async with Ommi.connect(sys.argv[1]) as db:
        await db.add(Item("kept", "old")).or_raise()

asyncio.run(main())
"""

READ = """
import asyncio, sys
from ommi import Ommi
from app_v2 import Item

async def main():
    async with Ommi.connect(sys.argv[1]) as db:
        items = await db.find(Item).all().or_raise()
        print([(i.name, i.price, i.colour) for i in items])

asyncio.run(main())
"""


def ommi(cwd: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMMI_")}
    if url is not None:
        env["OMMI_DATABASE_URL"] = url
    command = [str(Path(sys.executable).with_name("ommi")), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def python(cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mongodb", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path / "cli.db")
    if request.param == "duckdb":
        return "duckdb:///" + str(tmp_path / "cli.duckdb")
    return backend_url(request.param)


def test_help_for_every_command(tmp_path: Path) -> None:
    for args in (["--help"], ["check", "--help"], ["schema", "--help"], ["schema", "diff", "--help"],
                 ["schema", "sync", "--help"]):
        done = ommi(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert "usage: ommi" in done.stdout


def test_check_prints_version_and_capabilities_without_the_password(tmp_path: Path) -> None:
    done = ommi(tmp_path, "check", url="sqlite://")
    assert done.returncode == 0, done.stderr
    assert "SQLite 3." in done.stdout and "yes  transactions" in done.stdout
    refused = ommi(tmp_path, "check", "--url", "postgresql://app:hunter2@127.0.0.1:1/app")
    assert refused.returncode == 3
    assert "ConnectionFailed" in refused.stderr and "hunter2" not in refused.stderr + refused.stdout
    assert ommi(tmp_path, "check").returncode == 2
    assert ommi(tmp_path, "schema", "diff", "--url", "sqlite://", "--models", "no_such_module").returncode == 2


def test_migration_through_the_command(tmp_path: Path, database: str) -> None:
    table = "CliItem_" + uuid.uuid4().hex[:8]
    (tmp_path / "app_v1.py").write_text(textwrap.dedent(V1.format(table=table)))
    (tmp_path / "app_v2.py").write_text(textwrap.dedent(V2.format(table=table)))

    created = ommi(tmp_path, "schema", "sync", "--models", "app_v1:models", url=database)
    assert created.returncode == 0, created.stderr
    assert "add_table" in created.stdout
    seeded = python(tmp_path, SEED, database)
    assert seeded.returncode == 0, seeded.stderr

    diff = ommi(tmp_path, "schema", "diff", "--url", database, "--models", "app_v2:models")
    assert diff.returncode == 1, diff.stderr
    if database.startswith("mongodb"):
        # documents have no columns: only the new index differs, and old
        # documents read the new field's default
        assert diff.stdout.strip() == f"[safe] add_index {table}.colour"
        applied = ommi(tmp_path, "schema", "sync", "--url", database, "--models", "app_v2:models")
        assert applied.returncode == 0 and "applied 1 change(s)" in applied.stdout, applied.stderr
        read = python(tmp_path, READ, database)
        assert read.returncode == 0, read.stderr
        assert read.stdout.strip() == "[('kept', 5, None)]"
        return
    assert f"[safe] add_column {table}.price" in diff.stdout
    assert f"[safe] add_index {table}.colour" in diff.stdout
    assert f"[destructive] drop_column {table}.legacy" in diff.stdout

    refused = ommi(tmp_path, "schema", "sync", "--url", database, "--models", "app_v2:models")
    assert refused.returncode == 4
    assert "drop_column" in refused.stderr and "nothing was applied" in refused.stderr
    dry = ommi(tmp_path, "schema", "sync", "--dry-run", "--url", database, "--models", "app_v2:models")
    assert dry.returncode == 0 and "add_column" in dry.stdout

    applied = ommi(tmp_path, "schema", "sync", "--allow", "drop_column", "--url", database,
                   "--models", "app_v2:models")
    if applied.returncode == 3:  # an engine that cannot drop this column in place refuses cleanly
        assert "drop" in applied.stderr.lower()
        return
    assert applied.returncode == 0, applied.stderr
    assert "applied 4 change(s)" in applied.stdout
    again = ommi(tmp_path, "schema", "diff", "--url", database, "--models", "app_v2:models")
    assert again.returncode == 0 and "no differences" in again.stdout
    read = python(tmp_path, READ, database)
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "[('kept', 5, None)]"


TWO_COLLECTIONS = """
from dataclasses import dataclass
from typing import Annotated
from ommi import Key, ModelCollection, ommi_model

blog = ModelCollection("blog")
audit = ModelCollection("audit")

@ommi_model(collection=blog, name="{table}")
@dataclass
class Post:
    title: str
    id: Annotated[int | None, Key] = None

@ommi_model(collection=audit, name="{table}_log")
@dataclass
class Entry:
    text: str
    id: Annotated[int | None, Key] = None
"""


def test_models_module_without_a_collection_name(tmp_path: Path) -> None:
    """``--models mod`` finds the module's own collection instead of comparing the
    (empty) default collection and reporting "no differences"."""
    url = "sqlite:///" + str(tmp_path / "cli.db")
    table = "CliItem_" + uuid.uuid4().hex[:8]
    (tmp_path / "app_v1.py").write_text(textwrap.dedent(V1.format(table=table)))
    (tmp_path / "blog.py").write_text(textwrap.dedent(TWO_COLLECTIONS.format(table=table)))
    (tmp_path / "nothing.py").write_text("x = 1\n")

    diff = ommi(tmp_path, "schema", "diff", "--models", "app_v1", url=url)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert f"[safe] add_table {table}" in diff.stdout

    ambiguous = ommi(tmp_path, "schema", "diff", "--models", "blog", url=url)
    assert ambiguous.returncode == 2
    assert "blog:blog" in ambiguous.stderr and "blog:audit" in ambiguous.stderr

    empty = ommi(tmp_path, "schema", "diff", "--models", "nothing", url=url)
    assert empty.returncode == 2 and "defines no ommi models" in empty.stderr

    both = ommi(tmp_path, "schema", "sync", "--models", "blog:blog", "--models", "blog:audit", url=url)
    assert both.returncode == 0, both.stderr
    assert "applied 2 change(s)" in both.stdout
    assert f"add_table {table}:" in both.stdout and f"add_table {table}_log:" in both.stdout
    assert ommi(tmp_path, "schema", "diff", "--models", "blog:blog", url=url).returncode == 0


NOTES_V1 = """
from dataclasses import dataclass
from typing import Annotated
from ommi import Key, ModelCollection, ommi_model

models = ModelCollection("cli-notes")

@ommi_model(collection=models, name="{table}")
@dataclass
class Note:
    title: str
    legacy: str | None = None
    id: Annotated[int | None, Key] = None
"""

NOTES_V2 = """
from dataclasses import dataclass
from typing import Annotated
from ommi import Key, ModelCollection, ommi_model

models = ModelCollection("cli-notes")

@ommi_model(collection=models, name="{table}")
@dataclass
class Note:
    heading: str
    stars: int = 0
    id: Annotated[int | None, Key] = None
"""

NOTES_SEED = """
import asyncio, sys
from ommi import Ommi
from app import Note

async def main():
    async with Ommi.connect(sys.argv[1]) as db:
        await db.add(Note("first", "old")).or_raise()

asyncio.run(main())
"""

NOTES_READ = """
import asyncio, dataclasses, sys
from ommi import Ommi
from app import Note

async def main():
    async with Ommi.connect(sys.argv[1]) as db:
        print([dataclasses.astuple(n)[:-1] for n in await db.find(Note).all().or_raise()])

asyncio.run(main())
"""


def test_migrate_help_for_every_action(tmp_path: Path) -> None:
    for action in ("make", "up", "down", "status", "sql", "check"):
        done = ommi(tmp_path, "migrate", action, "--help")
        assert done.returncode == 0, done.stderr
        assert f"usage: ommi migrate {action}" in done.stdout


def test_migrations_through_the_command(tmp_path: Path, database: str) -> None:
    table = "CliNote_" + uuid.uuid4().hex[:8]
    record = ("--table", "cli_" + uuid.uuid4().hex[:8])
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(NOTES_V1.format(table=table)))

    missing = ommi(tmp_path, "migrate", "check", "--models", "app:models")
    assert missing.returncode == 1 and f"create model {table}" in missing.stdout, missing.stderr
    made = ommi(tmp_path, "migrate", "make", "-m", "notes", "--models", "app:models")
    assert made.returncode == 0 and "wrote migrations/0001_notes.py" in made.stdout, made.stderr
    assert ommi(tmp_path, "migrate", "check", "--models", "app:models").returncode == 0
    nothing = ommi(tmp_path, "migrate", "make", "-m", "again", "--models", "app:models")
    assert nothing.returncode == 0 and "nothing written" in nothing.stdout

    status = ommi(tmp_path, "migrate", "status", *record, url=database)
    assert status.returncode == 0 and status.stdout.strip() == "[ ] 0001_notes  notes", status.stderr
    sql = ommi(tmp_path, "migrate", "sql", *record, url=database)
    if sql.returncode == 3:  # a database without SQL says so
        assert "UnsupportedError" in sql.stderr and "no SQL" in sql.stderr
    else:
        assert sql.returncode == 0 and "CREATE TABLE" in sql.stdout and table in sql.stdout, sql.stderr
    up = ommi(tmp_path, "migrate", "up", *record, url=database)
    assert up.returncode == 0 and up.stdout.strip() == "applied 0001_notes", up.stderr
    assert python(tmp_path, NOTES_SEED, database).returncode == 0

    app.write_text(textwrap.dedent(NOTES_V2.format(table=table)))
    assert ommi(tmp_path, "migrate", "check", "--models", "app:models").returncode == 1
    undecided = ommi(tmp_path, "migrate", "make", "-m", "headings", "--models", "app:models")
    assert undecided.returncode == 4 and f"{table}.title -> {table}.heading" in undecided.stderr
    assert "--rename" in undecided.stderr and not (tmp_path / "migrations" / "0002_headings.py").exists()
    made = ommi(tmp_path, "migrate", "make", "-m", "headings", "--models", "app:models",
                "--rename", f"{table}.title={table}.heading")
    assert made.returncode == 0, made.stderr
    up = ommi(tmp_path, "migrate", "up", *record, url=database)
    assert up.returncode == 0 and "applied 0002_headings" in up.stdout, up.stderr
    read = python(tmp_path, NOTES_READ, database)
    assert read.stdout.strip() == "[('first', 0)]", read.stderr

    refused = ommi(tmp_path, "migrate", "down", *record, url=database)
    assert refused.returncode == 4 and "legacy" in refused.stderr and "reversible=True" in refused.stderr
    second = tmp_path / "migrations" / "0002_headings.py"
    second.write_text(second.read_text().replace('"legacy")', '"legacy", reversible=True)'))
    down = ommi(tmp_path, "migrate", "down", *record, url=database)
    assert down.returncode == 0 and down.stdout.strip() == "reverted 0002_headings", down.stderr
    app.write_text(textwrap.dedent(NOTES_V1.format(table=table)))
    read = python(tmp_path, NOTES_READ, database)
    assert read.stdout.strip() == "[('first', None)]", read.stderr

    assert ommi(tmp_path, "migrate", "down", "0001", "-n", "1", *record, url=database).returncode == 2
    assert ommi(tmp_path, "migrate", "down", "nope", *record, url=database).returncode == 3
    down = ommi(tmp_path, "migrate", "down", "-n", "1", *record, url=database)
    assert down.returncode == 0 and "reverted 0001_notes" in down.stdout
    status = ommi(tmp_path, "migrate", "status", *record, url=database)
    assert status.stdout.splitlines() == ["[ ] 0001_notes  notes", "[ ] 0002_headings  headings"]


DATA_STEP = """
import asyncio, os
from pathlib import Path
from ommi.migrations import RunData, noop

id = "0002_seed"
parent = "0001_notes"
message = "seed"

async def forward(tx):
    await tx.add(tx.models["{table}"](title="seeded")).or_raise()
    if os.environ.get("MIGRATION_TEST_HANG"):
        Path("started").write_text("x")
        await asyncio.sleep(120)  # until the test kills this process
    await asyncio.sleep(0.3)  # the other run queues for the lock meanwhile

operations = [RunData(forward, noop)]
"""


def _notes_with_a_data_step(tmp_path: Path) -> str:
    table = "CliNote_" + uuid.uuid4().hex[:8]
    (tmp_path / "app.py").write_text(textwrap.dedent(NOTES_V1.format(table=table)))
    assert ommi(tmp_path, "migrate", "make", "-m", "notes", "--models", "app:models").returncode == 0
    (tmp_path / "migrations" / "0002_seed.py").write_text(DATA_STEP.format(table=table))
    return table


def _start(cwd: Path, *args: str, url: str, hang: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMMI_")}
    env["OMMI_DATABASE_URL"] = url
    if hang:
        env["MIGRATION_TEST_HANG"] = "1"
    command = [str(Path(sys.executable).with_name("ommi")), *args]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_up_processes_apply_each_migration_once(tmp_path: Path, database: str) -> None:
    _notes_with_a_data_step(tmp_path)
    record = ("--table", "cli_" + uuid.uuid4().hex[:8])
    runs = [_start(tmp_path, "migrate", "up", *record, url=database) for _ in range(2)]
    outcomes = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    for code, out, err in outcomes:
        # DuckDB lets one process open a file for writing: the other cannot connect, and says so
        assert code == 0 or (code == 3 and "ConnectionFailed" in err and "lock" in err.lower()), err
    applied = [line for _, out, _ in outcomes for line in out.splitlines() if line.startswith("applied")]
    assert sorted(applied) == ["applied 0001_notes", "applied 0002_seed"]
    read = python(tmp_path, NOTES_READ, database)
    assert read.stdout.strip() == "[('seeded', None)]", read.stderr


def test_a_killed_run_leaves_a_lock_that_the_next_run_takes_over(tmp_path: Path, database: str) -> None:
    _notes_with_a_data_step(tmp_path)
    record = ("--table", "cli_" + uuid.uuid4().hex[:8])
    first = _start(tmp_path, "migrate", "up", "--lock-timeout", "1", *record, url=database, hang=True)
    try:
        for _ in range(600):
            if (tmp_path / "started").exists() or first.poll() is not None:
                break
            time.sleep(0.1)
        assert (tmp_path / "started").exists(), first.communicate()
    finally:
        first.kill()  # dies holding the lock, in the middle of a migration
        first.communicate()
    second = ommi(tmp_path, "migrate", "up", "--lock-timeout", "60", *record, url=database)
    assert second.returncode == 0 and "applied 0002_seed" in second.stdout, second.stderr
    read = python(tmp_path, NOTES_READ, database)
    assert read.stdout.strip() == "[('seeded', None)]", read.stderr  # the killed run's row never committed
    status = ommi(tmp_path, "migrate", "status", *record, url=database)
    assert [line[:3] for line in status.stdout.splitlines()] == ["[x]", "[x]"]
