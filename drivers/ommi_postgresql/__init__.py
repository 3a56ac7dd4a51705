"""ommi's PostgreSQL driver: ``postgresql://user:password@host:port/database?min_size=1&max_size=10``.

Built on asyncpg (``pip install 'ommi[postgresql]'``); registered for the
``postgresql`` and ``postgres`` URL schemes.
"""

from ._compiler import PostgreSQLDialect
from ._driver import PostgreSQLDriver

__all__ = ["PostgreSQLDialect", "PostgreSQLDriver"]
