"""ommi's SQLite driver: ``sqlite://`` (memory), ``sqlite:///relative.db``, ``sqlite:////absolute.db``."""

from ._compiler import SQLiteDialect
from ._driver import SQLiteDriver

__all__ = ["SQLiteDialect", "SQLiteDriver"]
