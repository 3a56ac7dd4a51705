"""ommi's MongoDB driver: ``mongodb://user:password@host:27017/database`` and ``mongodb+srv://...``.

Built on PyMongo's native asyncio client (the ``mongodb`` extra: ``pip install -e '.[mongodb]'``
in the ommi checkout).
See docs/backends/mongodb.md for the storage layout and what differs from SQL.
"""

from ._compiler import MongoCompiler, like_to_regex
from ._driver import COUNTERS, MongoDBDriver

__all__ = ["COUNTERS", "MongoCompiler", "MongoDBDriver", "like_to_regex"]
