"""Query nodes -> Python functions over stored rows.

A row is a tuple of stored values in the table's column order. Stored values
are the validated Python values, except where a codec gives them one
canonical, immutable form (see :func:`encoder`): that form is what
comparisons, grouping and ordering see, so every rule lives in one place.

Each predicate is compiled once per statement into a closure (one ``match``
over the closed node union); the per-row path is then a plain call.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Decimal, localcontext
from typing import Any, assert_never

from ommi import errors
from ommi.driver import FieldInfo, Kind
from ommi.query import (
    Agg,
    AggCompare,
    AggFunc,
    And,
    Arith,
    ArithOp,
    Between,
    CaseFunc,
    Compare,
    CompareExpr,
    Expr,
    Field,
    Hop,
    In,
    InValues,
    IsNull,
    Like,
    LikeExpr,
    Neg,
    Not,
    Op,
    Or,
    Predicate,
    Related,
    TextCase,
    Value,
    Values,
    Wildcard,
    like_tokens,
    render_expr,
)

__all__ = [
    "Codec",
    "Row",
    "Scope",
    "aggregate_function",
    "compile_predicate",
    "decoder",
    "encoder",
    "expression",
    "like_matcher",
    "order_rows",
]

Row = tuple[Any, ...]
Codec = Callable[[Any], Any] | None
Test = Callable[[Any], bool]
Getter = Callable[[Any], Any]

_ORDERED: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


# -- codecs ------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # year 1 east of UTC, or year 9999 west of it
        raise errors.ValidationError(f"{value!r} has no UTC instant inside years 1-9999") from exc


def _enum_value(value: Any) -> Any:
    return value.value


def encoder(f: FieldInfo) -> Codec:
    """Validated Python value -> the stored form of a field's value (``None``: stored as is).

    Enums store their value and aware datetimes their UTC instant, as the SQL
    backends do. JSON is stored as its text: immutable (a user mutating a dict
    after ``add()`` cannot reach the store), hashable, and decoded into fresh
    objects on every read.
    """
    if f.kind is Kind.ENUM:
        return _enum_value
    if f.kind is Kind.JSON:
        where = f"{f.model.cls.__name__}.{f.name}"

        def dump_json(value: Any) -> str:
            try:
                return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise errors.ValidationError(f"{where} holds a value that is not JSON: {exc}") from exc

        return dump_json
    if f.kind is Kind.DATETIME and f.aware:
        return _utc
    # a subclass value (a project's own str type, an IntEnum in an int field) is stored as the
    # base type's value, as a database stores it
    return _BASE.get(f.kind)


def _to_base(base: type, convert: Callable[[Any], Any]) -> Codec:
    """``convert`` (the base type's own slot, which no subclass override reaches) applied to subclass values."""

    def to_base(value: Any) -> Any:
        # anything else (a float compared with an int field, say) is left to the comparison
        return convert(value) if type(value) is not base and isinstance(value, base) else value

    return to_base


_BASE: dict[Kind, Codec] = {
    Kind.STR: _to_base(str, str.__str__),
    Kind.INT: _to_base(int, int.__index__),
    Kind.FLOAT: _to_base(float, float.__float__),
    Kind.BYTES: _to_base(bytes, bytes.__bytes__),
}


def decoder(f: FieldInfo) -> Codec:
    """Stored form -> the Python value handed to users (``None``: returned as is)."""
    if f.kind is Kind.ENUM:
        return f.py_type  # type: ignore[no-any-return]
    if f.kind is Kind.JSON:
        return json.loads
    return None


def encode(f: FieldInfo, value: Any) -> Any:
    """The stored form of one value (``None`` stays ``None``)."""
    codec = encoder(f)
    return value if codec is None or value is None else codec(value)


# -- like ----------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def like_matcher(pattern: str) -> Callable[[str], bool]:
    """A case-sensitive matcher for a like pattern (``%``, ``_``, ``\\`` escapes).

    The pattern is split at each ``%`` into fixed-length pieces; the first is
    anchored at the start, the last at the end, and each middle piece is
    placed at its leftmost match. Greedy leftmost placement is exact for such
    patterns, and it keeps matching linear in the text (a regex of ``.*`` runs
    can backtrack exponentially on hostile input).
    """
    pieces: list[list[str]] = [[]]
    for token in like_tokens(pattern):
        if token is Wildcard.ANY:
            pieces.append([])
        elif token is Wildcard.ONE:
            pieces[-1].append(".")
        else:
            pieces[-1].extend(re.escape(ch) for ch in token)
    regexes = [(re.compile("".join(p), re.DOTALL), len(p)) for p in pieces]
    if len(regexes) == 1:
        whole = regexes[0][0]
        return lambda text: whole.fullmatch(text) is not None
    (first, first_len), *middle, (last, last_len) = regexes

    def match(text: str) -> bool:
        end = len(text) - last_len
        if end < first_len or first.match(text) is None or last.fullmatch(text, end) is None:
            return False
        pos = first_len
        for piece, _ in middle:
            found = piece.search(text, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True

    return match


# -- predicates ------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a predicate is evaluated over.

    ``getter`` reads a field from the evaluated item (a row, or a group in
    ``having``); ``aggregate`` computes an aggregate of the item (``None``
    outside ``having``); ``source`` gives another table's column positions
    and rows, for :class:`Related`.
    """

    table: str
    positions: Mapping[str, int]
    source: Callable[[str], tuple[Mapping[str, int], Iterable[Row]]]
    grouped: bool = False
    subquery: Callable[[Values], list[Row]] | None = None
    """Runs a values statement, giving stored values (for :class:`InValues`)."""

    def getter(self, f: Field) -> Getter:
        if f.info.model.name != self.table:
            raise errors.QueryError(f"{f.model.__name__}.{f.name} is not a field of table {self.table!r}")
        index = self.positions.get(f.column)
        if index is None:
            raise errors.SchemaError(f"table {self.table!r} has no column {f.column!r}: recreate its schema")
        if self.grouped:
            return lambda group: group[0][index]
        return operator.itemgetter(index)

    def aggregate(self, agg: Agg) -> Getter:
        if not self.grouped:
            raise errors.QueryError("aggregates can be tested in having(), not in a filter")
        compute = aggregate_function(agg, self.positions)
        return lambda group: compute(group[1])


def _compare(get: Getter, op: Op, value: Any) -> Test:
    # value is never None: a NULL field equals nothing, so == is false and
    # != (its exact complement) is true for it; ordering tests are false
    if op is Op.EQ:
        return lambda item: get(item) == value
    if op is Op.NE:
        return lambda item: get(item) != value
    test = _ORDERED[op]

    def ordered(item: Any) -> bool:
        v = get(item)
        return v is not None and test(v, value)

    return ordered


def compile_predicate(node: Predicate, scope: Scope) -> Test:  # noqa: C901 - one case per node type
    """Compile a predicate into a two-valued test over the scope's items.

    Raises:
        QueryError: the predicate does not fit the scope (an aggregate outside
            ``having``, a field of another table outside :class:`Related`).
    """
    match node:
        case And(items):
            tests = [compile_predicate(i, scope) for i in items]
            return lambda item: all(t(item) for t in tests)
        case Or(items):
            tests = [compile_predicate(i, scope) for i in items]
            return lambda item: any(t(item) for t in tests)
        case Not(inner):
            test = compile_predicate(inner, scope)
            return lambda item: not test(item)
        case Compare(field, op, value):
            return _compare(scope.getter(field), op, encode(field.info, value))
        case IsNull(field):
            get = scope.getter(field)
            return lambda item: get(item) is None
        case In(field, values):
            get = scope.getter(field)
            listed = frozenset(encode(field.info, v) for v in values if v is not None)
            with_null = None in values

            def within(item: Any) -> bool:
                v = get(item)
                return with_null if v is None else v in listed

            return within
        case Between(field, low, high):
            get = scope.getter(field)
            lo, hi = encode(field.info, low), encode(field.info, high)

            def between(item: Any) -> bool:
                v = get(item)
                return v is not None and lo <= v <= hi

            return between
        case Like(field, pattern):
            get = scope.getter(field)
            matches = like_matcher(pattern)

            def like(item: Any) -> bool:
                v = get(item)
                return v is not None and matches(v)

            return like
        case AggCompare(agg, op, value):
            if agg.field is not None and agg.func in (AggFunc.MIN, AggFunc.MAX):
                value = encode(agg.field.info, value)
            return _compare(scope.aggregate(agg), op, value)
        case Related(path, where):
            return _related(path, where, scope)
        case CompareExpr(left, op, right):
            return _compare_values(expression(left, scope), op, expression(right, scope))
        case LikeExpr(expr, pattern):
            get = expression(expr, scope)
            matches = like_matcher(pattern)

            def like_expr(item: Any) -> bool:
                v = get(item)
                return v is not None and matches(v)

            return like_expr
        case InValues(field, query):
            if scope.subquery is None:  # pragma: no cover - every store scope has one
                raise errors.QueryError("a subquery cannot be evaluated here")
            get = scope.getter(field)
            found = frozenset(row[0] for row in scope.subquery(query) if row[0] is not None)
            return lambda item: get(item) in found
        case _:
            assert_never(node)


def _compare_values(left: Getter, op: Op, right: Getter) -> Test:
    """Two computed sides: false when either is NULL, except ``!=`` (the complement of ``==``)."""
    if op is Op.EQ:

        def eq(item: Any) -> bool:
            a, b = left(item), right(item)
            return a is not None and b is not None and a == b

        return eq
    if op is Op.NE:

        def ne(item: Any) -> bool:
            a, b = left(item), right(item)
            return a is None or b is None or a != b

        return ne
    test = _ORDERED[op]

    def ordered(item: Any) -> bool:
        a, b = left(item), right(item)
        return a is not None and b is not None and test(a, b)

    return ordered


_INT64 = (-(2**63), 2**63 - 1)
_ARITH: dict[ArithOp, Callable[[Any, Any], Any]] = {
    ArithOp.ADD: operator.add,
    ArithOp.SUB: operator.sub,
    ArithOp.MUL: operator.mul,
}


def _checked(value: Any, kind: Kind, shown: str) -> Any:
    if kind is Kind.INT and not _INT64[0] <= value <= _INT64[1]:
        raise errors.QueryError(f"integer overflow: {shown} is outside the 64-bit range")
    return value


def _exact(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        with localcontext() as ctx:  # Decimal arithmetic is exact: no digit is ever rounded
            ctx.prec, ctx.Emax, ctx.Emin = MAX_PREC, MAX_EMAX, MIN_EMIN
            return fn(a, b)

    return run


def expression(expr: Expr, scope: Scope) -> Getter:
    """A getter computing an expression over the scope's items, in stored form (``None``: NULL).

    Arithmetic with NULL is NULL; an int result past 64 bits (also an
    intermediate one) is a ``QueryError``; Decimal arithmetic is exact.
    """
    match expr:
        case Field():
            return scope.getter(expr)
        case Value(value, _):
            return lambda item: value
        case Arith(op, left, right, kind):
            a, b = expression(left, scope), expression(right, scope)
            fn = _ARITH[op]
            if kind is Kind.DECIMAL:
                fn = _exact(fn)
            if kind is Kind.FLOAT:
                base = fn
                fn = lambda x, y: base(float(x), float(y))  # noqa: E731 - int operands become floats first
            shown = render_expr(expr)

            def arith(item: Any) -> Any:
                x, y = a(item), b(item)
                if x is None or y is None:
                    return None
                return _checked(fn(x, y), kind, shown)

            return arith
        case Neg(item, kind):
            inner = expression(item, scope)

            def neg(it: Any) -> Any:
                v = inner(it)
                return None if v is None else _checked(-v, kind, render_expr(expr))

            return neg
        case TextCase(func, item):
            inner = expression(item, scope)
            case_fn = str.lower if func is CaseFunc.LOWER else str.upper

            def cased(it: Any) -> Any:
                v = inner(it)
                return None if v is None else case_fn(v)

            return cased
        case _:
            assert_never(expr)


def _related(path: Sequence[Hop], where: Predicate, scope: Scope) -> Test:
    """A semi-join walked from the far end: the values of the first hop's source
    field from which some chain of rows reaches a row matching ``where``."""
    far = path[-1].target.info.model.name
    positions, rows = scope.source(far)
    test = compile_predicate(where, Scope(far, positions, scope.source))
    matched = [r for r in rows if test(r)]
    reachable: set[Any] = set()
    for depth in range(len(path) - 1, -1, -1):
        hop = path[depth]
        target = positions[hop.target.column]
        reachable = {r[target] for r in matched if r[target] is not None}
        if depth == 0:
            break
        positions, rows = scope.source(hop.source.info.model.name)
        source = positions[hop.source.column]
        matched = [r for r in rows if r[source] in reachable]
    get = scope.getter(path[0].source)
    return lambda item: get(item) in reachable


# -- ordering ---------------------------------------------------------------------


def _null_first(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def order_rows(items: list[Any], terms: Sequence[tuple[Getter, bool]]) -> None:
    """Sort ``items`` in place by ``(key, descending)`` terms, first term first.

    The one comparator of the driver: NULL before every value (first
    ascending, last descending), values by Python order on their stored form
    (code points for strings, bytes by value, numbers numerically, instants
    for aware datetimes). Ties keep their previous (storage) order.
    """
    for key, descending in reversed(terms):
        items.sort(key=lambda item: _null_first(key(item)), reverse=descending)


# -- aggregates ---------------------------------------------------------------------


def _exact_sum(values: list[Any]) -> Any:
    with localcontext() as ctx:  # enough digits for every sum to be exact
        ctx.prec, ctx.Emax, ctx.Emin = MAX_PREC, MAX_EMAX, MIN_EMIN
        return sum(values, Decimal(0))


def _float_sum(values: list[float]) -> float:
    try:
        return math.fsum(values)  # correctly rounded, so independent of row order
    except (OverflowError, ValueError):  # infinities: IEEE addition gives inf or nan
        return sum(values, 0.0)


def aggregate_function(agg: Agg, positions: Mapping[str, int]) -> Callable[[Sequence[Row]], Any]:
    """A function of a group's rows giving the aggregate, in stored form.

    NULLs are ignored except by ``Count()`` of rows; over no values counts are
    0 and the others ``None``. Sums of ints are ints (exact), of Decimals exact
    Decimals, of floats correctly rounded floats; means are floats, or Decimals
    (to the default 28 significant digits) for Decimal fields.
    """
    if agg.field is None:
        return len
    index = positions[agg.field.column]
    kind = agg.field.info.kind

    def values(rows: Sequence[Row]) -> list[Any]:
        return [r[index] for r in rows if r[index] is not None]

    func = agg.func
    if func is AggFunc.COUNT:
        return lambda rows: len(values(rows))
    if func is AggFunc.COUNT_DISTINCT:
        return lambda rows: len(set(values(rows)))
    if func is AggFunc.MIN:
        return lambda rows: min(values(rows), default=None)
    if func is AggFunc.MAX:
        return lambda rows: max(values(rows), default=None)
    total: Callable[[list[Any]], Any] = (
        _exact_sum if kind is Kind.DECIMAL else _float_sum if kind is Kind.FLOAT else sum
    )

    def summed(rows: Sequence[Row]) -> Any:
        found = values(rows)
        if not found:
            return None
        # an int mean is int / int: a correctly rounded float
        return total(found) if func is AggFunc.SUM else total(found) / len(found)

    return summed
