"""MongoDB backend for the tests: a throwaway secantusdb server, or ``$OMMI_TEST_MONGODB_URL``.

No mongod binary can be installed from this project's package sources, so the
suite starts secantusdb (a MongoDB wire-compatible server on WiredTiger that
runs as a single-node replica set, so multi-document transactions work) in
this process on a free loopback port with a temporary storage directory. Set
``OMMI_TEST_MONGODB_URL=mongodb://host:27017/ommi_test`` (a replica set: the
driver uses transactions) to run the suite against a real mongod instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit

NAME = "mongodb"
DATABASE = "ommi_test"


_ports: list[int] = []  # of the servers this process's tests use


def reports_conflicts_as_duplicates(url: str) -> bool:
    """Whether ``url`` is the secantusdb server these tests started (not ``OMMI_TEST_MONGODB_URL``).

    Seen on secantusdb 0.7.0b3, about once in 10-20 runs of the concurrent transfers
    test: a transaction replacing a document whose unique field it left unchanged, while
    another transaction wrote the same document, fails with E11000 (a duplicate of the
    document's own value) where MongoDB reports a WriteConflict (code 112, labelled
    TransientTransactionError). ommi rightly reports a duplicate key as an
    ``IntegrityError``; a test that retries conflicts retries this one too, here only.
    """
    return url.startswith("mongodb") and not os.environ.get("OMMI_TEST_MONGODB_URL")


def known_warnings() -> list[tuple[str, type[Warning]]]:
    """Warnings from a known defect of the database library, ignored while the tests run.

    PyMongo 4.20 does not close the socket of a connection it is opening when the
    task is cancelled meanwhile (upstream PYTHON-5867); Python closes it when it is
    collected, with a ``ResourceWarning``. The cancellation tests cancel tasks at
    every point, so they meet it. The filter matches only sockets to the servers
    the tests use, which only PyMongo opens; docs/backends/mongodb.md says so.
    Applied by the repository's root conftest.py, in every test directory: a
    socket may be collected during a later test.
    """
    return [(rf"unclosed <socket\.socket .*raddr=\('[^']*', {port}\)>", ResourceWarning) for port in _ports]


@contextlib.contextmanager
def server() -> Iterator[str]:
    if os.environ.get("OMMI_TEST_MONGODB_URL"):
        url = os.environ["OMMI_TEST_MONGODB_URL"]
        _ports.append(urlsplit(url).port or 27017)
        yield url
        return
    try:
        from secantus import SecantusDBServer
    except ImportError as exc:
        raise RuntimeError(
            "the MongoDB tests need a server: install the test dependency secantusdb==0.7.0b3 "
            "or set OMMI_TEST_MONGODB_URL"
        ) from exc
    storage = tempfile.mkdtemp(prefix="ommi-test-mongodb-")
    srv = SecantusDBServer(host="127.0.0.1", port=0, storage_path=storage)
    try:
        srv.start()
    except Exception as exc:
        shutil.rmtree(storage, ignore_errors=True)
        raise RuntimeError(f"cannot start the secantusdb test server: {exc}") from exc
    try:
        url = srv.uri.rstrip("/") + "/" + DATABASE
        _ports.append(urlsplit(url).port or 27017)
        yield url
    finally:
        srv.stop()
        shutil.rmtree(storage, ignore_errors=True)
