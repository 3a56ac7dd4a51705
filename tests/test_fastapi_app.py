"""The FastAPI example (examples/fastapi_app) passes its own test suite, which
talks to the service through httpx, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.backends.postgresql import create_database
from tests.conftest import backend_url

APP = Path(__file__).resolve().parent.parent / "examples" / "fastapi_app"
TESTS = 4


def run_app_tests(*args: str, worker: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMMI_", "PYTEST_XDIST"))}
    if worker is not None:
        env["PYTEST_XDIST_WORKER"] = worker
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=APP, capture_output=True, text=True, timeout=300, env=env,
    )


def test_app_suite_on_in_memory_sqlite_by_default() -> None:
    done = run_app_tests()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{TESTS} passed" in done.stdout


def test_app_suite_on_a_sqlite_file(tmp_path: Path) -> None:
    done = run_app_tests("--ommi-db-url", "sqlite:///" + str(tmp_path / "bank.db"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{TESTS} passed" in done.stdout


def test_app_suite_on_a_sqlite_file_in_a_parallel_worker(tmp_path: Path) -> None:
    # a pytest-xdist worker gets its own file; the app must open that one too (ommi_db_url)
    done = run_app_tests("--ommi-db-url", "sqlite:///" + str(tmp_path / "bank.db"), worker="gw3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{TESTS} passed" in done.stdout
    assert (tmp_path / "bank-gw3.db").exists()


def test_app_suite_on_postgresql() -> None:
    url = create_database(backend_url("postgresql"), "fastapi_app")
    done = run_app_tests("--ommi-db-url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{TESTS} passed" in done.stdout
