"""Every Python code block in the docs and the README runs, and so does every example.

The blocks of one page run top to bottom in one namespace, with top-level
``await`` allowed (each page reads like one async session). The blocks also
type-check under ``mypy --strict`` with the ``ommi.mypy`` plugin, one module
per page, in one mypy run.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._replication import shared_pair
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


def replicated_postgresql() -> dict[str, str]:
    """A PostgreSQL primary and its streaming standby, as the scaling guide's configuration."""
    pair = shared_pair()
    return {"OMMI_DATABASE_URL": pair.primary.url, "OMMI_DATABASE_REPLICAS": pair.standby.url}


PAGE_SERVERS: dict[str, Callable[[], dict[str, str]]] = {"docs/scaling.md": replicated_postgresql}
"""Pages that need servers of their own: the environment each runs with (servers start once per session)."""


@pytest.fixture
def page_database(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend's page runs against that backend's test server, a page in PAGE_SERVERS with
    what it names; the others see no URL."""
    monkeypatch.delenv("OMMI_DATABASE_URL", raising=False)
    monkeypatch.delenv("OMMI_DATABASE_REPLICAS", raising=False)
    if page.parent.name == "backends" and page.stem in BACKENDS and page.stem != "sqlite":
        monkeypatch.setenv("OMMI_DATABASE_URL", backend_url(page.stem))
    servers = PAGE_SERVERS.get(page.relative_to(ROOT).as_posix())
    if servers is not None:
        for name, value in servers().items():
            monkeypatch.setenv(name, value)


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


def page_module(page: Path) -> str:
    """A page's blocks as one module, as they run (top to bottom), each line at its line
    number on the page so that the type checker's reports point into the page."""
    text = page.read_text(encoding="utf-8")
    lines = [""] * (text.count("\n") + 1)
    future = "from __future__ import annotations"
    for match in BLOCK.finditer(text):
        first = text.count("\n", 0, match.start(1))
        for offset, line in enumerate(match.group(1).splitlines()):
            # each block is compiled on its own, so a __future__ import applies to its
            # block only; the type checker reads annotations lazily anyway
            lines[first + offset] = "" if line == future else line
    if future in text:
        lines[0] = future  # the page's title line
    return "\n".join(lines) + "\n"


def test_docs_code_blocks_type_check(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    modules: dict[str, str] = {}
    for page in pages():
        if blocks(page):
            name = "docs_" + re.sub(r"\W", "_", page.relative_to(ROOT).with_suffix("").as_posix())
            (tmp_path / f"{name}.py").write_text(page_module(page), encoding="utf-8")
            modules[name] = page.relative_to(ROOT).as_posix()
    cached = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    cache = cached.mkdir("ommi-mypy-docs") if cached is not None else tmp_path / "cache"
    ini = tmp_path / "mypy.ini"
    ini.write_text("[mypy]\nplugins = ommi.mypy\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--python-version", "3.11", "--config-file", str(ini),
            "--cache-dir", str(cache), "--no-error-summary",
            # the pages run with top-level await (and async with/for), as in a notebook
            "--disable-error-code", "top-level-await", "--disable-error-code", "syntax",
            *sorted(str(tmp_path / f"{name}.py") for name in modules),
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    report = done.stdout + done.stderr
    for name, shown in modules.items():
        report = report.replace(str(tmp_path / f"{name}.py"), shown).replace(f"{name}.py", shown)
    assert done.returncode == 0 and not report.strip(), report


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
