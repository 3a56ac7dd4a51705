"""Round-trip properties: every supported field type reads back equal in type and value, on every backend.

For each type, Hypothesis generates values (``scaled(200)`` per type, plus the
boundary values listed in :data:`BOUNDARIES`); they are stored in one bulk
``add()`` and read back, and each must equal what was stored and be of the
same type. The portable ranges used here are documented in
docs/reliability.md:

* ``int``: the whole int64 range.
* ``Decimal``: at most 28 digits before the point, 10 after it and 34 in all
  (DuckDB stores ``DECIMAL(38, 10)``, MongoDB ``Decimal128`` has 34 digits).
  Values keep their numeric value; DuckDB drops padding zeros (``1.50`` reads
  back as ``1.5``, which is equal).
* ``float``: every non-NaN float; SQLite reads ``-0.0`` back as ``0.0``.
* ``datetime``: years 1-9999 with microseconds; aware values from year 2 to
  9998 (so that the UTC instant stays inside Python's range), any offset.
* JSON: nested lists and dicts of strings, bools, None, int64 ints and finite floats.
"""

from __future__ import annotations

import enum
import math
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import strategies as st

from ommi import AwareDatetime, DBFailure, Key, ModelCollection, Ommi, errors, ommi_model
from tests._fuzz import generate, scaled

coll = ModelCollection("roundtrip")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Colour(enum.Enum):
    RED = "red"
    EMPTY = ""
    ASTRAL = "😀"


class Level(enum.IntEnum):
    LOW = -(2**63)
    ZERO = 0
    HIGH = 2**63 - 1


@ommi_model(collection=coll)
@dataclass
class Value:
    k: Annotated[int, Key]
    s: str | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    by: bytes | None = None
    d: Decimal | None = None
    dt: datetime | None = None
    at: AwareDatetime | None = None
    day: date | None = None
    tm: time | None = None
    u: uuid.UUID | None = None
    colour: Colour | None = None
    level: Level | None = None
    js: dict[str, Any] | None = None
    arr: list[Any] | None = None


@st.composite
def portable_decimals(draw: st.DrawFn) -> Decimal:
    places = draw(st.integers(0, 10))
    digits = draw(st.integers(1, min(34, 28 + places)))
    coefficient = draw(st.integers(-(10**digits) + 1, 10**digits - 1))
    return Decimal(coefficient).scaleb(-places)


offsets = st.integers(-(24 * 3600) + 1, 24 * 3600 - 1).map(lambda s: timezone(timedelta(seconds=s)))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT64_MIN, INT64_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)

STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "s": st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    "i": st.integers(INT64_MIN, INT64_MAX),
    "f": st.floats(allow_nan=False),
    "b": st.booleans(),
    "by": st.binary(max_size=64),
    "d": portable_decimals(),
    "dt": st.datetimes(),
    "at": st.builds(
        lambda d, z: d.replace(tzinfo=z),
        st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
        offsets,
    ),
    "day": st.dates(),
    "tm": st.times(),
    "u": st.uuids(),
    "colour": st.sampled_from(Colour),
    "level": st.sampled_from(Level),
    "js": st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    "arr": st.lists(json_values, max_size=5),
}

BOUNDARIES: dict[str, list[Any]] = {
    "s": [
        "",
        "\x00",
        "a\x00b",
        "\x00\x00",
        "😀",
        "\U0010ffff",
        "\uffff",
        "e\u0301",
        " padded ",
        "'",
        '"',
        "\\",
        "%_",
        "x" * 10_000,
    ],
    "i": [INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 0, -1, 2**53 + 1, -(2**31), 2**31],
    "f": [
        0.0,
        -0.0,
        math.inf,
        -math.inf,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1 / 3,
    ],
    "b": [True, False],
    "by": [b"", b"\x00", b"\x00" * 3, bytes(range(256)), b"\xff\xfe"],
    "d": [
        Decimal("9" * 24 + "." + "9" * 10),
        Decimal("-" + "9" * 24 + "." + "9" * 10),
        Decimal("9" * 28),
        Decimal("-" + "9" * 28),
        Decimal("0.0000000001"),
        Decimal("-0.0000000001"),
        Decimal("0"),
        Decimal("-0"),
        Decimal("1.50"),
        Decimal("1E+20"),
        Decimal("12345678901234567890123.4567890123"),
    ],
    "dt": [
        datetime.min,
        datetime.max,
        datetime(1970, 1, 1),
        datetime(1969, 12, 31, 23, 59, 59, 999999),
        datetime(2000, 2, 29, 0, 0, 0, 1),
    ],
    "at": [
        datetime(2, 1, 1, tzinfo=timezone(timedelta(hours=23, minutes=59))),
        datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
        datetime(2024, 3, 31, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(seconds=1))),
        datetime(2024, 1, 1, tzinfo=timezone(timedelta(microseconds=-1))),
    ],
    "day": [date.min, date.max, date(1970, 1, 1), date(2000, 2, 29)],
    "tm": [time.min, time.max, time(12, 0, 0, 1)],
    "u": [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID("12345678-1234-5678-1234-567812345678")],
    "colour": list(Colour),
    "level": list(Level),
    "js": [
        {},
        {"": None},
        {"a\x00": [1, -0.0, 1e308, INT64_MIN, INT64_MAX]},
        {"nested": {"x": [[], {}]}},
        {"😀": "\U0010ffff"},
        {"f": 1.0},
    ],
    "arr": [[], [None], [1.5, "x", True, None, {"k": []}], [2**53 + 1], [0.1, 1e-300]],
}
COLUMNS = [f.name for f in fields(Value) if f.name != "k"]
PER_TYPE = scaled(200)

_values: dict[str, list[Any]] = {}


def values() -> dict[str, list[Any]]:
    """``PER_TYPE`` generated values per column, boundary values first (generated once per session)."""
    if not _values:
        for col in COLUMNS:
            found = BOUNDARIES[col] + generate(STRATEGIES[col], PER_TYPE)
            while len(found) < PER_TYPE:  # bool and the enums have few values: repeat them
                found += found
            _values[col] = found[: max(PER_TYPE, len(BOUNDARIES[col]))]
    return _values


def _same(stored: Any, loaded: Any, signed_zero: bool, json_signed_zero: bool) -> bool:
    if type(stored) is not type(loaded):
        return False
    if isinstance(stored, float):
        if stored == 0 and not signed_zero:
            return loaded == 0
        return repr(stored) == repr(loaded)
    if isinstance(stored, datetime):
        return stored == loaded and (stored.utcoffset() is None) == (loaded.utcoffset() is None)
    if isinstance(stored, (dict, list)):
        return _same_json(stored, loaded, json_signed_zero)
    return bool(stored == loaded)


def _same_json(a: Any, b: Any, signed_zero: bool) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k], signed_zero) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y, signed_zero) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b) or (not signed_zero and a == b == 0)
    return bool(a == b)


async def test_every_type_round_trips_exactly(ommi_url: str) -> None:
    # PostgreSQL's JSONB keeps numbers as numeric, which has no -0 (documented in docs/backends/postgresql.md)
    json_signed_zero = not ommi_url.startswith("postgres")
    async with Ommi.connect(ommi_url) as db:
        # SQLite's REAL and MySQL's DOUBLE columns store -0.0 as 0 (documented on their backend pages)
        signed_zero = "signed_zero" in db.capabilities
        table = values()
        if "infinite_floats" not in db.capabilities:  # MySQL refuses them (test_conformance covers that)
            table = {**table, "f": [v for v in table["f"] if not math.isinf(v)]}
        rows = max(len(v) for v in table.values())
        stored = [
            Value(k=n, **{col: (table[col][n] if n < len(table[col]) else None) for col in COLUMNS})
            for n in range(rows)
        ]
        schema = db.schema(coll)
        await schema.delete_models().or_raise()
        await schema.create_models().or_raise()
        try:
            await db.add(*stored).or_raise()
            loaded = await db.find(Value).order_by(Value.k).all().or_raise()
            # the values are also found by equality, one query per type
            for col in COLUMNS:
                if col in ("js", "arr"):
                    continue  # JSON fields cannot be compared in queries
                probe = next(v for v in table[col] if v is not None)
                want = sum(1 for r in stored if getattr(r, col) == probe)
                assert await db.find(getattr(Value, col) == probe).count().or_raise() == want, (col, probe)
        finally:
            await schema.delete_models().or_raise()
    assert len(loaded) == len(stored)
    bad = [
        (col, getattr(s, col), getattr(got, col))
        for s, got in zip(stored, loaded, strict=True)
        for col in COLUMNS
        if not _same(getattr(s, col), getattr(got, col), signed_zero, json_signed_zero)
    ]
    assert not bad, (
        f"{len(bad)} values changed on the way through {ommi_url.split(':')[0]}, "
        f"e.g. (column, stored, loaded): {bad[:5]!r}"
    )
    print(f"roundtrip: {sum(len(v) for v in table.values())} values on {ommi_url.split(':')[0]}")


@pytest.mark.parametrize(
    "value",
    [Decimal("1" + "0" * 28), Decimal("0.00000000001"), Decimal("1" * 35)],
    ids=["29-integer-digits", "11-places", "35-digits"],
)
async def test_decimals_past_the_portable_range_are_stored_exactly_or_refused(ommi_url: str, value: Decimal) -> None:
    """Outside the portable range a backend either keeps the value exactly or refuses it: it never rounds."""
    async with Ommi.connect(ommi_url) as db:
        schema = db.schema(coll)
        await schema.delete_models().or_raise()
        await schema.create_models().or_raise()
        try:
            result = await db.add(Value(k=1, d=value))
            if isinstance(result, DBFailure):
                assert isinstance(result.error, errors.ValidationError), result
            else:
                assert (await db.get(Value, 1).or_raise()).d == value
        finally:
            await schema.delete_models().or_raise()


async def test_pinned_json_floats_keep_their_type(ommi_url: str) -> None:
    """Found by the round-trip test: PostgreSQL's JSONB printed 1e+16 back as 10000000000000000 (an int)."""
    stored = {"big": 1e16, "huge": 1e308, "tiny": 5e-324, "neg": -1.5e16, "one": 1.0, "int": 10**16}
    async with Ommi.connect(ommi_url) as db:
        schema = db.schema(coll)
        await schema.delete_models().or_raise()
        await schema.create_models().or_raise()
        try:
            await db.add(Value(k=1, js=stored, arr=[1e16, [2e20]])).or_raise()
            got = await db.get(Value, 1).or_raise()
        finally:
            await schema.delete_models().or_raise()
    assert _same_json(got.js, stored, True) and _same_json(got.arr, [1e16, [2e20]], True), (got.js, got.arr)
