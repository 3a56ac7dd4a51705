"""Translate ommi's query AST to MongoDB filters and sorts, and models to documents.

Storage layout (see docs/backends/mongodb.md for the full table):

* the model key is ``_id``; a composite key is an ``_id`` subdocument holding
  the key columns in key order (so equality on the whole key uses the ``_id``
  index);
* a ``None`` field is *absent* from the document. MongoDB treats a missing field
  as null in ``$eq: null``, ``$ne``, ``$in``/``$nin`` and in sorts, and a unique
  index with ``partialFilterExpression: {field: {$exists: true}}`` then allows
  any number of NULLs, exactly like SQL;
* values are encoded so that BSON comparison order is ommi's order: datetimes,
  dates and times as fixed-width ISO text, bytes as lowercase hex (BSON orders
  binary data by length first), JSON as canonical JSON text (exact round trip,
  and a key such as ``$where`` is never seen by the server as an operator).

Every value in a filter sits under an explicit operator (``$eq``, ``$in``,
``$gt``...), so no user value is ever read as an operator.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, DecimalException
from typing import Any, assert_never

from bson.decimal128 import Decimal128

from ommi import errors
from ommi.driver import (
    NO_DEFAULT,
    FieldInfo,
    Kind,
    ModelInfo,
    aggregate_fields,
    json_text,
    json_value,
    model_info,
    unreadable_row,
)
from ommi.query import (
    Agg,
    AggCompare,
    AggFunc,
    AggOrder,
    Aggregate,
    And,
    Arith,
    ArithOp,
    Between,
    CaseFunc,
    Compare,
    CompareExpr,
    Expr,
    Field,
    In,
    InValues,
    IsNull,
    Like,
    LikeExpr,
    Neg,
    Not,
    Op,
    Or,
    OrderBy,
    Predicate,
    Related,
    TextCase,
    Value,
    Wildcard,
    like_tokens,
)

__all__ = ["OVERFLOW", "InexactSum", "ModelPlan", "MongoCompiler", "like_to_regex"]

OVERFLOW = "ommi: integer overflow"
"""The text a checked integer expression fails to convert when its result leaves 64 bits."""
_INT64_MIN, _INT64_MAX = Decimal128("-9223372036854775808"), Decimal128("9223372036854775807")
_ARITH_OPS = {ArithOp.ADD: "$add", ArithOp.SUB: "$subtract", ArithOp.MUL: "$multiply"}
_EXPR_OPS = {Op.EQ: "$eq", Op.NE: "$ne", Op.LT: "$lt", Op.LE: "$lte", Op.GT: "$gt", Op.GE: "$gte"}

Codec = Callable[[Any], Any] | None
Filter = dict[str, Any]

# A filter no document matches: the complement of the empty (match-all) filter.
MATCH_NOTHING: Filter = {"$nor": [{}]}

_OPS = {Op.EQ: "$eq", Op.NE: "$ne", Op.LT: "$lt", Op.LE: "$lte", Op.GT: "$gt", Op.GE: "$gte"}

# Regex pieces that mean the same in PCRE (MongoDB) and in other engines that
# speak MongoDB's wire protocol (secantusdb uses Python's `re`): "[\s\S]" is any
# character including newlines without relying on the `s` flag, and a negative
# lookahead is the absolute end of the text (`$` also matches before a final
# newline, and `\z` is PCRE-only).
_ANY_CHAR = r"[\s\S]"
_END = r"(?![\s\S])"


def _regex_literal(ch: str) -> str:
    # Escape every ASCII character that is not a letter or digit (a backslash
    # before ASCII punctuation is always a literal in PCRE and in Python's re);
    # control characters become \xHH. Non-ASCII characters are never special.
    if ch.isascii() and not ch.isalnum():
        if "!" <= ch <= "~":
            return "\\" + ch
        return f"\\x{ord(ch):02x}"
    return ch


def like_to_regex(pattern: str) -> str:
    """Translate a like pattern to an anchored, case-sensitive regex.

    A leading or trailing ``%`` drops the anchor instead of adding ``[\\s\\S]*``,
    so ``startswith`` gives a ``^prefix`` regex that MongoDB can answer from an
    index.
    """
    tokens = list(like_tokens(pattern))
    head, tail = "^", _END
    if tokens and tokens[0] is Wildcard.ANY:
        head = ""
        del tokens[0]
    if tokens and tokens[-1] is Wildcard.ANY:
        tail = ""
        del tokens[-1]
    body = "".join(
        _ANY_CHAR + "*" if t is Wildcard.ANY else _ANY_CHAR if t is Wildcard.ONE else "".join(map(_regex_literal, t))
        for t in tokens
    )
    return head + body + tail


# -- value codecs -----------------------------------------------------------------


def _datetime_text(v: datetime) -> str:
    # Fixed width (always microseconds) so text order is time order; BSON dates
    # would drop the microseconds.
    return v.isoformat(timespec="microseconds")


def _aware_text(v: datetime) -> str:
    # The UTC instant with a constant "+00:00" suffix: text order is instant order.
    return v.astimezone(UTC).isoformat(timespec="microseconds")


def _time_text(v: time) -> str:
    return v.isoformat(timespec="microseconds")


def _enum_value(v: Any) -> Any:
    return v.value


def _from_decimal128(v: Any) -> Decimal:
    if isinstance(v, Decimal128):
        return v.to_decimal()
    return Decimal(v)


def _from_hex(v: Any) -> bytes:
    return bytes.fromhex(v) if isinstance(v, str) else bytes(v)


def _to_float(v: Any) -> float:
    return float(v)


def _where(f: FieldInfo) -> str:
    return f"{f.model.cls.__qualname__}.{f.name}"


def _decimal_encoder(f: FieldInfo) -> Callable[[Decimal], Decimal128]:
    where = _where(f)

    def encode(v: Decimal) -> Decimal128:
        try:
            return Decimal128(v)
        except DecimalException as exc:
            raise errors.ValidationError(
                f"{where}: {v} does not fit MongoDB's Decimal128 exactly (at most 34 significant digits, "
                "exponent -6176..6111)"
            ) from exc

    return encode


def encoder_for(f: FieldInfo) -> Codec:
    """Python value -> stored BSON value for one field (``None``: store as is)."""
    kind = f.kind
    if kind is Kind.DECIMAL:
        return _decimal_encoder(f)
    if kind is Kind.DATETIME:
        return _aware_text if f.aware else _datetime_text
    if kind is Kind.DATE:
        return date.isoformat
    if kind is Kind.TIME:
        return _time_text
    if kind is Kind.BYTES:
        return bytes.hex
    if kind is Kind.ENUM:
        return _enum_value
    if kind is Kind.JSON:
        return json_text
    return None  # str, int, float, bool, UUID (binary subtype 4) are native BSON


def decoder_for(f: FieldInfo) -> Codec:
    """Stored BSON value -> Python value for one field (``None``: use as is)."""
    kind = f.kind
    if kind is Kind.DECIMAL:
        return _from_decimal128
    if kind is Kind.DATETIME:
        return datetime.fromisoformat
    if kind is Kind.DATE:
        return date.fromisoformat
    if kind is Kind.TIME:
        return time.fromisoformat
    if kind is Kind.BYTES:
        return _from_hex
    if kind is Kind.ENUM:
        return f.py_type  # type: ignore[no-any-return]
    if kind is Kind.JSON:
        return json_value
    if kind is Kind.FLOAT:
        return _to_float  # a document written elsewhere may hold an int
    if kind is Kind.INT:
        return int  # values past 32 bits come back as bson.Int64, an int subclass
    return None


# -- per-model plans --------------------------------------------------------------


@dataclass(eq=False)
class ModelPlan:
    """Everything precomputed for one model: paths, codecs, document builders.

    The dumpers and the loader are generated code, each compiled when first
    used (as the SQL plans': a model only read never compiles its dumpers).
    """

    info: ModelInfo
    collection: str
    paths: tuple[str, ...]
    """The document path of each field, in field order (``_id``, ``_id.col`` or ``col``)."""
    encoders: tuple[Codec, ...]
    """Per field, what converts a value to what is stored (``None``: the value as it is)."""
    decoders: tuple[Codec, ...]
    """Per field, what converts a stored value back (``None``: the value as it is)."""
    to_doc: Callable[[Sequence[Any]], dict[str, Any]]
    """Encoded row -> document (``None`` values left out)."""
    auto_index: int | None
    """Field position of the generated integer key, if any."""
    composite: bool
    unique: tuple[int, ...]
    """Field positions with a ``Unique`` marker (key fields excluded: ``_id`` is unique)."""
    indexed: tuple[int, ...]
    """Field positions with an ``Index`` marker (and no ``Unique``)."""

    @functools.cached_property
    def dump(self) -> Callable[[Any], tuple[Any, ...]]:
        """Instance -> validated row of encoded values (raises ``ValidationError``)."""
        return self.info.dumper(self.encoders)

    @functools.cached_property
    def dump_many(self) -> Callable[[Sequence[Any]], list[tuple[Any, ...]]]:
        """``dump`` of many instances at once (the same rows and errors, faster)."""
        return self.info.bulk_dumper(self.encoders, one=self.dump)

    @functools.cached_property
    def load(self) -> Callable[[dict[str, Any]], Any]:
        """Document -> model instance."""
        return _make_load(self.info, self.decoders)


def _path(f: FieldInfo) -> str:
    if f.key:
        return "_id" if len(f.model.key) == 1 else "_id." + f.column
    return f.column


def _make_to_doc(info: ModelInfo) -> Callable[[Sequence[Any]], dict[str, Any]]:
    key_pos = [i for i, f in enumerate(info.fields) if f.key]
    other = [(i, f.column) for i, f in enumerate(info.fields) if not f.key]
    if not key_pos:

        def keyless(row: Sequence[Any]) -> dict[str, Any]:
            return {c: row[i] for i, c in other if row[i] is not None}

        return keyless
    if len(key_pos) == 1:
        k = key_pos[0]

        def single(row: Sequence[Any]) -> dict[str, Any]:
            doc = {"_id": row[k]}
            for i, c in other:
                v = row[i]
                if v is not None:
                    doc[c] = v
            return doc

        return single
    key_cols = [(i, info.fields[i].column) for i in key_pos]

    def composite(row: Sequence[Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": {c: row[i] for i, c in key_cols}}
        for i, c in other:
            v = row[i]
            if v is not None:
                doc[c] = v
        return doc

    return composite


def _absent_value(f: FieldInfo) -> Any:
    """The stored value to assume when a document lacks the field.

    ``None`` is stored as an absent field, so absent means NULL for optional
    fields. A required field is absent only from documents written before the
    field was added to the model: like a SQL column added with a default, it
    reads as the field's plain default, if it has one.
    """
    if f.nullable or f.key or f.default is NO_DEFAULT or f.default is None:
        return None
    if not isinstance(f.default, (str, int, float, bool, Decimal, date, time, uuid.UUID, enum.Enum)):
        return None  # mutable or computed defaults have no single stored value
    try:
        enc = encoder_for(f)
        return f.default if enc is None else enc(f.check(f.default))
    except errors.OmmiError:
        return None


def _make_load(info: ModelInfo, decoders: Sequence[Codec]) -> Callable[[dict[str, Any]], Any]:
    loader = info.loader(decoders)
    if len(info.key) > 1:
        spec = [(f.column, f.key, _absent_value(f)) for f in info.fields]

        def composite(doc: dict[str, Any]) -> Any:
            sub = doc["_id"]
            return loader([sub.get(c) if k else doc.get(c, absent) for c, k, absent in spec])

        return composite
    names = [("_id" if f.key else f.column, _absent_value(f)) for f in info.fields]

    def plain(doc: dict[str, Any]) -> Any:
        get = doc.get
        return loader([get(n, absent) for n, absent in names])

    return plain


class MongoCompiler:
    """Compile statement parts for MongoDB; caches one :class:`ModelPlan` per model."""

    def __init__(self) -> None:
        self._plans: dict[type, ModelPlan] = {}
        self._encoders: dict[FieldInfo, Codec] = {}
        self._paths: dict[FieldInfo, str] = {}

    def plan(self, model: type) -> ModelPlan:
        """The cached plan of a model class."""
        plan = self._plans.get(model)
        if plan is None:
            plan = self._plans[model] = self._make_plan(model_info(model))
        return plan

    def _make_plan(self, info: ModelInfo) -> ModelPlan:
        if "$" in info.name:
            raise errors.ModelError(
                f"model {info.cls.__name__}: MongoDB collection names cannot contain '$' ({info.name!r})"
            )
        for f in info.fields:
            if f.column == "_id" and not (f.key and len(info.key) == 1):
                raise errors.ModelError(
                    f"{info.cls.__name__}.{f.name}: '_id' is MongoDB's key field; only the model's single key "
                    "field may be stored as '_id'"
                )
            if f.key and len(info.key) == 1:
                continue  # stored as _id whatever its column name
            if f.column.startswith("$") or "." in f.column:
                # '$' starts an operator and '.' separates a path: such a field
                # could be neither matched nor updated
                raise errors.ModelError(
                    f"{info.cls.__name__}.{f.name}: MongoDB field names cannot start with '$' or contain '.' "
                    f"({f.column!r}); store the field under another name with StoreAs(...)"
                )
        return ModelPlan(
            info=info,
            collection=info.name,
            paths=tuple(_path(f) for f in info.fields),
            encoders=tuple(encoder_for(f) for f in info.fields),
            decoders=tuple(decoder_for(f) for f in info.fields),
            to_doc=_make_to_doc(info),
            auto_index=info.fields.index(info.auto_key) if info.auto_key is not None else None,
            composite=len(info.key) > 1,
            unique=tuple(i for i, f in enumerate(info.fields) if f.unique and not f.key),
            indexed=tuple(i for i, f in enumerate(info.fields) if f.index and not f.unique and not f.key),
        )

    # -- values and paths -------------------------------------------------------

    def path(self, f: FieldInfo) -> str:
        """The document path of a field."""
        p = self._paths.get(f)
        if p is None:
            p = self._paths[f] = _path(f)
        return p

    def encode(self, f: FieldInfo, value: Any) -> Any:
        """Encode one (validated) Python value as stored for field ``f``."""
        if value is None:
            return None
        try:
            enc = self._encoders[f]
        except KeyError:
            enc = self._encoders[f] = encoder_for(f)
        return value if enc is None else enc(value)

    # -- filters ----------------------------------------------------------------

    def filter(self, where: Predicate | None, resolved: Mapping[int, list[Any]] | None = None) -> Filter:
        """The MongoDB filter document for a predicate (``{}`` matches everything).

        ``resolved`` maps ``id(node)`` of each :class:`Related` node to the stored
        values its first hop's source field must take (see :meth:`related_steps`).
        """
        if where is None:
            return {}
        return _FilterBuilder(self, resolved or {}, None, None).pred(where)

    def related_steps(self, node: Related) -> list[tuple[str, str, str | None]]:
        """How to resolve a :class:`Related` node: ``(collection, distinct_path, in_path)`` per hop, innermost first.

        MongoDB has no correlated subquery in a plain filter, so the driver runs a
        semi-join from the far end: the innermost step is ``distinct(target path)``
        over the rows matching ``node.where``; every further step is
        ``distinct(target path)`` over the rows whose ``in_path`` is among the
        values found so far. The values finally found are what the first hop's
        source field must equal.
        """
        steps: list[tuple[str, str, str | None]] = []
        hops = list(node.path)
        for i in range(len(hops) - 1, -1, -1):
            hop = hops[i]
            target = hop.target.info
            in_path = None if i == len(hops) - 1 else self.path(hops[i + 1].source.info)
            steps.append((target.model.name, self.path(target), in_path))
        return steps

    # -- aggregates -------------------------------------------------------------

    def aggregate_pipeline(
        self, stmt: Aggregate, match: Filter, *, exact: bool = True
    ) -> tuple[list[Filter], Callable[[dict[str, Any]], tuple[Any, ...]], bool]:
        """The aggregation pipeline for an :class:`Aggregate` statement, its row decoder, and whether it is inexact.

        ``match`` is the compiled ``stmt.where`` (the driver resolves references in it first).

        Sums of int fields are exact: each value is summed as a Decimal128, because
        MongoDB's own int64 sum silently turns into a double past 64 bits. That
        conversion costs more than the rest of a simple grouped sum, so with
        ``exact=False`` the sums of int fields that neither ``having`` nor the
        ordering uses (those the server compares) are summed natively, and the
        decoder raises :class:`InexactSum` on a sum that came back as anything
        but an int (mongod's double; secantusdb fails the command instead): the
        caller then runs the exact pipeline. The third value says whether any sum
        is native, that is whether the exact pipeline can differ.
        """
        names: dict[Agg, str] = {}
        ordered = [t.agg for t in stmt.order_by if isinstance(t, AggOrder)]
        compared = {*_aggs_in(stmt.having), *ordered}
        for agg in (*stmt.aggregates, *compared):
            names.setdefault(agg, f"a{len(names)}")
        accumulators: Filter = {}
        finish: Filter = {}
        empty: Filter = {}
        native: set[Agg] = set()
        for agg, name in names.items():
            fast = not exact and agg not in compared and _is_int_sum(agg)
            acc, fin, zero = self._accumulate(agg, name, native=fast)
            accumulators.update(acc)
            finish.update(fin)
            empty.update(zero)
            if fast:
                native.add(agg)
        group_id, group_paths = self._group_key(stmt.group_by)
        pipeline: list[Filter] = []
        if match:
            pipeline.append({"$match": match})
        group: Filter = {"$group": {"_id": group_id, **accumulators}}
        if stmt.group_by:
            pipeline.append(group)
        else:
            # Without GROUP BY, SQL returns one row even when nothing matches;
            # $facet always outputs one document, so fall back to the empty row.
            pipeline += [
                {"$facet": {"g": [group]}},
                {"$replaceRoot": {"newRoot": {"$ifNull": [{"$arrayElemAt": ["$g", 0]}, {"$literal": empty}]}}},
            ]
        if finish:
            pipeline.append({"$addFields": finish})
        if stmt.having is not None:
            pipeline.append({"$match": _FilterBuilder(self, {}, group_paths, names).pred(stmt.having)})
        orders = stmt.order_by or tuple(OrderBy(f) for f in stmt.group_by)
        sort: dict[str, int] = {}
        for term in orders:
            if isinstance(term, AggOrder):
                key = names[term.agg]
            else:
                assert isinstance(term.field, Field)  # grouped results order by group fields
                key = group_paths[term.field.info]
            sort.setdefault(key, -1 if term.descending else 1)
        if sort:
            pipeline.append({"$sort": sort})
        if stmt.offset:
            pipeline.append({"$skip": stmt.offset})
        if stmt.limit is not None:
            pipeline.append({"$limit": stmt.limit})
        agg_decoders = [(names[a], _native_int_sum if a in native else _agg_decoder(a)) for a in stmt.aggregates]
        return pipeline, _group_decoder(stmt, agg_decoders), bool(native)

    def _group_key(self, fields: Sequence[Field]) -> tuple[Any, dict[FieldInfo, str]]:
        """The ``$group`` ``_id`` of the group fields, and where each one is in the output."""
        if not fields:
            return None, {}
        if len(fields) == 1:
            # a plain field: $group puts a missing field and null in one group (_id null), SQL's NULL group
            return "$" + self.path(fields[0].info), {fields[0].info: "_id"}
        # in a subdocument a missing field is left out (a group of its own): $ifNull makes it null
        key = {f"g{i}": {"$ifNull": ["$" + self.path(f.info), None]} for i, f in enumerate(fields)}
        return key, {f.info: f"_id.g{i}" for i, f in enumerate(fields)}

    def _accumulate(self, agg: Agg, name: str, *, native: bool = False) -> tuple[Filter, Filter, Filter]:
        """``$group`` accumulators, ``$addFields`` finishing expressions and the empty-input values of one aggregate.

        ``native``: an int sum in int64 (see :meth:`aggregate_pipeline`).
        """
        func = agg.func
        if agg.field is None:
            return {name: {"$sum": 1}}, {}, {name: 0}
        path = "$" + self.path(agg.field.info)
        value: Any = path
        if func is AggFunc.COUNT:
            present = {"$cond": [{"$eq": [{"$ifNull": [value, None]}, None]}, 0, 1]}
            return {name: {"$sum": present}}, {}, {name: 0}
        if func is AggFunc.COUNT_DISTINCT:
            distinct = {"$filter": {"input": "$" + name, "cond": {"$ne": ["$$this", None]}}}
            return {name: {"$addToSet": value}}, {name: {"$size": distinct}}, {name: []}
        if agg.field.info.kind is Kind.INT and func in (AggFunc.SUM, AggFunc.AVG) and not native:
            # MongoDB sums int64 values in an int64 that silently turns into a
            # double on overflow; Decimal128 keeps the sum (and so the mean) exact
            value = {"$toDecimal": value}
        if func is AggFunc.SUM:
            if agg.field.info.key:
                # a key is never NULL, so each group has values (no rows at all: the empty row below)
                return {name: {"$sum": value}}, {}, {name: None}
            # $sum of no values is 0; SQL's SUM is NULL then. $max skips NULLs, so it is null
            # exactly when there are none (and it is cheaper than counting them)
            n = name + "_n"
            finish = {name: {"$cond": [{"$eq": ["$" + n, None]}, None, "$" + name]}}
            return {name: {"$sum": value}, n: {"$max": path}}, finish, {name: None, n: None}
        op = {AggFunc.AVG: "$avg", AggFunc.MIN: "$min", AggFunc.MAX: "$max"}[func]
        # $avg/$min/$max skip null and missing values, and give null over none
        return {name: {op: value}}, {}, {name: None}

    # -- expressions ----------------------------------------------------------------

    def expr(self, node: Expr) -> Any:
        """An aggregation expression computing ``node`` (``null`` for NULL, also for absent fields).

        Integer arithmetic is computed in Decimal128 and converted back only
        inside the 64-bit range; outside it the conversion of :data:`OVERFLOW`
        fails, so the command fails (MongoDB's own ``$add`` of longs would turn
        into a double). ``$toLower`` of null is "": guarded to stay NULL.
        """
        match node:
            case Field(info=info):
                return {"$ifNull": ["$" + self.path(info), None]}
            case Value(value=value, kind=kind):
                enc = encoder_for_kind(kind)
                return {"$literal": value if enc is None else enc(value)}
            case Arith(op=op, left=left, right=right, kind=kind):
                a, b = self.expr(left), self.expr(right)
                if kind is Kind.INT:
                    return _checked({_ARITH_OPS[op]: [{"$toDecimal": a}, {"$toDecimal": b}]})
                return {_ARITH_OPS[op]: [a, b]}
            case Neg(item=item, kind=kind):
                inner = self.expr(item)
                if kind is Kind.INT:
                    return _checked({"$multiply": [{"$toDecimal": inner}, -1]})
                return {"$multiply": [inner, -1]}
            case TextCase(func=func, item=item):
                inner = self.expr(item)
                name = "$toLower" if func is CaseFunc.LOWER else "$toUpper"
                return {"$let": {"vars": {"v": inner}, "in": {"$cond": [{"$eq": ["$$v", None]}, None, {name: "$$v"}]}}}
            case _:
                assert_never(node)

    def compare(self, node: CompareExpr) -> Any:
        """A two-valued aggregation test: false when either side is NULL (``!=``: the complement of ``==``)."""
        test: Any = {
            "$let": {
                "vars": {"a": self.expr(node.left), "b": self.expr(node.right)},
                "in": {
                    "$and": [
                        {"$ne": ["$$a", None]},
                        {"$ne": ["$$b", None]},
                        {_EXPR_OPS[Op.EQ if node.op is Op.NE else node.op]: ["$$a", "$$b"]},
                    ]
                },
            }
        }
        return {"$not": [test]} if node.op is Op.NE else test

    def like_expr(self, node: LikeExpr) -> Any:
        """A like pattern matched against a text expression (NULL matches nothing)."""
        return {"$regexMatch": {"input": self.expr(node.expr), "regex": like_to_regex(node.pattern)}}

    def sort_stages(self, order_by: Sequence[OrderBy]) -> tuple[Filter, dict[str, int]]:
        """``$addFields`` for computed ordering terms (``{}`` if none) and the ``$sort`` document."""
        added: Filter = {}
        sort: dict[str, int] = {}
        for i, term in enumerate(order_by):
            if isinstance(term.field, Field):
                key = self.path(term.field.info)
            else:
                key = f"ommi_o{i}"
                added[key] = self.expr(term.field)
            sort.setdefault(key, -1 if term.descending else 1)
        return added, sort

    # -- sorts --------------------------------------------------------------------

    def sort(self, order_by: Sequence[OrderBy]) -> list[tuple[str, int]]:
        """The sort specification (missing and null fields sort first ascending, last descending)."""
        out: list[tuple[str, int]] = []
        seen: set[str] = set()
        for term in order_by:
            assert isinstance(term.field, Field)  # computed terms sort in a pipeline (sort_stages)
            p = self.path(term.field.info)
            if p in seen:  # MongoDB rejects a repeated sort key; the first term already decides
                continue
            seen.add(p)
            out.append((p, -1 if term.descending else 1))
        return out


def _checked(decimal_expr: Any) -> Any:
    """A Decimal128 integer result back to a long, or a failing conversion when it leaves 64 bits."""
    in_range = {"$and": [{"$gte": ["$$r", _INT64_MIN]}, {"$lte": ["$$r", _INT64_MAX]}]}
    return {
        "$let": {
            "vars": {"r": decimal_expr},
            "in": {
                "$cond": [
                    {"$or": [{"$eq": ["$$r", None]}, in_range]},
                    {"$toLong": "$$r"},
                    {"$toLong": OVERFLOW},
                ]
            },
        }
    }


def encoder_for_kind(kind: Kind) -> Codec:
    """The encoder of an expression literal (numbers and text only)."""
    if kind is Kind.DECIMAL:
        return Decimal128
    return None


def _group_decoder(
    stmt: Aggregate, agg_decoders: list[tuple[str, Codec]]
) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """An aggregate pipeline's output document -> its row: the group fields' values, then the aggregates'."""
    decoders: list[tuple[str, Codec]] = [(f"g{i}", decoder_for(f.info)) for i, f in enumerate(stmt.group_by)]
    single = len(stmt.group_by) == 1
    fields = aggregate_fields(stmt)
    codecs = [c for _, c in decoders] + [c for _, c in agg_decoders]

    def decode(doc: dict[str, Any]) -> tuple[Any, ...]:
        if single:
            stored = [doc.get("_id")]
        else:
            groups = doc.get("_id") or {}
            stored = [groups.get(k) for k, _ in decoders]
        stored += [doc.get(k) for k, _ in agg_decoders]
        try:
            return tuple(_apply(c, v) for c, v in zip(codecs, stored, strict=True))
        except InexactSum:
            raise
        except Exception as exc:  # a stored value the field cannot take
            raise unreadable_row(fields, codecs, stored, exc) from exc

    return decode


def _apply(codec: Codec, value: Any) -> Any:
    return value if codec is None or value is None else codec(value)


def _agg_decoder(agg: Agg) -> Codec:
    """Aggregate value -> Python value, with the types the SQL backends give."""
    func = agg.func
    if func in (AggFunc.COUNT, AggFunc.COUNT_DISTINCT) or agg.field is None:
        return int
    f = agg.field.info
    if func in (AggFunc.MIN, AggFunc.MAX):
        return decoder_for(f)
    if f.kind is Kind.DECIMAL:
        return _from_decimal128
    if func is AggFunc.AVG or f.kind is Kind.FLOAT:
        return _number_to_float
    return _number_to_int


class InexactSum(Exception):
    """A natively summed int came back as something else: it left int64 (see ``aggregate_pipeline``)."""


def _is_int_sum(agg: Agg) -> bool:
    return agg.func is AggFunc.SUM and agg.field is not None and agg.field.info.kind is Kind.INT


def _native_int_sum(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return int(v)
    raise InexactSum(v)


def _number_to_float(v: Any) -> float:
    return float(v.to_decimal()) if isinstance(v, Decimal128) else float(v)


def _number_to_int(v: Any) -> int:
    return int(v.to_decimal()) if isinstance(v, Decimal128) else int(v)


def _keeps_field_type(agg: Agg) -> bool:
    if agg.field is None or agg.func in (AggFunc.COUNT, AggFunc.COUNT_DISTINCT):
        return False
    return agg.func is not AggFunc.AVG or agg.field.info.kind is Kind.DECIMAL


def _aggs_in(node: Predicate | None) -> list[Agg]:
    match node:
        case None:
            return []
        case AggCompare(agg=agg):
            return [agg]
        case And(items=items) | Or(items=items):
            return [a for i in items for a in _aggs_in(i)]
        case Not(item=item):
            return _aggs_in(item)
        case _:
            return []


def related_nodes(node: Predicate | None) -> list[Related | InValues]:
    """Every :class:`Related` and :class:`InValues` node in a predicate, innermost first (resolve them in this order).

    A subquery's own predicate is resolved when the subquery runs.
    """
    match node:
        case None:
            return []
        case InValues():
            return [node]
        case Related(where=where):
            return [*related_nodes(where), node]
        case And(items=items) | Or(items=items):
            return [r for i in items for r in related_nodes(i)]
        case Not(item=item):
            return related_nodes(item)
        case _:
            return []


class _FilterBuilder:
    """One filter compilation: the compiler plus the context of this statement.

    ``group_paths``/``agg_names`` are set when compiling a ``having`` clause
    (group fields live under ``_id.gN``, aggregates in ``aN``).
    """

    __slots__ = ("agg_names", "c", "group_paths", "resolved")

    def __init__(
        self, compiler: MongoCompiler, resolved: Mapping[int, list[Any]],
        group_paths: Mapping[FieldInfo, str] | None, agg_names: Mapping[Agg, str] | None,
    ) -> None:
        self.c = compiler
        self.resolved = resolved
        self.group_paths = group_paths
        self.agg_names = agg_names

    def leaf(self, fld: Field, condition: Any) -> Filter:
        info = fld.info
        if self.group_paths is not None:
            return {self.group_paths[info]: condition}
        return {self.c.path(info): condition}

    def enc(self, fld: Field, value: Any) -> Any:
        return self.c.encode(fld.info, value)

    def agg_leaf(self, node: AggCompare, op: Op) -> Filter:
        if self.agg_names is None:
            raise errors.QueryError("aggregates can only be compared in having()")
        agg = node.agg
        value = self.c.encode(agg.field.info, node.value) if agg.field is not None and _keeps_field_type(agg) else (
            node.value
        )
        return {self.agg_names[agg]: {_OPS[op]: value}}

    def related(self, node: Related, negate: bool) -> Filter:
        values = self.resolved.get(id(node))
        if values is None:  # pragma: no cover - the driver resolves every Related node first
            raise errors.QueryError("a filter across references was not resolved")
        return self.leaf(node.path[0].source, {"$nin" if negate else "$in": values})

    def pred(self, node: Predicate) -> Filter:  # noqa: C901 - one case per node type
        match node:
            case Compare(field=fld, op=op, value=value):
                return self.leaf(fld, {_OPS[op]: self.enc(fld, value)})
            case IsNull(field=fld):
                # matches an explicit null and a missing field alike
                return self.leaf(fld, {"$eq": None})
            case In(field=fld, values=values):
                return self.leaf(fld, {"$in": [self.enc(fld, v) for v in values]})
            case Between(field=fld, low=low, high=high):
                return self.leaf(fld, {"$gte": self.enc(fld, low), "$lte": self.enc(fld, high)})
            case Like(field=fld, pattern=pattern):
                # no "i" option: case-sensitive; anchored unless the pattern starts/ends with %
                return self.leaf(fld, {"$regex": like_to_regex(pattern)})
            case And(items=items):
                parts = self.and_items(items)
                if not parts:
                    return {}
                return parts[0] if len(parts) == 1 else {"$and": parts}
            case Or(items=items):
                if not items:
                    return MATCH_NOTHING
                ors = [self.pred(i) for i in items]
                return ors[0] if len(ors) == 1 else {"$or": ors}
            case Not(item=item):
                return self.negate(item)
            case AggCompare(op=op):
                return self.agg_leaf(node, op)
            case Related():
                return self.related(node, False)
            case CompareExpr():
                return {"$expr": self.c.compare(node)}
            case LikeExpr():
                return {"$expr": self.c.like_expr(node)}
            case InValues(field=fld):
                return self.leaf(fld, {"$in": self.subquery(node)})
            case _:
                assert_never(node)

    def subquery(self, node: InValues) -> list[Any]:
        values = self.resolved.get(id(node))
        if values is None:  # pragma: no cover - the driver resolves every subquery first
            raise errors.QueryError("a subquery was not resolved")
        return values

    def negate(self, node: Predicate) -> Filter:
        # MongoDB's filters are two-valued (a missing or null field simply fails a
        # comparison), so $nor is already the exact complement; the cases below
        # only give the planner simpler, index-friendly forms of the same thing.
        match node:
            case Compare(field=fld, op=Op.EQ, value=value):
                return self.leaf(fld, {"$ne": self.enc(fld, value)})
            case Compare(field=fld, op=Op.NE, value=value):
                return self.leaf(fld, {"$eq": self.enc(fld, value)})
            case IsNull(field=fld):
                return self.leaf(fld, {"$ne": None})
            case In(field=fld, values=values):
                return self.leaf(fld, {"$nin": [self.enc(fld, v) for v in values]})
            case Not(item=item):
                return self.pred(item)
            case Related():
                return self.related(node, True)
            case CompareExpr():
                return {"$expr": {"$not": [self.c.compare(node)]}}
            case LikeExpr():
                return {"$expr": {"$not": [self.c.like_expr(node)]}}
            case InValues(field=fld):
                return self.leaf(fld, {"$nin": self.subquery(node)})
            case _:
                return {"$nor": [self.pred(node)]}

    def and_items(self, items: Sequence[Predicate]) -> list[Filter]:
        """Compile And items; equalities on every field of a composite key become one ``_id`` equality.

        ``{"_id.a": x, "_id.b": y}`` cannot use the ``_id`` index; equality on the
        whole subdocument (stored in key order) can.
        """
        key_eq: dict[FieldInfo, Any] = {}
        rest: list[Predicate] = []
        for item in items:
            if (
                self.group_paths is None
                and isinstance(item, Compare)
                and item.op is Op.EQ
                and item.field.info.key
                and len(item.field.info.model.key) > 1
                and item.field.info not in key_eq
            ):
                key_eq[item.field.info] = item.value
            else:
                rest.append(item)
        parts: list[Filter] = []
        if key_eq:
            key = next(iter(key_eq)).model.key
            if all(f in key_eq for f in key):
                parts.append({"_id": {"$eq": {f.column: self.c.encode(f, key_eq[f]) for f in key}}})
            else:
                parts.extend({self.c.path(f): {"$eq": self.c.encode(f, v)}} for f, v in key_eq.items())
        parts.extend(self.pred(i) for i in rest)
        return parts
