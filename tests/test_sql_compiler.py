"""The shared SQL compiler: one SQL text per query shape, values always bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ommi_postgresql import PostgreSQLDialect
from ommi_sqlite import SQLiteDialect

from ommi import Count, Key, ModelCollection, Sum, ommi_model
from ommi._migration_state import State, state_of
from ommi.query import Aggregate, Delete, Select, Update
from ommi.sql import SQLCompiler, SQLDialect

coll = ModelCollection("compiler-tests")


@ommi_model(collection=coll, name="Order")
@dataclass
class Order:
    customer: str
    amount: int
    note: str | None = None
    id: Annotated[int | None, Key] = None


def test_same_shape_compiles_once_and_binds_every_value() -> None:
    compiler = SQLCompiler(SQLiteDialect())
    first_sql, first_params = compiler.select(Select(Order, (Order.amount > 5) & Order.customer.in_(["a", "b"])))
    second_sql, second_params = compiler.select(Select(Order, (Order.amount > 7) & Order.customer.in_(["c", "d"])))
    assert first_sql is second_sql  # the cached text, not a recompiled copy
    assert first_params == [5, "a", "b"] and second_params == [7, "c", "d"]
    assert "'a'" not in first_sql and "5" not in first_sql
    other, _ = compiler.select(Select(Order, Order.customer.in_(["a", "b", "c"])))
    assert other.count("?") == 3


def test_identifiers_are_quoted_and_reserved_words_work() -> None:
    sql, _ = SQLCompiler(SQLiteDialect()).select(Select(Order, Order.customer == "x"))
    # SQLite quotes with backticks: a double-quoted name it cannot resolve would read as a string
    assert sql == "SELECT `customer`, `amount`, `note`, `id` FROM `Order` WHERE `customer` = ?"


def test_negation_is_pushed_to_the_leaves_for_two_valued_logic() -> None:
    compiler = SQLCompiler(SQLDialect())
    sql, params = compiler.select(Select(Order, ~((Order.amount > 5) | (Order.note == "n"))))
    assert sql.endswith('WHERE (("amount" <= ? OR "amount" IS NULL) AND "note" IS DISTINCT FROM ?)')
    assert params == [5, "n"]
    sql, _ = compiler.select(Select(Order, Order.note.not_in(["a", None])))
    assert sql.endswith('WHERE ("note" NOT IN (?) AND "note" IS NOT NULL)')
    sql, _ = compiler.select(Select(Order, Order.amount.in_([])))
    assert sql.endswith("WHERE 1 = 0")


def test_postgresql_dialect_numbers_placeholders_and_orders_nulls_explicitly() -> None:
    compiler = SQLCompiler(PostgreSQLDialect())
    sql, params = compiler.select(Select(Order, Order.amount.between(1, 9), (Order.note.desc,), 10, 20))
    assert "BETWEEN $1 AND $2" in sql and "LIMIT $3 OFFSET $4" in sql
    assert '"note" DESC NULLS LAST' in sql
    assert params == [1, 9, 10, 20]


def test_update_delete_and_aggregate_statements() -> None:
    compiler = SQLCompiler(SQLiteDialect())
    sql, params = compiler.update(Update(Order, Order.amount < 3, ((Order.note.field, "low"),)))
    assert sql == "UPDATE `Order` SET `note` = ? WHERE `amount` < ?" and params == ["low", 3]
    sql, params = compiler.delete(Delete(Order, None))
    assert sql == "DELETE FROM `Order`" and params == []
    stmt = Aggregate(Order, None, (Order.customer.field,), (Sum(Order.amount) > 10).__class__(
        Sum(Order.amount).node, (Sum(Order.amount) > 10).op, 10), (Count().node, Sum(Order.amount).node))
    sql, params, decode = compiler.aggregate(stmt)
    assert sql == ("SELECT `customer`, COUNT(*), SUM(`amount`) FROM `Order` GROUP BY `customer` "
                   "HAVING SUM(`amount`) > ? ORDER BY `customer` ASC")
    assert params == [10]
    assert list(decode([("a", 3, 30), ("b", 1, None)])) == [("a", 3, 30), ("b", 1, None)]


def test_index_names_fit_postgresql_for_any_table_and_column_name() -> None:
    dialect = SQLDialect()
    cases = [
        ("Order", ["group"]),
        ("Legacy Customers (v1.0) – Übersicht der Kunden", ["E-Mail Address"]),
        ("ü" * 31, ["Größe" * 10]),  # the 50-byte cut falls inside a two-byte letter
        ("x" * 63, ['say "hi"; it\'s']),
        ("x" * 63, ['say "hi"; it\'s!']),  # same first 50 bytes, another name
        ("日本語のテーブル", ["列の名前"]),
    ]
    names = set()
    for table, columns in cases:
        for unique in (False, True):
            name = dialect.index_name(table, columns, unique)
            assert len(name.encode()) <= 63, name
            assert name == dialect.index_name(table, columns, unique)  # stable: create_models stays idempotent
            names.add(name)
    assert len(names) == 2 * len(cases)
    # quoting keeps any of them one identifier
    assert dialect.quote('ix_say "hi"') == '"ix_say ""hi"""'


def _states() -> tuple[State, State]:
    """The ``Order`` table as a migration sees it, before and after adding a required, indexed field."""
    from ommi.migrations import AddField, AddIndex, Field

    before = state_of(coll.infos())
    after = AddIndex("Order", "rank").apply(AddField("Order", Field("rank", "float")).apply(before))
    return before, after


def test_backfills_are_bound_unless_a_literal_is_exact() -> None:
    from ommi.driver import SchemaChange

    before, after = _states()
    info, old = after.info("Order"), before.info("Order")
    compiler = SQLCompiler(PostgreSQLDialect())
    exact = compiler.schema_change(SchemaChange("add_required_column", info, "rank", value=1.5, before=old))
    assert exact == [('ALTER TABLE "Order" ADD COLUMN "rank" DOUBLE PRECISION NOT NULL DEFAULT 1.5', ())]
    change = SchemaChange("add_required_column", info, "rank", value=float("inf"), before=old)
    infinite = compiler.schema_change(change)
    assert infinite == [
        ('ALTER TABLE "Order" ADD COLUMN "rank" DOUBLE PRECISION', ()),
        ('UPDATE "Order" SET "rank" = $1', (float("inf"),)),
        ('ALTER TABLE "Order" ALTER COLUMN "rank" SET NOT NULL', ()),
    ]
    # SQLite adds a NOT NULL column only with a constant default; the rows then get the bound value
    sqlite = SQLCompiler(SQLiteDialect()).schema_change(
        SchemaChange("add_required_column", info, "rank", value=float("-inf"), before=old))
    assert sqlite[0][0].endswith("NOT NULL DEFAULT 0")
    assert sqlite[1] == ("UPDATE `Order` SET `rank` = ?", (float("-inf"),))


def test_renames_carry_index_names_along() -> None:
    from ommi.driver import SchemaChange
    from ommi.migrations import RenameField
    from ommi.sql import render_statement

    _, after = _states()
    renamed = RenameField("Order", "rank", "score").apply(after)
    change = SchemaChange(
        "rename_column", renamed.info("Order"), "score", old="rank", before=after.info("Order")
    )
    pg = [render_statement(*st) for st in SQLCompiler(PostgreSQLDialect()).schema_change(change)]
    assert pg == [
        'ALTER TABLE "Order" RENAME COLUMN "rank" TO "score";',
        'ALTER INDEX IF EXISTS "ix_Order_rank" RENAME TO "ix_Order_score";',
    ]
    sqlite = [sql for sql, _ in SQLCompiler(SQLiteDialect()).schema_change(change)]
    assert sqlite[1:] == ["DROP INDEX IF EXISTS `ix_Order_rank`",
                          "CREATE INDEX IF NOT EXISTS `ix_Order_score` ON `Order` (`score`)"]
    assert render_statement("UPDATE t SET a = ?", ["x"]) == "UPDATE t SET a = ?;  -- with $1 = 'x'"


def test_sqlite_rebuilds_a_table_to_make_a_field_required() -> None:
    from ommi.driver import SchemaChange
    from ommi.migrations import AlterField, Field

    before, _ = _states()
    after = AlterField("Order", "note", Field("note", "str"), backfill="-").apply(before)
    change = SchemaChange(
        "change_nullability", after.info("Order"), "note", value="-", before=before.info("Order")
    )
    statements = SQLCompiler(SQLiteDialect()).schema_change(change)
    assert [sql.split(" (")[0] for sql, _ in statements] == [
        "PRAGMA defer_foreign_keys = ON",  # references to the table are checked when the migration commits
        "CREATE TABLE `ommi_copy_Order` AS SELECT * FROM `Order`",
        "DROP TABLE `Order`",
        "CREATE TABLE IF NOT EXISTS `Order`",
        "INSERT INTO `Order`",
        "DROP TABLE `ommi_copy_Order`",
    ]
    insert, params = statements[4]
    assert "COALESCE(`note`, ?)" in insert and params == ("-",)


def test_decoding_rows_refuses_a_row_of_another_width_wherever_it_is() -> None:
    # a driver's defect, named rather than decoded into wrong columns or cut short
    import pytest

    from ommi import errors
    from ommi.sql._compiler import rows_decoder

    decode = rows_decoder([None, None])
    assert list(decode([(1, "a"), (2, "b")])) == [(1, "a"), (2, "b")]
    assert list(decode(iter([(1, "a")]))) == [(1, "a")]
    assert list(decode([])) == []
    for rows, shown in (([(1,), (2, "b")], 1), ([(1, "a"), (2,)], 1), ([(1, "a"), (2, "b", 3)], 3)):
        with pytest.raises(errors.QueryError, match=f"a fetched row has {shown} values, not 2"):
            list(decode(rows))


def test_a_plan_compiles_its_row_functions_when_first_used_and_keeps_them() -> None:
    # creating tables needs none of them, and a model only read never compiles its dumpers
    from dataclasses import dataclass

    from ommi_sqlite import SQLiteDialect

    from ommi import ModelCollection, ommi_model
    from ommi.sql import SQLCompiler

    @ommi_model(collection=ModelCollection("lazy_plan"))
    @dataclass
    class Lazy:
        name: str
        id: int | None = None

    plan = SQLCompiler(SQLiteDialect()).plan(Lazy)
    functions = ("load", "load_rows", "dump", "dump_auto", "dump_many", "dump_auto_many")
    assert not set(functions) & set(vars(plan))
    loaded = plan.load_rows([("a", 1), ("b", 2)])
    assert [(x.name, x.id) for x in loaded] == [("a", 1), ("b", 2)]
    assert {"load", "load_rows"} <= set(vars(plan)) and "dump" not in vars(plan)
    assert plan.dump_auto is not None and plan.dump_auto(Lazy("c")) == ("c",)
    assert plan.dump(Lazy("c", 3)) == ("c", 3)
    for name in functions:
        assert getattr(plan, name) is getattr(plan, name)  # compiled once


def test_each_connection_reuses_a_models_generated_functions_built_from_the_same_codecs() -> None:
    # every new Ommi (and each server of a replica set) has a compiler of its own; the
    # loaders and dumpers it asks for are the ones already built for the same codecs
    import enum
    from dataclasses import dataclass

    from ommi_duckdb import DuckDBDialect
    from ommi_sqlite import SQLiteDialect

    from ommi import ModelCollection, ommi_model
    from ommi._model import get_model_info
    from ommi.sql import SQLCompiler

    class Mood(enum.Enum):
        CALM = "calm"
        LOUD = "loud"

    @ommi_model(collection=ModelCollection("kept_functions"))
    @dataclass
    class Kept:
        name: str
        mood: Mood
        id: int | None = None

    functions = ("load", "load_rows", "dump", "dump_auto", "dump_many", "dump_auto_many")
    first, second = SQLCompiler(SQLiteDialect()).plan(Kept), SQLCompiler(SQLiteDialect()).plan(Kept)
    assert first is not second
    for name in functions:
        assert getattr(first, name) is getattr(second, name), name
    # and they still do their work: the enum through the dialect's codec, the key left out
    row = second.dump_auto(Kept("a", Mood.LOUD))  # type: ignore[misc]
    assert row == ("a", "loud")
    (back,) = second.load_rows([("a", "loud", 7)])
    assert back == Kept("a", Mood.LOUD, 7)

    # other codecs, or leaving another field out, build functions of their own
    other = SQLCompiler(DuckDBDialect()).plan(Kept)
    assert other.dump(Kept("b", Mood.CALM, 2)) == ("b", "calm", 2)
    info = get_model_info(Kept)
    assert info.dumper(first.encoders) is first.dump
    assert info.dumper(first.encoders, 2) is first.dump_auto
    assert info.dumper([None, None, None]) is not first.dump  # no codec for the enum: stores the member itself

    def shout(value: str) -> str:
        return value.upper()

    shouting = info.dumper([shout, None, None])
    assert shouting(Kept("c", Mood.CALM, 3)) == ("C", Mood.CALM, 3)
    assert info.dumper([lambda v: v.upper(), None, None]) is not shouting  # compared by identity


def test_the_functions_kept_per_model_are_bounded() -> None:
    # codecs made afresh for each connection never match: the oldest entries go
    from dataclasses import dataclass

    from ommi import ModelCollection, ommi_model
    from ommi._model import _BUILT_LIMIT, get_model_info

    @ommi_model(collection=ModelCollection("kept_bounded"))
    @dataclass
    class Bounded:
        name: str
        id: int | None = None

    info = get_model_info(Bounded)
    made = [info.dumper([(lambda v: v), None]) for _ in range(_BUILT_LIMIT * 3)]
    assert len(info._built) == _BUILT_LIMIT
    assert all(d(Bounded("x", 1)) == ("x", 1) for d in made)
