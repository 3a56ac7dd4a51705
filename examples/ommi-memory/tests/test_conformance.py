"""The whole ommi conformance suite, run against the URL given by --ommi-url=memory://."""

from ommi.testing.suite import *  # noqa: F403
