"""Tortoise ORM, written idiomatically: ``Model.create``, ``bulk_create``,
``filter().update()``, ``bulk_update``, ``annotate().group_by().values()``.

Tortoise keeps its configuration in process-wide state, so only one Tortoise
contender can be open at a time (the runner opens one per backend run).
Its ``async for`` over a query set fetches the whole result first: J shows it.
"""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, fields
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.functions import Count, Sum
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bench import workload as w
from bench.contenders.base import Contender, sqlite_path


class Person(Model):
    id = fields.IntField(primary_key=True)
    name = fields.TextField()
    age = fields.IntField()
    email = fields.TextField()

    class Meta:
        table = w.TABLE


class TortoiseContender(Contender):
    name = "Tortoise"
    backends = frozenset({"sqlite", "postgresql", "mysql"})
    packages = ("tortoise-orm",)

    def db_url(self) -> str:
        if self.backend == "sqlite":
            return "sqlite://" + sqlite_path(self.url)
        if self.backend == "mysql":
            return "mysql://" + self.url.split("://", 1)[1]  # Tortoise's MySQL client is asyncmy
        return "postgres://" + self.url.split("://", 1)[1]

    async def connect(self) -> None:
        await Tortoise.init(db_url=self.db_url(), modules={"models": [__name__]})

    async def recreate(self) -> None:
        await Tortoise.get_connection("default").execute_script(f"DROP TABLE IF EXISTS {w.TABLE}")
        await Tortoise.generate_schemas(safe=False)

    async def keys(self) -> list[int]:
        return list(await Person.all().values_list("id", flat=True))

    async def teardown(self) -> None:
        await Tortoise.close_connections()
        # Tortoise caches each model's INSERT per connection name ("default") process-wide; the next
        # backend in this process may be another database (a PostgreSQL run after a SQLite one would
        # otherwise send SQLite's qmark INSERT to PostgreSQL)
        EXECUTOR_CACHE.clear()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        keys = []
        async with in_transaction():
            for name, age, email in rows:
                person = await Person.create(name=name, age=age, email=email)
                keys.append(person.id)
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        async with in_transaction():
            await Person.bulk_create([Person(name=name, age=age, email=email) for name, age, email in rows])

    async def fetch_all(self) -> list[Person]:
        return await Person.all()

    async def lookups(self, keys: list[int]) -> list[Person]:
        return [await Person.get(id=key) for key in keys]

    async def filtered(self) -> list[Person]:
        return await Person.filter(age__gt=w.E_MIN_AGE, name__startswith=w.E_PREFIX)

    async def update_set(self) -> int:
        return await Person.filter(age__lt=w.F_MAX_AGE).update(email=self.f_email)

    async def load_modify_save(self) -> int:
        low, high = w.G_AGES
        async with in_transaction():
            people = await Person.filter(age__gte=low, age__lte=high)
            for person in people:
                person.email = person.email.upper()
            await Person.bulk_update(people, fields=["email"])
        return len(people)

    async def delete_set(self) -> int:
        low, high = self.h_ages
        return await Person.filter(age__gte=low, age__lte=high).delete()

    async def count_filtered(self) -> int:
        return await Person.filter(age__gte=w.I_MIN_AGE).count()

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        async for person in Person.all():
            rows += 1
            ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        query = Person.annotate(n=Count("id"), total=Sum("id")).group_by("age").order_by("age")
        return list(await query.values("age", "n", "total"))
