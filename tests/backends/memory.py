"""Memory backend for the tests: the example third-party driver in examples/ommi-memory.

It must be installed in the test environment (its entry point registers the
``memory`` scheme); ``memory://`` is a private store for the session's one
connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

NAME = "memory"


@contextlib.contextmanager
def server() -> Iterator[str]:
    yield "memory://"
