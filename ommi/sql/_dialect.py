"""``SQLDialect``: what differs between SQL databases, as tables plus a few hooks.

A dialect is mostly data (column types, codecs, placeholders, transaction
syntax, feature flags); the few differences that are not data are methods
a dialect overrides. The compiler (:mod:`ommi.sql._compiler`) and the driver
base (:mod:`ommi.sql._driver`) read everything database-specific from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ommi import errors
from ommi._fields import Kind
from ommi._model import ColumnDecoder, FieldInfo
from ommi.driver import json_text, json_value
from ommi.query import Agg, AggFunc, ArithOp, CaseFunc

if TYPE_CHECKING:  # decimal is imported where used: it costs every start about 1 ms
    from decimal import Decimal

__all__ = ["Codec", "SQLDialect", "fixed_decimal"]

Codec = Callable[[Any], Any] | None
ArrayEncoder = Callable[[list[Any]], list[Any]]
"""A column's encoded values -> the elements of the array parameter bound for them."""
"""Converts one value (never ``None``); ``None`` means "pass the value unchanged"."""


def _enum_value(v: Any) -> Any:
    return v.value


# The same function for the same enum and codec on every connection: a model's
# generated loaders and dumpers are kept by the identity of their codecs
# (ModelInfo._built_once), so a fresh function per connection would rebuild them.
def _enum_encoder(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    try:
        return _kept_enum_encoder(inner)
    except TypeError:  # a dialect's codec that cannot be a dict key: one of its own
        return lambda v: inner(v.value)


def _enum_decoder(cls: Callable[[Any], Any], inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    try:
        return _kept_enum_decoder(cls, inner)
    except TypeError:
        return lambda v: cls(inner(v))


@functools.lru_cache(maxsize=256)
def _kept_enum_encoder(inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: inner(v.value)


@functools.lru_cache(maxsize=256)
def _kept_enum_decoder(cls: Callable[[Any], Any], inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: cls(inner(v))


_INT_OR_NONE = frozenset({int, type(None)})

# a count or an integer sum: most drivers hand back ints already (PostgreSQL's and
# MySQL's sums come as decimals), and a column of them is left as it is
_INT = ColumnDecoder(int, lambda values: not {*map(type, values)} <= _INT_OR_NONE)


def _to_decimal(v: Any) -> Decimal:
    from decimal import Decimal

    return v if isinstance(v, Decimal) else Decimal(str(v))


def fixed_decimal(backend: str, precision: int, scale: int) -> tuple[Callable[[Decimal], Decimal], Codec]:
    """The encoder and decoder of a ``DECIMAL(precision, scale)`` column.

    Such a column rounds extra fraction digits silently and pads values to
    its scale (``1.5`` reads back as ``1.5000000000``). The encoder refuses a
    value that would not read back equal (a ``ValidationError`` naming the
    limits); the decoder drops the padding zeros.
    """
    from decimal import Context, Decimal

    integer_digits = precision - scale
    wide = Context(prec=precision + 2)  # the default 28 digits would round while dropping the padding
    one = Decimal(1)
    column = f"DECIMAL({precision}, {scale})"

    def encode(v: Decimal) -> Decimal:
        _, digits, exponent = v.as_tuple()
        if not any(digits):
            return Decimal(0)
        n, exp = len(digits), int(exponent)
        while n > 1 and exp < 0 and digits[n - 1] == 0:  # trailing zeros after the point change nothing
            n -= 1
            exp += 1
        if (-exp if exp < 0 else 0) > scale or max(n + exp, 0) > integer_digits:
            raise errors.ValidationError(
                f"{v} cannot be stored exactly in {backend}'s {column}: at most {integer_digits} "
                f"digits before the point and {scale} after it"
            )
        return v

    def decode(v: Decimal) -> Decimal:
        n = wide.normalize(v)
        return wide.quantize(n, one) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]

    return encode, decode


_AGG_SQL = {AggFunc.COUNT: "COUNT", AggFunc.SUM: "SUM", AggFunc.AVG: "AVG", AggFunc.MIN: "MIN", AggFunc.MAX: "MAX"}


class SQLDialect:
    """The differences between SQL databases, as data plus a few hooks.

    Override class attributes for simple differences (spread the base's
    tables: ``encoders = {**SQLDialect.encoders, Kind.DECIMAL: str}``) and
    the methods for the rest.
    """

    name: ClassVar[str] = "sql"
    """The backend's name in logs and messages."""

    # -- statements ---------------------------------------------------------------

    paramstyle: ClassVar[Literal["qmark", "numeric", "format"]] = "qmark"
    """Placeholders: ``"qmark"`` (``?``), ``"numeric"`` (``$1``) or ``"format"`` (``%s``)."""
    identifier_quote: ClassVar[str] = '"'
    """The character that quotes identifiers (doubled inside a name)."""
    null_safe_ne: ClassVar[str] = "IS DISTINCT FROM"
    """Operator for ``!=`` that is true when the column is NULL (see :meth:`null_safe_not_equal`)."""
    explicit_nulls_order: ClassVar[bool] = True
    """Emit ``NULLS FIRST/LAST`` (needed where the default differs from ommi's rule)."""
    nulls_first_by_default: ClassVar[bool] = False
    """Without ``NULLS FIRST/LAST`` syntax: NULL sorts first ascending (as SQLite and MySQL do)."""
    offset_without_limit: ClassVar[str] = ""
    """What to write before ``OFFSET`` when there is no limit (SQLite needs ``LIMIT -1``)."""
    returning: ClassVar[bool] = True
    """``INSERT ... RETURNING`` is available (else generated keys come from the driver's last row id)."""
    default_values: ClassVar[str] = "DEFAULT VALUES"
    """What follows ``INSERT INTO table`` for a row of nothing but defaults (a model of only its
    generated key); MySQL writes ``() VALUES ()``."""
    conflict_skip: ClassVar[str] = " ON CONFLICT DO NOTHING"
    """Clause that turns a key or unique clash of an ``INSERT`` into "no row inserted" instead of an
    error (``""``: none). Used where a failed statement would abort the whole transaction."""

    # -- transactions -------------------------------------------------------------

    begin_sql: ClassVar[str] = "BEGIN"
    """Starts a transaction (ommi's transactions read one snapshot: say the isolation level here)."""
    begin_read_sql: ClassVar[str] = "BEGIN"
    """Starts the read-only transaction a stream outside any transaction reads its snapshot in."""
    commit_sql: ClassVar[str] = "COMMIT"
    rollback_sql: ClassVar[str] = "ROLLBACK"
    savepoints: ClassVar[bool] = True
    """The database has savepoints (nested blocks, and undoing one failed statement in a transaction)."""
    savepoint_sql: ClassVar[str] = "SAVEPOINT {}"
    release_sql: ClassVar[str] = "RELEASE SAVEPOINT {}"
    rollback_to_sql: ClassVar[str] = "ROLLBACK TO SAVEPOINT {}"
    failed_statement_aborts_transaction: ClassVar[bool] = False
    """A failed statement aborts the whole transaction (PostgreSQL, DuckDB); the driver base then
    guards statements that can fail and marks the transaction aborted after an unguarded failure."""
    references_checked_per_row: ClassVar[bool] = False
    """The database checks a foreign key at each row, not at the end of the statement (InnoDB):
    the driver base then deletes the rows of a self-referencing model that nothing refers to
    first, until none is left, so that a statement deleting a parent and its child succeeds."""
    cursors_see_later_writes: ClassVar[bool] = True
    """A cursor still being read may see (or lose) rows changed afterwards on the same connection;
    the driver base then reads the rest of an open cursor before running another statement, so a
    stream yields the rows as of its start."""

    # -- schema -------------------------------------------------------------------

    types: ClassVar[Mapping[Kind, str]] = {
        Kind.STR: "TEXT",
        Kind.INT: "BIGINT",
        Kind.FLOAT: "DOUBLE PRECISION",
        Kind.BOOL: "BOOLEAN",
        Kind.BYTES: "BLOB",
        Kind.DECIMAL: "NUMERIC",
        Kind.DATETIME: "TIMESTAMP",
        Kind.DATE: "DATE",
        Kind.TIME: "TIME",
        Kind.UUID: "UUID",
        Kind.JSON: "JSON",
    }
    aware_datetime_type: ClassVar[str] = "TIMESTAMP WITH TIME ZONE"
    foreign_keys: ClassVar[bool] = True
    """Emit ``FOREIGN KEY`` constraints for ``ReferenceTo`` fields (off where they cannot behave as ommi promises)."""
    type_aliases: ClassVar[Mapping[str, str]] = {}
    """Spellings of a type the database reports, mapped to the spelling ommi creates."""
    max_name_bytes: ClassVar[int | None] = None
    """The longest table or column name (UTF-8 bytes) the database keeps whole; longer ones are refused."""

    # -- values -------------------------------------------------------------------

    encoders: ClassVar[Mapping[Kind, Codec]] = {Kind.JSON: json_text}
    """Python value -> bound parameter, per kind (enums store their values everywhere)."""
    decoders: ClassVar[Mapping[Kind, Codec]] = {Kind.JSON: json_value}
    """Fetched column value -> Python value, per kind (enums are built from their values everywhere)."""

    def quote(self, name: str) -> str:
        """Quote an identifier; the quote character is doubled inside the name."""
        q = self.identifier_quote
        return q + name.replace(q, q + q) + q

    def placeholder(self, n: int) -> str:
        """The ``n``-th (1-based) parameter placeholder."""
        if self.paramstyle == "numeric":
            return f"${n}"
        return "%s" if self.paramstyle == "format" else "?"

    def column_type(self, f: FieldInfo) -> str:
        """The column type for a field."""
        if f.kind is Kind.ENUM:
            return self.enum_type(f)
        if f.kind is Kind.DATETIME and f.aware:
            return self.aware_datetime_type
        return self.types[f.kind]

    def enum_type(self, f: FieldInfo) -> str:
        """Enums store their values: text or integer."""
        first = next(iter(f.py_type)).value
        return self.types[Kind.INT] if isinstance(first, int) else self.types[Kind.STR]

    def key_column(self, f: FieldInfo, single: bool) -> str:
        """The column definition of a key field (``single``: the only key field)."""
        return f"{self.quote(f.column)} {self.column_type(f)} NOT NULL"

    def encoder(self, f: FieldInfo) -> Codec:
        """Python value -> bound parameter for this field's column."""
        if f.kind is Kind.ENUM:
            inner = self.encoders.get(self._enum_kind(f))
            if inner is None:
                return _enum_value
            return _enum_encoder(inner)
        return self.encoders.get(f.kind)

    def decoder(self, f: FieldInfo) -> Codec:
        """Fetched column value -> Python value."""
        if f.kind is Kind.ENUM:
            inner = self.decoders.get(self._enum_kind(f))
            cls = f.py_type
            if inner is None:
                return cls  # type: ignore[no-any-return]
            if isinstance(inner, ColumnDecoder):
                inner = inner.one
            return _enum_decoder(cls, inner)
        return self.decoders.get(f.kind)

    def _enum_kind(self, f: FieldInfo) -> Kind:
        return Kind.INT if isinstance(next(iter(f.py_type)).value, int) else Kind.STR

    def compare_column(self, f: FieldInfo, column_sql: str) -> str:
        """The column expression used in comparisons and ORDER BY (a hook for collations)."""
        return column_sql

    def select_column(self, f: FieldInfo, column_sql: str) -> str:
        """The expression that reads a field in a ``SELECT`` list (a hook for types fetched converted)."""
        return column_sql

    def aggregate_sql(self, agg: Agg, column_sql: str | None) -> str:
        """The SQL of one aggregate over a (quoted) column, ``None`` for ``COUNT(*)``."""
        func = agg.func
        if column_sql is None:
            return "COUNT(*)"
        if func is AggFunc.COUNT_DISTINCT:
            return f"COUNT(DISTINCT {column_sql})"
        return f"{_AGG_SQL[func]}({column_sql})"

    def aggregate_decoder(self, agg: Agg) -> Codec:
        """Fetched aggregate value -> its Python value (see :class:`ommi.query.Agg` for the types)."""
        func = agg.func
        if func in (AggFunc.COUNT, AggFunc.COUNT_DISTINCT) or agg.field is None:
            return _INT
        kind = agg.field.info.kind
        if func in (AggFunc.MIN, AggFunc.MAX):
            return self.decoder(agg.field.info)
        if kind is Kind.DECIMAL:
            return _to_decimal
        if func is AggFunc.AVG or kind is Kind.FLOAT:
            return float
        return _INT

    def null_safe_not_equal(self, column_sql: str, placeholder: str) -> str:
        """``column != value`` that is true where the column is NULL (ommi's two-valued ``!=``).

        A hook for databases whose null-safe comparison is not an infix
        "distinct" operator (MySQL has only the null-safe *equality* ``<=>``).
        """
        return f"{column_sql} {self.null_safe_ne} {placeholder}"

    def like(self, column_sql: str, placeholder: str, negate: bool, form: str = "") -> str:
        """A case-sensitive pattern match with ``\\`` as escape character.

        ``form`` is what :meth:`like_form` said of the pattern.
        """
        op = "NOT LIKE" if negate else "LIKE"
        return f"{column_sql} {op} {placeholder} ESCAPE '\\'"

    def like_form(self, pattern: str) -> str:
        """A name for the SQL form a pattern needs, for dialects that write some patterns another way.

        Part of the compiled statement's cache key and handed to :meth:`like`
        and :meth:`like_param`; ``""`` (the default) is the only form.
        """
        return ""

    def like_param(self, pattern: str, form: str = "") -> Any:
        """The bound value for a like pattern (a dialect may translate it, e.g. to a regex).

        A dialect whose :meth:`like` writes several placeholders returns a
        tuple: one value per placeholder, in order.
        """
        return pattern

    # -- expressions --------------------------------------------------------------

    def arith_sql(self, op: ArithOp, kind: Kind, left: str, right: str) -> str:
        """``left op right`` with a result of ``kind``; an int result past 64 bits must raise
        (an error :meth:`arithmetic_overflow` recognises), never wrap or turn into a float."""
        return f"({left} {op.value} {right})"

    def neg_sql(self, kind: Kind, item: str) -> str:
        """``-item`` (same overflow rule as :meth:`arith_sql`)."""
        return f"(- {item})"

    def case_sql(self, func: CaseFunc, item: str) -> str:
        """``lower(item)`` or ``upper(item)``."""
        return f"{func.value.upper()}({item})"

    def cast_value(self, placeholder: str, kind: Kind) -> str:
        """A literal's placeholder inside an expression (a hook for databases that need its type spelled)."""
        return placeholder

    def compare_expression(self, kind: Kind, sql: str) -> str:
        """A computed value as comparisons and ORDER BY read it (a hook for collations, as :meth:`compare_column`)."""
        return sql

    def arithmetic_overflow(self, exc: BaseException) -> bool:
        """Whether a native error is integer (or Decimal) arithmetic leaving its type's range."""
        return False

    def upsert_clash(self, exc: BaseException) -> bool:
        """Whether an upsert failed because the row clashed on another unique index than its conflict
        target (a hook for :meth:`upsert_clause` forms that report it in their own way)."""
        return False

    upsert_returns_key: ClassVar[bool] = True
    """:meth:`upsert_clause` ends in ``RETURNING`` the key (else the driver reads the insert id)."""

    def upsert_clause(self, conflict: Sequence[str], updated: Sequence[str], key: Sequence[str], auto: bool) -> str:
        """What follows ``INSERT ... VALUES (...)`` to update the clashing row instead (quoted names).

        ``conflict``: the key or unique columns the clash is on; ``updated``: the
        columns an update sets from the row given; ``key``: the key columns to return;
        ``auto``: the key is generated. A clash on any other unique index must stay an error.
        """
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated or conflict[:1])
        returning = f" RETURNING {', '.join(key)}" if key else ""
        return f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}{returning}"

    in_array: ClassVar[bool] = False
    """Bind an ``in_()`` list as one array parameter (:meth:`in_array_sql`) instead of one per value."""

    def in_list(self, column_sql: str, placeholders: Sequence[str], negate: bool) -> str:
        """``column IN (...)`` over one placeholder per value."""
        return f"{column_sql} {'NOT IN' if negate else 'IN'} ({', '.join(placeholders)})"

    def in_array_sql(self, column_sql: str, placeholder: str, negate: bool) -> str:
        """``column`` equals (or, negated, differs from every) element of an array parameter."""
        raise NotImplementedError(f"{self.name} binds no array parameters")

    save_set_from: ClassVar[int] = 0
    """From this many rows on, ``save()`` writes them with one ``UPDATE ... FROM`` that binds each
    column as one array parameter (:meth:`array_type`), not one ``UPDATE`` a row (``0``: never).
    Models with unique fields other than the key keep one ``UPDATE`` a row: a set-based
    statement checks each row against rows it has not written yet, in no set order."""

    def array_type(self, f: FieldInfo) -> str:
        """The type of an array parameter holding a column's values, for a cast (``BIGINT[]``)."""
        return self.column_type(f) + "[]"

    def unnest_column(self, f: FieldInfo, placeholder: str) -> tuple[str, ArrayEncoder | None]:
        """How a set-based write binds a column as one array parameter: the SQL giving its
        values, one row each, and what makes the parameter from the column's encoded values
        (``None``: their list as it is)."""
        return f"unnest({placeholder}::{self.array_type(f)})", None

    def canonical_type(self, text: str) -> str:
        """One spelling per type, so declared and inspected types compare equal."""
        upper = " ".join(text.upper().split())
        upper = upper.split(" COLLATE ", 1)[0]
        return self.type_aliases.get(upper, upper)

    def literal(self, f: FieldInfo, value: Any) -> str:
        """A SQL literal for a column default (only plain values reach here)."""
        enc = self.encoder(f)
        stored = enc(value) if enc is not None else value
        if isinstance(stored, bool):
            return "TRUE" if stored else "FALSE"
        from decimal import Decimal

        if isinstance(stored, (int, float, Decimal)):
            return str(stored)
        return "'" + str(stored).replace("'", "''") + "'"

    def exact_expression(self, f: FieldInfo, value: Any) -> str | None:
        """A constant SQL expression equal to ``value`` where :meth:`literal` cannot write it exactly
        (``inf``, ``-0.0``, text holding NUL), or ``None``: the value is then bound in an ``UPDATE``.

        A hook for databases that cannot add a NOT NULL column and fill it in one transaction.
        """
        return None

    def retype_column(self, table: str, column: str, type_sql: str) -> list[str]:
        """Statements changing a column's type in place (stored values are converted with ``CAST``)."""
        return [f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_sql} USING CAST({column} AS {type_sql})"]

    def set_nullable(self, table: str, column: str, nullable: bool) -> list[str]:
        """Statements allowing or forbidding NULL in a column."""
        return [f"ALTER TABLE {table} ALTER COLUMN {column} {'DROP' if nullable else 'SET'} NOT NULL"]

    def drop_index(self, table: str, name: str, if_exists: bool = True) -> str:
        """The statement dropping an index (arguments quoted; some databases need the table too)."""
        return f"DROP INDEX {'IF EXISTS ' if if_exists else ''}{name}"

    def rename_index(self, table: str, old: str, new: str, column: str, unique: bool) -> list[str]:
        """Statements renaming an index (arguments quoted); by default it is built again under the new name."""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return [self.drop_index(table, old), f"CREATE {kind} IF NOT EXISTS {new} ON {table} ({column})"]

    rebuild_changes: ClassVar[frozenset[str]] = frozenset()
    """Schema change kinds the database cannot make in place: migrations rebuild the table instead
    (they know its shape before and after; ``schema sync`` does not, and refuses)."""
    rebuild_prelude: ClassVar[tuple[str, ...]] = ()
    """Statements run first in a rebuild's transaction (SQLite defers foreign-key checks to the commit)."""

    alter_drops_indexes: ClassVar[bool] = False
    """The database refuses to alter a table that has indexes (DuckDB): schema changes that
    alter a table drop its indexes first and build them again afterwards."""

    def index_name(self, table: str, columns: Sequence[str], unique: bool = False) -> str:
        """A deterministic index name within 63 bytes (PostgreSQL's limit, the tightest of the backends).

        ``ix_<table>_<column>`` (``ux_`` for a unique index), plus a short digest
        of the names when one of them holds an underscore: index names share
        one namespace per schema, and ``a_b``.``c`` and ``a``.``b_c`` would
        otherwise get the same name (``CREATE INDEX IF NOT EXISTS`` would then
        skip the second, leaving a unique field unenforced).
        """
        name = ("ux_" if unique else "ix_") + table + "_" + "_".join(columns)
        if "_" in table or any("_" in c for c in columns):
            name += "_" + _digest("\0".join((table, *columns)), 3)
        return _short_name(name)

    def foreign_key_name(self, table: str, column: str) -> str:
        """The name of the foreign key constraint ommi creates for a ``ReferenceTo`` field."""
        return _short_name(f"fk_{table}_{column}")

    def primary_key_name(self, table: str) -> str | None:
        """The name the database gives a table's primary key constraint (``None``: it names none)."""
        return None


def _short_name(name: str) -> str:
    """``name`` if it fits in 63 bytes, else its first 50 bytes and a digest of the whole (stable)."""
    if len(name.encode()) <= 63:
        return name
    return name.encode()[:50].decode(errors="ignore") + "_" + _digest(name, 5)


def _digest(text: str, size: int) -> str:
    """A stable hex digest of ``text``, ``size`` bytes long, for names."""
    import hashlib  # only for schema names: not worth its import time at start-up

    return hashlib.blake2s(text.encode(), digest_size=size).hexdigest()
