"""``Schema``: create, inspect, evolve and drop the tables of a collection's models."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ommi import errors
from ommi._model import ModelCollection, ModelInfo, default_collection, infos_in_dependency_order
from ommi._results import Action
from ommi.driver import Driver

if TYPE_CHECKING:  # the schema differ loads with the first diff() or sync()
    from ommi._migrate import SchemaDiff

__all__ = ["Schema"]


class Schema:
    """Schema actions for the models of one collection."""

    def __init__(self, connected: Callable[[], Awaitable[Driver]], collection: ModelCollection | None) -> None:
        self._connected = connected
        self.collection = collection if collection is not None else default_collection

    def _call(self, verb: str) -> tuple[object, ...]:
        shown = "" if self.collection is default_collection else self.collection.name
        return (f"db.schema({shown}).{verb}()",)

    def _infos(self) -> list[ModelInfo]:
        return infos_in_dependency_order(self.collection.infos())

    def create_models(self) -> Action[list[type]]:
        """Create tables (keys, unique constraints, indexes, foreign keys) that do not exist.

        Idempotent and never drops data. Yields the model classes.
        """

        async def run() -> list[type]:
            driver = await self._connected()
            infos = self._infos()
            check_relations(infos)
            await driver.create_schema(infos)
            return [i.cls for i in infos]

        return Action(run, self._call("create_models"))

    def diff(self) -> Action[SchemaDiff]:
        """Compare the models with the live database.

        Yields a :class:`SchemaDiff`: a printable list of differences (tables,
        columns, types, nullability, keys, unique constraints, indexes), each
        marked safe (additive) or destructive.
        """

        async def run() -> SchemaDiff:
            from ommi._migrate import compute_diff

            driver = await self._connected()
            infos = self._infos()
            live = await driver.inspect_schema(infos)
            return compute_diff(infos, live, driver.expected_type)

        return Action(run, self._call("diff"))

    def sync(self, *, allow: Iterable[str] = ()) -> Action[SchemaDiff]:
        """Apply the safe differences (in one transaction where the backend allows).

        Destructive differences are refused with a ``SchemaError`` listing
        them — nothing is applied — unless their kind is in ``allow``
        (``"add_required_column"``, ``"drop_column"``, ``"retype_column"``,
        ``"change_nullability"``, ``"change_key"``). Yields the changes applied.
        """

        async def run() -> SchemaDiff:
            from ommi._migrate import compute_diff, refuse_unallowed

            driver = await self._connected()
            infos = self._infos()
            changes = compute_diff(infos, await driver.inspect_schema(infos), driver.expected_type)
            refuse_unallowed(changes, allow)
            if changes:
                await driver.apply_schema_changes(changes)
            return changes

        return Action(run, self._call("sync"))

    def delete_models(self) -> Action[None]:
        """Drop the tables of the collection's models (and their data)."""

        async def run() -> None:
            driver = await self._connected()
            await driver.drop_schema(list(reversed(self._infos())))

        return Action(run, self._call("delete_models"))


def check_relations(infos: Sequence[ModelInfo]) -> None:
    """Resolve every relation of the models now: an ambiguous one is a ``ModelError`` at the
    first schema use, not at the first ``await post.author`` in production."""
    if not any(info.relations for info in infos):
        return  # (and the relations module stays unloaded)
    from ommi._relations import BadRelation

    for info in infos:
        for relation in info.relations.values():
            try:
                relation.resolve()
            except BadRelation:
                raise
            except errors.ModelError:
                pass  # a target in another collection, or not defined yet: reported when used
