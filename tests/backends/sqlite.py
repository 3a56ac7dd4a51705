"""SQLite backend for the tests: a fresh database file in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

NAME = "sqlite"


@contextlib.contextmanager
def server() -> Iterator[str]:
    if os.environ.get("OMMI_TEST_SQLITE_URL"):
        yield os.environ["OMMI_TEST_SQLITE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="ommi-test-sqlite-") as tmp:
        yield "sqlite:///" + os.path.join(tmp, "conformance.db")
