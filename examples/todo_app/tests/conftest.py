import sys
from pathlib import Path

import pytest

from ommi import ModelCollection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from todo import todo_models

pytest_plugins = ["ommi.testing.plugin"]


@pytest.fixture
def ommi_collection() -> ModelCollection:
    return todo_models
