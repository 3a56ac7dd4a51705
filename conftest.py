"""Test configuration for every test directory of this repository (tests/ and the example driver's)."""

from __future__ import annotations

import warnings

import pytest

from tests.backends import mongodb


@pytest.fixture(autouse=True)
def _known_library_warnings() -> None:
    # Warnings from known defects of database libraries (see the backend modules), ignored
    # once their servers run. Inside pytest's per-test warning filters, so ahead of
    # ``filterwarnings = error``; in every directory, since an object the library left to
    # the garbage collector may be collected during any later test.
    for message, category in mongodb.known_warnings():
        warnings.filterwarnings("ignore", message, category)
