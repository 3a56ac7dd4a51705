"""A small FastAPI service on ommi: accounts and transfers between them.

- The lifespan opens one ``Ommi`` when the service starts (creating missing
  tables) and closes it when the service stops.
- A dependency (``Database``) hands that ``Ommi`` to the routes.
- ``POST /transfers`` runs in a transaction: both balances change, or neither.
- Failed actions (``DBFailure``) become HTTP errors in one place, ``http_error``,
  with ``match`` on the error's type.

Run it with an ASGI server, e.g. ``pip install uvicorn`` and
``OMMI_DATABASE_URL=sqlite:///bank.db uvicorn app:app --app-dir examples/fastapi_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request

from ommi import DBFailure, DBSuccess, Key, ModelCollection, Ommi, Unique, errors, ommi_model

models = ModelCollection("bank")


@ommi_model(collection=models)
class Account(pydantic.BaseModel):
    """An account; its pydantic constraints also hold for every write ommi makes."""

    owner: Annotated[str, Unique, pydantic.Field(min_length=1, max_length=40)]
    balance: int = pydantic.Field(default=0, ge=0)
    id: Annotated[int | None, Key] = None


class NewAccount(pydantic.BaseModel):
    owner: str
    balance: int = 0


class TransferRequest(pydantic.BaseModel):
    source: int
    target: int
    amount: int = pydantic.Field(gt=0)


class TransferDone(pydantic.BaseModel):
    source: Account
    target: Account


def http_error(error: errors.OmmiError) -> HTTPException:
    """The HTTP answer to a failed database action."""
    match error:
        case errors.NotFound():
            return HTTPException(404, str(error))
        case errors.IntegrityError():
            return HTTPException(409, "that conflicts with existing data (a duplicate or a missing reference)")
        case errors.ValidationError():
            return HTTPException(422, str(error))
        case errors.TransactionError():
            # e.g. two concurrent transfers touched the same account: the client may retry
            return HTTPException(409, "the change conflicted with another one; retry it")
        case errors.ConnectionFailed():
            return HTTPException(503, "the database is not available")
        case _:
            return HTTPException(500, "database error")  # details stay in the server's log


def get_db(request: Request) -> Ommi:
    """The service's ``Ommi``, opened by the lifespan."""
    db: Ommi = request.app.state.db
    return db


Database = Annotated[Ommi, Depends(get_db)]
router = APIRouter()


@router.post("/accounts", status_code=201)
async def open_account(new: NewAccount, db: Database) -> Account:
    try:
        account = Account(owner=new.owner, balance=new.balance)
    except pydantic.ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_input=False)) from exc
    match await db.add(account):
        case DBSuccess([stored]):
            return stored  # type: ignore[no-any-return]
        case DBFailure(error):
            raise http_error(error)
    raise AssertionError("unreachable")


@router.get("/accounts/{account_id}")
async def get_account(account_id: int, db: Database) -> Account:
    match await db.get(Account, account_id):
        case DBSuccess(account):
            return account
        case DBFailure(error):
            raise http_error(error)
    raise AssertionError("unreachable")


@router.get("/accounts")
async def list_accounts(db: Database, min_balance: int = 0) -> list[Account]:
    match await db.find(Account.balance >= min_balance).order_by(Account.id).all():
        case DBSuccess(accounts):
            return accounts
        case DBFailure(error):
            raise http_error(error)
    raise AssertionError("unreachable")


@router.post("/transfers")
async def transfer(request: TransferRequest, db: Database) -> TransferDone:
    """Move money between two accounts: in one transaction, so both change or neither does."""
    try:
        async with db.transaction() as tx:
            source = await tx.get(Account, request.source).or_raise()
            if source.balance < request.amount:
                raise HTTPException(409, "insufficient funds")  # leaving the block rolls back
            source.balance -= request.amount
            await tx.save(source).or_raise()
            target = await tx.get(Account, request.target).or_raise()  # NotFound undoes the debit
            target.balance += request.amount
            await tx.save(target).or_raise()
    except errors.OmmiError as error:
        raise http_error(error) from error
    return TransferDone(source=source, target=target)


def create_app(url: str | None = None) -> FastAPI:
    """The service on the database at ``url`` (default: ``$OMMI_DATABASE_URL``, else in-memory SQLite)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Ommi.connect(url) as db:  # closed when the service stops
            await db.schema(models).create_models().or_raise()  # creates what is missing, keeps data
            app.state.db = db
            yield

    app = FastAPI(title="ommi bank", lifespan=lifespan)
    app.include_router(router)
    return app


app = create_app()
