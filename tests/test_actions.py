"""Actions that are never awaited did not run; they say so, like a never-awaited coroutine."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import pytest

from ommi import Key, ModelCollection, Ommi, ommi_model

coll = ModelCollection("actions")


@ommi_model(collection=coll)
@dataclass
class Note:
    text: str
    id: Annotated[int | None, Key] = None


@pytest.fixture
async def db() -> AsyncIterator[Ommi]:
    async with Ommi.connect("sqlite://") as handle:
        await handle.schema(coll).create_models().or_raise()
        yield handle


def dropped(make: object) -> list[str]:
    """Call ``make`` and drop what it returns; the messages of the RuntimeWarnings that follow."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()  # type: ignore[operator]
        gc.collect()
    assert all(w.category is RuntimeWarning for w in caught), caught
    return [str(w.message) for w in caught]


async def test_a_dropped_action_warns_naming_the_call(db: Ommi) -> None:
    assert dropped(lambda: db.add(Note("lost"))) == [
        "db.add(Note) was never awaited, so it did not run (await it, or await its .or_raise())"
    ]
    assert await db.find(Note).count().or_raise() == 0  # it really did not run
    [message] = dropped(lambda: db.find(Note.text == "x").update(text="y"))
    assert message.startswith("db.find(Note).update() was never awaited")
    [message] = dropped(lambda: db.get(Note, 1))
    assert message.startswith("db.get(Note) was never awaited")
    [message] = dropped(lambda: db.schema(coll).diff())
    assert message.startswith("db.schema(actions).diff() was never awaited")
    async with db.transaction() as tx:
        [message] = dropped(lambda: tx.save(Note("x", 1)))
        assert message.startswith("tx.save(Note) was never awaited")


async def test_a_malformed_call_that_is_dropped_still_warns(db: Ommi) -> None:
    # the mistake (an unknown field) is found while building; the failing action names the call
    [message] = dropped(lambda: db.find(Note).update(nope=1))
    assert message.startswith("db.find(Note).update(...) was never awaited")
    [message] = dropped(lambda: db.add(Note("x"), "not a model"))
    assert message.startswith("db.add(...) was never awaited")


async def test_every_way_of_running_an_action_counts(db: Ommi) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await db.add(Note("a"))
        await db.add(Note("b")).or_raise()
        assert await db.find(Note).count().or_use(0) == 2
        action = db.find(Note).all()
        first, again = await action, await action  # awaiting again runs it again
        assert len(first.or_raise()) == len(again.or_raise()) == 2
        del action
        gc.collect()


def test_the_warning_is_an_error_under_filterwarnings_error() -> None:
    # what a test suite with `filterwarnings = error` sees: the warning raised in
    # __del__ goes to sys.unraisablehook (pytest turns that into a failing test)
    seen: list[BaseException | None] = []

    import sys

    previous = sys.unraisablehook
    sys.unraisablehook = lambda hook_args: seen.append(hook_args.exc_value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Ommi.connect("sqlite://").find(Note).count()
            gc.collect()
    finally:
        sys.unraisablehook = previous
    assert len(seen) == 1 and isinstance(seen[0], RuntimeWarning)
    assert "db.find(Note).count() was never awaited" in str(seen[0])
