"""Conformance tests: types."""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, cast

import pytest

from ommi import Count, DBFailure, Ommi, errors
from ommi.testing.models import (
    Color,
    Level,
    Person,
    Sample,
)

AWARE = timezone(timedelta(hours=5, minutes=30))


def full_sample() -> Sample:
    return Sample(
        s="héllo \U0001f600 \x00 end",
        i=-(2**63),
        f=-1.5e-300,
        b=False,
        by=b"\x00\xff\x10",
        dec=Decimal("12345678901234567890.123456789"),
        dt=datetime(2024, 2, 29, 23, 59, 58, 123456),
        adt=datetime(2024, 2, 29, 23, 59, 58, 654321, tzinfo=AWARE),
        d=date(1999, 12, 31),
        t=time(13, 14, 15, 161718),
        u=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        color=Color.GREEN,
        level=Level.HIGH,
        js={"a": [1, 2.5, None, True, "x"], "nested": {"k": "v"}},
        lst=[1, "two", {"three": 3}],
    )


async def test_every_type_round_trips_exactly(suite_db: Ommi) -> None:
    original = full_sample()
    await suite_db.add(original).or_raise()
    loaded = await suite_db.get(Sample, original.id).or_raise()
    for name in ("s", "i", "f", "b", "by", "dec", "dt", "adt", "d", "t", "u", "color", "level", "js", "lst"):
        got, want = getattr(loaded, name), getattr(original, name)
        assert got == want, name
        assert type(got) is type(want), name
    assert loaded.adt is not None and loaded.adt.utcoffset() is not None
    assert loaded.dt is not None and loaded.dt.tzinfo is None


async def test_a_save_of_several_instances_writes_every_type_back_exactly(suite_db: Ommi) -> None:
    # several instances in one save() (a backend may write them with one statement)
    stored = await suite_db.add(Sample(), Sample(s="x", i=1), Sample()).or_raise()
    changed = [full_sample(), Sample(s="only s"), Sample(i=2**63 - 1, js={"k": None}, lst=[])]
    for old, new in zip(stored, changed, strict=True):
        new.id = old.id
    assert await suite_db.save(*changed).or_raise() == changed
    for want in changed:
        got = await suite_db.get(Sample, want.id).or_raise()
        assert got == want
        for name in ("s", "i", "f", "by", "dec", "dt", "adt", "d", "t", "u", "color", "level", "js", "lst"):
            assert type(getattr(got, name)) is type(getattr(want, name)), name
    # a key given twice in one save(): the last instance wins, as one save() each would
    first, second = Sample(id=stored[0].id, s="first"), Sample(id=stored[0].id, s="second")
    await suite_db.save(first, second).or_raise()
    assert (await suite_db.get(Sample, stored[0].id).or_raise()).s == "second"


def _bulk_samples() -> list[Sample]:
    """Enough instances that a driver writes them as one batch: every type, NULLs, text with the
    characters some backends store with a code, and values the write converts (int for float,
    bytearray for bytes, a str subclass)."""

    class Text(str):
        pass

    samples = [full_sample() for _ in range(3)]
    samples += [Sample(s=f"row {n}", i=n, f=n / 4, b=n % 2 == 0, by=bytes([n]), js={"n": n}) for n in range(12)]
    samples += [
        Sample(),
        Sample(s="\x00\x01\x01\x02 codes", i=2**63 - 1, f=-0.0),
        Sample(s="ascii", f=3, by=bytearray(b"\x00\x01")),  # type: ignore[arg-type]  # accepted, stored as bytes
        Sample(s=Text("a str subclass"), i=-(2**63)),
        Sample(s="", lst=[], js={}),
    ]
    return samples


async def _reads_back(db: Ommi, samples: list[Sample]) -> None:
    """Each stored sample reads back equal to ``samples``' own, field by field."""
    for want in samples:
        got = await db.get(Sample, want.id).or_raise()
        for name in ("s", "i", "f", "b", "by", "dec", "dt", "adt", "d", "t", "u", "color", "level", "js", "lst"):
            value = getattr(want, name)
            assert getattr(got, name) == value, (name, getattr(got, name), value)
            if value is not None:
                # what a read gives back: the field's own type (a subclass or bytearray comes back as the base)
                assert type(getattr(got, name)) in (type(value), str, bytes, float), name


async def test_a_bulk_add_writes_every_value_exactly(suite_db: Ommi) -> None:
    samples = _bulk_samples()
    await suite_db.add(*samples).or_raise()
    assert len({s.id for s in samples}) == len(samples)
    await _reads_back(suite_db, samples)
    # a float field given an int stores a float, a bytes field given a bytearray stores bytes
    converted = await suite_db.get(Sample, samples[-3].id).or_raise()
    assert type(converted.f) is float and type(converted.by) is bytes


async def test_a_large_save_writes_every_value_exactly(suite_db: Ommi) -> None:
    # enough instances that a driver writes them as one batch (a column at a time, say), over
    # rows holding other values: every type, NULLs over values and values over NULLs
    samples = _bulk_samples() * 3
    stored = await suite_db.add(*(Sample(s="old", i=k, js={"old": k}) for k in range(len(samples)))).or_raise()
    changed = [dataclasses.replace(want, id=old.id) for want, old in zip(samples, stored, strict=True)]
    assert await suite_db.save(*changed).or_raise() == changed
    await _reads_back(suite_db, changed)
    # and every text that quoting gets wrong, in a column of text alone
    texts = [Sample(s=t, lst=[t], id=old.id) for t, old in zip(_AWKWARD_TEXT * 2, stored, strict=False)]
    await suite_db.save(*texts).or_raise()
    for want in texts:
        got = await suite_db.get(Sample, want.id).or_raise()
        assert (got.s, got.lst, got.i, got.js) == (want.s, want.lst, None, None), want.id


@pytest.mark.requires("infinite_floats")
async def test_a_large_save_writes_extreme_floats_exactly(suite_db: Ommi) -> None:
    values = [math.inf, -math.inf, 5e-324, -2.5e-310, 1.7976931348623157e308, 0.1, 1 / 3, -0.0, 3.0] * 5
    stored = await suite_db.add(*(Sample(f=1.5) for _ in values)).or_raise()
    await suite_db.save(*(Sample(id=old.id, f=v) for old, v in zip(stored, values, strict=True))).or_raise()
    for old, want in zip(stored, values, strict=True):
        got = (await suite_db.get(Sample, old.id).or_raise()).f
        assert got == want and type(got) is float, (got, want)
        if "signed_zero" in suite_db.capabilities:
            assert math.copysign(1.0, got) == math.copysign(1.0, want), (got, want)


async def test_text_of_a_str_subclass_is_stored_as_its_characters(suite_db: Ommi) -> None:
    # a str field may hold an instance of a str subclass; what is stored is its text, not
    # its str(), alone and among many (which a driver may check and write a column at a time)
    class Shout(str):
        def __str__(self) -> str:
            return self.upper()

    alone = Sample(s=Shout("quiet"))
    many = [Sample(s=f"row {n}") for n in range(12)]
    many[5].s = Shout("also quiet")
    await suite_db.add(alone).or_raise()
    await suite_db.add(*many).or_raise()
    assert (await suite_db.get(Sample, alone.id).or_raise()).s == "quiet"
    back = await suite_db.find(Sample.id.in_([m.id for m in many])).order_by(Sample.id).all().or_raise()
    assert [m.s for m in back] == [f"row {n}" if n != 5 else "also quiet" for n in range(12)]


async def test_a_subclass_value_reads_back_as_the_fields_own_type(suite_db: Ommi) -> None:
    # a str, int, float or bytes field may hold an instance of a subclass (an IntEnum, a
    # project's own str type); the store keeps the value, and a read gives the field's type
    class Name(str):
        pass

    class Count_(int):
        pass

    class Ratio(float):
        pass

    class Blob(bytes):
        pass

    def sample() -> Sample:
        return Sample(s=Name("named"), i=Count_(7), f=Ratio(0.25), by=Blob(b"\x01"))

    alone, many = sample(), [sample() for _ in range(12)]
    await suite_db.add(alone).or_raise()
    await suite_db.add(*many).or_raise()
    for got in [await suite_db.get(Sample, alone.id).or_raise()] + await suite_db.find(
        Sample.id.in_([m.id for m in many])
    ).all().or_raise():
        assert (got.s, got.i, got.f, got.by) == ("named", 7, 0.25, b"\x01")
        assert (type(got.s), type(got.i), type(got.f), type(got.by)) == (str, int, float, bytes)
    # the instances written keep what the user put in them
    assert type(alone.s) is Name and all(type(m.i) is Count_ for m in many)


# text that quoting and escaping get wrong: quotes, backslashes (a trailing one too), the control
# characters MySQL's escapes name, percent signs, non-ASCII, SQL-looking text
_AWKWARD_TEXT = [
    "it's", "''", 'say "hi"', "back\\slash", "trailing \\", "\\'", "\\\\", "nul \x00 inside", "\x00",
    "line\nbreak\r\n", "ctrl-z \x1a", "tab\there", "100% %s %d %% %(x)s", "héllo wörld", "\U0001f600 \U0010ffff",
    "", " ", "zero\u200bwidth", "'); DROP TABLE x; --", "\x01\x02 codes",
]


async def test_a_bulk_add_of_columns_of_one_type_writes_every_value_exactly(suite_db: Ommi) -> None:
    # columns whose values all have one type, with and without NULLs: a driver may write each
    # column at once (and quote or escape a text column only when one of its values needs it)
    n = len(_AWKWARD_TEXT)
    ints = [2**63 - 1, -(2**63), 0, -1, 10**18, 2**31, -(2**31) - 1]
    batches = [
        [Sample(s=t, i=ints[k % 7], b=k % 2 == 0, f=k / 3, lst=[t]) for k, t in enumerate(_AWKWARD_TEXT)],
        [
            Sample(s=None if k % 3 == 0 else t, i=None if k % 4 == 1 else ints[k % 7], b=None if k % 5 == 2 else k < 5)
            for k, t in enumerate(_AWKWARD_TEXT)
        ],
        [Sample(s=f"plain {k}, 100%", i=k, b=True, f=0.5) for k in range(n)],  # nothing to escape
        [Sample(s="same", i=7, b=False) for _ in range(n)],
    ]
    # a column in which one character alone needs escaping
    batches += [[Sample(s=t, i=1, b=True) for t in ("plain", f"a{c}", c, f"{c}{c}b")] for c in "\x00\n\r\x1a\"'\\%"]
    for batch in batches:
        await suite_db.add(*batch).or_raise()
        # the same values again, with their keys given
        top = max(s.id for s in batch if s.id is not None)
        again = [Sample(id=top + 1000 + k, s=s.s, i=s.i, b=s.b, f=s.f, lst=s.lst) for k, s in enumerate(batch)]
        await suite_db.add(*again).or_raise()
        for want in batch + again:
            got = await suite_db.get(Sample, want.id).or_raise()
            assert (got.s, got.i, got.b, got.f, got.lst) == (want.s, want.i, want.b, want.f, want.lst), want.id
    assert await suite_db.find(Sample.s == "trailing \\").count().or_raise() == 4


async def test_many_rows_read_at_once_give_every_text_back_exactly(suite_db: Ommi) -> None:
    # a driver may decode a fetched batch a column at a time and skip columns that need
    # nothing: one awkward text among many plain ones must still come back exactly, by
    # every way of reading many rows (all(), streaming, values(), grouping)
    for awkward in _AWKWARD_TEXT:
        await suite_db.find(Sample).delete().or_raise()
        texts = [f"plain {k}" for k in range(30)]
        texts[17] = awkward
        await suite_db.add(*(Sample(s=t, i=k) for k, t in enumerate(texts))).or_raise()
        await suite_db.add(Sample(s=None, i=30)).or_raise()
        want = [*texts, None]
        by_i = suite_db.find(Sample).order_by(Sample.i)
        assert [x.s for x in await by_i.all().or_raise()] == want, repr(awkward)
        assert [x.s async for x in by_i] == want, repr(awkward)
        assert [s for (s,) in await by_i.values(Sample.s).all().or_raise()] == want, repr(awkward)
        groups = await suite_db.find(Sample).group_by(Sample.s).aggregate(n=Count()).or_raise()
        assert sorted((g["s"] or "", g["n"]) for g in groups) == sorted((t or "", 1) for t in want), repr(awkward)
        few = await suite_db.find(Sample, Sample.i >= 15).order_by(Sample.i).limit(4).all().or_raise()
        assert [x.s for x in few] == want[15:19], repr(awkward)


@pytest.mark.parametrize(
    ("field", "bad", "words"),
    [
        ("s", "lone \ud800 surrogate", "surrogate"),
        ("s", 12, "expects str"),
        ("i", 2**63, "64-bit"),
        ("i", True, "expects int"),
        ("i", "12", "expects int"),
        ("f", float("nan"), "NaN"),
        pytest.param("f", 10**400, "too large for a float", id="f-int-beyond-float"),
        ("b", 1, "expects bool"),
        ("by", "text", "expects bytes"),
    ],
)
async def test_a_bulk_add_refuses_the_first_invalid_instance_and_writes_nothing(
    suite_db: Ommi, field: str, bad: object, words: str
) -> None:
    samples = _bulk_samples()
    setattr(samples[9], field, bad)
    # a later instance is invalid too, in a field that comes first
    if field == "s":
        samples[14].i = "not an int"  # type: ignore[assignment]
    else:
        samples[14].s = b"not text"  # type: ignore[assignment]
    result = await suite_db.add(*samples)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    # the error is the first invalid instance's, as when they are checked one by one
    assert f"Sample.{field}" in str(result.error) and words in str(result.error), str(result.error)
    assert await suite_db.find(Sample).count().or_raise() == 0
    assert all(s.id is None for s in samples)
    alone = await suite_db.add(samples[9])  # and the same error for the instance alone
    assert isinstance(alone, DBFailure) and str(alone.error) == str(result.error), alone


async def test_nulls_round_trip(suite_db: Ommi) -> None:
    [empty] = await suite_db.add(Sample()).or_raise()
    loaded = await suite_db.get(Sample, empty.id).or_raise()
    assert loaded == Sample(id=empty.id)


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1],
)
async def test_int64_boundaries(suite_db: Ommi, value: int) -> None:
    [s] = await suite_db.add(Sample(i=value)).or_raise()
    assert (await suite_db.get(Sample, s.id).or_raise()).i == value
    assert await suite_db.find(Sample.i == value).count().or_raise() == 1


async def test_boundary_values_round_trip(suite_db: Ommi) -> None:
    values = [
        Sample(s="", by=b"", f=0.0, dec=Decimal("0"), js={}, lst=[]),
        Sample(s="\U0010ffff'\";--", f=1.7976931348623157e308, dec=Decimal("-0.000000001")),
        Sample(dt=datetime(1, 1, 1, 0, 0, 0, 1), d=date(1, 1, 1), t=time(0, 0)),
        Sample(dt=datetime(9999, 12, 31, 23, 59, 59, 999999), d=date(9999, 12, 31), t=time(23, 59, 59, 999999)),
        Sample(adt=datetime(2020, 1, 1, tzinfo=UTC), f=-1.7976931348623157e308),
        Sample(adt=datetime(2020, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-9, minutes=-30))), f=-0.5),
    ]
    await suite_db.add(*values).or_raise()
    for v in values:
        got = await suite_db.get(Sample, v.id).or_raise()
        assert got == v


@pytest.mark.requires("infinite_floats")
async def test_infinite_floats_round_trip_and_compare(suite_db: Ommi) -> None:
    values = [Sample(f=float("inf")), Sample(f=float("-inf")), Sample(f=1.0)]
    await suite_db.add(*values).or_raise()
    for v in values:
        assert (await suite_db.get(Sample, v.id).or_raise()).f == v.f
    assert await suite_db.find(Sample.f > 1e308).count().or_raise() == 1
    assert await suite_db.find(Sample.f == float("-inf")).count().or_raise() == 1


async def test_infinite_floats_are_refused_where_not_supported(suite_db: Ommi) -> None:
    if "infinite_floats" in suite_db.capabilities:
        pytest.skip("the driver stores infinite floats (test_infinite_floats_round_trip_and_compare)")
    result = await suite_db.add(Sample(f=1.0), Sample(f=float("inf")))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    assert "inf" in str(result.error)
    assert await suite_db.find(Sample).count().or_raise() == 0  # nothing of the add() was stored


async def test_decimal_comparison_and_ordering_are_numeric(suite_db: Ommi) -> None:
    amounts = ["9.5", "10", "100.25", "-3", "0.001"]
    await suite_db.add(*(Sample(dec=Decimal(a)) for a in amounts)).or_raise()
    got = await suite_db.find(Sample.dec > Decimal("9.9")).order_by(Sample.dec).all().or_raise()
    assert [s.dec for s in got] == [Decimal("10"), Decimal("100.25")]
    ordered = await suite_db.find(Sample.dec.is_not_null()).order_by(Sample.dec.desc).all().or_raise()
    assert [s.dec for s in ordered] == sorted((Decimal(a) for a in amounts), reverse=True)


async def test_datetime_date_time_comparisons(suite_db: Ommi) -> None:
    base = datetime(2024, 1, 1, 12, 0, 0)
    await suite_db.add(*(Sample(dt=base + timedelta(hours=h), d=(base + timedelta(days=h)).date(),
                                t=time(h, 0)) for h in range(5))).or_raise()
    assert await suite_db.find(Sample.dt >= base + timedelta(hours=3)).count().or_raise() == 2
    assert await suite_db.find(Sample.d < date(2024, 1, 3)).count().or_raise() == 2
    assert await suite_db.find(Sample.t.between(time(1), time(3))).count().or_raise() == 3


async def test_aware_datetimes_compare_by_instant(suite_db: Ommi) -> None:
    tz_plus = timezone(timedelta(hours=2))
    a = datetime(2024, 1, 1, 12, 0, tzinfo=tz_plus)  # 10:00 UTC
    b = datetime(2024, 1, 1, 11, 0, tzinfo=UTC)  # 11:00 UTC
    await suite_db.add(Sample(s="a", adt=a), Sample(s="b", adt=b)).or_raise()
    ordered = await suite_db.find(Sample.adt.is_not_null()).order_by(Sample.adt).all().or_raise()
    assert [s.s for s in ordered] == ["a", "b"]
    assert await suite_db.find(Sample.adt == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)).count().or_raise() == 1


async def test_naive_and_aware_values_are_not_mixed_up(suite_db: Ommi) -> None:
    aware_in_naive = await suite_db.add(Sample(dt=datetime(2024, 1, 1, tzinfo=UTC)))
    assert isinstance(aware_in_naive, DBFailure) and isinstance(aware_in_naive.error, errors.ValidationError)
    naive_in_aware = await suite_db.add(Sample(adt=datetime(2024, 1, 1)))
    assert isinstance(naive_in_aware, DBFailure) and isinstance(naive_in_aware.error, errors.ValidationError)


async def test_enum_uuid_bool_bytes_queries(suite_db: Ommi) -> None:
    u = uuid.uuid4()
    await suite_db.add(Sample(color=Color.RED, u=u, b=True, by=b"\x01"), Sample(color=Color.GREEN, b=False)).or_raise()
    assert (await suite_db.find(Sample.color == Color.RED).one().or_raise()).u == u
    # an enum's value is accepted in place of the member (typed as the member)
    assert (await suite_db.find(Sample.color == cast(Color, "green")).one().or_raise()).color is Color.GREEN
    assert (await suite_db.find(Sample.u == u).one().or_raise()).color is Color.RED
    assert (await suite_db.find(Sample.b == True).one().or_raise()).by == b"\x01"  # noqa: E712
    assert (await suite_db.find(Sample.by == b"\x01").one().or_raise()).b is True


async def test_json_values_round_trip_including_operator_like_keys(suite_db: Ommi) -> None:
    hostile = {"$where": "sleep(1000)", "a.b": 1, "'; DROP TABLE x; --": [None, {"$gt": ""}]}
    [s] = await suite_db.add(Sample(js=hostile, lst=["$gt", {"$ne": None}])).or_raise()
    loaded = await suite_db.get(Sample, s.id).or_raise()
    assert loaded.js == hostile and loaded.lst == ["$gt", {"$ne": None}]


async def test_hostile_strings_are_stored_and_matched_literally(suite_db: Ommi) -> None:
    corpus = ["'; DROP TABLE \"Person\"; --", "$gt", "\\", "%", "_", ".*", "a'b\"c", "\x00", "-- comment", "/* x */"]
    await suite_db.add(*(Person(s, i) for i, s in enumerate(corpus))).or_raise()
    for s in corpus:
        found = await suite_db.find(Person.name == s).all().or_raise()
        assert [p.name for p in found] == [s]
        assert await suite_db.find(Person.name.contains(s)).count().or_raise() >= 1
    assert await suite_db.find(Person).count().or_raise() == len(corpus)


async def test_aware_datetimes_at_the_ends_of_the_utc_range_round_trip(suite_db: Ommi) -> None:
    low = datetime(1, 1, 1, tzinfo=UTC)
    high = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    await suite_db.add(Sample(s="low", adt=low), Sample(s="high", adt=high)).or_raise()
    got = {s.s: s.adt for s in await suite_db.find(Sample).all().or_raise()}
    assert got == {"low": low, "high": high}
    assert all(v is not None and v.utcoffset() is not None for v in got.values())
    assert await suite_db.find(Sample.adt > low).count().or_raise() == 1


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
)
async def test_aware_datetimes_outside_the_utc_range_are_refused_before_writing(
    suite_db: Ommi, value: datetime
) -> None:
    result = await suite_db.add(Sample(s="ok"), Sample(s="bad", adt=value))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError)
    assert await suite_db.find(Sample).count().or_raise() == 0
    assert await suite_db.find(Sample).all().or_raise() == []


async def test_a_string_that_is_not_unicode_is_refused_and_nothing_is_stored(suite_db: Ommi) -> None:
    result = await suite_db.add(Sample(s="ok"), Sample(s="lone \ud800 surrogate"))
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    assert await suite_db.find(Sample).count().or_raise() == 0


async def test_a_stored_value_the_field_cannot_take_is_a_validation_error_on_reading(suite_db: Ommi) -> None:
    """Another program stored a color the Enum lacks: reading it says so (never a bare error)."""
    from dataclasses import dataclass

    from ommi import Key, ModelCollection, ommi_model

    raw = ModelCollection("ommi-conformance-raw-sample")

    @ommi_model(collection=raw, name="Sample")  # the same table, read without the Enum
    @dataclass
    class RawSample:
        color: str | None = None
        id: Annotated[int | None, Key] = None

    await suite_db.add(RawSample(color="purple")).or_raise()
    result = await suite_db.find(Sample).all()
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
    assert "cannot read" in str(result.error) and "Sample.color" in str(result.error)
    assert "purple" not in str(result.error)
    streamed = [s async for s in suite_db.find(RawSample)]
    assert [s.color for s in streamed] == ["purple"]
    with pytest.raises(errors.ValidationError) as caught:
        [s async for s in suite_db.find(Sample)]
    assert "Sample.color" in str(caught.value) and "purple" not in str(caught.value), caught.value
    with pytest.raises(errors.ValidationError) as caught:
        [b async for b in suite_db.find(Sample).batches(10)]
    assert "Sample.color" in str(caught.value) and "purple" not in str(caught.value), caught.value


async def test_a_stored_value_the_field_cannot_take_is_a_validation_error_for_values_and_aggregates(
    suite_db: Ommi,
) -> None:
    """As for whole instances: values(), streamed or not, and aggregates that return the field's values."""
    from dataclasses import dataclass

    from ommi import Key, Min, ModelCollection, ommi_model

    raw = ModelCollection("ommi-conformance-raw-sample-values")

    @ommi_model(collection=raw, name="Sample")  # the same table, written without the Enum
    @dataclass
    class RawSample:
        color: str | None = None
        id: Annotated[int | None, Key] = None

    await suite_db.add(Sample(s="fine", color=Color.RED)).or_raise()
    await suite_db.add(RawSample(color="purple")).or_raise()
    for result in (
        await suite_db.find(Sample).values(Sample.color).all(),
        await suite_db.find(Sample).group_by(Sample.color).aggregate(n=Count()),
        await suite_db.find(Sample).aggregate(low=Min(Sample.color)),  # 'purple' < 'red'
    ):
        assert isinstance(result, DBFailure) and isinstance(result.error, errors.ValidationError), result
        assert "color" in str(result.error) and "purple" not in str(result.error), result.error
    with pytest.raises(errors.ValidationError) as caught:
        [v async for v in suite_db.find(Sample).values(Sample.color)]
    assert "color" in str(caught.value) and "purple" not in str(caught.value), caught.value
    with pytest.raises(errors.ValidationError) as caught:
        [b async for b in suite_db.find(Sample).values(Sample.color).batches(10)]
    assert "color" in str(caught.value) and "purple" not in str(caught.value), caught.value
    assert await suite_db.find(Sample).values(Sample.s).all().or_raise() == [("fine",), (None,)]
