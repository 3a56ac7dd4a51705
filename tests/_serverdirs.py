"""Where throwaway test servers keep their data.

Creating many small files is slow on this project's machines (about 0.7 ms per
file on their ext4 disk, against 0.03 ms in memory), and a fresh server creates
hundreds: a PostgreSQL primary and standby start in about 0.25 s from memory
against 2-3 s from disk. So data dirs go to ``/dev/shm`` when it is a writable
directory with room to spare, and to the usual temporary directory otherwise.
``OMMI_TEST_SERVER_DIR`` names another parent directory.
"""

from __future__ import annotations

import os
import tempfile

MEMORY_DIR = "/dev/shm"
MIN_FREE_BYTES = 2 * 1024**3  # several servers with their logs fit well within this


def _memory_dir_usable() -> bool:
    if not (os.path.isdir(MEMORY_DIR) and os.access(MEMORY_DIR, os.W_OK | os.X_OK)):
        return False
    stats = os.statvfs(MEMORY_DIR)
    return stats.f_bavail * stats.f_frsize >= MIN_FREE_BYTES


def server_tempdir(prefix: str) -> str:
    """Create a fresh private directory for a test server's data and return its path.

    The caller removes it. Like ``tempfile.mkdtemp`` it is mode 0700 and outside
    the user's home (a server running as another user is given access to it).
    """
    parent = os.environ.get("OMMI_TEST_SERVER_DIR") or (MEMORY_DIR if _memory_dir_usable() else None)
    return tempfile.mkdtemp(prefix=prefix, dir=parent)
