"""SQLAlchemy 2 async ORM, written idiomatically: sessions, ``add``/``add_all``,
``select(...).scalars()``, ``update()``/``delete()`` statements, unit-of-work saves.

A flushes after each ``add`` so that, as in the other contenders, every row is
its own INSERT whose key is known at once (without it the unit of work would
batch the inserts at commit, and A would measure the same thing as B).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncAttrs, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench import workload as w
from bench.contenders.base import Contender, sqlite_path


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = w.TABLE

    name: Mapped[str] = mapped_column(Text)  # MySQL needs a length for VARCHAR: TEXT everywhere
    age: Mapped[int]
    email: Mapped[str] = mapped_column(Text)
    id: Mapped[int] = mapped_column(primary_key=True)


def _enable_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


class SQLAlchemyContender(Contender):
    name = "SQLAlchemy"
    backends = frozenset({"sqlite", "postgresql", "mysql"})
    packages = ("sqlalchemy", "greenlet")

    def engine_url(self) -> str:
        if self.backend == "sqlite":
            return "sqlite+aiosqlite:///" + sqlite_path(self.url)
        if self.backend == "mysql":
            return "mysql+asyncmy://" + self.url.split("://", 1)[1] + "?charset=utf8mb4"
        return "postgresql+asyncpg://" + self.url.split("://", 1)[1]

    async def connect(self) -> None:
        self.engine = create_async_engine(self.engine_url())
        if self.backend == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _enable_wal)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def recreate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)

    async def keys(self) -> list[int]:
        async with self.session() as session:
            return list((await session.scalars(select(Person.id))).all())

    async def teardown(self) -> None:
        await self.engine.dispose()

    async def insert_each(self, rows: list[tuple[str, int, str]]) -> list[int]:
        keys = []
        async with self.session.begin() as session:
            for name, age, email in rows:
                person = Person(name=name, age=age, email=email)
                session.add(person)
                await session.flush()
                keys.append(person.id)
        return keys

    async def bulk_insert(self, rows: list[tuple[str, int, str]]) -> None:
        async with self.session.begin() as session:
            session.add_all([Person(name=name, age=age, email=email) for name, age, email in rows])

    async def fetch_all(self) -> list[Person]:
        async with self.session() as session:
            return list((await session.scalars(select(Person))).all())

    async def lookups(self, keys: list[int]) -> list[Person]:
        async with self.session() as session:
            found = []
            for key in keys:
                person = await session.get(Person, key)
                assert person is not None
                found.append(person)
            return found

    async def filtered(self) -> list[Person]:
        query = select(Person).where((Person.age > w.E_MIN_AGE) & Person.name.like(w.E_PREFIX + "%"))
        async with self.session() as session:
            return list((await session.scalars(query)).all())

    async def update_set(self) -> int:
        statement = update(Person).where(Person.age < w.F_MAX_AGE).values(email=self.f_email)
        async with self.session.begin() as session:
            result: Any = await session.execute(statement)
            return int(result.rowcount)

    async def load_modify_save(self) -> int:
        async with self.session.begin() as session:
            people = (await session.scalars(select(Person).where(Person.age.between(*w.G_AGES)))).all()
            for person in people:
                person.email = person.email.upper()
            return len(people)

    async def delete_set(self) -> int:
        statement = delete(Person).where(Person.age.between(*self.h_ages))
        async with self.session.begin() as session:
            result: Any = await session.execute(statement)
            return int(result.rowcount)

    async def count_filtered(self) -> int:
        query = select(func.count()).select_from(Person).where(Person.age >= w.I_MIN_AGE)
        async with self.session() as session:
            return int(await session.scalar(query) or 0)

    async def stream(self) -> tuple[int, int]:
        rows = ages = 0
        async with self.session() as session:
            result = await session.stream_scalars(select(Person).execution_options(yield_per=1000))
            async for person in result:
                rows += 1
                ages += person.age
        return rows, ages

    async def aggregate(self) -> list[dict[str, Any]]:
        query = (
            select(Person.age, func.count().label("n"), func.sum(Person.id).label("total"))
            .group_by(Person.age)
            .order_by(Person.age)
        )
        async with self.session() as session:
            return [dict(row._mapping) for row in await session.execute(query)]
