"""Lifecycle events: hooks around add, save and delete, and after commit or rollback.

Hooks are plain or async callables. Instance hooks (``before_add`` ...
``after_delete``) receive the instance; a ``before_*`` hook may change it
(timestamps, normalisation) or cancel the action by raising. ``after_commit``
and ``after_rollback`` hooks receive the :class:`ommi.Transaction` and fire
only when that transaction really committed or rolled back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar, get_args

from ommi import errors

__all__ = ["EventName", "Hooks", "model_hooks", "on"]

EventName = Literal[
    "before_add", "after_add", "before_save", "after_save", "before_delete", "after_delete",
    "after_commit", "after_rollback",
]
EVENTS: frozenset[str] = frozenset(get_args(EventName))
INSTANCE_EVENTS = EVENTS - {"after_commit", "after_rollback"}

F = TypeVar("F", bound=Callable[..., Any])


def _check(event: str, model: type | None) -> None:
    if event not in EVENTS:
        raise errors.OmmiError(f"unknown event {event!r}; events: {', '.join(sorted(EVENTS))}")
    if model is not None and event not in INSTANCE_EVENTS:
        raise errors.OmmiError(f"{event} hooks belong to an Ommi, not to a model")


class Hooks(dict[str, list[tuple[type | None, Callable[..., Any]]]]):
    """Registered hooks, by event; instance hooks may be limited to one model class.

    A dict of the events that have hooks, so that ``if hooks:``, which every
    action asks twice, is the dict's own C-level test rather than a Python call.
    """

    __slots__ = ()

    def add(self, event: str, fn: Callable[..., Any], model: type | None = None) -> Callable[[], None]:
        _check(event, model)
        entry = (model, fn)
        self.setdefault(event, []).append(entry)

        def remove() -> None:
            entries = self.get(event, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self.pop(event, None)

        return remove

    def matching(self, event: str, model: type | None) -> list[Callable[..., Any]]:
        return [fn for m, fn in self.get(event, ()) if m is None or m is model]


model_hooks = Hooks()
"""Hooks registered on model classes with :func:`on`."""


def on(event: EventName, model: type) -> Callable[[F], F]:
    """Register a hook for one model class: ``@on("before_save", User)``.

    It fires on every ``Ommi``. Use ``db.on(...)`` for hooks of one ``Ommi``.
    """
    _check(event, model)

    def register(fn: F) -> F:
        model_hooks.add(event, fn, model)
        return fn

    return register


async def call(fn: Callable[..., Any], *args: Any, event: str) -> None:
    """Run one hook; failures become ``OmmiError`` naming the event and hook."""
    try:
        result = fn(*args)
        if isinstance(result, Awaitable):
            await result
    except errors.OmmiError:
        raise
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        raise errors.OmmiError(f"{event} hook {name} failed: {type(exc).__name__}: {exc}") from exc


async def fire(local: Hooks, event: str, model: type, instances: Iterable[Any]) -> None:
    """Run model-level then ``Ommi``-level hooks for each instance, in order."""
    hooks = model_hooks.matching(event, model) + local.matching(event, model) if (model_hooks or local) else []
    if not hooks:
        return
    for instance in instances:
        for fn in hooks:
            await call(fn, instance, event=event)
