"""Hostile input: strings that look like code are stored and matched literally, and change nothing else.

A corpus of SQL-injection strings, quote and comment sequences, MongoDB
operator strings (``$``-prefixed), dicts with ``$`` and ``.`` keys, regex and
like metacharacters and very long strings is stored on every backend, then
found again by ``==``, ``in_``, ``contains``, ``startswith``, ``endswith``
and ``like`` with every metacharacter escaped. Each must match exactly its own
row. Afterwards the schema is unchanged (``diff()`` is empty) and a canary
table is intact. Table and column names that look like code are stored as
names (always quoted); only names no backend can store are refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from ommi import DBFailure, Key, ModelCollection, Ommi, errors, ommi_model
from ommi.query import escape_like
from ommi.testing.suite._helpers import fresh_tables

coll = ModelCollection("hostile")


@ommi_model(collection=coll)
@dataclass
class Note:
    text: str
    doc: dict[str, Any] | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=coll)
@dataclass
class Canary:
    name: str
    id: Annotated[int | None, Key] = None


_INJECTIONS = [
    '\'; DROP TABLE "Note"; --',
    '\'; DROP TABLE "Canary"; --',
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    '1; DELETE FROM "Canary"',
    "admin'--",
    "') UNION SELECT * FROM sqlite_master --",
    "'; SELECT pg_sleep(10); --",
    "1' AND SLEEP(5)#",
    "/* comment */",
    "*/ DROP TABLE x; /*",
    "-- ",
    "#",
    ";",
    '\\\'; DROP TABLE "Note"; --',
    '$$; DROP TABLE "Note"; $$',
    "$tag$ x $tag$",
    "E'\\x27'",
    "\\x00",
    '\x00\'; DROP TABLE "Note"; --',
    "%' OR '%'='",
    "COPY \"Note\" TO PROGRAM 'id'",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "INSTALL httpfs; LOAD httpfs",
]
_QUOTES = [
    "'",
    "''",
    '"',
    '""',
    "`",
    "\\",
    "\\\\",
    "\\'",
    "'\\",
    "\n",
    "\r\n",
    "\t",
    "\x1a",
    "\u2028",
    "\ufeff",
    "‘’“”",
]
_MONGO = [
    "$ne",
    "$gt",
    "$where",
    "$regex",
    "$expr",
    "$function",
    "{$ne: null}",
    '{"$gt": ""}',
    "$",
    "$$ROOT",
    "this.text == this.text",
    "function() { return true; }",
    "a.b",
    "..",
    "$.a",
]
_PATTERNS = [
    "%",
    "_",
    "%%",
    "a%",
    "%a",
    "_%_",
    "\\%",
    "\\_",
    "[a-z]",
    ".*",
    "^",
    "$",
    "(?i)A",
    "a|b",
    "*",
    "+",
    "?",
    "{1}",
    "\\d",
    "\\",
]
HOSTILE: list[str] = list(
    dict.fromkeys(
        [  # without duplicates
            *_INJECTIONS,
            *_QUOTES,
            *_MONGO,
            *_PATTERNS,
            "x" * 1_000_000,  # 1 MB
            ('\'; DROP TABLE "Note"; -- ' * 40_000)[:1_000_000],
            "😀" * 250_000,  # 1 MB of astral characters (4 bytes each in UTF-8)
        ]
    )
)
DOCS: list[dict[str, Any]] = [
    {"$ne": None},
    {"$gt": ""},
    {"$where": "sleep(1000)"},
    {"a.b": 1, "$c": {"$d": "$e"}},
    {"text": {"$regex": ".*"}},
    {'\'; DROP TABLE "Note"; --': "x"},
    {"": ""},
]


# like/contains/startswith/endswith are tried on literals up to this length; longer ones see
# test_megabyte_patterns_match_or_fail_cleanly (the secantusdb test server caps regexes at 1000 characters)
LIKE_LIMIT = 1000


@pytest.fixture
async def db(ommi_url: str) -> Any:
    async with Ommi.connect(ommi_url) as handle:
        async with fresh_tables(handle, coll):
            yield handle


def _short(text: str) -> str:
    return repr(text if len(text) < 60 else text[:57] + "...")


async def test_hostile_strings_are_stored_and_matched_literally(db: Ommi) -> None:
    await db.add(Canary("alive")).or_raise()
    notes = [Note(text) for text in HOSTILE] + [Note(f"doc{n}", doc) for n, doc in enumerate(DOCS)]
    await db.add(*notes).or_raise()
    tried = 0
    sqlite = type(db.driver).__name__ == "SQLiteDriver"
    for note in notes:
        text = note.text
        assert (await db.get(Note, note.id).or_raise()).text == text, _short(text)
        predicates = [Note.text == text, Note.text.in_([text]), Note.text.in_([text, None])]
        if len(text) <= LIKE_LIMIT:
            predicates += [
                Note.text.contains(text),
                Note.text.startswith(text),
                Note.text.endswith(text),
                Note.text.like(escape_like(text)),
            ]
        for predicate in predicates:
            found = await db.find(Note, predicate).all().or_raise()
            want = [n for n in notes if _python_match(predicate, n.text, text)]
            if (
                sqlite
                and type(predicate).__name__ == "Like"
                and ("\x00" in text or any("\x00" in n.text for n in want))
            ):
                continue  # SQLite's GLOB stops at a NUL: see test_pinned_like_matches_past_a_nul_character
            assert sorted(n.id for n in found) == sorted(n.id for n in want), (
                _short(text),
                predicate.__class__.__name__,
            )
            tried += 1
        assert await db.find(Note, Note.text != text).count().or_raise() == len(notes) - 1, _short(text)
    for n, doc in enumerate(DOCS):
        stored = await db.find(Note.text == f"doc{n}").one().or_raise()
        assert stored.doc == doc
    # updates with hostile values are literal too
    for text in _INJECTIONS + _MONGO:
        assert await db.find(Note.text == text).update(text=text + "!").or_raise() == 1
        assert await db.find(Note.text == text + "!").count().or_raise() == 1
    assert await db.find(Canary).count().or_raise() == 1
    assert await db.find(Note).count().or_raise() == len(notes)
    diff = await db.schema(coll).diff().or_raise()
    assert not diff, f"the schema changed: {diff}"
    print(f"hostile: {len(notes)} strings and documents, {tried} literal matches")


async def test_megabyte_patterns_match_or_fail_cleanly(db: Ommi) -> None:
    """Pattern matching against 1 MB literals: a correct answer or a QueryError, promptly, never a raw error.

    PostgreSQL (like compiles to a regular expression: "too complex") and
    the secantusdb test server (a 1000-character regex cap) refuse them.
    """
    long = '\'; DROP TABLE "Note"; --' * 40_000
    await db.add(Note(long), Note("short")).or_raise()
    for predicate in (Note.text.contains(long), Note.text.startswith(long[:-1]), Note.text.like(escape_like(long))):
        result = await asyncio.wait_for(db.find(Note, predicate).count(), timeout=30)
        if isinstance(result, DBFailure):
            assert isinstance(result.error, errors.QueryError), result
        else:
            assert result.value == 1


async def test_pinned_like_matches_past_a_nul_character(db: Ommi) -> None:
    """Found by the hostile corpus: on SQLite, GLOB stops at U+0000, so text after a NUL never matches."""
    await db.add(Note("a\x00b"), Note("\x00'; DROP TABLE x; --"), Note("ab")).or_raise()
    assert await db.find(Note, Note.text.endswith("b")).count().or_raise() == 2
    assert await db.find(Note, Note.text.contains("DROP")).count().or_raise() == 1
    assert await db.find(Note, Note.text.like("a_b")).count().or_raise() == 1
    assert await db.find(Note, ~Note.text.like("%b")).count().or_raise() == 1


def _python_match(predicate: Any, stored: str, probe: str) -> bool:
    """What each predicate of the test means, in Python."""
    name = type(predicate).__name__
    if name in ("Compare", "In"):
        return stored == probe
    pattern: str = predicate.pattern
    if pattern == escape_like(probe):
        return stored == probe
    if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1 and pattern[1:-1] == escape_like(probe):
        return probe in stored
    if pattern.endswith("%") and pattern[:-1] == escape_like(probe):
        return stored.startswith(probe)
    return stored.endswith(probe)


@pytest.mark.parametrize("name", ["", "a\x00b", "\x00", "bad\ud800surrogate"])
def test_names_no_backend_can_store_are_refused_at_decoration(name: str) -> None:
    with pytest.raises(errors.ModelError, match="cannot be used as a database name"):

        @ommi_model(collection=ModelCollection(), name=name)
        @dataclass
        class Table:
            value: int

    with pytest.raises(errors.ModelError, match="cannot be used as a database name"):
        from ommi import StoreAs

        @ommi_model(collection=ModelCollection())
        @dataclass
        class Column:
            value: Annotated[int, StoreAs(name)]


# Names are always quoted: what looks like code in a table or column name is a name.
HOSTILE_NAMES = [
    'x"; DROP TABLE "Canary"; --',
    "a'b",
    "a`b",
    "a/*b",
    "-- c",
    "a]b[",
    'say "hi"',
    "$where",
    "1abc",
    "Robert'); DROP TABLE Students;--",
]


async def test_names_that_look_like_code_are_names(ommi_url: str) -> None:
    from ommi import StoreAs

    hostile = ModelCollection("hostile-names")

    @ommi_model(collection=hostile, name='x"; DROP TABLE "Canary"; -- (names)')
    @dataclass
    class Weird:
        a: Annotated[str, StoreAs("a'b")]
        b: Annotated[str | None, StoreAs('x"; DROP TABLE "Canary"; --')] = None
        c: Annotated[int, StoreAs("Robert'); DROP TABLE Students;--")] = 0
        d: Annotated[str | None, StoreAs("a/*b -- c")] = None
        id: Annotated[int | None, Key, StoreAs("a`b")] = None

    async with Ommi.connect(ommi_url) as db:
        await db.schema(coll).create_models().or_raise()
        await db.add(Canary("still here")).or_raise()
        await db.schema(hostile).delete_models().or_raise()
        try:
            await db.schema(hostile).create_models().or_raise()
            [w] = await db.add(Weird("1", "2", 3, "4")).or_raise()
            assert await db.get(Weird, w.id).or_raise() == w
            assert await db.find(Weird.b == "2", Weird.c == 3).update(d="5").or_raise() == 1
            assert (await db.find(Weird).one().or_raise()).d == "5"
            assert await db.find(Canary.name == "still here").count().or_raise() == 1
            assert list(await db.schema(hostile).diff().or_raise()) == []
        finally:
            await db.schema(hostile).delete_models().or_raise()
            await db.schema(coll).delete_models().or_raise()


def test_unusual_names_are_accepted() -> None:
    for name in ("select", "Order", "drop", "_", "é" * 31, "日本語", "x" * 63, "x" * 200, *HOSTILE_NAMES):

        @ommi_model(collection=ModelCollection(), name=name)
        @dataclass
        class Table:
            value: int
