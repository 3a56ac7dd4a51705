"""Honest packaging: the install instructions get this project, one version everywhere, a license.

The name ``ommi`` on the public package index belongs to a different, older
project: every instruction must install this one (from a checkout or a built
wheel), never ``pip install ommi`` / ``pip install 'ommi[...]'``.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ommi
from ommi.driver import install_hint

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INDEX_INSTALL = re.compile(r"pip install\s+(-\S+\s+)*['\"]?ommi(\[[^\]]*\])?['\"]?(\s|$)")


def instruction_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.md"))]


@pytest.mark.parametrize("page", instruction_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_instruction_installs_the_other_project(page: Path) -> None:
    for language, block in FENCE.findall(page.read_text(encoding="utf-8")):
        for line in block.splitlines():
            assert not INDEX_INSTALL.search(line), f"{page.name}: {line!r} installs the other project named ommi"


def test_the_install_pattern_catches_what_it_must() -> None:
    for wrong in ("pip install ommi", "pip install 'ommi[postgresql]'", 'pip install -q "ommi[all]"'):
        assert INDEX_INSTALL.search(wrong), wrong
    for right in ("pip install -e '.[postgresql]'", "pip install 'dist/ommi-0.1.0-py3-none-any.whl[duckdb]'",
                  "pip install -e examples/ommi-memory", "pip install ommi-memory"):
        assert not INDEX_INSTALL.search(right), right


@pytest.mark.parametrize(
    ("scheme", "library"), [("postgresql", "asyncpg"), ("duckdb", "duckdb"), ("mongodb", "pymongo")]
)
def test_a_missing_driver_library_hint_names_the_library(scheme: str, library: str) -> None:
    hint = install_hint(scheme)
    assert f"pip install '{library}>=" in hint
    assert f"pip install -e '.[{scheme}]'" in hint
    assert not INDEX_INSTALL.search(hint)
    assert install_hint("sqlite") == ""


def test_one_version_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "ommi/__init__.py"
    assert importlib.metadata.version("ommi") == ommi.__version__
    console_script = str(Path(sys.executable).with_name("ommi"))
    for command in ([console_script, "--version"], [sys.executable, "-m", "ommi", "--version"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"ommi {ommi.__version__}"


def test_license_and_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    classifiers = project["classifiers"]
    assert any(c.startswith("Development Status ::") for c in classifiers)
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
