from todo import Owner, Task, clear_done, complete, open_counts

from ommi import Ommi
from ommi.testing import Factory, sequence

owners = Factory(Owner, email=sequence(lambda n: f"owner{n}@example.com"))


def tasks_for(owner: Owner) -> Factory[Task]:
    return Factory(Task, owner_id=owner.id, title=sequence(lambda n: f"task {n}"))


async def test_completing_a_task_stamps_it(ommi_db: Ommi) -> None:
    owner = await owners.create(ommi_db)
    task = await tasks_for(owner).create(ommi_db)
    assert task.updated_at is not None and not task.done
    done = await complete(ommi_db, task.id)
    assert done.done and done.updated_at >= task.updated_at
    assert (await ommi_db.get(Task, task.id).or_raise()).done


async def test_open_counts_per_owner(ommi_db: Ommi) -> None:
    ann = await owners.create(ommi_db, name="Ann")
    bob = await owners.create(ommi_db, name="Bob")
    await tasks_for(ann).create_batch(ommi_db, 3)
    [first, *_] = await tasks_for(bob).create_batch(ommi_db, 2)
    await complete(ommi_db, first.id)
    assert await open_counts(ommi_db) == {"Ann": 3, "Bob": 1}


async def test_clear_done_only_touches_the_owners_finished_tasks(ommi_db: Ommi) -> None:
    ann, bob = await owners.create_batch(ommi_db, 2)
    ann_tasks = await tasks_for(ann).create_batch(ommi_db, 2, done=True)
    await tasks_for(bob).create_batch(ommi_db, 2, done=True)
    assert await clear_done(ommi_db, ann) == len(ann_tasks)
    assert await ommi_db.find(Task).count().or_raise() == 2


async def test_each_test_starts_with_an_empty_database(ommi_db: Ommi) -> None:
    assert await ommi_db.find(Owner).count().or_raise() == 0
    owner = await owners.create(ommi_db)
    assert [t.title for t in await owner.tasks] == []
