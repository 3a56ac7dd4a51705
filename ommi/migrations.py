"""Versioned migrations: what a migration file imports.

A migration file, as ``ommi migrate make`` writes it::

    from ommi.migrations import AddField, Field

    id = "0002_add_nickname"
    parent = "0001_initial"
    message = "add nickname"

    operations = [
        AddField("User", Field("nickname", "str", nullable=True)),
    ]

Operations name models by their table name and fields by their attribute
name. Each one knows its inverse; the ones that would lose data when undone
(:class:`DropField`, :class:`DropModel`, a :class:`RunData` without
``backward``) make ``down`` refuse unless the file says how to undo them.
Apply and inspect migrations with ``db.migrations("migrations")`` (a
:class:`Migrations`) or the ``ommi migrate`` command; the guide is
docs/migrations.md.
"""

from ommi._migration_ops import (
    AddField,
    AddIndex,
    AddUnique,
    AlterField,
    CreateModel,
    DropField,
    DropIndex,
    DropModel,
    DropUnique,
    Operation,
    RenameField,
    RenameModel,
    RunData,
    noop,
)
from ommi._migration_state import Field, HistoricalModels
from ommi._migrations import Migrations, MigrationStatus
from ommi._session import MigrationTransaction

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
    "Field",
    "HistoricalModels",
    "MigrationStatus",
    "MigrationTransaction",
    "Migrations",
    "Operation",
    "RenameField",
    "RenameModel",
    "RunData",
    "noop",
]
