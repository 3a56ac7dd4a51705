"""Tables, constraint checks and transaction layers of the in-memory store.

Isolation works by **copy-on-write snapshots with commit-time validation**
(optimistic concurrency):

* A :class:`Layer` is either the root store or a transaction's view over its
  base (the root, or the enclosing transaction for a savepoint). Beginning a
  layer copies the base's *table dictionary* (cheap) and marks every table
  shared; whoever writes to a shared table first - the base or the layer -
  copies that one table and writes to the copy. So a transaction reads a
  consistent snapshot taken when it began, and nobody sees its writes until
  it commits.
* Commit installs the layer's written tables in the base, after checking that
  none of the tables it read or wrote was replaced in the base since the
  snapshot (the base replaces a table object whenever it writes to it after
  the snapshot). If one was, nothing is installed and the commit fails with a
  conflict: the caller retries. This makes transactions serializable without
  a lock held across ``await``, so a transaction never blocks other work.
* Read-only transactions always commit: their snapshot was consistent.

Every write checks its constraints (keys, unique fields, references) against
the state the write would produce, then applies it, so one statement is
all-or-nothing. The store raises :class:`ConstraintError`; the driver turns
it into :class:`ommi.errors.IntegrityError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ommi import errors
from ommi.driver import (
    NO_DEFAULT,
    FieldInfo,
    Kind,
    LiveColumn,
    LiveTable,
    ModelInfo,
    SchemaChange,
    aggregate_fields,
    convert_value,
    model_info,
    unreadable_row,
)
from ommi.query import (
    AggFunc,
    AggOrder,
    Aggregate,
    And,
    Arith,
    Compare,
    Delete,
    Field,
    Neg,
    Op,
    OrderBy,
    Predicate,
    Select,
    TextCase,
    Update,
    Upsert,
    Value,
    Values,
)

from ._compiler import Codec, Row, Scope, compile_predicate, decoder, encode, encoder, expression, order_rows

_EXPRESSIONS = (Field, Value, Arith, Neg, TextCase)

__all__ = ["ConstraintError", "Layer", "Plan", "Table"]

_INT64_MAX = 2**63 - 1


class ConstraintError(Exception):
    """A write broke a key, unique, reference or NOT NULL constraint (the store's native error).

    ``kind`` and ``columns`` say which (as :class:`ommi.errors.IntegrityError` does,
    in column names); ``referrer`` names the column still referring to a row
    whose removal was refused.
    """

    def __init__(
        self, message: str, kind: str | None = None, columns: tuple[str, ...] = (), referrer: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.columns = columns
        self.referrer = referrer


@dataclass(eq=False)
class Plan:
    """Per-model converters, built once per model and driver."""

    info: ModelInfo
    columns: tuple[str, ...] = field(init=False)
    auto_name: str = field(init=False)
    dump: Callable[[Any], Row] = field(init=False)
    load: Callable[[Sequence[Any]], Any] = field(init=False)

    def __post_init__(self) -> None:
        fields = self.info.fields
        self.columns = tuple(f.column for f in fields)
        self.auto_name = self.info.auto_key.name if self.info.auto_key is not None else ""
        self.dump = self.info.dumper([encoder(f) for f in fields])
        self.load = self.info.loader([decoder(f) for f in fields])


def _shown(value: tuple[Any, ...]) -> str:
    text = repr(value[0] if len(value) == 1 else value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Column:
    """A column as the store keeps it: what ``inspect_schema`` reports, plus a default."""

    name: str
    type: str
    nullable: bool
    default: Any = None  # stored form; fills the column for models that lack it


def column_type(f: FieldInfo) -> str:
    """The type name a field's column has in this store.

    An enum is stored as its values (text or integers), so its column has their
    type, as on the SQL backends.
    """
    if f.kind is Kind.ENUM:
        first: object = next(iter(f.py_type)).value
        return "int" if isinstance(first, int) else "str"
    return str(f.kind.value) + (" (aware)" if f.aware else "")


def column_for(f: FieldInfo, default: Any = None) -> Column:
    """The column of a field (keys are never NULL)."""
    return Column(f.column, column_type(f), f.nullable and not f.key, default)


class _Index:
    """Values of a key or unique column set -> the row holding them."""

    __slots__ = ("columns", "entries", "is_key", "positions")

    def __init__(self, columns: tuple[str, ...], positions: tuple[int, ...], is_key: bool) -> None:
        self.columns = columns
        self.positions = positions
        self.is_key = is_key
        self.entries: dict[tuple[Any, ...], int] = {}

    @property
    def what(self) -> str:
        return ("key (" if self.is_key else "unique (") + ", ".join(self.columns) + ")"

    def copy(self) -> _Index:
        twin = _Index(self.columns, self.positions, self.is_key)
        twin.entries = self.entries.copy()
        return twin

    def value(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[p] for p in self.positions)


@dataclass(frozen=True)
class _Layout:
    """How a model's fields sit in a table's columns (they differ once the schema evolved)."""

    order: tuple[int, ...]  # table position of each field
    same: bool  # fields and columns coincide: no conversion

    def merge(self, base: Row, row: Row) -> Row:
        """``base`` (a stored row or the column defaults) with the model's fields from ``row``."""
        if self.same:
            return row
        out = list(base)
        for value, pos in zip(row, self.order, strict=True):
            out[pos] = value
        return tuple(out)

    def fields(self, stored: Row) -> Row:
        return stored if self.same else tuple(stored[p] for p in self.order)


class Table:
    """The rows of one table, by internal row id (in insertion order), with indexes.

    The structure (columns, key, unique sets, indexes, references) is named by
    column; positions are derived from it, and a schema change builds a new
    table from the changed structure (see :meth:`changed`).
    """

    __slots__ = (
        "auto",
        "columns",
        "defaults",
        "indexes",
        "label",
        "layouts",
        "name",
        "next_rowid",
        "plain",
        "positions",
        "refs",
        "rows",
        "shared",
        "top",
        "unique",
    )

    def __init__(
        self,
        name: str,
        label: str,
        columns: Sequence[Column],
        key: tuple[str, ...],
        unique: Iterable[tuple[str, ...]] = (),
        plain: Iterable[tuple[str, ...]] = (),
        refs: Iterable[tuple[str, str, str]] = (),
        auto: str | None = None,
    ) -> None:
        self.name, self.label = name, label
        self.columns = tuple(columns)
        self.positions = {c.name: i for i, c in enumerate(self.columns)}
        self.defaults = tuple(c.default for c in self.columns)
        self.unique = tuple(dict.fromkeys(unique))
        self.plain = frozenset(plain)  # non-unique indexes: structure only, lookups scan
        self.refs = tuple(refs)  # (column, referenced table, referenced column)
        self.auto = self.positions[auto] if auto is not None else None
        self.indexes = [
            _Index(cols, tuple(self.positions[c] for c in cols), is_key)
            for cols, is_key in ([(key, True)] if key else []) + [(u, False) for u in self.unique]
        ]
        self.rows: dict[int, Row] = {}
        self.layouts: dict[tuple[str, ...], _Layout] = {}
        self.top = 0  # the largest auto key ever stored: new keys start above it
        self.next_rowid = 1
        self.shared = False

    @classmethod
    def from_info(cls, info: ModelInfo) -> Table:
        key = tuple(f.column for f in info.key)
        unique = [(f.column,) for f in info.fields if f.unique and not (f.key and len(key) == 1)]
        plain = [(f.column,) for f in info.fields if f.index and not f.unique and not f.key]
        refs = [(f.column, t.model.name, t.column) for f in info.fields if (t := f.references()) is not None]
        auto = info.auto_key.column if info.auto_key is not None else None
        columns = [column_for(f) for f in info.fields]
        return cls(info.name, info.cls.__name__, columns, key, unique, plain, refs, auto)

    def copy(self) -> Table:
        twin = object.__new__(Table)
        for name in Table.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.rows = self.rows.copy()
        twin.indexes = [i.copy() for i in self.indexes]
        twin.shared = False
        return twin

    def key(self) -> tuple[str, ...]:
        return self.indexes[0].columns if self.indexes and self.indexes[0].is_key else ()

    def key_index(self) -> _Index | None:
        return self.indexes[0] if self.indexes and self.indexes[0].is_key else None

    def changed(
        self,
        convert: Mapping[str, Callable[[Any], Any]] | None = None,
        renamed: Mapping[str, str] | None = None,
        name: str | None = None,
        **structure: Any,
    ) -> Table:
        """A table with a changed structure holding these rows.

        Columns are matched by name; ``renamed`` maps a new column name to the
        old one it takes its values from, and ``name`` renames the table.

        Raises:
            ConstraintError: the rows break a new key or unique constraint.
        """
        spec: dict[str, Any] = {
            "columns": self.columns,
            "key": self.key(),
            "unique": self.unique,
            "plain": self.plain,
            "refs": self.refs,
            "auto": self.columns[self.auto].name if self.auto is not None else None,
        }
        spec.update(structure)
        twin = Table(name or self.name, self.label, **spec)
        source = renamed or {}
        moved = [
            (self.positions.get(source.get(c.name, c.name)), c.default, (convert or {}).get(c.name))
            for c in twin.columns
        ]
        put = {
            rid: tuple(default if p is None else row[p] if fn is None else fn(row[p]) for p, default, fn in moved)
            for rid, row in self.rows.items()
        }
        for pos, column in enumerate(twin.columns):
            if not column.nullable and any(row[pos] is None for row in put.values()):
                raise ConstraintError(f"{self.label}.{column.name} cannot be NOT NULL: some rows hold NULL")
        _check_indexes(twin, put, ())
        _apply(twin, put, ())
        twin.next_rowid, twin.top = self.next_rowid, max(twin.top, self.top)
        return twin

    def layout(self, plan: Plan) -> _Layout:
        found = self.layouts.get(plan.columns)
        if found is None:
            missing = [c for c in plan.columns if c not in self.positions]
            if missing:
                raise errors.SchemaError(
                    f"table {self.name!r} has no column(s) {', '.join(missing)} of {plan.info.cls.__name__}: "
                    "bring the schema up to date with `await db.schema().sync()`"
                )
            order = tuple(self.positions[c] for c in plan.columns)
            found = self.layouts[plan.columns] = _Layout(order, order == tuple(range(len(self.columns))))
        return found


class Layer:
    """The root store (``base is None``) or a transaction's snapshot over ``base``."""

    def __init__(self, base: Layer | None = None) -> None:
        self.base = base
        self.lock: threading.Lock = base.lock if base is not None else threading.Lock()
        self.tables: dict[str, Table] = dict(base.tables) if base is not None else {}
        self.snapshot = dict(self.tables)
        self.touched: set[str] = set()
        self.closed = False
        for t in self.tables.values():
            t.shared = True

    def table(self, name: str) -> Table:
        """A table to read (recorded for the commit-time check)."""
        t = self.tables.get(name)
        if t is None:
            raise errors.SchemaError(
                f"table {name!r} does not exist (create it with `await db.schema().create_models()`)"
            )
        self.touched.add(name)
        return t

    def writable(self, name: str) -> Table:
        """A table to write: copied first if a snapshot still shares it."""
        t = self.table(name)
        if t.shared:
            t = self.tables[name] = t.copy()
        return t

    def commit(self) -> None:
        """Install the written tables in the base, or fail with a conflict and install nothing."""
        base = self.base
        assert base is not None
        if base.closed:
            raise errors.TransactionError("the enclosing transaction has already ended")
        self.closed = True  # committed or failed, this layer is over
        written = [name for name, t in self.tables.items() if self.snapshot.get(name) is not t]
        removed = [name for name in self.snapshot if name not in self.tables]
        if written or removed:
            stale = sorted(n for n in self.touched if base.tables.get(n) is not self.snapshot.get(n))
            if stale:
                raise errors.TransactionError(
                    f"conflict: table(s) {', '.join(stale)} changed outside this transaction since it began; "
                    "nothing was committed, retry the transaction",
                    retryable=True,
                )
            for name in written:
                base.tables[name] = self.tables[name]
            for name in removed:
                base.tables.pop(name, None)
            base.touched |= self.touched

    # -- schema -------------------------------------------------------------

    def create(self, infos: Iterable[ModelInfo]) -> None:
        for info in infos:
            if info.name not in self.tables:
                self.tables[info.name] = Table.from_info(info)

    def drop(self, infos: Iterable[ModelInfo]) -> None:
        for info in infos:
            self.tables.pop(info.name, None)

    def inspect(self, infos: Iterable[ModelInfo]) -> dict[str, LiveTable | None]:
        out: dict[str, LiveTable | None] = {}
        for info in infos:
            t = self.tables.get(info.name)
            out[info.name] = (
                None
                if t is None
                else LiveTable(
                    t.name,
                    tuple(LiveColumn(c.name, c.type, c.nullable) for c in t.columns),
                    t.key(),
                    frozenset(t.unique),
                    t.plain,
                )
            )
        return out

    def evolve(self, changes: Sequence[SchemaChange]) -> None:
        """Apply schema changes to new tables, then install them all (or none, on an error)."""
        staged: dict[str, Table | None] = {}  # None: dropped

        def current(name: str) -> Table | None:
            return staged[name] if name in staged else self.tables.get(name)

        for change in changes:
            name = change.model.name
            if change.kind == "drop_table":
                referring = [n for n in {*self.tables, *staged} if n != name and _refers(current(n), name)]
                if referring:
                    raise errors.SchemaError(f"cannot drop {name}: {', '.join(sorted(referring))} refers to it")
                staged[name] = None
            elif change.kind == "rename_table":
                old = change.old or ""
                t = current(old)
                if t is None:
                    raise errors.SchemaError(f"table {old!r} does not exist")
                if current(name) is not None:
                    raise errors.SchemaError(f"cannot rename {old} to {name}: table {name!r} exists")
                staged[old], staged[name] = None, t.changed(name=name)
                _follow(staged, current, {*self.tables, *staged}, (old, None), (name, None))
            else:
                staged[name] = _evolved(current(name), change)
                if change.kind == "rename_column":
                    _follow(staged, current, {*self.tables, *staged}, (name, change.old), (name, change.column))
        for name, t in staged.items():
            if t is None:
                self.tables.pop(name, None)
            else:
                self.tables[name] = t
        self.touched |= staged.keys()

    # -- statements -----------------------------------------------------------

    def _table_for(self, plan: Plan) -> tuple[Table, _Layout]:
        # writes copy a shared table only once they are known to succeed (see _write): a
        # failed or empty write must not look like a change to a transaction's snapshot
        t = self.table(plan.info.name)
        return t, t.layout(plan)

    def _source(self, name: str) -> tuple[Mapping[str, int], Iterable[Row]]:
        t = self.table(name)
        return t.positions, t.rows.values()

    def _scope(self, t: Table, grouped: bool = False) -> Scope:
        return Scope(t.name, t.positions, self._source, grouped, self._subquery)

    def _subquery(self, stmt: Values) -> list[Row]:
        return self._projected(stmt, decoded=False)

    def _projected(self, stmt: Values, decoded: bool) -> list[Row]:
        """The rows of a values statement: filtered, ordered, made distinct, paged, projected."""
        t = self.table(model_name(stmt))
        rows = self._ordered(t, stmt.select)
        scope = self._scope(t)
        getters = [scope.getter(f) for f in stmt.fields]
        out = [tuple(g(row) for g in getters) for row in rows]
        if stmt.distinct:
            out = list(dict.fromkeys(out))  # the first of equal tuples keeps its place in the order
        out = _page(out, stmt.select.offset, stmt.select.limit)
        if not decoded:
            return out
        codecs = [decoder(f.info) for f in stmt.fields]
        return [_decoded_row(row, codecs, [f.info for f in stmt.fields]) for row in out]

    def snapshot_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows as dicts of stored values (for ``raw``)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name in list(self.tables):
            t = self.table(name)
            out[name] = [dict(zip((c.name for c in t.columns), row, strict=True)) for row in t.rows.values()]
        return out

    def values(self, stmt: Values) -> list[Row]:
        """A values statement's rows as Python values."""
        return self._projected(stmt, decoded=True)

    def _ordered(self, t: Table, stmt: Select) -> list[Row]:
        rows = [row for _, row in self._matching(t, stmt.where)]
        if stmt.order_by:
            scope = self._scope(t)
            order_rows(rows, [(expression(o.field, scope), o.descending) for o in stmt.order_by])
        return rows

    def _matching(self, t: Table, where: Predicate | None) -> list[tuple[int, Row]]:
        if where is None:
            return list(t.rows.items())
        test = compile_predicate(where, self._scope(t))
        return [(rid, row) for rid, row in _candidates(t, where) if test(row)]

    def select(self, plan: Plan, stmt: Select) -> list[Row]:
        """The matching rows, as the model's field values in field order."""
        t, layout = self._table_for(plan)
        rows = self._ordered(t, stmt)
        return [layout.fields(row) for row in _page(rows, stmt.offset, stmt.limit)]

    def count(self, plan: Plan, stmt: Select) -> int:
        return len(_page(self._matching(self._table_for(plan)[0], stmt.where), stmt.offset, stmt.limit))

    def insert(self, plan: Plan, instances: Sequence[Any]) -> list[tuple[Any, int]]:
        """Store the instances; return ``(instance, generated key)`` pairs to write back."""
        fields = [plan.dump(m) for m in instances]  # validates everything before any change
        t, layout = self._table_for(plan)
        rows = [layout.merge(t.defaults, row) for row in fields]
        generated: list[tuple[Any, int]] = []
        ai = t.auto
        if ai is not None:
            pending = [i for i, row in enumerate(rows) if row[ai] is None]
            given = [row[ai] for row in rows if row[ai] is not None]
            for i, key in zip(pending, _new_keys(t, len(pending), given), strict=True):
                rows[i] = (*rows[i][:ai], key, *rows[i][ai + 1 :])
                generated.append((instances[i], key))
        t = _write(self, t, {t.next_rowid + n: row for n, row in enumerate(rows)}, frozenset())
        t.next_rowid += len(rows)
        return generated

    def update(self, plan: Plan, stmt: Update) -> int:
        t, _ = self._table_for(plan)
        scope = self._scope(t)
        # an expression is computed from the row as it was before the update (as SQL does)
        sets = [
            (
                t.positions[f.column],
                expression(v, scope) if isinstance(v, _EXPRESSIONS) else _constant(encode(f.info, v)),
            )
            for f, v in stmt.values
        ]
        put: dict[int, Row] = {}
        for rid, row in self._matching(t, stmt.where):
            new = list(row)
            for pos, compute in sets:
                new[pos] = compute(row)
            put[rid] = tuple(new)
        _write(self, t, put, frozenset())
        return len(put)

    def upsert(self, plan: Plan, stmt: Upsert) -> list[tuple[Any, Any]]:
        """Insert or update each instance by its ``on`` columns; return ``(instance, key)`` pairs to write back."""
        t, layout = self._table_for(plan)
        rows = [layout.merge(t.defaults, plan.dump(m)) for m in stmt.instances]  # validate everything first
        on = tuple(t.positions[f.column] for f in stmt.on)
        index = next((i for i in t.indexes if i.positions == on), None)
        if index is None:
            raise errors.QueryError(f"{plan.info.cls.__name__}: no key or unique index on the upsert's fields")
        key_index = t.key_index()
        put: dict[int, Row] = {}
        claimed: dict[tuple[Any, ...], int] = {}
        written: list[tuple[Any, Any]] = []
        next_rowid = t.next_rowid
        fresh: list[int] = []
        for m, row in zip(stmt.instances, rows, strict=True):
            value = index.value(row)
            rid = claimed.get(value) if None not in value else None
            if rid is None and None not in value:
                rid = index.entries.get(value)
            if rid is not None:
                old = put.get(rid, t.rows.get(rid))
                assert old is not None
                keep = set(key_index.positions) if key_index is not None else set()
                keep |= set(on)
                row = tuple(old[p] if p in keep else v for p, v in enumerate(row))
            else:
                rid = next_rowid
                next_rowid += 1
                fresh.append(rid)
            put[rid] = row
            if None not in value:
                claimed[value] = rid
            written.append((m, rid))
        ai = t.auto
        if ai is not None:
            pending = [rid for rid in fresh if put[rid][ai] is None]
            given = [put[rid][ai] for rid in put if put[rid][ai] is not None]
            for rid, key in zip(pending, _new_keys(t, len(pending), given), strict=True):
                put[rid] = (*put[rid][:ai], key, *put[rid][ai + 1 :])
        t = _write(self, t, put, frozenset())
        t.next_rowid = next_rowid
        keys = key_index.positions if key_index is not None else ()
        return [(m, tuple(put[rid][p] for p in keys)) for m, rid in written]

    def save(self, plan: Plan, instances: Sequence[Any]) -> int:
        t, layout = self._table_for(plan)
        keys = t.key_index()
        if keys is None:
            raise errors.QueryError(f"{plan.info.cls.__name__} has no key, so instances cannot be saved")
        put: dict[int, Row] = {}
        for m in instances:
            row = layout.merge(t.defaults, plan.dump(m))
            rid = keys.entries.get(keys.value(row))
            if rid is None:
                raise errors.NotFound(
                    f"cannot save {plan.info.cls.__name__} with key {plan.info.key_of(m)!r}: no such row"
                )
            put[rid] = layout.merge(t.rows[rid], row) if not layout.same else row
        _write(self, t, put, frozenset())
        return len(instances)

    def delete(self, plan: Plan, stmt: Delete) -> int:
        t, _ = self._table_for(plan)
        drop = frozenset(rid for rid, _ in self._matching(t, stmt.where))
        _write(self, t, {}, drop)
        return len(drop)

    def aggregate(self, plan: Plan, stmt: Aggregate) -> list[tuple[Any, ...]]:
        t, _ = self._table_for(plan)
        rows = [row for _, row in self._matching(t, stmt.where)]
        scope, grouped = self._scope(t), self._scope(t, grouped=True)
        # a group is (its first row, its rows); group fields are equal across it
        groups: list[tuple[Row, list[Row]]]
        if stmt.group_by:
            getters = [scope.getter(f) for f in stmt.group_by]
            by_value: dict[tuple[Any, ...], list[Row]] = {}
            for row in rows:
                by_value.setdefault(tuple(g(row) for g in getters), []).append(row)
            groups = [(members[0], members) for members in by_value.values()]
        else:
            groups = [((), rows)]  # one group, also when nothing matched
        if stmt.having is not None:
            test = compile_predicate(stmt.having, grouped)
            groups = [g for g in groups if test(g)]
        terms = [
            (grouped.aggregate(o.agg) if isinstance(o, AggOrder) else grouped.getter(_field(o.field)), o.descending)
            for o in (*stmt.order_by, *(OrderBy(f) for f in stmt.group_by))
        ]
        order_rows(groups, terms)
        out_fields = [(grouped.getter(f), decoder(f.info)) for f in stmt.group_by]
        for agg in stmt.aggregates:
            keeps_type = agg.field is not None and agg.func in (AggFunc.MIN, AggFunc.MAX)
            codec = decoder(agg.field.info) if keeps_type and agg.field is not None else None
            out_fields.append((grouped.aggregate(agg), codec))
        codecs = [codec for _, codec in out_fields]
        fields = aggregate_fields(stmt)
        return [
            _decoded_row(tuple(get(g) for get, _ in out_fields), codecs, fields)
            for g in _page(groups, stmt.offset, stmt.limit)
        ]


def _zero(f: FieldInfo) -> Any:
    zeros: dict[Kind, Any] = {Kind.STR: "", Kind.INT: 0, Kind.FLOAT: 0.0, Kind.BOOL: False, Kind.DECIMAL: Decimal(0)}
    if f.kind not in zeros:
        raise errors.UnsupportedError(
            f"{f.model.name}.{f.column} is required and has no default: give the field a default to add it"
        )
    return zeros[f.kind]


def _stored(f: FieldInfo, value: Any) -> Any:
    """A value checked and encoded for the field, as a schema change stores it."""
    try:
        return encode(f, f.check(value))
    except errors.ValidationError as exc:
        raise errors.SchemaError(f"cannot convert {value!r} for {f.model.name}.{f.column}: {exc}") from exc


def _refers(t: Table | None, name: str) -> bool:
    return t is not None and any(target == name for _, target, _ in t.refs)


def _follow(
    staged: dict[str, Table | None],
    current: Callable[[str], Table | None],
    names: Iterable[str],
    old: tuple[str, str | None],
    new: tuple[str, str | None],
) -> None:
    """Point references to a renamed table (column ``None``) or column at its new name."""
    for name in names:
        t = current(name)
        if t is None or not any(target == old[0] and (old[1] is None or col == old[1]) for _, target, col in t.refs):
            continue
        refs = [
            (c, new[0], new[1] if old[1] is not None and col == old[1] else col)
            if target == old[0]
            else (c, target, col)
            for c, target, col in t.refs
        ]
        staged[name] = t.changed(refs=refs)


def _evolved(t: Table | None, change: SchemaChange) -> Table:  # noqa: C901
    """The table after one schema change."""
    info, f, kind = change.model, change.field, change.kind
    if kind == "add_table":
        return t if t is not None else Table.from_info(info)
    if t is None:
        raise errors.SchemaError(f"table {info.name!r} does not exist")
    if kind == "rename_column":
        old, new = change.old or "", change.column or ""
        if old not in t.positions:
            raise errors.SchemaError(f"table {info.name!r} has no column {old!r}")

        def swap(cols: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(new if c == old else c for c in cols)

        auto = t.columns[t.auto].name if t.auto is not None else None
        return t.changed(
            renamed={new: old},
            columns=[Column(new, c.type, c.nullable, c.default) if c.name == old else c for c in t.columns],
            key=swap(t.key()),
            unique=[swap(u) for u in t.unique],
            plain=[swap(i) for i in t.plain],
            refs=[(new if c == old else c, target, col) for c, target, col in t.refs],
            auto=new if auto == old else auto,
        )
    if kind in ("drop_index", "drop_unique"):
        cols = (change.column or "",)
        if kind == "drop_index":
            return t.changed(plain=t.plain - {cols})
        return t.changed(unique=[u for u in t.unique if u != cols])
    if kind == "drop_column":
        gone = change.column
        if gone in t.key():
            raise errors.UnsupportedError(f"cannot drop {info.name}.{gone}: it is part of the key")
        return t.changed(
            columns=[c for c in t.columns if c.name != gone],
            unique=[u for u in t.unique if gone not in u],
            plain=[i for i in t.plain if gone not in i],
            refs=[r for r in t.refs if r[0] != gone],
        )
    if kind == "change_key":
        auto = info.auto_key.column if info.auto_key is not None else None
        return t.changed(key=tuple(k.column for k in info.key), auto=auto)
    if f is None:
        raise errors.UnsupportedError(f"{kind} on {info.name} cannot be applied: {change.detail}")
    if kind in ("add_column", "add_required_column"):
        default = change.value
        if default is NO_DEFAULT:
            default = f.default if f.default is not NO_DEFAULT and f.default is not None else None
            if default is None and not f.nullable:
                default = _zero(f)
        target = f.references()
        refs = [*t.refs, (f.column, target.model.name, target.column)] if target is not None else t.refs
        stored = None if default is None else _stored(f, default)
        return t.changed(columns=[*t.columns, column_for(f, stored)], refs=refs)
    if kind == "add_index":
        return t.changed(plain=t.plain | {(f.column,)})
    if kind == "add_unique":
        return t.changed(unique=[*t.unique, (f.column,)])
    columns = [column_for(f, c.default) if c.name == f.column else c for c in t.columns]
    if kind == "retype_column":
        was = change.old_field
        if was is not None:  # a migration: convert each value as SQL's CAST would
            back = decoder(was)

            def cast(v: Any) -> Any:
                try:
                    return encode(f, convert_value(f, v if back is None or v is None else back(v)))
                except errors.ValidationError as exc:
                    raise errors.SchemaError(f"cannot convert {info.name}.{f.column}: {exc}") from exc

            return t.changed(convert={f.column: cast}, columns=columns)
        return t.changed(convert={f.column: lambda v: None if v is None else _stored(f, v)}, columns=columns)
    fill: dict[str, Callable[[Any], Any]] = {}
    if change.value is not NO_DEFAULT and change.value is not None:
        stored = _stored(f, change.value)
        fill[f.column] = lambda v: stored if v is None else v
    if kind == "backfill":
        return t.changed(convert=fill)
    if kind == "change_nullability":
        return t.changed(convert=fill if not f.nullable else None, columns=columns)
    raise errors.UnsupportedError(f"unknown schema change {kind!r}")


def _field(expr: Any) -> Field:
    assert isinstance(expr, Field)  # groups are ordered by group fields (checked when the query is built)
    return expr


def _constant(value: Any) -> Callable[[Row], Any]:
    return lambda row: value


def model_name(stmt: Values) -> str:
    """The table a values statement reads."""
    return model_info(stmt.select.model).name


def _decoded(value: Any, codec: Codec) -> Any:
    return value if codec is None or value is None else codec(value)


def _decoded_row(row: Row, codecs: Sequence[Codec], fields: Sequence[FieldInfo | None]) -> tuple[Any, ...]:
    """A row of stored values decoded; a value its field cannot take is a ``ValidationError`` naming the field."""
    try:
        return tuple(_decoded(v, c) for v, c in zip(row, codecs, strict=True))
    except Exception as exc:
        raise unreadable_row(fields, codecs, row, exc) from exc


def _page(items: list[Any], offset: int | None, limit: int | None) -> list[Any]:
    start = offset or 0
    return items[start:] if limit is None else items[start : start + limit]


def _candidates(t: Table, where: Predicate) -> Iterable[tuple[int, Row]]:
    """The rows a lookup by key (``get``, ``delete(instance)``) can reach, else every row."""
    keys = t.key_index()
    if keys is None:
        return t.rows.items()
    wanted: dict[int, Any] = {}
    for node in where.items if isinstance(where, And) else (where,):
        if isinstance(node, Compare) and node.op is Op.EQ:
            wanted[t.positions.get(node.field.column, -1)] = encode(node.field.info, node.value)
    if not all(p in wanted for p in keys.positions):
        return t.rows.items()
    rid = keys.entries.get(tuple(wanted[p] for p in keys.positions))
    return [] if rid is None else [(rid, t.rows[rid])]


def _new_keys(t: Table, n: int, given: Sequence[int]) -> Sequence[int]:
    """``n`` new auto keys above every key stored or given (the lowest free ones once 2**63-1 is taken)."""
    top = max([t.top, *given])
    if top + n <= _INT64_MAX:
        return range(top + 1, top + n + 1)
    keys = t.key_index()
    assert keys is not None
    used = {value[0] for value in keys.entries} | set(given)
    found: list[int] = []
    candidate = 1
    while len(found) < n:
        if candidate not in used:
            found.append(candidate)
        candidate += 1
    return found


# -- writes: check against the state after the change, then apply ---------------


def _after(t: Table, put: Mapping[int, Row], drop: Collection[int]) -> Iterator[Row]:
    """The rows of ``t`` once the change is applied."""
    yield from put.values()
    for rid, row in t.rows.items():
        if rid not in put and rid not in drop:
            yield row


def _present(t: Table, pos: int, put: Mapping[int, Row], drop: Collection[int]) -> Callable[[Any], bool]:
    """Membership in column ``pos`` of ``t`` after the change (by index when there is one)."""
    index = next((i for i in t.indexes if i.positions == (pos,)), None)
    if index is None:
        return {row[pos] for row in _after(t, put, drop)}.__contains__
    added = {row[pos] for row in put.values()}

    def has(value: Any) -> bool:
        rid = index.entries.get((value,))
        return value in added or (rid is not None and rid not in put and rid not in drop)

    return has


def _write(layer: Layer, t: Table, put: dict[int, Row], drop: Collection[int]) -> Table:
    """Replace or add the ``put`` rows and remove the ``drop`` rows of ``t``, all or nothing.

    Returns the table written (a copy of ``t`` when a snapshot shares it).
    """
    if not put and not drop:
        return t
    for pos, column in enumerate(t.columns):
        if not column.nullable and any(row[pos] is None for row in put.values()):
            raise ConstraintError(f"{t.label}.{column.name} cannot be NULL", "not_null", (column.name,))
    _check_indexes(t, put, drop)
    _check_references_out(layer, t, put, drop)
    _check_references_in(layer, t, put, drop)
    t = layer.writable(t.name)
    _apply(t, put, drop)
    return t


def _apply(t: Table, put: Mapping[int, Row], drop: Collection[int]) -> None:
    for rid in (*drop, *put):
        old = t.rows.get(rid)
        if old is not None:
            for index in t.indexes:
                value = index.value(old)
                if index.entries.get(value) == rid:
                    del index.entries[value]
    for rid in drop:
        del t.rows[rid]
    for rid, row in put.items():
        t.rows[rid] = row
        for index in t.indexes:
            value = index.value(row)
            if None not in value:
                index.entries[value] = rid
        if t.auto is not None and row[t.auto] is not None:
            t.top = max(t.top, row[t.auto])


def _check_indexes(t: Table, put: Mapping[int, Row], drop: Collection[int]) -> None:
    for index in t.indexes:
        claimed: dict[tuple[Any, ...], int] = {}
        for rid, row in put.items():
            value = index.value(row)
            if None in value:
                if index.is_key:
                    raise ConstraintError(f"{t.label}: a {index.what} field cannot be NULL", "not_null", index.columns)
                continue  # several NULLs never collide
            holder = claimed.get(value)
            if holder is None:
                holder = index.entries.get(value)
                if holder is not None and (holder in put or holder in drop):
                    holder = None  # that row is being replaced or removed; put holds its new value
            if holder is not None:
                kind = "key" if index.is_key else "unique"
                raise ConstraintError(
                    f"{t.label}: another row already has {index.what} = {_shown(value)}", kind, index.columns
                )
            claimed[value] = rid


def _check_references_out(layer: Layer, t: Table, put: Mapping[int, Row], drop: Collection[int]) -> None:
    for column, target_name, target_column in t.refs:
        pos = t.positions[column]
        new = set()
        for rid, row in put.items():
            old = t.rows.get(rid)
            if row[pos] is not None and (old is None or old[pos] != row[pos]):
                new.add(row[pos])
        if not new:
            continue
        target = layer.table(target_name)
        if target_column not in target.positions:
            raise errors.SchemaError(
                f"{t.label}.{column} refers to {target_name}.{target_column}, which does not exist"
            )
        exists = (
            _present(t, t.positions[target_column], put, drop)
            if target is t
            else _present(target, target.positions[target_column], {}, ())
        )
        for value in new:
            if not exists(value):
                raise ConstraintError(
                    f"{t.label}.{column} = {_shown((value,))} refers to no {target_name} row "
                    f"(no {target_name}.{target_column} has that value)",
                    "reference",
                    (column,),
                )


def _check_references_in(layer: Layer, t: Table, put: Mapping[int, Row], drop: Collection[int]) -> None:
    for source_name in list(layer.tables):
        other = layer.tables[source_name]
        refs = [(other.positions[c], col) for c, name, col in other.refs if name == t.name and col in t.positions]
        for pos, column in refs:
            tpos = t.positions[column]
            lost = set()
            for rid in (*drop, *put):
                old = t.rows.get(rid)
                if old is not None and old[tpos] is not None and (rid in drop or put[rid][tpos] != old[tpos]):
                    lost.add(old[tpos])
            if not lost:
                continue
            still = _present(t, tpos, put, drop)
            lost = {v for v in lost if not still(v)}
            if not lost:
                continue
            source = layer.table(source_name)
            rows = _after(t, put, drop) if source is t else iter(source.rows.values())
            for row in rows:
                if row[pos] in lost:
                    raise ConstraintError(
                        f"{t.label} row with {column} = {_shown((row[pos],))} is still referred to by "
                        f"{source.label}.{source.columns[pos].name}; delete or change those rows first",
                        "reference",
                        referrer=f"{source.label}.{source.columns[pos].name}",
                    )
