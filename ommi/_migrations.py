"""``Migrations``: apply, revert and inspect the migration files of a directory.

What the database has applied is recorded in ``ommi_migrations`` (a table, a
collection on MongoDB): one row per applied migration, plus a lock row while
a run is in progress.

* Each migration runs in one transaction with its record, where the driver
  declares ``transactional_schema``: it is applied entirely or not at all.
  Elsewhere (MongoDB) each operation runs on its own and the record counts the
  operations done, so a failed migration shows as ``partial`` and the next
  ``upgrade`` continues where it stopped (operations there are written to be
  repeatable).
* Only one run changes the database at a time: the lock row is inserted
  under the table's unique key, so of two runs one gets it and the other
  waits. The holder refreshes it while it works; a lock older than
  ``lock_timeout`` belongs to a run that died and is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from ommi import errors
from ommi._fields import AwareDatetime, Key, check_identifier
from ommi._migration_files import Ask, Migration, load_chain, plan_changes, replay, write_migration
from ommi._migration_ops import Operation, RunData
from ommi._migration_state import HistoricalModels, State
from ommi._model import ModelCollection, build_detached, default_collection
from ommi._results import Action, DBFailure, DBSuccess
from ommi.driver import Driver, DriverTransaction, SchemaChange

if TYPE_CHECKING:
    from ommi._session import MigrationTransaction, Ommi

__all__ = ["MigrationStatus", "Migrations"]

logger = logging.getLogger("ommi.migrations")

TABLE = "ommi_migrations"
"""The default name of the table (collection) recording applied migrations."""
LOCK = "~lock"
"""The id of the lock row (no migration id starts with ``~``)."""


@dataclasses.dataclass
class _Record:
    """A row of the record table (one class per table name: see :class:`_Book`)."""

    id: Annotated[str, Key]
    state: str  # "applied", "partial" or "lock"
    steps: int  # operations applied (of a partial migration); for the lock, its holder's lock_timeout
    at: AwareDatetime  # when applied; for the lock, when its holder last refreshed it
    owner: str | None = None  # the lock holder: host:pid:token


class _Book:
    """The record table of one name: its model class and query references."""

    _made: ClassVar[dict[str, _Book]] = {}

    def __init__(self, table: str) -> None:
        # a subclass per table: a model class has one table
        cls: Any = type(f"MigrationRecord_{table}", (_Record,), {"__module__": __name__})
        self.cls = cls
        self.info = build_detached(dataclasses.dataclass(cls), ModelCollection(f"ommi-migrations-{table}"), table)
        refs = self.info.by_name
        self.id, self.owner, self.at = refs["id"].ref, refs["owner"].ref, refs["at"].ref

    @classmethod
    def named(cls, table: str) -> _Book:
        book = cls._made.get(table)
        if book is None:
            book = cls._made[table] = _Book(table)
        return book

    def row(self, mid: str, state: str, steps: int, owner: str | None = None) -> Any:
        return self.cls(mid, state, steps, datetime.now(UTC), owner)


@dataclasses.dataclass(frozen=True)
class MigrationStatus:
    """Where one migration stands in the database.

    ``state`` is ``"applied"``, ``"pending"``, ``"partial"`` (some operations
    ran, on a backend without transactional schema changes; ``steps`` of
    ``total``) or ``"unknown"`` (recorded in the database, but no file has
    this id).
    """

    id: str
    message: str
    state: str
    steps: int
    total: int
    applied_at: datetime | None = None

    def __str__(self) -> str:
        mark = {"applied": "[x]", "pending": "[ ]", "partial": "[~]", "unknown": "[?]"}[self.state]
        text = f"{mark} {self.id}"
        if self.message:
            text += f"  {self.message}"
        if self.state == "partial":
            text += f"  (partial: {self.steps} of {self.total} operations applied; run upgrade to finish)"
        elif self.state == "unknown":
            text += "  (applied, but no migration file has this id)"
        return text


class Migrations:
    """The migrations of one directory, on one database (``db.migrations("migrations")``).

    Every method returns an awaitable action, like every other ommi call:
    ``await m.upgrade()`` gives a ``DBResult``, ``await m.upgrade().or_raise()``
    the value. ``make`` and ``check`` need no database; ``Migrations(directory)``
    without one offers just those two.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] = "migrations",
        db: Ommi | None = None,
        *,
        table: str = TABLE,
        lock_timeout: float = 600.0,
        begin: Callable[[Any], MigrationTransaction] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.lock_timeout = float(lock_timeout)
        self.table = table
        self._book = _Book.named(check_identifier(table, "migrations table"))
        self._db = db
        self._begin = begin

    def __repr__(self) -> str:
        return f"<Migrations {str(self.directory)!r}>"

    # -- offline: files and models -------------------------------------------------

    def chain(self) -> list[Migration]:
        """The migration files, first to latest (raises ``MigrationError`` for a broken history)."""
        return load_chain(self.directory)

    def make(
        self,
        message: str,
        collection: ModelCollection | None = None,
        *,
        renames: Mapping[str, str] | None = None,
        drops: Iterable[str] = (),
        ask: Ask | None = None,
        empty: bool = False,
    ) -> Action[Path | None]:
        """Write the next migration: what takes the latest migration's state to the models of ``collection``.

        A model or field that disappeared while one of the same shape appeared
        may be a rename. ``renames`` declares them (``{"User": "Customer"}``,
        ``{"User.name": "full_name"}``), ``drops`` confirms a drop and an add
        (``{"User.name"}``), and ``ask(question)`` (a yes/no prompt) settles the
        others; a question left open fails with ``MigrationError`` and writes
        nothing. ``empty=True`` writes a migration with a data step to fill in.

        Yields the new file's path, or ``None`` when nothing changed.
        """
        models = collection if collection is not None else default_collection

        async def run() -> Path | None:
            chain = self.chain()
            if empty:
                return write_migration(self.directory, chain, message, None)
            planned = plan_changes(replay(chain), models.infos(), renames=renames, drops=drops, ask=ask)
            if not planned:
                return None
            return write_migration(self.directory, chain, message, planned)

        return Action(run)

    def check(self, collection: ModelCollection | None = None) -> Action[list[Operation]]:
        """What a new migration would hold for the models of ``collection`` (empty: none is needed).

        For CI: a model changed without a migration shows here (and makes
        ``ommi migrate check`` exit 1). Possible renames count as differences.
        """
        models = collection if collection is not None else default_collection

        async def run() -> list[Operation]:
            planned = plan_changes(replay(self.chain()), models.infos(), strict=False)
            return [p.operation for p in planned]

        return Action(run)

    # -- the database --------------------------------------------------------------

    def _require_db(self) -> tuple[Ommi, Callable[[Any], MigrationTransaction]]:
        if self._db is None or self._begin is None:
            raise errors.MigrationError("this needs a database: use db.migrations(directory)")
        return self._db, self._begin

    async def _driver(self) -> Driver:
        db, _ = self._require_db()
        await db
        return db.driver

    async def _ensure_table(self, driver: Driver) -> None:
        """Create the record table unless it exists (two runs may race to create it: one wins)."""
        db, _ = self._require_db()
        for attempt in (1, 2, 3):
            exists = await db.on_primary().find(self._book.cls).exists()
            if isinstance(exists, DBSuccess):
                return
            try:
                await driver.create_schema([self._book.info])
            except errors.OmmiError:
                # another run creating it at the same moment makes some databases fail
                # ("type ... already exists" on PostgreSQL): look again
                if attempt == 3:
                    raise
                await asyncio.sleep(0.05 * attempt)
            else:
                return

    async def _records(self) -> dict[str, _Record]:
        db, _ = self._require_db()
        try:
            # on the primary: a read replica behind it would show migrations as not yet applied
            rows = await db.on_primary().find(self._book.cls).all().or_raise()
        except errors.SchemaError:
            return {}  # no table yet: nothing applied
        return {r.id: r for r in rows if r.id != LOCK}

    def status(self) -> Action[list[MigrationStatus]]:
        """Each migration, first to latest, with its state in the database (records without a file last)."""

        async def run() -> list[MigrationStatus]:
            chain = self.chain()
            records = await self._records()
            out = []
            for m in chain:
                rec = records.pop(m.id, None)
                total = len(m.operations)
                if rec is None:
                    out.append(MigrationStatus(m.id, m.message, "pending", 0, total))
                else:
                    steps = total if rec.state == "applied" else rec.steps
                    out.append(MigrationStatus(m.id, m.message, rec.state, steps, total, rec.at))
            out += [MigrationStatus(r.id, "", "unknown", r.steps, r.steps, r.at) for r in records.values()]
            return out

        return Action(run)

    def upgrade(self, target: str | None = None) -> Action[list[str]]:
        """Apply the missing migrations, in order, up to ``target`` (default: the latest).

        Yields the ids applied (empty when the database was up to date).

        Raises (as a ``DBFailure``):
            MigrationError: the history is broken, another run holds the lock past
                ``lock_timeout``, or a migration failed (it names the migration and
                operation; the cause is the database's error).
        """

        async def run() -> list[str]:
            chain = self.chain()
            end = _position(chain, target)
            driver = await self._driver()
            await self._ensure_table(driver)
            applied: list[str] = []
            async with self._locked() as lock:
                records = await self._records()
                _check_history(chain, records)
                state = State()
                for m in chain[: end + 1]:
                    rec = records.get(m.id)
                    if rec is not None and rec.state == "applied":
                        state = m.replay(state)
                        continue
                    lock.check()
                    state = await self._forward(driver, m, state, rec)
                    applied.append(m.id)
            return applied

        return Action(run)

    def downgrade(self, target: str | None = None, *, steps: int | None = None) -> Action[list[str]]:
        """Revert applied migrations, latest first.

        ``downgrade()`` reverts the latest one; ``downgrade(steps=n)`` the
        latest ``n``; ``downgrade("0002_x")`` those after ``0002_x`` (which stays
        applied); ``downgrade("base")`` all of them. Nothing runs if any
        operation to revert cannot be undone (``MigrationError`` with
        ``refused``). Yields the ids reverted.
        """

        async def run() -> list[str]:
            chain = self.chain()
            driver = await self._driver()
            await self._ensure_table(driver)
            async with self._locked() as lock:
                records = await self._records()
                _check_history(chain, records)
                applied = [m for m in chain if m.id in records]
                undo = _to_revert(chain, applied, target, steps)
                states: dict[str, list[State]] = {}
                state = State()
                for m in chain:
                    states[m.id] = m.states(state)
                    state = states[m.id][-1]
                refusals = []
                for m in undo:
                    done = _done(m, records[m.id])
                    for k in range(done):
                        try:
                            m.operations[k].inverse(states[m.id][k])
                        except errors.MigrationError as exc:
                            refusals.append(f"{m.id}: {exc}")
                if refusals:
                    raise errors.MigrationError(
                        "refusing to revert; nothing was changed:\n  " + "\n  ".join(refusals), refused=True
                    )
                reverted = []
                for m in undo:
                    lock.check()
                    await self._backward(driver, m, states[m.id], records[m.id])
                    reverted.append(m.id)
                return reverted

        return Action(run)

    def sql(self, target: str | None = None) -> Action[list[str]]:
        """The statements ``upgrade(target)`` would run, without running them (SQL databases).

        One line per statement (bound values in a trailing comment), with
        comments naming each migration and operation; data steps are Python and
        show as a comment.

        Raises (as a ``DBFailure``):
            UnsupportedError: the database has no SQL to show (MongoDB).
        """

        async def run() -> list[str]:
            chain = self.chain()
            end = _position(chain, target)
            driver = await self._driver()
            records = await self._records()
            _check_history(chain, records)
            lines: list[str] = []
            if not records:
                lines += ["-- the table that records applied migrations, if it is missing"]
                lines += driver.render_schema_changes([SchemaChange("add_table", self._book.info)])
            transactional = driver.supports("transactional_schema")
            state = State()
            for m in chain[: end + 1]:
                rec = records.get(m.id)
                states = m.states(state)
                state = states[-1]
                if rec is not None and rec.state == "applied":
                    continue
                done = _done(m, rec) if rec is not None else 0
                lines.append(f"-- {m.id}: {m.message}" if m.message else f"-- {m.id}")
                if transactional:
                    lines.append("BEGIN;")
                for k in range(done, len(m.operations)):
                    op = m.operations[k]
                    lines.append(f"-- {k + 1}. {op.describe()}")
                    if isinstance(op, RunData):
                        lines.append(f"--    (Python: {op.describe()} runs here)")
                    else:
                        lines += driver.render_schema_changes(op.changes(states[k], states[k + 1]))
                lines.append(f"-- record {m.id} in {self.table}")
                if transactional:
                    lines.append("COMMIT;")
            return lines

        return Action(run)

    # -- applying -----------------------------------------------------------------

    async def _forward(self, driver: Driver, m: Migration, state: State, rec: _Record | None) -> State:
        _, begin = self._require_db()
        states = m.states(state)
        done = _done(m, rec) if rec is not None else 0
        n = len(m.operations)
        exists = rec is not None
        logger.info("applying migration %s", m.id)
        if driver.supports("transactional_schema"):
            async with begin(HistoricalModels(states[done])) as tx:
                dtx = await tx.driver_transaction()
                for k in range(done, n):
                    await self._step(m, k, states, tx=tx, target=dtx)
                await _record(self._book, tx, m.id, steps=n, total=n, exists=exists)
            return states[-1]
        # no transactional DDL: operation by operation, the record counting the ones done
        db, _ = self._require_db()
        for k in range(done, n):
            op = m.operations[k]
            if isinstance(op, RunData):
                async with begin(HistoricalModels(states[k])) as tx:
                    await self._step(m, k, states, tx=tx)
                    await _record(self._book, tx, m.id, steps=k + 1, total=n, exists=exists)
            else:
                await self._step(m, k, states, target=driver)
                await _record(self._book, db, m.id, steps=k + 1, total=n, exists=exists)
            exists = True
        if n == 0:
            await _record(self._book, db, m.id, steps=0, total=0, exists=exists)
        return states[-1]

    async def _backward(self, driver: Driver, m: Migration, states: list[State], rec: _Record) -> None:
        db, begin = self._require_db()
        done = _done(m, rec)
        logger.info("reverting migration %s", m.id)
        if driver.supports("transactional_schema"):
            async with begin(HistoricalModels(states[done])) as tx:
                dtx = await tx.driver_transaction()
                for k in reversed(range(done)):
                    await self._step(m, k, states, tx=tx, target=dtx, backward=True)
                await tx.find(self._book.id == m.id).delete().or_raise()
            return
        for k in reversed(range(done)):
            op = m.operations[k]
            if isinstance(op, RunData):
                async with begin(HistoricalModels(states[k])) as tx:
                    await self._step(m, k, states, tx=tx, backward=True)
                    await _unrecord(self._book, tx, m.id, k)
            else:
                await self._step(m, k, states, target=driver, backward=True)
                await _unrecord(self._book, db, m.id, k)
        if done == 0:
            await _unrecord(self._book, db, m.id, 0)

    async def _step(
        self,
        m: Migration,
        k: int,
        states: Sequence[State],
        *,
        tx: MigrationTransaction | None = None,
        target: DriverTransaction | Driver | None = None,
        backward: bool = False,
    ) -> None:
        """Run operation ``k`` of ``m`` (or its inverse), naming both in any error.

        Data steps run on ``tx``; schema changes are applied by ``target``.
        """
        op, before, after = m.operations[k], states[k], states[k + 1]
        try:
            if backward:
                op = op.inverse(before)
                before, after = after, before
            if isinstance(op, RunData):
                assert tx is not None
                tx.models = HistoricalModels(before)
                await op.forward(tx)
                return
            changes = op.changes(before, after)
            if changes and target is not None:
                await target.apply_schema_changes(changes)
        except Exception as exc:
            verb = "reverting" if backward else "applying"
            raise errors.MigrationError(
                f"{m.id}: {verb} operation {k + 1} ({op.describe()}) failed: {type(exc).__name__}: {exc}"
            ) from exc

    # -- the lock -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[_Lock]:
        db, _ = self._require_db()
        lock = _Lock(db, self.lock_timeout, self._book)
        await lock.acquire()
        try:
            yield lock
        finally:
            await lock.release()


class _Lock:
    """The lock row of one run: inserted under the table's unique key, refreshed while held."""

    def __init__(self, db: Ommi, timeout: float, book: _Book) -> None:
        self.db = db
        self.timeout = timeout
        self.book = book
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.lost = False
        self._beat: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.02
        book = self.book
        while True:
            now = datetime.now(UTC)
            # look before trying: on SQLite a write would wait for the holder's transaction
            held = await self.db.on_primary().find(book.id == LOCK).first().or_raise()
            if held is None:
                # the row says how long its holder may go without refreshing it
                got = await self.db.add(book.cls(LOCK, "lock", math.ceil(self.timeout), now, self.owner))
                if isinstance(got, DBSuccess):
                    break
                assert isinstance(got, DBFailure)
                if not isinstance(got.error, errors.IntegrityError | errors.TransactionError):
                    raise got.error  # the database failed: not a held lock
            elif (now - held.at).total_seconds() > max(held.steps, 1):
                # abandoned: its holder stopped refreshing it; take it over unless it just did
                gone = self.db.find(book.id == LOCK, book.owner == held.owner, book.at == held.at)
                if await gone.delete().or_use(0):
                    logger.warning("took over the migration lock of %s, which stopped refreshing it", held.owner)
                    continue
            if time.monotonic() > deadline:
                holder = f" ({held.owner}, refreshed {(now - held.at).total_seconds():.0f} s ago)" if held else ""
                raise errors.MigrationError(
                    f"another migration run holds the lock{holder}; waited {self.timeout:g} s "
                    "(a lock its holder stops refreshing is taken over once its lock_timeout has passed)"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        self._beat = asyncio.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(max(self.timeout / 4, 0.05))
            held = self.db.find(self.book.id == LOCK, self.book.owner == self.owner)
            result = await held.update(at=datetime.now(UTC))
            if isinstance(result, DBSuccess) and result.value == 0:
                self.lost = True
                return
            # a failed refresh (the database busy with this run's own migration) is retried

    def check(self) -> None:
        """Raise if another run took the lock over (this run was presumed dead)."""
        if self.lost:
            raise errors.MigrationError(
                "the migration lock was taken over by another run (this one did not refresh it within "
                "lock_timeout); stopped before the next migration"
            )

    async def release(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        await self.db.find(self.book.id == LOCK, self.book.owner == self.owner).delete().or_use(0)


# -- records ----------------------------------------------------------------------


async def _record(book: _Book, session: Any, mid: str, *, steps: int, total: int, exists: bool) -> None:
    """Record ``steps`` of ``total`` operations of ``mid`` as applied (in ``session``: the migration's transaction)."""
    row = book.row(mid, "applied" if steps == total else "partial", steps)
    await (session.save(row) if exists else session.add(row)).or_raise()


async def _unrecord(book: _Book, session: Any, mid: str, steps: int) -> None:
    """Record that only ``steps`` operations of ``mid`` remain applied (none: remove its row)."""
    if steps == 0:
        await session.find(book.id == mid).delete().or_raise()
    else:
        await session.save(book.row(mid, "partial", steps)).or_raise()


def _done(m: Migration, rec: _Record) -> int:
    return len(m.operations) if rec.state == "applied" else min(rec.steps, len(m.operations))


def _position(chain: Sequence[Migration], target: str | None) -> int:
    if target is None:
        return len(chain) - 1
    for i, m in enumerate(chain):
        if m.id == target or m.id.split("_", 1)[0] == target:
            return i
    raise errors.MigrationError(f"no migration {target!r} (known: {', '.join(m.id for m in chain) or 'none'})")


def _check_history(chain: Sequence[Migration], records: Mapping[str, _Record]) -> None:
    """The database's records must be a prefix of the chain (plus at most one partial migration)."""
    known = {m.id for m in chain}
    unknown = sorted(set(records) - known)
    if unknown:
        raise errors.MigrationError(
            f"the database has applied {', '.join(unknown)}, which no file in this directory describes "
            "(a migration file missing, or the wrong directory)"
        )
    seen_gap = None
    for m in chain:
        rec = records.get(m.id)
        if rec is None or rec.state != "applied":
            seen_gap = seen_gap or m.id
        elif seen_gap is not None:
            raise errors.MigrationError(
                f"{m.id} is applied but {seen_gap}, before it, is not: migrations apply in order "
                "(was a migration inserted into the history after others ran?)"
            )


def _to_revert(
    chain: Sequence[Migration], applied: Sequence[Migration], target: str | None, steps: int | None
) -> list[Migration]:
    """The applied migrations to revert, latest first."""
    if steps is not None:
        if steps < 0:
            raise errors.MigrationError("steps must be zero or more")
        return list(reversed(applied))[:steps]
    if target is None:
        return list(reversed(applied))[:1]
    if target == "base":
        return list(reversed(applied))
    keep = _position(chain, target)
    return [m for m in reversed(applied) if chain.index(m) > keep]

