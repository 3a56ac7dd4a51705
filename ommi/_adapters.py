"""One small field source per model library: dataclasses, attrs, pydantic.

A source answers five questions about a class: which fields it has, how to put
a query reference on the class without disturbing instances, how to build an
instance from stored values quickly, how to set one value on an instance
(frozen classes included), and how the library itself validates a field's
value (pydantic's field schema, attrs validators) so that ommi can run the same
validation on what it writes.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import keyword
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any, cast

from ommi import errors
from ommi.query import FieldRef

__all__ = ["NO_DEFAULT", "FieldSource", "Validator", "adapter_for"]

Validator = Callable[[Any, Any], None]
"""``validate(value, instance)``: raises ``ValidationError`` if the model library
rejects a (non-None) value for one field; ``instance`` is ``None`` for
``find(...).update(...)``, where there is no instance."""


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marks a field without a plain default value."""

_set = object.__setattr__


@functools.lru_cache(maxsize=256)
def _assigner(name: str) -> Callable[[list[Any], Iterable[Any]], None]:
    """A generated function: ``instance.<name> = value`` for each pair, as ``object.__setattr__`` does.

    For instances of the first one's class, which keeps ``object.__setattr__``
    (an instance of any other class is set through ``object.__setattr__`` itself).
    Only a name that is an identifier is written into the code.
    """
    if name.isidentifier() and not keyword.iskeyword(name):
        env: dict[str, Any] = {"_set": _set}
        code = (
            "def assign(instances, values):\n"
            "    cls = type(instances[0])\n"
            "    for instance, value in zip(instances, values, strict=True):\n"
            "        if type(instance) is cls:\n"
            f"            instance.{name} = value\n"
            "        else:\n"
            f"            _set(instance, {name!r}, value)\n"
        )
        exec(code, env)  # noqa: S102 - an identifier checked above
        return env["assign"]  # type: ignore[no-any-return]

    def assign(instances: list[Any], values: Iterable[Any]) -> None:
        deque(map(_set, instances, itertools.repeat(name), values), 0)

    return assign


_ALWAYS_SET: Any = object()
"""What :meth:`FieldSource.unset_value` says of a field every ``__init__`` sets."""


class _ClassRef:
    """Non-data descriptor: the query reference on the class, the value on an instance.

    The value in the instance dict wins. A value the instance lacks reads the
    field's class-level default where it has one (a dataclass field with
    ``init=False`` and a plain default: ``__init__`` leaves it to the class
    attribute ommi replaced), else raises ``AttributeError``, so a class's own
    ``__getattr__`` (pydantic's) still answers. Fields every ``__init__`` sets get
    the reference wrapped in a ``staticmethod`` instead: see :meth:`FieldSource.install`.
    """

    __slots__ = ("default", "name", "ref")

    def __init__(self, name: str, ref: FieldRef[Any, Any], default: Any = NO_DEFAULT) -> None:
        self.name = name
        self.ref = ref
        self.default = default

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.ref
        if self.default is NO_DEFAULT:
            raise AttributeError(self.name)
        return self.default


class _SlotRef:
    """Data descriptor for slotted classes: wraps the slot's member descriptor."""

    __slots__ = ("member", "ref")

    def __init__(self, member: Any, ref: FieldRef[Any, Any]) -> None:
        self.member = member
        self.ref = ref

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.ref
        return self.member.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        self.member.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.member.__delete__(obj)


class FieldSource:
    """How ommi reads and builds instances of one kind of model class."""

    library = "?"

    def fields(self, cls: type) -> list[tuple[str, bool, Any]]:
        """``(name, has_default, default)`` for each stored field, in declaration order.

        ``default`` is the plain default value, or :data:`NO_DEFAULT` when there
        is none or it comes from a factory.
        """
        raise NotImplementedError

    def drop_fields(self, cls: type, names: Sequence[str]) -> None:
        """Stop treating ``names`` (lazy relations the library took for fields) as fields.

        Raises:
            ModelError: this library cannot be told after the fact; the message says
                which spelling it understands.
        """
        shown = ", ".join(names)
        raise errors.ModelError(
            f"{cls.__qualname__}: {self.library} reads {shown} as stored field(s), not as relations: it "
            "recognises class variables by the annotation's text. Declare relations as "
            "`name: ClassVar[LazyMany[Model]]` or `name: ClassVar[LazyOne[Model]]`"
        )

    def unset_value(self, cls: type, name: str) -> Any:
        """What an instance reads for a field its ``__init__`` did not set.

        The field's class-level default, :data:`NO_DEFAULT` when there is none
        (reading raises ``AttributeError``), or ``_ALWAYS_SET`` when every
        ``__init__`` sets the field. Unknown here: ``NO_DEFAULT``, the safe answer.
        """
        return NO_DEFAULT

    def install(self, cls: type, name: str, ref: FieldRef[Any, Any]) -> None:
        """Make ``cls.<name>`` return ``ref`` while instances keep their values.

        For a field every ``__init__`` sets, on a class whose instances keep their
        values in ``__dict__``, the reference goes on the class wrapped in a
        ``staticmethod``: ``cls.<name>`` is ``ref`` and the instance's value wins.
        A descriptor of a Python-defined type (``_ClassRef``) would do the same,
        but CPython 3.11 then stops specialising the reads and writes of that
        name on instances (its ``__get__`` could change at any time): a plain
        dataclass's ``__init__`` and every ``user.age`` cost a third more. The
        price: an instance whose value was deleted (``del user.age``) reads the
        reference instead of raising ``AttributeError`` (writing it is a
        ``ValidationError``, comparing a field with it a ``QueryError``). Fields
        ``__init__`` may leave unset, and classes with their own ``__getattr__``
        (pydantic's, which must see such reads, and whose attribute access is
        not specialised anyway), keep the descriptor.
        """
        current = cls.__dict__.get(name)
        if current is not None and type(current).__name__ == "member_descriptor":
            type.__setattr__(cls, name, _SlotRef(current, ref))
            return
        unset = NO_DEFAULT if hasattr(cls, "__getattr__") else self.unset_value(cls, name)
        if unset is _ALWAYS_SET:
            type.__setattr__(cls, name, staticmethod(cast("Callable[..., Any]", ref)))  # (wraps any object)
        else:
            type.__setattr__(cls, name, _ClassRef(name, ref, unset))

    def set_value(self, instance: Any, name: str, value: Any) -> None:
        """Set one field, bypassing ``frozen`` (used to write back generated keys)."""
        _set(instance, name, value)

    def validator(self, cls: type, name: str, where: str) -> Validator | None:
        """The library's own validation of one field's value, or ``None`` if it has none.

        Built once, at decoration. ``None`` (the answer for plain dataclasses)
        adds nothing to the write path. ``where`` (``Model.field``) starts the
        message of the ``ValidationError``; the library's exception is its cause.
        """
        return None

    def write_values(self, instances: Iterable[Any], name: str, values: Iterable[Any]) -> None:
        """Set one field on many instances."""
        set_value = self.set_value if type(self).set_value is not FieldSource.set_value else None
        if set_value is not None:
            for instance, value in zip(instances, values, strict=True):
                set_value(instance, name, value)
            return
        if isinstance(instances, Sized) and isinstance(values, Sized) and len(instances) == len(values):
            if isinstance(instances, list) and instances and type(instances[0]).__setattr__ is _set:
                # an assignment per instance, which CPython specialises: 0.18 ms for 10,000
                # (instances of another class, if any, are set as below)
                _assigner(name)(instances, values)
                return
            # a C-level loop: 0.7 ms for 10,000 instances, against 1.3 for the Python one below
            deque(map(_set, instances, itertools.repeat(name), values), 0)
            return
        for instance, value in zip(instances, values, strict=True):
            _set(instance, name, value)

    def loader(
        self, cls: type, names: Sequence[str], decoders: Sequence[Callable[[Any], Any] | None]
    ) -> Callable[[Sequence[Any]], Any]:
        """A generated function: row of stored values -> instance, without ``__init__``.

        Loading bypasses ``__init__`` (as other mappers do): the values come from
        the database, where they were validated when written.
        """
        env: dict[str, Any] = {"cls": cls, "new": object.__new__, "set_": _set}
        env["unreadable"] = _unreadable(cls, names, decoders)
        lines = ["def load(row):", "  try:"]
        for i, dec in enumerate(decoders):
            lines.append(f"    v{i} = row[{i}]")
            if dec is not None:
                env[f"d{i}"] = dec
                lines.append(f"    if v{i} is not None: v{i} = d{i}(v{i})")
        lines.extend(self._build_lines(cls, names, env))
        # a stored value the field cannot hold (an enum member the Enum lacks, a
        # column of another type): a ValidationError saying so (free unless raised)
        lines += ["  except Exception as exc:", "    raise unreadable(row, exc) from exc"]
        exec("\n".join(lines), env)  # noqa: S102 - code built from field positions only
        return env["load"]  # type: ignore[no-any-return]

    def rows_loader(
        self,
        cls: type,
        names: Sequence[str],
        decoders: Sequence[Callable[[Any], Any] | None],
        load: Callable[[Sequence[Any]], Any],
    ) -> Callable[[Iterable[Sequence[Any]]], Iterator[Any]]:
        """Rows -> instances, lazily, one at a time: ``load`` (from :meth:`loader`) over each row."""
        return functools.partial(map, load)

    def _build_lines(self, cls: type, names: Sequence[str], env: dict[str, Any]) -> list[str]:
        slots = [cls.__dict__.get(n) for n in names]
        if all(isinstance(s, _SlotRef) for s in slots):
            lines = ["    obj = new(cls)"]
            for i, s in enumerate(slots):
                assert isinstance(s, _SlotRef)
                env[f"s{i}"] = s.member.__set__
                lines.append(f"    s{i}(obj, v{i})")
            return [*lines, "    return obj"]
        items = ", ".join(f"{n!r}: v{i}" for i, n in enumerate(names))
        return ["    obj = new(cls)", f"    set_(obj, '__dict__', {{{items}}})", "    return obj"]


class _DataclassSource(FieldSource):
    library = "dataclasses"

    def _build_lines(self, cls: type, names: Sequence[str], env: dict[str, Any]) -> list[str]:
        if _plain_dataclass_init(cls, names):
            # The generated __init__ of a plain dataclass only assigns its
            # fields, and CPython runs it faster than any way around it.
            return ["    return cls(" + ", ".join(f"v{i}" for i in range(len(names))) + ")"]
        return super()._build_lines(cls, names, env)

    def rows_loader(
        self,
        cls: type,
        names: Sequence[str],
        decoders: Sequence[Callable[[Any], Any] | None],
        load: Callable[[Sequence[Any]], Any],
    ) -> Callable[[Iterable[Sequence[Any]]], Iterator[Any]]:
        if all(d is None for d in decoders) and _plain_dataclass_init(cls, names):
            # Nothing to decode and an __init__ that only assigns: the class itself, called
            # from C on each row, without the loader's frame (about a third of a row's load)
            return functools.partial(itertools.starmap, cls)
        return super().rows_loader(cls, names, decoders, load)

    def unset_value(self, cls: type, name: str) -> Any:
        f = getattr(cls, "__dataclass_fields__", {}).get(name)
        if f is None:
            return NO_DEFAULT
        # (a class's own __init__ may set anything: only @dataclass's is known to set its fields)
        if _dataclass_made_init(cls) and (f.init or f.default_factory is not dataclasses.MISSING):
            return _ALWAYS_SET
        # a plain default stays on the class for __init__ to leave unset (init=False fields)
        return NO_DEFAULT if f.default is dataclasses.MISSING else f.default

    def fields(self, cls: type) -> list[tuple[str, bool, Any]]:
        for f in dataclasses.fields(cls):
            if isinstance(f.default, FieldRef):
                # a field declared again without a default in a subclass: @dataclass read the
                # parent model's class attribute, ommi's query reference, as its default
                raise errors.ModelError(
                    f"{cls.__qualname__}.{f.name} is declared again without a default, and @dataclass took "
                    f"the query reference {f.default!r} for its default: give it a default, or leave the "
                    "parent's declaration alone"
                )
        return [
            (
                f.name,
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING,
                NO_DEFAULT if f.default is dataclasses.MISSING else f.default,
            )
            for f in dataclasses.fields(cls)
        ]


class _AttrsSource(FieldSource):
    library = "attrs"

    def validator(self, cls: type, name: str, where: str) -> Validator | None:
        import attrs

        attribute = attrs.fields_dict(cls)[name]
        check = attribute.validator
        if check is None:
            return None
        disabled = attrs.validators.get_disabled

        def validate(value: Any, instance: Any) -> None:
            if disabled():  # attrs.validators.disabled() turns ommi's run off too
                return
            try:
                check(instance, attribute, value)
            except Exception as exc:
                # attrs' messages quote the value, which may be private: it stays on __cause__
                raise errors.ValidationError(
                    f"{where}: the value fails the field's attrs validator ({type(exc).__name__}; "
                    "the details are on __cause__)"
                ) from exc

        return validate

    def unset_value(self, cls: type, name: str) -> Any:
        import attrs

        a = attrs.fields_dict(cls).get(name)
        code = getattr(cls.__dict__.get("__init__"), "__code__", None)
        generated = getattr(code, "co_filename", "").startswith("<attrs generated")
        # attrs' own __init__ sets every field with a default, init=False ones too
        return _ALWAYS_SET if generated and a is not None and (a.init or a.default is not attrs.NOTHING) else NO_DEFAULT

    def fields(self, cls: type) -> list[tuple[str, bool, Any]]:
        import attrs

        out: list[tuple[str, bool, Any]] = []
        for a in attrs.fields(cls):
            plain = a.default is not attrs.NOTHING and not isinstance(a.default, attrs.Factory)  # type: ignore[arg-type]
            out.append((a.name, a.default is not attrs.NOTHING, a.default if plain else NO_DEFAULT))
        return out


class _PydanticSource(FieldSource):
    library = "pydantic"

    def fields(self, cls: type) -> list[tuple[str, bool, Any]]:
        from pydantic_core import PydanticUndefined

        out: list[tuple[str, bool, Any]] = []
        for name, f in cls.model_fields.items():  # type: ignore[attr-defined]
            default = NO_DEFAULT if f.default is PydanticUndefined else f.default
            out.append((name, not f.is_required(), default))
        return out

    def set_value(self, instance: Any, name: str, value: Any) -> None:
        instance.__dict__[name] = value
        instance.__pydantic_fields_set__.add(name)

    def drop_fields(self, cls: type, names: Sequence[str]) -> None:
        # A string annotation naming a model defined later cannot be evaluated
        # by pydantic, which then takes it for a field; make it the class
        # variable it is and let pydantic rebuild the model.
        fields = cls.__pydantic_fields__  # type: ignore[attr-defined]
        for name in names:
            fields.pop(name, None)
            cls.__class_vars__.add(name)  # type: ignore[attr-defined]
        try:
            cls.model_rebuild(force=True)  # type: ignore[attr-defined]
        except Exception as exc:
            raise errors.ModelError(f"{cls.__qualname__}: pydantic cannot rebuild the model: {exc}") from exc
        if any(name in cls.model_fields for name in names):  # type: ignore[attr-defined]
            super().drop_fields(cls, names)

    def validator(self, cls: type, name: str, where: str) -> Validator | None:
        found = _pydantic_fields_schema(cls)
        if found is None:
            raise errors.ModelError(
                f"{where}: cannot read the pydantic validation schema of {cls.__qualname__} "
                "(ommi runs each field's pydantic validation on the values it writes)"
            )
        fields, config, definitions = found
        entry = fields["fields"][name]
        if _plain(entry["schema"]) and not (_CONSTRAINING_CONFIG & config.keys()):
            return None  # only a type, which ommi's own check already enforces
        from pydantic_core import SchemaValidator
        from pydantic_core import ValidationError as PydanticError

        entry = {k: v for k, v in entry.items() if k not in ("validation_alias", "serialization_alias")}
        schema: dict[str, Any] = entry["schema"]
        depth = 0  # how many leading error-location parts name the field itself
        if _uses_info(schema):
            # Field validators taking `info` expect to run inside the model: give
            # them a model-fields schema holding this one field (info.field_name
            # set, info.data empty, as for the first field of a model). Values go
            # by field name, so aliases are left out.
            schema, depth = {"type": "model-fields", "fields": {name: entry}, "model_name": cls.__name__}, 1
        if definitions:
            schema = {"type": "definitions", "schema": schema, "definitions": definitions}
        validate_python: Callable[[Any], Any] = SchemaValidator(schema, config).validate_python  # type: ignore[arg-type]
        run = validate_python
        if depth:

            def run(value: Any) -> Any:
                return validate_python({name: value})

        def validate(value: Any, instance: Any) -> None:
            try:
                run(value)
            except PydanticError as exc:
                raise errors.ValidationError(_pydantic_reasons(exc, depth, where)) from exc
            except Exception as exc:  # a field validator that fails in another way
                raise errors.ValidationError(
                    f"{where}: a pydantic validator of the field raised {type(exc).__name__}"
                ) from exc

        return validate

    def _build_lines(self, cls: type, names: Sequence[str], env: dict[str, Any]) -> list[str]:
        items = ", ".join(f"{n!r}: v{i}" for i, n in enumerate(names))
        if getattr(cls, "__pydantic_post_init__", None) or getattr(cls, "__pydantic_root_model__", False):
            # private attributes or model_post_init: let pydantic do its full setup
            return [f"    return cls.model_construct(**{{{items}}})"]
        env["fields_set"] = frozenset(names)
        extra = "{}" if cls.model_config.get("extra") == "allow" else "None"  # type: ignore[attr-defined]
        return [
            "    obj = new(cls)",
            f"    set_(obj, '__dict__', {{{items}}})",
            "    set_(obj, '__pydantic_fields_set__', set(fields_set))",
            f"    set_(obj, '__pydantic_extra__', {extra})",
            "    set_(obj, '__pydantic_private__', None)",
            "    return obj",
        ]


def _unreadable(
    cls: type, names: Sequence[str], decoders: Sequence[Callable[[Any], Any] | None]
) -> Callable[[Sequence[Any], Exception], errors.ValidationError]:
    def error(row: Sequence[Any], exc: Exception) -> errors.ValidationError:
        i = unreadable_column(decoders, row)
        if i is not None and i < len(names):
            return unreadable_value(cls.__name__, names[i], exc)
        return errors.ValidationError(f"cannot read a stored {cls.__name__}: {type(exc).__name__} building it")

    return error


def unreadable_column(decoders: Sequence[Callable[[Any], Any] | None], row: Sequence[Any]) -> int | None:
    """The first column of ``row`` whose decoder refuses its stored value; ``None`` if none does."""
    for i, (dec, value) in enumerate(zip(decoders, row, strict=False)):
        if dec is None or value is None:
            continue
        try:
            dec(value)
        except Exception:  # noqa: BLE001 - this is the column that cannot be read
            return i
    return None


def unreadable_value(model: str, field: str, exc: BaseException) -> errors.ValidationError:
    """The error for a stored value that field ``model.field`` cannot take (``exc``: the decoder's, for ``__cause__``).

    The stored value itself stays out of the message: it may be private.
    """
    return errors.ValidationError(
        f"cannot read a stored {model}: {model}.{field} holds a value the field "
        f"cannot take ({type(exc).__name__}; the details are on __cause__)"
    )

# Model config keys that constrain values of plain-typed fields.
_CONSTRAINING_CONFIG = frozenset({"str_max_length", "str_min_length", "allow_inf_nan", "strict"})
# pydantic-core schema types whose plain form (no constraint keys) ommi's own type check covers
_PLAIN_TYPES = frozenset(
    {"any", "int", "float", "str", "bool", "bytes", "decimal", "datetime", "date", "time", "uuid", "enum"}
)
_PLAIN_KEYS = frozenset({"type", "metadata", "ref", "serialization", "cls", "members", "sub_type", "missing"})


def _plain(schema: Any) -> bool:
    """Whether a pydantic-core field schema is only a type, with nothing to validate beyond it."""
    kind = schema.get("type")
    if kind in ("default", "nullable"):
        return _plain(schema["schema"])
    if kind == "list":
        items = schema.get("items_schema")
        return schema.keys() <= {"type", "items_schema", "metadata", "serialization"} and (
            items is None or _plain(items)
        )
    if kind == "dict":
        parts = [schema[k] for k in ("keys_schema", "values_schema") if k in schema]
        return schema.keys() <= {"type", "keys_schema", "values_schema", "metadata", "serialization"} and all(
            _plain(p) for p in parts
        )
    return kind in _PLAIN_TYPES and schema.keys() <= _PLAIN_KEYS


def _pydantic_fields_schema(cls: type) -> tuple[dict[str, Any], dict[str, Any], list[Any]] | None:
    """The model-fields core schema of a pydantic model, its config and shared definitions."""
    schema: Any = cls.__pydantic_core_schema__  # type: ignore[attr-defined]
    definitions: list[Any] = []
    for _ in range(32):  # model validators and definitions wrap the model schema
        kind = schema.get("type")
        if kind == "definitions":
            definitions.extend(schema["definitions"])
            schema = schema["schema"]
        elif kind == "definition-ref":
            ref = schema["schema_ref"]
            schema = next((d for d in definitions if d.get("ref") == ref), None)
            if schema is None:
                return None
        elif kind == "model" and schema.get("cls") is cls:
            inner = schema["schema"]
            if inner.get("type") != "model-fields":
                return None
            return inner, dict(schema.get("config") or {}), definitions
        elif isinstance(schema.get("schema"), dict):
            schema = schema["schema"]
        else:
            return None
    return None


def _uses_info(schema: Any) -> bool:
    """Whether a core schema holds a validator function that takes pydantic's ``info``."""
    if isinstance(schema, dict):
        if schema.get("type") == "with-info" and "function" in schema:
            return True
        return any(_uses_info(v) for v in schema.values())
    if isinstance(schema, (list, tuple)):
        return any(_uses_info(v) for v in schema)
    return False


def _pydantic_reasons(exc: Any, depth: int, where: str) -> str:
    """pydantic's reasons, each after the field (and item) it concerns, without the
    input value (it may be private)."""
    reasons = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        inner = "".join(f"[{p!r}]" for p in error["loc"][depth:])
        reasons.append(f"{where}{inner}: {error['msg']}")
    return "; ".join(reasons)


def _dataclass_made_init(cls: type) -> bool:
    """Whether ``cls.__init__`` is the one ``@dataclass`` wrote (not the class's own)."""
    init = cls.__dict__.get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    return (
        params is not None and params.init
        and getattr(getattr(init, "__code__", None), "co_filename", "") == "<string>"
    )


def _plain_dataclass_init(cls: type, names: Sequence[str]) -> bool:
    """Whether ``cls(*values)`` only assigns the fields, in ``names`` order."""
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls)
    return (
        _dataclass_made_init(cls)
        and params is not None
        and not params.frozen
        and not hasattr(cls, "__post_init__")
        and all(f.init and not f.kw_only for f in fields)
        and [f.name for f in fields] == list(names)
    )


def adapter_for(cls: Any) -> FieldSource:
    """Pick the field source for a model class, or raise ``ModelError``."""
    if not isinstance(cls, type):
        raise errors.ModelError(f"@ommi_model decorates classes, not {cls!r}")
    if dataclasses.is_dataclass(cls):
        return _DataclassSource()
    if "__attrs_attrs__" in cls.__dict__:
        return _AttrsSource()
    if hasattr(cls, "model_fields") and hasattr(cls, "model_construct"):
        return _PydanticSource()
    raise errors.ModelError(
        f"{cls.__qualname__} is not a dataclass, attrs class or pydantic model: put @ommi_model "
        "above @dataclass / @attrs.define, or subclass pydantic.BaseModel"
    )
