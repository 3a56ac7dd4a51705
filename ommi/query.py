"""The query AST: immutable, hashable nodes that every driver compiles.

This module is public for driver authors. Users build nodes through the sugar
on model classes (``User.age >= 18``, ``&``, ``|``, ``~``); drivers receive the
statement nodes at the bottom of this file and compile them.

Semantics every backend implements (the conformance suite checks them):

* **Two-valued logic.** A predicate is true or false for every row, never
  "unknown". A comparison with a NULL field is false (``==``, ``<``, ``<=``,
  ``>``, ``>=``, ``between``, ``like`` and friends, ``in_``), except ``!=``,
  which is the exact complement of ``==``: ``User.email != "a@b"`` matches rows
  whose email is NULL. ``~p`` is the exact complement of ``p``; ``not_in`` is
  ``~in_``. SQL compilers push negations down to the leaves to get this.
* ``field == None`` is ``IsNull(field)``; ``field != None`` is ``~IsNull(field)``.
  Ordering comparisons with ``None`` are rejected when the node is built.
* **Ordering.** NULL sorts before every value: first in ascending order, last in
  descending order. Strings order by Unicode code point (binary), bytes by
  byte value, numbers numerically, dates and times chronologically.
* ``like`` patterns use ``%`` (any run of characters) and ``_`` (one
  character); a backslash escapes them. Matching is case-sensitive.
  ``contains``/``startswith``/``endswith`` take literal text.
* **Expressions.** ``+``, ``-``, ``*`` and unary ``-`` on numeric fields build
  :class:`Arith`/:class:`Neg` nodes; ``.lower()``/``.upper()`` on text fields
  build :class:`TextCase`. Their types are fixed when the node is built
  (int with int is int; float with int or float is float; Decimal with int or
  Decimal is Decimal; float with Decimal and anything with text are refused).
  Arithmetic with NULL is NULL, and a comparison with a NULL expression is
  false (``!=`` again its complement). An int result outside the 64-bit range
  (also an intermediate one) is a ``QueryError`` on every backend, never a
  wrapped or rounded value; Decimal arithmetic is exact.
* ``ilike(p)`` is ``lower(field) like lower(p)``: the pattern's literal text
  is lowered by Python (:func:`fold_like`), the field by the database's
  ``lower``. For ASCII letters every backend agrees; beyond ASCII, see each
  backend's page.
"""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import TYPE_CHECKING, Any, Generic, Protocol, Union, overload

from ommi import errors
from ommi._fields import Kind, make_checker

if TYPE_CHECKING:
    from dataclasses import dataclass
    from decimal import Decimal

    # Type-checker only: defaults (PEP 696) let drivers keep writing the bare
    # ``Compare`` or ``FieldRef`` while user code gets ``Compare[User]``.
    from typing_extensions import TypeVar

    from ommi._model import FieldInfo

    M = TypeVar("M", covariant=True, default=Any)  # noqa: PLC0105 - reads as "model" in signatures
    T = TypeVar("T", default=Any)
else:
    from typing import TypeVar

    # The same classes, built without compiling their methods (see there). The nodes are
    # frozen dataclasses without __slots__: slots would make Python build each class
    # twice at import (about 1 ms of start-up for these 31), and nodes live briefly.
    from ommi._dataclasses import dataclass

    M = TypeVar("M", covariant=True)  # noqa: PLC0105 - reads as "model" in signatures
    T = TypeVar("T")

N = TypeVar("N")
V = TypeVar("V")

__all__ = [
    "EXPR_TYPES",
    "Agg",
    "AggCompare",
    "AggFunc",
    "AggOrder",
    "AggRef",
    "Aggregate",
    "And",
    "Arith",
    "ArithOp",
    "Avg",
    "Between",
    "CaseFunc",
    "Compare",
    "CompareExpr",
    "Condition",
    "Count",
    "CountDistinct",
    "Delete",
    "Expr",
    "ExprRef",
    "Field",
    "FieldRef",
    "Hop",
    "In",
    "InValues",
    "Insert",
    "IsNull",
    "Like",
    "LikeExpr",
    "LikeToken",
    "Max",
    "Min",
    "Neg",
    "Not",
    "Op",
    "Or",
    "OrderBy",
    "Predicate",
    "Raw",
    "Related",
    "Save",
    "Select",
    "SubqueryLike",
    "Sum",
    "TextCase",
    "Update",
    "Upsert",
    "Value",
    "Values",
    "Wildcard",
    "col",
    "escape_like",
    "expr_fields",
    "expr_kind",
    "fold_like",
    "like_pattern",
    "like_tokens",
    "render_expr",
]


class Op(enum.Enum):
    """Comparison operators of :class:`Compare`."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    # Members are singletons compared by identity: the identity hash agrees, and is C code
    # (Enum's own hashes the name in Python: 0.15 µs in every compiled statement's shape)
    __hash__ = object.__hash__


@dataclass(frozen=True)
class Field:
    """A field of a model, as it appears in query nodes."""

    model: type
    name: str
    info: FieldInfo = field(compare=False, hash=False, repr=False)

    @property
    def column(self) -> str:
        """The stored column (or document field) name."""
        return self.info.column


class ArithOp(enum.Enum):
    """Arithmetic operators of :class:`Arith`."""

    ADD = "+"
    SUB = "-"
    MUL = "*"


class CaseFunc(enum.Enum):
    """Case functions of :class:`TextCase`."""

    LOWER = "lower"
    UPPER = "upper"


@dataclass(frozen=True)
class Value:
    """A literal inside an expression: a validated value of ``kind`` (never ``None``)."""

    value: Any
    kind: Kind


@dataclass(frozen=True)
class Arith:
    """``left <op> right`` over numbers; ``kind`` is the result's (int, float or Decimal)."""

    op: ArithOp
    left: Expr
    right: Expr
    kind: Kind


@dataclass(frozen=True)
class Neg:
    """``-item``."""

    item: Expr
    kind: Kind


@dataclass(frozen=True)
class TextCase:
    """``lower(item)`` or ``upper(item)`` of a text expression."""

    func: CaseFunc
    item: Expr

    @property
    def kind(self) -> Kind:
        """Always text."""
        return Kind.STR


Expr = Union[Field, Value, Arith, Neg, TextCase]  # noqa: UP007
"""A value computed per row: a field, a literal, or an operation over them."""

EXPR_TYPES = (Field, Value, Arith, Neg, TextCase)
"""The classes of :data:`Expr`, for ``isinstance`` (an update's value is one of them, or a plain value)."""


def expr_kind(expr: Expr) -> Kind:
    """The type of an expression's values."""
    if isinstance(expr, Field):
        return expr.info.kind
    return expr.kind


def expr_fields(expr: Expr) -> Iterable[Field]:
    """Every field an expression reads."""
    if isinstance(expr, Field):
        yield expr
    elif isinstance(expr, Arith):
        yield from expr_fields(expr.left)
        yield from expr_fields(expr.right)
    elif isinstance(expr, (Neg, TextCase)):
        yield from expr_fields(expr.item)


class Condition(Generic[M]):
    """The base of every predicate node: ``&``, ``|`` and ``~`` combine them.

    ``M`` is the model the predicate is about (for type checkers only: it is
    the model of the first field named, the one ``find()`` queries when no
    model class is given).
    """

    __slots__ = ()

    def __and__(self, other: Condition[Any]) -> And[M]:
        return And(_flatten(And, (self, other)))

    def __or__(self, other: Condition[Any]) -> Or[M]:
        return Or(_flatten(Or, (self, other)))

    def __invert__(self) -> Predicate[M]:
        return Not(self)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        raise TypeError(
            "a query predicate has no truth value: combine predicates with &, |, ~ "
            "(not `and`, `or`, `not`); for a range write (a < x) & (x < b), not a < x < b "
            "(the parentheses matter: & binds tighter than <), or x.between(a, b) for a <= x <= b"
        )


def _flatten(kind: type, items: Iterable[Any]) -> tuple[Predicate, ...]:
    out: list[Predicate] = []
    for item in items:
        if isinstance(item, FieldRef):
            raise TypeError(f"{item!r} is a field, not a predicate")
        if not isinstance(item, Condition):
            raise TypeError(f"cannot combine a query predicate with {item!r}")
        if type(item) is kind:
            out.extend(item.items)  # type: ignore[attr-defined]
        else:
            out.append(item)  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True)
class Compare(Condition[M]):
    """``field <op> value``; ``value`` is a validated Python value, never ``None``."""

    field: Field
    op: Op
    value: Any


@dataclass(frozen=True)
class IsNull(Condition[M]):
    """The field is NULL (or absent, in a document database)."""

    field: Field


@dataclass(frozen=True)
class In(Condition[M]):
    """The field equals one of ``values``; a ``None`` among them matches NULL."""

    field: Field
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Between(Condition[M]):
    """``low <= field <= high``."""

    field: Field
    low: Any
    high: Any


@dataclass(frozen=True)
class Like(Condition[M]):
    """Case-sensitive pattern match: ``%`` any run, ``_`` one character, ``\\`` escapes."""

    field: Field
    pattern: str


@dataclass(frozen=True)
class CompareExpr(Condition[M]):
    """``left <op> right`` where a side is an expression or both are fields (``Post.views > Post.likes``).

    False when either side is NULL, except ``!=``, the exact complement of ``==``.
    Both sides have comparable kinds (checked when the node is built).
    """

    left: Expr
    op: Op
    right: Expr


@dataclass(frozen=True)
class LikeExpr(Condition[M]):
    """A like pattern matched against a text expression (``User.name.ilike("a%")`` matches ``lower(name)``)."""

    expr: Expr
    pattern: str


@dataclass(frozen=True)
class InValues(Condition[M]):
    """The field equals one of the non-NULL values a one-field :class:`Values` statement returns.

    A NULL field matches nothing; ``~InValues`` is the exact complement (so it
    holds for a NULL field).
    """

    field: Field
    query: Values


@dataclass(frozen=True)
class And(Condition[M]):
    """All items hold."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True)
class Or(Condition[M]):
    """At least one item holds."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True)
class Not(Condition[M]):
    """The exact complement of ``item`` (two-valued: NULL comparisons are false)."""

    item: Predicate

    def __invert__(self) -> Predicate[M]:
        return self.item


class AggFunc(enum.Enum):
    """Aggregate functions of :class:`Agg`."""

    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Agg:
    """An aggregate over the rows of a group; ``field`` is ``None`` only for ``COUNT`` of rows.

    NULLs are ignored by every function except ``Count()`` of rows. Over no
    values, counts are 0 and the others are NULL (``None``).
    """

    func: AggFunc
    field: Field | None = None


@dataclass(frozen=True)
class AggCompare(Condition[M]):
    """``aggregate <op> value`` in a ``having`` clause (false when the aggregate is NULL)."""

    agg: Agg
    op: Op
    value: Any


@dataclass(frozen=True)
class Hop:
    """One step along ``ReferenceTo`` links: rows relate where ``source`` (a field of the
    current row's model) equals ``target`` (a field of the next model)."""

    source: Field
    target: Field


@dataclass(frozen=True)
class Related(Condition[M]):
    """Some row reached from the queried row by following ``path`` satisfies ``where``.

    Built by ``find()`` when a predicate names fields of another model
    (``db.find(Post, User.name == "Alice")``); ``~Related`` means no such row.
    """

    path: tuple[Hop, ...]
    where: Predicate


Predicate = Union[  # noqa: UP007
    Compare[M], IsNull[M], In[M], Between[M], Like[M], And[M], Or[M], Not[M], AggCompare[M], Related[M],
    CompareExpr[M], LikeExpr[M], InValues[M],
]
"""The closed set of predicate nodes a driver compiles (``Predicate[User]``: about ``User``)."""


@dataclass(frozen=True)
class OrderBy:
    """One ordering term (a field, or an expression); NULL sorts first ascending, last descending."""

    field: Expr
    descending: bool = False


@dataclass(frozen=True)
class AggOrder:
    """Ordering of groups by an aggregate; NULL sorts first ascending, last descending."""

    agg: Agg
    descending: bool = False


def escape_like(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` so ``text`` matches literally inside a like pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Wildcard(enum.Enum):
    """The wildcards of a like pattern."""

    ANY = "%"
    """Any run of characters, the empty run included."""
    ONE = "_"
    """Exactly one character."""


LikeToken = Union[str, Wildcard]  # noqa: UP007
"""A run of literal text, or a wildcard."""


@functools.lru_cache(maxsize=512)
def like_tokens(pattern: str) -> tuple[LikeToken, ...]:
    """Split a like pattern into literal runs and wildcards: the one reading of the grammar.

    ``%`` is :attr:`Wildcard.ANY` (consecutive ones collapse into one), ``_``
    is :attr:`Wildcard.ONE`, a backslash makes the next character literal,
    and a trailing lone backslash is a literal backslash. Every translator
    (SQL dialects, MongoDB regexes, the memory driver) renders from these
    tokens, so they all read a pattern the same way.
    """
    out: list[LikeToken] = []
    literal: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            literal.append(next(chars, "\\"))
            continue
        if ch not in "%_":
            literal.append(ch)
            continue
        if literal:
            out.append("".join(literal))
            literal.clear()
        token = Wildcard.ANY if ch == "%" else Wildcard.ONE
        if not (token is Wildcard.ANY and out and out[-1] is Wildcard.ANY):
            out.append(token)
    if literal:
        out.append("".join(literal))
    return tuple(out)


def like_pattern(tokens: Iterable[LikeToken]) -> str:
    """Render tokens back into a standard LIKE pattern with ``\\`` as the escape character."""
    return "".join(t.value if isinstance(t, Wildcard) else escape_like(t) for t in tokens)


def fold_like(pattern: str) -> str:
    """The pattern ``ilike`` matches against ``lower(field)``: its literal text lowered, wildcards kept.

    Read with :func:`like_tokens`, so escapes mean the same as in ``like``.
    """
    return like_pattern(t.lower() if isinstance(t, str) else t for t in like_tokens(pattern))


_NUMERIC_NAMES = frozenset({"int", "float", "decimal"})


def _kind_name(kind: Kind) -> str:
    return str(kind.value)


def render_expr(expr: Expr) -> str:
    """An expression as the user wrote it, for messages."""
    if isinstance(expr, Field):
        return f"{expr.model.__name__}.{expr.name}"
    if isinstance(expr, Value):
        return repr(expr.value)
    if isinstance(expr, Arith):
        return f"({render_expr(expr.left)} {expr.op.value} {render_expr(expr.right)})"
    if isinstance(expr, Neg):
        return f"-{render_expr(expr.item)}"
    return f"{render_expr(expr.item)}.{expr.func.value}()"


def _operand(value: Any) -> Expr | None:
    """The expression node of a field or expression reference (``None`` for a plain value)."""
    if isinstance(value, FieldRef):
        return value.field
    if isinstance(value, ExprRef):
        return value.node
    return None


_LITERAL_KINDS: dict[type, str] = {int: "int", float: "float"}


def _number_kind(value: Any) -> Kind | None:
    if isinstance(value, bool):
        return None
    for cls, name in _LITERAL_KINDS.items():
        if isinstance(value, cls):
            return Kind(name)
    decimal = sys.modules.get("decimal")  # not imported at start-up: a Decimal value means it is loaded
    if decimal is not None and isinstance(value, decimal.Decimal):
        return Kind.DECIMAL
    return None


def _result_kind(left: Kind, right: Kind, shown: str) -> Kind:
    for kind, side in ((left, "left"), (right, "right")):
        if kind.value not in _NUMERIC_NAMES:
            raise errors.QueryError(f"{shown}: the {side} side is {_kind_name(kind)}; arithmetic needs numbers")
    kinds = {left, right}
    if kinds == {Kind.FLOAT, Kind.DECIMAL}:
        raise errors.QueryError(f"{shown}: mixing float and Decimal would lose Decimal's exactness; convert one side")
    if Kind.DECIMAL in kinds:
        return Kind.DECIMAL
    return Kind.FLOAT if Kind.FLOAT in kinds else Kind.INT


def _literal(kind: Kind, value: Any, shown: str) -> Value:
    """A plain value as an expression literal of ``kind`` (validated like a field of that kind)."""
    checked = make_checker(kind, None, False, False, shown)(value)
    return Value(checked, kind)


def _arith(op: ArithOp, left: Any, right: Any) -> ExprRef[Any, Any]:
    """``left op right``, either side a field, an expression or a number; types checked now."""
    lnode, rnode = _operand(left), _operand(right)
    model = next(f.model for node in (lnode, rnode) if node is not None for f in expr_fields(node))
    lk = expr_kind(lnode) if lnode is not None else _number_kind(left)
    rk = expr_kind(rnode) if rnode is not None else _number_kind(right)
    shown = f"{render_expr(lnode) if lnode is not None else repr(left)} {op.value} " + (
        render_expr(rnode) if rnode is not None else repr(right)
    )
    if lk is None or rk is None:
        bad = left if lk is None else right
        raise errors.QueryError(f"{shown}: {bad!r} is not a number (int, float or Decimal)")
    kind = _result_kind(lk, rk, shown)
    if lnode is None:
        lnode = _literal(kind, left, shown)
    if rnode is None:
        rnode = _literal(kind, right, shown)
    _same_model(lnode, rnode, shown)
    return ExprRef(Arith(op, lnode, rnode, kind), model)


def _same_model(left: Expr, right: Expr, shown: str) -> None:
    models = {f.model for f in expr_fields(left)} | {f.model for f in expr_fields(right)}
    if len(models) > 1:
        names = " and ".join(sorted(m.__name__ for m in models))
        raise errors.QueryError(f"{shown}: an expression reads the fields of one model, not {names}")


def _comparable_kinds(left: Expr, right: Expr, shown: str) -> None:
    lk, rk = expr_kind(left), expr_kind(right)
    if Kind.JSON in (lk, rk):
        raise errors.QueryError(f"{shown}: JSON fields cannot be compared")
    numeric = lk.value in _NUMERIC_NAMES and rk.value in _NUMERIC_NAMES
    if numeric:
        if Kind.DECIMAL in (lk, rk) and lk is not rk:
            # float is inexact; an int column and a Decimal one compare unlike on some stores
            raise errors.QueryError(
                f"{shown}: compare Decimal with Decimal (for an int side, multiply it by Decimal(1))"
            )
        return
    if lk is not rk:
        raise errors.QueryError(f"{shown}: cannot compare {_kind_name(lk)} with {_kind_name(rk)}")
    both = isinstance(left, Field) and isinstance(right, Field)
    if both and lk is Kind.DATETIME and left.info.aware != right.info.aware:  # type: ignore[union-attr]
        raise errors.QueryError(f"{shown}: cannot compare a naive datetime with an aware one")
    if both and lk is Kind.ENUM and left.info.py_type is not right.info.py_type:  # type: ignore[union-attr]
        raise errors.QueryError(f"{shown}: the two enum fields have different enum types")


def _compare_expr(left: Expr, op: Op, value: Any) -> CompareExpr[Any]:
    """``left op value`` where ``left`` is an expression or ``value`` a field or expression."""
    right = _operand(value)
    shown = f"{render_expr(left)} {op.value} {render_expr(right) if right is not None else repr(value)}"
    if right is None:
        if value is None:
            raise errors.QueryError(f"{shown}: compare a field itself with None (.is_null()), not an expression")
        right = _literal(expr_kind(left), value, render_expr(left))
    else:
        if left is right:
            # never meant: it is what `Model.f == instance.f` builds when the value was deleted
            # (a dict-based instance then reads the class's query reference), and it
            # would match every row (a find(...).delete() would delete them all)
            raise errors.QueryError(
                f"{shown}: compares a field with itself; an instance whose value was deleted "
                "reads the class's query reference in its place"
            )
        _same_model(left, right, shown)
        _comparable_kinds(left, right, shown)
    if op not in (Op.EQ, Op.NE) and expr_kind(left) is Kind.JSON:
        raise errors.QueryError(f"{shown}: JSON fields cannot be ordered")
    return CompareExpr(left, op, right)


def _text_expr(node: Expr, what: str) -> None:
    if expr_kind(node) is not Kind.STR:
        raise errors.QueryError(f"{render_expr(node)}.{what}() works on text, not {_kind_name(expr_kind(node))}")


def _pattern(node: Expr, what: str, pattern: Any) -> str:
    _text_expr(node, what)
    if not isinstance(pattern, str):
        raise errors.ValidationError(f"{render_expr(node)}.{what}() takes a str, got {type(pattern).__name__}")
    return pattern


class _Operand(Generic[M, T]):
    """Arithmetic, case functions and ordering shared by field and expression references."""

    __slots__ = ()

    def _node(self) -> Expr:
        raise NotImplementedError

    @overload
    def __add__(self, other: FieldRef[Any, T] | ExprRef[Any, T] | T | int) -> ExprRef[M, T]: ...
    @overload
    def __add__(self, other: FieldRef[Any, float] | ExprRef[Any, float] | float) -> ExprRef[M, float]: ...
    @overload
    def __add__(self, other: FieldRef[Any, Decimal] | ExprRef[Any, Decimal] | Decimal) -> ExprRef[M, Decimal]: ...
    @overload
    def __add__(self, other: FieldRef[Any, Any] | ExprRef[Any, Any]) -> ExprRef[M, T]: ...
    def __add__(self, other: Any) -> ExprRef[M, Any]:
        return _arith(ArithOp.ADD, self, other)

    def __radd__(self, other: int | float | Decimal) -> ExprRef[M, T]:
        return _arith(ArithOp.ADD, other, self)

    @overload
    def __sub__(self, other: FieldRef[Any, T] | ExprRef[Any, T] | T | int) -> ExprRef[M, T]: ...
    @overload
    def __sub__(self, other: FieldRef[Any, float] | ExprRef[Any, float] | float) -> ExprRef[M, float]: ...
    @overload
    def __sub__(self, other: FieldRef[Any, Decimal] | ExprRef[Any, Decimal] | Decimal) -> ExprRef[M, Decimal]: ...
    @overload
    def __sub__(self, other: FieldRef[Any, Any] | ExprRef[Any, Any]) -> ExprRef[M, T]: ...
    def __sub__(self, other: Any) -> ExprRef[M, Any]:
        return _arith(ArithOp.SUB, self, other)

    def __rsub__(self, other: int | float | Decimal) -> ExprRef[M, T]:
        return _arith(ArithOp.SUB, other, self)

    @overload
    def __mul__(self, other: FieldRef[Any, T] | ExprRef[Any, T] | T | int) -> ExprRef[M, T]: ...
    @overload
    def __mul__(self, other: FieldRef[Any, float] | ExprRef[Any, float] | float) -> ExprRef[M, float]: ...
    @overload
    def __mul__(self, other: FieldRef[Any, Decimal] | ExprRef[Any, Decimal] | Decimal) -> ExprRef[M, Decimal]: ...
    @overload
    def __mul__(self, other: FieldRef[Any, Any] | ExprRef[Any, Any]) -> ExprRef[M, T]: ...
    def __mul__(self, other: Any) -> ExprRef[M, Any]:
        return _arith(ArithOp.MUL, self, other)

    def __rmul__(self, other: int | float | Decimal) -> ExprRef[M, T]:
        return _arith(ArithOp.MUL, other, self)

    def __neg__(self) -> ExprRef[M, T]:
        node = self._node()
        kind = expr_kind(node)
        if kind.value not in _NUMERIC_NAMES:
            raise errors.QueryError(f"-{render_expr(node)}: negation needs a number, not {_kind_name(kind)}")
        return ExprRef(Neg(node, kind), next(f.model for f in expr_fields(node)))

    def lower(self) -> ExprRef[M, str]:
        """The text in lower case (the database's ``lower``; identical everywhere for ASCII letters)."""
        node = self._node()
        _text_expr(node, "lower")
        return ExprRef(TextCase(CaseFunc.LOWER, node), next(f.model for f in expr_fields(node)))

    def upper(self) -> ExprRef[M, str]:
        """The text in upper case (the database's ``upper``; identical everywhere for ASCII letters)."""
        node = self._node()
        _text_expr(node, "upper")
        return ExprRef(TextCase(CaseFunc.UPPER, node), next(f.model for f in expr_fields(node)))

    def ilike(self, pattern: str) -> LikeExpr[M]:
        """Case-insensitive pattern match: ``lower(field) like`` the pattern with its literal text lowered."""
        node = self._node()
        folded = fold_like(_pattern(node, "ilike", pattern))
        return LikeExpr(TextCase(CaseFunc.LOWER, node), folded)

    @property
    def asc(self) -> OrderBy:
        """Ascending order (NULL first)."""
        return OrderBy(self._node(), False)

    @property
    def desc(self) -> OrderBy:
        """Descending order (NULL last)."""
        return OrderBy(self._node(), True)


class ExprRef(_Operand[M, T]):
    """What ``Post.views + 1`` or ``User.name.lower()`` is: builds comparisons, orderings and more expressions.

    Sugar like :class:`FieldRef`; :attr:`node` is the expression node. For
    type checkers it is ``ExprRef[Post, int]``: the model and the value type.
    """

    __slots__ = ("model", "node")

    def __init__(self, node: Expr, model: type) -> None:
        self.node = node
        self.model = model

    def _node(self) -> Expr:
        return self.node

    def __repr__(self) -> str:
        return render_expr(self.node)

    def __hash__(self) -> int:
        return hash(self.node)

    def __bool__(self) -> bool:
        raise TypeError(f"{self!r} is an expression: compare it (==, <, ...) to make a predicate")

    def __eq__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:  # type: ignore[override]
        return _compare_expr(self.node, Op.EQ, value)

    def __ne__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:  # type: ignore[override]
        return _compare_expr(self.node, Op.NE, value)

    def __lt__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:
        return _compare_expr(self.node, Op.LT, value)

    def __le__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:
        return _compare_expr(self.node, Op.LE, value)

    def __gt__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:
        return _compare_expr(self.node, Op.GT, value)

    def __ge__(self, value: T | FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]:
        return _compare_expr(self.node, Op.GE, value)

    def like(self, pattern: str) -> LikeExpr[M]:
        """Case-sensitive pattern match of a text expression (``%``, ``_``, ``\\`` escapes)."""
        return LikeExpr(self.node, _pattern(self.node, "like", pattern))


class FieldRef(_Operand[M, T]):
    """What ``Model.field`` is on a model class: builds query nodes.

    It is sugar, never a node: ``User.age >= 18`` returns a :class:`Compare`.
    For type checkers it is ``FieldRef[User, int]``: the model and the field's
    value type, against which comparisons and methods are typed (the
    ``ommi.mypy`` plugin gives class-level field access this type; without a
    plugin, :func:`col` does).
    """

    __slots__ = ("field", "info", "model", "name")

    def __init__(self, model: type, name: str, info: FieldInfo) -> None:
        self.model = model
        self.name = name
        self.info = info
        self.field = Field(model, name, info)

    def __repr__(self) -> str:
        return f"{self.model.__name__}.{self.name}"

    def __hash__(self) -> int:
        return hash((self.model, self.name))

    def _node(self) -> Expr:
        return self.field

    def _value(self, value: Any) -> Any:
        return self.info.check(value)

    def _ordered(self, op: Op, value: Any) -> Any:
        if value is None:
            raise errors.QueryError(f"{self!r} {op.value} None: use .is_null() / == None to test for NULL")
        info = self.info
        if info.kind is Kind.JSON:  # (_comparable, written out: every filter with < <= > >= passes here)
            self._comparable(op.value)
        if isinstance(value, (FieldRef, ExprRef)):
            return _compare_expr(self.field, op, value)
        return Compare(self.field, op, info.check(value))

    def _comparable(self, what: str) -> None:
        if self.info.kind is Kind.JSON:
            raise errors.QueryError(f"{self!r} is a JSON field: {what} is not supported on it")

    # ``==``/``!=`` take the field's type (``None`` tests for NULL), so they
    # narrow object's signature on purpose; another field or an expression
    # (``Post.views == Post.likes``) compares row by row
    @overload  # type: ignore[override]
    def __eq__(self, value: T | None) -> Compare[M] | IsNull[M]: ...
    @overload
    def __eq__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __eq__(self, value: Any) -> Any:
        if value is None:
            return IsNull(self.field)
        if isinstance(value, (FieldRef, ExprRef)):
            return _compare_expr(self.field, Op.EQ, value)
        return Compare(self.field, Op.EQ, self._value(value))

    @overload  # type: ignore[override]
    def __ne__(self, value: T | None) -> Compare[M] | Not[M]: ...
    @overload
    def __ne__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __ne__(self, value: Any) -> Any:
        if value is None:
            return Not(IsNull(self.field))
        if isinstance(value, (FieldRef, ExprRef)):
            return _compare_expr(self.field, Op.NE, value)
        return Compare(self.field, Op.NE, self._value(value))

    @overload
    def __lt__(self, value: T) -> Compare[M]: ...
    @overload
    def __lt__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __lt__(self, value: Any) -> Any:
        return self._ordered(Op.LT, value)

    @overload
    def __le__(self, value: T) -> Compare[M]: ...
    @overload
    def __le__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __le__(self, value: Any) -> Any:
        return self._ordered(Op.LE, value)

    @overload
    def __gt__(self, value: T) -> Compare[M]: ...
    @overload
    def __gt__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __gt__(self, value: Any) -> Any:
        return self._ordered(Op.GT, value)

    @overload
    def __ge__(self, value: T) -> Compare[M]: ...
    @overload
    def __ge__(self, value: FieldRef[Any, Any] | ExprRef[Any, Any]) -> CompareExpr[M]: ...
    def __ge__(self, value: Any) -> Any:
        return self._ordered(Op.GE, value)

    def is_null(self) -> IsNull[M]:
        """The field is NULL."""
        return IsNull(self.field)

    def is_not_null(self) -> Not[M]:
        """The field is not NULL."""
        return Not(IsNull(self.field))

    @overload
    def in_(self, values: SubqueryLike) -> InValues[M]: ...
    @overload
    def in_(self, values: Iterable[T | None]) -> In[M]: ...
    def in_(self, values: Any) -> Any:
        """The field equals one of ``values`` (an empty iterable matches nothing).

        ``values`` may also be a one-field values query,
        ``db.find(Post.views > 100).values(Post.author_id)``: it runs inside
        the same query (a subquery), and its NULL values match nothing.
        """
        if isinstance(values, (str, bytes)):
            raise errors.QueryError(f"{self!r}.in_() takes an iterable of values, not a single {type(values).__name__}")
        self._comparable("in_()")
        sub = getattr(values, "values_statement", None)
        if isinstance(sub, Values):
            return InValues(self.field, _subquery(self, sub))
        return In(self.field, tuple(None if v is None else self._value(v) for v in values))

    @overload
    def not_in(self, values: SubqueryLike) -> Not[M]: ...
    @overload
    def not_in(self, values: Iterable[T | None]) -> Not[M]: ...
    def not_in(self, values: Any) -> Not[M]:
        """The exact complement of :meth:`in_` (NULL fields match unless ``None`` is listed)."""
        return Not(self.in_(values))

    def between(self, low: T, high: T) -> Between[M]:
        """``low <= field <= high``, both ends included."""
        if low is None or high is None:
            raise errors.QueryError(f"{self!r}.between() needs two non-None bounds")
        self._comparable("between()")
        return Between(self.field, self._value(low), self._value(high))

    def _text(self, what: str, value: Any) -> str:
        if self.info.kind is not Kind.STR:
            raise errors.QueryError(f"{self!r}.{what}() works on str fields, not {self.info.kind.value}")
        if not isinstance(value, str):
            raise errors.ValidationError(f"{self!r}.{what}() takes a str, got {type(value).__name__}")
        return value

    def like(self, pattern: str) -> Like[M]:
        """Case-sensitive pattern match: ``%`` any run, ``_`` one character, ``\\`` escapes."""
        return Like(self.field, self._text("like", pattern))

    def contains(self, text: str) -> Like[M]:
        """The field contains ``text`` (literally, case-sensitive)."""
        return Like(self.field, "%" + escape_like(self._text("contains", text)) + "%")

    def startswith(self, text: str) -> Like[M]:
        """The field starts with ``text`` (literally, case-sensitive)."""
        return Like(self.field, escape_like(self._text("startswith", text)) + "%")

    def endswith(self, text: str) -> Like[M]:
        """The field ends with ``text`` (literally, case-sensitive)."""
        return Like(self.field, "%" + escape_like(self._text("endswith", text)))


class _FieldsOf:
    """What the getter of ``col(User, lambda u: u.age)`` reads: the model's field references."""

    __slots__ = ("_info",)

    def __init__(self, info: Any) -> None:
        self._info = info

    def __getattr__(self, name: str) -> FieldRef:
        f = self._info.by_name.get(name)
        if f is None:
            raise errors.QueryError(f"{self._info.cls.__name__} has no field {name!r}")
        return f.ref  # type: ignore[no-any-return]


# The first overload is exact under the mypy plugin (``User.age`` is already a
# FieldRef); checkers without a plugin see ``User.age`` as an ``int`` and pick
# the second.
@overload
def col(field: FieldRef[N, V], /) -> FieldRef[N, V]: ...
@overload
def col(field: V, /) -> FieldRef[Any, V]: ...
@overload
def col(model: type[N], get: Callable[[N], V], /) -> FieldRef[N, V]: ...
def col(target: Any, get: Callable[[Any], Any] | None = None, /) -> Any:
    """A model field as a typed field reference, for type checkers without the ommi plugin.

    ``col(User.age)`` is ``User.age`` itself at run time; to a type checker it
    is a ``FieldRef[Any, int]`` (pyright, or mypy without ``ommi.mypy``), so
    ``col(User.age) >= 18`` type-checks as a predicate. ``col(User, lambda u: u.age)``
    is the same reference typed ``FieldRef[User, int]``; it also suits mypy
    without the plugin, which refuses to read a dataclass field that has no
    default (or any field of a slotted class) on the class.

    Raises:
        QueryError: the argument is not a field of a model.
    """
    if get is not None:
        from ommi._model import get_model_info

        target = get(_FieldsOf(get_model_info(target)))
    if not isinstance(target, FieldRef):
        raise errors.QueryError(f"col() takes a model field such as User.age, not {target!r}")
    return target


class AggRef(Generic[M, T]):
    """What ``Sum(Order.amount)`` is: builds ``having`` predicates and group orderings.

    Like :class:`FieldRef`, it is sugar; :attr:`node` is the :class:`Agg` node.
    For type checkers it is ``AggRef[Order, Decimal]``: the model and the type
    of the values it is compared with.
    """

    __slots__ = ("node",)

    def __init__(self, func: AggFunc, field: FieldRef[Any, Any] | None) -> None:
        if field is not None and not isinstance(field, FieldRef):
            raise errors.QueryError(f"{func.value}() takes a model field such as Order.amount, not {field!r}")
        if field is None and func is not AggFunc.COUNT:
            raise errors.QueryError(f"{func.value}() needs a field")
        if (
            field is not None and func in (AggFunc.SUM, AggFunc.AVG)
            and field.info.kind not in (Kind.INT, Kind.FLOAT, Kind.DECIMAL)
        ):
            raise errors.QueryError(f"{func.value}({field!r}) needs a numeric field, not {field.info.kind.value}")
        self.node = Agg(func, field.field if field is not None else None)

    def __repr__(self) -> str:
        inner = f"{self.node.field.model.__name__}.{self.node.field.name}" if self.node.field else ""
        return f"{self.node.func.value}({inner})"

    def __hash__(self) -> int:
        return hash(self.node)

    def check(self, value: Any) -> Any:
        """Validate a value compared with this aggregate."""
        agg = self.node
        if agg.func in (AggFunc.COUNT, AggFunc.COUNT_DISTINCT) or agg.field is None:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise errors.ValidationError(f"{self!r} is compared with an int, got {value!r}")
        info = agg.field.info
        if agg.func is AggFunc.AVG and info.kind is not Kind.DECIMAL:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            raise errors.ValidationError(f"{self!r} is compared with a number, got {value!r}")
        return info.check(value)

    def _cmp(self, op: Op, value: Any) -> AggCompare[M]:
        if value is None:
            raise errors.QueryError(f"{self!r} {op.value} None: aggregates are compared with values")
        return AggCompare(self.node, op, self.check(value))

    def __eq__(self, value: T) -> AggCompare[M]:  # type: ignore[override]
        return self._cmp(Op.EQ, value)

    def __ne__(self, value: T) -> AggCompare[M]:  # type: ignore[override]
        return self._cmp(Op.NE, value)

    def __lt__(self, value: T) -> AggCompare[M]:
        return self._cmp(Op.LT, value)

    def __le__(self, value: T) -> AggCompare[M]:
        return self._cmp(Op.LE, value)

    def __gt__(self, value: T) -> AggCompare[M]:
        return self._cmp(Op.GT, value)

    def __ge__(self, value: T) -> AggCompare[M]:
        return self._cmp(Op.GE, value)

    @property
    def asc(self) -> AggOrder:
        """Order groups by this aggregate, ascending (NULL first)."""
        return AggOrder(self.node, False)

    @property
    def desc(self) -> AggOrder:
        """Order groups by this aggregate, descending (NULL last)."""
        return AggOrder(self.node, True)


@overload
def Count() -> AggRef[Any, int]: ...
@overload
def Count(field: FieldRef[N, Any]) -> AggRef[N, int]: ...
def Count(field: FieldRef[Any, Any] | None = None) -> AggRef[Any, int]:
    """``Count()`` counts rows; ``Count(field)`` counts non-NULL values."""
    return AggRef(AggFunc.COUNT, field)


def CountDistinct(field: FieldRef[N, Any]) -> AggRef[N, int]:
    """The number of distinct non-NULL values."""
    return AggRef(AggFunc.COUNT_DISTINCT, field)


def Sum(field: FieldRef[N, V]) -> AggRef[N, V]:
    """The sum of non-NULL values (``int`` for ints, ``Decimal`` for Decimals, ``float`` for floats)."""
    return AggRef(AggFunc.SUM, field)


@overload
def Avg(field: FieldRef[N, Decimal] | FieldRef[N, Decimal | None]) -> AggRef[N, Decimal]: ...
@overload
def Avg(field: FieldRef[N, Any]) -> AggRef[N, float]: ...
def Avg(field: FieldRef[Any, Any]) -> AggRef[Any, Any]:
    """The mean of non-NULL values (``float``, or ``Decimal`` for Decimal fields)."""
    return AggRef(AggFunc.AVG, field)


def Min(field: FieldRef[N, V]) -> AggRef[N, V]:
    """The smallest non-NULL value, of the field's own type."""
    return AggRef(AggFunc.MIN, field)


def Max(field: FieldRef[N, V]) -> AggRef[N, V]:
    """The largest non-NULL value, of the field's own type."""
    return AggRef(AggFunc.MAX, field)


# ---------------------------------------------------------------------------
# statements: what a driver receives


@dataclass(frozen=True)
class Select:
    """Rows of ``model`` matching ``where``, ordered and paged."""

    model: type
    where: Predicate | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Update:
    """Set ``values`` (validated Python values per field) on rows matching ``where``."""

    model: type
    where: Predicate | None
    values: tuple[tuple[Field, Any], ...]


@dataclass(frozen=True)
class Delete:
    """Delete rows of ``model`` matching ``where``."""

    model: type
    where: Predicate | None


@dataclass(frozen=True)
class Aggregate:
    """Aggregates over the rows of ``model`` matching ``where``, per group.

    The driver returns one tuple per group: the ``group_by`` values, then the
    ``aggregates`` values, in order. Without ``group_by`` there is exactly one
    row, also when nothing matches (counts 0, the others ``None``). ``having``
    may hold :class:`AggCompare` and predicates on group fields. Groups are
    ordered by ``order_by`` (fields of ``group_by`` or aggregates), else by the
    group fields ascending.
    """

    model: type
    where: Predicate | None
    group_by: tuple[Field, ...]
    having: Predicate | None
    aggregates: tuple[Agg, ...]
    order_by: tuple[OrderBy | AggOrder, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True, eq=False)
class Insert:
    """Store ``instances`` of ``model``; the driver writes generated keys back."""

    model: type
    instances: tuple[Any, ...]


@dataclass(frozen=True, eq=False)
class Save:
    """Write every non-key field of ``instances`` to the rows with their keys."""

    model: type
    instances: tuple[Any, ...]


@dataclass(frozen=True)
class Values:
    """The ``fields`` of the rows ``select`` matches, as tuples (``distinct``: each combination once).

    Ordered and paged by ``select``; with ``distinct``, ordering terms are
    among ``fields``. A one-field ``Values`` is also the subquery of
    :class:`InValues`.
    """

    select: Select
    fields: tuple[Field, ...]
    distinct: bool = False

    @property
    def model(self) -> type:
        """The model queried."""
        return self.select.model


@dataclass(frozen=True, eq=False)
class Upsert:
    """Store each of ``instances``, or where a row has the same ``on`` values, update its other fields.

    ``on`` is the model's key, or its ``Unique`` field. The driver writes
    generated keys back (for an updated row, its stored key).
    """

    model: type
    instances: tuple[Any, ...]
    on: tuple[Field, ...]


@dataclass(frozen=True, eq=False)
class Raw:
    """A native statement: SQL text in the backend's own dialect and parameter style, or a
    MongoDB command document; ``params`` are bound by the driver, never formatted into the text.

    With ``into``, the driver builds instances of that model from the named columns
    (documents); without, SQL drivers return tuples and MongoDB the documents.
    """

    statement: Any
    params: tuple[Any, ...]
    into: type | None = None

    @property
    def model(self) -> type | None:
        """The model rows are built into, if any."""
        return self.into


class SubqueryLike(Protocol):
    """What ``in_()`` accepts as a subquery: a values query (``db.find(...).values(Post.author_id)``)."""

    @property
    def values_statement(self) -> Values:
        """The :class:`Values` statement the query stands for."""
        ...


def _subquery(ref: FieldRef[Any, Any], sub: Values) -> Values:
    if len(sub.fields) != 1:
        raise errors.QueryError(f"{ref!r}.in_() takes a values query of one field, got {len(sub.fields)}")
    (other,) = sub.fields
    _comparable_kinds(ref.field, other, f"{ref!r}.in_({render_expr(other)})")
    return sub
