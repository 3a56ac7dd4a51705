"""DuckDB backend for the tests: a fresh database file in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

NAME = "duckdb"


@contextlib.contextmanager
def server() -> Iterator[str]:
    if os.environ.get("OMMI_TEST_DUCKDB_URL"):
        yield os.environ["OMMI_TEST_DUCKDB_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="ommi-test-duckdb-") as tmp:
        yield "duckdb:///" + os.path.join(tmp, "conformance.duckdb")
