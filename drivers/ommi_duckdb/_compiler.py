"""The DuckDB dialect of the shared SQL compiler."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import duckdb

from ommi.driver import FieldInfo
from ommi.query import Agg, AggFunc, ArithOp, like_pattern, like_tokens
from ommi.sql import Codec, Kind, SQLDialect, fixed_decimal

__all__ = ["DECIMAL_SCALE", "DECIMAL_TYPE", "DuckDBDialect", "sequence_name"]

DECIMAL_PRECISION = 38  # DuckDB's widest DECIMAL
DECIMAL_SCALE = 10
DECIMAL_TYPE = f"DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})"


def sequence_name(table: str) -> str:
    """The sequence that generates a table's ``Auto`` keys."""
    return f"ommi_seq_{table}"


def sequence_literal(table: str) -> str:
    """The SQL string naming a table's sequence, for ``nextval(...)``.

    DuckDB parses the string as a (possibly qualified) name, so the name is
    quoted inside it: a table name with a dot or a space stays one name.
    """
    quoted = '"' + sequence_name(table).replace('"', '""') + '"'
    return "'" + quoted.replace("'", "''") + "'"


# DECIMAL(38, 10) would round extra fraction digits silently: the encoder refuses
# them, so that what is read back always equals what was stored; DuckDB pads to
# the column's scale (1.5000000000) and the decoder returns the plain value (1.5).
_decimal_in, _decimal_out = fixed_decimal("DuckDB", DECIMAL_PRECISION, DECIMAL_SCALE)


def _aware_out(v: datetime) -> datetime:
    # selected through timezone('UTC', col): the naive UTC wall clock of the instant
    return v.replace(tzinfo=UTC)




class DuckDBDialect(SQLDialect):
    """DuckDB: native types for every kind; the shared compiler's defaults fit it otherwise.

    Differences from the base table: ``DECIMAL(38, 10)`` (DuckDB's widest
    decimal), ``TIMESTAMPTZ`` read back through ``timezone('UTC', ...)``
    (fetching TIMESTAMPTZ directly needs pytz), ``Auto`` keys drawn from a
    per-table sequence, no ``FOREIGN KEY`` constraints, and like patterns that
    may end in a backslash.
    """

    name = "duckdb"
    paramstyle = "qmark"
    begin_sql = "BEGIN TRANSACTION"
    begin_read_sql = "BEGIN TRANSACTION"
    savepoints = False
    failed_statement_aborts_transaction = True
    # one statement for any save() of several rows: DuckDB converts a list parameter in one
    # step, while one UPDATE a row pays its per-statement cost on each
    save_set_from = 2
    encoders: ClassVar[Mapping[Kind, Codec]] = {**SQLDialect.encoders, Kind.DECIMAL: _decimal_in}
    decoders: ClassVar[Mapping[Kind, Codec]] = {**SQLDialect.decoders, Kind.DECIMAL: _decimal_out}
    types: ClassVar[Mapping[Kind, str]] = {
        Kind.STR: "VARCHAR",  # DuckDB's default collation is binary: code-point order
        Kind.INT: "BIGINT",
        Kind.FLOAT: "DOUBLE",
        Kind.BOOL: "BOOLEAN",
        Kind.BYTES: "BLOB",
        Kind.DECIMAL: DECIMAL_TYPE,
        Kind.DATETIME: "TIMESTAMP",
        Kind.DATE: "DATE",
        Kind.TIME: "TIME",
        Kind.UUID: "UUID",
        Kind.JSON: "JSON",
    }
    aware_datetime_type = "TIMESTAMPTZ"
    type_aliases: ClassVar[dict[str, str]] = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}
    null_safe_ne = "IS DISTINCT FROM"
    explicit_nulls_order = True  # DuckDB sorts NULL last in both directions by default
    offset_without_limit = ""
    # DuckDB's foreign keys reject an UPDATE of any indexed column (unique, index,
    # reference) on a row another row refers to, and a DELETE of rows that refer to
    # each other: save() of a referenced instance and emptying a self-referencing
    # table would fail. ReferenceTo stays a plain column here; see docs/backends/duckdb.md.
    foreign_keys = False
    # "Cannot alter entry ... because there are entries that depend on it": DuckDB alters
    # (renames, retypes, drops columns of) a table only while it has no indexes
    alter_drops_indexes = True
    # and cannot drop or retype a column once an index has covered it in the same transaction,
    # nor add NOT NULL after an UPDATE in it ("Cannot create index with outstanding updates")
    rebuild_changes = frozenset({"drop_column", "retype_column", "change_nullability"})

    def key_column(self, f: FieldInfo, single: bool) -> str:
        if single and f.auto:
            seq = sequence_literal(f.model.name)
            return f"{self.quote(f.column)} {self.column_type(f)} PRIMARY KEY DEFAULT nextval({seq})"
        return super().key_column(f, single)

    def decoder(self, f: FieldInfo) -> Codec:
        if f.kind is Kind.DATETIME and f.aware:
            return _aware_out
        return super().decoder(f)

    def aggregate_sql(self, agg: Agg, column_sql: str | None) -> str:
        sql = super().aggregate_sql(agg, column_sql)
        f = agg.field.info if agg.field is not None else None
        if f is not None and f.kind is Kind.DATETIME and f.aware and agg.func in (AggFunc.MIN, AggFunc.MAX):
            # read like the column itself (see select_column); in HAVING the UTC wall
            # clock compares with bound instants through the session zone, UTC
            return f"timezone('UTC', {sql})"
        return sql

    def aggregate_decoder(self, agg: Agg) -> Codec:
        # SUM of DECIMAL(38, 10) is exact; drop the padding zeros as for stored values.
        # (AVG of a DECIMAL is computed by DuckDB in DOUBLE: see the backend's limits.)
        if agg.func is AggFunc.SUM and agg.field is not None and agg.field.info.kind is Kind.DECIMAL:
            return _decimal_out
        return super().aggregate_decoder(agg)

    def select_column(self, f: FieldInfo, column_sql: str) -> str:
        if f.kind is Kind.DATETIME and f.aware:
            return f"timezone('UTC', {column_sql})"
        return column_sql

    def exact_expression(self, f: FieldInfo, value: Any) -> str | None:
        # DuckDB cannot make a column NOT NULL after an UPDATE in the same transaction
        # ("Cannot create index with outstanding updates"): say the default exactly instead
        if isinstance(value, float):
            return f"CAST('{value!r}' AS DOUBLE)"  # repr: 'inf', '-inf', '-0.0' and every float exactly
        if isinstance(value, str) and f.kind is Kind.STR:
            # DuckDB's parser keeps a NUL inside a quoted literal (a function such as chr(0)
            # would not be constant and hit the same "outstanding updates" refusal)
            return "'" + value.replace("'", "''") + "'"
        return None

    def arith_sql(self, op: ArithOp, kind: Kind, left: str, right: str) -> str:
        if kind is Kind.INT:
            # computed in 128 bits and cast back: the cast refuses a result past 64 bits, and
            # the optimizer cannot move a constant across it (it rewrites "v + 2 > 0" into
            # "v > -2", which would never overflow)
            return f"CAST((CAST({left} AS HUGEINT) {op.value} {right}) AS BIGINT)"
        return super().arith_sql(op, kind, left, right)

    def neg_sql(self, kind: Kind, item: str) -> str:
        if kind is Kind.INT:
            return f"CAST((- CAST({item} AS HUGEINT)) AS BIGINT)"
        return super().neg_sql(kind, item)

    def arithmetic_overflow(self, exc: BaseException) -> bool:
        text = str(exc)
        if isinstance(exc, duckdb.OutOfRangeException):
            return "Overflow" in text
        return isinstance(exc, duckdb.ConversionException) and "INT128" in text and "INT64" in text

    def like_param(self, pattern: str, form: str = "") -> Any:
        # DuckDB rejects a pattern ending in a lone escape character: render the
        # tokens back, so such a backslash is escaped (ommi reads it as a literal)
        return like_pattern(like_tokens(pattern))
