"""Conformance tests: relationships."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from ommi import DBFailure, Ommi, StatementEvent, errors
from ommi.testing.models import (
    Article,
    ArticleTag,
    Category,
    Person,
    Remark,
    Shelf,
    ShelfNote,
    Tag,
    Volume,
    Writer,
)


def key(stored: Writer | Article | Tag | Shelf | Volume) -> int:
    """The generated key of a stored instance (``None`` only before ``add()``)."""
    assert stored.id is not None
    return stored.id


async def blog(db: Ommi) -> dict[str, Any]:
    ann, bob = await db.add(Writer("Ann"), Writer("Bob")).or_raise()
    a1, a2, a3, orphan = await db.add(
        Article("SQL tips", ann.id), Article("Mongo notes", ann.id), Article("Bob's day", bob.id),
        Article("Anonymous", None),
    ).or_raise()
    remarks = [
        Remark("great", key(a1), key(bob)), Remark("thanks", key(a1), key(ann)), Remark("hm", key(a3), key(ann))
    ]
    await db.add(*remarks).or_raise()
    db_tag, life = await db.add(Tag("db"), Tag("life")).or_raise()
    await db.add(
        ArticleTag(key(a1), key(db_tag)), ArticleTag(key(a2), key(db_tag)), ArticleTag(key(a3), key(life))
    ).or_raise()
    return {"ann": ann, "bob": bob, "a1": a1, "a2": a2, "a3": a3, "orphan": orphan, "db": db_tag, "life": life}


class StatementCounter:
    def __init__(self, db: Ommi) -> None:
        self.events: list[StatementEvent] = []
        self.remove = db.on_statement(self.events.append)

    def __len__(self) -> int:
        return len(self.events)


async def test_lazy_relations_load_on_await_and_are_cached(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    article = await suite_db.get(Article, b["a1"].id).or_raise()
    writer = await article.writer
    assert writer == b["ann"]
    counter = StatementCounter(suite_db)
    try:
        assert await article.writer == b["ann"]
        assert len(counter) == 0, "a loaded relation is cached on the instance"
        ann = await suite_db.find(Writer.name == "Ann").one().or_raise()
        titles = [a.title for a in await ann.articles]
        assert titles == ["SQL tips", "Mongo notes"]
        assert len(counter) == 2
    finally:
        counter.remove()
    orphan = await suite_db.get(Article, b["orphan"].id).or_raise()
    assert await orphan.writer is None
    assert [r.text for r in await orphan.remarks] == []


async def test_refresh_reloads_a_relation(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    ann = await suite_db.get(Writer, b["ann"].id).or_raise()
    assert len(await ann.articles) == 2
    await suite_db.add(Article("New", ann.id)).or_raise()
    assert len(await ann.articles) == 2
    assert len(await ann.articles.refresh()) == 3
    assert len(await ann.articles) == 3


async def test_added_instances_load_relations_through_the_same_ommi(suite_db: Ommi) -> None:
    [w] = await suite_db.add(Writer("Cy")).or_raise()
    [a] = await suite_db.add(Article("First", w.id)).or_raise()
    assert (await a.writer) == w
    assert [x.title for x in await w.articles] == ["First"]


async def test_relation_on_an_unsaved_instance_fails_clearly(suite_db: Ommi) -> None:
    with pytest.raises(errors.QueryError, match="never added or loaded"):
        await Article("loose", 1).writer


async def test_many_to_many_through_an_association_model(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    a1 = await suite_db.get(Article, b["a1"].id).or_raise()
    assert [t.label for t in await a1.tags] == ["db"]
    tag = await suite_db.find(Tag.label == "db").one().or_raise()
    assert [a.title for a in await tag.articles] == ["SQL tips", "Mongo notes"]
    orphan = await suite_db.get(Article, b["orphan"].id).or_raise()
    assert await orphan.tags == []


async def test_self_reference_tree(suite_db: Ommi) -> None:
    [root] = await suite_db.add(Category("root")).or_raise()
    kids = await suite_db.add(Category("a", root.id), Category("b", root.id)).or_raise()
    [leaf] = await suite_db.add(Category("a1", kids[0].id)).or_raise()
    loaded = await suite_db.get(Category, leaf.id).or_raise()
    parent = await loaded.parent
    assert parent is not None and parent.name == "a"
    grand = await parent.parent
    assert grand is not None and grand.name == "root"
    assert await grand.parent is None
    assert sorted(c.name for c in await grand.children) == ["a", "b"]


async def test_relations_loaded_in_a_transaction(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    async with suite_db.transaction() as tx:
        article = await tx.get(Article, b["a3"].id).or_raise()
        assert (await article.writer) == b["bob"]
    again = await suite_db.get(Article, b["a2"].id).or_raise()
    async with suite_db.transaction() as tx:
        inside = await tx.get(Article, again.id).or_raise()
    assert (await inside.writer) == b["ann"], "after the transaction ends, loads go through its Ommi"


async def test_filter_across_one_reference_in_both_directions(suite_db: Ommi) -> None:
    await blog(suite_db)
    found = await suite_db.find(Article, Writer.name == "Ann").order_by(Article.title).all().or_raise()
    assert [a.title for a in found] == ["Mongo notes", "SQL tips"]
    writers = await suite_db.find(Writer, Article.title.startswith("Bob")).all().or_raise()
    assert [w.name for w in writers] == ["Bob"]
    nobody = await suite_db.find(Article, ~(Writer.name == "Ann")).order_by(Article.title).all().or_raise()
    assert [a.title for a in nobody] == ["Anonymous", "Bob's day"]
    both = await suite_db.find(Article, (Writer.name == "Ann") & Article.title.contains("SQL")).all().or_raise()
    assert [a.title for a in both] == ["SQL tips"]


async def test_filter_two_hops_and_through_an_association(suite_db: Ommi) -> None:
    await blog(suite_db)
    remarks = await suite_db.find(Remark, Article.title == "SQL tips").order_by(Remark.text).all().or_raise()
    assert [r.text for r in remarks] == ["great", "thanks"]
    tagged = await suite_db.find(Article, Tag.label == "db").order_by(Article.title).all().or_raise()
    assert [a.title for a in tagged] == ["Mongo notes", "SQL tips"]
    writers = await suite_db.find(Writer, Tag.label == "life").all().or_raise()
    assert [w.name for w in writers] == ["Bob"]


async def test_filters_across_references_in_count_update_and_delete(suite_db: Ommi) -> None:
    await blog(suite_db)
    assert await suite_db.find(Article, Writer.name == "Ann").count().or_raise() == 2
    assert await suite_db.find(Article, Writer.name == "Bob").update(title="Renamed").or_raise() == 1
    assert await suite_db.find(Article.title == "Renamed").count().or_raise() == 1
    assert await suite_db.find(Remark, Writer.name == "Bob").delete().or_raise() == 1
    assert await suite_db.find(Remark).count().or_raise() == 2


async def test_ambiguous_filter_path_fails_clearly(suite_db: Ommi) -> None:
    from dataclasses import dataclass as _dataclass

    from ommi import Key as _Key
    from ommi import ModelCollection, ReferenceTo, ommi_model

    local = ModelCollection("ambiguous")

    @ommi_model(collection=local)
    @_dataclass
    class Message:
        sender_id: Annotated[int, ReferenceTo("Member.id")]
        receiver_id: Annotated[int, ReferenceTo("Member.id")]
        id: Annotated[int | None, _Key] = None

    @ommi_model(collection=local)
    @_dataclass
    class Member:
        name: str
        id: Annotated[int | None, _Key] = None

    with pytest.raises(errors.QueryError, match="ambiguous"):
        suite_db.find(Message, Member.name == "x")
    with pytest.raises(errors.QueryError, match="no chain"):
        suite_db.find(Message, Person.name == "x")


async def test_include_loads_relations_with_one_query_each(suite_db: Ommi) -> None:
    await blog(suite_db)
    counter = StatementCounter(suite_db)
    try:
        writers = await (suite_db.find(Writer).order_by(Writer.name)
                         .include(Writer.articles, Article.remarks, Article.tags).all().or_raise())
        assert len(counter) == 5, [e.operation for e in counter.events]  # writers, articles, remarks, links, tags
        loaded = {w.name: [a.title for a in await w.articles] for w in writers}
        assert loaded == {"Ann": ["SQL tips", "Mongo notes"], "Bob": ["Bob's day"]}
        sql_tips = (await writers[0].articles)[0]
        assert sorted(r.text for r in await sql_tips.remarks) == ["great", "thanks"]
        assert [t.label for t in await sql_tips.tags] == ["db"]
        assert len(counter) == 5, "awaiting included relations runs no query"
    finally:
        counter.remove()


async def test_include_of_a_single_relation_and_misuse(suite_db: Ommi) -> None:
    await blog(suite_db)
    articles = await suite_db.find(Article).include(Article.writer).order_by(Article.title).all().or_raise()
    writers = [(await a.writer) for a in articles]
    assert [w.name if w else None for w in writers] == [None, "Bob", "Ann", "Ann"]
    bad = await suite_db.find(Writer).include(Article.remarks).all()
    assert isinstance(bad, DBFailure) and isinstance(bad.error, errors.QueryError)


async def test_streamed_instances_load_their_relations(suite_db: Ommi) -> None:
    await blog(suite_db)
    by_title = suite_db.find(Article).order_by(Article.title)
    streamed = [(a.title, w.name if (w := await a.writer) else None) async for a in by_title]
    batched = [(a.title, w.name if (w := await a.writer) else None) async for b in by_title.batches(2) for a in b]
    want = [("Anonymous", None), ("Bob's day", "Bob"), ("Mongo notes", "Ann"), ("SQL tips", "Ann")]
    assert streamed == batched == want
    with pytest.raises(errors.QueryError, match=r"include\(\).*not for batches\(\)"):
        by_title.include(Article.writer).batches(2)


async def test_deleting_a_referenced_row_is_integrity_error(suite_db: Ommi) -> None:
    b = await blog(suite_db)
    result = await suite_db.delete(b["bob"])
    assert isinstance(result, DBFailure) and isinstance(result.error, errors.IntegrityError)
    assert await suite_db.find(Writer).count().or_raise() == 2


async def library(db: Ommi) -> None:
    fiction, _empty = await db.add(Shelf("fiction"), Shelf("empty")).or_raise()
    dune, _emma = await db.add(
        Volume(title="Dune", shelf_id=fiction.id), Volume(title="Emma", shelf_id=fiction.id)
    ).or_raise()
    await db.add(ShelfNote("worn", key(dune)), ShelfNote("signed", key(dune))).or_raise()


async def test_relations_on_attrs_and_pydantic_models(suite_db: Ommi) -> None:
    await library(suite_db)
    fiction = await suite_db.find(Shelf.label == "fiction").one().or_raise()
    assert [v.title for v in await fiction.volumes] == ["Dune", "Emma"]
    dune = await suite_db.find(Volume.title == "Dune").one().or_raise()
    shelf = await dune.shelf
    assert shelf is not None and shelf.label == "fiction"
    assert sorted(n.text for n in await dune.notes) == ["signed", "worn"]
    note = await suite_db.find(ShelfNote.text == "worn").one().or_raise()
    volume = await note.volume
    assert volume is not None and volume.title == "Dune"
    empty = await suite_db.find(Shelf.label == "empty").one().or_raise()
    assert await empty.volumes == []


async def test_include_and_filters_across_attrs_and_pydantic_models(suite_db: Ommi) -> None:
    await library(suite_db)
    counter = StatementCounter(suite_db)
    try:
        shelves = await suite_db.find(Shelf).order_by(Shelf.label).include(Shelf.volumes, Volume.notes).all().or_raise()
        assert len(counter) == 3
        assert [[v.title for v in await s.volumes] for s in shelves] == [[], ["Dune", "Emma"]]
        notes = [n.text for v in await shelves[1].volumes for n in await v.notes]
        assert sorted(notes) == ["signed", "worn"]
        assert len(counter) == 3, "included relations are loaded already"
    finally:
        counter.remove()
    assert await suite_db.find(Volume, Shelf.label == "fiction").count().or_raise() == 2
    assert await suite_db.find(ShelfNote, Shelf.label == "fiction").count().or_raise() == 2  # two hops
