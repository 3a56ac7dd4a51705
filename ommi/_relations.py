"""Relationships: lazy fields that follow ``ReferenceTo`` links, in either direction.

``ClassVar[LazyOne[Model]]`` and ``ClassVar[LazyMany[Model]]`` (or the upstream
aliases ``LazyLoadTheRelated[Model]`` and ``LazyLoadEveryRelated[Model]``) are
class variables as far as dataclasses, attrs and pydantic are concerned (so
they are never constructor arguments nor stored columns); ``@ommi_model``
installs a descriptor for each that hands out an awaitable bound to the instance.
"""

from __future__ import annotations

import builtins
import functools
import sys
import typing
import weakref
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ommi import errors
from ommi.query import Field, Hop

if TYPE_CHECKING:
    from dataclasses import dataclass

    from ommi._model import FieldInfo, ModelInfo
    from ommi.query import Condition, Related
else:  # the same classes, built without compiling their methods at import (see there)
    from ommi._dataclasses import dataclass

__all__ = [
    "AmbiguousRelation",
    "AssociateUsing",
    "LazyLoadEveryRelated",
    "LazyLoadTheRelated",
    "LazyMany",
    "LazyOne",
    "Link",
    "Relation",
    "RelationRef",
    "Via",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AssociateUsing:
    """Many-to-many through an association model whose fields refer to both sides.

    ``roles: ClassVar[LazyMany[Annotated[Role, AssociateUsing("UserRole")]]]`` (the
    association model by class, or by name when it is defined further down)
    """

    model: Any


@dataclass(frozen=True, slots=True)
class Via:
    """Names the ``ReferenceTo`` field a relation follows, where two or more could.

    ``editor: ClassVar[LazyOne[Annotated[User, Via("editor_id")]]]`` on ``Post``
    follows ``Post.editor_id``; on the other side,
    ``edited: ClassVar[LazyMany[Annotated[Post, Via("editor_id")]]]`` on ``User``
    follows the same field backwards. The name is the referencing field's.
    """

    field: str


class BadRelation(errors.ModelError):
    """A relation declaration that is wrong whatever is defined later (refused at decoration)."""


class AmbiguousRelation(BadRelation):
    """A relation could follow several ``ReferenceTo`` fields and names none with ``Via``."""


Link = Hop


# -- per-instance state: the session an instance came from, and loaded relations


class _State:
    __slots__ = ("cache", "ref", "session")

    def __init__(self, ref: weakref.ref[Any], session: Any) -> None:
        self.ref = ref
        self.session = session
        self.cache: dict[str, Any] = {}


_states: dict[int, _State] = {}


def _forget_ref(key: int, _ref: object, states: dict[int, _State] = _states) -> None:
    # bound as a default: at interpreter exit module globals may already be None
    states.pop(key, None)


def bind(instances: Any, session: Any) -> None:
    """Remember which session scope (an ``Ommi``'s or a transaction's) ``instances`` came through."""
    for obj in instances:
        key = id(obj)
        state = _states.get(key)
        if state is not None and state.ref() is obj:
            state.session = session
            continue
        _states[key] = _State(weakref.ref(obj, functools.partial(_forget_ref, key)), session)


def state_of(obj: Any) -> _State | None:
    state = _states.get(id(obj))
    return state if state is not None and state.ref() is obj else None


# -- declarations


class LazyOne(Generic[T]):
    """``await instance.field`` gives the related model (or ``None``); cached after the first load."""

    __slots__ = ("instance", "relation")

    def __init__(self, relation: Relation, instance: Any) -> None:
        self.relation = relation
        self.instance = instance

    def __await__(self) -> Generator[Any, None, T | None]:
        return self.relation.load(self.instance, refresh=False).__await__()

    async def refresh(self) -> T | None:
        """Load again from the database, replacing the cached value."""
        return await self.relation.load(self.instance, refresh=True)  # type: ignore[no-any-return]

    def has(self, *predicates: Condition[Any]) -> Related[Any]:
        """On the model class, a filter across this relation (see :meth:`RelationRef.has`)."""
        raise errors.QueryError(f"call has() on the model class ({self.relation!r}.has(...)), not on an instance")


class LazyMany(Generic[T]):
    """``await instance.field`` gives the list of related models; cached after the first load."""

    __slots__ = ("instance", "relation")

    def __init__(self, relation: Relation, instance: Any) -> None:
        self.relation = relation
        self.instance = instance

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self.relation.load(self.instance, refresh=False).__await__()

    async def refresh(self) -> list[T]:
        """Load again from the database, replacing the cached list."""
        return await self.relation.load(self.instance, refresh=True)  # type: ignore[no-any-return]

    def has(self, *predicates: Condition[Any]) -> Related[Any]:
        """On the model class, a filter across this relation (see :meth:`RelationRef.has`)."""
        raise errors.QueryError(f"call has() on the model class ({self.relation!r}.has(...)), not on an instance")


# To model libraries these are class variables: never fields, never constructor
# arguments. (A generic ClassVar alias is what makes string annotations such as
# "LazyLoadTheRelated[User]" work too: dataclasses resolve the outer name.)
LazyLoadTheRelated = ClassVar[LazyOne[T]]
LazyLoadEveryRelated = ClassVar[LazyMany[T]]


class _Names(Mapping[str, Any]):
    """Local names for resolving forward references: given locals, then models by name."""

    def __init__(self, owner: ModelInfo, localns: Mapping[str, Any] | None) -> None:
        self.owner = owner
        self.localns = localns or {}

    def __getitem__(self, key: str) -> Any:
        if key in self.localns:
            return self.localns[key]
        from ommi._model import find_model

        info = find_model(key, self.owner.collection)
        if info is None:
            raise KeyError(key)
        return info.cls

    def __iter__(self) -> Any:
        return iter(self.localns)

    def __len__(self) -> int:
        return len(self.localns)


class _Lenient(Mapping[str, Any]):
    """Names for recognising a relation at decoration: a name not defined yet
    (a model declared further down) reads as a forward reference."""

    def __init__(self, globalns: Mapping[str, Any], localns: Mapping[str, Any] | None) -> None:
        self.globalns = globalns
        self.localns = localns or {}

    def __getitem__(self, key: str) -> Any:
        for names in (self.localns, self.globalns, vars(builtins)):
            if key in names:
                return names[key]
        return typing.ForwardRef(key)

    def __iter__(self) -> Any:
        return iter(self.localns)

    def __len__(self) -> int:
        return len(self.localns)


def _read(annotation: Any, globalns: dict[str, Any], names: Mapping[str, Any]) -> Any:
    """An annotation as an object: strings and forward references are evaluated."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        return eval(annotation, globalns, names)  # noqa: S307 - the model's own annotation
    return annotation


def is_relation_annotation(annotation: Any, globalns: dict[str, Any], localns: Mapping[str, Any] | None) -> bool:
    """Whether an annotation declares a lazy relation: ``ClassVar[LazyOne[...]]`` or
    ``ClassVar[LazyMany[...]]`` in any spelling (the ``LazyLoad...`` aliases, strings,
    ``from __future__ import annotations``), whether or not its target exists yet."""
    names = _Lenient(globalns, localns)
    try:
        outer = _read(annotation, globalns, names)
        if typing.get_origin(outer) is not ClassVar:
            return False
        args = typing.get_args(outer)
        return len(args) == 1 and typing.get_origin(_read(args[0], globalns, names)) in (LazyOne, LazyMany)
    except Exception:  # noqa: BLE001 - an annotation that cannot be read is not a relation
        return False


class Relation:
    """One declared relationship of a model; resolved on first use."""

    def __init__(self, owner: ModelInfo, name: str, annotation: Any, localns: Mapping[str, Any] | None) -> None:
        self.owner = owner
        self.name = name
        self.annotation = annotation
        self.localns = localns
        self._resolved: tuple[bool, ModelInfo, ModelInfo | None, tuple[Link, ...]] | None = None
        # the defining module's namespace, live: names defined after the model appear in it
        module = sys.modules.get(owner.cls.__module__)
        self._globalns: dict[str, Any] = vars(module) if module is not None else {}

    def __repr__(self) -> str:
        return f"{self.owner.cls.__name__}.{self.name}"

    def _where(self) -> str:
        return f"{self.owner.cls.__qualname__}.{self.name}"

    def resolve(self) -> tuple[bool, ModelInfo, ModelInfo | None, tuple[Link, ...]]:
        """``(many, target, association, links)``; links go from the owner towards the target."""
        if self._resolved is None:
            self._resolved = self._resolve()
        return self._resolved

    def _resolve(self) -> tuple[bool, ModelInfo, ModelInfo | None, tuple[Link, ...]]:
        from ommi._model import get_model_info

        ann = self._evaluate(self.annotation)
        (inner,) = typing.get_args(ann)
        inner = self._evaluate(inner)
        many = typing.get_origin(inner) is LazyMany
        (target,) = typing.get_args(inner)
        assoc: Any = None
        via: str | None = None
        if typing.get_origin(target) is typing.Annotated:
            target, *meta = typing.get_args(target)
            assoc = next((m.model for m in meta if isinstance(m, AssociateUsing)), None)
            via = next((m.field for m in meta if isinstance(m, Via)), None)
        target = self._model(target)
        assoc = self._model(assoc) if assoc is not None else None
        target_info = get_model_info(target)
        if assoc is None:
            return many, target_info, None, (self._direct(target_info, many, via),)
        assoc_info = get_model_info(assoc)
        first = self._direct_between(self.owner, assoc_info, prefer_forward=False, via=via)
        second = self._direct_between(assoc_info, target_info, prefer_forward=True)
        return many, target_info, assoc_info, (first, second)

    def _evaluate(self, annotation: Any) -> Any:
        try:
            return _read(annotation, self._globalns, _Names(self.owner, self.localns))
        except Exception as exc:
            raise errors.ModelError(f"{self._where()}: cannot resolve {self.annotation!r}: {exc}") from exc

    def _model(self, target: Any) -> Any:
        if isinstance(target, (str, typing.ForwardRef)):
            name = target if isinstance(target, str) else target.__forward_arg__
            try:
                return _read(target, self._globalns, _Names(self.owner, self.localns))
            except Exception:  # noqa: BLE001 - reported as the unknown model it is
                raise errors.ModelError(f"{self._where()}: unknown model {name!r}") from None
        return target

    def _direct(self, target: ModelInfo, many: bool, via: str | None) -> Link:
        # a single related model usually follows the owner's own reference
        # (post.author); a list usually follows references to the owner (user.posts)
        return self._direct_between(self.owner, target, prefer_forward=not many, via=via)

    def _direct_between(
        self, source: ModelInfo, target: ModelInfo, prefer_forward: bool, via: str | None = None
    ) -> Link:
        # each candidate with its referencing field: the field a Via names, and the one messages show
        forward = [(Link(f.ref.field, t.ref.field), f) for f, t in _references(source) if t.model is target]
        backward = [(Link(t.ref.field, f.ref.field), f) for f, t in _references(target) if t.model is source]
        if via is not None:
            named = [link for link, f in forward + backward if f.name == via]
            if len(named) == 1:
                return named[0]
            fields = ", ".join(dict.fromkeys(_name(f) for _, f in forward + backward)) or "none"
            if not named:
                raise BadRelation(
                    f"{self._where()}: Via({via!r}) names no ReferenceTo field joining {source.cls.__name__} and "
                    f"{target.cls.__name__} (the fields that do: {fields})"
                )
            raise AmbiguousRelation(f"{self._where()}: Via({via!r}) names a field both ways (a self-reference)")
        preferred, other = (forward, backward) if prefer_forward else (backward, forward)
        for candidates in (preferred, other):
            if len(candidates) == 1:
                return candidates[0][0]
            if len(candidates) > 1:
                shown = ", ".join(_name(f) for _, f in candidates)
                first = candidates[0][1].name
                raise AmbiguousRelation(
                    f"{self._where()}: several ReferenceTo fields join {source.cls.__name__} and "
                    f"{target.cls.__name__} ({shown}): name the one to follow with Via, e.g. "
                    f"Annotated[{target.cls.__name__}, Via({first!r})]"
                )
        raise errors.ModelError(
            f"{self._where()}: no ReferenceTo field links {source.cls.__name__} and {target.cls.__name__}"
        )

    def check_early(self) -> None:
        """At decoration: raise if the relation is already known to be ambiguous.

        Anything else (a model defined further down, a class not finished yet)
        waits for the first use or the schema's creation; nothing is cached.
        """
        try:
            self._resolve()
        except BadRelation:
            raise
        except Exception:  # noqa: BLE001, S110 - resolved again (and reported) at first use
            pass

    def path(self) -> tuple[Hop, ...]:
        """The hops from the owner to the target (for filters across the relation)."""
        return self.resolve()[3]

    async def load(self, instance: Any, refresh: bool) -> Any:
        state = state_of(instance)
        if state is None:
            raise errors.QueryError(
                f"{self._where()}: this {self.owner.cls.__name__} was never added or loaded through an Ommi, "
                "so there is no database to load the relation from"
            )
        if not refresh and self.name in state.cache:
            return state.cache[self.name]
        value = await self.fetch(state.session, [instance])
        return value[0]

    async def fetch(self, session: Any, owners: list[Any]) -> list[Any]:
        """Load the relation for several owners with one query per hop; caches and returns per owner."""
        many, target, assoc, links = self.resolve()
        session = _usable(session)
        first = links[0]
        keys = [getattr(o, first.source.name) for o in owners]
        wanted = sorted({k for k in keys if k is not None}, key=_sort_key)
        rows: list[Any] = []
        if wanted:
            hop_model = assoc.cls if assoc is not None else target.cls
            rows = await _load_in(session, hop_model, first.target, wanted)
        if assoc is not None:
            second = links[1]
            via: dict[Any, list[Any]] = {}
            for row in rows:
                via.setdefault(getattr(row, first.target.name), []).append(getattr(row, second.source.name))
            ends = sorted({v for vs in via.values() for v in vs if v is not None}, key=_sort_key)
            found = await _load_in(session, target.cls, second.target, ends) if ends else []
            by_end = {getattr(r, second.target.name): r for r in found}
            grouped = {k: [by_end[v] for v in vs if v in by_end] for k, vs in via.items()}
        else:
            grouped = {}
            for row in rows:
                grouped.setdefault(getattr(row, first.target.name), []).append(row)
        out = []
        for owner, key in zip(owners, keys, strict=True):
            related = grouped.get(key, []) if key is not None else []
            value = related if many else (related[0] if related else None)
            out.append(value)
            state = state_of(owner)
            if state is not None:
                state.cache[self.name] = value
        return out


def _name(f: FieldInfo) -> str:
    return f"{f.model.cls.__name__}.{f.name}"


def _references(info: ModelInfo) -> list[tuple[FieldInfo, FieldInfo]]:
    out = []
    for f in info.fields:
        target = f.references()
        if target is not None:
            out.append((f, target))
    return out


def _sort_key(value: Any) -> Any:
    return (type(value).__name__, value)


_BATCH = 500


async def _load_in(session: Any, model: type, field: Field, values: list[Any]) -> list[Any]:
    ref = field.info.ref
    rows: list[Any] = []
    for start in range(0, len(values), _BATCH):
        chunk = values[start : start + _BATCH]
        key_order = [f.ref.asc for f in field.info.model.key] or [ref.asc]
        query = session.find(model, ref.in_(chunk)).order_by(*key_order)
        rows.extend(await query.all().or_raise())
    return rows


def _usable(scope: Any) -> Any:
    # an instance loaded inside a transaction that has ended loads through the
    # transaction's Ommi
    return scope.usable().session


class RelationRef:
    """What ``User.posts`` is on the class: names the relation for ``include()``."""

    __slots__ = ("relation",)

    def __init__(self, relation: Relation) -> None:
        self.relation = relation

    def __repr__(self) -> str:
        return repr(self.relation)

    def has(self, *predicates: Any) -> Any:
        """A filter across this relation: some related row satisfies every predicate.

        ``db.find(Post, Post.editor.has(User.name == "Ann"))`` follows exactly
        the reference the relation names (``Via("editor_id")``), where a plain
        ``find(Post, User.name == "Ann")`` would be ambiguous. ``~`` negates it
        (no related row matches). With no predicates: some related row exists.
        """
        from ommi._predicates import check_depth, join_all, localize
        from ommi.query import And, Condition, Related

        _, target, _, _ = self.relation.resolve()
        preds = []
        for p in predicates:
            if not isinstance(p, Condition):
                raise errors.QueryError(f"{self!r}.has() takes predicates, not {p!r}")
            preds.append(localize(check_depth(p), target))  # type: ignore[arg-type]
        joined = join_all(preds)
        return Related(self.relation.path(), joined if joined is not None else And(()))


class RelationDescriptor:
    """Installed on the model class for each lazy field."""

    __slots__ = ("relation",)

    def __init__(self, relation: Relation) -> None:
        self.relation = relation

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return RelationRef(self.relation)
        many = self.relation.resolve()[0]
        return (LazyMany if many else LazyOne)(self.relation, obj)


def find_path(start: ModelInfo, goal: ModelInfo) -> tuple[Hop, ...]:
    """The shortest chain of ``ReferenceTo`` links from ``start`` to ``goal`` (either direction).

    Raises:
        QueryError: no chain links them, or two different shortest chains do.
    """
    from ommi._model import all_model_infos

    candidates = [i for i in all_model_infos() if i.collection in (start.collection, goal.collection)]
    paths: dict[int, list[tuple[Hop, ...]]] = {id(start): [()]}
    frontier = [start]
    while frontier and id(goal) not in paths:
        reached: dict[int, tuple[ModelInfo, list[tuple[Hop, ...]]]] = {}
        for model in frontier:
            for hop, nxt in _neighbours(model, candidates):
                if id(nxt) in paths:
                    continue
                entry = reached.setdefault(id(nxt), (nxt, []))
                entry[1].extend((*p, hop) for p in paths[id(model)])
        for key, (_model, found) in reached.items():
            paths[key] = found
        frontier = [m for m, _ in reached.values()]
    found = paths.get(id(goal), [])
    if not found:
        raise errors.QueryError(
            f"no chain of ReferenceTo links leads from {start.cls.__name__} to {goal.cls.__name__}"
        )
    if len(set(found)) > 1:
        shown = "; ".join(" -> ".join(f"{h.source.model.__name__}.{h.source.name}" for h in p) for p in found)
        raise errors.QueryError(
            f"filtering {start.cls.__name__} by {goal.cls.__name__} is ambiguous: several links join them ({shown}); "
            f"name the path with a relation's has(), e.g. {start.cls.__name__}.<relation>.has(...)"
        )
    return found[0]


def _neighbours(model: ModelInfo, candidates: list[ModelInfo]) -> list[tuple[Hop, ModelInfo]]:
    out = [(Hop(f.ref.field, t.ref.field), t.model) for f, t in _references(model)]
    for other in candidates:
        for f, t in _references(other):
            if t.model is model and not (other is model and f is t):
                out.append((Hop(t.ref.field, f.ref.field), other))
    return out
