"""The shared SQL compiler: one generator, one small dialect table per database.

Public for driver authors. A SQL driver subclasses :class:`SQLDialect` with its
differences (placeholders, column types, value codecs, a few overridden
methods) and hands it to :class:`SQLCompiler`, which turns statement nodes
from :mod:`ommi.query` into SQL text plus bound parameters.

Rules the compiler keeps for every dialect:

* identifiers are always quoted; values are always bound as parameters;
* the SQL text depends only on the *shape* of a query, never on its values,
  so it is compiled once per shape and cached (drivers' prepared-statement
  caches then hit too);
* negations are pushed down to the leaves, so that the two-valued logic
  documented in :mod:`ommi.query` holds even though SQL is three-valued.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Any, ClassVar

from ommi import errors
from ommi._fields import Kind
from ommi._migrate import literal_default
from ommi._model import FieldInfo, ModelInfo, get_model_info
from ommi.driver import NO_DEFAULT, SchemaChange
from ommi.query import (
    Agg,
    AggCompare,
    AggFunc,
    AggOrder,
    Aggregate,
    And,
    Between,
    Compare,
    Delete,
    In,
    IsNull,
    Like,
    Not,
    Op,
    Or,
    OrderBy,
    Predicate,
    Related,
    Select,
    Update,
)

__all__ = ["Codec", "Kind", "ModelPlan", "SQLCompiler", "SQLDialect", "render_statement"]

Codec = Callable[[Any], Any] | None

_NEGATED_OP = {Op.LT: ">=", Op.LE: ">", Op.GT: "<=", Op.GE: "<"}


class SQLDialect:
    """The differences between SQL databases, as data plus a few hooks.

    Override class attributes for simple differences and the methods for the
    rest. Codecs convert Python values to what the database driver accepts
    (``encoder``) and back (``decoder``); ``None`` means "pass unchanged".
    """

    name: ClassVar[str] = "sql"
    paramstyle: ClassVar[str] = "qmark"
    """``"qmark"`` (``?``) or ``"numeric"`` (``$1``)."""
    types: ClassVar[dict[Kind, str]] = {
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
    null_safe_ne: ClassVar[str] = "IS DISTINCT FROM"
    """Operator for ``!=`` that is true when the column is NULL."""
    explicit_nulls_order: ClassVar[bool] = True
    """Emit ``NULLS FIRST/LAST`` (needed where the default differs from ommi's rule)."""
    offset_without_limit: ClassVar[str] = ""
    """What to write before ``OFFSET`` when there is no limit (SQLite needs ``LIMIT -1``)."""
    foreign_keys: ClassVar[bool] = True
    """Emit ``FOREIGN KEY`` constraints for ``ReferenceTo`` fields (off where they cannot behave as ommi promises)."""

    def quote(self, name: str) -> str:
        """Quote an identifier (names are validated at decoration; quotes are doubled anyway)."""
        return '"' + name.replace('"', '""') + '"'

    def column_type(self, f: FieldInfo) -> str:
        """The column type for a field."""
        if f.kind is Kind.ENUM:
            return self.enum_type(f)
        if f.kind is Kind.DATETIME and f.aware:
            return self.aware_datetime_type
        return self.types[f.kind]

    aware_datetime_type: ClassVar[str] = "TIMESTAMP WITH TIME ZONE"

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
            return _enum_value
        return None

    def decoder(self, f: FieldInfo) -> Codec:
        """Fetched column value -> Python value."""
        if f.kind is Kind.ENUM:
            return f.py_type  # type: ignore[no-any-return]
        return None

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
            return int
        kind = agg.field.info.kind
        if func in (AggFunc.MIN, AggFunc.MAX):
            return self.decoder(agg.field.info)
        if kind is Kind.DECIMAL:
            return _to_decimal
        if func is AggFunc.AVG or kind is Kind.FLOAT:
            return float
        return int

    def like(self, column_sql: str, placeholder: str, negate: bool) -> str:
        """A case-sensitive pattern match with ``\\`` as escape character."""
        op = "NOT LIKE" if negate else "LIKE"
        return f"{column_sql} {op} {placeholder} ESCAPE '\\'"

    def like_param(self, pattern: str) -> Any:
        """The bound value for a like pattern (SQLite translates it to GLOB).

        A ``qmark`` dialect whose :meth:`like` writes several ``?`` may return a
        tuple: one value per placeholder, in order.
        """
        return pattern

    type_aliases: ClassVar[dict[str, str]] = {}
    """Spellings of a type the database reports, mapped to the spelling ommi creates."""

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
        if isinstance(stored, (int, float, Decimal)):
            return str(stored)
        return "'" + str(stored).replace("'", "''") + "'"

    def retype_column(self, table: str, column: str, type_sql: str) -> list[str]:
        """Statements changing a column's type in place (stored values are converted with ``CAST``)."""
        return [f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_sql} USING CAST({column} AS {type_sql})"]

    def set_nullable(self, table: str, column: str, nullable: bool) -> list[str]:
        """Statements allowing or forbidding NULL in a column."""
        return [f"ALTER TABLE {table} ALTER COLUMN {column} {'DROP' if nullable else 'SET'} NOT NULL"]

    def rename_index(self, table: str, old: str, new: str, column: str, unique: bool) -> list[str]:
        """Statements renaming an index (arguments quoted); by default it is built again under the new name."""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return [f"DROP INDEX IF EXISTS {old}", f"CREATE {kind} IF NOT EXISTS {new} ON {table} ({column})"]

    rebuild_changes: ClassVar[frozenset[str]] = frozenset()
    """Schema change kinds the database cannot make in place: migrations rebuild the table instead
    (they know its shape before and after; ``schema sync`` does not, and refuses)."""
    rebuild_prelude: ClassVar[tuple[str, ...]] = ()
    """Statements run first in a rebuild's transaction (SQLite defers foreign-key checks to the commit)."""

    alter_drops_indexes: ClassVar[bool] = False
    """The database refuses to alter a table that has indexes (DuckDB): schema changes that
    alter a table drop its indexes first and build them again afterwards."""

    def index_name(self, table: str, columns: Sequence[str], unique: bool = False) -> str:
        """A deterministic index name within the 63-byte limit of PostgreSQL."""
        name = ("ux_" if unique else "ix_") + table + "_" + "_".join(columns)
        if len(name.encode()) <= 63:
            return name
        digest = hashlib.blake2s(name.encode(), digest_size=5).hexdigest()
        return name.encode()[:50].decode(errors="ignore") + "_" + digest


def _enum_value(v: Any) -> Any:
    return v.value


def _to_decimal(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))


_AGG_SQL = {AggFunc.COUNT: "COUNT", AggFunc.SUM: "SUM", AggFunc.AVG: "AVG", AggFunc.MIN: "MIN", AggFunc.MAX: "MAX"}


@dataclass(eq=False)
class ModelPlan:
    """Everything precompiled for one model on one dialect (built once, cached)."""

    info: ModelInfo
    table: str
    columns: str
    insert_all: str
    insert_auto: str | None
    save: str | None
    load: Callable[[Sequence[Any]], Any]
    dump: Callable[[Any], tuple[Any, ...]]
    dump_auto: Callable[[Any], tuple[Any, ...]] | None
    """Like ``dump`` without the generated key: the row for ``insert_auto``."""
    auto_index: int | None
    save_order: tuple[int, ...]


class _Placeholders:
    """Numbers placeholders and subquery aliases while one statement compiles."""

    __slots__ = ("aliases", "n", "numeric", "scope")

    def __init__(self, numeric: bool) -> None:
        self.n = 0
        self.numeric = numeric
        self.aliases = 0
        self.scope = ""

    def __call__(self) -> str:
        self.n += 1
        return f"${self.n}" if self.numeric else "?"


class SQLCompiler:
    """Compile statement nodes to ``(sql, params)`` for one :class:`SQLDialect`."""

    max_cache = 2048

    def __init__(self, dialect: SQLDialect) -> None:
        self.dialect = dialect
        self._plans: dict[type, ModelPlan] = {}
        self._encoders: dict[FieldInfo, Codec] = {}
        self._cache: dict[Any, str] = {}
        self._agg_cache: dict[Any, tuple[str, Callable[[Sequence[Any]], tuple[Any, ...]]]] = {}

    # -- per-model plans ----------------------------------------------------

    def plan(self, model: type) -> ModelPlan:
        """The cached :class:`ModelPlan` of a model."""
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = self._make_plan(get_model_info(model))
        return plan

    def _make_plan(self, info: ModelInfo) -> ModelPlan:
        d = self.dialect
        q = d.quote
        table = q(info.name)
        cols = [q(f.column) for f in info.fields]
        ph = _Placeholders(d.paramstyle == "numeric")
        insert_all = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(ph() for _ in cols)})"
        auto_index = info.fields.index(info.auto_key) if info.auto_key is not None else None
        insert_auto = None
        if auto_index is not None:
            ph = _Placeholders(d.paramstyle == "numeric")
            rest = [c for i, c in enumerate(cols) if i != auto_index]
            insert_auto = f"INSERT INTO {table} ({', '.join(rest)}) VALUES ({', '.join(ph() for _ in rest)})"
        save = None
        save_order: tuple[int, ...] = ()
        if info.key:
            key_idx = [info.fields.index(f) for f in info.key]
            other = [i for i in range(len(info.fields)) if i not in key_idx] or key_idx[:1]
            ph = _Placeholders(d.paramstyle == "numeric")
            sets = ", ".join(f"{cols[i]} = {ph()}" for i in other)
            where = " AND ".join(f"{cols[i]} = {ph()}" for i in key_idx)
            save = f"UPDATE {table} SET {sets} WHERE {where}"
            save_order = tuple(other + key_idx)
        return ModelPlan(
            info=info,
            table=table,
            columns=", ".join(d.select_column(f, c) for f, c in zip(info.fields, cols, strict=True)),
            insert_all=insert_all,
            insert_auto=insert_auto,
            save=save,
            load=info.loader([d.decoder(f) for f in info.fields]),
            dump=info.dumper([d.encoder(f) for f in info.fields]),
            dump_auto=info.dumper([d.encoder(f) for f in info.fields], auto_index) if auto_index is not None else None,
            auto_index=auto_index,
            save_order=save_order,
        )

    def _encode(self, f: FieldInfo, value: Any) -> Any:
        try:
            enc = self._encoders[f]
        except KeyError:
            enc = self._encoders[f] = self.dialect.encoder(f)
        return value if enc is None or value is None else enc(value)

    # -- statements ---------------------------------------------------------

    def select(self, stmt: Select) -> tuple[str, list[Any]]:
        """``SELECT`` of all fields in field order."""
        params: list[Any] = []
        shape = ("select", stmt.model, self._collect(stmt.where, params), _order_shape(stmt), *self._page(stmt, params))
        sql = self._cache.get(shape)
        if sql is None:
            sql = self._store(shape, self._select_sql(stmt, self.plan(stmt.model).columns))
        return sql, params

    def count(self, stmt: Select) -> tuple[str, list[Any]]:
        """``SELECT COUNT(*)`` honouring the select's limit and offset."""
        params: list[Any] = []
        shape = ("count", stmt.model, self._collect(stmt.where, params), *self._page(stmt, params))
        sql = self._cache.get(shape)
        if sql is None:
            if stmt.limit is None and stmt.offset is None:
                sql = self._select_sql(stmt, "COUNT(*)", order=False)
            else:
                inner = self._select_sql(stmt, "1", order=False)
                sql = f"SELECT COUNT(*) FROM ({inner}) AS ommi_page"
            self._store(shape, sql)
        return sql, params

    def aggregate(self, stmt: Aggregate) -> tuple[str, list[Any], Callable[[Sequence[Any]], tuple[Any, ...]]]:
        """``SELECT group fields, aggregates ... GROUP BY ... HAVING ...``, plus a row decoder."""
        params: list[Any] = []
        shape = (
            "aggregate", stmt.model, self._collect(stmt.where, params), tuple(f.info for f in stmt.group_by),
            self._collect(stmt.having, params), stmt.aggregates, stmt.order_by, *self._page(stmt, params),
        )
        cached = self._agg_cache.get(shape)
        if cached is None:
            if len(self._agg_cache) >= self.max_cache:
                self._agg_cache.clear()
            cached = self._agg_cache[shape] = (self._aggregate_sql(stmt), self._aggregate_decoder(stmt))
        return cached[0], params, cached[1]

    def _aggregate_sql(self, stmt: Aggregate) -> str:
        d = self.dialect
        ph = self._ph()
        groups = [d.quote(f.column) for f in stmt.group_by]
        items = [d.select_column(f.info, g) for f, g in zip(stmt.group_by, groups, strict=True)]
        items += [self._agg_expr(a) for a in stmt.aggregates]
        table = self.plan(stmt.model).table
        sql = f"SELECT {', '.join(items)} FROM {table}{self._where(stmt.where, ph, table)}"
        if groups:
            # grouping compares like the field (a decimal collation on SQLite)
            sql += " GROUP BY " + ", ".join(
                d.compare_column(f.info, g) for f, g in zip(stmt.group_by, groups, strict=True)
            )
        if stmt.having is not None:
            ph.scope = table
            sql += " HAVING " + self._pred(stmt.having, False, ph)
        orders = stmt.order_by or tuple(_ascending(f) for f in stmt.group_by)
        if orders:
            terms = []
            for term in orders:
                if isinstance(term, AggOrder):
                    expr = self._agg_compare_expr(term.agg)
                else:
                    expr = d.compare_column(term.field.info, d.quote(term.field.column))
                terms.append(self._order_term(expr, term.descending))
            sql += " ORDER BY " + ", ".join(terms)
        return sql + self._paging(stmt, ph)

    def _aggregate_decoder(self, stmt: Aggregate) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        codecs = [self.dialect.decoder(f.info) for f in stmt.group_by]
        codecs += [self.dialect.aggregate_decoder(a) for a in stmt.aggregates]

        def decode(row: Sequence[Any]) -> tuple[Any, ...]:
            return tuple(v if c is None or v is None else c(v) for c, v in zip(codecs, row, strict=True))

        return decode

    def _agg_expr(self, agg: Agg) -> str:
        col = self.dialect.quote(agg.field.column) if agg.field is not None else None
        return self.dialect.aggregate_sql(agg, col)

    def _agg_compare_expr(self, agg: Agg) -> str:
        expr = self._agg_expr(agg)
        if agg.field is not None and _keeps_field_type(agg):
            expr = self.dialect.compare_column(agg.field.info, expr)
        return expr

    def _agg_param(self, agg: Agg, value: Any) -> Any:
        if agg.field is not None and _keeps_field_type(agg):
            return self._encode(agg.field.info, value)
        return value

    def update(self, stmt: Update) -> tuple[str, list[Any]]:
        """``UPDATE ... SET ... WHERE ...``."""
        params = [self._encode(f.info, v) for f, v in stmt.values]
        shape = ("update", stmt.model, tuple(f.info for f, _ in stmt.values), self._collect(stmt.where, params))
        sql = self._cache.get(shape)
        if sql is None:
            ph = self._ph()
            sets = ", ".join(f"{self.dialect.quote(f.column)} = {ph()}" for f, _ in stmt.values)
            table = self.plan(stmt.model).table
            sql = f"UPDATE {table} SET {sets}{self._where(stmt.where, ph, table)}"
            self._store(shape, sql)
        return sql, params

    def delete(self, stmt: Delete) -> tuple[str, list[Any]]:
        """``DELETE FROM ... WHERE ...``."""
        params: list[Any] = []
        shape = ("delete", stmt.model, self._collect(stmt.where, params))
        sql = self._cache.get(shape)
        if sql is None:
            table = self.plan(stmt.model).table
            sql = self._store(shape, f"DELETE FROM {table}{self._where(stmt.where, self._ph(), table)}")
        return sql, params

    # -- schema -------------------------------------------------------------

    def create_table(self, info: ModelInfo, *, name: str | None = None, unique: bool = True) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` plus ``CREATE INDEX IF NOT EXISTS`` statements.

        ``name`` creates the table under another name (a table being rebuilt);
        ``unique=False`` leaves out the unique constraints (made as indexes instead).
        """
        d = self.dialect
        q = d.quote
        single = len(info.key) == 1
        parts: list[str] = []
        for f in info.fields:
            if f.key:
                parts.append(d.key_column(f, single))
            else:
                parts.append(f"{q(f.column)} {d.column_type(f)}{'' if f.nullable else ' NOT NULL'}")
        if info.key and not (single and "PRIMARY KEY" in parts[info.fields.index(info.key[0])]):
            parts.append(f"PRIMARY KEY ({', '.join(q(f.column) for f in info.key)})")
        for f in info.fields:
            if f.unique and not (single and f.key) and unique:
                parts.append(f"CONSTRAINT {q(d.index_name(info.name, [f.column], True))} UNIQUE ({q(f.column)})")
        for f in info.fields:
            target = f.references()
            if target is not None and d.foreign_keys:
                parts.append(
                    f"FOREIGN KEY ({q(f.column)}) REFERENCES {q(target.model.name)} ({q(target.column)})"
                )
        out = [f"CREATE TABLE IF NOT EXISTS {q(name or info.name)} (\n  " + ",\n  ".join(parts) + "\n)"]
        for f in info.fields:
            if f.index and not f.unique and not f.key:
                out.append(
                    f"CREATE INDEX IF NOT EXISTS {q(d.index_name(info.name, [f.column]))} "
                    f"ON {q(info.name)} ({q(f.column)})"
                )
        return out

    def expected_type(self, f: FieldInfo) -> str:
        """The canonical type of a field's column (compare with inspected types through ``canonical_type``)."""
        return self.dialect.canonical_type(self.dialect.column_type(f))

    def schema_change(self, change: SchemaChange) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements, with their bound values, that apply one :class:`~ommi.driver.SchemaChange`.

        Values that existing rows get (backfills) are bound as parameters; a
        column default is written as a SQL literal only when the value has an
        exact literal form.

        Raises:
            UnsupportedError: the dialect cannot make this change in place.
        """
        core = self._schema_core(change)
        before = change.before
        if not (self.dialect.alter_drops_indexes and before is not None and change.kind in _ALTERING):
            return core
        f = change.field
        if change.kind in ("add_column", "add_required_column") and f is not None and f.nullable:
            return core  # adding a column that allows NULL works beside indexes; NOT NULL does not
        # DuckDB refuses to alter a table that has indexes: drop them, alter, build them again
        d = self.dialect
        q = d.quote
        after = change.model
        # the indexes before the change, and those an earlier change of the same step built
        names = dict.fromkeys(
            [d.index_name(before.name, [c], u) for c, u in _indexed(before)]
            + [d.index_name(after.name, [c], u) for c, u in _indexed(after)]
        )
        drops: list[tuple[str, tuple[Any, ...]]] = [(f"DROP INDEX IF EXISTS {q(n)}", ()) for n in names]
        creates = [
            (
                f"CREATE {'UNIQUE INDEX' if u else 'INDEX'} IF NOT EXISTS {q(d.index_name(after.name, [c], u))} "
                f"ON {q(after.name)} ({q(c)})",
                (),
            )
            for c, u in _indexed(after)
            if change.kind not in d.rebuild_changes  # a rebuilt table has its indexes already
        ]
        return [*drops, *core, *creates]

    def _schema_core(self, change: SchemaChange) -> list[tuple[str, tuple[Any, ...]]]:  # noqa: C901
        d = self.dialect
        q = d.quote
        info = change.model
        table = q(info.name)
        f = change.field
        kind = change.kind
        rebuilds = d.alter_drops_indexes and change.before is not None  # indexes are handled around the change
        if kind in d.rebuild_changes and change.before is not None:
            return self._rebuild(change)
        if kind == "add_table":
            return [(sql, ()) for sql in self.create_table(info)]
        if kind == "drop_table":
            return [(self.drop_table(info), ())]
        if kind == "rename_table":
            out: list[tuple[str, tuple[Any, ...]]] = [(f"ALTER TABLE {q(change.old or '')} RENAME TO {table}", ())]
            if change.before is not None and not rebuilds:
                for c, u in _indexed(change.before):
                    old_name, new_name = d.index_name(change.before.name, [c], u), d.index_name(info.name, [c], u)
                    out += [(sql, ()) for sql in d.rename_index(table, q(old_name), q(new_name), q(c), u)]
            return out
        if kind == "drop_column":
            out = []
            old_field = change.old_field
            if old_field is not None and not rebuilds:
                # SQLite refuses to drop an indexed column; the index goes first everywhere
                for c, u in _indexed(change.before):  # type: ignore[arg-type]
                    if c == old_field.column:
                        out.append((f"DROP INDEX IF EXISTS {q(d.index_name(info.name, [c], u))}", ()))
            return [*out, (f"ALTER TABLE {table} DROP COLUMN {q(change.column or '')}", ())]
        if kind == "rename_column":
            out = [(f"ALTER TABLE {table} RENAME COLUMN {q(change.old or '')} TO {q(change.column or '')}", ())]
            if change.before is not None and not rebuilds:
                for c, u in _indexed(change.before):
                    if c == change.old:
                        old_name = d.index_name(info.name, [c], u)
                        new_name = d.index_name(info.name, [change.column or ""], u)
                        out += [
                            (sql, ())
                            for sql in d.rename_index(table, q(old_name), q(new_name), q(change.column or ""), u)
                        ]
            return out
        if kind == "drop_index":
            return [(f"DROP INDEX {q(d.index_name(info.name, [change.column or '']))}", ())]
        if kind == "drop_unique":
            # no IF EXISTS: a unique constraint declared with its table (create_models)
            # has no index of this name, and dropping it must not silently do nothing
            return [(f"DROP INDEX {q(d.index_name(info.name, [change.column or ''], True))}", ())]
        if kind == "change_key" or f is None:
            raise errors.UnsupportedError(f"{kind} on {info.name} cannot be applied in place: {change.detail}")
        col = q(f.column)
        if kind in ("add_column", "add_required_column"):
            return self._add_column(change, f, table, col)
        if kind == "backfill":
            return [self._backfill(f, table, col, change.value)]
        if kind == "add_index":
            return [(f"CREATE INDEX IF NOT EXISTS {q(d.index_name(info.name, [f.column]))} ON {table} ({col})", ())]
        if kind == "add_unique":
            name = q(d.index_name(info.name, [f.column], True))
            return [(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {table} ({col})", ())]
        if kind == "retype_column":
            return [(sql, ()) for sql in d.retype_column(table, col, d.column_type(f))]
        if kind == "change_nullability":
            out = []
            if not f.nullable and change.value is not NO_DEFAULT:
                out.append(self._backfill(f, table, col, change.value))
            return out + [(sql, ()) for sql in d.set_nullable(table, col, f.nullable)]
        raise errors.UnsupportedError(f"unknown schema change {kind!r}")

    def _rebuild(self, change: SchemaChange, fill: Any = NO_DEFAULT) -> list[tuple[str, tuple[Any, ...]]]:
        """Rebuild the table in its new shape, for changes the database cannot make in place.

        The rows are copied aside, the table is dropped and created again, and
        the rows come back converted (``CAST``), backfilled with ``fill`` (the
        change's value by default; bound, and through ``COALESCE`` for an
        existing column) or without a dropped column. Re-inserting each key
        restores what rows of other tables refer to, which the database checks
        at commit (see ``rebuild_prelude``).
        """
        d = self.dialect
        q = d.quote
        after, before = change.model, change.before
        assert before is not None
        table, copy = q(after.name), q("ommi_copy_" + after.name)
        targets, sources, params = [], [], []
        ph = self._ph()
        if fill is NO_DEFAULT:
            fill = change.value
        for f in after.fields:
            old = before.by_column.get(f.column)
            filled = f.column == change.column and fill is not NO_DEFAULT and fill is not None
            if old is None and not filled:
                continue
            if old is None:
                expr = ph()
            else:
                expr = q(old.column)
                if d.column_type(old) != d.column_type(f):
                    expr = f"CAST({expr} AS {d.column_type(f)})"
                if filled:
                    expr = f"COALESCE({expr}, {ph()})"
            if filled:
                params.append(self._encode(f, f.check(fill)))
            targets.append(q(f.column))
            sources.append(expr)
        out: list[tuple[str, tuple[Any, ...]]] = [(sql, ()) for sql in d.rebuild_prelude]
        out += [
            (f"CREATE TABLE {copy} AS SELECT * FROM {table}", ()),
            (f"DROP TABLE {table}", ()),
            (self.create_table(after, unique=False)[0], ()),
            (f"INSERT INTO {table} ({', '.join(targets)}) SELECT {', '.join(sources)} FROM {copy}", tuple(params)),
            (f"DROP TABLE {copy}", ()),
        ]
        for c, u in _indexed(after):
            kind = "UNIQUE INDEX" if u else "INDEX"
            out.append((f"CREATE {kind} IF NOT EXISTS {q(d.index_name(after.name, [c], u))} ON {table} ({q(c)})", ()))
        return out

    def _backfill(self, f: FieldInfo, table: str, col: str, value: Any) -> tuple[str, tuple[Any, ...]]:
        ph = self._ph()
        return f"UPDATE {table} SET {col} = {ph()} WHERE {col} IS NULL", (self._encode(f, f.check(value)),)

    def _add_column(
        self, change: SchemaChange, f: FieldInfo, table: str, col: str
    ) -> list[tuple[str, tuple[Any, ...]]]:
        d = self.dialect
        q = d.quote
        sql = f"ALTER TABLE {table} ADD COLUMN {col} {d.column_type(f)}"
        target = f.references()
        if target is not None and d.foreign_keys and change.before is not None:
            sql += f" REFERENCES {q(target.model.name)} ({q(target.column)})"
        value = change.value
        if f.nullable:
            if value is NO_DEFAULT or value is None:
                return [(sql, ())]
            return [(sql, ()), self._backfill(f, table, col, value)]
        if value is NO_DEFAULT or value is None:
            value = literal_default(f)
            if value is NO_DEFAULT:
                value = _zero_value(f)
        value = f.check(value)
        if _exact_literal(d, f, value):
            return [(f"{sql} NOT NULL DEFAULT {d.literal(f, value)}", ())]
        # no exact literal (inf, -0.0, NUL in text, dates...): bind the value
        if d.alter_drops_indexes and change.before is not None:
            return self._rebuild(change, value)  # DuckDB: no NOT NULL after an UPDATE in one transaction
        try:
            not_null = d.set_nullable(table, col, False)
        except errors.UnsupportedError:
            # SQLite adds a NOT NULL column only with a constant default; rows then get the bound value
            return [(f"{sql} NOT NULL DEFAULT 0", ()), self._backfill_all(f, table, col, value)]
        return [(sql, ()), self._backfill_all(f, table, col, value), *((s, ()) for s in not_null)]

    def _backfill_all(self, f: FieldInfo, table: str, col: str, value: Any) -> tuple[str, tuple[Any, ...]]:
        return f"UPDATE {table} SET {col} = {self._ph()()}", (self._encode(f, f.check(value)),)

    def render_schema_change(self, change: SchemaChange) -> list[str]:
        """:meth:`schema_change` as text: each statement ends with ``;``, bound values follow in a comment."""
        return [render_statement(sql, params) for sql, params in self.schema_change(change)]

    def drop_table(self, info: ModelInfo) -> str:
        """``DROP TABLE IF EXISTS``."""
        return f"DROP TABLE IF EXISTS {self.dialect.quote(info.name)}"

    # -- internals ----------------------------------------------------------

    def _ph(self) -> _Placeholders:
        return _Placeholders(self.dialect.paramstyle == "numeric")

    def _store(self, shape: Any, sql: str) -> str:
        if len(self._cache) >= self.max_cache:
            self._cache.clear()
        self._cache[shape] = sql
        return sql

    def _page(self, stmt: Select | Aggregate, params: list[Any]) -> tuple[bool, bool]:
        if stmt.limit is not None:
            params.append(stmt.limit)
        if stmt.offset is not None:
            params.append(stmt.offset)
        return stmt.limit is not None, stmt.offset is not None

    def _select_sql(self, stmt: Select, what: str, order: bool = True) -> str:
        ph = self._ph()
        table = self.plan(stmt.model).table
        sql = f"SELECT {what} FROM {table}{self._where(stmt.where, ph, table)}"
        if order and stmt.order_by:
            d = self.dialect
            terms = [
                self._order_term(d.compare_column(t.field.info, d.quote(t.field.column)), t.descending)
                for t in stmt.order_by
            ]
            sql += " ORDER BY " + ", ".join(terms)
        return sql + self._paging(stmt, ph)

    def _order_term(self, expr: str, descending: bool) -> str:
        if not self.dialect.explicit_nulls_order:
            return f"{expr} DESC" if descending else f"{expr} ASC"
        return f"{expr} DESC NULLS LAST" if descending else f"{expr} ASC NULLS FIRST"

    def _paging(self, stmt: Select | Aggregate, ph: _Placeholders) -> str:
        sql = ""
        if stmt.limit is not None:
            sql += f" LIMIT {ph()}"
        if stmt.offset is not None:
            if stmt.limit is None and self.dialect.offset_without_limit:
                sql += " " + self.dialect.offset_without_limit
            sql += f" OFFSET {ph()}"
        return sql

    def _where(self, where: Predicate | None, ph: _Placeholders, table: str) -> str:
        if where is None:
            return ""
        ph.scope = table
        return " WHERE " + self._pred(where, False, ph)

    def _related(self, node: Related, ph: _Placeholders) -> str:
        # EXISTS with correlated subqueries: two-valued even under NOT, and the
        # aliases keep self-references (a category's parent) apart
        q = self.dialect.quote
        outer = ph.scope
        opened: list[str] = []
        for hop in node.path:
            ph.aliases += 1
            alias = q(f"ommi_r{ph.aliases}")
            table = q(hop.target.info.model.name)
            opened.append(
                f"EXISTS (SELECT 1 FROM {table} AS {alias} WHERE "
                f"{alias}.{q(hop.target.column)} = {outer}.{q(hop.source.column)} AND "
            )
            outer = alias
        saved = ph.scope
        ph.scope = outer
        inner = self._pred(node.where, False, ph)
        ph.scope = saved
        return "".join(opened) + inner + ")" * len(opened)

    def _compare(self, op: Op, negate: bool, col: str, raw: str, ph: _Placeholders) -> str:
        d = self.dialect
        if op is Op.EQ:
            return f"{col} {d.null_safe_ne} {ph()}" if negate else f"{col} = {ph()}"
        if op is Op.NE:
            return f"{col} = {ph()}" if negate else f"{col} {d.null_safe_ne} {ph()}"
        if negate:
            return f"({col} {_NEGATED_OP[op]} {ph()} OR {raw} IS NULL)"
        return f"{col} {op.value} {ph()}"

    def _collect(self, node: Predicate | None, params: list[Any]) -> Any:
        """The hashable shape of a predicate; appends its encoded values to ``params``.

        The order of values must match the order of placeholders that
        :meth:`_pred` emits; both walk children left to right.
        """
        if node is None:
            return None
        cls = type(node)
        if cls is Compare:
            params.append(self._encode(node.field.info, node.value))  # type: ignore[union-attr]
            return (node.field.info, node.op)  # type: ignore[union-attr]
        if cls is And or cls is Or:
            return (cls, tuple(self._collect(i, params) for i in node.items))  # type: ignore[union-attr]
        if cls is Not:
            return (Not, self._collect(node.item, params))  # type: ignore[union-attr]
        if cls is IsNull:
            return (IsNull, node.field.info)  # type: ignore[union-attr]
        if cls is In:
            info = node.field.info  # type: ignore[union-attr]
            values = [self._encode(info, v) for v in node.values if v is not None]  # type: ignore[union-attr]
            params.extend(values)
            return (In, info, len(values), None in node.values)  # type: ignore[union-attr]
        if cls is Between:
            info = node.field.info  # type: ignore[union-attr]
            params.append(self._encode(info, node.low))  # type: ignore[union-attr]
            params.append(self._encode(info, node.high))  # type: ignore[union-attr]
            return (Between, info)
        if cls is Related:
            return (Related, node.path, self._collect(node.where, params))  # type: ignore[union-attr]
        if cls is AggCompare:
            params.append(self._agg_param(node.agg, node.value))  # type: ignore[union-attr]
            return (AggCompare, node.agg, node.op)  # type: ignore[union-attr]
        if cls is Like:
            value = self.dialect.like_param(node.pattern)  # type: ignore[union-attr]
            if isinstance(value, tuple):
                params.extend(value)
            else:
                params.append(value)
            return (Like, node.field.info)  # type: ignore[union-attr]
        raise TypeError(f"unknown query node {node!r}")

    def _pred(self, node: Predicate, negate: bool, ph: _Placeholders) -> str:  # noqa: C901
        d = self.dialect
        if isinstance(node, And | Or):
            is_and = isinstance(node, And) != negate  # De Morgan
            joiner = " AND " if is_and else " OR "
            if not node.items:
                return "1 = 1" if is_and else "1 = 0"
            return "(" + joiner.join(self._pred(i, negate, ph) for i in node.items) + ")"
        if isinstance(node, Not):
            return self._pred(node.item, not negate, ph)
        if isinstance(node, Related):
            sql = self._related(node, ph)
            return f"NOT {sql}" if negate else sql
        if isinstance(node, AggCompare):
            expr = self._agg_compare_expr(node.agg)
            return self._compare(node.op, negate, expr, self._agg_expr(node.agg), ph)
        info = node.field.info
        raw = d.quote(info.column)
        col = d.compare_column(info, raw)
        if isinstance(node, Compare):
            return self._compare(node.op, negate, col, raw, ph)
        if isinstance(node, IsNull):
            return f"{raw} IS NOT NULL" if negate else f"{raw} IS NULL"
        if isinstance(node, In):
            n = sum(1 for v in node.values if v is not None)
            has_null = None in node.values
            listed = f"{col} IN ({', '.join(ph() for _ in range(n))})" if n else ""
            if not negate:
                if listed and has_null:
                    return f"({listed} OR {raw} IS NULL)"
                return listed or (f"{raw} IS NULL" if has_null else "1 = 0")
            if not n:
                return f"{raw} IS NOT NULL" if has_null else "1 = 1"
            listed = listed.replace(" IN (", " NOT IN (", 1)
            if has_null:
                return f"({listed} AND {raw} IS NOT NULL)"
            return f"({listed} OR {raw} IS NULL)"
        if isinstance(node, Between):
            lo, hi = ph(), ph()
            if negate:
                return f"({col} NOT BETWEEN {lo} AND {hi} OR {raw} IS NULL)"
            return f"{col} BETWEEN {lo} AND {hi}"
        if isinstance(node, Like):
            if negate:
                return f"({d.like(raw, ph(), True)} OR {raw} IS NULL)"
            return d.like(raw, ph(), False)
        raise TypeError(f"unknown query node {node!r}")


_ALTERING = frozenset(
    {"rename_table", "rename_column", "drop_column", "retype_column", "change_nullability", "add_column",
     "add_required_column"}
)


def _indexed(info: ModelInfo) -> list[tuple[str, bool]]:
    """``(column, unique)`` for each index ommi creates for a model (keys have their own)."""
    single = len(info.key) == 1
    out: list[tuple[str, bool]] = []
    for f in info.fields:
        if f.unique and not (single and f.key):
            out.append((f.column, True))
        elif f.index and not f.unique and not f.key:
            out.append((f.column, False))
    return out


def _exact_literal(d: SQLDialect, f: FieldInfo, value: Any) -> bool:
    """Whether :meth:`SQLDialect.literal` writes ``value`` exactly (else it is bound instead)."""
    encode = d.encoder(f)
    stored = encode(value) if encode is not None else value
    if isinstance(stored, bool | int):
        return True
    if isinstance(stored, float):
        return math.isfinite(stored) and not (stored == 0.0 and math.copysign(1.0, stored) < 0)
    if isinstance(stored, Decimal):
        return stored.is_finite()
    if isinstance(stored, str):
        return "\x00" not in stored
    # dates, times and UUIDs print as the standard literal text of their type
    return isinstance(stored, date | time | uuid.UUID)


def render_statement(sql: str, params: Sequence[Any]) -> str:
    """A statement as text for people to read (``ommi migrate sql``): bound values follow in a comment."""
    if not params:
        return sql + ";"
    return sql + ";  -- with " + ", ".join(f"${i} = {v!r}" for i, v in enumerate(params, 1))


def _zero_value(f: FieldInfo) -> Any:
    zeros: dict[Kind, Any] = {Kind.STR: "", Kind.INT: 0, Kind.FLOAT: 0.0, Kind.BOOL: False, Kind.DECIMAL: Decimal(0)}
    if f.kind not in zeros:
        raise errors.UnsupportedError(
            f"{f.model.name}.{f.column} is required and has no default: give the field a default to add it"
        )
    return zeros[f.kind]


def _keeps_field_type(agg: Agg) -> bool:
    """Whether the aggregate's value has its field's type (so it compares like the field)."""
    if agg.field is None or agg.func in (AggFunc.COUNT, AggFunc.COUNT_DISTINCT):
        return False
    return agg.func is not AggFunc.AVG or agg.field.info.kind is Kind.DECIMAL


def _ascending(f: Any) -> OrderBy:
    return OrderBy(f, False)


def _order_shape(stmt: Select) -> tuple[Any, ...]:
    return tuple((t.field.info, t.descending) for t in stmt.order_by)
