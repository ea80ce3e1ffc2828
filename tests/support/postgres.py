"""A throwaway PostgreSQL server for tests: Debian's binaries, a temp dir, a free loopback port.

Tests of the PostgreSQL gallery store and of replicas need a real server, not a mock: LISTEN/NOTIFY,
advisory locks and a connection that drops when the server stops are what is being tested. The
server runs as a non-root user (PostgreSQL refuses root), trusts loopback connections, has no
Unix socket, and skips fsync (its data dies with the test). ``stop()``/``start()`` restart it on
the same port and data dir, for fault tests. ``hot_standby(primary)`` adds a streaming replica
(``pg_basebackup -R``, under a second): a server in recovery, which reads but refuses writes and
LISTEN, until ``promote()``. When the binaries are absent they are installed with apt-get where
that is possible (root); otherwise the test is skipped, saying why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_PG_ROOT = Path("/usr/lib/postgresql")
_SERVICE_USER = "postgres"  # the account the server runs under when the tests run as root
_SUPERUSER = "vision"  # the database role the tests connect as


class PostgresServer:
    """One PostgreSQL cluster in ``root``; ``url`` connects to its database ``vision``.

    A new cluster is initialised, or, given a ``primary``, cloned from it as its hot standby.
    """

    def __init__(self, bin_dir: Path, root: Path, primary: PostgresServer | None = None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.running = False
        if primary is None:
            _initdb(self)
        else:
            _clone(self, primary)

    @property
    def url(self) -> str:
        return self.database_url(_SUPERUSER)

    def database_url(self, database: str) -> str:
        """The URL of ``database`` on this server (see :meth:`create_database`)."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL (a fresh schema for each test that needs one)."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", _SUPERUSER, name)
        return self.database_url(name)

    def start(self) -> None:
        """Start (or restart) the server on the same port and data dir; waits until it accepts."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log))
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` disconnects clients cleanly, ``immediate`` is a crash."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))
        self.running = False

    def promote(self) -> None:
        """End a standby's recovery (a failover): it takes writes from now on; waits for it."""
        self._run("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data))

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _SERVICE_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()}\n{log}")


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _initdb(server: PostgresServer) -> None:
    server._run(
        "initdb",
        "-D",
        str(server.data),
        "-U",
        _SUPERUSER,
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
    )
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {server.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\n"
            "fsync = off\n"
            "full_page_writes = off\n"
            "max_connections = 200\n"
        )
    server.start()
    server._run("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", _SUPERUSER, "vision")


def _clone(standby: PostgresServer, primary: PostgresServer) -> None:
    """A base backup of ``primary`` that streams its WAL from then on (``-R`` writes the
    connection settings and standby.signal). initdb's pg_hba.conf already trusts loopback
    replication connections; the copied postgresql.conf needs only its own port."""
    standby._run(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary.port),
        "-U",
        _SUPERUSER,
        "-D",
        str(standby.data),
        "-R",
        "--checkpoint=fast",
        "--no-sync",
    )
    with (standby.data / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {standby.port}\n")  # the last setting of a name wins
    standby.start()  # -w: returns once the standby is consistent and accepts reads


def find_binaries() -> Path | None:
    """Debian's PostgreSQL bin dir (the newest major version), installing it if we may."""
    found = _installed()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "postgresql"],
        ):
            subprocess.run(command, capture_output=True, env=env, timeout=600, check=False)
        found = _installed()
    return found


def _installed() -> Path | None:
    candidates = sorted(
        (p for p in _PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return candidates[-1] if candidates else None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running throwaway server, removed afterwards; skips the test when none can be had."""
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip(
            f"PostgreSQL's server binaries are absent from {_PG_ROOT}/*/bin and cannot be "
            "installed here (apt-get install postgresql needs root and a Debian mirror)"
        )
    root = Path(tempfile.mkdtemp(prefix="vision-pg-"))
    _hand_to_service_user(root)
    server = None
    try:
        server = PostgresServer(bin_dir, root)
        yield server
    finally:
        if server is not None and server.running:
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def hot_standby(primary: PostgresServer) -> Iterator[PostgresServer]:
    """A running hot standby of ``primary``, stopped afterwards; its files live in the
    primary's temp dir and go with it."""
    root = Path(tempfile.mkdtemp(prefix="standby-", dir=primary.root))
    _hand_to_service_user(root)
    standby = None
    try:
        standby = PostgresServer(primary.bin_dir, root, primary=primary)
        yield standby
    finally:
        if standby is not None and standby.running:
            standby.stop("immediate")


def _hand_to_service_user(root: Path) -> None:
    """Running as root, the server runs as the service user: it must own its dir."""
    if os.geteuid() == 0:
        _ensure_service_user()
        account = pwd.getpwnam(_SERVICE_USER)
        os.chown(root, account.pw_uid, account.pw_gid)


def _ensure_service_user() -> None:
    try:
        pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", _SERVICE_USER], check=True, timeout=60
        )


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A server for one test module (import this fixture into the module or a conftest)."""
    with postgres_server() as server:
        yield server
