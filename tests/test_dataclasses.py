"""ommi's own ``dataclass`` (ommi/_dataclasses.py) makes the classes the standard decorator makes.

Each shape ommi uses is built twice, by ``dataclasses.dataclass`` and by
ommi's, and everything a caller can observe is compared: signature,
docstring, fields, ``__match_args__``, ``__dataclass_params__``, repr,
equality, hashing, immutability, copying, pickling and ``replace``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from ommi import _dataclasses as _dataclasses_module

if TYPE_CHECKING:  # as in ommi's modules: checkers see the standard decorator
    from dataclasses import dataclass as ommi_dataclass
else:
    from ommi._dataclasses import dataclass as ommi_dataclass


def _shapes(decorate: Callable[..., Any], prefix: str) -> dict[str, tuple[type, tuple[Any, ...]]]:
    """The shapes to compare, with the arguments of one instance each."""

    @decorate(frozen=True, slots=True)
    class Node:
        """A query node: frozen, slotted, a field left out of eq, hash and repr."""

        field: str
        op: str = "="
        info: Any = dataclasses.field(default=None, compare=False, hash=False, repr=False)
        kind: ClassVar[str] = "node"

    @decorate(frozen=True, slots=True)
    class Bare:
        pass

    @decorate(frozen=True, slots=True, eq=False)
    class Statement:
        """Identity equality, as ``Insert``."""

        rows: tuple[int, ...]

    @decorate(frozen=True)
    class Url:
        scheme: str
        host: str | None = None
        port: int | None = None

    @decorate(eq=False)
    class Mutable:
        """Not frozen, identity equality, as the SQL driver's bookkeeping."""

        name: str
        count: int = 0

    @decorate
    class Plain:
        """Not frozen, equal by value, so unhashable."""

        a: int
        b: list[int] | None = None

    @decorate(frozen=True)
    class Factory:
        """Default factories, as ``URL.query``."""

        scheme: str
        query: dict[str, str] = dataclasses.field(default_factory=dict)
        items: list[int] = dataclasses.field(default_factory=list, repr=False)

    @decorate(eq=False)
    class MutableFactory:
        name: str
        checked: dict[str, str] = dataclasses.field(default_factory=dict)

    @decorate(frozen=True, slots=True)
    class Many:
        """More fields than ten: placeholders that share a prefix."""

        f0: int
        f1: int
        f2: int
        f3: int
        f4: int
        f5: int
        f6: int
        f7: int
        f8: int
        f9: int
        f10: int = 10
        f11: int = 11

    shapes: dict[str, tuple[type, tuple[Any, ...]]] = {
        "Node": (Node, ("name", ">")),
        "Bare": (Bare, ()),
        "Statement": (Statement, ((1, 2),)),
        "Url": (Url, ("sqlite", "h", 1)),
        "Mutable": (Mutable, ("x",)),
        "Plain": (Plain, (1, [2])),
        "Many": (Many, tuple(range(10))),
        "Factory": (Factory, ("sqlite",)),
        "MutableFactory": (MutableFactory, ("plan",)),
    }
    module = sys.modules[__name__]
    for name, (cls, _args) in shapes.items():  # importable by name, for pickle
        cls.__qualname__ = cls.__name__ = prefix + name
        setattr(module, prefix + name, cls)
    return shapes


STANDARD = _shapes(dataclasses.dataclass, "Std")
OMMI = _shapes(ommi_dataclass, "Ommi")


def _try(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return type(exc).__name__


def _observe(cls: type, args: tuple[Any, ...], prefix: str) -> dict[str, Any]:
    def text(value: Any) -> str:
        return repr(value).replace(prefix, "")

    one, same = cls(*args), cls(*args)
    fields = dataclasses.fields(cls)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    first = fields[0].name if fields else None
    seen: dict[str, Any] = {
        "signature": str(inspect.signature(cls)),
        "doc": (cls.__doc__ or "").replace(prefix, ""),
        "fields": [(f.name, f.type, f.default, f.init, f.repr, f.compare, f.hash) for f in fields],
        "match_args": getattr(cls, "__match_args__", None),
        "slots": getattr(cls, "__slots__", None),
        "params": {k: getattr(params, k) for k in ("init", "repr", "eq", "order", "unsafe_hash", "frozen")},
        "repr": text(one),
        "equal": one == same,
        "equal_to_other_type": one == object(),
        "hashable": cls.__hash__ is not None,
        "hash_equal": _try(lambda: hash(one) == hash(same)),
        "hash_value_if_by_value": _try(lambda: hash(one)) if params.eq and params.frozen else None,
        "set_field": _try(lambda: setattr(one, first, 1)) if first else None,
        "delete_field": _try(lambda: delattr(one, first)) if first else None,
        "init_annotations": cls.__init__.__annotations__,  # type: ignore[misc]
        "class_attributes": sorted(cls.__dict__),
        "annotations": cls.__dict__.get("__annotations__"),
    }
    fresh = cls(*args)
    seen["copy"] = text(copy.copy(fresh))
    seen["deepcopy"] = text(copy.deepcopy(fresh))
    seen["pickle"] = text(pickle.loads(pickle.dumps(fresh)))  # noqa: S301 - our own object
    seen["pickle_equal"] = pickle.loads(pickle.dumps(fresh)) == fresh  # noqa: S301
    seen["replace"] = text(dataclasses.replace(fresh))
    seen["keywords"] = text(cls(**{f.name: a for f, a in zip(fields, args, strict=False)}))
    seen["missing_argument"] = _try(lambda: cls()) if args else None
    return seen


@pytest.mark.parametrize("name", list(STANDARD))
def test_same_class_as_the_standard_decorator(name: str) -> None:
    std_cls, args = STANDARD[name]
    ommi_cls, _ = OMMI[name]
    assert _observe(ommi_cls, args, "Ommi") == _observe(std_cls, args, "Std")


def test_frozen_refuses_other_names_too() -> None:
    # Python 3.11's own method fails here with a TypeError from super() (fixed in 3.12); ommi's says why
    bare = OMMI["Bare"][0]()
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'other'"):
        bare.other = 1


def test_default_factories_make_a_new_value_each_time() -> None:
    factory = OMMI["Factory"][0]
    one, two = factory("a"), factory("b")
    assert one.query == {} and one.query is not two.query
    given = {"k": "v"}
    assert factory("c", given).query is given


def test_recursive_repr_and_nested_equality() -> None:
    node = OMMI["Node"][0]
    outer = node("a", "=", None)
    assert node(outer, "=") == node(node("a", "=", None), "=")
    assert hash(node(outer, "=")) == hash(node(node("a"), "="))
    mutable = OMMI["Mutable"][0]("x")
    mutable.name = mutable
    assert repr(mutable) == "OmmiMutable(name=..., count=0)"


def test_shapes_it_does_not_build_go_to_the_standard_decorator() -> None:
    @ommi_dataclass(frozen=True, order=True)
    class Ordered:
        a: int

    @ommi_dataclass(frozen=True)
    class Base:
        a: int

    @ommi_dataclass(frozen=True)
    class Derived(Base):
        b: int = 0

    assert Ordered(1) < Ordered(2)
    assert Derived(1, 2) == Derived(1, 2) and dataclasses.fields(Derived)[0].name == "a"
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @ommi_dataclass
        class Wrong:
            a: int = 0
            b: int  # type: ignore[misc]


def test_written_templates_are_current() -> None:
    # ommi/_dataclass_code.py holds the __init__ templates of the shapes ommi's classes
    # have (so they are not compiled at start-up): written again from a fresh process's
    # imports, it must come out the same
    script = "from ommi._dataclasses import written_source; import sys; sys.stdout.write(written_source())"
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    path = Path(_dataclasses_module.__file__).with_name("_dataclass_code.py")
    assert done.stdout == path.read_text(encoding="utf-8"), (
        "ommi/_dataclass_code.py is out of date: python -c 'from ommi._dataclasses import write_code; write_code()'"
    )
