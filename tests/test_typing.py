"""User code that queries with ommi type-checks, precisely, under mypy --strict and pyright strict.

The samples in ``tests/typecheck/`` use ``typing.assert_type`` throughout, so a
type that regresses to ``Any`` (or to anything else) is an error:

* ``sample_plugin.py``: the bare sugar (``User.age >= 18``), mypy with ``ommi.mypy``;
* ``sample_col.py``: ``col()`` for checkers without the plugin, mypy without it and pyright;
* ``sample_pyright.py``: ``col(Model.field)`` on every kind of model, pyright.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "typecheck"


def cache_dir(config: pytest.Config, name: str) -> Path:
    """A mypy cache that survives between test runs (pytest's cache), so a rerun takes a second."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return cache.mkdir(name)  # type: ignore[no-any-return]
    path = Path(config.rootpath) / ".mypy_cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_mypy(config: pytest.Config, name: str, *files: Path, plugin: bool) -> str:
    """Run mypy --strict on ``files`` and return its report; ``name`` keeps one cache per test
    (so tests running side by side under xdist never share one)."""
    cache = cache_dir(config, f"ommi-mypy-{name}")
    args = [
        sys.executable, "-m", "mypy", "--strict", "--python-version", "3.11", "--config-file", "",
        "--cache-dir", str(cache), "--no-error-summary", "--show-error-codes",
    ]
    if plugin:
        # a config file is the only way to name a plugin
        ini = cache / "mypy.ini"
        ini.write_text("[mypy]\nplugins = ommi.mypy\n", encoding="utf-8")
        args[args.index("--config-file") + 1] = str(ini)
    done = subprocess.run([*args, *map(str, files)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.stdout + done.stderr


def test_models_of_the_samples_are_valid_at_run_time() -> None:
    from tests.typecheck import models

    for model in models.shop:
        for relation in model.__ommi__.relations.values():
            relation.resolve()


def test_bare_sugar_under_mypy_with_the_plugin(pytestconfig: pytest.Config) -> None:
    report = run_mypy(pytestconfig, "plugin", SAMPLES / "models.py", SAMPLES / "sample_plugin.py", plugin=True)
    assert report == "", report


def test_col_under_mypy_without_the_plugin(pytestconfig: pytest.Config) -> None:
    report = run_mypy(pytestconfig, "plain", SAMPLES / "models.py", SAMPLES / "sample_col.py", plugin=False)
    assert report == "", report


def test_col_under_pyright_strict(tmp_path: Path) -> None:
    config = tmp_path / "pyrightconfig.json"
    settings = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "extraPaths": [str(ROOT)]}
    config.write_text(json.dumps(settings), encoding="utf-8")
    pyright = Path(sys.executable).parent / "basedpyright"
    files = [SAMPLES / "models.py", SAMPLES / "sample_col.py", SAMPLES / "sample_pyright.py"]
    done = subprocess.run(
        [str(pyright), "--pythonpath", sys.executable, "-p", str(config), *map(str, files)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0 and "0 errors, 0 warnings" in done.stdout, done.stdout + done.stderr


def test_a_regression_to_any_is_caught(pytestconfig: pytest.Config, tmp_path: Path) -> None:
    """The samples would notice: the same assertion against Any fails."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import Any, assert_type\n"
        "from ommi import FieldRef\n"
        "from tests.typecheck.models import User\n"
        "assert_type(User.age, FieldRef[User, Any])\n",
        encoding="utf-8",
    )
    report = run_mypy(pytestconfig, "probe", probe, plugin=True)
    assert 'Expression is of type "FieldRef[User, int]", not "FieldRef[User, Any]"' in report, report


def _shipped_packages() -> list[str]:
    """The import packages the wheel ships (pyproject's list: a new driver is covered without editing this)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Path(p).name for p in config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]]


@pytest.mark.parametrize("package", _shipped_packages())
def test_every_installed_package_is_marked_typed(package: str) -> None:
    module = __import__(package)
    assert (Path(module.__file__).parent / "py.typed").is_file()
