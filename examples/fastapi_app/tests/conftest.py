import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ommi import ModelCollection, Ommi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app, models

pytest_plugins = ["ommi.testing.plugin"]


@pytest.fixture
def ommi_collection() -> ModelCollection:
    return models


@pytest.fixture
async def client(ommi_db: Ommi, ommi_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service on the test database (emptied by ommi_db), started and stopped
    around the test as a server would (ASGITransport does not run the lifespan)."""
    app = create_app(ommi_db_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bank.test") as http:
            yield http
