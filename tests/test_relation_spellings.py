"""Every relation spelling works on dataclasses, attrs and pydantic models, with and
without ``from __future__ import annotations``, towards models defined before and after.

Each case writes a small module (the way users write models: a real file, so the
model libraries look names up in its namespace) and loads both relations of it
through a real SQLite database.
"""

from __future__ import annotations

import importlib
import itertools
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ommi import Ommi, errors

HEADER = """\
{future}
from dataclasses import dataclass
from typing import Annotated, ClassVar

import attrs
import pydantic

from ommi import Key, LazyLoadEveryRelated, LazyLoadTheRelated, LazyMany, LazyOne, ModelCollection, ReferenceTo
from ommi import ommi_model

collection = ModelCollection("spellings")
"""

CLASS = {
    "dataclass": "@ommi_model(collection=collection)\n@dataclass\nclass {name}:\n",
    "attrs": "@ommi_model(collection=collection)\n@attrs.define\nclass {name}:\n",
    "pydantic": "@ommi_model(collection=collection)\nclass {name}(pydantic.BaseModel):\n",
}

# (one, many) annotations; {t} is the target as written
SPELLINGS = {
    "classvar": ("ClassVar[LazyOne[{t}]]", "ClassVar[LazyMany[{t}]]"),
    "upstream": ("LazyLoadTheRelated[{t}]", "LazyLoadEveryRelated[{t}]"),
}

# how a target not defined yet is written: bare names need future annotations
QUOTING = ["future", "inner-quoted", "whole-quoted"]


def annotation(template: str, target: str, quoting: str) -> str:
    if quoting == "inner-quoted":
        return template.format(t=f'"{target}"')
    if quoting == "whole-quoted":
        return '"' + template.format(t=target) + '"'
    return template.format(t=target)


def module_source(library: str, spelling: str, quoting: str) -> str:
    one, many = SPELLINGS[spelling]
    # User.posts names Post, defined after it; Post.author names User, defined before.
    # The relations come first in each body so that a library taking one for a
    # field does not fail on field order before ommi can say what is wrong.
    user = CLASS[library].format(name="User") + (
        f"    posts: {annotation(many, 'Post', quoting)}\n"
        "    name: str\n"
        "    id: Annotated[int | None, Key] = None\n"
    )
    post = CLASS[library].format(name="Post") + (
        f"    author: {annotation(one, 'User', quoting)}\n"
        "    title: str\n"
        "    author_id: Annotated[int | None, ReferenceTo(User.id)] = None\n"
        "    id: Annotated[int | None, Key] = None\n"
    )
    future = "from __future__ import annotations" if quoting == "future" else ""
    return "\n\n".join([HEADER.format(future=future), user, post])


def load(tmp_path: Path, name: str, source: str) -> ModuleType:
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def textual(library: str, spelling: str, quoting: str) -> bool:
    """attrs decides what is a class variable from the annotation's text alone."""
    return library == "attrs" and spelling == "upstream" and quoting != "inner-quoted"


CASES = list(itertools.product(CLASS, SPELLINGS, QUOTING))


@pytest.mark.parametrize(("library", "spelling", "quoting"), CASES, ids=["-".join(c) for c in CASES])
async def test_relation_spelling(tmp_path: Path, library: str, spelling: str, quoting: str) -> None:
    name = f"spelling_{library}_{spelling}_{quoting}".replace("-", "_")
    source = module_source(library, spelling, quoting)
    if textual(library, spelling, quoting):
        with pytest.raises(errors.ModelError, match=r"attrs reads posts as stored field.*ClassVar\[LazyMany"):
            load(tmp_path, name, source)
        return
    module = load(tmp_path, name, source)
    user_cls, post_cls = module.User, module.Post
    assert set(user_cls.__ommi__.relations) == {"posts"}
    assert set(post_cls.__ommi__.relations) == {"author"}
    async with Ommi.connect("sqlite://") as db:
        await db.schema(module.collection).create_models().or_raise()
        [ann] = await db.add(user_cls(name="Ann")).or_raise()
        await db.add(post_cls(title="Hello", author_id=ann.id), post_cls(title="News", author_id=ann.id)).or_raise()
        loaded = await db.find(user_cls.name == "Ann").one().or_raise()
        assert [p.title for p in await loaded.posts] == ["Hello", "News"]
        post = await db.find(post_cls.title == "News").one().or_raise()
        author = await post.author
        assert author is not None and author.name == "Ann"


# A fresh process: the relations module loads when a model first declares a relation,
# spelled with the package's attribute (``ommi.LazyMany``) as well as an imported name.
_FRESH = """
import asyncio, sys
from dataclasses import dataclass
from typing import Annotated, ClassVar
import ommi
from ommi import Key, ReferenceTo

@ommi.ommi_model
@dataclass
class Plain:
    name: str
    id: int | None = None

assert "ommi._relations" not in sys.modules, "a model without relations loaded the relations module"

@ommi.ommi_model
@dataclass
class User:
    {posts}
    name: str
    id: Annotated[int | None, Key] = None

@ommi.ommi_model
@dataclass
class Post:
    {author}
    title: str
    author_id: Annotated[int | None, ReferenceTo(User.id)] = None
    id: Annotated[int | None, Key] = None

async def main():
    async with ommi.Ommi.connect("sqlite://") as db:
        await db.schema().create_models().or_raise()
        [ann] = await db.add(User(name="Ann")).or_raise()
        await db.add(Post(title="Hello", author_id=ann.id)).or_raise()
        user = await db.find(User.name == "Ann").one().or_raise()
        assert [p.title for p in await user.posts] == ["Hello"]
        post = await db.find(Post.title == "Hello").one().or_raise()
        assert (await post.author).name == "Ann"
        print(sorted(set(User.__ommi__.relations) | set(Post.__ommi__.relations)))

asyncio.run(main())
"""

FRESH_SPELLINGS = {
    "attribute": ('posts: ClassVar[ommi.LazyMany["Post"]]', "author: ClassVar[ommi.LazyOne[User]]"),
    "attribute-whole-quoted": ('posts: "ClassVar[ommi.LazyMany[Post]]"', 'author: "ClassVar[ommi.LazyOne[User]]"'),
    "attribute-inner-string": ('posts: ClassVar["ommi.LazyMany[Post]"]', 'author: ClassVar["ommi.LazyOne[User]"]'),
}


@pytest.mark.parametrize("spelling", FRESH_SPELLINGS)
def test_relation_declared_in_a_fresh_process(tmp_path: Path, spelling: str) -> None:
    posts, author = FRESH_SPELLINGS[spelling]
    script = tmp_path / "models.py"
    script.write_text(_FRESH.format(posts=posts, author=author), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['author', 'posts']"
