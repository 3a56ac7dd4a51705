"""ommi itself, on every backend: the URL is the only difference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from bench import workload as w
from bench.contenders.base import Contender
from ommi import Count, Key, ModelCollection, Ommi, Sum, ommi_model

collection = ModelCollection("bench")


@ommi_model(collection=collection, name=w.TABLE)
@dataclass
class Person:
    name: str
    age: int
    email: str
    id: Annotated[int | None, Key] = None


class OmmiContender(Contender):
    name = "ommi"
    backends = frozenset({"sqlite", "postgresql", "duckdb", "mongodb", "mysql"})
    packages = ("ommi",)

    async def connect(self) -> None:
        self.db = await Ommi.connect(self.url)

    async def recreate(self) -> None:
        await self.db.schema(collection).delete_models().or_raise()
        await self.db.schema(collection).create_models().or_raise()

    async def keys(self) -> list[int]:
        return [p.id for p in await self.db.find(Person).all().or_raise()]

    async def teardown(self) -> None:
        await self.db.close()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        keys = []
        async with self.db.transaction() as tx:
            for name, age, email in rows:
                (person,) = await tx.add(Person(name, age, email)).or_raise()
                keys.append(person.id)
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        await self.db.add(*[Person(name, age, email) for name, age, email in rows]).or_raise()

    async def fetch_all(self) -> list[Person]:
        return await self.db.find(Person).all().or_raise()

    async def lookups(self, keys: list[int]) -> list[Person]:
        get = self.db.get
        return [await get(Person, key).or_raise() for key in keys]

    async def filtered(self) -> list[Person]:
        query = self.db.find((Person.age > w.E_MIN_AGE) & Person.name.like(w.E_PREFIX + "%"))
        return await query.all().or_raise()

    async def update_set(self) -> int:
        return await self.db.find(Person.age < w.F_MAX_AGE).update(email=self.f_email).or_raise()

    async def load_modify_save(self) -> int:
        people = await self.db.find(Person.age.between(*w.G_AGES)).all().or_raise()
        for person in people:
            person.email = person.email.upper()
        return len(await self.db.save(*people).or_raise())

    async def delete_set(self) -> int:
        return await self.db.find(Person.age.between(*self.h_ages)).delete().or_raise()

    async def count_filtered(self) -> int:
        return await self.db.find(Person.age >= w.I_MIN_AGE).count().or_raise()

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        async for person in self.db.find(Person):
            rows += 1
            ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        query = self.db.find(Person).group_by(Person.age)
        return await query.aggregate(n=Count(), total=Sum(Person.id)).or_raise()
