"""The PostgreSQL dialect of the shared SQL compiler."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from ommi.driver import ColumnDecoder, ColumnEncoder, FieldInfo
from ommi.query import Agg, AggFunc, CaseFunc, Wildcard, like_pattern, like_tokens
from ommi.sql import ArrayEncoder, Codec, Kind, SQLDialect

__all__ = ["PostgreSQLDialect", "escape_text", "like_to_regex", "unescape_text"]


def _json_text(v: Any) -> str:
    # asyncpg's jsonb codec takes and returns text; NaN is not JSON, so refuse it here
    text = json.dumps(v, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if "\\u0000" in text or "\\u0001" in text:
        # jsonb cannot hold U+0000 either: store JSON strings with the text code below
        v = _map_strings(v, escape_text)
        text = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    if _has_exponent_float(v):
        text = _positional_json(v)
    return text


def _has_exponent_float(v: Any) -> bool:
    if isinstance(v, float):
        return "e" in repr(v)
    if isinstance(v, dict):
        return any(_has_exponent_float(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_exponent_float(x) for x in v)
    return False


def _positional_json(v: Any) -> str:
    """JSON text whose floats are written without an exponent and with a fraction.

    jsonb stores numbers as ``numeric`` and prints them positionally: ``1e+16``
    would come back as ``10000000000000000``, which ``json.loads`` reads as an
    int. Written as ``10000000000000000.0`` (the float's shortest repr, exact),
    it comes back as the same text, so the same float.
    """
    if isinstance(v, float):
        if "e" not in repr(v):
            return repr(v)
        text = format(Decimal(repr(v)), "f")
        return text if "." in text else text + ".0"
    if isinstance(v, dict):
        items = (json.dumps(k, ensure_ascii=False) + ":" + _positional_json(x) for k, x in v.items())
        return "{" + ",".join(items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_positional_json(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, allow_nan=False)


def _json_value(text: str) -> Any:
    value = json.loads(text)
    return _map_strings(value, unescape_text) if "\\u0001" in text else value


def _map_strings(v: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(v, str):
        return fn(v)
    if isinstance(v, dict):
        return {fn(k): _map_strings(x, fn) for k, x in v.items()}
    if isinstance(v, list):
        return [_map_strings(x, fn) for x in v]
    return v


def _aware(v: datetime) -> datetime:
    # asyncpg stores datetime.min/max as -infinity/infinity and reads those back
    # naive; they are exactly 0001-01-01T00:00Z and 9999-12-31T23:59:59.999999Z
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


def _uuid(v: Any) -> uuid.UUID:
    # asyncpg returns its own UUID subclass; hand users the standard class
    return v if type(v) is uuid.UUID else uuid.UUID(bytes=v.bytes)


# PostgreSQL text cannot hold U+0000, which ommi strings may contain. Text is
# stored with a prefix-free, order-preserving code: U+0000 -> U+0001 U+0001,
# U+0001 -> U+0001 U+0002, every other character unchanged. Codewords compare
# in the order of the characters they stand for (0101 < 0102 < 02 < 03 ...) and
# none is a prefix of another, so equality and code-point ordering of the
# stored text are those of the original strings. Strings without these two
# control characters (nearly all) are stored as they are.


def escape_text(v: str) -> str:
    """A Python string -> the text stored for it (see the code above)."""
    if "\x00" in v or "\x01" in v:
        return v.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")
    return v


def _escape_texts(values: list[str]) -> list[str]:
    # one scan of the joined column finds the rare text that needs its code
    joined = "".join(values)
    if "\x00" in joined or "\x01" in joined:
        return list(map(escape_text, values))
    return values


_TEXT = ColumnEncoder(escape_text, _escape_texts)


# str() of these is their exact PostgreSQL input: "True" reads as true, a float's shortest
# repr (subnormals, "-0.0", "inf" included) as the same double
_STR_IS_INPUT = frozenset({Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.UUID})


def _as_text(values: list[Any]) -> list[Any]:
    return [v if v is None else str(v) for v in values]


def unescape_text(v: str) -> str:
    """The stored text -> the original string."""
    if "\x01" in v:
        # left to right, "\x01\x01" only ever matches a whole codeword: a "\x01\x02"
        # pair cannot start a match at its second character
        return v.replace("\x01\x01", "\x00").replace("\x01\x02", "\x01")
    return v


def _texts_coded(values: Iterable[Any]) -> bool:
    """Whether any of a column's stored texts holds a codeword (one search of the joined column).

    Only ``None`` is left out: a value that is not text (a column of another type, read by a
    str field) makes the join fail, and the batch is then decoded value by value, which says so.
    """
    return "\x01" in "".join([v for v in values if v is not None])


_UNTEXT = ColumnDecoder(unescape_text, _texts_coded)


_REGEX_SPECIAL = frozenset("\\^$.|?*+()[]{}")
_CODEWORD_CHARS = frozenset("\x00\x01\x02")
# one original character of stored text: a plain character or a two-character codeword
_ONE_CHAR = "(?:[^\x01]|\x01.)"


def like_to_regex(pattern: str) -> str:
    """Translate a like pattern to an anchored POSIX regex on stored text.

    A regex rather than LIKE because ``_`` must match one original character,
    which is two stored characters for U+0000 and U+0001, and ``%`` must not
    stop inside a codeword. Matching is case-sensitive.
    """
    # literal characters of stored text are ("", c)
    tokens: list[Wildcard | tuple[str, str]] = []
    for token in like_tokens(pattern):
        if isinstance(token, Wildcard):
            tokens.append(token)
        else:
            tokens.extend(("", c) for c in escape_text(token))
    out = ["^"]
    for i, tok in enumerate(tokens):
        if tok is Wildcard.ONE:
            out.append(_ONE_CHAR)
        elif tok is Wildcard.ANY:
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            # ".*" is exact unless what follows could start inside a codeword
            out.append(_ONE_CHAR + "*" if after in (Wildcard.ONE, ("", "\x01"), ("", "\x02")) else ".*")
        else:
            c = tok[1]
            out.append("\\" + c if c in _REGEX_SPECIAL else c)
    out.append("$")
    return "".join(out)




class PostgreSQLDialect(SQLDialect):
    """PostgreSQL: native types for every kind; text in the "C" collation (code-point order)."""

    name = "postgresql"
    paramstyle = "numeric"
    # REPEATABLE READ, not the server's READ COMMITTED: a transaction reads one snapshot, and
    # a concurrent write to a row it writes fails with a serialization error
    # (TransactionError, retry) instead of silently losing an update - the behaviour of
    # every other ommi backend (found by tests/test_atomicity.py: transfers created money)
    begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ"
    begin_read_sql = "BEGIN READ ONLY"
    failed_statement_aborts_transaction = True
    cursors_see_later_writes = False  # a cursor reads the snapshot it was opened with
    encoders: ClassVar[Mapping[Kind, Codec]] = {**SQLDialect.encoders, Kind.STR: _TEXT, Kind.JSON: _json_text}
    decoders: ClassVar[Mapping[Kind, Codec]] = {
        **SQLDialect.decoders, Kind.STR: _UNTEXT, Kind.JSON: _json_value, Kind.UUID: _uuid,
    }
    max_name_bytes = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer names
    types: ClassVar[Mapping[Kind, str]] = {
        # "C" orders by code point and makes LIKE case-sensitive, as ommi requires;
        # the database default collation would sort by locale rules instead
        Kind.STR: 'TEXT COLLATE "C"',
        Kind.INT: "BIGINT",
        Kind.FLOAT: "DOUBLE PRECISION",
        Kind.BOOL: "BOOLEAN",
        Kind.BYTES: "BYTEA",
        Kind.DECIMAL: "NUMERIC",  # no typmod: the scale of each value is kept
        Kind.DATETIME: "TIMESTAMP",
        Kind.DATE: "DATE",
        Kind.TIME: "TIME",
        Kind.UUID: "UUID",
        Kind.JSON: "JSONB",
    }
    aware_datetime_type = "TIMESTAMPTZ"
    type_aliases: ClassVar[dict[str, str]] = {
        "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
        "TIME WITHOUT TIME ZONE": "TIME",
    }
    null_safe_ne = "IS DISTINCT FROM"
    explicit_nulls_order = True  # PostgreSQL sorts NULL last ascending by default
    offset_without_limit = ""

    def key_column(self, f: FieldInfo, single: bool) -> str:
        if f.auto:
            # BY DEFAULT (not ALWAYS): an explicit key may still be given at add()
            ident = f"{self.quote(f.column)} BIGINT GENERATED BY DEFAULT AS IDENTITY"
            return ident + " PRIMARY KEY" if single else ident
        return super().key_column(f, single)

    def primary_key_name(self, table: str) -> str | None:
        # PostgreSQL names it after the table, cut to 63 bytes like any name
        return (table + "_pkey").encode()[:63].decode(errors="ignore")

    def rename_index(self, table: str, old: str, new: str, column: str, unique: bool) -> list[str]:
        # renames the index in place; a unique constraint's index renames its constraint too
        return [f"ALTER INDEX IF EXISTS {old} RENAME TO {new}"]

    def decoder(self, f: FieldInfo) -> Codec:
        if f.kind is Kind.DATETIME and f.aware:
            return _aware
        return super().decoder(f)

    def aggregate_sql(self, agg: Agg, column_sql: str | None) -> str:
        if agg.func is AggFunc.AVG and agg.field is not None and column_sql is not None and (
            agg.field.info.kind is Kind.FLOAT
        ):
            # PostgreSQL's avg(float8) also sums the squares (its state is shared with stddev),
            # which overflows past 1.3e154 and fails; the mean itself is the sum over the count
            return f"(SUM({column_sql}) / NULLIF(COUNT({column_sql}), 0))"
        if agg.field is None or column_sql is None or agg.func not in (AggFunc.MIN, AggFunc.MAX):
            return super().aggregate_sql(agg, column_sql)
        is_min = agg.func is AggFunc.MIN
        kind = agg.field.info.kind
        # PostgreSQL has no min()/max() for these types
        if kind is Kind.BOOL:
            return f"{'bool_and' if is_min else 'bool_or'}({column_sql})"
        if kind is Kind.UUID:
            # the canonical text of a UUID orders as its bytes do (fixed-width lowercase hex)
            return f'{agg.func.value.upper()}({column_sql}::text COLLATE "C")::uuid'
        if kind is Kind.JSON:
            ordered = f"{column_sql} {'ASC' if is_min else 'DESC'}"
            return f"(array_agg({column_sql} ORDER BY {ordered}) FILTER (WHERE {column_sql} IS NOT NULL))[1]"
        return super().aggregate_sql(agg, column_sql)

    unicode_case = False
    """Set on connecting to PostgreSQL 18 or later: case functions use the ``pg_unicode_fast`` collation."""

    def case_sql(self, func: CaseFunc, item: str) -> str:
        if self.unicode_case:
            return f'{func.value.upper()}({item} COLLATE pg_unicode_fast) COLLATE "C"'
        return super().case_sql(func, item)

    def like(self, column_sql: str, placeholder: str, negate: bool, form: str = "") -> str:
        if form == "like":
            # backslash is LIKE's escape character by default
            return f"{column_sql} {'NOT LIKE' if negate else 'LIKE'} {placeholder}"
        return f"{column_sql} {'!~' if negate else '~'} {placeholder}"

    def like_form(self, pattern: str) -> str:
        # A regex costs about twice a LIKE on the server (1.0 against 0.85 ms a query filtering
        # 5,000 rows here). LIKE is exact where the regex is only needed for the stored text's
        # codewords: no "_" (one original character may be two stored ones) and no U+0000,
        # U+0001 or U+0002 in the literal text (codewords, or a "%" ending inside one).
        tokens = like_tokens(pattern)
        if any(t is Wildcard.ONE or (isinstance(t, str) and _CODEWORD_CHARS.intersection(t)) for t in tokens):
            return ""
        return "like"

    def arithmetic_overflow(self, exc: BaseException) -> bool:
        # SQLSTATE 22003 (numeric_value_out_of_range) from bigint arithmetic
        return getattr(exc, "sqlstate", None) == "22003" and "bigint out of range" in str(exc)

    def like_param(self, pattern: str, form: str = "") -> Any:
        return like_pattern(like_tokens(pattern)) if form == "like" else like_to_regex(pattern)

    # PostgreSQL binds at most 32,767 parameters: in_() lists go as one array
    # parameter (which also gives one prepared statement whatever the length)
    in_array = True

    def in_array_sql(self, column_sql: str, placeholder: str, negate: bool) -> str:
        return f"{column_sql} <> ALL({placeholder})" if negate else f"{column_sql} = ANY({placeholder})"

    # save() of this many rows or more is one UPDATE ... FROM over array parameters (1,000 rows:
    # 5.3 ms against 9.4 for one UPDATE a row, pipelined; 16 rows: 0.59 against 0.63); below,
    # the server's cost of unnesting and joining is more than what it saves (12 rows: 0.57 ms
    # against 0.54)
    save_set_from = 16

    def array_type(self, f: FieldInfo) -> str:
        # the collation belongs to the column, not to an array cast
        return super().array_type(f).replace(' COLLATE "C"', "")

    def unnest_column(self, f: FieldInfo, placeholder: str) -> tuple[str, ArrayEncoder | None]:
        # asyncpg has its own codec for text[] only: any other array type it first looks up with
        # a query on each connection (and again after a schema change), 9 ms on a new one, more
        # than a 1,000-row save gains. So text, JSON text, and kinds whose str() is their exact
        # input go as text[], converted by the server (1,000 rows of the benchmark's model: 0.5 ms
        # more than int8[] arrays, once looked up); other kinds bind arrays of their own type.
        kind = self._enum_kind(f) if f.kind is Kind.ENUM else f.kind
        if kind is Kind.STR:
            return f"unnest({placeholder}::text[])", None
        if kind is Kind.JSON:
            return f"unnest({placeholder}::text[])::jsonb", None
        if kind in _STR_IS_INPUT:
            return f"unnest({placeholder}::text[])::{self.column_type(f)}", _as_text
        return super().unnest_column(f, placeholder)
