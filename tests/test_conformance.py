"""The conformance suite, run once per backend (see conftest.py)."""

from ommi.testing.suite import *  # noqa: F403
