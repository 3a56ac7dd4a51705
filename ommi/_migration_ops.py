"""The operations a migration file lists, each with its inverse.

An operation does three things: it changes the in-memory :class:`State`
(``apply``), it says which :class:`~ommi.driver.SchemaChange` objects take a
database from the state before it to the state after it (``changes``), and
it gives the operation that undoes it (``inverse``), or refuses when undoing
it would lose data and the author has not said how to bring it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ommi import errors
from ommi._adapters import NO_DEFAULT
from ommi._migration_state import Field, ModelState, State, literal
from ommi.driver import SchemaChange

__all__ = [
    "AddField",
    "AddIndex",
    "AddUnique",
    "AlterField",
    "CreateModel",
    "DropField",
    "DropIndex",
    "DropModel",
    "DropUnique",
    "Operation",
    "RenameField",
    "RenameModel",
    "RunData",
    "noop",
]


class Operation:
    """One step of a migration."""

    def apply(self, state: State) -> State:
        """The state after this operation (raises ``MigrationError`` if it does not fit ``state``)."""
        raise NotImplementedError

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        """The schema changes that take a database from ``before`` to ``after``."""
        return []

    def inverse(self, before: State) -> Operation:
        """The operation that undoes this one (``before`` is the state this one was applied to).

        Raises:
            MigrationError: undoing it would lose data and the migration does not say how
                to bring it back (``refused`` is true).
        """
        raise NotImplementedError

    def render(self) -> str:
        """The Python source of this operation, as a migration file holds it."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short description for status and error messages."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.render()


def _refused(what: str, how: str) -> errors.MigrationError:
    return errors.MigrationError(f"cannot undo {what}: {how}", refused=True)


_value = literal


# -- models -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateModel(Operation):
    """Create a table (a collection on MongoDB) with its key, unique and plain indexes."""

    name: str
    fields: Sequence[Field]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))

    def apply(self, state: State) -> State:
        if self.name in state:
            raise errors.MigrationError(f"CreateModel({self.name!r}): the model already exists")
        names = [f.name for f in self.fields]
        columns = [f.stored for f in self.fields]
        if not names or len(set(names)) != len(names) or len(set(columns)) != len(columns):
            raise errors.MigrationError(f"CreateModel({self.name!r}) needs fields with distinct names and columns")
        return state.with_model(ModelState(self.name, tuple(self.fields)))

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        out = [SchemaChange("add_table", after.info(self.name, unique=False), None, f"{len(self.fields)} fields")]
        info = after.info(self.name)
        out += [
            SchemaChange("add_unique", info, f.stored, before=after.info(self.name, unique=False))
            for f in self.fields
            if f.unique
        ]
        return out

    def inverse(self, before: State) -> Operation:
        return DropModel(self.name, reversible=True)

    def render(self) -> str:
        inner = "".join(f"\n        {f.render()}," for f in self.fields)
        return f"CreateModel({literal(self.name)}, [{inner}\n    ])"

    def describe(self) -> str:
        return f"create model {self.name}"


@dataclasses.dataclass(frozen=True)
class DropModel(Operation):
    """Drop a table and its rows.

    ``down`` refuses to undo it (the rows are gone) unless ``reversible=True``:
    then the table comes back empty, or as a data step before this one restores it.
    """

    name: str
    reversible: bool = False

    def apply(self, state: State) -> State:
        state.model(self.name)
        referring = [r for r in state.referring(self.name) if not r.startswith(self.name + ".")]
        if referring:
            raise errors.MigrationError(
                f"{self.render()}: {', '.join(referring)} still refer to it (drop those fields first)"
            )
        return state.without(self.name)

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        return [SchemaChange("drop_table", before.info(self.name), before=before.info(self.name))]

    def inverse(self, before: State) -> Operation:
        if not self.reversible:
            raise _refused(
                f"dropping model {self.name}",
                "its rows are gone; if an empty table is an acceptable undo, write DropModel(..., reversible=True)",
            )
        return CreateModel(self.name, before.model(self.name).fields)

    def render(self) -> str:
        return f"DropModel({literal(self.name)}" + (", reversible=True)" if self.reversible else ")")

    def describe(self) -> str:
        return f"drop model {self.name}"


@dataclasses.dataclass(frozen=True)
class RenameModel(Operation):
    """Rename a table (collection); rows, indexes and references follow."""

    old: str
    new: str

    def apply(self, state: State) -> State:
        model = state.model(self.old)
        if self.new in state:
            raise errors.MigrationError(f"{self.render()}: {self.new!r} already exists")
        out = state.with_model(ModelState(self.new, model.fields), replacing=self.old)
        for m in list(out.models.values()):
            fields = tuple(_retarget(f, self.old, None, self.new, None) for f in m.fields)
            if fields != m.fields:
                out = out.with_model(ModelState(m.name, fields))
        return out

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        return [SchemaChange("rename_table", after.info(self.new), old=self.old, before=before.info(self.old))]

    def inverse(self, before: State) -> Operation:
        return RenameModel(self.new, self.old)

    def render(self) -> str:
        return f"RenameModel({literal(self.old)}, {literal(self.new)})"

    def describe(self) -> str:
        return f"rename model {self.old} to {self.new}"


def _retarget(f: Field, table: str, field: str | None, new_table: str, new_field: str | None) -> Field:
    """``f`` with a reference to ``table`` (or ``table.field``) pointed at the new names."""
    if f.references is None:
        return f
    target, _, target_field = f.references.rpartition(".")
    if target != table or (field is not None and target_field != field):
        return f
    return dataclasses.replace(f, references=f"{new_table}.{new_field or target_field}")


# -- fields -----------------------------------------------------------------------


def _field(state: State, model: str, name: str) -> Field:
    found = state.model(model).field(name)
    if found is None:
        raise errors.MigrationError(f"model {model!r} has no field {name!r} at this point of the migrations")
    return found


@dataclasses.dataclass(frozen=True)
class AddField(Operation):
    """Add a field; existing rows get ``backfill`` (a required field needs one unless the table is empty).

    A required field without ``backfill`` gives existing rows a zero value
    (``""``, ``0``, ``0.0``, ``False``) where its type has one.
    """

    model: str
    field: Field
    backfill: Any = NO_DEFAULT

    def apply(self, state: State) -> State:
        m = state.model(self.model)
        if self.field.key:
            raise errors.MigrationError(f"AddField({self.model!r}): a key field cannot be added to a model")
        if m.field(self.field.name) is not None or any(f.stored == self.field.stored for f in m.fields):
            raise errors.MigrationError(f"AddField({self.model!r}): {self.field.name!r} already exists")
        return state.with_model(ModelState(m.name, (*m.fields, self.field)))

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        info, old = after.info(self.model), before.info(self.model)
        col = self.field.stored
        kind = "add_column" if self.field.nullable else "add_required_column"
        out = [SchemaChange(kind, info, col, value=self.backfill, before=old)]
        if self.field.unique:
            out.append(SchemaChange("add_unique", info, col, before=old))
        if self.field.index:
            out.append(SchemaChange("add_index", info, col, before=old))
        return out

    def inverse(self, before: State) -> Operation:
        return DropField(self.model, self.field.name, reversible=True)

    def render(self) -> str:
        extra = "" if self.backfill is NO_DEFAULT else f", backfill={_value(self.backfill)}"
        return f"AddField({literal(self.model)}, {self.field.render()}{extra})"

    def describe(self) -> str:
        return f"add field {self.model}.{self.field.name} ({self.field.describe()})"


@dataclasses.dataclass(frozen=True)
class DropField(Operation):
    """Drop a field and its values.

    ``down`` refuses to undo it (the values are gone) unless ``reversible=True``:
    then the field comes back holding ``backfill`` (or NULL, or a zero value),
    or as a data step before this one restores it.
    """

    model: str
    name: str
    reversible: bool = False
    backfill: Any = NO_DEFAULT

    def apply(self, state: State) -> State:
        f = _field(state, self.model, self.name)
        if f.key:
            raise errors.MigrationError(f"{self.render()}: key fields cannot be dropped")
        referring = state.referring(self.model, self.name)
        if referring:
            raise errors.MigrationError(
                f"{self.render()}: {', '.join(referring)} still refer to it"
            )
        return state.with_model(state.model(self.model).replace(self.name, None))

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        column = _field(before, self.model, self.name).stored
        return [SchemaChange("drop_column", after.info(self.model), column, before=before.info(self.model))]

    def inverse(self, before: State) -> Operation:
        if not self.reversible:
            raise _refused(
                f"dropping field {self.model}.{self.name}",
                "its values are gone; if an empty (or backfilled) field is an acceptable undo, "
                "write DropField(..., reversible=True)",
            )
        return AddField(self.model, _field(before, self.model, self.name), self.backfill)

    def render(self) -> str:
        extra = ", reversible=True" if self.reversible else ""
        if self.backfill is not NO_DEFAULT:
            extra += f", backfill={_value(self.backfill)}"
        return f"DropField({literal(self.model)}, {literal(self.name)}{extra})"

    def describe(self) -> str:
        return f"drop field {self.model}.{self.name}"


@dataclasses.dataclass(frozen=True)
class RenameField(Operation):
    """Rename a field; its values stay.

    Its column takes the new name too, unless ``column`` names the column it
    is stored in from now on (the old column's name: only the Python name
    changes, and the database has nothing to do).
    """

    model: str
    old: str
    new: str
    column: str | None = None

    def apply(self, state: State) -> State:
        f = _field(state, self.model, self.old)
        m = state.model(self.model)
        if m.field(self.new) is not None:
            raise errors.MigrationError(f"{self.render()}: {self.model} already has a field {self.new!r}")
        renamed = dataclasses.replace(f, name=self.new, column=self.column)
        if any(other.stored == renamed.stored for other in m.fields if other.name != self.old):
            raise errors.MigrationError(f"RenameField: {self.model}.{renamed.stored} is already a column")
        out = state.with_model(m.replace(self.old, renamed))
        for other in list(out.models.values()):
            fields = tuple(_retarget(x, self.model, self.old, self.model, self.new) for x in other.fields)
            if fields != other.fields:
                out = out.with_model(ModelState(other.name, fields))
        return out

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        old_col = _field(before, self.model, self.old).stored
        new_col = _field(after, self.model, self.new).stored
        if old_col == new_col:
            return []  # the column keeps its name (StoreAs): only the Python name changed
        info = after.info(self.model)
        return [SchemaChange("rename_column", info, new_col, old=old_col, before=before.info(self.model))]

    def inverse(self, before: State) -> Operation:
        return RenameField(self.model, self.new, self.old, _field(before, self.model, self.old).column)

    def render(self) -> str:
        column = "" if self.column is None else f", column={literal(self.column)}"
        return f"RenameField({literal(self.model)}, {literal(self.old)}, {literal(self.new)}{column})"

    def describe(self) -> str:
        return f"rename field {self.model}.{self.old} to {self.new}"


@dataclasses.dataclass(frozen=True)
class AlterField(Operation):
    """Change a field's type, nullability, stored name, unique or index flags.

    When the field becomes required, rows holding NULL get ``backfill`` first
    (without one, they make the change fail). Keys and references cannot be
    changed in place: add a new field (or model) and copy the data.
    """

    model: str
    name: str
    field: Field
    backfill: Any = NO_DEFAULT

    def apply(self, state: State) -> State:
        old = _field(state, self.model, self.name)
        new = self.field
        if new.name != self.name:
            raise errors.MigrationError(f"AlterField({self.model!r}, {self.name!r}): rename fields with RenameField")
        for attr in ("key", "auto", "references"):
            if getattr(old, attr) != getattr(new, attr):
                raise errors.MigrationError(
                    f"AlterField({self.model!r}, {self.name!r}): changing {attr!r} in place is not supported; "
                    "add a new field (or model) and copy the data with a data step"
                )
        return state.with_model(state.model(self.model).replace(self.name, new))

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        old = _field(before, self.model, self.name)
        new = self.field
        info, prev = after.info(self.model), before.info(self.model)
        out: list[SchemaChange] = []
        if old.stored != new.stored:
            out.append(SchemaChange("rename_column", info, new.stored, old=old.stored, before=prev))
        if (old.type, old.aware) != (new.type, new.aware):
            detail = f"{old.describe()} -> {new.describe()}"
            out.append(SchemaChange("retype_column", info, new.stored, detail, before=prev))
        if old.nullable != new.nullable:
            detail = "NOT NULL -> NULL" if new.nullable else "NULL -> NOT NULL"
            out.append(SchemaChange("change_nullability", info, new.stored, detail, value=self.backfill, before=prev))
        for flag, add, drop in (("unique", "add_unique", "drop_unique"), ("index", "add_index", "drop_index")):
            if getattr(old, flag) != getattr(new, flag):
                out.append(SchemaChange(add if getattr(new, flag) else drop, info, new.stored, before=prev))
        return out

    def inverse(self, before: State) -> Operation:
        return AlterField(self.model, self.name, _field(before, self.model, self.name))

    def render(self) -> str:
        extra = "" if self.backfill is NO_DEFAULT else f", backfill={_value(self.backfill)}"
        return f"AlterField({literal(self.model)}, {literal(self.name)}, {self.field.render()}{extra})"

    def describe(self) -> str:
        return f"alter field {self.model}.{self.name} ({self.field.describe()})"


@dataclasses.dataclass(frozen=True)
class _Flag(Operation):
    """Set or clear a field's unique or index flag."""

    model: str
    name: str
    flag = ""
    on = True

    def apply(self, state: State) -> State:
        f = _field(state, self.model, self.name)
        if getattr(f, self.flag) == self.on:
            raise errors.MigrationError(f"{self.render()}: the field's {self.flag} flag is already {self.on}")
        if self.on and (f.key or (self.flag == "index" and f.unique) or (self.flag == "unique" and f.index)):
            raise errors.MigrationError(f"{self.render()}: key and unique fields have their own index")
        new = dataclasses.replace(f, unique=self.on) if self.flag == "unique" else dataclasses.replace(f, index=self.on)
        return state.with_model(state.model(self.model).replace(self.name, new))

    def changes(self, before: State, after: State) -> list[SchemaChange]:
        kind = ("add_" if self.on else "drop_") + self.flag
        info = after.info(self.model)
        return [SchemaChange(kind, info, _field(after, self.model, self.name).stored, before=before.info(self.model))]

    def render(self) -> str:
        return f"{type(self).__name__}({literal(self.model)}, {literal(self.name)})"

    def describe(self) -> str:
        verb = "add" if self.on else "drop"
        what = "unique constraint" if self.flag == "unique" else "index"
        return f"{verb} {what} on {self.model}.{self.name}"


@dataclasses.dataclass(frozen=True)
class AddIndex(_Flag):
    """Index a field."""

    flag = "index"
    on = True

    def inverse(self, before: State) -> Operation:
        return DropIndex(self.model, self.name)


@dataclasses.dataclass(frozen=True)
class DropIndex(_Flag):
    """Drop a field's index."""

    flag = "index"
    on = False

    def inverse(self, before: State) -> Operation:
        return AddIndex(self.model, self.name)


@dataclasses.dataclass(frozen=True)
class AddUnique(_Flag):
    """Make a field unique (fails if rows already share a value)."""

    flag = "unique"
    on = True

    def inverse(self, before: State) -> Operation:
        return DropUnique(self.model, self.name)


@dataclasses.dataclass(frozen=True)
class DropUnique(_Flag):
    """Let rows share a field's value again."""

    flag = "unique"
    on = False

    def inverse(self, before: State) -> Operation:
        return AddUnique(self.model, self.name)


# -- data -------------------------------------------------------------------------

DataStep = Callable[[Any], Awaitable[None]]


async def noop(tx: Any) -> None:
    """A data step that does nothing: ``RunData(forward, backward=noop)`` makes a step reversible."""


@dataclasses.dataclass(frozen=True)
class RunData(Operation):
    """A data step: ``forward(tx)`` runs when the migration is applied, ``backward(tx)`` when it is reverted.

    ``tx`` is the migration's transaction (``tx.find``, ``tx.add``, ...); the
    models as they are at this step are ``tx.models.<table name>``. Without
    ``backward``, ``down`` refuses to revert the migration; ``backward=noop``
    says there is nothing to undo.
    """

    forward: DataStep
    backward: DataStep | None = None

    def apply(self, state: State) -> State:
        return state

    def inverse(self, before: State) -> Operation:
        if self.backward is None:
            raise _refused(
                f"data step {_name(self.forward)}",
                "it has no backward step; write RunData(forward, backward=...) (backward=noop if nothing to undo)",
            )
        return RunData(self.backward, self.forward)

    def render(self) -> str:
        back = "" if self.backward is None else f", backward={_name(self.backward)}"
        return f"RunData({_name(self.forward)}{back})"

    def describe(self) -> str:
        return f"data step {_name(self.forward)}"


def _name(fn: Any) -> str:
    return str(getattr(fn, "__name__", repr(fn)))
