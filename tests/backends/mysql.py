"""MySQL backend for the tests: a private ``mariadbd`` from Debian's MariaDB packages.

``server()`` yields ``mysql://USER:PASSWORD@127.0.0.1:PORT/ommi_test``.
``OMMI_TEST_MYSQL_URL`` points the tests at an existing server instead.

Otherwise a throwaway server is started: a fresh data dir from
``tests._serverdirs`` (in memory when it can be), ``mariadb-install-db``, then
``mariadbd`` listening on a unix socket (for setup) and on a free loopback TCP
port (for the tests), with a database and a password-authenticated TCP user
created over the socket. It is stopped with SIGTERM and its directory removed
afterwards.

When ``mariadbd`` is missing and the tests run as root on a machine with
``apt-get`` (CI runs on a fresh machine with nothing installed by hand), the
Debian packages are installed first. Anything else fails with the reason and
how to set ``OMMI_TEST_MYSQL_URL``: the MySQL tests never skip silently.

The server keeps MariaDB's usual character set defaults (``utf8mb4`` with the
case- and accent-insensitive, pad-space ``utf8mb4_general_ci``), as production
servers have them: a driver must choose its collations per column rather than
rely on the server's.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests._serverdirs import server_tempdir

NAME = "mysql"
DATABASE = "ommi_test"
USER = "ommi"
URL_VARIABLE = "OMMI_TEST_MYSQL_URL"

# The server and the client binaries (mariadb-install-db needs my_print_defaults
# from the client package). ``mariadb-server`` would add Galera, Perl and a
# system service, none of which a private test server uses.
PACKAGES = ("mariadb-server-core", "mariadb-client-core")
INSTALL_TIMEOUT = 600.0  # seconds, per apt-get call
INIT_TIMEOUT = 120.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_SEARCH_PATH = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")

# Options shared by mariadb-install-db and mariadbd: a smaller redo log is
# created faster, and durability across a power cut is of no use to a
# throwaway server (commits still go through the same code paths).
_INNODB_OPTIONS = (
    "--innodb-log-file-size=16M",
    "--innodb-buffer-pool-size=64M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
)


@dataclass(frozen=True)
class Binaries:
    """Paths of the programs a private server needs."""

    mariadbd: str
    install_db: str
    client: str


@dataclass(frozen=True)
class PrivateServer:
    """A running private server: where to reach it and how it was started."""

    port: int
    socket: str
    datadir: str
    error_log: str
    pid: int
    client: str  # the command-line client, for setup over the socket


def _which(name: str) -> str | None:
    # /usr/sbin is not on every PATH (mariadbd lives there on Debian).
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_PATH])
    return shutil.which(name, path=path)


def find_binaries() -> Binaries | None:
    """Return the MariaDB programs if all are installed, else None."""
    mariadbd = _which("mariadbd") or _which("mysqld")
    install_db = _which("mariadb-install-db") or _which("mysql_install_db")
    client = _which("mariadb") or _which("mysql")
    if mariadbd and install_db and client:
        return Binaries(mariadbd, install_db, client)
    return None


def _unavailable(reason: str) -> RuntimeError:
    return RuntimeError(
        f"cannot start a MariaDB test server: {reason}. Install Debian's MariaDB server "
        f"(apt-get install {' '.join(PACKAGES)}, as root) or point {URL_VARIABLE} at an existing "
        f"MySQL/MariaDB server, e.g. {URL_VARIABLE}=mysql://user:password@127.0.0.1:3306/ommi_test "
        "(the user needs to create and drop tables in that database)"
    )


def _apt_get(*args: str) -> None:
    command = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=120", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise _unavailable(f"'{' '.join(command)}' did not finish within {INSTALL_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise _unavailable(f"'{' '.join(command)}' failed with exit code {done.returncode}:\n{output}")


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    # Parallel test workers (pytest-xdist) must not run apt-get at the same time.
    path = os.path.join(tempfile.gettempdir(), "ommi-mariadb-install.lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed() -> Binaries:
    """Find the MariaDB programs, installing Debian's packages first if that is possible.

    Raises:
        RuntimeError: the programs are missing and cannot be installed here; the
            message says why and how to use ``OMMI_TEST_MYSQL_URL`` instead.
    """
    found = find_binaries()
    if found:
        return found
    if os.geteuid() != 0:
        raise _unavailable("mariadbd is not installed, and the tests do not run as root to install it")
    if not shutil.which("apt-get"):
        raise _unavailable("mariadbd is not installed, and this machine has no apt-get to install it")
    with _install_lock():
        found = find_binaries()  # another worker may have installed it meanwhile
        if found:
            return found
        # Always refresh the lists: on a fresh machine they are missing, and on
        # an old one they may name package versions the mirror no longer has.
        _apt_get("update")
        _apt_get("install", "-y", "--no-install-recommends", *PACKAGES)
    found = find_binaries()
    if not found:
        raise _unavailable(f"apt-get installed {' '.join(PACKAGES)} but mariadbd is still not found")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-limit:]
    except OSError:
        return "(no error log)"


def _die_with_parent() -> None:
    # Runs in the child before exec: a test run that is killed outright must not
    # leave a server behind (PR_SET_PDEATHSIG = 1).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _greets(path: str) -> bool:
    """True once the server accepts a connection on its socket and sends its handshake."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(path)
            return len(sock.recv(4)) > 0
        except OSError:
            return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _user_options() -> list[str]:
    # As root the server must be told to stay root (there is no mysql user to
    # switch to, and none is wanted); as anyone else it runs as that user.
    return ["--user=root"] if os.geteuid() == 0 else []


def _tmpdir(datadir: str) -> str:
    """The server's own directory for temporary tables, beside its data: in the shared
    /tmp, concurrent servers and other programs' clean-ups removed each other's files."""
    path = os.path.join(os.path.dirname(datadir), "tmp")
    os.makedirs(path, exist_ok=True)
    return path


def _initialize(binaries: Binaries, datadir: str) -> None:
    command = [
        binaries.install_db,
        "--no-defaults",  # first: ignore /etc/mysql, whatever a system server there says
        f"--datadir={datadir}",
        f"--tmpdir={_tmpdir(datadir)}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        *_user_options(),
        *_INNODB_OPTIONS,
    ]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=INIT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"mariadb-install-db did not finish within {INIT_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        raise RuntimeError(f"mariadb-install-db failed with exit code {done.returncode}:\n{output}")


def _launch(binaries: Binaries, root: str, datadir: str, port: int) -> tuple[subprocess.Popen[bytes], PrivateServer]:
    sock = os.path.join(root, "mysqld.sock")
    error_log = os.path.join(root, "error.log")
    command = [
        binaries.mariadbd,
        "--no-defaults",
        f"--datadir={datadir}",
        f"--tmpdir={_tmpdir(datadir)}",
        f"--socket={sock}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        f"--pid-file={os.path.join(root, 'mysqld.pid')}",
        f"--log-error={error_log}",
        # Stated rather than left to build defaults: the usual production setting.
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        *_user_options(),
        *_INNODB_OPTIONS,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks or Python objects
        start_new_session=True,  # Ctrl-C reaches the tests, which then stop the server in order
    )
    return process, PrivateServer(port, sock, datadir, error_log, process.pid, binaries.client)


def _wait_ready(process: subprocess.Popen[bytes], server: PrivateServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"mariadbd exited with code {process.returncode} while starting; error log:\n{_tail(server.error_log)}"
            )
        if os.path.exists(server.socket) and _greets(server.socket):
            return
        time.sleep(0.02)
    raise RuntimeError(
        f"mariadbd did not accept connections within {START_TIMEOUT:.0f} s; error log:\n{_tail(server.error_log)}"
    )


def _sql(server: PrivateServer, statements: str) -> None:
    """Run statements as root over the unix socket (passed on stdin, so no password shows in ps)."""
    command = [server.client, "--no-defaults", f"--socket={server.socket}", "--user=root", "--batch"]
    try:
        done = subprocess.run(command, input=statements, capture_output=True, text=True, timeout=INIT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"setting up the MariaDB test database took more than {INIT_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"setting up the MariaDB test database failed: {done.stderr.strip()[-2000:]}")


@contextlib.contextmanager
def private_server() -> Iterator[PrivateServer]:
    """Start a throwaway MariaDB server (installing it first if needed) and stop it afterwards.

    Yields where it listens; the root account has no password over the unix socket.

    Raises:
        RuntimeError: MariaDB cannot be installed or the server cannot start; the
            message carries the reason and the tail of the server's error log.
    """
    binaries = ensure_installed()
    root = server_tempdir("ommi-test-mariadb-")
    try:
        datadir = os.path.join(root, "data")
        _initialize(binaries, datadir)
        for attempt in range(3):
            # The free port can be taken by someone else between the probe and
            # the server's bind: try again with another one.
            process, server = _launch(binaries, root, datadir, _free_port())
            try:
                _wait_ready(process, server)
            except RuntimeError:
                _stop(process)
                if attempt < 2 and "Bind on TCP/IP port" in _tail(server.error_log):
                    Path(server.error_log).unlink(missing_ok=True)
                    continue
                raise
            break
        try:
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Yield a ``mysql://`` URL of a database the tests may use freely."""
    if os.environ.get(URL_VARIABLE):
        yield os.environ[URL_VARIABLE]
        return
    with private_server() as running:
        password = secrets.token_hex(16)
        # The TCP user may create further databases (e.g. one per test worker);
        # the server is private and listens on loopback only.
        _sql(
            running,
            f"CREATE DATABASE `{DATABASE}`;\n"
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{password}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';\n",
        )
        yield f"mysql://{USER}:{password}@127.0.0.1:{running.port}/{DATABASE}"
