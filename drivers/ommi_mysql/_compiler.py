"""The MySQL/MariaDB dialect of the shared SQL compiler."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from ommi import errors
from ommi.driver import FieldInfo
from ommi.query import Agg, AggFunc, like_pattern, like_tokens
from ommi.sql import Codec, Kind, SQLDialect, fixed_decimal

__all__ = ["INDEX_BYTES", "TEXT_COLLATION", "MySQLDialect"]

TEXT_COLLATION = "utf8mb4_nopad_bin"
"""The collation of every text column: exact equality (no PAD SPACE, case- and accent-sensitive)
and code-point order, as on every ommi backend. (``utf8mb4_bin`` pads: ``'a' = 'a '`` and
``'a\\x00'`` sorts before ``'a'``; the server's default ``utf8mb4_general_ci`` also folds case.)"""
INDEX_BYTES = 3072
"""InnoDB index keys hold at most 3072 bytes: 768 four-byte characters. Text that is a key,
unique, indexed or a reference is ``VARCHAR(768)`` (bytes ``VARBINARY(3072)``) so that its
index is a real B-tree index (longer ``TEXT`` gets a prefix index, or a hash for UNIQUE that
keys and foreign keys cannot use)."""
DECIMAL_PRECISION = 65  # MariaDB's widest DECIMAL
DECIMAL_SCALE = 30
# 35 digits before the point and 30 after: every portable ommi Decimal (28 and 10)
_decimal_in, _decimal_out = fixed_decimal("MySQL", DECIMAL_PRECISION, DECIMAL_SCALE)


def _variable(f: FieldInfo) -> bool:
    kind = f.kind
    if kind is Kind.ENUM:
        kind = Kind.STR if isinstance(next(iter(f.py_type)).value, str) else Kind.INT
    return kind in (Kind.STR, Kind.BYTES)


def _index_share(f: FieldInfo) -> int:
    """The bytes of the 3072-byte index key budget a text or bytes column may fill.

    A column indexed alone has all of it (768 characters); the text and bytes
    columns of a composite key share what the other key columns (at most 32
    bytes each) leave.
    """
    keys = f.model.key
    if not f.key or len(keys) == 1:
        return INDEX_BYTES
    variable = sum(1 for k in keys if _variable(k))
    return (INDEX_BYTES - 32 * (len(keys) - variable)) // variable


def _float_in(v: float) -> float:
    # DOUBLE has no infinity (asyncmy would even write -inf as the column name "-infe0")
    if math.isinf(v):
        raise errors.ValidationError(
            f"MySQL cannot store the float {v!r}: DOUBLE columns hold finite numbers only "
            "(see the infinite_floats capability)"
        )
    return v


def _aware_in(v: datetime) -> datetime:
    # asyncmy sends an aware datetime's wall clock and drops its offset, and TIMESTAMP
    # only spans 1970-2038: store the instant as a naive UTC DATETIME(6)
    try:
        return v.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:
        raise errors.ValidationError(f"{v} is outside the years 1-9999 in UTC, which MySQL stores") from exc


def _aware_out(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC)


def _time_out(v: timedelta | time) -> time:
    # TIME columns come back as timedelta (TIME is also a duration type in MySQL)
    return v if isinstance(v, time) else (datetime.min + v).time()


def _uuid_out(v: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(v))


def _uuid_in(v: uuid.UUID) -> bytes:
    # BINARY(16): MariaDB's own UUID type rejects some 128-bit values and does not sort by bytes
    return v.bytes


class MySQLDialect(SQLDialect):
    """MariaDB: binary ``nopad`` text, ``DATETIME(6)`` for both datetimes, ``BINARY(16)`` UUIDs.

    Statements go as text with client-side escaping (asyncmy's ``%s``
    placeholders), so a ``%`` in an identifier is written ``%%``.
    """

    name = "mysql"
    paramstyle = "format"
    identifier_quote = "`"
    # session isolation is SERIALIZABLE (see the driver's INIT_COMMAND): reads in a
    # transaction lock what they read, so read-modify-write cannot lose an update
    begin_sql = "START TRANSACTION"
    default_values = "() VALUES ()"
    # a stream outside a transaction reads a snapshot and takes no locks; the adapter
    # runs the two statements in turn
    begin_read_sql = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; START TRANSACTION"
    # a failed statement is undone alone; a deadlock ends the transaction (TransactionError)
    failed_statement_aborts_transaction = False
    references_checked_per_row = True  # InnoDB
    # an unbuffered result must be read to its end before the connection runs anything else
    cursors_see_later_writes = True
    returning = False  # one generated key comes back as the insert id; batches use RETURNING
    explicit_nulls_order = False  # NULLS FIRST/LAST is a syntax error; NULL sorts first ascending
    nulls_first_by_default = True
    offset_without_limit = "LIMIT 18446744073709551615"  # OFFSET needs a LIMIT
    max_identifier_bytes = 64
    encoders: ClassVar[Mapping[Kind, Codec]] = {
        **SQLDialect.encoders,
        Kind.FLOAT: _float_in,
        Kind.DECIMAL: _decimal_in,
        Kind.UUID: _uuid_in,
    }
    decoders: ClassVar[Mapping[Kind, Codec]] = {
        **SQLDialect.decoders,
        Kind.BOOL: bool,  # BOOLEAN is TINYINT(1)
        Kind.DECIMAL: _decimal_out,
        Kind.TIME: _time_out,
        Kind.UUID: _uuid_out,
    }
    types: ClassVar[Mapping[Kind, str]] = {
        Kind.STR: f"LONGTEXT COLLATE {TEXT_COLLATION}",
        Kind.INT: "BIGINT",
        Kind.FLOAT: "DOUBLE",
        Kind.BOOL: "BOOLEAN",
        Kind.BYTES: "LONGBLOB",
        Kind.DECIMAL: f"DECIMAL({DECIMAL_PRECISION},{DECIMAL_SCALE})",
        Kind.DATETIME: "DATETIME(6)",
        Kind.DATE: "DATE",
        Kind.TIME: "TIME(6)",
        Kind.UUID: "BINARY(16)",
        Kind.JSON: "JSON",  # MariaDB: LONGTEXT with a json_valid() check, stored as written
    }
    aware_datetime_type = "DATETIME(6)"
    type_aliases: ClassVar[dict[str, str]] = {"BIGINT(20)": "BIGINT", "TINYINT(1)": "BOOLEAN"}

    def quote(self, name: str) -> str:
        # "%" is doubled: the text is %-formatted by the client even when no value is bound
        return "`" + name.replace("`", "``").replace("%", "%%") + "`"

    def column_type(self, f: FieldInfo) -> str:
        if f.key or f.unique or f.index or f.reference is not None:
            kind = self._enum_kind(f) if f.kind is Kind.ENUM else f.kind
            if kind is Kind.STR:
                return f"VARCHAR({_index_share(f) // 4}) COLLATE {TEXT_COLLATION}"
            if kind is Kind.BYTES:
                return f"VARBINARY({_index_share(f)})"
        return super().column_type(f)

    def key_column(self, f: FieldInfo, single: bool) -> str:
        if f.auto:
            column = f"{self.quote(f.column)} BIGINT NOT NULL AUTO_INCREMENT"
            return column + " PRIMARY KEY" if single else column
        return super().key_column(f, single)

    def encoder(self, f: FieldInfo) -> Codec:
        if f.kind is Kind.DATETIME and f.aware:
            return _aware_in
        return super().encoder(f)

    def decoder(self, f: FieldInfo) -> Codec:
        if f.kind is Kind.DATETIME and f.aware:
            return _aware_out
        return super().decoder(f)

    def arithmetic_overflow(self, exc: BaseException) -> bool:
        args = exc.args
        # 1690: "BIGINT value is out of range" (or DECIMAL); a DOUBLE out of range stays a ValidationError
        return bool(args) and args[0] == 1690 and ("BIGINT" in str(args[-1]) or "DECIMAL" in str(args[-1]))

    def upsert_clause(self, conflict: Sequence[str], updated: Sequence[str], key: Sequence[str], auto: bool) -> str:
        # MariaDB takes the update path on a clash with *any* key or unique index. Only a
        # clash on the conflict columns may update: any other evaluates a subquery of two
        # rows, which fails (1242, see upsert_clash) as the plain insert would have. (NULL
        # would not do: MariaDB stores 0 for it here.) With SIMULTANEOUS_ASSIGNMENT every
        # column reads the stored row as it was. LAST_INSERT_ID(key) makes the insert id the
        # stored row's key on the update path too.
        same = " AND ".join(f"{c} <=> VALUES({c})" for c in conflict)
        k = key[0]
        kept = f"LAST_INSERT_ID({k})" if auto and len(key) == 1 else k
        sets = [f"{k} = IF({same}, {kept}, (SELECT 1 UNION SELECT 2))"]
        sets += [f"{c} = VALUES({c})" for c in updated if c != k]
        return " ON DUPLICATE KEY UPDATE " + ", ".join(sets)

    upsert_returns_key = False

    def upsert_clash(self, exc: BaseException) -> bool:
        return bool(exc.args) and exc.args[0] == 1242  # the subquery upsert_clause evaluates on a foreign clash

    def null_safe_not_equal(self, column_sql: str, placeholder: str) -> str:
        # MySQL has no IS DISTINCT FROM; <=> is the null-safe equality
        return f"NOT ({column_sql} <=> {placeholder})"

    def like(self, column_sql: str, placeholder: str, negate: bool, form: str = "") -> str:
        # backslash escapes inside MySQL string literals: '\\' is one backslash. The
        # column's binary collation makes LIKE case-sensitive, and LIKE never pads.
        return f"{column_sql} {'NOT LIKE' if negate else 'LIKE'} {placeholder} ESCAPE '\\\\'"

    def like_param(self, pattern: str, form: str = "") -> Any:
        # a pattern ending in a lone backslash matches nothing in MySQL; ommi reads that
        # backslash as a literal: render the tokens back, escaping it
        return like_pattern(like_tokens(pattern))

    def aggregate_sql(self, agg: Agg, column_sql: str | None) -> str:
        sql = super().aggregate_sql(agg, column_sql)
        if agg.func in (AggFunc.SUM, AggFunc.AVG) and agg.field is not None and agg.field.info.kind is Kind.FLOAT:
            # MariaDB returns 0 for a DOUBLE sum that overflowed; "* 1" turns that infinity
            # into an out-of-range error (1690, a ValidationError) instead, as on PostgreSQL
            return f"({sql} * 1)"
        return sql

    def aggregate_decoder(self, agg: Agg) -> Codec:
        if agg.func is AggFunc.SUM and agg.field is not None and agg.field.info.kind is Kind.DECIMAL:
            return _decimal_out  # exact, padded to the scale like the column
        return super().aggregate_decoder(agg)

    def set_nullable(self, table: str, column: str, nullable: bool) -> list[str]:
        # MySQL restates the whole column (MODIFY COLUMN, with its type): the driver's
        # change_statements does it; a column added NOT NULL gets a constant default, then the value
        raise errors.UnsupportedError(f"MySQL changes whether {table}.{column} allows NULL with MODIFY COLUMN")

    def retype_column(self, table: str, column: str, type_sql: str) -> list[str]:
        raise errors.UnsupportedError(f"MySQL retypes {table}.{column} with MODIFY COLUMN")

    def primary_key_name(self, table: str) -> str | None:
        return "PRIMARY"  # every MySQL primary key has this name

    def drop_index(self, table: str, name: str, if_exists: bool = True) -> str:
        # an index belongs to its table in MySQL
        return f"DROP INDEX {'IF EXISTS ' if if_exists else ''}{name} ON {table}"

    def rename_index(self, table: str, old: str, new: str, column: str, unique: bool) -> list[str]:
        return [f"ALTER TABLE {table} RENAME INDEX {old} TO {new}"]

    def literal(self, f: FieldInfo, value: Any) -> str:
        # a column default in ADD COLUMN: backslashes escape in MySQL string literals,
        # "%" is doubled as in quote(), bytes (UUIDs) are hex literals
        enc = self.encoder(f)
        stored = enc(value) if enc is not None else value
        if isinstance(stored, bool):
            return "TRUE" if stored else "FALSE"
        if isinstance(stored, Decimal):
            return format(stored, "f")
        if isinstance(stored, (int, float)):
            return repr(stored)
        if isinstance(stored, bytes):
            return "X'" + stored.hex() + "'"
        if isinstance(stored, datetime):
            stored = stored.isoformat(sep=" ")
        elif isinstance(stored, (date, time)):
            stored = stored.isoformat()
        text = str(stored).replace("\\", "\\\\").replace("'", "''").replace("%", "%%")
        return "'" + text + "'"
