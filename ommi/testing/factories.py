"""Factories: valid model instances for tests, built from the model's field metadata."""

from __future__ import annotations

import enum
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ommi import Ommi, errors
from ommi.driver import FieldInfo, model_info
from ommi.sql import Kind

__all__ = ["Factory", "sequence"]

M = TypeVar("M")

_EPOCH = datetime(2024, 1, 1, 12, 0, 0)


class sequence:
    """A value computed from the instance's sequence number: ``sequence(lambda n: f"user{n}@example.com")``."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[int], Any]) -> None:
        self.fn = fn


def _generated(f: FieldInfo, n: int) -> Any:
    kind = f.kind
    if kind is Kind.STR:
        return f"{f.name}-{n}"
    if kind is Kind.INT:
        return n
    if kind is Kind.FLOAT:
        return n + 0.5
    if kind is Kind.BOOL:
        return n % 2 == 0
    if kind is Kind.BYTES:
        return f"{f.name}-{n}".encode()
    if kind is Kind.DECIMAL:
        return Decimal(n) / 100
    if kind is Kind.DATETIME:
        moment = _EPOCH + timedelta(minutes=n)
        return moment.replace(tzinfo=UTC) if f.aware else moment
    if kind is Kind.DATE:
        return date(2024, 1, 1) + timedelta(days=n)
    if kind is Kind.TIME:
        return time(n % 24, n % 60)
    if kind is Kind.UUID:
        return uuid.UUID(int=n)
    if kind is Kind.ENUM:
        members = list(f.py_type)
        return members[n % len(members)]
    assert kind is Kind.JSON
    return {"n": n} if f.py_type is dict else [n]


class Factory(Generic[M]):
    """Builds valid instances of a model, with per-field defaults and sequences.

    Every field gets a value: an override, else a factory default (a value, a
    callable taking no argument, or :class:`sequence`), else the model's own
    default, else a generated value of the right type that differs per
    instance (so ``Unique`` fields don't collide). Generated keys stay
    ``None`` for the database to fill; required references must be given.

    Args:
        model: the model class.
        **defaults: values or callables per field name.
    """

    def __init__(self, model: type[M], **defaults: Any) -> None:
        self.model = model
        self.info = model_info(model)
        unknown = set(defaults) - set(self.info.by_name)
        if unknown:
            raise errors.ModelError(f"Factory({model.__name__}) got unknown fields: {', '.join(sorted(unknown))}")
        self.defaults = defaults
        self._counter = itertools.count(1)

    def build(self, **overrides: Any) -> M:
        """One new instance (not stored)."""
        n = next(self._counter)
        values: dict[str, Any] = {}
        for f in self.info.fields:
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif f.name in self.defaults:
                values[f.name] = self._value(self.defaults[f.name], n)
            elif f.auto or f.has_default:
                continue
            elif f.reference is not None and not f.nullable:
                raise errors.ModelError(
                    f"Factory({self.model.__name__}) needs {f.name}=...: it refers to another model"
                )
            elif f.nullable and f.reference is not None:
                values[f.name] = None
            else:
                values[f.name] = _generated(f, n)
        unknown = set(overrides) - set(self.info.by_name)
        if unknown:
            raise errors.ModelError(f"{self.model.__name__} has no field(s) {', '.join(sorted(unknown))}")
        return self.model(**values)

    def build_batch(self, count: int, **overrides: Any) -> list[M]:
        """``count`` new instances (not stored)."""
        return [self.build(**overrides) for _ in range(count)]

    async def create(self, db: Ommi, **overrides: Any) -> M:
        """Build one instance and add it through ``db``; its generated key is filled in."""
        [instance] = await db.add(self.build(**overrides)).or_raise()
        return instance

    async def create_batch(self, db: Ommi, count: int, **overrides: Any) -> list[M]:
        """Build ``count`` instances and add them with one ``add()``."""
        return await db.add(*self.build_batch(count, **overrides)).or_raise()

    @staticmethod
    def _value(default: Any, n: int) -> Any:
        if isinstance(default, sequence):
            return default.fn(n)
        if callable(default) and not isinstance(default, (type, enum.Enum)):
            return default()
        return default
