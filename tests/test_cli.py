"""The ``ommi`` command, run as users run it: in a subprocess, against real databases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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
