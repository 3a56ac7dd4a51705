from pathlib import Path

import httpx
from app import Account, create_app

from ommi import DBFailure, errors


async def open_account(client: httpx.AsyncClient, owner: str, balance: int = 0) -> dict:
    response = await client.post("/accounts", json={"owner": owner, "balance": balance})
    assert response.status_code == 201, response.text
    return response.json()


async def test_open_read_and_list_accounts(client: httpx.AsyncClient) -> None:
    ann = await open_account(client, "Ann", 100)
    bob = await open_account(client, "Bob")
    assert ann["id"] != bob["id"]
    assert (await client.get(f"/accounts/{ann['id']}")).json() == ann
    listed = await client.get("/accounts", params={"min_balance": 1})
    assert listed.json() == [ann]


async def test_database_failures_become_http_errors(client: httpx.AsyncClient) -> None:
    await open_account(client, "Ann")
    duplicate = await client.post("/accounts", json={"owner": "Ann"})
    assert duplicate.status_code == 409
    missing = await client.get("/accounts/999999")
    assert missing.status_code == 404
    negative = await client.post("/accounts", json={"owner": "Cy", "balance": -5})
    assert negative.status_code == 422


async def test_a_transfer_changes_both_accounts_or_neither(client: httpx.AsyncClient) -> None:
    ann = await open_account(client, "Ann", 100)
    bob = await open_account(client, "Bob", 5)

    done = await client.post("/transfers", json={"source": ann["id"], "target": bob["id"], "amount": 30})
    assert done.status_code == 200, done.text
    assert (done.json()["source"]["balance"], done.json()["target"]["balance"]) == (70, 35)

    too_much = await client.post("/transfers", json={"source": bob["id"], "target": ann["id"], "amount": 500})
    assert too_much.status_code == 409
    # the debit was saved, then the target was missing: the transaction undid it
    nowhere = await client.post("/transfers", json={"source": ann["id"], "target": 999999, "amount": 10})
    assert nowhere.status_code == 404
    balances = [a["balance"] for a in (await client.get("/accounts")).json()]
    assert balances == [70, 35]


async def test_the_service_starts_again_on_the_same_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    for run in range(2):
        app = create_app(url)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await open_account(c, f"owner {run}")
            owners = [a["owner"] for a in (await c.get("/accounts")).json()]
        assert owners == [f"owner {r}" for r in range(run + 1)]
        closed = await app.state.db.find(Account).count()  # the lifespan closed it with the service
        assert isinstance(closed, DBFailure) and isinstance(closed.error, errors.ConnectionFailed)
