"""The SQLite dialect of the shared SQL compiler."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, ClassVar

from ommi import errors
from ommi.driver import FieldInfo
from ommi.query import Agg, AggFunc, ArithOp, CaseFunc, Wildcard, like_tokens
from ommi.sql import Codec, Kind, SQLDialect

if TYPE_CHECKING:
    from decimal import Context, Decimal

__all__ = [
    "DECIMAL_COLLATION",
    "EXPRESSION_FUNCTIONS",
    "LIKE_FUNCTION",
    "DecimalAvg",
    "DecimalSum",
    "IntAvg",
    "SQLiteDialect",
    "decimal_collation",
    "like_match",
    "like_to_glob",
]

DECIMAL_COLLATION = "ommi_decimal"


_decimal: tuple[type[Decimal], Context] | None = None


def _decimals() -> tuple[type[Decimal], Context]:
    """``Decimal`` and a context wide enough that no sum of stored decimals rounds.

    Made at first use: every connection registers the decimal functions below,
    and importing ``decimal`` would cost every program about 1 ms of start-up.
    """
    global _decimal  # noqa: PLW0603 - set once
    if _decimal is None:
        import decimal

        _decimal = (decimal.Decimal, decimal.Context(prec=200))
    return _decimal


def decimal_collation(a: str, b: str) -> int:
    """Order decimal text numerically (SQLite has no decimal type; ommi stores exact text)."""
    dec = (_decimal or _decimals())[0]
    x, y = dec(a), dec(b)
    return -1 if x < y else (1 if x > y else 0)



def _uuid(text: str) -> Any:
    import uuid  # on first use: importing it at start-up costs every program a few milliseconds

    return uuid.UUID(text)

class DecimalSum:
    """SQLite aggregate: the exact sum of decimal text (SQLite's SUM would use floats)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            dec, exact = _decimal or _decimals()
            self.total = dec(value) if self.total is None else exact.add(self.total, dec(value))

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


class DecimalAvg(DecimalSum):
    """SQLite aggregate: the exact mean of decimal text."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def step(self, value: str | None) -> None:
        if value is not None:
            self.n += 1
        super().step(value)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total / self.n)


class IntAvg:
    """SQLite aggregate: the mean of integers from their exact sum (SQLite's AVG adds floats)."""

    def __init__(self) -> None:
        self.total = 0
        self.n = 0

    def step(self, value: int | None) -> None:
        if value is not None:
            self.total += value
            self.n += 1

    def finalize(self) -> float | None:
        return self.total / self.n if self.n else None


LIKE_FUNCTION = "ommi_like"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
OVERFLOW = "ommi: integer overflow"


def _int_result(value: int) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        # SQLite's own integer arithmetic would silently turn the result into a float
        raise ValueError(OVERFLOW)  # sqlite3 would report an OverflowError as "string or blob too big"
    return value


def _int_op(fn: Any) -> Any:
    def run(a: int | None, b: int | None) -> int | None:
        if a is None or b is None:
            return None
        return _int_result(fn(a, b))

    return run


def _int_neg(a: int | None) -> int | None:
    return None if a is None else _int_result(-a)


def _dec_op(name: str) -> Any:
    # Decimal text (or an int) in, exact decimal text out: SQLite's arithmetic would use floats
    dec: Any = None  # Decimal and the exact context's method, taken at the first call
    op: Any = None

    def run(a: Any, b: Any) -> str | None:
        nonlocal dec, op
        if a is None or b is None:
            return None
        if op is None:
            dec, exact = _decimals()
            op = getattr(exact, name)
        return str(op(dec(str(a)), dec(str(b))))

    return run


def _dec_neg(a: Any) -> str | None:
    if a is None:
        return None
    dec, exact = _decimal or _decimals()
    return str(exact.minus(dec(str(a))))


def _case(fn: Any) -> Any:
    # Python's Unicode case mapping, the same as the memory driver's (SQLite's own is ASCII-only)
    def run(a: str | None) -> str | None:
        return None if a is None else fn(a)

    return run


EXPRESSION_FUNCTIONS: tuple[tuple[str, int, Any], ...] = (
    ("ommi_iadd", 2, _int_op(lambda a, b: a + b)),
    ("ommi_isub", 2, _int_op(lambda a, b: a - b)),
    ("ommi_imul", 2, _int_op(lambda a, b: a * b)),
    ("ommi_ineg", 1, _int_neg),
    ("ommi_dadd", 2, _dec_op("add")),
    ("ommi_dsub", 2, _dec_op("subtract")),
    ("ommi_dmul", 2, _dec_op("multiply")),
    ("ommi_dneg", 1, _dec_neg),
    ("ommi_lower", 1, _case(str.lower)),
    ("ommi_upper", 1, _case(str.upper)),
)
"""Functions every SQLite connection registers: checked 64-bit and exact Decimal arithmetic, case mapping."""

_ARITH_NAMES = {ArithOp.ADD: "add", ArithOp.SUB: "sub", ArithOp.MUL: "mul"}


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = [
        ".*" if t is Wildcard.ANY else "." if t is Wildcard.ONE else re.escape(t)
        for t in like_tokens(pattern)
    ]
    return re.compile("".join(parts), re.DOTALL)


def like_match(value: str | None, pattern: str | None) -> int | None:
    """SQLite function: ommi's like (``%``, ``_``, ``\\`` escapes, case-sensitive) on any text."""
    if value is None or pattern is None:
        return None
    return 1 if _like_regex(pattern).fullmatch(value) else 0


def like_to_glob(pattern: str) -> str:
    """Translate a like pattern to a GLOB pattern.

    SQLite's LIKE ignores case for ASCII letters; GLOB is case-sensitive and
    compares code points, which is ommi's rule. GLOB's own wildcards become
    one-character classes so they match literally.
    """
    return "".join(
        "*" if t is Wildcard.ANY else "?" if t is Wildcard.ONE else "".join(map(_glob_literal, t))
        for t in like_tokens(pattern)
    )


def _after_prefix(prefix: str) -> str | None:
    """The least text above every text that starts with ``prefix`` (``None``: there is none)."""
    top = prefix.rstrip("\U0010ffff")
    if not top:
        return None
    code = ord(top[-1]) + 1
    if code == 0xD800:  # surrogates are not text: the next character is U+E000
        code = 0xE000
    return top[:-1] + chr(code)


def _glob_literal(ch: str) -> str:
    return f"[{ch}]" if ch in "*?[" else ch


def _datetime_text(v: datetime) -> str:
    # Fixed width (always microseconds) so text order is chronological order;
    # aware values are stored as the UTC instant with an explicit +00:00.
    if v.utcoffset() is not None:
        v = v.astimezone(UTC)
    return v.isoformat(sep=" ", timespec="microseconds")


def _time_text(v: time) -> str:
    return v.isoformat(timespec="microseconds")




class SQLiteDialect(SQLDialect):
    """SQLite: dynamic typing, so exact types are kept as text where SQLite has none."""

    name = "sqlite"
    paramstyle = "qmark"
    # Backticks, not double quotes: SQLite reads a double-quoted name it cannot resolve as a
    # string literal (a column missing from an old table would read back as its own name,
    # and WHERE "status" = 'status' would match every row). A backticked name is always a name.
    identifier_quote = "`"
    returning = False  # the last row id is cheaper than a RETURNING row
    begin_sql = "BEGIN IMMEDIATE"  # take the write lock now: no deadlock upgrading a read lock later
    begin_read_sql = "BEGIN"  # a read snapshot (WAL) for a stream
    encoders: ClassVar[Mapping[Kind, Codec]] = {
        **SQLDialect.encoders,
        Kind.DECIMAL: str,
        Kind.DATETIME: _datetime_text,
        Kind.DATE: date.isoformat,
        Kind.TIME: _time_text,
        Kind.UUID: str,
    }
    decoders: ClassVar[Mapping[Kind, Codec]] = {
        **SQLDialect.decoders,
        Kind.BOOL: bool,
        Kind.DATETIME: datetime.fromisoformat,
        Kind.DATE: date.fromisoformat,
        Kind.TIME: time.fromisoformat,
        Kind.UUID: _uuid,
    }
    types: ClassVar[Mapping[Kind, str]] = {
        Kind.STR: "TEXT",
        Kind.INT: "INTEGER",
        Kind.FLOAT: "REAL",
        Kind.BOOL: "INTEGER",
        Kind.BYTES: "BLOB",
        Kind.DECIMAL: "TEXT",
        Kind.DATETIME: "TEXT",
        Kind.DATE: "TEXT",
        Kind.TIME: "TEXT",
        Kind.UUID: "TEXT",
        Kind.JSON: "TEXT",
    }
    aware_datetime_type = "TEXT"
    null_safe_ne = "IS NOT"
    explicit_nulls_order = False  # SQLite already sorts NULL first ascending, last descending
    offset_without_limit = "LIMIT -1"

    def decoder(self, f: FieldInfo) -> Codec:
        if f.kind is Kind.DECIMAL:  # exact text -> Decimal, the class looked up when a plan is made
            return _decimals()[0]
        return super().decoder(f)

    def key_column(self, f: FieldInfo, single: bool) -> str:
        if single and f.kind is Kind.INT:
            # exactly "INTEGER PRIMARY KEY" makes the column the rowid: generated keys
            return f"{self.quote(f.column)} INTEGER PRIMARY KEY"
        return super().key_column(f, single)

    def compare_column(self, f: FieldInfo, column_sql: str) -> str:
        if f.kind is Kind.DECIMAL:
            return f"{column_sql} COLLATE {DECIMAL_COLLATION}"
        return column_sql

    def like_form(self, pattern: str) -> str:
        # "abc%": a range of text, which SQLite compares byte by byte (UTF-8 order is code
        # point order, NUL characters included), with no function called per row
        tokens = like_tokens(pattern)
        if len(tokens) == 2 and isinstance(tokens[0], str) and tokens[1] is Wildcard.ANY:
            return "prefix" if _after_prefix(tokens[0]) is not None else "prefix_open"
        return ""

    def like(self, column_sql: str, placeholder: str, negate: bool, form: str = "") -> str:
        if form:
            test = f"{column_sql} >= {placeholder}"
            if form == "prefix":
                test = f"({test} AND {column_sql} < {placeholder})"
            return f"NOT {test}" if negate else test
        # GLOB is fast and case-sensitive but stops at a NUL character: text
        # holding one (in the value or the pattern) is matched in Python.
        test = (
            f"CASE WHEN instr({column_sql}, char(0)) > 0 OR instr({placeholder}, char(0)) > 0 "
            f"THEN {LIKE_FUNCTION}({column_sql}, {placeholder}) ELSE {column_sql} GLOB {placeholder} END"
        )
        return f"NOT ({test})" if negate else test

    # no ALTER COLUMN, and DROP COLUMN refuses unique, key and referenced columns: migrations
    # rebuild the table, with foreign keys checked at the commit
    rebuild_changes = frozenset({"drop_column", "retype_column", "change_nullability", "drop_unique"})
    rebuild_prelude = ("PRAGMA defer_foreign_keys = ON",)

    def retype_column(self, table: str, column: str, type_sql: str) -> list[str]:
        raise errors.UnsupportedError(
            f"SQLite cannot change the type of {table}.{column} in place (it would rebuild the table); "
            "copy the data into a new model's table instead"
        )

    def set_nullable(self, table: str, column: str, nullable: bool) -> list[str]:
        raise errors.UnsupportedError(
            f"SQLite cannot change whether {table}.{column} allows NULL in place (it would rebuild the table)"
        )

    def aggregate_sql(self, agg: Agg, column_sql: str | None) -> str:
        if agg.field is not None and column_sql is not None and agg.field.info.kind is Kind.INT and (
            agg.func is AggFunc.AVG
        ):
            return f"ommi_iavg({column_sql})"
        if agg.field is not None and column_sql is not None and agg.field.info.kind is Kind.DECIMAL:
            if agg.func is AggFunc.COUNT_DISTINCT:
                return f"COUNT(DISTINCT {column_sql} COLLATE {DECIMAL_COLLATION})"
            if agg.func is AggFunc.SUM:
                return f"ommi_dsum({column_sql})"
            if agg.func is AggFunc.AVG:
                return f"ommi_davg({column_sql})"
            if agg.func in (AggFunc.MIN, AggFunc.MAX):
                return f"{agg.func.value.upper()}({column_sql} COLLATE {DECIMAL_COLLATION})"
        return super().aggregate_sql(agg, column_sql)

    def like_param(self, pattern: str, form: str = "") -> Any:
        if form:
            prefix = like_tokens(pattern)[0]
            assert isinstance(prefix, str)
            after = _after_prefix(prefix)
            return (prefix,) if after is None else (prefix, after)
        return (pattern, pattern, like_to_glob(pattern))

    def arith_sql(self, op: ArithOp, kind: Kind, left: str, right: str) -> str:
        if kind is Kind.INT:
            return f"ommi_i{_ARITH_NAMES[op]}({left}, {right})"
        if kind is Kind.DECIMAL:
            return f"ommi_d{_ARITH_NAMES[op]}({left}, {right})"
        return super().arith_sql(op, kind, left, right)

    def neg_sql(self, kind: Kind, item: str) -> str:
        if kind is Kind.INT:
            return f"ommi_ineg({item})"
        if kind is Kind.DECIMAL:
            return f"ommi_dneg({item})"
        return super().neg_sql(kind, item)

    def case_sql(self, func: CaseFunc, item: str) -> str:
        return f"ommi_{func.value}({item})"

    def compare_expression(self, kind: Kind, sql: str) -> str:
        if kind is Kind.DECIMAL:
            return f"{sql} COLLATE {DECIMAL_COLLATION}"
        return sql

    def arithmetic_overflow(self, exc: BaseException) -> bool:
        import sqlite3

        # a function of EXPRESSION_FUNCTIONS raised (sqlite3 keeps only this text)
        return isinstance(exc, sqlite3.OperationalError) and "user-defined function raised exception" in str(exc)
