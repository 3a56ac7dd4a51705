"""The one exception tree of ommi.

Every error a user of ommi sees is an :class:`OmmiError`. Drivers translate
native exceptions where they cross into ommi and keep the native exception as
``__cause__`` (``raise IntegrityError(msg) from exc``).

::

    OmmiError
    ├── ModelError            a model class or field declaration is unusable
    ├── ValidationError       a value does not fit the field it is meant for
    ├── ConnectionFailed      the database cannot be reached or went away
    ├── QueryError            a query is malformed or the database rejected it
    │   ├── NotFound          one()/get() matched nothing
    │   └── MultipleFound     one() matched more than one row
    ├── IntegrityError        duplicate key, unique or foreign-key violation
    ├── SchemaError           the schema is missing, inconsistent or cannot change
    │   ├── MissingTable      a model's table (collection) does not exist
    │   └── MigrationError    a migration cannot be made, applied or reverted
    ├── TransactionError      commit/rollback misuse or a failed transaction
    └── UnsupportedError      the driver lacks a capability the call needs
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "ConnectionFailed",
    "IntegrityError",
    "IntegrityKind",
    "MigrationError",
    "MissingTable",
    "ModelError",
    "MultipleFound",
    "NotFound",
    "OmmiError",
    "QueryError",
    "SchemaError",
    "TransactionError",
    "UnsupportedError",
    "ValidationError",
]


class OmmiError(Exception):
    """Base class of every error ommi raises or returns in a ``DBFailure``."""


class ModelError(OmmiError):
    """A model class, field annotation or field metadata cannot be used."""


class ValidationError(OmmiError):
    """A value cannot be stored in (or compared with) the field it was given for."""


class ConnectionFailed(OmmiError):
    """The database could not be reached, or the connection was lost."""


class QueryError(OmmiError):
    """A query is malformed, or the database rejected it."""


class NotFound(QueryError):
    """A lookup that needs exactly one match (``one()``, ``get()``) found none."""


class MultipleFound(QueryError):
    """``one()`` matched more than one row."""


IntegrityKind = Literal["unique", "key", "reference", "not_null"]


class IntegrityError(OmmiError):
    """A write broke a key, unique, reference or NOT NULL constraint.

    The same failure carries the same details on every backend:

    * ``model``: the model class written (or deleted);
    * ``fields``: the ommi field names at fault, e.g. ``("email",)`` (empty for
      a delete refused because other rows still refer to the row);
    * ``kind``: ``"unique"``, ``"key"``, ``"reference"`` or ``"not_null"``.

    The message says it in ommi's terms (``User.email: value already exists``)
    and never shows the values; the database's own error is ``__cause__``.
    """

    def __init__(
        self,
        message: str = "",
        *,
        model: type | None = None,
        fields: tuple[str, ...] = (),
        kind: IntegrityKind | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.fields = fields
        self.kind = kind

    @classmethod
    def about(
        cls, model: type, kind: IntegrityKind, fields: tuple[str, ...] = (), *, referrer: str = ""
    ) -> IntegrityError:
        """The error for ``kind`` on ``fields`` of ``model``, with its message in ommi's terms.

        ``referrer`` names the field of another model that still refers to a
        row whose deletion was refused (``"Post.author_id"``).
        """
        name = model.__name__
        where = ", ".join(f"{name}.{f}" for f in fields) or name
        if kind in ("unique", "key"):
            text = f"{where}: {'value already exists' if len(fields) < 2 else 'values already exist'}"
        elif kind == "not_null":
            text = f"{where}: cannot be NULL"
        elif fields:
            text = f"{where}: refers to a row that does not exist"
        else:
            text = f"{name}: still referred to" + (f" by {referrer}" if referrer else " by other rows")
        return cls(text, model=model, fields=fields, kind=kind)


class SchemaError(OmmiError):
    """The schema is missing, inconsistent, or could not be changed."""


class MissingTable(SchemaError):
    """A statement named a model whose table (or collection) does not exist; the message says how to create it."""


class MigrationError(SchemaError):
    """A migration cannot be made, applied or reverted, or the history is inconsistent.

    ``refused`` is true when ommi declined on purpose (an irreversible step in
    ``down``, a possible rename nobody decided on) rather than failing.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class TransactionError(OmmiError):
    """A transaction was misused, or the database could not complete it.

    ``retryable`` is true for a conflict with concurrent work (a serialization
    failure, a deadlock, a write conflict): running the transaction again may
    succeed (``db.in_transaction(fn, retries=...)`` does it).
    """

    def __init__(self, message: str = "", *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class UnsupportedError(OmmiError):
    """The driver does not support what the call needs (see its capabilities)."""
