"""Contenders: one module per library, each defining one :class:`~bench.contenders.base.Contender`.

A module is imported only when its contender runs, so a missing optional
library only matters for the contenders that need it.
"""

from __future__ import annotations

import importlib

from bench.contenders.base import Contender

# label -> "module:Class"; the order is the column order of the report.
REGISTRY: dict[str, str] = {
    "ommi": "bench.contenders.ommi_mapper:OmmiContender",
    "aiosqlite": "bench.contenders.aiosqlite_raw:AiosqliteContender",
    "sqlite3": "bench.contenders.sqlite3_raw:Sqlite3Contender",
    "asyncpg": "bench.contenders.asyncpg_raw:AsyncpgContender",
    "duckdb": "bench.contenders.duckdb_raw:DuckDBContender",
    "duckdb-thread": "bench.contenders.duckdb_thread:DuckDBThreadContender",
    "pymongo": "bench.contenders.pymongo_raw:PymongoContender",
    "pymongo-keys": "bench.contenders.pymongo_keys:PymongoKeysContender",
    "pymongo-keys-retryable": "bench.contenders.pymongo_keys:PymongoRetryableKeysContender",
    "asyncmy": "bench.contenders.asyncmy_raw:AsyncmyContender",
    "SQLAlchemy": "bench.contenders.sqlalchemy_orm:SQLAlchemyContender",
    "Tortoise": "bench.contenders.tortoise_orm:TortoiseContender",
}

# Run only when named in --contenders: they answer one question, not the standard comparison.
OPT_IN = frozenset({"pymongo-keys", "pymongo-keys-retryable"})


def load(name: str) -> type[Contender]:
    """The contender class registered under ``name``."""
    module, _, attr = REGISTRY[name].partition(":")
    cls: type[Contender] = getattr(importlib.import_module(module), attr)
    return cls
