"""ommi's DuckDB driver: ``duckdb://`` (memory), ``duckdb:///relative.duckdb``, ``duckdb:////absolute.duckdb``."""

from ._compiler import DuckDBDialect
from ._driver import DuckDBDriver

__all__ = ["DuckDBDialect", "DuckDBDriver"]
