"""``SQLCompiler``: statement nodes to SQL text plus bound parameters, for any dialect.

Rules the compiler keeps for every dialect:

* identifiers are always quoted; values are always bound as parameters;
* the SQL text depends only on the *shape* of a query, never on its values,
  so it is compiled once per shape and cached (drivers' prepared-statement
  caches then hit too);
* negations are pushed down to the leaves, so that the two-valued logic
  documented in :mod:`ommi.query` holds even though SQL is three-valued.

One walk over a predicate (:meth:`SQLCompiler._walk`) produces all three
things a statement needs: the parameters in placeholder order, the shape
that keys the cache, and, when the shape is new, the text. Parameters and
placeholders come from the same line of code, so their order cannot drift.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import field
from datetime import date, time
from typing import TYPE_CHECKING, Any

from ommi import errors
from ommi._fields import Kind
from ommi._model import ColumnDecoder, FieldInfo, ModelInfo, columns_of, get_model_info
from ommi.driver import NO_DEFAULT, SchemaChange, _unreadable_field, aggregate_fields
from ommi.query import (
    EXPR_TYPES,
    Agg,
    AggCompare,
    AggFunc,
    AggOrder,
    Aggregate,
    And,
    Arith,
    Between,
    Compare,
    CompareExpr,
    Delete,
    Expr,
    Field,
    In,
    InValues,
    IsNull,
    Like,
    LikeExpr,
    Neg,
    Not,
    Op,
    Or,
    OrderBy,
    Predicate,
    Related,
    Select,
    TextCase,
    Update,
    Upsert,
    Value,
    Values,
    expr_kind,
)
from ommi.sql._dialect import ArrayEncoder, Codec, SQLDialect

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = ["ModelPlan", "SQLCompiler", "render_statement"]

_NEGATED_OP = {Op.LT: ">=", Op.LE: ">", Op.GT: "<=", Op.GE: "<"}


RowsDecoder = Callable[[Iterable[Sequence[Any]]], Iterator[tuple[Any, ...]]]
"""Fetched rows of values (projections, aggregates) -> tuples of Python values."""


def rows_decoder(codecs: Sequence[Codec], fields: Sequence[FieldInfo | None] = ()) -> RowsDecoder:
    """Decode fetched rows a column at a time.

    A comprehension per decoded column costs a fraction of a generator per
    row (90 aggregate groups: 110 -> 40 µs with the dicts built from them).
    Only the columns that have a codec are read out of the rows; where no
    codec changes anything, the fetched tuples are handed on as they are
    (70 rows of three columns, no codec: 6.5 -> 1.9 µs; two count/sum columns tested: 9.7 -> 8.6).
    ``fields[i]``: the field column ``i`` holds, named by the ``ValidationError``
    for a stored value its decoder refuses (``None``: a column of no field).
    """
    width = len(codecs)
    decoded = [
        (i, operator.itemgetter(i), *((c.one, c.wants) if isinstance(c, ColumnDecoder) else (c, None)))
        for i, c in enumerate(codecs) if c is not None
    ]
    named = [*fields, *([None] * (width - len(fields)))]

    def decode(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
        if not isinstance(rows, (list, tuple)):
            rows = list(rows)
        if not rows:
            return iter(())
        widths = set(map(len, rows))  # (a driver's defect: every row of a statement is as wide)
        if widths != {width}:
            shown = next(w for w in widths if w != width)
            raise errors.QueryError(f"a fetched row has {shown} values, not {width}")
        changed: dict[int, list[Any]] = {}
        for i, column_of, codec, needed in decoded:
            column = tuple(map(column_of, rows))
            if needed is None or needed(column):
                try:
                    changed[i] = [v if v is None else codec(v) for v in column]
                except Exception as exc:  # a stored value the field cannot take (the value stays unsaid)
                    raise _unreadable_field(named[i], exc) from exc
        if not changed:
            if type(rows) is list and type(rows[0]) is tuple:  # rows of plain tuples, as fetched
                return iter(rows)
            return zip(*columns_of(rows, width), strict=True)
        columns = [changed[i] if i in changed else tuple(map(operator.itemgetter(i), rows)) for i in range(width)]
        return zip(*columns, strict=True)

    return decode


@dataclass(eq=False)
class ModelPlan:
    """Everything precompiled for one model on one dialect (built once, cached).

    The functions that turn instances into rows and rows into instances are
    generated code, each compiled when first used (about 0.1 ms apiece): a
    model only read never compiles its dumpers, and creating the tables
    compiles none (a plan of five fields: 435 µs built whole, 20 µs without them).
    The model keeps what it compiled for the same codecs, so the plans of later
    connections in the process (another ``Ommi``, each server of a replica set)
    reuse it (:meth:`ModelInfo.dumper <ommi.driver.ModelInfo.dumper>` and the others).
    """

    info: ModelInfo
    table: str
    columns: str
    insert_all: str
    insert_auto: str | None
    save: str | None
    auto_index: int | None
    save_order: tuple[int, ...]
    encoders: tuple[Codec, ...] = ()
    """Per field, what converts a value to what the driver stores (``None``: the value as it is)."""
    decoders: tuple[Codec, ...] = ()
    """Per field, what converts a stored value back (``None``: the value as it is)."""
    returning_key: str | None = None
    """``insert_auto ... RETURNING key`` where the dialect has ``RETURNING``."""
    key_columns: str = ""
    """The quoted key columns, comma-separated."""
    skip_returning_key: str | None = None
    """``insert_auto`` inserting nothing on a clash, ``RETURNING key`` (dialects with both)."""
    references: tuple[int, ...] = ()
    """The positions of the fields that refer to another row."""
    uniques: bool = False
    """Whether a field other than the key is unique."""
    unique_besides_key: bool = False
    """Whether a field is unique and not part of the key: a row with a new key may still clash
    (read on every one-row insert, so worked out once)."""
    save_row: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
    """A ``dump`` row -> the parameters of ``save`` (``None``: the row as it is)."""
    save_set: str | None = None
    """One ``UPDATE ... FROM`` writing many rows, each column bound as one array of the ``dump``
    rows' values, in field order (see :attr:`SQLDialect.save_set_from`; ``None``: not used)."""
    save_set_arrays: tuple[ArrayEncoder | None, ...] = ()
    """Per field, what makes ``save_set``'s array parameter from the column (:meth:`SQLDialect.unnest_column`)."""
    row_key: Callable[[tuple[Any, ...]], Any] = operator.itemgetter(0)
    """A ``dump`` row -> its key: the value, or a tuple of a composite key's values."""
    checked: dict[tuple[bool, tuple[int, ...]], str] = field(default_factory=dict)
    """Inserts that check references in the statement (see :meth:`SQLCompiler.insert_if_referenced`)."""

    # Compiled at first use; an instance attribute from then on, read as fast as a field.

    @functools.cached_property
    def auto_name(self) -> str | None:
        """The name of the field whose key the database generates (``None``: no such field)."""
        return None if self.auto_index is None else self.info.fields[self.auto_index].name

    @functools.cached_property
    def add_context(self) -> str:
        """What a failed ``add()`` of the model says first (made once: each add names it)."""
        return f"cannot add {self.info.cls.__name__}"

    @functools.cached_property
    def load(self) -> Callable[[Sequence[Any]], Any]:
        """A stored row (in field order) -> an instance (:meth:`ommi.driver.ModelInfo.loader`)."""
        return self.info.loader(self.decoders)

    @functools.cached_property
    def load_rows(self) -> Callable[[Iterable[Sequence[Any]]], Iterator[Any]]:
        """``map(load, rows)``, or as good and faster (:meth:`ommi.driver.ModelInfo.rows_loader`)."""
        return self.info.rows_loader(self.decoders, self.load)

    @functools.cached_property
    def dump(self) -> Callable[[Any], tuple[Any, ...]]:
        """An instance -> its validated row of stored values, in field order (:meth:`ModelInfo.dumper`)."""
        return self.info.dumper(self.encoders)

    @functools.cached_property
    def dump_auto(self) -> Callable[[Any], tuple[Any, ...]] | None:
        """Like ``dump`` without the generated key: the row for ``insert_auto``."""
        return None if self.auto_index is None else self.info.dumper(self.encoders, self.auto_index)

    @functools.cached_property
    def dump_many(self) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]]:
        """``dump`` of many instances at once (:meth:`ModelInfo.bulk_dumper`): the same rows, faster."""
        return self.info.bulk_dumper(self.encoders, one=self.dump)

    @functools.cached_property
    def dump_auto_many(self) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]] | None:
        """``dump_auto`` of many instances at once."""
        if self.auto_index is None:
            return None
        return self.info.bulk_dumper(self.encoders, self.auto_index, self.dump_auto)


class _Walk:
    """The state of one walk over a statement: parameters, shape, text placeholders, aliases."""

    __slots__ = ("aliases", "dialect", "emit", "n", "params", "scope", "shape")

    def __init__(self, dialect: SQLDialect, params: list[Any], emit: bool) -> None:
        self.dialect = dialect
        self.params = params
        self.shape: list[Any] = []
        self.emit = emit
        self.n = len(params)
        self.aliases = 0
        self.scope = ""

    def bind(self, value: Any) -> str:
        """Add one parameter; its placeholder when emitting text."""
        self.params.append(value)
        self.n += 1
        return self.dialect.placeholder(self.n) if self.emit else ""

    def placeholder(self) -> str:
        """A placeholder for a parameter bound outside the walk (paging, SET values)."""
        self.n += 1
        return self.dialect.placeholder(self.n)


class SQLCompiler:
    """Compile statement nodes to ``(sql, params)`` for one :class:`SQLDialect`."""

    max_cache = 2048

    def __init__(self, dialect: SQLDialect) -> None:
        self.dialect = dialect
        self._plans: dict[type, ModelPlan] = {}
        self._encoders: dict[FieldInfo, Codec] = {}
        self._cache: dict[Any, str] = {}
        self._agg_cache: dict[Any, tuple[str, RowsDecoder]] = {}

    # -- per-model plans ----------------------------------------------------

    def plan(self, model: type) -> ModelPlan:
        """The cached :class:`ModelPlan` of a model."""
        plan = self._plans.get(model)
        if plan is None:
            info = get_model_info(model)
            self.check_names(info)
            plan = self._plans[model] = self._make_plan(info)
        return plan

    def check_names(self, info: ModelInfo) -> None:
        """Refuse table and column names the database would not keep whole (``ModelError``)."""
        limit = self.dialect.max_name_bytes
        if limit is None:
            return
        named = [(f"model {info.cls.__name__}: name", info.name)]
        named += [(f"{info.cls.__name__}.{f.name}: column name", f.column) for f in info.fields]
        for what, name in named:
            size = len(name.encode())
            if size > limit:
                # the database would silently cut it, so two long names could meet
                raise errors.ModelError(
                    f"{what} {name!r} is {size} bytes; {self.dialect.name} keeps names of at most {limit} bytes"
                )

    def _numbered(self, count: int, start: int = 0) -> list[str]:
        return [self.dialect.placeholder(start + i + 1) for i in range(count)]

    def _make_plan(self, info: ModelInfo) -> ModelPlan:
        d = self.dialect
        q = d.quote
        table = q(info.name)
        cols = [q(f.column) for f in info.fields]
        insert_all = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(self._numbered(len(cols)))})"
        auto_index = info.fields.index(info.auto_key) if info.auto_key is not None else None
        insert_auto = returning_key = None
        if auto_index is not None:
            rest = [c for i, c in enumerate(cols) if i != auto_index]
            insert_auto = (
                f"INSERT INTO {table} ({', '.join(rest)}) VALUES ({', '.join(self._numbered(len(rest)))})"
                if rest else f"INSERT INTO {table} {d.default_values}"  # a model of only its generated key
            )
            if d.returning:
                returning_key = f"{insert_auto} RETURNING {cols[auto_index]}"
        save = None
        save_order: tuple[int, ...] = ()
        if info.key:
            key_idx = [info.fields.index(f) for f in info.key]
            other = [i for i in range(len(info.fields)) if i not in key_idx] or key_idx[:1]
            marks = self._numbered(len(other) + len(key_idx))
            sets = ", ".join(f"{cols[i]} = {m}" for i, m in zip(other, marks, strict=False))
            where = " AND ".join(f"{cols[i]} = {m}" for i, m in zip(key_idx, marks[len(other):], strict=True))
            save = f"UPDATE {table} SET {sets} WHERE {where}"
            save_order = tuple(other + key_idx)
        save_set, save_set_arrays = self._save_set(info, table, cols) if d.save_set_from else (None, ())
        references = tuple(i for i, f in enumerate(info.fields) if f.reference is not None)
        return ModelPlan(
            info=info,
            table=table,
            columns=", ".join(d.select_column(f, c) for f, c in zip(info.fields, cols, strict=True)),
            insert_all=insert_all,
            insert_auto=insert_auto,
            save=save,
            auto_index=auto_index,
            save_order=save_order,
            encoders=tuple(d.encoder(f) for f in info.fields),
            decoders=tuple(d.decoder(f) for f in info.fields),
            returning_key=returning_key,
            key_columns=", ".join(q(f.column) for f in info.key),
            skip_returning_key=(
                f"{insert_auto}{d.conflict_skip} RETURNING {cols[auto_index]}"
                if insert_auto is not None and auto_index is not None and d.returning and d.conflict_skip else None
            ),
            references=references,
            uniques=any(f.unique for f in info.fields),
            unique_besides_key=any(f.unique and not f.key for f in info.fields),
            # no reordering where the key is already last (1,000 rows: 66 µs saved)
            save_row=operator.itemgetter(*save_order) if save_order != tuple(range(len(save_order))) else None,
            save_set=save_set,
            save_set_arrays=save_set_arrays,
            row_key=operator.itemgetter(*[info.fields.index(f) for f in info.key] or [0]),
        )

    def _save_set(
        self, info: ModelInfo, table: str, cols: list[str]
    ) -> tuple[str | None, tuple[ArrayEncoder | None, ...]]:
        changed = [i for i, f in enumerate(info.fields) if not f.key]
        if not info.key or not changed or any(f.unique for f in info.fields):
            return None, ()
        d = self.dialect
        bound = [d.unnest_column(f, d.placeholder(i + 1)) for i, f in enumerate(info.fields)]
        # a SELECT of several unnest()s zips the arrays (PostgreSQL, DuckDB)
        values = ", ".join(f"{sql} AS c{i}" for i, (sql, _) in enumerate(bound))
        sets = ", ".join(f"{cols[i]} = v.c{i}" for i in changed)
        on = " AND ".join(f"{table}.{cols[info.fields.index(f)]} = v.c{info.fields.index(f)}" for f in info.key)
        return f"UPDATE {table} SET {sets} FROM (SELECT {values}) AS v WHERE {on}", tuple(e for _, e in bound)

    def insert_if_referenced(self, plan: ModelPlan, auto: bool, refs: tuple[int, ...]) -> str:
        """A one-row insert that inserts nothing when a row it refers to is missing, or on a clash.

        ``refs`` are the positions (in ``plan.info.fields``) of the references
        to check, those not ``NULL`` in the row; their values are bound again
        after the row's. ``auto``: the row leaves out the generated key, which
        comes back (``RETURNING``). The dialect needs ``conflict_skip``.
        """
        sql = plan.checked.get((auto, refs))
        if sql is None:
            d = self.dialect
            q = d.quote
            info = plan.info
            ai = plan.auto_index if auto else None
            cols = [q(f.column) for i, f in enumerate(info.fields) if i != ai]
            marks = self._numbered(len(cols) + len(refs))
            exists = []
            for i, mark in zip(refs, marks[len(cols):], strict=True):
                target = info.fields[i].references()
                assert target is not None
                exists.append(f"EXISTS (SELECT 1 FROM {q(target.model.name)} WHERE {q(target.column)} = {mark})")
            sql = (
                f"INSERT INTO {plan.table} ({', '.join(cols)}) SELECT {', '.join(marks[:len(cols)])} "
                f"WHERE {' AND '.join(exists)}{d.conflict_skip}"
            )
            if auto:
                sql += f" RETURNING {plan.key_columns}"
            plan.checked[(auto, refs)] = sql
        return sql

    def _encode(self, f: FieldInfo, value: Any) -> Any:
        try:
            enc = self._encoders[f]
        except KeyError:
            enc = self._encoders[f] = self.dialect.encoder(f)
        return value if enc is None or value is None else enc(value)

    # -- statements ---------------------------------------------------------

    def _ph(self) -> Callable[[], str]:
        """Numbered placeholders for a statement built outside a walk."""
        return _Walk(self.dialect, [], emit=True).placeholder

    def _compiled(self, shape: tuple[Any, ...], build: Callable[[], str]) -> str:
        sql = self._cache.get(shape)
        if sql is None:
            if len(self._cache) >= self.max_cache:
                self._cache.clear()
            sql = self._cache[shape] = build()
        return sql

    def _shape(self, where: Predicate | None, params: list[Any]) -> tuple[Any, ...]:
        """Walk ``where`` once for its parameters and shape (no text)."""
        if where is None:
            return ()
        if type(where) is Compare:  # the commonest filter (a lookup by key): what the walk would give
            info = where.field.info
            params.append(self._encode(info, where.value))
            return ((Compare, info, where.op),)
        w = _Walk(self.dialect, params, emit=False)
        self._walk(where, False, w)
        return tuple(w.shape)

    def select(self, stmt: Select) -> tuple[str, list[Any]]:
        """``SELECT`` of all fields in field order."""
        params: list[Any] = []
        where = self._shape(stmt.where, params)
        shape = ("select", stmt.model, where, self._order_shape(stmt, params), *_page(stmt, params))
        sql = self._cache.get(shape)  # (_compiled's first step: no closure to build on a hit)
        if sql is None:
            sql = self._compiled(shape, lambda: self._select_sql(stmt, self.plan(stmt.model).columns))
        return sql, params

    def values(self, stmt: Values) -> tuple[str, list[Any], RowsDecoder]:
        """``SELECT [DISTINCT] fields ...``, plus the rows decoder."""
        params: list[Any] = []
        select = stmt.select
        where = self._shape(select.where, params)
        fields = tuple(f.info for f in stmt.fields)
        shape = ("values", select.model, fields, stmt.distinct, where, self._order_shape(select, params),
                 *_page(select, params))

        def build() -> str:
            return self._values_sql(stmt, _Walk(self.dialect, [], emit=True))

        decode = rows_decoder([self.dialect.decoder(f) for f in fields], fields)
        return self._compiled(shape, build), params, decode

    def _values_sql(self, stmt: Values, w: _Walk) -> str:
        d = self.dialect
        if stmt.distinct:
            # values equal as the field compares them are one (SQLite: decimal text through its collation)
            what = "DISTINCT " + ", ".join(
                d.select_column(f.info, d.compare_column(f.info, d.quote(f.column))) for f in stmt.fields
            )
        else:
            what = ", ".join(d.select_column(f.info, d.quote(f.column)) for f in stmt.fields)
        return self._select_sql(stmt.select, what, w=w)

    def count(self, stmt: Select) -> tuple[str, list[Any]]:
        """``SELECT COUNT(*)`` honouring the select's limit and offset."""
        params: list[Any] = []
        where = self._shape(stmt.where, params)
        shape = ("count", stmt.model, where, *_page(stmt, params))
        sql = self._cache.get(shape)  # (a hit builds no closure)
        if sql is not None:
            return sql, params

        def build() -> str:
            if stmt.limit is None and stmt.offset is None:
                return self._select_sql(stmt, "COUNT(*)", order=False)
            inner = self._select_sql(stmt, "1", order=False)
            return f"SELECT COUNT(*) FROM ({inner}) AS ommi_page"

        return self._compiled(shape, build), params

    def aggregate(self, stmt: Aggregate) -> tuple[str, list[Any], RowsDecoder]:
        """``SELECT group fields, aggregates ... GROUP BY ... HAVING ...``, plus the rows decoder."""
        params: list[Any] = []
        where = self._shape(stmt.where, params)
        having = self._shape(stmt.having, params)
        shape = (
            "aggregate", stmt.model, where, tuple(f.info for f in stmt.group_by), having,
            stmt.aggregates, stmt.order_by, *_page(stmt, params),
        )
        cached = self._agg_cache.get(shape)
        if cached is None:
            if len(self._agg_cache) >= self.max_cache:
                self._agg_cache.clear()
            cached = self._agg_cache[shape] = (self._aggregate_sql(stmt), self._aggregate_decoder(stmt))
        return cached[0], params, cached[1]

    def update(self, stmt: Update) -> tuple[str, list[Any]]:
        """``UPDATE ... SET ... WHERE ...``; a value may be an expression over the row (``views + 1``)."""
        params: list[Any] = []
        sets_shape: list[Any] = []
        for f, v in stmt.values:
            if isinstance(v, EXPR_TYPES):
                w = _Walk(self.dialect, params, emit=False)
                self._expr(v, w)
                sets_shape.append((f.info, tuple(w.shape)))
            else:
                params.append(self._encode(f.info, v))
                sets_shape.append(f.info)
        where = self._shape(stmt.where, params)
        shape = ("update", stmt.model, tuple(sets_shape), where)
        sql = self._cache.get(shape)  # (a hit builds no closure)
        if sql is not None:
            return sql, params

        def build() -> str:
            w = _Walk(self.dialect, [], emit=True)
            table = self.plan(stmt.model).table
            w.scope = table
            sets = ", ".join(
                f"{self.dialect.quote(f.column)} = "
                + (self._expr(v, w) if isinstance(v, EXPR_TYPES) else w.placeholder())
                for f, v in stmt.values
            )
            return f"UPDATE {table} SET {sets}{self._where(stmt.where, w, table)}"

        return self._compiled(shape, build), params

    def upsert(self, plan: ModelPlan, stmt: Upsert, auto: bool) -> str:
        """The statement inserting one row, or updating the row its ``on`` columns clash with.

        ``auto``: the row leaves out the generated key (``plan.dump_auto`` rows).
        With ``RETURNING``, the stored key columns come back.
        """
        shape = ("upsert", stmt.model, tuple(f.info for f in stmt.on), auto)

        def build() -> str:
            d = self.dialect
            info = plan.info
            fields = [f for i, f in enumerate(info.fields) if not (auto and i == plan.auto_index)]
            cols = [d.quote(f.column) for f in fields]
            marks = ", ".join(self._numbered(len(cols)))
            keep = {f.info for f in stmt.on} | set(info.key)
            updated = [d.quote(f.column) for f in fields if f not in keep]
            conflict = [d.quote(f.column) for f in stmt.on]
            keys = [d.quote(f.column) for f in info.key]
            if not cols:  # a model of only its generated key, left out: a new row, which cannot clash
                returning = f" RETURNING {', '.join(keys)}" if d.upsert_returns_key else ""
                return f"INSERT INTO {plan.table} {d.default_values}{returning}"
            sql = f"INSERT INTO {plan.table} ({', '.join(cols)}) VALUES ({marks})"
            return sql + d.upsert_clause(conflict, updated, keys, plan.auto_index is not None)

        return self._compiled(shape, build)

    def delete(self, stmt: Delete) -> tuple[str, list[Any]]:
        """``DELETE FROM ... WHERE ...``."""
        params: list[Any] = []
        shape = ("delete", stmt.model, self._shape(stmt.where, params))
        sql = self._cache.get(shape)  # (a hit builds no closure)
        if sql is not None:
            return sql, params

        def build() -> str:
            table = self.plan(stmt.model).table
            return f"DELETE FROM {table}{self._where(stmt.where, _Walk(self.dialect, [], emit=True), table)}"

        return self._compiled(shape, build), params

    def exists_any(self, model: type, where: Predicate) -> tuple[str, list[Any]]:
        """``SELECT 1 FROM ... WHERE ... LIMIT 1``: whether any row matches."""
        params: list[Any] = []
        shape = ("exists", model, self._shape(where, params))

        def build() -> str:
            table = self.plan(model).table
            return f"SELECT 1 FROM {table}{self._where(where, _Walk(self.dialect, [], emit=True), table)} LIMIT 1"

        return self._compiled(shape, build), params

    # -- text ---------------------------------------------------------------

    def _select_sql(self, stmt: Select, what: str, order: bool = True, w: _Walk | None = None) -> str:
        w = w or _Walk(self.dialect, [], emit=True)
        table = self.plan(stmt.model).table
        sql = f"SELECT {what} FROM {table}{self._where(stmt.where, w, table)}"
        if order and stmt.order_by:
            w.scope = table
            terms = [self._order_term(self._comparable(t.field, w), t.descending) for t in stmt.order_by]
            sql += " ORDER BY " + ", ".join(terms)
        return sql + self._paging(stmt, w)

    def _order_shape(self, stmt: Select, params: list[Any]) -> tuple[Any, ...]:
        """The shape of the ordering terms; expressions add their parameters (after the filter's)."""
        if not stmt.order_by:
            return ()
        if all(isinstance(t.field, Field) for t in stmt.order_by):
            return tuple((t.field.info, t.descending) for t in stmt.order_by)  # type: ignore[union-attr]
        w = _Walk(self.dialect, params, emit=False)
        for t in stmt.order_by:
            self._expr(t.field, w)
            w.shape.append(t.descending)
        return tuple(w.shape)

    # -- expressions ----------------------------------------------------------

    def _expr(self, node: Expr, w: _Walk) -> str:
        """Parameters, shape and (when emitting) text of an expression."""
        d = self.dialect
        match node:
            case Field(info=info):
                w.shape.append(info)
                return d.quote(info.column) if w.emit else ""
            case Value(value=value, kind=kind):
                w.shape.append((Value, kind))
                enc = d.encoders.get(kind)
                mark = w.bind(value if enc is None else enc(value))
                return d.cast_value(mark, kind) if w.emit else ""
            case Arith(op=op, left=left, right=right, kind=kind):
                w.shape.append((Arith, op, kind))
                a, b = self._expr(left, w), self._expr(right, w)
                return d.arith_sql(op, kind, a, b) if w.emit else ""
            case Neg(item=item, kind=kind):
                w.shape.append((Neg, kind))
                inner = self._expr(item, w)
                return d.neg_sql(kind, inner) if w.emit else ""
            case TextCase(func=func, item=item):
                w.shape.append((TextCase, func))
                inner = self._expr(item, w)
                return d.case_sql(func, inner) if w.emit else ""
            case _:
                raise TypeError(f"unknown expression node {node!r}")

    def _comparable(self, node: Expr, w: _Walk) -> str:
        """An expression as comparisons and ORDER BY read it (collations for exact types)."""
        sql = self._expr(node, w)
        if not w.emit:
            return ""
        if isinstance(node, Field):
            return self.dialect.compare_column(node.info, sql)
        return self.dialect.compare_expression(expr_kind(node), sql)

    def _aggregate_sql(self, stmt: Aggregate) -> str:
        d = self.dialect
        w = _Walk(d, [], emit=True)
        groups = [d.quote(f.column) for f in stmt.group_by]
        items = [d.select_column(f.info, g) for f, g in zip(stmt.group_by, groups, strict=True)]
        items += [self._agg_expr(a) for a in stmt.aggregates]
        table = self.plan(stmt.model).table
        sql = f"SELECT {', '.join(items)} FROM {table}{self._where(stmt.where, w, table)}"
        if groups:
            # grouping compares like the field (a decimal collation on SQLite)
            sql += " GROUP BY " + ", ".join(
                d.compare_column(f.info, g) for f, g in zip(stmt.group_by, groups, strict=True)
            )
        if stmt.having is not None:
            w.scope = table
            sql += " HAVING " + self._walk(stmt.having, False, w)
        orders = stmt.order_by or tuple(OrderBy(f) for f in stmt.group_by)
        if orders:
            terms = []
            for term in orders:
                if isinstance(term, AggOrder):
                    expr = self._agg_compare_expr(term.agg)
                else:
                    expr = self._comparable(term.field, w)  # a group field
                terms.append(self._order_term(expr, term.descending))
            sql += " ORDER BY " + ", ".join(terms)
        return sql + self._paging(stmt, w)

    def _aggregate_decoder(self, stmt: Aggregate) -> RowsDecoder:
        codecs = [self.dialect.decoder(f.info) for f in stmt.group_by]
        codecs += [self.dialect.aggregate_decoder(a) for a in stmt.aggregates]
        return rows_decoder(codecs, aggregate_fields(stmt))

    def _agg_expr(self, agg: Agg) -> str:
        col = self.dialect.quote(agg.field.column) if agg.field is not None else None
        return self.dialect.aggregate_sql(agg, col)

    def _agg_compare_expr(self, agg: Agg) -> str:
        expr = self._agg_expr(agg)
        if agg.field is not None and _keeps_field_type(agg):
            expr = self.dialect.compare_column(agg.field.info, expr)
        return expr

    def _order_term(self, expr: str, descending: bool) -> str:
        if not self.dialect.explicit_nulls_order:
            return f"{expr} DESC" if descending else f"{expr} ASC"
        return f"{expr} DESC NULLS LAST" if descending else f"{expr} ASC NULLS FIRST"

    def _paging(self, stmt: Select | Aggregate, w: _Walk) -> str:
        sql = ""
        if stmt.limit is not None:
            sql += f" LIMIT {w.placeholder()}"
        if stmt.offset is not None:
            if stmt.limit is None and self.dialect.offset_without_limit:
                sql += " " + self.dialect.offset_without_limit
            sql += f" OFFSET {w.placeholder()}"
        return sql

    def _where(self, where: Predicate | None, w: _Walk, table: str) -> str:
        if where is None:
            return ""
        w.scope = table
        return " WHERE " + self._walk(where, False, w)

    # -- the walk -------------------------------------------------------------

    def _walk(self, node: Predicate, negate: bool, w: _Walk) -> str:  # noqa: C901 - one case per node type
        """Parameters, shape and (when ``w.emit``) text of a predicate, ``negate``-d by De Morgan."""
        d = self.dialect
        match node:
            case Compare(field=fld, op=op, value=value):
                w.shape.append((Compare, fld.info, op))
                mark = w.bind(self._encode(fld.info, value))
                if not w.emit:
                    return ""
                raw = d.quote(fld.column)
                return self._compare(op, negate, d.compare_column(fld.info, raw), raw, mark)
            case And() | Or():
                conj = isinstance(node, And) != negate
                w.shape.append((type(node), len(node.items)))
                parts = [self._walk(i, negate, w) for i in node.items]
                if not w.emit:
                    return ""
                if not parts:
                    return "1 = 1" if conj else "1 = 0"
                return "(" + (" AND " if conj else " OR ").join(parts) + ")"
            case Not(item=item):
                w.shape.append(Not)
                return self._walk(item, not negate, w)
            case Related():
                w.shape.append((Related, node.path))
                return self._related(node, negate, w)
            case AggCompare(agg=agg, op=op, value=value):
                w.shape.append((AggCompare, agg, op))
                mark = w.bind(self._encode(agg.field.info, value) if agg.field and _keeps_field_type(agg) else value)
                if not w.emit:
                    return ""
                return self._compare(op, negate, self._agg_compare_expr(agg), self._agg_expr(agg), mark)
            case IsNull(field=fld):
                w.shape.append((IsNull, fld.info))
                if not w.emit:
                    return ""
                return f"{d.quote(fld.column)} IS {'NOT ' if negate else ''}NULL"
            case In(field=fld, values=values):
                return self._in(fld.info, values, negate, w)
            case Between(field=fld, low=low, high=high):
                w.shape.append((Between, fld.info))
                lo, hi = w.bind(self._encode(fld.info, low)), w.bind(self._encode(fld.info, high))
                if not w.emit:
                    return ""
                raw = d.quote(fld.column)
                col = d.compare_column(fld.info, raw)
                if negate:
                    return f"({col} NOT BETWEEN {lo} AND {hi} OR {raw} IS NULL)"
                return f"{col} BETWEEN {lo} AND {hi}"
            case CompareExpr(left=left, op=op, right=right):
                w.shape.append((CompareExpr, op))
                a, b = self._comparable(left, w), self._expr(right, w)
                if not w.emit:
                    return ""
                # a positive comparison with NULL is already false in a WHERE whose negations
                # were pushed down; a negated one is made two-valued with COALESCE
                if op is Op.NE:  # the complement of ==: true where either side is NULL
                    return f"{a} = {b}" if negate else f"NOT COALESCE({a} = {b}, FALSE)"
                test = f"{a} {op.value} {b}"
                return f"NOT COALESCE({test}, FALSE)" if negate else test
            case LikeExpr(expr=expr, pattern=pattern):
                form = d.like_form(pattern)
                w.shape.append((LikeExpr, form))
                sql = self._expr(expr, w)
                value = d.like_param(pattern, form)
                marks = [w.bind(v) for v in value] if isinstance(value, tuple) else [w.bind(value)]
                if not w.emit:
                    return ""
                if negate:
                    return f"({d.like(sql, marks[0], True, form)} OR {sql} IS NULL)"
                return d.like(sql, marks[0], False, form)
            case InValues(field=fld, query=query):
                return self._in_values(fld, query, negate, w)
            case Like(field=fld, pattern=pattern):
                form = d.like_form(pattern)
                w.shape.append((Like, fld.info, form))
                value = d.like_param(pattern, form)
                marks = [w.bind(v) for v in value] if isinstance(value, tuple) else [w.bind(value)]
                if not w.emit:
                    return ""
                raw = d.quote(fld.column)
                # a dialect binding several values repeats one placeholder's text per value
                if negate:
                    return f"({d.like(raw, marks[0], True, form)} OR {raw} IS NULL)"
                return d.like(raw, marks[0], False, form)
            case _:
                raise TypeError(f"unknown query node {node!r}")

    def _in(self, info: FieldInfo, values: tuple[Any, ...], negate: bool, w: _Walk) -> str:
        d = self.dialect
        listed_values = [self._encode(info, v) for v in values if v is not None]
        has_null = len(listed_values) != len(values)
        n = len(listed_values)
        array = d.in_array and n > 0
        w.shape.append((In, info, -1 if array else n, has_null))
        marks = [w.bind(listed_values)] if array else [w.bind(v) for v in listed_values]
        if not w.emit:
            return ""
        raw = d.quote(info.column)
        col = d.compare_column(info, raw)
        listed = ""
        if array:
            listed = d.in_array_sql(col, marks[0], negate)
        elif n:
            listed = d.in_list(col, marks, negate)
        if not negate:
            if listed and has_null:
                return f"({listed} OR {raw} IS NULL)"
            return listed or (f"{raw} IS NULL" if has_null else "1 = 0")
        if not n:
            return f"{raw} IS NOT NULL" if has_null else "1 = 1"
        if has_null:
            return f"({listed} AND {raw} IS NOT NULL)"
        return f"({listed} OR {raw} IS NULL)"

    def _in_values(self, fld: Field, query: Values, negate: bool, w: _Walk) -> str:
        # the subquery's NULLs match nothing: they are filtered out, so NOT IN stays two-valued
        d = self.dialect
        select = query.select
        (inner,) = query.fields
        paged = select.limit is not None or select.offset is not None
        w.shape.append((InValues, fld.info, select.model, inner.info, paged, query.distinct, len(select.order_by)))
        table = d.quote(self.plan(select.model).info.name)
        col = d.quote(inner.column)
        saved = w.scope
        w.scope = table
        where = self._walk(select.where, False, w) if select.where is not None else ""
        order = ""
        if paged and select.order_by:
            order = " ORDER BY " + ", ".join(
                self._order_term(self._comparable(t.field, w), t.descending) for t in select.order_by
            )
        limit = w.bind(select.limit) if select.limit is not None else None
        offset = w.bind(select.offset) if select.offset is not None else None
        w.scope = saved
        if not w.emit:
            return ""
        if paged:
            page = f" LIMIT {limit}" if limit is not None else (
                f" {d.offset_without_limit}" if d.offset_without_limit else ""
            )
            if offset is not None:
                page += f" OFFSET {offset}"
            cond = f" WHERE {where}" if where else ""
            sub = (
                f"SELECT ommi_q.ommi_v FROM (SELECT {'DISTINCT ' if query.distinct else ''}{col} AS ommi_v "
                f"FROM {table}{cond}{order}{page}) AS ommi_q "
                "WHERE ommi_q.ommi_v IS NOT NULL"
            )
        else:
            cond = f" WHERE {where} AND {col} IS NOT NULL" if where else f" WHERE {col} IS NOT NULL"
            sub = f"SELECT {col} FROM {table}{cond}"
        raw = d.quote(fld.column)
        outer = d.compare_column(fld.info, raw)
        if negate:
            return f"({outer} NOT IN ({sub}) OR {raw} IS NULL)"
        return f"{outer} IN ({sub})"

    def _related(self, node: Related, negate: bool, w: _Walk) -> str:
        # EXISTS with correlated subqueries: two-valued even under NOT, and the
        # aliases keep self-references (a category's parent) apart
        q = self.dialect.quote
        outer = w.scope
        opened: list[str] = []
        for hop in node.path:
            w.aliases += 1
            alias = q(f"ommi_r{w.aliases}")
            table = q(hop.target.info.model.name)
            opened.append(
                f"EXISTS (SELECT 1 FROM {table} AS {alias} WHERE "
                f"{alias}.{q(hop.target.column)} = {outer}.{q(hop.source.column)} AND "
            )
            outer = alias
        saved = w.scope
        w.scope = outer
        inner = self._walk(node.where, False, w)
        w.scope = saved
        if not w.emit:
            return ""
        sql = "".join(opened) + inner + ")" * len(opened)
        return f"NOT {sql}" if negate else sql

    def _compare(self, op: Op, negate: bool, col: str, raw: str, mark: str) -> str:
        d = self.dialect
        if op is Op.EQ:
            return d.null_safe_not_equal(col, mark) if negate else f"{col} = {mark}"
        if op is Op.NE:
            return f"{col} = {mark}" if negate else d.null_safe_not_equal(col, mark)
        if negate:
            return f"({col} {_NEGATED_OP[op]} {mark} OR {raw} IS NULL)"
        return f"{col} {op.value} {mark}"

    # -- schema -------------------------------------------------------------

    def create_table(self, info: ModelInfo, *, name: str | None = None, unique: bool = True) -> list[str]:
        """``CREATE TABLE IF NOT EXISTS`` plus ``CREATE INDEX IF NOT EXISTS`` statements.

        ``name`` creates the table under another name (a table being rebuilt);
        ``unique=False`` leaves out the unique constraints (made as indexes instead).
        """
        self.check_names(info)
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
                # named, so that a violation reports which field it was (IntegrityError.fields)
                parts.append(
                    f"CONSTRAINT {q(d.foreign_key_name(info.name, f.column))} "
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
            ModelError: a name is longer than the database keeps.
        """
        self.check_names(change.model)
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
        drops: list[tuple[str, tuple[Any, ...]]] = [(d.drop_index(q(before.name), q(n)), ()) for n in names]
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
                        out.append((d.drop_index(table, q(d.index_name(info.name, [c], u))), ()))
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
            return [(d.drop_index(table, q(d.index_name(info.name, [change.column or ""])), if_exists=False), ())]
        if kind == "drop_unique":
            # no IF EXISTS: a unique constraint declared with its table (create_models)
            # has no index of this name, and dropping it must not silently do nothing
            name = q(d.index_name(info.name, [change.column or ""], True))
            return [(d.drop_index(table, name, if_exists=False), ())]
        if kind == "change_key" or f is None:
            raise errors.UnsupportedError(f"{kind} on {info.name} cannot be applied in place: {change.detail}")
        col = q(f.column)
        if kind in ("add_column", "add_required_column"):
            return self._add_column(change, f, table, col)
        if kind == "backfill":
            return [self.backfill(f, table, col, change.value)]
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
                out.append(self.backfill(f, table, col, change.value))
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

    def backfill(self, f: FieldInfo, table: str, col: str, value: Any) -> tuple[str, tuple[Any, ...]]:
        """``UPDATE ... SET col = ? WHERE col IS NULL`` with the value bound."""
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
            return [(sql, ()), self.backfill(f, table, col, value)]
        if value is NO_DEFAULT or value is None:
            from ommi._migrate import literal_default  # a migration adding a required column

            value = literal_default(f)
            if value is NO_DEFAULT:
                value = _zero_value(f)
        value = f.check(value)
        if _exact_literal(d, f, value):
            return [(f"{sql} NOT NULL DEFAULT {d.literal(f, value)}", ())]
        exact = d.exact_expression(f, value)
        if exact is not None:  # a constant expression the dialect writes exactly (DuckDB: CAST('inf' ...))
            return [(f"{sql} NOT NULL DEFAULT {exact}", ())]
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


def _page(stmt: Select | Aggregate, params: list[Any]) -> tuple[bool, bool]:
    if stmt.limit is not None:
        params.append(stmt.limit)
    if stmt.offset is not None:
        params.append(stmt.offset)
    return stmt.limit is not None, stmt.offset is not None


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
    from decimal import Decimal  # schema defaults only: importing it costs every start about 1 ms

    if isinstance(stored, Decimal):
        return stored.is_finite()
    if isinstance(stored, str):
        return "\x00" not in stored
    # dates, times and UUIDs print as the standard literal text of their type
    import uuid  # only for schema defaults: not worth its import time at start-up

    return isinstance(stored, date | time | uuid.UUID)


def render_statement(sql: str, params: Sequence[Any]) -> str:
    """A statement as text for people to read (``ommi migrate sql``): bound values follow in a comment."""
    if not params:
        return sql + ";"
    return sql + ";  -- with " + ", ".join(f"${i} = {v!r}" for i, v in enumerate(params, 1))


def _zero_value(f: FieldInfo) -> Any:
    from decimal import Decimal

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


