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
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Union, overload

from ommi import errors

if TYPE_CHECKING:
    # Type-checker only: defaults (PEP 696) let drivers keep writing the bare
    # ``Compare`` or ``FieldRef`` while user code gets ``Compare[User]``.
    from typing_extensions import TypeVar

    from ommi._model import FieldInfo

    M = TypeVar("M", covariant=True, default=Any)  # noqa: PLC0105 - reads as "model" in signatures
    T = TypeVar("T", default=Any)
else:
    from typing import TypeVar

    M = TypeVar("M", covariant=True)  # noqa: PLC0105 - reads as "model" in signatures
    T = TypeVar("T")

N = TypeVar("N")
V = TypeVar("V")

__all__ = [
    "Agg",
    "AggCompare",
    "AggFunc",
    "AggOrder",
    "AggRef",
    "Aggregate",
    "And",
    "Avg",
    "Between",
    "Compare",
    "Condition",
    "Count",
    "CountDistinct",
    "Delete",
    "Field",
    "FieldRef",
    "Hop",
    "In",
    "Insert",
    "IsNull",
    "Like",
    "LikeToken",
    "Max",
    "Min",
    "Not",
    "Op",
    "Or",
    "OrderBy",
    "Predicate",
    "Related",
    "Save",
    "Select",
    "Sum",
    "Update",
    "Wildcard",
    "col",
    "escape_like",
    "like_pattern",
    "like_tokens",
]


class Op(enum.Enum):
    """Comparison operators of :class:`Compare`."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True, slots=True)
class Field:
    """A field of a model, as it appears in query nodes."""

    model: type
    name: str
    info: FieldInfo = field(compare=False, hash=False, repr=False)

    @property
    def column(self) -> str:
        """The stored column (or document field) name."""
        return self.info.column


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


@dataclass(frozen=True, slots=True)
class Compare(Condition[M]):
    """``field <op> value``; ``value`` is a validated Python value, never ``None``."""

    field: Field
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class IsNull(Condition[M]):
    """The field is NULL (or absent, in a document database)."""

    field: Field


@dataclass(frozen=True, slots=True)
class In(Condition[M]):
    """The field equals one of ``values``; a ``None`` among them matches NULL."""

    field: Field
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Between(Condition[M]):
    """``low <= field <= high``."""

    field: Field
    low: Any
    high: Any


@dataclass(frozen=True, slots=True)
class Like(Condition[M]):
    """Case-sensitive pattern match: ``%`` any run, ``_`` one character, ``\\`` escapes."""

    field: Field
    pattern: str


@dataclass(frozen=True, slots=True)
class And(Condition[M]):
    """All items hold."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class Or(Condition[M]):
    """At least one item holds."""

    items: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregate over the rows of a group; ``field`` is ``None`` only for ``COUNT`` of rows.

    NULLs are ignored by every function except ``Count()`` of rows. Over no
    values, counts are 0 and the others are NULL (``None``).
    """

    func: AggFunc
    field: Field | None = None


@dataclass(frozen=True, slots=True)
class AggCompare(Condition[M]):
    """``aggregate <op> value`` in a ``having`` clause (false when the aggregate is NULL)."""

    agg: Agg
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class Hop:
    """One step along ``ReferenceTo`` links: rows relate where ``source`` (a field of the
    current row's model) equals ``target`` (a field of the next model)."""

    source: Field
    target: Field


@dataclass(frozen=True, slots=True)
class Related(Condition[M]):
    """Some row reached from the queried row by following ``path`` satisfies ``where``.

    Built by ``find()`` when a predicate names fields of another model
    (``db.find(Post, User.name == "Alice")``); ``~Related`` means no such row.
    """

    path: tuple[Hop, ...]
    where: Predicate


Predicate = Union[  # noqa: UP007
    Compare[M], IsNull[M], In[M], Between[M], Like[M], And[M], Or[M], Not[M], AggCompare[M], Related[M]
]
"""The closed set of predicate nodes a driver compiles (``Predicate[User]``: about ``User``)."""


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One ordering term; NULL sorts first ascending, last descending."""

    field: Field
    descending: bool = False


@dataclass(frozen=True, slots=True)
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


class FieldRef(Generic[M, T]):
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

    def _value(self, value: Any) -> Any:
        if isinstance(value, FieldRef):
            raise errors.QueryError(f"comparing two fields ({self!r}, {value!r}) is not supported")
        return self.info.check(value)

    def _ordered(self, op: Op, value: Any) -> Compare[M]:
        if value is None:
            raise errors.QueryError(f"{self!r} {op.value} None: use .is_null() / == None to test for NULL")
        self._comparable(op.value)
        return Compare(self.field, op, self._value(value))

    def _comparable(self, what: str) -> None:
        from ommi._fields import Kind

        if self.info.kind is Kind.JSON:
            raise errors.QueryError(f"{self!r} is a JSON field: {what} is not supported on it")

    # ``==``/``!=`` take the field's type (``None`` tests for NULL), so they
    # narrow object's signature on purpose
    def __eq__(self, value: T | None) -> Compare[M] | IsNull[M]:  # type: ignore[override]
        if value is None:
            return IsNull(self.field)
        return Compare(self.field, Op.EQ, self._value(value))

    def __ne__(self, value: T | None) -> Compare[M] | Not[M]:  # type: ignore[override]
        if value is None:
            return Not(IsNull(self.field))
        return Compare(self.field, Op.NE, self._value(value))

    def __lt__(self, value: T) -> Compare[M]:
        return self._ordered(Op.LT, value)

    def __le__(self, value: T) -> Compare[M]:
        return self._ordered(Op.LE, value)

    def __gt__(self, value: T) -> Compare[M]:
        return self._ordered(Op.GT, value)

    def __ge__(self, value: T) -> Compare[M]:
        return self._ordered(Op.GE, value)

    def is_null(self) -> IsNull[M]:
        """The field is NULL."""
        return IsNull(self.field)

    def is_not_null(self) -> Not[M]:
        """The field is not NULL."""
        return Not(IsNull(self.field))

    def in_(self, values: Iterable[T | None]) -> In[M]:
        """The field equals one of ``values`` (an empty iterable matches nothing)."""
        if isinstance(values, (str, bytes)):
            raise errors.QueryError(f"{self!r}.in_() takes an iterable of values, not a single {type(values).__name__}")
        self._comparable("in_()")
        return In(self.field, tuple(None if v is None else self._value(v) for v in values))

    def not_in(self, values: Iterable[T | None]) -> Not[M]:
        """The exact complement of :meth:`in_` (NULL fields match unless ``None`` is listed)."""
        return Not(self.in_(values))

    def between(self, low: T, high: T) -> Between[M]:
        """``low <= field <= high``, both ends included."""
        if low is None or high is None:
            raise errors.QueryError(f"{self!r}.between() needs two non-None bounds")
        self._comparable("between()")
        return Between(self.field, self._value(low), self._value(high))

    def _text(self, what: str, value: Any) -> str:
        from ommi._fields import Kind

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

    @property
    def asc(self) -> OrderBy:
        """Ascending order on this field (NULL first)."""
        return OrderBy(self.field, False)

    @property
    def desc(self) -> OrderBy:
        """Descending order on this field (NULL last)."""
        return OrderBy(self.field, True)


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
        if field is not None and func in (AggFunc.SUM, AggFunc.AVG):
            from ommi._fields import Kind

            if field.info.kind not in (Kind.INT, Kind.FLOAT, Kind.DECIMAL):
                raise errors.QueryError(f"{func.value}({field!r}) needs a numeric field, not {field.info.kind.value}")
        self.node = Agg(func, field.field if field is not None else None)

    def __repr__(self) -> str:
        inner = f"{self.node.field.model.__name__}.{self.node.field.name}" if self.node.field else ""
        return f"{self.node.func.value}({inner})"

    def __hash__(self) -> int:
        return hash(self.node)

    def check(self, value: Any) -> Any:
        """Validate a value compared with this aggregate."""
        from ommi._fields import Kind

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


@dataclass(frozen=True, slots=True)
class Select:
    """Rows of ``model`` matching ``where``, ordered and paged."""

    model: type
    where: Predicate | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """Set ``values`` (validated Python values per field) on rows matching ``where``."""

    model: type
    where: Predicate | None
    values: tuple[tuple[Field, Any], ...]


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete rows of ``model`` matching ``where``."""

    model: type
    where: Predicate | None


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True, eq=False)
class Insert:
    """Store ``instances`` of ``model``; the driver writes generated keys back."""

    model: type
    instances: tuple[Any, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Save:
    """Write every non-key field of ``instances`` to the rows with their keys."""

    model: type
    instances: tuple[Any, ...]
