"""``@ommi_model``: read a user's class once and leave it the user's class.

The decorator builds a :class:`ModelInfo` (fields, key, storage names, value
checks, fast row loaders) and installs one descriptor per field, so that
``User.age`` is a query reference while ``user.age`` stays the plain value.
"""

from __future__ import annotations

import contextlib
import inspect
import keyword
import math
import operator
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from ommi import errors
from ommi._adapters import NO_DEFAULT, FieldSource, Validator, adapter_for
from ommi._fields import (
    INT64_MAX,
    INT64_MIN,
    Auto,
    Index,
    Key,
    Kind,
    ReferenceTo,
    StoreAs,
    TZAware,
    Unique,
    check_identifier,
    check_table_name,
    make_checker,
    no_value,
    parse_annotation,
)
from ommi.query import FieldRef

if TYPE_CHECKING:
    from dataclasses import dataclass

    from ommi._relations import Relation
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = [
    "ColumnDecoder",
    "ColumnEncoder",
    "FieldInfo",
    "ModelCollection",
    "ModelInfo",
    "default_collection",
    "get_model_info",
    "ommi_model",
]

T = TypeVar("T")
F = TypeVar("F")


class ModelCollection:
    """A named group of models that are created and dropped together.

    Models go into :data:`default_collection` unless ``@ommi_model(collection=...)``
    names another one.
    """

    _changes: ClassVar[int] = 0
    """How many models any collection has registered: references resolve by name across
    collections, so what refers to what is worked out again after each (``ommi._integrity``)."""

    def __init__(self, name: str = "collection") -> None:
        self.name = name
        self._models: dict[str, ModelInfo] = {}

    def __repr__(self) -> str:
        return f"ModelCollection({self.name!r}, models={list(self._models)})"

    def __iter__(self) -> Iterator[type]:
        return (info.cls for info in self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, model: object) -> bool:
        return any(info.cls is model for info in self._models.values())

    @property
    def models(self) -> list[type]:
        """The model classes of this collection, in declaration order."""
        return list(self)

    def infos(self) -> list[ModelInfo]:
        """The :class:`ModelInfo` of each model, in declaration order."""
        return list(self._models.values())

    def add(self, info: ModelInfo) -> None:
        """Register a model (done by ``@ommi_model``).

        Raises:
            ModelError: another model of the collection is stored under a name
                that differs only in case.
        """
        self.check_name(info.name, info.cls)
        # A model redefined under the same name (a reloaded module, a test
        # defining it again) replaces the old one in this collection.
        self._models[info.name] = info
        ModelCollection._changes += 1

    def check_name(self, name: str, cls: type) -> None:
        """Refuse a table name that differs only in case from another model's in this collection.

        SQLite, DuckDB and MySQL match names case-insensitively: the two models
        would share one table there.
        """
        folded = name.casefold()
        for other in self._models.values():
            if other.name != name and other.name.casefold() == folded:
                raise errors.ModelError(
                    f"model {cls.__qualname__} is stored as {name!r} and {other.cls.__qualname__} as "
                    f"{other.name!r} in collection {self.name!r}: names that differ only in case are "
                    "one table on SQLite, DuckDB and MySQL; rename one (@ommi_model(name=...))"
                )

    def find(self, name: str) -> ModelInfo | None:
        """Look up a model of this collection by class name or table name."""
        for info in reversed(self._models.values()):
            if name in (info.cls.__name__, info.name):
                return info
        return None


default_collection = ModelCollection("default")

# every decorated model, newest last: forward references by name fall back to it
_all_models: list[ModelInfo] = []
_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class FieldInfo:
    """Everything ommi knows about one field of a model; built once, at decoration, and frozen.

    The one link set after construction is ``model`` (and the field's query
    reference): a field and its model refer to each other.
    """

    name: str
    column: str
    kind: Kind
    py_type: Any
    nullable: bool
    key: bool = False
    auto: bool = False
    unique: bool = False
    index: bool = False
    aware: bool = False
    reference: ReferenceTo | None = None
    has_default: bool = False
    default: Any = field(default=NO_DEFAULT, repr=False)
    model: ModelInfo = field(default=None, repr=False)  # type: ignore[assignment]
    check: Callable[[Any], Any] = field(default=None, repr=False)  # type: ignore[assignment]
    """ommi's type check: validates and normalises a value (also one compared in a query)."""
    validate: Validator | None = field(default=None, repr=False)
    """The model library's own validation of a written value (pydantic constraints and
    field validators, attrs validators), or ``None`` if the field has none."""

    def check_write(self, value: Any, instance: Any = None) -> Any:
        """A value about to be written: ommi's check, then the library's validation."""
        value = self.check(value)
        if self.validate is not None and value is not None:
            self.validate(value, instance)
        return value

    @property
    def ref(self) -> FieldRef[Any, Any]:
        """The query reference of this field (``Model.field``)."""
        return self._ref

    _ref: FieldRef[Any, Any] = field(default=None, repr=False)  # type: ignore[arg-type]

    def references(self) -> FieldInfo | None:
        """The field this one refers to, resolving forward references by name.

        Raises:
            ModelError: the target is unknown, or is not a field a reference can name.
        """
        if self.reference is None:
            return None
        target = _reference_target(self, lambda name: self.model.collection.find(name) or _find_any(name))
        if target is None:
            raise errors.ModelError(
                f"{self.model.cls.__name__}.{self.name}: ReferenceTo({self.reference.target!r}) names an unknown model"
            )
        return target


def _reference_target(f: FieldInfo, find: Callable[[str], ModelInfo | None]) -> FieldInfo | None:
    """The field ``f``'s ``ReferenceTo`` names (``None``: a model not defined yet).

    ``ReferenceTo(User.id)``, ``ReferenceTo("User.id")``, and ``ReferenceTo(User)``
    or ``ReferenceTo("User")`` (the model's key) are accepted.
    """
    assert f.reference is not None
    target = f.reference.target
    where = f"{f.model.cls.__qualname__}.{f.name}: ReferenceTo({_shown(target)})"
    if isinstance(target, FieldRef):
        found = target.info
    elif isinstance(target, (type, str)):
        field_name: str | None = None
        if isinstance(target, str):
            model_name, dot, field_name = target.rpartition(".")
            if not dot:
                model_name, field_name = target, None
            info = find(model_name)
            if info is None:
                return None
        else:
            # the model itself is being decorated: it has no __ommi__ yet
            info = f.model if target is f.model.cls else target.__dict__.get("__ommi__")
            if not isinstance(info, ModelInfo):
                raise errors.ModelError(f"{where}: {target.__qualname__} is not an ommi model")
        if field_name is None:
            if len(info.key) != 1:
                shown = ", ".join(k.name for k in info.key) or "none"
                raise errors.ModelError(
                    f"{where} refers to the key of {info.cls.__name__}, which is not one field (key fields: "
                    f"{shown}); composite references are not supported"
                )
            found = info.key[0]
        else:
            if field_name not in info.by_name:
                raise errors.ModelError(f"{where}: {info.cls.__name__} has no field {field_name!r}")
            found = info.by_name[field_name]
    else:
        raise errors.ModelError(f"{where}: ReferenceTo needs Model.field, 'Model.field' or a model class")
    whole_key = found.model.key
    if found.key and len(whole_key) > 1 and not found.unique:
        shown = ", ".join(k.name for k in whole_key)
        raise errors.ModelError(
            f"{where} names one field of {found.model.cls.__name__}'s composite key ({shown}); a reference "
            "must name a single-field key or a Unique field (composite references are not supported)"
        )
    return found


def _shown(target: Any) -> str:
    return target.__qualname__ if isinstance(target, type) else repr(target)


def _find_any(name: str) -> ModelInfo | None:
    for info in reversed(_all_models):
        if name in (info.cls.__name__, info.name):
            return info
    return None


def all_model_infos() -> list[ModelInfo]:
    """Every decorated model that is still current (a redefinition replaces the older class)."""
    latest: dict[tuple[int, str], ModelInfo] = {}
    for info in _all_models:
        latest[(id(info.collection), info.name)] = info
    return list(latest.values())


def find_model(name: str, collection: ModelCollection) -> ModelInfo | None:
    """A model by class or table name: in ``collection`` first, then among all models."""
    return collection.find(name) or _find_any(name)


class ModelInfo:
    """The per-model plan: fields, key, storage names and fast converters.

    Drivers read it through :func:`ommi.driver.model_info`; users rarely need it.
    """

    def __init__(
        self, cls: type, name: str, collection: ModelCollection, fields: Sequence[FieldInfo], source: FieldSource
    ) -> None:
        self.cls = cls
        self.name = name
        self.collection = collection
        self.fields: tuple[FieldInfo, ...] = tuple(fields)
        self.by_name: dict[str, FieldInfo] = {f.name: f for f in self.fields}
        self.by_column: dict[str, FieldInfo] = {f.column: f for f in self.fields}
        self.key: tuple[FieldInfo, ...] = tuple(f for f in self.fields if f.key)
        autos = [f for f in self.key if f.auto]
        self.auto_key: FieldInfo | None = autos[0] if autos else None
        self.source = source
        self.refers = any(f.reference is not None for f in self.fields)
        """Whether a field refers to another row (``ReferenceTo``): the writes ommi checks where the
        database does not (read on every write, so worked out once)."""
        self.relations: dict[str, Relation] = {}
        self._getter = _make_getter([f.name for f in self.fields])
        self._key_getter = _make_getter([f.name for f in self.key]) if self.key else None
        # generated functions by what they were built from (see _built_once)
        self._built: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}

    def __repr__(self) -> str:
        return f"<ModelInfo {self.cls.__qualname__} as {self.name!r}>"

    # -- reading instances -------------------------------------------------

    def values(self, instance: Any) -> tuple[Any, ...]:
        """The raw attribute values of ``instance`` in field order."""
        return self._getter(instance)

    def checked_values(self, instance: Any) -> tuple[Any, ...]:
        """Field values, validated and normalised as for a write (raises ``ValidationError``)."""
        values = self._getter(instance)
        return tuple(f.check_write(v, instance) for f, v in zip(self.fields, values, strict=True))

    def key_of(self, instance: Any) -> tuple[Any, ...]:
        """The key values of ``instance`` (raises ``QueryError`` for a keyless model)."""
        if self._key_getter is None:
            raise errors.QueryError(f"{self.cls.__name__} has no key: declare one with Annotated[..., Key]")
        return self._key_getter(instance)

    def set_value(self, instance: Any, name: str, value: Any) -> None:
        """Write a field on an instance, frozen classes included (used for generated keys)."""
        self.source.set_value(instance, name, value)

    def write_values(self, name: str, instances: Iterable[Any], values: Iterable[Any]) -> None:
        """``set_value`` for many instances at once (generated keys after a bulk insert)."""
        self.source.write_values(instances, name, values)

    def _built_once(self, kind: tuple[Any, ...], parts: Sequence[Any], build: Callable[[], F]) -> F:
        """A generated function built from ``parts`` (codecs, functions), built once per model.

        Every connection's compiler asks for the model's loaders and dumpers
        again (a new ``Ommi``, each server of a replica set, each event loop);
        compiling one costs 40-130 µs. The same parts give the same function,
        so it is kept here: parts are compared by identity, and an entry holds
        its parts, so an identity cannot be reused by another object while it
        is kept. Parts made afresh for each connection just miss, and the
        oldest entries go past ``_BUILT_LIMIT``.
        """
        key = (*kind, *map(id, parts))
        built = self._built
        hit = built.get(key)
        if hit is not None and all(map(operator.is_, hit[0], parts)):
            return hit[1]  # type: ignore[no-any-return]
        fn = build()
        if len(built) >= _BUILT_LIMIT:
            with contextlib.suppress(RuntimeError, StopIteration, KeyError):  # (another thread got there first)
                del built[next(iter(built))]
        built[key] = (tuple(parts), fn)
        return fn

    def loader(self, decoders: Sequence[Callable[[Any], Any] | None]) -> Callable[[Sequence[Any]], Any]:
        """Build a fast function turning one row (values in field order) into an instance.

        ``decoders[i]`` converts the stored value of field ``i`` (``None`` means
        use the value as it is); decoders are never called with ``None``.
        The function is built once per model and decoders (see ``_built_once``).
        """
        return self._built_once(
            ("load",), decoders,
            lambda: self.source.loader(self.cls, [f.name for f in self.fields], _single(decoders)),
        )

    def rows_loader(
        self, decoders: Sequence[Callable[[Any], Any] | None], load: Callable[[Sequence[Any]], Any]
    ) -> Callable[[Iterable[Sequence[Any]]], Iterator[Any]]:
        """Build a function turning rows into instances, lazily (an iterator, one at a time).

        ``load`` is what :meth:`loader` built from the same ``decoders``: the
        result does what mapping it over the rows does, faster where it can.
        Where decoders are :class:`ColumnDecoder` s, a list of rows none of whose
        values they would change is loaded as if the fields had no decoders.
        """
        return self._built_once(("rows",), (*decoders, load), lambda: self._rows_loader(decoders, load))

    def _rows_loader(
        self, decoders: Sequence[Callable[[Any], Any] | None], load: Callable[[Sequence[Any]], Any]
    ) -> Callable[[Iterable[Sequence[Any]]], Iterator[Any]]:
        names = [f.name for f in self.fields]
        every = self.source.rows_loader(self.cls, names, _single(decoders), load)
        tests = [(operator.itemgetter(i), d) for i, d in enumerate(decoders) if isinstance(d, ColumnDecoder)]
        if not tests:
            return every
        lean = [None if isinstance(d, ColumnDecoder) else d for d in decoders]
        fewer = self.source.rows_loader(self.cls, names, lean, self.source.loader(self.cls, names, lean))

        def load_rows(rows: Iterable[Sequence[Any]]) -> Iterator[Any]:
            if not isinstance(rows, list) or len(rows) < _COLUMN_TEST_ROWS:
                return every(rows)
            if any(decoder.wants(map(column, rows)) for column, decoder in tests):
                return every(rows)
            return fewer(rows)

        return load_rows

    def dumper(
        self, encoders: Sequence[Callable[[Any], Any] | None], skip: int | None = None
    ) -> Callable[[Any], tuple[Any, ...]]:
        """Build a fast function turning an instance into a validated row of stored values.

        Each value is validated by the field's check and the model library's
        own validation (if the field has any), then ``encoders[i]`` (if any)
        converts it to what the driver stores; encoders never see ``None``.
        ``skip`` leaves one field out of the row (a generated key that is
        ``None``, for an insert that lets the database fill it).
        The function is built once per model, encoders and ``skip``.
        """
        return self._built_once(("dump", skip), encoders, lambda: _make_dumper(self, encoders, skip))

    def bulk_dumper(
        self,
        encoders: Sequence[Callable[[Any], Any] | None],
        skip: int | None = None,
        one: Callable[[Any], tuple[Any, ...]] | None = None,
    ) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]]:
        """``dumper`` for many instances at once: the same rows, the same errors.

        Works a column at a time (one pass of C-level builtins per field where
        the values are of the field's exact type), which costs a fraction of
        dumping instance by instance; anything unusual (a value that needs
        converting, a failed check) goes through the instance-by-instance
        dumper, so the rows and the first error reported are the same.
        An encoder that is a :class:`ColumnEncoder` encodes a whole column.
        ``one`` is the :meth:`dumper` of the same encoders and ``skip`` where
        the caller has built it already (each is generated code to compile).
        """
        return self._built_once(
            ("dump_many", skip), (*encoders, one),
            lambda: _make_bulk_dumper(self, encoders, skip, one or self.dumper(encoders, skip)),
        )


_BUILT_LIMIT = 32
"""Generated functions kept per model (its loaders and dumpers for a few sets of codecs)."""


def _make_getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:
        single = operator.attrgetter(names[0])
        return lambda obj: (single(obj),)
    return operator.attrgetter(*names)


_EXACT_TYPES: dict[Kind, str] = {
    Kind.STR: "str",
    Kind.BOOL: "bool",
    Kind.BYTES: "bytes",
}


class ColumnEncoder:
    """An encoder with a form for a whole column, used by bulk writes.

    Called with one value it is ``one(value)``; ``many(values)`` encodes a
    list of values none of which is ``None`` and returns the list of encoded
    values. It may return the same list when nothing needs encoding, which
    spares the bulk dumper rebuilding the rows.
    """

    __slots__ = ("many", "one")

    def __init__(self, one: Callable[[Any], Any], many: Callable[[list[Any]], list[Any]]) -> None:
        self.one = one
        self.many = many

    def __call__(self, value: Any) -> Any:
        return self.one(value)


class ColumnDecoder:
    """A decoder with a test for a whole column, used where rows are loaded many at a time.

    Called with one value it is ``one(value)``. ``needed(values)`` gets the
    values of one column (``None`` among them) and says whether decoding would
    change any of them: a batch of rows in which no such column needs it is
    loaded without calling the decoders at all (for a code a dialect stores
    rarely, one search of the column instead of a call per value). It must say
    so for every value ``one`` would refuse too, or raise: a batch whose test
    raises is decoded value by value, so the error is the one a single row gives.
    """

    __slots__ = ("needed", "one")

    def __init__(self, one: Callable[[Any], Any], needed: Callable[[Iterable[Any]], bool]) -> None:
        self.one = one
        self.needed = needed

    def __call__(self, value: Any) -> Any:
        return self.one(value)

    def wants(self, values: Iterable[Any]) -> bool:
        """``needed(values)``, true also when the test raises (the values are then decoded one by one)."""
        try:
            return self.needed(values)
        except Exception:  # noqa: BLE001 - a value the test cannot take: the decoder says which
            return True


_COLUMN_TEST_ROWS = 8
"""Fewer rows than this are decoded as they are: testing their columns first would cost more."""


def columns_of(rows: Sequence[Sequence[Any]], width: int | None = None) -> list[tuple[Any, ...]]:
    """The columns of ``rows``, one tuple each: what ``list(zip(*rows))`` gives, without its cost.

    ``zip(*rows)`` holds an iterator for every row at once, each an object the cyclic
    garbage collector counts: 100,000 rows start some 130 collections of the youngest
    generation and one of everything alive (48 of the 263 ms of a bulk ``add()`` of
    100,000 rows on SQLite). Reading one column at a time makes one tuple per column,
    and is faster from a few hundred rows on. ``width``: how many columns (default: the
    first row's); a row shorter than that raises ``IndexError``.
    """
    if not rows:
        return []
    count = len(rows[0]) if width is None else width
    return [tuple(map(operator.itemgetter(i), rows)) for i in range(count)]


def _single(decoders: Sequence[Callable[[Any], Any] | None]) -> list[Callable[[Any], Any] | None]:
    """The decoders as called on one value (a :class:`ColumnDecoder`'s ``one``)."""
    return [d.one if isinstance(d, ColumnDecoder) else d for d in decoders]


def _column_fits(kind: Kind, column: Sequence[Any]) -> bool:
    """Whether every value passes the field's check unchanged by the dumper's exact-type tests
    (the tests ``_make_dumper`` inlines, here for a whole column at once)."""
    if kind is Kind.STR:
        # join() refuses anything but text (the check keeps a str subclass as it is, too),
        # and one isascii() over the joined text says no lone surrogate is anywhere
        try:
            return "".join(column).isascii()
        except TypeError:
            return False
    types = set(map(type, column))
    if len(types) != 1:
        return False
    (tp,) = types
    if kind is Kind.INT:
        return tp is int and min(column) >= INT64_MIN and max(column) <= INT64_MAX
    if kind is Kind.FLOAT:
        return tp is float and not any(map(math.isnan, column))
    if kind is Kind.BOOL:
        return tp is bool
    if kind is Kind.BYTES:
        return tp is bytes
    return False


def _make_bulk_dumper(
    info: ModelInfo, encoders: Sequence[Callable[[Any], Any] | None], skip: int | None,
    one: Callable[[Any], tuple[Any, ...]],
) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]]:
    if any(f.validate is not None for f in info.fields):
        # the model library's validation sees each instance in turn, as with single writes
        return lambda instances: list(map(one, instances))
    kept = [(f, enc) for i, (f, enc) in enumerate(zip(info.fields, encoders, strict=True)) if i != skip]
    gather = _make_gatherer([f.name for f, _ in kept])
    specs = [(f.kind, f.check, enc) for f, enc in kept]
    none_type = type(None)

    def column(kind: Kind, check: Callable[[Any], Any], enc: Any, values: Sequence[Any]) -> Sequence[Any] | None:
        """The column as written, or ``None`` where it is written as read."""
        nulls = False
        changed = not _column_fits(kind, values)
        if changed:
            values = list(map(check, values))  # what the single dumper does for the values that need it
            nulls = none_type in set(map(type, values))
        if enc is None:
            return values if changed else None
        if nulls:
            return [None if v is None else enc(v) for v in values]
        if isinstance(enc, ColumnEncoder):
            given = values if isinstance(values, list) else list(values)  # it takes a list (a column read is a tuple)
            encoded = enc.many(given)
            # the same list back: nothing needed encoding, and an unchecked column is written as read
            return None if encoded is given and not changed else encoded
        return list(map(enc, values))

    def dump_many(instances: Sequence[Any]) -> list[tuple[Any, ...]]:
        if len(instances) < 4:
            return list(map(one, instances))
        try:
            rows = gather(instances)
            columns: list[Sequence[Any]] = list(columns_of(rows, len(specs)))
            changed = False
            for i, (kind, check, enc) in enumerate(specs):
                written = column(kind, check, enc, columns[i])
                if written is not None:
                    columns[i] = written
                    changed = True
        except Exception:  # noqa: BLE001 - the single dumper raises the first instance's error, as always
            return list(map(one, instances))
        # the values read, row by row, where every one is written as it is (the common case)
        return list(zip(*columns, strict=True)) if changed else rows

    return dump_many


def _make_gatherer(names: Sequence[str]) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]]:
    """A generated function: instances -> a tuple of the named attributes' values per instance.

    A comprehension reading the attributes costs about half of mapping a
    multi-name ``attrgetter`` (1,000 instances of four fields: 45 against 79 µs).
    """
    if not names:  # a model whose only field is the key its database generates
        return lambda instances: [() for _ in instances]
    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in names):
        getter = _make_getter(names)
        return lambda instances: list(map(getter, instances))
    values = ", ".join(f"obj.{n}" for n in names) + ("," if len(names) == 1 else "")
    env: dict[str, Any] = {}
    exec(f"def gather(instances):\n    return [({values}) for obj in instances]", env)  # noqa: S102 - identifiers only
    return env["gather"]  # type: ignore[no-any-return]


def _lacking(info: ModelInfo, instance: Any) -> Exception:
    """Why reading the fields of ``instance`` raised ``AttributeError``: the first field it lacks."""
    for f in info.fields:
        try:
            getattr(instance, f.name)
        except AttributeError:
            return no_value(f"{info.cls.__qualname__}.{f.name}")
    return errors.ValidationError(f"cannot read the fields of a {info.cls.__qualname__} instance")


def _make_dumper(
    info: ModelInfo, encoders: Sequence[Callable[[Any], Any] | None], skip: int | None = None
) -> Callable[[Any], tuple[Any, ...]]:
    # Generated once per (model, driver): a straight-line function with the
    # common exact-type case inlined, so a row costs no per-field lookups.
    env: dict[str, Any] = {"getter": info._getter, "lacking": lambda obj: _lacking(info, obj)}
    # (a try costs nothing until it catches: slotted classes and pydantic models raise
    # AttributeError for a value the instance lacks, the others read the query reference)
    lines = ["def dump(obj):", "    try:", "        " + ", ".join(f"v{i}" for i in range(len(info.fields))) + (
        "," if len(info.fields) == 1 else "") + " = getter(obj)",
        "    except AttributeError as exc:", "        raise lacking(obj) from exc"]
    out = []
    for i, (f, enc) in enumerate(zip(info.fields, encoders, strict=True)):
        if i == skip:
            continue
        env[f"chk{i}"] = f.check
        exact = _EXACT_TYPES.get(f.kind)
        if f.kind is Kind.STR:  # isascii() is a flag test; other text is checked for lone surrogates
            lines.append(f"    if v{i}.__class__ is not str or not v{i}.isascii(): v{i} = chk{i}(v{i})")
        elif f.kind is Kind.FLOAT:  # NaN is a float but is refused (v != v only for NaN)
            lines.append(f"    if v{i}.__class__ is not float or v{i} != v{i}: v{i} = chk{i}(v{i})")
        elif f.kind is Kind.INT:
            lines.append(
                f"    if v{i}.__class__ is not int or not {INT64_MIN} <= v{i} <= {INT64_MAX}: v{i} = chk{i}(v{i})"
            )
        elif exact is not None:
            lines.append(f"    if v{i}.__class__ is not {exact}: v{i} = chk{i}(v{i})")
        else:
            lines.append(f"    v{i} = chk{i}(v{i})")
        if f.validate is not None:  # fields without library validation pay nothing
            env[f"val{i}"] = f.validate
            lines.append(f"    if v{i} is not None: val{i}(v{i}, obj)")
        if enc is not None:
            env[f"enc{i}"] = enc.one if isinstance(enc, ColumnEncoder) else enc
            lines.append(f"    if v{i} is not None: v{i} = enc{i}(v{i})")
        out.append(f"v{i}")
    lines.append("    return (" + ", ".join(out) + ("," if len(out) == 1 else "") + ")")
    exec("\n".join(lines), env)  # noqa: S102 - code built from field positions only
    return env["dump"]  # type: ignore[no-any-return]


def get_model_info(model: Any) -> ModelInfo:
    """Return the :class:`ModelInfo` of a model class or instance, or raise ``ModelError``."""
    cls = model if isinstance(model, type) else type(model)
    info = cls.__dict__.get("__ommi__")
    if info is None:
        raise errors.ModelError(f"{cls.__qualname__} is not an ommi model: decorate it with @ommi_model")
    return info  # type: ignore[no-any-return]


@overload
def ommi_model(cls: type[T], /) -> type[T]: ...
@overload
def ommi_model(
    *, collection: ModelCollection | None = None, name: str | None = None
) -> Callable[[type[T]], type[T]]: ...
def ommi_model(
    cls: type[T] | None = None,
    /,
    *,
    collection: ModelCollection | None = None,
    name: str | None = None,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make a dataclass, attrs class or pydantic model storable and queryable.

    Use it bare (``@ommi_model``) or with options
    (``@ommi_model(collection=..., name="table_name")``), above the class's own
    decorator. The class is returned unchanged apart from its fields becoming
    query references on the class (``User.age >= 18``).

    Args:
        collection: the :class:`ModelCollection` the model belongs to
            (default: :data:`default_collection`).
        name: the table or collection name (default: the class name).

    Raises:
        ModelError: a field's type or metadata cannot be stored.
    """
    frame = sys._getframe(1)
    localns = dict(frame.f_locals) if frame.f_code.co_name != "<module>" else None

    def decorate(target: type[T]) -> type[T]:
        _build(target, collection if collection is not None else default_collection, name, localns)
        return target

    if cls is not None:
        return decorate(cls)
    return decorate


_FLAGS = {id(Key): "key", id(Auto): "auto", id(Unique): "unique", id(Index): "index", id(TZAware): "aware"}


def _markers(markers: Iterable[Any]) -> dict[str, Any]:
    """The field attributes ``Annotated`` metadata sets (``key``, ``column``, ``reference``...)."""
    out: dict[str, Any] = {}
    for meta in markers:
        flag = _FLAGS.get(id(meta))
        if flag is not None:
            out[flag] = True
        elif isinstance(meta, StoreAs):
            out["column"] = meta.name
        elif isinstance(meta, ReferenceTo):
            out["reference"] = meta
        # other metadata (pydantic constraints, docs) belongs to the user
    return out


def build_detached(cls: type, collection: ModelCollection, name: str) -> ModelInfo:
    """Make ``cls`` a model known to ``collection`` only.

    Used for models ommi builds itself (the migration history's models, its
    record table): references by name from the user's models never resolve to
    them, and they are not among :func:`all_model_infos`.
    """
    _build(cls, collection, name, None, register=False)
    return get_model_info(cls)


def _build(
    cls: type,
    collection: ModelCollection,
    name: str | None,
    localns: dict[str, Any] | None,
    *,
    register: bool = True,
) -> None:
    source = adapter_for(cls)
    # ommi's own detached models (the migration record) may use names reserved for ommi
    check_name = check_table_name if register else check_identifier
    table = check_name(name if name is not None else cls.__name__, f"model {cls.__qualname__}: name")
    collection.check_name(table, cls)
    hints = _hints(cls, localns)
    relations = _relation_names(cls, hints, localns)
    # every field's attributes are decided first, then each FieldInfo is made in one step
    specs: list[dict[str, Any]] = []
    for fname, has_default, default in _stored_fields(cls, source, relations):
        where = f"{cls.__qualname__}.{fname}"
        if fname not in hints:
            raise errors.ModelError(f"{where} has no type annotation")
        if isinstance(hints[fname], _Unresolved):
            raise errors.ModelError(f"{where}: cannot resolve the annotation {hints[fname].text!r}")
        spec = parse_annotation(hints[fname], where)
        attrs: dict[str, Any] = {
            "name": fname, "column": fname, "kind": spec.kind, "py_type": spec.py_type, "nullable": spec.nullable,
            "has_default": has_default, "default": default, **_markers(spec.markers),
        }
        attrs["column"] = check_identifier(attrs["column"], f"{where}: column name")
        if attrs.get("auto") and not attrs.get("key"):
            raise errors.ModelError(f"{where}: Auto applies to key fields only")
        if attrs.get("auto") and spec.kind is not Kind.INT:
            raise errors.ModelError(f"{where}: Auto needs an int key, not {spec.kind.value}")
        specs.append(attrs)
    if not specs:
        raise errors.ModelError(f"{cls.__qualname__} has no fields to store")
    keys = [a for a in specs if a.get("key")]
    if not keys:
        implicit = next((a for a in specs if a["name"] == "id"), None)
        if implicit is not None:
            implicit["key"] = True
            keys = [implicit]
    if len(keys) == 1 and keys[0]["kind"] is Kind.INT and (keys[0]["nullable"] or keys[0]["has_default"]):
        # an int key that may be left None is generated by the database
        keys[0]["auto"] = True
    fields = [_field(cls, source, attrs) for attrs in specs]
    _check_columns(cls, fields)
    info_obj = ModelInfo(cls, table, collection, fields, source)
    for f in fields:
        object.__setattr__(f, "model", info_obj)  # the one link made after construction
    _check_references(info_obj)
    for f in fields:
        object.__setattr__(f, "_ref", FieldRef(cls, f.name, f))
        source.install(cls, f.name, f._ref)
    _install_relations(cls, info_obj, relations, localns)
    type.__setattr__(cls, "__ommi__", info_obj)
    with _lock:
        collection.add(info_obj)
        if register:
            _all_models.append(info_obj)
    for relation in info_obj.relations.values():
        relation.check_early()  # an ambiguous relation is a ModelError now, where it can be told


def _field(cls: type, source: FieldSource, attrs: dict[str, Any]) -> FieldInfo:
    where = f"{cls.__qualname__}.{attrs['name']}"
    return FieldInfo(
        **attrs,
        # an Auto key may be None before add(): None means "generate one"
        check=make_checker(
            attrs["kind"], attrs["py_type"], attrs["nullable"] or attrs.get("auto", False),
            attrs.get("aware", False), where,
        ),
        validate=source.validator(cls, attrs["name"], where),
    )


def _check_columns(cls: type, fields: list[FieldInfo]) -> None:
    """Refuse two fields stored in one column, or in columns whose names differ only in case."""
    columns: dict[str, FieldInfo] = {}
    for f in fields:
        # SQLite, DuckDB and MySQL match column names case-insensitively
        same = columns.get(f.column.casefold())
        if same is not None and same.column == f.column:
            raise errors.ModelError(
                f"{cls.__qualname__}: fields {same.name!r} and {f.name!r} are both stored as {f.column!r}"
            )
        if same is not None:
            raise errors.ModelError(
                f"{cls.__qualname__}: fields {same.name!r} and {f.name!r} are stored as {same.column!r} and "
                f"{f.column!r}, which differ only in case: one column on SQLite, DuckDB and MySQL"
            )
        columns[f.column.casefold()] = f


def _stored_fields(cls: type, source: FieldSource, relations: dict[str, Any]) -> list[tuple[str, bool, Any]]:
    """The library's fields of ``cls``, less relations it took for fields (it decides by the annotation's text)."""
    declared = source.fields(cls)
    misread = [fname for fname, _, _ in declared if fname in relations]
    if not misread:
        return declared
    source.drop_fields(cls, misread)
    return source.fields(cls)


def _check_references(info: ModelInfo) -> None:
    """Check each ``ReferenceTo`` whose target exists (or is this model); the others on first use."""
    names = (info.cls.__name__, info.name)
    for f in info.fields:
        if f.reference is not None:
            _reference_target(f, lambda n: info if n in names else find_model(n, info.collection))


def _relation_names(cls: type, hints: dict[str, Any], localns: dict[str, Any] | None) -> dict[str, Any]:
    """The annotations that declare lazy relations, by name (strings where not resolvable yet)."""
    # A relation is a ClassVar; only those and annotations not resolvable yet need a closer
    # look, and only they load the relations module (most models have neither).
    candidates = {
        rname: hint for rname, hint in hints.items()
        if isinstance(hint, _Unresolved) or typing.get_origin(hint) is typing.ClassVar
    }
    if not candidates:
        return {}
    from ommi._relations import is_relation_annotation

    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    out: dict[str, Any] = {}
    for rname, hint in candidates.items():
        raw = hint.text if isinstance(hint, _Unresolved) else hint
        if is_relation_annotation(raw, globalns, localns):
            out[rname] = raw
    return out


def _install_relations(cls: type, info: ModelInfo, relations: dict[str, Any], localns: dict[str, Any] | None) -> None:
    if not relations:
        return
    from ommi._relations import Relation, RelationDescriptor

    for rname, raw in relations.items():
        if cls.__weakrefoffset__ == 0:
            raise errors.ModelError(
                f"{cls.__qualname__}.{rname}: lazy relations need instances that support weak references; "
                "use @dataclass(slots=True, weakref_slot=True) or drop slots"
            )
        relation = Relation(info, rname, raw, localns)
        info.relations[rname] = relation
        type.__setattr__(cls, rname, RelationDescriptor(relation))


@dataclass(frozen=True, slots=True)
class _Unresolved:
    """An annotation naming something not defined yet (resolved on first use)."""

    text: str


def _hints(cls: type, localns: dict[str, Any] | None) -> dict[str, Any]:
    """Each annotation of the class, evaluated; forward references that cannot be
    evaluated yet (models defined later) are kept as :class:`_Unresolved`."""
    raw: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        raw.update(inspect.get_annotations(base))
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    # the class is not bound to its name yet while it is decorated: ReferenceTo(Category) inside Category
    names = {**(localns or {}), cls.__name__: cls}
    out: dict[str, Any] = {}
    for name, declared in raw.items():
        annotation = declared.__forward_arg__ if isinstance(declared, typing.ForwardRef) else declared
        if isinstance(annotation, str):
            try:
                out[name] = eval(annotation, globalns, names)  # noqa: S307 - the class's own annotation
            except NameError:
                out[name] = _Unresolved(annotation)
            except Exception as exc:
                raise errors.ModelError(f"{cls.__qualname__}.{name}: cannot evaluate {annotation!r}: {exc}") from exc
        else:
            out[name] = annotation
    return out


def infos_in_dependency_order(infos: Iterable[ModelInfo]) -> list[ModelInfo]:
    """Order models so that each comes after the models it references."""
    pending = list(infos)
    present = {id(i) for i in pending}
    done: list[ModelInfo] = []
    seen: set[int] = set()

    def visit(info: ModelInfo, stack: set[int]) -> None:
        if id(info) in seen or id(info) in stack:
            return  # a cycle: the database sorts it out (SQLite checks FKs lazily)
        stack.add(id(info))
        for f in info.fields:
            target = f.references()
            if target is not None and id(target.model) in present:
                visit(target.model, stack)
        stack.discard(id(info))
        seen.add(id(info))
        done.append(info)

    for info in pending:
        visit(info, set())
    return done
