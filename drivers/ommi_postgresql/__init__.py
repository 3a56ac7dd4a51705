"""ommi's PostgreSQL driver: ``postgresql://user:password@host:port/database?min_size=1&max_size=10``.

Built on asyncpg (the ``postgresql`` extra: ``pip install -e '.[postgresql]'`` in the
ommi checkout); registered for the ``postgresql`` and ``postgres`` URL schemes.
"""

from ._compiler import PostgreSQLDialect
from ._driver import PostgreSQLDriver

__all__ = ["PostgreSQLDialect", "PostgreSQLDriver"]
