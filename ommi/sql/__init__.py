"""The SQL driver kit: the shared compiler, dialects, and the SQL driver base.

Public for driver authors. A SQL driver is three small pieces on top of this
package:

* a :class:`SQLDialect` subclass: the database's differences as tables
  (types, codecs, placeholders, transaction syntax, feature flags) plus a few
  hooks;
* a connection adapter (:class:`Connection` for a blocking library,
  :class:`AsyncConnection` for an asyncio one): execute, executemany, fetch,
  cursors;
* a :class:`BlockingSQLDriver` or :class:`AsyncSQLDriver` subclass naming
  them, its native error table and options, and any fast paths.

:class:`SQLCompiler` turns statement nodes from :mod:`ommi.query` into SQL
text plus bound parameters for any dialect; :class:`SQLDriver` owns the
statements, transactions (savepoints, the aborted state), streams,
statement logging and error translation.
"""

from ommi._fields import Kind
from ommi.sql import commands
from ommi.sql._compiler import ModelPlan, SQLCompiler, render_statement
from ommi.sql._connection import AsyncConnection, Command, Connection, Op
from ommi.sql._dialect import ArrayEncoder, Codec, SQLDialect, fixed_decimal
from ommi.sql._driver import AsyncSQLDriver, BlockingSQLDriver, IntegrityDetails, Link, SQLDriver, SQLTransaction

__all__ = [
    "ArrayEncoder",
    "AsyncConnection",
    "AsyncSQLDriver",
    "BlockingSQLDriver",
    "Codec",
    "Command",
    "Connection",
    "IntegrityDetails",
    "Kind",
    "Link",
    "ModelPlan",
    "Op",
    "SQLCompiler",
    "SQLDialect",
    "SQLDriver",
    "SQLTransaction",
    "commands",
    "fixed_decimal",
    "render_statement",
]
