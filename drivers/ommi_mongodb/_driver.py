"""MongoDB driver on PyMongo's native asyncio client (``pymongo.AsyncMongoClient``).

Design notes (the user-facing version is docs/backends/mongodb.md):

* Atomicity. One ``add()``/``save()`` of several documents, and an ``update()``
  that touches a unique field, run in a multi-document transaction of their own
  when no transaction is open, so they are all-or-nothing like one SQL
  statement. (This needs a replica set or sharded cluster, as transactions do.)
* Failed writes inside a transaction. MongoDB aborts the whole transaction on
  any write error, duplicate keys included; SQL databases keep it usable. So
  inside a transaction the driver first checks keys and unique values against
  the transaction's snapshot and raises ``IntegrityError`` before writing
  anything. (A conflicting write committed concurrently can still abort the
  transaction; later statements then fail with ``TransactionError``.)
* Generated keys come from a counters collection (``findAndModify`` with
  ``$inc``), outside any transaction like an SQL sequence, so concurrent
  transactions never conflict on it. Explicit keys raise the counter with
  ``$max`` so later generated keys never collide. Small adds take keys from a
  block reserved ahead (``_draw_keys``) and write them with an upsert that
  inserts only where the key is still free (``_claim_keys``).
* Filters across references (``Related``) have no correlated-subquery form
  in a MongoDB filter: they are resolved first, one ``distinct`` per hop from
  the far end, into ``$in``/``$nin`` on the referencing field.
* A missing collection is a ``SchemaError`` as on the SQL backends, not an
  empty result: each collection is looked up once per driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from decimal import DecimalException
from typing import Any, TypeVar
from urllib.parse import quote

from bson.errors import BSONError
from pymongo import AsyncMongoClient, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    CollectionInvalid,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from ommi import errors
from ommi.driver import (
    NO_DEFAULT,
    URL,
    Driver,
    DriverTransaction,
    FieldInfo,
    LiveTable,
    ModelInfo,
    NativeErrors,
    Option,
    SchemaChange,
    Statements,
    convert_value,
    log_statement,
    model_info,
    redact,
    retry_conflicts,
    statement_logger,
    to_the_end,
    unreadable_row,
)
from ommi.query import (
    Aggregate,
    Arith,
    Delete,
    Field,
    Insert,
    InValues,
    Neg,
    Predicate,
    Raw,
    Save,
    Select,
    TextCase,
    Update,
    Upsert,
    Value,
    Values,
)
from ommi.sql import Kind

from ._compiler import OVERFLOW, Filter, InexactSum, ModelPlan, MongoCompiler, decoder_for, related_nodes

_EXPRESSIONS = (Field, Value, Arith, Neg, TextCase)
# commands whose answer is a cursor: raw() reads every batch of it
_CURSOR_COMMANDS = frozenset({"aggregate", "find", "listCollections", "listIndexes"})

__all__ = ["COUNTERS", "MongoDBDriver"]

T = TypeVar("T")
Doc = dict[str, Any]

COUNTERS = "ommi_counters"
"""The collection holding one counter document per model with a generated key."""
_COUNTER_ATTEMPTS = 8  # a counter being created concurrently settles after one more round
_KEY_BLOCK = 64
"""The most keys a connection reserves ahead for small adds (see ``MongoDBDriver._draw_keys``)."""


@dataclasses.dataclass(slots=True)
class _KeyBlock:
    """Generated keys a connection reserved ahead for one collection: ``next`` up to ``end`` (exclusive)."""

    next: int = 0
    end: int = 0
    size: int = 1  # the next reservation's size: doubles with every one, up to _KEY_BLOCK
    refill: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    """Held while a reservation is on its way: adds that find the block used up wait for it."""


_STREAM_BATCH = 500
_REPEATED = {"readPreferenceTags": Option(str, "one tag set; may repeat", multiple=True)}
_DUPLICATE_KEY = (11000, 11001, 12582)
_TRANSACTION_CODES = frozenset({112, 244, 246, 251, 256, 257, 263, 290})
_DEFAULTS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000}
_WRITE_CONFLICT = 112
_TX_READ = ReadConcern("snapshot")
_TX_WRITE = WriteConcern("majority")
# a transaction reads on the primary whatever the URL's readPreference says (MongoDB requires it)
_TX_OPTIONS: dict[str, Any] = {
    "read_concern": _TX_READ, "write_concern": _TX_WRITE, "read_preference": ReadPreference.PRIMARY,
}


def _short(exc: BaseException) -> str:
    # PyMongo appends the whole topology description (every host and its state)
    # and the raw server reply to some messages; keep the human part.
    msg = str(exc)
    for cut in (", Topology Description:", ", full error:"):
        msg = msg.split(cut, 1)[0]
    return msg


def _is_duplicate(exc: PyMongoError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") in _DUPLICATE_KEY for e in exc.details.get("writeErrors", ()))
    return isinstance(exc, OperationFailure) and exc.code in _DUPLICATE_KEY


def _bulk_message(exc: BulkWriteError) -> str:
    first = next(iter(exc.details.get("writeErrors", ())), None)
    return str(first.get("errmsg", "")) if first else _short(exc)


def _kind(exc: BaseException) -> type[errors.OmmiError]:
    if isinstance(exc, PyMongoError) and _is_duplicate(exc):
        return errors.IntegrityError
    if isinstance(exc, (ConnectionFailure, ConfigurationError)):  # includes ServerSelectionTimeoutError
        return errors.ConnectionFailed
    if isinstance(exc, InvalidOperation) and "after close" in str(exc):
        return errors.ConnectionFailed
    if isinstance(exc, OperationFailure):
        if exc.has_error_label("TransientTransactionError") or exc.code in _TRANSACTION_CODES:
            return errors.TransactionError
        return errors.QueryError
    return errors.QueryError


def _message(exc: BaseException) -> str:
    if OVERFLOW in str(exc):
        # a checked integer expression (see MongoCompiler.expr): say it without the server's text
        return "arithmetic overflow: an integer result left the 64-bit range"
    if isinstance(exc, BulkWriteError) and _is_duplicate(exc):
        return _bulk_message(exc)
    if isinstance(exc, InvalidOperation) and "after close" in str(exc):
        return "the MongoDB client has been closed"
    return _short(exc)


_ERRORS = NativeErrors(
    "MongoDB",
    [
        (PyMongoError, _kind),
        ((BSONError, DecimalException, OverflowError, ValueError, TypeError), errors.ValidationError),
    ],
    message=_message,
    integrity=lambda exc, model: _duplicate(exc, model),  # noqa: PLW0108 - defined further down
    retryable=lambda exc: _write_conflict(exc),  # noqa: PLW0108 - defined further down
)


def _write_conflict(exc: BaseException) -> bool:
    """Whether a write collided with a concurrent one (so running it again may succeed).

    MongoDB labels the conflicts of a transaction for retry; a conflict outside
    one carries the WriteConflict code. A lost connection is not a conflict: the
    write may have happened.
    """
    if not isinstance(exc, PyMongoError) or isinstance(exc, ConnectionFailure):
        return False
    return exc.has_error_label("TransientTransactionError") or getattr(exc, "code", None) == _WRITE_CONFLICT


def _hashable(v: Any) -> Any:
    return tuple(v.items()) if isinstance(v, dict) else v


class _Ops:
    """The statement methods, on the driver (no session) or a transaction (its session)."""

    _driver: MongoDBDriver
    _session: AsyncClientSession | None

    def _read_db(self) -> AsyncDatabase[Doc]:
        """The database statements read from (with the client's read preference)."""
        return self._driver._database()

    def _coll(self, plan: ModelPlan) -> AsyncCollection[Doc]:
        return self._driver._collection(plan.collection)

    async def _plan(self, model: type) -> ModelPlan:
        """The model's plan, once its collection is known to exist.

        MongoDB creates a collection on first insert and reads a missing one as
        empty; ommi reports a missing table as ``SchemaError`` on every backend,
        so each collection is looked up once (then remembered).
        """
        d = self._driver
        plan = d._compiler.plan(model)
        if plan.collection not in d._known:
            with d._errors(f"cannot look up the collection of {plan.info.cls.__name__}"):
                names = await d._database().list_collection_names(filter={"name": plan.collection})
            if plan.collection not in names:
                raise errors.SchemaError(
                    f"MongoDB collection {plan.collection!r} of {plan.info.cls.__name__} does not exist "
                    "(create it with `await db.schema().create_models()`)"
                )
            d._known.add(plan.collection)
        return plan

    def _log(self, op: str, plan: ModelPlan, spec: Any = None) -> None:
        # the command's shape only: every value is replaced by "?" (see ommi.driver.redact)
        if statement_logger.isEnabledFor(10):  # DEBUG
            shown = "" if spec is None else f" {redact(spec)!r}"
            log_statement("mongodb", f"{op} {plan.collection}{shown}")

    async def _atomic(self, work: Callable[[AsyncClientSession | None], Awaitable[T]], many: bool) -> T:
        """Run ``work`` in the open transaction, or in one of its own when it writes several documents.

        Outside a user's transaction, a write that collided with a concurrent one
        is run again (a write conflict means it changed nothing; every single-statement
        ``work`` here is safe to repeat): MongoDB retries such conflicts itself for
        statements outside transactions, but not every server that speaks its
        protocol does, and it never does for a transaction.
        """
        if self._session is not None:
            return await work(self._session)
        client = self._driver._require_client()

        async def attempt() -> T:
            if not many:
                return await work(None)
            # Not session.with_transaction(): it retries transient errors for up to
            # two minutes, and a server that went away would look like a hang.
            async with client.start_session() as session, await session.start_transaction(**_TX_OPTIONS):
                return await work(session)

        return await retry_conflicts(attempt, _write_conflict)

    # -- insert -------------------------------------------------------------------

    async def insert(self, stmt: Insert) -> None:
        d = self._driver
        plan = await self._plan(stmt.model)
        instances = stmt.instances
        if not instances:
            return
        with d._errors("cannot encode a value for MongoDB"):
            docs = list(map(plan.to_doc, plan.dump_many(instances)))  # validates everything before any write
        ai = plan.auto_index
        pending: list[int] = []
        reserved_before = False  # keys taken from a block reserved by an earlier add
        with d._errors(f"cannot add {plan.info.cls.__name__}", plan.info.cls):
            if ai is not None:
                path = plan.paths[ai]
                col = plan.info.fields[ai].column
                pending = [i for i, doc in enumerate(docs) if _key_value(doc, path, col) is None]
                given = [k for doc in docs if (k := _key_value(doc, path, col)) is not None]
                if given:
                    await d._bump_counter(plan, max(given))
                if pending:
                    # (claiming a key reserved ahead needs the server's answer: not with w=0)
                    if given or path != "_id" or not self._coll(plan).write_concern.acknowledged:
                        first = await d._reserve_keys(plan, len(pending))
                    else:
                        first, reserved_before = await d._draw_keys(plan, len(pending))
                    for n, i in enumerate(pending):
                        _set_key(docs[i], path, col, first + n)
            coll = self._coll(plan)
            self._log("insert", plan)
            if self._session is not None:
                # generated keys cannot clash: explicit keys push the counter ahead, and keys
                # reserved before are claimed only where they are still free (_claim_keys)
                generated_only = len(pending) == len(docs)
                await _check_conflicts(coll, plan, docs, self._session, replacing=False, check_keys=not generated_only)

            async def work(session: AsyncClientSession | None) -> None:
                if reserved_before:
                    await self._claim_keys(plan, coll, docs, session)
                elif len(docs) == 1:
                    await coll.insert_one(docs[0], session=session)
                else:
                    await coll.insert_many(docs, ordered=True, session=session)

            await self._atomic(work, many=len(docs) > 1)
        if ai is not None:
            name = plan.info.fields[ai].name
            for i in pending:
                plan.info.set_value(instances[i], name, _key_value(docs[i], path, col))

    async def _claim_keys(
        self, plan: ModelPlan, coll: AsyncCollection[Doc], docs: list[Doc], session: AsyncClientSession | None
    ) -> None:
        """Insert documents whose keys this connection reserved before, each only where its key is still free.

        A key reserved ahead can have been taken since by a document written with
        that key explicitly (by another connection, or another tool). An upsert
        that inserts only when no document has the key finds that out in the same
        round trip, without the write error that would abort a transaction; a
        document whose key was taken gets a fresh one from the counter (which an
        explicit key written through ommi has pushed past it).
        """
        if len(docs) == 1:
            doc = docs[0]
            result = await coll.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session)
            taken = [] if result.upserted_id is not None else [0]
        else:
            upserts = [UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True) for doc in docs]
            upserted = (await coll.bulk_write(upserts, ordered=True, session=session)).upserted_ids or {}
            taken = [i for i in range(len(docs)) if i not in upserted]
        if taken:
            d = self._driver
            d._key_blocks.pop(plan.collection, None)
            first = await d._reserve_keys(plan, len(taken))
            for n, i in enumerate(taken):
                docs[i]["_id"] = first + n
            await coll.insert_many([docs[i] for i in taken], ordered=True, session=session)

    # -- save ---------------------------------------------------------------------

    async def save(self, stmt: Save) -> int:
        d = self._driver
        plan = await self._plan(stmt.model)
        info = plan.info
        if not info.key:
            raise errors.QueryError(f"{info.cls.__name__} has no key, so instances cannot be saved")
        with d._errors("cannot encode a value for MongoDB"):
            docs = list(map(plan.to_doc, plan.dump_many(stmt.instances)))
        if not docs:
            return 0
        coll = self._coll(plan)
        self._log("save", plan)

        async def work(session: AsyncClientSession | None) -> int:
            if len(docs) == 1 and self._session is None:
                result = await coll.replace_one({"_id": {"$eq": docs[0]["_id"]}}, docs[0], session=session)
                if result.matched_count != 1:
                    raise _not_found(info, stmt.instances[0])
                return 1
            replaces = [ReplaceOne({"_id": {"$eq": doc["_id"]}}, doc) for doc in docs]
            if self._session is None:
                # Our own transaction: write, and if a key matched nothing, raising aborts
                # it, so nothing is stored; the keys are read only then, to name the missing one.
                written = await coll.bulk_write(replaces, ordered=True, session=session)
                if written.matched_count == len(docs):
                    return len(docs)
                await _raise_missing(coll, info, stmt.instances, docs, session)
                raise errors.NotFound(f"cannot save {info.cls.__name__}: a document went missing while saving")
            # The user's transaction cannot be rolled back in part: check every key
            # first, so a missing row stores nothing (and does not leave it half-written).
            await _raise_missing(coll, info, stmt.instances, docs, session)
            await _check_conflicts(coll, plan, docs, session, replacing=True)
            await coll.bulk_write(replaces, ordered=True, session=session)
            return len(docs)

        with d._errors(f"cannot save {info.cls.__name__}", info.cls):
            return await self._atomic(work, many=len(docs) > 1)

    # -- reads --------------------------------------------------------------------

    async def _filter(self, where: Predicate | None) -> Filter:
        """Compile a predicate, first resolving filters across references (one query per hop)."""
        c = self._driver._compiler
        nodes = related_nodes(where)
        if not nodes:
            return c.filter(where)
        db = self._read_db()
        resolved: dict[int, list[Any]] = {}
        for node in nodes:  # innermost first, so a node's own filter is resolvable
            if isinstance(node, InValues):
                # one round trip per subquery (its own subqueries resolve while it runs)
                rows = [row async for row in self._raw_values(node.query)]
                resolved[id(node)] = list({_hashable(r[0]): r[0] for r in rows if r[0] is not None}.values())
                continue
            flt = c.filter(node.where, resolved)
            values: list[Any] = []
            for collection, target, in_path in c.related_steps(node):
                if in_path is not None:
                    flt = {in_path: {"$in": values}}
                found = await db[collection].distinct(target, flt, session=self._session)
                values = [v for v in found if v is not None]  # NULL never equals anything
            resolved[id(node)] = values
        return c.filter(where, resolved)

    async def _find_args(self, stmt: Select, plan: ModelPlan) -> dict[str, Any]:
        c = self._driver._compiler
        args: dict[str, Any] = {"filter": await self._filter(stmt.where), "session": self._session}
        if stmt.order_by:
            args["sort"] = c.sort(stmt.order_by)
        if stmt.offset:
            args["skip"] = stmt.offset
        if stmt.limit is not None:
            args["limit"] = stmt.limit  # never 0 here: MongoDB reads limit 0 as "no limit"
        self._log("find", plan, args["filter"])
        return args

    def _pipeline(self, stmt: Select, flt: Filter, project: Doc | None = None) -> list[Doc]:
        """A select as an aggregation pipeline: for ordering by computed values."""
        added, sort = self._driver._compiler.sort_stages(stmt.order_by)
        pipeline: list[Doc] = [{"$match": flt}] if flt else []
        if added:
            pipeline.append({"$addFields": added})
        if sort:
            pipeline.append({"$sort": sort})
        if stmt.offset:
            pipeline.append({"$skip": stmt.offset})
        if stmt.limit is not None:
            pipeline.append({"$limit": stmt.limit})
        if project is not None:
            pipeline.append({"$project": project})
        elif added:
            pipeline.append({"$project": dict.fromkeys(added, 0)})
        return pipeline

    async def _cursor(self, stmt: Select, plan: ModelPlan, batch: int | None = None) -> Any:
        if all(isinstance(t.field, Field) for t in stmt.order_by):
            args = await self._find_args(stmt, plan)
            if batch is not None:
                args["batch_size"] = batch
            return self._coll(plan).find(**args)
        pipeline = self._pipeline(stmt, await self._filter(stmt.where))
        self._log("aggregate", plan, pipeline)
        kwargs: dict[str, Any] = {"batchSize": batch} if batch is not None else {}
        return await self._coll(plan).aggregate(pipeline, session=self._session, **kwargs)

    async def select(self, stmt: Select) -> list[Any]:
        if stmt.limit == 0:
            return []
        d = self._driver
        plan = await self._plan(stmt.model)
        with d._errors(f"cannot query {plan.info.cls.__name__}"):
            cursor = await self._cursor(stmt, plan)
            docs = await cursor.to_list(None)
        load = plan.load
        return [load(doc) for doc in docs]

    async def stream(self, stmt: Select) -> AsyncIterator[Any]:
        # each document loaded as it is handed on: instances made only when asked for die young
        docs = self._documents(stmt, _STREAM_BATCH)
        try:
            async for load, batch in docs:
                for doc in batch:
                    yield load(doc)
        finally:
            await docs.aclose()

    async def stream_batches(self, stmt: Select, size: int) -> AsyncIterator[list[Any]]:
        docs = self._documents(stmt, size)
        try:
            async for load, batch in docs:
                yield [load(doc) for doc in batch]
        finally:
            await docs.aclose()

    async def _documents(
        self, stmt: Select, size: int
    ) -> AsyncGenerator[tuple[Callable[[Doc], Any], list[Doc]], None]:
        """The stored documents of a select, a cursor batch of ``size`` at a time, with their loader."""
        if stmt.limit == 0:
            return
        d = self._driver
        plan = await self._plan(stmt.model)
        load = plan.load
        with d._errors(f"cannot query {plan.info.cls.__name__}"):
            cursor = await self._cursor(stmt, plan, size)
        try:
            while True:
                with d._errors(f"cannot query {plan.info.cls.__name__}"):
                    # one batch per round trip; documents come from the cursor's buffer
                    batch = await cursor.to_list(size)
                if not batch:
                    break
                yield load, batch
        finally:
            with contextlib.suppress(PyMongoError):
                await cursor.close()

    async def count(self, stmt: Select) -> int:
        if stmt.limit == 0:
            return 0
        d = self._driver
        plan = await self._plan(stmt.model)
        kwargs: dict[str, Any] = {}
        if stmt.offset:
            kwargs["skip"] = stmt.offset
        if stmt.limit is not None:
            kwargs["limit"] = stmt.limit
        with d._errors(f"cannot count {plan.info.cls.__name__}"):
            flt = await self._filter(stmt.where)
            self._log("count", plan, flt)
            return await self._coll(plan).count_documents(flt, session=self._session, **kwargs)

    # -- values queries -------------------------------------------------------------

    async def _raw_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        """The stored values of a values statement, batch by batch from one cursor."""
        select = stmt.select
        if select.limit == 0:
            return
        d = self._driver
        c = d._compiler
        plan = await self._plan(stmt.model)
        paths = [c.path(f.info) for f in stmt.fields]
        with d._errors(f"cannot query {plan.info.cls.__name__}"):
            flt = await self._filter(select.where)
            if stmt.distinct:
                # one group per combination; NULL and absent are one value, as in SQL
                group = {f"f{i}": c.expr(f) for i, f in enumerate(stmt.fields)}
                pipeline: list[Doc] = [{"$match": flt}] if flt else []
                pipeline.append({"$group": {"_id": group}})
                sort: dict[str, int] = {}
                for term in select.order_by:
                    assert isinstance(term.field, Field)  # a distinct query orders by its own fields
                    sort.setdefault(f"_id.f{stmt.fields.index(term.field)}", -1 if term.descending else 1)
                if sort:
                    pipeline.append({"$sort": sort})
                if select.offset:
                    pipeline.append({"$skip": select.offset})
                if select.limit is not None:
                    pipeline.append({"$limit": select.limit})
                self._log("aggregate", plan, pipeline)
                cursor: Any = await self._coll(plan).aggregate(pipeline, session=self._session, batchSize=_STREAM_BATCH)
                paths = [f"_id.f{i}" for i in range(len(paths))]
            elif all(isinstance(t.field, Field) for t in select.order_by):
                args = await self._find_args(select, plan)
                args["projection"] = dict.fromkeys(paths, 1)
                cursor = self._coll(plan).find(batch_size=_STREAM_BATCH, **args)
            else:
                pipeline = self._pipeline(select, flt, dict.fromkeys(paths, 1))
                self._log("aggregate", plan, pipeline)
                cursor = await self._coll(plan).aggregate(pipeline, session=self._session, batchSize=_STREAM_BATCH)
        try:
            while True:
                with d._errors(f"cannot query {plan.info.cls.__name__}"):
                    batch = await cursor.to_list(_STREAM_BATCH)
                if not batch:
                    break
                for doc in batch:
                    yield tuple(_at(doc, p) for p in paths)
        finally:
            with contextlib.suppress(PyMongoError):
                await cursor.close()

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        return [row async for row in self.stream_values(stmt)]

    async def stream_values(self, stmt: Values) -> AsyncIterator[tuple[Any, ...]]:
        codecs = [decoder_for(f.info) for f in stmt.fields]
        async for row in self._raw_values(stmt):
            try:
                values = tuple(v if c is None or v is None else c(v) for c, v in zip(codecs, row, strict=True))
            except Exception as exc:  # a stored value the field cannot take
                raise unreadable_row([f.info for f in stmt.fields], codecs, row, exc) from exc
            yield values

    # -- upsert -------------------------------------------------------------------

    async def upsert(self, stmt: Upsert) -> None:
        d = self._driver
        plan = await self._plan(stmt.model)
        info = plan.info
        if not stmt.instances:
            return
        with d._errors("cannot encode a value for MongoDB"):
            docs = list(map(plan.to_doc, plan.dump_many(stmt.instances)))  # validates everything first
        ai = plan.auto_index
        on_paths = [d._compiler.path(f.info) for f in stmt.on]
        by_key = on_paths == ["_id"] or all(p.startswith("_id.") for p in on_paths)
        coll = self._coll(plan)
        with d._errors(f"cannot upsert {info.cls.__name__}", info.cls):
            if ai is not None:
                # a key for every row that may be inserted (an updated row keeps its own: the key is skipped)
                pending = [doc for doc in docs if doc.get("_id") is None]
                if pending:
                    first = await d._reserve_keys(plan, len(pending))
                    for n, doc in enumerate(pending):
                        doc["_id"] = first + n
                given = [doc["_id"] for doc in docs if isinstance(doc.get("_id"), int)]
                if given:
                    await d._bump_counter(plan, max(given))
            self._log("upsert", plan)

            async def work(session: AsyncClientSession | None) -> list[Any]:
                keys: list[Any] = []
                for doc in docs:
                    if by_key:
                        await coll.replace_one({"_id": {"$eq": doc["_id"]}}, doc, upsert=True, session=session)
                        keys.append(doc["_id"])
                        continue
                    match = {p: {"$eq": _at(doc, p)} for p in on_paths}
                    if any(v["$eq"] is None for v in match.values()):
                        await coll.insert_one(doc, session=session)  # NULL clashes with nothing
                        keys.append(doc.get("_id"))
                        continue
                    sets = {k: v for k, v in doc.items() if k != "_id" and k not in on_paths}
                    unsets = {f.column: "" for f in info.fields if not f.key and f.column not in doc}
                    change: Doc = {"$setOnInsert": {"_id": doc["_id"], **{p: _at(doc, p) for p in on_paths}}}
                    if sets:
                        change["$set"] = sets
                    if unsets:
                        change["$unset"] = unsets
                    found = await coll.find_one_and_update(
                        match, change, upsert=True, projection={"_id": 1},
                        return_document=ReturnDocument.AFTER, session=session,
                    )
                    keys.append(found["_id"] if found is not None else doc.get("_id"))
                return keys

            keys = await self._atomic(work, many=len(docs) > 1)
        decode = decoder_for(info.key[0]) if len(info.key) == 1 else None
        for m, key in zip(stmt.instances, keys, strict=True):
            if len(info.key) != 1 or key is None:
                continue
            value = key if decode is None else decode(key)
            if getattr(m, info.key[0].name) != value:
                info.set_value(m, info.key[0].name, value)

    # -- native commands ------------------------------------------------------------

    async def raw(self, stmt: Raw) -> list[Any]:
        d = self._driver
        command = stmt.statement
        if not isinstance(command, dict) or not command:
            raise errors.QueryError("raw() on MongoDB takes a command document, e.g. {'aggregate': 'post', ...}")
        if stmt.params:
            raise errors.QueryError(
                "raw() on MongoDB takes no separate values: the command document carries them (never as text)"
            )
        name = next(iter(command))
        db = d._database()
        log_statement("mongodb", f"command {redact(command)!r}")
        with d._errors(f"cannot run the MongoDB command {name!r}"):
            if name in _CURSOR_COMMANDS:
                cursor = await db.cursor_command(command, session=self._session)
                docs = await cursor.to_list(None)
            else:
                docs = [await db.command(command, session=self._session)]
        if stmt.into is None:
            return docs
        plan = d._compiler.plan(stmt.into)
        return [plan.load(doc) for doc in docs]

    # -- update and delete --------------------------------------------------------

    async def update(self, stmt: Update) -> int:
        d = self._driver
        c = d._compiler
        plan = await self._plan(stmt.model)
        info = plan.info
        sets: Doc = {}
        unsets: Doc = {}
        unique: list[tuple[str, Any]] = []
        if any(isinstance(v, _EXPRESSIONS) for _, v in stmt.values):
            return await self._update_computed(stmt, plan)
        with d._errors("cannot encode a value for MongoDB"):
            for fld, value in stmt.values:
                f = fld.info
                path = c.path(f)
                if value is None:
                    unsets[path] = ""  # NULL is an absent field
                else:
                    sets[path] = c.encode(f, value)
                    if f.unique:
                        unique.append((path, sets[path]))
        if any(p == "_id" or p.startswith("_id.") for p in sets):
            return await self._update_key(plan, await self._filter(stmt.where), sets, unsets, unique)
        change: Doc = {}
        if sets:
            change["$set"] = sets
        if unsets:
            change["$unset"] = unsets
        coll = self._coll(plan)
        with d._errors(f"cannot update {info.cls.__name__}", info.cls):
            flt = await self._filter(stmt.where)
            self._log("update", plan, flt)

            async def work(session: AsyncClientSession | None) -> int:
                if unique and self._session is not None:
                    await _check_update_conflicts(coll, info, flt, unique, session)
                result = await coll.update_many(flt, change, session=session)
                return result.matched_count

            # a unique violation part-way through update_many must not leave half the rows changed
            return await self._atomic(work, many=bool(unique))

    async def _update_computed(self, stmt: Update, plan: ModelPlan) -> int:
        """An update setting computed values: one pipeline update, atomic per document.

        Every value is computed from the document as it was (one ``$set`` stage);
        a NULL result removes the field (NULL is an absent field).
        """
        d = self._driver
        c = d._compiler
        info = plan.info
        sets: Doc = {}
        with d._errors("cannot encode a value for MongoDB"):
            for fld, value in stmt.values:
                f = fld.info
                if f.key:
                    raise errors.UnsupportedError(
                        f"{info.cls.__name__}.{f.name}: MongoDB cannot compute a key field in place (_id is immutable)"
                    )
                if isinstance(value, _EXPRESSIONS):
                    computed = c.expr(value)
                    sets[c.path(f)] = {
                        "$let": {"vars": {"v": computed}, "in": {"$cond": [{"$eq": ["$$v", None]}, "$$REMOVE", "$$v"]}}
                    }
                else:
                    sets[c.path(f)] = "$$REMOVE" if value is None else {"$literal": c.encode(f, value)}
        unique = any(fld.info.unique for fld, _ in stmt.values)
        # arithmetic can overflow on one document after others were changed: like a
        # unique clash, that must leave every document as it was
        may_fail = unique or any(isinstance(v, (Arith, Neg)) for _, v in stmt.values)
        coll = self._coll(plan)
        with d._errors(f"cannot update {info.cls.__name__}"):
            flt = await self._filter(stmt.where)
            self._log("update", plan, flt)

            async def work(session: AsyncClientSession | None) -> int:
                result = await coll.update_many(flt, [{"$set": sets}], session=session)
                return result.matched_count

            # a filter on the whole key matches one document at most, changed atomically
            return await self._atomic(work, many=may_fail and not _one_document(flt))

    async def _update_key(
        self, plan: ModelPlan, flt: Filter, sets: Doc, unsets: Doc, unique: Sequence[tuple[str, Any]]
    ) -> int:
        """Change key fields: MongoDB's ``_id`` is immutable, so replace the documents (in a transaction)."""
        d = self._driver
        info = plan.info
        coll = self._coll(plan)
        ai = plan.auto_index
        if ai is not None and isinstance(new_key := sets.get(plan.paths[ai]), int):
            with d._errors(f"cannot update {info.cls.__name__}", info.cls):
                await d._bump_counter(plan, new_key)

        async def work(session: AsyncClientSession | None) -> int:
            old = [doc async for doc in coll.find(flt, session=session)]
            if not old:
                return 0
            new: list[Doc] = []
            for stored in old:
                doc = {**stored, "_id": dict(stored["_id"]) if isinstance(stored["_id"], dict) else stored["_id"]}
                for path, value in sets.items():
                    if path == "_id":
                        doc["_id"] = value
                    elif path.startswith("_id."):
                        doc["_id"][path[4:]] = value
                    else:
                        doc[path] = value
                for path in unsets:
                    doc.pop(path, None)
                new.append(doc)
            old_ids = [doc["_id"] for doc in old]
            if self._session is not None:
                if len({_hashable(doc["_id"]) for doc in new}) < len(new):
                    raise errors.IntegrityError.about(info.cls, "key", _key_names(info))
                clash = await coll.find_one(
                    {"$and": [{"_id": {"$in": [doc["_id"] for doc in new]}}, {"_id": {"$nin": old_ids}}]},
                    {"_id": 1}, session=session,
                )
                if clash is not None:
                    raise errors.IntegrityError.about(info.cls, "key", _key_names(info))
                if unique:
                    await _check_update_conflicts(coll, info, flt, unique, session)
            await coll.delete_many({"_id": {"$in": old_ids}}, session=session)
            await coll.insert_many(new, ordered=True, session=session)
            return len(old)

        with d._errors(f"cannot update {info.cls.__name__}", info.cls):
            self._log("update key", plan, flt)
            return await self._atomic(work, many=True)

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        if stmt.limit == 0:
            return []
        d = self._driver
        plan = await self._plan(stmt.model)
        coll = self._coll(plan)
        with d._errors(f"cannot aggregate {plan.info.cls.__name__}"):
            flt = await self._filter(stmt.where)
            if self._session is None:
                # int sums in int64 first (see MongoCompiler.aggregate_pipeline); a sum that left it
                # fails (or comes back as a double), and the exact pipeline answers instead. Not inside
                # a transaction: there a failed command would abort the user's transaction.
                pipeline, decode, inexact = d._compiler.aggregate_pipeline(stmt, flt, exact=False)
                if inexact:
                    self._log("aggregate", plan, pipeline)
                    try:
                        cursor = await coll.aggregate(pipeline)
                        return [decode(doc) for doc in await cursor.to_list(None)]
                    except (InexactSum, OperationFailure):
                        pass
            pipeline, decode, _ = d._compiler.aggregate_pipeline(stmt, flt)
            self._log("aggregate", plan, pipeline)
            cursor = await coll.aggregate(pipeline, session=self._session)
            docs = await cursor.to_list(None)
        return [decode(doc) for doc in docs]

    async def delete(self, stmt: Delete) -> int:
        d = self._driver
        plan = await self._plan(stmt.model)
        with d._errors(f"cannot delete {plan.info.cls.__name__}"):
            flt = await self._filter(stmt.where)
            self._log("delete", plan, flt)
            result = await self._coll(plan).delete_many(flt, session=self._session)
        return result.deleted_count


def _key_names(info: ModelInfo) -> tuple[str, ...]:
    return tuple(f.name for f in info.key)


def _duplicate(exc: BaseException, model: type | None) -> errors.IntegrityError | None:
    """The structured error for a duplicate-key error the server reported (its key pattern names the index)."""
    if model is None or not isinstance(exc, PyMongoError) or not _is_duplicate(exc):
        return None
    details: Any = getattr(exc, "details", None) or {}
    if isinstance(exc, BulkWriteError):
        details = next(iter(details.get("writeErrors", ())), {})
    pattern = details.get("keyPattern") or {}
    info = model_info(model)
    paths = [p for p in pattern if p]
    if not paths:
        return None
    if all(p == "_id" or p.startswith("_id.") for p in paths):
        return errors.IntegrityError.about(model, "key", _key_names(info))
    names = tuple(f.name for p in paths for f in info.fields if f.column == p)
    return errors.IntegrityError.about(model, "unique", names)


def _at(doc: Doc, path: str) -> Any:
    """The value at a dotted path of a document (``None`` when absent)."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _one_document(flt: Filter) -> bool:
    """Whether a filter names one whole ``_id`` (so it matches one document at most)."""
    if not isinstance(flt, dict) or list(flt) != ["_id"]:
        return False
    key = flt["_id"]
    if isinstance(key, dict) and list(key) == ["$eq"]:
        key = key["$eq"]
    return not (isinstance(key, dict) and any(str(k).startswith("$") for k in key))


def _key_value(doc: Doc, path: str, col: str) -> Any:
    return doc["_id"].get(col) if path != "_id" else doc.get("_id")


def _set_key(doc: Doc, path: str, col: str, value: int) -> None:
    if path == "_id":
        doc["_id"] = value
    else:
        doc["_id"][col] = value


async def _raise_missing(
    coll: AsyncCollection[Doc], info: ModelInfo, instances: Sequence[Any], docs: Sequence[Doc],
    session: AsyncClientSession | None,
) -> None:
    """Raise ``NotFound`` for the first instance whose document does not exist (else return)."""
    ids = [doc["_id"] for doc in docs]
    found = {_hashable(x["_id"]) async for x in coll.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)}
    for m, doc in zip(instances, docs, strict=True):
        if _hashable(doc["_id"]) not in found:
            raise _not_found(info, m)


def _not_found(info: ModelInfo, instance: Any) -> errors.NotFound:
    return errors.NotFound(f"cannot save {info.cls.__name__} with key {info.key_of(instance)!r}: no such document")


async def _check_conflicts(
    coll: AsyncCollection[Doc], plan: ModelPlan, docs: Sequence[Doc], session: AsyncClientSession | None,
    *, replacing: bool, check_keys: bool = True,
) -> None:
    """Raise ``IntegrityError`` if writing ``docs`` would break a key or unique index.

    Used inside transactions only, where a failed write would abort the whole
    transaction (see the module docstring).
    """
    info = plan.info
    if info.key and not replacing and check_keys:
        seen: set[Any] = set()
        for doc in docs:
            k = _hashable(doc["_id"])
            if k in seen:  # twice within one add()
                raise errors.IntegrityError.about(info.cls, "key", _key_names(info))
            seen.add(k)
        clash = await coll.find_one({"_id": {"$in": [doc["_id"] for doc in docs]}}, {"_id": 1}, session=session)
        if clash is not None:
            raise errors.IntegrityError.about(info.cls, "key", _key_names(info))
    for i in plan.unique:
        path = plan.paths[i]
        values: dict[Any, Any] = {}
        for doc in docs:
            v = doc.get(path)
            if v is None:
                continue
            if _hashable(v) in values:
                raise errors.IntegrityError.about(info.cls, "unique", (info.fields[i].name,))
            values[_hashable(v)] = doc.get("_id")
        if not values:
            continue
        query: Filter = {path: {"$in": [doc[path] for doc in docs if doc.get(path) is not None]}}
        if replacing:
            query = {"$and": [query, {"_id": {"$nin": [doc["_id"] for doc in docs]}}]}
        clash = await coll.find_one(query, {path: 1}, session=session)
        if clash is not None:
            raise errors.IntegrityError.about(info.cls, "unique", (info.fields[i].name,))


async def _check_update_conflicts(
    coll: AsyncCollection[Doc], info: ModelInfo, flt: Filter, unique: Sequence[tuple[str, Any]],
    session: AsyncClientSession | None,
) -> None:
    matched = await coll.count_documents(flt, session=session, limit=2)
    if matched == 0:
        return
    for path, value in unique:
        field_names = tuple(f.name for f in info.fields if f.column == path)
        if matched > 1:  # several rows would take the same value
            raise errors.IntegrityError.about(info.cls, "unique", field_names)
        clash = await coll.find_one({"$and": [{path: {"$eq": value}}, {"$nor": [flt]}]}, {"_id": 1}, session=session)
        if clash is not None:
            raise errors.IntegrityError.about(info.cls, "unique", field_names)


class MongoDBDriver(_Ops, Driver):
    """MongoDB through ``pymongo.AsyncMongoClient``.

    URLs: ``mongodb://user:password@host:27017/database?option=value`` and
    ``mongodb+srv://user:password@cluster.example.net/database``. The database
    comes from the path. Query options and keyword options go to
    ``AsyncMongoClient`` (``serverSelectionTimeoutMS`` and ``connectTimeoutMS``
    default to 5000 so an unreachable server fails fast).
    """

    capabilities = frozenset({
        "transactions",
        "concurrent_transactions",
        "schema_evolution",
        "infinite_floats",
        "signed_zero",
        "raw",
    })
    schemes = ("mongodb", "mongodb+srv")

    def __init__(self, url: URL, **client_options: Any) -> None:
        self.url = url
        self.database = url.database
        self._options = client_options
        self._errors = _ERRORS.with_secrets(url.password, quote(url.password or "", safe=""))
        self._compiler = MongoCompiler()
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None
        self._closed = False
        self._known: set[str] = set()
        self._collections: dict[str, AsyncCollection[Doc]] = {}
        self._key_blocks: dict[str, _KeyBlock] = {}
        self._driver = self
        self._session = None

    def __repr__(self) -> str:
        return f"MongoDBDriver({self.url.render()!r})"

    @classmethod
    def from_url(cls, url: URL, **options: Any) -> MongoDBDriver:
        """Build a driver for ``mongodb://...`` or ``mongodb+srv://...``.

        Raises:
            ConnectionFailed: the URL has no database name or no host.
        """
        if url.scheme not in cls.schemes:
            raise errors.ConnectionFailed(f"not a MongoDB URL: {url}")
        if not url.host and not url.hosts:
            raise errors.ConnectionFailed(f"MongoDB URL without a host: {url} (use mongodb://host:27017/database)")
        name = url.database
        if not name or any(ch in name for ch in '/\\. "$\x00') or len(name.encode()) > 63:
            raise errors.ConnectionFailed(
                f"MongoDB URL needs a database name in its path, e.g. mongodb://host:27017/app (got {url})"
            )
        # PyMongo validates its own options; a repeated one (readPreferenceTags) stays a list
        merged = url.options(_REPEATED, options, backend="MongoDB", unknown="keep")
        uuid_rep = {k.lower(): v for k, v in merged.items()}.get("uuidrepresentation", "standard")
        if str(uuid_rep).lower() != "standard":
            raise errors.ConnectionFailed(
                "ommi stores UUIDs as standard binary (subtype 4): uuidRepresentation must be 'standard'"
            )
        return cls(dataclasses.replace(url, query={}, query_items=()), **merged)

    def _client_options(self) -> dict[str, Any]:
        given = {k.lower() for k in self._options}
        opts: dict[str, Any] = {k: v for k, v in _DEFAULTS.items() if k.lower() not in given}
        opts.update({k: v for k, v in self._options.items() if k.lower() != "uuidrepresentation"})
        opts["uuidRepresentation"] = "standard"
        if self.url.username is not None:
            opts["username"] = self.url.username
        if self.url.password is not None:
            opts["password"] = self.url.password  # kept out of the URI text PyMongo may echo
        return opts

    def _require_client(self) -> AsyncMongoClient[Doc]:
        if self._client is None:
            state = "closed" if self._closed else "not connected"
            raise errors.ConnectionFailed(f"the MongoDB driver is {state}")
        return self._client

    def _database(self) -> AsyncDatabase[Doc]:
        if self._db is None:
            self._require_client()
        assert self._db is not None
        return self._db

    async def connect(self) -> None:
        if self._client is not None:
            return
        if self._closed:
            raise errors.ConnectionFailed("the MongoDB driver has been closed")
        address = dataclasses.replace(self.url, username=None, password=None).render(hide_password=False)
        try:
            client: AsyncMongoClient[Doc] = AsyncMongoClient(address, **self._client_options())
        except (PyMongoError, TypeError, ValueError) as exc:
            raise errors.ConnectionFailed(
                self._errors.scrub(f"cannot connect to MongoDB at {self.url}: {_short(exc)}")
            ) from exc
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            await client.close()
            kind = "timed out" if isinstance(exc, ServerSelectionTimeoutError) else "failed"
            raise errors.ConnectionFailed(
                self._errors.scrub(f"connecting to MongoDB at {self.url} {kind}: {_short(exc)}")
            ) from exc
        self._client = client
        self._db = client[self.database]

    async def close(self) -> None:
        client, self._client, self._db = self._client, None, None
        self._collections.clear()
        self._closed = True
        if client is not None:
            await client.close()

    def on_primary(self) -> Statements:
        """Statements that read from the primary, whatever the URL's ``readPreference`` says."""
        client = self._require_client()
        if client.read_preference == ReadPreference.PRIMARY:
            return self
        return _PrimaryReads(self)

    async def begin(self) -> DriverTransaction:
        client = self._require_client()
        session = client.start_session()
        try:
            with self._errors("cannot start a MongoDB transaction"):
                await session.start_transaction(**_TX_OPTIONS)
        except BaseException:
            await session.end_session()
            raise
        return _MongoTransaction(self, session)

    # -- generated keys ---------------------------------------------------------------

    def _counters(self) -> AsyncCollection[Doc]:
        return self._collection(COUNTERS)

    def _collection(self, name: str) -> AsyncCollection[Doc]:
        """The collection ``name``, made once per connection (PyMongo builds a new object on every lookup)."""
        coll = self._collections.get(name)
        if coll is None:
            coll = self._collections[name] = self._database()[name]
        return coll

    async def _reserve_keys(self, plan: ModelPlan, n: int) -> int:
        """Reserve ``n`` consecutive keys atomically; returns the first.

        Upserts that race to create a collection's counter may come back
        without a document (secantusdb, with the increment applied) or, on
        MongoDB before 4.2, fail with a duplicate key: either way nobody got
        those keys, so asking again is safe (the range skipped is a gap, as a
        rolled-back insert leaves).

        The increment is a plain ``findAndModify`` command, not a retryable
        write: a repeated increment only skips keys, so it needs none of the
        server's retryable-write bookkeeping (a ``config.transactions`` record
        and a stored image per write on mongod; on secantusdb a record list
        scanned on every write, which made a transaction of many adds slow down
        as it grew). A connection lost on the way is asked again here instead.
        """
        counters = self._counters()
        command: Doc = {
            "findAndModify": COUNTERS,
            "query": {"_id": plan.collection},
            "update": {"$inc": {"seq": n}},
            "upsert": True,
            "new": True,
        }
        if counters.write_concern.document:  # the URL's w=..., as every other write carries it
            command["writeConcern"] = counters.write_concern.document
        lost = 0
        for _ in range(_COUNTER_ATTEMPTS):
            try:
                doc = (await counters.database.command(command)).get("value")
            except DuplicateKeyError:
                continue
            except AutoReconnect:
                lost += 1
                if lost > 1:  # PyMongo retries a retryable write once: so do we
                    raise
                continue
            except OperationFailure as exc:
                if "$inc" not in str(exc):
                    raise
                raise errors.IntegrityError(
                    f"{plan.info.cls.__name__}: no generated keys left in the 64-bit range (the counter in "
                    f"{COUNTERS!r} has reached the largest key)"
                ) from exc
            if doc is not None:
                return int(doc["seq"]) - n + 1
        raise errors.ConnectionFailed(
            f"cannot reserve keys for {plan.info.cls.__name__}: the MongoDB server returned no counter document "
            f"{_COUNTER_ATTEMPTS} times"
        )

    async def _draw_keys(self, plan: ModelPlan, n: int) -> tuple[int, bool]:
        """``n`` consecutive keys for an add: the first, and whether they were reserved before.

        A bulk add reserves its own keys. Small adds take them from a block this
        connection reserved ahead, so a run of single adds makes one round trip
        each, as with keys made in the client, instead of two. The blocks grow
        1, 2, 4, ... up to ``_KEY_BLOCK`` keys: a connection that adds one
        document reserves one key, and one that stops leaves at most a block's
        worth unused, a gap like a rolled-back insert's.
        """
        if n >= _KEY_BLOCK:
            return await self._reserve_keys(plan, n), False
        block = self._key_blocks.get(plan.collection)
        if block is None:
            block = self._key_blocks[plan.collection] = _KeyBlock()
        if block.end - block.next < n:
            # Concurrent adds (tasks sharing this connection) that find the block used up wait
            # for the one reservation on its way and then draw from it: each reserving a block
            # of its own made most of them two round trips and left a block's worth unused each.
            async with block.refill:
                if block.end - block.next < n:
                    size = max(n, block.size)
                    block.size = min(2 * size, _KEY_BLOCK)
                    first = await self._reserve_keys(plan, size)
                    block.next, block.end = first + n, first + size  # what was left of the last block is a gap
                    return first, False
        first = block.next
        block.next += n
        return first, True

    async def _bump_counter(self, plan: ModelPlan, key: Any) -> None:
        if isinstance(key, int):
            await self._counters().update_one({"_id": plan.collection}, {"$max": {"seq": key}}, upsert=True)
            block = self._key_blocks.get(plan.collection)
            if block is not None and block.next <= key:  # keys up to an explicit one are skipped
                block.next = min(key + 1, block.end)

    # -- schema ---------------------------------------------------------------------

    async def create_schema(self, models: Sequence[ModelInfo]) -> None:
        db = self._database()
        with self._errors("cannot create the MongoDB schema"):
            existing = set(await db.list_collection_names())
            for info in models:
                try:
                    plan = self._compiler.plan(info.cls)
                except errors.ModelError as exc:
                    raise errors.SchemaError(str(exc)) from exc
                coll = db[plan.collection]
                self._known.add(plan.collection)
                if plan.collection not in existing:
                    with contextlib.suppress(CollectionInvalid):
                        await db.create_collection(plan.collection)
                for i in plan.unique:
                    path = plan.paths[i]
                    # present values only: NULL is an absent field, so NULLs never collide (as in SQL)
                    await coll.create_index(
                        [(path, 1)], name=f"ux_{path}", unique=True, partialFilterExpression={path: {"$exists": True}}
                    )
                for i in plan.indexed:
                    path = plan.paths[i]
                    await coll.create_index([(path, 1)], name=f"ix_{path}")
                if plan.auto_index is not None:
                    await self._sync_counter(plan, coll)

    async def _sync_counter(self, plan: ModelPlan, coll: AsyncCollection[Doc]) -> None:
        # Documents written before the counter existed (or by other tools) must not collide.
        path = plan.paths[plan.auto_index or 0]
        top = await coll.find_one({path: {"$type": "number"}}, {path: 1}, sort=[(path, -1)])
        if top is not None:
            value = top["_id"] if path == "_id" else top["_id"][path.split(".", 1)[1]]
            await self._bump_counter(plan, int(value))

    async def server_version(self) -> str:
        client = self._require_client()
        with self._errors("cannot read the MongoDB server version"):
            info = await client.server_info()
        return f"MongoDB {info.get('version', 'unknown')}"

    async def inspect_schema(self, models: Sequence[ModelInfo]) -> dict[str, LiveTable | None]:
        """Collections and their indexes; documents have no fixed fields, so ``columns`` is ``None``."""
        db = self._database()
        out: dict[str, LiveTable | None] = {}
        with self._errors("cannot inspect the MongoDB schema"):
            existing = set(await db.list_collection_names())
            for info in models:
                if info.name not in existing:
                    out[info.name] = None
                    continue
                unique: set[tuple[str, ...]] = set()
                plain: set[tuple[str, ...]] = set()
                for spec in (await db[info.name].index_information()).values():
                    columns = tuple(path.removeprefix("_id.") for path, _ in spec["key"])
                    if columns == ("_id",):
                        continue
                    (unique if spec.get("unique") else plain).add(columns)
                out[info.name] = LiveTable(
                    info.name, None, tuple(f.column for f in info.key), frozenset(unique), frozenset(plain)
                )
        return out

    async def apply_schema_changes(self, changes: Sequence[SchemaChange]) -> None:
        """Make schema changes one by one (MongoDB cannot change collections inside a transaction).

        Collections and indexes are created, renamed and dropped; fields have no
        declared type, so adding, renaming, converting and dropping a field
        rewrites the documents that hold it. Each change can be repeated after
        a failure: it does what is still missing.
        """
        db = self._database()
        with self._errors("cannot change the MongoDB schema"):
            for change in changes:
                if statement_logger.isEnabledFor(10):  # DEBUG
                    statement_logger.debug("mongodb schema %s", change)
                await self._change(db, change)

    async def _change(self, db: AsyncDatabase[Doc], change: SchemaChange) -> None:  # noqa: C901
        kind, info = change.kind, change.model
        if kind in ("add_table", "add_index", "add_unique"):
            # create_schema creates what is missing (collections, indexes) and leaves the rest
            await self.create_schema([info])
            return
        if kind == "drop_table":
            await self.drop_schema([info])
            return
        coll = db[info.name]
        if kind == "rename_table":
            old = change.old or ""
            names = set(await db.list_collection_names())
            if old in names:
                await db[old].rename(info.name)
            self._known.discard(old)
            self._key_blocks.pop(old, None)
            self._key_blocks.pop(info.name, None)
            counter = await self._counters().find_one({"_id": old})
            if counter is not None:  # keys keep counting where they were
                await self._counters().update_one({"_id": info.name}, {"$max": {"seq": counter["seq"]}}, upsert=True)
                await self._counters().delete_one({"_id": old})
            return
        if kind in ("drop_index", "drop_unique"):
            f = change.field
            if f is not None:
                await _drop_index(coll, ("ux_" if kind == "drop_unique" else "ix_") + self._compiler.path(f))
            return
        if kind == "drop_column":
            old_field = change.old_field
            path = self._compiler.path(old_field) if old_field is not None else change.column or ""
            if path.startswith("_id"):
                raise errors.UnsupportedError(f"cannot drop {info.name}.{change.column}: it is part of the key")
            await coll.update_many({path: {"$exists": True}}, {"$unset": {path: ""}})
            for prefix in ("ux_", "ix_"):
                await _drop_index(coll, prefix + path)
            return
        f = change.field
        if f is None or kind == "change_key":
            raise errors.UnsupportedError(f"{kind} on {info.name} cannot be applied to MongoDB: {change.detail}")
        path = self._compiler.path(f)
        if kind == "rename_column":
            old_field = change.old_field
            old_path = self._compiler.path(old_field) if old_field is not None else change.old or ""
            if path.startswith("_id") or old_path.startswith("_id"):
                raise errors.UnsupportedError(
                    f"cannot rename {info.name}.{change.old}: key fields live in MongoDB's immutable _id"
                )
            await coll.update_many({old_path: {"$exists": True}}, {"$rename": {old_path: path}})
            for prefix in ("ux_", "ix_"):
                await _drop_index(coll, prefix + old_path)
            await self.create_schema([info])
            return
        if kind in ("add_column", "add_required_column", "backfill", "change_nullability"):
            value = change.value
            if kind in ("add_column", "add_required_column") and value is NO_DEFAULT and not f.nullable:
                value = _plain_default(f)
            if value is not NO_DEFAULT and value is not None and not (kind == "change_nullability" and f.nullable):
                # an absent field is NULL: fill the documents that lack it
                stored = self._compiler.encode(f, f.check(value))
                await coll.update_many({path: {"$exists": False}}, {"$set": {path: stored}})
            if not f.nullable and await coll.count_documents({path: {"$exists": False}}, limit=1):
                raise errors.SchemaError(
                    f"{info.name}.{f.column} cannot be required: some documents have no value for it "
                    "(give the change a backfill value)"
                )
            if kind in ("add_column", "add_required_column"):
                await self.create_schema([info])  # a unique or indexed new field
            return
        if kind == "retype_column":
            await self._convert(coll, change, f, path)
            return
        raise errors.UnsupportedError(f"unknown schema change {kind!r}")

    async def _convert(self, coll: AsyncCollection[Doc], change: SchemaChange, f: FieldInfo, path: str) -> None:
        """Rewrite each stored value of a field for its new type; all are converted before any is written."""
        old_field = change.old_field
        if old_field is None:
            raise errors.UnsupportedError(f"cannot convert {change.model.name}.{f.column} without its previous type")
        decode = decoder_for(old_field)
        writes: list[UpdateOne] = []
        async for doc in coll.find({path: {"$exists": True}}, {path: 1}):
            stored: Any = doc
            for part in path.split("."):
                stored = stored[part]
            try:
                value = convert_value(f, decode(stored) if decode is not None else stored)
            except (errors.ValidationError, ValueError, TypeError) as exc:
                raise errors.SchemaError(
                    f"cannot convert {change.model.name}.{f.column} to {f.kind.value}: {stored!r} does not fit "
                    "(convert the values with a data step first)"
                ) from exc
            writes.append(UpdateOne({"_id": doc["_id"]}, {"$set": {path: self._compiler.encode(f, value)}}))
        if writes:
            await coll.bulk_write(writes, ordered=False)

    def render_schema_changes(self, changes: Sequence[SchemaChange]) -> list[str]:
        raise errors.UnsupportedError("MongoDB has no SQL to show: `migrate sql` works on SQL databases")

    async def drop_schema(self, models: Sequence[ModelInfo]) -> None:
        db = self._database()
        with self._errors("cannot drop the MongoDB schema"):
            for info in models:
                plan = self._compiler.plan(info.cls)
                self._known.discard(plan.collection)
                self._key_blocks.pop(plan.collection, None)
                await db.drop_collection(plan.collection)
                await self._counters().delete_one({"_id": plan.collection})


async def _drop_index(coll: AsyncCollection[Doc], name: str) -> None:
    try:
        await coll.drop_index(name)
    except OperationFailure as exc:
        if exc.code != 27:  # IndexNotFound: already gone (a repeated change after a failure)
            raise


def _plain_default(f: FieldInfo) -> Any:
    """What existing documents get for a new required field: its plain default, else a zero value."""
    if f.default is not NO_DEFAULT and isinstance(f.default, str | int | float):
        return f.default
    zeros: dict[Kind, Any] = {Kind.STR: "", Kind.INT: 0, Kind.FLOAT: 0.0, Kind.BOOL: False}
    return zeros.get(f.kind, NO_DEFAULT)


class _PrimaryReads(_Ops, Statements):
    """The driver's statements with reads on the primary (``on_primary()``); writes go there anyway."""

    def __init__(self, driver: MongoDBDriver) -> None:
        self._driver = driver
        self._session = None

    def _read_db(self) -> AsyncDatabase[Doc]:
        return self._driver._database().with_options(read_preference=ReadPreference.PRIMARY)

    def _coll(self, plan: ModelPlan) -> AsyncCollection[Doc]:
        return self._read_db()[plan.collection]


class _MongoTransaction(_Ops, DriverTransaction):
    """A client session with a multi-document transaction (snapshot reads, majority commit).

    Each statement runs to its end even if the task is cancelled while the server works on
    it (``to_the_end``); the cancellation then reaches the caller, and the block's rollback
    aborts the transaction. A command of a transaction that was sent is completed by the
    server anyway. Abandoning it half-way would send the transaction's abort while the
    server still runs the command; a server may then keep the transaction open (seen on
    secantusdb: later writes to the same documents failed with write conflicts, or waited
    for it without end). So the command's reply is awaited first, and the abort that
    follows the cancellation is the last word.
    """

    def __init__(self, driver: MongoDBDriver, session: AsyncClientSession) -> None:
        self._driver = driver
        self._session = session

    async def insert(self, stmt: Insert) -> None:
        await to_the_end(super().insert(stmt))

    async def save(self, stmt: Save) -> int:
        return await to_the_end(super().save(stmt))

    async def select(self, stmt: Select) -> list[Any]:
        return await to_the_end(super().select(stmt))

    async def count(self, stmt: Select) -> int:
        return await to_the_end(super().count(stmt))

    async def values(self, stmt: Values) -> list[tuple[Any, ...]]:
        return await to_the_end(super().values(stmt))

    async def upsert(self, stmt: Upsert) -> None:
        await to_the_end(super().upsert(stmt))

    async def raw(self, stmt: Raw) -> list[Any]:
        return await to_the_end(super().raw(stmt))

    async def update(self, stmt: Update) -> int:
        return await to_the_end(super().update(stmt))

    async def aggregate(self, stmt: Aggregate) -> list[tuple[Any, ...]]:
        return await to_the_end(super().aggregate(stmt))

    async def delete(self, stmt: Delete) -> int:
        return await to_the_end(super().delete(stmt))

    async def commit(self) -> None:
        session = self._session
        assert session is not None
        try:
            await to_the_end(session.commit_transaction())
        except PyMongoError as exc:
            err = self._driver._errors.translate(exc, "cannot commit the MongoDB transaction")
            if not isinstance(err, (errors.ConnectionFailed, errors.IntegrityError)):
                err = errors.TransactionError(str(err))
            raise err from exc
        finally:
            await session.end_session()

    async def rollback(self) -> None:
        session = self._session
        assert session is not None
        try:
            with self._driver._errors("cannot roll back the MongoDB transaction"):
                await to_the_end(session.abort_transaction())
        finally:
            await session.end_session()
