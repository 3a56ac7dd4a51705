"""ommi: a portable, async object mapper for the model classes you already have.

::

    from dataclasses import dataclass
    from typing import Annotated
    from ommi import Ommi, ommi_model, Key

    @ommi_model
    @dataclass
    class User:
        name: str
        age: int
        id: Annotated[int | None, Key] = None

    async with Ommi.connect("sqlite:///app.db") as db:
        await db.schema().create_models().or_raise()
        await db.add(User("Alice", 31)).or_raise()
        adults = await db.find(User.age >= 18).all().or_raise()
"""

from typing import TYPE_CHECKING

from ommi import errors
from ommi._events import on
from ommi._fields import Auto, AwareDatetime, Index, Key, ReferenceTo, StoreAs, TZAware, Unique
from ommi._model import ModelCollection, default_collection, ommi_model
from ommi._observe import StatementEvent
from ommi._query import Query, ValuesQuery
from ommi._results import Action, DBFailure, DBResult, DBSuccess
from ommi._schema import Schema
from ommi._session import Ommi, Transaction
from ommi.query import Avg, Condition, Count, CountDistinct, ExprRef, FieldRef, Max, Min, Sum, col

if TYPE_CHECKING:
    from ommi._relations import AssociateUsing, LazyLoadEveryRelated, LazyLoadTheRelated, LazyMany, LazyOne, Via
else:
    # The relation declarations load when first named (``from ommi import LazyOne``,
    # ``ommi.LazyMany``): a program whose models declare no relation never needs them.
    _LAZY = frozenset({"AssociateUsing", "LazyLoadEveryRelated", "LazyLoadTheRelated", "LazyMany", "LazyOne", "Via"})

    def __getattr__(name: str):
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from ommi import _relations

        value = getattr(_relations, name)
        globals()[name] = value
        return value

    def __dir__():
        return sorted({*globals(), *_LAZY})

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AssociateUsing",
    "Auto",
    "Avg",
    "AwareDatetime",
    "Condition",
    "Count",
    "CountDistinct",
    "DBFailure",
    "DBResult",
    "DBSuccess",
    "ExprRef",
    "FieldRef",
    "Index",
    "Key",
    "LazyLoadEveryRelated",
    "LazyLoadTheRelated",
    "LazyMany",
    "LazyOne",
    "Max",
    "Min",
    "ModelCollection",
    "Ommi",
    "Query",
    "ReferenceTo",
    "Schema",
    "StatementEvent",
    "StoreAs",
    "Sum",
    "TZAware",
    "Transaction",
    "Unique",
    "ValuesQuery",
    "Via",
    "__version__",
    "col",
    "default_collection",
    "errors",
    "ommi_model",
    "on",
]
