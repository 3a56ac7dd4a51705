"""Testing with ommi: fixtures for applications' tests, factories, and the driver conformance kit.

Enable the pytest plugin in a ``conftest.py``::

    pytest_plugins = ["ommi.testing.plugin"]

Application tests then take the ``ommi_db`` fixture (override ``ommi_collection``
to name the app's models) and build data with :class:`Factory`. Driver authors
import the conformance suite: ``from ommi.testing.suite import *``.
"""

from ommi.testing.factories import Factory, sequence

__all__ = ["Factory", "sequence"]
