"""One small field source per model library: dataclasses, attrs, pydantic.

A source answers four questions about a class: which fields it has, how to put
a query reference on the class without disturbing instances, how to build an
instance from stored values quickly, and how to set one value on an instance
(frozen classes included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ommi import errors
from ommi.query import FieldRef

__all__ = ["NO_DEFAULT", "FieldSource", "adapter_for"]


class _NoDefault:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marks a field without a plain default value."""

_set = object.__setattr__


class _ClassRef:
    """Non-data descriptor for classes whose instances keep values in ``__dict__``.

    On the class it returns the query reference; on an instance the value in
    the instance dict wins, so reading ``user.age`` costs what it always did.
    """

    __slots__ = ("name", "ref")

    def __init__(self, name: str, ref: FieldRef[Any, Any]) -> None:
        self.name = name
        self.ref = ref

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self.ref
        raise AttributeError(self.name)


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

    def install(self, cls: type, name: str, ref: FieldRef[Any, Any]) -> None:
        """Make ``cls.<name>`` return ``ref`` while instances keep their values."""
        current = cls.__dict__.get(name)
        if current is not None and type(current).__name__ == "member_descriptor":
            type.__setattr__(cls, name, _SlotRef(current, ref))
        else:
            type.__setattr__(cls, name, _ClassRef(name, ref))

    def set_value(self, instance: Any, name: str, value: Any) -> None:
        """Set one field, bypassing ``frozen`` (used to write back generated keys)."""
        _set(instance, name, value)

    def write_values(self, instances: Iterable[Any], name: str, values: Iterable[Any]) -> None:
        """Set one field on many instances."""
        set_value = self.set_value if type(self).set_value is not FieldSource.set_value else None
        if set_value is not None:
            for instance, value in zip(instances, values, strict=True):
                set_value(instance, name, value)
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

    def fields(self, cls: type) -> list[tuple[str, bool, Any]]:
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
        for name, value, dec in zip(names, row, decoders, strict=False):
            if dec is None or value is None:
                continue
            try:
                dec(value)
            except Exception:  # noqa: BLE001 - this is the field that cannot be read
                # the stored value itself stays out of the message (it may be private)
                return errors.ValidationError(
                    f"cannot read a stored {cls.__name__}: {cls.__name__}.{name} holds a value the field "
                    f"cannot take ({type(exc).__name__}; the details are on __cause__)"
                )
        return errors.ValidationError(f"cannot read a stored {cls.__name__}: {type(exc).__name__} building it")

    return error


def _plain_dataclass_init(cls: type, names: Sequence[str]) -> bool:
    """Whether ``cls(*values)`` only assigns the fields, in ``names`` order."""
    init = cls.__dict__.get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    fields = dataclasses.fields(cls)
    return (
        init is not None
        and getattr(getattr(init, "__code__", None), "co_filename", "") == "<string>"  # made by @dataclass
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
