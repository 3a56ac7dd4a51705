"""The interface every contender implements.

A contender is one library doing the standard workload on one or more
backends. The runner creates one instance per backend and repetition, calls
``setup()`` (an empty ``person`` table in a database of its own), then, for
each workload letter, the untimed ``prepare(letter)`` and the timed workload
method named in :data:`bench.workload.WORKLOADS`, and finally ``teardown()``.

A contender skips a workload by not defining its method. Workload methods:

* ``insert_each(rows)`` (A), ``bulk_insert(rows)`` (B): ``rows`` are
  ``(name, age, email)`` tuples; A returns the generated keys (or ``None``).
* ``fetch_all()`` (C), ``lookups(keys)`` (D), ``filtered()`` (E): lists of
  objects with ``id``, ``name``, ``age`` and ``email`` attributes.
* ``update_set()`` (F), ``load_modify_save()`` (G), ``delete_set()`` (H),
  ``count_filtered()`` (I): an int (rows changed / saved / deleted / counted).
* ``stream()`` (J): ``(rows seen, sum of ages)``; run in a fresh process
  against a pre-filled table by :mod:`bench.stream`, after ``connect()``.
* ``aggregate()`` (K): a list of mappings with ``age``, ``n`` and ``total``.

The predicates are in :mod:`bench.workload`. F and H are timed several times per
repetition: for each round the runner sets ``f_email`` (the value F writes) and
``h_ages`` (the band of ages H deletes), so every round does the same amount of work.
"""

from __future__ import annotations

from importlib import metadata
from typing import ClassVar

from bench import workload as w


class Contender:
    """Base class: subclasses set the class attributes and the workload methods."""

    name: ClassVar[str]
    """The label in tables and charts."""
    backends: ClassVar[frozenset[str]]
    """The backends this contender runs on."""
    packages: ClassVar[tuple[str, ...]]
    """Distributions whose versions the report lists."""
    raw: ClassVar[frozenset[str]] = frozenset()
    """Backends on which this contender is the raw-driver baseline."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url  # an ommi-style URL; each contender derives its own form
        # what F writes and which ages H deletes: the runner moves them on for each timed round
        self.f_email = w.f_email(0)
        self.h_ages = w.h_ages(0)

    @classmethod
    def versions(cls) -> dict[str, str]:
        found = {}
        for package in cls.packages:
            try:
                found[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                found[package] = "not installed"
        return found

    async def connect(self) -> None:
        """Open connections; no schema work (the stream process calls only this)."""
        raise NotImplementedError

    async def setup(self) -> None:
        """Connect and create an empty ``person`` table."""
        await self.connect()
        await self.recreate()

    async def recreate(self) -> None:
        """Drop and create the ``person`` table, so generated keys start again at 1."""
        raise NotImplementedError

    async def keys(self) -> list[int]:
        """Every key in the table (untimed; D looks some of them up)."""
        raise NotImplementedError

    async def prepare(self, letter: str) -> None:
        """Untimed work before a workload: B starts from an empty table."""
        if letter == "B":
            await self.recreate()

    async def teardown(self) -> None:
        """Close everything ``setup()`` opened."""
        raise NotImplementedError


def sqlite_path(url: str) -> str:
    """The file of an ommi ``sqlite:///...`` URL (``sqlite:////abs.db`` is ``/abs.db``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a SQLite file URL: {url}")
    return url[len(prefix) :]
