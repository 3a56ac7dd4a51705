"""Every Python code block in the docs and the README runs, and so does every example.

The blocks of one page run top to bottom in one namespace, with top-level
``await`` allowed (each page reads like one async session).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, backend_url

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def pages() -> list[Path]:
    found = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", *found]


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_every_page_is_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in pages()}
    assert {"README.md", "docs/index.md", "docs/queries.md", "docs/backends/sqlite.md"} <= names


@pytest.fixture
def page_database(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend's page runs against that backend's test server; the others see no URL."""
    monkeypatch.delenv("OMMI_DATABASE_URL", raising=False)
    if page.parent.name == "backends" and page.stem in BACKENDS and page.stem != "sqlite":
        monkeypatch.setenv("OMMI_DATABASE_URL", backend_url(page.stem))


@pytest.mark.parametrize("page", [p for p in pages() if blocks(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
async def test_docs_code_blocks_run(page: Path, page_database: None, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType(f"ommi_docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for number, source in enumerate(blocks(page), start=1):
        code = compile(source, f"{page.name} block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - our own documentation
        if result is not None:
            await result


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run_example(script: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMMI_DATABASE_URL"}
    if url is not None:
        env["OMMI_DATABASE_URL"] = url
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_examples_run(script: Path) -> None:
    done = run_example(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example should show what it did"


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_examples_run_again_on_the_same_database_file(script: Path, scheme: str, tmp_path: Path) -> None:
    """What a user does with a quickstart: run it, then run it again on the same file."""
    url = f"{scheme}:///{tmp_path / 'app.db'}"
    first, second = run_example(script, url), run_example(script, url)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "app.db").exists()  # the example used the file, not its default
