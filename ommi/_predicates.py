"""Predicate analysis: which fields and models a predicate names, and placing it on a model.

This sits beside the AST (:mod:`ommi.query`): ``find()`` uses it to turn the
user's arguments into a :class:`~ommi.query.Select`, replacing parts that
name other models' fields with :class:`~ommi.query.Related` nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ommi import errors
from ommi._model import ModelInfo, get_model_info
from ommi.query import (
    AggCompare,
    And,
    Between,
    Compare,
    CompareExpr,
    Condition,
    Field,
    FieldRef,
    In,
    IsNull,
    Like,
    LikeExpr,
    Not,
    Op,
    Or,
    Predicate,
    Related,
    Select,
    expr_fields,
)

__all__ = [
    "MAX_DEPTH",
    "any_of",
    "check_depth",
    "fields_of",
    "inside_aggregate",
    "join_all",
    "key_predicate",
    "localize",
    "models_in",
    "select_from",
]


MAX_DEPTH = 256
"""How deeply ``&``/``|``/``~`` may nest (``a | b | c`` is one level: same operators flatten)."""


def check_depth(pred: Predicate) -> Predicate:
    """Refuse a predicate nested deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(pred, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise errors.QueryError(
                f"the predicate is nested more than {MAX_DEPTH} levels deep: combine conditions of one kind "
                "in one call (a | b | c, or in_([...])) instead of alternating & and | ever deeper"
            )
        if isinstance(node, (And, Or)):
            stack.extend((item, depth + 1) for item in node.items)
        elif isinstance(node, Not):
            stack.append((node.item, depth + 1))
        elif isinstance(node, Related):
            stack.append((node.where, depth + 1))
    return pred


def fields_of(pred: Predicate) -> Iterable[Field]:
    """Every field a predicate tests (for a ``Related`` node, the first hop's source field)."""
    if isinstance(pred, (And, Or)):
        for item in pred.items:
            yield from fields_of(item)
    elif isinstance(pred, Not):
        yield from fields_of(pred.item)
    elif isinstance(pred, AggCompare):
        if pred.agg.field is not None:
            yield pred.agg.field
    elif isinstance(pred, Related):
        yield pred.path[0].source
    elif isinstance(pred, CompareExpr):
        yield from expr_fields(pred.left)
        yield from expr_fields(pred.right)
    elif isinstance(pred, LikeExpr):
        yield from expr_fields(pred.expr)
    else:
        yield pred.field


def models_in(pred: Predicate) -> set[type]:
    """The model classes whose fields a predicate names."""
    return {f.model for f in fields_of(pred)}


def localize(pred: Predicate, info: ModelInfo) -> Predicate:
    """Turn parts of a predicate that name other models' fields into :class:`Related` nodes.

    The largest subtree about one other model becomes one ``Related`` (so
    ``(User.name == "A") & (User.age > 3)`` asks for one user matching both);
    a negation stays outside (``~(User.name == "A")``: no related user is named A).
    """
    models = models_in(pred)
    if models <= {info.cls}:
        return pred
    if isinstance(pred, Not):
        # "~(Writer.name == 'Ann')" on articles: no related writer is named Ann
        return Not(localize(pred.item, info))
    if len(models) == 1:
        (other,) = models
        from ommi._relations import find_path  # a filter across models: rare, loads on first use

        return Related(find_path(info, get_model_info(other)), pred)
    if isinstance(pred, And):
        return And(tuple(localize(i, info) for i in pred.items))
    if isinstance(pred, Or):
        return Or(tuple(localize(i, info) for i in pred.items))
    raise errors.QueryError(f"cannot place {pred!r} on {info.cls.__name__}")


def inside_aggregate(pred: Predicate, f: Field) -> bool:
    """Whether every use of ``f`` in a having clause is inside an aggregate."""
    if isinstance(pred, (And, Or)):
        return all(inside_aggregate(i, f) for i in pred.items)
    if isinstance(pred, Not):
        return inside_aggregate(pred.item, f)
    if isinstance(pred, (AggCompare, Related)):
        return True
    return all(g != f for g in fields_of(pred))


def join_all(preds: Sequence[Predicate]) -> Predicate | None:
    """``None`` for no predicates, the predicate itself for one, else their ``And``."""
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    return And(tuple(preds))


def any_of(preds: Sequence[Predicate]) -> Predicate:
    """The ``Or`` of one or more predicates (the predicate itself for one)."""
    return preds[0] if len(preds) == 1 else Or(tuple(preds))


# predicates about one field of one model and nothing else: find() of one of them needs no walk
_ONE_FIELD = frozenset({Compare, Between, In, IsNull, Like})


def select_from(args: tuple[Any, ...]) -> Select:
    """The :class:`Select` that ``find(*args)`` means: one model class and predicates, ANDed."""
    if len(args) == 1:
        # the commonest calls, find(User) and find(User.age >= 18), without the general walk
        # below (what it would give: a leaf is one level deep and names only its own model)
        (arg,) = args
        if type(arg) in _ONE_FIELD:
            return Select(arg.field.model, arg)
        if isinstance(arg, type):
            get_model_info(arg)
            return Select(arg, None)
    model: type | None = None
    preds: list[Predicate] = []
    for arg in args:
        if isinstance(arg, type):
            get_model_info(arg)
            if model is not None and model is not arg:
                raise errors.QueryError(
                    f"find() got two models ({model.__name__}, {arg.__name__}); pass one model and predicates"
                )
            model = arg
        elif isinstance(arg, Condition):
            preds.append(check_depth(arg))  # type: ignore[arg-type]
        elif isinstance(arg, FieldRef):
            raise errors.QueryError(f"find() got the field {arg!r}; did you mean a comparison like {arg!r} == value?")
        else:
            raise errors.QueryError(f"find() takes a model class and predicates, not {arg!r}")
    if model is None:
        model = next((f.model for p in preds for f in fields_of(p)), None)
    if model is None:
        raise errors.QueryError("find() needs a model class or a predicate on a model's fields")
    info = get_model_info(model)
    return Select(model, join_all([localize(p, info) for p in preds]))


def key_predicate(info: ModelInfo, key: Any) -> Predicate:
    """``key field(s) == key`` (a tuple for composite keys), validated."""
    if len(info.key) == 1 and key is not None and not isinstance(key, tuple):  # the common case, first
        f = info.key[0]
        return Compare(f.ref.field, Op.EQ, f.check(key))
    if not info.key:
        raise errors.QueryError(f"{info.cls.__name__} has no key: declare one with Annotated[..., Key]")
    values = key if isinstance(key, tuple) else (key,)
    if len(values) != len(info.key):
        names = ", ".join(f.name for f in info.key)
        raise errors.QueryError(f"{info.cls.__name__} has a key of {len(info.key)} field(s) ({names}), got {key!r}")
    preds: list[Predicate] = []
    for f, v in zip(info.key, values, strict=True):
        if v is None:
            raise errors.QueryError(f"{info.cls.__name__}.{f.name} is None: the instance has no key yet")
        preds.append(Compare(f.ref.field, Op.EQ, f.check(v)))
    return preds[0] if len(preds) == 1 else And(tuple(preds))
