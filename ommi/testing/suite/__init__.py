"""The ommi conformance suite: every driver runs these tests unchanged.

One module per section (adding, reading, predicates, ... schema, validation); this
package re-exports every test so one star import collects them all.

Import it into a test module of your driver's package::

    from ommi.testing.suite import *  # noqa: F403

and run ``pytest --ommi-url=yourscheme://...``. Each test receives
``suite_db``, an :class:`ommi.Ommi` on the URL under test whose conformance
tables are emptied before the test. Optional features are marked
``@pytest.mark.requires(capability)`` and skipped when the driver does not
declare them.
"""

from ommi.testing.suite.adding import *  # noqa: F403
from ommi.testing.suite.aggregates import *  # noqa: F403
from ommi.testing.suite.cancellation import *  # noqa: F403
from ommi.testing.suite.declarations import *  # noqa: F403
from ommi.testing.suite.events import *  # noqa: F403
from ommi.testing.suite.expressions import *  # noqa: F403
from ommi.testing.suite.integrity import *  # noqa: F403
from ommi.testing.suite.migrations import *  # noqa: F403
from ommi.testing.suite.names import *  # noqa: F403
from ommi.testing.suite.observability import *  # noqa: F403
from ommi.testing.suite.ordering import *  # noqa: F403
from ommi.testing.suite.paths import *  # noqa: F403
from ommi.testing.suite.predicates import *  # noqa: F403
from ommi.testing.suite.projections import *  # noqa: F403
from ommi.testing.suite.reading import *  # noqa: F403
from ommi.testing.suite.relationships import *  # noqa: F403
from ommi.testing.suite.replicas import *  # noqa: F403
from ommi.testing.suite.schema import *  # noqa: F403
from ommi.testing.suite.streaming import *  # noqa: F403
from ommi.testing.suite.transactions import *  # noqa: F403
from ommi.testing.suite.types import *  # noqa: F403
from ommi.testing.suite.upserts import *  # noqa: F403
from ommi.testing.suite.validation import *  # noqa: F403
from ommi.testing.suite.writes import *  # noqa: F403
