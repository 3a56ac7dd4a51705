"""``dataclass`` for ommi's own classes: the standard decorator's result, built without compiling.

``dataclasses.dataclass`` writes each generated method (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, and a frozen class's ``__setattr__``
and ``__delattr__``) as source text and compiles it, at every start of the
interpreter: about 0.45 ms for a frozen class on Python 3.11. ``import ommi``
plus a first query builds over fifty of them, which made dataclasses the
largest part of ommi's start-up (docs/benchmarks.md, "Start-up").

This decorator takes the same arguments and gives the same class: the
standard decorator still reads the fields and builds ``__slots__``,
``__match_args__`` and ``__dataclass_fields__``; then the methods it would
have compiled are installed without compiling. ``__repr__`` and a frozen
class's ``__setattr__``/``__delattr__`` are closures over the field names
(the same text, the same errors). ``__init__``, ``__eq__`` and ``__hash__``
are copies of one compiled code object per kind and number of fields, with
the field names put in (:func:`_method`): the same bytecode as the standard
methods, so they run as fast, and ``inspect.signature`` and keyword
arguments see the real names. ``__eq__`` and ``__hash__`` are made at their
first call. ``__dataclass_params__`` then says what was asked for.

Classes outside that shape (dataclass bases, ``__post_init__``,
``InitVar``, keyword-only fields, ordering, ...) go to the standard
decorator unchanged. Type checkers see the standard decorator (the modules
import this one only ``if not TYPE_CHECKING``). ``tests/test_dataclasses.py``
compares the two decorators' classes on every shape ommi uses.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect  # imported by dataclasses anyway
import reprlib
import types
from collections.abc import Callable
from typing import Any

__all__ = ["dataclass"]

_MISSING: Any = dataclasses.MISSING
_SETTER = "__ommi_object_setattr__"  # a name no field can shadow, like the standard __init__'s


def dataclass(
    cls: type | None = None,
    /,
    *,
    init: bool = True,
    repr: bool = True,
    eq: bool = True,
    order: bool = False,
    unsafe_hash: bool = False,
    frozen: bool = False,
    match_args: bool = True,
    kw_only: bool = False,
    slots: bool = False,
    weakref_slot: bool = False,
) -> Any:
    """``dataclasses.dataclass`` with the same arguments and result, built faster (see the module)."""
    simple_options = init and match_args and not (order or unsafe_hash or kw_only or weakref_slot)

    def wrap(cls: type) -> type:
        if not (simple_options and _simple(cls)):
            return dataclasses.dataclass(
                cls,
                init=init,
                repr=repr,
                eq=eq,
                order=order,
                unsafe_hash=unsafe_hash,
                frozen=frozen,
                match_args=match_args,
                kw_only=kw_only,
                slots=slots,
                weakref_slot=weakref_slot,
            )
        return _build(cls, repr=repr, eq=eq, frozen=frozen, slots=slots)

    return wrap if cls is None else wrap(cls)


def _simple(cls: type) -> bool:
    """Whether the class has only plain fields: positional, with or without a plain default."""
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]) or hasattr(cls, "__post_init__"):
        return False
    own = cls.__dict__
    for name, annotation in own.get("__annotations__", {}).items():
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "") or str(annotation)
        if "InitVar" in text or "KW_ONLY" in text or name == "self":
            return False
        spec = own.get(name)
        if isinstance(spec, dataclasses.Field) and (
            (spec.default_factory is not _MISSING and _HAS_FACTORY is None) or not spec.init or spec.kw_only is True
        ):
            return False
    return True


def _build(cls: type, *, repr: bool, eq: bool, frozen: bool, slots: bool) -> type:
    own = dict(cls.__dict__)  # what the class itself defines: never overwritten, as the standard decorator
    had_doc = bool(own.get("__doc__"))
    class_hash = own.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in own))
    if frozen and ("__setattr__" in own or "__delattr__" in own):
        name = "__setattr__" if "__setattr__" in own else "__delattr__"
        raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")

    cls = _fields(cls, own, slots=slots)
    flds = dataclasses.fields(cls)
    names = tuple(f.name for f in flds)

    def add(fn: Callable[..., Any], name: str) -> None:
        fn.__name__ = name
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)

    if "__init__" not in own:
        cls.__init__ = _init(cls, flds, frozen)  # type: ignore[misc]
    if repr and "__repr__" not in own:
        add(_repr(tuple(f.name for f in flds if f.repr)), "__repr__")
    if eq and "__eq__" not in own:
        setattr(cls, "__eq__", _on_first_call(cls, "__eq__", tuple(f.name for f in flds if f.compare)))  # noqa: B010
    if frozen:
        setattr_, delattr_ = _frozen(cls, names)
        add(setattr_, "__setattr__")
        add(delattr_, "__delattr__")
        # pickling and copying a frozen class with slots, as the standard decorator
        for name, fn in (("__getstate__", _getstate), ("__setstate__", _setstate)) if slots else ():
            if name not in own:
                setattr(cls, name, fn)
    if eq and not explicit_hash:
        # eq without frozen: unhashable; eq and frozen: a hash of the compared fields
        if frozen:
            hashed = tuple(f.name for f in flds if (f.compare if f.hash is None else f.hash))
            cls.__hash__ = _on_first_call(cls, "__hash__", hashed)  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    if not had_doc:
        try:  # a docstring from the signature, as the standard decorator
            text_sig = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            text_sig = ""
        cls.__doc__ = cls.__name__ + text_sig

    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.init, params.repr, params.eq, params.frozen = True, repr, eq, frozen
    return cls


def _fields(cls: type, own: dict[str, Any], *, slots: bool) -> type:
    """The standard decorator, asked for no generated methods: fields, ``__match_args__``, ``__slots__``."""
    if not own.get("__doc__"):  # written later, from the real signature (the standard decorator would use object's)
        cls.__doc__ = cls.__name__
    # It resolves each string annotation (``from __future__ import annotations``) three
    # times to see whether it is a ClassVar, InitVar or KW_ONLY; :func:`_simple` has ruled
    # out the last two, so it sees a plain stand-in for every annotation that does not
    # name ClassVar, and the fields get their annotations back afterwards.
    annotations = own.get("__annotations__")
    if annotations:
        cls.__annotations__ = {
            name: a if not isinstance(a, str) or "ClassVar" in a else object for name, a in annotations.items()
        }
    cls = dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=False, slots=slots)
    if annotations:
        cls.__annotations__ = annotations
        for f in cls.__dataclass_fields__.values():  # type: ignore[attr-defined]
            f.type = annotations[f.name]
    return cls


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        inner = ", ".join([f"{name}={getattr(self, name)!r}" for name in names])
        return f"{self.__class__.__qualname__}({inner})"

    return __repr__


def _frozen(cls: Any, names: tuple[str, ...]) -> tuple[Callable[..., None], Callable[..., None]]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __setattr__, __delattr__


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)


def _on_first_call(cls: type, kind: str, names: tuple[str, ...]) -> Callable[..., Any]:
    """``__eq__`` or ``__hash__``, made at its first call: most classes are never compared or hashed in a run.

    The stand-in builds the method, puts it in its own place on the class
    and answers with it; later calls go straight to the method.
    """

    def first_call(self: Any, *other: Any) -> Any:
        method = _method(cls, kind, names)
        setattr(cls, kind, method)
        return method(self, *other)

    first_call.__name__ = kind
    first_call.__qualname__ = f"{cls.__qualname__}.{kind}"
    return first_call


def _init(cls: type, flds: tuple[dataclasses.Field[Any], ...], frozen: bool) -> types.FunctionType:
    """The standard ``__init__`` of these fields: parameters in order, defaults, each field set."""
    seen_default = False
    defaults: list[Any] = []
    factories: dict[str, Any] = {}
    for i, f in enumerate(flds):
        if f.default_factory is not _MISSING:
            # the standard parameter default (shown as <factory>), replaced by a new value in the body
            seen_default = True
            defaults.append(_HAS_FACTORY)
            factories[_factory(i)] = f.default_factory
        elif f.default is not _MISSING:
            seen_default = True
            defaults.append(f.default)
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    kind = "__init_frozen__" if frozen else "__init__"
    fn = _method(cls, kind, tuple(f.name for f in flds), tuple(factories))
    if factories:
        fn = types.FunctionType(fn.__code__, _GLOBALS | factories, fn.__name__)
    fn.__defaults__ = tuple(defaults) or None
    fn.__annotations__ = {f.name: f.type for f in flds} | {"return": None}
    return fn


def _method(cls: type, kind: str, names: tuple[str, ...], factories: tuple[str, ...] = ()) -> types.FunctionType:
    """The method ``kind`` of the standard decorator over these fields: its template with their names put in."""
    template = _template(kind, len(names), factories)
    rename = {_placeholder(i): name for i, name in enumerate(names)}
    name = "__init__" if kind == "__init_frozen__" else kind
    code = template.replace(
        co_varnames=tuple(rename.get(n, n) for n in template.co_varnames),
        co_names=tuple(rename.get(n, n) for n in template.co_names),
        co_consts=tuple(rename.get(c, c) if isinstance(c, str) else c for c in template.co_consts),
        co_name=name,
        co_qualname=f"{cls.__qualname__}.{name}",
    )
    return types.FunctionType(code, _GLOBALS, name)


def _placeholder(i: int) -> str:
    return f"_ommi_field_{i}"


def _factory(i: int) -> str:
    return f"_ommi_factory_{i}"


# The standard decorator's own default for a parameter whose field has a default
# factory (its repr, <factory>, shows in signatures); without it, such classes go
# to the standard decorator.
_HAS_FACTORY: Any = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", None)
_GLOBALS: dict[str, Any] = {"__builtins__": builtins, _SETTER: object.__setattr__, "_ommi_has_factory": _HAS_FACTORY}


@functools.cache
def _template(kind: str, count: int, factories: tuple[str, ...] = ()) -> types.CodeType:
    """The body the standard decorator writes for ``count`` fields, compiled once per kind and count.

    Field names appear in a code object only as names (parameters,
    attributes) and string constants, so :func:`_method` renames a copy
    instead of compiling each class's own. An ``__init__`` calls the default
    factories it is given as globals (``factories``: their names).
    """
    fields = [_placeholder(i) for i in range(count)]
    values = [
        f"{_factory(i)}() if {f} is _ommi_has_factory else {f}" if _factory(i) in factories else f
        for i, f in enumerate(fields)
    ]
    if kind == "__init_frozen__":  # a frozen class's own __setattr__ refuses, so its fields are set past it
        head = f"__init__(self, {', '.join(fields)})"
        body = [f"{_SETTER}(self, {f!r}, {v})" for f, v in zip(fields, values, strict=True)]
    elif kind == "__init__":
        head = f"__init__(self, {', '.join(fields)})"
        body = [f"self.{f} = {v}" for f, v in zip(fields, values, strict=True)]
    elif kind == "__eq__":
        mine, theirs = (f"({''.join(f'{side}.{f},' for f in fields)})" for side in ("self", "other"))
        head = "__eq__(self, other)"
        body = ["if other.__class__ is self.__class__:", f"    return {mine} == {theirs}", "return NotImplemented"]
    else:  # __hash__
        head, body = "__hash__(self)", [f"return hash(({''.join(f'self.{f},' for f in fields)}))"]
    source = f"def {head}:\n" + "".join(f"    {line}\n" for line in body or ["pass"])
    namespace = dict(_GLOBALS)
    exec(compile(source, "<string>", "exec"), namespace)  # noqa: S102 - our own template, no user text
    code: types.CodeType = namespace[head.partition("(")[0]].__code__
    return code
