"""References checked by ommi itself, for drivers that don't enforce them.

A driver that declares the ``foreign_keys`` capability lets the database
enforce ``ReferenceTo``. For the others (a document store, an engine whose
foreign keys get in the way), ommi checks before writing: a reference must
name an existing row, and a row that is still referred to cannot be deleted.
Inside a transaction the checks run in that transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ommi import errors
from ommi._model import FieldInfo, ModelCollection, ModelInfo, get_model_info
from ommi.driver import Statements
from ommi.query import (
    EXPR_TYPES,
    And,
    Compare,
    Hop,
    In,
    IsNull,
    Not,
    Op,
    Or,
    Predicate,
    Related,
    Select,
)

__all__ = ["check_references", "check_unreferenced", "probe_clash"]


async def check_references(stmts: Statements, model: type, rows: Sequence[dict[str, Any]] | Sequence[Any]) -> None:
    """Every non-null reference in ``rows`` (instances or ``{field: value}`` dicts) names an existing row."""
    info = get_model_info(model)
    for f in info.fields:
        target = f.references()
        if target is None:
            continue
        # an instance's values are checked as its write will check them, before they reach
        # the database: a value of the wrong type, or the query reference an instance lacking
        # the value reads (FieldSource.install), is a ValidationError naming the field rather
        # than a driver's error (an update's dict holds checked values, or expressions)
        # (an update's expression, `author_id=Book.author_id + 1`, has no value to look up here:
        # update() refuses one for a reference ommi checks, and a database's own foreign key
        # checks it where the database has them)
        values = {
            v if isinstance(r, dict) else f.check(v)
            for r in rows
            if (v := _get(r, f.name)) is not None and not isinstance(v, EXPR_TYPES)
        }
        if not values:
            continue
        present = await stmts.select(Select(target.model.cls, In(target.ref.field, tuple(values))))
        found = {getattr(p, target.name) for p in present}
        missing = values - found
        if missing:
            raise errors.IntegrityError.about(info.cls, "reference", (f.name,))


async def check_unreferenced(stmts: Statements, model: type, where: Predicate | None) -> None:
    """No row of another model refers to the rows of ``model`` matching ``where``."""
    info = get_model_info(model)
    for other, f, target in _referrers(info):
        scope: Predicate = where if where is not None else Not(IsNull(target.ref.field))
        pred: Predicate = Related((Hop(f.ref.field, target.ref.field),), scope)
        if other is info:
            # a self-reference (a category's parent): rows deleted in the same
            # statement may refer to each other
            if where is None:
                continue
            pred = And((pred, Not(where)))
        if await stmts.count(Select(other.cls, pred, (), 1, None)):
            raise errors.IntegrityError.about(info.cls, "reference", referrer=f"{other.cls.__name__}.{f.name}")


async def probe_clash(
    stmts: Statements, model: type, rows: Sequence[Any], *, upsert_on: Sequence[FieldInfo] = ()
) -> errors.IntegrityError | None:
    """Which key or unique field ``rows`` (instances or ``{field: value}`` dicts) clash on, if any.

    For databases whose integrity errors do not say which constraint failed:
    a value given twice among the rows, or already held by a stored row
    other than the row being rewritten, names the key or field. For an upsert
    (``upsert_on``: the fields it matches stored rows on), a stored row with the
    same ``upsert_on`` values is the row being rewritten, not a clash.
    """
    info = get_model_info(model)
    groups: list[tuple[errors.IntegrityKind, tuple[FieldInfo, ...]]] = [("key", info.key)] if info.key else []
    groups += [("unique", (f,)) for f in info.fields if f.unique and not (f.key and len(info.key) == 1)]
    own = [r for r in rows if not isinstance(r, dict) and None not in info.key_of(r)] if info.key else []
    matched: list[tuple[Any, ...]] = []
    if upsert_on:
        on = tuple(upsert_on)
        groups = [g for g in groups if g[1] != on]  # the upsert's own match is not a clash
        matched = [v for r in rows if None not in (v := tuple(_get(r, f.name) for f in on))]
        own = []  # (the rows being rewritten are those matched, whatever their keys)
    for kind, fields in groups:
        names = tuple(f.name for f in fields)
        values = [tuple(_get(r, n) for n in names) for r in rows if all(_has(r, n) for n in names)]
        values = [v for v in values if None not in v]
        if not values:
            continue
        if len(set(values)) < len(values):
            return errors.IntegrityError.about(info.cls, kind, names)
        where: Predicate = _any_of_values(fields, values)
        if own and kind == "unique":  # a saved row keeps its own value
            where = And((where, Not(_any_of_values(info.key, [info.key_of(r) for r in own]))))
        if matched:  # a row an upsert rewrites keeps its own values
            where = And((where, Not(_any_of_values(tuple(upsert_on), matched))))
        if await stmts.count(Select(info.cls, where, (), 1, None)):
            return errors.IntegrityError.about(info.cls, kind, names)
    return None


def _any_of_values(fields: Sequence[FieldInfo], values: Sequence[tuple[Any, ...]]) -> Predicate:
    if len(fields) == 1:
        return In(fields[0].ref.field, tuple(v[0] for v in values))
    return Or(tuple(And(tuple(Compare(f.ref.field, Op.EQ, x) for f, x in zip(fields, v, strict=True))) for v in values))


def _has(row: Any, name: str) -> bool:
    return name in row if isinstance(row, dict) else True


_Referrer = tuple[ModelInfo, FieldInfo, FieldInfo]
_referrers_of: dict[ModelInfo, tuple[_Referrer, ...]] = {}
_referrers_as_of = [-1]  # the ModelCollection._changes the entries above were worked out at


def _referrers(info: ModelInfo) -> tuple[_Referrer, ...]:
    """The fields of the collection's models that refer to ``info``'s: ``(model, field, target)``.

    Worked out once and kept until another model is registered anywhere (a
    delete would otherwise read every field of every model of the collection);
    the registration drops every entry, so a model defined again is not kept.
    """
    changes = ModelCollection._changes
    if _referrers_as_of[0] != changes:
        _referrers_of.clear()
        _referrers_as_of[0] = changes
    found = _referrers_of.get(info)
    if found is None:
        found = tuple(
            (other, f, target)
            for other in info.collection.infos()
            for f in other.fields
            if (target := f.references()) is not None and target.model is info
        )
        if _referrers_as_of[0] == changes:  # (no model registered meanwhile)
            _referrers_of[info] = found
    return found


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name)


class ReferenceChecks:
    """The checks above, for a driver whose database does not enforce ``ReferenceTo``.

    ``Runtime.references`` holds this class for such a driver (``None`` otherwise):
    the module is loaded once, when the connection is made, rather than by an
    import statement in each write, which would run the import machinery on every
    call (and nobody else pays the millisecond this module costs at import).
    """

    check_references = staticmethod(check_references)
    check_unreferenced = staticmethod(check_unreferenced)

