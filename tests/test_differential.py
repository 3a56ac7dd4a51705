"""Differential fuzzing: every backend returns exactly what the ``memory://`` oracle returns.

Hypothesis generates small data sets (tens of rows, drawn from value pools
full of edge cases so that predicates actually match and ties occur) and
random queries: predicate trees over every operator, ordering with ties
broken by the key, limit and offset, counts, and aggregates with group_by and
having. Each batch of queries runs against one data set on the backend under
test and on a private ``memory://`` store (the pure-Python reference driver in
examples/ommi-memory), and the answers must be identical, value for value and
type for type.

Tolerances (the only places "identical" is relaxed), each because backends
legitimately compute the value differently:

* ``Avg`` of a float or int field, and ``Sum`` of a float field: the oracle
  sums correctly rounded (``math.fsum``), SQL engines and MongoDB add in row
  order, so the last bits differ: relative 1e-12, and for the float field
  also absolute ``n * 2**-52 * sum(|f|)`` over the data set's ``n`` rows (the
  bound of adding ``n`` floats in any order: where they cancel, as
  ``999999.0 + -999999.9999999999 + ...``, the sum is small and its last
  bits are those of the addends, not its own).
* ``Sum``/``Avg`` of the float field over a data set holding huge values
  (beyond 1e100) are not compared: ``1e300 + x - 1e300`` is ``x`` or ``0``
  depending on the order rows are added in, which SQL leaves to the engine.
* ``Avg`` of a Decimal field: the oracle divides to 28 significant digits,
  PostgreSQL to its own scale and DuckDB in DOUBLE (documented in
  docs/backends/duckdb.md): relative 1e-12.

Counts and sizes are in docs/reliability.md; ``OMMI_SOAK=10`` runs ten times
as many; a failure prints the query and the data set so it can be pinned.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import strategies as st

from ommi import (
    Avg,
    AwareDatetime,
    Count,
    CountDistinct,
    DBFailure,
    Key,
    Max,
    Min,
    ModelCollection,
    Ommi,
    Sum,
    ommi_model,
)
from ommi._predicates import select_from
from ommi.query import AggRef, FieldRef, Values
from tests._fuzz import generate, pinned, scaled

coll = ModelCollection("differential")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@ommi_model(collection=coll)
@dataclass
class Row:
    k: Annotated[int, Key]
    s: str | None = None
    t: str | None = None
    i: int | None = None
    n: int | None = None
    f: float | None = None
    d: Decimal | None = None
    dt: datetime | None = None
    at: AwareDatetime | None = None
    day: date | None = None
    flag: bool | None = None


# -- value pools --------------------------------------------------------------------------
# Small pools make predicates match and groups and ties form; each holds the edge cases.

STRS = [
    "",
    "a",
    "A",
    "b",
    "B",
    "ab",
    "abc",
    "Ab",
    "a%b",
    "a_b",
    "a\\b",
    "%",
    "_",
    "\\",
    "é",
    "e\u0301",
    "Z",
    "z",
    "ß",
    "日本",
    "😀",
    "a😀",
    "\x00",
    "a\x00b",
    "'",
    '"',
    " ",
    "a ",
    "ÿ",
    "\uffff",
    "\U0010ffff",
    "x'); DROP TABLE Row; --",
    "$ne",
    "*",
    ".*",
]
STR_CHARS = sorted({c for s in STRS for c in s})
INTS = [0, 1, -1, 2, 7, -7, 42, 2**31 - 1, -(2**31), 2**53 + 1, INT64_MIN, INT64_MAX, INT64_MAX - 1, INT64_MIN + 1]
SMALL_INTS = list(range(-5, 6)) + [100, -100, 10**12]
# ±0.0, subnormals, huge values and infinities are stored and compared; NaN is refused by ommi.
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, -2.25, 0.1, 0.2, 1e-300, 5e-324, 1e300, -1e300, math.inf, -math.inf, 3.0]
# Portable Decimals (see docs/reliability.md) are <= 28 digits before the point, <= 10 after, <= 34 in all;
# here at most 22 before the point, so that sums of a data set's 30 rows stay portable too (DuckDB's
# DECIMAL(38, 10) sum overflows past 28 digits; MongoDB's Decimal128 rounds past 34). test_roundtrip
# stores the full-width values.
DECIMALS = [
    Decimal(x)
    for x in [
        "0",
        "0.0",
        "-0",
        "1",
        "1.0",
        "1.50",
        "-1.5",
        "0.1",
        "0.0000000001",
        "-0.0000000001",
        "3.14159",
        "123456789012345678.0123456789",
        "-123456789012345678.0123456789",
        "9999999999999999999999",
        "-9999999999999999999999.9999999999",
        "100",
        "1E+2",
        "42.4200",
    ]
]
NAIVE = [
    datetime(1, 1, 1),
    datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime(1970, 1, 1),
    datetime(2000, 2, 29, 12),
    datetime(2024, 5, 1, 12, 0, 0, 1),
    datetime(2024, 5, 1, 12, 0, 0, 2),
    datetime(2024, 5, 1, 12),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]
ZONES = [
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)),
    timezone(timedelta(hours=14)),
]
AWARE = [
    datetime(2024, 5, 1, 12, tzinfo=UTC),
    datetime(2024, 5, 1, 17, 30, tzinfo=ZONES[1]),  # the same instant as the first
    datetime(2024, 5, 1, 4, 0, 0, 1, tzinfo=ZONES[2]),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=ZONES[3]),
    datetime(2, 1, 1, tzinfo=ZONES[1]),
]
DAYS = [date(1, 1, 1), date(1970, 1, 1), date(2000, 2, 29), date(2024, 5, 1), date(2024, 5, 2), date(9999, 12, 31)]


def _pool(values: list[Any], extra: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    base = st.sampled_from(values)
    return base if extra is None else st.one_of(base, base, extra)


POOLS: dict[str, st.SearchStrategy[Any]] = {
    "s": _pool(STRS, st.text(st.sampled_from(STR_CHARS), max_size=4)),
    "t": _pool(STRS[:12]),
    "i": _pool(INTS, st.integers(INT64_MIN, INT64_MAX)),
    "n": _pool(SMALL_INTS),
    "f": _pool(FLOATS, st.floats(allow_nan=False, width=64, min_value=-1e6, max_value=1e6)),
    "d": _pool(
        DECIMALS, st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
    ),
    "dt": _pool(NAIVE, st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2100, 1, 1))),
    "at": _pool(
        AWARE,
        st.builds(
            lambda d, z: d.replace(tzinfo=z),
            st.datetimes(min_value=datetime(1960, 1, 2), max_value=datetime(2100, 1, 1)),
            st.sampled_from(ZONES),
        ),
    ),
    "day": _pool(DAYS),
    "flag": st.sampled_from([True, False]),
}
COLUMNS = list(POOLS)
REFS: dict[str, FieldRef] = {name: getattr(Row, name) for name in COLUMNS}
TEXT = ["s", "t"]
ORDERED = [
    c for c in COLUMNS if c != "flag"
]  # bool has == and in_ only in this generator: True > False is not portable intent


@st.composite
def datasets(draw: st.DrawFn) -> list[Row]:
    size = draw(st.integers(0, 30))
    rows = []
    for k in range(size):
        values = {c: draw(st.one_of(st.none(), POOLS[c], POOLS[c])) for c in COLUMNS}
        rows.append(Row(k=k * 3 - 20, **values))
    return rows


# -- predicates ----------------------------------------------------------------------------

_PATTERN_PIECES = ["%", "_", "\\%", "\\_", "\\\\", *STR_CHARS]


@st.composite
def leaves(draw: st.DrawFn) -> Any:
    col = draw(st.sampled_from(COLUMNS))
    ref = REFS[col]
    value = POOLS[col]
    ops = ["==", "!=", "null", "notnull", "in", "notin"]
    if col in ORDERED:
        ops += ["<", "<=", ">", ">=", "between"]
    if col in TEXT:
        ops += ["like", "like", "contains", "startswith", "endswith"]
    op = draw(st.sampled_from(ops))
    match op:
        case "==":
            return ref == draw(value)
        case "!=":
            return ref != draw(value)
        case "<":
            return ref < draw(value)
        case "<=":
            return ref <= draw(value)
        case ">":
            return ref > draw(value)
        case ">=":
            return ref >= draw(value)
        case "null":
            return ref.is_null() if draw(st.booleans()) else ref == None  # noqa: E711
        case "notnull":
            return ref.is_not_null() if draw(st.booleans()) else ref != None  # noqa: E711
        case "in" | "notin":
            values = draw(st.lists(st.one_of(value, st.none()) if draw(st.booleans()) else value, max_size=4))
            return ref.in_(values) if op == "in" else ref.not_in(values)
        case "between":
            low, high = draw(value), draw(value)
            if draw(st.booleans()):
                low, high = min(low, high), max(low, high)
            return ref.between(low, high)
        case "like":
            pieces = draw(st.lists(st.sampled_from(_PATTERN_PIECES), max_size=5))
            return ref.like("".join(pieces))
        case "contains":
            return ref.contains(draw(value))
        case "startswith":
            return ref.startswith(draw(value))
        case _:
            return ref.endswith(draw(value))


def _combined(base: st.SearchStrategy[Any], max_leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        base,
        lambda inner: st.one_of(
            st.builds(lambda a, b: a & b, inner, inner),
            st.builds(lambda a, b: a | b, inner, inner),
            st.builds(lambda a: ~a, inner),
        ),
        max_leaves=max_leaves,
    )


# -- expressions: arithmetic, field-to-field comparisons, case functions, subqueries --------------
# Integer arithmetic stays on the small-int column n (|n| <= 10**12, factors <= 5), so it never
# overflows: where an overflowing row is evaluated at all differs between engines (short-circuit
# order, early stops under LIMIT); overflow itself is a conformance test on one row.

_OPS = ["==", "!=", "<", "<=", ">", ">="]
_SMALL = st.integers(-5, 5)
_ASCII_PATTERN_PIECES = ["%", "_", "\\%", "\\_", *sorted({c for s in STRS[:12] for c in s if c.isascii()}), "B", "C"]


def _cmp(left: Any, op: str, right: Any) -> Any:
    match op:
        case "==":
            return left == right
        case "!=":
            return left != right
        case "<":
            return left < right
        case "<=":
            return left <= right
        case ">":
            return left > right
        case _:
            return left >= right


class Subquery:
    """A values statement standing in for ``db.find(...).values(field)`` (no session needed to build one)."""

    def __init__(self, stmt: Values) -> None:
        self.values_statement = stmt

    def __repr__(self) -> str:
        return f"Subquery({self.values_statement!r})"


@st.composite
def expression_leaves(draw: st.DrawFn) -> Any:
    n, i, f, d, s, t = (REFS[c] for c in ("n", "i", "f", "d", "s", "t"))
    op = draw(st.sampled_from(_OPS))
    kind = draw(st.sampled_from(["int", "int", "fields", "float", "decimal", "text", "text", "subquery"]))
    match kind:
        case "int":
            expr = draw(
                st.sampled_from(
                    [n + n, n - n, -n, n * draw(_SMALL), draw(_SMALL) - n, n + draw(_SMALL)]
                )
            )
            return _cmp(expr, op, draw(st.integers(-12, 12) | POOLS["n"]))
        case "fields":
            left, right = draw(st.sampled_from([(i, n), (n, i), (s, t), (t, s), (f, n), (n, f)]))
            return _cmp(left, op, right)
        case "float":
            return _cmp(f + n if draw(st.booleans()) else n + f, op, draw(POOLS["f"]))
        case "decimal":
            expr = draw(st.sampled_from([d + d, d - d, d * draw(_SMALL), d + Decimal("0.5"), -d]))
            return _cmp(expr, op, draw(POOLS["d"]))
        case "text":
            form = draw(st.sampled_from(["lower", "upper", "ilike", "lower_like"]))
            if form in ("ilike", "lower_like"):
                pattern = "".join(draw(st.lists(st.sampled_from(_ASCII_PATTERN_PIECES), max_size=4)))
                return t.ilike(pattern) if form == "ilike" else t.lower().like(pattern)
            value = draw(st.sampled_from(STRS[:12]) | st.sampled_from(["ab", "AB", "aB", "A%B"]))
            return _cmp(t.lower() if form == "lower" else t.upper(), op, value)
        case _:
            outer, inner = draw(st.sampled_from([("n", "i"), ("i", "n"), ("n", "n"), ("s", "t"), ("t", "s")]))
            where = draw(st.none() | _combined(leaves(), 3))
            select = select_from((Row,) if where is None else (Row, where))
            paged = draw(st.booleans())
            if paged:
                # a page of the subquery: ordered totally, so every engine takes the same rows
                select = dataclasses.replace(
                    select,
                    order_by=(REFS[inner].desc if draw(st.booleans()) else REFS[inner].asc, Row.k.asc),
                    limit=draw(st.integers(0, 6)),
                    offset=draw(st.none() | st.integers(0, 3)),
                )
            sub = Subquery(Values(select, (REFS[inner].field,)))
            ref = REFS[outer]
            return ref.in_(sub) if draw(st.booleans()) else ref.not_in(sub)


predicates = _combined(st.one_of(leaves(), expression_leaves()), 6)


@dataclass(frozen=True)
class FindQuery:
    where: Any
    order: tuple[tuple[str, bool], ...]
    limit: int | None
    offset: int | None
    count: bool

    def run(self, db: Ommi) -> Any:
        q = db.find(Row, self.where) if self.where is not None else db.find(Row)
        if self.order or self.limit is not None or self.offset is not None:
            # ties broken by the key, so the order is total
            q = q.order_by(*(_term(c).desc if desc else _term(c).asc for c, desc in self.order), Row.k)
        if self.limit is not None:
            q = q.limit(self.limit)
        if self.offset is not None:
            q = q.offset(self.offset)
        return q.count() if self.count else q.all()


ORDER_EXPRESSIONS: dict[str, Any] = {
    "-n": -Row.n,
    "n*3": Row.n * 3,
    "n+n": Row.n + Row.n,
    "lower(t)": Row.t.lower(),
    "upper(t)": Row.t.upper(),
    "d+d": Row.d + Row.d,
}


def _term(name: str) -> Any:
    """An ordering term by name: a column, or one of ORDER_EXPRESSIONS."""
    return REFS[name] if name in REFS else ORDER_EXPRESSIONS[name]


@dataclass(frozen=True)
class ValuesQuery:
    """``find(...).values(...)``: plain or distinct, ordered totally, paged."""

    where: Any
    columns: tuple[str, ...]
    distinct: bool
    order: tuple[tuple[str, bool], ...]
    limit: int | None
    offset: int | None

    def run(self, db: Ommi) -> Any:
        q = (db.find(Row, self.where) if self.where is not None else db.find(Row)).values(
            *(REFS[c] for c in self.columns)
        )
        if self.distinct:
            # distinct tuples ordered by every projected column: a total order
            q = q.distinct().order_by(*(REFS[c].desc if desc else REFS[c].asc for c, desc in self.order))
        else:
            q = q.order_by(*(_term(c).desc if desc else _term(c).asc for c, desc in self.order), Row.k)
        if self.limit is not None:
            q = q.limit(self.limit)
        if self.offset is not None:
            q = q.offset(self.offset)
        return q.all()


# float columns are left out of distinct projections: 0.0 and -0.0 are one value there, and which
# of the two an engine keeps is its choice
_DISTINCT_COLUMNS = [c for c in COLUMNS if c != "f"]


@st.composite
def values_queries(draw: st.DrawFn) -> ValuesQuery:
    where = draw(st.none() | predicates)
    distinct = draw(st.booleans())
    pool = _DISTINCT_COLUMNS if distinct else COLUMNS
    columns = tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True)))
    if distinct:
        order = tuple((c, draw(st.booleans())) for c in draw(st.permutations(columns)))
    else:
        names = [*COLUMNS, *ORDER_EXPRESSIONS]
        order = tuple(draw(st.lists(st.tuples(st.sampled_from(names), st.booleans()), max_size=2)))
    limit = draw(st.none() | st.integers(0, 8))
    offset = draw(st.none() | st.integers(0, 5))
    return ValuesQuery(where, columns, distinct, order, limit, offset)


@dataclass(frozen=True)
class UpsertBatch:
    """Upserts mixed with adds, then the whole table: every row's every field."""

    upserts: tuple[Row, ...]
    adds: tuple[int, ...]

    async def run(self, db: Ommi) -> Any:
        existing = {k for (k,) in await db.find(Row).values(Row.k).all().or_raise()}
        fresh = [Row(k=k, n=k) for k in self.adds if k not in existing]
        if fresh:
            await db.add(*fresh).or_raise()
        done = await db.upsert(*[Row(**{f.name: getattr(r, f.name) for f in fields(r)}) for r in self.upserts])
        if isinstance(done, DBFailure):
            return done
        return await db.find(Row).order_by(Row.k).all()


@st.composite
def upsert_batches(draw: st.DrawFn) -> UpsertBatch:
    rows = []
    for k in draw(st.lists(st.integers(-8, 12).map(lambda x: x * 3 - 20), max_size=5, unique=True)):
        values = {c: draw(st.one_of(st.none(), POOLS[c])) for c in COLUMNS}
        rows.append(Row(k=k, **values))
    adds = tuple(draw(st.lists(st.integers(100, 110), max_size=3, unique=True)))
    return UpsertBatch(tuple(rows), adds)


AGG_FUNCS = ["count", "count_field", "count_distinct", "sum", "avg", "min", "max"]
NUMERIC = ["i", "n", "f", "d"]


@dataclass(frozen=True)
class AggQuery:
    where: Any
    group: tuple[str, ...]
    aggs: tuple[tuple[str, str | None], ...]
    having: tuple[tuple[int, str, Any], ...]  # (aggregate index, op, value) or predicates on group fields
    having_fields: Any
    order: tuple[tuple[int, bool], ...]
    limit: int | None
    offset: int | None

    def ref(self, index: int) -> AggRef:
        func, col = self.aggs[index]
        ref = REFS[col] if col is not None else None
        match func:
            case "count":
                return Count()
            case "count_field":
                return Count(ref)
            case "count_distinct":
                return CountDistinct(ref)  # type: ignore[arg-type]
            case "sum":
                return Sum(ref)  # type: ignore[arg-type]
            case "avg":
                return Avg(ref)  # type: ignore[arg-type]
            case "min":
                return Min(ref)  # type: ignore[arg-type]
            case _:
                return Max(ref)  # type: ignore[arg-type]

    def run(self, db: Ommi) -> Any:
        q = db.find(Row, self.where) if self.where is not None else db.find(Row)
        if self.group:
            q = q.group_by(*(REFS[c] for c in self.group))
            preds = [_agg_compare(self.ref(i), op, v) for i, op, v in self.having]
            if self.having_fields is not None:
                preds.append(self.having_fields)
            if preds:
                q = q.having(*preds)
            # ties between aggregates broken by the group fields, so the order is total
            terms = [self.ref(i).desc if desc else self.ref(i).asc for i, desc in self.order]
            if terms:
                q = q.order_by(*terms, *(REFS[c] for c in self.group))
            if self.limit is not None:
                q = q.limit(self.limit)
            if self.offset is not None:
                q = q.offset(self.offset)
        return q.aggregate(**{f"a{i}": self.ref(i) for i in range(len(self.aggs))})


def _agg_compare(ref: AggRef, op: str, value: Any) -> Any:
    match op:
        case "==":
            return ref == value
        case "!=":
            return ref != value
        case "<":
            return ref < value
        case "<=":
            return ref <= value
        case ">":
            return ref > value
        case _:
            return ref >= value


@st.composite
def aggregates(draw: st.DrawFn) -> tuple[str, str | None]:
    func = draw(st.sampled_from(AGG_FUNCS))
    if func == "count":
        return (func, None)
    if func in ("sum", "avg"):
        # Sum of the int64-extreme field i would overflow 64 bits on SQLite (an error) and
        # MongoDB (a double): sums run over n, f and d; Avg may use i.
        return (func, draw(st.sampled_from(["n", "f", "d"] if func == "sum" else NUMERIC)))
    return (func, draw(st.sampled_from(COLUMNS if func.startswith("count") else ORDERED)))


@st.composite
def agg_queries(draw: st.DrawFn) -> AggQuery:
    where = draw(st.none() | predicates)
    group = tuple(draw(st.lists(st.sampled_from(COLUMNS), max_size=2, unique=True)))
    aggs = tuple(draw(st.lists(aggregates(), min_size=1, max_size=4)))
    having: list[tuple[int, str, Any]] = []
    having_fields = None
    order: tuple[tuple[int, bool], ...] = ()
    limit = offset = None
    if group:
        for _ in range(draw(st.integers(0, 2))):
            index = draw(st.integers(0, len(aggs) - 1))
            func, col = aggs[index]
            if func == "avg":
                continue  # an Avg compared for equality depends on the last digit: see the tolerances above
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
            if func.startswith("count"):
                value = draw(st.integers(0, 4))
            elif func == "sum" and col == "n":
                value = draw(st.integers(-10, 10))
            elif func == "sum" and col == "f":
                value = draw(st.sampled_from([0.0, 1.5, -1.0, math.inf]))
            else:
                assert col is not None
                value = draw(POOLS[col])
            having.append((index, op, value))
        if draw(st.booleans()):
            having_fields = draw(_group_predicate(group))
        order = tuple(draw(st.lists(st.tuples(st.integers(0, len(aggs) - 1), st.booleans()), max_size=2)))
        limit = draw(st.none() | st.integers(0, 5))
        offset = draw(st.none() | st.integers(0, 5))
    return AggQuery(where, group, aggs, tuple(having), having_fields, order, limit, offset)


def _group_predicate(group: tuple[str, ...]) -> st.SearchStrategy[Any]:
    def one(col: str) -> st.SearchStrategy[Any]:
        ref = REFS[col]
        return st.one_of(
            POOLS[col].map(lambda v: ref == v),
            POOLS[col].map(lambda v: ref != v),
            st.just(ref.is_null()),
            st.lists(POOLS[col], max_size=3).map(ref.in_),
        )

    return st.sampled_from(group).flatmap(one)


find_queries = st.builds(
    FindQuery,
    where=st.none() | predicates | predicates,
    order=st.lists(
        st.tuples(st.sampled_from(COLUMNS) | st.sampled_from(list(ORDER_EXPRESSIONS)), st.booleans()), max_size=3
    ).map(tuple),
    limit=st.none() | st.none() | st.integers(0, 10),
    offset=st.none() | st.none() | st.integers(0, 10),
    count=st.booleans(),
)


# -- comparison -------------------------------------------------------------------------------


def _strict(value: Any) -> Any:
    """A value in a form where == also checks the type and the sign of zero."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, Decimal):
        return ("Decimal", value)  # value, not scale: DuckDB drops padding zeros (documented)
    if isinstance(value, datetime):
        return ("datetime", value, value.utcoffset())
    if isinstance(value, Row):
        return tuple(_strict(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, tuple):
        return ("tuple", *(_strict(v) for v in value))
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    return (type(value).__name__, value)


def _unsigned_zero(value: Any) -> Any:
    """-0.0 as 0.0, for SQLite: its REAL columns store -0.0 as the integer 0 (documented limit)."""
    if isinstance(value, float) and value == 0:
        return 0.0
    if isinstance(value, Row):
        return Row(**{f.name: _unsigned_zero(getattr(value, f.name)) for f in fields(value)})
    if isinstance(value, list):
        return [_unsigned_zero(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_unsigned_zero(v) for v in value)
    if isinstance(value, dict):
        return {k: _unsigned_zero(v) for k, v in value.items()}
    return value


def _rows(rows: list[Row]) -> str:
    return "[" + ", ".join(repr(tuple(getattr(r, f.name) for f in fields(r))) for r in rows) + "]"


def _difference(got: Any, want: Any) -> str:
    """Where two answers differ, briefly (the whole answers when short)."""
    if isinstance(got, list) and isinstance(want, list):
        for index, (g, w) in enumerate(zip(got, want, strict=False)):
            if _strict(g) != _strict(w):
                return f"first difference at [{index}] (lengths {len(got)} vs {len(want)}):\n got={g!r}\nwant={w!r}"
        return f"lengths differ: got {len(got)}, want {len(want)}: extra {(got[len(want) :] or want[len(got) :])!r}"
    return f" got={got!r}\nwant={want!r}"


def _close(got: Any, want: Any, abs_tol: float = 0.0) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(want, float):
        if math.isnan(want) or math.isinf(want):
            return repr(got) == repr(want)
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=max(abs_tol, 1e-300))
    return bool(abs(got - want) <= abs(want) * Decimal("1e-12"))


def _loose_keys(query: AggQuery) -> set[str]:
    """Aggregates compared with a tolerance (see the module docstring)."""
    return {f"a{i}" for i, (func, col) in enumerate(query.aggs) if func == "avg" or (func == "sum" and col == "f")}


def float_sum_error(rows: Sequence[Row]) -> float:
    """How far a sum (or mean) of the rows' float field added in any order may be from the exact one."""
    values = [abs(r.f) for r in rows if r.f is not None and math.isfinite(r.f)]
    return len(values) * 2.0**-52 * math.fsum(values)


def _by_key(query: Any, rows: Any) -> Any:
    """An unordered query's rows in key order: without ORDER BY, SQL gives no order (PostgreSQL's
    follows where MVCC put the row versions, which updates and upserts move)."""
    unordered = isinstance(query, FindQuery) and not query.order and query.limit is None and query.offset is None
    if unordered and isinstance(rows, list):
        return sorted(rows, key=lambda r: r.k)
    return rows


def same(query: Any, got: Any, want: Any, signed_zero: bool = True, float_error: float = 0.0) -> bool:
    """Whether a backend's answer equals the oracle's (``signed_zero=False``: the SQLite allowances;
    ``float_error``: :func:`float_sum_error` of the data set, for sums and means of its float field)."""
    got, want = _by_key(query, got), _by_key(query, want)
    if not signed_zero:
        got, want = _unsigned_zero(got), _unsigned_zero(want)
    if not isinstance(query, AggQuery):
        return bool(_strict(got) == _strict(want))
    loose = _loose_keys(query)
    on_f = {f"a{i}" for i, (_, col) in enumerate(query.aggs) if col == "f"}
    got_rows = got if isinstance(got, list) else [got]
    want_rows = want if isinstance(want, list) else [want]
    if len(got_rows) != len(want_rows):
        return False
    for g, w in zip(got_rows, want_rows, strict=True):
        if g.keys() != w.keys():
            return False
        for key, wv in w.items():
            gv = g[key]
            if not signed_zero and gv is None and isinstance(wv, float) and math.isnan(wv):
                continue  # SQLite has no NaN: a float Sum/Avg over inf and -inf is NULL there (documented)
            if key in loose and gv is not None and wv is not None:
                if not _close(gv, wv, float_error if key in on_f else 0.0):
                    return False
            elif _strict(gv) != _strict(wv):
                return False
    return True


# -- the batch -------------------------------------------------------------------------------

DATASETS = scaled(12)
FINDS_PER_DATASET = scaled(32)
AGGS_PER_DATASET = scaled(20)
VALUES_PER_DATASET = scaled(14)
UPSERTS_PER_DATASET = scaled(2)

_batch: dict[str, Any] = {}


def batch() -> tuple[list[list[Row]], list[FindQuery], list[AggQuery], list[ValuesQuery], list[UpsertBatch]]:
    """The generated data sets and queries (generated once per session, the same for every backend)."""
    if not _batch:
        data = generate(datasets(), DATASETS)
        # a few fixed data sets as well: empty, all-NULL, and every pool value once
        data[:0] = [[], [Row(k=1), Row(k=2)], _every_value()]
        _batch["data"] = data
        _batch["finds"] = generate(find_queries, FINDS_PER_DATASET * len(data))
        _batch["aggs"] = generate(agg_queries(), AGGS_PER_DATASET * len(data))
        _batch["values"] = generate(values_queries(), VALUES_PER_DATASET * len(data))
        _batch["upserts"] = generate(upsert_batches(), UPSERTS_PER_DATASET * len(data))
    return _batch["data"], _batch["finds"], _batch["aggs"], _batch["values"], _batch["upserts"]


def _every_value() -> list[Row]:
    pools = {
        "s": STRS,
        "t": STRS[:12],
        "i": INTS,
        "n": SMALL_INTS,
        "f": FLOATS,
        "d": DECIMALS,
        "dt": NAIVE,
        "at": AWARE,
        "day": DAYS,
        "flag": [True, False],
    }
    longest = max(len(p) for p in pools.values())
    return [Row(k=1000 + j, **{c: p[j] if j < len(p) else None for c, p in pools.items()}) for j in range(longest)]


async def _reset(db: Ommi, rows: list[Row]) -> None:
    await db.find(Row).delete().or_raise()
    if rows:
        await db.add(*[Row(**{f.name: getattr(r, f.name) for f in fields(r)}) for r in rows]).or_raise()


_stats: dict[str, int] = {}


def _finite(row: Row) -> Row:
    f = row.f
    if f is None or not math.isinf(f):
        return row
    # +-1e300 (in the pool already): a large finite value whose sums over a data set stay finite
    return Row(**{**{x.name: getattr(row, x.name) for x in fields(row)}, "f": math.copysign(1e300, f)})


def _names_infinity(value: Any) -> bool:
    """Whether a query compares with an infinite float anywhere (also inside expressions and subqueries)."""
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, (tuple, list)):
        return any(map(_names_infinity, value))
    if isinstance(value, Subquery):
        return _names_infinity(value.values_statement)
    if dataclasses.is_dataclass(value) and not isinstance(value, (type, Row)):
        return any(_names_infinity(getattr(value, f.name)) for f in fields(value))
    return False


def _has_expression(value: Any) -> bool:
    """Whether a query uses one of the expression forms (arithmetic, field comparisons, case, subqueries)."""
    text = repr(value)
    return any(name in text for name in ("CompareExpr", "LikeExpr", "InValues", "Arith(", "TextCase", "Neg("))


async def run_differential(url: str) -> int:
    """Run the whole batch against ``url`` and the oracle; return the number of queries compared."""
    data, finds, aggs, values, upserts = batch()
    compared = 0
    failures: list[str] = []
    # the secantusdb test server fails $avg over int64 extremes (an internal error, bug reported);
    # test_pinned_avg_of_int64_extremes keeps it visible, so the fuzzer can look for other bugs there
    skip_avg_of_i = url.startswith("mongodb")
    async with Ommi.connect(url) as db, Ommi.connect("memory://") as oracle:
        # SQLite's REAL and MySQL's DOUBLE columns store -0.0 as 0 (documented on their backend
        # pages): without the signed_zero capability, zeros are compared unsigned
        signed_zero = "signed_zero" in db.capabilities
        # MySQL's DOUBLE has no infinity (documented): without the infinite_floats capability,
        # the data sets hold +-1e300 instead, and queries naming inf are left out
        infinite = "infinite_floats" in db.capabilities
        if not infinite:
            data = [[_finite(r) for r in rows] for rows in data]
        for handle in (db, oracle):
            await handle.schema(coll).delete_models().or_raise()
            await handle.schema(coll).create_models().or_raise()
        try:
            for n, rows in enumerate(data):
                await _reset(db, rows)
                await _reset(oracle, rows)
                huge = any(r.f is not None and 1e100 < abs(r.f) for r in rows)
                float_error = float_sum_error(rows)
                queries: list[Any] = [
                    *finds[n * FINDS_PER_DATASET : (n + 1) * FINDS_PER_DATASET],
                    *aggs[n * AGGS_PER_DATASET : (n + 1) * AGGS_PER_DATASET],
                    *values[n * VALUES_PER_DATASET : (n + 1) * VALUES_PER_DATASET],
                    # last: they change the data set
                    *upserts[n * UPSERTS_PER_DATASET : (n + 1) * UPSERTS_PER_DATASET],
                ]
                for query in queries:
                    if not infinite and _names_infinity(query):
                        continue
                    if skip_avg_of_i and isinstance(query, AggQuery) and ("avg", "i") in query.aggs:
                        continue  # MongoDB fails these: see test_pinned_avg_of_int64_extremes
                    if isinstance(query, AggQuery) and huge and ({("avg", "f"), ("sum", "f")} & set(query.aggs)):
                        continue  # the result depends on the order of addition: see the module docstring
                    if not infinite and isinstance(query, UpsertBatch):
                        query = UpsertBatch(tuple(map(_finite, query.upserts)), query.adds)
                    want = await query.run(oracle)
                    got = await query.run(db)
                    compared += 1
                    if isinstance(query, (ValuesQuery, UpsertBatch)) or _has_expression(query):
                        _stats["new forms"] = _stats.get("new forms", 0) + 1
                    if isinstance(want, DBFailure):
                        failures.append(pinned("the oracle failed", f"{query!r}\n{want.error!r}\nrows={rows!r}"))
                    elif isinstance(got, DBFailure) or not same(
                        query, got.value, want.value, signed_zero, float_error
                    ):
                        shown = got.error if isinstance(got, DBFailure) else got.value
                        failures.append(
                            pinned(
                                f"{url.split(':')[0]} disagrees with the oracle on data set {n}",
                                f"query={query!r}\n{_difference(shown, want.value)}\nrows={_rows(rows)}",
                            )
                        )
                    if len(failures) >= 3:
                        break
                if len(failures) >= 3:
                    break
        finally:
            await db.schema(coll).delete_models().or_use(None)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
    return compared


async def test_every_backend_agrees_with_the_oracle(ommi_url: str) -> None:
    t0 = time.monotonic()
    _stats.clear()
    compared = await run_differential(ommi_url)
    assert compared >= 500
    # expressions, field comparisons, case functions, subqueries, projections and upserts
    assert _stats.get("new forms", 0) >= 500, _stats
    print(
        f"differential: {compared} queries ({_stats.get('new forms', 0)} with the query-language forms of #17) "
        f"on {ommi_url.split(':')[0]} in {time.monotonic() - t0:.1f}s"
    )


# -- pinned examples: each a disagreement the fuzzer found, or a documented limit it led to ----------


@pytest.fixture
async def pinned_db(ommi_url: str) -> Any:
    async with Ommi.connect(ommi_url) as db:
        await db.schema(coll).delete_models().or_raise()
        await db.schema(coll).create_models().or_raise()
        try:
            yield db
        finally:
            await db.schema(coll).delete_models().or_raise()


async def test_pinned_avg_of_int64_extremes(pinned_db: Ommi) -> None:
    """Averaging ints near the int64 limits must not overflow (found on MongoDB/secantusdb: internal error)."""
    db = pinned_db
    await db.add(Row(1, i=INT64_MAX), Row(2, i=INT64_MAX - 1), Row(3, i=INT64_MIN), Row(4, i=7)).or_raise()
    got = await db.find(Row, Row.k < 3).aggregate(a=Avg(Row.i)).or_raise()
    assert got == {"a": float((2 * INT64_MAX - 1) / 2)}
    got = await db.find(Row).aggregate(a=Avg(Row.i)).or_raise()
    assert math.isclose(got["a"], (INT64_MAX + INT64_MAX - 1 + INT64_MIN + 7) / 4, rel_tol=1e-12)


async def test_pinned_sum_of_ints_past_int64_is_exact_or_a_query_error(pinned_db: Ommi) -> None:
    """A sum of ints past 64 bits: exact where the engine has wider sums, else a clean QueryError.

    PostgreSQL (numeric), DuckDB (HUGEINT) and the memory store sum exactly;
    SQLite refuses with "integer overflow" (documented in docs/reliability.md).
    """
    db = pinned_db
    await db.add(Row(1, n=INT64_MAX), Row(2, n=1)).or_raise()
    got = await db.find(Row).aggregate(a=Sum(Row.n))
    if isinstance(got, DBFailure):
        assert type(got.error).__name__ == "QueryError" and "overflow" in str(got.error), got
    else:
        assert got.value == {"a": INT64_MAX + 1}


async def test_pinned_float_sum_over_both_infinities(pinned_db: Ommi) -> None:
    """inf + -inf is NaN; SQLite has no NaN and gives NULL (documented limit)."""
    db = pinned_db
    if "infinite_floats" not in db.capabilities:
        pytest.skip("driver does not declare capability: infinite_floats")
    await db.add(Row(1, f=math.inf), Row(2, f=-math.inf), Row(3, f=1.0)).or_raise()
    got = await db.find(Row).aggregate(a=Sum(Row.f), b=Avg(Row.f)).or_raise()
    if db.driver.__class__.__name__ == "SQLiteDriver":
        assert got == {"a": None, "b": None}
    else:
        assert math.isnan(got["a"]) and math.isnan(got["b"])
    assert await db.find(Row, Row.k != 3).aggregate(m=Max(Row.f), n=Min(Row.f)).or_raise() == {
        "m": math.inf,
        "n": -math.inf,
    }


async def test_pinned_float_sum_that_cancels(pinned_db: Ommi) -> None:
    """Found by the fuzzer (hypothesis 6.170's examples): addends of 1e6 that cancel leave a small
    sum whose last bits depend on the order of addition; it stays within the bound of adding in
    any order, and the comparison allows that bound, not more."""
    db = pinned_db
    fs = [None, 0.2, -0.0, 0.0, 1e-300, 1.0, 1.5, -999999.9999999999, -1.0, 2.3e-294, -9.7e-14, 999999.0]
    rows = [Row(k, f=f) for k, f in enumerate(fs, 1)]
    await db.add(*rows).or_raise()
    got = await db.find(Row).aggregate(a=Sum(Row.f), b=Avg(Row.f)).or_raise()
    exact = math.fsum(f for f in fs if f is not None)
    bound = float_sum_error(rows)
    assert 0 < bound < 1e-8
    assert abs(got["a"] - exact) <= bound, (got, exact, bound)
    assert abs(got["b"] - exact / 11) <= bound, (got, exact, bound)
    query = AggQuery(None, (), (("sum", "f"), ("avg", "f")), (), None, (), None, None)
    want = {"a0": exact, "a1": exact / 11}
    assert same(query, {"a0": exact + bound / 2, "a1": exact / 11}, want, float_error=bound)
    assert not same(query, {"a0": exact + bound * 2, "a1": exact / 11}, want, float_error=bound)
    assert not same(query, {"a0": exact + bound / 2, "a1": exact / 11}, want)  # no bound: relative 1e-12


async def test_pinned_negative_zero(pinned_db: Ommi) -> None:
    """-0.0 equals 0.0 in every query; it keeps its sign with the signed_zero capability (SQLite, MySQL: not)."""
    db = pinned_db
    await db.add(Row(1, f=-0.0), Row(2, f=0.0)).or_raise()
    assert await db.find(Row, Row.f == 0.0).count().or_raise() == 2
    assert await db.find(Row, Row.f == -0.0).count().or_raise() == 2
    assert await db.find(Row, Row.f < 0).count().or_raise() == 0
    assert await db.find(Row).aggregate(n=CountDistinct(Row.f)).or_raise() == {"n": 1}
    first = await db.get(Row, 1).or_raise()
    assert math.copysign(1.0, first.f) == (-1.0 if "signed_zero" in db.capabilities else 1.0)
