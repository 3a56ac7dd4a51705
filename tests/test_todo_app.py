"""The sample application's own test suite (examples/todo_app) runs with ommi's
testing toolkit, in parallel under pytest-xdist, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.backends.postgresql import create_database
from tests.conftest import backend_url

APP = Path(__file__).resolve().parent.parent / "examples" / "todo_app"


def run_app_tests(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMMI_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=APP, capture_output=True, text=True, timeout=300, env=env,
    )


def test_app_suite_on_in_memory_sqlite_by_default() -> None:
    done = run_app_tests()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_app_suite_in_parallel_on_sqlite_and_postgresql(tmp_path: Path) -> None:
    pg = backend_url("postgresql")
    for worker in ("gw0", "gw1"):
        create_database(pg, f"todo_{worker}")
    pg_template = pg.replace("/ommi_conformance", "/todo_{worker}")
    sqlite_file = "sqlite:///" + str(tmp_path / "todo.db")
    done = run_app_tests("-n", "2", "--ommi-db-url", sqlite_file, "--ommi-db-url", pg_template)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout
    # each worker had its own SQLite file
    assert sorted(p.name for p in tmp_path.glob("todo-gw*.db")) == ["todo-gw0.db", "todo-gw1.db"]


def test_app_suite_runs_again_on_the_same_database_file(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "todo.db")
    for _ in range(2):
        done = run_app_tests("--ommi-db-url", url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 passed" in done.stdout
