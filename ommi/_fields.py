"""Field metadata markers, field kinds and value validation.

Everything here is decided once per field, at decoration time; the per-value
checks are small functions picked from a table so the write path does no
lookups it could have done earlier.
"""

from __future__ import annotations

import enum
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from ommi import errors

if TYPE_CHECKING:
    from dataclasses import dataclass
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = [
    "Auto",
    "AwareDatetime",
    "Index",
    "Key",
    "Kind",
    "Marker",
    "ReferenceTo",
    "StoreAs",
    "TZAware",
    "Unique",
    "check_identifier",
    "check_table_name",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Marker:
    """A flag that goes in ``Annotated[...]`` metadata (``Key``, ``Auto``, ...).

    Markers combine with ``|``: ``Annotated[int, Key | Auto]``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __or__(self, other: Marker | MarkerSet) -> MarkerSet:
        return MarkerSet((self,)) | other

    def __ror__(self, other: Marker | MarkerSet) -> MarkerSet:
        return MarkerSet((self,)) | other


@dataclass(frozen=True, slots=True)
class MarkerSet:
    """Several markers joined with ``|``."""

    markers: tuple[Marker, ...]

    def __or__(self, other: Marker | MarkerSet) -> MarkerSet:
        extra = other.markers if isinstance(other, MarkerSet) else (other,)
        return MarkerSet(self.markers + extra)

    def __repr__(self) -> str:
        return " | ".join(repr(m) for m in self.markers)


Key = Marker("Key")
"""Marks a key field; several ``Key`` fields make a composite key."""
Auto = Marker("Auto")
"""The database generates this integer key when it is ``None`` at ``add()``."""
Unique = Marker("Unique")
"""No two rows may hold the same non-null value in this field."""
Index = Marker("Index")
"""Create an index on this field."""
TZAware = Marker("TZAware")
"""This ``datetime`` field stores timezone-aware values (see :data:`AwareDatetime`)."""

AwareDatetime = typing.Annotated[datetime, TZAware]
"""A ``datetime`` field holding timezone-aware values (stored as the UTC instant)."""


@dataclass(frozen=True, slots=True)
class StoreAs:
    """Store the field under another column (or document field) name."""

    name: str


@dataclass(frozen=True, slots=True)
class ReferenceTo:
    """The field refers to another model's field: ``ReferenceTo(User.id)`` or ``ReferenceTo("User.id")``.

    SQL backends create a foreign key for it.
    """

    target: Any


class Kind(enum.Enum):
    """The portable type of a field; drivers map each kind to a native type."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    BYTES = "bytes"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    UUID = "uuid"
    ENUM = "enum"
    JSON = "json"


_SIMPLE_KINDS: dict[Any, Kind] = {
    str: Kind.STR,
    int: Kind.INT,
    float: Kind.FLOAT,
    bool: Kind.BOOL,
    bytes: Kind.BYTES,
    datetime: Kind.DATETIME,
    date: Kind.DATE,
    time: Kind.TIME,
    dict: Kind.JSON,
    list: Kind.JSON,
}

# Table names a backend keeps for itself, compared case-insensitively: a model
# stored there would clash with (or be shadowed by) the backend's own objects.
_RESERVED_PREFIXES = {
    "sqlite_": "SQLite (its internal tables)",
    "pg_": "PostgreSQL (its system catalogs)",
    "system.": "MongoDB (its system collections)",
}
_RESERVED_NAMES = {
    "ommi_counters": "ommi's MongoDB driver (its key counters)",
    "ommi_migrations": "ommi (schema migrations)",
}


def check_identifier(name: str, what: str) -> str:
    """Refuse a table or column name that no backend can store.

    Names are always quoted when sent to a database, so spaces, mixed case,
    punctuation, keywords and letters of any script are kept as they are
    (existing databases use them). What is refused is the empty name, NUL,
    and text that is not valid Unicode (a lone surrogate cannot be encoded).
    Backend-specific limits are the drivers' to enforce: PostgreSQL's 63-byte
    names, MongoDB's ``$``-leading and dotted field names.
    """
    if not isinstance(name, str) or not name:
        raise errors.ModelError(f"{what} {name!r} cannot be used as a database name: it must be a non-empty str")
    if "\x00" in name:
        raise errors.ModelError(f"{what} {name!r} cannot be used as a database name: no backend stores NUL in a name")
    try:
        name.encode()
    except UnicodeEncodeError:
        raise errors.ModelError(
            f"{what} {name!r} cannot be used as a database name: it is not valid Unicode text"
        ) from None
    return name


def check_table_name(name: str, what: str) -> str:
    """:func:`check_identifier`, and refuse names a backend reserves for itself."""
    check_identifier(name, what)
    folded = name.casefold()
    owner = _RESERVED_NAMES.get(folded) or next(
        (owner for prefix, owner in _RESERVED_PREFIXES.items() if folded.startswith(prefix)), None
    )
    if owner is not None:
        raise errors.ModelError(
            f"{what} {name!r} is reserved by {owner}; store the model under another name "
            "(@ommi_model(name=...))"
        )
    return name


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """What an annotation says about a field's stored type."""

    kind: Kind
    py_type: Any
    nullable: bool
    markers: tuple[Any, ...]


def parse_annotation(annotation: Any, where: str) -> TypeSpec:
    """Read a field annotation into a :class:`TypeSpec`, or raise ``ModelError``."""
    markers: list[Any] = []
    tp = annotation
    nullable = False
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            tp = args[0]
            for meta in args[1:]:
                if isinstance(meta, MarkerSet):
                    markers.extend(meta.markers)
                else:
                    markers.append(meta)
            continue
        if origin is typing.Union or origin is types.UnionType:
            args = typing.get_args(tp)
            rest = [a for a in args if a is not type(None)]
            if len(rest) != len(args):
                nullable = True
            if len(rest) != 1:
                raise errors.ModelError(
                    f"{where}: unsupported type {_type_name(annotation)}: a field holds one type "
                    "(optionally `| None`)"
                )
            tp = rest[0]
            continue
        break
    if tp is type(None) or tp is None:
        raise errors.ModelError(f"{where}: unsupported type {_type_name(annotation)}")
    origin = typing.get_origin(tp)
    base = origin if origin is not None else tp
    if getattr(base, "__name__", None) == "AwareDatetime" and "pydantic" in getattr(
        base, "__module__", ""
    ):
        base, markers = datetime, [*markers, TZAware]
    kind = _SIMPLE_KINDS.get(base) or _imported_kind(base)
    if kind is None and isinstance(base, type) and issubclass(base, enum.Enum):
        kind = Kind.ENUM
        values = {type(m.value) for m in base}
        if not (values <= {str} or values <= {int}) or not values:
            raise errors.ModelError(
                f"{where}: enum {base.__name__} needs all-str or all-int values to be stored"
            )
    if kind is None:
        raise errors.ModelError(
            f"{where}: unsupported type {_type_name(annotation)}; supported: str, int, float, bool, "
            "bytes, Decimal, datetime, date, time, UUID, Enum, dict/list (JSON), and `X | None`"
        )
    if TZAware in markers and kind is not Kind.DATETIME:
        raise errors.ModelError(f"{where}: TZAware applies to datetime fields only")
    return TypeSpec(kind=kind, py_type=base, nullable=nullable, markers=tuple(markers))


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


# ---------------------------------------------------------------------------
# value checks: one function per kind, picked at decoration time


def no_value(where: str) -> errors.ValidationError:
    """The error of writing an instance that lacks a field's value (never set, or deleted)."""
    return errors.ValidationError(f"{where} has no value: the instance lacks the attribute")


def _bad(where: str, value: Any, expected: str) -> errors.ValidationError:
    from ommi.query import FieldRef  # (an error path: the import costs nothing on writes that pass)

    if isinstance(value, FieldRef):
        # a dataclass or attrs instance without the value reads the class's query
        # reference (ommi's FieldSource.install): say what is wrong, not what the type is
        return no_value(where)
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return errors.ValidationError(f"{where} expects {expected}, got {type(value).__name__} {shown}")


def _check_str(value: Any, f: _Spec) -> Any:
    if isinstance(value, str):
        if not value.isascii() and re.search(_SURROGATE, value):
            # not Unicode text (a lone surrogate, e.g. from a bad decode): no database stores it
            raise errors.ValidationError(f"{f.where}: the text holds a lone surrogate, which is not Unicode")
        return value
    raise _bad(f.where, value, "str")


_SURROGATE = "[\ud800-\udfff]"  # compiled (and cached by re) the first time non-ASCII text is checked


def _check_int(value: Any, f: _Spec) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return int(value)
        raise errors.ValidationError(f"{f.where}: {value} does not fit in a 64-bit integer")
    raise _bad(f.where, value, "int")


def _check_float(value: Any, f: _Spec) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError as exc:  # an int beyond the largest float
            bits = value.bit_length()
            raise errors.ValidationError(f"{f.where}: an int of {bits} bits is too large for a float") from exc
        if math.isnan(value):
            raise errors.ValidationError(f"{f.where}: NaN cannot be stored (it equals nothing, so no query finds it)")
        return value
    raise _bad(f.where, value, "float")


def _check_bool(value: Any, f: _Spec) -> Any:
    if isinstance(value, bool):
        return value
    raise _bad(f.where, value, "bool")


def _check_bytes(value: Any, f: _Spec) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _bad(f.where, value, "bytes")


def _check_decimal(value: Any, f: _Spec) -> Any:
    decimal = f.py_type  # the Decimal class (see make_checker)
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal(value)
    if isinstance(value, decimal):
        if not value.is_finite():
            raise errors.ValidationError(f"{f.where}: {value} cannot be stored (not finite)")
        return value
    raise _bad(f.where, value, "Decimal")


def _check_datetime(value: Any, f: _Spec) -> Any:
    if not isinstance(value, datetime):
        raise _bad(f.where, value, "datetime")
    if (value.utcoffset() is not None) == f.aware:
        if f.aware:
            try:  # stored as its UTC instant, which must be a datetime too
                value.astimezone(UTC)
            except OverflowError:
                raise errors.ValidationError(
                    f"{f.where}: {value.isoformat()} is outside years 1-9999 in UTC, so it cannot be stored"
                ) from None
        return value
    if f.aware:
        raise errors.ValidationError(f"{f.where} holds timezone-aware datetimes, got naive {value!r}")
    raise errors.ValidationError(
        f"{f.where} holds naive datetimes, got aware {value!r}; annotate the field as "
        "ommi.AwareDatetime (Annotated[datetime, TZAware]) to store aware ones"
    )


def _check_date(value: Any, f: _Spec) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise _bad(f.where, value, "date")


def _check_time(value: Any, f: _Spec) -> Any:
    if not isinstance(value, time):
        raise _bad(f.where, value, "time")
    if value.tzinfo is not None:
        raise errors.ValidationError(f"{f.where}: times with a timezone are not supported")
    return value


def _check_uuid(value: Any, f: _Spec) -> Any:
    import uuid  # imported already: the field's annotation names it (see parse_annotation)

    if isinstance(value, uuid.UUID):
        return value
    raise _bad(f.where, value, "UUID")


def _check_enum(value: Any, f: _Spec) -> Any:
    if isinstance(value, f.py_type):
        return value
    try:
        return f.py_type(value)
    except ValueError:
        raise _bad(f.where, value, f.py_type.__name__) from None


def _check_json(value: Any, f: _Spec) -> Any:
    if isinstance(value, (dict, list, str, int, float, bool)):
        return value
    raise _bad(f.where, value, "a JSON value (dict or list)")


@dataclass(frozen=True, slots=True)
class _Spec:
    py_type: Any
    aware: bool
    where: str


def _imported_kind(base: Any) -> Kind | None:
    """UUID and Decimal, which are not in the table: importing uuid (and platform, which it
    imports) costs every program a few milliseconds at start-up, decimal about 1 ms; an
    annotation naming either has imported it."""
    if "uuid" in sys.modules and base is sys.modules["uuid"].UUID:
        return Kind.UUID
    if "decimal" in sys.modules and base is sys.modules["decimal"].Decimal:
        return Kind.DECIMAL
    return None


_CHECKS: dict[Kind, Callable[[Any, _Spec], Any]] = {
    Kind.STR: _check_str,
    Kind.INT: _check_int,
    Kind.FLOAT: _check_float,
    Kind.BOOL: _check_bool,
    Kind.BYTES: _check_bytes,
    Kind.DECIMAL: _check_decimal,
    Kind.DATETIME: _check_datetime,
    Kind.DATE: _check_date,
    Kind.TIME: _check_time,
    Kind.UUID: _check_uuid,
    Kind.ENUM: _check_enum,
    Kind.JSON: _check_json,
}


def make_checker(kind: Kind, py_type: Any, nullable: bool, aware: bool, where: str) -> Callable[[Any], Any]:
    """Build the function that validates and normalises a value for one field.

    It returns the value to store (e.g. an ``int`` widened to ``float``) or
    raises :class:`ommi.errors.ValidationError` naming the field.
    """
    inner = _CHECKS[kind]
    if kind is Kind.DECIMAL:  # a Decimal field or literal: the module is in use, and the check needs the class
        from decimal import Decimal

        py_type = Decimal
    spec = _Spec(py_type, aware, where)

    def check(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise errors.ValidationError(f"{where} is not optional and cannot be None")
        return inner(value, spec)

    return check
