"""The ommi mypy plugin: on an ``@ommi_model`` class, ``User.age`` is a ``FieldRef[User, int]``.

Enable it in the mypy configuration::

    [tool.mypy]
    plugins = ["ommi.mypy"]

At run time a model's fields are query references on the class and plain
values on instances. Without help, mypy sees the instance annotation on the
class too (``User.age`` is an ``int``) and refuses to read dataclass fields
without a default, or fields of slotted classes, on the class at all. The
plugin does two things and nothing more:

* Class-level access to a stored field of a model is typed
  ``FieldRef[Model, FieldType]``. Everything else (comparisons, ``in_``,
  ``like``, ``asc``, and whatever :class:`ommi.query.FieldRef` gains later)
  follows from ``FieldRef``'s own annotations: the plugin knows no method names.
* The dataclass and attrs hooks that mark such fields instance-only are
  followed by one that lifts the mark on ommi models, where it is not true.

Instance access (``user.age``) and relations (``ClassVar[LazyMany[Post]]``)
keep the types mypy gives them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from mypy.nodes import CallExpr, ClassDef, Expression, RefExpr, TypeInfo, Var
from mypy.options import Options
from mypy.plugin import AttributeContext, ClassDefContext, Plugin
from mypy.plugins.default import DefaultPlugin
from mypy.types import Instance, Type
from mypy.typevars import fill_typevars_with_any

__all__ = ["OmmiPlugin", "plugin"]

MODEL_DECORATORS = frozenset({"ommi.ommi_model", "ommi._model.ommi_model"})
FIELD_REF = "ommi.query.FieldRef"
METADATA_KEY = "ommi"

# where mypy's own plugins (and pydantic's) record the fields of a class
_FIELD_LISTS = (("dataclass", "attributes"), ("attrs", "attributes"), ("pydantic-mypy-metadata", "fields"))


class OmmiPlugin(Plugin):
    """Types class-level field access on ommi models as ``FieldRef[Model, FieldType]``."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        # mypy asks plugins in order and takes the first hook offered; the
        # dataclass and attrs hooks are re-offered here, followed by ours
        self._library_hooks = DefaultPlugin(options)

    def get_class_decorator_hook_2(self, fullname: str) -> Callable[[ClassDefContext], bool] | None:
        if fullname in MODEL_DECORATORS:
            return _mark_model
        library = self._library_hooks.get_class_decorator_hook_2(fullname)
        if library is None:
            return None
        return functools.partial(_after_library, library)

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        symbol = self.lookup_fully_qualified(owner)
        info = symbol.node if symbol is not None else None
        if not isinstance(info, TypeInfo) or METADATA_KEY not in info.metadata or not _is_field(info, name):
            return None
        field_ref = self.lookup_fully_qualified(FIELD_REF)
        if field_ref is None or not isinstance(field_ref.node, TypeInfo):
            return None  # ommi.query is not part of this build
        return functools.partial(_field_ref, info, field_ref.node)


def _decorator_name(expr: Expression) -> str | None:
    if isinstance(expr, CallExpr):  # @ommi_model(collection=...)
        return _decorator_name(expr.callee)
    return expr.fullname if isinstance(expr, RefExpr) else None


def _is_model(defn: ClassDef) -> bool:
    return any(_decorator_name(d) in MODEL_DECORATORS for d in defn.decorators)


def _mark_model(ctx: ClassDefContext) -> bool:
    ctx.cls.info.metadata[METADATA_KEY] = {}
    return True


def _after_library(library: Callable[[ClassDefContext], bool], ctx: ClassDefContext) -> bool:
    done = library(ctx)
    if done and _is_model(ctx.cls):
        info = ctx.cls.info
        for name in _field_names(info):
            symbol = info.names.get(name)
            if symbol is not None and isinstance(symbol.node, Var):
                # ommi installs a descriptor per field: it is readable on the class
                symbol.implicit = False
        # the slots hold the instance values; the class attribute is ommi's descriptor
        info.slots = None
    return done


def _field_names(info: TypeInfo) -> set[str]:
    names: set[str] = set()
    for key, entry in _FIELD_LISTS:
        fields = info.metadata.get(key, {}).get(entry)
        if isinstance(fields, dict):
            names.update(fields)
        elif isinstance(fields, list):
            names.update(f["name"] for f in fields)
    return names


def _is_field(info: TypeInfo, name: str) -> bool:
    listed = _field_names(info)
    if listed:
        return name in listed
    # no library recorded the fields: an annotated, non-ClassVar variable
    symbol = info.get(name)
    node = symbol.node if symbol is not None else None
    return isinstance(node, Var) and not node.is_classvar and not node.is_property and not node.is_inferred


def _field_ref(model: TypeInfo, field_ref: TypeInfo, ctx: AttributeContext) -> Type:
    if ctx.is_lvalue:
        return ctx.default_attr_type
    return Instance(field_ref, [fill_typevars_with_any(model), ctx.default_attr_type])


def plugin(version: str) -> type[Plugin]:
    """The entry point mypy calls for ``plugins = ["ommi.mypy"]``."""
    return OmmiPlugin
