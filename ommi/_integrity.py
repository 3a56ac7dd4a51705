"""References checked by ommi itself, for drivers that don't enforce them.

A driver that declares the ``foreign_keys`` capability lets the database
enforce ``ReferenceTo``. For the others (a document store, an engine whose
foreign keys get in the way), ommi checks before writing: a reference must
name an existing row, and a row that is still referred to cannot be deleted.
Inside a transaction the checks run in that transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ommi import errors
from ommi._model import FieldInfo, ModelInfo, get_model_info
from ommi.driver import Statements
from ommi.query import And, Hop, In, IsNull, Not, Predicate, Related, Select

__all__ = ["check_references", "check_unreferenced"]


async def check_references(stmts: Statements, model: type, rows: Sequence[dict[str, Any]] | Sequence[Any]) -> None:
    """Every non-null reference in ``rows`` (instances or ``{field: value}`` dicts) names an existing row."""
    info = get_model_info(model)
    for f in info.fields:
        target = f.references()
        if target is None:
            continue
        values = {v for v in (_get(r, f.name) for r in rows) if v is not None}
        if not values:
            continue
        present = await stmts.select(Select(target.model.cls, In(target.ref.field, tuple(values))))
        found = {getattr(p, target.name) for p in present}
        missing = values - found
        if missing:
            shown = ", ".join(repr(v) for v in sorted(missing, key=repr)[:5])
            raise errors.IntegrityError(
                f"{info.cls.__name__}.{f.name} refers to {target.model.cls.__name__}.{target.name} = {shown}, "
                "which does not exist"
            )


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
            raise errors.IntegrityError(
                f"cannot delete {info.cls.__name__}: rows of {other.cls.__name__} still refer to it "
                f"through {other.cls.__name__}.{f.name}"
            )


def _referrers(info: ModelInfo) -> Iterable[tuple[ModelInfo, FieldInfo, FieldInfo]]:
    for other in info.collection.infos():
        for f in other.fields:
            target = f.references()
            if target is not None and target.model is info:
                yield other, f, target


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name)
