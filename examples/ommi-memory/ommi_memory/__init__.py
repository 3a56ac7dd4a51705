"""ommi-memory: a complete in-memory ommi driver, written as any third-party driver is.

``memory://`` gives a private store per connection; ``memory://name`` shares a
named store within the process. It declares every capability (transactions,
savepoints, foreign keys, concurrent transactions) and passes ommi's
conformance suite, which makes it a reference for the query semantics.
"""

from ._driver import MemoryDriver

__all__ = ["MemoryDriver"]
