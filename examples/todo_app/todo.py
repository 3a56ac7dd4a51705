"""A small to-do application built on ommi, with its own test suite in tests/.

It shows what an application's tests look like with ommi's testing toolkit:
the ``ommi_db`` fixture gives each test a clean database, and factories build
valid model instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from ommi import (
    AwareDatetime,
    Count,
    Key,
    LazyLoadEveryRelated,
    ModelCollection,
    Ommi,
    ReferenceTo,
    Unique,
    ommi_model,
    on,
)

todo_models = ModelCollection("todo")


@ommi_model(collection=todo_models)
@dataclass
class Owner:
    email: Annotated[str, Unique]
    name: str
    id: Annotated[int | None, Key] = None

    tasks: LazyLoadEveryRelated[Task]


@ommi_model(collection=todo_models)
@dataclass
class Task:
    title: str
    owner_id: Annotated[int, ReferenceTo(Owner.id)]
    done: bool = False
    updated_at: AwareDatetime | None = None
    id: Annotated[int | None, Key] = None


@on("before_add", Task)
@on("before_save", Task)
def _touch(task: Task) -> None:
    task.updated_at = datetime.now(UTC)


async def complete(db: Ommi, task_id: int) -> Task:
    """Mark a task done."""
    task = await db.get(Task, task_id).or_raise()
    task.done = True
    await db.save(task).or_raise()
    return task


async def open_counts(db: Ommi) -> dict[str, int]:
    """Open tasks per owner name, computed by the database."""
    rows = await db.find(Task.done == False).group_by(Task.owner_id).aggregate(n=Count()).or_raise()  # noqa: E712
    owners = {o.id: o.name for o in await db.find(Owner).all().or_raise()}
    return {owners[r["owner_id"]]: r["n"] for r in rows}


async def clear_done(db: Ommi, owner: Owner) -> int:
    """Delete an owner's finished tasks; returns how many."""
    return await db.find(Task.owner_id == owner.id, Task.done == True).delete().or_raise()  # noqa: E712
