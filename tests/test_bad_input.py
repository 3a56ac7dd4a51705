"""Bad input to the API: each mistake is a clear OmmiError subclass naming the problem, promptly.

Never a raw driver exception, never the password, never a hang (every call
here runs under a timeout).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

import pytest

from ommi import AwareDatetime, DBFailure, Key, ModelCollection, Ommi, errors, ommi_model

coll = ModelCollection("bad-input")
SECRET = "Hunter2-Secret-0451"


@ommi_model(collection=coll)
@dataclass
class Thing:
    name: str
    count: int
    price: Decimal | None = None
    at: AwareDatetime | None = None
    id: Annotated[int | None, Key] = None


@ommi_model(collection=ModelCollection("bad-input-missing"))
@dataclass
class NeverCreated:
    name: str
    id: Annotated[int | None, Key] = None


@pytest.fixture
async def db(ommi_url: str) -> Any:
    async with Ommi.connect(ommi_url) as handle:
        await handle.schema(coll).delete_models().or_raise()
        await handle.schema(coll).create_models().or_raise()
        try:
            yield handle
        finally:
            await handle.schema(coll).delete_models().or_raise()


async def _fails(action: Any, kind: type[errors.OmmiError], *words: str) -> errors.OmmiError:
    result = await asyncio.wait_for(action, timeout=20)
    assert isinstance(result, DBFailure), result
    assert isinstance(result.error, kind), repr(result.error)
    for word in words:
        assert word in str(result.error), (word, str(result.error))
    return result.error


async def test_wrong_value_types_are_validation_errors(db: Ommi) -> None:
    await _fails(db.add(Thing("a", "three")), errors.ValidationError, "Thing.count")  # type: ignore[arg-type]
    await _fails(db.add(Thing("a", 2**63)), errors.ValidationError, "64-bit")
    await _fails(db.add(Thing("a", 1, price=Decimal("NaN"))), errors.ValidationError, "Thing.price")
    await _fails(db.add(Thing("a", 1, at=datetime(2024, 1, 1))), errors.ValidationError, "naive")
    await _fails(db.add(Thing(None, 1)), errors.ValidationError, "Thing.name")  # type: ignore[arg-type]
    assert await db.find(Thing).count().or_raise() == 0


async def test_aware_datetimes_at_the_edge_of_the_calendar(db: Ommi) -> None:
    """year 1 at +05:00 is in year 0 in UTC, which Python cannot represent: refused or stored, never raw."""
    edge = datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    result = await asyncio.wait_for(db.add(Thing("edge", 1, at=edge)), timeout=20)
    if isinstance(result, DBFailure):
        assert isinstance(result.error, errors.ValidationError), repr(result.error)


async def test_unknown_fields_and_bad_values_in_update(db: Ommi) -> None:
    await db.add(Thing("a", 1)).or_raise()
    await _fails(db.find(Thing).update(colour="red"), errors.OmmiError, "colour")
    await _fails(db.find(Thing).update(count="many"), errors.ValidationError, "Thing.count")
    assert (await db.find(Thing).one().or_raise()).count == 1


def test_comparing_a_field_with_an_incompatible_type() -> None:
    with pytest.raises(errors.ValidationError, match="Thing.count"):
        Thing.count == "three"  # noqa: B015
    with pytest.raises(errors.ValidationError):
        Thing.count.in_([1, "two"])
    with pytest.raises(errors.QueryError):
        Thing.count < None  # noqa: B015
    with pytest.raises(errors.QueryError):
        Thing.count.like("1%")
    with pytest.raises(errors.ValidationError):
        Thing.name.contains(5)  # type: ignore[arg-type]


async def test_a_model_whose_table_does_not_exist(db: Ommi) -> None:
    await _fails(db.find(NeverCreated).count(), errors.SchemaError, "create_models")
    await _fails(db.add(NeverCreated("x")), errors.SchemaError)


@pytest.mark.parametrize(
    "url",
    [
        "nosuchdb://x",
        "postgresql://",
        "postgresql://u:" + SECRET + "@host:notaport/db",
        "sqlite://host/x.db?timeout=soon",
        "duckdb:///x.duckdb?threads=many",
        "mongodb://u:" + SECRET + "@/",
        "not a url",
    ],
)
async def test_malformed_urls(url: str) -> None:
    try:
        db = Ommi.connect(url)
    except errors.OmmiError as exc:
        assert SECRET not in str(exc) and SECRET not in repr(exc)
        return
    result = await asyncio.wait_for(db.find(Thing).count(), timeout=20)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.OmmiError), result
    assert SECRET not in str(result.error)
    await db.close()


@pytest.mark.parametrize("scheme", ["postgresql", "mongodb"])
async def test_unreachable_host_fails_promptly_without_the_password(scheme: str) -> None:
    db = Ommi.connect(f"{scheme}://someone:{SECRET}@10.255.255.1:9/app?timeout=2")
    result = await asyncio.wait_for(db.find(Thing).count(), timeout=20)
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.ConnectionFailed), result
    text, exc = [], result.error
    while exc is not None:
        text.append(f"{exc} {exc!r}")
        exc = exc.__cause__ or exc.__context__
    assert all(SECRET not in t for t in text)
    await db.close()
