"""ommi in one page: define a model, store it, query it, change it.

Run it with ``python examples/quickstart.py``. It uses an in-memory SQLite
database unless ``OMMI_DATABASE_URL`` names another one, e.g.
``OMMI_DATABASE_URL=sqlite:///quickstart.db`` or a PostgreSQL URL; run it
again on the same database and it starts over.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from ommi import DBFailure, DBSuccess, Key, Ommi, Unique, ommi_model


@ommi_model
@dataclass
class User:
    name: str
    age: int
    email: Annotated[str | None, Unique] = None
    id: Annotated[int | None, Key] = None


async def main() -> None:
    async with Ommi.connect() as db:
        await db.schema().create_models().or_raise()  # creates what is missing, keeps what exists
        # A file or server database still holds the users of an earlier run: start over.
        await db.find(User).delete().or_raise()

        alice, bob = await db.add(User("Alice", 31, "alice@example.com"), User("Bob", 17)).or_raise()
        print(f"stored {alice.name} as id {alice.id} and {bob.name} as id {bob.id}")

        adults = await db.find(User.age >= 18).order_by(User.name.asc).all().or_raise()
        print("adults:", [u.name for u in adults])

        match await db.find(User.name == "Carol").one():
            case DBSuccess(user):
                print("found", user)
            case DBFailure(error):
                print("no Carol:", type(error).__name__)

        changed = await db.find(User.age < 18).update(age=18).or_raise()
        print("birthdays:", changed)

        duplicate = await db.add(User("Alicia", 40, "alice@example.com"))
        print("duplicate email refused:", isinstance(duplicate, DBFailure))

        async with db.transaction() as tx:
            await tx.add(User("Carol", 40)).or_raise()

        async for user in db.find(User.name.startswith("C")):
            print("streamed", user.name)

        print("users:", await db.find(User).count().or_raise())


if __name__ == "__main__":
    asyncio.run(main())
